/* worker_metrics: what order-worker exports on /metrics (README, "Metrics"),
 * and its readiness, derived from the engine's counters and from
 * librdkafka's statistics.
 *
 * The engine keeps its own counters (engine_stats) on its thread; once per
 * loop turn wmetrics_publish() copies them into the registry, a few relaxed
 * atomic stores, so no order pays for metrics beyond the two histograms. The
 * processing-time histogram is observed on the pool threads, the
 * placed-to-completed one on the engine's thread.
 *
 * Lag per partition and the group membership come from librdkafka's
 * statistics (statistics.interval.ms, 1 s by default when metrics are on),
 * parsed by wmetrics_on_statistics() on the engine's thread. */
#ifndef ORDERFLEET_WORKER_METRICS_H
#define ORDERFLEET_WORKER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/metrics.h"
#include "common/ops.h"
#include "consumer/engine.h"

typedef struct wmetrics {
    metrics *reg; /* borrowed; NULL: metrics are off and every call is a no-op */
    ops *ops;     /* borrowed; may be NULL */
    metric *consumed, *skipped;
    metric *fulfilled, *rejected, *failed;
    metric *retries, *publish_errors, *commits, *aborts;
    metric *replies_sent, *replies_late, *replies_failed;
    metric *assigned, *revoked, *lost;
    metric_family *dead_letters; /* by class: rare, resolved when counted */
    metric *in_flight, *buffered, *buffered_bytes, *partitions, *concurrency;
    metric *processing;          /* handler call, seconds */
    metric *placed_to_completed; /* placed_at_ms to the outcome, seconds */
    metric_family *lag;          /* by topic and partition, replaced by each statistics */
    int joined;       /* the group is steady with this member in it */
    int brokers_down; /* librdkafka said all brokers are down; until statistics say not */
    int stopping;     /* shutting down: never ready again */
} wmetrics;

/* Registers the worker's families in reg (NULL: metrics off) and keeps ops
 * (NULL: no endpoint) for readiness. Returns METRICS_OK or METRICS_ERR (out
 * of memory). */
int wmetrics_init(wmetrics *wm, metrics *reg, ops *o, int concurrency);

/* Copies the engine's counters and gauges into the registry and renews
 * liveness: once per loop turn. */
void wmetrics_publish(wmetrics *wm, const engine_stats *st, size_t in_flight, size_t buffered,
                      size_t buffered_bytes, size_t partitions);

/* One dead letter of the given class (decode, validation, exhausted, ...). */
void wmetrics_dead_letter(wmetrics *wm, const char *error_class);

/* Rebalance events, by kind. */
void wmetrics_assigned(wmetrics *wm);
void wmetrics_revoked(wmetrics *wm);
void wmetrics_lost(wmetrics *wm);

/* librdkafka said every broker is down: not ready until statistics show one
 * up again. */
void wmetrics_brokers_down(wmetrics *wm);

/* Parses one librdkafka statistics document (the consumer's): lag per
 * assigned partition, the group's state and broker states for readiness.
 * A document that does not parse changes nothing. */
void wmetrics_on_statistics(wmetrics *wm, const char *json, size_t len);

/* The engine stopped taking work: not ready. */
void wmetrics_stopping(wmetrics *wm);

#endif
