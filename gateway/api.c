#define _GNU_SOURCE /* strcasecmp, strncasecmp */
#include "gateway/api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <jansson.h>
#include <microhttpd.h>

#include "common/ids.h"
#include "common/logfmt.h"
#include "common/ops.h"
#include "common/order_json.h"
#include "common/prefer.h"
#include "common/recent.h"
#include "common/timeutil.h"
#include "common/trace.h"
#include "gateway/auth.h"
#include "gateway/callback.h"
#include "gateway/fleet.h"
#include "gateway/gateway_metrics.h"
#include "gateway/limits.h"
#include "gateway/page_assets.h"
#include "gateway/route.h"
#include "gateway/sse.h"

#define ORDERS_PATH ROUTE_ORDERS_PATH
#define ORDER_ID_MAX ROUTE_ORDER_ID_MAX
#define IDEMPOTENCY_KEY_MAX 255
/* Retry-After seconds: for a pending order, and for a busy or cut-off
 * gateway. */
#define RETRY_PENDING_S 1
#define RETRY_UNAVAILABLE_S 5
/* An idle keep-alive connection is closed after this many seconds; a
 * suspended one never times out (its wait has its own deadline). */
#define IDLE_TIMEOUT_S 30
/* Connections beyond gateway.max_waiting, so a full gateway can still
 * answer 503 and serve GETs. */
#define SPARE_CONNECTIONS 512
/* Connections the daemon takes beyond gateway.max_connections, only to
 * answer them 503 and close them. */
#define REFUSE_HEADROOM 64

#define PROBLEM_TYPE "urn:orderfleet:problem:"
/* A body up to this many times gateway.max_body is read and dropped before
 * its 413, so the client gets the answer rather than a reset; a larger one
 * is answered before it is read. */
#define DISCARD_FACTOR 16ULL

/* One order some connections wait for: the requester's waiter. Owned by
 * the api, in the `waiting` map by order id, freed with its report. */
typedef struct waiting_order {
    struct api_request *waiters; /* the connections, linked by next_waiter */
    char *idempotency_key;       /* the first request's key, or NULL; owned */
    uint64_t body_hash;          /* of the first request's body */
    char order_id[];
} waiting_order;

/* What an Idempotency-Key's order became, as far as this gateway knows: the
 * state byte of its entry (see idempotency_remember()). */
#define KEY_SENT 'S'         /* published, no report yet */
#define KEY_PLACED 'P'       /* Kafka has it (acknowledged, or it was answered) */
#define KEY_NOT_PLACED 'N'   /* Kafka certainly does not have it */
#define KEY_MAYBE_PLACED 'M' /* sent, never acknowledged: Kafka may have it */

/* One HTTP request, from its first handler call until MHD reports it
 * completed. Owned by the api (MHD's per-connection pointer). */
typedef struct api_request {
    struct MHD_Connection *conn;
    struct api_request *next_waiter;
    int64_t started_us;
    route rt; /* what the path names, set by the first call */
    char *body; /* the POST body, NUL-terminated, grown up to gateway.max_body */
    size_t len, cap;
    int too_large;
    int suspended;
    struct prefer pref;
    unsigned applied; /* PREFER_* honoured, for Preference-Applied */
    int wait_s;       /* the wait used, in seconds, for Preference-Applied */
    /* The prepared answer, sent when the request is resumed. */
    unsigned status;
    char *answer; /* body, malloc'd */
    const char *answer_type;
    char location[sizeof(ORDERS_PATH) + ORDER_ID_MAX + 2];
    int retry_after; /* seconds, 0: none */
    const char *www_authenticate; /* a 401's WWW-Authenticate (a literal), or NULL */
    char order_id[ORDER_ID_MAX + 1];
} api_request;

struct api {
    const of_config *cfg;
    gmetrics *metrics; /* borrowed */
    requester_t *req;
    history_t *hist;
    struct MHD_Daemon *daemon;
    recent_t *waiting;     /* order id -> waiting_order * (the pointer's bytes) */
    recent_t *idempotency; /* Idempotency-Key -> body hash (8 bytes) + order id */
    sse_t *sse;            /* GET /v1/orders/{id}/events (gateway/sse.h) */
    fleet_t *fleet;        /* GET /v1/fleet (gateway/fleet.h) */
    callback_t *callbacks; /* callbackUrl deliveries (gateway/callback.h); borrowed, NULL: off */
    auth_t *auth;          /* API keys (gateway/auth.h); NULL: open access */
    limits_t *limits;      /* request time limit (gateway/limits.h) */
    int stopping;          /* api_quiesce() was called */
    unsigned active;       /* requests begun and not yet completed */
    api_stats st;
};

/* ---- answers ------------------------------------------------------------ */

/* Prepares the answer of rq: status, body (taken over) and its type. */
static void prepare(api_request *rq, unsigned status, char *body, const char *type) {
    free(rq->answer);
    rq->status = status;
    rq->answer = body;
    rq->answer_type = type;
}

static const char *status_title(unsigned status) {
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

/* Prepares an application/problem+json answer (RFC 9457). extra (may be
 * NULL) holds extension members, taken over. */
static void problem(api_request *rq, unsigned status, const char *slug, json_t *extra,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void problem(api_request *rq, unsigned status, const char *slug, json_t *extra,
                    const char *fmt, ...) {
    char detail[1024], type[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    snprintf(type, sizeof(type), PROBLEM_TYPE "%s", slug);
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "title", json_string(status_title(status)));
    json_object_set_new(o, "status", json_integer(status));
    /* detail may hold a user's bytes cut mid-character: never fail on it */
    json_t *d = json_string(detail);
    json_object_set_new(o, "detail", d ? d : json_string("(detail not valid UTF-8)"));
    if (extra) json_object_update(o, extra);
    json_decref(extra);
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    prepare(rq, status, body, "application/problem+json");
}

static void set_location(api_request *rq, const char *order_id) {
    snprintf(rq->location, sizeof(rq->location), ORDERS_PATH "/%s", order_id);
}

/* 202: the order is placed, its outcome not known yet. */
static void accepted(api_request *rq, const char *order_id) {
    set_location(rq, order_id);
    rq->retry_after = RETRY_PENDING_S;
    json_t *o = json_pack("{s:s, s:s, s:s}", "orderId", order_id, "state", "accepted",
                          "location", rq->location);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    prepare(rq, 202, body, "application/json");
}

/* 200/201 with the outcome's JSON. */
static void with_outcome(api_request *rq, unsigned status, const char *order_id,
                         const char *json, size_t len) {
    set_location(rq, order_id);
    char *body = strndup(json, len);
    prepare(rq, status, body, "application/json");
}

static enum MHD_Result add_header(struct MHD_Response *resp, const char *name,
                                  const char *value) {
    return MHD_add_response_header(resp, name, value);
}

/* Queues rq's prepared answer on its connection, with the headers it
 * calls for. */
static enum MHD_Result send_answer(api_t *api, api_request *rq) {
    if (!rq->answer) problem(rq, 500, "internal", NULL, "the gateway ran out of memory");
    const char *body = rq->answer ? rq->answer : "";
    size_t len = strlen(body);
    char *copy = rq->answer;
    rq->answer = NULL; /* the response frees it */
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(len, (void *)body, free);
    if (!resp) {
        free(copy);
        return MHD_NO;
    }
    add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rq->answer_type ? rq->answer_type : "text/plain");
    add_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (rq->location[0]) add_header(resp, MHD_HTTP_HEADER_LOCATION, rq->location);
    if (rq->retry_after > 0) {
        char s[16];
        snprintf(s, sizeof(s), "%d", rq->retry_after);
        add_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, s);
    }
    if (rq->applied) {
        struct prefer used = rq->pref;
        used.wait_s = rq->wait_s;
        char s[64];
        if (prefer_applied(&used, rq->applied, s, sizeof(s)) > 0)
            add_header(resp, "Preference-Applied", s);
    }
    if (rq->status == 401 && rq->www_authenticate)
        add_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, rq->www_authenticate);
    if (rq->status == 405)
        add_header(resp, MHD_HTTP_HEADER_ALLOW, rq->rt.kind == ROUTE_ORDERS ? "POST" : "GET, HEAD");
    if (rq->rt.kind == ROUTE_ORDERS) add_header(resp, MHD_HTTP_HEADER_VARY, "Prefer");
    /* A stopping gateway closes each connection after its answer, so no
     * idle keep-alive connection holds up the exit. */
    if (api->stopping) add_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ok = MHD_queue_response(rq->conn, rq->status, resp);
    MHD_destroy_response(resp);
    api->st.requests++;
    api->st.by_class[rq->status / 100 < 6 ? rq->status / 100 : 5]++;
    return ok;
}

/* ---- routing ------------------------------------------------------------ */

/* application/json, with or without parameters (charset=utf-8). */
static int media_type_json(const char *ct) {
    if (!ct) return 0;
    while (*ct == ' ' || *ct == '\t') ct++;
    size_t n = strlen("application/json");
    if (strncasecmp(ct, "application/json", n) != 0) return 0;
    char next = ct[n];
    return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

static enum MHD_Result collect_prefer(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value) {
    (void)kind;
    if (strcasecmp(key, MHD_HTTP_HEADER_PREFER) == 0 && value) prefer_parse(cls, value);
    return MHD_YES;
}

/* ---- waiting orders ----------------------------------------------------- */

static waiting_order *waiting_find(const api_t *api, const char *order_id) {
    const void *v = NULL;
    size_t len = 0;
    if (recent_get(api->waiting, order_id, strlen(order_id), &v, &len) != RECENT_OK ||
        len != sizeof(waiting_order *))
        return NULL;
    waiting_order *wo;
    memcpy(&wo, v, sizeof(wo));
    return wo;
}

static void suspend_on(api_t *api, api_request *rq, waiting_order *wo) {
    rq->next_waiter = wo->waiters;
    wo->waiters = rq;
    rq->suspended = 1;
    api->st.waiting++;
    MHD_suspend_connection(rq->conn);
}

/* Stores key -> body hash (8 bytes), state (KEY_*, 1 byte), order id. A
 * full map forgets its oldest keys first. */
#define KEY_HEAD (sizeof(uint64_t) + 1)
static void idempotency_remember(api_t *api, const char *key, uint64_t hash, char state,
                                 const char *order_id) {
    size_t idlen = strlen(order_id);
    char value[KEY_HEAD + ORDER_ID_MAX];
    memcpy(value, &hash, sizeof(hash));
    value[sizeof(hash)] = state;
    memcpy(value + KEY_HEAD, order_id, idlen);
    (void)recent_put(api->idempotency, key, strlen(key), value, KEY_HEAD + idlen);
}

void api_on_report(const request_report *report, void *ctx) {
    api_t *api = ctx;
    waiting_order *wo = report->waiter;
    char *json = NULL;
    gmetrics_report(api->metrics, report);
    if (report->outcome) {
        history_completed(api->hist, report->outcome);
        json = orderjson_completed_dump(report->outcome);
    } else if (report->acknowledged) {
        history_accepted(api->hist, wo->order_id);
    } else if (!report->maybe_placed) {
        callback_cancel(api->callbacks, wo->order_id); /* certainly not placed */
    }
    if (wo->idempotency_key)
        idempotency_remember(api, wo->idempotency_key, wo->body_hash,
                             report->acknowledged    ? KEY_PLACED
                             : report->maybe_placed  ? KEY_MAYBE_PLACED
                                                     : KEY_NOT_PLACED,
                             wo->order_id);
    for (api_request *rq = wo->waiters, *next; rq; rq = next) {
        next = rq->next_waiter;
        switch (report->result) {
        case REQUEST_REPLIED:
        case REQUEST_FAILED:
            if (json) with_outcome(rq, 201, wo->order_id, json, strlen(json));
            else problem(rq, 500, "internal", NULL, "the gateway ran out of memory");
            break;
        case REQUEST_TIMED_OUT:
        case REQUEST_SHUTDOWN: accepted(rq, wo->order_id); break;
        case REQUEST_NOT_SENT:
            rq->retry_after = RETRY_UNAVAILABLE_S;
            problem(rq, 503, "kafka-unavailable", json_pack("{s:s}", "orderId", wo->order_id),
                    "Kafka did not acknowledge order %s: %s; %s", wo->order_id,
                    report->error ? report->error : "unknown error",
                    report->maybe_placed
                        ? "it may have been placed all the same: retry with the same "
                          "Idempotency-Key (or orderId), never without"
                        : "it was not placed: retry");
            break;
        case REQUEST_BAD_REPLY:
            set_location(rq, wo->order_id);
            problem(rq, 502, "bad-reply", json_pack("{s:s}", "orderId", wo->order_id),
                    "order %s was placed, but its reply was unusable: %s", wo->order_id,
                    report->error ? report->error : "unknown error");
            break;
        }
        rq->next_waiter = NULL;
        rq->suspended = 0;
        api->st.waiting--;
        MHD_resume_connection(rq->conn);
    }
    free(json);
    /* The index names this order's current wait, unless a later one (after
     * a NOT_SENT, say) took the id: then that one stays. */
    if (waiting_find(api, wo->order_id) == wo)
        recent_del(api->waiting, wo->order_id, strlen(wo->order_id));
    free(wo->idempotency_key);
    free(wo);
}

/* ---- POST /v1/orders ---------------------------------------------------- */

/* The wait this request gets, from Prefer or the default, in ms; notes
 * what was honoured for Preference-Applied. */
static int64_t wait_for(api_t *api, api_request *rq) {
    if (rq->pref.respond_async) {
        rq->applied |= PREFER_RESPOND_ASYNC;
        return 0;
    }
    if (rq->pref.wait_s >= 0) {
        int64_t ms = (int64_t)rq->pref.wait_s * 1000;
        if (ms > api->cfg->gateway_max_wait_ms) ms = api->cfg->gateway_max_wait_ms;
        rq->applied |= PREFER_WAIT;
        rq->wait_s = (int)(ms / 1000);
        return ms;
    }
    return api->cfg->gateway_wait_ms;
}

/* The schema violations of a parsed body, as problem extension members:
 * {"errors":[{"field":"items[0].quantity","reason":"..."}, ...]}. */
static json_t *violations_json(const orderjson_errors *errs) {
    json_t *list = json_array();
    for (size_t i = 0; i < errs->count; i++) {
        json_t *f = json_string(errs->v[i].field);
        json_t *r = json_string(errs->v[i].reason);
        json_array_append_new(list, json_pack("{s:o, s:o}", "field", f ? f : json_string("?"),
                                              "reason", r ? r : json_string("?")));
    }
    return json_pack("{s:o, s:I}", "errors", list, "errorCount", (json_int_t)errs->total);
}

/* The order's callbackUrl (gateway/callback.h): taken out of the body, so
 * the strict order parser never sees it, and checked against
 * gateway.callback_hosts. Returns 1 when a problem is prepared (the order
 * is not placed); else *url (NULL: none) and *stripped (NULL: parse the
 * body as sent; else *len bytes) are malloc'd, the caller's to free. */
static int take_callback(api_t *api, api_request *rq, char **url, char **stripped,
                         size_t *len) {
    char why[512];
    size_t rest_len = 0;
    int rc = callback_take_url(rq->body ? rq->body : "", rq->len, url, stripped, &rest_len, why,
                               sizeof(why));
    if (rc == CALLBACK_OK && *stripped) *len = rest_len;
    if (rc == CALLBACK_OK && *url) rc = callback_check(api->callbacks, *url, why, sizeof(why));
    if (rc == CALLBACK_OK) return 0;
    free(*url);
    free(*stripped);
    *url = *stripped = NULL;
    if (rc == CALLBACK_DISABLED)
        problem(rq, 422, "callbacks-disabled", NULL,
                "%s: the order was not placed; place it without callbackUrl and ask GET %s/{id}",
                why, ORDERS_PATH);
    else if (rc == CALLBACK_HOST_DENIED)
        problem(rq, 422, "callback-host-not-allowed", NULL, "%s; the order was not placed", why);
    else if (rc == CALLBACK_BAD_URL)
        problem(rq, 400, "invalid-order",
                json_pack("{s:[{s:s, s:s}], s:i}", "errors", "field", "callbackUrl", "reason",
                          why, "errorCount", 1),
                "callbackUrl: %s", why);
    else
        problem(rq, 500, "internal", NULL, "the gateway ran out of memory");
    return 1;
}

static void place_order(api_t *api, api_request *rq) {
    if (rq->too_large) {
        problem(rq, 413, "body-too-large", NULL, "the body is larger than %d bytes",
                api->cfg->gateway_max_body);
        return;
    }
    if (api->stopping) {
        rq->retry_after = 1;
        problem(rq, 503, "stopping", NULL,
                "the gateway is stopping and takes no new orders; retry (another instance "
                "will answer)");
        return;
    }
    if (!requester_ready(api->req) || !history_ready(api->hist)) {
        rq->retry_after = 1;
        problem(rq, 503, "not-ready", NULL, "the gateway is starting: its reply consumer or "
                                            "history is not positioned yet");
        return;
    }
    if (requester_failed(api->req)) {
        rq->retry_after = RETRY_UNAVAILABLE_S;
        problem(rq, 503, "kafka-unavailable", NULL,
                "the gateway's producer failed fatally and takes no orders; use another "
                "instance");
        return;
    }
    if (!requester_kafka_up(api->req)) {
        rq->retry_after = RETRY_UNAVAILABLE_S;
        problem(rq, 503, "kafka-unavailable", NULL,
                "Kafka is unreachable: no broker connection; the order was not placed");
        return;
    }
    char *cb_url = NULL, *stripped = NULL;
    size_t text_len = rq->len;
    if (take_callback(api, rq, &cb_url, &stripped, &text_len)) return;
    orderjson_errors errs;
    order_placed_t *order = NULL;
    int parsed = orderjson_parse_placed_all(stripped ? stripped : rq->body ? rq->body : "",
                                            text_len, &order, &errs);
    free(stripped);
    if (parsed != ORDERJSON_OK) {
        free(cb_url);
        if (errs.malformed)
            problem(rq, 400, "malformed-json",
                    json_pack("{s:i, s:i}", "line", errs.line, "column", errs.column),
                    "the body is not valid JSON: %s", errs.first);
        else
            problem(rq, 400, "invalid-order", violations_json(&errs),
                    "the order breaks the schema in %zu place%s: %s", errs.total,
                    errs.total == 1 ? "" : "s", errs.first);
        return;
    }

    const char *key = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Idempotency-Key");
    uint64_t hash = recent_hash64(rq->body ? rq->body : "", rq->len);
    if (key && (strlen(key) == 0 || strlen(key) > IDEMPOTENCY_KEY_MAX)) {
        problem(rq, 400, "invalid-idempotency-key", NULL,
                "Idempotency-Key must be 1 to %d characters", IDEMPOTENCY_KEY_MAX);
        goto done;
    }
    char order_id[ORDER_ID_MAX + 1] = "";
    const void *known = NULL;
    size_t known_len = 0;
    int key_known = 0; /* a retry: its order was looked up already */
    if (key && recent_get(api->idempotency, key, strlen(key), &known, &known_len) == RECENT_OK &&
        known_len > KEY_HEAD) {
        key_known = 1;
        uint64_t first;
        memcpy(&first, known, sizeof(first));
        char key_state = ((const char *)known)[sizeof(first)];
        if (first != hash) {
            problem(rq, 422, "idempotency-key-reused", NULL,
                    "Idempotency-Key \"%s\" was used for a different request body", key);
            goto done;
        }
        size_t idlen = known_len - KEY_HEAD;
        memcpy(order_id, (const char *)known + KEY_HEAD, idlen);
        order_id[idlen] = '\0';
        api->st.idempotent_hits++;
        /* The same order: join its wait, or answer what is known. */
        waiting_order *wo = waiting_find(api, order_id);
        const char *json;
        size_t len;
        int state = history_lookup(api->hist, order_id, &json, &len);
        if (wo) {
            suspend_on(api, rq, wo);
            goto done;
        }
        if (state == HISTORY_COMPLETED) {
            with_outcome(rq, 201, order_id, json, len);
            goto done;
        }
        if (state == HISTORY_ACCEPTED || key_state == KEY_PLACED) {
            accepted(rq, order_id);
            goto done;
        }
        /* Not placed, or perhaps not: send it again, under the same order id,
         * so that even a first attempt that did land stays one order. */
    } else if (order->order_id && *order->order_id) {
        if (!id_order_valid(order->order_id, strlen(order->order_id))) {
            problem(rq, 400, "invalid-order",
                    json_pack("{s:[{s:s, s:s}], s:i}", "errors", "field", "orderId", "reason",
                              "1 to 128 characters of A-Z a-z 0-9 - . _ ~", "errorCount", 1),
                    "orderId: must be 1 to %d characters of A-Z a-z 0-9 - . _ ~", ORDER_ID_MAX);
            goto done;
        }
        snprintf(order_id, sizeof(order_id), "%s", order->order_id);
    } else {
        id_uuid7(order_id);
    }
    /* A second POST of an order already waiting here joins its wait; one
     * whose id the history knows is answered from it, not placed again: an
     * orderId chosen by the client is idempotent across gateway instances
     * and restarts, as far back as the history reaches. */
    waiting_order *wo = waiting_find(api, order_id);
    if (wo) {
        suspend_on(api, rq, wo);
        goto done;
    }
    if (!key_known) {
        const char *json;
        size_t len;
        int state = history_lookup(api->hist, order_id, &json, &len);
        if (state == HISTORY_COMPLETED) {
            with_outcome(rq, 201, order_id, json, len);
            goto done;
        }
        if (state == HISTORY_ACCEPTED) {
            accepted(rq, order_id);
            goto done;
        }
    }
    size_t idlen = strlen(order_id);
    wo = calloc(1, sizeof(*wo) + idlen + 1);
    if (!wo) {
        problem(rq, 500, "internal", NULL, "the gateway ran out of memory");
        goto done;
    }
    memcpy(wo->order_id, order_id, idlen + 1);
    wo->body_hash = hash;
    if (key && !(wo->idempotency_key = strdup(key))) {
        free(wo);
        problem(rq, 500, "internal", NULL, "the gateway ran out of memory");
        goto done;
    }
    char *orig_id = order->order_id;
    order->order_id = wo->order_id;
    char why[256] = "";
    int64_t wait_ms = wait_for(api, rq);
    /* The caller's trace, when it sent one, is continued by the order's
     * record, and so by its outcome and reply (W3C Trace Context). */
    const char *trace_parent =
        MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "traceparent");
    /* With a callback, the trace is known here (a new one when the caller
     * sent none), so the callback continues the order's trace. */
    char own_trace[TRACE_PARENT_LEN + 1];
    if (cb_url && !(trace_parent && trace_valid(trace_parent, strlen(trace_parent)))) {
        trace_new(own_trace);
        trace_parent = own_trace;
    }
    int rc = requester_send(api->req, order, trace_parent, wait_ms, wo, why, sizeof(why));
    order->order_id = orig_id;
    if (rc != REQUESTER_OK) {
        free(wo->idempotency_key);
        free(wo);
        rq->retry_after = RETRY_UNAVAILABLE_S;
        if (rc == REQUESTER_FULL)
            problem(rq, 503, "busy", NULL,
                    "too many requests are waiting for their outcome (%d); retry later",
                    api->cfg->gateway_max_waiting);
        else if (rc == REQUESTER_NOT_READY)
            problem(rq, 503, "not-ready", NULL, "the reply consumer is not positioned yet");
        else
            problem(rq, 503, "kafka-unavailable", NULL, "the order was not placed: %s", why);
        goto done;
    }
    void *ptr = wo;
    if (recent_put(api->waiting, order_id, idlen, &ptr, sizeof(ptr)) != RECENT_OK) {
        /* Cannot happen while the map is larger than max_waiting; the
         * report still comes, and frees wo, so only joining is lost. */
        log_error("cannot index a waiting order", "order_id=%s", order_id);
    }
    if (key) idempotency_remember(api, key, hash, KEY_SENT, order_id);
    if (cb_url && callback_expect(api->callbacks, order_id, cb_url, trace_parent) !=
                            CALLBACK_OK)
        log_error("order placed, but its callback is lost: out of memory", "order_id=%s",
                  order_id);
    api->st.orders_placed++;
    snprintf(rq->order_id, sizeof(rq->order_id), "%s", order_id);
    suspend_on(api, rq, wo);
done:
    free(cb_url);
    codec_placed_free(order);
}

/* ---- GET /v1/orders/{id} ------------------------------------------------ */

/* A path segment as the client could type it back: printable ASCII as it
 * is, every other byte (MHD has decoded the path: it may be anything,
 * invalid UTF-8 included), '%' and '"' percent-encoded; cut to fit. */
static void quote_segment(const char *in, char *out, size_t size) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 <= size; p++) {
        if (*p > 0x20 && *p < 0x7f && *p != '%' && *p != '"') {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
}

static void get_order(api_t *api, api_request *rq) {
    const char *id = rq->rt.order_id;
    if (rq->rt.bad_id) {
        char quoted[3 * ORDER_ID_MAX + 1];
        quote_segment(id, quoted, sizeof(quoted));
        problem(rq, 404, "unknown-order", NULL,
                "no order has the id \"%s\": ids are 1 to %d characters of A-Z a-z 0-9 - . _ ~",
                quoted, ORDER_ID_MAX);
        return;
    }
    snprintf(rq->order_id, sizeof(rq->order_id), "%s", id);
    const char *json;
    size_t len;
    int state = history_lookup(api->hist, id, &json, &len);
    if (state == HISTORY_COMPLETED) {
        with_outcome(rq, 200, id, json, len);
        rq->location[0] = '\0';
    } else if (state == HISTORY_ACCEPTED || waiting_find(api, id)) {
        accepted(rq, id);
    } else {
        problem(rq, 404, "unknown-order", NULL,
                "order %s is not known here: never placed, or older than this gateway's "
                "history (gateway.history_s, gateway.outcomes)",
                id);
    }
}

/* ---- the buzzer: events, the fleet panel, the page (docs/buzzer.md) ---- */

/* GET /v1/orders/{id}/events: a stream when the order is known (its
 * outcome at once, or a wait for it), else 404; 503 when
 * gateway.max_streams are open or the gateway stops. */
static enum MHD_Result order_events(api_t *api, api_request *rq) {
    const char *id = rq->rt.order_id;
    const char *json = NULL;
    size_t len = 0;
    int state = rq->rt.bad_id ? HISTORY_UNKNOWN : history_lookup(api->hist, id, &json, &len);
    if (state == HISTORY_UNKNOWN && (rq->rt.bad_id || !waiting_find(api, id))) {
        get_order(api, rq); /* its 404, worded for the id */
        return send_answer(api, rq);
    }
    snprintf(rq->order_id, sizeof(rq->order_id), "%s", id);
    int rc = sse_open(api->sse, rq->conn, id, state == HISTORY_COMPLETED ? json : NULL, len);
    if (rc == SSE_OK) {
        rq->status = 200;
        api->st.requests++;
        api->st.by_class[2]++;
        return MHD_YES;
    }
    if (rc == SSE_ERR) return MHD_NO; /* out of memory: the connection closes */
    if (rc == SSE_FULL) {
        rq->retry_after = RETRY_UNAVAILABLE_S;
        problem(rq, 503, "busy", NULL, "too many event streams are open (%d); retry later",
                api->cfg->gateway_max_streams);
    } else {
        rq->retry_after = 1;
        problem(rq, 503, "stopping", NULL, "the gateway is stopping");
    }
    return send_answer(api, rq);
}

/* GET /v1/fleet: the live panel's JSON. */
static void fleet_answer(api_t *api, api_request *rq) {
    char *json = fleet_json(api->fleet, api->st.waiting, sse_count(api->sse));
    prepare(rq, 200, json, "application/json"); /* NULL: send_answer's 500 */
}

/* GET /, /page/app.js, /page/style.css: the embedded page, with headers
 * that keep it fresh and its scripts and styles its own. */
static enum MHD_Result serve_page(api_t *api, api_request *rq) {
    const page_asset *a = &page_assets[rq->rt.asset];
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
    add_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    add_header(resp, "Content-Security-Policy", "default-src 'self'");
    add_header(resp, "X-Content-Type-Options", "nosniff");
    if (api->stopping) add_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    rq->status = 200;
    enum MHD_Result ok = MHD_queue_response(rq->conn, rq->status, resp);
    MHD_destroy_response(resp);
    api->st.requests++;
    api->st.by_class[2]++;
    return ok;
}

/* ---- access control and limits (docs/security.md) ---------------------- */

/* The connection's request-time entry (gateway/limits.h), or NULL. */
static limits_conn *conn_limits(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* MHD's connection start and end: the request-time entry of each. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
    api_t *api = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = NULL;
        if (!ci) return;
        if ((*socket_context = limits_refuse(api->limits, ci->connect_fd))) {
            /* 503 sent; whatever it had sent is never served (limits_live) */
            log_debug("connection refused: gateway.max_connections reached", NULL);
            return;
        }
        *socket_context = limits_open(api->limits, ci->connect_fd, time_mono_us());
    } else {
        limits_close(api->limits, *socket_context);
        *socket_context = NULL;
    }
}

/* Access control of a request whose headers are in: with API keys, a path
 * that needs a scope (auth_scope_for()) needs a key that has it. Returns 1
 * with a 401 or 403 prepared when refused. Cost: a SHA-256 and a compare
 * per key in the file, for the API's routes only. */
static int authorize(api_t *api, api_request *rq, const char *url) {
    if (!api->auth) return 0;
    unsigned need = auth_scope_for(url);
    const char *key = NULL, *name = NULL;
    size_t len = 0;
    int presented = auth_presented(
        MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
        MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "X-API-Key"), &key, &len);
    auth_verdict v = auth_check(api->auth, need, presented ? key : NULL, len, &name);
    if (v == AUTH_ALLOWED) return 0;
    (void)route_parse(url, &rq->rt); /* the route of the metrics and the access log */
    switch (v) {
    case AUTH_ALLOWED: return 0;
    case AUTH_UNAUTHENTICATED:
        rq->www_authenticate = presented ? "Bearer realm=\"orderfleet\", error=\"invalid_token\""
                                         : "Bearer realm=\"orderfleet\"";
        if (presented)
            problem(rq, 401, "unauthorized", NULL, "the API key presented for %s is not valid",
                    url);
        else
            problem(rq, 401, "unauthorized", NULL,
                    "%s needs an API key: Authorization: Bearer <key>, or X-API-Key: <key>", url);
        break;
    case AUTH_FORBIDDEN:
        problem(rq, 403, "forbidden", json_pack("{s:s}", "scope", auth_scope_name(need)),
                "API key \"%s\" lacks the scope %s, which %s needs", name,
                auth_scope_name(need), url);
        break;
    }
    gmetrics_auth_refused(api->metrics, rq->status);
    return 1;
}

/* Loads gateway.api_keys_file, when set, into api->auth. */
static int load_keys(api_t *api, char *errstr, size_t errsize) {
    if (!api->cfg->gateway_api_keys_file[0]) return API_OK;
    auth_t *a = auth_load(api->cfg->gateway_api_keys_file, errstr, errsize);
    if (!a) return API_ERR;
    auth_free(api->auth);
    api->auth = a;
    return API_OK;
}

int api_reload_keys(api_t *api, char *errstr, size_t errsize) {
    return load_keys(api, errstr, errsize);
}

size_t api_keys(const api_t *api) { return auth_count(api->auth); }

/* ---- the MHD handler ---------------------------------------------------- */

static void answer_text(api_request *rq, unsigned status, const char *text) {
    prepare(rq, status, strdup(text), "text/plain; charset=utf-8");
}

/* First call for a request: routes it and rejects what can be rejected
 * from the headers alone. Returns 1 when an answer is prepared. */
static int on_headers(api_t *api, api_request *rq, const char *url, const char *method) {
    int is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (authorize(api, rq, url)) return 1;
    switch (route_parse(url, &rq->rt)) {
    case ROUTE_NONE:
        problem(rq, 404, "not-found", NULL, "no resource at %s: the API is POST %s and GET %s/{id}",
                url, ORDERS_PATH, ORDERS_PATH);
        return 1;
    case ROUTE_HEALTHZ:
    case ROUTE_READYZ:
    case ROUTE_ORDER:
    case ROUTE_ORDER_EVENTS:
    case ROUTE_FLEET:
    case ROUTE_PAGE:
        if (!is_get) {
            problem(rq, 405, "method-not-allowed", NULL, "%s does not take %s: use GET", url,
                    method);
            return 1;
        }
        return 0;
    case ROUTE_ORDERS: break;
    }
    if (strcmp(method, "POST") != 0) {
        problem(rq, 405, "method-not-allowed", NULL, "%s takes POST only, not %s", url, method);
        return 1;
    }
    prefer_init(&rq->pref);
    MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, collect_prefer, &rq->pref);
    const char *ct = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!media_type_json(ct)) {
        problem(rq, 415, "unsupported-media-type", NULL,
                "Content-Type must be application/json, not %s", ct ? ct : "absent");
        return 1;
    }
    const char *cl = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long length = cl ? strtoull(cl, NULL, 10) : 0;
    unsigned long long limit = (unsigned long long)api->cfg->gateway_max_body;
    if (length > limit * DISCARD_FACTOR) {
        /* Too large to read through: answered at once, the body unread (the
         * connection closes; a client still sending may see a reset). */
        problem(rq, 413, "body-too-large", NULL, "the body is %s bytes, more than the %d allowed",
                cl, api->cfg->gateway_max_body);
        return 1;
    }
    if (length > limit) rq->too_large = 1; /* read and dropped, then 413 */
    return 0;
}

/* Appends a piece of the body, discarding what goes past the limit. */
static void on_body(api_t *api, api_request *rq, const char *data, size_t size) {
    if (rq->too_large) return;
    size_t limit = (size_t)api->cfg->gateway_max_body;
    if (rq->len + size > limit) {
        rq->too_large = 1;
        free(rq->body);
        rq->body = NULL;
        rq->len = rq->cap = 0;
        return;
    }
    if (rq->len + size + 1 > rq->cap) {
        size_t cap = rq->cap ? rq->cap * 2 : 1024;
        while (cap < rq->len + size + 1) cap *= 2;
        if (cap > limit + 1) cap = limit + 1;
        char *b = realloc(rq->body, cap);
        if (!b) {
            rq->too_large = 1; /* answered 413: the closest truth we can tell */
            return;
        }
        rq->body = b;
        rq->cap = cap;
    }
    memcpy(rq->body + rq->len, data, size);
    rq->len += size;
    rq->body[rq->len] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    api_t *api = cls;
    api_request *rq = *con_cls;
    (void)version;
    /* refused, answered 408 or cut off: the client was told it was not
     * served, so nothing it sent is (the connection closes) */
    if (!limits_live(conn_limits(conn))) return MHD_NO;
    if (!rq) {
        rq = calloc(1, sizeof(*rq));
        if (!rq) return MHD_NO;
        rq->conn = conn;
        rq->started_us = time_mono_us();
        *con_cls = rq;
        api->active++;
        limits_headers_in(api->limits, conn_limits(conn));
        if (on_headers(api, rq, url, method)) return send_answer(api, rq);
        return MHD_YES; /* the body, if any, comes next */
    }
    if (*upload_data_size == 0) limits_request_in(api->limits, conn_limits(conn));
    if (rq->status) return send_answer(api, rq); /* resumed with its answer */
    if (*upload_data_size > 0) {
        on_body(api, rq, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    switch (rq->rt.kind) {
    case ROUTE_ORDERS: place_order(api, rq); break;
    case ROUTE_ORDER: get_order(api, rq); break;
    case ROUTE_ORDER_EVENTS: return order_events(api, rq);
    case ROUTE_FLEET: fleet_answer(api, rq); break;
    case ROUTE_PAGE: return serve_page(api, rq);
    case ROUTE_HEALTHZ: answer_text(rq, 200, "ok\n"); break;
    case ROUTE_READYZ: {
        const char *why = api_not_ready(api);
        char text[128];
        snprintf(text, sizeof(text), "not ready: %s\n", why ? why : "");
        answer_text(rq, why ? 503 : 200, why ? text : "ready\n");
        break;
    }
    default: problem(rq, 404, "not-found", NULL, "no resource at %s", url); break;
    }
    if (rq->suspended) return MHD_YES; /* answered when its report comes */
    return send_answer(api, rq);
}

/* MHD's end of a request, answered or not: the access log line, and rq is
 * freed. A request still suspended here can only be a daemon being torn
 * down, after every wait was reported. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    api_t *api = cls;
    api_request *rq = *con_cls;
    limits_request_done(api->limits, conn_limits(conn), time_mono_us());
    if (!rq) return;
    int64_t us = time_mono_us() - rq->started_us;
    gmetrics_request(api->metrics, route_label(rq->rt.kind),
                     toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? rq->status : 0, us);
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        log_info("request ended early", "status=%u order_id=%s termination=%d latency_us=%lld",
                 rq->status, rq->order_id, (int)toe, (long long)us);
    else if (rq->status >= 500)
        log_warn("request", "status=%u order_id=%s latency_us=%lld", rq->status, rq->order_id,
                 (long long)us);
    else
        log_debug("request", "status=%u order_id=%s latency_us=%lld", rq->status, rq->order_id,
                  (long long)us);
    api->active--;
    free(rq->body);
    free(rq->answer);
    free(rq);
    *con_cls = NULL;
}


/* ---- lifecycle ---------------------------------------------------------- */

api_t *api_new(const of_config *cfg, requester_t *req, history_t *hist, gmetrics *gm,
               char *errstr, size_t errsize) {
    struct sockaddr_storage ss;
    if (ops_parse_listen(cfg->gateway_listen, "gateway.listen", &ss, errstr, errsize) != OPS_OK)
        return NULL;
    api_t *api = calloc(1, sizeof(*api));
    if (!api) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    api->cfg = cfg;
    api->metrics = gm;
    api->req = req;
    api->hist = hist;
    size_t max_waiting = (size_t)cfg->gateway_max_waiting;
    api->waiting = recent_new(max_waiting + 1, 0);
    api->idempotency = recent_new((size_t)cfg->gateway_idempotency_keys, 0);
    if (!api->waiting || !api->idempotency) {
        snprintf(errstr, errsize, "out of memory for %zu waiting requests and %d keys",
                 max_waiting, cfg->gateway_idempotency_keys);
        goto err;
    }
    if (load_keys(api, errstr, errsize) != API_OK) goto err;
    unsigned max_connections = cfg->gateway_max_connections
                                   ? (unsigned)cfg->gateway_max_connections
                                   : (unsigned)(max_waiting + SPARE_CONNECTIONS);
    if (!(api->limits = limits_new(cfg->gateway_request_timeout_ms, max_connections))) {
        snprintf(errstr, errsize, "out of memory");
        goto err;
    }
    /* The daemon at its limit stops accepting (clients hang in the backlog):
     * its limit is above ours, which refuses with a 503 (gateway/limits.h). */
    unsigned connection_limit = max_connections + REFUSE_HEADROOM;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    api->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, api,
        /* the logger first, so MHD logs nothing of its own before it */
        MHD_OPTION_EXTERNAL_LOGGER, ops_mhd_log, "http server",
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, api,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, connection_limit,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->gateway_max_connections_per_ip,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->gateway_max_header_bytes,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, api,
        MHD_OPTION_END);
    if (!api->daemon) {
        snprintf(errstr, errsize, "cannot listen on %s: %s", cfg->gateway_listen,
                 errno ? strerror(errno) : "libmicrohttpd refused");
        goto err;
    }
    /* The event streams' set holds the daemon's: api_fd() is that set. */
    if (!(api->sse = sse_new(cfg, gm, errstr, errsize)) ||
        sse_nest(api->sse, MHD_get_daemon_info(api->daemon, MHD_DAEMON_INFO_EPOLL_FD)->epoll_fd,
                 errstr, errsize) != SSE_OK)
        goto err;
    if (history_listen(hist, sse_on_history, api->sse) != 0) {
        snprintf(errstr, errsize, "the history has no room for the event streams' listener");
        goto err;
    }
    if (!(api->fleet = fleet_new(cfg, hist, errstr, errsize))) goto err;
    return api;

err:
    api_free(api);
    return NULL;
}

int api_port(const api_t *api) {
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(api->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? (int)info->port : -1;
}

int api_fd(const api_t *api) { return sse_fd(api->sse); }

int64_t api_timeout_ms(const api_t *api) {
    MHD_UNSIGNED_LONG_LONG t = 0;
    int64_t streams = sse_timeout_ms(api->sse);
    int64_t cut = limits_next_ms(api->limits, time_mono_us()); /* request deadlines */
    if (cut >= 0 && (streams < 0 || cut < streams)) streams = cut;
    if (MHD_get_timeout(api->daemon, &t) != MHD_YES) return streams;
    int64_t ms = t > 3600000 ? 3600000 : (int64_t)t;
    return streams >= 0 && streams < ms ? streams : ms;
}

void api_run(api_t *api) {
    fleet_poll(api->fleet);
    sse_run(api->sse); /* resumes what is due, for MHD_run() to serve */
    size_t cut = limits_sweep(api->limits, time_mono_us()); /* closed by MHD_run() */
    for (size_t i = 0; i < cut; i++) gmetrics_request_timeout(api->metrics);
    MHD_run(api->daemon);
}

void api_quiesce(api_t *api) {
    api->stopping = 1;
    sse_shutdown(api->sse); /* every stream: event: shutdown, then its end */
    MHD_socket fd = MHD_quiesce_daemon(api->daemon);
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

unsigned api_active(const api_t *api) { return api->active; }

const char *api_not_ready(const api_t *api) {
    if (api->stopping) return "stopping";
    if (requester_failed(api->req)) return "producer failed fatally";
    if (!requester_ready(api->req)) return "reply consumer not positioned";
    if (!history_ready(api->hist)) return "history not caught up";
    if (!requester_kafka_up(api->req)) return "Kafka unreachable";
    return NULL;
}

void api_stats_get(const api_t *api, api_stats *st) {
    *st = api->st;
    st->connections = limits_open_count(api->limits);
}

void api_set_callbacks(api_t *api, callback_t *cb) { api->callbacks = cb; }

void api_free(api_t *api) {
    if (!api) return;
    sse_abort(api->sse); /* no suspended stream may outlive the daemon */
    if (api->daemon) MHD_stop_daemon(api->daemon);
    sse_free(api->sse);
    fleet_free(api->fleet);
    recent_free(api->waiting);
    recent_free(api->idempotency);
    auth_free(api->auth);
    limits_free(api->limits);
    free(api);
}
