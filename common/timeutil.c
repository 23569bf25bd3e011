#define _POSIX_C_SOURCE 200809L
#include "common/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

static int64_t clock_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_now_ms(void) { return clock_ms(CLOCK_REALTIME); }

int64_t time_mono_ms(void) { return clock_ms(CLOCK_MONOTONIC); }

int64_t time_mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *time_rfc3339(int64_t ms, char *buf, size_t size) {
    time_t secs = (time_t)(ms / 1000);
    int millis = (int)(ms % 1000);
    if (millis < 0) { /* before 1970: keep the fraction positive */
        millis += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
    return buf;
}

/* Sleeps in slices of at most 100 ms so that a stop request is noticed
 * promptly; a signal (EINTR) only shortens the current slice. */
void time_sleep_ms(int64_t ms, volatile const int *stop) {
    int64_t until = time_mono_ms() + ms;
    for (;;) {
        if (stop && *stop) return;
        int64_t left = until - time_mono_ms();
        if (left <= 0) return;
        if (left > 100) left = 100;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)left * 1000000L};
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR && !(stop && *stop)) {
        }
    }
}
