/* bench_cpu_cost: one stage of an order's way through orderfleet, run N
 * times, for counting its instructions under callgrind (tests/bench/sections/cpu.sh).
 *
 *   bench_cpu_cost STAGE N
 *
 * STAGE is one of
 *
 *   encode   codec_placed_encode() of an OrderPlaced, and free() of the bytes
 *            (what order-producer and the gateway do per order)
 *   decode   codec_placed_decode() of those bytes, UTF-8 checks included, and
 *            codec_placed_free() (what the worker does per record)
 *   handle   fulfillment_price(): the built-in handler's business rules and
 *            pricing, through the handler view the engine's adapter builds.
 *            Validation and pricing are one call in consumer/fulfillment.h
 *            (the rules are checked while the lines are summed), so they are
 *            one stage here.
 *
 * The orders are realistic, like order-producer load's valid ones: a UUIDv7
 * id, customer c-1..c-500, EUR (some USD, GBP), three distinct products of
 * the catalog in stock at list price, quantities 1-3, and two attributes
 * (channel, store). A pool of POOL_ORDERS of them is built (and encoded)
 * before the loop whatever N is, so the set-up costs the same for N = 0 and
 * N = 10000 and cancels out of (instructions(N) - instructions(0)) / N. The
 * sequence is fixed (a constant seed): only the ids and timestamps differ
 * between runs, and they do not change the instruction count. Prints one
 * line, with a checksum of the results so that no work can be optimised
 * away. Exit status 0, 64 usage, 70 a stage failed (out of memory, or an
 * order that did not decode or was not fulfilled). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/catalog.h"
#include "common/ids.h"
#include "common/order_codec.h"
#include "common/rng.h"
#include "common/timeutil.h"
#include "consumer/fulfillment.h"

#define POOL_ORDERS 64
#define ORDER_LINES 3
#define ORDER_ATTRS 2
#define POOL_SEED 20261129u

typedef Orderfleet__V1__OrderPlaced__AttributesEntry attr_entry_t;

/* One order with everything it points to, so that the pool is a single
 * allocation. */
typedef struct bench_order {
    order_placed_t msg;
    line_item_t lines[ORDER_LINES];
    line_item_t *line_ptrs[ORDER_LINES];
    attr_entry_t attrs[ORDER_ATTRS];
    attr_entry_t *attr_ptrs[ORDER_ATTRS];
    char id[ID_UUID_LEN + 1];
    char customer[16];
    char store[16];
    void *bytes; /* the order encoded, for the decode stage; malloc'd */
    size_t len;
} bench_order;

/* Fills o with one realistic valid order drawn from r: three distinct
 * in-stock products of the catalog. Returns 0, or -1 when the catalog has
 * fewer than three products in stock. */
static int order_make(bench_order *o, rng *r) {
    static const char *const currencies[] = {"EUR", "EUR", "EUR", "EUR", "USD", "GBP"};
    static const char *const channels[] = {"app", "app", "web", "kiosk"};
    size_t n_catalog, picked = 0;
    const catalog_item *catalog = catalog_items(&n_catalog);

    memset(o, 0, sizeof(*o));
    orderfleet__v1__order_placed__init(&o->msg);
    id_uuid7(o->id);
    snprintf(o->customer, sizeof(o->customer), "c-%u", 1 + rng_below(r, 500));
    snprintf(o->store, sizeof(o->store), "s-%u", 1 + rng_below(r, 40));
    o->msg.order_id = o->id;
    o->msg.customer_id = o->customer;
    o->msg.currency = (char *)currencies[rng_below(r, 6)];
    o->msg.placed_at_ms = time_now_ms();

    for (int tries = 0; picked < ORDER_LINES && tries < 1000; tries++) {
        const catalog_item *ci = &catalog[rng_below(r, (uint32_t)n_catalog)];
        int dup = !ci->in_stock;
        for (size_t j = 0; j < picked && !dup; j++)
            dup = strcmp(o->lines[j].sku, ci->sku) == 0;
        if (dup) continue;
        line_item_t *li = &o->lines[picked];
        orderfleet__v1__line_item__init(li);
        li->sku = (char *)ci->sku;
        li->quantity = (int32_t)(1 + rng_below(r, 3));
        li->unit_price = ci->price;
        o->line_ptrs[picked++] = li;
    }
    if (picked < ORDER_LINES) return -1;
    o->msg.items = o->line_ptrs;
    o->msg.n_items = ORDER_LINES;

    for (int i = 0; i < ORDER_ATTRS; i++) {
        orderfleet__v1__order_placed__attributes_entry__init(&o->attrs[i]);
        o->attr_ptrs[i] = &o->attrs[i];
    }
    o->attrs[0].key = "channel";
    o->attrs[0].value = (char *)channels[rng_below(r, 4)];
    o->attrs[1].key = "store";
    o->attrs[1].value = o->store;
    o->msg.attributes = o->attr_ptrs;
    o->msg.n_attributes = ORDER_ATTRS;
    return 0;
}

/* Builds the pool: POOL_ORDERS orders, each encoded once and checked to
 * decode and to be fulfilled, so that every stage measures the whole path
 * and never an early rejection. Returns the pool (the caller frees it with
 * pool_free()), or NULL with the reason in errstr. */
static bench_order *pool_new(char *errstr, size_t errsize) {
    rng r = {POOL_SEED};
    bench_order *pool = calloc(POOL_ORDERS, sizeof(*pool));
    if (!pool) {
        snprintf(errstr, errsize, "out of memory for %d orders", POOL_ORDERS);
        return NULL;
    }
    for (size_t i = 0; i < POOL_ORDERS; i++) {
        bench_order *o = &pool[i];
        char why[256];
        handler_result res;
        if (order_make(o, &r) != 0) {
            snprintf(errstr, errsize, "the catalog has fewer than %d products in stock",
                     ORDER_LINES);
            goto err;
        }
        if (!(o->bytes = codec_placed_encode(&o->msg, &o->len))) {
            snprintf(errstr, errsize, "order %zu: out of memory encoding it", i);
            goto err;
        }
        order_placed_t *back = codec_placed_decode(o->bytes, o->len, why, sizeof(why));
        if (!back) {
            snprintf(errstr, errsize, "order %zu does not decode: %s", i, why);
            goto err;
        }
        codec_placed_free(back);
        fulfillment_price(&o->msg, &res);
        if (res.verdict != HANDLER_FULFILLED) {
            snprintf(errstr, errsize, "order %zu was not fulfilled: %s", i, res.reason);
            goto err;
        }
    }
    return pool;
err:
    for (size_t i = 0; i < POOL_ORDERS; i++) free(pool[i].bytes);
    free(pool);
    return NULL;
}

static void pool_free(bench_order *pool) {
    if (!pool) return;
    for (size_t i = 0; i < POOL_ORDERS; i++) free(pool[i].bytes);
    free(pool);
}

/* The stages: each runs n times over the pool and adds what it produced to
 * *sum. Returns 0, or -1 with the reason in errstr. */
static int stage_encode(const bench_order *pool, unsigned long n, uint64_t *sum, char *errstr,
                        size_t errsize) {
    for (unsigned long i = 0; i < n; i++) {
        size_t len;
        unsigned char *buf = codec_placed_encode(&pool[i % POOL_ORDERS].msg, &len);
        if (!buf) {
            snprintf(errstr, errsize, "encode: out of memory");
            return -1;
        }
        *sum += len + buf[len - 1];
        free(buf);
    }
    return 0;
}

static int stage_decode(const bench_order *pool, unsigned long n, uint64_t *sum, char *errstr,
                        size_t errsize) {
    for (unsigned long i = 0; i < n; i++) {
        const bench_order *o = &pool[i % POOL_ORDERS];
        char why[256];
        order_placed_t *msg = codec_placed_decode(o->bytes, o->len, why, sizeof(why));
        if (!msg) {
            snprintf(errstr, errsize, "decode: %s", why);
            return -1;
        }
        *sum += msg->n_items + msg->n_attributes + (uint64_t)msg->placed_at_ms;
        codec_placed_free(msg);
    }
    return 0;
}

static int stage_handle(const bench_order *pool, unsigned long n, uint64_t *sum, char *errstr,
                        size_t errsize) {
    for (unsigned long i = 0; i < n; i++) {
        handler_result res;
        fulfillment_price(&pool[i % POOL_ORDERS].msg, &res);
        if (res.verdict != HANDLER_FULFILLED) {
            snprintf(errstr, errsize, "handle: order %lu not fulfilled: %s", i % POOL_ORDERS,
                     res.reason);
            return -1;
        }
        *sum += (uint64_t)res.total;
    }
    return 0;
}

static const struct {
    const char *name;
    int (*run)(const bench_order *, unsigned long, uint64_t *, char *, size_t);
} stages[] = {
    {"encode", stage_encode},
    {"decode", stage_decode},
    {"handle", stage_handle},
};

#define N_STAGES (sizeof(stages) / sizeof(stages[0]))

static int usage(void) {
    fprintf(stderr, "usage: bench_cpu_cost STAGE N   (STAGE: encode, decode or handle; "
                    "N: orders, 0 or more)\n");
    return 64;
}

int main(int argc, char **argv) {
    char errstr[512], *end;
    size_t s;

    if (argc != 3) return usage();
    for (s = 0; s < N_STAGES; s++)
        if (strcmp(stages[s].name, argv[1]) == 0) break;
    if (s == N_STAGES) {
        fprintf(stderr, "bench_cpu_cost: unknown stage \"%s\"\n", argv[1]);
        return usage();
    }
    errno = 0;
    unsigned long n = strtoul(argv[2], &end, 10);
    if (errno || end == argv[2] || *end || argv[2][0] == '-') {
        fprintf(stderr, "bench_cpu_cost: N must be a whole number, got \"%s\"\n", argv[2]);
        return usage();
    }

    bench_order *pool = pool_new(errstr, sizeof(errstr));
    if (!pool) {
        fprintf(stderr, "bench_cpu_cost: %s\n", errstr);
        return 70;
    }
    uint64_t sum = 0;
    int rc = stages[s].run(pool, n, &sum, errstr, sizeof(errstr));
    pool_free(pool);
    if (rc != 0) {
        fprintf(stderr, "bench_cpu_cost: %s\n", errstr);
        return 70;
    }
    printf("stage=%s orders=%lu checksum=%" PRIu64 "\n", stages[s].name, n, sum);
    return 0;
}
