/* One loaded model shared by several threads, each with its own context,
 * running sample, encode, decode and eval at the same time. Every result must
 * equal the same call made alone (bit for bit). Built and run under
 * ThreadSanitizer by tools/run-tests.sh as well. */
#include "tap.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <varia.h>

#define THREADS 4
#define ROUNDS 6
#define N 24

typedef struct result {
    float samples[N * 20];
    float mean[N * 4], logvar[N * 4];
    float decoded[N * 20];
    varia_eval_row rows[N];
} result;

typedef struct task {
    const varia_model *m;
    const float *x;
    int id;
    result out;
    int failures;
} task;

/* The work every thread repeats; everything depends only on the task id. */
static int run_ops(const varia_model *m, varia_ctx *ctx, const float *x, int id, result *r)
{
    varia_eval_opts o = {.k = 64, .seed = (uint64_t)id, .binarize = VARIA_BIN_DYNAMIC};
    int bad = varia_sample(ctx, m, N, (uint64_t)id, 1.0f, r->samples, NULL) != VARIA_OK;
    bad += varia_encode(ctx, m, x, N, r->mean, r->logvar) != VARIA_OK;
    bad += varia_decode(ctx, m, r->mean, N, VARIA_DECODE_MEAN, r->decoded, NULL) != VARIA_OK;
    bad += varia_ctx_set_threads(ctx, 1 + id % 2) != VARIA_OK; /* eval spawns workers of its own */
    bad += varia_eval(ctx, m, x, N, &o, r->rows, NULL) != VARIA_OK;
    return bad;
}

static void *worker(void *arg)
{
    task *t = arg;
    varia_ctx *ctx = varia_ctx_new();
    result r;
    for (int round = 0; round < ROUNDS; round++) {
        memset(&r, 0, sizeof r);
        t->failures += run_ops(t->m, ctx, t->x, t->id, &r);
        t->failures += round > 0 && memcmp(&r, &t->out, sizeof r) != 0;
        t->out = r;
    }
    varia_ctx_free(ctx);
    return NULL;
}

int main(void)
{
    const char *root = getenv("VARIA_SOURCE_ROOT");
    char path[1100];
    snprintf(path, sizeof path, "%s/tests/golden/iwae2_tanh_bern/model.json", root ? root : ".");
    varia_ctx *ctx = varia_ctx_new();
    varia_model *m = NULL;
    if (!tap_check(varia_model_load(ctx, path, &m) == VARIA_OK, "the shared model loads"))
        return tap_done();
    float x[N * 20];
    for (int i = 0; i < N * 20; i++)
        x[i] = (float)((i * 7919) % 13) / 12.0f;
    static task tasks[THREADS];
    pthread_t tid[THREADS];
    for (int t = 0; t < THREADS; t++) {
        tasks[t] = (task){.m = m, .x = x, .id = t};
        pthread_create(&tid[t], NULL, worker, &tasks[t]);
    }
    int failures = 0, same = 1;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(tid[t], NULL);
        failures += tasks[t].failures;
    }
    tap_check(failures == 0, "every concurrent call succeeded and repeated rounds agree");
    static result alone;
    for (int t = 0; t < THREADS; t++) {
        memset(&alone, 0, sizeof alone);
        run_ops(m, ctx, x, t, &alone);
        same &= !memcmp(&alone, &tasks[t].out, sizeof alone);
    }
    tap_check(same, "4 threads sharing one model give the results of the same calls run one by one");
    varia_model_free(m);
    varia_ctx_free(ctx);
    return tap_done();
}
