/* SPDX-License-Identifier: MIT */
/* Prometheus text exposition of the pool: HTTP and token counters, miners,
 * per-model capacity and load. Names follow Prometheus conventions
 * (fief_ prefix, _total for counters). */
#include "pool/metrics.h"
#include "pool/audit.h"
#include "pool/disp.h"
#include "pool/gw.h"
#include "pool/models.h"
#include "pool/pool.h"
#include "ledger/ledger_audit.h"

#include <stdint.h>

static void metric(struct buf *b, const char *name, const char *type, const char *help, double v)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

/* One gauge family with a sample per model. */
static void per_model(struct buf *b, struct pool *p, const char *name, const char *help,
                      size_t field)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
    struct pool_models *ms = pool_models(p);
    for (size_t i = 0; i < models_count(ms); i++) {
        struct pool_model *m = models_at(ms, i);
        struct disp_model_stats st;
        disp_model_stats(pool_disp(p), m, &st);
        double v = field == 0   ? st.miners
                   : field == 1 ? st.slots
                   : field == 2 ? st.busy
                   : field == 3 ? st.queued
                                : st.tps;
        buf_printf(b, "%s{model=\"%s\"} %.17g\n", name, m->name, v);
    }
}

void metrics_render(struct pool *p, const struct api_stats *st, struct buf *out)
{
    metric(out, "fief_http_requests_total", "counter", "HTTP requests received.",
           (double)st->requests);
    metric(out, "fief_http_4xx_total", "counter", "Replies with a 4xx status.",
           (double)st->errors_4xx);
    metric(out, "fief_http_5xx_total", "counter", "Replies with a 5xx status.",
           (double)st->errors_5xx);
    metric(out, "fief_generations_total", "counter", "Generation requests accepted.",
           (double)st->completions);
    metric(out, "fief_streams_total", "counter", "Generation requests streamed.",
           (double)st->streams);
    metric(out, "fief_cancelled_total", "counter", "Requests the customer left early.",
           (double)st->cancelled);
    metric(out, "fief_prompt_tokens_total", "counter", "Prompt tokens billed.",
           (double)st->prompt_tokens);
    metric(out, "fief_completion_tokens_total", "counter", "Completion tokens billed.",
           (double)st->completion_tokens);
    metric(out, "fief_generations_open", "gauge", "Generation requests in flight.",
           (double)st->open);
    metric(out, "fief_payment_required_total", "counter",
           "Requests refused with 402: not enough credit.", (double)st->payment_required);
    metric(out, "fief_idempotent_replays_total", "counter",
           "Stored responses sent again for an Idempotency-Key.", (double)st->idem_replays);
    metric(out, "fief_charged_micro_total", "counter",
           "Micro-credits charged to customers (settlements queued).", (double)st->charged_micro);
    metric(out, "fief_ledger_ops_total", "counter",
           "Holds and settlements placed on the event loop.", (double)st->ledger_ops);
    metric(out, "fief_ledger_loop_seconds_total", "counter",
           "Time the event loop spent placing holds and settlements.", (double)st->ledger_ns / 1e9);
    metric(out, "fief_jobs_total", "counter", "Jobs finished (one per choice).",
           (double)disp_jobs_total(pool_disp(p)));
    metric(out, "fief_relay_tokens_per_second", "gauge", "Completion tokens relayed per second.",
           disp_tokens_per_s(pool_disp(p)));
    metric(out, "fief_miners_online", "gauge", "Authenticated miner connections.",
           (double)pool_miners_online(p));
    struct audit_stats au;
    audit_stats_get(pool_audit(p), &au);
    const struct {
        const char *name, *type, *help;
        double v;
    } audits[] = {
        {"fief_audits_drawn_total", "counter", "Job parts drawn for an audit.", (double)au.drawn},
        {"fief_audits_skipped_total", "counter", "Drawn parts not audited: the queue was full.",
         (double)au.skipped},
        {"fief_audit_scores_total", "counter", "Score requests sent to auditors.",
         (double)au.scores},
        {"fief_audits_passed_total", "counter",
         "Audits passed (by the first auditor, and its recheck if drawn).", (double)au.passed},
        {"fief_audits_failed_total", "counter", "Audits failed by the first auditor.",
         (double)au.failed},
        {"fief_audits_confirmed_total", "counter", "Frauds confirmed by the majority.",
         (double)au.confirmed},
        {"fief_audits_cleared_total", "counter", "First failures cleared by the majority.",
         (double)au.cleared},
        {"fief_audits_undecided_total", "counter", "Failures no independent auditor confirmed.",
         (double)au.undecided},
        {"fief_audits_abandoned_total", "counter", "Audits no auditor took in time.",
         (double)au.abandoned},
        {"fief_bans_total", "counter", "Keys banned by audits.", (double)au.bans},
        {"fief_audits_waiting", "gauge", "Audits waiting for an auditor.", (double)au.waiting},
        {"fief_audits_running", "gauge", "Score requests in flight.", (double)au.running},
    };
    for (size_t i = 0; i < sizeof audits / sizeof audits[0]; i++)
        metric(out, audits[i].name, audits[i].type, audits[i].help, audits[i].v);
    struct ledger_audit_totals tot = {0};
    if (!ledger_audit_totals(pool_store(p), &tot)) { /* committed sums, one row */
        metric(out, "fief_forfeited_micro_total", "counter",
               "Micro-credits of banned keys' earnings forfeited.", (double)tot.forfeited);
        metric(out, "fief_refunded_micro_total", "counter",
               "Micro-credits refunded to customers of banned keys.", (double)tot.refunded);
        metric(out, "fief_auditor_pay_micro_total", "counter",
               "Micro-credits paid to auditors for scores.", (double)tot.auditor_pay);
    }
    per_model(out, p, "fief_model_miners", "Miners serving the model.", 0);
    per_model(out, p, "fief_model_slots", "Slots offered for the model.", 1);
    per_model(out, p, "fief_model_busy", "Slots running a job.", 2);
    per_model(out, p, "fief_model_queued", "Jobs waiting for a slot.", 3);
    per_model(out, p, "fief_model_tps", "Reported tokens per second, all slots.", 4);
}
