/* CLI commands that look at or generate from a model: info, sample, interpolate,
 * encode, decode, reconstruct. */
#include "args.h"
#include "commands.h"
#include "npy_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int wants_help(int argc, char **argv, const char *usage)
{
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 1;
        }
    return 0;
}

/* Common prologue: parse options, check the positional count, load the model. */
static int open_cmd(int argc, char **argv, const char *usage, cli_opt *opts, const char **pos, int npos_want,
                    varia_ctx **ctx, varia_model **m, varia_info *info)
{
    int npos;
    if (!cli_parse(argc, argv, 2, opts, pos, npos_want, &npos))
        return VARIA_ERR_ARG;
    if (npos != npos_want)
        return cli_usage_error(argv[1], "expected %d argument(s), got %d\n%s", npos_want, npos, usage);
    if (!(*ctx = varia_ctx_new()))
        return VARIA_ERR_NOMEM;
    return cli_load_model(*ctx, pos[0], m, info);
}

static void print_shape(const varia_shape *s)
{
    for (int i = 0; i < s->rank; i++)
        printf("%s%lld", i ? "x" : "", (long long)s->dims[i]);
}

static const char *info_usage = "usage: varia info MODEL.json\n  Print the model's family, shapes, size and provenance.\n";

int cmd_info(int argc, char **argv)
{
    if (wants_help(argc, argv, info_usage))
        return 0;
    cli_opt opts[] = {{0}};
    const char *pos[1];
    varia_ctx *ctx = NULL;
    varia_model *m = NULL;
    varia_info in;
    int rc = open_cmd(argc, argv, info_usage, opts, pos, 1, &ctx, &m, &in);
    if (rc == 0) {
        int seq = varia_model_can(m, VARIA_NEEDS_SEQ_LEN);
        printf("family:      %s\ndata shape:  ", in.family);
        print_shape(&in.data_shape);
        printf("%s\nlatent:      %lld%s", seq ? " per frame (sequences of any length: seq_len per call)" : "",
               (long long)in.latent_size, seq ? " per step" : "");
        if (in.n_stochastic > 1) { /* the top one is the latent above */
            printf(" (stochastic layers:");
            for (int l = 0; l < in.n_stochastic; l++)
                printf(" %lld", (long long)in.layer_sizes[l]);
            printf(")");
        }
        static const char *const lik[] = {"none (decoder only: score it with AIS)", "bernoulli", "gaussian"};
        printf("\nlikelihood:  %s\nencoder:     %s\ntensors:     %lld\nparameters:  %lld\n",
               lik[in.likelihood <= VARIA_LIK_GAUSSIAN ? in.likelihood : 0], in.has_encoder ? "yes" : "no",
               (long long)in.n_tensors, (long long)in.n_params);
        if (in.flow_steps > 0) /* the posterior: q_0 diagonal Gaussian, then the flow */
            printf("posterior:   gaussian + %s flow, %d step%s (%s)\n", in.flow, in.flow_steps, in.flow_steps > 1 ? "s" : "",
                   in.flow_amortized ? "amortized: the encoder emits them" : "global parameters");
        else if (in.has_encoder)
            printf("posterior:   gaussian (diagonal)\n");
        const char *prov = varia_model_provenance(m);
        printf("provenance:  %s\n", prov ? prov : "(none)");
    }
    varia_model_free(m);
    varia_ctx_free(ctx);
    return rc;
}

static const char *sample_usage =
    "usage: varia sample MODEL.json -n N [--seed S] [--temperature T] [--cols C] [--steps] [--length L]\n"
    "                    -o FILE.png|FILE.npy\n"
    "  Draw N samples (z from the prior, scaled by T) and write E[x|z] as a PNG grid, or, for\n"
    "  -o FILE.npy, the float32 values themselves as a NumPy array [N, C, H, W] (images) or [N, D].\n"
    "  --steps (DRAW): one row per sample, one column per step: the canvas as it is painted\n"
    "  (.npy: [N, T, C, H, W], the canvas after each of the T steps).\n"
    "  --length L (sequence models, required): N sequences of L steps drawn frame by frame,\n"
    "  written as piano rolls (time on x, pitch on y, the highest at the top), one per sample, stacked;\n"
    "  as the 0/1 frames in a .npy [N, L, F] (which 'varia eval --data' reads back); or, for\n"
    "  -o FILE.mid and frames of 88 notes (MIDI 21-108), as a MIDI file to listen to: one frame\n"
    "  a quarter note at 120 bpm, the sequences one after another, a silent frame between them.\n";

/* --steps: the canvases of the samples' latents z[n * latent] written to
 * path, as a PNG of one row of T per sample, or (npy) as a .npy [n, T,
 * shape...]. Returns 0 or the exit code of the printed error. */
static int write_steps(varia_ctx *ctx, const varia_model *m, const varia_info *in, const float *z, int64_t n,
                       const char *path, int npy)
{
    int64_t T = in->latent_shape.rank == 2 ? in->latent_shape.dims[0] : 1;
    int rc = npy ? 0 : cli_check_grid(ctx, n * T, &in->data_shape, (int)T, "the steps grid");
    float *c = rc ? NULL : malloc((size_t)(n * T * in->data_size) * sizeof(float));
    if (!rc && !c)
        rc = VARIA_ERR_NOMEM;
    if (!rc)
        rc = cli_report(ctx, varia_decode_steps(ctx, m, z, n, c));
    varia_shape step = {1 + in->data_shape.rank, {T}}; /* one sample's canvases: [T, shape...] */
    for (int i = 0; i < in->data_shape.rank && i + 1 < VARIA_MAX_RANK; i++)
        step.dims[1 + i] = in->data_shape.dims[i];
    if (!rc && npy && in->data_shape.rank >= VARIA_MAX_RANK) /* [T, shape...] must fit a varia_shape */
        rc = cli_error(VARIA_ERR_SHAPE, "--steps to a .npy needs examples of rank below %d", VARIA_MAX_RANK);
    if (!rc)
        rc = npy ? cli_write_examples_npy(path, c, n, &step) : cli_write_grid(ctx, path, c, n * T, &in->data_shape, (int)T);
    free(c);
    return rc;
}

int cmd_sample(int argc, char **argv)
{
    if (wants_help(argc, argv, sample_usage))
        return 0;
    cli_opt opts[] = {{"-n", "--count", 1, 0, 0}, {"--seed", 0, 1, 0, 0}, {"--temperature", "-t", 1, 0, 0},
                      {"--cols", 0, 1, 0, 0}, {"-o", "--output", 1, 0, 0}, {"--steps", 0, 0, 0, 0},
                      {"--length", 0, 1, 0, 0}, {0}};
    const char *pos[1];
    int64_t n = 64, cols = 0, length = 0;
    uint64_t seed = 0;
    double temp = 1.0;
    if (!cli_parse(argc, argv, 2, opts, pos, 1, &(int){0}) || !cli_int(opts, "-n", 1, 1 << 20, &n) ||
        !cli_u64(opts, "--seed", &seed) || !cli_float(opts, "--temperature", 0, 100, &temp) ||
        !cli_int(opts, "--cols", 1, 4096, &cols) || !cli_int(opts, "--length", 1, 1 << 20, &length))
        return VARIA_ERR_ARG;
    if (!cli_has(opts, "-o"))
        return cli_usage_error("sample", "-o FILE.png or -o FILE.npy is required");
    const char *out = cli_find(opts, "-o")->value;
    varia_ctx *ctx = NULL;
    varia_model *m = NULL;
    varia_info in;
    int rc = open_cmd(argc, argv, sample_usage, opts, pos, 1, &ctx, &m, &in);
    int seq = !rc && varia_model_can(m, VARIA_NEEDS_SEQ_LEN);
    if (!rc && seq != (length > 0))
        rc = cli_usage_error("sample", seq ? "a sequence model needs --length L (steps per sample)"
                                           : "--length is for sequence models; this one is '%s'", in.family);
    int kind = rc ? 0 : cli_out_kind_of("sample", out, CLI_OUT_PNG | CLI_OUT_NPY | (seq ? CLI_OUT_MIDI : 0));
    if (!rc && !kind)
        rc = VARIA_ERR_ARG;
    if (!rc && seq) {
        rc = cli_seq_sample(ctx, m, &in, n, length, seed, temp, out, kind);
        varia_model_free(m);
        varia_ctx_free(ctx);
        return rc;
    }
    int grid_cols = (int)(cols ? cols : (n < 10 ? n : 10));
    if (!rc && kind == CLI_OUT_PNG) /* a grid too large to write is refused before the samples are drawn */
        rc = cli_check_grid(ctx, n, &in.data_shape, grid_cols, "sampling");
    int steps = cli_has(opts, "--steps");
    float *x = rc ? NULL : malloc((size_t)(n * in.data_size) * sizeof(float));
    float *z = rc || !steps ? NULL : malloc((size_t)(n * in.latent_size) * sizeof(float));
    if (!rc && (!x || (steps && !z)))
        rc = VARIA_ERR_NOMEM;
    if (!rc)
        rc = cli_report(ctx, varia_sample(ctx, m, n, seed, (float)temp, x, z));
    if (!rc && steps)
        rc = write_steps(ctx, m, &in, z, n, out, kind == CLI_OUT_NPY);
    else if (!rc && kind == CLI_OUT_NPY)
        rc = cli_write_examples_npy(out, x, n, &in.data_shape);
    else if (!rc)
        rc = cli_write_grid(ctx, out, x, n, &in.data_shape, grid_cols);
    if (!rc)
        printf("wrote %lld samples (seed %llu, temperature %g) to %s\n", (long long)n, (unsigned long long)seed, temp,
               out);
    free(x);
    free(z);
    varia_model_free(m);
    varia_ctx_free(ctx);
    return rc;
}

static const char *interp_usage =
    "usage: varia interpolate MODEL.json A B [--steps N] [--slerp] -o FILE.png|FILE.npy\n"
    "  A and B are each a PNG file, DATASET:INDEX (an example of an IDX/.amat file or\n"
    "  PNG folder), or a latent z:v1,v2,...  Inputs are encoded to their posterior\n"
    "  means; N latents from A to B (lerp, or slerp) are decoded into a strip, or, for\n"
    "  -o FILE.npy, into a float32 NumPy array of E[x|z]: [N, C, H, W] (images) or [N, D].\n";

static int endpoint(varia_ctx *ctx, const varia_model *m, const varia_info *in, const char *spec, float *z)
{
    if (!strncmp(spec, "z:", 2))
        return cli_parse_latent(spec, in->latent_size, z);
    float *x = malloc((size_t)in->data_size * sizeof(float));
    if (!x)
        return VARIA_ERR_NOMEM;
    int rc = cli_load_example(ctx, in, spec, x);
    /* a flow posterior's latent is q_0's mean through the flow, not q_0's mean */
    varia_opts zero = {.size = sizeof zero, .flags = VARIA_OPT_TEMPERATURE, .temperature = 0.0f};
    if (!rc)
        rc = cli_report(ctx, in->flow_steps > 0 ? varia_encode_sample_ex(ctx, m, x, 1, &zero, z)
                                                : varia_encode(ctx, m, x, 1, z, NULL));
    free(x);
    return rc;
}

int cmd_interpolate(int argc, char **argv)
{
    if (wants_help(argc, argv, interp_usage))
        return 0;
    cli_opt opts[] = {{"--steps", "-n", 1, 0, 0}, {"--slerp", 0, 0, 0, 0}, {"-o", "--output", 1, 0, 0}, {0}};
    const char *pos[3];
    int64_t steps = 10;
    if (!cli_parse(argc, argv, 2, opts, pos, 3, &(int){0}) || !cli_int(opts, "--steps", 2, 1024, &steps))
        return VARIA_ERR_ARG;
    if (!cli_has(opts, "-o"))
        return cli_usage_error("interpolate", "-o FILE.png or -o FILE.npy is required");
    const char *out = cli_find(opts, "-o")->value;
    int kind = cli_out_kind_of("interpolate", out, CLI_OUT_PNG | CLI_OUT_NPY);
    if (!kind)
        return VARIA_ERR_ARG;
    varia_ctx *ctx = NULL;
    varia_model *m = NULL;
    varia_info in;
    int rc = open_cmd(argc, argv, interp_usage, opts, pos, 3, &ctx, &m, &in);
    if (!rc && kind == CLI_OUT_PNG)
        rc = cli_check_grid(ctx, steps, &in.data_shape, (int)steps, "encoding the endpoints");
    int64_t L = rc ? 0 : in.latent_size;
    float *z = rc ? NULL : malloc((size_t)((steps + 2) * L) * sizeof(float));
    float *x = rc ? NULL : malloc((size_t)(steps * in.data_size) * sizeof(float));
    if (!rc && (!z || !x))
        rc = VARIA_ERR_NOMEM;
    varia_interp how = cli_has(opts, "--slerp") ? VARIA_SLERP : VARIA_LERP;
    if (!rc)
        rc = endpoint(ctx, m, &in, pos[1], z + steps * L);
    if (!rc)
        rc = endpoint(ctx, m, &in, pos[2], z + (steps + 1) * L);
    if (!rc && varia_interpolate_latents(z + steps * L, z + (steps + 1) * L, L, steps, how, z) != VARIA_OK)
        rc = cli_error(VARIA_ERR_NONFINITE, "the %s path between these latents leaves float range (an element "
                       "beyond 3.4e38); use smaller latents", how == VARIA_SLERP ? "slerp" : "lerp");
    if (!rc)
        rc = cli_report(ctx, varia_decode(ctx, m, z, steps, VARIA_DECODE_MEAN, x, NULL));
    if (!rc)
        rc = kind == CLI_OUT_NPY ? cli_write_examples_npy(out, x, steps, &in.data_shape)
                                 : cli_write_grid(ctx, out, x, steps, &in.data_shape, (int)steps);
    if (!rc)
        printf("wrote a %lld-step %s %s to %s\n", (long long)steps, how == VARIA_SLERP ? "slerp" : "lerp",
               kind == CLI_OUT_NPY ? "path" : "strip", out);
    free(z);
    free(x);
    varia_model_free(m);
    varia_ctx_free(ctx);
    return rc;
}

static const char *encode_usage =
    "usage: varia encode MODEL.json INPUT [--sample [--seed S]]\n"
    "  INPUT is a PNG file or DATASET:INDEX. Prints the top layer's posterior mean and\n"
    "  log-variance as JSON; with --sample also one draw z ~ q(z|x). A model without\n"
    "  an encoder (a GAN) is inverted instead: z* maximising log p(z) + log p(x|z)\n"
    "  (8 starts, 300 steps, the manifest's observation variance) and the mean\n"
    "  squared error of its reconstruction ('varia invert' does a dataset).\n";

static void print_vec(const char *key, const float *v, int64_t L)
{
    printf("\"%s\": [", key);
    for (int64_t j = 0; j < L; j++)
        printf("%s%.9g", j ? ", " : "", (double)v[j]);
    printf("]");
}

/* encode of a model without an encoder: z* by inversion (varia_invert: 8
 * starts, 300 steps, the manifest's observation variance) and the mean
 * squared error of its reconstruction. Frees everything it is given. */
static int encode_inverted(varia_ctx *ctx, varia_model *m, const varia_info *in, float *x, uint64_t seed, float *z)
{
    varia_invert_opts io = {.size = sizeof io, .starts = 8, .steps = 300, .seed = seed};
    double mse = 0.0;
    int rc = cli_report(ctx, varia_invert(ctx, m, x, 1, &io, z, &mse));
    if (!rc) {
        printf("{");
        print_vec("inverted", z, in->latent_size);
        printf(", \"mse\": %.6g}\n", mse);
    }
    free(x);
    varia_model_free(m);
    varia_ctx_free(ctx);
    return rc;
}

int cmd_encode(int argc, char **argv)
{
    if (wants_help(argc, argv, encode_usage))
        return 0;
    cli_opt opts[] = {{"--sample", 0, 0, 0, 0}, {"--seed", 0, 1, 0, 0}, {0}};
    const char *pos[2];
    varia_ctx *ctx = NULL;
    varia_model *m = NULL;
    varia_info in;
    uint64_t seed = 0;
    int rc = open_cmd(argc, argv, encode_usage, opts, pos, 2, &ctx, &m, &in);
    if (!rc && !cli_u64(opts, "--seed", &seed))
        rc = VARIA_ERR_ARG;
    float *x = rc ? NULL : malloc((size_t)(in.data_size + 3 * in.latent_size) * sizeof(float));
    if (!rc && !x)
        rc = VARIA_ERR_NOMEM;
    if (!rc)
        rc = cli_load_example(ctx, &in, pos[1], x);
    float *mean = rc ? NULL : x + in.data_size, *lv = rc ? NULL : mean + in.latent_size;
    if (!rc && !in.has_encoder) /* a GAN: inversion, a point and its reconstruction error */
        return encode_inverted(ctx, m, &in, x, seed, mean);
    if (!rc)
        rc = cli_report(ctx, varia_encode(ctx, m, x, 1, mean, lv));
    if (!rc && cli_has(opts, "--sample"))
        rc = cli_report(ctx, varia_encode_sample(ctx, m, x, 1, seed, lv + in.latent_size));
    if (!rc) {
        printf("{");
        print_vec("mean", mean, in.latent_size);
        printf(", ");
        print_vec("logvar", lv, in.latent_size);
        if (cli_has(opts, "--sample")) {
            printf(", ");
            print_vec("sample", lv + in.latent_size, in.latent_size);
        }
        printf("}\n");
    }
    free(x);
    varia_model_free(m);
    varia_ctx_free(ctx);
    return rc;
}

static const char *decode_usage =
    "usage: varia decode MODEL.json z:v1,v2,... (-o FILE.png | -o FILE.npy | --json [--params])\n"
    "  Decode one latent: E[x|z] as a PNG, a float32 NumPy array [1, C, H, W] (or [1, D]),\n"
    "  or as JSON; with --params the likelihood's parameters instead (logits, or the\n"
    "  Gaussian mean and log-variance).\n";

static int print_decoded(varia_ctx *ctx, const varia_model *m, const varia_info *in, const float *z, int params)
{
    int64_t D = in->data_size;
    float *out = malloc((size_t)(2 * D) * sizeof(float));
    if (!out)
        return VARIA_ERR_NOMEM;
    int rc = cli_report(ctx, varia_decode(ctx, m, z, 1, params ? VARIA_DECODE_PARAMS : VARIA_DECODE_MEAN, out,
                                          out + D));
    if (!rc) {
        printf("{");
        print_vec(!params ? "mean" : in->likelihood == VARIA_LIK_BERNOULLI ? "logits" : "mean", out, D);
        if (params && in->likelihood == VARIA_LIK_GAUSSIAN) {
            printf(", ");
            print_vec("logvar", out + D, D);
        }
        printf("}\n");
    }
    free(out);
    return rc;
}

int cmd_decode(int argc, char **argv)
{
    if (wants_help(argc, argv, decode_usage))
        return 0;
    cli_opt opts[] = {{"-o", "--output", 1, 0, 0}, {"--json", 0, 0, 0, 0}, {"--params", 0, 0, 0, 0}, {0}};
    const char *pos[2];
    if (!cli_parse(argc, argv, 2, opts, pos, 2, &(int){0}))
        return VARIA_ERR_ARG;
    int json = cli_has(opts, "--json") || cli_has(opts, "--params");
    if (!cli_has(opts, "-o") && !json)
        return cli_usage_error("decode", "-o FILE.png, -o FILE.npy or --json is required");
    int kind = json ? 0 : cli_out_kind_of("decode", cli_find(opts, "-o")->value, CLI_OUT_PNG | CLI_OUT_NPY);
    if (!json && !kind)
        return VARIA_ERR_ARG;
    varia_ctx *ctx = NULL;
    varia_model *m = NULL;
    varia_info in;
    int rc = open_cmd(argc, argv, decode_usage, opts, pos, 2, &ctx, &m, &in);
    float *z = rc ? NULL : malloc((size_t)(in.data_size + in.latent_size) * sizeof(float));
    if (!rc && !z)
        rc = VARIA_ERR_NOMEM;
    if (!rc && strncmp(pos[1], "z:", 2))
        rc = cli_usage_error("decode", "the latent must be written z:v1,v2,...");
    if (!rc)
        rc = cli_parse_latent(pos[1], in.latent_size, z);
    if (!rc && kind == CLI_OUT_PNG)
        rc = cli_check_grid(ctx, 1, &in.data_shape, 1, "decoding");
    if (!rc && json)
        rc = print_decoded(ctx, m, &in, z, cli_has(opts, "--params"));
    if (!rc && !json)
        rc = cli_report(ctx, varia_decode(ctx, m, z, 1, VARIA_DECODE_MEAN, z + in.latent_size, NULL));
    if (!rc && !json)
        rc = kind == CLI_OUT_NPY ? cli_write_examples_npy(cli_find(opts, "-o")->value, z + in.latent_size, 1, &in.data_shape)
                                 : cli_write_grid(ctx, cli_find(opts, "-o")->value, z + in.latent_size, 1, &in.data_shape, 1);
    if (!rc && !json)
        printf("wrote E[x|z] of a %lld-value latent to %s\n", (long long)in.latent_size,
               cli_find(opts, "-o")->value);
    free(z);
    varia_model_free(m);
    varia_ctx_free(ctx);
    return rc;
}

static const char *recon_usage =
    "usage: varia reconstruct MODEL.json --data PATH [--limit N] [--stride S] -o FILE.png\n"
    "  Encode N examples (default 10: examples 0, S, 2S, ...; S defaults to 1) to\n"
    "  their posterior means and decode them: the PNG shows the inputs on the top\n"
    "  row, reconstructions below. A sequence model (vrnn) reads PATH as 'varia eval'\n"
    "  does (an .npz or .npy of sequences, or images as rows) and writes piano rolls,\n"
    "  each sequence's above its reconstruction (its posterior means decoded, the\n"
    "  decoder feeding back its own mean frames, as varia decode does), stacked.\n";

int cmd_reconstruct(int argc, char **argv)
{
    if (wants_help(argc, argv, recon_usage))
        return 0;
    cli_opt opts[] = {{"--data", 0, 1, 0, 0}, {"--limit", 0, 1, 0, 0}, {"--stride", 0, 1, 0, 0},
                      {"-o", "--output", 1, 0, 0}, {0}};
    const char *pos[1];
    int64_t n = 10, stride = 1;
    if (!cli_parse(argc, argv, 2, opts, pos, 1, &(int){0}) || !cli_int(opts, "--limit", 1, 1024, &n) ||
        !cli_int(opts, "--stride", 1, 1 << 20, &stride))
        return VARIA_ERR_ARG;
    if (!cli_has(opts, "-o") || !cli_has(opts, "--data"))
        return cli_usage_error("reconstruct", "--data PATH and -o FILE.png are required");
    varia_ctx *ctx = NULL;
    varia_model *m = NULL;
    varia_info in;
    varia_dataset d = {0};
    const char *out_path = cli_find(opts, "-o")->value, *data_path = cli_find(opts, "--data")->value;
    int rc = open_cmd(argc, argv, recon_usage, opts, pos, 1, &ctx, &m, &in);
    if (!rc && varia_model_can(m, VARIA_NEEDS_SEQ_LEN)) {
        rc = stride > 1 ? cli_usage_error("reconstruct", "--stride is for images; this is a sequence model")
                        : cli_seq_reconstruct(ctx, m, &in, data_path, n, out_path);
        varia_model_free(m);
        varia_ctx_free(ctx);
        return rc;
    }
    if (!rc)
        rc = cli_report(ctx, varia_dataset_load(ctx, data_path, (n - 1) * stride + 1, &d));
    int64_t picked = rc ? 0 : (d.n + stride - 1) / stride; /* inputs: examples 0, S, 2S, ... */
    if (!rc)
        rc = cli_check_examples(&in, &d, data_path);
    if (!rc)
        rc = cli_check_grid(ctx, 2 * picked, &in.data_shape, (int)picked, "reconstructing");
    float *x = rc ? NULL : malloc((size_t)(2 * d.n * in.data_size) * sizeof(float));
    if (!rc && !x)
        rc = VARIA_ERR_NOMEM;
    for (int64_t i = 0; !rc && i < picked; i++)
        memcpy(x + i * in.data_size, d.x + i * stride * in.data_size, (size_t)in.data_size * sizeof(float));
    if (!rc)
        rc = cli_report(ctx, varia_reconstruct(ctx, m, x, picked, x + picked * in.data_size));
    if (!rc)
        rc = cli_write_grid(ctx, out_path, x, 2 * picked, &in.data_shape, (int)picked);
    if (!rc)
        printf("wrote %lld example(s) of %s (top row) and their reconstructions (below) to %s\n", (long long)picked,
               data_path, out_path);
    free(x);
    varia_dataset_free(&d);
    varia_model_free(m);
    varia_ctx_free(ctx);
    return rc;
}
