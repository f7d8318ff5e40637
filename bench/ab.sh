#!/bin/bash
# Two builds of varia against each other on the same model, data and threads,
# their runs interleaved (A B A B ...) so that the machine's drift hits both:
# in ABBA order, IW k = 5000, one decode, one encode, batched sampling. Prints each figure's
# median over the rounds for A and B and the ratio B / A (above 1: B faster).
#
#   bench/ab.sh BUILD_A BUILD_B [--rounds R] [--threads T] [--n N] [--calls C]
#               [--model MODEL.json] [--data DATA]
#
# BUILD_A, BUILD_B: meson build folders with bench/bench_varia built (e.g. a
# worktree of the old commit's build/ and this one's).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
A=$1 B=$2
shift 2
ROUNDS=7 THREADS=2 N=20 CALLS=20000
MODEL=$ROOT/models/vae-mnist/model.json DATA=$ROOT/models/vae-mnist/heldout.amat.gz
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS=${2:?}; shift ;;
        --threads) THREADS=${2:?}; shift ;;
        --n) N=${2:?}; shift ;;
        --calls) CALLS=${2:?}; shift ;;
        --model) MODEL=${2:?}; shift ;;
        --data) DATA=${2:?}; shift ;;
        *) echo "ab.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for r in $(seq "$ROUNDS"); do
    order="A B"; [ $((r % 2)) = 0 ] && order="B A" # ABBA: neither always goes first
    for side in $order; do
        dir=$A; [ $side = B ] && dir=$B
        "$dir/bench/bench_varia" "$MODEL" "$DATA" --threads "$THREADS" --n "$N" --repeats 1 --calls "$CALLS" \
            2>/dev/null | grep '^RESULT' >> "$OUT/$side"
    done
done
# median KEY SIDE: the median over the rounds of RESULT KEY
median() { grep "^RESULT $1 " "$OUT/$2" | awk '{print $3}' | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
printf "%-28s %14s %14s %10s\n" "figure (median of $ROUNDS)" "A" "B" "B vs A"
for key in iw_images_per_s decode_us encode_us sample_per_s; do
    a=$(median $key A) b=$(median $key B)
    case $key in *_us) ratio=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", a / b}') ;;
                 *) ratio=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", b / a}') ;; esac
    printf "%-28s %14s %14s %10s\n" "$key" "$a" "$b" "$ratio"
done
echo "NLL A $(median iw_nll_mean A), B $(median iw_nll_mean B) (n $N, k 5000, threads $THREADS)"
