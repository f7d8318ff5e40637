/* The CLI's MIDI writer (tools/cli/midi.c): known answers written out byte
 * by byte from the Standard MIDI File specification: the header, tempo and
 * program, a note held over two frames as one note, offs before ons, the
 * silent frame between sequences, a delta past 127 ticks in two bytes, and
 * sizing with cap 0. */
#include "../tools/cli/midi.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

static const unsigned char HEAD[] = {'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 0, 0, 1, 0, 4, 'M', 'T', 'r', 'k'};
static const unsigned char START[] = {0, 0xff, 0x51, 3, 0x07, 0xa1, 0x20, 0, 0xc0, 0}; /* tempo 500000, piano */
static const unsigned char END[] = {0, 0xff, 0x2f, 0};

/* The whole file for the given events: header, length, start, events, end. */
static size_t expected(unsigned char *out, const unsigned char *ev, size_t n_ev)
{
    size_t track = sizeof START + n_ev + sizeof END, k = 0;
    memcpy(out, HEAD, sizeof HEAD), k += sizeof HEAD;
    for (int b = 3; b >= 0; b--)
        out[k++] = (unsigned char)(track >> (8 * b));
    memcpy(out + k, START, sizeof START), k += sizeof START;
    memcpy(out + k, ev, n_ev), k += n_ev;
    memcpy(out + k, END, sizeof END), k += sizeof END;
    return k;
}

/* x's file equals the expected bytes, and cap 0 gives its length. */
static void case_bytes(const char *what, const float *x, int64_t n, int64_t T, const unsigned char *ev, size_t n_ev)
{
    unsigned char want[256], got[256];
    size_t len = expected(want, ev, n_ev);
    int64_t sized = cli_midi_encode(x, n, T, NULL, 0), wrote = cli_midi_encode(x, n, T, got, sizeof got);
    int same = sized == (int64_t)len && wrote == (int64_t)len && !memcmp(want, got, len);
    if (!same)
        for (size_t i = 0; i < len && i < (size_t)wrote; i++)
            if (want[i] != got[i]) {
                printf("# byte %zu: want %02x, got %02x\n", i, want[i], got[i]);
                break;
            }
    tap_okf(same, "%s: %zu bytes as the specification gives them", what, len);
}

int main(void)
{
    static float x[2 * 100 * 88];
    /* One sequence of 2 frames: note 21 in both (one note), note 108 in the second. */
    x[0] = 1.0f, x[88] = 0.7f, x[88 + 87] = 1.0f, x[5] = 0.49f; /* 0.49: not sounding */
    const unsigned char ev1[] = {0, 0x90, 21, 80, 4, 0x90, 108, 80, 4, 0x80, 21, 64, 0, 0x80, 108, 64};
    case_bytes("a held note and a second note", x, 1, 2, ev1, sizeof ev1);

    /* Two sequences of 1 frame: the second starts after one silent frame. */
    memset(x, 0, sizeof x);
    x[40] = 1.0f, x[88 + 3] = 1.0f;
    const unsigned char ev2[] = {0, 0x90, 61, 80, 4, 0x80, 61, 64, 4, 0x90, 24, 80, 4, 0x80, 24, 64};
    case_bytes("two sequences, a silent frame between", x, 2, 1, ev2, sizeof ev2);

    /* A note on for 99 frames: off after 396 ticks, 0x18c: 0x83 0x0c. */
    memset(x, 0, sizeof x);
    for (int t = 0; t < 99; t++)
        x[t * 88 + 10] = 1.0f;
    const unsigned char ev3[] = {0, 0x90, 31, 80, 0x83, 0x0c, 0x80, 31, 64};
    case_bytes("a delta of 396 ticks in two bytes", x, 1, 100, ev3, sizeof ev3);

    /* A note that stops as another starts in the same frame: the off first. */
    memset(x, 0, sizeof x);
    x[50] = 1.0f, x[88 + 20] = 1.0f;
    const unsigned char ev4[] = {0, 0x90, 71, 80, 4, 0x80, 71, 64, 0, 0x90, 41, 80, 4, 0x80, 41, 64};
    case_bytes("an off before an on at one tick", x, 1, 2, ev4, sizeof ev4);

    /* Too small a buffer: the length it needs, nothing past cap written. */
    unsigned char small[20];
    memset(small, 0xee, sizeof small);
    int64_t need = cli_midi_encode(x, 1, 2, small, 10);
    tap_okf(need == 18 + 4 + (int64_t)(sizeof START + sizeof ev4 + sizeof END) && small[10] == 0xee,
            "a buffer of 10 bytes: returns the %lld needed, writes none past it", (long long)need);
    return tap_done();
}
