/* Integration: the request/reply client (common/requester.h) in this
 * process, against the mock cluster, with a real order-worker answering
 * where a test needs one. Where the worker cannot produce the reply a case
 * needs (a late one, a malformed one, someone else's), the test reads the
 * request from the orders topic and writes that reply itself.
 *
 * Each test has its own cluster on fresh ports, so topics and the worker
 * group are its own. Requesters, children, readers and clients are recorded
 * in the fixture, so the teardown frees or kills whatever a failed assertion
 * left behind. Every wait is a requester_poll() loop with a deadline. */
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

#include "common/config.h"
#include "common/order_codec.h"
#include "common/reply_headers.h"
#include "common/requester.h"
#include "common/timeutil.h"
#include "testkit.h"
#include "tkfixture.h"

#define PROGRAM "test-requester"
#define MAX_REPORTS 256
#define REPORT_WAIT_MS 30000 /* for reports that should come quickly */
#define PRODUCE_API_KEY 0    /* Kafka protocol: ProduceRequest */
#define MOCK_BROKER 1        /* the one broker of a 1-node mock cluster */

/* ---- reports: copied out of the callback, where they are valid ---------- */

typedef struct seen {
    request_result result;
    char order_id[64];
    int has_outcome;
    char outcome_id[64];
    int status;
    char error[256];
    int has_error;
    int acknowledged;
    int64_t latency_us;
    void *waiter;
} seen;

typedef struct collector {
    seen reports[MAX_REPORTS];
    size_t n;
    size_t overflow; /* reports past MAX_REPORTS: a test expecting fewer fails */
} collector;

static void on_report(const request_report *rep, void *ctx) {
    collector *col = ctx;
    if (col->n >= MAX_REPORTS) {
        col->overflow++;
        return;
    }
    seen *s = &col->reports[col->n++];
    memset(s, 0, sizeof(*s));
    s->result = rep->result;
    snprintf(s->order_id, sizeof(s->order_id), "%s", rep->order_id ? rep->order_id : "");
    if (rep->outcome) {
        s->has_outcome = 1;
        snprintf(s->outcome_id, sizeof(s->outcome_id), "%s",
                 rep->outcome->order_id ? rep->outcome->order_id : "");
        s->status = rep->outcome->status;
    }
    if (rep->error) {
        s->has_error = 1;
        snprintf(s->error, sizeof(s->error), "%s", rep->error);
    }
    s->acknowledged = rep->acknowledged;
    s->latency_us = rep->latency_us;
    s->waiter = rep->waiter;
}

/* The report for order_id, or NULL; fails the test if it came twice. */
static const seen *report_for(const collector *col, const char *order_id) {
    const seen *found = NULL;
    for (size_t i = 0; i < col->n; i++) {
        if (strcmp(col->reports[i].order_id, order_id) != 0) continue;
        if (found) fail_msg("order %s was reported twice", order_id);
        found = &col->reports[i];
    }
    return found;
}

/* ---- fixture ------------------------------------------------------------ */

/* The test's tk_fixture (cluster, worker, readers, records, producer) and
 * the requesters with their reports. */
typedef struct fixture {
    tk_fixture tk;
    of_config cfg; /* the requesters': the cluster's bootstraps */
    int cfg_loaded;
    requester_t *req[2];
    collector col[2];
    pid_t worker;
    char worker_log[512];
} fixture;

static int setup(void **state) { return tk_fixture_alloc(state, sizeof(fixture)); }

/* Runs after the test even when it failed: the requesters before the
 * cluster they use. */
static int teardown(void **state) {
    fixture *fx = *state;
    for (int i = 0; i < 2; i++) requester_free(fx->req[i]);
    if (fx->cfg_loaded) config_free(&fx->cfg);
    tk_fixture_release(&fx->tk);
    free(fx);
    return 0;
}

/* A 1-node cluster, and the requesters' config loaded as a program would:
 * defaults, environment, then -b. */
static void fx_cluster(fixture *fx) {
    char err[512];
    const char *bootstraps = tk_fx_cluster(&fx->tk, 1);
    config_override ov[] = {{"kafka.bootstrap.servers", bootstraps, "flag -b"}};
    if (config_load(&fx->cfg, NULL, ov, 1, err, sizeof(err)) != CONFIG_OK)
        fail_msg("config: %s", err);
    fx->cfg_loaded = 1;
    /* the cluster was made from its own default config: the same topics */
    assert_string_equal(fx->cfg.topic_orders, fx->tk.cluster->cfg.topic_orders);
    assert_string_equal(fx->cfg.topic_replies, fx->tk.cluster->cfg.topic_replies);
}

static requester_t *fx_requester(fixture *fx, int slot, int reply_partition,
                                 size_t max_waiting) {
    char err[512];
    fx->req[slot] = requester_new(&fx->cfg, PROGRAM, reply_partition, max_waiting, on_report,
                                  &fx->col[slot], err, sizeof(err));
    if (!fx->req[slot]) fail_msg("requester_new: %s", err);
    return fx->req[slot];
}

/* Polls r until it is ready. */
static void wait_ready(requester_t *r) {
    int64_t deadline = time_mono_ms() + 20000;
    while (!requester_ready(r) && time_mono_ms() < deadline) requester_poll(r, 50);
    assert_int_equal(requester_ready(r), 1);
}

/* fx_requester() and wait_ready(): a requester that takes orders now. */
static requester_t *fx_ready_requester(fixture *fx, int slot, int reply_partition,
                                       size_t max_waiting) {
    requester_t *r = fx_requester(fx, slot, reply_partition, max_waiting);
    wait_ready(r);
    return r;
}

/* Starts one order-worker (extra: more flags, NULL-terminated) and waits
 * until it owns every orders partition, so that requests are served at
 * once. */
static void fx_worker(fixture *fx, const char *const *extra) {
    const char *args[16] = {"-b", fx->tk.bootstraps, "--drain-timeout-ms", "20000"};
    size_t n = 4;
    for (; extra && *extra && n < 15; extra++) args[n++] = *extra;
    args[n] = NULL;
    tk_log_path("requester-worker", fx->worker_log, sizeof(fx->worker_log));
    fx->worker = tk_fx_spawn(&fx->tk, "order-worker", args, NULL, fx->worker_log, NULL);
    if (tk_wait_log(fx->worker_log, "msg=\"partitions assigned\" topic=orders count=12", 60000) !=
        0) {
        tk_dump_log(fx->worker_log);
        fail_msg("the worker was not assigned the orders partitions");
    }
}

/* SIGTERM: the worker drains and exits 0. */
static void fx_stop_worker(fixture *fx) {
    int rc = tk_fx_stop(&fx->tk, fx->worker, SIGTERM, 30000);
    fx->worker = 0;
    if (rc != 0) tk_dump_log(fx->worker_log);
    assert_int_equal(rc, 0);
}

/* ---- requests and replies ----------------------------------------------- */

/* requester_send() of a one-item EUR order for sku. */
static int send_order(requester_t *r, const char *order_id, const char *sku, int64_t wait_ms,
                      void *waiter, char *err, size_t errsize) {
    line_item_t item = ORDERFLEET__V1__LINE_ITEM__INIT;
    line_item_t *items[1] = {&item};
    order_placed_t o = ORDERFLEET__V1__ORDER_PLACED__INIT;
    item.sku = (char *)sku;
    item.quantity = 1;
    item.unit_price = 899;
    o.order_id = (char *)order_id;
    o.customer_id = "c-requester";
    o.currency = "EUR";
    o.items = items;
    o.n_items = 1;
    o.placed_at_ms = time_now_ms();
    return requester_send(r, &o, NULL, wait_ms, waiter, err, errsize);
}

/* send_order() that must be accepted. */
static void send_ok(requester_t *r, const char *order_id, const char *sku, int64_t wait_ms,
                    void *waiter) {
    char err[256] = "";
    int rc = send_order(r, order_id, sku, wait_ms, waiter, err, sizeof(err));
    if (rc != REQUESTER_OK) fail_msg("requester_send(%s): %d %s", order_id, rc, err);
}

static requester_stats stats(const requester_t *r) {
    requester_stats st;
    requester_stats_get(r, &st);
    return st;
}

/* Polls r until col holds n reports or timeout_ms passes; returns how many
 * it holds. */
static size_t poll_reports(requester_t *r, const collector *col, size_t n, int timeout_ms) {
    int64_t deadline = time_mono_ms() + timeout_ms;
    while (col->n < n && time_mono_ms() < deadline) requester_poll(r, 50);
    return col->n;
}

/* Polls fx's requester in slot until its collector holds n reports (exactly
 * n, within REPORT_WAIT_MS; the worker's log is shown when not), and checks
 * that the last one is order_id's, ended as result. Returns it. */
static const seen *expect_report(fixture *fx, int slot, size_t n, request_result result,
                                 const char *order_id) {
    const collector *col = &fx->col[slot];
    if (poll_reports(fx->req[slot], col, n, REPORT_WAIT_MS) != n && fx->worker_log[0])
        tk_dump_log(fx->worker_log);
    assert_int_equal(col->n, n);
    const seen *s = &col->reports[n - 1];
    assert_string_equal(s->order_id, order_id);
    if (s->result != result)
        fail_msg("%s: %s, not %s", order_id, request_result_name(s->result),
                 request_result_name(result));
    return s;
}

/* Polls r until it has counted at least late late replies and unknown
 * replies for nobody here, or REPORT_WAIT_MS pass. */
static void poll_until_replies(requester_t *r, uint64_t late, uint64_t unknown) {
    int64_t deadline = time_mono_ms() + REPORT_WAIT_MS;
    while ((stats(r).late_replies < late || stats(r).unknown_replies < unknown) &&
           time_mono_ms() < deadline)
        requester_poll(r, 50);
}

/* The correlation id of the request for order_id, read from the orders
 * topic. */
static void request_correlation(fixture *fx, tk_reader *orders, const char *order_id,
                                uint8_t id[RH_CORRELATION_LEN]) {
    char err[256];
    int64_t deadline = time_mono_ms() + 20000;
    while (time_mono_ms() < deadline) {
        rd_kafka_message_t *m = tk_reader_next(orders, 200);
        if (!m) continue;
        int mine = m->key_len == strlen(order_id) && memcmp(m->key, order_id, m->key_len) == 0;
        if (mine) {
            rd_kafka_headers_t *h = NULL;
            assert_int_equal(rd_kafka_message_headers(m, &h), RD_KAFKA_RESP_ERR_NO_ERROR);
            if (rh_read_correlation(h, id, err, sizeof(err)) != RH_OK)
                fail_msg("request %s: %s", order_id, err);
            rd_kafka_message_destroy(m);
            return;
        }
        rd_kafka_message_destroy(m);
    }
    (void)fx;
    fail_msg("the request for %s never reached the orders topic", order_id);
}

/* tk_produce_reply() to the replies topic, with the fixture's producer. */
static void produce_reply(fixture *fx, const char *order_id, const void *value, size_t len,
                          const uint8_t *correlation) {
    if (!fx->tk.client) fx->tk.client = tk_producer(fx->tk.bootstraps);
    tk_produce_reply(fx->tk.client, fx->cfg.topic_replies, order_id, value, len, correlation);
}

/* An OrderCompleted for order_id with status, encoded; the caller frees. */
static void *completed(const char *order_id, Orderfleet__V1__OrderStatus status, size_t *len) {
    order_completed_t oc = ORDERFLEET__V1__ORDER_COMPLETED__INIT;
    oc.order_id = (char *)order_id;
    oc.status = status;
    oc.reason = status == ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED ? "" : "test";
    oc.currency = "EUR";
    oc.completed_at_ms = time_now_ms();
    void *buf = codec_completed_encode(&oc, len);
    assert_non_null(buf);
    return buf;
}

/* Replies to order_id's request (correlation id corr) with the outcome of
 * outcome_id with status, as a worker would. */
static void reply_completed(fixture *fx, const char *order_id, const char *outcome_id,
                            Orderfleet__V1__OrderStatus status, const uint8_t *corr) {
    size_t len;
    void *value = completed(outcome_id, status, &len);
    produce_reply(fx, order_id, value, len, corr);
    free(value);
}

/* ---- tests -------------------------------------------------------------- */

/* Nothing is sent before the reply consumer is positioned; polling gets it
 * there. Refusals make no report and count nothing. */
static void test_not_ready_before_positioning(void **state) {
    fixture *fx = *state;
    char err[256] = "";
    fx_cluster(fx);
    requester_t *r = fx_requester(fx, 0, -1, 16);
    assert_int_equal(requester_ready(r), 0);
    assert_true(requester_fd(r) >= 0);
    assert_int_equal(requester_next_timeout(r), -1); /* nothing waits */
    assert_int_equal(send_order(r, "early-1", "BURGER-CLASSIC", 1000, NULL, err, sizeof(err)),
                     REQUESTER_NOT_READY);
    wait_ready(r);
    assert_int_equal(requester_kafka_up(r), 1);

    order_placed_t anonymous = ORDERFLEET__V1__ORDER_PLACED__INIT;
    err[0] = '\0';
    assert_int_equal(requester_send(r, &anonymous, NULL, 1000, NULL, err, sizeof(err)), REQUESTER_ERR);
    assert_non_null(strstr(err, "order id"));

    requester_stats st = stats(r);
    assert_int_equal(st.sent, 0);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(fx->col[0].n, 0);

    /* Ready: a send is accepted and has a deadline to sleep on. */
    send_ok(r, "ready-1", "BURGER-CLASSIC", 60000, NULL);
    int64_t next = requester_next_timeout(r);
    assert_true(next > 50000 && next <= 60001); /* deadlines round up to whole ms */
    assert_int_equal(stats(r).sent, 1);
    assert_int_equal(stats(r).waiting, 1);
}

/* 50 orders, one worker: each gets exactly one REPLIED report with its own
 * outcome and waiter, acknowledged. */
static void test_replies(void **state) {
    enum { N = 50 };
    fixture *fx = *state;
    int tags[N];
    char id[64];
    fx_cluster(fx);
    fx_worker(fx, NULL);
    requester_t *r = fx_ready_requester(fx, 0, -1, 128);
    for (int i = 0; i < N; i++) {
        tags[i] = i;
        snprintf(id, sizeof(id), "reply-%03d", i);
        send_ok(r, id, "BURGER-CLASSIC", 30000, &tags[i]);
    }
    collector *col = &fx->col[0];
    if (poll_reports(r, col, N, REPORT_WAIT_MS) != N) tk_dump_log(fx->worker_log);
    assert_int_equal(col->n, N);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "reply-%03d", i);
        const seen *s = report_for(col, id);
        if (!s) fail_msg("no report for %s", id);
        if (s->result != REQUEST_REPLIED)
            fail_msg("%s: %s (%s)", id, request_result_name(s->result), s->error);
        assert_int_equal(s->has_outcome, 1);
        assert_string_equal(s->outcome_id, id);
        assert_int_equal(s->status, ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED);
        assert_int_equal(s->has_error, 0);
        assert_int_equal(s->acknowledged, 1);
        assert_ptr_equal(s->waiter, &tags[i]);
        assert_true(s->latency_us > 0);
    }
    /* nothing more comes */
    requester_poll(r, 200);
    assert_int_equal(col->n, N);
    requester_stats st = stats(r);
    assert_int_equal(st.sent, N);
    assert_int_equal(st.results[REQUEST_REPLIED], N);
    for (int k = REQUEST_FAILED; k <= REQUEST_SHUTDOWN; k++) assert_int_equal(st.results[k], 0);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(st.late_replies, 0);
    assert_int_equal(st.unknown_replies, 0);
    assert_int_equal(requester_next_timeout(r), -1);
    fx_stop_worker(fx);
}

/* A REJECTED order is a business answer: REPLIED, with its reason. */
static void test_rejected_is_replied(void **state) {
    fixture *fx = *state;
    fx_cluster(fx);
    fx_worker(fx, NULL);
    requester_t *r = fx_ready_requester(fx, 0, -1, 16);
    send_ok(r, "rejected-1", "NO-SUCH-SKU", 30000, NULL);
    const seen *s = expect_report(fx, 0, 1, REQUEST_REPLIED, "rejected-1");
    assert_int_equal(s->has_outcome, 1);
    assert_string_equal(s->outcome_id, "rejected-1");
    assert_int_equal(s->status, ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_REJECTED);
    assert_int_equal(s->acknowledged, 1);
    requester_stats st = stats(r);
    assert_int_equal(st.results[REQUEST_REPLIED], 1);
    assert_int_equal(st.results[REQUEST_FAILED], 0);
    assert_int_equal(st.waiting, 0);
    fx_stop_worker(fx);
}

/* A slow worker: the request times out (acknowledged: the order is placed
 * and still processed). The worker itself skips a reply past the request's
 * deadline (DESIGN §4), so the late reply is the worker's own outcome record,
 * sent back by the test with the request's correlation id: it is counted as
 * late, and makes no second report. */
static void test_timeout_then_late_reply(void **state) {
    fixture *fx = *state;
    uint8_t corr[RH_CORRELATION_LEN];
    char err[256];
    fx_cluster(fx);
    const char *slow[] = {"--latency-ms", "1500", NULL};
    fx_worker(fx, slow);
    requester_t *r = fx_ready_requester(fx, 0, -1, 16);
    tk_reader *orders = tk_fx_reader(&fx->tk, fx->cfg.topic_orders);
    tk_reader *outcomes = tk_fx_reader(&fx->tk, fx->cfg.topic_completed);

    int tag = 7;
    send_ok(r, "slow-1", "BURGER-CLASSIC", 200, &tag);
    const seen *s = expect_report(fx, 0, 1, REQUEST_TIMED_OUT, "slow-1");
    assert_int_equal(s->acknowledged, 1);
    assert_int_equal(s->has_outcome, 0);
    assert_int_equal(s->has_error, 0);
    assert_ptr_equal(s->waiter, &tag);
    assert_true(s->latency_us >= 200 * 1000);
    assert_true(s->latency_us < 1500 * 1000); /* not held until the worker was done */
    assert_int_equal(stats(r).results[REQUEST_TIMED_OUT], 1);
    assert_int_equal(stats(r).waiting, 0);

    /* The order is still processed; its outcome is on the completed topic. */
    rd_kafka_message_t *m = tk_fx_next(&fx->tk, outcomes, 20000);
    if (!m) fail_msg("no outcome within 20000 ms");
    order_completed_t *oc = codec_completed_decode(m->payload, m->len, err, sizeof(err));
    assert_non_null(oc);
    assert_string_equal(oc->order_id, "slow-1");
    assert_int_equal(oc->status, ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED);
    codec_completed_free(oc);
    fx_stop_worker(fx);
    if (tk_wait_log(fx->worker_log, "replies=0 replies_late=1", 1000) != 0) {
        tk_dump_log(fx->worker_log);
        fail_msg("the worker did not skip the reply past its deadline");
    }

    request_correlation(fx, orders, "slow-1", corr);
    produce_reply(fx, "slow-1", m->payload, m->len, corr);
    poll_until_replies(r, 1, 0);
    requester_stats st = stats(r);
    assert_int_equal(st.late_replies, 1);
    assert_int_equal(st.unknown_replies, 0);
    assert_int_equal(fx->col[0].n, 1); /* no second report */
    assert_int_equal(st.results[REQUEST_REPLIED], 0);

    /* The same reply again: the late id was used up, so now it is unknown. */
    produce_reply(fx, "slow-1", m->payload, m->len, corr);
    poll_until_replies(r, 1, 1);
    assert_int_equal(stats(r).unknown_replies, 1);
    assert_int_equal(stats(r).late_replies, 1);
    assert_int_equal(fx->col[0].n, 1);
}

/* No worker: acknowledged, then timed out. A deadline that passes before
 * Kafka's acknowledgement does not end the request: the report waits for the
 * acknowledgement (delayed here by the broker's answer) and is TIMED_OUT. */
static void test_no_worker_times_out(void **state) {
    fixture *fx = *state;
    fx_cluster(fx);
    requester_t *r = fx_ready_requester(fx, 0, -1, 16);

    send_ok(r, "nobody-1", "BURGER-CLASSIC", 300, NULL);
    const seen *s = expect_report(fx, 0, 1, REQUEST_TIMED_OUT, "nobody-1");
    assert_int_equal(s->acknowledged, 1);
    assert_true(s->latency_us >= 300 * 1000);
    assert_true(s->latency_us < 5000 * 1000);

    /* The broker takes 1500 ms to answer the next produce request. */
    assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                         devcluster_mock(fx->tk.cluster->dc), MOCK_BROKER, PRODUCE_API_KEY, 1,
                         RD_KAFKA_RESP_ERR_NO_ERROR, 1500),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    send_ok(r, "slow-ack-1", "BURGER-CLASSIC", 100, NULL);
    s = expect_report(fx, 0, 2, REQUEST_TIMED_OUT, "slow-ack-1");
    assert_int_equal(s->acknowledged, 1);
    assert_true(s->latency_us >= 1400 * 1000); /* held until Kafka acknowledged it */

    requester_stats st = stats(r);
    assert_int_equal(st.sent, 2);
    assert_int_equal(st.results[REQUEST_TIMED_OUT], 2);
    assert_int_equal(st.waiting, 0);
}

/* Kafka refuses the order for good: NOT_SENT with the reason, not
 * acknowledged; also when the deadline passed while Kafka was answering. */
static void test_not_sent(void **state) {
    fixture *fx = *state;
    fx_cluster(fx);
    requester_t *r = fx_ready_requester(fx, 0, -1, 16);
    rd_kafka_mock_cluster_t *mock = devcluster_mock(fx->tk.cluster->dc);

    rd_kafka_mock_push_request_errors(mock, PRODUCE_API_KEY, 1,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    int tag = 1;
    send_ok(r, "refused-1", "BURGER-CLASSIC", 10000, &tag);
    const seen *s = expect_report(fx, 0, 1, REQUEST_NOT_SENT, "refused-1");
    assert_int_equal(s->acknowledged, 0);
    assert_int_equal(s->has_error, 1);
    assert_true(strlen(s->error) > 0);
    assert_non_null(strstr(s->error, "uthorization"));
    assert_ptr_equal(s->waiter, &tag);
    assert_true(s->latency_us < 9000 * 1000); /* the refusal, not the deadline */

    /* The same, answered after the deadline passed: still NOT_SENT. A second
     * requester: after an authorization failure, librdkafka refuses the
     * first one's later orders for that topic right away (REQUESTER_ERR). */
    char err[256] = "";
    assert_int_equal(send_order(r, "refused-again", "BURGER-CLASSIC", 1000, NULL, err,
                                sizeof(err)),
                     REQUESTER_ERR);
    assert_true(strlen(err) > 0);
    requester_t *r2 = fx_ready_requester(fx, 1, -1, 16);
    assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                         mock, MOCK_BROKER, PRODUCE_API_KEY, 1,
                         RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, 800),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    send_ok(r2, "refused-2", "BURGER-CLASSIC", 50, NULL);
    s = expect_report(fx, 1, 1, REQUEST_NOT_SENT, "refused-2");
    assert_int_equal(s->acknowledged, 0);
    assert_int_equal(s->has_error, 1);
    assert_true(s->latency_us >= 700 * 1000);

    for (int k = 0; k < 2; k++) {
        requester_stats st = stats(fx->req[k]);
        assert_int_equal(st.sent, 1);
        assert_int_equal(st.results[REQUEST_NOT_SENT], 1);
        assert_int_equal(st.results[REQUEST_TIMED_OUT], 0);
        assert_int_equal(st.waiting, 0);
    }
}

/* A reply that comes after the deadline but before Kafka's acknowledgement
 * (the broker's answer to the produce request is delayed; the record itself
 * is in the log at once): the request ends TIMED_OUT with the
 * acknowledgement, and its reply is late, not unknown (requester.h: "a reply
 * arriving later is counted as late"; unknown_replies are "replies for
 * nobody here"). */
static void test_late_reply_before_ack(void **state) {
    fixture *fx = *state;
    uint8_t corr[RH_CORRELATION_LEN];
    fx_cluster(fx);
    requester_t *r = fx_ready_requester(fx, 0, -1, 16);
    tk_reader *orders = tk_fx_reader(&fx->tk, fx->cfg.topic_orders);
    collector *col = &fx->col[0];

    assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                         devcluster_mock(fx->tk.cluster->dc), MOCK_BROKER, PRODUCE_API_KEY, 1,
                         RD_KAFKA_RESP_ERR_NO_ERROR, 2500),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    int64_t t0 = time_mono_ms();
    send_ok(r, "early-reply-1", "BURGER-CLASSIC", 200, NULL);
    request_correlation(fx, orders, "early-reply-1", corr);
    while (time_mono_ms() < t0 + 400) requester_poll(r, 50); /* past the deadline */
    assert_int_equal(col->n, 0); /* not acknowledged yet: no report yet */

    reply_completed(fx, "early-reply-1", "early-reply-1",
                    ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED, corr);
    int64_t deadline = time_mono_ms() + REPORT_WAIT_MS;
    while ((col->n < 1 || stats(r).late_replies + stats(r).unknown_replies < 1) &&
           time_mono_ms() < deadline)
        requester_poll(r, 50);
    assert_int_equal(col->n, 1);
    const seen *s = &col->reports[0];
    assert_int_equal(s->result, REQUEST_TIMED_OUT);
    assert_int_equal(s->acknowledged, 1);
    assert_true(s->latency_us >= 2000 * 1000);
    requester_stats st = stats(r);
    if (st.late_replies != 1 || st.unknown_replies != 0)
        fail_msg("the reply to our own timed-out request, read before its acknowledgement, "
                 "was counted as late=%llu unknown=%llu (want late=1 unknown=0)",
                 (unsigned long long)st.late_replies, (unsigned long long)st.unknown_replies);
}

/* Replies the worker would never write. Someone else's correlation id, or
 * none: counted as unknown, no report. The right id on bytes that are not an
 * OrderCompleted, or on another order's outcome: BAD_REPLY. A FAILED outcome:
 * REQUEST_FAILED with the outcome. */
static void test_bad_and_unknown_replies(void **state) {
    fixture *fx = *state;
    uint8_t corr[RH_CORRELATION_LEN], stranger[RH_CORRELATION_LEN];
    size_t len;
    fx_cluster(fx);
    requester_t *r = fx_ready_requester(fx, 0, -1, 16);
    tk_reader *orders = tk_fx_reader(&fx->tk, fx->cfg.topic_orders);

    send_ok(r, "bad-1", "BURGER-CLASSIC", 60000, NULL);
    request_correlation(fx, orders, "bad-1", corr);

    /* (a) a random correlation id */
    rh_correlation_new(stranger);
    void *good = completed("bad-1", ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED, &len);
    produce_reply(fx, "bad-1", good, len, stranger);
    poll_until_replies(r, 0, 1);
    assert_int_equal(stats(r).unknown_replies, 1);
    /* (a') no correlation id at all */
    produce_reply(fx, "bad-1", good, len, NULL);
    poll_until_replies(r, 0, 2);
    assert_int_equal(stats(r).unknown_replies, 2);
    free(good);
    assert_int_equal(fx->col[0].n, 0);
    assert_int_equal(stats(r).waiting, 1);

    /* (b) the right id, bytes that are not an OrderCompleted */
    produce_reply(fx, "bad-1", "\xff\xff\xff", 3, corr);
    const seen *s = expect_report(fx, 0, 1, REQUEST_BAD_REPLY, "bad-1");
    assert_int_equal(s->has_outcome, 0);
    assert_int_equal(s->has_error, 1);
    if (!strstr(s->error, "OrderCompleted")) fail_msg("error: %s", s->error);

    /* (c) the right id on another order's outcome */
    send_ok(r, "bad-2", "BURGER-CLASSIC", 60000, NULL);
    request_correlation(fx, orders, "bad-2", corr);
    reply_completed(fx, "bad-2", "someone-else",
                    ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED, corr);
    s = expect_report(fx, 0, 2, REQUEST_BAD_REPLY, "bad-2");
    if (!strstr(s->error, "someone-else")) fail_msg("error: %s", s->error);

    /* (d) a FAILED outcome: the worker gave up on the order */
    send_ok(r, "failed-1", "BURGER-CLASSIC", 60000, NULL);
    request_correlation(fx, orders, "failed-1", corr);
    reply_completed(fx, "failed-1", "failed-1", ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FAILED,
                    corr);
    s = expect_report(fx, 0, 3, REQUEST_FAILED, "failed-1");
    assert_int_equal(s->has_outcome, 1);
    assert_string_equal(s->outcome_id, "failed-1");
    assert_int_equal(s->status, ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FAILED);
    assert_int_equal(s->acknowledged, 1);

    requester_stats st = stats(r);
    assert_int_equal(st.sent, 3);
    assert_int_equal(st.results[REQUEST_BAD_REPLY], 2);
    assert_int_equal(st.results[REQUEST_FAILED], 1);
    assert_int_equal(st.unknown_replies, 2);
    assert_int_equal(st.late_replies, 0);
    assert_int_equal(st.waiting, 0);
}

/* Two requesters reading every reply partition: each is answered for its
 * own requests only, and counts the other's replies as unknown. */
static void test_two_requesters_share_replies(void **state) {
    enum { N = 20 };
    fixture *fx = *state;
    char id[64];
    fx_cluster(fx);
    fx_worker(fx, NULL);
    requester_t *a = fx_requester(fx, 0, -1, 64);
    requester_t *b = fx_requester(fx, 1, -1, 64);
    int64_t deadline = time_mono_ms() + 20000;
    while ((!requester_ready(a) || !requester_ready(b)) && time_mono_ms() < deadline) {
        requester_poll(a, 25);
        requester_poll(b, 25);
    }
    assert_true(requester_ready(a) && requester_ready(b));
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "a-%02d", i);
        send_ok(a, id, "BURGER-CLASSIC", 30000, NULL);
        snprintf(id, sizeof(id), "b-%02d", i);
        send_ok(b, id, "BURGER-CLASSIC", 30000, NULL);
    }
    /* Both answered, and each has read all of the other's replies. */
    deadline = time_mono_ms() + REPORT_WAIT_MS;
    while ((fx->col[0].n < N || fx->col[1].n < N || stats(a).unknown_replies < N ||
            stats(b).unknown_replies < N) &&
           time_mono_ms() < deadline) {
        requester_poll(a, 25);
        requester_poll(b, 25);
    }
    if (fx->col[0].n < N || fx->col[1].n < N) tk_dump_log(fx->worker_log);
    for (int k = 0; k < 2; k++) {
        collector *col = &fx->col[k];
        assert_int_equal(col->n, N);
        for (size_t i = 0; i < col->n; i++) {
            const seen *s = &col->reports[i];
            if (s->order_id[0] != "ab"[k])
                fail_msg("requester %c got the report of %s", "ab"[k], s->order_id);
            if (s->result != REQUEST_REPLIED)
                fail_msg("%s: %s", s->order_id, request_result_name(s->result));
            assert_string_equal(s->outcome_id, s->order_id);
        }
        for (int i = 0; i < N; i++) {
            snprintf(id, sizeof(id), "%c-%02d", "ab"[k], i);
            assert_non_null(report_for(col, id));
        }
    }
    requester_stats sa = stats(a), sb = stats(b);
    assert_int_equal(sa.results[REQUEST_REPLIED], N);
    assert_int_equal(sb.results[REQUEST_REPLIED], N);
    assert_int_equal(sa.unknown_replies, N);
    assert_int_equal(sb.unknown_replies, N);
    assert_int_equal(sa.late_replies + sb.late_replies, 0);
    fx_stop_worker(fx);
}

/* A requester owning reply partition 1: every reply is written there and
 * read from there. */
static void test_owned_partition(void **state) {
    enum { N = 20 };
    fixture *fx = *state;
    char id[64];
    fx_cluster(fx);
    fx_worker(fx, NULL);
    requester_t *r = fx_ready_requester(fx, 0, 1, 64);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "owned-%02d", i);
        send_ok(r, id, "BURGER-CLASSIC", 30000, NULL);
    }
    collector *col = &fx->col[0];
    if (poll_reports(r, col, N, REPORT_WAIT_MS) != N) tk_dump_log(fx->worker_log);
    assert_int_equal(col->n, N);
    for (size_t i = 0; i < col->n; i++) {
        if (col->reports[i].result != REQUEST_REPLIED)
            fail_msg("%s: %s", col->reports[i].order_id,
                     request_result_name(col->reports[i].result));
        assert_string_equal(col->reports[i].outcome_id, col->reports[i].order_id);
    }
    assert_int_equal(stats(r).results[REQUEST_REPLIED], N);
    assert_int_equal(stats(r).unknown_replies, 0);

    /* the replies topic has them all, on partition 1 */
    tk_reader *replies = tk_fx_reader(&fx->tk, fx->cfg.topic_replies);
    for (int i = 0; i < N; i++) {
        rd_kafka_message_t *m = tk_reader_next(replies, 10000);
        assert_non_null(m);
        int32_t part = m->partition;
        rd_kafka_message_destroy(m);
        assert_int_equal(part, 1);
    }
    fx_stop_worker(fx);
}

/* A reply partition the topic does not have: never ready. */
static void test_missing_partition_never_ready(void **state) {
    fixture *fx = *state;
    char err[256];
    fx_cluster(fx);
    requester_t *r = fx_requester(fx, 0, fx->cfg.orders_partitions, 4);
    int64_t deadline = time_mono_ms() + 2500; /* two positioning attempts and more */
    while (time_mono_ms() < deadline) requester_poll(r, 50);
    assert_int_equal(requester_ready(r), 0);
    assert_int_equal(send_order(r, "x-1", "BURGER-CLASSIC", 1000, NULL, err, sizeof(err)),
                     REQUESTER_NOT_READY);
}

/* Shutdown ends every wait: acknowledged orders as SHUTDOWN. Later sends
 * are refused, and polling afterwards reports nothing twice. */
static void test_shutdown(void **state) {
    enum { N = 5 };
    fixture *fx = *state;
    char id[64], err[256] = "";
    int tags[N];
    fx_cluster(fx);
    requester_t *r = fx_ready_requester(fx, 0, -1, 16);
    tk_reader *orders = tk_fx_reader(&fx->tk, fx->cfg.topic_orders);
    for (int i = 0; i < N; i++) {
        tags[i] = i;
        snprintf(id, sizeof(id), "shut-%d", i);
        send_ok(r, id, "BURGER-CLASSIC", 60000, &tags[i]);
    }
    /* Let Kafka have them all first: the orders topic shows them. */
    int placed = 0;
    int64_t deadline = time_mono_ms() + REPORT_WAIT_MS;
    while (placed < N && time_mono_ms() < deadline) {
        requester_poll(r, 20);
        rd_kafka_message_t *m = tk_reader_next(orders, 20);
        if (m) {
            placed++;
            rd_kafka_message_destroy(m);
        }
    }
    assert_int_equal(placed, N);
    collector *col = &fx->col[0];
    assert_int_equal(col->n, 0);

    requester_shutdown(r, 5000);
    assert_int_equal(col->n, N);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "shut-%d", i);
        const seen *s = report_for(col, id);
        if (!s) fail_msg("no report for %s", id);
        if (s->result != REQUEST_SHUTDOWN)
            fail_msg("%s: %s (%s)", id, request_result_name(s->result), s->error);
        assert_int_equal(s->acknowledged, 1);
        assert_ptr_equal(s->waiter, &tags[i]);
    }
    assert_int_equal(requester_ready(r), 0);
    err[0] = '\0';
    assert_int_equal(send_order(r, "after-1", "BURGER-CLASSIC", 1000, NULL, err, sizeof(err)),
                     REQUESTER_ERR);
    assert_true(strlen(err) > 0);
    requester_shutdown(r, 1000); /* twice is harmless */
    requester_poll(r, 100);
    assert_int_equal(col->n, N);
    requester_stats st = stats(r);
    assert_int_equal(st.sent, N);
    assert_int_equal(st.results[REQUEST_SHUTDOWN], N);
    assert_int_equal(st.waiting, 0);
}

/* Shutdown right after sending, before any acknowledgement was served: the
 * flush lets Kafka acknowledge them, so they end as SHUTDOWN all the same. */
static void test_shutdown_flushes_first(void **state) {
    enum { N = 5 };
    fixture *fx = *state;
    char id[64];
    fx_cluster(fx);
    requester_t *r = fx_ready_requester(fx, 0, -1, 16);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "flush-%d", i);
        send_ok(r, id, "BURGER-CLASSIC", 60000, NULL);
    }
    requester_shutdown(r, 5000);
    collector *col = &fx->col[0];
    assert_int_equal(col->n, N);
    for (size_t i = 0; i < col->n; i++) {
        const seen *s = &col->reports[i];
        if (s->result != REQUEST_SHUTDOWN)
            fail_msg("%s: %s (%s)", s->order_id, request_result_name(s->result), s->error);
        assert_int_equal(s->acknowledged, 1);
    }
    requester_poll(r, 100);
    assert_int_equal(col->n, N);
    assert_int_equal(stats(r).waiting, 0);
}

/* max_waiting bounds the requests waiting at once; a slot frees up when a
 * request ends. */
static void test_full(void **state) {
    fixture *fx = *state;
    char err[256] = "";
    fx_cluster(fx);
    requester_t *r = fx_ready_requester(fx, 0, -1, 2);
    send_ok(r, "full-1", "BURGER-CLASSIC", 1000, NULL);
    send_ok(r, "full-2", "BURGER-CLASSIC", 1000, NULL);
    assert_int_equal(send_order(r, "full-3", "BURGER-CLASSIC", 1000, NULL, err, sizeof(err)),
                     REQUESTER_FULL);
    requester_stats st = stats(r);
    assert_int_equal(st.sent, 2);
    assert_int_equal(st.waiting, 2);

    collector *col = &fx->col[0];
    assert_int_equal(poll_reports(r, col, 2, REPORT_WAIT_MS), 2);
    assert_int_equal(col->reports[0].result, REQUEST_TIMED_OUT);
    assert_int_equal(col->reports[1].result, REQUEST_TIMED_OUT);
    assert_null(report_for(col, "full-3")); /* refused: no report */
    send_ok(r, "full-3", "BURGER-CLASSIC", 60000, NULL);
    assert_int_equal(stats(r).waiting, 1);

    requester_shutdown(r, 5000);
    assert_int_equal(poll_reports(r, col, 3, 0), 3);
    assert_int_equal(col->reports[2].result, REQUEST_SHUTDOWN);
}

#define REQUESTER_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        REQUESTER_TEST(test_not_ready_before_positioning),
        REQUESTER_TEST(test_replies),
        REQUESTER_TEST(test_rejected_is_replied),
        REQUESTER_TEST(test_timeout_then_late_reply),
        REQUESTER_TEST(test_no_worker_times_out),
        REQUESTER_TEST(test_not_sent),
        REQUESTER_TEST(test_late_reply_before_ack),
        REQUESTER_TEST(test_bad_and_unknown_replies),
        REQUESTER_TEST(test_two_requesters_share_replies),
        REQUESTER_TEST(test_owned_partition),
        REQUESTER_TEST(test_missing_partition_never_ready),
        REQUESTER_TEST(test_shutdown),
        REQUESTER_TEST(test_shutdown_flushes_first),
        REQUESTER_TEST(test_full),
    };
    /* TEST_FILTER=<pattern> runs the matching tests only (cmocka: * and ?). */
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
