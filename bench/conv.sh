#!/bin/bash
# Conv VAE: varia against the strongest PyTorch CPU form (bench/bench_conv.py), same
# weights, images, batch sizes and threads, the two interleaved in ABBA order:
# generation (batch 1000), batch-1 decode and encode, the IW estimate (k samples on N
# images) and training steps. See bench/README.md, "Conv VAE".
#
#   bench/conv.sh [--n N] [--k K] [--rounds R] [--threads "1 2"] [--steps S]
#                 [--calls C] [--standin-images M] [MODEL.json]
#
# Default model: models/vae-conv-mnist/model.json; while it is missing, a stand-in:
# one epoch of models/vae-conv-mnist/train.json over its first M training images
# (default 2400, the last 400 held out), in build/bench-conv/standin/. Training runs
# that config's architecture, batch and optimizer for S steps (default 200) on each
# side. Prints a markdown table and writes it to build/bench-conv.md (raw outputs in
# build/bench-conv/raw/). Exits 1 if PyTorch's L_k on varia's own noise differs from
# varia's by more than 2e-3 nats on any image.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
COMMAND="bench/conv.sh${*:+ $*}"

usage() { # print the header comment and exit 2
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

N=20 K=5000 ROUNDS=4 THREAD_LIST="1 2" STEPS=200 CALLS=2000 STANDIN=2400 MODEL=models/vae-conv-mnist/model.json
while [ $# -gt 0 ]; do
    case "$1" in
        --n) N=${2:?}; shift ;;
        --k) K=${2:?}; shift ;;
        --rounds) ROUNDS=${2:?}; shift ;;
        --threads) THREAD_LIST=${2:?}; shift ;;
        --steps) STEPS=${2:?}; shift ;;
        --calls) CALLS=${2:?}; shift ;;
        --standin-images) STANDIN=${2:?}; shift ;;
        -h|--help) usage ;;
        -*) echo "conv.sh: unknown argument '$1'" >&2; usage ;;
        *) MODEL=$1 ;;
    esac
    shift
done
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
OUT=build/bench-conv
RAW=$OUT/raw
CONFIG=models/vae-conv-mnist/train.json

bench/install-torch.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >&2
ninja -C build >&2

# derive SRC DST OUTPUT LIMIT EPOCHS: SRC's config with its output, an image limit
# (validation kept), a constant schedule of EPOCHS, no validation runs or checkpoints.
derive() {
    "$PY" - "$@" "$ROOT" <<'EOF'
import json, os, sys
src, dst, out, limit, epochs, root = sys.argv[1:]
c = json.load(open(src))
c["output"] = out
train = c["data"]["train"]
c["data"]["train"] = train if os.path.isabs(train) else os.path.normpath(os.path.join(root, train))
c["data"]["limit"] = int(limit)
c["schedule"] = {"kind": "constant", "epochs": int(epochs)}
c["validation"] = {"every": 0, "k": c.get("validation", {}).get("k", 100)}
c["checkpoint_every"] = 1000000
json.dump(c, open(dst, "w"), indent=1)
EOF
}

# ---- the model, or a stand-in trained for one epoch on the first STANDIN images
mkdir -p "$OUT"
if [ ! -f "$MODEL" ]; then
    S=$OUT/standin-$STANDIN
    if [ ! -f "$S/model.json" ]; then
        echo "conv.sh: $MODEL missing: training a stand-in (one epoch of $CONFIG on $STANDIN images)" >&2
        derive "$CONFIG" "$OUT/standin-$STANDIN.json" "$ROOT/$S" "$STANDIN" 1
        build/varia train "$OUT/standin-$STANDIN.json" --quiet >&2
    fi
    MODEL=$S/model.json
fi
BATCH=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["batch"])' "$CONFIG")
VALIDATION=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["validation"])' "$CONFIG")

rm -rf "$RAW"
mkdir -p "$RAW"
echo "$MODEL" > "$RAW/model.txt"
DATA=$OUT/mnist-test-$N.amat
[ -f "$DATA" ] || "$PY" bench/bench_flows.py data "$DATA" --n "$N" >&2

torch_env() { # T CMD...: PyTorch's environment for T threads
    env OPENBLAS_CORETYPE=Cooperlake OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS="$1" OMP_NUM_THREADS="$1" "${@:2}"
}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
torch_env 1 "$PY" bench/bench_conv.py backend > "$RAW/backend.txt"

# ---- agreement: PyTorch's L_k on varia's own noise (seed 1), untimed
AGREE=0
build/varia eval "$MODEL" --data "$DATA" --k "$K" --seed 1 --binarize none --per-example "$RAW/varia-agree.csv" \
    --threads 2 > "$RAW/varia-agree.json" 2>/dev/null
torch_env 1 "$PY" bench/bench_conv.py agree "$MODEL" "$DATA" "$RAW/varia-agree.csv" --n "$N" --k "$K" \
    > "$RAW/agree.txt" || AGREE=1

# ---- timing: per thread count, R rounds in ABBA order of each side's whole run
derive "$CONFIG" "$OUT/train-steps.json" "$ROOT/$OUT/train-out" $((STEPS * BATCH + VALIDATION)) 1
for t in $THREAD_LIST; do
    for r in $(seq "$ROUNDS"); do
        order="varia torch"; [ $((r % 2)) = 0 ] && order="torch varia"
        for side in $order; do
            echo "conv.sh: $t thread(s), round $r, $side" >&2
            if [ "$side" = varia ]; then
                build/bench/bench_varia "$MODEL" "$DATA" --threads "$t" --n "$N" --k "$K" --repeats 3 \
                    --calls "$CALLS" > "$RAW/varia-t$t-r$r.txt"
                rm -rf "$OUT/train-out"
                build/varia train "$OUT/train-steps.json" --threads "$t" --quiet > "$RAW/varia-train-t$t-r$r.json"
            else
                torch_env "$t" "$PY" bench/bench_conv.py run "$MODEL" "$DATA" --threads "$t" --n "$N" --k "$K" \
                    --repeats 3 --calls "$CALLS" > "$RAW/torch-t$t-r$r.txt"
                torch_env "$t" "$PY" bench/bench_conv.py train "$OUT/train-steps.json" --threads "$t" \
                    --steps "$STEPS" > "$RAW/torch-train-t$t-r$r.txt"
            fi
        done
    done
done
build/bench/bench_peak > "$RAW/peak.txt"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
MACHINE="${CPU:-unknown CPU}; $(nproc) logical CPUs; load average $LOAD_START at the start, $LOAD_END at the end"

"$PY" bench/bench_conv.py report "$RAW" --command "$COMMAND" --machine "$MACHINE" \
    --commit "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" --threads "$THREAD_LIST" \
    --rounds "$ROUNDS" --k "$K" --batch "$BATCH" | tee build/bench-conv.md
echo "conv.sh: wrote build/bench-conv.md" >&2
exit "$AGREE"
