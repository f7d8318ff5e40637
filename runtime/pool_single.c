/* The pool of a build without threads (meson -Dthreads=false, the
 * WebAssembly build): pool.h's interface with no pool at all, so the callers,
 * written for any number of workers, run everything on the calling thread and
 * nothing here calls pthreads. varia_ctx_set_threads refuses more than one
 * thread in such a build (ctx.c), so no caller asks for more. */
#include "pool.h"

#include <stddef.h>

/* No threads to start: NULL, which callers take for one worker. */
varia_pool *varia_pool_new(int threads)
{
    (void)threads;
    return NULL;
}

/* p is always NULL here: nothing to free. */
void varia_pool_free(varia_pool *p)
{
    (void)p;
}

/* One worker: the caller. */
int varia_pool_size(const varia_pool *p)
{
    (void)p;
    return 1;
}

/* fn runs once, as worker 0, on the calling thread. */
void varia_pool_run(varia_pool *p, void (*fn)(void *arg, int worker), void *arg)
{
    (void)p;
    fn(arg, 0);
}

/* Every chunk in one call, on the calling thread (what pool.c does when no
 * helper comes). */
void varia_pool_share(varia_pool *p, void (*fn)(void *arg, int64_t begin, int64_t end), void *arg,
                      int64_t chunks)
{
    (void)p;
    fn(arg, 0, chunks);
}
