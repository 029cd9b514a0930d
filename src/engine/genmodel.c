/* SPDX-License-Identifier: MIT */
/* Writes llama GGUFs with random weights and a byte-level BPE tokenizer whose
 * first merges are learned from a short built-in English text (so ordinary
 * words tokenize into a few pieces) and whose remaining merges are random
 * pairs of existing tokens. Everything is a function of the spec and seed. */
#include "engine/genmodel.h"
#include "engine/gguf.h"
#include "engine/quant.h"
#include "engine/strmap.h"
#include "common/xalloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_SPECIAL 2           /* <s>, </s> */
#define N_BASE (N_SPECIAL + 256)
#define MAX_TOKEN_BYTES 24    /* longest synthetic token */

static const char corpus[] =
    "Once upon a time there was a small village at the edge of a great forest. "
    "The people of the village worked in the fields in the morning and told "
    "stories by the fire in the evening. One day a young girl named Ada found a "
    "strange stone near the river. It was warm to the touch and it glowed when "
    "she held it in her hand. She ran home to show her mother, who said that the "
    "stone was very old and that it belonged to the king of the mountain. The "
    "next morning Ada and her friend Tom set out to find the king. They walked "
    "through the forest, they crossed the river, and they climbed the mountain "
    "until the sun went down. At the top they saw a castle made of light. The "
    "king was kind and wise. He thanked the children and gave them a gift: a "
    "bag of seeds that would grow into trees that sing. When they came back to "
    "the village, everyone was happy, and the trees sang every night after that. "
    "The miners of the pool earn tokens for the work they do, and the pool pays "
    "them for every token they serve to the customers who send their requests.";

/* ---- byte-level alphabet ---- */

/* GPT-2's byte-level BPE shows every byte as a printable code point:
 * printable Latin-1 bytes stand for themselves, the rest are moved to
 * U+0100 and up in byte order. */
static uint32_t byte_cp(unsigned b)
{
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))
        return b;
    unsigned n = 0;
    for (unsigned x = 0; x < b; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255)))
            n++;
    return 256 + n;
}

static size_t put_cp(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xc0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
}

/* ---- vocabulary ---- */

struct vocab {
    char **text;       /* (vocab) token strings in the byte-level alphabet */
    uint32_t *nbytes;  /* (vocab) raw bytes each token stands for */
    char **merges;     /* (vocab - N_BASE) "left right" */
    int32_t n, cap, n_merges;
    struct strmap *ids;
};

static int vocab_add(struct vocab *v, char *text, uint32_t nbytes)
{
    v->text[v->n] = text;
    v->nbytes[v->n] = nbytes;
    if (strmap_put(v->ids, text, strlen(text), v->n))
        return FIEF_ENOMEM;
    return v->n++;
}

/* Add the merge of tokens a and b; returns the new id or -1 if the result
 * already exists (or the vocab is full). */
static int32_t vocab_merge(struct vocab *v, int32_t a, int32_t b)
{
    if (v->n >= v->cap)
        return -1;
    size_t la = strlen(v->text[a]), lb = strlen(v->text[b]);
    char *t = xmalloc(la + lb + 1);
    memcpy(t, v->text[a], la);
    memcpy(t + la, v->text[b], lb + 1);
    if (strmap_get(v->ids, t, la + lb) >= 0) {
        free(t);
        return -1;
    }
    char *m = xmalloc(la + lb + 2);
    snprintf(m, la + lb + 2, "%s %s", v->text[a], v->text[b]);
    v->merges[v->n_merges++] = m;
    return vocab_add(v, t, v->nbytes[a] + v->nbytes[b]);
}

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* One step of BPE training over the corpus words (seq holds token ids, words
 * separated by -1): merge the most frequent adjacent pair. Returns false when
 * no pair occurs twice. */
static bool train_step(struct vocab *v, int32_t *seq, size_t *n, uint64_t *pairs)
{
    size_t np = 0;
    for (size_t i = 0; i + 1 < *n; i++)
        if (seq[i] >= 0 && seq[i + 1] >= 0)
            pairs[np++] = (uint64_t)seq[i] << 32 | (uint32_t)seq[i + 1];
    qsort(pairs, np, sizeof *pairs, cmp_u64);
    uint64_t best = 0;
    size_t best_n = 1;
    for (size_t i = 0; i < np;) {
        size_t j = i;
        while (j < np && pairs[j] == pairs[i])
            j++;
        if (j - i > best_n) { /* strictly more: ties go to the smallest pair */
            best_n = j - i;
            best = pairs[i];
        }
        i = j;
    }
    if (best_n < 2)
        return false;
    int32_t a = (int32_t)(best >> 32), b = (int32_t)(best & 0xffffffffu);
    int32_t id = vocab_merge(v, a, b);
    if (id < 0)
        return false;
    size_t w = 0;
    for (size_t i = 0; i < *n; i++) {
        if (i + 1 < *n && seq[i] == a && seq[i + 1] == b) {
            seq[w++] = id;
            i++;
        } else {
            seq[w++] = seq[i];
        }
    }
    *n = w;
    return true;
}

/* Words as GPT-2's pre-tokenizer would cut this ASCII text: an optional
 * leading space followed by letters, or a run of other characters. */
static bool is_alpha(unsigned char c)
{
    return (c | 32) >= 'a' && (c | 32) <= 'z';
}

static size_t corpus_words(int32_t *seq)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof corpus - 1; i++) {
        unsigned char c = (unsigned char)corpus[i], prev = i ? (unsigned char)corpus[i - 1] : 0;
        /* letters continue a word, or the leading space that opened it */
        bool cont = i > 0 && is_alpha(c) && (is_alpha(prev) || prev == ' ');
        if (i > 0 && !cont)
            seq[n++] = -1;
        seq[n++] = N_SPECIAL + c;
    }
    return n;
}

static int build_vocab(struct vocab *v, const struct genmodel_spec *s)
{
    v->cap = s->vocab;
    v->text = xcalloc((size_t)v->cap, sizeof *v->text);
    v->nbytes = xcalloc((size_t)v->cap, sizeof *v->nbytes);
    v->merges = xcalloc((size_t)v->cap, sizeof *v->merges);
    v->ids = strmap_new((size_t)v->cap);
    if (!v->ids)
        return FIEF_ENOMEM;
    vocab_add(v, xstrdup("<s>"), 0);
    vocab_add(v, xstrdup("</s>"), 0);
    for (unsigned b = 0; b < 256; b++) {
        char t[3] = {0};
        put_cp(t, byte_cp(b));
        vocab_add(v, xstrdup(t), 1);
    }
    size_t cap = 2 * sizeof corpus;
    int32_t *seq = xmalloc(cap * sizeof *seq);
    uint64_t *pairs = xmalloc(cap * sizeof *pairs);
    size_t n = corpus_words(seq);
    while (v->n < v->cap && train_step(v, seq, &n, pairs))
        ;
    free(seq);
    free(pairs);
    /* Fill the rest with random merges of short existing tokens. */
    uint64_t r = mix64(s->seed ^ 0x746f6b656e73ull);
    for (unsigned tries = 0; v->n < v->cap && tries < 100u * (unsigned)v->cap; tries++) {
        int32_t a = N_SPECIAL + (int32_t)((r = mix64(r)) % (uint64_t)(v->n - N_SPECIAL));
        int32_t b = N_SPECIAL + (int32_t)((r = mix64(r)) % (uint64_t)(v->n - N_SPECIAL));
        if (v->nbytes[a] + v->nbytes[b] <= MAX_TOKEN_BYTES)
            vocab_merge(v, a, b);
    }
    return v->n == v->cap ? 0 : FIEF_EINVAL;
}

static void vocab_free(struct vocab *v)
{
    for (int32_t i = 0; i < v->n; i++)
        free(v->text[i]);
    for (int32_t i = 0; i < v->n_merges; i++)
        free(v->merges[i]);
    free(v->text);
    free(v->nbytes);
    free(v->merges);
    strmap_free(v->ids);
}

/* ---- weights ---- */

struct tensor_spec {
    char name[48];
    uint32_t type;
    uint64_t ne[2];
    float scale; /* uniform in [-scale, scale]; 0 means all ones (norms) */
};

struct filler {
    const struct tensor_spec *t;
    uint64_t seed;
    float *row;  /* (max n_in) */
};

static void fill_tensor(void *ud, size_t idx, void *dst, uint64_t nbytes)
{
    struct filler *f = ud;
    const struct tensor_spec *t = &f->t[idx];
    size_t n_in = (size_t)t->ne[0], rb = qtype_row_size(t->type, n_in);
    uint64_t r = mix64(f->seed + 0x1000193ull * (idx + 1));
    for (uint64_t row = 0; row < t->ne[1] && (row + 1) * rb <= nbytes; row++) {
        for (size_t i = 0; i < n_in; i++) {
            r = mix64(r);
            double u = (double)(r >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0;
            f->row[i] = t->scale == 0 ? 1.0f : (float)u * t->scale;
        }
        uint8_t *out = (uint8_t *)dst + row * rb;
        if (t->type == QT_F32)
            memcpy(out, f->row, n_in * sizeof(float));
        else if (t->type == QT_F16 || t->type == QT_BF16)
            for (size_t i = 0; i < n_in; i++) {
                uint16_t h = t->type == QT_F16 ? quant_f32_to_f16(f->row[i])
                                               : quant_f32_to_bf16(f->row[i]);
                memcpy(out + 2 * i, &h, 2);
            }
        else
            quant_quantize_row(t->type, f->row, out, n_in);
    }
}

static int tensor_list(const struct genmodel_spec *s, struct tensor_spec **out)
{
    int32_t hd = s->dim / s->heads, kv = hd * s->kv_heads;
    size_t n = 3 + 9 * (size_t)s->layers;
    struct tensor_spec *t = xcalloc(n, sizeof *t);
    size_t k = 0;
    float a_dim = sqrtf(3.0f / (float)s->dim), a_ffn = sqrtf(3.0f / (float)s->ffn);
#define ADD(NAME, TYPE, N0, N1, SC)                                                        \
    (snprintf(t[k].name, sizeof t[k].name, "%s", NAME), t[k].type = (TYPE),             \
     t[k].ne[0] = (uint64_t)(N0), t[k].ne[1] = (uint64_t)(N1), t[k].scale = (SC), k++)
    ADD("token_embd.weight", s->type, s->dim, s->vocab, 1.0f);
    ADD("output_norm.weight", QT_F32, s->dim, 1, 0.0f);
    if (!s->tied)
        ADD("output.weight", s->type, s->dim, s->vocab, a_dim);
    for (int32_t l = 0; l < s->layers; l++) {
        char nm[48];
#define L(SUFFIX) (snprintf(nm, sizeof nm, "blk.%d." SUFFIX, l), nm)
        ADD(L("attn_norm.weight"), QT_F32, s->dim, 1, 0.0f);
        ADD(L("attn_q.weight"), s->type, s->dim, s->dim, a_dim);
        ADD(L("attn_k.weight"), s->type, s->dim, kv, a_dim);
        ADD(L("attn_v.weight"), s->type, s->dim, kv, a_dim);
        ADD(L("attn_output.weight"), s->type, s->dim, s->dim, a_dim);
        ADD(L("ffn_norm.weight"), QT_F32, s->dim, 1, 0.0f);
        ADD(L("ffn_gate.weight"), s->type, s->dim, s->ffn, a_dim);
        ADD(L("ffn_up.weight"), s->type, s->dim, s->ffn, a_dim);
        ADD(L("ffn_down.weight"), s->type, s->ffn, s->dim, a_ffn);
#undef L
    }
#undef ADD
    *out = t;
    return (int)k;
}

/* ---- spec ---- */

void genmodel_spec_defaults(struct genmodel_spec *s)
{
    *s = (struct genmodel_spec){.dim = 64, .layers = 2, .heads = 4, .kv_heads = 2, .ffn = 192,
                                .vocab = 512, .ctx = 512, .type = QT_F32, .seed = 1};
}

int genmodel_check(const struct genmodel_spec *s, char err[FIEF_ERR_LEN])
{
    const struct qtype_info *ti = qtype_info(s->type);
    if (!ti || !(s->type == QT_F32 || s->type == QT_F16 || s->type == QT_BF16 ||
                 s->type == QT_Q8_0 || s->type == QT_Q4_0))
        return fief_errf(err, FIEF_EINVAL, "type must be f32, f16, bf16, q8_0 or q4_0");
    if (s->dim < 8 || s->dim > 16384 || s->layers < 1 || s->layers > 256 || s->heads < 1 ||
        s->kv_heads < 1 || s->ffn < 1 || s->ffn > 65536 || s->ctx < 1 || s->ctx > (1 << 20))
        return fief_errf(err, FIEF_EINVAL, "dimensions out of range (dim 8..16384, layers "
                         "1..256, ffn 1..65536, ctx 1..1048576)");
    if (s->dim % s->heads || (s->dim / s->heads) % 2)
        return fief_errf(err, FIEF_EINVAL, "dim %d must be a multiple of heads %d with an even "
                         "head size", s->dim, s->heads);
    if (s->heads % s->kv_heads)
        return fief_errf(err, FIEF_EINVAL, "heads %d must be a multiple of kv-heads %d",
                         s->heads, s->kv_heads);
    if (s->dim % (int32_t)ti->blck || s->ffn % (int32_t)ti->blck)
        return fief_errf(err, FIEF_EINVAL, "dim and ffn must be multiples of %u for %s",
                         ti->blck, ti->name);
    if (s->vocab < N_BASE || s->vocab > (1 << 18))
        return fief_errf(err, FIEF_EINVAL, "vocab must be in [%d, %d]", N_BASE, 1 << 18);
    return 0;
}

static void set_metadata(struct gguf_writer *w, const struct genmodel_spec *s,
                         const struct vocab *v)
{
    static const uint32_t ftype[] = {[QT_F32] = 0, [QT_F16] = 1, [QT_Q4_0] = 2, [QT_Q8_0] = 7,
                                     [QT_BF16] = 32};
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_str(w, "general.name", "fief-generated");
    gguf_writer_set_u32(w, "general.file_type", ftype[s->type]);
    gguf_writer_set_u32(w, "llama.context_length", (uint32_t)s->ctx);
    gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)s->dim);
    gguf_writer_set_u32(w, "llama.block_count", (uint32_t)s->layers);
    gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)s->ffn);
    gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)s->heads);
    gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)s->kv_heads);
    gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)(s->dim / s->heads));
    gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f);
    gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    gguf_writer_set_u32(w, "llama.vocab_size", (uint32_t)s->vocab);
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2");
    gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens", (const char *const *)v->text,
                            (uint64_t)v->n);
    int32_t *types = xmalloc((size_t)v->n * sizeof *types);
    for (int32_t i = 0; i < v->n; i++)
        types[i] = i < N_SPECIAL ? 3 : 1; /* control, normal */
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, (uint64_t)v->n);
    free(types);
    gguf_writer_set_str_arr(w, "tokenizer.ggml.merges", (const char *const *)v->merges,
                            (uint64_t)v->n_merges);
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 0);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 1);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
}

int genmodel_write(const char *path, const struct genmodel_spec *s, char err[FIEF_ERR_LEN])
{
    int rc = genmodel_check(s, err);
    if (rc)
        return rc;
    quant_init();
    struct vocab v = {0};
    if ((rc = build_vocab(&v, s))) {
        vocab_free(&v);
        return fief_errf(err, rc, "could not build a vocabulary of %d tokens", s->vocab);
    }
    struct gguf_writer *w = gguf_writer_new();
    set_metadata(w, s, &v);
    struct tensor_spec *ts;
    int nt = tensor_list(s, &ts);
    int32_t max_in = s->dim > s->ffn ? s->dim : s->ffn;
    struct filler f = {ts, s->seed, xmalloc((size_t)max_in * sizeof(float))};
    for (int i = 0; i < nt && !rc; i++) {
        int nd = ts[i].ne[1] == 1 ? 1 : 2;
        rc = gguf_writer_add_tensor(w, ts[i].name, ts[i].type, (uint32_t)nd, ts[i].ne,
                                    fill_tensor, &f);
        if (rc)
            fief_errf(err, rc, "cannot declare tensor %s", ts[i].name);
    }
    if (!rc)
        rc = gguf_writer_save(w, path, err);
    gguf_writer_free(w);
    free(f.row);
    free(ts);
    vocab_free(&v);
    return rc;
}
