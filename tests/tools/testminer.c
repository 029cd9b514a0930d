/* SPDX-License-Identifier: MIT */
/* fief-testminer: a test-only miner that misbehaves on purpose, to prove the
 * pool drops a bad peer and nobody else notices. Built for the tests, never
 * shipped in the fief binary. Blocking sockets: it is a script, not a server.
 *
 *   fief-testminer --pool 127.0.0.1:3333 --mode MODE [--digest D] [--count N]
 *                  [--job WIRE-ID] [--seconds S]
 *
 * Exit 0 when the pool reacted as it should (error and/or disconnect), 1 when
 * it did not, 2 on bad usage. */
#include "common/digest.h"
#include "proto/proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
    int fd;
    char in[1 << 16];
    size_t n;
    unsigned char pk[32], sk[64];
};

static int dial(const char *hostport)
{
    char host[64];
    const char *colon = strrchr(hostport, ':');
    if (!colon || colon - hostport >= (long)sizeof host)
        return -1;
    snprintf(host, sizeof host, "%.*s", (int)(colon - hostport), hostport);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static void put(struct conn *c, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(c->fd, s, n);
        if (w <= 0)
            return; /* the pool may already have closed: that is what we test */
        s += w;
        n -= (size_t)w;
    }
}

/* Next line from the pool within ms; NULL on timeout; "" on EOF. */
static char *get_line(struct conn *c, int ms)
{
    static char line[1 << 16];
    for (;;) {
        char *nl = memchr(c->in, '\n', c->n);
        if (nl) {
            size_t len = (size_t)(nl - c->in);
            memcpy(line, c->in, len);
            line[len] = 0;
            memmove(c->in, nl + 1, c->n - len - 1);
            c->n -= len + 1;
            return line;
        }
        struct pollfd p = {c->fd, POLLIN, 0};
        if (poll(&p, 1, ms) <= 0)
            return NULL;
        ssize_t r = read(c->fd, c->in + c->n, sizeof c->in - c->n);
        if (r <= 0) {
            line[0] = 0;
            return line;
        }
        c->n += (size_t)r;
    }
}

/* True when the pool closes the connection within ms, and (when needle is
 * not NULL) one of the lines before the close contains needle. The lines are
 * printed. */
static bool closed_by_pool_saying(struct conn *c, int ms, const char *needle)
{
    bool said = needle == NULL;
    for (;;) {
        char *l = get_line(c, ms);
        if (!l)
            return false;
        if (!l[0])
            return said;
        printf("pool said: %.200s\n", l);
        if (needle && strstr(l, needle))
            said = true;
    }
}

static bool closed_by_pool(struct conn *c, int ms)
{
    return closed_by_pool_saying(c, ms, NULL);
}

static void send_msg(struct conn *c, uint64_t id, enum proto_method m, json_t *params, bool req)
{
    struct buf b;
    buf_init(&b);
    if (req)
        proto_put_request(&b, id, m, params);
    else
        proto_put_notify(&b, m, params);
    put(c, b.data, b.len);
    buf_deinit(&b);
    json_decref(params);
}

/* hello; returns the challenge (static) or NULL. */
static const char *hello(struct conn *c)
{
    struct proto_hello h = {.version = PROTO_VERSION};
    snprintf(h.agent, sizeof h.agent, "fief-testminer");
    hex_encode(c->pk, 32, h.pubkey);
    snprintf(h.worker, sizeof h.worker, "rogue");
    snprintf(h.payout, sizeof h.payout, "rogue-account");
    send_msg(c, 1, PM_HELLO, proto_hello_encode(&h), true);
    char *l = get_line(c, 3000);
    struct proto_msg m;
    char err[FIEF_ERR_LEN];
    static struct proto_welcome w;
    if (!l || !l[0] || proto_parse(l, strlen(l), &m, err))
        return NULL;
    int rc = m.kind == PROTO_REPLY && !m.is_error ? proto_welcome_decode(m.result, &w, err) : -1;
    proto_msg_clear(&m);
    return rc ? NULL : w.challenge;
}

static bool auth(struct conn *c, const char *challenge, bool good)
{
    char msg[128];
    size_t len = proto_auth_message(challenge, msg, sizeof msg);
    unsigned char sig[64];
    crypto_sign_detached(sig, NULL, (unsigned char *)msg, len, c->sk);
    if (!good)
        sig[5] ^= 1;
    struct proto_auth a;
    hex_encode(sig, 64, a.signature);
    send_msg(c, 2, PM_AUTH, proto_auth_encode(&a), true);
    char *l = get_line(c, 3000);
    return l && l[0] && strstr(l, "\"result\"");
}

static void offer(struct conn *c, const char *digest)
{
    struct proto_offer o = {.n = 1};
    snprintf(o.m[0].name, sizeof o.m[0].name, "m");
    snprintf(o.m[0].digest, sizeof o.m[0].digest, "%s", digest);
    o.m[0].ctx = 2048;
    o.m[0].slots = 1;
    o.m[0].tps = 1e6; /* claims to be fast, so the scheduler picks it first */
    o.m[0].caps = PROTO_CAP_GENERATE;
    send_msg(c, 3, PM_OFFER, proto_offer_encode(&o), true);
}

static int open_conn(struct conn *c, const char *pool)
{
    memset(c, 0, sizeof *c);
    crypto_sign_keypair(c->pk, c->sk);
    c->fd = dial(pool);
    return c->fd < 0 ? -1 : 0;
}

static int verdict(bool ok, const char *what)
{
    printf("%s: %s\n", ok ? "ok" : "FAIL", what);
    return ok ? 0 : 1;
}

/* ---- modes ---- */

static int mode_garbage(struct conn *c)
{
    put(c, "this is not json\n", 17);
    return verdict(closed_by_pool(c, 3000), "garbage line gets a disconnect");
}

static int mode_oversize(struct conn *c)
{
    size_t n = PROTO_MAX_LINE + 4096;
    char *big = malloc(n);
    memset(big, 'x', n);
    put(c, big, n);
    free(big);
    return verdict(closed_by_pool(c, 5000), "over-long line gets a disconnect");
}

static int mode_badsig(struct conn *c)
{
    const char *ch = hello(c);
    if (!ch)
        return verdict(false, "hello answered");
    bool accepted = auth(c, ch, false);
    return verdict(!accepted && closed_by_pool(c, 3000), "bad signature refused and dropped");
}

static int mode_double_hello(struct conn *c)
{
    if (!hello(c))
        return verdict(false, "hello answered");
    return verdict(!hello(c) && closed_by_pool(c, 3000), "second hello refused and dropped");
}

static int mode_hello_flood(const char *pool, int count)
{
    struct conn *cs = calloc((size_t)count, sizeof *cs);
    int answered = 0, refused = 0;
    for (int i = 0; i < count; i++) {
        if (open_conn(&cs[i], pool)) {
            refused++;
            continue;
        }
        if (hello(&cs[i]))
            answered++;
        else
            refused++;
    }
    printf("hello flood: %d answered, %d refused or dropped\n", answered, refused);
    for (int i = 0; i < count; i++)
        if (cs[i].fd >= 0)
            close(cs[i].fd);
    free(cs);
    return verdict(refused > 0, "a flood of unauthenticated connections is capped");
}

/* Tokens for a job this connection was never given: by default an id no job
 * has, or with --job the wire id of a job another miner is running now. */
static int mode_steal(struct conn *c, const char *digest, const char *job)
{
    const char *ch = hello(c);
    if (!ch || !auth(c, ch, true))
        return verdict(false, "authenticated");
    offer(c, digest);
    get_line(c, 3000); /* verdicts */
    struct proto_tokens t = {.seq = 0, .n = 1};
    snprintf(t.job, sizeof t.job, "%s", job);
    int32_t id = 5;
    float lp = -0.5f;
    t.ids = &id;
    t.logprobs = &lp;
    send_msg(c, 0, PM_TOKENS, proto_tokens_encode(&t), false);
    return verdict(closed_by_pool_saying(c, 3000, "not yours"),
                   "tokens for someone else's job get a disconnect");
}

/* Authenticate, offer, take jobs and never answer them (stall tests). */
static int mode_idle(struct conn *c, const char *digest, int seconds)
{
    const char *ch = hello(c);
    if (!ch || !auth(c, ch, true))
        return verdict(false, "authenticated");
    offer(c, digest);
    for (int i = 0; i < seconds * 10; i++) {
        char *l = get_line(c, 100);
        if (l && !l[0])
            break;
        if (l)
            printf("pool said: %.120s\n", l);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *pool = NULL, *mode = NULL, *digest = "sha256:0", *job = "j0000000000000000.0";
    int count = 64, seconds = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--pool")) pool = argv[i + 1];
        else if (!strcmp(argv[i], "--mode")) mode = argv[i + 1];
        else if (!strcmp(argv[i], "--digest")) digest = argv[i + 1];
        else if (!strcmp(argv[i], "--count")) count = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--job")) job = argv[i + 1];
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* tests watch the output while it runs */
    if (!pool || !mode || sodium_init() < 0 || count < 1) {
        fprintf(stderr, "usage: fief-testminer --pool HOST:PORT --mode garbage|oversize|badsig|"
                        "double-hello|hello-flood|steal|idle [--digest D] [--count N]\n"
                        "       [--job WIRE-ID] (steal) [--seconds S] (idle)\n");
        return 2;
    }
    if (!strcmp(mode, "hello-flood"))
        return mode_hello_flood(pool, count);
    struct conn c;
    if (open_conn(&c, pool)) {
        fprintf(stderr, "fief-testminer: cannot connect to %s: %s\n", pool, strerror(errno));
        return 1;
    }
    int rc = 2;
    if (!strcmp(mode, "garbage")) rc = mode_garbage(&c);
    else if (!strcmp(mode, "oversize")) rc = mode_oversize(&c);
    else if (!strcmp(mode, "badsig")) rc = mode_badsig(&c);
    else if (!strcmp(mode, "double-hello")) rc = mode_double_hello(&c);
    else if (!strcmp(mode, "steal")) rc = mode_steal(&c, digest, job);
    else if (!strcmp(mode, "idle")) rc = mode_idle(&c, digest, seconds);
    close(c.fd);
    return rc;
}
