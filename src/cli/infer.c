/* SPDX-License-Identifier: MIT */
/* Options, model opening and prompt tokenization shared by run and score. */
#include "cli/infer.h"
#include "cli/cli.h"
#include "common/clock.h"
#include "common/xalloc.h"
#include "engine/quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Longest prompt file we read. */
#define MAX_PROMPT_FILE (ENG_TOK_MAX_TEXT)

void infer_opts_init(struct infer_opts *o)
{
    memset(o, 0, sizeof *o);
}

int infer_opt(struct infer_opts *o, const char *cmd, int ch, const char *arg)
{
    switch (ch) {
    case 'm': o->model = arg; return 0;
    case 't': return cli_int(cmd, "--threads", arg, 1, 256, &o->threads);
    case 'X': return cli_int(cmd, "--ctx", arg, 1, ENG_MAX_CTX, &o->n_ctx);
    case 'B': o->no_bos = true; return 0;
    case 'N': o->no_simd = true; return 0;
    }
    return INFER_NOT_MINE;
}

int infer_open(struct infer *in, const struct infer_opts *o, const char *cmd)
{
    char err[FIEF_ERR_LEN];
    memset(in, 0, sizeof *in);
    if (!o->model)
        return cli_usage_err(cmd, "--model is required");
    quant_init();
    if (o->no_simd)
        quant_set_simd(false);
    int rc = eng_model_load(o->model, &in->model, err);
    if (rc) {
        fprintf(stderr, "fief %s: cannot load model: %s\n", cmd, err);
        return CLI_FAIL;
    }
    in->threads = eng_threads_new(o->threads ? (int)o->threads : cli_default_threads());
    struct eng_model_info mi;
    eng_model_get_info(in->model, &mi);
    in->sampler = eng_sampler_new(mi.n_vocab);
    if (!in->threads || !in->sampler) {
        fprintf(stderr, "fief %s: cannot start worker threads\n", cmd);
        infer_close(in);
        return CLI_FAIL;
    }
    if ((rc = eng_ctx_new(in->model, (int32_t)o->n_ctx, in->threads, &in->ctx, err))) {
        fprintf(stderr, "fief %s: %s\n", cmd, err);
        infer_close(in);
        return CLI_FAIL;
    }
    return 0;
}

void infer_close(struct infer *in)
{
    eng_ctx_free(in->ctx);
    eng_sampler_free(in->sampler);
    eng_threads_free(in->threads);
    eng_model_free(in->model);
    free(in->prompt_text);
    memset(in, 0, sizeof *in);
}

int infer_tokenize(const struct eng_vocab *v, const char *text, size_t len, int flags,
                   int32_t **ids, size_t *n)
{
    size_t cap = len + 8, need = 0;
    int32_t *out = xmalloc(cap * sizeof *out);
    int rc = eng_tokenize(v, text, len, flags, out, cap, &need);
    if (!rc && need > cap) {
        out = xrealloc(out, need * sizeof *out);
        rc = eng_tokenize(v, text, len, flags, out, need, &need);
    }
    if (rc) {
        free(out);
        return rc;
    }
    *ids = out;
    *n = need;
    return 0;
}

static char *read_prompt_file(const char *path, const char *cmd)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fief %s: cannot open prompt file %s\n", cmd, path);
        return NULL;
    }
    struct buf b;
    buf_init(&b);
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len <= MAX_PROMPT_FILE)
        buf_append(&b, chunk, got);
    bool bad = ferror(f) || b.len > MAX_PROMPT_FILE;
    fclose(f);
    if (bad) {
        fprintf(stderr, "fief %s: cannot read %s (or it is over %u bytes)\n", cmd, path,
                MAX_PROMPT_FILE);
        buf_deinit(&b);
        return NULL;
    }
    return buf_steal(&b);
}

int infer_prompt(struct infer *in, const struct infer_opts *o, const char *cmd, bool chat,
                 int32_t **ids, size_t *n)
{
    const char *text = o->prompt;
    if (!!o->prompt + !!o->prompt_file != 1)
        return cli_usage_err(cmd, "give exactly one of --prompt and --file");
    if (o->prompt_file) {
        if (!(in->prompt_text = read_prompt_file(o->prompt_file, cmd)))
            return CLI_FAIL;
        text = in->prompt_text;
    }
    const struct eng_vocab *v = eng_model_vocab(in->model);
    struct buf b;
    buf_init(&b);
    int flags = o->no_bos ? 0 : ENG_TOK_ADD_BOS;
    if (chat) {
        char err[FIEF_ERR_LEN];
        struct eng_chat_msg msg = {"user", text};
        if (eng_chat_apply(eng_vocab_chat_family(v), &msg, 1, true, &b, err)) {
            fprintf(stderr, "fief %s: %s\n", cmd, err);
            buf_deinit(&b);
            return CLI_FAIL;
        }
        text = b.data;
        flags |= ENG_TOK_PARSE_SPECIAL;
    }
    int rc = infer_tokenize(v, text, strlen(text), flags, ids, n);
    buf_deinit(&b);
    if (rc) {
        fprintf(stderr, "fief %s: cannot tokenize the prompt: %s\n", cmd, fief_strerror(rc));
        return CLI_FAIL;
    }
    if (*n == 0) {
        free(*ids);
        return cli_usage_err(cmd, "the prompt is empty (and the model adds no BOS)");
    }
    return 0;
}

int infer_split_completion(struct infer *in, const char *prompt, const char *completion,
                           const int32_t *pids, size_t np, int32_t **ids, size_t *n)
{
    const struct eng_vocab *v = eng_model_vocab(in->model);
    struct buf b;
    buf_init(&b);
    buf_puts(&b, prompt ? prompt : "");
    buf_puts(&b, completion);
    int32_t *all;
    size_t na;
    int flags = (np && pids[0] == eng_vocab_bos(v)) ? ENG_TOK_ADD_BOS : 0;
    int rc = infer_tokenize(v, b.data, b.len, flags, &all, &na);
    buf_deinit(&b);
    if (rc) {
        fprintf(stderr, "fief score: cannot tokenize the completion: %s\n", fief_strerror(rc));
        return CLI_FAIL;
    }
    if (!prompt || na < np || memcmp(all, pids, np * sizeof *pids) != 0) {
        free(all);
        fprintf(stderr, "fief score: prompt+completion does not tokenize as the prompt's "
                        "tokens followed by more; pass --prompt-ids and --completion-ids\n");
        return CLI_FAIL;
    }
    memmove(all, all + np, (na - np) * sizeof *all);
    *ids = all;
    *n = na - np;
    return 0;
}

uint64_t infer_random_seed(void)
{
    uint64_t s;
    if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s)
        s = clock_mono_ns() ^ clock_wall_ms();
    return s;
}

void infer_report(const struct infer *in, const struct eng_gen_stats *st, uint64_t seed)
{
    struct eng_model_info mi;
    eng_model_get_info(in->model, &mi);
    double pt = st->prompt_s > 0 ? st->n_prompt / st->prompt_s : 0;
    double gt = st->gen_s > 0 && st->n_gen > 1 ? (st->n_gen - 1) / st->gen_s : 0;
    fprintf(stderr,
            "\nfief run: prompt %d tokens in %.3f s (%.1f tok/s), generated %d tokens in "
            "%.3f s (%.1f tok/s); seed %llu, %d threads, %s kernels, %s %s\n",
            st->n_prompt, st->prompt_s, pt, st->n_gen, st->gen_s, gt,
            (unsigned long long)seed, eng_threads_count(in->threads), quant_simd_name(),
            mi.arch, mi.ftype);
}
