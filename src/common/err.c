/* SPDX-License-Identifier: MIT */
/* Error code names and the error-message helper. */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>

const char *fief_strerror(int code)
{
    switch (code) {
    case FIEF_OK: return "ok";
    case FIEF_EINVAL: return "invalid argument";
    case FIEF_ENOMEM: return "out of memory";
    case FIEF_EIO: return "I/O error";
    case FIEF_EFORMAT: return "bad format";
    case FIEF_ELIMIT: return "limit exceeded";
    case FIEF_EUNSUPPORTED: return "unsupported";
    case FIEF_ENOTFOUND: return "not found";
    case FIEF_ERANGE: return "out of range";
    case FIEF_ESTATE: return "wrong state";
    case FIEF_ECANCELED: return "canceled";
    case FIEF_EPROTO: return "protocol error";
    case FIEF_ETIMEOUT: return "timed out";
    }
    return "unknown error";
}

int fief_errf(char *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, FIEF_ERR_LEN, fmt, ap);
        va_end(ap);
    }
    return code;
}
