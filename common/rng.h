/* rng: splitmix64, the project's one pseudo-random generator: tiny, fast,
 * good for any seed (even 0), and private to each owner, unlike rand(). Not
 * for secrets: ids and correlation ids come from getrandom (common/ids.h). */
#ifndef ORDERFLEET_RNG_H
#define ORDERFLEET_RNG_H

#include <stdint.h>

typedef struct rng {
    uint64_t state;
} rng;

/* Seeds r from the kernel's CSPRNG: a different sequence every run. */
void rng_seed_random(rng *r);

/* splitmix64's finaliser: every input bit affects every output bit. For
 * hashing, and the step of rng_next(). */
uint64_t rng_mix64(uint64_t x);

/* The next 64 random bits. */
uint64_t rng_next(rng *r);

/* Uniform in [0, 1), 53 bits. */
double rng_unit(rng *r);

/* Uniform in [0, n), n > 0 (multiply-shift: bias below 2^-32). */
uint32_t rng_below(rng *r, uint32_t n);

#endif
