/* SPDX-License-Identifier: MIT */
/* Signed receipts: what a settled request cost and who earned what, as
 * canonical JSON (sorted keys, compact, integers only) signed with the
 * pool's ed25519 key, so a miner can prove what it was owed and a customer
 * what it paid for. Also the pool key file; verification is in
 * common/receipt.c, where the miner, which has no database, finds it too. */
#include "ledger/ledger_impl.h"

#include "common/digest.h"
#include "common/receipt.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_MAGIC "fief-pool-key-v1"
#define KEY_FILE_MAX 1024 /* a well-formed file is ~170 bytes */
#define DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)

static const char sql_receipt[] = "SELECT receipt FROM settlements WHERE req = ?1";

/* ---- the pool key ---- */

static int key_from_seed(const unsigned char seed[32], unsigned char pk[32], unsigned char sk[64])
{
    return crypto_sign_seed_keypair(pk, sk, seed) ? FIEF_EINVAL : 0;
}

/* "MAGIC\nseed HEX\npublic HEX\n"; the public key must be the seed's. */
static int key_parse(const char *path, const char *text, unsigned char pk[32],
                     unsigned char sk[64], char err[FIEF_ERR_LEN])
{
    char seed_hex[65] = "", pub_hex[65] = "", want[65];
    unsigned char seed[32];
    size_t ml = strlen(KEY_MAGIC);
    int ok = strncmp(text, KEY_MAGIC "\n", ml + 1) == 0 &&
             sscanf(text + ml + 1, "seed %64s public %64s", seed_hex, pub_hex) == 2 &&
             strlen(seed_hex) == 64 && hex_decode(seed_hex, 64, seed, 32) == 0 &&
             key_from_seed(seed, pk, sk) == 0;
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(seed_hex, sizeof seed_hex);
    if (ok) {
        hex_encode(pk, 32, want);
        ok = strcmp(want, pub_hex) == 0;
    }
    if (!ok)
        return fief_errf(err, FIEF_EFORMAT,
                         "%s: not a pool key file (\"%s\", seed and public lines that match); "
                         "restore the original, or move it away to make a new key (receipts "
                         "signed with the old key then no longer match the published key)",
                         path, KEY_MAGIC);
    return 0;
}

static int key_read(const char *path, unsigned char pk[32], unsigned char sk[64],
                    char err[FIEF_ERR_LEN])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fief_errf(err, FIEF_EIO, "cannot open %s: %s", path, strerror(errno));
    char text[KEY_FILE_MAX + 1];
    struct stat st;
    ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, text, KEY_FILE_MAX) : -1;
    close(fd);
    text[n > 0 ? n : 0] = 0;
    int rc = key_parse(path, text, pk, sk, err);
    sodium_memzero(text, sizeof text);
    if (rc == 0 && (st.st_mode & 077))
        log_warn("%s is readable by others (mode %03o): anyone who reads it can sign receipts "
                 "as this pool; chmod 600 it",
                 path, (unsigned)(st.st_mode & 0777));
    return rc;
}

/* A new key through a temporary file; link() never replaces a key another
 * process created meanwhile (then that one is read). */
static int key_create(const char *path, unsigned char pk[32], unsigned char sk[64],
                      char err[FIEF_ERR_LEN])
{
    unsigned char seed[32];
    char seed_hex[65], pub_hex[65], text[256], tmp[PATH_MAX + 32];
    randombytes_buf(seed, sizeof seed);
    key_from_seed(seed, pk, sk);
    hex_encode(seed, 32, seed_hex);
    hex_encode(pk, 32, pub_hex);
    snprintf(text, sizeof text, "%s\nseed %s\npublic %s\n", KEY_MAGIC, seed_hex, pub_hex);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(seed_hex, sizeof seed_hex);
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t len = strlen(text);
    bool ok = fd >= 0 && fchmod(fd, 0600) == 0 && write(fd, text, len) == (ssize_t)len &&
              fsync(fd) == 0;
    int e = errno;
    sodium_memzero(text, sizeof text);
    if (fd >= 0)
        ok = close(fd) == 0 && ok;
    bool raced = false;
    if (ok && link(tmp, path) != 0) {
        raced = errno == EEXIST;
        ok = false;
        e = errno;
    }
    unlink(tmp);
    if (raced)
        return key_read(path, pk, sk, err);
    return ok ? 0 : fief_errf(err, FIEF_EIO, "cannot write %s: %s", path, strerror(e));
}

int ledger_pool_key(const char *dir, unsigned char pk[32], unsigned char sk[64],
                    char err[FIEF_ERR_LEN])
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, LEDGER_KEY_FILE) >= sizeof path - 16)
        return fief_errf(err, FIEF_EINVAL, "%s: path too long", dir);
    if (sodium_init() < 0)
        return fief_errf(err, FIEF_EIO, "libsodium failed to initialise");
    if (access(path, F_OK) == 0)
        return key_read(path, pk, sk, err);
    return key_create(path, pk, sk, err);
}

/* ---- making receipts ---- */

static json_t *receipt_body(const char *pool, const char *pool_key,
                            const struct ledger_settlement *st, const struct ledger_split *sp,
                            int64_t time_ms)
{
    json_t *miners = json_array();
    for (uint32_t i = 0; i < sp->n; i++)
        json_array_append_new(miners, json_pack("{s:s, s:I, s:I}", "miner", sp->shares[i].pubkey,
                                                "tokens", (json_int_t)sp->shares[i].tokens,
                                                "amount", (json_int_t)sp->shares[i].amount));
    return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:I}",
                     "v", RECEIPT_VERSION, "pool", pool, "pool_key", pool_key, "request",
                     st->req, "model", st->model, "digest", st->digest, "prompt_tokens",
                     (json_int_t)st->prompt_tokens, "completion_tokens",
                     (json_int_t)st->completion_tokens, "price_in", (json_int_t)st->price_in,
                     "price_out", (json_int_t)st->price_out, "cost", (json_int_t)sp->cost, "fee",
                     (json_int_t)sp->fee, "fee_ppm", (json_int_t)st->fee_ppm, "miners", miners,
                     "time_ms", (json_int_t)time_ms);
}

/* Add "signature": hex of the ed25519 signature over o as dumped now. */
static int sign_into(json_t *o, const unsigned char sk[64])
{
    char *msg = json_dumps(o, DUMP_FLAGS);
    if (!msg)
        return FIEF_ENOMEM;
    unsigned char sig[crypto_sign_BYTES];
    char hex[2 * crypto_sign_BYTES + 1];
    crypto_sign_detached(sig, NULL, (const unsigned char *)msg, strlen(msg), sk);
    free(msg);
    hex_encode(sig, sizeof sig, hex);
    return json_object_set_new(o, "signature", json_string(hex)) ? FIEF_ENOMEM : 0;
}

char *ledger_receipt_make(struct store *s, const struct ledger_settlement *st,
                          const struct ledger_split *sp, int64_t time_ms)
{
    char name[65], pk_hex[65];
    unsigned char pk[32], sk[64];
    if (ledger_mem_signer(s, name, pk, sk))
        return NULL;
    hex_encode(pk, 32, pk_hex);
    json_t *o = receipt_body(name, pk_hex, st, sp, time_ms);
    char *out = o && sign_into(o, sk) == 0 ? json_dumps(o, DUMP_FLAGS) : NULL;
    sodium_memzero(sk, sizeof sk);
    json_decref(o);
    if (!out)
        log_err("ledger: cannot make the receipt of request %s (a field is not valid UTF-8?)",
                st->req);
    return out;
}

char *ledger_receipt_get(struct store *s, const char *req)
{
    struct db_stmt *st = db_sql(store_rconn(s), sql_receipt);
    if (!st)
        return NULL;
    db_bind_text(st, 1, req);
    char *out = db_step(st) == 0 ? strdup(db_col_text(st, 0)) : NULL;
    db_reset(st);
    return out;
}

/* ---- verifying (common/receipt.c: the miner checks receipts too) ---- */

int ledger_receipt_verify(const char *json, const char *pubkey_hex, char err[FIEF_ERR_LEN])
{
    return receipt_verify(json, pubkey_hex, err);
}
