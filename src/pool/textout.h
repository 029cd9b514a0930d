/* SPDX-License-Identifier: MIT */
/* The streaming detokenizer of one choice: token ids in, customer text out.
 * Text leaves only as whole UTF-8 characters (never a character split across
 * two SSE events), text that could still become a stop sequence is held back,
 * and the first stop sequence found cuts the text for good. Each piece of text
 * says which tokens it completes, so logprobs can travel beside it.
 *
 * Pure: no I/O, no clock. One textout per choice; not thread-safe. */
#ifndef FIEF_POOL_TEXTOUT_H
#define FIEF_POOL_TEXTOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct eng_vocab;
struct textout;

#define TEXTOUT_MAX_STOPS 4      /* OpenAI's limit on "stop" */
#define TEXTOUT_MAX_STOP_LEN 256 /* bytes in one stop sequence */

/* What one call released. text is valid UTF-8 (invalid bytes in the model's
 * output become U+FFFD) and stays valid until the next call on the textout. */
struct textout_emit {
    const char *text;
    size_t len;        /* bytes of text; may be 0 */
    uint32_t tok_from; /* tokens [tok_from, tok_from + n_tok) of the completion */
    uint32_t n_tok;    /*   end in this text (a token split by a held-back */
                       /*   byte is reported where its last byte is released) */
    bool stopped;      /* a stop sequence was found: text ends before it */
    int stop;          /* index of that stop sequence, else -1 */
};

/* A detokenizer for vocabulary v (borrowed; must outlive it) and n_stops stop
 * sequences (copied; each 1..TEXTOUT_MAX_STOP_LEN bytes, n_stops <=
 * TEXTOUT_MAX_STOPS). NULL when the arguments break those limits. */
struct textout *textout_new(const struct eng_vocab *v, const char *const *stops,
                            const size_t *stop_lens, size_t n_stops);
void textout_free(struct textout *t);

/* Feed the next completion token. End-of-generation tokens render nothing
 * (they are still counted). Returns 0, or FIEF_ESTATE once a stop sequence
 * was found or textout_finish ran (out is then empty). */
int textout_feed(struct textout *t, int32_t id, struct textout_emit *out);

/* The completion ended: release whatever was held back (an unfinished UTF-8
 * sequence becomes U+FFFD) and report the remaining tokens. Calling it again,
 * or after a stop, gives an empty emit. */
void textout_finish(struct textout *t, struct textout_emit *out);

/* Tokens fed and counted: up to and including the one that completed a stop
 * sequence. This is the completion's token count for usage. */
uint32_t textout_n_tokens(const struct textout *t);
bool textout_stopped(const struct textout *t);

/* ---- UTF-8 helpers shared with the response builders ---- */

/* Append s[0..n) to out as valid UTF-8: each maximal invalid subpart (per
 * Unicode's "substitution of maximal subparts") becomes U+FFFD. */
void textout_utf8_sanitize(const char *s, size_t n, struct buf *out);
/* Code points in valid UTF-8 text (continuation bytes are not counted). */
size_t textout_utf8_chars(const char *s, size_t n);

#endif
