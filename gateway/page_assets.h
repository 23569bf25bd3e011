/* page_assets: the page's files (gateway/page/: index.html, app.js,
 * style.css), embedded at build time by gateway/embed_page.cmake into a
 * generated source in the build directory, so the gateway serves the page
 * with no files at run time. Read-only, indexed by route_asset. */
#ifndef ORDERFLEET_GATEWAY_PAGE_ASSETS_H
#define ORDERFLEET_GATEWAY_PAGE_ASSETS_H

#include <stddef.h>

#include "gateway/route.h"

typedef struct page_asset {
    const char *name;          /* file name in gateway/page/ */
    const char *type;          /* its Content-Type */
    const unsigned char *data; /* its bytes (followed by one NUL, not counted) */
    size_t len;
} page_asset;

extern const page_asset page_assets[ROUTE_ASSET_COUNT];

#endif
