/* SPDX-License-Identifier: MIT */
/* One SQL interface over SQLite and PostgreSQL, so the store and the ledger
 * write their SQL once. Statements use '?' or '?N' placeholders (translated
 * to $N for PostgreSQL), integer, text and blob values, ON CONFLICT upserts
 * and RETURNING, which both databases understand. DDL templates spell the
 * few types that differ as @ID (the auto-numbered primary key), @BLOB and
 * @NOROWID (SQLite's WITHOUT ROWID); db_ddl expands them.
 *
 * Threads: a struct db is one connection, used by one thread at a time.
 * Errors: 0 or a negative FIEF_E* code. A statement that fails because the
 * data broke a constraint (or is of the wrong type or size) gives
 * FIEF_EINVAL: the write itself is wrong. Anything else (disk, lock, lost
 * connection, serialization failure) gives FIEF_EIO: worth retrying. */
#ifndef FIEF_DB_H
#define FIEF_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

enum db_kind { DB_SQLITE = 1, DB_PG };

struct db;      /* a connection */
struct db_stmt; /* a prepared statement, owned by its connection */

/* Whether target names a PostgreSQL database ("postgres://" or
 * "postgresql://") rather than a SQLite file. */
bool db_is_pg_url(const char *target);

/* Copy a target for log lines and messages, with any password in a URL
 * replaced by "***". */
void db_redact(const char *target, char *out, size_t cap);

/* Open a connection to target (a SQLite file path, created if missing, or a
 * PostgreSQL URL); name ("read", "write") tags its log lines. 0, FIEF_EIO
 * (cannot open or connect), FIEF_EFORMAT (not a database), FIEF_EUNSUPPORTED
 * (an unknown URL scheme) with err set. Free with db_close. */
int db_open(const char *target, const char *name, struct db **out, char err[FIEF_ERR_LEN]);
/* Finalize every statement and close. NULL is a no-op. */
void db_close(struct db *d);
enum db_kind db_kind(const struct db *d);

/* ---- statements ---- */

/* The statement for sql, prepared on first use and cached by the address of
 * sql (so pass a string constant), reset and unbound; NULL (logged) when it
 * cannot be prepared. Valid until db_close. */
struct db_stmt *db_sql(struct db *d, const char *sql);

/* Bind parameter i (from 1). Text and blob values are borrowed until the
 * statement is reset: the caller keeps them alive while it steps. */
void db_bind_i64(struct db_stmt *st, int i, int64_t v);
void db_bind_text(struct db_stmt *st, int i, const char *s);
/* Text from a fixed-size field: at most cap bytes, stopping at a NUL. */
void db_bind_textn(struct db_stmt *st, int i, const char *s, size_t cap);
void db_bind_blob(struct db_stmt *st, int i, const void *p, size_t n);
void db_bind_null(struct db_stmt *st, int i);

/* Run or advance a bound statement: 0 when a row is ready to read,
 * FIEF_ENOTFOUND when there is none (or no more), FIEF_EINVAL/FIEF_EIO as
 * above. Does not reset: read the row, step again, then db_reset. */
int db_step(struct db_stmt *st);
/* Step once (a statement without rows, or whose first row is ignored) and
 * reset. 0, FIEF_EINVAL or FIEF_EIO. */
int db_exec(struct db_stmt *st);
/* Reset and unbind after use. NULL is a no-op. */
void db_reset(struct db_stmt *st);

/* Columns of the current row, from 0. NULL reads as 0 / "" / empty. Text
 * and blob pointers are valid until the next step or reset. */
int64_t db_col_i64(struct db_stmt *st, int col);
const char *db_col_text(struct db_stmt *st, int col);
const void *db_col_blob(struct db_stmt *st, int col, size_t *len);
bool db_col_null(struct db_stmt *st, int col);
/* Copy a text column into dst (cap bytes, truncating, always terminated). */
void db_col_copy(struct db_stmt *st, int col, char *dst, size_t cap);
/* Any column as text for messages: an integer in decimal, text as it is,
 * "NULL", or "<N bytes>" for a blob. */
void db_col_format(struct db_stmt *st, int col, char *dst, size_t cap);

/* Rows changed by the last statement db_exec or db_step ran to its end. */
int64_t db_changes(struct db *d);

/* ---- transactions and scripts ---- */

/* BEGIN a write transaction (SQLite takes the write lock at once, so two
 * writers never deadlock on an upgrade), COMMIT, ROLLBACK, and the one
 * savepoint level the store needs. */
int db_begin(struct db *d);
int db_commit(struct db *d);
int db_rollback(struct db *d);
int db_savepoint(struct db *d);
int db_release(struct db *d);
int db_rollback_to(struct db *d);
bool db_in_txn(struct db *d);
/* Inside a transaction: serialize with every other connection that takes
 * the same lock until the transaction ends (PostgreSQL advisory lock;
 * SQLite's write transaction already excludes all other writers). */
int db_lock(struct db *d, int64_t lock_id);

/* Run statements without parameters or rows (DDL), separated by ';'. */
int db_script(struct db *d, const char *sql);
/* Expand a DDL template for d's database (see the top); caller frees. */
char *db_ddl(const struct db *d, const char *tmpl);

/* ---- schema version ---- */

/* The number of migrations applied (0 for a new database). SQLite keeps it
 * in PRAGMA user_version, PostgreSQL in the table fief_schema. */
int db_version_get(struct db *d, int *version);
/* Inside the migration's transaction. */
int db_version_set(struct db *d, int version);
/* Begin the migration transaction, excluding other processes that migrate
 * the same database at the same time. */
int db_migrate_begin(struct db *d);
/* Whether this database belongs to fief (SQLite's application_id is fief's
 * or unset); marks it as fief's when claim is set. 0 or FIEF_EFORMAT. */
int db_identity(struct db *d, bool claim);

/* ---- errors ---- */

/* The driver's message for the last failure. */
const char *db_errmsg(struct db *d);
/* Log the last failure with what (a short description) and map it to
 * FIEF_EINVAL / FIEF_EIO as above. */
int db_fail(struct db *d, const char *what);
/* The connection's name and redacted target, for messages. */
const char *db_name(const struct db *d);
const char *db_target(const struct db *d);

#endif
