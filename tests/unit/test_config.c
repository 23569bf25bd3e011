/* Unit tests of common/config: the layers (defaults < file < environment <
 * flags), the kafka pass-through, the error messages users grep for, and the
 * documented examples in deploy/config/. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/config.h"

extern char **environ;

#define ERRSIZE 1024

typedef struct fixture {
    char path[64]; /* the temp config file, "" when none */
    char err[ERRSIZE];
    of_config cfg;
} fixture;

/* Unsets every ORDERFLEET_* variable, so that neither the caller's
 * environment nor an earlier test leaks into a test. */
static void clear_orderfleet_env(void) {
    for (;;) {
        char name[256] = "";
        for (char **e = environ; e && *e; e++) {
            if (strncmp(*e, "ORDERFLEET_", 11) != 0) continue;
            size_t n = strcspn(*e, "=");
            if (n >= sizeof(name)) n = sizeof(name) - 1;
            memcpy(name, *e, n);
            name[n] = '\0';
            break;
        }
        if (!name[0]) return;
        unsetenv(name);
    }
}

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof(*fx));
    if (!fx) return -1;
    clear_orderfleet_env();
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    config_free(&fx->cfg);
    if (fx->path[0]) unlink(fx->path);
    clear_orderfleet_env();
    free(fx);
    return 0;
}

/* Writes text to a new temp file in /tmp; its name goes into fx->path. */
static const char *write_cfg(fixture *fx, const char *text) {
    snprintf(fx->path, sizeof(fx->path), "/tmp/test_config_XXXXXX");
    int fd = mkstemp(fx->path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return fx->path;
}

static int load(fixture *fx, const char *path, const config_override *ov, size_t n) {
    return config_load(&fx->cfg, path, ov, n, fx->err, sizeof(fx->err));
}

/* Loads text as a config file, expects failure, and checks the error
 * message is exactly "<file>:<want>" where want carries the line number. */
static void expect_file_error(fixture *fx, const char *text, const char *want) {
    const char *path = write_cfg(fx, text);
    assert_int_equal(load(fx, path, NULL, 0), CONFIG_ERR);
    char expected[ERRSIZE];
    snprintf(expected, sizeof(expected), "%s:%s", path, want);
    assert_string_equal(fx->err, expected);
    of_config zero;
    memset(&zero, 0, sizeof(zero));
    assert_memory_equal(&fx->cfg, &zero, sizeof(zero)); /* left freed */
}

static void assert_has_prefix(const char *s, const char *prefix) {
    if (strncmp(s, prefix, strlen(prefix)) != 0)
        fail_msg("\"%s\" does not start with \"%s\"", s, prefix);
}

/* deploy/config/<name>, found from this file's own path: the tests are in
 * <src>/tests/unit/, so <src> is what precedes that in __FILE__. */
static void example_path(const char *name, char *buf, size_t size) {
    const char *file = __FILE__;
    const char *tail = strstr(file, "tests/unit/test_config.c");
    assert_non_null(tail);
    snprintf(buf, size, "%.*sdeploy/config/%s", (int)(tail - file), file, name);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *text = calloc(1, 1 << 16);
    assert_non_null(text);
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    assert_true(n > 0 && n < (1 << 16) - 1);
    fclose(f);
    return text;
}

/* ------------------------------------------------------------------------ */

static void test_defaults(void **state) {
    fixture *fx = *state;
    assert_int_equal(load(fx, NULL, NULL, 0), CONFIG_OK);
    of_config *c = &fx->cfg;
    assert_string_equal(c->topic_orders, "orders");
    assert_string_equal(c->topic_completed, "orders.completed");
    assert_string_equal(c->topic_replies, "orders.replies");
    assert_string_equal(c->topic_retry, "orders.retry");
    assert_string_equal(c->topic_dlq, "orders.dlq");
    assert_int_equal(c->orders_partitions, 12);
    assert_string_equal(c->worker_group, "order-workers");
    assert_int_equal(c->worker_concurrency, 64);
    assert_string_equal(c->worker_guarantee, "at_least_once");
    assert_int_equal(c->worker_drain_timeout_ms, 30000);
    assert_int_equal(c->worker_commit_interval_ms, 100);
    assert_int_equal(c->handler_latency_ms, 0);
    assert_true(c->handler_failure_rate == 0.0);
    assert_int_equal(c->retry_max_attempts, 3);
    assert_int_equal(c->retry_base_ms, 100);
    assert_int_equal(c->retry_cap_ms, 10000);
    assert_string_equal(c->gateway_listen, "127.0.0.1:8080");
    assert_int_equal(c->gateway_wait_ms, 5000);
    assert_string_equal(c->metrics_listen, "");
    assert_string_equal(c->log_level, "info");
    assert_int_equal(c->kafka_count, 0);
    assert_null(c->source_file);
    assert_null(config_kafka_get(c, "bootstrap.servers"));
}

static void test_worker_id_default(void **state) {
    fixture *fx = *state;
    assert_int_equal(load(fx, NULL, NULL, 0), CONFIG_OK);
    char suffix[32];
    snprintf(suffix, sizeof(suffix), "-%ld", (long)getpid());
    const char *id = fx->cfg.worker_id;
    assert_true(strlen(id) > strlen(suffix)); /* a host name precedes it */
    assert_string_equal(id + strlen(id) - strlen(suffix), suffix);

    config_free(&fx->cfg);
    config_override ov = {"worker.id", "w-7", "flag --id"};
    assert_int_equal(load(fx, NULL, &ov, 1), CONFIG_OK);
    assert_string_equal(fx->cfg.worker_id, "w-7");
}

static void test_file_values(void **state) {
    fixture *fx = *state;
    const char *path =
        write_cfg(fx, "topics = { orders = \"o2\"; dlq = \"dead\"; orders_partitions = 3; };\n"
                      "worker = {\n"
                      "  group = \"g1\";\n"
                      "  concurrency = 8;\n"
                      "  guarantee = \"exactly_once\";\n"
                      "  drain_timeout_ms = 5000L;\n" /* int64 where int is fine */
                      "};\n"
                      "handler = { failure_rate = 1; latency_ms = 0x10; };\n"
                      "retry = { max_attempts = 5; base_ms = 10; cap_ms = 10; };\n"
                      "gateway = { listen = \"0.0.0.0:9000\"; wait_ms = 0; };\n"
                      "metrics = { listen = \":9100\"; };\n"
                      "log = { level = \"debug\"; };\n");
    assert_int_equal(load(fx, path, NULL, 0), CONFIG_OK);
    of_config *c = &fx->cfg;
    assert_string_equal(c->topic_orders, "o2");
    assert_string_equal(c->topic_dlq, "dead");
    assert_string_equal(c->topic_completed, "orders.completed"); /* untouched default */
    assert_int_equal(c->orders_partitions, 3);
    assert_string_equal(c->worker_group, "g1");
    assert_int_equal(c->worker_concurrency, 8);
    assert_string_equal(c->worker_guarantee, "exactly_once");
    assert_int_equal(c->worker_drain_timeout_ms, 5000);
    assert_true(c->handler_failure_rate == 1.0); /* an integer where a double is expected */
    assert_int_equal(c->handler_latency_ms, 16);
    assert_int_equal(c->retry_max_attempts, 5);
    assert_int_equal(c->retry_base_ms, 10);
    assert_int_equal(c->retry_cap_ms, 10); /* equal to base is fine */
    assert_string_equal(c->gateway_listen, "0.0.0.0:9000");
    assert_int_equal(c->gateway_wait_ms, 0);
    assert_string_equal(c->metrics_listen, ":9100");
    assert_string_equal(c->log_level, "debug");
    assert_string_equal(c->source_file, path);
}

static void test_env_beats_file(void **state) {
    fixture *fx = *state;
    const char *path = write_cfg(fx, "worker = { concurrency = 8; group = \"file\"; };\n"
                                     "topics = { orders = \"file-orders\"; };\n"
                                     "handler = { failure_rate = 0.5; };\n");
    setenv("ORDERFLEET_WORKER_CONCURRENCY", "16", 1);
    setenv("ORDERFLEET_TOPICS_ORDERS", "env-orders", 1);
    setenv("ORDERFLEET_HANDLER_FAILURE_RATE", "0.25", 1);
    setenv("ORDERFLEET_BIN_DIR", "/not/a/setting", 1); /* outside the settings' namespace */
    assert_int_equal(load(fx, path, NULL, 0), CONFIG_OK);
    assert_int_equal(fx->cfg.worker_concurrency, 16);
    assert_string_equal(fx->cfg.topic_orders, "env-orders");
    assert_true(fx->cfg.handler_failure_rate == 0.25);
    assert_string_equal(fx->cfg.worker_group, "file"); /* no env: the file's */
}

/* Writes a secret file of mode 0600 (mkstemp's) with text; its name into
 * path (64 bytes); the caller unlinks it. */
static void write_secret(char *path, const char *text) {
    snprintf(path, 64, "/tmp/test_config_secret_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* Kafka properties from files: two <name>.file entries from the environment,
 * one replacing a plain property the file set earlier (which moves the
 * entries after it), both resolved; a FIFO is refused at once, not waited on. */
static void test_kafka_secret_files(void **state) {
    fixture *fx = *state;
    char pw[64], key[64];
    write_secret(pw, "sasl-secret\n");
    write_secret(key, "key-secret");
    const char *path = write_cfg(fx, "kafka = { sasl_password = \"in-the-file\";\n"
                                     "          client_id = \"c\"; };\n");
    setenv("ORDERFLEET_KAFKA_SASL_PASSWORD_FILE", pw, 1);
    setenv("ORDERFLEET_KAFKA_SSL_KEY_PASSWORD_FILE", key, 1);
    int rc = load(fx, path, NULL, 0);
    unlink(pw);
    unlink(key);
    if (rc != CONFIG_OK) fail_msg("%s", fx->err);
    assert_string_equal(config_kafka_get(&fx->cfg, "sasl.password"), "sasl-secret");
    assert_string_equal(config_kafka_get(&fx->cfg, "ssl.key.password"), "key-secret");
    assert_null(config_kafka_get(&fx->cfg, "sasl.password.file"));
    assert_null(config_kafka_get(&fx->cfg, "ssl.key.password.file"));
    config_free(&fx->cfg);

    char fifo[64];
    snprintf(fifo, sizeof(fifo), "/tmp/test_config_fifo_%d", (int)getpid());
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    unsetenv("ORDERFLEET_KAFKA_SSL_KEY_PASSWORD_FILE");
    setenv("ORDERFLEET_KAFKA_SASL_PASSWORD_FILE", fifo, 1);
    rc = load(fx, path, NULL, 0);
    unlink(fifo);
    assert_int_equal(rc, CONFIG_ERR);
    assert_non_null(strstr(fx->err, "is not a regular file"));
}

static void test_override_beats_env(void **state) {
    fixture *fx = *state;
    const char *path = write_cfg(fx, "worker = { concurrency = 8; };\n"
                                     "kafka = { client_id = \"from-file\"; };\n");
    setenv("ORDERFLEET_WORKER_CONCURRENCY", "16", 1);
    setenv("ORDERFLEET_KAFKA_CLIENT_ID", "from-env", 1);
    config_override ov[] = {
        {"worker.concurrency", "32", "flag --concurrency"},
        {"kafka.client_id", "from-flag", "flag -X"},
        {"worker.concurrency", "33", "flag --concurrency"}, /* later flags win */
    };
    assert_int_equal(load(fx, path, ov, 3), CONFIG_OK);
    assert_int_equal(fx->cfg.worker_concurrency, 33);
    assert_string_equal(config_kafka_get(&fx->cfg, "client.id"), "from-flag");
    assert_int_equal(fx->cfg.kafka_count, 1); /* one entry per name */
    assert_string_equal(fx->cfg.kafka[0].origin, "flag -X");
}

static void test_kafka_mapping(void **state) {
    fixture *fx = *state;
    const char *path = write_cfg(fx, "kafka = {\n"
                                     "  bootstrap_servers = \"k1:9092,k2:9092\";\n"
                                     "  socket_timeout_ms = 5000;\n"
                                     "  enable_auto_commit = false;\n"
                                     "  queue_buffering_max_ms = 0.5;\n"
                                     "};\n");
    setenv("ORDERFLEET_KAFKA_STATISTICS_INTERVAL_MS", "1000", 1);
    setenv("ORDERFLEET_KAFKA_CLIENT_ID", "env-client", 1);
    assert_int_equal(load(fx, path, NULL, 0), CONFIG_OK);
    of_config *c = &fx->cfg;
    assert_string_equal(config_kafka_get(c, "bootstrap.servers"), "k1:9092,k2:9092");
    assert_string_equal(config_kafka_get(c, "socket.timeout.ms"), "5000");
    assert_string_equal(config_kafka_get(c, "enable.auto.commit"), "false");
    assert_string_equal(config_kafka_get(c, "queue.buffering.max.ms"), "0.5");
    assert_string_equal(config_kafka_get(c, "statistics.interval.ms"), "1000");
    assert_string_equal(config_kafka_get(c, "client.id"), "env-client");
    assert_null(config_kafka_get(c, "bootstrap_servers"));
    assert_int_equal(c->kafka_count, 6);

    /* file properties remember their line, env ones their variable */
    char origin[128];
    snprintf(origin, sizeof(origin), "%s:2", path);
    assert_string_equal(c->kafka[0].name, "bootstrap.servers");
    assert_string_equal(c->kafka[0].origin, origin);
    for (size_t i = 0; i < c->kafka_count; i++)
        if (strcmp(c->kafka[i].name, "client.id") == 0)
            assert_string_equal(c->kafka[i].origin, "environment ORDERFLEET_KAFKA_CLIENT_ID");
}

static void test_unknown_setting(void **state) {
    expect_file_error(*state,
                      "# a comment\n"
                      "worker = {\n"
                      "  concurency = 4;\n"
                      "};\n",
                      "3: unknown setting \"worker.concurency\" "
                      "(did you mean worker.concurrency?)");
}

static void test_unknown_setting_no_suggestion(void **state) {
    expect_file_error(*state, "worker = { colour = \"blue\"; };\n",
                      "1: unknown setting \"worker.colour\"");
}

static void test_unknown_group(void **state) {
    expect_file_error(*state, "\n\nwroker = { concurrency = 4; };\n",
                      "3: unknown setting \"wroker\" (did you mean worker?)");
}

static void test_syntax_error(void **state) {
    fixture *fx = *state;
    const char *path = write_cfg(fx, "worker = {\n"
                                     "  concurrency = 4;\n"
                                     "  group = ;\n"
                                     "};\n");
    assert_int_equal(load(fx, path, NULL, 0), CONFIG_ERR);
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "%s:3: ", path);
    assert_has_prefix(fx->err, prefix);
    assert_true(strlen(fx->err) > strlen(prefix)); /* libconfig's text follows */
}

static void test_missing_file(void **state) {
    fixture *fx = *state;
    assert_int_equal(load(fx, "/nonexistent/orderfleet.cfg", NULL, 0), CONFIG_ERR);
    assert_string_equal(fx->err,
                        "/nonexistent/orderfleet.cfg: cannot open: No such file or directory");
}

static void test_type_error(void **state) {
    expect_file_error(*state, "worker = {\n  concurrency = \"abc\";\n};\n",
                      "2: worker.concurrency: expected an integer from 1 to 4096, got \"abc\"");
}

static void test_type_error_string(void **state) {
    expect_file_error(*state, "topics = { orders = 5; };\n",
                      "1: topics.orders: expected a non-empty string, got 5");
}

static void test_type_error_float_for_int(void **state) {
    expect_file_error(*state, "retry = { max_attempts = 2.5; };\n",
                      "1: retry.max_attempts: expected an integer from 1 to 100, got 2.5");
}

static void test_group_expected(void **state) {
    expect_file_error(*state, "worker = 5;\n", "1: worker: expected a group of settings, got 5");
}

static void test_range_error(void **state) {
    expect_file_error(*state, "worker = { concurrency = 0; };\n",
                      "1: worker.concurrency: expected an integer from 1 to 4096, got 0");
}

static void test_range_error_int64(void **state) {
    expect_file_error(*state, "worker = { concurrency = 10000000000L; };\n",
                      "1: worker.concurrency: expected an integer from 1 to 4096, "
                      "got 10000000000");
}

static void test_range_error_double(void **state) {
    expect_file_error(*state, "handler = {\n  failure_rate = 1.5;\n};\n",
                      "2: handler.failure_rate: expected a number from 0 to 1, got 1.5");
}

static void test_enum_error(void **state) {
    expect_file_error(*state, "worker = { guarantee = \"exactly-once\"; };\n",
                      "1: worker.guarantee: expected one of at_least_once, exactly_once, got "
                      "\"exactly-once\"");
}

static void test_env_errors(void **state) {
    fixture *fx = *state;
    setenv("ORDERFLEET_WORKER_CONCURRENCY", "12x", 1);
    assert_int_equal(load(fx, NULL, NULL, 0), CONFIG_ERR);
    assert_string_equal(fx->err, "environment ORDERFLEET_WORKER_CONCURRENCY: worker.concurrency: "
                                 "expected an integer from 1 to 4096, got \"12x\"");
    unsetenv("ORDERFLEET_WORKER_CONCURRENCY");

    setenv("ORDERFLEET_LOG_LEVEL", "verbose", 1);
    assert_int_equal(load(fx, NULL, NULL, 0), CONFIG_ERR);
    assert_string_equal(fx->err, "environment ORDERFLEET_LOG_LEVEL: log.level: expected one of "
                                 "error, warn, info, debug, got \"verbose\"");
    unsetenv("ORDERFLEET_LOG_LEVEL");

    setenv("ORDERFLEET_WORKER_CONCURENCY", "12", 1);
    assert_int_equal(load(fx, NULL, NULL, 0), CONFIG_ERR);
    assert_string_equal(fx->err, "environment ORDERFLEET_WORKER_CONCURENCY: unknown setting "
                                 "(did you mean ORDERFLEET_WORKER_CONCURRENCY?)");
}

static void test_override_errors(void **state) {
    fixture *fx = *state;
    config_override bad_int = {"worker.concurrency", "x", "flag --concurrency"};
    assert_int_equal(load(fx, NULL, &bad_int, 1), CONFIG_ERR);
    assert_string_equal(fx->err, "flag --concurrency: worker.concurrency: expected an integer "
                                 "from 1 to 4096, got \"x\"");

    const char *not_ints[] = {"", " 5", "5 ", "0x10", "99999999999999999999", "65537"};
    for (size_t i = 0; i < sizeof(not_ints) / sizeof(not_ints[0]); i++) {
        config_override ov = {"worker.concurrency", not_ints[i], "flag --concurrency"};
        assert_int_equal(load(fx, NULL, &ov, 1), CONFIG_ERR);
    }
    const char *not_rates[] = {"", "nan", "inf", "0.5x", "-0.1", "1.0001"};
    for (size_t i = 0; i < sizeof(not_rates) / sizeof(not_rates[0]); i++) {
        config_override ov = {"handler.failure_rate", not_rates[i], "flag --failure-rate"};
        assert_int_equal(load(fx, NULL, &ov, 1), CONFIG_ERR);
    }

    config_override unknown = {"worker.concurrenc", "4", "flag --set"};
    assert_int_equal(load(fx, NULL, &unknown, 1), CONFIG_ERR);
    assert_string_equal(fx->err, "flag --set: unknown setting \"worker.concurrenc\" (did you "
                                 "mean worker.concurrency?)");

    config_override good = {"handler.failure_rate", "0.125", "flag --failure-rate"};
    assert_int_equal(load(fx, NULL, &good, 1), CONFIG_OK);
    assert_true(fx->cfg.handler_failure_rate == 0.125);
}

static void test_unknown_kafka_property(void **state) {
    fixture *fx = *state;
    const char *path = write_cfg(fx, "kafka = {\n"
                                     "  client_id = \"x\";\n"
                                     "  bootstrap_server = \"k1:9092\";\n"
                                     "};\n");
    assert_int_equal(load(fx, path, NULL, 0), CONFIG_ERR);
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "%s:3: kafka property \"bootstrap.server\": ", path);
    assert_has_prefix(fx->err, prefix);
    assert_non_null(strstr(fx->err, "bootstrap.server")); /* librdkafka's reason follows */
    assert_int_equal(fx->cfg.kafka_count, 0);
}

static void test_bad_kafka_value_from_env_and_flag(void **state) {
    fixture *fx = *state;
    setenv("ORDERFLEET_KAFKA_ACKS", "most", 1);
    assert_int_equal(load(fx, NULL, NULL, 0), CONFIG_ERR);
    assert_has_prefix(fx->err, "environment ORDERFLEET_KAFKA_ACKS: kafka property \"acks\": ");
    unsetenv("ORDERFLEET_KAFKA_ACKS");

    config_override ov = {"kafka.no_such_thing", "1", "flag -X"};
    assert_int_equal(load(fx, NULL, &ov, 1), CONFIG_ERR);
    assert_has_prefix(fx->err, "flag -X: kafka property \"no.such.thing\": ");
}

static void test_kafka_nested_group_rejected(void **state) {
    expect_file_error(*state, "kafka = {\n  ssl = { ca_location = \"x\"; };\n};\n",
                      "2: kafka.ssl: expected a librdkafka property value (string, number or "
                      "boolean), got a group");
}

static void test_retry_cap_below_base(void **state) {
    fixture *fx = *state;
    const char *path = write_cfg(fx, "retry = {\n  base_ms = 500;\n  cap_ms = 100;\n};\n");
    assert_int_equal(load(fx, path, NULL, 0), CONFIG_ERR);
    char want[256];
    snprintf(want, sizeof(want),
             "retry.cap_ms (100, from %s:3) must not be less than retry.base_ms (500, from %s:2)",
             path, path);
    assert_string_equal(fx->err, want);

    /* the check runs after every layer: a flag can repair it */
    config_override ov = {"retry.cap_ms", "500", "flag --retry-cap"};
    assert_int_equal(load(fx, path, &ov, 1), CONFIG_OK);
    assert_int_equal(fx->cfg.retry_cap_ms, 500);
}

static void test_gateway_wait_above_max(void **state) {
    fixture *fx = *state;
    config_override ov = {"gateway.wait_ms", "70000", "flag --wait-ms"};
    assert_int_equal(load(fx, NULL, &ov, 1), CONFIG_ERR);
    assert_string_equal(fx->err, "gateway.max_wait_ms (60000, from default) must not be less "
                                 "than gateway.wait_ms (70000, from flag --wait-ms)");
}

static void test_apply_kafka(void **state) {
    fixture *fx = *state;
    const char *path = write_cfg(fx, "kafka = { client_id = \"applied\"; linger_ms = 7; };\n");
    config_override ov = {"kafka.bootstrap.servers", "b1:9092", "flag -b"};
    assert_int_equal(load(fx, path, &ov, 1), CONFIG_OK);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(config_apply_kafka(&fx->cfg, conf, fx->err, sizeof(fx->err)), CONFIG_OK);
    char value[256];
    size_t size = sizeof(value);
    assert_int_equal(rd_kafka_conf_get(conf, "client.id", value, &size), RD_KAFKA_CONF_OK);
    assert_string_equal(value, "applied");
    size = sizeof(value);
    assert_int_equal(rd_kafka_conf_get(conf, "linger.ms", value, &size), RD_KAFKA_CONF_OK);
    assert_string_equal(value, "7");
    size = sizeof(value);
    assert_int_equal(rd_kafka_conf_get(conf, "bootstrap.servers", value, &size), RD_KAFKA_CONF_OK);
    assert_string_equal(value, "b1:9092");
    rd_kafka_conf_destroy(conf);

    /* a property librdkafka refuses: named with its origin */
    config_kafka_prop bad = {"no.such.property", "1", "here.cfg:9"};
    of_config handmade;
    memset(&handmade, 0, sizeof(handmade));
    handmade.kafka = &bad;
    handmade.kafka_count = 1;
    conf = rd_kafka_conf_new();
    assert_int_equal(config_apply_kafka(&handmade, conf, fx->err, sizeof(fx->err)), CONFIG_ERR);
    assert_has_prefix(fx->err, "here.cfg:9: kafka property \"no.such.property\": ");
    rd_kafka_conf_destroy(conf);
}

static void test_examples_load(void **state) {
    fixture *fx = *state;
    static const char *const files[] = {"worker.cfg", "gateway.cfg", "producer.cfg", "fleet.cfg"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[1024];
        example_path(files[i], path, sizeof(path));
        if (load(fx, path, NULL, 0) != CONFIG_OK) fail_msg("%s: %s", files[i], fx->err);
        assert_non_null(config_kafka_get(&fx->cfg, "bootstrap.servers"));
        config_free(&fx->cfg);
    }
}

/* Every setting of the table is documented in fleet.cfg, with its
 * environment variable, and shows up in config_print_settings(). */
static void test_fleet_documents_every_setting(void **state) {
    (void)state;
    char path[1024];
    example_path("fleet.cfg", path, sizeof(path));
    char *fleet = slurp(path);

    char *table = NULL;
    size_t table_len = 0;
    FILE *f = open_memstream(&table, &table_len);
    assert_non_null(f);
    config_print_settings(f);
    fclose(f);

    int rows = 0;
    char *save = NULL;
    for (char *line = strtok_r(table, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char setting[128], env[128];
        if (sscanf(line, "%127s %127s", setting, env) != 2) continue;
        if (strncmp(env, "ORDERFLEET_", 11) != 0 || strchr(env, '<')) continue;
        rows++;
        if (!strstr(fleet, env)) fail_msg("fleet.cfg does not mention %s", env);
        char key[160];
        snprintf(key, sizeof(key), "\n    %s = ", strchr(setting, '.') + 1);
        if (!strstr(fleet, key)) fail_msg("fleet.cfg does not set %s", setting);
    }
    assert_int_equal(rows, 46); /* every setting of the table: a new one is documented here too */
    assert_non_null(strstr(fleet, "# security_protocol"));
    assert_non_null(strstr(fleet, "# sasl_mechanisms"));
    free(table);
    free(fleet);
}

static void test_print_settings(void **state) {
    (void)state;
    char *table = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&table, &len);
    assert_non_null(f);
    config_print_settings(f);
    fclose(f);
    const char *row = strstr(table, "\nworker.concurrency ");
    assert_non_null(row);
    const char *eol = strchr(row + 1, '\n');
    assert_non_null(eol);
    char line[512];
    snprintf(line, sizeof(line), "%.*s", (int)(eol - row), row);
    assert_non_null(strstr(line, "ORDERFLEET_WORKER_CONCURRENCY"));
    assert_non_null(strstr(line, " 64 "));
    assert_non_null(strstr(line, "[1..4096]"));
    assert_non_null(strstr(table, "ORDERFLEET_KAFKA_<PROPERTY>"));
    /* aligned: the environment column starts at the same offset on every row */
    const char *header_env = strstr(table, "ENVIRONMENT");
    const char *row_env = strstr(row, "ORDERFLEET_");
    assert_int_equal(header_env - table, row_env - (row + 1));
    free(table);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_id_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_beats_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kafka_secret_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_override_beats_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kafka_mapping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_setting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_setting_no_suggestion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syntax_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_type_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_type_error_string, setup, teardown),
        cmocka_unit_test_setup_teardown(test_type_error_float_for_int, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_expected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_error_int64, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_error_double, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enum_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_override_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_kafka_property, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_kafka_value_from_env_and_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kafka_nested_group_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gateway_wait_above_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_cap_below_base, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_kafka, setup, teardown),
        cmocka_unit_test_setup_teardown(test_examples_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fleet_documents_every_setting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_print_settings, setup, teardown),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
