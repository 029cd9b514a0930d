/* SPDX-License-Identifier: MIT */
/* The pool server: builds the parts (store, models, scheduler, miner gateway,
 * HTTP API) on one event loop, runs it, and tears it down in order. */
#include "pool/pool.h"
#include "pool/api.h"
#include "pool/disp.h"
#include "pool/gw.h"
#include "pool/models.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "ledger/store.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define DISP_TICK_MS 50 /* deadline resolution of the scheduler */

struct pool {
    struct pool_cfg cfg;
    struct event_base *base;
    struct store *store;
    struct pool_models *models;
    struct disp *disp;
    struct gw *gw;
    struct api *api;
    struct event *tick, *stop_ev, *sigint, *sigterm;
};

static void tick_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    disp_tick(((struct pool *)arg)->disp);
}

static void stop_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    struct pool *p = arg;
    log_notice("pool: shutting down");
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
    p->base = event_base_new();
    if (!p->base) {
        free(p);
        return fief_errf(err, FIEF_ENOMEM, "cannot create the event loop");
    }
    if ((rc = store_open(cfg->data_dir, &p->store, err)) ||
        (rc = models_load(&p->cfg, &p->models, err)))
        goto fail;
    p->disp = disp_new(p);
    if ((rc = gw_start(p, p->disp, cfg->listen_miners, &p->gw, err)) ||
        (rc = api_start(p, cfg->listen_http, &p->api, err)))
        goto fail;
    if ((rc = add_events(p))) {
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
    api_free(p->api); /* open streams end; their jobs are cancelled */
    gw_free(p->gw);
    disp_free(p->disp);
    models_free(p->models);
    store_close(p->store); /* flushes queued records */
    struct event *evs[] = {p->tick, p->stop_ev, p->sigint, p->sigterm};
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

/* ---- public views ---- */

json_t *pool_info_json(struct pool *p)
{
    struct store_usage tot = {0};
    store_totals(p->store, &tot);
    char fee[32];
    snprintf(fee, sizeof fee, "%u.%04u%%", p->cfg.fee_ppm / 10000, p->cfg.fee_ppm % 10000);
    return json_pack(
        "{s:s, s:s, s:s, s:I, s:s, s:I, s:f, s:I, s:I, s:f, s:{s:I, s:I, s:I}, s:s}", "name",
        p->cfg.name, "version", FIEF_VERSION, "fee", fee, "fee_ppm", (json_int_t)p->cfg.fee_ppm,
        "payout_scheme", "PPS", "maturity_s", (json_int_t)p->cfg.maturity_s, "audit_rate",
        p->cfg.audit_rate, "miners_online", (json_int_t)gw_miners_online(p->gw), "models",
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

json_t *pool_miner_json(struct pool *p, const char *id)
{
    json_t *conns = gw_miner_json(p->gw, id);
    if (json_array_size(conns) == 0) {
        json_decref(conns);
        return NULL;
    }
    return json_pack("{s:s, s:o}", "id", id, "connections", conns);
}
