/* SPDX-License-Identifier: MIT */
/* The miner's identity: an ed25519 key pair kept in DATA/miner.key. */
#ifndef FIEF_MINER_IDENT_H
#define FIEF_MINER_IDENT_H

#include <stdbool.h>

#include "common/err.h"

#define IDENT_FILE "miner.key"

struct ident {
    unsigned char pk[32]; /* public key */
    unsigned char sk[64]; /* libsodium secret key (seed || public key) */
    char pk_hex[65];      /* the miner's id on the wire */
};

/* Load DIR/miner.key, or create it (and DIR, mode 0700) when absent, with
 * mode 0600. A file that exists but is not a well-formed key is refused,
 * never overwritten. *created tells which happened. A key readable by group
 * or others is loaded with a warning in the log. Returns 0, or FIEF_EIO
 * (cannot create/read), FIEF_EFORMAT (malformed file) with err set. */
int ident_load(const char *dir, struct ident *out, bool *created, char err[FIEF_ERR_LEN]);

/* Sign len bytes of msg; sig_hex receives 128 hex characters + NUL. */
void ident_sign(const struct ident *id, const void *msg, unsigned long long len, char sig_hex[129]);

/* Wipe the secret key from memory. */
void ident_wipe(struct ident *id);

#endif
