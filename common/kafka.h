/* kafka: client configuration shared by every program.
 *
 * A program states its own defaults (idempotence for producers, manual
 * commits for workers, ...), the user's properties from config and -X are
 * applied over them, and last come the properties the program cannot work
 * without, which nobody may override. librdkafka's logs are routed into our
 * logfmt lines. */
#ifndef ORDERFLEET_KAFKA_H
#define ORDERFLEET_KAFKA_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "common/config.h"

#define KAFKA_OK 0
#define KAFKA_ERR -1

/* max.in.flight.requests.per.connection for every idempotent producer of the
 * project. With more than one request in flight, librdkafka (2.0.2 and 2.8
 * alike) can lose a record while reporting it delivered: a new producer's
 * first batch to a partition fails with NOT_LEADER_OR_FOLLOWER (a partition
 * just created, or a leader being elected) while its second batch, already in
 * flight, succeeds, because a broker with no state for the producer on that
 * partition accepts any first sequence number. librdkafka then takes the
 * success as an implicit acknowledgement of the first batch ("implicitly
 * acked by subsequent batch success") and reports its records delivered at
 * offset -1001; they are in no log. Seen on Kafka 3.9 in the rebalance e2e
 * test, and reported against confluent-kafka-go (issue #921). With one
 * request in flight a failed batch is retried before anything after it is
 * sent. It costs no measurable throughput on loopback (docs/decisions.md);
 * -X max.in.flight.requests.per.connection=5 restores librdkafka's default,
 * and the risk. */
#define IDEMPOTENT_IN_FLIGHT "1"

/* Builds a configuration: defaults, then cfg's kafka properties, then
 * enforced. defaults and enforced are NULL-terminated name/value arrays
 * ({"acks", "all", NULL}) or NULL. Returns NULL with the failing property in
 * errstr. The caller owns the conf until it hands it to rd_kafka_new(). */
rd_kafka_conf_t *kafka_conf_new(const of_config *cfg, const char *const *defaults,
                                const char *const *enforced, char *errstr, size_t errsize);

/* kafka_conf_new() with client_id (may be NULL) as the default client.id,
 * before defaults: a program's name, which the user's properties can still
 * override. */
rd_kafka_conf_t *kafka_conf_new_as(const of_config *cfg, const char *client_id,
                                   const char *const *defaults, const char *const *enforced,
                                   char *errstr, size_t errsize);

/* Sets one property, formatting the error as "name=value: reason". */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                   size_t errsize);

/* Creates a client of the given type from conf, which it takes over even on
 * failure. Returns NULL with librdkafka's reason in errstr. */
rd_kafka_t *kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errstr,
                      size_t errsize);

/* Waits until the cluster answers a metadata request for topic (NULL: any),
 * up to timeout_ms. Returns KAFKA_OK or KAFKA_ERR with the reason in errstr. */
int kafka_wait_metadata(rd_kafka_t *rk, const char *topic, int timeout_ms, char *errstr,
                        size_t errsize);

/* Creates a consumer that never joins a group: its partitions are assigned
 * by hand (kafka_assign_at()) and nothing is committed. librdkafka's
 * rd_kafka_consumer_poll() wants a group.id all the same: a unique one,
 * "orderfleet-<role>-<uuid>", keeps it out of everybody's way. Properties:
 * client_id (may be NULL) as client.id, defaults (may be NULL), then cfg's,
 * then the group.id and no automatic
 * commits or offset stores. tune (may be NULL) is called on the conf with
 * opaque before the client is made, to set callbacks. The main queue is
 * forwarded to the consumer queue (rd_kafka_poll_set_consumer()). Returns
 * NULL with errstr; the caller closes and destroys the client. */
rd_kafka_t *kafka_consumer_by_hand(const of_config *cfg, const char *role,
                                   const char *client_id, const char *const *defaults,
                                   void (*tune)(rd_kafka_conf_t *conf, void *opaque),
                                   void *opaque, char *errstr, size_t errsize);

/* Where kafka_assign_at() positions each partition. A value >= 0 is a
 * timestamp (ms since the epoch): the first record at or after it. */
#define KAFKA_FROM_END -1       /* the high watermark: only records yet to come */
#define KAFKA_FROM_BEGINNING -2 /* the low watermark: everything still kept */

/* Assigns partitions of topics[0..n) to consumer rk by hand (no group, no
 * rebalance), each at an absolute offset chosen by from (KAFKA_FROM_* or a
 * timestamp; where no record is that new, the high watermark). only >= 0
 * takes that partition of each topic only. Absolute offsets, resolved
 * before the call returns, are what make "positioned" true: a record
 * produced after the return is read, however late the first fetch.
 *
 * Blocks for one metadata request per topic and one or two ListOffsets
 * rounds (one request per leader), each up to timeout_ms. Returns KAFKA_OK,
 * or KAFKA_ERR with errstr naming the topic or partition that failed
 * (nothing is assigned then). */
int kafka_assign_at(rd_kafka_t *rk, const char *const *topics, size_t n, int only,
                    int64_t from, int timeout_ms, char *errstr, size_t errsize);

#endif
