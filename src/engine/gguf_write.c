/* SPDX-License-Identifier: MIT */
/* GGUF v3 writer: metadata is serialized in memory as it is set; tensor data
 * is produced at save time by each tensor's fill callback into one reused
 * buffer and streamed to path.tmp in large writes, which is then renamed into
 * place, so a reader never sees a half-written file. */
#include "engine/gguf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "engine/quant.h"

#define WRITE_ALIGNMENT 32u

static const uint8_t zeros[GGUF_MAX_ALIGNMENT]; /* padding source */

struct wkv {
    char *key;
    struct buf val; /* u32 type + encoded value, exactly as in the file */
};

struct wtensor {
    char *name;
    uint32_t type;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];
    uint64_t nbytes;
    gguf_fill_cb fill;
    void *ud;
};

struct gguf_writer {
    struct wkv *kv;
    size_t n_kv, cap_kv;
    struct wtensor *t;
    size_t n_t, cap_t;
    int bad;                 /* first setter misuse, reported by save */
    char bad_msg[FIEF_ERR_LEN];
};

/* ---- encoding ---- */

static void put_le(struct buf *b, uint64_t v, size_t n)
{
    uint8_t tmp[8];
    for (size_t i = 0; i < n; i++)
        tmp[i] = (uint8_t)(v >> (8 * i));
    buf_append(b, tmp, n);
}

static void put_str(struct buf *b, const char *s, size_t n)
{
    put_le(b, n, 8);
    buf_append(b, s, n);
}

/* One host-order element of esz (1, 2, 4 or 8) bytes, as an integer. */
static uint64_t read_elem(const void *p, size_t esz)
{
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    switch (esz) {
    case 1: memcpy(&u8, p, 1); return u8;
    case 2: memcpy(&u16, p, 2); return u16;
    case 4: memcpy(&u32, p, 4); return u32;
    default: memcpy(&u64, p, 8); return u64;
    }
}

/* ---- key/value setters ---- */

struct gguf_writer *gguf_writer_new(void)
{
    return xcalloc(1, sizeof(struct gguf_writer));
}

void gguf_writer_free(struct gguf_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        buf_deinit(&w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

static void fail(struct gguf_writer *w, int code, const char *what, const char *key)
{
    if (!w->bad) {
        w->bad = code;
        fief_errf(w->bad_msg, code, "gguf writer: %s (key \"%.64s\")", what,
                  key ? key : "(null)");
    }
}

/* The value buffer for key, emptied: a new entry, or the old one to replace. */
static struct buf *kv_slot(struct gguf_writer *w, const char *key, uint32_t type)
{
    size_t klen = key ? strlen(key) : 0;
    if (klen == 0 || klen > GGUF_MAX_NAME) {
        fail(w, FIEF_EINVAL, "key is missing, empty or longer than GGUF_MAX_NAME", key);
        return NULL;
    }
    struct wkv *kv = NULL;
    for (size_t i = 0; i < w->n_kv && !kv; i++)
        if (strcmp(w->kv[i].key, key) == 0)
            kv = &w->kv[i];
    if (!kv) {
        if (w->n_kv == w->cap_kv) {
            w->cap_kv = w->cap_kv ? 2 * w->cap_kv : 16;
            w->kv = xrealloc(w->kv, w->cap_kv * sizeof *w->kv);
        }
        kv = &w->kv[w->n_kv++];
        kv->key = xstrdup(key);
        buf_init(&kv->val);
    }
    buf_reset(&kv->val);
    put_le(&kv->val, type, 4);
    return &kv->val;
}

/* A fixed-size scalar whose bits are in v. */
static void set_bits(struct gguf_writer *w, const char *key, enum gguf_type type, uint64_t v)
{
    if (type == GGUF_TYPE_BOOL && v > 1) {
        fail(w, FIEF_EINVAL, "bool value is not 0 or 1", key);
        return;
    }
    struct buf *b = kv_slot(w, key, type);
    if (b)
        put_le(b, v, gguf_type_size(type));
}

void gguf_writer_set_scalar(struct gguf_writer *w, const char *key, enum gguf_type type,
                            const void *v)
{
    size_t esz = gguf_type_size(type);
    if (esz == 0 || !v) {
        fail(w, FIEF_EINVAL, "set_scalar needs a fixed-size type and a value", key);
        return;
    }
    set_bits(w, key, type, read_elem(v, esz));
}

void gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v)
{
    set_bits(w, key, GGUF_TYPE_UINT32, v);
}

void gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v)
{
    set_bits(w, key, GGUF_TYPE_INT32, (uint32_t)v);
}

void gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    set_bits(w, key, GGUF_TYPE_FLOAT32, u);
}

void gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v)
{
    set_bits(w, key, GGUF_TYPE_BOOL, v ? 1 : 0);
}

void gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *v)
{
    size_t n = v ? strlen(v) : 0;
    if (!v || n > GGUF_MAX_STRING) {
        fail(w, FIEF_EINVAL, "string value is NULL or longer than GGUF_MAX_STRING", key);
        return;
    }
    struct buf *b = kv_slot(w, key, GGUF_TYPE_STRING);
    if (b)
        put_str(b, v, n);
}

void gguf_writer_set_arr(struct gguf_writer *w, const char *key, enum gguf_type elem_type,
                         const void *data, uint64_t n)
{
    size_t esz = gguf_type_size(elem_type);
    if (esz == 0 || (n && !data)) {
        fail(w, FIEF_EINVAL, "set_arr needs a fixed-size element type and data", key);
        return;
    }
    size_t bytes;
    if (n > SIZE_MAX || mul_size((size_t)n, esz, &bytes) != 0) {
        fail(w, FIEF_ELIMIT, "array too large", key);
        return;
    }
    struct buf *b = kv_slot(w, key, GGUF_TYPE_ARRAY);
    if (!b)
        return;
    put_le(b, elem_type, 4);
    put_le(b, n, 8);
    buf_reserve(b, bytes);
    for (uint64_t i = 0; i < n; i++)
        put_le(b, read_elem((const uint8_t *)data + i * esz, esz), esz);
}

void gguf_writer_set_str_arr(struct gguf_writer *w, const char *key,
                             const char *const *strs, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        if (!strs || !strs[i] || strlen(strs[i]) > GGUF_MAX_STRING) {
            fail(w, FIEF_EINVAL, "string array element is NULL or too long", key);
            return;
        }
    }
    struct buf *b = kv_slot(w, key, GGUF_TYPE_ARRAY);
    if (!b)
        return;
    put_le(b, GGUF_TYPE_STRING, 4);
    put_le(b, n, 8);
    for (uint64_t i = 0; i < n; i++)
        put_str(b, strs[i], strlen(strs[i]));
}

/* ---- tensors ---- */

int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type,
                           uint32_t n_dims, const uint64_t *ne, gguf_fill_cb fill, void *ud)
{
    const struct qtype_info *qi = qtype_info(type);
    size_t nlen = name ? strlen(name) : 0;
    if (!qi || !fill || !ne || nlen == 0 || nlen > GGUF_MAX_NAME || n_dims == 0 ||
        n_dims > GGUF_MAX_DIMS || w->n_t >= GGUF_MAX_TENSORS)
        return FIEF_EINVAL;
    struct wtensor t = {.type = type, .n_dims = n_dims, .fill = fill, .ud = ud};
    uint64_t n = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] == 0 || __builtin_mul_overflow(n, t.ne[d], &n) || n > INT64_MAX)
            return FIEF_EINVAL;
    }
    if (t.ne[0] % qi->blck != 0 || __builtin_mul_overflow(n / qi->blck, qi->size, &t.nbytes) ||
        t.nbytes > SIZE_MAX - WRITE_ALIGNMENT)
        return FIEF_EINVAL;
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return FIEF_EINVAL;
    if (w->n_t == w->cap_t) {
        w->cap_t = w->cap_t ? 2 * w->cap_t : 16;
        w->t = xrealloc(w->t, w->cap_t * sizeof *w->t);
    }
    t.name = xstrdup(name);
    w->t[w->n_t++] = t;
    return 0;
}

/* ---- save ---- */

static uint64_t pad_to(uint64_t n, uint64_t a)
{
    return (n + a - 1) / a * a;
}

/* The alignment general.alignment asks for, or the default. */
static int writer_alignment(const struct gguf_writer *w, uint32_t *align, char *err)
{
    *align = WRITE_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment") != 0)
            continue;
        const uint8_t *p = (const uint8_t *)w->kv[i].val.data;
        uint32_t a = 0;
        if (w->kv[i].val.len == 8 && p[0] == GGUF_TYPE_UINT32)
            a = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                (uint32_t)p[7] << 24;
        if (a == 0 || (a & (a - 1)) || a > GGUF_MAX_ALIGNMENT)
            return fief_errf(err, FIEF_EINVAL, "gguf writer: general.alignment must be a u32 "
                             "power of two no larger than %u", GGUF_MAX_ALIGNMENT);
        *align = a;
    }
    return 0;
}

/* Header, metadata and tensor infos, padded to the data section. Sets
 * *max_bytes to the largest tensor. */
static int build_header(const struct gguf_writer *w, uint32_t align, struct buf *h,
                        uint64_t *max_bytes, char *err)
{
    buf_append(h, "GGUF", 4);
    put_le(h, 3, 4);
    put_le(h, w->n_t, 8);
    put_le(h, w->n_kv, 8);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(h, w->kv[i].key, strlen(w->kv[i].key));
        buf_append(h, w->kv[i].val.data, w->kv[i].val.len);
    }
    uint64_t off = 0;
    *max_bytes = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const struct wtensor *t = &w->t[i];
        put_str(h, t->name, strlen(t->name));
        put_le(h, t->n_dims, 4);
        for (uint32_t d = 0; d < t->n_dims; d++)
            put_le(h, t->ne[d], 8);
        put_le(h, t->type, 4);
        put_le(h, off, 8);
        if (__builtin_add_overflow(off, pad_to(t->nbytes, align), &off))
            return fief_errf(err, FIEF_ELIMIT, "gguf writer: total tensor size overflows");
        if (t->nbytes > *max_bytes)
            *max_bytes = t->nbytes;
    }
    buf_append(h, zeros, (size_t)(pad_to(h->len, align) - h->len));
    return 0;
}

static int put_bytes(FILE *f, const void *p, size_t n, const char *path, char *err)
{
    if (n && fwrite(p, 1, n, f) != n)
        return fief_errf(err, FIEF_EIO, "%s: write failed: %s", path, strerror(errno));
    return 0;
}

/* Each tensor: fill the reused buffer, write it, then zero padding. */
static int write_tensors(const struct gguf_writer *w, FILE *f, uint32_t align, void *tbuf,
                         const char *path, char *err)
{
    for (size_t i = 0; i < w->n_t; i++) {
        const struct wtensor *t = &w->t[i];
        t->fill(t->ud, i, tbuf, t->nbytes);
        int rc = put_bytes(f, tbuf, (size_t)t->nbytes, path, err);
        if (!rc)
            rc = put_bytes(f, zeros, (size_t)(pad_to(t->nbytes, align) - t->nbytes), path, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int write_file(const struct gguf_writer *w, const char *tmp, char *err)
{
    uint32_t align;
    uint64_t max_bytes;
    struct buf h;
    buf_init(&h);
    int rc = writer_alignment(w, &align, err);
    if (!rc)
        rc = build_header(w, align, &h, &max_bytes, err);
    void *tbuf = NULL;
    if (!rc && !(tbuf = calloc(1, max_bytes ? (size_t)max_bytes : 1)))
        rc = fief_errf(err, FIEF_ENOMEM, "gguf writer: no memory for a %llu-byte tensor "
                       "buffer", (unsigned long long)max_bytes);
    FILE *f = NULL;
    if (!rc && !(f = fopen(tmp, "wb")))
        rc = fief_errf(err, FIEF_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    if (!rc)
        rc = put_bytes(f, h.data, h.len, tmp, err);
    if (!rc)
        rc = write_tensors(w, f, align, tbuf, tmp, err);
    if (!rc && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        rc = fief_errf(err, FIEF_EIO, "%s: flush failed: %s", tmp, strerror(errno));
    if (f && fclose(f) != 0 && !rc)
        rc = fief_errf(err, FIEF_EIO, "%s: close failed: %s", tmp, strerror(errno));
    free(tbuf);
    buf_deinit(&h);
    return rc;
}

int gguf_writer_save(struct gguf_writer *w, const char *path, char err[FIEF_ERR_LEN])
{
    if (!w || !path)
        return fief_errf(err, FIEF_EINVAL, "gguf writer: bad arguments");
    if (w->bad)
        return fief_errf(err, w->bad, "%s", w->bad_msg);
    if (w->n_kv > GGUF_MAX_KV)
        return fief_errf(err, FIEF_ELIMIT, "gguf writer: %zu keys, over the limit of %u",
                         w->n_kv, GGUF_MAX_KV);
    size_t n = strlen(path);
    char *tmp = xmalloc(n + 5);
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);
    int rc = write_file(w, tmp, err);
    if (!rc && rename(tmp, path) != 0)
        rc = fief_errf(err, FIEF_EIO, "%s: rename from %s failed: %s", path, tmp,
                       strerror(errno));
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}
