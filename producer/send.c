/* send: NDJSON orders from a file or stdin, one JSON object per line, each
 * published as it is read; ids are printed as they are acknowledged, or
 * with --wait each order's reply line as it comes (up to 10000 orders wait
 * at once; beyond that, reading pauses until replies make room).
 *
 * The input is read with poll(2) and read(2) rather than stdio so that,
 * while a pipe or a terminal is quiet, delivery reports and replies are
 * still served (the lines of earlier orders appear at once) and Ctrl-C is
 * noticed.
 *
 * After a fatal producer error nothing more is sent, but the rest of the
 * input is still read and parsed, so that the log can say exactly how many
 * orders, from which line, were not sent. Once stdout cannot be written the
 * input is left unread: nobody would see the ids. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/logfmt.h"
#include "common/order_codec.h"
#include "common/order_json.h"
#include "producer/modes.h"
#include "producer/ndjson.h"
#include "common/publisher.h"

#define SEND_LINE_MAX (1024 * 1024) /* longest line accepted, without its newline */
#define READ_CHUNK 65536
#define READ_WAIT_MS 100
#define SEND_MAX_WAITING 10000 /* --wait: orders waiting for their reply at once */

/* How long ndjson_next() may wait for input: READ_WAIT_MS, less when a
 * reply's deadline is nearer. */
static int read_wait_ms(const mode_ctx *ctx, const wait_session *ws) {
    if (!ctx->wait) return READ_WAIT_MS;
    int64_t due = requester_next_timeout(ws->req);
    return due >= 0 && due < READ_WAIT_MS ? (int)due : READ_WAIT_MS;
}

int mode_send(const mode_ctx *ctx, const send_opts *o) {
    char errstr[512];
    const char *name = o->path && strcmp(o->path, "-") != 0 ? o->path : NULL;
    int fd = STDIN_FILENO, rc, interrupted = 0, read_failed = 0;
    uint64_t invalid = 0, not_sent = 0;
    long first_not_sent = 0;
    ndjson_reader r;
    publisher *p = NULL;
    ack_printer printer = {.json = ctx->json, .write_failed = 0};
    wait_session ws;

    memset(&ws, 0, sizeof(ws));
    if (ndjson_reader_init(&r, -1, READ_CHUNK, SEND_LINE_MAX) != 0) {
        fprintf(stderr, PROG_NAME ": out of memory\n");
        ndjson_reader_free(&r);
        return EXIT_SOFTWARE;
    }
    if (name) {
        fd = open(name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, PROG_NAME ": cannot open %s: %s\n", name, strerror(errno));
            ndjson_reader_free(&r);
            return EXIT_USAGE;
        }
    }
    r.fd = fd;

    if (ctx->wait) {
        if ((rc = wait_start(&ws, ctx, "send", SEND_MAX_WAITING, 0)) != 0) goto done;
    } else {
        if (!(p = mode_publisher_new(ctx, publisher_ack_print, &printer))) {
            rc = EXIT_CONFIG;
            goto done;
        }
    }

    for (;;) {
        if (!*ctx->run) {
            interrupted = 1;
            break;
        }
        if (printer.write_failed || ws.write_failed) break;
        int got = ndjson_next(&r, read_wait_ms(ctx, &ws), ctx->wait ? requester_fd(ws.req) : -1);
        if (got == NDJSON_EOF) break;
        if (got == NDJSON_AGAIN) {
            if (ctx->wait) wait_poll(&ws, 0);
            else publisher_poll(p, 0);
            continue;
        }
        if (got == NDJSON_ERR) {
            fprintf(stderr, PROG_NAME ": cannot read %s: %s\n", name ? name : "stdin",
                    strerror(errno));
            read_failed = 1;
            break;
        }
        if (got == NDJSON_TOO_LONG) {
            fprintf(stderr, PROG_NAME ": line %ld: longer than %d bytes (1 MiB), skipped\n",
                    r.lineno, SEND_LINE_MAX);
            invalid++;
            continue;
        }
        order_placed_t *order = NULL;
        int parsed = ndjson_parse_line(r.line, r.line_len, r.lineno, &order, errstr,
                                       sizeof(errstr));
        if (parsed == NDJSON_BLANK) continue;
        if (parsed == NDJSON_INVALID) {
            fprintf(stderr, PROG_NAME ": %s\n", errstr);
            invalid++;
            continue;
        }
        const char *bad_id = mode_order_id_problem(order->order_id);
        if (bad_id) {
            fprintf(stderr, PROG_NAME ": line %ld: %s\n", r.lineno, bad_id);
            codec_placed_free(order);
            invalid++;
            continue;
        }
        if (ctx->wait) {
            int sent = wait_send(&ws, order);
            codec_placed_free(order);
            if (sent == WAIT_STOPPED) {
                interrupted = !*ctx->run;
                break;
            }
            wait_poll(&ws, 0);
            continue;
        }
        if (publisher_fatal(p)) {
            if (not_sent++ == 0) first_not_sent = r.lineno;
            codec_placed_free(order);
            continue;
        }
        int sent = publisher_send(p, order);
        codec_placed_free(order);
        if (sent == PUBLISH_STOPPED) {
            interrupted = 1;
            break;
        }
        publisher_poll(p, 0);
    }

    if (ctx->wait) {
        if (!interrupted) interrupted = wait_drain(&ws, NULL, NULL);
        log_info("send finished", "lines=%ld invalid=%llu", r.lineno,
                 (unsigned long long)invalid);
        rc = wait_finish(&ws, interrupted, invalid > 0 || read_failed);
        goto done;
    }
    publisher_finish(p, NULL, NULL);

    publisher_stats st;
    publisher_get_stats(p, &st);
    if (publisher_fatal(p)) {
        if (not_sent > 0)
            log_error("orders not sent after the fatal producer error", "not_sent=%llu "
                      "first_line=%ld", (unsigned long long)not_sent, first_not_sent);
        else
            log_error("orders not sent after the fatal producer error", "not_sent=0");
    }
    log_info("send finished", "lines=%ld sent=%llu acked=%llu failed=%llu invalid=%llu",
             r.lineno, (unsigned long long)st.sent, (unsigned long long)st.acked,
             (unsigned long long)st.failed, (unsigned long long)invalid);
    rc = mode_exit_status(st.failed > 0 || publisher_fatal(p), printer.write_failed,
                          interrupted, invalid > 0 || read_failed, 0, 0);

done:
    wait_free(&ws);
    publisher_destroy(p);
    if (name) close(fd);
    ndjson_reader_free(&r);
    return rc;
}
