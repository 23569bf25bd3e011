/* Unit tests for common/order_json: the protobuf JSON mapping of OrderPlaced
 * (strict parsing with precise errors, the first or all of them; printing)
 * and OrderCompleted (printing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/order_json.h"

typedef Orderfleet__V1__OrderPlaced__AttributesEntry attr_entry_t;

#define DESIGN_EXAMPLE                                                                        \
    "{\"customerId\":\"c-42\",\"currency\":\"EUR\",\"items\":[{\"sku\":\"BURGER-CLASSIC\","   \
    "\"quantity\":2,\"unitPrice\":\"899\"}]}"

/* ------------------------------------------------------------ helpers */

/* Parses a NUL-terminated document that must be accepted. */
static order_placed_t *parse_ok(const char *text) {
    char err[256] = "";
    order_placed_t *m = (order_placed_t *)(uintptr_t)1; /* must be overwritten */
    int rc = orderjson_parse_placed(text, strlen(text), &m, err, sizeof(err));
    if (rc != ORDERJSON_OK) fail_msg("rejected %s: %s", text, err);
    assert_non_null(m);
    return m;
}

/* Parses a document that must be rejected with exactly the error want. */
static void assert_parse_error(const char *text, const char *want) {
    char err[256] = "";
    order_placed_t *m = (order_placed_t *)(uintptr_t)1;
    int rc = orderjson_parse_placed(text, strlen(text), &m, err, sizeof(err));
    if (rc == ORDERJSON_OK) {
        codec_placed_free(m);
        fail_msg("accepted %s, wanted error \"%s\"", text, want);
    }
    assert_int_equal(rc, ORDERJSON_ERR);
    assert_null(m);
    assert_string_equal(err, want);
}

/* Same, for errors whose tail is jansson's wording: checks the prefix (the
 * part we compute, "line 3, column 7: ") and a fragment of the rest. */
static void assert_parse_error_like(const char *text, const char *prefix, const char *fragment) {
    char err[256] = "";
    order_placed_t *m = NULL;
    int rc = orderjson_parse_placed(text, strlen(text), &m, err, sizeof(err));
    if (rc == ORDERJSON_OK) {
        codec_placed_free(m);
        fail_msg("accepted %s", text);
    }
    assert_null(m);
    if (strncmp(err, prefix, strlen(prefix)) != 0 || strstr(err, fragment) == NULL)
        fail_msg("error \"%s\" does not start with \"%s\" and contain \"%s\"", err, prefix,
                 fragment);
}

/* Two messages are equal when they encode to the same bytes (field by field
 * in order, so this also compares item and attribute order). */
static void assert_placed_same(const order_placed_t *a, const order_placed_t *b) {
    size_t la = 0, lb = 0;
    void *ba = codec_placed_encode(a, &la);
    void *bb = codec_placed_encode(b, &lb);
    assert_non_null(ba);
    assert_non_null(bb);
    assert_int_equal(la, lb);
    assert_memory_equal(ba, bb, la);
    free(ba);
    free(bb);
}

/* ------------------------------------------------------------ parsing */

static void test_parse_design_example(void **state) {
    (void)state;
    order_placed_t *m = parse_ok(DESIGN_EXAMPLE);
    assert_string_equal(m->order_id, ""); /* absent: the producer assigns one */
    assert_string_equal(m->customer_id, "c-42");
    assert_string_equal(m->currency, "EUR");
    assert_int_equal(m->n_items, 1);
    assert_string_equal(m->items[0]->sku, "BURGER-CLASSIC");
    assert_int_equal(m->items[0]->quantity, 2);
    assert_true(m->items[0]->unit_price == 899);
    assert_true(m->placed_at_ms == 0);
    assert_int_equal(m->n_attributes, 0);
    codec_placed_free(m);
}

static void test_parse_all_fields(void **state) {
    (void)state;
    order_placed_t *m = parse_ok(
        "{\"orderId\":\"o-1\",\"customerId\":\"c-\xc3\xa9\",\"items\":["
        "{\"sku\":\"A\",\"quantity\":1,\"unitPrice\":-5},"
        "{\"sku\":\"B\",\"quantity\":-3,\"unitPrice\":\"9223372036854775807\"}],"
        "\"currency\":\"JPY\",\"placedAtMs\":1732920757123,"
        "\"attributes\":{\"channel\":\"web\",\"note\":\"\\u00e9\\ud83c\\udf54\"}}");
    assert_string_equal(m->order_id, "o-1");
    assert_string_equal(m->customer_id, "c-\xc3\xa9");
    assert_int_equal(m->n_items, 2);
    assert_true(m->items[0]->unit_price == -5);
    assert_int_equal(m->items[1]->quantity, -3); /* a business rule, not a schema error */
    assert_true(m->items[1]->unit_price == INT64_MAX);
    assert_string_equal(m->currency, "JPY");
    assert_true(m->placed_at_ms == 1732920757123);
    assert_int_equal(m->n_attributes, 2);
    assert_string_equal(m->attributes[0]->key, "channel"); /* document order kept */
    assert_string_equal(m->attributes[0]->value, "web");
    assert_string_equal(m->attributes[1]->key, "note");
    assert_string_equal(m->attributes[1]->value, "\xc3\xa9\xf0\x9f\x8d\x94");
    codec_placed_free(m);
}

/* The mapping requires parsers to accept the proto field names too; both
 * spellings give the same message, and they can be mixed. */
static void test_parse_proto_names(void **state) {
    (void)state;
    order_placed_t *camel = parse_ok(
        "{\"orderId\":\"o-1\",\"customerId\":\"c-1\",\"items\":[{\"sku\":\"A\",\"quantity\":2,"
        "\"unitPrice\":\"150\"}],\"currency\":\"EUR\",\"placedAtMs\":\"42\","
        "\"attributes\":{\"k\":\"v\"}}");
    order_placed_t *proto = parse_ok(
        "{\"order_id\":\"o-1\",\"customer_id\":\"c-1\",\"items\":[{\"sku\":\"A\",\"quantity\":2,"
        "\"unit_price\":150}],\"currency\":\"EUR\",\"placed_at_ms\":42,"
        "\"attributes\":{\"k\":\"v\"}}");
    order_placed_t *mixed = parse_ok(
        "{\"order_id\":\"o-1\",\"customerId\":\"c-1\",\"items\":[{\"sku\":\"A\",\"quantity\":2,"
        "\"unit_price\":\"150\"}],\"currency\":\"EUR\",\"placedAtMs\":42,"
        "\"attributes\":{\"k\":\"v\"}}");
    assert_string_equal(proto->order_id, "o-1");
    assert_true(proto->items[0]->unit_price == 150);
    assert_true(proto->placed_at_ms == 42);
    assert_placed_same(camel, proto);
    assert_placed_same(camel, mixed);
    codec_placed_free(camel);
    codec_placed_free(proto);
    codec_placed_free(mixed);

    /* But not the same field under both names. */
    assert_parse_error("{\"order_id\":\"a\",\"orderId\":\"b\"}",
                       "orderId: field given twice, as \"order_id\" and \"orderId\"");
    assert_parse_error("{\"items\":[{\"unitPrice\":1,\"unit_price\":1}]}",
                       "items[0].unitPrice: field given twice, as \"unitPrice\" and "
                       "\"unit_price\"");
}

/* len bounds the document: the text need not be NUL-terminated. */
static void test_parse_uses_len(void **state) {
    (void)state;
    const char text[] = "{\"orderId\":\"o-9\"}this is not JSON";
    char err[256] = "";
    order_placed_t *m = NULL;
    assert_int_equal(orderjson_parse_placed(text, 17, &m, err, sizeof(err)), ORDERJSON_OK);
    assert_string_equal(m->order_id, "o-9");
    codec_placed_free(m);

    assert_int_equal(orderjson_parse_placed(text, 10, &m, err, sizeof(err)), ORDERJSON_ERR);
    assert_null(m);
}

static void test_malformed_json_line_column(void **state) {
    (void)state;
    /* Missing ':' on line 3: the offending token '2' is in column 7. */
    assert_parse_error_like("{\n  \"customerId\": \"c-42\",\n  \"b\" 2\n}", "line 3, column 7: ",
                            "expected");
    /* Trailing comma before '}' on line 4, column 1. */
    assert_parse_error_like("{\n  \"currency\": \"EUR\",\n  \"customerId\": \"c\",\n}",
                            "line 4, column 1: ", "near '}'");
    /* Bad literal in the middle of line 2. */
    assert_parse_error_like("{\"items\": [\n  {\"sku\": tru}\n]}", "line 2, column 13: ",
                            "invalid token");
    /* Unterminated document. */
    assert_parse_error_like("{\n\"currency\": \"EUR\"", "line 2, column 17: ", "end of file");
    /* Trailing garbage after the object. */
    assert_parse_error_like("{\"orderId\":\"o\"} x", "line 1, column 17: ", "end of file expected");
    /* Empty input. */
    assert_parse_error_like("", "line 1, column 0: ", "end of file");
    /* NUL escapes cannot go into a C string: refused, in our words. */
    assert_parse_error("{\"sku\":\"a\\u0000b\"}",
                       "line 1, column 17: \\u0000 is not allowed in a string");
    /* Nesting is bounded while parsing, before the schema walk. */
    char deep[6000];
    memset(deep, '[', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = '\0';
    assert_parse_error_like(deep, "line 1, column ", "maximum parsing depth");
}

static void test_duplicate_key(void **state) {
    (void)state;
    assert_parse_error_like("{\n  \"orderId\": \"x\",\n  \"orderId\": \"y\"\n}",
                            "line 3, column 11: ", "duplicate object key");
    assert_parse_error_like("{\"items\":[{\"sku\":\"A\",\"sku\":\"B\"}]}", "line 1, column 26: ",
                            "duplicate object key");
    assert_parse_error_like("{\"attributes\":{\"k\":\"1\",\"k\":\"2\"}}", "line 1, column 26: ",
                            "duplicate object key");
}

static void test_unknown_field(void **state) {
    (void)state;
    assert_parse_error("{\"colour\":\"red\"}", "colour: unknown field");
    assert_parse_error("{\"orderID\":\"o-1\"}", "orderID: unknown field"); /* case matters */
    assert_parse_error(
        "{\"items\":[{\"sku\":\"A\",\"quantity\":1},{\"sku\":\"B\",\"colour\":\"red\"}]}",
        "items[1].colour: unknown field");
    /* An unknown field is an error even when null. */
    assert_parse_error("{\"items\":[{\"price\":null}]}", "items[0].price: unknown field");
}

static void test_wrong_types(void **state) {
    (void)state;
    assert_parse_error("{\"customerId\":42}", "customerId: expected a string, got 42");
    assert_parse_error("{\"currency\":[\"EUR\"]}", "currency: expected a string, got array");
    assert_parse_error("{\"order_id\":true}", "order_id: expected a string, got true");
    assert_parse_error("{\"items\":{\"sku\":\"A\"}}", "items: expected an array, got object");
    assert_parse_error("{\"items\":[\"A\"]}", "items[0]: expected an object, got \"A\"");
    assert_parse_error("{\"items\":[{\"sku\":\"A\"},[]]}",
                       "items[1]: expected an object, got array");
    assert_parse_error("{\"items\":[{\"sku\":7}]}", "items[0].sku: expected a string, got 7");
    assert_parse_error("{\"items\":[{\"quantity\":\"two\"}]}",
                       "items[0].quantity: expected an integer (number or decimal string), got "
                       "\"two\"");
    assert_parse_error("{\"items\":[{\"quantity\":{}}]}",
                       "items[0].quantity: expected an integer (number or decimal string), got "
                       "object");
    assert_parse_error("{\"attributes\":[]}", "attributes: expected an object, got array");
    assert_parse_error("{\"attributes\":{\"gift\":true}}",
                       "attributes[\"gift\"]: expected a string, got true");
    assert_parse_error("{\"attributes\":{\"a\":\"1\",\"n\":2}}",
                       "attributes[\"n\"]: expected a string, got 2");
    assert_parse_error("{\"placedAtMs\":false}",
                       "placedAtMs: expected an integer (number or decimal string), got false");
}

static void test_int64_fields(void **state) {
    (void)state;
    static const struct {
        const char *json;
        int64_t want;
    } ok[] = {
        {"{\"items\":[{\"unitPrice\":\"9223372036854775807\"}]}", INT64_MAX},
        {"{\"items\":[{\"unitPrice\":\"-9223372036854775808\"}]}", INT64_MIN},
        {"{\"items\":[{\"unitPrice\":9223372036854775807}]}", INT64_MAX},
        {"{\"items\":[{\"unitPrice\":-9223372036854775808}]}", INT64_MIN},
        {"{\"items\":[{\"unitPrice\":\"-42\"}]}", -42},
        {"{\"items\":[{\"unitPrice\":\"007\"}]}", 7},
        {"{\"items\":[{\"unitPrice\":\"-0\"}]}", 0},
        {"{\"items\":[{\"unitPrice\":899.0}]}", 899},
        {"{\"items\":[{\"unitPrice\":1e3}]}", 1000},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        order_placed_t *m = parse_ok(ok[i].json);
        if (m->items[0]->unit_price != ok[i].want) fail_msg("case %zu: wrong value", i);
        codec_placed_free(m);
    }

    assert_parse_error("{\"items\":[{},{\"unitPrice\":\"12.5\"}]}",
                       "items[1].unitPrice: expected an integer (number or decimal string), got "
                       "\"12.5\"");
    assert_parse_error("{\"items\":[{\"unitPrice\":12.5}]}",
                       "items[0].unitPrice: expected an integer (number or decimal string), got "
                       "12.5");
    assert_parse_error("{\"items\":[{\"unitPrice\":\"9223372036854775808\"}]}",
                       "items[0].unitPrice: out of range for int64, got \"9223372036854775808\"");
    assert_parse_error("{\"items\":[{\"unitPrice\":\"-9223372036854775809\"}]}",
                       "items[0].unitPrice: out of range for int64, got \"-9223372036854775809\"");
    assert_parse_error("{\"placedAtMs\":1e19}", "placedAtMs: out of range for int64, got 1e19");
    assert_parse_error("{\"placedAtMs\":-1e19}", "placedAtMs: out of range for int64, got -1e19");
    /* A number beyond 64 bits is refused by the JSON reader itself. */
    assert_parse_error_like("{\"placedAtMs\":99999999999999999999}", "line 1, column 34: ",
                            "too big integer");
    /* Only plain decimal in strings. */
    static const char *const bad_strings[] = {"", "-", "+5", " 5", "5 ", "0x10", "1e3", "5-"};
    for (size_t i = 0; i < sizeof(bad_strings) / sizeof(bad_strings[0]); i++) {
        char json[64], want[160];
        snprintf(json, sizeof(json), "{\"placed_at_ms\":\"%s\"}", bad_strings[i]);
        snprintf(want, sizeof(want),
                 "placed_at_ms: expected an integer (number or decimal string), got \"%s\"",
                 bad_strings[i]);
        assert_parse_error(json, want);
    }
}

static void test_int32_field(void **state) {
    (void)state;
    order_placed_t *m = parse_ok(
        "{\"items\":[{\"quantity\":2147483647},{\"quantity\":-2147483648},{\"quantity\":\"12\"},"
        "{\"quantity\":2.0},{\"quantity\":0}]}");
    assert_int_equal(m->items[0]->quantity, INT32_MAX);
    assert_int_equal(m->items[1]->quantity, INT32_MIN);
    assert_int_equal(m->items[2]->quantity, 12);
    assert_int_equal(m->items[3]->quantity, 2);
    assert_int_equal(m->items[4]->quantity, 0);
    codec_placed_free(m);

    assert_parse_error("{\"items\":[{\"quantity\":2147483648}]}",
                       "items[0].quantity: out of range for int32, got 2147483648");
    assert_parse_error("{\"items\":[{\"quantity\":-2147483649}]}",
                       "items[0].quantity: out of range for int32, got -2147483649");
    assert_parse_error("{\"items\":[{\"quantity\":\"3000000000\"}]}",
                       "items[0].quantity: out of range for int32, got \"3000000000\"");
    assert_parse_error("{\"items\":[{\"quantity\":\"99999999999999999999\"}]}",
                       "items[0].quantity: out of range for int32, got \"99999999999999999999\"");
    assert_parse_error("{\"items\":[{\"quantity\":2.5}]}",
                       "items[0].quantity: expected an integer (number or decimal string), got "
                       "2.5");
}

/* null means "default" for every field (protobuf JSON mapping), but is not an
 * item nor an attribute value. */
static void test_null_handling(void **state) {
    (void)state;
    order_placed_t *m = parse_ok(
        "{\"orderId\":null,\"customerId\":null,\"items\":null,\"currency\":null,"
        "\"placedAtMs\":null,\"attributes\":null}");
    assert_string_equal(m->order_id, "");
    assert_string_equal(m->customer_id, "");
    assert_int_equal(m->n_items, 0);
    assert_null(m->items);
    assert_string_equal(m->currency, "");
    assert_true(m->placed_at_ms == 0);
    assert_int_equal(m->n_attributes, 0);
    codec_placed_free(m);

    m = parse_ok("{\"items\":[{\"sku\":null,\"quantity\":null,\"unitPrice\":null}]}");
    assert_int_equal(m->n_items, 1);
    assert_string_equal(m->items[0]->sku, "");
    assert_int_equal(m->items[0]->quantity, 0);
    assert_true(m->items[0]->unit_price == 0);
    codec_placed_free(m);

    assert_parse_error("{\"items\":[null]}", "items[0]: expected an object, got null");
    assert_parse_error("{\"attributes\":{\"a\":null}}",
                       "attributes[\"a\"]: expected a string, got null");
    assert_parse_error("null", "expected a JSON object, got null");
}

static void test_non_object_top_level(void **state) {
    (void)state;
    assert_parse_error("[" DESIGN_EXAMPLE "]", "expected a JSON object, got array");
    assert_parse_error("\"order\"", "expected a JSON object, got \"order\"");
    assert_parse_error("42", "expected a JSON object, got 42");
    assert_parse_error(" true ", "expected a JSON object, got true");
}

/* Errors late in a document, after strings, items and attributes have been
 * allocated: the half-built message must be freed (the sanitizer run checks
 * there is no leak) and *out stays NULL. */
static void test_errors_after_allocation(void **state) {
    (void)state;
    assert_parse_error(
        "{\"orderId\":\"o\",\"customerId\":\"c\",\"attributes\":{\"a\":\"1\",\"b\":\"2\"},"
        "\"items\":[{\"sku\":\"A\",\"quantity\":1},{\"sku\":\"B\",\"quantity\":1.5}]}",
        "items[1].quantity: expected an integer (number or decimal string), got 1.5");
    assert_parse_error(
        "{\"items\":[{\"sku\":\"A\"}],\"attributes\":{\"a\":\"1\",\"b\":[]}}",
        "attributes[\"b\"]: expected a string, got array");
    assert_parse_error("{\"currency\":\"EUR\",\"items\":[{\"sku\":\"A\"}],\"x\":1}",
                       "x: unknown field");
}

/* A long unknown key fills the error buffer; the message is cut, never
 * overrun, and never in the middle of a UTF-8 character. */
static void test_error_truncation(void **state) {
    (void)state;
    char json[400];
    size_t o = 0;
    o += (size_t)snprintf(json + o, sizeof(json) - o, "{\"");
    for (int i = 0; i < 100; i++) o += (size_t)snprintf(json + o, sizeof(json) - o, "\xc3\xa9");
    snprintf(json + o, sizeof(json) - o, "\":1}");

    char err[16];
    memset(err, 'Z', sizeof(err));
    order_placed_t *m = NULL;
    assert_int_equal(orderjson_parse_placed(json, strlen(json), &m, err, 15), ORDERJSON_ERR);
    assert_int_equal(err[15], 'Z');
    assert_true(strlen(err) <= 14);
    assert_true(codec_utf8_valid(err, strlen(err)));
    assert_string_equal(err, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
}

/* ------------------------------------------------------------ all violations */

/* Runs orderjson_parse_placed_all on a NUL-terminated document that must be
 * rejected, checks the invariants every rejection keeps (*out NULL, count and
 * total consistent, every string UTF-8) and that first is exactly what
 * orderjson_parse_placed() writes into a buffer of the same size. */
static void parse_all_rejected(const char *text, orderjson_errors *e) {
    order_placed_t *m = (order_placed_t *)(uintptr_t)1; /* must be overwritten */
    memset(e, 0x5a, sizeof(*e));                         /* must be cleared */
    int rc = orderjson_parse_placed_all(text, strlen(text), &m, e);
    if (rc == ORDERJSON_OK) {
        codec_placed_free(m);
        fail_msg("accepted %s", text);
    }
    assert_int_equal(rc, ORDERJSON_ERR);
    assert_null(m);
    assert_true(e->count >= 1);
    assert_true(e->count <= ORDERJSON_MAX_VIOLATIONS);
    assert_true(e->total >= e->count);
    if (e->total <= ORDERJSON_MAX_VIOLATIONS) assert_int_equal(e->count, e->total);
    for (size_t i = 0; i < e->count; i++) {
        assert_true(codec_utf8_valid(e->v[i].field, strlen(e->v[i].field)));
        assert_true(codec_utf8_valid(e->v[i].reason, strlen(e->v[i].reason)));
    }
    assert_true(codec_utf8_valid(e->first, strlen(e->first)));

    char err[sizeof(e->first)];
    memset(err, 0, sizeof(err));
    order_placed_t *m1 = NULL;
    assert_int_equal(orderjson_parse_placed(text, strlen(text), &m1, err, sizeof(err)),
                     ORDERJSON_ERR);
    assert_null(m1);
    assert_string_equal(e->first, err);
}

static void assert_violation(const orderjson_errors *e, size_t i, const char *field,
                             const char *reason) {
    if (i >= e->count) fail_msg("violation %zu wanted, only %zu stored", i, e->count);
    if (strcmp(e->v[i].field, field) != 0 || strcmp(e->v[i].reason, reason) != 0)
        fail_msg("violation %zu is {\"%s\", \"%s\"}, wanted {\"%s\", \"%s\"}", i, e->v[i].field,
                 e->v[i].reason, field, reason);
}

/* Violations all over one document: each is reported, with its path, in the
 * order of the text; the check goes on after each (next field, next element,
 * next entry). */
static void test_all_collects_violations(void **state) {
    (void)state;
    static const char doc[] =
        "{\"colour\":\"red\",\"customerId\":\"c-1\","
        "\"items\":[{\"sku\":\"A\",\"quantity\":\"two\"},"
        "{\"sku\":\"B\",\"unitPrice\":\"9223372036854775808\"},7,"
        "{\"sku\":\"C\",\"price\":1,\"quantity\":1.5,\"unit_price\":3}],"
        "\"order_id\":\"o\",\"orderId\":\"p\","
        "\"attributes\":{\"ok\":\"1\",\"gift\":true,\"n\":\"2\",\"m\":[]},\"currency\":5}";
    orderjson_errors e;
    parse_all_rejected(doc, &e);
    assert_int_equal(e.malformed, 0);
    assert_int_equal(e.line, 0);
    assert_int_equal(e.column, 0);
    assert_int_equal(e.out_of_memory, 0);
    assert_int_equal(e.total, 10);
    assert_int_equal(e.count, 10);
    assert_violation(&e, 0, "colour", "unknown field");
    assert_violation(&e, 1, "items[0].quantity",
                     "expected an integer (number or decimal string), got \"two\"");
    assert_violation(&e, 2, "items[1].unitPrice",
                     "out of range for int64, got \"9223372036854775808\"");
    assert_violation(&e, 3, "items[2]", "expected an object, got 7");
    assert_violation(&e, 4, "items[3].price", "unknown field");
    assert_violation(&e, 5, "items[3].quantity",
                     "expected an integer (number or decimal string), got 1.5");
    assert_violation(&e, 6, "orderId", "field given twice, as \"order_id\" and \"orderId\"");
    assert_violation(&e, 7, "attributes[\"gift\"]", "expected a string, got true");
    assert_violation(&e, 8, "attributes[\"m\"]", "expected a string, got array");
    assert_violation(&e, 9, "currency", "expected a string, got 5");
    assert_string_equal(e.first, "colour: unknown field");

    /* Stable: the same document gives the same report. */
    orderjson_errors again;
    parse_all_rejected(doc, &again);
    assert_int_equal(again.count, e.count);
    for (size_t i = 0; i < e.count; i++) {
        assert_string_equal(again.v[i].field, e.v[i].field);
        assert_string_equal(again.v[i].reason, e.v[i].reason);
    }

    /* The order is the text's, not the schema's nor a hash's: the same
     * members in another order are reported in that order. */
    parse_all_rejected("{\"currency\":5,\"attributes\":{\"gift\":true},"
                       "\"items\":[{\"unitPrice\":\"x\",\"quantity\":\"y\"}],\"colour\":\"red\"}",
                       &e);
    assert_int_equal(e.count, 5);
    assert_violation(&e, 0, "currency", "expected a string, got 5");
    assert_violation(&e, 1, "attributes[\"gift\"]", "expected a string, got true");
    assert_violation(&e, 2, "items[0].unitPrice",
                     "expected an integer (number or decimal string), got \"x\"");
    assert_violation(&e, 3, "items[0].quantity",
                     "expected an integer (number or decimal string), got \"y\"");
    assert_violation(&e, 4, "colour", "unknown field");
    assert_string_equal(e.first, "currency: expected a string, got 5");
}

/* A field of the wrong type is one violation: what it holds is not looked
 * at. Nor are the members of a document that is not an object. */
static void test_all_wrong_container_type(void **state) {
    (void)state;
    orderjson_errors e;
    parse_all_rejected("{\"items\":{\"sku\":7,\"quantity\":\"x\"},"
                       "\"attributes\":[1,2,3],\"placedAtMs\":\"soon\"}",
                       &e);
    assert_int_equal(e.count, 3);
    assert_violation(&e, 0, "items", "expected an array, got object");
    assert_violation(&e, 1, "attributes", "expected an object, got array");
    assert_violation(&e, 2, "placedAtMs",
                     "expected an integer (number or decimal string), got \"soon\"");

    parse_all_rejected("[{\"colour\":1},{\"currency\":2}]", &e);
    assert_int_equal(e.malformed, 0);
    assert_int_equal(e.total, 1);
    assert_violation(&e, 0, "", "expected a JSON object, got array");
    assert_string_equal(e.first, "expected a JSON object, got array");
}

/* More violations than fit: the first ORDERJSON_MAX_VIOLATIONS are kept,
 * total counts them all. */
static void test_all_more_than_max(void **state) {
    (void)state;
    char doc[2048];
    size_t o = (size_t)snprintf(doc, sizeof(doc), "{\"items\":[");
    for (int i = 0; i < 21; i++)
        o += (size_t)snprintf(doc + o, sizeof(doc) - o, "%s{\"sku\":\"S\",\"quantity\":\"q%d\"}",
                              i ? "," : "", i);
    o += (size_t)snprintf(doc + o, sizeof(doc) - o, "],\"customerId\":1,\"zz\":2}");
    assert_true(o < sizeof(doc));

    orderjson_errors e;
    parse_all_rejected(doc, &e);
    assert_int_equal(e.count, ORDERJSON_MAX_VIOLATIONS);
    assert_int_equal(e.total, 23);
    for (size_t i = 0; i < ORDERJSON_MAX_VIOLATIONS; i++) {
        char field[32], reason[96];
        snprintf(field, sizeof(field), "items[%zu].quantity", i);
        snprintf(reason, sizeof(reason),
                 "expected an integer (number or decimal string), got \"q%zu\"", i);
        assert_violation(&e, i, field, reason);
    }
    assert_string_equal(e.first, "items[0].quantity: expected an integer (number or decimal "
                                 "string), got \"q0\"");

    /* Exactly ORDERJSON_MAX_VIOLATIONS: all kept. */
    o = (size_t)snprintf(doc, sizeof(doc), "{");
    for (int i = 0; i < ORDERJSON_MAX_VIOLATIONS; i++)
        o += (size_t)snprintf(doc + o, sizeof(doc) - o, "%s\"f%d\":%d", i ? "," : "", i, i);
    snprintf(doc + o, sizeof(doc) - o, "}");
    parse_all_rejected(doc, &e);
    assert_int_equal(e.count, ORDERJSON_MAX_VIOLATIONS);
    assert_int_equal(e.total, ORDERJSON_MAX_VIOLATIONS);
    assert_violation(&e, ORDERJSON_MAX_VIOLATIONS - 1, "f15", "unknown field");
}

/* Malformed JSON: one violation on the document, with jansson's position. */
/* Found by fuzz_order_json (tests/fuzz/regressions/fuzz_order_json/
 * syntax-error-quotes-invalid-utf8): jansson quotes the input near a syntax
 * error as raw bytes, here a UTF-8 sequence cut in two and a lone 0xff; the
 * message goes into JSON, so those bytes become '?'. */
static void test_malformed_message_is_utf8(void **state) {
    (void)state;
    static const char doc[] = "{\"customerId\":\"c-\\u0\xd7\x9a\xff\"}";
    orderjson_errors e;
    order_placed_t *out = NULL;
    char err[320];
    assert_int_equal(orderjson_parse_placed_all(doc, sizeof(doc) - 1, &out, &e), ORDERJSON_ERR);
    assert_null(out);
    assert_int_equal(e.malformed, 1);
    assert_true(codec_utf8_valid(e.v[0].reason, strlen(e.v[0].reason)));
    assert_non_null(strstr(e.v[0].reason, "invalid escape"));
    assert_int_equal(orderjson_parse_placed(doc, sizeof(doc) - 1, &out, err, sizeof(err)),
                     ORDERJSON_ERR);
    assert_true(codec_utf8_valid(err, strlen(err)));
    assert_string_equal(err, e.first);
}

/* Found by fuzz_order_json (tests/fuzz/regressions/fuzz_order_json/
 * long-value-cut-inside-utf8-char): a long value quoted in a violation is cut
 * with "..." after it, and the cut fell inside a 4-byte character. Whatever
 * the cut position, the reason stays UTF-8 and ends in "...". */
static void test_long_value_cut_on_a_character(void **state) {
    (void)state;
    for (size_t pad = 30; pad < 60; pad++) {
        char doc[256], value[128];
        memset(value, 'v', pad);
        memcpy(value + pad, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 9); /* two U+1F600, NUL */
        snprintf(doc, sizeof(doc), "{\"items\":[{\"sku\":\"S\",\"quantity\":\"%s\"}]}", value);
        orderjson_errors e;
        order_placed_t *out = NULL;
        assert_int_equal(orderjson_parse_placed_all(doc, strlen(doc), &out, &e), ORDERJSON_ERR);
        assert_int_equal(e.count, 1);
        assert_string_equal(e.v[0].field, "items[0].quantity");
        if (!codec_utf8_valid(e.v[0].reason, strlen(e.v[0].reason)))
            fail_msg("pad %zu: reason not UTF-8: %s", pad, e.v[0].reason);
        assert_true(codec_utf8_valid(e.first, strlen(e.first)));
    }
}

static void test_all_malformed(void **state) {
    (void)state;
    static const char *const docs[] = {
        "{\n  \"customerId\": \"c-42\",\n  \"b\" 2\n}",
        "{\n  \"currency\": \"EUR\",\n  \"customerId\": \"c\",\n}",
        "{\"items\": [\n  {\"sku\": tru}\n]}",
        "{\n\"currency\": \"EUR\"",
        "{\"orderId\":\"o\"} x",
        "",
        "{\"sku\":\"a\\u0000b\"}",
        "{\n  \"orderId\": \"x\",\n  \"orderId\": \"y\"\n}",
        "{\"colour\":1,\"placedAtMs\":99999999999999999999}", /* a violation before: still 1 */
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        json_error_t jerr;
        json_t *j =
            json_loadb(docs[i], strlen(docs[i]), JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        assert_null(j);

        orderjson_errors e;
        parse_all_rejected(docs[i], &e);
        if (e.malformed != 1 || e.line != jerr.line || e.column != jerr.column)
            fail_msg("case %zu: malformed %d at %d:%d, jansson says %d:%d", i, e.malformed,
                     e.line, e.column, jerr.line, jerr.column);
        assert_int_equal(e.count, 1);
        assert_int_equal(e.total, 1);
        assert_int_equal(e.out_of_memory, 0);
        assert_string_equal(e.v[0].field, "");
        assert_string_equal(e.v[0].reason, e.first);
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "line %d, column %d: ", jerr.line, jerr.column);
        assert_true(strncmp(e.first, prefix, strlen(prefix)) == 0);
    }
    orderjson_errors e;
    parse_all_rejected("{\n  \"customerId\": \"c-42\",\n  \"b\" 2\n}", &e);
    assert_int_equal(e.line, 3);
    assert_int_equal(e.column, 7);
}

/* A valid document: OK, the same message orderjson_parse_placed() gives, an
 * empty report. */
static void test_all_valid(void **state) {
    (void)state;
    static const char *const docs[] = {
        DESIGN_EXAMPLE,
        "{}",
        "{\"orderId\":\"o-1\",\"customer_id\":\"c\",\"items\":[{\"sku\":\"A\",\"quantity\":\"2\","
        "\"unit_price\":-5},{}],\"currency\":null,\"placedAtMs\":\"42\","
        "\"attributes\":{\"k\":\"v\",\"\":\"\"}}",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        orderjson_errors e;
        memset(&e, 0x5a, sizeof(e));
        order_placed_t *m = NULL;
        int rc = orderjson_parse_placed_all(docs[i], strlen(docs[i]), &m, &e);
        if (rc != ORDERJSON_OK) fail_msg("rejected %s: %s", docs[i], e.first);
        assert_non_null(m);
        assert_int_equal(e.count, 0);
        assert_int_equal(e.total, 0);
        assert_int_equal(e.malformed, 0);
        assert_int_equal(e.out_of_memory, 0);
        assert_string_equal(e.first, "");
        order_placed_t *want = parse_ok(docs[i]);
        assert_placed_same(m, want);
        codec_placed_free(want);
        codec_placed_free(m);
    }
}

/* first is exactly orderjson_parse_placed()'s message (checked inside
 * parse_all_rejected) for every kind of error, and it is the first
 * violation's field and reason joined by ": ". */
static void test_all_first_matches_single_error(void **state) {
    (void)state;
    static const char *const docs[] = {
        "{\"colour\":\"red\"}",
        "{\"order_id\":\"a\",\"orderId\":\"b\"}",
        "{\"items\":[{\"unitPrice\":1,\"unit_price\":1}]}",
        "{\"customerId\":42}",
        "{\"items\":[\"A\"]}",
        "{\"items\":[{\"quantity\":{}}]}",
        "{\"attributes\":{\"a\":\"1\",\"n\":2}}",
        "{\"placedAtMs\":-1e19}",
        "{\"items\":[{\"quantity\":\"99999999999999999999\"}]}",
        "{\"items\":[null]}",
        "{\"\":1}",
        "\"order\"",
        "null",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        orderjson_errors e;
        parse_all_rejected(docs[i], &e);
        assert_int_equal(e.malformed, 0);
        assert_int_equal(e.total, 1);
        char joined[sizeof(e.v[0]) + 8];
        if (e.v[0].field[0] == '\0' && docs[i][0] != '{')
            snprintf(joined, sizeof(joined), "%s", e.v[0].reason);
        else
            snprintf(joined, sizeof(joined), "%s: %s", e.v[0].field, e.v[0].reason);
        assert_string_equal(e.first, joined);
    }
}

/* Long paths: the field is cut to its array on a character boundary, first
 * keeps as much as orderjson_parse_placed() would in the same space. */
static void test_all_long_field(void **state) {
    (void)state;
    char key[700] = "";
    for (int i = 0; i < 300; i++) strcat(key, "\xc3\xa9"); /* 600 bytes */
    char doc[1024];

    snprintf(doc, sizeof(doc), "{\"%.200s\":1,\"%s\":2}", key, key);
    orderjson_errors e;
    parse_all_rejected(doc, &e);
    assert_int_equal(e.count, 2);
    assert_true(strlen(e.v[0].field) <= sizeof(e.v[0].field) - 1);
    assert_true(strlen(e.v[0].field) >= sizeof(e.v[0].field) - 4);
    assert_memory_equal(e.v[0].field, key, strlen(e.v[0].field));
    assert_string_equal(e.v[0].reason, "unknown field");
    char want[300];
    snprintf(want, sizeof(want), "%.200s: unknown field", key);
    assert_string_equal(e.first, want); /* 215 bytes: fits whole */
    assert_string_equal(e.v[1].reason, "unknown field");

    snprintf(doc, sizeof(doc), "{\"attributes\":{\"%s\":0}}", key);
    parse_all_rejected(doc, &e); /* first cut at 319 bytes, same as the single-error API */
    assert_int_equal(e.count, 1);
    assert_true(strlen(e.first) <= sizeof(e.first) - 1);
    assert_true(strncmp(e.first, "attributes[\"\xc3\xa9", 14) == 0);
    assert_true(strncmp(e.v[0].field, "attributes[\"\xc3\xa9", 14) == 0);
    assert_string_equal(e.v[0].reason, "expected a string, got 0");
}

/* A jansson allocator that always fails, to run the parser out of memory. */
static void *failing_malloc(size_t n) {
    (void)n;
    return NULL;
}

/* Out of memory is not the document's fault: it is reported as such, not as
 * malformed JSON. */
static void test_all_out_of_memory(void **state) {
    (void)state;
    orderjson_errors e;
    memset(&e, 0x5a, sizeof(e));
    order_placed_t *m = (order_placed_t *)(uintptr_t)1;
    char err[64] = "";
    order_placed_t *m1 = (order_placed_t *)(uintptr_t)1;

    json_set_alloc_funcs(failing_malloc, free);
    int rc = orderjson_parse_placed_all(DESIGN_EXAMPLE, strlen(DESIGN_EXAMPLE), &m, &e);
    int rc1 = orderjson_parse_placed(DESIGN_EXAMPLE, strlen(DESIGN_EXAMPLE), &m1, err,
                                     sizeof(err));
    json_set_alloc_funcs(malloc, free);

    assert_int_equal(rc, ORDERJSON_ERR);
    assert_null(m);
    assert_int_equal(e.out_of_memory, 1);
    assert_int_equal(e.malformed, 0);
    assert_int_equal(e.count, 1);
    assert_int_equal(e.total, 1);
    assert_violation(&e, 0, "", "out of memory");
    assert_string_equal(e.first, "out of memory");
    assert_int_equal(rc1, ORDERJSON_ERR);
    assert_null(m1);
    assert_string_equal(err, "out of memory");
}

/* ------------------------------------------------------------ printing */

static void test_dump_placed(void **state) {
    (void)state;
    line_item_t items[2] = {ORDERFLEET__V1__LINE_ITEM__INIT, ORDERFLEET__V1__LINE_ITEM__INIT};
    line_item_t *item_ptrs[2] = {&items[0], &items[1]};
    attr_entry_t attrs[2] = {ORDERFLEET__V1__ORDER_PLACED__ATTRIBUTES_ENTRY__INIT,
                             ORDERFLEET__V1__ORDER_PLACED__ATTRIBUTES_ENTRY__INIT};
    attr_entry_t *attr_ptrs[2] = {&attrs[0], &attrs[1]};
    order_placed_t m = ORDERFLEET__V1__ORDER_PLACED__INIT;

    /* All defaults: only orderId. */
    char *s = orderjson_placed_dump(&m);
    assert_non_null(s);
    assert_string_equal(s, "{\"orderId\":\"\"}");
    free(s);

    m.order_id = "o-1";
    m.customer_id = "c-42";
    m.currency = "EUR";
    m.placed_at_ms = 1732920757123;
    items[0].sku = "BURGER-CLASSIC";
    items[0].quantity = 2;
    items[0].unit_price = 899;
    items[1].sku = "TAB\t\"Q\"";
    items[1].quantity = 0;   /* omitted */
    items[1].unit_price = INT64_MIN;
    m.n_items = 2;
    m.items = item_ptrs;
    attrs[0].key = "channel";
    attrs[0].value = "web";
    attrs[1].key = "note";
    attrs[1].value = "caf\xc3\xa9";
    m.n_attributes = 2;
    m.attributes = attr_ptrs;

    s = orderjson_placed_dump(&m);
    assert_non_null(s);
    assert_string_equal(s, "{\"orderId\":\"o-1\",\"customerId\":\"c-42\",\"items\":["
                           "{\"sku\":\"BURGER-CLASSIC\",\"quantity\":2,\"unitPrice\":\"899\"},"
                           "{\"sku\":\"TAB\\t\\\"Q\\\"\",\"unitPrice\":\"-9223372036854775808\"}],"
                           "\"currency\":\"EUR\",\"placedAtMs\":\"1732920757123\","
                           "\"attributes\":{\"channel\":\"web\",\"note\":\"caf\xc3\xa9\"}}");
    free(s);

    /* A string that is not UTF-8 (only possible in memory) is still printed,
     * with U+FFFD for each bad byte. */
    order_placed_t bad = ORDERFLEET__V1__ORDER_PLACED__INIT;
    bad.order_id = "a\xff\xc3(b\xe2\x82\xac";
    s = orderjson_placed_dump(&bad);
    assert_non_null(s);
    assert_string_equal(s, "{\"orderId\":\"a\xef\xbf\xbd\xef\xbf\xbd(b\xe2\x82\xac\"}");
    free(s);
}

static void test_dump_completed(void **state) {
    (void)state;
    order_completed_t m = ORDERFLEET__V1__ORDER_COMPLETED__INIT;

    /* All defaults: the always-present fields only. */
    char *s = orderjson_completed_dump(&m);
    assert_non_null(s);
    assert_string_equal(s, "{\"orderId\":\"\",\"status\":\"ORDER_STATUS_UNSPECIFIED\","
                           "\"subtotal\":\"0\",\"tax\":\"0\",\"shipping\":\"0\",\"total\":\"0\","
                           "\"currency\":\"\"}");
    free(s);

    m.order_id = "o-1";
    m.status = ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED;
    m.subtotal = 1798;
    m.tax = 342;
    m.shipping = 0;
    m.total = 2140;
    m.currency = "EUR";
    m.placed_at_ms = 1732920757123;
    m.completed_at_ms = 1732920757456;
    m.worker_id = "worker-1";
    m.attempts = 1;
    s = orderjson_completed_dump(&m);
    assert_non_null(s);
    assert_string_equal(s, "{\"orderId\":\"o-1\",\"status\":\"ORDER_STATUS_FULFILLED\","
                           "\"subtotal\":\"1798\",\"tax\":\"342\",\"shipping\":\"0\","
                           "\"total\":\"2140\",\"currency\":\"EUR\","
                           "\"placedAtMs\":\"1732920757123\",\"completedAtMs\":\"1732920757456\","
                           "\"workerId\":\"worker-1\",\"attempts\":1}");
    free(s);

    m.status = ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_REJECTED;
    m.reason = "unknown SKU \"PIZZA\"";
    m.subtotal = 0;
    m.tax = 0;
    m.total = 0;
    m.placed_at_ms = 0;
    m.completed_at_ms = 0;
    m.worker_id = "";
    m.attempts = UINT32_MAX;
    s = orderjson_completed_dump(&m);
    assert_non_null(s);
    assert_string_equal(s, "{\"orderId\":\"o-1\",\"status\":\"ORDER_STATUS_REJECTED\","
                           "\"reason\":\"unknown SKU \\\"PIZZA\\\"\",\"subtotal\":\"0\","
                           "\"tax\":\"0\",\"shipping\":\"0\",\"total\":\"0\",\"currency\":\"EUR\","
                           "\"attempts\":4294967295}");
    free(s);

    /* FAILED by name; an enum number this build does not know, as a number. */
    m.reason = "";
    m.attempts = 0;
    m.status = ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FAILED;
    s = orderjson_completed_dump(&m);
    assert_non_null(s);
    assert_non_null(strstr(s, "\"status\":\"ORDER_STATUS_FAILED\""));
    free(s);
    m.status = (Orderfleet__V1__OrderStatus)7;
    s = orderjson_completed_dump(&m);
    assert_non_null(s);
    assert_string_equal(s, "{\"orderId\":\"o-1\",\"status\":7,\"subtotal\":\"0\",\"tax\":\"0\","
                           "\"shipping\":\"0\",\"total\":\"0\",\"currency\":\"EUR\"}");
    free(s);
}

/* parse(dump(x)) == x, for a parsed message and for one built in memory with
 * extreme values and unicode. */
static void test_parse_dump_round_trip(void **state) {
    (void)state;
    order_placed_t *a = parse_ok(
        "{\"orderId\":\"o-1\",\"customerId\":\"c-\xe2\x9c\x93\",\"items\":["
        "{\"sku\":\"A\",\"quantity\":2,\"unitPrice\":\"899\"},{\"sku\":\"B\"},{}],"
        "\"currency\":\"EUR\",\"placedAtMs\":\"-1\",\"attributes\":{\"x\":\"\",\"\":\"y\"}}");
    char *text = orderjson_placed_dump(a);
    assert_non_null(text);
    order_placed_t *b = parse_ok(text);
    assert_placed_same(a, b);
    free(text);
    codec_placed_free(a);
    codec_placed_free(b);

    line_item_t item = ORDERFLEET__V1__LINE_ITEM__INIT;
    line_item_t *item_ptr = &item;
    order_placed_t m = ORDERFLEET__V1__ORDER_PLACED__INIT;
    m.order_id = "0193c0de-7a1e-7000-8000-000000000001";
    m.currency = "\xf0\x9f\x8d\x94";
    m.placed_at_ms = INT64_MIN;
    item.sku = "line\nbreak\\";
    item.quantity = INT32_MIN;
    item.unit_price = INT64_MAX;
    m.n_items = 1;
    m.items = &item_ptr;
    text = orderjson_placed_dump(&m);
    assert_non_null(text);
    b = parse_ok(text);
    assert_placed_same(&m, b);
    free(text);
    codec_placed_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_design_example),
        cmocka_unit_test(test_parse_all_fields),
        cmocka_unit_test(test_parse_proto_names),
        cmocka_unit_test(test_parse_uses_len),
        cmocka_unit_test(test_malformed_json_line_column),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_unknown_field),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_int64_fields),
        cmocka_unit_test(test_int32_field),
        cmocka_unit_test(test_null_handling),
        cmocka_unit_test(test_non_object_top_level),
        cmocka_unit_test(test_errors_after_allocation),
        cmocka_unit_test(test_error_truncation),
        cmocka_unit_test(test_all_collects_violations),
        cmocka_unit_test(test_all_wrong_container_type),
        cmocka_unit_test(test_all_more_than_max),
        cmocka_unit_test(test_all_malformed),
        cmocka_unit_test(test_malformed_message_is_utf8),
        cmocka_unit_test(test_long_value_cut_on_a_character),
        cmocka_unit_test(test_all_valid),
        cmocka_unit_test(test_all_first_matches_single_error),
        cmocka_unit_test(test_all_long_field),
        cmocka_unit_test(test_all_out_of_memory),
        cmocka_unit_test(test_dump_placed),
        cmocka_unit_test(test_dump_completed),
        cmocka_unit_test(test_parse_dump_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
