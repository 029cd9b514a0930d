/* SPDX-License-Identifier: MIT */
/* stderr logger: one timestamped line per call, written with a single write(2)
 * so lines from several threads never interleave. */
#include "common/log.h"
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int log_level = LOG_LVL_NOTICE;

static const char *const names[] = {
    [LOG_LVL_ERR] = "err", [LOG_LVL_WARN] = "warn", [LOG_LVL_NOTICE] = "notice",
    [LOG_LVL_INFO] = "info", [LOG_LVL_DEBUG] = "debug",
};

int log_level_parse(const char *name, int *lvl)
{
    for (int i = LOG_LVL_ERR; i <= LOG_LVL_DEBUG; i++) {
        if (strcmp(name, names[i]) == 0) {
            *lvl = i;
            return 0;
        }
    }
    return FIEF_EINVAL;
}

void log_write(int lvl, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-6s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000,
                     (lvl >= LOG_LVL_ERR && lvl <= LOG_LVL_DEBUG) ? names[lvl] : "?");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
