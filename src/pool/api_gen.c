/* SPDX-License-Identifier: MIT */
/* Generation requests (/v1/chat/completions, /v1/completions): streamed as
 * SSE or collected into one JSON, billed through api_bill. A request (struct
 * gen) lives from the request to its reply or to the customer's disconnect,
 * whichever comes first; its jobs are cancelled when it dies early, so no
 * callback outlives it, and it is settled exactly once on every path out
 * (gen_free): what was delivered is charged and paid to the miners who
 * produced it. */
#include "pool/api_impl.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "pool/api_bill.h"
#include "pool/api_resp.h"
#include "pool/disp.h"
#include "pool/models.h"
#include "pool/pool.h"
#include "pool/textout.h"

/* One choice of a generation request: one job. */
struct choice {
    struct gen *g;
    uint32_t index;
    struct pjob *job; /* NULL once it ended or was cancelled */
    struct textout *tx;
    struct buf text;    /* non-stream: the text so far */
    json_t *logprobs;   /* non-stream: the logprobs so far (or NULL) */
    size_t text_offset; /* completions logprobs: characters so far */
    const char *finish; /* "stop"/"length" once ended */
    uint32_t n_parts;   /* who produced the job's tokens (the job's last word) */
    struct store_job_part parts[STORE_JOB_MAX_PARTS];
};

struct gen {
    struct api *a;
    struct gen *prev, *next;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    struct event *watch; /* notices the customer leaving while we wait */
    struct api_req r;
    struct pool_model *m;
    struct resp_meta meta;
    char id[40]; /* the request id: response id, hold and receipt name */
    uint32_t n_prompt, n_open;
    bool started;        /* stream: status line and headers sent */
    struct choice *last; /* stream without usage: its finish chunk carries the cost */
    struct buf out;      /* SSE events of the current callback, sent as one chunk */
    struct evbuffer *evb;
    struct api_bill bill;
    struct choice ch[API_MAX_N];
};

/* ---- money ---- */

/* Settle once: each choice's delivered tokens (a stream delivered what it
 * fed the customer, even when it failed or the customer left; a
 * non-streamed request delivers only a finished reply) and who made them. */
static void gen_settle(struct gen *g, bool delivered, int status, const char *ctype,
                       const char *body, size_t len)
{
    if (g->bill.settled)
        return;
    uint32_t completion = 0;
    for (uint32_t i = 0; i < g->r.n; i++) {
        uint32_t d = delivered ? textout_n_tokens(g->ch[i].tx) : 0;
        api_bill_add_parts(&g->bill, g->ch[i].parts, g->ch[i].n_parts, d);
        completion += d;
    }
    if (completion) {
        g->a->stats.prompt_tokens += g->n_prompt;
        g->a->stats.completion_tokens += completion;
    }
    api_bill_settle(g->a, &g->bill, g->n_prompt, completion, status, ctype, body, len);
    g->bill.settled = true; /* free models too: nothing more to count */
}

/* The job's parts as it stands: it may be freed before the request ends. */
static void choice_snap(struct choice *c, const struct pjob *j)
{
    const struct store_job_part *p = pjob_parts(j, &c->n_parts);
    memcpy(c->parts, p, c->n_parts * sizeof *p);
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
    gen_settle(g, g->r.stream, 200, "text/event-stream", NULL, 0);
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
    api_bill_deinit(&g->bill);
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
    api_bill_save(&g->bill, g->out.data, g->out.len);
    evbuffer_add(g->evb, g->out.data, g->out.len);
    buf_reset(&g->out);
    evhttp_send_reply_chunk(g->req, g->evb);
}

/* Stream: status line, headers and each choice's role chunk, at the first
 * token, so a job that fails before producing anything still gets an honest
 * status code. */
/* The official openai SDK on Node before 20 (it says so in its
 * X-Stainless-Runtime headers) streams through node-fetch, which fails a
 * chunked stream on a kept-alive socket with "Premature close" (seen on
 * Node 18.20 in tests/integ/test_serve.sh; Node 20 and native fetch are
 * fine). Its streams end their connection; every other client keeps it. */
static bool node_fetch_client(struct evhttp_request *req)
{
    const char *rt = api_header(req, "X-Stainless-Runtime");
    const char *ver = api_header(req, "X-Stainless-Runtime-Version");
    if (!rt || strcmp(rt, "node") || !ver)
        return false;
    if (*ver == 'v')
        ver++;
    char *end;
    long major = strtol(ver, &end, 10);
    return end != ver && major < 20;
}

static void gen_begin_stream(struct gen *g)
{
    if (g->started)
        return;
    g->started = true;
    api_header_add(g->req, "Content-Type", "text/event-stream");
    api_header_add(g->req, "Cache-Control", "no-cache");
    api_header_add(g->req, "X-Accel-Buffering", "no"); /* proxies must not batch events */
    if (node_fetch_client(g->req))
        api_header_add(g->req, "Connection", "close");
    evhttp_send_reply_start(g->req, 200, "OK");
    if (g->r.kind == API_CHAT)
        for (uint32_t i = 0; i < g->r.n; i++)
            resp_dump(resp_chunk(&g->meta, i, "assistant", "", 0, NULL, NULL), true, &g->out);
}

static void gen_usage(const struct gen *g, struct resp_usage *u)
{
    u->prompt_tokens = g->n_prompt;
    u->completion_tokens = 0;
    for (uint32_t i = 0; i < g->r.n; i++)
        u->completion_tokens += textout_n_tokens(g->ch[i].tx);
}

/* Non-stream: one JSON with usage and cost; what is sent is what a retry
 * with the same Idempotency-Key gets. */
static void gen_finish_json(struct gen *g, struct evhttp_request *req, const struct resp_usage *u,
                            int64_t cost)
{
    struct resp_choice c[API_MAX_N];
    for (uint32_t i = 0; i < g->r.n; i++) {
        c[i] = (struct resp_choice){g->ch[i].text.data, g->ch[i].text.len, g->ch[i].logprobs,
                                    g->ch[i].finish};
        g->ch[i].logprobs = NULL;
    }
    struct buf b;
    buf_init(&b);
    resp_dump(resp_with_cost(resp_full(&g->meta, c, g->r.n, u), cost), false, &b);
    buf_putc(&b, '\n');
    gen_settle(g, true, 200, "application/json", b.data, b.len);
    if (g->bill.hold) /* priced: the cost goes out once the books have it */
        api_wait_reply(g->a, g->bill.req, req, false, 200, "application/json", b.data, b.len);
    else
        api_reply_body(g->a, req, 200, "application/json", b.data, b.len);
    buf_deinit(&b);
}

/* Stream: the usage chunk, or without include_usage the last finish chunk,
 * carries the cost; then [DONE]. */
static void gen_finish_stream(struct gen *g, struct evhttp_request *req, const struct resp_usage *u,
                              int64_t cost)
{
    gen_begin_stream(g);
    if (g->r.include_usage)
        resp_dump(resp_with_cost(resp_usage_chunk(&g->meta, u), cost), true, &g->out);
    else if (g->last)
        resp_dump(
            resp_with_cost(
                resp_chunk(&g->meta, g->last->index, NULL, NULL, 0, NULL, g->last->finish), cost),
            true, &g->out);
    buf_puts(&g->out, "data: [DONE]\n\n");
    if (!g->bill.hold) {
        gen_send_chunk(g);
        gen_settle(g, true, 200, "text/event-stream", NULL, 0);
        evhttp_send_reply_end(req);
        return;
    }
    /* Priced: the cost and [DONE] go out once the books have the settlement. */
    api_bill_save(&g->bill, g->out.data, g->out.len);
    gen_settle(g, true, 200, "text/event-stream", NULL, 0);
    api_wait_reply(g->a, g->bill.req, req, true, 200, NULL, g->out.data, g->out.len);
    buf_reset(&g->out);
}

static void gen_finish(struct gen *g)
{
    struct resp_usage u;
    gen_usage(g, &u);
    int64_t cost =
        api_bill_cost(&g->bill, (uint32_t)u.prompt_tokens, (uint32_t)u.completion_tokens);
    struct evhttp_request *req = g->req;
    gen_detach(g); /* before the reply: sending it may close the connection */
    if (g->r.stream)
        gen_finish_stream(g, req, &u, cost);
    else
        gen_finish_json(g, req, &u, cost);
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
        api_reply_err(a, req, &e);
    } else {
        api_count_status(a, 502);
        resp_dump(resp_error(&e), true, &g->out);
        gen_send_chunk(g);
        evhttp_send_reply_end(req); /* no [DONE]: the stream did not finish */
    }
    gen_free(g); /* settles what the stream delivered */
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
        resp_dump(resp_chunk(&g->meta, c->index, NULL, e->text, e->len, lp, NULL), true, &g->out);
}

static void choice_end(struct choice *c, const char *finish)
{
    struct gen *g = c->g;
    c->finish = finish;
    c->job = NULL;
    g->n_open--;
    if (!g->r.stream)
        return;
    if (g->n_open == 0 && !g->r.include_usage)
        g->last = c; /* gen_finish sends it, with the cost */
    else
        resp_dump(resp_chunk(&g->meta, c->index, NULL, NULL, 0, NULL, finish), true, &g->out);
}

static void on_tokens(void *ud, struct pjob *j, uint32_t from, uint32_t n)
{
    struct choice *c = ud;
    struct gen *g = c->g;
    uint32_t total;
    const int32_t *ids = pjob_tokens(j, &total);
    choice_snap(c, j);
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
    choice_snap(c, j);
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

/* prefix + 24 random alphanumerics (~143 bits): unique across restarts, so
 * it can name the request's hold, settlement and receipt. */
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
    struct pjob_params p = {.model = g->m,
                            .prompt = ids,
                            .n_prompt = g->n_prompt,
                            .max_tokens = max_tokens,
                            .temperature = g->r.temperature,
                            .top_k = g->r.top_k,
                            .top_p = g->r.top_p,
                            .min_p = g->r.min_p,
                            .repeat_penalty = g->r.repeat_penalty,
                            .top_n = g->r.logprobs ? g->r.top_logprobs : 0,
                            .key_id = key_id};
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
                api_header_add(g->req, "Retry-After", "1");
            err[0] = (char)toupper((unsigned char)err[0]);
            return api_err_set(e, st,
                               st == 400   ? "invalid_request_error"
                               : st == 429 ? "rate_limit_error"
                                           : "server_error",
                               NULL,
                               st == 503   ? "no_miner"
                               : st == 429 ? "queue_full"
                                           : NULL,
                               "%s%s", err, st == 503 ? "; try again in a moment." : ".");
        }
        g->n_open++;
        buf_printf(&jobs, "%s%s", i ? "," : "", pjob_id(g->ch[i].job));
    }
    api_header_add(g->req, "X-Fief-Job", jobs.data);
    api_header_add(g->req, "X-Fief-Request", g->id);
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
    g->meta = (struct resp_meta){r->kind, g->id,          (int64_t)time(NULL),
                                 m->name, a->fingerprint, r->stream && r->include_usage};
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

static struct pool_model *find_model(struct api *a, const char *name, struct api_err *e)
{
    struct pool_model *m = models_find(pool_models(a->p), name);
    if (!m)
        api_err_set(e, 404, "invalid_request_error", "model", "model_not_found",
                    "The model '%s' does not exist on this pool. GET /v1/models lists the models "
                    "it serves.",
                    name);
    return m;
}

/* The body into r, its model and prompt: 0, or a 4xx in e. */
static int parse(struct api *a, struct evhttp_request *req, enum api_kind kind, struct api_req *r,
                 struct pool_model **m, int32_t **ids, uint32_t *n_ids, uint32_t *max_tokens,
                 struct api_err *e)
{
    size_t len;
    const char *body = api_body(req, &len);
    if (api_req_parse(kind, body, len, r, e))
        return FIEF_EINVAL;
    *m = find_model(a, r->model, e);
    if (!*m || api_req_prompt(r, (*m)->vocab, (*m)->chat, (*m)->n_ctx_train,
                              pool_get_cfg(a->p)->max_tokens_default, ids, n_ids, max_tokens, e)) {
        api_req_free(r);
        return FIEF_EINVAL;
    }
    if (!r->has_seed) /* the pool picks it: miners must not choose their own randomness */
        randombytes_buf(&r->seed, sizeof r->seed);
    r->seed &= PROTO_MAX_ID;
    return 0;
}

void api_gen_handle(struct api *a, struct evhttp_request *req, enum api_kind kind,
                    const struct store_key *key)
{
    struct api_err e;
    struct api_req r;
    struct pool_model *m;
    int32_t *ids = NULL;
    uint32_t n_ids = 0, max_tokens = 0;
    char idem[API_MAX_IDEM + 1];
    int rc = api_req_idem(api_header(req, "Idempotency-Key"), idem, &e);
    if (!rc && idem[0])
        rc = api_bill_replay(a, req, key->id, idem, &e);
    if (rc < 0)
        return api_reply_err(a, req, &e);
    if (rc == 1)
        return; /* a retry: the first response went out again */
    if (parse(a, req, kind, &r, &m, &ids, &n_ids, &max_tokens, &e))
        return api_reply_err(a, req, &e);
    struct gen *g = gen_new(a, req, &r, m);
    g->n_prompt = n_ids;
    api_bill_init(&g->bill, g->id, key->id, idem, m, pool_get_cfg(a->p)->fee_ppm);
    rc = api_bill_hold(a, &g->bill, n_ids, max_tokens, g->r.n, &e);
    if (!rc)
        rc = gen_submit(g, ids, max_tokens, key->id, &e);
    free(ids);
    if (rc) {
        gen_free(g); /* cancels the choices already submitted, releases the hold */
        return api_reply_err(a, req, &e);
    }
    a->stats.completions++;
    a->stats.streams += g->r.stream;
    log_debug("api: %s: %s, %u prompt tokens, n=%u%s, hold %lld", g->id, m->name, n_ids, g->r.n,
              g->r.stream ? ", stream" : "", (long long)g->bill.hold);
    gen_watch(g);
}

void api_gen_free_all(struct api *a)
{
    while (a->gens) /* none should be left; be safe if one was never watched */
        gen_free(a->gens);
}
