#define _POSIX_C_SOURCE 200809L
#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>

extern char **environ;

#define ENV_PREFIX "ORDERFLEET_"
#define ENV_KAFKA_PREFIX "ORDERFLEET_KAFKA_"
#define KAFKA_GROUP "kafka"
#define PATH_MAX_LEN 64    /* longest table path or env name, with room to spare */
#define ORIGIN_MAX 256     /* "file:line", "environment NAME", "flag --x" */
#define GOT_MAX 192        /* a rendered value in an error message */
#define SUGGEST_DISTANCE 2 /* edit distance within which "did you mean" is offered */
#define KAFKA_FILE_SUFFIX ".file" /* kafka.<name>_file: <name>'s value from a file */
#define SECRET_FILE_MAX 65536     /* longest secret file */

/* ------------------------------------------------------------------------ */
/* The table of settings                                                     */
/* ------------------------------------------------------------------------ */

typedef enum { SETTING_STRING, SETTING_INT, SETTING_DOUBLE } setting_type;

typedef struct setting {
    const char *path; /* "group.key" */
    setting_type type;
    size_t offset;             /* of the field in of_config */
    const char *def_str;       /* SETTING_STRING */
    int def_int;               /* SETTING_INT */
    double def_double;         /* SETTING_DOUBLE */
    long min, max;             /* SETTING_INT bounds, inclusive */
    double dmin, dmax;         /* SETTING_DOUBLE bounds, inclusive */
    const char *const *choices; /* SETTING_STRING: NULL-terminated allowed values, or NULL */
    int nonempty;              /* SETTING_STRING: "" is not a valid value */
    int secret;                /* SETTING_STRING: its value is never shown in a message */
    const char *help;
} setting;

#define STR(p, field, def, ne, h)                                                         \
    {.path = p, .type = SETTING_STRING, .offset = offsetof(of_config, field),             \
     .def_str = def, .nonempty = ne, .help = h}
/* A string whose value is never rendered (errors say "a value, not shown"). */
#define SECRET(p, field, h)                                                               \
    {.path = p, .type = SETTING_STRING, .offset = offsetof(of_config, field), .def_str = "", \
     .secret = 1, .help = h}
#define ENUM(p, field, def, list, h)                                                      \
    {.path = p, .type = SETTING_STRING, .offset = offsetof(of_config, field),             \
     .def_str = def, .choices = list, .nonempty = 1, .help = h}
#define INT(p, field, def, lo, hi, h)                                                     \
    {.path = p, .type = SETTING_INT, .offset = offsetof(of_config, field), .def_int = def, \
     .min = lo, .max = hi, .help = h}
#define DBL(p, field, def, lo, hi, h)                                                     \
    {.path = p, .type = SETTING_DOUBLE, .offset = offsetof(of_config, field),             \
     .def_double = def, .dmin = lo, .dmax = hi, .help = h}

static const char *const guarantee_choices[] = {"at_least_once", "exactly_once", NULL};
static const char *const log_level_choices[] = {"error", "warn", "info", "debug", NULL};
static const char *const log_format_choices[] = {"logfmt", "json", NULL};

static const setting settings[] = {
    STR("topics.orders", topic_orders, "orders", 1, "topic of OrderPlaced events (the work queue)"),
    STR("topics.completed", topic_completed, "orders.completed", 1,
        "topic of OrderCompleted outcomes, one per processed order"),
    STR("topics.replies", topic_replies, "orders.replies", 1,
        "reply topic for requesters that wait for the outcome"),
    STR("topics.retry", topic_retry, "orders.retry", 1,
        "topic of delayed retries of transiently failed orders"),
    STR("topics.dlq", topic_dlq, "orders.dlq", 1,
        "dead-letter topic: original key and bytes plus error headers"),
    INT("topics.orders_partitions", orders_partitions, 12, 1, 10000,
        "partitions of the orders topic when orderfleet creates it"),
    STR("worker.group", worker_group, "order-workers", 1, "consumer group id of the worker fleet"),
    STR("worker.id", worker_id, "", 0,
        "this worker's id in outcomes and logs; empty: <hostname>-<pid>"),
    INT("worker.concurrency", worker_concurrency, 64, 1, 4096,
        "orders in the handler at once (threads); one key's orders one at a time"),
    INT("worker.max_buffered", worker_max_buffered, 0, 0, 1000000,
        "orders consumed and not yet done; beyond it partitions are paused; "
        "0: 4 x worker.concurrency, at least 10000"),
    INT("worker.max_buffered_bytes", worker_max_buffered_bytes, 16777216, 65536, 1073741824,
        "bytes of orders consumed and not yet done; beyond it partitions are paused"),
    ENUM("worker.guarantee", worker_guarantee, "at_least_once", guarantee_choices,
         "at_least_once, or exactly_once (transactions; readers use read_committed)"),
    INT("worker.drain_timeout_ms", worker_drain_timeout_ms, 30000, 0, 3600000,
        "time in-flight orders get to finish on shutdown or revocation"),
    INT("worker.commit_interval_ms", worker_commit_interval_ms, 100, 1, 600000,
        "how often offsets of finished work are committed"),
    INT("handler.latency_ms", handler_latency_ms, 0, 0, 3600000,
        "simulated processing time per order (built-in handler)"),
    DBL("handler.failure_rate", handler_failure_rate, 0.0, 0.0, 1.0,
        "share of attempts that fail transiently (built-in handler)"),
    STR("handler.library", handler_library, "", 0,
        "shared object of your own handler (orderfleet_handler.h); empty: built-in"),
    INT("retry.max_attempts", retry_max_attempts, 3, 1, 100,
        "attempts per order before it goes to the DLQ as FAILED"),
    INT("retry.base_ms", retry_base_ms, 100, 0, 3600000,
        "backoff before the first retry; doubles per attempt, with jitter"),
    INT("retry.cap_ms", retry_cap_ms, 10000, 0, 3600000,
        "longest backoff between attempts; at least retry.base_ms"),
    STR("gateway.listen", gateway_listen, "127.0.0.1:8080", 1,
        "host:port of the gateway's HTTP API"),
    INT("gateway.wait_ms", gateway_wait_ms, 5000, 0, 600000,
        "default wait for a reply before the gateway answers 202"),
    INT("gateway.max_wait_ms", gateway_max_wait_ms, 60000, 0, 600000,
        "longest wait a request may ask for with Prefer: wait=N"),
    INT("gateway.reply_partition", gateway_reply_partition, -1, -1, 100000,
        "reply partition this instance owns; -1: read all and filter"),
    INT("gateway.max_waiting", gateway_max_waiting, 10000, 1, 1000000,
        "requests waiting for a reply at once; beyond it the gateway answers 503"),
    INT("gateway.max_body", gateway_max_body, 65536, 256, 16777216,
        "largest request body in bytes; beyond it the gateway answers 413"),
    STR("gateway.callback_hosts", gateway_callback_hosts, "", 0,
        "hosts a callbackUrl may name, comma-separated: host, *.domain, host:port, "
        "[v6]:port, *; empty: callbacks off"),
    SECRET("gateway.callback_secret", gateway_callback_secret,
           "HMAC-SHA256 key of the Orderfleet-Signature of callbacks (never shown)"),
    STR("gateway.callback_secret_file", gateway_callback_secret_file, "", 0,
        "file holding the callback secret (one trailing newline ignored), instead of "
        "gateway.callback_secret"),
    INT("gateway.callback_attempts", gateway_callback_attempts, 5, 1, 100,
        "attempts per callback delivery (retries back off exponentially, with jitter)"),
    INT("gateway.callback_timeout_ms", gateway_callback_timeout_ms, 5000, 100, 600000,
        "time one callback attempt gets (connect and answer)"),
    INT("gateway.callback_queue", gateway_callback_queue, 10000, 1, 10000000,
        "callback deliveries waiting at once; beyond, the oldest is dropped"),
    INT("gateway.outcomes", gateway_outcomes, 100000, 16, 10000000,
        "recent orders and outcomes each gateway remembers for GET"),
    INT("gateway.history_s", gateway_history_s, 3600, 0, 604800,
        "seconds of orders and outcomes a starting gateway reads back"),
    STR("gateway.api_keys_file", gateway_api_keys_file, "", 0,
        "file of API keys (name scopes sha256:hex per line, see docs/security.md); "
        "empty: open access"),
    INT("gateway.max_connections", gateway_max_connections, 0, 0, 1000000,
        "HTTP connections at once, beyond them new ones are closed; "
        "0: gateway.max_waiting + 512"),
    INT("gateway.max_connections_per_ip", gateway_max_connections_per_ip, 0, 0, 1000000,
        "HTTP connections at once from one client address; 0: no limit"),
    INT("gateway.max_header_bytes", gateway_max_header_bytes, 32768, 4096, 1048576,
        "memory for one request's head (request line and headers); beyond: 431"),
    INT("gateway.request_timeout_ms", gateway_request_timeout_ms, 10000, 0, 3600000,
        "a request must arrive whole (head and body) within this, else 408 or closed; "
        "0: no limit"),
    INT("gateway.idempotency_keys", gateway_idempotency_keys, 100000, 16, 10000000,
        "Idempotency-Key values remembered (oldest forgotten first)"),
    INT("gateway.max_streams", gateway_max_streams, 1000, 0, 1000000,
        "GET /v1/orders/{id}/events streams open at once, beyond: 503"),
    INT("gateway.sse_keepalive_ms", gateway_sse_keepalive_ms, 15000, 100, 3600000,
        "a keep-alive comment on each open event stream this often"),
    STR("metrics.listen", metrics_listen, "", 0,
        "host:port of /healthz, /readyz and /metrics; empty: disabled"),
    INT("metrics.liveness_ms", metrics_liveness_ms, 15000, 100, 3600000,
        "/healthz answers 503 once the main loop has not turned for this long"),
    ENUM("log.level", log_level, "info", log_level_choices,
         "most verbose log level: error, warn, info or debug"),
    ENUM("log.format", log_format, "logfmt", log_format_choices,
         "log lines on stderr: logfmt, or json (one object per line)"),
};

#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

/* Where each setting's current value came from, for cross-check messages. */
typedef struct load_ctx {
    of_config *cfg;
    char origin[N_SETTINGS][ORIGIN_MAX];
    char *errstr;
    size_t errsize;
} load_ctx;

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

static int fail(char *errstr, size_t errsize, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Formats an error into errstr (when there is one) and returns CONFIG_ERR. */
static int fail(char *errstr, size_t errsize, const char *fmt, ...) {
    if (errstr && errsize) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errsize, fmt, ap);
        va_end(ap);
    }
    return CONFIG_ERR;
}

static char **field_str(of_config *cfg, const setting *s) {
    return (char **)(void *)((char *)cfg + s->offset);
}

static int *field_int(of_config *cfg, const setting *s) {
    return (int *)(void *)((char *)cfg + s->offset);
}

static double *field_double(of_config *cfg, const setting *s) {
    return (double *)(void *)((char *)cfg + s->offset);
}

static const setting *setting_find(const char *path) {
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strcmp(settings[i].path, path) == 0) return &settings[i];
    return NULL;
}

/* "worker.concurrency" -> "ORDERFLEET_WORKER_CONCURRENCY". */
static void setting_env_name(const setting *s, char *buf, size_t size) {
    size_t n = strlen(ENV_PREFIX);
    memcpy(buf, ENV_PREFIX, n);
    for (const char *p = s->path; *p && n + 1 < size; p++)
        buf[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    buf[n] = '\0';
}

/* Non-zero when name is the first component of some table path ("worker"). */
static int is_known_group(const char *name, size_t len) {
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strncmp(settings[i].path, name, len) == 0 && settings[i].path[len] == '.') return 1;
    return 0;
}

/* Levenshtein distance between a and b, or SIZE_MAX when either is too long
 * to be worth it. Two rows of at most PATH_MAX_LEN entries on the stack. */
static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la >= PATH_MAX_LEN || lb >= PATH_MAX_LEN) return SIZE_MAX;
    size_t prev[PATH_MAX_LEN + 1], cur[PATH_MAX_LEN + 1];
    for (size_t j = 0; j <= lb; j++) prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof(size_t));
    }
    return prev[lb];
}

static void consider(const char *name, const char *cand, size_t *best_d, char *best,
                     size_t size) {
    size_t d = edit_distance(name, cand);
    if (d > 0 && d < *best_d) {
        *best_d = d;
        snprintf(best, size, "%s", cand);
    }
}

/* Writes " (did you mean X?)" into buf when a table path or group name (with
 * env set: an environment variable) is within SUGGEST_DISTANCE of name, the
 * first closest one on ties; otherwise an empty string. Cost: one edit
 * distance per candidate, a few dozen in all. */
static void suggest(const char *name, int env, char *buf, size_t size) {
    char best[PATH_MAX_LEN] = "", cand[PATH_MAX_LEN];
    size_t best_d = SUGGEST_DISTANCE + 1;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (env) {
            setting_env_name(&settings[i], cand, sizeof(cand));
            consider(name, cand, &best_d, best, sizeof(best));
            continue;
        }
        consider(name, settings[i].path, &best_d, best, sizeof(best));
        snprintf(cand, sizeof(cand), "%.*s", (int)strcspn(settings[i].path, "."),
                 settings[i].path);
        consider(name, cand, &best_d, best, sizeof(best));
    }
    if (!env) consider(name, KAFKA_GROUP, &best_d, best, sizeof(best));
    if (best[0])
        snprintf(buf, size, " (did you mean %s?)", best);
    else if (size)
        buf[0] = '\0';
}

/* What a setting accepts, for "expected ..." messages. */
static void describe_expected(const setting *s, char *buf, size_t size) {
    switch (s->type) {
    case SETTING_INT: snprintf(buf, size, "an integer from %ld to %ld", s->min, s->max); break;
    case SETTING_DOUBLE: snprintf(buf, size, "a number from %g to %g", s->dmin, s->dmax); break;
    case SETTING_STRING:
        if (s->choices) {
            size_t n = (size_t)snprintf(buf, size, "one of");
            for (size_t i = 0; s->choices[i] && n < size; i++)
                n += (size_t)snprintf(buf + n, size - n, "%s %s", i ? "," : "", s->choices[i]);
        } else {
            snprintf(buf, size, "%s", s->nonempty ? "a non-empty string" : "a string");
        }
        break;
    }
}

/* "<origin>: <path>: expected <what>, got <got>" */
static int fail_expected(load_ctx *ctx, const setting *s, const char *origin, const char *got) {
    char what[128];
    if (s->secret) got = "a value not shown (secret)";
    describe_expected(s, what, sizeof(what));
    return fail(ctx->errstr, ctx->errsize, "%s: %s: expected %s, got %s", origin, s->path, what,
                got);
}

static void quote(const char *text, char *buf, size_t size) {
    snprintf(buf, size, "\"%.*s\"", (int)(size > 3 ? size - 3 : 0), text);
}

/* Renders a libconfig value as it would appear in an error message. */
static void describe_node(const config_setting_t *node, char *buf, size_t size) {
    switch (config_setting_type(node)) {
    case CONFIG_TYPE_STRING: quote(config_setting_get_string(node), buf, size); break;
    case CONFIG_TYPE_INT: snprintf(buf, size, "%d", config_setting_get_int(node)); break;
    case CONFIG_TYPE_INT64: snprintf(buf, size, "%lld", config_setting_get_int64(node)); break;
    case CONFIG_TYPE_FLOAT: snprintf(buf, size, "%g", config_setting_get_float(node)); break;
    case CONFIG_TYPE_BOOL:
        snprintf(buf, size, "%s", config_setting_get_bool(node) ? "true" : "false");
        break;
    case CONFIG_TYPE_GROUP: snprintf(buf, size, "a group"); break;
    case CONFIG_TYPE_ARRAY: snprintf(buf, size, "an array"); break;
    case CONFIG_TYPE_LIST: snprintf(buf, size, "a list"); break;
    default: snprintf(buf, size, "nothing"); break;
    }
}

/* "file:line" of a libconfig node; file is the one libconfig read it from
 * (which differs from path for @include'd files). */
static void node_origin(const config_setting_t *node, const char *path, char *buf, size_t size) {
    const char *file = config_setting_source_file(node);
    snprintf(buf, size, "%s:%u", file ? file : path, (unsigned)config_setting_source_line(node));
}

/* ------------------------------------------------------------------------ */
/* Setting values                                                            */
/* ------------------------------------------------------------------------ */

/* Stores a string value after checking it against the setting's choices;
 * got is the value as the user wrote it, for the error message. */
static int store_string(load_ctx *ctx, const setting *s, const char *value, const char *origin,
                        const char *got) {
    if (s->nonempty && value[0] == '\0') return fail_expected(ctx, s, origin, got);
    if (s->choices) {
        size_t i = 0;
        while (s->choices[i] && strcmp(s->choices[i], value) != 0) i++;
        if (!s->choices[i]) return fail_expected(ctx, s, origin, got);
    }
    char *copy = strdup(value);
    if (!copy) return fail(ctx->errstr, ctx->errsize, "%s: %s: out of memory", origin, s->path);
    char **slot = field_str(ctx->cfg, s);
    free(*slot);
    *slot = copy;
    return CONFIG_OK;
}

static void remember_origin(load_ctx *ctx, const setting *s, const char *origin) {
    snprintf(ctx->origin[s - settings], ORIGIN_MAX, "%s", origin);
}

/* Sets s from text (an environment variable or a flag). Numbers are parsed
 * strictly: the whole text must be the number, in range; no leading blanks,
 * no trailing junk, no hex. */
static int setting_set_text(load_ctx *ctx, const setting *s, const char *text,
                            const char *origin) {
    char got[GOT_MAX];
    quote(text, got, sizeof(got));
    int empty_or_blank = text[0] == '\0' || isspace((unsigned char)text[0]);
    switch (s->type) {
    case SETTING_STRING:
        if (store_string(ctx, s, text, origin, got) != CONFIG_OK) return CONFIG_ERR;
        break;
    case SETTING_INT: {
        char *end;
        errno = 0;
        long v = empty_or_blank ? 0 : strtol(text, &end, 10);
        if (empty_or_blank || *end != '\0' || errno == ERANGE || v < s->min || v > s->max)
            return fail_expected(ctx, s, origin, got);
        *field_int(ctx->cfg, s) = (int)v;
        break;
    }
    case SETTING_DOUBLE: {
        char *end;
        errno = 0;
        double v = empty_or_blank ? 0 : strtod(text, &end);
        if (empty_or_blank || *end != '\0' || errno == ERANGE || !isfinite(v) || v < s->dmin ||
            v > s->dmax)
            return fail_expected(ctx, s, origin, got);
        *field_double(ctx->cfg, s) = v;
        break;
    }
    }
    remember_origin(ctx, s, origin);
    return CONFIG_OK;
}

/* Sets s from a libconfig node. Types are strict: a string is never taken
 * for a number. An integer is fine where a double is expected, and a 64-bit
 * integer where an int is, if it is in range. */
static int setting_set_node(load_ctx *ctx, const setting *s, const config_setting_t *node,
                            const char *origin) {
    char got[GOT_MAX];
    describe_node(node, got, sizeof(got));
    int type = config_setting_type(node);
    switch (s->type) {
    case SETTING_STRING:
        if (type != CONFIG_TYPE_STRING) return fail_expected(ctx, s, origin, got);
        if (store_string(ctx, s, config_setting_get_string(node), origin, got) != CONFIG_OK)
            return CONFIG_ERR;
        break;
    case SETTING_INT: {
        if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
            return fail_expected(ctx, s, origin, got);
        long long v = config_setting_get_int64(node);
        if (v < s->min || v > s->max) return fail_expected(ctx, s, origin, got);
        *field_int(ctx->cfg, s) = (int)v;
        break;
    }
    case SETTING_DOUBLE: {
        double v;
        if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64)
            v = (double)config_setting_get_int64(node);
        else if (type == CONFIG_TYPE_FLOAT)
            v = config_setting_get_float(node);
        else
            return fail_expected(ctx, s, origin, got);
        if (!isfinite(v) || v < s->dmin || v > s->dmax) return fail_expected(ctx, s, origin, got);
        *field_double(ctx->cfg, s) = v;
        break;
    }
    }
    remember_origin(ctx, s, origin);
    return CONFIG_OK;
}

/* ------------------------------------------------------------------------ */
/* Kafka properties                                                          */
/* ------------------------------------------------------------------------ */

/* Appends a property, first removing any earlier value of the same name, so
 * the list stays in the order applied and holds one entry per name. All
 * three strings are copied. */
static int kafka_add(of_config *cfg, const char *name, const char *value, const char *origin,
                     char *errstr, size_t errsize) {
    for (size_t i = 0; i < cfg->kafka_count; i++) {
        if (strcmp(cfg->kafka[i].name, name) != 0) continue;
        free(cfg->kafka[i].name);
        free(cfg->kafka[i].value);
        free(cfg->kafka[i].origin);
        memmove(&cfg->kafka[i], &cfg->kafka[i + 1],
                (cfg->kafka_count - i - 1) * sizeof(cfg->kafka[0]));
        cfg->kafka_count--;
        break;
    }
    config_kafka_prop *grown =
        realloc(cfg->kafka, (cfg->kafka_count + 1) * sizeof(cfg->kafka[0]));
    if (!grown) goto err;
    cfg->kafka = grown;
    config_kafka_prop *p = &cfg->kafka[cfg->kafka_count];
    p->name = strdup(name);
    p->value = strdup(value);
    p->origin = strdup(origin);
    if (!p->name || !p->value || !p->origin) {
        free(p->name);
        free(p->value);
        free(p->origin);
        goto err;
    }
    cfg->kafka_count++;
    return CONFIG_OK;
err:
    return fail(errstr, errsize, "%s: kafka property \"%s\": out of memory", origin, name);
}

/* Copies src into buf with '_' turned into '.' and, with lower set, letters
 * lower-cased. Returns CONFIG_ERR when it does not fit or is empty. */
static int kafka_name(const char *src, int lower, char *buf, size_t size) {
    size_t n = 0;
    for (; *src; src++) {
        if (n + 1 >= size) return CONFIG_ERR;
        char c = *src == '_' ? '.' : *src;
        buf[n++] = lower ? (char)tolower((unsigned char)c) : c;
    }
    buf[n] = '\0';
    return n ? CONFIG_OK : CONFIG_ERR;
}

/* Formats a double so that it reads back as the same value. */
static void format_double(double v, char *buf, size_t size) {
    snprintf(buf, size, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, size, "%.17g", v);
}

/* Adds every member of the file's kafka group as a property. */
static int load_kafka_group(load_ctx *ctx, const config_setting_t *group, const char *path) {
    char origin[ORIGIN_MAX], name[256], value[64], got[GOT_MAX];
    for (int i = 0; i < config_setting_length(group); i++) {
        const config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
        const char *key = config_setting_name(m);
        const char *text = value;
        node_origin(m, path, origin, sizeof(origin));
        switch (config_setting_type(m)) {
        case CONFIG_TYPE_STRING: text = config_setting_get_string(m); break;
        case CONFIG_TYPE_INT:
            snprintf(value, sizeof(value), "%d", config_setting_get_int(m));
            break;
        case CONFIG_TYPE_INT64:
            snprintf(value, sizeof(value), "%lld", config_setting_get_int64(m));
            break;
        case CONFIG_TYPE_FLOAT:
            format_double(config_setting_get_float(m), value, sizeof(value));
            break;
        case CONFIG_TYPE_BOOL:
            snprintf(value, sizeof(value), "%s", config_setting_get_bool(m) ? "true" : "false");
            break;
        default:
            describe_node(m, got, sizeof(got));
            return fail(ctx->errstr, ctx->errsize,
                        "%s: kafka.%s: expected a librdkafka property value (string, number or "
                        "boolean), got %s",
                        origin, key, got);
        }
        if (kafka_name(key, 0, name, sizeof(name)) != CONFIG_OK)
            return fail(ctx->errstr, ctx->errsize, "%s: kafka.%s: property name too long", origin,
                        key);
        if (kafka_add(ctx->cfg, name, text, origin, ctx->errstr, ctx->errsize) != CONFIG_OK)
            return CONFIG_ERR;
    }
    return CONFIG_OK;
}

/* ------------------------------------------------------------------------ */
/* The layers                                                                */
/* ------------------------------------------------------------------------ */

static int load_defaults(load_ctx *ctx) {
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting *s = &settings[i];
        switch (s->type) {
        case SETTING_STRING: {
            char *copy = strdup(s->def_str);
            if (!copy) return fail(ctx->errstr, ctx->errsize, "out of memory");
            *field_str(ctx->cfg, s) = copy;
            break;
        }
        case SETTING_INT: *field_int(ctx->cfg, s) = s->def_int; break;
        case SETTING_DOUBLE: *field_double(ctx->cfg, s) = s->def_double; break;
        }
        remember_origin(ctx, s, "default");
    }
    return CONFIG_OK;
}

/* Reads the libconfig file at path and applies every setting in it. Every
 * group and key must be known: a typo is an error, with the closest known
 * name when there is one. */
static int load_file(load_ctx *ctx, const char *path) {
    config_t lc;
    char origin[ORIGIN_MAX], full[2 * PATH_MAX_LEN], hint[PATH_MAX_LEN + 32], got[GOT_MAX];
    int rc = CONFIG_ERR;

    /* libconfig reports a missing file as "file I/O error": say why. */
    FILE *fp = fopen(path, "r");
    if (!fp) return fail(ctx->errstr, ctx->errsize, "%s: cannot open: %s", path, strerror(errno));
    fclose(fp);

    config_init(&lc);
    if (config_read_file(&lc, path) != CONFIG_TRUE) {
        const char *file = config_error_file(&lc);
        fail(ctx->errstr, ctx->errsize, "%s:%d: %s", file ? file : path, config_error_line(&lc),
             config_error_text(&lc));
        goto out;
    }

    const config_setting_t *root = config_root_setting(&lc);
    for (int i = 0; i < config_setting_length(root); i++) {
        const config_setting_t *group = config_setting_get_elem(root, (unsigned)i);
        const char *gname = config_setting_name(group);
        node_origin(group, path, origin, sizeof(origin));

        int is_kafka = strcmp(gname, KAFKA_GROUP) == 0;
        if (!is_kafka && !is_known_group(gname, strlen(gname))) {
            suggest(gname, 0, hint, sizeof(hint));
            fail(ctx->errstr, ctx->errsize, "%s: unknown setting \"%s\"%s", origin, gname, hint);
            goto out;
        }
        if (!config_setting_is_group(group)) {
            describe_node(group, got, sizeof(got));
            fail(ctx->errstr, ctx->errsize, "%s: %s: expected a group of settings, got %s", origin,
                 gname, got);
            goto out;
        }
        if (is_kafka) {
            if (load_kafka_group(ctx, group, path) != CONFIG_OK) goto out;
            continue;
        }
        for (int j = 0; j < config_setting_length(group); j++) {
            const config_setting_t *m = config_setting_get_elem(group, (unsigned)j);
            node_origin(m, path, origin, sizeof(origin));
            snprintf(full, sizeof(full), "%s.%s", gname, config_setting_name(m));
            const setting *s = setting_find(full);
            if (!s) {
                suggest(full, 0, hint, sizeof(hint));
                fail(ctx->errstr, ctx->errsize, "%s: unknown setting \"%s\"%s", origin, full,
                     hint);
                goto out;
            }
            if (setting_set_node(ctx, s, m, origin) != CONFIG_OK) goto out;
        }
    }
    rc = CONFIG_OK;
out:
    config_destroy(&lc);
    return rc;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Applies one ORDERFLEET_* variable, given as "NAME=value". */
static int load_env_var(load_ctx *ctx, const char *entry) {
    char var[200], origin[ORIGIN_MAX], hint[PATH_MAX_LEN + 32], env[PATH_MAX_LEN], name[256];
    const char *eq = strchr(entry, '=');
    const char *value = eq ? eq + 1 : "";
    size_t len = eq ? (size_t)(eq - entry) : strlen(entry);
    if (len >= sizeof(var)) return CONFIG_OK; /* longer than any name of ours */
    memcpy(var, entry, len);
    var[len] = '\0';
    snprintf(origin, sizeof(origin), "environment %s", var);

    if (strncmp(var, ENV_KAFKA_PREFIX, strlen(ENV_KAFKA_PREFIX)) == 0) {
        if (kafka_name(var + strlen(ENV_KAFKA_PREFIX), 1, name, sizeof(name)) != CONFIG_OK)
            return fail(ctx->errstr, ctx->errsize, "%s: no kafka property name after %s", origin,
                        ENV_KAFKA_PREFIX);
        return kafka_add(ctx->cfg, name, value, origin, ctx->errstr, ctx->errsize);
    }
    for (size_t i = 0; i < N_SETTINGS; i++) {
        setting_env_name(&settings[i], env, sizeof(env));
        if (strcmp(env, var) == 0) return setting_set_text(ctx, &settings[i], value, origin);
    }
    /* ORDERFLEET_<GROUP>_* is the settings' namespace: a name there that is
     * not a setting is a typo. Other ORDERFLEET_* variables are not ours. */
    const char *rest = var + strlen(ENV_PREFIX);
    char lower[256];
    size_t glen = strcspn(rest, "_");
    for (size_t i = 0; i < glen; i++) lower[i] = (char)tolower((unsigned char)rest[i]);
    lower[glen] = '\0';
    if (rest[glen] == '_' && is_known_group(lower, glen)) {
        suggest(var, 1, hint, sizeof(hint));
        return fail(ctx->errstr, ctx->errsize, "%s: unknown setting%s", origin, hint);
    }
    return CONFIG_OK;
}

/* Applies the ORDERFLEET_* environment. The variables are sorted first so
 * that the outcome never depends on the order of environ. */
static int load_env(load_ctx *ctx) {
    size_t n = 0, cap = 0;
    const char **vars = NULL;
    int rc = CONFIG_ERR;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, ENV_PREFIX, strlen(ENV_PREFIX)) != 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            const char **grown = realloc(vars, cap * sizeof(*vars));
            if (!grown) {
                fail(ctx->errstr, ctx->errsize, "environment: out of memory");
                goto out;
            }
            vars = grown;
        }
        vars[n++] = *e;
    }
    if (n) qsort(vars, n, sizeof(*vars), cmp_str);
    for (size_t i = 0; i < n; i++)
        if (load_env_var(ctx, vars[i]) != CONFIG_OK) goto out;
    rc = CONFIG_OK;
out:
    free(vars);
    return rc;
}

static int load_overrides(load_ctx *ctx, const config_override *ov, size_t count) {
    char origin[ORIGIN_MAX], hint[PATH_MAX_LEN + 32], name[256];
    for (size_t i = 0; i < count; i++) {
        const char *path = ov[i].path ? ov[i].path : "";
        if (ov[i].origin)
            snprintf(origin, sizeof(origin), "%s", ov[i].origin);
        else
            snprintf(origin, sizeof(origin), "override %s", path);
        if (!ov[i].value) return fail(ctx->errstr, ctx->errsize, "%s: %s: no value", origin, path);

        if (strncmp(path, KAFKA_GROUP ".", strlen(KAFKA_GROUP ".")) == 0) {
            if (kafka_name(path + strlen(KAFKA_GROUP "."), 0, name, sizeof(name)) != CONFIG_OK)
                return fail(ctx->errstr, ctx->errsize, "%s: bad kafka property name \"%s\"",
                            origin, path);
            if (kafka_add(ctx->cfg, name, ov[i].value, origin, ctx->errstr, ctx->errsize) !=
                CONFIG_OK)
                return CONFIG_ERR;
            continue;
        }
        const setting *s = setting_find(path);
        if (!s) {
            suggest(path, 0, hint, sizeof(hint));
            return fail(ctx->errstr, ctx->errsize, "%s: unknown setting \"%s\"%s", origin, path,
                        hint);
        }
        if (setting_set_text(ctx, s, ov[i].value, origin) != CONFIG_OK) return CONFIG_ERR;
    }
    return CONFIG_OK;
}

/* Fails unless integer setting `upper` is at least integer setting `lower`,
 * naming where each value came from. */
static int check_not_less(load_ctx *ctx, const char *upper, const char *lower) {
    const setting *u = setting_find(upper), *l = setting_find(lower);
    int uv = *(const int *)((const char *)ctx->cfg + u->offset);
    int lv = *(const int *)((const char *)ctx->cfg + l->offset);
    if (uv >= lv) return CONFIG_OK;
    return fail(ctx->errstr, ctx->errsize, "%s (%d, from %s) must not be less than %s (%d, from %s)",
                upper, uv, ctx->origin[u - settings], lower, lv, ctx->origin[l - settings]);
}

/* Overwrites a secret before its memory is freed. */
static void wipe(char *p) {
    if (!p) return;
    for (volatile char *v = p; *v; v++) *v = '\0';
}

int config_read_secret_file(const char *path, const char *what, char **out, char *errstr,
                            size_t errsize) {
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not hang us */
    if (fd < 0)
        return fail(errstr, errsize, "%s: cannot open %s: %s", what, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fail(errstr, errsize, "%s: %s is not a regular file", what, path);
        goto err;
    }
    if (st.st_mode & S_IROTH) {
        fail(errstr, errsize,
             "%s: %s holds a secret but every user may read it (mode %04o): chmod o-rwx it "
             "(600 or 640)",
             what, path, (unsigned)(st.st_mode & 07777));
        goto err;
    }
    if (!(buf = malloc(SECRET_FILE_MAX + 2))) {
        fail(errstr, errsize, "%s: out of memory", what);
        goto err;
    }
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, SECRET_FILE_MAX + 1 - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            fail(errstr, errsize, "%s: cannot read %s: %s", what,
                 path, strerror(errno));
            goto err;
        }
        if (n == 0) break;
        len += (size_t)n;
        if (len > SECRET_FILE_MAX) {
            fail(errstr, errsize, "%s: %s is larger than %d bytes", what, path,
                 SECRET_FILE_MAX);
            goto err;
        }
    }
    buf[len] = '\0';
    if (memchr(buf, '\0', len)) {
        fail(errstr, errsize, "%s: %s holds a NUL byte", what, path);
        goto err;
    }
    if (len && buf[len - 1] == '\n') buf[--len] = '\0';
    if (len && buf[len - 1] == '\r') buf[--len] = '\0';
    if (len == 0) {
        fail(errstr, errsize, "%s: %s is empty", what, path);
        goto err;
    }
    close(fd);
    *out = buf;
    return CONFIG_OK;
err:
    wipe(buf);
    free(buf);
    close(fd);
    return CONFIG_ERR;
}

/* Replaces every kafka property <name>.file (kafka.<name>_file in a file,
 * ORDERFLEET_KAFKA_<NAME>_FILE, -X <name>.file=PATH) by <name> with the
 * content of that file. Of <name> and <name>.file the one applied later
 * wins, as with any two layers: an environment variable overrides a file
 * setting in the config file and the other way round. */
static int resolve_kafka_files(load_ctx *ctx) {
    of_config *cfg = ctx->cfg;
    const size_t slen = strlen(KAFKA_FILE_SUFFIX);
    size_t i = 0;
    while (i < cfg->kafka_count) {
        config_kafka_prop *p = &cfg->kafka[i];
        size_t nlen = strlen(p->name);
        if (nlen <= slen || strcmp(p->name + nlen - slen, KAFKA_FILE_SUFFIX) != 0) {
            i++;
            continue;
        }
        char base[256], origin[ORIGIN_MAX + 300];
        snprintf(base, sizeof(base), "%.*s", (int)(nlen - slen), p->name);
        int later = 0;
        for (size_t j = i + 1; j < cfg->kafka_count; j++)
            if (strcmp(cfg->kafka[j].name, base) == 0) later = 1;
        char *content = NULL, what[ORIGIN_MAX + 300];
        snprintf(what, sizeof(what), "%s: kafka property \"%s\"", p->origin, base);
        if (!later &&
            config_read_secret_file(p->value, what, &content, ctx->errstr, ctx->errsize) != CONFIG_OK)
            return CONFIG_ERR;
        snprintf(origin, sizeof(origin), "%s (file %s)", p->origin, p->value);
        free(p->name);
        free(p->value);
        free(p->origin);
        memmove(&cfg->kafka[i], &cfg->kafka[i + 1], (cfg->kafka_count - i - 1) * sizeof(*p));
        cfg->kafka_count--;
        if (!content) continue;
        int rc = kafka_add(cfg, base, content, origin, ctx->errstr, ctx->errsize);
        wipe(content);
        free(content);
        if (rc != CONFIG_OK) return CONFIG_ERR;
        /* kafka_add() may have removed an earlier entry of that name and so
         * moved the rest down: scan again (each turn removes a .file entry) */
        i = 0;
    }
    return CONFIG_OK;
}

/* Settings that depend on each other or on the machine, once all layers
 * are in: the worker id and the bounds that come in pairs. */
static int finish(load_ctx *ctx) {
    of_config *cfg = ctx->cfg;
    if (cfg->worker_id[0] == '\0') {
        char host[256], id[300];
        if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
            snprintf(host, sizeof(host), "localhost");
        host[sizeof(host) - 1] = '\0';
        snprintf(id, sizeof(id), "%s-%ld", host, (long)getpid());
        char *copy = strdup(id);
        if (!copy) return fail(ctx->errstr, ctx->errsize, "worker.id: out of memory");
        free(cfg->worker_id);
        cfg->worker_id = copy;
    }
    if (check_not_less(ctx, "retry.cap_ms", "retry.base_ms") != CONFIG_OK ||
        check_not_less(ctx, "gateway.max_wait_ms", "gateway.wait_ms") != CONFIG_OK)
        return CONFIG_ERR;
    if (resolve_kafka_files(ctx) != CONFIG_OK) return CONFIG_ERR;
    /* A throwaway conf tells whether librdkafka knows every property and
     * accepts its value, before anything connects. */
    rd_kafka_conf_t *probe = rd_kafka_conf_new();
    if (!probe) return fail(ctx->errstr, ctx->errsize, "kafka: out of memory");
    int rc = config_apply_kafka(cfg, probe, ctx->errstr, ctx->errsize);
    rd_kafka_conf_destroy(probe);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Public API                                                                */
/* ------------------------------------------------------------------------ */

/* Loads the layers in order of precedence. The load context (one origin
 * string per setting, about 5 KB) is heap-allocated to keep callers' stacks
 * small. */
int config_load(of_config *cfg, const char *path, const config_override *overrides,
                size_t override_count, char *errstr, size_t errsize) {
    memset(cfg, 0, sizeof(*cfg));
    if (errstr && errsize) errstr[0] = '\0';
    load_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx) return fail(errstr, errsize, "out of memory");
    ctx->cfg = cfg;
    ctx->errstr = errstr;
    ctx->errsize = errsize;

    if (load_defaults(ctx) != CONFIG_OK) goto err;
    if (path) {
        if (!(cfg->source_file = strdup(path))) {
            fail(errstr, errsize, "%s: out of memory", path);
            goto err;
        }
        if (load_file(ctx, path) != CONFIG_OK) goto err;
    }
    if (load_env(ctx) != CONFIG_OK) goto err;
    if (load_overrides(ctx, overrides, overrides ? override_count : 0) != CONFIG_OK) goto err;
    if (finish(ctx) != CONFIG_OK) goto err;
    free(ctx);
    return CONFIG_OK;
err:
    free(ctx);
    config_free(cfg);
    return CONFIG_ERR;
}

void config_free(of_config *cfg) {
    if (!cfg) return;
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (settings[i].type == SETTING_STRING) free(*field_str(cfg, &settings[i]));
    for (size_t i = 0; i < cfg->kafka_count; i++) {
        free(cfg->kafka[i].name);
        free(cfg->kafka[i].value);
        free(cfg->kafka[i].origin);
    }
    free(cfg->kafka);
    free(cfg->source_file);
    memset(cfg, 0, sizeof(*cfg));
}

const char *config_kafka_get(const of_config *cfg, const char *name) {
    if (!cfg) return NULL;
    for (size_t i = cfg->kafka_count; i > 0; i--)
        if (strcmp(cfg->kafka[i - 1].name, name) == 0) return cfg->kafka[i - 1].value;
    return NULL;
}

/* Substrings of librdkafka property names that hold secrets (sasl.password,
 * ssl.key.password, ssl.keystore.password, sasl.oauthbearer.client.secret,
 * ssl.key.pem), and the one whole name. */
static const char *const secret_parts[] = {"password", "secret", "key.pem", NULL};

int config_kafka_secret(const char *name) {
    if (strcmp(name, "sasl.oauthbearer.config") == 0) return 1;
    for (size_t i = 0; secret_parts[i]; i++)
        if (strstr(name, secret_parts[i])) return 1;
    return 0;
}

int config_apply_kafka(const of_config *cfg, rd_kafka_conf_t *conf, char *errstr,
                       size_t errsize) {
    char reason[512];
    for (size_t i = 0; i < cfg->kafka_count; i++) {
        const config_kafka_prop *p = &cfg->kafka[i];
        if (rd_kafka_conf_set(conf, p->name, p->value, reason, sizeof(reason)) ==
            RD_KAFKA_CONF_OK)
            continue;
        /* librdkafka's reason may quote the value: not a secret's, nor a
         * file's content */
        int secret = config_kafka_secret(p->name) || strstr(p->origin, " (file ");
        if (secret && p->value[0] && strstr(reason, p->value))
            snprintf(reason, sizeof(reason), "invalid value (not shown: it is a secret)");
        return fail(errstr, errsize, "%s: kafka property \"%s\": %s", p->origin, p->name,
                    reason);
    }
    return CONFIG_OK;
}

/* Renders a setting's default for the help table: strings quoted, so that
 * an empty default is visible. */
static void describe_default(const setting *s, char *buf, size_t size) {
    switch (s->type) {
    case SETTING_STRING: quote(s->def_str, buf, size); break;
    case SETTING_INT: snprintf(buf, size, "%d", s->def_int); break;
    case SETTING_DOUBLE: snprintf(buf, size, "%g", s->def_double); break;
    }
}

void config_print_settings(FILE *f) {
    static const char kafka_path[] = "kafka.<property>";
    static const char kafka_env[] = "ORDERFLEET_KAFKA_<PROPERTY>";
    char env[PATH_MAX_LEN], def[GOT_MAX], range[96];
    int wp = (int)strlen("SETTING"), we = (int)strlen("ENVIRONMENT"), wd = (int)strlen("DEFAULT");
    if (wp < (int)strlen(kafka_path)) wp = (int)strlen(kafka_path);
    if (we < (int)strlen(kafka_env)) we = (int)strlen(kafka_env);
    for (size_t i = 0; i < N_SETTINGS; i++) {
        setting_env_name(&settings[i], env, sizeof(env));
        describe_default(&settings[i], def, sizeof(def));
        if ((int)strlen(settings[i].path) > wp) wp = (int)strlen(settings[i].path);
        if ((int)strlen(env) > we) we = (int)strlen(env);
        if ((int)strlen(def) > wd) wd = (int)strlen(def);
    }
    fprintf(f, "%-*s  %-*s  %-*s  %s\n", wp, "SETTING", we, "ENVIRONMENT", wd, "DEFAULT",
            "MEANING");
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting *s = &settings[i];
        setting_env_name(s, env, sizeof(env));
        describe_default(s, def, sizeof(def));
        range[0] = '\0';
        if (s->type == SETTING_INT)
            snprintf(range, sizeof(range), " [%ld..%ld]", s->min, s->max);
        else if (s->type == SETTING_DOUBLE)
            snprintf(range, sizeof(range), " [%g..%g]", s->dmin, s->dmax);
        fprintf(f, "%-*s  %-*s  %-*s  %s%s\n", wp, s->path, we, env, wd, def, s->help, range);
    }
    fprintf(f, "%-*s  %-*s  %-*s  %s\n", wp, kafka_path, we, kafka_env, wd, "-",
            "any librdkafka property, '_' for '.' (kafka.bootstrap_servers = bootstrap.servers)");
}
