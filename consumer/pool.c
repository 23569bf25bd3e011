#define _POSIX_C_SOURCE 200809L
#include "consumer/pool.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_STACK_SIZE ((size_t)1 << 20)

struct pool {
    /* The queue of submitted tasks, first in first out: written by the owner,
     * drained by the threads. stop is read and written under qlock too. */
    pthread_mutex_t qlock;
    pthread_cond_t qcond; /* signalled on a submit, broadcast on stop */
    pool_task *qhead, *qtail;
    int stop;

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

/* A pool thread: takes the oldest submitted task, runs it without any lock
 * held, appends it to the done list and, when that list was empty, calls
 * notify outside the lock (the owner may be taking the list meanwhile: then
 * it wakes once more for nothing, but never misses a batch, since every
 * empty -> non-empty change is followed by a notify). Leaves as soon as stop
 * is set, even with tasks queued: those are not run. */
static void *pool_thread(void *arg) {
    pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->qlock);
        while (!p->stop && !p->qhead) pthread_cond_wait(&p->qcond, &p->qlock);
        if (p->stop) {
            pthread_mutex_unlock(&p->qlock);
            return NULL;
        }
        pool_task *t = p->qhead;
        p->qhead = t->next;
        if (!p->qhead) p->qtail = NULL;
        pthread_mutex_unlock(&p->qlock);

        t->run(t);

        t->next = NULL;
        pthread_mutex_lock(&p->dlock);
        int was_empty = p->dhead == NULL;
        if (p->dtail)
            p->dtail->next = t;
        else
            p->dhead = t;
        p->dtail = t;
        p->dcount++;
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

/* One waiting thread is enough: each submit adds one task. */
void pool_submit(pool *p, pool_task *task) {
    task->next = NULL;
    pthread_mutex_lock(&p->qlock);
    if (p->qtail)
        p->qtail->next = task;
    else
        p->qhead = task;
    p->qtail = task;
    pthread_cond_signal(&p->qcond);
    pthread_mutex_unlock(&p->qlock);
    p->busy++;
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
