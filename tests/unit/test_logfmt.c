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
#include <jansson.h>

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

/* --log-format json: the same fields as one JSON object per line, read back
 * by an independent parser: numbers as numbers, every string exactly as
 * given (quotes, '=', newlines, control characters, UTF-8). */
static void test_json_lines(void **state) {
    capture_start(state);
    logfmt_init("order-test", LOG_LEVEL_INFO);
    logfmt_set_format(LOG_FORMAT_JSON);
    log_info("order rejected", "order_id=%s reason=%s count=%d big=%lld share=%.2f neg=%d "
             "zip=%s ver=%s",
             "o-1", "out of stock", 42, -9000000000LL, 0.25, -3, "007", "1.2.3");
    log_warn("tricky", "q=%s eq=%s nl=%s empty=%s ctl=%s utf8=%s", "say \"hi\"", "a=b",
             "x\ny", "", "bell\a", "caf\xc3\xa9");
    logfmt_set_format(LOG_FORMAT_LOGFMT);
    char *out = capture_end();

    json_error_t jerr;
    char *second = strchr(out, '\n');
    assert_non_null(second);
    *second++ = '\0';
    json_t *a = json_loads(out, 0, &jerr);
    if (!a) fail_msg("not JSON (%s): %s", jerr.text, out);
    assert_string_equal(json_string_value(json_object_get(a, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(a, "prog")), "order-test");
    assert_string_equal(json_string_value(json_object_get(a, "msg")), "order rejected");
    assert_string_equal(json_string_value(json_object_get(a, "reason")), "out of stock");
    assert_int_equal(json_integer_value(json_object_get(a, "count")), 42);
    assert_true(json_integer_value(json_object_get(a, "big")) == -9000000000LL);
    assert_true(json_real_value(json_object_get(a, "share")) == 0.25);
    assert_int_equal(json_integer_value(json_object_get(a, "neg")), -3);
    assert_string_equal(json_string_value(json_object_get(a, "zip")), "007"); /* not 7 */
    assert_string_equal(json_string_value(json_object_get(a, "ver")), "1.2.3");
    assert_non_null(json_string_value(json_object_get(a, "ts")));
    json_decref(a);

    json_t *b = json_loads(second, JSON_DISABLE_EOF_CHECK, &jerr);
    if (!b) fail_msg("not JSON (%s): %s", jerr.text, second);
    assert_string_equal(json_string_value(json_object_get(b, "q")), "say \"hi\"");
    assert_string_equal(json_string_value(json_object_get(b, "eq")), "a=b");
    assert_string_equal(json_string_value(json_object_get(b, "nl")), "x\ny");
    assert_string_equal(json_string_value(json_object_get(b, "empty")), "");
    assert_string_equal(json_string_value(json_object_get(b, "ctl")), "bell\a");
    assert_string_equal(json_string_value(json_object_get(b, "utf8")), "caf\xc3\xa9");
    json_decref(b);
    free(out);
}

/* A JSON line too long for the buffer ends after its last whole field, with
 * "truncated":true, and is still one valid JSON object. */
static void test_json_long_lines_stay_json(void **state) {
    capture_start(state);
    logfmt_init("order-test", LOG_LEVEL_INFO);
    logfmt_set_format(LOG_FORMAT_JSON);
    char *ctl = malloc(2000); /* each byte grows from \x01 (4) to \u0001 (6) */
    memset(ctl, 1, 1999);
    ctl[1999] = '\0';
    log_info("big", "a=%d value=%s after=%d", 1, ctl, 2);
    logfmt_set_format(LOG_FORMAT_LOGFMT);
    char *out = capture_end();
    assert_true(strlen(out) <= 4096);
    json_error_t jerr;
    json_t *o = json_loads(out, 0, &jerr);
    if (!o) fail_msg("not JSON (%s): %.200s", jerr.text, out);
    assert_true(json_is_true(json_object_get(o, "truncated")));
    assert_int_equal(json_integer_value(json_object_get(o, "a")), 1);
    json_decref(o);
    free(ctl);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_and_quoting),
        cmocka_unit_test(test_star_width_and_precision),
        cmocka_unit_test(test_levels_filter),
        cmocka_unit_test(test_long_lines_are_truncated_whole),
        cmocka_unit_test(test_json_lines),
        cmocka_unit_test(test_json_long_lines_stay_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
