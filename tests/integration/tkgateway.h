/* tkgateway: what the tests of order-gateway share, on the mock cluster
 * (tests/integration/test_gateway.c) and on real Kafka
 * (tests/e2e/test_e2e_gateway.c) alike: order-worker and order-gateway
 * started as children of a tk_fixture, requests that must be answered,
 * checks of the answers (status, headers, JSON bodies, the 201 and 202 of
 * POST /v1/orders, problem+json), and the orders topic as the proof of what
 * was placed.
 *
 * Every check fails the test with cmocka, so it belongs on the test's
 * thread; a check that fails prints the response first. */
#ifndef ORDERFLEET_TKGATEWAY_H
#define ORDERFLEET_TKGATEWAY_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "tkfixture.h"
#include "tkhttp.h"

/* For an answer that should come at once (or within the request's wait). */
#define TK_GW_HTTP_TIMEOUT_MS 15000

/* ---- the programs ------------------------------------------------------- */

/* An order-worker on the fixture's Kafka, its log recorded, processing
 * each order for latency_ms (NULL: no latency). assigned_ms > 0: returns
 * once its group has given it partitions (so that orders are processed at
 * once), failing the test when that takes longer; 0: at once. */
pid_t tk_gw_start_worker(tk_fixture *fx, const char *latency_ms, int assigned_ms);

/* An order-gateway on the fixture's Kafka and a free port of 127.0.0.1,
 * with extra arguments (NULL-terminated, may be NULL) and env (NULL: the
 * fixture's). Waits at most ready_ms until it logs msg=ready (failing the
 * test if it does not) and returns its port; *pid and *log (each may be
 * NULL) get the child and its log path (valid until the teardown). */
int tk_gw_start_gateway(tk_fixture *fx, const char *const *extra, const char *const *env,
                        int ready_ms, pid_t *pid, const char **log);

/* ---- requests and checks ------------------------------------------------ */

/* Prints a response to stderr: status, headers and body. */
void tk_gw_show(const tk_http_response *r);

/* One request to 127.0.0.1:port that must get a response (any status)
 * within TK_GW_HTTP_TIMEOUT_MS; fails the test when none came. Free out with
 * tk_http_response_free(). */
void tk_gw_http(int port, const char *method, const char *path, const char *const *headers,
                const char *body, tk_http_response *out);

/* GET path, which must be answered want; the answer is freed. */
void tk_gw_expect_get(int port, const char *path, int want);

/* Fails unless the status is want. */
void tk_gw_expect_status(const tk_http_response *r, int want);

/* Fails unless header name is there with the value want. */
void tk_gw_expect_header(const tk_http_response *r, const char *name, const char *want);

/* Fails when header name is there. */
void tk_gw_expect_no_header(const tk_http_response *r, const char *name);

/* The body as a JSON object; fails the test when it is not one. The caller
 * decrefs it. */
json_t *tk_gw_body_json(const tk_http_response *r);

/* The string member key of j (valid while j is); fails the test, printing
 * j, when there is none. */
const char *tk_gw_jstr(json_t *j, const char *key);

/* A problem+json answer (RFC 9457) with status and type
 * "urn:orderfleet:problem:<slug>", a title and a detail. Returns the body
 * for more checks (the caller decrefs it). */
json_t *tk_gw_expect_problem(const tk_http_response *r, int status, const char *slug);

/* One request whose answer must be a problem of status and slug
 * (tk_gw_expect_problem()) and, when allow is not NULL, carry Allow: allow.
 * Nothing more is checked; the answer is freed. */
void tk_gw_request_problem(int port, const char *method, const char *path,
                           const char *const *headers, const char *body, int status,
                           const char *slug, const char *allow);

/* POST /v1/orders of body (application/json), answered 400 malformed-json
 * with the error placed at line and at least min_column. */
void tk_gw_expect_malformed_at(int port, const char *body, int line, int min_column);

/* A 503 problem of slug with a positive Retry-After. */
void tk_gw_expect_unavailable(const tk_http_response *r, const char *slug);

/* The order id of a Location /v1/orders/{id}; fails the test when there is
 * no such Location. Points into the response. */
const char *tk_gw_location_id(const tk_http_response *r);

/* A 201 of POST /v1/orders: Location, and an outcome of status for the
 * order it names. Returns the order id, copied into id. */
const char *tk_gw_expect_created(const tk_http_response *r, const char *status, char *id,
                                 size_t size);

/* A 202 of POST (or GET) /v1/orders: Location, a positive Retry-After and
 * the accepted body naming the same order. Returns the order id, copied
 * into id. */
const char *tk_gw_expect_accepted(const tk_http_response *r, char *id, size_t size);

/* Polls GET path (every 50 ms, for at most timeout_ms) until it answers
 * 200; each answer before that must be a 202 of a pending order. The 200
 * goes to out. */
void tk_gw_get_until_200(int port, const char *path, int timeout_ms, tk_http_response *out);

/* tk_gw_get_until_200(), and the outcome is of order id with status.
 * Returns the outcome (the caller decrefs it); the response is freed. */
json_t *tk_gw_poll_outcome(int port, const char *path, const char *id, const char *status,
                           int timeout_ms);

/* ---- the orders topic --------------------------------------------------- */

/* Reads n records from the orders topic, each within timeout_ms (the
 * gateway has placed them: it waits for their replies now), and copies
 * their keys into ids (may be NULL). Fails the test when one is missing. */
void tk_gw_wait_orders(tk_reader *r, size_t n, char ids[][64], int timeout_ms);

/* Fails when another record comes within quiet_ms: nothing more was
 * placed. */
void tk_gw_expect_no_more_orders(tk_reader *r, int quiet_ms);

#endif
