// Prepended (emcc --extern-pre-js) to the Node build of the module,
// varia_wasm_node.mjs, only. Emscripten 3.1.6 writes its Node code for
// CommonJS: it calls require() and reads __dirname, which an ES module does
// not have, so Node 20 refuses the module ("not compiled for this
// environment"). These give the module both, from Node's own API.
import { createRequire } from 'module';
import { dirname } from 'path';
import { fileURLToPath } from 'url';
const require = createRequire(import.meta.url);
const __dirname = dirname(fileURLToPath(import.meta.url));
