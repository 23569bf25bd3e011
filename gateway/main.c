/* order-gateway: the synchronous HTTP facade of the fleet (DESIGN.md §5).
 *
 * One thread runs one event loop over three descriptors: the HTTP daemon's
 * epoll set (gateway/api.h), the requester's wake-up pipe (replies and
 * delivery reports, common/requester.h) and the history's (orders and
 * outcomes for GET, gateway/history.h). poll() sleeps until one of them has
 * work or the nearest deadline of a waiting request is due.
 *
 * SIGTERM or SIGINT: stop accepting connections, answer every waiting
 * request (202 with its Location when Kafka has the order), let the answers
 * go out, exit 0. A second signal exits at once. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/config.h"
#include "common/logfmt.h"
#include "common/metrics.h"
#include "common/ops.h"
#include "common/requester.h"
#include "common/timeutil.h"
#include "gateway/api.h"
#include "gateway/auth.h"
#include "gateway/gateway_metrics.h"
#include "gateway/history.h"
#include "gateway/callback.h"

#define PROG_NAME "order-gateway"
/* The longest poll() sleep: the loop's heartbeat for /healthz and for the
 * positioning retries. */
#define TICK_MS 100
/* Shutdown: how long Kafka gets to acknowledge what was sent, and how long
 * the answers get to reach their clients. */
#define SHUTDOWN_FLUSH_MS 5000
#define SHUTDOWN_DRAIN_MS 5000
/* Shutdown: how long requests on open connections are still answered (with
 * 503 stopping) after the stop began. */
#define SHUTDOWN_LINGER_MS 500
/* Shutdown: how long callback deliveries (first tries and retries) that
 * fall due are still attempted, once the requests are answered. */
#define SHUTDOWN_CALLBACK_GRACE_MS 5000

static volatile sig_atomic_t run = 1;
static volatile sig_atomic_t reload_keys = 0; /* SIGHUP: read the API key file again */

static void on_sighup(int sig) {
    (void)sig;
    reload_keys = 1;
}

/* --hash-key: reads one key from stdin (its first line, the newline
 * dropped) and prints the key file's third field for it, so that operators
 * never hash by hand. Returns the exit status. */
static int hash_key(void) {
    char key[AUTH_KEY_MAX + 2], out[AUTH_HASH_TEXT_LEN];
    if (!fgets(key, sizeof(key), stdin)) {
        fprintf(stderr, PROG_NAME ": --hash-key reads a key on stdin; got nothing\n");
        return EXIT_USAGE;
    }
    size_t len = strcspn(key, "\r\n");
    if (len == strlen(key) && !feof(stdin)) {
        fprintf(stderr, PROG_NAME ": --hash-key: the key is longer than %d bytes\n", AUTH_KEY_MAX);
        return EXIT_USAGE;
    }
    const char *k = NULL;
    size_t klen = 0;
    key[len] = '\0';
    if (!auth_presented(NULL, key, &k, &klen) || klen != len) {
        fprintf(stderr, PROG_NAME ": --hash-key: the key is empty or has blanks around it\n");
        return EXIT_USAGE;
    }
    int rc = auth_hash_text(k, klen, out);
    memset(key, 0, sizeof(key));
    if (rc != AUTH_OK) {
        fprintf(stderr, PROG_NAME ": --hash-key: SHA-256 failed (libcrypto)\n");
        return EXIT_SOFTWARE;
    }
    printf("%s\n", out);
    return 0;
}

static void on_signal(int sig) {
    if (!run) _exit(128 + sig);
    run = 0;
}

static void usage(FILE *f) {
    fprintf(f,
            "Usage: order-gateway [options]\n"
            "\n"
            "The synchronous HTTP facade of orderfleet. POST /v1/orders publishes the order\n"
            "to Kafka and waits for the worker's correlated reply: 201 Created with the\n"
            "outcome when it comes in time (the counter), else 202 Accepted with a Location\n"
            "to ask later (the buzzer). The order is processed either way.\n"
            "\n"
            "Gateway options (each also a config setting and an ORDERFLEET_* variable):\n"
            "  -l, --listen HOST:PORT   HTTP address (gateway.listen, default 127.0.0.1:8080;\n"
            "                           port 0 picks a free port, logged at start)\n"
            "  -w, --wait-ms N          default wait for a reply (gateway.wait_ms, 5000)\n"
            "      --reply-partition N  reply partition this instance owns; -1 reads all and\n"
            "                           keeps its own (gateway.reply_partition, default -1)\n"
            "      --max-waiting N      requests waiting at once, beyond: 503\n"
            "                           (gateway.max_waiting, default 10000)\n"
            "\n");
    cli_print_common_usage(f);
    fprintf(f,
            "\n"
            "HTTP API:\n"
            "  POST /v1/orders          JSON order (protobuf JSON mapping); headers:\n"
            "                           Prefer: wait=N | respond-async (RFC 7240),\n"
            "                           Idempotency-Key: K (a retry never places twice)\n"
            "  GET  /v1/orders/{id}     200 outcome, 202 pending, 404 unknown\n"
            "  GET  /v1/orders/{id}/events  the outcome as Server-Sent Events (the buzzer;\n"
            "                           gateway.max_streams, gateway.sse_keepalive_ms)\n"
            "  GET  /v1/fleet           the live panel's JSON; GET / the page\n"
            "  A POST body may carry \"callbackUrl\": the outcome is POSTed there, signed\n"
            "  (Orderfleet-Signature), when its host is in gateway.callback_hosts.\n"
            "  GET  /healthz, /readyz   liveness; readiness (replies positioned, Kafka up)\n"
            "  With gateway.api_keys_file, /v1/ routes need an API key (Authorization: Bearer\n"
            "  or X-API-Key): 401 without a known key, 403 without the scope\n"
            "  (docs/security.md). --hash-key reads a key on stdin and prints its hash for\n"
            "  the key file; SIGHUP reloads the file.\n"
            "  Errors are application/problem+json: 400 malformed JSON (line, column) or\n"
            "  schema violations (each field), 404, 405, 413, 415, 422 (Idempotency-Key\n"
            "  reused for another body), 503 with Retry-After (Kafka down, not ready, busy).\n"
            "\n"
            "Examples:\n"
            "  order-gateway -b localhost:9092 -l 127.0.0.1:8080\n"
            "  curl -i -H 'Content-Type: application/json' -d '{\"customerId\":\"c-42\",\n"
            "    \"currency\":\"EUR\",\"items\":[{\"sku\":\"BURGER-CLASSIC\",\"quantity\":2,\n"
            "    \"unitPrice\":\"899\"}]}' http://127.0.0.1:8080/v1/orders\n"
            "\n"
            "Signals: SIGTERM/SIGINT stop accepting, answer every waiting request (202 with\n"
            "its Location) and exit; a second signal exits at once.\n"
            "\n"
            "Exit status: 0 clean stop, 64 usage, 69 could not start (Kafka client or\n"
            "listening socket), 78 bad config.\n");
}

enum { OPT_REPLY_PARTITION = 0x2001, OPT_MAX_WAITING, OPT_HASH_KEY };

/* Every waiting request holds a connection, so the descriptor limit must
 * exceed gateway.max_waiting: raises the soft limit towards the hard one,
 * and warns when even that is too low (accept() would then fail with
 * EMFILE before the gateway could answer 503). */
static void raise_fd_limit(rlim_t want) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < want)
        log_warn("file descriptor limit below gateway.max_waiting + 1024",
                 "limit=%llu wanted=%llu", (unsigned long long)rl.rlim_cur,
                 (unsigned long long)want);
}

static int64_t min_timeout(int64_t a, int64_t b) {
    if (a < 0) return b;
    if (b < 0) return a;
    return a < b ? a : b;
}

/* One turn of the loop: sleep until a descriptor is ready or a timer is
 * due, then serve all three; then renew liveness and copy the counters
 * into the metrics. */
static void turn(api_t *api, requester_t *req, history_t *hist, gmetrics *gm, ops *o,
                 int64_t max_ms) {
    int64_t t = min_timeout(api_timeout_ms(api), requester_next_timeout(req));
    t = min_timeout(t, max_ms);
    struct pollfd fds[3] = {
        {.fd = api_fd(api), .events = POLLIN},
        {.fd = requester_fd(req), .events = POLLIN},
        {.fd = history_fd(hist), .events = POLLIN},
    };
    if (poll(fds, 3, (int)t) < 0 && errno != EINTR)
        log_error("poll failed", "error=%s", strerror(errno));
    requester_poll(req, 0);
    history_poll(hist);
    api_run(api);

    ops_beat(o);
    api_stats a;
    requester_stats r;
    api_stats_get(api, &a);
    requester_stats_get(req, &r);
    gmetrics_publish(gm, a.orders_placed, a.idempotent_hits, a.waiting, a.connections, &r);
}

/* Answers the waiting requests and lets the answers go out. */
static void shut_down(api_t *api, requester_t *req, history_t *hist, gmetrics *gm, ops *o) {
    api_stats st;
    api_stats_get(api, &st);
    log_info("stopping: answering waiting requests", "waiting=%zu", st.waiting);
    ops_set_ready(o, 0, "stopping");
    api_quiesce(api);
    /* Acknowledged orders are answered at once; the others as Kafka
     * acknowledges them, while the loop keeps sending answers out. */
    int64_t linger_until = time_mono_ms() + SHUTDOWN_LINGER_MS;
    requester_shutdown_begin(req);
    int64_t flush_until = time_mono_ms() + SHUTDOWN_FLUSH_MS;
    while (!requester_shutdown_done(req) && time_mono_ms() < flush_until)
        turn(api, req, hist, gm, o, 50);
    requester_shutdown_end(req);
    /* Until every request begun has been answered and sent, and for at
     * least SHUTDOWN_LINGER_MS after the stop began, so a request already on
     * its way over an open connection gets its 503 rather than a closed
     * socket; idle keep-alive connections are then closed by the daemon's
     * stop. */
    int64_t until = time_mono_ms() + SHUTDOWN_DRAIN_MS;
    while ((api_active(api) > 0 || time_mono_ms() < linger_until) && time_mono_ms() < until)
        turn(api, req, hist, gm, o, 50);
    if (api_active(api) > 0)
        log_warn("requests still unanswered at exit", "count=%u", api_active(api));
}

static void log_summary(api_t *api, requester_t *req, history_t *hist) {
    api_stats a;
    requester_stats r;
    history_stats h;
    api_stats_get(api, &a);
    requester_stats_get(req, &r);
    history_stats_get(hist, &h);
    log_info("stopped",
             "requests=%llu orders=%llu replied=%llu failed=%llu timed_out=%llu not_sent=%llu "
             "bad_replies=%llu late_replies=%llu unknown_replies=%llu idempotent_hits=%llu "
             "history_entries=%zu",
             (unsigned long long)a.requests, (unsigned long long)a.orders_placed,
             (unsigned long long)r.results[REQUEST_REPLIED],
             (unsigned long long)r.results[REQUEST_FAILED],
             (unsigned long long)r.results[REQUEST_TIMED_OUT],
             (unsigned long long)r.results[REQUEST_NOT_SENT],
             (unsigned long long)r.results[REQUEST_BAD_REPLY],
             (unsigned long long)r.late_replies, (unsigned long long)r.unknown_replies,
             (unsigned long long)a.idempotent_hits, h.entries);
}

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"wait-ms", required_argument, NULL, 'w'},
        {"reply-partition", required_argument, NULL, OPT_REPLY_PARTITION},
        {"max-waiting", required_argument, NULL, OPT_MAX_WAITING},
        {"hash-key", no_argument, NULL, OPT_HASH_KEY},
        CLI_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    cli_common cli;
    of_config cfg;
    requester_t *req = NULL;
    history_t *hist = NULL;
    callback_t *cb = NULL;
    api_t *api = NULL;
    metrics *reg = NULL; /* /metrics: owned, freed after the ops endpoint that renders it */
    ops *o = NULL;
    gmetrics gm;
    int opt, status = 0, have_cfg = 0;
    char errstr[512];

    cli_init(&cli, PROG_NAME);
    while ((opt = getopt_long(argc, argv, CLI_SHORTOPTS "l:w:", longopts, NULL)) != -1) {
        int r = cli_handle(&cli, opt, optarg, &status);
        if (r == CLI_EXIT) goto out;
        if (r == CLI_HANDLED) continue;
        switch (opt) {
        case 'l': r = cli_override(&cli, "gateway.listen", optarg, "flag --listen"); break;
        case 'w': r = cli_override(&cli, "gateway.wait_ms", optarg, "flag --wait-ms"); break;
        case OPT_REPLY_PARTITION:
            r = cli_override(&cli, "gateway.reply_partition", optarg, "flag --reply-partition");
            break;
        case OPT_MAX_WAITING:
            r = cli_override(&cli, "gateway.max_waiting", optarg, "flag --max-waiting");
            break;
        case OPT_HASH_KEY: status = hash_key(); goto out;
        case 'h': usage(stdout); goto out;
        default: usage(stderr); status = EXIT_USAGE; goto out;
        }
        if (r != 0) {
            status = EXIT_SOFTWARE;
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG_NAME ": unexpected argument \"%s\" (see --help)\n", argv[optind]);
        status = EXIT_USAGE;
        goto out;
    }
    if ((status = cli_load_config(&cli, &cfg)) != 0) goto out;
    have_cfg = 1;
    if (callback_check_config(&cfg, errstr, sizeof(errstr)) != CALLBACK_OK) {
        fprintf(stderr, PROG_NAME ": %s\n", errstr);
        status = EXIT_CONFIG;
        goto out;
    }
    if (cfg.gateway_api_keys_file[0]) { /* a bad key file is bad config: 78 */
        auth_t *keys = auth_load(cfg.gateway_api_keys_file, errstr, sizeof(errstr));
        auth_free(keys);
        if (!keys) {
            fprintf(stderr, PROG_NAME ": gateway.api_keys_file: %s\n", errstr);
            status = EXIT_CONFIG;
            goto out;
        }
    }
    if (cli_config_checked(&cli, &cfg, &status)) goto out;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns on a signal */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_sighup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-answer is an error return, not death */
    raise_fd_limit((rlim_t)cfg.gateway_max_waiting + 1024);

    /* /healthz, /readyz and /metrics on metrics.listen, when set: on a
     * thread of their own, so a stuck loop is seen from outside. */
    if (ops_open(&cfg, "orderfleet_gateway", &reg, &o, errstr, sizeof(errstr)) != OPS_OK) {
        log_error("could not start", "error=%s", errstr);
        status = EXIT_UNAVAILABLE;
        goto out;
    }
    if (gmetrics_init(&gm, reg) != METRICS_OK) {
        log_error("could not start", "error=\"out of memory for metrics\"");
        status = EXIT_SOFTWARE;
        goto out;
    }

    /* The requester's reports go to the api, which needs the requester to
     * exist first: requester_set_report() closes the circle before any
     * request (and so any report) can be made. */
    req = requester_new(&cfg, PROG_NAME, cfg.gateway_reply_partition,
                        (size_t)cfg.gateway_max_waiting, NULL, NULL, errstr, sizeof(errstr));
    if (!req) {
        log_error("could not start", "error=%s", errstr);
        status = EXIT_UNAVAILABLE;
        goto out;
    }
    if (!(hist = history_new(&cfg, errstr, sizeof(errstr)))) {
        log_error("could not start", "error=%s", errstr);
        status = EXIT_UNAVAILABLE;
        goto out;
    }
    if (!(api = api_new(&cfg, req, hist, &gm, errstr, sizeof(errstr)))) {
        log_error("could not start", "error=%s", errstr);
        status = EXIT_UNAVAILABLE;
        goto out;
    }
    requester_set_report(req, api_on_report, api);
    /* Outcome callbacks: their thread starts here; outcomes reach them
     * through the history (replies and topics.completed alike). */
    if (!(cb = callback_new(&cfg, &gm, errstr, sizeof(errstr)))) {
        log_error("could not start", "error=%s", errstr);
        status = EXIT_CONFIG;
        goto out;
    }
    api_set_callbacks(api, cb);
    if (callback_enabled(cb) && history_listen(hist, callback_history_listener, cb) != 0) {
        log_error("could not start", "error=\"no room for the callbacks' history listener\"");
        status = EXIT_SOFTWARE;
        goto out;
    }
    log_info("listening", "address=%s port=%d wait_ms=%d reply_partition=%d max_waiting=%d",
             cfg.gateway_listen, api_port(api), cfg.gateway_wait_ms, cfg.gateway_reply_partition,
             cfg.gateway_max_waiting);

    int was_ready = 0;
    if (api_keys(api))
        log_info("access control: API keys", "keys=%zu file=%s reload=SIGHUP", api_keys(api),
                 cfg.gateway_api_keys_file);
    else
        log_info("access control: open", "detail=\"no gateway.api_keys_file: every client may "
                 "place and read orders\"");
    while (run) {
        if (reload_keys) {
            reload_keys = 0;
            if (api_reload_keys(api, errstr, sizeof(errstr)) == API_OK)
                log_info("API keys reloaded", "keys=%zu", api_keys(api));
            else
                log_error("API keys not reloaded, the old ones stay", "error=%s", errstr);
        }
        turn(api, req, hist, &gm, o, TICK_MS);
        /* ready: what /readyz answers (replies and history positioned, and a
         * broker reachable), logged at each change */
        const char *why = api_not_ready(api);
        if (!why && !was_ready) log_info("ready", "port=%d", api_port(api));
        else if (why && was_ready) log_warn("not ready", "reason=\"%s\"", why);
        was_ready = !why;
        ops_set_ready(o, !why, why);
    }
    shut_down(api, req, hist, &gm, o);
    callback_stop(cb, SHUTDOWN_CALLBACK_GRACE_MS);
    log_summary(api, req, hist);

out:
    api_free(api);
    history_free(hist);
    callback_free(cb);
    requester_free(req);
    ops_close(o, reg);
    if (have_cfg) config_free(&cfg);
    cli_free(&cli);
    return status;
}
