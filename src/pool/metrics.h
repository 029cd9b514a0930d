/* SPDX-License-Identifier: MIT */
/* GET /metrics: the pool's counters and gauges in Prometheus' text format. */
#ifndef FIEF_POOL_METRICS_H
#define FIEF_POOL_METRICS_H

#include "common/buf.h"
#include "pool/api.h"

struct pool;

/* Append the exposition (text format 0.0.4) for the pool and the HTTP
 * counters st to out. Loop thread. */
void metrics_render(struct pool *p, const struct api_stats *st, struct buf *out);

#endif
