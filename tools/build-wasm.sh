#!/usr/bin/env bash
# Build the WebAssembly module of the runtime (web/lib/) with Debian's
# emscripten, from a fresh Debian machine (as root, or with the packages
# already there):
#   1. installs emscripten and dpkg-dev when missing (apt-get);
#   2. fetches cJSON's source from Debian (apt-get source cjson, adding a
#      deb-src entry for this release when apt has none) into
#      build-wasm-deps/cjson/: Debian's libcjson-dev ships no source, and the
#      repository does not carry cJSON's;
#   3. meson setup build-wasm --cross-file cross/wasm32-emscripten.txt
#      (runtime only: no trainer, threads, dataset readers or MPI), ninja;
#   4. copies the module next to web/lib/varia.js: varia_wasm.mjs and
#      varia_wasm.wasm (browsers), varia_wasm_node.mjs (Node, .wasm embedded).
# Usage: tools/build-wasm.sh [--scalar]
#   --scalar: also build build-wasm-scalar (-Dwasm_simd=false: the portable
#   scalar kernels, for tests/web/bench_simd.mjs) and copy its Node module as
#   web/lib/varia_wasm_scalar_node.mjs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# emscripten's JavaScript optimizer imports acorn, which Debian installs there.
export NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}

need_pkgs=()
command -v emcc >/dev/null || need_pkgs+=(emscripten)
command -v dpkg-source >/dev/null || need_pkgs+=(dpkg-dev)
command -v meson >/dev/null || need_pkgs+=(meson)
command -v ninja >/dev/null || need_pkgs+=(ninja-build)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "build-wasm: installing ${need_pkgs[*]}"
  apt-get install -y -q "${need_pkgs[@]}" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "${need_pkgs[@]}" >/dev/null; }
fi

# cJSON's source, Debian's own (patches applied by dpkg-source), once.
CJSON=$ROOT/build-wasm-deps/cjson
if [ ! -f "$CJSON/cJSON.c" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  if ! (cd "$work" && apt-get source --download-only -q cjson >/dev/null 2>&1); then
    # No deb-src entry: add one for this release's main archive, then retry.
    . /etc/os-release
    echo "build-wasm: adding a deb-src entry for Debian $VERSION_CODENAME (cJSON's source)"
    cat > /etc/apt/sources.list.d/varia-deb-src.sources <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $VERSION_CODENAME
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt-get update -q >/dev/null
    (cd "$work" && apt-get source --download-only -q cjson >/dev/null 2>&1)
  fi
  (cd "$work" && dpkg-source -x ./cjson_*.dsc src >/dev/null)
  mkdir -p "$CJSON/cjson"
  cp "$work/src/cJSON.c" "$CJSON/"
  cp "$work/src/cJSON.h" "$CJSON/"        # cJSON.c includes "cJSON.h"
  cp "$work/src/cJSON.h" "$CJSON/cjson/"  # varia includes <cjson/cJSON.h>
  cp "$work/src/LICENSE" "$CJSON/"
fi

# setup DIR [meson options...]: configure once, then build.
build() {
  local dir=$1; shift
  [ -f "$dir/build.ninja" ] || meson setup "$dir" --cross-file cross/wasm32-emscripten.txt \
    -Dtrain=disabled -Dthreads=false -Ddatasets=false -Dmpi=disabled -Dcjson_src=build-wasm-deps/cjson \
    -Ddefault_library=static -Dbuildtype=release "$@" >/dev/null
  ninja -C "$dir" >/dev/null || { ninja -C "$dir"; exit 1; }
}
build build-wasm
cp build-wasm/web/lib/varia_wasm.mjs build-wasm/web/lib/varia_wasm.wasm build-wasm/web/lib/varia_wasm_node.mjs web/lib/
if [ "${1:-}" = "--scalar" ]; then
  build build-wasm-scalar -Dwasm_simd=false
  cp build-wasm-scalar/web/lib/varia_wasm_node.mjs web/lib/varia_wasm_scalar_node.mjs
fi
echo "build-wasm: web/lib/varia_wasm.mjs + .wasm ($(stat -c %s web/lib/varia_wasm.wasm) bytes), web/lib/varia_wasm_node.mjs"
