/* wakeup: one file descriptor that becomes readable when any of a few
 * librdkafka queues has something to serve, for an event loop's poll().
 *
 * librdkafka writes a byte to the pipe when a watched queue goes from empty
 * to non-empty (rd_kafka_queue_io_event_enable). It does not write again
 * while the queue stays non-empty, so the owner's serve step must be:
 * wakeup_drain(), then serve every watched queue until it is empty; and an
 * owner that stops early (a batch limit) must wakeup_poke() so that the next
 * poll() returns at once rather than sleeping on a queue that is not empty.
 *
 * Single-threaded apart from librdkafka's writes. */
#ifndef ORDERFLEET_WAKEUP_H
#define ORDERFLEET_WAKEUP_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#define WAKEUP_OK 0
#define WAKEUP_ERR -1
#define WAKEUP_MAX_QUEUES 4

typedef struct wakeup {
    int fd[2]; /* the pipe: [0] read by the owner, [1] written by librdkafka */
    rd_kafka_queue_t *queues[WAKEUP_MAX_QUEUES];
    size_t count;
} wakeup;

/* Opens the pipe (non-blocking, close-on-exec). Returns WAKEUP_OK, or
 * WAKEUP_ERR with errstr. Call it first: from then on, even after an error,
 * wakeup_close() is safe. */
int wakeup_open(wakeup *w, char *errstr, size_t errsize);

/* Watches queue q, which wakeup takes over (it is destroyed by
 * wakeup_close()). Returns WAKEUP_ERR, and destroys q, when q is NULL or
 * WAKEUP_MAX_QUEUES are watched already. */
int wakeup_watch(wakeup *w, rd_kafka_queue_t *q, char *errstr, size_t errsize);

/* The descriptor to poll() for reading. */
int wakeup_fd(const wakeup *w);

/* Empties the pipe: call before serving the queues. */
void wakeup_drain(wakeup *w);

/* Makes the descriptor readable: work is left over. */
void wakeup_poke(wakeup *w);

/* Stops watching, destroys the queues, closes the pipe. Call before the
 * clients the queues belong to are destroyed. Safe after a failed
 * wakeup_open(), and twice. */
void wakeup_close(wakeup *w);

#endif
