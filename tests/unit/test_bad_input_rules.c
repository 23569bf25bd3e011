/* Unit tests: the small rules behind docs/bad-input.md that the e2e matrix
 * (tests/e2e/test_e2e_bad_input.py) reaches only through Kafka: a REJECTED
 * reason that quotes the customer's text stays UTF-8 however that text is cut,
 * and order-producer's check of an order id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/order_codec.h"
#include "consumer/fulfillment.h"
#include "producer/modes.h"

#define EURO "\xe2\x82\xac" /* U+20AC, three bytes */

/* Prices a one-line order and returns the verdict; the reason in r. */
static int price_one(const char *currency, const char *sku, handler_result *r) {
    line_item_t li = ORDERFLEET__V1__LINE_ITEM__INIT;
    line_item_t *lines[1] = {&li};
    order_placed_t o = ORDERFLEET__V1__ORDER_PLACED__INIT;
    li.sku = (char *)sku;
    li.quantity = 1;
    li.unit_price = 100;
    o.order_id = "o-1";
    o.customer_id = "c-1";
    o.currency = (char *)currency;
    o.items = lines;
    o.n_items = 1;
    fulfillment_price(&o, r);
    return r->verdict;
}

/* 12 bytes of currency: the reason quotes at most 8, which would end inside
 * the third euro sign; it must stop after the second. */
static void test_unknown_currency_cut_to_whole_characters(void **state) {
    (void)state;
    handler_result r;
    assert_int_equal(price_one(EURO EURO EURO EURO, "BURGER-CLASSIC", &r), HANDLER_REJECTED);
    assert_true(codec_utf8_valid(r.reason, strlen(r.reason)));
    assert_string_equal(r.reason, "currency: unknown currency \"" EURO EURO "\"");
}

/* A short multi-byte currency is quoted whole. */
static void test_short_currency_quoted_whole(void **state) {
    (void)state;
    handler_result r;
    assert_int_equal(price_one(EURO EURO, "BURGER-CLASSIC", &r), HANDLER_REJECTED);
    assert_string_equal(r.reason, "currency: unknown currency \"" EURO EURO "\"");
}

/* 100 euro signs of SKU: at most 64 bytes quoted, so 21 signs (63 bytes). */
static void test_unknown_sku_cut_to_whole_characters(void **state) {
    (void)state;
    char sku[301], want[256];
    for (int i = 0; i < 100; i++) memcpy(sku + 3 * i, EURO, 3);
    sku[300] = '\0';
    handler_result r;
    assert_int_equal(price_one("EUR", sku, &r), HANDLER_REJECTED);
    assert_true(codec_utf8_valid(r.reason, strlen(r.reason)));
    snprintf(want, sizeof(want), "items[0].sku: unknown SKU \"%.63s\"", sku);
    assert_string_equal(r.reason, want);
}

/* Four-byte characters: 64 is a multiple of 4, so 16 of them fit whole. */
static void test_unknown_sku_four_byte_characters(void **state) {
    (void)state;
    char sku[4 * 40 + 1];
    for (int i = 0; i < 40; i++) memcpy(sku + 4 * i, "\xf0\x9f\x8d\x94", 4); /* U+1F354 */
    sku[160] = '\0';
    handler_result r;
    assert_int_equal(price_one("EUR", sku, &r), HANDLER_REJECTED);
    assert_true(codec_utf8_valid(r.reason, strlen(r.reason)));
    assert_non_null(strstr(r.reason, "\"" "\xf0\x9f\x8d\x94"));
    assert_int_equal(strlen(strchr(r.reason, '"')), 1 + 64 + 1);
}

static void test_producer_order_id_rule(void **state) {
    (void)state;
    char id[130];
    assert_null(mode_order_id_problem(NULL));
    assert_null(mode_order_id_problem("")); /* absent: the producer assigns one */
    assert_null(mode_order_id_problem("0192f3a4-7c1e-7d2b-9a4f-1234567890ab"));
    assert_null(mode_order_id_problem("A-z_0.9~"));
    memset(id, 'o', 128);
    id[128] = '\0';
    assert_null(mode_order_id_problem(id));
    id[128] = 'o';
    id[129] = '\0';
    assert_non_null(strstr(mode_order_id_problem(id), "orderId: must be 1 to 128"));
    assert_non_null(mode_order_id_problem("a/b"));
    assert_non_null(mode_order_id_problem("a b"));
    assert_non_null(mode_order_id_problem("caf\xc3\xa9"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_currency_cut_to_whole_characters),
        cmocka_unit_test(test_short_currency_quoted_whole),
        cmocka_unit_test(test_unknown_sku_cut_to_whole_characters),
        cmocka_unit_test(test_unknown_sku_four_byte_characters),
        cmocka_unit_test(test_producer_order_id_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
