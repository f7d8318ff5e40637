#!/bin/bash
# One training epoch of varia against PyTorch: the same model, objective,
# optimizer, data and thread count, in one run. See bench/README.md.
#
#   bench/train_bench.sh [--quick] [--threads T]
#
# Four settings: VAE (ELBO, analytic KL, k = 1) and IWAE (k = 5), each at batch
# 20 and 100. Default: the full MNIST training set (60000 images, the last 400
# held out), T = 2; --quick: the first 10400 images. Prints a markdown table and
# writes it to build/bench-train.md (configs, outputs and logs in build/bench-train/).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
COMMAND="bench/train_bench.sh${*:+ $*}"

usage() {
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

QUICK=0 THREADS=2
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --threads) THREADS=${2:?}; shift ;;
        -h|--help) usage ;;
        *) echo "train_bench.sh: unknown argument '$1'" >&2; usage ;;
    esac
    shift
done
case "$THREADS" in ''|*[!0-9]*|0) echo "train_bench.sh: --threads needs a positive integer" >&2; exit 2 ;; esac
LIMIT=60000
[ "$QUICK" = 1 ] && LIMIT=10400
VALIDATION=400
DATA=../shared/data/mnist/train-images-idx3-ubyte.gz  # relative to the repository root, as in the configs
# varia runs at most one thread per shard; more shards than 2 only when asked
# for more threads, so that T threads are really used.
SHARDS=$(( THREADS > 2 ? THREADS : 2 ))

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

# ---- install what is missing: the build's packages, PyTorch and its BLAS
bench/install-torch.sh

# ---- build
[ -f build/build.ninja ] || meson setup build >&2
ninja -C build >&2
if ! build/varia train --help >/dev/null 2>&1; then
    echo "train_bench.sh: build/varia has no training module; meson configure build -Dtrain=enabled" >&2
    exit 1
fi
[ -f "$DATA" ] || { echo "train_bench.sh: $DATA not found" >&2; exit 1; }

OUT=build/bench-train
mkdir -p "$OUT"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

torch_env() { # T CMD...: what PyTorch needs on this machine for its optimized BLAS path
    env OPENBLAS_CORETYPE=Cooperlake OMP_WAIT_POLICY=PASSIVE \
        OPENBLAS_NUM_THREADS="$1" OMP_NUM_THREADS="$1" "${@:2}"
}

write_config() { # NAME OBJECTIVE_JSON BATCH: varia's config for one setting
    cat > "$OUT/$1.json" <<EOF
{
  "architecture": {"activation": "tanh", "posterior_scale": "log_var", "likelihood": {"type": "bernoulli"},
                   "layers": [{"latent": 50, "encoder": [200, 200], "decoder": [200, 200]}]},
  "data": {"train": "$DATA", "validation": $VALIDATION, "binarize": "dynamic", "limit": $LIMIT},
  "objective": $2,
  "optimizer": {"kind": "adam", "lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 0.0001},
  "schedule": {"kind": "constant", "epochs": 1},
  "batch": $3, "shards": $SHARDS, "seed": 1,
  "validation": {"every": 0, "k": 100},
  "checkpoint_every": 1000000,
  "output": "$OUT/out-$1"
}
EOF
}

# name | objective for varia | PyTorch's arguments | batch
SETTINGS=(
    'vae-b20|{"kind": "elbo", "k": 1, "kl": "analytic"}|--objective vae --k 1|20'
    'vae-b100|{"kind": "elbo", "k": 1, "kl": "analytic"}|--objective vae --k 1|100'
    'iwae5-b20|{"kind": "iwae", "k": 5}|--objective iwae --k 5|20'
    'iwae5-b100|{"kind": "iwae", "k": 5}|--objective iwae --k 5|100'
)

# Back to back per setting, so that a change in background load hits both.
for s in "${SETTINGS[@]}"; do
    IFS='|' read -r name objective torch_args batch <<< "$s"
    write_config "$name" "$objective" "$batch"
    rm -rf "$OUT/out-$name"  # a fresh run, never a leftover checkpoint
    echo "train_bench.sh: $name: varia" >&2
    # Not --quiet: with stderr not a terminal varia then prints only the
    # epoch's closing line, whose "obj" (the bound's epoch mean) is the
    # sanity check against PyTorch's loss.
    build/varia train "$OUT/$name.json" --threads "$THREADS" > "$OUT/varia-$name.json" 2> "$OUT/varia-$name.log"
    echo "train_bench.sh: $name: PyTorch" >&2
    # shellcheck disable=SC2086  # torch_args is a list of words
    torch_env "$THREADS" "$PY" bench/train_torch.py $torch_args --batch "$batch" --threads "$THREADS" \
        --limit "$LIMIT" --validation "$VALIDATION" --data "$DATA" > "$OUT/torch-$name.json"
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report
CPU=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -1)
"$PY" - "$OUT" "$COMMAND" "${CPU:-unknown CPU}" "$THREADS" "$LIMIT" "$VALIDATION" "$LOAD_START" "$LOAD_END" \
    "${SETTINGS[@]%%|*}" <<'EOF'
import datetime
import json
import os
import re
import sys

import torch

out, command, cpu, threads, limit, validation, load0, load1 = sys.argv[1:9]
names = sys.argv[9:]
n_train = int(limit) - int(validation)


def varia_bound(name):
    """The last "obj" varia printed: the epoch mean of the training bound."""
    found = re.findall(r"\bobj (\S+)", open(os.path.join(out, "varia-%s.log" % name)).read())
    return float(found[-1]) if found else float("nan")


lines = []
w = lines.append
w("# varia vs PyTorch: one training epoch")
w("")
w("- command: `%s` (%s UTC)" % (command, datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")))
w("- CPU: %s, %d logical CPUs; threads: %s for both; load average %s at the start, %s at the end"
  % (cpu, os.cpu_count() or 0, threads, load0, load1))
w("- data: the first %s MNIST training images, the last %s held out, one epoch over the other %d, "
  "dynamically binarized" % (limit, validation, n_train))
w("- model: 784-200-200-50 Bernoulli VAE, tanh; Adam (lr 1e-3, eps 1e-4); PyTorch %s (float32, autograd, "
  "OpenBLAS, OPENBLAS_CORETYPE=Cooperlake OMP_WAIT_POLICY=PASSIVE)" % torch.__version__)
w("")
w("| setting | varia ex/s | PyTorch ex/s | ratio (varia/PyTorch) | varia bound | PyTorch bound |")
w("|---|---:|---:|---:|---:|---:|")
for name in names:
    v = json.load(open(os.path.join(out, "varia-%s.json" % name)))
    p = json.load(open(os.path.join(out, "torch-%s.json" % name)))
    vr, pr = v["examples_per_s"], p["examples_per_s"]
    w("| %s | %.0f | %.0f | %.2f | %.2f | %.2f |"
      % (name, vr, pr, vr / pr, varia_bound(name), -p["epoch_mean_loss"]))
w("")
w("ex/s: training examples per second over the epoch, data loading excluded (PyTorch: after 20 untimed "
  "warm-up steps, undone before the epoch; varia: its report's examples_per_s, which also covers writing "
  "the output model at the end). bound: the epoch's running mean of the training objective (ELBO or "
  "L_5, nats per example); the two use different random numbers, so they agree only roughly.")
text = "\n".join(lines) + "\n"
sys.stdout.write(text)
with open("build/bench-train.md", "w") as fh:
    fh.write(text)
sys.stderr.write("train_bench.sh: wrote build/bench-train.md\n")
EOF
