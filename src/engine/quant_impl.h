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

/* One implementation's kernels. dot[t] is NULL for unsupported types. The
 * converters take n values (act_q8: nb blocks of 32; act_q8k: nb of 256). */
struct quant_kernels {
    const char *name;
    quant_dot_fn dot[QT_COUNT];
    void (*act_q8)(const float *x, struct act_q8 *y, size_t nb);
    void (*act_q8k)(const float *x, struct act_q8k *y, size_t nb);
    void (*act_f16)(const float *x, uint16_t *y, size_t n);
    void (*act_bf16)(const float *x, uint16_t *y, size_t n);
};

#if defined(__x86_64__) || defined(__i386__)
#define QUANT_HAVE_AVX2_BUILD 1
/* In quant_avx2.c; use only when the CPU has AVX2, FMA and F16C. */
extern const struct quant_kernels quant_avx2_kernels;
/* In quant_avx512.c: the integer dots only (other entries NULL); use only
 * when the CPU also has AVX-512 F, BW, VL and VNNI. */
extern const struct quant_kernels quant_avx512_kernels;
#endif

#endif
