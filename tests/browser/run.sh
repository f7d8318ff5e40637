#!/usr/bin/env bash
# The browser tests: the demo page (web/index.html) in headless Chromium
# against the native library (tests/browser/test.mjs says what is checked).
# Builds what is missing (the native build's varia and varia_dump; the
# WebAssembly module with tools/build-wasm.sh), installs playwright-core with
# `npm ci` when tests/browser/node_modules is absent (no browser is downloaded:
# Debian's chromium is driven), serves the repository with
# tools/serve-demo.sh on a free port, runs the test, stops the server.
# Prints TAP lines and "# passed P failed F"; screenshots in build/screenshots/.
# Usage: tests/browser/run.sh   (CHROMIUM=/path/to/chromium to use another)
set -uo pipefail
cd "$(dirname "$0")/../.."
# fail MESSAGE: a TAP failure and the summary line tools/run-tests.sh reads.
fail() { echo "not ok 1 - $1"; echo "# passed 0 failed 1"; exit 1; }

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROMIUM" ] && [ -x "$CHROMIUM" ] || fail "no chromium (apt-get install chromium)"
command -v node >/dev/null && command -v npm >/dev/null || fail "no node or npm (apt-get install nodejs npm)"
mkdir -p build
{ [ -f build/build.ninja ] || meson setup build >/dev/null; } && ninja -C build varia tests/varia_dump >/dev/null ||
  fail "the native build (meson setup build && ninja -C build)"
if [ ! -f web/lib/varia_wasm.mjs ] || [ ! -f web/lib/varia_wasm.wasm ]; then
  tools/build-wasm.sh > build/browser-wasm-build.log 2>&1 || fail "tools/build-wasm.sh (see build/browser-wasm-build.log)"
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || fail "npm ci in tests/browser"
fi
[ -x tools/serve-demo.sh ] || fail "no tools/serve-demo.sh"

port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
tools/serve-demo.sh --no-build --port "$port" > build/browser-server.log 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null' EXIT
rm -rf build/screenshots
node tests/browser/test.mjs --url "http://127.0.0.1:$port/" --build build --shots build/screenshots --chromium "$CHROMIUM"
