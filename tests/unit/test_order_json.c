/* Unit tests for common/order_json: the protobuf JSON mapping of OrderPlaced
 * (strict parsing with precise errors, printing) and OrderCompleted
 * (printing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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
        cmocka_unit_test(test_dump_placed),
        cmocka_unit_test(test_dump_completed),
        cmocka_unit_test(test_parse_dump_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
