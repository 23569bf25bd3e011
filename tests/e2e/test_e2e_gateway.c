/* e2e: order-gateway against real Apache Kafka (the ctest fixture's broker):
 * the counter (201) and the buzzer (202, then GET), an idempotent retry, two
 * gateways on the same topics each getting their own replies, a gateway
 * restarted mid-wait whose successor reads the order back from the topics,
 * every error status a client can cause, and 503 busy beyond max-waiting.
 * Each test has its own topics and worker group; the children are killed
 * by the teardown (tk_fixture's) whatever happens, and their logs shown
 * when a test did not get to its end. The checks are test_gateway's
 * (tkgateway.h). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/timeutil.h"
#include "testkit.h"
#include "tkfixture.h"
#include "tkgateway.h"
#include "tkhttp.h"

#define WAITING_TIMEOUT_MS 60000
#define START_TIMEOUT_MS 60000
#define OUTCOME_TIMEOUT_MS 60000

#define ORDER_OK                                                                                \
    "{\"customerId\":\"c-42\",\"currency\":\"EUR\",\"items\":[{\"sku\":\"BURGER-CLASSIC\","  \
    "\"quantity\":2,\"unitPrice\":\"899\"}]}"
#define ORDER_OTHER                                                                             \
    "{\"customerId\":\"c-43\",\"currency\":\"EUR\",\"items\":[{\"sku\":\"BURGER-CLASSIC\","  \
    "\"quantity\":1,\"unitPrice\":\"899\"}]}"

static const char *const json_ct[] = {"Content-Type: application/json", NULL};

/* ---- fixture: a tk_fixture, with this test's own topics ---------------- */

/* This test's own topics and worker group, named after it. */
static void fx_topics(tk_fixture *fx, const char *name) {
    char prefix[96];
    snprintf(prefix, sizeof(prefix), "e2e-gw-%s-%d", name, (int)getpid());
    tk_fx_e2e_topics(fx, prefix);
}

/* Fails unless the list of schema violations of problem j names each of
 * fields (n of them) exactly once with a reason, and nothing else; their
 * order is not checked. */
static void expect_violations(json_t *j, const char *const *fields, size_t n) {
    json_t *errs = json_object_get(j, "errors");
    assert_true(json_is_array(errs));
    assert_int_equal(json_array_size(errs), n);
    assert_int_equal(json_integer_value(json_object_get(j, "errorCount")), n);
    for (size_t i = 0; i < n; i++) {
        size_t seen = 0;
        for (size_t k = 0; k < n; k++) {
            json_t *e = json_array_get(errs, k);
            if (strcmp(tk_gw_jstr(e, "field"), fields[i]) != 0) continue;
            assert_true(strlen(tk_gw_jstr(e, "reason")) > 0);
            seen++;
        }
        if (seen != 1)
            fail_msg("field %s named %zu times in errors, expected once", fields[i], seen);
    }
}

/* A POST /v1/orders that was taken: 201 with a FULFILLED outcome, or 202
 * when its wait ended first. Returns the order id, copied into id. */
static const char *expect_taken(const tk_http_response *r, char *id, size_t size) {
    if (r->status == 202) return tk_gw_expect_accepted(r, id, size);
    return tk_gw_expect_created(r, "ORDER_STATUS_FULFILLED", id, size);
}

/* ---- tests -------------------------------------------------------------- */

/* With a worker taking 1.5 s per order: the default wait (5 s) gets the 201
 * and its outcome; Prefer: wait=1 gets the 202, and GET the outcome later;
 * an Idempotency-Key retry joins the wait, a later one gets the outcome,
 * and Kafka holds one order for them. */
static void test_e2e_counter_buzzer_and_retry(void **state) {
    tk_fixture *fx = *state;
    tk_http_response r, g, r2;
    char id[160], id2[160], placed[1][64], path[200];
    fx_topics(fx, "counter");
    tk_reader *orders = tk_fx_reader(fx, fx->topics.orders);
    tk_gw_start_worker(fx, "1500", START_TIMEOUT_MS);
    int port = tk_gw_start_gateway(fx, NULL, NULL, START_TIMEOUT_MS, NULL, NULL);

    /* the counter */
    tk_gw_http(port, "POST", "/v1/orders", json_ct, ORDER_OK, &r);
    tk_gw_expect_created(&r, "ORDER_STATUS_FULFILLED", id, sizeof(id));
    json_t *j = tk_gw_body_json(&r);
    assert_string_equal(tk_gw_jstr(j, "total"), "2439");
    snprintf(path, sizeof(path), "/v1/orders/%s", id);
    tk_gw_http(port, "GET", path, NULL, NULL, &g);
    tk_gw_expect_status(&g, 200);
    json_t *jg = tk_gw_body_json(&g);
    assert_true(json_equal(j, jg));
    json_decref(jg);
    json_decref(j);
    tk_http_response_free(&g);
    tk_http_response_free(&r);
    tk_gw_wait_orders(orders, 1, NULL, OUTCOME_TIMEOUT_MS);

    /* the buzzer */
    const char *wait1[] = {"Content-Type: application/json", "Prefer: wait=1", NULL};
    tk_gw_http(port, "POST", "/v1/orders", wait1, ORDER_OK, &r);
    tk_gw_expect_accepted(&r, id, sizeof(id));
    tk_gw_expect_header(&r, "Preference-Applied", "wait=1");
    j = tk_gw_poll_outcome(port, tk_http_header(&r, "Location"), id, "ORDER_STATUS_FULFILLED",
                           OUTCOME_TIMEOUT_MS);
    json_decref(j);
    tk_http_response_free(&r);
    tk_gw_wait_orders(orders, 1, NULL, OUTCOME_TIMEOUT_MS);

    /* the retry */
    const char *keyed[] = {"Content-Type: application/json", "Idempotency-Key: e2e-key-1",
                           "Prefer: wait=20", NULL};
    tk_http_async *first =
        tk_fx_request(fx, port, "POST", "/v1/orders", keyed, ORDER_OK, WAITING_TIMEOUT_MS);
    tk_gw_wait_orders(orders, 1, placed, OUTCOME_TIMEOUT_MS); /* placed: it waits now */
    tk_gw_http(port, "POST", "/v1/orders", keyed, ORDER_OK, &r2);
    tk_fx_join(fx, first, &r);
    tk_gw_expect_created(&r, "ORDER_STATUS_FULFILLED", id, sizeof(id));
    tk_gw_expect_created(&r2, "ORDER_STATUS_FULFILLED", id2, sizeof(id2));
    assert_string_equal(id, placed[0]);
    assert_string_equal(id2, id);
    tk_http_response_free(&r2);
    tk_gw_http(port, "POST", "/v1/orders", keyed, ORDER_OK, &r2);
    tk_gw_expect_created(&r2, "ORDER_STATUS_FULFILLED", id2, sizeof(id2));
    assert_string_equal(id2, id);
    json_t *a = tk_gw_body_json(&r), *b = tk_gw_body_json(&r2);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    tk_http_response_free(&r2);
    tk_http_response_free(&r);
    tk_gw_http(port, "POST", "/v1/orders", keyed, ORDER_OTHER, &r);
    tk_gw_expect_status(&r, 422);
    tk_http_response_free(&r);
    tk_gw_expect_no_more_orders(orders, 2000);
    fx->done = 1;
}

/* Two gateways on the same topics, one owning reply partition 3, the other
 * reading every partition and filtering: concurrent POSTs to both all get
 * 201 with their own outcome. An orderId placed through one is answered by
 * the other from its history, not placed again. */
static void test_e2e_two_gateways(void **state) {
    enum { PER_GATEWAY = 5 };
    tk_fixture *fx = *state;
    tk_http_response r;
    char id[160], body[512];
    fx_topics(fx, "two");
    tk_reader *orders = tk_fx_reader(fx, fx->topics.orders);
    tk_gw_start_worker(fx, "200", START_TIMEOUT_MS);
    const char *own[] = {"--reply-partition", "3", NULL};
    int port[2];
    port[0] = tk_gw_start_gateway(fx, own, NULL, START_TIMEOUT_MS, NULL, NULL);
    port[1] = tk_gw_start_gateway(fx, NULL, NULL, START_TIMEOUT_MS, NULL, NULL);

    const char *hdrs[] = {"Content-Type: application/json", "Prefer: wait=30", NULL};
    tk_http_async *a[2][PER_GATEWAY];
    for (int i = 0; i < PER_GATEWAY; i++)
        for (int g = 0; g < 2; g++) {
            snprintf(body, sizeof(body),
                     "{\"orderId\":\"e2e-gw%d-%d\",\"customerId\":\"c-%d\",\"currency\":\"EUR\","
                     "\"items\":[{\"sku\":\"BURGER-CLASSIC\",\"quantity\":%d,"
                     "\"unitPrice\":\"899\"}]}",
                     g, i, g, i + 1);
            a[g][i] =
                tk_fx_request(fx, port[g], "POST", "/v1/orders", hdrs, body, WAITING_TIMEOUT_MS);
        }
    for (int i = 0; i < PER_GATEWAY; i++)
        for (int g = 0; g < 2; g++) {
            char want[64], subtotal[32];
            snprintf(want, sizeof(want), "e2e-gw%d-%d", g, i);
            snprintf(subtotal, sizeof(subtotal), "%d", 899 * (i + 1));
            tk_fx_join(fx, a[g][i], &r);
            tk_gw_expect_created(&r, "ORDER_STATUS_FULFILLED", id, sizeof(id));
            assert_string_equal(id, want);
            json_t *j = tk_gw_body_json(&r);
            assert_string_equal(tk_gw_jstr(j, "subtotal"), subtotal); /* its own outcome */
            json_decref(j);
            tk_http_response_free(&r);
        }
    tk_gw_wait_orders(orders, 2 * PER_GATEWAY, NULL, OUTCOME_TIMEOUT_MS);

    /* gateway 0's order, asked of gateway 1 */
    tk_http_response first;
    tk_gw_http(port[0], "GET", "/v1/orders/e2e-gw0-0", NULL, NULL, &first);
    tk_gw_expect_status(&first, 200);
    snprintf(body, sizeof(body),
             "{\"orderId\":\"e2e-gw0-0\",\"customerId\":\"c-0\",\"currency\":\"EUR\","
             "\"items\":[{\"sku\":\"BURGER-CLASSIC\",\"quantity\":1,\"unitPrice\":\"899\"}]}");
    int64_t deadline = time_mono_ms() + OUTCOME_TIMEOUT_MS;
    for (;;) { /* gateway 1 reads the outcome from the completed topic */
        tk_gw_http(port[1], "GET", "/v1/orders/e2e-gw0-0", NULL, NULL, &r);
        if (r.status == 200) break;
        tk_http_response_free(&r);
        if (time_mono_ms() >= deadline) fail_msg("gateway 1 never learned of e2e-gw0-0");
        tk_pause_ms(50);
    }
    tk_http_response_free(&r);
    tk_gw_http(port[1], "POST", "/v1/orders", json_ct, body, &r);
    tk_gw_expect_created(&r, "ORDER_STATUS_FULFILLED", id, sizeof(id));
    json_t *j1 = tk_gw_body_json(&first), *j2 = tk_gw_body_json(&r);
    assert_true(json_equal(j1, j2));
    json_decref(j1);
    json_decref(j2);
    tk_http_response_free(&r);
    tk_http_response_free(&first);
    tk_gw_expect_no_more_orders(orders, 2000);
    fx->done = 1;
}

/* A gateway stopped while a request waits (the worker takes 3 s): the
 * request gets 202 with its Location and the gateway exits 0; a new gateway
 * knows the order from the topics as soon as it is ready (202 or 200, never
 * 404) and answers 200 once the outcome is written. */
static void test_e2e_gateway_restarted_mid_wait(void **state) {
    tk_fixture *fx = *state;
    tk_http_response r, g;
    char id[160], placed[1][64];
    pid_t gw;
    fx_topics(fx, "restart");
    tk_reader *orders = tk_fx_reader(fx, fx->topics.orders);
    tk_gw_start_worker(fx, "3000", START_TIMEOUT_MS);
    int port = tk_gw_start_gateway(fx, NULL, NULL, START_TIMEOUT_MS, &gw, NULL);

    const char *hdrs[] = {"Content-Type: application/json", "Prefer: wait=30", NULL};
    tk_http_async *a =
        tk_fx_request(fx, port, "POST", "/v1/orders", hdrs, ORDER_OK, WAITING_TIMEOUT_MS);
    tk_gw_wait_orders(orders, 1, placed, OUTCOME_TIMEOUT_MS);
    kill(gw, SIGTERM);
    tk_fx_join(fx, a, &r);
    tk_gw_expect_accepted(&r, id, sizeof(id));
    assert_string_equal(id, placed[0]);
    assert_int_equal(tk_fx_wait(fx, gw, 30000), 0);

    int port2 = tk_gw_start_gateway(fx, NULL, NULL, START_TIMEOUT_MS, NULL, NULL);
    const char *loc = tk_http_header(&r, "Location");
    tk_gw_http(port2, "GET", loc, NULL, NULL, &g);
    if (g.status != 200 && g.status != 202) {
        tk_gw_show(&g);
        fail_msg("the new gateway does not know the order it was told of (%d)", g.status);
    }
    tk_http_response_free(&g);
    json_t *j = tk_gw_poll_outcome(port2, loc, id, "ORDER_STATUS_FULFILLED", OUTCOME_TIMEOUT_MS);
    json_decref(j);
    tk_http_response_free(&r);
    fx->done = 1;
}

/* Every error a client can cause, over real HTTP against a gateway on real
 * Kafka (no worker: nothing here needs an outcome), each a problem+json of
 * its own type; only the one order taken (202, with an Idempotency-Key)
 * reaches the orders topic, and that key with another body is 422. */
static void test_error_statuses_on_kafka(void **state) {
    enum { BIG = 65536 + 4096 }; /* beyond the default gateway.max_body */
    tk_fixture *fx = *state;
    tk_http_response r;
    char id[160], placed[1][64];
    fx_topics(fx, "errors");
    tk_reader *orders = tk_fx_reader(fx, fx->topics.orders);
    int port = tk_gw_start_gateway(fx, NULL, NULL, START_TIMEOUT_MS, NULL, NULL);

    /* 400 malformed JSON, with where */
    tk_gw_expect_malformed_at(port, "{\"customerId\":\"c-1\",", 1, 20);
    tk_gw_expect_malformed_at(port, "{\n  \"currency\": \"EUR\",\n  \"items\": [}\n}", 3, 11);

    /* 400 schema violations, each by field */
    tk_gw_http(port, "POST", "/v1/orders", json_ct,
               "{\"customerId\":\"c-1\",\"currency\":7,\"items\":["
               "{\"sku\":\"BURGER-CLASSIC\",\"quantity\":1,\"unitPrice\":\"899\"},"
               "{\"sku\":\"FRIES\",\"quantity\":1.5,\"unitPrice\":\"abc\"}],"
               "\"placedAtMs\":\"soon\"}",
               &r);
    json_t *j = tk_gw_expect_problem(&r, 400, "invalid-order");
    const char *fields[] = {"currency", "items[1].quantity", "items[1].unitPrice", "placedAtMs"};
    expect_violations(j, fields, sizeof(fields) / sizeof(fields[0]));
    json_decref(j);
    tk_http_response_free(&r);

    /* 413: more than the default 64 KiB */
    char *big = malloc(BIG + 1);
    assert_non_null(big);
    memset(big, ' ', BIG);
    big[BIG] = '\0';
    memcpy(big, "{\"customerId\":\"", 15);
    memcpy(big + BIG - 2, "\"}", 2);
    tk_gw_http(port, "POST", "/v1/orders", json_ct, big, &r);
    free(big);
    j = tk_gw_expect_problem(&r, 413, "body-too-large");
    json_decref(j);
    tk_http_response_free(&r);

    /* 415: another media type, or none */
    const char *xml[] = {"Content-Type: application/xml", NULL};
    tk_gw_request_problem(port, "POST", "/v1/orders", xml, ORDER_OK, 415, "unsupported-media-type",
                          NULL);
    tk_gw_request_problem(port, "POST", "/v1/orders", NULL, ORDER_OK, 415, "unsupported-media-type",
                          NULL);

    /* 405 with Allow, on both routes */
    tk_gw_request_problem(port, "DELETE", "/v1/orders", NULL, NULL, 405, "method-not-allowed",
                          "POST");
    tk_gw_request_problem(port, "PUT", "/v1/orders/e2e-some-order", json_ct, ORDER_OK, 405,
                          "method-not-allowed", "GET, HEAD");

    /* 404: no such path, no such order */
    tk_gw_request_problem(port, "GET", "/v1/order", NULL, NULL, 404, "not-found", NULL);
    tk_gw_request_problem(port, "GET", "/v1/orders/e2e-never-placed", NULL, NULL, 404,
                          "unknown-order", NULL);

    /* 422: an Idempotency-Key taken (202 at once), then reused for another
     * body */
    const char *keyed[] = {"Content-Type: application/json", "Idempotency-Key: e2e-errors-key",
                           "Prefer: respond-async", NULL};
    tk_gw_http(port, "POST", "/v1/orders", keyed, ORDER_OK, &r);
    tk_gw_expect_accepted(&r, id, sizeof(id));
    tk_http_response_free(&r);
    tk_gw_request_problem(port, "POST", "/v1/orders", keyed, ORDER_OTHER, 422,
                          "idempotency-key-reused", NULL);

    /* on the topic: the order taken, and nothing else */
    tk_gw_wait_orders(orders, 1, placed, OUTCOME_TIMEOUT_MS);
    assert_string_equal(placed[0], id);
    tk_gw_expect_no_more_orders(orders, 1000);
    fx->done = 1;
}

/* --max-waiting 2 and no worker yet: with two requests waiting (both on the
 * orders topic), a third POST is 503 busy with Retry-After and places
 * nothing, while GET is still served; once a worker answers the two, a new
 * POST is taken again. */
static void test_overload_503_on_kafka(void **state) {
    tk_fixture *fx = *state;
    tk_http_response r;
    char placed[3][64], id[160], path[200];
    fx_topics(fx, "busy");
    tk_reader *orders = tk_fx_reader(fx, fx->topics.orders);
    const char *extra[] = {"--max-waiting", "2", NULL};
    int port = tk_gw_start_gateway(fx, extra, NULL, START_TIMEOUT_MS, NULL, NULL);

    const char *hdrs[] = {"Content-Type: application/json", "Prefer: wait=20", NULL};
    tk_http_async *a[2];
    for (int i = 0; i < 2; i++)
        a[i] = tk_fx_request(fx, port, "POST", "/v1/orders", hdrs, ORDER_OK, WAITING_TIMEOUT_MS);
    tk_gw_wait_orders(orders, 2, placed, OUTCOME_TIMEOUT_MS); /* both placed: both wait */

    tk_gw_http(port, "POST", "/v1/orders", hdrs, ORDER_OTHER, &r);
    tk_gw_expect_unavailable(&r, "busy");
    tk_http_response_free(&r);
    snprintf(path, sizeof(path), "/v1/orders/%s", placed[1]);
    tk_gw_http(port, "GET", path, NULL, NULL, &r);
    tk_gw_expect_accepted(&r, id, sizeof(id)); /* served while full, and pending */
    assert_string_equal(id, placed[1]);
    tk_http_response_free(&r);
    tk_gw_expect_no_more_orders(orders, 500); /* the 503 placed nothing */

    tk_gw_start_worker(fx, NULL, 0);
    for (int i = 0; i < 2; i++) {
        tk_fx_join(fx, a[i], &r);
        expect_taken(&r, id, sizeof(id));
        assert_true(strcmp(id, placed[0]) == 0 || strcmp(id, placed[1]) == 0);
        tk_http_response_free(&r);
    }
    tk_gw_http(port, "POST", "/v1/orders", hdrs, ORDER_OTHER, &r);
    expect_taken(&r, id, sizeof(id));
    tk_http_response_free(&r);
    tk_gw_wait_orders(orders, 1, placed + 2, OUTCOME_TIMEOUT_MS);
    assert_string_equal(placed[2], id);
    fx->done = 1;
}

#define E2E_TEST(f) cmocka_unit_test_setup_teardown(f, tk_fixture_setup, tk_fixture_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        E2E_TEST(test_e2e_counter_buzzer_and_retry),   E2E_TEST(test_e2e_two_gateways),
        E2E_TEST(test_e2e_gateway_restarted_mid_wait), E2E_TEST(test_error_statuses_on_kafka),
        E2E_TEST(test_overload_503_on_kafka),
    };
    /* TEST_FILTER=<pattern> runs the matching tests only (cmocka: * and ?). */
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
