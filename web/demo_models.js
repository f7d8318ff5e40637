// Where the demo's models come from: the list in web/models.json, each
// model's manifest and the weights file it names, fetched as bytes over HTTP
// (relative to this page), and what the manifest says about its data that
// varia.js's m.info does not carry (binary or continuous pixels).

/** The list of shipped models: [{name, path, family, about}] from models.json (throws on a failed fetch). */
export async function fetchModelList(url = new URL('./models.json', import.meta.url)) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
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
  if (!res.ok) throw new Error(`${manifestUrl.pathname}: HTTP ${res.status}`);
  const manifestText = await res.text();
  const file = weightsFileOf(manifestText);
  if (!file) throw new Error(`${manifestUrl.pathname}: no weights.file in the manifest`);
  const wurl = new URL(file, manifestUrl);
  const wres = await fetch(wurl);
  if (!wres.ok) throw new Error(`${wurl.pathname}: HTTP ${wres.status}`);
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
