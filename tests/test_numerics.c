/* Extreme but valid inputs: logits of +-1e4, log-variances of +-100 (posterior
 * and Gaussian likelihood), all-zero and all-one images, k = 100000. Every
 * operation must give finite numbers or a clear error, never a silent NaN. */
#include "tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <varia.h>

#define D 4
#define L 2
#define H 3

static char dir[64];

/* The tiny model of docs/format.md section 5 in raw format: all weights w,
 * with the decoder output bias, the posterior scale bias and the likelihood
 * chosen by the caller. */
static varia_model *tiny(varia_ctx *ctx, float w, float out_bias, float scale_bias, const char *lik)
{
    static const struct { const char *name; int d0, d1; } t[] = {
        {"enc1.hidden.0.weight", H, D}, {"enc1.hidden.0.bias", H, 0}, {"enc1.mean.weight", L, H},
        {"enc1.mean.bias", L, 0},       {"enc1.scale.weight", L, H},  {"enc1.scale.bias", L, 0},
        {"dec1.hidden.0.weight", H, L}, {"dec1.hidden.0.bias", H, 0}, {"dec1.out.weight", D, H},
        {"dec1.out.bias", D, 0}};
    char path[128];
    snprintf(path, sizeof path, "%s/m.bin", dir);
    FILE *b = fopen(path, "wb");
    snprintf(path, sizeof path, "%s/m.json", dir);
    FILE *j = fopen(path, "w");
    fprintf(j, "{\"format\": \"varia\", \"version\": \"1.0\", \"family\": \"vae\", \"data\": {\"shape\": [%d]},"
               "\"architecture\": {\"likelihood\": %s, \"layers\": [{\"latent\": %d, \"encoder\": [%d],"
               "\"decoder\": [%d]}]}, \"weights\": {\"format\": \"raw\", \"file\": \"m.bin\", \"tensors\": {",
            D, lik, L, H, H);
    long off = 0;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int n = t[i].d0 * (t[i].d1 ? t[i].d1 : 1);
        float v = !strcmp(t[i].name, "dec1.out.bias") ? out_bias : !strcmp(t[i].name, "enc1.scale.bias") ? scale_bias : w;
        for (int k = 0; k < n; k++)
            fwrite(&v, sizeof v, 1, b);
        if (t[i].d1)
            fprintf(j, "%s\"%s\": {\"dtype\": \"F32\", \"shape\": [%d, %d], \"data_offsets\": [%ld, %ld]}", i ? "," : "",
                    t[i].name, t[i].d0, t[i].d1, off, off + 4L * n);
        else
            fprintf(j, "%s\"%s\": {\"dtype\": \"F32\", \"shape\": [%d], \"data_offsets\": [%ld, %ld]}", i ? "," : "",
                    t[i].name, t[i].d0, off, off + 4L * n);
        off += 4L * n;
    }
    fprintf(j, "}}}\n");
    fclose(b);
    fclose(j);
    varia_model *m = NULL;
    if (varia_model_load(ctx, path, &m) != VARIA_OK)
        printf("# load failed: %s\n", varia_ctx_message(ctx));
    return m;
}

static int finite_all(const float *v, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

/* Run every operation; each must succeed with finite output, or fail with
 * VARIA_ERR_NONFINITE and a message (never a silent NaN). (No sign check on
 * L_k: where p(x|z) is 1, log p(x) = 0 and one realisation may exceed it.) */
static int all_ops_safe(varia_ctx *ctx, const varia_model *m, int64_t k)
{
    float zeros[D] = {0}, ones[D] = {1, 1, 1, 1}, x[2 * D], mean[2 * L], lv[2 * L], out[2 * D], z[2 * L];
    memcpy(x, zeros, sizeof zeros);
    memcpy(x + D, ones, sizeof ones);
    int ok = 1;
    varia_status st = varia_encode(ctx, m, x, 2, mean, lv);
    ok &= st == VARIA_OK ? finite_all(mean, 2 * L) && finite_all(lv, 2 * L) : st == VARIA_ERR_NONFINITE;
    st = varia_sample(ctx, m, 2, 1, 1.0f, out, z);
    ok &= st == VARIA_OK ? finite_all(out, 2 * D) : st == VARIA_ERR_NONFINITE;
    float big[2 * L] = {1e30f, -1e30f, 3e38f, -3e38f};
    st = varia_decode(ctx, m, big, 2, VARIA_DECODE_PARAMS, out, NULL);
    ok &= st == VARIA_OK ? finite_all(out, 2 * D) : st == VARIA_ERR_NONFINITE;
    varia_eval_opts o = {.k = k, .seed = 2, .binarize = VARIA_BIN_NONE};
    varia_eval_row rows[2];
    varia_eval_summary s;
    st = varia_eval(ctx, m, x, 2, &o, rows, &s);
    ok &= st == VARIA_OK ? isfinite(rows[0].log_px) && isfinite(rows[1].log_px) && isfinite(s.elbo) &&
                               isfinite(s.kl)
                         : st == VARIA_ERR_NONFINITE && *varia_ctx_message(ctx);
    return ok;
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/varia-num-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    varia_ctx *ctx = varia_ctx_new();
    const char *bern = "{\"type\": \"bernoulli\"}";
    struct { const char *name; float w, out_bias, scale_bias; const char *lik; int64_t k; } cases[] = {
        {"logits +1e4, all-zero and all-one images", 0.1f, 1e4f, 0.0f, bern, 100},
        {"logits -1e4", 0.1f, -1e4f, 0.0f, bern, 100},
        {"posterior log-variance +100", 0.1f, 0.0f, 100.0f, bern, 100},
        {"posterior log-variance -100", 0.1f, 0.0f, -100.0f, bern, 100},
        {"weights of 1e4 (saturated tanh everywhere)", 1e4f, 0.0f, 0.0f, bern, 100},
        {"Gaussian likelihood, log-variance +100", 0.1f, 0.0f, 0.0f,
         "{\"type\": \"gaussian\", \"variance\": \"fixed\", \"log_var\": 100}", 100},
        {"Gaussian likelihood, log-variance -100", 0.1f, 0.0f, 0.0f,
         "{\"type\": \"gaussian\", \"variance\": \"fixed\", \"log_var\": -100}", 100},
        {"k = 100000", 0.1f, 0.0f, 0.0f, bern, 100000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        varia_model *m = tiny(ctx, cases[i].w, cases[i].out_bias, cases[i].scale_bias, cases[i].lik);
        char name[160];
        snprintf(name, sizeof name, "%s: finite results or a clear error", cases[i].name);
        tap_check(m && all_ops_safe(ctx, m, cases[i].k), name);
        varia_model_free(m);
    }
    char path[128];
    snprintf(path, sizeof path, "%s/m.bin", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/m.json", dir);
    unlink(path);
    rmdir(dir);
    varia_ctx_free(ctx);
    return tap_done();
}
