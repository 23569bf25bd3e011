#define _POSIX_C_SOURCE 200809L
#include "gateway/fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "common/kafka.h"
#include "common/logfmt.h"
#include "common/timeutil.h"
#include "order.pb-c.h"

/* Ring slots: more than the window, so the second being filled never
 * overwrites one still counted. */
#define RING 16
#define ADMIN_TIMEOUT_MS 5000

typedef struct bucket {
    int64_t sec; /* wall-clock second it counts, -1: unused */
    uint64_t placed, outcomes;
} bucket;

struct fleet {
    const of_config *cfg;
    history_t *hist;
    rd_kafka_t *rk;       /* the committed-offsets client (admin requests only) */
    rd_kafka_queue_t *rq; /* its answers */
    bucket ring[RING];
    uint64_t by_status[4]; /* outcomes by ORDER_STATUS_* (0: unspecified) */
    /* committed offsets of worker.group per partition of topics.orders, as
     * of the last answer; RD_KAFKA_OFFSET_INVALID: never committed */
    int64_t committed[FLEET_MAX_PARTITIONS];
    int committed_known; /* an answer came: committed[] is usable */
    int in_flight;       /* a request is out */
    int64_t last_request_ms, last_asked_ms; /* monotonic */
    fleet_stats st;
    /* scratch for history_orders_ends() */
    int64_t ends[FLEET_MAX_PARTITIONS], starts[FLEET_MAX_PARTITIONS];
};

static const char *const status_names[] = {
    "ORDER_STATUS_UNSPECIFIED", "ORDER_STATUS_FULFILLED", "ORDER_STATUS_REJECTED",
    "ORDER_STATUS_FAILED"};

/* The history listener: counts into the second of the record, if that is
 * still within the window (a future stamp, from a skewed clock, counts
 * now). */
static void on_history(const history_event *ev, void *ctx) {
    fleet_t *f = ctx;
    int64_t now = time_now_ms() / 1000;
    int64_t sec = ev->at_ms / 1000;
    if (ev->kind == HISTORY_EV_OUTCOME)
        f->by_status[ev->status >= 0 && ev->status < 4 ? ev->status : 0]++;
    if (sec > now) sec = now;
    if (sec <= now - FLEET_WINDOW_S) return;
    bucket *b = &f->ring[sec % RING];
    if (b->sec != sec) {
        b->sec = sec;
        b->placed = b->outcomes = 0;
    }
    if (ev->kind == HISTORY_EV_PLACED) b->placed++;
    else if (ev->kind == HISTORY_EV_OUTCOME) b->outcomes++;
}

fleet_t *fleet_new(const of_config *cfg, history_t *hist, char *errstr, size_t errsize) {
    fleet_t *f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    f->cfg = cfg;
    f->hist = hist;
    for (int i = 0; i < RING; i++) f->ring[i].sec = -1;
    rd_kafka_conf_t *conf = kafka_conf_new_as(cfg, "order-gateway-fleet", NULL, NULL, errstr,
                                              errsize);
    if (!conf || !(f->rk = kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errsize))) goto err;
    if (!(f->rq = rd_kafka_queue_new(f->rk))) {
        snprintf(errstr, errsize, "out of memory for the fleet panel's queue");
        goto err;
    }
    if (history_listen(hist, on_history, f) != 0) {
        snprintf(errstr, errsize, "the history has no room for the fleet panel's listener");
        goto err;
    }
    return f;

err:
    fleet_free(f);
    return NULL;
}

/* Sends ListConsumerGroupOffsets for worker.group over the partitions the
 * view knows of topics.orders. Asynchronous: only queues the request. */
static void request_committed(fleet_t *f, int partitions) {
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(parts, f->cfg->topic_orders, p);
    rd_kafka_ListConsumerGroupOffsets_t *req =
        rd_kafka_ListConsumerGroupOffsets_new(f->cfg->worker_group, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_AdminOptions_t *opts =
        rd_kafka_AdminOptions_new(f->rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
    char err[128];
    if (opts)
        (void)rd_kafka_AdminOptions_set_request_timeout(opts, ADMIN_TIMEOUT_MS, err, sizeof(err));
    rd_kafka_ListConsumerGroupOffsets(f->rk, &req, 1, opts, f->rq);
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    rd_kafka_AdminOptions_destroy(opts);
    f->in_flight = 1;
    f->st.lag_requests++;
}

/* Takes in one answer: the committed offsets, or an error (logged at
 * debug level: an unreachable cluster shows elsewhere, the panel keeps
 * its last numbers). */
static void take_answer(fleet_t *f, rd_kafka_event_t *ev) {
    f->in_flight = 0;
    const rd_kafka_ListConsumerGroupOffsets_result_t *res =
        rd_kafka_event_ListConsumerGroupOffsets_result(ev);
    size_t n = 0;
    const rd_kafka_group_result_t **groups =
        res ? rd_kafka_ListConsumerGroupOffsets_result_groups(res, &n) : NULL;
    const rd_kafka_error_t *gerr = n == 1 ? rd_kafka_group_result_error(groups[0]) : NULL;
    if (rd_kafka_event_error(ev) || n != 1 || gerr) {
        f->st.lag_failures++;
        log_debug("fleet: committed offsets not known", "group=%s error=\"%s\"",
                  f->cfg->worker_group,
                  rd_kafka_event_error(ev) ? rd_kafka_event_error_string(ev)
                  : gerr                   ? rd_kafka_error_string(gerr)
                                           : "no group in the answer");
        return;
    }
    for (int p = 0; p < FLEET_MAX_PARTITIONS; p++) f->committed[p] = RD_KAFKA_OFFSET_INVALID;
    const rd_kafka_topic_partition_list_t *parts = rd_kafka_group_result_partitions(groups[0]);
    for (int i = 0; parts && i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        if (tp->err || tp->partition < 0 || tp->partition >= FLEET_MAX_PARTITIONS ||
            strcmp(tp->topic, f->cfg->topic_orders) != 0)
            continue;
        f->committed[tp->partition] = tp->offset;
    }
    f->committed_known = 1;
}

void fleet_poll(fleet_t *f) {
    int64_t t0 = time_mono_us();
    rd_kafka_event_t *ev;
    while ((ev = rd_kafka_queue_poll(f->rq, 0))) {
        if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT)
            take_answer(f, ev);
        rd_kafka_event_destroy(ev);
    }
    int64_t now = t0 / 1000;
    if (!f->in_flight && f->last_asked_ms && now - f->last_asked_ms < FLEET_INTEREST_MS &&
        now - f->last_request_ms >= FLEET_REFRESH_MS) {
        int partitions = history_orders_ends(f->hist, f->ends, NULL, FLEET_MAX_PARTITIONS);
        if (partitions > 0) {
            request_committed(f, partitions);
            f->last_request_ms = now;
        }
    }
    int64_t us = time_mono_us() - t0;
    if (us > f->st.max_poll_us) f->st.max_poll_us = us;
}

/* Adds the lag array: end minus committed per partition whose end is
 * known; [] before the first answer. */
static json_t *lag_json(fleet_t *f) {
    json_t *lag = json_array();
    if (!lag || !f->committed_known) return lag;
    int64_t *ends = f->ends, *starts = f->starts;
    int n = history_orders_ends(f->hist, ends, starts, FLEET_MAX_PARTITIONS);
    for (int p = 0; p < n; p++) {
        if (ends[p] < 0) continue;
        int64_t from = f->committed[p] >= 0 ? f->committed[p] : starts[p] >= 0 ? starts[p] : 0;
        int64_t l = ends[p] - from;
        json_array_append_new(lag, json_pack("{s:i, s:I}", "partition", p, "lag",
                                             (json_int_t)(l > 0 ? l : 0)));
    }
    return lag;
}

static double rate(const fleet_t *f, int outcomes) {
    int64_t now = time_now_ms() / 1000;
    uint64_t sum = 0;
    for (int64_t s = now - FLEET_WINDOW_S + 1; s <= now; s++) {
        const bucket *b = &f->ring[s % RING];
        if (b->sec == s) sum += outcomes ? b->outcomes : b->placed;
    }
    return (double)sum / FLEET_WINDOW_S;
}

char *fleet_json(fleet_t *f, size_t waiting, size_t streams) {
    int64_t t0 = time_mono_us();
    f->last_asked_ms = t0 / 1000;
    char when[TIME_RFC3339_LEN + 1];
    time_rfc3339(time_now_ms(), when, sizeof(when));
    json_t *outcomes = json_object();
    for (int s = ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED; s < 4; s++)
        json_object_set_new(outcomes, status_names[s], json_integer((json_int_t)f->by_status[s]));
    json_t *o = json_pack("{s:s, s:f, s:f, s:I, s:o, s:o, s:{s:I, s:I}}", "time", when,
                          "ordersPerSecond", rate(f, 1), "placedPerSecond", rate(f, 0),
                          "inFlight", (json_int_t)history_in_flight(f->hist), "outcomes", outcomes,
                          "lag", lag_json(f), "gateway", "waiting", (json_int_t)waiting,
                          "streams", (json_int_t)streams);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10))
                   : NULL;
    json_decref(o);
    int64_t us = time_mono_us() - t0;
    if (us > f->st.max_json_us) f->st.max_json_us = us;
    return text;
}

void fleet_stats_get(const fleet_t *f, fleet_stats *st) { *st = f->st; }

void fleet_free(fleet_t *f) {
    if (!f) return;
    if (f->st.lag_requests > 0)
        log_info("fleet panel stopped",
                 "lag_requests=%llu lag_failures=%llu max_poll_us=%lld max_json_us=%lld",
                 (unsigned long long)f->st.lag_requests, (unsigned long long)f->st.lag_failures,
                 (long long)f->st.max_poll_us, (long long)f->st.max_json_us);
    if (f->rq) rd_kafka_queue_destroy(f->rq);
    if (f->rk) rd_kafka_destroy(f->rk);
    free(f);
}
