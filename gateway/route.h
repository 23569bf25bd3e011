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

#include "common/ids.h"

#define ROUTE_ORDERS_PATH "/v1/orders"
#define ROUTE_EVENTS_SUFFIX "/events"
#define ROUTE_FLEET_PATH "/v1/fleet"
#define ROUTE_ORDER_ID_MAX ID_ORDER_MAX

typedef enum route_kind {
    ROUTE_NONE,      /* no resource here: 404 */
    ROUTE_ORDERS,    /* /v1/orders */
    ROUTE_ORDER,     /* /v1/orders/{id} */
    ROUTE_HEALTHZ,   /* /healthz */
    ROUTE_READYZ,    /* /readyz */
    ROUTE_ORDER_EVENTS, /* /v1/orders/{id}/events: the order's Server-Sent Events */
    ROUTE_FLEET,     /* /v1/fleet: the live panel's JSON */
    ROUTE_PAGE       /* /, /page/app.js, /page/style.css: the embedded page (asset) */
} route_kind;

/* Which file of the embedded page a ROUTE_PAGE names (gateway/page/). */
typedef enum route_asset {
    ROUTE_ASSET_INDEX,     /* / -> index.html */
    ROUTE_ASSET_APP_JS,    /* /page/app.js */
    ROUTE_ASSET_STYLE_CSS, /* /page/style.css */
    ROUTE_ASSET_COUNT
} route_asset;

typedef struct route {
    route_kind kind;
    route_asset asset; /* ROUTE_PAGE: which file */
    /* ROUTE_ORDER, ROUTE_ORDER_EVENTS: the id segment as given,
     * NUL-terminated; bad_id is set when it is not a valid order id (too
     * long, empty, or a character outside the unreserved set), and then
     * order_id holds at most its first ROUTE_ORDER_ID_MAX characters, for
     * the error message. A path "/v1/orders/{x}/events" is always
     * ROUTE_ORDER_EVENTS, x checked as an id. */
    int bad_id;
    char order_id[ROUTE_ORDER_ID_MAX + 1];
} route;

/* Routes path (NUL-terminated, the query string already removed, as MHD
 * gives it) into out and returns out->kind. Never fails: an unknown path is
 * ROUTE_NONE. Cost: one pass over the path. */
route_kind route_parse(const char *path, route *out);


/* The route as a metrics label: the path pattern, never the order id; a
 * string literal. */
const char *route_label(route_kind kind);

#endif
