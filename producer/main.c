/* order-producer: places orders on Kafka and reconciles their outcomes.
 *
 *   order-producer [global options] MODE [mode options] [args]
 *
 * main.c parses the command line (options may come before or after MODE),
 * loads the configuration, installs the signal handlers and hands over to
 * the mode: place.c, send.c, load.c or outcomes.c. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "common/cli.h"
#include "common/config.h"
#include "producer/modes.h"

/* Cleared by the first SIGINT/SIGTERM: modes stop taking new work and finish
 * what is in flight. A second signal exits at once. */
static volatile sig_atomic_t run = 1;

static void on_signal(int sig) {
    (void)sig;
    if (!run) _exit(EXIT_INTERRUPTED);
    run = 0;
}

typedef enum { MODE_NONE = 0, MODE_PLACE, MODE_SEND, MODE_LOAD, MODE_OUTCOMES } prog_mode;

static const char *const mode_names[] = {"", "place", "send", "load", "outcomes"};

/* --deadline: the default and the largest, in ms. */
#define DEADLINE_DEFAULT_MS 30000
#define DEADLINE_MAX_MS 3600000L

#define M_PLACE (1u << MODE_PLACE)
#define M_SEND (1u << MODE_SEND)
#define M_LOAD (1u << MODE_LOAD)
#define M_OUTCOMES (1u << MODE_OUTCOMES)

enum {
    OPT_FIRST = 0x2000,
    OPT_CUSTOMER = OPT_FIRST,
    OPT_CURRENCY,
    OPT_ITEM,
    OPT_ATTR,
    OPT_ORDER_ID,
    OPT_COUNT,
    OPT_RATE,
    OPT_CUSTOMERS,
    OPT_INVALID_SHARE,
    OPT_SOLDOUT_SHARE,
    OPT_SEED,
    OPT_IDS,
    OPT_EXPECT,
    OPT_TIMEOUT,
    OPT_WAIT,
    OPT_DEADLINE,
    OPT_LATENCY_FILE,
    OPT_LAST
};

static const struct option long_options[] = {
    CLI_LONGOPTS,
    {"customer", required_argument, NULL, OPT_CUSTOMER},
    {"currency", required_argument, NULL, OPT_CURRENCY},
    {"item", required_argument, NULL, OPT_ITEM},
    {"attr", required_argument, NULL, OPT_ATTR},
    {"order-id", required_argument, NULL, OPT_ORDER_ID},
    {"count", required_argument, NULL, OPT_COUNT},
    {"rate", required_argument, NULL, OPT_RATE},
    {"customers", required_argument, NULL, OPT_CUSTOMERS},
    {"invalid-share", required_argument, NULL, OPT_INVALID_SHARE},
    {"soldout-share", required_argument, NULL, OPT_SOLDOUT_SHARE},
    {"seed", required_argument, NULL, OPT_SEED},
    {"ids", no_argument, NULL, OPT_IDS},
    {"expect", required_argument, NULL, OPT_EXPECT},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"wait", no_argument, NULL, OPT_WAIT},
    {"deadline", required_argument, NULL, OPT_DEADLINE},
    {"latency-file", required_argument, NULL, OPT_LATENCY_FILE},
    {NULL, 0, NULL, 0},
};

/* The modes a mode-specific option belongs to. */
static unsigned option_modes(int opt) {
    switch (opt) {
    case OPT_CUSTOMER: case OPT_CURRENCY: case OPT_ITEM: case OPT_ATTR: case OPT_ORDER_ID:
        return M_PLACE;
    case OPT_COUNT: case OPT_RATE: case OPT_CUSTOMERS: case OPT_INVALID_SHARE:
    case OPT_SOLDOUT_SHARE: case OPT_SEED: case OPT_IDS: case OPT_LATENCY_FILE:
        return M_LOAD;
    case OPT_EXPECT: case OPT_TIMEOUT: return M_OUTCOMES;
    case OPT_WAIT: case OPT_DEADLINE: return M_PLACE | M_SEND | M_LOAD;
    default: return 0;
    }
}

static const char *option_name(int opt) {
    for (const struct option *o = long_options; o->name; o++)
        if (o->val == opt) return o->name;
    return "?";
}

/* Everything the command line says, pointing into argv. */
typedef struct args {
    prog_mode mode;
    int help;
    const char **positional; /* after MODE; argc entries allocated */
    size_t n_positional;
    int seen[OPT_LAST - OPT_FIRST];
    place_opts place;
    send_opts send;
    load_opts load;
    outcomes_opts outcomes;
    int wait;            /* --wait */
    long deadline_ms;    /* --deadline */
} args;

static void usage(FILE *f) {
    fprintf(f,
            "Usage: " PROG_NAME " [options] MODE [mode options] [args]\n"
            "\n"
            "Places orders on Kafka as OrderPlaced events (idempotent producer,\n"
            "acks=all) and prints each order id as soon as Kafka has acknowledged it,\n"
            "or with --wait each order's outcome once the worker has replied.\n"
            "Options may come before or after MODE.\n"
            "\n"
            "Modes:\n"
            "  place [JSON]               place one order, from flags or a JSON argument\n"
            "  send [FILE|-]              send NDJSON orders, one per line (default stdin)\n"
            "  load                       generate synthetic orders\n"
            "  outcomes                   reconcile orders with their outcomes\n"
            "\n"
            "place options:\n"
            "  --customer ID              customer id (required without JSON)\n"
            "  --currency CODE            ISO 4217 currency (default EUR)\n"
            "  --item SKU:QTY[:PRICE]     a line item (repeatable, at least one); PRICE in\n"
            "                             minor units, default the catalog list price\n"
            "  --attr KEY=VALUE           an order attribute (repeatable)\n"
            "  --order-id ID              the order id (default: a new UUIDv7)\n"
            "  JSON                       the whole order as one JSON object instead of the\n"
            "                             flags: {\"customerId\":...,\"currency\":\"EUR\",\n"
            "                             \"items\":[...]}; nothing is defaulted in JSON (an\n"
            "                             order without a currency is REJECTED by the worker)\n"
            "\n"
            "send arguments:\n"
            "  FILE                       NDJSON orders, one JSON object per line; none or\n"
            "                             \"-\" reads stdin. Lines up to 1 MiB, blank lines\n"
            "                             skipped; a bad line is reported and skipped.\n"
            "\n"
            "load options:\n"
            "  --count N                  orders to send (default 1000)\n"
            "  --rate R                   orders per second (default 0: as fast as possible)\n"
            "  --customers N              customers c-1 .. c-N (default 500)\n"
            "  --invalid-share F          share of orders that break a business rule\n"
            "                             (default 0.05)\n"
            "  --soldout-share F          share of orders with a sold-out item (default 0.03)\n"
            "  --seed N                   the same orders for the same N (default: random)\n"
            "  --ids                      print acknowledged ids (default: stdout stays empty)\n"
            "  --latency-file FILE        with --wait: every reply latency (send -> reply), in\n"
            "                             ms, ascending, one per line (for a latency CDF)\n"
            "\n"
            "outcomes options:\n"
            "  --expect FILE|-            order ids to account for, one per line (the stdout\n"
            "                             of place, send or load --ids, plain or --json)\n"
            "  --timeout SEC              give up after SEC seconds (default 60; 0: never)\n"
            "                             Without --expect: print every outcome as a line of\n"
            "                             JSON until the timeout or Ctrl-C (a tail).\n"
            "\n"
            "wait options (place, send, load):\n"
            "  --wait                     synchronous: wait for each order's reply (its\n"
            "                             outcome) and print it instead of the id (load:\n"
            "                             with or without --ids); replies are read from\n"
            "                             topics.replies\n"
            "  --deadline MS              how long each reply is waited for, from the order's\n"
            "                             send (default 30000, 1 to 3600000; needs --wait).\n"
            "                             An order without a reply by then is TIMED_OUT: it\n"
            "                             is queued and still processed, its outcome comes\n"
            "                             later on orders.completed\n"
            "\n");
    cli_print_common_usage(f);
    fprintf(f,
            "  -X list                    list every librdkafka property\n"
            "\n"
            "Output:\n"
            "  place, send and load --ids print each order id on stdout as soon as Kafka\n"
            "  has acknowledged it; with --json one object per line instead:\n"
            "  {\"orderId\":\"...\",\"topic\":\"orders\",\"partition\":3,\"offset\":17}\n"
            "  With --wait, one line per order as its reply (or the end of its wait) comes:\n"
            "    <id> FULFILLED total=<minor units> <currency>\n"
            "    <id> REJECTED total=<minor units> <currency> reason=\"...\"   (FAILED alike)\n"
            "    <id> TIMED_OUT                acknowledged, no reply by the deadline\n"
            "    <id> NOT_SENT error=\"...\"     not acknowledged by Kafka\n"
            "    <id> BAD_REPLY error=\"...\"    a reply that is not this order's outcome\n"
            "    <id> SHUTDOWN                 acknowledged, the wait ended by a signal\n"
            "  with --json the outcome as the JSON of OrderCompleted, and the others as\n"
            "  {\"orderId\":\"...\",\"result\":\"timed_out\"} (\"not_sent\", \"bad_reply\" with\n"
            "  \"error\", \"shutdown\"). The summary on stderr counts the results (load: with\n"
            "  the reply latency p50, p90, p99, p99.9 and max).\n"
            "  outcomes --expect prints a summary table (with --json, one object).\n"
            "  On a terminal, load and outcomes draw a progress line on stderr (not with -q).\n"
            "\n"
            "Examples:\n"
            "  " PROG_NAME " -b localhost:9092 place --customer c-42 \\\n"
            "      --item BURGER-CLASSIC:2 --item COLA-SMALL:1 --attr channel=app\n"
            "  " PROG_NAME " place '{\"customerId\":\"c-42\",\"currency\":\"EUR\",\"items\":"
            "[{\"sku\":\"FRIES-LARGE\",\"quantity\":1,\"unitPrice\":\"449\"}]}'\n"
            "  " PROG_NAME " send orders.ndjson > ids.txt\n"
            "  " PROG_NAME " load --count 10000 --rate 500 --ids > ids.txt\n"
            "  " PROG_NAME " place --wait --deadline 5000 --customer c-42 \\\n"
            "      --item BURGER-CLASSIC:2      # prints: <id> FULFILLED total=2439 EUR\n"
            "  " PROG_NAME " load --count 1000 --wait > results.txt\n"
            "  " PROG_NAME " outcomes --expect ids.txt --timeout 120\n"
            "  " PROG_NAME " load --count 1000 --ids | " PROG_NAME " outcomes --expect -\n"
            "  " PROG_NAME " outcomes --timeout 0          # tail every outcome\n"
            "\n"
            "Exit status:\n"
            "  0    every order acknowledged (--wait: every order answered FULFILLED or\n"
            "       REJECTED; outcomes: every expected order has an outcome)\n"
            "  1    outcomes: some expected orders have no outcome by the deadline;\n"
            "       --wait: some outcome is FAILED, or a reply could not be read\n"
            "  64   usage error\n"
            "  65   some input was invalid (and skipped); every valid order was acknowledged\n"
            "  69   some orders were not acknowledged by Kafka, or not sent after a fatal\n"
            "       producer error; --wait: the replies topic could not be read (nothing\n"
            "       was sent)\n"
            "  74   stdout could not be written (full disk, closed pipe): the ids or the\n"
            "       summary are incomplete; orders already sent are still waited for\n"
            "  75   --wait: some order was acknowledged but had no reply by its deadline\n"
            "       (TIMED_OUT): it is still processed, its outcome comes later\n"
            "  78   bad configuration (nothing was sent)\n"
            "  130  interrupted by SIGINT/SIGTERM before finishing; orders already sent\n"
            "       are still waited for (--wait: for Kafka's acknowledgement, up to 5 s,\n"
            "       not for replies: each order waiting gets its SHUTDOWN or NOT_SENT\n"
            "       line); a second signal exits at once\n"
            "  When several apply, the first of 69, 74, 130, 65, 75, 1 wins (outcomes: 69,\n"
            "  74, 130, 1).\n"
            "\n"
            "Environment:\n"
            "  ORDERFLEET_KAFKA_BOOTSTRAP_SERVERS  the brokers, like -b\n"
            "  ORDERFLEET_KAFKA_<PROPERTY>         any librdkafka property, '_' for '.'\n"
            "  ORDERFLEET_TOPICS_ORDERS            topic of placed orders (default orders)\n"
            "  ORDERFLEET_TOPICS_COMPLETED         topic of outcomes (default orders.completed)\n"
            "  ORDERFLEET_TOPICS_REPLIES           topic of --wait's replies (default\n"
            "                                      orders.replies)\n"
            "  ORDERFLEET_LOG_LEVEL                error, warn, info (default) or debug\n"
            "  Every setting has one; see --help-config.\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "order-producer: <message>" and a pointer to --help; returns
 * EXIT_USAGE. */
static int usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, PROG_NAME ": ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry '" PROG_NAME " --help'.\n");
    va_end(ap);
    return EXIT_USAGE;
}

/* Parses a whole number in [min, max] for option name. */
static int parse_long(const char *name, const char *s, long min, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        char range[96];
        snprintf(range, sizeof(range), "a whole number from %ld to %ld", min, max);
        fprintf(stderr, PROG_NAME ": --%s: expected %s, got \"%s\"\n", name, range, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Parses a finite number in [min, max] for option name. */
static int parse_double(const char *name, const char *s, double min, double max, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < min || v > max) {
        fprintf(stderr, PROG_NAME ": --%s: expected a number from %g to %g, got \"%s\"\n",
                name, min, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_u64(const char *name, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || s[0] == '+') {
        fprintf(stderr, PROG_NAME ": --%s: expected a whole number from 0 to %llu, got \"%s\"\n",
                name, (unsigned long long)UINT64_MAX, s);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

/* Stores one mode option. Returns 0, or EXIT_USAGE after printing why. */
static int mode_option(args *a, int opt, const char *arg) {
    const char *name = option_name(opt);
    int bad = 0;
    a->seen[opt - OPT_FIRST] = 1;
    switch (opt) {
    case OPT_CUSTOMER: a->place.customer = arg; break;
    case OPT_CURRENCY: a->place.currency = arg; break;
    case OPT_ITEM: a->place.items[a->place.n_items++] = arg; break;
    case OPT_ATTR: a->place.attrs[a->place.n_attrs++] = arg; break;
    case OPT_ORDER_ID: a->place.order_id = arg; break;
    case OPT_COUNT: bad = parse_long(name, arg, 0, 1000000000L, &a->load.count); break;
    case OPT_RATE: bad = parse_double(name, arg, 0, 1e9, &a->load.rate); break;
    case OPT_CUSTOMERS: bad = parse_long(name, arg, 1, 1000000000L, &a->load.customers); break;
    case OPT_INVALID_SHARE: bad = parse_double(name, arg, 0, 1, &a->load.invalid_share); break;
    case OPT_SOLDOUT_SHARE: bad = parse_double(name, arg, 0, 1, &a->load.soldout_share); break;
    case OPT_SEED:
        bad = parse_u64(name, arg, &a->load.seed);
        a->load.has_seed = 1;
        break;
    case OPT_IDS: a->load.ids = 1; break;
    case OPT_LATENCY_FILE: a->load.latency_file = arg; break;
    case OPT_EXPECT: a->outcomes.expect = arg; break;
    case OPT_TIMEOUT: bad = parse_double(name, arg, 0, 1e9, &a->outcomes.timeout_s); break;
    case OPT_WAIT: a->wait = 1; break;
    case OPT_DEADLINE:
        bad = parse_long(name, arg, 1, DEADLINE_MAX_MS, &a->deadline_ms);
        break;
    default: break;
    }
    return bad ? EXIT_USAGE : 0;
}

static prog_mode mode_parse(const char *s) {
    for (int m = MODE_PLACE; m <= MODE_OUTCOMES; m++)
        if (strcmp(s, mode_names[m]) == 0) return (prog_mode)m;
    return MODE_NONE;
}

/* Walks argv in order ("-" in optstring: non-options come back as 1, so no
 * reordering and no dependence on POSIXLY_CORRECT): the first non-option is
 * MODE, the next ones its arguments; everything after "--" is an argument.
 * Returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, args *a, cli_common *cli) {
    int opt, status = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "-:" CLI_SHORTOPTS, long_options, NULL)) != -1) {
        const char *given = argv[optind - 1];
        switch (opt) {
        case 1:
            if (a->mode == MODE_NONE) {
                a->mode = mode_parse(optarg);
                if (a->mode == MODE_NONE)
                    return usage_error("unknown mode \"%s\" (place, send, load or outcomes)",
                                       optarg);
            } else {
                a->positional[a->n_positional++] = optarg;
            }
            continue;
        case '?':
            if (optopt && optopt < 0x100) {
                char o[3] = {'-', (char)optopt, '\0'};
                return usage_error("unknown option %s", o);
            }
            if (optopt) return usage_error("option %s takes no value", given);
            return usage_error("unknown or ambiguous option %s", given);
        case ':': return usage_error("option %s needs a value", given);
        case 'h': a->help = 1; continue;
        case 'X':
            if (strcmp(optarg, "list") == 0) {
                rd_kafka_conf_properties_show(stdout);
                return 0;
            }
            break;
        default: break;
        }
        if (opt >= OPT_FIRST && opt < OPT_LAST) {
            if ((status = mode_option(a, opt, optarg)) != 0) return status;
            continue;
        }
        if (cli_handle(cli, opt, optarg, &status) == CLI_EXIT) return status;
    }
    for (; optind < argc; optind++) {
        if (a->mode == MODE_NONE) {
            a->mode = mode_parse(argv[optind]);
            if (a->mode == MODE_NONE)
                return usage_error("unknown mode \"%s\" (place, send, load or outcomes)",
                                   argv[optind]);
        } else {
            a->positional[a->n_positional++] = argv[optind];
        }
    }
    return -1;
}

/* Checks what only makes sense once MODE is known. Returns 0 or EXIT_USAGE. */
static int check_args(args *a) {
    const char *mode = mode_names[a->mode];
    if (a->mode == MODE_NONE)
        return usage_error("no MODE given (place, send, load or outcomes)");
    for (int opt = OPT_FIRST; opt < OPT_LAST; opt++)
        if (a->seen[opt - OPT_FIRST] && !(option_modes(opt) & (1u << a->mode)))
            return usage_error("--%s is not an option of mode %s", option_name(opt), mode);
    if (a->seen[OPT_DEADLINE - OPT_FIRST] && !a->wait)
        return usage_error("--deadline only applies with --wait");
    if (a->seen[OPT_LATENCY_FILE - OPT_FIRST] && !a->wait)
        return usage_error("--latency-file only applies with --wait");

    switch (a->mode) {
    case MODE_PLACE: {
        int flags = a->place.customer || a->place.currency || a->place.order_id ||
                    a->place.n_items || a->place.n_attrs;
        if (a->n_positional > 1) return usage_error("place takes one JSON order, got more");
        if (a->n_positional == 1) {
            if (flags)
                return usage_error("place: give the order either as JSON or with flags, not "
                                   "both");
            a->place.json = a->positional[0];
            return 0;
        }
        if (!a->place.customer)
            return usage_error("place needs --customer ID (or a JSON order)");
        if (a->place.n_items == 0)
            return usage_error("place needs at least one --item SKU:QTY[:UNIT_PRICE]");
        return 0;
    }
    case MODE_SEND:
        if (a->n_positional > 1) return usage_error("send reads one FILE (or stdin), got more");
        a->send.path = a->n_positional ? a->positional[0] : NULL;
        return 0;
    case MODE_LOAD:
        if (a->n_positional > 0)
            return usage_error("load takes no arguments, got \"%s\"", a->positional[0]);
        if (a->load.invalid_share + a->load.soldout_share > 1.0)
            return usage_error("--invalid-share and --soldout-share add up to more than 1");
        return 0;
    case MODE_OUTCOMES:
        if (a->n_positional > 0)
            return usage_error("outcomes takes no arguments, got \"%s\"", a->positional[0]);
        return 0;
    default: return 0;
    }
}

static int install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocking poll()/read() returns EINTR */
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
        fprintf(stderr, PROG_NAME ": cannot install signal handlers: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    cli_common cli;
    of_config cfg;
    int cfg_loaded = 0, rc;
    args a;

    /* A closed stdout is a write error (EPIPE) that the modes report, while
     * they still finish what is in flight: it must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    cli_init(&cli, PROG_NAME);
    memset(&a, 0, sizeof(a));
    a.load.count = 1000;
    a.load.customers = 500;
    a.load.invalid_share = 0.05;
    a.load.soldout_share = 0.03;
    a.outcomes.timeout_s = 60;
    a.deadline_ms = DEADLINE_DEFAULT_MS;
    a.positional = calloc((size_t)argc + 1, sizeof(*a.positional));
    a.place.items = calloc((size_t)argc + 1, sizeof(*a.place.items));
    a.place.attrs = calloc((size_t)argc + 1, sizeof(*a.place.attrs));
    if (!a.positional || !a.place.items || !a.place.attrs) {
        fprintf(stderr, PROG_NAME ": out of memory\n");
        rc = EXIT_SOFTWARE;
        goto done;
    }

    if ((rc = parse_args(argc, argv, &a, &cli)) >= 0) goto done;
    if (a.help) {
        usage(stdout);
        rc = 0;
        goto done;
    }
    if ((rc = check_args(&a)) != 0) goto done;

    /* Only now, with a valid command line, look at the configuration. */
    if ((rc = cli_load_config(&cli, &cfg)) != 0) goto done;
    cfg_loaded = 1;
    if (cli_config_checked(&cli, &cfg, &rc)) goto done;
    if (install_signals() != 0) {
        rc = EXIT_SOFTWARE;
        goto done;
    }

    mode_ctx ctx = {
        .cfg = &cfg,
        .json = cli.json,
        .progress = isatty(STDERR_FILENO) && cli.verbosity >= 0,
        .run = &run,
        .wait = a.wait,
        .deadline_ms = a.deadline_ms,
    };
    switch (a.mode) {
    case MODE_PLACE: rc = mode_place(&ctx, &a.place); break;
    case MODE_SEND: rc = mode_send(&ctx, &a.send); break;
    case MODE_LOAD: rc = mode_load(&ctx, &a.load); break;
    case MODE_OUTCOMES: rc = mode_outcomes(&ctx, &a.outcomes); break;
    default: rc = EXIT_USAGE; break;
    }

done:
    /* The modes report their own write errors; this catches the rest of
     * stdout (--help, -X list, --version...). */
    if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
        fprintf(stderr, PROG_NAME ": cannot write to stdout: %s\n", strerror(errno));
        rc = EXIT_IOERR;
    }
    if (cfg_loaded) config_free(&cfg);
    cli_free(&cli);
    free(a.positional);
    free(a.place.items);
    free(a.place.attrs);
    return rc;
}
