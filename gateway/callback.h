/* callback: the buzzer that calls you (issue 9). An order placed with a
 * `callbackUrl` gets its outcome POSTed there by the gateway that accepted it.
 *
 *   POST <callbackUrl>
 *   Content-Type: application/json
 *   Orderfleet-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 *   Orderfleet-Order-Id: <order id>
 *   Orderfleet-Delivery: <UUIDv7, one per delivery, the same on every retry>
 *   traceparent: <a new span in the order's trace>
 *
 *   <the outcome's JSON: exactly what GET /v1/orders/{id} answers>
 *
 * Two halves. On the event loop's thread (not thread-safe, like the api):
 * callback_expect() remembers an order's URL when the order is placed, and
 * callback_outcome() turns it into a delivery when the outcome is known (the
 * history's listener: the reply, or the record on topics.completed). Deliveries go into a
 * bounded queue that ONE delivery thread of the module's own serves with
 * libcurl, so a slow receiver never blocks the event loop.
 *
 * Delivery: 2xx is delivered; 408, 429, 5xx, a connection error or a timeout
 * is retried with exponential backoff and equal jitter (1 s, 2 s, 4 s ...,
 * at most 5 min; a longer Retry-After is honoured) up to
 * gateway.callback_attempts attempts; any other answer (3xx: redirects are
 * not followed, 4xx) gives up at once. Each attempt gets
 * gateway.callback_timeout_ms and a fresh signature time. A full queue
 * (gateway.callback_queue) drops its oldest waiting delivery (counted,
 * logged). docs/buzzer.md "Callbacks" has the decisions and how a receiver
 * verifies a signature. */
#ifndef ORDERFLEET_GATEWAY_CALLBACK_H
#define ORDERFLEET_GATEWAY_CALLBACK_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/trace.h"
#include "gateway/gateway_metrics.h"
#include "gateway/history.h"

#define CALLBACK_OK 0
#define CALLBACK_ERR -1
#define CALLBACK_DISABLED -2    /* callback_check_url: gateway.callback_hosts is empty */
#define CALLBACK_BAD_URL -3     /* callback_check_url: not an acceptable URL */
#define CALLBACK_HOST_DENIED -4 /* callback_check_url: its host is not allowed */

#define CALLBACK_URL_MAX 2048
#define CALLBACK_HOST_MAX 253
/* "t=" + up to 20 digits + ",v1=" + 64 hex digits + NUL */
#define CALLBACK_SIGNATURE_MAX 96
/* Backoff before retry n (n >= 1): base << (n - 1), at most the cap, of
 * which the upper half is random (equal jitter). */
#define CALLBACK_BACKOFF_BASE_MS 1000
#define CALLBACK_BACKOFF_CAP_MS 300000

#define CALLBACK_HEADER_SIGNATURE "Orderfleet-Signature"
#define CALLBACK_HEADER_ORDER_ID "Orderfleet-Order-Id"
#define CALLBACK_HEADER_DELIVERY "Orderfleet-Delivery"

/* ---- pure functions (no state; unit-tested) ----------------------------- */

/* An absolute http(s) URL, as far as the allow-list cares. */
typedef struct callback_url {
    int https;
    int ipv6;                         /* host is an IPv6 literal (host holds it unbracketed) */
    char host[CALLBACK_HOST_MAX + 1]; /* lowercased */
    int port;                         /* explicit, or 80 / 443 */
} callback_url;

/* Parses url: http:// or https:// (any case), a host (a DNS name or IPv4 of
 * A-Z a-z 0-9 - . _, or a bracketed IPv6 literal without zone), an optional
 * port 1..65535, then any path and query. Refused: longer than
 * CALLBACK_URL_MAX, user information (user@), a fragment (#), spaces,
 * control characters and non-ASCII bytes (percent-encode them). Returns
 * CALLBACK_OK, or CALLBACK_BAD_URL with errstr saying what is wrong. */
int callback_url_parse(const char *url, callback_url *u, char *errstr, size_t errsize);

/* Checks the allow-list syntax: comma-separated patterns, blanks around
 * them ignored, each one of
 *   host            that host, any port           (case-insensitive)
 *   *.example.com   any name under example.com (not example.com itself)
 *   host:port       that host on that port only (the URL's port, or 80/443)
 *   [2001:db8::1]   an IPv6 literal, compared as an address ([::1] = [0::1])
 *   *               any host (opt-in to callbacks anywhere)
 * Returns CALLBACK_OK, or CALLBACK_ERR with errstr naming the bad pattern. */
int callback_hosts_check(const char *patterns, char *errstr, size_t errsize);

/* 1 when u's host (and port) matches one of patterns, else 0. */
int callback_host_allowed(const callback_url *u, const char *patterns);

/* The whole check of a callbackUrl against patterns (the allow-list):
 * CALLBACK_OK, CALLBACK_DISABLED (patterns empty: errstr names the
 * setting), CALLBACK_BAD_URL (errstr: what is wrong, as "has a fragment
 * (#...): not allowed"), or CALLBACK_HOST_DENIED (errstr names the host, the
 * port and the setting). */
int callback_check_url(const char *url, const char *patterns, char *errstr, size_t errsize);

/* Takes the top-level "callbackUrl" member out of a POST body (text, len
 * bytes), before the strict order parser sees it. Without one (the common
 * case costs a substring search), or when text is not a JSON object (the
 * order parser then says why): CALLBACK_OK with *url and *rest NULL. With
 * one: CALLBACK_OK, *url its value (NULL when it is null) and *rest the body
 * without it (compact JSON, *rest_len bytes; numbers and strings round-trip
 * exactly), both malloc'd, the caller's to free. A value that is not a
 * string: CALLBACK_BAD_URL with errstr. Out of memory: CALLBACK_ERR. */
int callback_take_url(const char *text, size_t len, char **url, char **rest, size_t *rest_len,
                      char *errstr, size_t errsize);

/* Writes "t=<t>,v1=<hex HMAC-SHA256 of "<t>.<body>" under secret>" into out
 * (CALLBACK_SIGNATURE_MAX bytes). One allocation of the signed text. Returns
 * CALLBACK_OK, or CALLBACK_ERR (out of memory, OpenSSL failure). */
int callback_sign(const void *secret, size_t secret_len, int64_t t, const char *body,
                  size_t body_len, char out[CALLBACK_SIGNATURE_MAX]);

/* The wait before retry n (n >= 1) in ms, from rnd (any 64 random bits):
 * d = min(CAP, BASE << (n - 1)), then d/2 + rnd % (d/2 + 1). */
int64_t callback_backoff_ms(int retry, uint64_t rnd);

/* ---- the delivery queue (used by the thread; unit-tested) --------------- */

/* One delivery: the POST of one outcome to one URL, with its retries. */
typedef struct callback_delivery {
    uint64_t seq;      /* enqueue order: the lowest is the oldest */
    int64_t due_ms;    /* monotonic ms of the next attempt */
    int64_t known_us;  /* monotonic µs the outcome became known (latency) */
    int attempts;      /* made so far */
    char delivery_id[40];
    char traceparent[TRACE_PARENT_LEN + 1]; /* the order's span: each attempt a child */
    char *url;
    char *body;
    size_t body_len;
    char order_id[]; /* NUL-terminated */
} callback_delivery;

/* A new delivery due now, with a new delivery id; url, body (body_len
 * bytes) and traceparent (NULL or "" for a new trace) are copied. Returns
 * NULL when out of memory; free with callback_delivery_free(). */
callback_delivery *callback_delivery_new(const char *order_id, const char *url,
                                         const char *traceparent, const char *body,
                                         size_t body_len);
void callback_delivery_free(callback_delivery *d);

/* A min-heap by (due_ms, seq), holding at most capacity deliveries. */
typedef struct callback_queue callback_queue;

/* Returns NULL when out of memory; free with callback_queue_free(). */
callback_queue *callback_queue_new(size_t capacity);

/* Takes d over. A new delivery (seq 0) gets the next seq; a retry keeps its
 * own. When the queue was full, the oldest (lowest seq) of the waiting ones
 * and d is taken out and returned, for the caller to count, log and free;
 * else NULL. O(log n), or O(n) when full (the oldest is searched). */
callback_delivery *callback_queue_push(callback_queue *q, callback_delivery *d);

/* Takes out the delivery due first if it is due at now_ms, else returns
 * NULL. *next_due_ms (may be NULL) gets the due time of the first delivery
 * left, or -1 when none is. */
callback_delivery *callback_queue_pop_due(callback_queue *q, int64_t now_ms,
                                          int64_t *next_due_ms);

size_t callback_queue_len(const callback_queue *q);

/* Frees the queue and every delivery in it. NULL is fine. */
void callback_queue_free(callback_queue *q);

/* ---- the module --------------------------------------------------------- */

typedef struct callback callback_t;

typedef struct callback_stats {
    uint64_t expected;  /* orders placed with a callbackUrl */
    uint64_t enqueued;  /* outcomes turned into deliveries */
    uint64_t delivered; /* 2xx */
    uint64_t failed;    /* gave up: a final answer, or the last attempt failed */
    uint64_t retried;   /* attempts after the first */
    uint64_t dropped;   /* the queue was full, or the outcome never came in time */
    uint64_t shutdown;  /* still undelivered at shutdown */
} callback_stats;

/* Creates the module from cfg (which must outlive it): checks
 * gateway.callback_hosts, reads the secret (gateway.callback_secret or
 * gateway.callback_secret_file: one of them, not both; required when hosts
 * are set), and, when callbacks are on, starts the delivery thread and
 * libcurl (curl_global_init: call this before any other thread uses curl).
 * gm (may have no registry) outlives it. Returns NULL with the reason in
 * errstr: a configuration error (exit 78). Free with callback_free(). */
callback_t *callback_new(const of_config *cfg, gmetrics *gm, char *errstr, size_t errsize);

/* The checks of callback_new() that need no thread: the allow-list
 * syntax, one secret at most, a readable non-empty secret file, a secret
 * when hosts are set. For --check-config. Returns CALLBACK_OK or
 * CALLBACK_ERR with errstr naming the setting. */
int callback_check_config(const of_config *cfg, char *errstr, size_t errsize);

/* 1 when gateway.callback_hosts allows any host (callbacks are on). */
int callback_enabled(const callback_t *cb);

/* callback_check_url() against cb's allow-list (cb NULL: disabled). */
int callback_check(const callback_t *cb, const char *url, char *errstr, size_t errsize);

/* Event loop: order_id was placed with url (already checked) in the trace
 * of traceparent (its record's parent span). Its outcome, when
 * callback_outcome() is told of it, becomes a delivery. At most
 * gateway.outcomes orders wait for their outcome; beyond, the oldest is
 * forgotten (counted dropped). Returns CALLBACK_OK or CALLBACK_ERR (out of
 * memory: no callback will come). */
int callback_expect(callback_t *cb, const char *order_id, const char *url,
                    const char *traceparent);

/* Event loop: the order was certainly not placed: forget its callback. */
void callback_cancel(callback_t *cb, const char *order_id);

/* Event loop: order_id's outcome is known (json, len bytes: what GET
 * answers). Queues its delivery when a callback waits for it; a second
 * outcome of the same order (a reply and then the topic record) finds none. */
void callback_outcome(callback_t *cb, const char *order_id, const char *json, size_t len);

/* A history_listener (ctx: the callback_t) that passes each outcome the
 * view sees first (the reply, or the record on topics.completed) to
 * callback_outcome(). */
void callback_history_listener(const history_event *ev, void *ctx);

/* Shutdown: deliveries due within grace_ms (first attempts and retries) are
 * still tried, each attempt cut to what is left of it; the rest are logged
 * undelivered, one line each with the order id, and so are the orders whose
 * outcome has not come (one line, counted). Joins the thread. Idempotent;
 * callback_free() calls it with a grace of 0 if it was not called. */
void callback_stop(callback_t *cb, int grace_ms);

void callback_stats_get(callback_t *cb, callback_stats *st);

/* Stops (see callback_stop) and frees everything. NULL is fine. */
void callback_free(callback_t *cb);

#endif
