/* Unit tests: the offset tracker and the retry backoff schedule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "consumer/backoff.h"
#include "consumer/offsets.h"

static void test_empty_has_nothing_to_commit(void **state) {
    (void)state;
    offtrack t;
    offtrack_init(&t);
    assert_int_equal(offtrack_committable(&t), -1);
    assert_int_equal(offtrack_pending(&t), 0);
    offtrack_free(&t);
}

static void test_in_order_completion(void **state) {
    (void)state;
    offtrack t;
    offtrack_init(&t);
    for (int64_t o = 10; o < 15; o++) assert_int_equal(offtrack_add(&t, o), OFFTRACK_OK);
    assert_int_equal(offtrack_committable(&t), 10);
    assert_int_equal(offtrack_done(&t, 10), OFFTRACK_OK);
    assert_int_equal(offtrack_committable(&t), 11);
    for (int64_t o = 11; o < 15; o++) assert_int_equal(offtrack_done(&t, o), OFFTRACK_OK);
    assert_int_equal(offtrack_committable(&t), 15);
    assert_int_equal(offtrack_pending(&t), 0);
    offtrack_free(&t);
}

/* The committed offset never passes a record that is not done. */
static void test_out_of_order_completion_holds_the_gap(void **state) {
    (void)state;
    offtrack t;
    offtrack_init(&t);
    for (int64_t o = 0; o < 5; o++) offtrack_add(&t, o);
    assert_int_equal(offtrack_done(&t, 3), OFFTRACK_OK);
    assert_int_equal(offtrack_done(&t, 1), OFFTRACK_OK);
    assert_int_equal(offtrack_committable(&t), 0);
    assert_int_equal(offtrack_pending(&t), 3);
    assert_int_equal(offtrack_done(&t, 0), OFFTRACK_OK);
    assert_int_equal(offtrack_committable(&t), 2); /* 2 is still undone */
    assert_int_equal(offtrack_done(&t, 4), OFFTRACK_OK);
    assert_int_equal(offtrack_committable(&t), 2);
    assert_int_equal(offtrack_done(&t, 2), OFFTRACK_OK);
    assert_int_equal(offtrack_committable(&t), 5);
    offtrack_free(&t);
}

/* Offsets with holes (compaction, transaction markers) are fine. */
static void test_sparse_offsets(void **state) {
    (void)state;
    offtrack t;
    offtrack_init(&t);
    offtrack_add(&t, 100);
    offtrack_add(&t, 105);
    offtrack_add(&t, 230);
    assert_int_equal(offtrack_done(&t, 105), OFFTRACK_OK);
    assert_int_equal(offtrack_committable(&t), 100);
    assert_int_equal(offtrack_done(&t, 100), OFFTRACK_OK);
    assert_int_equal(offtrack_committable(&t), 230);
    assert_int_equal(offtrack_done(&t, 230), OFFTRACK_OK);
    assert_int_equal(offtrack_committable(&t), 231);
    offtrack_free(&t);
}

static void test_rejects_misuse(void **state) {
    (void)state;
    offtrack t;
    offtrack_init(&t);
    assert_int_equal(offtrack_add(&t, -1), OFFTRACK_ERR);
    assert_int_equal(offtrack_add(&t, 5), OFFTRACK_OK);
    assert_int_equal(offtrack_add(&t, 5), OFFTRACK_ERR); /* not increasing */
    assert_int_equal(offtrack_add(&t, 4), OFFTRACK_ERR);
    assert_int_equal(offtrack_done(&t, 6), OFFTRACK_ERR); /* never added */
    assert_int_equal(offtrack_add(&t, 6), OFFTRACK_OK);
    assert_int_equal(offtrack_done(&t, 6), OFFTRACK_OK);
    assert_int_equal(offtrack_done(&t, 6), OFFTRACK_ERR); /* done twice */
    assert_int_equal(offtrack_done(&t, 5), OFFTRACK_OK);
    assert_int_equal(offtrack_done(&t, 5), OFFTRACK_ERR); /* released */
    offtrack_free(&t);
}

/* Many records, completed in a scrambled order, through several ring
 * growths and wrap-arounds: the committable offset is always the smallest
 * undone one. */
static void test_scrambled_completion_through_growth(void **state) {
    (void)state;
    enum { N = 5000 };
    static unsigned char done[N];
    offtrack t;
    offtrack_init(&t);
    int64_t next_add = 0;
    uint64_t x = 12345;
    size_t completed = 0;
    while (completed < N) {
        /* keep up to ~300 in flight, adding in order */
        while (next_add < N && offtrack_pending(&t) < 300)
            assert_int_equal(offtrack_add(&t, next_add++), OFFTRACK_OK);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t lo = offtrack_committable(&t);
        int64_t pick = lo + (int64_t)(x % (uint64_t)(next_add - lo));
        while (done[pick]) pick = pick + 1 < next_add ? pick + 1 : lo;
        assert_int_equal(offtrack_done(&t, pick), OFFTRACK_OK);
        done[pick] = 1;
        completed++;
        int64_t expect = 0;
        while (expect < N && done[expect]) expect++;
        if (expect > next_add) expect = next_add;
        assert_int_equal(offtrack_committable(&t), expect < next_add ? expect : next_add);
    }
    assert_int_equal(offtrack_committable(&t), N);
    offtrack_free(&t);
}

static void test_backoff_schedule(void **state) {
    (void)state;
    /* ceiling doubles from base up to cap; the wait is within [ceiling/2, ceiling] */
    assert_int_equal(backoff_delay_ms(100, 10000, 1, 0.0), 50);
    assert_int_equal(backoff_delay_ms(100, 10000, 1, 0.999999), 100);
    assert_int_equal(backoff_delay_ms(100, 10000, 2, 0.0), 100);
    assert_int_equal(backoff_delay_ms(100, 10000, 3, 0.999999), 400);
    assert_int_equal(backoff_delay_ms(100, 10000, 8, 0.0), 5000);
    assert_int_equal(backoff_delay_ms(100, 10000, 30, 0.999999), 10000); /* capped */
    assert_int_equal(backoff_delay_ms(100, 10000, 1000, 0.5) <= 10000, 1);
    for (unsigned a = 1; a < 64; a++)
        for (double r = 0; r < 1.0; r += 0.125) {
            int64_t d = backoff_delay_ms(100, 10000, a, r);
            assert_true(d >= 50 && d <= 10000);
        }
    assert_int_equal(backoff_delay_ms(0, 0, 5, 0.7), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_has_nothing_to_commit),
        cmocka_unit_test(test_in_order_completion),
        cmocka_unit_test(test_out_of_order_completion_holds_the_gap),
        cmocka_unit_test(test_sparse_offsets),
        cmocka_unit_test(test_rejects_misuse),
        cmocka_unit_test(test_scrambled_completion_through_growth),
        cmocka_unit_test(test_backoff_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
