#!/bin/bash
# DRAW, VRNN and GAN/AIS: varia against the strongest PyTorch CPU forms found
# (bench/bench_families.py), same weights, data, settings and threads, the two
# interleaved in ABBA order (issues 15, 16, 17). See bench/README.md, "DRAW, VRNN, GAN".
#
#   bench/families.sh [--threads "1 2"] [--rounds R] [--calls C] [--draw-n N] [--draw-k K]
#                     [--vrnn-n N] [--vrnn-k K] [--seq-n S] [--seq-len L] [--ais-n N]
#                     [--chains C] [--steps T] [--leapfrog L] [--sigma2 S] [--repeats R]
#                     [--draw MODEL.json] [--gan MODEL.json] [--vrnn MODEL.json] [--tasks "T1 T2 ..."]
#
# Models: DRAW: --draw, else models/draw-attn-mnist/model.json, else
# runs/draw-attn-mnist/validation/model.json (here or in ../main), copied into
# build/bench-families/draw/; else a random-weight DRAW of that train.json.
# VRNN: models/vrnn-jsb/model.json on ../shared/data/music/jsb_chorales_test.npz.
# GAN: --gan, else a random-weight generator of models/gan10-mnist/train.json's
# shape (speed does not depend on the weights). --tasks: a subset of
# draw-sample draw-iw vrnn-iw vrnn-sample ais gan-sample (default: all). Prints a markdown table and writes
# it to build/bench-families.md (raw outputs in build/bench-families/raw/). Exits 1
# if varia's E[x|z] of fixed latents differs from the reference's by more than
# 1e-4, or a log-likelihood estimate disagrees beyond Monte Carlo error.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
COMMAND="bench/families.sh${*:+ $*}"

usage() { # print the header comment and exit 2
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

THREAD_LIST="1 2" ROUNDS=4 CALLS=500 REPEATS=3
DRAW_N=20 DRAW_K=100 VRNN_N=77 VRNN_K=100 SEQ_N=10 SEQ_LEN=1000
AIS_N=10 CHAINS=16 STEPS=200 LEAPFROG=10 SIGMA2=0.025
DRAW= GAN= VRNN=models/vrnn-jsb/model.json
TASKS="draw-sample draw-iw vrnn-iw vrnn-sample ais gan-sample"
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) THREAD_LIST=${2:?}; shift ;;
        --rounds) ROUNDS=${2:?}; shift ;;
        --calls) CALLS=${2:?}; shift ;;
        --repeats) REPEATS=${2:?}; shift ;;
        --draw-n) DRAW_N=${2:?}; shift ;;
        --draw-k) DRAW_K=${2:?}; shift ;;
        --vrnn-n) VRNN_N=${2:?}; shift ;;
        --vrnn-k) VRNN_K=${2:?}; shift ;;
        --seq-n) SEQ_N=${2:?}; shift ;;
        --seq-len) SEQ_LEN=${2:?}; shift ;;
        --ais-n) AIS_N=${2:?}; shift ;;
        --chains) CHAINS=${2:?}; shift ;;
        --steps) STEPS=${2:?}; shift ;;
        --leapfrog) LEAPFROG=${2:?}; shift ;;
        --sigma2) SIGMA2=${2:?}; shift ;;
        --draw) DRAW=${2:?}; shift ;;
        --gan) GAN=${2:?}; shift ;;
        --vrnn) VRNN=${2:?}; shift ;;
        --tasks) TASKS=${2:?}; shift ;;
        -h|--help) usage ;;
        *) echo "families.sh: unknown argument '$1'" >&2; usage ;;
    esac
    shift
done
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
OUT=build/bench-families
RAW=$OUT/raw
SHARED=../shared/data
DRAW_DATA=$SHARED/binarized_mnist/binarized_mnist_test.amat.gz
VRNN_DATA=$SHARED/music/jsb_chorales_test.npz
AIS_DATA=$SHARED/mnist/t10k-images-idx3-ubyte.gz

bench/install-torch.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >&2
ninja -C build >&2

torch_env() { # T CMD...: PyTorch's environment for T threads
    env OPENBLAS_CORETYPE=Cooperlake OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS="$1" OMP_NUM_THREADS="$1" "${@:2}"
}
PYB() { torch_env 1 "$PY" bench/bench_families.py "$@"; }

# ---- models
mkdir -p "$OUT"
DRAW_NOTE="trained"
if [ -z "$DRAW" ]; then
    for c in models/draw-attn-mnist/model.json runs/draw-attn-mnist/validation/model.json \
             ../main/runs/draw-attn-mnist/validation/model.json; do
        [ -f "$c" ] && { DRAW=$c; break; }
    done
fi
rm -rf "$OUT/draw"
if [ -n "$DRAW" ]; then
    mkdir -p "$OUT/draw"
    W=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["weights"]["file"])' "$DRAW")
    cp "$DRAW" "$OUT/draw/model.json"
    cp "$(dirname "$DRAW")/$W" "$OUT/draw/"
    DRAW_NOTE="$DRAW (copied)"
else
    PYB make-draw "$OUT/draw" >&2
    DRAW_NOTE="random weights (bench_families.py make-draw): speed only"
fi
DRAW=$OUT/draw/model.json
if [ -z "$GAN" ]; then
    GAN=$OUT/gan/model.json
    [ -f "$GAN" ] || PYB make-gan "$OUT/gan" >&2
    GAN_NOTE="random weights of models/gan10-mnist's shape (10-64-256-256-1024-784, batch norms folded): speed only"
else
    GAN_NOTE="$GAN"
fi

rm -rf "$RAW"
mkdir -p "$RAW"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")

# ---- deterministic check: E[x|z] of fixed latents, varia against the reference in float64
CHECK=0
for m in "$DRAW" tests/golden/draw_full/model.json tests/golden/draw_attn/model.json \
         tests/golden/draw_attn_n1/model.json "$VRNN" tests/golden/vrnn_gru/model.json \
         tests/golden/vrnn_lstm/model.json "$GAN" tests/golden/gan_mlp/model.json; do
    name=$(basename "$(dirname "$m")")
    PYB latents "$m" "$RAW/z-$name.f32" --n 4 --seq-len 40
    build/bench/bench_families decode "$m" "$RAW/z-$name.f32" "$RAW/x-$name.f32" --n 4 --seq-len 40 > /dev/null
    if PYB check-decode "$m" "$RAW/z-$name.f32" "$RAW/x-$name.f32" --n 4 --seq-len 40 > "$RAW/decode-$name.txt"; then
        echo "$m $(cut -d' ' -f3 "$RAW/decode-$name.txt")" >> "$RAW/decode.txt"
    else
        echo "$m FAILED" >> "$RAW/decode.txt"
        CHECK=1
    fi
done

# ---- timing: per thread count, R rounds in ABBA order of each side's whole set
run() { # SIDE TASK T R: one program run of one task
    local side=$1 task=$2 t=$3 r=$4 model data=() opts=(--threads "$3" --repeats "$REPEATS")
    case $task in
        draw-sample) model=$DRAW; opts+=(--calls "$CALLS") ;;
        draw-iw) model=$DRAW; data=("$DRAW_DATA"); opts+=(--n "$DRAW_N" --k "$DRAW_K") ;;
        vrnn-iw) model=$VRNN; data=("$VRNN_DATA"); opts+=(--n "$VRNN_N" --k "$VRNN_K") ;;
        vrnn-sample) model=$VRNN; opts+=(--seq-n "$SEQ_N" --seq-len "$SEQ_LEN") ;;
        ais) model=$GAN; data=("$AIS_DATA")
             opts+=(--n "$AIS_N" --chains "$CHAINS" --steps "$STEPS" --leapfrog "$LEAPFROG" --sigma2 "$SIGMA2") ;;
        gan-sample) model=$GAN ;;
    esac
    local out=$RAW/$side-$task-t$t-r$r.txt
    if [ "$side" = varia ]; then
        build/bench/bench_families "$task" "$model" "${data[@]}" "${opts[@]}" > "$out" 2>> "$RAW/stderr.txt" || true
    else
        torch_env "$t" "$PY" bench/bench_families.py "$task" "$model" "${data[@]}" "${opts[@]}" > "$out" \
            2>> "$RAW/stderr.txt" || true
    fi
}
for t in $THREAD_LIST; do
    for r in $(seq "$ROUNDS"); do
        order="varia torch"; [ $((r % 2)) = 0 ] && order="torch varia"
        for side in $order; do
            echo "families.sh: $t thread(s), round $r, $side" >&2
            for task in $TASKS; do
                run "$side" "$task" "$t" "$r"
            done
        done
    done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)

REPORT=0
{
    echo "# DRAW, VRNN, GAN/AIS: varia against PyTorch"
    echo
    echo "\`$COMMAND\` at $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M UTC');"
    echo "${CPU:-unknown CPU}, $(nproc) logical CPUs, load average $LOAD_START at the start, $LOAD_END at the end."
    echo
    echo "- DRAW: $DRAW_NOTE; IW: the first $DRAW_N images of $DRAW_DATA, k = $DRAW_K; sampling: $CALLS calls."
    echo "- VRNN: $VRNN; IW: the first $VRNN_N sequences of $VRNN_DATA, k = $VRNN_K; sampling: $SEQ_N sequences of $SEQ_LEN frames."
    echo "- GAN: $GAN_NOTE; AIS: the first $AIS_N images of $AIS_DATA, $CHAINS chains, $STEPS steps, $LEAPFROG leapfrog, sigma2 $SIGMA2; sampling: batches of 1000."
    echo "- Each figure: the median over $ROUNDS ABBA rounds of each side's median over $REPEATS repeats (latency: of $CALLS calls);"
    echo "  [range] of the rounds' ratios. Ratio > 1: varia is faster (latency: PyTorch's time / varia's)."
    echo "  CPU: the same from each process's CPU time (the wall clock also counts other processes' time on this shared machine)."
    echo
    torch_env 1 "$PY" bench/bench_families.py report "$RAW" --thread-list "$THREAD_LIST" --rounds "$ROUNDS" --tasks "$TASKS" || REPORT=1
    echo
    echo "Deterministic check, max |varia - reference (float64)| of E[x|z] for 4 fixed latents (VRNN: 40 frames; limit 1e-4):"
    echo
    sed 's/^/    /' "$RAW/decode.txt"
} | tee build/bench-families.md
echo "families.sh: wrote build/bench-families.md" >&2
[ "$CHECK" = 0 ] && [ "$REPORT" = 0 ]
