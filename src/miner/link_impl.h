/* SPDX-License-Identifier: MIT */
/* Inside a link: the session struct shared by link.c (connection, handshake,
 * dispatch) and serve.c (jobs, scoring, token streaming). Loop thread only. */
#ifndef FIEF_MINER_LINK_IMPL_H
#define FIEF_MINER_LINK_IMPL_H

#include "common/buf.h"
#include "miner/link.h"
#include "proto/proto.h"

#define RELAY_MAX 64 /* token lines whose relay time is awaiting their write */

enum phase {
    PH_CONNECTING = 0, /* TCP (and name) resolution under way */
    PH_HELLO,          /* hello sent */
    PH_WELCOMED,       /* probe: waiting for the agent's link_promote */
    PH_AUTH,           /* auth sent */
    PH_OFFER,          /* offer sent */
    PH_SERVING,        /* jobs accepted */
    PH_CLOSED,
};

/* A job or score running for this session on exec slot i (jobs[i]). */
struct ljob {
    bool active;
    bool score;                    /* a score request, not a generation */
    uint64_t req;                  /* the pool's request id, for the reply */
    char name[PROTO_MAX_NAME + 1]; /* the pool's job id */
    uint32_t seq;                  /* index of the next token to send */
    uint32_t top_n;                /* alternatives per token */
    uint32_t nb, cap;              /* tokens batched, capacity of the arrays */
    int32_t *ids;                  /* owned, cap */
    float *lps;                    /* owned, cap */
    int32_t *tids;                 /* owned, cap * PROTO_MAX_TOP */
    float *tlps;                   /* owned, cap * PROTO_MAX_TOP */
    uint64_t t_first;              /* queue time (ns) of the oldest batched token */
};

struct link {
    struct link_env env; /* copy; pointers borrowed from the agent */
    uint64_t tag;
    bool probe;
    char url[PROTO_MAX_TEXT + 1];
    char host[256];
    int port;
    enum phase phase;
    enum link_why why;
    char redirect[PROTO_MAX_TEXT + 1];
    struct bufferevent *bev; /* owned */
    struct event *timer;     /* owned: liveness ticks, deferred failures */
    bool fail_pending;       /* connect failed inside link_new: report from the loop */
    size_t scan;             /* input bytes already searched for '\n' */
    uint64_t next_id, hello_id, auth_id, offer_id, ping_id; /* our requests; 0 = none */
    double t_open, last_rx;                                 /* monotonic seconds */
    struct proto_welcome welcome;
    bool accepted[PROTO_MAX_MODELS];
    char pool_name[PROTO_MAX_MODELS][PROTO_MAX_NAME + 1]; /* accepted models' names */
    struct ljob *jobs;                                    /* owned, one per exec slot */
    int n_jobs;
    struct buf out;              /* scratch for one outgoing line */
    uint64_t relay_t[RELAY_MAX]; /* queue times of lines not yet written */
    int relay_n;
};

/* link.c: sending (no-ops once closed). The json_t arguments are stolen.
 * link_send_notify returns whether the line reached the socket at once. */
void link_send_result(struct link *l, uint64_t id, json_t *result);
void link_send_error(struct link *l, uint64_t id, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
bool link_send_notify(struct link *l, enum proto_method m, json_t *params);
/* A token line queued at t_ns (clock_mono_ns) was written now, or will be
 * (written = false): then it is timed when the output drains. */
void link_relay_note(struct link *l, uint64_t t_ns, bool written);

/* serve.c: the pool's job/score/cancel, engine events, closing a session's
 * jobs (link_on_exec and link_flush are serve_on_exec and serve_flush). */
void serve_job(struct link *l, const struct proto_msg *msg);
void serve_score(struct link *l, const struct proto_msg *msg);
void serve_cancel(struct link *l, const struct proto_msg *msg);
/* Forget every job (their slots are cancelled by the caller). */
void serve_on_exec(struct link *l, const struct exec_ev *ev);
void serve_flush(struct link *l);
void serve_drop_all(struct link *l);
void serve_free(struct link *l);

#endif
