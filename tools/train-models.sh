#!/bin/bash
# Train (or continue training) the shipped models with varia's own trainer:
#
#   tools/train-models.sh [NAME...]     (default: every models/*/train.json)
#
# Each runs `build/varia train models/NAME/train.json --resume --threads T`
# (T = $THREADS, default 1; the weights do not depend on it) into runs/NAME/
# (not in git) with its log in runs/NAME.log, one after another: run two of
# these at once to use two cores, or one with THREADS=2. Interrupt it at any
# time; running it again continues every model from its last checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/varia ] || { meson setup build >/dev/null && ninja -C build >/dev/null; }
mkdir -p runs
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for f in models/*/train.json; do names+=("$(basename "$(dirname "$f")")"); done
fi
for n in "${names[@]}"; do
    echo "== $n: started (or resumed) at $(date -u +%FT%TZ) with $(git rev-parse --short HEAD 2>/dev/null || echo '?')" >> "runs/$n.log"
    build/varia train "models/$n/train.json" --resume --threads "${THREADS:-1}" >> "runs/$n.log" 2>&1
done
