/* modes: order-producer's modes (place, send, load, outcomes) and what
 * main.c hands them: the loaded configuration, the output switches, the run
 * flag cleared by SIGINT/SIGTERM, and each mode's parsed options. Each entry
 * function returns the program's exit status (see usage() in main.c). */
#ifndef ORDERFLEET_PRODUCER_MODES_H
#define ORDERFLEET_PRODUCER_MODES_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cli.h"
#include "common/config.h"
#include "common/publisher.h"

#define PROG_NAME "order-producer"

/* Exit statuses besides cli.h's EXIT_USAGE (64), EXIT_DATAERR (65),
 * EXIT_UNAVAILABLE (69) and config.h's EXIT_CONFIG (78). */
#define EXIT_LOST 1          /* outcomes: some expected orders have no outcome */
#define EXIT_IOERR 74        /* EX_IOERR: stdout could not be written */
#define EXIT_INTERRUPTED 130 /* 128 + SIGINT */

typedef struct mode_ctx {
    const of_config *cfg;
    int json;                   /* --json: machine-readable stdout */
    int progress;               /* stderr is a terminal and not -q: draw progress lines */
    volatile sig_atomic_t *run; /* cleared by the first SIGINT/SIGTERM */
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
 * error left orders unsent (Kafka does not have them); 74 when stdout could
 * not be written (the ids, the input of outcomes --expect, are incomplete);
 * 130 when interrupted before all input was sent; 65 when some input was
 * invalid; else 0. The arguments are flags, in that order. */
static inline int mode_exit_status(int unavailable, int write_failed, int interrupted,
                                   int invalid) {
    if (unavailable) return EXIT_UNAVAILABLE;
    if (write_failed) return EXIT_IOERR;
    if (interrupted) return EXIT_INTERRUPTED;
    if (invalid) return EXIT_DATAERR;
    return 0;
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

#endif
