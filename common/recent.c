#include "common/recent.h"

#include <stdlib.h>
#include <string.h>

#include "common/siphash.h"

typedef struct entry {
    struct entry *older, *newer; /* insertion order; NULL at either end */
    uint64_t hash;               /* key_hash() of the key: cheap rejects, rehash-free shifts */
    size_t vlen;
    uint32_t klen;
    unsigned char data[]; /* klen key bytes, then vlen value bytes */
} entry;

struct recent {
    entry **slots;      /* hash table, NULL when empty */
    size_t mask;        /* table size - 1; the size is a power of two >= 2 * cap */
    entry *oldest;      /* list head: the next to be evicted */
    entry *newest;      /* list tail */
    size_t cap;
    size_t max_bytes;   /* 0: no byte bound */
    size_t count;
    size_t bytes;       /* keys + values held */
    uint64_t evicted;
    uint64_t seed[2];   /* SipHash key, random per instance */
};

static uint64_t key_hash(const recent_t *r, const void *key, size_t klen) {
    return siphash13(r->seed, key, klen);
}

/* ---- the table ---- */

/* The slot holding key, or the empty slot that ends its probe run when it
 * is absent (where a put would go). The table is at most half full between
 * calls and one over capacity inside a put, so an empty slot always ends the
 * probe. O(1) average. */
static size_t probe(const recent_t *r, const void *key, size_t klen, uint64_t h) {
    for (size_t i = (size_t)h & r->mask;; i = (i + 1) & r->mask) {
        const entry *e = r->slots[i];
        if (!e || (e->hash == h && e->klen == klen && memcmp(e->data, key, klen) == 0))
            return i;
    }
}

/* Empties slot i and shifts later entries of the same probe run back into
 * the hole when the hole lies on their probe path, so lookups never need
 * tombstones. */
static void slot_delete(recent_t *r, size_t i) {
    size_t j = i;
    for (;;) {
        j = (j + 1) & r->mask;
        entry *e = r->slots[j];
        if (!e) break;
        size_t k = (size_t)e->hash & r->mask;
        /* e probed k, k+1, ..., j: it may move to i when i is on that path */
        if (((i - k) & r->mask) < ((j - k) & r->mask)) {
            r->slots[i] = e;
            i = j;
        }
    }
    r->slots[i] = NULL;
}

/* ---- the list ---- */

static void list_unlink(recent_t *r, entry *e) {
    if (e->older)
        e->older->newer = e->newer;
    else
        r->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        r->newest = e->older;
}

static void list_push_newest(recent_t *r, entry *e) {
    e->older = r->newest;
    e->newer = NULL;
    if (r->newest)
        r->newest->newer = e;
    else
        r->oldest = e;
    r->newest = e;
}

/* Removes entry e, found at table slot, from both structures and frees it. */
static void entry_remove(recent_t *r, size_t slot, entry *e) {
    slot_delete(r, slot);
    list_unlink(r, e);
    r->count--;
    r->bytes -= e->klen + e->vlen;
    free(e);
}

/* ---- the API ---- */

recent_t *recent_new(size_t capacity, size_t max_bytes) {
    if (capacity == 0 || capacity > RECENT_MAX_CAPACITY) return NULL;
    recent_t *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->cap = capacity;
    r->max_bytes = max_bytes;
    size_t size = 8;
    while (size < 2 * capacity) size *= 2;
    r->mask = size - 1;
    /* calloc: all-bits-zero is NULL on POSIX, and a large table's pages stay
     * untouched until used */
    if (!(r->slots = calloc(size, sizeof(*r->slots)))) goto err;
    siphash_key_random(r->seed);
    return r;
err:
    recent_free(r);
    return NULL;
}

void recent_free(recent_t *r) {
    if (!r) return;
    for (entry *e = r->oldest, *next; e; e = next) {
        next = e->newer;
        free(e);
    }
    free(r->slots);
    free(r);
}

/* The new entry is built completely before the map is touched, so a failed
 * malloc changes nothing and value may alias the entry being replaced. Then
 * it takes its key's slot (or the empty slot ending the probe), goes to the
 * newest end, and the oldest entries go until both bounds hold: at most one
 * for the count, any number for the bytes. The new entry is never among them:
 * it fits the byte budget alone, and count > cap >= 1 means older entries
 * exist. */
int recent_put(recent_t *r, const void *key, size_t klen, const void *value, size_t vlen) {
    if (!r || !key || klen == 0 || klen > RECENT_MAX_KEY_LEN || (!value && vlen > 0))
        return RECENT_ERR;
    if (vlen > SIZE_MAX - sizeof(entry) - klen) return RECENT_ERR;
    if (r->max_bytes && klen + vlen > r->max_bytes) return RECENT_ERR;

    entry *n = malloc(sizeof(*n) + klen + vlen);
    if (!n) return RECENT_NOMEM;
    n->klen = (uint32_t)klen;
    n->vlen = vlen;
    n->hash = key_hash(r, key, klen);
    memcpy(n->data, key, klen);
    if (vlen) memcpy(n->data + klen, value, vlen);

    size_t i = probe(r, key, klen, n->hash);
    entry *old = r->slots[i];
    r->slots[i] = n;
    if (old) {
        list_unlink(r, old);
        r->bytes -= old->klen + old->vlen;
        free(old);
    } else {
        r->count++;
    }
    list_push_newest(r, n);
    r->bytes += klen + vlen;

    while (r->count > r->cap || (r->max_bytes && r->bytes > r->max_bytes)) {
        entry *e = r->oldest;
        entry_remove(r, probe(r, e->data, e->klen, e->hash), e);
        r->evicted++;
    }
    return RECENT_OK;
}

int recent_get(const recent_t *r, const void *key, size_t klen, const void **value,
               size_t *vlen) {
    if (!key || klen == 0 || klen > RECENT_MAX_KEY_LEN) return RECENT_NOT_FOUND;
    const entry *e = r->slots[probe(r, key, klen, key_hash(r, key, klen))];
    if (!e) return RECENT_NOT_FOUND;
    if (value) *value = e->data + e->klen;
    if (vlen) *vlen = e->vlen;
    return RECENT_OK;
}

int recent_del(recent_t *r, const void *key, size_t klen) {
    if (!key || klen == 0 || klen > RECENT_MAX_KEY_LEN) return RECENT_NOT_FOUND;
    size_t i = probe(r, key, klen, key_hash(r, key, klen));
    entry *e = r->slots[i];
    if (!e) return RECENT_NOT_FOUND;
    entry_remove(r, i, e);
    return RECENT_OK;
}

size_t recent_count(const recent_t *r) { return r->count; }

size_t recent_bytes(const recent_t *r) { return r->bytes; }

uint64_t recent_evicted(const recent_t *r) { return r->evicted; }

/* Walks the list (bounded by count, so a cycle fails instead of hanging) and
 * finds each entry through the table: the probe from its home slot must
 * reach it with no gap and no equal key before it. Then the table must hold
 * exactly count entries, so it holds nothing outside the list. */
int recent_check(const recent_t *r) {
    if (!r || !r->slots) return RECENT_ERR;
    size_t n = 0, bytes = 0;
    const entry *prev = NULL;
    for (const entry *e = r->oldest; e; prev = e, e = e->newer) {
        if (++n > r->count || e->older != prev) return RECENT_ERR;
        if (e->klen == 0 || e->klen > RECENT_MAX_KEY_LEN) return RECENT_ERR;
        if (e->hash != key_hash(r, e->data, e->klen)) return RECENT_ERR;
        if (r->slots[probe(r, e->data, e->klen, e->hash)] != e) return RECENT_ERR;
        bytes += e->klen + e->vlen;
    }
    if (prev != r->newest || n != r->count || bytes != r->bytes) return RECENT_ERR;
    if (n > r->cap || (r->max_bytes && bytes > r->max_bytes)) return RECENT_ERR;
    size_t used = 0;
    for (size_t j = 0; j <= r->mask; j++) used += r->slots[j] != NULL;
    return used == n ? RECENT_OK : RECENT_ERR;
}

uint64_t recent_hash64(const void *data, size_t len) {
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
