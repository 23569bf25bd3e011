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

typedef struct gmetrics {
    metrics *reg; /* borrowed; NULL: off */
    metric_family *requests;  /* by route and code */
    metric_family *durations; /* by route */
    metric *waiting, *orders_placed, *idempotent_hits;
    metric *results[REQUEST_SHUTDOWN + 1]; /* requester reports, by result */
    metric *late_replies, *unknown_replies;
    metric *reply_latency;
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

/* Copies the counters kept elsewhere: once per loop turn. */
void gmetrics_publish(gmetrics *gm, uint64_t orders_placed, uint64_t idempotent_hits,
                      size_t waiting, const requester_stats *rs);

#endif
