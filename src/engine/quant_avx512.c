/* SPDX-License-Identifier: MIT */
/* AVX-512 (F, BW, VL, VNNI) kernels for the two dots where they beat AVX2 on
 * the machines we measured (AMD Zen 4): Q4_0 and Q6_K. Word permutes gather
 * whole blocks from few loads, and vpdpbusd / vpdpwssd multiply and add in
 * one instruction. Everything else stays AVX2; quant.c merges the tables. */
#include "engine/quant_impl.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) &&                      \
    defined(__AVX512VNNI__)

#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))

INLINE __m512i load64(const void *p)
{
    return _mm512_loadu_si512(p);
}

INLINE float hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* ---- Q4_0: four blocks per register ---- */

/* Index tables for the word permutes, built at compile time. In
 * _mm512_permutex2var_epi16 indices 0-31 pick from the first source and
 * 32-63 from the second; block rows are 2-byte aligned, so every field of a
 * block is whole words. PICK(w, s0, s1): source index of word w (counted
 * from the unit's start) when the sources begin at words s0 and s1. */
#define REP8(M, c, b)                                                                              \
    M(c, b), M(c, b + 1), M(c, b + 2), M(c, b + 3), M(c, b + 4), M(c, b + 5), M(c, b + 6),         \
        M(c, b + 7)
#define REP32(M, c)                                                                                \
    {                                                                                              \
        REP8(M, c, 0), REP8(M, c, 8), REP8(M, c, 16), REP8(M, c, 24)                               \
    }
#define PICK(w, s0, s1) ((w) - (s0) < 32 ? (w) - (s0) : 32 + (w) - (s1))

/* Q4_0, a group of 8 blocks of 18 bytes loaded as three registers, z0 =
 * p[0..63], z1 = p[64..127], z2 = p[80..143]: the 16 nibble bytes (words
 * 1-8 of each block) of blocks 0-3 from z0, z1, of blocks 4-7 from z1, z2;
 * the 8 d (word 0 of each block) from z0, z1. */
#define Q4_NIB_A(c, o) PICK(1 + 9 * ((o) / 8) + (o) % 8, 0, 32)
#define Q4_NIB_B(c, o) PICK(37 + 9 * ((o) / 8) + (o) % 8, 32, 40)
#define Q4_D(c, o) ((o) < 8 ? 9 * (o) : 0)
/* Q6_K quarter k's four scales 4k..4k+3, spread over 8 int16 lanes each. */
#define Q6K_SC(c, o) (4 * (c) + (o) / 8)

static const short idx_q4_nib_a[32] = REP32(Q4_NIB_A, 0), idx_q4_nib_b[32] = REP32(Q4_NIB_B, 0),
                   idx_q4_d[32] = REP32(Q4_D, 0);
static const short idx_q6k_sc[4][32] = {REP32(Q6K_SC, 0), REP32(Q6K_SC, 1), REP32(Q6K_SC, 2),
                                        REP32(Q6K_SC, 3)};

/* Q4_0: the dot of 4 blocks' nibbles with their activations (lo halves,
 * then hi): int32 lanes 4j..4j+3 hold partial sums of block j. */
INLINE __m512i idot4_q4(__m512i nib, const int8_t *aq)
{
    const __m512i m4 = _mm512_set1_epi8(15);
    __m512i acc =
        _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(nib, m4), load64(aq));
    return _mm512_dpbusd_epi32(acc, _mm512_and_si512(_mm512_srli_epi16(nib, 4), m4),
                               load64(aq + 64));
}

/* Totals of the 4-lane runs of a (blocks 0-3) and b (blocks 4-7): lane j of
 * the result is block j's integer dot. */
INLINE __m256i reduce8(__m512i a, __m512i b)
{
    const __m512i i1 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    const __m512i i2 =
        _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
    __m512i s =
        _mm512_add_epi32(_mm512_permutex2var_epi32(a, i1, b), _mm512_permutex2var_epi32(a, i2, b));
    return _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
}

/* Whole groups of 8 blocks here, loaded as three registers; a last partial
 * group goes to the AVX2 kernel, whose tail path handles it with the same
 * activation layout. */
static float dot_q4_0(size_t n, const void *w, const void *va)
{
    const struct act_q8 *a = va;
    const uint8_t *p = w;
    size_t ng = n / QK / AQ_BLKS;
    __m256 acc = _mm256_setzero_ps();
    for (size_t g = 0; g < ng; g++, p += AQ_BLKS * sizeof(struct blk_q4_0)) {
        __m512i z0 = load64(p), z1 = load64(p + 64), z2 = load64(p + 80);
        __m256 dw = _mm256_cvtph_ps(
            _mm512_castsi512_si128(_mm512_permutex2var_epi16(z0, load64(idx_q4_d), z1)));
        __m512i lo = _mm512_permutex2var_epi16(z0, load64(idx_q4_nib_a), z1);
        __m512i hi = _mm512_permutex2var_epi16(z1, load64(idx_q4_nib_b), z2);
        __m256i s = reduce8(idot4_q4(lo, a[g].q), idot4_q4(hi, a[g].q + 128));
        /* the -8 offset, exactly: sum((w-8)*a) = sum(w*a) - 8*sum(a) */
        __m256i sa = _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)a[g].sum));
        s = _mm256_sub_epi32(s, _mm256_slli_epi32(sa, 3));
        __m256 da = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)a[g].d));
        acc = _mm256_fmadd_ps(_mm256_mul_ps(dw, da), _mm256_cvtepi32_ps(s), acc);
    }
    float r = hsum_ps(acc);
    size_t done = ng * AQ_BLKS * QK;
    if (done < n)
        r += quant_avx2_kernels.dot[QT_Q4_0](n - done, p, a + ng);
    return r;
}

/* ---- Q6_K ---- */

/* Lane o of the result is int16 entry idx[o] of s. */
INLINE __m512i spread16(__m512i s, const short *idx)
{
    return _mm512_permutexvar_epi16(load64(idx), s);
}

/* Q6_K, one half of 128 weights. The 64 ql bytes loaded whole give groups
 * 0|1 in their low nibbles and 2|3 in their high ones; the 32 qh bytes,
 * copied to both halves and shifted per half, supply bits 4-5. Each 16 int16
 * lanes of a product then belong to one 16-weight sub-block, in order. */
INLINE __m512i idot_q6k_128(const uint8_t *ql, const uint8_t *qh, __m512i sc16, int h,
                            const int8_t *a, __m512i s)
{
    const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
    __m512i l = load64(ql);
    __m512i hb = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)qh));
    __m512i h01 =
        _mm512_and_si512(_mm512_sllv_epi64(hb, _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2)), m30);
    __m512i h23 =
        _mm512_and_si512(_mm512_srlv_epi64(hb, _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2)), m30);
    /* 0xEA: (A & B) | C */
    __m512i q01 = _mm512_ternarylogic_epi32(l, m4, h01, 0xea);
    __m512i q23 = _mm512_ternarylogic_epi32(_mm512_srli_epi16(l, 4), m4, h23, 0xea);
    s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(q01, load64(a)),
                            spread16(sc16, idx_q6k_sc[2 * h]));
    return _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(q23, load64(a + 64)),
                               spread16(sc16, idx_q6k_sc[2 * h + 1]));
}

static float dot_q6_k(size_t n, const void *vw, const void *va)
{
    const struct blk_q6_k *w = vw;
    const struct act_q8k *a = va;
    __m512 acc = _mm512_setzero_ps();
    for (size_t i = 0; i < n / QKK; i++) {
        __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w[i].sc));
        __m512i sc16 = _mm512_castsi256_si512(sc);
        /* the -32 offset: 32 * sum over sub-blocks of scale * bsum */
        __m256i off = _mm256_slli_epi32(
            _mm256_madd_epi16(sc, _mm256_loadu_si256((const __m256i *)a[i].bsums)), 5);
        /* two independent accumulation chains, one per half */
        __m512i s0 = idot_q6k_128(w[i].ql, w[i].qh, sc16, 0, a[i].q, _mm512_setzero_si512());
        __m512i s1 =
            idot_q6k_128(w[i].ql + 64, w[i].qh + 32, sc16, 1, a[i].q + 128,
                         _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), off)));
        __m512i s = _mm512_add_epi32(s0, s1);
        acc =
            _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(w[i].d) * a[i].d), _mm512_cvtepi32_ps(s), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

/* Only these dots; quant.c takes the rest from the AVX2 table. */
const struct quant_kernels quant_avx512_kernels = {
    .name = "avx512",
    .dot =
        {
            [QT_Q4_0] = dot_q4_0,
            [QT_Q6_K] = dot_q6_k,
        },
};

#elif defined(QUANT_HAVE_AVX2_BUILD)
#error "quant_avx512.c must be compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni"
#endif
