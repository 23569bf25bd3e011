/* fulfillment: the built-in handler: validate an order, price it (subtotal,
 * tax, shipping, total in integer minor units, every step checked for
 * overflow), check the catalog and stock, then "charge" with a configurable
 * latency and transient-failure rate (handler.latency_ms,
 * handler.failure_rate).
 *
 * It is an orderfleet_handler_v1 like any handler library
 * (consumer/orderfleet_handler.h), reached through the same adapter
 * (handler.h), so the built-in and a loaded handler are the same code path. */
#ifndef ORDERFLEET_FULFILLMENT_H
#define ORDERFLEET_FULFILLMENT_H

#include <stddef.h>

#include "common/config.h"
#include "consumer/handler.h"

/* The built-in handler as an ABI handler: name "fulfillment"; its init reads
 * the settings "handler.latency_ms" and "handler.failure_rate" (absent: 0). A
 * static description: never freed. */
const struct orderfleet_handler_v1 *fulfillment_handler_v1(void);

/* The pure part: business rules and pricing, no latency, no failures. Sets
 * res to FULFILLED with the amounts, or REJECTED with a reason that names the
 * field ("items[1].quantity: must be at least 1, got 0"); TRANSIENT only when
 * out of memory for an order of more than HANDLER_VIEW_LINES lines. */
void fulfillment_price(const order_placed_t *order, handler_result *res);

/* Sets up h as the built-in handler with cfg's handler.* settings (through
 * handler_open_v1()). Returns 0, or -1 with the reason in errstr. h->fini
 * frees what it allocates. */
int fulfillment_handler_init(handler *h, const of_config *cfg, char *errstr, size_t errsize);

#endif
