/* SPDX-License-Identifier: MIT */
/* What `fief run` and `fief score` share: the model/threads/context options,
 * opening them, and turning the prompt options into token ids. */
#ifndef FIEF_CLI_INFER_H
#define FIEF_CLI_INFER_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/engine.h"

struct infer_opts {
    const char *model;
    const char *prompt;
    const char *prompt_file;
    long threads;  /* 0: one per CPU */
    long n_ctx;    /* 0: the model's, capped */
    bool no_bos;
    bool no_simd;
};

struct infer {
    struct eng_model *model;
    struct eng_threads *threads;
    struct eng_ctx *ctx;
    struct eng_sampler *sampler;
    char *prompt_text; /* from --file, owned */
};

#define INFER_NOT_MINE 1000

#define INFER_COMMON_OPTS                                                                      \
    {"model", required_argument, NULL, 'm'}, {"threads", required_argument, NULL, 't'},        \
        {"ctx", required_argument, NULL, 'X'}, {"no-bos", no_argument, NULL, 'B'},              \
        {"no-simd", no_argument, NULL, 'N'}

#define INFER_COMMON_HELP                                                                      \
    "  -t, --threads N        worker threads (default: one per CPU)\n"                          \
    "      --ctx N            context length (default: the model's, at most 32768)\n"           \
    "      --no-bos           do not start the prompt with the BOS token\n"                     \
    "      --no-simd          use the portable C kernels instead of AVX2\n"

void infer_opts_init(struct infer_opts *o);
/* Handle a common option: 0 if handled, CLI_USAGE on a bad value, or
 * INFER_NOT_MINE. */
int infer_opt(struct infer_opts *o, const char *cmd, int ch, const char *arg);

/* Load the model and make threads, a context and a sampler; prints the error
 * and returns CLI_FAIL/CLI_USAGE on failure (in is then empty). */
int infer_open(struct infer *in, const struct infer_opts *o, const char *cmd);
void infer_close(struct infer *in);

/* Tokenize the prompt (--prompt or --file; wrapped as a user chat message when
 * chat is set). *ids is malloc'd. Prints the error on failure. */
int infer_prompt(struct infer *in, const struct infer_opts *o, const char *cmd, bool chat,
                 int32_t **ids, size_t *n);

/* Completion ids for `score --completion TEXT`: tokenize prompt+completion
 * and check the prompt's ids are a prefix. */
int infer_split_completion(struct infer *in, const char *prompt, const char *completion,
                           const int32_t *pids, size_t np, int32_t **ids, size_t *n);

/* Tokenize text (malloc'd result). */
int infer_tokenize(const struct eng_vocab *v, const char *text, size_t len, int flags,
                   int32_t **ids, size_t *n);

/* A seed from the OS when the user gave none. */
uint64_t infer_random_seed(void);

/* The timing summary on stderr. */
void infer_report(const struct infer *in, const struct eng_gen_stats *st, uint64_t seed);

#endif
