/* catalog: the products and currencies the built-in fulfillment handler
 * knows, shared with the load generator so that generated orders are
 * realistic (and a known share of them is not). Read-only static data. */
#ifndef ORDERFLEET_CATALOG_H
#define ORDERFLEET_CATALOG_H

#include <stddef.h>
#include <stdint.h>

typedef struct catalog_item {
    const char *sku;
    const char *name;
    int64_t price;  /* list price in minor units */
    int in_stock;   /* 0: sold out, orders for it are rejected */
} catalog_item;

typedef struct catalog_currency {
    const char *code;            /* ISO 4217 */
    int tax_bps;                 /* tax rate in basis points (1/100 of a percent) */
    int64_t shipping;            /* flat shipping fee, minor units */
    int64_t free_shipping_from;  /* subtotal from which shipping is free */
} catalog_currency;

/* Lookups by exact code; NULL when unknown. */
const catalog_item *catalog_find_item(const char *sku);
const catalog_currency *catalog_find_currency(const char *code);

/* The whole tables, for generators and listings. */
const catalog_item *catalog_items(size_t *count);
const catalog_currency *catalog_currencies(size_t *count);

#endif
