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

/* ---- activation blocks (ours; never stored in files) ---- */

/* For Q8_0/Q4_0 weights, per block of 32: d = amax/127, q = round(x/d) in
 * [-127, 127], and s = d * sum(q), which lets the Q4_0 SIMD kernel use the
 * unsigned nibbles directly (sum((w-8)*a) = sum(w*a) - 8*sum(a)). Blocks are
 * stored in groups of 8 (256 values; the last group of a row is padded with
 * zeros), scales apart from quants so a kernel loads 8 of them at once, and
 * the quants of each 4 blocks split by half: [lo 16 of blocks 0,1,2,3 | hi 16
 * of blocks 0,1,2,3], then the same for blocks 4-7. A register of Q4_0 low
 * nibbles of consecutive blocks then meets its activations with no shuffle. */
#define AQ_BLKS 8
struct act_q8 {
    float d[AQ_BLKS];
    float s[AQ_BLKS];
    int8_t q[AQ_BLKS * QK];
};

/* Offset in act_q8.q of quants j..j+15 (j = 0 or 16) of block b (0..7). */
static inline int act_q8_pos(int b, int j)
{
    return 128 * (b >> 2) + 4 * j + 16 * (b & 3);
}

/* For the K-quants: as above over 256 values, plus bsums[k] = the sum of
 * q[16k .. 16k+15] for the Q4_K min term and the Q6_K -32 offset. */
struct act_q8k {
    float d;
    int8_t q[QKK];
    int16_t bsums[QKK / 16];
};

_Static_assert(sizeof(struct blk_q8_0) == 34, "q8_0 block is 34 bytes");
_Static_assert(sizeof(struct blk_q4_0) == 18, "q4_0 block is 18 bytes");
_Static_assert(sizeof(struct blk_q4_k) == 144, "q4_K block is 144 bytes");
_Static_assert(sizeof(struct blk_q6_k) == 210, "q6_K block is 210 bytes");
_Static_assert(sizeof(struct act_q8k) == 292, "q8_K block is 292 bytes");

/* Scale and inverse scale of an activation block whose largest magnitude is
 * amax. Both implementations call this so their int8 values are identical. */
static inline void act_scale(float amax, float *d, float *id)
{
    *d = amax / 127.0f;
    *id = amax > 0.0f ? 127.0f / amax : 0.0f;
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

/* One implementation's kernels. dot[t] is NULL for unsupported types. */
struct quant_kernels {
    const char *name;
    quant_dot_fn dot[QT_COUNT];
    void (*act_q8)(const float *x, struct act_q8 *y, size_t nb);   /* nb blocks */
    void (*act_q8k)(const float *x, struct act_q8k *y, size_t nb); /* nb blocks */
};

#if defined(__x86_64__) || defined(__i386__)
#define QUANT_HAVE_AVX2_BUILD 1
/* In quant_avx2.c; use only when the CPU has AVX2, FMA and F16C. */
extern const struct quant_kernels quant_avx2_kernels;
#endif

#endif
