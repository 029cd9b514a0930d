/* SPDX-License-Identifier: MIT */
/* Allocation wrappers for sizes we chose ourselves. They abort on OOM with a
 * message: used for small fixed structures only. Sizes derived from untrusted
 * input must be checked against a limit and allocated with plain malloc so the
 * failure can take the error-return path. */
#ifndef FIEF_XALLOC_H
#define FIEF_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Overflow-checked a*b; returns 0 and sets *out, or FIEF_ELIMIT. */
int mul_size(size_t a, size_t b, size_t *out);

#endif
