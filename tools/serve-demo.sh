#!/usr/bin/env bash
# Serve the browser demo (web/index.html) from a fresh clone, in one command:
#   1. installs Node (Debian's nodejs) when missing, as root;
#   2. builds the WebAssembly module with tools/build-wasm.sh when
#      web/lib/varia_wasm.mjs or .wasm is missing (that script installs
#      emscripten itself; about a minute);
#   3. serves the repository root with tools/serve_static.mjs on 127.0.0.1 and
#      prints the page's URL. Ctrl-C stops it.
# Usage: tools/serve-demo.sh [--port P] [--host H] [--no-build] [--coop-coep]
#   --port P     the port (default 8000)
#   --host H     the address to listen on (default 127.0.0.1: this machine only)
#   --no-build   do not build the module, even when missing (the page then says so)
#   --coop-coep  send cross-origin isolation headers (not needed by the demo)
set -euo pipefail
cd "$(dirname "$0")/.."

port=8000 host=127.0.0.1 build=1 extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=${2:?--port needs a number}; shift 2 ;;
    --host) host=${2:?--host needs an address}; shift 2 ;;
    --no-build) build=0; shift ;;
    --coop-coep) extra+=(--coop-coep); shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "serve-demo: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

if ! command -v node >/dev/null; then
  echo "serve-demo: installing nodejs"
  apt-get install -y -q nodejs >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q nodejs >/dev/null; }
fi

if [ "$build" = 1 ] && { [ ! -f web/lib/varia_wasm.mjs ] || [ ! -f web/lib/varia_wasm.wasm ]; }; then
  echo "serve-demo: building the WebAssembly module (tools/build-wasm.sh, about a minute)"
  tools/build-wasm.sh
fi
[ -f web/lib/varia_wasm.wasm ] || echo "serve-demo: warning: web/lib/varia_wasm.wasm is missing (run tools/build-wasm.sh)" >&2

echo "serve-demo: open http://$host:$port/web/"
exec node tools/serve_static.mjs --port "$port" --host "$host" "${extra[@]}"
