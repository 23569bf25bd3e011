/* Unit tests: the handler ABI and its loader. The built-in handler and the
 * example library (examples/handler/flat_rate.c) through handler_load(); the
 * libraries it must refuse (tests/fixtures/handler_*.c), each with a message
 * that names the library and what is wrong; the settings and the order as
 * they cross the ABI. The libraries' paths come from CMake. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/order_codec.h"
#include "consumer/fulfillment.h"
#include "consumer/handler.h"

/* An order built on the stack: up to 40 lines and 20 attributes. */
typedef struct {
    order_placed_t order;
    line_item_t lines[40];
    line_item_t *ptrs[40];
    Orderfleet__V1__OrderPlaced__AttributesEntry attrs[20];
    Orderfleet__V1__OrderPlaced__AttributesEntry *attr_ptrs[20];
} test_order;

static void order_init(test_order *t, const char *currency) {
    order_placed_t o = ORDERFLEET__V1__ORDER_PLACED__INIT;
    t->order = o;
    t->order.order_id = "o-1";
    t->order.customer_id = "c-42";
    t->order.currency = (char *)currency;
    t->order.placed_at_ms = 1700000000123;
    t->order.items = t->ptrs;
    t->order.n_items = 0;
    t->order.attributes = t->attr_ptrs;
    t->order.n_attributes = 0;
}

static void order_line(test_order *t, const char *sku, int32_t qty, int64_t price) {
    line_item_t li = ORDERFLEET__V1__LINE_ITEM__INIT;
    size_t i = t->order.n_items++;
    t->lines[i] = li;
    t->lines[i].sku = (char *)sku;
    t->lines[i].quantity = qty;
    t->lines[i].unit_price = price;
    t->ptrs[i] = &t->lines[i];
}

static void order_attr(test_order *t, char *key, char *value) {
    Orderfleet__V1__OrderPlaced__AttributesEntry e =
        ORDERFLEET__V1__ORDER_PLACED__ATTRIBUTES_ENTRY__INIT;
    size_t i = t->order.n_attributes++;
    t->attrs[i] = e;
    t->attrs[i].key = key;
    t->attrs[i].value = value;
    t->attr_ptrs[i] = &t->attrs[i];
}

/* cfg with handler.library set to library (NULL: the default, built-in). */
static void load_config(of_config *cfg, const char *library) {
    char err[512];
    config_override ov = {"handler.library", library, "test"};
    if (config_load(cfg, NULL, library ? &ov : NULL, library ? 1 : 0, err, sizeof(err)) !=
        CONFIG_OK)
        fail_msg("config: %s", err);
}

/* handler_load() must fail with a message that starts with prefix and
 * contains needle, and leave h zeroed. */
static void expect_load_error(const char *library, const char *prefix, const char *needle) {
    of_config cfg;
    handler h;
    char err[512];
    load_config(&cfg, library);
    memset(err, 0, sizeof(err));
    assert_int_equal(handler_load(&h, &cfg, err, sizeof(err)), -1);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("error \"%s\" does not start with \"%s\"", err, prefix);
    if (!strstr(err, needle)) fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
    assert_null(h.handle);
    assert_null(h.state);
    handler_unload(&h); /* harmless on a handler that did not load */
    config_free(&cfg);
}

/* The built-in handler through the same loader: the prices it always gave. */
static void test_builtin_through_the_loader(void **state) {
    (void)state;
    of_config cfg;
    handler h;
    handler_result r;
    test_order t;
    char err[512];
    load_config(&cfg, NULL);
    assert_string_equal(cfg.handler_library, "");
    assert_int_equal(handler_load(&h, &cfg, err, sizeof(err)), 0);
    assert_string_equal(h.name, "fulfillment");

    order_init(&t, "EUR");
    order_line(&t, "BURGER-CLASSIC", 2, 899);
    memset(&r, 0xa5, sizeof(r)); /* the adapter zeroes it */
    h.handle(h.state, &t.order, 1, &r);
    assert_int_equal(r.verdict, HANDLER_FULFILLED);
    assert_string_equal(r.reason, "");
    assert_int_equal(r.subtotal, 1798);
    assert_int_equal(r.tax, 342);
    assert_int_equal(r.shipping, 299);
    assert_int_equal(r.total, 2439);

    order_line(&t, "BURGER-CLASSIC", 0, 899);
    h.handle(h.state, &t.order, 1, &r);
    assert_int_equal(r.verdict, HANDLER_REJECTED);
    assert_string_equal(r.reason, "items[1].quantity: must be at least 1, got 0");

    handler_unload(&h);
    assert_null(h.handle);
    assert_null(h.state);
    config_free(&cfg);
}

/* The example library: its name, its prices, its rejections. */
static void test_flat_rate_library(void **state) {
    (void)state;
    of_config cfg;
    handler h;
    handler_result r;
    test_order t;
    char err[512];
    load_config(&cfg, FLAT_RATE_SO);
    if (handler_load(&h, &cfg, err, sizeof(err)) != 0) fail_msg("%s", err);
    assert_string_equal(h.name, "flat-rate");

    order_init(&t, "EUR");
    order_line(&t, "BURGER-CLASSIC", 2, 899);
    h.handle(h.state, &t.order, 1, &r);
    assert_int_equal(r.verdict, HANDLER_FULFILLED);
    assert_int_equal(r.subtotal, 1798);
    assert_int_equal(r.tax, 0);
    assert_int_equal(r.shipping, 500);
    assert_int_equal(r.total, 2298);

    /* no catalog: any SKU, any currency; more lines than the adapter's stack
     * arrays hold (the heap path) */
    order_init(&t, "XXX");
    for (int i = 0; i < 40; i++) order_line(&t, "ANYTHING", 1, 10);
    h.handle(h.state, &t.order, 3, &r);
    assert_int_equal(r.verdict, HANDLER_FULFILLED);
    assert_int_equal(r.subtotal, 400);
    assert_int_equal(r.total, 900);

    order_init(&t, "EUR");
    h.handle(h.state, &t.order, 1, &r);
    assert_int_equal(r.verdict, HANDLER_REJECTED);
    assert_string_equal(r.reason, "items: the order has no items");

    order_line(&t, "BURGER-CLASSIC", 1, 899);
    order_line(&t, "FRIES-SMALL", -2, 299);
    h.handle(h.state, &t.order, 1, &r);
    assert_int_equal(r.verdict, HANDLER_REJECTED);
    assert_string_equal(r.reason, "items[1].quantity: must be positive, got -2");
    assert_int_equal(r.total, 0);

    order_init(&t, "EUR");
    order_line(&t, "BURGER-CLASSIC", 2, INT64_MAX / 2 + 1);
    h.handle(h.state, &t.order, 1, &r);
    assert_int_equal(r.verdict, HANDLER_REJECTED);
    assert_string_equal(r.reason, "items[0]: the subtotal overflows 64-bit minor units");

    handler_unload(&h);
    config_free(&cfg);
}

/* A handler's reason reaches the outcome only as a terminated UTF-8 string:
 * the adapter ends it at the buffer's last byte, drops the character that
 * cut, and replaces bytes that are not UTF-8. */
static void test_reason_made_utf8(void **state) {
    (void)state;
    of_config cfg;
    handler h;
    handler_result r;
    test_order t;
    char err[512];
    load_config(&cfg, BAD_REASON_SO);
    if (handler_load(&h, &cfg, err, sizeof(err)) != 0) fail_msg("%s", err);
    order_init(&t, "EUR");
    order_line(&t, "BURGER-CLASSIC", 1, 899);
    h.handle(h.state, &t.order, 1, &r);
    assert_int_equal(r.verdict, HANDLER_REJECTED);
    size_t len = strlen(r.reason);
    assert_true(len < sizeof(r.reason));
    assert_true(codec_utf8_valid(r.reason, len));
    assert_memory_equal(r.reason, "bad ? byte", 10);
    assert_int_equal(len, sizeof(r.reason) - 3); /* the cut euro sign dropped */
    handler_unload(&h);
    config_free(&cfg);
}

static void test_missing_library(void **state) {
    (void)state;
    expect_load_error("/nonexistent/liborderfleet_nothing.so",
                      "handler.library \"/nonexistent/liborderfleet_nothing.so\": cannot load it: ",
                      "No such file or directory");
}

static void test_not_a_shared_object(void **state) {
    (void)state;
    char prefix[1024];
    snprintf(prefix, sizeof(prefix), "handler.library \"%s\": cannot load it: ", __FILE__);
    expect_load_error(__FILE__, prefix, "ELF");
}

static void test_library_without_the_entry_point(void **state) {
    (void)state;
    expect_load_error(NO_SYMBOL_SO, "handler.library \"" NO_SYMBOL_SO "\": ",
                      "not an orderfleet handler: it does not export orderfleet_handler_v1()");
}

static void test_library_of_another_abi(void **state) {
    (void)state;
    expect_load_error(BAD_ABI_SO, "handler.library \"" BAD_ABI_SO "\": ",
                      "built for handler ABI 2, this order-worker speaks ABI 1");
}

/* A handler whose init fails: its own message comes through, after the
 * library's path and the handler's name; and it shows what init was given. */
static void test_library_whose_init_refuses(void **state) {
    (void)state;
    expect_load_error(REFUSES_SO, "handler.library \"" REFUSES_SO "\": handler refuses: ",
                      "init failed: refused; settings: handler.latency_ms=0 "
                      "handler.failure_rate=0 handler.library=" REFUSES_SO);
}

/* Every handler.* setting of the config's table reaches init, as text. */
static void test_settings_cover_every_handler_setting(void **state) {
    (void)state;
    of_config cfg;
    handler_settings s;
    load_config(&cfg, FLAT_RATE_SO);
    cfg.handler_latency_ms = 7;
    cfg.handler_failure_rate = 0.25;
    handler_settings_init(&s, &cfg);

    char *table = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&table, &len);
    assert_non_null(f);
    config_print_settings(f);
    fclose(f);
    int seen = 0;
    char *save = NULL;
    for (char *line = strtok_r(table, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char path[128];
        if (sscanf(line, "%127s", path) != 1 || strncmp(path, "handler.", 8) != 0) continue;
        size_t i = 0;
        while (s.kv[i] && strcmp(s.kv[i], path) != 0) i += 2;
        if (!s.kv[i]) fail_msg("setting %s is not passed to a handler's init", path);
        assert_non_null(s.kv[i + 1]);
        seen++;
    }
    free(table);
    assert_int_equal(seen, 3);
    assert_string_equal(s.kv[0], "handler.latency_ms");
    assert_string_equal(s.kv[1], "7");
    assert_string_equal(s.kv[2], "handler.failure_rate");
    assert_string_equal(s.kv[3], "0.25");
    assert_string_equal(s.kv[4], "handler.library");
    assert_string_equal(s.kv[5], FLAT_RATE_SO);
    assert_null(s.kv[6]);
    config_free(&cfg);
}

/* The built-in handler reads its settings from that text, and refuses bad
 * text with the setting's name, like any handler. */
static void test_builtin_reads_its_settings(void **state) {
    (void)state;
    const struct orderfleet_handler_v1 *v1 = fulfillment_handler_v1();
    void *st = NULL;
    char err[256];
    assert_int_equal(v1->abi_version, ORDERFLEET_HANDLER_ABI);

    const char *const bad_rate[] = {"handler.latency_ms", "0", "handler.failure_rate", "2", NULL};
    assert_int_not_equal(v1->init(&st, bad_rate, err, sizeof(err)), 0);
    assert_string_equal(err, "handler.failure_rate: expected a number from 0 to 1, got \"2\"");
    const char *const bad_latency[] = {"handler.latency_ms", "5ms", NULL};
    assert_int_not_equal(v1->init(&st, bad_latency, err, sizeof(err)), 0);
    assert_string_equal(err,
                        "handler.latency_ms: expected an integer from 0 to 3600000, got \"5ms\"");

    /* failure_rate 1 from the text: every charge fails transiently */
    const char *const always_fail[] = {"handler.failure_rate", "1", "handler.library", "", NULL};
    assert_int_equal(v1->init(&st, always_fail, err, sizeof(err)), 0);
    orderfleet_line_v1 line = {"COLA-SMALL", 1, 249};
    orderfleet_order_v1 o = {"o-2", "c-1", "EUR", 0, 1, &line, 0, NULL};
    orderfleet_result_v1 r;
    memset(&r, 0, sizeof(r));
    v1->handle(st, &o, 1, &r);
    assert_int_equal(r.verdict, ORDERFLEET_TRANSIENT);
    v1->fini(st);
}

/* The order as a handler sees it: every field, the lines and attributes in
 * their order, beyond the stack arrays too, and "" for a NULL string. */
static void test_order_view(void **state) {
    (void)state;
    test_order t;
    handler_view v;
    char keys[20][8], values[20][8];
    order_init(&t, "GBP");
    t.order.customer_id = NULL;
    for (int i = 0; i < 40; i++) order_line(&t, i == 5 ? NULL : "SKU", i - 1, 100 * i);
    for (int i = 0; i < 20; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        snprintf(values[i], sizeof(values[i]), "v%d", i);
        order_attr(&t, keys[i], values[i]);
    }
    assert_int_equal(handler_view_init(&v, &t.order), 0);
    assert_non_null(v.heap_lines);
    assert_non_null(v.heap_attrs);
    assert_string_equal(v.order.order_id, "o-1");
    assert_string_equal(v.order.customer_id, "");
    assert_string_equal(v.order.currency, "GBP");
    assert_int_equal(v.order.placed_at_ms, 1700000000123);
    assert_int_equal(v.order.n_items, 40);
    assert_int_equal(v.order.n_attributes, 20);
    for (int i = 0; i < 40; i++) {
        assert_string_equal(v.order.items[i].sku, i == 5 ? "" : "SKU");
        assert_int_equal(v.order.items[i].quantity, i - 1);
        assert_int_equal(v.order.items[i].unit_price, 100 * i);
    }
    for (int i = 0; i < 20; i++) {
        assert_string_equal(v.order.attributes[i].key, keys[i]);
        assert_string_equal(v.order.attributes[i].value, values[i]);
    }
    handler_view_release(&v);

    order_init(&t, "EUR"); /* a small order stays on the stack */
    order_line(&t, "SKU", 1, 1);
    order_attr(&t, "channel", "web");
    assert_int_equal(handler_view_init(&v, &t.order), 0);
    assert_null(v.heap_lines);
    assert_null(v.heap_attrs);
    assert_ptr_equal(v.order.items, v.lines);
    assert_string_equal(v.order.attributes[0].value, "web");
    handler_view_release(&v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_through_the_loader),
        cmocka_unit_test(test_flat_rate_library),
        cmocka_unit_test(test_reason_made_utf8),
        cmocka_unit_test(test_missing_library),
        cmocka_unit_test(test_not_a_shared_object),
        cmocka_unit_test(test_library_without_the_entry_point),
        cmocka_unit_test(test_library_of_another_abi),
        cmocka_unit_test(test_library_whose_init_refuses),
        cmocka_unit_test(test_settings_cover_every_handler_setting),
        cmocka_unit_test(test_builtin_reads_its_settings),
        cmocka_unit_test(test_order_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
