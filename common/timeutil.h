/* timeutil: wall-clock and monotonic milliseconds, RFC 3339 timestamps. */
#ifndef ORDERFLEET_TIMEUTIL_H
#define ORDERFLEET_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the Unix epoch (CLOCK_REALTIME): what goes on the wire. */
int64_t time_now_ms(void);

/* Milliseconds on CLOCK_MONOTONIC: for deadlines and intervals, never on the
 * wire, immune to the wall clock being stepped. */
int64_t time_mono_ms(void);

/* Microseconds on CLOCK_MONOTONIC: for latencies. */
int64_t time_mono_us(void);

/* Formats ms-since-epoch as RFC 3339 in UTC with milliseconds,
 * "2026-11-29T22:52:37.123Z", into buf (at least TIME_RFC3339_LEN + 1 bytes).
 * Returns buf. */
#define TIME_RFC3339_LEN 24
char *time_rfc3339(int64_t ms, char *buf, size_t size);

/* Sleeps for ms milliseconds, resuming after signals until the time is up
 * unless *stop becomes non-zero (stop may be NULL). */
void time_sleep_ms(int64_t ms, volatile const int *stop);

#endif
