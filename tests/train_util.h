/* What the training tests share: a scratch directory, paths in it, writing
 * a configuration, running a whole training through the public API, and
 * comparing two output files byte for byte. Include once per test program,
 * after varia_train.h; the program sets train_dir (mkdtemp) first. */
#ifndef VARIA_TESTS_TRAIN_UTIL_H
#define VARIA_TESTS_TRAIN_UTIL_H

#include "tap.h"
#include "varia_train.h"

#include <stdio.h>

static char train_dir[256];

/* train_dir/name, in one of four rotating buffers (valid for four calls). */
static inline const char *tp(const char *name)
{
    static char buf[4][1024];
    static int next;
    char *p = buf[next++ & 3];
    snprintf(p, sizeof buf[0], "%s/%s", train_dir, name);
    return p;
}

static inline void write_text(const char *name, const char *text)
{
    FILE *f = fopen(tp(name), "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Train the configuration tp(config) (opts threads, resume, stop_after);
 * report (if not NULL) gets the run's report or the failure's message. */
static inline varia_status train(const char *config, int threads, int resume, int64_t stop_after, char *report,
                                 size_t cap)
{
    varia_ctx *ctx = varia_ctx_new();
    varia_train_opts o = {threads, resume, stop_after};
    varia_trainer *t = NULL;
    varia_status st = varia_train_open(ctx, tp(config), &o, &t);
    if (st == VARIA_OK)
        st = varia_train_run(ctx, t, NULL, NULL);
    if (report)
        snprintf(report, cap, "%s", st == VARIA_OK ? varia_train_report(t) : varia_ctx_message(ctx));
    varia_train_close(t);
    varia_ctx_free(ctx);
    return st;
}

/* 1 when both files exist and hold the same bytes. */
static inline int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

/* TAP checks that run OUT/other ended with the same checkpoint of `epoch`
 * (model and optimizer) and output model as OUT/ref, byte for byte; `what`
 * says why they must. */
static inline void check_same_run(const char *ref, const char *other, int epoch, const char *what)
{
    char files[3][64], a[200], b[200];
    snprintf(files[0], sizeof files[0], "checkpoint/model-%06d.safetensors", epoch);
    snprintf(files[1], sizeof files[1], "checkpoint/optimizer-%06d.safetensors", epoch);
    snprintf(files[2], sizeof files[2], "model.safetensors");
    for (int i = 0; i < 3; i++) {
        snprintf(a, sizeof a, "%s/%s", ref, files[i]);
        snprintf(b, sizeof b, "%s/%s", other, files[i]);
        tap_okf(same_file(tp(a), tp(b)), "%s: %s is bit-identical", what, files[i]);
    }
}

#endif
