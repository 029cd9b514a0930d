/* SPDX-License-Identifier: MIT */
/* Architectures that differ from llama only in metadata and layout: a qwen2
 * file (NeoX RoPE, q/k/v biases) made from a llama file by the permutation
 * a converter applies must compute the very same function, which checks the
 * NeoX rotation and the bias path against the llama path. Also mistral. */
#include "testutil.h"
#include "engine/engine.h"
#include "engine/genmodel.h"
#include "engine/gguf.h"
#include "engine/quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADS 4
#define KV_HEADS 2
#define DIM 64
#define HD (DIM / HEADS)

struct conv {
    const struct gguf *src;
    const char *arch;  /* new architecture name */
    bool neox;         /* permute q/k rows from pair (2i, 2i+1) to (i, i + hd/2) */
    float *zeros;      /* for bias tensors */
};

/* "llama.x" -> "<arch>.x"; other keys unchanged. */
static void new_key(const struct conv *c, const struct gguf_str k, char *out, size_t cap)
{
    if (k.len > 6 && !memcmp(k.ptr, "llama.", 6))
        snprintf(out, cap, "%s.%.*s", c->arch, (int)k.len - 6, k.ptr + 6);
    else
        snprintf(out, cap, "%.*s", (int)k.len, k.ptr);
}

static void copy_kv(const struct conv *c, struct gguf_writer *w, size_t i)
{
    struct gguf_str k = gguf_kv_key(c->src, i);
    char from[128], to[128];
    snprintf(from, sizeof from, "%.*s", (int)k.len, k.ptr);
    new_key(c, k, to, sizeof to);
    uint32_t u;
    float f;
    bool b;
    struct gguf_str s;
    switch (gguf_kv_type(c->src, i)) {
    case GGUF_TYPE_UINT32:
        assert_int_equal(gguf_get_u32(c->src, from, &u), 0);
        gguf_writer_set_u32(w, to, u);
        break;
    case GGUF_TYPE_FLOAT32:
        assert_int_equal(gguf_get_f32(c->src, from, &f), 0);
        gguf_writer_set_f32(w, to, f);
        break;
    case GGUF_TYPE_BOOL:
        assert_int_equal(gguf_get_bool(c->src, from, &b), 0);
        gguf_writer_set_bool(w, to, b);
        break;
    case GGUF_TYPE_STRING: {
        assert_int_equal(gguf_get_str(c->src, from, &s), 0);
        char *v = strndup(s.ptr, s.len);
        gguf_writer_set_str(w, to, strcmp(from, "general.architecture") ? v : c->arch);
        free(v);
        break;
    }
    case GGUF_TYPE_ARRAY: {
        enum gguf_type et;
        uint64_t n;
        const void *data;
        if (gguf_get_arr(c->src, from, &et, &n, &data) == 0) {
            gguf_writer_set_arr(w, to, et, data, n);
            break;
        }
        struct gguf_str *strs;
        assert_int_equal(gguf_get_str_arr(c->src, from, &strs, &n), 0);
        char **v = calloc(n, sizeof *v);
        for (uint64_t j = 0; j < n; j++)
            v[j] = strndup(strs[j].ptr, strs[j].len);
        gguf_writer_set_str_arr(w, to, (const char *const *)v, n);
        for (uint64_t j = 0; j < n; j++)
            free(v[j]);
        free(v);
        free(strs);
        break;
    }
    default:
        fail_msg("unexpected metadata type for %s", from);
    }
}

struct tensor_ref {
    const struct conv *c;
    const struct gguf_tensor *t; /* NULL: a zero bias */
    bool permute;
};

static void fill(void *ud, size_t idx, void *dst, uint64_t nbytes)
{
    const struct tensor_ref *r = (const struct tensor_ref *)ud + idx;
    if (!r->t) {
        memset(dst, 0, nbytes);
        return;
    }
    size_t row = (size_t)r->t->nbytes / (size_t)r->t->ne[1];
    for (uint64_t out = 0; out < r->t->ne[1]; out++) {
        uint64_t in = out;
        if (r->permute) { /* NeoX position i of a head holds llama's 2i, i + hd/2 holds 2i + 1 */
            uint64_t h = out / HD, i = out % HD;
            in = h * HD + (i < HD / 2 ? 2 * i : 2 * (i - HD / 2) + 1);
        }
        memcpy((char *)dst + out * row, (const char *)r->t->data + in * row, row);
    }
}

static bool is_qk(const char *name)
{
    return strstr(name, "attn_q.weight") || strstr(name, "attn_k.weight");
}

static void convert(const char *src_path, const char *dst_path, const char *arch, bool neox)
{
    char err[FIEF_ERR_LEN];
    struct gguf *g;
    assert_int_equal(gguf_open(src_path, &g, err), 0);
    static float zeros[DIM];
    struct conv c = {g, arch, neox, zeros};
    struct gguf_writer *w = gguf_writer_new();
    for (size_t i = 0; i < gguf_n_kv(g); i++)
        copy_kv(&c, w, i);
    size_t nt = gguf_n_tensors(g);
    struct tensor_ref *refs = calloc(nt * 2, sizeof *refs);
    size_t k = 0;
    for (size_t i = 0; i < nt; i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        refs[k] = (struct tensor_ref){&c, t, neox && is_qk(name)};
        assert_int_equal(gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, fill, refs),
                         0);
        k++;
        if (neox && (strstr(name, "attn_q.weight") || strstr(name, "attn_k.weight") ||
                     strstr(name, "attn_v.weight"))) {
            /* qwen2's biases: zero, so the function is unchanged */
            char bias[128];
            snprintf(bias, sizeof bias, "%.*s.bias", (int)(strlen(name) - 7), name);
            uint64_t ne[1] = {t->ne[1]};
            refs[k] = (struct tensor_ref){&c, NULL, false};
            assert_int_equal(gguf_writer_add_tensor(w, bias, QT_F32, 1, ne, fill, refs), 0);
            k++;
        }
    }
    assert_int_equal(gguf_writer_save(w, dst_path, err), 0);
    gguf_writer_free(w);
    free(refs);
    gguf_free(g);
}

struct out {
    int n;
    int32_t id[40];
    float lp[40];
};

static int collect(void *ud, const struct eng_pick *p)
{
    struct out *o = ud;
    o->id[o->n] = p->id;
    o->lp[o->n++] = p->logprob;
    return 0;
}

static void generate(const char *path, struct out *o, char *arch_out)
{
    char err[FIEF_ERR_LEN];
    struct eng_model *m;
    if (eng_model_load(path, &m, err))
        fail_msg("%s", err);
    struct eng_model_info mi;
    eng_model_get_info(m, &mi);
    snprintf(arch_out, 32, "%s", mi.arch);
    struct eng_threads *th = eng_threads_new(2);
    struct eng_ctx *c;
    assert_int_equal(eng_ctx_new(m, 256, th, &c, err), 0);
    struct eng_sampler *s = eng_sampler_new(mi.n_vocab);
    int32_t prompt[64];
    size_t np;
    const char *text = "the king of the mountain gave them a gift";
    assert_int_equal(eng_tokenize(eng_model_vocab(m), text, strlen(text), ENG_TOK_ADD_BOS,
                                  prompt, 64, &np),
                     0);
    struct eng_sampling sp;
    eng_sampling_defaults(&sp);
    memset(o, 0, sizeof *o);
    assert_int_equal(eng_generate(c, s, &sp, prompt, np, 40, 0, collect, o, NULL), 0);
    eng_sampler_free(s);
    eng_ctx_free(c);
    eng_threads_free(th);
    eng_model_free(m);
}

static void same_function(const char *arch, bool neox)
{
    char a[512], b[512], arch_a[32], arch_b[32];
    snprintf(a, sizeof a, "%s/llama.gguf", tu_tmpdir());
    snprintf(b, sizeof b, "%s/%s.gguf", tu_tmpdir(), arch);
    struct genmodel_spec s;
    genmodel_spec_defaults(&s);
    s.dim = DIM;
    s.heads = HEADS;
    s.kv_heads = KV_HEADS;
    s.ffn = 160;
    s.layers = 3;
    s.vocab = 600;
    s.seed = 11;
    char err[FIEF_ERR_LEN];
    assert_int_equal(genmodel_write(a, &s, err), 0);
    convert(a, b, arch, neox);
    struct out oa, ob;
    generate(a, &oa, arch_a);
    generate(b, &ob, arch_b);
    assert_string_equal(arch_a, "llama");
    assert_string_equal(arch_b, arch);
    assert_int_equal(oa.n, ob.n);
    double worst = 0;
    for (int i = 0; i < oa.n; i++) {
        assert_int_equal(oa.id[i], ob.id[i]);
        worst = fmax(worst, fabs(oa.lp[i] - ob.lp[i]));
    }
    printf("%s vs llama: %d tokens identical, max logprob diff %.2e\n", arch, oa.n, worst);
    assert_true(worst < 2e-3); /* summation order only (and f16 rounding flips) */
}

static void test_qwen2_neox_and_biases(void **state)
{
    (void)state;
    same_function("qwen2", true);
}

static void test_mistral(void **state)
{
    (void)state;
    same_function("mistral", false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qwen2_neox_and_biases),
        cmocka_unit_test(test_mistral),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
