/* Unit tests: logfmt lines, quoting and levels. stderr is redirected into a
 * temporary file for each test and read back. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/logfmt.h"

static int saved_stderr = -1;
static FILE *capture;

static int capture_start(void **state) {
    (void)state;
    capture = tmpfile();
    saved_stderr = dup(STDERR_FILENO);
    dup2(fileno(capture), STDERR_FILENO);
    return 0;
}

/* Everything written since capture_start(); the caller frees it. */
static char *capture_end(void) {
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    long n = ftell(capture);
    char *buf = calloc(1, (size_t)n + 1);
    rewind(capture);
    size_t got = fread(buf, 1, (size_t)n, capture);
    buf[got] = '\0';
    fclose(capture);
    return buf;
}

static void test_fields_and_quoting(void **state) {
    capture_start(state);
    logfmt_init("order-test", LOG_LEVEL_INFO);
    log_info("order rejected", "order_id=%s reason=%s count=%d big=%lld size=%zu share=%.2f",
             "o-1", "out of stock", 42, -9000000000LL, (size_t)7, 0.25);
    log_warn("tricky", "q=%s eq=%s nl=%s empty=%s", "say \"hi\"", "a=b", "x\ny", "");
    char *out = capture_end();
    assert_non_null(strstr(out, " level=info prog=order-test msg=\"order rejected\" order_id=o-1 "
                                "reason=\"out of stock\" count=42 big=-9000000000 size=7 "
                                "share=0.25\n"));
    assert_non_null(strstr(out, "msg=tricky q=\"say \\\"hi\\\"\" eq=\"a=b\" nl=\"x\\ny\" "
                                "empty=\"\"\n"));
    assert_true(strncmp(out, "ts=", 3) == 0);
    /* exactly two lines */
    assert_ptr_equal(strchr(strchr(out, '\n') + 1, '\n'), out + strlen(out) - 1);
    free(out);
}

/* '*' widths and precisions take their int argument first, as in printf, and
 * "%.*s" prints a buffer that is not NUL-terminated (a Kafka key). */
static void test_star_width_and_precision(void **state) {
    capture_start(state);
    logfmt_init("order-test", LOG_LEVEL_INFO);
    const char key[] = {'k', 'e', 'y', '-', '1', 'X', 'X'}; /* no NUL */
    log_info("stars", "key=%.*s n=%*d pi=%.*f quoted=%.*s after=%s", 5, key, 4, 7, 2, 3.14159,
             3, "a b c", "end");
    char *out = capture_end();
    assert_non_null(strstr(out, " msg=stars key=key-1 n=   7 pi=3.14 quoted=\"a b\" after=end\n"));
    free(out);
}

static void test_levels_filter(void **state) {
    capture_start(state);
    logfmt_init("order-test", LOG_LEVEL_WARN);
    log_info("hidden", NULL);
    log_debug("hidden too", NULL);
    log_error("shown", NULL);
    char *out = capture_end();
    assert_null(strstr(out, "hidden"));
    assert_non_null(strstr(out, "level=error prog=order-test msg=shown\n"));
    free(out);
    assert_int_equal(logfmt_level_parse("debug"), LOG_LEVEL_DEBUG);
    assert_int_equal(logfmt_level_parse("loud"), -1);
}

static void test_long_lines_are_truncated_whole(void **state) {
    capture_start(state);
    logfmt_init("order-test", LOG_LEVEL_INFO);
    char *big = malloc(10000);
    memset(big, 'x', 9999);
    big[9999] = '\0';
    log_info("big", "value=%s after=%d", big, 1);
    char *out = capture_end();
    assert_true(strlen(out) <= 4096);
    assert_non_null(strstr(out, " truncated=true\n"));
    free(big);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_and_quoting),
        cmocka_unit_test(test_star_width_and_precision),
        cmocka_unit_test(test_levels_filter),
        cmocka_unit_test(test_long_lines_are_truncated_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
