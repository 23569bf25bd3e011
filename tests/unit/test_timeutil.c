/* time_rfc3339(): the hand-made formatting agrees with gmtime_r() and
 * snprintf() on every day of four centuries around the epoch, at times of day
 * that reach every field's extremes, before 1970 included; a short buffer is
 * cut like snprintf() cuts. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/timeutil.h"

/* The reference: what the function did before it was made fast. */
static void reference(int64_t ms, char *buf, size_t size) {
    time_t secs = (time_t)(ms / 1000);
    int millis = (int)(ms % 1000);
    if (millis < 0) {
        millis += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

static void expect_same(int64_t ms) {
    char got[64], want[64];
    time_rfc3339(ms, got, sizeof(got));
    reference(ms, want, sizeof(want));
    if (strcmp(got, want) != 0) fail_msg("%lld ms: got %s, want %s", (long long)ms, got, want);
}

static void test_every_day(void **state) {
    (void)state;
    const int64_t day_ms = 86400000;
    /* 1800-01-01 .. 2199-12-31: leap rules of 1900, 2000 and 2100 included */
    for (int64_t d = -62091; d < 84006; d++) {
        expect_same(d * day_ms);                  /* midnight */
        expect_same(d * day_ms + day_ms - 1);     /* 23:59:59.999 */
        expect_same(d * day_ms + 45296789);       /* 12:34:56.789 */
    }
}

static void test_known(void **state) {
    (void)state;
    char buf[TIME_RFC3339_LEN + 1];
    assert_string_equal(time_rfc3339(0, buf, sizeof(buf)), "1970-01-01T00:00:00.000Z");
    assert_string_equal(time_rfc3339(-1, buf, sizeof(buf)), "1969-12-31T23:59:59.999Z");
    assert_string_equal(time_rfc3339(951782400000, buf, sizeof(buf)),
                        "2000-02-29T00:00:00.000Z");
    assert_string_equal(time_rfc3339(1795992757123, buf, sizeof(buf)),
                        "2026-11-29T22:52:37.123Z");
    assert_int_equal(strlen(buf), TIME_RFC3339_LEN);
}

static void test_short_buffer(void **state) {
    (void)state;
    char buf[11];
    time_rfc3339(1795992757123, buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-29"); /* cut as snprintf cuts */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_day),
        cmocka_unit_test(test_known),
        cmocka_unit_test(test_short_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
