/* SPDX-License-Identifier: MIT */
/* The books: double-entry accounts in integer micro-credits (1 credit =
 * 1,000,000 micro-credits; no floating point anywhere in money). Every
 * transaction is a set of postings that sums to zero, written in one database
 * transaction through the store (SQLite by default, PostgreSQL by config).
 *
 * Accounts (kind, owner):
 *   LA_CUSTOMER   key id   what a customer can spend
 *   LA_HELD       key id   reserved by requests in flight (holds)
 *   LA_PENDING    pubkey   a miner's earnings inside the maturity window
 *   LA_AVAILABLE  pubkey   a miner's matured earnings, payable
 *   LA_PAYING     pubkey   in a payout batch not yet confirmed
 *   LA_POOL_FEE   -        the pool's cut
 *   LA_DEPOSITS   -        the outside world: credit bought by customers
 *   LA_PAYOUTS    -        the outside world: money paid to miners
 *   LA_FORFEIT    -        earnings confiscated from cheaters (audits)
 *
 * Money flow of one request (prices per million tokens, fee in ppm):
 *   hold      CUSTOMER -max  HELD +max                      (before dispatch)
 *   settle    HELD -max  CUSTOMER +(max-cost)  PENDING(m) +share(m)...  POOL_FEE +fee
 *   mature    PENDING(m) -x  AVAILABLE(m) +x                (after maturity_s)
 *   payout    AVAILABLE(m) -x  PAYING(m) +x                 (fief payouts create)
 *   confirm   PAYING(m) -x  PAYOUTS +x                      (fief payouts confirm)
 *   cancel    PAYING(m) -x  AVAILABLE(m) +x                 (fief payouts cancel)
 *   deposit   DEPOSITS -x  CUSTOMER +x                      (admin credit)
 *   forfeit, refund, audit pay: confirmed fraud and auditors (ledger_audit.h)
 *
 * Threads: the ledger_* calls that take a struct store run on that store's
 * caller thread (the pool's event loop); writes are queued to the store's
 * write thread and committed in groups, so a request never waits on the
 * disk. What the loop must see at once (a customer's spendable credit) is
 * the committed balance plus the effect of this process's writes still in
 * the queue, which the ledger tracks in memory: each queued hold or
 * settlement carries its change to the key's balance; the write thread
 * records the last sequence number it committed in the same transaction
 * (table writers), so a read knows exactly which queued changes its
 * snapshot already holds, and drops them from memory after the commit.
 * Receipts are signed on the write thread (not the loop); a settlement's
 * notice with its receipt is queued there after the commit and handed to
 * the loop through ledger_on_settled's wake-up and ledger_settled_poll.
 *
 * One pool per database: `fief pool` takes ledger_pool_lock, and
 * ledger_release_stale_holds releases every open hold but its own. */
#ifndef FIEF_LEDGER_H
#define FIEF_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "ledger/store.h"

#define LEDGER_MICRO 1000000LL           /* micro-credits per credit */
#define LEDGER_MAX_AMOUNT (1LL << 62)    /* any amount or balance beyond this is refused */

enum ledger_kind {
    LA_CUSTOMER = 1,
    LA_HELD,
    LA_PENDING,
    LA_AVAILABLE,
    LA_PAYING,
    LA_POOL_FEE,
    LA_DEPOSITS,
    LA_PAYOUTS,
    LA_FORFEIT,
};

/* ---- pure arithmetic (no I/O; unit-tested exhaustively) ---- */

/* Price of n_in prompt and n_out completion tokens at prices in micro-credits
 * per million tokens, rounded UP to a whole micro-credit (the pool never
 * undercharges by rounding; a customer overpays by < 1 micro-credit).
 * Returns FIEF_ERANGE on overflow (prices are bounded by config, so only a
 * bug gets there). */
int ledger_cost(uint64_t price_in, uint64_t price_out, uint64_t n_in, uint64_t n_out,
                int64_t *cost);

/* Split a cost between the pool and the miners who produced the tokens:
 * fee = floor(cost * fee_ppm / 1e6); the rest goes to the parts in
 * proportion to their tokens, largest remainder first (ties to the earlier
 * part), so the shares sum exactly to cost - fee. A part with 0 tokens gets 0.
 * With no tokens at all the whole cost is the fee (cannot happen: a request
 * that produced nothing costs nothing). */
struct ledger_share {
    char pubkey[65];
    uint32_t tokens;
    int64_t amount;
};
struct ledger_split {
    int64_t cost, fee;
    uint32_t n;
    struct ledger_share shares[STORE_JOB_MAX_PARTS];
};
void ledger_split(int64_t cost, uint32_t fee_ppm, const struct store_job_part *parts,
                  uint32_t n_parts, struct ledger_split *out);

/* "12.5" -> 12500000; at most 6 decimals, no sign, <= LEDGER_MAX_AMOUNT.
 * 0 or FIEF_EINVAL / FIEF_ERANGE. And back: 12500000 -> "12.5". */
int ledger_parse_credits(const char *s, int64_t *micro);
void ledger_format_credits(int64_t micro, char *out, size_t cap);

/* ---- customer credit (the pool's loop thread) ---- */

/* Spendable credit of a key now: committed CUSTOMER balance plus this
 * process's queued changes. 0 or FIEF_EIO. */
int ledger_available(struct store *s, int64_t key_id, int64_t *out);

/* Reserve amount for request req (an id unique per request, at most 64
 * bytes) if the key can afford it: 0, or FIEF_ELIMIT (not enough credit:
 * the caller answers 402 with err, which says what is available and what
 * the request may cost), FIEF_ESTATE (idem is not NULL or "" and a request
 * of this key with the same Idempotency-Key is still running or its
 * settlement is not yet committed: answer 409), FIEF_EINVAL (bad amount,
 * empty or over-long req or idem, req already held), FIEF_EIO. The hold is
 * queued; the in-memory view changes at once, so concurrent requests cannot
 * overspend. amount must be > 0: a request that cannot cost anything (a
 * free model) needs no hold and no settlement. Every hold ends with
 * ledger_settle (0 completion tokens: a plain release), or it stays in
 * memory and in the books until the next start releases it. */
int ledger_hold(struct store *s, int64_t key_id, const char *req, const char *idem,
                int64_t amount, char err[FIEF_ERR_LEN]);

/* What a finished request owes and to whom. */
struct ledger_settlement {
    char req[65];             /* the request id the hold was placed with */
    int64_t key_id;
    int64_t held;             /* informative: the ledger releases the amount it held */
    char model[65];
    char digest[72];          /* of the model file, for the receipt */
    uint64_t price_in, price_out; /* micro-credits per million tokens */
    uint32_t fee_ppm;
    uint32_t prompt_tokens, completion_tokens; /* as the pool counted them */
    uint32_t n_parts;         /* miners and the tokens each produced */
    struct store_job_part parts[STORE_JOB_MAX_PARTS];
    int64_t created_ms;       /* the receipt's time; 0: now */
    /* Idempotency: when idem[0] and the request produced tokens, the
     * response (status, content type, body) is stored with the settlement,
     * in the same transaction, so a retry with the same key gets it back and
     * is never charged again. A request that produced nothing stores
     * nothing: its retry runs again (it was not charged either). */
    char idem[129];
    int http_status;
    char content_type[64];
    const char *body;         /* owned by the caller; copied */
    size_t body_len;
};

/* Called for each settlement the write thread is done with: committed, with
 * its signed receipt (JSON text, see ledger_receipt_*) to send to the
 * miners, or "" when it has none (it charged nothing, or the database
 * refused it). The pool sends a priced reply's last bytes from here, so a
 * customer never holds a cost the books could still lose. req and
 * receipt_json are valid during the call only. */
typedef void (*ledger_settled_cb)(void *ud, const char *req, const char *receipt_json);
/* Wakes the thread that polls; see ledger_on_settled. */
typedef void (*ledger_wake_cb)(void *ud);

/* Queue the settlement: release the hold, charge the cost (computed here
 * from the prices and counts, so a caller cannot get it wrong, and never
 * above the hold), pay each miner its share as PENDING, the fee to
 * POOL_FEE, store the signed receipt and the idempotent response. A request
 * that produced no completion token costs nothing (the hold is just
 * released). Never fails: a settlement for a request this store holds
 * nothing for is logged and ignored; a write the database refuses is logged
 * and the hold stays until the next start releases it. The receipt is
 * signed on the write thread, with the key ledger_set_signer gave (by
 * default the pool key in the data directory). */
void ledger_settle(struct store *s, const struct ledger_settlement *st);

/* Settlement notices. After the write thread commits settlements it queues
 * a notice for each and calls wake(ud) ON THE WRITE THREAD: wake must only
 * signal the loop (event_active() on an event of a base with
 * evthread_use_pthreads, or a write to a pipe) and must not call the
 * ledger. The loop then calls ledger_settled_poll, which calls cb on the
 * caller's thread for every notice queued so far and returns how many.
 * Until ledger_on_settled is called no notice is kept. Pass wake = NULL to
 * stop (notices still queued are dropped). */
void ledger_on_settled(struct store *s, ledger_wake_cb wake, void *ud);
int ledger_settled_poll(struct store *s, ledger_settled_cb cb, void *ud);

/* The cost a settlement will charge (what ledger_settle computes), for the
 * "cost" field of the response. */
int64_t ledger_settlement_cost(const struct ledger_settlement *st);

/* At pool start: release every open hold but this store's own (their
 * requests died with the pool that placed them). Synchronous. Returns the
 * number released, or a negative FIEF_E* code. */
int ledger_release_stale_holds(struct store *s, char err[FIEF_ERR_LEN]);

/* One pool per data directory: take an exclusive lock on DIR/pool.lock
 * (flock, released when the process exits or closes *fd). 0, FIEF_ESTATE
 * (another process holds it: a pool is running), FIEF_EIO. And whether a
 * process holds it now (for `fief ledger check`). */
int ledger_pool_lock(const char *dir, int *fd, char err[FIEF_ERR_LEN]);
bool ledger_pool_running(const char *dir);

/* Idempotency: 0 and the stored response (caller frees *body) when
 * (key_id, idem) was settled before, committed or still queued;
 * FIEF_ESTATE while a request with that key is still running;
 * FIEF_ENOTFOUND when not; FIEF_EIO. */
int ledger_idem_get(struct store *s, int64_t key_id, const char *idem, int *status,
                    char content_type[64], char **body, size_t *body_len);

/* ---- maturity and payouts ---- */

/* Move every PENDING earning older than maturity_s to AVAILABLE (queued; the
 * pool calls it every minute). */
void ledger_mature_async(struct store *s, uint32_t maturity_s, int64_t now_ms);
/* The same, synchronous (CLI, tests). Returns micro-credits matured or < 0. */
int64_t ledger_mature_now(struct store *s, uint32_t maturity_s, int64_t now_ms,
                          char err[FIEF_ERR_LEN]);

/* Deposit: DEPOSITS -> CUSTOMER of a key (synchronous, committed on return).
 * amount in (0, LEDGER_MAX_AMOUNT]; FIEF_ENOTFOUND (no such key),
 * FIEF_EINVAL/ERANGE with err set. memo is stored with the transaction. */
int ledger_deposit(struct store *s, int64_t key_id, int64_t amount, const char *memo,
                   int64_t *txn_id, char err[FIEF_ERR_LEN]);

/* Payout batches. create: every miner with a payout account whose
 * AVAILABLE >= min_payout (and > 0) moves it to PAYING in one batch
 * (synchronous, committed before the files are written); writes
 * DIR/payout-<id>.json and .csv
 * (miner key, payout account, amount in credits and micro-credits) and
 * returns the batch id (0 when nobody is due). confirm: PAYING -> PAYOUTS;
 * cancel: PAYING -> AVAILABLE. A batch is confirmed or cancelled once:
 * FIEF_ESTATE after that. Nothing is ever paid twice. */
int ledger_payout_create(struct store *s, int64_t min_payout, const char *dir,
                         int64_t *batch_id, char err[FIEF_ERR_LEN]);
int ledger_payout_confirm(struct store *s, int64_t batch_id, char err[FIEF_ERR_LEN]);
int ledger_payout_cancel(struct store *s, int64_t batch_id, char err[FIEF_ERR_LEN]);

/* ---- reading the books ---- */

struct ledger_miner_balance {
    int64_t pending, available, paying, paid; /* paid: in confirmed batches */
};
/* A miner's committed balances (zeros for an unknown miner). 0 or FIEF_EIO. */
int ledger_miner_balance(struct store *s, const char *pubkey, struct ledger_miner_balance *out);

struct ledger_key_balance {
    int64_t available; /* what ledger_available says */
    int64_t held;      /* in holds of requests in flight, queued ones included */
    int64_t spent;     /* charged by committed settlements */
    int64_t deposited; /* by committed deposits */
};
/* A customer's money for /api/account. 0 or FIEF_EIO. */
int ledger_key_balance(struct store *s, int64_t key_id, struct ledger_key_balance *out);

/* The committed balance of one account (owner: the key id in decimal, the
 * miner's pubkey, or "" for the pool's own accounts); 0 for an account
 * never posted to, and on a read error (logged). */
int64_t ledger_balance(struct store *s, enum ledger_kind kind, const char *owner);

/* ---- receipts ----
 * A receipt is a JSON object (keys sorted, compact, integers only) signed
 * with the pool's ed25519 key; the signature covers exactly the bytes of the
 * object without its "signature" field as json_dumps(JSON_COMPACT |
 * JSON_SORT_KEYS) writes them. Fields: v, pool, pool_key, request, model,
 * digest, prompt_tokens, completion_tokens, price_in, price_out, cost, fee,
 * fee_ppm, miners [{miner, tokens, amount}], time_ms, signature. */

#define LEDGER_KEY_FILE "pool.key"

/* The pool's signing key DIR/pool.key, created (mode 0600) on first use. A
 * file that is not a well-formed key is refused, never overwritten. 0,
 * FIEF_EIO, FIEF_EFORMAT with err set. */
int ledger_pool_key(const char *dir, unsigned char pk[32], unsigned char sk[64],
                    char err[FIEF_ERR_LEN]);
/* Who signs this store's receipts (the pool, before its first settlement):
 * the pool's name and key pair are copied. Without it the first settlement
 * loads the data directory's pool key and signs as "fief". */
void ledger_set_signer(struct store *s, const char *pool_name, const unsigned char pk[32],
                       const unsigned char sk[64]);
/* Stored receipt of a request (caller frees), or NULL. */
char *ledger_receipt_get(struct store *s, const char *req);
/* Verify a receipt's signature against pubkey_hex (or its own pool_key when
 * NULL). 0, FIEF_EFORMAT (not a receipt), FIEF_EPROTO (bad signature). */
int ledger_receipt_verify(const char *json, const char *pubkey_hex, char err[FIEF_ERR_LEN]);

/* ---- invariants ---- */

/* Check the books, reading committed rows only:
 *  - every transaction's postings sum to zero, and it has some;
 *  - every posting names an existing transaction and account;
 *  - every balance equals the sum of its account's postings;
 *  - no CUSTOMER, HELD, PENDING, AVAILABLE or PAYING balance is negative;
 *  - each key's HELD balance equals its open holds; each miner's PENDING
 *    its unmatured earnings; each miner's PAYING its lines in open batches;
 *  - no open hold belongs to a settled request, and when pool_running is
 *    false there is no open hold at all; run inside the pool, every open
 *    hold it placed belongs to a request it still has in flight;
 *  - every settled or released hold has its transaction; every settlement's
 *    cost is at most its hold and its shares and fee add up to its cost;
 *  - every payout batch is in exactly one state (created, confirmed,
 *    cancelled) with the transactions that state needs, and its lines add
 *    up to its total;
 *  - FORFEIT is never negative and moves only in forfeits and refunds; a
 *    forfeit takes from a miner banned by the audit it names, decided by
 *    majority (confirmed or cleared); every refund gives back a forfeited
 *    share of its request with the fee on it, under that audit, in a refund
 *    transaction to the request's customer, and a request's refunds never
 *    exceed its cost (nor their fees its fee).
 * Each violation is reported through report (one line, naming the
 * offending rows). Returns the number of violations, or < 0 when the books
 * cannot be read. */
int ledger_check(struct store *s, bool pool_running,
                 void (*report)(void *ud, const char *line), void *ud);

#endif
