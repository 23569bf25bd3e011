/* gateway_metrics: what order-gateway exports on /metrics (README,
 * "Metrics"): requests by route and status with their durations, waiting
 * requests, the reply latency, and the requester's results, late and
 * unknown replies. Everything runs on the gateway's one thread; the scrape
 * thread only reads (common/metrics.h). With reg NULL (metrics.listen
 * empty) every call is a no-op. */
#ifndef ORDERFLEET_GATEWAY_METRICS_H
#define ORDERFLEET_GATEWAY_METRICS_H

#include <stdint.h>

#include "common/metrics.h"
#include "common/requester.h"

/* How a callback delivery ended (gateway/callback.h): the result label of
 * callbacks_total. Counted from the callback thread (metric updates are
 * relaxed atomics). */
#define CALLBACK_RESULT_DELIVERED 0
#define CALLBACK_RESULT_FAILED 1   /* gave up: a final answer, or out of attempts */
#define CALLBACK_RESULT_DROPPED 2  /* the queue was full, or its outcome never came */
#define CALLBACK_RESULT_SHUTDOWN 3 /* undelivered when the gateway stopped */
#define CALLBACK_RESULTS 4

typedef struct gmetrics {
    metrics *reg; /* borrowed; NULL: off */
    metric_family *requests;  /* by route and code */
    metric_family *durations; /* by route */
    metric *waiting, *connections, *orders_placed, *idempotent_hits;
    metric *results[REQUEST_SHUTDOWN + 1]; /* requester reports, by result */
    metric *late_replies, *unknown_replies;
    metric *reply_latency;
    metric *streams;            /* event streams open now */
    metric_family *events_sent; /* SSE events sent, by event */
    metric *callbacks[CALLBACK_RESULTS]; /* callback deliveries ended, by CALLBACK_RESULT_* */
    metric *callback_retries;            /* callback attempts after a delivery's first */
    metric *callback_latency;            /* a callback's outcome known -> delivered */
    metric_family *auth_refused; /* requests refused by API key checks, by code */
    metric *request_timeouts;    /* requests cut off by gateway.request_timeout_ms */
} gmetrics;

/* Registers the gateway's families in reg (NULL: off). Returns METRICS_OK
 * or METRICS_ERR (out of memory). */
int gmetrics_init(gmetrics *gm, metrics *reg);

/* One HTTP request answered: its route ("/v1/orders", "/v1/orders/{id}",
 * "/healthz", "/readyz", "other"), status (0: the client went away first)
 * and duration. */
void gmetrics_request(gmetrics *gm, const char *route, unsigned status, int64_t duration_us);

/* One requester report: a reply (REPLIED, FAILED) is timed from the send. */
void gmetrics_report(gmetrics *gm, const request_report *report);

/* Event streams (GET /v1/orders/{id}/events) open now. */
void gmetrics_streams(gmetrics *gm, size_t open);

/* One Server-Sent Event queued on a stream: event is its name ("outcome",
 * "shutdown"); keep-alive comments are not events. */
void gmetrics_event_sent(gmetrics *gm, const char *event);

/* One request refused by access control: status 401 or 403. */
void gmetrics_auth_refused(gmetrics *gm, unsigned status);

/* One request cut off (408 or closed) for not arriving within
 * gateway.request_timeout_ms. */
void gmetrics_request_timeout(gmetrics *gm);

/* Copies the counters kept elsewhere: once per loop turn. */
void gmetrics_publish(gmetrics *gm, uint64_t orders_placed, uint64_t idempotent_hits,
                      size_t waiting, size_t connections, const requester_stats *rs);

#endif
