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

#endif
