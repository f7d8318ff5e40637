#!/usr/bin/env bash
# Put MNIST's four files where the shipped training configurations read them:
# ../shared/data/mnist/, beside this repository (the configurations' paths are
# relative to the current directory, and the README runs `varia train` from the
# repository root). Every file's SHA-256 is checked against the published
# checksum of the original; files already in place and intact are kept.
# Usage: tools/get-mnist.sh [FROM]
#   FROM: a folder that already holds the four .gz files (they are copied);
#   without it they are downloaded (curl or wget) from the mirror torchvision uses.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=../shared/data/mnist
mirror=https://ossci-datasets.s3.amazonaws.com/mnist
from=${1:-}
files="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"

# sum FILE: the published SHA-256 of an MNIST file (of the .gz as distributed).
sum() {
    case $1 in
    train-images-idx3-ubyte.gz) echo 440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609 ;;
    train-labels-idx1-ubyte.gz) echo 3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c ;;
    t10k-images-idx3-ubyte.gz) echo 8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6 ;;
    t10k-labels-idx1-ubyte.gz) echo f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6 ;;
    esac
}
intact() { [ -f "$2" ] && [ "$(sha256sum "$2" | cut -d' ' -f1)" = "$(sum "$1")" ]; }

mkdir -p "$dest"
for f in $files; do
    if intact "$f" "$dest/$f"; then
        echo "$dest/$f: present, checksum ok"
        continue
    fi
    if [ -n "$from" ]; then
        cp "$from/$f" "$dest/$f.part"
    elif command -v curl >/dev/null; then
        curl -fsSL -o "$dest/$f.part" "$mirror/$f"
    elif command -v wget >/dev/null; then
        wget -q -O "$dest/$f.part" "$mirror/$f"
    else
        echo "get-mnist.sh: neither curl nor wget; give a folder holding the files" >&2
        exit 1
    fi
    if ! intact "$f" "$dest/$f.part"; then
        echo "get-mnist.sh: $f: SHA-256 differs from the published $(sum "$f")" >&2
        rm -f "$dest/$f.part"
        exit 1
    fi
    mv "$dest/$f.part" "$dest/$f"
    echo "$dest/$f: written, checksum ok"
done
