/* outcomes: reconciles placed orders with their outcomes.
 *
 * Reads the outcome topic (orders.completed) from the beginning of every
 * partition, without a consumer group's offsets: partitions are assigned by
 * hand and nothing is ever committed. With --expect it accounts for every
 * expected order id until each has an outcome or the timeout passes, then
 * prints a summary (counts per status, duplicates, lost orders, throughput,
 * latency); without it, it prints every outcome as a line of JSON (a tail). */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "common/ids.h"
#include "common/kafka.h"
#include "common/logfmt.h"
#include "common/order_codec.h"
#include "common/order_json.h"
#include "common/timeutil.h"
#include "producer/modes.h"

#define POLL_SLICE_MS 100
#define METADATA_RETRY_MS 500
#define PROGRESS_EVERY_MS 200
#define LOST_LISTED 10

/* ---- the expected orders ---------------------------------------------- */

typedef struct expected {
    char *id;
    int status;        /* OrderStatus of the first outcome */
    uint32_t outcomes; /* outcomes seen; 0: still missing */
} expected;

/* The expected orders in input order, with an open-addressing index. */
typedef struct ledger {
    expected *v;
    size_t n, cap;
    size_t *slots; /* index + 1 into v; 0: empty */
    size_t nslots; /* a power of two, at least 2 * cap */

    size_t accounted; /* expected orders with at least one outcome */
    uint64_t by_status[4];
    uint64_t duplicates;  /* outcomes beyond the first for an expected order */
    uint64_t unexpected;  /* outcomes of orders not expected */
    uint64_t undecodable; /* records that are not an OrderCompleted */
    int64_t *latencies;   /* ms, placed -> completed, one per accounted order */
    int64_t first_placed, last_completed;
} ledger;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The slot where id is, or the empty slot where it would go. */
static size_t *ledger_slot(ledger *l, const char *id) {
    size_t mask = l->nslots - 1;
    for (size_t i = (size_t)hash_str(id) & mask;; i = (i + 1) & mask) {
        size_t *s = &l->slots[i];
        if (*s == 0 || strcmp(l->v[*s - 1].id, id) == 0) return s;
    }
}

static int ledger_rehash(ledger *l, size_t nslots) {
    size_t *slots = calloc(nslots, sizeof(*slots));
    if (!slots) return -1;
    free(l->slots);
    l->slots = slots;
    l->nslots = nslots;
    for (size_t i = 0; i < l->n; i++) *ledger_slot(l, l->v[i].id) = i + 1;
    return 0;
}

/* Adds id (copied) unless it is already there. Returns 0 or -1 (memory). */
static int ledger_add(ledger *l, const char *id) {
    if (l->nslots && *ledger_slot(l, id)) return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 1024;
        expected *v = realloc(l->v, cap * sizeof(*v));
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
        if (ledger_rehash(l, cap * 2) != 0) return -1;
    }
    char *copy = strdup(id);
    if (!copy) return -1;
    l->v[l->n] = (expected){.id = copy, .status = 0, .outcomes = 0};
    *ledger_slot(l, copy) = ++l->n;
    return 0;
}

static expected *ledger_find(ledger *l, const char *id) {
    if (!l->nslots) return NULL;
    size_t s = *ledger_slot(l, id);
    return s ? &l->v[s - 1] : NULL;
}

static void ledger_free(ledger *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i].id);
    free(l->v);
    free(l->slots);
    free(l->latencies);
}

/* Takes one outcome into account. */
static void ledger_record(ledger *l, const order_completed_t *oc) {
    expected *e = ledger_find(l, oc->order_id);
    if (!e) {
        l->unexpected++;
        return;
    }
    if (e->outcomes++ > 0) {
        l->duplicates++;
        return;
    }
    e->status = oc->status >= 0 && oc->status <= 3 ? (int)oc->status : 0;
    l->by_status[e->status]++;
    int64_t latency = oc->completed_at_ms - oc->placed_at_ms;
    l->latencies[l->accounted++] = latency > 0 ? latency : 0;
    if (l->accounted == 1 || oc->placed_at_ms < l->first_placed)
        l->first_placed = oc->placed_at_ms;
    if (l->accounted == 1 || oc->completed_at_ms > l->last_completed)
        l->last_completed = oc->completed_at_ms;
}

/* Reads the expected order ids: one per line, blank lines skipped; a line
 * that is a JSON object (the --json output of the producing modes) gives its
 * "orderId". Returns 0, or EXIT_DATAERR / EXIT_USAGE after printing why. */
static int read_expected(const char *path, ledger *l) {
    int use_stdin = strcmp(path, "-") == 0;
    const char *name = use_stdin ? "stdin" : path;
    FILE *f = use_stdin ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, PROG_NAME ": cannot open %s: %s\n", path, strerror(errno));
        return EXIT_USAGE;
    }
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        char *s = line, *end = line + len;
        while (s < end && isspace((unsigned char)*s)) s++;
        while (end > s && isspace((unsigned char)end[-1])) end--;
        if (s == end) continue;
        *end = '\0';
        const char *id = s;
        json_t *obj = NULL;
        if (*s == '{') {
            json_error_t jerr;
            obj = json_loadb(s, (size_t)(end - s), 0, &jerr);
            id = obj ? json_string_value(json_object_get(obj, "orderId")) : NULL;
            if (!id) {
                fprintf(stderr, PROG_NAME ": %s line %ld: %s\n", name, lineno,
                        obj ? "a JSON line without an \"orderId\" string" : jerr.text);
                json_decref(obj);
                rc = EXIT_DATAERR;
                break;
            }
        }
        int added = ledger_add(l, id);
        json_decref(obj);
        if (added != 0) {
            fprintf(stderr, PROG_NAME ": out of memory\n");
            rc = EXIT_SOFTWARE;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        fprintf(stderr, PROG_NAME ": cannot read %s: %s\n", name, strerror(errno));
        rc = EXIT_DATAERR;
    }
    free(line);
    if (!use_stdin) fclose(f);
    if (rc == 0 && l->n > 0) {
        l->latencies = malloc(l->n * sizeof(*l->latencies));
        if (!l->latencies) {
            fprintf(stderr, PROG_NAME ": out of memory\n");
            rc = EXIT_SOFTWARE;
        }
    }
    return rc;
}

/* ---- the consumer ------------------------------------------------------ */

/* A consumer that reads without a group's offsets. librdkafka only allows
 * assign() with a group.id, so it gets a throwaway one, is never subscribed
 * and never commits: no group is joined, no offsets are stored. */
static rd_kafka_t *consumer_new(const of_config *cfg, char *errstr, size_t errsize) {
    char uuid[ID_UUID_LEN + 1], group[64];
    id_uuid7(uuid);
    snprintf(group, sizeof(group), "order-producer-outcomes-%s", uuid);
    const char *defaults[] = {
        "client.id", "order-producer",
        "group.id", group,
        "enable.partition.eof", "false",
        NULL,
    };
    static const char *const enforced[] = {
        "enable.auto.commit", "false",
        "enable.auto.offset.store", "false",
        NULL,
    };
    rd_kafka_conf_t *conf = kafka_conf_new(cfg, defaults, enforced, errstr, errsize);
    if (!conf) return NULL;
    rd_kafka_t *rk = kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errsize);
    if (!rk) return NULL;
    /* Client events (errors, logs) come through rd_kafka_consumer_poll(). */
    rd_kafka_resp_err_t err = rd_kafka_poll_set_consumer(rk);
    if (err) {
        snprintf(errstr, errsize, "cannot redirect the main queue: %s", rd_kafka_err2str(err));
        rd_kafka_destroy(rk);
        return NULL;
    }
    return rk;
}

#define FETCH_OK 0
#define FETCH_STOPPED 1
#define FETCH_TIMEOUT 2

/* Assigns every partition of topic from its beginning. Waits (and says so
 * once) while the topic does not exist yet, until deadline_ms (monotonic; 0:
 * none) or a stop request. */
static int assign_all(rd_kafka_t *rk, const char *topic, int64_t deadline_ms,
                      volatile sig_atomic_t *run, char *errstr, size_t errsize) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt) {
        snprintf(errstr, errsize, "topic %s: %s", topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        return FETCH_TIMEOUT;
    }
    int rc = FETCH_TIMEOUT, told = 0;
    for (;;) {
        if (!*run) {
            rc = FETCH_STOPPED;
            break;
        }
        int64_t left = deadline_ms ? deadline_ms - time_mono_ms() : 1000;
        if (left <= 0) break;
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err =
            rd_kafka_metadata(rk, 0, rkt, &md, left < 1000 ? (int)left : 1000);
        if (!err && (md->topic_cnt != 1 || md->topics[0].partition_cnt == 0))
            err = md->topic_cnt == 1 && md->topics[0].err ? md->topics[0].err
                                                          : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        if (!err) {
            const struct rd_kafka_metadata_topic *t = &md->topics[0];
            rd_kafka_topic_partition_list_t *parts =
                rd_kafka_topic_partition_list_new(t->partition_cnt);
            for (int i = 0; i < t->partition_cnt; i++)
                rd_kafka_topic_partition_list_add(parts, topic, t->partitions[i].id)->offset =
                    RD_KAFKA_OFFSET_BEGINNING;
            err = rd_kafka_assign(rk, parts);
            log_debug("partitions assigned", "topic=%s count=%d", topic, t->partition_cnt);
            rd_kafka_topic_partition_list_destroy(parts);
            rd_kafka_metadata_destroy(md);
            if (err) {
                snprintf(errstr, errsize, "cannot assign the partitions of %s: %s", topic,
                         rd_kafka_err2str(err));
            } else {
                rc = FETCH_OK;
            }
            break;
        }
        snprintf(errstr, errsize, "topic %s: %s", topic, rd_kafka_err2str(err));
        if (md) rd_kafka_metadata_destroy(md);
        if (!told) {
            log_info("waiting for topic", "topic=%s error=%s", topic, rd_kafka_err2str(err));
            told = 1;
        }
        for (int waited = 0; waited < METADATA_RETRY_MS && *run; waited += POLL_SLICE_MS) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, POLL_SLICE_MS);
            if (m) rd_kafka_message_destroy(m);
        }
    }
    rd_kafka_topic_destroy(rkt);
    return rc;
}

/* ---- output ------------------------------------------------------------ */

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n), n > 0. */
static int64_t percentile(const int64_t *v, size_t n, double pct) {
    size_t rank = (size_t)((pct / 100.0) * (double)n + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return v[rank - 1];
}

/* Prints the summary on stdout and up to LOST_LISTED lost ids on stderr.
 * Returns 0, or -1 (logged) when stdout could not be written. */
static int print_summary(ledger *l, int json, int interrupted) {
    size_t lost = l->n - l->accounted;
    int have = l->accounted > 0;
    int64_t p50 = 0, p99 = 0;
    unsigned long long fulfilled, rejected, failed;
    fulfilled = l->by_status[ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED];
    rejected = l->by_status[ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_REJECTED];
    failed = l->by_status[ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FAILED];
    double span_s = have ? (double)(l->last_completed - l->first_placed) / 1000.0 : 0;
    double throughput = span_s > 0 ? (double)l->accounted / span_s : 0;
    if (have) {
        qsort(l->latencies, l->accounted, sizeof(*l->latencies), cmp_i64);
        p50 = percentile(l->latencies, l->accounted, 50);
        p99 = percentile(l->latencies, l->accounted, 99);
    }

    if (json) {
        json_t *ids = json_array();
        for (size_t i = 0; i < l->n; i++)
            if (!l->v[i].outcomes) json_array_append_new(ids, json_string(l->v[i].id));
        json_t *o = json_pack(
            "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:b, s:o}",
            "ordersPlaced", (json_int_t)l->n, "outcomes", (json_int_t)l->accounted,
            "fulfilled", (json_int_t)fulfilled, "rejected", (json_int_t)rejected,
            "failed", (json_int_t)failed,
            "duplicates", (json_int_t)l->duplicates, "lost", (json_int_t)lost,
            "undecodable", (json_int_t)l->undecodable, "unexpected", (json_int_t)l->unexpected,
            "throughputPerSecond", span_s > 0 ? json_real(throughput) : json_null(),
            "latencyP50Ms", have ? json_integer(p50) : json_null(),
            "latencyP99Ms", have ? json_integer(p99) : json_null(),
            "interrupted", interrupted, "lostOrderIds", ids ? ids : json_array());
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s) printf("%s\n", s);
        else fprintf(stderr, PROG_NAME ": out of memory\n");
        free(s);
        json_decref(o);
    } else {
        printf("%-16s%10zu\n", "orders placed", l->n);
        printf("%-16s%10zu\n", "outcomes", l->accounted);
        printf("%-16s%10llu\n", "  fulfilled", fulfilled);
        printf("%-16s%10llu\n", "  rejected", rejected);
        printf("%-16s%10llu\n", "  failed", failed);
        if (l->by_status[0])
            printf("%-16s%10llu\n", "  unspecified", (unsigned long long)l->by_status[0]);
        printf("%-16s%10llu\n", "duplicates", (unsigned long long)l->duplicates);
        printf("%-16s%10zu\n", "lost", lost);
        if (l->undecodable)
            printf("%-16s%10llu\n", "undecodable", (unsigned long long)l->undecodable);
        if (span_s > 0)
            printf("%-16s%10.1f orders/s   (first placed -> last completed)\n", "throughput",
                   throughput);
        else
            printf("%-16s%10s\n", "throughput", "-");
        if (have) {
            printf("%-16s%10lld ms         (placed -> completed)\n", "latency p50",
                   (long long)p50);
            printf("%-16s%10lld ms\n", "latency p99", (long long)p99);
        } else {
            printf("%-16s%10s\n", "latency p50", "-");
            printf("%-16s%10s\n", "latency p99", "-");
        }
    }
    int rc = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        log_error("cannot write the summary to stdout", "error=%s", strerror(errno));
        rc = -1;
    }

    size_t listed = 0;
    for (size_t i = 0; i < l->n && listed < LOST_LISTED; i++)
        if (!l->v[i].outcomes) {
            fprintf(stderr, PROG_NAME ": lost: %s\n", l->v[i].id);
            listed++;
        }
    if (lost > listed) fprintf(stderr, PROG_NAME ": ... and %zu more lost orders\n", lost - listed);
    return rc;
}

typedef struct progress {
    int enabled;
    int64_t last_draw_ms;
    int width;
} progress;

static void progress_draw(progress *pg, const ledger *l) {
    if (!pg->enabled) return;
    int64_t now = time_mono_ms();
    if (now - pg->last_draw_ms < PROGRESS_EVERY_MS) return;
    pg->last_draw_ms = now;
    char line[96];
    int w = snprintf(line, sizeof(line), "accounted %zu/%zu", l->accounted, l->n);
    if (w < 0 || w >= (int)sizeof(line)) return;
    fprintf(stderr, "\r%s%*s", line, pg->width > w ? pg->width - w : 0, "");
    fflush(stderr);
    pg->width = w;
}

static void progress_clear(progress *pg) {
    if (!pg->enabled || pg->width == 0) return;
    fprintf(stderr, "\r%*s\r", pg->width, "");
    fflush(stderr);
    pg->width = 0;
}

/* ---- the mode ---------------------------------------------------------- */

/* Handles one record: decodes it and either accounts for it (l != NULL) or
 * prints it as JSON (the tail); sets *write_failed (logged once) when stdout
 * cannot be written, after which nothing more is printed. */
static void handle_record(const rd_kafka_message_t *m, ledger *l, int *write_failed) {
    char errstr[256];
    order_completed_t *oc = codec_completed_decode(m->payload, m->len, errstr, sizeof(errstr));
    if (!oc) {
        if (l) l->undecodable++;
        log_warn("undecodable outcome", "topic=%s partition=%d offset=%lld error=%s",
                 rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset, errstr);
        return;
    }
    if (l) {
        ledger_record(l, oc);
    } else if (!*write_failed) {
        char *s = orderjson_completed_dump(oc);
        int rc = s ? printf("%s\n", s) : -1;
        if (fflush(stdout) != 0) rc = -1;
        if (rc < 0) {
            *write_failed = 1;
            log_error("cannot write outcomes to stdout, stopping", "order_id=%s error=%s",
                      oc->order_id, strerror(errno));
        }
        free(s);
    }
    codec_completed_free(oc);
}

int mode_outcomes(const mode_ctx *ctx, const outcomes_opts *o) {
    char errstr[512];
    ledger led;
    ledger *l = o->expect ? &led : NULL;
    rd_kafka_t *rk = NULL;
    int rc, interrupted = 0, write_failed = 0;

    memset(&led, 0, sizeof(led));
    if (l && (rc = read_expected(o->expect, l)) != 0) goto done;
    if (l && l->n == 0) {
        /* Nothing to wait for: the summary of nothing, without Kafka. */
        rc = print_summary(l, ctx->json, 0) != 0 ? EXIT_IOERR : 0;
        goto done;
    }

    rk = consumer_new(ctx->cfg, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, PROG_NAME ": %s\n", errstr);
        rc = EXIT_CONFIG;
        goto done;
    }
    int64_t deadline = o->timeout_s > 0 ? time_mono_ms() + (int64_t)(o->timeout_s * 1000.0) : 0;
    int assigned = assign_all(rk, ctx->cfg->topic_completed, deadline, ctx->run, errstr,
                              sizeof(errstr));
    if (assigned == FETCH_TIMEOUT) log_error("cannot read outcomes", "error=%s", errstr);
    if (assigned == FETCH_STOPPED) interrupted = 1;

    progress pg = {.enabled = ctx->progress && l, .last_draw_ms = 0, .width = 0};
    while (assigned == FETCH_OK) {
        if (!*ctx->run) {
            interrupted = 1;
            break;
        }
        if (l && l->accounted == l->n) break;
        if (write_failed) break; /* a tail nobody can read */
        if (deadline && time_mono_ms() >= deadline) break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, POLL_SLICE_MS);
        if (l) progress_draw(&pg, l);
        if (!m) continue;
        if (m->err)
            log_warn("consumer error", "error=%s detail=%s", rd_kafka_err2name(m->err),
                     rd_kafka_message_errstr(m));
        else
            handle_record(m, l, &write_failed);
        rd_kafka_message_destroy(m);
    }
    progress_clear(&pg);

    rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk);
    if (err) log_warn("cannot close the consumer", "error=%s", rd_kafka_err2str(err));

    if (!l) {
        /* A tail ends by design: only not reading or not writing is an error. */
        if (assigned == FETCH_TIMEOUT) rc = EXIT_UNAVAILABLE;
        else if (write_failed) rc = EXIT_IOERR;
        else rc = 0;
        goto done;
    }
    if (print_summary(l, ctx->json, interrupted) != 0) rc = EXIT_IOERR;
    else if (l->accounted == l->n) rc = 0;
    else if (interrupted) rc = EXIT_INTERRUPTED;
    else rc = EXIT_LOST;

done:
    if (rk) rd_kafka_destroy(rk);
    ledger_free(&led);
    return rc;
}
