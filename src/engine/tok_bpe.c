/* SPDX-License-Identifier: MIT */
/* Byte-level BPE ("gpt2"): the pre-tokenizer cuts text into words; each word
 * starts as one symbol per byte (the token of the byte's GPT-2 stand-in code
 * point), and the adjacent pair with the lowest merge rank is merged until no
 * ranked pair is left. Merges are keyed by token-id pairs in an open-addressing
 * table, so the hot loop never touches strings. Same results as llama.cpp. */
#include "engine/tok_impl.h"

#include <stdlib.h>
#include <string.h>

#include "engine/tok.h"
#include "engine/unicode.h"

#define EMPTY_KEY UINT64_MAX
#define DEAD_ID (-2) /* a symbol merged into its left neighbour */

struct pair_slot {
    uint64_t key;   /* left id << 32 | right id; EMPTY_KEY when free */
    int32_t rank;   /* index in tokenizer.ggml.merges: lower merges first */
    int32_t result; /* the merged token */
};

struct tok_bpe {
    struct pair_slot *slots;
    size_t mask; /* capacity - 1 */
};

/* ---- GPT-2 byte map ---- */

/* Printable Latin-1 bytes stand for themselves; the other 68 bytes (controls,
 * space, DEL..NBSP, soft hyphen) map in order to U+0100..U+0143. */
uint32_t tok_bpe_byte_cp(uint8_t b)
{
    if (b <= 32)
        return 256u + b;
    if (b >= 127 && b <= 160)
        return 289u + (b - 127u);
    if (b == 173)
        return 323;
    return b;
}

int tok_bpe_cp_byte(uint32_t cp)
{
    if (cp < 256)
        return tok_bpe_byte_cp((uint8_t)cp) == cp ? (int)cp : -1;
    if (cp <= 288)
        return (int)(cp - 256);
    if (cp <= 322)
        return (int)(cp - 289 + 127);
    return cp == 323 ? 173 : -1;
}

/* ---- merge table ---- */

static uint64_t pair_key(int32_t l, int32_t r)
{
    return ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
}

static size_t slot_of(const struct tok_bpe *b, uint64_t key)
{
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h ^ (h >> 29)) & b->mask;
    while (b->slots[i].key != EMPTY_KEY && b->slots[i].key != key)
        i = (i + 1) & b->mask;
    return i;
}

static const struct pair_slot *pair_find(const struct tok_bpe *b, int32_t l, int32_t r)
{
    const struct pair_slot *s = &b->slots[slot_of(b, pair_key(l, r))];
    return s->key == EMPTY_KEY ? NULL : s;
}

/* Split "left right" at its first space after the first byte (a part may be
 * empty only on the right, as in llama.cpp) and resolve the three tokens. */
static bool merge_ids(const struct eng_vocab *v, struct gguf_str m, char *scratch, int32_t ids[3])
{
    if (m.len < 2 || m.len > 2u * TOK_MAX_TOKEN_BYTES + 1)
        return false;
    const char *sp = memchr(m.ptr + 1, ' ', m.len - 1);
    if (!sp)
        return false;
    size_t ll = (size_t)(sp - m.ptr), rl = m.len - ll - 1;
    memcpy(scratch, m.ptr, ll);
    memcpy(scratch + ll, sp + 1, rl);
    ids[0] = strmap_get(v->map, m.ptr, ll);
    ids[1] = strmap_get(v->map, sp + 1, rl);
    ids[2] = strmap_get(v->map, scratch, ll + rl);
    return ids[0] >= 0 && ids[1] >= 0 && ids[2] >= 0;
}

int tok_bpe_build(struct eng_vocab *v, const struct gguf_str *merges, uint64_t n,
                  uint64_t *n_skipped, char err[FIEF_ERR_LEN])
{
    struct tok_bpe *b = calloc(1, sizeof *b);
    size_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    char *scratch = malloc(2 * TOK_MAX_TOKEN_BYTES);
    if (!b || !scratch || !(b->slots = malloc(cap * sizeof *b->slots))) {
        free(scratch);
        tok_bpe_free(b);
        return fief_errf(err, FIEF_ENOMEM, "out of memory for %llu BPE merges",
                         (unsigned long long)n);
    }
    memset(b->slots, 0xFF, cap * sizeof *b->slots);
    b->mask = cap - 1;
    *n_skipped = 0;
    for (uint64_t i = 0; i < n; i++) {
        int32_t ids[3];
        if (!merge_ids(v, merges[i], scratch, ids)) {
            (*n_skipped)++;
            continue;
        }
        struct pair_slot *s = &b->slots[slot_of(b, pair_key(ids[0], ids[1]))];
        if (s->key == EMPTY_KEY) /* a repeated pair keeps its first (best) rank */
            *s = (struct pair_slot){pair_key(ids[0], ids[1]), (int32_t)i, ids[2]};
    }
    free(scratch);
    v->bpe = b;
    return 0;
}

void tok_bpe_free(struct tok_bpe *b)
{
    if (!b)
        return;
    free(b->slots);
    free(b);
}

/* ---- encoding ---- */

struct bsym {
    int32_t id; /* token of this symbol; -1: the byte has no token; DEAD_ID */
    int32_t prev, next;
};

struct bpe_run {
    const struct eng_vocab *v;
    struct bsym *sym;
    size_t cap_sym;
    char *mapped; /* a word in GPT-2 code points (ignore_merges lookups) */
    size_t cap_mapped;
    char *subst; /* a word with its token-less bytes replaced by U+FFFD */
    size_t cap_subst;
    struct tok_heap heap;
};

static int try_pair(struct bpe_run *r, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return 0;
    int32_t l = r->sym[left].id, rt = r->sym[right].id;
    if (l < 0 || rt < 0 || !r->v->bpe)
        return 0;
    const struct pair_slot *p = pair_find(r->v->bpe, l, rt);
    if (!p)
        return 0;
    /* Ranks are < 2^24, so the float priority is exact. */
    struct tok_bigram b = {-(float)p->rank, left, right, l, rt, p->result};
    return tok_heap_push(&r->heap, &b);
}

/* The whole word as one token (llama3's ignore_merges), or -1. */
static int32_t whole_word(struct bpe_run *r, const char *w, size_t n)
{
    char *m = tok_grow(r->mapped, &r->cap_mapped, 2 * n, 1);
    if (!m)
        return -1; /* out of memory: merging gives the same ids anyway, slower */
    r->mapped = m;
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        o += uni_encode(tok_bpe_byte_cp((uint8_t)w[i]), r->mapped + o);
    return o <= r->v->max_len ? strmap_get(r->v->map, r->mapped, o) : -1;
}

static int merge_word(struct bpe_run *r, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (try_pair(r, (int32_t)i - 1, (int32_t)i) != 0)
            return FIEF_ENOMEM;
    }
    while (r->heap.n) {
        struct tok_bigram b = tok_heap_pop(&r->heap);
        struct bsym *l = &r->sym[b.left], *rt = &r->sym[b.right];
        if (l->id != b.a || rt->id != b.b)
            continue; /* one side changed since this pair was queued */
        l->id = b.c;
        rt->id = DEAD_ID;
        l->next = rt->next;
        if (rt->next >= 0)
            r->sym[rt->next].prev = b.left;
        if (try_pair(r, l->prev, b.left) != 0 || try_pair(r, b.left, l->next) != 0)
            return FIEF_ENOMEM;
    }
    return 0;
}

/* Some vocabularies have no token for bytes that valid UTF-8 never holds
 * (C0, C1, F5..FF; StarCoder also lacks F1): such a byte is encoded as
 * U+FFFD, which is what llama.cpp feeds its merges for any invalid byte.
 * Returns the word to encode (w itself when nothing is missing), or NULL. */
static const char *substitute(struct bpe_run *r, const char *w, size_t *n)
{
    size_t k = 0;
    while (k < *n && r->v->byte_tok[(uint8_t)w[k]] >= 0)
        k++;
    if (k == *n)
        return w;
    char *t = tok_grow(r->subst, &r->cap_subst, 3 * *n, 1);
    if (!t)
        return NULL;
    r->subst = t;
    size_t o = 0;
    for (size_t i = 0; i < *n; i++) {
        if (r->v->byte_tok[(uint8_t)w[i]] >= 0) {
            r->subst[o++] = w[i];
        } else {
            memcpy(r->subst + o, "\xEF\xBF\xBD", 3);
            o += 3;
        }
    }
    *n = o;
    return r->subst;
}

static int encode_word(struct bpe_run *r, const char *w, size_t n, struct tok_ids *out)
{
    if (!(w = substitute(r, w, &n)))
        return FIEF_ENOMEM;
    if (r->v->ignore_merges) {
        int32_t id = whole_word(r, w, n);
        if (id >= 0)
            return tok_ids_push(out, id);
    }
    struct bsym *sym = tok_grow(r->sym, &r->cap_sym, n, sizeof *sym);
    if (!sym)
        return FIEF_ENOMEM;
    r->sym = sym;
    for (size_t i = 0; i < n; i++)
        r->sym[i] = (struct bsym){r->v->byte_tok[(uint8_t)w[i]], (int32_t)i - 1, (int32_t)i + 1};
    r->sym[n - 1].next = -1;
    if (merge_word(r, n) != 0)
        return FIEF_ENOMEM;
    for (int32_t i = 0; i >= 0; i = r->sym[i].next) {
        /* A byte with no token even after substitution: unk (or nothing). */
        int32_t id = r->sym[i].id >= 0 ? r->sym[i].id : r->v->unk;
        if (id >= 0 && tok_ids_push(out, id) != 0)
            return FIEF_ENOMEM;
    }
    return 0;
}

int tok_bpe_encode(const struct eng_vocab *v, const char *text, size_t len, struct tok_ids *out)
{
    struct bpe_run r = {.v = v};
    struct tok_pre_iter it;
    size_t s, e;
    int rc = 0;
    tok_pre_init(&it, v->pre, text, len);
    while (rc == 0 && tok_pre_next(&it, &s, &e))
        rc = encode_word(&r, text + s, e - s, out);
    free(r.sym);
    free(r.mapped);
    free(r.subst);
    free(r.heap.v);
    return rc;
}
