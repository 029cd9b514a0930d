/* SPDX-License-Identifier: MIT */
/* GGUF reader and writer: writer -> reader round trips for every value type and
 * several tensor types, the shared real files, a table of malformed images,
 * every truncated prefix of a small file, and random byte mutations. Images
 * under test live in exact-size heap copies so ASan catches any over-read. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "engine/gguf.h"
#include "engine/quant.h"

/* ---- helpers ---- */

static char *tmp_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tu_tmpdir(), name);
    return path;
}

/* Parse a heap copy of exactly n bytes; the copy is freed by the caller via *copy. */
static int parse_copy(const void *p, size_t n, struct gguf **g, void **copy, char *err)
{
    *copy = malloc(n ? n : 1);
    assert_non_null(*copy);
    if (n)
        memcpy(*copy, p, n);
    err[0] = 0;
    return gguf_parse(*copy, n, g, err);
}

static uint8_t pattern(size_t tensor, uint64_t i)
{
    return (uint8_t)(i * 31 + tensor * 7 + 1);
}

static void fill_pattern(void *ud, size_t index, void *dst, uint64_t nbytes)
{
    (void)ud;
    for (uint64_t i = 0; i < nbytes; i++)
        ((uint8_t *)dst)[i] = pattern(index, i);
}

static volatile unsigned sink; /* keeps the touches in walk() from being optimised out */

/* Look at every KV with every getter and touch every tensor's ends. */
static void walk(const struct gguf *g)
{
    for (size_t i = 0; i < gguf_n_kv(g); i++) {
        struct gguf_str k = gguf_kv_key(g, i);
        char key[GGUF_MAX_NAME + 1];
        memcpy(key, k.ptr, (size_t)k.len);
        key[k.len] = 0;
        assert_int_equal(gguf_find_key(g, key), (long)i);
        uint32_t u32;
        int32_t i32;
        uint64_t u64, n;
        float f;
        bool b;
        struct gguf_str s, *sa = NULL;
        enum gguf_type et;
        const void *d;
        (void)gguf_get_u32(g, key, &u32);
        (void)gguf_get_i32(g, key, &i32);
        (void)gguf_get_u64(g, key, &u64);
        (void)gguf_get_f32(g, key, &f);
        (void)gguf_get_bool(g, key, &b);
        if (gguf_get_str(g, key, &s) == 0 && s.len)
            sink += (unsigned char)s.ptr[0] + (unsigned char)s.ptr[s.len - 1];
        if (gguf_get_arr(g, key, &et, &n, &d) == 0 && n)
            sink += ((const uint8_t *)d)[n * gguf_type_size(et) - 1];
        if (gguf_get_str_arr(g, key, &sa, &n) == 0)
            for (uint64_t j = 0; j < n; j++)
                sink += sa[j].len ? (unsigned char)sa[j].ptr[sa[j].len - 1] : 0;
        free(sa);
    }
    for (size_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        const uint8_t *p = t->data;
        assert_true(t->nbytes > 0);
        sink += p[0] + p[t->nbytes - 1];
        char name[GGUF_MAX_NAME + 1];
        memcpy(name, t->name.ptr, (size_t)t->name.len);
        name[t->name.len] = 0;
        assert_ptr_equal(gguf_tensor_find(g, name), t);
    }
}

/* ---- round trip: writer -> reader ---- */

static void set_all_types(struct gguf_writer *w)
{
    uint8_t u8 = 200;
    int8_t i8 = -100;
    uint16_t u16 = 60000;
    int16_t i16 = -30000;
    uint64_t u64 = 0x123456789abcdef0ull;
    int64_t i64 = -5000000000ll;
    double f64 = 2.5e300, f64s = -0.125;
    gguf_writer_set_scalar(w, "t.u8", GGUF_TYPE_UINT8, &u8);
    gguf_writer_set_scalar(w, "t.i8", GGUF_TYPE_INT8, &i8);
    gguf_writer_set_scalar(w, "t.u16", GGUF_TYPE_UINT16, &u16);
    gguf_writer_set_scalar(w, "t.i16", GGUF_TYPE_INT16, &i16);
    gguf_writer_set_u32(w, "t.u32", 4000000000u);
    gguf_writer_set_i32(w, "t.i32", -7);
    gguf_writer_set_f32(w, "t.f32", 1.5f);
    gguf_writer_set_bool(w, "t.bool", true);
    gguf_writer_set_str(w, "t.str", "h\xc3\xa9llo");
    gguf_writer_set_scalar(w, "t.u64", GGUF_TYPE_UINT64, &u64);
    gguf_writer_set_scalar(w, "t.i64", GGUF_TYPE_INT64, &i64);
    gguf_writer_set_scalar(w, "t.f64", GGUF_TYPE_FLOAT64, &f64);
    gguf_writer_set_scalar(w, "t.f64s", GGUF_TYPE_FLOAT64, &f64s);
    gguf_writer_set_u32(w, "t.replaced", 1);
    gguf_writer_set_str(w, "t.replaced", "second");
    gguf_writer_set_str(w, "t.empty", "");

    static const int16_t a16[] = {-1, 2, -3};
    static const float af[] = {0.5f, -1.0f};
    static const uint8_t ab[] = {1, 0, 1, 1};
    static const uint64_t a64[] = {1, UINT64_MAX};
    static const double ad[] = {3.0};
    static const int8_t ai8[] = {-128, 127};
    gguf_writer_set_arr(w, "a.i16", GGUF_TYPE_INT16, a16, 3);
    gguf_writer_set_arr(w, "a.f32", GGUF_TYPE_FLOAT32, af, 2);
    gguf_writer_set_arr(w, "a.bool", GGUF_TYPE_BOOL, ab, 4);
    gguf_writer_set_arr(w, "a.u64", GGUF_TYPE_UINT64, a64, 2);
    gguf_writer_set_arr(w, "a.f64", GGUF_TYPE_FLOAT64, ad, 1);
    gguf_writer_set_arr(w, "a.i8", GGUF_TYPE_INT8, ai8, 2);
    gguf_writer_set_arr(w, "a.empty", GGUF_TYPE_UINT32, NULL, 0);
    static const char *const strs[] = {"a", "", "<0x0A>", "\xe2\x96\x81the"};
    gguf_writer_set_str_arr(w, "a.str", strs, 4);
    gguf_writer_set_str_arr(w, "a.str0", NULL, 0);
}

static void check_all_types(const struct gguf *g)
{
    uint32_t u32 = 0;
    int32_t i32 = 0;
    uint64_t u64 = 0;
    float f = 0;
    bool b = false;
    struct gguf_str s = {NULL, 0};
    assert_int_equal(gguf_get_u32(g, "t.u8", &u32), 0);
    assert_int_equal(u32, 200);
    assert_int_equal(gguf_get_i32(g, "t.i8", &i32), 0);
    assert_int_equal(i32, -100);
    assert_int_equal(gguf_get_u32(g, "t.i8", &u32), FIEF_EFORMAT); /* negative */
    assert_int_equal(gguf_get_u64(g, "t.u16", &u64), 0);
    assert_int_equal(u64, 60000);
    assert_int_equal(gguf_get_i32(g, "t.i16", &i32), 0);
    assert_int_equal(i32, -30000);
    assert_int_equal(gguf_get_u32(g, "t.u32", &u32), 0);
    assert_int_equal(u32, 4000000000u);
    assert_int_equal(gguf_get_i32(g, "t.u32", &i32), FIEF_EFORMAT); /* does not fit */
    assert_int_equal(gguf_get_i32(g, "t.i32", &i32), 0);
    assert_int_equal(i32, -7);
    assert_int_equal(gguf_get_f32(g, "t.f32", &f), 0);
    assert_true(f == 1.5f);
    assert_int_equal(gguf_get_f32(g, "t.u32", &f), FIEF_EFORMAT);
    assert_int_equal(gguf_get_bool(g, "t.bool", &b), 0);
    assert_true(b);
    assert_int_equal(gguf_get_bool(g, "t.u8", &b), FIEF_EFORMAT);
    assert_int_equal(gguf_get_str(g, "t.str", &s), 0);
    assert_true(gguf_str_eq(s, "h\xc3\xa9llo"));
    assert_int_equal(gguf_get_str(g, "t.empty", &s), 0);
    assert_true(gguf_str_eq(s, ""));
    assert_int_equal(gguf_get_u64(g, "t.u64", &u64), 0);
    assert_true(u64 == 0x123456789abcdef0ull);
    assert_int_equal(gguf_get_u32(g, "t.u64", &u32), FIEF_EFORMAT);
    assert_int_equal(gguf_get_i32(g, "t.i64", &i32), FIEF_EFORMAT);
    assert_int_equal(gguf_get_u64(g, "t.i64", &u64), FIEF_EFORMAT);
    assert_int_equal(gguf_get_f32(g, "t.f64", &f), FIEF_EFORMAT); /* too big for float */
    assert_int_equal(gguf_get_f32(g, "t.f64s", &f), 0);
    assert_true(f == -0.125f);
    assert_int_equal(gguf_get_str(g, "t.replaced", &s), 0);
    assert_true(gguf_str_eq(s, "second"));
    assert_int_equal(gguf_get_u32(g, "no.such.key", &u32), FIEF_ENOTFOUND);
    assert_int_equal(gguf_find_key(g, "no.such.key"), -1);
    assert_int_equal(gguf_get_str(g, "a.str", &s), FIEF_EFORMAT);
    long i = gguf_find_key(g, "t.i64");
    assert_true(i >= 0);
    assert_int_equal(gguf_kv_type(g, (size_t)i), GGUF_TYPE_INT64);
    assert_true(gguf_str_eq(gguf_kv_key(g, (size_t)i), "t.i64"));
}

static void check_arrays(const struct gguf *g)
{
    enum gguf_type et = GGUF_TYPE_UINT8;
    uint64_t n = 0;
    const void *d = NULL;
    assert_int_equal(gguf_get_arr(g, "a.i16", &et, &n, &d), 0);
    assert_int_equal(et, GGUF_TYPE_INT16);
    assert_int_equal(n, 3);
    int16_t v16[3];
    memcpy(v16, d, sizeof v16); /* may be unaligned */
    assert_int_equal(v16[0], -1);
    assert_int_equal(v16[2], -3);
    assert_int_equal(gguf_get_arr(g, "a.f32", &et, &n, &d), 0);
    float vf[2];
    memcpy(vf, d, sizeof vf);
    assert_true(et == GGUF_TYPE_FLOAT32 && n == 2 && vf[1] == -1.0f);
    assert_int_equal(gguf_get_arr(g, "a.bool", &et, &n, &d), 0);
    assert_true(et == GGUF_TYPE_BOOL && n == 4 && ((const uint8_t *)d)[1] == 0);
    assert_int_equal(gguf_get_arr(g, "a.u64", &et, &n, &d), 0);
    uint64_t v64[2];
    memcpy(v64, d, sizeof v64);
    assert_true(et == GGUF_TYPE_UINT64 && n == 2 && v64[1] == UINT64_MAX);
    assert_int_equal(gguf_get_arr(g, "a.f64", &et, &n, &d), 0);
    assert_true(et == GGUF_TYPE_FLOAT64 && n == 1);
    assert_int_equal(gguf_get_arr(g, "a.i8", &et, &n, &d), 0);
    assert_true(et == GGUF_TYPE_INT8 && n == 2 && ((const int8_t *)d)[0] == -128);
    assert_int_equal(gguf_get_arr(g, "a.empty", &et, &n, &d), 0);
    assert_true(et == GGUF_TYPE_UINT32 && n == 0);
    assert_int_equal(gguf_get_arr(g, "a.str", &et, &n, &d), FIEF_EFORMAT);
    assert_int_equal(gguf_get_arr(g, "t.u32", &et, &n, &d), FIEF_EFORMAT);

    struct gguf_str *s;
    assert_int_equal(gguf_get_str_arr(g, "a.str", &s, &n), 0);
    assert_int_equal(n, 4);
    assert_true(gguf_str_eq(s[0], "a") && gguf_str_eq(s[1], ""));
    assert_true(gguf_str_eq(s[2], "<0x0A>") && gguf_str_eq(s[3], "\xe2\x96\x81the"));
    free(s);
    assert_int_equal(gguf_get_str_arr(g, "a.str0", &s, &n), 0);
    assert_int_equal(n, 0);
    free(s);
    assert_int_equal(gguf_get_str_arr(g, "a.i16", &s, &n), FIEF_EFORMAT);
}

struct tdecl {
    const char *name;
    uint32_t type;
    uint32_t n_dims;
    uint64_t ne[4];
    uint64_t nbytes;
};

static const struct tdecl tdecls[] = {
    {"f32.w", QT_F32, 2, {5, 3, 1, 1}, 60},
    {"f16.w", QT_F16, 3, {8, 2, 2, 1}, 64},
    {"bf16.w", QT_BF16, 1, {3, 1, 1, 1}, 6},
    {"q8_0.w", QT_Q8_0, 2, {64, 2, 1, 1}, 136},
    {"q4_0.w", QT_Q4_0, 2, {32, 3, 1, 1}, 54},
    {"q4_K.w", QT_Q4_K, 1, {256, 1, 1, 1}, 144},
    {"q6_K.w", QT_Q6_K, 4, {256, 1, 2, 1}, 420},
    {"q5_1.w", QT_Q5_1, 1, {32, 1, 1, 1}, 24},
};
#define N_TDECLS (sizeof tdecls / sizeof tdecls[0])

static void add_tdecls(struct gguf_writer *w)
{
    for (size_t i = 0; i < N_TDECLS; i++)
        assert_int_equal(gguf_writer_add_tensor(w, tdecls[i].name, tdecls[i].type,
                                                tdecls[i].n_dims, tdecls[i].ne, fill_pattern,
                                                NULL), 0);
}

static void check_tensors(const struct gguf *g, uint32_t align)
{
    assert_int_equal(gguf_n_tensors(g), N_TDECLS);
    uint64_t expect_off = 0;
    for (size_t i = 0; i < N_TDECLS; i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        assert_true(gguf_str_eq(t->name, tdecls[i].name));
        assert_ptr_equal(gguf_tensor_find(g, tdecls[i].name), t);
        assert_int_equal(t->type, tdecls[i].type);
        assert_int_equal(t->n_dims, tdecls[i].n_dims);
        assert_memory_equal(t->ne, tdecls[i].ne, sizeof t->ne);
        assert_int_equal(t->n_elements, tdecls[i].ne[0] * tdecls[i].ne[1] * tdecls[i].ne[2]);
        assert_int_equal(t->nbytes, tdecls[i].nbytes);
        assert_int_equal(t->offset, expect_off);
        const uint8_t *img = gguf_image(g), *p = t->data;
        assert_int_equal((uint64_t)(p - img), gguf_data_offset(g) + t->offset);
        assert_int_equal((uintptr_t)p % align, 0); /* mmap is page-aligned */
        for (uint64_t j = 0; j < t->nbytes; j++)
            if (p[j] != pattern(i, j))
                fail_msg("tensor %zu byte %llu differs", i, (unsigned long long)j);
        expect_off += (t->nbytes + align - 1) / align * align;
    }
    assert_int_equal(gguf_file_size(g), gguf_data_offset(g) + expect_off);
    assert_null(gguf_tensor_find(g, "absent"));
    assert_null(gguf_tensor_at(g, N_TDECLS));
}

static void test_round_trip(void **state)
{
    (void)state;
    struct gguf_writer *w = gguf_writer_new();
    set_all_types(w);
    add_tdecls(w);
    char err[FIEF_ERR_LEN];
    const char *path = tmp_path("rt.gguf");
    assert_int_equal(gguf_writer_save(w, path, err), 0);
    gguf_writer_free(w);

    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_not_equal(access(tmp, F_OK), 0); /* renamed away */
    struct gguf *g;
    int rc = gguf_open(path, &g, err);
    if (rc)
        fail_msg("%s", err);
    assert_int_equal(gguf_version(g), 3);
    assert_int_equal(gguf_alignment(g), 32);
    assert_int_equal(gguf_n_kv(g), 24);
    check_all_types(g);
    check_arrays(g);
    check_tensors(g, 32);
    walk(g);
    gguf_free(g);
}

static void test_writer_alignment(void **state)
{
    (void)state;
    struct gguf_writer *w = gguf_writer_new();
    gguf_writer_set_u32(w, "general.alignment", 256);
    add_tdecls(w);
    char err[FIEF_ERR_LEN];
    const char *path = tmp_path("align.gguf");
    assert_int_equal(gguf_writer_save(w, path, err), 0);
    gguf_writer_free(w);
    struct gguf *g;
    assert_int_equal(gguf_open(path, &g, err), 0);
    assert_int_equal(gguf_alignment(g), 256);
    assert_int_equal(gguf_data_offset(g) % 256, 0);
    check_tensors(g, 256);
    gguf_free(g);
}

static void test_writer_errors(void **state)
{
    (void)state;
    char err[FIEF_ERR_LEN];
    struct gguf_writer *w = gguf_writer_new();
    uint64_t ne[5] = {33, 1, 1, 1, 1}, ok[2] = {32, 2}, zero[2] = {32, 0};
    assert_int_equal(gguf_writer_add_tensor(w, "a", QT_Q8_0, 1, ne, fill_pattern, NULL),
                     FIEF_EINVAL); /* not a whole block */
    assert_int_equal(gguf_writer_add_tensor(w, "a", QT_F32, 5, ne, fill_pattern, NULL),
                     FIEF_EINVAL);
    assert_int_equal(gguf_writer_add_tensor(w, "a", QT_F32, 2, zero, fill_pattern, NULL),
                     FIEF_EINVAL);
    assert_int_equal(gguf_writer_add_tensor(w, "a", 4, 2, ok, fill_pattern, NULL),
                     FIEF_EINVAL); /* id 4 is not a ggml type any more */
    assert_int_equal(gguf_writer_add_tensor(w, "a", QT_F32, 2, ok, NULL, NULL), FIEF_EINVAL);
    assert_int_equal(gguf_writer_add_tensor(w, "a", QT_Q8_0, 2, ok, fill_pattern, NULL), 0);
    assert_int_equal(gguf_writer_add_tensor(w, "a", QT_F32, 2, ok, fill_pattern, NULL),
                     FIEF_EINVAL); /* duplicate */
    assert_int_equal(gguf_writer_save(w, "/nonexistent-dir/x.gguf", err), FIEF_EIO);
    assert_true(err[0] != 0);
    gguf_writer_set_arr(w, "bad", GGUF_TYPE_STRING, "x", 1);
    err[0] = 0;
    const char *path = tmp_path("never.gguf");
    assert_int_equal(gguf_writer_save(w, path, err), FIEF_EINVAL);
    assert_non_null(strstr(err, "bad"));
    assert_int_not_equal(access(path, F_OK), 0);
    gguf_writer_free(w);

    char longkey[GGUF_MAX_NAME + 2];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = 0;
    w = gguf_writer_new();
    gguf_writer_set_u32(w, longkey, 1);
    assert_int_equal(gguf_writer_save(w, path, err), FIEF_EINVAL);
    gguf_writer_free(w);
    w = gguf_writer_new();
    gguf_writer_set_u32(w, "general.alignment", 48);
    assert_int_equal(gguf_writer_save(w, path, err), FIEF_EINVAL);
    gguf_writer_free(w);
    gguf_writer_free(NULL);
}

/* ---- the shared real files ---- */

static struct gguf *open_or_fail(const char *path)
{
    struct gguf *g;
    char err[FIEF_ERR_LEN];
    int rc = gguf_open(path, &g, err);
    if (rc)
        fail_msg("%s", err);
    return g;
}

static void test_stories260k(void **state)
{
    (void)state;
    TU_MODEL_OR_SKIP(path, "stories260K.gguf");
    struct gguf *g = open_or_fail(path);
    assert_int_equal(gguf_version(g), 3);
    assert_int_equal(gguf_n_tensors(g), 48);
    assert_int_equal(gguf_n_kv(g), 19);
    assert_int_equal(gguf_data_offset(g), 14176);
    assert_int_equal(gguf_alignment(g), 32);
    uint32_t u = 0;
    float f = 0;
    struct gguf_str s = {NULL, 0};
    assert_int_equal(gguf_get_u32(g, "llama.embedding_length", &u), 0);
    assert_int_equal(u, 64);
    assert_int_equal(gguf_get_u32(g, "llama.block_count", &u), 0);
    assert_int_equal(u, 5);
    assert_int_equal(gguf_get_u32(g, "llama.attention.head_count_kv", &u), 0);
    assert_int_equal(u, 4);
    assert_int_equal(gguf_get_u32(g, "tokenizer.ggml.padding_token_id", &u), 0);
    assert_int_equal(u, 0xFFFFFFFFu);
    assert_int_equal(gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f), 0);
    assert_float_equal(f, 1e-5f, 1e-12f);
    assert_int_equal(gguf_get_str(g, "general.architecture", &s), 0);
    assert_true(gguf_str_eq(s, "llama"));
    assert_int_equal(gguf_get_u32(g, "llama.rope.freq_base", &u), FIEF_ENOTFOUND);

    struct gguf_str *toks = NULL;
    uint64_t n = 0;
    assert_int_equal(gguf_get_str_arr(g, "tokenizer.ggml.tokens", &toks, &n), 0);
    assert_int_equal(n, 512);
    assert_true(gguf_str_eq(toks[0], "<unk>"));
    assert_true(gguf_str_eq(toks[3], "<0x00>"));
    assert_true(gguf_str_eq(toks[258], "<0xFF>"));
    free(toks);
    enum gguf_type et = GGUF_TYPE_UINT8;
    const void *d = NULL;
    assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &n, &d), 0);
    int32_t tt;
    memcpy(&tt, (const uint8_t *)d + 3 * 4, 4);
    assert_true(et == GGUF_TYPE_INT32 && n == 512 && tt == 6);

    const struct gguf_tensor *t = gguf_tensor_find(g, "token_embd.weight");
    assert_non_null(t);
    assert_true(t->type == QT_F32 && t->n_dims == 2 && t->ne[0] == 64 && t->ne[1] == 512);
    assert_int_equal(t->nbytes, 64 * 512 * 4);
    assert_non_null(gguf_tensor_find(g, "output.weight"));
    assert_non_null(gguf_tensor_find(g, "blk.4.ffn_down.weight"));
    walk(g);
    gguf_free(g);
}

static void test_llama2_tiny_f16(void **state)
{
    (void)state;
    TU_MODEL_OR_SKIP(path, "llama-2-tiny-random.gguf");
    struct gguf *g = open_or_fail(path);
    assert_int_equal(gguf_n_tensors(g), 12);
    assert_int_equal(gguf_n_kv(g), 18);
    uint32_t u = 0;
    assert_int_equal(gguf_get_u32(g, "general.file_type", &u), 0);
    assert_int_equal(u, 1);
    size_t n_f16 = 0, n_f32 = 0;
    for (size_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        n_f16 += t->type == QT_F16;
        n_f32 += t->type == QT_F32;
        if (t->type == QT_F16)
            assert_int_equal(t->nbytes, t->n_elements * 2);
    }
    assert_int_equal(n_f16, 9);
    assert_int_equal(n_f32, 3);
    const struct gguf_tensor *q = gguf_tensor_find(g, "blk.0.attn_q.weight");
    assert_non_null(q);
    assert_true(q->type == QT_F16 && q->ne[0] == 8 && q->ne[1] == 8);
    walk(g);
    gguf_free(g);
}

static void test_vocab_gpt2(void **state)
{
    (void)state;
    TU_MODEL_OR_SKIP(path, "vocab/ggml-vocab-gpt-2.gguf");
    struct gguf *g = open_or_fail(path);
    assert_int_equal(gguf_n_tensors(g), 0);
    struct gguf_str s = {NULL, 0}, *a = NULL;
    uint64_t n = 0;
    assert_int_equal(gguf_get_str(g, "tokenizer.ggml.model", &s), 0);
    assert_true(gguf_str_eq(s, "gpt2"));
    assert_int_equal(gguf_get_str(g, "tokenizer.ggml.pre", &s), 0);
    assert_true(gguf_str_eq(s, "gpt-2"));
    assert_int_equal(gguf_get_str_arr(g, "tokenizer.ggml.tokens", &a, &n), 0);
    assert_int_equal(n, 50257);
    assert_true(gguf_str_eq(a[0], "!"));
    free(a);
    assert_int_equal(gguf_get_str_arr(g, "tokenizer.ggml.merges", &a, &n), 0);
    assert_int_equal(n, 50000);
    assert_true(gguf_str_eq(a[0], "\xc4\xa0 t"));
    free(a);
    walk(g);
    gguf_free(g);
}

static void test_open_errors(void **state)
{
    (void)state;
    struct gguf *g = (struct gguf *)1;
    char err[FIEF_ERR_LEN] = "";
    assert_int_equal(gguf_open("/nonexistent/x.gguf", &g, err), FIEF_EIO);
    assert_null(g);
    assert_non_null(strstr(err, "/nonexistent/x.gguf"));
    assert_int_equal(gguf_open(tu_tmpdir(), &g, err), FIEF_EIO);
    const char *empty = tmp_path("empty.gguf");
    FILE *f = fopen(empty, "wb");
    assert_non_null(f);
    fclose(f);
    err[0] = 0;
    assert_int_equal(gguf_open(empty, &g, err), FIEF_EFORMAT);
    assert_true(err[0] != 0);
    assert_int_equal(gguf_parse(NULL, 0, &g, err), FIEF_EFORMAT);
    gguf_free(NULL);
}

/* ---- malformed images ---- */

static void u32le(struct buf *b, uint32_t v)
{
    uint8_t t[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    buf_append(b, t, 4);
}

static void u64le(struct buf *b, uint64_t v)
{
    u32le(b, (uint32_t)v);
    u32le(b, (uint32_t)(v >> 32));
}

static void str(struct buf *b, const char *s)
{
    u64le(b, strlen(s));
    buf_puts(b, s);
}

static void hdr(struct buf *b, uint64_t n_tensors, uint64_t n_kv)
{
    buf_append(b, "GGUF", 4);
    u32le(b, 3);
    u64le(b, n_tensors);
    u64le(b, n_kv);
}

/* A key and its value type; the value follows. */
static void key(struct buf *b, const char *k, uint32_t type)
{
    str(b, k);
    u32le(b, type);
}

static void tinfo(struct buf *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                  uint32_t type, uint64_t off)
{
    str(b, name);
    u32le(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        u64le(b, ne[d]);
    u32le(b, type);
    u64le(b, off);
}

/* Padding to 32, then n data bytes. */
static void tail(struct buf *b, size_t n)
{
    while (b->len % 32)
        buf_putc(b, 0);
    for (size_t i = 0; i < n; i++)
        buf_putc(b, (char)i);
}

/* One tensor "w" and no metadata. */
static void t1(struct buf *b, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t off,
               size_t data)
{
    hdr(b, 1, 0);
    tinfo(b, "w", n_dims, ne, type, off);
    tail(b, data);
}

/* One KV with a u32 value. */
static void kv1(struct buf *b, const char *k, uint32_t type, uint32_t v)
{
    hdr(b, 0, 1);
    key(b, k, type);
    u32le(b, v);
}

static const uint64_t ne42[] = {4, 2}, ne0[] = {4, 0}, ne33[] = {33}, ne32[] = {32},
                      ne_big[] = {1ull << 32, 1ull << 32}, ne_half[] = {1ull << 31, 1ull << 32},
                      ne63[] = {1ull << 63}, ne62[] = {1ull << 62}, ne5[] = {1, 1, 1, 1, 1};

static void mk_valid(struct buf *b) { t1(b, 2, ne42, QT_F32, 0, 32); }
static void mk_v2(struct buf *b) { mk_valid(b); b->data[4] = 2; }
static void mk_vocab_only(struct buf *b) { hdr(b, 0, 1); key(b, "k", 8); str(b, "v"); }
static void mk_empty(struct buf *b) { (void)b; }
static void mk_short_magic(struct buf *b) { buf_puts(b, "GGU"); }
static void mk_bad_magic(struct buf *b) { mk_valid(b); b->data[3] = 'X'; }
static void mk_v1(struct buf *b) { mk_valid(b); b->data[4] = 1; }
static void mk_v4(struct buf *b) { mk_valid(b); b->data[4] = 4; }
static void mk_big_endian(struct buf *b) { mk_valid(b); b->data[4] = 0; b->data[7] = 3; }
static void mk_short_hdr(struct buf *b) { buf_append(b, "GGUF\3\0\0\0\1\0\0\0", 12); }
static void mk_huge_nkv(struct buf *b) { hdr(b, 0, 1ull << 40); }
static void mk_many_nkv(struct buf *b) { hdr(b, 0, 60000); key(b, "k", 4); u32le(b, 1); }
static void mk_huge_nt(struct buf *b) { hdr(b, UINT64_MAX, 0); }
static void mk_many_nt(struct buf *b) { hdr(b, 65536, 0); tail(b, 64); }
static void mk_key_huge(struct buf *b) { hdr(b, 0, 1); u64le(b, UINT64_MAX); u64le(b, 4); }
static void mk_key_past(struct buf *b) { hdr(b, 0, 1); u64le(b, 100); buf_puts(b, "abcdefghijklmn"); }
static void mk_key_empty(struct buf *b) { kv1(b, "", 4, 1); }
static void mk_key_nul(struct buf *b) { hdr(b, 0, 1); u64le(b, 3); buf_append(b, "a\0b", 3); u32le(b, 4); u32le(b, 1); }
static void mk_str_huge(struct buf *b) { hdr(b, 0, 1); key(b, "k", 8); u64le(b, 1ull << 63); }
static void mk_str_wrap(struct buf *b) { hdr(b, 0, 1); key(b, "k", 8); u64le(b, UINT64_MAX - 3); buf_puts(b, "abcd"); }
static void mk_str_past(struct buf *b) { hdr(b, 0, 1); key(b, "k", 8); u64le(b, 1000); buf_puts(b, "abcd"); }
static void mk_bad_vtype(struct buf *b) { kv1(b, "k", 13, 1); }
static void mk_bool2(struct buf *b) { hdr(b, 0, 1); key(b, "k", 7); buf_putc(b, 2); }
static void mk_arr_arr(struct buf *b) { hdr(b, 0, 1); key(b, "k", 9); u32le(b, 9); u64le(b, 1); u32le(b, 4); u64le(b, 0); }
static void mk_arr_etype(struct buf *b) { hdr(b, 0, 1); key(b, "k", 9); u32le(b, 99); u64le(b, 0); }
static void mk_arr_u32_huge(struct buf *b) { hdr(b, 0, 1); key(b, "k", 9); u32le(b, 4); u64le(b, 1ull << 62); u32le(b, 1); }
static void mk_arr_u64_max(struct buf *b) { hdr(b, 0, 1); key(b, "k", 9); u32le(b, 10); u64le(b, UINT64_MAX); u64le(b, 1); }
static void mk_arr_str_huge(struct buf *b) { hdr(b, 0, 1); key(b, "k", 9); u32le(b, 8); u64le(b, 1ull << 61); str(b, "a"); }
static void mk_arr_str_len(struct buf *b) { hdr(b, 0, 1); key(b, "k", 9); u32le(b, 8); u64le(b, 2); str(b, "a"); u64le(b, UINT64_MAX); }
static void mk_arr_bool(struct buf *b) { hdr(b, 0, 1); key(b, "k", 9); u32le(b, 7); u64le(b, 3); buf_append(b, "\1\0\3", 3); }
static void mk_dup_key(struct buf *b) { hdr(b, 0, 2); key(b, "k", 4); u32le(b, 1); key(b, "k", 5); u32le(b, 2); }
static void mk_align0(struct buf *b) { kv1(b, "general.alignment", 4, 0); }
static void mk_align48(struct buf *b) { kv1(b, "general.alignment", 4, 48); }
static void mk_align_big(struct buf *b) { kv1(b, "general.alignment", 4, 1u << 17); }
static void mk_align_type(struct buf *b) { kv1(b, "general.alignment", 5, 32); }
static void mk_ndims0(struct buf *b) { t1(b, 0, ne42, QT_F32, 0, 32); }
static void mk_ndims5(struct buf *b) { t1(b, 5, ne5, QT_F32, 0, 32); }
static void mk_ne0(struct buf *b) { t1(b, 2, ne0, QT_F32, 0, 32); }
static void mk_ne_overflow(struct buf *b) { t1(b, 2, ne_big, QT_F32, 0, 32); }
static void mk_ne_2_63(struct buf *b) { t1(b, 2, ne_half, QT_F32, 0, 32); }
static void mk_ne0_huge(struct buf *b) { t1(b, 1, ne63, QT_F32, 0, 32); }
static void mk_bytes_overflow(struct buf *b) { t1(b, 1, ne62, QT_F32, 0, 32); }
static void mk_type99(struct buf *b) { t1(b, 2, ne42, 99, 0, 32); }
static void mk_type4(struct buf *b) { t1(b, 2, ne42, 4, 0, 32); }
static void mk_block(struct buf *b) { t1(b, 1, ne33, QT_Q8_0, 0, 64); }
static void mk_misaligned(struct buf *b) { t1(b, 2, ne42, QT_F32, 4, 64); }
static void mk_past_end(struct buf *b) { t1(b, 2, ne42, QT_F32, 32, 32); }
static void mk_one_short(struct buf *b) { t1(b, 1, ne32, QT_Q8_0, 0, 33); }
static void mk_off_wrap(struct buf *b) { t1(b, 2, ne42, QT_F32, UINT64_MAX & ~31ull, 32); }
static void mk_dup_tensor(struct buf *b) { hdr(b, 2, 0); tinfo(b, "w", 1, ne32, QT_F32, 0); tinfo(b, "w", 1, ne32, QT_F32, 128); tail(b, 256); }
static void mk_name_long(struct buf *b) { char n[301]; memset(n, 'n', 300); n[300] = 0; hdr(b, 1, 0); tinfo(b, n, 1, ne32, QT_F32, 0); tail(b, 128); }
static void mk_name_empty(struct buf *b) { hdr(b, 1, 0); tinfo(b, "", 1, ne32, QT_F32, 0); tail(b, 128); }
static void mk_missing_info(struct buf *b) { hdr(b, 2, 0); tinfo(b, "w", 2, ne42, QT_F32, 0); tail(b, 64); }

struct bad_case {
    const char *name;
    void (*mk)(struct buf *b);
    int code;
    const char *msg; /* expected in the message (NULL: any non-empty one) */
};

static const struct bad_case bad_cases[] = {
    {"valid", mk_valid, 0, NULL},
    {"valid v2", mk_v2, 0, NULL},
    {"no tensors, no padding", mk_vocab_only, 0, NULL},
    {"empty", mk_empty, FIEF_EFORMAT, "too short"},
    {"short magic", mk_short_magic, FIEF_EFORMAT, "too short"},
    {"bad magic", mk_bad_magic, FIEF_EFORMAT, "magic"},
    {"version 1", mk_v1, FIEF_EUNSUPPORTED, "version 1"},
    {"version 4", mk_v4, FIEF_EUNSUPPORTED, "version 4"},
    {"big-endian", mk_big_endian, FIEF_EUNSUPPORTED, "big-endian"},
    {"short header", mk_short_hdr, FIEF_EFORMAT, "offset 8"},
    {"huge n_kv", mk_huge_nkv, FIEF_ELIMIT, "limit"},
    {"n_kv beyond file", mk_many_nkv, FIEF_EFORMAT, "cannot fit"},
    {"huge n_tensors", mk_huge_nt, FIEF_ELIMIT, "limit"},
    {"n_tensors beyond file", mk_many_nt, FIEF_EFORMAT, "cannot fit"},
    {"key length huge", mk_key_huge, FIEF_ELIMIT, "offset 24"},
    {"key past end", mk_key_past, FIEF_EFORMAT, "offset 24"},
    {"empty key", mk_key_empty, FIEF_EFORMAT, "empty"},
    {"key with NUL", mk_key_nul, FIEF_EFORMAT, "NUL"},
    {"string length 2^63", mk_str_huge, FIEF_ELIMIT, "limit"},
    {"string length wraps", mk_str_wrap, FIEF_ELIMIT, "limit"},
    {"string past end", mk_str_past, FIEF_EFORMAT, "remain"},
    {"unknown value type", mk_bad_vtype, FIEF_EFORMAT, "unknown value type 13"},
    {"bool 2", mk_bool2, FIEF_EFORMAT, "bool"},
    {"array of arrays", mk_arr_arr, FIEF_EUNSUPPORTED, "array of arrays"},
    {"array element type", mk_arr_etype, FIEF_EFORMAT, "element type 99"},
    {"u32 array count 2^62", mk_arr_u32_huge, FIEF_EFORMAT, "past the end"},
    {"u64 array count max", mk_arr_u64_max, FIEF_EFORMAT, "past the end"},
    {"string array count", mk_arr_str_huge, FIEF_EFORMAT, "cannot fit"},
    {"string array element", mk_arr_str_len, FIEF_ELIMIT, "array string"},
    {"bool array 3", mk_arr_bool, FIEF_EFORMAT, "bool at offset"},
    {"duplicate key", mk_dup_key, FIEF_EFORMAT, "duplicate key"},
    {"alignment 0", mk_align0, FIEF_EFORMAT, "power of two"},
    {"alignment 48", mk_align48, FIEF_EFORMAT, "power of two"},
    {"alignment 2^17", mk_align_big, FIEF_EFORMAT, "power of two"},
    {"alignment i32", mk_align_type, FIEF_EFORMAT, "expected u32"},
    {"n_dims 0", mk_ndims0, FIEF_EFORMAT, "n_dims = 0"},
    {"n_dims 5", mk_ndims5, FIEF_EFORMAT, "n_dims = 5"},
    {"ne 0", mk_ne0, FIEF_EFORMAT, "dimension 1 (at offset 45) is 0"},
    {"element count 2^64", mk_ne_overflow, FIEF_EFORMAT, "overflows"},
    {"element count 2^63", mk_ne_2_63, FIEF_EFORMAT, "overflows"},
    {"ne[0] 2^63", mk_ne0_huge, FIEF_EFORMAT, "overflows"},
    {"byte size overflow", mk_bytes_overflow, FIEF_EFORMAT, "byte size"},
    {"unknown type 99", mk_type99, FIEF_EFORMAT, "unknown tensor type 99"},
    {"removed type 4", mk_type4, FIEF_EFORMAT, "unknown tensor type 4"},
    {"partial block", mk_block, FIEF_EFORMAT, "block size"},
    {"misaligned offset", mk_misaligned, FIEF_EFORMAT, "alignment 32"},
    {"data past end", mk_past_end, FIEF_EFORMAT, "runs past the end"},
    {"data one byte short", mk_one_short, FIEF_EFORMAT, "runs past the end"},
    {"data offset wraps", mk_off_wrap, FIEF_EFORMAT, "overflows"},
    {"duplicate tensor", mk_dup_tensor, FIEF_EFORMAT, "duplicate tensor"},
    {"tensor name too long", mk_name_long, FIEF_ELIMIT, "limit"},
    {"empty tensor name", mk_name_empty, FIEF_EFORMAT, "empty"},
    {"missing tensor info", mk_missing_info, FIEF_EFORMAT, "tensor 1"},
};

static void test_malformed_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *bc = &bad_cases[i];
        struct buf b;
        buf_init(&b);
        bc->mk(&b);
        struct gguf *g = NULL;
        void *copy;
        char err[FIEF_ERR_LEN];
        int rc = parse_copy(b.data, b.len, &g, &copy, err);
        if (rc != bc->code)
            fail_msg("case \"%s\": got %d (%s), want %d", bc->name, rc, err, bc->code);
        if (rc == 0) {
            walk(g);
        } else {
            assert_null(g);
            if (!err[0] || (bc->msg && !strstr(err, bc->msg)))
                fail_msg("case \"%s\": message \"%s\" lacks \"%s\"", bc->name, err,
                         bc->msg ? bc->msg : "");
        }
        gguf_free(g);
        free(copy);
        buf_deinit(&b);
    }
}

/* A small valid file from the writer: a few KVs of each shape, two tensors. */
static char *small_image(size_t *len)
{
    struct gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_u32(w, "llama.block_count", 2);
    gguf_writer_set_bool(w, "b", true);
    static const float sc[] = {0.0f, -1.0f, 2.0f};
    static const char *const toks[] = {"<unk>", "a", "bc"};
    gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, sc, 3);
    gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens", toks, 3);
    uint64_t a[] = {4, 2}, q[] = {32};
    assert_int_equal(gguf_writer_add_tensor(w, "a", QT_F32, 2, a, fill_pattern, NULL), 0);
    assert_int_equal(gguf_writer_add_tensor(w, "q", QT_Q8_0, 1, q, fill_pattern, NULL), 0);
    char err[FIEF_ERR_LEN];
    const char *path = tmp_path("small.gguf");
    assert_int_equal(gguf_writer_save(w, path, err), 0);
    gguf_writer_free(w);
    char *img = tu_read_file(path, len);
    assert_non_null(img);
    return img;
}

/* Every prefix shorter than the end of the last tensor's data must fail
 * cleanly; every longer one (only trailing padding missing) must parse. */
static void test_truncated_every_byte(void **state)
{
    (void)state;
    size_t len;
    char *img = small_image(&len);
    struct gguf *g;
    void *copy;
    char err[FIEF_ERR_LEN];
    assert_int_equal(parse_copy(img, len, &g, &copy, err), 0);
    size_t need = (size_t)gguf_data_offset(g) + 32 + 34;
    assert_int_equal(len, gguf_data_offset(g) + 32 + 64);
    gguf_free(g);
    free(copy);
    for (size_t n = 0; n <= len; n++) {
        int rc = parse_copy(img, n, &g, &copy, err);
        if (n < need && (rc == 0 || !err[0]))
            fail_msg("prefix of %zu bytes: rc %d, message \"%s\"", n, rc, err);
        if (n >= need && rc != 0)
            fail_msg("prefix of %zu bytes should parse: %s", n, err);
        gguf_free(g);
        free(copy);
    }
    free(img);
}

/* Random byte changes: never a crash; either a message or a walkable result. */
static void test_mutations(void **state)
{
    (void)state;
    size_t len;
    char *img = small_image(&len);
    uint64_t rng = 42;
    static const uint8_t vals[] = {0, 1, 2, 0x7f, 0x80, 0xff};
    for (int it = 0; it < 20000; it++) {
        char *m = malloc(len);
        memcpy(m, img, len);
        int k = 1 + (int)(tu_rand(&rng) % 4);
        for (int j = 0; j < k; j++) {
            uint64_t r = tu_rand(&rng);
            m[r % len] = (char)(r >> 32 & 1 ? vals[(r >> 40) % 6] : (uint8_t)(r >> 48));
        }
        struct gguf *g;
        char err[FIEF_ERR_LEN] = "";
        int rc = gguf_parse(m, len, &g, err);
        if (rc == 0) {
            walk(g);
            gguf_free(g);
        } else if (!err[0]) {
            fail_msg("iteration %d: error %d without a message", it, rc);
        }
        free(m);
    }
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_writer_alignment),
        cmocka_unit_test(test_writer_errors),
        cmocka_unit_test(test_stories260k),
        cmocka_unit_test(test_llama2_tiny_f16),
        cmocka_unit_test(test_vocab_gpt2),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_malformed_table),
        cmocka_unit_test(test_truncated_every_byte),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
