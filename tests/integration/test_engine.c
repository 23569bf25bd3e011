/* Integration: the worker engine (consumer/engine.c) on the mock cluster,
 * with the real order-worker program: handler calls on a pool of threads,
 * per-key order, retries through the retry topic, the bound on buffered
 * work, and SIGTERM with a full buffer. Each test has its own cluster. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/headers.h"
#include "common/order_codec.h"
#include "common/timeutil.h"
#include "testkit.h"

#define FULFILLED ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED
#define FAILED ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FAILED

/* ---- helpers ------------------------------------------------------------ */

/* Places a valid one-line order (BURGER-CLASSIC, 8.99 EUR) keyed by its id,
 * with the given placed_at_ms, so that an outcome can be traced back to the
 * record it came from. */
static void produce_placed(rd_kafka_t *p, const char *topic, const char *order_id,
                           int64_t placed_at_ms) {
    tk_produce_order_at(p, topic, order_id, placed_at_ms, NULL);
}

/* The i of an id "<prefix>-<i>" with i below n, or -1 when the id is none
 * of those. */
static int id_index(const char *id, size_t idlen, const char *prefix, int n) {
    size_t plen = strlen(prefix);
    if (idlen <= plen + 1 || strncmp(id, prefix, plen) != 0 || id[plen] != '-') return -1;
    int i = 0;
    for (size_t k = plen + 1; k < idlen; k++) {
        if (id[k] < '0' || id[k] > '9' || i > 1000000) return -1;
        i = i * 10 + (id[k] - '0');
    }
    return i < n ? i : -1;
}

/* The next outcome on r within timeout_ms, decoded (free with
 * codec_completed_free()), or NULL at the deadline; *partition gets the
 * partition it was on. An undecodable record fails the test. */
static order_completed_t *next_outcome(tk_reader *r, int timeout_ms, int32_t *partition) {
    char err[256];
    rd_kafka_message_t *m = tk_reader_next(r, timeout_ms);
    if (!m) return NULL;
    order_completed_t *oc = codec_completed_decode(m->payload, m->len, err, sizeof(err));
    if (!oc) fail_msg("undecodable outcome at offset %lld: %s", (long long)m->offset, err);
    if (partition) *partition = m->partition;
    rd_kafka_message_destroy(m);
    return oc;
}

/* What the completed topic holds for one order. */
typedef struct outcome {
    int count;
    int status;
    unsigned attempts;
    int64_t placed_at_ms, completed_at_ms;
    char reason[160];
} outcome;

/* Notes oc (and frees it) in out, indexed as id_index(prefix, n); an
 * outcome for an order the test did not place fails the test. Returns 1
 * when it is the order's first outcome. */
static int note_outcome(order_completed_t *oc, const char *prefix, outcome *out, int n) {
    int i = id_index(oc->order_id, strlen(oc->order_id), prefix, n);
    if (i < 0) fail_msg("an outcome for an order never placed: \"%s\"", oc->order_id);
    out[i].status = oc->status;
    out[i].attempts = oc->attempts;
    out[i].placed_at_ms = oc->placed_at_ms;
    out[i].completed_at_ms = oc->completed_at_ms;
    snprintf(out[i].reason, sizeof(out[i].reason), "%s", oc->reason);
    codec_completed_free(oc);
    return out[i].count++ == 0;
}

/* Reads outcomes from r into out until `want` of the n orders have one, or
 * timeout_ms passes. Returns how many have one. */
static int collect(tk_reader *r, const char *prefix, outcome *out, int n, int want,
                   int timeout_ms) {
    int64_t deadline = time_mono_ms() + timeout_ms;
    int have = 0;
    for (int i = 0; i < n; i++) have += out[i].count > 0;
    while (have < want && time_mono_ms() < deadline) {
        order_completed_t *oc = next_outcome(r, 200, NULL);
        if (oc) have += note_outcome(oc, prefix, out, n);
    }
    return have;
}

/* Reads into out whatever outcomes still come, until none has for quiet_ms
 * (after the workers stopped: duplicates on their way). Returns how many. */
static int read_rest(tk_reader *r, const char *prefix, outcome *out, int n, int quiet_ms) {
    int got = 0;
    for (order_completed_t *oc; (oc = next_outcome(r, quiet_ms, NULL)); got++)
        note_outcome(oc, prefix, out, n);
    return got;
}

/* A header of m as text into buf, or NULL when absent. */
static const char *header_str(const rd_kafka_message_t *m, const char *name, char *buf,
                              size_t size) {
    rd_kafka_headers_t *h;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR) return NULL;
    return hdr_get_str(h, name, buf, size) == 0 ? buf : NULL;
}

/* A header of m as an ASCII decimal number: 0, or -1 when absent or not a
 * number. */
static int header_i64(const rd_kafka_message_t *m, const char *name, int64_t *value) {
    rd_kafka_headers_t *h;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR) return -1;
    return hdr_get_i64(h, name, value);
}

/* ---- 1. concurrency ----------------------------------------------------- */

/* The barrier handler (tests/fixtures/handler_barrier.c) lets calls through
 * only 8 at a time, all inside it together; a call that waits 10 s for the
 * other 7 answers REJECTED "barrier timed out". With --concurrency 8 and 32
 * different keys, every order is FULFILLED: the worker really has 8 handler
 * calls running at once. */
static void test_handler_calls_run_concurrently(void **state) {
    (void)state;
    enum { N = 32 };
    char log[512];
    int count[N] = {0}, distinct = 0;
    tk_cluster *c = tk_cluster_start(1);
    tk_place_orders(tk_bootstraps(c), c->cfg.topic_orders, "barrier", N);

    tk_log_path("engine-barrier", log, sizeof(log));
    const char *const env[] = {"ORDERFLEET_HANDLER_LIBRARY=" BARRIER_SO, NULL};
    const char *args[] = {"-b", tk_bootstraps(c), "--concurrency", "8", NULL};
    pid_t w = tk_spawn_env("order-worker", args, env, log, NULL);
    if (tk_wait_log(log, "msg=\"handler loaded\" name=barrier", 30000) != 0) {
        tk_dump_log(log);
        fail_msg("the worker did not load the barrier handler");
    }

    tk_reader *r = tk_reader_new(tk_bootstraps(c), c->cfg.topic_completed);
    int64_t deadline = time_mono_ms() + 60000;
    while (distinct < N && time_mono_ms() < deadline) {
        order_completed_t *oc = next_outcome(r, 200, NULL);
        if (!oc) continue;
        int i = id_index(oc->order_id, strlen(oc->order_id), "barrier", N);
        if (i < 0) fail_msg("an outcome for an order never placed: \"%s\"", oc->order_id);
        if (oc->status != FULFILLED) {
            tk_dump_log(log);
            fail_msg("%s: %s \"%s\": fewer than 8 handler calls ran at once", oc->order_id,
                     codec_status_short_name(oc->status), oc->reason);
        }
        assert_int_equal(oc->subtotal, 899); /* the fixture's pricing: no tax, no shipping */
        assert_int_equal(oc->total, 899);
        assert_int_equal(oc->attempts, 1);
        if (count[i]++ == 0) distinct++;
        codec_completed_free(oc);
    }
    if (distinct != N) tk_dump_log(log);
    assert_int_equal(distinct, N);
    assert_int_equal(tk_stop(w, SIGTERM, 30000), 0);
    for (order_completed_t *oc; (oc = next_outcome(r, 1000, NULL));) { /* nothing more */
        int i = id_index(oc->order_id, strlen(oc->order_id), "barrier", N);
        assert_true(i >= 0);
        count[i]++;
        codec_completed_free(oc);
    }
    for (int i = 0; i < N; i++)
        if (count[i] != 1) fail_msg("barrier-%04d: %d outcomes", i, count[i]);

    tk_reader_destroy(r);
    tk_cluster_stop(c);
}

/* ---- 2. per-key order --------------------------------------------------- */

/* 8 keys, 25 records each of the same order id, interleaved across keys,
 * with placed_at_ms 1..25 in the order they are produced. 32 threads and
 * 5 ms per call would finish records of one key out of order if they ran
 * them together: each key must get exactly its 25 outcomes, in its
 * partition in the order the records were placed. */
static void test_records_of_one_key_in_order(void **state) {
    (void)state;
    enum { KEYS = 8, PER_KEY = 25, CAP = 64 };
    char log[512], id[64];
    int64_t placed[KEYS][CAP];
    int count[KEYS] = {0}, total = 0;
    int32_t partition[KEYS];
    tk_cluster *c = tk_cluster_start(1);
    rd_kafka_t *p = tk_producer(tk_bootstraps(c));
    for (int seq = 1; seq <= PER_KEY; seq++)
        for (int k = 0; k < KEYS; k++) {
            snprintf(id, sizeof(id), "key-%d", k);
            produce_placed(p, c->cfg.topic_orders, id, seq);
        }
    tk_flush(p);

    tk_log_path("engine-keyorder", log, sizeof(log));
    const char *args[] = {"-b", tk_bootstraps(c), "--latency-ms", "5", "--concurrency", "32",
                          NULL};
    pid_t w = tk_spawn("order-worker", args, log, NULL);
    tk_reader *r = tk_reader_new(tk_bootstraps(c), c->cfg.topic_completed);
    int64_t deadline = time_mono_ms() + 60000;
    int stopped = 0;
    for (;;) {
        if (!stopped && total >= KEYS * PER_KEY) {
            /* all there: stop the worker, then read on for 1 s for extras */
            assert_int_equal(tk_stop(w, SIGTERM, 30000), 0);
            stopped = 1;
            deadline = time_mono_ms() + 1000;
        }
        if (time_mono_ms() >= deadline) break;
        int32_t part;
        order_completed_t *oc = next_outcome(r, 200, &part);
        if (!oc) continue;
        int k = id_index(oc->order_id, strlen(oc->order_id), "key", KEYS);
        if (k < 0) fail_msg("an outcome for an order never placed: \"%s\"", oc->order_id);
        assert_int_equal(oc->status, FULFILLED);
        if (count[k] == 0) partition[k] = part;
        assert_int_equal(part, partition[k]); /* one key, one partition */
        if (count[k] < CAP) placed[k][count[k]] = oc->placed_at_ms;
        count[k]++;
        total++;
        codec_completed_free(oc);
    }
    if (!stopped) {
        tk_dump_log(log);
        fail_msg("only %d of %d outcomes within 60 s", total, KEYS * PER_KEY);
    }

    for (int k = 0; k < KEYS; k++) {
        if (count[k] != PER_KEY) fail_msg("key-%d: %d outcomes, expected %d", k, count[k], PER_KEY);
        for (int n = 1; n < PER_KEY; n++)
            if (placed[k][n] <= placed[k][n - 1]) {
                fprintf(stderr, "key-%d: placed_at_ms in partition order:", k);
                for (int m = 0; m < PER_KEY; m++) fprintf(stderr, " %lld", (long long)placed[k][m]);
                fprintf(stderr, "\n");
                fail_msg("key-%d: outcome %d (placed_at_ms %lld) came after %lld: records of one "
                         "key were handled out of order", k, n, (long long)placed[k][n],
                         (long long)placed[k][n - 1]);
            }
    }

    tk_reader_destroy(r);
    rd_kafka_destroy(p);
    tk_cluster_stop(c);
}

/* ---- 3. retries through the retry topic -------------------------------- */

/* The shortest backoff after attempt `attempt` failed: half its ceiling
 * (consumer/backoff.h). */
static int64_t min_backoff_ms(int64_t base_ms, int64_t cap_ms, int attempt) {
    int64_t ceiling = base_ms;
    for (int i = 1; i < attempt && ceiling < cap_ms; i++) ceiling *= 2;
    return (ceiling > cap_ms ? cap_ms : ceiling) / 2;
}

/* Half the attempts fail transiently, 4 attempts at most, backoff 200..400
 * ms. 300 orders: P(none fails 4 times) = (15/16)^300 < 1e-8.
 *
 * Every order gets exactly one outcome, after 1..4 attempts, carrying the
 * placed_at_ms of its OrderPlaced; FAILED ones after exactly 4, each with
 * one DLQ record (class exhausted, attempt 4). The retry topic holds, for
 * an order answered after k attempts, one record for each attempt 2..k,
 * with the transient class, where the order came from, and a not_before
 * that was honoured: attempt j+1 is due at least the shortest backoff
 * after attempt j was due (attempt j did not start before it was due), and
 * the outcome came no earlier than the last attempt was due. */
static void test_retries_through_the_retry_topic(void **state) {
    (void)state;
    enum { N = 300, ATTEMPTS = 4, BASE_MS = 200, CAP_MS = 400 };
    const int64_t placed0 = 1700000000000LL;
    static outcome out[N];
    static int64_t not_before[N][ATTEMPTS + 1]; /* [order][attempt]; 0: no retry record */
    static int retries_of[N][ATTEMPTS + 1];
    static int dlq_of[N];
    char log[512], id[64], buf[256];
    memset(out, 0, sizeof(out));
    memset(not_before, 0, sizeof(not_before));
    memset(retries_of, 0, sizeof(retries_of));
    memset(dlq_of, 0, sizeof(dlq_of));

    tk_cluster *c = tk_cluster_start(1);
    rd_kafka_t *p = tk_producer(tk_bootstraps(c));
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "retry-%03d", i);
        produce_placed(p, c->cfg.topic_orders, id, placed0 + i);
    }
    tk_flush(p);

    tk_log_path("engine-retry", log, sizeof(log));
    const char *const env[] = {"ORDERFLEET_RETRY_BASE_MS=200", "ORDERFLEET_RETRY_CAP_MS=400",
                               NULL};
    /* A retry record reaches the worker within ~10 ms, not after the default
     * fetch wait of 500 ms (longer than any backoff here, which would hold
     * it for the worker): so an early start is seen. */
    const char *args[] = {"-b", tk_bootstraps(c), "--failure-rate", "0.5", "--max-attempts", "4",
                          "-X", "fetch.wait.max.ms=10", NULL};
    pid_t w = tk_spawn_env("order-worker", args, env, log, NULL);
    tk_reader *r = tk_reader_new(tk_bootstraps(c), c->cfg.topic_completed);
    int have = collect(r, "retry", out, N, N, 90000);
    if (have != N) tk_dump_log(log);
    assert_int_equal(have, N);
    assert_int_equal(tk_stop(w, SIGTERM, 30000), 0);
    read_rest(r, "retry", out, N, 1000); /* and nothing more (checked below) */

    int failed = 0, retried = 0, expected_retries = 0;
    for (int i = 0; i < N; i++) {
        if (out[i].count != 1) fail_msg("retry-%03d: %d outcomes", i, out[i].count);
        if (out[i].attempts < 1 || out[i].attempts > ATTEMPTS)
            fail_msg("retry-%03d: attempts %u", i, out[i].attempts);
        assert_int_equal(out[i].placed_at_ms, placed0 + i);
        if (out[i].status == FAILED) {
            failed++;
            if (out[i].attempts != ATTEMPTS)
                fail_msg("retry-%03d: FAILED after %u attempts, expected %d", i, out[i].attempts,
                         ATTEMPTS);
        } else if (out[i].status != FULFILLED) {
            fail_msg("retry-%03d: %s \"%s\"", i, codec_status_short_name(out[i].status),
                     out[i].reason);
        }
        retried += out[i].attempts > 1;
        expected_retries += (int)out[i].attempts - 1;
    }
    fprintf(stderr, "retries: %d orders, %d retried, %d retry records, %d FAILED\n", N, retried,
            expected_retries, failed);
    assert_true(failed > 0);

    /* The dead letters: one per FAILED order, and no other. */
    tk_reader *dlq = tk_reader_new(tk_bootstraps(c), c->cfg.topic_dlq);
    for (int seen = 0; seen < failed + 1;) {
        rd_kafka_message_t *m = tk_reader_next(dlq, seen < failed ? 20000 : 1000);
        if (!m && seen < failed) fail_msg("only %d of %d dead letters", seen, failed);
        if (!m) break;
        int i = id_index((const char *)m->key, m->key_len, "retry", N);
        if (i < 0) fail_msg("a dead letter with key \"%.*s\"", (int)m->key_len, (char *)m->key);
        if (out[i].status != FAILED) fail_msg("retry-%03d: dead-lettered but not FAILED", i);
        if (dlq_of[i]++) fail_msg("retry-%03d: dead-lettered twice", i);
        assert_non_null(header_str(m, HDR_ERROR_CLASS, buf, sizeof(buf)));
        assert_string_equal(buf, "exhausted");
        int64_t attempt;
        assert_int_equal(header_i64(m, HDR_ATTEMPT, &attempt), 0);
        assert_int_equal(attempt, ATTEMPTS);
        assert_non_null(header_str(m, HDR_ORIGINAL_TOPIC, buf, sizeof(buf)));
        assert_string_equal(buf, c->cfg.topic_orders);
        rd_kafka_message_destroy(m);
        seen++;
    }

    /* The retry records: for an order done after k attempts, one for each
     * attempt 2..k, and no other. */
    tk_reader *retry = tk_reader_new(tk_bootstraps(c), c->cfg.topic_retry);
    for (int seen = 0; seen < expected_retries + 1;) {
        int more = seen < expected_retries;
        rd_kafka_message_t *m = tk_reader_next(retry, more ? 20000 : 1000);
        if (!m && more) fail_msg("only %d of %d retry records", seen, expected_retries);
        if (!m) break;
        int i = id_index((const char *)m->key, m->key_len, "retry", N);
        if (i < 0) fail_msg("a retry record with key \"%.*s\"", (int)m->key_len, (char *)m->key);
        int64_t attempt, due, v;
        assert_int_equal(header_i64(m, HDR_ATTEMPT, &attempt), 0);
        if (attempt < 2 || attempt > ATTEMPTS)
            fail_msg("retry-%03d: a retry record for attempt %lld", i, (long long)attempt);
        if (attempt > (int64_t)out[i].attempts)
            fail_msg("retry-%03d: a retry record for attempt %lld, but done after %u", i,
                     (long long)attempt, out[i].attempts);
        if (retries_of[i][attempt]++)
            fail_msg("retry-%03d: two retry records for attempt %lld", i, (long long)attempt);
        assert_int_equal(header_i64(m, HDR_NOT_BEFORE, &due), 0);
        not_before[i][attempt] = due;
        assert_non_null(header_str(m, HDR_ERROR_CLASS, buf, sizeof(buf)));
        assert_string_equal(buf, "transient");
        assert_non_null(header_str(m, HDR_ERROR, buf, sizeof(buf)));
        assert_non_null(header_str(m, HDR_ORIGINAL_TOPIC, buf, sizeof(buf)));
        assert_string_equal(buf, c->cfg.topic_orders);
        assert_int_equal(header_i64(m, HDR_ORIGINAL_PARTITION, &v), 0);
        assert_int_equal(header_i64(m, HDR_ORIGINAL_OFFSET, &v), 0);
        rd_kafka_message_destroy(m);
        seen++;
    }

    /* The holds were honoured. */
    for (int i = 0; i < N; i++) {
        int k = (int)out[i].attempts;
        for (int a = 3; a <= k; a++)
            if (not_before[i][a] - not_before[i][a - 1] < min_backoff_ms(BASE_MS, CAP_MS, a - 1))
                fail_msg("retry-%03d: attempt %d due at %lld, only %lld ms after attempt %d was "
                         "due: attempt %d ran before it was due", i, a, (long long)not_before[i][a],
                         (long long)(not_before[i][a] - not_before[i][a - 1]), a - 1, a - 1);
        if (k >= 2 && out[i].completed_at_ms < not_before[i][k])
            fail_msg("retry-%03d: completed at %lld, before attempt %d was due at %lld", i,
                     (long long)out[i].completed_at_ms, k, (long long)not_before[i][k]);
    }

    tk_reader_destroy(retry);
    tk_reader_destroy(dlq);
    tk_reader_destroy(r);
    rd_kafka_destroy(p);
    tk_cluster_stop(c);
}

/* ---- 4. the buffer bound ------------------------------------------------- */

/* At most 4 orders consumed and not done, 2 threads, 20 ms each: the
 * worker pauses its partitions when the buffer is full and resumes them
 * when it has room, and loses or repeats nothing doing so. */
static void test_full_buffer_pauses_and_resumes(void **state) {
    (void)state;
    enum { N = 300 };
    static outcome out[N];
    char log[512];
    memset(out, 0, sizeof(out));
    tk_cluster *c = tk_cluster_start(1);
    tk_place_orders(tk_bootstraps(c), c->cfg.topic_orders, "buf", N);

    tk_log_path("engine-buffer", log, sizeof(log));
    const char *args[] = {"-b", tk_bootstraps(c), "-v", "--concurrency", "2", "--max-buffered",
                          "4", "--latency-ms", "20", NULL};
    pid_t w = tk_spawn("order-worker", args, log, NULL);
    tk_reader *r = tk_reader_new(tk_bootstraps(c), c->cfg.topic_completed);
    int have = collect(r, "buf", out, N, N, 60000);
    if (have != N) tk_dump_log(log);
    assert_int_equal(have, N);
    if (tk_wait_log(log, "msg=\"buffer full; partitions paused\"", 5000) != 0 ||
        tk_wait_log(log, "msg=\"buffer has room; partitions resumed\"", 5000) != 0) {
        tk_dump_log(log);
        fail_msg("the worker never paused and resumed its partitions");
    }
    assert_int_equal(tk_stop(w, SIGTERM, 30000), 0);
    read_rest(r, "buf", out, N, 1000);
    for (int i = 0; i < N; i++) {
        if (out[i].count != 1) fail_msg("buf-%04d: %d outcomes", i, out[i].count);
        assert_int_equal(out[i].status, FULFILLED);
    }

    tk_reader_destroy(r);
    tk_cluster_stop(c);
}

/* The jobs= of every "buffer full" line in the log at path: how many
 * orders were buffered when the worker paused. Returns the largest (0 when
 * there is no such line); *lines gets how many there are. */
static size_t buffered_at_pause(const char *path, int *lines) {
    char *text = tk_read_file(path);
    size_t most = 0;
    *lines = 0;
    assert_non_null(text);
    for (const char *at = text; (at = strstr(at, "msg=\"buffer full; partitions paused\""));) {
        const char *eol = strchr(at, '\n'), *jobs = strstr(at, " jobs=");
        if (!jobs || (eol && jobs > eol)) fail_msg("a buffer-full line without jobs=");
        size_t n = strtoul(jobs + 6, NULL, 10);
        if (n > most) most = n;
        (*lines)++;
        at = jobs;
    }
    free(text);
    return most;
}

/* The bound itself: with at most 4 orders buffered, the worker never holds
 * more than 4 consumed and not done, so it pauses with 4 (and, 100 orders
 * going through 4 at a time, pauses many times). */
static void test_buffer_bound_is_kept(void **state) {
    (void)state;
    enum { N = 100, MAX_BUFFERED = 4 };
    static outcome out[N];
    char log[512];
    int pauses;
    memset(out, 0, sizeof(out));
    tk_cluster *c = tk_cluster_start(1);
    tk_place_orders(tk_bootstraps(c), c->cfg.topic_orders, "bound", N);

    tk_log_path("engine-bound", log, sizeof(log));
    const char *args[] = {"-b", tk_bootstraps(c), "-v", "--concurrency", "2", "--max-buffered",
                          "4", "--latency-ms", "20", NULL};
    pid_t w = tk_spawn("order-worker", args, log, NULL);
    tk_reader *r = tk_reader_new(tk_bootstraps(c), c->cfg.topic_completed);
    int have = collect(r, "bound", out, N, N, 60000);
    if (have != N) tk_dump_log(log);
    assert_int_equal(have, N);
    assert_int_equal(tk_stop(w, SIGTERM, 30000), 0);
    size_t most = buffered_at_pause(log, &pauses);
    fprintf(stderr, "bound: paused %d times, with at most %zu orders buffered (bound %d)\n",
            pauses, most, MAX_BUFFERED);
    if (most > MAX_BUFFERED)
        fail_msg("the worker had %zu orders buffered with worker.max_buffered %d", most,
                 MAX_BUFFERED);
    assert_true(pauses >= 2);

    tk_reader_destroy(r);
    tk_cluster_stop(c);
}

/* ---- 5. SIGTERM with a full buffer -------------------------------------- */

/* 500 orders, 2 threads, 200 ms each, at most 50 buffered: SIGTERM while
 * the buffer is full. The worker finishes what runs, gives up what waits
 * (uncommitted) and exits 0 within its drain timeout; a second worker of
 * the same group then does the rest. Every order gets an outcome; the
 * duplicates, which at-least-once allows, are counted and shown. */
static void test_sigterm_with_full_buffer(void **state) {
    (void)state;
    enum { N = 500, DRAIN_MS = 10000 };
    static outcome out[N];
    char log1[512], log2[512];
    memset(out, 0, sizeof(out));
    tk_cluster *c = tk_cluster_start(1);
    tk_place_orders(tk_bootstraps(c), c->cfg.topic_orders, "term", N);

    tk_log_path("engine-term-w1", log1, sizeof(log1));
    const char *args1[] = {"-b", tk_bootstraps(c), "-v", "--concurrency", "2", "--max-buffered",
                           "50", "--latency-ms", "200", "--drain-timeout-ms", "10000", NULL};
    pid_t w = tk_spawn("order-worker", args1, log1, NULL);
    tk_reader *r = tk_reader_new(tk_bootstraps(c), c->cfg.topic_completed);
    if (tk_wait_log(log1, "msg=\"buffer full; partitions paused\"", 30000) != 0) {
        tk_dump_log(log1);
        fail_msg("the buffer never filled");
    }
    int before = collect(r, "term", out, N, 10, 30000);
    if (before < 10) tk_dump_log(log1);
    assert_true(before >= 10);

    int64_t t0 = time_mono_ms();
    int rc = tk_stop(w, SIGTERM, DRAIN_MS + 5000);
    int64_t took = time_mono_ms() - t0;
    fprintf(stderr, "sigterm: the first worker exited %d after %lld ms\n", rc, (long long)took);
    if (rc != 0) tk_dump_log(log1);
    assert_int_equal(rc, 0);
    assert_true(took < DRAIN_MS);
    read_rest(r, "term", out, N, 1000);
    int at_stop = 0;
    for (int i = 0; i < N; i++) at_stop += out[i].count > 0;
    fprintf(stderr, "sigterm: %d of %d orders had an outcome when the first worker stopped\n",
            at_stop, N);
    assert_true(at_stop < N); /* it really was stopped with work left */

    tk_log_path("engine-term-w2", log2, sizeof(log2));
    const char *args2[] = {"-b", tk_bootstraps(c), "--concurrency", "64", NULL};
    w = tk_spawn("order-worker", args2, log2, NULL);
    int have = collect(r, "term", out, N, N, 60000);
    if (have != N) tk_dump_log(log2);
    assert_int_equal(have, N);
    assert_int_equal(tk_stop(w, SIGTERM, 30000), 0);
    read_rest(r, "term", out, N, 1000); /* duplicates still on their way */

    int dups = 0;
    for (int i = 0; i < N; i++) {
        assert_true(out[i].count >= 1);
        if (out[i].count > 1) {
            fprintf(stderr, "sigterm: term-%04d has %d outcomes\n", i, out[i].count);
            dups += out[i].count - 1;
        }
    }
    fprintf(stderr, "sigterm: %d duplicate outcomes of %d orders\n", dups, N);

    tk_reader_destroy(r);
    tk_cluster_stop(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handler_calls_run_concurrently),
        cmocka_unit_test(test_records_of_one_key_in_order),
        cmocka_unit_test(test_retries_through_the_retry_topic),
        cmocka_unit_test(test_full_buffer_pauses_and_resumes),
        cmocka_unit_test(test_buffer_bound_is_kept),
        cmocka_unit_test(test_sigterm_with_full_buffer),
    };
    /* TEST_FILTER=<pattern> runs the matching tests only (cmocka: * and ?). */
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
