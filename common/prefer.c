#include "common/prefer.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* A cursor over the bytes of one header value. */
typedef struct {
    const char *s, *end;
} cursor;

/* A word (RFC 9110 §5.6: token or quoted-string) as it appears: quoted
 * values still hold their quotes and backslashes. */
typedef struct {
    const char *s;
    size_t len;
    int quoted;
} word;

/* tchar (RFC 9110 §5.6.2). */
static int is_tchar(unsigned char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static void skip_ows(cursor *c) {
    while (c->s < c->end && (*c->s == ' ' || *c->s == '\t')) c->s++;
}

static int peek(const cursor *c, char ch) { return c->s < c->end && *c->s == ch; }

/* Reads 1*tchar. Returns 0, or -1 (cursor unmoved) when there is none. */
static int read_token(cursor *c, word *w) {
    const char *start = c->s;
    while (c->s < c->end && is_tchar((unsigned char)*c->s)) c->s++;
    w->s = start;
    w->len = (size_t)(c->s - start);
    w->quoted = 0;
    return w->len ? 0 : -1;
}

/* Reads a quoted-string starting at '"': qdtext is HTAB, SP, VCHAR except
 * '"' and '\\', and obs-text; a quoted-pair escapes HTAB, SP, VCHAR or
 * obs-text. Returns 0, or -1 when it is unterminated or holds a control
 * character. */
static int read_quoted(cursor *c, word *w) {
    const char *start = c->s++;
    while (c->s < c->end) {
        unsigned char ch = (unsigned char)*c->s++;
        if (ch == '"') {
            w->s = start;
            w->len = (size_t)(c->s - start);
            w->quoted = 1;
            return 0;
        }
        if (ch == '\\') {
            if (c->s == c->end) return -1;
            ch = (unsigned char)*c->s++;
        }
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return -1;
    }
    return -1;
}

static int read_word(cursor *c, word *w) {
    return peek(c, '"') ? read_quoted(c, w) : read_token(c, w);
}

/* Reads an optional BWS "=" BWS word after a token. *has_value is 1 when a
 * non-empty value follows ("" is the same as no value, RFC 7240 §2).
 * Returns 0, or -1 when "=" is not followed by a word. */
static int read_value(cursor *c, word *w, int *has_value) {
    *has_value = 0;
    cursor save = *c;
    skip_ows(c);
    if (!peek(c, '=')) {
        *c = save; /* the OWS may belong before a ';' or ',' */
        return 0;
    }
    c->s++;
    skip_ows(c);
    if (read_word(c, w) != 0) return -1;
    *has_value = w->quoted ? w->len > 2 : 1;
    return 0;
}

/* Moves past a broken element from its start: up to the next ',' that is
 * not inside a quoted string, or to the end. */
static void skip_element(cursor *c) {
    while (c->s < c->end && *c->s != ',') {
        if (*c->s++ != '"') continue;
        while (c->s < c->end && *c->s != '"') {
            if (*c->s == '\\' && c->s + 1 < c->end) c->s++; /* a quoted-pair */
            c->s++;
        }
        if (c->s < c->end) c->s++; /* the closing quote */
    }
}

static int token_is(const word *w, const char *name) {
    size_t n = strlen(name);
    if (w->len != n) return 0;
    for (size_t i = 0; i < n; i++) {
        char a = w->s[i];
        if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
        if (a != name[i]) return 0;
    }
    return 1;
}

/* A wait value as delta-seconds (1*DIGIT, possibly quoted), capped at
 * INT_MAX. Returns -1 when it is anything else. */
static int parse_seconds(const word *w) {
    const char *s = w->s, *end = w->s + w->len;
    if (w->quoted) { /* drop the quotes */
        s++;
        end--;
    }
    if (s == end) return -1;
    long long v = 0;
    for (; s < end; s++) {
        char ch = *s;
        if (w->quoted && ch == '\\') ch = *++s; /* read_quoted made sure s < end */
        if (ch < '0' || ch > '9') return -1;
        v = v * 10 + (ch - '0');
        if (v > INT_MAX) v = INT_MAX;
    }
    return (int)v;
}

void prefer_init(struct prefer *p) {
    p->respond_async = 0;
    p->wait_s = -1;
    p->seen = 0;
}

/* Parses one element: preference = token [ BWS "=" BWS word ]
 * *( OWS ";" [ OWS parameter ] ), parameter = token [ BWS "=" BWS word ].
 * Returns 0 when it is well-formed (or empty), -1 when not. A known
 * preference is claimed at its first occurrence even when malformed, so a
 * broken first "wait" is not replaced by a later one. */
static int parse_element(struct prefer *p, cursor *c) {
    word name, value, ignored;
    int has_value, param_has_value, ok = 1;
    unsigned flag = 0;

    skip_ows(c);
    if (c->s == c->end || peek(c, ',')) return 0; /* empty list elements are allowed */
    if (read_token(c, &name) != 0) return -1;
    if (token_is(&name, "respond-async")) flag = PREFER_RESPOND_ASYNC;
    else if (token_is(&name, "wait")) flag = PREFER_WAIT;
    int first = flag && !(p->seen & flag);
    p->seen |= flag;

    if (read_value(c, &value, &has_value) != 0) return -1;
    for (;;) {
        skip_ows(c);
        if (!peek(c, ';')) break;
        c->s++;
        skip_ows(c);
        if (peek(c, ';') || peek(c, ',') || c->s == c->end) continue; /* "foo;" and "foo;;" */
        if (read_token(c, &ignored) != 0 || read_value(c, &ignored, &param_has_value) != 0)
            return -1;
    }
    if (c->s != c->end && !peek(c, ',')) return -1;

    if (flag == PREFER_RESPOND_ASYNC) {
        ok = !has_value;
        if (first && ok) p->respond_async = 1;
    } else if (flag == PREFER_WAIT) {
        int secs = has_value ? parse_seconds(&value) : -1;
        ok = secs >= 0;
        if (first && ok) p->wait_s = secs;
    }
    return ok ? 0 : -1;
}

int prefer_parse_len(struct prefer *p, const char *value, size_t len) {
    cursor c = {value, value + len};
    int malformed = 0;
    while (c.s < c.end) {
        const char *start = c.s;
        if (parse_element(p, &c) != 0) {
            malformed++;
            c.s = start; /* it may have stopped inside a quoted string */
            skip_element(&c);
        }
        if (peek(&c, ',')) c.s++;
    }
    return malformed;
}

int prefer_parse(struct prefer *p, const char *value) {
    return prefer_parse_len(p, value, strlen(value));
}

int prefer_applied(const struct prefer *p, unsigned honoured, char *buf, size_t size) {
    int n = 0;
    if (size == 0) return PREFER_ERR;
    buf[0] = '\0';
    if ((honoured & PREFER_RESPOND_ASYNC) && p->respond_async)
        n = snprintf(buf, size, "respond-async");
    if ((honoured & PREFER_WAIT) && p->wait_s >= 0 && n >= 0 && (size_t)n < size)
        n += snprintf(buf + n, size - (size_t)n, "%swait=%d", n ? ", " : "", p->wait_s);
    if (n < 0 || (size_t)n >= size) {
        buf[0] = '\0';
        return PREFER_ERR;
    }
    return n;
}
