/* route: which resource of order-gateway's HTTP API a request path names.
 *
 * A pure function of the path, so the fuzzer and the unit test see exactly
 * what the server sees. The method is checked by the caller (api.c), which
 * knows what each resource takes. An order id in a path is only accepted as
 * it is: 1..ROUTE_ORDER_ID_MAX characters of RFC 3986's unreserved set, no
 * percent-decoding (ids are made of those characters, so nothing is lost). */
#ifndef ORDERFLEET_GATEWAY_ROUTE_H
#define ORDERFLEET_GATEWAY_ROUTE_H

#include <stddef.h>

#define ROUTE_ORDERS_PATH "/v1/orders"
#define ROUTE_ORDER_ID_MAX 128

typedef enum route_kind {
    ROUTE_NONE,      /* no resource here: 404 */
    ROUTE_ORDERS,    /* /v1/orders */
    ROUTE_ORDER,     /* /v1/orders/{id} */
    ROUTE_HEALTHZ,   /* /healthz */
    ROUTE_READYZ     /* /readyz */
} route_kind;

typedef struct route {
    route_kind kind;
    /* ROUTE_ORDER: the id segment as given, NUL-terminated; bad_id is set
     * when it is not a valid order id (too long, empty, or a character
     * outside the unreserved set), and then order_id holds at most its
     * first ROUTE_ORDER_ID_MAX characters, for the error message. */
    int bad_id;
    char order_id[ROUTE_ORDER_ID_MAX + 1];
} route;

/* Routes path (NUL-terminated, the query string already removed, as MHD
 * gives it) into out and returns out->kind. Never fails: an unknown path is
 * ROUTE_NONE. Cost: one pass over the path. */
route_kind route_parse(const char *path, route *out);

/* 1 when id (len bytes) is a valid order id, as in a path or a body. */
int route_order_id_valid(const char *id, size_t len);

/* The route as a metrics label: the path pattern, never the order id; a
 * string literal. */
const char *route_label(route_kind kind);

#endif
