/* SPDX-License-Identifier: MIT */
/* common/: buffers, error messages, log levels, overflow checks. */
#include "testutil.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>

static void test_buf(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "abc");
    buf_putc(&b, '-');
    buf_printf(&b, "%d/%s", 42, "x");
    assert_string_equal(b.data, "abc-42/x");
    assert_int_equal(b.len, 8);
    /* a formatted piece longer than the one-pass scratch */
    char big[1000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = 0;
    buf_printf(&b, "[%s]", big);
    assert_int_equal(b.len, 8 + 1001);
    assert_int_equal(b.data[b.len - 1], ']');
    assert_int_equal(b.data[b.len], 0);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_append(&b, "a\0b", 3);
    assert_int_equal(b.len, 3);
    char *s = buf_steal(&b);
    assert_null(b.data);
    assert_memory_equal(s, "a\0b", 4);
    free(s);
    buf_deinit(&b);
}

static void test_err(void **state)
{
    (void)state;
    char err[FIEF_ERR_LEN];
    assert_int_equal(fief_errf(err, FIEF_EFORMAT, "bad %s at %d", "thing", 7), FIEF_EFORMAT);
    assert_string_equal(err, "bad thing at 7");
    assert_int_equal(fief_errf(NULL, FIEF_EIO, "x"), FIEF_EIO);
    for (int c = 0; c >= FIEF_ETIMEOUT; c--)
        assert_string_not_equal(fief_strerror(c), "unknown error");
    assert_string_equal(fief_strerror(-999), "unknown error");
}

static void test_log_level(void **state)
{
    (void)state;
    int lvl;
    assert_int_equal(log_level_parse("debug", &lvl), 0);
    assert_int_equal(lvl, LOG_LVL_DEBUG);
    assert_int_equal(log_level_parse("loud", &lvl), FIEF_EINVAL);
}

static void test_mul_size(void **state)
{
    (void)state;
    size_t out;
    assert_int_equal(mul_size(3, 5, &out), 0);
    assert_int_equal(out, 15);
    assert_int_equal(mul_size((size_t)1 << 40, (size_t)1 << 40, &out), FIEF_ELIMIT);
    assert_int_equal(mul_size(0, (size_t)-1, &out), 0);
    assert_int_equal(out, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_err),
        cmocka_unit_test(test_log_level),
        cmocka_unit_test(test_mul_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
