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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/headers.h"
#include "common/order_codec.h"
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

pid_t tk_spawn(const char *prog, const char *const *args, const char *log_path,
               const char *stdout_path) {
    const char *argv[64];
    char path[1024];
    size_t n = 0;
    snprintf(path, sizeof(path), "%s/%s", ORDERFLEET_BIN_DIR, prog);
    argv[n++] = path;
    for (; args && *args && n < 63; args++) argv[n++] = *args;
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (log_path) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) dup2(fd, STDERR_FILENO);
        }
        if (stdout_path) {
            int fd = open(stdout_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) dup2(fd, STDOUT_FILENO);
        }
        execv(path, (char *const *)argv);
        perror(path);
        _exit(127);
    }
    return pid;
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

rd_kafka_t *tk_producer(const char *bootstraps) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "partitioner", "murmur2_random", err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    rd_kafka_conf_set_dr_msg_cb(conf, tk_dr);
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!p) fail_msg("producer: %s", err);
    return p;
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
    o.placed_at_ms = time_now_ms();
    size_t len;
    void *buf = codec_placed_encode(&o, &len);
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(8);
    ce_add(hdrs, CE_TYPE_ORDER_PLACED, "/orderfleet/testkit/1", order_id, o.placed_at_ms);
    hdr_add_str(hdrs, HDR_TRACEPARENT, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
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

struct tk_reader {
    rd_kafka_t *rk;
};

tk_reader *tk_reader_new(const char *bootstraps, const char *topic) {
    char err[512];
    tk_reader *r = calloc(1, sizeof(*r));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "group.id", "testkit-reader", err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!r->rk) fail_msg("consumer: %s", err);

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
