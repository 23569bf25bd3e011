/* config: the fleet's settings, from built-in defaults, a libconfig file,
 * ORDERFLEET_* environment variables and command-line flags, in that order of
 * increasing precedence (DESIGN.md §6).
 *
 * Every setting lives in one table (config.c): its path ("worker.group"), its
 * type and bounds, its default and a line of help. The environment variable is
 * derived from the path: "worker.group" -> ORDERFLEET_WORKER_GROUP.
 *
 * The `kafka` group is different: any key in it is a librdkafka property, with
 * '_' standing for '.' (libconfig names cannot hold dots), so
 * `kafka.bootstrap_servers` is `bootstrap.servers` and the environment
 * variable ORDERFLEET_KAFKA_BOOTSTRAP_SERVERS sets it too. Kafka properties are
 * checked against librdkafka at load time, so a typo is a config error with
 * its file and line, reported before anything touches Kafka.
 *
 * Secrets: any kafka property NAME may instead be given as NAME_file (env
 * ORDERFLEET_KAFKA_NAME_FILE, -X NAME.file=PATH): the value is then read from
 * that file (one trailing newline dropped; a world-readable file is refused).
 * Values of secret properties (config_kafka_secret()) are never rendered in
 * error messages. */
#ifndef ORDERFLEET_CONFIG_H
#define ORDERFLEET_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include <librdkafka/rdkafka.h>

#define CONFIG_OK 0
#define CONFIG_ERR -1

/* sysexits.h's EX_CONFIG: the exit status of every program on bad config. */
#define EXIT_CONFIG 78

/* One librdkafka property and where its value came from ("worker.cfg:12",
 * "ORDERFLEET_KAFKA_ACKS", "flag -X"), for error messages. */
typedef struct config_kafka_prop {
    char *name;   /* librdkafka name, dotted */
    char *value;
    char *origin;
} config_kafka_prop;

/* Every string is owned by the config and freed by config_free(). */
typedef struct of_config {
    /* topics (DESIGN §3) */
    char *topic_orders;
    char *topic_completed;
    char *topic_replies;
    char *topic_retry;
    char *topic_dlq;
    int orders_partitions; /* partitions of the orders topic where we create it */

    /* worker */
    char *worker_group;
    char *worker_id;        /* default: <hostname>-<pid> */
    int worker_concurrency; /* handler threads: orders in the handler at once */
    int worker_max_buffered; /* orders consumed and not done; 0: auto */
    int worker_max_buffered_bytes;
    char *worker_guarantee; /* "at_least_once" | "exactly_once" */
    int worker_drain_timeout_ms;
    int worker_commit_interval_ms;

    /* handler: the built-in one's settings, or a library of one's own */
    int handler_latency_ms;
    double handler_failure_rate;
    char *handler_library; /* shared object path; "" for the built-in handler */

    /* transient-failure retries */
    int retry_max_attempts;
    int retry_base_ms;
    int retry_cap_ms;

    /* gateway and health endpoints (used by the programs that serve HTTP) */
    char *gateway_listen;
    int gateway_wait_ms;
    int gateway_max_wait_ms;     /* cap on Prefer: wait=N */
    int gateway_reply_partition; /* -1: read every reply partition and filter */
    int gateway_max_waiting;     /* requests waiting for a reply, beyond: 503 */
    int gateway_max_body;        /* bytes of a request body, beyond: 413 */
    char *gateway_callback_hosts;        /* allowed callbackUrl hosts; "": callbacks off */
    char *gateway_callback_secret;       /* HMAC key of callbacks: never log it */
    char *gateway_callback_secret_file;  /* or the file that holds it */
    int gateway_callback_attempts;       /* attempts per delivery */
    int gateway_callback_timeout_ms;     /* per attempt */
    int gateway_callback_queue;          /* deliveries waiting, beyond: oldest dropped */
    int gateway_outcomes;        /* outcomes and accepted orders remembered */
    int gateway_history_s;       /* how far back a starting gateway reads them */
    char *gateway_api_keys_file;  /* API keys (gateway/auth.h); "": open access */
    int gateway_max_connections;  /* HTTP connections at once; 0: max_waiting + 512 */
    int gateway_max_connections_per_ip; /* per client address; 0: no limit */
    int gateway_max_header_bytes; /* memory per connection for the request head */
    int gateway_request_timeout_ms; /* whole request (head and body) must arrive within */
    int gateway_idempotency_keys; /* Idempotency-Key values remembered */
    int gateway_max_streams;      /* SSE streams open at once, beyond: 503 */
    int gateway_sse_keepalive_ms; /* keep-alive comment interval on SSE streams */
    char *metrics_listen;
    int metrics_liveness_ms; /* /healthz turns 503 when the main loop stalls this long */

    /* logging */
    char *log_level;
    char *log_format; /* "logfmt" or "json" */

    /* kafka pass-through, in the order applied (later entries win) */
    config_kafka_prop *kafka;
    size_t kafka_count;

    /* the file loaded, if any (owned) */
    char *source_file;
} of_config;

/* A setting given on the command line: path is a table path ("worker.group")
 * or "kafka.<librdkafka property>"; origin names the flag for errors. The
 * strings are borrowed from the caller for the duration of config_load(). */
typedef struct config_override {
    const char *path;
    const char *value;
    const char *origin;
} config_override;

/* Loads the whole configuration into cfg: defaults, then the file at path
 * (NULL for none), then the environment, then the overrides in order. On
 * error returns CONFIG_ERR with a message in errstr that names the file and
 * line (or variable, or flag), the setting and what is wrong; cfg is then
 * left freed. On success the caller owns cfg and frees it with config_free(). */
int config_load(of_config *cfg, const char *path, const config_override *overrides,
                size_t override_count, char *errstr, size_t errsize);

void config_free(of_config *cfg);

/* Reads the secret file at path into *out (malloc'd, NUL-terminated; the
 * caller overwrites and frees it): a regular file, not readable by every user
 * (refused like ssh and PostgreSQL refuse loose key files; in Kubernetes mount
 * the Secret with defaultMode 0440), at most 64 KiB, no NUL byte; one trailing
 * newline (LF or CRLF) is dropped and what is left must not be empty. Errors
 * start with what (the setting, and where it was set) and name the file,
 * never its content. Returns CONFIG_OK or CONFIG_ERR. */
int config_read_secret_file(const char *path, const char *what, char **out, char *errstr,
                            size_t errsize);

/* The value of librdkafka property name as configured, or NULL. */
const char *config_kafka_get(const of_config *cfg, const char *name);

/* Applies every kafka property of cfg to conf. Returns CONFIG_ERR with the
 * offending property and its origin in errstr. conf stays the caller's. */
int config_apply_kafka(const of_config *cfg, rd_kafka_conf_t *conf, char *errstr,
                       size_t errsize);

/* 1 when librdkafka property name holds a secret (sasl.password,
 * ssl.key.password, ...): its value is never shown in a message. */
int config_kafka_secret(const char *name);

/* Writes the table of settings (path, env variable, default, help) to f: the
 * body of each program's `--help-config`. */
void config_print_settings(FILE *f);

#endif
