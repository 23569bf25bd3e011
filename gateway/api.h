/* api: order-gateway's HTTP API on libmicrohttpd (DESIGN.md §5).
 *
 *   POST /v1/orders        place an order, wait for its outcome (the counter):
 *                          201 + outcome when the reply comes in time, else
 *                          202 + Location (the buzzer)
 *   GET  /v1/orders/{id}   200 + outcome, 202 while pending, 404 unknown
 *   GET  /healthz          200 while the event loop turns
 *   GET  /readyz           200 once replies and history are positioned and
 *                          Kafka is reachable, else 503
 *   GET  /v1/orders/{id}/events  the order's outcome as Server-Sent Events
 *                          (gateway/sse.h); GET /v1/fleet the live panel's
 *                          JSON (gateway/fleet.h); GET /, /page/app.js,
 *                          /page/style.css the embedded page (docs/buzzer.md)
 *
 * The daemon runs in the gateway's own event loop (external epoll mode, no
 * thread of MHD's own): api_fd() is its epoll descriptor, api_run() serves
 * what is ready. A POST waiting for its reply is a suspended connection: it
 * holds no thread and no poll slot, only its api request and its place in
 * the requester's pending set, and the requester's report resumes it with
 * the answer. Waiting requests are bounded by gateway.max_waiting (then
 * 503); Idempotency-Key retries of a waiting order join its wait.
 *
 * Errors are application/problem+json (RFC 9457) with a precise detail.
 * Single-threaded: everything runs on the event loop's thread. */
#ifndef ORDERFLEET_GATEWAY_API_H
#define ORDERFLEET_GATEWAY_API_H

#include <stdint.h>

#include "common/config.h"
#include "common/requester.h"
#include "gateway/gateway_metrics.h"
#include "gateway/history.h"
#include "gateway/callback.h"

#define API_OK 0
#define API_ERR -1

typedef struct api api_t;

typedef struct api_stats {
    uint64_t requests;       /* HTTP requests answered */
    uint64_t by_class[6];    /* ... by status class: [2] 2xx, [4] 4xx, [5] 5xx */
    uint64_t orders_placed;  /* POSTs that published an order */
    uint64_t idempotent_hits; /* POSTs answered from an earlier one's key */
    size_t waiting;          /* connections suspended for a reply */
    size_t connections;      /* HTTP connections open (not those refused) */
} api_stats;

/* Starts listening on cfg->gateway_listen ("host:port"; port 0 picks a free
 * one, see api_port()). req, hist and gm (its metrics) are the gateway's,
 * used by the handlers and outliving the api. Its report callback must be api_on_report() with
 * the api as ctx: create the requester with a ctx the caller fills in after
 * api_new(), as main.c does. Returns NULL with the reason in errstr. */
api_t *api_new(const of_config *cfg, requester_t *req, history_t *hist, gmetrics *gm,
               char *errstr, size_t errsize);

/* The requester's report callback (ctx: the api_t): answers every
 * connection waiting for that order and resumes it. */
void api_on_report(const request_report *report, void *ctx);

/* The bound port (useful with port 0). */
int api_port(const api_t *api);

/* The daemon's epoll descriptor nested in the event streams' own (which
 * watches their sockets for disconnects): readable when api_run() has work. */
int api_fd(const api_t *api);

/* Milliseconds until the daemon needs api_run() again for its own timers
 * (idle connection timeouts, event streams' keep-alives), or -1 for none. */
int64_t api_timeout_ms(const api_t *api);

/* Serves every ready connection without blocking. */
void api_run(api_t *api);

/* Shutdown begins: stops accepting connections; a POST on an open one is
 * answered 503 (stopping), /readyz turns 503, and every answer closes its
 * connection. Waiting requests are still answered when their reports come. */
void api_quiesce(api_t *api);

/* Requests begun and not yet completed (answered and sent, or abandoned by
 * their client): when it is 0 after api_quiesce() and the requester's
 * shutdown, every answer is out and the daemon may stop. */
unsigned api_active(const api_t *api);

void api_stats_get(const api_t *api, api_stats *st);

/* Outcome callbacks (gateway/callback.h; borrowed, outliving the api): a
 * POST's callbackUrl is checked against it and the order registered with it
 * once placed. Without it (or with callbacks off) a callbackUrl is refused
 * with 422 callbacks-disabled. */
void api_set_callbacks(api_t *api, callback_t *cb);

/* Why the gateway is not ready (a string literal: stopping, the reply
 * consumer not positioned, history not caught up, Kafka unreachable...), or
 * NULL when it is: what /readyz answers, on both ports. */
const char *api_not_ready(const api_t *api);

/* Reads gateway.api_keys_file again (SIGHUP): on success the new keys
 * apply to every request from now on; on error (errstr says which line)
 * the old keys stay. Nothing happens when the setting is empty. */
int api_reload_keys(api_t *api, char *errstr, size_t errsize);

/* Number of API keys in force; 0: open access. */
size_t api_keys(const api_t *api);

/* Stops the daemon and frees everything. Every suspended connection must
 * have been answered (requester_shutdown() reports them all). NULL is fine. */
void api_free(api_t *api);

#endif
