#define _POSIX_C_SOURCE 200809L
#include "common/requester.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "common/kafka.h"
#include "common/logfmt.h"
#include "common/pending.h"
#include "common/publisher.h"
#include "common/reply_headers.h"
#include "common/timeutil.h"
#include "common/wakeup.h"

/* How long a timed-out correlation id is remembered, to count its reply as
 * late rather than unknown. */
#define LATE_WINDOW_MS (5 * 60 * 1000)
/* The longest a requester_poll() call spends on one positioning step (a
 * metadata or watermark request), so an event loop keeps turning. */
#define POSITION_STEP_MS 500
/* Replies served per requester_poll() before deadlines get their turn. */
#define REPLY_BATCH 1000

/* One request, from requester_send() until it has been reported and its
 * delivery report has come (both are needed: a reply can come before the
 * report, and the report names the request). Owned by the requester, on its
 * list of live requests. */
typedef struct request {
    struct request *prev, *next;
    uint8_t correlation_id[RH_CORRELATION_LEN];
    void *waiter;
    int64_t sent_us;
    unsigned acknowledged : 1; /* delivery report: Kafka has it */
    unsigned delivered : 1;    /* the delivery report came, good or bad */
    unsigned expired : 1;      /* the deadline passed before the delivery report */
    unsigned reported : 1;     /* the one report has been made */
    unsigned maybe_placed : 1; /* not acknowledged, but Kafka may have it */
    char order_id[];
} request;

struct requester {
    const of_config *cfg;
    publisher *pub;
    rd_kafka_t *consumer;
    wakeup wake; /* the reply consumer's and the producer's queues: requester_fd() */
    int reply_partition;              /* -1: all */
    int ready;
    int shut;
    int brokers_down;
    int64_t next_position_ms;         /* mono: when the next positioning attempt may run */
    pending_t *waiting;               /* correlation id -> request */
    pending_t *recent;                /* timed-out correlation ids, waiter NULL */
    request *live;                    /* every request not yet freed */
    request_report_fn *report;
    void *ctx;
    requester_stats st;
};

const char *request_result_name(request_result result) {
    static const char *const names[] = {"replied",   "failed",    "timed_out",
                                        "not_sent",  "bad_reply", "shutdown"};
    if ((unsigned)result > REQUEST_SHUTDOWN) return "unknown";
    return names[result];
}

static void live_unlink(requester_t *r, request *rq) {
    if (rq->prev) rq->prev->next = rq->next;
    else r->live = rq->next;
    if (rq->next) rq->next->prev = rq->prev;
}

/* Frees rq once both its report and its delivery report are done. */
static void maybe_free(requester_t *r, request *rq) {
    if (!rq->reported || !rq->delivered) return;
    live_unlink(r, rq);
    free(rq);
}

/* Makes rq's one report. The request must no longer be in r->waiting. */
static void report(requester_t *r, request *rq, request_result result,
                   const order_completed_t *outcome, const char *error) {
    request_report rep = {
        .result = result,
        .order_id = rq->order_id,
        .outcome = outcome,
        .error = error,
        .acknowledged = rq->acknowledged,
        .maybe_placed = !rq->acknowledged && rq->maybe_placed,
        .latency_us = time_mono_us() - rq->sent_us,
        .waiter = rq->waiter,
    };
    rq->reported = 1;
    r->st.results[result]++;
    r->st.waiting--;
    log_debug("request ended", "order_id=%s result=%s latency_us=%lld", rq->order_id,
              request_result_name(result), (long long)rep.latency_us);
    if (r->report) r->report(&rep, r->ctx);
}

/* Remembers a timed-out correlation id for LATE_WINDOW_MS. When the set is
 * full the id is not remembered: its reply, if any, counts as unknown. */
static void remember_timed_out(requester_t *r, const request *rq) {
    (void)pending_add(r->recent, rq->correlation_id, time_mono_ms() + LATE_WINDOW_MS, NULL);
}

/* Delivery reports (publisher callbacks, inside publisher_poll()). */
static void on_acknowledged(const publisher_ack *ack, void *opaque) {
    requester_t *r = opaque;
    request *rq = ack->request;
    if (!rq) return;
    rq->delivered = 1;
    rq->acknowledged = 1;
    if (rq->expired && !rq->reported) {
        /* The deadline passed first; only now may the caller hear "accepted". */
        remember_timed_out(r, rq);
        report(r, rq, r->shut ? REQUEST_SHUTDOWN : REQUEST_TIMED_OUT, NULL, NULL);
    }
    maybe_free(r, rq);
}

static void on_not_acknowledged(const publisher_ack *ack, void *opaque) {
    requester_t *r = opaque;
    request *rq = ack->request;
    if (!rq) return;
    rq->delivered = 1;
    rq->maybe_placed = ack->maybe_placed;
    if (!rq->reported) {
        if (!rq->expired) (void)pending_take(r->waiting, rq->correlation_id, NULL);
        report(r, rq, REQUEST_NOT_SENT, NULL, ack->error);
    }
    maybe_free(r, rq);
}

/* A deadline passed (pending_expire callback). */
static void on_deadline(const uint8_t id[PENDING_ID_LEN], int64_t deadline_ms, void *waiter,
                        void *ctx) {
    requester_t *r = ctx;
    request *rq = waiter;
    (void)id;
    (void)deadline_ms;
    if (rq->acknowledged) {
        remember_timed_out(r, rq);
        report(r, rq, REQUEST_TIMED_OUT, NULL, NULL);
        maybe_free(r, rq);
    } else {
        /* The delivery report decides the result; a reply that comes before
         * it is already late. */
        rq->expired = 1;
        remember_timed_out(r, rq);
    }
}

/* Client-level errors of the reply consumer: "all brokers down" marks
 * Kafka unreachable at once (requester_kafka_up()); librdkafka reconnects
 * by itself, and on_stats() sees it come back. */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    requester_t *r = opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) r->brokers_down = 1;
    log_warn("kafka error", "client=%s error=%s reason=%s", rd_kafka_name(rk),
             rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* The reply consumer's statistics, every STATS_INTERVAL: Kafka counts as
 * up while at least one real broker (not a bootstrap address) has its
 * connection UP. The consumer keeps fetching from every reply partition's
 * leader, so its connections are a live probe that costs nothing extra.
 * Returns 0: librdkafka frees the JSON. */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
    requester_t *r = opaque;
    (void)rk;
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *brokers = root ? json_object_get(root, "brokers") : NULL;
    if (!json_is_object(brokers)) {
        json_decref(root);
        return 0;
    }
    int up = 0;
    const char *name;
    json_t *b;
    json_object_foreach(brokers, name, b) {
        json_int_t nodeid = json_integer_value(json_object_get(b, "nodeid"));
        const char *state = json_string_value(json_object_get(b, "state"));
        if (nodeid >= 0 && state && strcmp(state, "UP") == 0) up = 1;
    }
    if (r->brokers_down != !up)
        log_info(up ? "kafka reachable again" : "kafka unreachable", "brokers=%d",
                 (int)json_object_size(brokers));
    r->brokers_down = !up;
    json_decref(root);
    return 0;
}

static const char *const consumer_defaults[] = {
    "enable.partition.eof", "false",
    "fetch.wait.max.ms", "100",
    "statistics.interval.ms", "1000", /* on_stats(): is Kafka reachable */
    NULL,
};

/* The reply consumer's callbacks (kafka_consumer_by_hand()'s tune). */
static void tune_consumer(rd_kafka_conf_t *conf, void *opaque) {
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_stats_cb(conf, on_stats);
    rd_kafka_conf_set_opaque(conf, opaque);
}

requester_t *requester_new(const of_config *cfg, const char *program, int reply_partition,
                           size_t max_waiting, request_report_fn *report_fn, void *ctx,
                           char *errstr, size_t errsize) {
    requester_t *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    if (wakeup_open(&r->wake, errstr, errsize) != WAKEUP_OK) goto err;
    r->cfg = cfg;
    r->reply_partition = reply_partition < 0 ? -1 : reply_partition;
    r->report = report_fn;
    r->ctx = ctx;
    r->waiting = pending_new(max_waiting);
    r->recent = pending_new(max_waiting);
    if (!r->waiting || !r->recent) {
        snprintf(errstr, errsize, "cannot make room for %zu waiting requests", max_waiting);
        goto err;
    }

    r->pub = publisher_new(cfg, program, on_acknowledged, r, NULL, errstr, errsize);
    if (!r->pub) goto err;
    publisher_on_failure(r->pub, on_not_acknowledged);

    r->consumer = kafka_consumer_by_hand(cfg, "requester", program, consumer_defaults,
                                         tune_consumer, r, errstr, errsize);
    if (!r->consumer) goto err;

    /* Replies, errors and statistics come on the consumer queue, delivery
     * reports on the producer's main queue: either wakes requester_fd(). */
    if (wakeup_watch(&r->wake, rd_kafka_queue_get_consumer(r->consumer), errstr, errsize) !=
            WAKEUP_OK ||
        wakeup_watch(&r->wake, rd_kafka_queue_get_main(publisher_kafka(r->pub)), errstr,
                     errsize) != WAKEUP_OK)
        goto err;
    log_debug("requester created", "replies=%s partition=%d max_waiting=%zu",
              cfg->topic_replies, r->reply_partition, max_waiting);
    return r;

err:
    requester_free(r);
    return NULL;
}

/* One positioning attempt: the reply partitions are assigned at their high
 * watermarks, as absolute offsets (kafka_assign_at()), which is what makes
 * the ready barrier true. Blocks up to about POSITION_STEP_MS per broker
 * request; on failure the next attempt comes a second later. */
static void position(requester_t *r) {
    const char *topic = r->cfg->topic_replies;
    char why[256];
    /* The orders topic's metadata first, or the first request waits for
     * the producer's next periodic refresh. */
    if (publisher_warm(r->pub, POSITION_STEP_MS, why, sizeof(why)) != PUBLISH_OK ||
        kafka_assign_at(r->consumer, &topic, 1, r->reply_partition, KAFKA_FROM_END,
                        POSITION_STEP_MS, why, sizeof(why)) != KAFKA_OK) {
        log_warn("reply consumer not positioned yet, retrying", "topic=%s error=\"%s\"", topic,
                 why);
        r->next_position_ms = time_mono_ms() + 1000;
        return;
    }
    r->ready = 1;
    log_info("reply consumer positioned", "topic=%s partition=%d", topic, r->reply_partition);
}

int requester_send(requester_t *r, const order_placed_t *order, const char *trace_parent,
                   int64_t wait_ms, void *waiter, char *errstr, size_t errsize) {
    if (r->shut) {
        snprintf(errstr, errsize, "shutting down");
        return REQUESTER_ERR;
    }
    if (!r->ready) return REQUESTER_NOT_READY;
    if (!order->order_id || !*order->order_id) {
        snprintf(errstr, errsize, "the order has no order id");
        return REQUESTER_ERR;
    }
    /* Every request without its report counts, including those whose
     * deadline passed while their delivery report is still to come. */
    if (r->st.waiting >= pending_capacity(r->waiting)) return REQUESTER_FULL;
    if (wait_ms < 0) wait_ms = 0;

    size_t idlen = strlen(order->order_id);
    request *rq = calloc(1, sizeof(*rq) + idlen + 1);
    if (!rq) {
        snprintf(errstr, errsize, "out of memory");
        return REQUESTER_ERR;
    }
    memcpy(rq->order_id, order->order_id, idlen + 1);
    rq->waiter = waiter;
    rq->sent_us = time_mono_us();
    rh_correlation_new(rq->correlation_id);

    struct rh_request req;
    rh_request_init(&req);
    memcpy(req.correlation_id, rq->correlation_id, RH_CORRELATION_LEN);
    snprintf(req.reply_topic, sizeof(req.reply_topic), "%s", r->cfg->topic_replies);
    req.reply_partition = r->reply_partition;
    req.deadline_ms = time_now_ms() + wait_ms;

    /* The deadline in whole ms, rounded up: never before wait_ms have passed. */
    int64_t deadline = (rq->sent_us + wait_ms * 1000 + 999) / 1000;
    int rc = pending_add(r->waiting, rq->correlation_id, deadline, rq);
    if (rc != PENDING_OK) { /* FULL was checked; DUPLICATE needs 2^128 luck */
        free(rq);
        snprintf(errstr, errsize, "cannot wait for the reply (%d)", rc);
        return REQUESTER_ERR;
    }
    rc = publisher_send_request(r->pub, order, &req, trace_parent, rq);
    if (rc != PUBLISH_OK) {
        (void)pending_take(r->waiting, rq->correlation_id, NULL);
        free(rq);
        if (rc == PUBLISH_FULL) return REQUESTER_FULL;
        snprintf(errstr, errsize, "%s", publisher_last_error(r->pub));
        return REQUESTER_ERR;
    }
    rq->next = r->live;
    if (r->live) r->live->prev = rq;
    r->live = rq;
    r->st.sent++;
    r->st.waiting++;
    return REQUESTER_OK;
}

/* One consumed reply: finds its request by correlation id and reports it. */
static void handle_reply(requester_t *r, const rd_kafka_message_t *m) {
    rd_kafka_headers_t *hdrs = NULL;
    uint8_t id[RH_CORRELATION_LEN];
    char why[256];
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rh_read_correlation(hdrs, id, why, sizeof(why)) != RH_OK) {
        r->st.unknown_replies++;
        log_debug("reply without a correlation id", "partition=%d offset=%lld",
                  (int)m->partition, (long long)m->offset);
        return;
    }
    void *w = NULL;
    if (pending_take(r->waiting, id, &w) != PENDING_OK) {
        if (pending_take(r->recent, id, NULL) == PENDING_OK) {
            r->st.late_replies++;
            char hex[RH_CORRELATION_HEX_LEN + 1];
            log_info("late reply", "correlation_id=%s", rh_correlation_hex(id, hex));
        } else {
            r->st.unknown_replies++;
        }
        return;
    }
    request *rq = w;
    char err[200];
    /* Any reply carrying our correlation id proves the order reached Kafka,
     * even before its delivery report. */
    rq->acknowledged = 1;
    order_completed_t *outcome = codec_completed_decode(m->payload, m->len, err, sizeof(err));
    if (!outcome) {
        snprintf(why, sizeof(why), "the reply is not an OrderCompleted: %s", err);
        report(r, rq, REQUEST_BAD_REPLY, NULL, why);
    } else if (!outcome->order_id || strcmp(outcome->order_id, rq->order_id) != 0) {
        snprintf(why, sizeof(why), "the reply is for order %s",
                 outcome->order_id ? outcome->order_id : "(none)");
        report(r, rq, REQUEST_BAD_REPLY, NULL, why);
    } else if (outcome->status != ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED &&
               outcome->status != ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_REJECTED &&
               outcome->status != ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FAILED) {
        snprintf(why, sizeof(why), "the reply has no known status (%d)", (int)outcome->status);
        report(r, rq, REQUEST_BAD_REPLY, NULL, why);
    } else {
        report(r, rq,
               outcome->status == ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FAILED
                   ? REQUEST_FAILED
                   : REQUEST_REPLIED,
               outcome, NULL);
    }
    codec_completed_free(outcome);
    maybe_free(r, rq);
}

/* Serves everything queued now, without waiting. */
static void serve(requester_t *r) {
    wakeup_drain(&r->wake);
    publisher_poll(r->pub, 0);
    for (int i = 0;; i++) {
        if (i == REPLY_BATCH) {
            wakeup_poke(&r->wake); /* more may be queued: the next turn */
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->consumer, 0);
        if (!m) break;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                log_warn("reply consumer error", "error=%s", rd_kafka_message_errstr(m));
        } else {
            handle_reply(r, m);
        }
        rd_kafka_message_destroy(m);
    }
}

int64_t requester_next_timeout(const requester_t *r) {
    int64_t next = pending_next_deadline(r->waiting);
    if (next < 0) return -1;
    int64_t left = next - time_mono_ms();
    return left > 0 ? left : 0;
}

void requester_poll(requester_t *r, int timeout_ms) {
    if (!r->ready && !r->shut && time_mono_ms() >= r->next_position_ms) position(r);
    serve(r);
    int64_t wait = timeout_ms;
    int64_t due = requester_next_timeout(r);
    if (due >= 0 && due < wait) wait = due;
    if (!r->ready && wait > 100) wait = 100; /* the next positioning attempt */
    if (wait > 0) {
        struct pollfd pfd = {.fd = wakeup_fd(&r->wake), .events = POLLIN};
        if (poll(&pfd, 1, (int)wait) > 0) serve(r);
    }
    (void)pending_expire(r->waiting, time_mono_ms(), on_deadline, r);
    (void)pending_expire(r->recent, time_mono_ms(), NULL, NULL);
}

void requester_set_report(requester_t *r, request_report_fn *report_fn, void *ctx) {
    r->report = report_fn;
    r->ctx = ctx;
}

int requester_ready(const requester_t *r) { return r->ready && !r->shut; }

int requester_kafka_up(const requester_t *r) { return !r->brokers_down; }

int requester_fd(const requester_t *r) { return wakeup_fd(&r->wake); }

/* pending_drain callback of requester_shutdown(). */
static void on_shutdown(const uint8_t id[PENDING_ID_LEN], int64_t deadline_ms, void *waiter,
                        void *ctx) {
    (void)id;
    (void)deadline_ms;
    requester_t *r = ctx;
    request *rq = waiter;
    if (rq->acknowledged) {
        report(r, rq, REQUEST_SHUTDOWN, NULL, NULL);
        maybe_free(r, rq);
    } else {
        rq->expired = 1; /* acknowledged later: SHUTDOWN; else NOT_SENT */
    }
}

void requester_shutdown_begin(requester_t *r) {
    if (r->shut) return;
    r->shut = 1;
    /* Replies already here count; then every wait ends. */
    serve(r);
    (void)pending_drain(r->waiting, on_shutdown, r);
}

int requester_shutdown_done(const requester_t *r) { return r->st.waiting == 0; }

void requester_shutdown_end(requester_t *r) {
    requester_shutdown_begin(r);
    if (r->st.waiting == 0) return;
    /* Orders still in the local queue never reached Kafka: drop them, so
     * their reports say so, and give the reports a moment to come. */
    publisher_drop_queued(r->pub);
    int64_t until = time_mono_ms() + 200;
    while (r->st.waiting > 0 && time_mono_ms() < until) publisher_poll(r->pub, 20);
    for (request *rq = r->live; rq;) {
        request *next = rq->next;
        if (!rq->reported) {
            rq->maybe_placed = 1; /* sent, unanswered: Kafka may have it */
            report(r, rq, REQUEST_NOT_SENT, NULL,
                   "Kafka had not acknowledged the order at shutdown");
        }
        rq = next;
    }
}

void requester_shutdown(requester_t *r, int flush_ms) {
    requester_shutdown_begin(r);
    int64_t until = time_mono_ms() + flush_ms;
    while (!requester_shutdown_done(r) && time_mono_ms() < until) publisher_poll(r->pub, 50);
    requester_shutdown_end(r);
}

int requester_failed(const requester_t *r) { return publisher_fatal(r->pub); }

void requester_stats_get(const requester_t *r, requester_stats *st) { *st = r->st; }

void requester_free(requester_t *r) {
    if (!r) return;
    wakeup_close(&r->wake); /* its queues before the clients */
    if (r->consumer) {
        rd_kafka_consumer_close(r->consumer);
        rd_kafka_destroy(r->consumer);
    }
    publisher_destroy(r->pub);
    while (r->live) {
        request *next = r->live->next;
        free(r->live);
        r->live = next;
    }
    pending_free(r->waiting);
    pending_free(r->recent);
    free(r);
}
