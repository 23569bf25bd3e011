/* gateway/auth: the API key file (errors name the file and line), scopes,
 * the presented key (Bearer and X-API-Key), the constant-time compare, and
 * the verdicts 401/403/allowed; gateway/limits: request deadlines. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "gateway/auth.h"
#include "gateway/limits.h"

/* SHA-256("test") and SHA-256("reader-key") */
#define HASH_TEST "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

static void hash_of(const char *key, char *out) {
    assert_int_equal(auth_hash_text(key, strlen(key), out), AUTH_OK);

}

static auth_t *parse(const char *text, char *err, size_t size) {
    err[0] = '\0';
    return auth_parse(text, strlen(text), "keys.txt", err, size);
}

static void test_hash_text(void **state) {
    (void)state;
    char out[AUTH_HASH_TEXT_LEN];
    hash_of("test", out);
    assert_string_equal(out, HASH_TEST);
    hash_of("", out); /* the empty string's well-known digest */
    assert_string_equal(
        out, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_parse_good(void **state) {
    (void)state;
    char err[256], reader[AUTH_HASH_TEXT_LEN], text[1024];
    hash_of("reader-key", reader);
    snprintf(text, sizeof(text),
             "# API keys of the shop\n"
             "\n"
             "shop   orders:write,orders:read  " HASH_TEST "   # the web shop\r\n"
             "\t reporting orders:read %s\n"
             "   # indented comment\n",
             reader);
    auth_t *a = parse(text, err, sizeof(err));
    assert_non_null(a);
    assert_int_equal(auth_count(a), 2);
    const char *name;
    assert_int_equal(auth_check(a, AUTH_SCOPE_ORDERS_WRITE, "test", 4, &name), AUTH_ALLOWED);
    assert_string_equal(name, "shop");
    assert_int_equal(auth_check(a, AUTH_SCOPE_ORDERS_READ, "reader-key", 10, &name),
                     AUTH_ALLOWED);
    assert_string_equal(name, "reporting");
    /* a known key without the scope: 403, and its name for the message */
    assert_int_equal(auth_check(a, AUTH_SCOPE_ORDERS_WRITE, "reader-key", 10, &name),
                     AUTH_FORBIDDEN);
    assert_string_equal(name, "reporting");
    /* unknown, none, a prefix of a key, the key with a byte more: 401 */
    assert_int_equal(auth_check(a, AUTH_SCOPE_ORDERS_READ, "nope", 4, &name),
                     AUTH_UNAUTHENTICATED);
    assert_null(name);
    assert_int_equal(auth_check(a, AUTH_SCOPE_ORDERS_READ, NULL, 0, &name),
                     AUTH_UNAUTHENTICATED);
    assert_int_equal(auth_check(a, AUTH_SCOPE_ORDERS_READ, "tes", 3, &name),
                     AUTH_UNAUTHENTICATED);
    assert_int_equal(auth_check(a, AUTH_SCOPE_ORDERS_READ, "testt", 5, &name),
                     AUTH_UNAUTHENTICATED);
    /* an open path needs nothing, even without a key */
    assert_int_equal(auth_check(a, 0, NULL, 0, &name), AUTH_ALLOWED);
    auth_free(a);
    /* no key file: open access */
    assert_int_equal(auth_check(NULL, AUTH_SCOPE_ORDERS_WRITE, NULL, 0, &name), AUTH_ALLOWED);
}

/* Each broken file fails with "keys.txt:<line>:" and what is wrong. */
static void test_parse_errors(void **state) {
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"a orders:read\n", "keys.txt:1: expected 3 fields"},
        {"# c\na orders:read " HASH_TEST " extra\n", "keys.txt:2: expected 3 fields"},
        {"a orders:delete " HASH_TEST "\n",
         "keys.txt:1: key \"a\": unknown scope \"orders:delete\""},
        {"a orders:read, " HASH_TEST "\n", "keys.txt:1: key \"a\": unknown scope \"\""},
        {"a orders:read md5:abcd\n", "keys.txt:1: key \"a\": the third field must be sha256:"},
        {"a orders:read sha256:9f86\n", "keys.txt:1: key \"a\": the third field must be sha256:"},
        {"a orders:read "
         "sha256:zz86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n",
         "keys.txt:1: key \"a\": the hash holds a non-hex character"},
        {"b/c orders:read " HASH_TEST "\n", "keys.txt:1: key name \"b/c\": only letters"},
        {"a orders:read " HASH_TEST "\na orders:write " HASH_TEST "\n",
         "keys.txt:2: key name \"a\" is used twice"},
        {"a orders:read " HASH_TEST "\nb orders:write " HASH_TEST "\n",
         "keys.txt:2: key \"b\" has the same hash as key \"a\""},
        {"# only a comment\n\n", "keys.txt: no API key in the file"},
        {"", "keys.txt: no API key in the file"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[512];
        auth_t *a = parse(cases[i].text, err, sizeof(err));
        if (a || strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("case %zu: got \"%s\", want a message starting \"%s\"", i, err,
                     cases[i].want);
        /* never the hash itself in a message */
        assert_null(strstr(err, "9f86d081884c"));
    }
}

static void test_load_file(void **state) {
    (void)state;
    char path[] = "/tmp/test_auth_XXXXXX", err[512];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "shop orders:write " HASH_TEST "\nbad line\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_null(auth_load(path, err, sizeof(err)));
    char want[128];
    snprintf(want, sizeof(want), "%s:2: expected 3 fields", path);
    assert_memory_equal(err, want, strlen(want));
    unlink(path);
    assert_null(auth_load(path, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot open the API key file: No such file"));
}

static void test_scopes(void **state) {
    (void)state;
    assert_int_equal(auth_scope_for("/v1/orders"), AUTH_SCOPE_ORDERS_WRITE);
    assert_int_equal(auth_scope_for("/v1/orders/o-1"), AUTH_SCOPE_ORDERS_READ);
    assert_int_equal(auth_scope_for("/v1/orders/o-1/events"), AUTH_SCOPE_ORDERS_READ);
    assert_int_equal(auth_scope_for("/v1/fleet"), AUTH_SCOPE_ORDERS_READ);
    assert_int_equal(auth_scope_for("/v1/anything-later"), AUTH_SCOPE_ORDERS_READ);
    assert_int_equal(auth_scope_for("/"), 0);
    assert_int_equal(auth_scope_for("/page/app.js"), 0);
    assert_int_equal(auth_scope_for("/healthz"), 0);
    assert_int_equal(auth_scope_for("/readyz"), 0);
    assert_int_equal(auth_scope_for("/v1orders"), 0);
    assert_string_equal(auth_scope_name(AUTH_SCOPE_ORDERS_WRITE), "orders:write");
    assert_string_equal(auth_scope_name(AUTH_SCOPE_ORDERS_READ), "orders:read");
}

static void presented(const char *authz, const char *xkey, const char *want) {
    const char *k = NULL;
    size_t len = 0;
    int got = auth_presented(authz, xkey, &k, &len);
    if (!want) {
        if (got) fail_msg("%s / %s: want no key, got \"%.*s\"", authz, xkey, (int)len, k);
        return;
    }
    if (!got || len != strlen(want) || memcmp(k, want, len) != 0)
        fail_msg("%s / %s: want \"%s\", got %d \"%.*s\"", authz, xkey, want, got,
                 got ? (int)len : 0, got ? k : "");
}

static void test_presented(void **state) {
    (void)state;
    presented("Bearer abc", NULL, "abc");
    presented("bearer   abc  ", NULL, "abc");
    presented("BEARER\tabc", NULL, "abc");
    presented(" Bearer abc", "xyz", "abc"); /* Bearer first */
    presented(NULL, "xyz", "xyz");
    presented(NULL, "  xyz\t", "xyz");
    presented("Basic dXNlcjpwdw==", "xyz", "xyz"); /* another scheme: X-API-Key */
    presented("Basic dXNlcjpwdw==", NULL, NULL);
    presented("Bearer", NULL, NULL);
    presented("Bearer    ", NULL, NULL);
    presented("Bearerabc", NULL, NULL);
    presented(NULL, "", NULL);
    presented(NULL, NULL, NULL);
    char big[AUTH_KEY_MAX + 2];
    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    presented(NULL, big, NULL); /* longer than AUTH_KEY_MAX */
    big[AUTH_KEY_MAX] = '\0';
    presented(NULL, big, big);
}

static void test_equal(void **state) {
    (void)state;
    unsigned char a[AUTH_DIGEST_LEN], b[AUTH_DIGEST_LEN];
    for (size_t i = 0; i < sizeof(a); i++) a[i] = b[i] = (unsigned char)(i * 7);
    assert_true(auth_equal(a, b, sizeof(a)));
    for (size_t i = 0; i < sizeof(a); i++) { /* a difference anywhere, first to last byte */
        b[i] ^= 0x80;
        assert_false(auth_equal(a, b, sizeof(a)));
        b[i] ^= 0x80;
    }
    assert_true(auth_equal(a, b, 0));
}

/* limits: a connection past its deadline is cut (its socket shut down),
 * one whose request arrived whole is not, and the next deadline is
 * reported; in the body phase it is answered 408 first and cut after the
 * grace, and what it still sends is not served; beyond max_connections a
 * connection is answered 503 and never served. */
static void test_limits(void **state) {
    (void)state;
    int head[2], body[2], in[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, head), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, body), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, in), 0);
    limits_t *l = limits_new(1000, 3);
    assert_non_null(l);
    int64_t t0 = 1000000000;
    limits_conn *ch = limits_open(l, head[0], t0);
    limits_conn *cb = limits_open(l, body[0], t0 + 100000);
    limits_conn *ci = limits_open(l, in[0], t0 + 200000);
    limits_headers_in(l, cb);
    limits_headers_in(l, ci);
    limits_request_in(l, ci); /* e.g. suspended while it waits: never cut */
    assert_int_equal(limits_next_ms(l, t0), 1000);
    assert_false(limits_overdue(l, cb, t0 + 1099999));
    assert_true(limits_overdue(l, cb, t0 + 1100000));
    assert_false(limits_overdue(l, ci, t0 + 9000000));
    assert_int_equal(limits_sweep(l, t0 + 999999), 0);
    assert_int_equal(limits_sweep(l, t0 + 1000000), 1); /* head */
    char c;
    assert_int_equal(read(head[1], &c, 1), 0); /* EOF: shut down */
    /* body: overdue at +1.1 s: a 408 and the end of its sending side */
    assert_int_equal(limits_next_ms(l, t0 + 1000000), 100);
    assert_int_equal(limits_sweep(l, t0 + 1100000), 1);
    char answer[1024];
    ssize_t n = read(body[1], answer, sizeof(answer) - 1);
    assert_true(n > 0);
    answer[n] = '\0';
    assert_memory_equal(answer, "HTTP/1.1 408 Request Timeout\r\n", 30);
    assert_non_null(strstr(answer, "\"status\":408"));
    assert_non_null(strstr(answer, "within 1000 ms"));
    assert_int_equal(read(body[1], &c, 1), 0);
    /* told 408: whatever of it still arrives is not served; the others are */
    assert_false(limits_live(cb));
    assert_false(limits_live(ch)); /* cut */
    assert_true(limits_live(ci));
    assert_true(limits_live(NULL)); /* not limited (no memory for its entry) */
    /* ... and cut (both sides) after the grace */
    assert_int_equal(limits_next_ms(l, t0 + 1100000), LIMITS_ANSWER_GRACE_MS);
    assert_int_equal(limits_sweep(l, t0 + 1100000 + LIMITS_ANSWER_GRACE_MS * 1000 - 1), 0);
    assert_int_equal(limits_sweep(l, t0 + 1100000 + LIMITS_ANSWER_GRACE_MS * 1000), 0);
    assert_int_equal(send(body[1], "x", 1, MSG_NOSIGNAL), -1); /* shut down for reading too */
    assert_int_equal(limits_next_ms(l, t0 + 5000000), -1);
    /* answered: a new request phase with a new deadline */
    limits_request_done(l, ci, t0 + 5000000);
    assert_int_equal(limits_next_ms(l, t0 + 5000000), 1000);
    /* three open: the fourth is refused with a 503 */
    int extra[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, extra), 0);
    limits_conn *refused = limits_refuse(l, extra[0]);
    assert_non_null(refused);
    assert_false(limits_live(refused)); /* what it sent is never served */
    n = read(extra[1], answer, sizeof(answer) - 1);
    assert_true(n > 0);
    answer[n] = '\0';
    assert_memory_equal(answer, "HTTP/1.1 503 Service Unavailable\r\n", 34);
    assert_non_null(strstr(answer, "Retry-After: 5\r\n"));
    close(extra[0]);
    close(extra[1]);
    limits_close(l, refused); /* shared and owned by l: ignored */
    limits_close(l, ch);
    limits_close(l, cb);
    limits_close(l, ci);
    assert_null(limits_refuse(l, in[0])); /* none open now */
    limits_free(l);
    /* timeout 0: nothing is ever due; no connection limit */
    l = limits_new(0, 0);
    limits_conn *c0 = limits_open(l, in[0], t0);
    assert_int_equal(limits_next_ms(l, t0 + 999000000), -1);
    assert_int_equal(limits_sweep(l, t0 + 999000000), 0);
    limits_close(l, c0);
    limits_free(l);
    for (int i = 0; i < 2; i++) close(head[i]), close(body[i]), close(in[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_text),  cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_scopes),     cmocka_unit_test(test_presented),
        cmocka_unit_test(test_equal),      cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
