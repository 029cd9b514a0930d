/* SPDX-License-Identifier: MIT */
/* Customer API keys: 256 random bits shown once as "fief-" + base64url, kept
 * only as a BLAKE2b hash, so a copy of the database lets no one in. Checked on
 * every HTTP request, hence one hash and one indexed read per check. */
#include "ledger/store_impl.h"

#include "common/clock.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAGIC "fief-"
#define KEY_MAGIC_LEN 5
#define KEY_RAW 32  /* random bytes in a key */
#define KEY_HASH 32 /* BLAKE2b output bytes stored */
#define KEY_PREFIX 12

#define KEY_COLS "SELECT id, name, prefix, created_ms, revoked_ms FROM keys "
static const char sql_insert[] =
    "INSERT INTO keys (hash, prefix, name, created_ms) VALUES (?1, ?2, ?3, ?4) RETURNING id";
static const char sql_by_hash[] = KEY_COLS "WHERE hash = ?1";
static const char sql_by_id[] = KEY_COLS "WHERE id = ?1";
/* substr, not LIKE: '_' is a base64url character and a LIKE wildcard. */
static const char sql_by_prefix[] =
    KEY_COLS "WHERE substr(prefix, 1, length(?1)) = ?1 ORDER BY id LIMIT 2";
static const char sql_list[] = KEY_COLS "ORDER BY id";
static const char sql_revoke[] = "UPDATE keys SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms = 0";

static void key_hash(const char *key, size_t len, unsigned char h[KEY_HASH])
{
    crypto_generichash(h, KEY_HASH, (const unsigned char *)key, len, NULL, 0);
}

static bool key_well_formed(const char *key, size_t len)
{
    return len == STORE_KEY_LEN && memcmp(key, KEY_MAGIC, KEY_MAGIC_LEN) == 0;
}

static void key_from_row(struct db_stmt *st, struct store_key *k)
{
    k->id = db_col_i64(st, 0);
    db_col_copy(st, 1, k->name, sizeof k->name);
    db_col_copy(st, 2, k->prefix, sizeof k->prefix);
    k->created_ms = db_col_i64(st, 3);
    k->revoked_ms = db_col_i64(st, 4);
}

/* Step a bound key query once: 0 and *k (may be NULL) for a row,
 * FIEF_ENOTFOUND for none, FIEF_EIO on failure. Leaves st positioned (the
 * caller resets), so a caller can step again to test uniqueness. */
static int key_step(struct db_stmt *st, struct store_key *k)
{
    int rc = db_step(st);
    if (rc == 0 && k)
        key_from_row(st, k);
    return rc;
}

static int key_by_hash(struct db *c, const char *key, struct store_key *k)
{
    unsigned char h[KEY_HASH];
    key_hash(key, STORE_KEY_LEN, h);
    struct db_stmt *st = db_sql(c, sql_by_hash);
    if (!st)
        return FIEF_EIO;
    db_bind_blob(st, 1, h, KEY_HASH);
    int rc = key_step(st, k);
    db_reset(st);
    return rc;
}

int store_key_check(struct store *s, const char *key, size_t len, struct store_key *info)
{
    if (!key || !key_well_formed(key, len))
        return FIEF_ENOTFOUND;
    struct store_key k;
    int rc = key_by_hash(store_rconn(s), key, &k);
    if (rc == 0 && k.revoked_ms != 0)
        rc = FIEF_ENOTFOUND;
    if (rc == 0 && info)
        *info = k;
    return rc;
}

static int name_check(const char *name, char err[FIEF_ERR_LEN])
{
    size_t n = strlen(name);
    if (n > STORE_KEY_NAME)
        return fief_errf(err, FIEF_EINVAL, "key name too long (%zu bytes, at most %d)", n,
                         STORE_KEY_NAME);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return fief_errf(err, FIEF_EINVAL, "key name contains a control character");
    return 0;
}

int store_key_create(struct store *s, const char *name, char key_out[STORE_KEY_LEN + 1],
                     struct store_key *info, char err[FIEF_ERR_LEN])
{
    if (!name)
        name = "";
    int rc = name_check(name, err);
    if (rc)
        return rc;
    unsigned char raw[KEY_RAW], h[KEY_HASH];
    randombytes_buf(raw, sizeof raw);
    memcpy(key_out, KEY_MAGIC, KEY_MAGIC_LEN);
    sodium_bin2base64(key_out + KEY_MAGIC_LEN, STORE_KEY_LEN + 1 - KEY_MAGIC_LEN, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    key_hash(key_out, STORE_KEY_LEN, h);

    struct store_key k = {.created_ms = (int64_t)clock_wall_ms()};
    snprintf(k.name, sizeof k.name, "%s", name);
    memcpy(k.prefix, key_out, KEY_PREFIX);
    k.prefix[KEY_PREFIX] = 0;

    struct db_stmt *st = db_sql(store_rconn(s), sql_insert);
    if (!st)
        return fief_errf(err, FIEF_EIO, "cannot prepare the key insert");
    db_bind_blob(st, 1, h, KEY_HASH);
    db_bind_text(st, 2, k.prefix);
    db_bind_text(st, 3, k.name);
    db_bind_i64(st, 4, k.created_ms);
    rc = db_step(st); /* RETURNING id */
    k.id = rc == 0 ? db_col_i64(st, 0) : 0;
    db_reset(st);
    if (rc)
        return fief_errf(err, FIEF_EIO, "cannot store the new key: %s",
                         db_errmsg(store_rconn(s)));
    if (info)
        *info = k;
    return 0;
}

int store_key_list(struct store *s, int (*cb)(void *ud, const struct store_key *k), void *ud)
{
    struct db_stmt *st = db_sql(store_rconn(s), sql_list);
    if (!st)
        return FIEF_EIO;
    struct store_key k;
    int rc;
    while ((rc = key_step(st, &k)) == 0)
        if (cb(ud, &k))
            break;
    db_reset(st);
    return rc == FIEF_ENOTFOUND ? 0 : rc;
}

/* ---- revoke ---- */

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static int key_by_id(struct db *c, const char *text, struct store_key *k,
                     char err[FIEF_ERR_LEN])
{
    struct db_stmt *st = db_sql(c, sql_by_id);
    if (!st)
        return fief_errf(err, FIEF_EIO, "cannot read keys");
    db_bind_i64(st, 1, strtoll(text, NULL, 10));
    int rc = key_step(st, k);
    db_reset(st);
    if (rc == FIEF_ENOTFOUND)
        return fief_errf(err, rc, "no key has id %s", text);
    return rc ? fief_errf(err, rc, "cannot read keys") : 0;
}

static int key_by_prefix(struct db *c, const char *prefix, struct store_key *k,
                         char err[FIEF_ERR_LEN])
{
    struct db_stmt *st = db_sql(c, sql_by_prefix);
    if (!st)
        return fief_errf(err, FIEF_EIO, "cannot read keys");
    db_bind_text(st, 1, prefix);
    int rc = key_step(st, k);
    int second = rc == 0 ? key_step(st, NULL) : FIEF_ENOTFOUND;
    db_reset(st);
    if (rc == FIEF_ENOTFOUND)
        return fief_errf(err, rc, "no key starts with %s", prefix);
    if (rc || (second && second != FIEF_ENOTFOUND))
        return fief_errf(err, FIEF_EIO, "cannot read keys");
    if (second == 0)
        return fief_errf(err, FIEF_EINVAL,
                         "%s matches several keys; give more characters or the key's id", prefix);
    return 0;
}

/* Which key the user means: an id, the whole key, or a unique prefix. */
static int key_resolve(struct db *c, const char *arg, struct store_key *k,
                       char err[FIEF_ERR_LEN])
{
    size_t n = strlen(arg);
    if (all_digits(arg) && n <= 18)
        return key_by_id(c, arg, k, err);
    if (key_well_formed(arg, n)) {
        int rc = key_by_hash(c, arg, k);
        if (rc == FIEF_ENOTFOUND)
            return fief_errf(err, rc, "no such key (it was never created here)");
        return rc ? fief_errf(err, rc, "cannot read keys") : 0;
    }
    if (n > KEY_MAGIC_LEN && n <= KEY_PREFIX && memcmp(arg, KEY_MAGIC, KEY_MAGIC_LEN) == 0)
        return key_by_prefix(c, arg, k, err);
    return fief_errf(err, FIEF_EINVAL,
                     "\"%s\" is not a key id, a key prefix (\"fief-\" and up to 7 more "
                     "characters, as `fief keys list` shows) or a whole key",
                     arg);
}

int store_key_find(struct store *s, const char *id_or_prefix, struct store_key *info,
                   char err[FIEF_ERR_LEN])
{
    return key_resolve(store_rconn(s), id_or_prefix, info, err);
}

int store_key_revoke(struct store *s, const char *id_or_prefix, struct store_key *info,
                     char err[FIEF_ERR_LEN])
{
    struct db *c = store_rconn(s);
    struct store_key k;
    int rc = key_resolve(c, id_or_prefix, &k, err);
    if (rc)
        return rc;
    if (k.revoked_ms == 0) {
        struct db_stmt *st = db_sql(c, sql_revoke);
        if (!st)
            return fief_errf(err, FIEF_EIO, "cannot revoke the key");
        k.revoked_ms = (int64_t)clock_wall_ms();
        db_bind_i64(st, 1, k.id);
        db_bind_i64(st, 2, k.revoked_ms);
        if (db_exec(st))
            return fief_errf(err, FIEF_EIO, "cannot revoke the key: %s", db_errmsg(c));
    }
    if (info)
        *info = k;
    return 0;
}
