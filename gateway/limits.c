#define _POSIX_C_SOURCE 200809L
#include "gateway/limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef enum {
    PHASE_HEAD,     /* line and headers arriving */
    PHASE_BODY,     /* body arriving */
    PHASE_ANSWERED, /* late body: 408 written, cut after the grace */
    PHASE_IN,       /* arrived whole: no deadline */
    PHASE_CUT       /* shut down; the daemon closes it */
} phase;

struct limits_conn {
    struct limits_conn *prev, *next; /* the list of request phases, oldest first */
    int fd;
    phase ph;
    int64_t since_us; /* the request phase began */
};

struct limits {
    int64_t timeout_us; /* 0: off */
    unsigned max_connections, open;
    limits_conn *head, *tail;
    char late[512], full[512]; /* the 408 and 503 answers, whole */
    size_t late_len, full_len;
    limits_conn refused; /* the entry of every refused connection (PHASE_CUT) */
};

/* Renders a whole HTTP/1.1 answer with a problem+json body into buf. */
static size_t render(char *buf, size_t size, unsigned status, const char *title,
                     const char *slug, const char *extra_header, const char *detail) {
    char body[320];
    int bl = snprintf(body, sizeof(body),
                      "{\"type\":\"urn:orderfleet:problem:%s\",\"title\":\"%s\",\"status\":%u,"
                      "\"detail\":\"%s\"}",
                      slug, title, status, detail);
    int n = snprintf(buf, size,
                     "HTTP/1.1 %u %s\r\nContent-Type: application/problem+json\r\n"
                     "Cache-Control: no-store\r\n%sConnection: close\r\nContent-Length: %d\r\n"
                     "\r\n%s",
                     status, title, extra_header, bl, body);
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

limits_t *limits_new(int64_t timeout_ms, unsigned max_connections) {
    limits_t *l = calloc(1, sizeof(*l));
    if (!l) return NULL;
    l->timeout_us = timeout_ms * 1000;
    l->max_connections = max_connections;
    l->refused.ph = PHASE_CUT;
    l->refused.fd = -1;
    char detail[160];
    snprintf(detail, sizeof(detail),
             "the request did not arrive whole within %lld ms (gateway.request_timeout_ms)",
             (long long)timeout_ms);
    l->late_len = render(l->late, sizeof(l->late), 408, "Request Timeout", "request-timeout", "",
                         detail);
    snprintf(detail, sizeof(detail),
             "the gateway has %u connections open, its limit (gateway.max_connections); "
             "retry later",
             max_connections);
    l->full_len = render(l->full, sizeof(l->full), 503, "Service Unavailable", "busy",
                         "Retry-After: 5\r\n", detail);
    return l;
}

static int listed(const limits_conn *c) {
    return c->ph == PHASE_HEAD || c->ph == PHASE_BODY || c->ph == PHASE_ANSWERED;
}

static void unlink_conn(limits_t *l, limits_conn *c) {
    if (c->prev) c->prev->next = c->next;
    else l->head = c->next;
    if (c->next) c->next->prev = c->prev;
    else l->tail = c->prev;
    c->prev = c->next = NULL;
}

static void append(limits_t *l, limits_conn *c) {
    c->prev = l->tail;
    c->next = NULL;
    if (l->tail) l->tail->next = c;
    else l->head = c;
    l->tail = c;
}

void limits_free(limits_t *l) {
    if (!l) return;
    for (limits_conn *c = l->head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    free(l);
}

/* Writes what fits of an answer without blocking (the socket buffer of a
 * fresh or idle connection holds it whole). */
static void write_answer(int fd, const char *text, size_t len) {
    if (len) (void)send(fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

limits_conn *limits_refuse(limits_t *l, int fd) {
    if (!l->max_connections || l->open < l->max_connections) return NULL;
    write_answer(fd, l->full, l->full_len);
    (void)shutdown(fd, SHUT_RDWR);
    return &l->refused;
}

int limits_live(const limits_conn *c) {
    return !c || c->ph == PHASE_HEAD || c->ph == PHASE_BODY || c->ph == PHASE_IN;
}

limits_conn *limits_open(limits_t *l, int fd, int64_t now_us) {
    limits_conn *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->fd = fd;
    c->ph = PHASE_HEAD;
    c->since_us = now_us;
    append(l, c);
    l->open++;
    return c;
}

unsigned limits_open_count(const limits_t *l) { return l->open; }

void limits_close(limits_t *l, limits_conn *c) {
    if (!c || c == &l->refused) return;
    if (listed(c)) unlink_conn(l, c);
    l->open--;
    free(c);
}

void limits_headers_in(limits_t *l, limits_conn *c) {
    (void)l;
    if (c && c->ph == PHASE_HEAD) c->ph = PHASE_BODY;
}

void limits_request_in(limits_t *l, limits_conn *c) {
    if (!c || (c->ph != PHASE_HEAD && c->ph != PHASE_BODY)) return;
    unlink_conn(l, c);
    c->ph = PHASE_IN;
}

void limits_request_done(limits_t *l, limits_conn *c, int64_t now_us) {
    if (!c || c->ph == PHASE_CUT || c->ph == PHASE_ANSWERED) return;
    if (listed(c)) unlink_conn(l, c);
    c->ph = PHASE_HEAD;
    c->since_us = now_us;
    append(l, c); /* now is the latest start: the list stays in deadline order */
}

int limits_overdue(const limits_t *l, const limits_conn *c, int64_t now_us) {
    return l->timeout_us > 0 && c && listed(c) && now_us - c->since_us >= l->timeout_us;
}

size_t limits_sweep(limits_t *l, int64_t now_us) {
    size_t cut = 0;
    if (l->timeout_us <= 0) return 0;
    const int64_t grace = (int64_t)LIMITS_ANSWER_GRACE_MS * 1000;
    for (limits_conn *c = l->head, *n; c && now_us - c->since_us >= l->timeout_us; c = n) {
        n = c->next;
        if (c->ph == PHASE_BODY) { /* late body: the 408, then the grace */
            write_answer(c->fd, l->late, l->late_len);
            (void)shutdown(c->fd, SHUT_WR);
            c->ph = PHASE_ANSWERED;
            cut++;
            continue;
        }
        if (c->ph == PHASE_ANSWERED && now_us - c->since_us < l->timeout_us + grace) continue;
        if (c->ph == PHASE_HEAD) cut++;
        unlink_conn(l, c);
        c->ph = PHASE_CUT;
        (void)shutdown(c->fd, SHUT_RDWR); /* the daemon sees the client close */
    }
    return cut;
}

int64_t limits_next_ms(const limits_t *l, int64_t now_us) {
    if (l->timeout_us <= 0 || !l->head) return -1;
    const int64_t grace = (int64_t)LIMITS_ANSWER_GRACE_MS * 1000;
    int64_t next = -1;
    for (const limits_conn *c = l->head; c; c = c->next) {
        int64_t due = c->since_us + l->timeout_us;
        if (c->ph == PHASE_ANSWERED) due += grace; /* answered, in its grace */
        if (next < 0 || due < next) next = due;
        if (now_us < c->since_us + l->timeout_us) break; /* the rest are later */
    }
    int64_t ms = (next - now_us + 999) / 1000;
    return ms < 0 ? 0 : ms;
}
