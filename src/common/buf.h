/* SPDX-License-Identifier: MIT */
/* Growable byte buffer, always NUL-terminated so it can be used as a C string.
 * Caller-owned storage: buf_init()/buf_deinit(). Growth aborts on OOM (sizes
 * are bounded by the callers' own limits). */
#ifndef FIEF_BUF_H
#define FIEF_BUF_H

#include <stddef.h>

struct buf {
    char *data; /* NUL-terminated; NULL until the first append */
    size_t len; /* bytes used, excluding the terminator */
    size_t cap; /* bytes allocated */
};

void buf_init(struct buf *b);
void buf_deinit(struct buf *b);
void buf_reset(struct buf *b); /* len = 0, keeps the allocation */
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Detach the string: caller frees it with free(); b is left empty. */
char *buf_steal(struct buf *b);

#endif
