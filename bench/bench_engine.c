/* SPDX-License-Identifier: MIT */
/* bench_engine: decode and prompt-processing speed of the built-in engine on
 * generated models larger than the last-level cache, against the machine's
 * memory bandwidth measured in the same run. Decode reads every weight once
 * per token, so (weight bytes per token x tokens/s) / bandwidth says how
 * close the engine gets to the physical limit. Not part of the test suite. */
#include "common/clock.h"
#include "engine/engine.h"
#include "engine/genmodel.h"
#include "engine/quant.h"

#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BW_BYTES ((size_t)1 << 30) /* per buffer: ~30x a 32 MiB L3 */
#define MAX_THREADS 16

/* ---- memory bandwidth, STREAM style ---- */

enum bw_kind { BW_READ, BW_COPY, BW_TRIAD };

struct bw_job {
    enum bw_kind kind;
    double *a, *b, *c;
    size_t lo, hi;
    double sink;
};

/* Read sweep with 256-bit loads and independent accumulators, so the loop is
 * limited by memory, not by an add chain. */
__attribute__((target("avx2"))) static double read_avx2(const double *a, size_t lo, size_t hi)
{
    __m256i x0 = _mm256_setzero_si256(), x1 = x0, x2 = x0, x3 = x0;
    for (size_t i = lo; i + 16 <= hi; i += 16) {
        x0 = _mm256_xor_si256(x0, _mm256_load_si256((const __m256i *)(a + i)));
        x1 = _mm256_xor_si256(x1, _mm256_load_si256((const __m256i *)(a + i + 4)));
        x2 = _mm256_xor_si256(x2, _mm256_load_si256((const __m256i *)(a + i + 8)));
        x3 = _mm256_xor_si256(x3, _mm256_load_si256((const __m256i *)(a + i + 12)));
    }
    x0 = _mm256_xor_si256(_mm256_xor_si256(x0, x1), _mm256_xor_si256(x2, x3));
    return (double)_mm256_extract_epi64(x0, 0);
}

static double read_plain(const double *a, size_t lo, size_t hi)
{
    const uint64_t *u = (const uint64_t *)a;
    uint64_t s[8] = {0};
    for (size_t i = lo; i + 8 <= hi; i += 8)
        for (int k = 0; k < 8; k++)
            s[k] ^= u[i + (size_t)k];
    return (double)(s[0] ^ s[1] ^ s[2] ^ s[3] ^ s[4] ^ s[5] ^ s[6] ^ s[7]);
}

static void *bw_worker(void *p)
{
    struct bw_job *j = p;
    switch (j->kind) {
    case BW_READ:
        j->sink = __builtin_cpu_supports("avx2") ? read_avx2(j->a, j->lo, j->hi)
                                                 : read_plain(j->a, j->lo, j->hi);
        break;
    case BW_COPY:
        memcpy(j->b + j->lo, j->a + j->lo, (j->hi - j->lo) * sizeof(double));
        break;
    case BW_TRIAD:
        for (size_t i = j->lo; i < j->hi; i++)
            j->a[i] = j->b[i] + 3.0 * j->c[i];
        break;
    }
    return NULL;
}

/* Best of several passes, in GB/s of bytes moved (read + written). */
static double bandwidth(enum bw_kind kind, int nth, double *a, double *b, double *c, size_t n)
{
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        pthread_t t[MAX_THREADS];
        struct bw_job j[MAX_THREADS];
        double t0 = clock_mono_s();
        for (int i = 0; i < nth; i++) {
            j[i] = (struct bw_job){kind, a, b, c, n * (size_t)i / (size_t)nth & ~(size_t)15,
                                   n * (size_t)(i + 1) / (size_t)nth & ~(size_t)15, 0};
            pthread_create(&t[i], NULL, bw_worker, &j[i]);
        }
        for (int i = 0; i < nth; i++)
            pthread_join(t[i], NULL);
        double dt = clock_mono_s() - t0;
        double bytes = (double)n * sizeof(double) * (kind == BW_READ ? 1 : kind == BW_COPY ? 2 : 3);
        if (bytes / dt > best)
            best = bytes / dt;
    }
    return best / 1e9;
}

/* ---- models ---- */

struct shape {
    const char *type;
    uint32_t qt;
    int32_t layers;
};

static int model_path(const char *dir, const struct shape *s, char *out, size_t cap)
{
    snprintf(out, cap, "%s/bench-%s-L%d.gguf", dir, s->type, s->layers);
    struct stat st;
    if (stat(out, &st) == 0)
        return 0;
    struct genmodel_spec sp;
    genmodel_spec_defaults(&sp);
    /* TinyLlama's width (dim 2048, GQA 32/4, ffn 5632, vocab 32000) with the
     * layer count chosen per type so every model is about 1 GiB. */
    sp.dim = 2048;
    sp.heads = 32;
    sp.kv_heads = 4;
    sp.ffn = 5632;
    sp.vocab = 32000;
    sp.ctx = 2048;
    sp.layers = s->layers;
    sp.type = s->qt;
    char err[FIEF_ERR_LEN];
    fprintf(stderr, "generating %s ...\n", out);
    if (genmodel_write(out, &sp, err)) {
        fprintf(stderr, "bench_engine: %s\n", err);
        return -1;
    }
    return 0;
}

/* Best, median and worst of a measurement's runs (the machine may be shared). */
struct stat3 {
    double best, median, worst;
};

struct speed {
    struct stat3 decode_tps, prompt_tps;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0; /* descending: best first */
}

static struct stat3 stat3_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    struct stat3 s = {v[0], n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[n - 1]};
    return s;
}

/* Prompt processing: one batched pass over n_prompt tokens from position 0. */
static double prompt_once(struct eng_ctx *c, const int32_t *toks, int n_prompt, float *logits)
{
    eng_ctx_truncate(c, 0);
    double t0 = clock_mono_s();
    eng_decode(c, toks, (size_t)n_prompt, logits);
    return n_prompt / (clock_mono_s() - t0);
}

/* Decode: one token at a time at a short context. */
static double decode_once(struct eng_ctx *c, const int32_t *toks, int n_prompt, int n_decode,
                          float *logits)
{
    eng_ctx_truncate(c, 4);
    eng_decode(c, toks, 1, logits); /* warm */
    double t0 = clock_mono_s();
    for (int i = 0; i < n_decode; i++)
        eng_decode(c, &toks[i % n_prompt], 1, logits);
    return n_decode / (clock_mono_s() - t0);
}

static int measure(struct eng_model *m, int nth, int n_decode, int n_prompt, int runs,
                   struct speed *out)
{
    char err[FIEF_ERR_LEN];
    struct eng_threads *th = eng_threads_new(nth);
    struct eng_ctx *c;
    if (!th || eng_ctx_new(m, n_prompt + n_decode + 8, th, &c, err)) {
        fprintf(stderr, "bench_engine: cannot make a context: %s\n", err);
        eng_threads_free(th);
        return -1;
    }
    struct eng_model_info mi;
    eng_model_get_info(m, &mi);
    float *logits = malloc((size_t)mi.n_vocab * sizeof *logits);
    int32_t *toks = malloc((size_t)n_prompt * sizeof *toks);
    double *pv = malloc((size_t)runs * sizeof *pv), *dv = malloc((size_t)runs * sizeof *dv);
    for (int i = 0; i < n_prompt; i++)
        toks[i] = 2 + (i * 7919) % (mi.n_vocab - 2);
    eng_decode(c, toks, 8, logits); /* warm-up pass */
    for (int r = 0; r < runs; r++) {
        pv[r] = prompt_once(c, toks, n_prompt, logits);
        dv[r] = decode_once(c, toks, n_prompt, n_decode, logits);
    }
    out->prompt_tps = stat3_of(pv, runs);
    out->decode_tps = stat3_of(dv, runs);
    free(pv);
    free(dv);
    free(logits);
    free(toks);
    eng_ctx_free(c);
    eng_threads_free(th);
    return 0;
}

/* The read/copy/triad sweep for each thread count; read_bw[k] gets the read
 * figure. 0, or -1 when the buffers cannot be allocated. */
static int sweep_bandwidth(const int *nths, int n_nth, double *read_bw)
{
    size_t n = BW_BYTES / sizeof(double);
    double *a = aligned_alloc(64, BW_BYTES), *b = aligned_alloc(64, BW_BYTES),
           *cc = aligned_alloc(64, BW_BYTES);
    if (!a || !b || !cc) {
        free(a);
        free(b);
        free(cc);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        a[i] = b[i] = cc[i] = (double)(i & 1023);
    printf("memory bandwidth (1 GiB buffers, best of 5):\n");
    for (int k = 0; k < n_nth; k++) {
        read_bw[k] = bandwidth(BW_READ, nths[k], a, b, cc, n);
        printf("  %d thread(s): read %.1f GB/s, copy %.1f GB/s, triad %.1f GB/s\n", nths[k],
               read_bw[k], bandwidth(BW_COPY, nths[k], a, b, cc, n),
               bandwidth(BW_TRIAD, nths[k], a, b, cc, n));
    }
    free(a);
    free(b);
    free(cc);
    return 0;
}

/* One result line; with several runs, best (median, worst). */
static void print_speed(int nth, const struct speed *sp, double gb, double read_bw, int runs)
{
    double d = sp->decode_tps.best;
    printf("  %d thread(s): decode %.2f tok/s = %.1f GB/s of weights", nth, d, d * gb);
    if (read_bw > 0)
        printf(" = %.2f x read bandwidth", d * gb / read_bw);
    if (runs > 1)
        printf(" (median %.2f, worst %.2f)", sp->decode_tps.median, sp->decode_tps.worst);
    printf("; prompt %.1f tok/s", sp->prompt_tps.best);
    if (runs > 1)
        printf(" (median %.1f, worst %.1f; best of %d)", sp->prompt_tps.median,
               sp->prompt_tps.worst, runs);
    printf("\n");
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_engine [--types f32,q8_0,q4_0] [--threads 1,2] [--dir DIR]\n"
                    "                    [--decode N] [--prompt N] [--runs N] [--bw 0|1]\n"
                    "  --runs N  measure N times (prompt, then decode) and report the best,\n"
                    "            median and worst: shared machines are noisy\n"
                    "  --bw 0    skip the memory bandwidth sweep\n");
}

int main(int argc, char **argv)
{
    const char *types = "f32,q8_0,q4_0", *threads = "1,2", *dir = "/tmp/fief-bench";
    int n_decode = 32, n_prompt = 128, runs = 1, bw = 1;
    for (int i = 1; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage();
            return 2;
        }
        if (!strcmp(argv[i], "--types")) types = v;
        else if (!strcmp(argv[i], "--threads")) threads = v;
        else if (!strcmp(argv[i], "--dir")) dir = v;
        else if (!strcmp(argv[i], "--decode")) n_decode = atoi(v);
        else if (!strcmp(argv[i], "--prompt")) n_prompt = atoi(v);
        else if (!strcmp(argv[i], "--runs")) runs = atoi(v);
        else if (!strcmp(argv[i], "--bw")) bw = atoi(v);
        else {
            usage();
            return 2;
        }
    }
    if (n_decode < 1 || n_prompt < 8 || runs < 1 || runs > 100) {
        usage();
        return 2;
    }
    mkdir(dir, 0755);
    int nths[MAX_THREADS], n_nth = 0;
    for (const char *p = threads; *p && n_nth < MAX_THREADS; p = strchr(p, ',') ? strchr(p, ',') + 1 : "")
        if ((nths[n_nth] = atoi(p)) >= 1 && nths[n_nth] <= MAX_THREADS)
            n_nth++;

    double read_bw[MAX_THREADS] = {0};
    if (bw && sweep_bandwidth(nths, n_nth, read_bw))
        return 1;

    quant_init();
    printf("kernels: %s\n", quant_simd_name());
    static const struct shape shapes[] = {{"f32", QT_F32, 5}, {"q8_0", QT_Q8_0, 20},
                                          {"q4_0", QT_Q4_0, 38}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        if (!strstr(types, shapes[s].type))
            continue;
        char path[512], err[FIEF_ERR_LEN];
        struct eng_model *m;
        if (model_path(dir, &shapes[s], path, sizeof path) || eng_model_load(path, &m, err)) {
            fprintf(stderr, "bench_engine: %s\n", err);
            return 1;
        }
        struct eng_model_info mi;
        eng_model_get_info(m, &mi);
        double gb = (double)mi.decode_bytes / 1e9;
        printf("%s model: %d layers, %.2f B params, %.2f GB read per token\n", shapes[s].type,
               mi.n_layer, (double)mi.n_params / 1e9, gb);
        for (int k = 0; k < n_nth; k++) {
            struct speed sp;
            if (measure(m, nths[k], n_decode, n_prompt, runs, &sp))
                return 1;
            print_speed(nths[k], &sp, gb, read_bw[k], runs);
        }
        eng_model_free(m);
        fflush(stdout);
    }
    return 0;
}
