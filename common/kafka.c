#define _POSIX_C_SOURCE 200809L
#include "common/kafka.h"

#include <stdio.h>
#include <string.h>

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
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
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
