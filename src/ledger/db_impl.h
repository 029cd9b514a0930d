/* SPDX-License-Identifier: MIT */
/* What db.c and its drivers (db_sqlite.c, db_pg.c) share: the driver vtable
 * and the connection and statement structs each driver extends. Nothing
 * outside those three files includes this. */
#ifndef FIEF_DB_IMPL_H
#define FIEF_DB_IMPL_H

#include "ledger/db.h"

enum db_vtype { DBV_NULL, DBV_INT, DBV_TEXT, DBV_BLOB };

struct db_value {
    enum db_vtype type;
    int64_t i;     /* DBV_INT */
    const void *p; /* DBV_TEXT (need not be terminated), DBV_BLOB */
    size_t n;      /* bytes at p */
};

/* A statement: drivers allocate a larger struct that starts with this one. */
struct db_stmt {
    struct db *d;
    const char *key; /* the caller's SQL pointer: the cache key */
    int n_params;    /* highest placeholder number */
};

struct db_driver {
    const char *name;
    bool dollar_params;    /* wants $N rather than ?N */
    const char *ddl_id;    /* @ID */
    const char *ddl_blob;  /* @BLOB */
    const char *ddl_norow; /* @NOROWID */
    const char *begin_sql; /* a write transaction */
    int (*open)(struct db *d, const char *target, char err[FIEF_ERR_LEN]);
    void (*close)(struct db *d);
    /* sql is already translated; NULL on failure (error readable by errmsg) */
    struct db_stmt *(*prepare)(struct db *d, const char *sql, int n_params);
    void (*finalize)(struct db_stmt *st);
    void (*bind)(struct db_stmt *st, int i, const struct db_value *v);
    int (*step)(struct db_stmt *st); /* 0 row, FIEF_ENOTFOUND done, < 0 failed */
    void (*reset)(struct db_stmt *st);
    void (*column)(struct db_stmt *st, int col, struct db_value *out);
    int64_t (*changes)(struct db *d);
    int (*script)(struct db *d, const char *sql);
    bool (*in_txn)(struct db *d);
    int (*lock)(struct db *d, int64_t id);
    int (*version_get)(struct db *d, int *v);
    int (*version_set)(struct db *d, int v);
    int (*migrate_begin)(struct db *d);
    int (*identity)(struct db *d, bool claim);
    int (*error_code)(struct db *d); /* the last failure: FIEF_EINVAL or FIEF_EIO */
    const char *(*errmsg)(struct db *d);
};

struct db {
    const struct db_driver *drv;
    void *conn;          /* the driver's handle (sqlite3 *, PGconn *) */
    void *drv_data;      /* the driver's extra per-connection state */
    char name[16];       /* "read", "write" */
    char target[512];    /* redacted, for messages */
    struct db_stmt **cache; /* open addressing on the SQL pointer */
    size_t cache_cap, cache_n;
};

extern const struct db_driver db_sqlite_driver;
extern const struct db_driver db_pg_driver;

#endif
