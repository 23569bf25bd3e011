#define _POSIX_C_SOURCE 200809L
#include "common/headers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/trace.h"
#include "common/timeutil.h"

rd_kafka_resp_err_t hdr_add_str(rd_kafka_headers_t *hdrs, const char *name, const char *value) {
    return rd_kafka_header_add(hdrs, name, -1, value, (ssize_t)strlen(value));
}

rd_kafka_resp_err_t hdr_add_i64(rd_kafka_headers_t *hdrs, const char *name, int64_t value) {
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%" PRId64, value);
    return rd_kafka_header_add(hdrs, name, -1, buf, n);
}

int hdr_get_str(const rd_kafka_headers_t *hdrs, const char *name, char *buf, size_t size) {
    const void *val;
    size_t len;
    if (!hdrs || rd_kafka_header_get_last(hdrs, name, &val, &len) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    if (!val || len >= size || memchr(val, '\0', len)) return -1;
    memcpy(buf, val, len);
    buf[len] = '\0';
    return 0;
}

int hdr_get_i64(const rd_kafka_headers_t *hdrs, const char *name, int64_t *value) {
    char buf[24], *end;
    if (hdr_get_str(hdrs, name, buf, sizeof(buf)) != 0 || buf[0] == '\0') return -1;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno != 0 || *end != '\0') return -1;
    *value = (int64_t)v;
    return 0;
}

rd_kafka_resp_err_t ce_add(rd_kafka_headers_t *hdrs, const char *type, const char *source,
                           const char *subject, int64_t time_ms) {
    char id[ID_UUID_LEN + 1], ts[TIME_RFC3339_LEN + 1];
    rd_kafka_resp_err_t err;
    id_uuid7(id);
    time_rfc3339(time_ms, ts, sizeof(ts));
    if ((err = hdr_add_str(hdrs, HDR_CE_SPECVERSION, CE_SPECVERSION)) ||
        (err = hdr_add_str(hdrs, HDR_CE_ID, id)) ||
        (err = hdr_add_str(hdrs, HDR_CE_SOURCE, source)) ||
        (err = hdr_add_str(hdrs, HDR_CE_TYPE, type)) ||
        (err = hdr_add_str(hdrs, HDR_CE_TIME, ts)) ||
        (err = hdr_add_str(hdrs, HDR_CE_SUBJECT, subject)) ||
        (err = hdr_add_str(hdrs, HDR_CONTENT_TYPE, CONTENT_TYPE_PROTOBUF)))
        return err;
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

rd_kafka_resp_err_t hdr_continue_trace(const rd_kafka_headers_t *from, rd_kafka_headers_t *to) {
    const void *parent = NULL, *state = NULL;
    size_t parent_len = 0, state_len = 0;
    char tp[TRACE_PARENT_LEN + 1];
    if (from && rd_kafka_header_get_last(from, HDR_TRACEPARENT, &parent, &parent_len))
        parent = NULL;
    int continued = trace_child(parent, parent_len, tp);
    rd_kafka_resp_err_t err = rd_kafka_header_add(to, HDR_TRACEPARENT, -1, tp, TRACE_PARENT_LEN);
    /* tracestate belongs to the trace it came with: dropped with a new one */
    if (!err && continued && !rd_kafka_header_get_last(from, HDR_TRACESTATE, &state, &state_len))
        err = rd_kafka_header_add(to, HDR_TRACESTATE, -1, state, (ssize_t)state_len);
    return err;
}
