/* SPDX-License-Identifier: MIT */
/* Checking a signed receipt (what a settled request cost and who earned
 * what): its shape and its ed25519 signature. A pure function of the text and
 * a key, shared by the ledger, which signs receipts, and the miner, which
 * receives them, so the miner needs no database to check what it is owed.
 *
 * A receipt is one JSON object, integers only; the signature (hex, field
 * "signature") covers exactly the bytes of the object without "signature" as
 * json_dumps(JSON_COMPACT | JSON_SORT_KEYS) writes them. docs/operating.md
 * lists the fields. */
#ifndef FIEF_RECEIPT_H
#define FIEF_RECEIPT_H

#include <stdint.h>

#include "common/err.h"

#define RECEIPT_VERSION 1
#define RECEIPT_MAX_AMOUNT (1LL << 62) /* = LEDGER_MAX_AMOUNT: no share is larger */

/* Verify json's signature against pubkey_hex (64 hex digits), or against the
 * key the receipt names itself (its "pool_key") when pubkey_hex is NULL,
 * which proves only that it was not changed. 0, FIEF_EFORMAT (not a receipt
 * of this version: a field missing or of the wrong type, a non-integer
 * number, shares and fee that do not add up to the cost), FIEF_EPROTO (bad
 * signature), FIEF_EIO (libsodium would not start), with err set. Any
 * thread. */
int receipt_verify(const char *json, const char *pubkey_hex, char err[FIEF_ERR_LEN]);

/* Micro-credits as credits with all 6 decimals, exactly (no floating point):
 * 1800 -> "0.001800", -12500000 -> "-12.500000". Returns out. */
const char *receipt_credits(int64_t micro, char out[32]);

#endif
