/* fuzz_ndjson: the input of `order-producer send`, a file of NDJSON orders,
 * read and parsed by the code send.c runs (producer/ndjson.h): the line
 * reader over a file descriptor, then each line as an order.
 *
 * The input is written to a temporary file (made once per process) and read
 * twice: with send's own sizes (64 KiB reads, 1 MiB lines) and with small
 * ones derived from the input's size (1..64-byte reads, 64..575-byte lines),
 * so that lines cross read boundaries and the too-long path is reached.
 *
 * Properties, beyond "no crash, no leak, no undefined behaviour":
 *   - the reader returns exactly the input's lines, split at '\n' (a last
 *     line without one included, no empty line after a final '\n'), each
 *     line longer than the limit as NDJSON_TOO_LONG, the others byte for
 *     byte, then NDJSON_EOF; lineno counts them;
 *   - each line is blank, an order, or invalid with a message that starts
 *     with its line number. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "producer/ndjson.h"

/* The temporary file, made on the first input, removed at once (its fd
 * keeps it): the only state kept between inputs. */
static int input_fd(void) {
    static int fd = -1;
    if (fd < 0) {
        const char *dir = getenv("TMPDIR");
        char path[4096];
        snprintf(path, sizeof(path), "%s/fuzz_ndjson.XXXXXX", dir && *dir ? dir : "/tmp");
        fd = mkstemp(path);
        FUZZ_CHECK(fd >= 0, "cannot create a temporary file");
        unlink(path);
    }
    return fd;
}

static void read_all(int fd, const uint8_t *data, size_t size, size_t chunk, size_t line_max) {
    ndjson_reader r;
    FUZZ_CHECK(lseek(fd, 0, SEEK_SET) == 0, "lseek failed");
    FUZZ_CHECK(ndjson_reader_init(&r, fd, chunk, line_max) == 0, "out of memory");

    size_t at = 0; /* where the next expected line starts in data */
    long lines = 0;
    for (;;) {
        int got = ndjson_next(&r, 0, -1);
        FUZZ_CHECK(got != NDJSON_ERR && got != NDJSON_AGAIN, "read of a regular file failed");
        if (got == NDJSON_EOF) {
            FUZZ_CHECK(at == size, "EOF before the end of the input");
            break;
        }
        FUZZ_CHECK(at < size, "a line after the end of the input");
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t len = nl ? (size_t)(nl - (data + at)) : size - at;
        lines++;
        FUZZ_CHECK(r.lineno == lines, "wrong line number");
        if (len > line_max) {
            FUZZ_CHECK(got == NDJSON_TOO_LONG, "a line past the limit was returned");
        } else {
            FUZZ_CHECK(got == NDJSON_LINE, "a line within the limit was refused");
            FUZZ_CHECK(r.line_len == len && memcmp(r.line, data + at, len) == 0 &&
                           r.line[len] == '\0',
                       "the line differs from the input");

            order_placed_t *order = NULL;
            char errstr[512], prefix[32];
            errstr[0] = '\0';
            int parsed = ndjson_parse_line(r.line, r.line_len, r.lineno, &order, errstr,
                                           sizeof(errstr));
            FUZZ_CHECK((parsed == NDJSON_ORDER) == (order != NULL), "order and result disagree");
            if (parsed == NDJSON_INVALID) {
                int n = snprintf(prefix, sizeof(prefix), "line %ld", r.lineno);
                FUZZ_CHECK(strncmp(errstr, prefix, (size_t)n) == 0 &&
                               (errstr[n] == ':' || errstr[n] == ','),
                           "the error does not start with the line number");
            } else {
                FUZZ_CHECK(parsed == NDJSON_ORDER || parsed == NDJSON_BLANK, "unknown result");
                FUZZ_CHECK(parsed == NDJSON_ORDER || ndjson_blank(r.line, r.line_len),
                           "a line that is not blank was skipped");
            }
            codec_placed_free(order);
        }
        at += len + (nl ? 1 : 0);
    }
    ndjson_reader_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = input_fd();
    FUZZ_CHECK(ftruncate(fd, 0) == 0, "ftruncate failed");
    FUZZ_CHECK(size == 0 || pwrite(fd, data, size, 0) == (ssize_t)size, "pwrite failed");
    read_all(fd, data, size, 65536, 1024 * 1024);
    read_all(fd, data, size, 1 + size % 64, 64 + size % 512);
    return 0;
}
