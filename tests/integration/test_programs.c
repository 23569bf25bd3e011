/* Integration: the programs as a user runs them. order-devbroker, the
 * command lines of all three programs, order-producer's modes against a mock
 * cluster (and against no broker at all), the hand-run path of DESIGN:
 * a worker, `order-producer load --ids`, then `order-producer outcomes`,
 * the synchronous path: place, send and load with --wait, and order-worker
 * with a handler library of one's own.
 *
 * Each test that needs Kafka has its own cluster on fresh ports. Children
 * are recorded in the test's fixture (a tk_fixture), so that the teardown
 * kills whatever a failed assertion left running. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/headers.h"
#include "common/order_codec.h"
#include "common/timeutil.h"
#include "testkit.h"
#include "tkfixture.h"

#define RUN_TIMEOUT_MS 20000 /* for a program that should finish by itself */

/* ---- checks ------------------------------------------------------------ */

/* Fails unless the run ended with want, showing what the program said. */
static void expect_status(const tk_result *res, int want) {
    if (res->status == want) return;
    fprintf(stderr, "---- stdout (%s) ----\n%s---- stderr (%s) ----\n%s", res->out_path, res->out,
            res->err_path, res->err);
    fail_msg("exit status %d, expected %d", res->status, want);
}

/* tk_run() and expect_status(). */
static void run_expect(tk_result *res, const char *name, const char *prog,
                       const char *const *args, const char *const *env, int timeout_ms,
                       int want) {
    tk_run(name, prog, args, env, timeout_ms, res);
    expect_status(res, want);
}

static void expect_contains(const char *what, const char *text, const char *needle) {
    if (strstr(text, needle)) return;
    fprintf(stderr, "---- %s ----\n%s", what, text);
    fail_msg("%s does not contain \"%s\"", what, needle);
}

static int is_hex(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) return 0;
    return 1;
}

/* "xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx", lowercase: a UUIDv7 as ids.h makes
 * them (the id place promises when none is given). */
static int is_uuid7(const char *s) {
    if (strlen(s) != 36) return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return 0;
        } else if (!is_hex(s + i, 1)) {
            return 0;
        }
    }
    return s[14] == '7' && strchr("89ab", s[19]) != NULL;
}

/* W3C trace context: "00-<32 hex>-<16 hex>-<2 hex>". */
static int is_traceparent(const char *s) {
    return strlen(s) == 55 && strncmp(s, "00-", 3) == 0 && is_hex(s + 3, 32) && s[35] == '-' &&
           is_hex(s + 36, 16) && s[52] == '-' && is_hex(s + 53, 2);
}

/* Splits text into its lines (without '\n'), in place; returns how many. */
static size_t split_lines(char *text, char **lines, size_t max) {
    size_t n = 0;
    for (char *s = text; *s && n < max;) {
        char *nl = strchr(s, '\n');
        lines[n++] = s;
        if (!nl) break;
        *nl = '\0';
        s = nl + 1;
    }
    return n;
}

/* The number on the line of outcomes' summary table that starts with label
 * ("orders placed", "lost", ...), or -1 when there is none. */
static long summary_value(const char *summary, const char *label) {
    size_t len = strlen(label);
    for (const char *s = summary; s && *s; s = strchr(s, '\n'), s = s ? s + 1 : NULL) {
        if (strncmp(s, label, len) != 0 || s[len] != ' ') continue;
        char *end;
        long v = strtol(s + len, &end, 10);
        return end == s + len ? -1 : v;
    }
    return -1;
}

static const char *header(rd_kafka_message_t *m, const char *name, char *buf, size_t size) {
    rd_kafka_headers_t *h;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR) return NULL;
    return hdr_get_str(h, name, buf, size) == 0 ? buf : NULL;
}

static void expect_header(rd_kafka_message_t *m, const char *name, const char *want) {
    char buf[512];
    const char *got = header(m, name, buf, sizeof(buf));
    if (!got) fail_msg("record at offset %lld has no %s header", (long long)m->offset, name);
    if (strcmp(got, want) != 0)
        fail_msg("record at offset %lld: %s is \"%s\", expected \"%s\"", (long long)m->offset,
                 name, got, want);
}

/* The headers every OrderPlaced from order-producer carries (DESIGN §4):
 * CloudEvents binary mode and a fresh W3C traceparent. ce_id is copied to
 * ce_id_out for the caller to check uniqueness. */
static void expect_placed_headers(rd_kafka_message_t *m, const order_placed_t *o,
                                  char *ce_id_out, size_t ce_id_size) {
    char buf[512], when[TIME_RFC3339_LEN + 1];
    expect_header(m, HDR_CE_SPECVERSION, "1.0");
    expect_header(m, HDR_CE_TYPE, "orderfleet.v1.OrderPlaced");
    expect_header(m, HDR_CE_SUBJECT, o->order_id);
    expect_header(m, HDR_CONTENT_TYPE, "application/protobuf");
    expect_header(m, HDR_CE_TIME, time_rfc3339(o->placed_at_ms, when, sizeof(when)));
    assert_non_null(header(m, HDR_CE_SOURCE, buf, sizeof(buf)));
    assert_true(strncmp(buf, "/orderfleet/order-producer/", 27) == 0 && strlen(buf) > 27);
    assert_non_null(header(m, HDR_TRACEPARENT, buf, sizeof(buf)));
    if (!is_traceparent(buf)) fail_msg("traceparent \"%s\" is not W3C trace context", buf);
    assert_non_null(header(m, HDR_CE_ID, ce_id_out, ce_id_size));
    assert_true(strlen(ce_id_out) > 0);
}

/* Reads records from r until n have arrived or timeout_ms passes; returns
 * how many were stored in ms (kept by the fixture). */
static size_t read_records(tk_fixture *fx, tk_reader *r, rd_kafka_message_t **ms, size_t n,
                           int timeout_ms) {
    int64_t deadline = time_mono_ms() + timeout_ms;
    size_t got = 0;
    while (got < n && time_mono_ms() < deadline) {
        rd_kafka_message_t *m = tk_fx_next(fx, r, 200);
        if (m) ms[got++] = m;
    }
    return got;
}

/* The record in ms whose key is id, or NULL. */
static rd_kafka_message_t *by_key(rd_kafka_message_t **ms, size_t n, const char *id) {
    for (size_t i = 0; i < n; i++)
        if (ms[i]->key_len == strlen(id) && memcmp(ms[i]->key, id, ms[i]->key_len) == 0)
            return ms[i];
    return NULL;
}

/* ---- 1. order-devbroker ------------------------------------------------ */

/* Starts order-devbroker with args, reads its first stdout line, checks
 * that it lists `nodes` host:port entries and that a Kafka client sees the
 * brokers and the contract's topics there; then SIGTERM must exit 0. */
static void check_devbroker(tk_fixture *fx, const char *name, const char *const *args, int nodes,
                            int orders_partitions) {
    char log[512], out[600], err[512];
    tk_log_path(name, log, sizeof(log));
    snprintf(out, sizeof(out), "%s.stdout", log);
    unlink(out);
    pid_t pid = tk_fx_spawn(fx, "order-devbroker", args, NULL, log, out);
    char *line = tk_wait_first_line(out, 15000);
    if (!line) tk_dump_log(log);
    assert_non_null(line);

    int entries = 0;
    char *copy = strdup(line), *save = NULL;
    for (char *e = strtok_r(copy, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(e, ':'), *end;
        if (!colon || colon == e) fail_msg("bootstrap entry \"%s\" is not host:port", e);
        long port = strtol(colon + 1, &end, 10);
        if (*end || port < 1 || port > 65535) fail_msg("bootstrap entry \"%s\": bad port", e);
        entries++;
    }
    free(copy);
    assert_int_equal(entries, nodes);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", line, err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    fx->client = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!fx->client) fail_msg("client: %s", err);
    const struct rd_kafka_metadata *md = NULL;
    assert_int_equal(rd_kafka_metadata(fx->client, 1, NULL, &md, 10000),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(md->broker_cnt, nodes);
    static const char *const topics[] = {"orders", "orders.completed", "orders.replies",
                                         "orders.retry", "orders.dlq"};
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        const struct rd_kafka_metadata_topic *t = NULL;
        for (int j = 0; j < md->topic_cnt; j++)
            if (strcmp(md->topics[j].topic, topics[i]) == 0) t = &md->topics[j];
        if (!t) fail_msg("topic %s is not in the devbroker's metadata", topics[i]);
        assert_int_equal(t->err, RD_KAFKA_RESP_ERR_NO_ERROR);
        assert_true(t->partition_cnt > 0);
        if (i == 0) assert_int_equal(t->partition_cnt, orders_partitions);
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(fx->client);
    fx->client = NULL;
    free(line);

    int rc = tk_fx_stop(fx, pid, SIGTERM, 10000);
    if (rc != 0) tk_dump_log(log);
    assert_int_equal(rc, 0);
}

static void test_devbroker(void **state) {
    tk_fixture *fx = *state;
    check_devbroker(fx, "devbroker-3", NULL, 3, 12);
    const char *one[] = {"-n", "1", NULL};
    check_devbroker(fx, "devbroker-1", one, 1, 12);
    const char *partitions[] = {"--nodes", "1", "--partitions", "4", NULL};
    check_devbroker(fx, "devbroker-p4", partitions, 1, 4);
}

/* ---- 2. command lines and configuration -------------------------------- */

/* A TCP listener on a free loopback port that nobody serves: a program that
 * got as far as starting a Kafka client connects to it. */
static int listener_open(char *hostport, size_t size) {
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 64), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(hostport, size, "127.0.0.1:%d", (int)ntohs(sa.sin_port));
    return fd;
}

/* Connections made to the listener so far (accepted and closed). */
static int listener_connections(int fd) {
    int n = 0, c;
    while ((c = accept(fd, NULL, NULL)) >= 0) {
        close(c);
        n++;
    }
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    return n;
}

static void test_command_lines(void **state) {
    (void)state;
    static const char *const progs[] = {"order-producer", "order-worker", "order-devbroker"};
    char cfg[512], broker[64], expect[640];
    tk_result res;

    /* A config file with a typo on line 3; its bootstrap servers (and the
     * -b below) point at a listener that must never see a connection. */
    int lfd = listener_open(broker, sizeof(broker));
    char content[256];
    snprintf(content, sizeof(content),
             "# orderfleet test configuration with a typo\n"
             "kafka = { bootstrap_servers = \"%s\"; };\n"
             "worker = { concurency = 4; };\n",
             broker);
    tk_write_file("typo.cfg", content, cfg, sizeof(cfg));
    /* producer needs a valid command line before it looks at the config */
    const char *const place[] = {"place", "--customer", "c-1", "--item", "BURGER-CLASSIC:1",
                                 NULL};

    for (size_t i = 0; i < 3; i++) {
        const char *prog = progs[i];
        const char *const *mode = i == 0 ? place : NULL;
        const char *args[16];

        const char *version[] = {"--version", NULL};
        run_expect(&res, "version", prog, version, NULL, RUN_TIMEOUT_MS, 0);
        assert_true(strncmp(res.out, prog, strlen(prog)) == 0 && res.out[strlen(prog)] == ' ');
        tk_result_free(&res);

        const char *help[] = {"--help", NULL};
        run_expect(&res, "help", prog, help, NULL, RUN_TIMEOUT_MS, 0);
        snprintf(expect, sizeof(expect), "Usage: %s", prog);
        expect_contains("--help output", res.out, expect);
        tk_result_free(&res);

        const char *unknown[] = {"--no-such-option", NULL};
        run_expect(&res, "unknown", prog, unknown, NULL, RUN_TIMEOUT_MS, 64);
        expect_contains("stderr", res.err, "no-such-option");
        tk_result_free(&res);

        /* -c FILE with the typo: 78, naming the file, the line and the setting */
        size_t n = 0;
        args[n++] = "-b";
        args[n++] = broker;
        args[n++] = "-c";
        args[n++] = cfg;
        for (size_t j = 0; mode && mode[j]; j++) args[n++] = mode[j];
        args[n] = NULL;
        run_expect(&res, "badcfg", prog, args, NULL, RUN_TIMEOUT_MS, 78);
        snprintf(expect, sizeof(expect), "%s:3:", cfg);
        expect_contains("stderr", res.err, expect);
        expect_contains("stderr", res.err, "concurency");
        assert_string_equal(res.out, ""); /* the devbroker did not start either */
        tk_result_free(&res);

        /* a bad value from the environment */
        const char *const env[] = {"ORDERFLEET_WORKER_CONCURRENCY=abc", NULL};
        n = 2; /* -b broker */
        for (size_t j = 0; mode && mode[j]; j++) args[n++] = mode[j];
        args[n] = NULL;
        run_expect(&res, "badenv", prog, args, env, RUN_TIMEOUT_MS, 78);
        expect_contains("stderr", res.err, "ORDERFLEET_WORKER_CONCURRENCY");
        assert_string_equal(res.out, "");
        tk_result_free(&res);

        /* a librdkafka property that does not exist */
        n = 2;
        args[n++] = "-X";
        args[n++] = "no.such.property=1";
        for (size_t j = 0; mode && mode[j]; j++) args[n++] = mode[j];
        args[n] = NULL;
        run_expect(&res, "badprop", prog, args, NULL, RUN_TIMEOUT_MS, 78);
        expect_contains("stderr", res.err, "no.such.property");
        assert_string_equal(res.out, "");
        tk_result_free(&res);
    }
    /* None of them touched Kafka. */
    assert_int_equal(listener_connections(lfd), 0);

    /* order-producer's own usage errors */
    const char *no_mode[] = {"-b", broker, NULL};
    run_expect(&res, "nomode", "order-producer", no_mode, NULL, RUN_TIMEOUT_MS, 64);
    tk_result_free(&res);
    const char *no_customer[] = {"-b", broker, "place", "--item", "BURGER-CLASSIC:1", NULL};
    run_expect(&res, "nocustomer", "order-producer", no_customer, NULL, RUN_TIMEOUT_MS, 64);
    expect_contains("stderr", res.err, "--customer");
    tk_result_free(&res);
    const char *wrong_mode[] = {"-b", broker, "load", "--expect", "ids.txt", NULL};
    run_expect(&res, "wrongmode", "order-producer", wrong_mode, NULL, RUN_TIMEOUT_MS, 64);
    expect_contains("stderr", res.err, "--expect is not an option of mode load");
    tk_result_free(&res);
    /* --wait: --deadline needs it, outcomes refuses it, a bad deadline is named */
    const char *deadline_alone[] = {"-b", broker, "place", "--deadline", "500", "--customer",
                                    "c-1", "--item", "BURGER-CLASSIC:1", NULL};
    run_expect(&res, "deadline-alone", "order-producer", deadline_alone, NULL, RUN_TIMEOUT_MS,
               64);
    expect_contains("stderr", res.err, "--deadline only applies with --wait");
    tk_result_free(&res);
    const char *outcomes_wait[] = {"-b", broker, "outcomes", "--wait", NULL};
    run_expect(&res, "outcomes-wait", "order-producer", outcomes_wait, NULL, RUN_TIMEOUT_MS, 64);
    expect_contains("stderr", res.err, "--wait is not an option of mode outcomes");
    tk_result_free(&res);
    const char *bad_deadline[] = {"-b", broker, "load", "--wait", "--deadline", "0", NULL};
    run_expect(&res, "bad-deadline", "order-producer", bad_deadline, NULL, RUN_TIMEOUT_MS, 64);
    expect_contains("stderr", res.err, "--deadline: expected a whole number from 1 to 3600000");
    tk_result_free(&res);
    assert_int_equal(listener_connections(lfd), 0);

    /* The control: a valid command line does connect (so the check above
     * can fail); nothing answers, so the order is not acknowledged. */
    const char *valid[] = {"-b", broker, "-X", "message.timeout.ms=500", "place", "--customer",
                           "c-1", "--item", "BURGER-CLASSIC:1", NULL};
    run_expect(&res, "control", "order-producer", valid, NULL, RUN_TIMEOUT_MS, 69);
    tk_result_free(&res);
    assert_true(listener_connections(lfd) > 0);
    close(lfd);
}

/* ---- 3. place ---------------------------------------------------------- */

/* What one placed order must look like on the topic. */
typedef struct want_order {
    char id[64];
    const char *customer, *currency;
    const char *sku;
    int32_t quantity;
    int64_t unit_price;
    const char *attr_key, *attr_value; /* NULL: no attributes */
} want_order;

static void expect_order(rd_kafka_message_t *m, const want_order *w, char *ce_id,
                         size_t ce_id_size) {
    char errstr[256];
    order_placed_t *o = codec_placed_decode(m->payload, m->len, errstr, sizeof(errstr));
    if (!o) fail_msg("record of %s does not decode as OrderPlaced: %s", w->id, errstr);
    assert_string_equal(o->order_id, w->id);
    assert_string_equal(o->customer_id, w->customer);
    assert_string_equal(o->currency, w->currency);
    assert_int_equal(o->n_items, 1);
    assert_string_equal(o->items[0]->sku, w->sku);
    assert_int_equal(o->items[0]->quantity, w->quantity);
    assert_int_equal(o->items[0]->unit_price, w->unit_price);
    if (w->attr_key) {
        assert_int_equal(o->n_attributes, 1);
        assert_string_equal(o->attributes[0]->key, w->attr_key);
        assert_string_equal(o->attributes[0]->value, w->attr_value);
    } else {
        assert_int_equal(o->n_attributes, 0);
    }
    int64_t now = time_now_ms();
    assert_true(o->placed_at_ms > now - 60000 && o->placed_at_ms <= now);
    expect_placed_headers(m, o, ce_id, ce_id_size);
    codec_placed_free(o);
}

/* Runs place with args; it must exit 0 and print exactly one id: want_id,
 * or a new UUIDv7 when want_id is NULL. The id goes into id. */
static void run_place(const char *name, const char *const *args, const char *want_id, char *id,
                      size_t size) {
    tk_result res;
    run_expect(&res, name, "order-producer", args, NULL, RUN_TIMEOUT_MS, 0);
    char *nl = strchr(res.out, '\n');
    if (!nl || nl[1] != '\0') fail_msg("place printed \"%s\", expected one line", res.out);
    *nl = '\0';
    if (want_id) assert_string_equal(res.out, want_id);
    else if (!is_uuid7(res.out)) fail_msg("place printed \"%s\", not a UUIDv7", res.out);
    snprintf(id, size, "%s", res.out);
    tk_result_free(&res);
}

static void test_place(void **state) {
    tk_fixture *fx = *state;
    const char *bs = tk_fx_cluster(fx, 3);
    want_order w[4] = {
        {"it-place-flags-1", "c-42", "EUR", "BURGER-CLASSIC", 2, 899, "channel", "app"},
        {"", "c-43", "USD", "COLA-SMALL", 3, 250, NULL, NULL},
        {"", "c-44", "GBP", "FRIES-LARGE", 1, 449, NULL, NULL},
        {"it-place-json-1", "c-45", "CHF", "NUGGETS-6", 4, 599, "channel", "web"},
    };

    /* flags, with --order-id and the catalog price */
    const char *flags_id[] = {"-b", bs, "place", "--customer", "c-42", "--item",
                              "BURGER-CLASSIC:2", "--attr", "channel=app", "--order-id",
                              "it-place-flags-1", NULL};
    run_place("place-flags-id", flags_id, "it-place-flags-1", w[0].id, sizeof(w[0].id));
    /* flags, options after the mode and before it, an id assigned */
    const char *flags[] = {"place", "--customer", "c-43", "-b", bs, "--currency", "USD",
                           "--item", "COLA-SMALL:3:250", NULL};
    run_place("place-flags", flags, NULL, w[1].id, sizeof(w[1].id));
    /* JSON, an id assigned */
    const char *json[] = {"-b", bs, "place",
                          "{\"customerId\":\"c-44\",\"currency\":\"GBP\",\"items\":"
                          "[{\"sku\":\"FRIES-LARGE\",\"quantity\":1,\"unitPrice\":\"449\"}]}",
                          NULL};
    run_place("place-json", json, NULL, w[2].id, sizeof(w[2].id));
    /* JSON with its own orderId and attributes */
    const char *json_id[] = {"-b", bs, "place",
                             "{\"orderId\":\"it-place-json-1\",\"customerId\":\"c-45\","
                             "\"currency\":\"CHF\",\"items\":[{\"sku\":\"NUGGETS-6\","
                             "\"quantity\":4,\"unitPrice\":599}],"
                             "\"attributes\":{\"channel\":\"web\"}}",
                             NULL};
    run_place("place-json-id", json_id, "it-place-json-1", w[3].id, sizeof(w[3].id));
    assert_string_not_equal(w[1].id, w[2].id);

    /* Invalid JSON: 65, the position named, nothing printed or sent. */
    tk_result res;
    const char *bad[] = {"-b", bs, "place", "{\"customerId\":\"c-1\",\n  \"items\": [}", NULL};
    run_expect(&res, "place-badjson", "order-producer", bad, NULL, RUN_TIMEOUT_MS, 65);
    expect_contains("stderr", res.err, "line 2");
    expect_contains("stderr", res.err, "column");
    assert_string_equal(res.out, "");
    tk_result_free(&res);

    tk_reader *r = tk_fx_reader(fx, "orders");
    rd_kafka_message_t *ms[5];
    size_t got = read_records(fx, r, ms, 4, 15000);
    assert_int_equal(got, 4);
    char ce_ids[4][128];
    for (size_t i = 0; i < 4; i++) {
        rd_kafka_message_t *m = by_key(ms, got, w[i].id);
        if (!m) fail_msg("no record keyed %s on orders", w[i].id);
        expect_order(m, &w[i], ce_ids[i], sizeof(ce_ids[i]));
        for (size_t j = 0; j < i; j++) assert_string_not_equal(ce_ids[i], ce_ids[j]);
    }
    assert_null(tk_fx_next(fx, r, 500)); /* the invalid order was not sent */
}

/* ---- 4. send ----------------------------------------------------------- */

static void test_send(void **state) {
    tk_fixture *fx = *state;
    const char *bs = tk_fx_cluster(fx, 1);
    char path[512];
    /* lines 1, 2 and 5 good, 3 blank, 4 cut short, 6 with a quantity "x" */
    tk_write_file("orders.ndjson",
                  "{\"customerId\":\"c-1\",\"items\":[{\"sku\":\"BURGER-CLASSIC\","
                  "\"quantity\":1}]}\n"
                  "{\"customerId\":\"c-2\",\"items\":[{\"sku\":\"COLA-SMALL\",\"quantity\":2}]}\n"
                  "   \n"
                  "{\"customerId\":\"c-4\",\"items\":[{\"sku\":\"COLA-SMALL\",\"quantity\":1}\n"
                  "{\"customerId\":\"c-5\",\"items\":[{\"sku\":\"FRIES-SMALL\","
                  "\"quantity\":1}]}\n"
                  "{\"customerId\":\"c-6\",\"items\":[{\"sku\":\"COLA-SMALL\","
                  "\"quantity\":\"x\"}]}\n",
                  path, sizeof(path));
    const char *args[] = {"-b", bs, "send", path, NULL};
    tk_result res;
    run_expect(&res, "send", "order-producer", args, NULL, RUN_TIMEOUT_MS, 65);

    char *ids[8];
    size_t n = split_lines(res.out, ids, 8);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        if (!is_uuid7(ids[i])) fail_msg("send printed \"%s\", not a UUIDv7", ids[i]);
        for (size_t j = 0; j < i; j++) assert_string_not_equal(ids[i], ids[j]);
    }
    /* exactly the two bad lines reported, by number, the second by field */
    expect_contains("stderr", res.err, "order-producer: line 4, column ");
    expect_contains("stderr", res.err, "order-producer: line 6: items[0].quantity");
    size_t reported = 0;
    for (const char *s = res.err; (s = strstr(s, "order-producer: line ")) != NULL; s++)
        reported++;
    assert_int_equal(reported, 2);

    tk_reader *r = tk_fx_reader(fx, "orders");
    rd_kafka_message_t *ms[4];
    size_t got = read_records(fx, r, ms, 3, 15000);
    assert_int_equal(got, 3);
    int seen[7] = {0};
    char errstr[256], ce_id[128];
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = by_key(ms, got, ids[i]);
        if (!m) fail_msg("no record keyed %s on orders", ids[i]);
        order_placed_t *o = codec_placed_decode(m->payload, m->len, errstr, sizeof(errstr));
        if (!o) fail_msg("record of %s: %s", ids[i], errstr);
        assert_string_equal(o->order_id, ids[i]);
        assert_true(strlen(o->customer_id) == 3 && o->customer_id[2] >= '1' &&
                    o->customer_id[2] <= '6');
        seen[o->customer_id[2] - '0']++;
        expect_placed_headers(m, o, ce_id, sizeof(ce_id));
        codec_placed_free(o);
    }
    assert_true(seen[1] == 1 && seen[2] == 1 && seen[5] == 1);
    assert_null(tk_fx_next(fx, r, 500));
    tk_result_free(&res);
}

/* ---- 5. no broker ------------------------------------------------------ */

static void test_unreachable_broker(void **state) {
    (void)state;
    const char *args[] = {"-b", "127.0.0.1:1", "-X", "message.timeout.ms=2000", "place",
                          "--customer", "c-1", "--item", "BURGER-CLASSIC:1", NULL};
    tk_result res;
    int64_t start = time_mono_ms();
    run_expect(&res, "unreachable", "order-producer", args, NULL, RUN_TIMEOUT_MS, 69);
    assert_true(time_mono_ms() - start < 10000); /* message.timeout.ms + slack, not 30 s */
    assert_string_equal(res.out, "");             /* no id: it was not acknowledged */
    expect_contains("stderr", res.err, "order not acknowledged");
    tk_result_free(&res);
}

/* ---- 6. the hand-run path ---------------------------------------------- */

static void test_load_then_outcomes(void **state) {
    tk_fixture *fx = *state;
    enum { N = 300 };
    char log[512], lost_path[512];
    const char *bs = tk_fx_cluster(fx, 3);

    tk_log_path("hand-worker", log, sizeof(log));
    const char *wargs[] = {"-b", bs, "--id", "it-worker-1", "--drain-timeout-ms", "20000", NULL};
    pid_t w = tk_fx_spawn(fx, "order-worker", wargs, NULL, log, NULL);

    tk_result load;
    const char *largs[] = {"-b", bs, "load", "--count", "300", "--ids", NULL};
    run_expect(&load, "load", "order-producer", largs, NULL, 30000, 0);
    char *ids_text = strdup(load.out);
    char *ids[N + 1];
    assert_int_equal(split_lines(ids_text, ids, N + 1), N);

    tk_result res;
    const char *oargs[] = {"-b", bs, "outcomes", "--expect", load.out_path, "--timeout", "60",
                           NULL};
    if (tk_run("outcomes", "order-producer", oargs, NULL, 70000, &res) != 0) tk_dump_log(log);
    expect_status(&res, 0);
    assert_int_equal(summary_value(res.out, "orders placed"), N);
    assert_int_equal(summary_value(res.out, "outcomes"), N);
    assert_int_equal(summary_value(res.out, "lost"), 0);
    assert_int_equal(summary_value(res.out, "duplicates"), 0);
    assert_int_equal(summary_value(res.out, "  fulfilled") + summary_value(res.out, "  rejected") +
                         summary_value(res.out, "  failed"),
                     N);
    tk_result_free(&res);

    /* Three made-up ids among real ones: exit 1, each named as lost. */
    char content[512];
    snprintf(content, sizeof(content), "%s\nmade-up-1\n%s\nmade-up-2\n\nmade-up-3\n%s\n", ids[0],
             ids[1], ids[N - 1]);
    tk_write_file("lost-ids.txt", content, lost_path, sizeof(lost_path));
    const char *lost_args[] = {"-b", bs, "outcomes", "--expect", lost_path, "--timeout", "3",
                               NULL};
    run_expect(&res, "outcomes-lost", "order-producer", lost_args, NULL, 20000, 1);
    assert_int_equal(summary_value(res.out, "orders placed"), 6);
    assert_int_equal(summary_value(res.out, "outcomes"), 3);
    assert_int_equal(summary_value(res.out, "lost"), 3);
    expect_contains("stderr", res.err, "lost: made-up-1\n");
    expect_contains("stderr", res.err, "lost: made-up-2\n");
    expect_contains("stderr", res.err, "lost: made-up-3\n");
    for (int i = 0; i < 2; i++) { /* the real ones are not */
        char line[128];
        snprintf(line, sizeof(line), "lost: %s", ids[i]);
        assert_null(strstr(res.err, line));
    }
    tk_result_free(&res);

    /* One outcome's headers: CloudEvents of an OrderCompleted, about that
     * order, with the trace the producer started. */
    tk_reader *completed = tk_fx_reader(fx, "orders.completed");
    rd_kafka_message_t *oc_msg = tk_fx_next(fx, completed, 15000);
    assert_non_null(oc_msg);
    char errstr[256], buf[512], trace[512];
    order_completed_t *oc = codec_completed_decode(oc_msg->payload, oc_msg->len, errstr,
                                                   sizeof(errstr));
    if (!oc) fail_msg("outcome does not decode: %s", errstr);
    assert_int_equal(oc_msg->key_len, strlen(oc->order_id));
    assert_memory_equal(oc_msg->key, oc->order_id, oc_msg->key_len);
    assert_string_equal(oc->worker_id, "it-worker-1");
    expect_header(oc_msg, HDR_CE_SPECVERSION, "1.0");
    expect_header(oc_msg, HDR_CE_TYPE, "orderfleet.v1.OrderCompleted");
    expect_header(oc_msg, HDR_CE_SUBJECT, oc->order_id);
    expect_header(oc_msg, HDR_CONTENT_TYPE, "application/protobuf");
    expect_header(oc_msg, HDR_CE_SOURCE, "/orderfleet/order-worker/it-worker-1");
    assert_non_null(header(oc_msg, HDR_CE_ID, buf, sizeof(buf)));
    assert_non_null(header(oc_msg, HDR_CE_TIME, buf, sizeof(buf)));

    tk_reader *orders = tk_fx_reader(fx, "orders");
    rd_kafka_message_t *placed = NULL;
    int64_t deadline = time_mono_ms() + 15000;
    while (!placed && time_mono_ms() < deadline) {
        rd_kafka_message_t *m = tk_reader_next(orders, 200);
        if (!m) continue;
        if (by_key(&m, 1, oc->order_id)) placed = tk_fx_keep(fx, m);
        else rd_kafka_message_destroy(m);
    }
    if (!placed) fail_msg("the order of outcome %s is not on orders", oc->order_id);
    /* the outcome is the worker's span of the order's trace: same trace id
     * and flags, a span id of its own */
    assert_non_null(header(placed, HDR_TRACEPARENT, trace, sizeof(trace)));
    assert_non_null(header(oc_msg, HDR_TRACEPARENT, buf, sizeof(buf)));
    assert_true(is_traceparent(buf));
    assert_memory_equal(buf, trace, 36);
    assert_string_equal(buf + 52, trace + 52);
    assert_memory_not_equal(buf + 36, trace + 36, 16);
    codec_completed_free(oc);

    int rc = tk_fx_stop(fx, w, SIGTERM, 30000);
    if (rc != 0) tk_dump_log(log);
    assert_int_equal(rc, 0);
    free(ids_text);
    tk_result_free(&load);
}

/* ---- 7. --wait: the synchronous path ----------------------------------- */

/* A worker on the fixture's cluster that never fails an order on purpose
 * (whatever the environment says), so that every answer is FULFILLED or
 * REJECTED. Its log path goes into log. */
static pid_t start_worker(tk_fixture *fx, const char *name, char *log, size_t size) {
    static const char *const env[] = {"ORDERFLEET_HANDLER_FAILURE_RATE=0",
                                      "ORDERFLEET_HANDLER_LATENCY_MS=0", NULL};
    const char *args[] = {"-b", fx->bootstraps, "--id", name, NULL};
    tk_log_path(name, log, size);
    return tk_fx_spawn(fx, "order-worker", args, env, log, NULL);
}

/* SIGTERM to the worker: it must drain and exit 0. */
static void stop_worker(tk_fixture *fx, pid_t pid, const char *log) {
    int rc = tk_fx_stop(fx, pid, SIGTERM, 30000);
    if (rc != 0) tk_dump_log(log);
    assert_int_equal(rc, 0);
}

/* Fails unless line is "<id> <word>" followed by rest (rest "" for nothing
 * more); the id goes into id (size bytes). */
static void expect_result_line(const char *line, const char *word, const char *rest, char *id,
                               size_t size) {
    const char *sp = strchr(line, ' ');
    if (!sp || sp == line) fail_msg("\"%s\" is not \"<order id> %s...\"", line, word);
    size_t wlen = strlen(word);
    if (strncmp(sp + 1, word, wlen) != 0 || strcmp(sp + 1 + wlen, rest) != 0)
        fail_msg("\"%s\": expected \"<order id> %s%s\"", line, word, rest);
    snprintf(id, size, "%.*s", (int)(sp - line), line);
}

/* The number after "name=" in a logfmt text (the first such field), or -1. */
static long logfmt_value(const char *text, const char *name) {
    char key[64];
    snprintf(key, sizeof(key), " %s=", name);
    const char *at = strstr(text, key);
    if (!at) return -1;
    char *end;
    long v = strtol(at + strlen(key), &end, 10);
    return end == at + strlen(key) ? -1 : v;
}

/* place --wait with a worker: the reply's line with the price the worker
 * computes (BURGER-CLASSIC 2 x 8.99 EUR = 17.98, tax 19% = 3.42, shipping
 * 2.99 below 25.00: 24.39), exit 0; and with --json a REJECTED outcome, as
 * the JSON of OrderCompleted, for the order id given. */
static void test_wait_place(void **state) {
    tk_fixture *fx = *state;
    char log[512], id[128];
    const char *bs = tk_fx_cluster(fx, 1);
    pid_t w = start_worker(fx, "it-wait-worker-place", log, sizeof(log));

    tk_result res;
    const char *args[] = {"-b", bs, "place", "--wait", "--customer", "c-42", "--item",
                          "BURGER-CLASSIC:2", NULL};
    if (tk_run("wait-place", "order-producer", args, NULL, 40000, &res) != 0) tk_dump_log(log);
    expect_status(&res, 0);
    char *lines[4];
    assert_int_equal(split_lines(res.out, lines, 4), 1);
    expect_result_line(lines[0], "FULFILLED", " total=2439 EUR", id, sizeof(id));
    if (!is_uuid7(id)) fail_msg("place --wait named the order \"%s\", not a UUIDv7", id);
    assert_int_equal(logfmt_value(res.err, "fulfilled"), 1);
    tk_result_free(&res);

    const char *json[] = {"-b", bs, "--json", "place", "--wait", "--deadline", "20000",
                          "--order-id", "it-wait-json-1", "--customer", "c-43", "--item",
                          "NO-SUCH-SKU:1:100", NULL};
    if (tk_run("wait-place-json", "order-producer", json, NULL, 40000, &res) != 0)
        tk_dump_log(log);
    expect_status(&res, 0);
    assert_int_equal(split_lines(res.out, lines, 4), 1);
    expect_contains("stdout", lines[0], "{\"orderId\":\"it-wait-json-1\",");
    expect_contains("stdout", lines[0], "\"status\":\"ORDER_STATUS_REJECTED\"");
    expect_contains("stdout", lines[0],
                    "\"reason\":\"items[0].sku: unknown SKU \\\"NO-SUCH-SKU\\\"\"");
    tk_result_free(&res);
    stop_worker(fx, w, log);
}

/* No worker: place --wait --deadline 300 is acknowledged but unanswered,
 * TIMED_OUT and 75. Then load --wait interrupted by SIGINT: every order
 * sent ends as SHUTDOWN (acknowledged, its wait ended), and the exit
 * status is 130. */
static void test_wait_no_worker(void **state) {
    tk_fixture *fx = *state;
    char id[128];
    const char *bs = tk_fx_cluster(fx, 1);

    tk_result res;
    const char *args[] = {"-b", bs, "place", "--wait", "--deadline", "300", "--customer",
                          "c-42", "--item", "BURGER-CLASSIC:1", NULL};
    int64_t start = time_mono_ms();
    run_expect(&res, "wait-timeout", "order-producer", args, NULL, RUN_TIMEOUT_MS, 75);
    assert_true(time_mono_ms() - start < 15000); /* the deadline, not the 30 s default */
    char *lines[4];
    assert_int_equal(split_lines(res.out, lines, 4), 1);
    expect_result_line(lines[0], "TIMED_OUT", "", id, sizeof(id));
    assert_true(is_uuid7(id));
    assert_int_equal(logfmt_value(res.err, "timed_out"), 1);
    tk_result_free(&res);

    char log[512], out[600];
    tk_log_path("wait-interrupted", log, sizeof(log));
    snprintf(out, sizeof(out), "%s.stdout", log);
    const char *load[] = {"-b", bs, "load", "--count", "50", "--wait", "--deadline", "120000",
                          NULL};
    pid_t pid = tk_fx_spawn(fx, "order-producer", load, NULL, log, out);
    if (tk_wait_log(log, "msg=\"load starting\"", 20000) != 0) tk_dump_log(log);
    int rc = tk_fx_stop(fx, pid, SIGINT, 20000);
    if (rc != 130) tk_dump_log(log);
    assert_int_equal(rc, 130);
    char *text = tk_read_file(out), *err = tk_read_file(log);
    assert_non_null(text);
    assert_non_null(err);
    char *shut[64];
    size_t n = split_lines(text, shut, 64);
    for (size_t i = 0; i < n; i++) expect_result_line(shut[i], "SHUTDOWN", "", id, sizeof(id));
    assert_int_equal((long)n, logfmt_value(err, "sent"));
    assert_int_equal((long)n, logfmt_value(err, "shutdown"));
    free(text);
    free(err);
}

/* send --wait of a small file: a line per order, in the text form (with a
 * REJECTED reason quoted) and with --json; a bad line still makes it 65. */
static void test_wait_send(void **state) {
    tk_fixture *fx = *state;
    char log[512], path[512], id[128];
    const char *bs = tk_fx_cluster(fx, 1);
    pid_t w = start_worker(fx, "it-wait-worker-send", log, sizeof(log));
    tk_write_file("wait-orders.ndjson",
                  "{\"orderId\":\"it-wait-send-1\",\"customerId\":\"c-1\",\"currency\":\"EUR\","
                  "\"items\":[{\"sku\":\"FRIES-LARGE\",\"quantity\":1,\"unitPrice\":\"449\"}]}\n"
                  "{\"orderId\":\"it-wait-send-2\",\"customerId\":\"c-2\",\"currency\":\"EUR\","
                  "\"items\":[{\"sku\":\"PIE-APPLE\",\"quantity\":1,\"unitPrice\":\"299\"}]}\n"
                  "{\"customerId\":\"c-3\",\"currency\":\"USD\","
                  "\"items\":[{\"sku\":\"BURGER-DOUBLE\",\"quantity\":3,\"unitPrice\":1299}]}\n",
                  path, sizeof(path));

    /* FRIES-LARGE 4.49 EUR: tax 0.85, shipping 2.99 = 8.33. PIE-APPLE is
     * sold out. BURGER-DOUBLE 3 x 12.99 USD = 38.97: tax 8.25% = 3.22 (half
     * up), free shipping from 30.00 = 42.19. */
    tk_result res;
    const char *args[] = {"-b", bs, "send", "--wait", path, NULL};
    if (tk_run("wait-send", "order-producer", args, NULL, 40000, &res) != 0) tk_dump_log(log);
    expect_status(&res, 0);
    char *lines[8];
    size_t n = split_lines(res.out, lines, 8);
    assert_int_equal(n, 3);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(lines[i], "it-wait-send-1 ", 15) == 0) {
            expect_result_line(lines[i], "FULFILLED", " total=833 EUR", id, sizeof(id));
            seen |= 1;
        } else if (strncmp(lines[i], "it-wait-send-2 ", 15) == 0) {
            expect_result_line(lines[i], "REJECTED",
                               " total=0 EUR reason=\"items[0].sku: PIE-APPLE is out of stock\"",
                               id, sizeof(id));
            seen |= 2;
        } else {
            expect_result_line(lines[i], "FULFILLED", " total=4219 USD", id, sizeof(id));
            if (!is_uuid7(id)) fail_msg("send --wait named the order \"%s\", not a UUIDv7", id);
            seen |= 4;
        }
    }
    assert_int_equal(seen, 7);
    tk_result_free(&res);

    /* --json, from stdin, with a bad line: the two good orders answered as
     * JSON outcomes, and 65 for the bad one. */
    tk_write_file("wait-orders-bad.ndjson",
                  "{\"orderId\":\"it-wait-send-3\",\"customerId\":\"c-1\",\"currency\":\"EUR\","
                  "\"items\":[{\"sku\":\"FRIES-LARGE\",\"quantity\":1,\"unitPrice\":\"449\"}]}\n"
                  "{\"customerId\":\n"
                  "{\"orderId\":\"it-wait-send-4\",\"customerId\":\"c-2\",\"currency\":\"EUR\","
                  "\"items\":[{\"sku\":\"PIE-APPLE\",\"quantity\":1,\"unitPrice\":\"299\"}]}\n",
                  path, sizeof(path));
    const char *json[] = {"-b", bs, "send", "--json", "--wait", path, NULL};
    if (tk_run("wait-send-json", "order-producer", json, NULL, 40000, &res) != 65)
        tk_dump_log(log);
    expect_status(&res, 65);
    expect_contains("stderr", res.err, "order-producer: line 2, column ");
    n = split_lines(res.out, lines, 8);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        if (strstr(lines[i], "\"orderId\":\"it-wait-send-3\""))
            expect_contains("stdout", lines[i], "\"status\":\"ORDER_STATUS_FULFILLED\"");
        else
            expect_contains("stdout", lines[i],
                            "{\"orderId\":\"it-wait-send-4\","
                            "\"status\":\"ORDER_STATUS_REJECTED\"");
    }
    tk_result_free(&res);
    stop_worker(fx, w, log);
}

/* load --count 200 --wait with a worker: 200 lines, each a distinct order
 * FULFILLED or REJECTED, exit 0, a summary with the latency p99, and
 * --latency-file with 200 latencies in ascending order, the last one the
 * summary's max_ms. */
static void test_wait_load(void **state) {
    tk_fixture *fx = *state;
    enum { N = 200 };
    char log[512];
    const char *bs = tk_fx_cluster(fx, 1);
    pid_t w = start_worker(fx, "it-wait-worker-load", log, sizeof(log));

    tk_result res;
    char latency_file[512];
    snprintf(latency_file, sizeof(latency_file), "%s/wait-load-latencies.txt",
             ORDERFLEET_TEST_LOG_DIR);
    unlink(latency_file);
    const char *args[] = {"-b", bs, "load", "--count", "200", "--wait", "--latency-file",
                          latency_file, NULL};
    if (tk_run("wait-load", "order-producer", args, NULL, 60000, &res) != 0) tk_dump_log(log);
    expect_status(&res, 0);
    char *lines[N + 1];
    assert_int_equal(split_lines(res.out, lines, N + 1), N);
    tk_tally *ids = tk_tally_new();
    long fulfilled = 0, rejected = 0;
    for (size_t i = 0; i < N; i++) {
        char *sp = strchr(lines[i], ' ');
        if (!sp) fail_msg("load --wait printed \"%s\"", lines[i]);
        *sp = '\0';
        if (!is_uuid7(lines[i])) fail_msg("load --wait named an order \"%s\"", lines[i]);
        if (tk_tally_add(ids, lines[i]) != 1) fail_msg("order %s printed twice", lines[i]);
        if (strncmp(sp + 1, "FULFILLED total=", 16) == 0) fulfilled++;
        else if (strncmp(sp + 1, "REJECTED total=", 15) == 0 && strstr(sp + 1, " reason=\""))
            rejected++;
        else fail_msg("order %s: \"%s\", expected FULFILLED or REJECTED", lines[i], sp + 1);
    }
    tk_tally_free(ids);
    assert_int_equal(logfmt_value(res.err, "fulfilled"), fulfilled);
    assert_int_equal(logfmt_value(res.err, "rejected"), rejected);
    assert_int_equal(logfmt_value(res.err, "timed_out"), 0);
    assert_int_equal(logfmt_value(res.err, "replies"), N);
    expect_contains("stderr", res.err, " p99_ms=");
    expect_contains("stderr", res.err, " max_ms=");
    FILE *lf = fopen(latency_file, "r");
    if (!lf) fail_msg("--latency-file: %s was not written", latency_file);
    double ms, last = -1;
    int count = 0;
    while (fscanf(lf, "%lf", &ms) == 1) {
        if (ms < last) fail_msg("--latency-file: %.3f after %.3f, not ascending", ms, last);
        last = ms;
        count++;
    }
    fclose(lf);
    assert_int_equal(count, N);
    const char *max = strstr(res.err, " max_ms=");
    double off = strtod(max + 8, NULL) - last; /* the summary has one decimal */
    assert_true(off < 0.051 && off > -0.051);
    tk_result_free(&res);
    stop_worker(fx, w, log);
}

/* ---- 8. a handler of one's own ----------------------------------------- */

/* order-worker with the example handler library (examples/handler/flat_rate.c)
 * prices with it: the outcome of one BURGER-CLASSIC at 8.99 EUR has no tax
 * and the flat shipping of 5.00 (the built-in handler would add 19% tax and
 * 2.99). A library path that does not load is a config error, 78, naming the
 * path, before any connection to Kafka. */
static void test_own_handler(void **state) {
    tk_fixture *fx = *state;
    char broker[64], errstr[256];
    tk_result res;

    int lfd = listener_open(broker, sizeof(broker));
    const char *const bad_env[] = {"ORDERFLEET_HANDLER_LIBRARY=/nonexistent/libno_handler.so",
                                   NULL};
    const char *bad_args[] = {"-b", broker, NULL};
    run_expect(&res, "bad-handler", "order-worker", bad_args, bad_env, RUN_TIMEOUT_MS, 78);
    expect_contains("stderr", res.err,
                    "order-worker: handler.library \"/nonexistent/libno_handler.so\": cannot "
                    "load it: ");
    tk_result_free(&res);
    assert_int_equal(listener_connections(lfd), 0);
    close(lfd);

    const char *bs = tk_fx_cluster(fx, 1);
    const char *log = tk_fx_log(fx, "own-handler-worker");
    const char *const env[] = {"ORDERFLEET_HANDLER_LIBRARY=" FLAT_RATE_SO, NULL};
    const char *args[] = {"-b", bs, "--id", "it-own-handler", NULL};
    pid_t w = tk_fx_spawn(fx, "order-worker", args, env, log, NULL);
    assert_int_equal(tk_wait_log(log, "msg=\"handler loaded\" name=flat-rate library=", 30000), 0);

    fx->client = tk_producer(bs);
    tk_produce_order(fx->client, "orders", "it-own-handler-1");
    tk_flush(fx->client);
    tk_reader *completed = tk_fx_reader(fx, "orders.completed");
    rd_kafka_message_t *m = tk_fx_next(fx, completed, 30000);
    if (!m) fail_msg("no outcome within 30 s");
    order_completed_t *oc = codec_completed_decode(m->payload, m->len, errstr, sizeof(errstr));
    if (!oc) fail_msg("outcome does not decode: %s", errstr);
    assert_string_equal(oc->order_id, "it-own-handler-1");
    assert_int_equal(oc->status, ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED);
    assert_int_equal(oc->subtotal, 899);
    assert_int_equal(oc->tax, 0);
    assert_int_equal(oc->shipping, 500);
    assert_int_equal(oc->total, 1399);
    assert_string_equal(oc->worker_id, "it-own-handler");
    codec_completed_free(oc);

    stop_worker(fx, w, log);
    fx->done = 1;
}

#define PROGRAMS_TEST(f) cmocka_unit_test_setup_teardown(f, tk_fixture_setup, tk_fixture_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        PROGRAMS_TEST(test_devbroker),
        PROGRAMS_TEST(test_command_lines),
        PROGRAMS_TEST(test_place),
        PROGRAMS_TEST(test_send),
        PROGRAMS_TEST(test_unreachable_broker),
        PROGRAMS_TEST(test_load_then_outcomes),
        PROGRAMS_TEST(test_wait_place),
        PROGRAMS_TEST(test_wait_no_worker),
        PROGRAMS_TEST(test_wait_send),
        PROGRAMS_TEST(test_wait_load),
        PROGRAMS_TEST(test_own_handler),
    };
    /* TEST_FILTER=test_place runs one test (a cmocka pattern, * and ?). */
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
