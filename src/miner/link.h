/* SPDX-License-Identifier: MIT */
/* One session with one pool: connect, hello, (terms check), auth, offer, then
 * serve its job/cancel/score/ping/notice and stream tokens back.
 *
 * The agent creates links and frees them; a link reports to the agent
 * through link_env.on_event, and never frees itself. All calls happen on the
 * event-loop thread. */
#ifndef FIEF_MINER_LINK_H
#define FIEF_MINER_LINK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "miner/exec.h"
#include "miner/ident.h"

#define LINK_DEFAULT_PORT 3333

struct event_base;
struct evdns_base;
struct link;

enum link_event {
    LINK_WELCOMED, /* probe links only: the pool answered hello with acceptable terms;
                      the agent calls link_promote or link_close */
    LINK_SERVING,  /* the offer was answered and at least one model accepted */
    LINK_CLOSED,   /* the session ended by itself; link_why says why. The agent frees
                      the link later, never inside this callback */
};

enum link_why {
    LINK_OPEN = 0,
    LINK_WHY_ERROR,    /* connect failure, protocol error, silence */
    LINK_WHY_REFUSED,  /* hello/auth refused, or no model accepted */
    LINK_WHY_FEE,      /* the pool's fee is above --max-fee */
    LINK_WHY_REDIRECT, /* the pool sent us elsewhere: link_redirect */
    LINK_WHY_SHUTDOWN, /* the pool is going down */
    LINK_WHY_LOCAL,    /* closed by this side (link_close) */
};

#define LINK_HIST 96 /* log-scale buckets, 4 per octave of microseconds */

/* A latency distribution in microseconds. */
struct link_lat {
    uint64_t n;
    double sum_us, max_us;
    uint32_t hist[LINK_HIST];
};
/* Record one sample (caller holds the stats lock). */
void link_lat_add(struct link_lat *l, double us);
/* The q-quantile (0..1), to the bucket's upper edge (~19% resolution). */
double link_lat_quantile(const struct link_lat *l, double q);

/* Counters shared by all links; the agent owns them. */
struct link_stats {
    pthread_mutex_t mu; /* links and the agent update under it; miner_get_stats reads */
    uint64_t sessions, jobs, tokens;
    struct link_lat wake;  /* engine callback -> the loop picks the token up */
    struct link_lat relay; /* engine callback -> its line written to the socket */
};

/* What links borrow from the agent; outlives every link. */
struct link_env {
    struct event_base *base;
    struct evdns_base *dns; /* may be NULL: blocking name resolution */
    struct exec *ex;
    const struct ident *id;
    const char *data_dir; /* where receipts are filed (miner/receipts.h) */
    const char *worker, *payout;
    uint32_t max_fee_ppm; /* UINT32_MAX: no limit */
    uint32_t caps;        /* PROTO_CAP_* offered for every model; jobs need GENERATE */
    double ping_s, silence_s;
    struct link_stats *stats;
    void (*on_event)(void *ud, struct link *l, enum link_event ev);
    void *ud;
};

/* Parse a pool URL: "fief+tcp://HOST[:PORT]", "HOST:PORT" or "HOST" (port
 * 3333). 0 or FIEF_EINVAL/FIEF_EUNSUPPORTED (fief+tls://) with err set. */
int link_url_parse(const char *url, char *host, size_t host_cap, int *port, char err[FIEF_ERR_LEN]);

/* Start a session with the pool at url (already validated) and return it;
 * tag is a unique non-zero id (it marks the session's slots). A probe link
 * stops after hello and reports LINK_WELCOMED or LINK_CLOSED. Never NULL:
 * failures arrive as LINK_CLOSED from the loop. */
struct link *link_new(const struct link_env *env, const char *url, uint64_t tag, bool probe);

/* A welcomed probe becomes a full session (auth, offer, serve). */
void link_promote(struct link *l);

/* End the session from this side: cancel its jobs, close the socket, no
 * LINK_CLOSED. Idempotent. */
void link_close(struct link *l);

/* Free a link (closing it first). Not from inside its own on_event. NULL: no-op. */
void link_free(struct link *l);

uint64_t link_tag(const struct link *l);
const char *link_url(const struct link *l);
bool link_is_open(const struct link *l);
bool link_is_serving(const struct link *l);
enum link_why link_why(const struct link *l);
/* After LINK_WHY_REDIRECT: the URL the pool named (valid while l lives). */
const char *link_redirect(const struct link *l);

/* An engine event for one of this link's slots. Tokens are batched per job
 * until link_flush (or the job's end). */
void link_on_exec(struct link *l, const struct exec_ev *ev);
/* Send every batched token now. */
void link_flush(struct link *l);

#endif
