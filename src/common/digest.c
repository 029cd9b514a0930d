/* SPDX-License-Identifier: MIT */
/* SHA-256 file digests (libsodium) and hex helpers. */
#include "common/digest.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int digest_file(const char *path, char out[DIGEST_LEN + 1], char err[FIEF_ERR_LEN])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fief_errf(err, FIEF_EIO, "%s: cannot open: %s", path, strerror(errno));
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) {
        fclose(f);
        return fief_errf(err, FIEF_ENOMEM, "out of memory");
    }
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    size_t got;
    while ((got = fread(buf, 1, CHUNK, f)) > 0)
        crypto_hash_sha256_update(&st, buf, got);
    int bad = ferror(f);
    fclose(f);
    free(buf);
    if (bad)
        return fief_errf(err, FIEF_EIO, "%s: read error", path);
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&st, h);
    memcpy(out, "sha256:", 7);
    hex_encode(h, sizeof h, out + 7);
    return 0;
}

void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = 0;
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int hex_decode(const char *in, size_t len, unsigned char *out, size_t n)
{
    if (len != 2 * n)
        return FIEF_EINVAL;
    for (size_t i = 0; i < n; i++) {
        int hi = nibble(in[2 * i]), lo = nibble(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return FIEF_EINVAL;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}
