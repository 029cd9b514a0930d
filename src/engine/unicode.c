/* SPDX-License-Identifier: MIT */
/* UTF-8 decoding/encoding and code point class lookup (binary search over the
 * generated range table, with a direct table for ASCII, which dominates). */
#include "engine/unicode.h"

static uint8_t lookup(uint32_t cp)
{
    size_t lo = 0, hi = uni_n_ranges; /* invariant: start[lo] <= cp < start[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (uni_range_start[mid] <= cp)
            lo = mid;
        else
            hi = mid;
    }
    return uni_range_flags[lo];
}

uint8_t uni_flags(uint32_t cp)
{
    if (cp < 128)
        return uni_ascii_flags[cp];
    return cp > UNI_MAX ? 0 : lookup(cp);
}

size_t uni_decode(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t n;
    uint32_t c;
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    if (u[0] >= 0xC2 && u[0] <= 0xDF) {
        n = 2;
        c = u[0] & 0x1F;
    } else if ((u[0] & 0xF0) == 0xE0) {
        n = 3;
        c = u[0] & 0x0F;
    } else if (u[0] >= 0xF0 && u[0] <= 0xF4) {
        n = 4;
        c = u[0] & 0x07;
    } else {
        goto bad;
    }
    if (n > len)
        goto bad;
    for (size_t i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80)
            goto bad;
        c = (c << 6) | (u[i] & 0x3F);
    }
    if (c < min_cp[n] || c > UNI_MAX || (c >= 0xD800 && c <= 0xDFFF))
        goto bad;
    *cp = c;
    return n;
bad:
    *cp = UNI_REPLACEMENT;
    return 1;
}

size_t uni_encode(uint32_t cp, char out[4])
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp > UNI_MAX)
        return 0;
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}
