/* fuzz_prefer: the HTTP Prefer request header (common/prefer.h), as the
 * gateway reads it from a POST.
 *
 * The input is one header value; a NUL splits it into several Prefer
 * headers, fed one by one as the gateway does with repeated headers.
 *
 * Properties, beyond "no crash, no undefined behaviour" (the value given to
 * prefer_parse_len() is an exact-size copy: a read past its end is an ASan
 * report):
 *   - prefer_parse() of a NUL-free value and prefer_parse_len() agree;
 *   - respond_async is 0 or 1, wait_s is -1 or 0..INT_MAX, seen holds only
 *     PREFER_* flags, and a set preference is marked seen;
 *   - what prefer_applied() writes is itself a clean Prefer value that
 *     parses back to the same preferences; with a buffer too small it says
 *     so and leaves "". */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <string.h>

#include "common/prefer.h"
#include "fuzz.h"

static void check_state(const struct prefer *p) {
    FUZZ_CHECK(p->respond_async == 0 || p->respond_async == 1, "respond_async not 0/1");
    FUZZ_CHECK(p->wait_s >= -1, "wait_s below -1");
    FUZZ_CHECK((p->seen & ~(PREFER_RESPOND_ASYNC | PREFER_WAIT)) == 0, "unknown seen flags");
    FUZZ_CHECK(!p->respond_async || (p->seen & PREFER_RESPOND_ASYNC), "async set, not seen");
    FUZZ_CHECK(p->wait_s < 0 || (p->seen & PREFER_WAIT), "wait set, not seen");
}

static void check_applied(const struct prefer *p) {
    char buf[64], small[8];
    int n = prefer_applied(p, PREFER_RESPOND_ASYNC | PREFER_WAIT, buf, sizeof(buf));
    FUZZ_CHECK(n >= 0 && (size_t)n == strlen(buf), "prefer_applied length");
    if (n > 0) {
        struct prefer back;
        prefer_init(&back);
        FUZZ_CHECK(prefer_parse(&back, buf) == 0, "Preference-Applied does not parse cleanly");
        FUZZ_CHECK(back.respond_async == p->respond_async && back.wait_s == p->wait_s,
                   "Preference-Applied does not read back");
    }
    int m = prefer_applied(p, PREFER_RESPOND_ASYNC | PREFER_WAIT, small, sizeof(small));
    if ((size_t)n >= sizeof(small))
        FUZZ_CHECK(m == PREFER_ERR && small[0] == '\0', "a cut Preference-Applied");
    else
        FUZZ_CHECK(m == n && strcmp(small, buf) == 0, "small buffer differs");
    FUZZ_CHECK(prefer_applied(p, 0, buf, sizeof(buf)) == 0 && buf[0] == '\0',
               "nothing honoured, something written");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct prefer whole, each;
    prefer_init(&whole);
    prefer_init(&each);

    /* Each NUL-separated part as its own header, both ways. */
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i < size && data[i] != '\0') continue;
        size_t len = i - start;
        char *exact = malloc(len ? len : 1);
        FUZZ_CHECK(exact != NULL, "out of memory");
        memcpy(exact, data + start, len);
        int m1 = prefer_parse_len(&whole, exact, len);
        free(exact);
        char *str = fuzz_strndup(data + start, len);
        int m2 = prefer_parse(&each, str);
        free(str);
        FUZZ_CHECK(m1 == m2 && m1 >= 0, "prefer_parse and prefer_parse_len disagree");
        FUZZ_CHECK(whole.respond_async == each.respond_async && whole.wait_s == each.wait_s &&
                       whole.seen == each.seen,
                   "prefer_parse and prefer_parse_len disagree on the result");
        check_state(&whole);
        start = i + 1;
    }
    check_applied(&whole);
    return 0;
}
