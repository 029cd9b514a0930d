/* SPDX-License-Identifier: MIT */
/* Private to quant_avx2.c and quant_avx512.c: the AVX2 dot bodies (one
 * column or several, see quant_impl.h), the float steps every Q8_0/Q4_0
 * kernel shares, and their helpers. quant_avx2.c builds the "avx2" kernels
 * from them; quant_avx512.c builds its float and Q4_K tile dots from them,
 * where AVX-512VL's 32 vector registers hold more dots at once, and uses
 * the Q8_0/Q4_0 steps, the one-group path and the tails in its VNNI tiles.
 * The instructions are the same 256-bit ones either way, so are the
 * results. Integer parts use maddubs/madd on int8 and are exact; only the
 * float accumulation order differs from quant.c. */
#ifndef FIEF_QUANT_X86_H
#define FIEF_QUANT_X86_H

#include "engine/quant_impl.h"

#include <immintrin.h>

#define INLINE QUANT_INLINE

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

INLINE __m256i load2x128(const void *lo, const void *hi)
{
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)lo)),
                                   _mm_loadu_si128((const __m128i *)hi), 1);
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

/* Weights and activations of the same float type, nr (1 or 2) weight rows
 * w, w + ws. Four independent accumulators per dot hide the FMA latency;
 * each 8 weights are loaded (and widened) once for all columns, and each 8
 * activations once for all rows. */
INLINE void float_rows(enum fkind k, int nr, size_t n, const void *w, size_t ws, const void *a,
                       size_t as, int nc, float *out, size_t os)
{
    size_t esz = k == FK_F32 ? 4 : 2;
    const char *wb[2] = {w, (const char *)w + ws}, *ab[QUANT_COLS];
    __m256 acc[2][QUANT_COLS][4], wv[2];
    for (int c = 0; c < nc; c++) {
        ab[c] = act_col(a, as, c);
        for (int r = 0; r < nr; r++)
            for (int u = 0; u < 4; u++)
                acc[r][c][u] = _mm256_setzero_ps();
    }
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) {
            for (int r = 0; r < nr; r++)
                wv[r] = load8(k, wb[r] + (i + 8 * u) * esz);
            for (int c = 0; c < nc; c++) {
                __m256 av = load8(k, ab[c] + (i + 8 * u) * esz);
                for (int r = 0; r < nr; r++)
                    acc[r][c][u] = _mm256_fmadd_ps(wv[r], av, acc[r][c][u]);
            }
        }
    for (; i + 8 <= n; i += 8) {
        for (int r = 0; r < nr; r++)
            wv[r] = load8(k, wb[r] + i * esz);
        for (int c = 0; c < nc; c++) {
            __m256 av = load8(k, ab[c] + i * esz);
            for (int r = 0; r < nr; r++)
                acc[r][c][0] = _mm256_fmadd_ps(wv[r], av, acc[r][c][0]);
        }
    }
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < nc; c++) {
            __m256 *t = acc[r][c];
            float sum =
                hsum_ps(_mm256_add_ps(_mm256_add_ps(t[0], t[1]), _mm256_add_ps(t[2], t[3])));
            for (size_t j = i; j < n; j++)
                sum += load1(k, wb[r], j) * load1(k, ab[c], j);
            out[(size_t)r + (size_t)c * os] = sum;
        }
}

INLINE void float_body(enum fkind k, size_t n, const void *w, const void *a, size_t as, int nc,
                       float *out, size_t os)
{
    float_rows(k, 1, n, w, 0, a, as, nc, out, os);
}

#define F32_BODY(...) float_body(FK_F32, __VA_ARGS__)
#define F16_BODY(...) float_body(FK_F16, __VA_ARGS__)
#define BF16_BODY(...) float_body(FK_BF16, __VA_ARGS__)
#define F32_ROWS2(...) float_rows(FK_F32, 2, __VA_ARGS__)
#define F16_ROWS2(...) float_rows(FK_F16, 2, __VA_ARGS__)
#define BF16_ROWS2(...) float_rows(FK_BF16, 2, __VA_ARGS__)

/* ---- 32-weight blocks: Q8_0 and Q4_0 ---- */

/* The activation layout (quant_impl.h) keeps the same 16-quant half of
 * consecutive blocks together, so each step dots two weight blocks, w[0] in
 * the low 128-bit lane and w[1] in the high one. maddubs wants an unsigned
 * left operand: Q8_0 moves the weight's sign onto the activation (|w| *
 * sign(a, w)); Q4_0 uses the raw nibbles 0..15 and subtracts 8*sum(a) after
 * (q4_offset). */

INLINE const void *blk32_at(const void *w, size_t i, bool q4)
{
    return q4 ? (const void *)((const struct blk_q4_0 *)w + i)
              : (const void *)((const struct blk_q8_0 *)w + i);
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

/* The float step of a whole group, block j in lane j: acc += (dw*da) * s,
 * da the 8 f16 activation scales at d. With blk32_tail, the only float
 * arithmetic of the Q8_0 and Q4_0 dots; every kernel for them (AVX2 and
 * VNNI, one column or many) goes through these two. */
INLINE __m256 blk32_step(__m256 acc, __m256 dw, const uint16_t *d, __m256i s)
{
    __m256 da = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)d));
    return _mm256_fmadd_ps(_mm256_mul_ps(dw, da), _mm256_cvtepi32_ps(s), acc);
}

/* The blocks g*8 .. nb-1 of a row's last, partial group ag, summed in a
 * float the dot adds to its vector total. */
INLINE float blk32_tail(const void *w, size_t nb, size_t g, const struct act_q8 *ag, bool q4)
{
    const struct blk_q8_0 *w8 = w;
    const struct blk_q4_0 *w4 = w;
    float tail = 0.0f;
    for (size_t i = g * AQ_BLKS; i < nb; i++) {
        int b = (int)(i % AQ_BLKS);
        float dw = f16(q4 ? w4[i].d : w8[i].d);
        int s = hsum_epi32(idot_one(w, i, ag, b, q4)) - (q4 ? 8 * ag->sum[b] : 0);
        tail += dw * f16(ag->d[b]) * (float)s;
    }
    return tail;
}

/* The single Q8_0/Q4_0 dot, activations in the act_q8 layout. */
INLINE float dot_blocks32(size_t nb, const void *w, const struct act_q8 *a, bool q4)
{
    __m256 acc = _mm256_setzero_ps();
    size_t g = 0;
    for (; (g + 1) * AQ_BLKS <= nb; g++) {
        const void *wg = blk32_at(w, g * AQ_BLKS, q4);
        __m256i s = idot_group(wg, a[g].q, q4);
        acc = blk32_step(acc, scales8(wg, q4), a[g].d, q4 ? q4_offset(s, a[g].sum) : s);
    }
    return hsum_ps(acc) + blk32_tail(w, nb, g, &a[g], q4);
}

/* ---- 32-weight blocks, many columns: transposed activations ---- */

/* 4x4 transposes of 4-byte words within each 128-bit lane of vectors of
 * type T (intrinsics prefix P): if z[i] lane j holds 16 bytes of block
 * 4j+i, out[t] holds word t of blocks 0..7 (or 0..15 for 512 bits) in
 * block order, as the act_q8t layout has them. */
#define TRANSPOSE4(T, P, z, out)                                                                   \
    do {                                                                                           \
        T a_ = P##_unpacklo_epi32(z[0], z[1]), b_ = P##_unpackhi_epi32(z[0], z[1]);                \
        T c_ = P##_unpacklo_epi32(z[2], z[3]), d_ = P##_unpackhi_epi32(z[2], z[3]);                \
        out[0] = P##_unpacklo_epi64(a_, c_);                                                       \
        out[1] = P##_unpackhi_epi64(a_, c_);                                                       \
        out[2] = P##_unpacklo_epi64(b_, d_);                                                       \
        out[3] = P##_unpackhi_epi64(b_, d_);                                                       \
    } while (0)

/* A group of 8 blocks transposed to meet act_q8t rows: x[t] lane b = the
 * weights 4t..4t+3 of block b as maddubs' unsigned operand, Q4_0's nibbles
 * or Q8_0's |w|; for Q8_0, w itself in sg[t] to sign the activations. */
struct grp8t {
    __m256i x[8], sg[8];
};

INLINE void grp8t_load(const void *wg, bool q4, struct grp8t *g)
{
    const __m256i m4 = _mm256_set1_epi8(15);
    const struct blk_q8_0 *w8 = wg;
    const struct blk_q4_0 *w4 = wg;
    __m256i z[4], t[4];
    for (int h = 0; h < (q4 ? 1 : 2); h++) {
        for (int i = 0; i < 4; i++)
            z[i] = q4 ? load2x128(w4[i].q, w4[4 + i].q)
                      : load2x128(w8[i].q + 16 * h, w8[4 + i].q + 16 * h);
        TRANSPOSE4(__m256i, _mm256, z, t);
        for (int k = 0; k < 4; k++) {
            if (q4) { /* low nibbles: weights 4k.., high: 16+4k.. */
                g->x[k] = _mm256_and_si256(t[k], m4);
                g->x[4 + k] = _mm256_and_si256(_mm256_srli_epi16(t[k], 4), m4);
            } else {
                g->sg[4 * h + k] = t[k];
                g->x[4 * h + k] = _mm256_abs_epi8(t[k]);
            }
        }
    }
}

/* One column's integer dots of the group, block b in lane b (Q4_0 before
 * its -8 offset). Q4_0 sums all 8 steps in int16: each lane gets 16
 * products of at most 15*127, 30480 in all. */
INLINE __m256i grp8t_dot(const struct grp8t *g, struct act_q8t_grp v, bool q4)
{
    if (q4) {
        __m256i p = _mm256_maddubs_epi16(g->x[0], loadu(v.q));
        for (int t = 1; t < 8; t++)
            p = _mm256_add_epi16(p, _mm256_maddubs_epi16(g->x[t], loadu(v.q + t * v.qstride)));
        return pairs(p);
    }
    __m256i s = _mm256_setzero_si256();
    for (int t = 0; t < 8; t++) {
        __m256i a = _mm256_sign_epi8(loadu(v.q + t * v.qstride), g->sg[t]);
        s = _mm256_add_epi32(s, pairs(_mm256_maddubs_epi16(g->x[t], a)));
    }
    return s;
}

/* blk32_tail on group g of a transposed row of nb blocks (ng groups): the
 * same float sum, 0.0f when the row has no partial group. */
INLINE float blk32t_tail(const void *w, size_t nb, size_t ng, size_t g, const void *a, bool q4)
{
    if (g * AQ_BLKS >= nb)
        return 0.0f;
    struct act_q8 t;
    act_q8t_unpack(act_q8t_group(a, ng, g), &t);
    return blk32_tail(w, nb, g, &t, q4);
}

/* One full group g for every column, transposed activations ac[c]. */
INLINE void blocks32t_group(const void *w, size_t g, bool q4, const void *const *ac, size_t ng,
                            int nc, __m256 *acc)
{
    const void *wg = blk32_at(w, g * AQ_BLKS, q4);
    struct grp8t gw;
    grp8t_load(wg, q4, &gw);
    __m256 dw = scales8(wg, q4);
    for (int c = 0; c < nc; c++) {
        struct act_q8t_grp v = act_q8t_group(ac[c], ng, g);
        __m256i s = grp8t_dot(&gw, v, q4);
        acc[c] = blk32_step(acc[c], dw, v.d, q4 ? q4_offset(s, v.sum) : s);
    }
}

/* The tile dot on act_q8t rows: dot_blocks32's float steps, in its order. */
INLINE void blocks32t_body(bool q4, size_t n, const void *w, const void *a, size_t as, int nc,
                           float *out, size_t os)
{
    size_t nb = n / QK, ng = (nb + AQ_BLKS - 1) / AQ_BLKS;
    const void *ac[QUANT_COLS];
    __m256 acc[QUANT_COLS];
    for (int c = 0; c < nc; c++) {
        ac[c] = act_col(a, as, c);
        acc[c] = _mm256_setzero_ps();
    }
    for (size_t g = 0; g < nb / AQ_BLKS; g++)
        blocks32t_group(w, g, q4, ac, ng, nc, acc);
    for (int c = 0; c < nc; c++)
        out[(size_t)c * os] = hsum_ps(acc[c]) + blk32t_tail(w, nb, ng, nb / AQ_BLKS, ac[c], q4);
}

#define Q8_0_COLS(...) blocks32t_body(false, __VA_ARGS__)
#define Q4_0_COLS(...) blocks32t_body(true, __VA_ARGS__)

/* ---- K-quants ---- */

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

/* Q4_K: per 64 weights (chunk k), 32 bytes hold sub-block 2k in the low
 * nibbles and 2k+1 in the high ones. Each chunk's maddubs products (16
 * int16 lanes per sub-block, each the sum of 2 products of at most 15*127)
 * are folded by 16-bit horizontal adds as the chunks come: three rounds
 * total each sub-block's lanes into one (8 lanes of at most 3810: 30480
 * fits), sub-block j's two halves landing in lane j of each 128-bit half,
 * so one madd with the 8 scales applies them all. */
INLINE void q4_k_body(size_t n, const void *vw, const void *a, size_t as, int nc, float *out,
                      size_t os)
{
    const __m256i m4 = _mm256_set1_epi8(15);
    const struct blk_q4_k *w = vw;
    const struct act_q8k *ac[QUANT_COLS];
    __m256 acc[QUANT_COLS], accm[QUANT_COLS];
    for (int c = 0; c < nc; c++) {
        ac[c] = act_col(a, as, c);
        acc[c] = accm[c] = _mm256_setzero_ps();
    }
    for (size_t i = 0; i < n / QKK; i++) {
        __m128i sm8 = q4k_scales_v(w[i].sc);
        __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm8));
        /* mins, each doubled to line up with the 16 bsums */
        __m128i mn16 = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(sm8, sm8));
        __m256i mn2 =
            _mm256_set_m128i(_mm_unpackhi_epi16(mn16, mn16), _mm_unpacklo_epi16(mn16, mn16));
        float d = f16(w[i].d), dmin = f16(w[i].dmin);
        __m256i h[QUANT_COLS][4];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            __m256i x = loadu(w[i].q + 32 * k);
            __m256i lo = _mm256_and_si256(x, m4),
                    hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), m4);
            for (int c = 0; c < nc; c++) {
                const int8_t *aq = ac[c][i].q + 64 * k;
                h[c][k] = _mm256_hadd_epi16(_mm256_maddubs_epi16(lo, loadu(aq)),
                                            _mm256_maddubs_epi16(hi, loadu(aq + 32)));
                if (nc > 1 && k % 2) /* fold early: four columns' sums stay in registers */
                    h[c][k - 1] = _mm256_hadd_epi16(h[c][k - 1], h[c][k]);
            }
        }
        for (int c = 0; c < nc; c++) {
            const struct act_q8k *ai = &ac[c][i];
            __m256i m = _mm256_madd_epi16(mn2, loadu(ai->bsums));
            accm[c] = _mm256_fmadd_ps(_mm256_set1_ps(dmin * ai->d), _mm256_cvtepi32_ps(m), accm[c]);
            __m256i t = nc > 1 ? _mm256_hadd_epi16(h[c][0], h[c][2])
                               : _mm256_hadd_epi16(_mm256_hadd_epi16(h[c][0], h[c][1]),
                                                   _mm256_hadd_epi16(h[c][2], h[c][3]));
            __m256i s = _mm256_madd_epi16(t, sc16);
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(d * ai->d), _mm256_cvtepi32_ps(s), acc[c]);
        }
    }
    for (int c = 0; c < nc; c++)
        out[(size_t)c * os] = hsum_ps(_mm256_sub_ps(acc[c], accm[c]));
}

/* Q6_K, one half of 128 weights (64 ql bytes, 32 qh bytes, 8 scales): its
 * four groups of 32 quants 0..63 for maddubs, unsigned (the caller removes
 * the -32 offset), and its 8 scales as int16 in both 128-bit lanes. */
struct q6k_half {
    __m256i q[4], sc16;
};

INLINE struct q6k_half q6k_half_load(const uint8_t *ql, const uint8_t *qh, const int8_t *sc)
{
    const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
    __m256i l0 = loadu(ql), l1 = loadu(ql + 32), h = loadu(qh);
    struct q6k_half r = {
        {
            _mm256_or_si256(_mm256_and_si256(l0, m4),
                            _mm256_and_si256(_mm256_slli_epi16(h, 4), m30)),
            _mm256_or_si256(_mm256_and_si256(l1, m4),
                            _mm256_and_si256(_mm256_slli_epi16(h, 2), m30)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                            _mm256_and_si256(h, m30)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                            _mm256_and_si256(_mm256_srli_epi16(h, 2), m30)),
        },
        _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)sc))),
    };
    return r;
}

/* The half's scaled integer dot with one column's 128 quants a: group k's
 * two scales go to the int16 lanes of its two 16-weight sub-blocks. */
INLINE __m256i q6k_half_dot(const struct q6k_half *h, const int8_t *a)
{
    __m256i s = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        __m256i p = _mm256_maddubs_epi16(h->q[k], loadu(a + 32 * k));
        s = _mm256_add_epi32(s, _mm256_madd_epi16(p, bcast16(h->sc16, 2 * k, 2 * k + 1)));
    }
    return s;
}

INLINE void q6_k_body(size_t n, const void *vw, const void *a, size_t as, int nc, float *out,
                      size_t os)
{
    const struct blk_q6_k *w = vw;
    const struct act_q8k *ac[QUANT_COLS];
    __m256 acc[QUANT_COLS];
    for (int c = 0; c < nc; c++) {
        ac[c] = act_col(a, as, c);
        acc[c] = _mm256_setzero_ps();
    }
    for (size_t i = 0; i < n / QKK; i++) {
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w[i].sc));
        __m256i s[QUANT_COLS];
        for (int c = 0; c < nc; c++) /* the -32 offset, taken off at the end */
            s[c] = _mm256_slli_epi32(_mm256_madd_epi16(sc16, loadu(ac[c][i].bsums)), 5);
        for (int half = 0; half < 2; half++) {
            struct q6k_half hw =
                q6k_half_load(w[i].ql + 64 * half, w[i].qh + 32 * half, w[i].sc + 8 * half);
            for (int c = 0; c < nc; c++) {
                __m256i t = q6k_half_dot(&hw, ac[c][i].q + 128 * half);
                s[c] = half ? _mm256_add_epi32(s[c], t) : _mm256_sub_epi32(t, s[c]);
            }
        }
        float d = f16(w[i].d);
        for (int c = 0; c < nc; c++)
            acc[c] =
                _mm256_fmadd_ps(_mm256_set1_ps(d * ac[c][i].d), _mm256_cvtepi32_ps(s[c]), acc[c]);
    }
    for (int c = 0; c < nc; c++)
        out[(size_t)c * os] = hsum_ps(acc[c]);
}

#endif
