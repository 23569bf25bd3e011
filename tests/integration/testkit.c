#define _POSIX_C_SOURCE 200809L
#include "testkit.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/headers.h"
#include "common/kafka.h"
#include "common/order_codec.h"
#include "common/reply_headers.h"
#include "common/timeutil.h"

tk_cluster *tk_cluster_start(int nodes) {
    char err[512];
    tk_cluster *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    /* Tests run beside a developer's shell: its ORDERFLEET_* must not leak in. */
    assert_int_equal(config_load(&c->cfg, NULL, NULL, 0, err, sizeof(err)), CONFIG_OK);
    c->dc = devcluster_start(&c->cfg, nodes, err, sizeof(err));
    if (!c->dc) fail_msg("mock cluster: %s", err);
    return c;
}

const char *tk_bootstraps(const tk_cluster *c) { return devcluster_bootstraps(c->dc); }

void tk_cluster_stop(tk_cluster *c) {
    if (!c) return;
    devcluster_destroy(c->dc);
    config_free(&c->cfg);
    free(c);
}

extern char **environ;

/* The test's environment with each "NAME=VALUE" of env replacing or adding
 * NAME, built before fork() so that the child only has to exec. The array is
 * the caller's to free (the strings are borrowed). */
static char **env_merge(const char *const *env) {
    size_t n = 0, extra = 0;
    while (environ[n]) n++;
    while (env[extra]) extra++;
    char **out = calloc(n + extra + 1, sizeof(*out));
    assert_non_null(out);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int replaced = 0;
        for (size_t j = 0; j < extra && !replaced; j++) {
            size_t len = strcspn(env[j], "=");
            replaced = strncmp(environ[i], env[j], len) == 0 && environ[i][len] == '=';
        }
        if (!replaced) out[k++] = environ[i];
    }
    for (size_t j = 0; j < extra; j++) out[k++] = (char *)env[j];
    out[k] = NULL;
    return out;
}

/* fork() and exec; in the child only async-signal-safe calls, since the test
 * process has librdkafka's threads running. */
static pid_t spawn(const char *prog, const char *const *args, const char *const *env,
                   int stdin_null, const char *log_path, const char *stdout_path) {
    const char *argv[64];
    char path[1024];
    size_t n = 0;
    if (prog[0] == '/') /* a program of the system's, such as kcat */
        snprintf(path, sizeof(path), "%s", prog);
    else
        snprintf(path, sizeof(path), "%s/%s", ORDERFLEET_BIN_DIR, prog);
    argv[n++] = path;
    for (; args && *args && n < 63; args++) argv[n++] = *args;
    argv[n] = NULL;
    char **envp = env ? env_merge(env) : NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* Die with the test: a failed test never leaves a worker running. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (!stdout_path) { /* never hold the test runner's stdout open */
            int fd = open("/dev/null", O_WRONLY);
            if (fd >= 0) dup2(fd, STDOUT_FILENO);
        }
        if (stdin_null) {
            int fd = open("/dev/null", O_RDONLY);
            if (fd >= 0) dup2(fd, STDIN_FILENO);
        }
        if (log_path) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) dup2(fd, STDERR_FILENO);
        }
        if (stdout_path) {
            int fd = open(stdout_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) dup2(fd, STDOUT_FILENO);
        }
        if (envp) execve(path, (char *const *)argv, envp);
        else execv(path, (char *const *)argv);
        perror(path);
        _exit(127);
    }
    free(envp);
    assert_true(pid >= 0);
    return pid;
}

pid_t tk_spawn(const char *prog, const char *const *args, const char *log_path,
               const char *stdout_path) {
    return spawn(prog, args, NULL, 0, log_path, stdout_path);
}

pid_t tk_spawn_env(const char *prog, const char *const *args, const char *const *env,
                   const char *log_path, const char *stdout_path) {
    return spawn(prog, args, env, 0, log_path, stdout_path);
}

int tk_wait(pid_t pid, int timeout_ms) {
    int64_t deadline = time_mono_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (r < 0 && errno != EINTR) return -1;
        if (time_mono_ms() >= deadline) return -1;
        struct timespec ts = {0, 10 * 1000000L}; /* polling a child's exit */
        nanosleep(&ts, NULL);
    }
}

int tk_stop(pid_t pid, int sig, int timeout_ms) {
    kill(pid, sig);
    int rc = tk_wait(pid, timeout_ms);
    if (rc == -1) {
        kill(pid, SIGKILL);
        tk_wait(pid, 5000);
    }
    return rc;
}

static void tk_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    if (m->err) fprintf(stderr, "testkit: delivery failed: %s\n", rd_kafka_err2str(m->err));
}

/* A client of bootstraps with the given properties (NULL-terminated
 * name/value pairs); fails the test if librdkafka refuses any. The caller
 * destroys it. */
typedef void tk_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

static rd_kafka_t *tk_client(rd_kafka_type_t type, const char *bootstraps,
                             const char *const *props, tk_dr_cb *dr) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof(err)))
        fail_msg("bootstrap.servers: %s", err);
    for (; props && props[0]; props += 2)
        if (rd_kafka_conf_set(conf, props[0], props[1], err, sizeof(err)))
            fail_msg("%s: %s", props[0], err);
    if (dr) rd_kafka_conf_set_dr_msg_cb(conf, dr);
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
    if (!rk) fail_msg("kafka client: %s", err);
    return rk;
}

rd_kafka_t *tk_producer(const char *bootstraps) {
    static const char *const props[] = {"enable.idempotence", "true", "partitioner",
                                        "murmur2_random", "max.in.flight.requests.per.connection",
                                        IDEMPOTENT_IN_FLIGHT, NULL};
    return tk_client(RD_KAFKA_PRODUCER, bootstraps, props, tk_dr);
}

static void tk_produce(rd_kafka_t *p, const char *topic, const char *key, const void *value,
                       size_t len, rd_kafka_headers_t *hdrs) {
    rd_kafka_resp_err_t err;
    do {
        err = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic),
                                RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                                RD_KAFKA_V_VALUE((void *)value, len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) rd_kafka_poll(p, 50);
    } while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    if (err) fail_msg("produce: %s", rd_kafka_err2str(err));
    rd_kafka_poll(p, 0);
}

void tk_produce_order(rd_kafka_t *p, const char *topic, const char *order_id) {
    tk_produce_order_with(p, topic, order_id, NULL);
}

void tk_place_orders(const char *bootstraps, const char *topic, const char *prefix, int n) {
    char id[64];
    rd_kafka_t *p = tk_producer(bootstraps);
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "%s-%04d", prefix, i);
        tk_produce_order(p, topic, id);
    }
    tk_flush(p);
    rd_kafka_destroy(p);
}

void tk_produce_order_with(rd_kafka_t *p, const char *topic, const char *order_id,
                           rd_kafka_headers_t *extra) {
    tk_produce_order_at(p, topic, order_id, time_now_ms(), extra);
}

void tk_produce_order_at(rd_kafka_t *p, const char *topic, const char *order_id,
                         int64_t placed_at_ms, rd_kafka_headers_t *extra) {
    line_item_t item = ORDERFLEET__V1__LINE_ITEM__INIT;
    line_item_t *items[1] = {&item};
    order_placed_t o = ORDERFLEET__V1__ORDER_PLACED__INIT;
    item.sku = "BURGER-CLASSIC";
    item.quantity = 1;
    item.unit_price = 899;
    o.order_id = (char *)order_id;
    o.customer_id = "c-test";
    o.currency = "EUR";
    o.items = items;
    o.n_items = 1;
    o.placed_at_ms = placed_at_ms;
    size_t len;
    void *buf = codec_placed_encode(&o, &len);
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(8);
    ce_add(hdrs, CE_TYPE_ORDER_PLACED, "/orderfleet/testkit/1", order_id, o.placed_at_ms);
    hdr_add_str(hdrs, HDR_TRACEPARENT, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    for (size_t i = 0; extra; i++) {
        const char *name;
        const void *val;
        size_t vlen;
        if (rd_kafka_header_get_all(extra, i, &name, &val, &vlen)) break;
        rd_kafka_header_add(hdrs, name, -1, val, (ssize_t)vlen);
    }
    if (extra) rd_kafka_headers_destroy(extra);
    tk_produce(p, topic, order_id, buf, len, hdrs);
    free(buf);
}

void tk_produce_raw(rd_kafka_t *p, const char *topic, const char *key, const void *value,
                    size_t len) {
    tk_produce(p, topic, key, value, len, NULL);
}

void tk_flush(rd_kafka_t *p) {
    assert_int_equal(rd_kafka_flush(p, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

void tk_produce_reply(rd_kafka_t *p, const char *topic, const char *order_id, const void *value,
                      size_t len, const uint8_t *correlation) {
    char err[256];
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    hdr_add_str(h, HDR_CE_TYPE, CE_TYPE_ORDER_COMPLETED);
    if (correlation && rh_write_correlation(h, correlation, err, sizeof(err)) != RH_OK) {
        rd_kafka_headers_destroy(h);
        fail_msg("correlation header: %s", err);
    }
    tk_produce(p, topic, order_id, value, len, h);
    tk_flush(p);
}

struct tk_reader {
    rd_kafka_t *rk;
};

tk_reader *tk_reader_new(const char *bootstraps, const char *topic) {
    static const char *const props[] = {"enable.auto.commit", "false", "group.id",
                                        "testkit-reader", NULL};
    tk_reader *r = calloc(1, sizeof(*r));
    r->rk = tk_client(RD_KAFKA_CONSUMER, bootstraps, props, NULL);

    rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->rk, topic, NULL);
    const struct rd_kafka_metadata *md;
    assert_int_equal(rd_kafka_metadata(r->rk, 0, rkt, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(md->topic_cnt, 1);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(32);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    assert_true(parts->cnt > 0);
    assert_int_equal(rd_kafka_assign(r->rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return r;
}

rd_kafka_message_t *tk_reader_next(tk_reader *r, int timeout_ms) {
    int64_t deadline = time_mono_ms() + timeout_ms;
    do {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, 100);
        if (!m) continue;
        if (!m->err) return m;
        rd_kafka_message_destroy(m); /* EOF and transient errors */
    } while (time_mono_ms() < deadline);
    return NULL;
}

void tk_reader_destroy(tk_reader *r) {
    if (!r) return;
    rd_kafka_consumer_close(r->rk);
    rd_kafka_destroy(r->rk);
    free(r);
}

/* Open addressing on a power-of-two table; plenty for tests of 10^4 ids. */
typedef struct tk_slot {
    char *id;
    int count;
} tk_slot;

struct tk_tally {
    tk_slot *slots;
    size_t cap, distinct, total;
};

tk_tally *tk_tally_new(void) {
    tk_tally *t = calloc(1, sizeof(*t));
    t->cap = 1 << 16;
    t->slots = calloc(t->cap, sizeof(*t->slots));
    return t;
}

static tk_slot *tk_slot_for(const tk_tally *t, const char *id) {
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = id; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1))
        if (!t->slots[i].id || strcmp(t->slots[i].id, id) == 0) return &t->slots[i];
}

int tk_tally_add(tk_tally *t, const char *id) {
    assert_true(t->distinct < t->cap / 2);
    tk_slot *s = tk_slot_for(t, id);
    if (!s->id) {
        s->id = strdup(id);
        t->distinct++;
    }
    t->total++;
    return ++s->count;
}

int tk_tally_count(const tk_tally *t, const char *id) { return tk_slot_for(t, id)->count; }
size_t tk_tally_distinct(const tk_tally *t) { return t->distinct; }
size_t tk_tally_total(const tk_tally *t) { return t->total; }

void tk_tally_free(tk_tally *t) {
    for (size_t i = 0; i < t->cap; i++) free(t->slots[i].id);
    free(t->slots);
    free(t);
}

size_t tk_collect_outcomes(tk_reader *r, tk_tally *t, size_t distinct, int timeout_ms) {
    int64_t deadline = time_mono_ms() + timeout_ms;
    char err[256];
    while (tk_tally_distinct(t) < distinct && time_mono_ms() < deadline) {
        rd_kafka_message_t *m = tk_reader_next(r, 200);
        if (!m) continue;
        order_completed_t *oc = codec_completed_decode(m->payload, m->len, err, sizeof(err));
        if (!oc) fail_msg("undecodable outcome at offset %lld: %s", (long long)m->offset, err);
        tk_tally_add(t, oc->order_id);
        codec_completed_free(oc);
        rd_kafka_message_destroy(m);
    }
    return tk_tally_distinct(t);
}

const char *tk_log_path(const char *name, char *buf, size_t size) {
    mkdir(ORDERFLEET_TEST_LOG_DIR, 0755);
    snprintf(buf, size, "%s/%s-%d.log", ORDERFLEET_TEST_LOG_DIR, name, (int)getpid());
    unlink(buf);
    return buf;
}

void tk_dump_log(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    static char line[4096];
    char *ring[40] = {0};
    size_t n = 0;
    while (fgets(line, sizeof(line), f)) {
        free(ring[n % 40]);
        ring[n % 40] = strdup(line);
        n++;
    }
    fclose(f);
    fprintf(stderr, "---- last lines of %s ----\n", path);
    for (size_t i = n > 40 ? n - 40 : 0; i < n; i++) {
        fputs(ring[i % 40], stderr);
        free(ring[i % 40]);
        ring[i % 40] = NULL;
    }
}

size_t tk_count_lines(const char *path) {
    char *text = tk_read_file(path);
    size_t n = 0;
    for (char *c = text; c && *c; c++) n += *c == '\n';
    free(text);
    return n;
}

int tk_run(const char *name, const char *prog, const char *const *args, const char *const *env,
           int timeout_ms, tk_result *res) {
    memset(res, 0, sizeof(*res));
    mkdir(ORDERFLEET_TEST_LOG_DIR, 0755);
    snprintf(res->out_path, sizeof(res->out_path), "%s/%s-%d.out", ORDERFLEET_TEST_LOG_DIR, name,
             (int)getpid());
    snprintf(res->err_path, sizeof(res->err_path), "%s/%s-%d.err", ORDERFLEET_TEST_LOG_DIR, name,
             (int)getpid());
    unlink(res->err_path); /* stderr is opened for appending */
    pid_t pid = spawn(prog, args, env, 1, res->err_path, res->out_path);
    res->status = tk_wait(pid, timeout_ms);
    if (res->status == -1) {
        kill(pid, SIGKILL);
        tk_wait(pid, 5000);
    }
    res->out = tk_read_file(res->out_path);
    res->err = tk_read_file(res->err_path);
    if (!res->out) res->out = strdup("");
    if (!res->err) res->err = strdup("");
    assert_true(res->out && res->err);
    return res->status;
}

void tk_result_free(tk_result *res) {
    free(res->out);
    free(res->err);
    res->out = res->err = NULL;
}

char *tk_read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - 1 - len, f);
        if (len < cap - 1) break;
        char *grown = realloc(buf, cap * 2);
        if (!grown) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = grown;
        cap *= 2;
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf || failed) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

const char *tk_write_file(const char *name, const char *content, char *buf, size_t size) {
    mkdir(ORDERFLEET_TEST_LOG_DIR, 0755);
    snprintf(buf, size, "%s/%d-%s", ORDERFLEET_TEST_LOG_DIR, (int)getpid(), name);
    FILE *f = fopen(buf, "w");
    if (!f) fail_msg("cannot create %s: %s", buf, strerror(errno));
    size_t len = strlen(content);
    int ok = fwrite(content, 1, len, f) == len;
    if (fclose(f) != 0) ok = 0;
    if (!ok) fail_msg("cannot write %s", buf);
    return buf;
}

char *tk_wait_first_line(const char *path, int timeout_ms) {
    int64_t deadline = time_mono_ms() + timeout_ms;
    for (;;) {
        char *text = tk_read_file(path);
        char *nl = text ? strchr(text, '\n') : NULL;
        if (nl) {
            *nl = '\0';
            return text;
        }
        free(text);
        if (time_mono_ms() >= deadline) return NULL;
        struct timespec ts = {0, 10 * 1000000L}; /* polling a file */
        nanosleep(&ts, NULL);
    }
}

/* Committed offsets of group on every partition of topic, against the
 * partitions' ends: the group has caught up when they are equal everywhere. */
int tk_wait_group_caught_up(const char *bootstraps, const char *group, const char *topic,
                            int timeout_ms) {
    const char *props[] = {"group.id", group, NULL};
    rd_kafka_t *rk = tk_client(RD_KAFKA_CONSUMER, bootstraps, props, NULL);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md;
    assert_int_equal(rd_kafka_metadata(rk, 0, rkt, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    int nparts = md->topics[0].partition_cnt, caught_up = 0;
    int64_t deadline = time_mono_ms() + timeout_ms;
    while (!caught_up && time_mono_ms() < deadline) {
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(nparts);
        for (int i = 0; i < nparts; i++) rd_kafka_topic_partition_list_add(list, topic, i);
        caught_up = rd_kafka_committed(rk, list, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR;
        for (int i = 0; caught_up && i < nparts; i++) {
            int64_t lo, hi;
            if (rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, 5000)) caught_up = 0;
            else if (hi > 0 && list->elems[i].offset != hi) caught_up = 0;
        }
        rd_kafka_topic_partition_list_destroy(list);
        if (!caught_up) {
            struct timespec ts = {0, 100 * 1000000L}; /* polling a condition */
            nanosleep(&ts, NULL);
        }
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return caught_up ? 0 : -1;
}

/* Waits until the log at path contains needle. */
int tk_wait_log(const char *path, const char *needle, int timeout_ms) {
    int64_t deadline = time_mono_ms() + timeout_ms;
    for (;;) {
        char *text = tk_read_file(path);
        int found = text && strstr(text, needle);
        free(text);
        if (found) return 0;
        if (time_mono_ms() >= deadline) return -1;
        struct timespec ts = {0, 20 * 1000000L}; /* polling a file */
        nanosleep(&ts, NULL);
    }
}

void tk_pause_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L}; /* polling a condition */
    nanosleep(&ts, NULL);
}

/* ---- real Kafka --------------------------------------------------------- */

const char *tk_e2e_bootstraps(void) {
    static char buf[1024]; /* read once per test process */
    if (buf[0]) return buf;
    const char *dir = getenv("ORDERFLEET_E2E_KAFKA_DIR");
    if (!dir) fail_msg("ORDERFLEET_E2E_KAFKA_DIR is not set: run e2e tests through ctest");
    char path[1024];
    snprintf(path, sizeof(path), "%s/bootstrap", dir);
    char *text = tk_read_file(path);
    if (!text) fail_msg("no running Kafka: %s is missing", path);
    snprintf(buf, sizeof(buf), "%s", text);
    buf[strcspn(buf, "\n")] = '\0';
    free(text);
    return buf;
}

void tk_topics_create(const char *bootstraps, const char *prefix, int replication,
                      tk_topics *t) {
    char err[512];
    snprintf(t->orders, sizeof(t->orders), "%s.orders", prefix);
    snprintf(t->completed, sizeof(t->completed), "%s.orders.completed", prefix);
    snprintf(t->replies, sizeof(t->replies), "%s.orders.replies", prefix);
    snprintf(t->retry, sizeof(t->retry), "%s.orders.retry", prefix);
    snprintf(t->dlq, sizeof(t->dlq), "%s.orders.dlq", prefix);
    snprintf(t->group, sizeof(t->group), "%s.workers", prefix);
    const char *names[] = {t->orders, t->completed, t->replies, t->retry, t->dlq};
    const int parts[] = {12, 12, 12, 12, 3};

    rd_kafka_t *rk = tk_client(RD_KAFKA_PRODUCER, bootstraps, NULL, NULL);
    rd_kafka_NewTopic_t *nt[5];
    for (int i = 0; i < 5; i++) {
        nt[i] = rd_kafka_NewTopic_new(names[i], parts[i], replication, err, sizeof(err));
        if (!nt[i]) fail_msg("topic %s: %s", names[i], err);
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, nt, 5, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    if (!ev) fail_msg("CreateTopics: no answer within 60 s");
    if (rd_kafka_event_error(ev)) fail_msg("CreateTopics: %s", rd_kafka_event_error_string(ev));
    size_t n;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    for (size_t i = 0; i < n; i++)
        if (rd_kafka_topic_result_error(res[i]) &&
            rd_kafka_topic_result_error(res[i]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            fail_msg("creating %s: %s", rd_kafka_topic_result_name(res[i]),
                     rd_kafka_topic_result_error_string(res[i]));
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    for (int i = 0; i < 5; i++) rd_kafka_NewTopic_destroy(nt[i]);
    /* Creation is asynchronous in the cluster: wait until metadata shows it. */
    for (int i = 0; i < 5; i++) {
        char why[256];
        int64_t deadline = time_mono_ms() + 30000;
        while (kafka_wait_metadata(rk, names[i], 5000, why, sizeof(why)) != KAFKA_OK)
            if (time_mono_ms() > deadline) fail_msg("topic %s never appeared: %s", names[i], why);
    }
    rd_kafka_destroy(rk);

    snprintf(t->env[0], sizeof(t->env[0]), "ORDERFLEET_TOPICS_ORDERS=%s", t->orders);
    snprintf(t->env[1], sizeof(t->env[1]), "ORDERFLEET_TOPICS_COMPLETED=%s", t->completed);
    snprintf(t->env[2], sizeof(t->env[2]), "ORDERFLEET_TOPICS_REPLIES=%s", t->replies);
    snprintf(t->env[3], sizeof(t->env[3]), "ORDERFLEET_TOPICS_RETRY=%s", t->retry);
    snprintf(t->env[4], sizeof(t->env[4]), "ORDERFLEET_TOPICS_DLQ=%s", t->dlq);
    snprintf(t->env[5], sizeof(t->env[5]), "ORDERFLEET_WORKER_GROUP=%s", t->group);
    for (int i = 0; i < 6; i++) t->envp[i] = t->env[i];
    t->envp[6] = NULL;
}

const char *tk_which(const char *prog, char *buf, size_t size) {
    const char *path = getenv("PATH");
    if (!path) path = "/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(buf, size, "%.*s/%s", (int)n, path, prog);
        if (access(buf, X_OK) == 0) return buf;
        path += n + (path[n] == ':');
    }
    fail_msg("%s is not installed (deploy/packages-e2e.txt)", prog);
    return NULL;
}
