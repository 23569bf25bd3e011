/* logfmt: one line per event on stderr, in logfmt:
 *
 *   ts=2026-11-29T22:52:37.123Z level=info prog=order-worker msg="partitions assigned" count=6
 *
 * Callers write the fields as a printf format of key=value pairs. Every %s
 * value is quoted and escaped when it needs to be (spaces, quotes, '=',
 * control characters, empty), so a field can never break the line apart and
 * `grep 'order_id=…'` always works. Thread-safe: a line is built on the stack
 * and written with a single write(2).
 *
 * With LOG_FORMAT_JSON (--log-format json) the same line is written as one
 * JSON object instead, for collectors that want JSON:
 *
 *   {"ts":"2026-11-29T22:52:37.123Z","level":"info","prog":"order-worker",
 *    "msg":"partitions assigned","count":6}
 *
 * Values that are decimal numbers become JSON numbers, everything else a
 * string; the keys and their order are the logfmt line's. */
#ifndef ORDERFLEET_LOGFMT_H
#define ORDERFLEET_LOGFMT_H

typedef enum {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN = 1,
    LOG_LEVEL_INFO = 2,
    LOG_LEVEL_DEBUG = 3,
} log_level_t;

typedef enum {
    LOG_FORMAT_LOGFMT = 0,
    LOG_FORMAT_JSON = 1,
} log_format_t;

/* Sets the program name put on every line and the most verbose level shown.
 * Call once from main before any thread starts; prog must outlive logging. */
void logfmt_init(const char *prog, log_level_t level);

/* Chooses logfmt (the default) or JSON lines; like logfmt_init(), once,
 * before any thread starts. */
void logfmt_set_format(log_format_t format);

/* Parses "logfmt" or "json"; returns -1 for anything else. */
int logfmt_format_parse(const char *name);

/* Parses "error", "warn", "info" or "debug"; returns -1 for anything else. */
int logfmt_level_parse(const char *name);

const char *logfmt_level_name(log_level_t level);

/* Non-zero when lines of this level are written: guard costly field building. */
int logfmt_enabled(log_level_t level);

/* Writes one line. fields is a printf format of space-separated key=value
 * pairs, or NULL for none. */
void logfmt_write(log_level_t level, const char *msg, const char *fields, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(msg, ...) logfmt_write(LOG_LEVEL_ERROR, msg, __VA_ARGS__)
#define log_warn(msg, ...) logfmt_write(LOG_LEVEL_WARN, msg, __VA_ARGS__)
#define log_info(msg, ...) logfmt_write(LOG_LEVEL_INFO, msg, __VA_ARGS__)
#define log_debug(msg, ...)                                                               \
    do {                                                                                  \
        if (logfmt_enabled(LOG_LEVEL_DEBUG)) logfmt_write(LOG_LEVEL_DEBUG, msg, __VA_ARGS__); \
    } while (0)

#endif
