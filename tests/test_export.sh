#!/usr/bin/env bash
# The exporter's fixtures, checked without PyTorch: each folder of tests/export/
# holds a model that tools/torch/export.py wrote from a PyTorch VAE written the way
# tutorials write them (tools/torch/test_export.py --write-fixtures), the probe
# inputs, and PyTorch's own decode and encode of them (expected.json). The varia
# command must load each model and reproduce PyTorch's numbers to 1e-5 (max-norm
# relative error: max |varia - torch| / max |torch| over each output vector).
# Usage: test_export.sh VARIA_BINARY SOURCE_ROOT. TAP-style output, a closing
# "# passed P failed F", exit status nonzero on any failure. Needs python3 (the
# standard library only) to read the JSON; without it the checks are skipped.
set -u

VARIA=${1:?usage: test_export.sh VARIA_BINARY SOURCE_ROOT}
ROOT=${2:?usage: test_export.sh VARIA_BINARY SOURCE_ROOT}
FIX=$ROOT/tests/export

if ! command -v python3 >/dev/null 2>&1; then
    echo "ok 1 - exporter fixtures # SKIP no python3 to read expected.json"
    echo "# passed 1 failed 0"
    exit 0
fi

# The checks, in Python: every fixture, every probe, every output vector.
exec python3 - "$VARIA" "$FIX" <<'EOF'
import json, os, subprocess, sys

varia, fix = sys.argv[1], sys.argv[2]
RTOL = 1e-5
n = failed = 0


def line(ok, name, detail=""):
    global n, failed
    n += 1
    failed += not ok
    print("%s %d - %s%s" % ("ok" if ok else "not ok", n, name, ("\n# " + detail) if detail else ""))


def run(args):
    """varia's stdout parsed as JSON (None for other text) and "" or the failure."""
    p = subprocess.run([varia] + args, capture_output=True, text=True)
    if p.returncode != 0:
        return None, "exit %d: %s" % (p.returncode, p.stderr.strip())
    try:
        return json.loads(p.stdout), ""
    except ValueError:
        return None, ""


def rel_err(got, want):
    """max |got - want| / max |want| (inf for a length mismatch)."""
    if len(got) != len(want):
        return float("inf")
    scale = max(abs(w) for w in want) or 1.0
    return max(abs(g - w) for g, w in zip(got, want)) / scale


cases = sorted(d for d in os.listdir(fix) if os.path.isfile(os.path.join(fix, d, "expected.json")))
line(len(cases) >= 3, "at least three exported layouts in tests/export (%d)" % len(cases))
for case in cases:
    d = os.path.join(fix, case)
    model = os.path.join(d, "model.json")
    exp = json.load(open(os.path.join(d, "expected.json")))
    _, err = run(["info", model])
    line(err == "", "%s: varia loads the exported model" % case, err)
    for i, probe in enumerate(exp["decode"]):
        got, err = run(["decode", model, probe["z"]] + exp["decode_args"])
        for key in sorted(k for k in probe if k != "z"):
            e = rel_err(got.get(key, []), probe[key]) if got else float("inf")
            line(e <= RTOL, "%s: decode %d, %s matches PyTorch (relative error %.2g)"
                 % (case, i, key, e), err)
    for i, probe in enumerate(exp["encode"]):
        got, err = run(["encode", model, os.path.join(d, probe["input"])])
        for key in ("mean", "logvar"):
            e = rel_err(got.get(key, []), probe[key]) if got else float("inf")
            line(e <= RTOL, "%s: encode %d, %s matches PyTorch (relative error %.2g)"
                 % (case, i, key, e), err)
print("# passed %d failed %d" % (n - failed, failed))
sys.exit(1 if failed else 0)
EOF
