/* order-worker: a member of the order-processing fleet (DESIGN.md §5).
 *
 * One per container. Joins the worker group, processes orders with the
 * built-in fulfillment handler (or the shared object named by
 * handler.library) and publishes their outcomes; see engine.h for
 * the guarantees. SIGTERM or SIGINT stops it cleanly (drain, commit, leave the
 * group, exit 0); a second signal exits at once. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cli.h"
#include "common/config.h"
#include "common/logfmt.h"
#include "consumer/engine.h"
#include "consumer/handler.h"

static volatile sig_atomic_t run = 1;

/* First signal: ask the loop to stop. Second: the operator means it. */
static void on_signal(int sig) {
    if (!run) _exit(128 + sig);
    run = 0;
}

static void usage(FILE *f) {
    fprintf(f,
            "Usage: order-worker [options]\n"
            "\n"
            "A worker of the orderfleet fleet: consumes OrderPlaced events from the orders\n"
            "topic as a member of one consumer group, validates, prices and fulfils each\n"
            "order, and publishes an OrderCompleted outcome (FULFILLED, REJECTED or FAILED)\n"
            "on the completed topic. Many orders are handled at once on a pool of threads,\n"
            "those of one key one after the other. A transient failure is retried through\n"
            "the retry topic with backoff (no thread waits); after the last attempt the\n"
            "order goes to the dead-letter topic and gets a FAILED outcome. Records that\n"
            "cannot be decoded or identified go to the dead-letter topic with error\n"
            "headers. Offsets are committed only for orders whose outcome Kafka has\n"
            "acknowledged (at-least-once), or in one transaction with the outcomes\n"
            "(exactly-once). Run as many as you like: they share the work through the\n"
            "consumer group.\n"
            "\n"
            "Worker options (each also a config setting and an ORDERFLEET_* variable):\n"
            "  -g, --group ID           consumer group (worker.group, default order-workers)\n"
            "  -i, --id ID              worker id in outcomes and logs (worker.id,\n"
            "                           default <hostname>-<pid>)\n"
            "      --guarantee MODE     at_least_once (default) or exactly_once: outcomes,\n"
            "                           retries, dead letters and input offsets commit in\n"
            "                           one transaction; readers use read_committed\n"
            "                           (worker.guarantee); keep --id stable across restarts\n"
            "      --concurrency N      orders in the handler at once: its threads\n"
            "                           (worker.concurrency, default 64); orders of one key\n"
            "                           are handled one at a time, in offset order\n"
            "      --max-buffered N     orders consumed and not yet done before the worker\n"
            "                           pauses its partitions (worker.max_buffered, default\n"
            "                           4 x concurrency, at least 10000)\n"
            "      --latency-ms N       simulated processing time per order\n"
            "                           (handler.latency_ms, default 0)\n"
            "      --failure-rate F     share of attempts failing transiently, 0..1\n"
            "                           (handler.failure_rate, default 0)\n"
            "      --max-attempts N     attempts before an order FAILS (retry.max_attempts, 3)\n"
            "      --drain-timeout-ms N time to finish in-flight work on shutdown or\n"
            "                           rebalance (worker.drain_timeout_ms, default 30000)\n"
            "\n"
            "Your own business logic: a shared object built against\n"
            "consumer/orderfleet_handler.h, named by handler.library (or\n"
            "ORDERFLEET_HANDLER_LIBRARY), replaces the built-in fulfillment handler.\n"
            "\n");
    cli_print_common_usage(f);
    fprintf(f,
            "\n"
            "Examples:\n"
            "  order-worker -b localhost:9092\n"
            "  order-worker -c deploy/config/worker.cfg --latency-ms 50 --failure-rate 0.02\n"
            "  ORDERFLEET_KAFKA_BOOTSTRAP_SERVERS=kafka:9092 order-worker\n"
            "\n"
            "Signals: SIGTERM/SIGINT drain in-flight work, commit, leave the group and exit;\n"
            "a second signal exits at once.\n"
            "\n"
            "Exit status: 0 clean stop, 64 usage, 69 could not start a Kafka client,\n"
            "70 fatal Kafka client error, 75 a record could be neither answered nor\n"
            "dead-lettered (left uncommitted; restart to retry), 78 bad config (a\n"
            "handler library that cannot be loaded or refuses to start included).\n");
}

enum {
    OPT_LATENCY = 0x2001,
    OPT_FAILURE_RATE,
    OPT_MAX_ATTEMPTS,
    OPT_DRAIN_TIMEOUT,
    OPT_CONCURRENCY,
    OPT_MAX_BUFFERED,
    OPT_GUARANTEE
};

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        {"group", required_argument, NULL, 'g'},
        {"id", required_argument, NULL, 'i'},
        {"latency-ms", required_argument, NULL, OPT_LATENCY},
        {"failure-rate", required_argument, NULL, OPT_FAILURE_RATE},
        {"max-attempts", required_argument, NULL, OPT_MAX_ATTEMPTS},
        {"drain-timeout-ms", required_argument, NULL, OPT_DRAIN_TIMEOUT},
        {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
        {"max-buffered", required_argument, NULL, OPT_MAX_BUFFERED},
        {"guarantee", required_argument, NULL, OPT_GUARANTEE},
        CLI_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    cli_common cli;
    of_config cfg;
    handler h = {0};
    engine *e = NULL;
    metrics *reg = NULL; /* /metrics: owned, freed after the ops endpoint that renders it */
    ops *o = NULL;
    int opt, status = 0, have_cfg = 0;
    char errstr[512];

    cli_init(&cli, "order-worker");
    while ((opt = getopt_long(argc, argv, CLI_SHORTOPTS "g:i:", longopts, NULL)) != -1) {
        int r = cli_handle(&cli, opt, optarg, &status);
        if (r == CLI_EXIT) goto out;
        if (r == CLI_HANDLED) continue;
        switch (opt) {
        case 'g': r = cli_override(&cli, "worker.group", optarg, "flag --group"); break;
        case 'i': r = cli_override(&cli, "worker.id", optarg, "flag --id"); break;
        case OPT_LATENCY:
            r = cli_override(&cli, "handler.latency_ms", optarg, "flag --latency-ms");
            break;
        case OPT_FAILURE_RATE:
            r = cli_override(&cli, "handler.failure_rate", optarg, "flag --failure-rate");
            break;
        case OPT_MAX_ATTEMPTS:
            r = cli_override(&cli, "retry.max_attempts", optarg, "flag --max-attempts");
            break;
        case OPT_DRAIN_TIMEOUT:
            r = cli_override(&cli, "worker.drain_timeout_ms", optarg, "flag --drain-timeout-ms");
            break;
        case OPT_CONCURRENCY:
            r = cli_override(&cli, "worker.concurrency", optarg, "flag --concurrency");
            break;
        case OPT_GUARANTEE:
            r = cli_override(&cli, "worker.guarantee", optarg, "flag --guarantee");
            break;
        case OPT_MAX_BUFFERED:
            r = cli_override(&cli, "worker.max_buffered", optarg, "flag --max-buffered");
            break;
        case 'h': usage(stdout); goto out;
        default: usage(stderr); status = EXIT_USAGE; goto out;
        }
        if (r != 0) {
            status = EXIT_SOFTWARE;
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "order-worker: unexpected argument \"%s\" (see --help)\n", argv[optind]);
        status = EXIT_USAGE;
        goto out;
    }
    if ((status = cli_load_config(&cli, &cfg)) != 0) goto out;
    have_cfg = 1;
    if (engine_check_config(&cfg, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "order-worker: %s\n", errstr);
        status = EXIT_CONFIG;
        goto out;
    }

    /* The handler is part of the configuration: one that cannot be loaded or
     * refuses its settings stops the worker before it touches Kafka. */
    if (handler_load(&h, &cfg, errstr, sizeof(errstr)) != 0) {
        fprintf(stderr, "order-worker: %s\n", errstr);
        status = EXIT_CONFIG;
        goto out;
    }
    if (cli_config_checked(&cli, &cfg, &status)) goto out;
    log_info("handler loaded", "name=%s library=%s", h.name,
             cfg.handler_library[0] ? cfg.handler_library : "built-in");

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* /healthz, /readyz and /metrics on metrics.listen, when set: on a
     * thread of their own, so a stuck loop is seen from outside. */
    if (ops_open(&cfg, "orderfleet_worker", &reg, &o, errstr, sizeof(errstr)) != OPS_OK) {
        log_error("could not start", "error=%s", errstr);
        status = EXIT_UNAVAILABLE;
        goto out;
    }
    if (!(e = engine_new(&cfg, &h, reg, o, errstr, sizeof(errstr)))) {
        log_error("could not start", "error=%s", errstr);
        status = EXIT_UNAVAILABLE;
        goto out;
    }
    status = engine_run(e, &run);
out:
    engine_destroy(e);
    ops_close(o, reg); /* after the engine, whose last turns still beat */
    handler_unload(&h);
    if (have_cfg) config_free(&cfg);
    cli_free(&cli);
    return status;
}
