/* fuzz_order_json: a JSON order body, as the gateway takes it in a POST and
 * `order-producer place` takes it as an argument (common/order_json.h).
 *
 * Properties, beyond "no crash, no leak, no undefined behaviour":
 *   - orderjson_parse_placed() and orderjson_parse_placed_all() agree:
 *     both accept, giving the same message (same protobuf encoding), or both
 *     refuse, and then the first violation is exactly the error message of
 *     orderjson_parse_placed() (errs.first, as order_json.h promises);
 *   - a refusal holds 1..ORDERJSON_MAX_VIOLATIONS violations, no more than
 *     the total found, each field and reason valid UTF-8 (they go into an
 *     application/problem+json answer);
 *   - an accepted order encodes to protobuf that decodes again (its strings
 *     are UTF-8), and its JSON dump parses back to the same dump. */
#define _POSIX_C_SOURCE 200809L
#include <string.h>

#include "common/order_codec.h"
#include "common/order_json.h"
#include "fuzz.h"
#include "fuzz_order.h"

static void check_violations(const orderjson_errors *errs, const char *errstr) {
    FUZZ_CHECK(errs->count >= 1 && errs->count <= ORDERJSON_MAX_VIOLATIONS,
               "violation count out of range");
    FUZZ_CHECK(errs->count <= errs->total, "more violations stored than found");
    FUZZ_CHECK(!errs->malformed || errs->count == 1, "malformed JSON with several violations");
    for (size_t i = 0; i < errs->count; i++) {
        const orderjson_violation *v = &errs->v[i];
        size_t flen = strnlen(v->field, sizeof(v->field));
        size_t rlen = strnlen(v->reason, sizeof(v->reason));
        FUZZ_CHECK(flen < sizeof(v->field) && rlen < sizeof(v->reason),
                   "violation text not NUL-terminated");
        FUZZ_CHECK(codec_utf8_valid(v->field, flen), "violation field is not UTF-8");
        FUZZ_CHECK(codec_utf8_valid(v->reason, rlen), "violation reason is not UTF-8");
        FUZZ_CHECK(rlen > 0, "violation without a reason");
    }
    FUZZ_CHECK(codec_utf8_valid(errs->first, strlen(errs->first)), "first is not UTF-8");
    if (strcmp(errs->first, errstr) != 0)
        fprintf(stderr, "first:  %s\nerrstr: %s\n", errs->first, errstr);
    FUZZ_CHECK(strcmp(errs->first, errstr) == 0,
               "parse_placed_all's first differs from parse_placed's message");
}

static void check_order(const order_placed_t *a, const order_placed_t *b) {
    size_t alen, blen;
    char err[256];
    uint8_t *abuf = codec_placed_encode(a, &alen);
    uint8_t *bbuf = codec_placed_encode(b, &blen);
    FUZZ_CHECK(abuf && bbuf, "encode failed");
    FUZZ_CHECK(alen == blen && memcmp(abuf, bbuf, alen) == 0,
               "parse_placed and parse_placed_all gave different orders");
    order_placed_t *d = codec_placed_decode(abuf, alen, err, sizeof(err));
    FUZZ_CHECK(d != NULL, err);
    codec_placed_free(d);
    free(bbuf);
    free(abuf);

    fuzz_json_round_trip(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data; /* not NUL-terminated: the parser must not care */
    char errstr[320];
    order_placed_t *one = NULL, *all = NULL;
    orderjson_errors *errs = malloc(sizeof(*errs));
    FUZZ_CHECK(errs != NULL, "out of memory");

    errstr[0] = '\0';
    int rc1 = orderjson_parse_placed(text, size, &one, errstr, sizeof(errstr));
    int rc2 = orderjson_parse_placed_all(text, size, &all, errs);
    FUZZ_CHECK(rc1 == rc2, "parse_placed and parse_placed_all disagree");
    FUZZ_CHECK((rc1 == ORDERJSON_OK) == (one != NULL), "parse_placed: result and *out disagree");
    FUZZ_CHECK((rc2 == ORDERJSON_OK) == (all != NULL),
               "parse_placed_all: result and *out disagree");
    if (rc1 == ORDERJSON_OK && rc2 == ORDERJSON_OK) {
        FUZZ_CHECK(errs->count == 0, "accepted with violations");
        check_order(one, all);
    } else if (rc1 != ORDERJSON_OK && rc2 != ORDERJSON_OK && !errs->out_of_memory) {
        check_violations(errs, errstr);
    }
    codec_placed_free(one);
    codec_placed_free(all);
    free(errs);
    return 0;
}
