/* SPDX-License-Identifier: MIT */
/* AVX-512 (F, BW, VL, VNNI) kernels where they beat AVX2 on the machines we
 * measured (AMD Zen 4): the single Q4_0 and Q6_K dots, and the tile dots of
 * every type. Word permutes and 128-bit inserts gather blocks, and vpdpbusd
 * / vpdpwssd multiply and add in one instruction. The other single dots
 * stay AVX2; quant.c merges the tables. The Q8_0 and Q4_0 tiles read
 * transposed activations and share only their float steps with the single
 * dots (integer sums being exact); the Q6_K tile is its single dot's body;
 * the float and Q4_K tiles are the AVX2 bodies, compiled here where 32
 * vector registers hold more dots at once. */
#include "engine/quant_impl.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) &&                      \
    defined(__AVX512VNNI__)

#include "engine/quant_x86.h"

INLINE __m512i load64(const void *p)
{
    return _mm512_loadu_si512(p);
}

/* ---- Q4_0, one column: four blocks per register ---- */

/* Index tables for the word permutes, built at compile time. In
 * _mm512_permutex2var_epi16 indices 0-31 pick from the first source and
 * 32-63 from the second; block rows are 2-byte aligned, so every field of a
 * block is whole words. PICK(w, s0, s1): source index of word w (counted
 * from the group's start) when the sources begin at words s0 and s1. */
#define REP8(M, c, b)                                                                              \
    M(c, b), M(c, b + 1), M(c, b + 2), M(c, b + 3), M(c, b + 4), M(c, b + 5), M(c, b + 6),         \
        M(c, b + 7)
#define REP32(M, c)                                                                                \
    {                                                                                              \
        REP8(M, c, 0), REP8(M, c, 8), REP8(M, c, 16), REP8(M, c, 24)                               \
    }
#define PICK(w, s0, s1) ((w) - (s0) < 32 ? (w) - (s0) : 32 + (w) - (s1))

/* Q4_0, a group of 8 blocks of 18 bytes (9 words) loaded as three
 * registers, z0 = p[0..63], z1 = p[64..127], z2 = p[80..143]: the 16 nibble
 * bytes (words 1-8 of each block) of blocks 0-3 from z0, z1, of blocks 4-7
 * from z1, z2; the 8 d (word 0 of each block) from z0, z1. */
#define Q4_NIB_A(c, o) PICK(1 + 9 * ((o) / 8) + (o) % 8, 0, 32)
#define Q4_NIB_B(c, o) PICK(37 + 9 * ((o) / 8) + (o) % 8, 32, 40)
#define Q4_D(c, o) ((o) < 8 ? 9 * (o) : 0)
/* Q6_K quarter k's four scales 4k..4k+3, spread over 8 int16 lanes each. */
#define Q6K_SC(c, o) (4 * (c) + (o) / 8)

static const short idx_q4_nib_a[32] = REP32(Q4_NIB_A, 0), idx_q4_nib_b[32] = REP32(Q4_NIB_B, 0),
                   idx_q4_d[32] = REP32(Q4_D, 0);
static const short idx_q6k_sc[4][32] = {REP32(Q6K_SC, 0), REP32(Q6K_SC, 1), REP32(Q6K_SC, 2),
                                        REP32(Q6K_SC, 3)};

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

/* Q4_0, a group of 8 blocks ready for vpdpbusd: u[k] meets the group's
 * activation quants q[64k .. 64k+63] (quant_impl.h's act_q8 layout: quants
 * 0-15 of blocks 0-3, 16-31 of blocks 0-3, then the same for 4-7), as the
 * raw nibbles 0..15; grp32_dot removes the -8 offset. dw: the 8 scales. */
struct grp32 {
    __m512i u[4];
    __m256 dw;
};

INLINE struct grp32 grp32_load_q4(const uint8_t *p)
{
    const __m512i m4 = _mm512_set1_epi8(15);
    __m512i z0 = load64(p), z1 = load64(p + 64), z2 = load64(p + 80);
    __m512i lo = _mm512_permutex2var_epi16(z0, load64(idx_q4_nib_a), z1);
    __m512i hi = _mm512_permutex2var_epi16(z1, load64(idx_q4_nib_b), z2);
    __m512i d = _mm512_permutex2var_epi16(z0, load64(idx_q4_d), z1);
    struct grp32 g = {
        {_mm512_and_si512(lo, m4), _mm512_and_si512(_mm512_srli_epi16(lo, 4), m4),
         _mm512_and_si512(hi, m4), _mm512_and_si512(_mm512_srli_epi16(hi, 4), m4)},
        _mm256_cvtph_ps(_mm512_castsi512_si128(d)),
    };
    return g;
}

/* The group's integer dots with its activations, block j in lane j. */
INLINE __m256i grp32_dot(const struct grp32 *g, const struct act_q8 *ag)
{
    const __m512i z = _mm512_setzero_si512();
    __m512i lo = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(z, g->u[0], load64(ag->q)), g->u[1],
                                     load64(ag->q + 64));
    __m512i hi = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(z, g->u[2], load64(ag->q + 128)), g->u[3],
                                     load64(ag->q + 192));
    return q4_offset(reduce8(lo, hi), ag->sum);
}

/* Whole groups here; a last partial group goes to the AVX2 kernel, whose
 * tail path handles it with the same activation layout. */
static float dot_q4_0(size_t n, const void *w, const void *va)
{
    const struct act_q8 *a = va;
    const uint8_t *p = w;
    size_t ng = n / QK / AQ_BLKS, done = ng * AQ_BLKS * QK;
    __m256 acc = _mm256_setzero_ps();
    for (size_t g = 0; g < ng; g++, p += AQ_BLKS * sizeof(struct blk_q4_0)) {
        struct grp32 gw = grp32_load_q4(p);
        acc = blk32_step(acc, gw.dw, a[g].d, grp32_dot(&gw, &a[g]));
    }
    float r = hsum_ps(acc);
    if (done < n)
        r += quant_avx2_kernels.dot[QT_Q4_0](n - done, p, a + ng);
    return r;
}

/* ---- Q8_0 and Q4_0, many columns: 16 blocks per register ---- */

/* Four 16-byte rows into the 128-bit lanes of one register. */
INLINE __m512i load4x128(const uint8_t *p0, const uint8_t *p1, const uint8_t *p2, const uint8_t *p3)
{
    __m512i z = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p0));
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)p1), 1);
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)p2), 2);
    return _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)p3), 3);
}

INLINE const uint8_t *blk32_q(const void *w, size_t i, bool q4)
{
    return q4 ? ((const struct blk_q4_0 *)w)[i].q
              : (const uint8_t *)((const struct blk_q8_0 *)w)[i].q;
}

/* Two full groups (16 blocks) transposed to meet act_q8t rows: u[t] lane b
 * = the weights 4t..4t+3 of block b as unsigned bytes, Q4_0's raw nibbles
 * (w + 8) or Q8_0's with the sign bit flipped (w + 128); unit16_dot removes
 * that offset exactly, as offset times the blocks' activation sums. dw:
 * each group's 8 scales. */
struct unit16 {
    __m512i u[8];
    __m256 dw[2];
};

INLINE void unit16_load(const void *w, bool q4, struct unit16 *g)
{
    const __m512i m4 = _mm512_set1_epi8(15), flip = _mm512_set1_epi8((char)0x80);
    __m512i z[4], t[4];
    for (int h = 0; h < (q4 ? 1 : 2); h++) {
        for (int i = 0; i < 4; i++) /* lane j: block 4j+i */
            z[i] = load4x128(
                blk32_q(w, (size_t)i, q4) + 16 * h, blk32_q(w, (size_t)i + 4, q4) + 16 * h,
                blk32_q(w, (size_t)i + 8, q4) + 16 * h, blk32_q(w, (size_t)i + 12, q4) + 16 * h);
        TRANSPOSE4(__m512i, _mm512, z, t);
        for (int k = 0; k < 4; k++) {
            if (q4) { /* low nibbles: weights 4k.., high: 16+4k.. */
                g->u[k] = _mm512_and_si512(t[k], m4);
                g->u[4 + k] = _mm512_and_si512(_mm512_srli_epi16(t[k], 4), m4);
            } else {
                g->u[4 * h + k] = _mm512_xor_si512(t[k], flip);
            }
        }
    }
    g->dw[0] = scales8(w, q4);
    g->dw[1] = scales8(blk32_at(w, AQ_BLKS, q4), q4);
}

/* One column's integer dots of the unit's 16 blocks, block b in lane b; v
 * is the unit's first group. Two chains hide the vpdpbusd latency. */
INLINE __m512i unit16_dot(const struct unit16 *g, struct act_q8t_grp v, bool q4)
{
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
    for (int t = 0; t < 8; t += 2) {
        s0 = _mm512_dpbusd_epi32(s0, g->u[t], load64(v.q + 64 * t));
        s1 = _mm512_dpbusd_epi32(s1, g->u[t + 1], load64(v.q + 64 * (t + 1)));
    }
    __m512i sa = _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)v.sum));
    return _mm512_sub_epi32(_mm512_add_epi32(s0, s1), _mm512_slli_epi32(sa, q4 ? 3 : 7));
}

/* The tile dot on act_q8t rows, for nr = 1 or 2 weight rows w, w + ws:
 * pairs of full groups here, a last odd full group by the AVX2 code, then
 * the partial group's tail. The float steps are the single dots':
 * blk32_step per group, in order. Q8_0's single dot (AVX2) always adds its
 * tail sum, 0.0f when empty; Q4_0's (above) adds the AVX2 dot of a partial
 * group only when there is one, and that dot's own +0.0f changes no bit
 * there: a tail sum starts at 0.0f, so it is never -0. */
INLINE void vnni32t_body(bool q4, int nr, size_t n, const void *w, size_t ws, const void *a,
                         size_t as, int nc, float *out, size_t os)
{
    size_t nb = n / QK, ng = (nb + AQ_BLKS - 1) / AQ_BLKS, nfull = nb / AQ_BLKS, g = 0;
    const void *ac[QUANT_COLS], *wr[2] = {w, (const char *)w + ws};
    __m256 acc[2][QUANT_COLS];
    for (int c = 0; c < nc; c++) {
        ac[c] = act_col(a, as, c);
        for (int r = 0; r < nr; r++)
            acc[r][c] = _mm256_setzero_ps();
    }
    for (; g + 2 <= nfull; g += 2) {
        for (int r = 0; r < nr; r++) { /* the second row finds the activations in L1 */
            struct unit16 uw;
            unit16_load(blk32_at(wr[r], g * AQ_BLKS, q4), q4, &uw);
            for (int c = 0; c < nc; c++) {
                struct act_q8t_grp v0 = act_q8t_group(ac[c], ng, g);
                struct act_q8t_grp v1 = act_q8t_group(ac[c], ng, g + 1);
                __m512i s = unit16_dot(&uw, v0, q4);
                acc[r][c] = blk32_step(acc[r][c], uw.dw[0], v0.d, _mm512_castsi512_si256(s));
                acc[r][c] = blk32_step(acc[r][c], uw.dw[1], v1.d, _mm512_extracti64x4_epi64(s, 1));
            }
        }
    }
    for (int r = 0; r < nr && g < nfull; r++)
        blocks32t_group(wr[r], g, q4, ac, ng, nc, acc[r]);
    g += g < nfull;
    for (int r = 0; r < nr; r++)
        for (int c = 0; c < nc; c++) {
            float v = hsum_ps(acc[r][c]);
            if (!q4 || g * AQ_BLKS < nb)
                v += blk32t_tail(wr[r], nb, ng, g, ac[c], q4);
            out[(size_t)r + (size_t)c * os] = v;
        }
}

INLINE void vnni32t_one(bool q4, size_t n, const void *w, const void *a, size_t as, int nc,
                        float *out, size_t os)
{
    vnni32t_body(q4, 1, n, w, 0, a, as, nc, out, os);
}

#define Q8_0_VNNI1(...) vnni32t_one(false, __VA_ARGS__)
#define Q4_0_VNNI1(...) vnni32t_one(true, __VA_ARGS__)
#define Q8_0_VNNI2(...) vnni32t_body(false, 2, __VA_ARGS__)
#define Q4_0_VNNI2(...) vnni32t_body(true, 2, __VA_ARGS__)

/* Columns per pass for the VNNI dots: 8 measured best on Zen 4 for rows of
 * 2048 and 5632 weights alike (with rows paired, even when 8 activation
 * rows outgrow L1). */
#define VNNI_COLS 8

/* ---- Q6_K ---- */

/* Lane o of the result is int16 entry idx[o] of s. */
INLINE __m512i spread16(__m512i s, const short *idx)
{
    return _mm512_permutexvar_epi16(load64(idx), s);
}

/* Q6_K, one half h of 128 weights. The 64 ql bytes loaded whole give groups
 * 0|1 in their low nibbles and 2|3 in their high ones; the 32 qh bytes,
 * copied to both halves and shifted per half, supply bits 4-5. Each 16 int16
 * lanes of a product then belong to one 16-weight sub-block, in order; sc
 * holds their scales, spread to match. */
struct q6k_half512 {
    __m512i q[2], sc[2];
};

INLINE struct q6k_half512 q6k_half512_load(const uint8_t *ql, const uint8_t *qh, __m512i sc16,
                                           int h)
{
    const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
    __m512i l = load64(ql);
    __m512i hb = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)qh));
    __m512i h01 =
        _mm512_and_si512(_mm512_sllv_epi64(hb, _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2)), m30);
    __m512i h23 =
        _mm512_and_si512(_mm512_srlv_epi64(hb, _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2)), m30);
    /* 0xEA: (A & B) | C */
    struct q6k_half512 r = {
        {_mm512_ternarylogic_epi32(l, m4, h01, 0xea),
         _mm512_ternarylogic_epi32(_mm512_srli_epi16(l, 4), m4, h23, 0xea)},
        {spread16(sc16, idx_q6k_sc[2 * h]), spread16(sc16, idx_q6k_sc[2 * h + 1])},
    };
    return r;
}

/* s plus the half's scaled integer dot with one column's 128 quants a. */
INLINE __m512i q6k_half512_dot(const struct q6k_half512 *h, const int8_t *a, __m512i s)
{
    s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(h->q[0], load64(a)), h->sc[0]);
    return _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(h->q[1], load64(a + 64)), h->sc[1]);
}

INLINE void q6_k_vnni(size_t n, const void *vw, const void *a, size_t as, int nc, float *out,
                      size_t os)
{
    const struct blk_q6_k *w = vw;
    const struct act_q8k *ac[QUANT_COLS];
    __m512 acc[QUANT_COLS];
    for (int c = 0; c < nc; c++) {
        ac[c] = act_col(a, as, c);
        acc[c] = _mm512_setzero_ps();
    }
    for (size_t i = 0; i < n / QKK; i++) {
        __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w[i].sc));
        __m512i sc16 = _mm512_castsi256_si512(sc);
        struct q6k_half512 h0 = q6k_half512_load(w[i].ql, w[i].qh, sc16, 0);
        struct q6k_half512 h1 = q6k_half512_load(w[i].ql + 64, w[i].qh + 32, sc16, 1);
        float d = _cvtsh_ss(w[i].d);
        for (int c = 0; c < nc; c++) {
            const struct act_q8k *ai = &ac[c][i];
            /* the -32 offset: 32 * sum over sub-blocks of scale * bsum */
            __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(sc, loadu(ai->bsums)), 5);
            /* two independent accumulation chains, one per half */
            __m512i s0 = q6k_half512_dot(&h0, ai->q, _mm512_setzero_si512());
            __m512i s1 = q6k_half512_dot(
                &h1, ai->q + 128,
                _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), off)));
            acc[c] = _mm512_fmadd_ps(_mm512_set1_ps(d * ai->d),
                                     _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), acc[c]);
        }
    }
    for (int c = 0; c < nc; c++)
        out[(size_t)c * os] = _mm512_reduce_add_ps(acc[c]);
}

/* ---- the table ---- */

QUANT_DOT_FN(q6_k, q6_k_vnni)
QUANT_TILE2_FN(q4_0, Q4_0_VNNI1, Q4_0_VNNI2, VNNI_COLS, true)
QUANT_TILE2_FN(q8_0, Q8_0_VNNI1, Q8_0_VNNI2, VNNI_COLS, true)
QUANT_TILE_FN(q6_k, q6_k_vnni, 4)
QUANT_TILE_FN(q4_k, q4_k_body, 4)
/* Float tiles: two columns, each activation load serving two weight rows
 * (2 x 2 dots, 16 accumulators), except where two activation rows fit in
 * L1 beside one weight row but not beside two (F32 rows of 2048: 1.2x
 * faster unpaired on Zen 4; of 5632, 2x faster paired, as F16 at both). */
QUANT_INLINE bool float_pair(size_t row_bytes)
{
    return row_bytes <= 6 * 1024 || row_bytes > 8 * 1024;
}

QUANT_TILE2_FN(f32, F32_BODY, F32_ROWS2, 2, float_pair(4 * n))
QUANT_TILE2_FN(f16, F16_BODY, F16_ROWS2, 2, float_pair(2 * n))
QUANT_TILE2_FN(bf16, BF16_BODY, BF16_ROWS2, 2, float_pair(2 * n))

/* Only these; quant.c takes the rest from the AVX2 table. */
const struct quant_kernels quant_avx512_kernels = {
    .name = "avx512",
    .dot =
        {
            [QT_Q4_0] = dot_q4_0,
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
};

#elif defined(QUANT_HAVE_AVX2_BUILD)
#error "quant_avx512.c must be compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni"
#endif
