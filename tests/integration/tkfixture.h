/* tkfixture: the record of what one test started, shared by the tests that
 * run programs, so that their teardown ends whatever a failed assertion left
 * behind: the test's Kafka (its own mock cluster, or its own topics on the
 * e2e Kafka), child processes and their logs, readers and the records read,
 * a Kafka client, and HTTP requests still running on their threads.
 *
 * A test whose fixture is a tk_fixture and nothing more uses
 * tk_fixture_setup() and tk_fixture_teardown() as its cmocka setup and
 * teardown; one with more embeds a tk_fixture, allocates its own struct
 * with tk_fixture_alloc() and calls tk_fixture_release() from its own
 * teardown. The tk_fx_* functions record
 * what they start and fail the test when a record is full. */
#ifndef ORDERFLEET_TKFIXTURE_H
#define ORDERFLEET_TKFIXTURE_H

#include <stddef.h>
#include <sys/types.h>

#include <librdkafka/rdkafka.h>

#include "testkit.h"
#include "tkhttp.h"

typedef struct tk_fixture {
    /* The test's Kafka: tk_fx_cluster() or tk_fx_e2e_topics(); bootstraps
     * is set by either, env (the children's environment) by the second. */
    tk_cluster *cluster;
    tk_topics topics;
    const char *bootstraps;
    const char *const *env;
    /* Children to kill (0 once reaped), and the logs to show when the test
     * did not reach its end (done unset). */
    pid_t pids[8];
    size_t n_pids;
    char logs[8][512];
    size_t n_logs;
    int done;
    /* Readers, the records read (a client with any left cannot close), a
     * Kafka client of the test's own (may be NULL), and requests started
     * and not joined yet (NULL once joined). */
    tk_reader *readers[4];
    size_t n_readers;
    rd_kafka_message_t *msgs[16];
    size_t n_msgs;
    rd_kafka_t *client;
    tk_http_async *requests[16];
    size_t n_requests;
} tk_fixture;

/* For a cmocka setup: a zeroed fixture of size bytes in *state, to free
 * in the teardown: a tk_fixture, or a test's own struct that embeds one.
 * 0, or -1 when out of memory. */
int tk_fixture_alloc(void **state, size_t size);

/* cmocka setup: a zeroed tk_fixture in *state (tk_fixture_alloc()). */
int tk_fixture_setup(void **state);

/* cmocka teardown: tk_fixture_release() of *state, then frees it. */
int tk_fixture_teardown(void **state);

/* Ends what fx records, in this order: kills the children (SIGKILL), joins
 * the requests (their server is gone: they end), shows the logs unless
 * fx->done, destroys the records, readers and client, stops the cluster.
 * fx itself is the caller's. */
void tk_fixture_release(tk_fixture *fx);

/* Starts the test's own mock cluster of nodes brokers. Returns its
 * bootstraps (valid until the teardown). */
const char *tk_fx_cluster(tk_fixture *fx, int nodes);

/* Creates the test's own topics "<prefix>.orders", ... on the e2e Kafka
 * (tk_topics_create(), replication 1); the children started through fx get
 * the environment that points them there. Returns the bootstraps. */
const char *tk_fx_e2e_topics(tk_fixture *fx, const char *prefix);

/* A fresh log path "<name>-<n>" for one child, recorded so that the
 * teardown shows it when the test did not reach its end. Valid until the
 * teardown. */
const char *tk_fx_log(tk_fixture *fx, const char *name);

/* tk_spawn_env() of a recorded child; env NULL: the fixture's own
 * (fx->env). Returns the pid. */
pid_t tk_fx_spawn(tk_fixture *fx, const char *prog, const char *const *args, const char *const *env,
                  const char *log, const char *out);

/* Forgets a child that has been reaped. */
void tk_fx_forget(tk_fixture *fx, pid_t pid);

/* tk_stop() and forget the child: it has been reaped either way. */
int tk_fx_stop(tk_fixture *fx, pid_t pid, int sig, int timeout_ms);

/* tk_wait() for a child already signalled (a second signal may change what
 * it does); forgotten once it has exited. */
int tk_fx_wait(tk_fixture *fx, pid_t pid, int timeout_ms);

/* A recorded reader of topic on the test's Kafka. */
tk_reader *tk_fx_reader(tk_fixture *fx, const char *topic);

/* Keeps a record read until the teardown; returns it. */
rd_kafka_message_t *tk_fx_keep(tk_fixture *fx, rd_kafka_message_t *m);

/* tk_reader_next(), the record (if any) kept until the teardown. NULL when
 * none came within timeout_ms. */
rd_kafka_message_t *tk_fx_next(tk_fixture *fx, tk_reader *r, int timeout_ms);

/* tk_http_start() of a recorded request; fails the test when no thread
 * could be started. */
tk_http_async *tk_fx_request(tk_fixture *fx, int port, const char *method, const char *path,
                             const char *const *headers, const char *body, int timeout_ms);

/* Waits for a request started with tk_fx_request() and moves its response
 * into out (free it with tk_http_response_free()); fails the test when no
 * response came. */
void tk_fx_join(tk_fixture *fx, tk_http_async *a, tk_http_response *out);

#endif
