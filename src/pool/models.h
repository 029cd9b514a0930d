/* SPDX-License-Identifier: MIT */
/* The pool's registered models: for each, its GGUF file's digest (what miners
 * must prove they run), its tokenizer and chat template (the pool tokenizes
 * and detokenizes itself; the weights are never read) and its prices. */
#ifndef FIEF_POOL_MODELS_H
#define FIEF_POOL_MODELS_H

#include <stdint.h>

#include "engine/engine.h"
#include "pool/pool_cfg.h"

struct pool_model {
    char name[65];
    char path[POOL_CFG_STR];
    char digest[72];          /* "sha256:<hex>" of the whole file */
    char arch[32];            /* general.architecture */
    int32_t n_ctx_train;      /* <arch>.context_length */
    struct eng_vocab *vocab;  /* owned */
    enum eng_chat_family chat;
    uint64_t price_in;        /* micro-credits per million prompt tokens */
    uint64_t price_out;       /* micro-credits per million completion tokens */
    int64_t created_s;        /* when the pool registered it (for /v1/models) */
};

struct pool_models;

/* Load every model of the config: digest (cached in data_dir by path, size
 * and mtime so a restart does not re-hash gigabytes), tokenizer, template.
 * Returns 0 or an error naming the model and file. */
int models_load(const struct pool_cfg *cfg, struct pool_models **out, char err[FIEF_ERR_LEN]);
void models_free(struct pool_models *ms);

size_t models_count(const struct pool_models *ms);
struct pool_model *models_at(struct pool_models *ms, size_t i);
/* NULL when no model has that name. */
struct pool_model *models_find(struct pool_models *ms, const char *name);

#endif
