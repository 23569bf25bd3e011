/* Unit tests: W3C traceparent validation, new traces, child spans, and the
 * header step every hop takes (hdr_continue_trace). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "common/headers.h"
#include "common/trace.h"

#define PARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static int valid(const char *s) { return trace_valid(s, strlen(s)); }

static void test_validation(void **state) {
    (void)state;
    assert_true(valid(PARENT));
    assert_true(valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
    /* a later version may append fields after a '-' */
    assert_true(valid("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what"));
    assert_false(valid("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01what"));
    assert_false(valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"));
    assert_false(valid("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    assert_false(valid("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
    assert_false(valid("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
    assert_false(valid("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
    assert_false(valid("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"));
    assert_false(valid("00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01"));
    assert_false(valid(""));
    assert_false(trace_valid(NULL, 0));
}

static void test_new_traces_differ(void **state) {
    (void)state;
    char a[TRACE_PARENT_LEN + 1], b[TRACE_PARENT_LEN + 1];
    trace_new(a);
    trace_new(b);
    assert_int_equal(strlen(a), TRACE_PARENT_LEN);
    assert_true(valid(a));
    assert_true(valid(b));
    assert_memory_not_equal(a + 3, b + 3, 32);
    assert_string_equal(a + 52, "-01");
}

static void test_child_continues_the_trace(void **state) {
    (void)state;
    char c[TRACE_PARENT_LEN + 1];
    assert_int_equal(trace_child(PARENT, strlen(PARENT), c), 1);
    assert_true(valid(c));
    assert_memory_equal(c, PARENT, 36);         /* version and trace id */
    assert_memory_not_equal(c + 36, &PARENT[36], 16); /* a span of its own */
    assert_string_equal(c + 52, "-01");         /* flags carried */

    const char *unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    assert_int_equal(trace_child(unsampled, strlen(unsampled), c), 1);
    assert_string_equal(c + 52, "-00");

    /* a later version is continued as version 00, its extra fields dropped */
    const char *later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
    assert_int_equal(trace_child(later, strlen(later), c), 1);
    assert_int_equal(strlen(c), TRACE_PARENT_LEN);
    assert_memory_equal(c, "00-4bf92f3577b34da6a3ce929d0e0e4736-", 36);

    /* not NUL-terminated, as a Kafka header value is */
    char buf[64];
    memcpy(buf, PARENT "garbage", sizeof(PARENT) + 6);
    assert_int_equal(trace_child(buf, TRACE_PARENT_LEN, c), 1);
    assert_memory_equal(c, PARENT, 36);
}

static void test_invalid_parent_starts_a_trace(void **state) {
    (void)state;
    char c[TRACE_PARENT_LEN + 1];
    const char *bad = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";
    assert_int_equal(trace_child(bad, strlen(bad), c), 0);
    assert_true(valid(c));
    assert_int_equal(trace_child(NULL, 0, c), 0);
    assert_true(valid(c));
}

static const char *header(rd_kafka_headers_t *h, const char *name, size_t *len) {
    const void *v;
    if (rd_kafka_header_get_last(h, name, &v, len)) return NULL;
    return v;
}

static void test_headers_continue_trace_and_state(void **state) {
    (void)state;
    rd_kafka_headers_t *in = rd_kafka_headers_new(2), *out = rd_kafka_headers_new(2);
    rd_kafka_header_add(in, "traceparent", -1, PARENT, -1);
    rd_kafka_header_add(in, "tracestate", -1, "congo=t61rcWkgMzE", -1);
    assert_int_equal(hdr_continue_trace(in, out), 0);
    size_t len;
    const char *tp = header(out, "traceparent", &len);
    assert_non_null(tp);
    assert_int_equal(len, TRACE_PARENT_LEN);
    assert_memory_equal(tp, PARENT, 36);
    const char *ts = header(out, "tracestate", &len);
    assert_non_null(ts);
    assert_memory_equal(ts, "congo=t61rcWkgMzE", len);
    rd_kafka_headers_destroy(out);

    /* a broken traceparent starts a new trace, and its tracestate is dropped */
    rd_kafka_headers_destroy(in);
    in = rd_kafka_headers_new(2);
    rd_kafka_header_add(in, "traceparent", -1, "garbage", -1);
    rd_kafka_header_add(in, "tracestate", -1, "congo=t61rcWkgMzE", -1);
    out = rd_kafka_headers_new(2);
    assert_int_equal(hdr_continue_trace(in, out), 0);
    tp = header(out, "traceparent", &len);
    assert_true(trace_valid(tp, len));
    assert_null(header(out, "tracestate", &len));
    rd_kafka_headers_destroy(out);

    /* no headers at all: a new trace */
    out = rd_kafka_headers_new(2);
    assert_int_equal(hdr_continue_trace(NULL, out), 0);
    tp = header(out, "traceparent", &len);
    assert_true(trace_valid(tp, len));
    rd_kafka_headers_destroy(out);
    rd_kafka_headers_destroy(in);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_new_traces_differ),
        cmocka_unit_test(test_child_continues_the_trace),
        cmocka_unit_test(test_invalid_parent_starts_a_trace),
        cmocka_unit_test(test_headers_continue_trace_and_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
