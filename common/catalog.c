#include "common/catalog.h"

#include <string.h>

/* A burger counter's menu. Prices are list prices in minor units; the order's
 * own unit_price is what the customer is charged (the storefront's price). */
static const catalog_item items[] = {
    {"BURGER-CLASSIC", "Classic burger", 899, 1},
    {"BURGER-CHEESE", "Cheeseburger", 999, 1},
    {"BURGER-DOUBLE", "Double burger", 1299, 1},
    {"BURGER-VEGGIE", "Veggie burger", 949, 1},
    {"FRIES-SMALL", "Fries, small", 299, 1},
    {"FRIES-LARGE", "Fries, large", 449, 1},
    {"NUGGETS-6", "Nuggets, 6 pieces", 599, 1},
    {"NUGGETS-9", "Nuggets, 9 pieces", 799, 1},
    {"SALAD-GARDEN", "Garden salad", 699, 1},
    {"COLA-SMALL", "Cola, small", 249, 1},
    {"COLA-LARGE", "Cola, large", 349, 1},
    {"SHAKE-VANILLA", "Vanilla shake", 499, 1},
    {"SHAKE-PISTACHIO", "Pistachio shake", 549, 0}, /* sold out */
    {"PIE-APPLE", "Apple pie", 299, 0},             /* sold out */
};

static const catalog_currency currencies[] = {
    {"EUR", 1900, 299, 2500},
    {"USD", 825, 349, 3000},
    {"GBP", 2000, 299, 2500},
    {"CHF", 810, 390, 3000},
    {"SEK", 2500, 4900, 30000},
    {"JPY", 1000, 500, 3000},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const catalog_item *catalog_find_item(const char *sku) {
    for (size_t i = 0; i < COUNT(items); i++)
        if (strcmp(items[i].sku, sku) == 0) return &items[i];
    return NULL;
}

const catalog_currency *catalog_find_currency(const char *code) {
    for (size_t i = 0; i < COUNT(currencies); i++)
        if (strcmp(currencies[i].code, code) == 0) return &currencies[i];
    return NULL;
}

const catalog_item *catalog_items(size_t *count) {
    *count = COUNT(items);
    return items;
}

const catalog_currency *catalog_currencies(size_t *count) {
    *count = COUNT(currencies);
    return currencies;
}
