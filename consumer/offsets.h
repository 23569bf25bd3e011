/* offsets: which consumed records of one partition are done, and so which
 * offset may be committed.
 *
 * Records are added in offset order as they are consumed and marked done in
 * any order as their outcomes are acknowledged by Kafka. The committable
 * offset is the first offset not yet done: committing it never skips a gap,
 * so after a crash everything not done is consumed again (at-least-once). */
#ifndef ORDERFLEET_OFFSETS_H
#define ORDERFLEET_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

#define OFFTRACK_OK 0
#define OFFTRACK_ERR -1    /* misuse: offset not increasing, or not tracked */
#define OFFTRACK_NOMEM -2  /* out of memory */

typedef struct offtrack {
    int64_t *offsets;     /* ring buffer of tracked offsets, ascending from head */
    unsigned char *done;  /* done[i] for offsets[i] */
    size_t head, count, cap;
    size_t undone;        /* tracked and not done */
    int64_t next;         /* last added offset + 1; -1 before the first add */
} offtrack;

void offtrack_init(offtrack *t);
void offtrack_free(offtrack *t);

/* Tracks a consumed record. Offsets must be added in increasing order (gaps
 * are fine: compaction and transaction markers leave them). Returns
 * OFFTRACK_ERR when offset is not above the last one added, OFFTRACK_NOMEM
 * when the ring cannot grow. */
int offtrack_add(offtrack *t, int64_t offset);

/* Marks a tracked offset done, releasing every done offset at the front.
 * O(log n). Returns OFFTRACK_ERR when offset is not tracked (already released
 * or never added). */
int offtrack_done(offtrack *t, int64_t offset);

/* The first offset not yet done, or the last added + 1 when all are done;
 * -1 when nothing was ever added (nothing to commit). */
int64_t offtrack_committable(const offtrack *t);

/* How many tracked records are not done yet. O(1). */
size_t offtrack_pending(const offtrack *t);

/* How many offsets the tracker spans: from the first not done to the last
 * added (0 when all are done). Done records behind a slow one stay in the
 * tracker until it is done, so this, not the number of records in flight,
 * is what its memory and the commit metadata grow with. O(1). */
int64_t offtrack_span(const offtrack *t);

/* ---- commit metadata: work done beyond the committed offset ------------
 *
 * The committed offset is the first record not yet done, but records after
 * it may be done already (out-of-order completion). So that a worker that
 * takes the partition over (a restart, a rebalance) skips them instead of
 * doing them again, the commit carries them in its metadata string:
 *
 *     "ofdone1:" base64url(bitmap), without padding
 *
 * where bit i (least significant bit first, byte by byte) says whether
 * offset committed + 1 + i is done (the committed offset itself never is).
 * Trailing zero bytes are left out; with nothing done beyond the committed
 * offset the metadata is "" (which also reads back as nothing done).
 *
 * The metadata is bounded: Kafka refuses commits whose metadata exceeds
 * offset.metadata.max.bytes (4096 by default). When the done offsets do not
 * fit in max_len, only the first ones that fit are recorded: the others are
 * done again by the next owner (a duplicate, never a loss). */
#define OFFDONE_PREFIX "ofdone1:"
#define OFFDONE_MAX_LEN 4000 /* bytes of metadata the engine writes at most */

/* Writes t's done offsets beyond offtrack_committable(t) as commit metadata
 * into buf (size bytes, NUL-terminated, at most max_len characters before
 * the NUL; size must exceed max_len). Returns the number of done offsets
 * recorded (0: buf is ""), and sets *truncated when some did not fit. */
size_t offtrack_encode_done(const offtrack *t, char *buf, size_t size, size_t max_len,
                            int *truncated);

/* The done offsets read back from a commit: which records at or after the
 * committed offset a new owner may skip. A zeroed offdone reads as nothing
 * done. */
typedef struct offdone {
    int64_t base;          /* the committed offset the metadata belongs to */
    unsigned char *bits;   /* owned; bit i: offset base + 1 + i is done */
    size_t nbits;
} offdone;

/* Reads metadata written by offtrack_encode_done() for a commit at offset
 * committed. Anything else (NULL, "", another program's metadata, a
 * corrupt string) reads as nothing done: skipping is an optimisation, never
 * needed for correctness. Returns OFFTRACK_OK, or OFFTRACK_NOMEM. Release
 * with offdone_free(). */
int offdone_decode(offdone *d, const char *metadata, int64_t committed);

/* Non-zero when offset is recorded as done. O(1). */
int offdone_contains(const offdone *d, int64_t offset);

/* How many offsets are recorded as done. */
size_t offdone_count(const offdone *d);

void offdone_free(offdone *d);

/* What a partition's commit says, given its tracker t and known, the done
 * offsets its previous owner committed (NULL: none): *offset, the first
 * offset not done (-1, and nothing written, when nothing was consumed), and
 * into buf the metadata of the done ones after it, from the tracker for
 * offsets consumed and from known for the others. Whatever was done stays
 * recorded from owner to owner, as long as it fits. Same buffer rules and
 * return value as offtrack_encode_done(), which is this with known NULL. */
size_t offtrack_commit_point(const offtrack *t, const offdone *known, int64_t *offset,
                             char *buf, size_t size, size_t max_len, int *truncated);

/* The most offsets past a committed offset that OFFDONE_MAX_LEN characters
 * of metadata can record as done. */
int64_t offdone_capacity(void);

#endif
