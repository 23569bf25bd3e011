/* trace: W3C Trace Context (https://www.w3.org/TR/trace-context/) for the
 * traceparent header that travels with every record (DESIGN.md §4).
 *
 *   traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
 *                ver trace id (16 bytes)              span id (8 bytes) flags
 *
 * Each hop continues the trace it was given: same trace id and flags, a new
 * span id of its own (trace_child()). A hop given no traceparent, or one that
 * is not valid, starts a new trace (trace_new()), as the specification asks
 * of a receiver that cannot parse its parent. No allocation; thread-safe. */
#ifndef ORDERFLEET_TRACE_H
#define ORDERFLEET_TRACE_H

#include <stddef.h>

/* Length of a version-00 traceparent, without the NUL. */
#define TRACE_PARENT_LEN 55

/* Non-zero when tp[0..len) is a traceparent this module can continue:
 * version 00 exactly, or a later version (not ff) with its 00 prefix and
 * more after a '-'; lowercase hex; trace id and span id not all zeros. */
int trace_valid(const char *tp, size_t len);

/* Writes a new sampled traceparent (random trace and span ids) into out. */
void trace_new(char out[TRACE_PARENT_LEN + 1]);

/* Writes into out the traceparent of a new span in parent's trace (parent:
 * parent_len bytes, need not be NUL-terminated; NULL for none), or of a new
 * trace when parent is missing or not valid. Returns 1 when the parent was
 * continued, 0 when a new trace began. */
int trace_child(const char *parent, size_t parent_len, char out[TRACE_PARENT_LEN + 1]);

#endif
