/* siphash: SipHash-1-3, the keyed hash of the project's hash tables.
 *
 * SipHash (Aumasson & Bernstein) with 1 compression round and 3 finalisation
 * rounds, the variant Redis and Rust's HashMap use for tables: fast on short
 * keys, and without the 128-bit key nobody can predict which inputs collide,
 * so keys chosen by outsiders (order ids, Idempotency-Keys) cannot be made to
 * pile into one probe run. Not a MAC: 1-3 is for tables only.
 *
 * Each table draws its own random key with siphash_key_random(). */
#ifndef ORDERFLEET_SIPHASH_H
#define ORDERFLEET_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* The 64-bit SipHash-1-3 of len bytes at data under key. key[0] and key[1]
 * are the key's two halves as little-endian words (k0 = bytes 0..7, k1 =
 * bytes 8..15 of the reference implementation's byte key). The result is
 * the same on every host. data may be NULL when len is 0. O(len). */
uint64_t siphash13(const uint64_t key[2], const void *data, size_t len);

/* Fills key with 128 bits from the kernel's CSPRNG (getrandom). */
void siphash_key_random(uint64_t key[2]);

#endif
