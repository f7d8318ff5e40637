// The WebAssembly module (web/lib/varia.js over varia_wasm_node.mjs) against
// the native library, in Node 20: shipped models sample, decode, encode,
// interpolate, score, paint DRAW's steps, invert a GAN and draw VRNN
// sequences, and each result is compared element by element with the native
// floats of the same call (tests/web/varia_dump.c, run here). Tolerance: 1e-5
// absolute on every float (wasm has no fused multiply-add, so the last bits
// differ: docs/web.md), 1e-5 relative on eval's figures (sums over hundreds of
// log-densities). Corrupt models must throw the runtime's VariaError.
//
// Usage: node tests/web/test_wasm_node.mjs VARIA_DUMP [SOURCE_ROOT]
// Prints TAP lines and "# passed P failed F"; exits nonzero on any failure.
import { execFileSync } from 'child_process';
import { existsSync, readFileSync } from 'fs';
import { dirname } from 'path';
import { gunzipSync } from 'zlib';
import { loadVaria, VariaError } from '../../web/lib/varia.js';

const [dump, root = new URL('../..', import.meta.url).pathname] = process.argv.slice(2);
if (!dump) {
  console.error('usage: node test_wasm_node.mjs VARIA_DUMP [SOURCE_ROOT]');
  process.exit(2);
}
const TOL = 1e-5;
let run = 0, failed = 0, worst = 0;

function check(ok, name) {
  run++;
  if (!ok)
    failed++;
  console.log(`${ok ? 'ok' : 'not ok'} ${run} - ${name}`);
}

// The native floats of one varia_dump call: float32 (or float64) outputs.
function native(model, args, input = null, type = Float32Array) {
  const out = execFileSync(dump, [`${root}/models/${model}/model.json`, ...args.map(String)],
                           { input: input ? Buffer.from(input.buffer, input.byteOffset, input.byteLength) : '',
                             maxBuffer: 1 << 28 });
  return new type(out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength));
}

// Compare wasm's floats with native's: same length, |a - b| <= tol (rel: tol * max(1, |b|)).
function same(name, wasm, nat, { rel = false } = {}) {
  let max = 0, bad = wasm.length !== nat.length;
  for (let i = 0; !bad && i < nat.length; i++) {
    const d = Math.abs(wasm[i] - nat[i]);
    max = Math.max(max, d);
    if (!(d <= TOL * (rel ? Math.max(1, Math.abs(nat[i])) : 1)))
      bad = true;
  }
  if (!rel)
    worst = Math.max(worst, max);
  check(!bad, `${name}: ${nat.length} values, max |wasm - native| = ${max.toExponential(2)}`);
}

function files(model) {
  const dir = `${root}/models/${model}/`;
  return [readFileSync(dir + 'model.json', 'utf8'), new Uint8Array(readFileSync(dir + 'model.safetensors'))];
}

// The first n held-out MNIST images shipped with vae-mnist-dyn, as floats in [0, 1].
function heldout(n) {
  const b = gunzipSync(readFileSync(`${root}/models/vae-mnist-dyn/heldout-images-idx3-ubyte.gz`));
  const x = new Float32Array(n * 784);
  for (let i = 0; i < x.length; i++)
    x[i] = b[16 + i] / 255;
  return x;
}

function throwsVaria(name, fn, statusName) {
  try {
    fn();
    check(false, `${name}: no error thrown`);
  } catch (e) {
    check(e instanceof VariaError && e.statusName === statusName && e.status > 0 && e.message.length > 0,
          `${name} -> ${e.statusName} (${e.message})`);
  }
}

const t0 = Date.now();
const varia = await loadVaria();
console.log(`# kernels: ${varia.kernel}`);

{ // VAE: every operation
  const m = varia.loadModel(...files('vae-mnist-dyn'));
  const { dataDim: D, latentDim: L } = m.info;
  check(m.info.family === 'vae' && D === 784 && L === 50 && m.info.shape.join() === '1,28,28' && m.info.can.encode &&
        m.info.can.eval && !m.info.can.sequences, 'vae-mnist-dyn: info');
  const nat = native('vae-mnist-dyn', ['sample', 16, 3, 1]);
  same('vae sample n 16 seed 3', m.sample({ n: 16, seed: 3 }), nat.subarray(0, 16 * D));
  const z = m.sampleLatents({ n: 16, seed: 3 });
  same('vae sampleLatents n 16 seed 3', z, nat.subarray(16 * D));
  same('vae sample temperature 0.7', m.sample({ n: 4, seed: 9, temperature: 0.7 }),
       native('vae-mnist-dyn', ['sample', 4, 9, 0.7]).subarray(0, 4 * D));
  same('vae decode', m.decode(z, 16), native('vae-mnist-dyn', ['decode', 16], z));
  const x = heldout(20);
  const mean = m.encode(x, 20);
  same('vae encode 20 held-out images', mean, native('vae-mnist-dyn', ['encode', 20], x));
  const za = mean.slice(0, L), zb = mean.slice(L, 2 * L), ends = new Float32Array([...za, ...zb]);
  same('vae interpolate lerp', m.interpolate(za, zb, { steps: 7 }), native('vae-mnist-dyn', ['interpolate', 7, 0], ends));
  same('vae interpolate slerp', m.interpolate(za, zb, { steps: 7, mode: 'slerp' }),
       native('vae-mnist-dyn', ['interpolate', 7, 1], ends));
  const e = m.eval(x, 20, { k: 50, seed: 1 });
  same('vae eval k 50 (nll, stderr, elbo, recon, kl)', [e.nll, e.nllStderr, e.elbo, e.recon, e.kl],
       native('vae-mnist-dyn', ['eval', 20, 50, 1], x, Float64Array), { rel: true });
  // Every call frees what it allocates: a probe allocation lands where it did.
  const probe = () => { const p = varia._m._malloc(1 << 20); varia._m._free(p); return p; };
  const before = probe();
  for (let i = 0; i < 20; i++) {
    m.sample({ n: 8, seed: i });
    m.encode(x, 20);
    m.eval(x.subarray(0, 2 * D), 2, { k: 5 });
  }
  check(probe() === before, 'vae: 60 calls leave the wasm heap as they found it');
  throwsVaria('vae: decode with a wrong length', () => m.decode(new Float32Array(3), 1), 'VARIA_ERR_ARG');
  throwsVaria('vae: sampleSequences of a VAE', () => m.sampleSequences({ n: 1, length: 2 }), 'VARIA_ERR_ARG');
  m.free();
  throwsVaria('vae: a call after free', () => m.sample({ n: 1 }), 'VARIA_ERR_ARG');
}

{ // the varia command itself (built beside varia_dump): `varia decode --json` of two latents
  const cli = `${dirname(dump)}/../varia`;
  if (existsSync(cli)) {
    const m = varia.loadModel(...files('vae-mnist-dyn'));
    const z = m.sampleLatents({ n: 2, seed: 11 });
    for (let i = 0; i < 2; i++) {
      const zi = z.subarray(i * m.info.latentDim, (i + 1) * m.info.latentDim);
      const out = execFileSync(cli, ['decode', `${root}/models/vae-mnist-dyn/model.json`, `z:${Array.from(zi).join(',')}`,
                                     '--json']);
      same(`varia decode --json, latent ${i}`, m.decode(zi, 1), Float32Array.from(JSON.parse(out).mean));
    }
    m.free();
  } else {
    console.log(`ok ${++run} - varia decode --json # SKIP no varia command at ${cli}`);
  }
}

{ // the threadless build: one thread is fine, more is refused by name (not clamped)
  const mod = varia._m, ctx = mod._varia_ctx_new();
  const one = mod._varia_ctx_set_threads(ctx, 1), zero = mod._varia_ctx_set_threads(ctx, 0);
  const two = mod._varia_ctx_set_threads(ctx, 2);
  mod._varia_ctx_free(ctx);
  check(one === 0 && zero === 0 && varia.statusName(two) === 'VARIA_ERR_UNSUPPORTED',
        `varia_ctx_set_threads: 1 -> ${one}, 0 -> ${zero}, 2 -> ${varia.statusName(two)}`);
}

{ // convolutional VAE
  const m = varia.loadModel(...files('vae-conv-mnist'));
  same('vae-conv sample n 4 seed 5', m.sample({ n: 4, seed: 5 }),
       native('vae-conv-mnist', ['sample', 4, 5, 1]).subarray(0, 4 * m.info.dataDim));
  m.free();
}

{ // DRAW: samples and the canvas after each step
  const m = varia.loadModel(...files('draw-mnist'));
  const { dataDim: D, steps: T } = m.info;
  check(m.info.family === 'draw' && T > 1 && m.info.can.decodeSteps, `draw-mnist: info (T = ${T})`);
  const nat = native('draw-mnist', ['sample', 3, 2, 1]);
  same('draw sample n 3 seed 2', m.sample({ n: 3, seed: 2 }), nat.subarray(0, 3 * D));
  const z = m.sampleLatents({ n: 3, seed: 2 });
  same('draw decodeSteps', m.decodeSteps(z, 3), native('draw-mnist', ['decode_steps', 3], z));
  m.free();
}

{ // GAN: samples and inversion
  const m = varia.loadModel(...files('gan10-mnist'));
  const D = m.info.dataDim;
  check(m.info.family === 'gan' && m.info.can.invert && !m.info.can.encode, 'gan10-mnist: info');
  same('gan sample n 4 seed 1', m.sample({ n: 4, seed: 1 }), native('gan10-mnist', ['sample', 4, 1, 1]).subarray(0, 4 * D));
  const x = heldout(2);
  same('gan invert 2 images (2 starts, 30 steps)', m.invert(x, 2, { seed: 4, starts: 2, iters: 30 }),
       native('gan10-mnist', ['invert', 2, 4, 2, 30], x));
  throwsVaria('gan: eval of a GAN', () => m.eval(x, 2, { k: 5 }), 'VARIA_ERR_UNSUPPORTED');
  m.free();
}

{ // VRNN: sequences
  const m = varia.loadModel(...files('vrnn-jsb'));
  check(m.info.family === 'vrnn' && m.info.can.sequences && m.info.frameDim > 0, 'vrnn-jsb: info');
  same('vrnn sampleSequences n 2 length 24 seed 1', m.sampleSequences({ n: 2, length: 24, seed: 1 }),
       native('vrnn-jsb', ['sample_seq', 2, 24, 1, 1]));
  m.free();
}

{ // corrupt models: the runtime's own statuses and messages
  const [text, bytes] = files('vae-mnist-dyn');
  throwsVaria('weights cut short', () => varia.loadModel(text, bytes.subarray(0, bytes.length - 100)), 'VARIA_ERR_TRUNCATED');
  const nan = bytes.slice();
  const start = 8 + Number(new DataView(nan.buffer).getBigUint64(0, true));
  new DataView(nan.buffer).setFloat32(start + 40, NaN, true);
  throwsVaria('a NaN weight', () => varia.loadModel(text, nan), 'VARIA_ERR_NONFINITE');
  throwsVaria('empty weights', () => varia.loadModel(text, new Uint8Array(0)), 'VARIA_ERR_HEADER');
  throwsVaria('a manifest that is not JSON', () => varia.loadModel('{"format": ', bytes), 'VARIA_ERR_JSON');
  throwsVaria('weights that are not bytes', () => varia.loadModel(text, [1, 2]), 'VARIA_ERR_ARG');
}

console.log(`# max |wasm - native| over all float comparisons: ${worst.toExponential(2)}; ${(Date.now() - t0) / 1000} s`);
console.log(`# passed ${run - failed} failed ${failed}`);
process.exit(failed ? 1 : 0);
