#!/usr/bin/env bash
# Build varia and run its test suite: optimized, the MPI build when Open MPI
# is installed, the WebAssembly module when emscripten is, the demo page in
# headless Chromium when chromium and Node are, under ASan+UBSan, the threaded
# tests under ThreadSanitizer, under valgrind memcheck (zero errors and zero
# leaks required), then each libFuzzer harness (a fixed campaign of about a
# minute each; VARIA_FUZZ_SECONDS=N for N seconds from a random seed instead).
# Ends with the line "N passed, N failed in T" (checks inside the test programs,
# and the wall time of the whole run, build included); each pass reports its own
# count and time. The closing count adds the fuzz harnesses (one check each).
# Usage: tools/run-tests.sh [--quick]   (--quick: the optimized, MPI, wasm and browser stages only)
set -uo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh || exit 1
command -v valgrind >/dev/null || [ "${1:-}" = "--quick" ] || \
  { echo "valgrind is missing: apt-get install valgrind"; exit 1; }

passed=0; failed=0; status=0
start=$SECONDS
# elapsed SECONDS: "1 min 05 s" or "42 s".
elapsed() { local t=$1; if [ "$t" -ge 60 ]; then printf '%d min %02d s' $((t / 60)) $((t % 60)); else printf '%d s' "$t"; fi; }
# run NAME BUILD_DIR [meson test args...]: one pass of the suite.
run() {
  local name=$1 dir=$2 t0=$SECONDS; shift 2
  echo "== $name"
  if ! meson test -C "$dir" --print-errorlogs "$@" > "$dir/run.log" 2>&1; then
    status=1
    grep -E "^ *[0-9]+/[0-9]+ " "$dir/run.log" | grep -v " OK " || true
  fi
  grep -E "^ *[0-9]+/[0-9]+ " "$dir/run.log" | sed 's/^/  /'
  local p f
  p=$(grep -hE '^# passed [0-9]+ failed [0-9]+' "$dir/meson-logs/testlog.txt" | awk '{s+=$3} END {print s+0}')
  f=$(grep -hE '^# passed [0-9]+ failed [0-9]+' "$dir/meson-logs/testlog.txt" | awk '{s+=$5} END {print s+0}')
  # a program that died before its summary line still counts as a failure
  local dead; dead=$(grep -cE "^ *[0-9]+/[0-9]+ .*(FAIL|TIMEOUT|ERROR)" "$dir/run.log" || true)
  [ "$f" -eq 0 ] && [ "$dead" -gt 0 ] && f=$dead
  passed=$((passed + p)); failed=$((failed + f))
  echo "  $p passed, $f failed in $(elapsed $((SECONDS - t0)))"
}

setup() { # setup DIR [meson options...]
  local dir=$1; shift
  [ -d "$dir" ] || meson setup "$dir" "$@" >/dev/null || exit 1
  ninja -C "$dir" >/dev/null || { ninja -C "$dir"; exit 1; }
}

setup build
run "optimized build" build
# The optional MPI build (meson -Dmpi=enabled) when Open MPI is installed
# (libopenmpi-dev, openmpi-bin; .ci/run installs them): only the varia
# command differs from the optimized build, so only it is built, and only
# tests/test_mpi.sh runs there.
if command -v mpirun >/dev/null && pkg-config --exists ompi-c; then
  { [ -d build-mpi ] || meson setup build-mpi -Dmpi=enabled >/dev/null; } && ninja -C build-mpi varia >/dev/null || \
    { ninja -C build-mpi varia; exit 1; }
  run "MPI: mpirun -n 1/2/3 against one process" build-mpi --no-rebuild mpi
else
  echo "== MPI: not installed (apt-get install libopenmpi-dev openmpi-bin), skipped"
fi
# The optional WebAssembly stage when emscripten is installed (apt-get install
# emscripten; tools/build-wasm.sh): build the module, then compare it in Node
# with the native library (tests/web/test_wasm_node.mjs, tolerance 1e-5).
if command -v emcc >/dev/null && command -v node >/dev/null; then
  t0=$SECONDS
  echo "== wasm: the WebAssembly module in Node against native"
  rm -f build/wasm.log
  if tools/build-wasm.sh > build/wasm-build.log 2>&1; then
    node tests/web/test_wasm_node.mjs build/tests/varia_dump > build/wasm.log 2>&1 || status=1
  else
    status=1; cat build/wasm-build.log
  fi
  grep -E "^not ok|^# " build/wasm.log 2>/dev/null | sed 's/^/  /'
  read -r wp wf < <(grep -hE '^# passed [0-9]+ failed [0-9]+' build/wasm.log 2>/dev/null | awk '{print $3, $5; f=1} END {if (!f) print 0, 1}')
  passed=$((passed + wp)); failed=$((failed + wf))
  echo "  $wp passed, $wf failed in $(elapsed $((SECONDS - t0)))"
else
  echo "== wasm: emscripten not installed (apt-get install emscripten), skipped"
fi
# The optional browser stage when Chromium, Node and npm are there (apt-get
# install chromium; .ci/run installs it) and the module can be built: the demo
# page (web/index.html) in headless Chromium against the native command
# (tests/browser/run.sh: npm ci of playwright-core when missing, then about a
# minute; screenshots in build/screenshots/).
if command -v chromium >/dev/null && command -v node >/dev/null && command -v npm >/dev/null && \
   { command -v emcc >/dev/null || [ -f web/lib/varia_wasm.wasm ]; }; then
  t0=$SECONDS
  echo "== browser: the demo page in headless Chromium against native"
  tests/browser/run.sh > build/browser.log 2>&1 || status=1
  grep -E "^not ok|^# (max|passed)" build/browser.log | sed 's/^/  /'
  read -r bp bf < <(grep -hE '^# passed [0-9]+ failed [0-9]+' build/browser.log | awk '{print $3, $5; f=1} END {if (!f) print 0, 1}')
  passed=$((passed + bp)); failed=$((failed + bf))
  echo "  $bp passed, $bf failed in $(elapsed $((SECONDS - t0)))"
else
  echo "== browser: chromium, node or npm missing (apt-get install chromium nodejs npm), skipped"
fi
if [ "${1:-}" != "--quick" ]; then
  setup build-asan -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:max_allocation_size_mb=1024 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    run "ASan + UBSan" build-asan
  setup build-tsan -Dbuildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 run "ThreadSanitizer" build-tsan concurrency eval train \
    bern-draw
  # VARIA_TEST_LIGHT: the AIS known-answer tests anneal over fewer steps with
  # tolerances to match (valgrind is here for memory errors; the statistics
  # run in full in the passes above)
  VARIA_TEST_LIGHT=1 run "valgrind memcheck" build --wrapper "valgrind -q --error-exitcode=99 --leak-check=full \
--errors-for-leak-kinds=definite,indirect,possible --show-leak-kinds=definite,indirect,possible" \
    --timeout-multiplier 20 --no-suite slow
  # Fuzzing: every harness replays its corpus, then runs the fixed campaign
  # (seed 1, set run counts, so the verdict depends little on luck);
  # VARIA_FUZZ_SECONDS=N fuzzes N s per harness from a random seed instead.
  t0=$SECONDS
  echo "== libFuzzer (${VARIA_FUZZ_SECONDS:+$VARIA_FUZZ_SECONDS s per harness, random seed}${VARIA_FUZZ_SECONDS:-fixed campaign, seed 1})"
  tools/fuzz.sh ${VARIA_FUZZ_SECONDS:-"--ci"} > build/fuzz.log 2>&1 || status=1
  grep -E "^fuzz_" build/fuzz.log | sed 's/^/  /'
  read -r fp ff < <(tail -n 1 build/fuzz.log | awk '/passed, .* failed/ {print $1, $3; found=1} END {if (!found) print 0, 1}')
  passed=$((passed + fp)); failed=$((failed + ff))
  echo "  $fp passed, $ff failed in $(elapsed $((SECONDS - t0)))"
fi
echo "total time $(elapsed $((SECONDS - start))) on $(nproc) cores, at $(git rev-parse --short HEAD 2>/dev/null || echo "no git")"
echo "$passed passed, $failed failed" # the last line, plain: CI reads it
exit $status
