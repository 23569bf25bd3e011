/* test_callback: gateway/callback.c without a network: the callbackUrl
 * check (URL syntax, the host allow-list with wildcards, ports, IPv6
 * literals and case), the body surgery that takes callbackUrl out, the
 * signature against vectors computed independently with
 *   printf '%s' '<t>.<body>' | openssl dgst -sha256 -hmac '<secret>'
 * the backoff schedule, and the bounded delivery queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/callback.h"

static int check(const char *url, const char *hosts) {
    char why[256] = "";
    return callback_check_url(url, hosts, why, sizeof(why));
}

static void test_url_syntax(void **state) {
    (void)state;
    callback_url u;
    char why[256];
    assert_int_equal(callback_url_parse("https://Hooks.Example.COM/orders?x=1", &u, why,
                                        sizeof(why)),
                     CALLBACK_OK);
    assert_true(u.https);
    assert_string_equal(u.host, "hooks.example.com");
    assert_int_equal(u.port, 443);
    assert_int_equal(callback_url_parse("HTTP://127.0.0.1:8081", &u, why, sizeof(why)),
                     CALLBACK_OK);
    assert_false(u.https);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 8081);
    assert_int_equal(callback_url_parse("http://[::1]:9000/cb", &u, why, sizeof(why)),
                     CALLBACK_OK);
    assert_true(u.ipv6);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 9000);
    assert_int_equal(callback_url_parse("http://[2001:DB8::1]/", &u, why, sizeof(why)),
                     CALLBACK_OK);
    assert_string_equal(u.host, "2001:db8::1");
    assert_int_equal(u.port, 80);

    static const struct {
        const char *url, *says;
    } bad[] = {
        {"", "empty"},
        {"ftp://example.com/", "http:// or https://"},
        {"//example.com/", "http:// or https://"},
        {"example.com/hook", "http:// or https://"},
        {"https://user:pw@example.com/", "user information"},
        {"https://example.com@evil.com/", "user information"},
        {"https://example.com/hook#frag", "fragment"},
        {"https://example.com/a b", "space"},
        {"https://example.com/\xc3\xa9", "non-ASCII"},
        {"https:///path", "no host"},
        {"https://:443/", "no host"},
        {"https://example.com:0/", "port"},
        {"https://example.com:65536/", "port"},
        {"https://example.com:/", "port"},
        {"https://example.com:8x/", "port"},
        {"https://exa$mple.com/", "character not allowed"},
        {"https://[::1/", "without its ]"},
        {"https://[zz::1]/", "invalid IPv6"},
        {"https://[::1]x/", "after its IPv6"},
        {"https://example.com\\@evil.com/", "backslash"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        int rc = callback_url_parse(bad[i].url, &u, why, sizeof(why));
        if (rc != CALLBACK_BAD_URL || !strstr(why, bad[i].says))
            fail_msg("%s: rc %d, why \"%s\", wanted \"%s\"", bad[i].url, rc, why, bad[i].says);
    }
    /* the length bound: 2048 is fine, 2049 is not */
    char *url = malloc(CALLBACK_URL_MAX + 2);
    assert_non_null(url);
    memset(url, 'a', CALLBACK_URL_MAX + 1);
    memcpy(url, "https://example.com/", 20);
    url[CALLBACK_URL_MAX] = '\0';
    assert_int_equal(callback_url_parse(url, &u, why, sizeof(why)), CALLBACK_OK);
    url[CALLBACK_URL_MAX] = 'a';
    url[CALLBACK_URL_MAX + 1] = '\0';
    assert_int_equal(callback_url_parse(url, &u, why, sizeof(why)), CALLBACK_BAD_URL);
    assert_non_null(strstr(why, "2049"));
    free(url);
}

static void test_allow_list(void **state) {
    (void)state;
    const char *hosts = " hooks.example.com , *.partner.test,127.0.0.1:8081, [::1]:9000,"
                        "[2001:db8::1], Upper.Example.ORG:443";
    char why[256];
    assert_int_equal(callback_hosts_check(hosts, why, sizeof(why)), CALLBACK_OK);
    /* exact host, any port, any case */
    assert_int_equal(check("https://hooks.example.com/x", hosts), CALLBACK_OK);
    assert_int_equal(check("http://HOOKS.example.com:8443/x", hosts), CALLBACK_OK);
    assert_int_equal(check("https://evil.hooks.example.com/", hosts), CALLBACK_HOST_DENIED);
    assert_int_equal(check("https://hooks.example.com.evil.net/", hosts), CALLBACK_HOST_DENIED);
    /* wildcard: names under the domain, not the domain itself */
    assert_int_equal(check("https://a.partner.test/", hosts), CALLBACK_OK);
    assert_int_equal(check("https://a.b.PARTNER.test/", hosts), CALLBACK_OK);
    assert_int_equal(check("https://partner.test/", hosts), CALLBACK_HOST_DENIED);
    assert_int_equal(check("https://evilpartner.test/", hosts), CALLBACK_HOST_DENIED);
    /* host:port: that port only; the default ports count */
    assert_int_equal(check("http://127.0.0.1:8081/cb", hosts), CALLBACK_OK);
    assert_int_equal(check("http://127.0.0.1:8082/cb", hosts), CALLBACK_HOST_DENIED);
    assert_int_equal(check("http://127.0.0.1/cb", hosts), CALLBACK_HOST_DENIED);
    assert_int_equal(check("https://upper.example.org/", hosts), CALLBACK_OK);
    assert_int_equal(check("http://upper.example.org/", hosts), CALLBACK_HOST_DENIED);
    /* IPv6 literals compared as addresses */
    assert_int_equal(check("http://[::1]:9000/", hosts), CALLBACK_OK);
    assert_int_equal(check("http://[0:0:0:0:0:0:0:1]:9000/", hosts), CALLBACK_OK);
    assert_int_equal(check("http://[::1]:9001/", hosts), CALLBACK_HOST_DENIED);
    assert_int_equal(check("https://[2001:db8:0::1]/", hosts), CALLBACK_OK);
    assert_int_equal(check("https://[2001:db8::2]/", hosts), CALLBACK_HOST_DENIED);
    /* the denial names the host and the setting */
    assert_int_equal(callback_check_url("https://evil.net:444/", hosts, why, sizeof(why)),
                     CALLBACK_HOST_DENIED);
    assert_non_null(strstr(why, "evil.net"));
    assert_non_null(strstr(why, "gateway.callback_hosts"));
    /* "*" allows any host; empty (or blank) disables */
    assert_int_equal(check("https://anything.example/", "*"), CALLBACK_OK);
    assert_int_equal(check("https://anything.example/", ""), CALLBACK_DISABLED);
    assert_int_equal(check("https://anything.example/", " , "), CALLBACK_DISABLED);
    assert_int_equal(callback_check_url("https://x/", "", why, sizeof(why)), CALLBACK_DISABLED);
    assert_non_null(strstr(why, "gateway.callback_hosts is empty"));
    /* a bad URL is bad whatever the list */
    assert_int_equal(check("ftp://hooks.example.com/", hosts), CALLBACK_BAD_URL);
    /* bad patterns are named */
    static const char *const bad[] = {"host:0", "host:x", "[::1", "[nope]", "*.", "a b",
                                      "ok.example, bad/host"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        if (callback_hosts_check(bad[i], why, sizeof(why)) != CALLBACK_ERR ||
            !strstr(why, "gateway.callback_hosts"))
            fail_msg("pattern \"%s\" accepted (%s)", bad[i], why);
    }
}

static void test_take_url(void **state) {
    (void)state;
    char *url, *rest, why[256];
    size_t len;
    /* none: nothing done */
    const char *plain = "{\"customerId\":\"c\",\"items\":[]}";
    assert_int_equal(callback_take_url(plain, strlen(plain), &url, &rest, &len, why, sizeof(why)),
                     CALLBACK_OK);
    assert_null(url);
    assert_null(rest);
    /* taken out; the rest as it was, member order and values kept */
    const char *with = "{\"customerId\":\"c-\\u00e9\",\"callbackUrl\":\"https://h.test/cb?a=1\","
                       "\"items\":[{\"sku\":\"S\",\"quantity\":2,\"unitPrice\":\"899\"}],"
                       "\"placedAtMs\":1700000000123}";
    assert_int_equal(callback_take_url(with, strlen(with), &url, &rest, &len, why, sizeof(why)),
                     CALLBACK_OK);
    assert_string_equal(url, "https://h.test/cb?a=1");
    assert_string_equal(rest, "{\"customerId\":\"c-\xc3\xa9\",\"items\":[{\"sku\":\"S\","
                              "\"quantity\":2,\"unitPrice\":\"899\"}],"
                              "\"placedAtMs\":1700000000123}");
    assert_int_equal(len, strlen(rest));
    free(url);
    free(rest);
    /* null: taken out, no URL */
    const char *null = "{\"callbackUrl\":null,\"customerId\":\"c\"}";
    assert_int_equal(callback_take_url(null, strlen(null), &url, &rest, &len, why, sizeof(why)),
                     CALLBACK_OK);
    assert_null(url);
    assert_string_equal(rest, "{\"customerId\":\"c\"}");
    free(rest);
    /* not a string */
    const char *num = "{\"callbackUrl\":42}";
    assert_int_equal(callback_take_url(num, strlen(num), &url, &rest, &len, why, sizeof(why)),
                     CALLBACK_BAD_URL);
    assert_non_null(strstr(why, "expected a string"));
    /* malformed, duplicated or nested: left to the order parser */
    static const char *const left[] = {"{\"callbackUrl\":\"x\"", "[\"callbackUrl\"]",
                                       "{\"callbackUrl\":\"a\",\"callbackUrl\":\"b\"}",
                                       "{\"items\":[{\"callbackUrl\":\"x\"}]}"};
    for (size_t i = 0; i < sizeof(left) / sizeof(left[0]); i++) {
        assert_int_equal(callback_take_url(left[i], strlen(left[i]), &url, &rest, &len, why,
                                           sizeof(why)),
                         CALLBACK_OK);
        assert_null(url);
        assert_null(rest);
    }
}

static void test_signature(void **state) {
    (void)state;
    char sig[CALLBACK_SIGNATURE_MAX];
    const char *body = "{\"orderId\":\"o-1\",\"status\":\"ORDER_STATUS_FULFILLED\"}";
    const char *secret = "whsec_test_5ecret";
    assert_int_equal(callback_sign(secret, strlen(secret), 1700000000, body, strlen(body), sig),
                     CALLBACK_OK);
    assert_string_equal(
        sig, "t=1700000000,v1=d0b0e9aaeb3a7030df55abf199a79094e67381b7388b5f9582f1931edd3f2ab1");
    /* an empty body signs "<t>." */
    assert_int_equal(callback_sign("k", 1, 0, "", 0, sig), CALLBACK_OK);
    assert_string_equal(
        sig, "t=0,v1=6b4a4b8b3c40f1e8f53a3d36682e5f99f7ad2ac1df1c93dfe336f329167641e7");
    /* another time, another signature */
    char other[CALLBACK_SIGNATURE_MAX];
    assert_int_equal(callback_sign(secret, strlen(secret), 1700000000, body, strlen(body), sig),
                     CALLBACK_OK);
    assert_int_equal(callback_sign(secret, strlen(secret), 1700000001, body, strlen(body), other),
                     CALLBACK_OK);
    assert_string_not_equal(strstr(sig, "v1="), strstr(other, "v1="));
    /* another secret, another signature */
    assert_int_equal(callback_sign("other", 5, 1700000000, body, strlen(body), other),
                     CALLBACK_OK);
    assert_string_not_equal(sig, other);
}

static void test_backoff(void **state) {
    (void)state;
    /* equal jitter: [d/2, d] with d = 1 s, 2 s, 4 s ..., capped at 5 min */
    static const int64_t d[] = {1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000,
                                300000, 300000};
    for (int n = 1; n <= 11; n++) {
        int64_t lo = callback_backoff_ms(n, 0), hi = callback_backoff_ms(n, UINT64_MAX - 0);
        assert_int_equal(lo, d[n - 1] / 2);
        for (uint64_t r = 0; r < 2000; r += 7) {
            int64_t v = callback_backoff_ms(n, r * 0x9e3779b97f4a7c15ULL);
            if (v < d[n - 1] / 2 || v > d[n - 1]) fail_msg("retry %d: %lld", n, (long long)v);
        }
        assert_true(hi >= d[n - 1] / 2 && hi <= d[n - 1]);
    }
    assert_int_equal(callback_backoff_ms(1000, 0), CALLBACK_BACKOFF_CAP_MS / 2);
    assert_int_equal(callback_backoff_ms(0, 0), CALLBACK_BACKOFF_BASE_MS / 2);
}

static callback_delivery *delivery(const char *id, int64_t due) {
    callback_delivery *d =
        callback_delivery_new(id, "http://h.test/", NULL, "{}", 2);
    assert_non_null(d);
    d->due_ms = due;
    return d;
}

static void test_queue(void **state) {
    (void)state;
    callback_queue *q = callback_queue_new(3);
    assert_non_null(q);
    assert_null(callback_queue_push(q, delivery("a", 300)));
    assert_null(callback_queue_push(q, delivery("b", 100)));
    assert_null(callback_queue_push(q, delivery("c", 200)));
    assert_int_equal(callback_queue_len(q), 3);
    /* full: the oldest waiting one (a, enqueued first) makes room */
    callback_delivery *out = callback_queue_push(q, delivery("d", 50));
    assert_non_null(out);
    assert_string_equal(out->order_id, "a");
    callback_delivery_free(out);
    assert_int_equal(callback_queue_len(q), 3);
    /* due order, not enqueue order; nothing before it is due */
    int64_t next = 0;
    assert_null(callback_queue_pop_due(q, 49, &next));
    assert_int_equal(next, 50);
    out = callback_queue_pop_due(q, 1000, &next);
    assert_string_equal(out->order_id, "d");
    assert_int_equal(next, 100);
    /* a retry keeps its place in age: pushed back into a full queue as the
     * oldest, it is the one dropped */
    assert_null(callback_queue_push(q, delivery("e", 10)));
    out->due_ms = 5;
    callback_delivery *b = callback_queue_pop_due(q, 10, NULL); /* e */
    assert_string_equal(b->order_id, "e");
    assert_null(callback_queue_push(q, b));
    callback_delivery *dropped = callback_queue_push(q, delivery("f", 1));
    assert_non_null(dropped);
    assert_string_equal(dropped->order_id, "b");
    callback_delivery_free(dropped);
    dropped = callback_queue_push(q, out); /* d (seq 4) back: c (seq 3) is older */
    assert_non_null(dropped);
    assert_string_equal(dropped->order_id, "c");
    callback_delivery_free(dropped);
    const char *want[] = {"f", "d", "e"};
    for (int i = 0; i < 3; i++) {
        out = callback_queue_pop_due(q, 1000, &next);
        assert_non_null(out);
        assert_string_equal(out->order_id, want[i]);
        callback_delivery_free(out);
    }
    assert_null(callback_queue_pop_due(q, 1000, &next));
    assert_int_equal(next, -1);
    callback_queue_free(q);
    /* a retry pushed back as the oldest of a full queue is itself dropped */
    q = callback_queue_new(2);
    assert_null(callback_queue_push(q, delivery("x", 1)));
    assert_null(callback_queue_push(q, delivery("y", 2)));
    callback_delivery *x = callback_queue_pop_due(q, 1, NULL);
    assert_string_equal(x->order_id, "x");
    assert_null(callback_queue_push(q, delivery("z", 3)));
    assert_ptr_equal(callback_queue_push(q, x), x);
    callback_delivery_free(x);
    assert_int_equal(callback_queue_len(q), 2);
    /* the bound holds under a long run, oldest out first */
    callback_queue_free(q);
    q = callback_queue_new(100);
    uint64_t dropped_n = 0;
    for (int i = 0; i < 1000; i++) {
        char id[16];
        snprintf(id, sizeof(id), "o%d", i);
        callback_delivery *v = callback_queue_push(q, delivery(id, (i * 7919) % 1000));
        if (v) {
            char want_id[16];
            snprintf(want_id, sizeof(want_id), "o%llu", (unsigned long long)dropped_n);
            assert_string_equal(v->order_id, want_id);
            callback_delivery_free(v);
            dropped_n++;
        }
        assert_true(callback_queue_len(q) <= 100);
    }
    assert_int_equal(dropped_n, 900);
    callback_queue_free(q);
}

static void test_delivery_ids(void **state) {
    (void)state;
    callback_delivery *a = callback_delivery_new("o", "http://h/", NULL, "{}", 2);
    callback_delivery *b = callback_delivery_new(
        "o", "http://h/", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "{}", 2);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(strlen(a->delivery_id), 36);
    assert_string_not_equal(a->delivery_id, b->delivery_id);
    assert_string_equal(b->traceparent,
                        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    assert_int_equal(strlen(a->traceparent), TRACE_PARENT_LEN);
    callback_delivery_free(a);
    callback_delivery_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_syntax),   cmocka_unit_test(test_allow_list),
        cmocka_unit_test(test_take_url),     cmocka_unit_test(test_signature),
        cmocka_unit_test(test_backoff),      cmocka_unit_test(test_queue),
        cmocka_unit_test(test_delivery_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
