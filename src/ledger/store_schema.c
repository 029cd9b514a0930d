/* SPDX-License-Identifier: MIT */
/* The store's schema, written once for SQLite and PostgreSQL (db_ddl spells
 * the types that differ), as a list of migrations, and the code that brings
 * a database up to date: PRAGMA user_version on SQLite, the fief_schema
 * table on PostgreSQL, counting the migrations applied. */
#include "ledger/store_impl.h"

#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- schema ----
 * Append a migration for every change; never change what one does once it
 * has shipped, or databases created by an older fief would miss the edit.
 * (Migration 1 shipped for SQLite with INTEGER columns; BIGINT has the same
 * affinity there, and PostgreSQL needs it: its INTEGER is 32 bits.)
 * Integers are BIGINT; money is BIGINT micro-credits, never a real. */
static const char *const migrations[] = {
    /* 1: keys, miners, jobs and usage */
    "CREATE TABLE keys ("
    "  id @ID,"
    "  hash @BLOB NOT NULL UNIQUE," /* BLAKE2b-256 of the key text */
    "  prefix TEXT NOT NULL,"       /* first 12 characters, for listings */
    "  name TEXT NOT NULL DEFAULT '',"
    "  created_ms BIGINT NOT NULL,"
    "  revoked_ms BIGINT NOT NULL DEFAULT 0);"
    "CREATE TABLE miners ("
    "  id @ID,"
    "  pubkey TEXT NOT NULL UNIQUE," /* hex ed25519 key: the identity */
    "  payout TEXT NOT NULL,"
    "  worker TEXT NOT NULL,"
    "  first_seen_ms BIGINT NOT NULL,"
    "  last_seen_ms BIGINT NOT NULL,"
    "  jobs BIGINT NOT NULL DEFAULT 0,"
    "  tokens BIGINT NOT NULL DEFAULT 0,"
    "  banned BIGINT NOT NULL DEFAULT 0);"
    "CREATE TABLE jobs ("
    "  id TEXT PRIMARY KEY,"
    "  key_id BIGINT NOT NULL,"
    "  model TEXT NOT NULL,"
    "  status BIGINT NOT NULL," /* enum store_job_status */
    "  prompt_tokens BIGINT NOT NULL,"
    "  completion_tokens BIGINT NOT NULL,"
    "  created_ms BIGINT NOT NULL,"
    "  finished_ms BIGINT NOT NULL)@NOROWID;"
    "CREATE INDEX jobs_by_key ON jobs(key_id, finished_ms);"
    "CREATE TABLE job_parts (" /* who produced a job's tokens, in order */
    "  job_id TEXT NOT NULL,"
    "  seq BIGINT NOT NULL,"
    "  miner_id BIGINT NOT NULL," /* miners.id */
    "  tokens BIGINT NOT NULL,"
    "  PRIMARY KEY (job_id, seq))@NOROWID;"
    "CREATE INDEX job_parts_by_miner ON job_parts(miner_id);"
    "CREATE TABLE key_usage ("
    "  key_id BIGINT PRIMARY KEY,"
    "  requests BIGINT NOT NULL,"
    "  prompt_tokens BIGINT NOT NULL,"
    "  completion_tokens BIGINT NOT NULL);"
    "CREATE TABLE totals ("
    "  id BIGINT PRIMARY KEY CHECK (id = 1),"
    "  requests BIGINT NOT NULL,"
    "  prompt_tokens BIGINT NOT NULL,"
    "  completion_tokens BIGINT NOT NULL);"
    "INSERT INTO totals VALUES (1, 0, 0, 0)",

    /* 2: the books (ledger.h). Every balance is the sum of its account's
     * postings, kept in the transaction that writes them. */
    "CREATE TABLE accounts ("
    "  id @ID,"
    "  kind BIGINT NOT NULL,"          /* enum ledger_kind */
    "  owner TEXT NOT NULL,"           /* key id in decimal, miner pubkey, or '' */
    "  balance BIGINT NOT NULL DEFAULT 0,"
    "  UNIQUE (kind, owner));"
    "CREATE TABLE txns ("
    "  id @ID,"
    "  type TEXT NOT NULL,"            /* hold, settle, release, mature, deposit, payout ... */
    "  ref TEXT NOT NULL DEFAULT '',"  /* the request id, payout batch id ... */
    "  memo TEXT NOT NULL DEFAULT '',"
    "  created_ms BIGINT NOT NULL);"
    "CREATE INDEX txns_by_ref ON txns(ref);"
    "CREATE TABLE postings ("
    "  txn_id BIGINT NOT NULL,"
    "  seq BIGINT NOT NULL,"
    "  account_id BIGINT NOT NULL,"
    "  amount BIGINT NOT NULL,"
    "  PRIMARY KEY (txn_id, seq))@NOROWID;"
    "CREATE INDEX postings_by_account ON postings(account_id, txn_id);"
    "CREATE TABLE holds ("             /* one per request: what it may cost at most */
    "  req TEXT PRIMARY KEY,"
    "  key_id BIGINT NOT NULL,"
    "  amount BIGINT NOT NULL,"
    "  state BIGINT NOT NULL,"         /* 1 open, 2 settled, 3 released */
    "  writer TEXT NOT NULL,"          /* the store (process) that placed it */
    "  txn_id BIGINT NOT NULL,"
    "  created_ms BIGINT NOT NULL,"
    "  closed_ms BIGINT NOT NULL DEFAULT 0)@NOROWID;"
    "CREATE INDEX holds_open ON holds(key_id) WHERE state = 1;"
    "CREATE TABLE settlements ("       /* unique per request: a replay never charges twice */
    "  req TEXT PRIMARY KEY,"
    "  key_id BIGINT NOT NULL,"
    "  txn_id BIGINT NOT NULL,"
    "  model TEXT NOT NULL,"
    "  prompt_tokens BIGINT NOT NULL,"
    "  completion_tokens BIGINT NOT NULL,"
    "  cost BIGINT NOT NULL,"
    "  fee BIGINT NOT NULL,"
    "  receipt TEXT NOT NULL,"         /* signed JSON (ledger.h) */
    "  created_ms BIGINT NOT NULL)@NOROWID;"
    "CREATE INDEX settlements_by_key ON settlements(key_id, created_ms);"
    "CREATE TABLE responses ("         /* Idempotency-Key: the first response, kept */
    "  key_id BIGINT NOT NULL,"
    "  idem TEXT NOT NULL,"
    "  req TEXT NOT NULL,"
    "  http_status BIGINT NOT NULL,"
    "  content_type TEXT NOT NULL,"
    "  body @BLOB NOT NULL,"
    "  created_ms BIGINT NOT NULL,"
    "  PRIMARY KEY (key_id, idem))@NOROWID;"
    "CREATE TABLE earnings ("          /* a miner's pending share of one settlement */
    "  id @ID,"
    "  pubkey TEXT NOT NULL,"
    "  amount BIGINT NOT NULL,"
    "  txn_id BIGINT NOT NULL,"        /* the settlement */
    "  created_ms BIGINT NOT NULL,"
    "  matured_txn BIGINT NOT NULL DEFAULT 0);" /* 0 while pending */
    "CREATE INDEX earnings_pending ON earnings(created_ms) WHERE matured_txn = 0;"
    "CREATE TABLE payout_batches ("
    "  id @ID,"
    "  state BIGINT NOT NULL,"         /* 1 created, 2 confirmed, 3 cancelled */
    "  min_payout BIGINT NOT NULL,"
    "  total BIGINT NOT NULL,"
    "  n_lines BIGINT NOT NULL,"
    "  txn_id BIGINT NOT NULL,"
    "  closed_txn BIGINT NOT NULL DEFAULT 0,"
    "  created_ms BIGINT NOT NULL,"
    "  closed_ms BIGINT NOT NULL DEFAULT 0);"
    "CREATE TABLE payout_lines ("
    "  batch_id BIGINT NOT NULL,"
    "  pubkey TEXT NOT NULL,"
    "  payout TEXT NOT NULL,"          /* the miner's payout account when batched */
    "  amount BIGINT NOT NULL,"
    "  PRIMARY KEY (batch_id, pubkey))@NOROWID;"
    "CREATE TABLE writers ("           /* per open store: its last committed queued write */
    "  id TEXT PRIMARY KEY,"
    "  seq BIGINT NOT NULL,"
    "  updated_ms BIGINT NOT NULL)@NOROWID",

    /* 3: audits (docs/audits.md, ledger_audit.h): every finished audit with
     * its evidence, reputation per key, bans, forfeits and refunds. */
    "ALTER TABLE miners ADD COLUMN ban_reason TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE miners ADD COLUMN banned_ms BIGINT NOT NULL DEFAULT 0;"
    "ALTER TABLE miners ADD COLUMN ban_audit BIGINT NOT NULL DEFAULT 0;" /* audits.id */
    "ALTER TABLE earnings ADD COLUMN forfeit_txn BIGINT NOT NULL DEFAULT 0;"
    "CREATE TABLE audits ("
    "  id @ID,"
    "  job TEXT NOT NULL,"             /* the pool's job id */
    "  part BIGINT NOT NULL,"          /* which miner's part of it, from 0 */
    "  model TEXT NOT NULL,"
    "  miner TEXT NOT NULL,"           /* the audited key */
    "  tok_from BIGINT NOT NULL,"      /* the part: completion tokens [from, from + n) */
    "  tok_n BIGINT NOT NULL,"
    "  positions BIGINT NOT NULL,"     /* scored by each auditor: prompt + part */
    "  outcome BIGINT NOT NULL,"       /* enum ledger_audit_outcome */
    "  auditors TEXT NOT NULL,"        /* their keys, comma-separated, in order */
    "  evidence TEXT NOT NULL,"        /* JSON: each auditor's verdict, worst positions */
    "  txns TEXT NOT NULL DEFAULT '',"  /* JSON: forfeit and refund transactions it caused */
    "  created_ms BIGINT NOT NULL);"
    "CREATE INDEX audits_by_miner ON audits(miner, id);"
    "CREATE TABLE reputation ("        /* per key; rows only for keys audits touched */
    "  pubkey TEXT PRIMARY KEY,"
    "  passed BIGINT NOT NULL,"        /* as the audited miner */
    "  failed BIGINT NOT NULL,"
    "  confirmed BIGINT NOT NULL,"
    "  agreed BIGINT NOT NULL,"        /* as an auditor, with the majority */
    "  disagreed BIGINT NOT NULL,"
    "  updated_ms BIGINT NOT NULL)@NOROWID;"
    "CREATE TABLE refunds ("           /* a cheater's share of a request, given back */
    "  req TEXT NOT NULL,"
    "  pubkey TEXT NOT NULL,"          /* the banned miner whose share it was */
    "  audit_id BIGINT NOT NULL,"      /* the audit that banned it */
    "  key_id BIGINT NOT NULL,"        /* the customer refunded */
    "  share BIGINT NOT NULL,"         /* from FORFEIT */
    "  fee BIGINT NOT NULL,"           /* the fee on that share, from POOL_FEE */
    "  txn_id BIGINT NOT NULL,"
    "  created_ms BIGINT NOT NULL,"
    "  PRIMARY KEY (req, pubkey))@NOROWID;"
    "CREATE TABLE audit_totals ("      /* running sums for /metrics */
    "  id BIGINT PRIMARY KEY CHECK (id = 1),"
    "  forfeited BIGINT NOT NULL,"
    "  refunded BIGINT NOT NULL,"
    "  auditor_pay BIGINT NOT NULL);"
    "INSERT INTO audit_totals VALUES (1, 0, 0, 0)",
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

int store_schema_version(void)
{
    return N_MIGRATIONS;
}

static int check_identity(struct db *d, int version, char err[FIEF_ERR_LEN])
{
    int rc = db_identity(d, false);
    if (rc == FIEF_EFORMAT)
        return fief_errf(err, FIEF_EFORMAT,
                         "%s is some other program's SQLite database, "
                         "not fief's; choose another --data directory",
                         db_target(d));
    if (rc)
        return fief_errf(err, FIEF_EIO, "%s: cannot read: %s", db_target(d), db_errmsg(d));
    if (version > N_MIGRATIONS)
        return fief_errf(err, FIEF_EFORMAT,
                         "%s has schema version %d, but this fief (%s) knows versions up to %d: "
                         "it was written by a newer fief; upgrade fief to use it",
                         db_target(d), version, FIEF_VERSION, N_MIGRATIONS);
    return 0;
}

static int read_version(struct db *d, int *v, char err[FIEF_ERR_LEN])
{
    if (db_version_get(d, v))
        return fief_errf(err, FIEF_EIO, "%s: cannot read the schema version: %s", db_target(d),
                         db_errmsg(d));
    return check_identity(d, *v, err);
}

/* Apply migrations from the current version on, inside the migration
 * transaction. The version is read again under the lock: another process
 * (the pool and `fief keys` starting together) may have migrated in
 * between. */
static int migrate_locked(struct db *d, char err[FIEF_ERR_LEN])
{
    int v, rc = read_version(d, &v, err);
    if (rc)
        return rc;
    if (v < N_MIGRATIONS && db_identity(d, true))
        return fief_errf(err, FIEF_EIO, "%s: cannot mark the database as fief's: %s",
                         db_target(d), db_errmsg(d));
    for (; v < N_MIGRATIONS; v++) {
        char *ddl = db_ddl(d, migrations[v]);
        rc = db_script(d, ddl) || db_version_set(d, v + 1);
        free(ddl);
        if (rc)
            return fief_errf(err, FIEF_EFORMAT, "%s: cannot migrate the schema to version %d: %s",
                             db_target(d), v + 1, db_errmsg(d));
    }
    return 0;
}

int store_migrate(struct db *d, char err[FIEF_ERR_LEN])
{
    int v, rc = read_version(d, &v, err);
    if (rc || v == N_MIGRATIONS)
        return rc;
    if (db_migrate_begin(d))
        return fief_errf(err, FIEF_EIO, "%s: cannot lock for the schema migration: %s",
                         db_target(d), db_errmsg(d));
    rc = migrate_locked(d, err);
    if (rc == 0 && db_commit(d))
        rc = fief_errf(err, FIEF_EIO, "%s: cannot commit the schema migration: %s", db_target(d),
                       db_errmsg(d));
    if (rc && db_in_txn(d))
        db_rollback(d);
    if (rc == 0)
        log_info("store: %s: schema at version %d", db_target(d), N_MIGRATIONS);
    return rc;
}
