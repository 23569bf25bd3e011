/* ndjson: see ndjson.h. The reader uses poll(2) and read(2) rather than
 * stdio so that send.c can serve Kafka while a pipe or a terminal is
 * quiet. */
#define _POSIX_C_SOURCE 200809L
#include "producer/ndjson.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/order_json.h"

int ndjson_reader_init(ndjson_reader *r, int fd, size_t chunk_size, size_t line_max) {
    memset(r, 0, sizeof(*r));
    r->fd = fd;
    r->chunk_size = chunk_size ? chunk_size : 1;
    r->line_max = line_max;
    r->chunk = malloc(r->chunk_size);
    r->line_cap = line_max < 4096 ? line_max + 1 : 4096;
    r->line = malloc(r->line_cap);
    if (r->line) r->line[0] = '\0';
    return r->chunk && r->line ? 0 : -1;
}

void ndjson_reader_free(ndjson_reader *r) {
    free(r->chunk);
    free(r->line);
    r->chunk = r->line = NULL;
}

/* Appends n bytes to the current line, or drops them once the line is too
 * long (memory stays bounded by line_max whatever the input). */
static int reader_append(ndjson_reader *r, const char *s, size_t n) {
    r->in_line = 1;
    if (r->too_long) return 0;
    if (r->line_len + n > r->line_max) {
        r->too_long = 1;
        return 0;
    }
    if (r->line_len + n + 1 > r->line_cap) {
        size_t cap = r->line_cap;
        while (cap < r->line_len + n + 1) cap *= 2;
        if (cap > r->line_max + 1) cap = r->line_max + 1;
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

static int reader_end_line(ndjson_reader *r) {
    r->lineno++;
    r->done = 1;
    r->line[r->line_len] = '\0';
    return r->too_long ? NDJSON_TOO_LONG : NDJSON_LINE;
}

int ndjson_next(ndjson_reader *r, int wait_ms, int wake_fd) {
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
                return NDJSON_ERR;
            }
            r->pos += n;
            if (nl) {
                r->pos++;
                return reader_end_line(r);
            }
            continue;
        }
        if (r->eof) return r->in_line ? reader_end_line(r) : NDJSON_EOF;

        struct pollfd pfd[2] = {{.fd = r->fd, .events = POLLIN, .revents = 0},
                                {.fd = wake_fd, .events = POLLIN, .revents = 0}};
        int ready = poll(pfd, wake_fd >= 0 ? 2 : 1, wait_ms);
        if (ready < 0) return errno == EINTR ? NDJSON_AGAIN : NDJSON_ERR;
        if (ready == 0 || pfd[0].revents == 0) return NDJSON_AGAIN;
        ssize_t got = read(r->fd, r->chunk, r->chunk_size);
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN) return NDJSON_AGAIN;
            return NDJSON_ERR;
        }
        if (got == 0) r->eof = 1;
        r->pos = 0;
        r->len = (size_t)got;
    }
}

int ndjson_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\f' && s[i] != '\v')
            return 0;
    return 1;
}

int ndjson_parse_line(const char *line, size_t len, long lineno, order_placed_t **out,
                      char *errstr, size_t errsize) {
    char why[512];
    *out = NULL;
    if (ndjson_blank(line, len)) return NDJSON_BLANK;
    if (orderjson_parse_placed(line, len, out, why, sizeof(why)) == ORDERJSON_OK)
        return NDJSON_ORDER;
    /* The parser counts lines within its text, which is one line. */
    const char *at = "line 1, column ";
    if (strncmp(why, at, strlen(at)) == 0)
        snprintf(errstr, errsize, "line %ld, column %s", lineno, why + strlen(at));
    else
        snprintf(errstr, errsize, "line %ld: %s", lineno, why);
    return NDJSON_INVALID;
}
