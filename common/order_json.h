/* order_json: the protobuf JSON mapping of the contract's messages
 * (DESIGN.md §4): lowerCamelCase names (the proto names are accepted too, as
 * the mapping requires of parsers), 64-bit integers as strings or numbers on
 * input and strings on output, enums by name.
 *
 * Parsing is strict, because its input comes from people and their programs:
 * an unknown field, a wrong type or a value out of range is an error that
 * names the field path ("items[1].quantity") and says why. Business rules
 * (no items, unknown SKU, ...) are not checked here: those are the worker's
 * to answer with a REJECTED outcome. */
#ifndef ORDERFLEET_ORDER_JSON_H
#define ORDERFLEET_ORDER_JSON_H

#include <stddef.h>

#include "common/order_codec.h"

#define ORDERJSON_OK 0
#define ORDERJSON_ERR -1

/* Parses one JSON object (text[0..len), need not be NUL-terminated) into a new
 * OrderPlaced. Malformed JSON yields "line L, column C: <what>"; a schema
 * violation yields "<field path>: <what>". On success *out is the caller's, to
 * free with codec_placed_free(). */
int orderjson_parse_placed(const char *text, size_t len, order_placed_t **out, char *errstr,
                           size_t errsize);

/* Renders a message as compact JSON (one line). Returns a malloc'd string the
 * caller frees, or NULL when out of memory. */
char *orderjson_placed_dump(const order_placed_t *msg);
char *orderjson_completed_dump(const order_completed_t *msg);

#endif
