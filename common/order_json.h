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

/* Every violation of one document, for answers that name each bad field (the
 * gateway's problem details). All strings are UTF-8, cut to whole characters
 * when too long for their array. */
#define ORDERJSON_MAX_VIOLATIONS 16
typedef struct orderjson_violation {
    char field[128];  /* path of the field: "items[1].quantity", "currency";
                       * "" for the document itself */
    char reason[192]; /* what is wrong, e.g. "expected a string, got 42" */
} orderjson_violation;
typedef struct orderjson_errors {
    int malformed;     /* 1: not JSON at all (syntax); line/column then set, count is 1 */
    int line, column;  /* of a syntax error (jansson's), else 0 */
    size_t count;      /* violations stored in v */
    size_t total;      /* violations found (may exceed ORDERJSON_MAX_VIOLATIONS) */
    orderjson_violation v[ORDERJSON_MAX_VIOLATIONS];
    char first[320];   /* the first violation as one message, exactly what
                        * orderjson_parse_placed() puts in an errstr of this size */
    int out_of_memory; /* 1: the check stopped for lack of memory; then the last of v is
                        * (field "", reason "out of memory"). A server error, not the
                        * document's fault. */
} orderjson_errors;

/* Like orderjson_parse_placed(), but a document with schema violations is
 * checked to its end and every violation is reported in errs, in document
 * order (an object's members in the order of the text, each field's own
 * violations where the field is). After a violation inside a field the check
 * goes on with the next field, array element or map entry; a field of the
 * wrong type is one violation and what it holds is not examined. Malformed
 * JSON and a document that is not an object are one violation on the
 * document (field ""); so is running out of memory, which stops the check.
 * Returns ORDERJSON_OK with *out set (the caller's, to free with
 * codec_placed_free()) or ORDERJSON_ERR with errs filled and *out NULL. errs
 * must not be NULL; it is cleared first. v[i].reason of a malformed document
 * is the whole message ("line L, column C: <what>"), as is first; otherwise
 * first is "<field>: <reason>" (the reason alone for field ""), cut to 319
 * bytes. Costs as orderjson_parse_placed() plus one short message per
 * violation. */
int orderjson_parse_placed_all(const char *text, size_t len, order_placed_t **out,
                               orderjson_errors *errs);

/* Renders a message as compact JSON (one line). Returns a malloc'd string the
 * caller frees, or NULL when out of memory. */
char *orderjson_placed_dump(const order_placed_t *msg);
char *orderjson_completed_dump(const order_completed_t *msg);

#endif
