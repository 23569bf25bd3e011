/* publisher: the idempotent producer that place, send and load share.
 *
 * Each order becomes one OrderPlaced record on the orders topic, keyed by its
 * order id, with the CloudEvents headers and a fresh W3C traceparent
 * (DESIGN.md §4). The producer is idempotent with acks=all, and every
 * record's delivery report is checked: an acknowledged order is handed to
 * the mode's callback (the buzzer), an unacknowledged one is logged with its
 * order id and counted as failed. A full local queue is backpressure: the
 * publisher serves delivery reports and retries, it never drops an order.
 *
 * Single-threaded: callbacks run inside publisher_send(), publisher_poll()
 * and publisher_finish(), on the caller's thread. */
#ifndef ORDERFLEET_PRODUCER_PUBLISHER_H
#define ORDERFLEET_PRODUCER_PUBLISHER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/order_codec.h"

typedef struct publisher publisher;

/* One acknowledged order. The strings are valid only during the callback. */
typedef struct publisher_ack {
    const char *order_id;
    const char *topic;
    int32_t partition;
    int64_t offset;
} publisher_ack;

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

/* Creates the producer from cfg (topic cfg->topic_orders, cfg's kafka
 * properties over the publisher's defaults; enable.idempotence and acks=all
 * are enforced). on_ack (may be NULL) gets every acknowledged order with
 * ack_opaque. run is the program's run flag, read while waiting on a full
 * queue. Returns NULL with the reason in errstr. cfg must outlive the
 * publisher. Free with publisher_destroy(). */
publisher *publisher_new(const of_config *cfg, publisher_ack_fn *on_ack, void *ack_opaque,
                         volatile sig_atomic_t *run, char *errstr, size_t errsize);

/* Encodes and enqueues one order. An empty order_id is replaced by a new
 * UUIDv7 and a zero placed_at_ms by the current time, in the record only:
 * order itself is not changed and stays the caller's. Blocks (serving
 * delivery reports) while the local queue is full. */
int publisher_send(publisher *p, const order_placed_t *order);

/* Serves delivery reports, waiting up to timeout_ms for the first one. */
void publisher_poll(publisher *p, int timeout_ms);

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

/* Destroys the producer without waiting: call publisher_finish() first to
 * get every delivery report. NULL is ok. */
void publisher_destroy(publisher *p);

/* What publisher_ack_print() needs: json selects the output format;
 * write_failed is set when stdout could not be written (reported once; no
 * later id is written): the mode should stop sending, finish what is in
 * flight and exit with EXIT_IOERR. */
typedef struct ack_printer {
    int json;
    int write_failed;
} ack_printer;

/* A publisher_ack_fn (opaque: an ack_printer) that writes the acknowledged
 * order id on stdout, "<order id>\n" or with json
 * {"orderId":"…","topic":"orders","partition":3,"offset":17}, and flushes
 * the line so that a pipe sees each id as soon as it is acknowledged.
 * Nothing is written once pr->write_failed is set. */
void publisher_ack_print(const publisher_ack *ack, void *opaque);

#endif
