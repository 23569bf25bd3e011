/* fuzz_order_codec: the bytes of a Kafka record's value, as the worker and
 * the requesters decode them (common/order_codec.h), then what the worker
 * does with a decoded order: its business-rule validation and pricing
 * (fulfillment_price) and its JSON rendering.
 *
 * Properties, beyond "no crash, no leak, no undefined behaviour":
 *   - a failed decode says why (errstr not empty);
 *   - round trip: decode -> encode -> decode succeeds and encodes to the
 *     same bytes (the first encoding is canonical);
 *   - the JSON mapping holds every decoded message: its dump parses back
 *     with orderjson_parse_placed(), and dumping that gives the same text;
 *   - validation gives a verdict of FULFILLED, REJECTED (with a reason) or
 *     TRANSIENT, and a fulfilled total is subtotal + tax + shipping.
 * The same input is also decoded as an OrderCompleted (what the gateway and
 * the producer read from the replies topic), with the same round trip. */
#define _POSIX_C_SOURCE 200809L
#include <string.h>

#include "common/order_codec.h"
#include "common/order_json.h"
#include "consumer/fulfillment.h"
#include "fuzz.h"
#include "fuzz_order.h"

static void check_placed(const order_placed_t *a) {
    size_t alen, blen;
    char err[256];
    uint8_t *abuf = codec_placed_encode(a, &alen);
    FUZZ_CHECK(abuf != NULL, "encode of a decoded OrderPlaced failed");
    err[0] = '\0';
    order_placed_t *b = codec_placed_decode(abuf, alen, err, sizeof(err));
    FUZZ_CHECK(b != NULL, err);
    uint8_t *bbuf = codec_placed_encode(b, &blen);
    FUZZ_CHECK(bbuf != NULL, "second encode failed");
    FUZZ_CHECK(alen == blen && memcmp(abuf, bbuf, alen) == 0,
               "decode -> encode -> decode changed the message");
    free(bbuf);
    codec_placed_free(b);
    free(abuf);

    handler_result res;
    fulfillment_price(a, &res);
    FUZZ_CHECK(res.verdict == ORDERFLEET_FULFILLED || res.verdict == ORDERFLEET_REJECTED ||
                   res.verdict == ORDERFLEET_TRANSIENT,
               "validation gave no verdict");
    if (res.verdict == ORDERFLEET_FULFILLED)
        FUZZ_CHECK(res.total == res.subtotal + res.tax + res.shipping && res.subtotal >= 0,
                   "fulfilled with inconsistent amounts");
    else
        FUZZ_CHECK(res.reason[0] != '\0', "rejected without a reason");

    fuzz_json_round_trip(a);
}

static void check_completed(const order_completed_t *a) {
    size_t alen, blen;
    char err[256];
    uint8_t *abuf = codec_completed_encode(a, &alen);
    FUZZ_CHECK(abuf != NULL, "encode of a decoded OrderCompleted failed");
    err[0] = '\0';
    order_completed_t *b = codec_completed_decode(abuf, alen, err, sizeof(err));
    FUZZ_CHECK(b != NULL, err);
    uint8_t *bbuf = codec_completed_encode(b, &blen);
    FUZZ_CHECK(bbuf != NULL, "second encode failed");
    FUZZ_CHECK(alen == blen && memcmp(abuf, bbuf, alen) == 0,
               "decode -> encode -> decode changed the outcome");
    free(bbuf);
    codec_completed_free(b);
    free(abuf);
    (void)codec_status_short_name(a->status);
    char *json = orderjson_completed_dump(a);
    FUZZ_CHECK(json != NULL, "JSON dump of an outcome failed");
    free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];

    err[0] = '\0';
    order_placed_t *placed = codec_placed_decode(data, size, err, sizeof(err));
    if (placed) {
        check_placed(placed);
        codec_placed_free(placed);
    } else {
        FUZZ_CHECK(err[0] != '\0', "OrderPlaced decode failed without a reason");
    }

    err[0] = '\0';
    order_completed_t *completed = codec_completed_decode(data, size, err, sizeof(err));
    if (completed) {
        check_completed(completed);
        codec_completed_free(completed);
    } else {
        FUZZ_CHECK(err[0] != '\0', "OrderCompleted decode failed without a reason");
    }
    return 0;
}
