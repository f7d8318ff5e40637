// The browser half of bench/browser.sh (web/bench.html): varia.js's decode of
// one latent (batch 1) and sample of a batch of 100, timed as
// bench/bench_web.c times them natively: blocks of calls, each block's time
// divided by its calls, in ms per call; one warm-up block, then the median of
// `repeats` blocks. Blocks, not single calls, because a page's
// performance.now() is coarsened (to 0.1 ms without cross-origin isolation)
// and a batch-1 decode takes about that.
//
// Each op is first warmed up for a second (see Bench.warm: V8's tier-up).
// Opened by hand, the page measures the models of its query on its own:
//   ?models=NAME,NAME (default below; names of web/models.json)
//   &repeats=R (7) &decodeCalls=C (200) &sampleCalls=S (5)
// and shows a table in <pre id="results">. With &driven=1 it waits instead
// for bench/browser.mjs, which loads each model (window.variaBench.load),
// alternates single blocks (window.variaBench.block) with bench_web's native
// ones so both halves see the same machine load, and hands the figures back
// (window.variaBench.report) for the same table.
// Either way window.benchResults ends as {done: true, kernel, userAgent,
// rows: [{model, op, ms, calls, repeats, nativeMs?, ratio?}]}, or {done: true, error}.

import { loadVaria } from './lib/varia.js';

const DEFAULT_MODELS = ['vae-mnist-dyn', 'vae-conv-mnist', 'draw-mnist', 'dcgan-fashion'];
const BATCH = 100;
const $ = (id) => document.getElementById(id);

/** The query's options. */
function options() {
  const q = new URLSearchParams(location.search);
  const int = (k, d) => (q.has(k) ? Math.max(1, Math.round(Number(q.get(k)))) || d : d);
  return {
    models: q.get('models') ? q.get('models').split(',') : DEFAULT_MODELS,
    repeats: int('repeats', 7),
    decodeCalls: int('decodeCalls', 200),
    sampleCalls: int('sampleCalls', 5),
    driven: q.get('driven') === '1',
  };
}

/** A model's manifest text and weights bytes, fetched by its web/models.json entry. */
async function fetchModel(entry) {
  const manifestUrl = new URL(entry.path, location.href);
  const res = await fetch(manifestUrl);
  if (!res.ok) throw new Error(`${entry.path}: HTTP ${res.status}`);
  const text = await res.text();
  const wres = await fetch(new URL(JSON.parse(text).weights.file, manifestUrl));
  if (!wres.ok) throw new Error(`${entry.name}'s weights: HTTP ${wres.status}`);
  return [text, new Uint8Array(await wres.arrayBuffer())];
}

/** The median of a list of numbers. */
export function median(v) {
  const s = [...v].sort((a, b) => a - b), h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** The loaded module, the model list, and the one model being measured. */
class Bench {
  constructor() {
    this.varia = null;
    this.list = [];
    this.model = null;
    this.name = null;
    this.z = null;   // the latent decode1 decodes: the prior sample of seed 1 (as bench_web)
    this.seed = 0;   // sample100's next seed
  }

  async start() {
    this.varia = await loadVaria();
    const res = await fetch('models.json');
    this.list = (await res.json()).models;
    return { kernel: this.varia.kernel };
  }

  /** Make model `name` (web/models.json) the one measured; frees the previous one. */
  async load(name) {
    const entry = this.list.find((m) => m.name === name);
    if (!entry) throw new Error(`no model '${name}' in models.json`);
    const m = this.varia.loadModel(...(await fetchModel(entry)));
    this.model?.free();
    this.model = m;
    this.name = name;
    this.z = m.sampleLatents({ n: 1, seed: 1 });
    this.seed = 0;
    $('status').textContent = `measuring ${name}…`;
  }

  /** One block of `calls` calls of op ('decode1' or 'sample100'): ms per call. */
  block(op, calls) {
    const m = this.model, z = this.z;
    const t0 = performance.now();
    if (op === 'decode1') for (let c = 0; c < calls; c++) m.decode(z, 1);
    else if (op === 'sample100') for (let c = 0; c < calls; c++) m.sample({ n: BATCH, seed: this.seed++ });
    else throw new Error(`no op '${op}'`);
    return (performance.now() - t0) / calls;
  }

  /**
   * Warm-up: blocks of op until `ms` have passed (at least two). V8 first runs
   * wasm from its baseline compiler (Liftoff) and recompiles hot functions
   * with TurboFan in the background: until it has, a call is several times
   * slower (seen: the first model measured 3 to 10 times slower than the same
   * model measured again later), so one block is not enough warm-up.
   */
  warm(op, calls, ms = 1000) {
    const t0 = performance.now();
    for (let b = 0; b < 2 || performance.now() - t0 < ms; b++) this.block(op, calls);
  }

  /** Show rows (and publish them as window.benchResults). */
  report(rows) {
    const both = rows.some((r) => r.nativeMs !== undefined);
    let text = `model              op          browser ms/call${both ? '   native ms/call   ratio' : ''}\n`;
    for (const r of rows)
      text += `${r.model.padEnd(18)} ${r.op.padEnd(11)} ${r.ms.toFixed(4).padStart(15)}` +
        (both ? `   ${r.nativeMs.toFixed(4).padStart(14)}   ${r.ratio.toFixed(2).padStart(5)}` : '') + '\n';
    $('results').textContent = text;
    $('status').textContent = `done (${this.varia.kernel}, median of ${rows[0]?.repeats} blocks)`;
    window.benchResults = { done: true, kernel: this.varia.kernel, userAgent: navigator.userAgent, rows };
  }
}

/** The page on its own: every model of the query, each op warmed up then the median of `repeats` blocks. */
async function standalone(bench, opt) {
  const rows = [];
  for (const name of opt.models) {
    await bench.load(name);
    await new Promise((r) => setTimeout(r, 0)); // let the status paint
    for (const [op, calls] of [['decode1', opt.decodeCalls], ['sample100', opt.sampleCalls]]) {
      bench.warm(op, calls);
      const t = [];
      for (let r = 0; r < opt.repeats; r++) t.push(bench.block(op, calls));
      rows.push({ model: name, op, ms: median(t), calls, repeats: opt.repeats });
    }
  }
  bench.model?.free();
  bench.report(rows);
}

const opt = options();
const bench = new Bench();
const ready = bench.start();
window.variaBench = {
  ready,
  load: (name) => bench.load(name),
  block: (op, calls) => bench.block(op, calls),
  warm: (op, calls, ms) => bench.warm(op, calls, ms),
  report: (rows) => bench.report(rows),
};
ready.then(() => (opt.driven ? ($('status').textContent = 'waiting for bench/browser.mjs…') : standalone(bench, opt)))
  .catch((e) => {
    $('status').textContent = `error: ${e.statusName ?? e.name}: ${e.message}`;
    window.benchResults = { done: true, error: `${e.statusName ?? e.name}: ${e.message}` };
  });
