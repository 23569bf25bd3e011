/* fulfillment: the built-in handler: validate an order, price it (subtotal,
 * tax, shipping, total in integer minor units, every step checked for
 * overflow), check the catalog and stock, then "charge" with a configurable
 * latency and transient-failure rate (handler.latency_ms,
 * handler.failure_rate). */
#ifndef ORDERFLEET_FULFILLMENT_H
#define ORDERFLEET_FULFILLMENT_H

#include <stddef.h>

#include "common/config.h"
#include "consumer/handler.h"

/* The pure part: business rules and pricing, no latency, no failures. Sets
 * res to FULFILLED with the amounts, or REJECTED with a reason that names the
 * field ("items[1].quantity: must be at least 1, got 0"). */
void fulfillment_price(const order_placed_t *order, handler_result *res);

/* Sets up h as the built-in handler with cfg's handler.* settings. Returns 0,
 * or -1 with the reason in errstr. h->fini frees what it allocates. */
int fulfillment_handler_init(handler *h, const of_config *cfg, char *errstr, size_t errsize);

#endif
