/* SPDX-License-Identifier: MIT */
/* The receipts a pool sends for the requests it settled: each is checked
 * against the pool's published key (from its hello reply) and filed in the
 * miner's data directory, DATA/receipts.jsonl, one canonical receipt per
 * line; one that fails the check goes to DATA/receipts.rejected.jsonl. Each
 * line is what `fief receipt verify` reads, so a miner can prove what it was
 * owed. Loop thread; the files are opened for each receipt. */
#ifndef FIEF_MINER_RECEIPTS_H
#define FIEF_MINER_RECEIPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "proto/proto.h"

#define RECEIPTS_FILE "receipts.jsonl"
#define RECEIPTS_REJECTED "receipts.rejected.jsonl"

struct receipts_share {
    int64_t earned;  /* micro-credits this miner's shares pay */
    uint32_t tokens; /* tokens of those shares */
    int64_t cost;    /* what the request cost the customer */
    char model[PROTO_MAX_NAME + 1];
};

/* Check receipt r against pool_key (64 hex digits; NULL or "" when the pool
 * published none: then only against the key the receipt names, which proves
 * nothing about who signed it) and file it in dir. my_pubkey is this miner's
 * key: *out gets its shares (zeros when the receipt does not name it).
 * Returns 0 (filed in RECEIPTS_FILE), FIEF_EPROTO or FIEF_EFORMAT (bad
 * signature, not a receipt: filed in RECEIPTS_REJECTED) with err saying why,
 * or FIEF_EIO (cannot write; err says where). */
int receipts_file(const char *dir, const char *pool_key, const char *my_pubkey,
                  const struct proto_receipt *r, struct receipts_share *out,
                  char err[FIEF_ERR_LEN]);

#endif
