/* The native side of the WebAssembly comparison (tests/web/test_wasm_node.mjs):
 * runs one operation of a model through the same API calls the CLI and
 * web/lib/varia_web.c make, reading its input floats from stdin and writing
 * its outputs to stdout as raw little-endian float32 (eval: float64), so the
 * Node test compares the wasm module's results with these element by element.
 *
 * Usage: varia_dump MODEL.json OP ARGS... < in.f32 > out.bin
 *   sample N SEED TEMP          -> x[N*D] then z[N*L]
 *   decode N                    z[N*L] -> x[N*D]
 *   encode N                    x[N*D] -> mean[N*L] (a flow's: through the flow)
 *   eval N K SEED               x[N*D] -> nll, stderr, elbo, recon, kl (float64)
 *   interpolate STEPS SLERP     za[L] zb[L] -> x[STEPS*D]
 *   decode_steps N              z[N*L] -> x[N*T*D]
 *   invert N SEED STARTS ITERS  x[N*D] -> z[N*L]
 *   sample_seq N LENGTH SEED TEMP -> x[N*LENGTH*F]
 * VARIA_DUMP_KERNELS=generic (or avx2) runs the products on that kernel table
 * instead of the best one, to see which differences are the products'.
 * Exit status: 0, the varia_status of a failing call, or 2 for bad usage. */
#include <varia.h>

#include "kernels.h" /* varia_kernels_use */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* count floats from stdin into a fresh buffer (the caller frees it); NULL
 * when stdin holds fewer. */
static float *read_floats(size_t count)
{
    float *p = malloc((count ? count : 1) * sizeof *p);
    if (p && fread(p, sizeof *p, count, stdin) != count) {
        free(p);
        p = NULL;
    }
    return p;
}

/* Write count values of size bytes each at p to stdout; 1 on success. */
static int write_out(const void *p, size_t size, size_t count)
{
    return fwrite(p, size, count, stdout) == count;
}

/* argv[i] as an integer, or -1 when absent. */
static long long arg(int argc, char **argv, int i)
{
    return i < argc ? strtoll(argv[i], NULL, 10) : -1;
}

/* argv[i] as a float, or -1 when absent (a temperature the runtime refuses). */
static float farg(int argc, char **argv, int i)
{
    return i < argc ? (float)atof(argv[i]) : -1.0f;
}

/* The latent web/lib/varia_web.c's encode returns, as `varia interpolate`
 * encodes an image endpoint: the posterior means, or for a flow posterior
 * q_0's mean through the flow (varia_encode_sample_ex at temperature 0). */
static varia_status encode_latent(varia_ctx *ctx, const varia_model *m, const float *x, int64_t n, float *z)
{
    varia_info in;
    varia_status st = varia_model_info(m, &in);
    varia_opts zero = {.size = sizeof zero, .flags = VARIA_OPT_TEMPERATURE, .temperature = 0.0f};
    if (st == VARIA_OK && in.flow_steps > 0)
        return varia_encode_sample_ex(ctx, m, x, n, &zero, z);
    return st == VARIA_OK ? varia_encode(ctx, m, x, n, z, NULL) : st;
}

/* The operations that read one buffer and write one: decode, encode,
 * decode_steps, invert. in_per/out_per: floats per example. */
static varia_status one_to_one(varia_ctx *ctx, const varia_model *m, const char *op, int argc, char **argv,
                               int64_t n, int64_t in_per, int64_t out_per)
{
    float *in = read_floats((size_t)(n * in_per)), *out = malloc((size_t)(n * out_per) * sizeof *out + 1);
    varia_status st = in && out ? VARIA_OK : VARIA_ERR_IO;
    if (st == VARIA_OK && !strcmp(op, "decode"))
        st = varia_decode(ctx, m, in, n, VARIA_DECODE_MEAN, out, NULL);
    else if (st == VARIA_OK && !strcmp(op, "encode"))
        st = encode_latent(ctx, m, in, n, out);
    else if (st == VARIA_OK && !strcmp(op, "decode_steps"))
        st = varia_decode_steps(ctx, m, in, n, out);
    else if (st == VARIA_OK) { /* invert */
        varia_invert_opts o = {.size = sizeof o, .seed = (uint64_t)arg(argc, argv, 4), .starts = arg(argc, argv, 5),
                               .steps = arg(argc, argv, 6)};
        st = varia_invert(ctx, m, in, n, &o, out, NULL);
    }
    if (st == VARIA_OK && !write_out(out, sizeof *out, (size_t)(n * out_per)))
        st = VARIA_ERR_IO;
    free(in);
    free(out);
    return st;
}

/* sample, sample_seq, eval and interpolate, each with its own buffers. */
static varia_status other(varia_ctx *ctx, const varia_model *m, const varia_info *in, const char *op, int argc,
                          char **argv, int64_t n)
{
    int64_t D = in->data_size, L = in->latent_size;
    varia_status st = VARIA_ERR_IO;
    if (!strcmp(op, "sample")) {
        float *x = malloc((size_t)(n * (D + L)) * sizeof *x);
        if (x && (st = varia_sample(ctx, m, n, (uint64_t)arg(argc, argv, 4), farg(argc, argv, 5), x, x + n * D))
            == VARIA_OK && !write_out(x, sizeof *x, (size_t)(n * (D + L))))
            st = VARIA_ERR_IO;
        free(x);
    } else if (!strcmp(op, "sample_seq")) {
        int64_t T = arg(argc, argv, 4);
        varia_opts o = {.size = sizeof o, .flags = VARIA_OPT_TEMPERATURE, .seed = (uint64_t)arg(argc, argv, 5),
                        .temperature = farg(argc, argv, 6), .seq_len = T};
        float *x = malloc((size_t)(n * T * D) * sizeof *x);
        if (x && (st = varia_sample_ex(ctx, m, n, &o, x, NULL)) == VARIA_OK && !write_out(x, sizeof *x, (size_t)(n * T * D)))
            st = VARIA_ERR_IO;
        free(x);
    } else if (!strcmp(op, "eval")) {
        varia_eval_opts eo = {.k = arg(argc, argv, 4), .seed = (uint64_t)arg(argc, argv, 5)};
        varia_eval_summary s;
        float *x = read_floats((size_t)(n * D));
        if (x && (st = varia_eval(ctx, m, x, n, &eo, NULL, &s)) == VARIA_OK) {
            double v[5] = {s.nll_mean, s.nll_stderr, s.elbo, s.recon, s.kl};
            st = write_out(v, sizeof *v, 5) ? VARIA_OK : VARIA_ERR_IO;
        }
        free(x);
    } else if (!strcmp(op, "interpolate")) { /* n is the steps */
        float *z = read_floats((size_t)(2 * L)), *path = malloc((size_t)(n * L) * sizeof *path);
        float *x = malloc((size_t)(n * D) * sizeof *x);
        if (z && path && x &&
            (st = varia_interpolate_latents(z, z + L, L, n, arg(argc, argv, 4) ? VARIA_SLERP : VARIA_LERP, path)) == VARIA_OK &&
            (st = varia_decode(ctx, m, path, n, VARIA_DECODE_MEAN, x, NULL)) == VARIA_OK)
            st = write_out(x, sizeof *x, (size_t)(n * D)) ? VARIA_OK : VARIA_ERR_IO;
        free(z);
        free(path);
        free(x);
    } else {
        st = VARIA_ERR_ARG;
    }
    return st;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: varia_dump MODEL.json OP N [ARGS...] < in > out\n");
        return 2;
    }
    const char *kernels = getenv("VARIA_DUMP_KERNELS");
    if (kernels && !varia_kernels_use(kernels)) {
        fprintf(stderr, "varia_dump: this CPU has no kernel table '%s'\n", kernels);
        return 2;
    }
    varia_ctx *ctx = varia_ctx_new();
    varia_model *m = NULL;
    varia_info in = {0};
    varia_status st = varia_model_load(ctx, argv[1], &m);
    if (st == VARIA_OK)
        st = varia_model_info(m, &in);
    const char *op = argv[2];
    int64_t n = arg(argc, argv, 3);
    if (st == VARIA_OK && n < 1)
        st = VARIA_ERR_ARG;
    int64_t T = in.latent_shape.rank == 2 ? in.latent_shape.dims[0] : 1;
    if (st == VARIA_OK && !strcmp(op, "decode"))
        st = one_to_one(ctx, m, op, argc, argv, n, in.latent_size, in.data_size);
    else if (st == VARIA_OK && (!strcmp(op, "encode") || !strcmp(op, "invert")))
        st = one_to_one(ctx, m, op, argc, argv, n, in.data_size, in.latent_size);
    else if (st == VARIA_OK && !strcmp(op, "decode_steps"))
        st = one_to_one(ctx, m, op, argc, argv, n, in.latent_size, T * in.data_size);
    else if (st == VARIA_OK)
        st = other(ctx, m, &in, op, argc, argv, n);
    if (st != VARIA_OK)
        fprintf(stderr, "varia_dump: %s: %s\n", varia_status_name(st), varia_ctx_message(ctx));
    varia_model_free(m);
    varia_ctx_free(ctx);
    return (int)st;
}
