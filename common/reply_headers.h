/* reply_headers: Spring for Apache Kafka's request/reply headers (DESIGN.md §4).
 *
 * A requester that wants an answer puts on its record:
 *
 *   kafka_correlationId        16 raw bytes (Spring's CorrelationKey of a random UUID)
 *   kafka_replyTopic           the topic name, bytes without a NUL
 *   kafka_replyPartition       optional, 4-byte big-endian int32
 *   orderfleet_reply_deadline  optional, ms since the epoch, ASCII decimal
 *
 * and the responder copies kafka_correlationId onto its reply, so Spring's
 * ReplyingKafkaTemplate and @SendTo code interoperate with the fleet. The
 * names are HDR_* in common/headers.h. When a header occurs more than once
 * the last one counts, as with Spring's lastHeader(). */
#ifndef ORDERFLEET_REPLY_HEADERS_H
#define ORDERFLEET_REPLY_HEADERS_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#define RH_OK 0
#define RH_ERR -1      /* malformed header (or a request rh_write will not send) */
#define RH_NO_REPLY 1  /* rh_read: no kafka_replyTopic, nobody wants a reply */

#define RH_CORRELATION_LEN 16
#define RH_CORRELATION_HEX_LEN 32
#define RH_TOPIC_MAX 249 /* Kafka's limit on a topic name's length */

struct rh_request {
    uint8_t correlation_id[RH_CORRELATION_LEN];
    char reply_topic[RH_TOPIC_MAX + 1]; /* NUL-terminated */
    int32_t reply_partition;            /* -1: absent, the producer's partitioner picks */
    int64_t deadline_ms;                /* ms since the epoch; -1: absent, no deadline */
};

/* Sets req to "no reply wanted": zero id, empty topic, partition and deadline -1. */
void rh_request_init(struct rh_request *req);

/* Adds the request headers of req to hdrs: correlation id and reply topic
 * always, the partition and the deadline when not -1. Headers of the same
 * names already in hdrs are removed first, so a record forwarded with new
 * request headers carries only the new ones. Returns RH_ERR, with errstr
 * naming the field, when req would not read back as a valid request (topic
 * empty, too long or with characters Kafka refuses, partition below -1,
 * deadline below -1) or librdkafka refuses a header; hdrs may then hold some
 * of the headers. */
int rh_write(rd_kafka_headers_t *hdrs, const struct rh_request *req, char *errstr,
             size_t errsize);

/* Reads the request headers of a consumed record into req (hdrs may be NULL).
 *   RH_OK        a reply is wanted: every field of req is set
 *   RH_NO_REPLY  no kafka_replyTopic: nobody waits; req is as rh_request_init
 *   RH_ERR       a reply is wanted but a header is malformed: errstr names it
 *                (kafka_correlationId absent or not 16 bytes, kafka_replyTopic
 *                empty, too long or not a legal topic name, kafka_replyPartition
 *                not 4 bytes or negative, orderfleet_reply_deadline not a
 *                non-negative decimal number). req is then unspecified.
 * A malformed request is one nobody can be answered for: callers process
 * the order anyway and skip the reply. */
int rh_read(const rd_kafka_headers_t *hdrs, struct rh_request *req, char *errstr,
            size_t errsize);

/* The reply side: replaces any kafka_correlationId in hdrs by id. */
int rh_write_correlation(rd_kafka_headers_t *hdrs, const uint8_t id[RH_CORRELATION_LEN],
                         char *errstr, size_t errsize);

/* Reads kafka_correlationId from a reply's headers into id. Returns RH_OK,
 * RH_ERR when it is absent or not exactly 16 bytes (errstr says which). */
int rh_read_correlation(const rd_kafka_headers_t *hdrs, uint8_t id[RH_CORRELATION_LEN],
                        char *errstr, size_t errsize);

/* Fills id with 16 bytes from the kernel's CSPRNG: unguessable, so a reply
 * can only be matched by a party that saw the request. */
void rh_correlation_new(uint8_t id[RH_CORRELATION_LEN]);

/* Writes id as 32 lowercase hex characters and a NUL into out (for logs and
 * metrics). Returns out. */
char *rh_correlation_hex(const uint8_t id[RH_CORRELATION_LEN],
                         char out[RH_CORRELATION_HEX_LEN + 1]);

#endif
