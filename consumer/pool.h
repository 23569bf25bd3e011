/* pool: a fixed set of threads that run the worker's handler calls.
 *
 * The engine's main thread owns Kafka and all bookkeeping; the pool only
 * runs tasks (a handler deciding one order, which may take a long time) and
 * hands them back. A task is submitted by the owner, run once by one of the
 * pool's threads, then put on the done list, and the pool calls notify so
 * that the owner's event loop wakes up and collects it with
 * pool_take_done(). The owner never waits on the pool except in
 * pool_free().
 *
 * Tasks are intrusive (embed a pool_task) and are never copied, allocated or
 * freed by the pool: they belong to the owner throughout, and the pool only
 * holds them between pool_submit() and pool_take_done().
 *
 * Cost: one mutex and condition variable for the queue of submitted tasks,
 * one mutex for the done list; a submit or a completion is O(1). Threads
 * are woken only when needed: one per queued task while tasks are long (on
 * average over SHORT_TASK_US), but while they are short the threads already
 * awake take the queued ones as they finish, since waking a thread costs
 * more than such a task (see should_wake() in pool.c). Threads
 * are started with a 1 MiB stack (virtual: only the pages used count), so
 * hundreds of them stay cheap.
 *
 * Thread safety: pool_submit(), pool_take_done() and the counters are called
 * by the owner's thread only; run and notify are called on pool threads. */
#ifndef ORDERFLEET_POOL_H
#define ORDERFLEET_POOL_H

#include <stddef.h>

#define POOL_OK 0
#define POOL_ERR -1

#define POOL_MAX_THREADS 4096

typedef struct pool pool;

/* Embedded in each task. Set run before pool_submit(); next is the pool's
 * (and the owner's, on the list pool_take_done() returns). */
typedef struct pool_task {
    void (*run)(struct pool_task *task); /* called on a pool thread */
    struct pool_task *next;
} pool_task;

/* Starts threads threads (1..POOL_MAX_THREADS). notify(opaque) is called
 * on a pool thread each time a task is put on the done list while the list
 * was empty (so the owner, which takes the whole list at once, is woken once
 * per batch); it must be async-safe enough to run on any thread (writing to
 * a pipe is the usual thing). Returns NULL with the reason in errstr; the
 * caller frees the pool with pool_free(). */
pool *pool_new(size_t threads, void (*notify)(void *opaque), void *opaque, char *errstr,
               size_t errsize);

/* Stops the threads: tasks running finish first (so this can wait as long
 * as the longest one), tasks submitted but not started are not run. Tasks
 * are the caller's; neither kind is touched. NULL is fine. */
void pool_free(pool *p);

/* Queues task to be run by the next free thread, first in first out. O(1). */
void pool_submit(pool *p, pool_task *task);

/* Wakes a thread for the queue if the threads awake have taken nothing for
 * a while (short tasks, and one of them got stuck in a slow call). The
 * owner calls it now and then (each loop turn); O(1). */
void pool_nudge(pool *p);

/* Takes every finished task, oldest first, as a list linked by next (NULL
 * when none). O(1). */
pool_task *pool_take_done(pool *p);

/* Tasks submitted and not yet taken back with pool_take_done(). */
size_t pool_busy(const pool *p);

/* The number of threads. */
size_t pool_threads(const pool *p);

#endif
