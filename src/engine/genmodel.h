/* SPDX-License-Identifier: MIT */
/* Generated models: a llama-architecture GGUF with seeded random weights and a
 * byte-level BPE tokenizer, written by our own GGUF writer. Tests and
 * benchmarks use it to get a model of any shape and size without a download;
 * `fief gen-model` is its command-line face. */
#ifndef FIEF_GENMODEL_H
#define FIEF_GENMODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

struct genmodel_spec {
    int32_t dim;      /* embedding length */
    int32_t layers;
    int32_t heads;
    int32_t kv_heads; /* divides heads */
    int32_t ffn;      /* feed-forward length */
    int32_t vocab;    /* >= 258: 2 control tokens, 256 byte tokens, then merges */
    int32_t ctx;      /* trained context length written to the metadata */
    uint32_t type;    /* matrix type: QT_F32, QT_F16, QT_BF16, QT_Q8_0 or QT_Q4_0 */
    uint64_t seed;    /* same spec + seed = byte-identical file */
    bool tied;        /* no output.weight: the embedding table is reused */
};

/* Reasonable defaults for a tiny model (dim 64, 2 layers, vocab 512, f32). */
void genmodel_spec_defaults(struct genmodel_spec *s);

/* Check the spec: 0 or FIEF_EINVAL with err naming the bad field. */
int genmodel_check(const struct genmodel_spec *s, char err[FIEF_ERR_LEN]);

/* Write the model to path. Returns 0, FIEF_EINVAL (bad spec), FIEF_EIO,
 * FIEF_ENOMEM with err set. */
int genmodel_write(const char *path, const struct genmodel_spec *s, char err[FIEF_ERR_LEN]);

#endif
