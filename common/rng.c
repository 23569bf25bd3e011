#include "common/rng.h"

#include "common/ids.h"

void rng_seed_random(rng *r) { id_random_bytes(&r->state, sizeof(r->state)); }

uint64_t rng_mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t rng_next(rng *r) { return rng_mix64(r->state += 0x9e3779b97f4a7c15ULL); }

double rng_unit(rng *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

uint32_t rng_below(rng *r, uint32_t n) {
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}
