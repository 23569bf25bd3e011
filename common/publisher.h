/* publisher: the idempotent producer of OrderPlaced records, shared by
 * order-producer's modes and by the requester (common/requester.h) that the
 * gateway and `--wait` use.
 *
 * Each order becomes one OrderPlaced record on the orders topic, keyed by its
 * order id, with the CloudEvents headers and a W3C traceparent: a new trace,
 * or a span of the caller's trace (DESIGN.md §4). The producer is idempotent with acks=all, and every
 * record's delivery report is checked: an acknowledged order is handed to
 * the mode's callback (the buzzer), an unacknowledged one is logged with its
 * order id and counted as failed. A full local queue is backpressure: the
 * publisher serves delivery reports and retries, it never drops an order.
 *
 * Single-threaded: callbacks run inside publisher_send(), publisher_poll()
 * and publisher_finish(), on the caller's thread. */
#ifndef ORDERFLEET_PUBLISHER_H
#define ORDERFLEET_PUBLISHER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/order_codec.h"
#include "common/reply_headers.h"

typedef struct publisher publisher;

/* One order's delivery report. The strings are valid only during the
 * callback. */
typedef struct publisher_ack {
    const char *order_id;
    const char *topic;
    int32_t partition; /* -1 when not acknowledged */
    int64_t offset;    /* -1 when not acknowledged */
    const char *error; /* NULL: acknowledged; else why not */
    int maybe_placed;  /* not acknowledged, yet Kafka may have it (a timeout after
                          sending): librdkafka's POSSIBLY_PERSISTED */
    void *request;     /* the per-order pointer given to publisher_send_request() */
} publisher_ack;

/* Acknowledged orders go to on_ack; with publisher_on_failure() set, orders
 * that were not acknowledged go to that one (error set). */
typedef void publisher_ack_fn(const publisher_ack *ack, void *opaque);

/* Counts since publisher_new(). sent: orders handed to publisher_send()
 * (all but PUBLISH_STOPPED ones). Each ends as acked or as failed (not
 * acknowledged, or never enqueued at all), so acked + failed == sent once
 * publisher_finish() has returned. */
typedef struct publisher_stats {
    uint64_t sent;
    uint64_t acked;
    uint64_t failed;
} publisher_stats;

#define PUBLISH_OK 0       /* enqueued: its delivery report will follow */
#define PUBLISH_ERR -1     /* not enqueued; logged and counted as sent and failed */
#define PUBLISH_STOPPED -2 /* *run was cleared while the queue was full; not sent, not counted */
#define PUBLISH_FULL -3    /* publisher_send_request(): the local queue is full; not counted */

/* Creates the producer from cfg (topic cfg->topic_orders, cfg's kafka
 * properties over the publisher's defaults; enable.idempotence and acks=all
 * are enforced). program names the sender in ce_source
 * (/orderfleet/<program>/<host>-<pid>) and is the default client.id. on_ack
 * (may be NULL) gets every acknowledged order with ack_opaque. run is the
 * program's run flag, read while waiting on a full queue (NULL: never
 * interrupted). Returns NULL with the reason in errstr. cfg must outlive the
 * publisher. Free with publisher_destroy(). */
publisher *publisher_new(const of_config *cfg, const char *program, publisher_ack_fn *on_ack,
                         void *ack_opaque, volatile sig_atomic_t *run, char *errstr,
                         size_t errsize);

/* Reports orders that were not acknowledged to on_failure as well (they are
 * always logged and counted). */
void publisher_on_failure(publisher *p, publisher_ack_fn *on_failure);

/* Encodes and enqueues one order. An empty order_id is replaced by a new
 * UUIDv7 and a zero placed_at_ms by the current time, in the record only:
 * order itself is not changed and stays the caller's. Blocks (serving
 * delivery reports) while the local queue is full. */
int publisher_send(publisher *p, const order_placed_t *order);

/* publisher_send() for a requester: req (may be NULL) adds the Spring
 * request/reply headers, trace_parent (NULL: none) is the caller's W3C
 * traceparent, which the record's continues (common/trace.h), and request
 * comes back in the order's report (ack->request), good or bad; PUBLISH_ERR
 * means no report will follow. Does not block on a full local queue: returns
 * PUBLISH_FULL instead (not counted), so an event loop is never stalled. */
int publisher_send_request(publisher *p, const order_placed_t *order,
                           const struct rh_request *req, const char *trace_parent,
                           void *request);

/* Serves delivery reports, waiting up to timeout_ms for the first one. */
void publisher_poll(publisher *p, int timeout_ms);

/* Why the last send that returned PUBLISH_ERR failed ("" before any). */
const char *publisher_last_error(const publisher *p);

/* Orders sent whose delivery report has not come yet. */
size_t publisher_in_flight(const publisher *p);

/* The producer handle, for event-loop wake-ups (rd_kafka_queue_io_event_enable
 * on its main queue). Owned by the publisher. */
rd_kafka_t *publisher_kafka(publisher *p);

/* Waits for the delivery report of every order in flight, in slices of 100 ms,
 * up to message.timeout.ms + 5 s; tick (may be NULL) is called after each
 * slice, for progress lines. Orders still without a report at the deadline
 * are logged and counted as failed. Not interrupted by *run: orders already
 * sent are worth their report. */
void publisher_finish(publisher *p, void (*tick)(void *opaque), void *opaque);

void publisher_get_stats(const publisher *p, publisher_stats *st);

/* Non-zero after a fatal producer error (e.g. the idempotence guarantee
 * could not be kept): every later publisher_send() fails, so stop sending. */
int publisher_fatal(const publisher *p);

/* Fetches the orders topic's metadata now (blocking up to timeout_ms), so
 * that the first order does not wait for librdkafka's next periodic
 * refresh (up to a second for a topic it has not met). Returns PUBLISH_OK,
 * or PUBLISH_ERR with errstr. */
int publisher_warm(publisher *p, int timeout_ms, char *errstr, size_t errsize);

/* Drops the orders still in the local queue (not yet sent to Kafka): each
 * gets its report as not acknowledged, and certainly not placed, from the
 * next publisher_poll(). Orders already sent keep waiting for Kafka. */
void publisher_drop_queued(publisher *p);

/* Destroys the producer without waiting: call publisher_finish() first to
 * get every delivery report. NULL is ok. */
void publisher_destroy(publisher *p);


#endif
