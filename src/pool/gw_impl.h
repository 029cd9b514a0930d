/* SPDX-License-Identifier: MIT */
/* The gateway's state, shared by its files: mconn.c (sessions, the
 * protocol) and mconn_views.c (the public views of connected miners). Not
 * for other modules. */
#ifndef FIEF_POOL_GW_IMPL_H
#define FIEF_POOL_GW_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "common/buf.h"
#include "pool/gw.h"
#include "proto/proto.h"

struct bufferevent;
struct evconnlistener;
struct event;

enum mc_state { MC_HELLO, MC_AUTH, MC_READY, MC_CLOSING };

struct mconn {
    struct gw *g;
    struct bufferevent *bev;
    enum mc_state state;
    char peer[64];                 /* ip:port */
    char ip[64];
    char session[17];
    char challenge[PROTO_NONCE_HEX + 1];
    struct proto_hello hello;
    char id[17];                   /* first 16 hex of the key */
    uint64_t next_req;             /* our request ids */
    uint64_t ping_req;             /* outstanding ping, 0 if none */
    uint64_t last_rx_ns, opened_ns, closing_ns;
    int64_t connected_ms;
    bool offered;
    bool dead;                     /* on the reaper's list */
    bool gone_pending;             /* the scheduler must still hear it is gone */
    uint32_t n_models;
    char models[PROTO_MAX_MODELS][PROTO_MAX_NAME + 1];
    uint32_t slots;
    double tps;
    uint64_t tokens, jobs;
    TAILQ_ENTRY(mconn) link;
};

struct gw {
    struct pool *p;
    struct disp *d;
    struct evconnlistener *lis;
    int port;
    TAILQ_HEAD(, mconn) conns;
    TAILQ_HEAD(, mconn) dead;      /* closed, to be freed by the reaper */
    uint32_t n_conns;
    struct event *tick;
    struct event *reap;
    struct buf out;                /* scratch for encoding lines */
};

#endif
