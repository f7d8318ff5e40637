#!/usr/bin/env bash
# The main job: install what is missing, build, and run the shipped default
# model: samples, interpolation strips and the held-out log-likelihood.
# Usage: tools/demo.sh [K]   (K importance samples, default 5000). Output: out/.
set -euo pipefail
cd "$(dirname "$0")/.."
K=${1:-5000}
tools/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
varia=build/varia
model=models/vae-mnist-dyn/model.json
heldout=models/vae-mnist-dyn/heldout-images-idx3-ubyte.gz
mkdir -p out
$varia info "$model"
$varia sample "$model" -n 100 --seed 1 -o out/samples.png
# The held-out file is every 20th MNIST test image (grey; eval binarizes it).
$varia interpolate "$model" "$heldout:0" "$heldout:350" --steps 10 -o out/interpolation-lerp.png
$varia interpolate "$model" "$heldout:120" "$heldout:450" --steps 10 --slerp -o out/interpolation-slerp.png
$varia reconstruct "$model" --data "$heldout" --limit 10 --stride 50 -o out/reconstructions.png
echo "held-out log-likelihood: $heldout (every 20th MNIST test image, 500 in all, binarized once), k=$K"
$varia eval "$model" --data "$heldout" --k "$K"
