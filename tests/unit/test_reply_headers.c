/* Unit tests: Spring request/reply headers written and read on librdkafka
 * header lists, and every way a request can be malformed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/headers.h"
#include "common/reply_headers.h"

static const uint8_t ID[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                               0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};

static struct rh_request sample(void) {
    struct rh_request r;
    rh_request_init(&r);
    memcpy(r.correlation_id, ID, 16);
    strcpy(r.reply_topic, "orders.replies");
    r.reply_partition = 7;
    r.deadline_ms = 1764456757123LL;
    return r;
}

/* How many headers called name hdrs holds. */
static int header_count(const rd_kafka_headers_t *hdrs, const char *name) {
    const void *v;
    size_t n;
    int count = 0;
    while (rd_kafka_header_get(hdrs, (size_t)count, name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR)
        count++;
    return count;
}

/* Reads hdrs expecting RH_ERR with an errstr that contains want. */
static void expect_malformed(const rd_kafka_headers_t *hdrs, const char *want) {
    struct rh_request r;
    char err[256] = "";
    assert_int_equal(rh_read(hdrs, &r, err, sizeof(err)), RH_ERR);
    if (!strstr(err, want)) fail_msg("errstr \"%s\" does not contain \"%s\"", err, want);
}

static void test_round_trip_full(void **state) {
    (void)state;
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    struct rh_request in = sample(), out;
    char err[256];
    assert_int_equal(rh_write(h, &in, err, sizeof(err)), RH_OK);
    assert_int_equal(rh_read(h, &out, err, sizeof(err)), RH_OK);
    assert_memory_equal(out.correlation_id, ID, 16);
    assert_string_equal(out.reply_topic, "orders.replies");
    assert_int_equal(out.reply_partition, 7);
    assert_int_equal(out.deadline_ms, 1764456757123LL);

    /* the wire form is Spring's: raw id bytes, topic without NUL, BE int32, decimal */
    const void *v;
    size_t n;
    assert_int_equal(rd_kafka_header_get_last(h, HDR_CORRELATION_ID, &v, &n), 0);
    assert_int_equal(n, 16);
    assert_memory_equal(v, ID, 16);
    assert_int_equal(rd_kafka_header_get_last(h, HDR_REPLY_TOPIC, &v, &n), 0);
    assert_int_equal(n, 14);
    assert_memory_equal(v, "orders.replies", 14);
    assert_int_equal(rd_kafka_header_get_last(h, HDR_REPLY_PARTITION, &v, &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(v, "\x00\x00\x00\x07", 4);
    assert_int_equal(rd_kafka_header_get_last(h, HDR_REPLY_DEADLINE, &v, &n), 0);
    assert_int_equal(n, 13);
    assert_memory_equal(v, "1764456757123", 13);
    rd_kafka_headers_destroy(h);
}

static void test_round_trip_optional_absent(void **state) {
    (void)state;
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    struct rh_request in = sample(), out;
    char err[256];
    in.reply_partition = -1;
    in.deadline_ms = -1;
    assert_int_equal(rh_write(h, &in, err, sizeof(err)), RH_OK);
    assert_int_equal(header_count(h, HDR_REPLY_PARTITION), 0);
    assert_int_equal(header_count(h, HDR_REPLY_DEADLINE), 0);
    assert_int_equal(rh_read(h, &out, err, sizeof(err)), RH_OK);
    assert_int_equal(out.reply_partition, -1);
    assert_int_equal(out.deadline_ms, -1);
    assert_string_equal(out.reply_topic, "orders.replies");
    rd_kafka_headers_destroy(h);
}

/* Extremes: the largest partition, a 249-byte topic, deadline 0, all-0xff id. */
static void test_round_trip_limits(void **state) {
    (void)state;
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    struct rh_request in = sample(), out;
    char err[256];
    memset(in.correlation_id, 0xff, 16);
    memset(in.reply_topic, 'a', RH_TOPIC_MAX);
    in.reply_topic[RH_TOPIC_MAX] = '\0';
    in.reply_partition = INT32_MAX;
    in.deadline_ms = 0;
    assert_int_equal(rh_write(h, &in, err, sizeof(err)), RH_OK);
    assert_int_equal(rh_read(h, &out, err, sizeof(err)), RH_OK);
    assert_memory_equal(out.correlation_id, in.correlation_id, 16);
    assert_string_equal(out.reply_topic, in.reply_topic);
    assert_int_equal(out.reply_partition, INT32_MAX);
    assert_int_equal(out.deadline_ms, 0);
    const void *v;
    size_t n;
    rd_kafka_header_get_last(h, HDR_REPLY_PARTITION, &v, &n);
    assert_memory_equal(v, "\x7f\xff\xff\xff", 4);
    rd_kafka_headers_destroy(h);
}

/* A second rh_write replaces the first one's headers, including dropping a
 * partition and deadline the new request does not have. */
static void test_write_replaces(void **state) {
    (void)state;
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    struct rh_request in = sample(), out;
    char err[256];
    hdr_add_str(h, HDR_CE_ID, "keep-me");
    assert_int_equal(rh_write(h, &in, err, sizeof(err)), RH_OK);
    in.correlation_id[0] = 0x42;
    strcpy(in.reply_topic, "other");
    in.reply_partition = -1;
    in.deadline_ms = -1;
    assert_int_equal(rh_write(h, &in, err, sizeof(err)), RH_OK);
    assert_int_equal(header_count(h, HDR_CORRELATION_ID), 1);
    assert_int_equal(header_count(h, HDR_REPLY_TOPIC), 1);
    assert_int_equal(header_count(h, HDR_REPLY_PARTITION), 0);
    assert_int_equal(header_count(h, HDR_REPLY_DEADLINE), 0);
    assert_int_equal(header_count(h, HDR_CE_ID), 1);
    assert_int_equal(rh_read(h, &out, err, sizeof(err)), RH_OK);
    assert_int_equal(out.correlation_id[0], 0x42);
    assert_string_equal(out.reply_topic, "other");
    assert_int_equal(out.reply_partition, -1);
    assert_int_equal(out.deadline_ms, -1);
    rd_kafka_headers_destroy(h);
}

static void test_write_rejects(void **state) {
    (void)state;
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    char err[256];
    struct rh_request in = sample();
    in.reply_topic[0] = '\0';
    assert_int_equal(rh_write(h, &in, err, sizeof(err)), RH_ERR);
    assert_non_null(strstr(err, "kafka_replyTopic"));
    assert_non_null(strstr(err, "empty"));
    in = sample();
    strcpy(in.reply_topic, "bad topic");
    assert_int_equal(rh_write(h, &in, err, sizeof(err)), RH_ERR);
    assert_non_null(strstr(err, "kafka_replyTopic"));
    in = sample();
    in.reply_partition = -2;
    assert_int_equal(rh_write(h, &in, err, sizeof(err)), RH_ERR);
    assert_non_null(strstr(err, "kafka_replyPartition"));
    in = sample();
    in.deadline_ms = -5;
    assert_int_equal(rh_write(h, &in, err, sizeof(err)), RH_ERR);
    assert_non_null(strstr(err, "orderfleet_reply_deadline"));
    /* nothing was written by the refused requests */
    assert_int_equal(rd_kafka_header_cnt(h), 0);
    rd_kafka_headers_destroy(h);
}

static void test_no_reply_wanted(void **state) {
    (void)state;
    struct rh_request r;
    char err[64];
    memset(&r, 0x5a, sizeof(r));
    assert_int_equal(rh_read(NULL, &r, err, sizeof(err)), RH_NO_REPLY);
    assert_int_equal(r.reply_partition, -1);
    assert_int_equal(r.deadline_ms, -1);
    assert_string_equal(r.reply_topic, "");

    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    assert_int_equal(rh_read(h, &r, err, sizeof(err)), RH_NO_REPLY);
    /* a correlation id, partition and deadline alone ask for nothing */
    rd_kafka_header_add(h, HDR_CORRELATION_ID, -1, ID, 16);
    rd_kafka_header_add(h, HDR_REPLY_PARTITION, -1, "\0\0\0\1", 4);
    hdr_add_i64(h, HDR_REPLY_DEADLINE, 5);
    assert_int_equal(rh_read(h, &r, err, sizeof(err)), RH_NO_REPLY);
    /* even a malformed correlation id without a reply topic is "no reply" */
    rd_kafka_header_add(h, HDR_CORRELATION_ID, -1, "short", 5);
    assert_int_equal(rh_read(h, &r, err, sizeof(err)), RH_NO_REPLY);
    rd_kafka_headers_destroy(h);
}

/* A valid request with one header replaced by raw bytes (NULL: removed). */
static rd_kafka_headers_t *request_with(const char *name, const void *val, ssize_t len) {
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    struct rh_request in = sample();
    char err[256];
    assert_int_equal(rh_write(h, &in, err, sizeof(err)), RH_OK);
    rd_kafka_header_remove(h, name);
    if (len >= 0) rd_kafka_header_add(h, name, -1, val, len);
    return h;
}

static void check_malformed(const char *name, const void *val, ssize_t len, const char *want) {
    rd_kafka_headers_t *h = request_with(name, val, len);
    expect_malformed(h, name);
    expect_malformed(h, want);
    rd_kafka_headers_destroy(h);
}

static void test_malformed_correlation_id(void **state) {
    (void)state;
    check_malformed(HDR_CORRELATION_ID, NULL, -1, "absent");
    check_malformed(HDR_CORRELATION_ID, ID, 15, "15 bytes, expected 16");
    check_malformed(HDR_CORRELATION_ID, "0123456789abcdefg", 17, "17 bytes");
    check_malformed(HDR_CORRELATION_ID, NULL, 0, "0 bytes");
    /* a 36-char UUID string is not Spring's 16 raw bytes */
    check_malformed(HDR_CORRELATION_ID, "0190e6f2-8f3c-7abc-9def-0123456789ab", 36, "36 bytes");
}

static void test_malformed_reply_topic(void **state) {
    (void)state;
    char long_topic[RH_TOPIC_MAX + 1];
    memset(long_topic, 'x', sizeof(long_topic));
    check_malformed(HDR_REPLY_TOPIC, "", 0, "empty");
    check_malformed(HDR_REPLY_TOPIC, NULL, 0, "empty");
    check_malformed(HDR_REPLY_TOPIC, long_topic, sizeof(long_topic), "longer than 249");
    check_malformed(HDR_REPLY_TOPIC, "orders replies", 14, "character");
    check_malformed(HDR_REPLY_TOPIC, "orders\0x", 8, "character");
    check_malformed(HDR_REPLY_TOPIC, "orders/é", 9, "character");
    check_malformed(HDR_REPLY_TOPIC, ".", 1, "\".\" or \"..\"");
    check_malformed(HDR_REPLY_TOPIC, "..", 2, "\".\" or \"..\"");
    /* exactly 249 bytes and "..." are fine */
    rd_kafka_headers_t *h = request_with(HDR_REPLY_TOPIC, long_topic, RH_TOPIC_MAX);
    struct rh_request r;
    char err[256];
    assert_int_equal(rh_read(h, &r, err, sizeof(err)), RH_OK);
    assert_int_equal(strlen(r.reply_topic), RH_TOPIC_MAX);
    rd_kafka_headers_destroy(h);
    h = request_with(HDR_REPLY_TOPIC, "...", 3);
    assert_int_equal(rh_read(h, &r, err, sizeof(err)), RH_OK);
    rd_kafka_headers_destroy(h);
}

static void test_malformed_reply_partition(void **state) {
    (void)state;
    check_malformed(HDR_REPLY_PARTITION, "\0\0\7", 3, "3 bytes");
    check_malformed(HDR_REPLY_PARTITION, "\0\0\0\0\7", 5, "5 bytes");
    check_malformed(HDR_REPLY_PARTITION, NULL, 0, "0 bytes");
    check_malformed(HDR_REPLY_PARTITION, "7", 1, "1 bytes"); /* decimal text is not Spring's */
    check_malformed(HDR_REPLY_PARTITION, "\xff\xff\xff\xff", 4, "partition -1 is negative");
    check_malformed(HDR_REPLY_PARTITION, "\x80\0\0\0", 4, "-2147483648");
}

static void test_malformed_deadline(void **state) {
    (void)state;
    check_malformed(HDR_REPLY_DEADLINE, "soon", 4, "\"soon\" is not a decimal number");
    check_malformed(HDR_REPLY_DEADLINE, "", 0, "\"\" is not a decimal");
    check_malformed(HDR_REPLY_DEADLINE, "12x", 3, "\"12x\"");
    check_malformed(HDR_REPLY_DEADLINE, "1.5", 3, "\"1.5\"");
    check_malformed(HDR_REPLY_DEADLINE, "99999999999999999999", 20, "not a decimal");
    check_malformed(HDR_REPLY_DEADLINE, "\0\0\1\2", 4, "\\x00\\x00\\x01\\x02");
    check_malformed(HDR_REPLY_DEADLINE, "-5", 2, "-5 is negative");
    /* a long value is cut in the message */
    char junk[100];
    memset(junk, 'z', sizeof(junk));
    check_malformed(HDR_REPLY_DEADLINE, junk, sizeof(junk), "zzz...\" is not");
}

/* As Spring's lastHeader(): the last of repeated headers counts. */
static void test_last_header_wins(void **state) {
    (void)state;
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    struct rh_request in = sample(), out;
    char err[256];
    assert_int_equal(rh_write(h, &in, err, sizeof(err)), RH_OK);
    uint8_t id2[16];
    memset(id2, 0x33, 16);
    rd_kafka_header_add(h, HDR_CORRELATION_ID, -1, id2, 16);
    rd_kafka_header_add(h, HDR_REPLY_PARTITION, -1, "\0\0\1\0", 4);
    assert_int_equal(rh_read(h, &out, err, sizeof(err)), RH_OK);
    assert_memory_equal(out.correlation_id, id2, 16);
    assert_int_equal(out.reply_partition, 256);
    /* and a bad last one makes the request malformed */
    rd_kafka_header_add(h, HDR_CORRELATION_ID, -1, id2, 8);
    expect_malformed(h, "8 bytes");
    rd_kafka_headers_destroy(h);
}

static void test_reply_correlation(void **state) {
    (void)state;
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    uint8_t out[16];
    char err[256];
    assert_int_equal(rh_read_correlation(h, out, err, sizeof(err)), RH_ERR);
    assert_non_null(strstr(err, "kafka_correlationId: absent"));
    rd_kafka_header_add(h, HDR_CORRELATION_ID, -1, "old", 3);
    assert_int_equal(rh_write_correlation(h, ID, err, sizeof(err)), RH_OK);
    assert_int_equal(header_count(h, HDR_CORRELATION_ID), 1);
    assert_int_equal(rh_read_correlation(h, out, err, sizeof(err)), RH_OK);
    assert_memory_equal(out, ID, 16);
    rd_kafka_headers_destroy(h);
}

static void test_correlation_new_and_hex(void **state) {
    (void)state;
    char hex[RH_CORRELATION_HEX_LEN + 1];
    assert_ptr_equal(rh_correlation_hex(ID, hex), hex);
    assert_string_equal(hex, "00112233445566778899aabbccddeeff");
    uint8_t a[16], b[16], zero[16] = {0};
    rh_correlation_new(a);
    rh_correlation_new(b);
    /* 128 random bits: equal or all-zero only with probability 2^-128 */
    assert_memory_not_equal(a, b, 16);
    assert_memory_not_equal(a, zero, 16);
    rh_correlation_hex(a, hex);
    assert_int_equal(strlen(hex), 32);
    assert_int_equal(strspn(hex, "0123456789abcdef"), 32);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_full),
        cmocka_unit_test(test_round_trip_optional_absent),
        cmocka_unit_test(test_round_trip_limits),
        cmocka_unit_test(test_write_replaces),
        cmocka_unit_test(test_write_rejects),
        cmocka_unit_test(test_no_reply_wanted),
        cmocka_unit_test(test_malformed_correlation_id),
        cmocka_unit_test(test_malformed_reply_topic),
        cmocka_unit_test(test_malformed_reply_partition),
        cmocka_unit_test(test_malformed_deadline),
        cmocka_unit_test(test_last_header_wins),
        cmocka_unit_test(test_reply_correlation),
        cmocka_unit_test(test_correlation_new_and_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
