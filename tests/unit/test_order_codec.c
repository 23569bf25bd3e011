/* Unit tests for common/order_codec: protobuf round trips, rejection of
 * malformed bytes, tolerance of unknown fields, and the UTF-8 check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/order_codec.h"

typedef Orderfleet__V1__OrderPlaced__AttributesEntry attr_entry_t;

/* ------------------------------------------------------------ fixtures */

/* A fully populated OrderPlaced on the stack: three items (one with the
 * extreme int64 prices), a map with a non-ASCII value. */
typedef struct {
    order_placed_t msg;
    line_item_t items[3];
    line_item_t *item_ptrs[3];
    attr_entry_t attrs[2];
    attr_entry_t *attr_ptrs[2];
} placed_fixture_t;

static void placed_fixture_init(placed_fixture_t *f) {
    order_placed_t init = ORDERFLEET__V1__ORDER_PLACED__INIT;
    line_item_t item_init = ORDERFLEET__V1__LINE_ITEM__INIT;
    attr_entry_t attr_init = ORDERFLEET__V1__ORDER_PLACED__ATTRIBUTES_ENTRY__INIT;

    f->msg = init;
    f->msg.order_id = "0193c0de-7a1e-7000-8000-000000000001";
    f->msg.customer_id = "c-42";
    f->msg.currency = "EUR";
    f->msg.placed_at_ms = 1732920757123;

    const char *skus[3] = {"BURGER-CLASSIC", "FRIES", "COUPON"};
    const int32_t qty[3] = {2, INT32_MAX, INT32_MIN};
    const int64_t price[3] = {899, INT64_MAX, INT64_MIN};
    for (int i = 0; i < 3; i++) {
        f->items[i] = item_init;
        f->items[i].sku = (char *)skus[i];
        f->items[i].quantity = qty[i];
        f->items[i].unit_price = price[i];
        f->item_ptrs[i] = &f->items[i];
    }
    f->msg.n_items = 3;
    f->msg.items = f->item_ptrs;

    f->attrs[0] = attr_init;
    f->attrs[0].key = "channel";
    f->attrs[0].value = "web";
    f->attrs[1] = attr_init;
    f->attrs[1].key = "note";
    f->attrs[1].value = "sans oignon \xe2\x9c\x93 caf\xc3\xa9";
    f->attr_ptrs[0] = &f->attrs[0];
    f->attr_ptrs[1] = &f->attrs[1];
    f->msg.n_attributes = 2;
    f->msg.attributes = f->attr_ptrs;
}

static void completed_fixture_init(order_completed_t *m) {
    order_completed_t init = ORDERFLEET__V1__ORDER_COMPLETED__INIT;
    *m = init;
    m->order_id = "o-7";
    m->status = ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_REJECTED;
    m->reason = "unknown SKU \"PIZZA\"";
    m->subtotal = 1798;
    m->tax = -342; /* a refund-like negative amount must survive */
    m->shipping = 0;
    m->total = INT64_MAX;
    m->currency = "EUR";
    m->placed_at_ms = 1732920757123;
    m->completed_at_ms = INT64_MIN;
    m->worker_id = "worker-1";
    m->attempts = UINT32_MAX;
}

static void assert_placed_equal(const order_placed_t *a, const order_placed_t *b) {
    assert_string_equal(a->order_id, b->order_id);
    assert_string_equal(a->customer_id, b->customer_id);
    assert_string_equal(a->currency, b->currency);
    assert_true(a->placed_at_ms == b->placed_at_ms);
    assert_int_equal(a->n_items, b->n_items);
    for (size_t i = 0; i < a->n_items; i++) {
        assert_string_equal(a->items[i]->sku, b->items[i]->sku);
        assert_int_equal(a->items[i]->quantity, b->items[i]->quantity);
        assert_true(a->items[i]->unit_price == b->items[i]->unit_price);
    }
    assert_int_equal(a->n_attributes, b->n_attributes);
    for (size_t i = 0; i < a->n_attributes; i++) {
        assert_string_equal(a->attributes[i]->key, b->attributes[i]->key);
        assert_string_equal(a->attributes[i]->value, b->attributes[i]->value);
    }
}

/* ------------------------------------------------------------ round trips */

static void test_placed_round_trip(void **state) {
    (void)state;
    placed_fixture_t f;
    placed_fixture_init(&f);
    char err[256] = "";

    size_t len = 0;
    void *buf = codec_placed_encode(&f.msg, &len);
    assert_non_null(buf);
    assert_int_equal(len, orderfleet__v1__order_placed__get_packed_size(&f.msg));

    order_placed_t *got = codec_placed_decode(buf, len, err, sizeof(err));
    assert_non_null(got);
    assert_string_equal(err, "");
    assert_placed_equal(&f.msg, got);
    assert_true(got->items[1]->unit_price == INT64_MAX);
    assert_true(got->items[2]->unit_price == INT64_MIN);
    assert_int_equal(got->items[2]->quantity, INT32_MIN);

    /* Re-encoding the decoded message gives the same bytes. */
    size_t len2 = 0;
    void *buf2 = codec_placed_encode(got, &len2);
    assert_non_null(buf2);
    assert_int_equal(len2, len);
    assert_memory_equal(buf2, buf, len);

    free(buf2);
    free(buf);
    codec_placed_free(got);
}

static void test_completed_round_trip(void **state) {
    (void)state;
    order_completed_t m;
    completed_fixture_init(&m);
    char err[256] = "";

    size_t len = 0;
    void *buf = codec_completed_encode(&m, &len);
    assert_non_null(buf);
    order_completed_t *got = codec_completed_decode(buf, len, err, sizeof(err));
    assert_non_null(got);

    assert_string_equal(got->order_id, "o-7");
    assert_int_equal(got->status, ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_REJECTED);
    assert_string_equal(got->reason, "unknown SKU \"PIZZA\"");
    assert_true(got->subtotal == 1798);
    assert_true(got->tax == -342);
    assert_true(got->shipping == 0);
    assert_true(got->total == INT64_MAX);
    assert_string_equal(got->currency, "EUR");
    assert_true(got->placed_at_ms == 1732920757123);
    assert_true(got->completed_at_ms == INT64_MIN);
    assert_string_equal(got->worker_id, "worker-1");
    assert_true(got->attempts == UINT32_MAX);

    free(buf);
    codec_completed_free(got);
}

/* An all-default message is zero bytes on the wire, and zero bytes decode to
 * an all-default message whose strings are "" rather than NULL. */
static void test_empty_message(void **state) {
    (void)state;
    order_placed_t m = ORDERFLEET__V1__ORDER_PLACED__INIT;
    char err[256] = "";
    size_t len = 99;
    void *buf = codec_placed_encode(&m, &len);
    assert_non_null(buf);
    assert_int_equal(len, 0);

    order_placed_t *got = codec_placed_decode(buf, 0, err, sizeof(err));
    assert_non_null(got);
    assert_string_equal(got->order_id, "");
    assert_string_equal(got->customer_id, "");
    assert_int_equal(got->n_items, 0);
    assert_int_equal(got->n_attributes, 0);
    free(buf);
    codec_placed_free(got);

    codec_placed_free(NULL);
    codec_completed_free(NULL);
}

/* ------------------------------------------------------------ bad bytes */

static void test_truncated_rejected(void **state) {
    (void)state;
    placed_fixture_t f;
    placed_fixture_init(&f);
    char err[256];
    char want[256];

    size_t len = 0;
    unsigned char *buf = codec_placed_encode(&f.msg, &len);
    assert_non_null(buf);

    /* The last field on the wire is the second attributes entry: cutting its
     * final byte leaves a length prefix that promises more than there is. */
    order_placed_t *got = codec_placed_decode(buf, len - 1, err, sizeof(err));
    assert_null(got);
    snprintf(want, sizeof(want), "malformed protobuf: not a valid OrderPlaced (%zu bytes)",
             len - 1);
    assert_string_equal(err, want);

    /* Cut in the middle of the first field (order_id). */
    got = codec_placed_decode(buf, 10, err, sizeof(err));
    assert_null(got);
    assert_string_equal(err, "malformed protobuf: not a valid OrderPlaced (10 bytes)");

    /* Every other cut either fails cleanly or stops at a field boundary;
     * none may crash or leak (this is what the sanitizer run is for). */
    for (size_t cut = 0; cut < len; cut++) {
        got = codec_placed_decode(buf, cut, err, sizeof(err));
        codec_placed_free(got);
    }
    free(buf);

    order_completed_t m;
    completed_fixture_init(&m);
    buf = codec_completed_encode(&m, &len);
    assert_non_null(buf);
    assert_null(codec_completed_decode(buf, len - 1, err, sizeof(err)));
    snprintf(want, sizeof(want), "malformed protobuf: not a valid OrderCompleted (%zu bytes)",
             len - 1);
    assert_string_equal(err, want);
    free(buf);
}

static void test_garbage_rejected(void **state) {
    (void)state;
    static const struct {
        const char *bytes;
        size_t len;
    } cases[] = {
#define BYTES(s) {s, sizeof(s) - 1}
        BYTES("\xff\xff\xff\xff\xff"),   /* a tag varint that never ends */
        BYTES("\x0a\x05" "ab"),             /* order_id longer than the buffer */
        BYTES("\x08\x01"),                  /* order_id (a string) sent as a varint */
        BYTES("\x0f"),                       /* wire type 7 does not exist */
        BYTES("\x1a\x02\x0a\x05"),          /* items[0].sku overruns its item */
        BYTES("\x28\x80\x80\x80"),          /* placed_at_ms varint cut short */
        BYTES("\x00\x00"),                  /* field number 0 is invalid */
        BYTES("{\"orderId\":\"o-1\"}"),      /* JSON is not protobuf */
#undef BYTES
    };
    char err[256];
    char want[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        order_placed_t *got = codec_placed_decode(cases[i].bytes, cases[i].len, err, sizeof(err));
        if (got != NULL) fail_msg("case %zu decoded", i);
        snprintf(want, sizeof(want), "malformed protobuf: not a valid OrderPlaced (%zu bytes)",
                 cases[i].len);
        assert_string_equal(err, want);
    }

    /* status (field 2, an enum) sent length-delimited. */
    assert_null(codec_completed_decode("\x12\x01x", 3, err, sizeof(err)));
    assert_string_equal(err, "malformed protobuf: not a valid OrderCompleted (3 bytes)");
}

/* Bytes written by a newer producer with a field this build does not know
 * (number 99, once as bytes and once as a varint, and once inside an item)
 * still decode, and the known fields are intact. */
static void test_unknown_fields_tolerated(void **state) {
    (void)state;
    static const unsigned char wire[] = {
        0x0a, 0x03, 'o', '-', '1',            /* 1 order_id = "o-1" */
        0x9a, 0x06, 0x02, 'h', 'i',           /* 99, length-delimited "hi" */
        0x1a, 0x08,                           /* 3 items, 8 bytes: */
        0x0a, 0x01, 'X',                      /*   1 sku = "X" */
        0x98, 0x06, 0x05,                     /*   99, varint 5 */
        0x10, 0x02,                           /*   2 quantity = 2 */
        0x98, 0x06, 0x07,                     /* 99, varint 7 */
        0x22, 0x03, 'E', 'U', 'R',            /* 4 currency = "EUR" */
    };
    char err[256] = "";
    order_placed_t *got = codec_placed_decode(wire, sizeof(wire), err, sizeof(err));
    assert_non_null(got);
    assert_string_equal(got->order_id, "o-1");
    assert_string_equal(got->currency, "EUR");
    assert_int_equal(got->n_items, 1);
    assert_string_equal(got->items[0]->sku, "X");
    assert_int_equal(got->items[0]->quantity, 2);
    assert_int_equal(got->base.n_unknown_fields, 2);
    assert_int_equal(got->items[0]->base.n_unknown_fields, 1);

    /* protobuf-c keeps unknown fields and writes them back: a relay (retry,
     * DLQ) does not strip what it does not understand. */
    size_t len = 0;
    void *buf = codec_placed_encode(got, &len);
    assert_non_null(buf);
    assert_int_equal(len, sizeof(wire));
    free(buf);
    codec_placed_free(got);

    /* Same for OrderCompleted. */
    static const unsigned char wire2[] = {0x0a, 0x01, 'z', 0x98, 0x06, 0x01, 0x10, 0x01};
    order_completed_t *c = codec_completed_decode(wire2, sizeof(wire2), err, sizeof(err));
    assert_non_null(c);
    assert_string_equal(c->order_id, "z");
    assert_int_equal(c->status, ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED);
    codec_completed_free(c);
}

/* ------------------------------------------------------------ UTF-8 */

/* Encodes f's message and decodes it back, expecting failure with err_want. */
static void assert_placed_rejected(const order_placed_t *m, const char *err_want) {
    char err[256] = "";
    size_t len = 0;
    void *buf = codec_placed_encode(m, &len);
    assert_non_null(buf);
    order_placed_t *got = codec_placed_decode(buf, len, err, sizeof(err));
    free(buf);
    if (got != NULL) {
        codec_placed_free(got);
        fail_msg("decoded, wanted \"%s\"", err_want);
    }
    assert_string_equal(err, err_want);
}

/* Found by fuzz_order_codec (tests/fuzz/regressions/fuzz_order_codec/
 * field-number-zero-padded-tag): protobuf-c accepts an unknown field numbered
 * 0 when its tag is a padded varint (80 00), but writes it back as the byte
 * 00, which it then refuses; field 0 is invalid in protobuf, so the decoder
 * refuses it, at the top level and in an item. */
static void test_field_number_zero_rejected(void **state) {
    (void)state;
    static const unsigned char top[] = {
        0x0a, 0x03, 'o', '-', '1', /* 1 order_id = "o-1" */
        0x80, 0x00, 0x08,          /* field 0, varint 8, tag padded to two bytes */
    };
    static const unsigned char nested[] = {
        0x0a, 0x03, 'o', '-', '1', /* 1 order_id = "o-1" */
        0x1a, 0x05,                /* 3 items, 5 bytes: */
        0x80, 0x00, 0x01,          /*   field 0, varint 1 */
        0x10, 0x02,                /*   2 quantity = 2 */
    };
    char err[256] = "";
    assert_null(codec_placed_decode(top, sizeof(top), err, sizeof(err)));
    assert_string_equal(err, "malformed protobuf: a field numbered 0");
    err[0] = '\0';
    assert_null(codec_placed_decode(nested, sizeof(nested), err, sizeof(err)));
    assert_string_equal(err, "malformed protobuf: a field numbered 0");
}

static void test_invalid_utf8_rejected_with_field(void **state) {
    (void)state;
    placed_fixture_t f;

    placed_fixture_init(&f);
    f.items[2].sku = "\xed\xa0\x80"; /* U+D800, a surrogate */
    assert_placed_rejected(&f.msg, "items[2].sku: invalid UTF-8");

    placed_fixture_init(&f);
    f.msg.order_id = "o-\xc0\xaf"; /* overlong '/' */
    assert_placed_rejected(&f.msg, "order_id: invalid UTF-8");

    placed_fixture_init(&f);
    f.msg.customer_id = "c-\xff";
    assert_placed_rejected(&f.msg, "customer_id: invalid UTF-8");

    placed_fixture_init(&f);
    f.msg.currency = "\xe2\x82"; /* truncated euro sign */
    assert_placed_rejected(&f.msg, "currency: invalid UTF-8");

    placed_fixture_init(&f);
    f.attrs[1].value = "\xf4\x90\x80\x80"; /* U+110000 */
    assert_placed_rejected(&f.msg, "attributes[1].value: invalid UTF-8");

    placed_fixture_init(&f);
    f.attrs[0].key = "ch\x80nnel";
    assert_placed_rejected(&f.msg, "attributes[0].key: invalid UTF-8");

    /* OrderCompleted: every string field is checked. */
    static const struct {
        int field;
        const char *want;
    } cases[] = {
        {0, "order_id: invalid UTF-8"},
        {1, "reason: invalid UTF-8"},
        {2, "currency: invalid UTF-8"},
        {3, "worker_id: invalid UTF-8"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        order_completed_t m;
        completed_fixture_init(&m);
        char *bad = "\xc3(";
        switch (cases[i].field) {
        case 0: m.order_id = bad; break;
        case 1: m.reason = bad; break;
        case 2: m.currency = bad; break;
        default: m.worker_id = bad; break;
        }
        char err[256] = "";
        size_t len = 0;
        void *buf = codec_completed_encode(&m, &len);
        assert_non_null(buf);
        order_completed_t *got = codec_completed_decode(buf, len, err, sizeof(err));
        free(buf);
        assert_null(got);
        assert_string_equal(err, cases[i].want);
    }
}

/* codec_utf8_scrub(): valid text untouched; a character cut at the end
 * dropped; any other bad byte '?'; the result always valid. */
static void test_utf8_scrub(void **state) {
    (void)state;
    char ok[] = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8d\x94";
    assert_int_equal(codec_utf8_scrub(ok), 0);
    assert_string_equal(ok, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8d\x94");
    char cut[] = "total \xe2\x82"; /* a euro sign without its last byte */
    assert_int_equal(codec_utf8_scrub(cut), 2);
    assert_string_equal(cut, "total ");
    char cut4[] = "x\xf0\x9f\x8d";
    assert_int_equal(codec_utf8_scrub(cut4), 3);
    assert_string_equal(cut4, "x");
    char bad[] = "a\xff\xc3(b\xed\xa0\x80" "c\xc0\xaf" "z"; /* FF, bad tail, surrogate,
                                                             * overlong */
    codec_utf8_scrub(bad);
    assert_string_equal(bad, "a?" "?(b?" "?" "?c?" "?z");
    assert_true(codec_utf8_valid(bad, strlen(bad)));
    char lone[] = "\x80";
    assert_int_equal(codec_utf8_scrub(lone), 1);
    assert_string_equal(lone, "?");
    char empty[] = "";
    assert_int_equal(codec_utf8_scrub(empty), 0);
}

static void test_utf8_valid(void **state) {
    (void)state;
    static const struct {
        const char *s;
        size_t len;
        int valid;
    } cases[] = {
        {"", 0, 1},
        {"plain ASCII", 11, 1},
        {"\x7f", 1, 1},
        {"caf\xc3\xa9", 5, 1},                 /* U+00E9 */
        {"\xc2\x80", 2, 1},                    /* U+0080, smallest 2-byte */
        {"\xdf\xbf", 2, 1},                    /* U+07FF */
        {"\xe0\xa0\x80", 3, 1},                /* U+0800, smallest 3-byte */
        {"\xed\x9f\xbf", 3, 1},                /* U+D7FF, just below surrogates */
        {"\xee\x80\x80", 3, 1},                /* U+E000, just above */
        {"\xef\xbf\xbf", 3, 1},                /* U+FFFF */
        {"\xf0\x90\x80\x80", 4, 1},            /* U+10000, smallest 4-byte */
        {"\xf0\x9f\x8d\x94", 4, 1},            /* U+1F354 hamburger */
        {"\xf4\x8f\xbf\xbf", 4, 1},            /* U+10FFFF, the last code point */
        {"\x80", 1, 0},                        /* lone continuation byte */
        {"\xbf", 1, 0},
        {"\xc0\x80", 2, 0},                    /* overlong NUL */
        {"\xc1\xbf", 2, 0},                    /* overlong U+007F */
        {"\xe0\x80\x80", 3, 0},                /* overlong 3-byte */
        {"\xe0\x9f\xbf", 3, 0},                /* overlong U+07FF */
        {"\xf0\x80\x80\x80", 4, 0},            /* overlong 4-byte */
        {"\xf0\x8f\xbf\xbf", 4, 0},            /* overlong U+FFFF */
        {"\xed\xa0\x80", 3, 0},                /* U+D800 */
        {"\xed\xbf\xbf", 3, 0},                /* U+DFFF */
        {"\xf4\x90\x80\x80", 4, 0},            /* U+110000 */
        {"\xf5\x80\x80\x80", 4, 0},            /* lead byte beyond F4 */
        {"\xff", 1, 0},
        {"\xfe", 1, 0},
        {"\xc3", 1, 0},                        /* truncated 2-byte */
        {"\xe2\x82", 2, 0},                    /* truncated 3-byte */
        {"\xf0\x9f\x8d", 3, 0},                /* truncated 4-byte */
        {"\xc3(", 2, 0},                       /* bad continuation */
        {"\xe2(\xa1", 3, 0},
        {"\xf0\x9f\x8d(", 4, 0},
        {"ok\xc3\xa9ok\x80", 7, 0},            /* bad byte after good text */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (codec_utf8_valid(cases[i].s, cases[i].len) != cases[i].valid)
            fail_msg("case %zu: expected %s", i, cases[i].valid ? "valid" : "invalid");

    /* len, not NUL, ends the string: a valid prefix of an invalid string. */
    assert_true(codec_utf8_valid("caf\xc3\xa9\xff", 5));
    assert_false(codec_utf8_valid("caf\xc3\xa9", 4));
}

static void test_status_short_name(void **state) {
    (void)state;
    assert_string_equal(codec_status_short_name(1), "FULFILLED");
    assert_string_equal(codec_status_short_name(2), "REJECTED");
    assert_string_equal(codec_status_short_name(3), "FAILED");
    assert_string_equal(codec_status_short_name(0), "UNSPECIFIED");
    assert_string_equal(codec_status_short_name(4), "UNSPECIFIED");
    assert_string_equal(codec_status_short_name(-1), "UNSPECIFIED");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_placed_round_trip),
        cmocka_unit_test(test_completed_round_trip),
        cmocka_unit_test(test_empty_message),
        cmocka_unit_test(test_truncated_rejected),
        cmocka_unit_test(test_garbage_rejected),
        cmocka_unit_test(test_unknown_fields_tolerated),
        cmocka_unit_test(test_field_number_zero_rejected),
        cmocka_unit_test(test_invalid_utf8_rejected_with_field),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_utf8_scrub),
        cmocka_unit_test(test_status_short_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
