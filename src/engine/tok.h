/* SPDX-License-Identifier: MIT */
/* Tokenizer internals shared inside the engine. The public surface is the
 * eng_vocab_* / eng_tokenize / eng_token_piece / eng_detokenize part of
 * engine.h; this header adds the constructor the model loader uses. */
#ifndef FIEF_TOK_H
#define FIEF_TOK_H

#include "engine/engine.h"
#include "engine/gguf.h"

/* Limits on a vocabulary read from a file. */
#define TOK_MAX_VOCAB (1 << 20)  /* tokens */
#define TOK_MAX_TOKEN_BYTES 1024 /* bytes in one token's text */
#define TOK_MAX_MERGES (1 << 22) /* BPE merges (rank must stay exact in a float) */

/* Build the tokenizer from g's tokenizer.ggml.* metadata and
 * tokenizer.chat_template. Everything needed is copied, so the vocab does not
 * borrow from g and may outlive it; the caller frees it with eng_vocab_free().
 * Returns 0, FIEF_EFORMAT (missing or inconsistent arrays, a bad token type,
 * a NaN score, a malformed byte token), FIEF_EUNSUPPORTED (tokenizer model
 * other than "llama"/"gpt2"), FIEF_ELIMIT (more than TOK_MAX_VOCAB tokens,
 * a token over TOK_MAX_TOKEN_BYTES, more than TOK_MAX_MERGES merges),
 * FIEF_ENOMEM; err names the key.
 *
 * Tolerated with a log_warn, as llama.cpp does: a special token id out of
 * range (the default is kept; 0xFFFFFFFF or a negative id means "none"), an
 * unknown tokenizer.ggml.pre (the gpt2 pre-tokenizer is used), BPE merges
 * whose parts or result are not tokens (skipped), no merges at all. */
int tok_vocab_load(const struct gguf *g, struct eng_vocab **out, char err[FIEF_ERR_LEN]);

/* tokenizer.chat_template as stored in the file, or NULL when it has none.
 * Valid while v lives. */
const char *tok_vocab_chat_template(const struct eng_vocab *v);

#endif
