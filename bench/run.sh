#!/bin/bash
# varia against PyTorch on the same model, the same data and the same thread count,
# in one run. See bench/README.md.
#
#   bench/run.sh [--quick] [--threads T] [--n N] [--repeats R] [--calls C]
#                [--model MODEL.json] [--data DATA]
#
# Prints the tables and writes them to build/bench-results.md (raw results of the
# two programs in build/bench-raw/). Exits 1 when the two mean NLLs disagree.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
COMMAND="bench/run.sh${*:+ $*}"

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

QUICK=0 THREADS=2 N="" REPEATS="" CALLS="" MODEL="" DATA=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --threads) THREADS=${2:?}; shift ;;
        --n) N=${2:?}; shift ;;
        --repeats) REPEATS=${2:?}; shift ;;
        --calls) CALLS=${2:?}; shift ;;
        --model) MODEL=${2:?}; shift ;;
        --data) DATA=${2:?}; shift ;;
        -h|--help) usage ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage ;;
    esac
    shift
done
if [ "$QUICK" = 1 ]; then
    : "${N:=4}" "${REPEATS:=3}" "${CALLS:=2000}"
    KERNEL_REPS=5
else
    : "${N:=20}" "${REPEATS:=5}" "${CALLS:=20000}"
    KERNEL_REPS=15
fi

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

# ---- install what is missing: the build's packages, PyTorch and its BLAS
bench/install-torch.sh

# ---- build
if [ ! -f build/build.ninja ]; then
    meson setup build >&2
fi
ninja -C build >&2

# ---- model and data
if [ -z "$MODEL" ]; then
    if [ -f models/vae-mnist/model.json ]; then
        MODEL=models/vae-mnist/model.json
    else
        MODEL=build/bench-model/model.json
        if [ ! -f "$MODEL" ]; then
            echo "run.sh: no models/vae-mnist/model.json; exporting a random-weight 784-200-200-50 VAE to build/bench-model/" >&2
            "$PY" bench/bench_torch.py make-model build/bench-model >&2
        fi
    fi
fi
if [ -z "$DATA" ]; then
    if [ -f models/vae-mnist/heldout.amat.gz ]; then
        DATA=models/vae-mnist/heldout.amat.gz
    else
        DATA=$(cd "$ROOT/.." && pwd)/shared/data/binarized_mnist/binarized_mnist_test.amat.gz
    fi
fi
for f in "$MODEL" "$DATA"; do
    [ -f "$f" ] || { echo "run.sh: $f not found" >&2; exit 1; }
done

RAW=build/bench-raw
rm -rf "$RAW"
mkdir -p "$RAW"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")

torch_env() { # POLICY T CMD...: the environment PyTorch runs with
    env OPENBLAS_CORETYPE=Cooperlake OMP_WAIT_POLICY="$1" \
        OPENBLAS_NUM_THREADS="$2" OMP_NUM_THREADS="$2" "${@:3}"
}

# ---- measurements: T threads, then 1 thread
THREAD_LIST="$THREADS"
[ "$THREADS" = 1 ] || THREAD_LIST="$THREADS 1"
for t in $THREAD_LIST; do
    common=(--threads "$t" --n "$N" --repeats "$REPEATS" --calls "$CALLS")
    echo "run.sh: varia, $t thread(s)" >&2
    build/bench/bench_varia "$MODEL" "$DATA" "${common[@]}" > "$RAW/varia-$t.txt"
    # OpenMP's idle threads either sleep (PASSIVE) or spin (ACTIVE); which is
    # faster depends on the load, so with more than one thread both run and the
    # report keeps the faster for each measurement.
    for policy in PASSIVE ACTIVE; do
        [ "$t" = 1 ] && [ "$policy" = ACTIVE ] && continue # no team to wait for
        echo "run.sh: PyTorch, $t thread(s), OMP_WAIT_POLICY=$policy" >&2
        torch_env "$policy" "$t" "$PY" bench/bench_torch.py run "$MODEL" "$DATA" "${common[@]}" \
            > "$RAW/torch-$t-$policy.txt"
    done
done
echo "run.sh: kernel benchmark" >&2
torch_env PASSIVE 1 build/bench/bench_kernel "$KERNEL_REPS" > "$RAW/kernel.txt"
build/bench/bench_peak > "$RAW/peak.txt"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")

# ---- report
CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
SOCKETS=$(lscpu 2>/dev/null | sed -n 's/^Socket(s): *//p' | head -1)
CORES=$(lscpu 2>/dev/null | sed -n 's/^Core(s) per socket: *//p' | head -1)
TPC=$(lscpu 2>/dev/null | sed -n 's/^Thread(s) per core: *//p' | head -1)
MACHINE="${CPU:-unknown CPU}; $(nproc) logical CPUs (${SOCKETS:-?} socket(s) x ${CORES:-?} core(s) x ${TPC:-?} thread(s) per core)"
TRAINING=""
for pid in $(pgrep -f "varia train" 2>/dev/null); do # a paused (stopped, state T) job does not count
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = T ] || TRAINING=" (a training job was running)"
done

"$PY" - "$RAW" "$MODEL" "$DATA" "$THREADS" "$COMMAND" "$MACHINE" \
    "$LOAD_START" "$LOAD_END$TRAINING" "$REPEATS" "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" <<'EOF'
import datetime
import json
import math
import os
import sys

raw, model_path, data_path, threads, command, machine, load0, load1, repeats, commit = sys.argv[1:]
R = int(repeats)
T = int(threads)
thread_list = [T] if T == 1 else [T, 1]


def read(name):
    out = {}
    path = os.path.join(raw, name)
    if os.path.exists(path):
        for line in open(path):
            p = line.split()
            if len(p) >= 3 and p[0] == "RESULT":
                out[p[1]] = p[2]
    return out


f = lambda d, k: float(d[k])


def best_torch(t):
    """PyTorch's results at t threads: for each measurement the faster of the
    OMP_WAIT_POLICY runs, with the values that go with it; "<m>_policy" names it."""
    runs = {pol: read("torch-%d-%s.txt" % (t, pol)) for pol in ("PASSIVE", "ACTIVE")}
    runs = {pol: r for pol, r in runs.items() if r}
    out = dict(next(iter(runs.values())))
    for key, faster, extra in (("iw_images_per_s", max, ("iw_chunk", "iw_nll_mean", "iw_nll_sd")),
                               ("decode_us", min, ("decode_form",)), ("encode_us", min, ("encode_form",)),
                               ("sample_per_s", max, ())):
        pol = faster(runs, key=lambda p: f(runs[p], key))
        for k in (key,) + extra:
            out[k] = runs[pol].get(k, "?")
        out[key.split("_")[0] + "_policy"] = pol
    return out


V = {t: read("varia-%d.txt" % t) for t in thread_list}
P = {t: best_torch(t) for t in thread_list}

manifest = json.load(open(model_path))
arch = manifest["architecture"]
D = 1
for s in manifest["data"]["shape"]:
    D *= int(s)
prov = manifest.get("provenance", {})
trained = "random weights" not in json.dumps(prov)
K = int(V[T]["iw_k"])
N = int(V[T]["iw_n"])

lines = []
out = lines.append
out("# varia vs PyTorch")
out("")
out("- command: `%s` (commit %s, %s UTC)" % (command, commit,
    datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")))
out("- machine: %s; load average %s at the start, %s at the end" % (machine, load0, load1))
out("- model: `%s` (%s parameters, %s)" % (model_path, V[T]["params"],
    "trained" if trained else "random weights"))
out("- data: the first %d images of `%s`, used as given (binary)" % (N, data_path))
out("- PyTorch %s, float32, inference_mode, %s forward passes (bench/bench_torch.py); env "
    "OPENBLAS_CORETYPE=Cooperlake OPENBLAS_NUM_THREADS=T OMP_NUM_THREADS=T, torch.set_num_threads(T); "
    "with T > 1 it runs with OMP_WAIT_POLICY=PASSIVE and with ACTIVE, and each figure is the "
    "faster run's (the policy is named beside it)" % (P[T]["torch_version"], P[T]["torch_impl"]))
out("- varia: public API, varia_ctx_set_threads(ctx, T)")
out("- every figure: warm-up, then the median over %s repeats; ratio = varia speed / PyTorch "
    "speed (> 1: varia is faster)" % R)
out("")

# ---- (a)
layers = arch.get("layers", [])
if len(layers) == 1:
    L = int(layers[0]["latent"])
    enc = [D] + [int(w) for w in layers[0]["encoder"]]
    dec = [L] + [int(w) for w in layers[0]["decoder"]] + [D]
    enc_terms = ["%d*%d" % (a, b) for a, b in zip(enc[:-1], enc[1:])] + ["2*%d*%d" % (enc[-1], L)]
    dec_terms = ["%d*%d" % (a, b) for a, b in zip(dec[:-1], dec[1:])]
    enc_flop = 2 * (sum(a * b for a, b in zip(enc[:-1], enc[1:])) + 2 * enc[-1] * L)
    dec_flop = 2 * sum(a * b for a, b in zip(dec[:-1], dec[1:]))
    flop = enc_flop + K * dec_flop
    formula = ("FLOP per image = 2*(%s) [encoder, once; the 2* is the mean and log-variance heads]"
               " + k*2*(%s) [decoder, k samples] = %d + %d*%d = %.4g"
               % (" + ".join(enc_terms), " + ".join(dec_terms), enc_flop, K, dec_flop, flop))
else:
    flop, formula = None, "FLOP count given for one stochastic layer only"

out("## (a) Importance-weighted log-likelihood, k = %d, %d images" % (K, N))
out("")
out(formula + " (matrix products only; 2 FLOP per multiply-add).")
out("")
out("| threads | varia images/s | PyTorch images/s | ratio | varia GFLOP/s | PyTorch GFLOP/s "
    "| varia NLL | PyTorch NLL |")
out("|---:|---:|---:|---:|---:|---:|---:|---:|")
disagree = []
for t in thread_list:
    v, p = f(V[t], "iw_images_per_s"), f(P[t], "iw_images_per_s")
    gv = "%.1f" % (v * flop * 1e-9) if flop else "-"
    gp = "%.1f" % (p * flop * 1e-9) if flop else "-"
    nv, sv = f(V[t], "iw_nll_mean"), f(V[t], "iw_nll_sd")
    np_, sp = f(P[t], "iw_nll_mean"), f(P[t], "iw_nll_sd")
    out("| %d | %.2f | %.2f | %.2f | %s | %s | %.3f ± %.3f | %.3f ± %.3f |"
        % (t, v, p, v / p, gv, gp, nv, sv, np_, sp))
    se = math.sqrt((sv * sv + sp * sp) / max(R, 1))
    tol = 5 * se + 0.02
    if abs(nv - np_) > tol:
        disagree.append("%d thread(s): |%.4f - %.4f| = %.4f > %.4f" % (t, nv, np_, abs(nv - np_), tol))
out("")
out("NLL: mean over the images of -L_k in nats, averaged over the repeats (different seeds), "
    "± the standard deviation over the repeats. PyTorch's k samples went through in chunks of %s "
    "(the fastest of 1000, 2500 and %d in its warm-up), OMP_WAIT_POLICY %s. Sanity check "
    "(|difference| <= 5 standard errors + 0.02 nats): %s."
    % (" / ".join("%s (%d thread%s)" % (P[t].get("iw_chunk", "?"), t, "s" * (t > 1)) for t in thread_list), K,
       " / ".join("%s (%d thread%s)" % (P[t].get("iw_policy", "?"), t, "s" * (t > 1)) for t in thread_list),
       "the two agree" if not disagree else "DISAGREE: " + "; ".join(disagree)))
out("")

# ---- (b)
out("## (b) Latency, batch 1 (median of %s calls)" % V[1]["latency_calls"])
out("")
out("| operation | threads | varia µs | PyTorch µs | ratio | PyTorch form, OMP_WAIT_POLICY |")
out("|---|---:|---:|---:|---:|---|")
for key, name in (("decode_us", "decode, E[x\\|z]"), ("encode_us", "encode, posterior mean and log-variance")):
    op = key.split("_")[0]
    for t in thread_list:
        v, p = f(V[t], key), f(P[t], key)
        out("| %s | %d | %.2f | %.2f | %.2f | %s, %s |" % (name, t, v, p, p / v,
            P[t].get(op + "_form", "?").replace("_", " "), P[t].get(op + "_policy", "?")))
out("")
out("PyTorch's time is a Python call of the forward pass (what a PyTorch user gets); varia's is "
    "a C call of varia_decode / varia_encode. With more than one thread varia splits each layer's "
    "output columns among them; the calls run back to back, so its workers are awake (a first "
    "call after a pause also pays for waking them).")
out("")

# ---- (c)
out("## (c) Generation: batches of %s, z ~ N(0, I), decoded to E[x|z]" % V[T]["sample_batch"])
out("")
out("| threads | varia samples/s | PyTorch samples/s | ratio | PyTorch OMP_WAIT_POLICY |")
out("|---:|---:|---:|---:|---|")
for t in thread_list:
    v, p = f(V[t], "sample_per_s"), f(P[t], "sample_per_s")
    out("| %d | %.0f | %.0f | %.2f | %s |" % (t, v, p, v / p, P[t].get("sample_policy", "?")))
out("")

# ---- (d)
out("## (d) Matrix kernel alone (build/bench/bench_kernel, one thread, GFLOP/s)")
out("")
out("```")
out(open(os.path.join(raw, "kernel.txt")).read().rstrip())
out("```")
out("")
out("ratio = varia GFLOP/s / OpenBLAS GFLOP/s (OPENBLAS_CORETYPE=Cooperlake, OPENBLAS_NUM_THREADS=1).")
out("")
out("## (e) The machine's limit")
out("")
peak_line = open(os.path.join(raw, "peak.txt")).read().strip()
out("build/bench/bench_peak: " + peak_line)
try:
    peak = float(peak_line.split(":")[1].split("GFLOP/s")[0])
    cores = os.cpu_count() or 1
    if flop:
        out("")
        out("With %d cores the k=%d estimate cannot exceed about %.0f images/s (%d x %.1f GFLOP/s / %.4g FLOP per image)."
            % (cores, K, cores * peak * 1e9 / flop, cores, peak, flop))
except (IndexError, ValueError):
    pass

text = "\n".join(lines) + "\n"
sys.stdout.write(text)
with open("build/bench-results.md", "w") as fh:
    fh.write(text)
sys.stderr.write("run.sh: wrote build/bench-results.md\n")
sys.exit(1 if disagree else 0)
EOF
