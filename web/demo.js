// The demo's controller (web/index.html): holds the loaded model, runs each
// action (load, sample, encode, interpolate, paint DRAW's steps, sample music)
// and draws its result onto the page. The same methods are the test hooks,
// window.variaDemo (see web/README.md), so a test gets plain data back while
// the page shows what a click would. demo_ui.js turns clicks into these calls.
//
// The wasm calls are synchronous and run on the page's thread: each action
// first lets the browser paint its "working" status, and actions run one at a
// time in order (a queue), so a model switch never happens under a sample.

import { loadVaria, VariaError } from './lib/varia.js';
import { fetchModelList, fetchModelFiles, binarizeFor, demoError } from './demo_models.js';
import { drawImages, drawRoll, clearCanvas } from './demo_render.js';

const $ = (id) => document.getElementById(id);

const GRID_COLS = 8;            // the sample grid's columns
const EVAL_K = 500;             // importance samples for a drawing's log-likelihood
// GAN inversion of one drawing: 4 starts of 250 Adam steps fit held-out digits
// about as well as varia invert's 8 of 300 (mean squared error 0.0225 against
// 0.0212 on 8 of them, gan10-mnist) in half the time.
const INVERT = { seed: 0, starts: 4, iters: 250 };
const STEP_MS = 150;            // DRAW animation: one step's time on screen
const SCALE = { grid: 2, recon: 10, strip: 3, steps: 2, roll: [3, 2] }; // CSS upscaling

/** Resolves after the browser has had a chance to paint (so a status shows before a long call). */
function nextPaint() {
  return new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
}

export class Demo {
  constructor() {
    this.varia = null;       // the wasm module (loadVaria)
    this.model = null;       // the loaded model (varia.js Model)
    this.name = null;        // its name (models.json's, or the manifest file's)
    this.binarize = 'none';  // how eval binarizes a drawing for this model
    this.list = [];          // models.json's entries
    this.lastError = null;   // {statusName, message} of the last failed action, else null
    this.grid = null;        // the last sample grid: {n, latents}
    this.ends = { a: null, b: null }; // interpolation endpoints: {image, latent|null}
    this.onModel = () => {}; // called with info after a model is installed (the UI shows panels)
    this._queue = Promise.resolve();
    this._nested = false;    // true while onModel runs (its actions join the load)
    this._anim = 0;          // DRAW animation timer
    /** Resolves once the wasm module and the model list are loaded. */
    this.ready = this._start();
  }

  async _start() {
    try {
      this.list = await fetchModelList();
      this.varia = await loadVaria();
      this.status(`module loaded (${this.varia.kernel}); pick a model`);
    } catch (e) {
      this._fail(e, 'the WebAssembly module did not load (build it: tools/build-wasm.sh)');
      throw e;
    }
  }

  /** Set the status line; kind is '' | 'busy' | 'error' (a CSS class). */
  status(text, kind = '') {
    const el = $('status');
    el.textContent = text;
    el.className = kind;
  }

  /**
   * Run fn() after the actions queued before it, showing "label…" meanwhile;
   * on success the status becomes "ready: NAME (what it is) — done(result, ms)", on failure
   * the error (see _fail) and the promise rejects with it. Called while a
   * model is being installed (onModel filling the panels), fn runs at once,
   * inside the load: a load resolves with its panels drawn.
   */
  _act(label, fn, done) {
    if (this._nested) { // called by onModel inside a load: run now, as part of it
      try {
        return Promise.resolve(fn());
      } catch (e) {
        console.error(e);
        return Promise.reject(e);
      }
    }
    const run = async () => {
      await this.ready;
      this.lastError = null;
      this.status(`${label}…`, 'busy');
      await nextPaint();
      const t0 = performance.now();
      try {
        const r = await fn();
        const ms = Math.round(performance.now() - t0);
        this.status(`ready: ${this.name} (${describe(this.model.info)}) — ${done(r, ms)}`);
        return r;
      } catch (e) {
        this._fail(e);
        throw e;
      }
    };
    const p = this._queue.then(run, run);
    this._queue = p.catch(() => {});
    return p;
  }

  // Record and show an error: a VariaError's status name and message, or another error's.
  _fail(e, hint = '') {
    const statusName = e instanceof VariaError ? e.statusName : e.name || 'Error';
    this.lastError = { statusName, message: e.message };
    const text = `error: ${statusName}: ${e.message}${hint ? ` (${hint})` : ''}`;
    this.status(text, 'error');
    $('error').textContent = text;
    console.error(e);
  }

  _need(what) {
    if (!this.model) throw demoError(2, `${what}: no model is loaded`);
    return this.model;
  }

  // The model's image shape, or an error naming what needs one.
  _shape(what) {
    const shape = this._need(what).info.shape;
    if (!shape) throw demoError(21, `${what}: ${this.name} is a ${this.model.info.family} model of sequences, not images`);
    return shape;
  }

  /** Load a shipped model by its models.json name. @returns {Promise<object>} its info */
  loadModel(name) {
    return this._act(`loading ${name}`, async () => {
      const entry = this.list.find((m) => m.name === name);
      if (!entry) throw demoError(2, `no model named '${name}' in models.json`);
      const { manifestText, weights } = await fetchModelFiles(entry.path);
      return this._install(name, manifestText, weights);
    }, (info, ms) => `loaded in ${ms} ms`);
  }

  /**
   * Load a model from a manifest's text and its weights' bytes (the file
   * picker). On failure the current model stays, #status and #error show the
   * VariaError's status name and message, and the promise rejects with it.
   */
  loadModelBytes(manifestText, weights, name = 'your model') {
    return this._act(`loading ${name}`, () => this._install(name, manifestText, weights),
                     (info, ms) => `loaded in ${ms} ms`);
  }

  // Make a model current (the old one is freed only once the new one loaded). Returns plain info.
  _install(name, manifestText, weights) {
    const m = this.varia.loadModel(manifestText, weights);
    if (this.model) this.model.free();
    this.model = m;
    this.name = name;
    this.binarize = binarizeFor(manifestText);
    this.grid = null;
    this.ends = { a: null, b: null };
    this._stopAnim();
    for (const id of ['grid', 'recon', 'interp-strip', 'interp-a', 'interp-b', 'gan-strip', 'steps-strip', 'steps-anim', 'roll'])
      clearCanvas($(id));
    $('loglik').textContent = 'draw something, then Encode';
    $('error').textContent = 'no error';
    const info = this.info();
    this._nested = true; // onModel's actions run now, inside this load (see _act)
    try {
      this.onModel(info);
    } finally {
      this._nested = false;
    }
    return info;
  }

  /** The current model's info as plain data (name, family, dims, shape, steps, can), or null. */
  info() {
    if (!this.model) return null;
    const i = this.model.info;
    return { name: this.name, ...i, shape: i.shape && [...i.shape], can: { ...i.can }, binarize: this.binarize };
  }

  /**
   * Sample the grid: n images from the prior, as `varia sample -n n --seed
   * seed --temperature temperature`, drawn in 8 columns on #grid.
   * @returns {Promise<{floats: Float32Array, pixels: Uint8ClampedArray, rows: number, cols: number}>}
   *   pixels: the grid's logical gray bytes, row-major, (rows*h) × (cols*w)
   */
  sample({ n = 64, seed = 0, temperature = 1 } = {}) {
    return this._act(`sampling ${n}`, () => {
      const shape = this._shape('sample');
      const floats = this.model.sample({ n, seed, temperature });
      const latents = this.model.sampleLatents({ n, seed, temperature });
      const t = drawImages($('grid'), floats, n, shape, GRID_COLS, SCALE.grid);
      this.grid = { n, latents, floats };
      setValues({ seed, temperature, n });
      return { floats, pixels: t.gray, rows: t.rows, cols: t.cols };
    }, (r, ms) => `sampled ${n} in ${ms} ms`);
  }

  /** Grid cell i (of the last sample) as an endpoint {image, latent}. */
  gridCell(i) {
    const { latentDim, dataDim } = this.model.info;
    return {
      image: this.grid.floats.slice(i * dataDim, (i + 1) * dataDim),
      latent: this.grid.latents.slice(i * latentDim, (i + 1) * latentDim),
    };
  }

  // The latent of one image: the posterior mean (VAE, DRAW) or a GAN's inversion.
  _latentOf(x) {
    const m = this.model;
    if (m.info.can.encode) return m.encode(x, 1);
    if (m.info.can.invert) return m.invert(x, 1, INVERT);
    throw demoError(21, `${this.name} can neither encode nor invert`);
  }

  /**
   * Encode a drawing (dataDim floats in [0, 1]): its latent (encode, or a
   * GAN's inversion), the reconstruction decode(latent), and log p(x) by
   * m.eval (k = 500, binarized as the model's data are) or null for a GAN.
   * Shows the drawing on #draw-canvas, the reconstruction on #recon, the figure in #loglik.
   * @returns {Promise<{latent: Float32Array, recon: Float32Array, loglik: number|null}>}
   */
  encodeDrawing(x, pad = null) {
    const verb = this.model?.info.can.encode === false ? 'inverting' : 'encoding';
    return this._act(`${verb} the drawing`, () => {
      const shape = this._shape('encodeDrawing');
      if (pad) pad.show(x, shape[2], shape[1]);
      const latent = this._latentOf(x);
      const recon = this.model.decode(latent, 1);
      drawImages($('recon'), recon, 1, shape, 1, SCALE.recon);
      let loglik = null;
      if (this.model.info.can.eval) {
        const e = this.model.eval(x, 1, { k: EVAL_K, seed: 0, binarize: this.binarize });
        loglik = -e.nll;
        $('loglik').textContent = `log p(x) ≈ ${loglik.toFixed(2)} nats ` +
          `(importance-weighted, k = ${EVAL_K}, binarize ${this.binarize}; ELBO ${e.elbo.toFixed(2)})`;
      } else {
        $('loglik').textContent = 'no log-likelihood: a GAN defines no density to evaluate ' +
          '(varia scores GANs by AIS, which the browser module leaves out)';
      }
      return { latent, recon, loglik };
    }, (r, ms) => `${verb === 'inverting' ? 'inverted' : 'encoded'} the drawing in ${ms} ms`);
  }

  /** Set endpoint 'a' or 'b' to {image, latent|null} and show it. */
  setEnd(which, end) {
    const shape = this._shape('interpolation');
    this.ends[which] = end;
    drawImages($(`interp-${which}`), end.image, 1, shape, 1, SCALE.strip);
  }

  /**
   * Interpolate between images a and b (dataDim floats each): both encoded
   * (or inverted), then the decoded path of `steps` latents, as `varia
   * interpolate`; drawn on #interp-strip. @returns {Promise<Float32Array>} steps * dataDim
   */
  interpolate({ a, b, steps = 10, mode = 'lerp' } = {}) {
    return this.interpolateEnds({ steps, mode, ends: { a: { image: a, latent: null }, b: { image: b, latent: null } } });
  }

  /**
   * Interpolate between the current endpoints (a grid cell keeps its sampled
   * latent), or first set them to `ends` ({a, b} as setEnd takes).
   */
  interpolateEnds({ steps = 10, mode = 'lerp', ends = null } = {}) {
    return this._act(`interpolating (${mode}, ${steps} steps)`, () => {
      const shape = this._shape('interpolate');
      if (ends) {
        this.setEnd('a', ends.a);
        this.setEnd('b', ends.b);
      }
      for (const w of ['a', 'b']) {
        const end = this.ends[w];
        if (!end) throw demoError(2, `interpolate: pick endpoint ${w.toUpperCase()} first`);
        if (!end.latent) end.latent = this._latentOf(end.image);
      }
      const path = this.model.interpolate(this.ends.a.latent, this.ends.b.latent, { steps, mode });
      drawImages($('interp-strip'), path, steps, shape, steps, SCALE.strip);
      setValues({ 'interp-steps': steps, 'interp-mode': mode });
      return path;
    }, (r, ms) => `interpolated in ${ms} ms`);
  }

  /** GAN panel: the decoded path between two prior samples (seed) on #gan-strip. @returns {Promise<Float32Array>} */
  ganPair({ seed = 1, steps = 10, mode = 'slerp' } = {}) {
    return this._act('interpolating two prior samples', () => {
      const shape = this._shape('ganPair');
      const L = this.model.info.latentDim;
      const z = this.model.sampleLatents({ n: 2, seed });
      const path = this.model.interpolate(z.subarray(0, L), z.subarray(L), { steps, mode });
      drawImages($('gan-strip'), path, steps, shape, steps, SCALE.strip);
      return path;
    }, (r, ms) => `two prior samples interpolated in ${ms} ms`);
  }

  /**
   * DRAW: n prior samples' canvases after each of the T steps (latents as
   * sample draws them with this seed), as a static strip on #steps-strip (a
   * row per sample) and animated on #steps-anim.
   * @returns {Promise<Float32Array>} n * T * dataDim
   */
  decodeSteps({ n = 4, seed = 0 } = {}) {
    return this._act(`painting ${n} samples`, () => {
      const shape = this._shape('decodeSteps');
      if (!this.model.info.can.decodeSteps) throw demoError(21, `decodeSteps: ${this.name} is not a DRAW model`);
      const T = this.model.info.steps;
      const z = this.model.sampleLatents({ n, seed });
      const canvases = this.model.decodeSteps(z, n);
      drawImages($('steps-strip'), canvases, n * T, shape, T, SCALE.steps);
      this._animate(canvases, n, T, shape);
      return canvases;
    }, (r, ms) => `painted in ${ms} ms`);
  }

  // Play DRAW's steps on #steps-anim: all n samples side by side, step t of T, looping with a pause at the end.
  _animate(canvases, n, T, shape) {
    this._stopAnim();
    const per = shape[0] * shape[1] * shape[2];
    let t = 0;
    const frame = () => {
      const step = new Float32Array(n * per);
      for (let s = 0; s < n; s++) step.set(canvases.subarray((s * T + t) * per, (s * T + t + 1) * per), s * per);
      drawImages($('steps-anim'), step, n, shape, n, SCALE.recon / 2);
      $('steps-label').textContent = `step ${t + 1} of ${T}; below, each row: one sample's canvas after steps 1 … ${T}`;
      const wait = t === T - 1 ? STEP_MS * 8 : STEP_MS;
      t = (t + 1) % T;
      this._anim = setTimeout(frame, wait);
    };
    frame();
  }

  _stopAnim() {
    clearTimeout(this._anim);
    this._anim = 0;
  }

  /**
   * VRNN: n sequences of `length` 0/1 frames, as `varia sample MODEL -n n
   * --length length --seed seed`, drawn as piano rolls on #roll.
   * @returns {Promise<Float32Array>} n * length * frameDim
   */
  sampleSequences({ n = 2, length = 160, seed = 0 } = {}) {
    return this._act(`sampling ${n} sequences`, () => {
      const m = this._need('sampleSequences');
      if (!m.info.can.sequences) throw demoError(21, `sampleSequences: ${this.name} is not a sequence model`);
      const frames = m.sampleSequences({ n, length, seed });
      drawRoll($('roll'), frames, n, length, m.info.frameDim, ...SCALE.roll);
      setValues({ 'roll-n': n, 'roll-length': length, 'roll-seed': seed });
      return frames;
    }, (r, ms) => `sampled ${n} × ${length} frames in ${ms} ms`);
  }
}

/** A one-line description of an info: family, dimensions. */
function describe(info) {
  const shape = info.shape ? `${info.shape.join('×')} images` : `${info.frameDim}-note frames`;
  const steps = info.steps ? `, T = ${info.steps}` : '';
  return `${info.family}, latent ${info.latentDim}${steps}, ${shape}`;
}

/** Write values into the inputs with those ids (so the form shows what a hook ran). */
function setValues(values) {
  for (const [id, v] of Object.entries(values)) {
    const el = $(id);
    if (el && v !== undefined) el.value = String(v);
  }
}
