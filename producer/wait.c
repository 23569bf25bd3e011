/* wait: the --wait session that place, send and load share: a requester,
 * one output line per order as its report arrives, and the summary. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/ids.h"
#include "common/logfmt.h"
#include "common/order_json.h"
#include "common/timeutil.h"
#include "producer/modes.h"


/* How long wait_start() waits for the reply consumer to be positioned. */
#define WAIT_READY_MS 30000
/* How long wait_finish() serves delivery reports of orders still waiting. */
#define WAIT_SHUTDOWN_FLUSH_MS 5000
/* Poll slices: while the requester is full, and while draining. */
#define WAIT_FULL_POLL_MS 10
#define WAIT_DRAIN_POLL_MS 100

static const char *const wait_kind_names[WAIT_KINDS] = {
    "fulfilled", "rejected", "failed", "timed_out", "not_sent", "bad_reply", "shutdown",
};

/* Writes s to stdout in double quotes, with '"', '\\' and control
 * characters escaped as logfmt does, so that a reason never breaks the line
 * apart. */
static void put_quoted(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        case '\n': fputs("\\n", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        default:
            if (*p < 0x20 || *p == 0x7f) printf("\\x%02x", *p);
            else putchar(*p);
        }
    }
    putchar('"');
}

/* The line kind of a report. A reply whose status is neither FULFILLED nor
 * REJECTED (UNSPECIFIED, or a number this build does not know) is no
 * answer: it counts as a bad reply, though the requester calls it REPLIED. */
static int wait_kind(const request_report *rep) {
    switch (rep->result) {
    case REQUEST_REPLIED:
        switch (rep->outcome->status) {
        case ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED: return WAIT_FULFILLED;
        case ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_REJECTED: return WAIT_REJECTED;
        default:
            log_warn("reply without a status", "order_id=%s status=%d", rep->order_id,
                     (int)rep->outcome->status);
            return WAIT_BAD_REPLY;
        }
    case REQUEST_FAILED: return WAIT_FAILED;
    case REQUEST_TIMED_OUT: return WAIT_TIMED_OUT;
    case REQUEST_NOT_SENT: return WAIT_NOT_SENT;
    case REQUEST_BAD_REPLY: return WAIT_BAD_REPLY;
    default: return WAIT_SHUTDOWN;
    }
}

/* Prints one order's line (see modes.h) and flushes it. Returns 0, or -1
 * when stdout could not be written (or, with --json, the line could not be
 * built: out of memory). */
static int wait_print(const wait_session *ws, const char *order_id, request_result result,
                      const order_completed_t *outcome, const char *error) {
    int rc = 0;
    if (ws->ctx->json) {
        char *s = NULL;
        if (outcome) {
            s = orderjson_completed_dump(outcome);
        } else {
            json_t *o = json_pack("{s:s, s:s}", "orderId", order_id, "result",
                                  request_result_name(result));
            if (o && error && json_object_set_new(o, "error", json_string(error)) != 0) {
                json_decref(o);
                o = NULL;
            }
            s = o ? json_dumps(o, JSON_COMPACT) : NULL;
            json_decref(o);
        }
        rc = s ? printf("%s\n", s) : -1;
        free(s);
    } else if (outcome) {
        printf("%s %s total=%lld", order_id, codec_status_short_name((int)outcome->status),
               (long long)outcome->total);
        if (outcome->currency && outcome->currency[0]) printf(" %s", outcome->currency);
        if (outcome->status != ORDERFLEET__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED) {
            fputs(" reason=", stdout);
            put_quoted(outcome->reason ? outcome->reason : "");
        }
        rc = putchar('\n') == EOF ? -1 : 0;
    } else {
        static const char *const words[] = {"REPLIED",  "FAILED",    "TIMED_OUT",
                                            "NOT_SENT", "BAD_REPLY", "SHUTDOWN"};
        printf("%s %s", order_id, words[result]);
        if (error) {
            fputs(" error=", stdout);
            put_quoted(error);
        }
        rc = putchar('\n') == EOF ? -1 : 0;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) rc = -1;
    return rc < 0 ? -1 : 0;
}

/* Counts a line, prints it unless stdout has failed already, and remembers
 * the first write failure (logged once; no later line is written). */
static void wait_record(wait_session *ws, int kind, const char *order_id, request_result result,
                        const order_completed_t *outcome, const char *error) {
    ws->counts[kind]++;
    if (ws->write_failed) return;
    if (wait_print(ws, order_id, result, outcome, error) != 0) {
        ws->write_failed = 1;
        log_error("cannot write order results to stdout, stopping", "order_id=%s error=%s",
                  order_id, strerror(errno));
    }
}

/* Keeps one reply latency. Out of memory only loses percentile accuracy:
 * logged once, never fatal. */
static void wait_keep_latency(wait_session *ws, int64_t us) {
    if (ws->n_latencies == ws->cap_latencies) {
        size_t cap = ws->cap_latencies ? ws->cap_latencies * 2 : 1024;
        int64_t *l = realloc(ws->latencies_us, cap * sizeof(*l));
        if (!l) {
            if (ws->latencies_lost++ == 0)
                log_warn("out of memory for latencies, the percentiles leave some out", NULL);
            return;
        }
        ws->latencies_us = l;
        ws->cap_latencies = cap;
    }
    ws->latencies_us[ws->n_latencies++] = us;
}

/* The requester's report callback: one line per order. */
static void wait_on_report(const request_report *rep, void *opaque) {
    wait_session *ws = opaque;
    if (ws->keep_latencies && rep->outcome) wait_keep_latency(ws, rep->latency_us);
    wait_record(ws, wait_kind(rep), rep->order_id, rep->result, rep->outcome, rep->error);
}

int wait_start(wait_session *ws, const mode_ctx *ctx, const char *mode, size_t max_waiting,
               int keep_latencies) {
    char errstr[512];
    memset(ws, 0, sizeof(*ws));
    ws->ctx = ctx;
    ws->mode = mode;
    ws->keep_latencies = keep_latencies;
    ws->start_ms = time_mono_ms();
    ws->req = requester_new(ctx->cfg, PROG_NAME, -1, max_waiting, wait_on_report, ws, errstr,
                            sizeof(errstr));
    if (!ws->req) {
        fprintf(stderr, PROG_NAME ": %s\n", errstr);
        return EXIT_CONFIG;
    }
    int64_t until = time_mono_ms() + WAIT_READY_MS;
    while (!requester_ready(ws->req)) {
        if (!*ctx->run) return EXIT_INTERRUPTED;
        if (time_mono_ms() >= until) {
            fprintf(stderr,
                    PROG_NAME ": --wait: cannot read replies from topic %s: not ready after %d "
                              "s (is Kafka reachable, and does the topic exist?)\n",
                    ctx->cfg->topic_replies, WAIT_READY_MS / 1000);
            return EXIT_UNAVAILABLE;
        }
        requester_poll(ws->req, 100);
    }
    ws->start_ms = time_mono_ms();
    return 0;
}

int wait_send(wait_session *ws, const order_placed_t *order) {
    char errstr[512], id[ID_UUID_LEN + 1];
    order_placed_t msg = *order; /* shallow: only order_id may change */
    if (!msg.order_id || !*msg.order_id) {
        id_uuid7(id);
        msg.order_id = id;
    }
    for (;;) {
        int rc = requester_send(ws->req, &msg, NULL, ws->ctx->deadline_ms, NULL, errstr,
                                sizeof(errstr));
        if (rc == REQUESTER_OK) return WAIT_SENT;
        if (rc == REQUESTER_ERR) {
            wait_record(ws, WAIT_NOT_SENT, msg.order_id, REQUEST_NOT_SENT, NULL, errstr);
            return WAIT_NOT_SENT_NOW;
        }
        /* FULL (or NOT_READY, which cannot come after wait_start()): make
         * room by serving reports and deadlines. */
        if (!*ws->ctx->run || ws->write_failed) return WAIT_STOPPED;
        requester_poll(ws->req, WAIT_FULL_POLL_MS);
    }
}

void wait_poll(wait_session *ws, int timeout_ms) { requester_poll(ws->req, timeout_ms); }

size_t wait_waiting(const wait_session *ws) {
    requester_stats st;
    requester_stats_get(ws->req, &st);
    return st.waiting;
}

int wait_drain(wait_session *ws, void (*tick)(void *opaque), void *opaque) {
    while (wait_waiting(ws) > 0) {
        if (!*ws->ctx->run) return 1;
        if (ws->write_failed) return 0;
        requester_poll(ws->req, WAIT_DRAIN_POLL_MS);
        if (tick) tick(opaque);
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0 < q <= 1) of the sorted latencies, nearest rank, in ms. */
static double quantile_ms(const int64_t *sorted, size_t n, double q) {
    size_t rank = (size_t)ceil(q * (double)n);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return (double)sorted[rank - 1] / 1000.0;
}

int wait_finish(wait_session *ws, int interrupted, int invalid) {
    size_t left = wait_waiting(ws);
    if (left > 0 && interrupted)
        log_warn("stopping: ending every wait, interrupt again to exit now", "waiting=%zu",
                 left);
    else if (left > 0)
        log_warn("stopping: ending every wait, nobody reads the results", "waiting=%zu", left);
    /* Ends every wait still open (each gets its line), and serves the
     * delivery reports of orders answered before Kafka's report came. */
    requester_shutdown(ws->req, WAIT_SHUTDOWN_FLUSH_MS);

    requester_stats st;
    requester_stats_get(ws->req, &st);
    const uint64_t *c = ws->counts;
    int64_t elapsed = time_mono_ms() - ws->start_ms;
    log_info("wait finished",
             "mode=%s sent=%llu fulfilled=%llu rejected=%llu failed=%llu timed_out=%llu "
             "not_sent=%llu bad_reply=%llu shutdown=%llu late_replies=%llu "
             "unknown_replies=%llu elapsed_ms=%lld",
             ws->mode, (unsigned long long)st.sent, (unsigned long long)c[WAIT_FULFILLED],
             (unsigned long long)c[WAIT_REJECTED], (unsigned long long)c[WAIT_FAILED],
             (unsigned long long)c[WAIT_TIMED_OUT], (unsigned long long)c[WAIT_NOT_SENT],
             (unsigned long long)c[WAIT_BAD_REPLY], (unsigned long long)c[WAIT_SHUTDOWN],
             (unsigned long long)st.late_replies, (unsigned long long)st.unknown_replies,
             (long long)elapsed);
    if (ws->keep_latencies && ws->n_latencies > 0) {
        size_t n = ws->n_latencies;
        qsort(ws->latencies_us, n, sizeof(*ws->latencies_us), cmp_i64);
        log_info("reply latency", "mode=%s replies=%zu p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f "
                 "p999_ms=%.1f max_ms=%.1f left_out=%llu",
                 ws->mode, n, quantile_ms(ws->latencies_us, n, 0.50),
                 quantile_ms(ws->latencies_us, n, 0.90), quantile_ms(ws->latencies_us, n, 0.99),
                 quantile_ms(ws->latencies_us, n, 0.999),
                 (double)ws->latencies_us[n - 1] / 1000.0,
                 (unsigned long long)ws->latencies_lost);
    }
    for (int k = 0; k < WAIT_KINDS; k++)
        log_debug("wait results", "kind=%s count=%llu", wait_kind_names[k],
                  (unsigned long long)c[k]);
    return mode_exit_status(c[WAIT_NOT_SENT] > 0, ws->write_failed, interrupted, invalid,
                            c[WAIT_TIMED_OUT] > 0,
                            c[WAIT_FAILED] > 0 || c[WAIT_BAD_REPLY] > 0);
}

int wait_write_latencies(const wait_session *ws, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) {
        log_error("cannot write the latency file", "path=%s error=%s", path, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < ws->n_latencies; i++)
        fprintf(f, "%.3f\n", (double)ws->latencies_us[i] / 1000.0);
    int failed = ferror(f);
    if (fclose(f) != 0) failed = 1;
    if (failed) {
        log_error("cannot write the latency file", "path=%s error=%s", path, strerror(errno));
        return -1;
    }
    return 0;
}

void wait_free(wait_session *ws) {
    requester_free(ws->req);
    free(ws->latencies_us);
    ws->req = NULL;
    ws->latencies_us = NULL;
}
