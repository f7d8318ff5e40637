/* varia_model_load_memory against varia_model_load_ex: shipped models loaded
 * from bytes sample the same bits as from files, and broken inputs (cut,
 * lying, empty, NaN, a tensor or the weights block missing) get the same
 * status from both loaders. Each broken case is written to a scratch folder
 * and also handed over as bytes, so the two loaders see the same input. */
#include "tap.h"

#include <varia.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One model both ways: its manifest text and weights bytes. */
typedef struct model_bytes {
    char *manifest, *weights;
    size_t manifest_len, weights_len;
} model_bytes;

/* Read root/models/name/{model.json, model.safetensors}. Returns 1 on success
 * (free both buffers), 0 with nothing allocated. */
static int read_model(const char *root, const char *name, model_bytes *b)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s/model.json", root, name);
    b->manifest = tap_read_file(path, &b->manifest_len);
    snprintf(path, sizeof path, "%s/models/%s/model.safetensors", root, name);
    b->weights = tap_read_file(path, &b->weights_len);
    if (b->manifest && b->weights)
        return 1;
    free(b->manifest);
    free(b->weights);
    return 0;
}

/* n samples (seed 7, temperature 0.8) of model m into a fresh buffer of
 * *floats floats (the caller frees it); NULL when sampling fails. */
static float *samples(varia_ctx *ctx, const varia_model *m, int64_t n, size_t *floats)
{
    varia_info info;
    varia_model_info(m, &info);
    *floats = (size_t)(n * info.data_size);
    float *x = malloc(*floats * sizeof *x);
    if (x && varia_sample(ctx, m, n, 7, 0.8f, x, NULL) != VARIA_OK) {
        free(x);
        x = NULL;
    }
    return x;
}

/* A shipped model from its files and from its bytes: the same samples, bit
 * for bit (both loaders bind the same tensors to the same kernels). */
static void same_samples(const char *root, const char *name)
{
    model_bytes b;
    if (!read_model(root, name, &b)) {
        tap_skip(name, "model files not found");
        return;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s/model.json", root, name);
    varia_ctx *ctx = varia_ctx_new();
    varia_model *mf = NULL, *mm = NULL;
    varia_status sf = varia_model_load(ctx, path, &mf);
    varia_status sm = varia_model_load_memory(ctx, b.manifest, b.manifest_len, b.weights, b.weights_len, 0, &mm);
    free(b.manifest); /* the loader copied both: the model must not need them */
    free(b.weights);
    size_t nf = 0, nm = 0;
    float *xf = sf == VARIA_OK ? samples(ctx, mf, 9, &nf) : NULL;
    float *xm = sm == VARIA_OK ? samples(ctx, mm, 9, &nm) : NULL;
    tap_okf(xf && xm && nf == nm && !memcmp(xf, xm, nf * sizeof *xf), "%s: file and memory loads sample the same bits "
            "(%s, %s)", name, varia_status_name(sf), varia_status_name(sm));
    free(xf);
    free(xm);
    varia_model_free(mf);
    varia_model_free(mm);
    varia_ctx_free(ctx);
}

/* Write manifest and weights into dir (as model.json and model.safetensors),
 * load them both ways and check that both fail with `want`, and that the
 * memory path's message holds needle (NULL: any). */
static void both_fail(const char *dir, const char *what, const char *manifest, size_t mlen, const char *weights,
                      size_t wlen, varia_status want, const char *needle)
{
    char mpath[1024], wpath[1024];
    snprintf(mpath, sizeof mpath, "%s/model.json", dir);
    snprintf(wpath, sizeof wpath, "%s/model.safetensors", dir);
    if (!tap_write_file(mpath, manifest, mlen) || !tap_write_file(wpath, weights, wlen)) {
        tap_check(0, "cannot write the scratch model");
        return;
    }
    varia_ctx *cf = varia_ctx_new(), *cm = varia_ctx_new();
    varia_model *mf = NULL, *mm = NULL;
    varia_status sf = varia_model_load(cf, mpath, &mf);
    varia_status sm = varia_model_load_memory(cm, manifest, mlen, weights, wlen, 0, &mm);
    const char *msg = varia_ctx_message(cm);
    tap_okf(sf == want && sm == want && !mf && !mm && (!needle || strstr(msg, needle)),
            "%s: file %s, memory %s (%s)", what, varia_status_name(sf), varia_status_name(sm), msg);
    varia_model_free(mf);
    varia_model_free(mm);
    varia_ctx_free(cf);
    varia_ctx_free(cm);
}

/* The data region's first byte in a safetensors buffer of len bytes, 0 when
 * the header length does not fit. */
static size_t data_start(const char *w, size_t len)
{
    uint64_t hlen = 0;
    for (int i = 7; i >= 0 && len >= 8; i--)
        hlen = (hlen << 8) | (unsigned char)w[i];
    return len >= 8 && hlen <= len - 8 ? (size_t)(8 + hlen) : 0;
}

/* Broken copies of vae-mnist-dyn, each through both loaders. */
static void broken_cases(const char *root, const char *dir)
{
    model_bytes b;
    if (!read_model(root, "vae-mnist-dyn", &b)) {
        tap_skip("broken cases", "vae-mnist-dyn not found");
        return;
    }
    char *w = malloc(b.weights_len);
    size_t start = data_start(b.weights, b.weights_len);
    if (!w || !start) {
        tap_check(0, "vae-mnist-dyn's safetensors header");
        free(w);
        free(b.manifest);
        free(b.weights);
        return;
    }
    both_fail(dir, "weights cut by 100 bytes", b.manifest, b.manifest_len, b.weights, b.weights_len - 100,
              VARIA_ERR_TRUNCATED, NULL);
    memcpy(w, b.weights, b.weights_len);
    memset(w, 0xff, 8); /* the header length now lies: far past the buffer */
    both_fail(dir, "lying header length", b.manifest, b.manifest_len, w, b.weights_len, VARIA_ERR_HEADER, NULL);
    both_fail(dir, "empty weights", b.manifest, b.manifest_len, "", 0, VARIA_ERR_HEADER, NULL);
    both_fail(dir, "empty manifest", "", 0, b.weights, b.weights_len, VARIA_ERR_JSON, NULL);
    memcpy(w, b.weights, b.weights_len);
    memcpy(w + start + 4 * 1000, "\x00\x00\xc0\x7f", 4); /* a quiet NaN, little-endian */
    both_fail(dir, "a NaN weight", b.manifest, b.manifest_len, w, b.weights_len, VARIA_ERR_NONFINITE, "element 1000");
    memcpy(w, b.weights, b.weights_len);
    char *name = strstr(w + 8, "\"enc1.hidden.0.weight\"");
    if (name && name < w + start)
        name[1] = 'X'; /* same length: the header still tiles, but the architecture's tensor is gone */
    both_fail(dir, "a tensor renamed away", b.manifest, b.manifest_len, w, b.weights_len, VARIA_ERR_MISSING,
              "enc1.hidden.0.weight");
    char *no_weights = strdup(b.manifest), *key = no_weights ? strstr(no_weights, "\"weights\"") : NULL;
    if (key)
        key[1] = 'W'; /* "Weights": the manifest has no weights block */
    both_fail(dir, "manifest without its weights", key ? no_weights : "", key ? strlen(no_weights) : 0, b.weights,
              b.weights_len, key ? VARIA_ERR_MANIFEST : VARIA_ERR_JSON, key ? "\"weights\"" : NULL);
    free(no_weights);
    free(w);
    free(b.manifest);
    free(b.weights);
}

/* Arguments only the bytes loader has. */
static void argument_cases(void)
{
    varia_ctx *ctx = varia_ctx_new();
    varia_model *m = (varia_model *)&m; /* must come back NULL */
    varia_status st = varia_model_load_memory(ctx, NULL, 10, NULL, 0, 0, &m);
    tap_okf(st == VARIA_ERR_ARG && !m, "NULL manifest with a length -> %s", varia_status_name(st));
    st = varia_model_load_memory(ctx, "{}", 2, NULL, 5, 0, &m);
    tap_okf(st == VARIA_ERR_ARG, "NULL weights with a length -> %s", varia_status_name(st));
    st = varia_model_load_memory(ctx, "{}", 2, NULL, 0, 8, &m);
    tap_okf(st == VARIA_ERR_ARG && strstr(varia_ctx_message(ctx), "flags"), "unknown flag -> %s (%s)",
            varia_status_name(st), varia_ctx_message(ctx));
    st = varia_model_load_memory(ctx, "[1]", 3, NULL, 0, 0, &m);
    tap_okf(st == VARIA_ERR_MANIFEST && strstr(varia_ctx_message(ctx), "<memory>"),
            "a manifest that is no object -> %s (%s)", varia_status_name(st), varia_ctx_message(ctx));
    varia_ctx_free(ctx);
}

int main(void)
{
    const char *root = getenv("VARIA_SOURCE_ROOT");
    if (!root)
        root = ".";
    char dir[] = "/tmp/varia-load-memory-XXXXXX";
    if (!mkdtemp(dir)) {
        tap_check(0, "mkdtemp");
        return 1;
    }
    same_samples(root, "vae-mnist-dyn");
    same_samples(root, "vae-conv-mnist");
    same_samples(root, "draw-mnist");
    same_samples(root, "dcgan-fashion");
    broken_cases(root, dir);
    argument_cases();
    char path[1100];
    snprintf(path, sizeof path, "%s/model.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    rmdir(dir);
    return tap_done();
}
