// The SIMD128 matrix kernels against the portable scalar ones, in Node: the
// same calls on two builds of the module, varia_wasm_node.mjs (-msimd128,
// the "wasm-simd128" table) and varia_wasm_scalar_node.mjs (-Dwasm_simd=false,
// the "generic" table compiled without SIMD), both made by
// `tools/build-wasm.sh --scalar`. Each case runs for about a second per build
// after a warm-up; the median of 5 such runs is reported, with the ratio.
//
// Usage: node tests/web/bench_simd.mjs [SOURCE_ROOT]
import { readFileSync } from 'fs';
import { gunzipSync } from 'zlib';
import { loadVaria } from '../../web/lib/varia.js';

const root = process.argv[2] || new URL('../..', import.meta.url).pathname;
const lib = new URL('../../web/lib/', import.meta.url);

function files(model) {
  const dir = `${root}/models/${model}/`;
  return [readFileSync(dir + 'model.json', 'utf8'), new Uint8Array(readFileSync(dir + 'model.safetensors'))];
}

// Milliseconds per call of fn: the median of 5 runs of enough calls to take ~200 ms.
function time(fn) {
  fn();
  let calls = 1;
  for (let t = 0; t < 50; calls *= 2) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++)
      fn();
    t = performance.now() - t0;
  }
  const runs = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++)
      fn();
    runs.push((performance.now() - t0) / calls);
  }
  return runs.sort((a, b) => a - b)[2];
}

const images = gunzipSync(readFileSync(`${root}/models/vae-mnist-dyn/heldout-images-idx3-ubyte.gz`));
const x = Float32Array.from(images.subarray(16, 16 + 100 * 784), (b) => b / 255);

// The cases: name and a function of a loaded model set.
const cases = [
  ['vae-mnist-dyn decode, 1 latent (row kernel)', (m) => { const z = m.vae.sampleLatents({ n: 1 }); return () => m.vae.decode(z, 1); }],
  ['vae-mnist-dyn decode, 100 latents (tile kernel)', (m) => { const z = m.vae.sampleLatents({ n: 100 }); return () => m.vae.decode(z, 100); }],
  ['vae-mnist-dyn encode, 100 images', (m) => () => m.vae.encode(x, 100)],
  ['vae-mnist-dyn eval, 10 images, k 100', (m) => () => m.vae.eval(x.subarray(0, 7840), 10, { k: 100 })],
  ['vae-conv-mnist sample, 16', (m) => () => m.conv.sample({ n: 16 })],
  ['draw-mnist sample, 16', (m) => () => m.draw.sample({ n: 16 })],
];

const builds = {};
for (const [name, file] of [['simd128', 'varia_wasm_node.mjs'], ['scalar', 'varia_wasm_scalar_node.mjs']]) {
  const varia = await loadVaria({ moduleUrl: new URL(file, lib) });
  builds[name] = { kernel: varia.kernel, vae: varia.loadModel(...files('vae-mnist-dyn')),
                   conv: varia.loadModel(...files('vae-conv-mnist')), draw: varia.loadModel(...files('draw-mnist')) };
}
console.log(`kernels: ${builds.simd128.kernel} against ${builds.scalar.kernel}; Node ${process.version}`);
console.log('case | simd128 ms | scalar ms | scalar / simd128');
for (const [name, make] of cases) {
  const a = time(make(builds.simd128)), b = time(make(builds.scalar));
  console.log(`${name} | ${a.toFixed(3)} | ${b.toFixed(3)} | ${(b / a).toFixed(2)}x`);
}
