// varia in the browser and in Node 20: the runtime compiled to WebAssembly
// (varia_wasm.mjs + varia_wasm.wasm, or varia_wasm_node.mjs in Node; built by
// tools/build-wasm.sh) behind a small API of typed arrays. web/lib/README.md
// documents it. Every call copies its inputs into wasm memory, runs, copies
// the outputs out and frees what it allocated, so nothing leaks between
// calls; a failure throws a VariaError carrying the runtime's status and
// message.
//
//   import { loadVaria, VariaError } from './varia.js';
//   const varia = await loadVaria();
//   const m = varia.loadModel(manifestText, weightsBytes);
//   const x = m.sample({ n: 16, seed: 1 });   // the floats `varia sample -n 16 --seed 1` draws
//   m.free();

const STATUS_ARG = 2; // VARIA_ERR_ARG: what argument checks on this side throw
const BINARIZE = { none: 0, threshold: 1, dynamic: 2 }; // varia_binarize

/** A failure of the runtime (or of an argument checked before calling it). */
export class VariaError extends Error {
  /**
   * @param {number} status the varia_status (include/varia.h), also the CLI's exit code
   * @param {string} statusName its name, e.g. "VARIA_ERR_WEIGHTS"
   * @param {string} message the runtime's message, naming the culprit
   */
  constructor(status, statusName, message) {
    super(message);
    this.name = 'VariaError';
    this.status = status;
    this.statusName = statusName;
  }
}

const isNode = typeof process === 'object' && !!(process.versions && process.versions.node);

/**
 * Instantiate the WebAssembly module.
 * @param {object} [opts]
 * @param {string|URL} [opts.moduleUrl] the emscripten loader to import (default:
 *   varia_wasm.mjs beside this file; varia_wasm_node.mjs under Node)
 * @param {string|URL} [opts.wasmUrl] where the .wasm is, when not beside the loader
 * @param {Function} [opts.factory] an already imported loader's default export
 *   (then moduleUrl is not used)
 * @returns {Promise<Varia>}
 */
export async function loadVaria(opts = {}) {
  let factory = opts.factory;
  if (!factory) {
    const url = opts.moduleUrl || new URL(isNode ? './varia_wasm_node.mjs' : './varia_wasm.mjs', import.meta.url);
    factory = (await import(/* webpackIgnore: true */ String(url))).default;
  }
  const settings = {};
  if (opts.wasmUrl)
    settings.locateFile = (path) => (path.endsWith('.wasm') ? String(opts.wasmUrl) : path);
  return new Varia(await factory(settings));
}

/** The instantiated module: loads models; one per page is enough. */
class Varia {
  constructor(mod) {
    this._m = mod;
    /** The matrix kernels the build uses: "wasm-simd128" or "generic" (scalar). */
    this.kernel = mod.UTF8ToString(mod._varia_web_kernel_name());
  }

  /** The name of a status code, e.g. statusName(16) === "VARIA_ERR_MISSING". */
  statusName(code) {
    return this._m.UTF8ToString(this._m._varia_web_status_name(code | 0));
  }

  /**
   * Load a model from its manifest's JSON text and the bytes of the weights
   * file the manifest names (safetensors or raw). Both are copied: the caller
   * may drop them. Validation is the native loader's (varia_model_load_memory).
   * @param {string} manifestText
   * @param {Uint8Array} weightsBytes
   * @returns {Model}
   * @throws {VariaError}
   */
  loadModel(manifestText, weightsBytes) {
    if (typeof manifestText !== 'string')
      throw this._argError('loadModel: the manifest must be a string (its JSON text)');
    if (!(weightsBytes instanceof Uint8Array))
      throw this._argError('loadModel: the weights must be a Uint8Array (the bytes of the weights file)');
    const m = this._m;
    const w = m._varia_web_new();
    if (!w)
      throw new VariaError(4, this.statusName(4), 'out of memory creating the model');
    const text = new TextEncoder().encode(manifestText);
    const mem = new Scratch(m);
    try {
      const status = m._varia_web_load(w, mem.bytes(text), text.length, mem.bytes(weightsBytes), weightsBytes.length);
      if (status !== 0)
        throw new VariaError(status, this.statusName(status), m.UTF8ToString(m._varia_web_message(w)));
      return new Model(this, w, mem);
    } catch (e) {
      m._varia_web_free(w);
      throw e;
    } finally {
      mem.free();
    }
  }

  _argError(message) {
    return new VariaError(STATUS_ARG, this.statusName(STATUS_ARG), message);
  }
}

/** The allocations of one call, freed together (free() in a finally). */
class Scratch {
  constructor(mod) {
    this.m = mod;
    this.ptrs = [];
  }
  alloc(bytes) {
    const p = this.m._malloc(Math.max(bytes, 8));
    if (!p)
      throw new VariaError(4, 'VARIA_ERR_NOMEM', `out of wasm memory for ${bytes} bytes`);
    this.ptrs.push(p);
    return p;
  }
  // A copy of a typed array's bytes in wasm memory.
  bytes(a) {
    const p = this.alloc(a.byteLength);
    this.m.HEAPU8.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), p);
    return p;
  }
  // The floats at p, copied out (the heap may move when memory grows).
  floats(p, count) {
    return new Float32Array(this.m.HEAPU8.buffer, p, count).slice();
  }
  doubles(p, count) {
    return new Float64Array(this.m.HEAPU8.buffer, p, count).slice();
  }
  free() {
    for (const p of this.ptrs)
      this.m._free(p);
    this.ptrs = [];
  }
}

/** A loaded model. Free it with free() when done (its weights live in wasm memory). */
class Model {
  constructor(varia, ptr, mem) {
    this._v = varia;
    this._m = varia._m;
    this._p = ptr;
    const i = mem.alloc(12 * 4);
    this._check(this._m._varia_web_info(ptr, i));
    const v = new Int32Array(this._m.HEAPU8.buffer, i, 12).slice();
    const family = this._m.UTF8ToString(this._m._varia_web_family(ptr));
    /** What the model is and can do. */
    this.info = Object.freeze({
      family,
      latentDim: v[0],
      dataDim: v[1],
      shape: v[2] === 3 ? [v[3], v[4], v[5]] : null,
      steps: v[6],
      frameDim: v[11] ? v[1] : 0,
      can: Object.freeze({ encode: !!v[7], eval: !!v[8], invert: !!v[9], decodeSteps: !!v[10], sequences: !!v[11] }),
    });
  }

  /**
   * n samples' means E[x|z], z from the prior (noise scaled by temperature):
   * the floats `varia sample MODEL -n n --seed seed --temperature t` draws.
   * @returns {Float32Array} n * dataDim
   */
  sample({ n, seed = 0, temperature = 1 } = {}) {
    return this._sample(n, seed, temperature, false);
  }

  /**
   * The latents sample() with the same arguments decodes.
   * @returns {Float32Array} n * latentDim
   */
  sampleLatents({ n, seed = 0, temperature = 1 } = {}) {
    return this._sample(n, seed, temperature, true);
  }

  /** E[x|z] of n latents z (n * latentDim floats). @returns {Float32Array} n * dataDim */
  decode(z, n) {
    this._count(n, 'decode');
    this._floats(z, n * this.info.latentDim, 'decode: z');
    return this._run((mem) => {
      const out = mem.alloc(n * this.info.dataDim * 4);
      this._check(this._m._varia_web_decode(this._p, mem.bytes(z), n, out));
      return mem.floats(out, n * this.info.dataDim);
    });
  }

  /**
   * Posterior means of n examples x (n * dataDim floats; VAE, DRAW); for a flow posterior, q0's mean
   * pushed through the flow (as `varia interpolate` encodes). @returns {Float32Array} n * latentDim
   */
  encode(x, n) {
    this._count(n, 'encode');
    this._floats(x, n * this.info.dataDim, 'encode: x');
    return this._run((mem) => {
      const out = mem.alloc(n * this.info.latentDim * 4);
      this._check(this._m._varia_web_encode(this._p, mem.bytes(x), n, out));
      return mem.floats(out, n * this.info.latentDim);
    });
  }

  /**
   * A GAN's latents for n examples by inversion (varia_invert): the best of
   * `starts` seeded starts of `iters` Adam steps, under the manifest's
   * observation variance. @returns {Float32Array} n * latentDim
   */
  invert(x, n, { seed = 0, starts = 8, iters = 300 } = {}) {
    this._count(n, 'invert');
    this._floats(x, n * this.info.dataDim, 'invert: x');
    this._seed(seed);
    return this._run((mem) => {
      const out = mem.alloc(n * this.info.latentDim * 4);
      this._check(this._m._varia_web_invert(this._p, mem.bytes(x), n, seed, starts | 0, iters | 0, out, 0));
      return mem.floats(out, n * this.info.latentDim);
    });
  }

  /**
   * The decoded path of `steps` latents from za to zb inclusive (one latent
   * each), as `varia interpolate` makes it. @returns {Float32Array} steps * dataDim
   */
  interpolate(za, zb, { steps = 10, mode = 'lerp' } = {}) {
    if (mode !== 'lerp' && mode !== 'slerp')
      throw this._v._argError(`interpolate: mode must be 'lerp' or 'slerp', not '${mode}'`);
    this._count(steps, 'interpolate: steps');
    const L = this.info.latentDim;
    this._floats(za, L, 'interpolate: za');
    this._floats(zb, L, 'interpolate: zb');
    return this._run((mem) => {
      const path = mem.alloc(steps * L * 4), out = mem.alloc(steps * this.info.dataDim * 4);
      const st = this._m._varia_web_interpolate(this._p, mem.bytes(za), mem.bytes(zb), steps, mode === 'slerp' ? 1 : 0,
                                                path, out);
      if (st === 19) // varia_interpolate_latents sets no message: say what it means
        throw new VariaError(st, this._v.statusName(st), `interpolate: a latent is not finite, or the ${mode} path leaves float range`);
      this._check(st);
      return mem.floats(out, steps * this.info.dataDim);
    });
  }

  /**
   * The importance-weighted estimate of log p(x) over n examples (VAE, DRAW,
   * VRNN with `length`): the means over examples of -log p(x) (nll, with its
   * standard error), the ELBO and its two terms, in nats; binarize: 'none'
   * (data as given), 'threshold' or 'dynamic' (seeded), as varia_eval does.
   * @returns {{nll: number, nllStderr: number, elbo: number, recon: number, kl: number}}
   */
  eval(x, n, { k = 5000, seed = 0, binarize = 'none', length = 0 } = {}) {
    this._count(n, 'eval');
    this._count(k, 'eval: k');
    this._seed(seed);
    if (!(binarize in BINARIZE))
      throw this._v._argError(`eval: binarize must be 'none', 'threshold' or 'dynamic', not '${binarize}'`);
    const per = this.info.can.sequences ? length * this.info.frameDim : this.info.dataDim;
    this._floats(x, n * per, 'eval: x');
    return this._run((mem) => {
      const out = mem.alloc(5 * 8);
      this._check(this._m._varia_web_eval(this._p, mem.bytes(x), n, k, seed, BINARIZE[binarize], length | 0, out));
      const [nll, nllStderr, elbo, recon, kl] = mem.doubles(out, 5);
      return { nll, nllStderr, elbo, recon, kl };
    });
  }

  /** DRAW: the canvas E[x|z] after each of the T steps, per latent. @returns {Float32Array} n * steps * dataDim */
  decodeSteps(z, n) {
    this._count(n, 'decodeSteps');
    this._floats(z, n * this.info.latentDim, 'decodeSteps: z');
    const size = n * Math.max(this.info.steps, 1) * this.info.dataDim;
    return this._run((mem) => {
      const out = mem.alloc(size * 4);
      this._check(this._m._varia_web_decode_steps(this._p, mem.bytes(z), n, out));
      return mem.floats(out, size);
    });
  }

  /**
   * VRNN: n sequences of `length` frames (0/1 frames drawn and fed back), as
   * `varia sample MODEL -n n --length length --seed seed` draws them.
   * @returns {Float32Array} n * length * frameDim
   */
  sampleSequences({ n, length, seed = 0, temperature = 1 } = {}) {
    this._count(n, 'sampleSequences');
    this._count(length, 'sampleSequences: length');
    this._seed(seed);
    const size = n * length * this.info.frameDim;
    return this._run((mem) => {
      const out = mem.alloc(size * 4);
      this._check(this._m._varia_web_sample_sequences(this._p, n, length, seed, temperature, out, 0));
      return mem.floats(out, size);
    });
  }

  /** Free the model; it cannot be used after. */
  free() {
    if (this._p)
      this._m._varia_web_free(this._p);
    this._p = 0;
  }

  _sample(n, seed, temperature, latents) {
    this._count(n, latents ? 'sampleLatents' : 'sample');
    this._seed(seed);
    if (!(typeof temperature === 'number' && temperature >= 0 && temperature <= 100))
      throw this._v._argError(`sample: temperature must be a number in [0, 100], not ${temperature}`);
    const { dataDim, latentDim } = this.info;
    return this._run((mem) => {
      const x = mem.alloc(n * dataDim * 4), z = mem.alloc(n * latentDim * 4);
      this._check(this._m._varia_web_sample(this._p, n, seed, temperature, x, z));
      return latents ? mem.floats(z, n * latentDim) : mem.floats(x, n * dataDim);
    });
  }

  // fn(mem) with a Scratch freed afterwards, whatever happens.
  _run(fn) {
    if (!this._p)
      throw this._v._argError('the model has been freed');
    const mem = new Scratch(this._m);
    try {
      return fn(mem);
    } finally {
      mem.free();
    }
  }

  _check(status) {
    if (status !== 0)
      throw new VariaError(status, this._v.statusName(status), this._m.UTF8ToString(this._m._varia_web_message(this._p)));
  }

  _count(n, what) {
    if (!(Number.isInteger(n) && n >= 1 && n <= 1 << 24))
      throw this._v._argError(`${what}: a count must be an integer in [1, 2^24], not ${n}`);
  }

  _seed(seed) {
    if (!(Number.isInteger(seed) && seed >= 0 && seed <= Number.MAX_SAFE_INTEGER))
      throw this._v._argError(`seed must be an integer in [0, 2^53), not ${seed}`);
  }

  _floats(a, count, what) {
    if (!(a instanceof Float32Array))
      throw this._v._argError(`${what} must be a Float32Array`);
    if (a.length !== count)
      throw this._v._argError(`${what} has ${a.length} floats; ${count} expected`);
  }
}
