#include "consumer/keysched.h"

#include <stdlib.h>
#include <string.h>

#include "common/siphash.h"

/* One key with work. The slot is the entry: the table holds entries by value
 * (no allocation per key, and a probe reads one cache line per slot). The
 * running item heads a singly linked FIFO through its next: head is running,
 * head->next is the first waiting, tail the last pushed. The key bytes are
 * read from head, so when head is done and its successor runs, the entry's key
 * is the successor's own copy of the bytes and head may be freed at once. */
typedef struct slot {
    uint64_t hash;       /* siphash13() of the key: cheap rejects, rehash-free moves */
    keysched_item *head; /* the running item; NULL: the slot is empty */
    keysched_item *tail; /* the last item of the key (head when none waits) */
} slot;

struct keysched {
    slot *slots;
    size_t mask;      /* table size - 1; the size is a power of two */
    size_t running;   /* used slots = keys with an item running */
    size_t waiting;   /* items behind a running item */
    uint64_t seed[2]; /* SipHash key, random per instance */
};

#define KEYSCHED_MIN_SLOTS 16

static uint64_t key_hash(const keysched *ks, const keysched_item *item) {
    return siphash13(ks->seed, item->key, item->keylen);
}

/* Same bytes, same length. The empty key may be NULL: memcmp is not called
 * with it (a NULL argument is undefined even for 0 bytes). */
static int key_equal(const keysched_item *a, const keysched_item *b) {
    return a->keylen == b->keylen && (a->keylen == 0 || memcmp(a->key, b->key, a->keylen) == 0);
}

/* The slot holding item's key, or the empty slot that ends its probe run when
 * the key is absent (where a push puts it). The table is at most half full,
 * so an empty slot always ends the probe. O(1) average. */
static size_t probe(const keysched *ks, const keysched_item *item, uint64_t h) {
    for (size_t i = (size_t)h & ks->mask;; i = (i + 1) & ks->mask) {
        const slot *s = &ks->slots[i];
        if (!s->head || (s->hash == h && key_equal(s->head, item))) return i;
    }
}

/* Empties slot i and shifts later entries of the same probe run back into
 * the hole when the hole lies on their probe path, so lookups never need
 * tombstones. */
static void slot_delete(keysched *ks, size_t i) {
    size_t j = i;
    for (;;) {
        j = (j + 1) & ks->mask;
        slot *s = &ks->slots[j];
        if (!s->head) break;
        size_t k = (size_t)s->hash & ks->mask;
        /* s probed k, k+1, ..., j: it may move to i when i is on that path */
        if (((i - k) & ks->mask) < ((j - k) & ks->mask)) {
            ks->slots[i] = *s;
            i = j;
        }
    }
    ks->slots[i].head = ks->slots[i].tail = NULL;
}

/* Doubles the table and reinserts every entry by its stored hash (no
 * rehashing, no key reads). On failure the old table stays as it was.
 * O(size). */
static int grow(keysched *ks) {
    size_t size = (ks->mask + 1) * 2;
    if (size > SIZE_MAX / sizeof(slot)) return KEYSCHED_NOMEM;
    slot *slots = calloc(size, sizeof(*slots));
    if (!slots) return KEYSCHED_NOMEM;
    for (size_t j = 0; j <= ks->mask; j++) {
        const slot *s = &ks->slots[j];
        if (!s->head) continue;
        size_t i = (size_t)s->hash & (size - 1);
        while (slots[i].head) i = (i + 1) & (size - 1);
        slots[i] = *s;
    }
    free(ks->slots);
    ks->slots = slots;
    ks->mask = size - 1;
    return 0;
}

keysched *keysched_new(void) {
    keysched *ks = calloc(1, sizeof(*ks));
    if (!ks) return NULL;
    /* calloc: all-bits-zero is NULL on POSIX, so every slot starts empty */
    if (!(ks->slots = calloc(KEYSCHED_MIN_SLOTS, sizeof(*ks->slots)))) goto err;
    ks->mask = KEYSCHED_MIN_SLOTS - 1;
    siphash_key_random(ks->seed);
    return ks;
err:
    keysched_free(ks);
    return NULL;
}

void keysched_free(keysched *ks) {
    if (!ks) return;
    free(ks->slots);
    free(ks);
}

/* A busy key: item joins the tail of its FIFO. A new key: the table first
 * grows if this entry would take it past half full (the only allocation,
 * and the only way to fail, which leaves everything as it was), then item
 * becomes the entry's running item. */
int keysched_push(keysched *ks, keysched_item *item) {
    uint64_t h = key_hash(ks, item);
    size_t i = probe(ks, item, h);
    slot *s = &ks->slots[i];
    if (s->head) {
        item->next = NULL;
        s->tail->next = item;
        s->tail = item;
        ks->waiting++;
        return KEYSCHED_QUEUED;
    }
    if (2 * (ks->running + 1) > ks->mask + 1) {
        if (grow(ks) != 0) return KEYSCHED_NOMEM;
        i = probe(ks, item, h);
        s = &ks->slots[i];
    }
    item->next = NULL;
    s->hash = h;
    s->head = s->tail = item;
    ks->running++;
    return KEYSCHED_READY;
}

/* The successor (item->next) becomes the running item and the entry now
 * reads its key from it; with none, the entry goes. item is unlinked
 * (next = NULL) and not touched again, so the caller may free it on return.
 * An item that is not the running one of its key is the caller's bug:
 * nothing changes and NULL is returned. */
keysched_item *keysched_done(keysched *ks, keysched_item *item) {
    size_t i = probe(ks, item, key_hash(ks, item));
    slot *s = &ks->slots[i];
    if (s->head != item) return NULL;
    keysched_item *next = item->next;
    item->next = NULL;
    if (!next) {
        slot_delete(ks, i);
        ks->running--;
        return NULL;
    }
    s->head = next;
    ks->waiting--;
    return next;
}

size_t keysched_running(const keysched *ks) { return ks->running; }

size_t keysched_waiting(const keysched *ks) { return ks->waiting; }
