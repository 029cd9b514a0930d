/* SPDX-License-Identifier: MIT */
/* The pool server: builds the parts (store and books, models, scheduler,
 * miner gateway, HTTP API) on one event loop, runs it, and tears it down in
 * the reverse order. The books start in the order ledger.h asks: the store,
 * the one-pool lock, the signing key, the release of a dead pool's holds,
 * then settlement notices (receipts go to the miners from the loop). */
#include "pool/pool.h"
#include "pool/api.h"
#include "pool/api_resp.h"
#include "pool/audit.h"
#include "pool/disp.h"
#include "pool/gw.h"
#include "pool/models.h"
#include "common/clock.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "ledger/ledger.h"
#include "ledger/ledger_audit.h"
#include "ledger/store.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DISP_TICK_MS 50 /* deadline resolution of the scheduler */
#define MATURE_S 60     /* how often pending earnings past maturity become available */
#define MINER_RECENT_JOBS 20 /* jobs listed by GET /api/miners/{id} */

struct pool {
    struct pool_cfg cfg;
    struct event_base *base;
    struct store *store;
    struct pool_models *models;
    struct disp *disp;
    struct gw *gw;
    struct audit *audit;
    struct api *api;
    struct event *tick, *stop_ev, *sigint, *sigterm;
    struct event *settled_ev; /* activated by the store's write thread */
    struct event *mature_ev;
    int lock_fd;              /* DATA/pool.lock, held while the pool runs; -1 before */
    char pool_key[65];        /* receipt-signing public key, hex */
};

/* ---- the books ---- */

/* On the store's write thread: only wake the loop (ledger.h). */
static void settled_wake(void *ud)
{
    event_active(((struct pool *)ud)->settled_ev, EV_READ, 0);
}

/* A settlement committed (receipt_json "" when it has none: nothing was
 * charged, or the database refused it): the customer's reply may go, the
 * miners get the receipt. */
static void on_settled(void *ud, const char *req, const char *receipt_json)
{
    struct pool *p = ud;
    api_settled(p->api, req);
    if (receipt_json[0])
        gw_send_receipt(p->gw, req, receipt_json);
}

static void settled_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    struct pool *p = arg;
    ledger_settled_poll(p->store, on_settled, p);
}

static void mature_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    struct pool *p = arg;
    ledger_mature_async(p->store, p->cfg.maturity_s, (int64_t)clock_wall_ms());
    ledger_forfeit_sweep_async(p->store); /* what banned keys earned after their ban */
}

/* The store, then the rest of the books' start, in ledger.h's order. */
static int books_open(struct pool *p, char err[FIEF_ERR_LEN])
{
    const struct pool_cfg *cfg = &p->cfg;
    unsigned char pk[32], sk[64];
    int rc = store_open_url(cfg->data_dir, cfg->store, &p->store, err);
    if (!rc)
        rc = ledger_pool_lock(cfg->data_dir, &p->lock_fd, err);
    if (!rc && !(rc = ledger_pool_key(cfg->data_dir, pk, sk, err))) {
        ledger_set_signer(p->store, cfg->name, pk, sk);
        hex_encode(pk, sizeof pk, p->pool_key);
    }
    sodium_memzero(sk, sizeof sk);
    if (rc)
        return rc;
    int n = ledger_release_stale_holds(p->store, err);
    if (n < 0)
        return n;
    log_notice("pool: books on %s, receipt key %s; %d hold(s) of requests that died with an "
               "earlier pool released",
               store_backend(p->store), p->pool_key, n);
    return 0;
}

/* Notices and maturity need the loop's events. */
static int books_events(struct pool *p)
{
    struct timeval every = {MATURE_S, 0};
    p->settled_ev = event_new(p->base, -1, 0, settled_cb, p);
    p->mature_ev = event_new(p->base, -1, EV_PERSIST, mature_cb, p);
    if (!p->settled_ev || !p->mature_ev || event_add(p->mature_ev, &every))
        return FIEF_ENOMEM;
    ledger_on_settled(p->store, settled_wake, p);
    mature_cb(-1, 0, p); /* what came due while no pool ran */
    return 0;
}

static void books_close(struct pool *p)
{
    if (p->store && p->settled_ev)
        ledger_on_settled(p->store, NULL, NULL); /* no wake after the event is gone */
    store_close(p->store); /* flushes queued settlements and records */
    p->store = NULL;
    if (p->lock_fd >= 0)
        close(p->lock_fd); /* after the flush: the next pool finds nothing in flight */
    p->lock_fd = -1;
}

static void tick_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    struct pool *p = arg;
    disp_tick(p->disp);
    audit_tick(p->audit);
}

static void stop_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    struct pool *p = arg;
    log_notice("pool: shutting down");
    audit_stop(p->audit); /* the jobs cancelled now are not worth an auditor's time */
    struct proto_notice n = {.kind = PROTO_NOTICE_SHUTDOWN};
    snprintf(n.message, sizeof n.message, "pool %s is shutting down", p->cfg.name);
    gw_notice_all(p->gw, &n);
    event_base_loopexit(p->base, NULL);
}

static void signal_cb(evutil_socket_t sig, short ev, void *arg)
{
    (void)ev;
    log_notice("pool: signal %d", (int)sig);
    stop_cb(-1, 0, arg);
}

static int add_events(struct pool *p)
{
    struct timeval tv = {0, DISP_TICK_MS * 1000};
    p->tick = event_new(p->base, -1, EV_PERSIST, tick_cb, p);
    p->stop_ev = event_new(p->base, -1, 0, stop_cb, p);
    p->sigint = evsignal_new(p->base, SIGINT, signal_cb, p);
    p->sigterm = evsignal_new(p->base, SIGTERM, signal_cb, p);
    if (!p->tick || !p->stop_ev || !p->sigint || !p->sigterm || event_add(p->tick, &tv) ||
        event_add(p->sigint, NULL) || event_add(p->sigterm, NULL))
        return FIEF_ENOMEM;
    return 0;
}

int pool_new(const struct pool_cfg *cfg, struct pool **out, char err[FIEF_ERR_LEN])
{
    *out = NULL;
    int rc = pool_cfg_check(cfg, err);
    if (rc)
        return rc;
    signal(SIGPIPE, SIG_IGN); /* a peer closing mid-write is an error return, not a kill */
    evthread_use_pthreads();  /* pool_stop may be called from another thread */
    struct pool *p = xcalloc(1, sizeof *p);
    p->cfg = *cfg;
    p->lock_fd = -1;
    p->base = event_base_new();
    if (!p->base) {
        free(p);
        return fief_errf(err, FIEF_ENOMEM, "cannot create the event loop");
    }
    if ((rc = books_open(p, err)) || (rc = models_load(&p->cfg, &p->models, err)) ||
        (rc = audit_new(p, &p->audit, err)))
        goto fail;
    p->disp = disp_new(p);
    if ((rc = gw_start(p, p->disp, cfg->listen_miners, &p->gw, err)) ||
        (rc = api_start(p, cfg->listen_http, &p->api, err)))
        goto fail;
    if ((rc = add_events(p)) || (rc = books_events(p))) {
        fief_errf(err, rc, "cannot set up the pool's timers");
        goto fail;
    }
    *out = p;
    return 0;
fail:
    pool_free(p);
    return rc;
}

int pool_run(struct pool *p)
{
    log_notice("pool %s: miners on port %d, HTTP on port %d, %zu model(s), fee %.2f%%",
               p->cfg.name, gw_port(p->gw), api_port(p->api), models_count(p->models),
               p->cfg.fee_ppm / 1e4);
    return event_base_dispatch(p->base) < 0 ? FIEF_EIO : 0;
}

void pool_stop(struct pool *p)
{
    event_active(p->stop_ev, 0, 0);
}

void pool_free(struct pool *p)
{
    if (!p)
        return;
    if (p->audit)
        audit_stop(p->audit);
    api_free(p->api); /* open streams end: their jobs are cancelled, their requests settled */
    gw_free(p->gw);
    disp_free(p->disp);
    audit_free(p->audit); /* audits in flight are dropped: nothing was decided */
    books_close(p);
    models_free(p->models);
    struct event *evs[] = {p->tick,    p->stop_ev,    p->sigint,
                           p->sigterm, p->settled_ev, p->mature_ev};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i])
            event_free(evs[i]);
    if (p->base)
        event_base_free(p->base);
    free(p);
}

/* ---- accessors ---- */

struct event_base *pool_base(struct pool *p)
{
    return p->base;
}

const struct pool_cfg *pool_get_cfg(const struct pool *p)
{
    return &p->cfg;
}

struct store *pool_store(struct pool *p)
{
    return p->store;
}

struct disp *pool_disp(struct pool *p)
{
    return p->disp;
}

struct audit *pool_audit(struct pool *p)
{
    return p->audit;
}

struct gw *pool_gw(struct pool *p)
{
    return p->gw;
}

struct pool_models *pool_models(struct pool *p)
{
    return p->models;
}

int pool_http_port(const struct pool *p)
{
    return api_port(p->api);
}

int pool_miner_port(const struct pool *p)
{
    return gw_port(p->gw);
}

uint32_t pool_miners_online(struct pool *p)
{
    return gw_miners_online(p->gw);
}

const char *pool_key_hex(const struct pool *p)
{
    return p->pool_key;
}

/* ---- public views ---- */

json_t *pool_info_json(struct pool *p)
{
    struct store_usage tot = {0};
    store_totals(p->store, &tot);
    char fee[32];
    snprintf(fee, sizeof fee, "%u.%04u%%", p->cfg.fee_ppm / 10000, p->cfg.fee_ppm % 10000);
    return json_pack(
        "{s:s, s:s, s:s, s:I, s:s, s:I, s:o, s:s, s:f, s:o, s:I, s:I, s:f, s:{s:I, s:I, s:I}, "
        "s:s}",
        "name", p->cfg.name, "version", FIEF_VERSION, "fee", fee, "fee_ppm",
        (json_int_t)p->cfg.fee_ppm, "payout_scheme", "PPS", "maturity_s",
        (json_int_t)p->cfg.maturity_s, "min_payout", resp_amount(p->cfg.min_payout), "pool_key",
        p->pool_key, "audit_rate", p->cfg.audit_rate, "audit", audit_policy_json(p->audit),
        "miners_online", (json_int_t)gw_miners_online(p->gw), "models",
        (json_int_t)models_count(p->models), "tokens_per_s", disp_tokens_per_s(p->disp),
        "totals", "requests", (json_int_t)tot.requests, "prompt_tokens",
        (json_int_t)tot.prompt_tokens, "completion_tokens", (json_int_t)tot.completion_tokens,
        "privacy",
        "Miners see the prompts they serve (they never learn which customer sent them). "
        "Do not send what you would not show a stranger.");
}

json_t *pool_models_json(struct pool *p)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < models_count(p->models); i++) {
        struct pool_model *m = models_at(p->models, i);
        struct disp_model_stats st;
        disp_model_stats(p->disp, m, &st);
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s, s:i, s:s, s:I, s:I, s:i, s:i, s:i, s:i, s:f}",
                           "name", m->name, "digest", m->digest, "arch", m->arch, "context",
                           (int)m->n_ctx_train, "chat_template", eng_chat_family_name(m->chat),
                           "price_in_micro", (json_int_t)m->price_in, "price_out_micro",
                           (json_int_t)m->price_out, "miners", (int)st.miners, "slots",
                           (int)st.slots, "busy", (int)st.busy, "queued", (int)st.queued,
                           "tps", st.tps));
    }
    return arr;
}

json_t *pool_miners_json(struct pool *p)
{
    return gw_miners_json(p->gw);
}

/* A miner's whole key from its short id or key: a connected one, or one the
 * store has seen. */
static bool miner_key(struct pool *p, const char *id, char pubkey[65])
{
    const char *k = gw_miner_pubkey(p->gw, id);
    if (k) {
        snprintf(pubkey, 65, "%s", k);
        return true;
    }
    return store_miner_find(p->store, id, pubkey) == 0;
}

static json_t *balance_json(struct pool *p, const char *pubkey)
{
    struct ledger_miner_balance b = {0};
    ledger_miner_balance(p->store, pubkey, &b);
    return json_pack("{s:o, s:o, s:o, s:o}", "pending", resp_amount(b.pending), "available",
                     resp_amount(b.available), "paying", resp_amount(b.paying), "paid",
                     resp_amount(b.paid));
}

static json_t *served_json(struct pool *p, const char *pubkey)
{
    struct store_model_work w[POOL_MAX_MODELS];
    uint32_t n = 0;
    json_t *arr = json_array();
    store_miner_models(p->store, pubkey, w, POOL_MAX_MODELS, &n);
    for (uint32_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:I, s:I}", "model", w[i].model, "jobs",
                                             (json_int_t)w[i].jobs, "tokens",
                                             (json_int_t)w[i].tokens));
    return arr;
}

static json_t *jobs_json(struct pool *p, const char *pubkey)
{
    static const char *const status[] = {"?", "done", "cancelled", "failed"};
    struct store_miner_job j[MINER_RECENT_JOBS];
    uint32_t n = 0;
    json_t *arr = json_array();
    store_miner_jobs(p->store, pubkey, j, MINER_RECENT_JOBS, &n);
    for (uint32_t i = 0; i < n; i++)
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:I, s:s, s:I}", "job", j[i].job, "model", j[i].model,
                           "tokens", (json_int_t)j[i].tokens, "status",
                           status[j[i].status <= STORE_JOB_FAILED ? j[i].status : 0], "time_ms",
                           (json_int_t)j[i].finished_ms));
    return arr;
}

static json_t *audits_json(struct pool *p, const char *pubkey)
{
    struct ledger_audit_info au[MINER_RECENT_JOBS];
    uint32_t n = 0;
    json_t *arr = json_array();
    ledger_audits_of(p->store, pubkey, au, MINER_RECENT_JOBS, &n);
    for (uint32_t i = 0; i < n; i++)
        json_array_append_new(
            arr, json_pack("{s:I, s:s, s:I, s:I, s:I, s:s, s:s, s:I, s:I}", "id",
                           (json_int_t)au[i].id, "job", au[i].job, "part", (json_int_t)au[i].part,
                           "from", (json_int_t)au[i].from, "tokens", (json_int_t)au[i].n,
                           "model", au[i].model, "outcome",
                           ledger_audit_outcome_name(au[i].outcome), "auditors",
                           (json_int_t)au[i].n_auditors, "time_ms",
                           (json_int_t)au[i].created_ms));
    return arr;
}

json_t *pool_miner_json(struct pool *p, const char *id)
{
    char pubkey[65];
    if (!miner_key(p, id, pubkey))
        return NULL;
    struct store_miner m = {0};
    store_miner_get(p->store, pubkey, &m);
    return json_pack("{s:s%, s:s, s:s, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "id", pubkey,
                     (size_t)16, "pubkey", pubkey, "worker", m.worker, "first_seen_ms",
                     (json_int_t)m.first_seen_ms, "last_seen_ms", (json_int_t)m.last_seen_ms,
                     "balance", balance_json(p, pubkey), "served", served_json(p, pubkey),
                     "recent_jobs", jobs_json(p, pubkey), "reputation",
                     audit_rep_json(p->audit, pubkey), "recent_audits", audits_json(p, pubkey),
                     "connections", gw_miner_json(p->gw, pubkey));
}
