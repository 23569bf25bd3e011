#define _POSIX_C_SOURCE 200809L
#include "common/logfmt.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/timeutil.h"

/* Set once by logfmt_init() before threads start, read-only afterwards. */
static const char *log_prog = "orderfleet";
static int log_max_level = LOG_LEVEL_INFO;

#define LOG_LINE_MAX 4096

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void logfmt_init(const char *prog, log_level_t level) {
    log_prog = prog;
    log_max_level = level;
}

int logfmt_level_parse(const char *name) {
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0) return i;
    return -1;
}

const char *logfmt_level_name(log_level_t level) { return level_names[level]; }

int logfmt_enabled(log_level_t level) { return (int)level <= log_max_level; }

/* A bounded output buffer: appends past the end are dropped, and the line is
 * marked as truncated instead. */
typedef struct {
    char buf[LOG_LINE_MAX];
    size_t len;
    int truncated;
} line_t;

static void line_putc(line_t *l, char c) {
    if (l->len + 2 < sizeof(l->buf)) /* keep room for '\n' */
        l->buf[l->len++] = c;
    else
        l->truncated = 1;
}

static void line_puts(line_t *l, const char *s) {
    while (*s) line_putc(l, *s++);
}

/* Appends the first n bytes of s (fewer at a NUL) as a logfmt value: bare
 * when it is a plain token, otherwise in double quotes with '"', '\\' and
 * control characters escaped. */
static void line_put_value_n(line_t *l, const char *s, size_t n) {
    if (!s) s = "(null)";
    const unsigned char *end = (const unsigned char *)s + strnlen(s, n);
    int bare = end != (const unsigned char *)s;
    for (const unsigned char *p = (const unsigned char *)s; p < end && bare; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f) bare = 0;
    if (bare) {
        for (const unsigned char *p = (const unsigned char *)s; p < end; p++)
            line_putc(l, (char)*p);
        return;
    }
    line_putc(l, '"');
    for (const unsigned char *p = (const unsigned char *)s; p < end; p++) {
        switch (*p) {
        case '"': line_puts(l, "\\\""); break;
        case '\\': line_puts(l, "\\\\"); break;
        case '\n': line_puts(l, "\\n"); break;
        case '\r': line_puts(l, "\\r"); break;
        case '\t': line_puts(l, "\\t"); break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                char hex[8];
                snprintf(hex, sizeof(hex), "\\x%02x", *p);
                line_puts(l, hex);
            } else {
                line_putc(l, (char)*p);
            }
        }
    }
    line_putc(l, '"');
}

static void line_put_value(line_t *l, const char *s) { line_put_value_n(l, s, SIZE_MAX); }

/* Renders one printf conversion, spec[0..n) ("%-5lld", "%.*s" and the like),
 * taking its arguments from ap. A '*' width or precision takes an int first,
 * as in printf. %s goes through line_put_value_n(), bounded by a precision
 * (so "%.*s" prints a buffer that is not NUL-terminated); every other
 * conversion is formatted by vsnprintf's own rules for its length modifier. */
static void line_put_conversion(line_t *l, const char *spec, size_t n, va_list *ap) {
    char fmt[48], tmp[128];
    size_t k = 0;
    long precision = -1;
    for (size_t i = 0; i < n && k + 12 < sizeof(fmt); i++) { /* each '*' becomes its value */
        if (spec[i] != '*') {
            fmt[k++] = spec[i];
            continue;
        }
        int v = va_arg(*ap, int);
        k += (size_t)snprintf(fmt + k, sizeof(fmt) - k, "%d", v);
    }
    fmt[k] = '\0';
    n = k;
    const char *dot = strchr(fmt, '.');
    if (dot) precision = strtol(dot + 1, NULL, 10);
    char conv = fmt[n - 1];
    const char *mods = fmt + 1;
    while (*mods && strchr("-+ #0123456789.*", *mods)) mods++;
    int is_ll = strncmp(mods, "ll", 2) == 0, is_l = !is_ll && *mods == 'l';
    int is_z = *mods == 'z' || *mods == 't', is_j = *mods == 'j';

    switch (conv) {
    case 's':
        line_put_value_n(l, va_arg(*ap, const char *), precision < 0 ? SIZE_MAX : (size_t)precision);
        return;
    case 'c': snprintf(tmp, sizeof(tmp), fmt, va_arg(*ap, int)); break;
    case 'p': snprintf(tmp, sizeof(tmp), fmt, va_arg(*ap, void *)); break;
    case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': case 'a': case 'A':
        snprintf(tmp, sizeof(tmp), fmt, va_arg(*ap, double));
        break;
    case '%': strcpy(tmp, "%"); break;
    default: /* d i o u x X */
        if (is_ll) snprintf(tmp, sizeof(tmp), fmt, va_arg(*ap, long long));
        else if (is_l) snprintf(tmp, sizeof(tmp), fmt, va_arg(*ap, long));
        else if (is_z) snprintf(tmp, sizeof(tmp), fmt, va_arg(*ap, size_t));
        else if (is_j) snprintf(tmp, sizeof(tmp), fmt, va_arg(*ap, intmax_t));
        else snprintf(tmp, sizeof(tmp), fmt, va_arg(*ap, int));
    }
    line_puts(l, tmp);
}

void logfmt_write(log_level_t level, const char *msg, const char *fields, ...) {
    if (!logfmt_enabled(level)) return;
    line_t l = {.len = 0, .truncated = 0};
    char ts[TIME_RFC3339_LEN + 1];
    line_puts(&l, "ts=");
    line_puts(&l, time_rfc3339(time_now_ms(), ts, sizeof(ts)));
    line_puts(&l, " level=");
    line_puts(&l, level_names[level]);
    line_puts(&l, " prog=");
    line_put_value(&l, log_prog);
    line_puts(&l, " msg=");
    line_put_value(&l, msg);

    if (fields && *fields) {
        va_list ap;
        va_start(ap, fields);
        line_putc(&l, ' ');
        for (const char *p = fields; *p;) {
            if (*p != '%') {
                line_putc(&l, *p++);
                continue;
            }
            size_t n = 1;
            while (p[n] && !strchr("diouxXeEfFgGaAcsp%", p[n])) n++;
            if (!p[n]) break; /* a dangling '%': ignore the rest */
            line_put_conversion(&l, p, n + 1, &ap);
            p += n + 1;
        }
        va_end(ap);
    }
    if (l.truncated) {
        const char mark[] = " truncated=true";
        l.len = sizeof(l.buf) - sizeof(mark) - 1;
        memcpy(l.buf + l.len, mark, sizeof(mark) - 1);
        l.len += sizeof(mark) - 1;
    }
    l.buf[l.len++] = '\n';
    /* One write(2) per line keeps lines whole between threads and processes
     * sharing the stream. */
    ssize_t rc = write(STDERR_FILENO, l.buf, l.len);
    (void)rc;
}
