/* SPDX-License-Identifier: MIT */
/* The tokenizer's public face: building an eng_vocab from GGUF metadata,
 * splitting text around special tokens, dispatching plain runs to the SPM or
 * BPE encoder, and turning ids back into text. Tokenization follows
 * llama.cpp's (add_special=false, parse_special as asked) id for id. */
#include "engine/tok.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "engine/tok_impl.h"
#include "engine/unicode.h"

/* ---- small containers shared by the encoders ---- */

void *tok_grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *q = realloc(p, c * elem);
    if (q)
        *cap = c;
    return q;
}

int tok_ids_push(struct tok_ids *o, int32_t id)
{
    int32_t *v = tok_grow(o->v, &o->cap, o->n + 1, sizeof *v);
    if (!v)
        return FIEF_ENOMEM;
    o->v = v;
    o->v[o->n++] = id;
    return 0;
}

static bool heap_before(const struct tok_bigram *a, const struct tok_bigram *b)
{
    return a->prio > b->prio || (a->prio == b->prio && a->left < b->left);
}

int tok_heap_push(struct tok_heap *h, const struct tok_bigram *b)
{
    struct tok_bigram *v = tok_grow(h->v, &h->cap, h->n + 1, sizeof *v);
    if (!v)
        return FIEF_ENOMEM;
    h->v = v;
    size_t i = h->n++;
    while (i > 0 && heap_before(b, &h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = *b;
    return 0;
}

struct tok_bigram tok_heap_pop(struct tok_heap *h)
{
    struct tok_bigram top = h->v[0], last = h->v[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap_before(&h->v[c + 1], &h->v[c]))
            c++;
        if (!heap_before(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (n)
        h->v[i] = last;
    return top;
}

/* ---- tokenize ---- */

static int encode_frags(const struct eng_vocab *v, const char *text, const struct tok_frags *f,
                        struct tok_ids *ids)
{
    bool prev_special = true; /* SPM: a text run after a special token gets "▁" */
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < f->n; i++) {
        const struct tok_frag *g = &f->v[i];
        if (g->id >= 0) {
            rc = tok_ids_push(ids, g->id);
            prev_special = true;
        } else if (v->kind == ENG_VOCAB_SPM) {
            rc = tok_spm_encode(v, text + g->start, g->end - g->start,
                                v->add_space_prefix && prev_special, ids);
            prev_special = false;
        } else {
            rc = tok_bpe_encode(v, text + g->start, g->end - g->start, ids);
        }
    }
    return rc;
}

int eng_tokenize(const struct eng_vocab *v, const char *text, size_t len, int flags, int32_t *out,
                 size_t cap, size_t *n_out)
{
    if (!v || !n_out || (!text && len) || (!out && cap))
        return FIEF_EINVAL;
    if (len > ENG_TOK_MAX_TEXT)
        return FIEF_ELIMIT;
    struct tok_ids ids = {0};
    struct tok_frags f = {0};
    int rc = 0;
    if ((flags & ENG_TOK_ADD_BOS) && eng_vocab_adds_bos(v))
        rc = tok_ids_push(&ids, v->bos);
    if (rc == 0 && len > 0)
        rc = tok_special_split(v, text, len, (flags & ENG_TOK_PARSE_SPECIAL) != 0, &f);
    if (rc == 0)
        rc = encode_frags(v, text, &f, &ids);
    if (rc == 0) {
        if (ids.n && cap)
            memcpy(out, ids.v, (ids.n < cap ? ids.n : cap) * sizeof *out);
        *n_out = ids.n;
    }
    free(ids.v);
    free(f.v);
    return rc;
}

/* ---- pieces and detokenization ---- */

/* Writes up to cap bytes, counts them all. */
struct sink {
    char *buf;
    size_t cap, n;
};

static void put(struct sink *k, const char *p, size_t n)
{
    if (k->n < k->cap)
        memcpy(k->buf + k->n, p, n < k->cap - k->n ? n : k->cap - k->n);
    k->n += n;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The byte of an SPM byte token "<0xAB>", or -1. */
static int byte_token_value(const char *t, size_t len)
{
    if (len != 6 || memcmp(t, "<0x", 3) != 0 || t[5] != '>')
        return -1;
    int hi = hexval(t[3]), lo = hexval(t[4]);
    return (hi < 0 || lo < 0) ? -1 : hi * 16 + lo;
}

/* SPM: "▁" back to a space. */
static void put_spm(struct sink *k, const char *t, size_t len)
{
    size_t i = 0, run = 0;
    while (i < len) {
        if (len - i >= 3 && memcmp(t + i, "\xE2\x96\x81", 3) == 0) {
            put(k, t + run, i - run);
            put(k, " ", 1);
            i += 3;
            run = i;
        } else {
            i++;
        }
    }
    put(k, t + run, len - run);
}

/* BPE: each GPT-2 stand-in code point back to its byte (others verbatim). */
static void put_bpe(struct sink *k, const char *t, size_t len)
{
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = uni_decode(t + i, len - i, &cp);
        int b = tok_bpe_cp_byte(cp);
        if (b >= 0) {
            char c = (char)b;
            put(k, &c, 1);
        } else {
            put(k, t + i, n);
        }
        i += n;
    }
}

int eng_token_piece(const struct eng_vocab *v, int32_t id, char *buf, size_t cap, int flags)
{
    if (!v || id < 0 || id >= v->n || (!buf && cap))
        return FIEF_EINVAL;
    const struct tok_token *t = &v->tok[id];
    const char *text = tok_text(v, id);
    struct sink k = {buf, cap, 0};
    switch (t->type) {
    case TOK_TYPE_CONTROL:
    case TOK_TYPE_UNKNOWN:
        if (flags & ENG_PIECE_SPECIAL)
            put(&k, text, t->len);
        break;
    case TOK_TYPE_USER:
        put(&k, text, t->len);
        break;
    case TOK_TYPE_NORMAL:
    case TOK_TYPE_BYTE:
        if (v->kind == ENG_VOCAB_BPE) {
            put_bpe(&k, text, t->len);
        } else if (t->type == TOK_TYPE_BYTE) {
            char c = (char)byte_token_value(text, t->len); /* validated at load */
            put(&k, &c, 1);
        } else {
            put_spm(&k, text, t->len);
        }
        break;
    default: /* unused and undefined tokens render as nothing, as in llama.cpp */
        break;
    }
    return (int)k.n;
}

int eng_detokenize(const struct eng_vocab *v, const int32_t *ids, size_t n, bool strip_leading,
                   struct buf *out)
{
    if (!v || !out || (!ids && n))
        return FIEF_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= v->n)
            return FIEF_EINVAL;
    }
    /* Pieces are never longer than their token text. */
    char piece[TOK_MAX_TOKEN_BYTES];
    bool strip = strip_leading && v->add_space_prefix;
    for (size_t i = 0; i < n; i++) {
        int len = eng_token_piece(v, ids[i], piece, sizeof piece, 0);
        const char *p = piece;
        if (strip && len > 0) {
            strip = false;
            if (p[0] == ' ') {
                p++;
                len--;
            }
        }
        buf_append(out, p, (size_t)len);
    }
    return 0;
}

/* ---- loading from GGUF ---- */

#define KEY_MODEL "tokenizer.ggml.model"
#define KEY_PRE "tokenizer.ggml.pre"
#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_SCORES "tokenizer.ggml.scores"
#define KEY_TYPES "tokenizer.ggml.token_type"
#define KEY_MERGES "tokenizer.ggml.merges"
#define KEY_TEMPLATE "tokenizer.chat_template"

static int load_kind(const struct gguf *g, struct eng_vocab *v, char err[FIEF_ERR_LEN])
{
    struct gguf_str m, pre = {"", 0};
    int rc = gguf_get_str(g, KEY_MODEL, &m);
    if (rc)
        return fief_errf(err, FIEF_EFORMAT, "%s: %s", KEY_MODEL,
                         rc == FIEF_ENOTFOUND ? "missing" : "not a string");
    if (gguf_str_eq(m, "llama")) {
        v->kind = ENG_VOCAB_SPM;
        v->add_bos = true;
        v->add_space_prefix = true;
        snprintf(v->pre_name, sizeof v->pre_name, "spm");
        return 0;
    }
    if (!gguf_str_eq(m, "gpt2"))
        return fief_errf(err, FIEF_EUNSUPPORTED,
                         "%s = '%.*s' is not supported (only 'llama' and 'gpt2')", KEY_MODEL,
                         (int)(m.len > 64 ? 64 : m.len), m.ptr);
    v->kind = ENG_VOCAB_BPE;
    if (gguf_find_key(g, KEY_PRE) >= 0 && gguf_get_str(g, KEY_PRE, &pre) != 0)
        return fief_errf(err, FIEF_EFORMAT, "%s: not a string", KEY_PRE);
    if (!tok_pre_parse(pre.ptr, pre.len, &v->pre, &v->ignore_merges, &v->add_bos))
        log_warn("tokenizer: unknown %s '%.*s': using the gpt2 pre-tokenizer", KEY_PRE,
                 (int)(pre.len > 64 ? 64 : pre.len), pre.ptr);
    snprintf(v->pre_name, sizeof v->pre_name, "%s", tok_pre_kind_name(v->pre));
    return 0;
}

/* A fixed-size numeric array with one element per token, or absent (NULL). */
static int token_array(const struct gguf *g, const char *key, enum gguf_type want, int32_t n,
                       const void **data, char err[FIEF_ERR_LEN])
{
    enum gguf_type et;
    uint64_t len;
    *data = NULL;
    int rc = gguf_get_arr(g, key, &et, &len, data);
    if (rc == FIEF_ENOTFOUND)
        return 0;
    if (rc || et != want || len != (uint64_t)n)
        return fief_errf(err, FIEF_EFORMAT, "%s: expected %d elements of type %d", key, n,
                         (int)want);
    return 0;
}

/* Type and score of token i, validated. */
static int token_meta(struct eng_vocab *v, int32_t i, const void *types, const void *scores,
                      char err[FIEF_ERR_LEN])
{
    struct tok_token *t = &v->tok[i];
    int32_t type = TOK_TYPE_NORMAL;
    t->score = 0.0f;
    if (types)
        memcpy(&type, (const char *)types + 4 * (size_t)i, 4);
    if (scores)
        memcpy(&t->score, (const char *)scores + 4 * (size_t)i, 4);
    if (type < TOK_TYPE_UNDEFINED || type > TOK_TYPE_BYTE)
        return fief_errf(err, FIEF_EFORMAT, "%s[%d] = %d is not a token type", KEY_TYPES, i, type);
    if (isnan(t->score))
        return fief_errf(err, FIEF_EFORMAT, "%s[%d] is NaN", KEY_SCORES, i);
    t->type = (uint8_t)type;
    if (type == TOK_TYPE_BYTE && v->kind == ENG_VOCAB_SPM &&
        byte_token_value(tok_text(v, i), t->len) < 0)
        return fief_errf(err, FIEF_EFORMAT, "token %d is a byte token but not <0xAB>", i);
    return 0;
}

/* Copy the token texts into one block; an empty text becomes "[EMPTY_i]" as
 * in llama.cpp, so every token has a distinct, visible name. */
static int token_texts(struct eng_vocab *v, const struct gguf_str *toks, char err[FIEF_ERR_LEN])
{
    size_t total = 0;
    for (int32_t i = 0; i < v->n; i++) {
        if (toks[i].len > TOK_MAX_TOKEN_BYTES)
            return fief_errf(err, FIEF_ELIMIT, "%s[%d]: %llu bytes (limit %d)", KEY_TOKENS, i,
                             (unsigned long long)toks[i].len, TOK_MAX_TOKEN_BYTES);
        total += (toks[i].len ? toks[i].len : 24) + 1;
    }
    v->text = malloc(total);
    v->tok = calloc((size_t)v->n, sizeof *v->tok);
    v->map = strmap_new((size_t)v->n);
    if (!v->text || !v->tok || !v->map)
        return fief_errf(err, FIEF_ENOMEM, "out of memory for %d tokens", v->n);
    size_t off = 0;
    for (int32_t i = 0; i < v->n; i++) {
        char *dst = v->text + off;
        size_t len = toks[i].len;
        if (len)
            memcpy(dst, toks[i].ptr, len);
        else
            len = (size_t)snprintf(dst, 24, "[EMPTY_%d]", i);
        dst[len] = '\0';
        v->tok[i].off = (uint32_t)off;
        v->tok[i].len = (uint16_t)len;
        if (len > v->max_len)
            v->max_len = (uint16_t)len;
        if (strmap_put(v->map, dst, len, i))
            return fief_errf(err, FIEF_ENOMEM, "out of memory for %d tokens", v->n);
        off += len + 1;
    }
    return 0;
}

static int load_tokens(const struct gguf *g, struct eng_vocab *v, char err[FIEF_ERR_LEN])
{
    struct gguf_str *toks = NULL;
    uint64_t n = 0;
    const void *scores, *types;
    int rc = gguf_get_str_arr(g, KEY_TOKENS, &toks, &n);
    if (rc)
        return fief_errf(err, rc == FIEF_ENOMEM ? rc : FIEF_EFORMAT, "%s: %s", KEY_TOKENS,
                         rc == FIEF_ENOTFOUND ? "missing" : "not an array of strings");
    if (n == 0 || n > TOK_MAX_VOCAB) {
        free(toks);
        return fief_errf(err, n ? FIEF_ELIMIT : FIEF_EFORMAT, "%s: %llu tokens (1..%d allowed)",
                         KEY_TOKENS, (unsigned long long)n, TOK_MAX_VOCAB);
    }
    v->n = (int32_t)n;
    rc = token_texts(v, toks, err);
    free(toks);
    if (rc || (rc = token_array(g, KEY_SCORES, GGUF_TYPE_FLOAT32, v->n, &scores, err)) ||
        (rc = token_array(g, KEY_TYPES, GGUF_TYPE_INT32, v->n, &types, err)))
        return rc;
    for (int32_t i = 0; i < v->n && rc == 0; i++)
        rc = token_meta(v, i, types, scores, err);
    return rc;
}

/* A special token id: absent gives def; 0xFFFFFFFF or negative means none;
 * another out-of-range value is ignored with a warning (as llama.cpp does). */
static int32_t load_id(const struct gguf *g, const char *key, int32_t def, int32_t n)
{
    uint64_t u;
    int32_t s;
    if (gguf_find_key(g, key) < 0)
        return def;
    if (gguf_get_u64(g, key, &u) == 0) {
        if (u == 0xFFFFFFFFu)
            return -1;
        if (u < (uint64_t)n)
            return (int32_t)u;
    } else if (gguf_get_i32(g, key, &s) == 0) {
        if (s < 0)
            return -1;
        if (s < n)
            return s;
    }
    log_warn("tokenizer: %s is not a token id below %d; ignored", key, n);
    return def;
}

static void load_ids_flags(const struct gguf *g, struct eng_vocab *v)
{
    bool spm = v->kind == ENG_VOCAB_SPM, b;
    v->bos = load_id(g, "tokenizer.ggml.bos_token_id", spm && v->n > 1 ? 1 : -1, v->n);
    v->eos = load_id(g, "tokenizer.ggml.eos_token_id", spm && v->n > 2 ? 2 : -1, v->n);
    v->unk = load_id(g, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1, v->n);
    v->eot = load_id(g, "tokenizer.ggml.eot_token_id", -1, v->n);
    v->eom = load_id(g, "tokenizer.ggml.eom_token_id", -1, v->n);
    if (gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b) == 0)
        v->add_bos = b;
    if (spm && gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b) == 0)
        v->add_space_prefix = b;
}

/* End-of-generation: eos, eot, eom, and tokens named like the usual end
 * markers. The first list is always treated as control (llama.cpp does the
 * same for files that mistype them); the second only counts when the file
 * already says control (phi-3, for one, has a user-defined "</s>"). */
static void mark_eog(struct eng_vocab *v)
{
    static const char *const forced[] = {
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",   "<|endoftext|>",
        "<|eom_id|>", "<EOT>",      "_<EOT>",  "<|end_of_text|>", "<｜end▁of▁sentence｜>",
    };
    static const char *const if_control[] = {"</s>", "<|fim_pad|>", "<|repo_name|>",
                                             "<|file_sep|>"};
    for (size_t i = 0; i < sizeof forced / sizeof forced[0]; i++) {
        int32_t id = strmap_get(v->map, forced[i], strlen(forced[i]));
        if (id >= 0) {
            v->tok[id].type = TOK_TYPE_CONTROL;
            v->tok[id].attr |= TOK_ATTR_EOG;
        }
    }
    for (size_t i = 0; i < sizeof if_control / sizeof if_control[0]; i++) {
        int32_t id = strmap_get(v->map, if_control[i], strlen(if_control[i]));
        if (id >= 0 && v->tok[id].type == TOK_TYPE_CONTROL)
            v->tok[id].attr |= TOK_ATTR_EOG;
    }
    int32_t ends[3] = {v->eos, v->eot, v->eom};
    for (int i = 0; i < 3; i++) {
        if (ends[i] >= 0)
            v->tok[ends[i]].attr |= TOK_ATTR_EOG;
    }
}

/* Phi-3's added tokens swallow the whitespace after them (HF rstrip=True);
 * GGUF does not record that, so llama.cpp keys it on the model name. */
static void mark_rstrip(const struct gguf *g, struct eng_vocab *v)
{
    struct gguf_str name;
    char low[128];
    if (gguf_get_str(g, "general.name", &name) != 0)
        return;
    size_t n = name.len < sizeof low - 1 ? name.len : sizeof low - 1;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)name.ptr[i]);
    low[n] = '\0';
    if (!strstr(low, "phi-3") && !strstr(low, "phi3"))
        return;
    for (int32_t id = 0; id < v->n; id++) {
        const char *t = tok_text(v, id);
        bool keep = !strcmp(t, "<unk>") || !strcmp(t, "<s>") || !strcmp(t, "<|endoftext|>");
        if ((tok_is_special_type(v->tok[id].type) || !strcmp(t, "</s>")) && !keep)
            v->tok[id].attr |= TOK_ATTR_RSTRIP;
    }
}

/* Bytes that text outside Unicode's sparse high planes uses (all but C0,
 * C1 and F1..FF, which lead only to planes 4..16 or are never valid). */
static bool common_utf8_byte(int b)
{
    return b < 0xC0 || (b >= 0xC2 && b <= 0xF0);
}

static void setup_bytes(struct eng_vocab *v)
{
    int missing = 0, missing_utf8 = 0;
    for (int b = 0; b < 256; b++) {
        char name[8];
        char c = (char)b;
        int32_t id;
        if (v->kind == ENG_VOCAB_SPM) {
            snprintf(name, sizeof name, "<0x%02X>", b);
            id = strmap_get(v->map, name, 6);
            if (id < 0)
                id = strmap_get(v->map, &c, 1);
            if (id < 0)
                id = v->unk;
        } else {
            id = strmap_get(v->map, name, uni_encode(tok_bpe_byte_cp((uint8_t)b), name));
        }
        missing += id < 0;
        missing_utf8 += id < 0 && common_utf8_byte(b);
        v->byte_tok[b] = id;
    }
    /* Many BPE vocabs lack the bytes that text rarely or never uses; the
     * encoder reads those as U+FFFD. Missing common ones deserves a warning. */
    if (missing_utf8)
        log_warn("tokenizer: %d bytes common in UTF-8 text have no token", missing_utf8);
    else if (missing)
        log_debug("tokenizer: %d rare bytes have no token (read as U+FFFD)", missing);
}

static int load_merges(const struct gguf *g, struct eng_vocab *v, char err[FIEF_ERR_LEN])
{
    struct gguf_str *merges = NULL;
    uint64_t n = 0, skipped = 0;
    int rc = gguf_get_str_arr(g, KEY_MERGES, &merges, &n);
    if (rc == FIEF_ENOTFOUND) {
        log_warn("tokenizer: no %s: BPE text will stay in single bytes", KEY_MERGES);
        return 0;
    }
    if (rc)
        return fief_errf(err, rc == FIEF_ENOMEM ? rc : FIEF_EFORMAT, "%s: not an array of strings",
                         KEY_MERGES);
    if (n > TOK_MAX_MERGES)
        rc = fief_errf(err, FIEF_ELIMIT, "%s: %llu merges (limit %d)", KEY_MERGES,
                       (unsigned long long)n, TOK_MAX_MERGES);
    else
        rc = tok_bpe_build(v, merges, n, &skipped, err);
    free(merges);
    if (rc == 0 && skipped)
        log_warn("tokenizer: %llu of %llu merges skipped (a part or the result is not a token)",
                 (unsigned long long)skipped, (unsigned long long)n);
    return rc;
}

static int load_template(const struct gguf *g, struct eng_vocab *v, char err[FIEF_ERR_LEN])
{
    struct gguf_str t;
    int rc = gguf_get_str(g, KEY_TEMPLATE, &t);
    if (rc == FIEF_ENOTFOUND)
        return 0;
    if (rc)
        return fief_errf(err, FIEF_EFORMAT, "%s: not a string", KEY_TEMPLATE);
    v->chat_template = strndup(t.ptr, t.len);
    return v->chat_template ? 0 : fief_errf(err, FIEF_ENOMEM, "out of memory for %s", KEY_TEMPLATE);
}

int tok_vocab_load(const struct gguf *g, struct eng_vocab **out, char err[FIEF_ERR_LEN])
{
    if (!g || !out)
        return fief_errf(err, FIEF_EINVAL, "tok_vocab_load: no file");
    *out = NULL;
    struct eng_vocab *v = calloc(1, sizeof *v);
    if (!v)
        return fief_errf(err, FIEF_ENOMEM, "out of memory");
    int rc;
    if ((rc = load_kind(g, v, err)) || (rc = load_tokens(g, v, err)))
        goto fail;
    load_ids_flags(g, v);
    mark_eog(v);
    mark_rstrip(g, v);
    setup_bytes(v);
    if ((v->kind == ENG_VOCAB_BPE && (rc = load_merges(g, v, err))) ||
        (rc = load_template(g, v, err)))
        goto fail;
    if ((v->kind == ENG_VOCAB_SPM && tok_spm_build(v)) || tok_special_build(v)) {
        rc = fief_errf(err, FIEF_ENOMEM, "out of memory indexing the vocabulary");
        goto fail;
    }
    *out = v;
    return 0;
fail:
    eng_vocab_free(v);
    return rc;
}

/* ---- accessors ---- */

enum eng_vocab_kind eng_vocab_kind(const struct eng_vocab *v)
{
    return v->kind;
}

int32_t eng_vocab_size(const struct eng_vocab *v)
{
    return v->n;
}

int32_t eng_vocab_bos(const struct eng_vocab *v)
{
    return v->bos;
}

int32_t eng_vocab_eos(const struct eng_vocab *v)
{
    return v->eos;
}

bool eng_vocab_is_eog(const struct eng_vocab *v, int32_t id)
{
    return id >= 0 && id < v->n && (v->tok[id].attr & TOK_ATTR_EOG);
}

bool eng_vocab_adds_bos(const struct eng_vocab *v)
{
    return v->add_bos && v->bos >= 0;
}

const char *eng_vocab_text(const struct eng_vocab *v, int32_t id)
{
    return (id >= 0 && id < v->n) ? tok_text(v, id) : NULL;
}

const char *eng_vocab_pre(const struct eng_vocab *v)
{
    return v->pre_name;
}

const char *tok_vocab_chat_template(const struct eng_vocab *v)
{
    return v->chat_template;
}

enum eng_chat_family eng_vocab_chat_family(const struct eng_vocab *v)
{
    return eng_chat_detect(v->chat_template);
}

void eng_vocab_free(struct eng_vocab *v)
{
    if (!v)
        return;
    free(v->tok);
    free(v->text);
    strmap_free(v->map);
    tok_bpe_free(v->bpe);
    strmap_free(v->pairs);
    tok_special_free(v->special);
    free(v->chat_template);
    free(v);
}

int eng_vocab_open(const char *path, struct eng_vocab **out, char err[FIEF_ERR_LEN])
{
    struct gguf *g = NULL;
    if (!path || !out)
        return fief_errf(err, FIEF_EINVAL, "eng_vocab_open: no path");
    *out = NULL;
    int rc = gguf_open(path, &g, err);
    if (rc == 0)
        rc = tok_vocab_load(g, out, err);
    gguf_free(g);
    return rc;
}
