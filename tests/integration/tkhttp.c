#define _GNU_SOURCE /* strcasecmp, strncasecmp, MSG_NOSIGNAL, SOCK_NONBLOCK */
#include "tkhttp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "testkit.h"

#define MAX_HEADERS 64
#define MAX_RESPONSE (16u << 20) /* a test never needs more: beyond it, an error */

static void set_error(tk_http_response *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_error(tk_http_response *out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->error, sizeof(out->error), fmt, ap);
    va_end(ap);
}

/* Waits until fd is ready for events or the deadline passes: 1 ready, 0
 * deadline, -1 poll error. */
static int wait_fd(int fd, short events, int64_t deadline) {
    for (;;) {
        int64_t left = deadline - time_mono_ms();
        if (left <= 0) return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)left);
        if (n > 0) return 1;
        if (n < 0 && errno != EINTR) return -1;
    }
}

/* A non-blocking socket connected to 127.0.0.1:port, or -1. */
static int connect_to(int port, int64_t deadline, tk_http_response *out) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        set_error(out, "socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) return fd;
    if (errno != EINPROGRESS) {
        set_error(out, "connect to 127.0.0.1:%d: %s", port, strerror(errno));
        close(fd);
        return -1;
    }
    if (wait_fd(fd, POLLOUT, deadline) != 1) {
        set_error(out, "connect to 127.0.0.1:%d: timed out", port);
        close(fd);
        return -1;
    }
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr) {
        set_error(out, "connect to 127.0.0.1:%d: %s", port, strerror(soerr));
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends all of buf. Returns 0 when sent, 1 when the server closed its side
 * first (it may have answered early, e.g. 413: the response is still read),
 * -1 on a timeout or another error. */
static int send_all(int fd, const char *buf, size_t len, int64_t deadline,
                    tk_http_response *out) {
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) return 1;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(fd, POLLOUT, deadline) == 1) continue;
            set_error(out, "sending the request: timed out after %zu of %zu bytes", off, len);
            return -1;
        }
        set_error(out, "sending the request: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* What has been received so far. */
typedef struct rbuf {
    char *data;
    size_t len, cap;
    int eof;
} rbuf;

/* Reads what is there (waiting until something is). 1: read some, 0: the
 * server closed (b->eof set), -1: timeout or error (out->error says). A
 * reset after data counts as a close: the bytes that came are kept. */
static int read_some(int fd, rbuf *b, int64_t deadline, tk_http_response *out) {
    if (b->eof) return 0;
    if (b->cap - b->len < 4096) {
        size_t cap = b->cap ? b->cap * 2 : 8192;
        if (cap > MAX_RESPONSE) {
            set_error(out, "the response is larger than %u bytes", MAX_RESPONSE);
            return -1;
        }
        char *d = realloc(b->data, cap);
        if (!d) {
            set_error(out, "out of memory");
            return -1;
        }
        b->data = d;
        b->cap = cap;
    }
    for (;;) {
        ssize_t n = recv(fd, b->data + b->len, b->cap - b->len - 1, 0);
        if (n > 0) {
            b->len += (size_t)n;
            b->data[b->len] = '\0';
            return 1;
        }
        if (n == 0 || (errno == ECONNRESET && b->len > 0)) {
            b->eof = 1;
            return 0;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int w = wait_fd(fd, POLLIN, deadline);
            if (w == 1) continue;
            set_error(out, "reading the response: %s after %zu bytes",
                      w == 0 ? "timed out" : strerror(errno), b->len);
            return -1;
        }
        set_error(out, "reading the response: %s after %zu bytes", strerror(errno), b->len);
        return -1;
    }
}

/* Reads until b holds at least want bytes: 0, or -1 (closed early, timeout,
 * error). */
static int read_until_len(int fd, rbuf *b, size_t want, int64_t deadline,
                          tk_http_response *out) {
    while (b->len < want) {
        int r = read_some(fd, b, deadline, out);
        if (r < 0) return -1;
        if (r == 0) {
            set_error(out, "the server closed the connection after %zu bytes, %zu expected",
                      b->len, want);
            return -1;
        }
    }
    return 0;
}

/* Reads until b holds needle at or after from; returns its offset, or -1. */
static long read_until(int fd, rbuf *b, size_t from, const char *needle, int64_t deadline,
                       tk_http_response *out) {
    for (;;) {
        if (b->len > from) {
            char *hit = strstr(b->data + from, needle);
            if (hit) return hit - b->data;
        }
        int r = read_some(fd, b, deadline, out);
        if (r < 0) return -1;
        if (r == 0) {
            set_error(out, "the server closed the connection before \"%s\" (%zu bytes read)",
                      needle[0] == '\r' ? "end of line" : needle, b->len);
            return -1;
        }
    }
}

/* Parses the status line and header lines of head (NUL-terminated, CRLF
 * separated, without the blank line) into out. */
static int parse_head(char *head, tk_http_response *out) {
    char *save = NULL;
    char *line = strtok_r(head, "\r\n", &save);
    int major, minor, status;
    if (!line || sscanf(line, "HTTP/%d.%d %d", &major, &minor, &status) != 3 || status < 100 ||
        status > 999) {
        set_error(out, "not an HTTP status line: \"%.80s\"", line ? line : "");
        return -1;
    }
    out->status = status;
    for (size_t i = 0; i < out->n_headers; i++) {
        free(out->headers[i].name);
        free(out->headers[i].value);
    }
    out->n_headers = 0;
    if (!out->headers) out->headers = calloc(MAX_HEADERS, sizeof(*out->headers));
    if (!out->headers) {
        set_error(out, "out of memory");
        return -1;
    }
    while ((line = strtok_r(NULL, "\r\n", &save))) {
        char *colon = strchr(line, ':');
        if (!colon || colon == line) {
            set_error(out, "malformed header line: \"%.80s\"", line);
            return -1;
        }
        if (out->n_headers == MAX_HEADERS) {
            set_error(out, "more than %d headers", MAX_HEADERS);
            return -1;
        }
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        size_t vlen = strlen(v);
        while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) vlen--;
        tk_http_header_field *h = &out->headers[out->n_headers];
        h->name = strndup(line, (size_t)(colon - line));
        h->value = strndup(v, vlen);
        if (!h->name || !h->value) {
            free(h->name);
            free(h->value);
            set_error(out, "out of memory");
            return -1;
        }
        out->n_headers++;
    }
    return 0;
}

/* Decodes a chunked body starting at b->data[pos] into out->body. */
static int read_chunked(int fd, rbuf *b, size_t pos, int64_t deadline, tk_http_response *out) {
    size_t blen = 0;
    char *body = malloc(1);
    if (!body) {
        set_error(out, "out of memory");
        return -1;
    }
    for (;;) {
        long eol = read_until(fd, b, pos, "\r\n", deadline, out);
        if (eol < 0) goto err;
        char *end;
        unsigned long size = strtoul(b->data + pos, &end, 16);
        if (end == b->data + pos) {
            set_error(out, "malformed chunk size: \"%.20s\"", b->data + pos);
            goto err;
        }
        pos = (size_t)eol + 2;
        if (size == 0) break; /* trailers, if any, are not needed */
        if (read_until_len(fd, b, pos + size + 2, deadline, out) != 0) goto err;
        char *grown = realloc(body, blen + size + 1);
        if (!grown) {
            set_error(out, "out of memory");
            goto err;
        }
        body = grown;
        memcpy(body + blen, b->data + pos, size);
        blen += size;
        pos += size + 2;
    }
    body[blen] = '\0';
    out->body = body;
    out->body_len = blen;
    return 0;

err:
    free(body);
    return -1;
}

/* Reads one response (after any 1xx ones) from fd into out. */
static int read_response(int fd, int head_only, int64_t deadline, tk_http_response *out) {
    rbuf b = {0};
    size_t start = 0;
    int rc = -1;
    for (;;) {
        long blank = read_until(fd, &b, start, "\r\n\r\n", deadline, out);
        if (blank < 0) goto done;
        b.data[blank] = '\0';
        if (parse_head(b.data + start, out) != 0) goto done;
        start = (size_t)blank + 4;
        if (out->status >= 200) break;
        /* 100 Continue and friends: the real response follows */
    }
    const char *te = tk_http_header(out, "Transfer-Encoding");
    const char *cl = tk_http_header(out, "Content-Length");
    if (head_only || out->status == 204 || out->status == 304) {
        out->body = strdup("");
        out->body_len = 0;
    } else if (te && strcasestr(te, "chunked")) {
        if (read_chunked(fd, &b, start, deadline, out) != 0) goto done;
    } else if (cl) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end == cl || *end || n > MAX_RESPONSE) {
            set_error(out, "bad Content-Length: \"%s\"", cl);
            goto done;
        }
        if (read_until_len(fd, &b, start + (size_t)n, deadline, out) != 0) goto done;
        out->body = strndup(b.data + start, (size_t)n);
        out->body_len = (size_t)n;
    } else {
        /* no framing: the body ends when the server closes */
        for (;;) {
            int r = read_some(fd, &b, deadline, out);
            if (r < 0) goto done;
            if (r == 0) break;
        }
        out->body_len = b.len - start;
        out->body = strndup(b.data + start, out->body_len);
    }
    if (!out->body) {
        set_error(out, "out of memory");
        goto done;
    }
    rc = 0;
done:
    free(b.data);
    return rc;
}

static void response_init(tk_http_response *out) { memset(out, 0, sizeof(*out)); }

int tk_http_raw(int port, const void *request, size_t len, int head_only, int timeout_ms,
                tk_http_response *out) {
    response_init(out);
    int64_t deadline = time_mono_ms() + timeout_ms;
    int fd = connect_to(port, deadline, out);
    if (fd < 0) return -1;
    int rc = -1;
    if (send_all(fd, request, len, deadline, out) >= 0)
        rc = read_response(fd, head_only, deadline, out);
    close(fd);
    return rc;
}

/* 1 when headers (may be NULL) hold a header called name. */
static int has_header(const char *const *headers, const char *name) {
    size_t n = strlen(name);
    for (; headers && *headers; headers++)
        if (strncasecmp(*headers, name, n) == 0 && (*headers)[n] == ':') return 1;
    return 0;
}

/* The bytes of one request (malloc'd, the caller frees; *len set), or NULL
 * with out->error set. */
static char *build_request(int port, const char *method, const char *path,
                           const char *const *headers, const char *body, int keep_alive,
                           size_t *lenp, tk_http_response *out) {
    size_t blen = body ? strlen(body) : 0;
    size_t cap = strlen(method) + strlen(path) + blen + 256;
    for (const char *const *h = headers; h && *h; h++) cap += strlen(*h) + 2;
    char *req = malloc(cap);
    if (!req) {
        set_error(out, "out of memory");
        return NULL;
    }
    size_t len = (size_t)snprintf(req, cap, "%s %s HTTP/1.1\r\n", method, path);
    if (!has_header(headers, "Host"))
        len += (size_t)snprintf(req + len, cap - len, "Host: 127.0.0.1:%d\r\n", port);
    if (!keep_alive) len += (size_t)snprintf(req + len, cap - len, "Connection: close\r\n");
    int wants_length = body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                       strcmp(method, "PATCH") == 0;
    if (wants_length && !has_header(headers, "Content-Length"))
        len += (size_t)snprintf(req + len, cap - len, "Content-Length: %zu\r\n", blen);
    for (const char *const *h = headers; h && *h; h++)
        len += (size_t)snprintf(req + len, cap - len, "%s\r\n", *h);
    len += (size_t)snprintf(req + len, cap - len, "\r\n");
    if (blen) {
        memcpy(req + len, body, blen);
        len += blen;
    }
    *lenp = len;
    return req;
}

int tk_http(int port, const char *method, const char *path, const char *const *headers,
            const char *body, int timeout_ms, tk_http_response *out) {
    response_init(out);
    size_t len;
    char *req = build_request(port, method, path, headers, body, 0, &len, out);
    if (!req) return -1;
    int rc = tk_http_raw(port, req, len, strcmp(method, "HEAD") == 0, timeout_ms, out);
    free(req);
    return rc;
}

/* ---- keep-alive connections --------------------------------------------- */

struct tk_http_conn {
    int fd, port;
};

tk_http_conn *tk_http_connect(int port, int timeout_ms, char *errstr, size_t errsize) {
    tk_http_response scratch;
    response_init(&scratch);
    tk_http_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    c->port = port;
    c->fd = connect_to(port, time_mono_ms() + timeout_ms, &scratch);
    if (c->fd < 0) {
        snprintf(errstr, errsize, "%s", scratch.error);
        free(c);
        return NULL;
    }
    return c;
}

int tk_http_exchange(tk_http_conn *c, const char *method, const char *path,
                     const char *const *headers, const char *body, int timeout_ms,
                     tk_http_response *out) {
    response_init(out);
    int64_t deadline = time_mono_ms() + timeout_ms;
    size_t len;
    char *req = build_request(c->port, method, path, headers, body, 1, &len, out);
    if (!req) return -1;
    int rc = -1;
    if (send_all(c->fd, req, len, deadline, out) >= 0)
        rc = read_response(c->fd, strcmp(method, "HEAD") == 0, deadline, out);
    free(req);
    return rc;
}

void tk_http_conn_close(tk_http_conn *c) {
    if (!c) return;
    close(c->fd);
    free(c);
}

const char *tk_http_header(const tk_http_response *resp, const char *name) {
    for (size_t i = 0; i < resp->n_headers; i++)
        if (strcasecmp(resp->headers[i].name, name) == 0) return resp->headers[i].value;
    return NULL;
}

void tk_http_response_free(tk_http_response *resp) {
    if (!resp) return;
    for (size_t i = 0; i < resp->n_headers; i++) {
        free(resp->headers[i].name);
        free(resp->headers[i].value);
    }
    free(resp->headers);
    free(resp->body);
    response_init(resp);
}

/* ---- requests on threads ------------------------------------------------ */

struct tk_http_async {
    pthread_t thread;
    int port, timeout_ms, rc;
    char *method, *path, *body;
    char **headers; /* NULL-terminated copies */
    tk_http_response resp;
};

static void async_free(tk_http_async *a) {
    for (char **h = a->headers; h && *h; h++) free(*h);
    free(a->headers);
    free(a->method);
    free(a->path);
    free(a->body);
    free(a);
}

static void *async_run(void *arg) {
    tk_http_async *a = arg;
    a->rc = tk_http(a->port, a->method, a->path, (const char *const *)a->headers, a->body,
                    a->timeout_ms, &a->resp);
    return NULL;
}

tk_http_async *tk_http_start(int port, const char *method, const char *path,
                             const char *const *headers, const char *body, int timeout_ms) {
    tk_http_async *a = calloc(1, sizeof(*a));
    if (!a) return NULL;
    size_t n = 0;
    while (headers && headers[n]) n++;
    a->port = port;
    a->timeout_ms = timeout_ms;
    a->method = strdup(method);
    a->path = strdup(path);
    a->body = body ? strdup(body) : NULL;
    a->headers = calloc(n + 1, sizeof(*a->headers));
    int ok = a->method && a->path && (!body || a->body) && a->headers;
    for (size_t i = 0; ok && i < n; i++) ok = (a->headers[i] = strdup(headers[i])) != NULL;
    if (!ok || pthread_create(&a->thread, NULL, async_run, a) != 0) {
        async_free(a);
        return NULL;
    }
    return a;
}

int tk_http_join(tk_http_async *a, tk_http_response *out) {
    pthread_join(a->thread, NULL);
    *out = a->resp;
    int rc = a->rc;
    async_free(a);
    return rc;
}

/* ---- the gateway's log -------------------------------------------------- */

int tk_wait_log_number(const char *log_path, const char *needle, int timeout_ms) {
    int64_t deadline = time_mono_ms() + timeout_ms;
    for (;;) {
        char *text = tk_read_file(log_path);
        char *hit = text ? strstr(text, needle) : NULL;
        int n = -1;
        if (hit) {
            char *p = hit + strlen(needle), *end;
            long v = strtol(p, &end, 10);
            if (end != p && v >= 0 && v <= INT_MAX) n = (int)v;
        }
        free(text);
        if (n >= 0) return n;
        if (time_mono_ms() >= deadline) return -1;
        struct timespec ts = {0, 20 * 1000000L}; /* polling a file */
        nanosleep(&ts, NULL);
    }
}

int tk_wait_port(const char *log_path, int timeout_ms) {
    return tk_wait_log_number(log_path, "msg=ready port=", timeout_ms);
}
