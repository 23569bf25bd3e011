/* history: the gateway's view of recent orders and their outcomes, for
 * GET /v1/orders/{id} (DESIGN.md §5).
 *
 * Every gateway instance reads topics.orders and topics.completed itself
 * (partitions assigned by hand, no group, nothing committed), starting
 * gateway.history_s seconds back, into a bounded map (common/recent.h) of
 * gateway.outcomes entries: order id -> accepted, or order id -> the
 * outcome's JSON. So an order placed through another instance, or before a
 * restart, is found as long as it is recent enough; the oldest entries are
 * forgotten first. The gateway also records its own orders and replies at
 * once, so a GET right after a POST never races the topics.
 *
 * The view is ready once it has read what the topics held when it started
 * (a restarted gateway knows its earlier orders before it takes traffic).
 *
 * Single-threaded: the gateway's event loop owns it. */
#ifndef ORDERFLEET_GATEWAY_HISTORY_H
#define ORDERFLEET_GATEWAY_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/order_codec.h"

#define HISTORY_UNKNOWN 0   /* never seen, or forgotten */
#define HISTORY_ACCEPTED 1  /* placed (in topics.orders), no outcome seen yet */
#define HISTORY_COMPLETED 2 /* the outcome is known */

typedef struct history history_t;

/* What a listener is told (history_listen()): a change of the view. */
#define HISTORY_EV_PLACED 1  /* an order seen for the first time */
#define HISTORY_EV_OUTCOME 2 /* an order's outcome seen for the first time */

typedef struct history_event {
    int kind;             /* HISTORY_EV_* */
    const char *order_id; /* NUL-terminated */
    int64_t at_ms;        /* when it happened: the record's timestamp, or now */
    /* HISTORY_EV_OUTCOME: the outcome's status (ORDER_STATUS_*) and JSON
     * (json_len bytes, not NUL-terminated). */
    int status;
    const char *json;
    size_t json_len;
} history_event;

/* A listener: called on the event loop's thread, inside history_poll(),
 * history_accepted() or history_completed(). ev and its strings are lent
 * for the call only. It must not call back into the history. */
typedef void (*history_listener)(const history_event *ev, void *ctx);
#define HISTORY_MAX_LISTENERS 4

typedef struct history_stats {
    uint64_t orders_read;    /* records read from topics.orders */
    uint64_t outcomes_read;  /* records read from topics.completed */
    uint64_t undecodable;    /* records of either that did not decode (skipped) */
    uint64_t forgotten;      /* entries dropped to keep the bounds */
    size_t entries;
} history_stats;

/* Creates the view and its consumer from cfg (cfg must outlive it). Nothing
 * blocks here: positioning happens in history_poll(). Returns NULL with the
 * reason in errstr. Free with history_free(). */
history_t *history_new(const of_config *cfg, char *errstr, size_t errsize);

/* Reads what has arrived, without waiting (positioning steps may block up
 * to about half a second each until the view is positioned). */
void history_poll(history_t *h);

/* A descriptor that becomes readable when records are waiting; owned. */
int history_fd(const history_t *h);

/* 1 once positioned and caught up with what the topics held at start. */
int history_ready(const history_t *h);

/* HISTORY_UNKNOWN, HISTORY_ACCEPTED, or HISTORY_COMPLETED with *json (not
 * NUL-terminated, *len bytes) pointing at the outcome's JSON, valid until
 * the next call that changes the view. */
int history_lookup(const history_t *h, const char *order_id, const char **json, size_t *len);

/* The gateway's own news: an order Kafka acknowledged, an outcome that came
 * back as a reply. An accepted order never hides a known outcome. */
void history_accepted(history_t *h, const char *order_id);
void history_completed(history_t *h, const order_completed_t *outcome);

void history_stats_get(const history_t *h, history_stats *st);

/* Adds a listener told of every first sight of an order (placed) and of
 * its outcome: each order is told at most once of each, whatever number of
 * copies (own news, topic records, replays) reach the view, as long as the
 * view remembers it. An order first seen by its outcome is told placed
 * too, just before. Returns 0, or -1 when HISTORY_MAX_LISTENERS are set. */
int history_listen(history_t *h, history_listener fn, void *ctx);

/* Orders seen placed and not yet completed (bounded by gateway.outcomes:
 * the oldest are forgotten first). O(1). */
size_t history_in_flight(const history_t *h);

/* The end (high watermark) of each partition of topics.orders, as the
 * view's own consumer last saw it in a fetch response: no request, no
 * blocking. ends[p] gets partition p's end, or -1 when not known yet; the
 * low watermark (log start) goes to starts[p] (may be NULL) likewise.
 * Returns the number of partitions (at most max; 0 before positioning). */
int history_orders_ends(const history_t *h, int64_t *ends, int64_t *starts, int max);

void history_free(history_t *h);

#endif
