#define _POSIX_C_SOURCE 200809L
#include "common/kafka.h"

#include <stdio.h>
#include <string.h>

#include "common/ids.h"
#include "common/logfmt.h"

/* librdkafka logs with syslog levels (0 emerg .. 7 debug), from its own
 * threads; logfmt_write() is thread-safe. */
static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    log_level_t lvl = level <= 3 ? LOG_LEVEL_ERROR
                      : level == 4 ? LOG_LEVEL_WARN
                      : level <= 6 ? LOG_LEVEL_INFO
                                   : LOG_LEVEL_DEBUG;
    if (!logfmt_enabled(lvl)) return;
    logfmt_write(lvl, "librdkafka", "client=%s facility=%s detail=%s", rd_kafka_name(rk), fac,
                 buf);
}

int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                   size_t errsize) {
    char why[256];
    if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errsize, "kafka property %s: %s", name, why);
        return KAFKA_ERR;
    }
    return KAFKA_OK;
}

static int conf_set_list(rd_kafka_conf_t *conf, const char *const *kv, char *errstr,
                         size_t errsize) {
    for (; kv && kv[0]; kv += 2)
        if (kafka_conf_set(conf, kv[0], kv[1], errstr, errsize) != KAFKA_OK) return KAFKA_ERR;
    return KAFKA_OK;
}

rd_kafka_conf_t *kafka_conf_new(const of_config *cfg, const char *const *defaults,
                                const char *const *enforced, char *errstr, size_t errsize) {
    return kafka_conf_new_as(cfg, NULL, defaults, enforced, errstr, errsize);
}

rd_kafka_conf_t *kafka_conf_new_as(const of_config *cfg, const char *client_id,
                                   const char *const *defaults, const char *const *enforced,
                                   char *errstr, size_t errsize) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (client_id && kafka_conf_set(conf, "client.id", client_id, errstr, errsize) != KAFKA_OK)
        goto err;
    if (conf_set_list(conf, defaults, errstr, errsize) != KAFKA_OK) goto err;
    if (config_apply_kafka(cfg, conf, errstr, errsize) != CONFIG_OK) goto err;
    if (conf_set_list(conf, enforced, errstr, errsize) != KAFKA_OK) goto err;
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    return conf;
err:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

rd_kafka_t *kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errstr,
                      size_t errsize) {
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, errsize);
    if (!rk) rd_kafka_conf_destroy(conf); /* rd_kafka_new() keeps conf only on success */
    return rk;
}

int kafka_wait_metadata(rd_kafka_t *rk, const char *topic, int timeout_ms, char *errstr,
                        size_t errsize) {
    rd_kafka_topic_t *rkt = topic ? rd_kafka_topic_new(rk, topic, NULL) : NULL;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, rkt ? 0 : 1, rkt, &md, timeout_ms);
    if (rkt) rd_kafka_topic_destroy(rkt);
    if (err) {
        snprintf(errstr, errsize, "no metadata from %s within %d ms: %s",
                 topic ? topic : "the cluster", timeout_ms, rd_kafka_err2str(err));
        return KAFKA_ERR;
    }
    int rc = KAFKA_OK;
    if (topic && (md->topic_cnt != 1 || md->topics[0].err)) {
        snprintf(errstr, errsize, "topic %s: %s", topic,
                 rd_kafka_err2str(md->topic_cnt ? md->topics[0].err
                                                : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
        rc = KAFKA_ERR;
    }
    rd_kafka_metadata_destroy(md);
    return rc;
}

/* The partition count of topic, or -1 with errstr set. */
static int partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms, char *errstr,
                           size_t errsize) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt) {
        snprintf(errstr, errsize, "topic %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (!err && md->topic_cnt != 1) err = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    if (!err) err = md->topics[0].err;
    int count = err ? -1 : md->topics[0].partition_cnt;
    if (md) rd_kafka_metadata_destroy(md);
    if (!err && count <= 0) {
        snprintf(errstr, errsize, "topic %s has no partitions", topic);
        return -1;
    }
    if (err) snprintf(errstr, errsize, "topic %s: %s", topic, rd_kafka_err2str(err));
    return err ? -1 : count;
}

int kafka_assign_at(rd_kafka_t *rk, const char *const *topics, size_t n, int only,
                    int64_t from, int timeout_ms, char *errstr, size_t errsize) {
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(16);
    rd_kafka_topic_partition_list_t *ends = NULL;
    rd_kafka_resp_err_t err;
    for (size_t t = 0; t < n; t++) {
        int count = partition_count(rk, topics[t], timeout_ms, errstr, errsize);
        if (count < 0) goto err;
        if (only >= count) {
            snprintf(errstr, errsize, "partition %d of %s does not exist: it has %d", only,
                     topics[t], count);
            goto err;
        }
        for (int p = 0; p < count; p++)
            if (only < 0 || p == only)
                rd_kafka_topic_partition_list_add(parts, topics[t], p)->offset =
                    from == KAFKA_FROM_BEGINNING ? RD_KAFKA_OFFSET_BEGINNING
                                                 : from == KAFKA_FROM_END ? RD_KAFKA_OFFSET_END
                                                                          : from;
    }
    /* One ListOffsets request per leader for every partition at once: a
     * timestamp, or the logical -1 (end) / -2 (beginning), both of which
     * offsets_for_times passes to Kafka as they are. */
    err = rd_kafka_offsets_for_times(rk, parts, timeout_ms);
    if (err) {
        snprintf(errstr, errsize, "offsets of %s: %s", topics[0], rd_kafka_err2str(err));
        goto err;
    }
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        if (tp->err) {
            snprintf(errstr, errsize, "offset of %s[%d]: %s", tp->topic, (int)tp->partition,
                     rd_kafka_err2str(tp->err));
            goto err;
        }
        if (tp->offset >= 0) continue;
        /* No record that new (a timestamp past the last record): the end,
         * as a number, looked up the same way. */
        if (!ends) ends = rd_kafka_topic_partition_list_new(parts->cnt);
        rd_kafka_topic_partition_list_add(ends, tp->topic, tp->partition)->offset =
            RD_KAFKA_OFFSET_END;
    }
    if (ends) {
        err = rd_kafka_offsets_for_times(rk, ends, timeout_ms);
        for (int i = 0; !err && i < ends->cnt; i++) {
            rd_kafka_topic_partition_t *e = &ends->elems[i];
            if (e->err || e->offset < 0) {
                err = e->err ? e->err : RD_KAFKA_RESP_ERR__NO_OFFSET;
                break;
            }
            rd_kafka_topic_partition_list_find(parts, e->topic, e->partition)->offset = e->offset;
        }
        if (err) {
            snprintf(errstr, errsize, "end offsets of %s: %s", topics[0], rd_kafka_err2str(err));
            goto err;
        }
    }
    err = rd_kafka_assign(rk, parts);
    if (err) {
        snprintf(errstr, errsize, "assign: %s", rd_kafka_err2str(err));
        goto err;
    }
    rd_kafka_topic_partition_list_destroy(parts);
    if (ends) rd_kafka_topic_partition_list_destroy(ends);
    return KAFKA_OK;

err:
    rd_kafka_topic_partition_list_destroy(parts);
    if (ends) rd_kafka_topic_partition_list_destroy(ends);
    return KAFKA_ERR;
}

rd_kafka_t *kafka_consumer_by_hand(const of_config *cfg, const char *role,
                                   const char *client_id, const char *const *defaults,
                                   void (*tune)(rd_kafka_conf_t *conf, void *opaque),
                                   void *opaque, char *errstr, size_t errsize) {
    char group[96], uuid[ID_UUID_LEN + 1];
    id_uuid7(uuid);
    snprintf(group, sizeof(group), "orderfleet-%s-%s", role, uuid);
    const char *enforced[] = {"group.id", group, "enable.auto.commit", "false",
                              "enable.auto.offset.store", "false", NULL};
    rd_kafka_conf_t *conf = kafka_conf_new_as(cfg, client_id, defaults, enforced, errstr, errsize);
    if (!conf) return NULL;
    if (tune) tune(conf, opaque);
    rd_kafka_t *rk = kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errsize);
    if (rk) rd_kafka_poll_set_consumer(rk);
    return rk;
}
