/* SPDX-License-Identifier: MIT */
/* SentencePiece-style ("llama") tokenization: the text, spaces escaped to
 * U+2581, starts as one symbol per UTF-8 character; the adjacent pair whose
 * concatenation is the best-scoring token is merged until none is left (a
 * max-heap keeps this O(n log n)); symbols that are not tokens fall back to
 * their bytes as <0xAB> tokens. Same results as llama.cpp's SPM tokenizer on
 * valid UTF-8. */
#include "engine/tok_impl.h"

#include <stdlib.h>
#include <string.h>

#include "engine/unicode.h"

#define SPACE_ESC "\xE2\x96\x81" /* U+2581 LOWER ONE EIGHTH BLOCK */
#define SPACE_ESC_LEN 3

struct sym {
    uint32_t start;     /* byte offset in the escaped text */
    uint32_t n;         /* bytes; 0 once merged into its left neighbour */
    int32_t prev, next; /* neighbours in the chain, -1 at the ends */
    int32_t id;         /* token of this symbol; -1 not yet looked up (one character) */
    int32_t pair;       /* token of the previous character + this one, or -1 */
};

struct spm {
    const struct eng_vocab *v;
    char *buf; /* escaped text */
    struct sym *sym;
    struct tok_heap heap; /* a = bytes of the merge (stale when the symbols changed), b = token */
};

static int push_pair(struct spm *s, int32_t left, int32_t right, int32_t id)
{
    uint32_t size = s->sym[left].n + s->sym[right].n;
    struct tok_bigram b = {s->v->tok[id].score, left, right, (int32_t)size, id, 0};
    return tok_heap_push(&s->heap, &b);
}

/* Queue the merge of symbols left and right if their text is a token. */
static int try_pair(struct spm *s, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return 0;
    const struct sym *l = &s->sym[left];
    uint32_t size = l->n + s->sym[right].n;
    if (size > s->v->max_len)
        return 0;
    int32_t id = strmap_get(s->v->map, s->buf + l->start, size);
    return id < 0 ? 0 : push_pair(s, left, right, id);
}

/* Escape spaces into s->buf; returns its length. */
static size_t escape(struct spm *s, const char *text, size_t len, bool space_prefix)
{
    size_t o = 0;
    if (space_prefix) {
        memcpy(s->buf, SPACE_ESC, SPACE_ESC_LEN);
        o = SPACE_ESC_LEN;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(s->buf + o, SPACE_ESC, SPACE_ESC_LEN);
            o += SPACE_ESC_LEN;
        } else {
            s->buf[o++] = text[i];
        }
    }
    return o;
}

/* Number of characters. Invalid UTF-8 counts one character per bad byte
 * (llama.cpp instead trusts lead bytes, which can swallow the "▁" after a
 * stray lead byte and break the round trip; valid text splits the same). */
static size_t count_chars(const char *buf, size_t len)
{
    size_t n = 0;
    uint32_t cp;
    for (size_t off = 0; off < len; n++)
        off += uni_decode(buf + off, len - off, &cp);
    return n;
}

/* One symbol per character. Neighbours whose two characters appear next to
 * each other in no token are never merged across, so the chain is cut there
 * and each piece (in practice, each word) is merged on its own: the same
 * merges in the same order, with a heap as small as a word. */
static void split_chars(struct spm *s, size_t len)
{
    size_t n = 0, prev_start = 0;
    uint32_t cp;
    for (size_t off = 0; off < len; n++) {
        size_t cl = uni_decode(s->buf + off, len - off, &cp);
        int32_t pair = n ? strmap_get(s->v->pairs, s->buf + prev_start, off + cl - prev_start) : -1;
        bool linked = pair >= 0;
        s->sym[n] = (struct sym){(uint32_t)off, (uint32_t)cl, linked ? (int32_t)n - 1 : -1, -1, -1,
                                 pair - 1};
        if (linked)
            s->sym[n - 1].next = (int32_t)n;
        prev_start = off;
        off += cl;
    }
}

/* Merge the piece of linked symbols first..last. */
static int merge_piece(struct spm *s, int32_t first, int32_t last)
{
    for (int32_t i = first + 1; i <= last; i++) {
        if (s->sym[i].pair >= 0 && push_pair(s, i - 1, i, s->sym[i].pair) != 0)
            return FIEF_ENOMEM;
    }
    while (s->heap.n) {
        struct tok_bigram b = tok_heap_pop(&s->heap);
        struct sym *l = &s->sym[b.left], *r = &s->sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != (uint32_t)b.a)
            continue; /* one side changed since this pair was queued */
        l->n += r->n;
        l->id = b.b;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            s->sym[r->next].prev = b.left;
        if (try_pair(s, l->prev, b.left) != 0 || try_pair(s, b.left, l->next) != 0)
            return FIEF_ENOMEM;
    }
    return 0;
}

/* Emit each final symbol: its token, or its bytes. */
static int emit(const struct spm *s, int32_t first, struct tok_ids *out)
{
    for (int32_t i = first; i >= 0; i = s->sym[i].next) {
        const struct sym *y = &s->sym[i];
        int32_t id = y->id >= 0 ? y->id : strmap_get(s->v->map, s->buf + y->start, y->n);
        if (id >= 0) {
            if (tok_ids_push(out, id) != 0)
                return FIEF_ENOMEM;
            continue;
        }
        for (uint32_t j = 0; j < y->n; j++) {
            int32_t b = s->v->byte_tok[(unsigned char)s->buf[y->start + j]];
            if (b >= 0 && tok_ids_push(out, b) != 0)
                return FIEF_ENOMEM;
        }
    }
    return 0;
}

int tok_spm_build(struct eng_vocab *v)
{
    v->pairs = strmap_new(4096);
    if (!v->pairs)
        return FIEF_ENOMEM;
    for (int32_t id = 0; id < v->n; id++) {
        const char *t = tok_text(v, id);
        size_t len = v->tok[id].len, prev = 0, cl;
        uint32_t cp;
        for (size_t off = 0; off < len; prev = off, off += cl) {
            cl = uni_decode(t + off, len - off, &cp);
            /* value: 1 + the token the two characters form, or 0 */
            int32_t pair = off ? strmap_get(v->map, t + prev, off + cl - prev) + 1 : 0;
            if (off > 0 && strmap_put(v->pairs, t + prev, off + cl - prev, pair) != 0)
                return FIEF_ENOMEM;
        }
    }
    return 0;
}

int tok_spm_encode(const struct eng_vocab *v, const char *text, size_t len, bool space_prefix,
                   struct tok_ids *out)
{
    if (len == 0 && !space_prefix)
        return 0;
    /* len <= ENG_TOK_MAX_TEXT, so the escaped size fits in 32 bits. */
    struct spm s = {.v = v, .buf = malloc(SPACE_ESC_LEN * (len + 1))};
    int rc = FIEF_ENOMEM;
    if (s.buf) {
        size_t n_bytes = escape(&s, text, len, space_prefix);
        size_t n_sym = count_chars(s.buf, n_bytes);
        s.sym = malloc(n_sym * sizeof *s.sym);
        if (s.sym) {
            split_chars(&s, n_bytes);
            rc = 0;
            for (size_t i = 0, j; rc == 0 && i < n_sym; i = j + 1) {
                for (j = i; s.sym[j].next == (int32_t)j + 1;)
                    j++;
                rc = merge_piece(&s, (int32_t)i, (int32_t)j);
                if (rc == 0)
                    rc = emit(&s, (int32_t)i, out);
            }
        }
    }
    free(s.buf);
    free(s.sym);
    free(s.heap.v);
    return rc;
}
