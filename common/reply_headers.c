#define _POSIX_C_SOURCE 200809L
#include "common/reply_headers.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/headers.h"
#include "common/ids.h"

void rh_request_init(struct rh_request *req) {
    memset(req, 0, sizeof(*req));
    req->reply_partition = -1;
    req->deadline_ms = -1;
}

/* Checks a topic name against Kafka's rules: 1..249 characters from
 * [a-zA-Z0-9._-], and neither "." nor "..". Returns NULL when legal, else
 * what is wrong with it. */
static const char *topic_problem(const char *name, size_t len) {
    if (len == 0) return "is empty";
    if (len > RH_TOPIC_MAX) return "is longer than 249 bytes";
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return "holds a character other than [a-zA-Z0-9._-]";
    }
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return "is \".\" or \"..\"";
    return NULL;
}

/* The last header called name: 1 and its value when present (a NULL value
 * reads as empty), 0 when absent. */
static int header_last(const rd_kafka_headers_t *hdrs, const char *name, const void **val,
                       size_t *len) {
    if (!hdrs || rd_kafka_header_get_last(hdrs, name, val, len) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    if (!*val) *len = 0;
    return 1;
}

/* Renders up to RH_SHOW_MAX bytes of a header value for an error message:
 * printable ASCII as is, anything else as \xNN, "..." when cut. buf needs
 * RH_SHOW_MAX * 4 + 4 bytes. Returns buf. */
#define RH_SHOW_MAX 32
static const char *show_bytes(const void *val, size_t len, char *buf, size_t size) {
    const unsigned char *b = val;
    size_t o = 0;
    for (size_t i = 0; i < len && i < RH_SHOW_MAX; i++) {
        if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '"' && b[i] != '\\')
            buf[o++] = (char)b[i];
        else
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", b[i]);
    }
    if (len > RH_SHOW_MAX) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

/* Removes every header called name, then adds one with value. */
static int header_replace(rd_kafka_headers_t *hdrs, const char *name, const void *value,
                          size_t len, char *errstr, size_t errsize) {
    rd_kafka_header_remove(hdrs, name); /* RD_KAFKA_RESP_ERR__NOENT when none: fine */
    rd_kafka_resp_err_t err = rd_kafka_header_add(hdrs, name, -1, value, (ssize_t)len);
    if (err) {
        snprintf(errstr, errsize, "cannot add header %s: %s", name, rd_kafka_err2str(err));
        return RH_ERR;
    }
    return RH_OK;
}

int rh_write_correlation(rd_kafka_headers_t *hdrs, const uint8_t id[RH_CORRELATION_LEN],
                         char *errstr, size_t errsize) {
    return header_replace(hdrs, HDR_CORRELATION_ID, id, RH_CORRELATION_LEN, errstr, errsize);
}

int rh_write(rd_kafka_headers_t *hdrs, const struct rh_request *req, char *errstr,
             size_t errsize) {
    size_t tlen = strnlen(req->reply_topic, sizeof(req->reply_topic));
    const char *problem = topic_problem(req->reply_topic, tlen);
    if (problem) {
        snprintf(errstr, errsize, "%s: reply topic %s", HDR_REPLY_TOPIC, problem);
        return RH_ERR;
    }
    if (req->reply_partition < -1) {
        snprintf(errstr, errsize, "%s: partition %" PRId32 " is negative", HDR_REPLY_PARTITION,
                 req->reply_partition);
        return RH_ERR;
    }
    if (req->deadline_ms < -1) {
        snprintf(errstr, errsize, "%s: deadline %" PRId64 " is negative", HDR_REPLY_DEADLINE,
                 req->deadline_ms);
        return RH_ERR;
    }
    if (rh_write_correlation(hdrs, req->correlation_id, errstr, errsize) != RH_OK ||
        header_replace(hdrs, HDR_REPLY_TOPIC, req->reply_topic, tlen, errstr, errsize) != RH_OK)
        return RH_ERR;

    if (req->reply_partition >= 0) {
        uint32_t v = (uint32_t)req->reply_partition;
        uint8_t be[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
        if (header_replace(hdrs, HDR_REPLY_PARTITION, be, sizeof(be), errstr, errsize) != RH_OK)
            return RH_ERR;
    } else {
        rd_kafka_header_remove(hdrs, HDR_REPLY_PARTITION);
    }

    rd_kafka_header_remove(hdrs, HDR_REPLY_DEADLINE);
    if (req->deadline_ms >= 0) {
        rd_kafka_resp_err_t err = hdr_add_i64(hdrs, HDR_REPLY_DEADLINE, req->deadline_ms);
        if (err) {
            snprintf(errstr, errsize, "cannot add header %s: %s", HDR_REPLY_DEADLINE,
                     rd_kafka_err2str(err));
            return RH_ERR;
        }
    }
    return RH_OK;
}

int rh_read_correlation(const rd_kafka_headers_t *hdrs, uint8_t id[RH_CORRELATION_LEN],
                        char *errstr, size_t errsize) {
    const void *val;
    size_t len;
    if (!header_last(hdrs, HDR_CORRELATION_ID, &val, &len)) {
        snprintf(errstr, errsize, "%s: absent", HDR_CORRELATION_ID);
        return RH_ERR;
    }
    if (len != RH_CORRELATION_LEN) {
        snprintf(errstr, errsize, "%s: %zu bytes, expected %d", HDR_CORRELATION_ID, len,
                 RH_CORRELATION_LEN);
        return RH_ERR;
    }
    memcpy(id, val, RH_CORRELATION_LEN);
    return RH_OK;
}

/* The deadline header is ASCII decimal like every orderfleet_* header; it
 * is read with hdr_get_i64 once we know it is there, so that "absent" and
 * "not a number" can be told apart. */
int rh_read(const rd_kafka_headers_t *hdrs, struct rh_request *req, char *errstr,
            size_t errsize) {
    const void *val;
    size_t len;
    rh_request_init(req);

    if (!header_last(hdrs, HDR_REPLY_TOPIC, &val, &len)) return RH_NO_REPLY;
    const char *problem = topic_problem(val, len);
    if (problem) {
        snprintf(errstr, errsize, "%s: reply topic %s", HDR_REPLY_TOPIC, problem);
        return RH_ERR;
    }
    memcpy(req->reply_topic, val, len);
    req->reply_topic[len] = '\0';

    if (rh_read_correlation(hdrs, req->correlation_id, errstr, errsize) != RH_OK) return RH_ERR;

    if (header_last(hdrs, HDR_REPLY_PARTITION, &val, &len)) {
        if (len != 4) {
            snprintf(errstr, errsize, "%s: %zu bytes, expected a 4-byte big-endian int",
                     HDR_REPLY_PARTITION, len);
            return RH_ERR;
        }
        const uint8_t *b = val;
        uint32_t v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        if (v > INT32_MAX) {
            snprintf(errstr, errsize, "%s: partition %" PRId64 " is negative",
                     HDR_REPLY_PARTITION, (int64_t)v - (int64_t)4294967296LL);
            return RH_ERR;
        }
        req->reply_partition = (int32_t)v;
    }

    if (header_last(hdrs, HDR_REPLY_DEADLINE, &val, &len)) {
        int64_t ms;
        if (hdr_get_i64(hdrs, HDR_REPLY_DEADLINE, &ms) != 0) {
            char shown[RH_SHOW_MAX * 4 + 4];
            snprintf(errstr, errsize, "%s: \"%s\" is not a decimal number of ms since the epoch",
                     HDR_REPLY_DEADLINE, show_bytes(val, len, shown, sizeof(shown)));
            return RH_ERR;
        }
        if (ms < 0) {
            snprintf(errstr, errsize, "%s: %" PRId64 " is negative", HDR_REPLY_DEADLINE, ms);
            return RH_ERR;
        }
        req->deadline_ms = ms;
    }
    return RH_OK;
}

void rh_correlation_new(uint8_t id[RH_CORRELATION_LEN]) {
    id_random_bytes(id, RH_CORRELATION_LEN);
}

char *rh_correlation_hex(const uint8_t id[RH_CORRELATION_LEN],
                         char out[RH_CORRELATION_HEX_LEN + 1]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < RH_CORRELATION_LEN; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 0x0f];
    }
    out[RH_CORRELATION_HEX_LEN] = '\0';
    return out;
}
