/* Unit tests: the thread pool. Every task runs once and comes back once;
 * the queue and the done list are first in first out; N threads run N tasks
 * at once; notify wakes a poll()ing owner, once per batch; pool_free() leaves
 * queued tasks alone; bad thread counts fail with a message.
 *
 * No sleeps: threads meet on a mutex and condition variable with a 10 s
 * deadline (a test that would hang fails instead), and the owner waits for
 * notify by poll()ing a pipe, as the engine does. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "consumer/pool.h"

#define DEADLINE_S 10

/* What the tasks and notify share with the test. */
typedef struct shared {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int notifies;  /* notify calls */
    int started;   /* blocking tasks that have begun */
    int release;   /* set by the test: blocking tasks may return */
    int arrived;   /* barrier tasks that have arrived */
    int barrier_n; /* how many the barrier waits for */
    /* one deadline for all barrier tasks: a failure takes 10 s, not 10 s each */
    struct timespec barrier_deadline;
    int seq;     /* order in which counting tasks ran */
    int pipe[2]; /* notify writes a byte to [1]; the test polls [0] */
} shared;

typedef struct ttask {
    pool_task task; /* first: a pool_task * is a ttask * */
    shared *sh;
    int id;
    int runs;     /* written by the pool thread that runs it */
    int ran_as;   /* its place in the order tasks ran */
    int ok;       /* the blocking or barrier wait ended as it should, not by deadline */
    size_t stack; /* the running thread's stack size */
    int returned; /* owner's: times pool_take_done() gave it back */
} ttask;

static void shared_init(shared *sh) {
    memset(sh, 0, sizeof(*sh));
    assert_int_equal(pthread_mutex_init(&sh->lock, NULL), 0);
    assert_int_equal(pthread_cond_init(&sh->cond, NULL), 0);
    assert_int_equal(pipe(sh->pipe), 0);
    for (int i = 0; i < 2; i++) assert_int_equal(fcntl(sh->pipe[i], F_SETFL, O_NONBLOCK), 0);
}

static void shared_destroy(shared *sh) {
    close(sh->pipe[0]);
    close(sh->pipe[1]);
    pthread_cond_destroy(&sh->cond);
    pthread_mutex_destroy(&sh->lock);
}

static struct timespec deadline(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += DEADLINE_S;
    return ts;
}

/* notify: counts, and wakes the test's poll() the way the engine's pipe
 * would. A full pipe already means "wake up". */
static void notify_pipe(void *opaque) {
    shared *sh = opaque;
    pthread_mutex_lock(&sh->lock);
    sh->notifies++;
    pthread_mutex_unlock(&sh->lock);
    ssize_t n = write(sh->pipe[1], "x", 1);
    (void)n;
}

static int notifies(shared *sh) {
    pthread_mutex_lock(&sh->lock);
    int n = sh->notifies;
    pthread_mutex_unlock(&sh->lock);
    return n;
}

/* ---- task bodies ---- */

static void run_count(pool_task *task) {
    ttask *t = (ttask *)task;
    pthread_mutex_lock(&t->sh->lock);
    t->ran_as = t->sh->seq++;
    pthread_mutex_unlock(&t->sh->lock);
    t->runs++;
}

/* Returns once barrier_n tasks have arrived; ok = 0 if the deadline came
 * first (fewer than barrier_n ran at the same time). */
static void run_barrier(pool_task *task) {
    ttask *t = (ttask *)task;
    shared *sh = t->sh;
    pthread_mutex_lock(&sh->lock);
    struct timespec dl = sh->barrier_deadline;
    sh->arrived++;
    pthread_cond_broadcast(&sh->cond);
    int rc = 0;
    while (sh->arrived < sh->barrier_n && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&sh->cond, &sh->lock, &dl);
    t->ok = sh->arrived >= sh->barrier_n;
    pthread_mutex_unlock(&sh->lock);
    t->runs++;
}

/* Says it started, then returns once the test sets release; ok = 0 if the
 * deadline came first. */
static void run_block(pool_task *task) {
    ttask *t = (ttask *)task;
    shared *sh = t->sh;
    struct timespec dl = deadline();
    pthread_mutex_lock(&sh->lock);
    sh->started++;
    pthread_cond_broadcast(&sh->cond);
    int rc = 0;
    while (!sh->release && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&sh->cond, &sh->lock, &dl);
    t->ok = sh->release;
    pthread_mutex_unlock(&sh->lock);
    t->runs++;
}

/* Records the stack size of the thread it runs on. */
static void run_stack(pool_task *task) {
    ttask *t = (ttask *)task;
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstacksize(&attr, &t->stack);
        pthread_attr_destroy(&attr);
    }
    t->runs++;
}

static void task_init(ttask *t, shared *sh, int id, void (*run)(pool_task *)) {
    memset(t, 0, sizeof(*t));
    t->sh = sh;
    t->id = id;
    t->ran_as = -1;
    t->task.run = run;
}

/* ---- the owner's side ---- */

/* Waits (deadline) until at least n blocking tasks have started. */
static void wait_started(shared *sh, int n) {
    struct timespec dl = deadline();
    int rc = 0;
    pthread_mutex_lock(&sh->lock);
    while (sh->started < n && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&sh->cond, &sh->lock, &dl);
    int started = sh->started;
    pthread_mutex_unlock(&sh->lock);
    assert_true(started >= n);
}

static void release_blocked(shared *sh) {
    pthread_mutex_lock(&sh->lock);
    sh->release = 1;
    pthread_cond_broadcast(&sh->cond);
    pthread_mutex_unlock(&sh->lock);
}

/* Waits for notify's byte (deadline), then empties the pipe. */
static void wait_notified(shared *sh) {
    struct pollfd pfd = {.fd = sh->pipe[0], .events = POLLIN};
    int rc;
    do rc = poll(&pfd, 1, DEADLINE_S * 1000);
    while (rc < 0 && errno == EINTR);
    if (rc != 1) fail_msg("notify did not wake the owner within %d s", DEADLINE_S);
    char buf[64];
    while (read(sh->pipe[0], buf, sizeof(buf)) > 0) continue;
}

/* Takes done lists as notify announces them until want tasks came back in
 * all; checks each comes back once, after running once, and that busy
 * counts down by each batch. Stores them, in the order they came, in order
 * (when not NULL). */
static void collect(pool *p, shared *sh, size_t want, ttask **order) {
    size_t got = 0;
    size_t busy = pool_busy(p);
    while (got < want) {
        wait_notified(sh);
        for (pool_task *it = pool_take_done(p); it; it = it->next) {
            ttask *t = (ttask *)it;
            assert_int_equal(t->returned, 0);
            assert_int_equal(t->runs, 1);
            t->returned = 1;
            if (order) order[got] = t;
            got++;
            busy--;
        }
        assert_int_equal(pool_busy(p), busy);
    }
    assert_int_equal(got, want);
}

/* pool_free() sets the stop flag under the queue's lock and then broadcasts;
 * the test links with --wrap=pthread_cond_broadcast so that it can act at
 * that moment (test_free_leaves_queued_tasks). One shot: the hook is
 * cleared as it is taken, so the hook's own broadcast is a plain one. */
int __real_pthread_cond_broadcast(pthread_cond_t *cond);
int __wrap_pthread_cond_broadcast(pthread_cond_t *cond);

static void (*_Atomic on_next_broadcast)(void);
static shared *_Atomic hook_shared;

int __wrap_pthread_cond_broadcast(pthread_cond_t *cond) {
    int rc = __real_pthread_cond_broadcast(cond);
    void (*hook)(void) = atomic_exchange(&on_next_broadcast, NULL);
    if (hook) hook();
    return rc;
}

static void release_hook(void) { release_blocked(atomic_load(&hook_shared)); }

/* ---- the tests ---- */

static void test_new_rejects_bad_thread_counts(void **state) {
    (void)state;
    char err[256];
    err[0] = '\0';
    assert_null(pool_new(0, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "0 threads"));
    assert_non_null(strstr(err, "1..4096"));
    err[0] = '\0';
    assert_null(pool_new(POOL_MAX_THREADS + 1, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "4097 threads"));
    err[0] = '\0';
    assert_null(pool_new(SIZE_MAX, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "must be 1..4096"));
    pool_free(NULL);
}

/* A new pool: its thread count, nothing busy, nothing done; each thread
 * has the 1 MiB stack; an idle pool frees at once. */
static void test_new_threads_and_stack(void **state) {
    (void)state;
    shared sh;
    shared_init(&sh);
    char err[256];
    pool *p = pool_new(3, notify_pipe, &sh, err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(pool_threads(p), 3);
    assert_int_equal(pool_busy(p), 0);
    assert_null(pool_take_done(p));
    ttask t[6];
    for (int i = 0; i < 6; i++) {
        task_init(&t[i], &sh, i, run_stack);
        pool_submit(p, &t[i].task);
    }
    collect(p, &sh, 6, NULL);
    for (int i = 0; i < 6; i++) assert_int_equal(t[i].stack, (size_t)1 << 20);
    pool_free(p);
    shared_destroy(&sh);
}

#define MANY_TASKS 2000

/* Many tasks on a few threads, submitted in bursts between collections:
 * each runs once and comes back once, and pool_busy() tracks submitted
 * minus taken. */
static void test_every_task_runs_once_and_comes_back_once(void **state) {
    (void)state;
    shared sh;
    shared_init(&sh);
    char err[256];
    pool *p = pool_new(4, notify_pipe, &sh, err, sizeof(err));
    assert_non_null(p);
    static ttask t[MANY_TASKS];
    for (int burst = 0; burst < MANY_TASKS / 200; burst++) {
        for (int i = burst * 200; i < (burst + 1) * 200; i++) {
            task_init(&t[i], &sh, i, run_count);
            pool_submit(p, &t[i].task);
        }
        assert_true(pool_busy(p) >= 200);
        collect(p, &sh, pool_busy(p), NULL);
        assert_int_equal(pool_busy(p), 0);
    }
    assert_null(pool_take_done(p));
    for (int i = 0; i < MANY_TASKS; i++) {
        assert_int_equal(t[i].runs, 1);
        assert_int_equal(t[i].returned, 1);
    }
    pool_free(p);
    shared_destroy(&sh);
}

/* One thread: tasks run in submit order and come back in that order. */
static void test_fifo_queue_and_done_list(void **state) {
    (void)state;
    shared sh;
    shared_init(&sh);
    char err[256];
    pool *p = pool_new(1, notify_pipe, &sh, err, sizeof(err));
    assert_non_null(p);
    ttask t[100];
    ttask *order[100];
    for (int i = 0; i < 100; i++) {
        task_init(&t[i], &sh, i, run_count);
        pool_submit(p, &t[i].task);
    }
    collect(p, &sh, 100, order);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(t[i].ran_as, i);
        assert_ptr_equal(order[i], &t[i]);
    }
    pool_free(p);
    shared_destroy(&sh);
}

#define CONCURRENT 32

/* N threads, N tasks that each wait until all N have arrived: they only all
 * finish (before the deadline) if they run at the same time. */
static void test_tasks_run_concurrently(void **state) {
    (void)state;
    shared sh;
    shared_init(&sh);
    sh.barrier_n = CONCURRENT;
    sh.barrier_deadline = deadline();
    char err[256];
    pool *p = pool_new(CONCURRENT, notify_pipe, &sh, err, sizeof(err));
    assert_non_null(p);
    ttask t[CONCURRENT];
    for (int i = 0; i < CONCURRENT; i++) {
        task_init(&t[i], &sh, i, run_barrier);
        pool_submit(p, &t[i].task);
    }
    collect(p, &sh, CONCURRENT, NULL);
    for (int i = 0; i < CONCURRENT; i++) assert_int_equal(t[i].ok, 1);
    pool_free(p);
    shared_destroy(&sh);
}

/* notify is called when a task lands on an empty done list, and not again
 * while the owner has not taken it. One thread runs A, B, C in turn, so
 * when C starts, A and B are both on the list: one notify for the two. C
 * waits until they have been taken, so it lands on an empty list again:
 * a second notify. */
static void test_notify_once_per_batch(void **state) {
    (void)state;
    shared sh;
    shared_init(&sh);
    char err[256];
    pool *p = pool_new(1, notify_pipe, &sh, err, sizeof(err));
    assert_non_null(p);
    ttask a, b, c;
    task_init(&a, &sh, 0, run_count);
    task_init(&b, &sh, 1, run_count);
    task_init(&c, &sh, 2, run_block);
    pool_submit(p, &a.task);
    pool_submit(p, &b.task);
    pool_submit(p, &c.task);
    assert_int_equal(pool_busy(p), 3);

    wait_started(&sh, 1);
    assert_int_equal(notifies(&sh), 1);
    wait_notified(&sh);
    pool_task *list = pool_take_done(p);
    assert_ptr_equal(list, &a.task);
    assert_ptr_equal(list->next, &b.task);
    assert_null(list->next->next);
    assert_int_equal(pool_busy(p), 1);

    release_blocked(&sh);
    wait_notified(&sh);
    assert_ptr_equal(pool_take_done(p), &c.task);
    assert_null(c.task.next);
    assert_int_equal(c.ok, 1);
    assert_int_equal(notifies(&sh), 2);
    assert_int_equal(pool_busy(p), 0);
    pool_free(p);
    shared_destroy(&sh);
}

#define QUEUED 5

/* pool_free() with one thread busy and tasks queued behind it. The blocker
 * is released exactly when pool_free() broadcasts its stop (the broadcast
 * hook), i.e. after the stop flag is set and before the thread is joined.
 * Expected: pool_free() returns; the blocker ran once and was released (not
 * timed out); none of the queued tasks ran. */
static void test_free_leaves_queued_tasks(void **state) {
    (void)state;
    shared sh;
    shared_init(&sh);
    char err[256];
    pool *p = pool_new(1, notify_pipe, &sh, err, sizeof(err));
    assert_non_null(p);
    ttask blocker, q[QUEUED];
    task_init(&blocker, &sh, 0, run_block);
    pool_submit(p, &blocker.task);
    for (int i = 0; i < QUEUED; i++) {
        task_init(&q[i], &sh, i + 1, run_count);
        pool_submit(p, &q[i].task);
    }
    wait_started(&sh, 1);

    atomic_store(&hook_shared, &sh);
    atomic_store(&on_next_broadcast, release_hook);
    pool_free(p);
    assert_null(atomic_load(&on_next_broadcast)); /* the hook did fire */

    assert_int_equal(blocker.runs, 1);
    assert_int_equal(blocker.ok, 1);
    for (int i = 0; i < QUEUED; i++) assert_int_equal(q[i].runs, 0);
    shared_destroy(&sh);
}

/* Many threads start and stop cleanly (1 MiB of address space each). */
static void test_many_threads(void **state) {
    (void)state;
    shared sh;
    shared_init(&sh);
    char err[256];
    pool *p = pool_new(256, notify_pipe, &sh, err, sizeof(err));
    if (!p) fail_msg("%s", err);
    assert_int_equal(pool_threads(p), 256);
    ttask t[512];
    for (int i = 0; i < 512; i++) {
        task_init(&t[i], &sh, i, run_count);
        pool_submit(p, &t[i].task);
    }
    collect(p, &sh, 512, NULL);
    pool_free(p);
    shared_destroy(&sh);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_rejects_bad_thread_counts),
        cmocka_unit_test(test_new_threads_and_stack),
        cmocka_unit_test(test_every_task_runs_once_and_comes_back_once),
        cmocka_unit_test(test_fifo_queue_and_done_list),
        cmocka_unit_test(test_tasks_run_concurrently),
        cmocka_unit_test(test_notify_once_per_batch),
        cmocka_unit_test(test_free_leaves_queued_tasks),
        cmocka_unit_test(test_many_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
