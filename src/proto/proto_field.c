/* SPDX-License-Identifier: MIT */
/* The field table engine behind every message codec: one table per message
 * (JSON key, type, limits, where the value lives in the C struct) drives
 * decoding with validation, encoding and freeing, so a decoder and its
 * encoder cannot drift apart. The tables themselves are in proto_msg.c. */
#include "proto/proto.h"
#include "proto/proto_impl.h"

#include <float.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AT(base, off, T) ((T *)(void *)((char *)(base) + (off)))
#define CAT(base, off, T) ((const T *)(const void *)((const char *)(base) + (off)))

_Static_assert(sizeof(enum proto_finish) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum proto_notice_kind) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(int32_t) == sizeof(float), "id and log-prob arrays share code");

/* Array pointers are read and written with memcpy: the member is an int32_t *
 * or a float *, never a void *. */
static void *ptr_get(const void *base, unsigned off)
{
    void *p;
    memcpy(&p, (const char *)base + off, sizeof p);
    return p;
}

static void ptr_set(void *base, unsigned off, void *p)
{
    memcpy((char *)base + off, &p, sizeof p);
}

int proto_fields_bad(const struct proto_ctx *c, const char *key, const char *fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return fief_errf(c->err, FIEF_EPROTO, "%s: %s\"%s\"%s", c->msg, c->path, key, what);
}

/* ---- decoding: scalars ---- */

static int dec_int(const struct proto_field *f, json_t *v, void *out, struct proto_ctx *c)
{
    if (!json_is_integer(v))
        return proto_fields_bad(c, f->key, " must be an integer");
    json_int_t x = json_integer_value(v);
    if (x < (json_int_t)f->lo || x > (json_int_t)f->hi)
        return proto_fields_bad(c, f->key, " = %lld is out of range %.0f..%.0f", (long long)x,
                                f->lo, f->hi);
    if (f->type == PF_U32)
        *AT(out, f->off, uint32_t) = (uint32_t)x;
    else if (f->type == PF_I32)
        *AT(out, f->off, int32_t) = (int32_t)x;
    else
        *AT(out, f->off, uint64_t) = (uint64_t)x;
    return 0;
}

/* Float fields are compared as floats, so a bound like 0.01 that float
 * cannot hold exactly accepts its own float back. */
static int dec_num(const struct proto_field *f, json_t *v, void *out, struct proto_ctx *c)
{
    if (!json_is_number(v))
        return proto_fields_bad(c, f->key, " must be a number");
    double x = json_number_value(v);
    int ok = f->type == PF_F64 ? x >= f->lo && x <= f->hi
                               : x >= -FLT_MAX && x <= FLT_MAX && (float)x >= (float)f->lo &&
                                     (float)x <= (float)f->hi;
    if (!ok)
        return proto_fields_bad(c, f->key, " = %g is out of range [%g, %g]", x, f->lo, f->hi);
    if (f->type == PF_F64)
        *AT(out, f->off, double) = x;
    else
        *AT(out, f->off, float) = (float)x;
    return 0;
}

static int dec_bool(const struct proto_field *f, json_t *v, void *out, struct proto_ctx *c)
{
    if (!json_is_boolean(v))
        return proto_fields_bad(c, f->key, " must be true or false");
    *AT(out, f->off, bool) = json_is_true(v);
    return 0;
}

static int dec_enum(const struct proto_field *f, json_t *v, void *out, struct proto_ctx *c)
{
    const char *const *names = f->sub;
    if (!json_is_string(v))
        return proto_fields_bad(c, f->key, " must be a string");
    for (int i = 0; names[i]; i++)
        if (strcmp(json_string_value(v), names[i]) == 0) {
            int e = i + 1;
            memcpy(AT(out, f->off, char), &e, sizeof e);
            return 0;
        }
    return proto_fields_bad(c, f->key, " is not a known value");
}

static int dec_caps(const struct proto_field *f, json_t *v, void *out, struct proto_ctx *c)
{
    const char *const *names = f->sub;
    if (!json_is_array(v))
        return proto_fields_bad(c, f->key, " must be an array");
    if (json_array_size(v) > PROTO_MAX_CAPS)
        return proto_fields_bad(c, f->key, " has %zu entries; the limit is %d", json_array_size(v),
                                PROTO_MAX_CAPS);
    uint32_t bits = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_string(e))
            return proto_fields_bad(c, f->key, "[%zu] must be a string", i);
        for (int k = 0; names[k]; k++)
            if (strcmp(json_string_value(e), names[k]) == 0)
                bits |= 1u << k;
    }
    *AT(out, f->off, uint32_t) = bits;
    return 0;
}

/* ---- decoding: strings ---- */

static int is_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static int is_name(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '-';
}

/* Offset of the first byte outside the charset, or -1. */
static long bad_char(int cs, const char *s, size_t n)
{
    if (cs == PF_CS_TEXT)
        return proto_text_ctl(s, n);
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int ok;
        switch (cs) {
        case PF_CS_NAME:
            ok = is_name(ch);
            break;
        case PF_CS_MODEL:
            ok = is_name(ch) || ch == ':' || ch == '/';
            break;
        case PF_CS_HEX:
            ok = is_hex(ch);
            break;
        case PF_CS_URL:
            ok = ch > 0x20 && ch < 0x7f;
            break;
        default:
            ok = ch >= 0x20 && ch < 0x7f;
            break; /* PF_CS_ASCII */
        }
        if (!ok)
            return (long)i;
    }
    return -1;
}

static const char *const cs_what[] = {
    [PF_CS_NAME] = "a character outside [A-Za-z0-9._-]",
    [PF_CS_MODEL] = "a character outside [A-Za-z0-9._:/-]",
    [PF_CS_ASCII] = "a character that is not printable ASCII",
    [PF_CS_TEXT] = "a control character",
    [PF_CS_URL] = "a space or a character that is not printable ASCII",
};

#define DIGEST_PREFIX "sha256:"

/* Hex of exactly cnt - 1 digits, or a digest: checked for its form before
 * its length (the form is what the peer needs to hear), stored lowercase. */
static int dec_hex(const struct proto_field *f, const char *s, size_t n, void *out,
                   struct proto_ctx *c)
{
    size_t pre = f->cs == PF_CS_DIGEST ? sizeof DIGEST_PREFIX - 1 : 0;
    if (n != (size_t)f->cnt - 1 || memcmp(s, DIGEST_PREFIX, pre) != 0 ||
        bad_char(PF_CS_HEX, s + pre, n - pre) >= 0)
        return pre ? proto_fields_bad(c, f->key, " must be \"sha256:\" and 64 hex digits")
                   : proto_fields_bad(c, f->key, " must be %u hex digits", f->cnt - 1u);
    char *dst = AT(out, f->off, char);
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 'a' : s[i]);
    dst[n] = 0;
    return 0;
}

static int is_pool_url(const char *s, size_t n)
{
    return n > 11 && (memcmp(s, "fief+tcp://", 11) == 0 || memcmp(s, "fief+tls://", 11) == 0);
}

static int dec_str(const struct proto_field *f, json_t *v, void *out, struct proto_ctx *c)
{
    if (!json_is_string(v))
        return proto_fields_bad(c, f->key, " must be a string");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 && !(f->flags & PF_OPT))
        return proto_fields_bad(c, f->key, " is empty");
    if (f->cs == PF_CS_HEX || f->cs == PF_CS_DIGEST)
        return dec_hex(f, s, n, out, c);
    if (n > (size_t)f->cnt - 1)
        return proto_fields_bad(c, f->key, " is %zu bytes; the limit is %u", n, f->cnt - 1u);
    long at = bad_char(f->cs, s, n);
    if (at >= 0)
        return proto_fields_bad(c, f->key, " has %s at byte %ld", cs_what[f->cs], at);
    if (f->cs == PF_CS_URL && n && !is_pool_url(s, n))
        return proto_fields_bad(c, f->key, " must be a fief+tcp:// or fief+tls:// URL");
    memcpy(AT(out, f->off, char), s, n);
    AT(out, f->off, char)[n] = 0;
    return 0;
}

/* ---- decoding: arrays ---- */

enum { E_TYPE = 1, E_RANGE };

static int put_id(json_t *e, int32_t *dst)
{
    if (!json_is_integer(e))
        return E_TYPE;
    json_int_t x = json_integer_value(e);
    if (x < 0 || x > PROTO_MAX_TOKEN_ID)
        return E_RANGE;
    *dst = (int32_t)x;
    return 0;
}

/* 2^128 - 2^103: a double of smaller magnitude rounds to a finite float.
 * -FLT_MAX itself goes out as -3.40282347e+38, a little beyond it. */
#define FLT_ROUNDS_FINITE 3.4028235677973366e+38

/* A log-probability: <= 0 and finite as a float. */
static int put_lp(json_t *e, float *dst)
{
    if (!json_is_number(e))
        return E_TYPE;
    double x = json_number_value(e);
    if (!(x <= 0 && x > -FLT_ROUNDS_FINITE))
        return E_RANGE;
    *dst = x < -FLT_MAX ? -FLT_MAX : (float)x;
    return 0;
}

/* A margin: >= 0 and finite as a float. */
static int put_gap(json_t *e, float *dst)
{
    if (!json_is_number(e))
        return E_TYPE;
    double x = json_number_value(e);
    if (!(x >= 0 && x < FLT_ROUNDS_FINITE))
        return E_RANGE;
    *dst = x > FLT_MAX ? FLT_MAX : (float)x;
    return 0;
}

/* Whether f's elements are numbers (else token ids). */
static int is_float_arr(const struct proto_field *f)
{
    return f->type == PF_LPS || f->type == PF_GAPS || f->type == PF_TOP_LPS;
}

/* Report element [row][i] (row < 0: [i]) of field f. */
static int elem_err(const struct proto_field *f, struct proto_ctx *c, long row, size_t i, json_t *e,
                    int why)
{
    char idx[48];
    if (row >= 0)
        snprintf(idx, sizeof idx, "[%ld][%zu]", row, i);
    else
        snprintf(idx, sizeof idx, "[%zu]", i);
    if (why == E_TYPE)
        return proto_fields_bad(c, f->key, "%s must be %s", idx,
                                is_float_arr(f) ? "a number" : "an integer");
    if (f->type == PF_GAPS)
        return proto_fields_bad(c, f->key, "%s = %g is not a margin (finite, >= 0)", idx,
                                json_number_value(e));
    if (is_float_arr(f))
        return proto_fields_bad(c, f->key, "%s = %g is not a log-probability (finite, <= 0)", idx,
                                json_number_value(e));
    return proto_fields_bad(c, f->key, "%s = %lld is not a token id", idx,
                            (long long)json_integer_value(e));
}

/* Fill dst[0..n) from the JSON array a: ids, log-probs or margins by f's type. */
static int fill(const struct proto_field *f, json_t *a, size_t n, void *dst, long row,
                struct proto_ctx *c)
{
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(a, i);
        int why = f->type == PF_GAPS  ? put_gap(e, (float *)dst + i)
                  : is_float_arr(f) ? put_lp(e, (float *)dst + i)
                                    : put_id(e, (int32_t *)dst + i);
        if (why)
            return elem_err(f, c, row, i, e, why);
    }
    return 0;
}

/* The length of array v, checked before anything is allocated: within
 * [lo, hi], or equal to the count an earlier array set (f->same). */
static int arr_len(const struct proto_field *f, json_t *v, void *out, struct proto_ctx *c,
                   size_t *n)
{
    if (!json_is_array(v))
        return proto_fields_bad(c, f->key, " must be an array");
    *n = json_array_size(v);
    uint32_t *count = AT(out, f->cnt, uint32_t);
    if (f->same) {
        if (*n != *count)
            return proto_fields_bad(c, f->key, " has %zu entries; \"%s\" has %u", *n, f->same,
                                    *count);
        return 0;
    }
    if (*n < f->lo || *n > f->hi)
        return proto_fields_bad(c, f->key, " has %zu entries; allowed %.0f..%.0f", *n, f->lo,
                                f->hi);
    *count = (uint32_t)*n;
    return 0;
}

static int alloc_arr(void *out, const struct proto_field *f, size_t n, void **p,
                     struct proto_ctx *c)
{
    *p = malloc(n ? n * sizeof(int32_t) : 1); /* n is bounded by the limits */
    if (!*p)
        return fief_errf(c->err, FIEF_ENOMEM, "%s: out of memory", c->msg);
    ptr_set(out, f->off, *p);
    return 0;
}

static int dec_arr(const struct proto_field *f, json_t *v, void *out, struct proto_ctx *c)
{
    size_t n;
    void *p;
    int rc = arr_len(f, v, out, c, &n);
    if (!rc)
        rc = alloc_arr(out, f, n, &p, c);
    return rc ? rc : fill(f, v, n, p, -1, c);
}

/* n rows of k alternatives: every row as long as the first, and as long as
 * the rows of the sibling array when it came first (both share cnt2). */
static int dec_top(const struct proto_field *f, json_t *v, void *out, struct proto_ctx *c)
{
    size_t n;
    void *p;
    int rc = arr_len(f, v, out, c, &n);
    if (rc)
        return rc;
    uint32_t *k = AT(out, f->cnt2, uint32_t);
    json_t *row0 = json_array_get(v, 0);
    size_t k0 = json_array_size(row0); /* 0 when not an array; the loop reports it */
    if (json_is_array(row0) && !*k && (k0 < f->lo || k0 > f->hi))
        return proto_fields_bad(c, f->key, "[0] has %zu entries; allowed %.0f..%.0f", k0, f->lo,
                                f->hi);
    if (!*k)
        *k = (uint32_t)k0;
    if ((rc = alloc_arr(out, f, n * *k, &p, c)) != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        json_t *row = json_array_get(v, i);
        if (!json_is_array(row))
            return proto_fields_bad(c, f->key, "[%zu] must be an array", i);
        if (json_array_size(row) != *k)
            return proto_fields_bad(c, f->key, "[%zu] has %zu entries; each row must have %u", i,
                                    json_array_size(row), *k);
        if ((rc = fill(f, row, *k, (int32_t *)p + i * *k, (long)i, c)) != 0)
            return rc;
    }
    return 0;
}

/* ---- decoding: objects ---- */

static int dec_obj(const struct proto_msgdef *d, json_t *o, void *out, struct proto_ctx *c);

static int dec_sub(const struct proto_field *f, json_t *v, void *out, struct proto_ctx *c, long i)
{
    struct proto_ctx sub = *c;
    if (!json_is_object(v))
        return i < 0 ? proto_fields_bad(c, f->key, " must be an object")
                     : proto_fields_bad(c, f->key, "[%ld] must be an object", i);
    int w = i < 0 ? snprintf(sub.path, sizeof sub.path, "%s\"%s\".", c->path, f->key)
                  : snprintf(sub.path, sizeof sub.path, "%s\"%s\"[%ld].", c->path, f->key, i);
    if (w < 0) /* cannot happen; a long path is merely truncated */
        sub.path[0] = 0;
    return dec_obj(f->sub, v, out, &sub);
}

static int dec_objs(const struct proto_field *f, json_t *v, void *out, struct proto_ctx *c)
{
    size_t n;
    int rc = arr_len(f, v, out, c, &n);
    for (size_t i = 0; i < n && !rc; i++)
        rc = dec_sub(f, json_array_get(v, i), AT(out, f->off + i * f->esize, char), c, (long)i);
    return rc;
}

static int dec_field(const struct proto_field *f, json_t *v, void *out, struct proto_ctx *c)
{
    switch (f->type) {
    case PF_U32:
    case PF_I32:
    case PF_U64:
        return dec_int(f, v, out, c);
    case PF_F32:
    case PF_F64:
        return dec_num(f, v, out, c);
    case PF_BOOL:
        return dec_bool(f, v, out, c);
    case PF_STR:
        return dec_str(f, v, out, c);
    case PF_ENUM:
        return dec_enum(f, v, out, c);
    case PF_CAPS:
        return dec_caps(f, v, out, c);
    case PF_IDS:
    case PF_LPS:
    case PF_GAPS:
        return dec_arr(f, v, out, c);
    case PF_TOP_IDS:
    case PF_TOP_LPS:
        return dec_top(f, v, out, c);
    case PF_OBJ:
        return dec_sub(f, v, AT(out, f->off, char), c, -1);
    case PF_OBJS:
        return dec_objs(f, v, out, c);
    }
    return proto_fields_bad(c, f->key, " has no decoder");
}

static int dec_absent(const struct proto_field *f, void *out, struct proto_ctx *c)
{
    if (!(f->flags & PF_OPT))
        return proto_fields_bad(c, f->key, " is missing");
    if (f->type == PF_U32)
        *AT(out, f->off, uint32_t) = (uint32_t)f->def;
    else if (f->type == PF_I32)
        *AT(out, f->off, int32_t) = (int32_t)f->def;
    else if (f->type == PF_F32)
        *AT(out, f->off, float) = (float)f->def;
    else if (f->type == PF_F64)
        *AT(out, f->off, double) = f->def;
    return 0;
}

static int dec_obj(const struct proto_msgdef *d, json_t *o, void *out, struct proto_ctx *c)
{
    for (size_t i = 0; i < d->nf; i++) {
        json_t *v = json_object_get(o, d->f[i].key);
        int rc = v ? dec_field(&d->f[i], v, out, c) : dec_absent(&d->f[i], out, c);
        if (rc)
            return rc;
    }
    return d->check ? d->check(o, out, c) : 0;
}

/* Arrays live only at the top level of a message (sub-objects hold none). */
void proto_fields_clear(const struct proto_msgdef *d, void *m)
{
    for (size_t i = 0; i < d->nf; i++)
        if (d->f[i].type >= PF_IDS && d->f[i].type <= PF_TOP_LPS)
            free(ptr_get(m, d->f[i].off));
    memset(m, 0, d->size);
}

int proto_fields_decode(const struct proto_msgdef *d, json_t *o, void *out, char *err)
{
    struct proto_ctx c = {.err = err, .msg = d->name};
    memset(out, 0, d->size);
    if (!json_is_object(o))
        return fief_errf(err, FIEF_EPROTO, "%s: not an object", d->name);
    int rc = dec_obj(d, o, out, &c);
    if (rc)
        proto_fields_clear(d, out);
    return rc;
}

/* ---- encoding ---- */

/* The shortest decimal that reads back as f, as a double, so a temperature of
 * 0.7f goes out as 0.7 rather than 0.699999988. Log-prob arrays skip this (it
 * costs a few hundred ns a value) and go out with 9 digits. */
static double short_double(float f)
{
    char s[32];
    for (int p = 6; p < 9; p++) {
        snprintf(s, sizeof s, "%.*g", p, (double)f);
        double d = strtod(s, NULL);
        if ((float)d == f)
            return d;
    }
    return f;
}

static json_t *enc_arr(const struct proto_field *f, const void *in, size_t n, size_t from)
{
    const void *p = ptr_get(in, f->off);
    int num = is_float_arr(f);
    json_t *a = json_array();
    for (size_t i = from; p && i < from + n; i++)
        json_array_append_new(a, num ? json_real(((const float *)p)[i])
                                    : json_integer(((const int32_t *)p)[i]));
    return a;
}

static json_t *enc_top(const struct proto_field *f, const void *in)
{
    size_t n = *CAT(in, f->cnt, uint32_t), k = *CAT(in, f->cnt2, uint32_t);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, enc_arr(f, in, k, i * k));
    return a;
}

static json_t *enc_str(const struct proto_field *f, const char *s)
{
    char clean[PROTO_MAX_TEXT + 1];
    size_t n = strnlen(s, f->cnt);
    if (f->cs != PF_CS_TEXT)
        return json_stringn(s, n);
    n = proto_text_clean(clean, sizeof clean, s, n);
    return json_stringn_nocheck(clean, n);
}

static json_t *enc_names(const char *const *names, uint32_t bits)
{
    json_t *a = json_array();
    for (int k = 0; names[k]; k++)
        if (bits & (1u << k))
            json_array_append_new(a, json_string(names[k]));
    return a;
}

static json_t *enc_enum(const char *const *names, int v)
{
    for (int i = 0; names[i]; i++)
        if (v == i + 1)
            return json_string(names[i]);
    return NULL;
}

static json_t *enc_objs(const struct proto_field *f, const void *in)
{
    uint32_t n = *CAT(in, f->cnt, uint32_t);
    json_t *a = json_array();
    for (uint32_t i = 0; i < n && i < f->hi; i++) /* never past the inline array */
        json_array_append_new(a, proto_fields_encode(f->sub, CAT(in, f->off + i * f->esize, char)));
    return a;
}

static json_t *enc_field(const struct proto_field *f, const void *in)
{
    int e;
    switch (f->type) {
    case PF_U32:
        return json_integer(*CAT(in, f->off, uint32_t));
    case PF_I32:
        return json_integer(*CAT(in, f->off, int32_t));
    case PF_U64:
        return json_integer((json_int_t)*CAT(in, f->off, uint64_t));
    case PF_F32:
        return json_real(short_double(*CAT(in, f->off, float)));
    case PF_F64:
        return json_real(*CAT(in, f->off, double));
    case PF_BOOL:
        return json_boolean(*CAT(in, f->off, bool));
    case PF_STR:
        return enc_str(f, CAT(in, f->off, char));
    case PF_ENUM:
        memcpy(&e, CAT(in, f->off, char), sizeof e);
        return enc_enum(f->sub, e);
    case PF_CAPS:
        return enc_names(f->sub, *CAT(in, f->off, uint32_t));
    case PF_IDS:
    case PF_LPS:
    case PF_GAPS:
        return enc_arr(f, in, *CAT(in, f->cnt, uint32_t), 0);
    case PF_TOP_IDS:
    case PF_TOP_LPS:
        return enc_top(f, in);
    case PF_OBJ:
        return proto_fields_encode(f->sub, CAT(in, f->off, char));
    case PF_OBJS:
        return enc_objs(f, in);
    }
    return NULL;
}

/* For PF_OMITZ: whether the field holds nothing worth sending. */
static int is_zero(const struct proto_field *f, const void *in)
{
    switch (f->type) {
    case PF_STR:
        return *CAT(in, f->off, char) == 0;
    case PF_U32:
    case PF_CAPS:
        return *CAT(in, f->off, uint32_t) == 0;
    case PF_IDS:
    case PF_LPS:
    case PF_GAPS:
        return !ptr_get(in, f->off) || !*CAT(in, f->cnt, uint32_t);
    case PF_TOP_IDS:
    case PF_TOP_LPS:
        return !ptr_get(in, f->off) || !*CAT(in, f->cnt2, uint32_t);
    default:
        return 0;
    }
}

json_t *proto_fields_encode(const struct proto_msgdef *d, const void *in)
{
    json_t *o = json_object();
    for (size_t i = 0; i < d->nf; i++) {
        const struct proto_field *f = &d->f[i];
        if ((f->flags & PF_OMITZ) && is_zero(f, in))
            continue;
        json_object_set_new_nocheck(o, f->key, enc_field(f, in)); /* NULL: left out */
    }
    return o;
}
