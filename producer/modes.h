/* modes: order-producer's modes (place, send, load, outcomes) and what
 * main.c hands them: the loaded configuration, the output switches, the run
 * flag cleared by SIGINT/SIGTERM, --wait, and each mode's parsed options.
 * Each entry function returns the program's exit status (see usage() in
 * main.c). Also what the producing modes share (ack_print.c): the printing
 * of acknowledged ids and, with --wait, the wait session. */
#ifndef ORDERFLEET_PRODUCER_MODES_H
#define ORDERFLEET_PRODUCER_MODES_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/cli.h"
#include "common/config.h"
#include "common/ids.h"
#include "common/publisher.h"
#include "common/requester.h"

#define PROG_NAME "order-producer"

/* Exit statuses besides cli.h's EXIT_USAGE (64), EXIT_DATAERR (65),
 * EXIT_UNAVAILABLE (69) and config.h's EXIT_CONFIG (78). */
#define EXIT_LOST 1          /* outcomes: some expected orders have no outcome */
#define EXIT_FAILED 1        /* --wait: some outcome is FAILED, or a reply was unreadable */
#define EXIT_IOERR 74        /* EX_IOERR: stdout could not be written */
#define EXIT_INTERRUPTED 130 /* 128 + SIGINT */

typedef struct mode_ctx {
    const of_config *cfg;
    int json;                   /* --json: machine-readable stdout */
    int progress;               /* stderr is a terminal and not -q: draw progress lines */
    volatile sig_atomic_t *run; /* cleared by the first SIGINT/SIGTERM */
    int wait;                   /* --wait (place, send, load): wait for each order's reply */
    int64_t deadline_ms;        /* --deadline: how long each reply is waited for, from its send */
} mode_ctx;

typedef struct place_opts {
    const char *json;        /* the JSON argument, or NULL: the order comes from flags */
    const char *customer;    /* --customer */
    const char *currency;    /* --currency, NULL: EUR */
    const char *order_id;    /* --order-id, NULL: assigned */
    const char **items;      /* --item SKU:QTY[:UNIT_PRICE], n_items of them */
    size_t n_items;
    const char **attrs;      /* --attr KEY=VALUE, n_attrs of them */
    size_t n_attrs;
} place_opts;

typedef struct send_opts {
    const char *path; /* NULL or "-": stdin */
} send_opts;

typedef struct load_opts {
    long count;           /* --count */
    double rate;          /* --rate, orders/s; 0: as fast as possible */
    long customers;       /* --customers */
    double invalid_share; /* --invalid-share, 0..1 */
    double soldout_share; /* --soldout-share, 0..1 */
    int has_seed;
    uint64_t seed;        /* --seed, when has_seed */
    int ids;              /* --ids: print acknowledged ids */
    const char *latency_file; /* --latency-file (with --wait): every reply latency, ms */
} load_opts;

typedef struct outcomes_opts {
    const char *expect; /* --expect FILE|-, NULL: tail */
    double timeout_s;   /* --timeout, 0: none */
} outcomes_opts;

int mode_place(const mode_ctx *ctx, const place_opts *o);
int mode_send(const mode_ctx *ctx, const send_opts *o);
int mode_load(const mode_ctx *ctx, const load_opts *o);
int mode_outcomes(const mode_ctx *ctx, const outcomes_opts *o);

/* The exit status of a producing mode, the first that applies, most
 * serious first: 69 when some order was not acknowledged or a fatal producer
 * error left orders unsent (Kafka does not have them), or --wait could not
 * start reading replies; 74 when stdout could not be written (the ids, the
 * input of outcomes --expect, are incomplete); 130 when interrupted before
 * all input was sent; 65 when some input was invalid; with --wait, 75 when
 * some order was acknowledged but got no reply by its deadline (its outcome
 * comes later), and 1 when some outcome is FAILED or a reply was unreadable;
 * else 0. The arguments are flags, in that order. */
static inline int mode_exit_status(int unavailable, int write_failed, int interrupted,
                                   int invalid, int timed_out, int failed) {
    if (unavailable) return EXIT_UNAVAILABLE;
    if (write_failed) return EXIT_IOERR;
    if (interrupted) return EXIT_INTERRUPTED;
    if (invalid) return EXIT_DATAERR;
    if (timed_out) return EXIT_TEMPFAIL;
    if (failed) return EXIT_FAILED;
    return 0;
}

/* NULL when an order's id is absent (one is assigned) or usable, else what
 * is wrong with it. The rule is the gateway's (1 to 128 characters of RFC
 * 3986's unreserved set, docs/decisions.md): an id refused here is one the
 * worker would dead-letter as unidentifiable (over 128 bytes) or that GET
 * /v1/orders/{id} could not name; better said at once, before Kafka. */
static inline const char *mode_order_id_problem(const char *id) {
    if (!id || !*id || id_order_valid(id, strlen(id))) return NULL;
    return "orderId: must be 1 to 128 characters of A-Z a-z 0-9 - . _ ~";
}

/* What publisher_ack_print() needs: json selects the output format;
 * write_failed is set when stdout could not be written (reported once; no
 * later id is written): the mode should stop sending, finish what is in
 * flight and exit with EXIT_IOERR. */
typedef struct ack_printer {
    int json;
    int write_failed;
} ack_printer;

/* A publisher_ack_fn (opaque: an ack_printer) that writes the acknowledged
 * order id on stdout, "<order id>\n" or with json
 * {"orderId":"…","topic":"orders","partition":3,"offset":17}, and flushes
 * the line so that a pipe sees each id as soon as it is acknowledged.
 * Nothing is written once pr->write_failed is set. */
void publisher_ack_print(const publisher_ack *ack, void *opaque);

/* ---- --wait: the wait session ------------------------------------------
 *
 * With --wait, place, send and load publish through a requester
 * (common/requester.h) instead of a publisher, and print one line per order
 * as its report arrives (flushed), instead of the acknowledged id:
 *
 *   <id> FULFILLED total=<total> <currency>                     a reply
 *   <id> REJECTED total=<total> <currency> reason="..."         a reply
 *   <id> FAILED total=<total> <currency> reason="..."           a reply
 *   <id> TIMED_OUT                 acknowledged, no reply by the deadline
 *   <id> NOT_SENT error="..."      not acknowledged by Kafka
 *   <id> BAD_REPLY error="..."     a reply that is not this order's outcome
 *   <id> SHUTDOWN                  acknowledged, the wait ended by a signal
 *
 * With --json a reply is printed as the OrderCompleted in its JSON mapping,
 * anything else as {"orderId":"...","result":"timed_out","error":"..."}
 * (result as request_result_name(), error only for not_sent and bad_reply).
 * The wait session counts the results, keeps reply latencies when asked,
 * and logs the summary at the end. */

/* What a wait session's lines and summary count, one per kind of line. */
enum {
    WAIT_FULFILLED,
    WAIT_REJECTED,
    WAIT_FAILED,
    WAIT_TIMED_OUT,
    WAIT_NOT_SENT,
    WAIT_BAD_REPLY,
    WAIT_SHUTDOWN,
    WAIT_KINDS
};

/* One mode's waiting: on the mode's stack, filled by wait_start(). */
typedef struct wait_session {
    const mode_ctx *ctx;
    const char *mode;   /* "place", "send" or "load", for the summary */
    requester_t *req;   /* owned */
    int write_failed;   /* stdout could not be written: nothing more is printed */
    uint64_t counts[WAIT_KINDS];
    int keep_latencies; /* load: every reply's latency, for the percentiles */
    int64_t *latencies_us; /* owned; n_latencies of cap_latencies used */
    size_t n_latencies, cap_latencies;
    uint64_t latencies_lost; /* not kept for lack of memory */
    int64_t start_ms;   /* mono: when the requester became ready */
} wait_session;

/* What wait_send() returns. */
#define WAIT_SENT 0
#define WAIT_NOT_SENT_NOW -1 /* refused at once: its NOT_SENT line is printed, go on */
#define WAIT_STOPPED -2      /* interrupted or stdout failed while waiting for room: not sent */

/* Creates the requester (replies read from every partition of
 * topics.replies and filtered, at most max_waiting orders waiting at once)
 * and waits, up to about 30 s, until it is ready to send. keep_latencies
 * keeps every reply's latency for the summary's percentiles (load). Returns
 * 0, or the exit status after printing why: 78 when the clients cannot be
 * created, 69 when the reply consumer was not ready in time (the replies
 * topic is named), 130 when interrupted first. Release with wait_free()
 * either way. */
int wait_start(wait_session *ws, const mode_ctx *ctx, const char *mode, size_t max_waiting,
               int keep_latencies);

/* Sends one order, waiting up to ctx->deadline_ms from now for its reply. An
 * order without an id gets a new UUIDv7 (the order itself is not changed).
 * While the requester is full, serves it (reports run) until there is room.
 * Returns WAIT_SENT (its line follows), WAIT_NOT_SENT_NOW or WAIT_STOPPED. */
int wait_send(wait_session *ws, const order_placed_t *order);

/* Serves the requester: reports, replies and deadlines, waiting up to
 * timeout_ms for something to happen. */
void wait_poll(wait_session *ws, int timeout_ms);

/* Orders sent whose report has not come yet. */
size_t wait_waiting(const wait_session *ws);

/* Serves the requester until every order sent has its report (each ends by
 * its deadline or its delivery report), calling tick (may be NULL) about
 * every 100 ms. Returns 1 when interrupted first (the rest is ended by
 * wait_finish()), else 0; also returns once stdout cannot be written. */
int wait_drain(wait_session *ws, void (*tick)(void *opaque), void *opaque);

/* Ends every wait that is left (requester_shutdown(), up to 5 s for
 * delivery reports, so that each order still gets its line), logs the
 * summary and returns the exit status (mode_exit_status()). interrupted and
 * invalid are the mode's own flags. */
int wait_finish(wait_session *ws, int interrupted, int invalid);

/* After wait_finish(): writes every reply latency kept (keep_latencies), in
 * ms with microsecond digits, ascending, one per line, to path (created or
 * truncated). Returns 0, or -1 after logging why the file could not be
 * written. */
int wait_write_latencies(const wait_session *ws, const char *path);

/* Frees the requester and the latencies. A zeroed session is fine. */
void wait_free(wait_session *ws);

/* The publisher of a mode that does not --wait: acknowledged ids go to
 * on_ack (publisher_ack_print, or NULL) with printer. On failure prints
 * why on stderr and returns NULL: the mode exits with EXIT_CONFIG (the
 * configuration could not make a producer). */
publisher *mode_publisher_new(const mode_ctx *ctx, publisher_ack_fn *on_ack, ack_printer *printer);

#endif
