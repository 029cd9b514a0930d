/* SPDX-License-Identifier: MIT */
/* strmap: an open-addressing hash map from byte strings to int32 values, for
 * the tokenizer's token text -> id lookups (the hot path of SPM merging).
 *
 * Keys are borrowed, not copied: the caller keeps every key's bytes alive and
 * unchanged for as long as the map lives. Not thread-safe for writers; any
 * number of threads may call strmap_get() once building is finished. */
#ifndef FIEF_STRMAP_H
#define FIEF_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap;

/* A map sized for about n_hint keys (it grows past that). NULL on OOM. The
 * caller frees it with strmap_free(); strmap_free(NULL) is a no-op. */
struct strmap *strmap_new(size_t n_hint);
void strmap_free(struct strmap *m);

/* Map key[0..len) to val (val >= 0), replacing any earlier value. Returns 0
 * or FIEF_ENOMEM (the map is unchanged then). */
int strmap_put(struct strmap *m, const char *key, size_t len, int32_t val);

/* The value of key[0..len), or -1 when absent. */
int32_t strmap_get(const struct strmap *m, const char *key, size_t len);

/* Number of distinct keys. */
size_t strmap_count(const struct strmap *m);

/* The hash strmap uses (exposed so callers can reuse it for their own tables). */
uint64_t strmap_hash(const char *key, size_t len);

#endif
