/* SPDX-License-Identifier: MIT */
/* File digests: how a miner proves which model file it runs and how the pool
 * names the file it registered. */
#ifndef FIEF_DIGEST_H
#define FIEF_DIGEST_H

#include <stddef.h>

#include "common/err.h"

#define DIGEST_LEN 71 /* "sha256:" + 64 lowercase hex */

/* SHA-256 of the whole file as "sha256:<hex>" (out holds DIGEST_LEN + 1).
 * Streams the file in 1 MiB reads. Returns 0 or FIEF_EIO with err set. */
int digest_file(const char *path, char out[DIGEST_LEN + 1], char err[FIEF_ERR_LEN]);

/* Lowercase hex of n bytes into out (2n + 1 bytes). */
void hex_encode(const unsigned char *in, size_t n, char *out);
/* Parse exactly 2n hex characters (either case); 0 or FIEF_EINVAL. */
int hex_decode(const char *in, size_t len, unsigned char *out, size_t n);

#endif
