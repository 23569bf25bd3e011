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
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/logfmt.h"
#include "common/order_codec.h"
#include "common/order_json.h"
#include "producer/modes.h"
#include "common/publisher.h"

#define SEND_LINE_MAX (1024 * 1024) /* longest line accepted, without its newline */
#define READ_CHUNK 65536
#define READ_WAIT_MS 100
#define SEND_MAX_WAITING 10000 /* --wait: orders waiting for their reply at once */

enum { LR_LINE, LR_TOO_LONG, LR_EOF, LR_AGAIN, LR_ERR };

typedef struct line_reader {
    int fd;
    char *chunk; /* READ_CHUNK bytes read, [pos, len) not yet consumed */
    size_t pos, len;
    int eof;
    char *line; /* the current line, line_len bytes, NUL-terminated */
    size_t line_len, line_cap;
    int in_line;  /* bytes of the current line have been seen */
    int too_long; /* the current line passed SEND_LINE_MAX; the rest is skipped */
    int done;     /* the current line was returned; reset on the next call */
    long lineno;
} line_reader;

static int reader_init(line_reader *r, int fd) {
    memset(r, 0, sizeof(*r));
    r->fd = fd;
    r->chunk = malloc(READ_CHUNK);
    r->line_cap = 4096;
    r->line = malloc(r->line_cap);
    return r->chunk && r->line ? 0 : -1;
}

static void reader_free(line_reader *r) {
    free(r->chunk);
    free(r->line);
}

/* Appends n bytes to the current line, or drops them once the line is too
 * long (memory stays bounded by SEND_LINE_MAX whatever the input). */
static int reader_append(line_reader *r, const char *s, size_t n) {
    r->in_line = 1;
    if (r->too_long) return 0;
    if (r->line_len + n > SEND_LINE_MAX) {
        r->too_long = 1;
        return 0;
    }
    if (r->line_len + n + 1 > r->line_cap) {
        size_t cap = r->line_cap;
        while (cap < r->line_len + n + 1) cap *= 2;
        if (cap > SEND_LINE_MAX + 1) cap = SEND_LINE_MAX + 1;
        char *l = realloc(r->line, cap);
        if (!l) return -1;
        r->line = l;
        r->line_cap = cap;
    }
    memcpy(r->line + r->line_len, s, n);
    r->line_len += n;
    r->line[r->line_len] = '\0';
    return 0;
}

static int reader_end_line(line_reader *r) {
    r->lineno++;
    r->done = 1;
    r->line[r->line_len] = '\0';
    return r->too_long ? LR_TOO_LONG : LR_LINE;
}

/* Returns the next line (LR_LINE: r->line, r->line_len, without its '\n'),
 * LR_TOO_LONG for a line past the limit, LR_EOF, LR_AGAIN when no complete
 * line arrived within wait_ms (or a signal came, or wake_fd became
 * readable: -1 for none), or LR_ERR with errno. A last line without '\n'
 * is still a line. */
static int reader_next(line_reader *r, int wait_ms, int wake_fd) {
    if (r->done) {
        r->line_len = 0;
        r->line[0] = '\0';
        r->in_line = r->too_long = r->done = 0;
    }
    for (;;) {
        if (r->pos < r->len) {
            char *start = r->chunk + r->pos;
            char *nl = memchr(start, '\n', r->len - r->pos);
            size_t n = nl ? (size_t)(nl - start) : r->len - r->pos;
            if (reader_append(r, start, n) != 0) {
                errno = ENOMEM;
                return LR_ERR;
            }
            r->pos += n;
            if (nl) {
                r->pos++;
                return reader_end_line(r);
            }
            continue;
        }
        if (r->eof) return r->in_line ? reader_end_line(r) : LR_EOF;

        struct pollfd pfd[2] = {{.fd = r->fd, .events = POLLIN, .revents = 0},
                                {.fd = wake_fd, .events = POLLIN, .revents = 0}};
        int ready = poll(pfd, wake_fd >= 0 ? 2 : 1, wait_ms);
        if (ready < 0) return errno == EINTR ? LR_AGAIN : LR_ERR;
        if (ready == 0 || pfd[0].revents == 0) return LR_AGAIN;
        ssize_t got = read(r->fd, r->chunk, READ_CHUNK);
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN) return LR_AGAIN;
            return LR_ERR;
        }
        if (got == 0) r->eof = 1;
        r->pos = 0;
        r->len = (size_t)got;
    }
}

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\f' && s[i] != '\v')
            return 0;
    return 1;
}

/* How long reader_next() may wait for input: READ_WAIT_MS, less when a
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
    line_reader r;
    publisher *p = NULL;
    ack_printer printer = {.json = ctx->json, .write_failed = 0};
    wait_session ws;

    memset(&ws, 0, sizeof(ws));
    if (reader_init(&r, -1) != 0) {
        fprintf(stderr, PROG_NAME ": out of memory\n");
        reader_free(&r);
        return EXIT_SOFTWARE;
    }
    if (name) {
        fd = open(name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, PROG_NAME ": cannot open %s: %s\n", name, strerror(errno));
            reader_free(&r);
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
        int got = reader_next(&r, read_wait_ms(ctx, &ws), ctx->wait ? requester_fd(ws.req) : -1);
        if (got == LR_EOF) break;
        if (got == LR_AGAIN) {
            if (ctx->wait) wait_poll(&ws, 0);
            else publisher_poll(p, 0);
            continue;
        }
        if (got == LR_ERR) {
            fprintf(stderr, PROG_NAME ": cannot read %s: %s\n", name ? name : "stdin",
                    strerror(errno));
            read_failed = 1;
            break;
        }
        if (got == LR_TOO_LONG) {
            fprintf(stderr, PROG_NAME ": line %ld: longer than %d bytes (1 MiB), skipped\n",
                    r.lineno, SEND_LINE_MAX);
            invalid++;
            continue;
        }
        if (is_blank(r.line, r.line_len)) continue;

        order_placed_t *order = NULL;
        if (orderjson_parse_placed(r.line, r.line_len, &order, errstr, sizeof(errstr)) !=
            ORDERJSON_OK) {
            /* The parser counts lines within its text, which is one line. */
            const char *at = "line 1, column ";
            if (strncmp(errstr, at, strlen(at)) == 0)
                fprintf(stderr, PROG_NAME ": line %ld, column %s\n", r.lineno,
                        errstr + strlen(at));
            else
                fprintf(stderr, PROG_NAME ": line %ld: %s\n", r.lineno, errstr);
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
    reader_free(&r);
    return rc;
}
