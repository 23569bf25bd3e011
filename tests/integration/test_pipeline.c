/* Integration: the pipeline on the mock cluster, with real order-worker
 * processes. Each test has its own cluster on fresh ports. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/headers.h"
#include "common/order_codec.h"
#include "common/reply_headers.h"
#include "common/timeutil.h"
#include "testkit.h"

static pid_t start_worker(tk_cluster *c, const char *log, const char *extra) {
    const char *args[] = {"-b", tk_bootstraps(c), "--drain-timeout-ms", "20000", extra, NULL};
    return tk_spawn("order-worker", args, log, NULL);
}

/* N orders in, two workers: exactly one outcome per order, none missing,
 * none twice, and both workers stop cleanly. The orders are placed once the
 * group has settled: a rebalance mid-stream may legitimately redo work
 * (at-least-once), and this test is about the steady state. */
static void test_every_order_gets_one_outcome(void **state) {
    (void)state;
    enum { N = 2000 };
    char log1[512], log2[512], id[64];
    tk_cluster *c = tk_cluster_start(3);
    rd_kafka_t *p = tk_producer(tk_bootstraps(c));

    char all[128], half[128]; /* the orders partitions only: each also gets retry ones */
    snprintf(all, sizeof(all), "msg=\"partitions assigned\" topic=%s count=12",
             c->cfg.topic_orders);
    snprintf(half, sizeof(half), "msg=\"partitions assigned\" topic=%s count=6",
             c->cfg.topic_orders);
    pid_t w1 = start_worker(c, tk_log_path("pipeline-w1", log1, sizeof(log1)), NULL);
    assert_int_equal(tk_wait_log(log1, all, 60000), 0);
    pid_t w2 = start_worker(c, tk_log_path("pipeline-w2", log2, sizeof(log2)), NULL);
    if (tk_wait_log(log2, half, 60000) != 0 || tk_wait_log(log1, half, 60000) != 0) {
        tk_dump_log(log1);
        tk_dump_log(log2);
        fail_msg("the group did not settle with two workers");
    }

    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "order-%05d", i);
        tk_produce_order(p, c->cfg.topic_orders, id);
    }
    tk_flush(p);
    tk_reader *r = tk_reader_new(tk_bootstraps(c), c->cfg.topic_completed);
    tk_tally *t = tk_tally_new();
    size_t got = tk_collect_outcomes(r, t, N, 60000);
    if (got != N) {
        tk_dump_log(log1);
        tk_dump_log(log2);
    }
    assert_int_equal(got, N);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "order-%05d", i);
        assert_int_equal(tk_tally_count(t, id), 1);
    }
    /* Every input offset is committed once its outcome is acknowledged. */
    assert_int_equal(tk_wait_group_caught_up(tk_bootstraps(c), c->cfg.worker_group,
                                             c->cfg.topic_orders, 30000),
                     0);
    assert_int_equal(tk_stop(w1, SIGTERM, 30000), 0);
    assert_int_equal(tk_stop(w2, SIGTERM, 30000), 0);
    /* nothing more trickles in after the fleet stopped */
    tk_collect_outcomes(r, t, N + 1, 1000);
    assert_int_equal(tk_tally_total(t), N);

    tk_tally_free(t);
    tk_reader_destroy(r);
    rd_kafka_destroy(p);
    tk_cluster_stop(c);
}

static const char *header(rd_kafka_message_t *m, const char *name, char *buf, size_t size) {
    rd_kafka_headers_t *h;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR) return NULL;
    return hdr_get_str(h, name, buf, size) == 0 ? buf : NULL;
}

/* Garbage and an order without an id go to the DLQ with their original key
 * and bytes and the error headers; the worker carries on with the next order.
 * A restarted worker does not dead-letter them again: their offsets were
 * committed. */
static void test_bad_records_are_dead_lettered(void **state) {
    (void)state;
    char log[512], buf[256];
    const char garbage[] = "\x0a\xff\xff\xff\xff\x0f not protobuf";
    /* an OrderPlaced with only customer_id = "c-1": decodes, but no order id */
    const char anonymous[] = "\x12\x03\x63\x2d\x31";
    tk_cluster *c = tk_cluster_start(1);
    rd_kafka_t *p = tk_producer(tk_bootstraps(c));
    tk_produce_raw(p, c->cfg.topic_orders, "bad-1", garbage, sizeof(garbage) - 1);
    tk_produce_raw(p, c->cfg.topic_orders, "bad-2", anonymous, sizeof(anonymous) - 1);
    tk_produce_order(p, c->cfg.topic_orders, "good-1");
    tk_flush(p);

    tk_log_path("dlq-worker", log, sizeof(log));
    pid_t w = start_worker(c, log, NULL);
    tk_reader *outcomes = tk_reader_new(tk_bootstraps(c), c->cfg.topic_completed);
    tk_tally *t = tk_tally_new();
    if (tk_collect_outcomes(outcomes, t, 1, 30000) != 1) tk_dump_log(log);
    assert_int_equal(tk_tally_count(t, "good-1"), 1);

    tk_reader *dlq = tk_reader_new(tk_bootstraps(c), c->cfg.topic_dlq);
    int seen_garbage = 0, seen_anonymous = 0;
    for (int i = 0; i < 2; i++) {
        rd_kafka_message_t *m = tk_reader_next(dlq, 20000);
        if (!m) tk_dump_log(log);
        assert_non_null(m);
        assert_non_null(header(m, HDR_ORIGINAL_TOPIC, buf, sizeof(buf)));
        assert_string_equal(buf, "orders");
        assert_non_null(header(m, HDR_ORIGINAL_PARTITION, buf, sizeof(buf)));
        assert_non_null(header(m, HDR_ORIGINAL_OFFSET, buf, sizeof(buf)));
        assert_non_null(header(m, HDR_ERROR, buf, sizeof(buf)));
        if (m->key_len == 5 && memcmp(m->key, "bad-1", 5) == 0) {
            seen_garbage = 1;
            assert_int_equal(m->len, sizeof(garbage) - 1);
            assert_memory_equal(m->payload, garbage, m->len); /* bytes unchanged */
            assert_string_equal(header(m, HDR_ERROR_CLASS, buf, sizeof(buf)), "decode");
        } else {
            seen_anonymous = 1;
            assert_int_equal(m->key_len, 5);
            assert_memory_equal(m->key, "bad-2", 5);
            assert_memory_equal(m->payload, anonymous, m->len);
            assert_string_equal(header(m, HDR_ERROR_CLASS, buf, sizeof(buf)), "validation");
        }
        rd_kafka_message_destroy(m);
    }
    assert_true(seen_garbage && seen_anonymous);
    assert_int_equal(tk_stop(w, SIGTERM, 30000), 0);

    /* A new worker and one more order: the bad records are not seen again. */
    tk_produce_order(p, c->cfg.topic_orders, "good-2");
    tk_flush(p);
    w = start_worker(c, log, NULL);
    assert_int_equal(tk_collect_outcomes(outcomes, t, 2, 30000), 2);
    assert_int_equal(tk_stop(w, SIGTERM, 30000), 0);
    assert_null(tk_reader_next(dlq, 1000));
    assert_int_equal(tk_tally_total(t), 2);

    tk_tally_free(t);
    tk_reader_destroy(dlq);
    tk_reader_destroy(outcomes);
    rd_kafka_destroy(p);
    tk_cluster_stop(c);
}

/* SIGTERM mid-stream: the worker drains, commits and exits 0; a restarted
 * worker finishes the rest. No order is left without an outcome, and since
 * the stop was clean, none is processed twice. */
static void test_sigterm_mid_stream_then_restart(void **state) {
    (void)state;
    enum { N = 3000 };
    char log[512], id[64];
    tk_cluster *c = tk_cluster_start(3);
    rd_kafka_t *p = tk_producer(tk_bootstraps(c));
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "order-%05d", i);
        tk_produce_order(p, c->cfg.topic_orders, id);
    }
    tk_flush(p);

    tk_log_path("restart-worker", log, sizeof(log));
    /* one thread at 1 ms an order: about a thousand a second, so SIGTERM
     * arrives while most are still buffered or unread */
    const char *args[] = {"-b", tk_bootstraps(c), "--latency-ms", "1", "--concurrency", "1",
                          NULL};
    pid_t w = tk_spawn("order-worker", args, log, NULL);
    tk_reader *r = tk_reader_new(tk_bootstraps(c), c->cfg.topic_completed);
    tk_tally *t = tk_tally_new();
    size_t before = tk_collect_outcomes(r, t, 300, 30000);
    if (before < 300) tk_dump_log(log);
    assert_true(before >= 300);
    assert_int_equal(tk_stop(w, SIGTERM, 30000), 0);
    size_t at_stop = tk_collect_outcomes(r, t, N, 1000);
    assert_true(at_stop < N); /* it really was stopped mid-stream */

    w = tk_spawn("order-worker", args, log, NULL);
    size_t got = tk_collect_outcomes(r, t, N, 60000);
    if (got != N) tk_dump_log(log);
    assert_int_equal(got, N);
    assert_int_equal(tk_stop(w, SIGTERM, 30000), 0);
    tk_collect_outcomes(r, t, N + 1, 1000);
    assert_int_equal(tk_tally_total(t), N); /* no duplicates after a clean stop */

    tk_tally_free(t);
    tk_reader_destroy(r);
    rd_kafka_destroy(p);
    tk_cluster_stop(c);
}

/* Request/reply, the worker's side (DESIGN §4): an order carrying Spring's
 * request headers gets its outcome also on the reply topic and partition,
 * with the same correlation id; not when its deadline has passed, its headers
 * are malformed, or it names one of the fleet's own topics. Every one of them
 * still gets its outcome on the completed topic. */
static void test_replies_to_requesters(void **state) {
    (void)state;
    char log[512], err[256];
    tk_cluster *c = tk_cluster_start(1);
    rd_kafka_t *p = tk_producer(tk_bootstraps(c));
    struct rh_request req;
    rd_kafka_headers_t *h;

    rh_request_init(&req); /* in time: answered on partition 3 */
    rh_correlation_new(req.correlation_id);
    snprintf(req.reply_topic, sizeof(req.reply_topic), "%s", c->cfg.topic_replies);
    req.reply_partition = 3;
    req.deadline_ms = time_now_ms() + 60000;
    uint8_t wanted[RH_CORRELATION_LEN];
    memcpy(wanted, req.correlation_id, sizeof(wanted));
    h = rd_kafka_headers_new(4);
    assert_int_equal(rh_write(h, &req, err, sizeof(err)), RH_OK);
    tk_produce_order_with(p, c->cfg.topic_orders, "reply-in-time", h);

    req.deadline_ms = time_now_ms() - 1000; /* nobody waits any more */
    rh_correlation_new(req.correlation_id);
    h = rd_kafka_headers_new(4);
    assert_int_equal(rh_write(h, &req, err, sizeof(err)), RH_OK);
    tk_produce_order_with(p, c->cfg.topic_orders, "reply-too-late", h);

    h = rd_kafka_headers_new(4); /* malformed: a 5-byte correlation id */
    rd_kafka_header_add(h, HDR_CORRELATION_ID, -1, "short", 5);
    rd_kafka_header_add(h, HDR_REPLY_TOPIC, -1, c->cfg.topic_replies, -1);
    tk_produce_order_with(p, c->cfg.topic_orders, "reply-malformed", h);

    rh_request_init(&req); /* a reply into the fleet's own work queue: refused */
    rh_correlation_new(req.correlation_id);
    snprintf(req.reply_topic, sizeof(req.reply_topic), "%s", c->cfg.topic_orders);
    h = rd_kafka_headers_new(4);
    assert_int_equal(rh_write(h, &req, err, sizeof(err)), RH_OK);
    tk_produce_order_with(p, c->cfg.topic_orders, "reply-to-orders", h);
    tk_flush(p);

    pid_t w = start_worker(c, tk_log_path("reply-worker", log, sizeof(log)), NULL);
    tk_reader *outcomes = tk_reader_new(tk_bootstraps(c), c->cfg.topic_completed);
    tk_tally *t = tk_tally_new();
    if (tk_collect_outcomes(outcomes, t, 4, 30000) != 4) tk_dump_log(log);
    assert_int_equal(tk_tally_distinct(t), 4);

    tk_reader *replies = tk_reader_new(tk_bootstraps(c), c->cfg.topic_replies);
    rd_kafka_message_t *m = tk_reader_next(replies, 20000);
    if (!m) tk_dump_log(log);
    assert_non_null(m);
    assert_int_equal(m->partition, 3);
    assert_int_equal(m->key_len, strlen("reply-in-time"));
    assert_memory_equal(m->key, "reply-in-time", m->key_len);
    rd_kafka_headers_t *mh;
    uint8_t got[RH_CORRELATION_LEN];
    assert_int_equal(rd_kafka_message_headers(m, &mh), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rh_read_correlation(mh, got, err, sizeof(err)), RH_OK);
    assert_memory_equal(got, wanted, RH_CORRELATION_LEN);
    char ce[64];
    assert_int_equal(hdr_get_str(mh, HDR_CE_TYPE, ce, sizeof(ce)), 0);
    assert_string_equal(ce, CE_TYPE_ORDER_COMPLETED);
    order_completed_t *oc = codec_completed_decode(m->payload, m->len, err, sizeof(err));
    assert_non_null(oc);
    assert_string_equal(oc->order_id, "reply-in-time");
    assert_int_equal(oc->status, ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED);
    codec_completed_free(oc);
    rd_kafka_message_destroy(m);
    assert_null(tk_reader_next(replies, 2000)); /* and no other reply */
    assert_int_equal(tk_stop(w, SIGTERM, 30000), 0);
    assert_int_equal(tk_wait_log(log, "replies=1 replies_late=1 reply_errors=2", 1000), 0);

    tk_reader_destroy(replies);
    tk_tally_free(t);
    tk_reader_destroy(outcomes);
    rd_kafka_destroy(p);
    tk_cluster_stop(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_order_gets_one_outcome),
        cmocka_unit_test(test_bad_records_are_dead_lettered),
        cmocka_unit_test(test_sigterm_mid_stream_then_restart),
        cmocka_unit_test(test_replies_to_requesters),
    };
    /* TEST_FILTER=<pattern> runs the matching tests only (cmocka: * and ?). */
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
