/* e2e: the fleet against real Apache Kafka (the ctest fixture's broker),
 * with independent clients on the other side: kcat reads what the fleet
 * writes and writes what it reads. Each test has its own topics and group. */
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

#include "common/order_codec.h"
#include "common/timeutil.h"
#include "testkit.h"

static pid_t start_worker(const char *bootstraps, const tk_topics *t, const char *name,
                          char *log, size_t logsize) {
    const char *args[] = {"-b", bootstraps, NULL};
    return tk_spawn_env("order-worker", args, t->envp, tk_log_path(name, log, logsize), NULL);
}

/* Every key kcat reads from topic (one run to the end of every partition),
 * tallied; the headers of the first record go to first_headers. */
static void kcat_tally(const char *bootstraps, const char *topic, tk_tally *t,
                       char *first_headers, size_t size) {
    char kcat[512];
    const char *args[] = {"-C", "-b", bootstraps, "-t", topic, "-o", "beginning", "-e", "-q",
                          "-f", "%k\t%h\n", NULL};
    tk_result r;
    assert_int_equal(tk_run("kcat-read", tk_which("kcat", kcat, sizeof(kcat)), args, NULL,
                            60000, &r),
                     0);
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = '\0';
        tk_tally_add(t, line);
        if (first_headers && !first_headers[0]) snprintf(first_headers, size, "%s", tab + 1);
    }
    tk_result_free(&r);
}

/* Producer -> three workers -> outcomes, counted by kcat: exactly one
 * OrderCompleted per order id, with the CloudEvents headers. */
static void test_three_workers_one_outcome_per_order(void **state) {
    (void)state;
    enum { N = 3000 };
    const char *b = tk_e2e_bootstraps();
    char prefix[64], logs[3][512], ids_path[512], headers[2048] = "";
    tk_topics t;
    snprintf(prefix, sizeof(prefix), "e2e-fleet-%d", (int)getpid());
    tk_topics_create(b, prefix, 1, &t);

    pid_t w[3];
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof(name), "e2e-fleet-w%d", i + 1);
        w[i] = start_worker(b, &t, name, logs[i], sizeof(logs[i]));
    }
    /* the group settles at four orders and four retry partitions each */
    for (int i = 0; i < 3; i++)
        if (tk_wait_log(logs[i], "assigned=8\n", 60000) != 0) {
            for (int k = 0; k < 3; k++) tk_dump_log(logs[k]);
            fail_msg("the group did not settle at 8 partitions per worker");
        }

    char count[16];
    snprintf(count, sizeof(count), "%d", N);
    const char *load[] = {"-b", b, "load", "--count", count, "--ids", NULL};
    tk_result r;
    assert_int_equal(tk_run("e2e-fleet-load", "order-producer", load, t.envp, 120000, &r), 0);
    snprintf(ids_path, sizeof(ids_path), "%s", r.out_path);
    tk_result_free(&r);
    const char *outcomes[] = {"-b", b, "outcomes", "--expect", ids_path, "--timeout", "120",
                              NULL};
    assert_int_equal(tk_run("e2e-fleet-outcomes", "order-producer", outcomes, t.envp, 180000,
                            &r),
                     0);
    assert_non_null(strstr(r.out, "lost                     0"));
    tk_result_free(&r);

    /* The independent count: kcat, every record of the completed topic. */
    tk_tally *tally = tk_tally_new();
    kcat_tally(b, t.completed, tally, headers, sizeof(headers));
    assert_int_equal(tk_tally_distinct(tally), N);
    assert_int_equal(tk_tally_total(tally), N);
    char *ids = tk_read_file(ids_path);
    size_t nids = 0;
    for (char *id = strtok(ids, "\n"); id; id = strtok(NULL, "\n"), nids++)
        assert_int_equal(tk_tally_count(tally, id), 1);
    assert_int_equal(nids, N);
    free(ids);
    tk_tally_free(tally);
    assert_non_null(strstr(headers, "ce_specversion=1.0"));
    assert_non_null(strstr(headers, "ce_type=orderfleet.v1.OrderCompleted"));
    assert_non_null(strstr(headers, "ce_source=/orderfleet/order-worker/"));
    assert_non_null(strstr(headers, "content-type=application/protobuf"));
    assert_non_null(strstr(headers, "ce_subject="));
    assert_non_null(strstr(headers, "traceparent=00-"));

    for (int i = 0; i < 3; i++) assert_int_equal(tk_stop(w[i], SIGTERM, 60000), 0);
}

/* Interop, both ways: bytes from a fixture file, sent by kcat, are processed
 * by a worker; a record from order-producer, read by kcat, has the right key
 * and headers. */
static void test_interop_with_kcat(void **state) {
    (void)state;
    const char *b = tk_e2e_bootstraps();
    char prefix[64], log[512], kcat[512], bin[512], err[256];
    tk_topics t;
    snprintf(prefix, sizeof(prefix), "e2e-interop-%d", (int)getpid());
    tk_topics_create(b, prefix, 1, &t);
    tk_which("kcat", kcat, sizeof(kcat));

    /* tests/fixtures/order-placed.hex -> bytes */
    char *hex = tk_read_file(ORDERFLEET_SOURCE_DIR "/tests/fixtures/order-placed.hex");
    assert_non_null(hex);
    unsigned char bytes[512];
    size_t n = 0;
    for (char *p = hex; *p && n < sizeof(bytes);) {
        if (*p == '#') {
            p += strcspn(p, "\n");
            continue;
        }
        unsigned v;
        int used;
        if (sscanf(p, "%2x%n", &v, &used) == 1 && used == 2) {
            bytes[n++] = (unsigned char)v;
            p += 2;
        } else {
            p++;
        }
    }
    free(hex);
    assert_int_equal(n, 77);
    FILE *f = fopen(tk_log_path("fixture-order", bin, sizeof(bin)), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    fclose(f);

    const char *produce[] = {
        "-P", "-b", b, "-t", t.orders, "-k", "fixture-order-1",
        "-H", "ce_specversion=1.0",
        "-H", "ce_type=orderfleet.v1.OrderPlaced",
        "-H", "traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        bin, NULL};
    tk_result r;
    assert_int_equal(tk_run("kcat-produce", kcat, produce, NULL, 30000, &r), 0);
    tk_result_free(&r);

    pid_t w = start_worker(b, &t, "e2e-interop-w", log, sizeof(log));
    tk_reader *rd = tk_reader_new(b, t.completed);
    rd_kafka_message_t *m = tk_reader_next(rd, 60000);
    if (!m) tk_dump_log(log);
    assert_non_null(m);
    order_completed_t *oc = codec_completed_decode(m->payload, m->len, err, sizeof(err));
    assert_non_null(oc);
    assert_string_equal(oc->order_id, "fixture-order-1");
    assert_int_equal(oc->status, ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED);
    assert_int_equal(oc->subtotal, 1798);
    assert_int_equal(oc->tax, 342); /* 19% of 17.98, half up */
    assert_int_equal(oc->shipping, 299);
    assert_int_equal(oc->total, 2439);
    assert_int_equal(oc->placed_at_ms, 1764460800000LL);
    codec_completed_free(oc);
    rd_kafka_headers_t *h;
    const void *val;
    size_t len;
    assert_int_equal(rd_kafka_message_headers(m, &h), RD_KAFKA_RESP_ERR_NO_ERROR);
    /* the worker's span continues the trace: same trace id and flags, a new
     * span id */
    assert_int_equal(rd_kafka_header_get_last(h, "traceparent", &val, &len), 0);
    assert_int_equal(len, 55);
    assert_memory_equal(val, "00-4bf92f3577b34da6a3ce929d0e0e4736-", 36);
    assert_memory_not_equal((const char *)val + 36, "00f067aa0ba902b7", 16);
    assert_memory_equal((const char *)val + 52, "-01", 3);
    rd_kafka_message_destroy(m);
    tk_reader_destroy(rd);
    assert_int_equal(tk_stop(w, SIGTERM, 60000), 0);

    /* The other way: order-producer writes, kcat reads key and headers. */
    const char *place[] = {"-b", b, "place", "--customer", "c-7", "--item", "FRIES-LARGE:1",
                           "--order-id", "interop-order-2", NULL};
    assert_int_equal(tk_run("e2e-place", "order-producer", place, t.envp, 60000, &r), 0);
    tk_result_free(&r);
    const char *read[] = {"-C", "-b", b, "-t", t.orders, "-o", "beginning", "-e", "-q",
                          "-f", "%k|%h\n", NULL};
    assert_int_equal(tk_run("kcat-read-orders", kcat, read, NULL, 60000, &r), 0);
    char *line = strstr(r.out, "interop-order-2|");
    assert_non_null(line);
    line[strcspn(line, "\n")] = '\0';
    assert_non_null(strstr(line, "ce_specversion=1.0"));
    assert_non_null(strstr(line, "ce_type=orderfleet.v1.OrderPlaced"));
    assert_non_null(strstr(line, "ce_subject=interop-order-2"));
    assert_non_null(strstr(line, "content-type=application/protobuf"));
    assert_non_null(strstr(line, "traceparent=00-"));
    tk_result_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_workers_one_outcome_per_order),
        cmocka_unit_test(test_interop_with_kcat),
    };
    /* TEST_FILTER=<pattern> runs the matching tests only (cmocka: * and ?). */
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
