/* handler: the business logic behind a small C interface (DESIGN.md §5).
 *
 * The engine owns Kafka, offsets, retries and dead letters; a handler only
 * looks at one order and says what became of it. A handler may be called
 * again for the same order (a retry after a transient failure, or a
 * redelivery after a crash), so it must be idempotent in its effects.
 *
 * Every handler, the built-in one included, is written against the public
 * ABI of consumer/orderfleet_handler.h (struct orderfleet_handler_v1). This
 * module adapts such a handler to the engine: `handler` below is what the
 * engine calls, with the decoded protobuf order; the adapter turns it into an
 * orderfleet_order_v1 (on the stack) and passes the result through as it is.
 * handler_load() picks the built-in fulfillment handler or the shared object
 * named by handler.library. */
#ifndef ORDERFLEET_HANDLER_H
#define ORDERFLEET_HANDLER_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/order_codec.h"
#include "consumer/orderfleet_handler.h"

/* The engine's names for the ABI's verdicts and result: the same types. */
typedef orderfleet_verdict_v1 handler_verdict;
#define HANDLER_FULFILLED ORDERFLEET_FULFILLED
#define HANDLER_REJECTED ORDERFLEET_REJECTED
#define HANDLER_TRANSIENT ORDERFLEET_TRANSIENT

#define HANDLER_REASON_MAX ORDERFLEET_REASON_MAX

typedef orderfleet_result_v1 handler_result;

typedef struct handler {
    const char *name; /* the handler's own name; valid until handler_unload() */
    void *state;      /* the adapter's, freed by fini */
    /* Decides one order. attempt counts from 1. Fills in res (zeroed first). */
    void (*handle)(void *state, const order_placed_t *order, unsigned attempt,
                   handler_result *res);
    void (*fini)(void *state);
} handler;

/* Sets up h as the built-in fulfillment handler when cfg's handler.library is
 * empty, or as the handler in that shared object: dlopen(RTLD_NOW |
 * RTLD_LOCAL), the entry point orderfleet_handler_v1, its abi_version and
 * handle checked, then its init with the handler.* settings. Returns 0, or
 * -1 with a message in errstr that names the library and what is wrong (the
 * library is then unloaded again). Release with handler_unload(). */
int handler_load(handler *h, const of_config *cfg, char *errstr, size_t errsize);

/* Sets up h around v1, a handler linked into the program (v1 must outlive h),
 * calling its init with cfg's handler.* settings. Returns 0, or -1 with the
 * reason in errstr. Release with handler_unload() (or h->fini(h->state)). */
int handler_open_v1(handler *h, const struct orderfleet_handler_v1 *v1, const of_config *cfg,
                    char *errstr, size_t errsize);

/* Calls the handler's fini, unloads its library, and zeroes h. A zeroed h is
 * fine. */
void handler_unload(handler *h);

/* The settings a handler's init gets: every handler.* setting of cfg as text,
 * as a NULL-terminated list of key, value pairs. The numbers are rendered
 * into the struct itself, the strings borrowed from cfg: valid while both
 * live. */
#define HANDLER_SETTINGS_MAX 8
typedef struct handler_settings {
    const char *kv[2 * HANDLER_SETTINGS_MAX + 1];
    char text[HANDLER_SETTINGS_MAX][32];
} handler_settings;

void handler_settings_init(handler_settings *s, const of_config *cfg);

/* An order_placed_t seen as an orderfleet_order_v1, borrowing its strings.
 * Lines and attributes live in the arrays below when they fit (nearly every
 * order) and on the heap otherwise. */
#define HANDLER_VIEW_LINES 32
#define HANDLER_VIEW_ATTRS 16
typedef struct handler_view {
    orderfleet_order_v1 order;
    orderfleet_line_v1 lines[HANDLER_VIEW_LINES];
    orderfleet_attr_v1 attrs[HANDLER_VIEW_ATTRS];
    orderfleet_line_v1 *heap_lines; /* NULL unless the order has more lines */
    orderfleet_attr_v1 *heap_attrs; /* NULL unless it has more attributes */
} handler_view;

/* Fills v from o, which must outlive it (NULL strings become ""). Returns 0,
 * or -1 when out of memory (v then needs no release). Release with
 * handler_view_release(). */
int handler_view_init(handler_view *v, const order_placed_t *o);
void handler_view_release(handler_view *v);

#endif
