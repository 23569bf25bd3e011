/* pending: the requests waiting for a reply, by correlation id, with deadlines.
 *
 * Two structures over one array of entries, kept consistent on every change:
 *
 *   - an open-addressing hash table (linear probing, backward-shift deletion,
 *     so no tombstones pile up under constant add/take) from the 16-byte
 *     correlation id to the entry: a reply finds its waiter in O(1) average;
 *   - a binary min-heap on (deadline, insertion order), each entry storing its
 *     heap position: the next deadline is O(1), adding or removing O(log n),
 *     and expiring k entries O(k log n) without scanning the others.
 *
 * Capacity is fixed at creation and all memory is allocated then (about
 * 64 bytes per entry), so a full gateway answers "busy" instead of growing.
 * The table hashes with a per-instance random seed, so ids chosen by others
 * (replies read from a shared topic) cannot be made to collide.
 *
 * Deadlines are any int64 >= 0 on one clock the owner picks (time_mono_ms()
 * for a gateway). The waiter pointer is the owner's: pending never frees or
 * dereferences it.
 *
 * Not thread-safe: the owner serialises every call (the gateway's event
 * loop owns it). Callbacks may call back into the same instance. */
#ifndef ORDERFLEET_PENDING_H
#define ORDERFLEET_PENDING_H

#include <stddef.h>
#include <stdint.h>

#define PENDING_OK 0
#define PENDING_ERR -1       /* bad argument: a negative deadline */
#define PENDING_FULL -2      /* capacity entries are waiting already */
#define PENDING_DUPLICATE -3 /* that correlation id is waiting already */
#define PENDING_NOT_FOUND -4 /* no entry with that correlation id */

#define PENDING_ID_LEN 16
#define PENDING_MAX_CAPACITY (1u << 24)

typedef struct pending pending_t;

/* Reports one removed entry: it is no longer in the set when this is called. */
typedef void pending_cb(const uint8_t id[PENDING_ID_LEN], int64_t deadline_ms, void *waiter,
                        void *ctx);

/* Creates an empty set for up to capacity entries (1..PENDING_MAX_CAPACITY).
 * Returns NULL when capacity is out of range or memory is short. The caller
 * frees it with pending_free(). */
pending_t *pending_new(size_t capacity);

/* Frees the set. Waiters still in it are not reported: pending_drain() first
 * when they need answering. NULL is fine. */
void pending_free(pending_t *p);

/* Adds a waiter for id with its deadline. O(log n). Returns PENDING_OK,
 * PENDING_DUPLICATE when id is already waiting (nothing changes),
 * PENDING_FULL at capacity, PENDING_ERR when deadline_ms < 0. */
int pending_add(pending_t *p, const uint8_t id[PENDING_ID_LEN], int64_t deadline_ms,
                void *waiter);

/* Removes the entry for id, for its reply, and stores its waiter in *waiter
 * (waiter may be NULL). O(1) average lookup, O(log n) removal. Returns
 * PENDING_OK, or PENDING_NOT_FOUND (a late reply, or one for someone else)
 * leaving *waiter untouched. */
int pending_take(pending_t *p, const uint8_t id[PENDING_ID_LEN], void **waiter);

/* The earliest deadline waiting, or -1 when empty: how long the owner's poll
 * may sleep. O(1). */
int64_t pending_next_deadline(const pending_t *p);

/* Removes every entry whose deadline is <= now_ms and calls cb (may be NULL)
 * for each, earliest deadline first (ties in the order they were added).
 * Each entry is removed before its callback runs; entries the callback adds
 * with a deadline <= now_ms are expired by this same call. Returns how many
 * were expired. O(k log n) for k expired. */
size_t pending_expire(pending_t *p, int64_t now_ms, pending_cb *cb, void *ctx);

/* Removes every entry, calling cb (may be NULL) for each in deadline order:
 * shutdown, when every waiter must be answered. A callback that adds entries
 * gets them drained too. Returns how many were removed. */
size_t pending_drain(pending_t *p, pending_cb *cb, void *ctx);

/* How many entries are waiting. O(1). */
size_t pending_count(const pending_t *p);

/* The capacity given to pending_new(). */
size_t pending_capacity(const pending_t *p);

/* Verifies every internal invariant: the heap order, each entry's stored
 * heap position, every entry reachable in the table from its home slot with
 * no gap, no id twice, and the free list. O(n + table size): for tests and
 * debugging. Returns PENDING_OK or PENDING_ERR. */
int pending_check(const pending_t *p);

#endif
