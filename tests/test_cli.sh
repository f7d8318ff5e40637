#!/usr/bin/env bash
# Tests for the varia command-line tool: exit codes (= varia_status values, usage
# errors 2), outputs (PNG signatures, JSON keys), determinism (same seed, same
# bytes; any thread count, same numbers), and errors from broken models and data.
# Usage: test_cli.sh VARIA_BINARY SOURCE_ROOT [VARIA_DUMP] (tests/web/varia_dump: the
# library's floats, which -o FILE.npy must hold bit for bit). TAP-style output ("ok N - name"),
# a closing "# passed P failed F", exit status nonzero on any failure. No case
# may end by a signal (an exit status >= 128 fails the check it belongs to).
set -u

VARIA=${1:?usage: test_cli.sh VARIA_BINARY SOURCE_ROOT}
ROOT=${2:?usage: test_cli.sh VARIA_BINARY SOURCE_ROOT}
VAE=$ROOT/tests/golden/vae1_tanh_bern/model.json    # data [1,4,5], latent 3
IWAE=$ROOT/tests/golden/iwae2_tanh_bern/model.json  # 2 stochastic layers (4, 2)

T=$(mktemp -d "${TMPDIR:-/tmp}/varia-cli-XXXXXX") || { echo "not ok 1 - mktemp -d"; exit 1; }
trap 'rm -rf "$T"' EXIT

n=0
fail=0
signals=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() {
    n=$((n + 1)); fail=$((fail + 1))
    echo "not ok $n - $1"
    shift
    local line
    for line in "$@"; do printf '# %s\n' "$line"; done
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# A check of a known bug: reported as TAP TODO (not a failure) while it fails.

# run CMD...: stdout in $T/out, stderr in $T/err, exit status in RC.
run() {
    "$@" >"$T/out" 2>"$T/err"
    RC=$?
    if [ "$RC" -ge 128 ]; then
        signals=$((signals + 1))
        echo "# killed by a signal (exit $RC): $*"
    fi
}

# expect_rc NAME WANT CMD...: the exit status must be exactly WANT.
expect_rc() {
    local name=$1 want=$2
    shift 2
    run "$@"
    if [ "$RC" -eq "$want" ]; then
        ok "$name"
        return 0
    fi
    notok "$name" "exit $RC, want $want: $*" "stderr: $(head -c 400 "$T/err" | tr '\n' ' ')"
    return 1
}

# check NAME CONDITION-COMMAND...: passes when the command succeeds.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else notok "$name" "failed: $*"; fi
}

# png_size FILE W H: the IHDR's width and height.
png_size() { [ "$(od -An -tu1 -j16 -N8 "$1" | awk '{print $3*256+$4, $7*256+$8}')" = "$2 $3" ]; }
is_png() { [ -f "$1" ] && [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]; }
differ() { [ -f "$1" ] && [ -f "$2" ] && ! cmp -s "$1" "$2"; }
out_has() { grep -q -- "$1" "$T/out"; }
err_has() { grep -q -- "$1" "$T/err"; }
# The eval JSON without the fields that legitimately vary (threads, seconds).
strip_json() { sed -e 's/"threads": [0-9]*, //' -e 's/, "seconds": [0-9.e+-]*//' "$1"; }

have_python=0
if command -v python3 >/dev/null 2>&1 && python3 -c 'import json, zlib, struct' >/dev/null 2>&1; then
    have_python=1
fi

for f in "$VARIA" "$VAE" "$IWAE"; do
    if [ ! -e "$f" ]; then
        notok "input exists: $f"
        echo "# passed $((n - fail)) failed $fail"
        exit 1
    fi
done

# ---- general usage ------------------------------------------------------------
expect_rc "varia --help exits 0" 0 "$VARIA" --help
check "varia --help prints the commands" out_has "interpolate"
expect_rc "varia --version exits 0" 0 "$VARIA" --version
expect_rc "varia without a command exits 2" 2 "$VARIA"
expect_rc "unknown command exits 2" 2 "$VARIA" frobnicate "$VAE"
expect_rc "sample --help exits 0" 0 "$VARIA" sample --help
expect_rc "eval --help exits 0" 0 "$VARIA" eval --help
expect_rc "unknown option exits 2" 2 "$VARIA" info "$VAE" --bogus
expect_rc "info without a model exits 2" 2 "$VARIA" info
expect_rc "info with two models exits 2" 2 "$VARIA" info "$VAE" "$IWAE"

# ---- info ---------------------------------------------------------------------
expect_rc "info MODEL exits 0" 0 "$VARIA" info "$VAE"
check "info prints the family" out_has "family"
check "info prints the data shape 1x4x5" out_has "1x4x5"
expect_rc "info IWAE exits 0" 0 "$VARIA" info "$IWAE"
check "info IWAE lists both stochastic layers" out_has "stochastic layers: 4 2"
expect_rc "info of a missing manifest exits 3 (IO)" 3 "$VARIA" info "$T/none.json"

# ---- sample ---------------------------------------------------------------------
expect_rc "sample -n 6 --seed 3 exits 0" 0 "$VARIA" sample "$VAE" -n 6 --seed 3 -o "$T/s3a.png"
check "sample writes a PNG" is_png "$T/s3a.png"
expect_rc "sample again with seed 3" 0 "$VARIA" sample "$VAE" -n 6 --seed 3 -o "$T/s3b.png"
check "same seed gives byte-identical PNGs" cmp -s "$T/s3a.png" "$T/s3b.png"
expect_rc "sample with seed 4" 0 "$VARIA" sample "$VAE" -n 6 --seed 4 -o "$T/s4.png"
check "a different seed gives a different PNG" differ "$T/s3a.png" "$T/s4.png"
expect_rc "sample --temperature 0 exits 0" 0 "$VARIA" sample "$VAE" -n 3 --temperature 0 -o "$T/t0.png"
check "temperature 0 writes a PNG" is_png "$T/t0.png"
expect_rc "temperature 0 with another seed" 0 "$VARIA" sample "$VAE" -n 3 --seed 99 --temperature 0 -o "$T/t0b.png"
check "temperature 0 ignores the seed (prior mean)" cmp -s "$T/t0.png" "$T/t0b.png"
expect_rc "sample from the 2-layer IWAE exits 0" 0 "$VARIA" sample "$IWAE" -n 4 --seed 1 -o "$T/iw.png"
check "IWAE sample is a PNG" is_png "$T/iw.png"
expect_rc "sample without -o exits 2" 2 "$VARIA" sample "$VAE" -n 6
expect_rc "sample -n abc exits 2" 2 "$VARIA" sample "$VAE" -n abc -o "$T/x.png"
expect_rc "sample -n 0 exits 2" 2 "$VARIA" sample "$VAE" -n 0 -o "$T/x.png"
expect_rc "sample -n with no value exits 2" 2 "$VARIA" sample "$VAE" -o "$T/x.png" -n
expect_rc "sample --seed -1 exits 2" 2 "$VARIA" sample "$VAE" --seed -1 -o "$T/x.png"
expect_rc "sample --temperature -1 exits 2" 2 "$VARIA" sample "$VAE" --temperature -1 -o "$T/x.png"
expect_rc "sample --temperature nan exits 2" 2 "$VARIA" sample "$VAE" --temperature nan -o "$T/x.png"
expect_rc "sample into a missing directory exits 3 (IO)" 3 "$VARIA" sample "$VAE" -n 2 -o "$T/no/such/dir/x.png"

# ---- interpolate / decode -------------------------------------------------------------
expect_rc "interpolate z:0,0,0 z:1,1,1 --steps 5 exits 0" 0 \
    "$VARIA" interpolate "$VAE" z:0,0,0 z:1,1,1 --steps 5 -o "$T/lerp.png"
check "interpolate writes a PNG" is_png "$T/lerp.png"
expect_rc "interpolate --slerp exits 0" 0 \
    "$VARIA" interpolate "$VAE" z:0.5,-1,0 z:1,1,1 --steps 5 --slerp -o "$T/slerp.png"
check "slerp writes a PNG" is_png "$T/slerp.png"
check "slerp and lerp strips differ" differ "$T/lerp.png" "$T/slerp.png"
expect_rc "interpolate with a 2-value latent (model has 3) exits 2" 2 \
    "$VARIA" interpolate "$VAE" z:0,0 z:1,1,1 --steps 5 -o "$T/x.png"
expect_rc "interpolate with a 4-value latent exits 2" 2 \
    "$VARIA" interpolate "$VAE" z:0,0,0,0 z:1,1,1 --steps 5 -o "$T/x.png"
expect_rc "interpolate with a non-numeric latent exits 2" 2 \
    "$VARIA" interpolate "$VAE" z:0,a,0 z:1,1,1 --steps 5 -o "$T/x.png"
expect_rc "interpolate --steps 1 exits 2" 2 "$VARIA" interpolate "$VAE" z:0,0,0 z:1,1,1 --steps 1 -o "$T/x.png"
expect_rc "interpolate without -o exits 2" 2 "$VARIA" interpolate "$VAE" z:0,0,0 z:1,1,1
expect_rc "interpolate in the IWAE top latent (2) exits 0" 0 \
    "$VARIA" interpolate "$IWAE" z:0,0 z:1,-1 --steps 3 -o "$T/iwi.png"
expect_rc "decode z:0.1,0.2,0.3 exits 0" 0 "$VARIA" decode "$VAE" z:0.1,0.2,0.3 -o "$T/dec.png"
check "decode writes a PNG" is_png "$T/dec.png"
expect_rc "decode --json exits 0" 0 "$VARIA" decode "$VAE" z:0.1,0.2,0.3 --json
if [ "$have_python" = 1 ]; then
    check "decode --json gives 20 means in [0,1]" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["mean"]) == 20 and all(0 <= v <= 1 for v in d["mean"]), d' "$T/out"
else
    check "decode --json prints \"mean\"" out_has '"mean"'
fi
expect_rc "decode --json --params exits 0" 0 "$VARIA" decode "$VAE" z:0.1,0.2,0.3 --json --params
check "decode --params of a Bernoulli model prints logits" out_has '"logits"'
expect_rc "decode without -o or --json exits 2" 2 "$VARIA" decode "$VAE" z:0.1,0.2,0.3
expect_rc "decode of a latent without z: exits 2" 2 "$VARIA" decode "$VAE" 0.1,0.2,0.3 -o "$T/x.png"
expect_rc "decode of a latent with a trailing comma exits 2" 2 "$VARIA" decode "$VAE" z:1,2,3, -o "$T/x.png"
expect_rc "decode of a latent overflowing float (1e39) is a usage error (2)" 2 \
    "$VARIA" decode "$VAE" z:1e39,0,0 -o "$T/x.png"

# ---- float outputs: -o FILE.npy (sample, interpolate, decode) ---------------------------
# npy_check FILE SHAPE: a .npy 1.0 of '<f4', C order, shape SHAPE (Python's repr,
# "(6, 1, 4, 5)"), the header padded to a multiple of 64, and exactly the bytes the
# shape needs after it.
npy_check() {
    python3 - "$1" "$2" <<'PY'
import ast, struct, sys
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"\x93NUMPY\x01\x00", b[:8]
hl = struct.unpack("<H", b[8:10])[0]
h = b[10:10 + hl].decode("ascii")
assert (10 + hl) % 64 == 0 and h.endswith("\n"), (hl, h)
d = ast.literal_eval(h.strip())
assert d == {"descr": "<f4", "fortran_order": False, "shape": ast.literal_eval(sys.argv[2])}, d
count = 1
for s in d["shape"]:
    count *= s
assert len(b) == 10 + hl + 4 * count, (len(b), count)
PY
}
# npy_vs_json NPY JSON KEY FIRST: the NPY's floats FIRST .. FIRST + len - 1 are
# bit for bit the JSON's list KEY (printed with %.9g, which round-trips a float32).
npy_vs_json() {
    python3 - "$@" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
hl = struct.unpack("<H", b[8:10])[0]
want = json.load(open(sys.argv[2]))[sys.argv[3]]
first = int(sys.argv[4])
got = struct.unpack("<%df" % len(want), b[10 + hl + 4 * first:10 + hl + 4 * (first + len(want))])
want = struct.unpack("<%df" % len(want), struct.pack("<%df" % len(want), *want))
bad = [i for i in range(len(want)) if got[i] != want[i]]
assert not bad, "%d of %d differ, first at %d: %r vs %r" % (len(bad), len(want), bad[0], got[bad[0]], want[bad[0]])
PY
}
# npy_data FILE: the data bytes after the header.
npy_data() { tail -c +$(( $(od -An -tu2 -j8 -N2 "$1") + 11 )) "$1"; }
DUMP=${3:-}
if [ "$have_python" = 1 ]; then
    expect_rc "sample -n 6 --seed 3 -o s.npy exits 0" 0 "$VARIA" sample "$VAE" -n 6 --seed 3 -o "$T/s.npy"
    check "... a .npy of float32 [6, 1, 4, 5] (the model's [1,4,5] examples)" npy_check "$T/s.npy" "(6, 1, 4, 5)"
    if [ -x "$DUMP" ]; then
        check "... whose floats are varia_sample's (tests/web/varia_dump sample 6 3 1), bit for bit" \
            cmp -s <(npy_data "$T/s.npy") <("$DUMP" "$VAE" sample 6 3 1 | head -c $((6 * 20 * 4)))
    else
        skip "sample -o .npy against varia_dump" "no varia_dump given"
    fi
    run "$VARIA" sample "$VAE" -n 6 --seed 3 --temperature 0.5 -o "$T/s05.npy"
    check "... and --temperature 0.5 changes them" differ "$T/s.npy" "$T/s05.npy"
    expect_rc "interpolate z:0.1,0.2,0.3 z:-1,0.5,2 --steps 2 -o i.npy exits 0" 0 \
        "$VARIA" interpolate "$VAE" z:0.1,0.2,0.3 z:-1,0.5,2 --steps 2 -o "$T/i.npy"
    check "... a .npy of float32 [2, 1, 4, 5]" npy_check "$T/i.npy" "(2, 1, 4, 5)"
    run "$VARIA" decode "$VAE" z:0.1,0.2,0.3 --json
    cp "$T/out" "$T/da.json"
    run "$VARIA" decode "$VAE" z:-1,0.5,2 --json
    cp "$T/out" "$T/db.json"
    check "... whose first row is 'decode --json' of the first endpoint, bit for bit" npy_vs_json "$T/i.npy" "$T/da.json" mean 0
    check "... and whose last row is the second endpoint's" npy_vs_json "$T/i.npy" "$T/db.json" mean 20
    expect_rc "interpolate --steps 7 --slerp -o .npy exits 0" 0 \
        "$VARIA" interpolate "$VAE" z:0.1,0.2,0.3 z:-1,0.5,2 --steps 7 --slerp -o "$T/i7.npy"
    check "... a .npy of float32 [7, 1, 4, 5] with the same endpoints" \
        eval 'npy_check "$T/i7.npy" "(7, 1, 4, 5)" && npy_vs_json "$T/i7.npy" "$T/db.json" mean 120'
    expect_rc "decode -o z.npy exits 0" 0 "$VARIA" decode "$VAE" z:0.1,0.2,0.3 -o "$T/z.npy"
    check "... a .npy [1, 1, 4, 5] equal to 'decode --json'" \
        eval 'npy_check "$T/z.npy" "(1, 1, 4, 5)" && npy_vs_json "$T/z.npy" "$T/da.json" mean 0'
    DRAWM=$ROOT/models/draw-mnist/model.json
    if [ -f "$DRAWM" ]; then
        expect_rc "sample --steps -o .npy of DRAW exits 0" 0 "$VARIA" sample "$DRAWM" -n 2 --seed 5 --steps -o "$T/d.npy"
        T_DRAW=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["architecture"]["steps"])' "$DRAWM")
        check "... a .npy [2, $T_DRAW, 1, 28, 28]: the canvas after each step" npy_check "$T/d.npy" "(2, $T_DRAW, 1, 28, 28)"
        run "$VARIA" sample "$DRAWM" -n 2 --seed 5 -o "$T/d1.npy"
        check "... whose last step is the sample, for both samples" python3 -c '
import struct, sys
def floats(p):
    b = open(p, "rb").read(); hl = struct.unpack("<H", b[8:10])[0]
    return struct.unpack("<%df" % ((len(b) - 10 - hl) // 4), b[10 + hl:])
s, x, T, D = floats(sys.argv[1]), floats(sys.argv[2]), int(sys.argv[3]), 784
for i in range(2):
    assert s[(i * T + T - 1) * D:(i * T + T) * D] == x[i * D:(i + 1) * D], i' "$T/d.npy" "$T/d1.npy" "$T_DRAW"
    else
        skip "sample --steps -o .npy of DRAW" "no shipped draw-mnist"
    fi
else
    skip "sample/interpolate/decode -o .npy" "no python3"
fi
expect_rc "sample -o x.npz exits 2" 2 "$VARIA" sample "$VAE" -n 2 -o "$T/x.npz"
check "... naming the names it writes (.png or .npy)" err_has "must end in .png or .npy"
check "... and writing nothing" test ! -e "$T/x.npz"
expect_rc "sample -o x.mid of an image model exits 2" 2 "$VARIA" sample "$VAE" -n 2 -o "$T/x.mid"
expect_rc "interpolate -o x.txt exits 2" 2 "$VARIA" interpolate "$VAE" z:0,0,0 z:1,1,1 -o "$T/x.txt"
expect_rc "decode -o a name without an extension exits 2" 2 "$VARIA" decode "$VAE" z:0,0,0 -o "$T/x"
expect_rc "sample -o .NPY (upper case) exits 0" 0 "$VARIA" sample "$VAE" -n 1 -o "$T/u.NPY"
check "... a .npy" npy_check "$T/u.NPY" "(1, 1, 4, 5)"
expect_rc "sample -o .npy into a missing directory exits 3 (IO)" 3 "$VARIA" sample "$VAE" -n 2 -o "$T/no/such/x.npy"
check "... naming the file" err_has "no/such/x.npy"
expect_rc "sample --help mentions .npy" 0 "$VARIA" sample --help
check "... and its shapes" out_has "FILE.npy"

# ---- data: a tiny .amat file (3 lines of 20 binary values) ------------------------------
printf '%s\n' \
    "0 1 1 0 1 0 0 1 1 1 0 0 1 0 1 0 1 1 0 0" \
    "1 1 0 0 0 1 0 1 0 1 1 1 0 0 1 1 0 0 1 0" \
    "0 0 1 1 1 1 0 0 1 0 0 1 1 0 0 1 1 0 1 1" >"$T/data.amat"
cut -d' ' -f1-19 "$T/data.amat" >"$T/data19.amat"
{ head -n 1 "$T/data.amat"; tail -n 1 "$T/data19.amat"; } >"$T/mixed.amat"

# ---- encode ---------------------------------------------------------------------
expect_rc "encode MODEL data.amat:1 exits 0" 0 "$VARIA" encode "$VAE" "$T/data.amat:1"
check "encode prints JSON with \"mean\"" out_has '"mean"'
check "encode prints JSON with \"logvar\"" out_has '"logvar"'
cp "$T/out" "$T/enc1.json"
expect_rc "encode data.amat:2 exits 0" 0 "$VARIA" encode "$VAE" "$T/data.amat:2"
check "different examples encode differently" differ "$T/enc1.json" "$T/out"
if [ "$have_python" = 1 ]; then
    check "encode output parses as JSON with 3-value mean and logvar" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["mean"]) == 3 and len(d["logvar"]) == 3, d' "$T/enc1.json"
else
    skip "encode output parses as JSON" "no python3"
fi
expect_rc "encode --sample --seed 3 exits 0" 0 "$VARIA" encode "$VAE" "$T/data.amat:1" --sample --seed 3
check "encode --sample prints \"sample\"" out_has '"sample"'
cp "$T/out" "$T/es3a.json"
expect_rc "encode --sample --seed 3 again" 0 "$VARIA" encode "$VAE" "$T/data.amat:1" --sample --seed 3
check "encode --sample: same seed, same draw" cmp -s "$T/es3a.json" "$T/out"
expect_rc "encode --sample --seed 4" 0 "$VARIA" encode "$VAE" "$T/data.amat:1" --sample --seed 4
check "encode --sample: another seed, another draw" differ "$T/es3a.json" "$T/out"
expect_rc "encode --seed abc exits 2" 2 "$VARIA" encode "$VAE" "$T/data.amat:1" --sample --seed abc
expect_rc "encode of example 5 of a 3-example file exits 2" 2 "$VARIA" encode "$VAE" "$T/data.amat:5"
expect_rc "encode of a missing dataset exits 3 (IO)" 3 "$VARIA" encode "$VAE" "$T/none.amat:0"
expect_rc "encode of 19-value examples exits 15 (SHAPE)" 15 "$VARIA" encode "$VAE" "$T/data19.amat:0"
expect_rc "encode of a missing PNG exits 3 (IO)" 3 "$VARIA" encode "$VAE" "$T/none.png"
# A PNG written by `varia sample -n 4` is a padded grid (30x8), not one 5x4 example.
expect_rc "sample -n 4 for a PNG input" 0 "$VARIA" sample "$VAE" -n 4 -o "$T/grid4.png"
expect_rc "encode of a PNG of the wrong size exits 15 (SHAPE)" 15 "$VARIA" encode "$VAE" "$T/grid4.png"
if err_has "30x8"; then
    ok "the SHAPE message gives the PNG's real size (30x8)"
else
    notok "the SHAPE message gives the PNG's real size (30x8)"
fi
expect_rc "encode of a text file given as a PNG exits 22 (PNG)" 22 "$VARIA" encode "$VAE" "$T/data.amat"
if [ "$have_python" = 1 ]; then
    python3 - "$T/x54.png" <<'EOF'
import struct, sys, zlib
w, h = 5, 4
raw = b"".join(b"\x00" + bytes((x * 60 + y * 40) % 256 for x in range(w)) for y in range(h))
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
       + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
open(sys.argv[1], "wb").write(png)
EOF
    expect_rc "encode of a 5x4 grayscale PNG exits 0" 0 "$VARIA" encode "$VAE" "$T/x54.png"
    check "PNG encode prints \"mean\"" out_has '"mean"'
    expect_rc "interpolate from a PNG to a dataset example exits 0" 0 \
        "$VARIA" interpolate "$VAE" "$T/x54.png" "$T/data.amat:0" --steps 3 -o "$T/pi.png"
else
    skip "encode of a 5x4 grayscale PNG" "no python3"
fi
expect_rc "interpolate between two dataset examples (slerp) exits 0" 0 \
    "$VARIA" interpolate "$VAE" "$T/data.amat:0" "$T/data.amat:2" --steps 4 --slerp -o "$T/di.png"
expect_rc "reconstruct --data data.amat exits 0" 0 "$VARIA" reconstruct "$VAE" --data "$T/data.amat" -o "$T/rec.png"
check "reconstruct writes a PNG" is_png "$T/rec.png"
expect_rc "reconstruct without --data exits 2" 2 "$VARIA" reconstruct "$VAE" -o "$T/rec.png"

# ---- eval -----------------------------------------------------------------------
expect_rc "eval --data data.amat --k 50 --json exits 0" 0 "$VARIA" eval "$VAE" --data "$T/data.amat" --k 50 --json
cp "$T/out" "$T/eval.json"
keys="n k nll_mean nll_stderr elbo recon kl bits_per_dim active_units"
if [ "$have_python" = 1 ]; then
    check "eval JSON parses and has n, k, nll_mean, nll_stderr, elbo, recon, kl, bits_per_dim, active_units" \
        python3 -c '
import json, math, sys
d = json.load(open(sys.argv[1]))
for key in sys.argv[2].split():
    assert key in d, key
assert d["n"] == 3 and d["k"] == 50, d
assert all(math.isfinite(d[k]) for k in ("nll_mean", "nll_stderr", "elbo", "recon", "kl", "bits_per_dim"))
assert d["nll_mean"] > 0 and -d["nll_mean"] >= d["elbo"] - 1e-6, d  # L_k >= ELBO (up to MC noise)
assert abs(d["elbo"] - (d["recon"] - d["kl"])) < 1e-5, d
' "$T/eval.json" "$keys"
else
    missing=""
    for key in $keys; do grep -q "\"$key\":" "$T/eval.json" || missing="$missing $key"; done
    check "eval JSON has n, k, nll_mean, nll_stderr, elbo, recon, kl, bits_per_dim, active_units" test -z "$missing"
fi
expect_rc "eval --threads 1" 0 "$VARIA" eval "$VAE" --data "$T/data.amat" --k 50 --json --threads 1
strip_json "$T/out" >"$T/t1.json"
expect_rc "eval --threads 2" 0 "$VARIA" eval "$VAE" --data "$T/data.amat" --k 50 --json --threads 2
strip_json "$T/out" >"$T/t2.json"
check "--threads 1 and --threads 2 give identical results" cmp -s "$T/t1.json" "$T/t2.json"
check "... and the stripped JSON still holds nll_mean and elbo" grep -q '"nll_mean".*"elbo"' "$T/t1.json"
expect_rc "eval IWAE --threads 1" 0 "$VARIA" eval "$IWAE" --data "$T/data.amat" --k 40 --json --threads 1
strip_json "$T/out" >"$T/i1.json"
expect_rc "eval IWAE --threads 2" 0 "$VARIA" eval "$IWAE" --data "$T/data.amat" --k 40 --json --threads 2
strip_json "$T/out" >"$T/i2.json"
check "2-layer IWAE: --threads 1 and 2 identical" cmp -s "$T/i1.json" "$T/i2.json"
expect_rc "eval --seed 7" 0 "$VARIA" eval "$VAE" --data "$T/data.amat" --k 50 --json --threads 1 --seed 7
strip_json "$T/out" | sed 's/"seed": [0-9]*//' >"$T/s7.json"
sed 's/"seed": [0-9]*//' "$T/t1.json" >"$T/s0.json"
check "a different --seed changes the estimate" differ "$T/s0.json" "$T/s7.json"
expect_rc "eval text output exits 0" 0 "$VARIA" eval "$VAE" --data "$T/data.amat" --k 10
check "text output reports the ELBO" out_has "ELBO"
expect_rc "eval --per-example exits 0" 0 \
    "$VARIA" eval "$VAE" --data "$T/data.amat" --k 10 --per-example "$T/rows.csv"
check "--per-example writes a header and 3 rows" test "$(wc -l <"$T/rows.csv" 2>/dev/null)" = 4
expect_rc "eval --limit 2 --json exits 0" 0 "$VARIA" eval "$VAE" --data "$T/data.amat" --k 10 --limit 2 --json
check "--limit 2 scores 2 examples" out_has '"n": 2,'
expect_rc "eval --k 0 exits 2" 2 "$VARIA" eval "$VAE" --data "$T/data.amat" --k 0
expect_rc "eval --k -3 exits 2" 2 "$VARIA" eval "$VAE" --data "$T/data.amat" --k -3
expect_rc "eval --threads -1 exits 2" 2 "$VARIA" eval "$VAE" --data "$T/data.amat" --threads -1
expect_rc "eval --binarize bogus exits 2" 2 "$VARIA" eval "$VAE" --data "$T/data.amat" --k 5 --binarize bogus
expect_rc "eval without --data exits 2" 2 "$VARIA" eval "$VAE" --k 5
# varia_dataset_load stat()s the path first: a missing file is VARIA_ERR_IO.
expect_rc "eval on a missing data file exits 3 (IO)" 3 "$VARIA" eval "$VAE" --data "$T/none.amat" --k 5
# 19 values on every line is a well-formed dataset of 19-value examples: the
# model needs 20, so the CLI reports VARIA_ERR_SHAPE.
expect_rc "eval on 19-value lines exits 15 (SHAPE)" 15 "$VARIA" eval "$VAE" --data "$T/data19.amat" --k 5
check "the SHAPE message names both sizes" grep -q "19.*20" "$T/err"
# Lines of different lengths are a malformed file: VARIA_ERR_DATASET.
expect_rc "eval on lines of 20 then 19 values exits 23 (DATASET)" 23 \
    "$VARIA" eval "$VAE" --data "$T/mixed.amat" --k 5
: >"$T/empty.amat"
expect_rc "eval on an empty data file exits 23 (DATASET)" 23 "$VARIA" eval "$VAE" --data "$T/empty.amat" --k 5
printf '0 1 2 0 1 0 0 1 1 1 0 0 1 0 1 0 1 1 0 0\n' >"$T/range.amat"
expect_rc "eval on .amat values outside [0,1] exits 23 (DATASET)" 23 \
    "$VARIA" eval "$VAE" --data "$T/range.amat" --k 5
mkdir "$T/emptydir"
expect_rc "eval on a folder without PNGs exits 23 (DATASET)" 23 "$VARIA" eval "$VAE" --data "$T/emptydir" --k 5

# ---- ais --------------------------------------------------------------------------
expect_rc "ais --help exits 0" 0 "$VARIA" ais --help
expect_rc "ais --data data.amat --chains 4 --steps 30 --json exits 0" 0 \
    "$VARIA" ais "$VAE" --data "$T/data.amat" --chains 4 --steps 30 --json --threads 1
strip_json "$T/out" >"$T/a1.json"
check "ais JSON has n, chains, steps, log_px_mean, accept_mean, step_size_mean" \
    grep -q '"n": 3, "chains": 4, "steps": 30, "leapfrog": 10.*"log_px_mean".*"accept_mean".*"step_size_mean"' "$T/out"
check "ais prints a progress line on stderr" err_has "ais: 100.0%"
expect_rc "ais --threads 2" 0 "$VARIA" ais "$VAE" --data "$T/data.amat" --chains 4 --steps 30 --json --threads 2 --quiet
strip_json "$T/out" >"$T/a2.json"
check "ais: --threads 1 and --threads 2 give identical results" cmp -s "$T/a1.json" "$T/a2.json"
check "ais --quiet prints no progress" test ! -s "$T/err"
expect_rc "ais on the 2-layer IWAE, text output, exits 0" 0 \
    "$VARIA" ais "$IWAE" --data "$T/data.amat" --chains 3 --steps 20 --quiet
check "ais text output reports the estimate" out_has "AIS log p(x)"
expect_rc "ais --sigma2 0.1 (Gaussian observation model) exits 0" 0 \
    "$VARIA" ais "$VAE" --data "$T/data.amat" --chains 2 --steps 10 --sigma2 0.1 --json --quiet
check "... and reports sigma2" out_has '"sigma2": 0.1,'
expect_rc "ais --bdmc 4 exits 0" 0 "$VARIA" ais "$VAE" --bdmc 4 --chains 3 --steps 30 --json --quiet
check "BDMC JSON has lower_mean, upper_mean, gap_mean" grep -q '"lower_mean".*"upper_mean".*"gap_mean"' "$T/out"
expect_rc "ais --from-encoder (AIS+encoder) exits 0" 0 \
    "$VARIA" ais "$VAE" --data "$T/data.amat" --chains 4 --steps 30 --json --quiet --from-encoder
check "... and says it started from the encoder" out_has '"start": "encoder"'
expect_rc "ais --from-encoder of a 2-layer IWAE exits 21 (UNSUPPORTED)" 21 \
    "$VARIA" ais "$IWAE" --data "$T/data.amat" --chains 2 --steps 5 --quiet --from-encoder
check "... naming its several stochastic layers" err_has "several stochastic layers"
expect_rc "ais --chains 0 exits 2" 2 "$VARIA" ais "$VAE" --data "$T/data.amat" --chains 0 --steps 5
check "... naming --chains" err_has "chains"
expect_rc "ais --steps 0 exits 2" 2 "$VARIA" ais "$VAE" --data "$T/data.amat" --chains 2 --steps 0
expect_rc "ais --sigma2 -1 exits 2" 2 "$VARIA" ais "$VAE" --data "$T/data.amat" --chains 2 --steps 5 --sigma2 -1
expect_rc "ais --sigma2 nan exits 2" 2 "$VARIA" ais "$VAE" --data "$T/data.amat" --chains 2 --steps 5 --sigma2 nan
expect_rc "ais without --steps exits 2" 2 "$VARIA" ais "$VAE" --data "$T/data.amat" --chains 2
expect_rc "ais with both --data and --bdmc exits 2" 2 \
    "$VARIA" ais "$VAE" --data "$T/data.amat" --bdmc 3 --chains 2 --steps 5
expect_rc "ais on a missing data file exits 3 (IO)" 3 "$VARIA" ais "$VAE" --data "$T/none.amat" --chains 2 --steps 5

# ---- broken models ------------------------------------------------------------------
cp -r "$ROOT/tests/golden/vae1_tanh_bern" "$T/m"
chmod -R u+w "$T/m"
head -c 120 "$T/m/model.json" >"$T/m/trunc.json"
expect_rc "a truncated manifest (bad JSON) exits 5 (JSON)" 5 "$VARIA" info "$T/m/trunc.json"
sed 's/"version": "1.0"/"version": "9.0"/' "$T/m/model.json" >"$T/m/v9.json"
expect_rc "a manifest with version 9.0 exits 7 (VERSION)" 7 "$VARIA" info "$T/m/v9.json"
sed 's/"version": "1.0"/"version": "1.3"/' "$T/m/model.json" >"$T/m/v13.json"
expect_rc "a manifest with version 1.3 loads (exit 0)" 0 "$VARIA" info "$T/m/v13.json"
sed 's/"family": "vae"/"family": "flow"/' "$T/m/model.json" >"$T/m/fam.json"
expect_rc "an unknown family exits 6 (MANIFEST)" 6 "$VARIA" info "$T/m/fam.json"
sed 's/"shape": \[/"shape": [2, /' "$T/m/model.json" >"$T/m/shape.json"
expect_rc "data shape [2,1,4,5] (contradicts the weights) exits 15 (SHAPE)" 15 "$VARIA" info "$T/m/shape.json"
sed 's/"format": "varia",/"format": "varia", "future": 1,/' "$T/m/model.json" >"$T/m/warn.json"
expect_rc "an unknown manifest key loads (exit 0)" 0 "$VARIA" info "$T/m/warn.json"
check "... and is reported as a warning on stderr" err_has "future"
cp "$T/m/model.safetensors" "$T/m/good.safetensors"
truncate -s -10 "$T/m/model.safetensors"
expect_rc "safetensors truncated by 10 bytes exits 9 (TRUNCATED)" 9 "$VARIA" info "$T/m/model.json"
expect_rc "sample from the truncated model exits 9 too" 9 "$VARIA" sample "$T/m/model.json" -n 2 -o "$T/x.png"
cp "$T/m/good.safetensors" "$T/m/model.safetensors"
printf 'xyz' >>"$T/m/model.safetensors"
expect_rc "safetensors with 3 trailing bytes exits 10 (TRAILING)" 10 "$VARIA" info "$T/m/model.json"
head -c 5 "$T/m/good.safetensors" >"$T/m/model.safetensors"
expect_rc "a 5-byte safetensors file exits 8 (HEADER)" 8 "$VARIA" info "$T/m/model.json"
rm -f "$T/m/model.safetensors"
expect_rc "a missing weights file exits 3 (IO)" 3 "$VARIA" info "$T/m/model.json"
cp "$T/m/good.safetensors" "$T/m/model.safetensors"
expect_rc "the restored copy loads (exit 0)" 0 "$VARIA" info "$T/m/model.json"

# ---- strict JSON; weights outside the manifest's folder ---------------------------------
sed 's/"latent": 3,/"latent": 3, "latent": 10,/' "$T/m/model.json" >"$T/m/dup.json"
expect_rc "a manifest with \"latent\" twice exits 18 (DUPLICATE)" 18 "$VARIA" info "$T/m/dup.json"
check "... naming the key and its object" err_has '"latent".*architecture.layers\[0\]'
mkdir "$T/m/sub"
sed 's|"file": "model.safetensors"|"file": "../model.safetensors"|' "$T/m/model.json" >"$T/m/sub/up.json"
expect_rc "a manifest naming ../model.safetensors exits 6 (MANIFEST)" 6 "$VARIA" info "$T/m/sub/up.json"
check "... saying how to allow it" err_has "allow-outside-weights"
expect_rc "... and loads with --allow-outside-weights" 0 "$VARIA" info "$T/m/sub/up.json" --allow-outside-weights
expect_rc "sample takes --allow-outside-weights too" 0 \
    "$VARIA" sample --allow-outside-weights "$T/m/sub/up.json" -n 2 -o "$T/up.png"
sed "s|\"file\": \"model.safetensors\"|\"file\": \"$T/m/model.safetensors\"|" "$T/m/model.json" >"$T/m/abs.json"
expect_rc "a manifest naming its weights by an absolute path exits 6 (MANIFEST)" 6 "$VARIA" info "$T/m/abs.json"
expect_rc "... and loads with --allow-outside-weights" 0 "$VARIA" info "$T/m/abs.json" --allow-outside-weights
expect_rc "train does not take --allow-outside-weights (exit 2)" 2 "$VARIA" train "$T/none.json" --allow-outside-weights

# ---- varia train --------------------------------------------------------------------
if "$VARIA" train --help >/dev/null 2>&1; then
    printf '0 1 0 1 1 0\n1 1 0 0 1 1\n0 0 1 1 0 1\n1 0 1 0 0 0\n0 1 1 0 1 0\n1 1 1 0 0 1\n' >"$T/tiny.amat"
    cat >"$T/train.json" <<EOF2
{"architecture": {"activation": "tanh", "likelihood": {"type": "bernoulli"},
                  "layers": [{"latent": 2, "encoder": [4], "decoder": [4]}]},
 "data": {"train": "$T/tiny.amat", "validation": 2, "binarize": "none"},
 "objective": {"kind": "iwae", "k": 3}, "schedule": {"kind": "constant", "epochs": 3},
 "batch": 2, "validation": {"every": 1, "k": 4}, "output": "$T/trained"}
EOF2
    expect_rc "train: a 3-epoch run exits 0" 0 "$VARIA" train "$T/train.json" --threads 2
    check "... prints a JSON report with the epochs run" out_has '"epochs_run":3'
    check "... logs every epoch with its validation bound" err_has "epoch 3/3 .* valid"
    expect_rc "... and writes a model the runtime loads" 0 "$VARIA" info "$T/trained/model.json"
    check "... whose provenance names the command" out_has "varia train"
    expect_rc "the checkpoint is a loadable model too (exit 0)" 0 "$VARIA" info "$T/trained/checkpoint/model.json"
    expect_rc "a fresh run over an earlier run's checkpoint is refused (exit 2)" 2 "$VARIA" train "$T/train.json"
    check "... saying to --resume" err_has "resume"
    expect_rc "--resume of a finished run exits 0" 0 "$VARIA" train "$T/train.json" --resume
    check "... and runs no epoch" out_has '"epochs_this_process":0'
    expect_rc "train with no config is a usage error (exit 2)" 2 "$VARIA" train
    sed 's/"batch": 2/"batch": 2, "bacth": 3/' "$T/train.json" >"$T/typo.json"
    expect_rc "a misspelt config key exits 6 (MANIFEST)" 6 "$VARIA" train "$T/typo.json"
    check "... naming the key" err_has "bacth"
    expect_rc "a missing config file exits 3 (IO)" 3 "$VARIA" train "$T/none.json"
    printf '{"architecture": ' >"$T/broken.json"
    expect_rc "a truncated config exits 5 (JSON)" 5 "$VARIA" train "$T/broken.json"
    sed "s|\"output\": \"$T/trained\"|\"output\": \"$T/deep/er/trained\"|" "$T/train.json" >"$T/deep.json"
    expect_rc "train into an output whose parents are missing exits 0" 0 "$VARIA" train "$T/deep.json" --quiet
    check "... creating them and writing the model" test -f "$T/deep/er/trained/model.json"
    sed -e "s|\"output\": \"$T/trained\"|\"output\": \"$T/data.amat\"|" \
        -e "s|\"train\": \"$T/tiny.amat\"|\"train\": \"$T/none.amat\"|" "$T/train.json" >"$T/outfile.json"
    expect_rc "train into an output that is a file exits 3 (IO)" 3 "$VARIA" train "$T/outfile.json"
    check "... checked before the data is loaded: the message names the output" err_has "data.amat' is not a directory"
else
    skip "varia train" "built without the training module"
fi

# ---- refused before working; messages that name the real problem ----------------------
# Commands a long run would end in failure are refused first, saying so; a
# command that writes a file says what it wrote.
# limit CMD...: CMD, killed after 60 s where timeout(1) exists (a regression
# would otherwise run for hours; 124 then fails the check).
limit() { if command -v timeout >/dev/null 2>&1; then timeout 60 "$@"; else "$@"; fi; }
expect_rc "sample -n 1048576 (a grid 629k pixels tall) exits 20 (TOO_LARGE)" 20 \
    limit "$VARIA" sample "$VAE" -n 1048576 -o "$T/huge.png"
check "... refused before sampling, and says so" err_has "refused before sampling"
check "... and writes no file" test ! -e "$T/huge.png"
sed '/"shape": \[/{n;d;}' "$T/m/model.json" >"$T/m/rank2.json"
expect_rc "a model with data shape [4, 5] (rank 2) loads" 0 "$VARIA" info "$T/m/rank2.json"
check "... as 4x5" out_has "data shape:  4x5$"
expect_rc "sample from the [4, 5] model exits 0" 0 "$VARIA" sample "$T/m/rank2.json" -n 6 --seed 3 -o "$T/r2.png"
check "... and writes the same PNG as the [1, 4, 5] model" cmp -s "$T/r2.png" "$T/s3a.png"
expect_rc "decode -o exits 0" 0 "$VARIA" decode "$VAE" z:0.1,0.2,0.3 -o "$T/dec2.png"
check "... and says what it wrote, where" out_has "wrote .* to $T/dec2.png"
expect_rc "reconstruct exits 0" 0 "$VARIA" reconstruct "$VAE" --data "$T/data.amat" --limit 2 -o "$T/rec2.png"
check "... and says what it wrote: 2 examples and their reconstructions" out_has "wrote 2 example.* to $T/rec2.png"
check "... a PNG" is_png "$T/rec2.png"
expect_rc "decode z:1e39,0,0 exits 2" 2 "$VARIA" decode "$VAE" z:1e39,0,0 -o "$T/x.png"
check "... saying value 1 is out of range (not a count problem)" err_has "value 1 (1e39) is out of range"
expect_rc "decode z:0,0 (model latent 3) exits 2" 2 "$VARIA" decode "$VAE" z:0,0 -o "$T/x.png"
check "... saying it has fewer than 3 numbers" err_has "fewer than 3 numbers"
expect_rc "encode data.amat:-1 exits 2 (a bad index, not a PNG path)" 2 "$VARIA" encode "$VAE" "$T/data.amat:-1"
check "... saying the index is no example number" err_has "index '-1' is not an example number"
expect_rc "encode data.amat:99999999999999999999 exits 2" 2 "$VARIA" encode "$VAE" "$T/data.amat:99999999999999999999"
expect_rc "encode data.amat:5 exits 2" 2 "$VARIA" encode "$VAE" "$T/data.amat:5"
check "... saying the file holds 3 examples" err_has "holds 3 example(s): index 5 is out of range"
# IDX images of the model's size but another geometry: 2 images of 2x10 (20
# values, as the model's 4x5); and 2 images of 4x5, which fit.
idx() { printf '\000\000\010\003\000\000\000\002\000\000\000%b\000\000\000%b' "$2" "$3" >"$1"; head -c 40 /dev/zero >>"$1"; }
idx "$T/g210-images-idx3-ubyte" '\002' '\012'
idx "$T/g45-images-idx3-ubyte" '\004' '\005'
expect_rc "eval on IDX images of 2x10 for a 4x5 model exits 15 (SHAPE)" 15 \
    "$VARIA" eval "$VAE" --data "$T/g210-images-idx3-ubyte" --k 2
check "... naming both geometries" err_has "holds 10x2 images with 1 channel(s); the model needs 5x4"
expect_rc "encode of one such image exits 15" 15 "$VARIA" encode "$VAE" "$T/g210-images-idx3-ubyte:0"
expect_rc "reconstruct of them exits 15" 15 "$VARIA" reconstruct "$VAE" --data "$T/g210-images-idx3-ubyte" -o "$T/x.png"
expect_rc "eval on IDX images of 4x5 exits 0" 0 "$VARIA" eval "$VAE" --data "$T/g45-images-idx3-ubyte" --k 2
expect_rc "slerp whose path leaves float range exits 19 (NONFINITE)" 19 \
    "$VARIA" interpolate "$VAE" z:3e38,3e38,0 z:3e38,-3e38,0 --steps 3 --slerp -o "$T/x.png"
check "... saying the slerp path leaves float range" err_has "slerp path between these latents leaves float range"
# ---- DRAW's canvases, GAN refusals, Parzen -----------------------------------------
DRAW=$ROOT/tests/golden/draw_full/model.json  # [1,5,7], 3 steps
GAN=$ROOT/tests/golden/gan_mlp/model.json      # data [20]
expect_rc "sample --steps of a DRAW model exits 0" 0 "$VARIA" sample "$DRAW" -n 2 --steps -o "$T/steps.png"
check "... and writes a PNG" is_png "$T/steps.png"
check "... of 3 columns (steps) by 2 rows: 3*7+4*2 = 29 wide, 2*5+3*2 = 16 high" png_size "$T/steps.png" 29 16
expect_rc "sample --steps of a VAE exits 21 (UNSUPPORTED)" 21 "$VARIA" sample "$VAE" -n 2 --steps -o "$T/x.png"
printf '%s\n' "0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1" "1 1 0 0 1 1 0 0 1 1 0 0 1 1 0 0 1 1 0 0" >"$T/g20.amat"
expect_rc "eval of a GAN exits 21 (UNSUPPORTED)" 21 "$VARIA" eval "$GAN" --data "$T/g20.amat" --k 2
check "... naming AIS" err_has "AIS"
expect_rc "parzen with --sigma exits 0" 0 "$VARIA" parzen "$GAN" --data "$T/g20.amat" --samples 50 --sigma 0.5 --json
check "... and labels its output as Parzen" out_has '"estimator": "parzen"'
expect_rc "parzen with both --sigma and --select exits 2" 2 \
    "$VARIA" parzen "$GAN" --data "$T/g20.amat" --sigma 0.5 --select "$T/g20.amat"
expect_rc "parzen --dequantize of 0/1 data exits 0" 0 \
    "$VARIA" parzen "$GAN" --data "$T/g20.amat" --samples 50 --select "$T/g20.amat" --dequantize
check "... choosing sigma on the selection data" out_has "sigma 1.0000"
GANLIN=$ROOT/tests/golden/gan_linear/model.json  # data [3], its manifest gives sigma2
printf '%s\n' "0 1 1" "1 0 1" >"$T/g3.amat"
expect_rc "encode of a GAN whose manifest gives sigma2 exits 0" 0 "$VARIA" encode "$GANLIN" "$T/g3.amat:1"
check "... printing the inverted latent and its reconstruction error" out_has '"mse"'
expect_rc "ais of a GAN whose manifest gives sigma2, without --sigma2, exits 0" 0 \
    "$VARIA" ais "$GANLIN" --data "$T/g3.amat" --chains 2 --steps 5 --json --quiet
check "... and reports the manifest's sigma2, the one used" out_has "\"sigma2\": $(sed -n 's/.*"sigma2": *\([0-9.e-]*\).*/\1/p' "$(dirname "$GANLIN")/model.json"),"
expect_rc "encode of a GAN without an observation variance exits 2" 2 "$VARIA" encode "$GAN" "$T/g20.amat:0"
# --binarize dequantize: Wu et al.'s continuous MNIST, (v + u)/256 seeded by --seed.
expect_rc "ais --binarize dequantize exits 0" 0 \
    "$VARIA" ais "$GANLIN" --data "$T/g3.amat" --chains 2 --steps 5 --json --quiet --binarize dequantize
cp "$T/out" "$T/dq1.json"
check "... and says so in its JSON" out_has '"binarize": "dequantize"'
lp() { sed -n 's/.*"log_px_mean": \([-0-9.e]*\).*/\1/p' "$1"; }
"$VARIA" ais "$GANLIN" --data "$T/g3.amat" --chains 2 --steps 5 --json --quiet --binarize dequantize >"$T/dq2.json"
check "... the same seed gives the same estimate" test "$(lp "$T/dq1.json")" = "$(lp "$T/dq2.json")"
"$VARIA" ais "$GANLIN" --data "$T/g3.amat" --chains 2 --steps 5 --json --quiet >"$T/dq0.json"
check "... and scores other data than --binarize none" test "$(lp "$T/dq0.json")" != "$(lp "$T/dq1.json")"
"$VARIA" ais "$GANLIN" --data "$T/g3.amat" --chains 2 --steps 5 --json --quiet --binarize dequantize --seed 7 >"$T/dq3.json"
check "... another seed, other noise" test "$(lp "$T/dq3.json")" != "$(lp "$T/dq1.json")"
printf '%s\n' "0 0.3 1" >"$T/g3x.amat"
expect_rc "ais --binarize dequantize of data that are not 8-bit exits 2" 2 \
    "$VARIA" ais "$GANLIN" --data "$T/g3x.amat" --chains 2 --steps 5 --binarize dequantize --quiet
check "... naming the file and the value" err_has "g3x.amat' example 0 has 0.3"
expect_rc "eval --binarize dequantize exits 0" 0 "$VARIA" eval "$VAE" --data "$T/data.amat" --k 4 --json --binarize dequantize
check "... and says so in its JSON" out_has '"binarize": "dequantize"'
expect_rc "eval --binarize frob exits 2 listing dequantize" 2 "$VARIA" eval "$VAE" --data "$T/data.amat" --binarize frob
check "... naming the choices" err_has "none or dequantize"
# A long run in pieces: --skip K --limit N gives the rows of one run (streams and
# dequantization noise keyed by the index in the file).
"$VARIA" ais "$GANLIN" --data "$T/g3.amat" --chains 2 --steps 8 --quiet --binarize dequantize --per-example "$T/pe_all.csv" >/dev/null
"$VARIA" ais "$GANLIN" --data "$T/g3.amat" --chains 2 --steps 8 --quiet --binarize dequantize --limit 1 --per-example "$T/pe_a.csv" >/dev/null
"$VARIA" ais "$GANLIN" --data "$T/g3.amat" --chains 2 --steps 8 --quiet --binarize dequantize --skip 1 --per-example "$T/pe_b.csv" >/dev/null
check "ais --per-example: a header and one row per example" [ "$(wc -l < "$T/pe_all.csv")" = 3 ]
check "ais --limit 1 then --skip 1: the rows of one run, bit for bit" \
    cmp -s "$T/pe_all.csv" <(cat "$T/pe_a.csv"; tail -n +2 "$T/pe_b.csv")
expect_rc "ais --skip past the data exits 2" 2 "$VARIA" ais "$GANLIN" --data "$T/g3.amat" --chains 2 --steps 5 --skip 2 --quiet
check "... naming the examples the file has" err_has "has 2 examples"
expect_rc "ais --bdmc with --skip exits 2" 2 "$VARIA" ais "$GANLIN" --bdmc 2 --chains 2 --steps 5 --skip 1 --quiet
# ---- invert: a GAN inverted over a dataset ------------------------------------------
DCGAN=$ROOT/tests/golden/gan_dcgan/model.json  # [1,16,16], latent 6, tanh; no sigma2 in its manifest
{ printf '\000\000\010\003\000\000\000\003\000\000\000\020\000\000\000\020'
  LC_ALL=C awk 'BEGIN { for (i = 0; i < 768; i++) printf "%c", (i * 37 + int(i / 16) * 11) % 256 }'; } >"$T/d16-images-idx3-ubyte"
INV="--data $T/d16-images-idx3-ubyte --sigma2 0.05 --starts 2 --steps 20 --seed 3"
expect_rc "invert of a DCGAN on three 16x16 images (--threads 1) exits 0" 0 \
    "$VARIA" invert "$DCGAN" $INV --threads 1 --json --per-example "$T/inv1.csv" -o "$T/inv1.png"
cp "$T/out" "$T/inv1.json"
check "... reporting 3 examples, 2 starts, 20 steps, sigma2 0.05" \
    out_has '"n": 3, "starts": 2, "steps": 20, "sigma2": 0.05, "seed": 3, '
check "... writing the header index,mse,log_pz,log_px_z,log_joint and a row per example" \
    test "$(head -n 1 "$T/inv1.csv")" = "index,mse,log_pz,log_px_z,log_joint" -a "$(wc -l < "$T/inv1.csv")" = 4
json_num() { sed -n "s/.*\"$1\": \([-0-9.e+]*\).*/\1/p" "$2"; }
check "... whose mse_mean is the mean of the rows' mse" awk -F, -v m="$(json_num mse_mean "$T/inv1.json")" \
    'NR > 1 {s += $2; k++} END {d = s / k - m; exit !(k == 3 && m > 0 && d * d < 1e-16 * m * m)}' "$T/inv1.csv"
check "... and log_joint_mean the mean of the rows' log_pz + log_px_z" awk -F, \
    -v m="$(json_num log_joint_mean "$T/inv1.json")" \
    'NR > 1 {s += $3 + $4; d = $5 - $3 - $4; if (d * d > 1e-10) bad = 1} END {d = s / 3 - m; exit bad || !(d * d < 1e-8)}' \
    "$T/inv1.csv"
check "... each log_px_z the Gaussian's -D/2 log(2 pi s2) - D mse / (2 s2), D = 256, s2 = 0.05" awk -F, \
    'NR > 1 {e = -128 * log(2 * 3.141592653589793 * 0.05) - 256 * $2 / 0.1 - $4; if (e * e > 1e-6 * $4 * $4) bad = 1}
     END {exit bad}' "$T/inv1.csv"
check "... the mean and standard error of the rows' mse" awk -F, -v se="$(json_num mse_stderr "$T/inv1.json")" \
    'NR > 1 {x[NR] = $2; s += $2} END {m = s / 3; for (i in x) v += (x[i] - m) ^ 2; d = sqrt(v / 2 / 3) - se;
     exit !(se > 0 && d * d < 1e-12 * se * se)}' "$T/inv1.csv"
check "... and a PNG of 3 originals above 3 reconstructions: 3*16+4*2 = 56 wide, 2*16+3*2 = 38 high" \
    png_size "$T/inv1.png" 56 38
expect_rc "invert -o --show 2 exits 0" 0 "$VARIA" invert "$DCGAN" $INV --steps 2 -o "$T/inv_show.png" --show 2
check "... showing the first 2 of the 3 images: 2*16+3*2 = 38 wide, 38 high" png_size "$T/inv_show.png" 38 38
expect_rc "invert --show 0 exits 2" 2 "$VARIA" invert "$DCGAN" $INV -o "$T/x.png" --show 0
check "... naming --show" err_has "\-\-show"
expect_rc "invert with --threads 2 exits 0" 0 \
    "$VARIA" invert "$DCGAN" $INV --threads 2 --json --per-example "$T/inv2.csv" -o "$T/inv2.png"
check "... the same rows, bytes for bytes" cmp -s "$T/inv1.csv" "$T/inv2.csv"
check "... the same PNG" cmp -s "$T/inv1.png" "$T/inv2.png"
check "... the same summary but for threads and time" test "$(strip_json "$T/inv1.json")" = "$(strip_json "$T/out")"
expect_rc "invert --limit 1 exits 0" 0 "$VARIA" invert "$DCGAN" $INV --limit 1 --per-example "$T/inv3.csv"
check "... giving example 0 the same row as in the set of three" test "$(sed -n 2p "$T/inv3.csv")" = "$(sed -n 2p "$T/inv1.csv")"
check "... in text: the mean squared error with its standard error 0" out_has "^MSE: .* +- 0.000000"
expect_rc "invert of a GAN whose manifest gives sigma2 (no --sigma2) exits 0" 0 \
    "$VARIA" invert "$GANLIN" --data "$T/g3.amat" --steps 50 --json
check "... reporting the manifest's sigma2" out_has '"sigma2": 0.3,'
expect_rc "invert --starts 0 exits 2" 2 "$VARIA" invert "$DCGAN" $INV --starts 0
check "... naming --starts" err_has "\-\-starts"
expect_rc "invert --steps 100001 exits 2" 2 "$VARIA" invert "$DCGAN" $INV --steps 100001
check "... naming --steps" err_has "\-\-steps"
expect_rc "invert --sigma2 -1 exits 2" 2 "$VARIA" invert "$DCGAN" $INV --sigma2 -1
check "... naming --sigma2" err_has "\-\-sigma2"
expect_rc "invert without --data exits 2" 2 "$VARIA" invert "$DCGAN" --sigma2 0.05
check "... naming --data" err_has "\-\-data"
expect_rc "invert of a GAN with no observation variance and no --sigma2 exits 2" 2 \
    "$VARIA" invert "$GAN" --data "$T/g20.amat"
check "... naming sigma2" err_has "sigma2"
expect_rc "invert of a VAE exits 21 (UNSUPPORTED)" 21 "$VARIA" invert "$VAE" --data "$T/g45-images-idx3-ubyte"
check "... saying to use encode" err_has "use encode"

# ---- a sequence model on .npz sequences (x [6, 3], lengths [2]) ----------------------
expect_rc "eval of a VRNN on an .npz of two sequences exits 0" 0 \
    "$VARIA" eval "$ROOT/tests/golden/vrnn_gmm_gru/model.json" --data "$ROOT/tests/npy/dtype_f8.npz" --k 4 --json
check "... counting their 6 frames for the per-step figure" out_has '"frames": 6'
expect_rc "eval of a 6-value-frame VRNN on 3-value frames exits 15 (SHAPE)" 15 \
    "$VARIA" eval "$ROOT/tests/golden/vrnn_gru/model.json" --data "$ROOT/tests/npy/dtype_f8.npz" --k 4
check "... naming both frame sizes" err_has "frames of 3 values; the model's are 6"
expect_rc "reconstruct of a VRNN on an .npz of two sequences exits 0" 0 \
    "$VARIA" reconstruct "$ROOT/tests/golden/vrnn_gmm_gru/model.json" --data "$ROOT/tests/npy/dtype_f8.npz" -o "$T/rr.png"
check "... writing 4 piano rolls (each sequence above its reconstruction) of 3 x 4: 8 wide, 4 x 3 + 5 x 2 high" \
    [ "$(head -c 24 "$T/rr.png" | tail -c 8 | od -An -tu1 | tr -s ' ')" = " 0 0 0 8 0 0 0 22" ]
expect_rc "reconstruct of a 6-value-frame VRNN on 3-value frames exits 15 (SHAPE)" 15 \
    "$VARIA" reconstruct "$ROOT/tests/golden/vrnn_gru/model.json" --data "$ROOT/tests/npy/dtype_f8.npz" -o "$T/rr.png"
expect_rc "reconstruct --stride of a VRNN exits 2" 2 \
    "$VARIA" reconstruct "$ROOT/tests/golden/vrnn_gmm_gru/model.json" --data "$ROOT/tests/npy/dtype_f8.npz" \
    --stride 2 -o "$T/rr.png"
expect_rc "eval --binarize dequantize of sequences exits 2" 2 \
    "$VARIA" eval "$ROOT/tests/golden/vrnn_gmm_gru/model.json" --data "$ROOT/tests/npy/dtype_f8.npz" --k 4 \
    --binarize dequantize
check "... saying it is for images" err_has "dequantize is for images"

SHIPPED=$ROOT/models/vae-mnist-dyn
if [ -f "$SHIPPED/model.json" ]; then
    expect_rc "eval --k 4294967296 on the shipped 784-200-200-50 model exits 20 (TOO_LARGE) at once" 20 \
        limit "$VARIA" eval "$SHIPPED/model.json" --data "$SHIPPED/heldout-images-idx3-ubyte.gz" --k 4294967296 --limit 1
    check "... saying one example would take an hour or more" err_has "an hour or more per example"
else
    skip "eval with a k of hours per example" "no shipped model"
fi

# ---- sequence models (vrnn): piano rolls, eval of IDX images as rows ----------------------
VRNN=$ROOT/tests/golden/vrnn_rows28/model.json  # frames of 28
expect_rc "sample of a vrnn without --length exits 2" 2 "$VARIA" sample "$VRNN" -n 2 -o "$T/x.png"
check "... naming --length" err_has "needs --length"
expect_rc "sample --length of a VAE exits 2" 2 "$VARIA" sample "$VAE" -n 2 --length 5 -o "$T/x.png"
expect_rc "sample --length 40 -n 3 of a vrnn exits 0" 0 "$VARIA" sample "$VRNN" --length 40 -n 3 --seed 4 -o "$T/roll.png"
check "... writing a PNG" is_png "$T/roll.png"
check "... of three 28x40 piano rolls stacked, padded by 2 (44 wide, 3 x 28 + 4 x 2 high)" \
    [ "$(head -c 24 "$T/roll.png" | tail -c 8 | od -An -tu1 | tr -s ' ')" = " 0 0 0 44 0 0 0 92" ]
run "$VARIA" sample "$VRNN" --length 40 -n 3 --seed 4 -o "$T/roll2.png"
check "... the same seed, the same bytes" cmp -s "$T/roll.png" "$T/roll2.png"
expect_rc "sample -o x.mid of a vrnn of 28-value frames exits 2" 2 "$VARIA" sample "$VRNN" --length 4 -n 1 -o "$T/x.mid"
check "... saying MIDI needs frames of 88 notes" err_has "needs frames of 88 notes"
JSBM=$ROOT/models/vrnn-jsb/model.json
if [ -f "$JSBM" ]; then
    expect_rc "sample -o x.mid of the JSB VRNN exits 0" 0 "$VARIA" sample "$JSBM" --length 16 -n 2 --seed 1 -o "$T/s.mid"
    check "... writing a Standard MIDI File: format 0, 1 track, 4 ticks a quarter" \
        [ "$(head -c 18 "$T/s.mid" | od -An -tx1 | tr -d ' \n')" = "4d546864000000060000000100044d54726b" ]
    check "... whose track length is the file's size less its 22 header bytes" \
        [ "$(head -c 22 "$T/s.mid" | tail -c 4 | od -An -tu1 | awk '{print $1*16777216+$2*65536+$3*256+$4}')" \
          = "$(($(stat -c %s "$T/s.mid") - 22))" ]
else
    skip "MIDI of the JSB VRNN" "no shipped model"
fi
expect_rc "sample --length 12 -n 3 -o .npy of a vrnn exits 0" 0 "$VARIA" sample "$VRNN" --length 12 -n 3 --seed 4 -o "$T/seq.npy"
if [ "$have_python" = 1 ]; then
    check "... a .npy [3, 12, 28] of 0/1 frames" eval 'npy_check "$T/seq.npy" "(3, 12, 28)" && python3 -c "
import struct, sys
b = open(sys.argv[1], \"rb\").read(); hl = struct.unpack(\"<H\", b[8:10])[0]
assert set(struct.unpack(\"<1008f\", b[10 + hl:])) <= {0.0, 1.0}" "$T/seq.npy"'
else
    skip "sample --length -o .npy: the header" "no python3"
fi
if [ -x "$DUMP" ]; then
    check "... the frames varia_sample_ex draws (varia_dump sample_seq 3 12 4 1), bit for bit" \
        cmp -s <(npy_data "$T/seq.npy") <("$DUMP" "$VRNN" sample_seq 3 12 4 1)
else
    skip "sample --length -o .npy against varia_dump" "no varia_dump given"
fi
expect_rc "... which 'varia eval --data' reads back" 0 "$VARIA" eval "$VRNN" --data "$T/seq.npy" --k 2 --json
check "... as 3 sequences of 12 frames" out_has '"n": 3, "k": 2, "seq_len": 12, "frames": 36'
expect_rc "sample -o x.jpg of a vrnn exits 2" 2 "$VARIA" sample "$VRNN" --length 4 -n 1 -o "$T/x.jpg"
check "... naming .png, .npy or .mid" err_has "must end in .png, .npy or .mid"
if [ -f "$SHIPPED/heldout-images-idx3-ubyte.gz" ]; then
    expect_rc "eval of a vrnn on IDX images (28 frames of 28) exits 0" 0 \
        "$VARIA" eval "$VRNN" --data "$SHIPPED/heldout-images-idx3-ubyte.gz" --limit 20 --k 5 --json
    check "... reporting 560 frames and the log-likelihood per step" out_has '"frames": 560, "log_px_per_step": -'
else
    skip "eval of a vrnn on IDX images" "no shipped images"
fi
expect_rc "eval --per-example of a vrnn on two .npz sequences exits 0" 0 \
    "$VARIA" eval "$ROOT/tests/golden/vrnn_gmm_gru/model.json" --data "$ROOT/tests/npy/dtype_f8.npz" --k 4 --json \
    --per-example "$T/seq.csv"
check "... writing the header index,frames,log_px,elbo,recon,kl and one row per sequence" \
    test "$(head -n 1 "$T/seq.csv")" = "index,frames,log_px,elbo,recon,kl" -a "$(wc -l < "$T/seq.csv")" = 3
check "... whose frames add up to the set's 6" test "$(awk -F, 'NR > 1 {s += $2} END {print s}' "$T/seq.csv")" = 6
seq_step=$(awk -F, 'NR > 1 {l += $3; f += $2} END {printf "%.6f", l / f}' "$T/seq.csv")
check "... whose log_px total over total frames is the printed log p per step ($seq_step)" \
    out_has "\"log_px_per_step\": $seq_step"
expect_rc "eval of a vrnn on 4x5 images (not whole frames of 28) exits 15 (SHAPE)" 15 \
    "$VARIA" eval "$VRNN" --data "$T/g45-images-idx3-ubyte" --k 2

# ---- summary --------------------------------------------------------------------------
if [ "$signals" -eq 0 ]; then ok "no command died by a signal"; else notok "no command died by a signal" "$signals did"; fi
echo "# passed $((n - fail)) failed $fail"
[ "$fail" -eq 0 ]
