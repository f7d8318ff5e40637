/* Tests that the dataset loader refuses or stops before it works: a gzip bomb
 * whose first bytes are not a dataset, an IDX header declaring more than the
 * cap, and a limited load of a large file must each run in a few MiB, not in
 * the hundreds of MiB a whole-file read would take. Each load runs in a forked
 * child whose peak resident memory (ru_maxrss) is measured around the call,
 * so one case's peak cannot hide another's. TAP-style output. */
#include "varia.h"

#include "tap.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

/* A whole-file read of any case below would grow the peak by 128 MiB or more;
 * reading only what is needed stays far below this. */
#define GROWTH_LIMIT_KB (32 * 1024)
#define MEMBER_BYTES ((size_t)16 << 20) /* decompressed size of one repeated gzip member */

static char tmpdir[256];

static const char *tp(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* The bytes of one gzip member holding `block` repeated to `total` bytes.
 * Returns a malloc'd buffer (*len bytes) or NULL. */
static uint8_t *gz_member(const void *block, size_t block_len, size_t total, size_t *len)
{
    const char *path = tp("member.gz");
    gzFile g = gzopen(path, "wb");
    int ok = g != NULL;
    for (size_t done = 0; ok && done < total; done += block_len)
        ok = gzwrite(g, block, (unsigned)block_len) == (int)block_len;
    ok = g && gzclose(g) == Z_OK && ok;
    FILE *f = ok ? fopen(path, "rb") : NULL;
    uint8_t *b = f ? malloc((size_t)1 << 22) : NULL;
    *len = b ? fread(b, 1, (size_t)1 << 22, f) : 0;
    if (f)
        fclose(f);
    if (b && (*len == 0 || *len == (size_t)1 << 22)) /* empty, or more than we can hold */
        b = (free(b), NULL);
    return b;
}

/* Write `path`: a gzip member of head, then `copies` members each holding
 * `block` repeated to MEMBER_BYTES (zlib reads concatenated members as one
 * stream), so a file of a few hundred KiB inflates to copies x 16 MiB. */
static int write_bomb(const char *path, const void *head, size_t head_len, const void *block, size_t block_len,
                      int copies)
{
    size_t hl = 0, ml = 0;
    uint8_t *h = head_len ? gz_member(head, head_len, head_len, &hl) : NULL;
    uint8_t *m = gz_member(block, block_len, MEMBER_BYTES, &ml);
    FILE *f = fopen(path, "wb");
    int ok = f && m && (!head_len || (h && fwrite(h, 1, hl, f) == hl));
    for (int i = 0; ok && i < copies; i++)
        ok = fwrite(m, 1, ml, f) == ml;
    ok = f && fclose(f) == 0 && ok;
    free(h);
    free(m);
    return ok;
}

static long peak_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* What a forked child reports about its load. */
typedef struct outcome {
    varia_status st;
    long growth_kb;      /* rise of the peak RSS across the call */
    int64_t n;           /* examples loaded */
    float first[4];      /* the first values, when loaded */
    char msg[256];
} outcome;

/* Load path with limit in a child process; fills *o. 0 if the child failed. */
static int load_in_child(const char *path, int64_t limit, outcome *o)
{
    int fd[2];
    memset(o, 0, sizeof *o);
    if (pipe(fd) != 0)
        return 0;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        varia_ctx *ctx = varia_ctx_new();
        varia_dataset d = {0};
        outcome r = {0};
        long before = peak_kb();
        r.st = varia_dataset_load(ctx, path, limit, &d);
        r.growth_kb = peak_kb() - before;
        r.n = d.n;
        for (int i = 0; i < 4 && i < d.n * d.example_size; i++)
            r.first[i] = d.x[i];
        snprintf(r.msg, sizeof r.msg, "%s", varia_ctx_message(ctx));
        varia_dataset_free(&d);
        varia_ctx_free(ctx);
        _exit(write(fd[1], &r, sizeof r) == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fd[1]);
    int ok = pid > 0 && read(fd[0], o, sizeof *o) == (ssize_t)sizeof *o;
    close(fd[0]);
    int status = 0;
    ok = pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 && ok;
    printf("# %s (limit %lld): %s, peak RSS +%ld KiB: %s\n", path, (long long)limit, varia_status_name(o->st),
           o->growth_kb, o->msg);
    return ok;
}

static int bounded(const outcome *o)
{
    return o->growth_kb < GROWTH_LIMIT_KB;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static void idx_head(uint8_t h[16], uint32_t count, uint32_t rows, uint32_t cols)
{
    put_be32(h, 0x803), put_be32(h + 4, count), put_be32(h + 8, rows), put_be32(h + 12, cols);
}

/* 256 MiB of zeros in a 256 KiB gzip: its first bytes are no dataset. */
static void test_zeros_bomb(const uint8_t *zeros)
{
    outcome o;
    int ok = write_bomb(tp("zeros.gz"), NULL, 0, zeros, 1 << 16, 16) && load_in_child(tp("zeros.gz"), 0, &o);
    tap_okf(ok && o.st == VARIA_ERR_DATASET && strstr(o.msg, "magic") && bounded(&o),
            "a gzip of 256 MiB of zeros is refused from its first bytes (DATASET), peak RSS +%ld KiB", o.growth_kb);
}

/* An IDX header declaring 2^32-1 images of 28x28, then 256 MiB of zeros. */
static void test_idx_header_bomb(const uint8_t *zeros)
{
    uint8_t h[16];
    idx_head(h, 0xffffffffu, 28, 28);
    outcome o;
    int ok = write_bomb(tp("idxbomb-images-idx3-ubyte.gz"), h, 16, zeros, 1 << 16, 16) &&
             load_in_child(tp("idxbomb-images-idx3-ubyte.gz"), 0, &o);
    tap_okf(ok && o.st == VARIA_ERR_TOO_LARGE && strstr(o.msg, "declares 4294967295 images") && bounded(&o),
            "an IDX header declaring 3.4 TB is refused before inflating its data (TOO_LARGE), peak RSS +%ld KiB",
            o.growth_kb);
    ok = load_in_child(tp("idxbomb-images-idx3-ubyte.gz"), 1, &o);
    tap_okf(ok && o.st == VARIA_ERR_TOO_LARGE && bounded(&o),
            "... and so is a limited load of it (DATA:0), peak RSS +%ld KiB", o.growth_kb);
}

/* A valid IDX file of 131072 images of 32x32 (128 MiB): a limit of 2 inflates
 * two images, not the file. */
static void test_idx_limit_bounded(const uint8_t *zeros)
{
    uint8_t h[16];
    idx_head(h, 131072, 32, 32);
    outcome o;
    int ok = write_bomb(tp("big-images-idx3-ubyte.gz"), h, 16, zeros, 1 << 16, 8) &&
             load_in_child(tp("big-images-idx3-ubyte.gz"), 2, &o);
    tap_okf(ok && o.st == VARIA_OK && o.n == 2 && o.first[0] == 0.0f && bounded(&o),
            "IDX of 128 MiB with limit 2 loads 2 images, peak RSS +%ld KiB", o.growth_kb);
}

/* 128 MiB of .amat lines "0 1 0 1": a limit of 1 inflates about one line. */
static void test_amat_limit_bounded(void)
{
    static char text[1 << 16];
    for (size_t i = 0; i < sizeof text; i += 8)
        memcpy(text + i, "0 1 0 1\n", 8);
    outcome o;
    int ok = write_bomb(tp("lines.amat.gz"), NULL, 0, text, sizeof text, 8) &&
             load_in_child(tp("lines.amat.gz"), 1, &o);
    tap_okf(ok && o.st == VARIA_OK && o.n == 1 && o.first[0] == 0.0f && o.first[1] == 1.0f && o.first[3] == 1.0f &&
                bounded(&o),
            ".amat of 128 MiB with limit 1 loads 1 line, peak RSS +%ld KiB", o.growth_kb);
}

static void rm_tree(const char *path)
{
    DIR *dp = opendir(path);
    struct dirent *e;
    while (dp && (e = readdir(dp)) != NULL) {
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlink(sub);
    }
    if (dp)
        closedir(dp);
    rmdir(path);
}

int main(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/varia_bounds_XXXXXX", base && *base ? base : "/tmp");
    uint8_t *zeros = calloc(1, 1 << 16);
    if (!mkdtemp(tmpdir) || !zeros) {
        printf("Bail out! cannot create temp dir\n");
        return 1;
    }
    test_zeros_bomb(zeros);
    test_idx_header_bomb(zeros);
    test_idx_limit_bounded(zeros);
    test_amat_limit_bounded();
    free(zeros);
    rm_tree(tmpdir);
    return tap_done();
}
