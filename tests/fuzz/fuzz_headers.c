/* fuzz_headers: the Kafka record headers every consumer reads from outside:
 * CloudEvents (ce_*, content-type), the trace context (traceparent,
 * tracestate), Spring's request/reply headers (common/reply_headers.h) and
 * the retry headers the worker reads from its retry topic
 * (engine_retry_headers(), consumer/engine.h).
 *
 * Input format: a sequence of headers, each
 *   name:  one byte n; n >= 0x80 picks a known name (n & 0x7f, modulo the
 *          table below), else the next n bytes are the name
 *   value: one byte v; 0xff is a NULL value, else the next v bytes
 * A header cut short by the end of the input takes what is left. Known names
 * make the fuzzer reach the parsers at once; tests/fuzz/corpus/fuzz_headers
 * holds header sets the programs really send (make-seeds.c writes them).
 *
 * Properties, beyond "no crash, no leak, no undefined behaviour":
 *   - a request rh_read() accepts is written back by rh_write() and reads
 *     again as the same request; its reply topic is a legal topic name;
 *   - a refused request says why; a correlation id read is 16 bytes;
 *   - hdr_get_str() gives a string with no NUL, shorter than its buffer;
 *   - the retry attempt stays within 1..1000;
 *   - hdr_continue_trace() always writes a valid traceparent; it continues
 *     the input's trace (same trace id and flags) exactly when the input's
 *     traceparent is valid, and copies tracestate only then. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <string.h>

#include "common/headers.h"
#include "common/reply_headers.h"
#include "common/trace.h"
#include "consumer/engine.h"
#include "fuzz.h"

static const char *const known[] = {
    HDR_CE_SPECVERSION,   HDR_CE_ID,          HDR_CE_SOURCE,         HDR_CE_TYPE,
    HDR_CE_TIME,          HDR_CE_SUBJECT,     HDR_CONTENT_TYPE,      HDR_TRACEPARENT,
    HDR_TRACESTATE,       HDR_CORRELATION_ID, HDR_REPLY_TOPIC,       HDR_REPLY_PARTITION,
    HDR_REPLY_DEADLINE,   HDR_ATTEMPT,        HDR_NOT_BEFORE,        HDR_ERROR_CLASS,
    HDR_ERROR,            HDR_ORIGINAL_TOPIC, HDR_ORIGINAL_PARTITION, HDR_ORIGINAL_OFFSET,
    HDR_VALUE_DROPPED};
#define N_KNOWN (sizeof(known) / sizeof(known[0]))

/* Builds the headers the input describes; the caller destroys them. */
static rd_kafka_headers_t *headers_from(const uint8_t *data, size_t size) {
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(8);
    size_t i = 0;
    while (i < size) {
        char name[128];
        uint8_t n = data[i++];
        if (n & 0x80) {
            snprintf(name, sizeof(name), "%s", known[(n & 0x7f) % N_KNOWN]);
        } else {
            size_t len = n < size - i ? n : size - i;
            memcpy(name, data + i, len);
            name[len] = '\0';
            i += len;
        }
        const void *value = NULL;
        size_t vlen = 0;
        if (i < size) {
            uint8_t v = data[i++];
            if (v != 0xff) {
                vlen = v < size - i ? v : size - i;
                value = data + i;
                i += vlen;
            }
        }
        rd_kafka_resp_err_t err = rd_kafka_header_add(hdrs, name, -1, value, (ssize_t)vlen);
        FUZZ_CHECK(err == RD_KAFKA_RESP_ERR_NO_ERROR, "rd_kafka_header_add failed");
    }
    return hdrs;
}

static void check_reply(const rd_kafka_headers_t *hdrs) {
    struct rh_request req, again;
    char errstr[512];
    uint8_t id[RH_CORRELATION_LEN];

    errstr[0] = '\0';
    int rc = rh_read(hdrs, &req, errstr, sizeof(errstr));
    FUZZ_CHECK(rc == RH_OK || rc == RH_NO_REPLY || rc == RH_ERR, "rh_read: unknown result");
    if (rc == RH_ERR) FUZZ_CHECK(errstr[0] != '\0', "rh_read refused without a reason");
    if (rc == RH_OK) {
        size_t tlen = strnlen(req.reply_topic, sizeof(req.reply_topic));
        FUZZ_CHECK(tlen > 0 && tlen <= RH_TOPIC_MAX, "reply topic length");
        FUZZ_CHECK(req.reply_partition >= -1 && req.deadline_ms >= -1, "negative fields");
        rd_kafka_headers_t *out = rd_kafka_headers_new(4);
        FUZZ_CHECK(rh_write(out, &req, errstr, sizeof(errstr)) == RH_OK, errstr);
        FUZZ_CHECK(rh_read(out, &again, errstr, sizeof(errstr)) == RH_OK, errstr);
        FUZZ_CHECK(memcmp(req.correlation_id, again.correlation_id, RH_CORRELATION_LEN) == 0 &&
                       strcmp(req.reply_topic, again.reply_topic) == 0 &&
                       req.reply_partition == again.reply_partition &&
                       req.deadline_ms == again.deadline_ms,
                   "rh_read -> rh_write -> rh_read changed the request");
        rd_kafka_headers_destroy(out);
    }
    errstr[0] = '\0';
    if (rh_read_correlation(hdrs, id, errstr, sizeof(errstr)) != RH_OK)
        FUZZ_CHECK(errstr[0] != '\0', "rh_read_correlation refused without a reason");
}

static void check_strings(const rd_kafka_headers_t *hdrs) {
    static const char *const text[] = {HDR_CE_SPECVERSION, HDR_CE_ID,   HDR_CE_SOURCE,
                                       HDR_CE_TYPE,        HDR_CE_TIME, HDR_CE_SUBJECT,
                                       HDR_CONTENT_TYPE,   HDR_ERROR,   HDR_ORIGINAL_TOPIC};
    for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
        char buf[64];
        memset(buf, 'x', sizeof(buf));
        if (hdr_get_str(hdrs, text[i], buf, sizeof(buf)) == 0)
            FUZZ_CHECK(memchr(buf, '\0', sizeof(buf)) != NULL, "hdr_get_str: no NUL");
    }
    int64_t v;
    (void)hdr_get_i64(hdrs, HDR_ORIGINAL_PARTITION, &v);
    (void)hdr_get_i64(hdrs, HDR_ORIGINAL_OFFSET, &v);

    unsigned attempt = 1;
    int64_t not_before = 0;
    engine_retry_headers(hdrs, &attempt, &not_before);
    FUZZ_CHECK(attempt >= 1 && attempt <= 1000, "retry attempt out of range");
}

static void check_trace(const rd_kafka_headers_t *hdrs) {
    const void *parent = NULL, *state = NULL, *got = NULL;
    size_t parent_len = 0, state_len = 0, got_len = 0;
    int has_parent =
        rd_kafka_header_get_last(hdrs, HDR_TRACEPARENT, &parent, &parent_len) == 0 && parent;
    int valid = has_parent && trace_valid(parent, parent_len);

    rd_kafka_headers_t *out = rd_kafka_headers_new(2);
    FUZZ_CHECK(hdr_continue_trace(hdrs, out) == RD_KAFKA_RESP_ERR_NO_ERROR,
               "hdr_continue_trace failed");
    FUZZ_CHECK(rd_kafka_header_get_last(out, HDR_TRACEPARENT, &got, &got_len) == 0 && got &&
                   trace_valid(got, got_len) && got_len == TRACE_PARENT_LEN,
               "hdr_continue_trace wrote no valid traceparent");
    if (valid)
        FUZZ_CHECK(memcmp((const char *)got + 3, (const char *)parent + 3, 32) == 0 &&
                       memcmp((const char *)got + 53, (const char *)parent + 53, 2) == 0,
                   "a valid trace was not continued");
    int has_state = rd_kafka_header_get_last(out, HDR_TRACESTATE, &state, &state_len) == 0;
    FUZZ_CHECK(!has_state || valid, "tracestate copied onto a new trace");
    rd_kafka_headers_destroy(out);

    char tp[TRACE_PARENT_LEN + 1];
    int continued = trace_child(parent, parent_len, tp);
    FUZZ_CHECK(continued == valid, "trace_child and trace_valid disagree");
    FUZZ_CHECK(strlen(tp) == TRACE_PARENT_LEN && trace_valid(tp, TRACE_PARENT_LEN),
               "trace_child wrote no valid traceparent");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rd_kafka_headers_t *hdrs = headers_from(data, size);
    check_reply(hdrs);
    check_strings(hdrs);
    check_trace(hdrs);
    rd_kafka_headers_destroy(hdrs);

    /* The raw input as one traceparent value, as a gateway gets it in HTTP. */
    char tp[TRACE_PARENT_LEN + 1];
    int valid = trace_valid((const char *)data, size);
    FUZZ_CHECK(trace_child((const char *)data, size, tp) == valid, "trace_child disagrees");
    return 0;
}
