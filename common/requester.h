/* requester: the client side of request/reply over Kafka, shared by
 * order-gateway and `order-producer --wait` (DESIGN.md §4, §5).
 *
 * requester_send() publishes an OrderPlaced with Spring's request headers
 * (a fresh 16-byte kafka_correlationId, kafka_replyTopic, optionally
 * kafka_replyPartition, and orderfleet_reply_deadline) and the request waits,
 * keyed by its correlation id, until the worker's reply comes back on
 * topics.replies or its deadline passes. Three parts do the work:
 *
 *   - a publisher (common/publisher.h): the idempotent producer, whose
 *     delivery report tells whether Kafka has the order at all;
 *   - a reply consumer without a consumer group: it assigns itself one
 *     partition of topics.replies (reply_partition >= 0, named in each
 *     request) or all of them (-1: every reply is read and those of other
 *     requesters are ignored), at the end of the log as it was when the
 *     requester started. No rebalance ever takes its partitions away;
 *   - two pending sets (common/pending.h): the requests waiting, with a
 *     deadline heap so that expiry costs O(log n) per request and no scan,
 *     and the correlation ids that timed out in the last five minutes (up
 *     to max_waiting of them), so that a late reply is counted as late
 *     rather than unknown.
 *
 * Ready barrier: until the reply consumer is positioned, requester_send()
 * refuses with REQUESTER_NOT_READY, so no reply can come before its reader.
 *
 * Each request ends in exactly one report, through the callback:
 *
 *   REQUEST_REPLIED    the outcome came back by the deadline (FULFILLED or
 *                      REJECTED: a business answer)
 *   REQUEST_FAILED     the outcome came back by the deadline and is FAILED:
 *                      the worker gave up on the order (remote failure)
 *   REQUEST_TIMED_OUT  Kafka acknowledged the order but no reply came by the
 *                      deadline: the order will still be processed (the
 *                      buzzer); a reply arriving later is counted as late
 *   REQUEST_NOT_SENT   Kafka did not acknowledge the order (error says why):
 *                      as far as this requester knows it was not placed
 *   REQUEST_BAD_REPLY  a reply with this correlation id came, but it is not
 *                      an OrderCompleted of this order (error says why)
 *   REQUEST_SHUTDOWN   requester_shutdown() ended the wait of an
 *                      acknowledged order
 *
 * A deadline that passes before Kafka has acknowledged the order does not
 * end the request: it ends with the delivery report (TIMED_OUT or NOT_SENT),
 * within the producer's message.timeout.ms, because nobody may be told
 * "accepted" for an order Kafka may not have.
 *
 * Single-threaded: every call, and every callback (which runs inside
 * requester_poll() or requester_shutdown()), on the owner's thread. The
 * callback may call requester_send(). */
#ifndef ORDERFLEET_REQUESTER_H
#define ORDERFLEET_REQUESTER_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/order_codec.h"

#define REQUESTER_OK 0
#define REQUESTER_ERR -1       /* not sent: errstr says why */
#define REQUESTER_FULL -2      /* max_waiting requests wait already, or the local queue is full */
#define REQUESTER_NOT_READY -3 /* the reply consumer is not positioned yet */

typedef enum request_result {
    REQUEST_REPLIED,
    REQUEST_FAILED,
    REQUEST_TIMED_OUT,
    REQUEST_NOT_SENT,
    REQUEST_BAD_REPLY,
    REQUEST_SHUTDOWN,
} request_result;

/* "replied", "failed", "timed_out", "not_sent", "bad_reply", "shutdown":
 * for logs and metrics labels. */
const char *request_result_name(request_result result);

/* One request's end. Everything is valid only during the callback. */
typedef struct request_report {
    request_result result;
    const char *order_id;
    const order_completed_t *outcome; /* REPLIED and FAILED; else NULL */
    const char *error;                /* NOT_SENT and BAD_REPLY: why; else NULL */
    int acknowledged;                 /* Kafka acknowledged the order */
    int maybe_placed;                 /* NOT_SENT only: no acknowledgement, but the order
                                         was sent and Kafka may have it (a timeout) */
    int64_t latency_us;               /* from requester_send() to this report */
    void *waiter;                     /* the pointer given to requester_send() */
} request_report;

typedef void request_report_fn(const request_report *report, void *ctx);

typedef struct requester_stats {
    uint64_t sent;            /* requests enqueued */
    uint64_t results[REQUEST_SHUTDOWN + 1]; /* reports, by request_result */
    uint64_t late_replies;    /* replies to requests that had timed out */
    uint64_t unknown_replies; /* replies for nobody here (other requesters'), or without a
                                 readable correlation id */
    size_t waiting;           /* requests without their report yet */
} requester_stats;

typedef struct requester requester_t;

/* Creates a requester publishing to cfg->topic_orders and reading replies
 * from cfg->topic_replies, partition reply_partition (-1: all), with at most
 * max_waiting requests waiting at once. cfg's kafka properties apply to both
 * clients; program names the sender (ce_source, client.id). report gets
 * every request's end with ctx. Nothing blocks here: positioning happens in
 * requester_poll(). Returns NULL with the reason in errstr. cfg must outlive
 * the requester; free it with requester_free(). */
requester_t *requester_new(const of_config *cfg, const char *program, int reply_partition,
                           size_t max_waiting, request_report_fn *report, void *ctx,
                           char *errstr, size_t errsize);

/* Replaces the report callback and its ctx, for an owner that can only
 * exist after the requester. */
void requester_set_report(requester_t *r, request_report_fn *report, void *ctx);

/* Publishes order (its order_id must be set: the caller names the order)
 * and waits up to wait_ms for the reply, from now. trace_parent (NULL: none)
 * is the caller's W3C traceparent, continued by the order's record. waiter
 * comes back in the report. Returns REQUESTER_OK (a report will follow), REQUESTER_NOT_READY,
 * REQUESTER_FULL, or REQUESTER_ERR with errstr (no report follows). */
int requester_send(requester_t *r, const order_placed_t *order, const char *trace_parent,
                   int64_t wait_ms, void *waiter, char *errstr, size_t errsize);

/* Does what is due: positions the reply consumer until it is ready (each
 * call spends at most about timeout_ms on it), serves delivery reports and
 * replies, and expires deadlines. Waits up to timeout_ms for something to
 * happen, less when a deadline is nearer. Reports run inside. */
void requester_poll(requester_t *r, int timeout_ms);

/* 1 once the reply consumer is positioned and requests may be sent. */
int requester_ready(const requester_t *r);

/* 0 from the moment the reply consumer loses its last broker connection
 * (librdkafka's ALL_BROKERS_DOWN) until its statistics, each second, show a
 * broker connected again; 1 otherwise (and before the first statistics). */
int requester_kafka_up(const requester_t *r);

/* A file descriptor that becomes readable when requester_poll() has work:
 * for a caller's own poll() loop, which then calls requester_poll(r, 0).
 * Owned by the requester. */
int requester_fd(const requester_t *r);

/* Milliseconds until the nearest deadline (0 when one is due), or -1 when
 * nothing waits: how long the caller's loop may sleep. */
int64_t requester_next_timeout(const requester_t *r);

/* Ends every wait, in three steps so that an event loop keeps serving:
 *
 *   requester_shutdown_begin()  later sends are refused (REQUESTER_ERR); every
 *                               acknowledged request is reported SHUTDOWN now,
 *                               the others when their delivery report comes
 *                               (SHUTDOWN, or NOT_SENT) during requester_poll()
 *   requester_shutdown_done()   1 once every request has its report
 *   requester_shutdown_end()    drops what never left the local queue and
 *                               reports whatever is left as NOT_SENT (those
 *                               sent but unacknowledged with maybe_placed)
 *
 * requester_shutdown() does all three, polling for up to flush_ms between
 * the first and the last, for callers without a loop of their own. Reports
 * run inside. */
void requester_shutdown_begin(requester_t *r);
int requester_shutdown_done(const requester_t *r);
void requester_shutdown_end(requester_t *r);
void requester_shutdown(requester_t *r, int flush_ms);

/* 1 after a fatal producer error: no order can be sent any more (the
 * idempotence guarantee could not be kept); the owner should stop. */
int requester_failed(const requester_t *r);

void requester_stats_get(const requester_t *r, requester_stats *st);

/* Frees everything. Requests still waiting are dropped without a report:
 * call requester_shutdown() first. NULL is fine. */
void requester_free(requester_t *r);

#endif
