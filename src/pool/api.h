/* SPDX-License-Identifier: MIT */
/* The HTTP API: OpenAI-compatible /v1 endpoints for customers, the pool's
 * public /api views, and /metrics, on libevent's HTTP server. */
#ifndef FIEF_POOL_API_H
#define FIEF_POOL_API_H

#include "common/err.h"

struct pool;
struct api;

/* Bind listen ("HOST:PORT"; port 0 picks one) on the pool's event base and
 * serve. Returns 0 or FIEF_EIO with err set (address in use, ...). */
int api_start(struct pool *p, const char *listen, struct api **out, char err[FIEF_ERR_LEN]);
/* The bound port. */
int api_port(const struct api *a);
/* Stop accepting; end every open stream (the jobs are cancelled). */
void api_free(struct api *a);

#endif
