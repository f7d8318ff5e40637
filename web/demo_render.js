// Drawing the models' floats onto <canvas>es, for the demo (web/index.html).
// A canvas's backing store is the logical image (one canvas pixel per model
// pixel); CSS upscales it with `image-rendering: pixelated` (nearest
// neighbour), so getImageData returns exactly the gray values
// round(clamp(v, 0, 1) * 255) that the tests compare with the floats.

/** The gray byte of a float: round(clamp(v, 0, 1) * 255) (NaN becomes 0). */
export function grayByte(v) {
  return v > 0 ? (v < 1 ? Math.round(v * 255) : 255) : 0;
}

/**
 * Lay out `count` images of shape [c, h, w] (CHW floats, back to back in
 * `floats`) in a grid of `cols` columns, no gaps, unused cells black.
 * @returns {{gray: Uint8ClampedArray, rgba: Uint8ClampedArray, width: number, height: number, rows: number, cols: number}}
 *   gray: one byte per logical pixel (channel 0 for colour images); rgba: the canvas's pixels
 */
export function tileImages(floats, count, shape, cols) {
  const [c, h, w] = shape;
  const rows = Math.ceil(count / cols);
  const width = cols * w, height = rows * h, per = c * h * w;
  const gray = new Uint8ClampedArray(width * height);
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < count; i++) {
    const ox = (i % cols) * w, oy = Math.floor(i / cols) * h, base = i * per;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const p = (oy + y) * width + ox + x, q = base + y * w + x;
        const r = grayByte(floats[q]);
        gray[p] = r;
        // A colour model (c = 3) is drawn in colour; gray models repeat the byte.
        rgba[4 * p] = r;
        rgba[4 * p + 1] = c === 3 ? grayByte(floats[q + h * w]) : r;
        rgba[4 * p + 2] = c === 3 ? grayByte(floats[q + 2 * h * w]) : r;
        rgba[4 * p + 3] = 255;
      }
  }
  for (let p = 0; p < width * height; p++) if (rgba[4 * p + 3] === 0) rgba[4 * p + 3] = 255; // unused cells: opaque black
  return { gray, rgba, width, height, rows, cols };
}

/**
 * Draw a tiling (from tileImages) onto `canvas`, whose backing store becomes
 * the logical size; its CSS width is `scale` times that (nearest neighbour).
 */
export function paintTiles(canvas, tiles, scale) {
  canvas.width = tiles.width;
  canvas.height = tiles.height;
  canvas.style.width = `${tiles.width * scale}px`;
  canvas.style.height = `${tiles.height * scale}px`;
  canvas.getContext('2d').putImageData(new ImageData(tiles.rgba, tiles.width, tiles.height), 0, 0);
}

/** Tile `count` images onto `canvas` in `cols` columns at `scale`; returns the tiling. */
export function drawImages(canvas, floats, count, shape, cols, scale) {
  const tiles = tileImages(floats, count, shape, Math.max(1, Math.min(cols, count)));
  paintTiles(canvas, tiles, scale);
  return tiles;
}

// Piano roll colours: notes, background, and the faint rows of the Cs.
const ROLL_NOTE = [240, 176, 64], ROLL_BG = [17, 17, 20], ROLL_C = [34, 34, 42], ROLL_GAP = [70, 70, 80];
const ROLL_GAP_ROWS = 2; // dark rows between two sequences
const LOWEST_MIDI = 21;  // frame index 0 is A0 (MIDI 21), the piano's lowest key

/**
 * Draw n sequences of `length` frames of `frameDim` notes (0/1 floats) as
 * piano rolls stacked vertically: time on x, pitch on y with the highest note
 * at the top, a faint line on every C. CSS scales x by xScale, y by yScale.
 */
export function drawRoll(canvas, frames, n, length, frameDim, xScale, yScale) {
  const height = n * frameDim + (n - 1) * ROLL_GAP_ROWS;
  const rgba = new Uint8ClampedArray(length * height * 4);
  const put = (x, y, [r, g, b]) => {
    const p = 4 * (y * length + x);
    rgba[p] = r; rgba[p + 1] = g; rgba[p + 2] = b; rgba[p + 3] = 255;
  };
  for (let s = 0; s < n; s++) {
    const top = s * (frameDim + ROLL_GAP_ROWS);
    for (let pitch = 0; pitch < frameDim; pitch++) {
      const y = top + frameDim - 1 - pitch; // highest pitch at the top
      const isC = (pitch + LOWEST_MIDI) % 12 === 0;
      for (let t = 0; t < length; t++) {
        const on = frames[(s * length + t) * frameDim + pitch] > 0.5;
        put(t, y, on ? ROLL_NOTE : isC ? ROLL_C : ROLL_BG);
      }
    }
    if (s + 1 < n)
      for (let g = 0; g < ROLL_GAP_ROWS; g++)
        for (let t = 0; t < length; t++) put(t, top + frameDim + g, ROLL_GAP);
  }
  canvas.width = length;
  canvas.height = height;
  canvas.style.width = `${length * xScale}px`;
  canvas.style.height = `${height * yScale}px`;
  canvas.getContext('2d').putImageData(new ImageData(rgba, length, height), 0, 0);
}

/** Blank a canvas to a 1×1 black pixel (a panel with nothing to show yet). */
export function clearCanvas(canvas) {
  canvas.width = 1;
  canvas.height = 1;
  canvas.style.width = canvas.style.height = '';
}
