#define _GNU_SOURCE /* EPOLLRDHUP */
#include "gateway/sse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "common/logfmt.h"
#include "common/recent.h"
#include "common/timeutil.h"

/* Bytes libmicrohttpd asks the callback for at most, per chunk. */
#define BLOCK_SIZE 4096
/* epoll events served per sse_run(): the rest come on the next turn. */
#define EVENTS_PER_RUN 64
/* The epoll data of the nested daemon descriptor; streams count from 1. */
#define NESTED_TAG 0

#define SHUTDOWN_EVENT "event: shutdown\ndata: {\"reason\":\"the gateway is stopping\"}\n\n"

typedef struct sse_stream {
    sse_t *sse;
    struct MHD_Connection *conn;
    uint64_t serial; /* its epoll tag */
    int fd;          /* the socket while watched, else -1 */
    struct sse_stream *prev, *next;       /* every open stream */
    struct sse_stream *ka_prev, *ka_next; /* waiting streams, by keep-alive deadline */
    struct sse_stream *same_next;         /* other waiting streams of the same order */
    int64_t keepalive_at;                 /* monotonic ms */
    char *buf; /* bytes to send: buf[off..len) */
    size_t len, off, cap;
    int waiting;   /* indexed and on the keep-alive list */
    int done;      /* ends once buf is sent */
    int gone;      /* the client left, or the daemon stops: end now, unsent bytes dropped */
    int suspended; /* its connection is suspended by the callback */
    char order_id[];
} sse_stream;

struct sse {
    const of_config *cfg;
    gmetrics *gm;
    int epfd;
    recent_t *index; /* order id -> the first waiting stream (the pointer's bytes) */
    sse_stream *all;
    sse_stream *ka_head, *ka_tail;
    size_t open;
    size_t waiting;
    uint64_t next_serial;
    int stopping;
};

/* ---- small helpers ------------------------------------------------------ */

/* Appends to the stream's buffer. Returns 0, or -1 when out of memory (the
 * stream then ends: a client missing an event must not wait forever). */
static int append(sse_stream *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int append(sse_stream *st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    if (st->off == st->len) st->off = st->len = 0;
    size_t need = st->len + (size_t)n + 1;
    if (need > st->cap) {
        size_t cap = st->cap ? st->cap : 256;
        while (cap < need) cap *= 2;
        char *b = realloc(st->buf, cap);
        if (!b) {
            st->gone = 1;
            return -1;
        }
        st->buf = b;
        st->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(st->buf + st->len, st->cap - st->len, fmt, ap);
    va_end(ap);
    st->len += (size_t)n;
    return 0;
}

/* Lets libmicrohttpd call the stream's callback again. */
static void wake(sse_stream *st) {
    if (!st->suspended) return;
    st->suspended = 0;
    MHD_resume_connection(st->conn);
}

static void unwatch(sse_stream *st) {
    if (st->fd < 0) return;
    (void)epoll_ctl(st->sse->epfd, EPOLL_CTL_DEL, st->fd, NULL);
    st->fd = -1;
}

static sse_stream *index_head(const sse_t *s, const char *order_id) {
    const void *v = NULL;
    size_t len = 0;
    if (recent_get(s->index, order_id, strlen(order_id), &v, &len) != RECENT_OK ||
        len != sizeof(sse_stream *))
        return NULL;
    sse_stream *st;
    memcpy(&st, v, sizeof(st));
    return st;
}

static int index_set(sse_t *s, const char *order_id, sse_stream *head) {
    size_t len = strlen(order_id);
    if (!head) {
        (void)recent_del(s->index, order_id, len);
        return 0;
    }
    void *ptr = head;
    return recent_put(s->index, order_id, len, &ptr, sizeof(ptr)) == RECENT_OK ? 0 : -1;
}

static void ka_push(sse_t *s, sse_stream *st) {
    st->ka_next = NULL;
    st->ka_prev = s->ka_tail;
    if (s->ka_tail) s->ka_tail->ka_next = st;
    else s->ka_head = st;
    s->ka_tail = st;
}

static void ka_unlink(sse_t *s, sse_stream *st) {
    if (st->ka_prev) st->ka_prev->ka_next = st->ka_next;
    else s->ka_head = st->ka_next;
    if (st->ka_next) st->ka_next->ka_prev = st->ka_prev;
    else s->ka_tail = st->ka_prev;
    st->ka_prev = st->ka_next = NULL;
}

/* Takes a waiting stream off the index and the keep-alive list: it is
 * done waiting (its outcome came, or the stop, or its end). */
static void stop_waiting(sse_t *s, sse_stream *st) {
    if (!st->waiting) return;
    st->waiting = 0;
    s->waiting--;
    ka_unlink(s, st);
    sse_stream *head = index_head(s, st->order_id);
    if (head == st) {
        index_set(s, st->order_id, st->same_next);
    } else {
        for (sse_stream *p = head; p; p = p->same_next)
            if (p->same_next == st) {
                p->same_next = st->same_next;
                break;
            }
    }
    st->same_next = NULL;
}

/* ---- libmicrohttpd's callbacks ------------------------------------------ */

/* The response's content: what is queued, the end once done, or a
 * suspension while there is nothing to send (resumed by wake()). A stream
 * whose client left ends as a normal one: writing the last chunk fails and
 * libmicrohttpd closes the connection, without the error line that
 * END_WITH_ERROR would log for every page a user closes. */
static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max) {
    sse_stream *st = cls;
    (void)pos;
    if (st->gone) return MHD_CONTENT_READER_END_OF_STREAM;
    if (st->off < st->len) {
        size_t n = st->len - st->off;
        if (n > max) n = max;
        memcpy(buf, st->buf + st->off, n);
        st->off += n;
        return (ssize_t)n;
    }
    if (st->done) return MHD_CONTENT_READER_END_OF_STREAM;
    st->suspended = 1;
    MHD_suspend_connection(st->conn);
    return 0;
}

/* The response is gone (sent, or its connection closed): the stream is
 * freed at once, its slot and its socket watch released. */
static void reader_free(void *cls) {
    sse_stream *st = cls;
    sse_t *s = st->sse;
    stop_waiting(s, st);
    unwatch(st);
    if (st->prev) st->prev->next = st->next;
    else s->all = st->next;
    if (st->next) st->next->prev = st->prev;
    s->open--;
    gmetrics_streams(s->gm, s->open);
    free(st->buf);
    free(st);
}

/* ---- the module --------------------------------------------------------- */

sse_t *sse_new(const of_config *cfg, gmetrics *gm, char *errstr, size_t errsize) {
    sse_t *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    s->cfg = cfg;
    s->gm = gm;
    s->next_serial = NESTED_TAG + 1;
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0) {
        snprintf(errstr, errsize, "cannot create the event streams' epoll set: %s",
                 strerror(errno));
        goto err;
    }
    /* at most max_streams waiting streams, so the index never forgets one */
    if (!(s->index = recent_new((size_t)cfg->gateway_max_streams + 1, 0))) {
        snprintf(errstr, errsize, "out of memory for %d event streams (gateway.max_streams)",
                 cfg->gateway_max_streams);
        goto err;
    }
    return s;

err:
    sse_free(s);
    return NULL;
}

int sse_nest(sse_t *s, int fd, char *errstr, size_t errsize) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = NESTED_TAG};
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        snprintf(errstr, errsize, "cannot watch the HTTP daemon's descriptor %d: %s", fd,
                 strerror(errno));
        return SSE_ERR;
    }
    return SSE_OK;
}

int sse_fd(const sse_t *s) { return s->epfd; }

int64_t sse_timeout_ms(const sse_t *s) {
    if (!s->ka_head) return -1;
    int64_t t = s->ka_head->keepalive_at - time_mono_ms();
    return t < 0 ? 0 : t;
}

static sse_stream *by_serial(const sse_t *s, uint64_t serial) {
    for (sse_stream *st = s->all; st; st = st->next)
        if (st->serial == serial) return st;
    return NULL;
}

void sse_run(sse_t *s) {
    struct epoll_event evs[EVENTS_PER_RUN];
    int n = epoll_wait(s->epfd, evs, EVENTS_PER_RUN, 0);
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u64 == NESTED_TAG) continue; /* the daemon's: MHD_run() serves it */
        /* A disconnect is rare: a walk of the open streams is cheap enough. */
        sse_stream *st = by_serial(s, evs[i].data.u64);
        if (!st) continue;
        unwatch(st); /* level-triggered: told once */
        st->gone = 1;
        stop_waiting(s, st);
        wake(st);
    }
    int64_t now = time_mono_ms();
    while (s->ka_head && s->ka_head->keepalive_at <= now) {
        sse_stream *st = s->ka_head;
        ka_unlink(s, st);
        st->keepalive_at = now + s->cfg->gateway_sse_keepalive_ms;
        ka_push(s, st);
        /* a client that has not taken the last one yet gets no second */
        if (st->off == st->len) (void)append(st, ": keep-alive\n");
        wake(st);
    }
}

int sse_open(sse_t *s, struct MHD_Connection *conn, const char *order_id, const char *json,
             size_t len) {
    if (s->stopping) return SSE_STOPPING;
    if (!json && s->waiting >= (size_t)s->cfg->gateway_max_streams) return SSE_FULL;
    size_t idlen = strlen(order_id);
    sse_stream *st = calloc(1, sizeof(*st) + idlen + 1);
    if (!st) return SSE_ERR;
    memcpy(st->order_id, order_id, idlen + 1);
    st->sse = s;
    st->conn = conn;
    st->fd = -1;
    st->serial = s->next_serial++;
    int rc = json ? append(st, "event: outcome\nid: %s\ndata: %.*s\n\n", order_id, (int)len, json)
                  : append(st, ": waiting\n");
    if (rc != 0) {
        free(st->buf);
        free(st);
        return SSE_ERR;
    }
    st->done = json != NULL;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, BLOCK_SIZE, reader, st, reader_free);
    if (!resp) {
        free(st->buf);
        free(st);
        return SSE_ERR;
    }
    /* From here the response owns the stream: reader_free() frees it. */
    st->next = s->all;
    if (s->all) s->all->prev = st;
    s->all = st;
    s->open++;
    gmetrics_streams(s->gm, s->open);
    if (json) {
        gmetrics_event_sent(s->gm, "outcome");
    } else {
        st->same_next = index_head(s, order_id);
        if (index_set(s, order_id, st) != 0) {
            st->same_next = NULL; /* cannot happen below max_streams: the end at once */
            st->gone = 1;
        } else {
            st->waiting = 1;
            s->waiting++;
            st->keepalive_at = time_mono_ms() + s->cfg->gateway_sse_keepalive_ms;
            ka_push(s, st);
        }
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct epoll_event ev = {.events = EPOLLRDHUP, .data.u64 = st->serial};
        if (ci && epoll_ctl(s->epfd, EPOLL_CTL_ADD, ci->connect_fd, &ev) == 0)
            st->fd = ci->connect_fd;
        else
            log_warn("event stream not watched for disconnects", "order_id=%s error=\"%s\"",
                     order_id, ci ? strerror(errno) : "no socket");
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no"); /* nginx: do not buffer */
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ok = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp); /* a queued one lives on with its connection */
    return ok == MHD_YES ? SSE_OK : SSE_ERR;
}

void sse_on_history(const history_event *ev, void *ctx) {
    sse_t *s = ctx;
    if (ev->kind != HISTORY_EV_OUTCOME) return;
    sse_stream *st = index_head(s, ev->order_id);
    while (st) {
        sse_stream *next = st->same_next;
        stop_waiting(s, st);
        st->done = 1;
        if (append(st, "event: outcome\nid: %s\ndata: %.*s\n\n", ev->order_id,
                   (int)ev->json_len, ev->json) == 0)
            gmetrics_event_sent(s->gm, "outcome");
        wake(st);
        st = next;
    }
}

void sse_shutdown(sse_t *s) {
    s->stopping = 1;
    for (sse_stream *st = s->all; st; st = st->next) {
        if (st->done || st->gone) continue;
        stop_waiting(s, st);
        st->done = 1;
        if (append(st, SHUTDOWN_EVENT) == 0) gmetrics_event_sent(s->gm, "shutdown");
        wake(st);
    }
}

void sse_abort(sse_t *s) {
    if (!s) return;
    s->stopping = 1;
    for (sse_stream *st = s->all; st; st = st->next) {
        stop_waiting(s, st);
        st->gone = 1;
        wake(st);
    }
}

size_t sse_count(const sse_t *s) { return s->open; }

void sse_free(sse_t *s) {
    if (!s) return;
    if (s->all) log_error("event streams left at exit", "count=%zu", s->open);
    if (s->epfd >= 0) close(s->epfd);
    recent_free(s->index);
    free(s);
}
