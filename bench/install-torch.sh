#!/bin/bash
# What both benchmarks need besides the build's own packages: PyTorch, NumPy
# and an optimized BLAS for torch (on Debian's reference BLAS torch is ~50x
# slower: no fair reference). Installs what is missing; exits nonzero if
# PyTorch still cannot be imported. Used by bench/run.sh and bench/train_bench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh >&2
pkgs=(python3-torch python3-numpy libopenblas0-openmp)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "install-torch.sh: installing ${missing[*]}" >&2
    $SUDO apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}" >&2
fi
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
    echo "install-torch.sh: PyTorch is missing; install it with" >&2
    echo "  apt-get install -y ${pkgs[*]}" >&2
    exit 1
fi
