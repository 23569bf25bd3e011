/* order-devbroker: an embedded Kafka for development and demos.
 *
 * Hosts librdkafka's mock cluster (in memory, several brokers on loopback,
 * random free ports) with the topics of DESIGN.md §3, prints the bootstrap
 * servers as the first line on stdout and runs until SIGINT or SIGTERM. Any
 * Kafka client can use it; nothing survives it. Not for production: the mock
 * cluster keeps everything in memory and implements only what librdkafka's own
 * tests need. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cli.h"
#include "common/config.h"
#include "common/devcluster.h"
#include "common/logfmt.h"
#include "common/metrics.h"
#include "common/ops.h"
#include "common/timeutil.h"

static volatile sig_atomic_t run = 1;

static void stop(int sig) {
    (void)sig;
    run = 0;
}

static void usage(FILE *f) {
    fprintf(f,
            "Usage: order-devbroker [options]\n"
            "\n"
            "Runs an embedded Kafka cluster (librdkafka's mock cluster) on loopback with\n"
            "the orderfleet topics created, for demos, development and tests. Prints the\n"
            "bootstrap servers as the first line on stdout, then runs until SIGINT/SIGTERM.\n"
            "Everything is kept in memory and is gone when it stops.\n"
            "\n"
            "Options:\n"
            "  -n, --nodes N          number of brokers (default 3)\n"
            "  -p, --partitions N     partitions of the orders topic (default: the\n"
            "                         topics.orders_partitions setting, 12)\n"
            "\n");
    cli_print_common_usage(f);
    fprintf(f,
            "\n"
            "Example:\n"
            "  b=$(order-devbroker | head -1) &   # or read the first line in a script\n"
            "  order-devbroker > broker.txt & sleep 1; order-worker -b \"$(head -1 broker.txt)\"\n"
            "\n"
            "Exit status: 0 after SIGINT/SIGTERM, 64 usage, 69 the cluster could not start,\n"
            "78 bad config.\n");
}

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        {"nodes", required_argument, NULL, 'n'},
        {"partitions", required_argument, NULL, 'p'},
        CLI_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    cli_common cli;
    of_config cfg;
    int opt, status = 0, nodes = 3;
    char errstr[512];

    cli_init(&cli, "order-devbroker");
    while ((opt = getopt_long(argc, argv, CLI_SHORTOPTS "n:p:", longopts, NULL)) != -1) {
        int r = cli_handle(&cli, opt, optarg, &status);
        if (r == CLI_EXIT) goto out;
        if (r == CLI_HANDLED) continue;
        switch (opt) {
        case 'n': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 9) {
                fprintf(stderr, "order-devbroker: --nodes takes 1 to 9, got \"%s\"\n", optarg);
                status = EXIT_USAGE;
                goto out;
            }
            nodes = (int)n;
            break;
        }
        case 'p':
            if (cli_override(&cli, "topics.orders_partitions", optarg, "flag --partitions")) {
                status = EXIT_SOFTWARE;
                goto out;
            }
            break;
        case 'h': usage(stdout); goto out;
        default: usage(stderr); status = EXIT_USAGE; goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "order-devbroker: unexpected argument \"%s\"\n", argv[optind]);
        status = EXIT_USAGE;
        goto out;
    }
    if ((status = cli_load_config(&cli, &cfg)) != 0) goto out;
    if (cli_config_checked(&cli, &cfg, &status)) {
        config_free(&cfg);
        goto out;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* whoever read our first line may be gone */

    /* /healthz, /readyz and /metrics (the process series) on
     * metrics.listen, like every long-running program. */
    metrics *reg;
    ops *o;
    if (ops_open(&cfg, "orderfleet_devbroker", &reg, &o, errstr, sizeof(errstr)) != OPS_OK) {
        log_error("could not start", "error=%s", errstr);
        config_free(&cfg);
        status = EXIT_UNAVAILABLE;
        goto out;
    }

    devcluster *dc = devcluster_start(&cfg, nodes, errstr, sizeof(errstr));
    if (!dc) {
        log_error("cluster did not start", "error=%s", errstr);
        ops_close(o, reg);
        config_free(&cfg);
        status = EXIT_UNAVAILABLE;
        goto out;
    }
    /* The first stdout line is the contract: scripts wait for it. */
    printf("%s\n", devcluster_bootstraps(dc));
    fflush(stdout);
    log_info("cluster ready", "bootstrap_servers=%s nodes=%d orders_partitions=%d",
             devcluster_bootstraps(dc), nodes, cfg.orders_partitions);

    ops_set_ready(o, 1, NULL);
    while (run) {
        ops_beat(o);
        time_sleep_ms(200, NULL);
    }

    log_info("stopping", NULL);
    ops_set_ready(o, 0, "stopping");
    devcluster_destroy(dc);
    ops_close(o, reg);
    config_free(&cfg);
out:
    cli_free(&cli);
    return status;
}
