/* backoff: how long to wait before retrying a transient failure. */
#ifndef ORDERFLEET_BACKOFF_H
#define ORDERFLEET_BACKOFF_H

#include <stdint.h>

/* Exponential backoff with "equal jitter": the ceiling doubles with each
 * attempt from base_ms up to cap_ms, and the wait is drawn uniformly from
 * [ceiling/2, ceiling] using random01 in [0, 1). Half the ceiling is always
 * waited, so retries never stampede back at once, and the random half spreads
 * workers that failed together. attempt is the attempt that just failed,
 * counting from 1. */
int64_t backoff_delay_ms(int64_t base_ms, int64_t cap_ms, unsigned attempt, double random01);

#endif
