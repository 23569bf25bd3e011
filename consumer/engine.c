#define _POSIX_C_SOURCE 200809L
#include "consumer/engine.h"

#include <inttypes.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/headers.h"
#include "common/ids.h"
#include "common/kafka.h"
#include "common/logfmt.h"
#include "common/order_codec.h"
#include "common/reply_headers.h"
#include "common/rng.h"
#include "common/timeutil.h"
#include "common/wakeup.h"
#include "consumer/backoff.h"
#include "consumer/keysched.h"
#include "consumer/offsets.h"
#include "consumer/pool.h"
#include "consumer/worker_metrics.h"

#define STATS_LOG_INTERVAL_MS 10000
#define LOOP_WAIT_MS 100 /* longest sleep of the event loop: commits and stats run this often */
#define CONSUME_BATCH 500 /* records taken per turn of the loop before serving the rest */
#define JOB_OVERHEAD 512 /* bytes a job costs beyond its record, for the buffer bound */
/* Offsets one partition's tracker may span (first not done to last
 * consumed) before the partition is paused: bounds the tracker's memory, and
 * keeps the done offsets beyond the committed one within what the commit
 * metadata can record, with room for one batch of records taken before the
 * pause is applied. */
#define MAX_SPAN (offdone_capacity() - CONSUME_BATCH - 1)

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct job;

/* One assigned input partition (of the orders or the retry topic). gen
 * tells a partition assigned again apart from its earlier assignment, so a
 * late delivery report for work of the earlier one cannot mark offsets of
 * the new one. */
typedef struct part {
    char *topic; /* owned */
    int32_t partition;
    uint64_t gen;
    offtrack track;
    int64_t committed; /* last offset committed (or being committed); -1: none */
    int64_t first;     /* the first offset consumed in this assignment; -1: none yet */
    size_t committed_done; /* done offsets beyond it that commit recorded */
    offdone skip;      /* done before we got it (the commit's metadata): not redone */
    size_t jobs;       /* jobs of this assignment still alive */
    int retry;         /* a partition of the retry topic */
    int revoking;      /* being revoked: its waiting work is not started */
    int paused;        /* paused by us in librdkafka (buffer full, held, or too wide) */
    int too_wide;      /* its tracker spans MAX_SPAN offsets: paused until half that */
    struct job *held;  /* a retry record not due yet; the partition is paused meanwhile */
} part;

/* One consumed record and everything it produced. It holds the consumed
 * message (and so its key, value and headers) until the last record it
 * produced is acknowledged, so that a failed publish can still send the
 * original bytes to the dead-letter topic. pending counts the records in
 * flight plus one reference held from consumption until the handler's
 * verdict has been published.
 *
 * Threads: a job is the main thread's, except between pool_submit() and
 * pool_take_done(), when a pool thread reads order and attempt and writes
 * res (and the main thread touches none of the three). */
typedef struct job {
    pool_task task;       /* runs the handler (job_run) */
    keysched_item sched;  /* per-key order: its key points into in or order */
    struct engine *e;     /* for job_run */
    rd_kafka_message_t *in; /* owned */
    order_placed_t *order;  /* owned; decoded when the job starts */
    unsigned attempt;       /* 1, or orderfleet_attempt of a retry record */
    int64_t not_before;     /* a retry record's due time (ms since the epoch); 0: now */
    handler_result res;
    uint64_t gen;
    size_t bytes; /* what it counts against worker.max_buffered_bytes */
    int pending;
    int lost; /* not done: a record it needed could not be published, or it was
                 never run (revoked, stopping); its offset stays uncommitted */
    /* The dead-letter record sent for it, if any, to send again without its
     * value should the record prove too large for the DLQ topic. */
    int dead_lettered;
    int dlq_value_dropped;
    unsigned dlq_attempts;
    char dlq_class[16];
    char dlq_error[200];
    struct job *prev, *next; /* the engine's list of live jobs */
    struct job *ready_next;  /* the queue for a free thread, or a partition's held records */
} job;

/* The topics a worker writes to, in engine.written. */
enum { WRITTEN_COMPLETED, WRITTEN_DLQ, WRITTEN_RETRY, WRITTEN_COUNT };

/* A publish that failed in a delivery report, handled later from the main
 * loop: a delivery-report callback must not produce (the failed message's
 * queue slot is only freed after the callback returns). */
typedef struct failure {
    job *j; /* holds a reference */
    int which; /* WRITTEN_*: the topic it failed on */
    rd_kafka_resp_err_t err;
    struct failure *next;
} failure;

struct engine {
    const of_config *cfg; /* borrowed */
    const handler *h;     /* borrowed */
    rd_kafka_t *consumer;
    rd_kafka_t *producer;
    rd_kafka_topic_t *written[WRITTEN_COUNT]; /* held so they stay known (warm_topics) */
    char source[192]; /* ce_source: /orderfleet/order-worker/<worker id> */
    wakeup wake;      /* the consumer's and producer's queues, and the pool's completions */
    pool *pool;       /* runs the handler: worker.concurrency threads */
    keysched *keys;   /* per-key order of the jobs started */
    size_t max_buffered, max_buffered_bytes;

    part *parts; /* the current assignment */
    size_t nparts, capparts;
    uint64_t next_gen;

    job *ready, *ready_tail;   /* jobs whose key's turn it is, waiting for a thread */
    size_t running;            /* jobs on the pool */
    job *live;                 /* jobs alive (consumed and not yet released) */
    size_t jobs;               /* how many */
    size_t bytes;              /* their bytes (job.bytes) */
    int full;                  /* over the buffer bounds: every partition is paused */
    failure *failures;         /* failed deliveries waiting for handle_failures() */
    volatile sig_atomic_t *run; /* cleared by SIGTERM/SIGINT */
    int stopping; /* shutting down: no new work is started */
    int consumer_closed; /* left the group: no more rebalance callbacks */
    int closing;  /* producer purged: purged deliveries are expected */
    int exit_status;
    int eos;       /* worker.guarantee exactly_once: a transaction is always open */
    int txn_dirty; /* something was published in the open transaction */
    int txn_doomed; /* a record of the open transaction failed: it must be aborted */
    rng rng; /* for backoff jitter */
    engine_stats stats;
    wmetrics wm; /* /metrics and /readyz; its calls are no-ops when they are off */
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
    memset(p, 0, sizeof(*p));
    if (!(p->topic = strdup(topic))) return -1;
    p->partition = partition;
    p->gen = ++e->next_gen;
    p->committed = -1;
    p->first = -1;
    p->retry = strcmp(topic, e->cfg->topic_retry) == 0;
    offtrack_init(&p->track);
    offdone_decode(&p->skip, NULL, -1); /* nothing known to be done yet */
    e->nparts++;
    return 0;
}

static void part_remove(engine *e, const char *topic, int32_t partition) {
    part *p = part_find(e, topic, partition);
    if (!p) return;
    free(p->topic);
    offtrack_free(&p->track);
    offdone_free(&p->skip);
    *p = e->parts[--e->nparts];
}

/* The job's partition as it is now, or NULL when the job belongs to an
 * earlier assignment of it (or to none). */
static part *job_part(engine *e, const job *j) {
    part *p = part_find(e, rd_kafka_topic_name(j->in->rkt), j->in->partition);
    return p && p->gen == j->gen ? p : NULL;
}

/* Pauses or resumes one partition in librdkafka. A paused partition's
 * fetched records are discarded and fetching starts again, on resume, after
 * the last record we consumed: nothing is skipped. */
static void part_pause(engine *e, part *p, int pause) {
    rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(one, p->topic, p->partition);
    rd_kafka_resp_err_t err = pause ? rd_kafka_pause_partitions(e->consumer, one)
                                    : rd_kafka_resume_partitions(e->consumer, one);
    rd_kafka_topic_partition_list_destroy(one);
    if (err)
        log_warn(pause ? "pausing a partition failed" : "resuming a partition failed",
                 "topic=%s partition=%" PRId32 " error=%s", p->topic, p->partition,
                 rd_kafka_err2str(err));
    else
        p->paused = pause;
}

/* Flow control: the work buffered (consumed and not done) is bounded by
 * count and bytes. Past either bound every partition is paused; below half
 * of both they are resumed (the gap keeps a full worker from flapping). A
 * retry partition also stays paused while it holds a record not yet due. */
static void update_flow(engine *e) {
    if (!e->full && (e->jobs >= e->max_buffered || e->bytes >= e->max_buffered_bytes)) {
        e->full = 1;
        log_debug("buffer full; partitions paused", "jobs=%zu bytes=%zu", e->jobs, e->bytes);
    } else if (e->full && e->jobs <= e->max_buffered / 2 &&
               e->bytes <= e->max_buffered_bytes / 2) {
        e->full = 0;
        log_debug("buffer has room; partitions resumed", "jobs=%zu bytes=%zu", e->jobs, e->bytes);
    }
    for (size_t i = 0; i < e->nparts; i++) {
        part *p = &e->parts[i];
        int64_t span = offtrack_span(&p->track);
        if (!p->too_wide && span >= MAX_SPAN) {
            p->too_wide = 1;
            log_debug("a slow order holds its partition back; partition paused",
                      "topic=%s partition=%" PRId32 " first_undone=%" PRId64 " span=%" PRId64,
                      p->topic, p->partition, offtrack_committable(&p->track), span);
        } else if (p->too_wide && span <= MAX_SPAN / 2) {
            p->too_wide = 0;
        }
        int want = (e->full || p->held || p->too_wide) && !p->revoking;
        if (want != p->paused) part_pause(e, p, want);
    }
}

/* ---- completion of work ----------------------------------------------- */

/* Drops one reference to a job. The last one marks its input offset done,
 * unless the job is lost, in which case the offset stays undone (and so
 * uncommitted) and the record is processed again after a restart or by the
 * partition's next owner. */
static void job_release(engine *e, job *j) {
    if (--j->pending > 0) return;
    rd_kafka_message_t *in = j->in;
    part *p = job_part(e, j);
    if (p) {
        p->jobs--;
        if (!j->lost && offtrack_done(&p->track, in->offset) != OFFTRACK_OK)
            log_error("offset bookkeeping out of step", "topic=%s partition=%" PRId32
                      " offset=%" PRId64, p->topic, p->partition, in->offset);
    }
    if (j->prev) j->prev->next = j->next;
    else e->live = j->next;
    if (j->next) j->next->prev = j->prev;
    e->jobs--;
    e->bytes -= j->bytes;
    codec_placed_free(j->order);
    rd_kafka_message_destroy(in);
    free(j);
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
    e->txn_dirty = 1;
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

static void publish_failed(engine *e, job *j, int which, rd_kafka_resp_err_t err);

/* The headers a record forwarded to the retry or dead-letter topic carries:
 * the input's own (CloudEvents, trace, reply), without the retry and error
 * headers an earlier attempt added, and with where the order first came
 * from: the input's position, unless it is itself a retry that says so
 * already. The caller adds the rest and hands them to publish(). */
static rd_kafka_headers_t *forward_headers(const rd_kafka_message_t *in) {
    rd_kafka_headers_t *orig = NULL, *hdrs;
    if (rd_kafka_message_headers(in, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR)
        hdrs = rd_kafka_headers_copy(orig);
    else
        hdrs = rd_kafka_headers_new(8);
    static const char *const replaced[] = {HDR_ATTEMPT, HDR_NOT_BEFORE, HDR_ERROR_CLASS,
                                           HDR_ERROR, HDR_VALUE_DROPPED};
    for (size_t i = 0; i < sizeof(replaced) / sizeof(replaced[0]); i++)
        rd_kafka_header_remove(hdrs, replaced[i]);
    const void *v;
    size_t vlen;
    if (rd_kafka_header_get_last(hdrs, HDR_ORIGINAL_TOPIC, &v, &vlen) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        hdr_add_str(hdrs, HDR_ORIGINAL_TOPIC, rd_kafka_topic_name(in->rkt));
        hdr_add_i64(hdrs, HDR_ORIGINAL_PARTITION, in->partition);
        hdr_add_i64(hdrs, HDR_ORIGINAL_OFFSET, in->offset);
    }
    return hdrs;
}

/* Sends the job's input record, unchanged (key, value and headers), to the
 * dead-letter topic, with headers that say what went wrong and where the
 * record came from. With drop_value the value is left out (and its size
 * given in orderfleet_value_dropped): the last resort for a record too large
 * for the DLQ topic, so that it is at least found. A failed enqueue goes to
 * publish_failed() like a failed delivery. */
static void dead_letter(engine *e, job *j, const char *error_class, const char *error,
                        unsigned attempts, int drop_value) {
    const rd_kafka_message_t *in = j->in;
    rd_kafka_headers_t *hdrs = forward_headers(in);
    hdr_add_str(hdrs, HDR_ERROR_CLASS, error_class);
    hdr_add_str(hdrs, HDR_ERROR, error);
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
    if (err) {
        publish_failed(e, j, WRITTEN_DLQ, err);
    } else {
        e->stats.dead_lettered++;
        wmetrics_dead_letter(&e->wm, error_class);
    }
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
static void publish_failed(engine *e, job *j, int which, rd_kafka_resp_err_t err) {
    const char *topic = which == WRITTEN_DLQ     ? e->cfg->topic_dlq
                        : which == WRITTEN_RETRY ? e->cfg->topic_retry
                                                 : e->cfg->topic_completed;
    int to_dlq = which == WRITTEN_DLQ;
    e->stats.publish_errors++;
    if (e->closing || !running(e)) { /* shutting down: the next owner redoes it */
        j->lost = 1;
        return;
    }
    log_error("publish failed", "topic=%s partition=%" PRId32 " offset=%" PRId64 " error=%s",
              topic, j->in->partition, j->in->offset, rd_kafka_err2str(err));
    if (e->eos) { /* the transaction is aborted and the record done again */
        j->lost = 1;
        e->txn_doomed = 1;
        return;
    }
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
        publish_failed(e, f->j, f->which, f->err);
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
    if (!m->err)
        log_debug("delivered", "topic=%s partition=%" PRId32 " offset=%" PRId64
                  " key=%.*s for_partition=%" PRId32 " for_offset=%" PRId64, topic,
                  m->partition, m->offset, (int)(m->key_len < 128 ? m->key_len : 128),
                  m->key ? (const char *)m->key : "", j->in->partition, j->in->offset);
    if (m->err && e->closing) {
        j->lost = 1; /* purged past the drain deadline: the next owner redoes it */
    } else if (m->err && e->eos) {
        /* Exactly-once: a failed record makes the transaction abortable, and
         * nothing more may be produced in it (no dead letter now): the
         * transaction is aborted and the work redone (txn_abort). Records
         * purged by an abort, or of work of an earlier generation, are simply
         * gone with their transaction. */
        j->lost = 1;
        if (m->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE &&
            m->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT && job_part(e, j)) {
            log_error("publish failed; the transaction will be aborted", "topic=%s error=%s",
                      topic, rd_kafka_err2str(m->err));
            e->stats.publish_errors++;
            e->txn_doomed = 1;
        }
    } else if (m->err) {
        failure *f = malloc(sizeof(*f)), **tail = &e->failures;
        if (!f) {
            j->lost = 1;
            e->exit_status = EXIT_TEMPFAIL;
        } else {
            int which = strcmp(topic, e->cfg->topic_dlq) == 0     ? WRITTEN_DLQ
                        : strcmp(topic, e->cfg->topic_retry) == 0 ? WRITTEN_RETRY
                                                                  : WRITTEN_COMPLETED;
            *f = (failure){j, which, m->err, NULL};
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
    if (rd_kafka_message_headers(j->in, &in_hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        in_hdrs = NULL;
    hdr_continue_trace(in_hdrs, hdrs); /* the worker's span of the order's trace */

    publish_reply(e, j, order->order_id, value, len, hdrs);
    rd_kafka_resp_err_t err =
        publish(e, j, e->cfg->topic_completed, RD_KAFKA_PARTITION_UA, order->order_id,
                strlen(order->order_id), value, len, RD_KAFKA_MSG_F_FREE, hdrs);
    if (!err) {
        if (out.placed_at_ms > 0 && out.completed_at_ms >= out.placed_at_ms)
            metric_observe(e->wm.placed_to_completed,
                           (double)(out.completed_at_ms - out.placed_at_ms) / 1000.0);
        if (fulfilled) e->stats.fulfilled++;
        else if (status == ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_REJECTED) e->stats.rejected++;
        else e->stats.failed++;
    }
    return err;
}

/* ---- processing ------------------------------------------------------- */

/* Runs on a pool thread: the handler decides the order. */
static void job_run(pool_task *t) {
    job *j = container_of(t, job, task);
    const handler *h = j->e->h;
    memset(&j->res, 0, sizeof(j->res));
    int64_t started = time_mono_us();
    h->handle(h->state, j->order, j->attempt, &j->res);
    metric_observe(j->e->wm.processing, (double)(time_mono_us() - started) / 1e6);
}

/* Sends a transiently failed order to the retry topic, so that no thread
 * and no partition waits for its backoff: the original key, value and
 * headers, with orderfleet_attempt set to the next attempt and
 * orderfleet_not_before to when it is due, why it failed, and (on its first
 * retry) where it came from. Once Kafka has it, the input record is done;
 * whichever worker owns the retry partition takes it up when it is due. */
static void retry_later(engine *e, job *j) {
    const rd_kafka_message_t *in = j->in;
    rd_kafka_headers_t *hdrs = forward_headers(in);
    int64_t delay = backoff_delay_ms(e->cfg->retry_base_ms, e->cfg->retry_cap_ms, j->attempt,
                                     rng_unit(&e->rng));
    hdr_add_i64(hdrs, HDR_ATTEMPT, (int64_t)j->attempt + 1);
    hdr_add_i64(hdrs, HDR_NOT_BEFORE, time_now_ms() + delay);
    hdr_add_str(hdrs, HDR_ERROR_CLASS, "transient");
    hdr_add_str(hdrs, HDR_ERROR, j->res.reason);
    log_debug("transient failure; retry scheduled", "order_id=%s attempt=%u delay_ms=%" PRId64
              " reason=%s", j->order->order_id, j->attempt, delay, j->res.reason);
    rd_kafka_resp_err_t err =
        publish(e, j, e->cfg->topic_retry, RD_KAFKA_PARTITION_UA, in->key, in->key_len,
                in->payload, in->len, RD_KAFKA_MSG_F_COPY, hdrs);
    if (err) publish_failed(e, j, WRITTEN_RETRY, err);
    else e->stats.retries++;
}

/* Acts on the handler's verdict (main thread): the outcome for a fulfilled
 * or rejected order; a retry for a transient failure with attempts left;
 * otherwise the DLQ and a FAILED outcome, so that a requester still gets an
 * answer. */
static void decide(engine *e, job *j) {
    handler_result *res = &j->res;
    res->reason[sizeof(res->reason) - 1] = '\0'; /* whatever the handler wrote */
    Orderfleet__V1__OrderStatus status;
    switch (res->verdict) {
    case HANDLER_FULFILLED: status = ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED; break;
    case HANDLER_REJECTED: status = ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_REJECTED; break;
    default: {
        if (res->verdict == HANDLER_TRANSIENT &&
            j->attempt < (unsigned)e->cfg->retry_max_attempts) {
            retry_later(e, j);
            return;
        }
        /* Out of attempts (or no verdict at all: a handler bug, which
         * retrying would not mend): the order goes to the DLQ for a person
         * to look at, and its requester still gets an answer. */
        char reason[HANDLER_REASON_MAX];
        snprintf(reason, sizeof(reason), "gave up after %u attempts: %.200s", j->attempt,
                 res->verdict == HANDLER_TRANSIENT ? res->reason : "the handler gave no verdict");
        codec_utf8_scrub(reason); /* %.200s may have cut a character */
        memcpy(res->reason, reason, sizeof(reason));
        status = ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FAILED;
        dead_letter(e, j, "exhausted", res->reason, j->attempt, 0);
    }
    }
    rd_kafka_resp_err_t err = publish_outcome(e, j, j->order, status, res, j->attempt);
    if (err) publish_failed(e, j, WRITTEN_COMPLETED, err);
}

/* A job that may not start any more: its partition was revoked (or
 * reassigned) since it was consumed, or the worker is stopping. */
static int job_cancelled(engine *e, const job *j) {
    const part *p = job_part(e, j);
    return !p || p->revoking || e->stopping;
}

static void ready_push(engine *e, job *j) {
    j->ready_next = NULL;
    if (e->ready_tail) e->ready_tail->ready_next = j;
    else e->ready = j;
    e->ready_tail = j;
}

/* Hands a job whose key's turn has come to a free pool thread, or queues it
 * (first in, first out) for the next one. A cancelled job is not run: it is
 * released undone (its offset stays uncommitted for whoever processes the
 * record next) and the next job of its key takes its turn, and so on. */
static void dispatch(engine *e, job *j) {
    while (j) {
        if (!job_cancelled(e, j)) {
            if (e->running < pool_threads(e->pool)) {
                e->running++;
                pool_submit(e->pool, &j->task);
            } else {
                ready_push(e, j);
            }
            return;
        }
        j->lost = 1;
        keysched_item *next = keysched_done(e->keys, &j->sched);
        job_release(e, j);
        j = next ? container_of(next, job, sched) : NULL;
    }
}

/* Dispatches the ready queue again: fills free threads, and releases the
 * jobs cancelled meanwhile at once (a revocation's drain must not wait for
 * work it will not start). Order is kept. */
static void redispatch_ready(engine *e) {
    job *j = e->ready;
    e->ready = e->ready_tail = NULL;
    while (j) {
        job *next = j->ready_next;
        dispatch(e, j);
        j = next;
    }
}

/* The handler is done with j (main thread): act on the verdict, give the
 * next job of its key its turn, and a free thread to the next ready job. */
static void job_finished(engine *e, job *j) {
    e->running--;
    if (e->closing || (e->eos && !job_part(e, j)))
        /* The producer is gone, or (exactly-once) the record's partition was
         * rewound or given away since it was consumed: its outcome must not
         * join a transaction that does not commit its offset. Whoever
         * processes the record next publishes it. */
        j->lost = 1;
    else
        decide(e, j);
    keysched_item *next = keysched_done(e->keys, &j->sched);
    job_release(e, j);
    if (next) dispatch(e, container_of(next, job, sched));
    while (e->ready && e->running < pool_threads(e->pool)) {
        job *r = e->ready;
        if (!(e->ready = r->ready_next)) e->ready_tail = NULL;
        dispatch(e, r);
    }
}

/* Decodes and identifies a record and queues it behind the work of its key.
 * What cannot be decoded or identified goes straight to the DLQ. Takes over
 * the caller's reference to j. */
static void start(engine *e, job *j) {
    const rd_kafka_message_t *in = j->in;
    char errstr[256];

    if (!(j->order = codec_placed_decode(in->payload, in->len, errstr, sizeof(errstr)))) {
        dead_letter(e, j, "decode", errstr, 0, 0);
        job_release(e, j);
        return;
    }
    const char *unidentified = j->order->order_id[0] == '\0'
                                   ? "orderId is missing: the record cannot be identified"
                               : strlen(j->order->order_id) > ID_ORDER_MAX
                                   ? "orderId is longer than 128 bytes"
                                   : NULL;
    if (unidentified) {
        dead_letter(e, j, "validation", unidentified, 0, 0);
        job_release(e, j);
        return;
    }
    log_debug("order consumed", "order_id=%s topic=%s partition=%" PRId32 " offset=%" PRId64
              " attempt=%u", j->order->order_id, rd_kafka_topic_name(in->rkt), in->partition,
              in->offset, j->attempt);

    /* The record's key is the order id (DESIGN §3); a record without one is
     * ordered by the id inside it. */
    j->sched.key = in->key_len ? in->key : j->order->order_id;
    j->sched.keylen = in->key_len ? in->key_len : strlen(j->order->order_id);
    int rc = keysched_push(e->keys, &j->sched);
    if (rc == KEYSCHED_READY) {
        dispatch(e, j);
    } else if (rc == KEYSCHED_NOMEM) {
        log_error("out of memory; stopping", "order_id=%s", j->order->order_id);
        j->lost = 1;
        e->exit_status = EXIT_TEMPFAIL;
        job_release(e, j);
    }
}

/* ---- retry records ---------------------------------------------------- */

/* Holds a retry record that is not due yet: its partition is paused until
 * then (update_flow resumes it), so no thread sleeps and the records behind
 * it wait in Kafka, not in memory. */
static void hold(engine *e, part *p, job *j) {
    j->ready_next = NULL;
    job **tail = &p->held;
    while (*tail) tail = &(*tail)->ready_next;
    *tail = j;
    if (!p->paused) part_pause(e, p, 1); /* now: the rest of the batch is not taken */
}

/* Starts the held records that are due. */
static void release_due(engine *e) {
    int64_t now = time_now_ms();
    for (size_t i = 0; i < e->nparts; i++) {
        part *p = &e->parts[i];
        while (p->held && p->held->not_before <= now) {
            job *j = p->held;
            p->held = j->ready_next;
            start(e, j);
        }
    }
}

/* Milliseconds until the first held record is due, or -1 when none is held. */
static int64_t next_due_ms(const engine *e) {
    int64_t first = -1, now = time_now_ms();
    for (size_t i = 0; i < e->nparts; i++)
        if (e->parts[i].held && (first < 0 || e->parts[i].held->not_before < first))
            first = e->parts[i].held->not_before;
    return first < 0 ? -1 : first > now ? first - now : 0;
}

/* Gives up the held records of p, undone (revocation, shutdown). */
static void drop_held(engine *e, part *p) {
    while (p->held) {
        job *j = p->held;
        p->held = j->ready_next;
        j->lost = 1;
        job_release(e, j);
    }
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
    if (p->first < 0) p->first = m->offset;
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
        /* exactly-once: the open transaction holds outputs of the work done
         * since, which is now done again: it must not commit */
        if (e->eos) e->txn_doomed = 1;
        offtrack_free(&p->track);
        drop_held(e, p);
        p->gen = ++e->next_gen;
        p->jobs = 0;
        p->committed = -1;
        rc = offtrack_add(&p->track, m->offset);
    }
    if (rc == OFFTRACK_OK && offdone_contains(&p->skip, m->offset)) {
        /* Done by an earlier owner after its committed offset (the commit's
         * metadata says so): not done again. */
        log_debug("record skipped: done before", "topic=%s partition=%" PRId32
                  " offset=%" PRId64, p->topic, p->partition, m->offset);
        offtrack_done(&p->track, m->offset);
        e->stats.skipped++;
        rd_kafka_message_destroy(m);
        return;
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
    j->task.run = job_run;
    j->e = e;
    j->in = m;
    j->gen = p->gen;
    j->attempt = 1;
    j->bytes = m->len + m->key_len + JOB_OVERHEAD;
    j->pending = 1; /* held until the verdict is published (or it is dropped) */
    j->next = e->live;
    if (e->live) e->live->prev = j;
    e->live = j;
    p->jobs++;
    e->jobs++;
    e->bytes += j->bytes;
    e->stats.consumed++;

    rd_kafka_headers_t *hdrs;
    if (p->retry && rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
        engine_retry_headers(hdrs, &j->attempt, &j->not_before);
    if (j->not_before > time_now_ms() || p->held) hold(e, p, j);
    else start(e, j);
}

/* The retry headers of a record, read apart from the loop so that the fuzzer
 * (tests/fuzz/fuzz_headers.c) reads them exactly as the engine does. */
void engine_retry_headers(const rd_kafka_headers_t *hdrs, unsigned *attempt,
                          int64_t *not_before) {
    int64_t v;
    if (hdr_get_i64(hdrs, HDR_ATTEMPT, &v) == 0 && v > 1 && v <= 1000) *attempt = (unsigned)v;
    if (hdr_get_i64(hdrs, HDR_NOT_BEFORE, &v) == 0) *not_before = v;
}

/* ---- offsets ---------------------------------------------------------- */

/* Writes the partitions of one topic in a list as "0,1,5" or, with
 * offsets, "0:17,1:4,5:230" into buf, cut short (and ending in "...") when
 * it does not fit. Returns how many there are, written or not. */
static int format_partitions(const rd_kafka_topic_partition_list_t *parts, const char *topic,
                             int with_offsets, char *buf, size_t size) {
    size_t n = 0;
    int count = 0;
    buf[0] = '\0';
    for (int i = 0; i < parts->cnt; i++) {
        char one[48];
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        if (strcmp(tp->topic, topic) != 0) continue;
        int len = with_offsets ? snprintf(one, sizeof(one), "%s%" PRId32 ":%" PRId64,
                                          count ? "," : "", tp->partition, tp->offset)
                               : snprintf(one, sizeof(one), "%s%" PRId32, count ? "," : "",
                                          tp->partition);
        count++;
        if (n + (size_t)len + 4 > size) {
            if (n + 4 <= size) n += (size_t)snprintf(buf + n, size - n, "...");
            continue;
        }
        memcpy(buf + n, one, (size_t)len + 1);
        n += (size_t)len;
    }
    return count;
}

/* Logs a partition list, one line per topic (in the order they first
 * appear): msg topic=T count=N partitions=0,1,.. (or offsets=0:17,..) and
 * one more field, key=value (e.g. assigned=24). */
static void log_partitions(log_level_t level, const char *msg,
                           const rd_kafka_topic_partition_list_t *parts, int with_offsets,
                           const char *key, long value) {
    for (int i = 0; i < parts->cnt; i++) {
        const char *topic = parts->elems[i].topic;
        int seen = 0;
        for (int k = 0; k < i && !seen; k++) seen = strcmp(parts->elems[k].topic, topic) == 0;
        if (seen) continue;
        char list[1024];
        int count = format_partitions(parts, topic, with_offsets, list, sizeof(list));
        logfmt_write(level, msg, "topic=%s count=%d %s=%s %s=%ld", topic, count,
                     with_offsets ? "offsets" : "partitions", list, key, value);
    }
}

/* Commits, for each assigned partition (or only those in `only`), the first
 * offset not yet done, when it moved. Asynchronous in the steady state. The
 * rebalance and shutdown paths commit synchronously, and every partition
 * whatever was sent before, since an asynchronous commit still in flight
 * could yet fail. Failed commits are retried at the next call (on_commit). */
/* The offsets to commit: for each assigned partition (or only those in
 * `only`), its first offset not yet done and, as metadata, the done ones
 * beyond it; with force 0 only those that changed since the last commit.
 * Marks them as committed. The caller destroys the list. */
static rd_kafka_topic_partition_list_t *
committable(engine *e, int force, const rd_kafka_topic_partition_list_t *only) {
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new((int)(e->nparts ? e->nparts : 1));
    for (size_t i = 0; i < e->nparts; i++) {
        part *p = &e->parts[i];
        if (only && !rd_kafka_topic_partition_list_find(only, p->topic, p->partition)) continue;
        char done[OFFDONE_MAX_LEN + 1];
        int64_t next;
        int truncated = 0;
        size_t ndone = offtrack_commit_point(&p->track, &p->skip, &next, done, sizeof(done),
                                             OFFDONE_MAX_LEN, &truncated);
        if (next < 0) continue;
        if (truncated)
            log_warn("done offsets beyond the commit did not all fit its metadata; the rest "
                     "will be done again", "topic=%s partition=%" PRId32 " offset=%" PRId64,
                     p->topic, p->partition, next);
        if (!force && next == p->committed && ndone == p->committed_done) continue;
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(list, p->topic,
                                                                           p->partition);
        tp->offset = next;
        if (ndone > 0 && (tp->metadata = strdup(done))) tp->metadata_size = strlen(done);
        p->committed = next;
        p->committed_done = ndone;
    }
    return list;
}

/* At-least-once: commits the first offset not yet done of each partition
 * (or only those in `only`), when it moved. Asynchronous in the steady state.
 * The rebalance and shutdown paths commit synchronously, and every partition
 * whatever was sent before, since an asynchronous commit still in flight
 * could yet fail. Failed commits are retried at the next call (on_commit). */
static void commit_done(engine *e, int sync, const rd_kafka_topic_partition_list_t *only) {
    rd_kafka_topic_partition_list_t *list = committable(e, sync, only);
    if (list->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_commit(e->consumer, list, !sync);
        if (!err) e->stats.commits++;
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
            log_warn("commit failed", "partitions=%d error=%s", list->cnt, rd_kafka_err2str(err));
        else if (logfmt_enabled(LOG_LEVEL_DEBUG))
            log_partitions(LOG_LEVEL_DEBUG, "offsets committed", list, 1, "sync", sync);
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
        if (tp->err)
            log_warn("commit failed", "topic=%s partition=%" PRId32 " offset=%" PRId64
                     " error=%s", tp->topic, tp->partition, tp->offset, rd_kafka_err2str(tp->err));
        part *p = part_find(e, tp->topic, tp->partition);
        if (p && p->committed == tp->offset) p->committed = -1;
    }
    if (err) log_warn("commit failed", "error=%s", rd_kafka_err2str(err));
}

/* ---- the event loop ---------------------------------------------------- */

/* One turn of the event loop: sleeps until something is to be done (a
 * record or rebalance on the consumer's queue, a delivery report, a verdict
 * from the pool, a held retry record falling due) or wait_ms pass, then
 * does all of it. With consume 0 no records are taken and nothing is paused
 * (inside a rebalance callback, where the consumer may not be polled). */
static void serve(engine *e, int wait_ms, int consume_records) {
    int64_t due = next_due_ms(e);
    if (due >= 0 && due < wait_ms) wait_ms = (int)due;
    struct pollfd pfd = {.fd = wakeup_fd(&e->wake), .events = POLLIN};
    if (wait_ms > 0) poll(&pfd, 1, wait_ms);
    wakeup_drain(&e->wake);

    if (consume_records) {
        int n = 0;
        rd_kafka_message_t *m;
        while (n < CONSUME_BATCH && !e->exit_status && (m = rd_kafka_consumer_poll(e->consumer, 0))) {
            consume(e, m);
            n++;
            /* pause at once: what librdkafka fetched for a paused partition
             * is dropped, not handed out for the rest of this batch */
            if (!e->full && (e->jobs >= e->max_buffered || e->bytes >= e->max_buffered_bytes))
                update_flow(e);
        }
        if (n == CONSUME_BATCH) wakeup_poke(&e->wake); /* more may be queued: next turn */
    }
    rd_kafka_poll(e->producer, 0); /* delivery reports */
    for (pool_task *t = pool_take_done(e->pool), *next; t; t = next) {
        next = t->next;
        job_finished(e, container_of(t, job, task));
    }
    handle_failures(e);
    release_due(e);
    if (consume_records) update_flow(e);
    pool_nudge(e->pool); /* a slow call among short ones: wake another thread */
    wmetrics_publish(&e->wm, &e->stats, e->running, e->jobs, e->bytes, e->nparts);
}

/* Stops starting work for the given partitions (all, when NULL): drops
 * their held retry records and the jobs waiting for a thread, all undone.
 * Work already running is left to finish. */
static void stop_taking(engine *e, const rd_kafka_topic_partition_list_t *only) {
    for (size_t i = 0; i < e->nparts; i++) {
        part *p = &e->parts[i];
        if (only && !rd_kafka_topic_partition_list_find(only, p->topic, p->partition)) continue;
        p->revoking = 1;
        drop_held(e, p);
    }
    redispatch_ready(e);
}

/* Serves the loop (without taking records) until none of the given
 * partitions (all, when NULL) has work alive, or the deadline passes.
 * Returns the jobs still alive. */
static size_t drain(engine *e, const rd_kafka_topic_partition_list_t *only, int timeout_ms) {
    int64_t deadline = time_mono_ms() + timeout_ms;
    for (;;) {
        size_t alive = 0;
        for (size_t i = 0; i < e->nparts; i++)
            if (!only || rd_kafka_topic_partition_list_find(only, e->parts[i].topic,
                                                            e->parts[i].partition))
                alive += e->parts[i].jobs;
        int64_t left = deadline - time_mono_ms();
        if (alive == 0 || left <= 0) return alive;
        serve(e, left < 20 ? (int)left : 20, 0);
    }
}

/* ---- group membership ------------------------------------------------- */


/* Fetches the committed offsets of partitions (newly assigned, or rewound),
 * with their metadata: what the previous owner finished beyond its
 * committed offset, which consume() then skips. The offsets go into parts
 * (where one is committed), so that the assignment starts there without
 * librdkafka fetching them a second time. Returns 0, or -1 when the fetch
 * failed (coordinator moving, timeout) for the call or for one partition:
 * at-least-once then only loses the skipping (the done records are done
 * again); exactly-once cannot afford that. Blocks for at most
 * COMMITTED_TIMEOUT_MS. */
#define COMMITTED_TIMEOUT_MS 10000
static int learn_done(engine *e, rd_kafka_topic_partition_list_t *parts) {
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_resp_err_t err = rd_kafka_committed(e->consumer, committed, COMMITTED_TIMEOUT_MS);
    int rc = 0;
    if (err) {
        log_warn("committed offsets not fetched; done work may be redone", "error=%s",
                 rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(committed);
        return -1;
    }
    for (int i = 0; i < committed->cnt; i++) {
        const rd_kafka_topic_partition_t *c = &committed->elems[i];
        part *p = part_find(e, c->topic, c->partition);
        if (c->err) {
            log_warn("committed offset not fetched; done work may be redone",
                     "topic=%s partition=%" PRId32 " error=%s", c->topic, c->partition,
                     rd_kafka_err2str(c->err));
            rc = -1;
        }
        if (c->err || c->offset < 0 || !p) continue;
        parts->elems[i].offset = c->offset;
        char *md = NULL;
        if (c->metadata && c->metadata_size > 0 && (md = malloc(c->metadata_size + 1))) {
            memcpy(md, c->metadata, c->metadata_size);
            md[c->metadata_size] = '\0';
        }
        offdone_free(&p->skip);
        offdone_decode(&p->skip, md, c->offset);
        free(md);
        if (offdone_count(&p->skip) > 0)
            log_info("partition resumes past done work", "topic=%s partition=%" PRId32
                     " committed=%" PRId64 " done_beyond=%zu", p->topic, p->partition,
                     c->offset, offdone_count(&p->skip));
    }
    rd_kafka_topic_partition_list_destroy(committed);
    return rc;
}

/* ---- exactly-once ------------------------------------------------------ */

#define TXN_TIMEOUT_MS 30000 /* for each transactional call */
#define TXN_TRIES 3          /* calls of one transactional step that may time out */

/* Opens the next transaction. A failure here is fatal to the producer. */
static void txn_begin(engine *e) {
    rd_kafka_error_t *error = rd_kafka_begin_transaction(e->producer);
    if (error) {
        log_error("beginning a transaction failed; stopping", "error=%s",
                  rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        e->exit_status = EXIT_SOFTWARE;
        return;
    }
    e->txn_dirty = 0;
    e->txn_doomed = 0;
}

/* After an abort, everything the transaction held (outcomes, retries, dead
 * letters, replies) is gone, so the work behind it is done again: every
 * assigned partition starts a new generation at its committed offset (and
 * skips what that commit's metadata says is done); one with no committed
 * offset at the first record this worker consumed from it (none consumed:
 * nothing to rewind). Work still in the handler belongs to the old
 * generation and publishes nothing (job_finished). When the committed
 * offsets cannot be fetched the worker stops (status 75) rather than guess:
 * its successor starts from the commits. */
static void txn_rewind(engine *e) {
    rd_kafka_topic_partition_list_t *list =
        rd_kafka_topic_partition_list_new((int)(e->nparts ? e->nparts : 1));
    for (size_t i = 0; i < e->nparts; i++) {
        part *p = &e->parts[i];
        drop_held(e, p);
        rd_kafka_topic_partition_list_add(list, p->topic, p->partition)->offset = p->first;
        offtrack_free(&p->track);
        p->gen = ++e->next_gen;
        p->jobs = 0;
        p->committed = -1;
        p->committed_done = 0;
    }
    redispatch_ready(e); /* drops the jobs of the old generations */
    if (list->cnt > 0 && learn_done(e, list) != 0) {
        log_error("committed offsets unknown after an abort; stopping", NULL);
        e->exit_status = EXIT_TEMPFAIL;
    } else if (list->cnt > 0) {
        rd_kafka_topic_partition_list_t *seek = rd_kafka_topic_partition_list_new(list->cnt);
        for (int i = 0; i < list->cnt; i++)
            if (list->elems[i].offset >= 0)
                rd_kafka_topic_partition_list_add(seek, list->elems[i].topic,
                                                  list->elems[i].partition)
                    ->offset = list->elems[i].offset;
        rd_kafka_error_t *error =
            seek->cnt ? rd_kafka_seek_partitions(e->consumer, seek, TXN_TIMEOUT_MS) : NULL;
        if (error) {
            log_error("rewinding after an abort failed; stopping", "error=%s",
                      rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
            e->exit_status = EXIT_TEMPFAIL;
        }
        for (int i = 0; i < seek->cnt; i++)
            if (seek->elems[i].err) {
                log_error("rewinding a partition failed; stopping", "topic=%s partition=%" PRId32
                          " error=%s", seek->elems[i].topic, seek->elems[i].partition,
                          rd_kafka_err2str(seek->elems[i].err));
                e->exit_status = EXIT_TEMPFAIL;
            }
        rd_kafka_topic_partition_list_destroy(seek);
    }
    for (size_t i = 0; i < e->nparts; i++) e->parts[i].first = -1;
    rd_kafka_topic_partition_list_destroy(list);
}

/* Aborts the open transaction (a timed-out abort is called again, as
 * librdkafka asks), rewinds, and opens the next. A failed abort is fatal. */
static void txn_abort(engine *e, const char *why) {
    log_warn("transaction aborted; partitions rewound to their committed offsets", "reason=%s",
             why);
    rd_kafka_error_t *error = NULL;
    for (int i = 0; i < TXN_TRIES; i++) {
        error = rd_kafka_abort_transaction(e->producer, TXN_TIMEOUT_MS);
        if (!error || !rd_kafka_error_is_retriable(error)) break;
        rd_kafka_error_destroy(error);
        error = NULL;
    }
    if (error) {
        log_error("aborting the transaction failed; stopping", "error=%s",
                  rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        e->exit_status = EXIT_SOFTWARE;
        return;
    }
    e->stats.aborts++;
    txn_rewind(e);
    if (!e->exit_status) txn_begin(e);
}

/* Exactly-once: commits the open transaction, which holds everything
 * published since the last commit, together with the input offsets of every
 * assigned partition (and the done-beyond metadata), then opens the next.
 *
 * Every record published so far is flushed first, so that each job whose
 * outputs are in the transaction is done, and so is either below its
 * partition's committed offset or in the metadata: whoever consumes the
 * partition next skips it. A job still in the handler has published nothing
 * yet, and the main thread (this one) publishes nothing until the commit is
 * over. Cost: a flush and two round trips to the transaction coordinator,
 * every worker.commit_interval_ms while there is work, nothing while idle.
 *
 * Errors: a timed-out step is called again (librdkafka's rule for retriable
 * transactional errors), up to TXN_TRIES times; a failed record, an
 * abortable error or one that keeps timing out aborts the transaction and
 * rewinds (txn_abort); a fatal one (fenced by a newer instance with the same
 * transactional.id, say) stops the worker with status 70, for a restart with
 * a new producer. Returns 0 when the transaction committed (or there was
 * nothing to commit). */
static int commit_transaction(engine *e) {
    if (rd_kafka_flush(e->producer, TXN_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        txn_abort(e, "records not acknowledged in time");
        return -1;
    }
    if (e->txn_doomed) {
        txn_abort(e, "a record of the transaction failed");
        return -1;
    }
    rd_kafka_topic_partition_list_t *offsets = committable(e, 0, NULL);
    if (!e->txn_dirty && offsets->cnt == 0) {
        rd_kafka_topic_partition_list_destroy(offsets);
        return 0;
    }
    rd_kafka_error_t *error = NULL;
    for (int i = 0; offsets->cnt > 0 && i < TXN_TRIES; i++) {
        rd_kafka_consumer_group_metadata_t *group = rd_kafka_consumer_group_metadata(e->consumer);
        error = rd_kafka_send_offsets_to_transaction(e->producer, offsets, group,
                                                     TXN_TIMEOUT_MS);
        rd_kafka_consumer_group_metadata_destroy(group);
        if (!error || !rd_kafka_error_is_retriable(error)) break;
        rd_kafka_error_destroy(error);
        error = NULL;
        if (i + 1 == TXN_TRIES)
            error = rd_kafka_error_new(RD_KAFKA_RESP_ERR__TIMED_OUT,
                                       "sending the offsets kept timing out");
    }
    for (int i = 0; !error && i < TXN_TRIES; i++) {
        error = rd_kafka_commit_transaction(e->producer, TXN_TIMEOUT_MS);
        if (!error || !rd_kafka_error_is_retriable(error)) break;
        rd_kafka_error_destroy(error);
        error = NULL;
        if (i + 1 == TXN_TRIES)
            error = rd_kafka_error_new(RD_KAFKA_RESP_ERR__TIMED_OUT,
                                       "committing kept timing out");
    }
    if (!error) {
        e->stats.commits++;
        if (logfmt_enabled(LOG_LEVEL_DEBUG))
            log_partitions(LOG_LEVEL_DEBUG, "transaction committed", offsets, 1, "sync", 1);
        rd_kafka_topic_partition_list_destroy(offsets);
        txn_begin(e);
        return 0;
    }
    rd_kafka_topic_partition_list_destroy(offsets);
    if (rd_kafka_error_is_fatal(error)) {
        log_error("fatal transaction error; stopping", "error=%s", rd_kafka_error_string(error));
        e->exit_status = EXIT_SOFTWARE;
    } else {
        txn_abort(e, rd_kafka_error_string(error));
    }
    rd_kafka_error_destroy(error);
    return -1;
}

/* Commits what is done: the transaction (exactly-once: always all
 * partitions, since it holds the outputs of all of them), or the offsets
 * (at-least-once). */
static void commit(engine *e, int sync, const rd_kafka_topic_partition_list_t *only) {
    if (e->eos) commit_transaction(e);
    else commit_done(e, sync, only);
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
        wmetrics_assigned(&e->wm);
        for (int i = 0; i < parts->cnt; i++)
            if (part_add(e, parts->elems[i].topic, parts->elems[i].partition) != 0) {
                log_error("out of memory", NULL);
                e->exit_status = EXIT_TEMPFAIL;
            }
        if (learn_done(e, parts) != 0 && e->eos) {
            /* exactly-once would redo work whose outcomes are committed */
            log_error("committed offsets unknown for an assignment; stopping", NULL);
            e->exit_status = EXIT_TEMPFAIL;
        }
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, parts);
        log_partitions(LOG_LEVEL_INFO, "partitions assigned", parts, 0, "assigned", (long)e->nparts);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        stop_taking(e, parts);
        int lost = rd_kafka_assignment_lost(rk);
        if (lost) wmetrics_lost(&e->wm);
        else wmetrics_revoked(&e->wm);
        if (lost) {
            log_warn("partitions lost; dropping their work uncommitted", "count=%d", parts->cnt);
        } else {
            size_t undone = drain(e, parts, e->stopping ? 0 : e->cfg->worker_drain_timeout_ms);
            if (undone && !e->stopping)
                log_warn("drain deadline passed; work left to the next owner", "undone=%zu",
                         undone);
            commit(e, 1, parts);
        }
        for (int i = 0; i < parts->cnt; i++) {
            /* librdkafka keeps a partition paused across assignments: one
             * we paused must not come back paused to whoever gets it next */
            part *p = part_find(e, parts->elems[i].topic, parts->elems[i].partition);
            if (p && p->paused) part_pause(e, p, 0);
            part_remove(e, parts->elems[i].topic, parts->elems[i].partition);
        }
        /* Exactly-once: the open transaction holds outputs of the lost
         * partitions' work, whose offsets can no longer be committed. */
        if (lost && e->eos && !e->consumer_closed) txn_abort(e, "partitions lost");
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, NULL);
        log_partitions(LOG_LEVEL_INFO, "partitions revoked", parts, 0, "assigned", (long)e->nparts);
    } else {
        log_error("rebalance failed", "error=%s", rd_kafka_err2str(err));
        stop_taking(e, parts);
        for (int i = 0; i < parts->cnt; i++)
            part_remove(e, parts->elems[i].topic, parts->elems[i].partition);
        if (e->eos && !e->consumer_closed) txn_abort(e, "rebalance failed");
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
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) wmetrics_brokers_down(&e->wm);
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

/* Revoked partitions drain inside the rebalance callback, where the poll
 * loop is not served; past max.poll.interval.ms the group would evict the
 * worker mid-drain. So the drain budget must fit in it. */
int engine_check_config(const of_config *cfg, char *errstr, size_t errsize) {
    const char *v = config_kafka_get(cfg, "max.poll.interval.ms");
    long long interval = v ? atoll(v) : 300000;
    if (strcmp(cfg->worker_guarantee, "exactly_once") == 0 &&
        cfg->worker_drain_timeout_ms > 600000) {
        snprintf(errstr, errsize,
                 "worker.drain_timeout_ms (%d) must be at most 600000 with exactly_once: a "
                 "transaction stays open through a drain, and brokers allow 900000 ms by "
                 "default (transaction.max.timeout.ms)", cfg->worker_drain_timeout_ms);
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

/* Fetches the metadata of the topics the worker writes outcomes, dead
 * letters and retries to, before it takes any work. librdkafka learns a
 * topic it has not met at its next periodic metadata refresh, up to a
 * second later, and the first outcomes would wait that long. Best effort: a
 * failure (Kafka not up yet) is logged and costs only that second. The
 * handles are held for the producer's life, so the topics stay known. */
static void warm_topics(engine *e) {
    const char *names[WRITTEN_COUNT];
    names[WRITTEN_COMPLETED] = e->cfg->topic_completed;
    names[WRITTEN_DLQ] = e->cfg->topic_dlq;
    names[WRITTEN_RETRY] = e->cfg->topic_retry;
    for (int i = 0; i < WRITTEN_COUNT; i++) {
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

/* Pool threads call this when verdicts are waiting: wakes the loop. */
static void on_verdicts(void *opaque) {
    engine *e = opaque;
    wakeup_poke(&e->wake);
}

/* worker.max_buffered 0: four times the threads, and at least 10,000. A
 * pause costs a refetch (librdkafka drops what it had fetched), so the
 * bound must leave room for many orders per pause: with 1,000 the
 * zero-latency pipeline ran at 1,350 orders/s, with 10,000 at 21,000. */
static size_t max_buffered(const of_config *cfg) {
    if (cfg->worker_max_buffered > 0) return (size_t)cfg->worker_max_buffered;
    size_t n = 4 * (size_t)cfg->worker_concurrency;
    return n < 10000 ? 10000 : n;
}

/* librdkafka's statistics (consumer): lag per partition and the group's
 * state, for /metrics and /readyz. Served by the consumer's poll. */
static int on_statistics(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
    engine *e = opaque;
    (void)rk;
    wmetrics_on_statistics(&e->wm, json, len);
    return 0; /* librdkafka frees json */
}

engine *engine_new(const of_config *cfg, const handler *h, metrics *m, ops *o, char *errstr,
                   size_t errsize) {
    engine *e = calloc(1, sizeof(*e));
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_partition_list_t *topics = NULL;
    if (!e) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    e->cfg = cfg;
    e->h = h;
    e->max_buffered = max_buffered(cfg);
    e->max_buffered_bytes = (size_t)cfg->worker_max_buffered_bytes;
    e->eos = strcmp(cfg->worker_guarantee, "exactly_once") == 0;
    snprintf(e->source, sizeof(e->source), "/orderfleet/order-worker/%s", cfg->worker_id);
    rng_seed_random(&e->rng);
    if (wmetrics_init(&e->wm, m, o, cfg->worker_concurrency) != METRICS_OK) {
        snprintf(errstr, errsize, "out of memory for metrics");
        goto err;
    }
    if (wakeup_open(&e->wake, errstr, errsize) != WAKEUP_OK) goto err;
    if (!(e->keys = keysched_new())) {
        snprintf(errstr, errsize, "out of memory");
        goto err;
    }
    if (!(e->pool = pool_new((size_t)cfg->worker_concurrency, on_verdicts, e, errstr, errsize)))
        goto err;

    /* The producer: idempotent and acks=all, so an acknowledged outcome is
     * written once and durable; murmur2 partitioning like Java clients, so a
     * key lands on the same partition whoever produced it. */
    /* Exactly-once adds a transactional.id, unique to this worker (KIP-447:
     * the group metadata sent with the offsets fences zombies, so it needs no
     * fixed mapping to partitions); a restart with the same worker id fences
     * the previous instance and aborts its open transaction at once. The
     * transaction timeout outlasts a drain, which keeps a transaction open. */
    char txn_id[512], txn_timeout[24];
    snprintf(txn_id, sizeof(txn_id), "%s-%s", cfg->worker_group, cfg->worker_id);
    snprintf(txn_timeout, sizeof(txn_timeout), "%d", cfg->worker_drain_timeout_ms + 30000);
    /* (engine_check_config keeps it under the broker's default maximum, 15 min) */
    const char *producer_defaults[] = {
        "client.id", "order-worker", "linger.ms", "5", "partitioner", "murmur2_random",
        "max.in.flight.requests.per.connection", IDEMPOTENT_IN_FLIGHT, /* see kafka.h */
        /* room for a dead letter of the largest record a broker accepts by default
         * (1 MiB) plus its headers */
        "message.max.bytes", "1200000",
        e->eos ? "transaction.timeout.ms" : NULL, txn_timeout, NULL};
    const char *producer_enforced[] = {"enable.idempotence", "true", "acks", "all",
                                       e->eos ? "transactional.id" : NULL, txn_id, NULL};
    if (!(conf = kafka_conf_new(cfg, producer_defaults, producer_enforced, errstr, errsize)))
        goto err;
    rd_kafka_conf_set_opaque(conf, e);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    if (!(e->producer = kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errsize))) goto err;
    if (e->eos) {
        rd_kafka_error_t *error = rd_kafka_init_transactions(e->producer, TXN_TIMEOUT_MS);
        if (!error) error = rd_kafka_begin_transaction(e->producer);
        if (error) {
            snprintf(errstr, errsize, "starting the transactional producer (%s): %s", txn_id,
                     rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
            goto err;
        }
    }

    /* The consumer: offsets are stored and committed by us alone, only for
     * done work; a new group starts from the earliest record so an order
     * placed before the first worker started is still processed. */
    /* Memory: a consumed record keeps the whole fetch response it came in
     * alive, and a worker holds up to worker.max_buffered records, some for
     * a long time (waiting for their key, or for Kafka's acknowledgement):
     * with librdkafka's defaults (responses up to 50 MiB, 64 MiB prefetched)
     * a busy worker peaked at 71 MiB. Responses of at most 1 MiB and 8 MiB
     * prefetched (some 17,000 orders ahead) brought it to 58 MiB, and the
     * zero-latency pipeline ran no slower (make bench, docs/decisions.md).
     * librdkafka still fetches a larger single record whole. */
    const char *consumer_defaults[] = {
        "client.id", "order-worker", "auto.offset.reset", "earliest",
        "partition.assignment.strategy", engine_default_assignor(), "session.timeout.ms",
        "10000", "queued.max.messages.kbytes", "8192", "fetch.max.bytes", "1048576",
        (m || o) ? "statistics.interval.ms" : NULL, "1000", NULL};
    const char *consumer_enforced[] = {"group.id", cfg->worker_group, "enable.auto.commit",
                                       "false", "enable.auto.offset.store", "false",
                                       /* exactly-once reads only committed records: not the
                                        * retries of an aborted transaction */
                                       e->eos ? "isolation.level" : NULL, "read_committed",
                                       NULL};
    if (!(conf = kafka_conf_new(cfg, consumer_defaults, consumer_enforced, errstr, errsize)))
        goto err;
    rd_kafka_conf_set_opaque(conf, e);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
    rd_kafka_conf_set_error_cb(conf, on_error);
    if (m || o) rd_kafka_conf_set_stats_cb(conf, on_statistics);
    if (!(e->consumer = kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errsize))) goto err;
    rd_kafka_resp_err_t perr = rd_kafka_poll_set_consumer(e->consumer);
    if (perr) {
        snprintf(errstr, errsize, "redirecting the consumer's queue: %s", rd_kafka_err2str(perr));
        goto err;
    }

    /* One wake-up for the loop: records and rebalances, delivery reports,
     * and (poked by the pool) verdicts. */
    if (wakeup_watch(&e->wake, rd_kafka_queue_get_consumer(e->consumer), errstr, errsize) !=
            WAKEUP_OK ||
        wakeup_watch(&e->wake, rd_kafka_queue_get_main(e->producer), errstr, errsize) !=
            WAKEUP_OK)
        goto err;

    warm_topics(e);

    /* The orders, and the retries of orders that failed transiently. */
    topics = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(topics, cfg->topic_orders, RD_KAFKA_PARTITION_UA);
    rd_kafka_topic_partition_list_add(topics, cfg->topic_retry, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t serr = rd_kafka_subscribe(e->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (serr) {
        snprintf(errstr, errsize, "subscribing to %s and %s: %s", cfg->topic_orders,
                 cfg->topic_retry, rd_kafka_err2str(serr));
        goto err;
    }
    return e;
err:
    engine_destroy(e);
    return NULL;
}


static void log_stats(const engine *e, const char *msg) {
    log_info(msg,
             "consumed=%" PRIu64 " skipped=%" PRIu64 " fulfilled=%" PRIu64
             " rejected=%" PRIu64 " failed=%" PRIu64
             " dead_lettered=%" PRIu64 " retries=%" PRIu64 " replies=%" PRIu64
             " replies_late=%" PRIu64 " reply_errors=%" PRIu64 " publish_errors=%" PRIu64
             " rebalances=%" PRIu64 " commits=%" PRIu64 " aborts=%" PRIu64
             " in_flight=%zu buffered=%zu",
             e->stats.consumed, e->stats.skipped, e->stats.fulfilled, e->stats.rejected, e->stats.failed,
             e->stats.dead_lettered, e->stats.retries, e->stats.replies, e->stats.replies_late,
             e->stats.reply_errors, e->stats.publish_errors, e->stats.rebalances,
             e->stats.commits, e->stats.aborts, e->running, e->jobs);
}

int engine_run(engine *e, volatile sig_atomic_t *run) {
    const of_config *cfg = e->cfg;
    int64_t last_commit = time_mono_ms(), last_stats = last_commit;
    uint64_t stats_consumed = 0;

    e->run = run;
    const char *assignor = config_kafka_get(cfg, "partition.assignment.strategy");
    log_info("worker started", "worker_id=%s group=%s topic=%s retry_topic=%s guarantee=%s "
             "concurrency=%d max_buffered=%zu assignor=%s librdkafka=%s", cfg->worker_id,
             cfg->worker_group, cfg->topic_orders, cfg->topic_retry, cfg->worker_guarantee,
             cfg->worker_concurrency, e->max_buffered,
             assignor ? assignor : engine_default_assignor(), rd_kafka_version_str());
    while (*run && !e->exit_status) {
        serve(e, LOOP_WAIT_MS, 1);
        if (e->eos && e->txn_doomed) /* at once: nothing more can join it */
            txn_abort(e, "a record of the transaction failed");

        int64_t now = time_mono_ms();
        if (now - last_commit >= cfg->worker_commit_interval_ms) {
            commit(e, 0, NULL);
            last_commit = now;
        }
        if (now - last_stats >= STATS_LOG_INTERVAL_MS) {
            if (e->stats.consumed != stats_consumed) log_stats(e, "progress");
            stats_consumed = e->stats.consumed;
            last_stats = now;
        }
    }

    /* Stop taking work, finish what is running, commit, leave the group. */
    wmetrics_stopping(&e->wm);
    log_info("stopping", "in_flight=%zu buffered=%zu drain_timeout_ms=%d", e->running, e->jobs,
             cfg->worker_drain_timeout_ms);
    e->stopping = 1;
    stop_taking(e, NULL);
    size_t undone = drain(e, NULL, cfg->worker_drain_timeout_ms);
    if (undone) log_warn("drain deadline passed; work left uncommitted", "undone=%zu", undone);
    commit(e, 1, NULL);
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(e->consumer);
    e->consumer_closed = 1;
    if (err) log_warn("leaving the group failed", "error=%s", rd_kafka_err2str(err));

    /* Whatever is still queued past the deadline is given up: purged, its
     * offsets stay uncommitted, and the next owner does it again. */
    e->closing = 1;
    handle_failures(e);
    if (e->eos && e->txn_dirty) { /* work past the drain deadline: its next owner redoes it */
        rd_kafka_error_t *error = rd_kafka_abort_transaction(e->producer, TXN_TIMEOUT_MS);
        if (error) {
            log_warn("aborting the last transaction failed", "error=%s",
                     rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
        }
    }
    rd_kafka_purge(e->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    for (int64_t until = time_mono_ms() + 5000; e->jobs > e->running && time_mono_ms() < until;)
        serve(e, 50, 0); /* purged deliveries report promptly */
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
    /* Handlers still running (past the drain deadline) finish before their
     * jobs are freed. */
    pool_free(e->pool);
    for (int i = 0; i < WRITTEN_COUNT; i++)
        if (e->written[i]) rd_kafka_topic_destroy(e->written[i]);
    wakeup_close(&e->wake); /* its queues before the clients */
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
        codec_placed_free(j->order);
        rd_kafka_message_destroy(j->in);
        free(j);
    }
    if (e->consumer) rd_kafka_destroy(e->consumer);
    keysched_free(e->keys);
    for (size_t i = 0; i < e->nparts; i++) {
        free(e->parts[i].topic);
        offtrack_free(&e->parts[i].track);
        offdone_free(&e->parts[i].skip);
    }
    free(e->parts);
    free(e);
}
