/* SPDX-License-Identifier: MIT */
/* Tensor kernels, portable C: dequantize rows, quantize Q8_0/Q4_0 weights,
 * convert activation rows, and the dot products. Also picks, once, between
 * these and the SIMD kernels (quant_avx2.c, quant_avx512.c) from what the CPU
 * supports.
 * The portable kernels are the readable definition the SIMD ones must match. */
#include "engine/quant.h"
#include "engine/quant_impl.h"

#include "common/err.h"

#include <math.h>
#include <pthread.h>
#ifdef QUANT_HAVE_AVX2_BUILD
#include <cpuid.h>
#endif
#include <stdatomic.h>
#include <string.h>

static const struct quant_kernels portable_kernels;

/* ---- kernel selection ---- */

/* The implementations this CPU can run, best last: portable, then AVX2,
 * then AVX2 with the AVX-512 dots and tile dots merged in. Filled
 * once under init_once and read-only afterwards. */
static const struct quant_kernels *usable[3] = {&portable_kernels};
static int n_usable = 1;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
/* The kernels in use. Starts portable so a kernel called before quant_init()
 * is still correct; relaxed atomics suffice because each table is const. */
static _Atomic(const struct quant_kernels *) active = &portable_kernels;

#ifdef QUANT_HAVE_AVX2_BUILD
static struct quant_kernels avx512_merged;

/* F16C is CPUID leaf 1, ECX bit 29. Asked directly because clang's
 * __builtin_cpu_supports does not know "f16c"; the OS-support check that
 * "avx2" implies covers it (same YMM state). */
static bool cpu_has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1);
}

static void detect_cpu(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") || !cpu_has_f16c())
        return;
    usable[n_usable++] = &quant_avx2_kernels;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni")) {
        avx512_merged = quant_avx2_kernels;
        avx512_merged.name = quant_avx512_kernels.name;
        for (int t = 0; t < QT_COUNT; t++) {
            if (quant_avx512_kernels.dot[t])
                avx512_merged.dot[t] = quant_avx512_kernels.dot[t];
            if (quant_avx512_kernels.dot_tile[t])
                avx512_merged.dot_tile[t] = quant_avx512_kernels.dot_tile[t];
        }
        usable[n_usable++] = &avx512_merged;
    }
    atomic_store_explicit(&active, usable[n_usable - 1], memory_order_relaxed);
}
#else
static void detect_cpu(void)
{
}
#endif

void quant_init(void)
{
    pthread_once(&init_once, detect_cpu);
}

void quant_set_simd(bool on)
{
    quant_init();
    atomic_store_explicit(&active, usable[on ? n_usable - 1 : 0], memory_order_relaxed);
}

int quant_set_kernels(const char *name)
{
    quant_init();
    for (int i = 0; i < n_usable; i++) {
        if (strcmp(usable[i]->name, name) == 0) {
            atomic_store_explicit(&active, usable[i], memory_order_relaxed);
            return 0;
        }
    }
    return FIEF_EUNSUPPORTED;
}

static const struct quant_kernels *kernels(void)
{
    return atomic_load_explicit(&active, memory_order_relaxed);
}

const char *quant_simd_name(void)
{
    return kernels()->name;
}

quant_dot_fn quant_dot(uint32_t wtype)
{
    return wtype < QT_COUNT ? kernels()->dot[wtype] : NULL;
}

quant_dot_tile_fn quant_dot_tile(uint32_t wtype)
{
    return wtype < QT_COUNT ? kernels()->dot_tile[wtype] : NULL;
}

/* ---- element conversions the compiler can vectorise ---- */

/* The same value as quant_f16_to_f32 (checked for all 65536 inputs by the
 * tests through quant_dequant_row), but branch-free: the half's bits moved
 * into a float's place are the value times 2^-112, subnormals included;
 * only inf and NaN need their exponent set. An out-of-line call per element
 * made the portable F16 dot twenty times slower. */
static inline float half_to_float(uint16_t h)
{
    uint32_t u = (uint32_t)(h & 0x7fff) << 13, sign = (uint32_t)(h & 0x8000) << 16, r;
    float f;
    memcpy(&f, &u, 4);
    f *= 0x1p112f;
    memcpy(&r, &f, 4);
    uint32_t special = 0u - (uint32_t)(u >= 0x0f800000u); /* inf, NaN: all ones */
    r = (r & ~special) | ((u | 0x7f800000u) & special) | sign;
    memcpy(&f, &r, 4);
    return f;
}

static inline float bf16_to_float(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- unpacking K-quant blocks (shared by dequantize and the dots) ---- */

/* The 256 four-bit quants of a Q4_K block in element order. */
static void q4k_unpack(const struct blk_q4_k *b, uint8_t q[QKK])
{
    for (int c = 0; c < 4; c++) {
        const uint8_t *src = b->q + 32 * c;
        for (int l = 0; l < 32; l++) {
            q[64 * c + l] = src[l] & 15;
            q[64 * c + 32 + l] = src[l] >> 4;
        }
    }
}

/* The 256 six-bit quants of a Q6_K block, minus 32, in element order. Each
 * half of 128 uses 64 ql bytes and 32 qh bytes: its four groups of 32 take
 * (low nibble of ql[l], qh bits 0-1), (low nibble of ql[l+32], bits 2-3),
 * (high nibble of ql[l], bits 4-5), (high nibble of ql[l+32], bits 6-7). */
static void q6k_unpack(const struct blk_q6_k *b, int8_t q[QKK])
{
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        int8_t *o = q + 128 * h;
        for (int l = 0; l < 32; l++) {
            o[l] = (int8_t)(((ql[l] & 15) | ((qh[l] & 3) << 4)) - 32);
            o[l + 32] = (int8_t)(((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32);
            o[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            o[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
    }
}

/* ---- dequantize ---- */

static void dequant_q8_0(const struct blk_q8_0 *b, float *y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, y += QK) {
        float d = quant_f16_to_f32(b[i].d);
        for (int j = 0; j < QK; j++)
            y[j] = (float)b[i].q[j] * d;
    }
}

static void dequant_q4_0(const struct blk_q4_0 *b, float *y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, y += QK) {
        float d = quant_f16_to_f32(b[i].d);
        for (int j = 0; j < QK / 2; j++) {
            y[j] = (float)((b[i].q[j] & 15) - 8) * d;
            y[j + QK / 2] = (float)((b[i].q[j] >> 4) - 8) * d;
        }
    }
}

static void dequant_q4_k(const struct blk_q4_k *b, float *y, size_t nb)
{
    uint8_t q[QKK], sm[16];
    for (size_t i = 0; i < nb; i++, y += QKK) {
        float d = quant_f16_to_f32(b[i].d), dmin = quant_f16_to_f32(b[i].dmin);
        q4k_scales(b[i].sc, sm);
        q4k_unpack(&b[i], q);
        for (int j = 0; j < 8; j++) {
            float sc = d * sm[j], mn = dmin * sm[8 + j];
            for (int l = 0; l < 32; l++)
                y[32 * j + l] = sc * q[32 * j + l] - mn;
        }
    }
}

static void dequant_q6_k(const struct blk_q6_k *b, float *y, size_t nb)
{
    int8_t q[QKK];
    for (size_t i = 0; i < nb; i++, y += QKK) {
        float d = quant_f16_to_f32(b[i].d);
        q6k_unpack(&b[i], q);
        for (int e = 0; e < QKK; e++)
            y[e] = d * b[i].sc[e / 16] * q[e];
    }
}

void quant_dequant_row(uint32_t type, const void *src, float *dst, size_t n)
{
    const uint16_t *h = src;
    switch (type) {
    case QT_F32:
        memcpy(dst, src, n * sizeof(float));
        break;
    case QT_F16:
        for (size_t i = 0; i < n; i++)
            dst[i] = half_to_float(h[i]);
        break;
    case QT_BF16:
        for (size_t i = 0; i < n; i++)
            dst[i] = bf16_to_float(h[i]);
        break;
    case QT_Q8_0:
        dequant_q8_0(src, dst, n / QK);
        break;
    case QT_Q4_0:
        dequant_q4_0(src, dst, n / QK);
        break;
    case QT_Q4_K:
        dequant_q4_k(src, dst, n / QKK);
        break;
    case QT_Q6_K:
        dequant_q6_k(src, dst, n / QKK);
        break;
    default:
        break; /* callers check qtype_info()->supported first */
    }
}

/* The largest |x|, NaNs ignored. Written out rather than fmaxf, which is a
 * libm call unless NaNs are ruled out, and ten times slower here. */
static float abs_max(const float *x, int n)
{
    float m = 0.0f;
    for (int j = 0; j < n; j++)
        m = fabsf(x[j]) > m ? fabsf(x[j]) : m;
    return m;
}

/* ---- quantize weights (ggml's reference rounding, so gen-model output
 * matches what llama.cpp's quantizer would write) ---- */

static void quantize_q8_0(const float *x, struct blk_q8_0 *b, size_t nb)
{
    for (size_t i = 0; i < nb; i++, x += QK) {
        float amax = abs_max(x, QK);
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = quant_f32_to_f16(d);
        for (int j = 0; j < QK; j++)
            b[i].q[j] = (int8_t)roundf(x[j] * id);
    }
}

/* d = (the value of largest magnitude) / -8, so that value maps to q = 0
 * exactly and the other sign gets the 15 remaining steps. */
static void quantize_q4_0(const float *x, struct blk_q4_0 *b, size_t nb)
{
    for (size_t i = 0; i < nb; i++, x += QK) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK; j++) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = quant_f32_to_f16(d);
        for (int j = 0; j < QK / 2; j++) {
            /* x*id >= -8, so +8.5 is positive and the cast rounds half up */
            int lo = (int)(x[j] * id + 8.5f), hi = (int)(x[j + QK / 2] * id + 8.5f);
            b[i].q[j] = (uint8_t)((lo > 15 ? 15 : lo) | (hi > 15 ? 15 : hi) << 4);
        }
    }
}

void quant_quantize_row(uint32_t type, const float *src, void *dst, size_t n)
{
    if (type == QT_Q8_0)
        quantize_q8_0(src, dst, n / QK);
    else if (type == QT_Q4_0)
        quantize_q4_0(src, dst, n / QK);
}

/* ---- activations ---- */

/* Half-precision weights meet half-precision activations, as in llama.cpp
 * (its vec_dot_type), so the two engines round the same way. */
uint32_t quant_act_type(uint32_t wtype)
{
    switch (wtype) {
    case QT_Q8_0:
    case QT_Q4_0:
        return QT_Q8_0;
    case QT_Q4_K:
    case QT_Q6_K:
        return QT_Q8_K;
    case QT_F16:
    case QT_BF16:
        return wtype;
    default:
        return QT_F32;
    }
}

size_t quant_act_size(uint32_t wtype, size_t n)
{
    switch (quant_act_type(wtype)) {
    case QT_Q8_0:
        return (n / QK + AQ_BLKS - 1) / AQ_BLKS * sizeof(struct act_q8);
    case QT_Q8_K:
        return n / QKK * sizeof(struct act_q8k);
    case QT_F16:
    case QT_BF16:
        return n * sizeof(uint16_t);
    default:
        return n * sizeof(float);
    }
}

/* Round to the nearest integer, ties to even, for |v| < 2^22: adding and
 * removing 1.5*2^23 leaves no fraction bits, in the default rounding mode.
 * Unlike lrintf this needs no libm call (gcc calls it unless errno is off);
 * it relies on the project never building with -ffast-math. */
static float round_even(float v)
{
    float r = v + 0x1.8p23f;
    return r - 0x1.8p23f;
}

/* Round n values to int8 (q = x*id, ties to even); returns the sum of q.
 * The SIMD converters produce the same bytes: same multiplier
 * (act_inv_scale), same product, same rounding, and -128 where the product
 * is NaN (an inf or NaN input), as cvtps2dq and a saturating pack give. */
static int quantize_i8(const float *x, int8_t *q, int n, float id)
{
    int sum = 0;
    for (int j = 0; j < n; j++) {
        float v = x[j] * id; /* its own statement: never fused into the add */
        q[j] = (int8_t)(v > -128.5f && v < 127.5f ? (int)round_even(v) : -128);
        sum += q[j];
    }
    return sum;
}

static void act_q8_portable(const float *x, struct act_q8 *y, size_t nb)
{
    memset(y, 0, (nb + AQ_BLKS - 1) / AQ_BLKS * sizeof *y);
    for (size_t i = 0; i < nb; i++, x += QK) {
        struct act_q8 *g = &y[i / AQ_BLKS];
        int b = (int)(i % AQ_BLKS);
        int8_t q[QK];
        float amax = abs_max(x, QK);
        g->d[b] = act_scale_q8(amax);
        g->sum[b] = (int16_t)quantize_i8(x, q, QK, act_inv_scale(amax));
        memcpy(g->q + act_q8_pos(b, 0), q, 16);
        memcpy(g->q + act_q8_pos(b, 16), q + 16, 16);
    }
}

/* Block b's 32 quants of group g, in element order. */
static void act_q8_quants(const struct act_q8 *g, int b, int8_t q[QK])
{
    memcpy(q, g->q + act_q8_pos(b, 0), 16);
    memcpy(q + 16, g->q + act_q8_pos(b, 16), 16);
}

/* Block i's 32 activation quants in element order, and its scale. */
static void act_q8_get(const struct act_q8 *a, size_t i, int8_t q[QK], float *d)
{
    const struct act_q8 *g = &a[i / AQ_BLKS];
    act_q8_quants(g, (int)(i % AQ_BLKS), q);
    *d = quant_f16_to_f32(g->d[i % AQ_BLKS]);
}

/* A converted act_q8 row of ng groups, transposed in place (quant_impl.h),
 * one unit of up to two groups at a time. */
static void act_q8_transpose(struct act_q8 *a, size_t ng)
{
    for (size_t u = 0; 2 * u < ng; u++) {
        int nb = act_q8t_unit_blocks(ng, u);
        struct act_q8 g[2];
        uint8_t *p = (uint8_t *)(a + 2 * u);
        memcpy(g, p, (size_t)nb / AQ_BLKS * sizeof g[0]);
        for (int b = 0; b < nb; b++) {
            const struct act_q8 *src = &g[b / AQ_BLKS];
            int8_t q[QK];
            act_q8_quants(src, b % AQ_BLKS, q);
            memcpy(p + 2 * b, &src->d[b % AQ_BLKS], 2);
            memcpy(p + 2 * nb + 2 * b, &src->sum[b % AQ_BLKS], 2);
            for (int t = 0; t < 8; t++)
                memcpy(p + 4 * nb + 4 * (nb * t + b), q + 4 * t, 4);
        }
    }
}

static void act_q8k_portable(const float *x, struct act_q8k *y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, x += QKK) {
        float id = act_inv_scale(abs_max(x, QKK));
        y[i].d = act_scale_q8k(id);
        quantize_i8(x, y[i].q, QKK, id);
        for (int k = 0; k < QKK / 16; k++) {
            int s = 0;
            for (int j = 0; j < 16; j++)
                s += y[i].q[16 * k + j];
            y[i].bsums[k] = (int16_t)s;
        }
    }
}

static void act_f16_portable(const float *x, uint16_t *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = quant_f32_to_f16(x[i]);
}

static void act_bf16_portable(const float *x, uint16_t *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = quant_f32_to_bf16(x[i]);
}

void quant_act_convert(uint32_t wtype, const float *x, void *dst, size_t n)
{
    const struct quant_kernels *k = kernels();
    switch (quant_act_type(wtype)) {
    case QT_Q8_0:
        k->act_q8(x, dst, n / QK);
        break;
    case QT_Q8_K:
        k->act_q8k(x, dst, n / QKK);
        break;
    case QT_F16:
        k->act_f16(x, dst, n);
        break;
    case QT_BF16:
        k->act_bf16(x, dst, n);
        break;
    default:
        memcpy(dst, x, n * sizeof(float));
        break;
    }
}

/* The same bytes, then transposed where the tile kernels want it:
 * every value is the one quant_act_convert rounds. */
void quant_act_convert_cols(uint32_t wtype, const float *x, void *dst, size_t n)
{
    quant_act_convert(wtype, x, dst, n);
    if (quant_act_type(wtype) == QT_Q8_0)
        act_q8_transpose(dst, (n / QK + AQ_BLKS - 1) / AQ_BLKS);
}

/* ---- portable dot products ----
 *
 * Each is a body for nc columns (see quant_impl.h): the weight block is
 * unpacked once, then every column runs the single dot's own steps. */

/* Float dots keep 8 independent partial sums: the compiler can vectorise
 * them without reassociating, and the error grows more slowly. */
static float sum8(const float v[8])
{
    return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

enum fkind { FK_F32, FK_F16, FK_BF16 };

static inline float load_elem(enum fkind k, const void *p, size_t i)
{
    const uint16_t *h = p;
    switch (k) {
    case FK_F16:
        return half_to_float(h[i]);
    case FK_BF16:
        return bf16_to_float(h[i]);
    default:
        return ((const float *)p)[i];
    }
}

/* Weights and activations of the same float type. Several columns take a
 * chunk of the row in turn, each with the single dot's loop (which
 * vectorises), while the chunk's weights stay in L1. */
QUANT_INLINE void float_body(enum fkind fk, size_t n, const void *w, const void *a, size_t as,
                             int nc, float *out, size_t os)
{
    enum { CHUNK = 512 };
    float acc[QUANT_COLS][8] = {{0}};
    size_t n8 = n / 8 * 8;
    for (size_t i0 = 0, end; i0 < n8; i0 = end) {
        end = nc == 1 || n8 - i0 < CHUNK ? n8 : i0 + CHUNK; /* one column: one chunk */
        for (int c = 0; c < nc; c++) {
            const void *ac = act_col(a, as, c);
            for (size_t i = i0; i < end; i += 8)
                for (int k = 0; k < 8; k++)
                    acc[c][k] += load_elem(fk, w, i + (size_t)k) * load_elem(fk, ac, i + (size_t)k);
        }
    }
    for (int c = 0; c < nc; c++) {
        for (size_t i = n8; i < n; i++)
            acc[c][0] += load_elem(fk, w, i) * load_elem(fk, act_col(a, as, c), i);
        out[(size_t)c * os] = sum8(acc[c]);
    }
}

#define F32_BODY(...) float_body(FK_F32, __VA_ARGS__)
#define F16_BODY(...) float_body(FK_F16, __VA_ARGS__)
#define BF16_BODY(...) float_body(FK_BF16, __VA_ARGS__)

/* The integer dot of 32 weights (already int8) with block i of a column
 * whose row of ng groups is in the act_q8 layout (t = false) or transposed
 * (t = true), and the block's scale. The quants are gathered first, so the
 * loop vectorises. */
static inline int idot32(const int8_t *wq, bool t, const void *a, size_t ng, size_t i, float *da)
{
    int8_t aq[QK];
    if (t) {
        struct act_q8t_grp v = act_q8t_group(a, ng, i / AQ_BLKS);
        for (int k = 0; k < 8; k++)
            memcpy(aq + 4 * k, v.q + (size_t)k * v.qstride + 4 * (i % AQ_BLKS), 4);
        *da = quant_f16_to_f32(v.d[i % AQ_BLKS]);
    } else {
        act_q8_get(a, i, aq, da);
    }
    int s = 0;
    for (int j = 0; j < QK; j++)
        s += wq[j] * aq[j];
    return s;
}

/* Q8_0 and Q4_0, activations in the act_q8 layout (the single dot, t =
 * false) or transposed (tiles, t = true). The Q4_0 nibbles are
 * unpacked to int8 first (the integer loop then vectorises). */
QUANT_INLINE void blocks32_body(bool q4, bool t, size_t n, const void *w, const void *a, size_t as,
                                int nc, float *out, size_t os)
{
    const struct blk_q8_0 *w8 = w;
    const struct blk_q4_0 *w4 = w;
    size_t ng = (n / QK + AQ_BLKS - 1) / AQ_BLKS;
    float acc[QUANT_COLS] = {0}, da;
    int8_t wq[QK];
    for (size_t i = 0; i < n / QK; i++) {
        if (q4)
            for (int j = 0; j < QK / 2; j++) {
                wq[j] = (int8_t)((w4[i].q[j] & 15) - 8);
                wq[j + QK / 2] = (int8_t)((w4[i].q[j] >> 4) - 8);
            }
        const int8_t *q = q4 ? wq : w8[i].q;
        float dw = quant_f16_to_f32(q4 ? w4[i].d : w8[i].d);
        for (int c = 0; c < nc; c++) {
            int s = idot32(q, t, act_col(a, as, c), ng, i, &da);
            acc[c] += dw * da * (float)s;
        }
    }
    for (int c = 0; c < nc; c++)
        out[(size_t)c * os] = acc[c];
}

#define Q8_0_BODY(...) blocks32_body(false, false, __VA_ARGS__)
#define Q4_0_BODY(...) blocks32_body(true, false, __VA_ARGS__)
#define Q8_0_COLS(...) blocks32_body(false, true, __VA_ARGS__)
#define Q4_0_COLS(...) blocks32_body(true, true, __VA_ARGS__)

/* x = d*sc*q - dmin*m per sub-block, so dot = d*da*sum(sc*q.a) -
 * dmin*da*sum(m*sum(a)); the activation's bsums give sum(a) per 16. */
QUANT_INLINE void q4_k_body(size_t n, const void *vw, const void *a, size_t as, int nc, float *out,
                            size_t os)
{
    const struct blk_q4_k *w = vw;
    uint8_t q[QKK], sm[16];
    float acc[QUANT_COLS] = {0};
    for (size_t i = 0; i < n / QKK; i++) {
        q4k_scales(w[i].sc, sm);
        q4k_unpack(&w[i], q);
        float d = quant_f16_to_f32(w[i].d), dmin = quant_f16_to_f32(w[i].dmin);
        for (int c = 0; c < nc; c++) {
            const struct act_q8k *ai = (const struct act_q8k *)act_col(a, as, c) + i;
            int sumi = 0, summ = 0;
            for (int j = 0; j < 8; j++) {
                int s = 0;
                for (int l = 0; l < 32; l++)
                    s += q[32 * j + l] * ai->q[32 * j + l];
                sumi += sm[j] * s;
                summ += sm[8 + j] * (ai->bsums[2 * j] + ai->bsums[2 * j + 1]);
            }
            acc[c] += d * ai->d * (float)sumi - dmin * ai->d * (float)summ;
        }
    }
    for (int c = 0; c < nc; c++)
        out[(size_t)c * os] = acc[c];
}

QUANT_INLINE void q6_k_body(size_t n, const void *vw, const void *a, size_t as, int nc, float *out,
                            size_t os)
{
    const struct blk_q6_k *w = vw;
    int8_t q[QKK];
    float acc[QUANT_COLS] = {0};
    for (size_t i = 0; i < n / QKK; i++) {
        q6k_unpack(&w[i], q);
        float d = quant_f16_to_f32(w[i].d);
        for (int c = 0; c < nc; c++) {
            const struct act_q8k *ai = (const struct act_q8k *)act_col(a, as, c) + i;
            int sumi = 0;
            for (int j = 0; j < 16; j++) {
                int s = 0;
                for (int l = 0; l < 16; l++)
                    s += q[16 * j + l] * ai->q[16 * j + l];
                sumi += w[i].sc[j] * s;
            }
            acc[c] += d * ai->d * (float)sumi;
        }
    }
    for (int c = 0; c < nc; c++)
        out[(size_t)c * os] = acc[c];
}

#define PORTABLE_DOTS(name, body, cols_body)                                                       \
    QUANT_DOT_FN(name, body)                                                                       \
    QUANT_TILE_FN(name, cols_body, 4)

PORTABLE_DOTS(f32, F32_BODY, F32_BODY)
PORTABLE_DOTS(f16, F16_BODY, F16_BODY)
PORTABLE_DOTS(bf16, BF16_BODY, BF16_BODY)
PORTABLE_DOTS(q8_0, Q8_0_BODY, Q8_0_COLS)
PORTABLE_DOTS(q4_0, Q4_0_BODY, Q4_0_COLS)
PORTABLE_DOTS(q4_k, q4_k_body, q4_k_body)
PORTABLE_DOTS(q6_k, q6_k_body, q6_k_body)

static const struct quant_kernels portable_kernels = {
    .name = "portable",
    .dot =
        {
            [QT_F32] = dot_f32,
            [QT_F16] = dot_f16,
            [QT_BF16] = dot_bf16,
            [QT_Q8_0] = dot_q8_0,
            [QT_Q4_0] = dot_q4_0,
            [QT_Q4_K] = dot_q4_k,
            [QT_Q6_K] = dot_q6_k,
        },
    .dot_tile =
        {
            [QT_F32] = tile_f32,
            [QT_F16] = tile_f16,
            [QT_BF16] = tile_bf16,
            [QT_Q8_0] = tile_q8_0,
            [QT_Q4_0] = tile_q4_0,
            [QT_Q4_K] = tile_q4_k,
            [QT_Q6_K] = tile_q6_k,
        },
    .act_q8 = act_q8_portable,
    .act_q8k = act_q8k_portable,
    .act_f16 = act_f16_portable,
    .act_bf16 = act_bf16_portable,
};
