#define _POSIX_C_SOURCE 200809L
#include "common/publisher.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "common/headers.h"
#include "common/ids.h"
#include "common/kafka.h"
#include "common/logfmt.h"
#include "common/timeutil.h"
#include "common/trace.h"

/* Slack on top of message.timeout.ms before publisher_finish() gives up:
 * librdkafka reports every message within message.timeout.ms, the slack
 * covers the report's own way back. */
#define FINISH_SLACK_MS 5000
#define FINISH_SLICE_MS 100
#define QUEUE_FULL_WAIT_MS 100

/* One order whose delivery report is outstanding: the per-message opaque.
 * Kept on a list owned by the publisher so that nothing leaks when the
 * producer is destroyed with reports still pending; the list's length is
 * what publisher_finish() waits on. */
typedef struct pending {
    struct pending *prev, *next;
    int counted;   /* already counted as failed by publisher_finish() */
    void *request; /* publisher_send_request()'s per-order pointer */
    char order_id[];
} pending;

struct publisher {
    rd_kafka_t *rk;
    char *topic;
    rd_kafka_topic_t *rkt; /* p->topic's handle */
    char *source; /* ce_source: /orderfleet/order-producer/<host>-<pid> */
    publisher_ack_fn *on_ack;
    publisher_ack_fn *on_failure;
    void *ack_opaque;
    volatile sig_atomic_t *run;
    int finish_timeout_ms;
    int fatal;
    char last_error[256]; /* why the last send failed at once */
    uint64_t sent, acked, failed; /* see publisher_stats */
    pending *pending;             /* head of the outstanding list */
    size_t in_flight;             /* entries on that list */
};

static const char *const producer_defaults[] = {
    "enable.idempotence", "true",
    "acks", "all",
    "linger.ms", "5",
    "message.timeout.ms", "30000",
    "partitioner", "murmur2_random", /* the Java client's partition for the same key */
    /* One request in flight per broker: with more, librdkafka 2.0 to 2.8 can
     * report a record delivered that never was (see IDEMPOTENT_IN_FLIGHT in
     * common/kafka.h). */
    "max.in.flight.requests.per.connection", IDEMPOTENT_IN_FLIGHT,
    NULL,
};

static const char *const producer_enforced[] = {
    "enable.idempotence", "true",
    "acks", "all",
    NULL,
};

static void pending_link(publisher *p, pending *pd) {
    pd->prev = NULL;
    pd->next = p->pending;
    if (p->pending) p->pending->prev = pd;
    p->pending = pd;
    p->in_flight++;
}

static void pending_unlink(publisher *p, pending *pd) {
    if (pd->prev) pd->prev->next = pd->next;
    else p->pending = pd->next;
    if (pd->next) pd->next->prev = pd->prev;
    p->in_flight--;
}

/* Delivery report: runs once per enqueued order, inside rd_kafka_poll() or
 * rd_kafka_flush() on the caller's thread. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    publisher *p = opaque;
    pending *pd = m->_private;
    (void)rk;
    const char *order_id = pd ? pd->order_id : "(unknown)";

    publisher_ack ack = {order_id, rd_kafka_topic_name(m->rkt), -1, -1, NULL, 0,
                         pd ? pd->request : NULL};
    if (pd && pd->counted) {
        /* Already given up on by publisher_finish(); a late report changes
         * nothing in the counts that were printed. */
    } else if (m->err) {
        p->failed++;
        log_error("order not acknowledged", "order_id=%s topic=%s error=%s", order_id,
                  rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
        ack.error = rd_kafka_err2str(m->err);
        ack.maybe_placed = rd_kafka_message_status(m) != RD_KAFKA_MSG_STATUS_NOT_PERSISTED;
        if (p->on_failure) p->on_failure(&ack, p->ack_opaque);
    } else {
        p->acked++;
        log_debug("order acknowledged", "order_id=%s partition=%d offset=%lld", order_id,
                  (int)m->partition, (long long)m->offset);
        ack.partition = m->partition;
        ack.offset = m->offset;
        if (p->on_ack) p->on_ack(&ack, p->ack_opaque);
    }
    if (pd) {
        pending_unlink(p, pd);
        free(pd);
    }
}

/* Client-level errors. Most are transient and librdkafka recovers by itself
 * (brokers down, timeouts): logged as warnings. A fatal error means the
 * idempotent producer can no longer keep its guarantee; librdkafka then
 * fails every outstanding message, and we stop sending. */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    publisher *p = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof(why));
        if (!p->fatal)
            log_error("fatal producer error, stopping", "error=%s reason=%s",
                      rd_kafka_err2name(orig), why);
        p->fatal = 1;
        return;
    }
    log_warn("kafka error", "error=%s reason=%s", rd_kafka_err2name((rd_kafka_resp_err_t)err),
             reason);
}

/* The configured message.timeout.ms (an alias of delivery.timeout.ms), or
 * the default when conf cannot tell. */
static int conf_message_timeout(rd_kafka_conf_t *conf) {
    char buf[32];
    size_t size = sizeof(buf);
    if (rd_kafka_conf_get(conf, "message.timeout.ms", buf, &size) != RD_KAFKA_CONF_OK)
        return 30000;
    long v = strtol(buf, NULL, 10);
    if (v <= 0 || v > 24L * 3600 * 1000) return 30000;
    return (int)v;
}

publisher *publisher_new(const of_config *cfg, const char *program, publisher_ack_fn *on_ack,
                         void *ack_opaque, volatile sig_atomic_t *run, char *errstr,
                         size_t errsize) {
    rd_kafka_conf_t *conf = NULL;
    publisher *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    p->on_ack = on_ack;
    p->ack_opaque = ack_opaque;
    p->run = run;

    char host[256];
    if (gethostname(host, sizeof(host)) != 0) snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    size_t srclen = strlen(program) + strlen(host) + 64;
    p->topic = strdup(cfg->topic_orders);
    p->source = malloc(srclen);
    if (!p->topic || !p->source) {
        snprintf(errstr, errsize, "out of memory");
        goto err;
    }
    snprintf(p->source, srclen, "/orderfleet/%s/%s-%ld", program, host, (long)getpid());

    /* The program's name is the default client.id, under the user's. */
    conf = kafka_conf_new_as(cfg, program, producer_defaults, producer_enforced, errstr, errsize);
    if (!conf) goto err;
    p->finish_timeout_ms = conf_message_timeout(conf) + FINISH_SLACK_MS;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_opaque(conf, p);

    p->rk = kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errsize);
    conf = NULL; /* kafka_new() took it over */
    if (!p->rk) goto err;
    /* The topic handle, held for the producer's life: the topic stays known
     * to librdkafka, so publisher_warm() metadata keeps serving it. */
    p->rkt = rd_kafka_topic_new(p->rk, p->topic, NULL);
    if (!p->rkt) {
        snprintf(errstr, errsize, "topic %s: %s", p->topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        goto err;
    }
    log_debug("producer created", "topic=%s source=%s", p->topic, p->source);
    return p;

err:
    if (conf) rd_kafka_conf_destroy(conf);
    publisher_destroy(p);
    return NULL;
}

/* Counts and logs an order that never made it into the producer: it was
 * sent to the publisher, and failed. */
static int send_failed(publisher *p, const char *order_id, const char *why) {
    snprintf(p->last_error, sizeof(p->last_error), "%s", why);
    p->sent++;
    p->failed++;
    log_error("order not acknowledged", "order_id=%s error=%s", order_id, why);
    return PUBLISH_ERR;
}

/* The shared body of publisher_send() and publisher_send_request(): block
 * says whether a full local queue is waited out (serving reports) or
 * answered with PUBLISH_FULL. */
static int send_order(publisher *p, const order_placed_t *order, const struct rh_request *req,
                      const char *trace_parent, void *request, int block) {
    order_placed_t msg = *order; /* shallow: only order_id and placed_at_ms may change */
    char id[ID_UUID_LEN + 1];
    if (!msg.order_id || !*msg.order_id) {
        id_uuid7(id);
        msg.order_id = id;
    }
    if (msg.placed_at_ms == 0) msg.placed_at_ms = time_now_ms();
    if (p->fatal) return send_failed(p, msg.order_id, "producer stopped after a fatal error");

    size_t idlen = strlen(msg.order_id);
    pending *pd = malloc(sizeof(*pd) + idlen + 1);
    if (!pd) return send_failed(p, msg.order_id, "out of memory");
    pd->counted = 0;
    pd->request = request;
    memcpy(pd->order_id, msg.order_id, idlen + 1);

    size_t len = 0;
    void *value = codec_placed_encode(&msg, &len);
    if (!value) {
        free(pd);
        return send_failed(p, msg.order_id, "out of memory");
    }

    char traceparent[TRACE_PARENT_LEN + 1], why[256] = "";
    trace_child(trace_parent, trace_parent ? strlen(trace_parent) : 0, traceparent);
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(12);
    rd_kafka_resp_err_t err =
        ce_add(hdrs, CE_TYPE_ORDER_PLACED, p->source, msg.order_id, msg.placed_at_ms);
    if (!err) err = hdr_add_str(hdrs, HDR_TRACEPARENT, traceparent);
    if (err) snprintf(why, sizeof(why), "%s", rd_kafka_err2str(err));
    else if (req && rh_write(hdrs, req, why, sizeof(why)) != RH_OK) err = RD_KAFKA_RESP_ERR__INVALID_ARG;
    if (err) {
        rd_kafka_headers_destroy(hdrs);
        free(value);
        free(pd);
        return send_failed(p, msg.order_id, why);
    }

    for (;;) {
        err = rd_kafka_producev(p->rk, RD_KAFKA_V_RKT(p->rkt),
                                RD_KAFKA_V_KEY(pd->order_id, idlen),
                                RD_KAFKA_V_VALUE(value, len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(pd),
                                RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || !block) break;
        /* Backpressure: the local queue is full, serve delivery reports to
         * make room. Only a stop request ends the wait. */
        if (p->run && !*p->run) break;
        rd_kafka_poll(p->rk, QUEUE_FULL_WAIT_MS);
    }
    if (err) {
        /* On failure the value and the headers are still ours. */
        rd_kafka_headers_destroy(hdrs);
        free(value);
        free(pd);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) return block ? PUBLISH_STOPPED : PUBLISH_FULL;
        return send_failed(p, msg.order_id, rd_kafka_err2str(err));
    }
    pending_link(p, pd);
    p->sent++;
    log_debug("order sent", "order_id=%s bytes=%zu", msg.order_id, len);
    return PUBLISH_OK;
}

int publisher_send(publisher *p, const order_placed_t *order) {
    return send_order(p, order, NULL, NULL, NULL, 1);
}

int publisher_send_request(publisher *p, const order_placed_t *order,
                           const struct rh_request *req, const char *trace_parent,
                           void *request) {
    return send_order(p, order, req, trace_parent, request, 0);
}

void publisher_on_failure(publisher *p, publisher_ack_fn *on_failure) {
    p->on_failure = on_failure;
}

size_t publisher_in_flight(const publisher *p) { return p->in_flight; }

const char *publisher_last_error(const publisher *p) { return p->last_error; }

rd_kafka_t *publisher_kafka(publisher *p) { return p->rk; }

void publisher_poll(publisher *p, int timeout_ms) { rd_kafka_poll(p->rk, timeout_ms); }

void publisher_finish(publisher *p, void (*tick)(void *opaque), void *opaque) {
    int64_t deadline = time_mono_ms() + p->finish_timeout_ms;
    int told = 0;
    while (p->in_flight > 0 && time_mono_ms() < deadline) {
        if (!*p->run && !told) {
            log_warn("stopping: waiting for delivery reports, interrupt again to exit now",
                     "outstanding=%zu", p->in_flight);
            told = 1;
        }
        rd_kafka_flush(p->rk, FINISH_SLICE_MS);
        if (tick) tick(opaque);
    }
    if (p->in_flight == 0) return;

    /* Past the deadline: purge what librdkafka still holds, so that each
     * order gets a report (with a purge error) and its line in the log. */
    rd_kafka_resp_err_t err =
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    if (err) log_warn("cannot purge the producer queue", "error=%s", rd_kafka_err2str(err));
    int64_t purge_deadline = time_mono_ms() + 1000;
    while (p->in_flight > 0 && time_mono_ms() < purge_deadline)
        rd_kafka_poll(p->rk, FINISH_SLICE_MS);

    for (pending *pd = p->pending; pd; pd = pd->next) {
        if (pd->counted) continue;
        pd->counted = 1;
        p->failed++;
        log_error("order not acknowledged", "order_id=%s error=%s", pd->order_id,
                  "no delivery report before the deadline");
    }
}

int publisher_warm(publisher *p, int timeout_ms, char *errstr, size_t errsize) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(p->rk, 0, p->rkt, &md, timeout_ms);
    if (!err && (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt == 0))
        err = md->topic_cnt == 1 && md->topics[0].err ? md->topics[0].err
                                                      : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    if (md) rd_kafka_metadata_destroy(md);
    if (err) {
        snprintf(errstr, errsize, "topic %s: %s", p->topic, rd_kafka_err2str(err));
        return PUBLISH_ERR;
    }
    return PUBLISH_OK;
}

void publisher_drop_queued(publisher *p) {
    rd_kafka_resp_err_t err = rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE);
    if (err) log_warn("cannot purge the producer queue", "error=%s", rd_kafka_err2str(err));
}

void publisher_get_stats(const publisher *p, publisher_stats *st) {
    st->sent = p->sent;
    st->acked = p->acked;
    st->failed = p->failed;
}

int publisher_fatal(const publisher *p) { return p->fatal; }

void publisher_destroy(publisher *p) {
    if (!p) return;
    /* rd_kafka_destroy() does not call delivery reports for messages still
     * queued, so their pending entries are freed here, after it. */
    if (p->rkt) rd_kafka_topic_destroy(p->rkt);
    if (p->rk) rd_kafka_destroy(p->rk);
    pending *pd = p->pending;
    while (pd) {
        pending *next = pd->next;
        free(pd);
        pd = next;
    }
    free(p->topic);
    free(p->source);
    free(p);
}
