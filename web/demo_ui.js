// The demo page's wiring (web/index.html): fills the model list, shows the
// panels a model's family has, and turns clicks, drawings and file picks into
// calls on the controller (demo.js). Also publishes the test hooks as
// window.variaDemo (documented in web/README.md).

import { Demo } from './demo.js';
import { DrawPad, centerDigit } from './demo_draw.js';
import { fetchModelFiles } from './demo_models.js';

const $ = (id) => document.getElementById(id);
const demo = new Demo();
const pad = new DrawPad($('draw-canvas'));
let nextEnd = 'a'; // which endpoint the next click on the grid sets

// An integer input's value, clamped to its min/max (a typo should not become a 2^24 sample).
function intOf(id) {
  const el = $(id);
  const v = Math.round(Number(el.value));
  const lo = Number(el.min || 0), hi = Number(el.max || Number.MAX_SAFE_INTEGER);
  return Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : lo;
}

// Swallow an action's rejection in a click handler: the status line already shows it.
const quiet = (p) => p.catch(() => {});

/** Show the panels the model's family has, and fill each with a first result. */
function onModel(info) {
  const image = !!info.shape;
  const gan = info.family === 'gan';
  $('panel-sample').hidden = !image;
  $('panel-draw').hidden = !image || !(info.can.encode || info.can.invert);
  $('panel-interp').hidden = !image;
  $('panel-gan').hidden = !gan;
  $('panel-steps').hidden = !info.can.decodeSteps;
  $('panel-roll').hidden = !info.can.sequences;
  const fashion = /fashion/i.test(info.name);
  const thing = fashion ? 'a piece of clothing' : 'a digit';
  $('center').checked = !fashion; // Fashion-MNIST's items fill the frame: no 20×20 box
  $('draw-title').textContent = `Draw ${thing}${gan ? ': inversion' : ''}`;
  $('encode-btn').textContent = gan ? 'Invert' : 'Encode';
  $('recon-caption').textContent = gan ? 'G(z) of the inverted z' : 'reconstruction: decode(encode(x))';
  const entry = demo.list.find((m) => m.name === info.name);
  $('model-about').textContent = entry ? entry.about : `from your files: ${info.name}`;
  if (!entry) $('model-select').selectedIndex = -1; // a model from files is not in the list
  else $('model-select').value = info.name;
  nextEnd = 'a';
  $('next-end').textContent = 'A';
  // First results, drawn as part of the load (demo.js runs these at once).
  if (image) {
    quiet(runSample());
    defaultEnds();
  }
  if (gan) quiet(demo.ganPair({ seed: intOf('gan-seed'), mode: $('gan-mode').value }));
  if (info.can.decodeSteps) quiet(runSteps());
  if (info.can.sequences) quiet(runRoll());
}

// Endpoints A and B default to the grid's first two samples.
function defaultEnds() {
  if (!demo.grid || demo.grid.n < 2) return;
  demo.setEnd('a', demo.gridCell(0));
  demo.setEnd('b', demo.gridCell(1));
  quiet(runInterp());
}

const runSample = () => demo.sample({ n: intOf('n'), seed: intOf('seed'), temperature: Number($('temperature').value) });
const runSteps = () => demo.decodeSteps({ n: intOf('steps-n'), seed: intOf('steps-seed') });
const runRoll = () => demo.sampleSequences({ n: intOf('roll-n'), length: intOf('roll-length'), seed: intOf('roll-seed') });
const runInterp = () => demo.interpolateEnds({ steps: intOf('interp-steps'), mode: $('interp-mode').value });

// The drawing as the model will see it (framed like MNIST when the box is ticked), or null if empty.
function drawing() {
  if (pad.isEmpty()) {
    demo.status('draw something first', 'error');
    return null;
  }
  const x = pad.read(28, 28);
  return $('center').checked ? centerDigit(x) : x;
}

// A drawing as endpoint A or B (encoded, or inverted, when the interpolation runs).
function useDrawing(which) {
  const x = drawing();
  if (!x) return;
  pad.show(x);
  demo.setEnd(which, { image: x, latent: null });
  quiet(runInterp());
}

// The grid cell under a click on #grid (the canvas is CSS-scaled: map back to logical pixels).
function cellAt(e) {
  const c = $('grid'), r = c.getBoundingClientRect();
  const shape = demo.model.info.shape;
  const col = Math.floor(((e.clientX - r.left) / r.width) * c.width / shape[2]);
  const row = Math.floor(((e.clientY - r.top) / r.height) * c.height / shape[1]);
  const cols = Math.round(c.width / shape[2]);
  const i = row * cols + col;
  return i >= 0 && i < demo.grid.n ? i : -1;
}

function wire() {
  $('model-select').addEventListener('change', (e) => quiet(demo.loadModel(e.target.value)));
  $('sample-btn').addEventListener('click', () => quiet(runSample()));
  $('grid').addEventListener('click', (e) => {
    if (!demo.grid) return;
    const i = cellAt(e);
    if (i < 0) return;
    demo.setEnd(nextEnd, demo.gridCell(i));
    nextEnd = nextEnd === 'a' ? 'b' : 'a';
    $('next-end').textContent = nextEnd.toUpperCase();
    quiet(runInterp());
  });
  $('clear-btn').addEventListener('click', () => pad.clear());
  $('encode-btn').addEventListener('click', () => {
    const x = drawing();
    if (x) quiet(demo.encodeDrawing(x, pad));
  });
  $('use-a-btn').addEventListener('click', () => useDrawing('a'));
  $('use-b-btn').addEventListener('click', () => useDrawing('b'));
  $('interp-btn').addEventListener('click', () => quiet(runInterp()));
  $('gan-btn').addEventListener('click', () => {
    $('gan-seed').value = String(intOf('gan-seed') + 1); // a new pair each click
    quiet(demo.ganPair({ seed: intOf('gan-seed'), mode: $('gan-mode').value }));
  });
  $('steps-btn').addEventListener('click', () => quiet(runSteps()));
  $('roll-btn').addEventListener('click', () => quiet(runRoll()));
  $('load-files-btn').addEventListener('click', async () => {
    const [mf, wf] = [$('file-manifest').files[0], $('file-weights').files[0]];
    if (!mf || !wf) return demo.status('pick a manifest (.json) and its weights file first', 'error');
    const bytes = new Uint8Array(await wf.arrayBuffer());
    quiet(demo.loadModelBytes(await mf.text(), bytes, `${mf.name} + ${wf.name}`));
  });
  $('broken-btn').addEventListener('click', async () => {
    const { manifestText, weights } = await fetchModelFiles('../models/vae-mnist-dyn/model.json');
    quiet(demo.loadModelBytes(manifestText, weights.slice(0, weights.length >> 1), 'vae-mnist-dyn, cut'));
  });
}

// A plain array or another typed array as a Float32Array / Uint8Array (what a
// test may pass); anything else unchanged, for varia.js to refuse with VARIA_ERR_ARG.
const f32 = (x) => (Array.isArray(x) || (ArrayBuffer.isView(x) && !(x instanceof Float32Array)) ? Float32Array.from(x) : x);
const u8 = (x) => (Array.isArray(x) || x instanceof ArrayBuffer ? new Uint8Array(x) : x);

/** The test hooks: the controller's actions, returning plain data (web/README.md). */
window.variaDemo = {
  ready: demo.ready,
  // A load resolves with the panels' first results drawn.
  loadModel: (name) => demo.loadModel(name),
  loadModelBytes: (text, bytes) => demo.loadModelBytes(text, u8(bytes)),
  sample: (opts) => demo.sample(opts),
  encodeDrawing: (x) => demo.encodeDrawing(f32(x), pad),
  interpolate: (opts = {}) => demo.interpolate({ ...opts, a: f32(opts.a), b: f32(opts.b) }),
  decodeSteps: (opts) => demo.decodeSteps(opts),
  sampleSequences: (opts) => demo.sampleSequences(opts),
  get lastError() { return demo.lastError; },
  get info() { return demo.info(); },
};

demo.onModel = onModel;
wire();
demo.ready.then(() => {
  const sel = $('model-select');
  for (const m of demo.list) sel.add(new Option(`${m.name} (${m.family})`, m.name));
  const wanted = new URLSearchParams(location.search).get('model'); // ?model=NAME opens that one
  const first = demo.list.some((m) => m.name === wanted) ? wanted : demo.list[0]?.name;
  if (first) quiet(demo.loadModel(first));
}, () => {});
