/* SPDX-License-Identifier: MIT */
/* Tensor kernels (quant.c, quant_avx2.c, quant_avx512.c) against plain
 * references written here from the ggml block layouts: dequantization,
 * f16/bf16 conversion, quantization error bounds, activation conversion,
 * every dot kernel in every implementation the CPU runs, and the
 * many-row, many-column dots against the single ones, bit for bit. */
#include "testutil.h"

#include "common/err.h"
#include "engine/quant.h"
#include "engine/quant_impl.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint32_t all_types[] = {QT_F32, QT_F16, QT_BF16, QT_Q8_0, QT_Q4_0, QT_Q4_K, QT_Q6_K};
#define N_TYPES (sizeof all_types / sizeof all_types[0])

/* The kernel implementations this CPU runs, portable first (the one the
 * others are compared with). Filled by main(). */
static const char *impls[3];
static int n_impls;

/* ---- references, straight from the layout descriptions ---- */

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static double ref_f16(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 31, man = h & 1023;
    double v;
    if (exp == 31)
        v = man ? NAN : INFINITY;
    else if (exp == 0)
        v = ldexp(man, -24);
    else
        v = ldexp(1024 + man, exp - 25);
    return sign ? -v : v;
}

static double ref_bf16(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* Q4_K sub-block j's 6-bit scale (want_min = 0) or min (want_min = 1). */
static int ref_q4k_scale(const uint8_t *s, int j, int want_min)
{
    if (j < 4)
        return s[j + 4 * want_min] & 63;
    int low = want_min ? s[j + 4] >> 4 : s[j + 4] & 15;
    int high = s[j - 4 + 4 * want_min] >> 6;
    return low | high << 4;
}

/* Element e of the block at p. */
static double ref_elem(uint32_t type, const uint8_t *p, int e)
{
    switch (type) {
    case QT_F32: {
        float f;
        memcpy(&f, p + 4 * e, 4);
        return f;
    }
    case QT_F16:
        return ref_f16(rd16(p + 2 * e));
    case QT_BF16:
        return ref_bf16(rd16(p + 2 * e));
    case QT_Q8_0:
        return ref_f16(rd16(p)) * (int8_t)p[2 + e];
    case QT_Q4_0: {
        int b = p[2 + e % 16], nib = e < 16 ? b & 15 : b >> 4;
        return ref_f16(rd16(p)) * (nib - 8);
    }
    case QT_Q4_K: {
        int j = e / 32, b = p[16 + 32 * (e / 64) + e % 32];
        int q = (e % 64) < 32 ? b & 15 : b >> 4;
        return ref_f16(rd16(p)) * ref_q4k_scale(p + 4, j, 0) * q -
               ref_f16(rd16(p + 2)) * ref_q4k_scale(p + 4, j, 1);
    }
    case QT_Q6_K: {
        int h = e / 128, k = (e % 128) / 32, l = e % 32;
        int lb = p[64 * h + l + 32 * (k & 1)], nib = k < 2 ? lb & 15 : lb >> 4;
        int hb = (p[128 + 32 * h + l] >> (2 * k)) & 3;
        return ref_f16(rd16(p + 208)) * (int8_t)p[192 + e / 16] * ((nib | hb << 4) - 32);
    }
    }
    return NAN;
}

static void ref_dequant(uint32_t type, const void *src, double *dst, size_t n)
{
    const struct qtype_info *ti = qtype_info(type);
    for (size_t i = 0; i < n; i++)
        dst[i] =
            ref_elem(type, (const uint8_t *)src + i / ti->blck * ti->size, (int)(i % ti->blck));
}

/* ---- random data ---- */

static uint64_t rng = 0x5eed;

static uint16_t rand_scale16(double lo, double hi)
{
    double u = (tu_randf(&rng) + 1.0) / 2.0;
    return quant_f32_to_f16((float)(lo + (hi - lo) * u));
}

/* Random bytes with finite f16 scales (values scaled by s for float types). */
static void fill_random(uint32_t type, void *buf, size_t n, float s)
{
    const struct qtype_info *ti = qtype_info(type);
    uint8_t *p = buf;
    size_t bytes = qtype_row_size(type, n);
    for (size_t i = 0; i < bytes; i++)
        p[i] = (uint8_t)tu_rand(&rng);
    for (size_t i = 0; i < n && ti->blck == 1; i++) {
        float f = s * tu_randf(&rng);
        uint16_t h = type == QT_F16 ? quant_f32_to_f16(f) : quant_f32_to_bf16(f);
        if (type == QT_F32)
            memcpy(p + 4 * i, &f, 4);
        else
            memcpy(p + 2 * i, &h, 2);
    }
    for (size_t b = 0; b < n / ti->blck && ti->blck > 1; b++) {
        uint8_t *blk = p + b * ti->size;
        uint16_t d = rand_scale16(-s, s), dmin = rand_scale16(-s, s);
        memcpy(blk + (type == QT_Q6_K ? 208 : 0), &d, 2);
        if (type == QT_Q4_K)
            memcpy(blk + 2, &dmin, 2);
    }
}

/* Every weight scale set to 1.0 (d, and dmin for Q4_K). */
static void set_unit_scales(uint32_t type, void *buf, size_t n)
{
    const struct qtype_info *ti = qtype_info(type);
    uint16_t one = 0x3c00;
    for (size_t b = 0; b < n / ti->blck; b++) {
        uint8_t *blk = (uint8_t *)buf + b * ti->size;
        memcpy(blk + (type == QT_Q6_K ? 208 : 0), &one, 2);
        if (type == QT_Q4_K)
            memcpy(blk + 2, &one, 2);
    }
}

/* Small integers in [-30, 30] as float weights, exact in every float type. */
static void set_int_weights(uint32_t type, void *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float f = (float)((int)(tu_rand(&rng) % 61) - 30);
        if (type == QT_F32)
            ((float *)buf)[i] = f;
        else
            ((uint16_t *)buf)[i] = type == QT_F16 ? quant_f32_to_f16(f) : quant_f32_to_bf16(f);
    }
}

/* ---- type table, f16, bf16 ---- */

static void test_type_table(void **state)
{
    (void)state;
    assert_int_equal(qtype_info(QT_Q4_K)->size, 144);
    assert_int_equal(qtype_info(QT_Q6_K)->size, 210);
    assert_int_equal(qtype_row_size(QT_Q8_0, 64), 68);
    assert_null(qtype_info(QT_COUNT));
    quant_init();
    for (size_t i = 0; i < N_TYPES; i++) {
        assert_true(qtype_info(all_types[i])->supported);
        assert_non_null(quant_dot(all_types[i]));
        assert_non_null(quant_dot_tile(all_types[i]));
    }
    assert_null(quant_dot(QT_Q5_0));
    assert_null(quant_dot_tile(QT_Q5_0));
    assert_null(quant_dot_tile(1000));
    assert_null(quant_dot(1000));
    assert_int_equal(quant_act_type(QT_Q4_0), QT_Q8_0);
    assert_int_equal(quant_act_type(QT_Q6_K), QT_Q8_K);
    assert_int_equal(quant_act_type(QT_BF16), QT_BF16); /* as llama.cpp's vec_dot_type */
    assert_int_equal(quant_act_type(QT_F16), QT_F16);
    assert_int_equal(quant_act_type(QT_F32), QT_F32);
    assert_int_equal(quant_act_size(QT_F16, 7), 14);
    assert_int_equal(quant_act_size(QT_F32, 7), 28);
    assert_int_equal(quant_act_size(QT_Q4_0, 32 * 9), 2 * 288); /* groups of 8 blocks */
    assert_int_equal(quant_act_size(QT_Q4_K, 512), 2 * 292);
}

static void test_f16_exhaustive(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = quant_f16_to_f32((uint16_t)h);
        double r = ref_f16((uint16_t)h);
        if (isnan(r)) {
            assert_true(isnan(f));
            assert_int_equal(quant_f32_to_f16(f) & 0x7c00, 0x7c00);
            assert_int_not_equal(quant_f32_to_f16(f) & 0x3ff, 0);
            continue;
        }
        assert_true((double)f == r);
        assert_int_equal(quant_f32_to_f16(f), h); /* every half round-trips */
    }
    /* the portable kernels' own branch-free conversion, via dequantization:
     * bit-identical to quant_f16_to_f32, NaN payloads included */
    static uint16_t all[65536];
    static float out[65536];
    for (uint32_t h = 0; h < 65536; h++)
        all[h] = (uint16_t)h;
    quant_dequant_row(QT_F16, all, out, 65536);
    for (uint32_t h = 0; h < 65536; h++) {
        float f = quant_f16_to_f32((uint16_t)h);
        assert_memory_equal(&out[h], &f, 4);
    }
}

/* The midpoint between two adjacent halves rounds to the even one; a hair
 * either side rounds to the nearer one. Covers subnormals too. */
static void test_f16_rounding(void **state)
{
    (void)state;
    for (uint16_t h = 0; h < 0x7bff; h++) {
        float lo = quant_f16_to_f32(h), hi = quant_f16_to_f32((uint16_t)(h + 1));
        float mid = (float)(((double)lo + hi) / 2);
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : h;
        assert_int_equal(quant_f32_to_f16(mid), even);
        assert_int_equal(quant_f32_to_f16(nextafterf(mid, 0.0f)), h);
        assert_int_equal(quant_f32_to_f16(nextafterf(mid, INFINITY)), h + 1);
        assert_int_equal(quant_f32_to_f16(-mid), even | 0x8000);
    }
    assert_int_equal(quant_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(quant_f32_to_f16(65519.99f), 0x7bff);
    assert_int_equal(quant_f32_to_f16(65520.0f), 0x7c00);
    assert_int_equal(quant_f32_to_f16(1e30f), 0x7c00);
    assert_int_equal(quant_f32_to_f16(-INFINITY), 0xfc00);
    assert_int_equal(quant_f32_to_f16(0x1p-25f), 0);   /* tie with 0: even */
    assert_int_equal(quant_f32_to_f16(0x1.8p-25f), 1); /* above the tie */
    assert_int_equal(quant_f32_to_f16(0x1.8p-24f), 2); /* 1.5 units: tie to even */
    assert_int_equal(quant_f32_to_f16(-0.0f), 0x8000);
    assert_int_equal(quant_f32_to_f16(1e-30f), 0);
}

static void test_bf16(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = quant_bf16_to_f32((uint16_t)h);
        uint32_t u;
        memcpy(&u, &f, 4);
        assert_int_equal(u, h << 16);
        if (!isnan(f))
            assert_int_equal(quant_f32_to_bf16(f), h);
        /* halfway to the next bf16: ties to even */
        if ((h & 0x7f80) != 0x7f80 && (h & 0x7fff) != 0x7f7f) {
            float mid;
            uint32_t m = u | 0x8000;
            memcpy(&mid, &m, 4);
            assert_int_equal(quant_f32_to_bf16(mid), (h & 1) ? h + 1 : h);
        }
    }
    float nan_low, flt_max = FLT_MAX;
    uint32_t nl = 0x7f800001; /* a nan that naive rounding would turn into inf */
    memcpy(&nan_low, &nl, 4);
    assert_true(isnan(quant_bf16_to_f32(quant_f32_to_bf16(nan_low))));
    assert_int_equal(quant_f32_to_bf16(INFINITY), 0x7f80);
    assert_int_equal(quant_f32_to_bf16(flt_max), 0x7f80); /* rounds up to inf */
}

/* ---- dequantize ---- */

static void test_dequant(void **state)
{
    uint32_t type = *(const uint32_t *)*state;
    const struct qtype_info *ti = qtype_info(type);
    for (size_t nb = 1; nb <= 9; nb++) {
        size_t n = nb * (ti->blck == 1 ? 37 : ti->blck);
        void *w = malloc(qtype_row_size(type, n));
        float *y = malloc(n * sizeof *y);
        double *r = malloc(n * sizeof *r);
        fill_random(type, w, n, 2.0f);
        quant_dequant_row(type, w, y, n);
        ref_dequant(type, w, r, n);
        for (size_t i = 0; i < n; i++)
            if (fabs(y[i] - r[i]) > 1e-6 * fmax(1.0, fabs(r[i])))
                fail_msg("%s elem %zu: got %.9g want %.9g", ti->name, i, (double)y[i], r[i]);
        free(w);
        free(y);
        free(r);
    }
}

/* ---- quantize ---- */

/* Q8_0: error <= d/2 from rounding plus |q| <= 127 times the error of
 * storing d as f16 (relative 2^-11, or absolute 2^-25 once subnormal). */
static void test_quantize_q8_0(void **state)
{
    (void)state;
    enum { N = 32 * 40 };
    float x[N], y[N];
    struct blk_q8_0 b[N / 32];
    for (int i = 0; i < N; i++)
        x[i] = tu_randf(&rng) * (float)(1 << (i / 32 % 16)) / 256.0f;
    for (int j = 0; j < 32; j++)
        x[32 + j] = 0.0f; /* an all-zero block stays zero */
    quant_quantize_row(QT_Q8_0, x, b, N);
    quant_dequant_row(QT_Q8_0, b, y, N);
    for (int k = 0; k < N / 32; k++) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(x[32 * k + j]));
        double d = amax / 127.0, bound = d / 2 + 127 * fabs(ref_f16(b[k].d) - d) + d * 1e-6;
        for (int j = 0; j < 32; j++)
            assert_true(fabs((double)x[32 * k + j] - y[32 * k + j]) <= bound);
    }
    /* values already on the grid come back exactly */
    for (int i = 0; i < 32; i++)
        x[i] = (float)(i * 8 - 127 < -127 ? -127 : i * 8 - 127);
    x[31] = 127.0f;
    quant_quantize_row(QT_Q8_0, x, b, 32);
    quant_dequant_row(QT_Q8_0, b, y, 32);
    assert_memory_equal(x, y, 32 * sizeof(float));
}

/* Q4_0: d = max/-8 maps the largest magnitude to code 0 exactly; the other
 * sign can reach +8 steps, clamped to 7, so the error bound is one step. */
static void test_quantize_q4_0(void **state)
{
    (void)state;
    enum { N = 32 * 40 };
    float x[N], y[N];
    struct blk_q4_0 b[N / 32];
    for (int i = 0; i < N; i++)
        x[i] = tu_randf(&rng) * (float)(1 << (i / 32 % 16)) / 256.0f;
    quant_quantize_row(QT_Q4_0, x, b, N);
    quant_dequant_row(QT_Q4_0, b, y, N);
    double sq = 0, sqd = 0;
    for (int k = 0; k < N / 32; k++) {
        int at = 0;
        for (int j = 1; j < 32; j++)
            if (fabsf(x[32 * k + j]) > fabsf(x[32 * k + at]))
                at = j;
        double d = fabs(x[32 * k + at]) / 8.0;
        assert_true(fabs(x[32 * k + at] - y[32 * k + at]) <= d * 8 / 1024);
        for (int j = 0; j < 32; j++) {
            double e = fabs((double)x[32 * k + j] - y[32 * k + j]);
            assert_true(e <= d * (1.0 + 16.0 / 2048));
            sq += e * e;
            sqd += d * d;
        }
    }
    /* uniform rounding error has rms step/sqrt(12); allow some slack */
    assert_true(sqrt(sq / sqd) < 0.35);
}

/* ---- activations ---- */

/* The activation quantization, written independently from llama.cpp's x86
 * rules: per block of bs values, q = round-half-even(x * 127/amax); the scale
 * is amax/127 rounded to f16 for blocks of 32 (ggml's block_q8_0) and the
 * float 1/(127/amax) for blocks of 256 (block_q8_K). xq gets scale*q and err
 * a bound on |x - xq|: half a step, plus |q| <= 127 times the scale's own
 * rounding. */
static void ref_act(const float *x, double *xq, double *err, size_t n, int bs)
{
    for (size_t b = 0; b < n; b += (size_t)bs) {
        float amax = 0.0f;
        for (int j = 0; j < bs; j++)
            amax = fmaxf(amax, fabsf(x[b + j]));
        float id = amax > 0 ? 127.0f / amax : 0.0f;
        double d = bs == 32 ? ref_f16(quant_f32_to_f16(amax / 127.0f)) : id > 0 ? 1.0f / id : 0.0f;
        for (int j = 0; j < bs; j++) {
            xq[b + j] = d * nearbyintf(x[b + j] * id);
            err[b + j] = amax / 127.0 / 2 + 127 * fabs(d - amax / 127.0);
        }
    }
}

static int act_block(uint32_t wtype)
{
    uint32_t at = quant_act_type(wtype);
    return at == QT_Q8_0 ? 32 : at == QT_Q8_K ? 256 : 1;
}

/* Test inputs for the activation converters: random values of mixed scale;
 * for some sizes exact .5 ties of the int8 rounding, or values halfway
 * between two halves (F16) or bfloat16s (BF16); a first block of zeros; for
 * BF16, quiet and signalling NaNs (F16C keeps NaN payloads, so F16 has none);
 * for the int8 types NaN, infinities and a block of denormals. */
static void act_inputs(uint32_t type, float *x, size_t n, size_t nb, size_t unit)
{
    for (size_t i = 0; i < n; i++)
        x[i] = tu_randf(&rng) * (i % 3 ? 1.0f : 100.0f);
    for (size_t i = 0; i < n && nb == 3; i++)
        x[i] = (float)((int)(i % 255) - 127) * 0.5f;
    for (size_t i = 0; i < n && nb == 5 && type == QT_BF16; i++)
        x[i] = bits_f32((uint32_t)(tu_rand(&rng) & 0x7f7f) << 16 | 0x8000);
    for (size_t i = 0; i < n && nb == 5 && type == QT_F16; i++) {
        uint16_t h = (uint16_t)(tu_rand(&rng) & 0x7bfe);
        x[i] = (float)(ref_f16(h) + ref_f16((uint16_t)(h + 1))) / 2;
    }
    memset(x, 0, unit * sizeof *x);
    if (type == QT_BF16 && n > 20) {
        x[17] = bits_f32(0x7fc00001);
        x[18] = bits_f32(0xff800001);
    }
    if (type != QT_F16 && type != QT_BF16 && n >= 3 * unit) {
        /* int8 types: NaN and infinities must give the same (defined) bytes, and
         * a block of denormals must not overflow the rounding multiplier */
        x[unit + 1] = NAN;
        x[unit + 2] = INFINITY;
        x[unit + 3] = -INFINITY;
        for (size_t i = 2 * unit; i < 3 * unit; i++)
            x[i] = tu_randf(&rng) * 1e-39f;
    }
}

/* Every SIMD converter writes the same bytes as the portable one. */
static void test_act_convert(void **state)
{
    uint32_t type = *(const uint32_t *)*state;
    size_t unit = act_block(type) > 1 ? (size_t)act_block(type) : 37;
    for (size_t nb = 1; nb <= 19; nb++) {
        size_t n = nb * unit, sz = quant_act_size(type, n);
        float *x = malloc(n * sizeof *x);
        uint8_t *a0 = malloc(sz), *a1 = malloc(sz);
        act_inputs(type, x, n, nb, unit);
        memset(a0, 0xa5, sz);
        quant_set_kernels(impls[0]);
        quant_act_convert(type, x, a0, n);
        for (int k = 1; k < n_impls; k++) {
            memset(a1, 0x5a, sz);
            quant_set_kernels(impls[k]);
            quant_act_convert(type, x, a1, n);
            assert_memory_equal(a0, a1, sz);
        }
        free(x);
        free(a0);
        free(a1);
    }
}

/* ---- dot products ---- */

struct dot_case {
    size_t n;
    void *w;
    float *x;
    double *xq, *err, *wd; /* quantized activations, their error bound, weights */
};

static void case_init(struct dot_case *c, uint32_t type, size_t n)
{
    c->n = n;
    c->w = malloc(qtype_row_size(type, n));
    c->x = malloc(n * sizeof *c->x);
    c->xq = malloc(n * sizeof *c->xq);
    c->err = malloc(n * sizeof *c->err);
    c->wd = malloc(n * sizeof *c->wd);
}

static void case_free(struct dot_case *c)
{
    free(c->w);
    free(c->x);
    free(c->xq);
    free(c->err);
    free(c->wd);
}

/* Run the current kernel on c (activations converted here) and check it
 * against (1) the exact dot of the dequantized weights with the quantized
 * activations, up to float rounding, and (2) the dot with the unquantized
 * activations, up to the activation rounding error bound of ref_act(). */
static float check_dot(uint32_t type, const struct dot_case *c)
{
    const struct qtype_info *ti = qtype_info(type);
    size_t n = c->n;
    uint8_t *a = malloc(quant_act_size(type, n));
    quant_act_convert(type, c->x, a, n);
    float got = quant_dot(type)(n, c->w, a);
    free(a);

    double exact = 0, mag = 0, fexact = 0, qerr = 0;
    for (size_t i = 0; i < n; i++) {
        exact += c->wd[i] * c->xq[i];
        mag += fabs(c->wd[i] * c->xq[i]);
        fexact += c->wd[i] * c->x[i];
        qerr += fabs(c->wd[i]) * c->err[i];
    }
    /* float error: a few roundings per block plus one add per block or lane */
    double tol = (double)(n / ti->blck + 32) * FLT_EPSILON * mag + 1e-30;
    if (fabs(got - exact) > tol)
        fail_msg("%s %s n=%zu: got %.9g want %.9g (tol %.3g)", ti->name, quant_simd_name(), n,
                 (double)got, exact, tol);
    if (fabs(got - fexact) > qerr * 1.0001 + tol)
        fail_msg("%s %s n=%zu: got %.9g, float dot %.9g, act error bound %.3g", ti->name,
                 quant_simd_name(), n, (double)got, fexact, qerr);
    return got;
}

static void test_dot(void **state)
{
    uint32_t type = *(const uint32_t *)*state;
    const struct qtype_info *ti = qtype_info(type);
    int bs = act_block(type);
    size_t unit = ti->blck == 1 ? 1 : ti->blck, max = ti->blck == 256 ? 9 : 300;
    if (ti->blck == 32)
        max = 35; /* full groups of 8 blocks and every partial tail */
    for (size_t k = 1; k <= max; k += (ti->blck == 1 && k > 40) ? 37 : 1) {
        struct dot_case c;
        case_init(&c, type, k * unit);
        fill_random(type, c.w, c.n, 0.5f);
        for (size_t i = 0; i < c.n; i++)
            c.x[i] = tu_randf(&rng) * (i % 7 ? 1.0f : 4.0f);
        ref_dequant(type, c.w, c.wd, c.n);
        if (bs > 1) {
            ref_act(c.x, c.xq, c.err, c.n, bs);
        } else {
            for (size_t i = 0; i < c.n; i++) { /* the same float type as the weights */
                c.xq[i] = type == QT_F16    ? ref_f16(quant_f32_to_f16(c.x[i]))
                          : type == QT_BF16 ? ref_bf16(quant_f32_to_bf16(c.x[i]))
                                            : c.x[i];
                c.err[i] = fabs(c.x[i] - c.xq[i]);
            }
        }
        double mag = 0;
        for (size_t i = 0; i < c.n; i++)
            mag += fabs(c.wd[i] * c.xq[i]);
        float p = 0.0f;
        for (int m = 0; m < n_impls; m++) {
            quant_set_kernels(impls[m]);
            float s = check_dot(type, &c);
            if (m == 0)
                p = s;
            else if (fabs(p - s) > (double)(c.n / unit + 32) * FLT_EPSILON * mag + 1e-30)
                fail_msg("%s n=%zu: portable %.9g, %s %.9g", ti->name, c.n, (double)p, impls[m],
                         (double)s);
        }
        case_free(&c);
    }
}

/* With unit weight scales and integer activations whose block maximum is
 * 127 (so the activation scale is exactly 1), every product and partial sum
 * is a small integer: portable and SIMD must agree exactly, and equal the
 * integer dot computed here. Activations are kept small (|x| <= 3) so sums
 * stay far below 2^24. */
static void test_dot_exact(void **state)
{
    uint32_t type = *(const uint32_t *)*state;
    const struct qtype_info *ti = qtype_info(type);
    int bs = act_block(type);
    size_t unit = ti->blck == 1 ? 8 : ti->blck;
    for (size_t k = 1; k <= (ti->blck == 256 ? 6 : 33); k++) {
        size_t n = k * unit;
        void *w = malloc(qtype_row_size(type, n));
        float *x = malloc(n * sizeof *x);
        double *wd = malloc(n * sizeof *wd);
        uint8_t *a = malloc(quant_act_size(type, n));
        fill_random(type, w, n, 1.0f);
        if (ti->blck > 1)
            set_unit_scales(type, w, n);
        else
            set_int_weights(type, w, n);
        for (size_t i = 0; i < n; i++)
            x[i] = (float)((int)(tu_rand(&rng) % 7) - 3);
        for (size_t i = 0; i < n && bs > 1; i += (size_t)bs)
            x[i + tu_rand(&rng) % (size_t)bs] = (i / (size_t)bs) % 2 ? 127.0f : -127.0f;
        ref_dequant(type, w, wd, n);
        double want = 0;
        for (size_t i = 0; i < n; i++)
            want += wd[i] * x[i];
        for (int m = 0; m < n_impls; m++) {
            quant_set_kernels(impls[m]);
            quant_act_convert(type, x, a, n);
            float got = quant_dot(type)(n, w, a);
            if ((double)got != want)
                fail_msg("%s %s n=%zu: got %.9g want %.9g", ti->name, impls[m], n, (double)got,
                         want);
        }
        free(w);
        free(x);
        free(wd);
        free(a);
    }
}

/* The extremes of the int8 tricks: Q8_0 weights of -128 (|w| = 128 as an
 * unsigned byte) against activations of +-127, and the largest Q6_K and Q4_K
 * quants and scales, must not saturate maddubs or the int16 sums. */
static void test_dot_extremes(void **state)
{
    (void)state;
    enum { N = 512 };
    float x[N];
    static uint8_t w[N / 32 * 34], a[N / 256 * sizeof(struct act_q8)];
    for (int i = 0; i < N; i++)
        x[i] = i % 2 ? -127.0f : 127.0f;
    for (int b = 0; b < N / 32; b++) {
        memcpy(w + 34 * b, &(uint16_t){0x3c00}, 2);
        memset(w + 34 * b + 2, 0x80, 32);
    }
    for (int m = 0; m < n_impls; m++) {
        quant_set_kernels(impls[m]);
        quant_act_convert(QT_Q8_0, x, a, N);
        assert_true(quant_dot(QT_Q8_0)(N, w, a) == 0.0f);
        for (int i = 0; i < N; i++)
            x[i] = -127.0f;
        quant_act_convert(QT_Q8_0, x, a, N);
        assert_true(quant_dot(QT_Q8_0)(N, w, a) == 128.0f * 127 * N);
        for (int i = 0; i < N; i++)
            x[i] = i % 2 ? -127.0f : 127.0f;
    }
    static struct blk_q6_k q6[2];
    static struct act_q8k a6[2];
    memset(q6, 0xff, sizeof q6); /* all quants 63, i.e. +31 */
    for (int b = 0; b < 2; b++) {
        memset(q6[b].sc, 0x80, 16); /* every scale -128 */
        q6[b].d = 0x3c00;
    }
    for (int i = 0; i < 512; i++)
        x[i] = 127.0f;
    for (int m = 0; m < n_impls; m++) {
        quant_set_kernels(impls[m]);
        quant_act_convert(QT_Q6_K, x, a6, 512);
        assert_true(quant_dot(QT_Q6_K)(512, q6, a6) == -128.0f * 31 * 127 * 512);
    }
    /* Q4_K: all quants 15, all scales 63 (bytes 0xff), no min: the AVX2
     * kernel sums 8 products of 15*127 in int16 (30480) */
    static struct blk_q4_k q4[1];
    memset(q4, 0xff, sizeof q4);
    q4[0].d = 0x3c00;
    q4[0].dmin = 0;
    for (int sign = -1; sign <= 1; sign += 2) {
        for (int i = 0; i < 256; i++)
            x[i] = 127.0f * (float)sign;
        for (int m = 0; m < n_impls; m++) {
            quant_set_kernels(impls[m]);
            quant_act_convert(QT_Q4_K, x, a6, 256);
            assert_true(quant_dot(QT_Q4_K)(256, q4, a6) == (float)sign * 63 * 15 * 127 * 256);
        }
    }
}

/* Rows need only their natural alignment (2 bytes for f16-scaled blocks and
 * halves, 4 for F32), as mmap'd tensors have, and activations 4 bytes. */
static void test_dot_unaligned(void **state)
{
    (void)state;
    enum { N = 256 * 3 };
    _Alignas(64) static uint8_t wbuf[N * 4 + 64], abuf[N * 4 + 64];
    static float x[N];
    for (int i = 0; i < N; i++)
        x[i] = tu_randf(&rng);
    for (size_t t = 0; t < N_TYPES; t++) {
        uint32_t type = all_types[t];
        for (int off = 2; off <= 6; off += 2) {
            void *w = wbuf + (type == QT_F32 ? 2 * off : off);
            void *a = abuf + 4 + off / 2 * 4;
            fill_random(type, w, N, 1.0f);
            float r[3];
            for (int m = 0; m < n_impls; m++) {
                quant_set_kernels(impls[m]);
                quant_act_convert(type, x, a, N);
                r[m] = quant_dot(type)(N, w, a);
                assert_true(fabsf(r[0] - r[m]) <= 1e-3f * (fabsf(r[0]) + 1.0f));
            }
        }
    }
}

/* ---- tile dots ---- */

/* Each dot of quant_dot_tile, on activations converted by
 * quant_act_convert_cols, is the float quant_dot returns on the same rows
 * converted by quant_act_convert, bit for bit, under every kernel set:
 * random rows of many lengths (every partial group and tail, odd and even
 * counts of whole groups), 1 to 5 weight rows (kernels may pair them) and 1
 * to 19 columns (kernels take them in power-of-two passes of up to 8),
 * activation rows at a stride that is no multiple of 64, results at a
 * stride whose gaps must stay untouched; and rows of zero weights or zero
 * activations, where only the sign of a zero could differ. */
static void test_dot_tile(void **state)
{
    enum { MAXR = 5, MAXC = 19, OS = MAXR + 1 };
    uint32_t type = *(const uint32_t *)*state;
    const struct qtype_info *ti = qtype_info(type);
    size_t unit = ti->blck == 1 ? 1 : ti->blck;
    size_t max = ti->blck == 256 ? 9 : ti->blck == 32 ? 83 : 300;
    for (size_t k = 1; k <= max; k += (ti->blck == 1 && k > 40) ? 37 : 1) {
        size_t n = k * unit, rb = qtype_row_size(type, n);
        size_t as = (quant_act_size(type, n) + 4 + 3) & ~(size_t)3;
        uint8_t *w = malloc(rb * MAXR), *a = malloc(as * MAXC), *a1 = malloc(as * MAXC);
        float *x = malloc(n * sizeof *x);
        for (int r = 0; r < MAXR; r++)
            fill_random(type, w + (size_t)r * rb, n, 0.5f);
        if (k % 7 == 3)
            memset(w + rb, 0, rb);
        for (int m = 0; m < n_impls; m++) {
            quant_set_kernels(impls[m]);
            float want[MAXR][MAXC], got[OS * MAXC], gap;
            for (int c = 0; c < MAXC; c++) {
                for (size_t i = 0; i < n; i++)
                    x[i] = c == 2 ? 0.0f : tu_randf(&rng) * (i % 7 ? 1.0f : 4.0f);
                quant_act_convert(type, x, a1 + (size_t)c * as, n);
                quant_act_convert_cols(type, x, a + (size_t)c * as, n);
                for (int r = 0; r < MAXR; r++)
                    want[r][c] = quant_dot(type)(n, w + (size_t)r * rb, a1 + (size_t)c * as);
            }
            for (size_t nr = 1; nr <= MAXR; nr++)
                for (size_t nc = 1; nc <= MAXC; nc++) {
                    memset(got, 0xa5, sizeof got);
                    memcpy(&gap, got, sizeof gap);
                    quant_dot_tile(type)(n, w, rb, nr, a, as, nc, got, OS);
                    for (size_t i = 0; i < OS * MAXC; i++) {
                        size_t r = i % OS, c = i / OS;
                        if (r >= nr || c >= nc)
                            assert_memory_equal(&got[i], &gap, sizeof gap);
                        else if (memcmp(&got[i], &want[r][c], sizeof got[i]) != 0)
                            fail_msg("%s %s n=%zu %zux%zu (%zu, %zu): tile %a, dot %a", ti->name,
                                     impls[m], n, nr, nc, r, c, (double)got[i], (double)want[r][c]);
                    }
                }
        }
        free(w);
        free(a);
        free(a1);
        free(x);
    }
}

#define PER_TYPE(fn)                                                                               \
    cmocka_unit_test_prestate(fn, (void *)&all_types[0]),                                          \
        cmocka_unit_test_prestate(fn, (void *)&all_types[1]),                                      \
        cmocka_unit_test_prestate(fn, (void *)&all_types[2]),                                      \
        cmocka_unit_test_prestate(fn, (void *)&all_types[3]),                                      \
        cmocka_unit_test_prestate(fn, (void *)&all_types[4]),                                      \
        cmocka_unit_test_prestate(fn, (void *)&all_types[5]),                                      \
        cmocka_unit_test_prestate(fn, (void *)&all_types[6])

int main(void)
{
    static const char *const names[] = {"portable", "avx2", "avx512"};
    quant_init();
    for (int i = 0; i < 3; i++) {
        if (quant_set_kernels(names[i]) == 0)
            impls[n_impls++] = names[i];
        else
            fprintf(stderr, "NOTE: this CPU or build has no %s kernels; not tested here\n",
                    names[i]);
    }
    assert_int_equal(quant_set_kernels("no-such-kernels"), FIEF_EUNSUPPORTED);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_table),
        cmocka_unit_test(test_f16_exhaustive),
        cmocka_unit_test(test_f16_rounding),
        cmocka_unit_test(test_bf16),
        PER_TYPE(test_dequant),
        cmocka_unit_test(test_quantize_q8_0),
        cmocka_unit_test(test_quantize_q4_0),
        PER_TYPE(test_act_convert),
        PER_TYPE(test_dot),
        PER_TYPE(test_dot_exact),
        PER_TYPE(test_dot_tile),
        cmocka_unit_test(test_dot_extremes),
        cmocka_unit_test(test_dot_unaligned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
