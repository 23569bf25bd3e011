/* Unit tests: the per-key scheduler. Fixed cases for ordering within a key,
 * independence across keys, key equality (bytes after a NUL, length, the
 * empty key) and forgetting idle keys; growth with thousands of keys; and a
 * long random run checked step by step against a plain model (one FIFO array
 * per key). Every item carries its own copy of its key bytes, and an item
 * that is done is scribbled over and freed, so a scheduler that kept reading
 * a finished item's key would fail here (and under ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/rng.h"
#include "consumer/keysched.h"

typedef struct work {
    keysched_item ks; /* first: a keysched_item * is a work * */
    int id;
    size_t len;
    unsigned char key[]; /* own copy */
} work;

/* A new item with its own copy of key (len bytes); NULL key with len 0 makes
 * an item whose key pointer is NULL. Freed with work_free(). */
static work *work_new(int id, const void *key, size_t len) {
    work *w = malloc(sizeof(*w) + len + 1);
    assert_non_null(w);
    w->id = id;
    w->len = len;
    if (len) memcpy(w->key, key, len);
    w->ks.key = key ? (const void *)w->key : NULL;
    w->ks.keylen = len;
    w->ks.next = (keysched_item *)(uintptr_t)0x1; /* garbage: push must set it */
    return w;
}

/* Overwrites the key bytes before freeing, so a stale pointer to them would
 * stop matching even without ASan. */
static void work_free(work *w) {
    if (!w) return;
    memset(w->key, 0xA5, w->len);
    free(w);
}

static work *work_s(int id, const char *key) { return work_new(id, key, strlen(key)); }

static work *as_work(keysched_item *it) { return (work *)it; }

static void assert_counts(const keysched *ks, size_t running, size_t waiting) {
    assert_int_equal(keysched_running(ks), running);
    assert_int_equal(keysched_waiting(ks), waiting);
}

static void test_new_is_empty(void **state) {
    (void)state;
    keysched *ks = keysched_new();
    assert_non_null(ks);
    assert_counts(ks, 0, 0);
    keysched_free(ks);
    keysched_free(NULL);
}

/* Items of one key come out one at a time, in push order. */
static void test_fifo_within_a_key(void **state) {
    (void)state;
    keysched *ks = keysched_new();
    work *w[5];
    for (int i = 0; i < 5; i++) {
        w[i] = work_s(i, "order-1");
        assert_int_equal(keysched_push(ks, &w[i]->ks), i == 0 ? KEYSCHED_READY : KEYSCHED_QUEUED);
        assert_counts(ks, 1, (size_t)i);
    }
    for (int i = 0; i < 5; i++) {
        keysched_item *next = keysched_done(ks, &w[i]->ks);
        if (i < 4) {
            assert_non_null(next);
            assert_ptr_equal(next, &w[i + 1]->ks);
            assert_counts(ks, 1, (size_t)(3 - i));
        } else {
            assert_null(next);
            assert_counts(ks, 0, 0);
        }
        work_free(w[i]);
    }
    keysched_free(ks);
}

/* Different keys are all ready at once, and finishing one key does not
 * release or disturb another's queue. */
static void test_different_keys_are_independent(void **state) {
    (void)state;
    keysched *ks = keysched_new();
    work *a1 = work_s(1, "a"), *b1 = work_s(2, "b"), *c1 = work_s(3, "c");
    work *a2 = work_s(4, "a"), *b2 = work_s(5, "b");
    assert_int_equal(keysched_push(ks, &a1->ks), KEYSCHED_READY);
    assert_int_equal(keysched_push(ks, &b1->ks), KEYSCHED_READY);
    assert_int_equal(keysched_push(ks, &c1->ks), KEYSCHED_READY);
    assert_int_equal(keysched_push(ks, &a2->ks), KEYSCHED_QUEUED);
    assert_int_equal(keysched_push(ks, &b2->ks), KEYSCHED_QUEUED);
    assert_counts(ks, 3, 2);

    assert_null(keysched_done(ks, &c1->ks));
    assert_counts(ks, 2, 2);
    assert_ptr_equal(keysched_done(ks, &b1->ks), &b2->ks);
    assert_counts(ks, 2, 1);
    assert_ptr_equal(keysched_done(ks, &a1->ks), &a2->ks);
    assert_counts(ks, 2, 0);
    assert_null(keysched_done(ks, &a2->ks));
    assert_null(keysched_done(ks, &b2->ks));
    assert_counts(ks, 0, 0);
    work_free(a1);
    work_free(b1);
    work_free(c1);
    work_free(a2);
    work_free(b2);
    keysched_free(ks);
}

/* Keys are compared as bytes with their length: not as C strings, not by
 * pointer. */
static void test_key_equality_is_bytes_and_length(void **state) {
    (void)state;
    keysched *ks = keysched_new();
    work *w[] = {
        work_new(0, "a\0b", 3), work_new(1, "a\0c", 3), /* differ after a NUL */
        work_new(2, "ab", 2),   work_new(3, "ab\0", 3), /* differ by a trailing NUL */
        work_new(4, "a", 1),    work_new(5, "\0", 1),   /* vs the empty key below */
    };
    for (size_t i = 0; i < 6; i++) assert_int_equal(keysched_push(ks, &w[i]->ks), KEYSCHED_READY);
    work *e = work_new(6, NULL, 0);
    assert_int_equal(keysched_push(ks, &e->ks), KEYSCHED_READY);
    assert_counts(ks, 7, 0);

    /* equal bytes in another buffer: the same key */
    work *same = work_new(7, "a\0c", 3);
    assert_int_equal(keysched_push(ks, &same->ks), KEYSCHED_QUEUED);
    assert_counts(ks, 7, 1);
    assert_null(keysched_done(ks, &w[0]->ks)); /* "a\0b" had nothing waiting */
    assert_ptr_equal(keysched_done(ks, &w[1]->ks), &same->ks);
    assert_null(keysched_done(ks, &same->ks));
    for (size_t i = 2; i < 6; i++) assert_null(keysched_done(ks, &w[i]->ks));
    assert_null(keysched_done(ks, &e->ks));
    assert_counts(ks, 0, 0);
    for (size_t i = 0; i < 6; i++) work_free(w[i]);
    work_free(e);
    work_free(same);
    keysched_free(ks);
}

/* NULL with length 0 and a non-NULL pointer with length 0 are the same,
 * empty, key. */
static void test_empty_key(void **state) {
    (void)state;
    keysched *ks = keysched_new();
    work *n = work_new(0, NULL, 0);
    work *z = work_new(1, "", 0);
    assert_null(n->ks.key);
    assert_non_null(z->ks.key);
    assert_int_equal(keysched_push(ks, &n->ks), KEYSCHED_READY);
    assert_int_equal(keysched_push(ks, &z->ks), KEYSCHED_QUEUED);
    assert_counts(ks, 1, 1);
    assert_ptr_equal(keysched_done(ks, &n->ks), &z->ks);
    assert_null(keysched_done(ks, &z->ks));
    assert_counts(ks, 0, 0);
    work_free(n);
    work_free(z);
    keysched_free(ks);
}

/* The last item done forgets its key: a new item of that key runs at once. */
static void test_last_done_forgets_the_key(void **state) {
    (void)state;
    keysched *ks = keysched_new();
    for (int round = 0; round < 3; round++) {
        work *w = work_s(round, "order-7");
        assert_int_equal(keysched_push(ks, &w->ks), KEYSCHED_READY);
        assert_counts(ks, 1, 0);
        assert_null(keysched_done(ks, &w->ks));
        assert_counts(ks, 0, 0);
        work_free(w);
    }
    keysched_free(ks);
}

/* Once the running item is done and freed, its key is read from the item
 * that runs next: a later item of the same key still queues behind it. */
static void test_key_follows_the_running_item(void **state) {
    (void)state;
    keysched *ks = keysched_new();
    work *w1 = work_s(1, "order-9"), *w2 = work_s(2, "order-9"), *w3 = work_s(3, "order-9");
    assert_int_equal(keysched_push(ks, &w1->ks), KEYSCHED_READY);
    assert_int_equal(keysched_push(ks, &w2->ks), KEYSCHED_QUEUED);
    assert_ptr_equal(keysched_done(ks, &w1->ks), &w2->ks);
    assert_null(w1->ks.next);
    work_free(w1); /* scribbled and freed: the entry must not read it */
    assert_int_equal(keysched_push(ks, &w3->ks), KEYSCHED_QUEUED);
    assert_counts(ks, 1, 1);
    assert_ptr_equal(keysched_done(ks, &w2->ks), &w3->ks);
    work_free(w2);
    assert_null(keysched_done(ks, &w3->ks));
    work_free(w3);
    assert_counts(ks, 0, 0);
    keysched_free(ks);
}

/* An item that is not the running one of its key: nothing happens. */
static void test_done_of_a_waiting_item_changes_nothing(void **state) {
    (void)state;
    keysched *ks = keysched_new();
    work *w1 = work_s(1, "k"), *w2 = work_s(2, "k"), *other = work_s(3, "absent");
    assert_int_equal(keysched_push(ks, &w1->ks), KEYSCHED_READY);
    assert_int_equal(keysched_push(ks, &w2->ks), KEYSCHED_QUEUED);
    assert_null(keysched_done(ks, &w2->ks));
    assert_null(keysched_done(ks, &other->ks));
    assert_counts(ks, 1, 1);
    assert_ptr_equal(keysched_done(ks, &w1->ks), &w2->ks);
    assert_null(keysched_done(ks, &w2->ks));
    assert_counts(ks, 0, 0);
    work_free(w1);
    work_free(w2);
    work_free(other);
    keysched_free(ks);
}

#define MANY_KEYS 5000
#define PER_KEY 3

/* Thousands of keys (the table doubles many times), their items pushed
 * round-robin so that growth happens while queues are long; then the keys
 * are finished in an order unrelated to insertion, each one's items still
 * coming out in push order. */
static void test_many_keys_grow_the_table(void **state) {
    (void)state;
    keysched *ks = keysched_new();
    static work *w[PER_KEY][MANY_KEYS];
    char key[32];
    for (int r = 0; r < PER_KEY; r++) {
        for (int k = 0; k < MANY_KEYS; k++) {
            int n = snprintf(key, sizeof(key), "order-%d", k);
            w[r][k] = work_new(r * MANY_KEYS + k, key, (size_t)n);
            assert_int_equal(keysched_push(ks, &w[r][k]->ks),
                             r == 0 ? KEYSCHED_READY : KEYSCHED_QUEUED);
        }
        assert_counts(ks, MANY_KEYS, (size_t)r * MANY_KEYS);
    }
    /* 7919 is prime and does not divide MANY_KEYS: k visits every key once */
    size_t waiting = (PER_KEY - 1) * MANY_KEYS, running = MANY_KEYS;
    for (int i = 0; i < MANY_KEYS; i++) {
        int k = (int)(((long)i * 7919) % MANY_KEYS);
        for (int r = 0; r < PER_KEY; r++) {
            keysched_item *next = keysched_done(ks, &w[r][k]->ks);
            work_free(w[r][k]);
            if (r + 1 < PER_KEY) {
                assert_ptr_equal(next, &w[r + 1][k]->ks);
                waiting--;
            } else {
                assert_null(next);
                running--;
            }
            assert_counts(ks, running, waiting);
        }
    }
    assert_counts(ks, 0, 0);
    keysched_free(ks);
}

/* ---- the model check ---- */

#define MODEL_KEYS 300       /* enough to grow the table to 1024 slots and shift on delete */
#define MODEL_MAX_ITEMS 4000 /* items in the scheduler at once, at most */
#define MODEL_STEPS 200000

typedef struct model_key {
    unsigned char bytes[16];
    size_t len;
    work **fifo; /* fifo[0] runs */
    size_t n, cap;
} model_key;

/* Key k of the model. 0 is the empty key (with a NULL pointer); otherwise
 * two bytes of k / 2 then NULs, so every key holds NULs, and keys 2j and
 * 2j + 1 differ only by length (one is a prefix of the other). */
static void model_key_init(model_key *m, int k) {
    memset(m, 0, sizeof(*m));
    if (k == 0) return;
    int id = k / 2;
    m->bytes[0] = (unsigned char)(id & 0xff);
    m->bytes[1] = (unsigned char)(id >> 8);
    m->len = 2 + (size_t)(id % 5) + (size_t)(k & 1) * 3;
}

static void model_append(model_key *m, work *w) {
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 8;
        m->fifo = realloc(m->fifo, m->cap * sizeof(*m->fifo));
        assert_non_null(m->fifo);
    }
    m->fifo[m->n++] = w;
}

/* Random pushes and dones, biased so that the scheduler fills up, drains
 * and fills again. After every step the return value and both counters must
 * be what the model says. */
static void test_random_against_model(void **state) {
    (void)state;
    static model_key keys[MODEL_KEYS];
    for (int k = 0; k < MODEL_KEYS; k++) model_key_init(&keys[k], k);
    keysched *ks = keysched_new();
    assert_non_null(ks);
    rng r = {0x5eed};
    size_t items = 0, running = 0, next_id = 0;
    for (int step = 0; step < MODEL_STEPS; step++) {
        /* phases of 20000 steps: mostly pushing, then mostly finishing */
        int filling = (step / 20000) % 2 == 0;
        int push =
            items == 0 || (items < MODEL_MAX_ITEMS && rng_below(&r, 100) < (filling ? 70u : 30u));
        int k = (int)rng_below(&r, MODEL_KEYS);
        if (k % 3 == 0) k = (int)rng_below(&r, 8); /* a few hot keys with long queues */
        model_key *m = &keys[k];
        if (push) {
            work *w = work_new((int)next_id++, m->len ? m->bytes : NULL, m->len);
            int rc = keysched_push(ks, &w->ks);
            assert_int_equal(rc, m->n == 0 ? KEYSCHED_READY : KEYSCHED_QUEUED);
            if (m->n == 0) running++;
            model_append(m, w);
            items++;
        } else {
            /* finish the running item of the first busy key from k on */
            while (keys[k].n == 0) k = (k + 1) % MODEL_KEYS;
            m = &keys[k];
            work *w = m->fifo[0];
            keysched_item *next = keysched_done(ks, &w->ks);
            memmove(m->fifo, m->fifo + 1, (m->n - 1) * sizeof(m->fifo[0]));
            m->n--;
            items--;
            if (m->n == 0) {
                assert_null(next);
                running--;
            } else {
                assert_non_null(next);
                assert_int_equal(as_work(next)->id, m->fifo[0]->id);
            }
            work_free(w);
        }
        assert_int_equal(keysched_running(ks), running);
        assert_int_equal(keysched_waiting(ks), items - running);
    }
    for (int k = 0; k < MODEL_KEYS; k++) {
        for (size_t i = 0; i < keys[k].n; i++) work_free(keys[k].fifo[i]);
        free(keys[k].fifo);
    }
    keysched_free(ks);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_is_empty),
        cmocka_unit_test(test_fifo_within_a_key),
        cmocka_unit_test(test_different_keys_are_independent),
        cmocka_unit_test(test_key_equality_is_bytes_and_length),
        cmocka_unit_test(test_empty_key),
        cmocka_unit_test(test_last_done_forgets_the_key),
        cmocka_unit_test(test_key_follows_the_running_item),
        cmocka_unit_test(test_done_of_a_waiting_item_changes_nothing),
        cmocka_unit_test(test_many_keys_grow_the_table),
        cmocka_unit_test(test_random_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
