/* SPDX-License-Identifier: MIT */
/* Audits in the store and the books (docs/audits.md): every finished audit
 * with its evidence (table audits), reputation per key (table reputation),
 * bans (miners.banned, ban_reason, banned_ms, ban_audit), and what confirmed
 * fraud costs:
 *
 *   forfeit   PENDING(m) -x  FORFEIT +x              (all of m's unmatured earnings)
 *   refund    FORFEIT -share  POOL_FEE -fee  CUSTOMER(k) +(share + fee)
 *             (per request whose settlement paid m; fee = the fee on m's share)
 *   audit pay POOL_FEE -x  PENDING(auditor) +x       (each completed score)
 *
 * A forfeit transaction's ref is the id of the audit that banned the key;
 * a refund's is the request id, with a row in table refunds naming the
 * audit. A refund leaves the request's settlement and signed receipt as
 * issued. Writes are queued to the store's write thread like settlements
 * (so they commit after every settlement queued before them), each in one
 * database transaction. Reads run on the caller's connection. */
#ifndef FIEF_LEDGER_AUDIT_H
#define FIEF_LEDGER_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "ledger/store.h"

enum ledger_audit_outcome {
    LAO_PASSED = 1, /* the first auditor passed the part */
    LAO_CLEARED,    /* failed once, then passed by the majority of three */
    LAO_CONFIRMED,  /* failed by the majority: fraud, the miner is punished */
    LAO_UNDECIDED,  /* failed once, no independent auditor to confirm: nothing happens */
    LAO_ABANDONED,  /* no auditor answered in time: nothing happens */
};
/* "passed", "cleared", ...; "?" for anything else. */
const char *ledger_audit_outcome_name(int outcome);

#define LEDGER_AUDITORS 3 /* at most, per audit: first, confirming, deciding */
#define LEDGER_BAN_REASON 256

/* A change to one key's reputation; ban: punish it (see ledger_audit_record). */
struct ledger_rep_delta {
    char pubkey[65];
    int32_t passed, failed, confirmed; /* as the audited miner */
    int32_t agreed, disagreed;         /* as an auditor */
    bool ban;
    char reason[LEDGER_BAN_REASON + 1]; /* with ban: why the key is banned */
};

struct ledger_audit {
    char job[65];
    uint32_t part;
    char model[65];
    char miner[65];     /* the audited key */
    uint32_t from, n;   /* completion tokens [from, from + n) */
    uint32_t positions; /* prompt + part, scored by each auditor */
    enum ledger_audit_outcome outcome;
    uint32_t n_auditors;
    char auditors[LEDGER_AUDITORS][65];
    const char *evidence; /* JSON text, copied; NULL: "{}" */
    uint32_t n_deltas;
    struct ledger_rep_delta deltas[1 + LEDGER_AUDITORS];
    int64_t created_ms; /* 0: now */
};

/* Queue the record of a finished audit, all in one transaction: its row in
 * audits, the reputation deltas, and for each delta with ban set: the ban
 * (kept as it was when the key is banned already) and the forfeit of the
 * key's PENDING with a refund for each request it was earned on. Never
 * fails on the caller's side; a malformed record is a bug, logged and
 * dropped. Loop thread. */
void ledger_audit_record(struct store *s, const struct ledger_audit *a);

/* Queue an auditor's pay for one completed score: amount (> 0) from
 * POOL_FEE to the auditor's PENDING, maturing like any earning; when
 * POOL_FEE holds less, what it holds is paid and the shortfall logged
 * (POOL_FEE never goes below 0 for auditors). ref names the score. */
void ledger_audit_pay(struct store *s, const char *auditor, int64_t amount, const char *ref);

/* Queue the forfeit (and refunds) of what banned keys earned after their
 * ban (a request that settled after the audit): the pool runs it with the
 * maturity every minute. Earnings of banned keys never mature. */
void ledger_forfeit_sweep_async(struct store *s);

/* ---- reading ---- */

struct ledger_rep {
    char pubkey[65];
    int64_t passed, failed, confirmed, agreed, disagreed;
    bool banned;
    char ban_reason[LEDGER_BAN_REASON + 1];
    int64_t banned_ms, ban_audit;
};
/* Every key with a reputation row or a ban, committed; cb returns non-zero
 * to stop. 0 or FIEF_EIO. */
int ledger_rep_load(struct store *s, int (*cb)(void *ud, const struct ledger_rep *r), void *ud);

struct ledger_audit_totals {
    int64_t forfeited;   /* micro-credits ever moved PENDING -> FORFEIT */
    int64_t refunded;    /* ... given back to customers (shares and fees) */
    int64_t auditor_pay; /* ... paid to auditors */
};
int ledger_audit_totals(struct store *s, struct ledger_audit_totals *out);

struct ledger_audit_info { /* one audit of a miner, for its public page */
    int64_t id;
    char job[65];
    uint32_t part, from, n;
    char model[65];
    int outcome;
    uint32_t n_auditors;
    int64_t created_ms;
};
/* The latest audits of the miner pubkey, newest first: at most cap. 0 or FIEF_EIO. */
int ledger_audits_of(struct store *s, const char *pubkey, struct ledger_audit_info *out,
                     uint32_t cap, uint32_t *n);

/* ---- arithmetic ---- */

/* The fee on a miner's share of a settlement of cost and fee:
 * floor(fee * share / (cost - fee)), so the fees refunded on all shares of
 * a request never add up to more than its fee. 0 when cost <= fee. */
int64_t ledger_refund_fee(int64_t share, int64_t cost, int64_t fee);

#endif
