/* place: one order, from flags or from a JSON argument, published and
 * waited for; its id is printed once Kafka has acknowledged it, or with
 * --wait the line of its reply (or of its timeout) once that has come. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/catalog.h"
#include "common/logfmt.h"
#include "common/order_codec.h"
#include "common/order_json.h"
#include "producer/modes.h"
#include "common/publisher.h"

typedef Orderfleet__V1__OrderPlaced__AttributesEntry attr_entry_t;

/* An order built from flags. Strings point into argv or into buffers owned
 * here; place_order_free() releases what was allocated. */
typedef struct place_order {
    order_placed_t msg;
    line_item_t *items;
    line_item_t **item_ptrs;
    char **skus; /* the SKU part of each --item, copied */
    attr_entry_t *attrs;
    attr_entry_t **attr_ptrs;
    char **attr_keys; /* the KEY part of each --attr, copied */
    size_t n_items, n_attrs;
} place_order;

static void place_order_free(place_order *po) {
    for (size_t i = 0; po->skus && i < po->n_items; i++) free(po->skus[i]);
    for (size_t i = 0; po->attr_keys && i < po->n_attrs; i++) free(po->attr_keys[i]);
    free(po->skus);
    free(po->attr_keys);
    free(po->items);
    free(po->item_ptrs);
    free(po->attrs);
    free(po->attr_ptrs);
}

static int check_utf8(const char *what, const char *s) {
    if (codec_utf8_valid(s, strlen(s))) return 0;
    fprintf(stderr, PROG_NAME ": %s is not valid UTF-8\n", what);
    return -1;
}

/* Parses one --item "SKU:QTY[:UNIT_PRICE]" into item; the SKU is copied into
 * *sku (the caller frees it). Business rules (zero or negative numbers, an
 * unknown SKU with a price) are the worker's to judge; only what cannot be
 * turned into a line item is an error here. Returns 0 or -1 after printing
 * why. */
static int parse_item(const char *arg, line_item_t *item, char **sku) {
    const char *colon = strchr(arg, ':');
    if (!colon || colon == arg) {
        fprintf(stderr, PROG_NAME ": --item \"%s\": expected SKU:QTY[:UNIT_PRICE]\n", arg);
        return -1;
    }
    *sku = strndup(arg, (size_t)(colon - arg));
    if (!*sku) {
        fprintf(stderr, PROG_NAME ": out of memory\n");
        return -1;
    }
    char *end;
    errno = 0;
    long qty = strtol(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || (*end != '\0' && *end != ':') || qty < INT32_MIN ||
        qty > INT32_MAX) {
        fprintf(stderr, PROG_NAME ": --item \"%s\": the quantity is not a 32-bit whole number\n",
                arg);
        return -1;
    }
    int64_t price;
    if (*end == ':') {
        const char *p = end + 1;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (errno != 0 || end == p || *end != '\0') {
            fprintf(stderr,
                    PROG_NAME ": --item \"%s\": the unit price is not a whole number of minor "
                              "units\n",
                    arg);
            return -1;
        }
        price = (int64_t)v;
    } else {
        const catalog_item *ci = catalog_find_item(*sku);
        if (!ci) {
            fprintf(stderr,
                    PROG_NAME ": --item \"%s\": %s is not in the catalog, so give its price: "
                              "SKU:QTY:UNIT_PRICE\n",
                    arg, *sku);
            return -1;
        }
        price = ci->price;
    }
    orderfleet__v1__line_item__init(item);
    item->sku = *sku;
    item->quantity = (int32_t)qty;
    item->unit_price = price;
    return 0;
}

/* Builds the order from the flags. Returns 0, or EXIT_USAGE after printing
 * why; po is to be freed with place_order_free() either way. */
static int build_order(const place_opts *o, place_order *po) {
    size_t ni = o->n_items, na = o->n_attrs;
    po->items = calloc(ni ? ni : 1, sizeof(*po->items));
    po->item_ptrs = calloc(ni ? ni : 1, sizeof(*po->item_ptrs));
    po->skus = calloc(ni ? ni : 1, sizeof(*po->skus));
    po->attrs = calloc(na ? na : 1, sizeof(*po->attrs));
    po->attr_ptrs = calloc(na ? na : 1, sizeof(*po->attr_ptrs));
    po->attr_keys = calloc(na ? na : 1, sizeof(*po->attr_keys));
    if (!po->items || !po->item_ptrs || !po->skus || !po->attrs || !po->attr_ptrs ||
        !po->attr_keys) {
        fprintf(stderr, PROG_NAME ": out of memory\n");
        return EXIT_SOFTWARE;
    }

    orderfleet__v1__order_placed__init(&po->msg);
    const char *currency = o->currency ? o->currency : "EUR";
    if (check_utf8("--customer", o->customer) || check_utf8("--currency", currency) ||
        (o->order_id && check_utf8("--order-id", o->order_id)))
        return EXIT_USAGE;
    po->msg.customer_id = (char *)o->customer;
    po->msg.currency = (char *)currency;
    if (o->order_id) po->msg.order_id = (char *)o->order_id;

    for (size_t i = 0; i < ni; i++) {
        if (check_utf8("--item", o->items[i])) return EXIT_USAGE;
        po->n_items = i + 1; /* skus[i] is now ours to free */
        if (parse_item(o->items[i], &po->items[i], &po->skus[i]) != 0) return EXIT_USAGE;
        po->item_ptrs[i] = &po->items[i];
    }
    for (size_t i = 0; i < na; i++) {
        const char *arg = o->attrs[i];
        const char *eq = strchr(arg, '=');
        if (check_utf8("--attr", arg)) return EXIT_USAGE;
        if (!eq || eq == arg) {
            fprintf(stderr, PROG_NAME ": --attr \"%s\": expected KEY=VALUE\n", arg);
            return EXIT_USAGE;
        }
        po->n_attrs = i + 1;
        po->attr_keys[i] = strndup(arg, (size_t)(eq - arg));
        if (!po->attr_keys[i]) {
            fprintf(stderr, PROG_NAME ": out of memory\n");
            return EXIT_SOFTWARE;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(po->attr_keys[j], po->attr_keys[i]) == 0) {
                fprintf(stderr, PROG_NAME ": --attr %s is given twice\n", po->attr_keys[i]);
                return EXIT_USAGE;
            }
        orderfleet__v1__order_placed__attributes_entry__init(&po->attrs[i]);
        po->attrs[i].key = po->attr_keys[i];
        po->attrs[i].value = (char *)(eq + 1);
        po->attr_ptrs[i] = &po->attrs[i];
    }
    po->msg.n_items = ni;
    po->msg.items = ni ? po->item_ptrs : NULL;
    po->msg.n_attributes = na;
    po->msg.attributes = na ? po->attr_ptrs : NULL;
    return 0;
}

/* --wait: sends the order through a requester and waits for its one line.
 * A signal ends the wait at once: the order's line then says SHUTDOWN (or
 * NOT_SENT), and the exit status is 130. */
static int place_wait(const mode_ctx *ctx, const order_placed_t *order) {
    wait_session ws;
    int rc = wait_start(&ws, ctx, "place", 1, 0);
    if (rc == 0) {
        int interrupted = wait_send(&ws, order) == WAIT_STOPPED ? !*ctx->run
                                                                : wait_drain(&ws, NULL, NULL);
        rc = wait_finish(&ws, interrupted, 0);
    }
    wait_free(&ws);
    return rc;
}

int mode_place(const mode_ctx *ctx, const place_opts *o) {
    char errstr[512];
    place_order po;
    order_placed_t *parsed = NULL;
    const order_placed_t *order;
    publisher *p = NULL;
    ack_printer printer = {.json = ctx->json, .write_failed = 0};
    int rc;

    memset(&po, 0, sizeof(po));
    if (o->json) {
        if (orderjson_parse_placed(o->json, strlen(o->json), &parsed, errstr, sizeof(errstr)) !=
            ORDERJSON_OK) {
            fprintf(stderr, PROG_NAME ": invalid order: %s\n", errstr);
            rc = EXIT_DATAERR;
            goto done;
        }
        order = parsed;
    } else {
        if ((rc = build_order(o, &po)) != 0) goto done;
        order = &po.msg;
    }
    const char *bad_id = mode_order_id_problem(order->order_id);
    if (bad_id) {
        fprintf(stderr, PROG_NAME ": %s%s\n", o->json ? "invalid order: " : "--order-id: ",
                bad_id);
        rc = o->json ? EXIT_DATAERR : EXIT_USAGE;
        goto done;
    }
    if (ctx->wait) {
        rc = place_wait(ctx, order);
        goto done;
    }

    if (!(p = mode_publisher_new(ctx, publisher_ack_print, &printer))) {
        rc = EXIT_CONFIG;
        goto done;
    }
    int sent = publisher_send(p, order);
    publisher_finish(p, NULL, NULL);

    publisher_stats st;
    publisher_get_stats(p, &st);
    rc = mode_exit_status(st.failed > 0 || publisher_fatal(p), printer.write_failed,
                          sent == PUBLISH_STOPPED, 0, 0, 0);

done:
    publisher_destroy(p);
    codec_placed_free(parsed);
    place_order_free(&po);
    return rc;
}
