/* SPDX-License-Identifier: MIT */
/* What the ledger's files share: writing a transaction with its postings and
 * balances, the in-memory view of queued writes (ledger_mem.c), receipts,
 * and the synchronous-write helpers. Not for the pool. */
#ifndef FIEF_LEDGER_IMPL_H
#define FIEF_LEDGER_IMPL_H

#include "ledger/ledger.h"
#include "ledger/ledger_admin.h"
#include "ledger/ledger_audit.h"
#include "ledger/store_impl.h"

/* PostgreSQL advisory lock the synchronous bookkeeping (payouts, stale
 * holds) takes, so two `fief payouts` never batch the same money. */
#define LEDGER_LOCK_BOOKS 0x6669656602LL

#define LEDGER_OWNER_LEN 65 /* a pubkey, a decimal key id or "" */

enum ledger_hold_state { LH_OPEN = 1, LH_SETTLED, LH_RELEASED };
enum ledger_batch_state { LB_CREATED = 1, LB_CONFIRMED, LB_CANCELLED };

struct ledger_posting {
    enum ledger_kind kind;
    char owner[LEDGER_OWNER_LEN];
    int64_t amount; /* zero postings are skipped */
};

struct ledger_txn {
    const char *type; /* "hold", "settle", "release", "mature", "deposit", ... */
    const char *ref;  /* request id, batch id, or "" */
    const char *memo;
    int64_t created_ms;
    const struct ledger_posting *p;
    uint32_t n;
};

/* ---- ledger_post.c ---- */

/* Write t inside the caller's database transaction: the txns row, its
 * postings, and each account's balance. FIEF_EINVAL (logged) when the
 * postings do not sum to zero or an amount is out of range; else as the
 * database says. *txn_id gets the new id. */
int ledger_txn_write(struct db *d, const struct ledger_txn *t, int64_t *txn_id);
/* A posting to (kind, owner), where owner may be NULL for the pool's. */
void ledger_posting_set(struct ledger_posting *p, enum ledger_kind kind, const char *owner,
                        int64_t amount);
/* A customer account's owner: the key id in decimal. */
void ledger_key_owner(int64_t key_id, char owner[LEDGER_OWNER_LEN]);
/* The committed balance of (kind, owner) through d; 0 for none. */
int ledger_account_get(struct db *d, enum ledger_kind kind, const char *owner, int64_t *out);

/* Run body(d, ud) in a write transaction on the caller's connection,
 * serialized with the other bookkeeping when lock is set; commit when it
 * returns 0, roll back otherwise. body's return code is returned; err gets
 * a message for a database failure. */
int ledger_sync(struct store *s, bool lock, int (*body)(struct db *d, void *ud), void *ud,
                char err[FIEF_ERR_LEN]);

/* ---- ledger_mem.c: the view of queued writes ---- */

/* The committed CUSTOMER and HELD balances of a key plus this process's
 * queued changes, read atomically with respect to the write thread's
 * commits (see ledger.h). 0 or FIEF_EIO. */
int ledger_mem_key(struct store *s, int64_t key_id, int64_t *available, int64_t *held);

/* A hold or settlement about to be queued: the change it makes to the
 * key's CUSTOMER and HELD balances. */
struct ledger_delta {
    int64_t key_id;
    int64_t customer, held;
};
/* Check (with amount > 0: that the key can afford it) and register a new
 * hold of req, then queue op through store_op_push, all under the view's
 * lock, so no other hold can slip in between. 0, FIEF_ELIMIT (with *avail),
 * FIEF_EINVAL (req already held), FIEF_ESTATE (idem in flight). On failure
 * op is not queued and not freed. */
int ledger_mem_hold(struct store *s, struct store_op *op, const char *req, const char *idem,
                    const struct ledger_delta *dl, int64_t *avail);
/* Queue a settlement op of req, registering its delta; *held gets the
 * amount the hold reserved. body/len: the idempotent response the op
 * carries (read by ledger_idem_get while it is queued). FIEF_ENOTFOUND
 * when req is not held here, FIEF_ESTATE when it is already settling; op is
 * then not queued and not freed. */
int ledger_mem_settle_begin(struct store *s, const char *req, int64_t key_id, int64_t *held);
void ledger_mem_settle_push(struct store *s, struct store_op *op, const char *req,
                            const struct ledger_delta *dl, const char *content_type,
                            int http_status, const char *body, size_t len);
/* The write thread's commit hook for holds and settlements: forget the
 * op's delta; a settlement (or a dropped hold) forgets the hold; a
 * committed settlement with a receipt queues its notice. */
void ledger_mem_done(struct store *s, uint64_t seq, int64_t key_id, const char *req,
                     bool settles, bool applied, const char *receipt);
/* The response of a queued settlement of (key_id, idem), or whether one is
 * in flight: 0 (copied), FIEF_ESTATE, FIEF_ENOTFOUND. */
int ledger_mem_idem(struct store *s, int64_t key_id, const char *idem, int *status,
                    char content_type[64], char **body, size_t *len);
/* Whether this process has an open or settling hold for req. */
bool ledger_mem_has_hold(struct store *s, const char *req);

/* The signer (ledger_set_signer, else the data directory's key). 0 or
 * FIEF_EIO/FIEF_EFORMAT (logged) when no key can be loaded. */
int ledger_mem_signer(struct store *s, char name[65], unsigned char pk[32], unsigned char sk[64]);

/* ---- ledger_forfeit.c ---- */

struct buf;
struct ledger_forfeit_out {
    int64_t forfeited, refunded; /* micro-credits, added to */
    uint32_t n_refunds;          /* added to */
    int64_t forfeit_txn;         /* the forfeit transaction written, 0 if none */
    struct buf *txns;            /* when set: refund transaction ids appended, comma-separated */
};
/* Inside the caller's write transaction: forfeit every unmatured earning of
 * pubkey (PENDING -> FORFEIT, ref audit) and refund each request one was
 * earned on (ledger_audit.h), adding to the audit totals. Nothing to do is
 * 0. Else as the database says. */
int ledger_forfeit_key(struct db *d, const char *pubkey, int64_t audit, int64_t now,
                       struct ledger_forfeit_out *o);

/* ---- ledger_receipt.c ---- */

/* The signed receipt of a settlement (caller frees), or NULL (logged). */
char *ledger_receipt_make(struct store *s, const struct ledger_settlement *st,
                          const struct ledger_split *sp, int64_t time_ms);

#endif
