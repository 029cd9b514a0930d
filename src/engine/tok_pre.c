/* SPDX-License-Identifier: MIT */
/* Pre-tokenization, the steps before merging: (1) special tokens are cut out
 * of the text literally; (2) BPE's plain runs are cut into the words the
 * GPT-2, StarCoder, Llama 3 and Qwen2 regexes would find, by hand-written
 * matchers over code points (leftmost-first alternation and greedy runs, as a
 * backtracking regex engine does; no regex library). */
#include "engine/tok_impl.h"

#include <stdlib.h>
#include <string.h>

#include "engine/tok.h"
#include "engine/unicode.h"

/* ---- regex-style word splitting ---- */

#define END_CP 0xFFFFFFFFu /* "past the end of the text": no class at all */

/* Code point classes as the regexes see them. */
enum kind { K_END, K_LETTER, K_NUMBER, K_SPACE, K_OTHER };

static enum kind kind_of(uint32_t cp)
{
    if (cp == END_CP)
        return K_END;
    uint8_t f = uni_flags(cp);
    if (f & UNI_SPACE)
        return K_SPACE;
    if (f & UNI_LETTER)
        return K_LETTER;
    if (f & UNI_NUMBER)
        return K_NUMBER;
    return K_OTHER; /* punctuation, symbols, marks, controls, unassigned, U+FFFD */
}

/* Code point at byte pos of s[0..e) (END_CP at or past e); returns its size. */
static size_t cp_at(const char *s, size_t e, size_t pos, uint32_t *cp)
{
    if (pos >= e) {
        *cp = END_CP;
        return 0;
    }
    return uni_decode(s + pos, e - pos, cp);
}

static enum kind kind_at(const char *s, size_t e, size_t pos)
{
    uint32_t cp;
    cp_at(s, e, pos, &cp);
    return kind_of(cp);
}

/* End of the run of code points of class k starting at pos (pos if none). */
static size_t run_of(const char *s, size_t e, size_t pos, enum kind k)
{
    uint32_t cp;
    size_t n;
    while ((n = cp_at(s, e, pos, &cp)) && kind_of(cp) == k)
        pos += n;
    return pos;
}

static int lower_ascii(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* 's|'t|'re|'ve|'m|'ll|'d after the apostrophe at pos; the match end or 0. */
static size_t contraction(const char *s, size_t e, size_t pos, bool any_case)
{
    int a = pos + 1 < e ? (unsigned char)s[pos + 1] : 0;
    int b = pos + 2 < e ? (unsigned char)s[pos + 2] : 0;
    if (any_case) {
        a = lower_ascii(a);
        b = lower_ascii(b);
    }
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return pos + 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return pos + 3;
    return 0;
}

/* \s+(?!\S) then \s+: a whitespace run, less its last code point when a
 * non-space follows (that one then leads the next word, e.g. " Hello"). */
static size_t space_run(const char *s, size_t e, size_t pos)
{
    uint32_t cp;
    size_t last = pos, n, count = 0;
    while ((n = cp_at(s, e, pos, &cp)) && kind_of(cp) == K_SPACE) {
        last = pos;
        pos += n;
        count++;
    }
    if (count > 1 && pos < e)
        return last;
    return pos;
}

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t gpt2_word(const char *s, size_t e, size_t pos)
{
    uint32_t c0;
    size_t n0 = cp_at(s, e, pos, &c0);
    if (c0 == '\'') {
        size_t end = contraction(s, e, pos, false);
        if (end && end <= e)
            return end;
    }
    size_t p = c0 == ' ' ? pos + n0 : pos; /* the optional leading space */
    enum kind k = kind_at(s, e, p);
    if (k == K_LETTER || k == K_NUMBER || k == K_OTHER)
        return run_of(s, e, p, k);
    p = space_run(s, e, pos);
    return p > pos ? p : pos + n0;
}

/* The end of \s*[\r\n]+ at pos: just after the last CR/LF of the whitespace
 * run starting at pos, or 0 when the run holds none. */
static size_t newline_run(const char *s, size_t e, size_t pos)
{
    uint32_t cp;
    size_t n, end = 0;
    while ((n = cp_at(s, e, pos, &cp)) && kind_of(cp) == K_SPACE) {
        pos += n;
        if (cp == '\r' || cp == '\n')
            end = pos;
    }
    return end;
}

/* Llama 3 (max_digits 3) and Qwen2 (1):
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}|
 *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t llama3_word(const char *s, size_t e, size_t pos, int max_digits)
{
    uint32_t c0, c1;
    size_t n0 = cp_at(s, e, pos, &c0);
    cp_at(s, e, pos + n0, &c1);
    enum kind k0 = kind_of(c0), k1 = kind_of(c1);
    if (c0 == '\'') {
        size_t end = contraction(s, e, pos, true);
        if (end && end <= e)
            return end;
    }
    if (k0 == K_LETTER)
        return run_of(s, e, pos, K_LETTER);
    if (k0 != K_NUMBER && c0 != '\r' && c0 != '\n' && k1 == K_LETTER)
        return run_of(s, e, pos + n0, K_LETTER);
    if (k0 == K_NUMBER) {
        size_t p = pos;
        uint32_t cp;
        size_t n;
        for (int i = 0; i < max_digits && (n = cp_at(s, e, p, &cp)) && kind_of(cp) == K_NUMBER; i++)
            p += n;
        return p;
    }
    size_t p = c0 == ' ' ? pos + n0 : pos;
    if (kind_at(s, e, p) == K_OTHER) {
        p = run_of(s, e, p, K_OTHER);
        while (p < e && (s[p] == '\r' || s[p] == '\n'))
            p++;
        return p;
    }
    size_t nl = newline_run(s, e, pos);
    if (nl)
        return nl;
    p = space_run(s, e, pos);
    return p > pos ? p : pos + n0;
}

void tok_pre_init(struct tok_pre_iter *it, enum tok_pre_kind kind, const char *s, size_t len)
{
    memset(it, 0, sizeof *it);
    it->kind = kind;
    it->s = s;
    it->len = len;
}

/* STARCODER: the segment at pos is either one \p{N} code point or the text
 * up to the next one; GPT-2 then runs inside it as if it were all the text. */
static void next_segment(struct tok_pre_iter *it)
{
    uint32_t cp;
    size_t p = it->pos, n = cp_at(it->s, it->len, p, &cp);
    if (kind_of(cp) == K_NUMBER) {
        it->seg_end = p + n;
        return;
    }
    while ((n = cp_at(it->s, it->len, p, &cp)) && kind_of(cp) != K_NUMBER)
        p += n;
    it->seg_end = p;
}

bool tok_pre_next(struct tok_pre_iter *it, size_t *start, size_t *end)
{
    if (it->pos >= it->len)
        return false;
    size_t e = it->len, w;
    switch (it->kind) {
    case TOK_PRE_STARCODER:
        if (it->pos >= it->seg_end)
            next_segment(it);
        e = it->seg_end;
        w = gpt2_word(it->s, e, it->pos);
        break;
    case TOK_PRE_LLAMA3:
        w = llama3_word(it->s, e, it->pos, 3);
        break;
    case TOK_PRE_QWEN2:
        w = llama3_word(it->s, e, it->pos, 1);
        break;
    default:
        w = gpt2_word(it->s, e, it->pos);
        break;
    }
    *start = it->pos;
    *end = w;
    it->pos = w;
    return true;
}

/* ---- special tokens: a byte trie, matched the way llama.cpp does ----
 * Control, unknown and user-defined tokens are matched literally in the text
 * before anything else (control/unknown only with ENG_TOK_PARSE_SPECIAL).
 * Longer tokens claim their occurrences first, each scanning left to right
 * over the text no longer token has claimed; equal lengths scan together. */

struct trie_node {
    int32_t child, sibling; /* first child, next sibling; -1 none */
    int32_t id;             /* token ending here, -1 none */
    uint8_t byte;
};

struct tok_special {
    struct trie_node *node; /* [0] is the root */
    size_t n_node, cap_node;
    uint16_t lens[TOK_MAX_TOKEN_BYTES]; /* distinct token lengths, longest first */
    size_t n_lens;
    uint8_t (*first)[2][32]; /* per length: first bytes of [0] any, [1] user-defined tokens */
    bool any_user;           /* some user-defined token exists */
};

static int32_t trie_child(const struct tok_special *sp, int32_t nd, uint8_t byte)
{
    for (int32_t c = sp->node[nd].child; c >= 0; c = sp->node[c].sibling) {
        if (sp->node[c].byte == byte)
            return c;
    }
    return -1;
}

static int trie_add(struct tok_special *sp, const char *s, size_t len, int32_t id)
{
    int32_t nd = 0;
    for (size_t i = 0; i < len; i++) {
        int32_t c = trie_child(sp, nd, (uint8_t)s[i]);
        if (c < 0) {
            struct trie_node *nodes =
                tok_grow(sp->node, &sp->cap_node, sp->n_node + 1, sizeof *nodes);
            if (!nodes)
                return FIEF_ENOMEM;
            sp->node = nodes;
            c = (int32_t)sp->n_node++;
            sp->node[c] = (struct trie_node){-1, sp->node[nd].child, -1, (uint8_t)s[i]};
            sp->node[nd].child = c;
        }
        nd = c;
    }
    sp->node[nd].id = id; /* a duplicate text: the later id wins, as in the map */
    return 0;
}

void tok_special_free(struct tok_special *sp)
{
    if (!sp)
        return;
    free(sp->node);
    free(sp->first);
    free(sp);
}

/* Distinct lengths (longest first) and, per length, the first-byte sets. */
static int special_index(const struct eng_vocab *v, struct tok_special *sp)
{
    bool seen[TOK_MAX_TOKEN_BYTES + 1] = {false};
    for (int32_t id = 0; id < v->n; id++) {
        if (tok_is_special_type(v->tok[id].type))
            seen[v->tok[id].len] = true;
    }
    for (size_t l = TOK_MAX_TOKEN_BYTES; l > 0; l--) {
        if (seen[l])
            sp->lens[sp->n_lens++] = (uint16_t)l;
    }
    sp->first = calloc(sp->n_lens ? sp->n_lens : 1, sizeof *sp->first);
    if (!sp->first)
        return FIEF_ENOMEM;
    for (int32_t id = 0; id < v->n; id++) {
        const struct tok_token *t = &v->tok[id];
        if (!tok_is_special_type(t->type))
            continue;
        size_t k = 0;
        while (sp->lens[k] != t->len)
            k++;
        uint8_t b = (uint8_t)tok_text(v, id)[0];
        sp->first[k][0][b >> 3] |= (uint8_t)(1u << (b & 7));
        if (t->type == TOK_TYPE_USER) {
            sp->first[k][1][b >> 3] |= (uint8_t)(1u << (b & 7));
            sp->any_user = true;
        }
    }
    return 0;
}

int tok_special_build(struct eng_vocab *v)
{
    int32_t count = 0;
    for (int32_t id = 0; id < v->n; id++)
        count += tok_is_special_type(v->tok[id].type);
    if (count == 0)
        return 0;
    struct tok_special *sp = calloc(1, sizeof *sp);
    if (!sp)
        return FIEF_ENOMEM;
    sp->node = tok_grow(NULL, &sp->cap_node, 64, sizeof *sp->node);
    if (!sp->node)
        goto fail;
    sp->node[0] = (struct trie_node){-1, -1, -1, 0};
    sp->n_node = 1;
    for (int32_t id = 0; id < v->n; id++) {
        if (tok_is_special_type(v->tok[id].type) &&
            trie_add(sp, tok_text(v, id), v->tok[id].len, id))
            goto fail;
    }
    if (special_index(v, sp) != 0)
        goto fail;
    v->special = sp;
    return 0;
fail:
    tok_special_free(sp);
    return FIEF_ENOMEM;
}

static int frag_push(struct tok_frags *f, uint32_t start, uint32_t end, int32_t id)
{
    struct tok_frag *v = tok_grow(f->v, &f->cap, f->n + 1, sizeof *v);
    if (!v)
        return FIEF_ENOMEM;
    f->v = v;
    f->v[f->n++] = (struct tok_frag){start, end, id};
    return 0;
}

/* The token of exactly len bytes at s, if it may be matched, else -1. */
static int32_t match_exact(const struct eng_vocab *v, const char *s, size_t len, bool all)
{
    const struct tok_special *sp = v->special;
    int32_t nd = 0;
    for (size_t i = 0; i < len && nd >= 0; i++)
        nd = trie_child(sp, nd, (uint8_t)s[i]);
    if (nd < 0 || sp->node[nd].id < 0)
        return -1;
    int32_t id = sp->node[nd].id;
    return (all || v->tok[id].type == TOK_TYPE_USER) ? id : -1;
}

static bool c_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r'); /* isspace() in the C locale */
}

/* Claim the tokens of length len inside the plain segment seg: the text left
 * between them goes to rest, the tokens to toks. */
static int claim(const struct eng_vocab *v, const char *s, struct tok_frag seg, size_t len,
                 const uint8_t first[32], bool all, struct tok_frags *rest, struct tok_frags *toks)
{
    uint32_t cur = seg.start, p = seg.start;
    while (p + len <= seg.end) {
        uint8_t b = (uint8_t)s[p];
        int32_t id;
        if (!(first[b >> 3] & (1u << (b & 7))) || (id = match_exact(v, s + p, len, all)) < 0) {
            p++;
            continue;
        }
        uint32_t left_end = p;
        if (v->tok[id].attr & TOK_ATTR_LSTRIP) {
            while (left_end > cur && c_space(s[left_end - 1]))
                left_end--;
        }
        if ((left_end > cur && frag_push(rest, cur, left_end, -1)) ||
            frag_push(toks, p, p + (uint32_t)len, id))
            return FIEF_ENOMEM;
        cur = p + (uint32_t)len;
        if (v->tok[id].attr & TOK_ATTR_RSTRIP) {
            while (cur < seg.end && c_space(s[cur]))
                cur++;
        }
        p = cur;
    }
    return cur < seg.end ? frag_push(rest, cur, seg.end, -1) : 0;
}

static int cmp_frag(const void *a, const void *b)
{
    const struct tok_frag *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

/* Merge the plain segments and the claimed tokens (each sorted) into out. */
static int merge_frags(struct tok_frags *plain, struct tok_frags *toks, struct tok_frags *out)
{
    if (toks->n)
        qsort(toks->v, toks->n, sizeof *toks->v, cmp_frag);
    size_t i = 0, j = 0;
    while (i < plain->n || j < toks->n) {
        bool take_plain = j == toks->n || (i < plain->n && plain->v[i].start < toks->v[j].start);
        struct tok_frag f = take_plain ? plain->v[i++] : toks->v[j++];
        if (frag_push(out, f.start, f.end, f.id))
            return FIEF_ENOMEM;
    }
    return 0;
}

int tok_special_split(const struct eng_vocab *v, const char *s, size_t len, bool all,
                      struct tok_frags *out)
{
    const struct tok_special *sp = v->special;
    if (!sp || (!all && !sp->any_user))
        return frag_push(out, 0, (uint32_t)len, -1);
    struct tok_frags plain = {0}, next = {0}, toks = {0};
    int rc = frag_push(&plain, 0, (uint32_t)len, -1);
    for (size_t k = 0; rc == 0 && k < sp->n_lens; k++) {
        next.n = 0;
        for (size_t i = 0; rc == 0 && i < plain.n; i++)
            rc = claim(v, s, plain.v[i], sp->lens[k], sp->first[k][all ? 0 : 1], all, &next, &toks);
        struct tok_frags t = plain;
        plain = next;
        next = t;
    }
    if (rc == 0)
        rc = merge_frags(&plain, &toks, out);
    free(plain.v);
    free(next.v);
    free(toks.v);
    return rc;
}

/* ---- names ---- */

struct pre_name {
    const char *name;
    enum tok_pre_kind kind;
    bool ignore_merges, add_bos;
};

/* tokenizer.ggml.pre values whose regexes we implement (llama.cpp's names). */
static const struct pre_name pre_names[] = {
    {"default", TOK_PRE_GPT2, false, false},
    {"gpt-2", TOK_PRE_GPT2, false, false},
    {"gpt2", TOK_PRE_GPT2, false, false},
    {"mpt", TOK_PRE_GPT2, false, false},
    {"olmo", TOK_PRE_GPT2, false, false},
    {"phi-2", TOK_PRE_GPT2, false, false},
    {"roberta-bpe", TOK_PRE_GPT2, false, false},
    {"starcoder", TOK_PRE_STARCODER, false, false},
    {"refact", TOK_PRE_STARCODER, false, false},
    {"command-r", TOK_PRE_STARCODER, false, false},
    {"smollm", TOK_PRE_STARCODER, false, false},
    {"codeshell", TOK_PRE_STARCODER, false, false},
    {"llama3", TOK_PRE_LLAMA3, true, true},
    {"llama-v3", TOK_PRE_LLAMA3, true, true},
    {"llama-bpe", TOK_PRE_LLAMA3, true, true},
    {"qwen2", TOK_PRE_QWEN2, false, false},
    {"deepseek-r1-qwen", TOK_PRE_QWEN2, false, false},
};

bool tok_pre_parse(const char *name, size_t len, enum tok_pre_kind *kind, bool *ignore_merges,
                   bool *add_bos)
{
    *kind = TOK_PRE_GPT2;
    *ignore_merges = false;
    *add_bos = false;
    if (len == 0)
        return true;
    for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++) {
        const struct pre_name *p = &pre_names[i];
        if (strlen(p->name) == len && memcmp(p->name, name, len) == 0) {
            *kind = p->kind;
            *ignore_merges = p->ignore_merges;
            *add_bos = p->add_bos;
            return true;
        }
    }
    return false;
}

const char *tok_pre_kind_name(enum tok_pre_kind k)
{
    switch (k) {
    case TOK_PRE_STARCODER:
        return "starcoder";
    case TOK_PRE_LLAMA3:
        return "llama3";
    case TOK_PRE_QWEN2:
        return "qwen2";
    default:
        return "gpt2";
    }
}
