/* SPDX-License-Identifier: MIT */
/* The table of ggml tensor types (block size, bytes per block) and the
 * half/bfloat16 conversions. Kernels live in quant.c and quant_avx2.c. */
#include "engine/quant.h"

#include <string.h>

static const struct qtype_info types[QT_COUNT] = {
    [QT_F32] = {"f32", 1, 4, true},
    [QT_F16] = {"f16", 1, 2, true},
    [QT_Q4_0] = {"q4_0", 32, 18, true},
    [QT_Q4_1] = {"q4_1", 32, 20, false},
    [QT_Q5_0] = {"q5_0", 32, 22, false},
    [QT_Q5_1] = {"q5_1", 32, 24, false},
    [QT_Q8_0] = {"q8_0", 32, 34, true},
    [QT_Q8_1] = {"q8_1", 32, 36, false},
    [QT_Q2_K] = {"q2_K", 256, 84, false},
    [QT_Q3_K] = {"q3_K", 256, 110, false},
    [QT_Q4_K] = {"q4_K", 256, 144, true},
    [QT_Q5_K] = {"q5_K", 256, 176, false},
    [QT_Q6_K] = {"q6_K", 256, 210, true},
    [QT_Q8_K] = {"q8_K", 256, 292, false},
    [16] = {"iq2_xxs", 256, 66, false},
    [17] = {"iq2_xs", 256, 74, false},
    [18] = {"iq3_xxs", 256, 98, false},
    [19] = {"iq1_s", 256, 50, false},
    [20] = {"iq4_nl", 32, 18, false},
    [21] = {"iq3_s", 256, 110, false},
    [22] = {"iq2_s", 256, 82, false},
    [23] = {"iq4_xs", 256, 136, false},
    [24] = {"i8", 1, 1, false},
    [25] = {"i16", 1, 2, false},
    [26] = {"i32", 1, 4, false},
    [27] = {"i64", 1, 8, false},
    [28] = {"f64", 1, 8, false},
    [29] = {"iq1_m", 256, 56, false},
    [QT_BF16] = {"bf16", 1, 2, true},
    [34] = {"tq1_0", 256, 54, false},
    [35] = {"tq2_0", 256, 66, false},
};

const struct qtype_info *qtype_info(uint32_t type)
{
    if (type >= QT_COUNT || types[type].name == NULL)
        return NULL;
    return &types[type];
}

size_t qtype_row_size(uint32_t type, size_t n)
{
    const struct qtype_info *t = qtype_info(type);
    return t ? n / t->blck * t->size : 0;
}

/* ---- half precision ---- */

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float quant_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0x1f) /* inf / nan */
        return u2f(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (man == 0)
            return u2f(sign);
        /* subnormal: value = man * 2^-24 */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return u2f(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t quant_f32_to_f16(float f)
{
    uint32_t u = f2u(f);
    uint32_t sign = (u >> 16) & 0x8000;
    uint32_t a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (a > 0x7f800000u ? 0x200 : 0));
    if (a >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00);
    if (a < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
        float v = u2f(a) * 16777216.0f; /* scale by 2^24: integer units of 2^-24 */
        uint32_t m = (uint32_t)v;
        float rem = v - (float)m;
        if (rem > 0.5f || (rem == 0.5f && (m & 1)))
            m++;
        return (uint16_t)(sign | m);
    }
    /* normal: round mantissa from 23 to 10 bits, nearest even */
    uint32_t r = a + 0xfffu + ((a >> 13) & 1);
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

float quant_bf16_to_f32(uint16_t h)
{
    return u2f((uint32_t)h << 16);
}

uint16_t quant_f32_to_bf16(float f)
{
    uint32_t u = f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* nan: keep it a quiet nan */
        return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}
