/* Option parsing and shared helpers for the varia CLI. */
#include "args.h"
#include "cli_mpi.h"

#include <sys/stat.h>

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Flags for varia_model_load_ex, set by options every model-loading command
 * takes (kept here rather than in each command's option table). */
static uint32_t load_flags;

cli_opt *cli_find(cli_opt *opts, const char *name)
{
    for (cli_opt *o = opts; o->name; o++)
        if (!strcmp(o->name, name) || (o->alias && !strcmp(o->alias, name)))
            return o;
    return NULL;
}

int cli_has(cli_opt *opts, const char *name)
{
    cli_opt *o = cli_find(opts, name);
    return o && o->present;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "varia %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'varia %s --help')\n", cmd);
    return VARIA_ERR_ARG;
}

int cli_parse(int argc, char **argv, int first, cli_opt *opts, const char **pos, int max_pos, int *npos)
{
    *npos = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] != '\0' && !(a[1] >= '0' && a[1] <= '9')) {
            cli_opt *o = cli_find(opts, a);
            if (!o && !strcmp(a, "--allow-outside-weights") && strcmp(argv[first - 1], "train")) {
                load_flags |= VARIA_LOAD_ALLOW_OUTSIDE;
                continue;
            }
            if (!o)
                return cli_usage_error(argv[first - 1], "unknown option '%s'", a), 0;
            o->present = 1;
            if (o->takes_value) {
                if (i + 1 >= argc)
                    return cli_usage_error(argv[first - 1], "option '%s' needs a value", a), 0;
                o->value = argv[++i];
            }
        } else if (*npos < max_pos) {
            pos[(*npos)++] = a;
        } else {
            return cli_usage_error(argv[first - 1], "unexpected argument '%s'", a), 0;
        }
    }
    return 1;
}

int cli_int(cli_opt *opts, const char *name, int64_t lo, int64_t hi, int64_t *out)
{
    cli_opt *o = cli_find(opts, name);
    if (!o || !o->present)
        return 1;
    char *end;
    errno = 0;
    long long v = strtoll(o->value, &end, 10);
    if (errno || end == o->value || *end || v < lo || v > hi) {
        fprintf(stderr, "varia: %s must be an integer in [%lld, %lld], got '%s'\n", name, (long long)lo,
                (long long)hi, o->value);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_u64(cli_opt *opts, const char *name, uint64_t *out)
{
    cli_opt *o = cli_find(opts, name);
    if (!o || !o->present)
        return 1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(o->value, &end, 10);
    if (errno || end == o->value || *end || o->value[0] == '-') {
        fprintf(stderr, "varia: %s must be a non-negative integer, got '%s'\n", name, o->value);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_float(cli_opt *opts, const char *name, double lo, double hi, double *out)
{
    cli_opt *o = cli_find(opts, name);
    if (!o || !o->present)
        return 1;
    char *end;
    double v = strtod(o->value, &end);
    if (end == o->value || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "varia: %s must be a number in [%g, %g], got '%s'\n", name, lo, hi, o->value);
        return 0;
    }
    *out = v;
    return 1;
}

/* Print "varia: NAME: msg" as one write (so that mpirun's forwarding of
 * several ranks' stderr cannot interleave within a line), saying which rank
 * failed in an MPI job of several. */
static void error_line(varia_status st, const char *msg)
{
    char rank[48] = "";
    if (cli_mpi_size() > 1)
        snprintf(rank, sizeof rank, " (rank %d of %d)", cli_mpi_rank(), cli_mpi_size());
    fprintf(stderr, "varia: %s: %s%s\n", varia_status_name(st), msg, rank);
}

int cli_error(varia_status st, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    error_line(st, msg);
    return (int)st;
}

int cli_report(varia_ctx *ctx, varia_status st)
{
    if (st != VARIA_OK)
        error_line(st, varia_ctx_message(ctx));
    return (int)st;
}

int cli_load_model(varia_ctx *ctx, const char *path, varia_model **m, varia_info *info)
{
    varia_status st = varia_model_load_ex(ctx, path, load_flags, m);
    if (st != VARIA_OK)
        return cli_report(ctx, st);
    const char *w = varia_ctx_warnings(ctx);
    if (*w)
        fprintf(stderr, "varia: warning: %s", w);
    return varia_model_info(*m, info);
}

/* The image geometry of an example shape: [C,H,W], or [H,W] as one channel.
 * Returns 0 for shapes without one (vectors). */
static int image_dims(const varia_shape *s, int64_t *c, int64_t *h, int64_t *w)
{
    if (s->rank != 2 && s->rank != 3)
        return 0;
    *c = s->rank == 3 ? s->dims[0] : 1;
    *h = s->dims[s->rank - 2];
    *w = s->dims[s->rank - 1];
    return 1;
}

static int example_from_png(varia_ctx *ctx, const varia_info *info, const char *path, float *x)
{
    varia_image img;
    varia_status st = varia_png_read(ctx, path, &img);
    if (st != VARIA_OK)
        return cli_report(ctx, st);
    int64_t c = 1, h = 0, w = 0;
    if (!image_dims(&info->data_shape, &c, &h, &w) || img.channels != c || img.height != h || img.width != w) {
        int rc = cli_error(VARIA_ERR_SHAPE, "'%s' is %dx%d with %d channel(s); the model needs %lldx%lld with %lld", path,
                           img.width, img.height, img.channels, (long long)w, (long long)h, (long long)c);
        varia_image_free(&img);
        return rc;
    }
    for (int64_t ch = 0; ch < c; ch++) /* interleaved pixels to channel-major */
        for (int64_t p = 0; p < h * w; p++)
            x[ch * h * w + p] = img.pixels[p * c + ch] / 255.0f;
    varia_image_free(&img);
    return VARIA_OK;
}

int cli_check_examples(const varia_info *info, const varia_dataset *d, const char *path)
{
    int64_t c = 1, h = 0, w = 0, dc = 1, dh = 0, dw = 0;
    if (d->example_size != info->data_size)
        return cli_error(VARIA_ERR_SHAPE, "'%s' has examples of %lld values; the model needs %lld", path,
                         (long long)d->example_size, (long long)info->data_size);
    if (image_dims(&info->data_shape, &c, &h, &w) && image_dims(&d->shape, &dc, &dh, &dw) &&
        (c != dc || h != dh || w != dw))
        return cli_error(VARIA_ERR_SHAPE, "'%s' holds %lldx%lld images with %lld channel(s); the model needs %lldx%lld "
                         "with %lld", path, (long long)dw, (long long)dh, (long long)dc, (long long)w, (long long)h,
                         (long long)c);
    return VARIA_OK;
}

/* A regular file of that name exists (a PNG whose name ends in ":3" is still
 * a PNG). */
static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* DATASET:INDEX: split at the last colon when what follows is an integer.
 * Returns 1 for an index (in [0, 2^31)), -1 for an integer that is not one
 * (negative, too large: a bad index, not a file name), 0 for no index. */
static int split_index(const char *spec, char *path, size_t cap, int64_t *index)
{
    const char *colon = strrchr(spec, ':');
    char *end;
    if (!colon || colon == spec || (size_t)(colon - spec) >= cap)
        return 0;
    errno = 0;
    long long v = strtoll(colon + 1, &end, 10);
    if (end == colon + 1 || *end)
        return 0;
    memcpy(path, spec, (size_t)(colon - spec));
    path[colon - spec] = '\0';
    *index = v;
    return errno || v < 0 || v >= ((int64_t)1 << 31) ? -1 : 1;
}

int cli_load_example(varia_ctx *ctx, const varia_info *info, const char *spec, float *x)
{
    char path[4096];
    int64_t index = 0;
    int kind = is_file(spec) ? 0 : split_index(spec, path, sizeof path, &index);
    if (kind == 0)
        return example_from_png(ctx, info, spec, x);
    if (kind < 0)
        return cli_error(VARIA_ERR_ARG, "'%s': index '%s' is not an example number (0, 1, 2, ... below 2^31)", spec,
                         strrchr(spec, ':') + 1);
    varia_dataset d;
    varia_status st = varia_dataset_load(ctx, path, index + 1, &d);
    if (st != VARIA_OK)
        return cli_report(ctx, st);
    int rc = cli_check_examples(info, &d, path);
    if (!rc && index >= d.n)
        rc = cli_error(VARIA_ERR_ARG, "'%s' holds %lld example(s): index %lld is out of range (0 to %lld)", path,
                       (long long)d.n, (long long)index, (long long)d.n - 1);
    if (!rc)
        memcpy(x, d.x + index * d.example_size, (size_t)d.example_size * sizeof(float));
    varia_dataset_free(&d);
    return rc;
}

/* SplitMix64 (Steele et al. 2014): the CLI's own small generator (the
 * library's is internal), enough for dequantization noise. */
static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

int cli_dequantize(varia_dataset *d, uint64_t seed, int64_t first, const char *path)
{
    for (int64_t i = 0; i < d->n; i++) {
        uint64_t st = seed * 0xD1B54A32D192ED03ULL + (uint64_t)(first + i); /* the example's stream */
        splitmix(&st);
        for (int64_t j = 0; j < d->example_size; j++) {
            float *v = &d->x[i * d->example_size + j];
            double q = floor((double)*v * 255.0 + 0.5);
            if (!(q >= 0.0 && q <= 255.0) || fabs(q / 255.0 - *v) > 1e-6)
                return cli_error(VARIA_ERR_ARG, "--dequantize: '%s' example %lld has %g, not an 8-bit value / 255",
                                 path, (long long)(first + i), (double)*v);
            *v = (float)((q + (double)(splitmix(&st) >> 11) * 0x1.0p-53) / 256.0);
        }
    }
    return 0;
}

int cli_parse_latent(const char *spec, int64_t L, float *z)
{
    const char *p = spec + 2;
    for (int64_t j = 0; j < L; j++) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || (*end != ',' && *end) || isnan(v))
            return cli_error(VARIA_ERR_ARG, "latent '%.40s': value %lld ('%.*s') is not a number", spec, (long long)j + 1,
                             (int)strcspn(p, ",") < 24 ? (int)strcspn(p, ",") : 24, p);
        if (!isfinite(v) || fabs(v) > FLT_MAX)
            return cli_error(VARIA_ERR_ARG, "latent '%.40s': value %lld (%.*s) is out of range (a float's magnitude is "
                             "at most %g)", spec, (long long)j + 1, (int)(end - p) < 24 ? (int)(end - p) : 24, p,
                             (double)FLT_MAX);
        if ((j + 1 < L && *end != ',') || (j + 1 == L && *end))
            return cli_error(VARIA_ERR_ARG, "latent '%.40s' %s %lld numbers (the model's latent size)", spec,
                             j + 1 < L ? "has fewer than" : end[1] ? "has more than" : "ends in a comma after",
                             (long long)L);
        z[j] = (float)v;
        p = end + 1;
    }
    return VARIA_OK;
}

int cli_check_grid(varia_ctx *ctx, int64_t n, const varia_shape *shape, int cols, const char *what)
{
    varia_status st = varia_image_grid_size(ctx, n, shape, cols, CLI_GRID_PAD, NULL, NULL);
    if (st != VARIA_OK)
        return cli_error(st, "%s; refused before %s", varia_ctx_message(ctx), what);
    return VARIA_OK;
}

int cli_write_grid(varia_ctx *ctx, const char *path, const float *x, int64_t n, const varia_shape *shape, int cols)
{
    varia_image img;
    varia_status st = varia_image_grid(ctx, x, n, shape, cols, CLI_GRID_PAD, 0.5f, &img);
    if (st == VARIA_OK)
        st = varia_png_write(ctx, path, &img);
    varia_image_free(&img);
    return cli_report(ctx, st);
}
