/* SPDX-License-Identifier: MIT */
/* The seeded sampler. Every choice is a pure function of (parameters,
 * position, logits, history): the random draw comes from hashing (seed, pos),
 * candidates are ordered by (logit desc, id asc), and sums run in double, so
 * any machine holding the same distribution picks the same token. */
#include "engine/engine.h"
#include "engine/samp.h"

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

static int32_t draw(struct eng_sampler *s, const struct eng_sampling *p, const float *w,
                    uint32_t pos)
{
    int32_t n = candidates(s, p, w);
    double *prob = s->prob, total = 0;
    float top = s->cands[0].logit; /* weights relative to the best candidate */
    for (int32_t i = 0; i < n; i++) {
        prob[i] = exp((double)s->cands[i].logit - top);
        total += prob[i];
    }
    n = filter_probs(prob, n, total, p);
    total = 0;
    for (int32_t i = 0; i < n; i++)
        total += prob[i];
    double u = eng_sample_uniform(p->seed, pos) * total, acc = 0;
    int32_t pick = s->cands[n - 1].id;
    for (int32_t i = 0; i < n; i++) {
        acc += prob[i];
        if (u < acc) {
            pick = s->cands[i].id;
            break;
        }
    }
    return pick;
}

int eng_sample(struct eng_sampler *s, const struct eng_sampling *p, const float *logits,
               uint32_t pos, const int32_t *history, size_t n_hist, int n_top,
               struct eng_pick *out)
{
    if (!s || !p || !logits || !out || n_top < 0 || n_top > ENG_MAX_TOP)
        return FIEF_EINVAL;
    double lz = samp_log_norm(logits, s->n_vocab);
    if (!isfinite(lz))
        return FIEF_EINVAL;
    out->n_top = n_top ? top_n(logits, s->n_vocab, n_top, lz, out->top) : 0;
    const float *w = logits;
    if (penalty_on(p, history)) {
        memcpy(s->work, logits, (size_t)s->n_vocab * sizeof *logits);
        apply_penalty(s->work, p, history, n_hist, s->n_vocab);
        w = s->work;
    }
    if (p->temperature <= 0.0f) {
        out->id = samp_argmax(w, s->n_vocab);
    } else {
        out->id = draw(s, p, w, pos);
    }
    out->logprob = (float)((double)logits[out->id] - lz);
    return 0;
}
