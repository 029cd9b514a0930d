/* SPDX-License-Identifier: MIT */
/* The llama forward pass over a batch of tokens, and the context that holds
 * its KV cache and scratch. Everything is allocated in eng_ctx_new; decoding
 * allocates nothing. Matrix products and attention run on the thread pool,
 * the cheap element-wise steps on the calling thread. */
#include "engine/forward.h"
#include "engine/model_impl.h"
#include "engine/quant.h"
#include "engine/threads.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Tokens per forward batch: large enough that prefill reuses each weight row
 * across many tokens, small enough that scratch stays modest. */
#define BATCH 32

struct eng_ctx {
    const struct eng_model *m;
    struct eng_threads *th;
    int32_t n_ctx;
    int32_t pos;         /* tokens in the cache */
    int32_t q_dim, kv_dim;
    uint16_t *kc;        /* (n_layer, n_ctx, kv_dim) keys, f16 */
    uint16_t *vc;        /* (n_layer, kv_dim, n_ctx) values, f16, transposed so a
                            head's output is a dot product along positions */
    float *x;            /* (BATCH, n_embd) residual stream */
    float *xb;           /* (BATCH, max(n_embd, q_dim)) normed input / attention output */
    float *q;            /* (BATCH, q_dim) */
    float *k, *v;        /* (BATCH, kv_dim) */
    float *hg, *hu;      /* (BATCH, n_ff) gate and up projections */
    float *scores;       /* (n_threads, score_stride) per thread: n_ctx attention
                            weights, then the f16 forms of q and of the weights */
    uint8_t *act[3];     /* (BATCH, act_stride) converted activations, one per act type */
    size_t act_stride;
    float *rope_inv;     /* (n_rot / 2) inverse frequencies, scaling applied */
    float *logits;       /* (BATCH, n_vocab) */
};

/* ---- context ---- */

static void *alloc_floats(size_t n, bool *ok)
{
    void *p = calloc(n ? n : 1, sizeof(float));
    if (!p)
        *ok = false;
    return p;
}

/* Floats per thread of attention scratch: n_ctx weights, then f16 copies of
 * the query (head_dim) and of the weights (n_ctx), rounded up. */
static size_t score_stride(const struct eng_ctx *c)
{
    size_t halves = quant_act_size(QT_F16, (size_t)c->m->hp.head_dim) +
                    quant_act_size(QT_F16, (size_t)c->n_ctx);
    return (size_t)c->n_ctx + (halves + 3) / 4 + 16;
}

static size_t mat_act(const struct mat *w, size_t cur)
{
    size_t n = quant_act_size(w->type, (size_t)w->n_in);
    return n > cur ? n : cur;
}

/* Bytes of the largest converted activation row any matrix needs. */
static size_t act_bytes_max(const struct eng_model *m)
{
    size_t n = mat_act(&m->output, 0);
    for (int32_t i = 0; i < m->hp.n_layer; i++) {
        const struct layer *l = &m->layers[i];
        const struct mat *ws[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up,
                                  &l->w_down};
        for (size_t k = 0; k < sizeof ws / sizeof ws[0]; k++)
            n = mat_act(ws[k], n);
    }
    return n;
}

static void init_rope(struct eng_ctx *c)
{
    const struct hparams *hp = &c->m->hp;
    for (int32_t i = 0; i < hp->n_rot / 2; i++) {
        double f = pow((double)hp->rope_base, -2.0 * i / hp->n_rot) * hp->rope_scale;
        if (c->m->rope_freqs)
            f /= c->m->rope_freqs[i];
        c->rope_inv[i] = (float)f;
    }
}

int eng_ctx_new(const struct eng_model *m, int32_t n_ctx, struct eng_threads *t,
                struct eng_ctx **out, char err[FIEF_ERR_LEN])
{
    *out = NULL;
    if (!m || !t)
        return fief_errf(err, FIEF_EINVAL, "model and threads are required");
    const struct hparams *hp = &m->hp;
    if (n_ctx <= 0)
        n_ctx = hp->n_ctx_train < ENG_MAX_CTX ? hp->n_ctx_train : ENG_MAX_CTX;
    if (n_ctx > ENG_MAX_CTX)
        return fief_errf(err, FIEF_EINVAL, "context of %d exceeds the maximum %d", n_ctx,
                         ENG_MAX_CTX);
    struct eng_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return fief_errf(err, FIEF_ENOMEM, "out of memory");
    c->m = m;
    c->th = t;
    c->n_ctx = n_ctx;
    c->q_dim = hp->n_head * hp->head_dim;
    c->kv_dim = hp->n_head_kv * hp->head_dim;
    size_t xb_dim = (size_t)(hp->n_embd > c->q_dim ? hp->n_embd : c->q_dim);
    size_t cache = (size_t)hp->n_layer * (size_t)n_ctx * (size_t)c->kv_dim;
    bool ok = true;
    c->kc = calloc(cache ? cache : 1, sizeof *c->kc);
    c->vc = calloc(cache ? cache : 1, sizeof *c->vc);
    ok = c->kc && c->vc;
    c->x = alloc_floats(BATCH * (size_t)hp->n_embd, &ok);
    c->xb = alloc_floats(BATCH * xb_dim, &ok);
    c->q = alloc_floats(BATCH * (size_t)c->q_dim, &ok);
    c->k = alloc_floats(BATCH * (size_t)c->kv_dim, &ok);
    c->v = alloc_floats(BATCH * (size_t)c->kv_dim, &ok);
    c->hg = alloc_floats(BATCH * (size_t)hp->n_ff, &ok);
    c->hu = alloc_floats(BATCH * (size_t)hp->n_ff, &ok);
    c->scores = alloc_floats((size_t)eng_threads_count(t) * score_stride(c), &ok);
    c->rope_inv = alloc_floats((size_t)hp->n_rot / 2, &ok);
    c->logits = alloc_floats(BATCH * (size_t)hp->n_vocab, &ok);
    c->act_stride = (act_bytes_max(m) + 63) & ~(size_t)63;
    for (int i = 0; i < 3 && ok; i++) {
        c->act[i] = aligned_alloc(64, BATCH * c->act_stride);
        ok = c->act[i] != NULL;
    }
    if (!ok) {
        eng_ctx_free(c);
        return fief_errf(err, FIEF_ENOMEM, "out of memory for a context of %d tokens "
                         "(KV cache %zu MiB)", n_ctx, cache * 4 >> 20);
    }
    init_rope(c);
    *out = c;
    return 0;
}

void eng_ctx_free(struct eng_ctx *c)
{
    if (!c)
        return;
    free(c->kc);
    free(c->vc);
    float *fs[] = {c->x, c->xb, c->q, c->k, c->v, c->hg, c->hu,
                   c->scores, c->rope_inv, c->logits};
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
        free(fs[i]);
    for (int i = 0; i < 3; i++)
        free(c->act[i]);
    free(c);
}

int32_t eng_ctx_size(const struct eng_ctx *c)
{
    return c->n_ctx;
}

const struct eng_model *eng_ctx_model(const struct eng_ctx *c)
{
    return c->m;
}

int32_t eng_ctx_pos(const struct eng_ctx *c)
{
    return c->pos;
}

void eng_ctx_truncate(struct eng_ctx *c, int32_t pos)
{
    if (pos >= 0 && pos < c->pos)
        c->pos = pos;
}

/* ---- matrix products ---- */

/* Up to three matrices applied to the same nb input rows, as one job so the
 * threads synchronise once (q/k/v, gate/up). */
struct mm_job {
    int nw;
    const struct mat *w[3];
    float *y[3];          /* (nb, w->n_out) each */
    const uint8_t *a[3];  /* converted activations for w[i] */
    size_t a_stride;
    int nb;
};

/* Rows [a, b) of w against one token: one dot per row (decode). */
static void mm_rows_one(const struct mat *w, size_t a, size_t b, const uint8_t *act, float *y)
{
    quant_dot_fn dot = quant_dot(w->type);
    for (size_t r = a; r < b; r++)
        y[r] = dot((size_t)w->n_in, w->data + r * w->row_bytes, act);
}

/* Weight bytes of a row tile: the kernel streams a tile's rows past each
 * few tokens' activations, so the tile should stay in L2 meanwhile. */
#define MM_TILE_BYTES (256 * 1024)

/* Rows [a, b) of w against nb >= 2 tokens (activations converted by
 * quant_act_convert_cols), one L2-sized tile of rows at a time. Every
 * result is the bits the single dot gives (quant_dot_tile's contract), so
 * batching, tiling and thread counts never change results. y is
 * (nb, n_out). */
static void mm_rows_many(const struct mat *w, size_t a, size_t b, const uint8_t *act,
                         size_t a_stride, int nb, float *y)
{
    quant_dot_tile_fn tile = quant_dot_tile(w->type);
    size_t rows = MM_TILE_BYTES / w->row_bytes;
    rows = rows ? rows : 1;
    for (size_t r = a; r < b; r += rows) {
        size_t nr = b - r < rows ? b - r : rows;
        tile((size_t)w->n_in, w->data + r * w->row_bytes, w->row_bytes, nr, act, a_stride,
             (size_t)nb, y + r, (size_t)w->n_out);
    }
}

/* Rows are handed out in contiguous blocks, so each thread walks its own
 * stretch of memory. */
static void mm_worker(void *arg, int ith, int nth)
{
    const struct mm_job *j = arg;
    size_t total = 0;
    for (int i = 0; i < j->nw; i++)
        total += (size_t)j->w[i]->n_out;
    size_t lo, hi;
    thr_range(total, ith, nth, &lo, &hi);
    size_t base = 0;
    for (int i = 0; i < j->nw; i++) {
        const struct mat *w = j->w[i];
        size_t start = base, end = base + (size_t)w->n_out;
        base = end;
        if (hi <= start || lo >= end)
            continue;
        size_t a = (lo > start ? lo : start) - start, b = (hi < end ? hi : end) - start;
        if (j->nb == 1)
            mm_rows_one(w, a, b, j->a[i], j->y[i]);
        else
            mm_rows_many(w, a, b, j->a[i], j->a_stride, j->nb, j->y[i]);
    }
}

/* y_i = W_i x for nb rows of x (nb, n_in); all W_i share n_in. */
static void matmul(struct eng_ctx *c, int nw, const struct mat *const *w, float *const *y,
                   const float *x, int nb)
{
    struct mm_job j = {.nw = nw, .nb = nb, .a_stride = c->act_stride};
    size_t n_in = (size_t)w[0]->n_in;
    for (int i = 0; i < nw; i++) {
        j.w[i] = w[i];
        j.y[i] = y[i];
        /* Reuse an earlier conversion when the activation type is the same. */
        int same = -1;
        for (int k = 0; k < i && same < 0; k++)
            if (quant_act_type(w[k]->type) == quant_act_type(w[i]->type))
                same = k;
        if (same >= 0) {
            j.a[i] = j.a[same];
            continue;
        }
        /* A batch gets the layout of the tile kernels (mm_rows_many). */
        for (int t = 0; t < nb; t++)
            (nb > 1 ? quant_act_convert_cols : quant_act_convert)(
                w[i]->type, x + (size_t)t * n_in, c->act[i] + (size_t)t * c->act_stride, n_in);
        j.a[i] = c->act[i];
    }
    thr_run(c->th, mm_worker, &j);
}

static void matmul1(struct eng_ctx *c, const struct mat *w, float *y, const float *x, int nb)
{
    matmul(c, 1, &w, &y, x, nb);
}

/* ---- element-wise steps ---- */

static void rmsnorm(float *y, const float *x, const float *w, int32_t n, float eps)
{
    double ss = 0;
    for (int32_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float s = (float)(1.0 / sqrt(ss / n + eps));
    for (int32_t i = 0; i < n; i++)
        y[i] = x[i] * s * w[i];
}

static void add_bias(float *y, const float *b, int32_t n)
{
    if (b)
        for (int32_t i = 0; i < n; i++)
            y[i] += b[i];
}

/* Rotate each head's first n_rot dims by position-dependent angles. */
static void rope(const struct eng_ctx *c, float *v, int32_t n_heads, int32_t pos)
{
    const struct hparams *hp = &c->m->hp;
    int32_t half = hp->n_rot / 2;
    for (int32_t h = 0; h < n_heads; h++) {
        float *hv = v + (size_t)h * hp->head_dim;
        for (int32_t i = 0; i < half; i++) {
            float th = (float)pos * c->rope_inv[i];
            float cs = cosf(th), sn = sinf(th);
            int32_t a = hp->rope_neox ? i : 2 * i, b = hp->rope_neox ? i + half : 2 * i + 1;
            float x0 = hv[a], x1 = hv[b];
            hv[a] = x0 * cs - x1 * sn;
            hv[b] = x0 * sn + x1 * cs;
        }
    }
}

/* ---- attention ---- */

struct att_job {
    struct eng_ctx *c;
    int layer;
    int nb;
    int32_t pos0;
};

/* One head of one token. The cache holds f16 and both products take f16
 * operands (the query and the softmax weights are converted with the f16
 * activation rule), summed in f32: the numerics of llama.cpp's default
 * attention, so log-probabilities agree with miners that run it. */
static void attend_one(struct eng_ctx *c, int layer, int t, int h, int32_t p, float *sc)
{
    const struct hparams *hp = &c->m->hp;
    int32_t hd = hp->head_dim, kh = h / (hp->n_head / hp->n_head_kv);
    const float *q = c->q + (size_t)t * c->q_dim + (size_t)h * hd;
    size_t lbase = (size_t)layer * (size_t)c->n_ctx * (size_t)c->kv_dim;
    const uint16_t *kc = c->kc + lbase + (size_t)kh * hd;
    const uint16_t *vt = c->vc + lbase + (size_t)kh * hd * (size_t)c->n_ctx;
    quant_dot_fn dot = quant_dot(QT_F16);
    uint8_t *q16 = (uint8_t *)(sc + c->n_ctx);
    uint8_t *w16 = q16 + quant_act_size(QT_F16, (size_t)hd);
    quant_act_convert(QT_F16, q, q16, (size_t)hd);
    float scale = 1.0f / sqrtf((float)hd), mx = -INFINITY;
    for (int32_t s = 0; s <= p; s++) {
        sc[s] = dot((size_t)hd, kc + (size_t)s * c->kv_dim, q16) * scale;
        if (sc[s] > mx)
            mx = sc[s];
    }
    double sum = 0;
    for (int32_t s = 0; s <= p; s++) {
        sc[s] = expf(sc[s] - mx);
        sum += sc[s];
    }
    float inv = (float)(1.0 / sum);
    for (int32_t s = 0; s <= p; s++)
        sc[s] *= inv;
    quant_act_convert(QT_F16, sc, w16, (size_t)p + 1);
    float *out = c->xb + (size_t)t * c->q_dim + (size_t)h * hd;
    for (int32_t i = 0; i < hd; i++)
        out[i] = dot((size_t)p + 1, vt + (size_t)i * (size_t)c->n_ctx, w16);
}

static void att_worker(void *arg, int ith, int nth)
{
    struct att_job *j = arg;
    struct eng_ctx *c = j->c;
    size_t lo, hi, n_head = (size_t)c->m->hp.n_head;
    thr_range((size_t)j->nb * n_head, ith, nth, &lo, &hi);
    float *sc = c->scores + (size_t)ith * score_stride(c);
    for (size_t i = lo; i < hi; i++) {
        int t = (int)(i / n_head), h = (int)(i % n_head);
        attend_one(c, j->layer, t, h, j->pos0 + t, sc);
    }
}

/* ---- one layer, one batch ---- */

static void attention_block(struct eng_ctx *c, int il, int nb)
{
    const struct hparams *hp = &c->m->hp;
    const struct layer *ly = &c->m->layers[il];
    int32_t e = hp->n_embd;
    for (int t = 0; t < nb; t++)
        rmsnorm(c->xb + (size_t)t * e, c->x + (size_t)t * e, ly->attn_norm, e, hp->eps);
    const struct mat *w[3] = {&ly->wq, &ly->wk, &ly->wv};
    float *y[3] = {c->q, c->k, c->v};
    matmul(c, 3, w, y, c->xb, nb);
    size_t lbase = (size_t)il * (size_t)c->n_ctx * (size_t)c->kv_dim;
    for (int t = 0; t < nb; t++) {
        float *q = c->q + (size_t)t * c->q_dim, *k = c->k + (size_t)t * c->kv_dim;
        float *v = c->v + (size_t)t * c->kv_dim;
        add_bias(q, ly->bq, c->q_dim);
        add_bias(k, ly->bk, c->kv_dim);
        add_bias(v, ly->bv, c->kv_dim);
        rope(c, q, hp->n_head, c->pos + t);
        rope(c, k, hp->n_head_kv, c->pos + t);
        size_t pos = (size_t)(c->pos + t);
        uint16_t *kdst = c->kc + lbase + pos * (size_t)c->kv_dim;
        uint16_t *vdst = c->vc + lbase + pos;
        for (int32_t i = 0; i < c->kv_dim; i++) {
            kdst[i] = quant_f32_to_f16(k[i]);
            vdst[(size_t)i * (size_t)c->n_ctx] = quant_f32_to_f16(v[i]);
        }
    }
    struct att_job aj = {c, il, nb, c->pos};
    thr_run(c->th, att_worker, &aj);
    /* xb now holds the attention output (nb, q_dim); project and add. */
    matmul1(c, &ly->wo, c->q, c->xb, nb);
    for (size_t i = 0; i < (size_t)nb * (size_t)e; i++)
        c->x[i] += c->q[i];
}

static void ffn_block(struct eng_ctx *c, int il, int nb)
{
    const struct hparams *hp = &c->m->hp;
    const struct layer *ly = &c->m->layers[il];
    int32_t e = hp->n_embd;
    for (int t = 0; t < nb; t++)
        rmsnorm(c->xb + (size_t)t * e, c->x + (size_t)t * e, ly->ffn_norm, e, hp->eps);
    const struct mat *w[2] = {&ly->w_gate, &ly->w_up};
    float *y[2] = {c->hg, c->hu};
    matmul(c, 2, w, y, c->xb, nb);
    for (size_t i = 0; i < (size_t)nb * (size_t)hp->n_ff; i++) {
        float g = c->hg[i];
        c->hg[i] = g / (1.0f + expf(-g)) * c->hu[i]; /* SwiGLU */
    }
    matmul1(c, &ly->w_down, c->xb, c->hg, nb);
    for (size_t i = 0; i < (size_t)nb * (size_t)e; i++)
        c->x[i] += c->xb[i];
}

/* Run nb (<= BATCH) tokens at c->pos; logits for rows >= first_logit go to
 * c->logits, one row of n_vocab each, starting at row 0. */
static void forward_batch(struct eng_ctx *c, const int32_t *tok, int nb, int first_logit)
{
    const struct eng_model *m = c->m;
    const struct hparams *hp = &m->hp;
    int32_t e = hp->n_embd;
    for (int t = 0; t < nb; t++)
        quant_dequant_row(m->tok_embd.type, m->tok_embd.data + (size_t)tok[t] * m->tok_embd.row_bytes,
                          c->x + (size_t)t * e, (size_t)e);
    for (int il = 0; il < hp->n_layer; il++) {
        attention_block(c, il, nb);
        ffn_block(c, il, nb);
    }
    c->pos += nb;
    if (first_logit >= nb)
        return;
    int nl = nb - first_logit;
    for (int t = 0; t < nl; t++)
        rmsnorm(c->xb + (size_t)t * e, c->x + (size_t)(first_logit + t) * e, m->output_norm, e,
                hp->eps);
    matmul1(c, &m->output, c->logits, c->xb, nl);
    /* Rows past the tokenizer's vocabulary are padding: never pick them. */
    for (int t = 0; t < nl; t++)
        for (int32_t i = hp->n_tok_vocab; i < hp->n_vocab; i++)
            c->logits[(size_t)t * hp->n_vocab + i] = -INFINITY;
}

static int check_tokens(const struct eng_ctx *c, const int32_t *tok, size_t n)
{
    if (n > (size_t)(c->n_ctx - c->pos))
        return FIEF_ELIMIT;
    for (size_t i = 0; i < n; i++)
        if (tok[i] < 0 || tok[i] >= c->m->hp.n_vocab)
            return FIEF_EINVAL;
    return 0;
}

int forward_rows(struct eng_ctx *c, const int32_t *tok, size_t n, size_t want_from,
                 forward_logits_cb cb, void *ud)
{
    int rc = check_tokens(c, tok, n);
    if (rc)
        return rc;
    thr_lock(c->th);
    for (size_t done = 0; done < n;) {
        int nb = n - done < BATCH ? (int)(n - done) : BATCH;
        int first = nb; /* first row of this batch whose logits are wanted */
        if (cb && want_from < done + (size_t)nb)
            first = want_from > done ? (int)(want_from - done) : 0;
        forward_batch(c, tok + done, nb, first);
        for (int t = first; t < nb; t++)
            cb(ud, done + (size_t)t, c->logits + (size_t)(t - first) * c->m->hp.n_vocab);
        done += (size_t)nb;
    }
    thr_unlock(c->th);
    return 0;
}

struct last_logits {
    float *dst;
    int32_t n_vocab;
};

static void copy_last(void *ud, size_t index, const float *logits)
{
    (void)index;
    struct last_logits *d = ud;
    memcpy(d->dst, logits, (size_t)d->n_vocab * sizeof *logits);
}

int eng_decode(struct eng_ctx *c, const int32_t *tokens, size_t n, float *logits)
{
    if (!c || (!tokens && n))
        return FIEF_EINVAL;
    if (n == 0)
        return 0;
    struct last_logits d = {logits, c->m->hp.n_vocab};
    return forward_rows(c, tokens, n, n - 1, logits ? copy_last : NULL, &d);
}
