/* SPDX-License-Identifier: MIT */
/* The miner's receipts (miner/receipts.h): a receipt signed by the ledger,
 * received over the wire, checked against the pool's key and filed; what a
 * miner earned from it; a changed one, one signed by another key and one
 * about other miners. Every filed line is a receipt `fief receipt verify`
 * accepts. */
#include "testutil.h"
#include "tu_books.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/digest.h"
#include "common/receipt.h"
#include "miner/receipts.h"

struct fixture {
    struct books b;
    char pool_key[65];
    char dir[600]; /* the miner's data directory */
};

/* A settled request r1 (A made 60 tokens, B 40) and its receipt as a miner
 * receives it. */
static void setup(void **state, struct fixture *f, struct proto_receipt *r)
{
    unsigned char pk[32], sk[64];
    char err[FIEF_ERR_LEN];
    books_open(state, "receipts", &f->b);
    int64_t key = new_key(f->b.s, 10 * CREDIT);
    settle_one(f->b.s, key, "r1", 60, 40);
    store_flush(f->b.s);
    assert_int_equal(ledger_pool_key(f->b.loc.dir, pk, sk, err), 0);
    hex_encode(pk, 32, f->pool_key);
    snprintf(f->dir, sizeof f->dir, "%s/miner", f->b.loc.dir);
    mkdir(f->dir, 0700);
    char *text = ledger_receipt_get(f->b.s, "r1");
    assert_non_null(text);
    memset(r, 0, sizeof *r);
    snprintf(r->request, sizeof r->request, "r1");
    r->receipt = json_loads(text, 0, NULL);
    assert_non_null(r->receipt);
    free(text);
}

static void teardown(struct fixture *f, struct proto_receipt *r)
{
    proto_receipt_clear(r);
    store_close(f->b.s);
}

/* The lines of dir/name (0 when there is no file); the last one in last. */
static int lines_of(const char *dir, const char *name, char *last, size_t cap)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len;
    char *text = tu_read_file(path, &len);
    int n = 0;
    for (char *line = text ? strtok(text, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        snprintf(last, cap, "%s", line);
        n++;
    }
    free(text);
    return n;
}

static void test_filed(void **state)
{
    struct fixture f;
    struct proto_receipt r;
    struct receipts_share sh;
    char err[FIEF_ERR_LEN] = "", line[4096];
    setup(state, &f, &r);
    /* 100 tokens at 2 credits per million: 200; 2% fee 4; A 60% of 196 */
    assert_int_equal(receipts_file(f.dir, f.pool_key, MINER_A, &r, &sh, err), 0);
    assert_int_equal(sh.earned, 118); /* 117.6 -> 117, plus the larger remainder */
    assert_int_equal(sh.tokens, 60);
    assert_int_equal(sh.cost, 200);
    assert_string_equal(sh.model, "stories");
    assert_int_equal(receipts_file(f.dir, f.pool_key, MINER_B, &r, &sh, err), 0);
    assert_int_equal(sh.earned, 78);
    assert_int_equal(sh.tokens, 40);
    /* a receipt about others: filed, nothing earned */
    assert_int_equal(receipts_file(f.dir, f.pool_key, "cc", &r, &sh, err), 0);
    assert_int_equal(sh.earned, 0);
    /* no key published: checked against the key the receipt names */
    assert_int_equal(receipts_file(f.dir, "", MINER_A, &r, &sh, err), 0);
    assert_int_equal(lines_of(f.dir, RECEIPTS_FILE, line, sizeof line), 4);
    assert_int_equal(lines_of(f.dir, RECEIPTS_REJECTED, line, sizeof line), 0);
    assert_int_equal(receipt_verify(line, f.pool_key, err), 0); /* what the CLI checks */
    /* a directory it cannot write: said so */
    assert_int_equal(receipts_file("/nonexistent/dir", f.pool_key, MINER_A, &r, &sh, err),
                     FIEF_EIO);
    assert_non_null(strstr(err, "/nonexistent/dir/" RECEIPTS_FILE));
    teardown(&f, &r);
}

static void test_rejected(void **state)
{
    struct fixture f;
    struct proto_receipt r;
    struct receipts_share sh;
    char err[FIEF_ERR_LEN] = "", line[4096], other[65];
    setup(state, &f, &r);
    /* signed by another key than the one the pool published */
    memset(other, 'e', 64);
    other[64] = 0;
    assert_int_equal(receipts_file(f.dir, other, MINER_A, &r, &sh, err), FIEF_EPROTO);
    assert_non_null(strstr(err, "bad signature"));
    assert_int_equal(sh.earned, 0);
    /* changed after signing: A claims more tokens */
    json_t *a = json_array_get(json_object_get(r.receipt, "miners"), 0);
    json_object_set_new(a, "tokens", json_integer(61));
    assert_int_equal(receipts_file(f.dir, f.pool_key, MINER_A, &r, &sh, err), FIEF_EPROTO);
    /* not a receipt: the shares no longer add up to the cost */
    json_object_set_new(a, "amount", json_integer(1000));
    assert_int_equal(receipts_file(f.dir, f.pool_key, MINER_A, &r, &sh, err), FIEF_EFORMAT);
    assert_int_equal(lines_of(f.dir, RECEIPTS_FILE, line, sizeof line), 0);
    assert_int_equal(lines_of(f.dir, RECEIPTS_REJECTED, line, sizeof line), 3); /* kept aside */
    assert_non_null(strstr(line, "\"amount\":1000"));
    teardown(&f, &r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filed),
        cmocka_unit_test(test_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
