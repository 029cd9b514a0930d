/* SPDX-License-Identifier: MIT */
/* The seeded sampler. Every choice is a pure function of (parameters,
 * position, logits, history): the random draw comes from hashing (seed, pos),
 * candidates are ordered by (logit desc, id asc), and sums run in double, so
 * any machine holding the same distribution picks the same token. The same
 * decision code also judges a claimed token for scoring (samp_decide): where
 * it stands against the draw, so an auditor can tell a near miss from a lie. */
#include "engine/engine.h"
#include "engine/samp.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Candidates more than this far (in scaled logits) below the best have a
 * relative probability under e^-30 (1e-13): dropping them changes no sum a
 * double can tell apart, and keeps the sort small. */
#define CAND_WINDOW 30.0f

struct cand {
    int32_t id;
    float logit; /* after penalty and temperature */
};

struct eng_sampler {
    int32_t n_vocab;
    struct cand *cands; /* (n_vocab) */
    float *work;        /* (n_vocab) logits after penalty */
    double *prob;       /* (n_vocab) candidate weights */
};

void eng_sampling_defaults(struct eng_sampling *s)
{
    memset(s, 0, sizeof *s);
    s->temperature = 0.0f;
    s->top_k = 0;
    s->top_p = 1.0f;
    s->min_p = 0.0f;
    s->repeat_penalty = 1.0f;
    s->repeat_last_n = 64;
    s->seed = 0;
}

struct eng_sampler *eng_sampler_new(int32_t n_vocab)
{
    if (n_vocab <= 0)
        return NULL;
    struct eng_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->n_vocab = n_vocab;
    s->cands = malloc((size_t)n_vocab * sizeof *s->cands);
    s->work = malloc((size_t)n_vocab * sizeof *s->work);
    s->prob = malloc((size_t)n_vocab * sizeof *s->prob);
    if (!s->cands || !s->work || !s->prob) {
        eng_sampler_free(s);
        return NULL;
    }
    return s;
}

void eng_sampler_free(struct eng_sampler *s)
{
    if (!s)
        return;
    free(s->cands);
    free(s->work);
    free(s->prob);
    free(s);
}

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double eng_sample_uniform(uint64_t seed, uint32_t pos)
{
    uint64_t h = mix64(seed ^ mix64((uint64_t)pos + 0x632be59bd9b4e019ull));
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

/* Better-first order: higher logit, then lower id. */
static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->logit != y->logit)
        return x->logit > y->logit ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static bool better(float la, int32_t ia, float lb, int32_t ib)
{
    return la > lb || (la == lb && ia < ib);
}

double samp_log_norm(const float *l, int32_t n)
{
    float mx = l[samp_argmax(l, n)];
    double sum = 0;
    for (int32_t i = 0; i < n; i++)
        sum += exp((double)l[i] - mx);
    return (double)mx + log(sum);
}

int32_t samp_argmax(const float *l, int32_t n)
{
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (l[i] > l[best])
            best = i;
    return best;
}

/* The k best raw logits, best first, by insertion into a short sorted list. */
static int top_n(const float *l, int32_t n, int k, double lz, struct eng_top *top)
{
    int m = 0;
    for (int32_t i = 0; i < n; i++) {
        if (m == k && !better(l[i], i, l[top[m - 1].id], top[m - 1].id))
            continue;
        int j = m < k ? m++ : k - 1;
        while (j > 0 && better(l[i], i, l[top[j - 1].id], top[j - 1].id)) {
            top[j] = top[j - 1];
            j--;
        }
        top[j].id = i;
    }
    for (int j = 0; j < m; j++)
        top[j].logprob = (float)((double)l[top[j].id] - lz);
    return m;
}

static bool penalty_on(const struct eng_sampling *p, const int32_t *hist)
{
    return p->repeat_penalty != 1.0f && hist && p->repeat_last_n > 0;
}

static void apply_penalty(float *w, const struct eng_sampling *p, const int32_t *hist,
                          size_t n_hist, int32_t n_vocab)
{
    size_t from = n_hist > (size_t)p->repeat_last_n ? n_hist - (size_t)p->repeat_last_n : 0;
    /* Each distinct token is penalised once however often it repeats; the
     * sign flip keeps the penalty pushing the logit towards "less likely". */
    for (size_t i = from; i < n_hist; i++) {
        int32_t id = hist[i];
        if (id < 0 || id >= n_vocab)
            continue;
        bool seen = false;
        for (size_t j = from; j < i && !seen; j++)
            seen = hist[j] == id;
        if (seen)
            continue;
        w[id] = w[id] > 0 ? w[id] / p->repeat_penalty : w[id] * p->repeat_penalty;
    }
}

/* Build the filtered, sorted candidate list; returns its length (>= 1). */
static int32_t candidates(struct eng_sampler *s, const struct eng_sampling *p, const float *w)
{
    float inv_t = 1.0f / p->temperature;
    float mx = w[0];
    for (int32_t i = 1; i < s->n_vocab; i++)
        if (w[i] > mx)
            mx = w[i];
    float floor_ = mx * inv_t - CAND_WINDOW;
    int32_t n = 0;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        float l = w[i] * inv_t;
        if (l >= floor_)
            s->cands[n++] = (struct cand){i, l};
    }
    qsort(s->cands, (size_t)n, sizeof *s->cands, cand_cmp);
    if (p->top_k > 0 && n > p->top_k)
        n = p->top_k;
    return n;
}

/* Apply min-p and top-p to probabilities prob[0..n) (sorted, descending) and
 * return how many candidates survive. */
static int32_t filter_probs(const double *prob, int32_t n, double total,
                            const struct eng_sampling *p)
{
    if (p->min_p > 0) {
        double lim = prob[0] * p->min_p;
        int32_t m = 1;
        while (m < n && prob[m] >= lim)
            m++;
        n = m;
    }
    if (p->top_p < 1.0f) {
        double acc = 0, want = (double)p->top_p * total;
        int32_t m = 0;
        while (m < n) {
            acc += prob[m++];
            if (acc >= want)
                break;
        }
        n = m;
    }
    return n;
}

int32_t samp_draw(const double *w, int32_t n, double u, int32_t j, struct samp_spot *spot)
{
    double total = 0;
    for (int32_t i = 0; i < n; i++)
        total += w[i];
    double x = u * total, acc = 0, lo = 0, hi = total;
    int32_t pick = -1, last = spot ? j : -1; /* scan on to j only when it is asked about */
    for (int32_t i = 0; i < n && (pick < 0 || i <= last); i++) {
        double before = acc;
        acc += w[i];
        if (i == j) {
            lo = before;
            hi = acc;
        }
        if (pick < 0 && x < acc)
            pick = i;
    }
    if (pick < 0) /* u * total rounded up to total: the last candidate takes it */
        pick = n - 1;
    if (!spot)
        return pick;
    spot->lo = lo / total;
    spot->hi = hi / total;
    spot->margin = 0;
    if (pick != j) {
        /* x sits on hi only at the edge a right-open interval excludes: still
         * not picked, so the margin stays positive. */
        float d = (float)((x < lo ? lo - x : x - hi) / total);
        spot->margin = d > 0 ? d : FLT_TRUE_MIN;
    }
    return pick;
}

/* Sample from the penalised logits w: candidates, filters, then the draw. */
static void draw(struct eng_sampler *s, const struct eng_sampling *p, const float *w,
                 uint32_t pos, int32_t claimed, struct samp_verdict *out)
{
    int32_t n = candidates(s, p, w);
    double *prob = s->prob, total = 0;
    float top = s->cands[0].logit; /* weights relative to the best candidate */
    for (int32_t i = 0; i < n; i++) {
        prob[i] = exp((double)s->cands[i].logit - top);
        total += prob[i];
    }
    n = filter_probs(prob, n, total, p);
    int32_t j = -1;
    for (int32_t i = 0; claimed >= 0 && j < 0 && i < n; i++)
        if (s->cands[i].id == claimed)
            j = i;
    struct samp_spot spot;
    out->u = eng_sample_uniform(p->seed, pos);
    out->pick = s->cands[samp_draw(prob, n, out->u, j, j >= 0 ? &spot : NULL)].id;
    if (j >= 0) {
        out->lo = spot.lo;
        out->hi = spot.hi;
        out->margin = spot.margin;
    } else {
        out->margin = claimed >= 0 ? 1.0f : 0.0f; /* filtered out: as far as it gets */
    }
}

/* a - b for a >= b, finite: an overflowed or NaN gap reads as the largest. */
static float logit_gap(float a, float b)
{
    float d = a - b;
    return d <= FLT_MAX ? (d > 0 ? d : 0) : FLT_MAX;
}

void samp_greedy(const float *w, int32_t n, int32_t claimed, struct samp_verdict *out)
{
    out->pick = samp_argmax(w, n);
    out->u = 0;
    out->lo = out->hi = -1;
    out->margin = claimed >= 0 && claimed != out->pick ? logit_gap(w[out->pick], w[claimed]) : 0;
}

bool samp_params_ok(const struct eng_sampling *p)
{
    return !isnan(p->temperature) && !isnan(p->top_p) && !isnan(p->min_p) &&
           p->repeat_penalty > 0 && isfinite(p->repeat_penalty);
}

/* A temperature so small that its inverse overflows would scale every logit
 * to an infinity: it can only mean greedy. */
static bool is_greedy(const struct eng_sampling *p)
{
    return p->temperature <= 0.0f || !isfinite(1.0f / p->temperature);
}

void samp_decide(struct eng_sampler *s, const struct eng_sampling *p, const float *logits,
                 uint32_t pos, const int32_t *history, size_t n_hist, int32_t claimed,
                 struct samp_verdict *out)
{
    const float *w = logits;
    if (penalty_on(p, history)) {
        memcpy(s->work, logits, (size_t)s->n_vocab * sizeof *logits);
        apply_penalty(s->work, p, history, n_hist, s->n_vocab);
        w = s->work;
    }
    if (is_greedy(p)) {
        samp_greedy(w, s->n_vocab, claimed, out);
        return;
    }
    out->lo = out->hi = -1;
    draw(s, p, w, pos, claimed, out);
}

int32_t samp_n_vocab(const struct eng_sampler *s)
{
    return s->n_vocab;
}

int eng_sample(struct eng_sampler *s, const struct eng_sampling *p, const float *logits,
               uint32_t pos, const int32_t *history, size_t n_hist, int n_top,
               struct eng_pick *out)
{
    if (!s || !p || !logits || !out || n_top < 0 || n_top > ENG_MAX_TOP || !samp_params_ok(p))
        return FIEF_EINVAL;
    double lz = samp_log_norm(logits, s->n_vocab);
    if (!isfinite(lz))
        return FIEF_EINVAL;
    out->n_top = n_top ? top_n(logits, s->n_vocab, n_top, lz, out->top) : 0;
    struct samp_verdict v;
    samp_decide(s, p, logits, pos, history, n_hist, -1, &v);
    out->id = v.pick;
    out->logprob = (float)((double)logits[out->id] - lz);
    return 0;
}
