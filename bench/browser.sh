#!/usr/bin/env bash
# varia in the browser against varia native: decode latency (batch 1) and
# sampling throughput (batch 100) of a few shipped models, measured by
# web/bench.html in headless Chromium (Debian's chromium, driven by
# playwright-core from tests/browser/) and by build/bench/bench_web natively,
# one thread each; prints a table (model, op, browser ms, native ms, ratio).
# Method and figures: bench/README.md, "In the browser".
# Builds what is missing (native build, tools/build-wasm.sh, npm ci in
# tests/browser), serves the repository with tools/serve-demo.sh on a free port.
# Usage: bench/browser.sh [--models a,b,...] [--repeats R]
#   (also written: build/bench-browser.json, build/screenshots/bench.png)
set -euo pipefail
cd "$(dirname "$0")/.."
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROMIUM" ] || { echo "bench/browser.sh: no chromium (apt-get install chromium)" >&2; exit 1; }
{ [ -f build/build.ninja ] || meson setup build >/dev/null; } && ninja -C build bench/bench_web >/dev/null
[ -f web/lib/varia_wasm.wasm ] || tools/build-wasm.sh >/dev/null
[ -d tests/browser/node_modules/playwright-core ] ||
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
tools/serve-demo.sh --no-build --port "$port" > build/bench-server.log 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null' EXIT
for i in $(seq 50); do node -e "fetch('http://127.0.0.1:$port/web/bench.html').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))" && break; sleep 0.2; done
mkdir -p build/screenshots
node bench/browser.mjs --url "http://127.0.0.1:$port/" --build build --chromium "$CHROMIUM" \
  --json build/bench-browser.json --shot build/screenshots/bench.png "$@"
