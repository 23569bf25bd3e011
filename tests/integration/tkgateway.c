#define _POSIX_C_SOURCE 200809L
#include "tkgateway.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/timeutil.h"

/* ---- the programs ------------------------------------------------------- */

pid_t tk_gw_start_worker(tk_fixture *fx, const char *latency_ms, int assigned_ms) {
    const char *log = tk_fx_log(fx, "gw-worker");
    const char *args[] = {"-b", fx->bootstraps, "--latency-ms", latency_ms ? latency_ms : "0",
                          NULL};
    pid_t pid = tk_fx_spawn(fx, "order-worker", args, NULL, log, NULL);
    if (assigned_ms > 0 && tk_wait_log(log, "msg=\"partitions assigned\"", assigned_ms) != 0)
        fail_msg("order-worker got no partitions (log %s)", log);
    return pid;
}

int tk_gw_start_gateway(tk_fixture *fx, const char *const *extra, const char *const *env,
                        int ready_ms, pid_t *pid, const char **logp) {
    const char *log = tk_fx_log(fx, "gw-gateway");
    const char *args[24] = {"-b", fx->bootstraps, "-l", "127.0.0.1:0"};
    size_t n = 4;
    for (; extra && *extra && n < 23; extra++) args[n++] = *extra;
    args[n] = NULL;
    pid_t p = tk_fx_spawn(fx, "order-gateway", args, env, log, NULL);
    if (pid) *pid = p;
    if (logp) *logp = log;
    int port = tk_wait_port(log, ready_ms);
    if (port <= 0) fail_msg("order-gateway never logged msg=ready (log %s)", log);
    return port;
}

/* ---- requests and checks ------------------------------------------------ */

void tk_gw_show(const tk_http_response *r) {
    fprintf(stderr, "---- response: %d ----\n", r->status);
    for (size_t i = 0; i < r->n_headers; i++)
        fprintf(stderr, "%s: %s\n", r->headers[i].name, r->headers[i].value);
    fprintf(stderr, "\n%s\n", r->body ? r->body : "(no body)");
}

void tk_gw_http(int port, const char *method, const char *path, const char *const *headers,
                const char *body, tk_http_response *out) {
    if (tk_http(port, method, path, headers, body, TK_GW_HTTP_TIMEOUT_MS, out) != 0)
        fail_msg("%s %s: no response: %s", method, path, out->error);
}

void tk_gw_expect_get(int port, const char *path, int want) {
    tk_http_response r;
    tk_gw_http(port, "GET", path, NULL, NULL, &r);
    tk_gw_expect_status(&r, want);
    tk_http_response_free(&r);
}

void tk_gw_expect_status(const tk_http_response *r, int want) {
    if (r->status == want) return;
    tk_gw_show(r);
    fail_msg("status %d, expected %d", r->status, want);
}

void tk_gw_expect_header(const tk_http_response *r, const char *name, const char *want) {
    const char *v = tk_http_header(r, name);
    if (v && strcmp(v, want) == 0) return;
    tk_gw_show(r);
    fail_msg("header %s is \"%s\", expected \"%s\"", name, v ? v : "(absent)", want);
}

void tk_gw_expect_no_header(const tk_http_response *r, const char *name) {
    const char *v = tk_http_header(r, name);
    if (!v) return;
    tk_gw_show(r);
    fail_msg("unexpected header %s: %s", name, v);
}

json_t *tk_gw_body_json(const tk_http_response *r) {
    json_error_t e;
    json_t *j = json_loadb(r->body ? r->body : "", r->body_len, 0, &e);
    if (!j || !json_is_object(j)) {
        tk_gw_show(r);
        fail_msg("the body is not a JSON object: %s", j ? "another JSON value" : e.text);
    }
    return j;
}

const char *tk_gw_jstr(json_t *j, const char *key) {
    const char *s = json_string_value(json_object_get(j, key));
    if (!s) {
        char *dump = json_dumps(j, JSON_COMPACT);
        fprintf(stderr, "%s\n", dump ? dump : "?");
        free(dump);
        fail_msg("no string member \"%s\"", key);
    }
    return s;
}

json_t *tk_gw_expect_problem(const tk_http_response *r, int status, const char *slug) {
    tk_gw_expect_status(r, status);
    tk_gw_expect_header(r, "Content-Type", "application/problem+json");
    json_t *j = tk_gw_body_json(r);
    char type[128];
    snprintf(type, sizeof(type), "urn:orderfleet:problem:%s", slug);
    assert_string_equal(tk_gw_jstr(j, "type"), type);
    assert_true(strlen(tk_gw_jstr(j, "title")) > 0);
    assert_true(strlen(tk_gw_jstr(j, "detail")) > 0);
    assert_int_equal(json_integer_value(json_object_get(j, "status")), status);
    return j;
}

void tk_gw_request_problem(int port, const char *method, const char *path,
                           const char *const *headers, const char *body, int status,
                           const char *slug, const char *allow) {
    tk_http_response r;
    tk_gw_http(port, method, path, headers, body, &r);
    json_t *j = tk_gw_expect_problem(&r, status, slug);
    if (allow) tk_gw_expect_header(&r, "Allow", allow);
    json_decref(j);
    tk_http_response_free(&r);
}

void tk_gw_expect_malformed_at(int port, const char *body, int line, int min_column) {
    static const char *const json_ct[] = {"Content-Type: application/json", NULL};
    tk_http_response r;
    tk_gw_http(port, "POST", "/v1/orders", json_ct, body, &r);
    json_t *j = tk_gw_expect_problem(&r, 400, "malformed-json");
    assert_int_equal(json_integer_value(json_object_get(j, "line")), line);
    assert_true(json_integer_value(json_object_get(j, "column")) >= min_column);
    json_decref(j);
    tk_http_response_free(&r);
}

void tk_gw_expect_unavailable(const tk_http_response *r, const char *slug) {
    json_t *j = tk_gw_expect_problem(r, 503, slug);
    const char *ra = tk_http_header(r, "Retry-After");
    if (!ra || atoi(ra) < 1) {
        tk_gw_show(r);
        fail_msg("503 without a positive Retry-After");
    }
    json_decref(j);
}

const char *tk_gw_location_id(const tk_http_response *r) {
    const char *loc = tk_http_header(r, "Location");
    if (!loc || strncmp(loc, "/v1/orders/", 11) != 0 || !loc[11]) {
        tk_gw_show(r);
        fail_msg("no Location /v1/orders/{id}");
    }
    return loc + 11;
}

const char *tk_gw_expect_created(const tk_http_response *r, const char *status, char *id,
                                 size_t size) {
    tk_gw_expect_status(r, 201);
    snprintf(id, size, "%s", tk_gw_location_id(r));
    json_t *j = tk_gw_body_json(r);
    assert_string_equal(tk_gw_jstr(j, "orderId"), id);
    assert_string_equal(tk_gw_jstr(j, "status"), status);
    json_decref(j);
    return id;
}

const char *tk_gw_expect_accepted(const tk_http_response *r, char *id, size_t size) {
    tk_gw_expect_status(r, 202);
    snprintf(id, size, "%s", tk_gw_location_id(r));
    const char *ra = tk_http_header(r, "Retry-After");
    if (!ra || atoi(ra) < 1) {
        tk_gw_show(r);
        fail_msg("a 202 without a positive Retry-After");
    }
    json_t *j = tk_gw_body_json(r);
    assert_string_equal(tk_gw_jstr(j, "orderId"), id);
    assert_string_equal(tk_gw_jstr(j, "state"), "accepted");
    json_decref(j);
    return id;
}

void tk_gw_get_until_200(int port, const char *path, int timeout_ms, tk_http_response *out) {
    int64_t deadline = time_mono_ms() + timeout_ms;
    for (;;) {
        tk_gw_http(port, "GET", path, NULL, NULL, out);
        if (out->status == 200) return;
        tk_gw_expect_status(out, 202);
        if (time_mono_ms() >= deadline) fail_msg("GET %s still 202 after %d ms", path, timeout_ms);
        tk_http_response_free(out);
        tk_pause_ms(50);
    }
}

json_t *tk_gw_poll_outcome(int port, const char *path, const char *id, const char *status,
                           int timeout_ms) {
    tk_http_response g;
    tk_gw_get_until_200(port, path, timeout_ms, &g);
    json_t *j = tk_gw_body_json(&g);
    tk_http_response_free(&g);
    assert_string_equal(tk_gw_jstr(j, "orderId"), id);
    assert_string_equal(tk_gw_jstr(j, "status"), status);
    return j;
}

/* ---- the orders topic --------------------------------------------------- */

void tk_gw_wait_orders(tk_reader *r, size_t n, char ids[][64], int timeout_ms) {
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = tk_reader_next(r, timeout_ms);
        if (!m) fail_msg("only %zu of %zu orders reached the orders topic", i, n);
        if (ids) snprintf(ids[i], 64, "%.*s", (int)m->key_len, (const char *)m->key);
        rd_kafka_message_destroy(m);
    }
}

void tk_gw_expect_no_more_orders(tk_reader *r, int quiet_ms) {
    rd_kafka_message_t *m = tk_reader_next(r, quiet_ms);
    if (!m) return;
    fprintf(stderr, "unexpected order: %.*s\n", (int)m->key_len, (const char *)m->key);
    rd_kafka_message_destroy(m);
    fail_msg("an order was placed that should not have been");
}
