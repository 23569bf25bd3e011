#define _POSIX_C_SOURCE 200809L
#include "consumer/engine.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/headers.h"
#include "common/kafka.h"
#include "common/logfmt.h"
#include "common/order_codec.h"
#include "common/reply_headers.h"
#include "common/rng.h"
#include "common/timeutil.h"
#include "consumer/backoff.h"
#include "consumer/offsets.h"

#define STATS_LOG_INTERVAL_MS 10000
#define MAX_ORDER_ID 128 /* bytes; longer ids are not ids but accidents or attacks */

/* One assigned input partition. gen tells a partition assigned again apart
 * from its earlier assignment, so a late delivery report for work of the
 * earlier one cannot mark offsets of the new one. */
typedef struct part {
    char *topic; /* owned */
    int32_t partition;
    uint64_t gen;
    offtrack track;
    int64_t committed; /* last offset committed (or being committed); -1: none */
    size_t jobs;       /* jobs of this assignment still alive */
} part;

/* One consumed record and everything it produced. It holds the consumed
 * message (and so its key, value and headers) until the last record it
 * produced is acknowledged, so that a failed publish can still send the
 * original bytes to the dead-letter topic. pending counts the records in
 * flight plus one reference held while the record is being processed. */
typedef struct job {
    rd_kafka_message_t *in; /* owned */
    uint64_t gen;
    int pending;
    int lost;          /* a record it needed could not be published */
    /* The dead-letter record sent for it, if any, to send again without its
     * value should the record prove too large for the DLQ topic. */
    int dead_lettered;
    int dlq_value_dropped;
    unsigned dlq_attempts;
    char dlq_class[16];
    char dlq_error[200];
    struct job *prev, *next; /* the engine's list of live jobs */
} job;

/* A publish that failed in a delivery report, handled later from the main
 * loop: a delivery-report callback must not produce (the failed message's
 * queue slot is only freed after the callback returns). */
typedef struct failure {
    job *j; /* holds a reference */
    int to_dlq;
    rd_kafka_resp_err_t err;
    struct failure *next;
} failure;

struct engine {
    const of_config *cfg; /* borrowed */
    const handler *h;     /* borrowed */
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    rd_kafka_topic_t *written[2]; /* completed and DLQ: held so they stay known (warm_topics) */
    char source[192]; /* ce_source: /orderfleet/order-worker/<worker id> */

    part *parts; /* the current assignment */
    size_t nparts, capparts;
    uint64_t next_gen;

    job *live;                 /* jobs alive (consumed and not yet released) */
    size_t jobs;               /* how many */
    failure *failures;         /* failed deliveries waiting for handle_failures() */
    volatile sig_atomic_t *run; /* cleared by SIGTERM/SIGINT */
    int stopping; /* shutting down: in-flight work was drained already */
    int consumer_closed; /* left the group: no more rebalance callbacks */
    int closing;  /* producer purged: purged deliveries are expected */
    int exit_status;
    rng rng; /* for backoff jitter */
    engine_stats stats;
};

/* Taking new work: not asked to stop, and not shutting down. */
static int running(const engine *e) { return e->run && *e->run && !e->stopping; }

/* ---- partitions ------------------------------------------------------- */

/* Linear search: a worker owns tens of partitions, and this runs once per
 * record, next to a protobuf decode that costs far more. */
static part *part_find(engine *e, const char *topic, int32_t partition) {
    for (size_t i = 0; i < e->nparts; i++)
        if (e->parts[i].partition == partition && strcmp(e->parts[i].topic, topic) == 0)
            return &e->parts[i];
    return NULL;
}

static int part_add(engine *e, const char *topic, int32_t partition) {
    if (part_find(e, topic, partition)) return 0;
    if (e->nparts == e->capparts) {
        size_t cap = e->capparts ? e->capparts * 2 : 16;
        part *p = realloc(e->parts, cap * sizeof(*p));
        if (!p) return -1;
        e->parts = p;
        e->capparts = cap;
    }
    part *p = &e->parts[e->nparts];
    if (!(p->topic = strdup(topic))) return -1;
    p->partition = partition;
    p->gen = ++e->next_gen;
    p->committed = -1;
    p->jobs = 0;
    offtrack_init(&p->track);
    e->nparts++;
    return 0;
}

static void part_remove(engine *e, const char *topic, int32_t partition) {
    part *p = part_find(e, topic, partition);
    if (!p) return;
    free(p->topic);
    offtrack_free(&p->track);
    *p = e->parts[--e->nparts];
}

/* ---- completion of work ----------------------------------------------- */

/* Drops one reference to a job. The last one marks its input offset done,
 * unless the job lost a record, in which case the offset stays undone (and so
 * uncommitted) and the record is processed again after a restart. */
static void job_release(engine *e, job *j) {
    if (--j->pending > 0) return;
    rd_kafka_message_t *in = j->in;
    part *p = part_find(e, rd_kafka_topic_name(in->rkt), in->partition);
    if (p && p->gen == j->gen) {
        p->jobs--;
        if (!j->lost && offtrack_done(&p->track, in->offset) != OFFTRACK_OK)
            log_error("offset bookkeeping out of step", "topic=%s partition=%" PRId32
                      " offset=%" PRId64, p->topic, p->partition, in->offset);
    }
    if (j->prev) j->prev->next = j->next;
    else e->live = j->next;
    if (j->next) j->next->prev = j->prev;
    rd_kafka_message_destroy(in);
    free(j);
    e->jobs--;
}

/* ---- publishing ------------------------------------------------------- */

/* Produces one record on behalf of job j (NULL for a reply), waiting out a
 * full local queue (backpressure: poll, which serves delivery reports and so
 * frees room, then try again) unless the worker is stopping. Takes over hdrs
 * and, with RD_KAFKA_MSG_F_FREE, value, whatever the outcome. Returns the
 * error of a failed enqueue. */
static rd_kafka_resp_err_t publish(engine *e, job *j, const char *topic, int32_t partition,
                                   const void *key, size_t keylen, void *value, size_t len,
                                   int msgflags, rd_kafka_headers_t *hdrs) {
    rd_kafka_resp_err_t err;
    for (;;) {
        err = rd_kafka_producev(e->producer, RD_KAFKA_V_TOPIC(topic),
                                RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY(key, keylen),
                                RD_KAFKA_V_VALUE(value, len),
                                RD_KAFKA_V_MSGFLAGS(msgflags), RD_KAFKA_V_HEADERS(hdrs),
                                RD_KAFKA_V_OPAQUE(j), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || !running(e) || e->exit_status) break;
        rd_kafka_poll(e->producer, 100);
    }
    if (err) { /* on failure producev owns neither headers nor value */
        rd_kafka_headers_destroy(hdrs);
        if (msgflags & RD_KAFKA_MSG_F_FREE) free(value);
        return err;
    }
    if (j) j->pending++; /* a reply (j NULL) holds no job: see publish_reply() */
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

static void publish_failed(engine *e, job *j, int to_dlq, rd_kafka_resp_err_t err);

/* Sends the job's input record, unchanged (key, value and headers), to the
 * dead-letter topic, with headers that say what went wrong and where the
 * record came from. With drop_value the value is left out (and its size
 * given in orderfleet_value_dropped): the last resort for a record too large
 * for the DLQ topic, so that it is at least found. A failed enqueue goes to
 * publish_failed() like a failed delivery. */
static void dead_letter(engine *e, job *j, const char *error_class, const char *error,
                        unsigned attempts, int drop_value) {
    const rd_kafka_message_t *in = j->in;
    rd_kafka_headers_t *orig = NULL, *hdrs;
    if (rd_kafka_message_headers(in, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR)
        hdrs = rd_kafka_headers_copy(orig);
    else
        hdrs = rd_kafka_headers_new(8);
    hdr_add_str(hdrs, HDR_ERROR_CLASS, error_class);
    hdr_add_str(hdrs, HDR_ERROR, error);
    hdr_add_str(hdrs, HDR_ORIGINAL_TOPIC, rd_kafka_topic_name(in->rkt));
    hdr_add_i64(hdrs, HDR_ORIGINAL_PARTITION, in->partition);
    hdr_add_i64(hdrs, HDR_ORIGINAL_OFFSET, in->offset);
    if (attempts > 0) hdr_add_i64(hdrs, HDR_ATTEMPT, attempts);
    if (drop_value) hdr_add_i64(hdrs, HDR_VALUE_DROPPED, (int64_t)in->len);

    if (!j->dead_lettered) {
        j->dead_lettered = 1;
        j->dlq_attempts = attempts;
        snprintf(j->dlq_class, sizeof(j->dlq_class), "%s", error_class);
        snprintf(j->dlq_error, sizeof(j->dlq_error), "%s", error);
    }
    j->dlq_value_dropped = drop_value;
    log_warn("record dead-lettered", "class=%s error=%s topic=%s partition=%" PRId32
             " offset=%" PRId64 " value_dropped=%d", error_class, error,
             rd_kafka_topic_name(in->rkt), in->partition, in->offset, drop_value);
    rd_kafka_resp_err_t err =
        publish(e, j, e->cfg->topic_dlq, RD_KAFKA_PARTITION_UA, in->key, in->key_len,
                drop_value ? NULL : in->payload, drop_value ? 0 : in->len, RD_KAFKA_MSG_F_COPY,
                hdrs);
    if (err) publish_failed(e, j, 1, err);
    else e->stats.dead_lettered++;
}

static int too_large(rd_kafka_resp_err_t err) {
    return err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
           err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE;
}

/* A record that job j needed could not be published (enqueue error or
 * failed delivery, after librdkafka's own retries for message.timeout.ms).
 *
 * Only a record too large to publish is a fault of this one record: an
 * outcome that large sends the input to the DLQ (class "publish"), a DLQ
 * record that large is sent again without its value. Anything else (Kafka
 * unreachable for minutes, authorization, a missing topic) would fail every
 * order alike, so the job is lost: its offset is never marked done, hence
 * never committed, and the worker stops (status 75) so that its orchestrator
 * restarts it and the record is processed again, rather than skipped. */
static void publish_failed(engine *e, job *j, int to_dlq, rd_kafka_resp_err_t err) {
    const char *topic = to_dlq ? e->cfg->topic_dlq : e->cfg->topic_completed;
    e->stats.publish_errors++;
    if (e->closing || !running(e)) { /* shutting down: the next owner redoes it */
        j->lost = 1;
        return;
    }
    log_error("publish failed", "topic=%s partition=%" PRId32 " offset=%" PRId64 " error=%s",
              topic, j->in->partition, j->in->offset, rd_kafka_err2str(err));
    if (too_large(err) && !to_dlq && !j->dead_lettered) {
        char why[256];
        snprintf(why, sizeof(why), "publishing to %s failed: %s", topic, rd_kafka_err2str(err));
        dead_letter(e, j, "publish", why, 0, 0);
        return;
    }
    if (too_large(err) && to_dlq && !j->dlq_value_dropped) {
        dead_letter(e, j, j->dlq_class, j->dlq_error, j->dlq_attempts, 1);
        return;
    }
    j->lost = 1;
    if (!e->exit_status) {
        log_error("record can be neither answered nor dead-lettered; stopping",
                  "topic=%s partition=%" PRId32 " offset=%" PRId64,
                  rd_kafka_topic_name(j->in->rkt), j->in->partition, j->in->offset);
        e->exit_status = EXIT_TEMPFAIL;
    }
}

/* Handles the failed deliveries queued by on_delivery(), in the order they
 * failed. Called from the main loop and the drain loop, never from a
 * callback. */
static void handle_failures(engine *e) {
    while (e->failures) {
        failure *f = e->failures;
        e->failures = f->next;
        publish_failed(e, f->j, f->to_dlq, f->err);
        job_release(e, f->j);
        free(f);
    }
}

/* Delivery report: served by rd_kafka_poll() on the producer. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    engine *e = opaque;
    job *j = m->_private;
    const char *topic = rd_kafka_topic_name(m->rkt);
    (void)rk;
    if (!j) { /* a reply: nothing waits on it (see publish_reply()) */
        if (m->err && !e->closing) {
            e->stats.reply_errors++;
            log_warn("reply not delivered", "topic=%s partition=%" PRId32 " error=%s", topic,
                     m->partition, rd_kafka_err2str(m->err));
        }
        return;
    }
    if (m->err && e->closing) {
        j->lost = 1; /* purged past the drain deadline: the next owner redoes it */
    } else if (m->err) {
        failure *f = malloc(sizeof(*f)), **tail = &e->failures;
        if (!f) {
            j->lost = 1;
            e->exit_status = EXIT_TEMPFAIL;
        } else {
            *f = (failure){j, strcmp(topic, e->cfg->topic_dlq) == 0, m->err, NULL};
            while (*tail) tail = &(*tail)->next;
            *tail = f;
            j->pending++; /* the failure holds the job */
        }
    }
    job_release(e, j);
}

/* The reply a requester asked for with Spring's headers (DESIGN §4): the
 * same OrderCompleted, on its reply topic (and partition), carrying its
 * correlation id, unless its deadline has passed (nobody waits any more) or
 * the headers are malformed.
 *
 * The reply topic comes from the requester, so it is held to an allow-list:
 * topics.replies itself or a topic named "<topics.replies>.<anything>" (one
 * per gateway instance, say). Anything else would let a client make the
 * workers write, with their credentials, into any topic. And the reply holds
 * no job: a requester's slow or missing topic must not hold back the
 * commit of the order, whose outcome is on the completed topic anyway.
 * Failures are logged and counted, never fatal. */
static void publish_reply(engine *e, const job *j, const char *order_id, const void *value,
                          size_t len, const rd_kafka_headers_t *outcome_hdrs) {
    rd_kafka_headers_t *in_hdrs = NULL;
    struct rh_request req;
    char why[256];
    if (rd_kafka_message_headers(j->in, &in_hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
    int rc = rh_read(in_hdrs, &req, why, sizeof(why));
    if (rc == RH_NO_REPLY) return;
    if (rc != RH_OK) {
        e->stats.reply_errors++;
        log_warn("reply skipped: malformed request headers", "order_id=%s error=%s", order_id,
                 why);
        return;
    }
    if (req.deadline_ms >= 0 && time_now_ms() > req.deadline_ms) {
        e->stats.replies_late++;
        log_debug("reply skipped: deadline passed", "order_id=%s", order_id);
        return;
    }
    const char *replies = e->cfg->topic_replies;
    size_t n = strlen(replies);
    if (strncmp(req.reply_topic, replies, n) != 0 ||
        (req.reply_topic[n] != '\0' && req.reply_topic[n] != '.')) {
        e->stats.reply_errors++;
        log_warn("reply skipped: reply topic not allowed", "order_id=%s topic=%s allowed=%s",
                 order_id, req.reply_topic, replies);
        return;
    }
    rd_kafka_headers_t *hdrs = rd_kafka_headers_copy(outcome_hdrs);
    if (rh_write_correlation(hdrs, req.correlation_id, why, sizeof(why)) != RH_OK) {
        rd_kafka_headers_destroy(hdrs);
        e->stats.reply_errors++;
        log_warn("reply skipped", "order_id=%s error=%s", order_id, why);
        return;
    }
    rd_kafka_resp_err_t err =
        publish(e, NULL, req.reply_topic, req.reply_partition < 0 ? RD_KAFKA_PARTITION_UA
                                                                   : req.reply_partition,
                order_id, strlen(order_id), (void *)value, len, RD_KAFKA_MSG_F_COPY, hdrs);
    if (err) {
        e->stats.reply_errors++;
        log_warn("reply not sent", "order_id=%s topic=%s error=%s", order_id, req.reply_topic,
                 rd_kafka_err2str(err));
    } else {
        e->stats.replies++;
    }
}

/* Publishes the outcome of an order on the completed topic and, when its
 * requester asked for one, as a reply. */
static rd_kafka_resp_err_t publish_outcome(engine *e, job *j, const order_placed_t *order,
                                           Orderfleet__V1__OrderStatus status,
                                           const handler_result *res, unsigned attempts) {
    int fulfilled = status == ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED;
    order_completed_t out = ORDERFLEET__V1__ORDER_COMPLETED__INIT;
    out.order_id = order->order_id;
    out.status = status;
    out.reason = fulfilled ? "" : (char *)res->reason;
    if (fulfilled) {
        out.subtotal = res->subtotal;
        out.tax = res->tax;
        out.shipping = res->shipping;
        out.total = res->total;
    }
    /* Only a plausible currency code is echoed: an outcome stays small
     * whatever the order carried. */
    out.currency = strlen(order->currency) <= 8 ? order->currency : "";
    out.placed_at_ms = order->placed_at_ms;
    out.completed_at_ms = time_now_ms();
    out.worker_id = e->cfg->worker_id;
    out.attempts = attempts;

    size_t len;
    void *value = codec_completed_encode(&out, &len);
    if (!value) return RD_KAFKA_RESP_ERR__FAIL;
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(10);
    ce_add(hdrs, CE_TYPE_ORDER_COMPLETED, e->source, order->order_id, out.completed_at_ms);
    rd_kafka_headers_t *in_hdrs;
    if (rd_kafka_message_headers(j->in, &in_hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
        hdr_copy_trace(in_hdrs, hdrs);

    publish_reply(e, j, order->order_id, value, len, hdrs);
    rd_kafka_resp_err_t err =
        publish(e, j, e->cfg->topic_completed, RD_KAFKA_PARTITION_UA, order->order_id,
                strlen(order->order_id), value, len, RD_KAFKA_MSG_F_FREE, hdrs);
    if (!err) {
        if (fulfilled) e->stats.fulfilled++;
        else if (status == ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_REJECTED) e->stats.rejected++;
        else e->stats.failed++;
    }
    return err;
}

/* ---- processing ------------------------------------------------------- */

/* Waits out a retry backoff while serving delivery reports, so that the
 * outcomes of earlier orders keep being acknowledged meanwhile. */
static void backoff_wait(engine *e, unsigned attempt) {
    int64_t delay = backoff_delay_ms(e->cfg->retry_base_ms, e->cfg->retry_cap_ms, attempt,
                                     rng_unit(&e->rng));
    int64_t until = time_mono_ms() + delay;
    for (int64_t left = delay; left > 0; left = until - time_mono_ms())
        rd_kafka_poll(e->producer, left > 50 ? 50 : (int)left);
}

/* Processes one consumed record: decode, identify, let the handler decide
 * (retrying transient failures with backoff up to retry.max_attempts), then
 * publish the outcome, and dead-letter what cannot be processed. */
static void process(engine *e, job *j) {
    const rd_kafka_message_t *in = j->in;
    char errstr[256];

    order_placed_t *order = codec_placed_decode(in->payload, in->len, errstr, sizeof(errstr));
    if (!order) {
        dead_letter(e, j, "decode", errstr, 0, 0);
        return;
    }
    const char *unidentified = order->order_id[0] == '\0'
                                   ? "orderId is missing: the record cannot be identified"
                               : strlen(order->order_id) > MAX_ORDER_ID
                                   ? "orderId is longer than 128 bytes"
                                   : NULL;
    if (unidentified) {
        dead_letter(e, j, "validation", unidentified, 0, 0);
        codec_placed_free(order);
        return;
    }

    handler_result res;
    unsigned attempt = 1;
    for (;; attempt++) {
        memset(&res, 0, sizeof(res));
        e->h->handle(e->h->state, order, attempt, &res);
        if (res.verdict != HANDLER_TRANSIENT || attempt >= (unsigned)e->cfg->retry_max_attempts)
            break;
        e->stats.retries++;
        log_debug("transient failure, retrying", "order_id=%s attempt=%u reason=%s",
                  order->order_id, attempt, res.reason);
        backoff_wait(e, attempt);
    }

    Orderfleet__V1__OrderStatus status;
    switch (res.verdict) {
    case HANDLER_FULFILLED: status = ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED; break;
    case HANDLER_REJECTED: status = ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_REJECTED; break;
    default: {
        /* Out of attempts: the order goes to the DLQ for a person to look
         * at, and its requester still gets an answer: FAILED. */
        char reason[HANDLER_REASON_MAX];
        snprintf(reason, sizeof(reason), "gave up after %u attempts: %.200s", attempt,
                 res.verdict == HANDLER_TRANSIENT ? res.reason : "the handler gave no verdict");
        memcpy(res.reason, reason, sizeof(reason));
        status = ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FAILED;
        dead_letter(e, j, "exhausted", res.reason, attempt, 0);
    }
    }
    rd_kafka_resp_err_t err = publish_outcome(e, j, order, status, &res, attempt);
    if (err) publish_failed(e, j, 0, err);
    codec_placed_free(order);
}

/* Takes over m. */
static void consume(engine *e, rd_kafka_message_t *m) {
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            log_warn("consume error", "topic=%s partition=%" PRId32 " error=%s",
                     m->rkt ? rd_kafka_topic_name(m->rkt) : "-", m->partition,
                     rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return;
    }
    part *p = part_find(e, rd_kafka_topic_name(m->rkt), m->partition);
    if (!p) { /* cannot happen: consumed records belong to the assignment */
        log_warn("record outside the assignment skipped", "topic=%s partition=%" PRId32
                 " offset=%" PRId64, rd_kafka_topic_name(m->rkt), m->partition, m->offset);
        rd_kafka_message_destroy(m);
        return;
    }
    if (p->track.next < 0) /* the first record of this assignment: where it starts */
        log_info("partition started", "topic=%s partition=%" PRId32 " offset=%" PRId64,
                 p->topic, p->partition, m->offset);
    int rc = offtrack_add(&p->track, m->offset);
    if (rc == OFFTRACK_ERR) {
        /* The partition went back (an offset reset or a seek): start its
         * bookkeeping afresh. Work still in flight from before belongs to
         * the old generation and no longer touches it. */
        log_warn("partition rewound", "topic=%s partition=%" PRId32 " offset=%" PRId64
                 " expected=%" PRId64, p->topic, p->partition, m->offset, p->track.next);
        offtrack_free(&p->track);
        p->gen = ++e->next_gen;
        p->jobs = 0;
        p->committed = -1;
        rc = offtrack_add(&p->track, m->offset);
    }
    job *j = rc == OFFTRACK_OK ? calloc(1, sizeof(*j)) : NULL;
    if (!j) {
        /* Out of memory. Stop before anything later is committed: this
         * offset is not tracked, so nothing may pass it. */
        log_error("out of memory; stopping", "topic=%s partition=%" PRId32 " offset=%" PRId64,
                  p->topic, p->partition, m->offset);
        if (rc == OFFTRACK_OK) offtrack_free(&p->track); /* forget, never commit past it */
        e->exit_status = EXIT_TEMPFAIL;
        rd_kafka_message_destroy(m);
        return;
    }
    j->in = m;
    j->gen = p->gen;
    j->pending = 1; /* held until process() returns */
    j->next = e->live;
    if (e->live) e->live->prev = j;
    e->live = j;
    p->jobs++;
    e->jobs++;
    e->stats.consumed++;
    process(e, j);
    job_release(e, j);
}

/* ---- offsets ---------------------------------------------------------- */

/* Commits, for each assigned partition (or only those in `only`), the first
 * offset not yet done, when it moved. Asynchronous in the steady state. The
 * rebalance and shutdown paths commit synchronously, and every partition
 * whatever was sent before, since an asynchronous commit still in flight
 * could yet fail. Failed commits are retried at the next call (on_commit). */
static void commit_done(engine *e, int sync, const rd_kafka_topic_partition_list_t *only) {
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new((int)(e->nparts ? e->nparts : 1));
    for (size_t i = 0; i < e->nparts; i++) {
        part *p = &e->parts[i];
        if (only && !rd_kafka_topic_partition_list_find(only, p->topic, p->partition)) continue;
        int64_t next = offtrack_committable(&p->track);
        if (next < 0 || (!sync && next == p->committed)) continue;
        rd_kafka_topic_partition_list_add(list, p->topic, p->partition)->offset = next;
        p->committed = next;
    }
    if (list->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_commit(e->consumer, list, !sync);
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
            log_warn("commit failed", "partitions=%d error=%s", list->cnt, rd_kafka_err2str(err));
        else
            log_debug("offsets committed", "partitions=%d sync=%d", list->cnt, sync);
    }
    rd_kafka_topic_partition_list_destroy(list);
}

/* Commit results, served by the consumer's poll. A partition whose commit
 * failed is marked uncommitted so that the next commit_done() sends it again. */
static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque) {
    engine *e = opaque;
    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
    if (err && !offsets) /* the whole request failed: send everything again */
        for (size_t i = 0; i < e->nparts; i++) e->parts[i].committed = -1;
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &offsets->elems[i];
        if (!tp->err && !err) continue;
        part *p = part_find(e, tp->topic, tp->partition);
        if (p && p->committed == tp->offset) p->committed = -1;
    }
    if (err) log_warn("commit failed", "error=%s", rd_kafka_err2str(err));
}

/* Serves delivery reports (and the failures they report) until none of the
 * given partitions (all, when NULL) has work in flight, or the deadline
 * passes. Returns the jobs still in flight. */
static size_t drain(engine *e, const rd_kafka_topic_partition_list_t *only, int timeout_ms) {
    int64_t deadline = time_mono_ms() + timeout_ms;
    for (;;) {
        size_t inflight = 0;
        handle_failures(e);
        for (size_t i = 0; i < e->nparts; i++)
            if (!only || rd_kafka_topic_partition_list_find(only, e->parts[i].topic,
                                                            e->parts[i].partition))
                inflight += e->parts[i].jobs;
        if (inflight == 0 || time_mono_ms() >= deadline) return inflight;
        rd_kafka_poll(e->producer, 20);
    }
}

/* ---- group membership ------------------------------------------------- */

static void log_partitions(const char *msg, const rd_kafka_topic_partition_list_t *parts,
                           size_t total) {
    char list[512];
    size_t n = 0;
    list[0] = '\0';
    for (int i = 0; i < parts->cnt && n + 16 < sizeof(list); i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%" PRId32, i ? "," : "",
                              parts->elems[i].partition);
    log_info(msg, "count=%d partitions=%s assigned=%zu", parts->cnt, list, total);
}

/* Rebalance: with cooperative-sticky only the partitions that move are
 * revoked, and the others keep working. A revoked partition's in-flight work
 * is finished (within worker.drain_timeout_ms) and its offsets committed
 * before it is released, so its next owner starts exactly where we stopped.
 * Lost partitions (session timed out: someone else may own them already) are
 * dropped without committing. */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    engine *e = opaque;
    int cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;

    e->stats.rebalances++;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; i++)
            if (part_add(e, parts->elems[i].topic, parts->elems[i].partition) != 0) {
                log_error("out of memory", NULL);
                e->exit_status = EXIT_TEMPFAIL;
            }
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, parts);
        log_partitions("partitions assigned", parts, e->nparts);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        if (rd_kafka_assignment_lost(rk)) {
            log_warn("partitions lost; dropping their work uncommitted", "count=%d", parts->cnt);
        } else {
            size_t undone = drain(e, parts, e->stopping ? 0 : e->cfg->worker_drain_timeout_ms);
            if (undone && !e->stopping)
                log_warn("drain deadline passed; work left to the next owner", "undone=%zu",
                         undone);
            commit_done(e, 1, parts);
        }
        for (int i = 0; i < parts->cnt; i++)
            part_remove(e, parts->elems[i].topic, parts->elems[i].partition);
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, NULL);
        log_partitions("partitions revoked", parts, e->nparts);
    } else {
        log_error("rebalance failed", "error=%s", rd_kafka_err2str(err));
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, NULL);
    }
    if (error) {
        log_error("assignment change failed", "error=%s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (aerr) {
        log_error("assignment change failed", "error=%s", rd_kafka_err2str(aerr));
    }
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    engine *e = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof(why));
        log_error("fatal Kafka client error", "client=%s error=%s reason=%s", rd_kafka_name(rk),
                  rd_kafka_err2name(orig), why);
        e->exit_status = EXIT_SOFTWARE;
        return;
    }
    log_warn("Kafka client error", "client=%s error=%s reason=%s", rd_kafka_name(rk),
             rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* ---- lifecycle -------------------------------------------------------- */

/* cooperative-sticky is the contract's assignor, but before librdkafka 2.10 a
 * commit that meets the second round of a cooperative rebalance fails with
 * ILLEGAL_GENERATION and librdkafka then drops the member's whole assignment
 * (librdkafka issue #4059, fixed by PR #4908 in 2.10.0): partitions stall or
 * are redone. A worker commits all the time, so on older librdkafka (Debian
 * 12 ships 2.0.2, Debian 13 2.8) it uses an eager assignor, whose rebalances
 * are stop-the-world but sound. -X partition.assignment.strategy=... wins. */
#define COOPERATIVE_SAFE_LIBRDKAFKA 0x020a0000

const char *engine_default_assignor(void) {
    return rd_kafka_version() >= COOPERATIVE_SAFE_LIBRDKAFKA ? "cooperative-sticky"
                                                             : "roundrobin";
}

/* The poll loop is not served while an order is retried or while revoked
 * partitions drain inside the rebalance callback; past max.poll.interval.ms
 * the group would evict the worker mid-work. So both budgets must fit in it. */
int engine_check_config(const of_config *cfg, char *errstr, size_t errsize) {
    const char *v = config_kafka_get(cfg, "max.poll.interval.ms");
    long long interval = v ? atoll(v) : 300000;
    long long retries = (long long)(cfg->retry_max_attempts - 1) *
                        ((long long)cfg->retry_cap_ms + cfg->handler_latency_ms);
    if (retries >= interval) {
        snprintf(errstr, errsize,
                 "retry.max_attempts (%d) x (retry.cap_ms (%d) + handler.latency_ms (%d)) may "
                 "keep one order longer than max.poll.interval.ms (%lld): lower them or raise "
                 "kafka.max_poll_interval_ms",
                 cfg->retry_max_attempts, cfg->retry_cap_ms, cfg->handler_latency_ms, interval);
        return -1;
    }
    if (cfg->worker_drain_timeout_ms >= interval) {
        snprintf(errstr, errsize,
                 "worker.drain_timeout_ms (%d) must be below max.poll.interval.ms (%lld)",
                 cfg->worker_drain_timeout_ms, interval);
        return -1;
    }
    return 0;
}

/* Fetches the metadata of the topics the worker writes outcomes and dead
 * letters to, before it takes any work. librdkafka learns a topic it has
 * not met at its next periodic metadata refresh, up to a second later, and
 * the first outcomes would wait that long. Best effort: a failure (Kafka
 * not up yet) is logged and costs only that second. The handles are held
 * for the producer's life, so the topics stay known. */
static void warm_topics(engine *e) {
    const char *names[2] = {e->cfg->topic_completed, e->cfg->topic_dlq};
    for (int i = 0; i < 2; i++) {
        e->written[i] = rd_kafka_topic_new(e->producer, names[i], NULL);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err =
            e->written[i] ? rd_kafka_metadata(e->producer, 0, e->written[i], &md, 2000)
                          : rd_kafka_last_error();
        if (md) rd_kafka_metadata_destroy(md);
        if (err)
            log_warn("no metadata yet for an output topic", "topic=%s error=%s", names[i],
                     rd_kafka_err2str(err));
    }
}

engine *engine_new(const of_config *cfg, const handler *h, char *errstr, size_t errsize) {
    engine *e = calloc(1, sizeof(*e));
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_partition_list_t *topics = NULL;
    if (!e) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    e->cfg = cfg;
    e->h = h;
    snprintf(e->source, sizeof(e->source), "/orderfleet/order-worker/%s", cfg->worker_id);
    rng_seed_random(&e->rng);

    /* The producer: idempotent and acks=all, so an acknowledged outcome is
     * written once and durable; murmur2 partitioning like Java clients, so a
     * key lands on the same partition whoever produced it. */
    static const char *const producer_defaults[] = {
        "client.id", "order-worker", "linger.ms", "5", "partitioner", "murmur2_random",
        /* room for a dead letter of the largest record a broker accepts by default
         * (1 MiB) plus its headers */
        "message.max.bytes", "1200000", NULL};
    static const char *const producer_enforced[] = {"enable.idempotence", "true", "acks", "all",
                                                    NULL};
    if (!(conf = kafka_conf_new(cfg, producer_defaults, producer_enforced, errstr, errsize)))
        goto err;
    rd_kafka_conf_set_opaque(conf, e);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    if (!(e->producer = kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errsize))) goto err;

    /* The consumer: offsets are stored and committed by us alone, only for
     * done work; a new group starts from the earliest record so an order
     * placed before the first worker started is still processed. */
    const char *consumer_defaults[] = {
        "client.id", "order-worker", "auto.offset.reset", "earliest",
        "partition.assignment.strategy", engine_default_assignor(), "session.timeout.ms",
        "10000", NULL};
    const char *consumer_enforced[] = {"group.id", cfg->worker_group, "enable.auto.commit",
                                       "false", "enable.auto.offset.store", "false", NULL};
    if (!(conf = kafka_conf_new(cfg, consumer_defaults, consumer_enforced, errstr, errsize)))
        goto err;
    rd_kafka_conf_set_opaque(conf, e);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
    rd_kafka_conf_set_error_cb(conf, on_error);
    if (!(e->consumer = kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errsize))) goto err;
    rd_kafka_resp_err_t perr = rd_kafka_poll_set_consumer(e->consumer);
    if (perr) {
        snprintf(errstr, errsize, "redirecting the consumer's queue: %s", rd_kafka_err2str(perr));
        goto err;
    }

    warm_topics(e);

    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, cfg->topic_orders, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t serr = rd_kafka_subscribe(e->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (serr) {
        snprintf(errstr, errsize, "subscribing to %s: %s", cfg->topic_orders,
                 rd_kafka_err2str(serr));
        goto err;
    }
    return e;
err:
    engine_destroy(e);
    return NULL;
}

static void log_stats(const engine *e, const char *msg) {
    log_info(msg,
             "consumed=%" PRIu64 " fulfilled=%" PRIu64 " rejected=%" PRIu64 " failed=%" PRIu64
             " dead_lettered=%" PRIu64 " retries=%" PRIu64 " replies=%" PRIu64
             " replies_late=%" PRIu64 " reply_errors=%" PRIu64 " publish_errors=%" PRIu64
             " rebalances=%" PRIu64 " in_flight=%zu",
             e->stats.consumed, e->stats.fulfilled, e->stats.rejected, e->stats.failed,
             e->stats.dead_lettered, e->stats.retries, e->stats.replies, e->stats.replies_late,
             e->stats.reply_errors, e->stats.publish_errors, e->stats.rebalances, e->jobs);
}

int engine_run(engine *e, volatile sig_atomic_t *run) {
    const of_config *cfg = e->cfg;
    int64_t last_commit = time_mono_ms(), last_stats = last_commit;
    uint64_t stats_consumed = 0;

    e->run = run;
    const char *assignor = config_kafka_get(cfg, "partition.assignment.strategy");
    log_info("worker started", "worker_id=%s group=%s topic=%s guarantee=%s assignor=%s "
             "librdkafka=%s", cfg->worker_id, cfg->worker_group, cfg->topic_orders,
             cfg->worker_guarantee, assignor ? assignor : engine_default_assignor(),
             rd_kafka_version_str());
    while (*run && !e->exit_status) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(e->consumer, 100);
        if (m) consume(e, m);
        rd_kafka_poll(e->producer, 0);
        handle_failures(e);

        int64_t now = time_mono_ms();
        if (now - last_commit >= cfg->worker_commit_interval_ms) {
            commit_done(e, 0, NULL);
            last_commit = now;
        }
        if (now - last_stats >= STATS_LOG_INTERVAL_MS) {
            if (e->stats.consumed != stats_consumed) log_stats(e, "progress");
            stats_consumed = e->stats.consumed;
            last_stats = now;
        }
    }

    /* Stop fetching, finish what is in flight, commit, leave the group. */
    log_info("stopping", "in_flight=%zu drain_timeout_ms=%d", e->jobs,
             cfg->worker_drain_timeout_ms);
    e->stopping = 1;
    size_t undone = drain(e, NULL, cfg->worker_drain_timeout_ms);
    if (undone) log_warn("drain deadline passed; work left uncommitted", "undone=%zu", undone);
    commit_done(e, 1, NULL);
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(e->consumer);
    e->consumer_closed = 1;
    if (err) log_warn("leaving the group failed", "error=%s", rd_kafka_err2str(err));

    /* Whatever is still queued past the deadline is given up: purged, its
     * offsets stay uncommitted, and the next owner does it again. */
    e->closing = 1;
    handle_failures(e);
    rd_kafka_purge(e->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    for (int64_t until = time_mono_ms() + 5000; e->jobs && time_mono_ms() < until;)
        rd_kafka_poll(e->producer, 50); /* purged deliveries report promptly */
    log_stats(e, "stopped");
    return e->exit_status;
}

void engine_get_stats(const engine *e, engine_stats *out) { *out = e->stats; }

void engine_destroy(engine *e) {
    if (!e) return;
    /* Leave the group while the producer still exists: the revoke callback
     * this runs serves delivery reports. */
    if (e->consumer && !e->consumer_closed) {
        e->stopping = 1;
        rd_kafka_consumer_close(e->consumer);
    }
    for (int i = 0; i < 2; i++)
        if (e->written[i]) rd_kafka_topic_destroy(e->written[i]);
    if (e->producer) rd_kafka_destroy(e->producer);
    /* Messages must go back before their consumer is destroyed. */
    if (e->jobs) log_error("work still held at exit", "jobs=%zu", e->jobs);
    while (e->failures) {
        failure *f = e->failures;
        e->failures = f->next;
        free(f);
    }
    while (e->live) {
        job *j = e->live;
        e->live = j->next;
        rd_kafka_message_destroy(j->in);
        free(j);
    }
    if (e->consumer) rd_kafka_destroy(e->consumer);
    for (size_t i = 0; i < e->nparts; i++) {
        free(e->parts[i].topic);
        offtrack_free(&e->parts[i].track);
    }
    free(e->parts);
    free(e);
}
