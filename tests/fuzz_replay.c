/* Replays a fuzz corpus through a libFuzzer harness without libFuzzer: every
 * file named on the command line, or every file in a directory, is passed to
 * LLVMFuzzerTestOneInput once. The normal test build uses it (with gcc, ASan
 * and valgrind) so the committed seeds, including the regression inputs of
 * past findings, are checked on every run. A harness traps on a broken
 * invariant, which fails the test. */
#include "tap.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* The harnesses set up their scratch files here; without it they would return
 * at once and the replay would test nothing. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
    size_t got = buf ? fread(buf, 1, (size_t)len, f) : 0;
    fclose(f);
    if (buf && got == (size_t)len)
        LLVMFuzzerTestOneInput(buf, got);
    free(buf);
    return buf && got == (size_t)len;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        if (!d) {
            tap_check(replay_file(argv[i]), argv[i]);
            continue;
        }
        char *names[4096];
        int n = 0;
        for (struct dirent *e; (e = readdir(d)) && n < 4096;)
            if (e->d_name[0] != '.')
                names[n++] = strdup(e->d_name);
        closedir(d);
        qsort(names, (size_t)n, sizeof *names, cmp);
        int ok = n > 0;
        for (int k = 0; k < n; k++) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", argv[i], names[k]);
            ok &= replay_file(path);
            free(names[k]);
        }
        char name[1100];
        snprintf(name, sizeof name, "%d inputs of %s replayed without a crash or broken invariant", n, argv[i]);
        tap_check(ok, name);
    }
    return tap_done();
}
