// The drawing pad of the demo (web/index.html): a canvas drawn with the mouse,
// a pen or a finger (pointer events), read back as a 28×28 image of floats in
// [0, 1] like MNIST's: white strokes on black, averaged down from the pad's
// resolution, then moved into MNIST's framing (see centerDigit).

const BRUSH = 0.085; // brush width as a fraction of the pad: about 2.4 of 28 pixels, MNIST's stroke

/** A drawing pad on `canvas` (any square size; its backing store is used as is). */
export class DrawPad {
  constructor(canvas, onChange = () => {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d', { willReadFrequently: true });
    this.onChange = onChange;
    this.last = null;
    this.clear();
    canvas.style.touchAction = 'none'; // a finger draws instead of scrolling the page
    canvas.addEventListener('pointerdown', (e) => this._down(e));
    canvas.addEventListener('pointermove', (e) => this._move(e));
    for (const ev of ['pointerup', 'pointercancel', 'pointerleave'])
      canvas.addEventListener(ev, () => this._up());
  }

  /** Paint the pad black. */
  clear() {
    this.ctx.fillStyle = '#000';
    this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.strokes = 0;
    this.onChange();
  }

  /** Paint a w×h image of floats in [0, 1] onto the pad, upscaled (nearest). */
  show(floats, w = 28, h = 28) {
    const { width, height } = this.canvas;
    const img = this.ctx.createImageData(width, height);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const v = floats[Math.floor((y * h) / height) * w + Math.floor((x * w) / width)];
        const g = v > 0 ? (v < 1 ? Math.round(v * 255) : 255) : 0;
        const p = 4 * (y * width + x);
        img.data[p] = img.data[p + 1] = img.data[p + 2] = g;
        img.data[p + 3] = 255;
      }
    this.ctx.putImageData(img, 0, 0);
    this.strokes = 1;
    this.onChange();
  }

  /** Whether anything has been drawn since the last clear. */
  isEmpty() {
    return this.strokes === 0;
  }

  /**
   * The pad as a w×h image: each pixel the mean brightness of the pad's
   * pixels it covers (box filter), in [0, 1]. @returns {Float32Array} w*h
   */
  read(w = 28, h = 28) {
    const { width, height } = this.canvas;
    const data = this.ctx.getImageData(0, 0, width, height).data;
    const sum = new Float64Array(w * h), cnt = new Float64Array(w * h);
    for (let y = 0; y < height; y++) {
      const row = Math.floor((y * h) / height) * w;
      for (let x = 0; x < width; x++) {
        const i = row + Math.floor((x * w) / width);
        sum[i] += data[4 * (y * width + x)] / 255;
        cnt[i] += 1;
      }
    }
    return Float32Array.from(sum, (s, i) => s / cnt[i]);
  }

  _pos(e) {
    const r = this.canvas.getBoundingClientRect();
    return [((e.clientX - r.left) * this.canvas.width) / r.width, ((e.clientY - r.top) * this.canvas.height) / r.height];
  }

  _down(e) {
    this.canvas.setPointerCapture(e.pointerId);
    this.last = this._pos(e);
    this._line(this.last, this.last);
  }

  _move(e) {
    if (!this.last) return;
    const p = this._pos(e);
    this._line(this.last, p);
    this.last = p;
  }

  _up() {
    if (this.last) this.onChange();
    this.last = null;
  }

  _line(a, b) {
    const c = this.ctx;
    c.strokeStyle = '#fff';
    c.lineWidth = BRUSH * this.canvas.width;
    c.lineCap = c.lineJoin = 'round';
    c.beginPath();
    c.moveTo(a[0], a[1]);
    c.lineTo(b[0], b[1]);
    c.stroke();
    this.strokes++;
  }
}

/**
 * A 28×28 drawing moved into MNIST's framing, which the models were trained
 * on: the ink's bounding box scaled (aspect kept) to fit 20×20, then shifted
 * so its centre of mass sits at the image's centre. A drawing in a corner or
 * filling the pad would otherwise look unlike any training digit.
 * An empty image is returned unchanged. @returns {Float32Array} 784
 */
export function centerDigit(img, size = 28, box = 20) {
  let x0 = size, y0 = size, x1 = -1, y1 = -1;
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      if (img[y * size + x] > 0.05) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x);
        y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
  if (x1 < 0) return img;
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1, s = box / Math.max(bw, bh);
  // Resample the box at scale s (bilinear) into a size×size image, top-left aligned.
  const tw = Math.max(1, Math.round(bw * s)), th = Math.max(1, Math.round(bh * s));
  const scaled = new Float32Array(tw * th);
  const at = (x, y) => (x >= 0 && y >= 0 && x < size && y < size ? img[y * size + x] : 0);
  for (let y = 0; y < th; y++)
    for (let x = 0; x < tw; x++) {
      const sx = x0 + (x + 0.5) / s - 0.5, sy = y0 + (y + 0.5) / s - 0.5;
      const fx = Math.floor(sx), fy = Math.floor(sy), ax = sx - fx, ay = sy - fy;
      scaled[y * tw + x] = (1 - ay) * ((1 - ax) * at(fx, fy) + ax * at(fx + 1, fy))
                         + ay * ((1 - ax) * at(fx, fy + 1) + ax * at(fx + 1, fy + 1));
    }
  // Centre of mass of the scaled ink, placed at the centre of the image.
  let m = 0, mx = 0, my = 0;
  for (let y = 0; y < th; y++)
    for (let x = 0; x < tw; x++) {
      const v = scaled[y * tw + x];
      m += v; mx += v * x; my += v * y;
    }
  const ox = Math.round(size / 2 - 0.5 - mx / m), oy = Math.round(size / 2 - 0.5 - my / m);
  const out = new Float32Array(size * size);
  for (let y = 0; y < th; y++)
    for (let x = 0; x < tw; x++) {
      const X = x + ox, Y = y + oy;
      if (X >= 0 && Y >= 0 && X < size && Y < size) out[Y * size + X] = Math.min(1, scaled[y * tw + x]);
    }
  return out;
}
