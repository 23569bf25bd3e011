#include "consumer/offsets.h"

#include <stdlib.h>
#include <string.h>

void offtrack_init(offtrack *t) {
    memset(t, 0, sizeof(*t));
    t->next = -1;
}

void offtrack_free(offtrack *t) {
    free(t->offsets);
    free(t->done);
    offtrack_init(t);
}

#define AT(t, i) (((t)->head + (i)) % (t)->cap)

/* Doubles the ring, unrolling it so that head is 0 again. */
static int offtrack_grow(offtrack *t) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    int64_t *offsets = malloc(cap * sizeof(*offsets));
    unsigned char *done = malloc(cap);
    if (!offsets || !done) {
        free(offsets);
        free(done);
        return OFFTRACK_NOMEM;
    }
    for (size_t i = 0; i < t->count; i++) {
        offsets[i] = t->offsets[AT(t, i)];
        done[i] = t->done[AT(t, i)];
    }
    free(t->offsets);
    free(t->done);
    t->offsets = offsets;
    t->done = done;
    t->cap = cap;
    t->head = 0;
    return OFFTRACK_OK;
}

int offtrack_add(offtrack *t, int64_t offset) {
    if (offset < 0 || (t->next >= 0 && offset < t->next)) return OFFTRACK_ERR;
    if (t->count == t->cap && offtrack_grow(t) != OFFTRACK_OK) return OFFTRACK_NOMEM;
    size_t slot = AT(t, t->count);
    t->offsets[slot] = offset;
    t->done[slot] = 0;
    t->count++;
    t->undone++;
    t->next = offset + 1;
    return OFFTRACK_OK;
}

int offtrack_done(offtrack *t, int64_t offset) {
    size_t lo = 0, hi = t->count;
    while (lo < hi) { /* first index whose offset >= offset */
        size_t mid = lo + (hi - lo) / 2;
        if (t->offsets[AT(t, mid)] < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == t->count || t->offsets[AT(t, lo)] != offset || t->done[AT(t, lo)])
        return OFFTRACK_ERR;
    t->done[AT(t, lo)] = 1;
    t->undone--;
    while (t->count > 0 && t->done[t->head]) {
        t->head = (t->head + 1) % t->cap;
        t->count--;
    }
    return OFFTRACK_OK;
}

int64_t offtrack_committable(const offtrack *t) {
    if (t->count > 0) return t->offsets[t->head];
    return t->next;
}

size_t offtrack_pending(const offtrack *t) { return t->undone; }
