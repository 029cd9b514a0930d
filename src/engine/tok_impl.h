/* SPDX-License-Identifier: MIT */
/* Tokenizer internals shared by tok.c (vocab, special tokens, pieces),
 * tok_spm.c (SentencePiece merging), tok_bpe.c (byte-level BPE) and
 * tok_pre.c (BPE pre-tokenizers). Private to those files and their tests. */
#ifndef FIEF_TOK_IMPL_H
#define FIEF_TOK_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "engine/gguf.h"
#include "engine/strmap.h"

/* tokenizer.ggml.token_type values (GGUF). */
enum tok_type {
    TOK_TYPE_UNDEFINED = 0,
    TOK_TYPE_NORMAL = 1,
    TOK_TYPE_UNKNOWN = 2,
    TOK_TYPE_CONTROL = 3,
    TOK_TYPE_USER = 4, /* user-defined: always matched literally in text */
    TOK_TYPE_UNUSED = 5,
    TOK_TYPE_BYTE = 6, /* SPM byte fallback "<0xAB>" */
};

/* Per-token attribute bits. */
#define TOK_ATTR_EOG 0x01    /* ends generation */
#define TOK_ATTR_LSTRIP 0x02 /* matched literally: eats ASCII spaces before it */
#define TOK_ATTR_RSTRIP 0x04 /* matched literally: eats ASCII spaces after it */

struct tok_token {
    uint32_t off; /* text offset in eng_vocab.text */
    uint16_t len; /* text bytes, <= TOK_MAX_TOKEN_BYTES */
    uint8_t type; /* enum tok_type */
    uint8_t attr; /* TOK_ATTR_* */
    float score;  /* SPM merge priority (higher merges first) */
};

/* BPE pre-tokenizers: how text is cut into words before merging. */
enum tok_pre_kind {
    TOK_PRE_GPT2,      /* 's|'t|..| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    TOK_PRE_STARCODER, /* every \p{N} alone first, then GPT2 on the rest */
    TOK_PRE_LLAMA3,    /* cl100k style: (?i:'s|..)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|... */
    TOK_PRE_QWEN2,     /* LLAMA3 with \p{N} one digit at a time */
};

struct tok_bpe;     /* merge ranks (tok_bpe.c) */
struct tok_special; /* literal matcher for special tokens (tok.c) */

struct eng_vocab {
    enum eng_vocab_kind kind;
    int32_t n;                       /* tokens */
    struct tok_token *tok;           /* [n] */
    char *text;                      /* every token's text, each NUL-terminated */
    struct strmap *map;              /* text -> id; a later duplicate wins (as llama.cpp) */
    uint16_t max_len;                /* longest token text, bytes */
    int32_t bos, eos, unk, eot, eom; /* -1: none */
    bool add_bos;                    /* prompts start with BOS */
    bool add_space_prefix;           /* SPM: "▁" before the first word of each text run */
    bool ignore_merges;              /* BPE: a word that is a token is taken whole (llama3) */
    enum tok_pre_kind pre;
    char pre_name[32]; /* for eng_vocab_pre */
    /* The token for a raw byte: SPM: <0xAB> (else the 1-byte token, else unk);
     * BPE: the token of the byte's GPT-2 stand-in code point. -1: none. */
    int32_t byte_tok[256];
    struct tok_bpe *bpe;         /* BPE only */
    struct strmap *pairs;        /* SPM: any two adjacent characters of a token text ->
                                    1 + the token they form, or 0 */
    struct tok_special *special; /* NULL when the vocab has no special tokens */
    char *chat_template;         /* NULL when the file has none */
};

static inline const char *tok_text(const struct eng_vocab *v, int32_t id)
{
    return v->text + v->tok[id].off;
}

/* Grow p (an array of elem-byte items with room for *cap; NULL when empty)
 * to hold need items, doubling. Returns the array (maybe moved), or NULL when
 * out of memory: then p and *cap are unchanged and p is still the caller's. */
void *tok_grow(void *p, size_t *cap, size_t need, size_t elem);

/* Growable id list for one tokenize call. */
struct tok_ids {
    int32_t *v;
    size_t n, cap;
};

/* Append id; 0 or FIEF_ENOMEM. */
int tok_ids_push(struct tok_ids *o, int32_t id);

/* Candidate merges for SPM and BPE, in a binary max-heap (tok.c). */
struct tok_bigram {
    float prio;          /* higher pops first; ties pop the leftmost pair */
    int32_t left, right; /* symbol indices */
    int32_t a, b, c;     /* the tokenizer's own: SPM size, token; BPE left, right, result ids */
};

struct tok_heap {
    struct tok_bigram *v;
    size_t n, cap;
};

/* Push (0 or FIEF_ENOMEM) / pop the top (the heap must not be empty). The
 * caller frees h->v. */
int tok_heap_push(struct tok_heap *h, const struct tok_bigram *b);
struct tok_bigram tok_heap_pop(struct tok_heap *h);

/* ---- SPM (tok_spm.c) ---- */

/* Index the vocab for tok_spm_encode (v->pairs). 0 or FIEF_ENOMEM. */
int tok_spm_build(struct eng_vocab *v);

/* Tokenize one run of plain text (no special tokens in it): spaces become
 * "▁", one "▁" is prepended when space_prefix, then the best-scoring
 * adjacent pairs are merged. Appends to out; 0 or FIEF_ENOMEM. */
int tok_spm_encode(const struct eng_vocab *v, const char *text, size_t len, bool space_prefix,
                   struct tok_ids *out);

/* ---- BPE (tok_bpe.c) ---- */

/* Build the merge table from tokenizer.ggml.merges ("left right" strings,
 * rank = index). A merge whose parts or result is not a token is skipped
 * (counted in *n_skipped); a repeated pair keeps its first rank. Returns 0,
 * FIEF_ENOMEM, or FIEF_EFORMAT with err set. */
int tok_bpe_build(struct eng_vocab *v, const struct gguf_str *merges, uint64_t n,
                  uint64_t *n_skipped, char err[FIEF_ERR_LEN]);
void tok_bpe_free(struct tok_bpe *b);

/* Pre-tokenize and merge one run of plain text; appends to out. 0 or FIEF_ENOMEM. */
int tok_bpe_encode(const struct eng_vocab *v, const char *text, size_t len, struct tok_ids *out);

/* GPT-2's byte <-> printable code point map (so every byte has a visible
 * stand-in in the vocabulary). tok_bpe_cp_byte returns -1 for a code point
 * outside the map. */
uint32_t tok_bpe_byte_cp(uint8_t b);
int tok_bpe_cp_byte(uint32_t cp);

/* ---- special-token split (tok_pre.c) ---- */

static inline bool tok_is_special_type(uint8_t type)
{
    return type == TOK_TYPE_CONTROL || type == TOK_TYPE_UNKNOWN || type == TOK_TYPE_USER;
}

/* Build v->special from the control, unknown and user-defined tokens (left
 * NULL when there are none). 0 or FIEF_ENOMEM. Freed by tok_special_free. */
int tok_special_build(struct eng_vocab *v);
void tok_special_free(struct tok_special *sp);

/* A piece of the input: a special token (id >= 0) or plain text (id -1). */
struct tok_frag {
    uint32_t start, end; /* byte range in the text */
    int32_t id;
};

struct tok_frags {
    struct tok_frag *v; /* caller frees */
    size_t n, cap;
};

/* Cut s[0..len) (len > 0) into fragments, in order: user-defined tokens always
 * (as llama.cpp does), control and unknown tokens too when all is set. Longer
 * tokens claim their occurrences first, scanning left to right over the text
 * no longer token claimed; tokens with TOK_ATTR_LSTRIP/RSTRIP eat the ASCII
 * whitespace beside them. Appends to out; 0 or FIEF_ENOMEM. */
int tok_special_split(const struct eng_vocab *v, const char *s, size_t len, bool all,
                      struct tok_frags *out);

/* ---- pre-tokenizers (tok_pre.c) ---- */

/* Parse a tokenizer.ggml.pre name. Returns true when the name is known;
 * otherwise *kind is TOK_PRE_GPT2 (the caller warns). An empty name (key
 * absent) is GPT2 too and known. *ignore_merges and *add_bos receive that
 * pre-tokenizer's defaults. */
bool tok_pre_parse(const char *name, size_t len, enum tok_pre_kind *kind, bool *ignore_merges,
                   bool *add_bos);
const char *tok_pre_kind_name(enum tok_pre_kind k);

/* Iterates over the words of s[0..len): every byte belongs to exactly one
 * word, words come in order, none is empty. Invalid UTF-8 bytes are classed
 * as U+FFFD (like llama.cpp) but stay themselves in the words. */
struct tok_pre_iter {
    enum tok_pre_kind kind;
    const char *s;
    size_t len;
    size_t pos;     /* start of the next word */
    size_t seg_end; /* STARCODER: end of the current digit-free segment */
};

void tok_pre_init(struct tok_pre_iter *it, enum tok_pre_kind kind, const char *s, size_t len);
/* The next word as [*start, *end); false when the text is exhausted. */
bool tok_pre_next(struct tok_pre_iter *it, size_t *start, size_t *end);

#endif
