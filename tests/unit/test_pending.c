/* Unit tests: the pending-reply set. Fixed cases for each operation, then
 * long random runs checked step by step against a plain array model and
 * pending_check()'s invariants (heap order, heap back-pointers, probe runs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/pending.h"

#define W(x) ((void *)(uintptr_t)(x))

/* An id from a small number. Two layouts, so that ids sharing most bytes
 * (differing only at the end or only at the start) both occur. */
static void make_id(uint8_t id[16], uint32_t key) {
    memset(id, 0xa5, 16);
    if (key & 1) {
        memcpy(id + 12, &key, 4);
    } else {
        memcpy(id, &key, 4);
    }
}

/* What a callback saw. */
typedef struct {
    uint8_t id[16];
    int64_t deadline;
    void *waiter;
} seen_t;

typedef struct {
    seen_t items[8192];
    size_t n;
} seen_log;

static void record(const uint8_t id[16], int64_t deadline_ms, void *waiter, void *ctx) {
    seen_log *log = ctx;
    assert_true(log->n < 8192);
    memcpy(log->items[log->n].id, id, 16);
    log->items[log->n].deadline = deadline_ms;
    log->items[log->n].waiter = waiter;
    log->n++;
}

static void test_new_rejects_bad_capacity(void **state) {
    (void)state;
    assert_null(pending_new(0));
    assert_null(pending_new((size_t)PENDING_MAX_CAPACITY + 1));
    pending_t *p = pending_new(1);
    assert_non_null(p);
    assert_int_equal(pending_capacity(p), 1);
    assert_int_equal(pending_count(p), 0);
    assert_int_equal(pending_next_deadline(p), -1);
    assert_int_equal(pending_check(p), PENDING_OK);
    pending_free(p);
    pending_free(NULL);
}

static void test_add_take(void **state) {
    (void)state;
    pending_t *p = pending_new(4);
    uint8_t a[16], b[16], c[16];
    make_id(a, 1);
    make_id(b, 2);
    make_id(c, 3);
    void *w = W(0xdead);
    assert_int_equal(pending_add(p, a, 100, W(1)), PENDING_OK);
    assert_int_equal(pending_add(p, b, 50, W(2)), PENDING_OK);
    assert_int_equal(pending_count(p), 2);
    assert_int_equal(pending_next_deadline(p), 50);
    assert_int_equal(pending_take(p, c, &w), PENDING_NOT_FOUND);
    assert_ptr_equal(w, W(0xdead)); /* untouched */
    assert_int_equal(pending_take(p, b, &w), PENDING_OK);
    assert_ptr_equal(w, W(2));
    assert_int_equal(pending_next_deadline(p), 100);
    assert_int_equal(pending_take(p, b, &w), PENDING_NOT_FOUND); /* a second reply */
    assert_int_equal(pending_take(p, a, NULL), PENDING_OK);
    assert_int_equal(pending_count(p), 0);
    assert_int_equal(pending_next_deadline(p), -1);
    assert_int_equal(pending_check(p), PENDING_OK);
    pending_free(p);
}

static void test_duplicate_full_and_bad_deadline(void **state) {
    (void)state;
    pending_t *p = pending_new(3);
    uint8_t id[16];
    void *w;
    for (uint32_t k = 0; k < 3; k++) {
        make_id(id, k);
        assert_int_equal(pending_add(p, id, 10 * k, W(k + 1)), PENDING_OK);
    }
    make_id(id, 1);
    /* duplicate is reported even when full, and the original is kept */
    assert_int_equal(pending_add(p, id, 999, W(99)), PENDING_DUPLICATE);
    make_id(id, 3);
    assert_int_equal(pending_add(p, id, 5, W(4)), PENDING_FULL);
    assert_int_equal(pending_count(p), 3);
    make_id(id, 1);
    assert_int_equal(pending_take(p, id, &w), PENDING_OK);
    assert_ptr_equal(w, W(2));
    make_id(id, 3);
    assert_int_equal(pending_add(p, id, 5, W(4)), PENDING_OK);
    assert_int_equal(pending_add(p, id, 7, W(5)), PENDING_DUPLICATE);
    make_id(id, 9);
    assert_int_equal(pending_add(p, id, -1, W(6)), PENDING_ERR);
    assert_int_equal(pending_count(p), 3);
    assert_int_equal(pending_next_deadline(p), 0);
    assert_int_equal(pending_check(p), PENDING_OK);
    pending_free(p);
}

/* Expiry reports in deadline order, ties in insertion order, and leaves
 * later deadlines alone. */
static void test_expire_order(void **state) {
    (void)state;
    pending_t *p = pending_new(16);
    static const int64_t deadlines[] = {40, 10, 30, 10, 20, 50, 10, 30};
    uint8_t id[16];
    for (uint32_t k = 0; k < 8; k++) {
        make_id(id, k);
        assert_int_equal(pending_add(p, id, deadlines[k], W(k + 1)), PENDING_OK);
    }
    seen_log *log = calloc(1, sizeof(*log));
    assert_int_equal(pending_expire(p, 9, record, log), 0);
    assert_int_equal(pending_expire(p, 30, record, log), 6);
    static const uint32_t want[] = {1, 3, 6, 4, 2, 7}; /* keys, expected order */
    for (size_t i = 0; i < 6; i++) {
        make_id(id, want[i]);
        assert_memory_equal(log->items[i].id, id, 16);
        assert_int_equal(log->items[i].deadline, deadlines[want[i]]);
        assert_ptr_equal(log->items[i].waiter, W(want[i] + 1));
        assert_int_equal(pending_take(p, id, NULL), PENDING_NOT_FOUND);
    }
    assert_int_equal(pending_count(p), 2);
    assert_int_equal(pending_next_deadline(p), 40);
    /* a NULL callback just removes */
    assert_int_equal(pending_expire(p, 40, NULL, NULL), 1);
    log->n = 0;
    assert_int_equal(pending_drain(p, record, log), 1);
    make_id(id, 5);
    assert_memory_equal(log->items[0].id, id, 16);
    assert_int_equal(pending_count(p), 0);
    assert_int_equal(pending_check(p), PENDING_OK);
    free(log);
    pending_free(p);
}

static void test_drain_in_deadline_order(void **state) {
    (void)state;
    pending_t *p = pending_new(100);
    uint8_t id[16];
    for (uint32_t k = 0; k < 100; k++) {
        make_id(id, k);
        assert_int_equal(pending_add(p, id, (k * 37) % 101, W(k + 1)), PENDING_OK);
    }
    seen_log *log = calloc(1, sizeof(*log));
    assert_int_equal(pending_drain(p, record, log), 100);
    assert_int_equal(log->n, 100);
    for (size_t i = 1; i < 100; i++)
        assert_true(log->items[i - 1].deadline < log->items[i].deadline);
    assert_int_equal(pending_count(p), 0);
    assert_int_equal(pending_next_deadline(p), -1);
    assert_int_equal(pending_check(p), PENDING_OK);
    free(log);
    pending_free(p);
}

/* A callback may use the set: take another entry and re-add the expired one
 * with a later deadline (a retry). */
typedef struct {
    pending_t *p;
    int calls;
} reenter_ctx;

static void reenter(const uint8_t id[16], int64_t deadline_ms, void *waiter, void *ctx) {
    reenter_ctx *r = ctx;
    uint8_t other[16];
    r->calls++;
    assert_int_equal(pending_check(r->p), PENDING_OK);
    assert_int_equal(pending_take(r->p, id, NULL), PENDING_NOT_FOUND); /* already removed */
    make_id(other, 2);
    pending_take(r->p, other, NULL);
    assert_int_equal(pending_add(r->p, id, deadline_ms + 100, waiter), PENDING_OK);
}

static void test_callback_reentry(void **state) {
    (void)state;
    pending_t *p = pending_new(2);
    uint8_t id[16];
    make_id(id, 1);
    pending_add(p, id, 5, W(1));
    make_id(id, 2);
    pending_add(p, id, 50, W(2));
    reenter_ctx r = {p, 0};
    assert_int_equal(pending_expire(p, 10, reenter, &r), 1);
    assert_int_equal(r.calls, 1);
    assert_int_equal(pending_count(p), 1);
    assert_int_equal(pending_next_deadline(p), 105);
    make_id(id, 1);
    void *w = NULL;
    assert_int_equal(pending_take(p, id, &w), PENDING_OK);
    assert_ptr_equal(w, W(1));
    assert_int_equal(pending_check(p), PENDING_OK);
    pending_free(p);
}

/* ---- random runs against a model ---- */

static uint64_t rng_state;

static uint64_t rnd(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

typedef struct {
    uint32_t key;
    int64_t deadline;
    uint64_t seq;
    uintptr_t waiter;
} model_entry;

typedef struct {
    model_entry e[512];
    size_t n;
    uint64_t seq;
} model;

static long model_find(const model *m, uint32_t key) {
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].key == key) return (long)i;
    return -1;
}

static void model_remove(model *m, size_t i) { m->e[i] = m->e[--m->n]; }

static int64_t model_min_deadline(const model *m) {
    int64_t min = -1;
    for (size_t i = 0; i < m->n; i++)
        if (min < 0 || m->e[i].deadline < min) min = m->e[i].deadline;
    return min;
}

/* Index of the entry that must come out first: (deadline, seq) smallest. */
static size_t model_first(const model *m) {
    size_t best = 0;
    for (size_t i = 1; i < m->n; i++)
        if (m->e[i].deadline < m->e[best].deadline ||
            (m->e[i].deadline == m->e[best].deadline && m->e[i].seq < m->e[best].seq))
            best = i;
    return best;
}

/* Pops the model's expected entries (all with deadline <= now, or all when
 * now < 0) in order and compares them with what the callbacks saw. */
static void model_expect(model *m, int64_t now, const seen_log *log) {
    size_t k = 0;
    while (m->n) {
        size_t i = model_first(m);
        if (now >= 0 && m->e[i].deadline > now) break;
        uint8_t id[16];
        make_id(id, m->e[i].key);
        assert_true(k < log->n);
        assert_memory_equal(log->items[k].id, id, 16);
        assert_int_equal(log->items[k].deadline, m->e[i].deadline);
        assert_ptr_equal(log->items[k].waiter, W(m->e[i].waiter));
        k++;
        model_remove(m, i);
    }
    assert_int_equal(k, log->n);
}

/* steps random operations on a set of capacity, with ids from pool keys and
 * deadlines up to horizon ms ahead (long horizons fill the set up). */
static void random_run(uint64_t seed, size_t capacity, uint32_t pool, int64_t horizon,
                       int steps) {
    pending_t *p = pending_new(capacity);
    model *m = calloc(1, sizeof(*m));
    seen_log *log = calloc(1, sizeof(*log));
    assert_true(capacity <= 512);
    rng_state = seed;
    int64_t now = 0;
    uintptr_t next_waiter = 1;
    size_t n_full = 0, n_dup = 0, n_found = 0, n_missing = 0, n_expired = 0;

    for (int step = 0; step < steps; step++) {
        uint32_t op = (uint32_t)(rnd() % 1000), key = (uint32_t)(rnd() % pool);
        uint8_t id[16];
        make_id(id, key);
        if (op < 500) {
            int64_t deadline = now + (int64_t)(rnd() % (uint64_t)horizon);
            uintptr_t w = next_waiter++;
            int want = model_find(m, key) >= 0 ? PENDING_DUPLICATE
                       : m->n == capacity       ? PENDING_FULL
                                                : PENDING_OK;
            assert_int_equal(pending_add(p, id, deadline, W(w)), want);
            if (want == PENDING_OK)
                m->e[m->n++] = (model_entry){key, deadline, m->seq++, w};
            n_full += want == PENDING_FULL;
            n_dup += want == PENDING_DUPLICATE;
        } else if (op < 850) {
            long i = model_find(m, key);
            void *w = W(0);
            if (i >= 0) {
                assert_int_equal(pending_take(p, id, &w), PENDING_OK);
                assert_ptr_equal(w, W(m->e[i].waiter));
                model_remove(m, (size_t)i);
                n_found++;
            } else {
                assert_int_equal(pending_take(p, id, &w), PENDING_NOT_FOUND);
                n_missing++;
            }
        } else if (op < 999) { /* drain is rare, or the set never fills */
            now += (int64_t)(rnd() % 12);
            log->n = 0;
            size_t got = pending_expire(p, now, record, log);
            assert_int_equal(got, log->n);
            n_expired += got;
            model_expect(m, now, log);
        } else {
            log->n = 0;
            assert_int_equal(pending_drain(p, record, log), m->n);
            model_expect(m, -1, log);
        }
        assert_int_equal(pending_count(p), m->n);
        assert_int_equal(pending_next_deadline(p), model_min_deadline(m));
        assert_int_equal(pending_check(p), PENDING_OK);
    }
    /* every path was taken */
    if (!(n_full && n_dup && n_found && n_missing && n_expired))
        fail_msg("seed %#llx: a path was not taken: full %zu dup %zu found %zu missing %zu "
                 "expired %zu", (unsigned long long)seed, n_full, n_dup, n_found, n_missing,
                 n_expired);
    free(log);
    free(m);
    pending_free(p);
}

static void test_random_against_model(void **state) {
    (void)state;
    /* small pool: many duplicates and hits; pool > capacity: FULL happens */
    random_run(0x9e3779b97f4a7c15ULL, 16, 40, 40, 50000);
    random_run(0x0123456789abcdefULL, 1, 3, 40, 5000);
    random_run(0xfeedfacecafebeefULL, 100, 300, 1000, 30000);
    random_run(42, 500, 2000, 5000, 20000);
}

/* A full table under long add/take churn: backward-shift deletion must keep
 * every survivor reachable (tombstone-free tables break exactly here). */
static void test_churn_at_capacity(void **state) {
    (void)state;
    enum { CAP = 4096, KEYS = 3 * CAP };
    pending_t *p = pending_new(CAP);
    unsigned char *in = calloc(KEYS, 1);
    uint8_t id[16];
    rng_state = 7;
    size_t n = 0;
    for (int step = 0; step < 200000; step++) {
        uint32_t key = (uint32_t)(rnd() % KEYS);
        make_id(id, key);
        if (in[key]) {
            void *w;
            assert_int_equal(pending_take(p, id, &w), PENDING_OK);
            assert_ptr_equal(w, W(key + 1));
            in[key] = 0;
            n--;
        } else {
            int rc = pending_add(p, id, (int64_t)(rnd() % 1000), W(key + 1));
            assert_int_equal(rc, n == CAP ? PENDING_FULL : PENDING_OK);
            if (rc == PENDING_OK) {
                in[key] = 1;
                n++;
            }
        }
        if (step % 5000 == 0) assert_int_equal(pending_check(p), PENDING_OK);
    }
    assert_int_equal(pending_count(p), n);
    for (uint32_t key = 0; key < KEYS; key++) {
        make_id(id, key);
        assert_int_equal(pending_take(p, id, NULL), in[key] ? PENDING_OK : PENDING_NOT_FOUND);
    }
    assert_int_equal(pending_count(p), 0);
    assert_int_equal(pending_check(p), PENDING_OK);
    free(in);
    pending_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_rejects_bad_capacity),
        cmocka_unit_test(test_add_take),
        cmocka_unit_test(test_duplicate_full_and_bad_deadline),
        cmocka_unit_test(test_expire_order),
        cmocka_unit_test(test_drain_in_deadline_order),
        cmocka_unit_test(test_callback_reentry),
        cmocka_unit_test(test_random_against_model),
        cmocka_unit_test(test_churn_at_capacity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
