#include "gateway/route.h"

#include "common/ids.h"

#include <stdio.h>
#include <string.h>

route_kind route_parse(const char *path, route *out) {
    static const char orders[] = ROUTE_ORDERS_PATH;
    const size_t n = sizeof(orders) - 1;
    memset(out, 0, offsetof(route, order_id) + 1);
    out->kind = ROUTE_NONE;
    if (strcmp(path, orders) == 0) {
        out->kind = ROUTE_ORDERS;
    } else if (strncmp(path, orders, n) == 0 && path[n] == '/') {
        const char *id = path + n + 1;
        size_t len = strlen(id);
        const size_t sn = sizeof(ROUTE_EVENTS_SUFFIX) - 1;
        out->kind = ROUTE_ORDER;
        if (len >= sn && strcmp(id + len - sn, ROUTE_EVENTS_SUFFIX) == 0) {
            out->kind = ROUTE_ORDER_EVENTS;
            len -= sn;
        }
        out->bad_id = !id_order_valid(id, len);
        int shown = len > ROUTE_ORDER_ID_MAX ? ROUTE_ORDER_ID_MAX : (int)len;
        snprintf(out->order_id, sizeof(out->order_id), "%.*s", shown, id);
    } else if (strcmp(path, ROUTE_FLEET_PATH) == 0) {
        out->kind = ROUTE_FLEET;
    } else if (strcmp(path, "/") == 0) {
        out->kind = ROUTE_PAGE;
        out->asset = ROUTE_ASSET_INDEX;
    } else if (strcmp(path, "/page/app.js") == 0) {
        out->kind = ROUTE_PAGE;
        out->asset = ROUTE_ASSET_APP_JS;
    } else if (strcmp(path, "/page/style.css") == 0) {
        out->kind = ROUTE_PAGE;
        out->asset = ROUTE_ASSET_STYLE_CSS;
    } else if (strcmp(path, "/healthz") == 0) {
        out->kind = ROUTE_HEALTHZ;
    } else if (strcmp(path, "/readyz") == 0) {
        out->kind = ROUTE_READYZ;
    }
    return out->kind;
}

const char *route_label(route_kind kind) {
    switch (kind) {
    case ROUTE_ORDERS: return ROUTE_ORDERS_PATH;
    case ROUTE_ORDER: return ROUTE_ORDERS_PATH "/{id}";
    case ROUTE_HEALTHZ: return "/healthz";
    case ROUTE_READYZ: return "/readyz";
    case ROUTE_ORDER_EVENTS: return ROUTE_ORDERS_PATH "/{id}" ROUTE_EVENTS_SUFFIX;
    case ROUTE_FLEET: return ROUTE_FLEET_PATH;
    case ROUTE_PAGE: return "page";
    case ROUTE_NONE: break;
    }
    return "other";
}
