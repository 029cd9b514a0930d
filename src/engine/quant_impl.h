/* SPDX-License-Identifier: MIT */
/* Private to quant.c and quant_*.c: the block structs of the weight and
 * activation formats, small helpers both the portable and the SIMD kernels
 * must compute identically, and the kernel table each implementation fills. */
#ifndef FIEF_QUANT_IMPL_H
#define FIEF_QUANT_IMPL_H

#include "engine/quant.h"

#include <stdint.h>
#include <string.h>

#define QK 32   /* weights per Q8_0 / Q4_0 block */
#define QKK 256 /* weights per K-quant super-block */

/* ---- weight blocks (ggml's layouts, byte for byte) ---- */

struct blk_q8_0 {
    uint16_t d;   /* f16 scale */
    int8_t q[QK]; /* x = d * q */
};

struct blk_q4_0 {
    uint16_t d;        /* f16 scale */
    uint8_t q[QK / 2]; /* x[j] = d*((q[j]&15)-8), x[j+16] = d*((q[j]>>4)-8) */
};

struct blk_q4_k {
    uint16_t d;         /* f16 super-scale of the 6-bit sub-block scales */
    uint16_t dmin;      /* f16 super-scale of the 6-bit sub-block mins */
    uint8_t sc[12];     /* 8 (scale, min) pairs, 6 bits each, see q4k_scales() */
    uint8_t q[QKK / 2]; /* per 64 weights, 32 bytes: low nibbles are sub-block
                           2c, high nibbles sub-block 2c+1 */
};

struct blk_q6_k {
    uint8_t ql[QKK / 2]; /* low 4 bits of the 6-bit quants */
    uint8_t qh[QKK / 4]; /* high 2 bits, four quants per byte */
    int8_t sc[QKK / 16]; /* one signed scale per 16 weights */
    uint16_t d;          /* f16 super-scale */
};

/* ---- activation blocks (ours; never stored in files) ----
 *
 * Activations are rounded as llama.cpp's x86 kernels round them, so that
 * greedy decoding picks the same tokens: near-ties between logits are decided
 * by these roundings far more than by float summation order. */

/* For Q8_0/Q4_0 weights, per block of 32: id = 127/amax, q = round-half-even
 * (x*id) in [-127, 127], and the scale d = amax/127 stored as f16, as ggml's
 * block_q8_0 does. sum is the sum of the block's q, which lets the Q4_0 SIMD
 * kernels feed the unsigned nibbles to maddubs and subtract 8*sum after.
 * Blocks are stored in groups of 8 (256 values; the last group of a row is
 * padded with zeros), scales apart from quants so a kernel loads 8 at once,
 * and the quants of each 4 blocks split by half: [lo 16 of blocks 0,1,2,3 |
 * hi 16 of blocks 0,1,2,3], then the same for blocks 4-7, so a register of
 * Q4_0 low nibbles of consecutive blocks meets its activations unshuffled. */
#define AQ_BLKS 8
struct act_q8 {
    uint16_t d[AQ_BLKS];  /* f16 */
    int16_t sum[AQ_BLKS]; /* sum of the block's 32 q, |sum| <= 4064 */
    int8_t q[AQ_BLKS * QK];
};

/* Offset in act_q8.q of quants j..j+15 (j = 0 or 16) of block b (0..7). */
static inline int act_q8_pos(int b, int j)
{
    return 128 * (b >> 2) + 4 * j + 16 * (b & 3);
}

/* For the K-quants, ggml's block_q8_K: per 256 values, q as above, d = 1/id
 * in float (ggml computes -1/id with q negated: the same products), and
 * bsums[k] = the sum of q[16k .. 16k+15] for the Q4_K min term and the Q6_K
 * -32 offset. */
struct act_q8k {
    float d;
    int8_t q[QKK];
    int16_t bsums[QKK / 16];
};

_Static_assert(sizeof(struct blk_q8_0) == 34, "q8_0 block is 34 bytes");
_Static_assert(sizeof(struct blk_q4_0) == 18, "q4_0 block is 18 bytes");
_Static_assert(sizeof(struct blk_q4_k) == 144, "q4_K block is 144 bytes");
_Static_assert(sizeof(struct blk_q6_k) == 210, "q6_K block is 210 bytes");
_Static_assert(sizeof(struct act_q8) == 288, "act_q8 group is 288 bytes");
_Static_assert(sizeof(struct act_q8k) == 292, "q8_K block is 292 bytes");

/* The rounding multiplier of an activation block whose largest magnitude is
 * amax. Every implementation calls these, so their int8 values and scales
 * are bit-identical. A block below 2^-100 (where 127/amax could overflow) is
 * taken as zero; its f16 scale would be zero anyway. */
static inline float act_inv_scale(float amax)
{
    return amax > 0x1p-100f ? 127.0f / amax : 0.0f;
}

static inline uint16_t act_scale_q8(float amax)
{
    return quant_f32_to_f16(amax / 127.0f);
}

static inline float act_scale_q8k(float id)
{
    return id > 0.0f ? 1.0f / id : 0.0f;
}

/* Unpack a Q4_K block's 12 bytes into out[0..7] = the 8 six-bit scales and
 * out[8..15] = the 8 six-bit mins. Sub-blocks 0-3 keep theirs in the low 6
 * bits of bytes 0-3 (scales) and 4-7 (mins); sub-blocks 4-7 take their low 4
 * bits from the nibbles of bytes 8-11 (scale low, min high) and their top 2
 * bits from the spare top bits of bytes 0-3 / 4-7. Done four bytes at a time;
 * every mask keeps only bits that come from the same byte, so the result does
 * not depend on the host's byte order. */
static inline void q4k_scales(const uint8_t p[12], uint8_t out[16])
{
    uint32_t w[3], r[4];
    memcpy(w, p, 12);
    r[0] = w[0] & 0x3f3f3f3fu;
    r[1] = (w[2] & 0x0f0f0f0fu) | ((w[0] >> 2) & 0x30303030u);
    r[2] = w[1] & 0x3f3f3f3fu;
    r[3] = ((w[2] >> 4) & 0x0f0f0f0fu) | ((w[1] >> 2) & 0x30303030u);
    memcpy(out, r, 16);
}

/* ---- activations for tiles (quant_act_convert_cols) ----
 *
 * For Q8_0/Q4_0 weights the act_q8 values are stored transposed, so that a
 * register of 4-byte lanes holds 4 quants of each of 8 or 16 blocks and a
 * lane accumulates a whole block's integer dot: no horizontal sums per
 * block and column. Groups are paired into units of 16 blocks (two act_q8
 * groups' 576 bytes); a row with an odd number of groups ends with a unit of
 * 8 (288 bytes), so a row takes quant_act_size bytes either way. A unit of
 * nb blocks holds d[nb] (f16), sum[nb], then q[8][nb][4]: q[t][b] = quants
 * 4t..4t+3 of block b. */

/* Blocks in unit u of a row of ng groups. */
static inline int act_q8t_unit_blocks(size_t ng, size_t u)
{
    return 2 * u + 1 < ng ? 16 : 8;
}

/* One group (8 blocks) of a transposed row: scales, sums, and 32 bytes of
 * quants per step t at q + t * qstride (4 per block). */
struct act_q8t_grp {
    const uint16_t *d;
    const int16_t *sum;
    const int8_t *q;
    size_t qstride;
};

/* Group g of a transposed row of ng groups. */
static inline struct act_q8t_grp act_q8t_group(const void *row, size_t ng, size_t g)
{
    size_t u = g / 2, h = g % 2;
    size_t nb = (size_t)act_q8t_unit_blocks(ng, u);
    const uint8_t *p = (const uint8_t *)row + u * 2 * sizeof(struct act_q8);
    struct act_q8t_grp v = {(const uint16_t *)p + 8 * h, (const int16_t *)(p + 2 * nb) + 8 * h,
                            (const int8_t *)(p + 4 * nb) + 32 * h, 4 * nb};
    return v;
}

/* Group v back in the act_q8 layout, for the paths that handle a row's last,
 * partial group one block at a time. */
static inline void act_q8t_unpack(struct act_q8t_grp v, struct act_q8 *out)
{
    for (int b = 0; b < AQ_BLKS; b++) {
        int8_t q[QK];
        for (int t = 0; t < 8; t++)
            memcpy(q + 4 * t, v.q + (size_t)t * v.qstride + 4 * b, 4);
        memcpy(out->q + act_q8_pos(b, 0), q, 16);
        memcpy(out->q + act_q8_pos(b, 16), q + 16, 16);
        out->d[b] = v.d[b];
        out->sum[b] = v.sum[b];
    }
}

/* ---- tile dots (quant_dot_tile) ----
 *
 * A dot kernel is an always-inline body for nc columns (1, 2, 4 or 8),
 *   BODY(n, w, a, a_stride, nc, out, out_stride),
 * some also for two weight rows at once: it unpacks each weight block once
 * for all columns, then runs each dot's own integer sums and float
 * accumulation. For most types the single dot is that body at one column
 * and the tile kernel the same body on more columns and rows, so each dot
 * goes through exactly the single dot's float operations by construction.
 * The Q8_0/Q4_0 tile bodies read transposed activations and compute their
 * (exact) integer sums differently, but take every float step from the
 * same helpers as their single dot. test_quant checks the bits. All of this
 * relies on no build of these files reassociating or contracting floats
 * across statements (no -ffast-math, no -ffp-contract=fast). */

#define QUANT_INLINE static inline __attribute__((always_inline))

/* The most columns one body takes (arrays of per-column state). */
#define QUANT_COLS 8

/* Activation row c of a tile. */
QUANT_INLINE const void *act_col(const void *a, size_t a_stride, int c)
{
    return (const char *)a + (size_t)c * a_stride;
}

/* Columns a kernel takes at once so that their activation rows (bytes
 * each) stay in a 32 KiB L1 data cache beside the weight rows streaming
 * through it: at most max, at least 1. */
QUANT_INLINE int cols_fit_l1(size_t bytes, int max)
{
    size_t k = (16 * 1024) / (bytes ? bytes : 1);
    return k < 1 ? 1 : k > (size_t)max ? max : (int)k;
}

/* dot_NAME, a quant_dot_fn: BODY at nc = 1. */
#define QUANT_DOT_FN(name, body)                                                                   \
    static float dot_##name(size_t n, const void *w, const void *a)                                \
    {                                                                                              \
        float r;                                                                                   \
        body(n, w, a, 0, 1, &r, 0);                                                                \
        return r;                                                                                  \
    }

/* The columns of one pass: the largest power of two <= min(nc, width), so
 * that four instances of a body (1, 2, 4, 8 columns) cover every count. */
QUANT_INLINE int cols_pass(size_t nc, int width)
{
    size_t k = nc < (size_t)width ? nc : (size_t)width;
    return k >= 8 ? 8 : k >= 4 ? 4 : k >= 2 ? 2 : 1;
}

/* BODY(..., K, ...) for K = k, one of 1, 2, 4, 8. */
#define QUANT_BY_COLS(k, body, pre, post)                                                          \
    switch (k) {                                                                                   \
    case 8:                                                                                        \
        body(QUANT_UNPAREN pre, 8, QUANT_UNPAREN post);                                            \
        break;                                                                                     \
    case 4:                                                                                        \
        body(QUANT_UNPAREN pre, 4, QUANT_UNPAREN post);                                            \
        break;                                                                                     \
    case 2:                                                                                        \
        body(QUANT_UNPAREN pre, 2, QUANT_UNPAREN post);                                            \
        break;                                                                                     \
    default:                                                                                       \
        body(QUANT_UNPAREN pre, 1, QUANT_UNPAREN post);                                            \
        break;                                                                                     \
    }
#define QUANT_UNPAREN(...) __VA_ARGS__

/* tile_NAME, a quant_dot_tile_fn running ROWS (below) on passes of up to
 * `width` columns (an expression that may use n); each pass runs over all
 * the rows, so its activation rows stay in L1, and width also keeps a
 * body's per-column state in registers. Every dot is computed once,
 * independently of the grouping, so any tile gives the same bits. */
#define QUANT_TILE_DEF(name, width, rows)                                                          \
    static void tile_##name(size_t n, const void *w, size_t ws, size_t nr, const void *a,          \
                            size_t as, size_t nc, float *out, size_t os)                           \
    {                                                                                              \
        for (int k; nc > 0; nc -= (size_t)k, a = act_col(a, as, k), out += (size_t)k * os) {       \
            k = cols_pass(nc, (width));                                                            \
            rows                                                                                   \
        }                                                                                          \
    }

/* From a one-row BODY(n, w, a, as, nc, out, os). */
#define QUANT_TILE_FN(name, body, width)                                                           \
    QUANT_TILE_DEF(name, width,                                                                    \
                   for (size_t r = 0; r < nr; r++) QUANT_BY_COLS(                                  \
                       k, body, (n, (const char *)w + r * ws, a, as), (out + r, os)))

/* From BODY1 and a two-row BODY2(n, w, w_stride, a, as, nc, out, os), which
 * lets each activation load serve two weight rows; rows are paired where
 * the expression pair (which may use n) holds. */
#define QUANT_TILE2_FN(name, body1, body2, width, pair)                                            \
    QUANT_TILE_DEF(name, width, {                                                                  \
        size_t r = 0;                                                                              \
        for (; (pair) && r + 2 <= nr; r += 2)                                                      \
            QUANT_BY_COLS(k, body2, (n, (const char *)w + r * ws, ws, a, as), (out + r, os))       \
        for (; r < nr; r++)                                                                        \
            QUANT_BY_COLS(k, body1, (n, (const char *)w + r * ws, a, as), (out + r, os))           \
    })

/* One implementation's kernels. dot[t] and dot_tile[t] are NULL for
 * unsupported types; dot_tile[t] matches dot[t] bit for bit per dot. The
 * converters take n values (act_q8: nb blocks of 32; act_q8k: nb of 256). */
struct quant_kernels {
    const char *name;
    quant_dot_fn dot[QT_COUNT];
    quant_dot_tile_fn dot_tile[QT_COUNT];
    void (*act_q8)(const float *x, struct act_q8 *y, size_t nb);
    void (*act_q8k)(const float *x, struct act_q8k *y, size_t nb);
    void (*act_f16)(const float *x, uint16_t *y, size_t n);
    void (*act_bf16)(const float *x, uint16_t *y, size_t n);
};

#if defined(__x86_64__) || defined(__i386__)
#define QUANT_HAVE_AVX2_BUILD 1
/* In quant_avx2.c; use only when the CPU has AVX2, FMA and F16C. */
extern const struct quant_kernels quant_avx2_kernels;
/* In quant_avx512.c: some dots and tile dots (other entries NULL);
 * use only when the CPU also has AVX-512 F, BW, VL and VNNI. */
extern const struct quant_kernels quant_avx512_kernels;
#endif

#endif
