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
static log_format_t log_format = LOG_FORMAT_LOGFMT;

#define LOG_LINE_MAX 4096

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void logfmt_init(const char *prog, log_level_t level) {
    log_prog = prog;
    log_max_level = level;
}

void logfmt_set_format(log_format_t format) { log_format = format; }

int logfmt_format_parse(const char *name) {
    if (strcmp(name, "logfmt") == 0) return LOG_FORMAT_LOGFMT;
    if (strcmp(name, "json") == 0) return LOG_FORMAT_JSON;
    return -1;
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

/* ---- JSON lines ---------------------------------------------------------- */

/* Non-zero when s[0..n) is a JSON number in the plain decimal form logfmt
 * values take ("-12", "0.5"): no leading zeros, no exponent. */
static int is_json_number(const char *s, size_t n) {
    size_t i = 0;
    if (i < n && s[i] == '-') i++;
    if (i == n || s[i] < '0' || s[i] > '9') return 0;
    if (s[i] == '0' && i + 1 < n && s[i + 1] != '.') return 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i < n && s[i] == '.') {
        if (++i == n) return 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    }
    return i == n;
}

/* Appends one byte of a JSON string's contents, escaped. */
static void json_put_char(line_t *j, unsigned char c) {
    char esc[8];
    switch (c) {
    case '"': line_puts(j, "\\\""); return;
    case '\\': line_puts(j, "\\\\"); return;
    case '\n': line_puts(j, "\\n"); return;
    case '\r': line_puts(j, "\\r"); return;
    case '\t': line_puts(j, "\\t"); return;
    default:
        if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            line_puts(j, esc);
        } else {
            line_putc(j, (char)c);
        }
    }
}

/* Reads one logfmt value at *p (bare, or quoted with logfmt_write()'s
 * escapes) and appends it to j as a JSON value; advances *p past it. */
static void json_put_value(line_t *j, const char **p, const char *end) {
    const char *s = *p;
    if (s < end && *s == '"') {
        line_putc(j, '"');
        for (s++; s < end && *s != '"'; s++) {
            if (*s != '\\' || s + 1 >= end) {
                json_put_char(j, (unsigned char)*s);
                continue;
            }
            s++;
            switch (*s) {
            case 'n': json_put_char(j, '\n'); break;
            case 'r': json_put_char(j, '\r'); break;
            case 't': json_put_char(j, '\t'); break;
            case 'x':
                if (s + 2 < end) {
                    char hex[3] = {s[1], s[2], '\0'};
                    json_put_char(j, (unsigned char)strtoul(hex, NULL, 16));
                    s += 2;
                }
                break;
            default: json_put_char(j, (unsigned char)*s); /* \" and \\ */
            }
        }
        line_putc(j, '"');
        *p = s < end ? s + 1 : end;
        return;
    }
    const char *v = s;
    while (s < end && *s != ' ') s++;
    if (is_json_number(v, (size_t)(s - v))) {
        while (v < s) line_putc(j, *v++);
    } else {
        line_putc(j, '"');
        while (v < s) json_put_char(j, (unsigned char)*v++);
        line_putc(j, '"');
    }
    *p = s;
}

#define JSON_TRUNCATED ",\"truncated\":true}"

/* Rewrites a finished logfmt line (without its newline) as a JSON object:
 * each key=value pair becomes "key":value, in order. A token without '='
 * becomes a key with the value true. Should the object outgrow the buffer
 * (only with many escapes), it ends after the last pair that fitted, with
 * "truncated":true, and is still valid JSON. Cost: one pass over the line. */
static void json_from_logfmt(const line_t *l, line_t *j) {
    const char *p = l->buf, *end = l->buf + l->len;
    size_t whole = 1; /* length after the last complete pair */
    line_putc(j, '{');
    while (p < end) {
        while (p < end && *p == ' ') p++;
        if (p == end) break;
        const char *key = p;
        while (p < end && *p != '=' && *p != ' ') p++;
        if (whole > 1) line_putc(j, ',');
        line_putc(j, '"');
        for (const char *k = key; k < p; k++) json_put_char(j, (unsigned char)*k);
        line_puts(j, "\":");
        if (p < end && *p == '=') {
            p++;
            json_put_value(j, &p, end);
        } else {
            line_puts(j, "true");
        }
        if (j->truncated || j->len + sizeof(JSON_TRUNCATED) + 2 > sizeof(j->buf)) {
            const char *mark = &JSON_TRUNCATED[whole == 1]; /* no ',' after '{' */
            j->len = whole;
            memcpy(j->buf + j->len, mark, strlen(mark));
            j->len += strlen(mark);
            j->truncated = 0;
            return;
        }
        whole = j->len;
    }
    line_putc(j, '}');
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
    line_t *out = &l, json;
    if (log_format == LOG_FORMAT_JSON) {
        json.len = 0;
        json.truncated = 0;
        json_from_logfmt(&l, &json);
        out = &json;
    }
    out->buf[out->len++] = '\n';
    /* One write(2) per line keeps lines whole between threads and processes
     * sharing the stream. */
    ssize_t rc = write(STDERR_FILENO, out->buf, out->len);
    (void)rc;
}
