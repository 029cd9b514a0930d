/* SPDX-License-Identifier: MIT */
/* The loaded model's layout, shared by the loader (model.c) and the forward
 * pass (forward.c). Nothing outside the engine sees these structs. */
#ifndef FIEF_MODEL_IMPL_H
#define FIEF_MODEL_IMPL_H

#include "engine/engine.h"
#include "engine/gguf.h"

/* A weight matrix y = W x: n_out rows of n_in elements, rows contiguous in
 * the mmap'd file (GGUF ne[0] = n_in, ne[1] = n_out). */
struct mat {
    const uint8_t *data;
    uint32_t type;     /* enum qtype */
    int32_t n_in;
    int32_t n_out;
    size_t row_bytes;
};

struct layer {
    const float *attn_norm;       /* (n_embd) */
    struct mat wq, wk, wv, wo;    /* (n_embd -> q_dim), (n_embd -> kv_dim) x2, (q_dim -> n_embd) */
    const float *bq, *bk, *bv;    /* qwen2 biases (q_dim), (kv_dim), (kv_dim); else NULL */
    const float *ffn_norm;        /* (n_embd) */
    struct mat w_gate, w_up;      /* (n_embd -> n_ff) */
    struct mat w_down;            /* (n_ff -> n_embd) */
};

struct hparams {
    int32_t n_vocab;     /* rows of the embedding table = logits per position */
    int32_t n_tok_vocab; /* tokens the tokenizer knows (<= n_vocab); the rest are padding */
    int32_t n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_ctx_train;
    int32_t n_rot;       /* rotated dimensions per head (<= head_dim) */
    float eps;           /* RMSNorm epsilon */
    float rope_base;     /* frequency base */
    float rope_scale;    /* position multiplier (1 / linear scaling factor) */
    bool rope_neox;      /* pairs (i, i + n_rot/2) instead of (2i, 2i+1) */
};

struct eng_model {
    struct gguf *g;             /* owns the mapping every mat points into */
    struct eng_vocab *vocab;
    struct hparams hp;
    struct eng_model_info info;
    struct mat tok_embd;        /* (vocab rows of n_embd) */
    const float *output_norm;   /* (n_embd) */
    struct mat output;          /* (n_embd -> n_vocab); tok_embd when tied */
    const float *rope_freqs;    /* (n_rot/2) per-frequency divisors, or NULL */
    struct layer *layers;       /* (n_layer) */
    float *vecs;                /* owned storage behind every const float * above */
};

#endif
