/* What the training tests share: a scratch directory, paths in it, writing
 * a configuration, running a whole training through the public API, and
 * comparing two output files byte for byte. Include once per test program,
 * after varia_train.h; the program sets train_dir (mkdtemp) first. */
#ifndef VARIA_TESTS_TRAIN_UTIL_H
#define VARIA_TESTS_TRAIN_UTIL_H

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

#endif
