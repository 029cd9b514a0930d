/* SPDX-License-Identifier: MIT */
/* bench_audit: the figures behind docs/audits.md. Honest miners on different
 * kernels and thread counts audit each other (false positives, the spread of
 * log-prob differences and margins, against the default thresholds and
 * tighter ones); each cheat of issue 5 is audited the same way (the chance an
 * audited part fails); then a Monte Carlo of the default policy on those
 * measured outcomes gives jobs until a ban, the share of fraudulent earnings
 * paid out, audit work as a share of all work (from score vs generation time
 * measured in the same run) and each cheat's profit against honest mining.
 * Drives the engine and verdict_judge directly, no sockets. Not a test. */
#include "common/clock.h"
#include "common/xalloc.h"
#include "engine/engine.h"
#include "engine/genmodel.h"
#include "engine/gguf.h"
#include "engine/quant.h"
#include "pool/verdict.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROMPT 96
#define MAX_GEN 256
#define N_CONF 3
#define N_RATES 5

/* ---- options and the policy's defaults ---- */

struct opts {
    const char *models; /* directory of the shared GGUF files */
    const char *dir;    /* where generated and derived models are cached */
    uint32_t positions; /* honest audited positions per model and mode, at least */
    uint32_t cheat_parts;
    uint32_t runs;     /* Monte Carlo runs per cheat and variant */
    uint32_t rep_jobs; /* honest jobs before a reputation builder cheats */
    double cost;       /* an honest job's compute cost / its earnings */
    bool big;          /* also time score vs generation on a 32000-vocab model */
};

/* The pool's defaults (docs/audits.md, test_verdict.c). */
static const struct verdict_cfg DEFAULT_CFG = {.greedy_margin = 0.05,
                                               .sample_margin = 0.002,
                                               .logprob_tol = 0.05,
                                               .tie_tol = 0.1,
                                               .slack = 1,
                                               .slack_rate = 0.01};
#define AUDIT_RATE 1.0
#define AUDIT_HALF 20.0
#define AUDIT_FLOOR 0.02
#define MATURITY_H 24.0 /* maturity_s 86400 */

static const double JOB_RATES[N_RATES] = {0.1, 1, 10, 100, 1000}; /* jobs per hour */

static double audit_rate(uint32_t passed)
{
    double r = AUDIT_RATE * AUDIT_HALF / (AUDIT_HALF + passed);
    return r > AUDIT_FLOOR ? r : AUDIT_FLOOR;
}

/* Tighter and looser settings, judged on the same parts as the defaults. */
struct variant {
    const char *name;
    struct verdict_cfg c;
};

enum { N_GRID = 10 };
static struct variant grid[N_GRID];

static void grid_init(void)
{
    for (int i = 0; i < N_GRID; i++)
        grid[i].c = DEFAULT_CFG;
    grid[0].name = "defaults";
    grid[1].name = "greedy_margin 0.01", grid[1].c.greedy_margin = 0.01;
    grid[2].name = "greedy_margin 0", grid[2].c.greedy_margin = 0;
    grid[3].name = "sample_margin 1e-4", grid[3].c.sample_margin = 1e-4;
    grid[4].name = "sample_margin 0", grid[4].c.sample_margin = 0;
    grid[5].name = "logprob_tol 0.01", grid[5].c.logprob_tol = 0.01;
    grid[6].name = "logprob_tol 0.005", grid[6].c.logprob_tol = 0.005;
    grid[7].name = "logprob_tol 0.001", grid[7].c.logprob_tol = 0.001;
    grid[8].name = "no slack (0, 0)", grid[8].c.slack = 0, grid[8].c.slack_rate = 0;
    grid[9].name = "logprob_tol 0.2", grid[9].c.logprob_tol = 0.2;
}

/* ---- small helpers ---- */

/* CPU seconds of the whole process: the machine may be shared, and wall
 * time would count other people's work. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
    return mix64(r->s += 0x9e3779b97f4a7c15ull);
}

/* Uniform in (0, 1]. */
static double rng_unit(struct rng *r)
{
    return ((double)(rng_next(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
}

/* Failures before the first success of a p-coin (p in (0, 1]). */
static uint64_t rng_geom(struct rng *r, double p)
{
    if (p >= 1.0)
        return 0;
    double g = floor(log(rng_unit(r)) / log1p(-p));
    return g > 1e15 ? (uint64_t)1e15 : (uint64_t)g;
}

struct dvec {
    double *v;
    size_t n, cap;
};

static void dvec_push(struct dvec *d, double x)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 4096;
        d->v = xrealloc(d->v, d->cap * sizeof *d->v);
    }
    d->v[d->n++] = x;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (nearest rank) of d, sorting it; 0 when empty. */
static double dvec_quantile(struct dvec *d, double q)
{
    if (!d->n)
        return 0;
    qsort(d->v, d->n, sizeof *d->v, cmp_dbl);
    size_t k = (size_t)ceil(q * (double)d->n);
    return d->v[k ? k - 1 : 0];
}

/* How many values are <= t. */
static size_t dvec_rank(const struct dvec *d, double t)
{
    size_t k = 0;
    for (size_t i = 0; i < d->n; i++)
        k += d->v[i] <= t;
    return k;
}

static double dvec_max(const struct dvec *d)
{
    double m = 0;
    for (size_t i = 0; i < d->n; i++)
        m = d->v[i] > m ? d->v[i] : m;
    return m;
}

/* "k/n (x%)" into buf. */
static const char *frac(char *buf, size_t cap, uint64_t k, uint64_t n)
{
    snprintf(buf, cap, "%llu/%llu (%.1f%%)", (unsigned long long)k, (unsigned long long)n,
             n ? 100.0 * (double)k / (double)n : 0.0);
    return buf;
}

/* ---- machine configurations: kernels x threads ---- */

struct conf {
    const char *kernels; /* quant_set_kernels name */
    int nth;
    struct eng_threads *th;
};

/* Every part is generated on one and audited on the two others. AVX-512 only
 * changes Q4_0 (and Q6_K) dots; F32/F16/Q8_0 run the AVX2 kernels there. */
static struct conf confs[N_CONF] = {{"avx512", 2, NULL}, {"portable", 1, NULL}, {"avx2", 1, NULL}};

static int confs_init(void)
{
    quant_init();
    for (int c = 0; c < N_CONF; c++) {
        if (quant_set_kernels(confs[c].kernels)) {
            fprintf(stderr, "bench_audit: no %s kernels on this CPU; using avx2/portable\n",
                    confs[c].kernels);
            confs[c].kernels = quant_set_kernels("avx2") ? "portable" : "avx2";
        }
        if (!(confs[c].th = eng_threads_new(confs[c].nth)))
            return -1;
    }
    return 0;
}

static void use_conf(int c)
{
    quant_set_kernels(confs[c].kernels);
}

/* ---- models ---- */

struct bmodel {
    char name[48];
    struct eng_model *m;
    const struct eng_vocab *v;
    int32_t n_vocab;
    int32_t eos;
    struct eng_ctx *ctx[N_CONF];
    struct eng_sampler *samp;
    int32_t max_tokens; /* per job */
};

static int model_open(struct bmodel *b, const char *name, const char *path, int32_t max_tokens)
{
    char err[FIEF_ERR_LEN];
    memset(b, 0, sizeof *b);
    snprintf(b->name, sizeof b->name, "%s", name);
    if (eng_model_load(path, &b->m, err)) {
        fprintf(stderr, "bench_audit: %s: %s\n", path, err);
        return -1;
    }
    struct eng_model_info mi;
    eng_model_get_info(b->m, &mi);
    b->v = eng_model_vocab(b->m);
    b->n_vocab = mi.n_vocab;
    b->eos = eng_vocab_eos(b->v);
    b->max_tokens = max_tokens;
    b->samp = eng_sampler_new(mi.n_vocab);
    for (int c = 0; c < N_CONF; c++)
        if (eng_ctx_new(b->m, MAX_PROMPT + MAX_GEN + 8, confs[c].th, &b->ctx[c], err)) {
            fprintf(stderr, "bench_audit: %s: %s\n", path, err);
            return -1;
        }
    return b->samp ? 0 : -1;
}

static void model_close(struct bmodel *b)
{
    for (int c = 0; c < N_CONF; c++)
        eng_ctx_free(b->ctx[c]);
    eng_sampler_free(b->samp);
    eng_model_free(b->m);
    memset(b, 0, sizeof *b);
}

static bool file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* A generated model, cached in dir under a name that says its spec. */
static int gen_path(const char *dir, const struct genmodel_spec *s, const char *tag, char *out,
                    size_t cap)
{
    snprintf(out, cap, "%s/audit-%s-d%d-L%d-v%d-s%llu.gguf", dir, tag, s->dim, s->layers, s->vocab,
             (unsigned long long)s->seed);
    if (file_exists(out))
        return 0;
    char err[FIEF_ERR_LEN];
    fprintf(stderr, "generating %s ...\n", out);
    if (genmodel_write(out, s, err)) {
        fprintf(stderr, "bench_audit: %s\n", err);
        return -1;
    }
    return 0;
}

/* ---- derived models: a real model quantized, or with layers dropped ---- */

struct derive {
    const struct gguf_tensor **src;
    uint32_t *type;
};

static void derive_fill(void *ud, size_t i, void *dst, uint64_t nbytes)
{
    const struct derive *d = ud;
    const struct gguf_tensor *t = d->src[i];
    if (d->type[i] == t->type) {
        memcpy(dst, t->data, nbytes);
        return;
    }
    size_t n0 = t->ne[0], rows = t->n_elements / n0, rs = qtype_row_size(d->type[i], n0);
    for (size_t r = 0; r < rows; r++)
        quant_quantize_row(d->type[i], (const float *)t->data + r * n0, (char *)dst + r * rs, n0);
}

static char *str_dup(struct gguf_str s)
{
    char *p = xmalloc(s.len + 1);
    memcpy(p, s.ptr, s.len);
    p[s.len] = 0;
    return p;
}

/* Copy key/value i of g into w; -1 for a type this copier does not know. */
static int copy_kv(struct gguf_writer *w, const struct gguf *g, size_t i)
{
    char *key = str_dup(gguf_kv_key(g, i));
    enum gguf_type t = gguf_kv_type(g, i), et;
    int rc = 0;
    uint64_t n;
    const void *data;
    struct gguf_str s, *arr;
    uint32_t u;
    int32_t i32;
    float f;
    bool b;
    if (t == GGUF_TYPE_STRING && !gguf_get_str(g, key, &s)) {
        char *v = str_dup(s);
        gguf_writer_set_str(w, key, v);
        free(v);
    } else if (t == GGUF_TYPE_ARRAY && !gguf_get_arr(g, key, &et, &n, &data)) {
        gguf_writer_set_arr(w, key, et, data, n);
    } else if (t == GGUF_TYPE_ARRAY && !gguf_get_str_arr(g, key, &arr, &n)) {
        char **v = xcalloc(n ? n : 1, sizeof *v);
        for (uint64_t k = 0; k < n; k++)
            v[k] = str_dup(arr[k]);
        gguf_writer_set_str_arr(w, key, (const char *const *)v, n);
        for (uint64_t k = 0; k < n; k++)
            free(v[k]);
        free(v);
        free(arr);
    } else if ((t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_UINT32) &&
               !gguf_get_u32(g, key, &u)) {
        gguf_writer_set_scalar(w, key, t, &u); /* little-endian: the low bytes */
    } else if ((t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32) &&
               !gguf_get_i32(g, key, &i32)) {
        gguf_writer_set_scalar(w, key, t, &i32);
    } else if (t == GGUF_TYPE_FLOAT32 && !gguf_get_f32(g, key, &f)) {
        gguf_writer_set_f32(w, key, f);
    } else if (t == GGUF_TYPE_BOOL && !gguf_get_bool(g, key, &b)) {
        gguf_writer_set_bool(w, key, b);
    } else {
        rc = -1;
    }
    free(key);
    return rc;
}

/* dst = src with only its first `layers` blocks (0: all) and its F32 matrices
 * whose rows divide into blocks converted to qtype (QT_F32: unchanged). */
static int derive_model(const char *src, const char *dst, int32_t layers, uint32_t qtype)
{
    if (file_exists(dst))
        return 0;
    char err[FIEF_ERR_LEN] = "a metadata value of a type this copier does not know";
    struct gguf *g;
    if (gguf_open(src, &g, err)) {
        fprintf(stderr, "bench_audit: %s\n", err);
        return -1;
    }
    fprintf(stderr, "deriving %s ...\n", dst);
    struct gguf_writer *w = gguf_writer_new();
    int rc = 0;
    for (size_t i = 0; i < gguf_n_kv(g) && !rc; i++)
        rc = copy_kv(w, g, i);
    if (layers > 0)
        gguf_writer_set_u32(w, "llama.block_count", (uint32_t)layers);
    size_t nt = gguf_n_tensors(g), k = 0;
    struct derive d = {xcalloc(nt, sizeof *d.src), xcalloc(nt, sizeof *d.type)};
    for (size_t i = 0; i < nt && !rc; i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        char *name = str_dup(t->name);
        int blk = -1;
        if (sscanf(name, "blk.%d.", &blk) == 1 && layers > 0 && blk >= layers) {
            free(name);
            continue;
        }
        uint32_t ty = t->type;
        if (qtype != QT_F32 && ty == QT_F32 && t->n_dims == 2 &&
            t->ne[0] % qtype_info(qtype)->blck == 0)
            ty = qtype;
        d.src[k] = t;
        d.type[k] = ty;
        rc = gguf_writer_add_tensor(w, name, ty, t->n_dims, t->ne, derive_fill, &d);
        k++;
        free(name);
    }
    if (!rc)
        rc = gguf_writer_save(w, dst, err);
    if (rc)
        fprintf(stderr, "bench_audit: cannot derive %s: %s\n", dst, err);
    gguf_writer_free(w);
    free(d.src);
    free(d.type);
    gguf_free(g);
    return rc ? -1 : 0;
}

/* ---- jobs: prompt, generation, scoring ---- */

struct part {
    int32_t tok[MAX_GEN + 1];
    float lp[MAX_GEN + 1];
    uint32_t n;
};

struct job {
    int32_t prompt[MAX_PROMPT];
    uint32_t np;
    struct eng_sampling s;
    bool greedy;
};

static int collect(void *ud, const struct eng_pick *p)
{
    struct part *pt = ud;
    if (pt->n < MAX_GEN) {
        pt->tok[pt->n] = p->id;
        pt->lp[pt->n] = p->logprob;
        pt->n++;
    }
    return 0;
}

/* Generate on configuration c; returns CPU seconds, or -1. */
static double generate(struct bmodel *b, int c, const int32_t *prompt, uint32_t np,
                       const struct eng_sampling *s, int32_t max, struct part *out)
{
    use_conf(c);
    out->n = 0;
    double t0 = cpu_s();
    if (eng_generate(b->ctx[c], b->samp, s, prompt, np, max, 0, collect, out, NULL))
        return -1;
    return cpu_s() - t0;
}

static double score(struct bmodel *b, int c, const struct job *j, const struct part *claim,
                    struct eng_score_tok *out)
{
    use_conf(c);
    double t0 = cpu_s();
    if (eng_score(b->ctx[c], b->samp, &j->s, j->prompt, j->np, claim->tok, claim->n, out))
        return -1;
    return cpu_s() - t0;
}

static const char *const STARTERS[] = {"Once upon a time",
                                       "One day, a little girl named Lily",
                                       "Tom and his mom went to",
                                       "There was a big red ball",
                                       "In the park,",
                                       "The sun was hot and",
                                       "A small bird sat on",
                                       "Ben wanted to play with",
                                       "The old man said",
                                       "It was a rainy day.",
                                       "Mia found a box",
                                       "The cat and the dog"};
#define N_STARTERS (sizeof STARTERS / sizeof STARTERS[0])

/* Job j of a model and mode: a starter sentence continued by the model itself
 * (temperature 1, 0..11 tokens), so prompts are varied and in distribution;
 * greedy, or sampled with the usual settings and a per-job seed. */
static int job_make(struct bmodel *b, uint32_t j, bool greedy, struct job *out)
{
    memset(out, 0, sizeof *out);
    const char *t = STARTERS[j % N_STARTERS];
    size_t n;
    if (eng_tokenize(b->v, t, strlen(t), ENG_TOK_ADD_BOS, out->prompt, MAX_PROMPT / 2, &n) ||
        n > MAX_PROMPT / 2)
        return -1;
    struct eng_sampling ext;
    eng_sampling_defaults(&ext);
    ext.temperature = 1.0f;
    ext.seed = mix64(0xe47ull + j);
    struct part p;
    if (generate(b, 0, out->prompt, (uint32_t)n, &ext, (int32_t)(j % 12), &p) < 0)
        return -1;
    for (uint32_t i = 0; i < p.n && !eng_vocab_is_eog(b->v, p.tok[i]); i++)
        out->prompt[n++] = p.tok[i];
    out->np = (uint32_t)n;
    eng_sampling_defaults(&out->s);
    out->greedy = greedy;
    if (!greedy) {
        out->s.temperature = 0.8f;
        out->s.top_k = 40;
        out->s.top_p = 0.95f;
        out->s.seed = mix64(0x5eedull * (j + 1));
    }
    return 0;
}

/* The verdict inputs: what was claimed against what the auditor scored.
 * Fields verdict.h may add later stay 0 (named fields only). */
static void to_pos(const struct part *claim, const struct eng_score_tok *sc,
                   struct verdict_pos *out)
{
    for (uint32_t i = 0; i < claim->n; i++)
        out[i] = (struct verdict_pos){.token = claim->tok[i],
                                      .claimed_lp = claim->lp[i],
                                      .lp = sc[i].logprob,
                                      .top_id = sc[i].top_id,
                                      .top_lp = sc[i].top_logprob,
                                      .pick = sc[i].pick,
                                      .margin = sc[i].margin,
                                      .pick_lp = sc[i].pick_logprob};
}

static bool fails(const struct verdict_cfg *c, bool greedy, const struct verdict_pos *p, uint32_t n,
                  uint32_t *disagree)
{
    struct verdict v;
    char err[FIEF_ERR_LEN];
    if (verdict_judge(c, greedy, p, n, &v, err)) {
        fprintf(stderr, "bench_audit: verdict: %s\n", err);
        exit(1);
    }
    if (disagree)
        *disagree = v.disagree;
    return !v.pass;
}

/* ---- false positives: honest miners audited by honest auditors ---- */

/* Disagreeing positions looked at more closely: was the claim cut from the
 * auditor's candidates (margin 1), and how far apart are the auditor's
 * log-probs of the claim and of its own pick (a near-tie: two candidates
 * swapped places)? */
#define TIE_PROBES 150
struct ties {
    uint32_t probed, cut;
    struct dvec gap; /* |lp(claim) - lp(pick)|, auditor's, when not cut */
};

/* The defaults without slack: does one position disagree? */
static const struct verdict_cfg ONE_POS = {.greedy_margin = 0.05,
                                           .sample_margin = 0.002,
                                           .logprob_tol = 0.05,
                                           .tie_tol = 0.1,
                                           .slack = 0,
                                           .slack_rate = 0};

struct fp_stats {
    uint32_t parts, positions; /* judged by the first auditor */
    uint32_t cmps;             /* part x auditor comparisons (2 per part) */
    uint64_t cmp_positions;
    uint32_t fail1[N_GRID], confirmed[N_GRID], fail_cmp[N_GRID];
    uint64_t disagree_pos, pick_off, lp_exact;
    struct dvec dlp, margin;                                     /* every compared position */
    uint64_t pair_pos[N_CONF][N_CONF], pair_dis[N_CONF][N_CONF]; /* [generator][auditor] */
    uint32_t eog_parts, eog_off; /* parts ending in EOG; whose EOG position disagrees */
    struct ties ties;
};

/* What every part was scored against, kept for the cheats that need it. */
struct honest_job {
    struct job job;
    struct part part;
    int gen_conf;
    double gen_s;
};

static void fp_account(struct fp_stats *st, const struct part *pt, const struct verdict_pos *p,
                       bool greedy, bool first, bool *fail_out, int gen, int aud, int32_t eos)
{
    st->cmps++;
    st->pair_pos[gen][aud] += pt->n;
    for (uint32_t i = 0; i < pt->n; i++)
        st->pair_dis[gen][aud] += fails(&ONE_POS, greedy, &p[i], 1, NULL);
    if (first && pt->n && pt->tok[pt->n - 1] == eos) {
        st->eog_parts++;
        st->eog_off += verdict_forged_end(&DEFAULT_CFG, greedy, &p[pt->n - 1]);
    }
    st->cmp_positions += pt->n;
    if (first)
        st->positions += pt->n;
    for (uint32_t i = 0; i < pt->n; i++) {
        double d = fabs((double)p[i].claimed_lp - (double)p[i].lp);
        dvec_push(&st->dlp, d);
        st->lp_exact += d == 0;
        st->pick_off += p[i].token != p[i].pick;
        dvec_push(&st->margin, greedy && p[i].token == p[i].pick ? 0.0 : (double)p[i].margin);
    }
    for (int g = 0; g < N_GRID; g++) {
        uint32_t dis;
        fail_out[g] = fails(&grid[g].c, greedy, p, pt->n, &dis);
        st->fail_cmp[g] += fail_out[g];
        if (g == 0)
            st->disagree_pos += dis;
    }
}

/* Look closer at the sampled positions of claim that disagree on their pick
 * (judged p, scored on configuration c): one more score per position gives
 * the auditor's log-prob of its own pick. */
static void ties_probe(struct ties *t, struct bmodel *b, int c, const struct job *j,
                       const struct part *claim, const struct verdict_pos *p)
{
    if (j->greedy) /* a greedy margin already is the logit gap */
        return;
    struct part tmp;
    struct eng_score_tok sc[MAX_GEN + 1];
    for (uint32_t i = 0; i < claim->n && t->probed < TIE_PROBES; i++) {
        if (!(p[i].margin > (float)ONE_POS.sample_margin))
            continue;
        t->probed++;
        if (p[i].margin >= 1.0f) {
            t->cut++;
            continue;
        }
        memcpy(tmp.tok, claim->tok, i * sizeof *tmp.tok);
        memset(tmp.lp, 0, sizeof tmp.lp);
        tmp.tok[i] = p[i].pick;
        tmp.n = i + 1;
        if (score(b, c, j, &tmp, sc) >= 0)
            dvec_push(&t->gap, fabs((double)p[i].lp - (double)sc[i].logprob));
    }
}

/* ---- cheats ---- */

enum cheat {
    CH_SMALL,   /* (a) a smaller model's output under the big one's name */
    CH_QUANT,   /* (a') a cheaper quantization of the same weights */
    CH_RANDOM,  /* (b) random tokens (also (f): cheating on unseen prompts) */
    CH_FORGE_C, /* (c) right tokens, log-probs made up: a constant -1 */
    CH_FORGE_N, /* (c') right tokens, log-probs off by up to +-0.1 */
    CH_REPLAY,  /* (d) the previous job's completion for this prompt */
    CH_TRUNC,   /* (e) half the tokens, then an end-of-generation token */
    N_CHEAT
};

static const char *const CHEAT_NAME[N_CHEAT] = {
    "(a) smaller model",    "(a') cheaper quant", "(b) random tokens", "(c) forged lp = -1",
    "(c') forged lp +-0.1", "(d) replay",         "(e) truncate + EOG"};

struct cheat_stats {
    uint32_t parts;
    uint8_t *bits; /* per part: bit c = fails an auditor on conf c (defaults) */
    uint32_t fail1[N_GRID];
    uint64_t positions, disagree_pos;
    uint32_t eog_off;         /* (e): parts whose claimed EOG itself disagrees */
    double cheat_s, honest_s; /* generation time of the cheat and of the honest job */
    double claimed_tok, honest_tok;
    bool absent; /* not measured on this model */
    struct ties ties;
};

struct mode_stats {
    struct fp_stats fp;
    struct cheat_stats ch[N_CHEAT];
    double gen_s, score_s; /* the cost measurement, same job, same conf */
    uint32_t cost_jobs;
};

/* A cheat's claim for honest job h (prev: the job before it). NULL-model
 * cheats that need a model they lack return false. */
static bool cheat_claim(enum cheat k, struct bmodel *b, struct bmodel *small, struct bmodel *quant,
                        const struct honest_job *h, const struct honest_job *prev, struct rng *r,
                        struct part *out, double *secs)
{
    const struct job *j = &h->job;
    *secs = 0;
    switch (k) {
    case CH_SMALL:
    case CH_QUANT: {
        struct bmodel *m = k == CH_SMALL ? small : quant;
        if (!m)
            return false;
        *secs = generate(m, h->gen_conf, j->prompt, j->np, &j->s, b->max_tokens, out);
        return *secs >= 0 && out->n > 0;
    }
    case CH_RANDOM:
        out->n = h->part.n;
        for (uint32_t i = 0; i < out->n; i++) {
            out->tok[i] = (int32_t)(rng_next(r) % (uint64_t)b->n_vocab);
            out->lp[i] = -logf((float)b->n_vocab);
        }
        return true;
    case CH_FORGE_C:
    case CH_FORGE_N:
        *out = h->part;
        *secs = h->gen_s;
        for (uint32_t i = 0; i < out->n; i++) {
            double u = rng_unit(r) * 0.2 - 0.1;
            out->lp[i] = k == CH_FORGE_C ? -1.0f : fminf(0.0f, out->lp[i] + (float)u);
        }
        return true;
    case CH_REPLAY:
        *out = prev->part;
        return out->n > 0;
    case CH_TRUNC: {
        if (h->part.n < 4 || b->eos < 0)
            return false;
        uint32_t k2 = h->part.n / 2;
        *out = h->part;
        out->n = k2 + 1;
        out->tok[k2] = b->eos;
        /* The cheater's own model gives the EOG's log-prob: claim it honestly. */
        struct eng_score_tok sc[MAX_GEN + 1];
        if (score(b, h->gen_conf, j, out, sc) < 0)
            return false;
        out->lp[k2] = sc[k2].logprob;
        *secs = h->gen_s * (double)k2 / (double)h->part.n;
        return true;
    }
    default:
        return false;
    }
}

static void cheat_run(struct mode_stats *ms, struct bmodel *b, struct bmodel *small,
                      struct bmodel *quant, const struct honest_job *h,
                      const struct honest_job *prev, uint32_t cap, struct rng *r)
{
    struct part claim;
    struct eng_score_tok sc[MAX_GEN + 1];
    struct verdict_pos p[MAX_GEN + 1];
    for (int k = 0; k < N_CHEAT; k++) {
        struct cheat_stats *cs = &ms->ch[k];
        double secs;
        if (!cheat_claim((enum cheat)k, b, small, quant, h, prev, r, &claim, &secs)) {
            cs->absent |= (k == CH_SMALL && !small) || (k == CH_QUANT && !quant);
            continue;
        }
        if (!cs->bits)
            cs->bits = xcalloc(cap, 1);
        uint8_t bits = 0;
        /* The first auditor rotates with the job, like the pool's choice. */
        int first = (h->gen_conf + 1) % N_CONF;
        for (int c = 0; c < N_CONF; c++) {
            if (score(b, c, &h->job, &claim, sc) < 0)
                continue;
            to_pos(&claim, sc, p);
            uint32_t dis;
            bits |= (uint8_t)(fails(&DEFAULT_CFG, h->job.greedy, p, claim.n, &dis) << c);
            if (c != first)
                continue;
            cs->positions += claim.n;
            cs->disagree_pos += dis;
            if (k == CH_SMALL || k == CH_QUANT)
                ties_probe(&cs->ties, b, c, &h->job, &claim, p);
            for (int g = 0; g < N_GRID; g++)
                cs->fail1[g] += fails(&grid[g].c, h->job.greedy, p, claim.n, NULL);
            if (k == CH_TRUNC) /* the pool's rule for a claimed end */
                cs->eog_off += verdict_forged_end(&DEFAULT_CFG, h->job.greedy, &p[claim.n - 1]);
        }
        cs->bits[cs->parts++] = bits;
        cs->cheat_s += secs;
        cs->honest_s += h->gen_s;
        cs->claimed_tok += claim.n;
        cs->honest_tok += h->part.n;
    }
}

/* ---- one model, one mode: honest jobs, their audits, the cheats ---- */

static int run_mode(struct bmodel *b, struct bmodel *small, struct bmodel *quant, bool greedy,
                    const struct opts *o, struct mode_stats *ms)
{
    struct fp_stats *st = &ms->fp;
    struct honest_job *h = xcalloc(2, sizeof *h);
    struct eng_score_tok sc[MAX_GEN + 1];
    struct verdict_pos p[MAX_GEN + 1];
    struct rng r = {greedy ? 11u : 12u};
    uint32_t cheat_cap = o->cheat_parts;
    for (uint32_t j = 0; st->positions < o->positions || j < cheat_cap + 1; j++) {
        struct honest_job *cur = &h[j % 2], *prev = &h[(j + 1) % 2];
        if (job_make(b, j, greedy, &cur->job))
            goto fail;
        /* Generator, first and second auditor: all six orders in turn. */
        int g = (int)(j % N_CONF), a1 = (g + 1 + (int)(j / N_CONF % 2)) % N_CONF;
        int a2 = N_CONF - g - a1;
        cur->gen_conf = g;
        cur->gen_s =
            generate(b, g, cur->job.prompt, cur->job.np, &cur->job.s, b->max_tokens, &cur->part);
        if (cur->gen_s < 0 || cur->part.n == 0)
            goto fail;
        if (st->positions < o->positions) {
            bool f1[N_GRID], f2[N_GRID];
            if (score(b, a1, &cur->job, &cur->part, sc) < 0)
                goto fail;
            to_pos(&cur->part, sc, p);
            fp_account(st, &cur->part, p, greedy, true, f1, g, a1, b->eos);
            ties_probe(&st->ties, b, a1, &cur->job, &cur->part, p);
            if (score(b, a2, &cur->job, &cur->part, sc) < 0)
                goto fail;
            to_pos(&cur->part, sc, p);
            fp_account(st, &cur->part, p, greedy, false, f2, g, a2, b->eos);
            st->parts++;
            for (int k = 0; k < N_GRID; k++) {
                st->fail1[k] += f1[k];
                st->confirmed[k] += f1[k] && f2[k];
            }
        }
        if (j >= 1 && j <= cheat_cap)
            cheat_run(ms, b, small, quant, cur, prev, cheat_cap, &r);
    }
    free(h);
    return 0;
fail:
    fprintf(stderr, "bench_audit: %s: a job failed\n", b->name);
    free(h);
    return -1;
}

/* Score time against generation time for the same jobs on one configuration
 * (conf 2: AVX2, one thread), best of three each. */
static int run_cost(struct bmodel *b, bool greedy, uint32_t jobs, struct mode_stats *ms)
{
    struct eng_score_tok sc[MAX_GEN + 1];
    for (uint32_t j = 0; j < jobs; j++) {
        struct job jb;
        struct part pt;
        if (job_make(b, 1000 + j, greedy, &jb))
            return -1;
        double gbest = 1e30, sbest = 1e30;
        for (int rep = 0; rep < 3; rep++) {
            double g = generate(b, 2, jb.prompt, jb.np, &jb.s, b->max_tokens, &pt);
            double s = score(b, 2, &jb, &pt, sc);
            if (g < 0 || s < 0)
                return -1;
            gbest = fmin(gbest, g);
            sbest = fmin(sbest, s);
        }
        ms->gen_s += gbest;
        ms->score_s += sbest;
        ms->cost_jobs++;
    }
    return 0;
}

/* ---- printing the measurements ---- */

static void print_fp(const char *model, const char *mode, struct fp_stats *st)
{
    char a[64], bb[64], c[64], d[64];
    printf("| %s | %s | %u | %u | %s | %s | %s | %.2e | %.2e | %.2e | %s | %.3g | %.3g |\n", model,
           mode, st->parts, st->positions, frac(a, sizeof a, st->fail1[0], st->parts),
           frac(bb, sizeof bb, st->confirmed[0], st->parts),
           frac(c, sizeof c, st->disagree_pos, st->cmp_positions), dvec_max(&st->dlp),
           dvec_quantile(&st->dlp, 0.999), dvec_quantile(&st->dlp, 0.99),
           frac(d, sizeof d, st->pick_off, st->cmp_positions), dvec_max(&st->margin),
           dvec_quantile(&st->margin, 0.999));
}

/* ---- Monte Carlo of the policy ---- */

struct mc_in {
    const struct cheat_stats *cs;     /* measured outcomes, drawn with replacement */
    double cheat_rate;                /* share of jobs cheated once cheating */
    uint32_t rep;                     /* honest jobs first */
    const uint32_t *rep_passed;       /* per run: audits passed in those jobs */
    double collude;                   /* share of first auditors that pass anything */
    double honest_fail1, honest_conf; /* per audited honest part, measured */
    double cf, ef;                    /* a cheat job's compute and earnings / an honest one's */
    double cost;                      /* honest compute / earnings */
};

struct mc_out {
    double median, p99;         /* jobs from the first cheat to the ban */
    double never;               /* share of runs not banned within the cap */
    double paid_share[N_RATES]; /* fraudulent earnings matured before the ban / all */
    double gain[N_RATES];       /* mean profit - honest profit, in honest jobs' profits */
    double false_bans;          /* bans of honest jobs (false positives) per run */
    uint32_t runs;              /* done (fewer than asked when bans are rare) */
};

#define MC_CAP 100000000ull   /* jobs */
#define MC_STEPS 200000000ull /* audits simulated per row, at most */

/* One key's life: jobs until the confirmed ban (MC_CAP: never). */
static uint64_t mc_life(const struct mc_in *in, uint32_t run, struct rng *r, bool *false_ban,
                        uint64_t *steps)
{
    /* The honest start is drawn from its own simulation: audits are
     * memoryless, so the key's life goes on from job rep with what it
     * passed by then. */
    uint64_t job = in->rep;
    uint32_t passed = in->rep ? in->rep_passed[run] : 0;
    *false_ban = false;
    for (;; ++*steps) {
        job += rng_geom(r, audit_rate(passed)); /* the next audited job */
        if (job >= MC_CAP)
            return MC_CAP;
        bool cheat = job >= in->rep && (in->cheat_rate >= 1 || rng_unit(r) <= in->cheat_rate);
        if (cheat) {
            uint8_t bits = in->cs->bits[rng_next(r) % in->cs->parts];
            /* A random order of the three auditors. */
            int o = (int)(rng_next(r) % 6), a1 = o / 2, a2 = (a1 + 1 + o % 2) % 3, a3 = 3 - a1 - a2;
            bool f1 = bits >> a1 & 1, f2 = bits >> a2 & 1, f3 = bits >> a3 & 1;
            if (in->collude > 0 && rng_unit(r) <= in->collude)
                f1 = false;
            if (f1 && (f2 || f3))
                return job + 1;
            passed += !f1;
        } else {
            double u = rng_unit(r);
            if (u <= in->honest_conf) {
                *false_ban = true;
                return job + 1;
            }
            passed += u > in->honest_fail1;
        }
        job++;
    }
}

static void mc_run(const struct mc_in *in, uint32_t runs, uint64_t seed, struct mc_out *out)
{
    struct rng r = {seed};
    double *cj = xmalloc(runs * sizeof *cj);
    double paid[N_RATES] = {0}, fraud[N_RATES] = {0}, gain[N_RATES] = {0};
    uint32_t never = 0, fb = 0;
    double k = in->cost, c = in->cheat_rate, K = in->rep;
    uint64_t steps = 0;
    uint32_t i;
    /* Rare bans take many audits: a row stops after MC_STEPS of them. */
    for (i = 0; i < runs && (i < 1000 || steps < MC_STEPS); i++) {
        bool false_ban;
        double J = (double)mc_life(in, i, &r, &false_ban, &steps);
        never += J >= (double)MC_CAP;
        fb += false_ban;
        cj[i] = J - K;
        double cheats = c >= 1 ? J - K : c * (J - K - 1) + 1; /* the banning job cheated */
        for (int q = 0; q < N_RATES; q++) {
            double cut = J - MATURITY_H * JOB_RATES[q]; /* jobs before it have matured */
            double hon_m = fmin(K, fmax(0, cut)), ph = fmax(0, cut - K);
            double fraud_m = c * ph * in->ef;
            double paid_all = hon_m + (1 - c) * ph + fraud_m;
            double spent = k * (K + (J - K - cheats)) + k * in->cf * cheats;
            paid[q] += fraud_m;
            fraud[q] += cheats * in->ef;
            gain[q] += ((paid_all - spent) - J * (1 - k)) / (1 - k);
        }
    }
    runs = out->runs = i;
    qsort(cj, runs, sizeof *cj, cmp_dbl);
    out->median = cj[runs / 2];
    out->p99 = cj[(size_t)ceil(0.99 * runs) - 1];
    out->never = (double)never / runs;
    out->false_bans = (double)fb / runs;
    for (int q = 0; q < N_RATES; q++) {
        out->paid_share[q] = fraud[q] > 0 ? paid[q] / fraud[q] : 0;
        out->gain[q] = gain[q] / runs;
    }
    free(cj);
}

static const char *jobs_str(char *buf, size_t cap, double x)
{
    if (x >= (double)MC_CAP * 0.999)
        snprintf(buf, cap, "never");
    else
        snprintf(buf, cap, "%.0f", x);
    return buf;
}

/* Audits passed by honest keys in their first k jobs, one per run. */
static uint32_t *rep_passed_new(uint32_t k, uint32_t runs, uint64_t seed)
{
    struct rng r = {seed};
    uint32_t *out = xmalloc(runs * sizeof *out);
    for (uint32_t i = 0; i < runs; i++) {
        uint64_t job = 0;
        uint32_t passed = 0;
        while ((job += rng_geom(&r, audit_rate(passed))) < k) {
            passed++;
            job++;
        }
        out[i] = passed;
    }
    return out;
}

struct mc_plan {
    const char *name;
    uint32_t rep;
    double rate;
    double collude;
};

static void print_mc(const char *model, const char *mode, struct mode_stats *ms,
                     const struct opts *o, const uint32_t *rep_passed)
{
    const struct mc_plan plans[] = {{"new key, cheats always", 0, 1, 0},
                                    {"honest K jobs, then always", o->rep_jobs, 1, 0},
                                    {"honest K jobs, then 10%", o->rep_jobs, 0.1, 0},
                                    {"honest K jobs, then 1%", o->rep_jobs, 0.01, 0},
                                    {"new key, half the auditors collude", 0, 1, 0.5}};
    const struct fp_stats *fp = &ms->fp;
    if (fp->confirmed[0]) {
        printf("| %s | %s | honest miner | any | banned too: %u of %u honest parts confirmed "
               "as fraud | | |\n",
               model, mode, fp->confirmed[0], fp->parts);
        return;
    }
    for (int k = 0; k < N_CHEAT; k++) {
        const struct cheat_stats *cs = &ms->ch[k];
        if (!cs->parts)
            continue;
        uint32_t any = 0; /* parts that two auditors fail: a ban is possible */
        for (uint32_t i = 0; i < cs->parts; i++) {
            uint8_t b = cs->bits[i];
            any += (b & 1) + (b >> 1 & 1) + (b >> 2 & 1) >= 2;
        }
        for (size_t pl = 0; pl < sizeof plans / sizeof plans[0]; pl++) {
            if (plans[pl].collude > 0 && k != CH_RANDOM)
                continue;
            if (!any) {
                printf("| %s | %s | %s | %s | never (no part of %u failed twice) | | |\n", model,
                       mode, CHEAT_NAME[k], plans[pl].name, cs->parts);
                continue;
            }
            struct mc_in in = {cs,
                               plans[pl].rate,
                               plans[pl].rep,
                               rep_passed,
                               plans[pl].collude,
                               (double)fp->fail1[0] / fp->parts,
                               (double)fp->confirmed[0] / fp->parts,
                               cs->honest_s > 0 ? cs->cheat_s / cs->honest_s : 0,
                               cs->honest_tok > 0 ? cs->claimed_tok / cs->honest_tok : 1,
                               o->cost};
            struct mc_out out;
            mc_run(&in, o->runs, 0xa0d17ull + (uint64_t)k * 977 + pl, &out);
            char m1[32], m2[32];
            printf("| %s | %s | %s | %s | %s | %s | %.4f%s |", model, mode, CHEAT_NAME[k],
                   plans[pl].name, jobs_str(m1, sizeof m1, out.median),
                   jobs_str(m2, sizeof m2, out.p99), out.never, out.runs < o->runs ? " (*)" : "");
            for (int q = 0; q < N_RATES; q++)
                printf(" %.3f |", out.paid_share[q]);
            for (int q = 0; q < N_RATES; q++)
                printf(" %+.1f |", out.gain[q]);
            printf(" %.2f |\n", in.cf);
        }
    }
}

/* Expected audits per job over a key's first n jobs (honest, passing). */
static double audits_per_job(uint64_t n, uint32_t runs, uint64_t seed)
{
    struct rng r = {seed};
    double total = 0;
    for (uint32_t i = 0; i < runs; i++) {
        uint64_t job = 0;
        uint32_t passed = 0;
        for (;;) {
            job += rng_geom(&r, audit_rate(passed));
            if (job >= n)
                break;
            passed++;
            job++;
        }
        total += passed;
    }
    return total / runs / (double)n;
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_audit [--models DIR] [--dir DIR] [--positions N] [--cheat-parts N]\n"
            "                   [--runs N] [--rep-jobs K] [--cost K] [--big 0|1]\n"
            "  --positions N    honest audited positions per model and mode (default 3000)\n"
            "  --cheat-parts N  audited parts per cheat, model and mode (default 40)\n"
            "  --runs N         Monte Carlo runs per cheat and plan (default 20000)\n"
            "  docs/audits.md's figures: --positions 10000 --cheat-parts 100 --runs 100000\n"
            "  --big 1 (about 40 CPU minutes; the defaults take about 5 on two cores)\n"
            "  --rep-jobs K     honest jobs before a reputation builder cheats (default 1000)\n"
            "  --cost K         an honest job's compute cost over its earnings (default 0.5)\n"
            "  --big 1          also time audits on a 32000-vocabulary Q8_0 model\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){"../shared/models", "/tmp/fief-bench", 3000, 40, 20000, 1000, 0.5, false};
    for (int i = 1; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return -1;
        if (!strcmp(argv[i], "--models"))
            o->models = v;
        else if (!strcmp(argv[i], "--dir"))
            o->dir = v;
        else if (!strcmp(argv[i], "--positions"))
            o->positions = (uint32_t)atol(v);
        else if (!strcmp(argv[i], "--cheat-parts"))
            o->cheat_parts = (uint32_t)atol(v);
        else if (!strcmp(argv[i], "--runs"))
            o->runs = (uint32_t)atol(v);
        else if (!strcmp(argv[i], "--rep-jobs"))
            o->rep_jobs = (uint32_t)atol(v);
        else if (!strcmp(argv[i], "--cost"))
            o->cost = atof(v);
        else if (!strcmp(argv[i], "--big"))
            o->big = atoi(v) != 0;
        else
            return -1;
    }
    return o->runs >= 100 && o->cost >= 0 && o->cost < 1 ? 0 : -1;
}

/* The models: which exist, which are generated, which cheats each gets. */
struct plan {
    const char *name;
    char path[512], small[512], quant[512];
    int32_t max_tokens;
    bool cheats;
    bool present;
};

static int plans_make(const struct opts *o, struct plan *pl, int *n)
{
    struct genmodel_spec big, sm, q4;
    genmodel_spec_defaults(&big);
    big.dim = 256, big.layers = 4, big.heads = 8, big.kv_heads = 4, big.ffn = 768;
    big.vocab = 4096, big.ctx = 1024, big.type = QT_Q8_0, big.seed = 7;
    sm = big;
    sm.dim = 64, sm.layers = 2, sm.heads = 4, sm.kv_heads = 2, sm.ffn = 192;
    q4 = big;
    q4.type = QT_Q4_0;
    *n = 0;
    struct plan *p = &pl[(*n)++];
    *p = (struct plan){.name = "stories260K", .max_tokens = 128, .cheats = true};
    snprintf(p->path, sizeof p->path, "%s/stories260K.gguf", o->models);
    p->present = file_exists(p->path);
    if (p->present) {
        snprintf(p->small, sizeof p->small, "%s/audit-stories260K-L4.gguf", o->dir);
        snprintf(p->quant, sizeof p->quant, "%s/audit-stories260K-q4_0.gguf", o->dir);
        if (derive_model(p->path, p->small, 4, QT_F32) ||
            derive_model(p->path, p->quant, 0, QT_Q4_0))
            return -1;
    } else {
        printf("SKIPPED: %s not found (--models DIR)\n", p->path);
    }
    p = &pl[(*n)++];
    *p = (struct plan){.name = "llama-2-tiny-random", .max_tokens = 64, .cheats = false};
    snprintf(p->path, sizeof p->path, "%s/llama-2-tiny-random.gguf", o->models);
    if (!(p->present = file_exists(p->path)))
        printf("SKIPPED: %s not found (--models DIR)\n", p->path);
    p = &pl[(*n)++];
    *p = (struct plan){.name = "gen-q8_0", .max_tokens = 128, .cheats = true, .present = true};
    if (gen_path(o->dir, &big, "q8_0", p->path, sizeof p->path) ||
        gen_path(o->dir, &sm, "small", p->small, sizeof p->small) ||
        gen_path(o->dir, &q4, "q4_0", p->quant, sizeof p->quant))
        return -1;
    p = &pl[(*n)++];
    *p = (struct plan){.name = "gen-q4_0", .max_tokens = 128, .cheats = false, .present = true};
    snprintf(p->path, sizeof p->path, "%s", pl[*n - 2].quant);
    return 0;
}

/* --big: score vs generation on the shape docs/engine.md times (Q8_0, dim
 * 512, 6 layers, vocabulary 32000), where the forward pass weighs more. */
static int cost_big(const struct opts *o, struct mode_stats *out)
{
    struct genmodel_spec s;
    genmodel_spec_defaults(&s);
    s.dim = 512, s.layers = 6, s.heads = 8, s.kv_heads = 4, s.ffn = 1536;
    s.vocab = 32000, s.ctx = 1024, s.type = QT_Q8_0, s.seed = 9;
    char path[512];
    struct bmodel b;
    if (gen_path(o->dir, &s, "big", path, sizeof path) || model_open(&b, "gen-big", path, 256))
        return -1;
    int rc = run_cost(&b, true, 2, &out[0]) || run_cost(&b, false, 2, &out[1]) ? -1 : 0;
    model_close(&b);
    return rc;
}

/* ---- the report ---- */

static const int CHEAT_GRID[] = {0, 1, 3, 5, 9, 8}; /* settings shown for the cheats */
#define N_CHEAT_GRID (int)(sizeof CHEAT_GRID / sizeof CHEAT_GRID[0])

static void report_fp(const struct plan *pl, int n_pl, struct mode_stats *ms)
{
    printf("\n## 1. False positives: honest parts audited by honest auditors (defaults)\n\n");
    printf(
        "| model | mode | parts | positions | fail 1st auditor | confirmed (fail 2) "
        "| disagreeing positions (of compared) | max abs dlp | p99.9 | p99 | pick != claim "
        "| max margin | p99.9 margin |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n_pl; i++)
        for (int g = 0; g < 2 && pl[i].present; g++)
            print_fp(pl[i].name, g ? "sampled" : "greedy", &ms[2 * i + g].fp);
    printf("\n(dlp: claimed minus auditor's log-prob; margins are logit gaps when greedy, "
           "probability mass when sampled; every position counts once per auditor; exact "
           "log-prob matches:");
    for (int i = 0; i < n_pl; i++)
        for (int g = 0; g < 2 && pl[i].present; g++) {
            struct fp_stats *st = &ms[2 * i + g].fp;
            printf(" %s %s %.1f%%;", pl[i].name, g ? "sampled" : "greedy",
                   100.0 * (double)st->lp_exact /
                       (double)(st->cmp_positions ? st->cmp_positions : 1));
        }
    printf(")\n\nDisagreeing honest positions by generator -> auditor configuration:\n\n");
    for (int i = 0; i < n_pl; i++)
        for (int g = 0; g < 2 && pl[i].present; g++) {
            struct fp_stats *st = &ms[2 * i + g].fp;
            printf("- %s %s:", pl[i].name, g ? "sampled" : "greedy");
            for (int x = 0; x < N_CONF; x++)
                for (int y = 0; y < N_CONF; y++) {
                    char a[64];
                    if (st->pair_pos[x][y])
                        printf(" %s/%d->%s/%d %s;", confs[x].kernels, confs[x].nth,
                               confs[y].kernels, confs[y].nth,
                               frac(a, sizeof a, st->pair_dis[x][y], st->pair_pos[x][y]));
                }
            printf(" honest parts ending in EOG whose EOG position disagrees: %u/%u\n", st->eog_off,
                   st->eog_parts);
        }
    printf("\nHonest parts failing one auditor (of part x auditor comparisons) under other "
           "settings:\n\n| setting |");
    for (int i = 0; i < n_pl; i++)
        for (int g = 0; g < 2 && pl[i].present; g++)
            printf(" %s %s |", pl[i].name, g ? "sampled" : "greedy");
    printf("\n|---|");
    for (int i = 0; i < n_pl; i++)
        for (int g = 0; g < 2 && pl[i].present; g++)
            printf("---|");
    printf("\n");
    for (int k = 0; k < N_GRID; k++) {
        printf("| %s |", grid[k].name);
        for (int i = 0; i < n_pl; i++)
            for (int g = 0; g < 2 && pl[i].present; g++) {
                char a[64];
                struct fp_stats *st = &ms[2 * i + g].fp;
                printf(" %s |", frac(a, sizeof a, st->fail_cmp[k], st->cmps));
            }
        printf("\n");
    }
}

static void report_cheats(const struct plan *pl, int n_pl, struct mode_stats *ms)
{
    printf("\n## 2. Cheats: one audited part (defaults; three honest auditors per part)\n\n");
    printf("| model | mode | cheat | parts | fail 1st auditor | confirmed (1st + 2nd or 3rd) "
           "| disagreeing positions | cheat compute / honest | tokens claimed / honest |\n"
           "|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n_pl; i++)
        for (int g = 0; g < 2 && pl[i].present && pl[i].cheats; g++)
            for (int k = 0; k < N_CHEAT; k++) {
                struct cheat_stats *cs = &ms[2 * i + g].ch[k];
                const char *mode = g ? "sampled" : "greedy";
                if (!cs->parts) {
                    printf("| %s | %s | %s | 0 | not measured%s | | | | |\n", pl[i].name, mode,
                           CHEAT_NAME[k], cs->absent ? " (no such model)" : "");
                    continue;
                }
                uint32_t conf = 0;
                for (uint32_t p = 0; p < cs->parts; p++) {
                    uint8_t b = cs->bits[p];
                    conf += (b & 1) + (b >> 1 & 1) + (b >> 2 & 1) >= 2;
                }
                char a[64], bb[64], c[64];
                printf("| %s | %s | %s | %u | %s | %s | %s | %.2f | %.2f |\n", pl[i].name, mode,
                       CHEAT_NAME[k], cs->parts, frac(a, sizeof a, cs->fail1[0], cs->parts),
                       frac(bb, sizeof bb, conf, cs->parts),
                       frac(c, sizeof c, cs->disagree_pos, cs->positions),
                       cs->honest_s > 0 ? cs->cheat_s / cs->honest_s : 0,
                       cs->honest_tok > 0 ? cs->claimed_tok / cs->honest_tok : 0);
            }
    printf("\n(e) truncation: parts whose claimed end-of-generation token itself disagrees "
           "(visible to the auditor, forgiven by the slack):");
    for (int i = 0; i < n_pl; i++)
        for (int g = 0; g < 2 && pl[i].present && pl[i].cheats; g++) {
            char a[64];
            struct cheat_stats *cs = &ms[2 * i + g].ch[CH_TRUNC];
            printf(" %s %s %s;", pl[i].name, g ? "sampled" : "greedy",
                   frac(a, sizeof a, cs->eog_off, cs->parts));
        }
    printf("\n\nCheat parts failing the first auditor under other settings:\n\n"
           "| model | mode | cheat |");
    for (int k = 0; k < N_CHEAT_GRID; k++)
        printf(" %s |", grid[CHEAT_GRID[k]].name);
    printf("\n|---|---|---|");
    for (int k = 0; k < N_CHEAT_GRID; k++)
        printf("---|");
    printf("\n");
    for (int i = 0; i < n_pl; i++)
        for (int g = 0; g < 2 && pl[i].present && pl[i].cheats; g++)
            for (int k = 0; k < N_CHEAT; k++) {
                struct cheat_stats *cs = &ms[2 * i + g].ch[k];
                if (!cs->parts)
                    continue;
                printf("| %s | %s | %s |", pl[i].name, g ? "sampled" : "greedy", CHEAT_NAME[k]);
                for (int q = 0; q < N_CHEAT_GRID; q++)
                    printf(" %.1f%% |", 100.0 * cs->fail1[CHEAT_GRID[q]] / cs->parts);
                printf("\n");
            }
    printf("\n(g) a lying auditor: its false 'fail' stands only if the next honest auditor "
           "also fails the honest part; measured per honest auditor:");
    for (int i = 0; i < n_pl; i++)
        for (int g = 0; g < 2 && pl[i].present; g++) {
            char a[64];
            struct fp_stats *st = &ms[2 * i + g].fp;
            printf(" %s %s %s;", pl[i].name, g ? "sampled" : "greedy",
                   frac(a, sizeof a, st->fail_cmp[0], st->cmps));
        }
    printf("\n");
}

static void report_mc(const struct opts *o, const struct plan *pl, int n_pl, struct mode_stats *ms)
{
    printf("\n## 3, 4, 6. The default policy, Monte Carlo (%u runs per row; K = %u; an honest "
           "job's compute = %.2f of its earnings)\n\n",
           o->runs, o->rep_jobs, o->cost);
    printf("Jobs from the first cheat to the ban (median, p99; 'never': not banned within %llu "
           "jobs); share of fraudulent earnings that matured (paid out) before the ban, and the "
           "cheat's profit minus honest mining's over the same jobs, in honest jobs' profits, at "
           "0.1, 1, 10, 100 and 1000 jobs per hour (maturity 24 h):\n\n",
           (unsigned long long)MC_CAP);
    printf("| model | mode | cheat | plan | median | p99 | never | paid 0.1/h | 1/h | 10/h | "
           "100/h | 1000/h | gain 0.1/h | 1/h | 10/h | 100/h | 1000/h | cheat compute |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    uint32_t *rp = rep_passed_new(o->rep_jobs, o->runs, 0x7e9ull);
    for (int i = 0; i < n_pl; i++)
        for (int g = 0; g < 2 && pl[i].present && pl[i].cheats; g++)
            print_mc(pl[i].name, g ? "sampled" : "greedy", &ms[2 * i + g], o, rp);
    double mean = 0;
    for (uint32_t i = 0; i < o->runs; i++)
        mean += rp[i];
    printf("\n(an honest key passes %.1f audits in its first %u jobs on average, and is then "
           "audited at rate %.3f)\n",
           mean / o->runs, o->rep_jobs, audit_rate((uint32_t)(mean / o->runs)));
    free(rp);
    printf("(*): fewer runs than asked, the row's %llu simulated audits being spent\n",
           (unsigned long long)MC_STEPS);
}

static void cost_row(const char *model, const char *mode, const struct mode_stats *m,
                     const struct fp_stats *fp)
{
    static const uint64_t lives[] = {100, 1000, 10000, 100000};
    double rho = m->score_s / m->gen_s;
    /* A failed first audit costs a second score, and a third when they split. */
    double extra = fp && fp->parts ? 1 + (double)fp->fail1[0] / fp->parts : 1;
    printf("| %s | %s | %.2f | %.2f | %.3f |", model, mode, 1e3 * m->gen_s / m->cost_jobs,
           1e3 * m->score_s / m->cost_jobs, rho);
    for (size_t k = 0; k < sizeof lives / sizeof lives[0]; k++) {
        double a = audits_per_job(lives[k], lives[k] >= 100000 ? 300 : 3000, 77 + k) * extra;
        printf(" %.2f%% |", 100 * a * rho / (1 + a * rho));
    }
    double a = AUDIT_FLOOR * extra;
    printf(" %.2f%% |\n", 100 * a * rho / (1 + a * rho));
}

static void report_cost(const struct plan *pl, int n_pl, struct mode_stats *ms,
                        struct mode_stats *big)
{
    printf("\n## 5. Cost: audit work as a share of all work\n\nAn audit's score against the "
           "job's generation, same job, same configuration (%s x %d thread), best of 3 each, "
           "times the audits an honest key draws (confirmations included) over its life:\n\n",
           confs[2].kernels, confs[2].nth);
    printf("| model | mode | generate ms/job | score ms/job | score / generate | key of 100 jobs "
           "| 1000 | 10000 | 100000 | long run (floor) "
           "|\n|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n_pl; i++)
        for (int g = 0; g < 2 && pl[i].present; g++)
            cost_row(pl[i].name, g ? "sampled" : "greedy", &ms[2 * i + g], &ms[2 * i + g].fp);
    if (big)
        for (int g = 0; g < 2; g++)
            cost_row("gen-big q8_0 v32000", g ? "sampled" : "greedy", &big[g], NULL);
    printf("\nAudits per job of an honest key over its first N jobs:");
    static const uint64_t lives[] = {100, 1000, 10000, 100000};
    for (size_t k = 0; k < 4; k++)
        printf(" N=%llu: %.4f;", (unsigned long long)lives[k],
               audits_per_job(lives[k], lives[k] >= 100000 ? 300 : 3000, 77 + k));
    printf(" floor %.2f\n", AUDIT_FLOOR);
}

static void ties_row(const char *model, const char *who, struct ties *t)
{
    if (!t->probed)
        return;
    char a[64];
    printf("| %s | %s | %u | %s | %zu | %.3g | %.3g | %.3g | %.1f%% | %.1f%% |\n", model, who,
           t->probed, frac(a, sizeof a, t->cut, t->probed), t->gap.n, dvec_quantile(&t->gap, 0.5),
           dvec_quantile(&t->gap, 0.9), dvec_max(&t->gap),
           t->gap.n ? 100.0 * (double)dvec_rank(&t->gap, 0.05) / (double)t->gap.n : 0,
           t->gap.n ? 100.0 * (double)dvec_rank(&t->gap, 0.1) / (double)t->gap.n : 0);
}

static void report_ties(const struct plan *pl, int n_pl, struct mode_stats *ms)
{
    printf("\nSampled positions whose pick disagrees, up close (first auditor, at most %d per "
           "row): cut from the auditor's candidates (margin 1), else the auditor's log-prob gap "
           "between the claim and its own pick:\n\n| model | claims | disagreeing positions "
           "| cut (margin 1) | others | gap median | p90 | max | gap <= 0.05 | gap <= 0.1 |\n"
           "|---|---|---|---|---|---|---|---|---|---|\n",
           TIE_PROBES);
    for (int i = 0; i < n_pl; i++) {
        if (!pl[i].present)
            continue;
        ties_row(pl[i].name, "honest", &ms[2 * i + 1].fp.ties);
        for (int k = 0; k < N_CHEAT; k++)
            ties_row(pl[i].name, CHEAT_NAME[k], &ms[2 * i + 1].ch[k].ties);
    }
}

static void report(const struct opts *o, const struct plan *pl, int n_pl, struct mode_stats *ms,
                   struct mode_stats *big)
{
    report_fp(pl, n_pl, ms);
    report_cheats(pl, n_pl, ms);
    report_ties(pl, n_pl, ms);
    report_mc(o, pl, n_pl, ms);
    report_cost(pl, n_pl, ms, big);
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse_opts(argc, argv, &o)) {
        usage();
        return 2;
    }
    mkdir(o.dir, 0755);
    grid_init();
    if (confs_init())
        return 1;
    time_t now = time(NULL);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    char cpu[128] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    for (char line[256]; f && fgets(line, sizeof line, f);)
        if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
            snprintf(cpu, sizeof cpu, "%s", strchr(line, ':') + 2);
            cpu[strcspn(cpu, "\n")] = 0;
            break;
        }
    if (f)
        fclose(f);
    printf("bench_audit, %s, %s, %ld CPUs online; figures from %u+ honest positions per model "
           "and mode, %u parts per cheat, %u Monte Carlo runs\n",
           date, cpu, sysconf(_SC_NPROCESSORS_ONLN), o.positions, o.cheat_parts, o.runs);
    printf("configurations: ");
    for (int c = 0; c < N_CONF; c++)
        printf("%s%s x %d thread(s)", c ? ", " : "", confs[c].kernels, confs[c].nth);
    printf("\n(each part generated on one, audited by the two others, all six orders in turn)\n");

    struct plan pl[8];
    int n_pl;
    if (plans_make(&o, pl, &n_pl))
        return 1;
    struct mode_stats *ms = xcalloc((size_t)n_pl * 2, sizeof *ms), big_cost[2];
    memset(big_cost, 0, sizeof big_cost);
    double t_start = clock_mono_s();
    for (int i = 0; i < n_pl; i++) {
        if (!pl[i].present)
            continue;
        struct bmodel b, small, quant;
        bool has_small = false, has_quant = false;
        if (model_open(&b, pl[i].name, pl[i].path, pl[i].max_tokens))
            return 1;
        if (pl[i].cheats) {
            has_small = !model_open(&small, "small", pl[i].small, pl[i].max_tokens);
            has_quant = !model_open(&quant, "quant", pl[i].quant, pl[i].max_tokens);
        }
        for (int g = 0; g < 2; g++) {
            struct opts oo = o;
            if (!pl[i].cheats)
                oo.cheat_parts = 0;
            double t0 = clock_mono_s(), c0 = cpu_s();
            if (run_mode(&b, has_small ? &small : NULL, has_quant ? &quant : NULL, g == 0, &oo,
                         &ms[2 * i + g]) ||
                run_cost(&b, g == 0, 5, &ms[2 * i + g]))
                return 1;
            fprintf(stderr, "%s %s: %.1f s (%.1f s CPU)\n", pl[i].name, g ? "sampled" : "greedy",
                    clock_mono_s() - t0, cpu_s() - c0);
        }
        if (has_small)
            model_close(&small);
        if (has_quant)
            model_close(&quant);
        model_close(&b);
    }
    if (o.big && cost_big(&o, big_cost))
        return 1;
    report(&o, pl, n_pl, ms, o.big ? big_cost : NULL);
    printf("\n(%.0f s in all, %.0f s of CPU)\n", clock_mono_s() - t_start, cpu_s());
    return 0;
}
