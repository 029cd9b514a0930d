/* SPDX-License-Identifier: MIT */
/* Loading a llama-family GGUF model: hyper-parameters from metadata, every
 * tensor checked for presence, shape and a supported type, 1-D tensors copied
 * out as floats, matrices left in the mapping. */
#include "engine/model_impl.h"
#include "engine/quant.h"
#include "engine/tok.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Architectures that share llama's graph and differ only in metadata. */
static const struct arch {
    const char *name;
    bool neox;      /* rope pairing */
} archs[] = {
    {"llama", false},
    {"mistral", false},
    {"qwen2", true},
};

/* Sanity bounds on hyper-parameters: beyond these a file is not a model we
 * can run, whatever its tensors say. */
#define MAX_EMBD (1 << 16)
#define MAX_LAYERS 512
#define MAX_HEADS 1024
#define MAX_FF (1 << 20)

struct loader {
    const struct gguf *g;
    char prefix[40];        /* "<arch>." */
    char *err;
    size_t vec_used, vec_cap;
    float *vecs;
};

/* ---- metadata ---- */

static int get_u32(struct loader *l, const char *key, uint32_t *out, bool required,
                   uint32_t dflt)
{
    char full[128];
    snprintf(full, sizeof full, "%s%s", l->prefix, key);
    int rc = gguf_get_u32(l->g, full, out);
    if (rc == FIEF_ENOTFOUND && !required) {
        *out = dflt;
        return 0;
    }
    if (rc)
        return fief_errf(l->err, FIEF_EFORMAT, "metadata %s: %s", full,
                         rc == FIEF_ENOTFOUND ? "missing" : "not an unsigned integer");
    return 0;
}

static int get_f32(struct loader *l, const char *key, float *out, float dflt)
{
    char full[128];
    snprintf(full, sizeof full, "%s%s", l->prefix, key);
    int rc = gguf_get_f32(l->g, full, out);
    if (rc == FIEF_ENOTFOUND) {
        *out = dflt;
        return 0;
    }
    if (rc || !isfinite(*out))
        return fief_errf(l->err, FIEF_EFORMAT, "metadata %s: not a finite float", full);
    return 0;
}

static int check_range(struct loader *l, const char *what, uint32_t v, uint32_t lo, uint32_t hi)
{
    if (v < lo || v > hi)
        return fief_errf(l->err, FIEF_EFORMAT, "metadata %s%s = %u is outside [%u, %u]",
                         l->prefix, what, v, lo, hi);
    return 0;
}

static int read_rope(struct loader *l, struct hparams *hp)
{
    int rc;
    if ((rc = get_f32(l, "rope.freq_base", &hp->rope_base, 10000.0f)))
        return rc;
    if (!(hp->rope_base > 1.0f))
        return fief_errf(l->err, FIEF_EFORMAT, "metadata %srope.freq_base must be > 1",
                         l->prefix);
    float factor = 0.0f;
    char full[128];
    struct gguf_str type = {"", 0};
    snprintf(full, sizeof full, "%srope.scaling.type", l->prefix);
    gguf_get_str(l->g, full, &type);
    if ((rc = get_f32(l, "rope.scaling.factor", &factor, 0.0f)))
        return rc;
    if (factor == 0.0f && (rc = get_f32(l, "rope.scale_linear", &factor, 0.0f)))
        return rc;
    if (type.len && !gguf_str_eq(type, "none") && !gguf_str_eq(type, "linear"))
        return fief_errf(l->err, FIEF_EUNSUPPORTED,
                         "rope scaling type \"%.*s\" is not supported (only none and linear)",
                         (int)(type.len > 32 ? 32 : type.len), type.ptr);
    if (gguf_str_eq(type, "none"))
        factor = 0.0f;
    if (factor != 0.0f && !(factor >= 1.0f && factor <= 1024.0f))
        return fief_errf(l->err, FIEF_EFORMAT, "rope scaling factor %g is out of range",
                         (double)factor);
    hp->rope_scale = factor > 0.0f ? 1.0f / factor : 1.0f;
    return 0;
}

static int read_hparams(struct loader *l, struct hparams *hp)
{
    uint32_t embd, layers, heads, heads_kv, ff, ctx, rot, klen, vlen;
    int rc;
    if ((rc = get_u32(l, "embedding_length", &embd, true, 0)) ||
        (rc = get_u32(l, "block_count", &layers, true, 0)) ||
        (rc = get_u32(l, "feed_forward_length", &ff, true, 0)) ||
        (rc = get_u32(l, "attention.head_count", &heads, true, 0)) ||
        (rc = get_u32(l, "context_length", &ctx, false, 2048)))
        return rc;
    if ((rc = check_range(l, "embedding_length", embd, 1, MAX_EMBD)) ||
        (rc = check_range(l, "block_count", layers, 1, MAX_LAYERS)) ||
        (rc = check_range(l, "feed_forward_length", ff, 1, MAX_FF)) ||
        (rc = check_range(l, "attention.head_count", heads, 1, MAX_HEADS)) ||
        (rc = check_range(l, "context_length", ctx, 1, 1u << 24)))
        return rc;
    if ((rc = get_u32(l, "attention.head_count_kv", &heads_kv, false, heads)) ||
        (rc = check_range(l, "attention.head_count_kv", heads_kv, 1, heads)))
        return rc;
    if (heads % heads_kv)
        return fief_errf(l->err, FIEF_EFORMAT, "head_count %u is not a multiple of "
                         "head_count_kv %u", heads, heads_kv);
    uint32_t hd = embd / heads;
    if ((rc = get_u32(l, "attention.key_length", &klen, false, hd)) ||
        (rc = get_u32(l, "attention.value_length", &vlen, false, klen)))
        return rc;
    if (klen != vlen || klen == 0 || klen > 4096 || klen % 2)
        return fief_errf(l->err, FIEF_EFORMAT, "unsupported head size: key %u, value %u",
                         klen, vlen);
    if ((rc = get_u32(l, "rope.dimension_count", &rot, false, klen)))
        return rc;
    if (rot == 0 || rot > klen || rot % 2)
        return fief_errf(l->err, FIEF_EFORMAT, "rope.dimension_count %u must be even and "
                         "at most the head size %u", rot, klen);
    hp->n_embd = (int32_t)embd;
    hp->n_layer = (int32_t)layers;
    hp->n_head = (int32_t)heads;
    hp->n_head_kv = (int32_t)heads_kv;
    hp->head_dim = (int32_t)klen;
    hp->n_ff = (int32_t)ff;
    hp->n_ctx_train = (int32_t)ctx;
    hp->n_rot = (int32_t)rot;
    if ((rc = get_f32(l, "attention.layer_norm_rms_epsilon", &hp->eps, 1e-5f)))
        return rc;
    if (!(hp->eps > 0.0f && hp->eps < 1.0f))
        return fief_errf(l->err, FIEF_EFORMAT, "rms epsilon %g out of range", (double)hp->eps);
    return read_rope(l, hp);
}

/* ---- tensors ---- */

static const struct gguf_tensor *find(struct loader *l, const char *name, bool required,
                                      int *rc)
{
    const struct gguf_tensor *t = gguf_tensor_find(l->g, name);
    if (!t && required)
        *rc = fief_errf(l->err, FIEF_EFORMAT, "tensor %s is missing", name);
    return t;
}

static int shape_err(struct loader *l, const char *name, const struct gguf_tensor *t,
                     int64_t n0, int64_t n1)
{
    return fief_errf(l->err, FIEF_EFORMAT,
                     "tensor %s has shape [%llu, %llu, %llu], expected [%lld, %lld]", name,
                     (unsigned long long)t->ne[0], (unsigned long long)t->ne[1],
                     (unsigned long long)t->ne[2], (long long)n0, (long long)n1);
}

static int load_mat(struct loader *l, const char *name, int64_t n_in, int64_t n_out,
                    bool required, struct mat *m)
{
    int rc = 0;
    memset(m, 0, sizeof *m);
    const struct gguf_tensor *t = find(l, name, required, &rc);
    if (!t)
        return rc;
    if (t->ne[0] != (uint64_t)n_in || t->ne[1] != (uint64_t)n_out || t->ne[2] != 1 ||
        t->ne[3] != 1)
        return shape_err(l, name, t, n_in, n_out);
    const struct qtype_info *ti = qtype_info(t->type);
    if (!ti || !ti->supported)
        return fief_errf(l->err, FIEF_EUNSUPPORTED,
                         "tensor %s has type %s, which the engine cannot run (supported: "
                         "f32, f16, bf16, q8_0, q4_0, q4_K, q6_K)",
                         name, ti ? ti->name : "unknown");
    m->data = t->data;
    m->type = t->type;
    m->n_in = (int32_t)n_in;
    m->n_out = (int32_t)n_out;
    m->row_bytes = qtype_row_size(t->type, (size_t)n_in);
    return 0;
}

/* Copy a 1-D tensor of n elements out as floats. */
static int load_vec(struct loader *l, const char *name, int64_t n, bool required,
                    const float **out)
{
    int rc = 0;
    *out = NULL;
    const struct gguf_tensor *t = find(l, name, required, &rc);
    if (!t)
        return rc;
    if (t->n_elements != (uint64_t)n || t->ne[0] != (uint64_t)n)
        return shape_err(l, name, t, n, 1);
    if (t->type != QT_F32 && t->type != QT_F16 && t->type != QT_BF16)
        return fief_errf(l->err, FIEF_EUNSUPPORTED, "tensor %s must be f32, f16 or bf16",
                         name);
    if (l->vec_used + (size_t)n > l->vec_cap)
        return fief_errf(l->err, FIEF_EFORMAT, "too many vector tensors");
    float *dst = l->vecs + l->vec_used;
    quant_dequant_row(t->type, t->data, dst, (size_t)n);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(dst[i]))
            return fief_errf(l->err, FIEF_EFORMAT, "tensor %s holds a non-finite value at %lld",
                             name, (long long)i);
    l->vec_used += (size_t)n;
    *out = dst;
    return 0;
}

static int load_layer(struct loader *l, const struct hparams *hp, int i, struct layer *ly)
{
    char n[96];
    int rc;
    int64_t e = hp->n_embd, q = (int64_t)hp->n_head * hp->head_dim;
    int64_t kv = (int64_t)hp->n_head_kv * hp->head_dim;
#define NAME(s) (snprintf(n, sizeof n, "blk.%d." s, i), n)
    if ((rc = load_vec(l, NAME("attn_norm.weight"), e, true, &ly->attn_norm)) ||
        (rc = load_mat(l, NAME("attn_q.weight"), e, q, true, &ly->wq)) ||
        (rc = load_mat(l, NAME("attn_k.weight"), e, kv, true, &ly->wk)) ||
        (rc = load_mat(l, NAME("attn_v.weight"), e, kv, true, &ly->wv)) ||
        (rc = load_mat(l, NAME("attn_output.weight"), q, e, true, &ly->wo)) ||
        (rc = load_vec(l, NAME("attn_q.bias"), q, false, &ly->bq)) ||
        (rc = load_vec(l, NAME("attn_k.bias"), kv, false, &ly->bk)) ||
        (rc = load_vec(l, NAME("attn_v.bias"), kv, false, &ly->bv)) ||
        (rc = load_vec(l, NAME("ffn_norm.weight"), e, true, &ly->ffn_norm)) ||
        (rc = load_mat(l, NAME("ffn_gate.weight"), e, hp->n_ff, true, &ly->w_gate)) ||
        (rc = load_mat(l, NAME("ffn_up.weight"), e, hp->n_ff, true, &ly->w_up)) ||
        (rc = load_mat(l, NAME("ffn_down.weight"), hp->n_ff, e, true, &ly->w_down)))
        return rc;
#undef NAME
    return 0;
}

/* Bytes of float storage the 1-D tensors can need: norms, biases, rope freqs. */
static size_t vec_budget(const struct hparams *hp)
{
    size_t q = (size_t)hp->n_head * (size_t)hp->head_dim;
    size_t kv = (size_t)hp->n_head_kv * (size_t)hp->head_dim;
    return (size_t)hp->n_layer * (2 * (size_t)hp->n_embd + q + 2 * kv) + (size_t)hp->n_embd +
           (size_t)hp->n_rot;
}

static int load_tensors(struct loader *l, struct eng_model *m)
{
    const struct hparams *hp = &m->hp;
    int rc;
    l->vec_cap = vec_budget(hp);
    l->vecs = m->vecs = malloc(l->vec_cap * sizeof(float));
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->vecs || !m->layers)
        return fief_errf(l->err, FIEF_ENOMEM, "out of memory loading the model");
    const struct gguf_tensor *emb = find(l, "token_embd.weight", true, &rc);
    if (!emb)
        return rc;
    if (emb->ne[1] < 1 || emb->ne[1] > TOK_MAX_VOCAB)
        return shape_err(l, "token_embd.weight", emb, hp->n_embd, -1);
    m->hp.n_vocab = (int32_t)emb->ne[1];
    if ((rc = load_mat(l, "token_embd.weight", hp->n_embd, hp->n_vocab, true, &m->tok_embd)) ||
        (rc = load_vec(l, "output_norm.weight", hp->n_embd, true, &m->output_norm)) ||
        (rc = load_mat(l, "output.weight", hp->n_embd, hp->n_vocab, false, &m->output)) ||
        (rc = load_vec(l, "rope_freqs.weight", hp->n_rot / 2, false, &m->rope_freqs)))
        return rc;
    if (!m->output.data)
        m->output = m->tok_embd; /* tied embeddings */
    for (int i = 0; i < hp->n_layer; i++)
        if ((rc = load_layer(l, hp, i, &m->layers[i])))
            return rc;
    return 0;
}

/* ---- info ---- */

static uint64_t mat_bytes(const struct mat *m)
{
    return (uint64_t)m->row_bytes * (uint64_t)m->n_out;
}

static void fill_info(struct eng_model *m, const char *arch)
{
    struct eng_model_info *in = &m->info;
    const struct hparams *hp = &m->hp;
    snprintf(in->arch, sizeof in->arch, "%s", arch);
    struct gguf_str name;
    if (gguf_get_str(m->g, "general.name", &name) == 0)
        snprintf(in->name, sizeof in->name, "%.*s", (int)(name.len > 127 ? 127 : name.len),
                 name.ptr);
    in->n_vocab = hp->n_vocab;
    in->n_ctx_train = hp->n_ctx_train;
    in->n_embd = hp->n_embd;
    in->n_layer = hp->n_layer;
    in->n_head = hp->n_head;
    in->n_head_kv = hp->n_head_kv;
    in->n_ff = hp->n_ff;
    for (size_t i = 0; i < gguf_n_tensors(m->g); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(m->g, i);
        in->n_params += t->n_elements;
        in->weight_bytes += t->nbytes;
    }
    /* Decode reads every matrix once per token, but only one row of the
     * embedding table (unless the table is also the output matrix). */
    uint64_t dec = mat_bytes(&m->output);
    for (int i = 0; i < hp->n_layer; i++) {
        const struct layer *ly = &m->layers[i];
        dec += mat_bytes(&ly->wq) + mat_bytes(&ly->wk) + mat_bytes(&ly->wv) +
               mat_bytes(&ly->wo) + mat_bytes(&ly->w_gate) + mat_bytes(&ly->w_up) +
               mat_bytes(&ly->w_down);
    }
    in->decode_bytes = dec;
    const struct qtype_info *ti = qtype_info(m->layers[0].w_gate.type);
    in->ftype = ti ? ti->name : "?";
}

/* ---- public ---- */

int eng_model_load(const char *path, struct eng_model **out, char err[FIEF_ERR_LEN])
{
    char ebuf[FIEF_ERR_LEN];
    *out = NULL;
    quant_init();
    struct eng_model *m = calloc(1, sizeof *m);
    if (!m)
        return fief_errf(err, FIEF_ENOMEM, "out of memory");
    int rc = gguf_open(path, &m->g, ebuf);
    if (rc) {
        free(m);
        return fief_errf(err, rc, "%s: %s", path, ebuf);
    }
    struct loader l = {.g = m->g, .err = ebuf};
    struct gguf_str arch;
    const struct arch *a = NULL;
    if (gguf_get_str(m->g, "general.architecture", &arch)) {
        rc = fief_errf(ebuf, FIEF_EFORMAT, "metadata general.architecture is missing");
        goto fail;
    }
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (gguf_str_eq(arch, archs[i].name))
            a = &archs[i];
    if (!a) {
        rc = fief_errf(ebuf, FIEF_EUNSUPPORTED, "architecture \"%.*s\" is not supported "
                       "(llama, mistral, qwen2)", (int)(arch.len > 32 ? 32 : arch.len), arch.ptr);
        goto fail;
    }
    snprintf(l.prefix, sizeof l.prefix, "%s.", a->name);
    m->hp.rope_neox = a->neox;
    if ((rc = read_hparams(&l, &m->hp)) || (rc = load_tensors(&l, m)))
        goto fail;
    if ((rc = tok_vocab_load(m->g, &m->vocab, ebuf)))
        goto fail;
    m->hp.n_tok_vocab = eng_vocab_size(m->vocab);
    if (m->hp.n_tok_vocab > m->hp.n_vocab) {
        rc = fief_errf(ebuf, FIEF_EFORMAT, "tokenizer has %d tokens but the embedding table "
                       "only %d rows", m->hp.n_tok_vocab, m->hp.n_vocab);
        goto fail;
    }
    fill_info(m, a->name);
    *out = m;
    return 0;
fail:
    fief_errf(err, rc, "%s: %s", path, ebuf);
    eng_model_free(m);
    return rc;
}

void eng_model_free(struct eng_model *m)
{
    if (!m)
        return;
    eng_vocab_free(m->vocab);
    gguf_free(m->g);
    free(m->layers);
    free(m->vecs);
    free(m);
}

void eng_model_get_info(const struct eng_model *m, struct eng_model_info *out)
{
    *out = m->info;
}

const struct eng_vocab *eng_model_vocab(const struct eng_model *m)
{
    return m->vocab;
}
