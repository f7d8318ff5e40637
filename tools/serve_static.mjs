#!/usr/bin/env node
// A tiny static file server for the browser demo (web/index.html), Node only,
// no npm packages: ES modules must come over HTTP (browsers refuse them from
// file://) with a JavaScript MIME type, and the .wasm as application/wasm so it
// compiles while it downloads. Serves the repository root (or --root DIR), never
// anything outside it, GET and HEAD only, on 127.0.0.1 unless --host says.
//
// Usage: node tools/serve_static.mjs [--port 8000] [--host 127.0.0.1]
//                                    [--root DIR] [--coop-coep] [--log]
//   --coop-coep  also send Cross-Origin-Opener-Policy / -Embedder-Policy
//                (cross-origin isolation; the threadless module does not need it)
//   --log        print one line per request
// Prints "serving ROOT at http://HOST:PORT/" once listening.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.md': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.safetensors': 'application/octet-stream',
  '.bin': 'application/octet-stream',
};

// The options from argv (--port P --host H --root DIR --coop-coep --log); exits on a bad one.
function parseArgs(argv) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const o = { port: 8000, host: '127.0.0.1', root: path.resolve(here, '..'), coopCoep: false, log: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port') o.port = Number(argv[++i]);
    else if (a === '--host') o.host = argv[++i];
    else if (a === '--root') o.root = path.resolve(argv[++i]);
    else if (a === '--coop-coep') o.coopCoep = true;
    else if (a === '--log') o.log = true;
    else {
      console.error(`serve_static: unknown argument '${a}'`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) {
    console.error('serve_static: --port must be an integer in [0, 65535]');
    process.exit(2);
  }
  return o;
}

// The file a URL path names under root, or null when it would leave root
// (after decoding %2e%2e and resolving symlinks: a link out of the tree is refused too).
function resolveInside(root, urlPath) {
  let rel;
  try {
    rel = decodeURIComponent(urlPath.split('?')[0].split('#')[0]);
  } catch {
    return null;
  }
  // A '..' segment is refused outright rather than clamped to the root.
  if (rel.includes('\0') || rel.split(/[\/\\]/).includes('..')) return null;
  const full = path.resolve(root, '.' + path.posix.normalize('/' + rel));
  if (full !== root && !full.startsWith(root + path.sep)) return null;
  let real;
  try {
    real = fs.realpathSync(full);
  } catch {
    return full; // does not exist: the caller answers 404
  }
  return real === root || real.startsWith(root + path.sep) ? real : null;
}

// Answer one request: the file, index.html for a directory, 403 outside root, 404, 405.
function handle(opts, req, res) {
  const headers = { 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' };
  if (opts.coopCoep) {
    headers['Cross-Origin-Opener-Policy'] = 'same-origin';
    headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
  }
  const reply = (code, text) => {
    res.writeHead(code, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(req.method === 'HEAD' ? undefined : text + '\n');
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'method not allowed');
  let file = resolveInside(opts.root, req.url);
  if (!file) return reply(403, 'forbidden: outside the served root');
  let st;
  try {
    st = fs.statSync(file);
    if (st.isDirectory()) {
      if (!req.url.split('?')[0].endsWith('/')) {
        // web -> web/ so the page's relative URLs resolve under it
        res.writeHead(301, { ...headers, Location: req.url.split('?')[0] + '/' });
        return res.end();
      }
      file = path.join(file, 'index.html');
      st = fs.statSync(file);
    }
  } catch {
    return reply(404, 'not found');
  }
  if (!st.isFile()) return reply(404, 'not found');
  const type = TYPES[path.extname(file).toLowerCase()] || 'application/octet-stream';
  res.writeHead(200, { ...headers, 'Content-Type': type, 'Content-Length': st.size });
  if (req.method === 'HEAD') return res.end();
  fs.createReadStream(file).on('error', () => res.destroy()).pipe(res);
}

const opts = parseArgs(process.argv.slice(2));
opts.root = fs.realpathSync(opts.root);
const server = http.createServer((req, res) => {
  handle(opts, req, res);
  if (opts.log) res.on('finish', () => console.log(`${res.statusCode} ${req.method} ${req.url}`));
});
server.on('error', (e) => {
  console.error(`serve_static: ${e.message}`);
  process.exit(1);
});
server.listen(opts.port, opts.host, () => {
  const { port } = server.address();
  console.log(`serving ${opts.root} at http://${opts.host}:${port}/`);
});
