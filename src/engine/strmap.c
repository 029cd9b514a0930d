/* SPDX-License-Identifier: MIT */
/* Open-addressing (linear probing) string -> int32 map. The table stays at
 * most half full, and each slot keeps 32 bits of the hash so most probes that
 * miss never touch the key bytes. */
#include "engine/strmap.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

struct slot {
    const char *key; /* NULL: empty */
    uint32_t len;
    uint32_t hash; /* low 32 bits of strmap_hash */
    int32_t val;
};

struct strmap {
    struct slot *slots;
    size_t mask; /* capacity - 1; capacity is a power of two */
    size_t count;
};

static uint64_t mix(uint64_t h)
{
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    return h;
}

uint64_t strmap_hash(const char *key, size_t len)
{
    const unsigned char *p = (const unsigned char *)key;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (len * 0xC2B2AE3D27D4EB4Full);
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t k;
        memcpy(&k, p, 8);
        h = mix(h ^ k);
    }
    uint64_t k = 0; /* tokens are short: most keys end up here alone */
    for (size_t i = 0; i < len; i++)
        k |= (uint64_t)p[i] << (8 * i);
    return mix(h ^ k);
}

/* Inline compare: keys are a few bytes, where a libc call costs more. */
static bool key_eq(const char *a, const char *b, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (a[i] != b[i])
            return false;
    }
    return true;
}

static int alloc_slots(struct strmap *m, size_t cap)
{
    m->slots = calloc(cap, sizeof *m->slots);
    if (!m->slots)
        return FIEF_ENOMEM;
    m->mask = cap - 1;
    return 0;
}

struct strmap *strmap_new(size_t n_hint)
{
    struct strmap *m = calloc(1, sizeof *m);
    size_t cap = 16;
    while (cap < 2 * n_hint && cap < ((size_t)1 << 40))
        cap <<= 1;
    if (!m || alloc_slots(m, cap) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

void strmap_free(struct strmap *m)
{
    if (!m)
        return;
    free(m->slots);
    free(m);
}

/* The slot holding key, or the empty slot where it would go. */
static struct slot *find(const struct strmap *m, const char *key, size_t len, uint32_t h)
{
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        struct slot *s = &m->slots[i];
        if (!s->key)
            return s;
        if (s->hash == h && s->len == len && key_eq(s->key, key, len))
            return s;
    }
}

static int grow(struct strmap *m)
{
    struct slot *old = m->slots;
    size_t old_cap = m->mask + 1;
    if (alloc_slots(m, old_cap * 2) != 0) {
        m->slots = old;
        return FIEF_ENOMEM;
    }
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].key)
            *find(m, old[i].key, old[i].len, old[i].hash) = old[i];
    }
    free(old);
    return 0;
}

int strmap_put(struct strmap *m, const char *key, size_t len, int32_t val)
{
    if (len > UINT32_MAX)
        return FIEF_EINVAL;
    if (2 * (m->count + 1) > m->mask + 1 && grow(m) != 0)
        return FIEF_ENOMEM;
    uint32_t h = (uint32_t)strmap_hash(key, len);
    struct slot *s = find(m, key, len, h);
    if (!s->key) {
        s->key = key;
        s->len = (uint32_t)len;
        s->hash = h;
        m->count++;
    }
    s->val = val;
    return 0;
}

int32_t strmap_get(const struct strmap *m, const char *key, size_t len)
{
    uint32_t h = (uint32_t)strmap_hash(key, len);
    const struct slot *s = find(m, key, len, h);
    return s->key ? s->val : -1;
}

size_t strmap_count(const struct strmap *m)
{
    return m->count;
}
