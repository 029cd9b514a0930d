/* SPDX-License-Identifier: MIT */
/* The miner's key pair on disk: a short text file holding the ed25519 seed and
 * the public key it yields, created once (0600 in a 0700 directory) and then
 * reused, so the miner keeps its identity and its earnings across restarts. */
#include "miner/ident.h"
#include "common/digest.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_MAGIC "fief-miner-key-v1"
#define KEY_MAX_BYTES 1024 /* a well-formed file is ~170 bytes */

/* mkdir -p; directories we create are private (0700): they hold the key. */
static int make_dirs(const char *dir, char err[FIEF_ERR_LEN])
{
    char path[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path)
        return fief_errf(err, FIEF_EINVAL, "data directory \"%s\": bad path", dir);
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != 0)
            continue;
        char c = path[i];
        path[i] = 0;
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return fief_errf(err, FIEF_EIO, "cannot create %s: %s", path, strerror(errno));
        path[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fief_errf(err, FIEF_EIO, "%s is not a directory", dir);
    return 0;
}

static void key_text(const struct ident *id, char *out, size_t cap)
{
    char seed_hex[65];
    hex_encode(id->sk, 32, seed_hex); /* libsodium's sk starts with the seed */
    snprintf(out, cap, "%s\nseed %s\npublic %s\n", KEY_MAGIC, seed_hex, id->pk_hex);
    sodium_memzero(seed_hex, sizeof seed_hex);
}

static int from_seed(const unsigned char seed[32], struct ident *out)
{
    if (crypto_sign_seed_keypair(out->pk, out->sk, seed) != 0)
        return FIEF_EINVAL;
    hex_encode(out->pk, 32, out->pk_hex);
    return 0;
}

/* Write a new key to path through a temporary file, so a crash never leaves
 * a half-written key under the real name. */
static int create_key(const char *path, struct ident *out, char err[FIEF_ERR_LEN])
{
    unsigned char seed[32];
    randombytes_buf(seed, sizeof seed);
    from_seed(seed, out);
    sodium_memzero(seed, sizeof seed);
    char tmp[PATH_MAX], text[256];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return fief_errf(err, FIEF_EINVAL, "%s: path too long", path);
    key_text(out, text, sizeof text);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return fief_errf(err, FIEF_EIO, "cannot create %s: %s", tmp, strerror(errno));
    size_t len = strlen(text);
    bool ok = fchmod(fd, 0600) == 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    int e = errno;
    sodium_memzero(text, sizeof text);
    if (close(fd) != 0 && ok) {
        ok = false;
        e = errno;
    }
    /* link() rather than rename(): it never replaces a key that appeared meanwhile. */
    if (ok && link(tmp, path) != 0) {
        ok = false;
        e = errno;
    }
    unlink(tmp);
    if (!ok)
        return fief_errf(err, FIEF_EIO, "cannot write %s: %s", path, strerror(e));
    return 0;
}

/* "seed <64 hex>\npublic <64 hex>\n" after the magic line; the public key
 * must be the one the seed yields. */
static int parse_key(const char *path, char *text, struct ident *out, char err[FIEF_ERR_LEN])
{
    char seed_hex[65], pub_hex[65];
    unsigned char seed[32];
    int rc = FIEF_EFORMAT;
    const char *why = "expected \"" KEY_MAGIC "\", \"seed HEX\", \"public HEX\" lines";
    size_t ml = strlen(KEY_MAGIC);
    if (strncmp(text, KEY_MAGIC "\n", ml + 1) != 0 ||
        sscanf(text + ml + 1, "seed %64s public %64s", seed_hex, pub_hex) != 2)
        goto out;
    why = "the seed is not 64 hex digits";
    if (strlen(seed_hex) != 64 || hex_decode(seed_hex, 64, seed, 32) != 0)
        goto out;
    from_seed(seed, out);
    why = "the public key does not match the seed";
    if (strcmp(pub_hex, out->pk_hex) != 0)
        goto out;
    rc = 0;
out:
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(seed_hex, sizeof seed_hex);
    if (rc)
        fief_errf(err, rc,
                  "%s: malformed key file (%s); move it away to create a new key, "
                  "or restore the original",
                  path, why);
    return rc;
}

static int read_key(const char *path, struct ident *out, char err[FIEF_ERR_LEN])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fief_errf(err, FIEF_EIO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    char text[KEY_MAX_BYTES + 1];
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= KEY_MAX_BYTES)
        n = read(fd, text, KEY_MAX_BYTES);
    close(fd);
    if (n < 0)
        return fief_errf(err, FIEF_EFORMAT,
                         "%s: not a key file (not a small regular file); "
                         "move it away to create a new key",
                         path);
    text[n] = 0;
    int rc = parse_key(path, text, out, err);
    sodium_memzero(text, sizeof text);
    if (!rc && (st.st_mode & 077))
        log_warn("%s is readable by others (mode %03o): anyone who reads it can take this "
                 "miner's identity and earnings; chmod 600 it",
                 path, st.st_mode & 0777);
    return rc;
}

int ident_load(const char *dir, struct ident *out, bool *created, char err[FIEF_ERR_LEN])
{
    if (sodium_init() < 0)
        return fief_errf(err, FIEF_EIO, "libsodium failed to initialise");
    int rc = make_dirs(dir, err);
    if (rc)
        return rc;
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, IDENT_FILE) >= (int)sizeof path)
        return fief_errf(err, FIEF_EINVAL, "data directory \"%s\": path too long", dir);
    struct stat st;
    *created = stat(path, &st) != 0 && errno == ENOENT;
    rc = *created ? create_key(path, out, err) : read_key(path, out, err);
    if (rc)
        ident_wipe(out);
    return rc;
}

void ident_sign(const struct ident *id, const void *msg, unsigned long long len, char sig_hex[129])
{
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, msg, len, id->sk);
    hex_encode(sig, sizeof sig, sig_hex);
}

void ident_wipe(struct ident *id)
{
    sodium_memzero(id, sizeof *id);
}
