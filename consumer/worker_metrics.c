#include "consumer/worker_metrics.h"

#include <string.h>

#include <jansson.h>

int wmetrics_init(wmetrics *wm, metrics *reg, ops *o, int concurrency) {
    memset(wm, 0, sizeof(*wm));
    wm->ops = o;
    if (!reg) return METRICS_OK;
    wm->reg = reg;
    metric_family *outcomes = metrics_counter(
        reg, "outcomes_total", "Outcomes published on the completed topic, by status.", "status");
    metric_family *replies = metrics_counter(
        reg, "replies_total",
        "Replies to requesters: sent, skipped past their deadline (late), or failed.", "result");
    metric_family *rebalances = metrics_counter(
        reg, "rebalances_total", "Partition assignment changes of this worker, by kind.", "kind");
    wm->consumed = metric_series(metrics_counter(
        reg, "orders_consumed_total", "Records consumed from the orders and retry topics.", NULL));
    wm->skipped = metric_series(metrics_counter(
        reg, "orders_skipped_total",
        "Records skipped because an earlier owner had done them (commit metadata).", NULL));
    wm->fulfilled = metric_series(outcomes, "FULFILLED");
    wm->rejected = metric_series(outcomes, "REJECTED");
    wm->failed = metric_series(outcomes, "FAILED");
    wm->retries = metric_series(metrics_counter(
        reg, "retries_total", "Transient failures sent to the retry topic.", NULL));
    wm->dead_letters = metrics_counter(
        reg, "dead_letters_total", "Records sent to the dead-letter topic, by error class.",
        "class");
    wm->publish_errors = metric_series(metrics_counter(
        reg, "publish_errors_total", "Records Kafka did not acknowledge.", NULL));
    wm->commits = metric_series(metrics_counter(
        reg, "commits_total", "Offset commits (exactly-once: transactions committed).", NULL));
    wm->aborts = metric_series(metrics_counter(
        reg, "transaction_aborts_total", "Exactly-once transactions aborted.", NULL));
    wm->replies_sent = metric_series(replies, "sent");
    wm->replies_late = metric_series(replies, "late");
    wm->replies_failed = metric_series(replies, "failed");
    wm->assigned = metric_series(rebalances, "assigned");
    wm->revoked = metric_series(rebalances, "revoked");
    wm->lost = metric_series(rebalances, "lost");
    wm->in_flight = metric_series(metrics_gauge(
        reg, "in_flight", "Orders in the handler now.", NULL));
    wm->buffered = metric_series(metrics_gauge(
        reg, "buffered", "Orders consumed and not yet done (worker.max_buffered bounds it).",
        NULL));
    wm->buffered_bytes = metric_series(metrics_gauge(
        reg, "buffered_bytes", "Bytes of orders consumed and not yet done.", NULL));
    wm->partitions = metric_series(metrics_gauge(
        reg, "assigned_partitions", "Partitions assigned to this worker.", NULL));
    wm->concurrency = metric_series(metrics_gauge(
        reg, "concurrency", "Handler threads (worker.concurrency).", NULL));
    wm->processing = metric_series(metrics_histogram(
        reg, "processing_seconds", "Time of one handler call (one attempt of one order).", NULL,
        metrics_seconds_buckets, metrics_seconds_nbuckets));
    wm->placed_to_completed = metric_series(metrics_histogram(
        reg, "placed_to_completed_seconds",
        "From the order's placedAtMs to its outcome being published.", NULL,
        metrics_seconds_buckets, metrics_seconds_nbuckets));
    wm->lag = metrics_gauge(reg, "consumer_lag",
                            "Records behind the partition's end, per assigned partition "
                            "(librdkafka statistics).",
                            "topic,partition");
    if (!outcomes || !replies || !rebalances || !wm->dead_letters || !wm->lag ||
        !wm->processing || !wm->placed_to_completed)
        return METRICS_ERR;
    metric_set(wm->concurrency, concurrency);
    /* the classes the worker uses, at 0 from the start (rate() needs them) */
    static const char *const classes[] = {"decode", "validation", "exhausted", "publish"};
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
        if (!metric_series(wm->dead_letters, classes[i])) return METRICS_ERR;
    return METRICS_OK;
}

void wmetrics_publish(wmetrics *wm, const engine_stats *st, size_t in_flight, size_t buffered,
                      size_t buffered_bytes, size_t partitions) {
    ops_beat(wm->ops);
    if (!wm->reg) return;
    metric_set_count(wm->consumed, st->consumed);
    metric_set_count(wm->skipped, st->skipped);
    metric_set_count(wm->fulfilled, st->fulfilled);
    metric_set_count(wm->rejected, st->rejected);
    metric_set_count(wm->failed, st->failed);
    metric_set_count(wm->retries, st->retries);
    metric_set_count(wm->publish_errors, st->publish_errors);
    metric_set_count(wm->commits, st->commits);
    metric_set_count(wm->aborts, st->aborts);
    metric_set_count(wm->replies_sent, st->replies);
    metric_set_count(wm->replies_late, st->replies_late);
    metric_set_count(wm->replies_failed, st->reply_errors);
    metric_set(wm->in_flight, (double)in_flight);
    metric_set(wm->buffered, (double)buffered);
    metric_set(wm->buffered_bytes, (double)buffered_bytes);
    metric_set(wm->partitions, (double)partitions);
}

void wmetrics_dead_letter(wmetrics *wm, const char *error_class) {
    if (wm->reg) metric_add(metric_series(wm->dead_letters, error_class), 1);
}

void wmetrics_assigned(wmetrics *wm) { metric_add(wm->assigned, 1); }
void wmetrics_revoked(wmetrics *wm) { metric_add(wm->revoked, 1); }
void wmetrics_lost(wmetrics *wm) { metric_add(wm->lost, 1); }

static void update_readiness(wmetrics *wm) {
    if (wm->stopping) ops_set_ready(wm->ops, 0, "stopping");
    else if (wm->brokers_down) ops_set_ready(wm->ops, 0, "no broker reachable");
    else if (!wm->joined) ops_set_ready(wm->ops, 0, "not a member of the consumer group yet");
    else ops_set_ready(wm->ops, 1, NULL);
}

void wmetrics_brokers_down(wmetrics *wm) {
    wm->brokers_down = 1;
    update_readiness(wm);
}

void wmetrics_stopping(wmetrics *wm) {
    wm->stopping = 1;
    update_readiness(wm);
}

static int64_t stat_i64(json_t *p, const char *name) {
    json_t *v = json_object_get(p, name);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

/* A partition's lag: librdkafka's consumer_lag (high watermark less the
 * committed offset) where it knows it. Before the first commit it reports
 * -1; the lag is then what lies between where this consumer stands (its
 * position, or the log start when it has read nothing) and the high
 * watermark, so an untouched partition shows its whole backlog and an empty
 * one 0. Returns -1 while even the high watermark is unknown. */
static int64_t partition_lag(json_t *p) {
    int64_t lag = stat_i64(p, "consumer_lag");
    if (lag >= 0) return lag;
    int64_t hi = stat_i64(p, "hi_offset");
    if (hi < 0) return -1;
    int64_t from = stat_i64(p, "app_offset");
    if (from < 0) from = stat_i64(p, "lo_offset");
    if (from < 0) from = 0;
    return hi > from ? hi - from : 0;
}

/* Lag of every partition this consumer fetches (desired), from
 * topics.<t>.partitions.<p>. */
static void statistics_lag(wmetrics *wm, json_t *topics) {
    metric_family_clear(wm->lag);
    const char *topic;
    json_t *t;
    json_object_foreach(topics, topic, t) {
        const char *pid;
        json_t *p;
        json_object_foreach(json_object_get(t, "partitions"), pid, p) {
            json_t *desired = json_object_get(p, "desired");
            int64_t lag = partition_lag(p);
            if (strcmp(pid, "-1") == 0 || lag < 0 || (desired && !json_is_true(desired)))
                continue;
            metric_set(metric_series(wm->lag, topic, pid), (double)lag);
        }
    }
}

void wmetrics_on_statistics(wmetrics *wm, const char *json, size_t len) {
    json_t *doc = json_loadb(json, len, 0, NULL);
    if (!doc) return;
    if (wm->reg) statistics_lag(wm, json_object_get(doc, "topics"));

    /* Ready: some broker is up, and the group is steady with us in it. */
    int up = 0;
    const char *name;
    json_t *b;
    json_object_foreach(json_object_get(doc, "brokers"), name, b) {
        const char *state = json_string_value(json_object_get(b, "state"));
        if (state && strcmp(state, "UP") == 0) up = 1;
    }
    json_t *cgrp = json_object_get(doc, "cgrp");
    const char *state = json_string_value(json_object_get(cgrp, "state"));
    const char *join = json_string_value(json_object_get(cgrp, "join_state"));
    wm->brokers_down = !up;
    wm->joined = state && strcmp(state, "up") == 0 && join && strcmp(join, "steady") == 0;
    update_readiness(wm);
    json_decref(doc);
}
