/* e2e: order-gateway against real Apache Kafka (the ctest fixture's broker):
 * the counter (201) and the buzzer (202, then GET), an idempotent retry, two
 * gateways on the same topics each getting their own replies, and a gateway
 * restarted mid-wait whose successor reads the order back from the topics.
 * Each test has its own topics and worker group; the children are killed
 * by the teardown whatever happens, and their logs shown when a test did not
 * get to its end. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/timeutil.h"
#include "testkit.h"
#include "tkhttp.h"

#define HTTP_TIMEOUT_MS 15000
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

/* ---- fixture ------------------------------------------------------------ */

typedef struct fixture {
    tk_topics topics;
    pid_t pids[8];
    size_t n_pids;
    char logs[8][512];
    size_t n_logs;
    tk_reader *readers[4];
    size_t n_readers;
    tk_http_async *requests[16];
    size_t n_requests;
    int done;
} fixture;

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof(*fx));
    if (!fx) return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    for (size_t i = 0; i < fx->n_pids; i++)
        if (fx->pids[i] > 0) tk_stop(fx->pids[i], SIGKILL, 5000);
    for (size_t i = 0; i < fx->n_requests; i++) {
        if (!fx->requests[i]) continue;
        tk_http_response r;
        tk_http_join(fx->requests[i], &r);
        tk_http_response_free(&r);
    }
    if (!fx->done)
        for (size_t i = 0; i < fx->n_logs; i++) tk_dump_log(fx->logs[i]);
    for (size_t i = 0; i < fx->n_readers; i++) tk_reader_destroy(fx->readers[i]);
    free(fx);
    return 0;
}

/* This test's own topics and worker group, named after it. */
static void fx_topics(fixture *fx, const char *name) {
    char prefix[96];
    snprintf(prefix, sizeof(prefix), "e2e-gw-%s-%d", name, (int)getpid());
    tk_topics_create(tk_e2e_bootstraps(), prefix, 1, &fx->topics);
}

static const char *fx_log(fixture *fx, const char *name) {
    assert_true(fx->n_logs < sizeof(fx->logs) / sizeof(fx->logs[0]));
    char unique[64];
    snprintf(unique, sizeof(unique), "%s-%zu", name, fx->n_logs);
    char *log = fx->logs[fx->n_logs++];
    return tk_log_path(unique, log, sizeof(fx->logs[0]));
}

static pid_t fx_spawn(fixture *fx, const char *prog, const char *const *args, const char *log) {
    assert_true(fx->n_pids < sizeof(fx->pids) / sizeof(fx->pids[0]));
    pid_t pid = tk_spawn_env(prog, args, fx->topics.envp, log, NULL);
    fx->pids[fx->n_pids++] = pid;
    return pid;
}

static void fx_forget(fixture *fx, pid_t pid) {
    for (size_t i = 0; i < fx->n_pids; i++)
        if (fx->pids[i] == pid) fx->pids[i] = 0;
}

static tk_reader *fx_reader(fixture *fx, const char *topic) {
    assert_true(fx->n_readers < sizeof(fx->readers) / sizeof(fx->readers[0]));
    tk_reader *r = tk_reader_new(tk_e2e_bootstraps(), topic);
    fx->readers[fx->n_readers++] = r;
    return r;
}

/* An order-worker on the test's topics, returning once it has partitions. */
static pid_t start_worker(fixture *fx, const char *latency_ms) {
    const char *log = fx_log(fx, "e2e-gw-worker");
    const char *args[] = {"-b", tk_e2e_bootstraps(), "--latency-ms", latency_ms, NULL};
    pid_t pid = fx_spawn(fx, "order-worker", args, log);
    if (tk_wait_log(log, "msg=\"partitions assigned\"", START_TIMEOUT_MS) != 0)
        fail_msg("order-worker got no partitions (log %s)", log);
    return pid;
}

/* An order-gateway on the test's topics and a free port, with extra
 * arguments (may be NULL); returns its port once it is ready. */
static int start_gateway(fixture *fx, const char *const *extra, pid_t *pid) {
    const char *log = fx_log(fx, "e2e-gw-gateway");
    const char *args[16] = {"-b", tk_e2e_bootstraps(), "-l", "127.0.0.1:0"};
    size_t n = 4;
    for (; extra && *extra && n < 15; extra++) args[n++] = *extra;
    args[n] = NULL;
    pid_t p = fx_spawn(fx, "order-gateway", args, log);
    if (pid) *pid = p;
    int port = tk_wait_port(log, START_TIMEOUT_MS);
    if (port <= 0) fail_msg("order-gateway never logged msg=ready (log %s)", log);
    return port;
}

static tk_http_async *fx_start_request(fixture *fx, int port, const char *path,
                                       const char *const *headers, const char *body) {
    assert_true(fx->n_requests < sizeof(fx->requests) / sizeof(fx->requests[0]));
    tk_http_async *a = tk_http_start(port, "POST", path, headers, body, WAITING_TIMEOUT_MS);
    assert_non_null(a);
    fx->requests[fx->n_requests++] = a;
    return a;
}

static void fx_join(fixture *fx, tk_http_async *a, tk_http_response *out) {
    for (size_t i = 0; i < fx->n_requests; i++)
        if (fx->requests[i] == a) fx->requests[i] = NULL;
    if (tk_http_join(a, out) != 0) fail_msg("request without response: %s", out->error);
}

/* ---- HTTP checks -------------------------------------------------------- */

static void show(const tk_http_response *r) {
    fprintf(stderr, "---- response: %d ----\n", r->status);
    for (size_t i = 0; i < r->n_headers; i++)
        fprintf(stderr, "%s: %s\n", r->headers[i].name, r->headers[i].value);
    fprintf(stderr, "\n%s\n", r->body ? r->body : "(no body)");
}

static void http(int port, const char *method, const char *path, const char *const *headers,
                 const char *body, tk_http_response *out) {
    if (tk_http(port, method, path, headers, body, HTTP_TIMEOUT_MS, out) != 0)
        fail_msg("%s %s: no response: %s", method, path, out->error);
}

static void expect_status(const tk_http_response *r, int want) {
    if (r->status == want) return;
    show(r);
    fail_msg("status %d, expected %d", r->status, want);
}

static json_t *body_json(const tk_http_response *r) {
    json_error_t e;
    json_t *j = json_loadb(r->body ? r->body : "", r->body_len, 0, &e);
    if (!j || !json_is_object(j)) {
        show(r);
        fail_msg("the body is not a JSON object: %s", j ? "another JSON value" : e.text);
    }
    return j;
}

static const char *jstr(json_t *j, const char *key) {
    const char *s = json_string_value(json_object_get(j, key));
    if (!s) fail_msg("no string member \"%s\"", key);
    return s;
}

/* The order id of a Location /v1/orders/{id}, copied into id. */
static const char *location_id(const tk_http_response *r, char *id, size_t size) {
    const char *loc = tk_http_header(r, "Location");
    if (!loc || strncmp(loc, "/v1/orders/", 11) != 0 || !loc[11]) {
        show(r);
        fail_msg("no Location /v1/orders/{id}");
    }
    snprintf(id, size, "%s", loc + 11);
    return id;
}

/* 201 with an outcome of status for the order of its Location. */
static const char *expect_created(const tk_http_response *r, const char *status, char *id,
                                  size_t size) {
    expect_status(r, 201);
    location_id(r, id, size);
    json_t *j = body_json(r);
    assert_string_equal(jstr(j, "orderId"), id);
    assert_string_equal(jstr(j, "status"), status);
    json_decref(j);
    return id;
}

/* 202 with Location, Retry-After and the accepted body. */
static const char *expect_accepted(const tk_http_response *r, char *id, size_t size) {
    expect_status(r, 202);
    location_id(r, id, size);
    const char *ra = tk_http_header(r, "Retry-After");
    if (!ra || atoi(ra) < 1) {
        show(r);
        fail_msg("a 202 without a positive Retry-After");
    }
    json_t *j = body_json(r);
    assert_string_equal(jstr(j, "orderId"), id);
    assert_string_equal(jstr(j, "state"), "accepted");
    json_decref(j);
    return id;
}

static void pause_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L}; /* polling a condition */
    nanosleep(&ts, NULL);
}

/* Polls GET path until 200 (202 meanwhile); the 200 goes to out. */
static void get_until_200(int port, const char *path, tk_http_response *out) {
    int64_t deadline = time_mono_ms() + OUTCOME_TIMEOUT_MS;
    for (;;) {
        http(port, "GET", path, NULL, NULL, out);
        if (out->status == 200) return;
        expect_status(out, 202);
        if (time_mono_ms() >= deadline) fail_msg("GET %s still 202", path);
        tk_http_response_free(out);
        pause_ms(50);
    }
}

/* Reads n records from the orders topic; their keys go to ids (may be
 * NULL). */
static void wait_orders(tk_reader *r, size_t n, char ids[][64]) {
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = tk_reader_next(r, OUTCOME_TIMEOUT_MS);
        if (!m) fail_msg("only %zu of %zu orders reached the orders topic", i, n);
        if (ids) snprintf(ids[i], 64, "%.*s", (int)m->key_len, (const char *)m->key);
        rd_kafka_message_destroy(m);
    }
}

/* Fails when another record comes within quiet_ms. */
static void expect_no_more_orders(tk_reader *r, int quiet_ms) {
    rd_kafka_message_t *m = tk_reader_next(r, quiet_ms);
    if (!m) return;
    fprintf(stderr, "unexpected order: %.*s\n", (int)m->key_len, (const char *)m->key);
    rd_kafka_message_destroy(m);
    fail_msg("an order was placed more than once");
}

/* ---- tests -------------------------------------------------------------- */

/* With a worker taking 1.5 s per order: the default wait (5 s) gets the 201
 * and its outcome; Prefer: wait=1 gets the 202, and GET the outcome later;
 * an Idempotency-Key retry joins the wait, a later one gets the outcome,
 * and Kafka holds one order for them. */
static void test_e2e_counter_buzzer_and_retry(void **state) {
    fixture *fx = *state;
    tk_http_response r, g, r2;
    char id[160], id2[160], placed[1][64], path[200];
    fx_topics(fx, "counter");
    tk_reader *orders = fx_reader(fx, fx->topics.orders);
    start_worker(fx, "1500");
    int port = start_gateway(fx, NULL, NULL);

    /* the counter */
    http(port, "POST", "/v1/orders", json_ct, ORDER_OK, &r);
    expect_created(&r, "ORDER_STATUS_FULFILLED", id, sizeof(id));
    json_t *j = body_json(&r);
    assert_string_equal(jstr(j, "total"), "2439");
    snprintf(path, sizeof(path), "/v1/orders/%s", id);
    http(port, "GET", path, NULL, NULL, &g);
    expect_status(&g, 200);
    json_t *jg = body_json(&g);
    assert_true(json_equal(j, jg));
    json_decref(jg);
    json_decref(j);
    tk_http_response_free(&g);
    tk_http_response_free(&r);
    wait_orders(orders, 1, NULL);

    /* the buzzer */
    const char *wait1[] = {"Content-Type: application/json", "Prefer: wait=1", NULL};
    http(port, "POST", "/v1/orders", wait1, ORDER_OK, &r);
    expect_accepted(&r, id, sizeof(id));
    if (!tk_http_header(&r, "Preference-Applied") ||
        strcmp(tk_http_header(&r, "Preference-Applied"), "wait=1") != 0) {
        show(&r);
        fail_msg("no Preference-Applied: wait=1");
    }
    get_until_200(port, tk_http_header(&r, "Location"), &g);
    j = body_json(&g);
    assert_string_equal(jstr(j, "orderId"), id);
    assert_string_equal(jstr(j, "status"), "ORDER_STATUS_FULFILLED");
    json_decref(j);
    tk_http_response_free(&g);
    tk_http_response_free(&r);
    wait_orders(orders, 1, NULL);

    /* the retry */
    const char *keyed[] = {"Content-Type: application/json", "Idempotency-Key: e2e-key-1",
                           "Prefer: wait=20", NULL};
    tk_http_async *first = fx_start_request(fx, port, "/v1/orders", keyed, ORDER_OK);
    wait_orders(orders, 1, placed); /* placed: it waits now */
    http(port, "POST", "/v1/orders", keyed, ORDER_OK, &r2);
    fx_join(fx, first, &r);
    expect_created(&r, "ORDER_STATUS_FULFILLED", id, sizeof(id));
    expect_created(&r2, "ORDER_STATUS_FULFILLED", id2, sizeof(id2));
    assert_string_equal(id, placed[0]);
    assert_string_equal(id2, id);
    tk_http_response_free(&r2);
    http(port, "POST", "/v1/orders", keyed, ORDER_OK, &r2);
    expect_created(&r2, "ORDER_STATUS_FULFILLED", id2, sizeof(id2));
    assert_string_equal(id2, id);
    json_t *a = body_json(&r), *b = body_json(&r2);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
    tk_http_response_free(&r2);
    tk_http_response_free(&r);
    http(port, "POST", "/v1/orders", keyed, ORDER_OTHER, &r);
    expect_status(&r, 422);
    tk_http_response_free(&r);
    expect_no_more_orders(orders, 2000);
    fx->done = 1;
}

/* Two gateways on the same topics, one owning reply partition 3, the other
 * reading every partition and filtering: concurrent POSTs to both all get
 * 201 with their own outcome. An orderId placed through one is answered by
 * the other from its history, not placed again. */
static void test_e2e_two_gateways(void **state) {
    enum { PER_GATEWAY = 5 };
    fixture *fx = *state;
    tk_http_response r;
    char id[160], body[512];
    fx_topics(fx, "two");
    tk_reader *orders = fx_reader(fx, fx->topics.orders);
    start_worker(fx, "200");
    const char *own[] = {"--reply-partition", "3", NULL};
    int port[2];
    port[0] = start_gateway(fx, own, NULL);
    port[1] = start_gateway(fx, NULL, NULL);

    const char *hdrs[] = {"Content-Type: application/json", "Prefer: wait=30", NULL};
    tk_http_async *a[2][PER_GATEWAY];
    for (int i = 0; i < PER_GATEWAY; i++)
        for (int g = 0; g < 2; g++) {
            snprintf(body, sizeof(body),
                     "{\"orderId\":\"e2e-gw%d-%d\",\"customerId\":\"c-%d\",\"currency\":\"EUR\","
                     "\"items\":[{\"sku\":\"BURGER-CLASSIC\",\"quantity\":%d,"
                     "\"unitPrice\":\"899\"}]}",
                     g, i, g, i + 1);
            a[g][i] = fx_start_request(fx, port[g], "/v1/orders", hdrs, body);
        }
    for (int i = 0; i < PER_GATEWAY; i++)
        for (int g = 0; g < 2; g++) {
            char want[64], subtotal[32];
            snprintf(want, sizeof(want), "e2e-gw%d-%d", g, i);
            snprintf(subtotal, sizeof(subtotal), "%d", 899 * (i + 1));
            fx_join(fx, a[g][i], &r);
            expect_created(&r, "ORDER_STATUS_FULFILLED", id, sizeof(id));
            assert_string_equal(id, want);
            json_t *j = body_json(&r);
            assert_string_equal(jstr(j, "subtotal"), subtotal); /* its own outcome */
            json_decref(j);
            tk_http_response_free(&r);
        }
    wait_orders(orders, 2 * PER_GATEWAY, NULL);

    /* gateway 0's order, asked of gateway 1 */
    tk_http_response first;
    http(port[0], "GET", "/v1/orders/e2e-gw0-0", NULL, NULL, &first);
    expect_status(&first, 200);
    snprintf(body, sizeof(body),
             "{\"orderId\":\"e2e-gw0-0\",\"customerId\":\"c-0\",\"currency\":\"EUR\","
             "\"items\":[{\"sku\":\"BURGER-CLASSIC\",\"quantity\":1,\"unitPrice\":\"899\"}]}");
    int64_t deadline = time_mono_ms() + OUTCOME_TIMEOUT_MS;
    for (;;) { /* gateway 1 reads the outcome from the completed topic */
        http(port[1], "GET", "/v1/orders/e2e-gw0-0", NULL, NULL, &r);
        if (r.status == 200) break;
        tk_http_response_free(&r);
        if (time_mono_ms() >= deadline) fail_msg("gateway 1 never learned of e2e-gw0-0");
        pause_ms(50);
    }
    tk_http_response_free(&r);
    http(port[1], "POST", "/v1/orders", json_ct, body, &r);
    expect_created(&r, "ORDER_STATUS_FULFILLED", id, sizeof(id));
    json_t *j1 = body_json(&first), *j2 = body_json(&r);
    assert_true(json_equal(j1, j2));
    json_decref(j1);
    json_decref(j2);
    tk_http_response_free(&r);
    tk_http_response_free(&first);
    expect_no_more_orders(orders, 2000);
    fx->done = 1;
}

/* A gateway stopped while a request waits (the worker takes 3 s): the
 * request gets 202 with its Location and the gateway exits 0; a new gateway
 * knows the order from the topics as soon as it is ready (202 or 200, never
 * 404) and answers 200 once the outcome is written. */
static void test_e2e_gateway_restarted_mid_wait(void **state) {
    fixture *fx = *state;
    tk_http_response r, g;
    char id[160], placed[1][64];
    pid_t gw;
    fx_topics(fx, "restart");
    tk_reader *orders = fx_reader(fx, fx->topics.orders);
    start_worker(fx, "3000");
    int port = start_gateway(fx, NULL, &gw);

    const char *hdrs[] = {"Content-Type: application/json", "Prefer: wait=30", NULL};
    tk_http_async *a = fx_start_request(fx, port, "/v1/orders", hdrs, ORDER_OK);
    wait_orders(orders, 1, placed);
    kill(gw, SIGTERM);
    fx_join(fx, a, &r);
    expect_accepted(&r, id, sizeof(id));
    assert_string_equal(id, placed[0]);
    int rc = tk_wait(gw, 30000);
    if (rc != -1) fx_forget(fx, gw);
    assert_int_equal(rc, 0);

    int port2 = start_gateway(fx, NULL, NULL);
    const char *loc = tk_http_header(&r, "Location");
    http(port2, "GET", loc, NULL, NULL, &g);
    if (g.status != 200 && g.status != 202) {
        show(&g);
        fail_msg("the new gateway does not know the order it was told of (%d)", g.status);
    }
    tk_http_response_free(&g);
    get_until_200(port2, loc, &g);
    json_t *j = body_json(&g);
    assert_string_equal(jstr(j, "orderId"), id);
    assert_string_equal(jstr(j, "status"), "ORDER_STATUS_FULFILLED");
    json_decref(j);
    tk_http_response_free(&g);
    tk_http_response_free(&r);
    fx->done = 1;
}

#define E2E_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        E2E_TEST(test_e2e_counter_buzzer_and_retry),
        E2E_TEST(test_e2e_two_gateways),
        E2E_TEST(test_e2e_gateway_restarted_mid_wait),
    };
    /* TEST_FILTER=<pattern> runs the matching tests only (cmocka: * and ?). */
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
