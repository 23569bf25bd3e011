/* ndjson: the input side of `order-producer send`, apart from Kafka: a line
 * reader over a file descriptor (bounded memory whatever the input) and the
 * parsing of one line into an OrderPlaced, with the error message send
 * prints. Pure enough for the fuzzer (tests/fuzz/fuzz_ndjson.c) to drive it
 * exactly as send.c does. */
#ifndef ORDERFLEET_PRODUCER_NDJSON_H
#define ORDERFLEET_PRODUCER_NDJSON_H

#include <stddef.h>

#include "common/order_codec.h"

/* ndjson_next() results. */
enum { NDJSON_LINE, NDJSON_TOO_LONG, NDJSON_EOF, NDJSON_AGAIN, NDJSON_ERR };

/* ndjson_parse_line() results. */
#define NDJSON_ORDER 0    /* *out is an order */
#define NDJSON_BLANK 1    /* only whitespace: not an order, not an error */
#define NDJSON_INVALID -1 /* errstr says why, with the line number */

typedef struct ndjson_reader {
    int fd;
    char *chunk; /* chunk_size bytes read, [pos, len) not yet consumed */
    size_t chunk_size, pos, len;
    int eof;
    char *line; /* the current line, line_len bytes, NUL-terminated */
    size_t line_len, line_cap, line_max;
    int in_line;  /* bytes of the current line have been seen */
    int too_long; /* the current line passed line_max; the rest is skipped */
    int done;     /* the current line was returned; reset on the next call */
    long lineno;  /* lines returned so far: the number of the current one */
} ndjson_reader;

/* Sets up r to read fd (may be set later in r->fd) in reads of chunk_size
 * bytes, accepting lines up to line_max bytes without their newline.
 * Returns 0, or -1 when out of memory; either way ndjson_reader_free()
 * releases what r holds. */
int ndjson_reader_init(ndjson_reader *r, int fd, size_t chunk_size, size_t line_max);

/* Frees r's buffers (not its fd). */
void ndjson_reader_free(ndjson_reader *r);

/* Returns the next line (NDJSON_LINE: r->line, r->line_len, without its
 * '\n'), NDJSON_TOO_LONG for a line past line_max (its bytes are dropped as
 * they come), NDJSON_EOF, NDJSON_AGAIN when no complete line arrived within
 * wait_ms (or a signal came, or wake_fd became readable: -1 for none), or
 * NDJSON_ERR with errno. A last line without '\n' is still a line. Memory
 * stays below line_max + chunk_size whatever the input. */
int ndjson_next(ndjson_reader *r, int wait_ms, int wake_fd);

/* Non-zero when s[0..n) holds only spaces, tabs, CR, FF and VT. */
int ndjson_blank(const char *s, size_t n);

/* Parses line lineno of the input (len bytes, need not be NUL-terminated):
 * NDJSON_ORDER with *out set (the caller frees it with codec_placed_free()),
 * NDJSON_BLANK for a blank line, or NDJSON_INVALID with "line L, column C:
 * <what>" (malformed JSON, L being lineno) or "line L: <what>" (a schema
 * violation) in errstr. */
int ndjson_parse_line(const char *line, size_t len, long lineno, order_placed_t **out,
                      char *errstr, size_t errsize);

#endif
