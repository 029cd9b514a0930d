/* SPDX-License-Identifier: MIT */
/* Reading the books for operators: transactions with their postings
 * (`fief ledger show`, GET /admin/ledger) and payout batches (`fief payouts
 * list`, /admin/payouts). Committed rows only; the caller's thread, on the
 * store's read connection, like every other read (see store.h). */
#ifndef FIEF_LEDGER_ADMIN_H
#define FIEF_LEDGER_ADMIN_H

#include "ledger/ledger.h"

/* "CUSTOMER", "HELD", ... and back (case-insensitive); 0 or FIEF_EINVAL. */
const char *ledger_kind_name(enum ledger_kind k);
int ledger_kind_parse(const char *name, enum ledger_kind *out);

struct ledger_txn_info {
    int64_t id;
    char type[16];  /* hold, settle, release, mature, deposit, payout, confirm, cancel,
                       forfeit, refund, audit_pay */
    char ref[65];   /* the request id, the batch id, the key id of a deposit, the audit
                       id of a forfeit */
    char memo[257];
    int64_t created_ms;
};

struct ledger_post_info {
    enum ledger_kind kind;
    char owner[65]; /* key id in decimal, miner pubkey, or "" */
    int64_t amount; /* micro-credits; the postings of a transaction sum to 0 */
};

struct ledger_txn_filter {
    enum ledger_kind kind; /* only transactions touching an account of this kind; 0: any */
    const char *owner;     /* ... and this owner; NULL: any */
    int64_t before;        /* only ids below this; 0: from the newest */
    uint32_t limit;        /* at most this many (0: 50; capped at 1000) */
};

/* Transactions matching f, newest first, each with its postings; cb gets
 * arrays valid during the call and returns non-zero to stop. 0, FIEF_EIO. */
int ledger_txn_list(struct store *s, const struct ledger_txn_filter *f,
                    int (*cb)(void *ud, const struct ledger_txn_info *t,
                              const struct ledger_post_info *p, uint32_t n),
                    void *ud);

struct ledger_batch_info {
    int64_t id;
    int state;       /* 1 created, 2 confirmed, 3 cancelled */
    int64_t total;   /* micro-credits */
    uint32_t n_lines;
    int64_t created_ms, closed_ms;
};
const char *ledger_batch_state_name(int state);

/* Payout batches, newest first; cb returns non-zero to stop. 0, FIEF_EIO. */
int ledger_payout_list(struct store *s, int (*cb)(void *ud, const struct ledger_batch_info *b),
                       void *ud);
/* One batch: 0, FIEF_ENOTFOUND, FIEF_EIO. */
int ledger_payout_get(struct store *s, int64_t id, struct ledger_batch_info *out);

#endif
