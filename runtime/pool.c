/* A persistent pool: creating threads per call would cost more than a small
 * evaluation, so the threads live as long as the context that owns them.
 *
 * Waiting spins briefly before sleeping: the trainer runs several jobs of a
 * few hundred microseconds per step, and one decode shares each of its layers
 * among the workers, a job of about a microsecond, where a sleeping thread's
 * wake-up (a futex call, several microseconds on a virtual machine) would cost
 * more than the work. So the hand-off itself takes no lock: a job is published
 * by storing its number in `generation`, and its end seen through `pending`. The mutex and
 * condition variables serve only threads that gave up spinning; a thread
 * announces that it sleeps (`sleepers`, `caller_sleeps`) before it looks one
 * last time, and the other side looks at that announcement after it publishes,
 * both sequentially consistent, so one of the two always sees the other.
 *
 * A shared job (varia_pool_share) waits for no one. The caller starts on its
 * own share, the first 1/size of the chunks; a worker that arrives takes its
 * share of what is left from the back in one claim (so with steady timing
 * each thread gets the same chunks call after call, and keeps their weights
 * in its cache); the caller then claims whatever is still left. A worker
 * that comes late (asleep, or queued on the caller's own core) finds the job
 * closed and leaves it: the caller has done the work alone, at the speed of
 * one thread, instead of waiting for a context switch. A worker that finds
 * itself on the caller's core sleeps rather than spin there. Nor does a
 * shared job wake sleeping workers, a system call that costs more than the
 * job: only a streak of closely spaced shared jobs (a loop of small calls)
 * does, once per 16 jobs. */
#ifdef __linux__
#define _GNU_SOURCE /* sched_getcpu */
#endif
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SPINS 20000  /* polls before sleeping: ~100 us */
#define YIELD_EVERY 256 /* a poll in this many yields the core, in case it is oversubscribed */
#define STREAK_GAP 50e-6 /* shared jobs closer than this (s) form a streak... */
#define STREAK_WAKE 16   /* ...whose every 16th job wakes sleepers (a decode makes 3) */

struct varia_pool {
    int size;    /* workers, the caller included */
    int started; /* threads actually created */
    pthread_t *tid;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    /* What the workers poll, and the job they then read, share one cache
     * line; what the caller polls has its own, so neither side's polling
     * pulls the other's line away. */
    /* The job's number, times 2, plus 1 for a shared job; the job itself is
     * written before the number changes. */
    _Alignas(64) atomic_ulong generation;
    void (*fn)(void *, int);
    void (*chunk_fn)(void *, int64_t, int64_t);
    void *arg;
    atomic_int sleepers; /* workers asleep on `wake`, or about to be */
    atomic_int quit;
    atomic_int caller_cpu; /* where the caller ran the last job; -1 unknown */
    _Alignas(64) atomic_int pending; /* workers still running the current job */
    atomic_int caller_sleeps;
    /* The shared job: its unclaimed chunks [low 32 bits, high 32 bits); the
     * generation it is open for (0: closed); the workers inside it. */
    _Alignas(64) atomic_ullong claim;
    atomic_ulong open;
    atomic_int inside;
    atomic_int helpers_left; /* workers that have not claimed their share yet */
    unsigned long jobs; /* the caller's count of jobs published */
    struct timespec last_share; /* when the last shared job started */
    int streak;                 /* shared jobs in a row that followed it closely */
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

static int current_cpu(void)
{
#ifdef __linux__
    return sched_getcpu();
#else
    return -1;
#endif
}

/* A worker spinning on the caller's own core only slows the caller down, and
 * the scheduler may leave the two there even with another core idle. */
static int on_callers_cpu(varia_pool *p)
{
    int c = current_cpu();
    return c >= 0 && c == atomic_load(&p->caller_cpu);
}

/* Returns the generation once it differs from `seen`. Spins, unless on the
 * caller's core, then sleeps: the wake-up lets the scheduler place the thread
 * again, though on this VM it sometimes picks the caller's core once more. */
static unsigned long wait_job(varia_pool *p, unsigned long seen)
{
    unsigned long g;
    for (int i = 0; i < SPINS; i++, relax(i)) {
        if ((g = atomic_load(&p->generation)) != seen)
            return g;
        if (i % YIELD_EVERY == 0 && on_callers_cpu(p))
            break;
    }
    pthread_mutex_lock(&p->lock);
    atomic_fetch_add(&p->sleepers, 1);
    while ((g = atomic_load(&p->generation)) == seen)
        pthread_cond_wait(&p->wake, &p->lock);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->lock);
    return g;
}

/* The caller's claim once its share is done: everything left, [*begin, end).
 * A helper that was coming would have claimed by now, a share taking longer
 * than a hand-off; so what is left is the share of one that is not. */
static uint32_t claim_rest(varia_pool *p, uint32_t *begin)
{
    unsigned long long c = atomic_load(&p->claim);
    for (;;) {
        uint32_t lo = (uint32_t)c, hi = (uint32_t)(c >> 32);
        if (lo >= hi)
            return *begin = 0;
        if (atomic_compare_exchange_weak(&p->claim, &c, (unsigned long long)hi << 32 | hi)) {
            *begin = lo;
            return hi;
        }
    }
}

/* A helper's claim: 1/k of what is left, from the back, as [*begin, end),
 * k being the helpers yet to claim, itself included. */
static uint32_t claim_back(varia_pool *p, int k, uint32_t *begin)
{
    unsigned long long c = atomic_load(&p->claim);
    for (;;) {
        uint32_t lo = (uint32_t)c, hi = (uint32_t)(c >> 32), take = (hi - lo + (uint32_t)k - 1) / (uint32_t)k;
        if (lo >= hi)
            return *begin = 0;
        if (atomic_compare_exchange_weak(&p->claim, &c, (unsigned long long)(hi - take) << 32 | lo)) {
            *begin = hi - take;
            return hi;
        }
    }
}

/* A worker joins shared job g only while it is open; inside, the caller
 * waits for it, so the job's fields stay valid. */
static void help(varia_pool *p, unsigned long g)
{
    atomic_fetch_add(&p->inside, 1);
    if (atomic_load(&p->open) == g) {
        int k = atomic_fetch_sub(&p->helpers_left, 1);
        uint32_t begin, end = k > 0 ? claim_back(p, k, &begin) : (begin = 0);
        if (begin < end)
            p->chunk_fn(p->arg, begin, end);
    }
    atomic_fetch_sub(&p->inside, 1);
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
        if (seen & 1) {
            help(p, seen);
            continue;
        }
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
    atomic_init(&p->caller_cpu, -1);
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

static void wake_sleepers(varia_pool *p)
{
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
}

/* Number the job (odd: shared); wake the workers that sleep. */
static void publish(varia_pool *p, unsigned long g)
{
    atomic_store(&p->generation, g);
    wake_sleepers(p);
}

void varia_pool_run(varia_pool *p, void (*fn)(void *arg, int worker), void *arg)
{
    if (!p || p->size == 1) {
        fn(arg, 0);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->caller_cpu, current_cpu());
    atomic_store(&p->pending, p->size - 1);
    publish(p, ++p->jobs * 2);
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

void varia_pool_share(varia_pool *p, void (*fn)(void *arg, int64_t begin, int64_t end), void *arg, int64_t chunks)
{
    if (!p || p->size == 1 || chunks < 2 || chunks > UINT32_MAX) {
        fn(arg, 0, chunks);
        return;
    }
    int64_t own = (chunks + p->size - 1) / p->size;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double gap = (double)(now.tv_sec - p->last_share.tv_sec) + 1e-9 * (double)(now.tv_nsec - p->last_share.tv_nsec);
    p->streak = gap < STREAK_GAP ? p->streak + 1 : 0;
    p->last_share = now;
    unsigned long g = ++p->jobs * 2 + 1;
    p->chunk_fn = fn;
    p->arg = arg;
    atomic_store(&p->claim, (unsigned long long)chunks << 32 | (unsigned long long)own);
    atomic_store(&p->helpers_left, p->size - 1);
    atomic_store(&p->caller_cpu, current_cpu());
    atomic_store(&p->open, g);
    atomic_store(&p->generation, g);
    if (p->streak >= STREAK_WAKE && atomic_load(&p->sleepers) > 0) {
        wake_sleepers(p);
        p->streak = 0; /* at most one wake-up per streak's worth of jobs */
    }
    fn(arg, 0, own);
    uint32_t begin, end = claim_rest(p, &begin);
    if (begin < end)
        fn(arg, begin, end);
    atomic_store(&p->open, 0);
    for (int i = 0; atomic_load(&p->inside) > 0; i++) /* helpers mid-chunk: short */
        relax(i);
}

void varia_pool_free(varia_pool *p)
{
    if (!p)
        return;
    atomic_store(&p->quit, 1);
    publish(p, ++p->jobs * 2);
    for (int i = 1; i <= p->started; i++)
        pthread_join(p->tid[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->tid);
    free(p);
}
