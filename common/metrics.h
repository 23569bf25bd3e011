/* metrics: counters, gauges and histograms, exposed in the Prometheus text
 * format (version 0.0.4) on /metrics (common/ops.h).
 *
 * A registry holds families; a family is one metric name with its help, type
 * and label names; a series is one set of label values of a family:
 *
 *   metrics *m = metrics_new("orderfleet_worker");
 *   metric_family *outcomes = metrics_counter(m, "outcomes_total",
 *                                             "outcomes published, by status", "status");
 *   metric *fulfilled = metric_series(outcomes, "FULFILLED");   // once
 *   metric_add(fulfilled, 1);                                   // per order
 *
 * Updates are lock-free (relaxed atomics), so any thread may update a series
 * it holds while the scrape thread renders. Finding or creating a series
 * takes its family's lock: resolve series once, outside hot paths, and keep
 * the pointer; it stays valid until metric_family_clear() or metrics_free().
 * Rendering also takes each family's lock, one family at a time.
 *
 * Every rendering adds the process series Prometheus clients conventionally
 * export (process_resident_memory_bytes, process_cpu_seconds_total,
 * process_open_fds, process_start_time_seconds). */
#ifndef ORDERFLEET_METRICS_H
#define ORDERFLEET_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_OK 0
#define METRICS_ERR -1

#define METRICS_MAX_LABELS 4

typedef struct metrics metrics;
typedef struct metric_family metric_family;
typedef struct metric metric;

/* A registry whose metric names all start with prefix + "_" (e.g.
 * "orderfleet_worker"). Returns NULL when out of memory. Free with
 * metrics_free(), after every thread that updates or renders has stopped. */
metrics *metrics_new(const char *prefix);

void metrics_free(metrics *m);

/* Registers a family. name is without the prefix; labels is a comma-separated
 * list of label names ("route,code") or NULL for none. A family without
 * labels has its one series from the start (so it is exported as 0 before
 * anything happens). Returns NULL when out of memory or on more than
 * METRICS_MAX_LABELS labels. The registry owns the family. Register from one
 * thread, before rendering starts. */
metric_family *metrics_counter(metrics *m, const char *name, const char *help,
                               const char *labels);
metric_family *metrics_gauge(metrics *m, const char *name, const char *help, const char *labels);

/* A histogram with the given upper bounds (ascending, in the unit of the
 * observations; +Inf is implied). */
metric_family *metrics_histogram(metrics *m, const char *name, const char *help,
                                 const char *labels, const double *bounds, size_t nbounds);

/* The series of family f with these label values (as many as f has labels,
 * in order; none for a family without labels), created on first use.
 * Returns NULL when out of memory (updates of a NULL series are ignored, so
 * a program under memory pressure loses a metric, never an order). */
metric *metric_series(metric_family *f, ...);

/* Drops every series of f (a gauge family whose set of series is replaced
 * as a whole, e.g. lag per assigned partition). Pointers to its series
 * become invalid: only for families whose series nobody keeps. */
void metric_family_clear(metric_family *f);

/* Counter: adds n. Counter set: for a count kept elsewhere (monotonic). */
void metric_add(metric *s, uint64_t n);
void metric_set_count(metric *s, uint64_t total);

/* Gauge: sets the value. */
void metric_set(metric *s, double value);

/* Histogram: records one observation. */
void metric_observe(metric *s, double value);

/* Renders every family and the process series into *out (NUL-terminated,
 * *len bytes without the NUL; the caller frees *out). Returns METRICS_OK, or
 * METRICS_ERR when out of memory. */
int metrics_render(metrics *m, char **out, size_t *len);

/* Bucket bounds in seconds shared by the latency histograms: 1 ms to 60 s. */
extern const double metrics_seconds_buckets[];
extern const size_t metrics_seconds_nbuckets;

#endif
