#include "common/pending.h"

#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/rng.h"

#define NONE UINT32_MAX /* an empty table slot, the end of the free list */

typedef struct entry {
    uint8_t id[PENDING_ID_LEN];
    int64_t deadline;
    uint64_t seq;  /* insertion order: breaks deadline ties, so order is deterministic */
    void *waiter;
    uint32_t heap; /* position in p->heap while in use; next free entry while not */
} entry;

struct pending {
    entry *entries;     /* cap entries, in use or on the free list */
    uint32_t cap;
    uint32_t count;     /* entries in use == heap length */
    uint32_t free_head; /* first unused entry, NONE when full */
    uint32_t *slots;    /* hash table of entry indices, NONE when empty */
    uint32_t mask;      /* table size - 1; the size is a power of two >= 2 * cap */
    uint32_t *heap;     /* min-heap of entry indices on (deadline, seq) */
    uint64_t next_seq;
    uint64_t seed[2];   /* hash key, random per instance */
};

/* The home slot of an id. Correlation ids are normally random already; the
 * secret seed keeps the spread even when they are not. */
static uint32_t home_slot(const pending_t *p, const uint8_t id[PENDING_ID_LEN]) {
    uint64_t a, b;
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    return (uint32_t)rng_mix64(rng_mix64(a ^ p->seed[0]) ^ b ^ p->seed[1]) & p->mask;
}

/* The table slot holding id, or NONE. The table is at most half full, so
 * an empty slot always ends the probe. */
static uint32_t find_slot(const pending_t *p, const uint8_t id[PENDING_ID_LEN]) {
    for (uint32_t i = home_slot(p, id);; i = (i + 1) & p->mask) {
        uint32_t e = p->slots[i];
        if (e == NONE) return NONE;
        if (memcmp(p->entries[e].id, id, PENDING_ID_LEN) == 0) return i;
    }
}

/* Empties slot i and shifts later entries of the same probe run back into
 * the hole when the hole lies on their probe path, so lookups never need
 * tombstones. */
static void slot_delete(pending_t *p, uint32_t i) {
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & p->mask;
        uint32_t e = p->slots[j];
        if (e == NONE) break;
        uint32_t k = home_slot(p, p->entries[e].id);
        /* e probed k, k+1, ..., j: it may move to i when i is on that path */
        if (((i - k) & p->mask) < ((j - k) & p->mask)) {
            p->slots[i] = e;
            i = j;
        }
    }
    p->slots[i] = NONE;
}

static int heap_less(const pending_t *p, uint32_t a, uint32_t b) {
    const entry *ea = &p->entries[a], *eb = &p->entries[b];
    return ea->deadline < eb->deadline || (ea->deadline == eb->deadline && ea->seq < eb->seq);
}

static void heap_set(pending_t *p, uint32_t pos, uint32_t e) {
    p->heap[pos] = e;
    p->entries[e].heap = pos;
}

static void sift_up(pending_t *p, uint32_t pos) {
    uint32_t e = p->heap[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!heap_less(p, e, p->heap[parent])) break;
        heap_set(p, pos, p->heap[parent]);
        pos = parent;
    }
    heap_set(p, pos, e);
}

static void sift_down(pending_t *p, uint32_t pos) {
    uint32_t e = p->heap[pos];
    for (;;) {
        uint32_t child = 2 * pos + 1;
        if (child >= p->count) break;
        if (child + 1 < p->count && heap_less(p, p->heap[child + 1], p->heap[child])) child++;
        if (!heap_less(p, p->heap[child], e)) break;
        heap_set(p, pos, p->heap[child]);
        pos = child;
    }
    heap_set(p, pos, e);
}

/* Removes entry e, found at table slot, from both structures and returns it
 * to the free list. O(log n). */
static void entry_remove(pending_t *p, uint32_t slot, uint32_t e) {
    slot_delete(p, slot);
    uint32_t pos = p->entries[e].heap;
    uint32_t last = p->heap[--p->count];
    if (pos != p->count) {
        heap_set(p, pos, last);
        sift_down(p, pos);
        sift_up(p, p->entries[last].heap);
    }
    p->entries[e].waiter = NULL;
    p->entries[e].heap = p->free_head;
    p->free_head = e;
}

pending_t *pending_new(size_t capacity) {
    if (capacity == 0 || capacity > PENDING_MAX_CAPACITY) return NULL;
    pending_t *p = calloc(1, sizeof(*p));
    if (!p) return NULL;
    p->cap = (uint32_t)capacity;
    uint32_t size = 8;
    while (size < 2 * p->cap) size *= 2;
    p->mask = size - 1;
    if (!(p->entries = calloc(p->cap, sizeof(*p->entries)))) goto err;
    if (!(p->heap = calloc(p->cap, sizeof(*p->heap)))) goto err;
    if (!(p->slots = malloc(size * sizeof(*p->slots)))) goto err;
    for (uint32_t i = 0; i < size; i++) p->slots[i] = NONE;
    for (uint32_t e = 0; e < p->cap; e++) p->entries[e].heap = e + 1 < p->cap ? e + 1 : NONE;
    p->free_head = 0;
    id_random_bytes(p->seed, sizeof(p->seed));
    return p;
err:
    pending_free(p);
    return NULL;
}

void pending_free(pending_t *p) {
    if (!p) return;
    free(p->entries);
    free(p->heap);
    free(p->slots);
    free(p);
}

int pending_add(pending_t *p, const uint8_t id[PENDING_ID_LEN], int64_t deadline_ms,
                void *waiter) {
    if (deadline_ms < 0) return PENDING_ERR;
    uint32_t i = home_slot(p, id);
    for (; p->slots[i] != NONE; i = (i + 1) & p->mask)
        if (memcmp(p->entries[p->slots[i]].id, id, PENDING_ID_LEN) == 0)
            return PENDING_DUPLICATE;
    if (p->free_head == NONE) return PENDING_FULL;

    uint32_t e = p->free_head;
    entry *en = &p->entries[e];
    p->free_head = en->heap;
    memcpy(en->id, id, PENDING_ID_LEN);
    en->deadline = deadline_ms;
    en->seq = p->next_seq++;
    en->waiter = waiter;
    p->slots[i] = e;
    heap_set(p, p->count++, e);
    sift_up(p, p->count - 1);
    return PENDING_OK;
}

int pending_take(pending_t *p, const uint8_t id[PENDING_ID_LEN], void **waiter) {
    uint32_t slot = find_slot(p, id);
    if (slot == NONE) return PENDING_NOT_FOUND;
    uint32_t e = p->slots[slot];
    if (waiter) *waiter = p->entries[e].waiter;
    entry_remove(p, slot, e);
    return PENDING_OK;
}

int64_t pending_next_deadline(const pending_t *p) {
    return p->count ? p->entries[p->heap[0]].deadline : -1;
}

/* Removes the earliest entry and reports it. The entry is copied out first:
 * once removed its storage may be reused by the callback's own adds. */
static void pop_first(pending_t *p, pending_cb *cb, void *ctx) {
    uint32_t e = p->heap[0];
    entry copy = p->entries[e];
    entry_remove(p, find_slot(p, copy.id), e);
    if (cb) cb(copy.id, copy.deadline, copy.waiter, ctx);
}

size_t pending_expire(pending_t *p, int64_t now_ms, pending_cb *cb, void *ctx) {
    size_t n = 0;
    for (; p->count && p->entries[p->heap[0]].deadline <= now_ms; n++) pop_first(p, cb, ctx);
    return n;
}

size_t pending_drain(pending_t *p, pending_cb *cb, void *ctx) {
    size_t n = 0;
    for (; p->count; n++) pop_first(p, cb, ctx);
    return n;
}

size_t pending_count(const pending_t *p) { return p->count; }

size_t pending_capacity(const pending_t *p) { return p->cap; }

int pending_check(const pending_t *p) {
    if (p->count > p->cap) return PENDING_ERR;
    for (uint32_t pos = 0; pos < p->count; pos++) {
        uint32_t e = p->heap[pos];
        if (e >= p->cap || p->entries[e].heap != pos) return PENDING_ERR;
        if (pos > 0 && heap_less(p, e, p->heap[(pos - 1) / 2])) return PENDING_ERR;
    }
    uint32_t used = 0;
    for (uint32_t j = 0; j <= p->mask; j++) {
        uint32_t e = p->slots[j];
        if (e == NONE) continue;
        used++;
        if (e >= p->cap) return PENDING_ERR;
        uint32_t pos = p->entries[e].heap;
        if (pos >= p->count || p->heap[pos] != e) return PENDING_ERR; /* not in use */
        /* no hole between its home and j, and the first match is this slot */
        for (uint32_t i = home_slot(p, p->entries[e].id); i != j; i = (i + 1) & p->mask) {
            if (p->slots[i] == NONE) return PENDING_ERR;
            if (memcmp(p->entries[p->slots[i]].id, p->entries[e].id, PENDING_ID_LEN) == 0)
                return PENDING_ERR;
        }
    }
    if (used != p->count) return PENDING_ERR;
    uint32_t free_n = 0;
    for (uint32_t e = p->free_head; e != NONE; e = p->entries[e].heap)
        if (e >= p->cap || ++free_n > p->cap - p->count) return PENDING_ERR;
    return free_n == p->cap - p->count ? PENDING_OK : PENDING_ERR;
}
