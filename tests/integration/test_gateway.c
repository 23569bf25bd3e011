/* Integration: order-gateway, the synchronous HTTP facade (DESIGN.md §5),
 * as a client sees it: the real order-gateway and order-worker as child
 * processes on a mock cluster, requests through tkhttp.h, bodies read with
 * jansson, and the checks test_e2e_gateway shares (tkgateway.h).
 *
 * Each test has its own cluster on fresh ports, so topics and the worker
 * group are its own. Children, readers and requests still running on their
 * threads are recorded in the fixture (a tk_fixture): the teardown kills
 * the children (which ends those requests), joins the threads and, when the
 * test did not get to its end, prints the children's logs.
 *
 * Waiting is on conditions with deadlines: a log line, a record on the
 * orders topic (proof that the gateway has placed an order and waits for
 * it), a GET polled until it answers 200. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/order_codec.h"
#include "common/reply_headers.h"
#include "common/timeutil.h"
#include "testkit.h"
#include "tkfixture.h"
#include "tkgateway.h"
#include "tkhttp.h"

#define WAITING_TIMEOUT_MS 45000 /* for a request that waits for its outcome */
#define START_TIMEOUT_MS 30000 /* a program up and ready */
#define OUTCOME_TIMEOUT_MS 30000 /* an order's outcome known to the gateway */
#define MOCK_BROKER 1 /* the one broker of a 1-node mock cluster */

#define ORDER_OK                                                                                \
    "{\"customerId\":\"c-42\",\"currency\":\"EUR\",\"items\":[{\"sku\":\"BURGER-CLASSIC\","  \
    "\"quantity\":2,\"unitPrice\":\"899\"}]}"
#define ORDER_UNKNOWN_SKU                                                                       \
    "{\"customerId\":\"c-42\",\"currency\":\"EUR\",\"items\":[{\"sku\":\"PIZZA-UNKNOWN\","   \
    "\"quantity\":1,\"unitPrice\":\"500\"}]}"
#define ORDER_OTHER                                                                             \
    "{\"customerId\":\"c-43\",\"currency\":\"EUR\",\"items\":[{\"sku\":\"BURGER-CLASSIC\","  \
    "\"quantity\":1,\"unitPrice\":\"899\"}]}"

static const char *const json_ct[] = {"Content-Type: application/json", NULL};

/* ---- checks ------------------------------------------------------------- */

/* tk_gw_expect_accepted(), and the body's "location" is the Location
 * header. Returns the order id, copied into id. */
static const char *expect_accepted(const tk_http_response *r, char *id, size_t size) {
    tk_gw_expect_accepted(r, id, size);
    json_t *j = tk_gw_body_json(r);
    assert_string_equal(tk_gw_jstr(j, "location"), tk_http_header(r, "Location"));
    json_decref(j);
    return id;
}

/* tk_gw_expect_created(), and the outcome is application/json. Returns the
 * order id, copied into id. */
static const char *expect_created(const tk_http_response *r, const char *status, char *id,
                                  size_t size) {
    tk_gw_expect_created(r, status, id, size);
    tk_gw_expect_header(r, "Content-Type", "application/json");
    return id;
}

/* POST /v1/orders of ORDER_OK with headers, answered 202 (expect_accepted())
 * with Preference-Applied: applied. The answer goes to r (the caller frees
 * it) and the order id into id; returns how long the answer took, in ms. */
static int64_t post_accepted(int port, const char *const *headers, const char *applied,
                             tk_http_response *r, char *id, size_t size) {
    int64_t t0 = time_mono_ms();
    tk_gw_http(port, "POST", "/v1/orders", headers, ORDER_OK, r);
    int64_t took = time_mono_ms() - t0;
    expect_accepted(r, id, size);
    tk_gw_expect_header(r, "Preference-Applied", applied);
    return took;
}

/* Polls GET /readyz until it answers want. */
static void readyz_until(int port, int want, int timeout_ms) {
    int64_t deadline = time_mono_ms() + timeout_ms;
    tk_http_response r;
    for (;;) {
        tk_gw_http(port, "GET", "/readyz", NULL, NULL, &r);
        int status = r.status;
        tk_http_response_free(&r);
        if (status == want) return;
        if (time_mono_ms() >= deadline)
            fail_msg("/readyz still %d after %d ms", status, timeout_ms);
        tk_pause_ms(50);
    }
}

/* ---- tests -------------------------------------------------------------- */

/* The counter: a valid order is answered 201 with its outcome and Location,
 * as is a REJECTED one (a business answer, with its reason); GET and HEAD of
 * the Location give the same outcome; an orderId in the body is used. */
static void test_post_answers_201_with_outcome(void **state) {
    tk_fixture *fx = *state;
    tk_http_response r, g;
    char id[160], path[200];
    tk_fx_cluster(fx, 1);
    tk_gw_start_worker(fx, NULL, START_TIMEOUT_MS);
    int port = tk_gw_start_gateway(fx, NULL, NULL, START_TIMEOUT_MS, NULL, NULL);

    tk_gw_expect_get(port, "/healthz", 200);
    tk_gw_expect_get(port, "/readyz", 200);

    tk_gw_http(port, "POST", "/v1/orders", json_ct, ORDER_OK, &r);
    expect_created(&r, "ORDER_STATUS_FULFILLED", id, sizeof(id));
    tk_gw_expect_no_header(&r, "Preference-Applied");
    json_t *j = tk_gw_body_json(&r);
    assert_string_equal(tk_gw_jstr(j, "subtotal"), "1798");
    assert_string_equal(tk_gw_jstr(j, "tax"), "342");
    assert_string_equal(tk_gw_jstr(j, "shipping"), "299");
    assert_string_equal(tk_gw_jstr(j, "total"), "2439");
    assert_string_equal(tk_gw_jstr(j, "currency"), "EUR");
    snprintf(path, sizeof(path), "/v1/orders/%s", id);
    tk_gw_http(port, "GET", path, NULL, NULL, &g);
    tk_gw_expect_status(&g, 200);
    tk_gw_expect_header(&g, "Content-Type", "application/json");
    json_t *jg = tk_gw_body_json(&g);
    assert_true(json_equal(j, jg));
    json_decref(jg);
    json_decref(j);
    tk_http_response_free(&g);
    tk_gw_http(port, "HEAD", path, NULL, NULL, &g);
    tk_gw_expect_status(&g, 200);
    assert_int_equal(g.body_len, 0);
    tk_http_response_free(&g);
    tk_http_response_free(&r);

    /* REJECTED is an answer: 201 with the reason (and a media type with a
     * charset parameter is still JSON) */
    const char *json_utf8[] = {"Content-Type: application/json; charset=utf-8", NULL};
    tk_gw_http(port, "POST", "/v1/orders", json_utf8, ORDER_UNKNOWN_SKU, &r);
    expect_created(&r, "ORDER_STATUS_REJECTED", id, sizeof(id));
    j = tk_gw_body_json(&r);
    if (!strstr(tk_gw_jstr(j, "reason"), "PIZZA-UNKNOWN")) {
        tk_gw_show(&r);
        fail_msg("the reason does not name the unknown SKU");
    }
    snprintf(path, sizeof(path), "/v1/orders/%s", id);
    tk_gw_http(port, "GET", path, NULL, NULL, &g);
    tk_gw_expect_status(&g, 200);
    jg = tk_gw_body_json(&g);
    assert_true(json_equal(j, jg));
    json_decref(jg);
    json_decref(j);
    tk_http_response_free(&g);
    tk_http_response_free(&r);

    /* the client's own order id */
    tk_gw_http(port, "POST", "/v1/orders", json_ct,
               "{\"orderId\":\"gw-own-1\",\"customerId\":\"c-1\",\"currency\":\"EUR\",\"items\":[{"
               "\"sku\":\"BURGER-CLASSIC\",\"quantity\":1,\"unitPrice\":\"899\"}]}",
               &r);
    expect_created(&r, "ORDER_STATUS_FULFILLED", id, sizeof(id));
    assert_string_equal(id, "gw-own-1");
    tk_http_response_free(&r);
    /* ... which must be usable in a URL as it is */
    tk_gw_http(port, "POST", "/v1/orders", json_ct,
               "{\"orderId\":\"a b/c\",\"customerId\":\"c-1\",\"currency\":\"EUR\",\"items\":[{"
               "\"sku\":\"BURGER-CLASSIC\",\"quantity\":1,\"unitPrice\":\"899\"}]}",
               &r);
    j = tk_gw_expect_problem(&r, 400, "invalid-order");
    json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
    assert_non_null(e0);
    assert_string_equal(tk_gw_jstr(e0, "field"), "orderId");
    json_decref(j);
    tk_http_response_free(&r);
    fx->done = 1;
}

/* Prefer: respond-async: 202 at once with Location, Retry-After and
 * Preference-Applied; GET says 202 while the order is pending (no worker
 * yet), then 200 with the outcome once a worker has processed it. */
static void test_respond_async_then_poll(void **state) {
    tk_fixture *fx = *state;
    tk_http_response r, g;
    char id[160];
    tk_fx_cluster(fx, 1);
    int port = tk_gw_start_gateway(fx, NULL, NULL, START_TIMEOUT_MS, NULL, NULL);

    const char *hdrs[] = {"Content-Type: application/json", "Prefer: respond-async", NULL};
    int64_t took = post_accepted(port, hdrs, "respond-async", &r, id, sizeof(id));
    if (took > 3000) fail_msg("respond-async took %lld ms: it waited", (long long)took);

    const char *loc = tk_http_header(&r, "Location");
    tk_gw_http(port, "GET", loc, NULL, NULL, &g);
    expect_accepted(&g, id, sizeof(id)); /* pending: nobody processes it yet */
    tk_http_response_free(&g);

    tk_gw_start_worker(fx, NULL, 0);
    json_t *j = tk_gw_poll_outcome(port, loc, id, "ORDER_STATUS_FULFILLED", OUTCOME_TIMEOUT_MS);
    assert_string_equal(tk_gw_jstr(j, "total"), "2439");
    json_decref(j);
    tk_http_response_free(&r);
    fx->done = 1;
}

/* Prefer: wait=1 with a worker that takes 1.5 s: the gateway waits its
 * second, answers 202 with Preference-Applied: wait=1, and GET finds the
 * outcome later. A wait beyond gateway.max_wait_ms is cut to it, and says
 * so. */
static void test_prefer_wait_shorter_than_processing(void **state) {
    tk_fixture *fx = *state;
    tk_http_response r;
    char id[160];
    const char *env[] = {"ORDERFLEET_GATEWAY_MAX_WAIT_MS=10000", NULL};
    tk_fx_cluster(fx, 1);
    tk_gw_start_worker(fx, "1500", START_TIMEOUT_MS);
    int port = tk_gw_start_gateway(fx, NULL, env, START_TIMEOUT_MS, NULL, NULL);

    const char *wait1[] = {"Content-Type: application/json", "Prefer: wait=1", NULL};
    int64_t took = post_accepted(port, wait1, "wait=1", &r, id, sizeof(id));
    /* it waited its second, not the default 5 */
    if (took < 900 || took > 4000)
        fail_msg("Prefer: wait=1 answered 202 after %lld ms, expected about 1000",
                 (long long)took);
    json_t *j = tk_gw_poll_outcome(port, tk_http_header(&r, "Location"), id,
                                   "ORDER_STATUS_FULFILLED", OUTCOME_TIMEOUT_MS);
    json_decref(j);
    tk_http_response_free(&r);

    /* wait=1000 is more than gateway.max_wait_ms (10 s): 10 s are used,
     * enough for the 1.5 s of processing */
    const char *wait_long[] = {"Content-Type: application/json", "Prefer: wait=1000", NULL};
    tk_gw_http(port, "POST", "/v1/orders", wait_long, ORDER_OK, &r);
    expect_created(&r, "ORDER_STATUS_FULFILLED", id, sizeof(id));
    tk_gw_expect_header(&r, "Preference-Applied", "wait=10");
    tk_http_response_free(&r);
    fx->done = 1;
}

/* Idempotency-Key: a retry while the first request waits joins its wait (both
 * get the same 201), a retry afterwards gets the same outcome, and only one
 * order ever reaches Kafka; the key reused for another body is 422. */
static void test_idempotency_key(void **state) {
    tk_fixture *fx = *state;
    tk_http_response r1, r2, r3;
    char id1[160], id2[160], id3[160], placed[1][64];
    tk_fx_cluster(fx, 1);
    tk_reader *orders = tk_fx_reader(fx, fx->cluster->cfg.topic_orders);
    tk_reader *completed = tk_fx_reader(fx, fx->cluster->cfg.topic_completed);
    tk_gw_start_worker(fx, "1500", START_TIMEOUT_MS);
    int port = tk_gw_start_gateway(fx, NULL, NULL, START_TIMEOUT_MS, NULL, NULL);

    const char *hdrs[] = {"Content-Type: application/json", "Idempotency-Key: key-1",
                          "Prefer: wait=10", NULL};
    tk_http_async *first =
        tk_fx_request(fx, port, "POST", "/v1/orders", hdrs, ORDER_OK, WAITING_TIMEOUT_MS);
    /* the first is placed and waits (1.5 s of work) */
    tk_gw_wait_orders(orders, 1, placed, OUTCOME_TIMEOUT_MS);
    tk_gw_http(port, "POST", "/v1/orders", hdrs, ORDER_OK, &r2); /* a retry: joins the wait */
    tk_fx_join(fx, first, &r1);
    expect_created(&r1, "ORDER_STATUS_FULFILLED", id1, sizeof(id1));
    expect_created(&r2, "ORDER_STATUS_FULFILLED", id2, sizeof(id2));
    assert_string_equal(id1, placed[0]);
    assert_string_equal(id2, id1);
    json_t *j1 = tk_gw_body_json(&r1), *j2 = tk_gw_body_json(&r2);
    assert_true(json_equal(j1, j2));

    /* a retry after the outcome: answered from it */
    tk_gw_http(port, "POST", "/v1/orders", hdrs, ORDER_OK, &r3);
    expect_created(&r3, "ORDER_STATUS_FULFILLED", id3, sizeof(id3));
    assert_string_equal(id3, id1);
    json_t *j3 = tk_gw_body_json(&r3);
    assert_true(json_equal(j1, j3));
    json_decref(j1);
    json_decref(j2);
    json_decref(j3);
    tk_http_response_free(&r1);
    tk_http_response_free(&r2);
    tk_http_response_free(&r3);

    /* the same key for another body */
    tk_gw_http(port, "POST", "/v1/orders", hdrs, ORDER_OTHER, &r1);
    json_t *p = tk_gw_expect_problem(&r1, 422, "idempotency-key-reused");
    json_decref(p);
    tk_http_response_free(&r1);

    /* one order placed (read above, nothing after it), one outcome, for
     * three POSTs */
    tk_gw_expect_no_more_orders(orders, 1000);
    tk_tally *t = tk_tally_new();
    tk_collect_outcomes(completed, t, 2, 1000);
    assert_int_equal(tk_tally_count(t, id1), 1);
    assert_int_equal(tk_tally_total(t), 1);
    tk_tally_free(t);
    fx->done = 1;
}

/* An orderId the gateway knows is answered from what it knows, never
 * placed again, with or without an Idempotency-Key (docs/decisions.md: idempotent
 * across instances and restarts when the client names the order). */
static void test_known_order_id_not_placed_again(void **state) {
    tk_fixture *fx = *state;
    tk_http_response r1, r2;
    char id1[160], id2[160], placed[1][64];
    const char *order = "{\"orderId\":\"gw-dup-1\",\"customerId\":\"c-1\",\"currency\":\"EUR\","
                        "\"items\":[{\"sku\":\"BURGER-CLASSIC\",\"quantity\":2,"
                        "\"unitPrice\":\"899\"}]}";
    tk_fx_cluster(fx, 1);
    tk_reader *orders = tk_fx_reader(fx, fx->cluster->cfg.topic_orders);
    tk_gw_start_worker(fx, NULL, START_TIMEOUT_MS);
    int port = tk_gw_start_gateway(fx, NULL, NULL, START_TIMEOUT_MS, NULL, NULL);

    tk_gw_http(port, "POST", "/v1/orders", json_ct, order, &r1);
    expect_created(&r1, "ORDER_STATUS_FULFILLED", id1, sizeof(id1));
    assert_string_equal(id1, "gw-dup-1");
    json_t *j1 = tk_gw_body_json(&r1);
    tk_gw_http(port, "POST", "/v1/orders", json_ct, order, &r2);
    expect_created(&r2, "ORDER_STATUS_FULFILLED", id2, sizeof(id2));
    json_t *j2 = tk_gw_body_json(&r2);
    assert_true(json_equal(j1, j2)); /* the same outcome, not a second processing */
    json_decref(j2);
    tk_http_response_free(&r2);
    const char *keyed[] = {"Content-Type: application/json", "Idempotency-Key: fresh-key", NULL};
    tk_gw_http(port, "POST", "/v1/orders", keyed, order, &r2);
    expect_created(&r2, "ORDER_STATUS_FULFILLED", id2, sizeof(id2));
    j2 = tk_gw_body_json(&r2);
    assert_true(json_equal(j1, j2));
    json_decref(j2);
    json_decref(j1);
    tk_http_response_free(&r2);
    tk_http_response_free(&r1);

    tk_gw_wait_orders(orders, 1, placed, OUTCOME_TIMEOUT_MS);
    assert_string_equal(placed[0], "gw-dup-1");
    tk_gw_expect_no_more_orders(orders, 1000);
    fx->done = 1;
}

/* The correlation id of the next request on the orders topic, which must be
 * the order order_id. */
static void next_request(tk_reader *orders, const char *order_id,
                         uint8_t corr[RH_CORRELATION_LEN]) {
    char err[256];
    rd_kafka_message_t *m = tk_reader_next(orders, OUTCOME_TIMEOUT_MS);
    if (!m) fail_msg("the request for %s never reached the orders topic", order_id);
    rd_kafka_headers_t *h = NULL;
    int ok = m->key_len == strlen(order_id) && memcmp(m->key, order_id, m->key_len) == 0 &&
             rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
             rh_read_correlation(h, corr, err, sizeof(err)) == RH_OK;
    rd_kafka_message_destroy(m);
    if (!ok) fail_msg("no request with a correlation id for %s on the orders topic", order_id);
}

/* Replies the worker would not write, made by the test from the request it
 * reads on the orders topic: bytes that are no OrderCompleted are 502 (the
 * order was placed: the problem names it and gives its Location); a FAILED
 * outcome is 201 with that outcome (the order exists, processing gave up). */
static void test_bad_reply_502_and_failed_201(void **state) {
    tk_fixture *fx = *state;
    tk_http_response r;
    uint8_t corr[RH_CORRELATION_LEN];
    char id[160];
    tk_fx_cluster(fx, 1);
    tk_reader *orders = tk_fx_reader(fx, fx->cluster->cfg.topic_orders);
    rd_kafka_t *p = tk_producer(fx->bootstraps);
    int port = tk_gw_start_gateway(fx, NULL, NULL, START_TIMEOUT_MS, NULL, NULL);
    const char *hdrs[] = {"Content-Type: application/json", "Prefer: wait=20", NULL};
    const char *body_bad = "{\"orderId\":\"gw-bad-1\",\"customerId\":\"c-1\",\"currency\":\"EUR\","
                           "\"items\":[{\"sku\":\"BURGER-CLASSIC\",\"quantity\":1,"
                           "\"unitPrice\":\"899\"}]}";
    const char *body_failed = "{\"orderId\":\"gw-failed-1\",\"customerId\":\"c-1\","
                              "\"currency\":\"EUR\",\"items\":[{\"sku\":\"BURGER-CLASSIC\","
                              "\"quantity\":1,\"unitPrice\":\"899\"}]}";

    tk_http_async *a =
        tk_fx_request(fx, port, "POST", "/v1/orders", hdrs, body_bad, WAITING_TIMEOUT_MS);
    next_request(orders, "gw-bad-1", corr);
    tk_produce_reply(p, fx->cluster->cfg.topic_replies, "gw-bad-1", "\xff\xff\xff", 3, corr);
    tk_fx_join(fx, a, &r);
    json_t *j = tk_gw_expect_problem(&r, 502, "bad-reply");
    assert_string_equal(tk_gw_jstr(j, "orderId"), "gw-bad-1");
    assert_string_equal(tk_gw_location_id(&r), "gw-bad-1");
    json_decref(j);
    tk_http_response_free(&r);

    a = tk_fx_request(fx, port, "POST", "/v1/orders", hdrs, body_failed, WAITING_TIMEOUT_MS);
    next_request(orders, "gw-failed-1", corr);
    order_completed_t oc = ORDERFLEET__V1__ORDER_COMPLETED__INIT;
    oc.order_id = "gw-failed-1";
    oc.status = ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FAILED;
    oc.reason = "gave up after 3 attempts: payment provider unavailable";
    oc.currency = "EUR";
    oc.completed_at_ms = time_now_ms();
    size_t len;
    void *value = codec_completed_encode(&oc, &len);
    assert_non_null(value);
    tk_produce_reply(p, fx->cluster->cfg.topic_replies, "gw-failed-1", value, len, corr);
    free(value);
    tk_fx_join(fx, a, &r);
    expect_created(&r, "ORDER_STATUS_FAILED", id, sizeof(id));
    assert_string_equal(id, "gw-failed-1");
    j = tk_gw_body_json(&r);
    assert_string_equal(tk_gw_jstr(j, "reason"), oc.reason);
    json_decref(j);
    tk_http_response_free(&r);
    tk_gw_expect_get(port, "/v1/orders/gw-failed-1", 200);
    rd_kafka_destroy(p);
    fx->done = 1;
}

/* Every error a client can cause, each a problem+json with the precise
 * status; none of them places an order. */
static void test_error_statuses(void **state) {
    tk_fixture *fx = *state;
    tk_http_response r;
    json_t *j;
    const char *env[] = {"ORDERFLEET_GATEWAY_MAX_BODY=1024", NULL};
    tk_fx_cluster(fx, 1);
    tk_reader *orders = tk_fx_reader(fx, fx->cluster->cfg.topic_orders);
    int port = tk_gw_start_gateway(fx, NULL, env, START_TIMEOUT_MS, NULL, NULL);

    /* malformed JSON: where, as members */
    tk_gw_expect_malformed_at(port, "{\"customerId\":", 1, 14);
    tk_gw_expect_malformed_at(port, "{\n  \"customerId\": \"c-1\",\n  oops\n}", 3, 1);

    /* schema violations: every one, by field */
    tk_gw_http(port, "POST", "/v1/orders", json_ct,
               "{\"customerId\":42,\"currency\":\"EUR\",\"items\":[{\"sku\":\"BURGER-CLASSIC\","
               "\"quantity\":\"two\",\"unitPrice\":\"899\"}],\"coupon\":\"FREE\"}",
               &r);
    j = tk_gw_expect_problem(&r, 400, "invalid-order");
    json_t *errs = json_object_get(j, "errors");
    assert_true(json_is_array(errs));
    assert_int_equal(json_array_size(errs), 3);
    const char *fields[] = {"customerId", "items[0].quantity", "coupon"};
    for (size_t i = 0; i < 3; i++) {
        json_t *e = json_array_get(errs, i);
        assert_string_equal(tk_gw_jstr(e, "field"), fields[i]);
        assert_true(strlen(tk_gw_jstr(e, "reason")) > 0);
    }
    assert_int_equal(json_integer_value(json_object_get(j, "errorCount")), 3);
    if (!strstr(tk_gw_jstr(j, "detail"), "3 places"))
        fail_msg("detail: %s", tk_gw_jstr(j, "detail"));
    json_decref(j);
    tk_http_response_free(&r);
    /* more violations than are listed: errorCount has them all */
    char many[1024];
    size_t len = (size_t)snprintf(many, sizeof(many), "{");
    for (int i = 0; i < 20; i++)
        len += (size_t)snprintf(many + len, sizeof(many) - len, "%s\"x%d\":%d", i ? "," : "", i, i);
    snprintf(many + len, sizeof(many) - len, "}");
    tk_gw_http(port, "POST", "/v1/orders", json_ct, many, &r);
    j = tk_gw_expect_problem(&r, 400, "invalid-order");
    assert_true(json_array_size(json_object_get(j, "errors")) >= 16);
    assert_int_equal(json_integer_value(json_object_get(j, "errorCount")), 20);
    assert_string_equal(tk_gw_jstr(json_array_get(json_object_get(j, "errors"), 0), "field"), "x0");
    json_decref(j);
    tk_http_response_free(&r);
    /* JSON, but not an object; and no JSON at all */
    tk_gw_request_problem(port, "POST", "/v1/orders", json_ct, "[1,2]", 400, "invalid-order", NULL);
    tk_gw_request_problem(port, "POST", "/v1/orders", json_ct, "", 400, "malformed-json", NULL);

    /* an Idempotency-Key longer than 255 characters */
    char key[300 + 20];
    snprintf(key, sizeof(key), "Idempotency-Key: %0300d", 7);
    const char *long_key[] = {"Content-Type: application/json", key, NULL};
    tk_gw_request_problem(port, "POST", "/v1/orders", long_key, ORDER_OK, 400,
                          "invalid-idempotency-key", NULL);

    /* 413: more than gateway.max_body, announced by Content-Length ... */
    char big[2001];
    memset(big, ' ', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "{\"customerId\":\"", 15);
    memcpy(big + sizeof(big) - 4, "\"}", 2);
    tk_gw_request_problem(port, "POST", "/v1/orders", json_ct, big, 413, "body-too-large", NULL);
    /* ... or found while reading a chunked body */
    char raw[2600];
    int n = snprintf(raw, sizeof(raw),
                     "POST /v1/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "%x\r\n%s\r\n0\r\n\r\n",
                     (unsigned)strlen(big), big);
    assert_true(n > 0 && (size_t)n < sizeof(raw));
    if (tk_http_raw(port, raw, (size_t)n, 0, TK_GW_HTTP_TIMEOUT_MS, &r) != 0)
        fail_msg("chunked POST: no response: %s", r.error);
    j = tk_gw_expect_problem(&r, 413, "body-too-large");
    json_decref(j);
    tk_http_response_free(&r);

    /* 415: not JSON, or no Content-Type at all */
    const char *text[] = {"Content-Type: text/plain", NULL};
    tk_gw_request_problem(port, "POST", "/v1/orders", text, ORDER_OK, 415, "unsupported-media-type",
                          NULL);
    tk_gw_request_problem(port, "POST", "/v1/orders", NULL, ORDER_OK, 415, "unsupported-media-type",
                          NULL);

    /* 405 with Allow */
    tk_gw_request_problem(port, "PUT", "/v1/orders", json_ct, ORDER_OK, 405, "method-not-allowed",
                          "POST");
    tk_gw_request_problem(port, "POST", "/v1/orders/x", json_ct, ORDER_OK, 405,
                          "method-not-allowed", "GET, HEAD");
    tk_gw_request_problem(port, "DELETE", "/healthz", NULL, NULL, 405, "method-not-allowed",
                          "GET, HEAD");

    /* 404: no such resource, no such order */
    tk_gw_request_problem(port, "GET", "/v2/orders", NULL, NULL, 404, "not-found", NULL);
    tk_gw_request_problem(port, "GET", "/v1/orders/never-placed-1", NULL, NULL, 404,
                          "unknown-order", NULL);
    tk_gw_request_problem(port, "GET", "/v1/orders/", NULL, NULL, 404, "unknown-order", NULL);

    /* none of it reached Kafka */
    tk_gw_expect_no_more_orders(orders, 1000);
    fx->done = 1;
}

/* gateway.max_waiting = 2: with two requests waiting (no worker yet), a
 * third POST is 503 with Retry-After while GETs are still served; once a
 * worker answers the two, POSTs are taken again. */
static void test_busy_503_beyond_max_waiting(void **state) {
    tk_fixture *fx = *state;
    tk_http_response r, w[2];
    char placed[2][64], id[160], path[200];
    tk_fx_cluster(fx, 1);
    tk_reader *orders = tk_fx_reader(fx, fx->cluster->cfg.topic_orders);
    const char *extra[] = {"--max-waiting", "2", NULL};
    int port = tk_gw_start_gateway(fx, extra, NULL, START_TIMEOUT_MS, NULL, NULL);

    const char *hdrs[] = {"Content-Type: application/json", "Prefer: wait=20", NULL};
    tk_http_async *a[2];
    for (int i = 0; i < 2; i++)
        a[i] = tk_fx_request(fx, port, "POST", "/v1/orders", hdrs, ORDER_OK, WAITING_TIMEOUT_MS);
    tk_gw_wait_orders(orders, 2, placed, OUTCOME_TIMEOUT_MS); /* both placed: both wait */

    tk_gw_http(port, "POST", "/v1/orders", hdrs, ORDER_OK, &r);
    tk_gw_expect_unavailable(&r, "busy");
    tk_http_response_free(&r);
    snprintf(path, sizeof(path), "/v1/orders/%s", placed[0]);
    tk_gw_http(port, "GET", path, NULL, NULL, &r);
    expect_accepted(&r, id, sizeof(id)); /* still served, and pending */
    assert_string_equal(id, placed[0]);
    tk_http_response_free(&r);
    tk_gw_expect_no_more_orders(orders, 500); /* the 503 placed nothing */

    tk_gw_start_worker(fx, NULL, 0);
    for (int i = 0; i < 2; i++) {
        tk_fx_join(fx, a[i], &w[i]);
        expect_created(&w[i], "ORDER_STATUS_FULFILLED", id, sizeof(id));
        assert_true(strcmp(id, placed[0]) == 0 || strcmp(id, placed[1]) == 0);
        tk_http_response_free(&w[i]);
    }
    tk_gw_http(port, "POST", "/v1/orders", hdrs, ORDER_OK, &r);
    expect_created(&r, "ORDER_STATUS_FULFILLED", id, sizeof(id));
    tk_http_response_free(&r);
    fx->done = 1;
}

/* Kafka down (every mock broker): /readyz turns 503 and a POST is 503 with
 * Retry-After, placing nothing; back up, the gateway takes orders again. */
static void test_kafka_down_503(void **state) {
    tk_fixture *fx = *state;
    tk_http_response r;
    char id[160];
    tk_fx_cluster(fx, 1);
    int port = tk_gw_start_gateway(fx, NULL, NULL, START_TIMEOUT_MS, NULL, NULL);
    readyz_until(port, 200, 1000);

    rd_kafka_mock_cluster_t *mock = devcluster_mock(fx->cluster->dc);
    assert_int_equal(rd_kafka_mock_broker_set_down(mock, MOCK_BROKER), RD_KAFKA_RESP_ERR_NO_ERROR);
    readyz_until(port, 503, 30000);
    tk_gw_expect_get(port, "/healthz", 200); /* alive all the same */
    tk_gw_http(port, "POST", "/v1/orders", json_ct, ORDER_OK, &r);
    tk_gw_expect_unavailable(&r, "kafka-unavailable");
    tk_http_response_free(&r);

    assert_int_equal(rd_kafka_mock_broker_set_up(mock, MOCK_BROKER), RD_KAFKA_RESP_ERR_NO_ERROR);
    readyz_until(port, 200, 30000);
    const char *hdrs[] = {"Content-Type: application/json", "Prefer: respond-async", NULL};
    tk_gw_http(port, "POST", "/v1/orders", hdrs, ORDER_OK, &r);
    expect_accepted(&r, id, sizeof(id));
    tk_http_response_free(&r);
    fx->done = 1;
}

/* A gateway that cannot reach Kafka at start: it listens (liveness) but is
 * not ready and takes no order (503, Retry-After) until it is positioned. */
static void test_not_ready_until_positioned(void **state) {
    tk_fixture *fx = *state;
    tk_http_response r;
    const char *log;
    pid_t gw;
    tk_fx_cluster(fx, 1);
    rd_kafka_mock_cluster_t *mock = devcluster_mock(fx->cluster->dc);
    assert_int_equal(rd_kafka_mock_broker_set_down(mock, MOCK_BROKER), RD_KAFKA_RESP_ERR_NO_ERROR);
    const char *args[] = {"-b", fx->bootstraps, "-l", "127.0.0.1:0", NULL};
    log = tk_fx_log(fx, "gw-gateway-unready");
    gw = tk_fx_spawn(fx, "order-gateway", args, NULL, log, NULL);
    int port = tk_wait_log_number(log, "msg=listening address=127.0.0.1:0 port=", START_TIMEOUT_MS);
    assert_true(port > 0);

    tk_gw_expect_get(port, "/healthz", 200);
    tk_gw_expect_get(port, "/readyz", 503);
    tk_gw_http(port, "POST", "/v1/orders", json_ct, ORDER_OK, &r);
    tk_gw_expect_status(&r, 503);
    json_t *j = tk_gw_body_json(&r);
    const char *type = tk_gw_jstr(j, "type");
    if (strcmp(type, "urn:orderfleet:problem:not-ready") != 0 &&
        strcmp(type, "urn:orderfleet:problem:kafka-unavailable") != 0)
        fail_msg("503 of type %s", type);
    json_decref(j);
    assert_non_null(tk_http_header(&r, "Retry-After"));
    tk_http_response_free(&r);

    assert_int_equal(rd_kafka_mock_broker_set_up(mock, MOCK_BROKER), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(tk_wait_port(log, START_TIMEOUT_MS), port);
    readyz_until(port, 200, START_TIMEOUT_MS);
    assert_int_equal(tk_fx_stop(fx, gw, SIGTERM, 15000), 0);
    fx->done = 1;
}

/* SIGTERM with requests waiting (no worker): each is answered 202 with its
 * Location, and the gateway exits 0. */
static void test_sigterm_answers_waiting_requests(void **state) {
    tk_fixture *fx = *state;
    tk_http_response r;
    char placed[2][64], id[160];
    pid_t gw;
    const char *log;
    tk_fx_cluster(fx, 1);
    tk_reader *orders = tk_fx_reader(fx, fx->cluster->cfg.topic_orders);
    int port = tk_gw_start_gateway(fx, NULL, NULL, START_TIMEOUT_MS, &gw, &log);

    const char *hdrs[] = {"Content-Type: application/json", "Prefer: wait=30", NULL};
    tk_http_async *a[2];
    for (int i = 0; i < 2; i++)
        a[i] = tk_fx_request(fx, port, "POST", "/v1/orders", hdrs, ORDER_OK, WAITING_TIMEOUT_MS);
    tk_gw_wait_orders(orders, 2, placed, OUTCOME_TIMEOUT_MS);

    int64_t t0 = time_mono_ms();
    kill(gw, SIGTERM);
    for (int i = 0; i < 2; i++) {
        tk_fx_join(fx, a[i], &r);
        expect_accepted(&r, id, sizeof(id));
        tk_gw_expect_header(&r, "Preference-Applied", "wait=30");
        assert_true(strcmp(id, placed[0]) == 0 || strcmp(id, placed[1]) == 0);
        tk_http_response_free(&r);
    }
    assert_true(time_mono_ms() - t0 < 10000); /* at once, not at the end of the wait */
    assert_int_equal(tk_fx_wait(fx, gw, 15000), 0);
    assert_int_equal(tk_wait_log(log, "msg=\"stopping: answering waiting requests\" waiting=2", 0),
                     0);
    fx->done = 1;
}

/* Requests that come on a connection opened before SIGTERM, once the
 * gateway is stopping: a new order is refused with 503 and Retry-After, and
 * the problem says why (stopping, not "starting"); the waiting request is
 * answered 202 and the gateway exits 0. */
static void test_orders_refused_while_stopping(void **state) {
    tk_fixture *fx = *state;
    tk_http_response r;
    char err[256], placed[1][64], id[160];
    pid_t gw;
    const char *log;
    tk_fx_cluster(fx, 1);
    tk_reader *orders = tk_fx_reader(fx, fx->cluster->cfg.topic_orders);
    int port = tk_gw_start_gateway(fx, NULL, NULL, START_TIMEOUT_MS, &gw, &log);
    tk_http_conn *c = tk_http_connect(port, TK_GW_HTTP_TIMEOUT_MS, err, sizeof(err));
    if (!c) fail_msg("connect: %s", err);
    if (tk_http_exchange(c, "GET", "/healthz", NULL, NULL, TK_GW_HTTP_TIMEOUT_MS, &r) != 0) {
        tk_http_conn_close(c);
        fail_msg("GET /healthz: %s", r.error);
    }
    tk_gw_expect_status(&r, 200);
    tk_http_response_free(&r);

    const char *hdrs[] = {"Content-Type: application/json", "Prefer: wait=30", NULL};
    tk_http_async *a =
        tk_fx_request(fx, port, "POST", "/v1/orders", hdrs, ORDER_OK, WAITING_TIMEOUT_MS);
    tk_gw_wait_orders(orders, 1, placed, OUTCOME_TIMEOUT_MS);
    kill(gw, SIGTERM);
    const char *stopping = "msg=\"stopping: answering waiting requests\"";
    if (tk_wait_log(log, stopping, TK_GW_HTTP_TIMEOUT_MS) != 0) {
        tk_http_conn_close(c);
        fail_msg("the gateway did not begin to stop");
    }
    int rc = tk_http_exchange(c, "POST", "/v1/orders", hdrs, ORDER_OK, TK_GW_HTTP_TIMEOUT_MS, &r);
    tk_http_conn_close(c);
    if (rc != 0) fail_msg("POST while stopping: no response: %s", r.error);
    tk_gw_expect_status(&r, 503);
    if (!tk_http_header(&r, "Retry-After")) fail_msg("503 without Retry-After");
    tk_gw_expect_header(&r, "Content-Type", "application/problem+json");
    json_t *j = tk_gw_body_json(&r);
    int says_starting = strstr(tk_gw_jstr(j, "detail"), "starting") != NULL;
    if (says_starting) tk_gw_show(&r);
    json_decref(j);
    tk_http_response_free(&r);
    if (says_starting) fail_msg("a stopping gateway's 503 says it is starting");

    tk_fx_join(fx, a, &r);
    expect_accepted(&r, id, sizeof(id));
    assert_string_equal(id, placed[0]);
    tk_http_response_free(&r);
    assert_int_equal(tk_fx_wait(fx, gw, 15000), 0);
    fx->done = 1;
}

/* GET reads the topics: an order placed without the gateway (straight into
 * Kafka) is unknown (404) until the gateway reads it, pending (202) until
 * its outcome is written, then 200 with that outcome.
 *
 * (What a gateway started later reads back is tested against real Kafka in
 * test_e2e_gateway: the mock cluster cannot look offsets up by timestamp,
 * so there a new gateway's history starts at the end of the topics.) */
static void test_history_reads_topics(void **state) {
    tk_fixture *fx = *state;
    tk_http_response r;
    int seen[3] = {0, 0, 0}; /* 404, 202, 200 */
    tk_fx_cluster(fx, 1);
    rd_kafka_t *p = tk_producer(fx->bootstraps);
    int port = tk_gw_start_gateway(fx, NULL, NULL, START_TIMEOUT_MS, NULL, NULL);
    tk_gw_expect_get(port, "/v1/orders/direct-1", 404);

    tk_produce_order(p, fx->cluster->cfg.topic_orders, "direct-1");
    tk_flush(p);
    int64_t deadline = time_mono_ms() + OUTCOME_TIMEOUT_MS;
    for (;;) { /* 404 until the order is read, 202 until its outcome is */
        tk_gw_http(port, "GET", "/v1/orders/direct-1", NULL, NULL, &r);
        if (r.status == 404) seen[0] = 1;
        else if (r.status == 202) seen[1] = 1;
        else if (r.status == 200) break;
        else tk_gw_expect_status(&r, 200);
        tk_http_response_free(&r);
        if (time_mono_ms() >= deadline) fail_msg("direct-1 never answered 200");
        if (seen[1] && !seen[2]) {
            tk_gw_start_worker(fx, NULL, 0); /* pending seen: now let it be processed */
            seen[2] = 1;
        }
        tk_pause_ms(20);
    }
    assert_true(seen[1]); /* the worker only started once GET said pending */
    json_t *j = tk_gw_body_json(&r);
    assert_string_equal(tk_gw_jstr(j, "orderId"), "direct-1");
    assert_string_equal(tk_gw_jstr(j, "status"), "ORDER_STATUS_FULFILLED");
    assert_string_equal(tk_gw_jstr(j, "subtotal"), "899");
    json_decref(j);
    tk_http_response_free(&r);
    rd_kafka_destroy(p);
    fx->done = 1;
}

#define GW_TEST(f) cmocka_unit_test_setup_teardown(f, tk_fixture_setup, tk_fixture_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        GW_TEST(test_post_answers_201_with_outcome),
        GW_TEST(test_respond_async_then_poll),
        GW_TEST(test_prefer_wait_shorter_than_processing),
        GW_TEST(test_idempotency_key),
        GW_TEST(test_known_order_id_not_placed_again),
        GW_TEST(test_bad_reply_502_and_failed_201),
        GW_TEST(test_error_statuses),
        GW_TEST(test_busy_503_beyond_max_waiting),
        GW_TEST(test_kafka_down_503),
        GW_TEST(test_not_ready_until_positioned),
        GW_TEST(test_sigterm_answers_waiting_requests),
        GW_TEST(test_orders_refused_while_stopping),
        GW_TEST(test_history_reads_topics),
    };
    /* TEST_FILTER=<pattern> runs the matching tests only (cmocka: * and ?). */
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
