/* A persistent pool: creating threads per call would cost more than a small
 * evaluation, so the threads live as long as the context that owns them.
 * Waiting spins briefly before sleeping: the trainer runs several jobs of a
 * few hundred microseconds per step, and a sleeping thread's wake-up costs
 * about as much on a virtual machine. */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#define SPINS 20000 /* polls (with a yield every 64) before sleeping: ~100 us */

struct varia_pool {
    int size;             /* workers, the caller included */
    int started;          /* threads actually created */
    pthread_t *tid;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    atomic_ulong generation; /* bumped per job */
    atomic_int pending;
    int quit;
    void (*fn)(void *, int);
    void *arg;
};

typedef struct start { varia_pool *p; int id; } start;

static void *worker_main(void *raw)
{
    start s = *(start *)raw;
    free(raw);
    varia_pool *p = s.p;
    unsigned long seen = 0;
    for (;;) {
        for (int i = 0; i < SPINS && atomic_load_explicit(&p->generation, memory_order_acquire) == seen; i++)
            if ((i & 63) == 63)
                sched_yield();
        pthread_mutex_lock(&p->lock);
        while (!p->quit && atomic_load(&p->generation) == seen)
            pthread_cond_wait(&p->wake, &p->lock);
        int quit = p->quit;
        void (*fn)(void *, int) = p->fn;
        void *arg = p->arg;
        seen = atomic_load(&p->generation);
        pthread_mutex_unlock(&p->lock);
        if (quit)
            break;
        fn(arg, s.id);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
    return NULL;
}

varia_pool *varia_pool_new(int threads)
{
    varia_pool *p = calloc(1, sizeof *p);
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

void varia_pool_run(varia_pool *p, void (*fn)(void *arg, int worker), void *arg)
{
    if (!p || p->size == 1) {
        fn(arg, 0);
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->pending, p->size - 1);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    fn(arg, 0);
    for (int i = 0; i < SPINS && atomic_load_explicit(&p->pending, memory_order_acquire) > 0; i++)
        if ((i & 63) == 63)
            sched_yield();
    pthread_mutex_lock(&p->lock);
    while (atomic_load(&p->pending) > 0)
        pthread_cond_wait(&p->done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

void varia_pool_free(varia_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->quit = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i <= p->started; i++)
        pthread_join(p->tid[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->tid);
    free(p);
}
