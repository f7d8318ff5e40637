// Where the demo's models come from: the list in web/models.json, each
// model's manifest and the weights file it names, fetched as bytes over HTTP
// (relative to this page), and what the manifest says about its data that
// varia.js's m.info does not carry (binary or continuous pixels). Also the
// demo's own errors, as VariaErrors so every failure has a status name.

import { VariaError } from './lib/varia.js';

// The statuses the demo itself raises (include/varia.h's numbers and names).
const DEMO_STATUS = { 2: 'VARIA_ERR_ARG', 3: 'VARIA_ERR_IO', 21: 'VARIA_ERR_UNSUPPORTED' };

/**
 * A VariaError raised by the page rather than the runtime: code 2 (ARG) for a
 * bad request, 3 (IO) for a file that did not come, 21 (UNSUPPORTED) for an
 * operation the model's family does not have.
 */
export function demoError(code, message) {
  return new VariaError(code, DEMO_STATUS[code], message);
}

/** The list of shipped models: [{name, path, family, about}] from models.json (throws on a failed fetch). */
export async function fetchModelList(url = new URL('./models.json', import.meta.url)) {
  const res = await fetch(url);
  if (!res.ok) throw demoError(3, `${url}: HTTP ${res.status}`);
  return (await res.json()).models;
}

/**
 * A shipped model's two files: the manifest's text and the bytes of the
 * weights file its `weights.file` names, beside it.
 * `path` is relative to web/ (as in models.json).
 * @returns {Promise<{manifestText: string, weights: Uint8Array}>}
 */
export async function fetchModelFiles(path) {
  const manifestUrl = new URL(path, new URL('./', import.meta.url));
  const res = await fetch(manifestUrl);
  if (!res.ok) throw demoError(3, `${manifestUrl.pathname}: HTTP ${res.status}`);
  const manifestText = await res.text();
  const file = weightsFileOf(manifestText);
  if (!file) throw demoError(3, `${manifestUrl.pathname}: no weights.file in the manifest`);
  const wurl = new URL(file, manifestUrl);
  const wres = await fetch(wurl);
  if (!wres.ok) throw demoError(3, `${wurl.pathname}: HTTP ${wres.status}`);
  return { manifestText, weights: new Uint8Array(await wres.arrayBuffer()) };
}

/** The manifest's weights.file, or null when the text is not JSON or has none. */
function weightsFileOf(manifestText) {
  try {
    const f = JSON.parse(manifestText).weights?.file;
    return typeof f === 'string' ? f : null;
  } catch {
    return null; // varia.loadModel will name the JSON error
  }
}

/**
 * How to binarize a drawing before scoring it with m.eval: 'threshold' for a
 * model of binary pixels (data.kind "binary", or a Bernoulli likelihood) —
 * a drawing's soft edges are not 0/1, and dynamic binarization would make the
 * score random — else 'none' (continuous pixels are scored as they are).
 */
export function binarizeFor(manifestText) {
  try {
    const m = JSON.parse(manifestText);
    const lik = m.architecture?.likelihood?.type;
    return m.data?.kind === 'binary' || lik === 'bernoulli' ? 'threshold' : 'none';
  } catch {
    return 'none';
  }
}
