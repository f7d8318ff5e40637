#!/bin/bash
# IW log-likelihood (k = 5000) of flow-posterior VAEs: varia against the strongest
# PyTorch form (bench/bench_flows.py), same weights, images and threads, the two
# interleaved in ABBA order. See bench/README.md, "Flow posteriors".
#
#   bench/flows.sh [--n N] [--k K] [--rounds R] [--threads "1 2"] [MODEL.json ...]
#
# Default models: models/vae-planar-mnist, models/vae-iaf-mnist and the diagonal
# baseline models/vae-mnist-dyn-short (model.json each); a missing one whose folder
# has train.json is replaced by a stand-in (one epoch of that config, in build/).
# Prints a markdown table and writes it to build/bench-flows.md (raw outputs in
# build/bench-flows/raw/). Exits 1 if PyTorch's L_k on varia's own noise differs
# from varia's by more than 2e-3 nats on any image.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
COMMAND="bench/flows.sh${*:+ $*}"

usage() { # print the header comment and exit 2
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

N=50 K=5000 ROUNDS=6 THREAD_LIST="1 2" MODELS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --n) N=${2:?}; shift ;;
        --k) K=${2:?}; shift ;;
        --rounds) ROUNDS=${2:?}; shift ;;
        --threads) THREAD_LIST=${2:?}; shift ;;
        -h|--help) usage ;;
        -*) echo "flows.sh: unknown argument '$1'" >&2; usage ;;
        *) MODELS+=("$1") ;;
    esac
    shift
done
[ ${#MODELS[@]} -gt 0 ] || MODELS=(models/vae-planar-mnist/model.json models/vae-iaf-mnist/model.json
                                   models/vae-mnist-dyn-short/model.json)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
OUT=build/bench-flows
RAW=$OUT/raw

bench/install-torch.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >&2
ninja -C build >&2

# ---- models: the given ones, or stand-ins trained for one epoch
# standin MODEL.json: prints the path of a loadable stand-in for a missing model
# whose folder holds train.json (one epoch of that config, output under build/).
standin() {
    local dir name cfg
    dir=$(dirname "$1") name=$(basename "$(dirname "$1")")
    [ -f "$dir/train.json" ] || { echo "flows.sh: $1 not found and no $dir/train.json" >&2; exit 1; }
    cfg=$OUT/standin/$name.json
    if [ ! -f "$OUT/standin/$name/checkpoint/model.json" ]; then
        mkdir -p "$OUT/standin"
        "$PY" - "$dir/train.json" "$cfg" "$ROOT/$OUT/standin/$name" "$ROOT" <<'EOF'
import json, os, sys
src, dst, out, root = sys.argv[1:]
c = json.load(open(src))
c["output"] = out
train = c["data"]["train"]
c["data"]["train"] = train if os.path.isabs(train) else os.path.normpath(os.path.join(root, train))
json.dump(c, open(dst, "w"), indent=1)
EOF
        echo "flows.sh: $1 missing: training a stand-in (one epoch of $dir/train.json)" >&2
        build/varia train "$cfg" --stop-after 1 --quiet >&2
    fi
    echo "$OUT/standin/$name/checkpoint/model.json"
}
rm -rf "$RAW"
mkdir -p "$RAW"
: > "$RAW/models.txt"
USED=()
for m in "${MODELS[@]}"; do
    if [ -f "$m" ]; then
        USED+=("$m"); printf '%s\t%s\t0\n' "$m" "$m" >> "$RAW/models.txt"
    else
        s=$(standin "$m"); USED+=("$s"); printf '%s\t%s\t1\n' "$m" "$s" >> "$RAW/models.txt"
    fi
done

# ---- data: the first N test images, binarized once, read as given by both sides
DATA=$OUT/mnist-test-$N.amat
[ -f "$DATA" ] || "$PY" bench/bench_flows.py data "$DATA" --n "$N" >&2

torch_env() { # T CMD...: PyTorch's environment for T threads
    env OPENBLAS_CORETYPE=Cooperlake OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS="$1" OMP_NUM_THREADS="$1" "${@:2}"
}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")

# ---- agreement: PyTorch's L_k on varia's own noise (seed 1), untimed
AGREE_FAIL=0
for i in "${!USED[@]}"; do
    m=${USED[$i]}
    build/varia eval "$m" --data "$DATA" --k "$K" --seed 1 --binarize none --per-example "$RAW/$i-varia-agree.csv" \
        --threads 2 > "$RAW/$i-varia-agree.json" 2>/dev/null
    torch_env 1 "$PY" bench/bench_flows.py agree "$m" "$DATA" "$RAW/$i-varia-agree.csv" --n "$N" --k "$K" \
        > "$RAW/$i-agree.txt" || AGREE_FAIL=1
done

# ---- timing: for each thread count and model, R rounds in ABBA order
for t in $THREAD_LIST; do
    for i in "${!USED[@]}"; do
        m=${USED[$i]}
        for r in $(seq "$ROUNDS"); do
            order="varia torch"; [ $((r % 2)) = 0 ] && order="torch varia"
            for side in $order; do
                echo "flows.sh: $m, $t thread(s), round $r, $side" >&2
                if [ "$side" = varia ]; then
                    build/bench/bench_varia "$m" "$DATA" --threads "$t" --n "$N" --k "$K" --repeats 1 \
                        --no-latency --no-sample > "$RAW/$i-varia-t$t-r$r.txt"
                else
                    torch_env "$t" "$PY" bench/bench_flows.py run "$m" "$DATA" --threads "$t" --n "$N" --k "$K" \
                        --repeats 1 > "$RAW/$i-torch-t$t-r$r.txt"
                fi
            done
        done
    done
done
build/bench/bench_peak > "$RAW/peak.txt"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
MACHINE="${CPU:-unknown CPU}; $(nproc) logical CPUs; load average $LOAD_START at the start, $LOAD_END at the end"

"$PY" bench/bench_flows.py report "$RAW" --command "$COMMAND" --machine "$MACHINE" \
    --commit "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" --threads "$THREAD_LIST" \
    --rounds "$ROUNDS" --data "$DATA" | tee build/bench-flows.md
echo "flows.sh: wrote build/bench-flows.md" >&2
exit "$AGREE_FAIL"
