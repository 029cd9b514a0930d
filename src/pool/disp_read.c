/* SPDX-License-Identifier: MIT */
/* Reading the scheduler: a job's tokens and parts, each model's capacity and
 * load, the relay rate; and the slots audits borrow from miners' offers for
 * score requests, which count as busy like jobs. */
#include "pool/disp_impl.h"
#include "pool/gw.h"
#include "pool/models.h"

#include <string.h>

uint32_t disp_miner_busy(const struct disp *d, const struct mconn *mc)
{
    uint32_t n = 0;
    for (size_t i = 0; i < d->n_models; i++) {
        const struct offer *o;
        TAILQ_FOREACH(o, &d->models[i].offers, link)
            if (o->mc == mc)
                n += o->busy;
    }
    return n;
}

double disp_tokens_per_s(const struct disp *d)
{
    return d->rate;
}

uint64_t disp_jobs_total(const struct disp *d)
{
    return d->jobs_total;
}

void disp_model_stats(const struct disp *d, const struct pool_model *m,
                      struct disp_model_stats *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < d->n_models; i++) {
        const struct dmodel *dm = &d->models[i];
        if (dm->m != m)
            continue;
        const struct offer *o;
        TAILQ_FOREACH(o, &dm->offers, link) {
            if (!disp_offer_generates(o)) { /* an auditor only: serves no customer */
                out->auditors++;
                continue;
            }
            if (o->caps & PROTO_CAP_SCORE)
                out->auditors++;
            out->miners++;
            out->slots += o->slots;
            out->busy += o->busy;
            out->tps += o->tps * o->slots;
        }
        out->queued = dm->n_queued;
    }
}

/* ---- reading a job ---- */

const char *pjob_id(const struct pjob *j)
{
    return j->id;
}

uint32_t pjob_n_prompt(const struct pjob *j)
{
    return j->p.n_prompt;
}

const int32_t *pjob_tokens(const struct pjob *j, uint32_t *n)
{
    *n = j->n_out;
    return j->toks;
}

const float *pjob_logprobs(const struct pjob *j)
{
    return j->lps;
}

const struct pjob_alt *pjob_top(const struct pjob *j, uint32_t i, uint32_t *n)
{
    if (i >= j->n_out || !j->p.top_n) {
        *n = 0;
        return NULL;
    }
    *n = j->p.top_n;
    return j->alts + (size_t)i * j->p.top_n;
}

uint32_t pjob_n_miners(const struct pjob *j)
{
    return j->n_parts;
}

const struct store_job_part *pjob_parts(const struct pjob *j, uint32_t *n)
{
    *n = j->n_parts;
    return j->parts;
}

/* ---- slots for audits ---- */

static struct offer *find_offer(struct disp *d, const struct mconn *mc,
                                const struct pool_model *m)
{
    struct dmodel *dm = disp_find_dm(d, m);
    struct offer *o;
    if (dm)
        TAILQ_FOREACH(o, &dm->offers, link)
            if (o->mc == mc)
                return o;
    return NULL;
}

uint32_t disp_scorers(struct disp *d, const struct pool_model *m, uint32_t positions,
                      struct mconn **out, uint32_t cap)
{
    struct dmodel *dm = disp_find_dm(d, m);
    uint32_t n = 0;
    const struct offer *o;
    if (!dm)
        return 0;
    TAILQ_FOREACH(o, &dm->offers, link) {
        /* Customers first: a slot that could take a waiting job is not lent. */
        bool customers = disp_offer_generates(o) && dm->n_queued > 0;
        if (n < cap && (o->caps & PROTO_CAP_SCORE) && o->busy < o->slots && !customers &&
            positions <= o->ctx && mconn_ready(o->mc))
            out[n++] = o->mc;
    }
    return n;
}

bool disp_score_reserve(struct disp *d, struct mconn *mc, const struct pool_model *m)
{
    struct offer *o = find_offer(d, mc, m);
    if (!o || o->busy >= o->slots)
        return false;
    o->busy++;
    return true;
}

void disp_score_release(struct disp *d, struct mconn *mc, const struct pool_model *m)
{
    struct offer *o = find_offer(d, mc, m);
    if (!o || !o->busy)
        return; /* the miner left: its offers, and their counts, are gone */
    o->busy--;
    disp_dispatch(d, o->dm);
}
