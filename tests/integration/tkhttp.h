/* tkhttp: a tiny blocking HTTP/1.1 client for the tests of order-gateway.
 *
 * One request per connection (Connection: close) to 127.0.0.1:port, a whole
 * response read back (Content-Length, chunked, or until the server closes),
 * everything bounded by one deadline. No assertions inside: the functions
 * return errors, so they may run on threads of their own (cmocka's
 * assertions belong on the test's thread). */
#ifndef ORDERFLEET_TKHTTP_H
#define ORDERFLEET_TKHTTP_H

#include <stddef.h>

typedef struct tk_http_header_field {
    char *name, *value; /* value without surrounding blanks */
} tk_http_header_field;

typedef struct tk_http_response {
    int status;                     /* 200, 404, ...; 0 when no response came */
    tk_http_header_field *headers;  /* in the order received */
    size_t n_headers;
    char *body;                     /* NUL-terminated (never NULL once tk_http() returned 0) */
    size_t body_len;
    char error[256];                /* why tk_http() returned -1 */
} tk_http_response;

/* Sends one request to 127.0.0.1:port: method and path, headers ("Name:
 * value" each, NULL-terminated, may be NULL), body (may be NULL), with Host,
 * Connection: close and Content-Length added (Content-Length: 0 for a POST,
 * PUT or PATCH without body; none added when headers hold one, so a test can
 * lie about it). Reads the whole response within timeout_ms. Returns 0 with
 * out filled, or -1 with out->error saying why (connect refused, timeout,
 * malformed response). out is always initialised: free it with
 * tk_http_response_free() either way. Thread-safe. */
int tk_http(int port, const char *method, const char *path, const char *const *headers,
            const char *body, int timeout_ms, tk_http_response *out);

/* Sends len raw bytes as they are (a hand-made request: chunked bodies,
 * broken framing) and reads the response as tk_http() does; head_only: the
 * request was HEAD (the response has no body). Same return and ownership. */
int tk_http_raw(int port, const void *request, size_t len, int head_only, int timeout_ms,
                tk_http_response *out);

/* The first value of header name (case-insensitive), or NULL. Valid until
 * tk_http_response_free(). */
const char *tk_http_header(const tk_http_response *resp, const char *name);

/* Frees what resp holds and clears it; resp itself is the caller's. */
void tk_http_response_free(tk_http_response *resp);

/* A keep-alive connection, for what only shows on a connection that stays
 * open (requests sent after the server has begun to stop, say). One request
 * at a time: each exchange reads its whole response before returning. */
typedef struct tk_http_conn tk_http_conn;

/* Connects to 127.0.0.1:port. Returns NULL with the reason in errstr. Close
 * it with tk_http_conn_close(). */
tk_http_conn *tk_http_connect(int port, int timeout_ms, char *errstr, size_t errsize);

/* As tk_http(), on c and without Connection: close. The connection is
 * unusable after a -1 (close it). */
int tk_http_exchange(tk_http_conn *c, const char *method, const char *path,
                     const char *const *headers, const char *body, int timeout_ms,
                     tk_http_response *out);

void tk_http_conn_close(tk_http_conn *c);

/* A request running on a thread of its own, for tests that need several
 * requests waiting at once (tk_http() blocks). Everything given is copied. */
typedef struct tk_http_async tk_http_async;

/* Starts tk_http() on a new thread. Returns NULL when no thread could be
 * started. Collect it with tk_http_join(), exactly once. */
tk_http_async *tk_http_start(int port, const char *method, const char *path,
                             const char *const *headers, const char *body, int timeout_ms);

/* Waits for the request to end; moves its response into out (free it with
 * tk_http_response_free()) and returns what tk_http() returned. Frees a. */
int tk_http_join(tk_http_async *a, tk_http_response *out);

/* Waits for at most timeout_ms (polling the file every 20 ms) until the log
 * at log_path holds `msg=ready port=N` (order-gateway's readiness line) and
 * returns N, or -1 at the deadline. */
int tk_wait_port(const char *log_path, int timeout_ms);

/* Waits as tk_wait_port() until the log holds needle followed by a
 * number, and returns that number (of needle's first occurrence), or -1 at
 * the deadline. tk_wait_port() is needle "msg=ready port=". */
int tk_wait_log_number(const char *log_path, const char *needle, int timeout_ms);

#endif
