/* make-seeds: writes the seeds of fuzz_order_codec and fuzz_headers, whose
 * inputs are binary, with the project's own encoders: real OrderPlaced and
 * OrderCompleted records, and the header sets the programs send (see
 * fuzz_headers.c for the format). The other targets' seeds are text, made by
 * hand. Run once when the schema or the headers change:
 *
 *   fuzz_make_seeds tests/fuzz/corpus
 *
 * It overwrites its own files (seed-*) and touches nothing else. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/headers.h"
#include "common/order_codec.h"
#include "common/order_json.h"

static int write_file(const char *dir, const char *target, const char *name, const void *buf,
                      size_t len) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s/%s", dir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "make-seeds: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

static int placed_seed(const char *dir, const char *name, const char *json) {
    order_placed_t *o = NULL;
    char err[320];
    if (orderjson_parse_placed(json, strlen(json), &o, err, sizeof(err)) != ORDERJSON_OK) {
        fprintf(stderr, "make-seeds: %s: %s\n", name, err);
        return -1;
    }
    size_t len;
    void *buf = codec_placed_encode(o, &len);
    int rc = buf ? write_file(dir, "fuzz_order_codec", name, buf, len) : -1;
    free(buf);
    codec_placed_free(o);
    return rc;
}

/* One header of fuzz_headers' format: a known name by its index. */
static size_t hdr(unsigned char *out, size_t at, int known, const void *value, size_t len) {
    out[at++] = (unsigned char)(0x80 | known);
    out[at++] = (unsigned char)len;
    memcpy(out + at, value, len);
    return at + len;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "tests/fuzz/corpus";
    int rc = 0;
    rc |= placed_seed(dir, "seed-placed-one-item.pb",
                      "{\"orderId\":\"ord-1\",\"customerId\":\"c-42\",\"currency\":\"EUR\","
                      "\"placedAtMs\":\"1767225600000\","
                      "\"items\":[{\"sku\":\"SKU-001\",\"quantity\":2,\"unitPrice\":\"1999\"}]}");
    rc |= placed_seed(dir, "seed-placed-attributes.pb",
                      "{\"orderId\":\"ord-2\",\"customerId\":\"c-7\",\"currency\":\"JPY\","
                      "\"items\":[{\"sku\":\"SKU-002\",\"quantity\":1,\"unitPrice\":500},"
                      "{\"sku\":\"SKU-003\",\"quantity\":3,\"unitPrice\":\"120\"}],"
                      "\"attributes\":{\"channel\":\"web\",\"coupon\":\"SPRING\"}}");
    rc |= placed_seed(dir, "seed-placed-rejected.pb",
                      "{\"orderId\":\"ord-3\",\"customerId\":\"c-1\",\"currency\":\"USD\","
                      "\"items\":[{\"sku\":\"SKU-001\",\"quantity\":-1,\"unitPrice\":\"-5\"}]}");
    rc |= placed_seed(dir, "seed-placed-utf8.pb",
                      "{\"orderId\":\"ord-\\u00e9\",\"customerId\":\"c-\\u4e2d\",\"currency\":"
                      "\"EUR\",\"items\":[{\"sku\":\"SKU-\\ud83d\\ude00\",\"quantity\":1}]}");

    order_completed_t c = ORDERFLEET__V1__ORDER_COMPLETED__INIT;
    c.order_id = "ord-1";
    c.status = ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED;
    c.reason = "";
    c.subtotal = 3998;
    c.tax = 760;
    c.shipping = 499;
    c.total = 5257;
    c.currency = "EUR";
    c.placed_at_ms = 1767225600000;
    c.completed_at_ms = 1767225600042;
    c.worker_id = "worker-1";
    c.attempts = 1;
    size_t len;
    void *buf = codec_completed_encode(&c, &len);
    rc |= buf ? write_file(dir, "fuzz_order_codec", "seed-completed.pb", buf, len) : -1;
    free(buf);

    /* Header sets: indexes into fuzz_headers.c's table. */
    static const unsigned char corr[16] = {0x3f, 0x1a, 0x9c, 0x02, 0x77, 0xe4, 0x40, 0x0b,
                                           0x8d, 0x11, 0x5a, 0xc3, 0x6e, 0x90, 0x2b, 0xf4};
    static const unsigned char part[4] = {0, 0, 0, 3};
    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    unsigned char out[1024];
    size_t n = 0;
    n = hdr(out, n, 0, "1.0", 3);
    n = hdr(out, n, 1, "0190f1c2-7a3b-7c4d-8e5f-6a7b8c9d0e1f", 36);
    n = hdr(out, n, 2, "/orderfleet/gateway", 19);
    n = hdr(out, n, 3, CE_TYPE_ORDER_PLACED, strlen(CE_TYPE_ORDER_PLACED));
    n = hdr(out, n, 4, "2026-01-01T00:00:00.000Z", 24);
    n = hdr(out, n, 5, "ord-1", 5);
    n = hdr(out, n, 6, CONTENT_TYPE_PROTOBUF, strlen(CONTENT_TYPE_PROTOBUF));
    n = hdr(out, n, 7, tp, strlen(tp));
    n = hdr(out, n, 8, "vendor=abc", 10);
    rc |= write_file(dir, "fuzz_headers", "seed-cloudevents-trace.bin", out, n);

    size_t m = n;
    m = hdr(out, m, 9, corr, sizeof(corr));
    m = hdr(out, m, 10, "orders.replies", 14);
    m = hdr(out, m, 11, part, sizeof(part));
    m = hdr(out, m, 12, "1767225630000", 13);
    rc |= write_file(dir, "fuzz_headers", "seed-request-reply.bin", out, m);

    size_t r = n;
    r = hdr(out, r, 13, "3", 1);
    r = hdr(out, r, 14, "1767225601000", 13);
    r = hdr(out, r, 15, "transient", 9);
    r = hdr(out, r, 17, "orders", 6);
    r = hdr(out, r, 18, "2", 1);
    r = hdr(out, r, 19, "12345", 5);
    rc |= write_file(dir, "fuzz_headers", "seed-retry.bin", out, r);

    size_t k = 0;
    k = hdr(out, k, 9, corr, sizeof(corr));
    rc |= write_file(dir, "fuzz_headers", "seed-reply.bin", out, k);
    return rc ? 1 : 0;
}
