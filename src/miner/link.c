/* SPDX-License-Identifier: MIT */
/* One pool session: the TCP connection, line framing, the handshake
 * (hello -> terms check -> auth -> offer), dispatch of the pool's messages,
 * liveness (ping a silent pool, drop a dead one) and the pool's notices.
 * Jobs themselves are in serve.c. */
#include "miner/link_impl.h"
#include "miner/receipts.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/net.h"
#include "common/receipt.h"
#include "common/xalloc.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define OUT_MAX (64u << 20) /* unsent bytes before we call the pool dead: it stopped reading */
#define AGENT_NAME "fief-miner/" FIEF_VERSION

/* ---- URLs ---- */

int link_url_parse(const char *url, char *host, size_t host_cap, int *port, char err[FIEF_ERR_LEN])
{
    const char *rest = url;
    const char *sep = strstr(url, "://");
    if (sep) {
        size_t sl = (size_t)(sep - url);
        if (sl == 8 && !strncmp(url, "fief+tls", 8))
            return fief_errf(err, FIEF_EUNSUPPORTED,
                             "\"%s\": fief+tls:// is not supported by "
                             "this miner yet; use fief+tcp://",
                             url);
        if (sl != 8 || strncmp(url, "fief+tcp", 8))
            return fief_errf(err, FIEF_EINVAL, "\"%s\": the scheme must be fief+tcp://", url);
        rest = sep + 3;
    }
    char hp[300];
    size_t n = strcspn(rest, "/");
    if (n == 0 || n + 8 >= sizeof hp || strspn(rest + n, "/") != strlen(rest + n))
        return fief_errf(err, FIEF_EINVAL, "\"%s\": expected fief+tcp://HOST[:PORT]", url);
    memcpy(hp, rest, n);
    hp[n] = 0;
    /* No port (a ':' after any IPv6 brackets): the default one. */
    const char *colon = strrchr(hp, ':'), *bracket = strrchr(hp, ']');
    if (!colon || (bracket && colon < bracket))
        snprintf(hp + n, sizeof hp - n, ":%d", LINK_DEFAULT_PORT);
    char e[FIEF_ERR_LEN];
    if (net_split_hostport(hp, host, host_cap, port, e) || hp[0] == ':')
        return fief_errf(err, FIEF_EINVAL, "\"%s\": expected fief+tcp://HOST[:PORT]", url);
    if (*port == 0)
        return fief_errf(err, FIEF_EINVAL, "\"%s\": port 0", url);
    return 0;
}

/* ---- sending ---- */

/* Write the line in l->out. When nothing is queued before it, it goes to the
 * socket right here rather than on the loop's next turn (tokens are latency
 * bound); whatever the kernel does not take is queued in order. Returns
 * whether all of it was written now. */
static bool send_line(struct link *l)
{
    if (l->phase == PH_CLOSED || !l->bev)
        return false;
    log_debug("%s: -> %.*s", l->url, (int)(l->out.len > 300 ? 300 : l->out.len - 1), l->out.data);
    const char *p = l->out.data;
    size_t n = l->out.len;
    struct evbuffer *out = bufferevent_get_output(l->bev);
    if (evbuffer_get_length(out) == 0 && l->phase > PH_CONNECTING) {
        ssize_t w = send(bufferevent_getfd(l->bev), p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w == (ssize_t)n)
            return true;
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } /* else: EAGAIN, or an error the bufferevent will report */
    }
    bufferevent_write(l->bev, p, n);
    return false;
}

static uint64_t send_request(struct link *l, enum proto_method m, json_t *params)
{
    uint64_t id = ++l->next_id;
    buf_reset(&l->out);
    proto_put_request(&l->out, id, m, params);
    json_decref(params);
    send_line(l);
    return id;
}

void link_send_result(struct link *l, uint64_t id, json_t *result)
{
    buf_reset(&l->out);
    proto_put_result(&l->out, id, result);
    json_decref(result);
    send_line(l);
}

void link_send_error(struct link *l, uint64_t id, int code, const char *fmt, ...)
{
    char msg[PROTO_MAX_TEXT + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_info("%s: error reply to request %llu: %d %s", l->url, (unsigned long long)id, code, msg);
    buf_reset(&l->out);
    proto_put_error(&l->out, id, code, msg);
    send_line(l);
}

bool link_send_notify(struct link *l, enum proto_method m, json_t *params)
{
    buf_reset(&l->out);
    proto_put_notify(&l->out, m, params);
    json_decref(params);
    return send_line(l);
}

/* ---- relay timing ---- */

void link_lat_add(struct link_lat *l, double us)
{
    int b = us < 1 ? 0 : (int)(4 * log2(us)) + 1;
    l->hist[b < LINK_HIST ? b : LINK_HIST - 1]++;
    l->n++;
    l->sum_us += us;
    if (us > l->max_us)
        l->max_us = us;
}

double link_lat_quantile(const struct link_lat *l, double q)
{
    uint64_t want = (uint64_t)ceil(q * (double)l->n), seen = 0;
    for (int b = 0; b < LINK_HIST && l->n; b++)
        if ((seen += l->hist[b]) >= want && seen)
            return b == 0 ? 1 : exp2(b / 4.0);
    return l->max_us;
}

void link_relay_note(struct link *l, uint64_t t_ns, bool written)
{
    if (!written) {
        if (l->relay_n < RELAY_MAX)
            l->relay_t[l->relay_n++] = t_ns;
        return;
    }
    double us = (double)(clock_mono_ns() - t_ns) / 1e3;
    pthread_mutex_lock(&l->env.stats->mu);
    link_lat_add(&l->env.stats->relay, us);
    pthread_mutex_unlock(&l->env.stats->mu);
}

/* ---- closing ---- */

/* Cancel the session's jobs and stop all I/O. The socket itself closes when
 * the agent frees the link: never inside one of the link's own callbacks. */
static void close_session(struct link *l)
{
    if (l->phase == PH_CLOSED)
        return;
    l->phase = PH_CLOSED;
    exec_cancel_owner(l->env.ex, l->tag);
    serve_drop_all(l);
    if (l->bev && bufferevent_getfd(l->bev) >= 0) {
        /* Best effort, non-blocking: a last error reply should reach the pool.
         * (evbuffer_write cannot: a bufferevent's output start is frozen.) */
        struct evbuffer *out = bufferevent_get_output(l->bev);
        size_t n = evbuffer_get_length(out);
        if (n && send(bufferevent_getfd(l->bev), evbuffer_pullup(out, (ev_ssize_t)n), n,
                      MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            log_debug("%s: last lines not sent: %s", l->url, strerror(errno));
        bufferevent_disable(l->bev, EV_READ | EV_WRITE);
    }
    evtimer_del(l->timer);
}

static void shut(struct link *l, enum link_why why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The session ended by itself: log why and tell the agent. */
static void shut(struct link *l, enum link_why why, const char *fmt, ...)
{
    if (l->phase == PH_CLOSED)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (l->probe && l->phase < PH_AUTH)
        log_info("%s: probe: %s", l->url, msg);
    else if (why == LINK_WHY_ERROR)
        log_warn("%s: %s", l->url, msg);
    else
        log_notice("%s: %s", l->url, msg);
    close_session(l);
    l->why = why;
    l->env.on_event(l->env.ud, l, LINK_CLOSED);
}

void link_close(struct link *l)
{
    if (l->phase != PH_CLOSED) {
        close_session(l);
        l->why = LINK_WHY_LOCAL;
    }
}

/* ---- handshake ---- */

static void send_hello(struct link *l)
{
    struct proto_hello h = {.version = PROTO_VERSION};
    snprintf(h.agent, sizeof h.agent, "%s", AGENT_NAME);
    snprintf(h.pubkey, sizeof h.pubkey, "%s", l->env.id->pk_hex);
    snprintf(h.worker, sizeof h.worker, "%s", l->env.worker);
    snprintf(h.payout, sizeof h.payout, "%s", l->env.payout);
    l->phase = PH_HELLO;
    l->hello_id = send_request(l, PM_HELLO, proto_hello_encode(&h));
}

static void send_auth(struct link *l)
{
    char msg[PROTO_NONCE_HEX + 32];
    struct proto_auth a;
    size_t n = proto_auth_message(l->welcome.challenge, msg, sizeof msg);
    if (!n) {
        shut(l, LINK_WHY_ERROR, "the pool's challenge is not %d hex digits", PROTO_NONCE_HEX);
        return;
    }
    ident_sign(l->env.id, msg, n, a.signature);
    l->phase = PH_AUTH;
    l->auth_id = send_request(l, PM_AUTH, proto_auth_encode(&a));
}

static void send_offer(struct link *l)
{
    struct proto_offer o = {0};
    const struct exec *ex = l->env.ex;
    for (int i = 0; i < exec_n_models(ex); i++) {
        const struct exec_model *m = exec_model(ex, i);
        struct proto_offer_model *om = &o.m[o.n++];
        snprintf(om->name, sizeof om->name, "%s", m->name);
        snprintf(om->digest, sizeof om->digest, "%s", m->digest);
        om->ctx = (uint32_t)m->n_ctx;
        om->slots = (uint32_t)m->n_slots;
        om->tps = m->tps < 1e6 ? m->tps : 1e6; /* the protocol's ceiling */
        om->caps = l->env.caps;
    }
    l->phase = PH_OFFER;
    l->offer_id = send_request(l, PM_OFFER, proto_offer_encode(&o));
}

static bool fee_ok(const struct link *l, uint32_t fee_ppm)
{
    return fee_ppm <= l->env.max_fee_ppm;
}

static void on_welcome(struct link *l, json_t *result)
{
    char err[FIEF_ERR_LEN];
    int rc = proto_welcome_decode(result, &l->welcome, err);
    if (rc == FIEF_EUNSUPPORTED) {
        shut(l, LINK_WHY_REFUSED, "the pool speaks protocol version %u, this miner %d",
             l->welcome.version, PROTO_VERSION);
        return;
    }
    if (rc) {
        shut(l, LINK_WHY_ERROR, "bad hello reply: %s", err);
        return;
    }
    const struct proto_terms *t = &l->welcome.terms;
    if (!fee_ok(l, t->fee_ppm)) {
        shut(l, LINK_WHY_FEE, "leaving: pool fee %.2f%% is above --max-fee %.2f%%",
             t->fee_ppm / 1e4, l->env.max_fee_ppm / 1e4);
        return;
    }
    if (l->probe) {
        l->phase = PH_WELCOMED;
        l->env.on_event(l->env.ud, l, LINK_WELCOMED);
        return;
    }
    log_notice("%s: pool \"%s\" (session %s): fee %.2f%%, %s, maturity %us, audit rate %.3g, "
               "receipt key %s",
               l->url, t->pool, l->welcome.session, t->fee_ppm / 1e4, t->scheme, t->maturity_s,
               t->audit_rate, t->pool_key[0] ? t->pool_key : "none");
    send_auth(l);
}

static void on_authed(struct link *l, json_t *result)
{
    struct proto_authed a;
    char err[FIEF_ERR_LEN];
    if (proto_authed_decode(result, &a, err)) {
        shut(l, LINK_WHY_ERROR, "bad auth reply: %s", err);
        return;
    }
    log_notice("%s: authenticated as miner %s (key %s)", l->url, a.miner, l->env.id->pk_hex);
    send_offer(l);
}

static void on_verdicts(struct link *l, json_t *result)
{
    struct proto_verdicts v;
    char err[FIEF_ERR_LEN];
    int n_models = exec_n_models(l->env.ex), n_ok = 0;
    if (proto_verdicts_decode(result, &v, err) || v.n != (uint32_t)n_models) {
        shut(l, LINK_WHY_ERROR, "bad offer reply: %s",
             v.n != (uint32_t)n_models ? "one verdict per offered model expected" : err);
        return;
    }
    for (int i = 0; i < n_models; i++) {
        const struct exec_model *m = exec_model(l->env.ex, i);
        l->accepted[i] = v.v[i].accepted;
        if (v.v[i].accepted) {
            snprintf(l->pool_name[i], sizeof l->pool_name[i], "%s", v.v[i].name);
            log_notice("%s: model %s accepted as \"%s\"", l->url, m->name, v.v[i].name);
            n_ok++;
        } else {
            log_warn("%s: model %s rejected: %s", l->url, m->name, v.v[i].reason);
        }
    }
    if (!n_ok) {
        shut(l, LINK_WHY_REFUSED, "the pool accepted none of our models");
        return;
    }
    l->phase = PH_SERVING;
    pthread_mutex_lock(&l->env.stats->mu);
    l->env.stats->sessions++;
    pthread_mutex_unlock(&l->env.stats->mu);
    l->env.on_event(l->env.ud, l, LINK_SERVING);
}

/* ---- dispatch ---- */

static void on_reply(struct link *l, const struct proto_msg *msg)
{
    uint64_t id = msg->id;
    if (id == l->ping_id) {
        l->ping_id = 0;
        return;
    }
    if (id != l->hello_id && id != l->auth_id && id != l->offer_id) {
        log_debug("%s: reply to unknown request %llu ignored", l->url, (unsigned long long)id);
        return;
    }
    if (msg->is_error) {
        const char *what = id == l->hello_id ? "hello" : id == l->auth_id ? "auth" : "offer";
        shut(l, LINK_WHY_REFUSED, "the pool refused %s: %s (code %d)", what, msg->err_msg,
             msg->err_code);
        return;
    }
    if (id == l->hello_id && l->phase == PH_HELLO)
        on_welcome(l, msg->result);
    else if (id == l->auth_id && l->phase == PH_AUTH)
        on_authed(l, msg->result);
    else if (id == l->offer_id && l->phase == PH_OFFER)
        on_verdicts(l, msg->result);
}

static void on_request(struct link *l, const struct proto_msg *msg)
{
    bool serving = l->phase == PH_SERVING;
    switch (msg->method) {
    case PM_PING:
        link_send_result(l, msg->id, json_object());
        return;
    case PM_JOB:
    case PM_SCORE:
        if (!serving)
            link_send_error(l, msg->id, PROTO_ERR_STATE, "%s before the offer was answered",
                            proto_method_name(msg->method));
        else if (msg->method == PM_JOB)
            serve_job(l, msg);
        else
            serve_score(l, msg);
        return;
    default: {
        const char *name = json_string_value(json_object_get(msg->root, "method"));
        link_send_error(l, msg->id, PROTO_ERR_METHOD, "a miner does not serve \"%.64s\"",
                        name ? name : "?");
    }
    }
}

static void on_notice(struct link *l, const struct proto_msg *msg)
{
    struct proto_notice n;
    char err[FIEF_ERR_LEN];
    if (proto_notice_decode(msg->params, &n, err)) {
        log_warn("%s: malformed notice ignored: %s", l->url, err);
        return;
    }
    switch (n.kind) {
    case PROTO_NOTICE_MESSAGE:
        log_notice("%s: pool says: %s", l->url, n.message);
        break;
    case PROTO_NOTICE_FEE:
        if (!fee_ok(l, n.fee_ppm))
            shut(l, LINK_WHY_FEE,
                 "leaving: the pool raised its fee to %.2f%%, above "
                 "--max-fee %.2f%% (%s)",
                 n.fee_ppm / 1e4, l->env.max_fee_ppm / 1e4, n.message);
        else
            log_notice("%s: pool fee is now %.2f%% (%s)", l->url, n.fee_ppm / 1e4, n.message);
        break;
    case PROTO_NOTICE_SHUTDOWN:
        shut(l, LINK_WHY_SHUTDOWN, "the pool is shutting down (%s)", n.message);
        break;
    case PROTO_NOTICE_REDIRECT: {
        char host[256];
        int port;
        if (link_url_parse(n.url, host, sizeof host, &port, err)) {
            log_warn("%s: redirect to an unusable URL ignored: %s", l->url, err);
            break;
        }
        snprintf(l->redirect, sizeof l->redirect, "%s", n.url);
        shut(l, LINK_WHY_REDIRECT, "the pool redirects us to %s (%s)", n.url, n.message);
        break;
    }
    }
}

/* A settled request's receipt: checked against the key the pool published in
 * its hello reply, and filed. A bad one is kept aside, never acted on. */
static void on_receipt(struct link *l, const struct proto_msg *msg)
{
    struct proto_receipt r;
    struct receipts_share sh;
    char err[FIEF_ERR_LEN], earned[32];
    if (proto_receipt_decode(msg->params, &r, err)) {
        log_warn("%s: malformed receipt ignored: %s", l->url, err);
        return;
    }
    const char *key = l->welcome.terms.pool_key;
    int rc = receipts_file(l->env.data_dir, key, l->env.id->pk_hex, &r, &sh, err);
    if (rc == FIEF_EIO)
        log_err("%s: receipt of %s not filed: %s", l->url, r.request, err);
    else if (rc)
        log_warn("%s: receipt of %s rejected (kept in %s): %s", l->url, r.request,
                 RECEIPTS_REJECTED, err);
    else
        log_notice("%s: receipt %s: earned %s credits for %u tokens of %s%s", l->url, r.request,
                   receipt_credits(sh.earned, earned), sh.tokens, sh.model,
                   key[0] ? "" : " (the pool published no key: signature checked against the "
                                 "key the receipt names)");
    proto_receipt_clear(&r);
}

static void on_notify(struct link *l, const struct proto_msg *msg)
{
    if (msg->method == PM_CANCEL)
        serve_cancel(l, msg);
    else if (msg->method == PM_NOTICE)
        on_notice(l, msg);
    else if (msg->method == PM_RECEIPT)
        on_receipt(l, msg);
    else
        log_debug("%s: notification \"%s\" ignored", l->url, proto_method_name(msg->method));
}

static void on_line(struct link *l, const char *line, size_t len)
{
    struct proto_msg msg;
    char err[FIEF_ERR_LEN];
    log_debug("%s: <- %.*s", l->url, (int)(len > 300 ? 300 : len), line);
    int rc = proto_parse(line, len, &msg, err);
    if (rc) {
        link_send_error(l, PROTO_NO_ID, rc == FIEF_EPROTO ? PROTO_ERR_REQUEST : PROTO_ERR_PARSE,
                        "%s", err);
        shut(l, LINK_WHY_ERROR, "protocol error from the pool: %s", err);
        return;
    }
    if (msg.kind == PROTO_REPLY)
        on_reply(l, &msg);
    else if (msg.kind == PROTO_REQUEST)
        on_request(l, &msg);
    else
        on_notify(l, &msg);
    proto_msg_clear(&msg);
}

/* ---- libevent callbacks ---- */

static void on_read(struct bufferevent *bev, void *ud)
{
    struct link *l = ud;
    struct evbuffer *in = bufferevent_get_input(bev);
    l->last_rx = clock_mono_s();
    while (l->phase != PH_CLOSED) {
        size_t avail = evbuffer_get_length(in);
        struct evbuffer_ptr from, nl;
        evbuffer_ptr_set(in, &from, l->scan, EVBUFFER_PTR_SET);
        nl = evbuffer_search(in, "\n", 1, &from);
        size_t len = nl.pos < 0 ? avail : (size_t)nl.pos;
        if (len > PROTO_MAX_LINE) {
            link_send_error(l, PROTO_NO_ID, PROTO_ERR_PARSE, "line over %u bytes", PROTO_MAX_LINE);
            shut(l, LINK_WHY_ERROR, "the pool sent a line over %u bytes", PROTO_MAX_LINE);
            return;
        }
        if (nl.pos < 0) {
            l->scan = avail; /* search only new bytes next time */
            return;
        }
        const char *line = (const char *)evbuffer_pullup(in, (ev_ssize_t)len + 1);
        on_line(l, line, len);
        evbuffer_drain(in, len + 1);
        l->scan = 0;
    }
}

/* The output buffer drained: every line queued so far has been written. */
static void on_write(struct bufferevent *bev, void *ud)
{
    (void)bev;
    struct link *l = ud;
    if (!l->relay_n)
        return;
    uint64_t now = clock_mono_ns();
    struct link_stats *s = l->env.stats;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < l->relay_n; i++)
        link_lat_add(&s->relay, (double)(now - l->relay_t[i]) / 1e3);
    pthread_mutex_unlock(&s->mu);
    l->relay_n = 0;
}

static void on_conn_event(struct bufferevent *bev, short what, void *ud)
{
    struct link *l = ud;
    if (what & BEV_EVENT_CONNECTED) {
        net_nodelay(bufferevent_getfd(bev));
        log_info("%s: connected%s", l->url, l->probe ? " (probe)" : "");
        l->last_rx = clock_mono_s();
        send_hello(l);
        return;
    }
    int dns = bufferevent_socket_get_dns_error(bev);
    if (l->phase == PH_CONNECTING)
        shut(l, LINK_WHY_ERROR, "cannot connect: %s",
             dns ? evutil_gai_strerror(dns) : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    else if (what & BEV_EVENT_EOF)
        shut(l, LINK_WHY_ERROR, "the pool closed the connection");
    else
        shut(l, LINK_WHY_ERROR, "connection lost: %s",
             evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* Liveness: a pool silent for ping_s gets a ping; one silent for silence_s
 * (or a handshake that long) is dropped. */
static void on_tick(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct link *l = ud;
    if (l->fail_pending) {
        shut(l, LINK_WHY_ERROR, "cannot connect to %s:%d", l->host, l->port);
        return;
    }
    double now = clock_mono_s();
    /* A pool that does not even accept is given less time than a silent one:
     * its miners should fail over soon. */
    double limit = l->phase == PH_CONNECTING ? l->env.ping_s : l->env.silence_s;
    if (l->phase < PH_SERVING && l->phase != PH_WELCOMED && now - l->t_open > limit)
        shut(l, LINK_WHY_ERROR, "no answer within %.0f s", limit);
    else if (now - l->last_rx >= l->env.silence_s)
        shut(l, LINK_WHY_ERROR, "the pool has been silent for %.0f s", now - l->last_rx);
    else if (l->bev && evbuffer_get_length(bufferevent_get_output(l->bev)) > OUT_MAX)
        shut(l, LINK_WHY_ERROR, "the pool stopped reading");
    else if (now - l->last_rx >= l->env.ping_s && !l->ping_id && l->phase >= PH_OFFER)
        l->ping_id = send_request(l, PM_PING, json_object());
}

/* ---- lifecycle ---- */

struct link *link_new(const struct link_env *env, const char *url, uint64_t tag, bool probe)
{
    struct link *l = xcalloc(1, sizeof *l);
    char err[FIEF_ERR_LEN];
    l->env = *env;
    l->tag = tag;
    l->probe = probe;
    snprintf(l->url, sizeof l->url, "%s", url);
    buf_init(&l->out);
    l->n_jobs = exec_n_slots(env->ex);
    l->jobs = xcalloc((size_t)l->n_jobs, sizeof *l->jobs);
    l->t_open = l->last_rx = clock_mono_s();
    l->timer = event_new(env->base, -1, EV_PERSIST, on_tick, l);
    double tick = env->ping_s < env->silence_s ? env->ping_s / 3 : env->silence_s / 3;
    struct timeval tv = {(time_t)tick, (suseconds_t)((tick - (time_t)tick) * 1e6)};
    evtimer_add(l->timer, &tv);
    l->bev = bufferevent_socket_new(env->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!l->bev || link_url_parse(url, l->host, sizeof l->host, &l->port, err) ||
        bufferevent_socket_connect_hostname(l->bev, env->dns, AF_UNSPEC, l->host, l->port)) {
        l->fail_pending = true; /* reported from the loop, never inside link_new */
        event_active(l->timer, EV_TIMEOUT, 0);
        return l;
    }
    bufferevent_setcb(l->bev, on_read, on_write, on_conn_event, l);
    bufferevent_enable(l->bev, EV_READ | EV_WRITE);
    log_info("%s: connecting%s", l->url, probe ? " (probe)" : "");
    return l;
}

void link_promote(struct link *l)
{
    if (l->phase != PH_WELCOMED)
        return;
    l->probe = false;
    const struct proto_terms *t = &l->welcome.terms;
    log_notice("%s: back on this pool: fee %.2f%%, %s", l->url, t->fee_ppm / 1e4, t->scheme);
    send_auth(l);
}

void link_free(struct link *l)
{
    if (!l)
        return;
    link_close(l);
    serve_free(l);
    if (l->bev)
        bufferevent_free(l->bev);
    event_free(l->timer);
    buf_deinit(&l->out);
    free(l);
}

void link_on_exec(struct link *l, const struct exec_ev *ev)
{
    serve_on_exec(l, ev);
}

void link_flush(struct link *l)
{
    serve_flush(l);
}

uint64_t link_tag(const struct link *l)
{
    return l->tag;
}

const char *link_url(const struct link *l)
{
    return l->url;
}

bool link_is_open(const struct link *l)
{
    return l->phase != PH_CLOSED;
}

bool link_is_serving(const struct link *l)
{
    return l->phase == PH_SERVING;
}

enum link_why link_why(const struct link *l)
{
    return l->why;
}

const char *link_redirect(const struct link *l)
{
    return l->redirect;
}
