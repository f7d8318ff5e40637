// The driver of bench/browser.sh: decode latency (batch 1) and sampling
// throughput (batch 100) of a few models, in headless Chromium through
// web/bench.html's hooks (the browser half) and natively by
// build/bench/bench_web (the native half), one thread each. For each model
// and op: a warm-up on each side (a second of blocks in the page, for V8 to
// recompile the hot wasm with TurboFan; one block natively), then `repeats` rounds of one browser
// block followed by one native block (bench_web --repeats 1: a fresh process
// that loads the model, warms up, times one block), so that both halves see
// the same load on this shared machine; the median of each side's blocks is
// reported, in ms per call, and their ratio (browser / native).
//
// Usage: node bench/browser.mjs --url http://127.0.0.1:PORT/ [--build build]
//          [--chromium /usr/bin/chromium] [--models a,b,...] [--repeats R]
//          [--json FILE] [--shot FILE]
// The repository root must be served at --url (tools/serve-demo.sh).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { chromium } from '../tests/browser/node_modules/playwright-core/index.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
const opt = { url: '', build: `${ROOT}build`, chromium: '/usr/bin/chromium', models: 'vae-mnist-dyn,vae-conv-mnist,draw-mnist,dcgan-fashion',
              repeats: '7', json: '', shot: '' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opt) || process.argv[i + 1] === undefined) {
    console.error(`browser.mjs: unknown or valueless option ${process.argv[i]}`);
    process.exit(2);
  }
  opt[k] = process.argv[i + 1];
}
if (!opt.url) {
  console.error('usage: node bench/browser.mjs --url http://127.0.0.1:PORT/ [--build DIR] [--models a,b] [--repeats R]');
  process.exit(2);
}
const R = Number(opt.repeats);
const CALLS = { decode1: 200, sample100: 5 }; // per block, both sides (bench_web's defaults)
const median = (v) => { const s = [...v].sort((a, b) => a - b), h = s.length >> 1; return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2; };

/** One native block of op (after bench_web's own warm-up block): ms per call, and the kernel table. */
function nativeBlock(model, op) {
  const out = execFileSync(`${opt.build}/bench/bench_web`, [`${ROOT}models/${model}/model.json`, '--op', op, '--repeats', 1,
                                                            '--decode-calls', CALLS.decode1, '--sample-calls', CALLS.sample100]
                           .map(String), { encoding: 'utf8' });
  const r = Object.fromEntries(out.split('\n').filter((l) => l.startsWith('RESULT ')).map((l) => l.split(' ').slice(1)));
  return { ms: Number(r[op]), kernels: r.kernels };
}

// --no-liftoff: V8 compiles the wasm with TurboFan at once instead of starting from its baseline compiler and
// recompiling hot functions in the background, which on this loaded machine could take longer than the warm-up
// (the first model measured up to 20 times slower than the same model later). Steady state is the same code.
const args = ['--js-flags=--no-liftoff', ...(process.getuid?.() === 0 ? ['--no-sandbox'] : [])];
const browser = await chromium.launch({ executablePath: opt.chromium, args });
let rows = [], kernel = '', nativeKernels = '', userAgent = '';
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto(`${opt.url}web/bench.html?driven=1`);
  await page.waitForFunction(() => window.variaBench, null, { timeout: 60000 });
  ({ kernel } = await page.evaluate(() => window.variaBench.ready));
  userAgent = await page.evaluate(() => navigator.userAgent);
  for (const model of opt.models.split(',')) {
    await page.evaluate((m) => window.variaBench.load(m), model);
    for (const op of ['decode1', 'sample100']) {
      const b = [], n = [];
      await page.evaluate(([op, c]) => window.variaBench.warm(op, c, 1000), [op, CALLS[op]]); // a second: V8's tier-up
      for (let r = 0; r < R; r++) {
        b.push(await page.evaluate(([op, c]) => window.variaBench.block(op, c), [op, CALLS[op]]));
        const nat = nativeBlock(model, op);
        n.push(nat.ms);
        nativeKernels = nat.kernels;
      }
      const row = { model, op, ms: median(b), calls: CALLS[op], repeats: R, nativeMs: median(n) };
      row.ratio = row.ms / row.nativeMs;
      row.spread = { browser: [Math.min(...b), Math.max(...b)], native: [Math.min(...n), Math.max(...n)] };
      rows.push(row);
    }
  }
  await page.evaluate((rows) => window.variaBench.report(rows), rows);
  if (opt.shot) await page.screenshot({ path: opt.shot, fullPage: true });
} finally {
  await browser.close();
}

console.log(`browser: Chromium ${browser.version()}, varia.js kernels ${kernel}; native: bench_web, kernels ${nativeKernels}; ` +
            `1 thread each; median of ${R} interleaved blocks, ms per call (min-max in brackets); ratio: browser / native ` +
            `of the medians, and of the minima (less sensitive to the other work on the machine)`);
console.log('| model | op | browser ms | native ms | ratio | ratio of minima |');
console.log('|---|---|---|---|---|---|');
const f = (v) => (v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3));
for (const r of rows)
  console.log(`| ${r.model} | ${r.op === 'decode1' ? 'decode, batch 1' : 'sample, batch 100'} | ${f(r.ms)} ` +
              `(${f(r.spread.browser[0])}-${f(r.spread.browser[1])}) | ${f(r.nativeMs)} (${f(r.spread.native[0])}-` +
              `${f(r.spread.native[1])}) | ${r.ratio.toFixed(1)} | ${(r.spread.browser[0] / r.spread.native[0]).toFixed(1)} |`);
if (opt.json) writeFileSync(opt.json, JSON.stringify({ kernel, nativeKernels, userAgent, browser: browser.version(), rows }, null, 1));
