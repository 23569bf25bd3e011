/* fuzz_route: the request path of an HTTP request to order-gateway, routed
 * by route_parse() (gateway/route.h) exactly as the server does. Routes may
 * be added to route.c at any time: nothing here names them but the order
 * resource, whose id is checked.
 *
 * The input is the path (cut at its first NUL, as MHD gives a C string).
 *
 * Properties, beyond "no crash, no undefined behaviour":
 *   - the result is out->kind, and route_label() names it;
 *   - ROUTE_ORDER only under /v1/orders/; order_id is NUL-terminated, at
 *     most ROUTE_ORDER_ID_MAX characters; a good one is valid and taken from
 *     the path; a bad one is not the whole rest of the path being valid;
 *   - routing is a pure function: the same path routes the same again. */
#define _POSIX_C_SOURCE 200809L
#include <string.h>

#include "fuzz.h"
#include "common/ids.h"
#include "gateway/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *path = fuzz_strndup(data, size);
    route r, again;
    memset(&r, 0xa5, sizeof(r)); /* route_parse must set what it promises */
    route_kind k = route_parse(path, &r);
    FUZZ_CHECK(k == r.kind, "returned kind differs from out->kind");
    const char *label = route_label(k);
    FUZZ_CHECK(label && label[0] != '\0', "no label");
    if (k == ROUTE_ORDER) {
        size_t idlen = strnlen(r.order_id, sizeof(r.order_id));
        FUZZ_CHECK(idlen <= ROUTE_ORDER_ID_MAX, "order_id not NUL-terminated");
        FUZZ_CHECK(strncmp(path, ROUTE_ORDERS_PATH "/", strlen(ROUTE_ORDERS_PATH) + 1) == 0,
                   "ROUTE_ORDER for a path outside /v1/orders/");
        const char *id = path + strlen(ROUTE_ORDERS_PATH) + 1;
        if (!r.bad_id)
            FUZZ_CHECK(id_order_valid(r.order_id, idlen) &&
                           strncmp(r.order_id, id, idlen) == 0,
                       "a good id that is not valid or not from the path");
        else
            FUZZ_CHECK(!id_order_valid(id, strlen(id)),
                       "a valid id (the whole rest of the path) called bad");
    }
    memset(&again, 0, sizeof(again));
    FUZZ_CHECK(route_parse(path, &again) == k, "routing is not a pure function");
    free(path);
    return 0;
}
