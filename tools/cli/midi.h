/* Piano rolls as a Standard MIDI File, so sampled music can be heard.
 *
 * The polyphonic-music corpora's frames are 88 values, MIDI notes 21 (A0) to
 * 108 (C8); a value >= 0.5 is a note sounding. The file is format 0 (one
 * track), 4 ticks per quarter note, tempo 120 bpm, one frame per quarter
 * note (the corpora's beat), channel 1, acoustic grand piano, velocity 80. A
 * note held over several frames is one note; the sequences follow one
 * another with one silent frame between them. */
#ifndef VARIA_CLI_MIDI_H
#define VARIA_CLI_MIDI_H

#include <stddef.h>
#include <stdint.h>

#define CLI_MIDI_NOTES 88 /* frame values: MIDI notes 21 .. 108 */
#define CLI_MIDI_LOW 21

/* The file for n sequences x[n * T * 88] (frame-major) into out[cap]:
 * returns its length in bytes, or the length it would need when cap is too
 * small (out may then be NULL: call once with cap 0 to size the buffer).
 * -1 when the track would exceed the format's 32-bit length. */
int64_t cli_midi_encode(const float *x, int64_t n, int64_t T, unsigned char *out, size_t cap);

#endif
