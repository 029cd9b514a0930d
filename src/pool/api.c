/* SPDX-License-Identifier: MIT */
/* The HTTP API on libevent's evhttp: routing, API keys, and the generation
 * requests of /v1/chat/completions and /v1/completions, streamed as SSE or
 * collected into one JSON. A generation request (struct gen) lives from the
 * request to its reply or to the customer's disconnect, whichever comes first;
 * its jobs are cancelled when it dies early, so no callback outlives it. */
#include "pool/api.h"
#include "pool/metrics.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/net.h"
#include "common/xalloc.h"
#include "ledger/store.h"
#include "pool/api_req.h"
#include "pool/api_resp.h"
#include "pool/disp.h"
#include "pool/models.h"
#include "pool/pool.h"
#include "pool/textout.h"

#ifndef FIEF_VERSION
#define FIEF_VERSION "0"
#endif

struct gen;

struct api {
    struct pool *p;
    struct evhttp *http;
    int port;
    char fingerprint[40];   /* system_fingerprint: "fief-<version>" */
    struct api_stats stats;
    struct gen *gens;       /* generation requests in flight (a list) */
};

/* One choice of a generation request: one job. */
struct choice {
    struct gen *g;
    uint32_t index;
    struct pjob *job;       /* NULL once it ended or was cancelled */
    struct textout *tx;
    struct buf text;        /* non-stream: the text so far */
    json_t *logprobs;       /* non-stream: the logprobs so far (or NULL) */
    size_t text_offset;     /* completions logprobs: characters so far */
    const char *finish;     /* "stop"/"length" once ended */
};

struct gen {
    struct api *a;
    struct gen *prev, *next;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    struct event *watch;    /* notices the customer leaving while we wait */
    struct api_req r;
    struct pool_model *m;
    struct resp_meta meta;
    char id[40];
    uint32_t n_prompt, n_open;
    bool started;           /* stream: status line and headers sent */
    struct buf out;         /* SSE events of the current callback, sent as one chunk */
    struct evbuffer *evb;
    struct choice ch[API_MAX_N];
};

/* ---- replies ---- */

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "Error";
    }
}

static void count_status(struct api *a, int status)
{
    if (status >= 500)
        a->stats.errors_5xx++;
    else if (status >= 400)
        a->stats.errors_4xx++;
}

/* Send j (consumed) as the whole reply. req is freed by libevent after this. */
static void reply_json(struct api *a, struct evhttp_request *req, int status, json_t *j)
{
    struct buf b;
    buf_init(&b);
    resp_dump(j, false, &b);
    buf_putc(&b, '\n');
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    evbuffer_add(evhttp_request_get_output_buffer(req), b.data, b.len);
    buf_deinit(&b);
    count_status(a, status);
    evhttp_send_reply(req, status, reason(status), NULL);
}

static void reply_err(struct api *a, struct evhttp_request *req, const struct api_err *e)
{
    log_debug("api: %s -> %d %s", evhttp_request_get_uri(req) ? evhttp_request_get_uri(req) : "?",
              e->status, e->message);
    reply_json(a, req, e->status, resp_error(e));
}

static void reply_errf(struct api *a, struct evhttp_request *req, int status, const char *type,
                       const char *param, const char *code, const char *msg)
{
    struct api_err e;
    api_err_set(&e, status, type, param, code, "%s", msg);
    reply_err(a, req, &e);
}

/* ---- the generation request's life ---- */

static void gen_unlink(struct gen *g)
{
    if (g->prev)
        g->prev->next = g->next;
    else
        g->a->gens = g->next;
    if (g->next)
        g->next->prev = g->prev;
    g->a->stats.open--;
}

/* Forget the request: no callback of ours may reach the connection after
 * this, so a later reply or close cannot find a freed gen. */
static void gen_detach(struct gen *g)
{
    if (g->evcon)
        evhttp_connection_set_closecb(g->evcon, NULL, NULL);
    if (g->watch)
        event_free(g->watch);
    g->watch = NULL;
    g->evcon = NULL;
}

static void gen_free(struct gen *g)
{
    for (uint32_t i = 0; i < g->r.n; i++) {
        if (g->ch[i].job)
            disp_cancel(pool_disp(g->a->p), g->ch[i].job);
        textout_free(g->ch[i].tx);
        buf_deinit(&g->ch[i].text);
        json_decref(g->ch[i].logprobs);
    }
    gen_detach(g);
    gen_unlink(g);
    api_req_free(&g->r);
    buf_deinit(&g->out);
    if (g->evb)
        evbuffer_free(g->evb);
    free(g);
}

/* The customer is gone (libevent is freeing the connection): cancel the jobs.
 * A request whose reply had begun was detached from its connection by
 * libevent, and is ours to free; otherwise libevent frees it. */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    struct gen *g = arg;
    (void)evcon;
    log_info("api: %s: connection closed, cancelling %u open choice(s)", g->id, g->n_open);
    g->a->stats.cancelled++;
    if (evhttp_request_get_connection(g->req) == NULL)
        evhttp_request_free(g->req);
    g->evcon = NULL; /* being freed: no closecb to clear */
    gen_free(g);
}

/* libevent does not read a connection while a request on it is answered, so
 * a customer who leaves during a long wait would go unnoticed until the next
 * write. This watches the socket for the EOF. */
static void on_watch(evutil_socket_t fd, short what, void *arg)
{
    struct gen *g = arg;
    (void)what;
    char c;
    ssize_t r = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r > 0)
        return; /* a pipelined request: stop watching, the next write will tell */
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        event_add(g->watch, NULL);
        return;
    }
    /* EOF or an error: the customer is gone. Cancel and forget first, then
     * drop the connection (which frees the request with it). */
    struct evhttp_connection *evcon = g->evcon;
    log_info("api: %s: customer left, cancelling %u open choice(s)", g->id, g->n_open);
    g->a->stats.cancelled++;
    gen_free(g);
    evhttp_connection_free(evcon);
}

static void gen_send_chunk(struct gen *g)
{
    if (!g->out.len)
        return;
    evbuffer_add(g->evb, g->out.data, g->out.len);
    buf_reset(&g->out);
    evhttp_send_reply_chunk(g->req, g->evb);
}

/* Stream: status line, headers and each choice's role chunk, at the first
 * token, so a job that fails before producing anything still gets an honest
 * status code. */
static void gen_begin_stream(struct gen *g)
{
    if (g->started)
        return;
    g->started = true;
    struct evkeyvalq *h = evhttp_request_get_output_headers(g->req);
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_add_header(h, "X-Accel-Buffering", "no"); /* proxies must not batch events */
    evhttp_send_reply_start(g->req, 200, "OK");
    if (g->r.kind == API_CHAT)
        for (uint32_t i = 0; i < g->r.n; i++)
            resp_dump(resp_chunk(&g->meta, i, "assistant", "", 0, NULL, NULL), true, &g->out);
}

static void gen_finish(struct gen *g)
{
    struct resp_usage u = {g->n_prompt, 0};
    for (uint32_t i = 0; i < g->r.n; i++)
        u.completion_tokens += textout_n_tokens(g->ch[i].tx);
    struct api *a = g->a;
    a->stats.prompt_tokens += u.prompt_tokens;
    a->stats.completion_tokens += u.completion_tokens;
    struct evhttp_request *req = g->req;
    gen_detach(g); /* before the reply: sending it may close the connection */
    if (!g->r.stream) {
        struct resp_choice c[API_MAX_N];
        for (uint32_t i = 0; i < g->r.n; i++) {
            c[i] = (struct resp_choice){g->ch[i].text.data, g->ch[i].text.len,
                                        g->ch[i].logprobs, g->ch[i].finish};
            g->ch[i].logprobs = NULL;
        }
        reply_json(a, req, 200, resp_full(&g->meta, c, g->r.n, &u));
    } else {
        gen_begin_stream(g);
        if (g->r.include_usage)
            resp_dump(resp_usage_chunk(&g->meta, &u), true, &g->out);
        buf_puts(&g->out, "data: [DONE]\n\n");
        gen_send_chunk(g);
        evhttp_send_reply_end(req);
    }
    gen_free(g);
}

/* No miner could finish a choice: the whole request fails with 502 (or an
 * error event, once the stream has begun), and the other choices stop. */
static void gen_fail(struct gen *g, const char *msg)
{
    struct api_err e;
    api_err_set(&e, 502, "server_error", NULL, "upstream_failed",
                "No miner could finish this request: %s", msg ? msg : "unknown error");
    log_notice("api: %s: %s", g->id, e.message);
    struct evhttp_request *req = g->req;
    struct api *a = g->a;
    gen_detach(g);
    if (!g->started) {
        reply_err(a, req, &e);
    } else {
        count_status(a, 502);
        resp_dump(resp_error(&e), true, &g->out);
        gen_send_chunk(g);
        evhttp_send_reply_end(req); /* no [DONE]: the stream did not finish */
    }
    gen_free(g);
}

/* ---- sink: tokens and ends from the scheduler ---- */

static void add_logprobs(struct gen *g, struct pjob *j, uint32_t from, uint32_t n, json_t *lp,
                         size_t *offset)
{
    uint32_t total;
    const int32_t *ids = pjob_tokens(j, &total);
    const float *lps = pjob_logprobs(j);
    for (uint32_t k = from; k < from + n && k < total; k++) {
        struct resp_tok t = {.id = ids[k], .logprob = lps[k]};
        t.top = pjob_top(j, k, &t.n_top);
        resp_logprobs_add(lp, g->r.kind, g->m->vocab, &t, g->r.top_logprobs, offset);
    }
}

/* Text (and the tokens it completes) that the detokenizer released. */
static void choice_emit(struct choice *c, struct pjob *j, const struct textout_emit *e)
{
    struct gen *g = c->g;
    if (!g->r.stream) {
        buf_append(&c->text, e->text, e->len);
        if (c->logprobs && e->n_tok)
            add_logprobs(g, j, e->tok_from, e->n_tok, c->logprobs, &c->text_offset);
        return;
    }
    json_t *lp = NULL;
    if (g->r.logprobs && e->n_tok) {
        lp = resp_logprobs_new(g->r.kind, g->r.top_logprobs > 0);
        add_logprobs(g, j, e->tok_from, e->n_tok, lp, &c->text_offset);
        if (resp_logprobs_empty(lp, g->r.kind)) {
            json_decref(lp);
            lp = NULL;
        }
    }
    if (e->len || lp)
        resp_dump(resp_chunk(&g->meta, c->index, NULL, e->text, e->len, lp, NULL), true,
                  &g->out);
}

static void choice_end(struct choice *c, const char *finish)
{
    struct gen *g = c->g;
    c->finish = finish;
    c->job = NULL;
    g->n_open--;
    if (g->r.stream)
        resp_dump(resp_chunk(&g->meta, c->index, NULL, NULL, 0, NULL, finish), true, &g->out);
}

static void on_tokens(void *ud, struct pjob *j, uint32_t from, uint32_t n)
{
    struct choice *c = ud;
    struct gen *g = c->g;
    uint32_t total;
    const int32_t *ids = pjob_tokens(j, &total);
    if (g->r.stream)
        gen_begin_stream(g);
    for (uint32_t k = from; k < from + n && k < total; k++) {
        struct textout_emit e;
        if (textout_feed(c->tx, ids[k], &e))
            break;
        choice_emit(c, j, &e);
        if (e.stopped) {
            disp_cancel(pool_disp(g->a->p), j); /* the rest is not wanted */
            choice_end(c, "stop");
            break;
        }
    }
    if (g->r.stream)
        gen_send_chunk(g);
    if (g->n_open == 0)
        gen_finish(g);
}

static void on_done(void *ud, struct pjob *j, enum pjob_end end, const char *msg)
{
    struct choice *c = ud;
    struct gen *g = c->g;
    if (end == PJOB_FAILED) {
        c->job = NULL; /* ending now: gen_fail must not cancel it */
        gen_fail(g, msg);
        return;
    }
    struct textout_emit e;
    textout_finish(c->tx, &e);
    if (g->r.stream)
        gen_begin_stream(g);
    choice_emit(c, j, &e);
    choice_end(c, end == PJOB_LENGTH ? "length" : "stop");
    if (g->r.stream)
        gen_send_chunk(g);
    if (g->n_open == 0)
        gen_finish(g);
}

static const struct pjob_sink gen_sink = {on_tokens, on_done};

/* ---- starting a generation request ---- */

static void random_id(char *out, size_t cap, const char *prefix)
{
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    size_t k = (size_t)snprintf(out, cap, "%s", prefix);
    for (; k + 1 < cap && k < strlen(prefix) + 24; k++)
        out[k] = alnum[randombytes_uniform(sizeof alnum - 1)];
    out[k] = '\0';
}

static int submit_status(int rc)
{
    return rc == FIEF_ENOTFOUND ? 503 : rc == FIEF_ELIMIT ? 429 : rc == FIEF_EINVAL ? 400 : 500;
}

/* One job per choice (seed + i, so the choices differ and each is
 * reproducible). On failure the jobs already submitted are cancelled. */
static int gen_submit(struct gen *g, const int32_t *ids, uint32_t max_tokens, int64_t key_id,
                      struct api_err *e)
{
    struct pjob_params p = {
        .model = g->m, .prompt = ids, .n_prompt = g->n_prompt, .max_tokens = max_tokens,
        .temperature = g->r.temperature, .top_k = g->r.top_k, .top_p = g->r.top_p,
        .min_p = g->r.min_p, .repeat_penalty = g->r.repeat_penalty,
        .top_n = g->r.logprobs ? g->r.top_logprobs : 0, .key_id = key_id};
    struct buf jobs;
    buf_init(&jobs);
    for (uint32_t i = 0; i < g->r.n; i++) {
        char err[FIEF_ERR_LEN] = "";
        p.seed = (g->r.seed + i) & PROTO_MAX_ID;
        int rc = disp_submit(pool_disp(g->a->p), &p, &gen_sink, &g->ch[i], &g->ch[i].job, err);
        if (rc) {
            buf_deinit(&jobs);
            int st = submit_status(rc);
            if (st == 429)
                evhttp_add_header(evhttp_request_get_output_headers(g->req), "Retry-After", "1");
            err[0] = (char)toupper((unsigned char)err[0]);
            return api_err_set(e, st,
                               st == 400   ? "invalid_request_error"
                               : st == 429 ? "rate_limit_error"
                                           : "server_error",
                               NULL, st == 503 ? "no_miner" : st == 429 ? "queue_full" : NULL,
                               "%s%s", err, st == 503 ? "; try again in a moment." : ".");
        }
        g->n_open++;
        buf_printf(&jobs, "%s%s", i ? "," : "", pjob_id(g->ch[i].job));
    }
    evhttp_add_header(evhttp_request_get_output_headers(g->req), "X-Fief-Job", jobs.data);
    buf_deinit(&jobs);
    return 0;
}

static struct gen *gen_new(struct api *a, struct evhttp_request *req, struct api_req *r,
                           struct pool_model *m)
{
    struct gen *g = xcalloc(1, sizeof *g);
    g->a = a;
    g->req = req;
    g->r = *r; /* takes the request's allocations */
    g->m = m;
    random_id(g->id, sizeof g->id, r->kind == API_CHAT ? "chatcmpl-" : "cmpl-");
    g->meta = (struct resp_meta){r->kind, g->id, (int64_t)time(NULL), m->name, a->fingerprint,
                                 r->stream && r->include_usage};
    buf_init(&g->out);
    g->evb = evbuffer_new();
    for (uint32_t i = 0; i < r->n; i++) {
        struct choice *c = &g->ch[i];
        c->g = g;
        c->index = i;
        c->tx = textout_new(m->vocab, (const char *const *)r->stops, r->stop_lens, r->n_stops);
        buf_init(&c->text);
        if (r->logprobs && !r->stream)
            c->logprobs = resp_logprobs_new(r->kind, r->top_logprobs > 0);
    }
    g->next = a->gens;
    if (a->gens)
        a->gens->prev = g;
    a->gens = g;
    a->stats.open++;
    return g;
}

/* Watch the customer's side from now on: closecb for libevent's own
 * failures, and the EOF watch while we are silent. */
static void gen_watch(struct gen *g)
{
    g->evcon = evhttp_request_get_connection(g->req);
    evhttp_connection_set_closecb(g->evcon, on_conn_close, g);
    evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(g->evcon));
    g->watch = event_new(pool_base(g->a->p), fd, EV_READ, on_watch, g);
    event_add(g->watch, NULL);
}

/* The customer's key: 0 and its id, or a 401 in e. */
static int check_key(struct api *a, struct evhttp_request *req, int64_t *key_id,
                     struct api_err *e)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0 || !h[7])
        return api_err_set(e, 401, "invalid_request_error", NULL, NULL,
                           "You didn't provide an API key. Send it in the Authorization header "
                           "as a Bearer token (Authorization: Bearer fief-...); the pool's "
                           "operator creates keys with `fief keys create`.");
    const char *key = h + 7;
    size_t len = strlen(key);
    struct store_key info;
    if (store_key_check(pool_store(a->p), key, len, &info) != 0) {
        bool show = len >= 16 && len <= 128 && strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
                                                           "KLMNOPQRSTUVWXYZ0123456789-_") == len;
        return api_err_set(e, 401, "invalid_request_error", NULL, "invalid_api_key",
                           "Incorrect API key provided: %.8s...%s. The key is unknown or was "
                           "revoked; ask the pool's operator for a valid one.",
                           show ? key : "", show ? key + len - 4 : "");
    }
    *key_id = info.id;
    return 0;
}

static struct pool_model *find_model(struct api *a, const char *name, struct api_err *e)
{
    struct pool_model *m = models_find(pool_models(a->p), name);
    if (!m)
        api_err_set(e, 404, "invalid_request_error", "model", "model_not_found",
                    "The model '%s' does not exist on this pool. GET /v1/models lists the models "
                    "it serves.", name);
    return m;
}

static void handle_generate(struct api *a, struct evhttp_request *req, enum api_kind kind,
                            int64_t key_id)
{
    struct api_err e;
    struct api_req r;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    if (api_req_parse(kind, body, len, &r, &e))
        return reply_err(a, req, &e);
    struct pool_model *m = find_model(a, r.model, &e);
    int32_t *ids = NULL;
    uint32_t n_ids = 0, max_tokens = 0;
    if (!m || api_req_prompt(&r, m->vocab, m->chat, m->n_ctx_train,
                             pool_get_cfg(a->p)->max_tokens_default, &ids, &n_ids, &max_tokens,
                             &e)) {
        api_req_free(&r);
        return reply_err(a, req, &e);
    }
    if (!r.has_seed) /* the pool picks it: miners must not choose their own randomness */
        randombytes_buf(&r.seed, sizeof r.seed);
    r.seed &= PROTO_MAX_ID;
    struct gen *g = gen_new(a, req, &r, m);
    g->n_prompt = n_ids;
    int rc = gen_submit(g, ids, max_tokens, key_id, &e);
    free(ids);
    if (rc) {
        gen_free(g); /* cancels the choices already submitted */
        return reply_err(a, req, &e);
    }
    a->stats.completions++;
    a->stats.streams += r.stream;
    log_debug("api: %s: %s, %u prompt tokens, n=%u%s", g->id, m->name, n_ids, r.n,
              r.stream ? ", stream" : "");
    gen_watch(g);
}

/* ---- other routes ---- */

static void handle_models(struct api *a, struct evhttp_request *req, const char *one)
{
    struct pool_models *ms = pool_models(a->p);
    const char *owner = pool_get_cfg(a->p)->name;
    json_t *data = json_array();
    for (size_t i = 0; i < models_count(ms); i++) {
        struct pool_model *m = models_at(ms, i);
        struct disp_model_stats st;
        disp_model_stats(pool_disp(a->p), m, &st);
        if (one && !strcmp(one, m->name)) {
            json_decref(data);
            return reply_json(a, req, 200, resp_model(m->name, m->created_s, owner, m->price_in,
                                                      m->price_out, &st));
        }
        if (!one && st.miners > 0) /* the list shows what can be served now */
            json_array_append_new(data, resp_model(m->name, m->created_s, owner, m->price_in,
                                                   m->price_out, &st));
    }
    if (one) {
        struct api_err e;
        json_decref(data);
        find_model(a, one, &e);
        return reply_err(a, req, &e);
    }
    reply_json(a, req, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

static void handle_pool_view(struct api *a, struct evhttp_request *req, const char *path)
{
    json_t *j = NULL;
    if (!strcmp(path, "/api/pool"))
        j = pool_info_json(a->p);
    else if (!strcmp(path, "/api/models"))
        j = pool_models_json(a->p);
    else if (!strcmp(path, "/api/miners"))
        j = pool_miners_json(a->p);
    else
        j = pool_miner_json(a->p, path + strlen("/api/miners/"));
    if (!j)
        return reply_errf(a, req, 404, "invalid_request_error", NULL, "not_found",
                          "No miner with that id is known to this pool.");
    reply_json(a, req, 200, j);
}

static void handle_metrics(struct api *a, struct evhttp_request *req)
{
    struct buf b;
    buf_init(&b);
    metrics_render(a->p, &a->stats, &b);
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, b.data, b.len);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
    buf_deinit(&b);
}

/* ---- routing ---- */

enum route { R_NONE, R_CHAT, R_CMPL, R_MODELS, R_MODEL, R_VIEW, R_HEALTH, R_METRICS };

static enum route route_of(const char *path, enum evhttp_cmd_type *want)
{
    static const struct {
        const char *path;
        bool prefix;
        enum evhttp_cmd_type method;
        enum route r;
    } table[] = {
        {"/v1/chat/completions", false, EVHTTP_REQ_POST, R_CHAT},
        {"/v1/completions", false, EVHTTP_REQ_POST, R_CMPL},
        {"/v1/models", false, EVHTTP_REQ_GET, R_MODELS},
        {"/v1/models/", true, EVHTTP_REQ_GET, R_MODEL},
        {"/api/pool", false, EVHTTP_REQ_GET, R_VIEW},
        {"/api/models", false, EVHTTP_REQ_GET, R_VIEW},
        {"/api/miners", false, EVHTTP_REQ_GET, R_VIEW},
        {"/api/miners/", true, EVHTTP_REQ_GET, R_VIEW},
        {"/health", false, EVHTTP_REQ_GET, R_HEALTH},
        {"/metrics", false, EVHTTP_REQ_GET, R_METRICS},
    };
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        size_t n = strlen(table[i].path);
        bool hit = table[i].prefix ? !strncmp(path, table[i].path, n) && path[n] &&
                                         !strchr(path + n, '/')
                                   : !strcmp(path, table[i].path);
        if (hit) {
            *want = table[i].method;
            return table[i].r;
        }
    }
    return R_NONE;
}

/* libevent calls us without a URI when it rejected the request itself (body
 * over the limit, malformed headers): answer in our error shape. */
static void reply_early_error(struct api *a, struct evhttp_request *req)
{
    int st = evhttp_request_get_response_code(req) == 413 ? 413 : 400;
    char msg[128];
    snprintf(msg, sizeof msg,
             st == 413 ? "The request body is larger than this pool accepts (%u bytes)."
                       : "The HTTP request is malformed.",
             pool_get_cfg(a->p)->max_body);
    reply_errf(a, req, st, "invalid_request_error", NULL, NULL, msg);
}

static void dispatch(struct api *a, struct evhttp_request *req, enum route rt,
                     const char *path)
{
    struct api_err e;
    int64_t key_id = 0;
    if ((rt == R_CHAT || rt == R_CMPL || rt == R_MODELS || rt == R_MODEL) &&
        check_key(a, req, &key_id, &e))
        return reply_err(a, req, &e);
    switch (rt) {
    case R_CHAT: return handle_generate(a, req, API_CHAT, key_id);
    case R_CMPL: return handle_generate(a, req, API_COMPLETION, key_id);
    case R_MODELS: return handle_models(a, req, NULL);
    case R_MODEL: return handle_models(a, req, path + strlen("/v1/models/"));
    case R_VIEW: return handle_pool_view(a, req, path);
    case R_HEALTH: return reply_json(a, req, 200, json_pack("{s:s}", "status", "ok"));
    case R_METRICS: return handle_metrics(a, req);
    default: break;
    }
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct api *a = arg;
    a->stats.requests++;
    if (!evhttp_request_get_uri(req))
        return reply_early_error(a, req);
    /* Nagle plus the client's delayed ACK would hold small SSE events ~40 ms. */
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    net_nodelay(bufferevent_getfd(evhttp_connection_get_bufferevent(evcon)));

    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    enum evhttp_cmd_type method = evhttp_request_get_command(req), want;
    enum route rt = route_of(path ? path : "", &want);
    char msg[160];
    if (rt == R_NONE) {
        snprintf(msg, sizeof msg, "Invalid URL (%s): no such endpoint on this pool.",
                 path ? path : "?");
        return reply_errf(a, req, 404, "invalid_request_error", NULL, "unknown_url", msg);
    }
    if (method != want) {
        const char *allow = want == EVHTTP_REQ_POST ? "POST" : "GET";
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
        snprintf(msg, sizeof msg, "Method not allowed: %s takes %s.", path, allow);
        return reply_errf(a, req, 405, "invalid_request_error", NULL, "method_not_allowed", msg);
    }
    dispatch(a, req, rt, path);
}

/* ---- lifecycle ---- */

int api_start(struct pool *p, const char *listen, struct api **out, char err[FIEF_ERR_LEN])
{
    int fd = net_listen(listen, err);
    if (fd < 0)
        return FIEF_EIO;
    struct api *a = xcalloc(1, sizeof *a);
    a->p = p;
    snprintf(a->fingerprint, sizeof a->fingerprint, "fief-%s", FIEF_VERSION);
    a->http = evhttp_new(pool_base(p));
    if (!a->http) {
        close(fd);
        free(a);
        return fief_errf(err, FIEF_EIO, "HTTP API: cannot create the server");
    }
    evhttp_set_max_body_size(a->http, pool_get_cfg(p)->max_body);
    evhttp_set_max_headers_size(a->http, 64 * 1024);
    /* every method reaches us, so a wrong one gets our 405 rather than libevent's */
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(a->http, on_request, a);
    if (!evhttp_accept_socket_with_handle(a->http, fd)) {
        close(fd);
        evhttp_free(a->http);
        free(a);
        return fief_errf(err, FIEF_EIO, "HTTP API: cannot accept on %s", listen);
    }
    a->port = net_local_port(fd);
    *out = a;
    return 0;
}

int api_port(const struct api *a)
{
    return a ? a->port : -1;
}

void api_get_stats(const struct api *a, struct api_stats *out)
{
    *out = a->stats;
}

void api_free(struct api *a)
{
    if (!a)
        return;
    /* Freeing the server closes every connection; each open request's
     * closecb cancels its jobs and frees it. */
    evhttp_free(a->http);
    while (a->gens) /* none should be left; be safe if one was never watched */
        gen_free(a->gens);
    free(a);
}
