#define _POSIX_C_SOURCE 200809L
#include "consumer/fulfillment.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/catalog.h"
#include "common/order_codec.h"
#include "common/rng.h"
#include "common/timeutil.h"

/* Business limits: beyond these an order is more likely a mistake or an
 * attack than a meal. */
#define MAX_LINES 100
#define MAX_QUANTITY 1000
#define MAX_LATENCY_MS 3600000

/* Bytes of s (valid UTF-8) to print so that at most max are printed and no
 * character is cut: a quoted piece of a customer's string in a reason must
 * stay UTF-8, or the outcome is not a valid OrderCompleted (proto3 strings
 * are UTF-8) and its readers refuse it. */
static int utf8_prefix(const char *s, size_t max) {
    size_t n = strlen(s);
    if (n <= max) return (int)n;
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80) max--; /* s[max]: next char */
    return (int)max;
}

static void reject(orderfleet_result_v1 *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A REJECTED verdict with its reason, cut to whole UTF-8 characters when it
 * is longer than the reason's buffer. */
static void reject(orderfleet_result_v1 *res, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    memset(res, 0, sizeof(*res));
    res->verdict = ORDERFLEET_REJECTED;
    vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
    va_end(ap);
    codec_utf8_scrub(res->reason); /* cut short: the last character may have lost its tail */
}

#define REJECT(...)                                                                         \
    do {                                                                                    \
        reject(res, __VA_ARGS__);                                                           \
        return;                                                                             \
    } while (0)

/* Checks every rule and prices the order. The order of the checks decides
 * which reason a customer sees when several rules are broken: the order as a
 * whole first, then each line in turn. */
static void price(const orderfleet_order_v1 *o, orderfleet_result_v1 *res) {
    int64_t subtotal = 0, tax, shipping, total;

    if (o->customer_id[0] == '\0') REJECT("customerId: is required");
    const catalog_currency *cur = catalog_find_currency(o->currency);
    if (o->currency[0] == '\0') REJECT("currency: is required");
    if (!cur)
        REJECT("currency: unknown currency \"%.*s\"", utf8_prefix(o->currency, 8), o->currency);
    if (o->n_items == 0) REJECT("items: the order has no items");
    if (o->n_items > MAX_LINES)
        REJECT("items: too many lines (%zu, at most %d)", o->n_items, MAX_LINES);

    for (size_t i = 0; i < o->n_items; i++) {
        const orderfleet_line_v1 *it = &o->items[i];
        if (it->sku[0] == '\0') REJECT("items[%zu].sku: is required", i);
        const catalog_item *ci = catalog_find_item(it->sku);
        if (!ci)
            REJECT("items[%zu].sku: unknown SKU \"%.*s\"", i, utf8_prefix(it->sku, 64), it->sku);
        if (it->quantity < 1)
            REJECT("items[%zu].quantity: must be at least 1, got %" PRId32, i,
                          it->quantity);
        if (it->quantity > MAX_QUANTITY)
            REJECT("items[%zu].quantity: at most %d per line, got %" PRId32, i,
                          MAX_QUANTITY, it->quantity);
        if (it->unit_price < 0)
            REJECT("items[%zu].unitPrice: must not be negative, got %" PRId64, i,
                          it->unit_price);
        if (!ci->in_stock) REJECT("items[%zu].sku: %s is out of stock", i, ci->sku);
        int64_t line;
        if (__builtin_mul_overflow(it->unit_price, (int64_t)it->quantity, &line) ||
            __builtin_add_overflow(subtotal, line, &subtotal))
            REJECT("items[%zu]: the total overflows 64-bit minor units", i);
    }

    /* Tax rounds half up, in minor units. */
    if (__builtin_mul_overflow(subtotal, (int64_t)cur->tax_bps, &tax) ||
        __builtin_add_overflow(tax, (int64_t)5000, &tax))
        REJECT("total: the tax overflows 64-bit minor units");
    tax /= 10000;
    shipping = subtotal >= cur->free_shipping_from ? 0 : cur->shipping;
    if (__builtin_add_overflow(subtotal, tax, &total) ||
        __builtin_add_overflow(total, shipping, &total))
        REJECT("total: overflows 64-bit minor units");

    memset(res, 0, sizeof(*res));
    res->verdict = ORDERFLEET_FULFILLED;
    res->subtotal = subtotal;
    res->tax = tax;
    res->shipping = shipping;
    res->total = total;
}

/* The order seen through the ABI, then priced as the handler prices it. */
void fulfillment_price(const order_placed_t *order, handler_result *res) {
    handler_view v;
    if (handler_view_init(&v, order) != 0) {
        memset(res, 0, sizeof(*res));
        res->verdict = ORDERFLEET_TRANSIENT;
        snprintf(res->reason, sizeof(res->reason), "out of memory for an order of %zu lines",
                 order->n_items);
        return;
    }
    price(&v.order, res);
    handler_view_release(&v);
}

/* The handler's state: its settings and a random generator for the simulated
 * payment failures, guarded by a mutex so that the handler stays correct when
 * several threads call it. */
typedef struct fulfillment {
    int latency_ms;
    double failure_rate;
    pthread_mutex_t lock;
    rng rng;
} fulfillment;

static double fulfillment_random(fulfillment *f) {
    pthread_mutex_lock(&f->lock);
    double u = rng_unit(&f->rng);
    pthread_mutex_unlock(&f->lock);
    return u;
}

/* Validate and price first: a rejected order is answered at once. Then the
 * simulated charge: latency, and a transient failure at the configured rate. */
static void fulfillment_handle(void *state, const orderfleet_order_v1 *order, unsigned attempt,
                               orderfleet_result_v1 *res) {
    fulfillment *f = state;
    (void)attempt;
    price(order, res);
    if (res->verdict != ORDERFLEET_FULFILLED) return;
    if (f->latency_ms > 0) time_sleep_ms(f->latency_ms, NULL);
    if (f->failure_rate > 0 && fulfillment_random(f) < f->failure_rate) {
        res->verdict = ORDERFLEET_TRANSIENT;
        snprintf(res->reason, sizeof(res->reason),
                 "payment provider did not answer in time (simulated)");
    }
}

/* Reads the two settings the handler knows from their text (the config has
 * checked them already; a handler checks what it is given all the same). */
static int fulfillment_settings(fulfillment *f, const char *const *kv, char *errstr,
                                size_t errsize) {
    for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2) {
        const char *key = kv[i], *text = kv[i + 1];
        char *end;
        errno = 0;
        if (strcmp(key, "handler.latency_ms") == 0) {
            long v = strtol(text, &end, 10);
            if (errno || end == text || *end || v < 0 || v > MAX_LATENCY_MS) {
                snprintf(errstr, errsize, "%s: expected an integer from 0 to %d, got \"%.64s\"",
                         key, MAX_LATENCY_MS, text);
                return -1;
            }
            f->latency_ms = (int)v;
        } else if (strcmp(key, "handler.failure_rate") == 0) {
            double v = strtod(text, &end);
            if (errno || end == text || *end || !(v >= 0.0 && v <= 1.0)) {
                snprintf(errstr, errsize, "%s: expected a number from 0 to 1, got \"%.64s\"",
                         key, text);
                return -1;
            }
            f->failure_rate = v;
        }
    }
    return 0;
}

static int fulfillment_init(void **state, const char *const *settings, char *errstr,
                            size_t errsize) {
    fulfillment *f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(errstr, errsize, "out of memory");
        return -1;
    }
    if (fulfillment_settings(f, settings, errstr, errsize) != 0) {
        free(f);
        return -1;
    }
    pthread_mutex_init(&f->lock, NULL);
    rng_seed_random(&f->rng);
    *state = f;
    return 0;
}

static void fulfillment_fini(void *state) {
    fulfillment *f = state;
    if (!f) return;
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static const struct orderfleet_handler_v1 fulfillment_v1 = {
    .abi_version = ORDERFLEET_HANDLER_ABI,
    .name = "fulfillment",
    .init = fulfillment_init,
    .handle = fulfillment_handle,
    .fini = fulfillment_fini,
};

const struct orderfleet_handler_v1 *fulfillment_handler_v1(void) {
    return &fulfillment_v1;
}

int fulfillment_handler_init(handler *h, const of_config *cfg, char *errstr, size_t errsize) {
    return handler_open_v1(h, &fulfillment_v1, cfg, errstr, errsize);
}
