/* SPDX-License-Identifier: MIT */
/* The miner before it meets a pool: its key file (created 0600 in a 0700
 * directory, reused, malformed ones refused and left alone) and the checks
 * on its configuration. test_miner.c covers the sessions. */
#include "testutil.h"

#include "common/digest.h"
#include "miner/ident.h"
#include "miner/miner.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- the key file ---- */

static void test_key_file(void **state)
{
    (void)state;
    char dir[600], path[700], err[FIEF_ERR_LEN];
    struct ident a, b;
    bool created;
    struct stat st;
    snprintf(dir, sizeof dir, "%s/keys/deeper", tu_tmpdir());
    snprintf(path, sizeof path, "%s/%s", dir, IDENT_FILE);
    assert_int_equal(ident_load(dir, &a, &created, err), 0);
    assert_true(created);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    assert_int_equal(ident_load(dir, &b, &created, err), 0);
    assert_false(created);
    assert_string_equal(a.pk_hex, b.pk_hex);
    assert_memory_equal(a.sk, b.sk, 64);

    /* a signature made with the loaded key verifies under its public key */
    char sig_hex[129];
    unsigned char sig[64];
    ident_sign(&b, "hello", 5, sig_hex);
    assert_int_equal(hex_decode(sig_hex, 128, sig, 64), 0);
    assert_int_equal(crypto_sign_verify_detached(sig, (const unsigned char *)"hello", 5, a.pk), 0);

    /* readable by others: loaded (with a warning) */
    chmod(path, 0644);
    assert_int_equal(ident_load(dir, &b, &created, err), 0);

    /* malformed: refused, never replaced */
    size_t len;
    char *good = tu_read_file(path, &len);
    const char *bad[] = {"garbage\n", "", "fief-miner-key-v1\nseed zz\npublic 00\n"};
    for (int i = 0; i < 3; i++) {
        FILE *f = fopen(path, "w");
        fputs(bad[i], f);
        fclose(f);
        assert_int_equal(ident_load(dir, &b, &created, err), FIEF_EFORMAT);
        assert_non_null(strstr(err, "malformed"));
        char *now = tu_read_file(path, &len);
        assert_string_equal(now, bad[i]);
        free(now);
    }
    /* a public key that does not match the seed */
    char *tampered = strdup(good);
    char *pub = strstr(tampered, "public ");
    pub[7] = pub[7] == 'a' ? 'b' : 'a';
    FILE *f = fopen(path, "w");
    fputs(tampered, f);
    fclose(f);
    assert_int_equal(ident_load(dir, &b, &created, err), FIEF_EFORMAT);
    assert_non_null(strstr(err, "does not match"));
    free(tampered);
    free(good);
}

/* Configuration errors are caught before anything loads. */
static void test_cfg_check(void **state)
{
    (void)state;
    struct miner_cfg c;
    char err[FIEF_ERR_LEN], dir[600];
    miner_cfg_defaults(&c);
    c.urls[c.n_urls++] = "fief+tcp://127.0.0.1:3333";
    c.payout = "acct-1";
    c.worker = "rig1";
    c.models[c.n_models++].path = "/nonexistent/model.gguf";
    assert_int_equal(miner_cfg_check(&c, err), 0);
    const char *urls[] = {"http://x:1", "fief+tcp://", "fief+tcp://h:99999", "fief+tcp://h:0"};
    for (int i = 0; i < 4; i++) {
        c.urls[0] = urls[i];
        assert_int_not_equal(miner_cfg_check(&c, err), 0);
    }
    c.urls[0] = "fief+tls://h:3333";
    assert_int_equal(miner_cfg_check(&c, err), FIEF_EUNSUPPORTED);
    c.urls[0] = "pool.example.org";
    assert_int_equal(miner_cfg_check(&c, err), 0);
    c.urls[0] = "[::1]:4444";
    assert_int_equal(miner_cfg_check(&c, err), 0);
    c.worker = "rig 1";
    assert_int_not_equal(miner_cfg_check(&c, err), 0);
    c.worker = "rig1";
    c.payout = "";
    assert_int_not_equal(miner_cfg_check(&c, err), 0);
    c.payout = "acct";
    c.models[0].name = "a/b";
    assert_int_not_equal(miner_cfg_check(&c, err), 0);
    c.models[0].name = "llama:7b";
    assert_int_equal(miner_cfg_check(&c, err), 0);
    c.slots = 65;
    assert_int_not_equal(miner_cfg_check(&c, err), 0);
    c.slots = 1;
    c.max_fee_pct = 101;
    assert_int_not_equal(miner_cfg_check(&c, err), 0);

    /* a model that does not load: a failure with its name, not a crash */
    struct miner *m;
    c.max_fee_pct = -1;
    snprintf(dir, sizeof dir, "%s/cfg-data", tu_tmpdir());
    c.data_dir = dir;
    assert_int_not_equal(miner_new(&c, &m, err), 0);
    assert_non_null(strstr(err, "llama:7b"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_file),
        cmocka_unit_test(test_cfg_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
