/* SPDX-License-Identifier: MIT */
/* AVX2+FMA+F16C kernels: the single and tile dots of every supported weight
 * type (from the bodies in quant_x86.h), and the activation converters.
 * Compiled with -mavx2 -mfma -mf16c; quant.c calls them only after checking
 * the CPU. */
#include "engine/quant_impl.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include "engine/quant_x86.h"

/* ---- dot products ----
 * Each single dot is its body at one column; the tile widths keep the
 * columns' state within the 16 vector registers AVX2 has. */

#define AVX2_DOTS(name, body, cols_body, width)                                                    \
    QUANT_DOT_FN(name, body)                                                                       \
    QUANT_TILE_FN(name, cols_body, width)

/* Floats: two columns while their activation rows fit in L1, else one
 * column against two weight rows (16 registers hold no 2 x 2 tile). */
#define AVX2_FLOAT_DOTS(name, body, rows2, esz)                                                    \
    QUANT_DOT_FN(name, body)                                                                       \
    QUANT_TILE2_FN(name, body, rows2, cols_fit_l1((esz)*n, 2), cols_fit_l1((esz)*n, 2) == 1)

AVX2_FLOAT_DOTS(f32, F32_BODY, F32_ROWS2, 4)
AVX2_FLOAT_DOTS(f16, F16_BODY, F16_ROWS2, 2)
AVX2_FLOAT_DOTS(bf16, BF16_BODY, BF16_ROWS2, 2)
QUANT_TILE_FN(q8_0, Q8_0_COLS, 4)
QUANT_TILE_FN(q4_0, Q4_0_COLS, 4)

static float dot_q8_0(size_t n, const void *w, const void *a)
{
    return dot_blocks32(n / QK, w, a, false);
}

static float dot_q4_0(size_t n, const void *w, const void *a)
{
    return dot_blocks32(n / QK, w, a, true);
}
AVX2_DOTS(q4_k, q4_k_body, q4_k_body, 4)
AVX2_DOTS(q6_k, q6_k_body, q6_k_body, 4)

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
    .act_q8 = act_q8,
    .act_q8k = act_q8k,
    .act_f16 = act_f16,
    .act_bf16 = act_bf16,
};

#elif defined(QUANT_HAVE_AVX2_BUILD)
#error "quant_avx2.c must be compiled with -mavx2 -mfma -mf16c"
#endif
