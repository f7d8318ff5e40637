"""PyTorch side of bench/flows.sh: the importance-weighted log-likelihood (IW, k samples
per image) of a one-stochastic-layer Bernoulli VAE with or without a flow posterior
(docs/format.md section 2.3: planar, radial, IAF), in the strongest form we could write,
on the same weights as varia (loaded with tools/torch/varia_ref.py).

    bench_flows.py data OUT.amat --n N [--seed S] [--source IDX.gz]
    bench_flows.py run MODEL.json DATA.amat [--threads T] [--n N] [--k K] [--repeats R]
                       [--chunk C] [--seed S]
    bench_flows.py agree MODEL.json DATA.amat VARIA.csv [--n N] [--k K] [--seed S]
                       [--tol NATS]
    bench_flows.py report RAW_DIR [--command C] [--machine M] [--commit H] [--threads "1 2"]
                       [--rounds R] [--data DATA]

data:  the first N MNIST test images, dynamically binarized once (pixel/255 as the
       probability of a 1, numpy RandomState(S)), written as a 0/1 .amat that varia and
       PyTorch both read as given.
run:   times the IW estimate (RESULT lines on stdout, as bench/bench_torch.py prints).
agree: recomputes every image's L_k with varia's own noise (its splitmix64 +
       Box-Muller stream, keyed (seed, IW, image, chunk of 256), reproduced in numpy)
       in the timed form, and compares it with `varia eval --per-example`'s CSV.

The timed form (class FlowFast): float32, torch.inference_mode(), torch's threads T;
per image the encoder, the amortized flow heads (or IAF context, folded into the first
MADE bias) and û run once; the k samples go through in chunks (1000, 2500 or k,
fastest in a warm-up, or --chunk); planar steps are rewritten as two products over
all steps at once plus a K-step recurrence on [m] vectors; IAF's MADE weights are
masked, transposed and (for tanh) doubled once, its two heads one product; the
decoder is bench_torch.Fast's (addmm into reused buffers, tanh as 2 sigmoid(2a) - 1,
softplus as log(1 + exp)). Before timing, log w is checked against varia_ref's
generic code on the same noise.
"""
import argparse
import gzip
import math
import os
import sys
import time

import numpy as np

from bench_torch import log, read_amat  # noqa: E402  (bench/, beside this file)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tools", "torch"))
sys.path.insert(0, HERE)

LOG_2PI = math.log(2.0 * math.pi)
IW_CHUNK = 256  # varia's samples per noise stream (runtime/family.h VARIA_WS_ROWS)
MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15




# ---------------------------------------------------------------- varia's noise, in numpy

def _mix64(z):
    """splitmix64's finalizer on a uint64 array (wrapping arithmetic), as runtime/rng.c."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _mix64_int(z):
    """The same finalizer on one Python int (0 <= z < 2^64)."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def varia_stream(seed, purpose, a, b):
    """Initial state of varia_rng_init(seed, purpose, a, b) (runtime/rng.c)."""
    k = _mix64_int((seed + GOLDEN) & MASK64)
    k = _mix64_int(k ^ ((purpose * 0xD6E8FEB86659FD93) & MASK64))
    k = _mix64_int(k ^ ((a * 0xA0761D6478BD642F + 1) & MASK64))
    return _mix64_int(k ^ ((b * 0xE7037ED1A0B428DB + 2) & MASK64))


def varia_normals(state, n):
    """varia_rng_normals(n) from a fresh state, n even: float32 [n]. Box-Muller as
    runtime/rng.c with exact log/sin/cos (varia's are within 2 ulp of them)."""
    assert n % 2 == 0
    pairs = n // 2
    with np.errstate(over="ignore"):
        i = np.arange(1, pairs + 1, dtype=np.uint64)
        z = _mix64(np.uint64(state) + i * np.uint64(GOLDEN))
    scale = np.float32(2.3283064e-10)
    u1 = ((z >> np.uint64(32)).astype(np.float32) + np.float32(0.5)) * scale
    u2 = (z & np.uint64(0xFFFFFFFF)).astype(np.float32) * scale
    top = np.float32(0.99999994)
    u1, u2 = np.minimum(u1, top).astype(np.float64), np.minimum(u2, top).astype(np.float64)
    rad = np.sqrt(-2.0 * np.log(u1))
    out = np.empty(n, dtype=np.float64)
    out[0::2] = rad * np.cos(2.0 * np.pi * u2)
    out[1::2] = rad * np.sin(2.0 * np.pi * u2)
    return out.astype(np.float32)


def varia_iw_noise(seed, image, k, d):
    """The [k, d] noise varia_eval draws for one image (stream VARIA_STREAM_IW = 1,
    keyed by image and chunk of 256 samples; row-major [samples, d] within a chunk)."""
    parts = []
    for c in range((k + IW_CHUNK - 1) // IW_CHUNK):
        cnt = min(IW_CHUNK, k - c * IW_CHUNK)
        parts.append(varia_normals(varia_stream(seed, 1, image, c), cnt * d).reshape(cnt, d))
    return np.concatenate(parts)


# ---------------------------------------------------------------- the timed form

def _fast_class():
    """FlowFast, defined once torch is imported (it subclasses bench_torch.Fast)."""
    import torch
    import bench_torch
    import varia_ref

    class FlowFast(bench_torch.Fast):
        """log w of a one-layer Bernoulli VAE with an optional planar/radial/IAF flow,
        in the fastest forms found. Use: p = prepare(x) once per image, then
        log_w(p, eps) per chunk of noise eps [m, d] -> log w [m] (float32). Buffers
        of the decoder are reused per chunk size (bench_torch.Fast)."""

        def __init__(self, model):
            """Take the weights of a varia_ref.VariaVAE (one stochastic layer,
            Bernoulli); mask, transpose, double and concatenate what can be once."""
            super().__init__(model, torch)
            self.model = model
            enc = model.enc1
            self.enc_hidden_mods = list(enc.hidden)
            self.flow_spec = model.flow_spec
            self.kind = None if self.flow_spec is None else self.flow_spec["type"]
            d = self.L
            if self.kind in ("planar", "radial"):
                self.steps = int(self.flow_spec["steps"])
                self.amortized = self.flow_spec.get("params") == "amortized"
                if self.amortized:
                    self.flow_head = (enc.flow.weight.detach().contiguous(), enc.flow.bias.detach().contiguous())
                else:  # global: the raw per-step tensors, as [K, ...]
                    g = model.flow
                    if self.kind == "planar":
                        self.glob = torch.cat([torch.cat([s.u, s.w, s.b]) for s in g]).detach()
                    else:
                        self.glob = torch.cat([torch.cat([s.z0, s.alpha, s.beta]) for s in g]).detach()
            elif self.kind == "iaf":
                self.context = ((enc.context.weight.detach(), enc.context.bias.detach())
                                if hasattr(enc, "context") else None)
                self.iaf = []
                for st in model.flow:
                    tanh = st.act is torch.tanh
                    two = 2.0 if tanh else 1.0
                    lin = getattr(st, "in")
                    w_in = (two * lin.weight.detach() * st.mask_in).t().contiguous()
                    b_in = two * lin.bias.detach()
                    w_ctx = None if st.ctx is None else two * st.ctx.weight.detach()
                    hid = []
                    for j in range(1, len(st.hidden) + 1):
                        l = st.hidden[str(j)]
                        hid.append(((two * l.weight.detach() * getattr(st, "mask_h%d" % j)).t().contiguous(),
                                    two * l.bias.detach()))
                    w_ms = torch.cat([st.m.weight.detach() * st.mask_out,
                                      st.s.weight.detach() * st.mask_out]).t().contiguous()
                    b_ms = torch.cat([st.m.bias.detach(), st.s.bias.detach()]).contiguous()
                    self.iaf.append({"tanh": tanh, "act": st.act, "w_in": w_in, "b_in": b_in,
                                     "w_ctx": w_ctx, "hidden": hid, "w_ms": w_ms, "b_ms": b_ms})
            elif self.kind is not None:
                raise SystemExit("bench_flows: unknown flow type %r" % self.kind)
            self.d = d

        def prepare(self, x):
            """Everything that does not depend on the noise, for one image x [D]:
            q_0's mean and standard deviation, the constant of log q_0, and the flow's
            per-image parameters (planar: W, b, Û, Wᵀ-Û products; radial: z_0, α, β;
            IAF: each step's first-layer bias with the context folded in)."""
            F = self.F
            h = x.unsqueeze(0)
            for w, b in self.enc_hidden:
                h = F.linear(h, w, b)
                h = h.tanh_() if self.enc_tanh else self.enc_act(h)
            mean, logvar = self._heads(F.linear(h, *self.enc_head))
            p = {"x": x, "mean": mean, "std": torch.exp(0.5 * logvar),
                 "const_q": -0.5 * (self.d * LOG_2PI + float(logvar.sum()))}
            d, K = self.d, getattr(self, "steps", 0)
            if self.kind in ("planar", "radial"):
                raw = F.linear(h, *self.flow_head)[0] if self.amortized else self.glob
            if self.kind == "planar":
                r = raw.view(K, 2 * d + 1)
                u, w, b = r[:, :d], r[:, d:2 * d], r[:, 2 * d]
                uh = varia_ref.planar_u_hat(u, w)                  # [K, d]
                p["W"], p["b"], p["Uh"] = w.contiguous(), b.contiguous().unsqueeze(1), uh.contiguous()
                g = w @ uh.t()                                     # g[k, j] = w_kᵀ û_j
                p["G"] = g.contiguous()
                p["c"] = torch.diagonal(g).contiguous()            # û_kᵀ w_k
            elif self.kind == "radial":
                r = raw.view(K, d + 2)
                alpha = varia_ref.softplus(r[:, d])
                p["z0"] = r[:, :d].contiguous()
                p["alpha"] = alpha.tolist()
                p["beta"] = (-alpha + varia_ref.softplus(r[:, d + 1])).tolist()
            elif self.kind == "iaf":
                ctx = None if self.context is None else F.linear(h, *self.context)[0]
                p["b_in"] = [s["b_in"] if ctx is None else torch.addmv(s["b_in"], s["w_ctx"], ctx)
                             for s in self.iaf]
            return p

        def flow(self, p, z):
            """(z_K [m, d], Σ_k log|det| [m]) for z_0 [m, d] and the image's p."""
            if self.kind == "planar":
                return self._planar(p, z)
            if self.kind == "radial":
                return self._radial(p, z)
            return self._iaf(p, z)

        def _planar(self, p, z):
            """All K planar steps: with T[k] = tanh(a_k), z_k = z_0 + Σ_{j<k} T[j] û_j, so
            a_k = w_kᵀz_0 + b_k + Σ_{j<k} (w_kᵀû_j) T[j]: one [K, m] product for w_kᵀz_0,
            then a recurrence on [m] vectors, then z_K = z_0 + Tᵀ Û (one product)."""
            K = self.steps
            A = torch.addmm(p["b"], p["W"], z.t())                 # [K, m]
            G = p["G"]
            for k in range(K):
                if k:
                    A[k].addmv_(A[:k].t(), G[k, :k])               # rows < k already hold T
                A[k].tanh_()
            T = A
            z = torch.addmm(z, T.t(), p["Uh"])                     # z_K = z_0 + Tᵀ Û
            det = T.mul(T).neg_().add_(1.0).mul_(p["c"].unsqueeze(1)).add_(1.0)
            return z, det.abs_().log_().sum(0)

        def _radial(self, p, z):
            """K radial steps, each over all m samples at once."""
            d = self.d
            log_det = torch.zeros(z.shape[0])
            for k in range(self.steps):
                alpha, beta = p["alpha"][k], p["beta"][k]
                diff = z - p["z0"][k]
                r = diff.mul(diff).sum(1).sqrt_()
                h = r.add(alpha).reciprocal_()
                bh = h.mul(beta)
                z = torch.addcmul(z, diff, bh.unsqueeze(1))
                log_det += (d - 1) * torch.log1p(bh) + torch.log1p(bh - beta * h * h * r)
            return z, log_det

        def _iaf(self, p, z):
            """IAF steps: the masked MADE as addmm with pre-masked, pre-transposed weights
            (tanh as 2 sigmoid(2a) - 1 via doubled weights), m and s from one product,
            z' = m + σ(z - m), log|det| = Σ log σ."""
            d, log_det = self.d, None
            for s, b_in in zip(self.iaf, p["b_in"]):
                a = torch.addmm(b_in, z, s["w_in"])
                a = a.sigmoid_().mul_(2.0).sub_(1.0) if s["tanh"] else s["act"](a)
                for w, b in s["hidden"]:
                    a = torch.addmm(b, a, w)
                    a = a.sigmoid_().mul_(2.0).sub_(1.0) if s["tanh"] else s["act"](a)
                ms = torch.addmm(s["b_ms"], a, s["w_ms"])
                m, sc = ms[:, :d], ms[:, d:]
                sig = torch.sigmoid(sc)
                ls = sig.log().sum(1)
                if not bool(torch.isfinite(ls).all()):  # σ underflowed: the exact form
                    ls = self.F.logsigmoid(sc).sum(1)
                z = torch.addcmul(m, sig, z - m)
                log_det = ls if log_det is None else log_det.add_(ls)
            return z, log_det

        def log_w(self, p, eps):
            """log w [m] = log p(x|z_K) + log p(z_K) - log q_K(z_K|x) for noise eps [m, d]."""
            z = torch.addcmul(p["mean"], p["std"], eps)
            log_q = (eps * eps).sum(1).mul_(-0.5).add_(p["const_q"])
            if self.kind is not None:
                z, log_det = self.flow(p, z)
                log_q = log_q.sub_(log_det)
            logits = self.logits(z)
            xl = torch.mv(logits, p["x"])
            sp = logits.exp_().add_(1.0).log_().sum(-1)
            if not bool(torch.isfinite(sp).all()):
                sp = self.F.softplus(self.logits(z)).sum(-1)
            log_p = (z * z).sum(1).mul_(-0.5).add_(-0.5 * self.d * LOG_2PI)
            return xl.sub_(sp).add_(log_p).sub_(log_q)

    return FlowFast


def load(model_path, threads):
    """(torch, varia_ref model, FlowFast) for MODEL.json, float32, with torch's threads set."""
    import torch
    import varia_ref

    torch.set_num_threads(threads)
    model = varia_ref.load(model_path).float().eval()
    if model.n_layers != 1 or model.dec1.kind != "bernoulli":
        raise SystemExit("bench_flows: only one-stochastic-layer Bernoulli models")
    return torch, model, _fast_class()(model)


def check_against_ref(torch, model, fast, x):
    """log w of the fast form must match varia_ref's generic code on the same noise
    (64 samples of image x): exits otherwise. Returns the largest |difference|."""
    eps = torch.randn(64, fast.d, generator=torch.Generator().manual_seed(5))
    ref = model.log_weights(x, [eps])["log_w"]
    got = fast.log_w(fast.prepare(x), eps)
    diff = float((got - ref).abs().max())
    if not torch.allclose(got, ref, rtol=1e-4, atol=2e-3):
        raise SystemExit("bench_flows: fast log w differs from varia_ref by %g" % diff)
    return diff


def iw_image(torch, fast, x, k, chunk, gen):
    """L_k of one image: k samples of torch.randn noise in chunks, log-sum-exp in double."""
    p = fast.prepare(x)
    parts = []
    for start in range(0, k, chunk):
        m = min(chunk, k - start)
        parts.append(fast.log_w(p, torch.randn(m, fast.d, generator=gen)).double())
    return float(torch.logsumexp(torch.cat(parts), 0)) - math.log(k)


def pick_chunk(torch, fast, x, k, rounds=3):
    """The fastest of chunks 1000, 2500 and k on image x: each warmed up once, then
    timed in `rounds` alternating rounds, best of each."""
    chunks = sorted({min(c, k) for c in (1000, 2500, k)})
    gen = torch.Generator().manual_seed(1000)
    for c in chunks:
        iw_image(torch, fast, x, k, c, gen)
    best = {c: float("inf") for c in chunks}
    for _ in range(rounds):
        for c in chunks:
            t0 = time.perf_counter()
            iw_image(torch, fast, x, k, c, gen)
            best[c] = min(best[c], time.perf_counter() - t0)
    log("  torch chunk sizes (best s/image): " + ", ".join("%d: %.4f" % (c, best[c]) for c in chunks))
    return min(chunks, key=lambda c: best[c])


def cmd_data(args):
    """Write the first N MNIST test images, dynamically binarized once, as a 0/1 .amat."""
    raw = gzip.open(args.source).read()
    n_all = int.from_bytes(raw[4:8], "big")
    n = min(args.n, n_all)
    x = np.frombuffer(raw, np.uint8, offset=16, count=n * 784).reshape(n, 784) / 255.0
    xb = (np.random.RandomState(args.seed).uniform(size=x.shape) < x).astype(np.uint8)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        for row in xb:
            f.write(" ".join("1" if v else "0" for v in row) + "\n")
    log("wrote %s (%d images)" % (args.out, n))


def cmd_run(args):
    """Time the IW estimate: warm-up and chunk choice, then R timed passes over the N
    images (noise seeds 1..R); RESULT lines on stdout."""
    torch, model, fast = load(args.model, args.threads)
    data = torch.from_numpy(read_amat(args.data, args.n))
    with torch.inference_mode():
        diff = check_against_ref(torch, model, fast, data[0])
        chunk = args.chunk or pick_chunk(torch, fast, data[0], args.k)
        times, nlls = [], []
        for r in range(args.repeats):
            gen = torch.Generator().manual_seed(args.seed + r)
            t0 = time.perf_counter()
            total = sum(iw_image(torch, fast, data[i], args.k, chunk, gen) for i in range(data.shape[0]))
            times.append(time.perf_counter() - t0)
            nlls.append(-total / data.shape[0])
            log("  torch iw repeat %d: %.3f s, NLL %.4f" % (r + 1, times[-1], nlls[-1]))
    print("RESULT torch_version %s\nRESULT torch_threads %d" % (torch.__version__, torch.get_num_threads()))
    print("RESULT ref_max_abs_diff %.3g" % diff)
    print("RESULT iw_n %d\nRESULT iw_k %d\nRESULT iw_chunk %d" % (data.shape[0], args.k, chunk))
    print("RESULT iw_seconds %.6f\nRESULT iw_nll_mean %.6f" % (float(np.median(times)), float(np.mean(nlls))),
          flush=True)


def cmd_agree(args):
    """Every image's L_k with varia's own noise (seed S) in the timed form, against
    varia's per-example CSV (column log_px). Prints both means and the largest
    per-image difference; exits 1 if it exceeds --tol."""
    torch, model, fast = load(args.model, 1)
    data = torch.from_numpy(read_amat(args.data, args.n))
    rows = [l.strip().split(",") for l in open(args.varia_csv) if l.strip()]
    col = rows[0].index("log_px")
    varia = [float(r[col]) for r in rows[1:]]
    n = min(len(varia), data.shape[0])
    ours = []
    with torch.inference_mode():
        for i in range(n):
            eps = torch.from_numpy(varia_iw_noise(args.seed, i, args.k, fast.d))
            p = fast.prepare(data[i])
            lw = torch.cat([fast.log_w(p, eps[s:s + 1000]).double() for s in range(0, args.k, 1000)])
            ours.append(float(torch.logsumexp(lw, 0)) - math.log(args.k))
    diffs = [abs(a - b) for a, b in zip(ours, varia[:n])]
    worst = max(diffs)
    print("RESULT agree_n %d\nRESULT agree_k %d" % (n, args.k))
    print("RESULT agree_varia_nll %.6f\nRESULT agree_torch_nll %.6f" % (-sum(varia[:n]) / n, -sum(ours) / n))
    print("RESULT agree_max_abs_diff %.3g\nRESULT agree_mean_diff %.3g" % (worst, abs(sum(ours) - sum(varia[:n])) / n))
    print("RESULT agree_ok %d" % (worst <= args.tol), flush=True)
    sys.exit(0 if worst <= args.tol else 1)


# ---------------------------------------------------------------- the report

def flop_per_image(manifest, k):
    """(FLOP per image, formula text): matrix products only, 2 per multiply-add. Once
    per image: the encoder with its two heads, the amortized flow head or the IAF
    context (and each IAF step's context product). Per sample: the decoder, each IAF
    step's MADE (first layer, hidden layers, m and s), each planar step's wᵀz and ûT
    (2·2d); radial steps are elementwise (counted 0)."""
    arch = manifest["architecture"]
    D = 1
    for s in manifest["data"]["shape"]:
        D *= int(s)
    lay = arch["layers"][0]
    d = int(lay["latent"])
    enc = [D] + [int(w) for w in lay["encoder"]]
    dec = [d] + [int(w) for w in lay["decoder"]] + [D]
    h = enc[-1]
    once = 2 * (sum(a * b for a, b in zip(enc[:-1], enc[1:])) + 2 * h * d)
    per = 2 * sum(a * b for a, b in zip(dec[:-1], dec[1:]))
    text = "encoder %d" % once
    fl = arch.get("flow")
    if fl:
        K = int(fl["steps"])
        if fl["type"] in ("planar", "radial") and fl.get("params") == "amortized":
            rows = K * (2 * d + 1 if fl["type"] == "planar" else d + 2)
            once += 2 * h * rows
            text += " + flow head 2*%d*%d" % (h, rows)
        if fl["type"] == "planar":
            per += K * 4 * d
            text = text + "; per sample: decoder %d + planar %d*4*%d" % (per - K * 4 * d, K, d)
        elif fl["type"] == "iaf":
            H = [int(w) for w in fl["hidden"]]
            C = int(fl.get("context", 0))
            made = 2 * (d * H[0] + sum(a * b for a, b in zip(H[:-1], H[1:])) + H[-1] * 2 * d)
            once += 2 * h * C + K * 2 * C * H[0]
            text += " + context %d" % (2 * h * C + K * 2 * C * H[0])
            per += K * made
            text += "; per sample: decoder %d + MADE %d*%d" % (per - K * made, K, made)
        else:
            text += "; per sample: decoder %d" % per
    else:
        text += "; per sample: decoder %d" % per
    total = once + k * per
    return total, "%s; total %d + %d*%d = %.4g" % (text, once, k, per, total)


def read_result(path):
    """{key: value string} of the RESULT lines of one raw output ({} if missing)."""
    out = {}
    if os.path.exists(path):
        for line in open(path):
            p = line.split()
            if len(p) >= 3 and p[0] == "RESULT":
                out[p[1]] = p[2]
    return out


def cmd_report(args):
    """The markdown report of bench/flows.sh from its raw folder: per model and
    thread count the medians over the rounds, the ratios, GFLOP/s against the peak,
    and the agreement check."""
    import json

    raw = args.raw
    models = [l.rstrip("\n").split("\t") for l in open(os.path.join(raw, "models.txt")) if l.strip()]
    threads = [int(t) for t in args.threads.split()]
    peak_line = open(os.path.join(raw, "peak.txt")).read().strip()
    try:
        peak = float(peak_line.split(":")[1].split("GFLOP/s")[0])
    except (IndexError, ValueError):
        peak = float("nan")
    info = []
    for i, (asked, used, standin) in enumerate(models):
        man = json.load(open(used))
        fl = man["architecture"].get("flow")
        name = "diagonal" if not fl else "%s K=%s%s" % (fl["type"], fl["steps"],
                                                         " (%s)" % fl["params"] if "params" in fl else "")
        info.append({"asked": asked, "used": used, "standin": standin == "1", "name": name, "flow": fl,
                     "manifest": man})
    diag = next((i for i, m in enumerate(info) if not m["flow"]), None)
    med = lambda v: float(np.median(v)) if v else float("nan")
    res = {}
    for i in range(len(info)):
        for t in threads:
            for side in ("varia", "torch"):
                rs = [read_result(os.path.join(raw, "%d-%s-t%d-r%d.txt" % (i, side, t, r)))
                      for r in range(1, args.rounds + 1)]
                rs = [r for r in rs if "iw_seconds" in r]
                res[i, t, side] = {"s": med([float(r["iw_seconds"]) for r in rs]),
                                   "nll": med([float(r["iw_nll_mean"]) for r in rs]), "runs": len(rs),
                                   "chunk": sorted({r.get("iw_chunk", "?") for r in rs}),
                                   "n": rs[0]["iw_n"] if rs else "?", "k": rs[0]["iw_k"] if rs else "?"}
    k = int(res[0, threads[0], "varia"]["k"])
    n = res[0, threads[0], "varia"]["n"]
    L = []
    out = L.append
    out("# Flow posteriors: IW log-likelihood, varia vs PyTorch")
    out("")
    out("- command: `%s` (commit %s)" % (args.command, args.commit))
    out("- machine: %s" % args.machine)
    out("- data: `%s`, %s images, k = %d; each figure is the median over %d rounds, varia and "
        "PyTorch alternating (ABBA), seconds for all %s images" % (args.data, n, k, args.rounds, n))
    out("- PyTorch: bench/bench_flows.py (FlowFast), float32, inference_mode, OMP_WAIT_POLICY=PASSIVE, "
        "OPENBLAS_CORETYPE=Cooperlake, torch.set_num_threads(T)")
    out("- models:")
    for m in info:
        out("  - %s: `%s`%s" % (m["name"], m["used"], " (stand-in for `%s`: one epoch of its train.json)"
                                % m["asked"] if m["standin"] else ""))
    out("")
    out("| model | threads | varia s | PyTorch s | PyTorch / varia | varia / diagonal | varia GFLOP/s "
        "| of peak | PyTorch GFLOP/s | varia NLL | PyTorch NLL |")
    out("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for i, m in enumerate(info):
        flop, _ = flop_per_image(m["manifest"], k)
        for t in threads:
            v, p = res[i, t, "varia"], res[i, t, "torch"]
            nn_ = float(n)
            gv, gp = nn_ * flop / v["s"] * 1e-9, nn_ * flop / p["s"] * 1e-9
            rel = "%.2f" % (v["s"] / res[diag, t, "varia"]["s"]) if diag is not None else "-"
            out("| %s | %d | %.3f | %.3f | %.2f | %s | %.1f | %.0f%% | %.1f | %.3f | %.3f |"
                % (m["name"], t, v["s"], p["s"], p["s"] / v["s"], rel, gv, 100 * gv / (t * peak), gp,
                   v["nll"], p["nll"]))
    out("")
    out("PyTorch / varia > 1: varia is faster (issue target: >= 2 for the flow models). varia / diagonal: "
        "varia's time for the model over its time for the diagonal model at the same threads "
        "(target: <= 1.5). GFLOP/s count the matrix products only (below); peak = T x %.1f GFLOP/s "
        "(build/bench/bench_peak: %s). The NLLs of the timed runs use different noise (varia seed 1, "
        "PyTorch torch.randn), so they agree only within Monte Carlo noise. PyTorch's chunk: %s."
        % (peak, peak_line, "; ".join("%s %s" % (m["name"], "/".join(res[i, threads[-1], "torch"]["chunk"]))
                                    for i, m in enumerate(info))))
    out("")
    out("FLOP per image:")
    out("")
    for m in info:
        out("- %s: %s" % (m["name"], flop_per_image(m["manifest"], k)[1]))
    out("")
    out("## Agreement on the same noise")
    out("")
    out("Every image's L_k with varia's own noise (seed 1), PyTorch's timed form against "
        "`varia eval --per-example`:")
    out("")
    out("| model | images | k | varia NLL | PyTorch NLL | max per-image difference, nats | ok (<= 2e-3) |")
    out("|---|---:|---:|---:|---:|---:|---|")
    for i, m in enumerate(info):
        a = read_result(os.path.join(raw, "%d-agree.txt" % i))
        out("| %s | %s | %s | %s | %s | %s | %s |" % (m["name"], a.get("agree_n", "?"), a.get("agree_k", "?"),
            a.get("agree_varia_nll", "?"), a.get("agree_torch_nll", "?"), a.get("agree_max_abs_diff", "?"),
            "yes" if a.get("agree_ok") == "1" else "NO"))
    sys.stdout.write("\n".join(L) + "\n")


def main():
    """Command line: data, run, agree (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data")
    d.add_argument("out")
    d.add_argument("--n", type=int, required=True)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--source", default=os.path.join(os.path.dirname(ROOT), "shared", "data", "mnist",
                                                    "t10k-images-idx3-ubyte.gz"))
    r = sub.add_parser("run")
    r.add_argument("model")
    r.add_argument("data")
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--n", type=int, default=20)
    r.add_argument("--k", type=int, default=5000)
    r.add_argument("--repeats", type=int, default=1)
    r.add_argument("--chunk", type=int, default=0, help="samples per pass (0: fastest of 1000, 2500, k)")
    r.add_argument("--seed", type=int, default=1)
    a = sub.add_parser("agree")
    a.add_argument("model")
    a.add_argument("data")
    a.add_argument("varia_csv")
    a.add_argument("--n", type=int, default=20)
    a.add_argument("--k", type=int, default=5000)
    a.add_argument("--seed", type=int, default=1)
    a.add_argument("--tol", type=float, default=2e-3)
    rp = sub.add_parser("report")
    rp.add_argument("raw")
    rp.add_argument("--command", default="")
    rp.add_argument("--machine", default="")
    rp.add_argument("--commit", default="?")
    rp.add_argument("--threads", default="1 2")
    rp.add_argument("--rounds", type=int, default=6)
    rp.add_argument("--data", default="")
    args = ap.parse_args()
    {"data": cmd_data, "run": cmd_run, "agree": cmd_agree, "report": cmd_report}[args.cmd](args)


if __name__ == "__main__":
    main()
