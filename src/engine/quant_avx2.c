/* SPDX-License-Identifier: MIT */
/* AVX2+FMA+F16C kernels: the dot products of every supported weight type and
 * the activation converters. Compiled with -mavx2 -mfma -mf16c; quant.c calls
 * them only after checking the CPU. Integer parts use maddubs/madd on int8 and
 * are exact; only the float accumulation order differs from quant.c. */
#include "engine/quant_impl.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))

/* ---- helpers ---- */

INLINE float hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INLINE int hsum_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

INLINE float f16(uint16_t h)
{
    return _cvtsh_ss(h);
}

INLINE __m256i loadu(const void *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}

/* Sum of adjacent int16 pairs into int32 lanes. */
INLINE __m256i pairs(__m256i v)
{
    return _mm256_madd_epi16(v, _mm256_set1_epi16(1));
}

/* v holds the same 8 int16 in both 128-bit lanes; return int16 element lo
 * broadcast over the low lane and element hi over the high lane. */
INLINE __m256i bcast16(__m256i v, int lo, int hi)
{
    __m256i m = _mm256_set_m128i(_mm_set1_epi16((short)(0x0100 + 0x0202 * hi)),
                                 _mm_set1_epi16((short)(0x0100 + 0x0202 * lo)));
    return _mm256_shuffle_epi8(v, m);
}

/* ---- float weights ---- */

enum fkind { FK_F32, FK_F16, FK_BF16 };

INLINE __m256 load8(enum fkind k, const void *p)
{
    switch (k) {
    case FK_F16:
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    case FK_BF16:
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
    default:
        return _mm256_loadu_ps(p);
    }
}

INLINE float load1(enum fkind k, const void *p, size_t i)
{
    switch (k) {
    case FK_F16:
        return f16(((const uint16_t *)p)[i]);
    case FK_BF16:
        return quant_bf16_to_f32(((const uint16_t *)p)[i]);
    default:
        return ((const float *)p)[i];
    }
}

/* Weights and activations of the same float type. Four independent
 * accumulators hide the FMA latency. */
INLINE float dot_float(enum fkind k, size_t n, const void *w, const void *a)
{
    size_t esz = k == FK_F32 ? 4 : 2;
    const char *wb = w, *ab = a;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++)
            acc[u] = _mm256_fmadd_ps(load8(k, wb + (i + 8 * u) * esz),
                                     load8(k, ab + (i + 8 * u) * esz), acc[u]);
    for (; i + 8 <= n; i += 8)
        acc[0] = _mm256_fmadd_ps(load8(k, wb + i * esz), load8(k, ab + i * esz), acc[0]);
    float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++)
        s += load1(k, w, i) * load1(k, a, i);
    return s;
}

static float dot_f32(size_t n, const void *w, const void *a)
{
    return dot_float(FK_F32, n, w, a);
}

static float dot_f16(size_t n, const void *w, const void *a)
{
    return dot_float(FK_F16, n, w, a);
}

static float dot_bf16(size_t n, const void *w, const void *a)
{
    return dot_float(FK_BF16, n, w, a);
}

/* ---- 32-weight blocks: Q8_0 and Q4_0 ---- */

/* The activation layout (quant_impl.h) keeps the same 16-quant half of
 * consecutive blocks together, so each step dots two weight blocks, w[0] in
 * the low 128-bit lane and w[1] in the high one. maddubs wants an unsigned
 * left operand: Q8_0 moves the weight's sign onto the activation (|w| *
 * sign(a, w)); Q4_0 uses the raw nibbles 0..15 and subtracts 8*sum(a) after
 * (q4_offset). */

INLINE __m256i load2x128(const void *lo, const void *hi)
{
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)lo)),
                                   _mm_loadu_si128((const __m128i *)hi), 1);
}

/* Q4_0 pair: 16 int16 lanes, 0-7 for w[0] and 8-15 for w[1], each the sum of
 * 4 products, so |lane| <= 4*15*127 = 7620. */
INLINE __m256i idot_pair_q4(const struct blk_q4_0 *w, const int8_t *alo, const int8_t *ahi)
{
    const __m256i m4 = _mm256_set1_epi8(15);
    __m256i raw = load2x128(w[0].q, w[1].q);
    __m256i lo = _mm256_maddubs_epi16(_mm256_and_si256(raw, m4), loadu(alo));
    __m256i hi = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(raw, 4), m4), loadu(ahi));
    return _mm256_add_epi16(lo, hi);
}

/* Q8_0 pair: 8 int32 lanes, 0-3 for w[0] and 4-7 for w[1]. */
INLINE __m256i idot_pair_q8(const struct blk_q8_0 *w, const int8_t *alo, const int8_t *ahi)
{
    __m256i wlo = load2x128(w[0].q, w[1].q), whi = load2x128(w[0].q + 16, w[1].q + 16);
    __m256i lo = _mm256_maddubs_epi16(_mm256_abs_epi8(wlo), _mm256_sign_epi8(loadu(alo), wlo));
    __m256i hi = _mm256_maddubs_epi16(_mm256_abs_epi8(whi), _mm256_sign_epi8(loadu(ahi), whi));
    return _mm256_add_epi32(pairs(lo), pairs(hi));
}

/* The integer dots of the 8 blocks of a group, block j in lane j. Two rounds
 * of horizontal adds leave them in the order 0,2,4,6,1,3,5,7; a permute
 * fixes that. Q4_0 stays in int16 until the end (four lanes of at most 7620
 * still fit), which saves three multiplies. */
INLINE __m256i idot_group(const void *w, const int8_t *aq, bool q4)
{
    const struct blk_q8_0 *w8 = w;
    const struct blk_q4_0 *w4 = w;
    __m256i p[4], s;
#pragma GCC unroll 4
    for (int m = 0; m < 4; m++) {
        const int8_t *alo = aq + act_q8_pos(2 * m, 0), *ahi = aq + act_q8_pos(2 * m, 16);
        p[m] = q4 ? idot_pair_q4(w4 + 2 * m, alo, ahi) : idot_pair_q8(w8 + 2 * m, alo, ahi);
    }
    if (q4)
        s = pairs(_mm256_hadd_epi16(_mm256_hadd_epi16(p[0], p[1]), _mm256_hadd_epi16(p[2], p[3])));
    else
        s = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
    return _mm256_permutevar8x32_epi32(s, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* The f16 scales of blocks 0..7 as 8 floats. They are packed in general
 * registers, whose ALUs are idle here, rather than with vector inserts. */
INLINE __m256 scales8(const void *w, bool q4)
{
    const struct blk_q8_0 *w8 = w;
    const struct blk_q4_0 *w4 = w;
    uint64_t h[2] = {0, 0};
    for (int j = 0; j < 8; j++)
        h[j / 4] |= (uint64_t)(q4 ? w4[j].d : w8[j].d) << (16 * (j % 4));
    return _mm256_cvtph_ps(_mm_set_epi64x((long long)h[1], (long long)h[0]));
}

/* One block the slow way, for a row's last, partial group. */
INLINE __m256i idot_one(const void *w, size_t i, const struct act_q8 *g, int b, bool q4)
{
    __m256i a = load2x128(g->q + act_q8_pos(b, 0), g->q + act_q8_pos(b, 16));
    if (q4) {
        const struct blk_q4_0 *w4 = w;
        __m128i raw = _mm_loadu_si128((const __m128i *)w4[i].q);
        __m256i x =
            _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(15));
        return pairs(_mm256_maddubs_epi16(x, a));
    }
    const struct blk_q8_0 *w8 = w;
    __m256i x = loadu(w8[i].q);
    return pairs(_mm256_maddubs_epi16(_mm256_abs_epi8(x), _mm256_sign_epi8(a, x)));
}

/* Q4_0's -8 offset, exactly in integers: sum((w-8)*a) = sum(w*a) - 8*sum(a). */
INLINE __m256i q4_offset(__m256i s, const int16_t *sum)
{
    __m256i sa = _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)sum));
    return _mm256_sub_epi32(s, _mm256_slli_epi32(sa, 3));
}

INLINE float dot_blocks32(size_t nb, const void *w, const struct act_q8 *a, bool q4)
{
    const struct blk_q8_0 *w8 = w;
    const struct blk_q4_0 *w4 = w;
    __m256 acc = _mm256_setzero_ps();
    size_t g = 0;
    for (; (g + 1) * AQ_BLKS <= nb; g++) {
        const void *wg = q4 ? (const void *)(w4 + g * AQ_BLKS) : (const void *)(w8 + g * AQ_BLKS);
        __m256i s = idot_group(wg, a[g].q, q4);
        if (q4)
            s = q4_offset(s, a[g].sum);
        __m256 da = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)a[g].d));
        acc = _mm256_fmadd_ps(_mm256_mul_ps(scales8(wg, q4), da), _mm256_cvtepi32_ps(s), acc);
    }
    float tail = 0.0f;
    for (size_t i = g * AQ_BLKS; i < nb; i++) {
        int b = (int)(i % AQ_BLKS);
        float dw = f16(q4 ? w4[i].d : w8[i].d);
        int s = hsum_epi32(idot_one(w, i, &a[g], b, q4)) - (q4 ? 8 * a[g].sum[b] : 0);
        tail += dw * f16(a[g].d[b]) * (float)s;
    }
    return hsum_ps(acc) + tail;
}

static float dot_q8_0(size_t n, const void *w, const void *a)
{
    return dot_blocks32(n / QK, w, a, false);
}

static float dot_q4_0(size_t n, const void *w, const void *a)
{
    return dot_blocks32(n / QK, w, a, true);
}

/* ---- K-quants ---- */

/* Q4_K: per 64 weights, 32 bytes hold sub-block 2c in the low nibbles and
 * 2c+1 in the high ones. Returns the 8 sub-blocks' products, 16 int16 lanes
 * each (lanes 0-7 from weights 0-15, 8-15 from 16-31), each lane the sum of
 * 2 products of at most 15*127. */
INLINE void prod_q4k_64(const uint8_t *q, const int8_t *a, __m256i *p)
{
    const __m256i m4 = _mm256_set1_epi8(15);
    __m256i x = loadu(q);
    p[0] = _mm256_maddubs_epi16(_mm256_and_si256(x, m4), loadu(a));
    p[1] = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(x, 4), m4), loadu(a + 32));
}

/* sum over sub-blocks j of scale_j * (sum of p[j]'s lanes). Three rounds of
 * 16-bit horizontal adds total each sub-block's lanes into one (8 lanes of
 * at most 3810: 30480 fits), sub-block j's two halves landing in lane j of
 * each 128-bit half, so one madd with the 8 scales applies them all. */
INLINE __m256i scale_q4k(const __m256i p[8], __m256i sc16)
{
    __m256i h01 = _mm256_hadd_epi16(p[0], p[1]), h23 = _mm256_hadd_epi16(p[2], p[3]);
    __m256i h45 = _mm256_hadd_epi16(p[4], p[5]), h67 = _mm256_hadd_epi16(p[6], p[7]);
    __m256i h = _mm256_hadd_epi16(_mm256_hadd_epi16(h01, h23), _mm256_hadd_epi16(h45, h67));
    return _mm256_madd_epi16(h, sc16);
}

/* q4k_scales() in vector registers: 8 scales then 8 mins, as bytes. Reads
 * 16 bytes at p (the 12 packed bytes and the first 4 quants, still inside
 * the block). */
INLINE __m128i q4k_scales_v(const uint8_t *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    __m128i lo = _mm_and_si128(v, _mm_set1_epi8(0x3f)); /* dwords 0, 1 */
    __m128i w2 = _mm_srlv_epi32(_mm_shuffle_epi32(v, 0xaa), _mm_setr_epi32(0, 4, 0, 4));
    __m128i hi = _mm_or_si128(_mm_and_si128(w2, _mm_set1_epi8(0x0f)),
                              _mm_and_si128(_mm_srli_epi32(v, 2), _mm_set1_epi8(0x30)));
    return _mm_unpacklo_epi32(lo, hi); /* sc 0-3, sc 4-7, min 0-3, min 4-7 */
}

static float dot_q4_k(size_t n, const void *vw, const void *va)
{
    const struct blk_q4_k *w = vw;
    const struct act_q8k *a = va;
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (size_t i = 0; i < n / QKK; i++) {
        __m128i sm8 = q4k_scales_v(w[i].sc);
        __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm8));
        /* mins, each doubled to line up with the 16 bsums */
        __m128i mn16 = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(sm8, sm8));
        __m256i mn2 =
            _mm256_set_m128i(_mm_unpackhi_epi16(mn16, mn16), _mm_unpacklo_epi16(mn16, mn16));
        __m256i m = _mm256_madd_epi16(mn2, loadu(a[i].bsums));
        accm =
            _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i].dmin) * a[i].d), _mm256_cvtepi32_ps(m), accm);
        __m256i p[8];
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++)
            prod_q4k_64(w[i].q + 32 * c, a[i].q + 64 * c, p + 2 * c);
        __m256i s = scale_q4k(p, sc16);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i].d) * a[i].d), _mm256_cvtepi32_ps(s), acc);
    }
    return hsum_ps(_mm256_sub_ps(acc, accm));
}

/* Q6_K, one half of 128 weights: 64 ql bytes, 32 qh bytes, 8 scales. The
 * quants 0..63 go to maddubs unsigned; the caller removes the -32 offset. */
INLINE __m256i idot_q6k_128(const uint8_t *ql, const uint8_t *qh, const int8_t *sc, const int8_t *a)
{
    const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
    __m256i l0 = loadu(ql), l1 = loadu(ql + 32), h = loadu(qh);
    __m256i sc16 =
        _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)sc)));
    __m256i q[4] = {
        _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m30)),
        _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m30)),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(h, m30)),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                        _mm256_and_si256(_mm256_srli_epi16(h, 2), m30)),
    };
    __m256i s = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        __m256i p = _mm256_maddubs_epi16(q[k], loadu(a + 32 * k));
        s = _mm256_add_epi32(s, _mm256_madd_epi16(p, bcast16(sc16, 2 * k, 2 * k + 1)));
    }
    return s;
}

static float dot_q6_k(size_t n, const void *vw, const void *va)
{
    const struct blk_q6_k *w = vw;
    const struct act_q8k *a = va;
    __m256 acc = _mm256_setzero_ps();
    for (size_t i = 0; i < n / QKK; i++) {
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w[i].sc));
        __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(sc16, loadu(a[i].bsums)), 5);
        __m256i s = _mm256_sub_epi32(
            _mm256_add_epi32(idot_q6k_128(w[i].ql, w[i].qh, w[i].sc, a[i].q),
                             idot_q6k_128(w[i].ql + 64, w[i].qh + 32, w[i].sc + 8, a[i].q + 128)),
            off);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(w[i].d) * a[i].d), _mm256_cvtepi32_ps(s), acc);
    }
    return hsum_ps(acc);
}

/* ---- activation conversion ---- */

INLINE float amax_ps(const float *x, int n)
{
    const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8)
        m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + j), abs), m); /* NaN: keeps m */
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* 32 values times id, rounded half-even (as quant.c's round_even), stored
 * as int8 with saturation. Returns the sums of the stored bytes by 4: lanes
 * 0-3 cover q[0..15], lanes 4-7 q[16..31]. */
INLINE __m256i round32(const float *x, float id, int8_t *q)
{
    __m256 vid = _mm256_set1_ps(id);
    __m256i v[4];
    for (int k = 0; k < 4; k++)
        v[k] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), vid));
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)q, p);
    return pairs(_mm256_maddubs_epi16(_mm256_set1_epi8(1), p));
}

static void act_q8(const float *x, struct act_q8 *y, size_t nb)
{
    memset(y, 0, (nb + AQ_BLKS - 1) / AQ_BLKS * sizeof *y);
    for (size_t i = 0; i < nb; i++, x += QK) {
        struct act_q8 *g = &y[i / AQ_BLKS];
        int b = (int)(i % AQ_BLKS);
        int8_t q[QK];
        float amax = amax_ps(x, QK);
        g->d[b] = act_scale_q8(amax);
        g->sum[b] = (int16_t)hsum_epi32(round32(x, act_inv_scale(amax), q));
        memcpy(g->q + act_q8_pos(b, 0), q, 16);
        memcpy(g->q + act_q8_pos(b, 16), q + 16, 16);
    }
}

static void act_q8k(const float *x, struct act_q8k *y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, x += QKK) {
        float id = act_inv_scale(amax_ps(x, QKK));
        y[i].d = act_scale_q8k(id);
        for (int c = 0; c < QKK / 32; c++) {
            __m256i h = round32(x + 32 * c, id, y[i].q + 32 * c);
            h = _mm256_hadd_epi32(h, h); /* lanes 0, 1: q[0..15]; lanes 4, 5: q[16..31] */
            y[i].bsums[2 * c] = (int16_t)(_mm256_extract_epi32(h, 0) + _mm256_extract_epi32(h, 1));
            y[i].bsums[2 * c + 1] =
                (int16_t)(_mm256_extract_epi32(h, 4) + _mm256_extract_epi32(h, 5));
        }
    }
}

/* F16C rounds to nearest even like quant_f32_to_f16 (NaN payloads aside). */
static void act_f16(const float *x, uint16_t *y, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        y[i] = quant_f32_to_f16(x[i]);
}

/* quant_f32_to_bf16 eight at a time: round the top half to nearest even,
 * NaNs kept quiet. */
static void act_bf16(const float *x, uint16_t *y, size_t n)
{
    const __m256i bias = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1);
    const __m256i abs = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i u = _mm256_castps_si256(_mm256_loadu_ps(x + i));
        __m256i r = _mm256_add_epi32(
            u, _mm256_add_epi32(bias, _mm256_and_si256(_mm256_srli_epi32(u, 16), one)));
        __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs), inf);
        r = _mm256_srli_epi32(
            _mm256_blendv_epi8(r, _mm256_or_si256(u, _mm256_set1_epi32(0x400000)), nan), 16);
        /* pack the 8 low halves: packus works per 128-bit lane, then fix the order */
        __m256i p = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
        _mm_storeu_si128((__m128i *)(y + i), _mm256_castsi256_si128(p));
    }
    for (; i < n; i++)
        y[i] = quant_f32_to_bf16(x[i]);
}

const struct quant_kernels quant_avx2_kernels = {
    .name = "avx2",
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
    .act_q8 = act_q8,
    .act_q8k = act_q8k,
    .act_f16 = act_f16,
    .act_bf16 = act_bf16,
};

#elif defined(QUANT_HAVE_AVX2_BUILD)
#error "quant_avx2.c must be compiled with -mavx2 -mfma -mf16c"
#endif
