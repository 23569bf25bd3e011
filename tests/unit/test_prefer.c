/* Unit tests: parsing the Prefer header (RFC 7240) and rendering
 * Preference-Applied. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/prefer.h"

/* Parses one header value into a fresh struct; *malformed gets the count. */
static struct prefer parse1(const char *value, int *malformed) {
    struct prefer p;
    prefer_init(&p);
    int m = prefer_parse(&p, value);
    if (malformed) *malformed = m;
    return p;
}

#define expect(value, want_async, want_wait, want_malformed)                                \
    do {                                                                                  \
        int m_;                                                                           \
        struct prefer p_ = parse1(value, &m_);                                            \
        if (p_.respond_async != (want_async) || p_.wait_s != (want_wait) ||               \
            m_ != (want_malformed))                                                       \
            fail_msg("Prefer: %s -> respond_async=%d wait=%d malformed=%d, want %d %d %d", \
                     value, p_.respond_async, p_.wait_s, m_, want_async, want_wait,       \
                     want_malformed);                                                     \
    } while (0)

static void test_init(void **state) {
    (void)state;
    expect("", 0, -1, 0);
}

/* The examples of RFC 7240 (§1, §2, §4) that use the two preferences. */
static void test_rfc7240_examples(void **state) {
    (void)state;
    expect("respond-async, wait=100", 1, 100, 0);
    expect("respond-async, wait=10", 1, 10, 0);
    expect("handling=lenient, wait=100, respond-async", 1, 100, 0);
    expect("return=minimal", 0, -1, 0);
    expect("handling=lenient", 0, -1, 0);
    expect("foo; bar", 0, -1, 0);
    expect("foo; bar=\"\"", 0, -1, 0);
    expect("foo=\"\"; bar", 0, -1, 0);
    expect("priority=5", 0, -1, 0);
    /* §2: the two-header form is the same as the one-line form */
    struct prefer p;
    prefer_init(&p);
    assert_int_equal(prefer_parse(&p, "respond-async, wait=100"), 0);
    assert_int_equal(prefer_parse(&p, "handling=lenient"), 0);
    assert_int_equal(p.respond_async, 1);
    assert_int_equal(p.wait_s, 100);
}

static void test_case_and_whitespace(void **state) {
    (void)state;
    expect("Respond-Async", 1, -1, 0);
    expect("RESPOND-ASYNC,WAIT=7", 1, 7, 0);
    expect("  wait = 5  ,\trespond-async\t", 1, 5, 0);
    expect("wait\t=\t0", 0, 0, 0);
    expect("WaIt=0042", 0, 42, 0);
}

static void test_quoting(void **state) {
    (void)state;
    expect("wait=\"5\"", 0, 5, 0);
    expect("wait=\"1\\2\"", 0, 12, 0);         /* quoted-pair */
    expect("wait=\"\"", 0, -1, 1);              /* empty is no value: wait needs one */
    expect("wait=\"5 \"", 0, -1, 1);
    expect("respond-async=\"\"", 1, -1, 0);     /* empty value == no value */
    expect("foo=\"a,b\", wait=5", 0, 5, 0);     /* a comma in quotes does not split */
    expect("foo=\"say \\\"hi\\\", wait=1\", wait=2", 0, 2, 0);
    expect("foo=\"unterminated, wait=5", 0, -1, 1); /* the rest is inside the quote */
    expect("wait=\"3\x01\", respond-async", 1, -1, 1); /* control char: only wait is lost */
}

static void test_params(void **state) {
    (void)state;
    expect("wait=5;foo=bar;baz", 0, 5, 0);
    expect("respond-async ; x=\"a;b,c\" ; y", 1, -1, 0);
    expect("respond-async;", 1, -1, 0);
    expect("respond-async;;  ;", 1, -1, 0);
    expect("wait=5; q=\"x\", respond-async; wait=9", 1, 5, 0); /* a param is not a pref */
    /* a broken parameter breaks its whole preference */
    expect("wait=5; =x", 0, -1, 1);
    expect("wait=5; a=", 0, -1, 1);
    expect("wait=5; a=, respond-async", 1, -1, 1);
}

static void test_invalid_values_ignored(void **state) {
    (void)state;
    expect("wait", 0, -1, 1);
    expect("wait=", 0, -1, 1);
    expect("wait=-1", 0, -1, 1);
    expect("wait=+5", 0, -1, 1);
    expect("wait=1.5", 0, -1, 1);
    expect("wait=5s", 0, -1, 1);
    expect("wait=0x10", 0, -1, 1);
    expect("respond-async=yes", 0, -1, 1);
    expect("respond-async=yes, wait=3", 0, 3, 1);
    /* delta-seconds beyond INT_MAX are capped, not wrapped */
    expect("wait=2147483647", 0, INT_MAX, 0);
    expect("wait=2147483648", 0, INT_MAX, 0);
    expect("wait=99999999999999999999999999", 0, INT_MAX, 0);
}

static void test_garbage(void **state) {
    (void)state;
    expect(",,, ,", 0, -1, 0); /* empty list elements are allowed */
    expect("=5", 0, -1, 1);
    expect("@@@, respond-async", 1, -1, 1);
    expect("wait=5 junk, respond-async", 1, -1, 1);
    expect("respond async", 0, -1, 1);
    expect("\"wait=5\"", 0, -1, 1);
    expect("wait==5", 0, -1, 1);
    expect("respond-async\x7f, wait=4", 0, 4, 1);
    expect(";;;, wait=1", 0, 1, 1);
    expect("wait=1 ;", 0, 1, 0);
    /* bytes past the given length are not read */
    struct prefer p;
    prefer_init(&p);
    assert_int_equal(prefer_parse_len(&p, "wait=12XYZ", 7), 0);
    assert_int_equal(p.wait_s, 12);
    prefer_init(&p);
    assert_int_equal(prefer_parse_len(&p, "wait=\"3\" ...", 7), 1); /* quote cut off */
    assert_int_equal(p.wait_s, -1);
    /* an embedded NUL is just a bad byte */
    prefer_init(&p);
    assert_int_equal(prefer_parse_len(&p, "wait=1\0, respond-async", 22), 1);
    assert_int_equal(p.respond_async, 1);
    assert_int_equal(p.wait_s, -1);
}

/* RFC 7240 §2: only the first occurrence of a preference counts. */
static void test_first_occurrence_wins(void **state) {
    (void)state;
    expect("wait=5, wait=10", 0, 5, 0);
    expect("wait=10, WAIT=5", 0, 10, 0);
    expect("respond-async, respond-async", 1, -1, 0);
    /* the first occurrence is invalid: ignored, and so is the later one */
    expect("wait=x, wait=5", 0, -1, 1);
    expect("respond-async=1, respond-async", 0, -1, 1);
    expect("wait=5 junk, wait=7", 0, -1, 1);
    /* unknown and malformed others do not claim anything */
    expect("@, wait=7", 0, 7, 1);
}

static void test_multiple_headers(void **state) {
    (void)state;
    struct prefer p;
    prefer_init(&p);
    assert_int_equal(prefer_parse(&p, "wait=5"), 0);
    assert_int_equal(prefer_parse(&p, "wait=9, respond-async"), 0);
    assert_int_equal(p.wait_s, 5);
    assert_int_equal(p.respond_async, 1);
    assert_int_equal(prefer_parse(&p, "garbage here"), 1);
    assert_int_equal(p.wait_s, 5);

    prefer_init(&p);
    assert_int_equal(prefer_parse(&p, "wait=nope"), 1);
    assert_int_equal(prefer_parse(&p, "wait=3"), 0); /* a later header: still a repeat */
    assert_int_equal(p.wait_s, -1);
    assert_int_equal(prefer_parse(&p, ""), 0);
    assert_int_equal(prefer_parse(&p, "respond-async"), 0);
    assert_int_equal(p.respond_async, 1);
}

static void test_applied(void **state) {
    (void)state;
    const unsigned both = PREFER_RESPOND_ASYNC | PREFER_WAIT;
    char buf[64];
    struct prefer p = parse1("respond-async, wait=5", NULL);
    assert_int_equal(prefer_applied(&p, both, buf, sizeof(buf)), 21);
    assert_string_equal(buf, "respond-async, wait=5");
    assert_int_equal(prefer_applied(&p, PREFER_WAIT, buf, sizeof(buf)), 6);
    assert_string_equal(buf, "wait=5");
    assert_int_equal(prefer_applied(&p, PREFER_RESPOND_ASYNC, buf, sizeof(buf)), 13);
    assert_string_equal(buf, "respond-async");
    assert_int_equal(prefer_applied(&p, 0, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");

    /* honoured but not asked for: nothing to say */
    p = parse1("return=minimal", NULL);
    assert_int_equal(prefer_applied(&p, both, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    p = parse1("wait=0", NULL);
    assert_int_equal(prefer_applied(&p, both, buf, sizeof(buf)), 6);
    assert_string_equal(buf, "wait=0");

    /* a capped wait is reported as the value used */
    p = parse1("wait=600", NULL);
    p.wait_s = 30;
    prefer_applied(&p, PREFER_WAIT, buf, sizeof(buf));
    assert_string_equal(buf, "wait=30");

    /* too small: an error and an empty string, never a cut value */
    p = parse1("respond-async, wait=5", NULL);
    assert_int_equal(prefer_applied(&p, both, buf, 21), PREFER_ERR);
    assert_string_equal(buf, "");
    assert_int_equal(prefer_applied(&p, both, buf, 22), 21);
    assert_int_equal(prefer_applied(&p, PREFER_RESPOND_ASYNC, buf, 10), PREFER_ERR);
    assert_string_equal(buf, "");
    assert_int_equal(prefer_applied(&p, both, buf, 0), PREFER_ERR);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_rfc7240_examples),
        cmocka_unit_test(test_case_and_whitespace),
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_invalid_values_ignored),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_first_occurrence_wins),
        cmocka_unit_test(test_multiple_headers),
        cmocka_unit_test(test_applied),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
