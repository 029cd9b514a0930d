/* SPDX-License-Identifier: MIT */
/* The engine's worker pool: every thread runs every job exactly once, ranges
 * partition the work, and back-to-back jobs never lose a wake-up. */
#include "testutil.h"
#include "engine/threads.h"

#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

struct job {
    atomic_int calls;
    atomic_long sum;
    size_t n;
    unsigned char *hit;
};

static void work(void *arg, int ith, int nth)
{
    struct job *j = arg;
    size_t lo, hi;
    thr_range(j->n, ith, nth, &lo, &hi);
    long s = 0;
    for (size_t i = lo; i < hi; i++) {
        j->hit[i]++;
        s += (long)i;
    }
    atomic_fetch_add(&j->sum, s);
    atomic_fetch_add(&j->calls, 1);
}

static void run_many(int nthreads, int jobs, bool pause_between)
{
    struct eng_threads *t = eng_threads_new(nthreads);
    assert_non_null(t);
    assert_int_equal(eng_threads_count(t), nthreads);
    unsigned char hit[1000];
    for (int k = 0; k < jobs; k++) {
        memset(hit, 0, sizeof hit);
        struct job j = {.n = 1000, .hit = hit};
        thr_lock(t);
        thr_run(t, work, &j);
        thr_unlock(t);
        assert_int_equal(atomic_load(&j.calls), nthreads);
        assert_int_equal(atomic_load(&j.sum), 999 * 1000 / 2);
        for (int i = 0; i < 1000; i++)
            assert_int_equal(hit[i], 1);
        if (pause_between && k % 10 == 0)
            usleep(1000); /* let workers fall asleep: the wake-up path */
    }
    eng_threads_free(t);
}

static void test_one_thread(void **state)
{
    (void)state;
    run_many(1, 10, false);
}

static void test_spin_path(void **state)
{
    (void)state;
    run_many(2, 2000, false);
    run_many(4, 500, false);
}

static void test_sleep_path(void **state)
{
    (void)state;
    run_many(3, 100, true);
}

static void test_bad_count(void **state)
{
    (void)state;
    assert_null(eng_threads_new(0));
    eng_threads_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_thread),
        cmocka_unit_test(test_spin_path),
        cmocka_unit_test(test_sleep_path),
        cmocka_unit_test(test_bad_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
