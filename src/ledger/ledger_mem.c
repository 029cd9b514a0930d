/* SPDX-License-Identifier: MIT */
/* The ledger's memory of this process's queued writes, so the loop sees a
 * key's spendable credit at once: per key, the change each queued hold or
 * settlement makes (tagged with its queue sequence number); the holds of
 * requests in flight (by request id and by Idempotency-Key); the settlement
 * notices waiting for the loop; and the receipt signer. One mutex guards it
 * all. Lock order: this mutex, then the store's queue lock (a hold is
 * registered and queued under it); the write thread takes it only in the
 * commit hook, holding no other lock. */
#include "ledger/ledger_impl.h"

#include "common/log.h"
#include "common/xalloc.h"

#include <pthread.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a small chained hash table of intrusive nodes ---- */

struct hnode {
    struct hnode *next;
    uint64_t h;
};

struct htab {
    struct hnode **b;
    size_t cap, n; /* cap: a power of two */
};

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ull; /* FNV-1a */
    return h;
}

static uint64_t hash_key(int64_t key_id, const char *s)
{
    uint64_t h = hash_bytes(0xcbf29ce484222325ull, &key_id, sizeof key_id);
    return s ? hash_bytes(h, s, strlen(s)) : h;
}

static void ht_insert(struct htab *t, struct hnode *n);

static void ht_grow(struct htab *t)
{
    struct hnode **old = t->b;
    size_t old_cap = t->cap;
    t->cap = old_cap ? old_cap * 2 : 64;
    t->b = xcalloc(t->cap, sizeof *t->b);
    t->n = 0;
    for (size_t i = 0; i < old_cap; i++)
        for (struct hnode *n = old[i], *next; n; n = next) {
            next = n->next;
            ht_insert(t, n);
        }
    free(old);
}

static void ht_insert(struct htab *t, struct hnode *n)
{
    if (t->n + 1 > t->cap)
        ht_grow(t);
    struct hnode **slot = &t->b[n->h & (t->cap - 1)];
    n->next = *slot;
    *slot = n;
    t->n++;
}

static void ht_remove(struct htab *t, struct hnode *n)
{
    for (struct hnode **p = &t->b[n->h & (t->cap - 1)]; *p; p = &(*p)->next)
        if (*p == n) {
            *p = n->next;
            t->n--;
            return;
        }
}

#define container_of(p, type, member) ((type *)(void *)((char *)(p) - offsetof(type, member)))
#define HT_FOR(t, hash, var) \
    for (struct hnode *var = (t)->cap ? (t)->b[(hash) & ((t)->cap - 1)] : NULL; var; var = var->next)

/* ---- the view ---- */

struct qdelta { /* one queued op's change to a key's balances */
    struct qdelta *next;
    uint64_t seq;
    int64_t customer, held;
};

struct keyview {
    struct hnode node;
    int64_t key_id;
    struct qdelta *head, *tail; /* in sequence order */
    int64_t customer, held;     /* the sums of the queued deltas */
};

struct mhold {
    struct hnode by_req, by_idem;
    char req[65];
    char idem[129]; /* "" when none */
    int64_t key_id;
    int64_t amount;
    bool settling;
    /* while the settlement is queued: its response, borrowed from the op */
    bool has_response;
    int status;
    char content_type[64];
    const char *body;
    size_t len;
};

struct notice {
    struct notice *next;
    char *req, *receipt;
};

struct ledger_mem {
    pthread_mutex_t mu;
    struct htab keys, holds, idems;
    struct notice *nhead, *ntail;
    ledger_wake_cb wake;
    void *wake_ud;
    bool signer_set;
    char signer_name[65];
    unsigned char pk[32], sk[64];
};

struct ledger_mem *ledger_mem_new(void)
{
    struct ledger_mem *m = xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

static void free_notices(struct notice *n)
{
    while (n) {
        struct notice *next = n->next;
        free(n->req);
        free(n->receipt);
        free(n);
        n = next;
    }
}

/* Free the table and, with free_item, its items (a table whose items
 * another table owns passes NULL and is not walked). */
static void free_table(struct htab *t, size_t offset, void (*free_item)(void *))
{
    for (size_t i = 0; free_item && i < t->cap; i++)
        for (struct hnode *n = t->b[i], *next; n; n = next) {
            next = n->next;
            free_item((char *)n - offset);
        }
    free(t->b);
}

static void free_keyview(void *p)
{
    struct keyview *k = p;
    for (struct qdelta *d = k->head, *next; d; d = next) {
        next = d->next;
        free(d);
    }
    free(k);
}

void ledger_mem_free(struct ledger_mem *m)
{
    if (!m)
        return;
    free_table(&m->keys, offsetof(struct keyview, node), free_keyview);
    free_table(&m->holds, offsetof(struct mhold, by_req), free);
    free_table(&m->idems, 0, NULL);
    free_notices(m->nhead);
    sodium_memzero(m->sk, sizeof m->sk);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* ---- lookups (lock held) ---- */

static struct keyview *key_find(struct ledger_mem *m, int64_t key_id, bool create)
{
    uint64_t h = hash_key(key_id, NULL);
    HT_FOR(&m->keys, h, n)
    {
        struct keyview *k = container_of(n, struct keyview, node);
        if (k->key_id == key_id)
            return k;
    }
    if (!create)
        return NULL;
    struct keyview *k = xcalloc(1, sizeof *k);
    k->key_id = key_id;
    k->node.h = h;
    ht_insert(&m->keys, &k->node);
    return k;
}

static struct mhold *hold_find(struct ledger_mem *m, const char *req)
{
    uint64_t h = hash_key(0, req);
    HT_FOR(&m->holds, h, n)
    {
        struct mhold *x = container_of(n, struct mhold, by_req);
        if (!strcmp(x->req, req))
            return x;
    }
    return NULL;
}

static struct mhold *idem_find(struct ledger_mem *m, int64_t key_id, const char *idem)
{
    uint64_t h = hash_key(key_id, idem);
    HT_FOR(&m->idems, h, n)
    {
        struct mhold *x = container_of(n, struct mhold, by_idem);
        if (x->key_id == key_id && !strcmp(x->idem, idem))
            return x;
    }
    return NULL;
}

static void hold_forget(struct ledger_mem *m, struct mhold *x)
{
    ht_remove(&m->holds, &x->by_req);
    if (x->idem[0])
        ht_remove(&m->idems, &x->by_idem);
    free(x);
}

static void delta_add(struct ledger_mem *m, uint64_t seq, const struct ledger_delta *dl)
{
    struct keyview *k = key_find(m, dl->key_id, true);
    struct qdelta *d = xcalloc(1, sizeof *d);
    d->seq = seq;
    d->customer = dl->customer;
    d->held = dl->held;
    k->customer += d->customer;
    k->held += d->held;
    if (k->tail)
        k->tail->next = d;
    else
        k->head = d;
    k->tail = d;
}

/* Forget the delta of op seq; the key's entry goes when it has none left. */
static void delta_forget(struct ledger_mem *m, int64_t key_id, uint64_t seq)
{
    struct keyview *k = key_find(m, key_id, false);
    if (!k)
        return;
    struct qdelta *prev = NULL, *d = k->head;
    while (d && d->seq != seq) {
        prev = d;
        d = d->next;
    }
    if (!d)
        return;
    if (prev)
        prev->next = d->next;
    else
        k->head = d->next;
    if (k->tail == d)
        k->tail = prev;
    k->customer -= d->customer;
    k->held -= d->held;
    free(d);
    if (!k->head) {
        ht_remove(&m->keys, &k->node);
        free(k);
    }
}

/* ---- reading a key (lock held) ---- */

static const char sql_key_now[] =
    "SELECT (SELECT balance FROM accounts WHERE kind = ?1 AND owner = ?3),"
    " (SELECT balance FROM accounts WHERE kind = ?2 AND owner = ?3),"
    " (SELECT seq FROM writers WHERE id = ?4)";

/* Committed balances and the last committed sequence number, from one
 * snapshot; then the queued deltas that snapshot does not hold yet. Called
 * with the lock held, so the commit hook cannot forget a delta between the
 * read and the sum. */
static int key_now_locked(struct store *s, int64_t key_id, int64_t *avail, int64_t *held)
{
    struct db_stmt *st = db_sql(store_rconn(s), sql_key_now);
    if (!st)
        return FIEF_EIO;
    char owner[LEDGER_OWNER_LEN];
    ledger_key_owner(key_id, owner);
    db_bind_i64(st, 1, LA_CUSTOMER);
    db_bind_i64(st, 2, LA_HELD);
    db_bind_text(st, 3, owner);
    db_bind_text(st, 4, store_writer_id(s));
    int rc = db_step(st);
    if (rc) {
        db_reset(st);
        return FIEF_EIO;
    }
    int64_t a = db_col_i64(st, 0), h = db_col_i64(st, 1);
    uint64_t committed = (uint64_t)db_col_i64(st, 2);
    db_reset(st);
    /* The deltas the snapshot holds are the oldest ones (a committed group
     * whose hook has not run yet): take them off the sums. */
    struct keyview *k = key_find(store_ledger(s), key_id, false);
    if (k) {
        a += k->customer;
        h += k->held;
        for (struct qdelta *d = k->head; d && d->seq <= committed; d = d->next) {
            a -= d->customer;
            h -= d->held;
        }
    }
    *avail = a;
    *held = h;
    return 0;
}

int ledger_mem_key(struct store *s, int64_t key_id, int64_t *available, int64_t *held)
{
    struct ledger_mem *m = store_ledger(s);
    pthread_mutex_lock(&m->mu);
    int rc = key_now_locked(s, key_id, available, held);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* ---- holds and settlements ---- */

static struct mhold *hold_new(struct ledger_mem *m, const char *req, const char *idem,
                              const struct ledger_delta *dl)
{
    struct mhold *x = xcalloc(1, sizeof *x);
    snprintf(x->req, sizeof x->req, "%s", req);
    snprintf(x->idem, sizeof x->idem, "%s", idem ? idem : "");
    x->key_id = dl->key_id;
    x->amount = dl->held;
    x->by_req.h = hash_key(0, req);
    ht_insert(&m->holds, &x->by_req);
    if (x->idem[0]) {
        x->by_idem.h = hash_key(x->key_id, x->idem);
        ht_insert(&m->idems, &x->by_idem);
    }
    return x;
}

int ledger_mem_hold(struct store *s, struct store_op *op, const char *req, const char *idem,
                    const struct ledger_delta *dl, int64_t *avail)
{
    struct ledger_mem *m = store_ledger(s);
    int64_t held;
    pthread_mutex_lock(&m->mu);
    int rc = 0;
    if (hold_find(m, req))
        rc = FIEF_EINVAL;
    else if (idem && *idem && idem_find(m, dl->key_id, idem))
        rc = FIEF_ESTATE;
    else if ((rc = key_now_locked(s, dl->key_id, avail, &held)) == 0 && *avail < dl->held)
        rc = FIEF_ELIMIT;
    if (rc == 0) {
        hold_new(m, req, idem, dl);
        delta_add(m, store_op_push(s, op), dl);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int ledger_mem_settle_begin(struct store *s, const char *req, int64_t key_id, int64_t *held)
{
    struct ledger_mem *m = store_ledger(s);
    pthread_mutex_lock(&m->mu);
    struct mhold *x = hold_find(m, req);
    int rc = !x || x->key_id != key_id ? FIEF_ENOTFOUND : x->settling ? FIEF_ESTATE : 0;
    if (rc == 0) {
        x->settling = true;
        *held = x->amount;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

void ledger_mem_settle_push(struct store *s, struct store_op *op, const char *req,
                            const struct ledger_delta *dl, const char *content_type,
                            int http_status, const char *body, size_t len)
{
    struct ledger_mem *m = store_ledger(s);
    pthread_mutex_lock(&m->mu);
    struct mhold *x = hold_find(m, req);
    if (x && body) {
        x->has_response = true;
        x->status = http_status;
        snprintf(x->content_type, sizeof x->content_type, "%s", content_type);
        x->body = body;
        x->len = len;
    }
    delta_add(m, store_op_push(s, op), dl);
    pthread_mutex_unlock(&m->mu);
}

static void notice_add(struct ledger_mem *m, const char *req, const char *receipt)
{
    struct notice *n = xcalloc(1, sizeof *n);
    n->req = xstrdup(req);
    n->receipt = xstrdup(receipt);
    if (m->ntail)
        m->ntail->next = n;
    else
        m->nhead = n;
    m->ntail = n;
}

void ledger_mem_done(struct store *s, uint64_t seq, int64_t key_id, const char *req,
                     bool settles, bool applied, const char *receipt)
{
    struct ledger_mem *m = store_ledger(s);
    pthread_mutex_lock(&m->mu);
    delta_forget(m, key_id, seq);
    struct mhold *x = hold_find(m, req);
    /* A dropped hold never reached the books; a settlement ends the hold. */
    if (x && (settles || !applied))
        hold_forget(m, x);
    if (settles && m->wake) { /* refused or receipt-less ones too: their replies wait */
        notice_add(m, req, applied && receipt ? receipt : "");
        m->wake(m->wake_ud); /* under the lock: ledger_on_settled(NULL) waits for it */
    }
    pthread_mutex_unlock(&m->mu);
}

int ledger_mem_idem(struct store *s, int64_t key_id, const char *idem, int *status,
                    char content_type[64], char **body, size_t *len)
{
    struct ledger_mem *m = store_ledger(s);
    pthread_mutex_lock(&m->mu);
    struct mhold *x = idem_find(m, key_id, idem);
    int rc = !x ? FIEF_ENOTFOUND : !x->has_response ? FIEF_ESTATE : 0;
    if (rc == 0) {
        *status = x->status;
        snprintf(content_type, 64, "%s", x->content_type);
        *body = xmalloc(x->len + 1);
        memcpy(*body, x->body, x->len);
        (*body)[x->len] = 0;
        *len = x->len;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

bool ledger_mem_has_hold(struct store *s, const char *req)
{
    struct ledger_mem *m = store_ledger(s);
    pthread_mutex_lock(&m->mu);
    bool has = hold_find(m, req) != NULL;
    pthread_mutex_unlock(&m->mu);
    return has;
}

/* ---- notices ---- */

void ledger_on_settled(struct store *s, ledger_wake_cb wake, void *ud)
{
    struct ledger_mem *m = store_ledger(s);
    pthread_mutex_lock(&m->mu);
    m->wake = wake;
    m->wake_ud = ud;
    if (!wake) {
        free_notices(m->nhead);
        m->nhead = m->ntail = NULL;
    }
    pthread_mutex_unlock(&m->mu);
}

int ledger_settled_poll(struct store *s, ledger_settled_cb cb, void *ud)
{
    struct ledger_mem *m = store_ledger(s);
    pthread_mutex_lock(&m->mu);
    struct notice *list = m->nhead;
    m->nhead = m->ntail = NULL;
    pthread_mutex_unlock(&m->mu);
    int n = 0;
    for (struct notice *x = list; x; x = x->next, n++)
        cb(ud, x->req, x->receipt);
    free_notices(list);
    return n;
}

/* ---- the signer ---- */

void ledger_set_signer(struct store *s, const char *pool_name, const unsigned char pk[32],
                       const unsigned char sk[64])
{
    struct ledger_mem *m = store_ledger(s);
    pthread_mutex_lock(&m->mu);
    snprintf(m->signer_name, sizeof m->signer_name, "%s", pool_name ? pool_name : "fief");
    memcpy(m->pk, pk, sizeof m->pk);
    memcpy(m->sk, sk, sizeof m->sk);
    m->signer_set = true;
    pthread_mutex_unlock(&m->mu);
}

int ledger_mem_signer(struct store *s, char name[65], unsigned char pk[32], unsigned char sk[64])
{
    struct ledger_mem *m = store_ledger(s);
    pthread_mutex_lock(&m->mu);
    int rc = 0;
    if (!m->signer_set) {
        char err[FIEF_ERR_LEN];
        if ((rc = ledger_pool_key(store_dir(s), m->pk, m->sk, err)))
            log_err("ledger: cannot sign receipts: %s", err);
        snprintf(m->signer_name, sizeof m->signer_name, "fief");
        m->signer_set = rc == 0;
    }
    if (rc == 0) {
        snprintf(name, 65, "%s", m->signer_name);
        memcpy(pk, m->pk, 32);
        memcpy(sk, m->sk, 64);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}
