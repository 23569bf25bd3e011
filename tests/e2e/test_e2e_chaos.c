/* e2e chaos against real Apache Kafka: the broker killed with SIGKILL
 * mid-stream and restarted on its data, and workers joining and leaving
 * mid-stream. In both, no order may be left without an outcome; duplicates
 * (allowed by at-least-once) are counted and reported. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/timeutil.h"
#include "testkit.h"

#define KAFKA_LOCAL ORDERFLEET_SOURCE_DIR "/deploy/kafka-local.sh"

static int wait_lines(const char *path, size_t want, int timeout_ms) {
    int64_t deadline = time_mono_ms() + timeout_ms;
    while (tk_count_lines(path) < want)
        if (time_mono_ms() > deadline) return -1;
        else time_sleep_ms(20, NULL); /* polling a file */
    return 0;
}

/* Prints every line of the given logs that mentions one of the lost order ids
 * ("order-producer: lost: <id>" lines of err), at most 20 ids: with the
 * workers at debug level, where each was consumed, delivered and committed. */
static void trace_lost(const char *err, const char *const *logs) {
    int traced = 0;
    for (const char *l = strstr(err, "lost: "); l && traced < 20; l = strstr(l, "lost: ")) {
        char id[160];
        l += strlen("lost: ");
        snprintf(id, sizeof(id), "%.*s", (int)strcspn(l, "\n"), l);
        print_message("---- lost order %s in the workers' logs ----\n", id);
        for (const char *const *log = logs; log && *log; log++) {
            char *text = tk_read_file(*log);
            for (char *line = text ? strtok(text, "\n") : NULL; line; line = strtok(NULL, "\n"))
                if (strstr(line, id)) print_message("%s: %s\n", strrchr(*log, '/') + 1, line);
            free(text);
        }
        traced++;
    }
}

/* Runs `order-producer outcomes --expect ids` and checks that nothing is
 * lost; on failure the workers' logs (given, NULL-terminated) are shown,
 * and the lines that name a lost order. */
static void expect_no_loss(const char *b, const tk_topics *t, const char *ids, const char *name,
                           const char *const *logs) {
    const char *args[] = {"-b", b, "outcomes", "--expect", ids, "--timeout", "180", NULL};
    tk_result r;
    int rc = tk_run(name, "order-producer", args, t ? t->envp : NULL, 240000, &r);
    print_message("%s", r.out);
    if (rc != 0) {
        print_message("%s", r.err);
        trace_lost(r.err, logs);
        for (; logs && *logs; logs++) tk_dump_log(*logs);
    }
    assert_int_equal(rc, 0);
    assert_non_null(strstr(r.out, "lost                     0"));
    tk_result_free(&r);
}

/* The only broker is killed with SIGKILL while orders flow, and restarted on
 * the same data: the producer and the workers recover on their own. */
#ifndef ORDERFLEET_CHAOS_REBALANCE
/* Starts a kafka-local.sh instance of its own; returns its bootstrap list. */
static void local_kafka_start(const char *name, int nodes, char *dir, size_t dirsize, char *b,
                              size_t bsize) {
    char n[8];
    snprintf(n, sizeof(n), "%d", nodes);
    snprintf(dir, dirsize, "%s/%s-%d", ORDERFLEET_TEST_LOG_DIR, name, (int)getpid());
    const char *start[] = {"start", "--nodes", n, "--dir", dir, NULL};
    tk_result r;
    if (tk_run(name, KAFKA_LOCAL, start, NULL, 300000, &r) != 0)
        fail_msg("kafka-local.sh start failed: %s", r.err);
    char *last = r.out, *nl; /* the last stdout line is the bootstrap list */
    while ((nl = strchr(last, '\n')) && nl[1]) last = nl + 1;
    snprintf(b, bsize, "%.*s", (int)strcspn(last, "\n"), last);
    tk_result_free(&r);
}

static void local_kafka_stop(const char *dir) {
    const char *stop[] = {"stop", "--dir", dir, NULL};
    tk_result r;
    assert_int_equal(tk_run("kafka-local-stop", KAFKA_LOCAL, stop, NULL, 120000, &r), 0);
    tk_result_free(&r);
}

/* --nodes 3: a three-voter quorum whose topics are replicated three times,
 * and which keeps taking orders with one node down. */
static void test_three_node_quorum(void **state) {
    (void)state;
    char dir[512], b[256], err[512], wlog[512], ids[512];
    local_kafka_start("quorum-kafka", 3, dir, sizeof(dir), b, sizeof(b));
    int commas = 0;
    for (const char *c = b; *c; c++) commas += *c == ',';
    assert_int_equal(commas, 2); /* three host:port entries */

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", b, err, sizeof(err)), 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(rk);
    const struct rd_kafka_metadata *md;
    assert_int_equal(rd_kafka_metadata(rk, 1, NULL, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(md->broker_cnt, 3);
    int seen = 0;
    for (int i = 0; i < md->topic_cnt; i++) {
        if (strcmp(md->topics[i].topic, "orders") != 0) continue;
        seen = 1;
        assert_int_equal(md->topics[i].partition_cnt, 12);
        for (int k = 0; k < md->topics[i].partition_cnt; k++)
            assert_int_equal(md->topics[i].partitions[k].replica_cnt, 3);
    }
    assert_true(seen);
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);

    /* one node down: orders still flow (min.insync.replicas 2 of 3) */
    const char *kill2[] = {"kill", "--node", "2", "--dir", dir, NULL};
    tk_result r;
    assert_int_equal(tk_run("quorum-kill", KAFKA_LOCAL, kill2, NULL, 30000, &r), 0);
    tk_result_free(&r);
    const char *wargs[] = {"-b", b, NULL};
    pid_t w = tk_spawn("order-worker", wargs, tk_log_path("quorum-w", wlog, sizeof(wlog)), NULL);
    const char *load[] = {"-b", b, "load", "--count", "500", "--ids", NULL};
    assert_int_equal(tk_run("quorum-load", "order-producer", load, NULL, 120000, &r), 0);
    snprintf(ids, sizeof(ids), "%s", r.out_path);
    tk_result_free(&r);
    const char *wlogs[] = {wlog, NULL};
    expect_no_loss(b, NULL, ids, "quorum-outcomes", wlogs);
    assert_int_equal(tk_stop(w, SIGTERM, 60000), 0);
    local_kafka_stop(dir);
}

static void test_broker_killed_and_restarted(void **state) {
    (void)state;
    char dir[512], b[256], w1log[512], w2log[512], loadlog[512], ids[512];
    tk_result r;
    local_kafka_start("chaos-kafka", 1, dir, sizeof(dir), b, sizeof(b));

    const char *wargs[] = {"-b", b, NULL};
    pid_t w1 = tk_spawn("order-worker", wargs, tk_log_path("chaos-w1", w1log, sizeof(w1log)), NULL);
    pid_t w2 = tk_spawn("order-worker", wargs, tk_log_path("chaos-w2", w2log, sizeof(w2log)), NULL);
    const char *load[] = {"-b", b, "load", "--count", "4000", "--rate", "400", "--ids",
                          "-X", "message.timeout.ms=120000", NULL};
    tk_log_path("chaos-load-ids", ids, sizeof(ids));
    pid_t producer = tk_spawn("order-producer", load,
                              tk_log_path("chaos-load", loadlog, sizeof(loadlog)), ids);
    assert_int_equal(wait_lines(ids, 1000, 60000), 0);

    const char *kill9[] = {"kill", "--node", "1", "--dir", dir, NULL};
    assert_int_equal(tk_run("chaos-kafka-kill", KAFKA_LOCAL, kill9, NULL, 30000, &r), 0);
    tk_result_free(&r);
    /* the fleet notices: all brokers down */
    assert_int_equal(tk_wait_log(w1log, "brokers are down", 30000), 0);
    const char *restart[] = {"restart", "--node", "1", "--dir", dir, NULL};
    assert_int_equal(tk_run("chaos-kafka-restart", KAFKA_LOCAL, restart, NULL, 300000, &r), 0);
    tk_result_free(&r);

    int rc = tk_wait(producer, 240000);
    if (rc != 0) tk_dump_log(loadlog);
    assert_int_equal(rc, 0); /* every order acknowledged, across the outage */
    assert_int_equal(tk_count_lines(ids), 4000);
    const char *wlogs[] = {w1log, w2log, NULL};
    expect_no_loss(b, NULL, ids, "chaos-outcomes", wlogs);
    assert_int_equal(tk_stop(w1, SIGTERM, 60000), 0);
    assert_int_equal(tk_stop(w2, SIGTERM, 60000), 0);

    local_kafka_stop(dir);
}

#endif

#ifdef ORDERFLEET_CHAOS_REBALANCE
/* A worker joins and another leaves while orders flow (rebalances on real
 * Kafka): no order lost. The workers log at debug level, so that a lost
 * order's trail (consumed, delivered) is shown if it ever fails again. */
static void test_workers_join_and_leave(void **state) {
    (void)state;
    const char *b = tk_e2e_bootstraps();
    char prefix[64], logs[3][512], loadlog[512], ids[512];
    tk_topics t;
    snprintf(prefix, sizeof(prefix), "e2e-rebalance-%d", (int)getpid());
    tk_topics_create(b, prefix, 1, &t);

    /* At debug level, each worker logs every order it consumes, every record
     * it gets delivered and every commit: trace_lost() shows a lost order's. */
    const char *wargs[] = {"-b", b, "--latency-ms", "2", "-v", NULL};
    pid_t w[3];
    w[0] = tk_spawn_env("order-worker", wargs, t.envp,
                        tk_log_path("rebalance-w1", logs[0], sizeof(logs[0])), NULL);
    w[1] = tk_spawn_env("order-worker", wargs, t.envp,
                        tk_log_path("rebalance-w2", logs[1], sizeof(logs[1])), NULL);
    const char *load[] = {"-b", b, "load", "--count", "4000", "--rate", "400", "--ids", NULL};
    tk_log_path("rebalance-ids", ids, sizeof(ids));
    pid_t producer = tk_spawn_env("order-producer", load, t.envp,
                                  tk_log_path("rebalance-load", loadlog, sizeof(loadlog)), ids);

    assert_int_equal(wait_lines(ids, 1000, 60000), 0);
    w[2] = tk_spawn_env("order-worker", wargs, t.envp,
                        tk_log_path("rebalance-w3", logs[2], sizeof(logs[2])), NULL);
    char third[256]; /* a third of the orders partitions (and of the retry ones) */
    snprintf(third, sizeof(third), "msg=\"partitions assigned\" topic=%s count=4", t.orders);
    assert_int_equal(tk_wait_log(logs[2], third, 60000), 0);
    assert_int_equal(wait_lines(ids, 2500, 60000), 0);
    assert_int_equal(tk_stop(w[0], SIGTERM, 60000), 0); /* leaves mid-stream, cleanly */

    assert_int_equal(tk_wait(producer, 120000), 0);
    const char *wlogs[] = {logs[0], logs[1], logs[2], NULL};
    expect_no_loss(b, &t, ids, "rebalance-outcomes", wlogs);
    for (int i = 1; i < 3; i++) assert_int_equal(tk_stop(w[i], SIGTERM, 60000), 0);
    for (int i = 0; i < 3; i++) assert_int_equal(tk_wait_log(logs[i], "msg=stopped", 1000), 0);
}
#endif

int main(void) {
    /* Built twice, so that ctest runs the two in parallel: test_e2e_brokers
     * (its own Kafka) and test_e2e_rebalance (the shared one). */
    const struct CMUnitTest tests[] = {
#ifdef ORDERFLEET_CHAOS_REBALANCE
        cmocka_unit_test(test_workers_join_and_leave),
#else
        cmocka_unit_test(test_broker_killed_and_restarted),
        cmocka_unit_test(test_three_node_quorum),
#endif
    };
    /* TEST_FILTER=<pattern> runs the matching tests only (cmocka: * and ?). */
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
