#define _POSIX_C_SOURCE 200809L
#include "tkfixture.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

int tk_fixture_alloc(void **state, size_t size) {
    *state = calloc(1, size);
    return *state ? 0 : -1;
}

int tk_fixture_setup(void **state) { return tk_fixture_alloc(state, sizeof(tk_fixture)); }

int tk_fixture_teardown(void **state) {
    tk_fixture *fx = *state;
    tk_fixture_release(fx);
    free(fx);
    return 0;
}

void tk_fixture_release(tk_fixture *fx) {
    for (size_t i = 0; i < fx->n_pids; i++)
        if (fx->pids[i] > 0) tk_stop(fx->pids[i], SIGKILL, 5000);
    for (size_t i = 0; i < fx->n_requests; i++) {
        if (!fx->requests[i]) continue;
        tk_http_response r;
        tk_http_join(fx->requests[i], &r);
        tk_http_response_free(&r);
    }
    if (!fx->done)
        for (size_t i = 0; i < fx->n_logs; i++) tk_dump_log(fx->logs[i]);
    for (size_t i = 0; i < fx->n_msgs; i++) rd_kafka_message_destroy(fx->msgs[i]);
    for (size_t i = 0; i < fx->n_readers; i++) tk_reader_destroy(fx->readers[i]);
    if (fx->client) rd_kafka_destroy(fx->client);
    tk_cluster_stop(fx->cluster);
    fx->n_pids = fx->n_requests = fx->n_logs = fx->n_msgs = fx->n_readers = 0;
    fx->client = NULL;
    fx->cluster = NULL;
}

const char *tk_fx_cluster(tk_fixture *fx, int nodes) {
    fx->cluster = tk_cluster_start(nodes);
    fx->bootstraps = tk_bootstraps(fx->cluster);
    return fx->bootstraps;
}

const char *tk_fx_e2e_topics(tk_fixture *fx, const char *prefix) {
    fx->bootstraps = tk_e2e_bootstraps();
    tk_topics_create(fx->bootstraps, prefix, 1, &fx->topics);
    fx->env = fx->topics.envp;
    return fx->bootstraps;
}

const char *tk_fx_log(tk_fixture *fx, const char *name) {
    assert_true(fx->n_logs < COUNT(fx->logs));
    char unique[64];
    snprintf(unique, sizeof(unique), "%s-%zu", name, fx->n_logs);
    char *log = fx->logs[fx->n_logs++];
    return tk_log_path(unique, log, sizeof(fx->logs[0]));
}

pid_t tk_fx_spawn(tk_fixture *fx, const char *prog, const char *const *args, const char *const *env,
                  const char *log, const char *out) {
    assert_true(fx->n_pids < COUNT(fx->pids));
    pid_t pid = tk_spawn_env(prog, args, env ? env : fx->env, log, out);
    fx->pids[fx->n_pids++] = pid;
    return pid;
}

void tk_fx_forget(tk_fixture *fx, pid_t pid) {
    for (size_t i = 0; i < fx->n_pids; i++)
        if (fx->pids[i] == pid) fx->pids[i] = 0;
}

int tk_fx_stop(tk_fixture *fx, pid_t pid, int sig, int timeout_ms) {
    int rc = tk_stop(pid, sig, timeout_ms);
    tk_fx_forget(fx, pid);
    return rc;
}

int tk_fx_wait(tk_fixture *fx, pid_t pid, int timeout_ms) {
    int rc = tk_wait(pid, timeout_ms);
    if (rc != -1) tk_fx_forget(fx, pid);
    return rc;
}

tk_reader *tk_fx_reader(tk_fixture *fx, const char *topic) {
    assert_true(fx->n_readers < COUNT(fx->readers));
    assert_non_null(fx->bootstraps);
    tk_reader *r = tk_reader_new(fx->bootstraps, topic);
    fx->readers[fx->n_readers++] = r;
    return r;
}

rd_kafka_message_t *tk_fx_keep(tk_fixture *fx, rd_kafka_message_t *m) {
    if (fx->n_msgs == COUNT(fx->msgs)) {
        rd_kafka_message_destroy(m);
        fail_msg("the fixture keeps at most %zu records", fx->n_msgs);
    }
    fx->msgs[fx->n_msgs++] = m;
    return m;
}

rd_kafka_message_t *tk_fx_next(tk_fixture *fx, tk_reader *r, int timeout_ms) {
    rd_kafka_message_t *m = tk_reader_next(r, timeout_ms);
    return m ? tk_fx_keep(fx, m) : NULL;
}

tk_http_async *tk_fx_request(tk_fixture *fx, int port, const char *method, const char *path,
                             const char *const *headers, const char *body, int timeout_ms) {
    assert_true(fx->n_requests < COUNT(fx->requests));
    tk_http_async *a = tk_http_start(port, method, path, headers, body, timeout_ms);
    if (!a) fail_msg("%s %s: no thread for the request", method, path);
    fx->requests[fx->n_requests++] = a;
    return a;
}

void tk_fx_join(tk_fixture *fx, tk_http_async *a, tk_http_response *out) {
    for (size_t i = 0; i < fx->n_requests; i++)
        if (fx->requests[i] == a) fx->requests[i] = NULL;
    if (tk_http_join(a, out) != 0) fail_msg("request without response: %s", out->error);
}
