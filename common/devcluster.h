/* devcluster: an embedded Kafka for development, demos and integration tests:
 * librdkafka's mock cluster on loopback, with the contract's topics created
 * (DESIGN.md §3). Clients in other processes reach it over TCP like any
 * broker; it lives as long as the process that hosts it. */
#ifndef ORDERFLEET_DEVCLUSTER_H
#define ORDERFLEET_DEVCLUSTER_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "common/config.h"

typedef struct devcluster devcluster;

/* Starts nodes mock brokers on random free loopback ports and creates the
 * topics named in cfg: orders, completed, replies and retry with
 * cfg->orders_partitions partitions each, the dlq with 3. Returns NULL with
 * the reason in errstr. Free with devcluster_destroy(). */
devcluster *devcluster_start(const of_config *cfg, int nodes, char *errstr, size_t errsize);

/* "127.0.0.1:port,..." valid until devcluster_destroy(). */
const char *devcluster_bootstraps(const devcluster *dc);

/* The underlying mock cluster, for fault injection in tests. */
rd_kafka_mock_cluster_t *devcluster_mock(devcluster *dc);

void devcluster_destroy(devcluster *dc);

#endif
