/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the tokenizers: arbitrary bytes through the GPT-2 (BPE)
 * and LLaMA (SPM) vocabularies with every flag combination, and through every
 * BPE pre-tokenizer. Checks: no crash, sane counts, pre-tokenizer words tile
 * the input, and byte-level BPE is lossless (detokenize(tokenize(x)) == x).
 * Needs FIEF_MODELS (the shared models directory); without it, it does nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "engine/engine.h"
#include "engine/tok_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct eng_vocab *vocabs[2]; /* gpt-2, llama-spm; NULL when absent */

static struct eng_vocab *load(const char *dir, const char *name)
{
    char path[1024], err[FIEF_ERR_LEN];
    struct eng_vocab *v = NULL;
    snprintf(path, sizeof path, "%s/vocab/%s", dir, name);
    if (eng_vocab_open(path, &v, err) != 0)
        fprintf(stderr, "fuzz_tok: %s: %s\n", path, err);
    return v;
}

static void init_once(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    log_level = LOG_LVL_ERR;
    const char *dir = getenv("FIEF_MODELS");
    if (!dir || !*dir) {
        fprintf(stderr, "fuzz_tok: FIEF_MODELS is not set; nothing to fuzz\n");
        return;
    }
    vocabs[0] = load(dir, "ggml-vocab-gpt-2.gguf");
    vocabs[1] = load(dir, "ggml-vocab-llama-spm.gguf");
}

static void check_pre(const uint8_t *data, size_t size)
{
    for (int k = TOK_PRE_GPT2; k <= TOK_PRE_QWEN2; k++) {
        struct tok_pre_iter it;
        size_t a, b, pos = 0;
        tok_pre_init(&it, (enum tok_pre_kind)k, (const char *)data, size);
        while (tok_pre_next(&it, &a, &b)) {
            if (a != pos || b <= a || b > size)
                abort(); /* words must tile the input */
            pos = b;
        }
        if (pos != size)
            abort();
    }
}

static void check_vocab(const struct eng_vocab *v, const uint8_t *data, size_t size, int flags,
                        int32_t *ids, size_t cap)
{
    size_t n = 0;
    if (eng_tokenize(v, (const char *)data, size, flags, ids, cap, &n) != 0)
        abort();
    if (n > size + 2) /* one token per byte at most, plus BOS and the SPM "▁" */
        abort();
    char piece[8];
    for (size_t i = 0; i < n; i++) {
        if (eng_token_piece(v, ids[i], piece, sizeof piece, ENG_PIECE_SPECIAL) < 0)
            abort();
    }
    struct buf out;
    buf_init(&out);
    if (eng_detokenize(v, ids, n, true, &out) != 0)
        abort();
    /* Byte-level BPE keeps every byte; the GPT-2 vocabulary has all 256. */
    bool lossless = eng_vocab_kind(v) == ENG_VOCAB_BPE && !(flags & ENG_TOK_PARSE_SPECIAL);
    if (lossless && (out.len != size || (size && memcmp(out.data, data, size) != 0)))
        abort();
    buf_deinit(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    check_pre(data, size);
    size_t cap = size + 2;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids)
        return 0;
    for (int i = 0; i < 2; i++) {
        for (int flags = 0; vocabs[i] && flags < 4; flags++)
            check_vocab(vocabs[i], data, size, flags, ids, cap);
    }
    free(ids);
    return 0;
}
