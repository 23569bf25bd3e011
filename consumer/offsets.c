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

/* Bit index of tracked entry i (i >= 1) in the metadata bitmap: its distance
 * past the entry at the head, which is the committable offset. */
#define BIT(t, i) ((uint64_t)((t)->offsets[AT(t, i)] - (t)->offsets[(t)->head] - 1))

/* Walks the tracked entries after the head twice, without allocating: once
 * to find how many bytes of bitmap fit in max_len and which done offsets
 * they hold, once to write those bytes out three at a time as base64. Cost
 * O(count + max_len). The entry at the head is the committable offset and
 * never done; gaps between tracked offsets are not records and read as 0. */
size_t offtrack_encode_done(const offtrack *t, char *buf, size_t size, size_t max_len,
                            int *truncated) {
    if (truncated) *truncated = 0;
    if (size == 0) return 0;
    buf[0] = '\0';
    if (max_len > size - 1) max_len = size - 1; /* misuse: never write past buf */
    if (t->count - t->undone == 0) return 0;    /* nothing done beyond the head */

    size_t room = max_len > OFFDONE_PREFIX_LEN ? max_len - OFFDONE_PREFIX_LEN : 0;
    uint64_t limit = (uint64_t)b64url_fit(room) * 8; /* bits that fit */
    size_t recorded = 0;
    uint64_t last = 0; /* highest bit set */
    for (size_t i = 1; i < t->count; i++) {
        if (!t->done[AT(t, i)]) continue;
        uint64_t bit = BIT(t, i);
        if (bit >= limit) {
            if (truncated) *truncated = 1;
            break; /* offsets ascend: none after this fits either */
        }
        recorded++;
        last = bit;
    }
    if (recorded == 0) return 0;

    size_t nbytes = (size_t)(last / 8) + 1;
    memcpy(buf, OFFDONE_PREFIX, OFFDONE_PREFIX_LEN);
    char *out = buf + OFFDONE_PREFIX_LEN;
    unsigned char group[3];
    size_t ngroup = 0, i = 1;
    for (size_t k = 0; k < nbytes; k++) {
        unsigned char byte = 0;
        for (; i < t->count && BIT(t, i) < (uint64_t)(k + 1) * 8; i++)
            if (t->done[AT(t, i)]) byte |= (unsigned char)(1u << (BIT(t, i) - (uint64_t)k * 8));
        group[ngroup++] = byte;
        if (ngroup == 3 || k + 1 == nbytes) {
            b64url_put(group, ngroup, out);
            out += ngroup + 1;
            ngroup = 0;
        }
    }
    *out = '\0';
    return recorded;
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
