/* SPDX-License-Identifier: MIT */
/* Opening and closing a store, and its write thread: writes queued by the
 * *_async calls are taken all at once and committed in one transaction per
 * group, so the event loop never waits on the disk and a busy pool pays one
 * fsync for many writes. */
#include "ledger/store_impl.h"

#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RETRY_MIN_MS 100  /* first wait after a failed group commit */
#define RETRY_MAX_MS 5000 /* waits double up to this */
#define CLOSE_RETRIES 3   /* at close, give up on a failing group after this many tries */

struct store {
    char path[PATH_MAX];  /* dir/pool.db */
    struct store_conn rd; /* the caller's connection */
    struct store_conn wr; /* the write thread's connection */
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t mu;  /* guards everything below */
    pthread_cond_t work; /* the write thread waits here for ops or closing */
    pthread_cond_t done; /* flushers and a full queue wait here for commits */
    struct store_op *head, *tail;
    uint64_t pushed;   /* ops queued since open */
    uint64_t finished; /* ops committed or dropped */
    uint64_t dropped;
    uint64_t batches;
    bool closing;
};

struct store_conn *store_rconn(struct store *s)
{
    return &s->rd;
}

/* ---- directory ---- */

/* mkdir -p with mode 0700 for what we create; existing directories are left
 * as the operator made them. */
static int make_dirs(const char *dir, char err[FIEF_ERR_LEN])
{
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
        return fief_errf(err, FIEF_EIO, "%s: path too long", dir);
    for (char *q = p + 1;; q++) {
        if (*q != '/' && *q != 0)
            continue;
        char c = *q;
        *q = 0;
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return fief_errf(err, FIEF_EIO, "cannot create the data directory %s: %s", p,
                             strerror(errno));
        *q = c;
        if (!c)
            break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fief_errf(err, FIEF_EIO, "%s is not a directory", dir);
    return 0;
}

/* Create the database file 0600 before SQLite does (it would use 0644):
 * SQLite gives its -wal and -shm files the database's mode. */
static int make_db_file(const char *path, char err[FIEF_ERR_LEN])
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return fief_errf(err, FIEF_EIO, "cannot open %s: %s", path, strerror(errno));
    close(fd);
    return 0;
}

/* ---- the write thread ---- */

static bool is_closing(struct store *s)
{
    pthread_mutex_lock(&s->mu);
    bool c = s->closing;
    pthread_mutex_unlock(&s->mu);
    return c;
}

static int run_stmt(struct store_conn *c, enum store_stmt_id id)
{
    sqlite3_stmt *st = store_stmt(c, id);
    return st ? store_exec_stmt(c, st) : FIEF_EIO;
}

/* One op. Careful mode wraps it in a savepoint, so a write the schema
 * rejects is rolled back alone and counted in *dropped; otherwise such a
 * write fails the group with FIEF_EINVAL. Any other failure is FIEF_EIO. */
static int apply_op(struct store_conn *c, const struct store_op *op, bool careful,
                    uint64_t *dropped)
{
    if (!careful) {
        int rc = op->apply(c, op);
        return rc == 0 || rc == FIEF_EINVAL ? rc : FIEF_EIO;
    }
    if (run_stmt(c, ST_SAVEPOINT))
        return FIEF_EIO;
    int rc = op->apply(c, op);
    if (rc == FIEF_EINVAL) {
        log_err("store: dropped a %s write the database rejected", op->what);
        (*dropped)++;
        if (run_stmt(c, ST_ROLLBACK_TO))
            return FIEF_EIO;
    } else if (rc) {
        return FIEF_EIO;
    }
    return run_stmt(c, ST_RELEASE) ? FIEF_EIO : 0;
}

static int apply_group_once(struct store *s, struct store_op *ops, bool careful, uint64_t *dropped)
{
    struct store_conn *c = &s->wr;
    *dropped = 0;
    int rc = run_stmt(c, ST_BEGIN);
    for (struct store_op *op = ops; op && !rc; op = op->next)
        rc = apply_op(c, op, careful, dropped);
    if (!rc)
        rc = run_stmt(c, ST_COMMIT);
    if (rc && sqlite3_get_autocommit(c->db) == 0)
        run_stmt(c, ST_ROLLBACK);
    return rc;
}

/* A savepoint per op would copy every page each op touches (half the cost of
 * a group), so groups run without, and only a group that holds a rejected
 * write runs again with them to drop just that one. */
static int apply_group(struct store *s, struct store_op *ops, uint64_t *dropped)
{
    int rc = apply_group_once(s, ops, false, dropped);
    return rc == FIEF_EINVAL ? apply_group_once(s, ops, true, dropped) : rc;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Commit a group, retrying while the database fails (disk full, locked
 * beyond the busy timeout): a queued write is part of the books and is
 * worth waiting for. At close, give up after a few tries so shutdown ends.
 * Returns how many of the group's n ops were dropped. */
static uint64_t commit_group(struct store *s, struct store_op *ops, uint64_t n)
{
    unsigned wait = RETRY_MIN_MS;
    for (int attempt = 1;; attempt++) {
        uint64_t dropped;
        if (apply_group(s, ops, &dropped) == 0)
            return dropped;
        if (is_closing(s) && attempt >= CLOSE_RETRIES) {
            log_err("store: %s: giving up on %llu queued writes at shutdown", s->path,
                    (unsigned long long)n);
            return n;
        }
        log_err("store: %s: group commit of %llu writes failed; retrying in %u ms", s->path,
                (unsigned long long)n, wait);
        sleep_ms(wait);
        wait = wait * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : wait * 2;
    }
}

static void *writer_main(void *arg)
{
    struct store *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->head && !s->closing)
            pthread_cond_wait(&s->work, &s->mu);
        struct store_op *ops = s->head;
        s->head = s->tail = NULL;
        pthread_mutex_unlock(&s->mu);
        if (!ops)
            break; /* closing, and nothing left */
        uint64_t n = 0;
        for (struct store_op *op = ops; op; op = op->next)
            n++;
        uint64_t dropped = commit_group(s, ops, n);
        while (ops) {
            struct store_op *next = ops->next;
            free(ops);
            ops = next;
        }
        pthread_mutex_lock(&s->mu);
        s->finished += n;
        s->dropped += dropped;
        s->batches++;
        pthread_cond_broadcast(&s->done);
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

void store_op_push(struct store *s, struct store_op *op)
{
    op->next = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->pushed - s->finished >= STORE_QUEUE_MAX) {
        log_warn("store: %s: %u writes waiting for the disk; waiting", s->path, STORE_QUEUE_MAX);
        while (s->pushed - s->finished >= STORE_QUEUE_MAX)
            pthread_cond_wait(&s->done, &s->mu);
    }
    if (s->tail)
        s->tail->next = op;
    else
        s->head = op;
    s->tail = op;
    s->pushed++;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
}

void store_flush(struct store *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t target = s->pushed;
    while (s->finished < target)
        pthread_cond_wait(&s->done, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

void store_stats_get(struct store *s, struct store_stats *out)
{
    pthread_mutex_lock(&s->mu);
    out->queued = s->pushed - s->finished;
    out->committed = s->finished - s->dropped;
    out->dropped = s->dropped;
    out->batches = s->batches;
    pthread_mutex_unlock(&s->mu);
}

/* ---- open / close ---- */

static int open_conns(struct store *s, char err[FIEF_ERR_LEN])
{
    int rc = store_conn_open(&s->wr, s->path, "write", err);
    if (rc)
        return rc;
    /* Migrate on the write connection before the read one prepares anything. */
    if ((rc = store_migrate(&s->wr, s->path, err)))
        return rc;
    return store_conn_open(&s->rd, s->path, "read", err);
}

int store_open(const char *dir, struct store **out, char err[FIEF_ERR_LEN])
{
    *out = NULL;
    if (sodium_init() < 0)
        return fief_errf(err, FIEF_EIO, "libsodium failed to initialise");
    if (!dir || !*dir)
        return fief_errf(err, FIEF_EINVAL, "no data directory given");
    int rc = make_dirs(dir, err);
    if (rc)
        return rc;
    struct store *s = calloc(1, sizeof *s);
    if (!s)
        return fief_errf(err, FIEF_ENOMEM, "out of memory");
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->done, NULL);
    if (snprintf(s->path, sizeof s->path, "%s/pool.db", dir) >= (int)sizeof s->path) {
        rc = fief_errf(err, FIEF_EIO, "%s: path too long", dir);
        goto fail;
    }
    if ((rc = make_db_file(s->path, err)) || (rc = open_conns(s, err)))
        goto fail;
    if (pthread_create(&s->thread, NULL, writer_main, s) != 0) {
        rc = fief_errf(err, FIEF_EIO, "cannot start the store's write thread");
        goto fail;
    }
    s->thread_started = true;
    pthread_setname_np(s->thread, "fief-store");
    *out = s;
    return 0;
fail:
    store_close(s);
    return rc;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    if (s->thread_started) {
        /* The write thread drains the queue before it sees closing; a group
         * that keeps failing is then given up after CLOSE_RETRIES. */
        pthread_mutex_lock(&s->mu);
        s->closing = true;
        pthread_cond_signal(&s->work);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    store_conn_close(&s->rd);
    store_conn_close(&s->wr);
    pthread_cond_destroy(&s->done);
    pthread_cond_destroy(&s->work);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
