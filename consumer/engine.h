/* engine: the worker's Kafka loop (DESIGN.md §5).
 *
 * Consumes orders as a member of the worker group, hands
 * each order to the handler, publishes the outcome on the completed topic
 * (and undecodable or unidentifiable records, and orders that failed on every
 * attempt, to the dead-letter topic), and commits an input offset only once
 * everything that record produced has been acknowledged by Kafka: the
 * committed offset of a partition is always its first record not yet done.
 *
 * Threading: everything here runs on the caller's thread. librdkafka's
 * callbacks (delivery reports, rebalances, commits) are served from the
 * engine's own poll calls, never concurrently. */
#ifndef ORDERFLEET_ENGINE_H
#define ORDERFLEET_ENGINE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "common/config.h"
#include "common/metrics.h"
#include "common/ops.h"
#include "consumer/handler.h"

typedef struct engine engine;

/* What the engine has done so far. */
typedef struct engine_stats {
    uint64_t consumed;
    uint64_t skipped; /* done by an earlier owner (commit metadata): not redone */
    uint64_t fulfilled, rejected, failed; /* outcomes published, by status */
    uint64_t dead_lettered;
    uint64_t retries;
    uint64_t replies, replies_late, reply_errors; /* request/reply (DESIGN §4) */
    uint64_t publish_errors;
    uint64_t rebalances;
    uint64_t commits; /* offset commits sent (exactly-once: transactions committed) */
    uint64_t aborts;  /* exactly-once: transactions aborted */
} engine_stats;

/* The partition assignor a worker uses unless configured otherwise:
 * cooperative-sticky where librdkafka handles commits during cooperative
 * rebalances correctly (2.10 and later), roundrobin before. */
const char *engine_default_assignor(void);

/* Checks settings that only make sense together (the retry and drain
 * budgets against max.poll.interval.ms). Returns 0, or -1 with the reason. */
int engine_check_config(const of_config *cfg, char *errstr, size_t errsize);

/* Creates the consumer and producer from cfg (which must outlive the engine)
 * and subscribes to the orders topic. h is borrowed. m (metrics registry)
 * and o (the /healthz, /readyz endpoint) are borrowed too, may be NULL, and
 * must outlive the engine: the engine registers its metrics in m, renews
 * liveness every loop turn and says when it is ready (consumer/worker_metrics.h).
 * Returns NULL with the reason in errstr. Free with engine_destroy(). */
engine *engine_new(const of_config *cfg, const handler *h, metrics *m, ops *o, char *errstr,
                   size_t errsize);

/* Runs until *run becomes 0 (SIGTERM/SIGINT) or a fatal error, then stops
 * fetching, drains in-flight work within worker.drain_timeout_ms, commits,
 * leaves the group and flushes. Returns the exit status: 0 after a clean stop,
 * EXIT_TEMPFAIL (75) when a record could neither be answered nor
 * dead-lettered (it stays uncommitted, so it is retried after a restart), or
 * EXIT_SOFTWARE (70) on a fatal Kafka client error. */
int engine_run(engine *e, volatile sig_atomic_t *run);

void engine_get_stats(const engine *e, engine_stats *out);

void engine_destroy(engine *e);

/* Reads the retry headers of a record from the retry topic (hdrs may be
 * NULL): *attempt becomes orderfleet_attempt when that is a whole number in
 * 2..1000, *not_before becomes orderfleet_not_before (ms since the epoch)
 * when that is a whole number; each is left as it was otherwise, so a broken
 * header reads as an absent one (the order runs as a first attempt, now).
 * Never fails; no allocation. */
void engine_retry_headers(const rd_kafka_headers_t *hdrs, unsigned *attempt,
                          int64_t *not_before);

#endif
