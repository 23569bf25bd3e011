#define _POSIX_C_SOURCE 200809L
#include "common/devcluster.h"

#include <stdio.h>
#include <stdlib.h>

struct devcluster {
    rd_kafka_t *rk; /* owns the mock cluster's bookkeeping, nothing else */
    rd_kafka_mock_cluster_t *mock;
};

/* The mock cluster needs an rd_kafka_t to hang off. A producer that never
 * produces is the lightest; it must not itself connect anywhere. */
devcluster *devcluster_start(const of_config *cfg, int nodes, char *errstr, size_t errsize) {
    devcluster *dc = calloc(1, sizeof(*dc));
    if (!dc) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* log_level 4: its own "no bootstrap.servers" notice is expected here. */
    if (rd_kafka_conf_set(conf, "client.id", "order-devbroker", errstr, errsize) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log_level", "4", errstr, errsize) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        goto err;
    }
    dc->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errsize);
    if (!dc->rk) {
        rd_kafka_conf_destroy(conf);
        goto err;
    }
    dc->mock = rd_kafka_mock_cluster_new(dc->rk, nodes);
    if (!dc->mock) {
        snprintf(errstr, errsize, "could not start a mock cluster of %d brokers", nodes);
        goto err;
    }

    int rf = nodes < 3 ? nodes : 3;
    struct {
        const char *name;
        int partitions;
    } topics[] = {
        {cfg->topic_orders, cfg->orders_partitions},
        {cfg->topic_completed, cfg->orders_partitions},
        {cfg->topic_replies, cfg->orders_partitions},
        {cfg->topic_retry, cfg->orders_partitions},
        {cfg->topic_dlq, 3},
    };
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(dc->mock, topics[i].name, topics[i].partitions, rf);
        if (err) {
            snprintf(errstr, errsize, "creating topic %s: %s", topics[i].name,
                     rd_kafka_err2str(err));
            goto err;
        }
    }
    return dc;
err:
    devcluster_destroy(dc);
    return NULL;
}

const char *devcluster_bootstraps(const devcluster *dc) {
    return rd_kafka_mock_cluster_bootstraps(dc->mock);
}

rd_kafka_mock_cluster_t *devcluster_mock(devcluster *dc) { return dc->mock; }

void devcluster_destroy(devcluster *dc) {
    if (!dc) return;
    if (dc->mock) rd_kafka_mock_cluster_destroy(dc->mock);
    if (dc->rk) rd_kafka_destroy(dc->rk);
    free(dc);
}
