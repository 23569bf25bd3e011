/* load: synthetic orders for demos and benchmarks.
 *
 * Orders look like a burger counter's: 1-5 line items of catalog products,
 * burgers, fries and colas most often, mostly one of each, EUR with some USD
 * and GBP. A configurable share breaks a business rule (the worker must
 * answer REJECTED) and another share asks for a sold-out product. With
 * --seed the same orders come out every time (the ids still differ: they
 * are keys, and must not collide with an earlier run's). Sending is paced
 * by a token bucket when --rate is given.
 *
 * With --wait each order goes through a requester: up to 10000 orders wait
 * for their reply at once (beyond that, sending pauses until replies or
 * deadlines make room), each report is printed as a line, and the summary
 * adds the reply latency percentiles. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/catalog.h"
#include "common/ids.h"
#include "common/logfmt.h"
#include "common/order_codec.h"
#include "common/rng.h"
#include "common/timeutil.h"
#include "producer/modes.h"
#include "common/publisher.h"

#define MAX_ITEMS 5
#define PROGRESS_EVERY_MS 200
#define POLL_SLICE_MS 100
#define LOAD_MAX_WAITING 10000 /* --wait: orders waiting for their reply at once */

/* ---- the random sequence ---------------------------------------------- */

/* Picks an index by weight; weights sum to total > 0. */
static size_t rng_weighted(rng *r, const unsigned *weights, size_t n, unsigned total) {
    uint32_t x = rng_below(r, total);
    for (size_t i = 0; i < n; i++) {
        if (x < weights[i]) return i;
        x -= weights[i];
    }
    return n - 1;
}

/* ---- the order generator ---------------------------------------------- */

typedef Orderfleet__V1__OrderPlaced__AttributesEntry attr_entry_t;

enum {
    KIND_VALID,
    KIND_ZERO_QUANTITY,
    KIND_NEGATIVE_PRICE,
    KIND_UNKNOWN_SKU,
    KIND_UNKNOWN_CURRENCY,
    KIND_NO_ITEMS,
    KIND_SOLDOUT,
    KIND_COUNT
};

static const char *const kind_names[KIND_COUNT] = {
    "valid", "zero_quantity", "negative_price", "unknown_sku", "unknown_currency", "no_items",
    "soldout",
};

/* One order at a time, built in place: every string points to static data
 * or into the generator, so nothing is allocated per order. */
typedef struct generator {
    rng rng;
    long customers;
    double invalid_share, soldout_share;
    const catalog_item *catalog;
    size_t n_catalog;
    unsigned weights[64]; /* per catalog item: 0 for sold-out ones */
    unsigned weight_total;
    const catalog_item *soldout[64];
    size_t n_soldout;

    order_placed_t order;
    line_item_t items[MAX_ITEMS];
    line_item_t *item_ptrs[MAX_ITEMS];
    attr_entry_t channel;
    attr_entry_t *attr_ptrs[1];
    char customer[32];
    uint64_t kinds[KIND_COUNT]; /* orders generated of each kind */
} generator;

/* How popular a product is: burgers, fries and colas sell most. */
static unsigned sku_weight(const char *sku) {
    if (strncmp(sku, "BURGER-", 7) == 0 || strncmp(sku, "FRIES-", 6) == 0 ||
        strncmp(sku, "COLA-", 5) == 0)
        return 6;
    return 2;
}

static int generator_init(generator *g, const load_opts *o, uint64_t seed, char *errstr,
                          size_t errsize) {
    memset(g, 0, sizeof(*g));
    g->rng.state = seed;
    g->customers = o->customers;
    g->invalid_share = o->invalid_share;
    g->soldout_share = o->soldout_share;
    g->catalog = catalog_items(&g->n_catalog);
    if (g->n_catalog > 64) g->n_catalog = 64;
    for (size_t i = 0; i < g->n_catalog; i++) {
        if (g->catalog[i].in_stock) {
            g->weights[i] = sku_weight(g->catalog[i].sku);
            g->weight_total += g->weights[i];
        } else {
            g->soldout[g->n_soldout++] = &g->catalog[i];
        }
    }
    if (g->weight_total == 0) {
        snprintf(errstr, errsize, "the catalog has no product in stock to order");
        return -1;
    }
    orderfleet__v1__order_placed__attributes_entry__init(&g->channel);
    g->channel.key = "channel";
    g->attr_ptrs[0] = &g->channel;
    return 0;
}

/* Fills g->order with the next order of the sequence and returns its kind.
 * The order is valid until the next call. */
static int generator_next(generator *g) {
    static const unsigned n_items_weights[MAX_ITEMS] = {35, 30, 20, 10, 5};
    static const unsigned qty_weights[3] = {75, 20, 5};
    static const char *const currencies[3] = {"EUR", "USD", "GBP"};
    static const unsigned currency_weights[3] = {80, 12, 8};
    static const char *const channels[3] = {"app", "web", "kiosk"};
    static const unsigned channel_weights[3] = {60, 30, 10};
    rng *r = &g->rng;
    order_placed_t *o = &g->order;

    orderfleet__v1__order_placed__init(o);
    snprintf(g->customer, sizeof(g->customer), "c-%ld",
             1 + (long)rng_below(r, (uint32_t)g->customers));
    o->customer_id = g->customer;
    o->currency = (char *)currencies[rng_weighted(r, currency_weights, 3, 100)];
    g->channel.value = (char *)channels[rng_weighted(r, channel_weights, 3, 100)];
    o->n_attributes = 1;
    o->attributes = g->attr_ptrs;

    size_t n = 1 + rng_weighted(r, n_items_weights, MAX_ITEMS, 100);
    for (size_t i = 0; i < n; i++) {
        /* Distinct products in one order, as a basket would have them. */
        size_t pick = 0;
        for (int tries = 0; tries < 8; tries++) {
            pick = rng_weighted(r, g->weights, g->n_catalog, g->weight_total);
            int dup = 0;
            for (size_t j = 0; j < i; j++)
                if (strcmp(g->items[j].sku, g->catalog[pick].sku) == 0) dup = 1;
            if (!dup) break;
        }
        line_item_t *it = &g->items[i];
        orderfleet__v1__line_item__init(it);
        it->sku = (char *)g->catalog[pick].sku;
        it->quantity = (int32_t)(1 + rng_weighted(r, qty_weights, 3, 100));
        it->unit_price = g->catalog[pick].price;
        g->item_ptrs[i] = it;
    }
    o->n_items = n;
    o->items = g->item_ptrs;

    int kind = KIND_VALID;
    double u = rng_unit(r);
    if (u < g->invalid_share) kind = KIND_ZERO_QUANTITY + (int)rng_below(r, 5);
    else if (u < g->invalid_share + g->soldout_share && g->n_soldout > 0) kind = KIND_SOLDOUT;

    line_item_t *victim = &g->items[rng_below(r, (uint32_t)n)];
    switch (kind) {
    case KIND_ZERO_QUANTITY: victim->quantity = 0; break;
    case KIND_NEGATIVE_PRICE:
        victim->unit_price = victim->unit_price > 0 ? -victim->unit_price : -1;
        break;
    case KIND_UNKNOWN_SKU: victim->sku = "SKU-DOES-NOT-EXIST"; break;
    case KIND_UNKNOWN_CURRENCY: o->currency = "XXX"; break;
    case KIND_NO_ITEMS:
        o->n_items = 0;
        o->items = NULL;
        break;
    case KIND_SOLDOUT: {
        const catalog_item *so = g->soldout[rng_below(r, (uint32_t)g->n_soldout)];
        victim->sku = (char *)so->sku;
        victim->unit_price = so->price;
        break;
    }
    default: break;
    }
    g->kinds[kind]++;
    return kind;
}

/* ---- pacing ------------------------------------------------------------ */

/* A token bucket on the monotonic clock: tokens accrue at rate per second
 * from the exact elapsed time (no drift, whatever the poll granularity), up
 * to a burst of 50 ms worth, so a stall is not followed by a flood. */
typedef struct pacer {
    double per_ms;
    double tokens;
    double burst;
    int64_t last_ms;
} pacer;

static void pacer_init(pacer *pc, double rate, int64_t now_ms) {
    pc->per_ms = rate / 1000.0;
    pc->burst = rate / 20.0 > 1.0 ? rate / 20.0 : 1.0;
    pc->tokens = 1.0;
    pc->last_ms = now_ms;
}

/* Milliseconds until a token is there (0: take it now). */
static int64_t pacer_wait_ms(pacer *pc, int64_t now_ms) {
    pc->tokens += (double)(now_ms - pc->last_ms) * pc->per_ms;
    if (pc->tokens > pc->burst) pc->tokens = pc->burst;
    pc->last_ms = now_ms;
    if (pc->tokens >= 1.0) return 0;
    return (int64_t)ceil((1.0 - pc->tokens) / pc->per_ms);
}

static void pacer_take(pacer *pc) { pc->tokens -= 1.0; }

/* ---- progress ---------------------------------------------------------- */

typedef struct progress {
    int enabled;
    publisher *pub;    /* without --wait */
    requester_t *req;  /* with --wait */
    long count;
    int64_t start_ms, last_draw_ms;
    int width; /* of the last line drawn, to blank it */
} progress;

/* Redraws the progress line, at most every PROGRESS_EVERY_MS unless force.
 * Without --wait it counts acknowledgements; with --wait reports: replies
 * (FULFILLED, REJECTED or FAILED), timeouts, and orders not sent or with
 * an unreadable reply ("errors"), the rate and eta being those of reports. */
static void progress_draw(progress *pg, int force) {
    if (!pg->enabled) return;
    int64_t now = time_mono_ms();
    if (!force && now - pg->last_draw_ms < PROGRESS_EVERY_MS) return;
    pg->last_draw_ms = now;
    uint64_t sent, done, rated, counted[3] = {0, 0, 0};
    if (pg->req) {
        requester_stats st;
        requester_stats_get(pg->req, &st);
        sent = st.sent;
        counted[0] = st.results[REQUEST_REPLIED] + st.results[REQUEST_FAILED];
        counted[1] = st.results[REQUEST_TIMED_OUT];
        counted[2] = st.results[REQUEST_NOT_SENT] + st.results[REQUEST_BAD_REPLY];
        done = counted[0] + counted[1] + counted[2] + st.results[REQUEST_SHUTDOWN];
        rated = done;
    } else {
        publisher_stats st;
        publisher_get_stats(pg->pub, &st);
        sent = st.sent;
        counted[0] = st.acked;
        counted[1] = st.failed;
        done = st.acked + st.failed;
        rated = st.acked;
    }
    double secs = (double)(now - pg->start_ms) / 1000.0;
    double rate = secs > 0 ? (double)rated / secs : 0;
    char eta[32] = "?";
    uint64_t left = (uint64_t)pg->count > done ? (uint64_t)pg->count - done : 0;
    if (rate > 0) snprintf(eta, sizeof(eta), "%.1fs", (double)left / rate);
    char line[200];
    int w;
    if (pg->req)
        w = snprintf(line, sizeof(line),
                     "sent %llu/%ld  replied %llu  timed out %llu  errors %llu  %.0f/s  eta %s",
                     (unsigned long long)sent, pg->count, (unsigned long long)counted[0],
                     (unsigned long long)counted[1], (unsigned long long)counted[2], rate, eta);
    else
        w = snprintf(line, sizeof(line), "sent %llu/%ld  acked %llu  failed %llu  %.0f/s  eta %s",
                     (unsigned long long)sent, pg->count, (unsigned long long)counted[0],
                     (unsigned long long)counted[1], rate, eta);
    if (w < 0) return;
    if (w >= (int)sizeof(line)) w = (int)sizeof(line) - 1;
    fprintf(stderr, "\r%s%*s", line, pg->width > w ? pg->width - w : 0, "");
    fflush(stderr);
    pg->width = w;
}

static void progress_tick(void *opaque) { progress_draw(opaque, 0); }

static void progress_clear(progress *pg) {
    if (!pg->enabled || pg->width == 0) return;
    fprintf(stderr, "\r%*s\r", pg->width, "");
    fflush(stderr);
    pg->width = 0;
}

/* ---- the mode ---------------------------------------------------------- */

/* Takes a token from the pacer and returns 1; or, when none is there yet,
 * serves the publisher or the requester for up to one slice (so that the
 * run flag and the progress line get their turn) and returns 0: the caller
 * looks at the run flag and comes back. */
static int load_pace(const mode_ctx *ctx, pacer *pc, publisher *p, wait_session *ws,
                     progress *pg) {
    int64_t wait = pacer_wait_ms(pc, time_mono_ms());
    if (wait > 0) {
        int slice = wait < POLL_SLICE_MS ? (int)wait : POLL_SLICE_MS;
        if (ctx->wait) wait_poll(ws, slice);
        else publisher_poll(p, slice);
        progress_draw(pg, 0);
        return 0;
    }
    pacer_take(pc);
    return 1;
}

int mode_load(const mode_ctx *ctx, const load_opts *o) {
    char errstr[512];
    generator *g = NULL;
    publisher *p = NULL;
    ack_printer printer = {.json = ctx->json, .write_failed = 0};
    wait_session ws;
    int rc, interrupted = 0;
    uint64_t seed = o->seed;

    memset(&ws, 0, sizeof(ws));
    if (!o->has_seed) id_random_bytes(&seed, sizeof(seed));
    g = malloc(sizeof(*g));
    if (!g) {
        fprintf(stderr, PROG_NAME ": out of memory\n");
        return EXIT_SOFTWARE;
    }
    if (generator_init(g, o, seed, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, PROG_NAME ": %s\n", errstr);
        rc = EXIT_SOFTWARE;
        goto done;
    }
    if (o->soldout_share > 0 && g->n_soldout == 0)
        log_warn("no sold-out product in the catalog, --soldout-share ignored", NULL);

    if (ctx->wait) {
        if ((rc = wait_start(&ws, ctx, "load", LOAD_MAX_WAITING, 1)) != 0) goto done;
    } else {
        if (!(p = mode_publisher_new(ctx, o->ids ? publisher_ack_print : NULL, &printer))) {
            rc = EXIT_CONFIG;
            goto done;
        }
    }
    log_info("load starting", "count=%ld rate=%g customers=%ld invalid_share=%g "
             "soldout_share=%g seed=%llu topic=%s wait=%d deadline_ms=%lld",
             o->count, o->rate, o->customers, o->invalid_share, o->soldout_share,
             (unsigned long long)seed, ctx->cfg->topic_orders, ctx->wait,
             ctx->wait ? (long long)ctx->deadline_ms : 0LL);

    int64_t start = time_mono_ms();
    progress pg = {.enabled = ctx->progress, .pub = p, .req = ws.req, .count = o->count,
                   .start_ms = start, .last_draw_ms = start, .width = 0};
    pacer pc = {0};
    if (o->rate > 0) pacer_init(&pc, o->rate, start);

    long i = 0; /* orders generated and handed to the publisher or the requester */
    while (i < o->count) {
        if (!*ctx->run) {
            interrupted = 1;
            break;
        }
        /* Stop on a fatal error (every send would fail) or when stdout
         * cannot be written; what is in flight is still finished. */
        if (ctx->wait ? ws.write_failed : (publisher_fatal(p) || printer.write_failed)) break;
        if (o->rate > 0 && !load_pace(ctx, &pc, p, &ws, &pg)) continue;
        generator_next(g);
        if (ctx->wait) {
            if (wait_send(&ws, &g->order) == WAIT_STOPPED) {
                interrupted = !*ctx->run;
                break;
            }
            i++;
            wait_poll(&ws, 0);
        } else {
            if (publisher_send(p, &g->order) == PUBLISH_STOPPED) {
                interrupted = 1;
                break;
            }
            i++;
            publisher_poll(p, 0);
        }
        progress_draw(&pg, 0);
    }

    uint64_t broken = 0;
    for (int k = KIND_ZERO_QUANTITY; k <= KIND_NO_ITEMS; k++) broken += g->kinds[k];
    for (int k = KIND_ZERO_QUANTITY; k < KIND_COUNT; k++)
        log_debug("orders generated", "kind=%s count=%llu", kind_names[k],
                  (unsigned long long)g->kinds[k]);
    if (ctx->wait) {
        if (!interrupted) interrupted = wait_drain(&ws, progress_tick, &pg);
        progress_clear(&pg);
        log_info("load finished", "generated=%ld invalid=%llu soldout=%llu", i,
                 (unsigned long long)broken, (unsigned long long)g->kinds[KIND_SOLDOUT]);
        rc = wait_finish(&ws, interrupted, 0);
        if (o->latency_file && wait_write_latencies(&ws, o->latency_file) != 0 && rc == 0)
            rc = EXIT_IOERR;
        goto done;
    }

    publisher_finish(p, progress_tick, &pg);
    progress_clear(&pg);

    publisher_stats st;
    publisher_get_stats(p, &st);
    if (publisher_fatal(p))
        log_error("orders not sent after the fatal producer error", "not_sent=%ld",
                  o->count - i);
    int64_t elapsed = time_mono_ms() - start;
    log_info("load finished",
             "sent=%llu acked=%llu failed=%llu elapsed_ms=%lld rate=%.1f invalid=%llu "
             "soldout=%llu",
             (unsigned long long)st.sent, (unsigned long long)st.acked,
             (unsigned long long)st.failed, (long long)elapsed,
             elapsed > 0 ? (double)st.acked * 1000.0 / (double)elapsed : 0.0,
             (unsigned long long)broken,
             (unsigned long long)g->kinds[KIND_SOLDOUT]);
    rc = mode_exit_status(st.failed > 0 || publisher_fatal(p), printer.write_failed,
                          interrupted, 0, 0, 0);

done:
    wait_free(&ws);
    publisher_destroy(p);
    free(g);
    return rc;
}
