/* fleet: GET /v1/fleet, the live panel's numbers (docs/buzzer.md), cheap to
 * compute because the page asks every second.
 *
 *   ordersPerSecond, placedPerSecond  outcomes and placed orders the view
 *       saw per second over the last FLEET_WINDOW_S seconds: a ring of
 *       per-second counts fed by the history's listener (gateway/history.h),
 *       each bucketed by its record's timestamp, so a starting gateway's
 *       read-back of older records does not look like a burst
 *   inFlight      orders placed with no outcome yet, from the view
 *   outcomes      outcomes by status seen since start (read-back included)
 *   lag           per partition of topics.orders: its end (the high
 *       watermark the view's consumer last fetched, no request) minus the
 *       committed offset of worker.group (an asynchronous
 *       ListConsumerGroupOffsets on a client of its own, at most once a
 *       second and only while someone asks: never blocks the loop); a
 *       partition the group never committed counts from its log start
 *
 * Single-threaded: the gateway's event loop owns it. */
#ifndef ORDERFLEET_GATEWAY_FLEET_H
#define ORDERFLEET_GATEWAY_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "gateway/history.h"

#define FLEET_OK 0
#define FLEET_ERR -1

#define FLEET_WINDOW_S 10        /* the rates' window */
#define FLEET_MAX_PARTITIONS 4096 /* partitions of topics.orders shown */
#define FLEET_REFRESH_MS 1000     /* committed offsets asked at most this often */
/* Committed offsets are asked for only while /v1/fleet was asked within
 * this long. */
#define FLEET_INTEREST_MS 10000

typedef struct fleet fleet_t;

typedef struct fleet_stats {
    uint64_t lag_requests; /* ListConsumerGroupOffsets sent */
    uint64_t lag_failures; /* ... answered with an error */
    int64_t max_poll_us;   /* the longest fleet_poll() so far */
    int64_t max_json_us;   /* the longest fleet_json() so far */
} fleet_stats;

/* Creates the panel over hist (which must outlive it) and its Kafka client
 * for committed offsets (made from cfg's kafka settings; nothing blocks).
 * Registers itself as hist's listener. Returns NULL with the reason in
 * errstr; free with fleet_free(). */
fleet_t *fleet_new(const of_config *cfg, history_t *hist, char *errstr, size_t errsize);

/* Serves the answer of the committed-offsets request without waiting, and
 * sends the next one when due. Call every loop turn (the loop turns at least
 * every 100 ms, so an answer waits at most that long to be read). */
void fleet_poll(fleet_t *f);

/* The contract's JSON (docs/buzzer.md), NUL-terminated, malloc'd: the caller
 * frees it. waiting and streams are the gateway's own numbers. NULL when
 * out of memory. Cost: O(partitions + FLEET_WINDOW_S). */
char *fleet_json(fleet_t *f, size_t waiting, size_t streams);

void fleet_stats_get(const fleet_t *f, fleet_stats *st);

/* NULL is fine. */
void fleet_free(fleet_t *f);

#endif
