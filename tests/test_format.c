/* Tests for the model format (docs/format.md): a tiny valid model is built in C
 * (manifest + safetensors), then every validation row is exercised by a small
 * mutation of it, asserting the exact status and that the context message names
 * the culprit. Also: the raw weights format, F16/BF16 widening, unaligned f32
 * data, API argument errors, and a seeded mutation fuzz loop over the weights
 * file and the manifest. TAP-style output; exits nonzero on failure.
 * VARIA_TEST_VERBOSE=1 also prints the message of every expected failure. */
#include "varia.h"
#include "tap.h"
#include "weights.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- scratch directory and small file helpers ----------------------------- */

static char tmpdir[256];
static varia_ctx *ctx;
static int verbose;

static const char *tp(const char *name)
{
    static char buf[4][512];
    static int next;
    char *p = buf[next++ & 3];
    snprintf(p, sizeof buf[0], "%s/%s", tmpdir, name);
    return p;
}

static int write_bytes(const char *name, const void *data, size_t len)
{
    FILE *f = fopen(tp(name), "wb");
    if (!f)
        return 0;
    size_t w = len ? fwrite(data, 1, len, f) : 0;
    return (fclose(f) == 0) & (w == len);
}

static int write_text(const char *name, const char *text)
{
    return write_bytes(name, text, strlen(text));
}

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlink(tp(e->d_name));
    closedir(d);
    rmdir(tmpdir);
}

/* A growable byte buffer. */
typedef struct buf {
    unsigned char *p;
    size_t len, cap;
} buf;

static void buf_add(buf *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len + 1)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            fprintf(stderr, "out of memory\n");
            exit(99);
        }
        b->p = p, b->cap = cap;
    }
    if (len)
        memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
}

static void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        fprintf(stderr, "buf_printf: text too long\n");
        exit(99);
    }
    buf_add(b, tmp, (size_t)n);
}

/* s with the first occurrence of `from` replaced by `to` (malloc'd). A missing
 * `from` is a bug in the test itself: abort loudly. */
static char *replace(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    if (!at) {
        fprintf(stderr, "test bug: '%s' not found in the text to mutate\n", from);
        exit(99);
    }
    buf b = {0};
    buf_add(&b, s, (size_t)(at - s));
    buf_add(&b, to, strlen(to));
    buf_add(&b, at + strlen(from), strlen(at + strlen(from)));
    return (char *)b.p;
}

/* ---- the tiny model ------------------------------------------------------- */
/* data [4], one stochastic layer: latent 2, encoder [3], decoder [3], tanh,
 * Bernoulli. Weights are multiples of 1/8 in [-1, 1]: exact in F16 and BF16. */

#define MAXT 24

typedef struct tensor {
    char name[48];
    char dtype[16];
    char shape[160];   /* JSON text of "shape" */
    char offsets[96];  /* JSON text of "data_offsets"; "" = the computed [begin, end] */
    unsigned char *bytes;
    size_t len;
} tensor;

typedef struct model {
    tensor t[MAXT];
    int n;
    char extra[512];   /* raw header entries appended verbatim (",\"x\":{...}") */
} model;

static const struct { const char *name; int rows, cols; } arch[] = {
    {"enc1.hidden.0.weight", 3, 4}, {"enc1.hidden.0.bias", 3, 0},
    {"enc1.mean.weight", 2, 3},     {"enc1.mean.bias", 2, 0},
    {"enc1.scale.weight", 2, 3},    {"enc1.scale.bias", 2, 0},
    {"dec1.hidden.0.weight", 3, 2}, {"dec1.hidden.0.bias", 3, 0},
    {"dec1.out.weight", 4, 3},      {"dec1.out.bias", 4, 0},
};
#define NARCH ((int)(sizeof arch / sizeof arch[0]))
#define DATA_BYTES 224 /* 56 floats */

static const char *good_manifest =
    "{\n"
    "  \"format\": \"varia\",\n"
    "  \"version\": \"1.0\",\n"
    "  \"family\": \"vae\",\n"
    "  \"data\": {\"shape\": [4], \"kind\": \"binary\"},\n"
    "  \"architecture\": {\n"
    "    \"activation\": \"tanh\",\n"
    "    \"posterior_scale\": \"log_var\",\n"
    "    \"likelihood\": {\"type\": \"bernoulli\"},\n"
    "    \"layers\": [{\"latent\": 2, \"encoder\": [3], \"decoder\": [3]}]\n"
    "  },\n"
    "  \"weights\": {\"format\": \"safetensors\", \"file\": \"model.safetensors\"},\n"
    "  \"provenance\": {\"note\": \"test_format\"}\n"
    "}\n";

static float value_of(int t, int j)
{
    return (float)((t * 7 + j * 3 + 5) % 17 - 8) / 8.0f;
}

static void set_f32(tensor *t, const float *v, size_t count)
{
    free(t->bytes);
    t->len = count * 4;
    t->bytes = malloc(t->len ? t->len : 1);
    memcpy(t->bytes, v, t->len);
    snprintf(t->dtype, sizeof t->dtype, "F32");
}

static void add_tensor(model *m, const char *name, int rows, int cols, const float *v)
{
    tensor *t = &m->t[m->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    if (cols)
        snprintf(t->shape, sizeof t->shape, "[%d,%d]", rows, cols);
    else
        snprintf(t->shape, sizeof t->shape, "[%d]", rows);
    set_f32(t, v, (size_t)rows * (size_t)(cols ? cols : 1));
}

static void good_model(model *m)
{
    memset(m, 0, sizeof *m);
    for (int i = 0; i < NARCH; i++) {
        float v[16];
        int count = arch[i].rows * (arch[i].cols ? arch[i].cols : 1);
        for (int j = 0; j < count; j++)
            v[j] = value_of(i, j);
        add_tensor(m, arch[i].name, arch[i].rows, arch[i].cols, v);
    }
}

static void free_model(model *m)
{
    for (int i = 0; i < m->n; i++)
        free(m->t[i].bytes);
    memset(m, 0, sizeof *m);
}

static tensor *find(model *m, const char *name)
{
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->t[i].name, name))
            return &m->t[i];
    fprintf(stderr, "test bug: no tensor '%s'\n", name);
    exit(99);
}

static void drop(model *m, const char *name)
{
    tensor *t = find(m, name);
    free(t->bytes);
    int i = (int)(t - m->t);
    memmove(&m->t[i], &m->t[i + 1], (size_t)(m->n - i - 1) * sizeof *t);
    m->n--;
}

static uint16_t f32_to_bf16(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return (uint16_t)(b >> 16); /* exact for the test's values */
}

static uint16_t f32_to_f16(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    uint32_t sign = (b >> 16) & 0x8000u, exp = (b >> 23) & 0xffu, man = b & 0x7fffffu;
    if (exp == 0xff)
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
    if (exp == 0)
        return (uint16_t)sign; /* zero (the test has no subnormals) */
    return (uint16_t)(sign | ((exp - 112u) << 10) | (man >> 13)); /* exact for normal test values */
}

/* Re-encode tensor `name` (currently F32) as F16 or BF16. */
static void to_half(model *m, const char *name, const char *dtype)
{
    tensor *t = find(m, name);
    size_t count = t->len / 4;
    unsigned char *nb = malloc(count * 2 + 1);
    for (size_t i = 0; i < count; i++) {
        float f;
        memcpy(&f, t->bytes + 4 * i, 4);
        uint16_t h = !strcmp(dtype, "BF16") ? f32_to_bf16(f) : f32_to_f16(f);
        memcpy(nb + 2 * i, &h, 2);
    }
    free(t->bytes);
    t->bytes = nb;
    t->len = count * 2;
    snprintf(t->dtype, sizeof t->dtype, "%s", dtype);
}

/* The header JSON of m (no length prefix, no padding). */
static void header_json(const model *m, buf *h)
{
    size_t pos = 0;
    buf_printf(h, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < m->n; i++) {
        const tensor *t = &m->t[i];
        buf_printf(h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":", t->name, t->dtype, t->shape);
        if (t->offsets[0])
            buf_printf(h, "%s}", t->offsets);
        else
            buf_printf(h, "[%zu,%zu]}", pos, pos + t->len);
        pos += t->len;
    }
    buf_printf(h, "%s}", m->extra);
}

static void data_bytes(const model *m, buf *d)
{
    for (int i = 0; i < m->n; i++)
        buf_add(d, m->t[i].bytes, m->t[i].len);
}

/* A safetensors file: 8-byte little-endian length, header padded with spaces
 * so that the data starts at an offset == rem (mod 8), then the data. */
static void st_file(const char *header, size_t hlen, const buf *data, int rem, buf *out)
{
    size_t pad = 0;
    while ((8 + hlen + pad) % 8 != (size_t)rem)
        pad++;
    uint64_t n = hlen + pad;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)(n >> (8 * i));
    buf_add(out, len8, 8);
    buf_add(out, header, hlen);
    for (size_t i = 0; i < pad; i++)
        buf_add(out, " ", 1);
    buf_add(out, data->p, data->len);
}

static void model_file(const model *m, int rem, buf *out)
{
    buf h = {0}, d = {0};
    header_json(m, &h);
    data_bytes(m, &d);
    st_file((const char *)h.p, h.len, &d, rem, out);
    free(h.p);
    free(d.p);
}

static int write_model(const char *name, const model *m, int rem)
{
    buf f = {0};
    model_file(m, rem, &f);
    int ok = write_bytes(name, f.p, f.len);
    free(f.p);
    return ok;
}

/* ---- expectations --------------------------------------------------------- */

static int expect(varia_status got, varia_status want, const char *needle, const char *what)
{
    const char *msg = varia_ctx_message(ctx);
    if (got != want) {
        printf("# %s: got %s (%s), want %s\n", what, varia_status_name(got), msg, varia_status_name(want));
        return 0;
    }
    if (want != VARIA_OK && verbose)
        printf("#   %s -> %s: %s\n", what, varia_status_name(got), msg);
    if (needle && !strstr(msg, needle)) {
        printf("# %s: message '%s' lacks '%s'\n", what, msg, needle);
        return 0;
    }
    return 1;
}

/* Load tmpdir/manifest; check the status, the message, and that a failed load
 * leaves *out NULL. *keep (if given) receives the model on success. */
static int load_is(const char *manifest, varia_status want, const char *needle, const char *what,
                   varia_model **keep)
{
    varia_model *m = (varia_model *)&ctx; /* garbage: a failed load must reset it */
    varia_status st = varia_model_load(ctx, tp(manifest), &m);
    int ok = expect(st, want, needle, what);
    if (st != VARIA_OK && m != NULL) {
        printf("# %s: failed load left *out non-NULL\n", what);
        ok = 0;
        m = NULL;
    }
    if (st == VARIA_OK && keep)
        *keep = m;
    else
        varia_model_free(st == VARIA_OK ? m : NULL);
    return ok;
}

/* Weights case: write m as model.safetensors next to the good manifest. */
static void st_case(const char *what, const model *m, varia_status want, const char *needle)
{
    int ok = write_text("model.json", good_manifest) && write_model("model.safetensors", m, 0);
    tap_check(ok && load_is("model.json", want, needle, what, NULL), what);
}

/* Raw-bytes weights case. */
static void bytes_case(const char *what, const void *bytes, size_t len, varia_status want, const char *needle)
{
    int ok = write_text("model.json", good_manifest) && write_bytes("model.safetensors", bytes, len);
    tap_check(ok && load_is("model.json", want, needle, what, NULL), what);
}

/* Header-text case: the good data behind an arbitrary header text. */
static void header_case(const char *what, const char *header, varia_status want, const char *needle)
{
    model g;
    good_model(&g);
    buf d = {0}, f = {0};
    data_bytes(&g, &d);
    st_file(header, strlen(header), &d, 0, &f);
    bytes_case(what, f.p, f.len, want, needle);
    free(d.p);
    free(f.p);
    free_model(&g);
}

/* Manifest case: the good weights, an arbitrary manifest text. */
static void manifest_case(const char *what, const char *text, varia_status want, const char *needle)
{
    int ok = write_text("bad.json", text);
    tap_check(ok && load_is("bad.json", want, needle, what, NULL), what);
}

/* manifest_case on good_manifest with `from` replaced by `to`. */
static void mutate_case(const char *what, const char *from, const char *to, varia_status want, const char *needle)
{
    char *text = replace(good_manifest, from, to);
    manifest_case(what, text, want, needle);
    free(text);
}


/* ---- flow posteriors (docs/format.md 2.3) ---------------------------------- */

/* The good model (latent 2, top encoder's last hidden width 3) plus the flow
 * tensors `extra`, each "name:rows:cols" (cols 0: a vector), as
 * flow.safetensors; and a manifest giving it architecture."flow" = `flow`
 * (the text after "flow": ; NULL: no flow key). Loads it and checks the
 * status and that the message names `needle`. */
static void flow_case(const char *what, const char *flow, const char *extra, varia_status want, const char *needle)
{
    model g;
    good_model(&g);
    char spec[1024];
    snprintf(spec, sizeof spec, "%s", extra ? extra : "");
    for (char *save = NULL, *e = strtok_r(spec, " ", &save); e; e = strtok_r(NULL, " ", &save)) {
        char name[48];
        int rows = 0, cols = 0;
        if (sscanf(e, "%47[^:]:%d:%d", name, &rows, &cols) != 3 || rows * (cols ? cols : 1) > 64) {
            fprintf(stderr, "test bug: bad tensor spec '%s'\n", e);
            exit(99);
        }
        float v[64];
        for (int j = 0; j < rows * (cols ? cols : 1); j++)
            v[j] = value_of(g.n, j) * 0.25f;
        add_tensor(&g, name, rows, cols, v);
    }
    buf arch = {0};
    buf_printf(&arch, "\"flow\": %s, \"layers\"", flow);
    char *t1 = replace(good_manifest, "\"layers\"", (const char *)arch.p);
    char *t2 = replace(t1, "\"file\": \"model.safetensors\"", "\"file\": \"flow.safetensors\"");
    int ok = write_model("flow.safetensors", &g, 0) && write_text("flow.json", t2);
    tap_check(ok && load_is("flow.json", want, needle, what, NULL), what);
    free(t1);
    free(t2);
    free(arch.p);
    free_model(&g);
}

#define PLANAR_G2 "flow.0.u:2:0 flow.0.w:2:0 flow.0.b:1:0 flow.1.u:2:0 flow.1.w:2:0 flow.1.b:1:0"
#define RADIAL_G1 "flow.0.z0:2:0 flow.0.alpha:1:0 flow.0.beta:1:0"
#define IAF_C2 "enc1.context.weight:2:3 enc1.context.bias:2:0 flow.0.in.weight:4:2 flow.0.in.bias:4:0 " \
               "flow.0.ctx.weight:4:2 flow.0.m.weight:2:4 flow.0.m.bias:2:0 flow.0.s.weight:2:4 flow.0.s.bias:2:0"
#define IAF_1 "{\"type\": \"iaf\", \"steps\": 1, \"hidden\": [4], \"context\": 2"

static void test_flow(void)
{
    /* the well-formed ones load: the bad cases below differ from these in one thing */
    const char *planar_g2 = "{\"type\": \"planar\", \"steps\": 2, \"params\": \"global\"}";
    flow_case("planar global K 2 -> OK", planar_g2, PLANAR_G2, VARIA_OK, NULL);
    flow_case("planar amortized K 2 -> OK", "{\"type\": \"planar\", \"steps\": 2, \"params\": \"amortized\"}",
              "enc1.flow.weight:10:3 enc1.flow.bias:10:0", VARIA_OK, NULL);
    flow_case("radial global K 1 -> OK", "{\"type\": \"radial\", \"steps\": 1, \"params\": \"global\"}", RADIAL_G1,
              VARIA_OK, NULL);
    flow_case("radial amortized K 2 -> OK", "{\"type\": \"radial\", \"steps\": 2, \"params\": \"amortized\"}",
              "enc1.flow.weight:8:3 enc1.flow.bias:8:0", VARIA_OK, NULL);
    flow_case("iaf K 1, hidden [4], context 2, ordering [1, 0] -> OK", IAF_1 ", \"ordering\": [1, 0]}", IAF_C2,
              VARIA_OK, NULL);

    /* the flow object itself */
    flow_case("flow a string -> MANIFEST", "\"planar\"", NULL, VARIA_ERR_MANIFEST, "\"flow\" must be an object");
    flow_case("flow an array -> MANIFEST", "[1]", NULL, VARIA_ERR_MANIFEST, "\"flow\" must be an object");
    flow_case("flow type sylvester -> MANIFEST", "{\"type\": \"sylvester\", \"steps\": 2, \"params\": \"global\"}",
              PLANAR_G2, VARIA_ERR_MANIFEST, "sylvester");
    flow_case("flow without type -> MANIFEST", "{\"steps\": 2, \"params\": \"global\"}", PLANAR_G2,
              VARIA_ERR_MANIFEST, "\"type\"");
    flow_case("steps 0 -> TOO_LARGE (outside [1, 64])", "{\"type\": \"planar\", \"steps\": 0, \"params\": \"global\"}",
              NULL, VARIA_ERR_TOO_LARGE, "\"steps\" = 0");
    flow_case("steps 65 -> TOO_LARGE", "{\"type\": \"planar\", \"steps\": 65, \"params\": \"global\"}", NULL,
              VARIA_ERR_TOO_LARGE, "\"steps\" = 65");
    flow_case("steps 1e9 -> TOO_LARGE", "{\"type\": \"planar\", \"steps\": 1e9, \"params\": \"global\"}", NULL,
              VARIA_ERR_TOO_LARGE, "\"steps\" = 1000000000");
    flow_case("steps 2.5 -> MANIFEST", "{\"type\": \"planar\", \"steps\": 2.5, \"params\": \"global\"}", NULL,
              VARIA_ERR_MANIFEST, "\"steps\" must be an integer");
    flow_case("steps missing -> MANIFEST", "{\"type\": \"planar\", \"params\": \"global\"}", NULL, VARIA_ERR_MANIFEST,
              "\"steps\" is missing");

    /* planar and radial parameters */
    flow_case("planar without params -> MANIFEST", "{\"type\": \"planar\", \"steps\": 2}", PLANAR_G2,
              VARIA_ERR_MANIFEST, "\"params\"");
    flow_case("radial params \"perstep\" -> MANIFEST", "{\"type\": \"radial\", \"steps\": 1, \"params\": \"perstep\"}",
              RADIAL_G1, VARIA_ERR_MANIFEST, "\"params\"");
    flow_case("planar params a number -> MANIFEST", "{\"type\": \"planar\", \"steps\": 2, \"params\": 1}", PLANAR_G2,
              VARIA_ERR_MANIFEST, "\"params\"");
    flow_case("planar with iaf's hidden -> MANIFEST",
              "{\"type\": \"planar\", \"steps\": 2, \"params\": \"global\", \"hidden\": [4]}", PLANAR_G2,
              VARIA_ERR_MANIFEST, "iaf's keys");
    flow_case("radial with iaf's ordering -> MANIFEST",
              "{\"type\": \"radial\", \"steps\": 1, \"params\": \"global\", \"ordering\": [0, 1]}", RADIAL_G1,
              VARIA_ERR_MANIFEST, "iaf's keys");
    flow_case("planar with iaf's context -> MANIFEST",
              "{\"type\": \"planar\", \"steps\": 2, \"params\": \"global\", \"context\": 0}", PLANAR_G2,
              VARIA_ERR_MANIFEST, "iaf's keys");

    /* tensors against the declaration */
    flow_case("flow.0.u [3] for latent 2 -> SHAPE", planar_g2,
              "flow.0.u:3:0 flow.0.w:2:0 flow.0.b:1:0 flow.1.u:2:0 flow.1.w:2:0 flow.1.b:1:0", VARIA_ERR_SHAPE,
              "flow.0.u");
    flow_case("flow.1.b [2] -> SHAPE", planar_g2,
              "flow.0.u:2:0 flow.0.w:2:0 flow.0.b:1:0 flow.1.u:2:0 flow.1.w:2:0 flow.1.b:2:0", VARIA_ERR_SHAPE,
              "flow.1.b");
    flow_case("flow.1.w missing -> MISSING", planar_g2, "flow.0.u:2:0 flow.0.w:2:0 flow.0.b:1:0 flow.1.u:2:0 flow.1.b:1:0",
              VARIA_ERR_MISSING, "flow.1.w");
    flow_case("planar K 2 given a third step's tensor -> UNEXPECTED", planar_g2, PLANAR_G2 " flow.2.u:2:0",
              VARIA_ERR_UNEXPECTED, "flow.2.u");
    flow_case("enc1.flow.weight with 9 rows for planar K 2 (needs 10) -> SHAPE",
              "{\"type\": \"planar\", \"steps\": 2, \"params\": \"amortized\"}", "enc1.flow.weight:9:3 enc1.flow.bias:10:0",
              VARIA_ERR_SHAPE, "enc1.flow.weight");
    flow_case("enc1.flow.bias [10] for radial K 2 (needs 8) -> SHAPE",
              "{\"type\": \"radial\", \"steps\": 2, \"params\": \"amortized\"}", "enc1.flow.weight:8:3 enc1.flow.bias:10:0",
              VARIA_ERR_SHAPE, "enc1.flow.bias");
    flow_case("amortized planar without its head -> MISSING",
              "{\"type\": \"planar\", \"steps\": 2, \"params\": \"amortized\"}", NULL, VARIA_ERR_MISSING,
              "enc1.flow.weight");
    flow_case("global planar given an amortized head -> UNEXPECTED", planar_g2,
              PLANAR_G2 " enc1.flow.weight:10:3 enc1.flow.bias:10:0", VARIA_ERR_UNEXPECTED, "enc1.flow");
    flow_case("radial global given planar's tensors -> MISSING",
              "{\"type\": \"radial\", \"steps\": 1, \"params\": \"global\"}", "flow.0.u:2:0 flow.0.w:2:0 flow.0.b:1:0",
              VARIA_ERR_MISSING, "flow.0.z0");

    /* iaf */
    flow_case("iaf ordering with a duplicate -> MANIFEST", IAF_1 ", \"ordering\": [1, 1]}", IAF_C2, VARIA_ERR_MANIFEST,
              "\"ordering\" is not a permutation");
    flow_case("iaf ordering out of range -> MANIFEST", IAF_1 ", \"ordering\": [0, 2]}", IAF_C2, VARIA_ERR_MANIFEST,
              "\"ordering\" is not a permutation");
    flow_case("iaf ordering negative -> MANIFEST", IAF_1 ", \"ordering\": [-1, 0]}", IAF_C2, VARIA_ERR_MANIFEST,
              "\"ordering\" is not a permutation");
    flow_case("iaf ordering of the wrong length -> MANIFEST", IAF_1 ", \"ordering\": [0, 1, 2]}", IAF_C2,
              VARIA_ERR_MANIFEST, "\"ordering\" must be an array of the 2");
    flow_case("iaf ordering non-integer -> MANIFEST", IAF_1 ", \"ordering\": [0.5, 1]}", IAF_C2, VARIA_ERR_MANIFEST,
              "\"ordering\" is not a permutation");
    flow_case("iaf ordering of strings -> MANIFEST", IAF_1 ", \"ordering\": [\"0\", \"1\"]}", IAF_C2,
              VARIA_ERR_MANIFEST, "\"ordering\" is not a permutation");
    flow_case("iaf ordering an object -> MANIFEST", IAF_1 ", \"ordering\": {}}", IAF_C2, VARIA_ERR_MANIFEST,
              "\"ordering\" must be an array");
    flow_case("iaf without hidden -> MANIFEST", "{\"type\": \"iaf\", \"steps\": 1, \"context\": 2}", IAF_C2,
              VARIA_ERR_MANIFEST, "\"hidden\"");
    flow_case("iaf hidden [] -> MANIFEST", "{\"type\": \"iaf\", \"steps\": 1, \"hidden\": [], \"context\": 2}", IAF_C2,
              VARIA_ERR_MANIFEST, "\"hidden\"");
    flow_case("iaf with 5 hidden layers -> TOO_LARGE",
              "{\"type\": \"iaf\", \"steps\": 1, \"hidden\": [4, 4, 4, 4, 4], \"context\": 2}", IAF_C2,
              VARIA_ERR_TOO_LARGE, "\"hidden\" has 5 entries");
    flow_case("iaf hidden width 0 -> TOO_LARGE", "{\"type\": \"iaf\", \"steps\": 1, \"hidden\": [0], \"context\": 2}",
              IAF_C2, VARIA_ERR_TOO_LARGE, "\"hidden\"[0] = 0");
    flow_case("iaf context -1 -> TOO_LARGE", "{\"type\": \"iaf\", \"steps\": 1, \"hidden\": [4], \"context\": -1}",
              IAF_C2, VARIA_ERR_TOO_LARGE, "\"context\"");
    flow_case("iaf params amortized -> MANIFEST", IAF_1 ", \"params\": \"amortized\"}", IAF_C2, VARIA_ERR_MANIFEST,
              "\"params\": \"global\"");
    flow_case("iaf unknown activation -> MANIFEST", IAF_1 ", \"activation\": \"swish\"}", IAF_C2, VARIA_ERR_MANIFEST,
              "swish");
    flow_case("iaf context 2 without its context head -> MISSING", IAF_1 "}",
              "flow.0.in.weight:4:2 flow.0.in.bias:4:0 flow.0.ctx.weight:4:2 flow.0.m.weight:2:4 flow.0.m.bias:2:0 "
              "flow.0.s.weight:2:4 flow.0.s.bias:2:0",
              VARIA_ERR_MISSING, "enc1.context.weight");
    flow_case("iaf without context given context tensors -> UNEXPECTED",
              "{\"type\": \"iaf\", \"steps\": 1, \"hidden\": [4]}", IAF_C2, VARIA_ERR_UNEXPECTED, "context");
    flow_case("iaf flow.0.ctx.weight [4, 3] for context 2 -> SHAPE", IAF_1 "}",
              "enc1.context.weight:2:3 enc1.context.bias:2:0 flow.0.in.weight:4:2 flow.0.in.bias:4:0 "
              "flow.0.ctx.weight:4:3 flow.0.m.weight:2:4 flow.0.m.bias:2:0 flow.0.s.weight:2:4 flow.0.s.bias:2:0",
              VARIA_ERR_SHAPE, "flow.0.ctx.weight");
    flow_case("iaf hidden [5] against in.weight [4, 2] -> SHAPE",
              "{\"type\": \"iaf\", \"steps\": 1, \"hidden\": [5], \"context\": 2}", IAF_C2, VARIA_ERR_SHAPE,
              "flow.0.in.weight");
}

/* ---- a reference forward pass to check the loaded numbers ----------------- */

static const float *tensor_f32(const model *m, const char *name)
{
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->t[i].name, name))
            return (const float *)(const void *)m->t[i].bytes;
    return NULL;
}

/* E[x|z] of the tiny model, in double. */
static void ref_decode(const model *m, const float *z, double *out)
{
    const float *w1 = tensor_f32(m, "dec1.hidden.0.weight"), *b1 = tensor_f32(m, "dec1.hidden.0.bias");
    const float *w2 = tensor_f32(m, "dec1.out.weight"), *b2 = tensor_f32(m, "dec1.out.bias");
    double h[3];
    for (int i = 0; i < 3; i++)
        h[i] = tanh(b1[i] + (double)w1[i * 2] * z[0] + (double)w1[i * 2 + 1] * z[1]);
    for (int d = 0; d < 4; d++) {
        double a = b2[d];
        for (int i = 0; i < 3; i++)
            a += (double)w2[d * 3 + i] * h[i];
        out[d] = 1.0 / (1.0 + exp(-a));
    }
}

/* Posterior mean of the tiny model, in double. */
static void ref_encode(const model *m, const float *x, double *mean)
{
    const float *w1 = tensor_f32(m, "enc1.hidden.0.weight"), *b1 = tensor_f32(m, "enc1.hidden.0.bias");
    const float *wm = tensor_f32(m, "enc1.mean.weight"), *bm = tensor_f32(m, "enc1.mean.bias");
    double h[3];
    for (int i = 0; i < 3; i++) {
        double a = b1[i];
        for (int d = 0; d < 4; d++)
            a += (double)w1[i * 4 + d] * x[d];
        h[i] = tanh(a);
    }
    for (int j = 0; j < 2; j++) {
        double a = bm[j];
        for (int i = 0; i < 3; i++)
            a += (double)wm[j * 3 + i] * h[i];
        mean[j] = a;
    }
}

#define NZ 4
static const float test_z[NZ * 2] = {0.5f, -1.0f, 2.0f, 0.25f, -1.5f, 1.0f, 0.0f, 0.0f};

/* Decode the test latents with the model loaded from `manifest` (MEAN then
 * PARAMS, 2 * NZ * 4 floats). Returns 0 if loading or decoding fails. */
static int decode_with(const char *manifest, float *out, const char *what)
{
    varia_model *m = NULL;
    if (!load_is(manifest, VARIA_OK, NULL, what, &m))
        return 0;
    varia_status st = varia_decode(ctx, m, test_z, NZ, VARIA_DECODE_MEAN, out, NULL);
    if (st == VARIA_OK)
        st = varia_decode(ctx, m, test_z, NZ, VARIA_DECODE_PARAMS, out + NZ * 4, NULL);
    varia_model_free(m);
    return expect(st, VARIA_OK, NULL, what);
}

/* ---- the tests ------------------------------------------------------------ */

static float good_out[2 * NZ * 4]; /* decode output of the good f32 model */

static void test_good(void)
{
    model g;
    good_model(&g);
    int ok = write_text("model.json", good_manifest) && write_model("model.safetensors", &g, 0);
    varia_model *m = NULL;
    ok = ok && load_is("model.json", VARIA_OK, NULL, "valid model", &m);
    if (ok) {
        varia_info in;
        ok = varia_model_info(m, &in) == VARIA_OK && in.data_size == 4 && in.latent_size == 2 &&
             in.n_stochastic == 1 && in.latent_shape.rank == 1 && in.latent_shape.dims[0] == 2 && in.n_tensors == NARCH && in.n_params == DATA_BYTES / 4 &&
             in.likelihood == VARIA_LIK_BERNOULLI && !strcmp(in.family, "vae") && in.data_shape.rank == 1 &&
             varia_model_provenance(m) && strstr(varia_model_provenance(m), "test_format") &&
             varia_ctx_warnings(ctx)[0] == '\0';
        if (!ok)
            printf("# valid model: info/provenance/warnings not as written (warnings '%s')\n",
                   varia_ctx_warnings(ctx));
    }
    tap_check(ok, "valid tiny model loads with the info it was written with");

    /* The numbers: decode and encode match a reference forward pass. */
    int num_ok = ok;
    if (ok) {
        num_ok = varia_decode(ctx, m, test_z, NZ, VARIA_DECODE_MEAN, good_out, NULL) == VARIA_OK &&
                 varia_decode(ctx, m, test_z, NZ, VARIA_DECODE_PARAMS, good_out + NZ * 4, NULL) == VARIA_OK;
        for (int r = 0; num_ok && r < NZ; r++) {
            double want[4];
            ref_decode(&g, test_z + 2 * r, want);
            for (int d = 0; d < 4; d++)
                if (fabs(good_out[r * 4 + d] - want[d]) > 1e-5) {
                    printf("# decode row %d dim %d: got %.9g want %.9g\n", r, d, good_out[r * 4 + d], want[d]);
                    num_ok = 0;
                }
        }
        const float x[8] = {0, 1, 1, 0, 1, 1, 0, 0};
        float mean[4], lv[4];
        num_ok = num_ok && varia_encode(ctx, m, x, 2, mean, lv) == VARIA_OK;
        for (int r = 0; num_ok && r < 2; r++) {
            double want[2];
            ref_encode(&g, x + 4 * r, want);
            for (int j = 0; j < 2; j++)
                if (fabs(mean[r * 2 + j] - want[j]) > 1e-5) {
                    printf("# encode row %d: got %.9g want %.9g\n", r, mean[r * 2 + j], want[j]);
                    num_ok = 0;
                }
        }
    }
    tap_check(num_ok, "valid model: decode/encode match a reference forward pass ([out, in] layout)");
    varia_model_free(m);
    free_model(&g);
}

static void put_len(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void test_header_length(void)
{
    model g;
    good_model(&g);
    buf f = {0};
    model_file(&g, 0, &f);
    bytes_case("file of 5 bytes -> HEADER", f.p, 5, VARIA_ERR_HEADER, "5 bytes");
    bytes_case("empty file -> HEADER", f.p, 0, VARIA_ERR_HEADER, "0 bytes");
    bytes_case("file of exactly 8 bytes (header length only) -> HEADER", f.p, 8, VARIA_ERR_HEADER,
               "past the end");

    unsigned char *c = malloc(f.len);
    memcpy(c, f.p, f.len);
    put_len(c, VARIA_HEADER_CAP + 1u);
    /* The messages give the cap and the file size, never the length itself:
     * in a file that is not safetensors those 8 bytes are its content. */
    char cap_text[32];
    snprintf(cap_text, sizeof cap_text, "%u-byte cap", VARIA_HEADER_CAP);
    bytes_case("header length one past the cap (8 MiB + 1) -> HEADER", c, f.len, VARIA_ERR_HEADER, cap_text);

    char want[64];
    put_len(c, f.len - 7);
    snprintf(want, sizeof want, "past the end of the %zu-byte file", f.len);
    bytes_case("header length past the end of the file -> HEADER", c, f.len, VARIA_ERR_HEADER, want);

    put_len(c, UINT64_MAX);
    bytes_case("header length 2^64-1 -> HEADER", c, f.len, VARIA_ERR_HEADER, cap_text);

    put_len(c, (uint64_t)1 << 63);
    bytes_case("header length 2^63 -> HEADER", c, f.len, VARIA_ERR_HEADER, cap_text);

    put_len(c, 0);
    bytes_case("header length 0 -> JSON", c, f.len, VARIA_ERR_JSON, "not valid JSON");

    /* A header length exactly file size - 8: no data at all, the tensors run past it. */
    buf h = {0}, none = {0}, f2 = {0};
    header_json(&g, &h);
    st_file((const char *)h.p, h.len, &none, 0, &f2);
    char w2[64];
    snprintf(w2, sizeof w2, "holds only 0 bytes");
    bytes_case("header filling the whole file (no data) -> TRUNCATED", f2.p, f2.len, VARIA_ERR_TRUNCATED, w2);
    free(h.p);
    free(f2.p);
    free(c);
    free(f.p);
    free_model(&g);
}

/* Headers that end, together with the file, exactly at a page boundary in the
 * middle of a token: the JSON parser must not read past the mapping. */
static void test_page_end(void)
{
    static const char *const tails[] = {"tru", "nul", "fals", "\"abc", "\"\\u12", "\"\\", "1e", "-", "[1,",
                                        "{\"a\":", "0.", "\"data_offsets\""};
    long page = sysconf(_SC_PAGESIZE);
    if (page < 256 || page > (1L << 20))
        page = 4096;
    int ok = 1;
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        buf h = {0}, f = {0};
        buf_printf(&h, "{\"__metadata__\":{\"k\":\"");
        size_t head = h.len, tail = strlen("\"},\"t\":") + strlen(tails[i]);
        for (size_t j = head; j < (size_t)page - 8 - tail; j++)
            buf_add(&h, "a", 1);
        buf_printf(&h, "\"},\"t\":%s", tails[i]);
        unsigned char len8[8];
        put_len(len8, h.len);
        buf_add(&f, len8, 8);
        buf_add(&f, h.p, h.len);
        char what[96];
        snprintf(what, sizeof what, "header ending at the page end in '%s'", tails[i]);
        ok &= f.len == (size_t)page && write_text("model.json", good_manifest) &&
              write_bytes("model.safetensors", f.p, f.len) &&
              load_is("model.json", VARIA_ERR_JSON, "not valid JSON", what, NULL);
        free(h.p);
        free(f.p);
    }
    tap_check(ok, "headers truncated mid-token exactly at a page boundary -> JSON (no read past the file)");
}

static void test_header_json(void)
{
    model g;
    good_model(&g);
    buf h = {0};
    header_json(&g, &h);
    const char *good = (const char *)h.p;

    header_case("header is not JSON -> JSON", "{not json at all", VARIA_ERR_JSON, "not valid JSON");
    char *cut = strdup(good);
    cut[strlen(cut) / 2] = '\0';
    header_case("header JSON cut in half -> JSON", cut, VARIA_ERR_JSON, "near byte");
    free(cut);

    /* Garbage after the JSON: the message gives the offset of the stray byte. */
    buf g2 = {0};
    buf_printf(&g2, "%s x", good);
    char want[64];
    snprintf(want, sizeof want, "offset %zu", 8 + h.len + 1);
    header_case("garbage after the header JSON -> JSON", (const char *)g2.p, VARIA_ERR_JSON, want);
    free(g2.p);
    buf g3 = {0};
    buf_printf(&g3, "%s{}", good);
    header_case("a second JSON object after the header -> JSON", (const char *)g3.p, VARIA_ERR_JSON, "after the header");
    free(g3.p);

    /* NUL padding after the JSON is refused: the safetensors convention pads
     * with spaces, and a JSON parser (Python's, serde_json) refuses NULs. */
    {
        buf d = {0}, f = {0}, hp = {0};
        data_bytes(&g, &d);
        buf_add(&hp, h.p, h.len);
        buf_add(&hp, "\0\0\0\0\0\0\0\0", 8 - (8 + h.len) % 8);
        st_file((const char *)hp.p, hp.len, &d, 0, &f);
        bytes_case("NUL padding after the header JSON -> JSON", f.p, f.len, VARIA_ERR_JSON, "NUL byte after the header");
        free(d.p);
        free(f.p);
        free(hp.p);
    }

    header_case("header JSON is an array -> MANIFEST", "[1, 2, 3]", VARIA_ERR_MANIFEST, "not a JSON object");
    header_case("header JSON is a string -> MANIFEST", "\"enc1.mean.weight\"", VARIA_ERR_MANIFEST,
                "not a JSON object");
    char *nest = malloc(20001);
    memset(nest, '[', 20000);
    nest[20000] = '\0';
    header_case("header nested 20000 deep -> JSON (no stack overflow)", nest, VARIA_ERR_JSON, "not valid JSON");
    free(nest);

    char *e1 = replace(good, "\"dec1.out.bias\":{", "\"dec1.out.bias\":5,\"unused\":{");
    header_case("tensor entry that is a number -> MANIFEST", e1, VARIA_ERR_MANIFEST, "dec1.out.bias");
    free(e1);
    header_case("empty header object (no tensors, data left over) -> TRAILING", "{}", VARIA_ERR_TRAILING,
                "224 bytes after");
    free(h.p);
    free_model(&g);
}

static void test_data_region(void)
{
    model g;
    good_model(&g);
    buf f = {0};
    model_file(&g, 0, &f);
    bytes_case("data truncated by 4 bytes -> TRUNCATED", f.p, f.len - 4, VARIA_ERR_TRUNCATED, "holds only 220");
    bytes_case("data truncated by 1 byte -> TRUNCATED", f.p, f.len - 1, VARIA_ERR_TRUNCATED, "ends at byte 224");
    buf f2 = {0};
    buf_add(&f2, f.p, f.len);
    buf_add(&f2, "abc", 3);
    bytes_case("3 trailing bytes -> TRAILING", f2.p, f2.len, VARIA_ERR_TRAILING, "3 bytes after");
    free(f2.p);
    free(f.p);

    /* Overlap: enc1.mean.bias starts 4 bytes inside enc1.mean.weight (bytes 60..84). */
    find(&g, "enc1.mean.bias")->offsets[0] = 0;
    snprintf(find(&g, "enc1.mean.bias")->offsets, sizeof g.t[0].offsets, "[80,88]");
    st_case("overlapping tensors -> OVERLAP", &g, VARIA_ERR_OVERLAP, "enc1.mean.bias");
    free_model(&g);

    /* An extra tensor aliasing the very bytes of enc1.mean.bias (84..92). */
    good_model(&g);
    snprintf(g.extra, sizeof g.extra, ",\"zz.alias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[84,92]}");
    st_case("two tensors at the same offsets -> OVERLAP", &g, VARIA_ERR_OVERLAP, "(bytes 84..92) overlaps");
    free_model(&g);

    /* Hole: the last tensor moved 4 bytes on, with 4 more bytes of data. */
    good_model(&g);
    tensor *t = find(&g, "dec1.out.bias");
    snprintf(t->offsets, sizeof t->offsets, "[212,228]");
    unsigned char *nb = calloc(1, 20);
    memcpy(nb + 4, t->bytes, 16);
    free(t->bytes);
    t->bytes = nb;
    t->len = 20;
    /* the header still says shape [4] F32 = 16 bytes at [212,228]; the file holds 228 data bytes */
    st_case("gap between tensors -> HOLE", &g, VARIA_ERR_HOLE, "208..212");
    free_model(&g);

    good_model(&g);
    snprintf(find(&g, "enc1.hidden.0.weight")->offsets, sizeof g.t[0].offsets, "[4,52]");
    st_case("gap before the first tensor -> HOLE", &g, VARIA_ERR_HOLE, "0..4");
    free_model(&g);

    good_model(&g);
    snprintf(find(&g, "enc1.mean.bias")->offsets, sizeof g.t[0].offsets, "[92,84]");
    st_case("begin > end -> OFFSET", &g, VARIA_ERR_OFFSET, "begin 92 > end 84");
    free_model(&g);

    static const struct { const char *off, *what; } bad_off[] = {
        {"[1e300,1e300]", "offsets 1e300 -> OFFSET"},
        {"[-1,7]", "offset -1 -> OFFSET"},
        {"[84,-92]", "end offset -92 -> OFFSET"},
        {"[1152921504606846976,1152921504606846984]", "offsets 2^60 -> OFFSET"},
        {"[9007199254740994,9007199254741002]", "offsets just above 2^53 -> OFFSET"},
        {"[84.5,92.5]", "non-integer offsets 84.5 -> OFFSET"},
        /* json_uint() accepts numbers only, so a string, null or bool inside a
         * well-formed [begin, end] pair is an out-of-range offset (OFFSET); only a
         * data_offsets that is not a 2-element array is a MANIFEST error. */
        {"[\"84\",\"92\"]", "string offsets -> OFFSET (not a number: out of range)"},
        {"[null,92]", "null offset -> OFFSET"},
        {"[true,92]", "boolean offset -> OFFSET"},
    };
    for (size_t i = 0; i < sizeof bad_off / sizeof bad_off[0]; i++) {
        good_model(&g);
        snprintf(find(&g, "enc1.mean.bias")->offsets, sizeof g.t[0].offsets, "%s", bad_off[i].off);
        st_case(bad_off[i].what, &g, VARIA_ERR_OFFSET, "enc1.mean.bias");
        free_model(&g);
    }
    static const struct { const char *off, *what; } bad_off_m[] = {
        {"[84,92,100]", "data_offsets with 3 entries -> MANIFEST"},
        {"[84]", "data_offsets with 1 entry -> MANIFEST"},
        {"\"84-92\"", "data_offsets a string -> MANIFEST"},
        {"{\"begin\":84,\"end\":92}", "data_offsets an object -> MANIFEST"},
    };
    for (size_t i = 0; i < sizeof bad_off_m / sizeof bad_off_m[0]; i++) {
        good_model(&g);
        snprintf(find(&g, "enc1.mean.bias")->offsets, sizeof g.t[0].offsets, "%s", bad_off_m[i].off);
        st_case(bad_off_m[i].what, &g, VARIA_ERR_MANIFEST, "enc1.mean.bias");
        free_model(&g);
    }
    /* An in-range but far offset (valid integer < 2^53) is a hole, not a crash. */
    good_model(&g);
    snprintf(find(&g, "dec1.out.bias")->offsets, sizeof g.t[0].offsets, "[9007199254740976,9007199254740992]");
    st_case("last tensor at offset 2^53-16 -> HOLE", &g, VARIA_ERR_HOLE, "dec1.out.bias");
    free_model(&g);
}

static void test_shapes_dtypes(void)
{
    model g;
    static const struct { const char *shape, *what, *needle; varia_status want; } bad_shape[] = {
        {"[2147483648,2147483648,2147483648]", "shape [2^31,2^31,2^31] overflows -> TOO_LARGE", "shape[1]",
         VARIA_ERR_TOO_LARGE},
        {"[9007199254740992,9007199254740992]", "shape [2^53,2^53] -> TOO_LARGE", "overflows", VARIA_ERR_TOO_LARGE},
        {"[1099511627777]", "shape [2^40+1] over the element cap -> TOO_LARGE", "shape[0]", VARIA_ERR_TOO_LARGE},
        {"[1,1,1,1,1,1,1,1,2]", "rank 9 -> TOO_LARGE", "rank 9", VARIA_ERR_TOO_LARGE},
        {"[-2]", "negative dim -> OFFSET", "shape[0]", VARIA_ERR_OFFSET},
        {"[1,-2]", "negative second dim -> OFFSET", "shape[1]", VARIA_ERR_OFFSET},
        {"[2.5]", "fractional dim -> OFFSET", "shape[0]", VARIA_ERR_OFFSET},
        {"[\"2\"]", "string dim -> OFFSET", "shape[0]", VARIA_ERR_OFFSET},
        {"[9007199254740994]", "dim above 2^53 -> OFFSET", "shape[0]", VARIA_ERR_OFFSET},
        {"\"2\"", "shape a string -> MANIFEST", "\"shape\"", VARIA_ERR_MANIFEST},
        {"{}", "shape an object -> MANIFEST", "\"shape\"", VARIA_ERR_MANIFEST},
        {"[4]", "byte length (8) != 4 x F32 -> DTYPE", "need 16", VARIA_ERR_DTYPE},
        {"[1,2]", "rank 2 where the architecture needs rank 1 -> SHAPE", "[1, 2]", VARIA_ERR_SHAPE},
        {"[]", "rank 0 (scalar) with 8 bytes -> DTYPE", "need 4", VARIA_ERR_DTYPE},
    };
    for (size_t i = 0; i < sizeof bad_shape / sizeof bad_shape[0]; i++) {
        good_model(&g);
        snprintf(find(&g, "enc1.mean.bias")->shape, sizeof g.t[0].shape, "%s", bad_shape[i].shape);
        st_case(bad_shape[i].what, &g, bad_shape[i].want, bad_shape[i].needle);
        free_model(&g);
    }
    /* A zero dim makes the count 0 whatever the other dims: no false overflow. */
    good_model(&g);
    snprintf(g.extra, sizeof g.extra, ",\"zz.empty\":{\"dtype\":\"F32\",\"shape\":[0,9007199254740992,"
             "9007199254740992],\"data_offsets\":[224,224]}");
    st_case("extra tensor of shape [0,2^53,2^53] -> UNEXPECTED (no overflow)", &g, VARIA_ERR_UNEXPECTED, "zz.empty");
    free_model(&g);

    static const char *const bad_dtypes[] = {"F64", "I8", "f32", "F32 ", "", "BOOL"};
    for (size_t i = 0; i < sizeof bad_dtypes / sizeof bad_dtypes[0]; i++) {
        good_model(&g);
        snprintf(find(&g, "dec1.hidden.0.weight")->dtype, sizeof g.t[0].dtype, "%s", bad_dtypes[i]);
        char what[64], needle[64];
        snprintf(what, sizeof what, "dtype \"%s\" -> DTYPE", bad_dtypes[i]);
        snprintf(needle, sizeof needle, "dtype '%s'", bad_dtypes[i]);
        st_case(what, &g, VARIA_ERR_DTYPE, needle);
        free_model(&g);
    }
    good_model(&g);
    snprintf(find(&g, "dec1.hidden.0.weight")->dtype, sizeof g.t[0].dtype, "F16");
    st_case("F16 label on F32 bytes (24 != 12) -> DTYPE", &g, VARIA_ERR_DTYPE, "holds 24 bytes");
    free_model(&g);
    good_model(&g);
    snprintf(find(&g, "dec1.hidden.0.bias")->offsets, sizeof g.t[0].offsets, "[144,146]");
    st_case("byte length 2 for a [3] F32 tensor -> DTYPE", &g, VARIA_ERR_DTYPE, "dec1.hidden.0.bias");
    free_model(&g);
    {
        good_model(&g);
        buf h = {0};
        header_json(&g, &h);
        char *e = replace((const char *)h.p, "\"dtype\":\"F32\",\"shape\":[4],", "\"dtype\":32,\"shape\":[4],");
        header_case("dtype a number -> MANIFEST", e, VARIA_ERR_MANIFEST, "dec1.out.bias");
        free(e);
        e = replace((const char *)h.p, "\"dtype\":\"F32\",\"shape\":[4],", "\"shape\":[4],");
        header_case("dtype missing -> MANIFEST", e, VARIA_ERR_MANIFEST, "dtype");
        free(e);
        e = replace((const char *)h.p, "\"shape\":[4],", "");
        header_case("shape missing -> MANIFEST", e, VARIA_ERR_MANIFEST, "shape");
        free(e);
        e = replace((const char *)h.p, ",\"data_offsets\":[208,224]", "");
        header_case("data_offsets missing -> MANIFEST", e, VARIA_ERR_MANIFEST, "data_offsets");
        free(e);
        free(h.p);
        free_model(&g);
    }
}

static void test_table_vs_architecture(void)
{
    model g;
    /* Duplicate: a second "enc1.mean.bias" entry owning 8 extra bytes. */
    good_model(&g);
    snprintf(g.extra, sizeof g.extra, ",\"enc1.mean.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[224,232]}");
    {
        tensor *t = find(&g, "dec1.out.bias");
        unsigned char *nb = calloc(1, 24);
        memcpy(nb, t->bytes, 16);
        free(t->bytes);
        t->bytes = nb;
        t->len = 24; /* 8 bytes appended to the data for the duplicate */
        snprintf(t->offsets, sizeof t->offsets, "[208,224]");
    }
    st_case("duplicate tensor name in the header -> DUPLICATE", &g, VARIA_ERR_DUPLICATE, "enc1.mean.bias");
    free_model(&g);

    /* A duplicate with the very same offsets: the duplicate check comes before tiling. */
    good_model(&g);
    snprintf(g.extra, sizeof g.extra, ",\"enc1.mean.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[84,92]}");
    st_case("duplicate name with identical offsets -> DUPLICATE", &g, VARIA_ERR_DUPLICATE, "enc1.mean.bias");
    free_model(&g);

    /* Non-finite values. */
    float v[12];
    good_model(&g);
    memcpy(v, find(&g, "dec1.out.weight")->bytes, 48);
    v[5] = NAN;
    set_f32(find(&g, "dec1.out.weight"), v, 12);
    st_case("NaN in a weight -> NONFINITE", &g, VARIA_ERR_NONFINITE, "dec1.out.weight': element 5 is NaN");
    free_model(&g);
    good_model(&g);
    memcpy(v, find(&g, "enc1.scale.bias")->bytes, 8);
    v[1] = -INFINITY;
    set_f32(find(&g, "enc1.scale.bias"), v, 2);
    st_case("-Inf in a bias -> NONFINITE", &g, VARIA_ERR_NONFINITE, "enc1.scale.bias': element 1 is infinite");
    free_model(&g);
    good_model(&g);
    to_half(&g, "enc1.hidden.0.weight", "F16");
    {
        uint16_t inf = 0x7c00;
        memcpy(find(&g, "enc1.hidden.0.weight")->bytes + 2 * 7, &inf, 2);
    }
    st_case("Inf in an F16 weight -> NONFINITE", &g, VARIA_ERR_NONFINITE, "enc1.hidden.0.weight': element 7");
    free_model(&g);
    good_model(&g);
    to_half(&g, "dec1.hidden.0.bias", "BF16");
    {
        uint16_t nan = 0x7fc1;
        memcpy(find(&g, "dec1.hidden.0.bias")->bytes + 2 * 2, &nan, 2);
    }
    st_case("NaN in a BF16 bias -> NONFINITE", &g, VARIA_ERR_NONFINITE, "dec1.hidden.0.bias': element 2 is NaN");
    free_model(&g);

    /* Shapes that contradict the architecture. */
    good_model(&g);
    {
        float w[8] = {0};
        set_f32(find(&g, "enc1.mean.weight"), w, 8);
        snprintf(find(&g, "enc1.mean.weight")->shape, sizeof g.t[0].shape, "[2,4]");
    }
    st_case("enc1.mean.weight [2,4] (architecture: [2,3]) -> SHAPE", &g, VARIA_ERR_SHAPE,
            "'enc1.mean.weight' has shape [2, 4], the architecture needs [2, 3]");
    free_model(&g);
    good_model(&g);
    snprintf(find(&g, "dec1.out.weight")->shape, sizeof g.t[0].shape, "[3,4]");
    st_case("dec1.out.weight transposed [3,4] -> SHAPE", &g, VARIA_ERR_SHAPE, "dec1.out.weight");
    free_model(&g);
    good_model(&g);
    snprintf(find(&g, "dec1.out.weight")->shape, sizeof g.t[0].shape, "[12]");
    st_case("dec1.out.weight flattened [12] -> SHAPE", &g, VARIA_ERR_SHAPE, "dec1.out.weight");
    free_model(&g);

    good_model(&g);
    drop(&g, "enc1.scale.bias");
    st_case("missing tensor -> MISSING", &g, VARIA_ERR_MISSING, "enc1.scale.bias");
    free_model(&g);
    good_model(&g);
    drop(&g, "dec1.out.weight");
    st_case("missing decoder output weight -> MISSING", &g, VARIA_ERR_MISSING, "dec1.out.weight");
    free_model(&g);

    good_model(&g);
    {
        float one = 0.5f;
        add_tensor(&g, "enc1.extra", 1, 0, &one);
    }
    st_case("an extra tensor -> UNEXPECTED", &g, VARIA_ERR_UNEXPECTED, "enc1.extra");
    free_model(&g);
    good_model(&g);
    {
        float w[3] = {0.25f, 0.5f, 0.75f};
        add_tensor(&g, "dec1.logvar", 3, 0, w);
    }
    st_case("dec1.logvar in a Bernoulli model -> UNEXPECTED", &g, VARIA_ERR_UNEXPECTED, "dec1.logvar");
    free_model(&g);
}

static void test_manifest(void)
{
    model g;
    good_model(&g);
    write_model("model.safetensors", &g, 0);
    free_model(&g);

    varia_model *m = NULL;
    tap_check(expect(varia_model_load(ctx, tp("no-such.json"), &m), VARIA_ERR_IO, "no-such.json",
                     "missing manifest") && !m,
              "missing manifest file -> IO");
    {
        char *text = strdup(good_manifest);
        text[strlen(text) - 10] = '\0';
        manifest_case("truncated manifest JSON -> JSON", text, VARIA_ERR_JSON, "near byte");
        free(text);
    }
    manifest_case("manifest that is not JSON -> JSON", "format = varia\n", VARIA_ERR_JSON, "not valid JSON");
    manifest_case("empty manifest -> JSON", "", VARIA_ERR_JSON, "not valid JSON");
    {
        buf b = {0};
        buf_printf(&b, "%s{}", good_manifest);
        manifest_case("garbage after the manifest JSON -> JSON", (const char *)b.p, VARIA_ERR_JSON, "not valid JSON");
        free(b.p);
    }
    manifest_case("manifest JSON is an array -> MANIFEST", "[{\"format\": \"varia\"}]", VARIA_ERR_MANIFEST,
                  "not a JSON object");

    mutate_case("format \"safetensors\" -> VERSION", "\"format\": \"varia\"", "\"format\": \"safetensors\"",
                VARIA_ERR_VERSION, "\"format\"");
    mutate_case("format missing -> VERSION", "\"format\": \"varia\",", "", VARIA_ERR_VERSION, "\"format\"");
    mutate_case("version \"2.0\" -> VERSION", "\"1.0\"", "\"2.0\"", VARIA_ERR_VERSION, "2.0");
    mutate_case("version \"0.9\" -> VERSION", "\"1.0\"", "\"0.9\"", VARIA_ERR_VERSION, "0.9");
    mutate_case("version \"1.7\" (newer minor) -> OK", "\"1.0\"", "\"1.7\"", VARIA_OK, NULL);
    mutate_case("version missing -> VERSION", "\"version\": \"1.0\",", "", VARIA_ERR_VERSION, "\"version\"");
    mutate_case("version \"garbage\" -> VERSION", "\"1.0\"", "\"garbage\"", VARIA_ERR_VERSION, "\"version\"");
    mutate_case("version \"1\" -> VERSION", "\"1.0\"", "\"1\"", VARIA_ERR_VERSION, "\"version\"");
    mutate_case("version \"1.0.1\" -> VERSION", "\"1.0\"", "\"1.0.1\"", VARIA_ERR_VERSION, "\"version\"");
    mutate_case("version \"1.0x\" -> VERSION", "\"1.0\"", "\"1.0x\"", VARIA_ERR_VERSION, "\"version\"");
    mutate_case("version as a number 1.0 -> VERSION", "\"1.0\"", "1.0", VARIA_ERR_VERSION, "\"version\"");
    /* sscanf("%u") wraps 4294967297 (2^32 + 1) to 1 and accepts a sign: an
     * unknown major must still be refused. */
    static const char *const wrap[][2] = {
        {"\"4294967297.0\"", "version \"4294967297.0\" (major 2^32+1) -> VERSION"},
        {"\"-4294967295.0\"", "version \"-4294967295.0\" -> VERSION"},
        {"\"1.-5\"", "version \"1.-5\" (negative minor) -> VERSION"},
    };
    for (size_t i = 0; i < sizeof wrap / sizeof wrap[0]; i++) {
        char *text = replace(good_manifest, "\"1.0\"", wrap[i][0]);
        int ok = write_text("bad.json", text);
        varia_model *vm = NULL;
        varia_status st = varia_model_load(ctx, tp("bad.json"), &vm);
        varia_model_free(vm);
        ok = ok && st == VARIA_ERR_VERSION;
        tap_check(ok, wrap[i][1]);
        free(text);
    }

    mutate_case("unknown family -> MANIFEST", "\"family\": \"vae\"", "\"family\": \"nade\"", VARIA_ERR_MANIFEST, "nade");
    mutate_case("family missing -> MANIFEST", "\"family\": \"vae\",", "", VARIA_ERR_MANIFEST, "\"family\"");
    mutate_case("family \"iwae\" -> OK", "\"family\": \"vae\"", "\"family\": \"iwae\"", VARIA_OK, NULL);

    mutate_case("data missing -> MANIFEST", "\"data\": {\"shape\": [4], \"kind\": \"binary\"},", "",
                VARIA_ERR_MANIFEST, "\"data\"");
    mutate_case("data.shape missing -> MANIFEST", "\"shape\": [4], ", "", VARIA_ERR_MANIFEST, "\"shape\"");
    mutate_case("data.shape empty -> MANIFEST", "\"shape\": [4]", "\"shape\": []", VARIA_ERR_MANIFEST, "\"shape\"");
    mutate_case("data.shape [0] -> TOO_LARGE (range)", "\"shape\": [4]", "\"shape\": [0]", VARIA_ERR_TOO_LARGE,
                "\"shape\"[0] = 0");
    mutate_case("data.shape [-4] -> TOO_LARGE (range)", "\"shape\": [4]", "\"shape\": [-4]", VARIA_ERR_TOO_LARGE,
                "\"shape\"[0] = -4");
    mutate_case("data.shape [4.5] -> MANIFEST", "\"shape\": [4]", "\"shape\": [4.5]", VARIA_ERR_MANIFEST,
                "\"shape\"[0]");
    mutate_case("data.shape [\"4\"] -> MANIFEST", "\"shape\": [4]", "\"shape\": [\"4\"]", VARIA_ERR_MANIFEST,
                "\"shape\"[0]");
    mutate_case("data.shape [4097, 4096] (product > 2^24) -> TOO_LARGE", "\"shape\": [4]", "\"shape\": [4097, 4096]",
                VARIA_ERR_TOO_LARGE, "16777216");
    mutate_case("data.shape with 5 dims -> TOO_LARGE", "\"shape\": [4]", "\"shape\": [1, 1, 1, 1, 4]",
                VARIA_ERR_TOO_LARGE, "5 entries");
    mutate_case("data.shape [1, 2, 2] (same size) -> OK", "\"shape\": [4]", "\"shape\": [1, 2, 2]", VARIA_OK, NULL);
    mutate_case("data.shape [5] (contradicts the weights) -> SHAPE", "\"shape\": [4]", "\"shape\": [5]",
                VARIA_ERR_SHAPE, "enc1.hidden.0.weight");

    mutate_case("architecture missing -> MANIFEST", "\"architecture\": {", "\"architecturx\": {", VARIA_ERR_MANIFEST,
                "\"architecture\"");
    mutate_case("layers empty -> MANIFEST", "[{\"latent\": 2, \"encoder\": [3], \"decoder\": [3]}]", "[]",
                VARIA_ERR_MANIFEST, "\"layers\"");
    {
        buf b = {0};
        buf_printf(&b, "[");
        for (int i = 0; i < 9; i++)
            buf_printf(&b, "%s{\"latent\": 2, \"encoder\": [3], \"decoder\": [3]}", i ? ", " : "");
        buf_printf(&b, "]");
        mutate_case("9 layers -> MANIFEST", "[{\"latent\": 2, \"encoder\": [3], \"decoder\": [3]}]", (const char *)b.p,
                    VARIA_ERR_MANIFEST, "1 to 8");
        free(b.p);
    }
    mutate_case("layers not an array -> MANIFEST", "[{\"latent\": 2, \"encoder\": [3], \"decoder\": [3]}]",
                "{\"latent\": 2, \"encoder\": [3], \"decoder\": [3]}", VARIA_ERR_MANIFEST, "\"layers\"");
    mutate_case("a layer that is not an object -> MANIFEST", "[{\"latent\": 2, \"encoder\": [3], \"decoder\": [3]}]",
                "[7]", VARIA_ERR_MANIFEST, "layers[0]");
    mutate_case("latent 0 -> TOO_LARGE (range)", "\"latent\": 2", "\"latent\": 0", VARIA_ERR_TOO_LARGE, "\"latent\"");
    mutate_case("latent 70000 -> TOO_LARGE", "\"latent\": 2", "\"latent\": 70000", VARIA_ERR_TOO_LARGE, "70000");
    mutate_case("latent 2.5 -> MANIFEST", "\"latent\": 2", "\"latent\": 2.5", VARIA_ERR_MANIFEST, "\"latent\"");
    mutate_case("latent missing -> MANIFEST", "\"latent\": 2, ", "", VARIA_ERR_MANIFEST, "\"latent\"");
    mutate_case("encoder width 70000 -> TOO_LARGE", "\"encoder\": [3]", "\"encoder\": [70000]", VARIA_ERR_TOO_LARGE,
                "70000");
    mutate_case("decoder width 0 -> TOO_LARGE (range)", "\"decoder\": [3]", "\"decoder\": [0]", VARIA_ERR_TOO_LARGE,
                "\"decoder\"[0] = 0");
    mutate_case("encoder missing -> MANIFEST", "\"encoder\": [3], ", "", VARIA_ERR_MANIFEST, "\"encoder\"");
    mutate_case("encoder [4] (contradicts the weights) -> SHAPE", "\"encoder\": [3]", "\"encoder\": [4]",
                VARIA_ERR_SHAPE, "enc1.hidden.0.weight");
    mutate_case("encoder [] (weights have a hidden layer) -> SHAPE", "\"encoder\": [3]", "\"encoder\": []",
                VARIA_ERR_SHAPE, "enc1.mean.weight");
    mutate_case("encoder [3, 3] (one hidden layer too many) -> MISSING", "\"encoder\": [3]", "\"encoder\": [3, 3]",
                VARIA_ERR_MISSING, "enc1.hidden.1.weight");
    mutate_case("unknown activation -> MANIFEST", "\"activation\": \"tanh\"", "\"activation\": \"swish\"",
                VARIA_ERR_MANIFEST, "swish");
    mutate_case("unknown per-layer activation -> MANIFEST", "\"latent\": 2,", "\"latent\": 2, \"activation\": \"gelu\",",
                VARIA_ERR_MANIFEST, "gelu");
    mutate_case("activation relu -> OK", "\"activation\": \"tanh\"", "\"activation\": \"relu\"", VARIA_OK, NULL);
    mutate_case("leaky_relu with a non-finite slope -> MANIFEST", "\"activation\": \"tanh\"",
                "\"activation\": \"leaky_relu\", \"leaky_relu_slope\": 1e999", VARIA_ERR_MANIFEST, "leaky_relu_slope");
    mutate_case("posterior_scale \"std\" -> MANIFEST", "\"log_var\"", "\"std\"", VARIA_ERR_MANIFEST,
                "\"posterior_scale\"");
    mutate_case("unknown likelihood type -> MANIFEST", "{\"type\": \"bernoulli\"}", "{\"type\": \"poisson\"}",
                VARIA_ERR_MANIFEST, "poisson");
    mutate_case("likelihood missing -> MANIFEST", "\"likelihood\": {\"type\": \"bernoulli\"},", "",
                VARIA_ERR_MANIFEST, "\"likelihood\"");
    mutate_case("gaussian without variance -> MANIFEST", "{\"type\": \"bernoulli\"}", "{\"type\": \"gaussian\"}",
                VARIA_ERR_MANIFEST, "\"variance\"");
    mutate_case("gaussian fixed without log_var -> MANIFEST", "{\"type\": \"bernoulli\"}",
                "{\"type\": \"gaussian\", \"variance\": \"fixed\"}", VARIA_ERR_MANIFEST, "\"log_var\"");
    mutate_case("gaussian variance \"magic\" -> MANIFEST", "{\"type\": \"bernoulli\"}",
                "{\"type\": \"gaussian\", \"variance\": \"magic\"}", VARIA_ERR_MANIFEST, "magic");
    mutate_case("gaussian fixed log_var 0 -> OK (same tensors)", "{\"type\": \"bernoulli\"}",
                "{\"type\": \"gaussian\", \"variance\": \"fixed\", \"log_var\": 0}", VARIA_OK, NULL);
    mutate_case("gaussian learned without dec1.logvar -> MISSING", "{\"type\": \"bernoulli\"}",
                "{\"type\": \"gaussian\", \"variance\": \"learned\"}", VARIA_ERR_MISSING, "dec1.logvar");
    mutate_case("gaussian decoder without the logvar head -> MISSING", "{\"type\": \"bernoulli\"}",
                "{\"type\": \"gaussian\", \"variance\": \"decoder\"}", VARIA_ERR_MISSING, "dec1.logvar.weight");

    mutate_case("weights file missing -> IO", "\"file\": \"model.safetensors\"", "\"file\": \"nope.safetensors\"",
                VARIA_ERR_IO, "nope.safetensors");
    mutate_case("weights file is a directory -> IO", "\"file\": \"model.safetensors\"", "\"file\": \".\"",
                VARIA_ERR_IO, "not a regular file");
    /* A FIFO named as weights, manifest or dataset must be refused, not block
     * forever in open() (found by hand while fuzzing). */
    if (mkfifo(tp("wfifo"), 0600) == 0) {
        mutate_case("weights file is a FIFO -> IO, no hang", "\"file\": \"model.safetensors\"", "\"file\": \"wfifo\"",
                    VARIA_ERR_IO, "not a regular file");
        varia_model *fm = NULL;
        varia_dataset fd;
        tap_check(varia_model_load(ctx, tp("wfifo"), &fm) == VARIA_ERR_IO && !fm,
                  "manifest path is a FIFO -> IO, no hang");
        tap_check(varia_dataset_load(ctx, tp("wfifo"), 0, &fd) == VARIA_ERR_IO, "dataset path is a FIFO -> IO, no hang");
        unlink(tp("wfifo"));
    }
    mutate_case("weights file empty string -> MANIFEST", "\"file\": \"model.safetensors\"", "\"file\": \"\"",
                VARIA_ERR_MANIFEST, "\"file\"");
    mutate_case("weights missing -> MANIFEST", "\"weights\": {\"format\": \"safetensors\", \"file\": \"model.safetensors\"},",
                "", VARIA_ERR_MANIFEST, "\"weights\"");
    mutate_case("raw format without \"tensors\" -> MANIFEST", "\"format\": \"safetensors\"", "\"format\": \"raw\"",
                VARIA_ERR_MANIFEST, "\"tensors\"");
    mutate_case("unknown weights format -> MANIFEST", "\"format\": \"safetensors\"", "\"format\": \"npz\"",
                VARIA_ERR_MANIFEST, "npz");

    /* Unknown optional keys: loaded, and reported as warnings naming the key. */
    {
        char *text = replace(good_manifest, "\"family\": \"vae\",", "\"family\": \"vae\", \"future_key\": [1, 2],");
        char *t2 = replace(text, "\"latent\": 2,", "\"latent\": 2, \"dropout\": 0.1,");
        int ok = write_text("warn.json", t2) && load_is("warn.json", VARIA_OK, NULL, "unknown keys", NULL);
        const char *w = varia_ctx_warnings(ctx);
        ok = ok && strstr(w, "future_key") && strstr(w, "dropout");
        if (!ok)
            printf("# warnings: '%s'\n", w);
        tap_check(ok, "unknown optional keys -> OK, warnings name each key");
        /* The warnings belong to the last load: a clean load clears them. */
        ok = load_is("model.json", VARIA_OK, NULL, "clean load after warnings", NULL) &&
             varia_ctx_warnings(ctx)[0] == '\0';
        tap_check(ok, "warnings are reset by the next load");
        free(text);
        free(t2);
        /* A checkpoint's resume state is a known key: it loads quietly. */
        text = replace(good_manifest, "\"family\": \"vae\",", "\"family\": \"vae\", \"training\": {\"epoch\": 3},");
        ok = write_text("ckpt.json", text) && load_is("ckpt.json", VARIA_OK, NULL, "checkpoint manifest", NULL) &&
             varia_ctx_warnings(ctx)[0] == '\0';
        tap_check(ok, "a checkpoint's \"training\" object -> OK, no warning");
        free(text);
    }
    /* The weights file is resolved relative to the manifest's directory. */
    {
        int ok = write_text("model.json", good_manifest);
        char cwd[1024];
        ok = ok && getcwd(cwd, sizeof cwd) && chdir(tmpdir) == 0;
        varia_model *mm = NULL;
        ok = ok && expect(varia_model_load(ctx, "model.json", &mm), VARIA_OK, NULL, "relative manifest path");
        varia_model_free(mm);
        ok = (chdir(cwd) == 0) && ok;
        tap_check(ok, "manifest given as a bare relative name loads its weights");
    }

    /* A manifest fuzz: a few bytes of the good manifest changed; never crash. */
    /* (in test_fuzz) */
}

/* The tensor table of `g` as the manifest's "tensors" object (raw format). */
static char *raw_manifest(const model *g, const char *file)
{
    buf h = {0};
    header_json(g, &h);
    char *tensors = replace((const char *)h.p, "\"__metadata__\":{\"format\":\"pt\"},", "");
    buf w = {0};
    buf_printf(&w, "{\"format\": \"raw\", \"file\": \"%s\", \"tensors\": ", file);
    buf_add(&w, tensors, strlen(tensors));
    buf_printf(&w, "}");
    char *text = replace(good_manifest, "{\"format\": \"safetensors\", \"file\": \"model.safetensors\"}",
                         (const char *)w.p);
    free(h.p);
    free(w.p);
    free(tensors);
    return text;
}

static void test_raw(void)
{
    model g;
    good_model(&g);
    buf d = {0};
    data_bytes(&g, &d);
    char *text = raw_manifest(&g, "model.bin");
    float out[2 * NZ * 4];
    int ok = write_text("raw.json", text) && write_bytes("model.bin", d.p, d.len) &&
             decode_with("raw.json", out, "raw format") && !memcmp(out, good_out, sizeof out);
    tap_check(ok, "raw format (tensor table in the manifest) loads, same outputs as safetensors");

    ok = write_bytes("model.bin", d.p, d.len - 8);
    tap_check(ok && load_is("raw.json", VARIA_ERR_TRUNCATED, "holds only 216", "raw truncated", NULL),
              "raw format, blob truncated by 8 bytes -> TRUNCATED");
    buf d2 = {0};
    buf_add(&d2, d.p, d.len);
    buf_add(&d2, "\0\0\0\0", 4);
    ok = write_bytes("model.bin", d2.p, d2.len);
    tap_check(ok && load_is("raw.json", VARIA_ERR_TRAILING, "4 bytes after", "raw trailing", NULL),
              "raw format, 4 extra bytes -> TRAILING");
    ok = write_bytes("model.bin", "", 0);
    tap_check(ok && load_is("raw.json", VARIA_ERR_TRUNCATED, "holds only 0", "raw empty", NULL),
              "raw format, empty blob -> TRUNCATED");
    free(d2.p);
    free(text);

    /* Raw with a table that mentions a bad dtype: same validation as safetensors. */
    snprintf(find(&g, "enc1.scale.weight")->dtype, sizeof g.t[0].dtype, "F64");
    text = raw_manifest(&g, "model.bin");
    ok = write_text("raw.json", text) && write_bytes("model.bin", d.p, d.len);
    tap_check(ok && load_is("raw.json", VARIA_ERR_DTYPE, "enc1.scale.weight", "raw dtype", NULL),
              "raw format, dtype F64 in the manifest table -> DTYPE");
    free(text);
    free(d.p);
    free_model(&g);
}

static void test_half_and_alignment(void)
{
    static const char *const kinds[] = {"BF16", "F16"};
    for (int k = 0; k < 2; k++) {
        model g;
        good_model(&g);
        for (int i = 0; i < g.n; i++)
            to_half(&g, g.t[i].name, kinds[k]);
        float out[2 * NZ * 4];
        int ok = write_text("model.json", good_manifest) && write_model("model.safetensors", &g, 0) &&
                 decode_with("model.json", out, kinds[k]);
        if (ok && memcmp(out, good_out, sizeof out)) {
            printf("# %s outputs differ from F32 (first: %.9g vs %.9g)\n", kinds[k], out[0], good_out[0]);
            ok = 0;
        }
        char what[96];
        snprintf(what, sizeof what, "all weights %s (exact values) -> bit-identical outputs to F32", kinds[k]);
        tap_check(ok, what);
        free_model(&g);
    }
    {
        /* Mixed dtypes, and an odd-sized F16 tensor first so every later F32 tensor
         * sits at an offset == 2 (mod 4): they must be copied, not used in place. */
        model g;
        good_model(&g);
        tensor first = g.t[1]; /* enc1.hidden.0.bias: 3 values */
        memmove(&g.t[1], &g.t[0], sizeof first);
        g.t[0] = first;
        to_half(&g, "enc1.hidden.0.bias", "F16");
        to_half(&g, "dec1.hidden.0.weight", "BF16");
        float out[2 * NZ * 4];
        int ok = write_text("model.json", good_manifest) && write_model("model.safetensors", &g, 0) &&
                 decode_with("model.json", out, "mixed dtypes") && !memcmp(out, good_out, sizeof out);
        tap_check(ok, "mixed F16/BF16/F32 with misaligned F32 tensors -> bit-identical outputs");
        free_model(&g);
    }
    for (int rem = 1; rem < 8; rem++) {
        model g;
        good_model(&g);
        float out[2 * NZ * 4];
        int ok = write_text("model.json", good_manifest) && write_model("model.safetensors", &g, rem) &&
                 decode_with("model.json", out, "unaligned") && !memcmp(out, good_out, sizeof out);
        char what[96];
        snprintf(what, sizeof what, "F32 data starting at file offset %d (mod 8) -> same values", rem);
        tap_check(ok, what);
        free_model(&g);
    }
    {
        /* F16 subnormals and negative zero widen exactly. */
        model g;
        good_model(&g);
        to_half(&g, "dec1.out.bias", "F16");
        uint16_t h[4] = {0x0001, 0x8000, 0x03ff, 0x8001}; /* 2^-24, -0, largest subnormal, -2^-24 */
        memcpy(find(&g, "dec1.out.bias")->bytes, h, 8);
        float want_b[4] = {ldexpf(1.0f, -24), -0.0f, ldexpf(1023.0f, -24), -ldexpf(1.0f, -24)};
        model r;
        good_model(&r);
        set_f32(find(&r, "dec1.out.bias"), want_b, 4);
        float o1[2 * NZ * 4], o2[2 * NZ * 4];
        int ok = write_text("model.json", good_manifest) && write_model("model.safetensors", &g, 0) &&
                 decode_with("model.json", o1, "f16 subnormal") && write_model("model.safetensors", &r, 0) &&
                 decode_with("model.json", o2, "f32 subnormal ref") && !memcmp(o1, o2, sizeof o1);
        tap_check(ok, "F16 subnormals and -0 widen exactly");
        free_model(&g);
        free_model(&r);
    }
}

static void test_api_args(void)
{
    model g;
    good_model(&g);
    write_text("model.json", good_manifest);
    write_model("model.safetensors", &g, 0);
    free_model(&g);
    varia_model *m = NULL, *mm = NULL;
    tap_check(varia_model_load(NULL, tp("model.json"), &mm) == VARIA_ERR_ARG && !mm, "model_load(NULL ctx) -> ARG");
    tap_check(expect(varia_model_load(ctx, NULL, &mm), VARIA_ERR_ARG, "null", "load null path") && !mm,
              "model_load(NULL path) -> ARG");
    tap_check(expect(varia_model_load(ctx, tp("model.json"), NULL), VARIA_ERR_ARG, "null", "load null out"),
              "model_load(NULL out) -> ARG");
    tap_check(varia_model_info(NULL, NULL) == VARIA_ERR_ARG && varia_model_provenance(NULL) == NULL,
              "model_info(NULL) -> ARG, provenance(NULL) -> NULL");
    varia_model_free(NULL);
    if (!load_is("model.json", VARIA_OK, NULL, "api model", &m)) {
        tap_check(0, "API argument tests need the model");
        return;
    }
    float x[8] = {0, 1, 1, 0, 1, 0, 1, 0}, z[4] = {0}, out[8], lv[4];
    varia_eval_opts o = {.k = 4, .seed = 1, .binarize = VARIA_BIN_NONE};
    varia_eval_summary s;
    tap_check(expect(varia_encode(ctx, m, x, -1, z, lv), VARIA_ERR_ARG, "-1", "encode n=-1"), "encode n < 0 -> ARG");
    tap_check(expect(varia_encode(ctx, m, NULL, 1, z, lv), VARIA_ERR_ARG, "null", "encode x=NULL"),
              "encode NULL x -> ARG");
    tap_check(varia_encode(NULL, m, x, 1, z, lv) == VARIA_ERR_ARG, "encode NULL ctx -> ARG");
    tap_check(expect(varia_encode_sample(ctx, m, x, -1, 0, z), VARIA_ERR_ARG, "-1", "encode_sample n=-1"),
              "encode_sample n < 0 -> ARG");
    tap_check(expect(varia_encode_sample(ctx, m, x, 1, 0, NULL), VARIA_ERR_ARG, "null", "encode_sample z=NULL"),
              "encode_sample NULL output -> ARG");
    {
        float xs[8] = {0, 1, 1, 0, 1, NAN, 0, 0};
        tap_check(expect(varia_encode_sample(ctx, m, xs, 2, 0, z), VARIA_ERR_NONFINITE, "example 1, element 1",
                         "encode_sample NaN"),
                  "encode_sample of data with NaN -> NONFINITE");
    }
    tap_check(expect(varia_reconstruct(ctx, m, x, 1, NULL), VARIA_ERR_ARG, "null", "reconstruct out=NULL"),
              "reconstruct NULL output -> ARG");
    {
        float xs[8] = {0, 1, 1, 0, 1, 0, INFINITY, 0};
        tap_check(expect(varia_reconstruct(ctx, m, xs, 2, out), VARIA_ERR_NONFINITE, "example 1, element 2",
                         "reconstruct Inf"),
                  "reconstruct of data with Inf -> NONFINITE");
    }
    tap_check(expect(varia_decode(ctx, m, z, -1, VARIA_DECODE_MEAN, out, NULL), VARIA_ERR_ARG, "-1", "decode n=-1"),
              "decode n < 0 -> ARG");
    tap_check(expect(varia_decode(ctx, m, z, 1, (varia_decode_kind)7, out, NULL), VARIA_ERR_ARG, "kind", "decode kind"),
              "decode unknown kind -> ARG");
    tap_check(expect(varia_decode(ctx, NULL, z, 1, VARIA_DECODE_MEAN, out, NULL), VARIA_ERR_ARG, "null", "decode m=NULL"),
              "decode NULL model -> ARG");
    tap_check(expect(varia_sample(ctx, m, -1, 0, 1.0f, out, NULL), VARIA_ERR_ARG, "-1", "sample n=-1"),
              "sample n < 0 -> ARG");
    tap_check(expect(varia_eval(ctx, m, x, -1, &o, NULL, &s), VARIA_ERR_ARG, "-1", "eval n=-1"), "eval n < 0 -> ARG");
    tap_check(expect(varia_eval(ctx, m, x, 0, &o, NULL, &s), VARIA_ERR_ARG, "at least one", "eval n=0"),
              "eval n = 0 -> ARG");
    o.k = 0;
    tap_check(expect(varia_eval(ctx, m, x, 2, &o, NULL, &s), VARIA_ERR_ARG, "k = 0", "eval k=0"), "eval k = 0 -> ARG");
    o.k = -5;
    tap_check(expect(varia_eval(ctx, m, x, 2, &o, NULL, &s), VARIA_ERR_ARG, "k = -5", "eval k=-5"), "eval k < 0 -> ARG");
    o.k = 4;
    tap_check(expect(varia_eval(ctx, m, x, 2, NULL, NULL, &s), VARIA_ERR_ARG, "options", "eval opts=NULL"),
              "eval NULL options -> ARG");
    o.binarize = (varia_binarize)9;
    tap_check(expect(varia_eval(ctx, m, x, 2, &o, NULL, &s), VARIA_ERR_ARG, "binarization 9", "eval binarize=9"),
              "eval unknown binarization -> ARG");
    o.binarize = VARIA_BIN_NONE;
    tap_check(expect(varia_sample(ctx, m, 1, 0, NAN, out, NULL), VARIA_ERR_ARG, "temperature", "sample T=NaN"),
              "sample temperature NaN -> ARG");
    tap_check(expect(varia_sample(ctx, m, 1, 0, -1.0f, out, NULL), VARIA_ERR_ARG, "temperature", "sample T=-1"),
              "sample temperature -1 -> ARG");
    tap_check(expect(varia_sample(ctx, m, 1, 0, INFINITY, out, NULL), VARIA_ERR_ARG, "temperature", "sample T=inf"),
              "sample temperature Inf -> ARG");
    tap_check(expect(varia_sample(ctx, m, 2, 0, 0.0f, out, z), VARIA_OK, NULL, "sample T=0") && z[0] == 0.0f &&
                  z[3] == 0.0f,
              "sample temperature 0 -> OK, z = prior mean");

    float zn[4] = {0.5f, NAN, 0.0f, 0.0f};
    tap_check(expect(varia_decode(ctx, m, zn, 2, VARIA_DECODE_MEAN, out, NULL), VARIA_ERR_NONFINITE,
                     "latent 0, element 1 is NaN", "decode NaN"),
              "decode of a latent containing NaN -> NONFINITE");
    zn[1] = 0.0f;
    zn[2] = INFINITY;
    tap_check(expect(varia_decode(ctx, m, zn, 2, VARIA_DECODE_MEAN, out, NULL), VARIA_ERR_NONFINITE,
                     "latent 1, element 0 is infinite", "decode Inf"),
              "decode of a latent containing Inf -> NONFINITE");
    float xn[8] = {0, 1, 1, 0, 1, 0, NAN, 0};
    tap_check(expect(varia_eval(ctx, m, xn, 2, &o, NULL, &s), VARIA_ERR_NONFINITE, "example 1, element 2", "eval NaN"),
              "eval of data with NaN -> NONFINITE");
    tap_check(expect(varia_encode(ctx, m, xn, 2, z, lv), VARIA_ERR_NONFINITE, "example 1, element 2", "encode NaN"),
              "encode of data with NaN -> NONFINITE");
    float x255[8] = {0, 255, 255, 0, 255, 0, 0, 255};
    tap_check(expect(varia_eval(ctx, m, x255, 2, &o, NULL, &s), VARIA_ERR_ARG, "255", "eval 255"),
              "eval of 0/255 data for a Bernoulli model -> ARG");
    float xneg[4] = {0, -0.5f, 1, 0};
    tap_check(expect(varia_eval(ctx, m, xneg, 1, &o, NULL, &s), VARIA_ERR_ARG, "-0.5", "eval negative"),
              "eval of negative data for a Bernoulli model -> ARG");
    tap_check(expect(varia_eval(ctx, m, x, 2, &o, NULL, &s), VARIA_OK, NULL, "eval ok") && s.n == 2 && s.k == 4 &&
                  isfinite(s.nll_mean) && isfinite(s.elbo),
              "eval of valid data -> OK (sanity)");

    float za[2] = {0, 0}, zb[2] = {1, 1}, zi[8];
    tap_check(varia_interpolate_latents(za, zb, 2, 1, VARIA_LERP, zi) == VARIA_ERR_ARG, "interpolate steps 1 -> ARG");
    tap_check(varia_interpolate_latents(za, zb, 2, 0, VARIA_SLERP, zi) == VARIA_ERR_ARG, "interpolate steps 0 -> ARG");
    tap_check(varia_interpolate_latents(za, zb, 0, 3, VARIA_LERP, zi) == VARIA_ERR_ARG, "interpolate L 0 -> ARG");
    tap_check(varia_interpolate_latents(za, zb, 2, 3, (varia_interp)5, zi) == VARIA_ERR_ARG,
              "interpolate unknown method -> ARG");
    tap_check(varia_interpolate_latents(za, NULL, 2, 3, VARIA_LERP, zi) == VARIA_ERR_ARG, "interpolate NULL -> ARG");
    tap_check(varia_interpolate_latents(za, zb, 2, 3, VARIA_SLERP, zi) == VARIA_OK && zi[0] == 0.0f && zi[4] == 1.0f &&
                  zi[5] == 1.0f && fabsf(zi[2] - 0.5f) < 1e-6f,
              "interpolate from the zero latent falls back to lerp");
    tap_check(varia_ctx_set_threads(ctx, -1) == VARIA_ERR_ARG && varia_ctx_set_threads(NULL, 1) == VARIA_ERR_ARG &&
                  varia_ctx_set_threads(ctx, 0) == VARIA_OK,
              "ctx_set_threads(-1 / NULL ctx) -> ARG");
    varia_model_free(m);
}

/* ---- fuzz ----------------------------------------------------------------- */

static uint64_t lcg_state = 0x9e3779b97f4a7c15ull;

static uint32_t lcg(void)
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(lcg_state >> 33);
}

static int documented(varia_status st, int manifest)
{
    switch (st) {
    case VARIA_OK: case VARIA_ERR_HEADER: case VARIA_ERR_JSON: case VARIA_ERR_MANIFEST:
    case VARIA_ERR_TRUNCATED: case VARIA_ERR_TRAILING: case VARIA_ERR_OFFSET: case VARIA_ERR_OVERLAP:
    case VARIA_ERR_HOLE: case VARIA_ERR_DTYPE: case VARIA_ERR_SHAPE: case VARIA_ERR_MISSING:
    case VARIA_ERR_UNEXPECTED: case VARIA_ERR_DUPLICATE: case VARIA_ERR_NONFINITE: case VARIA_ERR_TOO_LARGE:
        return 1;
    case VARIA_ERR_VERSION: case VARIA_ERR_IO:
        return manifest; /* the manifest names the format/version and the weights file */
    default:
        return 0;
    }
}

/* Change 1-8 bytes of p[0..len) (random bytes, single bit flips, JSON-ish
 * characters, or a digit changed into another digit so that numbers in the
 * header stay numbers), or truncate: returns the new length. */
static size_t mutate(unsigned char *p, size_t len, int allow_truncate)
{
    static const char tokens[] = "0123456789-+.eE\"[]{},: \\ntfu";
    if (allow_truncate && lcg() % 5 == 0)
        return lcg() % len;
    int k = lcg() % 2 ? 1 : 1 + (int)(lcg() % 8);
    for (int i = 0; i < k; i++) {
        size_t at = lcg() % len;
        switch (lcg() % 4) {
        case 0: p[at] = (unsigned char)lcg(); break;
        case 1: p[at] ^= (unsigned char)(1u << (lcg() % 8)); break;
        case 2: p[at] = (unsigned char)tokens[lcg() % (sizeof tokens - 1)]; break;
        default: /* the next digit at or after `at` becomes another digit */
            for (size_t j = 0; j < len; j++) {
                size_t q = (at + j) % len;
                if (p[q] >= '0' && p[q] <= '9' && (q >= 8 || len < 16)) {
                    p[q] = (unsigned char)('0' + lcg() % 10);
                    break;
                }
            }
            break;
        }
    }
    return len;
}

static void test_fuzz(void)
{
    model g;
    good_model(&g);
    buf f = {0};
    model_file(&g, 0, &f);
    free_model(&g);
    write_text("model.json", good_manifest);
    unsigned char *c = malloc(f.len);
    int iters = 2000, accepted = 0, bad = 0, counts[32] = {0};
    for (int it = 0; it < iters; it++) {
        memcpy(c, f.p, f.len);
        size_t len = mutate(c, f.len, 1);
        if (!write_bytes("model.safetensors", c, len)) {
            bad++;
            continue;
        }
        varia_model *m = NULL;
        varia_status st = varia_model_load(ctx, tp("model.json"), &m);
        counts[(unsigned)st < 32 ? st : 31]++;
        if (!documented(st, 0) || (st != VARIA_OK) != (m == NULL) || (st != VARIA_OK && !varia_ctx_message(ctx)[0])) {
            if (bad++ < 5)
                printf("# weights fuzz iteration %d: %s (%s)\n", it, varia_status_name(st), varia_ctx_message(ctx));
        }
        if (st == VARIA_OK) {
            accepted++;
            float out[8];
            if (varia_decode(ctx, m, test_z, 2, VARIA_DECODE_MEAN, out, NULL) != VARIA_OK)
                bad++;
        }
        varia_model_free(m);
    }
    printf("# weights fuzz: %d iterations, %d accepted; statuses:", iters, accepted);
    for (int s = 0; s < 32; s++)
        if (counts[s])
            printf(" %s=%d", varia_status_name((varia_status)s), counts[s]);
    printf("\n");
    tap_check(bad == 0, "weights fuzz: 2000 mutated files load OK or fail with a documented status");
    free(c);

    /* The same over the manifest text (weights left intact). */
    write_bytes("model.safetensors", f.p, f.len);
    size_t mlen = strlen(good_manifest);
    c = malloc(mlen + 1);
    accepted = bad = 0;
    memset(counts, 0, sizeof counts);
    for (int it = 0; it < 1000; it++) {
        memcpy(c, good_manifest, mlen);
        size_t len = mutate(c, mlen, 1);
        if (!write_bytes("fuzz.json", c, len)) {
            bad++;
            continue;
        }
        varia_model *m = NULL;
        varia_status st = varia_model_load(ctx, tp("fuzz.json"), &m);
        counts[(unsigned)st < 32 ? st : 31]++;
        if (!documented(st, 1) || (st != VARIA_OK) != (m == NULL) || (st != VARIA_OK && !varia_ctx_message(ctx)[0])) {
            if (bad++ < 5)
                printf("# manifest fuzz iteration %d: %s (%s)\n", it, varia_status_name(st), varia_ctx_message(ctx));
        }
        accepted += st == VARIA_OK;
        varia_model_free(m);
    }
    printf("# manifest fuzz: 1000 iterations, %d accepted; statuses:", accepted);
    for (int s = 0; s < 32; s++)
        if (counts[s])
            printf(" %s=%d", varia_status_name((varia_status)s), counts[s]);
    printf("\n");
    tap_check(bad == 0, "manifest fuzz: 1000 mutated manifests load OK or fail with a documented status");
    free(c);
    free(f.p);
}

int main(void)
{
    verbose = getenv("VARIA_TEST_VERBOSE") != NULL;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/varia-format-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    ctx = varia_ctx_new();
    if (!ctx) {
        remove_tmpdir();
        return 1;
    }
    test_good();
    test_header_length();
    test_header_json();
    test_page_end();
    test_data_region();
    test_shapes_dtypes();
    test_table_vs_architecture();
    test_manifest();
    test_flow();
    test_raw();
    test_half_and_alignment();
    test_api_args();
    test_fuzz();
    varia_ctx_free(ctx);
    remove_tmpdir();
    return tap_done();
}
