/* orderfleet_handler.h: the C ABI of an order-worker handler, version 1.
 *
 * A handler is the business logic behind order-worker (DESIGN.md §5): it is
 * given one order at a time and says what became of it. Write one in C (or
 * anything that exports a C function), build it as a shared object against
 * this header alone, and name it in the worker's config:
 *
 *   cc -std=c11 -O2 -fPIC -shared -I consumer -o my_handler.so my_handler.c
 *   handler = { library = "/opt/orderfleet/my_handler.so"; };
 *
 * The shared object exports one function, the entry point:
 *
 *   const struct orderfleet_handler_v1 *orderfleet_handler_v1(void);
 *
 * which returns a description that stays valid until the library is unloaded
 * (a static const struct is the usual way). order-worker loads the library
 * with dlopen(RTLD_NOW | RTLD_LOCAL), calls the entry point once, and refuses
 * to start (exit 78) when the symbol is missing, abi_version is not
 * ORDERFLEET_HANDLER_ABI, handle is NULL or init fails. The built-in
 * fulfillment handler is written against this same interface
 * (consumer/fulfillment.c); examples/handler/flat_rate.c is a small one.
 *
 * The contract, for a handler author:
 *
 * - Effects must be idempotent. Delivery is at least once: a handler may see
 *   the same order again (a retry after a TRANSIENT verdict, with attempt
 *   counting up from 1; or a redelivery after a crash or a rebalance, with
 *   attempt 1 again). Key external effects (a charge) on order_id.
 * - handle must be thread-safe across different orders: a future engine may
 *   call it concurrently for different keys, never concurrently for the same
 *   key. Guard shared state in *state accordingly.
 * - handle must not block for ever: a stuck handle stalls its partition and,
 *   past the consumer's max.poll.interval.ms, costs the worker its partitions.
 *   Time out calls to dependencies and answer TRANSIENT.
 * - handle must set result->verdict. result arrives zeroed. reason (a
 *   NUL-terminated message, truncated to fit) is for REJECTED and TRANSIENT:
 *   REJECTED's reason is shown to the customer, so name the field and the rule
 *   ("items[1].quantity: must be at least 1, got 0"). The amounts are for
 *   FULFILLED. Money is integer minor units of order->currency (cents, pence,
 *   yen), never floating point; check arithmetic for overflow.
 * - Everything handle is given is valid only during the call: copy what you
 *   keep. Every string is NUL-terminated UTF-8 and never NULL (absent fields
 *   are "").
 * - Symbols other than the entry point should be static (or hidden): the
 *   library is loaded with RTLD_LOCAL, but a clean export list avoids
 *   surprises.
 *
 * Compatibility: a change that breaks this layout gets a new version
 * (orderfleet_handler_v2, ORDERFLEET_HANDLER_ABI 2) next to this one; version
 * 1 stays as it is. */
#ifndef ORDERFLEET_HANDLER_ABI_H
#define ORDERFLEET_HANDLER_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ORDERFLEET_HANDLER_ABI 1

/* Size of orderfleet_result_v1.reason, the terminating NUL included. */
#define ORDERFLEET_REASON_MAX 256

/* One line of an order. */
typedef struct orderfleet_line_v1 {
    const char *sku;
    int32_t quantity;   /* as sent: may be zero or negative, for the handler to reject */
    int64_t unit_price; /* minor units of the order's currency; may be negative */
} orderfleet_line_v1;

/* One entry of the order's free-form attributes (a map: keys are unique). */
typedef struct orderfleet_attr_v1 {
    const char *key, *value;
} orderfleet_attr_v1;

/* An OrderPlaced event (proto/order.proto), decoded. */
typedef struct orderfleet_order_v1 {
    const char *order_id; /* never empty: the engine dead-letters orders without one */
    const char *customer_id;
    const char *currency; /* ISO 4217 alphabetic code, as sent (unchecked) */
    int64_t placed_at_ms; /* ms since the Unix epoch */
    size_t n_items;
    const orderfleet_line_v1 *items;
    size_t n_attributes;
    const orderfleet_attr_v1 *attributes;
} orderfleet_order_v1;

typedef enum {
    ORDERFLEET_FULFILLED = 1, /* done; subtotal, tax, shipping and total are set */
    ORDERFLEET_REJECTED = 2,  /* breaks a business rule: an answer, not an error; never retried */
    ORDERFLEET_TRANSIENT = 3, /* could not be done now (timeout, dependency down): retried
                                 with backoff, then FAILED and dead-lettered */
} orderfleet_verdict_v1;

/* What became of one order. Zeroed before each call. */
typedef struct orderfleet_result_v1 {
    orderfleet_verdict_v1 verdict;
    char reason[ORDERFLEET_REASON_MAX];     /* for REJECTED and TRANSIENT */
    int64_t subtotal, tax, shipping, total; /* minor units, for FULFILLED */
} orderfleet_result_v1;

/* A handler. The struct and the function that returns it share a name, as
 * struct stat and stat() do: there is no typedef. */
struct orderfleet_handler_v1 {
    uint32_t abi_version; /* ORDERFLEET_HANDLER_ABI */
    const char *name;     /* for logs, e.g. "flat-rate" */

    /* Optional (NULL: no state). Called once before any order, on the
     * worker's main thread. settings is a NULL-terminated list of key, value
     * pairs: every handler.* setting of the worker's config as text
     * ("handler.latency_ms", "0", ...), valid only during the call. Sets
     * *state (passed to handle and fini; it starts NULL). Returns 0, or
     * non-zero with a message in errstr (errsize bytes), having freed what it
     * allocated (fini is not called then): the worker exits with status 78
     * and shows the message. */
    int (*init)(void **state, const char *const *settings, char *errstr, size_t errsize);

    /* Required. Decides one order; see the contract above. */
    void (*handle)(void *state, const orderfleet_order_v1 *order, unsigned attempt,
                   orderfleet_result_v1 *result);

    /* Optional. Called once at shutdown after the last handle, with the
     * state init set (also when init left it NULL); frees it. */
    void (*fini)(void *state);
};

/* The entry point every handler library exports, looked up by this name. */
const struct orderfleet_handler_v1 *orderfleet_handler_v1(void);

#ifdef __cplusplus
}
#endif

#endif
