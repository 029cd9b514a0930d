/* SPDX-License-Identifier: MIT */
/* The public views of connected miners (GET /api/miners, /api/miners/{id}):
 * what each connection serves, its load and speed, and the key's
 * reputation from the audits. */
#include "pool/audit.h"
#include "pool/gw_impl.h"
#include "pool/pool.h"
#include "common/clock.h"

#include <string.h>

static json_t *miner_json(const struct mconn *mc)
{
    json_t *models = json_array();
    for (uint32_t i = 0; i < mc->n_models; i++)
        json_array_append_new(models, json_string(mc->models[i]));
    return json_pack("{s:s, s:s, s:o, s:I, s:I, s:f, s:I, s:I, s:I}", "id", mc->id, "worker",
                     mc->hello.worker, "models", models, "slots", (json_int_t)mc->slots,
                     "busy", (json_int_t)disp_miner_busy(mc->g->d, mc),
                     "tps", mc->tps, "tokens", (json_int_t)mc->tokens, "jobs",
                     (json_int_t)mc->jobs, "connected_s",
                     (json_int_t)((int64_t)clock_wall_ms() - mc->connected_ms) / 1000);
}

json_t *gw_miners_json(struct gw *g)
{
    json_t *arr = json_array();
    struct mconn *mc;
    TAILQ_FOREACH(mc, &g->conns, link) {
        if (mc->state != MC_READY)
            continue;
        json_t *o = miner_json(mc);
        json_object_set_new(o, "reputation", audit_rep_json(pool_audit(g->p), mc->hello.pubkey));
        json_array_append_new(arr, o);
    }
    return arr;
}

json_t *gw_miner_json(struct gw *g, const char *id)
{
    json_t *conns = json_array();
    struct mconn *mc;
    TAILQ_FOREACH(mc, &g->conns, link)
        if (mc->state == MC_READY && (!strcmp(mc->id, id) || !strcmp(mc->hello.pubkey, id)))
            json_array_append_new(conns, miner_json(mc));
    return conns;
}

const char *gw_miner_pubkey(struct gw *g, const char *id)
{
    struct mconn *mc;
    TAILQ_FOREACH(mc, &g->conns, link)
        if (mc->state == MC_READY && (!strcmp(mc->id, id) || !strcmp(mc->hello.pubkey, id)))
            return mc->hello.pubkey;
    return NULL;
}

uint32_t gw_miners_online(const struct gw *g)
{
    uint32_t n = 0;
    const struct mconn *mc;
    TAILQ_FOREACH(mc, &g->conns, link)
        n += mc->state == MC_READY;
    return n;
}

