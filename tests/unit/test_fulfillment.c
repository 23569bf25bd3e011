/* Unit tests: the built-in handler's business rules and pricing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/config.h"
#include "consumer/fulfillment.h"

/* An order built on the stack: up to 4 lines. */
typedef struct {
    order_placed_t order;
    line_item_t lines[4];
    line_item_t *ptrs[4];
} test_order;

static void order_init(test_order *t, const char *currency) {
    order_placed_t o = ORDERFLEET__V1__ORDER_PLACED__INIT;
    t->order = o;
    t->order.order_id = "o-1";
    t->order.customer_id = "c-42";
    t->order.currency = (char *)currency;
    t->order.items = t->ptrs;
    t->order.n_items = 0;
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

static void test_prices_an_order(void **state) {
    (void)state;
    test_order t;
    handler_result r;
    order_init(&t, "EUR");
    order_line(&t, "BURGER-CLASSIC", 2, 899);
    order_line(&t, "FRIES-LARGE", 1, 449);
    fulfillment_price(&t.order, &r);
    assert_int_equal(r.verdict, HANDLER_FULFILLED);
    assert_int_equal(r.subtotal, 2247);
    assert_int_equal(r.tax, 427); /* 19% of 2247 = 426.93, rounded half up */
    assert_int_equal(r.shipping, 299); /* below the 2500 free-shipping threshold */
    assert_int_equal(r.total, 2247 + 427 + 299);
}

static void test_free_shipping_and_rounding(void **state) {
    (void)state;
    test_order t;
    handler_result r;
    order_init(&t, "USD");
    order_line(&t, "BURGER-DOUBLE", 3, 1000);
    fulfillment_price(&t.order, &r);
    assert_int_equal(r.verdict, HANDLER_FULFILLED);
    assert_int_equal(r.subtotal, 3000);
    assert_int_equal(r.tax, 248); /* 8.25% of 3000 = 247.5, half up */
    assert_int_equal(r.shipping, 0);
    assert_int_equal(r.total, 3248);
}

static void expect_reject(test_order *t, const char *reason) {
    handler_result r;
    fulfillment_price(&t->order, &r);
    assert_int_equal(r.verdict, HANDLER_REJECTED);
    assert_string_equal(r.reason, reason);
}

static void test_rejections_name_the_field(void **state) {
    (void)state;
    test_order t;

    order_init(&t, "EUR");
    expect_reject(&t, "items: the order has no items");

    order_init(&t, "EUR");
    order_line(&t, "BURGER-CLASSIC", 0, 899);
    expect_reject(&t, "items[0].quantity: must be at least 1, got 0");

    order_init(&t, "EUR");
    order_line(&t, "FRIES-SMALL", 1, 299);
    order_line(&t, "BURGER-CLASSIC", -3, 899);
    expect_reject(&t, "items[1].quantity: must be at least 1, got -3");

    order_init(&t, "EUR");
    order_line(&t, "BURGER-CLASSIC", 1, -1);
    expect_reject(&t, "items[0].unitPrice: must not be negative, got -1");

    order_init(&t, "XXX");
    order_line(&t, "BURGER-CLASSIC", 1, 899);
    expect_reject(&t, "currency: unknown currency \"XXX\"");

    order_init(&t, "");
    order_line(&t, "BURGER-CLASSIC", 1, 899);
    expect_reject(&t, "currency: is required");

    order_init(&t, "EUR");
    order_line(&t, "SKU-DOES-NOT-EXIST", 1, 899);
    expect_reject(&t, "items[0].sku: unknown SKU \"SKU-DOES-NOT-EXIST\"");

    order_init(&t, "EUR");
    order_line(&t, "SHAKE-PISTACHIO", 1, 549);
    expect_reject(&t, "items[0].sku: SHAKE-PISTACHIO is out of stock");

    order_init(&t, "EUR");
    order_line(&t, "BURGER-CLASSIC", 1001, 899);
    expect_reject(&t, "items[0].quantity: at most 1000 per line, got 1001");

    order_init(&t, "EUR");
    t.order.customer_id = "";
    order_line(&t, "BURGER-CLASSIC", 1, 899);
    expect_reject(&t, "customerId: is required");
}

static void test_overflow_is_rejected_not_wrapped(void **state) {
    (void)state;
    test_order t;

    order_init(&t, "EUR"); /* one line whose price x quantity overflows */
    order_line(&t, "BURGER-CLASSIC", 1000, INT64_MAX / 10);
    expect_reject(&t, "items[0]: the total overflows 64-bit minor units");

    order_init(&t, "EUR"); /* lines that fit, a sum that does not */
    order_line(&t, "BURGER-CLASSIC", 1, INT64_MAX - 10);
    order_line(&t, "FRIES-SMALL", 1, 11);
    expect_reject(&t, "items[1]: the total overflows 64-bit minor units");

    order_init(&t, "EUR"); /* a subtotal that fits, a tax that does not */
    order_line(&t, "BURGER-CLASSIC", 1, INT64_MAX / 1000);
    expect_reject(&t, "total: the tax overflows 64-bit minor units");
}

static void test_handler_latency_and_failures(void **state) {
    (void)state;
    of_config cfg;
    char err[256];
    assert_int_equal(config_load(&cfg, NULL, NULL, 0, err, sizeof(err)), CONFIG_OK);
    handler h;
    test_order t;
    handler_result r;
    order_init(&t, "EUR");
    order_line(&t, "COLA-SMALL", 1, 249);

    cfg.handler_failure_rate = 1.0; /* every attempt fails */
    assert_int_equal(fulfillment_handler_init(&h, &cfg, err, sizeof(err)), 0);
    h.handle(h.state, &t.order, 1, &r);
    assert_int_equal(r.verdict, HANDLER_TRANSIENT);
    assert_non_null(strstr(r.reason, "simulated"));
    /* rejections are decided before the charge: never transient */
    order_line(&t, "PIE-APPLE", 1, 299);
    h.handle(h.state, &t.order, 1, &r);
    assert_int_equal(r.verdict, HANDLER_REJECTED);
    h.fini(h.state);

    cfg.handler_failure_rate = 0.0;
    t.order.n_items = 1;
    assert_int_equal(fulfillment_handler_init(&h, &cfg, err, sizeof(err)), 0);
    for (int i = 0; i < 100; i++) {
        h.handle(h.state, &t.order, 1, &r);
        assert_int_equal(r.verdict, HANDLER_FULFILLED);
    }
    h.fini(h.state);

    cfg.handler_failure_rate = 0.5; /* about half, and not all or none */
    assert_int_equal(fulfillment_handler_init(&h, &cfg, err, sizeof(err)), 0);
    int fails = 0;
    for (int i = 0; i < 1000; i++) {
        h.handle(h.state, &t.order, 1, &r);
        fails += r.verdict == HANDLER_TRANSIENT;
    }
    assert_true(fails > 400 && fails < 600);
    h.fini(h.state);
    config_free(&cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prices_an_order),
        cmocka_unit_test(test_free_shipping_and_rounding),
        cmocka_unit_test(test_rejections_name_the_field),
        cmocka_unit_test(test_overflow_is_rejected_not_wrapped),
        cmocka_unit_test(test_handler_latency_and_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
