#define _POSIX_C_SOURCE 200809L
#include "common/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <protobuf-c/protobuf-c.h>

#include "common/kafka.h"
#include "common/logfmt.h"

void cli_init(cli_common *c, const char *prog) {
    memset(c, 0, sizeof(*c));
    c->prog = prog;
}

static int cli_push(cli_common *c, const char *path, const char *value, const char *origin,
                    char *owned) {
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        config_override *o = realloc(c->overrides, cap * sizeof(*o));
        if (!o) goto oom;
        c->overrides = o;
        char **w = realloc(c->owned, cap * sizeof(*w));
        if (!w) goto oom;
        c->owned = w;
        c->cap = cap;
    }
    c->overrides[c->count] = (config_override){path, value, origin};
    c->owned[c->count] = owned;
    c->count++;
    return 0;
oom:
    free(owned);
    fprintf(stderr, "%s: out of memory\n", c->prog);
    return -1;
}

int cli_override(cli_common *c, const char *path, const char *value, const char *origin) {
    return cli_push(c, path, value, origin, NULL);
}

/* -X name=value becomes the override "kafka.name" = value. The path is built
 * in one allocation that also holds the value, owned by c. */
static int cli_kafka_property(cli_common *c, const char *arg, int *status) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        fprintf(stderr, "%s: -X takes name=value (a librdkafka property), got \"%s\"\n",
                c->prog, arg);
        *status = EXIT_USAGE;
        return CLI_EXIT;
    }
    size_t nlen = (size_t)(eq - arg);
    char *buf = malloc(6 + nlen + 1 + strlen(eq + 1) + 1);
    if (!buf) {
        *status = EXIT_SOFTWARE;
        return CLI_EXIT;
    }
    memcpy(buf, "kafka.", 6);
    memcpy(buf + 6, arg, nlen);
    buf[6 + nlen] = '\0';
    char *value = buf + 6 + nlen + 1;
    strcpy(value, eq + 1);
    if (cli_push(c, buf, value, "flag -X", buf) != 0) {
        *status = EXIT_SOFTWARE;
        return CLI_EXIT;
    }
    return CLI_HANDLED;
}

int cli_handle(cli_common *c, int opt, const char *arg, int *status) {
    switch (opt) {
    case 'b':
        if (cli_override(c, "kafka.bootstrap.servers", arg, "flag -b") != 0) {
            *status = EXIT_SOFTWARE;
            return CLI_EXIT;
        }
        return CLI_HANDLED;
    case 'c': c->config_file = arg; return CLI_HANDLED;
    case 'X': return cli_kafka_property(c, arg, status);
    case 'v': c->verbosity++; return CLI_HANDLED;
    case 'q': c->verbosity--; return CLI_HANDLED;
    case CLI_OPT_JSON: c->json = 1; return CLI_HANDLED;
    case CLI_OPT_CHECK_CONFIG: c->check_config = 1; return CLI_HANDLED;
    case CLI_OPT_LOG_FORMAT:
        if (cli_override(c, "log.format", arg, "flag --log-format") != 0) {
            *status = EXIT_SOFTWARE;
            return CLI_EXIT;
        }
        return CLI_HANDLED;
    case 'V':
        cli_print_version(c->prog);
        *status = 0;
        return CLI_EXIT;
    case CLI_OPT_HELP_CONFIG:
        config_print_settings(stdout);
        *status = 0;
        return CLI_EXIT;
    default: return CLI_NOT_MINE;
    }
}

int cli_load_config(cli_common *c, of_config *cfg) {
    char errstr[1024];
    if (config_load(cfg, c->config_file, c->overrides, c->count, errstr, sizeof(errstr)) !=
        CONFIG_OK) {
        fprintf(stderr, "%s: %s\n", c->prog, errstr);
        return EXIT_CONFIG;
    }
    int level = logfmt_level_parse(cfg->log_level) + c->verbosity;
    if (level < LOG_LEVEL_ERROR) level = LOG_LEVEL_ERROR;
    if (level > LOG_LEVEL_DEBUG) level = LOG_LEVEL_DEBUG;
    logfmt_init(c->prog, (log_level_t)level);
    logfmt_set_format((log_format_t)logfmt_format_parse(cfg->log_format));
    return 0;
}

int cli_config_checked(const cli_common *c, const of_config *cfg, int *status) {
    if (!c->check_config) return 0;
    char errstr[512];
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, NULL, NULL, errstr, sizeof(errstr));
    if (!conf) {
        fprintf(stderr, "%s: kafka property %s\n", c->prog, errstr);
        *status = EXIT_CONFIG;
        return 1;
    }
    rd_kafka_conf_destroy(conf);
    fprintf(stderr, "%s: configuration valid\n", c->prog);
    *status = 0;
    return 1;
}

void cli_free(cli_common *c) {
    for (size_t i = 0; i < c->count; i++) free(c->owned[i]);
    free(c->owned);
    free(c->overrides);
    memset(c, 0, sizeof(*c));
}

void cli_print_version(const char *prog) {
    printf("%s %s (librdkafka %s, protobuf-c %s)\n", prog, ORDERFLEET_VERSION,
           rd_kafka_version_str(), protobuf_c_version());
}

void cli_print_common_usage(FILE *f) {
    fprintf(f,
            "Common options (the same in every orderfleet program):\n"
            "  -b, --brokers LIST     Kafka bootstrap servers, host:port[,host:port...]\n"
            "  -c, --config FILE      libconfig file (see deploy/config/ for examples)\n"
            "  -X NAME=VALUE          any librdkafka property, e.g. -X security.protocol=ssl\n"
            "  -v, --verbose          more logging (debug); -q, --quiet: less (warnings)\n"
            "      --json             machine-readable output on stdout\n"
            "      --help-config      list every setting, its variable and default\n"
            "      --check-config     load and check the configuration (flags, ORDERFLEET_*\n"
            "                         variables, file, librdkafka properties) and exit:\n"
            "                         0 when valid, 78 when not; Kafka is not contacted\n"
            "      --log-format FMT   logfmt (default) or json lines (log.format)\n"
            "  -h, --help             this help;  -V, --version: the version\n"
            "\n"
            "Precedence: flag > environment (ORDERFLEET_*) > config file > default.\n"
            "Logs: one line per event on stderr (logfmt or JSON). A bad config exits 78\n"
            "before touching Kafka.\n");
}
