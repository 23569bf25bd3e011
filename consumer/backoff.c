#include "consumer/backoff.h"

int64_t backoff_delay_ms(int64_t base_ms, int64_t cap_ms, unsigned attempt, double random01) {
    int64_t ceiling = base_ms;
    for (unsigned i = 1; i < attempt && ceiling < cap_ms; i++) ceiling *= 2;
    if (ceiling > cap_ms) ceiling = cap_ms;
    int64_t half = ceiling / 2;
    int64_t delay = half + (int64_t)(random01 * (double)(ceiling - half + 1));
    return delay > ceiling ? ceiling : delay;
}
