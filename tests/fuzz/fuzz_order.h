/* fuzz_order: the property both order targets check (fuzz_order_codec,
 * fuzz_order_json): an order's JSON, parsed and dumped again, is the same
 * text, so the JSON mapping loses and invents nothing. */
#ifndef ORDERFLEET_TESTS_FUZZ_ORDER_H
#define ORDERFLEET_TESTS_FUZZ_ORDER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/order_codec.h"
#include "common/order_json.h"
#include "fuzz.h"

/* Dumps a to JSON, parses that, dumps again: aborts (FUZZ_CHECK) unless the
 * parse succeeds and both dumps are the same. */
static inline void fuzz_json_round_trip(const order_placed_t *a) {
    char *json = orderjson_placed_dump(a);
    FUZZ_CHECK(json != NULL, "JSON dump failed");
    order_placed_t *c = NULL;
    char jerr[320];
    int rc = orderjson_parse_placed(json, strlen(json), &c, jerr, sizeof(jerr));
    if (rc != ORDERJSON_OK) fprintf(stderr, "dump: %s\n", json);
    FUZZ_CHECK(rc == ORDERJSON_OK, jerr);
    char *json2 = orderjson_placed_dump(c);
    FUZZ_CHECK(json2 != NULL, "second JSON dump failed");
    if (strcmp(json, json2) != 0) fprintf(stderr, "dump 1: %s\ndump 2: %s\n", json, json2);
    FUZZ_CHECK(strcmp(json, json2) == 0, "JSON dump -> parse -> dump changed the order");
    free(json2);
    codec_placed_free(c);
    free(json);
}

#endif
