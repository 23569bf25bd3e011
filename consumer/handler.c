#define _POSIX_C_SOURCE 200809L
#include "consumer/handler.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer/fulfillment.h"

#define ENTRY_POINT "orderfleet_handler_v1"

typedef const struct orderfleet_handler_v1 *(*entry_point)(void);

/* What h->state points at: the ABI handler, its state, and the library it
 * came from (NULL for a built-in). */
typedef struct adapter {
    const struct orderfleet_handler_v1 *v1;
    void *state;
    void *dl;
} adapter;

/* ---- the order as the ABI sees it -------------------------------------- */

static const char *str(const char *s) { return s ? s : ""; }

int handler_view_init(handler_view *v, const order_placed_t *o) {
    v->heap_lines = NULL;
    v->heap_attrs = NULL;
    orderfleet_line_v1 *lines = v->lines;
    orderfleet_attr_v1 *attrs = v->attrs;
    if (o->n_items > HANDLER_VIEW_LINES &&
        !(lines = v->heap_lines = calloc(o->n_items, sizeof(*lines))))
        return -1;
    if (o->n_attributes > HANDLER_VIEW_ATTRS &&
        !(attrs = v->heap_attrs = calloc(o->n_attributes, sizeof(*attrs)))) {
        handler_view_release(v);
        return -1;
    }
    for (size_t i = 0; i < o->n_items; i++) {
        lines[i].sku = str(o->items[i]->sku);
        lines[i].quantity = o->items[i]->quantity;
        lines[i].unit_price = o->items[i]->unit_price;
    }
    for (size_t i = 0; i < o->n_attributes; i++) {
        attrs[i].key = str(o->attributes[i]->key);
        attrs[i].value = str(o->attributes[i]->value);
    }
    v->order.order_id = str(o->order_id);
    v->order.customer_id = str(o->customer_id);
    v->order.currency = str(o->currency);
    v->order.placed_at_ms = o->placed_at_ms;
    v->order.n_items = o->n_items;
    v->order.items = lines;
    v->order.n_attributes = o->n_attributes;
    v->order.attributes = attrs;
    return 0;
}

void handler_view_release(handler_view *v) {
    free(v->heap_lines);
    free(v->heap_attrs);
    v->heap_lines = NULL;
    v->heap_attrs = NULL;
}

/* ---- settings ----------------------------------------------------------- */

/* Every handler.* setting of common/config.c, in its table's order: a new
 * one goes here too (tests/unit/test_handler.c checks that none is missing). */
void handler_settings_init(handler_settings *s, const of_config *cfg) {
    size_t n = 0, t = 0;
    snprintf(s->text[t], sizeof(s->text[t]), "%d", cfg->handler_latency_ms);
    s->kv[n++] = "handler.latency_ms";
    s->kv[n++] = s->text[t++];
    /* %.17g: the double comes back exactly from strtod */
    snprintf(s->text[t], sizeof(s->text[t]), "%.17g", cfg->handler_failure_rate);
    s->kv[n++] = "handler.failure_rate";
    s->kv[n++] = s->text[t++];
    s->kv[n++] = "handler.library";
    s->kv[n++] = str(cfg->handler_library);
    s->kv[n] = NULL;
}

/* ---- the adapter -------------------------------------------------------- */

/* The engine's call: the order viewed through the ABI, the result passed
 * through. An order too large for the stack arrays costs one or two mallocs;
 * when they fail the attempt is TRANSIENT, to be retried. */
static void adapter_handle(void *state, const order_placed_t *order, unsigned attempt,
                           handler_result *res) {
    adapter *a = state;
    handler_view v;
    memset(res, 0, sizeof(*res));
    if (handler_view_init(&v, order) != 0) {
        res->verdict = HANDLER_TRANSIENT;
        snprintf(res->reason, sizeof(res->reason),
                 "out of memory passing an order of %zu lines to the handler", order->n_items);
        return;
    }
    a->v1->handle(a->state, &v.order, attempt, res);
    /* whatever the handler wrote: a string, and UTF-8, or the outcome carrying
     * it would not be a valid OrderCompleted */
    res->reason[sizeof(res->reason) - 1] = '\0';
    codec_utf8_scrub(res->reason);
    handler_view_release(&v);
}

static void adapter_fini(void *state) {
    adapter *a = state;
    if (!a) return;
    if (a->v1->fini) a->v1->fini(a->state);
    if (a->dl) dlclose(a->dl);
    free(a);
}

/* Runs v1's init and sets up h around it; dl (may be NULL) is the library v1
 * lives in, owned by h on success and left to the caller on failure. errstr
 * gets the handler's own message, prefixed with what failed. */
static int adapter_open(handler *h, const struct orderfleet_handler_v1 *v1, void *dl,
                        const of_config *cfg, char *errstr, size_t errsize) {
    handler_settings settings;
    char why[512] = "";
    adapter *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(errstr, errsize, "out of memory");
        return -1;
    }
    a->v1 = v1;
    a->dl = dl;
    handler_settings_init(&settings, cfg);
    if (v1->init && v1->init(&a->state, settings.kv, why, sizeof(why)) != 0) {
        why[sizeof(why) - 1] = '\0';
        snprintf(errstr, errsize, "init failed: %s", why[0] ? why : "(the handler gave no reason)");
        free(a);
        return -1;
    }
    memset(h, 0, sizeof(*h));
    h->name = v1->name && v1->name[0] ? v1->name : "unnamed";
    h->state = a;
    h->handle = adapter_handle;
    h->fini = adapter_fini;
    return 0;
}

int handler_open_v1(handler *h, const struct orderfleet_handler_v1 *v1, const of_config *cfg,
                    char *errstr, size_t errsize) {
    char why[512];
    if (!v1 || v1->abi_version != ORDERFLEET_HANDLER_ABI || !v1->handle) {
        snprintf(errstr, errsize, "built-in handler: not a valid ABI %d handler",
                 ORDERFLEET_HANDLER_ABI);
        return -1;
    }
    if (adapter_open(h, v1, NULL, cfg, why, sizeof(why)) != 0) {
        snprintf(errstr, errsize, "handler %s: %s", v1->name ? v1->name : "unnamed", why);
        return -1;
    }
    return 0;
}

/* dlerror()'s message, without the "path: " it usually starts with (the
 * caller's message names the path already). */
static const char *dl_reason(const char *path) {
    const char *msg = dlerror();
    if (!msg) return "unknown dynamic loader error";
    size_t n = strlen(path);
    if (strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ') msg += n + 2;
    return msg;
}

/* Loads the library named by handler.library and checks everything between
 * dlopen and a ready handler, naming the path and the step in any error. The
 * entry point comes out of dlsym() as a void *; POSIX guarantees that
 * converting it to a function pointer works. */
int handler_load(handler *h, const of_config *cfg, char *errstr, size_t errsize) {
    const char *path = cfg->handler_library;
    char why[512];
    memset(h, 0, sizeof(*h));
    if (!path || !path[0])
        return handler_open_v1(h, fulfillment_handler_v1(), cfg, errstr, errsize);

    dlerror(); /* clear any earlier error */
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        snprintf(errstr, errsize, "handler.library \"%s\": cannot load it: %s", path,
                 dl_reason(path));
        return -1;
    }
    void *sym = dlsym(dl, ENTRY_POINT);
    if (!sym) {
        snprintf(errstr, errsize,
                 "handler.library \"%s\": not an orderfleet handler: it does not export %s() "
                 "(see consumer/orderfleet_handler.h)",
                 path, ENTRY_POINT);
        goto err;
    }
    entry_point entry = (entry_point)sym;
    const struct orderfleet_handler_v1 *v1 = entry();
    if (!v1) {
        snprintf(errstr, errsize, "handler.library \"%s\": %s() returned NULL", path, ENTRY_POINT);
        goto err;
    }
    if (v1->abi_version != ORDERFLEET_HANDLER_ABI) {
        snprintf(errstr, errsize,
                 "handler.library \"%s\": built for handler ABI %" PRIu32
                 ", this order-worker speaks ABI %d: rebuild it against this version's "
                 "consumer/orderfleet_handler.h",
                 path, v1->abi_version, ORDERFLEET_HANDLER_ABI);
        goto err;
    }
    if (!v1->handle) {
        snprintf(errstr, errsize, "handler.library \"%s\": its handle function is NULL", path);
        goto err;
    }
    if (adapter_open(h, v1, dl, cfg, why, sizeof(why)) != 0) {
        snprintf(errstr, errsize, "handler.library \"%s\": handler %s: %s", path,
                 v1->name ? v1->name : "unnamed", why);
        goto err;
    }
    return 0;
err:
    dlclose(dl);
    return -1;
}

void handler_unload(handler *h) {
    if (h->fini) h->fini(h->state);
    memset(h, 0, sizeof(*h));
}
