/* SPDX-License-Identifier: MIT */
/* Billing one generation request: the hold before dispatch, the settlement
 * at its end (parts per miner trimmed to what the customer got), stored
 * responses for Idempotency-Key retries, and the time the ledger takes on
 * the loop, for /metrics. */
#include "pool/api_bill.h"

#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "ledger/ledger.h"
#include "pool/api_impl.h"
#include "pool/api_resp.h"
#include "pool/models.h"
#include "pool/pool.h"

/* ---- pure ---- */

int api_bill_max(uint64_t price_in, uint64_t price_out, uint32_t n_prompt, uint32_t max_tokens,
                 uint32_t n, int64_t *max)
{
    /* n * max_tokens <= 8 * 2^15: no overflow; ledger_cost checks the products */
    int rc = ledger_cost(price_in, price_out, n_prompt, (uint64_t)max_tokens * n, max);
    return rc || *max > LEDGER_MAX_AMOUNT ? FIEF_ERANGE : 0;
}

static void merge_part(struct api_bill *b, const char *pubkey, uint32_t tokens)
{
    for (uint32_t i = 0; i < b->n_parts; i++)
        if (!strcmp(b->parts[i].pubkey, pubkey)) {
            b->parts[i].tokens += tokens;
            return;
        }
    if (b->n_parts == STORE_JOB_MAX_PARTS) { /* more miners than a settlement keeps */
        b->parts[STORE_JOB_MAX_PARTS - 1].tokens += tokens;
        return;
    }
    struct store_job_part *p = &b->parts[b->n_parts++];
    snprintf(p->pubkey, sizeof p->pubkey, "%s", pubkey);
    p->tokens = tokens;
}

void api_bill_add_parts(struct api_bill *b, const struct store_job_part *parts, uint32_t n,
                        uint32_t delivered)
{
    for (uint32_t i = 0; i < n && delivered > 0; i++) {
        uint32_t t = parts[i].tokens < delivered ? parts[i].tokens : delivered;
        if (t)
            merge_part(b, parts[i].pubkey, t);
        delivered -= t;
    }
}

/* The settlement of b for these counts, without the response. */
static void settlement_of(const struct api_bill *b, uint32_t prompt, uint32_t completion,
                          struct ledger_settlement *st)
{
    memset(st, 0, sizeof *st);
    snprintf(st->req, sizeof st->req, "%s", b->req);
    st->key_id = b->key_id;
    st->held = b->hold;
    snprintf(st->model, sizeof st->model, "%s", b->m->name);
    snprintf(st->digest, sizeof st->digest, "%s", b->m->digest);
    st->price_in = b->m->price_in;
    st->price_out = b->m->price_out;
    st->fee_ppm = b->fee_ppm;
    st->prompt_tokens = prompt;
    st->completion_tokens = completion;
    st->n_parts = b->n_parts;
    memcpy(st->parts, b->parts, sizeof st->parts);
    st->created_ms = b->created_ms;
    snprintf(st->idem, sizeof st->idem, "%s", b->idem);
}

int64_t api_bill_cost(const struct api_bill *b, uint32_t prompt_tokens, uint32_t completion_tokens)
{
    if (b->hold == 0)
        return 0;
    struct ledger_settlement st;
    settlement_of(b, prompt_tokens, completion_tokens, &st);
    return ledger_settlement_cost(&st);
}

/* ---- life ---- */

void api_bill_init(struct api_bill *b, const char *req, int64_t key_id, const char *idem,
                   const struct pool_model *m, uint32_t fee_ppm)
{
    memset(b, 0, sizeof *b);
    snprintf(b->req, sizeof b->req, "%s", req);
    b->key_id = key_id;
    snprintf(b->idem, sizeof b->idem, "%s", idem ? idem : "");
    b->m = m;
    b->fee_ppm = fee_ppm;
    b->created_ms = (int64_t)clock_wall_ms();
    buf_init(&b->saved);
}

void api_bill_deinit(struct api_bill *b)
{
    buf_deinit(&b->saved);
}

/* Time spent in the ledger on the loop thread, for /metrics. */
static void ledger_time(struct api *a, uint64_t t0)
{
    a->stats.ledger_ops++;
    a->stats.ledger_ns += clock_mono_ns() - t0;
}

/* The request id of a stored response: its JSON's "id", or the first SSE
 * event's. "" when neither is there (an error body). */
static void stored_request_id(const char *body, char out[65])
{
    out[0] = 0;
    const char *j = strncmp(body, "data: ", 6) ? body : body + 6;
    const char *end = strchr(j, '\n');
    json_t *o = json_loadb(j, end ? (size_t)(end - j) : strlen(j), JSON_ALLOW_NUL, NULL);
    const char *id = json_string_value(json_object_get(o, "id"));
    if (id)
        snprintf(out, 65, "%s", id);
    json_decref(o);
}

int api_bill_replay(struct api *a, struct evhttp_request *req, int64_t key_id, const char *idem,
                    struct api_err *e)
{
    int status;
    char ctype[64], id[65];
    char *body = NULL;
    size_t len = 0;
    int rc = ledger_idem_get(pool_store(a->p), key_id, idem, &status, ctype, &body, &len);
    if (rc == FIEF_ENOTFOUND)
        return 0;
    if (rc == FIEF_ESTATE)
        return api_err_set(e, 409, "invalid_request_error", NULL, "idempotency_key_in_use",
                           "A request with this Idempotency-Key is still in progress; retry "
                           "when it has finished to get its response.");
    if (rc)
        return api_err_set(e, 500, "server_error", NULL, NULL,
                           "The pool cannot read its books; try again later.");
    stored_request_id(body, id);
    if (id[0])
        api_header_add(req, "X-Fief-Request", id);
    api_header_add(req, "Idempotent-Replayed", "true");
    a->stats.idem_replays++;
    log_info("api: Idempotency-Key of key %lld: replaying the stored %d response (%zu bytes)",
             (long long)key_id, status, len);
    api_reply_body(a, req, status, ctype, body, len);
    free(body);
    return 1;
}

static int refused(struct api *a, int rc, const char *err, struct api_err *e)
{
    static const char lead[] = "not enough credit: "; /* ledger_hold's words */
    if (rc == FIEF_ELIMIT) {
        a->stats.payment_required++;
        if (!strncmp(err, lead, sizeof lead - 1))
            err += sizeof lead - 1;
        return api_err_set(e, 402, "insufficient_quota", NULL, "insufficient_credit",
                           "Not enough credit: %s credits. Lower max_tokens (or n), or ask the "
                           "pool's operator to add credit to this key.",
                           err);
    }
    if (rc == FIEF_ESTATE)
        return api_err_set(e, 409, "invalid_request_error", NULL, "idempotency_key_in_use",
                           "A request with this Idempotency-Key is still in progress; retry "
                           "when it has finished to get its response.");
    log_err("api: %s", err);
    return api_err_set(e, 500, "server_error", NULL, NULL,
                       "The pool cannot reserve credit for this request; try again later.");
}

int api_bill_hold(struct api *a, struct api_bill *b, uint32_t n_prompt, uint32_t max_tokens,
                  uint32_t n, struct api_err *e)
{
    char err[FIEF_ERR_LEN];
    int64_t max;
    if (api_bill_max(b->m->price_in, b->m->price_out, n_prompt, max_tokens, n, &max)) {
        a->stats.payment_required++;
        return api_err_set(e, 402, "insufficient_quota", NULL, "insufficient_credit",
                           "Not enough credit: this request may cost more than any balance "
                           "can hold. Lower max_tokens (or n).");
    }
    if (max == 0)
        return 0; /* a free model: nothing to hold, nothing to settle */
    uint64_t t0 = clock_mono_ns();
    int rc = ledger_hold(pool_store(a->p), b->key_id, b->req, b->idem, max, err);
    ledger_time(a, t0);
    if (rc)
        return refused(a, rc, err, e);
    b->hold = max;
    return 0;
}

void api_bill_save(struct api_bill *b, const char *data, size_t len)
{
    if (!b->hold || !b->idem[0] || b->saved_over)
        return;
    if (b->saved.len + len > API_IDEM_MAX_BODY) {
        b->saved_over = true;
        buf_deinit(&b->saved);
        buf_init(&b->saved);
        return;
    }
    buf_append(&b->saved, data, len);
}

/* What a retry gets when the response was too large to keep. */
static void too_large(const struct api_bill *b, struct buf *out)
{
    struct api_err e;
    api_err_set(&e, 409, "invalid_request_error", NULL, "idempotent_response_not_kept",
                "The first request with this Idempotency-Key (%s) finished and was charged "
                "once, but its response was larger than %u bytes and was not kept. Its "
                "receipt is at /api/receipts/%s.",
                b->req, API_IDEM_MAX_BODY, b->req);
    resp_dump(resp_error(&e), false, out);
    buf_putc(out, '\n');
}

void api_bill_settle(struct api *a, struct api_bill *b, uint32_t prompt_tokens,
                     uint32_t completion_tokens, int status, const char *ctype, const char *body,
                     size_t len)
{
    if (!b->hold || b->settled)
        return;
    b->settled = true;
    struct ledger_settlement st;
    settlement_of(b, prompt_tokens, completion_tokens, &st);
    struct buf big;
    buf_init(&big);
    if (!body) {
        body = b->saved.data ? b->saved.data : "";
        len = b->saved.len;
    }
    if (b->idem[0] && (b->saved_over || len > API_IDEM_MAX_BODY)) {
        too_large(b, &big);
        status = 409;
        ctype = "application/json";
        body = big.data;
        len = big.len;
    }
    st.http_status = status;
    snprintf(st.content_type, sizeof st.content_type, "%s", ctype ? ctype : "");
    st.body = body;
    st.body_len = len;
    a->stats.charged_micro += (uint64_t)ledger_settlement_cost(&st);
    uint64_t t0 = clock_mono_ns();
    ledger_settle(pool_store(a->p), &st);
    ledger_time(a, t0);
    buf_deinit(&big);
}
