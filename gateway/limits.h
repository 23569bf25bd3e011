/* limits: the request time limit of order-gateway's connections
 * (gateway.request_timeout_ms, docs/security.md "Limits").
 *
 * libmicrohttpd's own connection timeout is an idle timer, reset by every
 * byte, so a client sending one byte every few seconds (slowloris) would
 * hold a connection for ever. This module gives every request a deadline
 * instead: its line, headers and body must all arrive within the timeout,
 * counted from the connection's accept or from the end of its previous
 * request (so an idle keep-alive connection is closed after the same time).
 * A request received whole - and so one suspended while it waits for its
 * reply - is never cut off by it.
 *
 * What a late request gets: while its headers are still coming, the
 * connection is shut down (it may be an idle keep-alive connection, to which
 * an unasked answer would be a lie); once its body is coming, a 408
 * problem+json is written on the socket and its sending side shut, and the
 * connection is cut LIMITS_ANSWER_GRACE_MS later if the client has not
 * closed it by then. libmicrohttpd 0.9.75 cannot queue an answer while a
 * body is arriving, so the 408 is written here, on the socket, which is safe
 * because nothing else is being written on it then (the previous answer on
 * the connection was sent whole before its request completed). Cutting is
 * shutdown(2) on the socket, which libmicrohttpd sees as the client closing.
 *
 * The connection limit is enforced here too: libmicrohttpd at its own limit
 * stops accepting, which leaves new clients hanging in the listen backlog;
 * instead its limit is set above this one and a connection beyond this one
 * is accepted, answered 503 with Retry-After on the socket, and closed.
 *
 * Connections in their request phase are kept in a list in the order that
 * phase began, which is the order of their deadlines, so a sweep looks at
 * the overdue ones only. Single-threaded (the gateway's event loop). */
#ifndef ORDERFLEET_GATEWAY_LIMITS_H
#define ORDERFLEET_GATEWAY_LIMITS_H

#include <stddef.h>
#include <stdint.h>

/* Time a request whose body is late gets to be answered 408 before it is
 * cut off. */
#define LIMITS_ANSWER_GRACE_MS 1000

typedef struct limits limits_t;
typedef struct limits_conn limits_conn;

/* A tracker of connections with a request timeout of timeout_ms (0: none;
 * then every call below is cheap and nothing is ever cut). NULL when out of
 * memory. Freed with limits_free(). */
limits_t *limits_new(int64_t timeout_ms, unsigned max_connections);

/* When max_connections are open: answers the new connection on fd 503
 * (problem+json, Retry-After), shuts it down and returns its entry (shared
 * by every refused connection, owned by l; limits_close() ignores it); else
 * NULL. */
limits_conn *limits_refuse(limits_t *l, int fd);

/* 0 when the connection was refused, or its request was answered 408 or cut
 * off: whatever libmicrohttpd still reads from it must not be served (the
 * client was told it was not). 1 otherwise, and for NULL (a connection not
 * limited, for lack of memory). */
int limits_live(const limits_conn *c);

/* Frees the tracker and every connection still in it. NULL is fine. */
void limits_free(limits_t *l);

/* A connection was accepted on socket fd at now_us: its first request phase
 * begins. Returns its entry (owned by l, freed by limits_close()), or NULL
 * when out of memory (the connection is then simply not limited). */
limits_conn *limits_open(limits_t *l, int fd, int64_t now_us);

/* Connections open now (accepted and not refused, not yet closed). */
unsigned limits_open_count(const limits_t *l);

/* The connection closed. c may be NULL. */
void limits_close(limits_t *l, limits_conn *c);

/* Its request's headers are in: the body phase (same deadline). */
void limits_headers_in(limits_t *l, limits_conn *c);

/* Its request has arrived whole: no deadline until it is answered. */
void limits_request_in(limits_t *l, limits_conn *c);

/* Its request was answered (or ended): the next request phase begins now. */
void limits_request_done(limits_t *l, limits_conn *c, int64_t now_us);

/* 1 when c is in a request phase and its deadline has passed. */
int limits_overdue(const limits_t *l, const limits_conn *c, int64_t now_us);

/* Cuts every connection that is past its deadline: in the head phase it is
 * shut down; in the body phase it is answered 408 and shut down after the
 * grace. Returns how many were cut or answered. Cost: the overdue
 * connections only. */
size_t limits_sweep(limits_t *l, int64_t now_us);

/* Milliseconds until the next sweep has work (0: now), or -1 for none. */
int64_t limits_next_ms(const limits_t *l, int64_t now_us);

#endif
