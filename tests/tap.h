/* A minimal TAP-style reporter shared by the C tests: "ok N - name" lines and a
 * closing "# passed P failed F"; main returns nonzero if anything failed. */
#ifndef VARIA_TEST_TAP_H
#define VARIA_TEST_TAP_H

#include <stdio.h>

static int tap_run, tap_fail, tap_skipped;

static inline int tap_check(int ok, const char *name)
{
    tap_run++;
    tap_fail += !ok;
    printf("%s %d - %s\n", ok ? "ok" : "not ok", tap_run, name);
    fflush(stdout);
    return ok;
}

static inline void tap_skip(const char *name, const char *why)
{
    tap_run++;
    tap_skipped++;
    printf("ok %d - %s # SKIP %s\n", tap_run, name, why);
}

static inline int tap_done(void)
{
    printf("# passed %d failed %d skipped %d\n", tap_run - tap_fail - tap_skipped, tap_fail, tap_skipped);
    return tap_fail ? 1 : 0;
}

#endif
