/* SPDX-License-Identifier: MIT */
/* Generation (prefill, then sample and decode token by token) and
 * teacher-forced scoring (one batched pass over prompt + completion). Both go
 * through forward_rows, samp_log_norm and samp_decide, so a score of a
 * generated sequence reproduces the generator's log-probabilities and its
 * sampler's picks bit for bit. */
#include "engine/forward.h"
#include "engine/model_impl.h"
#include "engine/samp.h"
#include "common/clock.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- scoring ---- */

struct score_state {
    const int32_t *seq; /* prompt + completion[0..nc-1): the penalty's history */
    const int32_t *completion;
    size_t offset; /* sequence index whose logits predict completion[0] */
    int32_t n_vocab;
    struct eng_sampler *s;        /* scratch for p */
    const struct eng_sampling *p; /* NULL: greedy without penalty */
    struct eng_score_tok *out;
    int rc; /* FIEF_EINVAL once a row's logits were not finite */
};

/* The row after seq[index] predicts completion[j] at position index + 1. */
static void score_row(void *ud, size_t index, const float *logits)
{
    struct score_state *st = ud;
    size_t j = index - st->offset;
    int32_t tok = st->completion[j], top = samp_argmax(logits, st->n_vocab);
    double lz = samp_log_norm(logits, st->n_vocab);
    struct eng_score_tok *o = &st->out[j];
    o->logprob = (float)((double)logits[tok] - lz);
    o->top_id = o->pick = top;
    o->top_logprob = (float)((double)logits[top] - lz);
    o->margin = 0;
    o->pick_logprob = o->top_logprob;
    if (!isfinite(lz)) {
        st->rc = FIEF_EINVAL; /* the sampler cannot work on it, nor could generation */
        return;
    }
    struct samp_verdict v;
    if (st->p)
        samp_decide(st->s, st->p, logits, (uint32_t)(index + 1), st->seq, index + 1, tok, &v);
    else /* plain scoring: greedy without penalty, no scratch needed */
        samp_greedy(logits, st->n_vocab, tok, &v);
    o->pick = v.pick;
    o->margin = v.margin;
    o->pick_logprob = (float)((double)logits[v.pick] - lz);
}

static int score_args(struct eng_ctx *c, struct eng_sampler *s, const struct eng_sampling *p,
                      const int32_t *prompt, size_t np, const int32_t *completion, size_t nc,
                      const struct eng_score_tok *out)
{
    if (!c || !prompt || np == 0 || (nc && (!completion || !out)))
        return FIEF_EINVAL;
    const struct eng_model *m = eng_ctx_model(c);
    if (p && (!s || samp_n_vocab(s) != m->hp.n_vocab || !samp_params_ok(p)))
        return FIEF_EINVAL;
    if (np + (nc ? nc - 1 : 0) > (size_t)eng_ctx_size(c))
        return FIEF_ELIMIT;
    for (size_t i = 0; i < nc; i++)
        if (completion[i] < 0 || completion[i] >= m->hp.n_vocab)
            return FIEF_EINVAL;
    return 0;
}

int eng_score(struct eng_ctx *c, struct eng_sampler *s, const struct eng_sampling *p,
              const int32_t *prompt, size_t np, const int32_t *completion, size_t nc,
              struct eng_score_tok *out)
{
    int rc = score_args(c, s, p, prompt, np, completion, nc, out);
    if (rc)
        return rc;
    const struct eng_model *m = eng_ctx_model(c);
    size_t n = np + (nc ? nc - 1 : 0);
    int32_t *seq = malloc(n * sizeof *seq);
    if (!seq)
        return FIEF_ENOMEM;
    memcpy(seq, prompt, np * sizeof *seq);
    if (nc > 1)
        memcpy(seq + np, completion, (nc - 1) * sizeof *seq);
    struct score_state st = {seq, completion, np - 1, m->hp.n_vocab, s, p, out, 0};
    eng_ctx_truncate(c, 0);
    rc = forward_rows(c, seq, n, nc ? np - 1 : n, nc ? score_row : NULL, &st);
    free(seq);
    return rc ? rc : st.rc;
}

/* ---- generation ---- */

struct last_row {
    float *dst;
    int32_t n_vocab;
};

static void keep_row(void *ud, size_t index, const float *logits)
{
    (void)index;
    struct last_row *r = ud;
    memcpy(r->dst, logits, (size_t)r->n_vocab * sizeof *logits);
}

int eng_generate(struct eng_ctx *c, struct eng_sampler *s, const struct eng_sampling *p,
                 const int32_t *prompt, size_t np, int32_t max_tokens, int n_top, eng_token_cb cb,
                 void *ud, struct eng_gen_stats *stats)
{
    if (!c || !s || !p || !prompt || np == 0 || max_tokens < 0 || !cb)
        return FIEF_EINVAL;
    const struct eng_model *m = eng_ctx_model(c);
    size_t n_ctx = (size_t)eng_ctx_size(c);
    if (np > n_ctx)
        return FIEF_ELIMIT;
    struct eng_gen_stats st = {.n_prompt = (int32_t)np};
    int32_t *seq = malloc(n_ctx * sizeof *seq);
    float *logits = malloc((size_t)m->hp.n_vocab * sizeof *logits);
    int rc = FIEF_ENOMEM;
    if (!seq || !logits)
        goto out;
    memcpy(seq, prompt, np * sizeof *seq);
    struct last_row lr = {logits, m->hp.n_vocab};
    eng_ctx_truncate(c, 0);
    double t0 = clock_mono_s();
    if ((rc = forward_rows(c, prompt, np, np - 1, keep_row, &lr)))
        goto out;
    double t1 = clock_mono_s();
    st.prompt_s = t1 - t0;
    for (size_t pos = np; pos < np + (size_t)max_tokens && pos < n_ctx; pos++) {
        struct eng_pick pick;
        if ((rc = eng_sample(s, p, logits, (uint32_t)pos, seq, pos, n_top, &pick)))
            goto out;
        seq[pos] = pick.id;
        st.n_gen++;
        if (cb(ud, &pick) || eng_vocab_is_eog(m->vocab, pick.id))
            break;
        if (pos + 1 == np + (size_t)max_tokens || pos + 1 == n_ctx)
            break;
        if ((rc = forward_rows(c, &pick.id, 1, 0, keep_row, &lr)))
            goto out;
    }
    st.gen_s = clock_mono_s() - t1;
    rc = 0;
out:
    free(seq);
    free(logits);
    if (stats)
        *stats = st;
    return rc;
}
