#define _POSIX_C_SOURCE 200809L
#include "gateway/history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "common/kafka.h"
#include "common/logfmt.h"
#include "common/order_json.h"
#include "common/recent.h"
#include "common/timeutil.h"
#include "common/wakeup.h"

#define POSITION_STEP_MS 500
#define READ_BATCH 2000 /* records per history_poll(), so HTTP keeps its turn */
/* Bytes per entry budgeted for the map: an outcome's JSON is 300-400. */
#define BYTES_PER_ENTRY 768

/* Each entry's value: one state byte, then the outcome's JSON when
 * COMPLETED. */
#define STATE_ACCEPTED 'A'
#define STATE_COMPLETED 'C'

struct history {
    const of_config *cfg;
    rd_kafka_t *consumer;
    wakeup wake; /* the consumer queue: history_fd() */
    recent_t *view;
    int positioned;
    int caught_up;
    int64_t next_position_ms;
    /* Catch-up: the partitions assigned, and which of them librdkafka has
     * reported at their end (PARTITION_EOF: the fetcher reached the end,
     * past control records, compacted gaps and aborted transactions). */
    rd_kafka_topic_partition_list_t *assigned;
    unsigned char *at_end;
    int remaining;
    history_stats st;
    /* Orders seen placed, no outcome yet: keys only (history_in_flight()). */
    recent_t *in_flight;
    struct {
        history_listener fn;
        void *ctx;
    } listeners[HISTORY_MAX_LISTENERS];
    int nlisteners;
};

static const char *const consumer_defaults[] = {
    "enable.partition.eof", "true", /* catch-up: each partition says when it is read */
    NULL,
};

history_t *history_new(const of_config *cfg, char *errstr, size_t errsize) {
    history_t *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    if (wakeup_open(&h->wake, errstr, errsize) != WAKEUP_OK) goto err;
    h->cfg = cfg;
    h->view = recent_new((size_t)cfg->gateway_outcomes,
                         (size_t)cfg->gateway_outcomes * BYTES_PER_ENTRY);
    h->in_flight = recent_new((size_t)cfg->gateway_outcomes, 0);
    if (!h->view || !h->in_flight) {
        snprintf(errstr, errsize, "cannot make room for %d outcomes (gateway.outcomes)",
                 cfg->gateway_outcomes);
        goto err;
    }
    h->consumer =
        kafka_consumer_by_hand(cfg, "history", NULL, consumer_defaults, NULL, NULL, errstr,
                               errsize);
    if (!h->consumer ||
        wakeup_watch(&h->wake, rd_kafka_queue_get_consumer(h->consumer), errstr, errsize) !=
            WAKEUP_OK)
        goto err;
    return h;

err:
    history_free(h);
    return NULL;
}

/* Assigns both topics from history_s back; the view is caught up once
 * every partition has reported its end. */
static void position(history_t *h) {
    const char *topics[] = {h->cfg->topic_orders, h->cfg->topic_completed};
    int64_t since = time_now_ms() - (int64_t)h->cfg->gateway_history_s * 1000;
    char why[256];
    if (kafka_assign_at(h->consumer, topics, 2, -1, since, POSITION_STEP_MS, why,
                        sizeof(why)) != KAFKA_OK) {
        log_warn("history not positioned yet, retrying", "error=\"%s\"", why);
        h->next_position_ms = time_mono_ms() + 1000;
        return;
    }
    h->positioned = 1;
    if (rd_kafka_assignment(h->consumer, &h->assigned) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        !(h->at_end = calloc((size_t)h->assigned->cnt + 1, 1))) {
        /* Without the bookkeeping, count it caught up: GET may miss old
         * orders for a moment, but the gateway serves. */
        log_error("history: cannot track catch-up, not waiting for it", "topics=%s,%s",
                  topics[0], topics[1]);
        h->caught_up = 1;
        return;
    }
    h->remaining = h->assigned->cnt;
    log_info("history positioned", "orders=%s completed=%s since_s=%d partitions=%d", topics[0],
             topics[1], h->cfg->gateway_history_s, h->assigned->cnt);
}

/* A partition reached its end: the view is caught up when all have. */
static void note_end(history_t *h, const rd_kafka_message_t *m) {
    if (h->caught_up || !h->at_end) return;
    const char *topic = rd_kafka_topic_name(m->rkt);
    for (int i = 0; i < h->assigned->cnt; i++) {
        if (h->at_end[i] || h->assigned->elems[i].partition != m->partition ||
            strcmp(h->assigned->elems[i].topic, topic) != 0)
            continue;
        h->at_end[i] = 1;
        if (--h->remaining == 0) {
            h->caught_up = 1;
            log_info("history caught up", "entries=%zu orders_read=%llu outcomes_read=%llu",
                     recent_count(h->view), (unsigned long long)h->st.orders_read,
                     (unsigned long long)h->st.outcomes_read);
        }
        return;
    }
}

int history_listen(history_t *h, history_listener fn, void *ctx) {
    if (h->nlisteners == HISTORY_MAX_LISTENERS) return -1;
    h->listeners[h->nlisteners].fn = fn;
    h->listeners[h->nlisteners].ctx = ctx;
    h->nlisteners++;
    return 0;
}

static void tell(history_t *h, const history_event *ev) {
    for (int i = 0; i < h->nlisteners; i++) h->listeners[i].fn(ev, h->listeners[i].ctx);
}

/* The state byte of order_id's entry, or 0 when the view does not know it. */
static char state_of(const history_t *h, const char *order_id, size_t len) {
    const void *v = NULL;
    size_t vlen = 0;
    if (recent_get(h->view, order_id, len, &v, &vlen) != RECENT_OK || vlen == 0) return 0;
    return *(const char *)v;
}

static void placed_first(history_t *h, const char *order_id, size_t len, int64_t at_ms) {
    (void)recent_put(h->in_flight, order_id, len, NULL, 0);
    history_event ev = {.kind = HISTORY_EV_PLACED, .order_id = order_id, .at_ms = at_ms};
    tell(h, &ev);
}

/* An order seen placed at at_ms: a first sight is told to the listeners. */
static void accepted_at(history_t *h, const char *order_id, int64_t at_ms) {
    size_t len = strlen(order_id);
    char prev = state_of(h, order_id, len);
    if (prev == STATE_COMPLETED) return; /* the outcome is known already: keep it */
    char state = STATE_ACCEPTED;
    if (recent_put(h->view, order_id, len, &state, 1) == RECENT_OK && prev == 0)
        placed_first(h, order_id, len, at_ms);
}

/* An outcome seen at at_ms: recorded (a copy replaces the entry, which
 * becomes the newest); a first sight is told to the listeners. */
static void completed_at(history_t *h, const order_completed_t *outcome, int64_t at_ms) {
    if (!outcome->order_id || !*outcome->order_id) return;
    char *json = orderjson_completed_dump(outcome);
    if (!json) return;
    const char *id = outcome->order_id;
    size_t idlen = strlen(id);
    size_t jlen = strlen(json);
    char prev = state_of(h, id, idlen);
    char *value = malloc(jlen + 1);
    if (value) {
        value[0] = STATE_COMPLETED;
        memcpy(value + 1, json, jlen);
        if (recent_put(h->view, id, idlen, value, jlen + 1) == RECENT_OK &&
            prev != STATE_COMPLETED) {
            if (prev == 0) placed_first(h, id, idlen, at_ms);
            (void)recent_del(h->in_flight, id, idlen);
            history_event ev = {.kind = HISTORY_EV_OUTCOME,
                                .order_id = id,
                                .at_ms = at_ms,
                                .status = (int)outcome->status,
                                .json = json,
                                .json_len = jlen};
            tell(h, &ev);
        }
        free(value);
    }
    free(json);
}

void history_accepted(history_t *h, const char *order_id) {
    accepted_at(h, order_id, time_now_ms());
}

void history_completed(history_t *h, const order_completed_t *outcome) {
    completed_at(h, outcome, time_now_ms());
}

/* A record's timestamp (create or append time), or now when it has none. */
static int64_t record_ms(const rd_kafka_message_t *m) {
    rd_kafka_timestamp_type_t type;
    int64_t ts = rd_kafka_message_timestamp(m, &type);
    return type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || ts < 0 ? time_now_ms() : ts;
}

static void handle(history_t *h, const rd_kafka_message_t *m) {
    const char *topic = rd_kafka_topic_name(m->rkt);
    char err[200];
    if (strcmp(topic, h->cfg->topic_completed) == 0) {
        h->st.outcomes_read++;
        order_completed_t *o = codec_completed_decode(m->payload, m->len, err, sizeof(err));
        if (!o) {
            h->st.undecodable++;
        } else {
            completed_at(h, o, record_ms(m));
            codec_completed_free(o);
        }
    } else {
        /* An OrderPlaced: its key is the order id (DESIGN §3), so the value
         * need not be decoded to know the order exists. */
        h->st.orders_read++;
        char id[256];
        if (!m->key || m->key_len == 0 || m->key_len >= sizeof(id)) {
            h->st.undecodable++;
        } else {
            memcpy(id, m->key, m->key_len);
            id[m->key_len] = '\0';
            accepted_at(h, id, record_ms(m));
        }
    }
}

void history_poll(history_t *h) {
    if (!h->positioned && time_mono_ms() >= h->next_position_ms) position(h);
    /* The queue is served even before positioning: errors and other events
     * land there too, and an unserved one would keep waking the loop. */
    wakeup_drain(&h->wake);
    for (int i = 0;; i++) {
        if (i == READ_BATCH) {
            wakeup_poke(&h->wake); /* more may be queued: the next turn */
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(h->consumer, 0);
        if (!m) break;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) note_end(h, m);
        else if (m->err) log_warn("history consumer error", "error=%s", rd_kafka_message_errstr(m));
        else handle(h, m);
        rd_kafka_message_destroy(m);
    }
}

int history_fd(const history_t *h) { return wakeup_fd(&h->wake); }

int history_ready(const history_t *h) { return h->positioned && h->caught_up; }

int history_lookup(const history_t *h, const char *order_id, const char **json, size_t *len) {
    const void *v = NULL;
    size_t vlen = 0;
    if (recent_get(h->view, order_id, strlen(order_id), &v, &vlen) != RECENT_OK || vlen == 0)
        return HISTORY_UNKNOWN;
    const char *s = v;
    if (s[0] != STATE_COMPLETED) return HISTORY_ACCEPTED;
    *json = s + 1;
    *len = vlen - 1;
    return HISTORY_COMPLETED;
}

void history_stats_get(const history_t *h, history_stats *st) {
    *st = h->st;
    st->forgotten = recent_evicted(h->view);
    st->entries = recent_count(h->view);
}

size_t history_in_flight(const history_t *h) { return recent_count(h->in_flight); }

int history_orders_ends(const history_t *h, int64_t *ends, int64_t *starts, int max) {
    int n = 0;
    if (!h->assigned) return 0;
    for (int i = 0; i < h->assigned->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &h->assigned->elems[i];
        if (strcmp(tp->topic, h->cfg->topic_orders) != 0 || tp->partition < 0 ||
            tp->partition >= max)
            continue;
        int64_t lo = -1, hi = -1;
        if (rd_kafka_get_watermark_offsets(h->consumer, tp->topic, tp->partition, &lo, &hi) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            hi < 0)
            lo = hi = -1;
        /* partitions may come in any order: fill the gaps as unknown */
        for (int p = n; p < tp->partition; p++) {
            ends[p] = -1;
            if (starts) starts[p] = -1;
        }
        ends[tp->partition] = hi;
        if (starts) starts[tp->partition] = lo;
        if (tp->partition + 1 > n) n = tp->partition + 1;
    }
    return n;
}

void history_free(history_t *h) {
    if (!h) return;
    /* The assignment copy holds references to librdkafka's partitions:
     * released before the handle, or rd_kafka_destroy() waits for them. */
    if (h->assigned) rd_kafka_topic_partition_list_destroy(h->assigned);
    wakeup_close(&h->wake); /* its queue before the client */
    if (h->consumer) {
        rd_kafka_consumer_close(h->consumer);
        rd_kafka_destroy(h->consumer);
    }
    free(h->at_end);
    recent_free(h->view);
    recent_free(h->in_flight);
    free(h);
}
