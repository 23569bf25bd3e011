/* prefer: the HTTP Prefer request header (RFC 7240), for the gateway.
 *
 *   Prefer: respond-async, wait=10
 *   Prefer: WAIT = "5" ; foo=bar, handling=lenient
 *
 * Two preferences are understood: respond-async (answer 202 at once) and
 * wait=N (seconds to wait for the outcome). As RFC 7240 asks, everything
 * else is ignored without error: unknown preferences, parameters, elements
 * that do not parse, respond-async with a value, and a wait whose value is
 * not a non-negative integer. Tokens are case-insensitive; values may be
 * tokens or quoted strings; an empty value is the same as none (§2).
 *
 * A preference given more than once, in one header or across several
 * Prefer headers fed one by one, counts only at its first occurrence (§2):
 * "wait=x, wait=5" is therefore no wait at all, because the first wait was
 * invalid and the second is ignored. */
#ifndef ORDERFLEET_PREFER_H
#define ORDERFLEET_PREFER_H

#include <stddef.h>

#define PREFER_OK 0
#define PREFER_ERR -1 /* prefer_applied: buf too small */

/* Flags naming preferences, for `seen` and for prefer_applied()'s honoured. */
#define PREFER_RESPOND_ASYNC 0x1u
#define PREFER_WAIT 0x2u

struct prefer {
    int respond_async; /* 1 when respond-async was asked for */
    int wait_s;        /* seconds asked for with wait=N, -1 when absent */
    unsigned seen;     /* PREFER_* already met (valid or not): later ones are ignored */
};

/* Sets p to "no preferences". Call once before the first prefer_parse(). */
void prefer_init(struct prefer *p);

/* Parses one Prefer header value (NUL-terminated) into p, keeping what
 * earlier calls found. A wait beyond INT_MAX seconds reads as INT_MAX (as
 * delta-seconds are capped in RFC 9111 §1.2.2). Returns how many preference
 * elements were malformed and so ignored (0 for a clean header): never an
 * error, only something to log at debug level. O(length). */
int prefer_parse(struct prefer *p, const char *value);

/* The same for a value of len bytes, not necessarily NUL-terminated. */
int prefer_parse_len(struct prefer *p, const char *value, size_t len);

/* Writes the Preference-Applied value for the preferences in honoured
 * (PREFER_* flags) that p holds, e.g. "respond-async", "wait=5" or
 * "respond-async, wait=5", into buf. A gateway that waited less than asked
 * passes a copy of p with wait_s set to the seconds it used. Returns the
 * length written, 0 when nothing applies (send no header), or PREFER_ERR when
 * it does not fit in size bytes (buf is then ""). */
int prefer_applied(const struct prefer *p, unsigned honoured, char *buf, size_t size);

#endif
