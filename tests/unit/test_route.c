/* route_parse(): every resource of the gateway's API, the order id rules,
 * and paths that merely look like a resource. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/route.h"

static void test_resources(void **state) {
    (void)state;
    route r;
    assert_int_equal(route_parse("/v1/orders", &r), ROUTE_ORDERS);
    assert_int_equal(route_parse("/healthz", &r), ROUTE_HEALTHZ);
    assert_int_equal(route_parse("/readyz", &r), ROUTE_READYZ);
    assert_int_equal(route_parse("/v1/orders/ord-1.a_b~C", &r), ROUTE_ORDER);
    assert_false(r.bad_id);
    assert_string_equal(r.order_id, "ord-1.a_b~C");
    assert_string_equal(route_label(ROUTE_ORDER), "/v1/orders/{id}");
    assert_string_equal(route_label(ROUTE_NONE), "other");

    assert_int_equal(route_parse("/v1/orders/ord-7/events", &r), ROUTE_ORDER_EVENTS);
    assert_false(r.bad_id);
    assert_string_equal(r.order_id, "ord-7");
    assert_string_equal(route_label(ROUTE_ORDER_EVENTS), "/v1/orders/{id}/events");
    /* an order may be called "events": only a suffix after an id is one */
    assert_int_equal(route_parse("/v1/orders/events", &r), ROUTE_ORDER);
    assert_false(r.bad_id);
    assert_string_equal(r.order_id, "events");
    assert_int_equal(route_parse("/v1/fleet", &r), ROUTE_FLEET);
    assert_string_equal(route_label(ROUTE_FLEET), "/v1/fleet");
}

static void test_page(void **state) {
    (void)state;
    route r;
    assert_int_equal(route_parse("/", &r), ROUTE_PAGE);
    assert_int_equal(r.asset, ROUTE_ASSET_INDEX);
    assert_int_equal(route_parse("/page/app.js", &r), ROUTE_PAGE);
    assert_int_equal(r.asset, ROUTE_ASSET_APP_JS);
    assert_int_equal(route_parse("/page/style.css", &r), ROUTE_PAGE);
    assert_int_equal(r.asset, ROUTE_ASSET_STYLE_CSS);
    assert_string_equal(route_label(ROUTE_PAGE), "page");
    /* nothing else under /page is served: no directory, no traversal */
    const char *none[] = {"/page", "/page/", "/page/app.js/", "/page/../README.md",
                          "/page/index.html", "/index.html", "/page/app.jsx", "/PAGE/app.js"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
        assert_int_equal(route_parse(none[i], &r), ROUTE_NONE);
}

static void test_near_misses(void **state) {
    (void)state;
    route r;
    const char *none[] = {"",         "//",          "/v1",         "/v1/order",
                          "/v1/fleet/", "/v1/fleets",  "/v1/ordersx", "/v1/orders?x",
                          "/healthz/",  "/readyzz",    "//v1/orders", "/V1/orders"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
        assert_int_equal(route_parse(none[i], &r), ROUTE_NONE);
}

static void test_bad_ids(void **state) {
    (void)state;
    route r;
    assert_int_equal(route_parse("/v1/orders/", &r), ROUTE_ORDER);
    assert_true(r.bad_id); /* empty */
    assert_int_equal(route_parse("/v1/orders/a/b", &r), ROUTE_ORDER);
    assert_true(r.bad_id); /* '/' is not unreserved */
    assert_int_equal(route_parse("/v1/orders/%41", &r), ROUTE_ORDER);
    assert_true(r.bad_id); /* no percent-decoding */
    assert_int_equal(route_parse("/v1/orders//events", &r), ROUTE_ORDER_EVENTS);
    assert_true(r.bad_id); /* empty */
    assert_int_equal(route_parse("/v1/orders/a/b/events", &r), ROUTE_ORDER_EVENTS);
    assert_true(r.bad_id);
    assert_string_equal(r.order_id, "a/b"); /* the id alone, for the message */
    assert_int_equal(route_parse("/v1/orders/a/events/", &r), ROUTE_ORDER);
    assert_true(r.bad_id);

    char path[512];
    int n = snprintf(path, sizeof(path), "/v1/orders/");
    memset(path + n, 'x', ROUTE_ORDER_ID_MAX);
    path[n + ROUTE_ORDER_ID_MAX] = '\0';
    assert_int_equal(route_parse(path, &r), ROUTE_ORDER);
    assert_false(r.bad_id); /* exactly the longest */
    assert_int_equal(strlen(r.order_id), ROUTE_ORDER_ID_MAX);
    memset(path + n, 'x', 300);
    path[n + 300] = '\0';
    assert_int_equal(route_parse(path, &r), ROUTE_ORDER);
    assert_true(r.bad_id); /* one too long, cut for the message */
    assert_int_equal(strlen(r.order_id), ROUTE_ORDER_ID_MAX);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resources),
        cmocka_unit_test(test_near_misses),
        cmocka_unit_test(test_bad_ids),
        cmocka_unit_test(test_page),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
