/* testkit: what the integration tests share: an in-process mock cluster,
 * the real programs as child processes, a producer of test orders and a
 * reader that collects what the fleet wrote, all waiting on conditions with
 * deadlines rather than sleeping. */
#ifndef ORDERFLEET_TESTKIT_H
#define ORDERFLEET_TESTKIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <librdkafka/rdkafka.h>

#include "common/config.h"
#include "common/devcluster.h"

/* A mock cluster with the contract's topics, and the default config. */
typedef struct tk_cluster {
    devcluster *dc;
    of_config cfg;
} tk_cluster;

tk_cluster *tk_cluster_start(int nodes);
const char *tk_bootstraps(const tk_cluster *c);
void tk_cluster_stop(tk_cluster *c);

/* Starts build/bin/<prog> with argv (NULL-terminated, without argv[0]),
 * stderr appended to log_path (NULL: the test's stderr) and stdout written to
 * stdout_path (NULL: /dev/null). The child is killed if the test process
 * dies. Returns the pid. */
pid_t tk_spawn(const char *prog, const char *const *args, const char *log_path,
               const char *stdout_path);

/* As tk_spawn(), with env: NULL, or a NULL-terminated list of "NAME=VALUE"
 * set in the child's environment over the test's own. */
pid_t tk_spawn_env(const char *prog, const char *const *args, const char *const *env,
                   const char *log_path, const char *stdout_path);

/* Waits for pid to exit for at most timeout_ms. Returns its exit status
 * (128+signal when killed by one), or -1 on timeout (pid left running). */
int tk_wait(pid_t pid, int timeout_ms);

/* Sends sig and waits as tk_wait(); on timeout kills with SIGKILL and
 * returns -1. */
int tk_stop(pid_t pid, int sig, int timeout_ms);

/* What a program run to completion by tk_run() did. */
typedef struct tk_result {
    int status;          /* exit status as tk_wait(); -1: still running at the deadline */
    char *out, *err;     /* all of stdout and stderr, NUL-terminated (never NULL) */
    char out_path[512];  /* where they were written: kept in the log directory */
    char err_path[512];
} tk_result;

/* Runs build/bin/<prog> with args and env (as tk_spawn_env()), stdin from
 * /dev/null, stdout and stderr to fresh files named after name, and waits
 * for it for at most timeout_ms; past that it is killed (status -1). Fills
 * res and returns res->status. Free with tk_result_free(). */
int tk_run(const char *name, const char *prog, const char *const *args, const char *const *env,
           int timeout_ms, tk_result *res);
void tk_result_free(tk_result *res);

/* Reads the whole file at path. Returns a NUL-terminated malloc'd copy the
 * caller frees, or NULL when it cannot be read. */
char *tk_read_file(const char *path);

/* Writes content to a fresh file "<pid>-<name>" in the log directory; buf
 * gets its path, which is returned. Fails the test if it cannot. */
const char *tk_write_file(const char *name, const char *content, char *buf, size_t size);

/* Waits for at most timeout_ms (polling every 10 ms) until the file at path
 * has a complete first line. Returns it without its newline, malloc'd for the
 * caller to free, or NULL on timeout. */
char *tk_wait_first_line(const char *path, int timeout_ms);

/* A producer for test input (idempotent, acks=all). */
rd_kafka_t *tk_producer(const char *bootstraps);

/* Produces a valid one-line order for BURGER-CLASSIC with the given id (and
 * customer), as the real producer would, headers included. */
void tk_produce_order(rd_kafka_t *p, const char *topic, const char *order_id);

/* Places n such orders, "<prefix>-0000" to "<prefix>-<n-1>", with a producer
 * of its own, and waits until Kafka has them all. */
void tk_place_orders(const char *bootstraps, const char *topic, const char *prefix, int n);

/* The same with extra headers (taken over and freed; NULL for none). */
void tk_produce_order_with(rd_kafka_t *p, const char *topic, const char *order_id,
                           rd_kafka_headers_t *extra);

/* The same with a given placed_at_ms (an outcome carries it back, so a test
 * can tell records of one order id apart). */
void tk_produce_order_at(rd_kafka_t *p, const char *topic, const char *order_id,
                         int64_t placed_at_ms, rd_kafka_headers_t *extra);

/* Produces raw bytes with a key (NULL: none). */
void tk_produce_raw(rd_kafka_t *p, const char *topic, const char *key, const void *value,
                    size_t len);

/* Waits until everything produced is acknowledged; fails the test if not. */
void tk_flush(rd_kafka_t *p);

/* Produces a reply as a worker would write it: key order_id, value bytes,
 * ce_type OrderCompleted and the correlation id (RH_CORRELATION_LEN bytes;
 * NULL: no correlation header), then waits until it is acknowledged. */
void tk_produce_reply(rd_kafka_t *p, const char *topic, const char *order_id, const void *value,
                      size_t len, const uint8_t *correlation);

/* A reader of every partition of one topic from the beginning, no group. */
typedef struct tk_reader tk_reader;

tk_reader *tk_reader_new(const char *bootstraps, const char *topic);

/* Returns the next record within timeout_ms, or NULL. The message is the
 * caller's, to free with rd_kafka_message_destroy(). */
rd_kafka_message_t *tk_reader_next(tk_reader *r, int timeout_ms);
void tk_reader_destroy(tk_reader *r);

/* A multiset of order ids: counts outcomes per order. */
typedef struct tk_tally tk_tally;

tk_tally *tk_tally_new(void);
/* Adds one sighting of id; returns how many times it has been seen now. */
int tk_tally_add(tk_tally *t, const char *id);
int tk_tally_count(const tk_tally *t, const char *id);
size_t tk_tally_distinct(const tk_tally *t);
size_t tk_tally_total(const tk_tally *t);
void tk_tally_free(tk_tally *t);

/* Reads outcomes from r, tallying order ids, until `distinct` different
 * orders have been seen or timeout_ms passes. Returns the distinct count. */
size_t tk_collect_outcomes(tk_reader *r, tk_tally *t, size_t distinct, int timeout_ms);

/* Waits until group has committed, on every partition of topic, the end of
 * the partition (all work done and committed). 0, or -1 at the deadline. */
int tk_wait_group_caught_up(const char *bootstraps, const char *group, const char *topic,
                            int timeout_ms);

/* Waits until the file at path contains needle. 0, or -1 at the deadline. */
int tk_wait_log(const char *path, const char *needle, int timeout_ms);

/* Sleeps ms milliseconds: the interval of a loop polling a condition that
 * has a deadline of its own. */
void tk_pause_ms(int ms);

/* ---- real Kafka (label e2e) ---- */

/* The bootstrap servers of the Kafka that ctest's fixture started
 * (deploy/kafka-local.sh, its directory in ORDERFLEET_E2E_KAFKA_DIR). */
const char *tk_e2e_bootstraps(void);

/* One test's own topics on a shared cluster ("<prefix>.orders", ...), its
 * own worker group, and the environment that points the programs at them. */
typedef struct tk_topics {
    char orders[128], completed[128], replies[128], retry[128], dlq[128], group[128];
    char env[6][192];
    const char *envp[7]; /* NULL-terminated, for tk_spawn_env() and tk_run() */
} tk_topics;

/* Creates the topics with the admin API and waits until they are visible. */
void tk_topics_create(const char *bootstraps, const char *prefix, int replication,
                      tk_topics *t);

/* The full path of a program on PATH (into buf); fails the test when absent. */
const char *tk_which(const char *prog, char *buf, size_t size);

/* A fresh log file path under the build tree for one child's output. */
const char *tk_log_path(const char *name, char *buf, size_t size);

/* Lines in a file so far (a program's output being written): 0 when absent. */
size_t tk_count_lines(const char *path);

/* Prints the last lines of a log on test failure (to stderr). */
void tk_dump_log(const char *path);

#endif
