/* SPDX-License-Identifier: MIT */
/* The miner gateway and the scheduler, as each sees the other. The gateway
 * (mconn.c) owns miner connections and speaks the protocol; the scheduler
 * (disp.c) owns jobs, queues and slots. Loop thread only. */
#ifndef FIEF_POOL_GW_H
#define FIEF_POOL_GW_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "pool/disp.h"
#include "proto/proto.h"

struct pool;
struct gw;
struct mconn;
struct offer;

/* ---- gateway ---- */

/* Listen for miners on listen ("HOST:PORT") on the pool's loop. */
int gw_start(struct pool *p, struct disp *d, const char *listen, struct gw **out,
             char err[FIEF_ERR_LEN]);
int gw_port(const struct gw *g);
/* Send every miner a notice (shutdown, fee change ...). */
void gw_notice_all(struct gw *g, const struct proto_notice *n);
/* A request settled: send its signed receipt (JSON text, ledger.h) to every
 * connection of each miner it pays. Miners not connected now miss it (they
 * can ask the operator; the store keeps it). */
void gw_send_receipt(struct gw *g, const char *req, const char *receipt_json);
/* A key was banned: tell each of its connections why, then close them
 * (after the current callback). Its next hello is refused (error 8). */
void gw_ban(struct gw *g, const char *pubkey, const char *reason);
/* Close every connection and the listener. */
void gw_free(struct gw *g);

/* Public views: every connected, authenticated miner; one by id. */
json_t *gw_miners_json(struct gw *g);
json_t *gw_miner_json(struct gw *g, const char *id);
/* The whole key of a connected miner whose short id or key is id, or NULL. */
const char *gw_miner_pubkey(struct gw *g, const char *id);
uint32_t gw_miners_online(const struct gw *g);

/* What the scheduler asks of a connection. */
const char *mconn_id(const struct mconn *mc);      /* short public id (16 hex of the key) */
const char *mconn_pubkey(const struct mconn *mc);  /* full hex key */
/* False once the connection is closing (its offers are about to go). */
bool mconn_ready(const struct mconn *mc);
/* Send a job (a score) request; returns the request id the reply will
 * carry, or 0 if the connection is closing. */
uint64_t mconn_send_job(struct mconn *mc, const struct proto_job *job);
uint64_t mconn_send_score(struct mconn *mc, const struct proto_score *score);
void mconn_send_cancel(struct mconn *mc, const char *wire_id);
/* Drop a misbehaving or stalled miner (after the current callback). */
void mconn_kick(struct mconn *mc, int code, const char *why);
/* Count tokens this miner served (for its public stats). */
void mconn_add_tokens(struct mconn *mc, uint32_t n);

/* ---- scheduler, called by the gateway ---- */

struct disp *disp_new(struct pool *p);
void disp_free(struct disp *d);

/* An authenticated miner offers a model: slots, speed, capabilities, and
 * the positions (prompt + generated) one job may use. */
struct offer *disp_offer_add(struct disp *d, struct mconn *mc, struct pool_model *m,
                             uint32_t slots, double tps, uint32_t caps, uint32_t ctx);
/* The connection is gone: its jobs fail over, its offers disappear. */
void disp_miner_gone(struct disp *d, struct mconn *mc);
/* A tokens notification from mc. Returns 0, or FIEF_EPROTO with err set when
 * the miner broke the rules (tokens for a job it does not hold, out of
 * sequence, ids out of range ...): the gateway then drops it. */
int disp_on_tokens(struct disp *d, struct mconn *mc, const struct proto_tokens *t,
                   char err[FIEF_ERR_LEN]);
/* The reply to a job request: done (err_code 0) or an error reply. */
int disp_on_job_reply(struct disp *d, struct mconn *mc, uint64_t req_id,
                      const struct proto_job_done *done, int err_code, const char *err_msg,
                      char err[FIEF_ERR_LEN]);
/* Periodic housekeeping: deadlines, stalled miners (every ~50 ms). */
void disp_tick(struct disp *d);
/* Whether req_id is a job request outstanding on mc (else the gateway treats
 * the reply as unsolicited). */
int disp_owns_request(struct disp *d, struct mconn *mc, uint64_t req_id);

/* Slots of mc running a job or a score now. */
uint32_t disp_miner_busy(const struct disp *d, const struct mconn *mc);

/* ---- slots for audits (disp_read.c) ----
 * Connections that could score `positions` positions of model m now: ready,
 * offering m with the score capability, a slot free and a context of at
 * least positions, and not holding a slot a waiting customer job could use.
 * At most cap into out; returns how many (a key with two connections may
 * appear twice). */
uint32_t disp_scorers(struct disp *d, const struct pool_model *m, uint32_t positions,
                      struct mconn **out, uint32_t cap);
/* Take a slot of mc's offer of m for a score (false: none free any more),
 * and give it back; a release after the miner left is a no-op. Releasing
 * dispatches waiting jobs first. */
bool disp_score_reserve(struct disp *d, struct mconn *mc, const struct pool_model *m);
void disp_score_release(struct disp *d, struct mconn *mc, const struct pool_model *m);

/* Live relay rate (tokens/s, smoothed) and totals since start. */
double disp_tokens_per_s(const struct disp *d);
uint64_t disp_jobs_total(const struct disp *d);

#endif
