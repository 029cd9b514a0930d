/* SPDX-License-Identifier: MIT */
/* Opening and closing a store, and its write thread: writes queued by the
 * *_async calls are taken all at once and committed in one transaction per
 * group, so the event loop never waits on the disk and a busy pool pays one
 * fsync (or one round of PostgreSQL commits) for many writes. */
#include "ledger/store_impl.h"

#include "common/clock.h"
#include "common/digest.h"
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
/* Writes per group commit. PostgreSQL keeps every version of a row a
 * transaction updates and walks them on the next update, so a group that
 * updates the fee account N times costs O(N^2): keep its groups small. One
 * SQLite group may be large (one fsync), but a cap bounds the work a
 * failing group repeats. */
#define GROUP_MAX_SQLITE 8192
#define GROUP_MAX_PG 256

struct store {
    char dir[PATH_MAX];
    char target[PATH_MAX]; /* dir/pool.db or the URL */
    char writer_id[33];    /* random per open: this store's row in writers */
    struct db *rd;         /* the caller's connection */
    struct db *wr;         /* the write thread's connection */
    struct ledger_mem *mem;
    uint64_t group_max;    /* ops per group commit */
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t mu;  /* guards everything below */
    pthread_cond_t work; /* the write thread waits here for ops or closing */
    pthread_cond_t done; /* flushers and a full queue wait here */
    struct store_op *head, *tail;
    uint64_t pushed;    /* ops queued since open; the last one's seq */
    uint64_t committed; /* ops whose group ended (committed or dropped): frees queue space */
    uint64_t finished;  /* ops whose done hooks ran too: what store_flush waits for */
    uint64_t dropped;
    uint64_t batches;
    bool closing;
};

struct db *store_rconn(struct store *s)
{
    return s->rd;
}

const char *store_writer_id(struct store *s)
{
    return s->writer_id;
}

const char *store_dir(struct store *s)
{
    return s->dir;
}

struct ledger_mem *store_ledger(struct store *s)
{
    return s->mem;
}

const char *store_backend(struct store *s)
{
    return db_kind(s->rd) == DB_PG ? "postgres" : "sqlite";
}

bool store_field_ok(const char *s, size_t cap)
{
    return strnlen(s, cap) < cap;
}

bool store_fit(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        return false;
    memcpy(dst, src ? src : "", n + 1);
    return true;
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

/* One op. Careful mode wraps it in a savepoint, so a write the schema
 * rejects is rolled back alone and marked dropped; otherwise such a write
 * fails the group with FIEF_EINVAL. Any other failure is FIEF_EIO. */
static int apply_op(struct db *c, struct store_op *op, bool careful, uint64_t *dropped)
{
    if (!careful) {
        int rc = op->apply(c, op);
        return rc == 0 || rc == FIEF_EINVAL ? rc : FIEF_EIO;
    }
    if (db_savepoint(c))
        return FIEF_EIO;
    int rc = op->apply(c, op);
    if (rc == FIEF_EINVAL) {
        log_err("store: dropped a %s write the database rejected", op->what);
        op->dropped = true;
        (*dropped)++;
        if (db_rollback_to(c))
            return FIEF_EIO;
    } else if (rc) {
        return FIEF_EIO;
    }
    return db_release(c) ? FIEF_EIO : 0;
}

static const char sql_writer_seq[] =
    "INSERT INTO writers (id, seq, updated_ms) VALUES (?1, ?2, ?3) ON CONFLICT (id)"
    " DO UPDATE SET seq = excluded.seq, updated_ms = excluded.updated_ms";

/* Record the group's last sequence number in the group's transaction. */
static int record_seq(struct store *s, uint64_t seq)
{
    struct db_stmt *st = db_sql(s->wr, sql_writer_seq);
    if (!st)
        return FIEF_EIO;
    db_bind_text(st, 1, s->writer_id);
    db_bind_i64(st, 2, (int64_t)seq);
    db_bind_i64(st, 3, (int64_t)clock_wall_ms());
    return db_exec(st) ? FIEF_EIO : 0;
}

static int apply_group_once(struct store *s, struct store_op *ops, bool careful, uint64_t *dropped)
{
    struct db *c = s->wr;
    struct store_op *last = ops;
    *dropped = 0;
    for (struct store_op *op = ops; op; op = op->next) {
        op->dropped = false;
        last = op;
    }
    int rc = db_begin(c);
    for (struct store_op *op = ops; op && !rc; op = op->next)
        rc = apply_op(c, op, careful, dropped);
    if (!rc)
        rc = record_seq(s, last->seq);
    if (!rc)
        rc = db_commit(c);
    if (rc && db_in_txn(c))
        db_rollback(c);
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
 * beyond the busy timeout, server gone): a queued write is part of the
 * books and is worth waiting for. At close, give up after a few tries so
 * shutdown ends. Returns how many of the group's n ops were dropped. */
static uint64_t commit_group(struct store *s, struct store_op *ops, uint64_t n)
{
    unsigned wait = RETRY_MIN_MS;
    for (int attempt = 1;; attempt++) {
        uint64_t dropped;
        if (apply_group(s, ops, &dropped) == 0)
            return dropped;
        if (is_closing(s) && attempt >= CLOSE_RETRIES) {
            log_err("store: %s: giving up on %llu queued writes at shutdown", s->target,
                    (unsigned long long)n);
            for (struct store_op *op = ops; op; op = op->next)
                op->dropped = true;
            return n;
        }
        log_err("store: %s: group commit of %llu writes failed; retrying in %u ms", s->target,
                (unsigned long long)n, wait);
        sleep_ms(wait);
        wait = wait * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : wait * 2;
    }
}

/* After the group: free queue space first (a pusher waiting for it may hold
 * a lock a done hook needs), then run the hooks, then count the ops as
 * finished for store_flush. */
static void group_ended(struct store *s, struct store_op *ops, uint64_t n, uint64_t dropped)
{
    pthread_mutex_lock(&s->mu);
    s->committed += n;
    pthread_cond_broadcast(&s->done);
    pthread_mutex_unlock(&s->mu);
    while (ops) {
        struct store_op *next = ops->next;
        if (ops->done)
            ops->done(s, ops, !ops->dropped);
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

/* Take up to group_max ops off the queue (lock held); *n gets the count. */
static struct store_op *take_group_locked(struct store *s, uint64_t *n)
{
    struct store_op *ops = s->head, *last = NULL;
    *n = 0;
    for (struct store_op *op = ops; op && *n < s->group_max; op = op->next) {
        last = op;
        (*n)++;
    }
    if (last) {
        s->head = last->next;
        last->next = NULL;
        if (!s->head)
            s->tail = NULL;
    }
    return ops;
}

static void *writer_main(void *arg)
{
    struct store *s = arg;
    for (;;) {
        uint64_t n;
        pthread_mutex_lock(&s->mu);
        while (!s->head && !s->closing)
            pthread_cond_wait(&s->work, &s->mu);
        struct store_op *ops = take_group_locked(s, &n);
        pthread_mutex_unlock(&s->mu);
        if (!ops)
            break; /* closing, and nothing left */
        for (struct store_op *op = ops; op; op = op->next)
            if (op->prepare)
                op->prepare(s, op);
        group_ended(s, ops, n, commit_group(s, ops, n));
    }
    return NULL;
}

uint64_t store_op_push(struct store *s, struct store_op *op)
{
    op->next = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->pushed - s->committed >= STORE_QUEUE_MAX) {
        log_warn("store: %s: %u writes waiting for the database; waiting", s->target,
                 STORE_QUEUE_MAX);
        while (s->pushed - s->committed >= STORE_QUEUE_MAX)
            pthread_cond_wait(&s->done, &s->mu);
    }
    if (s->tail)
        s->tail->next = op;
    else
        s->head = op;
    s->tail = op;
    uint64_t seq = op->seq = ++s->pushed;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    return seq;
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
    int rc = db_open(s->target, "write", &s->wr, err);
    if (rc)
        return rc;
    /* Migrate on the write connection before the read one prepares anything. */
    if ((rc = store_migrate(s->wr, err)))
        return rc;
    return db_open(s->target, "read", &s->rd, err);
}

static const char sql_writer_forget[] = "DELETE FROM writers WHERE id = ?1 OR updated_ms < ?2";

/* This store's row in writers is no use once its queue is empty; drop it
 * with any a crashed process left a week ago. */
static void forget_writer(struct store *s)
{
    struct db_stmt *st = s->rd ? db_sql(s->rd, sql_writer_forget) : NULL;
    if (!st)
        return;
    db_bind_text(st, 1, s->writer_id);
    db_bind_i64(st, 2, (int64_t)clock_wall_ms() - 7 * 86400 * 1000LL);
    db_exec(st);
}

static int set_target(struct store *s, const char *dir, const char *url, char err[FIEF_ERR_LEN])
{
    bool pg = url && *url;
    if (strlen(dir) + sizeof "/pool.db" > sizeof s->dir || (pg && strlen(url) >= sizeof s->target))
        return fief_errf(err, FIEF_EIO, "%s: path or URL too long", pg ? url : dir);
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    if (pg) {
        snprintf(s->target, sizeof s->target, "%s", url);
        return 0;
    }
    snprintf(s->target, sizeof s->target, "%s/pool.db", dir);
    return make_db_file(s->target, err);
}

static void new_writer_id(char out[33])
{
    unsigned char raw[16];
    randombytes_buf(raw, sizeof raw);
    hex_encode(raw, sizeof raw, out);
}

int store_open_url(const char *dir, const char *url, struct store **out, char err[FIEF_ERR_LEN])
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
    new_writer_id(s->writer_id);
    s->mem = ledger_mem_new();
    if ((rc = set_target(s, dir, url, err)) || (rc = open_conns(s, err)))
        goto fail;
    s->group_max = db_kind(s->wr) == DB_PG ? GROUP_MAX_PG : GROUP_MAX_SQLITE;
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

int store_open(const char *dir, struct store **out, char err[FIEF_ERR_LEN])
{
    return store_open_url(dir, NULL, out, err);
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
        forget_writer(s);
    }
    db_close(s->rd);
    db_close(s->wr);
    ledger_mem_free(s->mem);
    pthread_cond_destroy(&s->done);
    pthread_cond_destroy(&s->work);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
