#include "gateway/gateway_metrics.h"

#include <stdio.h>
#include <string.h>

/* The callback families (gateway/callback.h): every result series exists
 * from the start, at 0. */
static int callback_metrics_init(gmetrics *gm, metrics *reg) {
    static const char *const names[CALLBACK_RESULTS] = {"delivered", "failed", "dropped",
                                                        "shutdown"};
    metric_family *f = metrics_counter(
        reg, "callbacks_total",
        "Outcome callbacks (callbackUrl) ended, by result: delivered (2xx), failed (gave up), "
        "dropped (queue full or outcome never came), shutdown (undelivered at exit).",
        "result");
    if (!f) return METRICS_ERR;
    for (int i = 0; i < CALLBACK_RESULTS; i++)
        if (!(gm->callbacks[i] = metric_series(f, names[i]))) return METRICS_ERR;
    gm->callback_retries = metric_series(metrics_counter(
        reg, "callback_retries_total", "Callback attempts after a delivery's first.", NULL));
    gm->callback_latency = metric_series(metrics_histogram(
        reg, "callback_latency_seconds",
        "From an order's outcome being known to its callback delivered (retries included).",
        NULL, metrics_seconds_buckets, metrics_seconds_nbuckets));
    return gm->callback_retries && gm->callback_latency ? METRICS_OK : METRICS_ERR;
}

int gmetrics_init(gmetrics *gm, metrics *reg) {
    memset(gm, 0, sizeof(*gm));
    if (!reg) return METRICS_OK;
    gm->reg = reg;
    gm->requests = metrics_counter(reg, "http_requests_total",
                                   "HTTP requests answered, by route and status code.",
                                   "route,code");
    gm->durations = metrics_histogram(
        reg, "http_request_duration_seconds",
        "From a request's first byte to its answer (a POST includes its wait for the reply).",
        "route", metrics_seconds_buckets, metrics_seconds_nbuckets);
    metric_family *results = metrics_counter(
        reg, "requests_total",
        "Orders the gateway waited for, by how the wait ended (replied, failed: the worker "
        "answered FAILED, timed_out: answered 202, not_sent, bad_reply, shutdown).",
        "result");
    gm->waiting = metric_series(metrics_gauge(
        reg, "waiting_requests", "Requests suspended, waiting for their reply now.", NULL));
    gm->connections = metric_series(metrics_gauge(
        reg, "http_connections", "HTTP connections open on the API's port now (not the refused).",
        NULL));
    gm->orders_placed = metric_series(metrics_counter(
        reg, "orders_placed_total", "Orders published by POST /v1/orders.", NULL));
    gm->idempotent_hits = metric_series(metrics_counter(
        reg, "idempotent_hits_total",
        "POSTs answered from an earlier request with the same Idempotency-Key.", NULL));
    gm->late_replies = metric_series(metrics_counter(
        reg, "late_replies_total", "Replies that came after their request had timed out.",
        NULL));
    gm->unknown_replies = metric_series(metrics_counter(
        reg, "unknown_replies_total",
        "Replies for no request of this gateway (another instance's, or unreadable).", NULL));
    gm->reply_latency = metric_series(metrics_histogram(
        reg, "reply_latency_seconds", "From publishing an order to its reply arriving.", NULL,
        metrics_seconds_buckets, metrics_seconds_nbuckets));
    gm->streams = metric_series(metrics_gauge(
        reg, "event_streams", "Event streams (GET /v1/orders/{id}/events) open now.", NULL));
    gm->events_sent = metrics_counter(
        reg, "events_sent_total",
        "Server-Sent Events sent on order event streams, by event (outcome, shutdown).",
        "event");
    if (!gm->requests || !gm->durations || !results || !gm->reply_latency || !gm->streams ||
        !gm->events_sent)
        return METRICS_ERR;
    /* both series exist from the start, at 0 */
    if (!metric_series(gm->events_sent, "outcome") || !metric_series(gm->events_sent, "shutdown"))
        return METRICS_ERR;
    for (int r = REQUEST_REPLIED; r <= REQUEST_SHUTDOWN; r++)
        if (!(gm->results[r] = metric_series(results, request_result_name((request_result)r))))
            return METRICS_ERR;
    if (callback_metrics_init(gm, reg) != METRICS_OK) return METRICS_ERR;
    gm->auth_refused = metrics_counter(
        reg, "auth_refused_total",
        "Requests refused by API key checks, by status (401 no or unknown key, 403 no scope).",
        "code");
    gm->request_timeouts = metric_series(metrics_counter(
        reg, "request_timeouts_total",
        "Requests cut off (408 or closed) for not arriving whole within "
        "gateway.request_timeout_ms.",
        NULL));
    if (!gm->auth_refused || !gm->request_timeouts || !metric_series(gm->auth_refused, "401") ||
        !metric_series(gm->auth_refused, "403"))
        return METRICS_ERR;
    return METRICS_OK;
}

void gmetrics_auth_refused(gmetrics *gm, unsigned status) {
    if (!gm->reg) return;
    metric_add(metric_series(gm->auth_refused, status == 403 ? "403" : "401"), 1);
}

void gmetrics_request_timeout(gmetrics *gm) {
    if (!gm->reg) return;
    metric_add(gm->request_timeouts, 1);
}

void gmetrics_request(gmetrics *gm, const char *route, unsigned status, int64_t duration_us) {
    if (!gm->reg) return;
    char code[16];
    snprintf(code, sizeof(code), "%u", status);
    /* a few routes times a few codes: the lookup is a short list walk */
    metric_add(metric_series(gm->requests, route, status ? code : "none"), 1);
    metric_observe(metric_series(gm->durations, route), (double)duration_us / 1e6);
}

void gmetrics_streams(gmetrics *gm, size_t open) {
    if (!gm->reg) return;
    metric_set(gm->streams, (double)open);
}

void gmetrics_event_sent(gmetrics *gm, const char *event) {
    if (!gm->reg) return;
    metric_add(metric_series(gm->events_sent, event), 1);
}

void gmetrics_report(gmetrics *gm, const request_report *report) {
    if (report->result == REQUEST_REPLIED || report->result == REQUEST_FAILED)
        metric_observe(gm->reply_latency, (double)report->latency_us / 1e6);
}

void gmetrics_publish(gmetrics *gm, uint64_t orders_placed, uint64_t idempotent_hits,
                      size_t waiting, size_t connections, const requester_stats *rs) {
    if (!gm->reg) return;
    metric_set_count(gm->orders_placed, orders_placed);
    metric_set_count(gm->idempotent_hits, idempotent_hits);
    metric_set(gm->waiting, (double)waiting);
    metric_set(gm->connections, (double)connections);
    for (int r = REQUEST_REPLIED; r <= REQUEST_SHUTDOWN; r++)
        metric_set_count(gm->results[r], rs->results[r]);
    metric_set_count(gm->late_replies, rs->late_replies);
    metric_set_count(gm->unknown_replies, rs->unknown_replies);
}
