/* Unit tests: the operations endpoint (common/ops), started for real on
 * 127.0.0.1 with a port the kernel picks, and spoken to over plain sockets:
 * /healthz against a main loop that stops beating (and the stall test
 * hook), /readyz, /metrics, the HTTP errors, and ops_start()'s refusals.
 * Waiting for time to pass is what /healthz is about: those tests poll with
 * a deadline instead of sleeping a fixed time. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/metrics.h"
#include "common/ops.h"
#include "common/timeutil.h"

#define LIVENESS_MS 200
#define DEADLINE_MS 5000 /* bound of every wait */
#define POLL_PAUSE_MS 5  /* between two probes of a polling loop */

/* ---- a tiny HTTP client ---------------------------------------------------- */

typedef struct reply {
    int status;
    char *head; /* status line and headers, NUL-terminated */
    char *body; /* NUL-terminated */
    size_t body_len;
} reply;

static void reply_free(reply *r) {
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* Sends raw (a whole request) to 127.0.0.1:port and reads the answer until
 * the server closes, within DEADLINE_MS. Returns 0, or -1 with nothing to
 * free. The caller frees the reply with reply_free(). */
static int http_raw(int port, const char *raw, reply *r) {
    memset(r, 0, sizeof(*r));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) goto err;
    for (size_t sent = 0, n = strlen(raw); sent < n;) {
        ssize_t w = send(fd, raw + sent, n - sent, MSG_NOSIGNAL);
        if (w <= 0) goto err;
        sent += (size_t)w;
    }
    int64_t deadline = time_mono_ms() + DEADLINE_MS;
    for (;;) {
        int64_t left = deadline - time_mono_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) goto err;
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 16384;
            char *grown = realloc(buf, cap);
            if (!grown) goto err;
            buf = grown;
        }
        ssize_t got = recv(fd, buf + len, cap - len - 1, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) goto err;
        if (got == 0) break;
        len += (size_t)got;
    }
    close(fd);
    fd = -1;
    if (!buf) return -1;
    buf[len] = '\0';
    char *sep = strstr(buf, "\r\n\r\n");
    if (!sep || sscanf(buf, "HTTP/1.%*c %d", &r->status) != 1) goto err;
    r->head = strndup(buf, (size_t)(sep - buf) + 2); /* the last header's CRLF */
    r->body_len = len - (size_t)(sep + 4 - buf);
    r->body = malloc(r->body_len + 1);
    if (!r->head || !r->body) goto err;
    memcpy(r->body, sep + 4, r->body_len);
    r->body[r->body_len] = '\0';
    free(buf);
    return 0;
err:
    if (fd >= 0) close(fd);
    free(buf);
    reply_free(r);
    return -1;
}

/* method path over HTTP/1.1 with Connection: close; asserts that an answer
 * came. */
static reply http(int port, const char *method, const char *path) {
    char raw[512];
    snprintf(raw, sizeof(raw), "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", method,
             path);
    reply r;
    if (http_raw(port, raw, &r) != 0)
        fail_msg("no HTTP answer to %s %s on port %d", method, path, port);
    return r;
}

/* The value of header name (case-insensitive) in r, copied into buf, or
 * NULL. */
static const char *header(const reply *r, const char *name, char *buf, size_t size) {
    size_t nl = strlen(name);
    for (const char *line = strstr(r->head, "\r\n"); line && line[2];) {
        line += 2;
        const char *end = strstr(line, "\r\n");
        if (!end) break;
        if ((size_t)(end - line) > nl && !strncasecmp(line, name, nl) && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ') v++;
            size_t vl = (size_t)(end - v);
            if (vl >= size) vl = size - 1;
            memcpy(buf, v, vl);
            buf[vl] = '\0';
            return buf;
        }
        line = end;
    }
    return NULL;
}

/* ---- fixtures ------------------------------------------------------------- */

typedef struct fixture {
    of_config cfg;
    metrics *m;
    metric_family *requests;
    ops *o;
    int port;
} fixture;

/* Loads the defaults with metrics.listen and metrics.liveness_ms set, as a
 * program's flags would. */
static void load_config(of_config *cfg, const char *listen_addr, const char *liveness) {
    const config_override ov[] = {
        {"metrics.listen", listen_addr, "test"},
        {"metrics.liveness_ms", liveness, "test"},
    };
    char err[512];
    if (config_load(cfg, NULL, ov, 2, err, sizeof(err)) != CONFIG_OK)
        fail_msg("config_load: %s", err);
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    load_config(&f->cfg, "127.0.0.1:0", "200");
    assert_int_equal(f->cfg.metrics_liveness_ms, LIVENESS_MS);
    f->m = metrics_new("ops_test");
    assert_non_null(f->m);
    f->requests = metrics_counter(f->m, "requests_total", "requests seen", "code");
    assert_non_null(f->requests);
    char err[512] = "untouched";
    f->o = ops_start(&f->cfg, f->m, err, sizeof(err));
    if (!f->o) fail_msg("ops_start: %s", err);
    f->port = ops_port(f->o);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    ops_stop(f->o);
    metrics_free(f->m);
    config_free(&f->cfg);
    free(f);
    return 0;
}

/* GET path: asserts the status and returns the body (the caller frees). */
static char *get_expect(int port, const char *path, int status) {
    reply r = http(port, "GET", path);
    if (r.status != status)
        fail_msg("GET %s: status %d, want %d; body: %s", path, r.status, status, r.body);
    char *body = r.body;
    r.body = NULL;
    reply_free(&r);
    return body;
}

static void pause_ms(int ms) {
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* Beats and probes /healthz, asserting 200 from a probe that finished
 * within the liveness bound of the beat (one that took longer on a loaded
 * machine proves nothing and is repeated). */
static void assert_healthy_after_beat(const fixture *f) {
    for (int attempt = 0; attempt < 20; attempt++) {
        int64_t t0 = time_mono_ms();
        ops_beat(f->o);
        reply r = http(f->port, "GET", "/healthz");
        int64_t took = time_mono_ms() - t0;
        if (took < LIVENESS_MS) {
            if (r.status != 200)
                fail_msg("/healthz %d %ld ms after a beat: %s", r.status, (long)took, r.body);
            assert_string_equal(r.body, "ok\n");
            reply_free(&r);
            return;
        }
        reply_free(&r);
    }
    fail_msg("/healthz never answered within %d ms of a beat", LIVENESS_MS);
}

/* Polls /healthz until it answers 503, within DEADLINE_MS; returns that
 * reply. */
static reply wait_unhealthy(const fixture *f) {
    int64_t deadline = time_mono_ms() + DEADLINE_MS;
    for (;;) {
        reply r = http(f->port, "GET", "/healthz");
        if (r.status == 503) return r;
        assert_int_equal(r.status, 200);
        reply_free(&r);
        if (time_mono_ms() > deadline) fail_msg("/healthz still 200 after %d ms", DEADLINE_MS);
        pause_ms(POLL_PAUSE_MS);
    }
}

/* ---- ops_start ------------------------------------------------------------ */

static void test_start_refusals(void **state) {
    (void)state;
    metrics *m = metrics_new("ops_test");
    of_config cfg;
    char err[512];

    load_config(&cfg, "", "200");
    strcpy(err, "untouched");
    assert_null(ops_start(&cfg, m, err, sizeof(err)));
    assert_string_equal(err, "");
    config_free(&cfg);

    load_config(&cfg, "nonsense", "200");
    assert_null(ops_start(&cfg, m, err, sizeof(err)));
    if (!strstr(err, "metrics.listen") || !strstr(err, "nonsense"))
        fail_msg("errstr does not name metrics.listen and its value: %s", err);
    config_free(&cfg);

    load_config(&cfg, "127.0.0.1:http-alt", "200"); /* not a number */
    assert_null(ops_start(&cfg, m, err, sizeof(err)));
    if (!strstr(err, "metrics.listen")) fail_msg("errstr does not name metrics.listen: %s", err);
    config_free(&cfg);

    load_config(&cfg, "127.0.0.1:", "200");
    assert_null(ops_start(&cfg, m, err, sizeof(err)));
    if (!strstr(err, "metrics.listen")) fail_msg("errstr does not name metrics.listen: %s", err);
    config_free(&cfg);

    /* a port that another ops already serves */
    load_config(&cfg, "127.0.0.1:0", "200");
    ops *first = ops_start(&cfg, m, err, sizeof(err));
    assert_non_null(first);
    config_free(&cfg);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ops_port(first));
    load_config(&cfg, addr, "200");
    errno = 0;
    assert_null(ops_start(&cfg, m, err, sizeof(err)));
    if (!strstr(err, "metrics.listen") || !strstr(err, addr) || !strstr(err, "in use"))
        fail_msg("errstr does not say that metrics.listen %s is in use: %s", addr, err);
    config_free(&cfg);
    ops_stop(first);

    /* a port held by a plain listening socket, and errno left at something
     * unrelated by earlier calls */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sa.sin_port));
    load_config(&cfg, addr, "200");
    errno = ENOENT;
    assert_null(ops_start(&cfg, m, err, sizeof(err)));
    if (!strstr(err, "metrics.listen") || !strstr(err, addr) || !strstr(err, "in use"))
        fail_msg("errstr does not say that metrics.listen %s is in use: %s", addr, err);
    config_free(&cfg);
    close(fd);

    ops_stop(NULL);
    ops_beat(NULL);
    ops_set_ready(NULL, 1, NULL);
    assert_int_equal(ops_port(NULL), -1);
    metrics_free(m);
}

static void test_parse_listen(void **state) {
    (void)state;
    struct sockaddr_storage ss;
    char err[256];
    assert_int_equal(ops_parse_listen("127.0.0.1:9464", "x.listen", &ss, err, sizeof(err)), OPS_OK);
    assert_int_equal(ss.ss_family, AF_INET);
    const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
    assert_int_equal(ntohs(in->sin_port), 9464);
    assert_int_equal(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
    assert_int_equal(ops_parse_listen(":8080", "x.listen", &ss, err, sizeof(err)), OPS_OK);
    assert_int_equal(ntohs(((const struct sockaddr_in *)&ss)->sin_port), 8080);
    assert_int_equal(ops_parse_listen("no-port", "x.listen", &ss, err, sizeof(err)), OPS_ERR);
    assert_non_null(strstr(err, "x.listen \"no-port\""));
    assert_int_equal(ops_parse_listen("127.0.0.1:", "x.listen", &ss, err, sizeof(err)), OPS_ERR);
    assert_non_null(strstr(err, "x.listen"));
    assert_int_equal(ops_parse_listen("127.0.0.1:port", "x.listen", &ss, err, sizeof(err)),
                     OPS_ERR);
    assert_non_null(strstr(err, "x.listen \"127.0.0.1:port\""));
}

static void test_port(void **state) {
    fixture *f = *state;
    assert_true(f->port > 0 && f->port < 65536);
}

/* ---- /readyz ---------------------------------------------------------------- */

static void test_readyz(void **state) {
    fixture *f = *state;
    char *body = get_expect(f->port, "/readyz", 503);
    assert_string_equal(body, "not ready: starting\n");
    free(body);
    ops_set_ready(f->o, 1, NULL);
    body = get_expect(f->port, "/readyz", 200);
    assert_string_equal(body, "ready\n");
    free(body);
    ops_set_ready(f->o, 0, "draining");
    body = get_expect(f->port, "/readyz", 503);
    assert_string_equal(body, "not ready: draining\n");
    free(body);
    ops_set_ready(f->o, 1, "ignored when ready");
    body = get_expect(f->port, "/readyz", 200);
    assert_string_equal(body, "ready\n");
    free(body);
}

/* ---- /healthz ---------------------------------------------------------------- */

static void test_healthz(void **state) {
    fixture *f = *state;
    /* right after start: the start counts as a turn */
    int64_t t0 = time_mono_ms();
    reply r = http(f->port, "GET", "/healthz");
    if (time_mono_ms() - t0 < LIVENESS_MS) {
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "ok\n");
    }
    reply_free(&r);
    assert_healthy_after_beat(f);

    /* no beat: 503 once the bound has passed, and not before */
    int64_t before_beat = time_mono_ms();
    ops_beat(f->o);
    r = wait_unhealthy(f);
    int64_t waited = time_mono_ms() - before_beat;
    if (waited < LIVENESS_MS) fail_msg("/healthz 503 after only %ld ms", (long)waited);
    if (!strstr(r.body, "stalled")) fail_msg("503 body does not say stalled: %s", r.body);
    char buf[128];
    assert_non_null(header(&r, "Content-Type", buf, sizeof(buf)));
    assert_string_equal(buf, "text/plain; charset=utf-8");
    reply_free(&r);

    /* still 503 while nothing beats */
    r = http(f->port, "GET", "/healthz");
    assert_int_equal(r.status, 503);
    reply_free(&r);

    /* a beat brings it back */
    assert_healthy_after_beat(f);
}

/* ---- /metrics and HTTP ------------------------------------------------------- */

static void test_metrics(void **state) {
    fixture *f = *state;
    metric_add(metric_series(f->requests, "200"), 7);
    reply r = http(f->port, "GET", "/metrics");
    assert_int_equal(r.status, 200);
    char buf[128];
    assert_non_null(header(&r, "Content-Type", buf, sizeof(buf)));
    assert_string_equal(buf, "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(header(&r, "Content-Length", buf, sizeof(buf)));
    assert_int_equal(strtoul(buf, NULL, 10), r.body_len);
    assert_int_equal(strlen(r.body), r.body_len);
    assert_non_null(strstr(r.body, "# HELP ops_test_requests_total requests seen\n"
                                   "# TYPE ops_test_requests_total counter\n"
                                   "ops_test_requests_total{code=\"200\"} 7\n"));
    assert_non_null(strstr(r.body, "\nprocess_open_fds "));
    reply_free(&r);

    /* a later scrape sees later updates */
    metric_add(metric_series(f->requests, "200"), 1);
    r = http(f->port, "GET", "/metrics");
    assert_non_null(strstr(r.body, "ops_test_requests_total{code=\"200\"} 8\n"));
    reply_free(&r);

    /* HEAD: the headers of GET, no body */
    r = http(f->port, "HEAD", "/metrics");
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    assert_non_null(header(&r, "Content-Type", buf, sizeof(buf)));
    assert_string_equal(buf, "text/plain; version=0.0.4; charset=utf-8");
    reply_free(&r);
}

static void test_http_errors(void **state) {
    fixture *f = *state;
    char buf[128];
    reply r = http(f->port, "GET", "/nope");
    assert_int_equal(r.status, 404);
    reply_free(&r);
    r = http(f->port, "GET", "/metrics/extra");
    assert_int_equal(r.status, 404);
    reply_free(&r);
    r = http(f->port, "GET", "/");
    assert_int_equal(r.status, 404);
    reply_free(&r);

    r = http(f->port, "POST", "/metrics");
    assert_int_equal(r.status, 405);
    assert_non_null(header(&r, "Allow", buf, sizeof(buf)));
    assert_non_null(strstr(buf, "GET"));
    assert_non_null(strstr(buf, "HEAD"));
    reply_free(&r);

    /* with a body, and on the other paths */
    assert_int_equal(http_raw(f->port,
                              "POST /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                              "Content-Length: 5\r\n\r\nhello",
                              &r),
                     0);
    assert_int_equal(r.status, 405);
    assert_non_null(header(&r, "Allow", buf, sizeof(buf)));
    reply_free(&r);
    r = http(f->port, "DELETE", "/readyz");
    assert_int_equal(r.status, 405);
    reply_free(&r);

    /* HTTP/1.0 without Host */
    assert_int_equal(http_raw(f->port, "GET /readyz HTTP/1.0\r\n\r\n", &r), 0);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "not ready: starting\n");
    reply_free(&r);
}

/* ---- the stall test hook ---------------------------------------------------- */

typedef struct beater {
    ops *o;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int returned;
} beater;

static void *beat_thread(void *arg) {
    beater *b = arg;
    ops_beat(b->o);
    pthread_mutex_lock(&b->lock);
    b->returned = 1;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

/* Waits up to ms for the beat thread to return; returns whether it did. */
static int beat_returned_within(beater *b, int ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&b->lock);
    while (!b->returned && pthread_cond_timedwait(&b->cond, &b->lock, &until) == 0) {
    }
    int returned = b->returned;
    pthread_mutex_unlock(&b->lock);
    return returned;
}

static void test_stall_hook(void **state) {
    (void)state;
    char path[] = "/tmp/orderfleet-stall-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    assert_int_equal(setenv("ORDERFLEET_TEST_STALL_FILE", path, 1), 0);
    fixture *f = NULL;
    setup((void **)&f);
    unsetenv("ORDERFLEET_TEST_STALL_FILE");

    /* without the file, a beat does not block */
    assert_healthy_after_beat(f);

    fd = open(path, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    beater b = {.o = f->o, .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, beat_thread, &b), 0);

    reply r = wait_unhealthy(f);
    assert_non_null(strstr(r.body, "stalled"));
    reply_free(&r);
    assert_false(beat_returned_within(&b, 0)); /* still blocked once 503 */

    int64_t unlinked = time_mono_ms(); /* the beat that ends the stall is later */
    unlink(path);
    int returned = beat_returned_within(&b, DEADLINE_MS);
    if (!returned) {
        pthread_detach(t);
        fail_msg("ops_beat() still blocked %d ms after %s was removed", DEADLINE_MS, path);
    }
    pthread_join(t, NULL);
    r = http(f->port, "GET", "/healthz");
    if (time_mono_ms() - unlinked < LIVENESS_MS) assert_int_equal(r.status, 200);
    reply_free(&r);
    assert_healthy_after_beat(f);
    teardown((void **)&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_refusals),
        cmocka_unit_test(test_parse_listen),
        cmocka_unit_test_setup_teardown(test_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readyz, setup, teardown),
        cmocka_unit_test_setup_teardown(test_healthz, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_errors, setup, teardown),
        cmocka_unit_test(test_stall_hook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
