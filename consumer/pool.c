#define _POSIX_C_SOURCE 200809L
#include "consumer/pool.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"

#define POOL_STACK_SIZE ((size_t)1 << 20)
/* A task shorter than this (on average) is done sooner by a thread already
 * awake than by waking another: a wake-up and its context switches cost
 * tens of microseconds of both cores here. */
#define SHORT_TASK_US 50
/* With short tasks only the awake threads drain the queue; if none has
 * taken a task for this long (one is stuck in a slow call), another is
 * woken all the same. */
#define STALL_US 1000
/* While tasks are short a thread takes up to this many at once, and hands
 * them back together: one lock round per batch instead of per task. */
#define SHORT_BATCH 8

struct pool {
    /* The queue of submitted tasks, first in first out: written by the owner,
     * drained by the threads. stop is read and written under qlock too. */
    pthread_mutex_t qlock;
    pthread_cond_t qcond; /* signalled on a submit, broadcast on stop */
    pool_task *qhead, *qtail;
    int stop;
    /* Who is where, under qlock, for deciding whom to wake (should_wake()). */
    size_t queued;   /* tasks in the queue */
    size_t idle;     /* threads waiting on qcond */
    size_t pending;  /* signals sent that no thread has woken for yet */
    size_t running;  /* threads running a task */
    int64_t last_take_us; /* when a thread last took a task (monotonic) */
    /* Average run time of a task (an exponential moving average, in µs),
     * written by the threads after each task without a lock: a lost update
     * only delays the average. Starts long, so that a pool wakes a thread
     * per task until it has seen that its tasks are short. */
    _Atomic int64_t avg_task_us;

    /* The done list, oldest first: appended to by the threads, taken whole
     * by the owner. */
    pthread_mutex_t dlock;
    pool_task *dhead, *dtail;
    size_t dcount;

    void (*notify)(void *opaque);
    void *opaque;

    pthread_t *threads;
    size_t nthreads; /* started; all of them once pool_new() returns */
    size_t busy;     /* owner's only: submitted and not yet taken back */

    int qlock_ok, qcond_ok, dlock_ok; /* initialised: for the err path */
};

/* Whether a sleeping thread should be woken for the queue as it is (called
 * with qlock held). Not when the threads awake and between tasks (and those
 * already signalled) will take every queued task anyway. Otherwise yes when
 * nobody is running a task, or tasks are long (each queued one deserves a
 * thread of its own: long-running handlers, the reason for the pool). With
 * short tasks the running threads take the next one as they finish, which
 * costs far less than waking others (zero-latency handlers: most of the
 * worker's time went to futex wake-ups and context switches), unless no
 * task has been taken for STALL_US: a slow call among short ones. */
static int should_wake(const pool *p) {
    if (p->idle <= p->pending) return 0; /* no sleeper left to wake */
    size_t awake_free = p->nthreads - p->idle - p->running;
    if (p->queued <= awake_free + p->pending) return 0;
    if (p->running == 0) return 1;
    if (atomic_load_explicit(&p->avg_task_us, memory_order_relaxed) >= SHORT_TASK_US) return 1;
    return time_mono_us() - p->last_take_us > STALL_US; /* the clock only when it decides */
}

/* Signals one sleeping thread when should_wake() says so (qlock held). */
static void wake_if_needed(pool *p) {
    if (!p->qhead) return;
    if (should_wake(p)) {
        p->pending++;
        pthread_cond_signal(&p->qcond);
    }
}

/* A pool thread: takes the oldest submitted task (waking another thread
 * first when more are queued and should_wake() says so), runs it without
 * any lock held, appends it to the done list and, when that list was empty,
 * calls notify outside the lock (the owner may be taking the list meanwhile:
 * then it wakes once more for nothing, but never misses a batch, since every
 * empty -> non-empty change is followed by a notify). Leaves as soon as stop
 * is set, even with tasks queued: those are not run. */
static void *pool_thread(void *arg) {
    pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->qlock);
        while (!p->stop && !p->qhead) {
            p->idle++;
            pthread_cond_wait(&p->qcond, &p->qlock);
            p->idle--;
            if (p->pending) p->pending--;
        }
        if (p->stop) {
            pthread_mutex_unlock(&p->qlock);
            return NULL;
        }
        /* one task, or while tasks are short a few: the first ones queued */
        size_t take = atomic_load_explicit(&p->avg_task_us, memory_order_relaxed) < SHORT_TASK_US
                          ? SHORT_BATCH
                          : 1;
        pool_task *first = p->qhead, *last = first;
        size_t n = 1;
        while (n < take && last->next) {
            last = last->next;
            n++;
        }
        p->qhead = last->next;
        if (!p->qhead) p->qtail = NULL;
        last->next = NULL;
        p->queued -= n;
        p->running++;
        int64_t now = time_mono_us();
        p->last_take_us = now;
        wake_if_needed(p);
        pthread_mutex_unlock(&p->qlock);

        for (pool_task *t = first, *next; t; t = next) {
            next = t->next; /* run may not touch it, but keep the list ours */
            int64_t started = now;
            t->run(t);
            now = time_mono_us();
            int64_t avg = atomic_load_explicit(&p->avg_task_us, memory_order_relaxed);
            atomic_store_explicit(&p->avg_task_us, avg + (now - started - avg) / 8,
                                  memory_order_relaxed);
            t->next = next;
        }
        pthread_mutex_lock(&p->qlock);
        p->running--;
        pthread_mutex_unlock(&p->qlock);

        pthread_mutex_lock(&p->dlock);
        int was_empty = p->dhead == NULL;
        if (p->dtail)
            p->dtail->next = first;
        else
            p->dhead = first;
        p->dtail = last;
        p->dcount += n;
        pthread_mutex_unlock(&p->dlock);
        if (was_empty && p->notify) p->notify(p->opaque);
    }
}

/* Sets stop, wakes every thread and joins the ones started. Each finishes
 * the task it is running first, so this waits for the longest of them. */
static void stop_and_join(pool *p) {
    pthread_mutex_lock(&p->qlock);
    p->stop = 1;
    pthread_cond_broadcast(&p->qcond);
    pthread_mutex_unlock(&p->qlock);
    for (size_t i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
    p->nthreads = 0;
}

/* Threads start with every signal blocked (the mask is inherited), so that
 * SIGINT and SIGTERM reach the owner's thread and interrupt its poll(), as
 * librdkafka does for its own threads. notify may be NULL (nothing is
 * called). On any failure the threads already started are stopped and
 * joined. */
pool *pool_new(size_t threads, void (*notify)(void *opaque), void *opaque, char *errstr,
               size_t errsize) {
    pool *p = NULL;
    pthread_attr_t attr;
    int attr_ok = 0, mask_set = 0, rc;
    sigset_t all, old;

    if (threads < 1 || threads > POOL_MAX_THREADS) {
        snprintf(errstr, errsize, "pool: %zu threads asked for, must be 1..%d", threads,
                 POOL_MAX_THREADS);
        return NULL;
    }
    if (!(p = calloc(1, sizeof(*p))) || !(p->threads = calloc(threads, sizeof(*p->threads)))) {
        snprintf(errstr, errsize, "pool: out of memory for %zu threads", threads);
        goto err;
    }
    p->notify = notify;
    p->opaque = opaque;
    atomic_init(&p->avg_task_us, 1000 * SHORT_TASK_US); /* long until shown short */
    if ((rc = pthread_mutex_init(&p->qlock, NULL)) != 0) goto err_rc;
    p->qlock_ok = 1;
    if ((rc = pthread_cond_init(&p->qcond, NULL)) != 0) goto err_rc;
    p->qcond_ok = 1;
    if ((rc = pthread_mutex_init(&p->dlock, NULL)) != 0) goto err_rc;
    p->dlock_ok = 1;
    if ((rc = pthread_attr_init(&attr)) != 0) goto err_rc;
    attr_ok = 1;
    if ((rc = pthread_attr_setstacksize(&attr, POOL_STACK_SIZE)) != 0) {
        snprintf(errstr, errsize, "pool: cannot set a %zu-byte thread stack: %s", POOL_STACK_SIZE,
                 strerror(rc));
        goto err;
    }

    sigfillset(&all);
    if ((rc = pthread_sigmask(SIG_SETMASK, &all, &old)) != 0) goto err_rc;
    mask_set = 1;
    for (; p->nthreads < threads; p->nthreads++) {
        if ((rc = pthread_create(&p->threads[p->nthreads], &attr, pool_thread, p)) != 0) {
            snprintf(errstr, errsize, "pool: cannot start thread %zu of %zu: %s", p->nthreads + 1,
                     threads, strerror(rc));
            goto err;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return p;

err_rc:
    snprintf(errstr, errsize, "pool: cannot set up the thread pool: %s", strerror(rc));
err:
    if (mask_set) pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (attr_ok) pthread_attr_destroy(&attr);
    pool_free(p);
    return NULL;
}

void pool_free(pool *p) {
    if (!p) return;
    if (p->qlock_ok && p->qcond_ok) stop_and_join(p);
    if (p->dlock_ok) pthread_mutex_destroy(&p->dlock);
    if (p->qcond_ok) pthread_cond_destroy(&p->qcond);
    if (p->qlock_ok) pthread_mutex_destroy(&p->qlock);
    free(p->threads);
    free(p);
}

/* At most one thread is woken: each submit adds one task. */
void pool_submit(pool *p, pool_task *task) {
    task->next = NULL;
    pthread_mutex_lock(&p->qlock);
    if (p->qtail)
        p->qtail->next = task;
    else
        p->qhead = task;
    p->qtail = task;
    p->queued++;
    wake_if_needed(p);
    pthread_mutex_unlock(&p->qlock);
    p->busy++;
}

void pool_nudge(pool *p) {
    pthread_mutex_lock(&p->qlock);
    wake_if_needed(p);
    pthread_mutex_unlock(&p->qlock);
}

pool_task *pool_take_done(pool *p) {
    pthread_mutex_lock(&p->dlock);
    pool_task *list = p->dhead;
    size_t n = p->dcount;
    p->dhead = p->dtail = NULL;
    p->dcount = 0;
    pthread_mutex_unlock(&p->dlock);
    p->busy -= n;
    return list;
}

size_t pool_busy(const pool *p) { return p->busy; }

size_t pool_threads(const pool *p) { return p->nthreads; }
