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

void history_free(history_t *h);

#endif
