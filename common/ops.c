#define _POSIX_C_SOURCE 200809L
#include "common/ops.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/logfmt.h"
#include "common/timeutil.h"

#define OPS_CONNECTIONS 32   /* scrapers and probes, not clients */
#define OPS_IDLE_TIMEOUT_S 10
#define STALL_POLL_MS 20     /* the test hook's check of its file */

#define TEXT_PLAIN "text/plain; charset=utf-8"
#define PROMETHEUS_TEXT "text/plain; version=0.0.4; charset=utf-8"

struct ops {
    struct MHD_Daemon *daemon;
    metrics *metrics; /* borrowed */
    int liveness_ms;
    _Atomic int64_t last_beat_ms; /* monotonic */
    _Atomic int ready;
    _Atomic(const char *) not_ready_reason;
    _Atomic int stalled_logged; /* the ops thread said "main loop stalled" */
    char *stall_file;           /* test hook, owned; NULL: off */
};

int ops_parse_listen(const char *listen, const char *setting, struct sockaddr_storage *ss,
                     char *errstr, size_t errsize) {
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || !colon[1]) { /* ":port" is every interface */
        snprintf(errstr, errsize, "%s \"%s\": expected host:port", setting, listen);
        return OPS_ERR;
    }
    const char *h = listen;
    size_t hlen = (size_t)(colon - listen);
    if (h[0] == '[' && hlen >= 2 && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen >= sizeof(host)) {
        snprintf(errstr, errsize, "%s \"%s\": host name too long", setting, listen);
        return OPS_ERR;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(hlen ? host : NULL, colon + 1, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(errstr, errsize, "%s \"%s\": %s", setting, listen, gai_strerror(rc));
        return OPS_ERR;
    }
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return OPS_OK;
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *type,
                              void *body, size_t len, enum MHD_ResponseMemoryMode mode) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE) free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(r, "Allow", "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result answer_text(struct MHD_Connection *conn, unsigned status, const char *fmt,
                                   ...) __attribute__((format(printf, 3, 4)));

static enum MHD_Result answer_text(struct MHD_Connection *conn, unsigned status, const char *fmt,
                                   ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
    return answer(conn, status, TEXT_PLAIN, buf, len, MHD_RESPMEM_MUST_COPY);
}

/* /healthz: the age of the main loop's last turn against the bound. The
 * first 503 of a stall and the recovery after it are logged, here on the
 * ops thread, since the main thread is the one that is stuck. */
static enum MHD_Result healthz(ops *o, struct MHD_Connection *conn) {
    int64_t age = time_mono_ms() - atomic_load_explicit(&o->last_beat_ms, memory_order_relaxed);
    if (age > o->liveness_ms) {
        if (!atomic_exchange(&o->stalled_logged, 1))
            log_error("main loop stalled", "since_ms=%lld liveness_ms=%d", (long long)age,
                      o->liveness_ms);
        return answer_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                           "stalled: the main loop has not turned for %lld ms (limit %d)\n",
                           (long long)age, o->liveness_ms);
    }
    if (atomic_exchange(&o->stalled_logged, 0)) log_info("main loop turning again", NULL);
    return answer_text(conn, MHD_HTTP_OK, "ok\n");
}

static enum MHD_Result readyz(ops *o, struct MHD_Connection *conn) {
    if (atomic_load(&o->ready)) return answer_text(conn, MHD_HTTP_OK, "ready\n");
    const char *why = atomic_load(&o->not_ready_reason);
    return answer_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready: %s\n",
                       why ? why : "starting");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    ops *o = cls;
    int known = strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0 ||
                strcmp(url, "/metrics") == 0;
    if (!known) return answer_text(conn, MHD_HTTP_NOT_FOUND, "not found: %s\n", url);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return answer_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method %s not allowed\n", method);
    if (strcmp(url, "/healthz") == 0) return healthz(o, conn);
    if (strcmp(url, "/readyz") == 0) return readyz(o, conn);
    char *body = NULL;
    size_t len = 0;
    if (metrics_render(o->metrics, &body, &len) != METRICS_OK)
        return answer_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    return answer(conn, MHD_HTTP_OK, PROMETHEUS_TEXT, body, len, MHD_RESPMEM_MUST_FREE);
}

void ops_mhd_log(void *cls, const char *fmt, va_list ap) {
    const char *who = cls;
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = '\0';
    log_warn(who ? who : "http server", "detail=%s", buf);
}

ops *ops_start(const of_config *cfg, metrics *m, char *errstr, size_t errsize) {
    if (errsize) errstr[0] = '\0';
    if (!cfg->metrics_listen[0]) return NULL;
    struct sockaddr_storage ss;
    if (ops_parse_listen(cfg->metrics_listen, "metrics.listen", &ss, errstr, errsize) != OPS_OK)
        return NULL;
    ops *o = calloc(1, sizeof(*o));
    if (!o) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    o->metrics = m;
    o->liveness_ms = cfg->metrics_liveness_ms;
    atomic_init(&o->last_beat_ms, time_mono_ms());
    atomic_init(&o->not_ready_reason, "starting");
    const char *stall = getenv("ORDERFLEET_TEST_STALL_FILE");
    if (stall && *stall && !(o->stall_file = strdup(stall))) {
        snprintf(errstr, errsize, "out of memory");
        goto err;
    }
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    o->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, o,
                                 MHD_OPTION_EXTERNAL_LOGGER, ops_mhd_log, "ops server",
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)OPS_CONNECTIONS,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)OPS_IDLE_TIMEOUT_S,
                                 MHD_OPTION_END);
    if (!o->daemon) {
        snprintf(errstr, errsize, "metrics.listen: cannot listen on %s: %s", cfg->metrics_listen,
                 errno ? strerror(errno) : "libmicrohttpd refused");
        goto err;
    }
    log_info("ops endpoint listening", "address=%s port=%d paths=/healthz,/readyz,/metrics",
             cfg->metrics_listen, ops_port(o));
    return o;
err:
    ops_stop(o);
    return NULL;
}

int ops_open(const of_config *cfg, const char *prefix, metrics **reg, ops **o, char *errstr,
             size_t errsize) {
    *reg = NULL;
    *o = NULL;
    if (!cfg->metrics_listen[0]) return OPS_OK;
    if (!(*reg = metrics_new(prefix))) {
        snprintf(errstr, errsize, "out of memory");
        return OPS_ERR;
    }
    if (!(*o = ops_start(cfg, *reg, errstr, errsize))) {
        metrics_free(*reg);
        *reg = NULL;
        return OPS_ERR;
    }
    return OPS_OK;
}

void ops_close(ops *o, metrics *reg) {
    ops_stop(o);
    metrics_free(reg);
}

/* The test hook: while the file exists, this turn of the main loop does
 * not end. A stat() per beat, only when the variable is set. */
static void stall_while_file_exists(const char *path) {
    while (access(path, F_OK) == 0) {
        struct timespec ts = {0, STALL_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void ops_beat(ops *o) {
    if (!o) return;
    if (o->stall_file) stall_while_file_exists(o->stall_file);
    atomic_store_explicit(&o->last_beat_ms, time_mono_ms(), memory_order_relaxed);
}

void ops_set_ready(ops *o, int ready, const char *reason) {
    if (!o) return;
    if (!ready) atomic_store(&o->not_ready_reason, reason);
    atomic_store(&o->ready, ready ? 1 : 0);
}

int ops_port(const ops *o) {
    if (!o || !o->daemon) return -1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(o->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? (int)info->port : -1;
}

void ops_stop(ops *o) {
    if (!o) return;
    if (o->daemon) MHD_stop_daemon(o->daemon);
    free(o->stall_file);
    free(o);
}
