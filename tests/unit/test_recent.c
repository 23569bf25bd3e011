/* Unit tests: the bounded map of recent entries. Fixed cases for each
 * operation and bound, then long random runs checked step by step against a
 * plain array model (insertion order = array order) and recent_check()'s
 * invariants; and the FNV-1a 64 vectors of recent_hash64(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/recent.h"
#include "common/rng.h"

/* Asserts that key (klen bytes) holds exactly value (vlen bytes). */
static void assert_holds(const recent_t *r, const void *key, size_t klen, const void *value,
                         size_t vlen) {
    const void *got = NULL;
    size_t got_len = (size_t)-1;
    assert_int_equal(recent_get(r, key, klen, &got, &got_len), RECENT_OK);
    assert_non_null(got);
    assert_int_equal(got_len, vlen);
    if (vlen) assert_memory_equal(got, value, vlen);
}

static void assert_lacks(const recent_t *r, const void *key, size_t klen) {
    assert_int_equal(recent_get(r, key, klen, NULL, NULL), RECENT_NOT_FOUND);
}

/* Strings as keys and values, without their NUL. */
static int put_s(recent_t *r, const char *key, const char *value) {
    return recent_put(r, key, strlen(key), value, strlen(value));
}

static void assert_holds_s(const recent_t *r, const char *key, const char *value) {
    assert_holds(r, key, strlen(key), value, strlen(value));
}

static void assert_lacks_s(const recent_t *r, const char *key) {
    assert_lacks(r, key, strlen(key));
}

static void test_new_rejects_bad_args(void **state) {
    (void)state;
    assert_null(recent_new(0, 0));
    assert_null(recent_new(0, 100));
    assert_null(recent_new((size_t)RECENT_MAX_CAPACITY + 1, 0));
    recent_t *r = recent_new(1, 0);
    assert_non_null(r);
    assert_int_equal(recent_count(r), 0);
    assert_int_equal(recent_bytes(r), 0);
    assert_int_equal(recent_evicted(r), 0);
    assert_int_equal(recent_check(r), RECENT_OK);
    assert_lacks_s(r, "x");
    recent_free(r);
    recent_free(NULL);
}

static void test_put_get_replace(void **state) {
    (void)state;
    recent_t *r = recent_new(8, 0);
    assert_int_equal(put_s(r, "order-1", "accepted"), RECENT_OK);
    assert_int_equal(put_s(r, "order-2", "{\"status\":\"FULFILLED\"}"), RECENT_OK);
    assert_int_equal(recent_count(r), 2);
    assert_int_equal(recent_bytes(r), 7 + 8 + 7 + 22);
    assert_holds_s(r, "order-1", "accepted");
    assert_holds_s(r, "order-2", "{\"status\":\"FULFILLED\"}");
    assert_lacks_s(r, "order-3");

    /* a NOT_FOUND leaves the outputs alone */
    const void *v = (const void *)&v;
    size_t vlen = 12345;
    assert_int_equal(recent_get(r, "order-3", 7, &v, &vlen), RECENT_NOT_FOUND);
    assert_ptr_equal(v, (const void *)&v);
    assert_int_equal(vlen, 12345);

    /* replacing: one entry, new value, bytes follow the new length */
    assert_int_equal(put_s(r, "order-1", "{\"status\":\"REJECTED\",\"reason\":\"stock\"}"),
                     RECENT_OK);
    assert_int_equal(recent_count(r), 2);
    assert_int_equal(recent_bytes(r), 7 + 38 + 7 + 22);
    assert_holds_s(r, "order-1", "{\"status\":\"REJECTED\",\"reason\":\"stock\"}");
    assert_int_equal(put_s(r, "order-1", "x"), RECENT_OK);
    assert_int_equal(recent_bytes(r), 7 + 1 + 7 + 22);
    assert_holds_s(r, "order-1", "x");
    assert_int_equal(recent_evicted(r), 0); /* replacing is not evicting */
    assert_int_equal(recent_check(r), RECENT_OK);
    recent_free(r);
}

/* A replaced entry is the newest: the next eviction takes the one after it. */
static void test_replace_becomes_newest(void **state) {
    (void)state;
    recent_t *r = recent_new(3, 0);
    assert_int_equal(put_s(r, "a", "1"), RECENT_OK);
    assert_int_equal(put_s(r, "b", "2"), RECENT_OK);
    assert_int_equal(put_s(r, "c", "3"), RECENT_OK);
    assert_int_equal(put_s(r, "a", "4"), RECENT_OK); /* order now b, c, a */
    assert_int_equal(put_s(r, "d", "5"), RECENT_OK);
    assert_lacks_s(r, "b");
    assert_holds_s(r, "a", "4");
    assert_holds_s(r, "c", "3");
    assert_holds_s(r, "d", "5");
    assert_int_equal(put_s(r, "e", "6"), RECENT_OK);
    assert_lacks_s(r, "c");
    assert_holds_s(r, "a", "4");
    assert_int_equal(put_s(r, "f", "7"), RECENT_OK);
    assert_lacks_s(r, "a");
    assert_int_equal(recent_evicted(r), 3);
    assert_int_equal(recent_check(r), RECENT_OK);
    recent_free(r);
}

/* A read does not make an entry newer (FIFO, not LRU). */
static void test_get_does_not_refresh(void **state) {
    (void)state;
    recent_t *r = recent_new(2, 0);
    assert_int_equal(put_s(r, "a", "1"), RECENT_OK);
    assert_int_equal(put_s(r, "b", "2"), RECENT_OK);
    for (int i = 0; i < 5; i++) assert_holds_s(r, "a", "1");
    assert_int_equal(put_s(r, "c", "3"), RECENT_OK);
    assert_lacks_s(r, "a");
    assert_holds_s(r, "b", "2");
    assert_holds_s(r, "c", "3");
    recent_free(r);
}

static void test_del(void **state) {
    (void)state;
    recent_t *r = recent_new(3, 0);
    assert_int_equal(recent_del(r, "a", 1), RECENT_NOT_FOUND);
    assert_int_equal(put_s(r, "a", "1"), RECENT_OK);
    assert_int_equal(put_s(r, "bb", "22"), RECENT_OK);
    assert_int_equal(put_s(r, "ccc", "333"), RECENT_OK);
    assert_int_equal(recent_del(r, "bb", 2), RECENT_OK);
    assert_int_equal(recent_del(r, "bb", 2), RECENT_NOT_FOUND);
    assert_int_equal(recent_count(r), 2);
    assert_int_equal(recent_bytes(r), 2 + 6);
    assert_lacks_s(r, "bb");
    assert_holds_s(r, "a", "1");
    assert_holds_s(r, "ccc", "333");
    assert_int_equal(recent_check(r), RECENT_OK);
    /* the freed room is used without evicting; order stays a, ccc, bb, d */
    assert_int_equal(put_s(r, "bb", "x"), RECENT_OK);
    assert_int_equal(recent_evicted(r), 0);
    assert_int_equal(put_s(r, "d", "4"), RECENT_OK);
    assert_int_equal(recent_evicted(r), 1);
    assert_lacks_s(r, "a");
    /* deleting the oldest and the newest keeps the list whole */
    assert_int_equal(recent_del(r, "ccc", 3), RECENT_OK);
    assert_int_equal(recent_del(r, "d", 1), RECENT_OK);
    assert_int_equal(recent_check(r), RECENT_OK);
    assert_int_equal(recent_del(r, "bb", 2), RECENT_OK);
    assert_int_equal(recent_count(r), 0);
    assert_int_equal(recent_bytes(r), 0);
    assert_int_equal(recent_check(r), RECENT_OK);
    assert_int_equal(put_s(r, "e", "5"), RECENT_OK);
    assert_holds_s(r, "e", "5");
    assert_int_equal(recent_del(r, "", 0), RECENT_NOT_FOUND);
    assert_int_equal(recent_del(r, NULL, 1), RECENT_NOT_FOUND);
    assert_int_equal(recent_evicted(r), 1); /* deleting is not evicting */
    recent_free(r);
}

static void test_evict_by_count_oldest_first(void **state) {
    (void)state;
    recent_t *r = recent_new(4, 0);
    char key[16], val[16];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(val, sizeof(val), "v%d", i);
        assert_int_equal(put_s(r, key, val), RECENT_OK);
        assert_int_equal(recent_count(r), i < 4 ? (size_t)i + 1 : 4);
        assert_int_equal(recent_evicted(r), i < 4 ? 0 : (uint64_t)i - 3);
        assert_int_equal(recent_check(r), RECENT_OK);
    }
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(val, sizeof(val), "v%d", i);
        if (i < 6)
            assert_lacks_s(r, key);
        else
            assert_holds_s(r, key, val);
    }
    assert_int_equal(recent_bytes(r), 4 * 4);

    /* capacity 1: every new key replaces the last */
    recent_t *one = recent_new(1, 0);
    assert_int_equal(put_s(one, "a", "1"), RECENT_OK);
    assert_int_equal(put_s(one, "a", "2"), RECENT_OK);
    assert_int_equal(recent_evicted(one), 0);
    assert_int_equal(put_s(one, "b", "3"), RECENT_OK);
    assert_lacks_s(one, "a");
    assert_holds_s(one, "b", "3");
    assert_int_equal(recent_count(one), 1);
    assert_int_equal(recent_evicted(one), 1);
    assert_int_equal(recent_check(one), RECENT_OK);
    recent_free(one);
    recent_free(r);
}

static void test_evict_by_bytes_oldest_first(void **state) {
    (void)state;
    recent_t *r = recent_new(100, 20);
    assert_int_equal(put_s(r, "a", "1234"), RECENT_OK); /* 5 */
    assert_int_equal(put_s(r, "b", "1234"), RECENT_OK); /* 10 */
    assert_int_equal(put_s(r, "c", "1234"), RECENT_OK); /* 15 */
    assert_int_equal(put_s(r, "d", "1234"), RECENT_OK); /* 20: exactly the budget */
    assert_int_equal(recent_bytes(r), 20);
    assert_int_equal(recent_evicted(r), 0);
    assert_int_equal(put_s(r, "e", "1"), RECENT_OK); /* 22 -> drop a -> 17 */
    assert_int_equal(recent_evicted(r), 1);
    assert_int_equal(recent_bytes(r), 17);
    assert_lacks_s(r, "a");
    assert_holds_s(r, "b", "1234");
    /* one large entry pushes out several, oldest first: b, c (17+11 -> 18) */
    assert_int_equal(put_s(r, "f", "0123456789"), RECENT_OK);
    assert_int_equal(recent_evicted(r), 3);
    assert_int_equal(recent_bytes(r), 18);
    assert_lacks_s(r, "b");
    assert_lacks_s(r, "c");
    assert_holds_s(r, "d", "1234");
    assert_holds_s(r, "e", "1");
    assert_holds_s(r, "f", "0123456789");
    /* growing a value by replacing also evicts, but never the entry itself */
    assert_int_equal(put_s(r, "d", "0123456"), RECENT_OK); /* e 2 + f 11 + d 8 -> drop e */
    assert_int_equal(recent_evicted(r), 4);
    assert_int_equal(recent_bytes(r), 19);
    assert_lacks_s(r, "e");
    assert_holds_s(r, "f", "0123456789");
    assert_holds_s(r, "d", "0123456");
    /* an entry exactly the budget empties the map of everything else */
    assert_int_equal(put_s(r, "g", "0123456789012345678"), RECENT_OK);
    assert_int_equal(recent_count(r), 1);
    assert_int_equal(recent_bytes(r), 20);
    assert_int_equal(recent_evicted(r), 6);
    assert_holds_s(r, "g", "0123456789012345678");
    assert_int_equal(recent_check(r), RECENT_OK);
    recent_free(r);
}

/* One entry bigger than the whole budget is refused and changes nothing, not
 * even an old value of the same key. */
static void test_too_big_changes_nothing(void **state) {
    (void)state;
    recent_t *r = recent_new(10, 16);
    assert_int_equal(put_s(r, "a", "11"), RECENT_OK);
    assert_int_equal(put_s(r, "b", "22"), RECENT_OK);
    assert_int_equal(put_s(r, "c", "0123456789abcdefX"), RECENT_ERR); /* 18 > 16 */
    assert_int_equal(put_s(r, "a", "0123456789abcdef"), RECENT_ERR);  /* 17 > 16 */
    unsigned char big[16] = {0};
    assert_int_equal(recent_put(r, big, sizeof(big), "", 1), RECENT_ERR); /* key alone fits */
    assert_int_equal(recent_count(r), 2);
    assert_int_equal(recent_bytes(r), 6);
    assert_int_equal(recent_evicted(r), 0);
    assert_holds_s(r, "a", "11");
    assert_holds_s(r, "b", "22");
    assert_lacks_s(r, "c");
    assert_int_equal(recent_check(r), RECENT_OK);
    /* 16 exactly fits */
    assert_int_equal(recent_put(r, big, sizeof(big), NULL, 0), RECENT_OK);
    assert_int_equal(recent_count(r), 1);
    assert_int_equal(recent_evicted(r), 2);
    recent_free(r);
}

static void test_bad_put_args(void **state) {
    (void)state;
    recent_t *r = recent_new(4, 0);
    static unsigned char longkey[RECENT_MAX_KEY_LEN + 1];
    memset(longkey, 'k', sizeof(longkey));
    assert_int_equal(recent_put(NULL, "a", 1, "v", 1), RECENT_ERR);
    assert_int_equal(recent_put(r, NULL, 1, "v", 1), RECENT_ERR);
    assert_int_equal(recent_put(r, "a", 0, "v", 1), RECENT_ERR);
    assert_int_equal(recent_put(r, longkey, sizeof(longkey), "v", 1), RECENT_ERR);
    assert_int_equal(recent_put(r, "a", 1, NULL, 1), RECENT_ERR);
    /* a size that would overflow the entry's allocation */
    assert_int_equal(recent_put(r, "a", 1, "v", SIZE_MAX - 8), RECENT_ERR);
    assert_int_equal(recent_count(r), 0);
    assert_int_equal(recent_bytes(r), 0);
    /* the longest key is fine, and gets find it only with its full length */
    assert_int_equal(recent_put(r, longkey, RECENT_MAX_KEY_LEN, "v", 1), RECENT_OK);
    assert_holds(r, longkey, RECENT_MAX_KEY_LEN, "v", 1);
    assert_lacks(r, longkey, RECENT_MAX_KEY_LEN - 1);
    assert_lacks(r, longkey, RECENT_MAX_KEY_LEN + 1);
    assert_lacks(r, longkey, 0);
    assert_lacks(r, NULL, 1);
    assert_int_equal(recent_bytes(r), RECENT_MAX_KEY_LEN + 1);
    assert_int_equal(recent_check(r), RECENT_OK);
    recent_free(r);
}

/* Running out of memory changes nothing. A size malloc must refuse stands in
 * for a full heap; AddressSanitizer reports such a request instead of
 * returning NULL, so the case only runs without it. */
static void test_nomem_changes_nothing(void **state) {
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    skip();
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    skip();
#endif
#endif
    recent_t *r = recent_new(4, 0);
    assert_int_equal(put_s(r, "a", "1"), RECENT_OK);
    /* never read: malloc fails first */
    assert_int_equal(recent_put(r, "a", 1, "v", (size_t)PTRDIFF_MAX - 4096), RECENT_NOMEM);
    assert_int_equal(recent_put(r, "b", 1, "v", (size_t)PTRDIFF_MAX - 4096), RECENT_NOMEM);
    assert_int_equal(recent_count(r), 1);
    assert_int_equal(recent_bytes(r), 2);
    assert_holds_s(r, "a", "1");
    assert_lacks_s(r, "b");
    assert_int_equal(recent_check(r), RECENT_OK);
    recent_free(r);
}

/* An empty value is a value: found, length 0, a non-NULL pointer. */
static void test_empty_value(void **state) {
    (void)state;
    recent_t *r = recent_new(4, 0);
    assert_int_equal(recent_put(r, "a", 1, NULL, 0), RECENT_OK);
    assert_int_equal(recent_put(r, "b", 1, "ignored", 0), RECENT_OK);
    const void *v = NULL;
    size_t vlen = 99;
    assert_int_equal(recent_get(r, "a", 1, &v, &vlen), RECENT_OK);
    assert_non_null(v);
    assert_int_equal(vlen, 0);
    assert_holds(r, "b", 1, NULL, 0);
    assert_int_equal(recent_bytes(r), 2);
    assert_int_equal(recent_get(r, "a", 1, NULL, &vlen), RECENT_OK); /* either output alone */
    assert_int_equal(recent_get(r, "a", 1, &v, NULL), RECENT_OK);
    /* empty <-> non-empty by replacing */
    assert_int_equal(put_s(r, "a", "now"), RECENT_OK);
    assert_holds_s(r, "a", "now");
    assert_int_equal(recent_put(r, "a", 1, NULL, 0), RECENT_OK);
    assert_holds(r, "a", 1, NULL, 0);
    assert_int_equal(recent_bytes(r), 2);
    assert_int_equal(recent_check(r), RECENT_OK);
    recent_free(r);
}

/* Keys and values are bytes: NULs inside are part of them. */
static void test_binary_keys(void **state) {
    (void)state;
    recent_t *r = recent_new(16, 0);
    static const unsigned char k1[] = {'a', 0, 'b'}, k2[] = {'a', 0, 'c'}, k3[] = {0, 0, 0},
                               k4[] = {0xff, 0x00, 0x80, 0x7f};
    static const unsigned char v1[] = {0, 1, 2, 0}, v3[] = {0};
    assert_int_equal(recent_put(r, k1, 3, v1, 4), RECENT_OK);
    assert_int_equal(recent_put(r, k2, 3, "two", 3), RECENT_OK);
    assert_int_equal(recent_put(r, k3, 3, v3, 1), RECENT_OK);
    assert_int_equal(recent_put(r, k4, 4, "four", 4), RECENT_OK);
    assert_int_equal(put_s(r, "a", "plain a"), RECENT_OK); /* k1 up to its NUL */
    assert_int_equal(recent_count(r), 5);
    assert_holds(r, k1, 3, v1, 4);
    assert_holds(r, k2, 3, "two", 3);
    assert_holds(r, k3, 3, v3, 1);
    assert_holds(r, k4, 4, "four", 4);
    assert_holds_s(r, "a", "plain a");
    assert_lacks(r, k3, 2);
    assert_lacks(r, k3, 1);
    assert_int_equal(recent_del(r, k1, 3), RECENT_OK);
    assert_holds_s(r, "a", "plain a");
    assert_holds(r, k2, 3, "two", 3);
    assert_int_equal(recent_check(r), RECENT_OK);
    recent_free(r);
}

/* Keys that are prefixes of one another are different keys. */
static void test_keys_differ_only_in_length(void **state) {
    (void)state;
    recent_t *r = recent_new(64, 0);
    static const char buf[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    static const unsigned char zeros[17] = {0};
    char val[8];
    for (size_t n = 1; n <= 32; n++) {
        snprintf(val, sizeof(val), "%zu", n);
        assert_int_equal(recent_put(r, buf, n, val, strlen(val)), RECENT_OK);
    }
    for (size_t n = 1; n <= 16; n++) /* and runs of NULs: "\0", "\0\0", ... */
        assert_int_equal(recent_put(r, zeros, n, &n, sizeof(n)), RECENT_OK);
    assert_int_equal(recent_count(r), 48);
    for (size_t n = 1; n <= 32; n++) {
        snprintf(val, sizeof(val), "%zu", n);
        assert_holds(r, buf, n, val, strlen(val));
    }
    for (size_t n = 1; n <= 16; n++) assert_holds(r, zeros, n, &n, sizeof(n));
    assert_lacks(r, buf, 33);
    assert_lacks(r, zeros, 17);
    assert_int_equal(recent_del(r, buf, 10), RECENT_OK);
    assert_lacks(r, buf, 10);
    assert_holds(r, buf, 9, "9", 1);
    assert_holds(r, buf, 11, "11", 2);
    assert_int_equal(recent_check(r), RECENT_OK);
    recent_free(r);
}

/* The value given to put may point into the map itself (what a get lent),
 * even into the entry being replaced. */
static void test_value_from_the_map(void **state) {
    (void)state;
    recent_t *r = recent_new(2, 0);
    assert_int_equal(put_s(r, "a", "hello"), RECENT_OK);
    const void *v;
    size_t vlen;
    assert_int_equal(recent_get(r, "a", 1, &v, &vlen), RECENT_OK);
    assert_int_equal(recent_put(r, "a", 1, v, vlen), RECENT_OK); /* itself */
    assert_holds_s(r, "a", "hello");
    assert_int_equal(recent_get(r, "a", 1, &v, &vlen), RECENT_OK);
    assert_int_equal(recent_put(r, "a", 1, (const char *)v + 1, vlen - 1), RECENT_OK);
    assert_holds_s(r, "a", "ello");
    assert_int_equal(put_s(r, "b", "x"), RECENT_OK);
    /* the source is the oldest entry, which this put evicts */
    assert_int_equal(recent_get(r, "a", 1, &v, &vlen), RECENT_OK);
    assert_int_equal(recent_put(r, "c", 1, v, vlen), RECENT_OK);
    assert_lacks_s(r, "a");
    assert_holds_s(r, "c", "ello");
    assert_int_equal(recent_check(r), RECENT_OK);
    recent_free(r);
}

/* FNV-1a 64, the published function; expected values computed separately
 * (python3; "a" and "foobar" are also in the FNV reference test suite). */
static void test_hash64_vectors(void **state) {
    (void)state;
    assert_true(recent_hash64("", 0) == 0xcbf29ce484222325ULL);
    assert_true(recent_hash64(NULL, 0) == 0xcbf29ce484222325ULL);
    assert_true(recent_hash64("a", 1) == 0xaf63dc4c8601ec8cULL);
    assert_true(recent_hash64("foobar", 6) == 0x85944171f73967e8ULL);
    static const char fox[] = "The quick brown fox jumps over the lazy dog";
    assert_true(recent_hash64(fox, sizeof(fox) - 1) == 0xf3f9b7f5e7e47110ULL);
    assert_true(recent_hash64("a\0b", 3) == 0xe5d29919042666b2ULL);
    static const char body[] = "{\"sku\":\"A-1\",\"qty\":2}";
    assert_true(recent_hash64(body, sizeof(body) - 1) == 0xafe8975b3a523ef3ULL);
}

/* ---- random runs against a model ---- */

#define MAX_K 16
#define MAX_V 48

typedef struct {
    unsigned char key[MAX_K];
    size_t klen;
    unsigned char val[MAX_V];
    size_t vlen;
} model_entry;

/* The entries oldest first, exactly what the map should hold. */
typedef struct {
    model_entry *e;
    size_t n, cap, max_bytes, bytes;
    uint64_t evicted;
} model;

static long model_find(const model *m, const unsigned char *key, size_t klen) {
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].klen == klen && memcmp(m->e[i].key, key, klen) == 0) return (long)i;
    return -1;
}

static void model_remove(model *m, size_t i) {
    m->bytes -= m->e[i].klen + m->e[i].vlen;
    memmove(&m->e[i], &m->e[i + 1], (m->n - i - 1) * sizeof(m->e[0]));
    m->n--;
}

/* The expected result of a put, applied to the model. */
static int model_put(model *m, const unsigned char *key, size_t klen, const unsigned char *val,
                     size_t vlen) {
    if (m->max_bytes && klen + vlen > m->max_bytes) return RECENT_ERR;
    long i = model_find(m, key, klen);
    if (i >= 0) model_remove(m, (size_t)i);
    model_entry *e = &m->e[m->n++];
    memcpy(e->key, key, klen);
    e->klen = klen;
    memcpy(e->val, val, vlen);
    e->vlen = vlen;
    m->bytes += klen + vlen;
    while (m->n > m->cap || (m->max_bytes && m->bytes > m->max_bytes)) {
        model_remove(m, 0);
        m->evicted++;
    }
    return RECENT_OK;
}

/* Key number k of a pool: lengths 1..13, content from k / 13 padded with
 * NULs, so many keys differ only in length or only in a NUL. */
static size_t make_key(unsigned char key[MAX_K], uint32_t k) {
    size_t klen = 1 + k % 13;
    uint32_t base = k / 13;
    memset(key, 0, MAX_K);
    for (size_t i = 0; i < 4 && i < klen; i++) key[i] = (unsigned char)(base >> (8 * i));
    return klen;
}

static void model_compare_all(const model *m, const recent_t *r) {
    assert_int_equal(recent_check(r), RECENT_OK);
    assert_int_equal(recent_count(r), m->n);
    assert_int_equal(recent_bytes(r), m->bytes);
    assert_int_equal(recent_evicted(r), m->evicted);
    for (size_t i = 0; i < m->n; i++)
        assert_holds(r, m->e[i].key, m->e[i].klen, m->e[i].val, m->e[i].vlen);
}

/* steps random puts (55%), gets (30%) and dels (15%) with keys from a pool of
 * pool keys and values of 0..vmax bytes, on a map of capacity and max_bytes. */
static void random_run(uint64_t seed, size_t capacity, size_t max_bytes, uint32_t pool,
                       size_t vmax, int steps) {
    assert_true(vmax <= MAX_V);
    recent_t *r = recent_new(capacity, max_bytes);
    assert_non_null(r);
    model m = {calloc(capacity + 1, sizeof(model_entry)), 0, capacity, max_bytes, 0, 0};
    rng g = {seed};
    size_t n_replace = 0, n_err = 0, n_hit = 0, n_miss = 0, n_del = 0;

    for (int step = 0; step < steps; step++) {
        uint32_t op = rng_below(&g, 100);
        unsigned char key[MAX_K], val[MAX_V];
        size_t klen = make_key(key, rng_below(&g, pool));
        if (op < 55) {
            size_t vlen = rng_below(&g, (uint32_t)vmax + 1);
            for (size_t i = 0; i < vlen; i++) val[i] = (unsigned char)rng_next(&g);
            n_replace += model_find(&m, key, klen) >= 0;
            int want = model_put(&m, key, klen, val, vlen);
            n_err += want == RECENT_ERR;
            assert_int_equal(recent_put(r, key, klen, val, vlen), want);
        } else if (op < 85) {
            long i = model_find(&m, key, klen);
            if (i >= 0) {
                assert_holds(r, key, klen, m.e[i].val, m.e[i].vlen);
                n_hit++;
            } else {
                assert_lacks(r, key, klen);
                n_miss++;
            }
        } else {
            long i = model_find(&m, key, klen);
            assert_int_equal(recent_del(r, key, klen), i >= 0 ? RECENT_OK : RECENT_NOT_FOUND);
            if (i >= 0) {
                model_remove(&m, (size_t)i);
                n_del++;
            }
        }
        assert_int_equal(recent_count(r), m.n);
        assert_int_equal(recent_bytes(r), m.bytes);
        assert_int_equal(recent_evicted(r), m.evicted);
        if (step % 64 == 63) model_compare_all(&m, r);
    }
    model_compare_all(&m, r);
    /* every path was taken (ERR only where the budget is below the largest entry) */
    int err_possible = max_bytes && max_bytes < 13 + vmax;
    if (!(m.evicted && n_replace && n_hit && n_miss && n_del && (n_err > 0) == err_possible))
        fail_msg("seed %#llx: a path was not taken: evicted %llu replace %zu hit %zu miss %zu "
                 "del %zu err %zu", (unsigned long long)seed, (unsigned long long)m.evicted,
                 n_replace, n_hit, n_miss, n_del, n_err);
    free(m.e);
    recent_free(r);
}

static void test_random_against_model(void **state) {
    (void)state;
    random_run(0x9e3779b97f4a7c15ULL, 8, 0, 40, 16, 20000);      /* count bound */
    random_run(0x0123456789abcdefULL, 1, 0, 3, 4, 5000);         /* capacity 1 */
    random_run(0xfeedfacecafebeefULL, 64, 400, 200, 40, 20000);  /* byte bound */
    random_run(42, 10, 30, 60, 40, 10000);                       /* entries too big */
    random_run(7, 300, 3000, 1500, 30, 20000);                   /* both bounds */
    random_run(0xdeadbeefULL, 1000, 0, 4000, 8, 30000);          /* big table churn */
}

/* Many more keys than room: everything but the newest capacity is gone,
 * and the count of evictions says so. */
static void test_many_keys_through_a_large_map(void **state) {
    (void)state;
    enum { CAP = 1 << 14, N = 10 * CAP };
    recent_t *r = recent_new(CAP, 0);
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(recent_put(r, &i, sizeof(i), &i, sizeof(i)), RECENT_OK);
    assert_int_equal(recent_count(r), CAP);
    assert_int_equal(recent_evicted(r), N - CAP);
    assert_int_equal(recent_bytes(r), (size_t)CAP * 8);
    assert_int_equal(recent_check(r), RECENT_OK);
    for (uint32_t i = 0; i < N; i++) {
        if (i < N - CAP)
            assert_lacks(r, &i, sizeof(i));
        else
            assert_holds(r, &i, sizeof(i), &i, sizeof(i));
    }
    recent_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_rejects_bad_args),
        cmocka_unit_test(test_put_get_replace),
        cmocka_unit_test(test_replace_becomes_newest),
        cmocka_unit_test(test_get_does_not_refresh),
        cmocka_unit_test(test_del),
        cmocka_unit_test(test_evict_by_count_oldest_first),
        cmocka_unit_test(test_evict_by_bytes_oldest_first),
        cmocka_unit_test(test_too_big_changes_nothing),
        cmocka_unit_test(test_bad_put_args),
        cmocka_unit_test(test_nomem_changes_nothing),
        cmocka_unit_test(test_empty_value),
        cmocka_unit_test(test_binary_keys),
        cmocka_unit_test(test_keys_differ_only_in_length),
        cmocka_unit_test(test_value_from_the_map),
        cmocka_unit_test(test_hash64_vectors),
        cmocka_unit_test(test_random_against_model),
        cmocka_unit_test(test_many_keys_through_a_large_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
