/* sse: GET /v1/orders/{id}/events, an order's outcome as Server-Sent Events
 * (text/event-stream), the buzzer of the page (docs/buzzer.md).
 *
 *   outcome known:  event: outcome / id: <order id> / data: <outcome JSON>,
 *                   then the stream ends
 *   otherwise:      ": waiting" at once, ": keep-alive" every
 *                   gateway.sse_keepalive_ms, the outcome event when the view
 *                   sees it (gateway/history.h listener), then the end
 *   shutdown:       event: shutdown, then the end
 *
 * A stream is a libmicrohttpd response whose content comes from a callback.
 * While it has nothing to send, the callback suspends its connection: an
 * open stream holds no thread and no turn of the loop, only its sse_stream
 * and its socket. News (an outcome, a keep-alive due, the shutdown) is
 * queued on the stream and its connection resumed.
 *
 * libmicrohttpd does not watch a suspended connection's socket, so a client
 * that goes away would only be noticed at the next keep-alive. The module
 * therefore keeps an epoll set of its own with every stream's socket
 * (EPOLLRDHUP: the peer closed) and, nested in it, the daemon's epoll
 * descriptor (sse_nest()): sse_fd() is the one descriptor the event loop
 * polls for both, and a stream whose client left is resumed at once to end,
 * which frees it.
 *
 * Keep-alives: every waiting stream has the same interval, so a FIFO of
 * waiting streams is ordered by deadline; the head is the next one
 * (sse_timeout_ms(), O(1)).
 *
 * Single-threaded: the gateway's event loop owns it, and libmicrohttpd calls
 * back on that thread (external epoll mode). */
#ifndef ORDERFLEET_GATEWAY_SSE_H
#define ORDERFLEET_GATEWAY_SSE_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "common/config.h"
#include "gateway/gateway_metrics.h"
#include "gateway/history.h"

#define SSE_OK 0
#define SSE_ERR -1      /* out of memory, or libmicrohttpd refused the response */
#define SSE_FULL -2     /* gateway.max_streams streams are open */
#define SSE_STOPPING -3 /* sse_shutdown() was called */

typedef struct sse sse_t;

/* Creates the module and its epoll set. gm (may have no registry) must
 * outlive it. Returns NULL with the reason in errstr; free with sse_free(). */
sse_t *sse_new(const of_config *cfg, gmetrics *gm, char *errstr, size_t errsize);

/* Nests fd (libmicrohttpd's epoll descriptor) in the module's set, so that
 * sse_fd() becomes readable when it is. Returns SSE_OK or SSE_ERR. */
int sse_nest(sse_t *s, int fd, char *errstr, size_t errsize);

/* The descriptor to poll for reading (the nested one included). */
int sse_fd(const sse_t *s);

/* Milliseconds until the next keep-alive is due, or -1 for none. */
int64_t sse_timeout_ms(const sse_t *s);

/* Serves what is due without blocking: resumes the streams whose client
 * left (to end them) and those whose keep-alive is due. Call before the
 * daemon's MHD_run(). Cost: one epoll_wait(0) plus O(1) per stream served. */
void sse_run(sse_t *s);

/* Answers conn (a GET, from the access handler) with a stream for
 * order_id: with json (len bytes, the outcome) the stream carries its
 * outcome event and ends; with json NULL it waits for it. A waiting stream
 * counts against gateway.max_streams (SSE_FULL: nothing queued, answer
 * 503); a known outcome is always answered. Returns SSE_OK (the response is
 * queued), SSE_FULL, SSE_STOPPING or SSE_ERR (close the connection). */
int sse_open(sse_t *s, struct MHD_Connection *conn, const char *order_id, const char *json,
             size_t len);

/* The history listener (ctx: the sse_t): an outcome ends every stream
 * waiting for its order with the outcome event. */
void sse_on_history(const history_event *ev, void *ctx);

/* Shutdown begins: every open stream gets `event: shutdown` and ends once
 * it is sent; new streams are refused (SSE_STOPPING). */
void sse_shutdown(sse_t *s);

/* Before the daemon stops: every stream still open ends at once, unsent
 * news dropped (libmicrohttpd may not stop with suspended connections). */
void sse_abort(sse_t *s);

/* Streams open now. */
size_t sse_count(const sse_t *s);

/* Frees the module; call after the daemon stopped (every stream freed).
 * NULL is fine. */
void sse_free(sse_t *s);

#endif
