/* SPDX-License-Identifier: MIT */
/* GGUF v2/v3 reader: a pure parser over an in-memory image plus an mmap
 * front end. The file is untrusted: every count, length, offset and size is
 * checked against the bytes that remain before it is used or allocated for,
 * with overflow-checked arithmetic, and each error names the byte offset. */
#include "engine/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/quant.h"

/* Smallest possible encodings, used to bound counts by the bytes left before
 * anything is allocated: a KV is a key (u64 length + 1 byte), a u32 type and
 * at least one value byte; a tensor info is a name (u64 + 1), u32 n_dims, one
 * u64 dim, u32 type and u64 offset. */
#define MIN_KV_BYTES 14u
#define MIN_TENSOR_BYTES 33u
#define DEFAULT_ALIGNMENT 32u

struct kv {
    struct gguf_str key;
    uint32_t type;      /* enum gguf_type */
    uint32_t elem_type; /* arrays only */
    uint64_t n;         /* arrays only: element count */
    uint64_t at;        /* image offset of the value (arrays: of the first element) */
};

struct gguf {
    const uint8_t *img;
    size_t size;
    void *map; /* gguf_open's mapping (== img), or NULL for gguf_parse */
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;
    size_t n_kv;
    struct kv *kv;
    size_t n_tensors;
    struct gguf_tensor *tensors;
    uint32_t *kv_hash; /* open addressing: index + 1, 0 = empty */
    uint32_t *t_hash;
    size_t kv_hmask, t_hmask;
};

/* A read position in the image; err receives the first failure. */
struct cur {
    const uint8_t *b;
    size_t size;
    size_t pos;
    char *err;
};

/* ---- small helpers ---- */

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
    return h;
}

/* A file-supplied name made safe to quote in a message: at most 48 bytes,
 * non-printable bytes shown as '?'. */
static const char *quote(char out[64], struct gguf_str s)
{
    size_t n = s.len < 48 ? (size_t)s.len : 48, j = 0;
    for (size_t i = 0; i < n; i++)
        out[j++] = (s.ptr[i] >= 0x20 && s.ptr[i] < 0x7f) ? s.ptr[i] : '?';
    if (s.len > n) {
        memcpy(out + j, "...", 3);
        j += 3;
    }
    out[j] = 0;
    return out;
}

size_t gguf_type_size(enum gguf_type t)
{
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    case GGUF_TYPE_STRING: case GGUF_TYPE_ARRAY: break;
    }
    return 0;
}

const char *gguf_type_name(enum gguf_type t)
{
    static const char *const names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                        "bool", "string", "array", "u64", "i64", "f64"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

/* ---- cursor reads: each checks the bytes that remain ---- */

static int need(struct cur *c, uint64_t n, const char *ctx, const char *what)
{
    if (n > c->size - c->pos)
        return fief_errf(c->err, FIEF_EFORMAT,
                         "%s: %s at offset %zu needs %llu bytes, the file ends at %zu", ctx,
                         what, c->pos, (unsigned long long)n, c->size);
    return 0;
}

static int rd_u32(struct cur *c, uint32_t *v, const char *ctx, const char *what)
{
    int rc = need(c, 4, ctx, what);
    if (rc)
        return rc;
    *v = le32(c->b + c->pos);
    c->pos += 4;
    return 0;
}

static int rd_u64(struct cur *c, uint64_t *v, const char *ctx, const char *what)
{
    int rc = need(c, 8, ctx, what);
    if (rc)
        return rc;
    *v = le64(c->b + c->pos);
    c->pos += 8;
    return 0;
}

/* A gguf string (u64 length, bytes) of at most max bytes. */
static int rd_str(struct cur *c, uint64_t max, struct gguf_str *s, const char *ctx,
                  const char *what)
{
    size_t at = c->pos;
    uint64_t len;
    int rc = rd_u64(c, &len, ctx, what);
    if (rc)
        return rc;
    if (len > max)
        return fief_errf(c->err, FIEF_ELIMIT,
                         "%s: %s at offset %zu has length %llu, over the limit of %llu", ctx,
                         what, at, (unsigned long long)len, (unsigned long long)max);
    if (len > c->size - c->pos)
        return fief_errf(c->err, FIEF_EFORMAT,
                         "%s: %s at offset %zu has length %llu but only %zu bytes remain", ctx,
                         what, at, (unsigned long long)len, c->size - c->pos);
    s->ptr = (const char *)c->b + c->pos;
    s->len = len;
    c->pos += (size_t)len;
    return 0;
}

/* Key and tensor names: non-empty, no NUL (so C-string lookups can find them). */
static int rd_name(struct cur *c, struct gguf_str *s, const char *ctx, const char *what)
{
    size_t at = c->pos;
    int rc = rd_str(c, GGUF_MAX_NAME, s, ctx, what);
    if (rc)
        return rc;
    if (s->len == 0)
        return fief_errf(c->err, FIEF_EFORMAT, "%s: %s at offset %zu is empty", ctx, what, at);
    if (memchr(s->ptr, 0, (size_t)s->len))
        return fief_errf(c->err, FIEF_EFORMAT, "%s: %s at offset %zu contains a NUL byte", ctx,
                         what, at);
    return 0;
}

/* ---- hash tables over keys and tensor names ---- */

static int hash_alloc(size_t n, uint32_t **tab, size_t *mask)
{
    size_t cap = 4;
    while (cap < 2 * n) /* n <= 65536, so no overflow */
        cap *= 2;
    *tab = calloc(cap, sizeof **tab);
    *mask = cap - 1;
    return *tab ? 0 : FIEF_ENOMEM;
}

/* Slot holding name, or the empty slot where it would go. names() maps an
 * index to its name so one routine serves keys and tensors. */
static size_t hash_slot(const uint32_t *tab, size_t mask, const char *p, size_t n,
                        struct gguf_str (*names)(const struct gguf *, size_t),
                        const struct gguf *g)
{
    size_t i = (size_t)hash_bytes(p, n) & mask;
    while (tab[i]) {
        struct gguf_str s = names(g, tab[i] - 1);
        if (s.len == n && memcmp(s.ptr, p, n) == 0)
            break;
        i = (i + 1) & mask;
    }
    return i;
}

static struct gguf_str kv_name(const struct gguf *g, size_t i)
{
    return g->kv[i].key;
}

static struct gguf_str tensor_name(const struct gguf *g, size_t i)
{
    return g->tensors[i].name;
}

/* ---- header and key/value section ---- */

static int parse_header(struct gguf *g, struct cur *c, uint64_t *n_tensors, uint64_t *n_kv)
{
    if (c->size < 4)
        return fief_errf(c->err, FIEF_EFORMAT,
                         "not a GGUF file: %zu bytes is too short for the magic", c->size);
    if (memcmp(c->b, "GGUF", 4) != 0)
        return fief_errf(c->err, FIEF_EFORMAT,
                         "not a GGUF file: magic at offset 0 is %02x %02x %02x %02x, "
                         "expected \"GGUF\"", c->b[0], c->b[1], c->b[2], c->b[3]);
    c->pos = 4;
    int rc = rd_u32(c, &g->version, "header", "version");
    if (rc)
        return rc;
    uint32_t v = g->version;
    if (v == 1)
        return fief_errf(c->err, FIEF_EUNSUPPORTED,
                         "GGUF version 1 (at offset 4) is not supported; only 2 and 3 are");
    if ((v & 0xffff) == 0 && (v >> 16) != 0)
        return fief_errf(c->err, FIEF_EUNSUPPORTED,
                         "big-endian GGUF file (version at offset 4 reads 0x%08x); only "
                         "little-endian files are supported", v);
    if (v != 2 && v != 3)
        return fief_errf(c->err, FIEF_EUNSUPPORTED,
                         "GGUF version %u (at offset 4) is not supported; only 2 and 3 are", v);
    if ((rc = rd_u64(c, n_tensors, "header", "tensor count")) ||
        (rc = rd_u64(c, n_kv, "header", "key/value count")))
        return rc;
    if (*n_tensors > GGUF_MAX_TENSORS)
        return fief_errf(c->err, FIEF_ELIMIT, "header: %llu tensors (offset 8) is over the "
                         "limit of %u", (unsigned long long)*n_tensors, GGUF_MAX_TENSORS);
    if (*n_kv > GGUF_MAX_KV)
        return fief_errf(c->err, FIEF_ELIMIT, "header: %llu key/value pairs (offset 16) is "
                         "over the limit of %u", (unsigned long long)*n_kv, GGUF_MAX_KV);
    size_t left = c->size - c->pos;
    if (*n_kv > left / MIN_KV_BYTES)
        return fief_errf(c->err, FIEF_EFORMAT, "header: %llu key/value pairs (offset 16) "
                         "cannot fit in the %zu bytes that follow",
                         (unsigned long long)*n_kv, left);
    if (*n_tensors > left / MIN_TENSOR_BYTES)
        return fief_errf(c->err, FIEF_EFORMAT, "header: %llu tensors (offset 8) cannot fit "
                         "in the %zu bytes that follow", (unsigned long long)*n_tensors, left);
    return 0;
}

/* n elements of size esz; bools must be 0 or 1. */
static int skip_fixed(struct cur *c, uint32_t type, uint64_t n, const char *ctx)
{
    uint64_t esz = gguf_type_size((enum gguf_type)type);
    size_t left = c->size - c->pos;
    if (n > left / esz)
        return fief_errf(c->err, FIEF_EFORMAT,
                         "%s: %llu values of type %s at offset %zu run past the end of the "
                         "file (%zu bytes remain)", ctx, (unsigned long long)n,
                         gguf_type_name((enum gguf_type)type), c->pos, left);
    if (type == GGUF_TYPE_BOOL) {
        for (uint64_t i = 0; i < n; i++) {
            uint8_t b = c->b[c->pos + i];
            if (b > 1)
                return fief_errf(c->err, FIEF_EFORMAT, "%s: bool at offset %llu is %u, not 0 "
                                 "or 1", ctx, (unsigned long long)(c->pos + i), b);
        }
    }
    c->pos += (size_t)(n * esz);
    return 0;
}

static int parse_array(struct cur *c, struct kv *kv, const char *ctx)
{
    size_t at = c->pos;
    int rc;
    if ((rc = rd_u32(c, &kv->elem_type, ctx, "array element type")) ||
        (rc = rd_u64(c, &kv->n, ctx, "array length")))
        return rc;
    kv->at = c->pos;
    if (kv->elem_type == GGUF_TYPE_ARRAY)
        return fief_errf(c->err, FIEF_EUNSUPPORTED,
                         "%s: array of arrays at offset %zu is not supported", ctx, at);
    if (kv->elem_type != GGUF_TYPE_STRING) {
        if (gguf_type_size((enum gguf_type)kv->elem_type) == 0)
            return fief_errf(c->err, FIEF_EFORMAT, "%s: unknown array element type %u at "
                             "offset %zu", ctx, kv->elem_type, at);
        return skip_fixed(c, kv->elem_type, kv->n, ctx);
    }
    if (kv->n > (c->size - c->pos) / 8)
        return fief_errf(c->err, FIEF_EFORMAT, "%s: %llu strings at offset %zu cannot fit in "
                         "the %zu bytes that remain", ctx, (unsigned long long)kv->n, c->pos,
                         c->size - c->pos);
    for (uint64_t i = 0; i < kv->n; i++) {
        struct gguf_str s;
        if ((rc = rd_str(c, GGUF_MAX_STRING, &s, ctx, "array string")))
            return rc;
    }
    return 0;
}

static int parse_kv(struct gguf *g, struct cur *c, size_t i)
{
    struct kv *kv = &g->kv[i];
    char ctx[128], q[64];
    snprintf(ctx, sizeof ctx, "key/value %zu", i);
    size_t key_at = c->pos;
    int rc = rd_name(c, &kv->key, ctx, "key");
    if (rc)
        return rc;
    snprintf(ctx, sizeof ctx, "key/value %zu (\"%s\")", i, quote(q, kv->key));
    size_t slot = hash_slot(g->kv_hash, g->kv_hmask, kv->key.ptr, (size_t)kv->key.len,
                            kv_name, g);
    if (g->kv_hash[slot])
        return fief_errf(c->err, FIEF_EFORMAT, "%s: duplicate key at offset %zu (first "
                         "defined by key/value %u)", ctx, key_at, g->kv_hash[slot] - 1);
    size_t at = c->pos;
    if ((rc = rd_u32(c, &kv->type, ctx, "value type")))
        return rc;
    kv->at = c->pos;
    switch (kv->type) {
    case GGUF_TYPE_STRING: {
        struct gguf_str s;
        rc = rd_str(c, GGUF_MAX_STRING, &s, ctx, "string value");
        break;
    }
    case GGUF_TYPE_ARRAY:
        rc = parse_array(c, kv, ctx);
        break;
    default:
        if (gguf_type_size((enum gguf_type)kv->type) == 0)
            return fief_errf(c->err, FIEF_EFORMAT, "%s: unknown value type %u at offset %zu",
                             ctx, kv->type, at);
        rc = skip_fixed(c, kv->type, 1, ctx);
    }
    if (rc)
        return rc;
    g->kv_hash[slot] = (uint32_t)i + 1;
    g->n_kv = i + 1;
    return 0;
}

static int parse_alignment(struct gguf *g, char *err)
{
    g->alignment = DEFAULT_ALIGNMENT;
    long i = gguf_find_key(g, "general.alignment");
    if (i < 0)
        return 0;
    const struct kv *kv = &g->kv[i];
    if (kv->type != GGUF_TYPE_UINT32)
        return fief_errf(err, FIEF_EFORMAT, "general.alignment (offset %llu) has type %s, "
                         "expected u32", (unsigned long long)kv->at,
                         gguf_type_name((enum gguf_type)kv->type));
    uint32_t a = le32(g->img + kv->at);
    if (a == 0 || (a & (a - 1)) != 0 || a > GGUF_MAX_ALIGNMENT)
        return fief_errf(err, FIEF_EFORMAT, "general.alignment (offset %llu) is %u; it must be "
                         "a power of two no larger than %u", (unsigned long long)kv->at, a,
                         GGUF_MAX_ALIGNMENT);
    g->alignment = a;
    return 0;
}

/* ---- tensor infos ---- */

/* Dims, element count and byte size of t once ne[] (read at dims_at) and
 * type (at type_at) are known. */
static int check_shape(struct gguf_tensor *t, const char *ctx, size_t dims_at, size_t type_at,
                       char *err)
{
    const struct qtype_info *qi = qtype_info(t->type);
    if (!qi)
        return fief_errf(err, FIEF_EFORMAT, "%s: unknown tensor type %u at offset %zu", ctx,
                         t->type, type_at);
    uint64_t n = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        size_t at = dims_at + 8 * d;
        if (t->ne[d] == 0)
            return fief_errf(err, FIEF_EFORMAT, "%s: dimension %u (at offset %zu) is 0", ctx, d,
                             at);
        if (t->ne[d] > INT64_MAX || __builtin_mul_overflow(n, t->ne[d], &n) || n > INT64_MAX)
            return fief_errf(err, FIEF_EFORMAT, "%s: element count overflows at dimension %u "
                             "(offset %zu)", ctx, d, at);
    }
    t->n_elements = n;
    if (t->ne[0] % qi->blck != 0)
        return fief_errf(err, FIEF_EFORMAT, "%s: ne[0] = %llu (at offset %zu) is not a multiple "
                         "of the %s block size %u", ctx, (unsigned long long)t->ne[0], dims_at,
                         qi->name, qi->blck);
    if (__builtin_mul_overflow(n / qi->blck, (uint64_t)qi->size, &t->nbytes))
        return fief_errf(err, FIEF_EFORMAT, "%s: byte size of %llu %s elements (dims at offset "
                         "%zu) overflows", ctx, (unsigned long long)n, qi->name, dims_at);
    return 0;
}

static int parse_tensor(struct gguf *g, struct cur *c, size_t i)
{
    struct gguf_tensor *t = &g->tensors[i];
    char ctx[128], q[64];
    snprintf(ctx, sizeof ctx, "tensor %zu", i);
    int rc = rd_name(c, &t->name, ctx, "name");
    if (rc)
        return rc;
    snprintf(ctx, sizeof ctx, "tensor %zu (\"%s\")", i, quote(q, t->name));
    size_t at = c->pos;
    if ((rc = rd_u32(c, &t->n_dims, ctx, "n_dims")))
        return rc;
    if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS)
        return fief_errf(c->err, FIEF_EFORMAT, "%s: n_dims = %u at offset %zu, expected 1..%d",
                         ctx, t->n_dims, at, GGUF_MAX_DIMS);
    size_t dims_at = c->pos;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d < t->n_dims && (rc = rd_u64(c, &t->ne[d], ctx, "dimension")))
            return rc;
    }
    at = c->pos;
    if ((rc = rd_u32(c, &t->type, ctx, "type")) ||
        (rc = check_shape(t, ctx, dims_at, at, c->err)))
        return rc;
    at = c->pos;
    if ((rc = rd_u64(c, &t->offset, ctx, "data offset")))
        return rc;
    if (t->offset % g->alignment != 0)
        return fief_errf(c->err, FIEF_EFORMAT, "%s: data offset %llu (at offset %zu) is not a "
                         "multiple of the alignment %u", ctx, (unsigned long long)t->offset,
                         at, g->alignment);
    size_t slot = hash_slot(g->t_hash, g->t_hmask, t->name.ptr, (size_t)t->name.len,
                            tensor_name, g);
    if (g->t_hash[slot])
        return fief_errf(c->err, FIEF_EFORMAT, "%s: duplicate tensor name (first is tensor "
                         "%u)", ctx, g->t_hash[slot] - 1);
    g->t_hash[slot] = (uint32_t)i + 1;
    g->n_tensors = i + 1;
    return 0;
}

/* The data section starts at the first aligned offset after the infos;
 * every tensor's bytes must lie inside the image. */
static int place_tensors(struct gguf *g, size_t infos_end, char *err)
{
    uint64_t a = g->alignment;
    if (__builtin_add_overflow((uint64_t)infos_end, a - 1, &g->data_offset))
        return fief_errf(err, FIEF_EFORMAT, "data section offset overflows");
    g->data_offset &= ~(a - 1);
    for (size_t i = 0; i < g->n_tensors; i++) {
        struct gguf_tensor *t = &g->tensors[i];
        uint64_t start, end;
        char q[64];
        if (__builtin_add_overflow(g->data_offset, t->offset, &start) ||
            __builtin_add_overflow(start, t->nbytes, &end))
            return fief_errf(err, FIEF_EFORMAT, "tensor %zu (\"%s\"): data offset %llu + %llu "
                             "bytes overflows", i, quote(q, t->name),
                             (unsigned long long)t->offset, (unsigned long long)t->nbytes);
        if (end > g->size)
            return fief_errf(err, FIEF_EFORMAT, "tensor %zu (\"%s\"): data [%llu, %llu) runs "
                             "past the end of the file (size %zu)", i, quote(q, t->name),
                             (unsigned long long)start, (unsigned long long)end, g->size);
        t->data = g->img + start;
    }
    return 0;
}

/* ---- parse / open / free ---- */

static int parse_all(struct gguf *g, char *err)
{
    struct cur c = {g->img, g->size, 0, err};
    uint64_t n_tensors = 0, n_kv = 0;
    int rc = parse_header(g, &c, &n_tensors, &n_kv);
    if (rc)
        return rc;
    /* Both counts were bounded by the bytes left, so these sizes are too. */
    g->kv = calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors || hash_alloc(n_kv, &g->kv_hash, &g->kv_hmask) ||
        hash_alloc(n_tensors, &g->t_hash, &g->t_hmask))
        return fief_errf(err, FIEF_ENOMEM, "out of memory for %llu keys and %llu tensors",
                         (unsigned long long)n_kv, (unsigned long long)n_tensors);
    for (size_t i = 0; i < n_kv; i++)
        if ((rc = parse_kv(g, &c, i)))
            return rc;
    if ((rc = parse_alignment(g, err)))
        return rc;
    if (n_tensors > (c.size - c.pos) / MIN_TENSOR_BYTES)
        return fief_errf(err, FIEF_EFORMAT, "%llu tensor infos cannot fit in the %zu bytes "
                         "after the metadata (offset %zu)", (unsigned long long)n_tensors,
                         c.size - c.pos, c.pos);
    for (size_t i = 0; i < n_tensors; i++)
        if ((rc = parse_tensor(g, &c, i)))
            return rc;
    return place_tensors(g, c.pos, err);
}

int gguf_parse(const void *data, size_t size, struct gguf **out, char err[FIEF_ERR_LEN])
{
    if (!out || (!data && size))
        return fief_errf(err, FIEF_EINVAL, "gguf_parse: bad arguments");
    *out = NULL;
    struct gguf *g = calloc(1, sizeof *g);
    if (!g)
        return fief_errf(err, FIEF_ENOMEM, "out of memory");
    g->img = data ? data : (const uint8_t *)"";
    g->size = size;
    int rc = parse_all(g, err);
    if (rc) {
        gguf_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

int gguf_open(const char *path, struct gguf **out, char err[FIEF_ERR_LEN])
{
    if (!path || !out)
        return fief_errf(err, FIEF_EINVAL, "gguf_open: bad arguments");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fief_errf(err, FIEF_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fief_errf(err, FIEF_EIO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return fief_errf(err, FIEF_ELIMIT, "%s: too large to map", path);
    }
    size_t size = (size_t)st.st_size;
    void *map = NULL;
    if (size > 0) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int rc = fief_errf(err, FIEF_EIO, "%s: mmap of %zu bytes failed: %s", path, size,
                               strerror(errno));
            close(fd);
            return rc;
        }
    }
    close(fd);
    char perr[FIEF_ERR_LEN];
    int rc = gguf_parse(map, size, out, perr);
    if (rc) {
        if (map)
            munmap(map, size);
        return fief_errf(err, rc, "%s: %s", path, perr);
    }
    (*out)->map = map;
    return 0;
}

void gguf_free(struct gguf *g)
{
    if (!g)
        return;
    if (g->map)
        munmap(g->map, g->size);
    free(g->kv);
    free(g->tensors);
    free(g->kv_hash);
    free(g->t_hash);
    free(g);
}

uint32_t gguf_version(const struct gguf *g)
{
    return g->version;
}

uint32_t gguf_alignment(const struct gguf *g)
{
    return g->alignment;
}

size_t gguf_file_size(const struct gguf *g)
{
    return g->size;
}

const void *gguf_image(const struct gguf *g)
{
    return g->img;
}

uint64_t gguf_data_offset(const struct gguf *g)
{
    return g->data_offset;
}

/* ---- metadata lookups and getters ---- */

size_t gguf_n_kv(const struct gguf *g)
{
    return g->n_kv;
}

struct gguf_str gguf_kv_key(const struct gguf *g, size_t i)
{
    struct gguf_str none = {"", 0};
    return i < g->n_kv ? g->kv[i].key : none;
}

enum gguf_type gguf_kv_type(const struct gguf *g, size_t i)
{
    /* An out-of-range index reads as an (empty) array, which no scalar getter accepts. */
    return i < g->n_kv ? (enum gguf_type)g->kv[i].type : GGUF_TYPE_ARRAY;
}

long gguf_find_key(const struct gguf *g, const char *key)
{
    if (!key || g->n_kv == 0)
        return -1;
    size_t slot = hash_slot(g->kv_hash, g->kv_hmask, key, strlen(key), kv_name, g);
    return g->kv_hash[slot] ? (long)g->kv_hash[slot] - 1 : -1;
}

static const struct kv *find_kv(const struct gguf *g, const char *key)
{
    long i = gguf_find_key(g, key);
    return i < 0 ? NULL : &g->kv[i];
}

/* An integer value as sign + magnitude pieces: *neg set when it is below 0. */
static int kv_int(const struct gguf *g, const char *key, bool *neg, uint64_t *u, int64_t *s)
{
    const struct kv *kv = find_kv(g, key);
    if (!kv)
        return FIEF_ENOTFOUND;
    const uint8_t *p = g->img + kv->at;
    *neg = false;
    switch (kv->type) {
    case GGUF_TYPE_UINT8: *u = p[0]; break;
    case GGUF_TYPE_UINT16: *u = (uint64_t)p[0] | (uint64_t)p[1] << 8; break;
    case GGUF_TYPE_UINT32: *u = le32(p); break;
    case GGUF_TYPE_UINT64: *u = le64(p); break;
    case GGUF_TYPE_INT8: *s = (int8_t)p[0]; goto sgn;
    case GGUF_TYPE_INT16: *s = (int16_t)(uint16_t)(p[0] | p[1] << 8); goto sgn;
    case GGUF_TYPE_INT32: *s = (int32_t)le32(p); goto sgn;
    case GGUF_TYPE_INT64: *s = (int64_t)le64(p); goto sgn;
    default: return FIEF_EFORMAT;
    }
    *s = *u > INT64_MAX ? INT64_MAX : (int64_t)*u;
    return 0;
sgn:
    *neg = *s < 0;
    *u = *neg ? 0 : (uint64_t)*s;
    return 0;
}

int gguf_get_u64(const struct gguf *g, const char *key, uint64_t *out)
{
    bool neg;
    uint64_t u;
    int64_t s;
    int rc = kv_int(g, key, &neg, &u, &s);
    if (rc)
        return rc;
    if (neg)
        return FIEF_EFORMAT;
    *out = u;
    return 0;
}

int gguf_get_u32(const struct gguf *g, const char *key, uint32_t *out)
{
    uint64_t u;
    int rc = gguf_get_u64(g, key, &u);
    if (rc)
        return rc;
    if (u > UINT32_MAX)
        return FIEF_EFORMAT;
    *out = (uint32_t)u;
    return 0;
}

int gguf_get_i32(const struct gguf *g, const char *key, int32_t *out)
{
    bool neg;
    uint64_t u;
    int64_t s;
    int rc = kv_int(g, key, &neg, &u, &s);
    if (rc)
        return rc;
    if ((!neg && u > INT32_MAX) || s < INT32_MIN)
        return FIEF_EFORMAT;
    *out = (int32_t)s;
    return 0;
}

int gguf_get_f32(const struct gguf *g, const char *key, float *out)
{
    const struct kv *kv = find_kv(g, key);
    if (!kv)
        return FIEF_ENOTFOUND;
    const uint8_t *p = g->img + kv->at;
    if (kv->type == GGUF_TYPE_FLOAT32) {
        uint32_t u = le32(p);
        memcpy(out, &u, 4);
        return 0;
    }
    if (kv->type != GGUF_TYPE_FLOAT64)
        return FIEF_EFORMAT;
    uint64_t u = le64(p);
    double d;
    memcpy(&d, &u, 8);
    if (d == d && (d > FLT_MAX || d < -FLT_MAX) && d - d == 0) /* finite, out of range */
        return FIEF_EFORMAT;
    *out = (float)d;
    return 0;
}

int gguf_get_bool(const struct gguf *g, const char *key, bool *out)
{
    const struct kv *kv = find_kv(g, key);
    if (!kv)
        return FIEF_ENOTFOUND;
    if (kv->type != GGUF_TYPE_BOOL)
        return FIEF_EFORMAT;
    *out = g->img[kv->at] != 0;
    return 0;
}

int gguf_get_str(const struct gguf *g, const char *key, struct gguf_str *out)
{
    const struct kv *kv = find_kv(g, key);
    if (!kv)
        return FIEF_ENOTFOUND;
    if (kv->type != GGUF_TYPE_STRING)
        return FIEF_EFORMAT;
    out->len = le64(g->img + kv->at);
    out->ptr = (const char *)g->img + kv->at + 8;
    return 0;
}

int gguf_get_arr(const struct gguf *g, const char *key, enum gguf_type *elem_type,
                 uint64_t *n, const void **data)
{
    const struct kv *kv = find_kv(g, key);
    if (!kv)
        return FIEF_ENOTFOUND;
    if (kv->type != GGUF_TYPE_ARRAY || kv->elem_type == GGUF_TYPE_STRING)
        return FIEF_EFORMAT;
    *elem_type = (enum gguf_type)kv->elem_type;
    *n = kv->n;
    *data = g->img + kv->at;
    return 0;
}

int gguf_get_str_arr(const struct gguf *g, const char *key, struct gguf_str **out,
                     uint64_t *n)
{
    const struct kv *kv = find_kv(g, key);
    if (!kv)
        return FIEF_ENOTFOUND;
    if (kv->type != GGUF_TYPE_ARRAY || kv->elem_type != GGUF_TYPE_STRING)
        return FIEF_EFORMAT;
    struct gguf_str *a = NULL;
    /* The parser walked these strings: n is at most size / 8 and each fits. */
    if (kv->n && !(a = malloc((size_t)kv->n * sizeof *a)))
        return FIEF_ENOMEM;
    size_t pos = (size_t)kv->at;
    for (uint64_t i = 0; i < kv->n; i++) {
        a[i].len = le64(g->img + pos);
        a[i].ptr = (const char *)g->img + pos + 8;
        pos += 8 + (size_t)a[i].len;
    }
    *out = a;
    *n = kv->n;
    return 0;
}

/* ---- tensors ---- */

size_t gguf_n_tensors(const struct gguf *g)
{
    return g->n_tensors;
}

const struct gguf_tensor *gguf_tensor_at(const struct gguf *g, size_t i)
{
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const struct gguf_tensor *gguf_tensor_find(const struct gguf *g, const char *name)
{
    if (!name || g->n_tensors == 0)
        return NULL;
    size_t slot = hash_slot(g->t_hash, g->t_hmask, name, strlen(name), tensor_name, g);
    return g->t_hash[slot] ? &g->tensors[g->t_hash[slot] - 1] : NULL;
}

bool gguf_str_eq(struct gguf_str s, const char *c)
{
    size_t n = strlen(c);
    return s.len == n && (n == 0 || memcmp(s.ptr, c, n) == 0);
}
