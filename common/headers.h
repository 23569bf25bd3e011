/* headers: the Kafka record headers of the contract (DESIGN.md §4).
 *
 * CloudEvents 1.0 in binary mode (ce_*), W3C trace context, Spring's
 * request/reply headers and orderfleet's own retry and dead-letter headers.
 * orderfleet_* values are ASCII decimal or text, so kcat shows them as-is. */
#ifndef ORDERFLEET_HEADERS_H
#define ORDERFLEET_HEADERS_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#define HDR_CE_SPECVERSION "ce_specversion"
#define HDR_CE_ID "ce_id"
#define HDR_CE_SOURCE "ce_source"
#define HDR_CE_TYPE "ce_type"
#define HDR_CE_TIME "ce_time"
#define HDR_CE_SUBJECT "ce_subject"
#define HDR_CONTENT_TYPE "content-type"
#define HDR_TRACEPARENT "traceparent"
#define HDR_TRACESTATE "tracestate"

#define HDR_CORRELATION_ID "kafka_correlationId"
#define HDR_REPLY_TOPIC "kafka_replyTopic"
#define HDR_REPLY_PARTITION "kafka_replyPartition"
#define HDR_REPLY_DEADLINE "orderfleet_reply_deadline"

#define HDR_ATTEMPT "orderfleet_attempt"
#define HDR_NOT_BEFORE "orderfleet_not_before"
#define HDR_ERROR_CLASS "orderfleet_error_class"
#define HDR_ERROR "orderfleet_error"
#define HDR_ORIGINAL_TOPIC "orderfleet_original_topic"
#define HDR_ORIGINAL_PARTITION "orderfleet_original_partition"
#define HDR_ORIGINAL_OFFSET "orderfleet_original_offset"
#define HDR_VALUE_DROPPED "orderfleet_value_dropped" /* DLQ: original value size, not kept */

#define CE_SPECVERSION "1.0"
#define CE_TYPE_ORDER_PLACED "orderfleet.v1.OrderPlaced"
#define CE_TYPE_ORDER_COMPLETED "orderfleet.v1.OrderCompleted"
#define CONTENT_TYPE_PROTOBUF "application/protobuf"

/* Adds a text header (value without its NUL). */
rd_kafka_resp_err_t hdr_add_str(rd_kafka_headers_t *hdrs, const char *name, const char *value);

/* Adds an integer header as ASCII decimal. */
rd_kafka_resp_err_t hdr_add_i64(rd_kafka_headers_t *hdrs, const char *name, int64_t value);

/* Copies the last header called name into buf as a NUL-terminated string.
 * Returns 0 when found and it fits (and holds no NUL), -1 otherwise. */
int hdr_get_str(const rd_kafka_headers_t *hdrs, const char *name, char *buf, size_t size);

/* Reads the last header called name as ASCII decimal. Returns 0 on success,
 * -1 when absent or not a whole number. */
int hdr_get_i64(const rd_kafka_headers_t *hdrs, const char *name, int64_t *value);

/* Adds the CloudEvents binary-mode headers for one event: ce_specversion,
 * a fresh ce_id, ce_source, ce_type, ce_time (from time_ms), ce_subject
 * (the order id) and content-type. */
rd_kafka_resp_err_t ce_add(rd_kafka_headers_t *hdrs, const char *type, const char *source,
                           const char *subject, int64_t time_ms);

/* Continues the trace of one record (from; NULL for none) in another's
 * headers: a traceparent with the same trace id and a new span id, and the
 * tracestate as it was; a new trace when from has no valid traceparent (see
 * common/trace.h). So the outcome and the reply carry the request's trace. */
rd_kafka_resp_err_t hdr_continue_trace(const rd_kafka_headers_t *from, rd_kafka_headers_t *to);

#endif
