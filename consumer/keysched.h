/* keysched: per-key ordering of the worker's work (DESIGN.md §5).
 *
 * Work items are pushed in the order they are consumed. Items of one key are
 * released one at a time, in the order they were pushed: the next one only
 * when the one before it is done. Items of different keys are independent.
 * So a worker can run hundreds of orders at once while two records of the
 * same order id (a redelivery, a duplicate) are never handled concurrently
 * or out of order.
 *
 * The scheduler is intrusive: each item embeds a keysched_item, which points
 * at the item's key bytes (borrowed: the key must stay valid and unchanged
 * while the item is in the scheduler, i.e. until keysched_done() returns for
 * it). Nothing is copied and a push allocates only when a key is first seen
 * (one entry per key with work, freed when its last item is done).
 *
 * Structure: an open-addressing hash table (linear probing, backward-shift
 * deletion) of the keys that have an item running, each with a FIFO of the
 * items waiting behind it. Keys are hashed with SipHash-1-3 under a random
 * per-instance key, since they come from whoever produces orders. The table
 * grows (doubling) at 50% load and never shrinks.
 *
 * Not thread-safe: the engine's main thread owns it. */
#ifndef ORDERFLEET_KEYSCHED_H
#define ORDERFLEET_KEYSCHED_H

#include <stddef.h>
#include <stdint.h>

#define KEYSCHED_READY 1   /* the key was idle: the item runs now */
#define KEYSCHED_QUEUED 0  /* the key is busy: the item waits its turn */
#define KEYSCHED_NOMEM -1  /* out of memory: nothing changed */

typedef struct keysched keysched;

/* Embedded in each work item. Set key and keylen before keysched_push();
 * the rest is the scheduler's. */
typedef struct keysched_item {
    const void *key; /* borrowed; NULL with keylen 0 is the empty key */
    size_t keylen;
    struct keysched_item *next; /* scheduler's: the FIFO behind a running item */
} keysched_item;

/* Creates an empty scheduler. Returns NULL when memory is short. The caller
 * frees it with keysched_free(). */
keysched *keysched_new(void);

/* Frees the scheduler. Items still in it are not touched (they are the
 * caller's). NULL is fine. */
void keysched_free(keysched *ks);

/* Adds item for its key. Returns KEYSCHED_READY when no item of that key is
 * running or waiting (the caller runs item now and later calls
 * keysched_done() for it), KEYSCHED_QUEUED when it waits behind them (it
 * will be handed back by keysched_done() in its turn), or KEYSCHED_NOMEM.
 * O(1) average. */
int keysched_push(keysched *ks, keysched_item *item);

/* Marks the running item of its key done and returns the next item of that
 * key, which is running from now on, or NULL when none waits (the key is
 * idle and forgotten). item must be the one running for its key. O(1)
 * average. */
keysched_item *keysched_done(keysched *ks, keysched_item *item);

/* Keys with an item running. */
size_t keysched_running(const keysched *ks);

/* Items waiting behind a running item of the same key. */
size_t keysched_waiting(const keysched *ks);

#endif
