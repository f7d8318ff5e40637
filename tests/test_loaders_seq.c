/* Tests for sequence datasets (varia_seqset_load): the polyphonic-music
 * corpora against the figures in ../shared/data/README.md; NumPy fixtures
 * written by numpy itself (tests/npy/, tools/make_npy_fixtures.py) for every
 * dtype, version and order; archives built here in C (tests/seq_build.h),
 * stored and deflated, with zip64 records and a comment; images as rows; and
 * every kind of bad input, each with its own status. TAP output.
 * Env: VARIA_SOURCE_ROOT (the fixtures; then ROOT/../shared/data for the
 * music, skipped when absent, as test_loaders does) or VARIA_SHARED_DATA.
 * VARIA_TEST_VERBOSE=1 prints the message of every expected failure. */
#include "varia.h"

#include "seq_common.h"

#include <math.h>

/* s holds n sequences of the given lengths, dim values each, by the rule. */
static int check_set(const varia_seqset *s, char kind, int64_t n, const int64_t *len, int64_t dim)
{
    int ok = s->n == n && s->dim == dim && s->x && s->lengths && s->offsets && s->offsets[0] == 0;
    for (int64_t i = 0; ok && i < n; i++)
        ok = s->lengths[i] == len[i] && s->offsets[i + 1] == s->offsets[i] + len[i];
    ok = ok && s->total == s->offsets[n];
    for (int64_t k = 0; ok && k < s->total * dim; k++)
        if (s->x[k] != (float)rule(kind, k)) {
            printf("# x[%lld] = %g, want %g\n", (long long)k, s->x[k], rule(kind, k));
            ok = 0;
        }
    return ok;
}

/* ---- NumPy's own files ------------------------------------------------------- */

static void test_fixtures(const char *root)
{
    static const char *const codes[] = {"b1", "i1", "u1", "i2", "i4", "i8", "u2", "u4", "u8",
                                        "f4", "f8", "be_i2", "be_i4", "be_i8", "be_u2",
                                        "be_u4", "be_u8", "be_f4", "be_f8"};
    char path[1200];
    int64_t len24[2] = {2, 4}, len15[2] = {1, 5}, len3[2] = {3, 3};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        snprintf(path, sizeof path, "%s/tests/npy/dtype_%s.npz", root, codes[i]);
        varia_seqset s;
        char kind = codes[i][strlen(codes[i]) - 2];
        int ok = expect(varia_seqset_load(ctx, path, 0, &s), VARIA_OK, NULL, path) &&
                 check_set(&s, kind, 2, len24, 3);
        varia_seqset_free(&s);
        tap_okf(ok, "numpy .npz, x of dtype %s (%s), lengths [2, 4]", codes[i],
                i % 2 ? "savez_compressed: deflate" : "savez: stored");
    }
    static const char *const npys[] = {"v1", "v2", "v3", "big", "fortran"};
    for (size_t i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/tests/npy/%s.npy", root, npys[i]);
        varia_seqset s;
        int ok = expect(varia_seqset_load(ctx, path, 0, &s), VARIA_OK, NULL, path) &&
                 check_set(&s, i == 4 ? 'i' : 'f', 2, len3, 4);
        varia_seqset_free(&s);
        ok = ok && expect(varia_seqset_load(ctx, path, 1, &s), VARIA_OK, NULL, "limit 1") &&
             check_set(&s, i == 4 ? 'i' : 'f', 1, len3, 4);
        varia_seqset_free(&s);
        tap_okf(ok, "numpy .npy %s: [2, 3, 4] as 2 sequences of 3 frames (limit 1: the first)",
                npys[i]);
    }
    snprintf(path, sizeof path, "%s/tests/npy/fortran_x.npz", root);
    varia_seqset s;
    int ok = expect(varia_seqset_load(ctx, path, 0, &s), VARIA_OK, NULL, path) &&
             check_set(&s, 'f', 2, len15, 3);
    varia_seqset_free(&s);
    ok = ok && expect(varia_seqset_load(ctx, path, 1, &s), VARIA_OK, NULL, "limit 1") &&
         check_set(&s, 'f', 1, len15, 3);
    varia_seqset_free(&s);
    tap_check(ok, "numpy .npz with a Fortran-order x: transposed into frames");
}

/* ---- Archives built here ----------------------------------------------------- */

static void test_built(void)
{
    static const int flags[] = {0, SB_ZIP64_EXTRA, SB_ZIP64_END | SB_COMMENT, SB_COMMENT,
                                SB_ZIP64_CENTRAL | SB_ZIP64_EXTRA};
    static const char *const names[] = {"plain", "zip64 extra fields",
                                        ("zip64 end records and a comment holding a fake end signature"),
                                        "a comment",
                                        "directory sizes and offsets saturated, in zip64 fields"};
    for (int method = 0; method <= 8; method += 8)
        for (int f = 0; f < 5; f++) {
            sb_buf b = {0};
            npz_base(&b, method, flags[f], NULL);
            varia_seqset s;
            int ok = expect(load_bytes(&b, "b.npz", 0, &s), VARIA_OK, NULL, names[f]) &&
                     check_set(&s, 'u', 2, len_i8, 3);
            varia_seqset_free(&s);
            ok = ok && expect(load_bytes(&b, "b.npz", 1, &s), VARIA_OK, NULL, "limit 1") &&
                 check_set(&s, 'u', 1, len_i8, 3) && s.total == 2;
            varia_seqset_free(&s);
            free(b.p);
            tap_okf(ok, "built .npz, %s members, %s; limit 1 keeps the first sequence",
                    method ? "deflate" : "stored", names[f]);
        }
    /* Sizes after the data (flag bit 3): the local header's fields are zero. */
    sb_buf b = {0};
    sb_layout lay;
    npz_base(&b, 8, 0, &lay);
    for (int i = 0; i < 2; i++) {
        b.p[lay.local[i] + 6] |= 8;
        for (int f = 14; f < 26; f += 4)
            sb_set32(&b, lay.local[i] + (size_t)f, 0);
    }
    varia_seqset s;
    tap_check(expect(load_bytes(&b, "dd.npz", 0, &s), VARIA_OK, NULL, "descriptor") &&
              check_set(&s, 'u', 2, len_i8, 3), "built .npz with sizes in data descriptors");
    varia_seqset_free(&s);
    free(b.p);
}

/* Every shorter prefix of a valid file fails: an .npz with VARIA_ERR_DATASET
 * (its end record is gone), an .npy by where the cut falls. */
static void test_truncations(void)
{
    sb_buf z = {0}, y = {0};
    npz_base(&z, 8, SB_ZIP64_EXTRA, NULL);
    int ok = 1;
    for (size_t cut = 0; cut < z.n && ok; cut++) {
        sb_buf part = {z.p, cut, cut};
        char what[64];
        snprintf(what, sizeof what, ".npz cut to %zu of %zu bytes", cut, z.n);
        ok = expect(load_bytes(&part, "cut.npz", 0, NULL), VARIA_ERR_DATASET, NULL, what);
    }
    tap_okf(ok, "an .npz cut at every byte offset -> VARIA_ERR_DATASET");
    float v[24] = {0};
    sb_npy(&y, 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }", v, sizeof v);
    ok = 1;
    for (size_t cut = 0; cut < y.n && ok; cut++) {
        sb_buf part = {y.p, cut, cut};
        char what[64];
        snprintf(what, sizeof what, ".npy cut to %zu of %zu bytes", cut, y.n);
        varia_status want = cut < 12 ? (cut < 10 ? VARIA_ERR_DATASET : VARIA_ERR_HEADER)
                          : cut < 128 ? VARIA_ERR_HEADER : VARIA_ERR_TRUNCATED;
        ok = expect(load_bytes(&part, "cut.npy", 0, NULL), want, NULL, what);
    }
    tap_okf(ok, "an .npy (2.0) cut at every byte offset -> DATASET, HEADER, then TRUNCATED");
    free(z.p);
    free(y.p);
}

/* ---- Images as rows ------------------------------------------------------------ */

static void test_images(void)
{
    uint8_t idx[16 + 2 * 3 * 4] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4};
    for (int i = 0; i < 24; i++)
        idx[16 + i] = (uint8_t)(i * 10);
    sb_buf b = {idx, sizeof idx, sizeof idx};
    varia_seqset s;
    int ok = expect(load_bytes(&b, "t-images-idx3-ubyte", 0, &s), VARIA_OK, NULL, "idx") &&
             s.n == 2 && s.dim == 4 && s.total == 6 && s.lengths[1] == 3 && s.offsets[2] == 6;
    for (int i = 0; ok && i < 24; i++)
        ok = s.x[i] == (float)(i * 10) / 255.0f;
    varia_seqset_free(&s);
    tap_check(ok, "IDX images 3x4 as sequences of 3 rows of 4 values");
    /* RGB: frame t is row t of R, then of G, then of B. */
    char dir[300];
    snprintf(dir, sizeof dir, "%s", tp("rgb"));
    mkdir(dir, 0700);
    uint8_t px[2 * 3 * 3];
    for (int i = 0; i < 18; i++)
        px[i] = (uint8_t)(i * 5);
    varia_image img = {3, 2, 3, px};
    char png[400];
    snprintf(png, sizeof png, "%s/a.png", dir);
    ok = expect(varia_png_write(ctx, png, &img), VARIA_OK, NULL, "png") &&
         expect(varia_seqset_load(ctx, dir, 0, &s), VARIA_OK, NULL, dir) && s.n == 1 &&
         s.dim == 9 && s.total == 2;
    for (int t = 0; ok && t < 2; t++)
        for (int c = 0; c < 3; c++)
            for (int w = 0; w < 3; w++)
                ok = ok && s.x[(t * 3 + c) * 3 + w] == (float)px[(t * 3 + w) * 3 + c] / 255.0f;
    varia_seqset_free(&s);
    unlink(png);
    rmdir(dir);
    tap_check(ok, "a PNG folder of 3x2 RGB images: frames of 9 values, channel by channel");
    sb_buf amat = {(uint8_t *)"0 1 0\n1 1 0\n", 12, 12};
    tap_check(expect(load_bytes(&amat, "v.amat", 0, NULL), VARIA_ERR_SHAPE, "not images",
                     "amat of 3 values"), "an .amat of 3-value vectors -> VARIA_ERR_SHAPE");
}

/* ---- The music corpora ------------------------------------------------------- */

static void test_music(const char *dir)
{
    static const struct {
        const char *name;
        int64_t n, frames, lo, hi;
        double density;
    } t[] = {
        {"jsb_chorales_train", 229, 13807, 25, 129, 0.0443}, {"jsb_chorales_valid", 76, 4602, 32, 144, 0.0440},
        {"jsb_chorales_test", 77, 4725, 32, 160, 0.0442}, {"musedata_train", 524, 245202, 9, 3457, 0.0397},
        {"musedata_valid", 135, 82755, 63, 3723, 0.0395}, {"musedata_test", 124, 64339, 45, 4273, 0.0374},
        {"nottingham_train", 694, 176561, 40, 1788, 0.0450}, {"nottingham_valid", 173, 45513, 96, 1473, 0.0450},
        {"nottingham_test", 170, 44463, 63, 1793, 0.0453}, {"piano_midi_train", 87, 75911, 111, 3857, 0.0346},
        {"piano_midi_valid", 12, 8540, 209, 1637, 0.0368}, {"piano_midi_test", 25, 19036, 65, 2645, 0.0335},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char path[1200], name[200];
        snprintf(path, sizeof path, "%s/music/%s.npz", dir ? dir : "", t[i].name);
        snprintf(name, sizeof name, "%s: %lld sequences, %lld frames, lengths %lld-%lld, density "
                 "%.4f", t[i].name, (long long)t[i].n, (long long)t[i].frames, (long long)t[i].lo,
                 (long long)t[i].hi, t[i].density);
        if (!dir || access(path, R_OK) != 0) {
            tap_skip(name, "data not found");
            continue;
        }
        varia_seqset s;
        int ok = expect(varia_seqset_load(ctx, path, 0, &s), VARIA_OK, NULL, path) &&
                 s.n == t[i].n && s.total == t[i].frames && s.dim == 88;
        int64_t lo = ok ? s.lengths[0] : 0, hi = lo;
        double sum = 0;
        for (int64_t k = 0; ok && k < s.n; k++)
            lo = s.lengths[k] < lo ? s.lengths[k] : lo, hi = s.lengths[k] > hi ? s.lengths[k] : hi;
        for (int64_t k = 0; ok && k < s.total * s.dim; k++) {
            ok = s.x[k] == 0.0f || s.x[k] == 1.0f;
            sum += s.x[k];
        }
        double density = ok ? sum / (double)(s.total * s.dim) : 0;
        ok = ok && lo == t[i].lo && hi == t[i].hi && fabs(density - t[i].density) < 5e-5;
        if (!ok)
            printf("# loaded: %lld sequences, %lld frames, %lld-%lld, density %.5f\n",
                   (long long)s.n, (long long)s.total, (long long)lo, (long long)hi, density);
        varia_seqset_free(&s);
        tap_check(ok, name);
    }
}

int main(void)
{
    const char *root = getenv("VARIA_SOURCE_ROOT"), *shared = getenv("VARIA_SHARED_DATA");
    if (!seq_setup() || !root || !*root) {
        printf("Bail out! no temp dir, context or VARIA_SOURCE_ROOT\n");
        return 1;
    }
    char dir[1024];
    if (shared && *shared)
        snprintf(dir, sizeof dir, "%s", shared);
    else
        snprintf(dir, sizeof dir, "%s/../shared/data", root);
    test_fixtures(root);
    test_built();
    test_truncations();
    test_images();
    test_music(dir);
    varia_seqset s = {0};
    varia_seqset_free(&s);
    varia_seqset_free(NULL);
    tap_check(expect(varia_seqset_load(ctx, NULL, 0, &s), VARIA_ERR_ARG, NULL, "null path") &&
              expect(varia_seqset_load(ctx, tp("none.npz"), 0, &s), VARIA_ERR_IO, "none.npz",
                     "missing") && !s.x && !s.n, "null path -> ARG, missing file -> IO; free "
              "safe on a zeroed set");
    seq_teardown();
    return tap_done();
}
