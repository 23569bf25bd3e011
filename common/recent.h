/* recent: a bounded map of recent entries, byte-string key -> byte value,
 * that forgets the oldest entry first when it is full.
 *
 * The gateway keeps two of them: its view of recent orders (order id ->
 * "accepted", or the outcome's JSON once the reply came) for GET and for
 * late duplicates, and the Idempotency-Key map (key -> body hash and order
 * id) that lets a retried POST join the first one. Both must stay bounded
 * however many requests arrive, and both only need the recent past: an entry
 * old enough to have been forgotten is answered as unknown.
 *
 * Two bounds hold after every call: at most capacity entries, and (when
 * max_bytes is not 0) at most max_bytes bytes of keys plus values. A put that
 * would break either forgets the oldest entries, in insertion order, until
 * both hold again. Replacing a key's value makes that entry the newest; a get
 * does not (this is first-in-first-out, not LRU: reads are free of writes and
 * an entry's lifetime does not depend on how popular it is).
 *
 * Structure: entries sit on a doubly linked list in insertion order (oldest
 * at the head, so eviction is O(1)) and in an open-addressing hash table
 * (linear probing, backward-shift deletion, so no tombstones pile up under
 * constant churn) for O(1) average lookup. The table has a power-of-two size
 * of at least 2 * capacity and is allocated once at creation, 8 bytes per
 * slot: 16 to 32 bytes per unit of capacity, reserved up front even while
 * the map is empty. Each entry is one malloc holding its key and value plus
 * about 40 bytes of bookkeeping; max_bytes counts keys and values only, not
 * that overhead. Keys are hashed with SipHash-1-3 under a random per-instance
 * key, so keys chosen by clients (order ids, Idempotency-Keys) cannot be made
 * to collide into long probe runs.
 *
 * Ownership: the map copies every key and value it is given; the caller keeps
 * its own buffers. recent_get() lends a pointer into the map, valid until the
 * next put, del or free on the same map.
 *
 * Not thread-safe: the owner serialises every call (the gateway's event loop
 * owns both maps). */
#ifndef ORDERFLEET_RECENT_H
#define ORDERFLEET_RECENT_H

#include <stddef.h>
#include <stdint.h>

#define RECENT_OK 0
#define RECENT_ERR -1       /* bad argument, or one entry alone exceeds the byte budget */
#define RECENT_NOMEM -2     /* out of memory: nothing changed */
#define RECENT_NOT_FOUND -3 /* no entry with that key */

#define RECENT_MAX_CAPACITY (1u << 24)
#define RECENT_MAX_KEY_LEN 65535u

typedef struct recent recent_t;

/* Creates an empty map for up to capacity entries (1..RECENT_MAX_CAPACITY)
 * and, when max_bytes is not 0, at most max_bytes bytes of keys plus values.
 * Allocates the hash table now (see above). Returns NULL when capacity is out
 * of range or memory is short. The caller frees it with recent_free(). */
recent_t *recent_new(size_t capacity, size_t max_bytes);

/* Frees the map and every entry in it. NULL is fine. */
void recent_free(recent_t *r);

/* Stores a copy of value (vlen bytes, may be 0 and then value may be NULL)
 * under a copy of key (klen bytes, 1..RECENT_MAX_KEY_LEN; any bytes, NUL
 * included). An existing entry of that key is replaced and becomes the newest.
 * Then the oldest entries are forgotten until both bounds hold; the new entry
 * itself never is. value may point into this map (a recent_get() result).
 * O(1) amortised (plus copying the bytes). Returns RECENT_OK; RECENT_ERR when
 * r or key is NULL, klen is out of range, value is NULL with vlen > 0, or
 * klen + vlen alone exceeds max_bytes; RECENT_NOMEM when memory is short. On
 * any error nothing changes: an old value of that key is kept. */
int recent_put(recent_t *r, const void *key, size_t klen, const void *value, size_t vlen);

/* Finds key and lends its value: *value points into the map, valid until the
 * next put, del or free on r, with *vlen bytes (never NULL, even for an empty
 * value). Does not change the order: a read does not make an entry newer.
 * value and vlen may be NULL (a membership test). O(1) average. Returns
 * RECENT_OK, or RECENT_NOT_FOUND leaving *value and *vlen untouched. */
int recent_get(const recent_t *r, const void *key, size_t klen, const void **value,
               size_t *vlen);

/* Removes key's entry and frees it. O(1) average. Does not count as an
 * eviction. Returns RECENT_OK or RECENT_NOT_FOUND. */
int recent_del(recent_t *r, const void *key, size_t klen);

/* How many entries are held. O(1). */
size_t recent_count(const recent_t *r);

/* How many bytes of keys plus values are held. O(1). */
size_t recent_bytes(const recent_t *r);

/* How many entries were forgotten to keep the bounds since creation (not
 * replaced or deleted ones): for a gateway's metrics. */
uint64_t recent_evicted(const recent_t *r);

/* Verifies every internal invariant: the list's links and length, the count
 * and byte totals, both bounds, each entry's cached hash, every entry
 * reachable in the table from its home slot with no gap, no key twice, and no
 * table slot outside the list. O(n + table size): for tests and debugging.
 * Returns RECENT_OK or RECENT_ERR. */
int recent_check(const recent_t *r);

/* FNV-1a 64 of len bytes (offset basis 0xcbf29ce484222325, prime
 * 0x100000001b3): stable across runs, builds and machines, so a retried
 * request's body can be compared with the first one's by hash. Fast and well
 * spread, but not collision-resistant: a client can craft two bodies with the
 * same hash, which only lets it confuse its own retries. Not for the table
 * (that hash is keyed, see above). data may be NULL when len is 0. */
uint64_t recent_hash64(const void *data, size_t len);

#endif
