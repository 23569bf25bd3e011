/* cli: the options every orderfleet program spells the same way (DESIGN.md
 * §2), like kcat's: -b, -c, -X, -v, -q, --json, -V, --help-config.
 *
 * A program's getopt loop hands each option to cli_handle() first; what
 * cli_handle() does not know is the program's own. Afterwards cli_load_config()
 * turns the options into config overrides (flag > env > file > default),
 * loads the configuration and sets up logging. */
#ifndef ORDERFLEET_CLI_H
#define ORDERFLEET_CLI_H

#include <getopt.h>
#include <stddef.h>

#include "common/config.h"

/* sysexits.h */
#define EXIT_USAGE 64
#define EXIT_DATAERR 65
#define EXIT_UNAVAILABLE 69
#define EXIT_SOFTWARE 70
#define EXIT_TEMPFAIL 75

typedef struct cli_common {
    const char *prog;        /* program name, for messages */
    const char *config_file; /* -c, borrowed from argv */
    int verbosity;           /* +1 per -v, -1 per -q */
    int json;                /* --json */
    int check_config;        /* --check-config */
    config_override *overrides; /* owned */
    char **owned;               /* strings the overrides point into, owned */
    size_t count, cap;
} cli_common;

/* The long options cli_handle() knows, to splice into a program's table, and
 * their short letters for its optstring. */
#define CLI_SHORTOPTS "b:c:X:vqhV"
#define CLI_LONGOPTS                                                                        \
    {"brokers", required_argument, NULL, 'b'}, {"config", required_argument, NULL, 'c'},    \
        {"verbose", no_argument, NULL, 'v'}, {"quiet", no_argument, NULL, 'q'},             \
        {"json", no_argument, NULL, CLI_OPT_JSON}, {"help", no_argument, NULL, 'h'},         \
        {"version", no_argument, NULL, 'V'},                                                 \
        {"help-config", no_argument, NULL, CLI_OPT_HELP_CONFIG},                             \
        {"check-config", no_argument, NULL, CLI_OPT_CHECK_CONFIG},                           \
        {"log-format", required_argument, NULL, CLI_OPT_LOG_FORMAT}
#define CLI_OPT_JSON 0x1001
#define CLI_OPT_HELP_CONFIG 0x1002
#define CLI_OPT_CHECK_CONFIG 0x1003
#define CLI_OPT_LOG_FORMAT 0x1004

#define CLI_HANDLED 1
#define CLI_NOT_MINE 0
#define CLI_EXIT -1 /* exit now with *status (help, version, or a usage error) */

void cli_init(cli_common *c, const char *prog);

/* Handles one getopt result. -h is left to the program (CLI_NOT_MINE), since
 * only it knows its usage. On CLI_EXIT, *status is the exit status. */
int cli_handle(cli_common *c, int opt, const char *arg, int *status);

/* Adds a setting override from a program-specific flag, e.g.
 * cli_override(c, "worker.concurrency", optarg, "flag --concurrency"). The
 * strings must outlive the cli_common (argv and literals do). */
int cli_override(cli_common *c, const char *path, const char *value, const char *origin);

/* Loads cfg (see config_load()) and initialises logging from log.level,
 * log.format, -v and -q. On a config error prints "<prog>: <error>" to stderr and returns
 * EXIT_CONFIG; returns 0 on success. */
int cli_load_config(cli_common *c, of_config *cfg);

/* --check-config: once the program has loaded and checked its configuration,
 * this also checks the librdkafka properties (without connecting), says so on
 * stderr and returns 1: the program then exits with *status (0, or
 * EXIT_CONFIG for a bad property). Returns 0 without --check-config. */
int cli_config_checked(const cli_common *c, const of_config *cfg, int *status);

void cli_free(cli_common *c);

/* "order-worker 0.1.0 (librdkafka 2.0.2, protobuf-c 1.4.1)" on stdout. */
void cli_print_version(const char *prog);

/* The lines about the common options, for each program's usage(). */
void cli_print_common_usage(FILE *f);

#endif
