/* A persistent pool: creating threads per call would cost more than a small
 * evaluation, so the threads live as long as the context that owns them.
 *
 * Waiting spins briefly before sleeping: the trainer runs several jobs of a
 * few hundred microseconds per step, and one decode shares each of its layers
 * among the workers, a job of about a microsecond, where a sleeping thread's
 * wake-up (a futex call, several microseconds on a virtual machine) would cost
 * more than the work. So the hand-off itself takes no lock: a job is published
 * by bumping `generation`, and its end seen through `pending`. The mutex and
 * condition variables serve only threads that gave up spinning; a thread
 * announces that it sleeps (`sleepers`, `caller_sleeps`) before it looks one
 * last time, and the other side looks at that announcement after it publishes,
 * both sequentially consistent, so one of the two always sees the other. */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SPINS 20000  /* polls before sleeping: ~100 us */
#define YIELD_EVERY 256 /* a poll in this many yields the core, in case it is oversubscribed */

struct varia_pool {
    int size;    /* workers, the caller included */
    int started; /* threads actually created */
    pthread_t *tid;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    /* What the workers poll, and the job they then read, share one cache
     * line; what the caller polls has its own, so neither side's polling
     * pulls the other's line away. */
    _Alignas(64) atomic_ulong generation; /* bumped per job (and to quit) */
    void (*fn)(void *, int);              /* the job: written before the bump */
    void *arg;
    atomic_int sleepers; /* workers asleep on `wake`, or about to be */
    atomic_int quit;
    _Alignas(64) atomic_int pending; /* workers still running the current job */
    atomic_int caller_sleeps;
};

typedef struct start { varia_pool *p; int id; } start;

static void relax(int i)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (i % YIELD_EVERY == YIELD_EVERY - 1)
        sched_yield();
}

/* Returns the generation once it differs from `seen`. */
static unsigned long wait_job(varia_pool *p, unsigned long seen)
{
    unsigned long g;
    for (int i = 0; i < SPINS; i++, relax(i))
        if ((g = atomic_load(&p->generation)) != seen)
            return g;
    pthread_mutex_lock(&p->lock);
    atomic_fetch_add(&p->sleepers, 1);
    while ((g = atomic_load(&p->generation)) == seen)
        pthread_cond_wait(&p->wake, &p->lock);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->lock);
    return g;
}

static void *worker_main(void *raw)
{
    start s = *(start *)raw;
    free(raw);
    varia_pool *p = s.p;
    unsigned long seen = 0;
    for (;;) {
        seen = wait_job(p, seen);
        if (atomic_load(&p->quit))
            break;
        p->fn(p->arg, s.id);
        if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->caller_sleeps)) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
    return NULL;
}

varia_pool *varia_pool_new(int threads)
{
    varia_pool *p = aligned_alloc(64, sizeof *p); /* for the cache-line members */
    if (p)
        memset(p, 0, sizeof *p);
    if (!p || !(p->tid = calloc((size_t)(threads > 1 ? threads : 1), sizeof *p->tid))) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->size = 1;
    for (int i = 1; i < threads; i++) {
        start *s = malloc(sizeof *s);
        if (!s)
            break;
        *s = (start){p, i};
        if (pthread_create(&p->tid[i], NULL, worker_main, s) != 0) {
            free(s);
            break; /* fewer workers is still correct */
        }
        p->size++;
    }
    p->started = p->size - 1;
    return p;
}

int varia_pool_size(const varia_pool *p) { return p ? p->size : 1; }

/* Bump the generation; wake the workers that sleep. */
static void publish(varia_pool *p)
{
    atomic_fetch_add(&p->generation, 1);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
}

void varia_pool_run(varia_pool *p, void (*fn)(void *arg, int worker), void *arg)
{
    if (!p || p->size == 1) {
        fn(arg, 0);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->pending, p->size - 1);
    publish(p);
    fn(arg, 0);
    for (int i = 0; i < SPINS && atomic_load(&p->pending) > 0; i++)
        relax(i);
    if (atomic_load(&p->pending) == 0)
        return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->caller_sleeps, 1);
    while (atomic_load(&p->pending) > 0)
        pthread_cond_wait(&p->done, &p->lock);
    atomic_store(&p->caller_sleeps, 0);
    pthread_mutex_unlock(&p->lock);
}

void varia_pool_free(varia_pool *p)
{
    if (!p)
        return;
    atomic_store(&p->quit, 1);
    publish(p);
    for (int i = 1; i <= p->started; i++)
        pthread_join(p->tid[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->tid);
    free(p);
}
