/* Tests for strict JSON (issue 12, item 1) and for the confinement of a
 * manifest's weights file (item 4). Every document varia reads as JSON (the
 * manifest, the safetensors header, the training configuration) must mean
 * the same to varia as to Python's json module, or be refused: duplicate keys
 * at any depth, \u0000 in strings, numbers with leading zeros, control bytes
 * and NUL padding. A manifest names its weights inside its own folder unless
 * the caller allows otherwise, and no message quotes bytes of a file that has
 * not been established as a weights file.
 * Usage: test_json GOLDEN_MODEL_DIR (a safetensors model: model.json and
 * model.safetensors). TAP-style output; exits nonzero on failure. */
#include "varia.h"
#include "tap.h"
#ifdef VARIA_HAVE_TRAIN
#include "config.h"
#endif

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];
static varia_ctx *ctx;
static char *manifest;             /* the golden manifest's text */
static unsigned char *st;          /* the golden safetensors file */
static size_t st_len, hdr_len;     /* its size and its header's length */
static char *header;               /* its header text, NUL-terminated */

/* ---- files ---------------------------------------------------------------- */

static const char *tp(const char *name)
{
    static char buf[4][600];
    static int next;
    char *p = buf[next++ & 3];
    snprintf(p, sizeof buf[0], "%s/%s", tmpdir, name);
    return p;
}

static int write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    size_t w = len ? fwrite(data, 1, len, f) : 0;
    return (fclose(f) == 0) & (w == len);
}

/* Remove tmpdir and what the tests put in it (files and one level of folders). */
static void remove_dir(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char p[900];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        struct stat sb;
        if (depth < 2 && lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            remove_dir(p, depth + 1);
        else
            unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* s with the first `from` replaced by `to` (malloc'd); a missing `from` is a
 * bug in the test. */
static char *replace(const char *s, size_t len, const char *from, const char *to, size_t *out_len)
{
    const char *at = strstr(s, from);
    if (!at) {
        fprintf(stderr, "test bug: '%s' not found\n", from);
        exit(99);
    }
    size_t a = (size_t)(at - s), f = strlen(from), t = strlen(to);
    char *r = malloc(len - f + t + 1);
    memcpy(r, s, a);
    memcpy(r + a, to, t);
    memcpy(r + a + t, at + f, len - a - f);
    r[len - f + t] = '\0';
    if (out_len)
        *out_len = len - f + t;
    return r;
}

/* ---- expectations --------------------------------------------------------- */

/* Status and message check: the message must hold every non-NULL needle. */
static int expect(varia_status got, varia_status want, const char *what, const char *n1, const char *n2)
{
    const char *msg = varia_ctx_message(ctx);
    if (got != want) {
        printf("# %s: got %s (%s), want %s\n", what, varia_status_name(got), msg, varia_status_name(want));
        return 0;
    }
    if (getenv("VARIA_TEST_VERBOSE") && want != VARIA_OK)
        printf("#   %s: %s\n", what, msg);
    const char *needles[2] = {n1, n2};
    for (int i = 0; i < 2; i++)
        if (needles[i] && !strstr(msg, needles[i])) {
            printf("# %s: message '%s' lacks '%s'\n", what, msg, needles[i]);
            return 0;
        }
    return 1;
}

/* Load tmpdir/name with flags; on success check the model is the golden one
 * (latent 3, data [1, 4, 5]). */
static int load_is(const char *name, uint32_t flags, varia_status want, const char *what, const char *n1,
                   const char *n2)
{
    varia_model *m = NULL;
    varia_status s = varia_model_load_ex(ctx, tp(name), flags, &m);
    int ok = expect(s, want, what, n1, n2) && (s == VARIA_OK) == (m != NULL);
    if (ok && m) {
        varia_info in;
        varia_model_info(m, &in);
        ok = in.latent_size == 3 && in.data_size == 20 && in.n_tensors == 14;
        if (!ok)
            printf("# %s: loaded latent %lld, data %lld, %lld tensors\n", what, (long long)in.latent_size,
                   (long long)in.data_size, (long long)in.n_tensors);
    }
    varia_model_free(m);
    return ok;
}

/* The golden manifest with `from` replaced by `to`, next to the golden weights. */
static void manifest_case(const char *what, const char *from, const char *to, varia_status want, const char *n1,
                          const char *n2)
{
    size_t len;
    char *text = replace(manifest, strlen(manifest), from, to, &len);
    int ok = write_bytes(tp("model.safetensors"), st, st_len) && write_bytes(tp("m.json"), text, len);
    tap_check(ok && load_is("m.json", 0, want, what, n1, n2), what);
    free(text);
}

/* The golden weights with `from` replaced by `to` in the header (the length
 * prefix follows), plus `pad` bytes of padding byte `pad_byte`. A byte 0x02
 * in `to` stands for a raw NUL. */
static void header_case(const char *what, const char *from, const char *to, size_t pad, char pad_byte,
                        varia_status want, const char *n1, const char *n2)
{
    size_t len;
    char *h = replace(header, hdr_len, from ? from : "{", to ? to : "{", &len);
    for (size_t i = 0; i < len; i++)
        h[i] = h[i] == '\2' ? '\0' : h[i];
    size_t total = 8 + len + pad + (st_len - 8 - hdr_len);
    unsigned char *f = malloc(total);
    for (int i = 0; i < 8; i++)
        f[i] = (unsigned char)((uint64_t)(len + pad) >> (8 * i));
    memcpy(f + 8, h, len);
    memset(f + 8 + len, pad_byte, pad);
    memcpy(f + 8 + len + pad, st + 8 + hdr_len, st_len - 8 - hdr_len);
    int ok = write_bytes(tp("model.safetensors"), f, total) && write_bytes(tp("m.json"), manifest, strlen(manifest));
    tap_check(ok && load_is("m.json", 0, want, what, n1, n2), what);
    free(f);
    free(h);
}

/* ---- strict JSON: manifest and header --------------------------------------- */

static void test_duplicates(void)
{
    manifest_case("manifest: \"latent\" twice in layers[0] -> DUPLICATE naming key and object",
                  "\"latent\": 3,", "\"latent\": 3, \"latent\": 10,", VARIA_ERR_DUPLICATE, "\"latent\"",
                  "architecture.layers[0]");
    manifest_case("manifest: \"family\" twice at the top -> DUPLICATE", "\"family\": \"vae\",",
                  "\"family\": \"vae\", \"family\": \"iwae\",", VARIA_ERR_DUPLICATE, "\"family\"", "top-level");
    manifest_case("manifest: a key twice deep in provenance -> DUPLICATE", "\"seed\": 101,",
                  "\"seed\": 101, \"x\": [{\"a\": {\"b\": 1, \"b\": 1}}],", VARIA_ERR_DUPLICATE, "\"b\"",
                  "provenance.x[0].a");
    manifest_case("manifest: keys equal only once decoded (\"file\", \"fil\\u0065\") -> DUPLICATE",
                  "\"file\": \"model.safetensors\"", "\"file\": \"model.safetensors\", \"fil\\u0065\": \"x\"",
                  VARIA_ERR_DUPLICATE, "\"file\"", "weights");
    /* 40 nested objects: the object's path is longer than a message holds. */
    char deep[2048] = "\"seed\": 101, \"deep\": ";
    for (int i = 0; i < 40; i++)
        snprintf(deep + strlen(deep), sizeof deep - strlen(deep), "{\"level_%02d\": ", i);
    strcat(deep, "{\"k\": 1, \"k\": 2}");
    for (int i = 0; i < 40; i++)
        strcat(deep, "}");
    manifest_case("manifest: a key twice 41 objects deep -> DUPLICATE, the path cut short", "\"seed\": 101", deep,
                  VARIA_ERR_DUPLICATE, "\"k\" appears twice in provenance.deep.level_00.level_01", "...");
    header_case("header: \"dtype\" twice in a tensor entry -> DUPLICATE naming the tensor",
                "\"dec1.hidden.0.bias\":{\"dtype\":\"F32\"", "\"dec1.hidden.0.bias\":{\"dtype\":\"F32\",\"dtype\":\"F16\"",
                0, ' ', VARIA_ERR_DUPLICATE, "\"dtype\"", "dec1.hidden.0.bias");
    header_case("header: a key twice in __metadata__ -> DUPLICATE", "{", "{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"},",
                0, ' ', VARIA_ERR_DUPLICATE, "\"a\"", "__metadata__");
}

static void test_nul_strings(void)
{
    manifest_case("manifest: \"format\": \"varia\\u0000evil\" -> JSON naming the key", "\"format\": \"varia\"",
                  "\"format\": \"varia\\u0000evil\"", VARIA_ERR_JSON, "\"format\"", "\\u0000");
    manifest_case("manifest: weights file name with \\u0000 -> JSON", "\"model.safetensors\"",
                  "\"model.safetensors\\u0000.txt\"", VARIA_ERR_JSON, "\"file\"", "\\u0000");
    manifest_case("manifest: a key with \\u0000 -> JSON", "\"seed\": 101", "\"seed\\u0000x\": 101", VARIA_ERR_JSON,
                  "seed\\u0000", NULL);
    header_case("header: dtype \"F32\\u0000\" -> JSON", "\"dec1.hidden.0.bias\":{\"dtype\":\"F32\"",
                "\"dec1.hidden.0.bias\":{\"dtype\":\"F32\\u0000\"", 0, ' ', VARIA_ERR_JSON, "\"dtype\"", "\\u0000");
    header_case("header: tensor name with a \\u0000 suffix -> JSON", "\"dec1.hidden.0.bias\"",
                "\"dec1.hidden.0.bias\\u0000x\"", 0, ' ', VARIA_ERR_JSON, "dec1.hidden.0.bias\\u0000", NULL);
    header_case("header: a raw NUL byte ending a tensor name -> JSON", "\"dec1.hidden.0.bias\"",
                "\"dec1.hidden.0.bias\2\"", 0, ' ', VARIA_ERR_JSON, "control byte 0x00", NULL);
    header_case("header: a raw control byte 0x01 inside a tensor name -> JSON", "\"dec1.hidden.0.bias\"",
                "\"dec1.hidden.0.bias\1\"", 0, ' ', VARIA_ERR_JSON, "control byte 0x01", NULL);
    manifest_case("manifest: an escaped backslash before u0000 (\"\\\\u0000\") is plain text -> OK",
                  "\"seed\": 101", "\"seed\": 101, \"note\": \"C:\\\\u0000\"", VARIA_OK, NULL, NULL);
    manifest_case("manifest: other escapes (\\u0001, \\n, \\u00e9) -> OK", "\"seed\": 101",
                  "\"seed\": 101, \"note\": \"\\u0001\\n\\u00e9\"", VARIA_OK, NULL, NULL);
}

static void test_numbers(void)
{
    manifest_case("manifest: \"latent\": 03 -> JSON (leading zero)", "\"latent\": 3", "\"latent\": 03", VARIA_ERR_JSON,
                  "leading zero", "03");
    manifest_case("manifest: -01 deep in provenance -> JSON", "\"seed\": 101", "\"seed\": [1, {\"a\": -01}]",
                  VARIA_ERR_JSON, "leading zero", "-01");
    manifest_case("manifest: 00 -> JSON", "\"seed\": 101", "\"seed\": 00", VARIA_ERR_JSON, "leading zero", NULL);
    header_case("header: data_offsets [0,024] -> JSON", "\"data_offsets\":[0,24]", "\"data_offsets\":[0,024]", 0, ' ',
                VARIA_ERR_JSON, "leading zero", "024");
    static const char *const bad[] = {"1.", "-.5", "1.e3", "2.E-1"};
    for (int i = 0; i < 4; i++) {
        char to[64], what[96];
        snprintf(to, sizeof to, "\"seed\": %s", bad[i]);
        snprintf(what, sizeof what, "manifest: number %s -> JSON (not RFC 8259)", bad[i]);
        manifest_case(what, "\"seed\": 101", to, VARIA_ERR_JSON, "not a JSON number", bad[i]);
    }
    manifest_case("manifest: 0, -0, 0.5, -0.0e-0, 1E+2, 1e5, 10 -> OK", "\"seed\": 101",
                  "\"seed\": [0, -0, 0.5, -0.0e-0, 1E+2, 1e5, 10]", VARIA_OK, NULL, NULL);
}

static void test_control_bytes(void)
{
    manifest_case("manifest: a control byte 0x01 between tokens -> JSON", "\"seed\": 101", "\"seed\":\1 101",
                  VARIA_ERR_JSON, "0x01", NULL);
    manifest_case("manifest: a raw tab inside a string -> JSON", "\"seed\": 101", "\"seed\": \"a\tb\"", VARIA_ERR_JSON,
                  "0x09", NULL);
    /* NUL then text after the manifest: cJSON saw a C string and stopped at the NUL. */
    size_t len = strlen(manifest);
    char *m = malloc(len + 8);
    memcpy(m, manifest, len);
    memcpy(m + len, "\0{\"x\":1}", 8);
    int ok = write_bytes(tp("model.safetensors"), st, st_len) && write_bytes(tp("m.json"), m, len + 8);
    char off[48];
    snprintf(off, sizeof off, "offset %zu", len);
    tap_check(ok && load_is("m.json", 0, VARIA_ERR_JSON, "manifest: NUL and a second object after it -> JSON", "NUL",
                            off),
              "manifest: NUL and a second object after it -> JSON naming the offset");
    free(m);
    char off2[48];
    snprintf(off2, sizeof off2, "offset %zu", 8 + hdr_len);
    header_case("header: NUL padding -> JSON naming the offset", NULL, NULL, 8, '\0', VARIA_ERR_JSON,
                "NUL byte after the header", off2);
    header_case("header: space padding (the convention) -> OK", NULL, NULL, 8, ' ', VARIA_OK, NULL, NULL);
}

/* ---- the training configuration ---------------------------------------------- */

#ifdef VARIA_HAVE_TRAIN
static void config_case(const char *what, const char *extra, varia_status want, const char *n1, int64_t batch)
{
    char text[1024];
    snprintf(text, sizeof text, "{\"architecture\": {\"likelihood\": {\"type\": \"bernoulli\"}, \"layers\": "
             "[{\"latent\": 2, \"encoder\": [], \"decoder\": []}]}, \"data\": {\"train\": \"x.amat\"}, "
             "\"output\": \"out\"%s}", extra);
    tr_config c;
    memset(&c, 0, sizeof c);
    int ok = write_bytes(tp("c.json"), text, strlen(text));
    varia_status s = tr_config_load(ctx, tp("c.json"), &c);
    ok = ok && expect(s, want, what, n1, NULL);
    if (ok && s == VARIA_OK)
        ok = c.batch == batch;
    if (s == VARIA_OK)
        tr_config_free(&c);
    tap_check(ok, what);
}

static void test_config(void)
{
    config_case("config: \"batch\": 7 loads as 7", ", \"batch\": 7", VARIA_OK, NULL, 7);
    config_case("config: \"batch\" twice -> DUPLICATE", ", \"batch\": 7, \"batch\": 3", VARIA_ERR_DUPLICATE,
                "\"batch\"", 0);
    config_case("config: a key twice in \"optimizer\" -> DUPLICATE", ", \"optimizer\": {\"lr\": 1e-3, \"lr\": 1}",
                VARIA_ERR_DUPLICATE, "optimizer", 0);
    config_case("config: \"batch\": 07 -> JSON", ", \"batch\": 07", VARIA_ERR_JSON, "leading zero", 0);
    config_case("config: \"init\": \"he\\u0000x\" -> JSON", ", \"init\": \"he\\u0000x\"", VARIA_ERR_JSON,
                "\"init\"", 0);
}
#endif

/* ---- confinement and no echo --------------------------------------------------- */

static void test_confinement(void)
{
    char to[700];
    mkdir(tp("sub"), 0700);
    write_bytes(tp("sub/w.safetensors"), st, st_len);
    snprintf(to, sizeof to, "\"file\": \"%s\"", tp("model.safetensors"));
    manifest_case("weights file named by an absolute path -> MANIFEST", "\"file\": \"model.safetensors\"", to,
                  VARIA_ERR_MANIFEST, "absolute path", "--allow-outside-weights");
    tap_check(load_is("m.json", VARIA_LOAD_ALLOW_OUTSIDE, VARIA_OK, "absolute path, allowed", NULL, NULL),
              "... loads with VARIA_LOAD_ALLOW_OUTSIDE");
    /* The manifest in sub/ naming ../model.safetensors. */
    size_t len;
    char *text = replace(manifest, strlen(manifest), "\"model.safetensors\"", "\"../model.safetensors\"", &len);
    write_bytes(tp("sub/m.json"), text, len);
    free(text);
    tap_check(load_is("sub/m.json", 0, VARIA_ERR_MANIFEST, "../ escape", "\"..\" component", "../model.safetensors"),
              "weights file \"../model.safetensors\" -> MANIFEST");
    tap_check(load_is("sub/m.json", VARIA_LOAD_ALLOW_OUTSIDE, VARIA_OK, "../ allowed", NULL, NULL),
              "... loads with VARIA_LOAD_ALLOW_OUTSIDE");
    manifest_case("weights file \"sub/../model.safetensors\" (a .. component) -> MANIFEST", "\"model.safetensors\"",
                  "\"sub/../model.safetensors\"", VARIA_ERR_MANIFEST, "\"..\" component", NULL);
    manifest_case("weights file \"./sub/w.safetensors\" stays inside -> OK", "\"model.safetensors\"",
                  "\"./sub/w.safetensors\"", VARIA_OK, NULL, NULL);
    manifest_case("weights file \"..w.safetensors\" is a plain name -> IO (missing), not refused",
                  "\"model.safetensors\"", "\"..w.safetensors\"", VARIA_ERR_IO, "..w.safetensors", NULL);
    varia_model *m = NULL;
    tap_check(expect(varia_model_load_ex(ctx, tp("m.json"), 2u, &m), VARIA_ERR_ARG, "unknown flag", "flags", NULL) &&
                  !m,
              "varia_model_load_ex with an unknown flag bit -> ARG");
    tap_check(expect(varia_model_load_ex(NULL, tp("m.json"), 0, &m), VARIA_ERR_ARG, "null ctx", NULL, NULL) &&
                  expect(varia_model_load_ex(ctx, NULL, 0, &m), VARIA_ERR_ARG, "null path", NULL, NULL) &&
                  expect(varia_model_load_ex(ctx, tp("m.json"), 0, NULL), VARIA_ERR_ARG, "null out", NULL, NULL),
              "varia_model_load_ex with a null argument -> ARG");
}

/* 1 when msg, with the file's own path taken out, holds any 5-byte piece of
 * secret[0, n). */
static int echoes(const char *msg, const char *path, const char *secret, size_t n)
{
    char *m = strdup(msg), *at;
    while ((at = strstr(m, path)) != NULL)
        memset(at, '\1', strlen(path));
    int found = 0;
    for (size_t i = 0; i + 5 <= n && !found; i++) {
        char piece[6];
        memcpy(piece, secret + i, 5);
        piece[5] = '\0';
        found = strlen(piece) == 5 && strstr(m, piece) != NULL;
    }
    free(m);
    return found;
}

/* A manifest naming a file `content` that is no weights file: the load fails
 * with `want`, and the message quotes none of content[text_from, n), nor its
 * first 8 bytes read as the header length (when that number has 5 digits or
 * more, so that it cannot turn up by chance in the scratch folder's name). */
static void no_echo_case(const char *what, const char *content, size_t n, size_t text_from, varia_status want,
                         const char *needle)
{
    size_t len;
    char *text = replace(manifest, strlen(manifest), "\"model.safetensors\"", "\"passwd\"", &len);
    int ok = write_bytes(tp("passwd"), content, n) && write_bytes(tp("m.json"), text, len);
    free(text);
    varia_model *m = NULL;
    ok = ok && expect(varia_model_load_ex(ctx, tp("m.json"), 0, &m), want, what, needle, NULL);
    const char *msg = varia_ctx_message(ctx);
    uint64_t first8 = 0;
    for (int i = 7; i >= 0; i--)
        first8 = (first8 << 8) | (unsigned char)content[i];
    char num[32];
    snprintf(num, sizeof num, "%llu", (unsigned long long)first8);
    if (ok && (echoes(msg, tp("passwd"), content + text_from, n - text_from) || (first8 >= 10000 && strstr(msg, num)))) {
        printf("# %s: the message quotes the file: %s\n", what, msg);
        ok = 0;
    }
    varia_model_free(m);
    tap_check(ok, what);
}

static void test_no_echo(void)
{
    static const char pw[] = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n";
    no_echo_case("a manifest naming a passwd-like file -> HEADER, quoting none of it (not even as a number)", pw,
                 sizeof pw - 1, 0, VARIA_ERR_HEADER, "header length");
    /* A plausible length (16) and text behind it: the JSON error quotes nothing. */
    char lie[8 + sizeof pw];
    memcpy(lie, "\x10\0\0\0\0\0\0\0", 8);
    memcpy(lie + 8, pw, sizeof pw);
    no_echo_case("a file with a small length prefix, then text -> JSON, quoting none of the text", lie,
                 8 + sizeof pw - 1, 8, VARIA_ERR_JSON, "not valid JSON");
    lie[1] = 0x7f; /* 32528 bytes: past the end of the file */
    no_echo_case("... the same with a length past the end -> HEADER, quoting nothing", lie, 8 + sizeof pw - 1, 8,
                 VARIA_ERR_HEADER, "past the end");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_json GOLDEN_MODEL_DIR\n");
        return 2;
    }
    char path[700];
    snprintf(path, sizeof path, "%s/model.json", argv[1]);
    size_t mlen = 0;
    manifest = tap_read_file(path, &mlen);
    snprintf(path, sizeof path, "%s/model.safetensors", argv[1]);
    st = (unsigned char *)tap_read_file(path, &st_len);
    for (int i = 7; st && st_len >= 8 && i >= 0; i--)
        hdr_len = (hdr_len << 8) | st[i];
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/varia-json-XXXXXX", base && *base ? base : "/tmp");
    if (!manifest || !st || hdr_len + 8 > st_len || !mkdtemp(tmpdir) || !(ctx = varia_ctx_new())) {
        fprintf(stderr, "test_json: cannot read %s or set up a scratch folder\n", argv[1]);
        return 1;
    }
    header = malloc(hdr_len + 1);
    memcpy(header, st + 8, hdr_len);
    header[hdr_len] = '\0';
    test_duplicates();
    test_nul_strings();
    test_numbers();
    test_control_bytes();
#ifdef VARIA_HAVE_TRAIN
    test_config();
#endif
    test_confinement();
    test_no_echo();
    varia_ctx_free(ctx);
    remove_dir(tmpdir, 0);
    free(manifest);
    free(st);
    free(header);
    return tap_done();
}
