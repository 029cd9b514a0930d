/* SPDX-License-Identifier: MIT */
/* bench_relay_client: the measuring side of bench/relay.sh. A tiny blocking
 * HTTP/1.1 + SSE client (TCP_NODELAY, one recv timestamp per read) and a
 * direct engine loop, so the same greedy generation can be timed in the
 * engine itself, through pool + miner, and through a gateway in front of the
 * pool, interleaved in one process; plus a request-rate load generator and a
 * reader of other processes' CPU time. Not part of the test suite. */
#include "common/clock.h"
#include "engine/engine.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PROMPT 4096
#define MAX_TARGETS 4
#define MAX_CONC 256

/* ---- small helpers ---- */

static double now_us(void)
{
    return (double)clock_mono_ns() / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static double pct(const double *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

static double mean(const double *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return n ? s / (double)n : 0;
}

static double median_of(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return pct(v, n, 50);
}

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_relay_client: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* CPU time of every thread of process pid, in microseconds: the sum of the
 * threads' schedstat run times (nanosecond resolution), or utime + stime
 * from /proc/PID/stat (clock ticks) where schedstat is missing. Threads
 * that already exited are not counted, which the pool's long-lived threads
 * never do. -1 when the process is gone. */
static double proc_cpu_us(int pid)
{
    if (pid <= 0)
        return 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    double sum = 0;
    bool ok = true;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p2[128];
        snprintf(p2, sizeof p2, "/proc/%d/task/%.20s/schedstat", pid, e->d_name);
        FILE *f = fopen(p2, "r");
        unsigned long long ns;
        if (!f) {
            ok = false;
            break;
        }
        if (fscanf(f, "%llu", &ns) == 1)
            sum += (double)ns / 1e3;
        else
            ok = false;
        fclose(f);
    }
    closedir(d);
    if (ok)
        return sum;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[1024];
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = 0;
    char *rp = strrchr(line, ')');
    unsigned long long ut = 0, st = 0;
    if (!rp ||
        sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

/* CPU time of the threads of process pid named name (their comm), in
 * microseconds, from schedstat; 0 when there is none or no schedstat. */
static double thread_cpu_us(int pid, const char *name)
{
    if (pid <= 0)
        return 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    double sum = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p2[128], comm[32] = "";
        snprintf(p2, sizeof p2, "/proc/%d/task/%.20s/comm", pid, e->d_name);
        FILE *f = fopen(p2, "r");
        if (!f)
            continue;
        bool match = fgets(comm, sizeof comm, f) && !strncmp(comm, name, strlen(name)) &&
                     (comm[strlen(name)] == '\n' || comm[strlen(name)] == 0);
        fclose(f);
        if (!match)
            continue;
        snprintf(p2, sizeof p2, "/proc/%d/task/%.20s/schedstat", pid, e->d_name);
        unsigned long long ns;
        if ((f = fopen(p2, "r"))) {
            if (fscanf(f, "%llu", &ns) == 1)
                sum += (double)ns / 1e3;
            fclose(f);
        }
    }
    closedir(d);
    return sum;
}

/* The pool's store (ledger writer) thread, as it names itself. */
#define STORE_THREAD "fief-store"

/* Microseconds during which at least one task waited for a CPU, machine
 * wide (/proc/pressure/cpu "some"); -1 without PSI. */
static double psi_cpu_us(void)
{
    FILE *f = fopen("/proc/pressure/cpu", "r");
    if (!f)
        return -1;
    unsigned long long total;
    int n = fscanf(f, "some avg10=%*f avg60=%*f avg300=%*f total=%llu", &total);
    fclose(f);
    return n == 1 ? (double)total : -1;
}

/* ---- HTTP/1.1 client: blocking, one connection, keep-alive ---- */

struct conn {
    char host[64];
    int port;
    int fd;
    char buf[1 << 16];
    size_t len, off;
    double t_recv; /* when the bytes in buf[off..len) arrived */
};

static int conn_open(struct conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    if (inet_pton(AF_INET, c->host, &a.sin_addr) != 1 ||
        connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    c->len = c->off = 0;
    return 0;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->len = c->off = 0;
}

static void conn_init(struct conn *c, const char *hostport)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof c->host)
        die("bad HOST:PORT \"%s\"", hostport);
    memcpy(c->host, hostport, (size_t)(colon - hostport));
    c->port = atoi(colon + 1);
}

/* More bytes into buf; 0, or -1 on EOF or error. */
static int conn_fill(struct conn *c)
{
    if (c->off == c->len)
        c->off = c->len = 0;
    if (c->len == sizeof c->buf) {
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
        if (c->len == sizeof c->buf)
            return -1;
    }
    ssize_t r;
    do
        r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return -1;
    c->t_recv = now_us();
    c->len += (size_t)r;
    return 0;
}

/* A line ending in \r\n (returned without it, NUL-terminated in place). */
static char *conn_line(struct conn *c)
{
    for (;;) {
        char *s = c->buf + c->off;
        char *nl = memchr(s, '\n', c->len - c->off);
        if (nl) {
            c->off = (size_t)(nl + 1 - c->buf);
            if (nl > s && nl[-1] == '\r')
                nl--;
            *nl = 0;
            return s;
        }
        if (conn_fill(c))
            return NULL;
    }
}

typedef void (*body_cb)(void *ud, const char *p, size_t n, double t);

/* Send one request (reconnecting when the kept-alive connection is gone) and
 * read the whole response, handing body bytes to cb with their arrival time.
 * *t_send is when the request left. Returns the status, or -1. */
static int http_post(struct conn *c, const char *path, const char *extra_hdrs, const char *body,
                     body_cb cb, void *ud, double *t_send)
{
    char head[2048];
    size_t blen = strlen(body);
    int hl = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n%s\r\n",
                      path, c->host, c->port, blen, extra_hdrs ? extra_hdrs : "");
    if (hl < 0 || (size_t)hl >= sizeof head)
        return -1;
    char *req = malloc((size_t)hl + blen);
    memcpy(req, head, (size_t)hl);
    memcpy(req + hl, body, blen);
    size_t rlen = (size_t)hl + blen;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (c->fd < 0 && conn_open(c)) {
            free(req);
            return -1;
        }
        *t_send = now_us();
        ssize_t w = send(c->fd, req, rlen, MSG_NOSIGNAL);
        if (w != (ssize_t)rlen) {
            conn_close(c);
            continue;
        }
        char *line = conn_line(c);
        if (!line) { /* the server dropped the kept-alive connection: once more */
            conn_close(c);
            continue;
        }
        free(req);
        int status = 0;
        if (sscanf(line, "HTTP/1.%*d %d", &status) != 1)
            goto fail;
        long long clen = -1;
        bool chunked = false, close_after = false;
        while ((line = conn_line(c)) && *line) {
            if (!strncasecmp(line, "Content-Length:", 15))
                clen = atoll(line + 15);
            else if (!strncasecmp(line, "Transfer-Encoding:", 18) && strstr(line, "chunked"))
                chunked = true;
            else if (!strncasecmp(line, "Connection:", 11) && strcasestr(line, "close"))
                close_after = true;
        }
        if (!line)
            goto fail;
        if (chunked) {
            for (;;) {
                if (!(line = conn_line(c)))
                    goto fail;
                unsigned long long sz = strtoull(line, NULL, 16);
                if (sz == 0) {
                    while ((line = conn_line(c)) && *line) /* trailers */
                        ;
                    if (!line)
                        goto fail;
                    break;
                }
                while (sz > 0) {
                    if (c->off == c->len && conn_fill(c))
                        goto fail;
                    size_t n = c->len - c->off < sz ? c->len - c->off : (size_t)sz;
                    cb(ud, c->buf + c->off, n, c->t_recv);
                    c->off += n;
                    sz -= n;
                }
                if (!(line = conn_line(c)))
                    goto fail;
            }
        } else if (clen >= 0) {
            while (clen > 0) {
                if (c->off == c->len && conn_fill(c))
                    goto fail;
                size_t n =
                    (size_t)(c->len - c->off < (size_t)clen ? c->len - c->off : (size_t)clen);
                cb(ud, c->buf + c->off, n, c->t_recv);
                c->off += n;
                clen -= (long long)n;
            }
        } else {
            for (;;) { /* until the server closes */
                if (c->off < c->len) {
                    cb(ud, c->buf + c->off, c->len - c->off, c->t_recv);
                    c->off = c->len;
                }
                if (conn_fill(c))
                    break;
            }
            close_after = true;
        }
        if (close_after)
            conn_close(c);
        return status;
    }
    free(req);
    return -1;
fail:
    conn_close(c);
    return -1;
}

/* ---- what a response says: SSE events or one JSON body ---- */

struct reply {
    bool stream;
    char *acc; /* SSE: the unfinished event; JSON: the whole body */
    size_t acc_len, acc_cap;
    double t_first, t_last; /* first and last event carrying text */
    int n_text_events;
    long long completion_tokens;
    bool done, error;
    size_t text_bytes;
};

static void reply_reset(struct reply *r, bool stream)
{
    char *acc = r->acc;
    size_t cap = r->acc_cap;
    memset(r, 0, sizeof *r);
    r->acc = acc;
    r->acc_cap = cap;
    r->stream = stream;
    r->completion_tokens = -1;
}

static void reply_json(struct reply *r, const char *p, size_t n, double t)
{
    json_t *j = json_loadb(p, n, JSON_ALLOW_NUL, NULL); /* random models emit \u0000 */
    if (!j) {
        r->error = true;
        return;
    }
    json_t *u = json_object_get(j, "usage");
    if (json_is_object(u) && json_is_integer(json_object_get(u, "completion_tokens")))
        r->completion_tokens = json_integer_value(json_object_get(u, "completion_tokens"));
    if (json_object_get(j, "error"))
        r->error = true;
    json_t *ch = json_array_get(json_object_get(j, "choices"), 0);
    const char *text = NULL;
    if (ch) {
        json_t *s = json_object_get(ch, "text");
        if (!s) {
            json_t *d = json_object_get(ch, "delta");
            if (!d)
                d = json_object_get(ch, "message");
            s = json_object_get(d, "content");
        }
        if (json_is_string(s))
            text = json_string_value(s);
        if (text && json_string_length(s) > 0) {
            if (!r->n_text_events++)
                r->t_first = t;
            r->t_last = t;
            r->text_bytes += json_string_length(s);
        }
    }
    json_decref(j);
}

/* One SSE event: its data lines joined. */
static void reply_event(struct reply *r, char *ev, size_t n, double t)
{
    char data[1 << 16];
    size_t dl = 0;
    char *p = ev, *end = ev + n;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        size_t ll = (size_t)(le - p);
        if (ll && p[ll - 1] == '\r')
            ll--;
        if (ll >= 5 && !memcmp(p, "data:", 5)) {
            const char *v = p + 5;
            size_t vl = ll - 5;
            if (vl && *v == ' ')
                v++, vl--;
            if (dl + vl + 1 < sizeof data) {
                memcpy(data + dl, v, vl);
                dl += vl;
            }
        }
        p = nl ? nl + 1 : end;
    }
    if (!dl)
        return;
    if (dl == 6 && !memcmp(data, "[DONE]", 6)) {
        r->done = true;
        return;
    }
    reply_json(r, data, dl, t);
}

static void reply_body(void *ud, const char *p, size_t n, double t)
{
    struct reply *r = ud;
    if (r->acc_len + n + 1 > r->acc_cap) {
        r->acc_cap = (r->acc_len + n + 1) * 2;
        r->acc = realloc(r->acc, r->acc_cap);
    }
    memcpy(r->acc + r->acc_len, p, n);
    r->acc_len += n;
    if (!r->stream)
        return;
    /* events end with a blank line */
    size_t start = 0;
    for (size_t i = 0; i + 1 < r->acc_len; i++) {
        size_t skip = 0;
        if (r->acc[i] == '\n' && r->acc[i + 1] == '\n')
            skip = 2;
        else if (i + 3 < r->acc_len && !memcmp(r->acc + i, "\r\n\r\n", 4))
            skip = 4;
        if (skip) {
            reply_event(r, r->acc + start, i - start, t);
            start = i + skip;
            i = start - 1;
        }
    }
    memmove(r->acc, r->acc + start, r->acc_len - start);
    r->acc_len -= start;
}

static void reply_end(struct reply *r, double t)
{
    if (!r->stream) {
        reply_json(r, r->acc, r->acc_len, t);
        r->done = !r->error;
    }
    r->acc_len = 0;
}

/* ---- request bodies ---- */

struct job {
    const char *model;
    const int32_t *prompt;
    size_t n_prompt;
    int max_tokens;
    bool stream;
};

static char *job_body(const struct job *jb)
{
    size_t cap = 256 + jb->n_prompt * 12;
    char *b = malloc(cap);
    size_t k = (size_t)snprintf(b, cap, "{\"model\":\"%s\",\"prompt\":[", jb->model);
    for (size_t i = 0; i < jb->n_prompt; i++)
        k += (size_t)snprintf(b + k, cap - k, "%s%d", i ? "," : "", jb->prompt[i]);
    snprintf(b + k, cap - k, "],\"max_tokens\":%d,\"temperature\":0,\"stream\":%s%s}",
             jb->max_tokens, jb->stream ? "true" : "false",
             jb->stream ? ",\"stream_options\":{\"include_usage\":true}" : "");
    return b;
}

static size_t parse_ids(const char *s, int32_t *out, size_t cap)
{
    size_t n = 0;
    while (*s && n < cap) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s)
            die("bad --prompt-ids near \"%s\"", s);
        out[n++] = (int32_t)v;
        s = end;
        while (*s == ',' || *s == ' ')
            s++;
    }
    return n;
}

/* ---- the direct engine ---- */

struct engine {
    struct eng_model *model;
    struct eng_threads *thr;
    struct eng_ctx *ctx;
    struct eng_sampler *samp;
};

static void engine_open(struct engine *e, const char *path, int threads, int32_t n_ctx)
{
    char err[FIEF_ERR_LEN];
    if (eng_model_load(path, &e->model, err))
        die("%s", err);
    if (!(e->thr = eng_threads_new(threads)))
        die("%s", "cannot start engine threads");
    struct eng_model_info info;
    eng_model_get_info(e->model, &info);
    if (n_ctx <= 0) /* the miner's own choice: the model's context, at most 4096 */
        n_ctx = info.n_ctx_train > 0 && info.n_ctx_train < 4096 ? info.n_ctx_train : 4096;
    if (eng_ctx_new(e->model, n_ctx, e->thr, &e->ctx, err))
        die("%s", err);
    e->samp = eng_sampler_new(info.n_vocab);
}

static void engine_close(struct engine *e)
{
    eng_sampler_free(e->samp);
    eng_ctx_free(e->ctx);
    eng_threads_free(e->thr);
    eng_model_free(e->model);
}

struct gen_times {
    double t_first, t_last;
    int n;
};

static int on_pick(void *ud, const struct eng_pick *p)
{
    struct gen_times *g = ud;
    (void)p;
    double t = now_us();
    if (!g->n++)
        g->t_first = t;
    g->t_last = t;
    return 0;
}

/* ---- one measured request ---- */

enum target_kind { T_ENGINE, T_POOL, T_GATEWAY };

struct target {
    const char *name;
    enum target_kind kind;
    const char *model; /* HTTP targets: the model asked for */
    int base;          /* index of the target it is compared with, -1 for none */
    struct conn c;
    char hdrs[512];
    /* per request */
    double *ttft, *decode_tps, *e2e_tps, *pool_cpu, *gw_cpu, *store_cpu;
    double *rep_decode, *rep_e2e, *rep_ttft; /* by repetition (0: failed), for pairs */
    size_t n;
    long long tokens;
    int errors, mismatches;
};

struct sample {
    double ttft_us, decode_tps, e2e_tps;
    long long tokens;
    bool ok;
};

static struct sample run_engine(struct engine *e, const struct job *jb)
{
    struct eng_sampling sp;
    eng_sampling_defaults(&sp);
    struct gen_times g = {0};
    double t0 = now_us();
    int rc = eng_generate(e->ctx, e->samp, &sp, jb->prompt, jb->n_prompt, jb->max_tokens, 0,
                          on_pick, &g, NULL);
    struct sample s = {.ok = rc == 0 && g.n > 0, .tokens = g.n};
    if (s.ok) {
        s.ttft_us = g.t_first - t0;
        s.decode_tps = g.n > 1 ? (g.n - 1) / ((g.t_last - g.t_first) / 1e6) : 0;
        s.e2e_tps = g.n / ((g.t_last - t0) / 1e6);
    }
    return s;
}

static struct sample run_http(struct target *t, const struct job *jb0, struct reply *r)
{
    struct job jbm = *jb0;
    const struct job *jb = &jbm;
    jbm.model = t->model;
    char *body = job_body(jb);
    reply_reset(r, jb->stream);
    double t_send = 0;
    int st = http_post(&t->c, "/v1/completions", t->hdrs, body, reply_body, r, &t_send);
    reply_end(r, now_us());
    free(body);
    struct sample s = {.ok = st == 200 && r->done && !r->error && r->n_text_events > 0,
                       .tokens = r->completion_tokens};
    if (!s.ok) {
        if (t->errors < 3)
            fprintf(stderr, "bench_relay_client: %s: status %d%s%s%s\n", t->name, st,
                    r->error ? ", error or bad JSON" : "", r->done ? "" : ", no [DONE]",
                    r->n_text_events ? "" : ", no text");
        return s;
    }
    s.ttft_us = r->t_first - t_send;
    long long n = r->completion_tokens;
    s.decode_tps =
        n > 1 && r->t_last > r->t_first ? (double)(n - 1) / ((r->t_last - r->t_first) / 1e6) : 0;
    s.e2e_tps = (double)n / ((r->t_last - t_send) / 1e6);
    return s;
}

/* ---- mode: stream ---- */

__attribute__((noreturn)) static void usage(void)
{
    fprintf(stderr,
            "usage: bench_relay_client stream [--engine MODEL.gguf] [--pool H:P] [--gateway H:P]\n"
            "           --model NAME --key KEY --prompt-ids IDS [--max-tokens N] [--reps N]\n"
            "           [--warmup N] [--threads N] [--pool-pid PID] [--gateway-pid PID]\n"
            "           [--max-stall F] [--dump FILE] [--free-model NAME] [--settle-ms MS]\n"
            "       bench_relay_client rate --pool H:P --model NAME --key KEY --prompt-ids IDS\n"
            "           [--conc N] [--seconds S] [--max-tokens N] [--stream] [--pool-pid PID]\n"
            "       bench_relay_client engine-rate --engine MODEL.gguf --prompt-ids IDS\n"
            "           [--conc N] [--seconds S] [--max-tokens N]\n"
            "       bench_relay_client freeport\n"
            "Prints RESULT lines (key=value) for bench/relay.sh.\n");
    exit(2);
}

struct opts {
    const char *engine, *pool, *gateway, *model, *key, *ids;
    const char *free_model; /* stream: also this model of the same pool (no price) */
    int max_tokens, reps, warmup, threads, conc;
    int settle_ms; /* stream: wait after each request before reading CPU times */
    int pool_pid, gw_pid;
    double seconds;
    double max_stall; /* stream: repetitions with more CPU pressure are done again */
    bool stream;
    const char *label;
    const char *dump; /* stream: every sample, one line each */
};

/* Median over the repetitions of this target's rate divided by the
 * baseline's in the same repetition: requests run back to back, so slow
 * drifts of the machine's speed cancel out. */
static double paired_ratio(const double *x, const double *base, int reps)
{
    double *r = malloc((size_t)(reps > 0 ? reps : 1) * sizeof *r);
    size_t n = 0;
    for (int i = 0; i < reps; i++)
        if (x[i] > 0 && base[i] > 0)
            r[n++] = x[i] / base[i];
    double m = n ? median_of(r, n) : 0;
    free(r);
    return m;
}

/* Percentile p of this target's time to first token minus the baseline's in
 * the same repetition. */
static double paired_diff_pct(const double *x, const double *base, int reps, double p)
{
    double *d = malloc((size_t)(reps > 0 ? reps : 1) * sizeof *d);
    size_t n = 0;
    for (int i = 0; i < reps; i++)
        if (x[i] > 0 && base[i] > 0)
            d[n++] = x[i] - base[i];
    qsort(d, n, sizeof *d, cmp_double);
    double v = pct(d, n, p);
    free(d);
    return v;
}

/* This target against another in the same repetitions: keys PREFIX*. */
static void print_pair(const char *prefix, const struct target *t, const struct target *base,
                       int reps)
{
    printf(" %sdecode_ratio_paired=%.4f %se2e_ratio_paired=%.4f", prefix,
           paired_ratio(t->rep_decode, base->rep_decode, reps), prefix,
           paired_ratio(t->rep_e2e, base->rep_e2e, reps));
    printf(" %sttft_added_paired_p50_us=%.1f %sttft_added_paired_p99_us=%.1f", prefix,
           paired_diff_pct(t->rep_ttft, base->rep_ttft, reps, 50), prefix,
           paired_diff_pct(t->rep_ttft, base->rep_ttft, reps, 99));
}

/* One RESULT line: the target's own figures, then against its base (keys
 * as they are) and, for accounting on, against accounting off (acct_*). */
static void print_target(const char *label, struct target *t, const struct target *base,
                         const struct target *off, int reps)
{
    qsort(t->ttft, t->n, sizeof *t->ttft, cmp_double);
    double dec = median_of(t->decode_tps, t->n), e2e = median_of(t->e2e_tps, t->n);
    printf("RESULT phase=%s target=%s n=%zu errors=%d mismatches=%d tokens_per_req=%.1f "
           "ttft_p50_us=%.1f ttft_p90_us=%.1f ttft_p99_us=%.1f ttft_mean_us=%.1f ttft_min_us=%.1f "
           "ttft_max_us=%.1f decode_tps=%.2f e2e_tps=%.2f",
           label, t->name, t->n, t->errors, t->mismatches,
           t->n ? (double)t->tokens / (double)t->n : 0, pct(t->ttft, t->n, 50),
           pct(t->ttft, t->n, 90), pct(t->ttft, t->n, 99), mean(t->ttft, t->n),
           t->n ? t->ttft[0] : 0, t->n ? t->ttft[t->n - 1] : 0, dec, e2e);
    if (base && base != t)
        print_pair("", t, base, reps);
    if (off && off != t)
        print_pair("acct_", t, off, reps);
    if (t->kind != T_ENGINE) {
        printf(" pool_cpu_us_per_req=%.1f store_cpu_us_per_req=%.1f", mean(t->pool_cpu, t->n),
               mean(t->store_cpu, t->n));
        if (t->tokens > 0)
            printf(" pool_cpu_us_per_token=%.2f",
                   mean(t->pool_cpu, t->n) * (double)t->n / (double)t->tokens);
        if (t->kind == T_GATEWAY)
            printf(" gateway_cpu_us_per_req=%.1f", mean(t->gw_cpu, t->n));
    }
    printf("\n");
}

static int mode_stream(const struct opts *o)
{
    int32_t prompt[MAX_PROMPT];
    size_t np = parse_ids(o->ids, prompt, MAX_PROMPT);
    struct job jb = {o->model, prompt, np, o->max_tokens, true};
    struct target ts[MAX_TARGETS];
    int nt = 0;
    struct engine eng = {0};
    int i_engine = -1, i_pool = -1, i_free = -1;
    if (o->engine) {
        engine_open(&eng, o->engine, o->threads, 0);
        i_engine = nt;
        ts[nt++] = (struct target){.name = "engine", .kind = T_ENGINE, .base = -1};
    }
    if (o->pool) {
        i_pool = nt;
        ts[nt] =
            (struct target){.name = "pool", .kind = T_POOL, .model = o->model, .base = i_engine};
        conn_init(&ts[nt].c, o->pool);
        snprintf(ts[nt].hdrs, sizeof ts[nt].hdrs, "Authorization: Bearer %s\r\n", o->key);
        nt++;
    }
    if (o->free_model) { /* the same pool, a model with no price: no ledger */
        if (!o->pool)
            die("%s", "--free-model needs --pool");
        i_free = nt;
        ts[nt] = (struct target){
            .name = "pool_free", .kind = T_POOL, .model = o->free_model, .base = i_engine};
        conn_init(&ts[nt].c, o->pool);
        snprintf(ts[nt].hdrs, sizeof ts[nt].hdrs, "Authorization: Bearer %s\r\n", o->key);
        nt++;
    }
    if (o->gateway) {
        if (!o->pool)
            die("%s", "--gateway needs --pool (its upstream)");
        ts[nt] = (struct target){
            .name = "gateway", .kind = T_GATEWAY, .model = o->model, .base = i_pool};
        conn_init(&ts[nt].c, o->gateway);
        snprintf(ts[nt].hdrs, sizeof ts[nt].hdrs,
                 "Authorization: Bearer %s\r\nx-portkey-provider: openai\r\n"
                 "x-portkey-custom-host: http://%s/v1\r\n",
                 o->key, o->pool);
        nt++;
    }
    if (!nt)
        usage();
    for (int i = 0; i < nt; i++) {
        struct target *t = &ts[i];
        t->ttft = calloc((size_t)o->reps, sizeof(double));
        t->decode_tps = calloc((size_t)o->reps, sizeof(double));
        t->e2e_tps = calloc((size_t)o->reps, sizeof(double));
        t->pool_cpu = calloc((size_t)o->reps, sizeof(double));
        t->gw_cpu = calloc((size_t)o->reps, sizeof(double));
        t->store_cpu = calloc((size_t)o->reps, sizeof(double));
        t->rep_decode = calloc((size_t)o->reps, sizeof(double));
        t->rep_e2e = calloc((size_t)o->reps, sizeof(double));
        t->rep_ttft = calloc((size_t)o->reps, sizeof(double));
    }
    FILE *dump = o->dump ? fopen(o->dump, "w") : NULL;
    struct reply r = {0};
    long long expect = -1; /* every target must generate the same number of tokens */
    struct rep_sample {
        struct sample s;
        double pool_cpu, gw_cpu, store_cpu;
    } got[MAX_TARGETS];
    int attempts = 0, discarded = 0, max_attempts = o->reps * 3;
    double stall_sum = 0;
    for (int rep = -o->warmup; rep < o->reps; rep++) {
        double psi0 = psi_cpu_us(), w0 = now_us();
        for (int k = 0; k < nt; k++) {
            /* rotate the order so no target always follows the same one */
            int ti = ((rep + o->warmup) + k) % nt;
            struct target *t = &ts[ti];
            double pc0 = proc_cpu_us(o->pool_pid), gc0 = proc_cpu_us(o->gw_pid);
            double sc0 = thread_cpu_us(o->pool_pid, STORE_THREAD);
            got[ti].s = t->kind == T_ENGINE ? run_engine(&eng, &jb) : run_http(t, &jb, &r);
            if (o->settle_ms > 0) /* let the store's thread finish this request's writes */
                usleep((useconds_t)o->settle_ms * 1000);
            got[ti].pool_cpu = proc_cpu_us(o->pool_pid) - pc0;
            got[ti].gw_cpu = proc_cpu_us(o->gw_pid) - gc0;
            got[ti].store_cpu = thread_cpu_us(o->pool_pid, STORE_THREAD) - sc0;
        }
        /* A repetition during which tasks waited for a CPU more than
         * max_stall of the time was disturbed (other people's work on a
         * shared machine): it is done again, for every target alike. */
        double stall = psi0 >= 0 ? (psi_cpu_us() - psi0) / (now_us() - w0) : 0;
        if (rep >= 0 && stall > o->max_stall && ++attempts < max_attempts) {
            discarded++;
            rep--;
            continue;
        }
        if (rep >= 0)
            stall_sum += stall;
        for (int ti = 0; ti < nt; ti++) {
            struct target *t = &ts[ti];
            const struct sample *sp = &got[ti].s;
            if (!sp->ok) {
                t->errors += rep >= 0;
                continue;
            }
            if (expect < 0)
                expect = sp->tokens;
            if (rep < 0)
                continue;
            if (sp->tokens != expect)
                t->mismatches++;
            t->ttft[t->n] = sp->ttft_us;
            t->decode_tps[t->n] = sp->decode_tps;
            t->rep_decode[rep] = sp->decode_tps;
            t->rep_e2e[rep] = sp->e2e_tps;
            t->rep_ttft[rep] = sp->ttft_us;
            t->e2e_tps[t->n] = sp->e2e_tps;
            t->pool_cpu[t->n] = got[ti].pool_cpu;
            t->gw_cpu[t->n] = got[ti].gw_cpu;
            t->store_cpu[t->n] = got[ti].store_cpu;
            t->tokens += sp->tokens;
            t->n++;
            if (dump)
                fprintf(dump, "%d %s %.1f %.2f %lld %.1f %.4f\n", rep, t->name, sp->ttft_us,
                        sp->decode_tps, sp->tokens, got[ti].pool_cpu, stall);
        }
    }
    printf("RESULT phase=%s target=reps kept=%d discarded=%d max_stall=%.3f stall_kept_mean=%.4f\n",
           o->label, o->reps, discarded, o->max_stall, o->reps ? stall_sum / o->reps : 0);
    if (dump)
        fclose(dump);
    /* the pools against the engine, the gateway against the pool, and the
     * pool with accounting against the pool without */
    for (int i = 0; i < nt; i++)
        print_target(o->label, &ts[i], ts[i].base >= 0 ? &ts[ts[i].base] : NULL,
                     i == i_pool && i_free >= 0 ? &ts[i_free] : NULL, o->reps);
    for (int i = 0; i < nt; i++) {
        conn_close(&ts[i].c);
        free(ts[i].ttft);
        free(ts[i].decode_tps);
        free(ts[i].e2e_tps);
        free(ts[i].pool_cpu);
        free(ts[i].gw_cpu);
        free(ts[i].store_cpu);
        free(ts[i].rep_decode);
        free(ts[i].rep_e2e);
        free(ts[i].rep_ttft);
    }
    free(r.acc);
    if (o->engine)
        engine_close(&eng);
    return 0;
}

/* ---- mode: rate (many concurrent short requests) ---- */

struct rate_shared {
    const struct opts *o;
    const struct job *jb;
    atomic_bool stop;
    double t_open, t_close; /* completions ending in this window count */
};

struct rate_worker {
    struct rate_shared *sh;
    pthread_t tid;
    long long ok, err, tokens;
    double *lat;
    size_t n_lat, cap_lat;
};

static void *rate_main(void *arg)
{
    struct rate_worker *w = arg;
    struct rate_shared *sh = w->sh;
    struct conn *c = malloc(sizeof *c);
    conn_init(c, sh->o->pool);
    char hdrs[256];
    snprintf(hdrs, sizeof hdrs, "Authorization: Bearer %s\r\n", sh->o->key);
    char *body = job_body(sh->jb);
    struct reply r = {0};
    while (!atomic_load(&sh->stop)) {
        reply_reset(&r, sh->jb->stream);
        double t_send;
        int st = http_post(c, "/v1/completions", hdrs, body, reply_body, &r, &t_send);
        double t_end = now_us();
        reply_end(&r, t_end);
        if (t_end < sh->t_open || t_end > sh->t_close)
            continue;
        if (st == 200 && r.done && !r.error) {
            w->ok++;
            w->tokens += r.completion_tokens > 0 ? r.completion_tokens : 0;
            if (w->n_lat == w->cap_lat) {
                w->cap_lat = w->cap_lat ? w->cap_lat * 2 : 1024;
                w->lat = realloc(w->lat, w->cap_lat * sizeof *w->lat);
            }
            w->lat[w->n_lat++] = t_end - t_send;
        } else {
            w->err++;
            if (st != 429 && st != 503)
                usleep(1000);
        }
    }
    conn_close(c);
    free(c);
    free(body);
    free(r.acc);
    return NULL;
}

static int mode_rate(const struct opts *o)
{
    int32_t prompt[MAX_PROMPT];
    size_t np = parse_ids(o->ids, prompt, MAX_PROMPT);
    struct job jb = {o->model, prompt, np, o->max_tokens, o->stream};
    int conc = o->conc < 1 ? 1 : o->conc > MAX_CONC ? MAX_CONC : o->conc;
    struct rate_shared sh = {.o = o, .jb = &jb};
    double warm = 1e6;
    sh.t_open = now_us() + warm;
    sh.t_close = sh.t_open + o->seconds * 1e6;
    struct rate_worker *ws = calloc((size_t)conc, sizeof *ws);
    for (int i = 0; i < conc; i++) {
        ws[i].sh = &sh;
        pthread_create(&ws[i].tid, NULL, rate_main, &ws[i]);
    }
    double now = now_us();
    usleep((useconds_t)(sh.t_open - now));
    double c0 = proc_cpu_us(o->pool_pid), s0 = thread_cpu_us(o->pool_pid, STORE_THREAD);
    double w0 = now_us();
    usleep((useconds_t)(o->seconds * 1e6));
    double c1 = proc_cpu_us(o->pool_pid), s1 = thread_cpu_us(o->pool_pid, STORE_THREAD);
    double w1 = now_us();
    atomic_store(&sh.stop, true);
    long long ok = 0, err = 0, tokens = 0;
    size_t nl = 0;
    for (int i = 0; i < conc; i++) {
        pthread_join(ws[i].tid, NULL);
        ok += ws[i].ok;
        err += ws[i].err;
        tokens += ws[i].tokens;
        nl += ws[i].n_lat;
    }
    double *lat = malloc((nl ? nl : 1) * sizeof *lat);
    size_t k = 0;
    for (int i = 0; i < conc; i++) {
        memcpy(lat + k, ws[i].lat, ws[i].n_lat * sizeof *lat);
        k += ws[i].n_lat;
        free(ws[i].lat);
    }
    qsort(lat, nl, sizeof *lat, cmp_double);
    double secs = (w1 - w0) / 1e6;
    printf("RESULT phase=%s target=pool conc=%d stream=%d max_tokens=%d ok=%lld errors=%lld "
           "rps=%.1f tokens_per_s=%.1f lat_p50_us=%.0f lat_p99_us=%.0f",
           o->label, conc, o->stream, o->max_tokens, ok, err, (double)ok / secs,
           (double)tokens / secs, pct(lat, nl, 50), pct(lat, nl, 99));
    if (o->pool_pid > 0)
        printf(" pool_cpu_share=%.3f pool_cpu_us_per_req=%.1f store_cpu_us_per_req=%.1f",
               (c1 - c0) / (w1 - w0), ok ? (c1 - c0) / (double)ok : 0,
               ok ? (s1 - s0) / (double)ok : 0);
    printf("\n");
    free(lat);
    free(ws);
    return 0;
}

/* ---- mode: engine-rate (the same short generations, no relay) ---- */

struct erate_worker {
    const struct opts *o;
    const struct eng_model *model;
    const int32_t *prompt;
    size_t np;
    atomic_bool *stop;
    double t_open, t_close;
    long long ok;
    pthread_t tid;
};

static void *erate_main(void *arg)
{
    struct erate_worker *w = arg;
    char err[FIEF_ERR_LEN];
    struct eng_threads *thr = eng_threads_new(1);
    struct eng_ctx *ctx;
    if (!thr || eng_ctx_new(w->model, (int32_t)w->np + w->o->max_tokens + 8, thr, &ctx, err))
        die("%s", "engine-rate: cannot make a context");
    struct eng_model_info info;
    eng_model_get_info(w->model, &info);
    struct eng_sampler *s = eng_sampler_new(info.n_vocab);
    struct eng_sampling sp;
    eng_sampling_defaults(&sp);
    struct gen_times g;
    while (!atomic_load(w->stop)) {
        g = (struct gen_times){0};
        eng_generate(ctx, s, &sp, w->prompt, w->np, w->o->max_tokens, 0, on_pick, &g, NULL);
        double t = now_us();
        if (t >= w->t_open && t <= w->t_close)
            w->ok++;
    }
    eng_sampler_free(s);
    eng_ctx_free(ctx);
    eng_threads_free(thr);
    return NULL;
}

static int mode_engine_rate(const struct opts *o)
{
    int32_t prompt[MAX_PROMPT];
    size_t np = parse_ids(o->ids, prompt, MAX_PROMPT);
    char err[FIEF_ERR_LEN];
    struct eng_model *m;
    if (eng_model_load(o->engine, &m, err))
        die("%s", err);
    int conc = o->conc < 1 ? 1 : o->conc > MAX_CONC ? MAX_CONC : o->conc;
    atomic_bool stop = false;
    struct erate_worker *ws = calloc((size_t)conc, sizeof *ws);
    double t_open = now_us() + 0.5e6, t_close = t_open + o->seconds * 1e6;
    for (int i = 0; i < conc; i++) {
        ws[i] = (struct erate_worker){o, m, prompt, np, &stop, t_open, t_close, 0, 0};
        pthread_create(&ws[i].tid, NULL, erate_main, &ws[i]);
    }
    usleep((useconds_t)(t_close - now_us() + 1000));
    atomic_store(&stop, true);
    long long ok = 0;
    for (int i = 0; i < conc; i++) {
        pthread_join(ws[i].tid, NULL);
        ok += ws[i].ok;
    }
    printf("RESULT phase=%s target=engine conc=%d max_tokens=%d ok=%lld rps=%.1f\n", o->label, conc,
           o->max_tokens, ok, (double)ok / o->seconds);
    free(ws);
    eng_model_free(m);
    return 0;
}

/* ---- main ---- */

static double t_start_us;

/* This process's own CPU time and wall time, so the script can tell its load
 * from other processes'. */
static void print_self_cpu(const char *label)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double us = (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
                (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
    printf("RESULT phase=%s target=client cpu_us=%.0f wall_s=%.3f\n", label, us,
           (now_us() - t_start_us) / 1e6);
}

static int mode_freeport(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) ||
        getsockname(fd, (struct sockaddr *)&a, &al))
        return 1;
    printf("%d\n", ntohs(a.sin_port));
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    t_start_us = now_us();
    if (argc < 2)
        usage();
    const char *mode = argv[1];
    if (!strcmp(mode, "freeport"))
        return mode_freeport();
    struct opts o = {.max_tokens = 32,
                     .reps = 50,
                     .warmup = 3,
                     .threads = 1,
                     .conc = 8,
                     .seconds = 5,
                     .max_stall = 1e9,
                     .model = "m",
                     .key = "",
                     .label = "run"};
    static const struct option lo[] = {{"engine", required_argument, NULL, 'e'},
                                       {"pool", required_argument, NULL, 'p'},
                                       {"gateway", required_argument, NULL, 'g'},
                                       {"model", required_argument, NULL, 'm'},
                                       {"key", required_argument, NULL, 'k'},
                                       {"prompt-ids", required_argument, NULL, 'i'},
                                       {"max-tokens", required_argument, NULL, 'n'},
                                       {"reps", required_argument, NULL, 'r'},
                                       {"warmup", required_argument, NULL, 'w'},
                                       {"threads", required_argument, NULL, 't'},
                                       {"pool-pid", required_argument, NULL, 'P'},
                                       {"gateway-pid", required_argument, NULL, 'G'},
                                       {"conc", required_argument, NULL, 'c'},
                                       {"seconds", required_argument, NULL, 's'},
                                       {"stream", no_argument, NULL, 'S'},
                                       {"label", required_argument, NULL, 'l'},
                                       {"dump", required_argument, NULL, 'D'},
                                       {"max-stall", required_argument, NULL, 'X'},
                                       {"free-model", required_argument, NULL, 'F'},
                                       {"settle-ms", required_argument, NULL, 'T'},
                                       {NULL, 0, NULL, 0}};
    optind = 2;
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'e':
            o.engine = optarg;
            break;
        case 'p':
            o.pool = optarg;
            break;
        case 'g':
            o.gateway = optarg;
            break;
        case 'm':
            o.model = optarg;
            break;
        case 'k':
            o.key = optarg;
            break;
        case 'i':
            o.ids = optarg;
            break;
        case 'n':
            o.max_tokens = atoi(optarg);
            break;
        case 'r':
            o.reps = atoi(optarg);
            break;
        case 'w':
            o.warmup = atoi(optarg);
            break;
        case 't':
            o.threads = atoi(optarg);
            break;
        case 'P':
            o.pool_pid = atoi(optarg);
            break;
        case 'G':
            o.gw_pid = atoi(optarg);
            break;
        case 'c':
            o.conc = atoi(optarg);
            break;
        case 's':
            o.seconds = atof(optarg);
            break;
        case 'S':
            o.stream = true;
            break;
        case 'l':
            o.label = optarg;
            break;
        case 'D':
            o.dump = optarg;
            break;
        case 'X':
            o.max_stall = atof(optarg);
            break;
        case 'F':
            o.free_model = optarg;
            break;
        case 'T':
            o.settle_ms = atoi(optarg);
            break;
        default:
            usage();
        }
    }
    if (!o.ids || o.max_tokens < 1 || o.reps < 1 || o.threads < 1)
        usage();
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = 2;
    if (!strcmp(mode, "stream"))
        rc = mode_stream(&o);
    else if (!strcmp(mode, "rate") && o.pool)
        rc = mode_rate(&o);
    else if (!strcmp(mode, "engine-rate") && o.engine)
        rc = mode_engine_rate(&o);
    else
        usage();
    print_self_cpu(o.label);
    return rc;
}
