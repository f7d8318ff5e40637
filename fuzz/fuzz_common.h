/* Shared helpers for the libFuzzer harnesses (header-only, so that every
 * harness stays one translation unit): a private scratch directory under
 * /dev/shm, file writing, the tiny VAE models of docs/format.md section 5,
 * and a routine that exercises a loaded model with small fixed inputs.
 *
 * Harnesses never print. A violated invariant (a library result that is
 * impossible for a correct implementation) is reported with fz_bug(), which
 * traps so that libFuzzer saves the input as a crash. */
#ifndef VARIA_FUZZ_COMMON_H
#define VARIA_FUZZ_COMMON_H

#include "varia.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FZ_UNUSED __attribute__((unused))

/* An invariant the library broke: make libFuzzer record the input. */
#define fz_bug() __builtin_trap()

static char fz_dir[128];

/* Remove the scratch directory and what is in it (one level of subfolders). */
static void fz_rmtree(const char *dir, int depth)
{
    DIR *dp = opendir(dir);
    if (dp) {
        struct dirent *e;
        while ((e = readdir(dp)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            struct stat st;
            if (depth < 2 && lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
                fz_rmtree(p, depth + 1);
            else
                unlink(p);
        }
        closedir(dp);
    }
    rmdir(dir);
}

static void fz_cleanup(void)
{
    if (fz_dir[0])
        fz_rmtree(fz_dir, 0);
}

/* Create the per-process scratch directory once, under $VARIA_FUZZ_TMPDIR
 * (tools/fuzz.sh points it at a per-run folder it removes, which also catches
 * the directories of processes that died without running atexit), else
 * /dev/shm, else /tmp. Aborts if it cannot: a harness without a directory
 * would test nothing. */
static FZ_UNUSED const char *fz_init_dir(void)
{
    if (fz_dir[0])
        return fz_dir;
    const char *bases[] = {getenv("VARIA_FUZZ_TMPDIR"), "/dev/shm", "/tmp"};
    for (size_t i = 0; i < sizeof bases / sizeof bases[0] && !fz_dir[0]; i++) {
        char tmpl[128];
        if (!bases[i] || !bases[i][0] || strlen(bases[i]) > 80)
            continue;
        snprintf(tmpl, sizeof tmpl, "%s/varia-fuzz-XXXXXX", bases[i]);
        if (mkdtemp(tmpl))
            snprintf(fz_dir, sizeof fz_dir, "%s", tmpl);
    }
    if (!fz_dir[0])
        abort();
    atexit(fz_cleanup);
    return fz_dir;
}

/* fz_dir/name into buf (buf has 256 bytes). */
static FZ_UNUSED const char *fz_path(char buf[256], const char *name)
{
    snprintf(buf, 256, "%s/%s", fz_dir, name);
    return buf;
}

/* Write data to path (truncating). Returns 1 on success. */
static FZ_UNUSED int fz_write(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return 0;
    const unsigned char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w <= 0) {
            close(fd);
            return 0;
        }
        p += w;
        len -= (size_t)w;
    }
    return close(fd) == 0;
}

/* ---- The tiny models ------------------------------------------------------ */

typedef struct fz_layer {
    int64_t latent;
    int ne, nd;
    int64_t enc[4], dec[4];
} fz_layer;

typedef struct fz_tensor {
    char name[40];
    int rank;
    int64_t d0, d1;
} fz_tensor;

enum { FZ_VAR_NONE, FZ_VAR_DECODER, FZ_VAR_LEARNED };

static int fz_add_linear(fz_tensor *t, int n, const char *prefix, int64_t in, int64_t out)
{
    snprintf(t[n].name, sizeof t[n].name, "%s.weight", prefix);
    t[n].rank = 2, t[n].d0 = out, t[n].d1 = in;
    n++;
    snprintf(t[n].name, sizeof t[n].name, "%s.bias", prefix);
    t[n].rank = 1, t[n].d0 = out, t[n].d1 = 0;
    return n + 1;
}

static int fz_add_net(fz_tensor *t, int n, const char *pfx, int64_t in, const int64_t *w, int nw,
                      int64_t out, const char *mean, const char *scale)
{
    char name[32];
    int64_t h = in;
    for (int i = 0; i < nw; i++) {
        snprintf(name, sizeof name, "%s.hidden.%d", pfx, i);
        n = fz_add_linear(t, n, name, h, w[i]);
        h = w[i];
    }
    snprintf(name, sizeof name, "%s.%s", pfx, mean);
    n = fz_add_linear(t, n, name, h, out);
    if (scale) {
        snprintf(name, sizeof name, "%s.%s", pfx, scale);
        n = fz_add_linear(t, n, name, h, out);
    }
    return n;
}

/* The tensors of a VAE (docs/format.md 2.1), in a fixed order. t needs room
 * for 64 entries. Returns the count. */
static FZ_UNUSED int fz_vae_tensors(fz_tensor *t, int64_t D, const fz_layer *ly, int L, int var)
{
    int n = 0;
    char pfx[16]; /* "enc"/"dec" and any int: no truncation warning at -O0 either */
    for (int l = 0; l < L; l++) {
        int64_t below = l ? ly[l - 1].latent : D;
        snprintf(pfx, sizeof pfx, "enc%d", l + 1);
        n = fz_add_net(t, n, pfx, below, ly[l].enc, ly[l].ne, ly[l].latent, "mean", "scale");
        snprintf(pfx, sizeof pfx, "dec%d", l + 1);
        if (l > 0)
            n = fz_add_net(t, n, pfx, ly[l].latent, ly[l].dec, ly[l].nd, below, "mean", "scale");
        else
            n = fz_add_net(t, n, pfx, ly[0].latent, ly[0].dec, ly[0].nd, D, "out",
                           var == FZ_VAR_DECODER ? "logvar" : NULL);
    }
    if (var == FZ_VAR_LEARNED) {
        snprintf(t[n].name, sizeof t[n].name, "dec1.logvar");
        t[n].rank = 1, t[n].d0 = D, t[n].d1 = 0;
        n++;
    }
    return n;
}

/* Deterministic small weights, the same as fuzz/make_corpus.py: element k of
 * the whole data region is ((k * 37 + 11) % 19 - 9) / 10. */
static float fz_value(int64_t k)
{
    return (float)((k * 37 + 11) % 19 - 9) / 10.0f;
}

/* An F32 weights file for the tensors: safetensors (with header) or raw data.
 * Returns a malloc'd buffer in *out, or NULL on failure. */
static FZ_UNUSED unsigned char *fz_weights_file(const fz_tensor *t, int n, int safetensors, size_t *len)
{
    char hdr[8192];
    size_t hl = 0;
    int64_t off = 0;
    hdr[hl++] = '{';
    for (int i = 0; i < n; i++) {
        int64_t numel = t[i].rank == 2 ? t[i].d0 * t[i].d1 : t[i].d0;
        char shape[48];
        if (t[i].rank == 2)
            snprintf(shape, sizeof shape, "[%lld,%lld]", (long long)t[i].d0, (long long)t[i].d1);
        else
            snprintf(shape, sizeof shape, "[%lld]", (long long)t[i].d0);
        int w = snprintf(hdr + hl, sizeof hdr - hl,
                         "%s\"%s\":{\"dtype\":\"F32\",\"shape\":%s,\"data_offsets\":[%lld,%lld]}",
                         i ? "," : "", t[i].name, shape, (long long)off, (long long)(off + 4 * numel));
        if (w < 0 || (size_t)w >= sizeof hdr - hl - 2)
            return NULL;
        hl += (size_t)w;
        off += 4 * numel;
    }
    hdr[hl++] = '}';
    while (safetensors && (8 + hl) % 8) /* pad with spaces so the data is aligned */
        hdr[hl++] = ' ';
    size_t head = safetensors ? 8 + hl : 0;
    unsigned char *buf = malloc(head + (size_t)off);
    if (!buf)
        return NULL;
    if (safetensors) {
        uint64_t h = hl;
        for (int i = 0; i < 8; i++)
            buf[i] = (unsigned char)(h >> (8 * i));
        memcpy(buf + 8, hdr, hl);
    }
    for (int64_t k = 0; k < off / 4; k++) {
        float v = fz_value(k);
        memcpy(buf + head + 4 * k, &v, 4);
    }
    *len = head + (size_t)off;
    return buf;
}

/* The model of docs/format.md section 5 (D = 4, latent 2, encoder [3], decoder [3]). */
static const fz_layer fz_tiny_layer = {2, 1, 1, {3}, {3}};
/* Its optional second layer (latent 1, encoder [2], decoder [2]). */
static const fz_layer fz_tiny_layers2[2] = {{2, 1, 1, {3}, {3}}, {1, 1, 1, {2}, {2}}};

/* Write a tiny-model weights file fz_dir/name. Returns 1 on success. */
static FZ_UNUSED int fz_write_model_weights(const char *name, const fz_layer *ly, int L, int var,
                                            int safetensors)
{
    fz_tensor t[64];
    int n = fz_vae_tensors(t, 4, ly, L, var);
    size_t len = 0;
    unsigned char *buf = fz_weights_file(t, n, safetensors, &len);
    char p[256];
    int ok = buf && fz_write(fz_path(p, name), buf, len);
    free(buf);
    return ok;
}

/* ---- Exercising a loaded model ------------------------------------------- */

/* Touch a C string the library returned (ASan checks it is terminated). */
static FZ_UNUSED void fz_touch(const char *s)
{
    if (!s)
        fz_bug();
    volatile size_t n = strlen(s);
    (void)n;
}

/* Run the public operations on small fixed inputs. Sizes come from the model;
 * models too big for a quick run are only queried. */
/* A sequence model (vrnn): every operation through the _ex calls, over 9
 * sequences of 3 frames of unequal lengths; the calls without options must
 * refuse. Bernoulli outputs stay in [0, 1], eval's rows finite. */
static FZ_UNUSED void fz_exercise_seq(varia_ctx *ctx, const varia_model *m, const varia_info *info)
{
    enum { N = 9, T = 3, NE = 2 };
    int64_t D = info->data_size * T, L = info->latent_size * T;
    static const int64_t lengths[N] = {3, 1, 2, 3, 3, 1, 2, 2, 3};
    float *z = calloc((size_t)(N * L + 1), sizeof(float)), *x = malloc(sizeof(float) * (size_t)(N * D));
    float *out = malloc(sizeof(float) * (size_t)(N * D)), *lv = malloc(sizeof(float) * (size_t)(N * D));
    varia_opts o = {.size = sizeof o, .seed = 5, .seq_len = T, .lengths = lengths};
    int bern = info->likelihood == VARIA_LIK_BERNOULLI;
    if (!z || !x || !out || !lv)
        goto done;
    for (int64_t i = 0; i < N * D; i++)
        x[i] = (i * 5) % 3 == 0 ? 1.0f : 0.0f;
    if (varia_sample(ctx, m, N, 1, 1.0f, out, z) != VARIA_ERR_ARG)
        fz_bug(); /* the old call cannot carry seq_len */
    varia_status st = varia_sample_ex(ctx, m, N, &o, out, z);
    for (int64_t i = 0; st == VARIA_OK && bern && i < N * D; i++)
        if (out[i] != 0.0f && out[i] != 1.0f)
            fz_bug(); /* a Bernoulli draw is 0 or 1 */
    varia_decode_ex(ctx, m, z, N, &o, VARIA_DECODE_PARAMS, out, lv);
    varia_encode_ex(ctx, m, x, N, &o, z, NULL);
    varia_reconstruct_ex(ctx, m, x, N, &o, out);
    varia_eval_opts eo = {.k = 3, .seed = 7, .binarize = VARIA_BIN_NONE};
    varia_eval_row rows[NE];
    varia_eval_summary sum;
    st = varia_eval_ex(ctx, m, x, NE, &eo, &o, rows, &sum);
    for (int i = 0; st == VARIA_OK && i < NE; i++)
        if (!isfinite(rows[i].log_px) || !isfinite(rows[i].elbo))
            fz_bug();
    fz_touch(varia_ctx_message(ctx));
done:
    free(z);
    free(x);
    free(out);
    free(lv);
}

static FZ_UNUSED void fz_exercise_model(varia_ctx *ctx, const varia_model *m)
{
    varia_info info;
    if (varia_model_info(m, &info) != VARIA_OK)
        fz_bug();
    fz_touch(info.family);
    fz_touch(varia_ctx_warnings(ctx));
    const char *prov = varia_model_provenance(m);
    if (prov)
        fz_touch(prov);
    int64_t D = info.data_size, L = info.latent_size;
    if (varia_model_can(m, VARIA_NEEDS_SEQ_LEN)) { /* latents per step; the RNN has none */
        if (D < 1 || L < 0 || info.n_stochastic > 1)
            fz_bug();
        if (D <= 1024 && L <= 1024)
            fz_exercise_seq(ctx, m, &info);
        return;
    }
    if (D < 1 || L < 1 || info.n_stochastic < 1 || info.n_stochastic > 8)
        fz_bug();
    if (D > ((int64_t)1 << 16) || L > ((int64_t)1 << 16))
        return;
    /* N = 9 rows reach both the 8-row tile kernel and the one-row path. */
    enum { N = 9, NE = 2 };
    float *z = malloc(sizeof(float) * (size_t)(N * L));
    float *zo = malloc(sizeof(float) * (size_t)(N * L));
    float *zi = malloc(sizeof(float) * (size_t)(3 * L));
    float *x = malloc(sizeof(float) * (size_t)(N * D));
    float *out = malloc(sizeof(float) * (size_t)(N * D));
    float *lv = malloc(sizeof(float) * (size_t)(N * D));
    if (!z || !zo || !zi || !x || !out || !lv)
        goto done;
    for (int64_t i = 0; i < N * L; i++)
        z[i] = (float)((i * 7) % 11 - 5) * 0.3f;
    for (int64_t i = 0; i < N * D; i++)
        x[i] = (i * 5) % 3 == 0 ? 1.0f : (i % 4 == 1 ? 0.25f : 0.0f);
    int bern = info.likelihood == VARIA_LIK_BERNOULLI;

    varia_status st = varia_decode(ctx, m, z, N, VARIA_DECODE_MEAN, out, NULL);
    if (st == VARIA_OK && bern)
        for (int64_t i = 0; i < N * D; i++)
            if (!(out[i] >= 0.0f && out[i] <= 1.0f))
                fz_bug(); /* a Bernoulli mean outside [0, 1] */
    varia_decode(ctx, m, z, N, VARIA_DECODE_PARAMS, out, lv);
    st = varia_sample(ctx, m, N, 12345, 1.0f, out, zo);
    if (st == VARIA_OK && bern)
        for (int64_t i = 0; i < N * D; i++)
            if (!(out[i] >= 0.0f && out[i] <= 1.0f))
                fz_bug();
    varia_reconstruct(ctx, m, x, N, out);
    varia_encode_sample(ctx, m, x, N, 99, zo);
    if (varia_interpolate_latents(z, z + L, L, 3, VARIA_SLERP, zi) != VARIA_OK)
        fz_bug();
    int total = 0, per_layer[8];
    varia_active_units(ctx, m, x, N, &total, per_layer);

    varia_eval_opts opts = {.k = 3, .seed = 7, .binarize = VARIA_BIN_NONE};
    varia_eval_row rows[NE];
    varia_eval_summary sum;
    st = varia_eval(ctx, m, x, NE, &opts, rows, &sum);
    if (st == VARIA_OK) {
        if (sum.n != NE || sum.k != 3 || sum.active_units < 0)
            fz_bug();
        for (int i = 0; i < NE; i++)
            if (!isfinite(rows[i].log_px) || !isfinite(rows[i].elbo))
                fz_bug(); /* eval promises finite results or VARIA_ERR_NONFINITE */
    }
    fz_touch(varia_ctx_message(ctx));
done:
    free(z);
    free(zo);
    free(zi);
    free(x);
    free(out);
    free(lv);
}

/* A context for one iteration: single-threaded, so runs are deterministic. */
static FZ_UNUSED varia_ctx *fz_ctx(void)
{
    varia_ctx *ctx = varia_ctx_new();
    if (!ctx)
        abort();
    varia_ctx_set_threads(ctx, 1);
    return ctx;
}

/* Load the model at mpath. A failed load must leave the output NULL; a loaded
 * model must run every operation (fz_exercise_model) and free cleanly. */
static FZ_UNUSED void fz_load_and_exercise(const char *mpath)
{
    varia_ctx *ctx = fz_ctx();
    varia_model *m = NULL;
    varia_status st = varia_model_load(ctx, mpath, &m);
    fz_touch(varia_ctx_message(ctx));
    fz_touch(varia_ctx_warnings(ctx));
    fz_touch(varia_status_name(st));
    if (st == VARIA_OK) {
        if (!m)
            fz_bug();
        fz_exercise_model(ctx, m);
        varia_model_free(m);
    } else if (m) {
        fz_bug();
    }
    varia_ctx_free(ctx);
}

#endif
