/* SPDX-License-Identifier: MIT */
/* The message codecs: one field table per message (proto_field.c runs them),
 * the rules that span fields, and the public *_decode/_encode/_clear. */
#include "proto/proto.h"
#include "proto/proto_impl.h"

#include <string.h>

/* ---- the messages ----
 * JSON keys are the C member names (#m), except where a table spells one. */

#define FLDK(k, m, t) .key = (k), .type = (t), .off = offsetof(S, m)
#define FLD(m, t) FLDK(#m, m, t)
#define NUM(m, t, l, h) FLD(m, t), .lo = (l), .hi = (h)
#define STR(m, c) FLD(m, PF_STR), .cs = (c), .cnt = sizeof(((S *)0)->m)
#define ARR(m, t, count, l, h) FLD(m, t), .cnt = offsetof(S, count), .lo = (l), .hi = (h)
#define OBJS(k, m, count, sub_def, h)                                                              \
    FLDK(k, m, PF_OBJS), .cnt = offsetof(S, count), .lo = 1, .hi = (h), .sub = &(sub_def),         \
                         .esize = sizeof(((S *)0)->m[0])
#define SAME(m, t, count, other) FLD(m, t), .cnt = offsetof(S, count), .same = #other
#define TOPN(k) .cnt2 = offsetof(S, k), .lo = 1, .hi = PROTO_MAX_TOP /* row length */
#define OPT(d) .flags = PF_OPT, .def = (d)
#define OPTZ .flags = PF_OPT | PF_OMITZ
#define NF(fields) (sizeof fields / sizeof fields[0])
#define DEF(var, name, type, fields, chk)                                                          \
    static const struct proto_msgdef var = {name, fields, NF(fields), sizeof(type), chk}

static int tokens_check(json_t *o, void *out, struct proto_ctx *c);
static int notice_check(json_t *o, void *out, struct proto_ctx *c);
static int receipt_check(json_t *o, void *out, struct proto_ctx *c);
static int score_check(json_t *o, void *out, struct proto_ctx *c);

/* A job's sampling fields; a score's "sampling" object has the same (S names
 * either struct). */
#define SAMPLING_FIELDS                                                                            \
    {NUM(temperature, PF_F32, 0, 100)}, {NUM(top_k, PF_I32, 0, PROTO_MAX_TOKEN_ID + 1), OPT(0)},   \
        {NUM(top_p, PF_F32, 0, 1), OPT(1)}, {NUM(min_p, PF_F32, 0, 1), OPT(0)},                    \
        {NUM(repeat_penalty, PF_F32, 0.01, 100), OPT(1)}, {NUM(seed, PF_U64, 0, PROTO_MAX_ID)}

/* One field per line reads as a table. */
/* clang-format off */

static const char *const cap_names[] = {"generate", "score", NULL}; /* bit k = 1 << k */
static const char *const finish_names[] = {"length", "eog", "cancelled", NULL};
static const char *const notice_names[] = {"message", "fee", "shutdown", "redirect", NULL};

#define S struct proto_hello
static const struct proto_field hello_f[] = {
    {NUM(version, PF_U32, 1, UINT32_MAX)},
    {STR(agent, PF_CS_ASCII)},
    {STR(pubkey, PF_CS_HEX)},
    {STR(worker, PF_CS_NAME)},
    {STR(payout, PF_CS_ASCII)},
};
#undef S
#define S struct proto_terms
static const struct proto_field terms_f[] = {
    {STR(pool, PF_CS_ASCII)},
    {NUM(fee_ppm, PF_U32, 0, 1000000)},
    {STR(scheme, PF_CS_NAME)},
    {NUM(maturity_s, PF_U32, 0, UINT32_MAX)},
    {NUM(audit_rate, PF_F64, 0, 1)},
    {STR(pool_key, PF_CS_HEX), OPTZ},
};
#undef S
DEF(terms_def, "hello result", struct proto_terms, terms_f, NULL);
#define S struct proto_welcome
static const struct proto_field welcome_f[] = {
    {NUM(version, PF_U32, 1, UINT32_MAX)},
    {STR(session, PF_CS_NAME)},
    {STR(challenge, PF_CS_HEX)},
    {FLD(terms, PF_OBJ), .sub = &terms_def},
};
#undef S
#define S struct proto_auth
static const struct proto_field auth_f[] = {{STR(signature, PF_CS_HEX)}};
#undef S
#define S struct proto_authed
static const struct proto_field authed_f[] = {{STR(miner, PF_CS_NAME)}};
#undef S
#define S struct proto_offer_model
static const struct proto_field model_f[] = {
    {STR(name, PF_CS_MODEL)},
    {STR(digest, PF_CS_DIGEST)},
    {NUM(ctx, PF_U32, 1, PROTO_MAX_CTX)},
    {NUM(slots, PF_U32, 1, PROTO_MAX_SLOTS)},
    {NUM(tps, PF_F64, 0, 1e6)},
    {FLD(caps, PF_CAPS), .sub = cap_names},
};
#undef S
DEF(model_def, "offer", struct proto_offer_model, model_f, NULL);
#define S struct proto_offer
static const struct proto_field offer_f[] = {
    {OBJS("models", m, n, model_def, PROTO_MAX_MODELS)},
};
#undef S
#define S struct proto_verdict
static const struct proto_field verdict_f[] = {
    {STR(name, PF_CS_MODEL)},
    {FLD(accepted, PF_BOOL)},
    {STR(reason, PF_CS_TEXT), OPTZ},
};
#undef S
DEF(verdict_def, "offer result", struct proto_verdict, verdict_f, NULL);
#define S struct proto_verdicts
static const struct proto_field verdicts_f[] = {
    {OBJS("models", v, n, verdict_def, PROTO_MAX_MODELS)},
};
#undef S
#define S struct proto_job
static const struct proto_field job_f[] = {
    {STR(job, PF_CS_NAME)},
    {STR(model, PF_CS_MODEL)},
    {ARR(prompt, PF_IDS, n_prompt, 1, PROTO_MAX_PROMPT)},
    {NUM(max_tokens, PF_U32, 1, PROTO_MAX_GEN)},
    SAMPLING_FIELDS,
    {NUM(top_n, PF_U32, 0, PROTO_MAX_TOP), OPT(0)},
};
#undef S
#define S struct proto_tokens
static const struct proto_field tokens_f[] = {
    {STR(job, PF_CS_NAME)},
    {NUM(seq, PF_U32, 0, PROTO_MAX_GEN - 1)},
    {ARR(ids, PF_IDS, n, 1, PROTO_MAX_BATCH)},
    {SAME(logprobs, PF_LPS, n, ids)},
    {SAME(top_ids, PF_TOP_IDS, n, ids), TOPN(top_n), OPTZ},
    {SAME(top_logprobs, PF_TOP_LPS, n, ids), TOPN(top_n), OPTZ},
};
#undef S
#define S struct proto_job_done
static const struct proto_field done_f[] = {
    {FLD(finish, PF_ENUM), .sub = finish_names},
    {NUM(n, PF_U32, 0, PROTO_MAX_GEN)},
    {NUM(prompt_ms, PF_F64, 0, 1e12)},
    {NUM(gen_ms, PF_F64, 0, 1e12)},
};
#undef S
#define S struct proto_cancel
static const struct proto_field cancel_f[] = {{STR(job, PF_CS_NAME)}};
#undef S
#define S struct proto_sampling
static const struct proto_field sampling_f[] = {SAMPLING_FIELDS};
#undef S
DEF(sampling_def, "score", struct proto_sampling, sampling_f, NULL);
#define S struct proto_score
static const struct proto_field score_f[] = {
    {STR(job, PF_CS_NAME)},
    {STR(model, PF_CS_MODEL)},
    {ARR(prompt, PF_IDS, n_prompt, 1, PROTO_MAX_PROMPT)},
    {ARR(completion, PF_IDS, n_completion, 1, PROTO_MAX_GEN)},
    {FLD(sampling, PF_OBJ), .sub = &sampling_def, .flags = PF_OPT}, /* has_sampling: score_check */
};
#undef S
#define S struct proto_scored
static const struct proto_field scored_f[] = {
    {ARR(logprobs, PF_LPS, n, 1, PROTO_MAX_GEN)},
    {SAME(top_ids, PF_IDS, n, logprobs)},
    {SAME(top_logprobs, PF_LPS, n, logprobs)},
    {SAME(picks, PF_IDS, n, logprobs)},
    {SAME(margins, PF_GAPS, n, logprobs)},
    {SAME(pick_logprobs, PF_LPS, n, logprobs), OPTZ},
};
#undef S
#define S struct proto_receipt
static const struct proto_field receipt_f[] = {{STR(request, PF_CS_NAME)}};
#undef S
#define S struct proto_notice
static const struct proto_field notice_f[] = {
    {FLD(kind, PF_ENUM), .sub = notice_names},
    {STR(message, PF_CS_TEXT), OPTZ},
    {STR(url, PF_CS_URL), OPTZ},
    {NUM(fee_ppm, PF_U32, 0, 1000000), OPT(0)},
};
#undef S

DEF(hello_def, "hello", struct proto_hello, hello_f, NULL);
DEF(welcome_def, "hello result", struct proto_welcome, welcome_f, NULL);
DEF(auth_def, "auth", struct proto_auth, auth_f, NULL);
DEF(authed_def, "auth result", struct proto_authed, authed_f, NULL);
DEF(offer_def, "offer", struct proto_offer, offer_f, NULL);
DEF(verdicts_def, "offer result", struct proto_verdicts, verdicts_f, NULL);
DEF(job_def, "job", struct proto_job, job_f, NULL);
DEF(tokens_def, "tokens", struct proto_tokens, tokens_f, tokens_check);
DEF(done_def, "job result", struct proto_job_done, done_f, NULL);
DEF(cancel_def, "cancel", struct proto_cancel, cancel_f, NULL);
DEF(score_def, "score", struct proto_score, score_f, score_check);
DEF(scored_def, "score result", struct proto_scored, scored_f, NULL);
DEF(notice_def, "notice", struct proto_notice, notice_f, notice_check);
DEF(receipt_def, "receipt", struct proto_receipt, receipt_f, receipt_check);
/* clang-format on */

/* top_ids and top_logprobs come together; the stream stays within max_tokens. */
static int tokens_check(json_t *o, void *out, struct proto_ctx *c)
{
    const struct proto_tokens *t = out;
    (void)o;
    if (!t->top_ids != !t->top_logprobs)
        return proto_fields_bad(c, t->top_ids ? "top_logprobs" : "top_ids",
                                " is missing: \"top_ids\" and \"top_logprobs\" come together");
    if ((uint64_t)t->seq + t->n > PROTO_MAX_GEN)
        return proto_fields_bad(c, "seq", " + %u tokens goes past %d", t->n, PROTO_MAX_GEN);
    return 0;
}

/* An absent "sampling" means greedy scoring; the table leaves it zeroed. */
static int score_check(json_t *o, void *out, struct proto_ctx *c)
{
    (void)c;
    ((struct proto_score *)out)->has_sampling = json_object_get(o, "sampling") != NULL;
    return 0;
}

/* Each kind carries what it is about. */
static int notice_check(json_t *o, void *out, struct proto_ctx *c)
{
    const struct proto_notice *n = out;
    if (n->kind == PROTO_NOTICE_FEE && !json_object_get(o, "fee_ppm"))
        return proto_fields_bad(c, "fee_ppm", " is missing (a fee notice)");
    if (n->kind == PROTO_NOTICE_REDIRECT && !n->url[0])
        return proto_fields_bad(c, "url", " is missing (a redirect notice)");
    if (n->kind == PROTO_NOTICE_MESSAGE && !n->message[0])
        return proto_fields_bad(c, "message", " is missing (a message notice)");
    return 0;
}

static int dump_len(const char *buf, size_t n, void *ud)
{
    (void)buf;
    *(size_t *)ud += n;
    return *(size_t *)ud > PROTO_MAX_RECEIPT ? -1 : 0; /* stop early: it is too large */
}

/* The receipt is an object of bounded size about this request. Its own
 * fields are the receiver's business (common/receipt.h checks them with the
 * signature); the table's engine reads only "request". */
static int receipt_check(json_t *o, void *out, struct proto_ctx *c)
{
    const struct proto_receipt *r = out;
    json_t *rc = json_object_get(o, "receipt");
    size_t n = 0;
    if (!json_is_object(rc))
        return proto_fields_bad(c, "receipt", rc ? " must be an object" : " is missing");
    if (json_dump_callback(rc, dump_len, &n, JSON_COMPACT) != 0)
        return proto_fields_bad(c, "receipt", " is larger than %d bytes", PROTO_MAX_RECEIPT);
    const char *req = json_string_value(json_object_get(rc, "request"));
    if (!req || strcmp(req, r->request) != 0)
        return proto_fields_bad(c, "receipt", " is not the receipt of request \"%s\"",
                                r->request);
    return 0;
}

/* The version comes first: another version may lay out the rest differently,
 * and its sender deserves PROTO_ERR_VERSION, not a complaint about a field. */
static int version_first(const char *msg, json_t *o, uint32_t *version, char *err)
{
    struct vonly {
        uint32_t version;
    } v;
#define S struct vonly
    const struct proto_field f[] = {{NUM(version, PF_U32, 1, UINT32_MAX)}};
#undef S
    const struct proto_msgdef d = {msg, f, 1, sizeof v, NULL};
    int rc = proto_fields_decode(&d, o, &v, err);
    *version = v.version;
    if (!rc && v.version != PROTO_VERSION)
        rc = fief_errf(err, FIEF_EUNSUPPORTED,
                       "%s: protocol version %u is not supported "
                       "(this side speaks %d)",
                       msg, v.version, PROTO_VERSION);
    return rc;
}

int proto_hello_decode(json_t *params, struct proto_hello *out, char err[FIEF_ERR_LEN])
{
    uint32_t v;
    int rc = version_first("hello", params, &v, err);
    if (!rc)
        return proto_fields_decode(&hello_def, params, out, err);
    memset(out, 0, sizeof *out);
    out->version = v;
    return rc;
}

json_t *proto_hello_encode(const struct proto_hello *h)
{
    return proto_fields_encode(&hello_def, h);
}

int proto_welcome_decode(json_t *result, struct proto_welcome *out, char err[FIEF_ERR_LEN])
{
    uint32_t v;
    int rc = version_first("hello result", result, &v, err);
    if (!rc)
        return proto_fields_decode(&welcome_def, result, out, err);
    memset(out, 0, sizeof *out);
    out->version = v;
    return rc;
}

json_t *proto_welcome_encode(const struct proto_welcome *w)
{
    return proto_fields_encode(&welcome_def, w);
}

int proto_auth_decode(json_t *params, struct proto_auth *out, char err[FIEF_ERR_LEN])
{
    return proto_fields_decode(&auth_def, params, out, err);
}

json_t *proto_auth_encode(const struct proto_auth *a)
{
    return proto_fields_encode(&auth_def, a);
}

int proto_authed_decode(json_t *result, struct proto_authed *out, char err[FIEF_ERR_LEN])
{
    return proto_fields_decode(&authed_def, result, out, err);
}

json_t *proto_authed_encode(const struct proto_authed *a)
{
    return proto_fields_encode(&authed_def, a);
}

int proto_offer_decode(json_t *params, struct proto_offer *out, char err[FIEF_ERR_LEN])
{
    return proto_fields_decode(&offer_def, params, out, err);
}

json_t *proto_offer_encode(const struct proto_offer *o)
{
    return proto_fields_encode(&offer_def, o);
}

int proto_verdicts_decode(json_t *result, struct proto_verdicts *out, char err[FIEF_ERR_LEN])
{
    return proto_fields_decode(&verdicts_def, result, out, err);
}

json_t *proto_verdicts_encode(const struct proto_verdicts *v)
{
    return proto_fields_encode(&verdicts_def, v);
}

int proto_job_decode(json_t *params, struct proto_job *out, char err[FIEF_ERR_LEN])
{
    return proto_fields_decode(&job_def, params, out, err);
}

json_t *proto_job_encode(const struct proto_job *j)
{
    return proto_fields_encode(&job_def, j);
}

void proto_job_clear(struct proto_job *j)
{
    proto_fields_clear(&job_def, j);
}

int proto_tokens_decode(json_t *params, struct proto_tokens *out, char err[FIEF_ERR_LEN])
{
    return proto_fields_decode(&tokens_def, params, out, err);
}

json_t *proto_tokens_encode(const struct proto_tokens *t)
{
    return proto_fields_encode(&tokens_def, t);
}

void proto_tokens_clear(struct proto_tokens *t)
{
    proto_fields_clear(&tokens_def, t);
}

int proto_job_done_decode(json_t *result, struct proto_job_done *out, char err[FIEF_ERR_LEN])
{
    return proto_fields_decode(&done_def, result, out, err);
}

json_t *proto_job_done_encode(const struct proto_job_done *d)
{
    return proto_fields_encode(&done_def, d);
}

int proto_cancel_decode(json_t *params, struct proto_cancel *out, char err[FIEF_ERR_LEN])
{
    return proto_fields_decode(&cancel_def, params, out, err);
}

json_t *proto_cancel_encode(const struct proto_cancel *c)
{
    return proto_fields_encode(&cancel_def, c);
}

int proto_score_decode(json_t *params, struct proto_score *out, char err[FIEF_ERR_LEN])
{
    return proto_fields_decode(&score_def, params, out, err);
}

json_t *proto_score_encode(const struct proto_score *s)
{
    json_t *o = proto_fields_encode(&score_def, s);
    if (!s->has_sampling)
        json_object_del(o, "sampling");
    return o;
}

void proto_score_clear(struct proto_score *s)
{
    proto_fields_clear(&score_def, s);
}

int proto_scored_decode(json_t *result, struct proto_scored *out, char err[FIEF_ERR_LEN])
{
    return proto_fields_decode(&scored_def, result, out, err);
}

json_t *proto_scored_encode(const struct proto_scored *s)
{
    return proto_fields_encode(&scored_def, s);
}

void proto_scored_clear(struct proto_scored *s)
{
    proto_fields_clear(&scored_def, s);
}

int proto_notice_decode(json_t *params, struct proto_notice *out, char err[FIEF_ERR_LEN])
{
    return proto_fields_decode(&notice_def, params, out, err);
}

/* fee_ppm goes out only with a fee notice (where 0 is a real value). */
json_t *proto_notice_encode(const struct proto_notice *n)
{
    json_t *o = proto_fields_encode(&notice_def, n);
    if (n->kind != PROTO_NOTICE_FEE)
        json_object_del(o, "fee_ppm");
    return o;
}

int proto_receipt_decode(json_t *params, struct proto_receipt *out, char err[FIEF_ERR_LEN])
{
    int rc = proto_fields_decode(&receipt_def, params, out, err);
    if (rc == 0)
        out->receipt = json_incref(json_object_get(params, "receipt"));
    return rc;
}

json_t *proto_receipt_encode(const struct proto_receipt *r)
{
    json_t *o = proto_fields_encode(&receipt_def, r);
    json_object_set_new(o, "receipt", r->receipt ? json_incref(r->receipt) : json_object());
    return o;
}

void proto_receipt_clear(struct proto_receipt *r)
{
    json_decref(r->receipt);
    memset(r, 0, sizeof *r);
}
