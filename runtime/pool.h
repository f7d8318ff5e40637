/* Internal: a small persistent thread pool, owned by one varia_ctx. Workers
 * sleep between jobs; a job runs fn(arg, worker) on every worker including the
 * caller (worker 0) and returns when all are done. */
#ifndef VARIA_POOL_H
#define VARIA_POOL_H

typedef struct varia_pool varia_pool;

/* A pool of `threads` workers (threads - 1 new threads). NULL if none could be
 * made; callers then run with one worker. */
varia_pool *varia_pool_new(int threads);
void varia_pool_free(varia_pool *p);
int varia_pool_size(const varia_pool *p);
void varia_pool_run(varia_pool *p, void (*fn)(void *arg, int worker), void *arg);

#endif
