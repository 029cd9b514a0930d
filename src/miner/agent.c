/* SPDX-License-Identifier: MIT */
/* The miner agent: configuration, the event loop, and which pool to be on.
 * Pools are tried in priority order; a round that finds none waits with
 * exponential backoff (1 s doubling to 30 s, jittered); while on a backup,
 * the better pools are probed (hello only) and returned to once they answer
 * with acceptable terms. Engine events from the slots are routed here to the
 * session that owns the slot. */
#include "miner/miner.h"
#include "miner/exec.h"
#include "miner/ident.h"
#include "miner/link.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "engine/quant.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_REDIRECTS 3 /* redirects followed in a row without serving: stops loops */

struct miner {
    /* configuration, copied */
    char *urls[MINER_MAX_POOLS];
    int n_urls;
    char payout[PROTO_MAX_TEXT + 1];
    char worker[PROTO_MAX_NAME + 1];
    uint32_t max_fee_ppm;
    uint32_t caps; /* PROTO_CAP_* offered for every model */
    double ping_s, silence_s, backoff_min_s, backoff_max_s, probe_s;
    bool handle_signals;

    struct ident id;
    char dir[PATH_MAX]; /* the data directory: the key, the receipts */
    struct exec *ex;
    struct event_base *base;
    struct evdns_base *dns; /* NULL: blocking resolution */
    struct event *wake_ev, *stop_ev, *retry_ev, *probe_ev, *reap_ev, *sig_ev[2];
    struct link_env env;
    struct link_stats stats;

    struct link *live;  /* the session being set up or served; NULL between rounds */
    int cur;            /* urls index of live; -1: the redirect target */
    bool live_served;   /* live reached serving */
    struct link *probe; /* a probe of urls[probe_idx], or NULL */
    int probe_idx;
    struct link **dead; /* closed links waiting to be freed outside their callbacks */
    int n_dead, cap_dead;
    double backoff; /* delay before the next round */
    char redirect[PROTO_MAX_TEXT + 1];
    int redirects;
    uint64_t next_tag;
    bool stopping;
};

/* ---- configuration ---- */

void miner_cfg_defaults(struct miner_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->slots = 1;
    c->max_fee_pct = -1;
    c->ping_s = 15;
    c->silence_s = 45;
    c->backoff_min_s = 1;
    c->backoff_max_s = 30;
    c->probe_s = 30;
    c->bench_tokens = 16;
}

#define NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

/* Worker names on the wire: [A-Za-z0-9._-]{1,64}; model names may also hold
 * ':' (but not '/': -m NAME=PATH splits at the first '=' before any '/'). */
static bool name_ok(const char *s, const char *extra)
{
    size_t n = strlen(s), k = strspn(s, NAME_CHARS);
    while (k < n && strchr(extra, s[k]))
        k += 1 + strspn(s + k + 1, NAME_CHARS);
    return n >= 1 && n <= PROTO_MAX_NAME && k == n;
}

static bool printable_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    return n >= 1 && n <= max;
}

static int check_models(const struct miner_cfg *c, char err[FIEF_ERR_LEN])
{
    if (c->n_models < 1 || c->n_models > MINER_MAX_MODELS)
        return fief_errf(err, FIEF_EINVAL, "give 1 to %d models (-m), not %d", MINER_MAX_MODELS,
                         c->n_models);
    for (int i = 0; i < c->n_models; i++) {
        const struct miner_model_cfg *m = &c->models[i];
        if (!m->path || !*m->path)
            return fief_errf(err, FIEF_EINVAL, "model %d: no file", i + 1);
        if (m->name && !name_ok(m->name, ":"))
            return fief_errf(err, FIEF_EINVAL,
                             "model name \"%s\": use 1 to %d of "
                             "A-Z a-z 0-9 . _ - :",
                             m->name, PROTO_MAX_NAME);
    }
    return 0;
}

int miner_cfg_check(const struct miner_cfg *c, char err[FIEF_ERR_LEN])
{
    char host[256];
    int port;
    if (c->n_urls < 1 || c->n_urls > MINER_MAX_POOLS)
        return fief_errf(err, FIEF_EINVAL, "give 1 to %d pool URLs (-o), not %d", MINER_MAX_POOLS,
                         c->n_urls);
    for (int i = 0; i < c->n_urls; i++) {
        int rc = c->urls[i] ? link_url_parse(c->urls[i], host, sizeof host, &port, err)
                            : fief_errf(err, FIEF_EINVAL, "pool URL %d missing", i + 1);
        if (rc)
            return rc;
    }
    if (!c->payout || !printable_ok(c->payout, PROTO_MAX_TEXT))
        return fief_errf(err, FIEF_EINVAL,
                         "the payout account (-u) must be 1 to %d printable "
                         "ASCII characters",
                         PROTO_MAX_TEXT);
    if (c->worker && !name_ok(c->worker, ""))
        return fief_errf(err, FIEF_EINVAL, "worker name \"%s\": use 1 to %d of A-Z a-z 0-9 . _ -",
                         c->worker, PROTO_MAX_NAME);
    if (c->slots < 1 || c->slots > PROTO_MAX_SLOTS)
        return fief_errf(err, FIEF_EINVAL, "--slots must be 1..%d", PROTO_MAX_SLOTS);
    if (c->threads < 0 || c->threads > 1024)
        return fief_errf(err, FIEF_EINVAL, "--threads must be 0..1024");
    if (c->n_ctx < 0 || c->n_ctx > ENG_MAX_CTX)
        return fief_errf(err, FIEF_EINVAL, "--ctx must be 0..%d", ENG_MAX_CTX);
    if (c->max_fee_pct > 100)
        return fief_errf(err, FIEF_EINVAL, "--max-fee is a percentage: 0..100");
    if (!(c->ping_s > 0 && c->silence_s > 0 && c->backoff_min_s > 0 &&
          c->backoff_max_s >= c->backoff_min_s && c->probe_s > 0) ||
        c->bench_tokens < 0)
        return fief_errf(err, FIEF_EINVAL, "timings must be positive");
    return check_models(c, err);
}

/* The host name made into a valid worker name. */
static void default_worker(char *out, size_t cap)
{
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        snprintf(host, sizeof host, "worker");
    size_t j = 0;
    for (size_t i = 0; host[i] && j + 1 < cap && j < PROTO_MAX_NAME; i++)
        out[j++] = strchr(NAME_CHARS, host[i]) ? host[i] : '-';
    out[j] = 0;
}

/* The model's name from its file: the base name without ".gguf", made valid. */
static void default_model_name(const char *path, char *out, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".gguf"))
        n -= 5;
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < cap && j < PROTO_MAX_NAME; i++)
        out[j++] = strchr(NAME_CHARS, base[i]) ? base[i] : '-';
    if (!j)
        out[j++] = 'm';
    out[j] = 0;
}

static int default_data_dir(char *out, size_t cap, char err[FIEF_ERR_LEN])
{
    const char *home = getenv("HOME");
    struct passwd *pw;
    if ((!home || !*home) && (pw = getpwuid(getuid())))
        home = pw->pw_dir;
    if (!home || !*home)
        return fief_errf(err, FIEF_EINVAL, "no home directory: give --data DIR");
    if (snprintf(out, cap, "%s/.fief/miner", home) >= (int)cap)
        return fief_errf(err, FIEF_EINVAL, "home directory path too long: give --data DIR");
    return 0;
}

static int cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* ---- links: which pool ---- */

static void on_link(void *ud, struct link *l, enum link_event ev);

static void retire(struct miner *m, struct link *l)
{
    link_close(l);
    if (m->n_dead == m->cap_dead) {
        m->cap_dead = m->cap_dead ? m->cap_dead * 2 : 4;
        m->dead = xrealloc(m->dead, (size_t)m->cap_dead * sizeof *m->dead);
    }
    m->dead[m->n_dead++] = l;
    event_active(m->reap_ev, EV_TIMEOUT, 0);
}

static void connect_to(struct miner *m, int idx)
{
    m->cur = idx;
    m->live_served = false;
    m->live = link_new(&m->env, idx >= 0 ? m->urls[idx] : m->redirect, ++m->next_tag, false);
}

static void schedule_round(struct miner *m)
{
    /* Jitter of +-25% keeps a pool's miners from all coming back at one instant. */
    double d = m->backoff * (0.75 + 0.5 * randombytes_uniform(1001) / 1000.0);
    m->backoff = m->backoff * 2 > m->backoff_max_s ? m->backoff_max_s : m->backoff * 2;
    struct timeval tv = {(time_t)d, (suseconds_t)((d - (time_t)d) * 1e6)};
    log_notice("no pool to serve; trying the list again in %.1f s", d);
    evtimer_add(m->retry_ev, &tv);
}

static void on_retry(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct miner *m = ud;
    if (!m->stopping && !m->live)
        connect_to(m, 0);
}

static void drop_probe(struct miner *m)
{
    if (m->probe)
        retire(m, m->probe);
    m->probe = NULL;
}

/* The live session ended by itself: pick the next pool. */
static void live_closed(struct miner *m, enum link_why why)
{
    bool served = m->live_served;
    if (why == LINK_WHY_REDIRECT)
        snprintf(m->redirect, sizeof m->redirect, "%s", link_redirect(m->live));
    retire(m, m->live);
    m->live = NULL;
    drop_probe(m);
    evtimer_del(m->probe_ev);
    if (m->stopping)
        return;
    if (why == LINK_WHY_REDIRECT && m->redirects < MAX_REDIRECTS) {
        m->redirects++;
        connect_to(m, -1);
        return;
    }
    if (why == LINK_WHY_REDIRECT)
        log_warn("too many redirects in a row; back to the configured pools");
    /* A pool that served and went away gets a pause before the round starts
     * again from the top; a pool that failed (or whose fee we refused) is
     * passed over for the next one at once. */
    if (!served || why == LINK_WHY_FEE) {
        int next = m->cur + 1;
        if (next < m->n_urls) {
            connect_to(m, next);
            return;
        }
    }
    schedule_round(m);
}

static void start_probe(struct miner *m)
{
    if (m->probe_idx < m->cur && !m->probe)
        m->probe = link_new(&m->env, m->urls[m->probe_idx], ++m->next_tag, true);
}

static void on_probe_tick(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct miner *m = ud;
    if (m->live && m->live_served && m->cur > 0 && !m->probe) {
        m->probe_idx = 0;
        start_probe(m);
    }
}

/* A better pool answered hello with acceptable terms: move there. Jobs on the
 * backup are dropped with its connection; its pool reassigns them. */
static void probe_welcomed(struct miner *m)
{
    struct link *p = m->probe;
    m->probe = NULL;
    log_notice("%s is back: leaving %s for it", link_url(p), link_url(m->live));
    retire(m, m->live);
    evtimer_del(m->probe_ev);
    m->live = p;
    m->cur = m->probe_idx;
    m->live_served = false;
    link_promote(p);
}

static void on_link(void *ud, struct link *l, enum link_event ev)
{
    struct miner *m = ud;
    if (l == m->probe) {
        if (ev == LINK_WELCOMED && m->live) {
            probe_welcomed(m);
        } else {
            drop_probe(m);
            m->probe_idx++;
            start_probe(m); /* the next better pool, if any */
        }
        return;
    }
    if (l != m->live)
        return;
    if (ev == LINK_SERVING) {
        m->live_served = true;
        m->backoff = m->backoff_min_s;
        m->redirects = 0;
        if (m->cur > 0) {
            struct timeval tv = {(time_t)m->probe_s,
                                 (suseconds_t)((m->probe_s - (time_t)m->probe_s) * 1e6)};
            evtimer_add(m->probe_ev, &tv);
        }
    } else if (ev == LINK_CLOSED) {
        live_closed(m, link_why(l));
    }
}

static void on_reap(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct miner *m = ud;
    for (int i = 0; i < m->n_dead; i++)
        link_free(m->dead[i]);
    m->n_dead = 0;
}

/* ---- engine events ---- */

static void wake(void *ud)
{
    struct miner *m = ud;
    event_active(m->wake_ev, EV_READ, 0); /* the one libevent call allowed off the loop */
}

static void on_wake(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct miner *m = ud;
    struct exec_ev *list = exec_take(m->ex);
    struct link *l = m->live && link_is_open(m->live) ? m->live : NULL;
    if (list) {
        pthread_mutex_lock(&m->stats.mu);
        link_lat_add(&m->stats.wake, (double)(clock_mono_ns() - list->t_ns) / 1e3);
        pthread_mutex_unlock(&m->stats.mu);
    }
    for (struct exec_ev *ev = list; ev; ev = ev->next) {
        /* Events of a session that is gone are dropped: its pool reassigns the job. */
        if (l && exec_slot_owner(m->ex, ev->slot) == link_tag(l))
            link_on_exec(l, ev);
        if (ev->kind == EXEC_DONE)
            exec_slot_release(m->ex, ev->slot);
    }
    if (l)
        link_flush(l);
    exec_ev_free(list);
}

/* ---- lifecycle ---- */

static void on_stop(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct miner *m = ud;
    if (m->stopping)
        return;
    m->stopping = true;
    log_notice("miner stopping");
    if (m->live)
        retire(m, m->live);
    m->live = NULL;
    drop_probe(m);
    evtimer_del(m->retry_ev);
    evtimer_del(m->probe_ev);
    event_base_loopexit(m->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *ud)
{
    (void)what;
    log_notice("signal %d", (int)sig);
    on_stop(-1, 0, ud);
}

static int copy_cfg(struct miner *m, const struct miner_cfg *c, char err[FIEF_ERR_LEN])
{
    for (int i = 0; i < c->n_urls; i++)
        m->urls[i] = xstrdup(c->urls[i]);
    m->n_urls = c->n_urls;
    snprintf(m->payout, sizeof m->payout, "%s", c->payout);
    if (c->worker)
        snprintf(m->worker, sizeof m->worker, "%s", c->worker);
    else
        default_worker(m->worker, sizeof m->worker);
    m->max_fee_ppm = c->max_fee_pct < 0 ? UINT32_MAX : (uint32_t)(c->max_fee_pct * 1e4 + 0.5);
    m->ping_s = c->ping_s;
    m->silence_s = c->silence_s;
    m->backoff_min_s = m->backoff = c->backoff_min_s;
    m->backoff_max_s = c->backoff_max_s;
    m->probe_s = c->probe_s;
    m->handle_signals = c->handle_signals;
    m->caps = c->validator ? PROTO_CAP_SCORE : PROTO_CAP_GENERATE | PROTO_CAP_SCORE;
    char *dir = m->dir;
    int rc = 0;
    if (!c->data_dir)
        rc = default_data_dir(dir, sizeof m->dir, err);
    else
        snprintf(dir, sizeof m->dir, "%s", c->data_dir);
    bool created = false;
    if (!rc && !(rc = ident_load(dir, &m->id, &created, err)))
        log_notice("miner key %s (%s %s/%s)", m->id.pk_hex, created ? "created" : "from", dir,
                   IDENT_FILE);
    return rc;
}

static int start_exec(struct miner *m, const struct miner_cfg *c, char err[FIEF_ERR_LEN])
{
    if (c->no_simd) {
        quant_set_simd(false); /* before the speed measurement, which should use them too */
        log_notice("portable kernels only (--no-simd)");
    }
    struct exec_opts o = {.threads = c->threads ? c->threads : cpu_count(),
                          .slots = c->slots,
                          .n_ctx = c->n_ctx,
                          .bench_tokens = c->bench_tokens,
                          .n_models = c->n_models,
                          .wake = wake,
                          .wake_ud = m,
                          .hooks = c->hooks};
    char names[MINER_MAX_MODELS][PROTO_MAX_NAME + 1];
    for (int i = 0; i < c->n_models; i++) {
        if (c->models[i].name)
            snprintf(names[i], sizeof names[i], "%s", c->models[i].name);
        else
            default_model_name(c->models[i].path, names[i], sizeof names[i]);
        o.names[i] = names[i];
        o.paths[i] = c->models[i].path;
    }
    return exec_new(&o, &m->ex, err);
}

static void use_pthreads(void)
{
    evthread_use_pthreads();
}

static int make_loop(struct miner *m)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, use_pthreads); /* before any base: event_active from workers */
    if (!(m->base = event_base_new()))
        return FIEF_ENOMEM;
    m->dns = evdns_base_new(m->base,
                            EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    m->wake_ev = event_new(m->base, -1, 0, on_wake, m);
    m->stop_ev = event_new(m->base, -1, 0, on_stop, m);
    m->reap_ev = event_new(m->base, -1, 0, on_reap, m);
    m->retry_ev = evtimer_new(m->base, on_retry, m);
    m->probe_ev = event_new(m->base, -1, EV_PERSIST, on_probe_tick, m);
    if (m->handle_signals) {
        m->sig_ev[0] = evsignal_new(m->base, SIGINT, on_signal, m);
        m->sig_ev[1] = evsignal_new(m->base, SIGTERM, on_signal, m);
    }
    if (!m->wake_ev || !m->stop_ev || !m->reap_ev || !m->retry_ev || !m->probe_ev)
        return FIEF_ENOMEM;
    m->env = (struct link_env){.base = m->base,
                               .dns = m->dns,
                               .ex = m->ex,
                               .id = &m->id,
                               .data_dir = m->dir,
                               .worker = m->worker,
                               .payout = m->payout,
                               .max_fee_ppm = m->max_fee_ppm,
                               .caps = m->caps,
                               .ping_s = m->ping_s,
                               .silence_s = m->silence_s,
                               .stats = &m->stats,
                               .on_event = on_link,
                               .ud = m};
    return 0;
}

int miner_new(const struct miner_cfg *cfg, struct miner **out, char err[FIEF_ERR_LEN])
{
    *out = NULL;
    int rc = miner_cfg_check(cfg, err);
    if (rc)
        return rc;
    struct miner *m = xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->stats.mu, NULL);
    if (!(rc = copy_cfg(m, cfg, err)) && !(rc = start_exec(m, cfg, err)) && (rc = make_loop(m)))
        fief_errf(err, rc, "cannot create the event loop");
    if (rc) {
        miner_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int miner_run(struct miner *m)
{
    /* A pool that vanishes mid-write must give EPIPE, not kill the process. */
    sigset_t pipe, old;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &old);
    for (int i = 0; i < 2; i++)
        if (m->sig_ev[i])
            evsignal_add(m->sig_ev[i], NULL);
    log_notice("miner %s, worker %s, payout %s: %d pool(s), first %s%s", m->id.pk_hex, m->worker,
               m->payout, m->n_urls, m->urls[0],
               m->caps & PROTO_CAP_GENERATE ? "" : "; validator (scoring only)");
    if (!m->stopping)
        connect_to(m, 0);
    int rc = event_base_dispatch(m->base) < 0 ? FIEF_EIO : 0;
    on_reap(-1, 0, m);
    for (int i = 0; i < 2; i++)
        if (m->sig_ev[i])
            evsignal_del(m->sig_ev[i]);
    /* Consume a SIGPIPE left pending on this thread before unblocking it. */
    struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe, NULL, &zero) == SIGPIPE) {
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

void miner_stop(struct miner *m)
{
    event_active(m->stop_ev, EV_TIMEOUT, 0);
}

void miner_free(struct miner *m)
{
    if (!m)
        return;
    if (m->live)
        retire(m, m->live);
    drop_probe(m);
    if (m->base)
        on_reap(-1, 0, m);
    exec_free(m->ex); /* joins the workers: after this no one calls wake() */
    struct event *evs[] = {m->wake_ev,  m->stop_ev,   m->reap_ev,  m->retry_ev,
                           m->probe_ev, m->sig_ev[0], m->sig_ev[1]};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i])
            event_free(evs[i]);
    if (m->dns)
        evdns_base_free(m->dns, 0);
    if (m->base)
        event_base_free(m->base);
    for (int i = 0; i < m->n_urls; i++)
        free(m->urls[i]);
    free(m->dead);
    ident_wipe(&m->id);
    pthread_mutex_destroy(&m->stats.mu);
    free(m);
}

const char *miner_pubkey(const struct miner *m)
{
    return m->id.pk_hex;
}

void miner_get_stats(struct miner *m, struct miner_stats *out)
{
    pthread_mutex_lock(&m->stats.mu);
    out->sessions = m->stats.sessions;
    out->jobs = m->stats.jobs;
    out->tokens = m->stats.tokens;
    const struct link_lat *r = &m->stats.relay, *w = &m->stats.wake;
    out->relay_n = r->n;
    out->relay_mean_us = r->n ? r->sum_us / (double)r->n : 0;
    out->relay_p50_us = link_lat_quantile(r, 0.5);
    out->relay_p99_us = link_lat_quantile(r, 0.99);
    out->relay_max_us = r->max_us;
    out->wake_mean_us = w->n ? w->sum_us / (double)w->n : 0;
    out->wake_p50_us = link_lat_quantile(w, 0.5);
    out->wake_p99_us = link_lat_quantile(w, 0.99);
    pthread_mutex_unlock(&m->stats.mu);
}
