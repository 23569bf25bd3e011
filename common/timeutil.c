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

/* The civil date (proleptic Gregorian) of a day counted from 1970-01-01:
 * the era/year-of-era arithmetic of Howard Hinnant's date algorithms, with
 * March as the first month so that the leap day ends the year. Exact for
 * every day a 64-bit count of milliseconds can name. */
static void civil_from_days(int64_t days, int64_t *year, unsigned *month, unsigned *day) {
    days += 719468; /* from 0000-03-01 */
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned doe = (unsigned)(days - era * 146097);                       /* [0, 146096] */
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    unsigned mp = (5 * doy + 2) / 153;                                    /* March = 0 */
    *day = doy - (153 * mp + 2) / 5 + 1;
    *month = mp < 10 ? mp + 3 : mp - 9;
    *year = (int64_t)yoe + era * 400 + (*month <= 2);
}

static char *put2(char *p, unsigned v) {
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

/* Every outcome and order carries one of these (CloudEvents' time), and every
 * log line: formatted by hand, since gmtime_r() and snprintf() cost some
 * 3,500 instructions a call, a tenth of the worker's own work per order
 * (callgrind, make bench). Years outside 0..9999 take the slow path. */
char *time_rfc3339(int64_t ms, char *buf, size_t size) {
    int64_t secs = ms / 1000;
    int millis = (int)(ms % 1000);
    if (millis < 0) { /* before 1970: keep the fraction positive */
        millis += 1000;
        secs -= 1;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    int64_t year;
    unsigned month, day;
    civil_from_days(days, &year, &month, &day);
    if (size < TIME_RFC3339_LEN + 1 || year < 0 || year > 9999) {
        snprintf(buf, size, "%04lld-%02u-%02uT%02u:%02u:%02u.%03dZ", (long long)year, month, day,
                 (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60), (unsigned)(rem % 60),
                 millis);
        return buf;
    }
    char *p = put2(buf, (unsigned)(year / 100));
    p = put2(p, (unsigned)(year % 100));
    *p++ = '-';
    p = put2(p, month);
    *p++ = '-';
    p = put2(p, day);
    *p++ = 'T';
    p = put2(p, (unsigned)(rem / 3600));
    *p++ = ':';
    p = put2(p, (unsigned)(rem / 60 % 60));
    *p++ = ':';
    p = put2(p, (unsigned)(rem % 60));
    *p++ = '.';
    *p++ = (char)('0' + millis / 100);
    p = put2(p, (unsigned)(millis % 100));
    *p++ = 'Z';
    *p = '\0';
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
