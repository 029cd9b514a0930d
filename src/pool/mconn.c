/* SPDX-License-Identifier: MIT */
/* The miner gateway: accepts miner connections, frames and parses their lines,
 * runs the session state machine (hello -> auth -> offer -> serving), keeps
 * them alive with pings, and hands jobs and tokens to and from the scheduler.
 * A connection that breaks the protocol is told why and dropped; it never
 * affects the others. Connections are freed outside their own callbacks. */
#include "pool/gw_impl.h"
#include "pool/audit.h"
#include "pool/models.h"
#include "pool/pool.h"
#include "common/clock.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/net.h"
#include "common/xalloc.h"
#include "ledger/ledger_audit.h"
#include "ledger/store.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#define MAX_OUTBUF (16u << 20) /* a miner that stops reading is dropped past this */
#define CLOSE_LINGER_MS 1000   /* time to flush the goodbye before closing */
#define TICK_MS 250

/* ---- sending ---- */

static void send_line(struct mconn *mc, const struct buf *b)
{
    if (mc->state == MC_CLOSING)
        return;
    struct evbuffer *out = bufferevent_get_output(mc->bev);
    if (evbuffer_get_length(out) + b->len > MAX_OUTBUF) {
        mconn_kick(mc, PROTO_ERR_STATE, "not reading its connection");
        return;
    }
    bufferevent_write(mc->bev, b->data, b->len);
}

static void send_request(struct mconn *mc, uint64_t id, enum proto_method m, json_t *params)
{
    struct buf *b = &mc->g->out;
    buf_reset(b);
    proto_put_request(b, id, m, params);
    send_line(mc, b);
}

static void send_result(struct mconn *mc, uint64_t id, json_t *result)
{
    struct buf *b = &mc->g->out;
    buf_reset(b);
    proto_put_result(b, id, result);
    send_line(mc, b);
}

static void send_error(struct mconn *mc, uint64_t id, int code, const char *msg)
{
    struct buf *b = &mc->g->out;
    buf_reset(b);
    proto_put_error(b, id, code, msg);
    send_line(mc, b);
}

static void send_notice(struct mconn *mc, const struct proto_notice *n)
{
    json_t *params = proto_notice_encode(n);
    struct buf *b = &mc->g->out;
    buf_reset(b);
    proto_put_notify(b, PM_NOTICE, params);
    json_decref(params);
    send_line(mc, b);
}

/* ---- closing ---- */

static void close_now(struct mconn *mc)
{
    struct gw *g = mc->g;
    if (mc->dead)
        return;
    mc->dead = true;
    TAILQ_REMOVE(&g->conns, mc, link);
    TAILQ_INSERT_TAIL(&g->dead, mc, link);
    event_active(g->reap, 0, 0);
}

static void closing_write_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    close_now(arg); /* the goodbye has been written */
}

/* Stop serving mc: its jobs fail over now, the socket closes once the last
 * line is out (or after CLOSE_LINGER_MS). */
static void begin_close(struct mconn *mc, const char *why)
{
    if (mc->state == MC_CLOSING)
        return;
    /* The scheduler hears of it from the reaper, never from inside this call:
     * a close can start in the middle of the scheduler's own work (a send
     * that finds the miner not reading). */
    mc->gone_pending = mc->state == MC_READY;
    mc->state = MC_CLOSING;
    mc->closing_ns = clock_mono_ns();
    log_info("miner %s (%s): closing: %s", mc->id[0] ? mc->id : "-", mc->peer, why);
    event_active(mc->g->reap, 0, 0);
    bufferevent_disable(mc->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(mc->bev)) == 0)
        close_now(mc);
    else
        bufferevent_setcb(mc->bev, NULL, closing_write_cb, NULL, mc);
}

void mconn_kick(struct mconn *mc, int code, const char *why)
{
    if (mc->state == MC_CLOSING)
        return;
    log_notice("miner %s (%s): protocol error %d: %s; disconnecting", mc->id[0] ? mc->id : "-",
               mc->peer, code, why);
    struct proto_notice n = {.kind = PROTO_NOTICE_MESSAGE};
    snprintf(n.message, sizeof n.message, "disconnected: %s", why);
    send_notice(mc, &n);
    begin_close(mc, why);
}

static void tell_scheduler(struct gw *g, struct mconn *mc)
{
    if (mc->gone_pending) {
        mc->gone_pending = false;
        disp_miner_gone(g->d, mc); /* its jobs fail over now */
    }
}

static void reap_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    struct gw *g = arg;
    struct mconn *mc;
    TAILQ_FOREACH(mc, &g->conns, link)
        tell_scheduler(g, mc);
    TAILQ_FOREACH(mc, &g->dead, link)
        tell_scheduler(g, mc);
    while ((mc = TAILQ_FIRST(&g->dead))) {
        TAILQ_REMOVE(&g->dead, mc, link);
        bufferevent_free(mc->bev);
        g->n_conns--;
        free(mc);
    }
}

/* ---- the session ---- */

/* A banned key is told so (error 8, with the reason) and let go. */
static bool refuse_banned(struct mconn *mc, uint64_t req_id)
{
    char reason[LEDGER_BAN_REASON + 1], msg[PROTO_MAX_TEXT + 1];
    if (!audit_banned(pool_audit(mc->g->p), mc->hello.pubkey, reason, sizeof reason))
        return false;
    snprintf(msg, sizeof msg, "this key is banned by the pool: %s", reason);
    send_error(mc, req_id, PROTO_ERR_BANNED, msg);
    log_notice("miner %s (%s): refused: the key is banned (%s)", mc->id, mc->peer, reason);
    begin_close(mc, "banned key");
    return true;
}

static void on_hello(struct mconn *mc, const struct proto_msg *m)
{
    char err[FIEF_ERR_LEN];
    struct proto_hello h;
    int rc = proto_hello_decode(m->params, &h, err);
    if (rc) { /* another protocol version is told so before any other complaint */
        send_error(mc, m->id, rc == FIEF_EUNSUPPORTED ? PROTO_ERR_VERSION : PROTO_ERR_PARAMS,
                   err);
        begin_close(mc, err);
        return;
    }
    mc->hello = h;
    memcpy(mc->id, h.pubkey, 16);
    mc->id[16] = 0;
    if (refuse_banned(mc, m->id))
        return;
    unsigned char nonce[32];
    randombytes_buf(nonce, sizeof nonce);
    hex_encode(nonce, sizeof nonce, mc->challenge);
    const struct pool_cfg *cfg = pool_get_cfg(mc->g->p);
    struct proto_welcome w = {.version = PROTO_VERSION};
    snprintf(w.session, sizeof w.session, "%s", mc->session);
    memcpy(w.challenge, mc->challenge, sizeof w.challenge);
    snprintf(w.terms.pool, sizeof w.terms.pool, "%s", cfg->name);
    w.terms.fee_ppm = cfg->fee_ppm;
    snprintf(w.terms.scheme, sizeof w.terms.scheme, "PPS");
    w.terms.maturity_s = cfg->maturity_s;
    w.terms.audit_rate = cfg->audit_rate;
    snprintf(w.terms.pool_key, sizeof w.terms.pool_key, "%s", pool_key_hex(mc->g->p));
    json_t *res = proto_welcome_encode(&w);
    send_result(mc, m->id, res);
    json_decref(res);
    mc->state = MC_AUTH;
}

static void on_auth(struct mconn *mc, const struct proto_msg *m)
{
    char err[FIEF_ERR_LEN], msg[128];
    struct proto_auth a;
    unsigned char sig[64], pk[32];
    if (proto_auth_decode(m->params, &a, err) ||
        hex_decode(a.signature, strlen(a.signature), sig, sizeof sig) ||
        hex_decode(mc->hello.pubkey, strlen(mc->hello.pubkey), pk, sizeof pk)) {
        send_error(mc, m->id, PROTO_ERR_PARAMS, "auth: a 128-hex-digit signature is required");
        begin_close(mc, "malformed auth");
        return;
    }
    size_t len = proto_auth_message(mc->challenge, msg, sizeof msg);
    if (crypto_sign_verify_detached(sig, (const unsigned char *)msg, len, pk) != 0) {
        send_error(mc, m->id, PROTO_ERR_AUTH, "the signature does not match the key");
        begin_close(mc, "bad signature");
        return;
    }
    if (refuse_banned(mc, m->id)) /* banned between its hello and its auth */
        return;
    mc->state = MC_READY;
    mc->connected_ms = (int64_t)clock_wall_ms();
    struct proto_authed ok;
    snprintf(ok.miner, sizeof ok.miner, "%s", mc->id);
    json_t *res = proto_authed_encode(&ok);
    send_result(mc, m->id, res);
    json_decref(res);
    store_miner_seen_async(pool_store(mc->g->p), mc->hello.pubkey, mc->hello.payout,
                           mc->hello.worker, mc->connected_ms);
    log_notice("miner %s (%s) authenticated: worker %s, payout %s, %s", mc->id, mc->peer,
               mc->hello.worker, mc->hello.payout, mc->hello.agent);
}

/* Which registered model an offered one is (matched by digest), or NULL with
 * the reason in v. */
static struct pool_model *judge(struct mconn *mc, const struct proto_offer_model *om,
                                struct proto_verdict *v)
{
    struct pool_models *ms = pool_models(mc->g->p);
    snprintf(v->name, sizeof v->name, "%s", om->name);
    v->accepted = false;
    struct pool_model *pm = NULL;
    for (size_t i = 0; i < models_count(ms) && !pm; i++)
        if (!strcmp(models_at(ms, i)->digest, om->digest))
            pm = models_at(ms, i);
    if (!pm) {
        snprintf(v->reason, sizeof v->reason, "no registered model has digest %s", om->digest);
        return NULL;
    }
    for (uint32_t k = 0; k < mc->n_models; k++)
        if (!strcmp(mc->models[k], pm->name)) {
            snprintf(v->reason, sizeof v->reason, "model %s offered twice", pm->name);
            return NULL;
        }
    /* Score alone is an auditor (a validator): it gets audits, never jobs. */
    if (!(om->caps & (PROTO_CAP_GENERATE | PROTO_CAP_SCORE))) {
        snprintf(v->reason, sizeof v->reason, "the pool needs the generate or score capability");
        return NULL;
    }
    v->accepted = true;
    snprintf(v->name, sizeof v->name, "%s", pm->name);
    snprintf(mc->models[mc->n_models++], sizeof mc->models[0], "%s", pm->name);
    return pm;
}

static void on_offer(struct mconn *mc, const struct proto_msg *m)
{
    char err[FIEF_ERR_LEN];
    struct proto_offer o;
    if (proto_offer_decode(m->params, &o, err)) {
        send_error(mc, m->id, PROTO_ERR_PARAMS, err);
        begin_close(mc, err);
        return;
    }
    if (mc->offered) {
        send_error(mc, m->id, PROTO_ERR_STATE, "offer was already made on this connection");
        return;
    }
    mc->offered = true;
    struct proto_verdicts vs = {.n = o.n};
    struct pool_model *pm[PROTO_MAX_MODELS];
    for (uint32_t i = 0; i < o.n; i++)
        pm[i] = judge(mc, &o.m[i], &vs.v[i]);
    json_t *res = proto_verdicts_encode(&vs);
    send_result(mc, m->id, res);
    json_decref(res);
    /* Only now may jobs flow: the miner has the pool's names for its models. */
    for (uint32_t i = 0; i < o.n; i++) {
        if (!pm[i])
            continue;
        mc->slots += o.m[i].slots;
        mc->tps += o.m[i].tps * o.m[i].slots;
        log_info("miner %s: serves %s, %u slots, %.1f tok/s", mc->id, pm[i]->name,
                 o.m[i].slots, o.m[i].tps);
        disp_offer_add(mc->g->d, mc, pm[i], o.m[i].slots, o.m[i].tps, o.m[i].caps,
                       o.m[i].ctx);
        if (mc->state == MC_CLOSING)
            return;
    }
}

/* A reply from the miner: to our ping, a score request, or a job request. */
static void on_reply(struct mconn *mc, const struct proto_msg *m)
{
    char err[FIEF_ERR_LEN];
    if (mc->ping_req && m->id == mc->ping_req) {
        mc->ping_req = 0;
        return;
    }
    if (mc->state == MC_READY && audit_owns_request(pool_audit(mc->g->p), mc, m->id)) {
        audit_on_reply(pool_audit(mc->g->p), mc, m);
        return;
    }
    if (mc->state != MC_READY || !disp_owns_request(mc->g->d, mc, m->id)) {
        mconn_kick(mc, PROTO_ERR_REQUEST, "a reply to a request that was not made");
        return;
    }
    struct proto_job_done done = {0};
    if (!m->is_error && proto_job_done_decode(m->result, &done, err)) {
        mconn_kick(mc, PROTO_ERR_PARAMS, err);
        return;
    }
    if (!m->is_error)
        mc->jobs++;
    if (disp_on_job_reply(mc->g->d, mc, m->id, &done, m->is_error ? m->err_code : 0,
                          m->err_msg, err))
        mconn_kick(mc, PROTO_ERR_JOB, err);
}

static void on_tokens(struct mconn *mc, const struct proto_msg *m)
{
    char err[FIEF_ERR_LEN];
    struct proto_tokens t;
    if (proto_tokens_decode(m->params, &t, err)) {
        mconn_kick(mc, PROTO_ERR_PARAMS, err);
        return;
    }
    if (disp_on_tokens(mc->g->d, mc, &t, err))
        mconn_kick(mc, PROTO_ERR_JOB, err);
    proto_tokens_clear(&t);
}

/* Which (state, method) pairs are allowed. Anything else is a state error. */
static void handle(struct mconn *mc, const struct proto_msg *m)
{
    if (m->kind == PROTO_REPLY) {
        on_reply(mc, m);
        return;
    }
    if (m->method == PM_PING && m->kind == PROTO_REQUEST) {
        json_t *res = json_object();
        send_result(mc, m->id, res);
        json_decref(res);
        return;
    }
    if (m->method == PM_UNKNOWN) {
        if (m->kind == PROTO_REQUEST) /* a newer miner: answer, do not punish */
            send_error(mc, m->id, PROTO_ERR_METHOD, "unknown method");
        return;
    }
    bool req = m->kind == PROTO_REQUEST;
    if (mc->state == MC_HELLO && req && m->method == PM_HELLO)
        on_hello(mc, m);
    else if (mc->state == MC_AUTH && req && m->method == PM_AUTH)
        on_auth(mc, m);
    else if (mc->state == MC_READY && req && m->method == PM_OFFER)
        on_offer(mc, m);
    else if (mc->state == MC_READY && !req && m->method == PM_TOKENS)
        on_tokens(mc, m);
    else {
        char why[96];
        snprintf(why, sizeof why, "%s %s is not allowed %s", proto_method_name(m->method),
                 req ? "request" : "notification",
                 mc->state == MC_HELLO ? "before hello" : mc->state == MC_AUTH ? "before auth"
                                                                               : "from a miner");
        if (req)
            send_error(mc, m->id, PROTO_ERR_STATE, why);
        mconn_kick(mc, PROTO_ERR_STATE, why);
    }
}

static void line_too_long(struct mconn *mc)
{
    send_error(mc, PROTO_NO_ID, PROTO_ERR_PARSE, "line longer than the protocol limit");
    begin_close(mc, "line longer than the protocol limit");
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct mconn *mc = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    mc->last_rx_ns = clock_mono_ns();
    while (mc->state != MC_CLOSING) {
        size_t avail = evbuffer_get_length(in), eol_len;
        struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
        if (eol.pos < 0) {
            if (avail > PROTO_MAX_LINE)
                line_too_long(mc);
            return;
        }
        size_t len = (size_t)eol.pos;
        if (len > PROTO_MAX_LINE) {
            line_too_long(mc);
            return;
        }
        const char *line = (const char *)evbuffer_pullup(in, (ev_ssize_t)(len + 1));
        struct proto_msg m;
        char err[FIEF_ERR_LEN];
        int rc = proto_parse(line, len, &m, err);
        evbuffer_drain(in, len + 1);
        if (rc) { /* the id could not be read: reply to no id, then drop */
            int code = rc == FIEF_EPROTO ? PROTO_ERR_REQUEST : PROTO_ERR_PARSE;
            send_error(mc, PROTO_NO_ID, code, err);
            log_notice("miner %s (%s): protocol error %d: %s; disconnecting",
                       mc->id[0] ? mc->id : "-", mc->peer, code, err);
            begin_close(mc, err);
            return;
        }
        handle(mc, &m);
        proto_msg_clear(&m);
    }
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct mconn *mc = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        begin_close(mc, what & BEV_EVENT_EOF ? "disconnected" : "connection error");
        close_now(mc); /* nothing more can be written to a dead socket */
    }
}

/* ---- accepting ---- */

static uint32_t unauth_from(struct gw *g, const char *ip)
{
    uint32_t n = 0;
    struct mconn *mc;
    TAILQ_FOREACH(mc, &g->conns, link)
        if (mc->state < MC_READY && !strcmp(mc->ip, ip))
            n++;
    return n;
}

static void accept_cb(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
    (void)lis;
    (void)sa;
    (void)socklen;
    struct gw *g = arg;
    const struct pool_cfg *cfg = pool_get_cfg(g->p);
    char peer[64];
    net_peer_name(fd, peer, sizeof peer);
    char ip[64];
    snprintf(ip, sizeof ip, "%s", peer);
    char *colon = strrchr(ip, ':');
    if (colon)
        *colon = 0;
    if (g->n_conns >= cfg->max_miners || unauth_from(g, ip) >= cfg->max_unauth_per_ip) {
        log_warn("miner gateway: refusing %s (%s)", peer,
                 g->n_conns >= cfg->max_miners ? "too many connections"
                                               : "too many unauthenticated connections from it");
        evutil_closesocket(fd);
        return;
    }
    struct mconn *mc = xcalloc(1, sizeof *mc);
    mc->g = g;
    snprintf(mc->peer, sizeof mc->peer, "%s", peer);
    snprintf(mc->ip, sizeof mc->ip, "%s", ip);
    unsigned char s[8];
    randombytes_buf(s, sizeof s);
    hex_encode(s, sizeof s, mc->session);
    mc->opened_ns = mc->last_rx_ns = clock_mono_ns();
    mc->next_req = 1;
    net_nodelay(fd);
    mc->bev = bufferevent_socket_new(pool_base(g->p), fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(mc->bev, read_cb, NULL, event_cb, mc);
    bufferevent_enable(mc->bev, EV_READ | EV_WRITE);
    TAILQ_INSERT_TAIL(&g->conns, mc, link);
    g->n_conns++;
    log_info("miner gateway: connection from %s (session %s)", peer, mc->session);
}

/* Auth deadline, keep-alive pings, silence, and closes that never drained. */
static void tick_cb(evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    struct gw *g = arg;
    const struct pool_cfg *cfg = pool_get_cfg(g->p);
    uint64_t now = clock_mono_ns(), ping_ns = (uint64_t)cfg->ping_ms * 1000000u;
    struct mconn *mc, *next;
    for (mc = TAILQ_FIRST(&g->conns); mc; mc = next) {
        next = TAILQ_NEXT(mc, link);
        if (mc->state == MC_CLOSING) {
            if (now - mc->closing_ns > (uint64_t)CLOSE_LINGER_MS * 1000000u)
                close_now(mc);
        } else if (mc->state != MC_READY &&
                   now - mc->opened_ns > (uint64_t)cfg->auth_timeout_ms * 1000000u) {
            mconn_kick(mc, PROTO_ERR_AUTH, "hello and auth did not finish in time");
        } else if (now - mc->last_rx_ns > 3 * ping_ns) {
            mconn_kick(mc, PROTO_ERR_STATE, "silent for too long");
        } else if (mc->state == MC_READY && !mc->ping_req && now - mc->last_rx_ns > ping_ns) {
            mc->ping_req = mc->next_req++;
            json_t *params = json_object();
            send_request(mc, mc->ping_req, PM_PING, params);
            json_decref(params);
        }
    }
}

/* ---- what the scheduler calls ---- */

const char *mconn_id(const struct mconn *mc)
{
    return mc->id;
}

bool mconn_ready(const struct mconn *mc)
{
    return mc->state == MC_READY;
}

const char *mconn_pubkey(const struct mconn *mc)
{
    return mc->hello.pubkey;
}

uint64_t mconn_send_job(struct mconn *mc, const struct proto_job *job)
{
    if (mc->state != MC_READY)
        return 0;
    uint64_t id = mc->next_req++;
    json_t *params = proto_job_encode(job);
    send_request(mc, id, PM_JOB, params);
    json_decref(params);
    return mc->state == MC_READY ? id : 0;
}

uint64_t mconn_send_score(struct mconn *mc, const struct proto_score *score)
{
    if (mc->state != MC_READY)
        return 0;
    uint64_t id = mc->next_req++;
    json_t *params = proto_score_encode(score);
    send_request(mc, id, PM_SCORE, params);
    json_decref(params);
    return mc->state == MC_READY ? id : 0;
}

void mconn_send_cancel(struct mconn *mc, const char *wire_id)
{
    struct proto_cancel c;
    snprintf(c.job, sizeof c.job, "%s", wire_id);
    json_t *params = proto_cancel_encode(&c);
    struct buf *b = &mc->g->out;
    buf_reset(b);
    proto_put_notify(b, PM_CANCEL, params);
    json_decref(params);
    send_line(mc, b);
}

void mconn_add_tokens(struct mconn *mc, uint32_t n)
{
    mc->tokens += n;
}

/* ---- notices and receipts ---- */

void gw_notice_all(struct gw *g, const struct proto_notice *n)
{
    struct mconn *mc;
    TAILQ_FOREACH(mc, &g->conns, link)
        send_notice(mc, n);
}

void gw_ban(struct gw *g, const char *pubkey, const char *reason)
{
    struct proto_notice n = {.kind = PROTO_NOTICE_MESSAGE};
    snprintf(n.message, sizeof n.message, "banned: %s", reason);
    struct mconn *mc;
    TAILQ_FOREACH(mc, &g->conns, link) {
        if (mc->state == MC_CLOSING || strcmp(mc->hello.pubkey, pubkey))
            continue;
        send_notice(mc, &n);
        log_notice("miner %s (%s): banned, disconnecting: %s", mc->id, mc->peer, reason);
        begin_close(mc, "banned");
    }
}

/* Whether an earlier entry of the receipt's miners names the same key. */
static bool named_before(json_t *miners, size_t i, const char *key)
{
    for (size_t k = 0; k < i; k++) {
        const char *other = json_string_value(json_object_get(json_array_get(miners, k), "miner"));
        if (other && !strcmp(other, key))
            return true;
    }
    return false;
}

void gw_send_receipt(struct gw *g, const char *req, const char *receipt_json)
{
    struct proto_receipt r = {.receipt = json_loads(receipt_json, 0, NULL)};
    json_t *miners = json_object_get(r.receipt, "miners");
    if (!json_is_array(miners) || snprintf(r.request, sizeof r.request, "%s", req) >=
                                      (int)sizeof r.request) {
        log_err("pool: bug: the receipt of %s is not one (%.64s)", req, receipt_json);
        json_decref(r.receipt);
        return;
    }
    /* Its own buffer: a send that kicks a slow miner writes a notice to g->out. */
    struct buf line;
    buf_init(&line);
    json_t *params = proto_receipt_encode(&r);
    proto_put_notify(&line, PM_RECEIPT, params);
    json_decref(params);
    size_t i;
    json_t *m;
    json_array_foreach(miners, i, m) {
        const char *key = json_string_value(json_object_get(m, "miner"));
        if (!key || named_before(miners, i, key))
            continue;
        struct mconn *mc;
        TAILQ_FOREACH(mc, &g->conns, link)
            if (mc->state == MC_READY && !strcmp(mc->hello.pubkey, key)) {
                log_debug("miner %s: receipt of %s", mc->id, req);
                send_line(mc, &line);
            }
    }
    buf_deinit(&line);
    json_decref(r.receipt);
}

/* ---- lifecycle ---- */

int gw_start(struct pool *p, struct disp *d, const char *listen, struct gw **out,
             char err[FIEF_ERR_LEN])
{
    int fd = net_listen(listen, err);
    if (fd < 0)
        return fd;
    struct gw *g = xcalloc(1, sizeof *g);
    g->p = p;
    g->d = d;
    g->port = net_local_port(fd);
    TAILQ_INIT(&g->conns);
    TAILQ_INIT(&g->dead);
    buf_init(&g->out);
    struct event_base *base = pool_base(p);
    g->lis = evconnlistener_new(base, accept_cb, g, LEV_OPT_CLOSE_ON_FREE, -1, fd);
    g->reap = event_new(base, -1, 0, reap_cb, g);
    g->tick = event_new(base, -1, EV_PERSIST, tick_cb, g);
    struct timeval tv = {0, TICK_MS * 1000};
    if (!g->lis || !g->reap || !g->tick || event_add(g->tick, &tv)) {
        if (!g->lis)
            close(fd);
        gw_free(g);
        return fief_errf(err, FIEF_EIO, "cannot start the miner gateway on %s", listen);
    }
    log_notice("miner gateway listening on %s (port %d)", listen, g->port);
    *out = g;
    return 0;
}

int gw_port(const struct gw *g)
{
    return g->port;
}

void gw_free(struct gw *g)
{
    if (!g)
        return;
    if (g->lis)
        evconnlistener_free(g->lis);
    struct mconn *mc;
    TAILQ_FOREACH(mc, &g->dead, link)
        mc->gone_pending = false; /* the scheduler is torn down by its owner */
    while ((mc = TAILQ_FIRST(&g->conns))) {
        mc->gone_pending = false;
        mc->state = MC_CLOSING;
        close_now(mc);
    }
    if (g->reap)
        reap_cb(-1, 0, g);
    if (g->reap)
        event_free(g->reap);
    if (g->tick)
        event_free(g->tick);
    buf_deinit(&g->out);
    free(g);
}
