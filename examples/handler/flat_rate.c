/* flat_rate: an example order-worker handler (consumer/orderfleet_handler.h).
 *
 * Prices an order at the prices it carries, with no tax and a flat shipping
 * fee of 500 minor units, whatever the currency. It rejects an order without
 * items or with a line whose quantity is not positive, and one whose total
 * does not fit in 64 bits; it never fails transiently. It has no state and no
 * settings, so init and fini are left out.
 *
 * Build it on its own, against the ABI header alone:
 *
 *   cc -std=c11 -O2 -Wall -fPIC -shared -I consumer \
 *      -o liborderfleet_flat_rate.so examples/handler/flat_rate.c
 *
 * and run a worker with it:
 *
 *   ORDERFLEET_HANDLER_LIBRARY=$PWD/liborderfleet_flat_rate.so order-worker -b localhost:9092
 *
 * (The project's build makes build/lib/liborderfleet_flat_rate.so.) */
#include <inttypes.h>
#include <stdio.h>

#include "orderfleet_handler.h"

#define FLAT_SHIPPING 500

static void reject(orderfleet_result_v1 *result, const char *reason) {
    result->verdict = ORDERFLEET_REJECTED;
    snprintf(result->reason, sizeof(result->reason), "%s", reason);
}

/* Stateless and without side effects: thread-safe and idempotent as it is. */
static void flat_rate_handle(void *state, const orderfleet_order_v1 *order, unsigned attempt,
                             orderfleet_result_v1 *result) {
    int64_t subtotal = 0, total;
    (void)state;
    (void)attempt;
    if (order->n_items == 0) {
        reject(result, "items: the order has no items");
        return;
    }
    for (size_t i = 0; i < order->n_items; i++) {
        const orderfleet_line_v1 *line = &order->items[i];
        int64_t amount;
        if (line->quantity <= 0) {
            result->verdict = ORDERFLEET_REJECTED;
            snprintf(result->reason, sizeof(result->reason),
                     "items[%zu].quantity: must be positive, got %" PRId32, i, line->quantity);
            return;
        }
        if (__builtin_mul_overflow(line->unit_price, (int64_t)line->quantity, &amount) ||
            __builtin_add_overflow(subtotal, amount, &subtotal)) {
            result->verdict = ORDERFLEET_REJECTED;
            snprintf(result->reason, sizeof(result->reason),
                     "items[%zu]: the subtotal overflows 64-bit minor units", i);
            return;
        }
    }
    if (__builtin_add_overflow(subtotal, (int64_t)FLAT_SHIPPING, &total)) {
        reject(result, "total: overflows 64-bit minor units");
        return;
    }
    result->verdict = ORDERFLEET_FULFILLED;
    result->subtotal = subtotal;
    result->tax = 0;
    result->shipping = FLAT_SHIPPING;
    result->total = total;
}

static const struct orderfleet_handler_v1 flat_rate = {
    .abi_version = ORDERFLEET_HANDLER_ABI,
    .name = "flat-rate",
    .init = NULL,
    .handle = flat_rate_handle,
    .fini = NULL,
};

const struct orderfleet_handler_v1 *orderfleet_handler_v1(void) { return &flat_rate; }
