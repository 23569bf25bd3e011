#define _GNU_SOURCE /* pipe2 */
#include "common/wakeup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int wakeup_open(wakeup *w, char *errstr, size_t errsize) {
    memset(w, 0, sizeof(*w));
    w->fd[0] = w->fd[1] = -1;
    if (pipe2(w->fd, O_NONBLOCK | O_CLOEXEC) != 0) {
        snprintf(errstr, errsize, "pipe: %s", strerror(errno));
        w->fd[0] = w->fd[1] = -1;
        return WAKEUP_ERR;
    }
    return WAKEUP_OK;
}

int wakeup_watch(wakeup *w, rd_kafka_queue_t *q, char *errstr, size_t errsize) {
    if (!q || w->count == WAKEUP_MAX_QUEUES) {
        snprintf(errstr, errsize, q ? "too many queues to watch" : "no queue to watch");
        if (q) rd_kafka_queue_destroy(q);
        return WAKEUP_ERR;
    }
    rd_kafka_queue_io_event_enable(q, w->fd[1], "!", 1);
    w->queues[w->count++] = q;
    return WAKEUP_OK;
}

int wakeup_fd(const wakeup *w) { return w->fd[0]; }

void wakeup_drain(wakeup *w) {
    char buf[64];
    while (read(w->fd[0], buf, sizeof(buf)) > 0) {
    }
}

void wakeup_poke(wakeup *w) { (void)!write(w->fd[1], "!", 1); }

void wakeup_close(wakeup *w) {
    for (size_t i = 0; i < w->count; i++) {
        rd_kafka_queue_io_event_enable(w->queues[i], -1, NULL, 0);
        rd_kafka_queue_destroy(w->queues[i]);
    }
    w->count = 0;
    for (int i = 0; i < 2; i++) {
        if (w->fd[i] >= 0) close(w->fd[i]);
        w->fd[i] = -1;
    }
}
