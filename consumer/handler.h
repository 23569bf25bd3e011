/* handler: the business logic behind a small C interface (DESIGN.md §5).
 *
 * The engine owns Kafka, offsets, retries and dead letters; a handler only
 * looks at one order and says what became of it. A handler may be called
 * again for the same order (a retry after a transient failure, or a
 * redelivery after a crash), so it must be idempotent in its effects. */
#ifndef ORDERFLEET_HANDLER_H
#define ORDERFLEET_HANDLER_H

#include <stdint.h>

#include "common/order_codec.h"

typedef enum {
    HANDLER_FULFILLED = 1, /* done; the amounts are filled in */
    HANDLER_REJECTED = 2,  /* breaks a business rule; reason says which. An answer, not an error */
    HANDLER_TRANSIENT = 3, /* could not be done now (a timeout, a dependency down); try later */
} handler_verdict;

#define HANDLER_REASON_MAX 256

typedef struct handler_result {
    handler_verdict verdict;
    char reason[HANDLER_REASON_MAX]; /* for REJECTED and TRANSIENT */
    int64_t subtotal, tax, shipping, total; /* minor units, for FULFILLED */
} handler_result;

typedef struct handler {
    const char *name;
    void *state; /* the handler's own, freed by fini */
    /* Decides one order. attempt counts from 1. Must fill in res->verdict. */
    void (*handle)(void *state, const order_placed_t *order, unsigned attempt,
                   handler_result *res);
    void (*fini)(void *state);
} handler;

#endif
