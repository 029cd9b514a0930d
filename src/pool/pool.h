/* SPDX-License-Identifier: MIT */
/* The pool server: one event loop that owns the miner gateway, the scheduler
 * and the HTTP API, plus the store's write thread. This header is what the
 * modules of src/pool see of each other. */
#ifndef FIEF_POOL_H
#define FIEF_POOL_H

#include <jansson.h>
#include <stdint.h>

#include "common/err.h"
#include "pool/pool_cfg.h"

struct pool;
struct event_base;
struct store;
struct disp;
struct pool_models;

/* Build the pool: load models, open the store, bind both listeners. The
 * config is copied. Returns 0 or an error (err says which part failed). */
int pool_new(const struct pool_cfg *cfg, struct pool **out, char err[FIEF_ERR_LEN]);
/* Run the event loop until pool_stop (or SIGINT/SIGTERM). 0 on a clean stop. */
int pool_run(struct pool *p);
/* Ask the loop to stop: miners get a shutdown notice, streams end. Safe from
 * any thread. */
void pool_stop(struct pool *p);
void pool_free(struct pool *p);

/* ---- for the pool's own modules (loop thread only) ---- */
struct event_base *pool_base(struct pool *p);
const struct pool_cfg *pool_get_cfg(const struct pool *p);
struct store *pool_store(struct pool *p);
struct disp *pool_disp(struct pool *p);
struct audit *pool_audit(struct pool *p);
struct gw *pool_gw(struct pool *p);
struct pool_models *pool_models(struct pool *p);
/* The port the HTTP API / miner gateway listen on (after binding port 0). */
int pool_http_port(const struct pool *p);
int pool_miner_port(const struct pool *p);
/* Authenticated miner connections now. */
uint32_t pool_miners_online(struct pool *p);
/* The pool's receipt-signing ed25519 public key, 64 lowercase hex digits
 * (published in GET /api/pool and the protocol's hello reply). */
const char *pool_key_hex(const struct pool *p);

/* Public JSON views (new references): GET /api/pool, /api/models,
 * /api/miners, /api/miners/{id} (NULL when unknown). */
json_t *pool_info_json(struct pool *p);
json_t *pool_models_json(struct pool *p);
json_t *pool_miners_json(struct pool *p);
json_t *pool_miner_json(struct pool *p, const char *id);

#endif
