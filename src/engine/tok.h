/* SPDX-License-Identifier: MIT */
/* Tokenizer internals shared inside the engine. The public surface is the
 * eng_vocab_* / eng_tokenize / eng_token_piece / eng_detokenize part of
 * engine.h; this header adds the constructor the model loader uses. */
#ifndef FIEF_TOK_H
#define FIEF_TOK_H

#include "engine/engine.h"
#include "engine/gguf.h"

/* Limits on a vocabulary read from a file. */
#define TOK_MAX_VOCAB (1 << 20)       /* tokens */
#define TOK_MAX_TOKEN_BYTES 1024      /* bytes in one token's text */

/* Build the tokenizer from g's tokenizer.ggml.* metadata and
 * tokenizer.chat_template. Everything needed is copied, so the vocab does not
 * borrow from g and may outlive it. Returns 0, FIEF_EFORMAT (missing or
 * inconsistent arrays, ids out of range), FIEF_EUNSUPPORTED (tokenizer model
 * other than "llama"/"gpt2"), FIEF_ELIMIT, FIEF_ENOMEM; err names the key. */
int tok_vocab_load(const struct gguf *g, struct eng_vocab **out, char err[FIEF_ERR_LEN]);

#endif
