/* e2e chaos against real Apache Kafka: workers killed with SIGKILL and
 * restarted while orders flow, with a handler that fails transiently now and
 * then (so retries go through the retry topic meanwhile).
 *
 * - exactly_once: a read_committed reader sees exactly one OrderCompleted
 *   per order: none lost, none twice;
 * - at_least_once: none lost; the duplicates (work redone after a kill) are
 *   counted and reported.
 *
 * Each worker slot keeps its id across restarts, so the restarted worker's
 * transactional producer fences its killed predecessor and aborts its open
 * transaction at once. The short version runs in `make test`;
 * ORDERFLEET_CHAOS_LONG=1 (`make chaos`) runs 20,000 orders and a kill about
 * every two seconds. */
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

#include "common/rng.h"
#include "common/timeutil.h"
#include "testkit.h"

#define SLOTS 3

typedef struct fleet {
    const char *bootstraps;
    const char *env[16];  /* the topics' environment plus the guarantee and retry settings */
    const char *mode;     /* exactly_once or at_least_once */
    char guarantee[64];   /* ORDERFLEET_WORKER_GUARANTEE=<mode> */
    char log[SLOTS][512];
    pid_t pid[SLOTS];
    int restarts;
} fleet;

static void slot_start(fleet *f, int slot) {
    char id[32], name[64];
    snprintf(id, sizeof(id), "kill-w%d", slot + 1);
    snprintf(name, sizeof(name), "kill-%s-w%d-%d", f->mode, slot + 1, f->restarts);
    const char *args[] = {"-b", f->bootstraps, "-i", id, "--latency-ms", "5",
                          "--failure-rate", "0.02", "--drain-timeout-ms", "20000", NULL};
    f->pid[slot] = tk_spawn_env("order-worker", args, f->env,
                                tk_log_path(name, f->log[slot], sizeof(f->log[slot])), NULL);
}

/* Places `orders` orders at `rate` a second while killing a random worker
 * with SIGKILL (and starting it again) `kills` times, spread over the load
 * by its progress; then checks every order's outcome with a read_committed
 * reader and returns how many outcomes were duplicates. */
static uint64_t kill_chaos(const char *guarantee, int orders, int rate, int kills) {
    const char *b = tk_e2e_bootstraps();
    char prefix[64], ids[512], loadlog[512], count[16], per_s[16];
    tk_topics t;
    snprintf(prefix, sizeof(prefix), "e2e-kill-%c-%d", guarantee[0], (int)getpid());
    tk_topics_create(b, prefix, 1, &t);

    fleet f = {.bootstraps = b, .mode = guarantee};
    size_t n = 0;
    for (; t.envp[n]; n++) f.env[n] = t.envp[n];
    snprintf(f.guarantee, sizeof(f.guarantee), "ORDERFLEET_WORKER_GUARANTEE=%s", guarantee);
    f.env[n++] = f.guarantee;
    f.env[n++] = "ORDERFLEET_RETRY_BASE_MS=50";
    f.env[n++] = "ORDERFLEET_RETRY_CAP_MS=500";
    f.env[n] = NULL;
    for (int i = 0; i < SLOTS; i++) slot_start(&f, i);

    snprintf(count, sizeof(count), "%d", orders);
    snprintf(per_s, sizeof(per_s), "%d", rate);
    const char *load[] = {"-b", b, "load", "--count", count, "--rate", per_s, "--ids", NULL};
    tk_log_path("kill-ids", ids, sizeof(ids));
    pid_t producer = tk_spawn_env("order-producer", load, t.envp,
                                  tk_log_path("kill-load", loadlog, sizeof(loadlog)), ids);

    rng r;
    rng_seed_random(&r);
    for (int k = 1; k <= kills; k++) {
        /* the k-th kill once k/(kills+1) of the orders are placed */
        size_t due = (size_t)orders * (size_t)k / (size_t)(kills + 1);
        int64_t deadline = time_mono_ms() + 120000;
        while (tk_count_lines(ids) < due && time_mono_ms() < deadline) tk_pause_ms(20);
        assert_true(tk_count_lines(ids) >= due);
        int slot = (int)rng_below(&r, SLOTS);
        print_message("kill %d of %d: worker %d (SIGKILL) after %zu orders\n", k, kills,
                      slot + 1, due);
        assert_int_equal(tk_stop(f.pid[slot], SIGKILL, 10000), 128 + SIGKILL);
        f.restarts++;
        slot_start(&f, slot);
    }
    int rc = tk_wait(producer, 300000);
    if (rc != 0) tk_dump_log(loadlog);
    assert_int_equal(rc, 0);
    assert_int_equal(tk_count_lines(ids), (size_t)orders);

    /* read_committed: only what committed transactions hold (librdkafka's
     * default too, said out loud) */
    const char *check[] = {"-b", b, "outcomes", "--expect", ids, "--timeout", "240",
                           "-X", "isolation.level=read_committed", NULL};
    tk_result res;
    rc = tk_run("kill-outcomes", "order-producer", check, t.envp, 300000, &res);
    print_message("%s: %s", guarantee, res.out);
    if (rc != 0) {
        print_message("%s", res.err);
        for (int i = 0; i < SLOTS; i++) tk_dump_log(f.log[i]);
    }
    assert_int_equal(rc, 0);
    assert_non_null(strstr(res.out, "lost                     0"));
    const char *d = strstr(res.out, "duplicates");
    assert_non_null(d);
    uint64_t duplicates = strtoull(d + strlen("duplicates"), NULL, 10);
    tk_result_free(&res);

    for (int i = 0; i < SLOTS; i++) assert_int_equal(tk_stop(f.pid[i], SIGTERM, 60000), 0);
    return duplicates;
}

static int long_run(void) {
    const char *v = getenv("ORDERFLEET_CHAOS_LONG");
    return v && *v && strcmp(v, "0") != 0;
}

static void test_exactly_once_survives_kills(void **state) {
    (void)state;
    uint64_t duplicates = long_run() ? kill_chaos("exactly_once", 20000, 1000, 10)
                                     : kill_chaos("exactly_once", 4000, 400, 3);
    assert_int_equal(duplicates, 0);
}

static void test_at_least_once_survives_kills(void **state) {
    (void)state;
    uint64_t duplicates = long_run() ? kill_chaos("at_least_once", 20000, 1000, 10)
                                     : kill_chaos("at_least_once", 4000, 400, 3);
    print_message("at_least_once: %llu duplicate outcomes (work redone after the kills)\n",
                  (unsigned long long)duplicates);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exactly_once_survives_kills),
        cmocka_unit_test(test_at_least_once_survives_kills),
    };
    /* TEST_FILTER=<pattern> runs the matching tests only (cmocka: * and ?). */
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
