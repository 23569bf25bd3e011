/* ack_print: what the producing modes (place, send, load) print for each
 * order Kafka has acknowledged: its id (the buzzer). With --wait they print
 * each order's report instead: see wait.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/logfmt.h"
#include "producer/modes.h"

void publisher_ack_print(const publisher_ack *ack, void *opaque) {
    ack_printer *pr = opaque;
    int rc;
    if (pr->write_failed) return;
    if (pr->json) {
        json_t *o = json_pack("{s:s, s:s, s:i, s:I}", "orderId", ack->order_id, "topic",
                              ack->topic, "partition", (int)ack->partition, "offset",
                              (json_int_t)ack->offset);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        rc = s ? printf("%s\n", s) : -1;
        free(s);
        json_decref(o);
    } else {
        rc = printf("%s\n", ack->order_id);
    }
    if (fflush(stdout) != 0) rc = -1;
    if (rc < 0) {
        pr->write_failed = 1;
        log_error("cannot write acknowledged order ids to stdout, stopping",
                  "order_id=%s error=%s", ack->order_id, strerror(errno));
    }
}

publisher *mode_publisher_new(const mode_ctx *ctx, publisher_ack_fn *on_ack, ack_printer *printer) {
    char errstr[512];
    publisher *p = publisher_new(ctx->cfg, PROG_NAME, on_ack, printer, ctx->run, errstr,
                                 sizeof(errstr));
    if (!p) fprintf(stderr, PROG_NAME ": %s\n", errstr);
    return p;
}
