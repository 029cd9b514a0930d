/* SPDX-License-Identifier: MIT */
/* Argument parsing and output helpers shared by the subcommands. */
#include "cli/cli.h"
#include "common/xalloc.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_usage_err(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "fief %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see `fief %s --help`)\n", cmd);
    return CLI_USAGE;
}

int cli_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return cli_usage_err(cmd, "%s wants an integer in [%ld, %ld], got \"%s\"", opt, lo, hi,
                             s);
    *out = v;
    return 0;
}

int cli_u64(const char *cmd, const char *opt, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end || s[0] == '-')
        return cli_usage_err(cmd, "%s wants an unsigned 64-bit integer, got \"%s\"", opt, s);
    *out = v;
    return 0;
}

int cli_float(const char *cmd, const char *opt, const char *s, double lo, double hi, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
        return cli_usage_err(cmd, "%s wants a number in [%g, %g], got \"%s\"", opt, lo, hi, s);
    *out = (float)v;
    return 0;
}

int cli_ids(const char *cmd, const char *opt, const char *s, int32_t **ids, size_t *n)
{
    size_t cap = 16, len = 0;
    int32_t *v = xmalloc(cap * sizeof *v);
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (errno || end == p || x < 0 || x > INT32_MAX || (*end && *end != ',')) {
            free(v);
            return cli_usage_err(cmd, "%s wants comma-separated token ids, got \"%s\"", opt, s);
        }
        if (len == cap)
            v = xrealloc(v, (cap *= 2) * sizeof *v);
        v[len++] = (int32_t)x;
        p = *end ? end + 1 : end;
    }
    *ids = v;
    *n = len;
    return 0;
}

int cli_default_threads(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_valid(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (len == 0 || s[0] > 0xf4 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    uint32_t cp = len == 2 ? s[0] & 0x1fu : len == 3 ? s[0] & 0x0fu : s[0] & 0x07u;
    for (size_t i = 1; i < len; i++)
        cp = (cp << 6) | (s[i] & 0x3fu);
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

void cli_json_str(struct buf *b, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    buf_putc(b, '"');
    for (size_t i = 0; i < len;) {
        unsigned char ch = u[i];
        size_t n = utf8_valid(u + i, len - i);
        if (n == 0) {
            buf_puts(b, "\xef\xbf\xbd"); /* U+FFFD */
            i++;
        } else if (ch == '"' || ch == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, (char)ch);
            i++;
        } else if (ch < 0x20) {
            const char *esc = ch == '\n' ? "\\n" : ch == '\t' ? "\\t" : ch == '\r' ? "\\r" : NULL;
            if (esc)
                buf_puts(b, esc);
            else
                buf_printf(b, "\\u%04x", ch);
            i++;
        } else {
            buf_append(b, s + i, n);
            i += n;
        }
    }
    buf_putc(b, '"');
}
