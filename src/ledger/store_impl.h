/* SPDX-License-Identifier: MIT */
/* What the store's own files (store*.c, ledger*.c) see of each other: the
 * two connections, the queue of writes for the write thread with its
 * commit hook, the schema migrations, and the ledger's per-store state. Not
 * for the pool. */
#ifndef FIEF_STORE_IMPL_H
#define FIEF_STORE_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "ledger/db.h"
#include "ledger/store.h"

/* Bring the schema up to date. FIEF_EFORMAT when the database is newer than
 * this fief, or not a fief database. */
int store_migrate(struct db *d, char err[FIEF_ERR_LEN]);
/* The schema version this build writes. */
int store_schema_version(void);

/* ---- the write queue ----
 * A queued write: callers embed struct store_op first in their own struct,
 * malloc it, and hand it to store_op_push, which takes ownership. The write
 * thread calls apply inside the group's transaction. apply returns 0,
 * FIEF_EINVAL (the data broke a constraint: the group is rolled back and run
 * again with a savepoint per op, so only this write is dropped) or FIEF_EIO
 * (roll the group back and retry it). An op may therefore be applied more
 * than once before it commits: apply must only write through the
 * connection, never change other state.
 *
 * Before the op's group starts, the write thread calls prepare, when set,
 * once: it may fill in the op itself (the ledger signs a settlement's
 * receipt there, off the loop thread), not the database. After the group's
 * COMMIT (or once the op is dropped), the write thread calls done, when set,
 * with applied telling which, and then free()s the op. prepare and done run
 * on the write thread, outside the store's lock; they may take other locks
 * (the ledger's) but must not wait for the queue.
 *
 * Every op gets a sequence number at push (1, 2, ... in queue order), and
 * every group records the highest number it committed in the table writers
 * under this store's writer id, in the same transaction: a reader that sees
 * a row there knows exactly which queued ops its snapshot contains. */
struct store_op {
    struct store_op *next;
    const char *what; /* for log lines: "job", "miner", "settle" ... */
    void (*prepare)(struct store *s, struct store_op *op);
    int (*apply)(struct db *wr, const struct store_op *op);
    void (*done)(struct store *s, struct store_op *op, bool applied);
    uint64_t seq;  /* set by store_op_push */
    bool dropped;  /* set by the write thread */
};
/* Queue op; returns at once unless more than STORE_QUEUE_MAX writes are
 * waiting (a dead disk), where it waits rather than lose the books. Any
 * thread. Returns op's sequence number. */
uint64_t store_op_push(struct store *s, struct store_op *op);
#define STORE_QUEUE_MAX (1u << 20)

/* The caller-thread connection. */
struct db *store_rconn(struct store *s);
/* This store's id in the writers table (32 hex digits, random per open). */
const char *store_writer_id(struct store *s);
/* The data directory (for the pool key and the lock file). */
const char *store_dir(struct store *s);

/* strnlen(s, cap) < cap: the field is NUL-terminated inside its array. */
bool store_field_ok(const char *s, size_t cap);
/* Copy src into a field of cap bytes; false when it does not fit. */
bool store_fit(char *dst, size_t cap, const char *src);

/* ---- the ledger's per-store state (ledger_mem.c) ---- */
struct ledger_mem;
struct ledger_mem *ledger_mem_new(void);
void ledger_mem_free(struct ledger_mem *m);
struct ledger_mem *store_ledger(struct store *s);

#endif
