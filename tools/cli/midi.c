/* Piano rolls as a Standard MIDI File (midi.h). */
#include "midi.h"

#define TICKS 4         /* per quarter note, and per frame */
#define VELOCITY 80
#define TEMPO 500000    /* microseconds per quarter note: 120 bpm */

/* Bytes into out[cap] as far as they fit; len counts them all. */
typedef struct emitter {
    unsigned char *out;
    size_t cap;
    int64_t len, last_tick;
} emitter;

static void put(emitter *e, unsigned v)
{
    if ((size_t)e->len < e->cap)
        e->out[e->len] = (unsigned char)v;
    e->len++;
}

/* A delta time as MIDI's variable-length quantity: 7 bits a byte, the
 * most significant first, every byte but the last with its top bit set. */
static void put_delta(emitter *e, int64_t tick)
{
    uint64_t d = (uint64_t)(tick - e->last_tick);
    unsigned char b[10];
    int k = 0;
    do
        b[k++] = (unsigned char)(d & 0x7f), d >>= 7;
    while (d);
    while (k--)
        put(e, b[k] | (k ? 0x80u : 0u));
    e->last_tick = tick;
}

static void put_be(emitter *e, uint32_t v, int bytes)
{
    while (bytes--)
        put(e, (v >> (8 * bytes)) & 0xff);
}

/* Note p's on (1) or off (0) event at tick. */
static void put_note(emitter *e, int64_t tick, int p, int on)
{
    put_delta(e, tick);
    put(e, on ? 0x90 : 0x80);
    put(e, (unsigned)(CLI_MIDI_LOW + p));
    put(e, on ? VELOCITY : 64);
}

/* One sequence x[T * 88] from tick t0: an event wherever a note starts or
 * stops, offs before ons; every note off after its last frame. */
static void put_sequence(emitter *e, const float *x, int64_t T, int64_t t0)
{
    unsigned char prev[CLI_MIDI_NOTES] = {0};
    for (int64_t t = 0; t <= T; t++) {
        unsigned char now[CLI_MIDI_NOTES] = {0};
        for (int p = 0; t < T && p < CLI_MIDI_NOTES; p++)
            now[p] = x[t * CLI_MIDI_NOTES + p] >= 0.5f;
        for (int pass = 0; pass < 2; pass++) /* 0: the offs, 1: the ons */
            for (int p = 0; p < CLI_MIDI_NOTES; p++)
                if (now[p] != prev[p] && now[p] == pass)
                    put_note(e, t0 + t * TICKS, p, pass);
        for (int p = 0; p < CLI_MIDI_NOTES; p++)
            prev[p] = now[p];
    }
}

int64_t cli_midi_encode(const float *x, int64_t n, int64_t T, unsigned char *out, size_t cap)
{
    emitter e = {out, cap, 0, 0};
    const char *head = "MThd\0\0\0\6\0\0\0\1\0\4MTrk"; /* format 0, one track, TICKS a quarter */
    for (int i = 0; i < 18; i++)
        put(&e, (unsigned char)head[i]);
    int64_t at = e.len;
    put_be(&e, 0, 4); /* the track's length, filled in below */
    put_delta(&e, 0);
    put(&e, 0xff), put(&e, 0x51), put(&e, 3), put_be(&e, TEMPO, 3);
    put_delta(&e, 0);
    put(&e, 0xc0), put(&e, 0); /* program 1: acoustic grand piano */
    for (int64_t i = 0; i < n; i++) /* each sequence T frames, then one silent frame */
        put_sequence(&e, x + i * T * CLI_MIDI_NOTES, T, i * (T + 1) * TICKS);
    put_delta(&e, e.last_tick);
    put(&e, 0xff), put(&e, 0x2f), put(&e, 0);
    int64_t track = e.len - at - 4;
    if (track > (int64_t)UINT32_MAX)
        return -1;
    for (int b = 0; b < 4 && (size_t)e.len <= cap; b++) /* the whole file fitted */
        out[at + b] = (unsigned char)((uint64_t)track >> (24 - 8 * b));
    return e.len;
}
