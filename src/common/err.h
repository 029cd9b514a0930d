/* SPDX-License-Identifier: MIT */
/* Project-wide error codes: every fallible function returns 0 or a negative
 * FIEF_E* code. Human-readable detail travels in a caller-supplied buffer
 * (char err[FIEF_ERR_LEN]) filled with fief_errf(). */
#ifndef FIEF_ERR_H
#define FIEF_ERR_H

#include <stddef.h>

#define FIEF_ERR_LEN 256

enum {
    FIEF_OK = 0,
    FIEF_EINVAL = -1,     /* bad argument or malformed input */
    FIEF_ENOMEM = -2,     /* allocation failed */
    FIEF_EIO = -3,        /* read/write/open failed */
    FIEF_EFORMAT = -4,    /* file or message is not in the expected format */
    FIEF_ELIMIT = -5,     /* a size or count exceeds a documented limit */
    FIEF_EUNSUPPORTED = -6, /* valid, but not something we implement */
    FIEF_ENOTFOUND = -7,  /* named thing does not exist */
    FIEF_ERANGE = -8,     /* value out of its allowed range */
    FIEF_ESTATE = -9,     /* call not allowed in the object's current state */
    FIEF_ECANCELED = -10, /* operation stopped on request */
    FIEF_EPROTO = -11,    /* peer violated the protocol */
    FIEF_ETIMEOUT = -12,  /* deadline passed */
};

/* Static English name of a code; never NULL. */
const char *fief_strerror(int code);

/* printf into err (if err is non-NULL, truncating at FIEF_ERR_LEN) and return
 * code, so a failure path can be one line: return fief_errf(err, FIEF_EIO, ...). */
int fief_errf(char *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
