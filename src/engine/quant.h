/* SPDX-License-Identifier: MIT */
/* Tensor element types, their block layouts, and the kernels the forward pass
 * needs from them: dequantize a row, and dot a weight row with an activation
 * row.
 *
 * Type ids and block layouts are ggml's, because GGUF files use them:
 *   F32   1 float                      BF16 top 16 bits of a float
 *   F16   IEEE half                    Q8_0 32 weights: f16 d, int8 q[32]     (x = d*q)
 *   Q4_0  32 weights: f16 d, u8 q[16]  x[j] = d*((q[j]&15)-8), x[j+16] = d*((q[j]>>4)-8)
 *   Q4_K  256 weights: f16 d, f16 dmin, u8 scales[12] (8 packed 6-bit scale/min
 *         pairs), u8 q[128]; x = d*sc*q - dmin*m per 32-weight sub-block
 *   Q6_K  256 weights: u8 ql[128], u8 qh[64], i8 scales[16], f16 d;
 *         x = d*scale*(6-bit q - 32) per 16-weight sub-block
 *
 * Matrix-vector products do not dequantize the weights: the activation row is
 * first converted once to the weight type's "activation type" (quant_act_type),
 * then each weight row is dotted with it by quant_dot_fn. The activation
 * types and their rounding are llama.cpp's (its vec_dot_type), so both engines
 * decide near-ties alike: for Q8_0/Q4_0 weights Q8_0-like (blocks of 32 int8
 * with an f16 scale, stored in groups of 8 blocks), for the K-quants Q8_K
 * (blocks of 256 int8 with a float scale and 16 partial sums), for F16 and
 * BF16 weights the same half type, for F32 plain F32. Integer products are
 * exact, so the SIMD and the portable kernels differ only in float summation
 * order, and convert activations to identical bytes.
 *
 * Kernels are chosen once at start-up from the CPU (AVX2+FMA+F16C when
 * present, plus AVX-512 F/BW/VL/VNNI dots for Q4_0 and Q6_K when those are);
 * quant_set_simd(false) forces the portable C kernels (tests, and miners that
 * want to cross-check). All functions are thread-safe after quant_init(),
 * which eng_* calls for you; switching kernels while another thread runs a
 * matrix product is safe but mixes implementations within it. */
#ifndef FIEF_QUANT_H
#define FIEF_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum qtype {
    QT_F32 = 0,
    QT_F16 = 1,
    QT_Q4_0 = 2,
    QT_Q4_1 = 3,
    QT_Q5_0 = 6,
    QT_Q5_1 = 7,
    QT_Q8_0 = 8,
    QT_Q8_1 = 9,
    QT_Q2_K = 10,
    QT_Q3_K = 11,
    QT_Q4_K = 12,
    QT_Q5_K = 13,
    QT_Q6_K = 14,
    QT_Q8_K = 15,
    QT_BF16 = 30,
    QT_COUNT = 40, /* ids below this may be known to qtype_info */
};

struct qtype_info {
    const char *name; /* "q4_K" etc., as ggml names it */
    uint32_t blck;    /* elements per block */
    uint32_t size;    /* bytes per block */
    bool supported;   /* the engine has kernels for it */
};

/* Layout of any ggml type id GGUF files may contain (so files with types we
 * cannot run still parse, and fail later with a clear message), or NULL for
 * an id that is not a ggml type. */
const struct qtype_info *qtype_info(uint32_t type);

/* Bytes of a row of n elements of type t; n must be a multiple of blck. */
size_t qtype_row_size(uint32_t type, size_t n);

/* Call once before any kernel (idempotent, thread-safe). */
void quant_init(void);
/* false: portable C kernels; true: the best the CPU supports. */
void quant_set_simd(bool on);
/* Select kernels by name: "portable", "avx2" or "avx512" (the AVX2 kernels
 * with AVX-512 VNNI Q4_0 and Q6_K dots). 0, or FIEF_EUNSUPPORTED when this
 * CPU (or this build) lacks them; the selection is then unchanged. */
int quant_set_kernels(const char *name);
/* "portable", "avx2" or "avx512": the kernels now in use. */
const char *quant_simd_name(void);

/* IEEE half and bfloat16 conversions (round to nearest even). */
float quant_f16_to_f32(uint16_t h);
uint16_t quant_f32_to_f16(float f);
float quant_bf16_to_f32(uint16_t h);
uint16_t quant_f32_to_bf16(float f);

/* Dequantize n elements (multiple of blck) of a supported type. */
void quant_dequant_row(uint32_t type, const void *src, float *dst, size_t n);

/* Quantize n floats to Q8_0 or Q4_0 (weight formats, used by gen-model). */
void quant_quantize_row(uint32_t type, const float *src, void *dst, size_t n);

/* The activation type for weights of type wtype (QT_F32, QT_F16, QT_BF16,
 * QT_Q8_0 or QT_Q8_K): weight types with equal activation types can share
 * one converted row. And the bytes a converted row of n elements takes
 * (n a multiple of the weight type's block; Q8_0 rounds up to 256 values). */
uint32_t quant_act_type(uint32_t wtype);
size_t quant_act_size(uint32_t wtype, size_t n);
/* Convert an activation row for dotting with wtype weights. dst holds
 * quant_act_size(wtype, n) bytes and needs only 4-byte alignment. A whole
 * row costs about n/4 ns with the SIMD kernels (n = 4096: ~1 us); columns
 * [c, c+m) of a converted row, c a multiple of 256, start at byte
 * quant_act_size(wtype, c). NaN or infinite inputs give unspecified (but
 * memory-safe) results. */
void quant_act_convert(uint32_t wtype, const float *x, void *dst, size_t n);

/* dot(weight row w of n elements, converted activation row a). w needs only
 * its type's natural alignment (2 bytes; 4 for F32), as mmap'd GGUF tensors
 * have. Deterministic: the same inputs and kernels give the same bits. */
typedef float (*quant_dot_fn)(size_t n, const void *w, const void *a);
/* Kernel for a supported weight type under the current SIMD setting. */
quant_dot_fn quant_dot(uint32_t wtype);

/* Convert an activation row for quant_dot_tile: the values quant_act_convert
 * gives (the same rounding, bit for bit), in the layout the many-row
 * kernels read, which for Q8_0 and Q4_0 weights is transposed so that one
 * vector lane accumulates a whole block. Same size (quant_act_size), same
 * alignment needs, same layout under every kernel selection; the row is
 * opaque (no column offsets). */
void quant_act_convert_cols(uint32_t wtype, const float *x, void *dst, size_t n);

/* The nr x nc dots of weight rows w, w + w_stride, ... (each n elements)
 * with activation rows a, a + a_stride, ... converted by
 * quant_act_convert_cols (a_stride a multiple of 4 bytes): row r and
 * column c give, in out[r + c * out_stride], exactly the float
 *   quant_dot(wtype)(n, w + r * w_stride, a_c)
 * where a_c is the same activations converted by quant_act_convert, under
 * the same kernel selection. Each dot goes through the same float
 * operations in the same order as the single dot; only the integer work is
 * shared or rearranged, and integer sums are exact. Sharing each weight
 * block's unpacking among columns, and each activation load among rows, is
 * what makes a batch of tokens (prefill, scoring) cheaper per token than
 * decoding. Callers pick the tile: the kernel keeps a few columns' worth of
 * activations in L1 while the tile's weight rows, which should fit in L2,
 * stream past them once per few columns. */
typedef void (*quant_dot_tile_fn)(size_t n, const void *w, size_t w_stride, size_t nr,
                                  const void *a, size_t a_stride, size_t nc, float *out,
                                  size_t out_stride);
/* Tile kernel for a supported weight type, current SIMD setting. */
quant_dot_tile_fn quant_dot_tile(uint32_t wtype);

#endif
