/* AIS and BDMC with each example's chains split into parts
 * (varia_ais_opts.parts): parts run as threads here, exchanging through an
 * allgather made of a barrier and a shared buffer, as MPI ranks would. Every
 * part must return the bytes of one call running every chain, whatever the
 * number of parts (and so of chains per part), and refusals name the fields. */
#include "tap.h"
#include "varia.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 3, PARTS_MAX = 4, D_MAX = 1024 };

static char root[1024];

/* The parts of one split call and what they share. */
typedef struct group {
    pthread_barrier_t barrier;
    char shared[1 << 20];
    const varia_model *m;
    const float *x;
    varia_ais_opts opts;
    int parts, bdmc;
} group;

typedef struct part {
    group *g;
    int index;
    varia_status st;
    varia_ais_row rows[N], upper[N];
} part;

/* varia_ais_opts.allgather: this part's bytes into the shared buffer, then
 * every part's out of it; the second barrier keeps a fast part's next
 * exchange from overwriting what a slow one has yet to read. */
static int thread_allgather(void *comm, void *buf, const int64_t *off)
{
    part *p = comm;
    group *g = p->g;
    if (off[g->parts] > (int64_t)sizeof g->shared)
        return 1;
    memcpy(g->shared + off[p->index], (char *)buf + off[p->index], (size_t)(off[p->index + 1] - off[p->index]));
    pthread_barrier_wait(&g->barrier);
    memcpy(buf, g->shared, (size_t)off[g->parts]);
    pthread_barrier_wait(&g->barrier);
    return 0;
}

static void *run_part(void *arg)
{
    part *p = arg;
    varia_ctx *ctx = varia_ctx_new();
    varia_ais_opts o = p->g->opts;
    o.part = p->index;
    o.parts = p->g->parts;
    o.allgather = thread_allgather;
    o.comm = p;
    varia_ctx_set_threads(ctx, 1 + p->index % 2); /* a split call runs on its own thread: any count */
    p->st = p->g->bdmc ? varia_bdmc(ctx, p->g->m, N, &o, NULL, p->rows, p->upper)
                       : varia_ais(ctx, p->g->m, p->g->x, N, &o, p->rows);
    if (p->st != VARIA_OK)
        printf("# part %d: %s\n", p->index, varia_ctx_message(ctx));
    varia_ctx_free(ctx);
    return NULL;
}

/* `parts` threads run the split call; 1 when every part returned rows (and
 * upper bounds) equal to want (and want_up) byte for byte. */
static int split_matches(group *g, int parts, const varia_ais_row *want, const varia_ais_row *want_up)
{
    part p[PARTS_MAX];
    pthread_t t[PARTS_MAX];
    g->parts = parts;
    pthread_barrier_init(&g->barrier, NULL, (unsigned)parts);
    for (int i = 0; i < parts; i++) {
        p[i] = (part){.g = g, .index = i};
        pthread_create(&t[i], NULL, run_part, &p[i]);
    }
    int good = 1;
    for (int i = 0; i < parts; i++) {
        pthread_join(t[i], NULL);
        good = good && p[i].st == VARIA_OK && !memcmp(p[i].rows, want, sizeof p[i].rows) &&
               (!g->bdmc || !memcmp(p[i].upper, want_up, sizeof p[i].upper));
    }
    pthread_barrier_destroy(&g->barrier);
    return good;
}

/* start: a varia_ais_start (AIS+encoder splits as AIS from the prior does). */
static void test_split(varia_ctx *ctx, const varia_model *m, const float *x, int bdmc, uint32_t start)
{
    static group g;
    g = (group){.m = m, .x = x, .bdmc = bdmc};
    /* The split must give the same bits at any length; under valgrind
     * (VARIA_TEST_LIGHT, tools/run-tests.sh: it is there for memory errors)
     * 150 steps keep the eight split calls from taking minutes. */
    int steps = getenv("VARIA_TEST_LIGHT") ? 150 : 400;
    g.opts = (varia_ais_opts){.size = sizeof g.opts, .start = start, .chains = 7, .steps = steps, .seed = 11,
                              .binarize = VARIA_BIN_DYNAMIC};
    const char *what = bdmc ? (start ? "BDMC+encoder" : "BDMC") : start ? "AIS+encoder" : "AIS";
    varia_ais_row want[N], up[N];
    int good = bdmc ? varia_bdmc(ctx, m, N, &g.opts, NULL, want, up) == VARIA_OK
                    : varia_ais(ctx, m, x, N, &g.opts, want) == VARIA_OK;
    tap_okf(good && want[0].accept > 0.0 && want[0].accept < 1.0, "%s, one call: accept %.3f, step %.4f", what,
            want[0].accept, want[0].step_size);
    for (int parts = 2; parts <= PARTS_MAX; parts++)
        tap_okf(good && split_matches(&g, parts, want, up),
                "%s, 3 examples x 7 chains split in %d parts: every part returns the whole call's rows, bit for bit",
                what, parts);
}

static void test_refused(varia_ctx *ctx, const varia_model *m, const float *x)
{
    varia_ais_row rows[N];
    varia_ais_opts o = {.size = sizeof o, .chains = 3, .steps = 5, .part = 0, .parts = 2};
    varia_status no_comm = varia_ais(ctx, m, x, N, &o, rows);
    o.parts = 4;
    o.allgather = thread_allgather;
    varia_status too_many = varia_ais(ctx, m, x, N, &o, rows);
    o.parts = 2;
    o.part = 2;
    varia_status past = varia_ais(ctx, m, x, N, &o, rows);
    int named = strstr(varia_ctx_message(ctx), "part") != NULL;
    tap_okf(no_comm == VARIA_ERR_ARG && too_many == VARIA_ERR_ARG && past == VARIA_ERR_ARG && named,
            "parts without an allgather, more parts than chains, part >= parts: VARIA_ERR_ARG (%s)",
            varia_ctx_message(ctx));
}

int main(void)
{
    const char *r = getenv("VARIA_SOURCE_ROOT");
    snprintf(root, sizeof root, "%s/tests/golden/vae1_tanh_bern/model.json", r ? r : ".");
    varia_ctx *ctx = varia_ctx_new();
    varia_model *m = NULL;
    if (!tap_check(varia_model_load(ctx, root, &m) == VARIA_OK, "the golden model vae1_tanh_bern loads"))
        return tap_done();
    varia_info in;
    varia_model_info(m, &in);
    float *x = malloc(sizeof(float) * N * (size_t)in.data_size);
    varia_sample(ctx, m, N, 5, 1.0f, x, NULL); /* means in (0, 1): dynamically binarized */
    test_split(ctx, m, x, 0, VARIA_AIS_FROM_PRIOR);
    test_split(ctx, m, x, 1, VARIA_AIS_FROM_PRIOR);
    test_split(ctx, m, x, 0, VARIA_AIS_FROM_ENCODER);
    test_split(ctx, m, x, 1, VARIA_AIS_FROM_ENCODER);
    test_refused(ctx, m, x);
    free(x);
    varia_model_free(m);
    varia_ctx_free(ctx);
    return tap_done();
}
