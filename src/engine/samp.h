/* SPDX-License-Identifier: MIT */
/* Sampler internals shared with scoring, so that a score and a generation of
 * the same sequence compute log-probabilities by the very same code. */
#ifndef FIEF_SAMP_H
#define FIEF_SAMP_H

#include <stdint.h>

/* log(sum(exp(l[i]))) in double: logprob(i) = l[i] - samp_log_norm(l, n). */
double samp_log_norm(const float *l, int32_t n);

/* Index of the largest l[i], the lowest index on ties. */
int32_t samp_argmax(const float *l, int32_t n);

#endif
