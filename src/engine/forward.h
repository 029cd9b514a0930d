/* SPDX-License-Identifier: MIT */
/* The forward pass entry the engine's own generation and scoring code uses
 * (eng_decode in engine.h is the public wrapper). */
#ifndef FIEF_FORWARD_H
#define FIEF_FORWARD_H

#include "engine/engine.h"

/* Called with the logits (n_vocab floats, valid only during the call) that
 * follow token `index` of the tokens passed to forward_rows. */
typedef void (*forward_logits_cb)(void *ud, size_t index, const float *logits);

/* Run tok[0..n) at the context's next positions in batches. For every token
 * whose index is >= want_from, cb receives the logits after it (cb may be
 * NULL: none are computed). Returns 0, FIEF_ELIMIT (context full) or
 * FIEF_EINVAL (token id out of range); nothing is run on error. */
int forward_rows(struct eng_ctx *c, const int32_t *tok, size_t n, size_t want_from,
                 forward_logits_cb cb, void *ud);

/* The model a context runs (borrowed). */
const struct eng_model *eng_ctx_model(const struct eng_ctx *c);

#endif
