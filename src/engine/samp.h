/* SPDX-License-Identifier: MIT */
/* Sampler internals shared with scoring, so that a score and a generation of
 * the same sequence compute log-probabilities, and the sampler's choices, by
 * the very same code. */
#ifndef FIEF_SAMP_H
#define FIEF_SAMP_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

/* log(sum(exp(l[i]))) in double: logprob(i) = l[i] - samp_log_norm(l, n). */
double samp_log_norm(const float *l, int32_t n);

/* Index of the largest l[i], the lowest index on ties. */
int32_t samp_argmax(const float *l, int32_t n);

/* The vocabulary size a sampler was made for. */
int32_t samp_n_vocab(const struct eng_sampler *s);

/* Whether eng_sample can work with p: no NaN, a positive finite penalty.
 * (The protocol's ranges are stricter; this only keeps the engine safe.) */
bool samp_params_ok(const struct eng_sampling *p);

/* Where one candidate stands against a draw. */
struct samp_spot {
    double lo, hi; /* its interval in the normalised mass, [lo, hi) */
    float margin;  /* 0 when it is the pick; otherwise the distance from u to
                      [lo, hi), at least the smallest positive float */
};

/* The draw over weights w[0..n) (n >= 1, each > 0, best first) with the
 * uniform u in [0, 1): returns the index picked, the first i with
 * u * total < w[0] + ... + w[i] (summed in order, as is total), or n - 1 when
 * rounding leaves none. When spot is non-NULL, fills where index j
 * (0 <= j < n) stands against that draw. Pure; allocates nothing. */
int32_t samp_draw(const double *w, int32_t n, double u, int32_t j, struct samp_spot *spot);

/* The sampler's decision at one position, and where a claimed token stands. */
struct samp_verdict {
    int32_t pick;  /* eng_sample's choice, bit for bit */
    float margin;  /* how far the claimed token is from being picked
                      (eng_score_tok.margin); 0 when no token was claimed */
    double u;      /* sampled: eng_sample_uniform(seed, pos); greedy: 0 */
    double lo, hi; /* sampled: the claimed token's interval among the sorted,
                      filtered candidates, normalised; -1 when it is not one
                      of them (or greedy, or nothing claimed) */
};

/* The greedy decision over w[0..n): the argmax (lowest id on ties) and, for
 * claimed >= 0, its logit gap to claimed (0 for the pick and for a tie;
 * finite: an overflowed or NaN gap reads as FLT_MAX). */
void samp_greedy(const float *w, int32_t n, int32_t claimed, struct samp_verdict *out);

/* Decide position pos from logits (s's n_vocab of them, with a finite
 * samp_log_norm; p passes samp_params_ok) with history[0..n_hist) for the
 * repetition penalty, as eng_sample does, and judge claimed (-1: nothing
 * claimed). Uses s's scratch; allocates nothing. */
void samp_decide(struct eng_sampler *s, const struct eng_sampling *p, const float *logits,
                 uint32_t pos, const int32_t *history, size_t n_hist, int32_t claimed,
                 struct samp_verdict *out);

#endif
