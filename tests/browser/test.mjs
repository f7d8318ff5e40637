// The demo page (web/index.html) in headless Chromium against the native
// library: every model web/models.json lists is loaded through the page's
// test hooks (window.variaDemo, web/README.md) and what the page computes and
// shows is compared with what the native command computes for the same call
// (build/varia's `-o FILE.npy` floats, tests/web/varia_dump's):
//   - the page loads the model (#status says "ready", the family is the list's);
//   - samples: the floats to 1e-5 (wasm has no fused multiply-add: the last
//     bits differ, web/lib/README.md), and the grid's gray pixels, as returned
//     and as read back from the <canvas>, are round(clamp(v) * 255) of the
//     native floats except where a native value sits within 1e-5 of a
//     rounding boundary (those are counted and reported, not compared);
//   - models with an encoder: an encode round trip of a binary image (a native
//     sample thresholded at 0.5: an image the model itself makes, so no dataset
//     is needed) reconstructs it (bound below), its log-likelihood equals
//     varia_dump eval's to 1e-5 relative, and an interpolation between two such
//     images has its endpoints and shape right and equals `varia interpolate`'s;
//   - DRAW: decodeSteps' last canvas is the sample, and equals `varia sample --steps`;
//   - VRNN: sequences are 0/1 and equal varia_dump sample_seq's;
//   - the UI itself: seed/n set in the form, #sample-btn clicked, the grid read back;
//   - corrupt models (weights cut short; a manifest with an unknown activation),
//     through the hook and through the file inputs: #status shows the runtime's
//     status name and message, the same the native command prints;
//   - no uncaught page error and no console error other than those failures'.
// Screenshots of each model's page, and of the refusals, go to --shots.
//
// Usage: node tests/browser/test.mjs --url http://127.0.0.1:PORT/ [--build build]
//          [--shots build/screenshots] [--chromium /usr/bin/chromium]
//   --url: where the repository root is served (tools/serve-demo.sh); the page is URL/web/.
// Prints TAP lines and "# passed P failed F"; exits nonzero on any failure.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const ROOT = new URL('../..', import.meta.url).pathname;
const opt = { url: '', build: `${ROOT}build`, shots: `${ROOT}build/screenshots`, chromium: '/usr/bin/chromium' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opt) || process.argv[i + 1] === undefined) {
    console.error(`test.mjs: unknown or valueless option ${process.argv[i]}`);
    process.exit(2);
  }
  opt[k] = process.argv[i + 1];
}
if (!opt.url) {
  console.error('usage: node test.mjs --url http://127.0.0.1:PORT/ [--build DIR] [--shots DIR] [--chromium PATH]');
  process.exit(2);
}
const VARIA = `${opt.build}/varia`, DUMP = `${opt.build}/tests/varia_dump`;
const TOL = 1e-5;
const SAMPLE = { n: 16, seed: 3, temperature: 0.9 }; // every image model's sample test
const t0 = Date.now();
let run = 0, failed = 0, worstFloat = 0;

/** One TAP line; returns ok. todo: a known shortfall, reported as TAP TODO (not counted as failed) while it fails. */
function check(ok, name, todo = '') {
  run++;
  if (!ok && !todo) failed++;
  console.log(`${ok ? 'ok' : 'not ok'} ${run} - ${name}${todo && !ok ? ` # TODO ${todo}` : ''}`);
  return ok;
}

// ---- native side ----------------------------------------------------------------

/** Run a program; resolves {code, stdout (Buffer), stderr (string)}; `input` goes to its stdin. */
function exec(file, args, input = null) {
  return new Promise((resolve, reject) => {
    const p = spawn(file, args.map(String), { stdio: ['pipe', 'pipe', 'pipe'] });
    const out = [], err = [];
    p.stdout.on('data', (d) => out.push(d));
    p.stderr.on('data', (d) => err.push(d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }));
    p.stdin.on('error', () => {}); // a program that exits before reading all of it
    p.stdin.end(input ? Buffer.from(input.buffer, input.byteOffset, input.byteLength) : undefined);
  });
}

/** exec that must succeed; its stdout. */
async function ok(file, args, input = null) {
  const r = await exec(file, args, input);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** A .npy's float32 array and shape (the '<f4' C-order files `varia ... -o FILE.npy` writes). */
function readNpy(path) {
  const b = readFileSync(path);
  if (b.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${path}: not a .npy`);
  const hlen = b.readUInt16LE(8), header = b.toString('latin1', 10, 10 + hlen);
  if (!header.includes("'descr': '<f4'") || !header.includes("'fortran_order': False"))
    throw new Error(`${path}: not little-endian float32 in C order: ${header}`);
  const shape = header.match(/'shape': \(([^)]*)\)/)[1].split(',').filter((s) => s.trim()).map(Number);
  const data = b.subarray(10 + hlen);
  return { shape, data: new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) };
}

const tmp = mkdtempSync(join(tmpdir(), 'varia-browser-'));
let tmpCount = 0;
/** `varia ARGS... -o TMP.npy`: the array it writes. */
async function cliNpy(args) {
  const path = join(tmp, `${tmpCount++}.npy`);
  await ok(VARIA, [...args, '-o', path]);
  return readNpy(path);
}
/** varia_dump MODEL OP ARGS < input: its float32 (or float64) output. */
async function dump(manifest, args, input = null, type = Float32Array) {
  const out = await ok(DUMP, [manifest, ...args], input);
  return new type(out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength));
}
const latentArg = (z) => `z:${Array.from(z, (v) => v.toPrecision(9)).join(',')}`;

/**
 * Everything the native side computes for one model, started at once (it runs
 * while the browser works): the sample; for encoders, two thresholded sample
 * images, their posterior means, a 7-step path between them (`varia
 * interpolate` of those means) and image A's log-likelihood (k 500, seed 0,
 * as the page's encodeDrawing); DRAW's steps; VRNN sequences.
 */
async function nativeFor(entry, manifest, family) {
  const r = {};
  if (family !== 'vrnn')
    r.sample = await cliNpy(['sample', manifest, '-n', SAMPLE.n, '--seed', SAMPLE.seed, '--temperature', SAMPLE.temperature]);
  if (family === 'vae' || family === 'draw') {
    const D = r.sample.data.length / SAMPLE.n;
    const x = r.sample.data.slice(0, 2 * D).map((v) => (v > 0.5 ? 1 : 0));
    r.images = [x.slice(0, D), x.slice(D)];
    const z = await dump(manifest, ['encode', 2], x);
    const L = z.length / 2;
    r.mode = entry.index % 2 ? 'slerp' : 'lerp'; // the two paths, alternately
    r.path = await cliNpy(['interpolate', manifest, latentArg(z.subarray(0, L)), latentArg(z.subarray(L)), '--steps', 7,
                           ...(r.mode === 'slerp' ? ['--slerp'] : [])]);
    r.eval = await dump(manifest, ['eval', 1, 500, 0], r.images[0], Float64Array);
  }
  if (family === 'draw') {
    r.steps = await cliNpy(['sample', manifest, '-n', 3, '--seed', 2, '--steps']);
    r.steps3 = await cliNpy(['sample', manifest, '-n', 3, '--seed', 2]);
  }
  if (family === 'vrnn') {
    r.seqCli = await cliNpy(['sample', manifest, '-n', 2, '--length', 32, '--seed', 5]);
    r.seqDump = await dump(manifest, ['sample_seq', 2, 32, 5, 1]);
  }
  return r;
}

// ---- comparisons ------------------------------------------------------------------

/** max |a - b| over equal-length arrays (Infinity when lengths differ or a value is not finite). */
function maxDiff(a, b) {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** check that page floats equal native ones to TOL; the measured maximum in the line. */
function same(name, page, native) {
  const d = maxDiff(page, native);
  if (Number.isFinite(d)) worstFloat = Math.max(worstFloat, d);
  return check(d <= TOL, `${name}: ${native.length} floats, max |page - native| = ${d.toExponential(2)}` +
               (page.length !== native.length ? ` (lengths ${page.length} vs ${native.length})` : ''));
}

/**
 * The grid's gray bytes against round(clamp(v) * 255) of the native floats,
 * tiled as the page tiles (rows x cols cells of h x w, channel 0). A native v
 * within TOL of a rounding boundary ((k + 0.5) / 255) may round either way in
 * wasm, so it is excluded and counted. Returns {bad, excluded, compared}.
 */
function comparePixels(pixels, native, n, shape, rows, cols) {
  const [c, h, w] = shape, width = cols * w;
  let bad = 0, excluded = 0, compared = 0;
  if (pixels.length !== rows * h * width || rows * cols < n) return { bad: Infinity, excluded, compared };
  for (let i = 0; i < n; i++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const v = native[i * c * h * w + y * w + x], t = v * 255;
        if (Math.abs(t - Math.floor(t) - 0.5) < TOL * 255 && v > 0 && v < 1) {
          excluded++;
          continue;
        }
        const want = v > 0 ? (v < 1 ? Math.round(t) : 255) : 0;
        const p = (Math.floor(i / cols) * h + y) * width + (i % cols) * w + x;
        compared++;
        if (pixels[p] !== want) bad++;
      }
  return { bad, excluded, compared };
}

// ---- the page ------------------------------------------------------------------------

const consoleErrors = []; // console errors and uncaught page errors not expected by a refusal test
let expected = [];        // texts a console error may contain while a refusal test runs

/** The page's hooks: call window.variaDemo[fn](...args) in the page and convert typed arrays to plain ones. */
async function hook(page, fn, ...args) {
  return page.evaluate(async ([fn, args]) => {
    const conv = (v) => (ArrayBuffer.isView(v) ? Array.from(v) : v);
    const revive = (a) => (a && a.f32 ? new Float32Array(a.f32) : a && a.u8 ? new Uint8Array(a.u8) : a);
    try {
      const r = await window.variaDemo[fn](...args.map((a) => (a && typeof a === 'object' && !a.f32 && !a.u8
        ? Object.fromEntries(Object.entries(a).map(([k, v]) => [k, revive(v)])) : revive(a))));
      if (r && typeof r === 'object' && !ArrayBuffer.isView(r))
        return { value: Object.fromEntries(Object.entries(r).map(([k, v]) => [k, conv(v)])) };
      return { value: conv(r) };
    } catch (e) {
      return { error: { name: e.name, statusName: e.statusName, message: e.message } };
    }
  }, [fn, args]);
}
const f32 = (a) => ({ f32: Array.from(a) });
const statusText = (page) => page.textContent('#status');

/** The red channel of a canvas's pixels (the gray byte of a gray image). */
function canvasGray(page, id) {
  return page.evaluate((id) => {
    const c = document.getElementById(id);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const g = new Array(c.width * c.height);
    for (let i = 0; i < g.length; i++) g[i] = d[4 * i];
    return g;
  }, id);
}

async function screenshot(page, name) {
  try {
    await page.screenshot({ path: `${opt.shots}/${name}.png`, fullPage: true });
  } catch (e) {
    console.log(`# screenshot ${name} failed: ${e.message}`);
  }
}

/** The checks of one model; nat: its nativeFor promise. */
async function testModel(page, entry, nat) {
  const name = entry.name, manifest = `${ROOT}web/${entry.path}`;
  const load = await hook(page, 'loadModel', name);
  const info = load.value;
  const status = await statusText(page);
  if (!check(!load.error && info.family === entry.family && /ready/.test(status),
             `${name}: loads (family ${info?.family ?? load.error?.statusName}; #status "${status.slice(0, 80)}")`))
    return;
  await screenshot(page, `model-${name}`);
  const r = await nat;
  if (info.shape) {
    const s = await hook(page, 'sample', SAMPLE);
    if (!check(!s.error, `${name}: sample ${JSON.stringify(SAMPLE)}${s.error ? `: ${s.error.message}` : ''}`)) return;
    same(`${name}: sample floats against varia sample -o x.npy`, s.value.floats, r.sample.data);
    check(r.sample.shape.join() === [SAMPLE.n, ...info.shape].join(), `${name}: varia sample's .npy is [${r.sample.shape}]`);
    const px = comparePixels(s.value.pixels, r.sample.data, SAMPLE.n, info.shape, s.value.rows, s.value.cols);
    check(px.bad === 0, `${name}: grid gray bytes = round(clamp(native) * 255): ${px.bad} of ${px.compared} differ, ` +
          `${px.excluded} excluded within 1e-5 of a rounding boundary`);
    const shown = await canvasGray(page, 'grid');
    check(maxDiff(shown, s.value.pixels) === 0, `${name}: #grid's canvas shows those bytes (${shown.length} pixels read back)`);
  }
  if (r.images) await testEncoder(page, name, info, r);
  if (r.steps) {
    const T = info.steps, D = info.dataDim;
    const st = await hook(page, 'decodeSteps', { n: 3, seed: 2 });
    const sm = await hook(page, 'sample', { n: 3, seed: 2 });
    const last = new Float32Array(3 * D);
    for (let i = 0; st.value && i < 3; i++) last.set(st.value.slice(((i + 1) * T - 1) * D, (i + 1) * T * D), i * D);
    check(!st.error && !sm.error && maxDiff(last, sm.value.floats) === 0,
          `${name}: decodeSteps' last canvas is the sample (3 samples, T = ${T}), bit for bit`);
    same(`${name}: decodeSteps against varia sample --steps -o x.npy [${r.steps.shape}]`, st.value ?? [], r.steps.data);
    same(`${name}: sample n 3 seed 2 against native`, sm.value?.floats ?? [], r.steps3.data);
  }
  if (r.seqCli) {
    const q = await hook(page, 'sampleSequences', { n: 2, length: 32, seed: 5 });
    const v = q.value ?? [];
    check(!q.error && v.length === 2 * 32 * info.frameDim && v.every((x) => x === 0 || x === 1),
          `${name}: sampleSequences n 2 length 32: ${v.length} values, all 0 or 1`);
    const dd = maxDiff(v, r.seqDump), dc = maxDiff(v, r.seqCli.data);
    check(dd === 0 && dc === 0, `${name}: the frames equal varia_dump sample_seq's and varia sample --length -o x.npy's ` +
          `(max differences ${dd}, ${dc})`);
  }
}

/**
 * Encode round trip, log-likelihood and interpolation of a model with an
 * encoder. The reconstruction bound: the images are the model's own samples
 * thresholded, so a working encoder-decoder pair reconstructs them well; we
 * require mean |recon - x| < 0.1 and recon >= 0.5 on the same pixels as x for
 * at least 95% of them (a model that ignored its input, e.g. decoding the
 * prior mean, misses both on these digits), and recon nearer to x than to the
 * other image (it keeps the identity).
 */
async function testEncoder(page, name, info, r) {
  const [a, b] = r.images, D = a.length;
  const e = await hook(page, 'encodeDrawing', f32(a));
  if (!check(!e.error, `${name}: encodeDrawing${e.error ? `: ${e.error.statusName} ${e.error.message}` : ''}`)) return;
  const rec = e.value.recon;
  let mae = 0, agree = 0, maeOther = 0;
  for (let i = 0; i < D; i++) {
    mae += Math.abs(rec[i] - a[i]) / D;
    maeOther += Math.abs(rec[i] - b[i]) / D;
    agree += (rec[i] >= 0.5) === (a[i] === 1);
  }
  // A flow posterior: varia.js's encode pushes q0's mean through the flow, as varia interpolate does.
  check(rec.length === D && mae < 0.1 && agree >= 0.95 * D && mae < maeOther,
        `${name}: encode round trip of a thresholded sample: mean |recon - x| = ${mae.toFixed(4)} (< 0.1; ` +
        `${maeOther.toFixed(4)} to the other image), ${(100 * agree / D).toFixed(1)}% of pixels on the right side of 0.5 (>= 95%)`);
  const want = -r.eval[0], got = e.value.loglik;
  const rel = Math.abs(got - want) / Math.max(1, Math.abs(want));
  check(Number.isFinite(got) && rel <= TOL, `${name}: log p(x) = ${got?.toFixed(4)} against varia_dump eval's ` +
        `${want.toFixed(4)} (k 500, seed 0): relative difference ${rel.toExponential(2)}`);
  const p = await hook(page, 'interpolate', { a: f32(a), b: f32(b), steps: 7, mode: r.mode });
  const path = p.value ?? [];
  check(!p.error && path.length === 7 * D && maxDiff(path.slice(0, D), rec) === 0,
        `${name}: interpolate (${r.mode}, 7 steps): ${path.length} floats (7 x ${D}), the first image is A's reconstruction`);
  same(`${name}: the ${r.mode} path against varia interpolate -o x.npy [${r.path.shape}] of varia_dump's encodings`,
       path, r.path.data);
}

/**
 * Corrupt models: through the hook (weights cut short) and through the file
 * inputs and #load-files-btn (an unknown activation). #status must show the
 * statusName and message that the native command prints for the same files,
 * lastError must hold them, and the previous model must stay loaded.
 */
async function testCorrupt(page) {
  const dir = mkdtempSync(join(tmp, 'bad-'));
  const src = `${ROOT}models/vae-mnist-dyn/`;
  const text = readFileSync(`${src}model.json`, 'utf8'), weights = readFileSync(`${src}model.safetensors`);
  const cases = [
    { what: 'weights cut short by 100 bytes', manifest: text, weights: weights.subarray(0, weights.length - 100), cut: 100,
      via: 'hook' },
    { what: "a manifest with activation 'swish'", manifest: text.replaceAll('"tanh"', '"swish"'), weights, via: 'files' },
  ];
  const before = (await page.evaluate(() => window.variaDemo.info))?.name;
  for (const [i, c] of cases.entries()) {
    writeFileSync(`${dir}/model.json`, c.manifest);
    writeFileSync(`${dir}/model.safetensors`, c.weights);
    const nat = await exec(VARIA, ['info', `${dir}/model.json`]);
    const m = nat.stderr.match(/varia: (VARIA_ERR_[A-Z_]+): (.*)/);
    const [statusName, message] = m ? [m[1], m[2]] : ['(native accepted it)', ''];
    expected = [statusName, message];
    if (c.via === 'hook') { // the page fetches the weights and cuts them itself: 1.7 MB need not cross CDP as JSON
      await page.evaluate(async ([text, url, cut]) => {
        const w = new Uint8Array(await (await fetch(url)).arrayBuffer());
        await window.variaDemo.loadModelBytes(text, w.subarray(0, w.length - cut)).catch(() => {});
      }, [c.manifest, `${opt.url}models/vae-mnist-dyn/model.safetensors`, c.cut]);
    } else {
      await page.setInputFiles('#file-manifest', { name: 'model.json', mimeType: 'application/json', buffer: Buffer.from(c.manifest) });
      await page.setInputFiles('#file-weights', { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: c.weights });
      const shown = await statusText(page); // the previous case's error: wait for the status to change, then settle
      await page.click('#load-files-btn');
      await page.waitForFunction((shown) => {
        const el = document.getElementById('status');
        return el.textContent !== shown && el.className !== 'busy';
      }, shown, { timeout: 20000 }).catch(() => {});
    }
    const status = await statusText(page);
    const last = await page.evaluate(() => window.variaDemo.lastError);
    const after = (await page.evaluate(() => window.variaDemo.info))?.name;
    check(nat.code !== 0 && status.includes(statusName) && status.includes(message) && last?.statusName === statusName &&
          last?.message === message && after === before,
          `${c.what} (${c.via === 'hook' ? 'loadModelBytes' : '#file-manifest, #file-weights, #load-files-btn'}): ` +
          `#status "${status}", as the native command's ${statusName} (exit ${nat.code}); ${before} stays loaded`);
    await screenshot(page, `refused-${i + 1}`);
    expected = [];
  }
}

/** The form itself: seed and n typed in, #sample-btn clicked, #grid read back against native floats. */
async function testForm(page, entry) {
  await hook(page, 'loadModel', entry.name);
  const nat = await cliNpy(['sample', `${ROOT}web/${entry.path}`, '-n', 9, '--seed', 42, '--temperature', 1]);
  await page.fill('#seed', '42');
  await page.fill('#n', '9');
  await page.fill('#temperature', '1');
  const before = await statusText(page);
  await page.click('#sample-btn');
  await page.waitForFunction((b) => { const s = document.getElementById('status').textContent; return s !== b && /sampled 9/.test(s); },
                             before, { timeout: 10000 }).catch(() => {});
  const info = await page.evaluate(() => window.variaDemo.info);
  const shown = await canvasGray(page, 'grid');
  const size = await page.evaluate(() => [document.getElementById('grid').width, document.getElementById('grid').height]);
  const [, h, w] = info.shape, cols = size[0] / w, rows = size[1] / h;
  const px = comparePixels(shown, nat.data, 9, info.shape, rows, cols);
  check(px.bad === 0 && rows * cols >= 9, `${entry.name}: seed 42 and n 9 typed in, #sample-btn clicked: #grid (${rows} x ${cols} ` +
        `cells) shows varia sample -n 9 --seed 42: ${px.bad} of ${px.compared} bytes differ, ${px.excluded} excluded`);
  await screenshot(page, 'form-sample');
}

// ---- main ---------------------------------------------------------------------------------

async function waitForServer(url) {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${url}web/models.json`)).ok) return true;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

mkdirSync(opt.shots, { recursive: true });
const list = JSON.parse(readFileSync(`${ROOT}web/models.json`, 'utf8')).models.map((m, index) => ({ ...m, index }));
// The native side of every model, one model at a time in the background.
const natives = [];
list.reduce((prev, entry) => {
  const p = prev.then(() => nativeFor(entry, `${ROOT}web/${entry.path}`, entry.family));
  natives.push(p);
  return p.catch(() => {});
}, Promise.resolve());
natives.forEach((p) => p.catch(() => {})); // reported where awaited

let browser;
try {
  if (!check(await waitForServer(opt.url), `the server answers at ${opt.url}web/models.json`))
    throw new Error('no server');
  browser = await chromium.launch({ executablePath: opt.chromium, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
  page.on('console', (m) => {
    // a refusal test's own failure is logged by the page (console.error): allowed when it names the expected message
    if (m.type() === 'error' && !(expected.length && m.text().includes(expected[1])))
      consoleErrors.push(m.text());
  });
  console.log(`# chromium ${browser.version()} started in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await page.goto(`${opt.url}web/`);
  await page.waitForFunction(() => window.variaDemo, null, { timeout: 20000 });
  await page.evaluate(() => window.variaDemo.ready);
  const options = await page.$$eval('#model-select option', (os) => os.map((o) => o.value));
  check(options.join() === list.map((m) => m.name).join(), `#model-select offers the ${list.length} models of web/models.json`);
  for (const [i, entry] of list.entries()) {
    try {
      const t = Date.now();
      await testModel(page, entry, natives[i]);
      console.log(`# ${entry.name}: ${((Date.now() - t) / 1000).toFixed(1)} s`);
    } catch (e) {
      check(false, `${entry.name}: ${e.message.split('\n')[0]}`);
    }
  }
  let t = Date.now();
  await testForm(page, list[0]);
  console.log(`# the form: ${((Date.now() - t) / 1000).toFixed(1)} s`);
  t = Date.now();
  await testCorrupt(page);
  console.log(`# corrupt models: ${((Date.now() - t) / 1000).toFixed(1)} s`);
  check(consoleErrors.length === 0, `no uncaught page error or unexpected console error (${consoleErrors.length}` +
        `${consoleErrors.length ? `: ${consoleErrors.slice(0, 3).join(' | ')}` : ''})`);
} catch (e) {
  check(false, `the run: ${e.message.split('\n')[0]}`);
} finally {
  await browser?.close();
  rmSync(tmp, { recursive: true, force: true });
}
console.log(`# max |page - native| over all float comparisons: ${worstFloat.toExponential(2)}; ` +
            `${((Date.now() - t0) / 1000).toFixed(1)} s; screenshots in ${opt.shots}`);
console.log(`# passed ${run - failed} failed ${failed}`);
process.exit(failed ? 1 : 0);
