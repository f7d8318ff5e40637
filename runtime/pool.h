/* Internal: a small persistent thread pool, owned by one varia_ctx. Workers
 * wait between jobs. varia_pool_run runs fn(arg, worker) on every worker
 * including the caller (worker 0) and returns when all are done;
 * varia_pool_share splits a job among whichever workers are free. */
#ifndef VARIA_POOL_H
#define VARIA_POOL_H

#include <stdint.h>

typedef struct varia_pool varia_pool;

/* A pool of `threads` workers (threads - 1 new threads). NULL if none could be
 * made; callers then run with one worker. */
varia_pool *varia_pool_new(int threads);
void varia_pool_free(varia_pool *p);
int varia_pool_size(const varia_pool *p);
void varia_pool_run(varia_pool *p, void (*fn)(void *arg, int worker), void *arg);
/* fn(arg, begin, end) over chunks [0, chunks), each chunk exactly once, by the
 * caller and whichever workers are free to help: the caller's share is the
 * front, the helpers' the back, so with steady timing each thread gets the
 * same chunks call after call; the caller does the shares of absent helpers.
 * Returns without waiting for workers that have not started: a busy or
 * sleeping pool costs no more than running alone. */
void varia_pool_share(varia_pool *p, void (*fn)(void *arg, int64_t begin, int64_t end), void *arg,
                      int64_t chunks);

#endif
