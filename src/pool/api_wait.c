/* SPDX-License-Identifier: MIT */
/* Replies that wait for their settlement to commit. The last bytes of a
 * priced request (the whole JSON body, or a stream's cost chunk and
 * [DONE]) carry its cost; the customer must not hold them while a crash
 * could still lose the settlement, so they go out when the store's write
 * thread says the settlement committed (ledger_on_settled), one group
 * commit later. A settlement the database refused, or a notice that never
 * comes, releases the reply after API_WAIT_MS anyway: the customer is not
 * made to pay for the pool's trouble with a missing answer. */
#include "pool/api_impl.h"
#include "pool/pool.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#define API_WAIT_MS 10000

struct api_wait {
    struct api *a;
    char req_id[65];
    struct evhttp_request *req;
    struct evhttp_connection *evcon; /* NULL once libevent is freeing it */
    bool stream;                     /* the tail of a begun chunked reply */
    int status;                      /* not stream: the whole reply */
    char ctype[64];
    struct buf bytes;
    struct event *timer;
    struct api_wait *prev, *next;
};

static void wait_free(struct api_wait *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        w->a->waits = w->next;
    if (w->next)
        w->next->prev = w->prev;
    if (w->evcon)
        evhttp_connection_set_closecb(w->evcon, NULL, NULL);
    if (w->timer)
        event_free(w->timer);
    buf_deinit(&w->bytes);
    free(w);
}

static void wait_send(struct api_wait *w)
{
    struct evhttp_request *req = w->req;
    if (w->stream) {
        struct evbuffer *evb = evbuffer_new();
        if (evb) {
            evbuffer_add(evb, w->bytes.data, w->bytes.len);
            evhttp_send_reply_chunk(req, evb);
            evbuffer_free(evb);
        }
        wait_free(w); /* before the end: it may close the connection */
        evhttp_send_reply_end(req);
        return;
    }
    struct api *a = w->a;
    int status = w->status;
    char ctype[64];
    struct buf body = w->bytes;
    snprintf(ctype, sizeof ctype, "%s", w->ctype);
    buf_init(&w->bytes); /* body is ours now */
    wait_free(w);
    api_reply_body(a, req, status, ctype, body.data ? body.data : "", body.len);
    buf_deinit(&body);
}

/* The customer left while its reply waited: a begun reply's request is ours
 * to free (libevent detached it), an unbegun one libevent frees. */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
    struct api_wait *w = arg;
    (void)evcon;
    log_info("api: %s: the customer left before its settled reply went out", w->req_id);
    struct evhttp_request *req = w->req;
    w->evcon = NULL; /* being freed: no closecb to clear */
    wait_free(w);
    if (evhttp_request_get_connection(req) == NULL)
        evhttp_request_free(req);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct api_wait *w = arg;
    (void)fd;
    (void)what;
    log_warn("api: %s: no word from the books %d ms after its settlement; replying anyway",
             w->req_id, API_WAIT_MS);
    wait_send(w);
}

void api_wait_reply(struct api *a, const char *req_id, struct evhttp_request *req, bool stream,
                    int status, const char *ctype, const char *bytes, size_t len)
{
    struct api_wait *w = xcalloc(1, sizeof *w);
    w->a = a;
    snprintf(w->req_id, sizeof w->req_id, "%s", req_id);
    w->req = req;
    w->stream = stream;
    w->status = status;
    snprintf(w->ctype, sizeof w->ctype, "%s", ctype ? ctype : "");
    buf_init(&w->bytes);
    buf_append(&w->bytes, bytes, len);
    w->next = a->waits;
    if (a->waits)
        a->waits->prev = w;
    a->waits = w;
    w->evcon = evhttp_request_get_connection(req);
    if (w->evcon)
        evhttp_connection_set_closecb(w->evcon, on_close, w);
    struct timeval tv = {API_WAIT_MS / 1000, (API_WAIT_MS % 1000) * 1000};
    w->timer = evtimer_new(pool_base(a->p), on_timer, w);
    if (!w->timer || evtimer_add(w->timer, &tv))
        wait_send(w); /* no timer, no waiting */
}

void api_settled(struct api *a, const char *req_id)
{
    for (struct api_wait *w = a->waits, *next; w; w = next) {
        next = w->next;
        if (!strcmp(w->req_id, req_id)) {
            wait_send(w);
            return; /* one reply per request */
        }
    }
}

void api_wait_flush(struct api *a)
{
    while (a->waits)
        wait_send(a->waits);
}
