#include "consumer/offsets.h"

#include <stddef.h>
#include <stdint.h>
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

int64_t offtrack_span(const offtrack *t) {
    if (t->count == 0) return 0;
    return t->next - t->offsets[t->head];
}

/* ---- commit metadata --------------------------------------------------- */

#define OFFDONE_PREFIX_LEN (sizeof(OFFDONE_PREFIX) - 1)

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The most bytes whose base64 without padding fits in chars characters: 3
 * per 4, and 1 or 2 more for a tail of 2 or 3 (a lone trailing character
 * carries no whole byte). */
static size_t b64url_fit(size_t chars) {
    return chars / 4 * 3 + (chars % 4 >= 2 ? chars % 4 - 1 : 0);
}

/* Encodes n (1 to 3) bytes as n + 1 characters (4 for 3) at out, without
 * padding and without a NUL. */
static void b64url_put(const unsigned char *in, size_t n, char *out) {
    uint32_t v = (uint32_t)in[0] << 16;
    if (n > 1) v |= (uint32_t)in[1] << 8;
    if (n > 2) v |= in[2];
    for (size_t k = 0; k <= n; k++) out[k] = b64url_alphabet[(v >> (18 - 6 * k)) & 63];
}

/* The 6-bit value of a base64url character, or -1 for any other byte. */
static int b64url_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

/* Decodes len characters of base64url without padding into out (room for
 * len * 3 / 4 bytes). Returns the number of bytes, or -1 when s is not
 * canonical base64url: a byte outside the alphabet, a length that leaves a
 * lone character, or non-zero unused bits in the last character. */
static ptrdiff_t b64url_decode(const char *s, size_t len, unsigned char *out) {
    if (len % 4 == 1) return -1;
    size_t n = 0;
    uint32_t acc = 0;
    unsigned nacc = 0; /* bits in acc */
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value((unsigned char)s[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (uint32_t)v;
        nacc += 6;
        if (nacc >= 8) {
            nacc -= 8;
            out[n++] = (unsigned char)(acc >> nacc);
            acc &= (1u << nacc) - 1;
        }
    }
    if (acc != 0) return -1; /* leftover bits must be zero padding */
    return (ptrdiff_t)n;
}


/* A metadata bitmap being filled: bit i is offset base + 1 + i. Offsets
 * are marked in ascending order; the first that does not fit sets over. */
typedef struct bitmap {
    unsigned char *bytes;
    uint64_t limit; /* bits that fit */
    int64_t base;
    size_t recorded;
    uint64_t last; /* highest bit set */
    int over;
} bitmap;

static void bitmap_mark(bitmap *bm, int64_t offset) {
    uint64_t bit = (uint64_t)(offset - bm->base - 1);
    if (bit >= bm->limit) {
        bm->over = 1;
        return;
    }
    bm->bytes[bit / 8] |= (unsigned char)(1u << (bit % 8));
    bm->recorded++;
    bm->last = bit;
}

/* The worker of a partition knows two things about what is done: the
 * records it consumed (the tracker), and what the partition's previous owner
 * committed as done beyond its offset (known), for the records this worker
 * has not consumed yet. The commit must carry both, or a third owner would
 * redo what the previous one did (a duplicate, which exactly-once forbids).
 *
 * The offset: the tracker's first record not done; when every record
 * consumed is done, the first offset not yet consumed that known does not
 * say is done. The bitmap: for each offset after it, done by the tracker
 * below t->next (a gap between tracked offsets is not a record: 0), done by
 * known from t->next on. Built in a buffer on the stack (at most
 * OFFDONE_MAX_LEN * 3 / 4 bytes), then written as base64. Cost O(span). */
size_t offtrack_commit_point(const offtrack *t, const offdone *known, int64_t *offset,
                             char *buf, size_t size, size_t max_len, int *truncated) {
    if (truncated) *truncated = 0;
    *offset = -1;
    if (size == 0) return 0;
    buf[0] = '\0';
    if (max_len > size - 1) max_len = size - 1; /* misuse: never write past buf */
    int64_t c = offtrack_committable(t);
    if (c < 0) return 0; /* nothing consumed: nothing to say */
    if (t->count == 0)
        while (known && offdone_contains(known, c)) c++;
    *offset = c;

    size_t room = max_len > OFFDONE_PREFIX_LEN ? max_len - OFFDONE_PREFIX_LEN : 0;
    unsigned char bytes[OFFDONE_MAX_LEN / 4 * 3 + 2];
    size_t cap = b64url_fit(room);
    if (cap > sizeof(bytes)) cap = sizeof(bytes);
    memset(bytes, 0, cap);

    bitmap bm = {bytes, (uint64_t)cap * 8, c, 0, 0, 0};
    /* done offsets the tracker holds after its head */
    for (size_t i = 1; i < t->count && !bm.over; i++)
        if (t->done[AT(t, i)]) bitmap_mark(&bm, t->offsets[AT(t, i)]);
    /* done offsets known from the previous owner, not consumed yet */
    if (known && known->nbits > 0) {
        int64_t from = t->next > c + 1 ? t->next : c + 1;
        int64_t end = known->base + 1 + (int64_t)known->nbits;
        for (int64_t o = from; o < end && !bm.over; o++)
            if (offdone_contains(known, o)) bitmap_mark(&bm, o);
    }
    size_t recorded = bm.recorded;
    uint64_t last = bm.last;
    if (bm.over && truncated) *truncated = 1;
    if (recorded == 0) return 0;

    size_t nbytes = (size_t)(last / 8) + 1;
    memcpy(buf, OFFDONE_PREFIX, OFFDONE_PREFIX_LEN);
    char *out = buf + OFFDONE_PREFIX_LEN;
    for (size_t k = 0; k < nbytes; k += 3) {
        size_t n = nbytes - k < 3 ? nbytes - k : 3;
        b64url_put(bytes + k, n, out);
        out += n + 1;
    }
    *out = '\0';
    return recorded;
}

size_t offtrack_encode_done(const offtrack *t, char *buf, size_t size, size_t max_len,
                            int *truncated) {
    int64_t offset;
    return offtrack_commit_point(t, NULL, &offset, buf, size, max_len, truncated);
}

/* The most offsets past the committed one that OFFDONE_MAX_LEN characters
 * of metadata can record. */
int64_t offdone_capacity(void) {
    return (int64_t)b64url_fit(OFFDONE_MAX_LEN - OFFDONE_PREFIX_LEN) * 8;
}

/* Leaves d reading as nothing done at base committed. */
static void offdone_empty(offdone *d, int64_t committed) {
    d->base = committed;
    d->bits = NULL;
    d->nbits = 0;
}

/* Checks the prefix and the base64, then decodes into a bitmap that d owns
 * (the caller frees it with offdone_free(), also after an error). Whatever
 * is not our canonical format, or would not fit in int64 offsets past
 * committed, reads as nothing done. Cost O(strlen(metadata)). */
int offdone_decode(offdone *d, const char *metadata, int64_t committed) {
    offdone_empty(d, committed);
    if (!metadata || committed < 0 || committed == INT64_MAX) return OFFTRACK_OK;
    if (strncmp(metadata, OFFDONE_PREFIX, OFFDONE_PREFIX_LEN) != 0) return OFFTRACK_OK;
    const char *s = metadata + OFFDONE_PREFIX_LEN;
    size_t len = strlen(s);
    if (len == 0) return OFFTRACK_OK;
    size_t cap = len / 4 * 3 + 2;
    if (cap > SIZE_MAX / 8 || (uint64_t)cap * 8 > (uint64_t)(INT64_MAX - committed - 1))
        return OFFTRACK_OK; /* offsets past INT64_MAX: corrupt */
    unsigned char *bits = malloc(cap);
    if (!bits) return OFFTRACK_NOMEM;
    ptrdiff_t n = b64url_decode(s, len, bits);
    if (n <= 0) {
        free(bits);
        return OFFTRACK_OK;
    }
    d->bits = bits;
    d->nbits = (size_t)n * 8;
    return OFFTRACK_OK;
}

int offdone_contains(const offdone *d, int64_t offset) {
    if (d->nbits == 0 || offset <= d->base) return 0;
    uint64_t i = (uint64_t)(offset - d->base - 1);
    if (i >= d->nbits) return 0;
    return (d->bits[i / 8] >> (i % 8)) & 1;
}

/* Counts the set bits. O(nbits / 8). */
size_t offdone_count(const offdone *d) {
    size_t n = 0;
    for (size_t k = 0; k < d->nbits / 8; k++)
        for (unsigned char b = d->bits[k]; b; b &= (unsigned char)(b - 1)) n++;
    return n;
}

void offdone_free(offdone *d) {
    free(d->bits);
    offdone_empty(d, d->base);
}
