"""PyTorch's side of bench/families.sh: DRAW, VRNN and GAN/AIS in the fastest CPU
forms found, on varia's manifests and weights (tools/torch/draw_ref.py,
vrnn_ref.py, gan_ref.py, ais_ref.py are the references the forms are checked
against). Prints "RESULT key value" lines with the same keys as
bench/bench_families.c.

    bench_families.py TASK MODEL.json [DATA] [--threads T] [--n N] [--k K] [--repeats R]
        [--calls C] [--seq-n S] [--seq-len L] [--chains C] [--steps T] [--leapfrog L] [--sigma2 S]
    bench_families.py make-gan OUT_DIR           random-weight 10-64-256-256-1024-784 generator
    bench_families.py make-draw OUT_DIR          random-weight DRAW of models/draw-attn-mnist/train.json
    bench_families.py report RAW_DIR --thread-list "1 2" --rounds R [--tasks "T ..."]   the markdown table (exit 1: estimates disagree)
    bench_families.py latents MODEL.json Z.f32 [--n N] [--seq-len L]
    bench_families.py check-decode MODEL.json Z.f32 VARIA.f32 [--n N] [--seq-len L]

TASK: draw-sample, draw-iw, vrnn-iw, vrnn-sample, ais, gan-sample (bench_families.c's
header says what each measures). Before timing, every fast form is checked against
its reference's own code on the same noise (exit 1 beyond the tolerance); where a
task has more than one form, each is timed in an untimed warm-up and the fastest
is used (RESULT form names it).
"""
import argparse
import contextlib
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools", "torch"))
import ais_ref  # noqa: E402
import draw_ref  # noqa: E402
import gan_ref  # noqa: E402
import varia_ref  # noqa: E402
import vrnn_ref  # noqa: E402

LOG_2PI = math.log(2.0 * math.pi)


def result(key, value):
    print("RESULT %s %s" % (key, value), flush=True)


def per_example(v):
    result("per_example", ",".join("%.6f" % float(e) for e in v))


def fail(msg):
    print("bench_families.py: " + msg, file=sys.stderr)
    sys.exit(1)


def load(path):
    """(manifest, module) for a draw, vrnn or gan manifest, float32, eval mode."""
    m = json.load(open(path))
    tensors, _ = varia_ref.read_safetensors(os.path.join(os.path.dirname(os.path.abspath(path)), m["weights"]["file"]))
    fam, arch, shape = m["family"], m["architecture"], m["data"]["shape"]
    if fam == "draw":
        mod = draw_ref.VariaDRAW(arch, shape)
    elif fam == "vrnn":
        mod = vrnn_ref.VariaVRNN(arch, int(np.prod(shape)))
    elif fam == "gan":
        mod = gan_ref.VariaGAN(arch, shape)
    else:
        fail("%s: family %r is not one of draw, vrnn, gan" % (path, fam))
    mod.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in tensors.items()}, strict=fam != "gan")
    return m, mod.eval()


def clocks():
    """(wall, CPU) now; CPU is the process's, all threads: on the shared machine
    the wall clock also counts the time other processes hold the cores."""
    return time.perf_counter(), time.process_time()


def since(t0):
    t1 = clocks()
    return t1[0] - t0[0], t1[1] - t0[1]


def rates(key, ts, units):
    """RESULT lines of the medians of ts [(wall, cpu)] of `units` each."""
    w, c = float(np.median([t[0] for t in ts])), float(np.median([t[1] for t in ts]))
    result(key + "_seconds", "%.6f" % w)
    result(key + "_per_s", "%.4f" % (units / w))
    result(key + "_cpu_seconds", "%.6f" % c)
    result(key + "_cpu_per_s", "%.4f" % (units / c))


def fastest(forms, trial, rounds=2):
    """forms: {name: callable}; trial(f) runs one untimed-size job. The name of the
    fastest (CPU time) over `rounds` alternating rounds (best of each)."""
    best = {k: float("inf") for k in forms}
    for _ in range(rounds):
        for k, f in forms.items():
            t0 = time.process_time()
            trial(f)
            best[k] = min(best[k], time.process_time() - t0)
    for k, v in best.items():
        print("  torch form %s: %.4f s" % (k, v), file=sys.stderr)
    return min(best, key=best.get)


# ---------------------------------------------------------------- DRAW
def fused_gates(pre, c, H):
    """An LSTM step from its gate pre-activations pre [rows, 4H] (order i, f, g, o,
    the g rows doubled so that one sigmoid serves every gate: tanh(a) = 2 sigmoid(2a)
    - 1) and the cell c: (h, c)."""
    s = torch.sigmoid(pre)
    c = torch.addcmul(s[:, H:2 * H] * c, s[:, :H], s[:, 2 * H:3 * H].mul(2.0).sub_(1.0))
    return s[:, 3 * H:] * torch.tanh(c), c


class DrawFast:
    """DRAW with its products fused: each LSTM one addmm of [input, h] by the
    concatenated weights (its g rows doubled so that one sigmoid gives every gate:
    tanh(a) = 2 sigmoid(2a) - 1); from each h_dec one product gives the write
    attention, the write patch and the next step's read attention; the encoder's
    mean and scale heads one product; the filterbanks of x and y as one tensor;
    read of x and x_hat as one batched product."""

    def __init__(self, ref):
        self.ref = ref
        self.T, self.L, self.A, self.B = ref.T, ref.L, ref.A, ref.B
        self.rn, self.wn, self.he, self.hd = ref.read_n, ref.write_n, ref.he, ref.hd
        self.log_std = ref.log_std
        if not self.rn or not self.wn or self.A != self.B:
            raise ValueError("DrawFast: attention read and write on square images only")

        def lstm(cell, H):
            w = torch.cat([cell.weight_ih, cell.weight_hh], 1).detach().clone()
            b = (cell.bias_ih + cell.bias_hh).detach().clone()
            w[2 * H:3 * H] *= 2.0
            b[2 * H:3 * H] *= 2.0
            return w.t().contiguous(), b

        self.enc_w, self.enc_b = lstm(ref.enc, self.he)
        self.dec_w, self.dec_b = lstm(ref.dec, self.hd)
        hw = [ref.write_attn.weight, ref.write.weight, ref.read_attn.weight]
        hb = [ref.write_attn.bias, ref.write.bias, ref.read_attn.bias]
        self.out_w = torch.cat(hw, 0).detach().t().contiguous()
        self.out_b = torch.cat(hb, 0).detach().clone()
        self.nw2 = self.wn * self.wn
        self.head_w = torch.cat([ref.enc_mean.weight, ref.enc_scale.weight], 0).detach().t().contiguous()
        self.head_b = torch.cat([ref.enc_mean.bias, ref.enc_scale.bias], 0).detach().clone()
        self.grid = torch.arange(self.A, dtype=torch.float32) + 1.0
        self.half = torch.tensor([(self.A + 1) / 2.0, (self.B + 1) / 2.0])

    def filterbank(self, p, n):
        """p [rows, 5]: F [rows, 2, n, A] (x then y) and gamma [rows]."""
        g = (p[:, :2] + 1.0) * self.half
        e = torch.exp(p[:, 2:5])
        stride = (max(self.A, self.B) - 1) / (n - 1) if n > 1 else 0.0
        offs = torch.arange(1, n + 1, dtype=torch.float32) - n / 2.0 - 0.5
        mu = g[:, :, None] + (stride * e[:, 1])[:, None, None] * offs
        d = self.grid - mu[:, :, :, None]
        f = torch.exp(d.mul_(d).div_((-2.0) * e[:, 0][:, None, None, None]))
        f = f / (f.sum(-1, keepdim=True) + draw_ref.ATTN_EPS)
        return f, e[:, 2]

    def lstm(self, inp, h, c, w, b, H):
        return fused_gates(torch.addmm(b, torch.cat([inp, h], 1), w), c, H)

    def paint(self, o):
        fb, gamma = self.filterbank(o[:, :5], self.wn)
        w = o[:, 5:5 + self.nw2].reshape(-1, self.wn, self.wn)
        patch = fb[:, 1].transpose(1, 2) @ w @ fb[:, 0]
        return patch.reshape(patch.shape[0], -1) / gamma[:, None]

    def sample(self, z):
        """E[x|z] from latents z [rows, T*L]."""
        rows = z.shape[0]
        h = c = torch.zeros(rows, self.hd)
        canvas = torch.zeros(rows, self.A * self.B)
        for t in range(self.T):
            h, c = self.lstm(z[:, t * self.L:(t + 1) * self.L], h, c, self.dec_w, self.dec_b, self.hd)
            o = torch.addmm(self.out_b, h, self.out_w)
            canvas += self.paint(o)
        return torch.sigmoid(canvas)

    def log_w(self, x, eps):
        """x [rows, D] (or [1, D], broadcast), eps [rows, T*L]: log w per row."""
        rows = eps.shape[0]
        x = x.expand(rows, -1)
        he = ce = torch.zeros(rows, self.he)
        hdec = cd = torch.zeros(rows, self.hd)
        canvas = torch.zeros(rows, self.A * self.B)
        p_read = self.out_b[5 + self.nw2:].expand(rows, 5)
        lw = torch.zeros(rows)
        L, n = self.L, self.rn
        for t in range(self.T):
            x_hat = x - torch.sigmoid(canvas)
            fb, gamma = self.filterbank(p_read, n)
            im = torch.stack([x, x_hat], 1).reshape(rows, 2, self.B, self.A)
            r = (fb[:, 1:2] @ im @ fb[:, 0:1].transpose(2, 3)).reshape(rows, 2 * n * n) * gamma[:, None]
            he, ce = self.lstm(torch.cat([r, hdec], 1), he, ce, self.enc_w, self.enc_b, self.he)
            ms = torch.addmm(self.head_b, he, self.head_w)
            mu, s = ms[:, :L], ms[:, L:]
            log_sd = s if self.log_std else 0.5 * s
            e = eps[:, t * L:(t + 1) * L]
            z = torch.addcmul(mu, torch.exp(log_sd), e)
            # log p(z) - log q(z|x) = sum(log sd + e^2/2 - z^2/2)
            lw += (log_sd + 0.5 * (e * e - z * z)).sum(1)
            hdec, cd = self.lstm(z, hdec, cd, self.dec_w, self.dec_b, self.hd)
            o = torch.addmm(self.out_b, hdec, self.out_w)
            canvas = canvas + self.paint(o)
            p_read = o[:, 5 + self.nw2:]
        return lw + (x * canvas - F.softplus(canvas)).sum(1)


class DrawFullFast:
    """DRAW without attention (read [x, x_hat], write a whole-canvas update) in its
    strongest form: each LSTM one addmm with its g rows doubled (one sigmoid for
    every gate, as DrawFast); x's columns of the encoder's input weights applied
    once per image and broadcast to its k particles and T steps (what varia does
    since 34c251c), the rest one addmm of [x_hat, h_dec, h_enc]; the two encoder
    heads one product."""

    def __init__(self, ref):
        if ref.read_n or ref.write_n:
            raise ValueError("DrawFullFast: no attention only")
        self.ref = ref
        self.T, self.L, self.A, self.B = ref.T, ref.L, ref.A, ref.B
        self.he, self.hd, self.log_std = ref.he, ref.hd, ref.log_std
        D = self.A * self.B

        def doubled(w, b, H):
            w, b = w.detach().clone(), b.detach().clone()
            w[2 * H:3 * H] *= 2.0
            b[2 * H:3 * H] *= 2.0
            return w, b

        wih, b = doubled(ref.enc.weight_ih, ref.enc.bias_ih + ref.enc.bias_hh, self.he)
        whh, _ = doubled(ref.enc.weight_hh, ref.enc.bias_hh, self.he)
        self.enc_x = wih[:, :D].t().contiguous()
        self.enc_b = b
        self.enc_rest = torch.cat([wih[:, D:], whh], 1).t().contiguous()
        w, self.dec_b = doubled(torch.cat([ref.dec.weight_ih, ref.dec.weight_hh], 1),
                                ref.dec.bias_ih + ref.dec.bias_hh, self.hd)
        self.dec_w = w.t().contiguous()
        self.write_w = ref.write.weight.detach().t().contiguous()
        self.write_b = ref.write.bias.detach().clone()
        self.head_w = torch.cat([ref.enc_mean.weight, ref.enc_scale.weight], 0).detach().t().contiguous()
        self.head_b = torch.cat([ref.enc_mean.bias, ref.enc_scale.bias], 0).detach().clone()

    def sample(self, z):
        """E[x|z] from latents z [rows, T*L]."""
        rows = z.shape[0]
        h = c = torch.zeros(rows, self.hd)
        canvas = self.write_b.expand(rows, -1) * 0.0
        for t in range(self.T):
            h, c = fused_gates(torch.addmm(self.dec_b, torch.cat([z[:, t * self.L:(t + 1) * self.L], h], 1),
                                          self.dec_w), c, self.hd)
            canvas = torch.addmm(canvas + self.write_b, h, self.write_w)
        return torch.sigmoid(canvas)

    def sample_known(self, z):
        """sample with the latents' and the writes' products taken out of the
        recurrence (what varia does since decode_known): z's input gates of the
        T steps one addmm, each step only h W_hh, the T writes one addmm summed
        over the steps."""
        rows, T, L, H = z.shape[0], self.T, self.L, self.hd
        gi = torch.addmm(self.dec_b, z.reshape(rows * T, L), self.dec_w[:L]).reshape(rows, T, 4 * H)
        wh = self.dec_w[L:]
        h = c = torch.zeros(rows, H)
        hs = []
        for t in range(T):
            h, c = fused_gates(torch.addmm(gi[:, t], h, wh), c, H)
            hs.append(h)
        w = torch.addmm(self.write_b, torch.stack(hs, 1).reshape(rows * T, H), self.write_w)
        return torch.sigmoid(w.reshape(rows, T, -1).sum(1))

    def log_w(self, x, eps, k=1):
        """x [m, D] images, eps [m*k, T*L] (image i's particles rows i*k..i*k+k-1): log w per row."""
        rows = eps.shape[0]
        xpart = torch.addmm(self.enc_b, x, self.enc_x).repeat_interleave(k, 0)
        x = x.repeat_interleave(k, 0) if k > 1 else x.expand(rows, -1)
        he = ce = torch.zeros(rows, self.he)
        hdec = cd = torch.zeros(rows, self.hd)
        canvas = torch.zeros(rows, self.A * self.B)
        lw = torch.zeros(rows)
        L = self.L
        for t in range(self.T):
            x_hat = x - torch.sigmoid(canvas)
            he, ce = fused_gates(torch.addmm(xpart, torch.cat([x_hat, hdec, he], 1), self.enc_rest), ce, self.he)
            ms = torch.addmm(self.head_b, he, self.head_w)
            mu, s = ms[:, :L], ms[:, L:]
            log_sd = s if self.log_std else 0.5 * s
            e = eps[:, t * L:(t + 1) * L]
            z = torch.addcmul(mu, torch.exp(log_sd), e)
            lw += (log_sd + 0.5 * (e * e - z * z)).sum(1)
            hdec, cd = fused_gates(torch.addmm(self.dec_b, torch.cat([z, hdec], 1), self.dec_w), cd, self.hd)
            canvas = torch.addmm(canvas + self.write_b, hdec, self.write_w)
        return lw + (x * canvas - F.softplus(canvas)).sum(1)


def draw_fast(ref):
    """The strongest PyTorch form of this DRAW: DrawFast with attention, DrawFullFast without."""
    return DrawFast(ref) if ref.read_n else DrawFullFast(ref)


def draw_sample_script():
    """DrawFast.sample as a TorchScript function (the Python interpreter's per-op
    overhead is most of a batch-1 trajectory): 1.3x faster than the Python form."""
    @torch.jit.script
    def sample(z, dec_w, dec_b, out_w, out_b, grid, half, offs, T: int, L: int, H: int, A: int, n: int,
               stride: float, known: bool):
        rows = z.shape[0]
        h = torch.zeros(rows, H)
        c = torch.zeros(rows, H)
        canvas = torch.zeros(rows, A * A)
        gi = torch.zeros(0)
        if known:  # every step's input gates in one product (varia's decode_known)
            gi = torch.addmm(dec_b, z.reshape(rows * T, L), dec_w[:L]).reshape(rows, T, 4 * H)
        for t in range(T):
            if known:
                s = torch.sigmoid(torch.addmm(gi[:, t], h, dec_w[L:]))
            else:
                s = torch.sigmoid(torch.addmm(dec_b, torch.cat([z[:, t * L:(t + 1) * L], h], 1), dec_w))
            c = torch.addcmul(s[:, H:2 * H] * c, s[:, :H], s[:, 2 * H:3 * H] * 2.0 - 1.0)
            h = s[:, 3 * H:] * torch.tanh(c)
            o = torch.addmm(out_b, h, out_w)
            p = o[:, :5]
            g = (p[:, :2] + 1.0) * half
            e = torch.exp(p[:, 2:5])
            mu = g[:, :, None] + (stride * e[:, 1])[:, None, None] * offs
            d = grid - mu[:, :, :, None]
            f = torch.exp(d * d / ((-2.0) * e[:, 0][:, None, None, None]))
            f = f / (f.sum(-1, keepdim=True) + 1e-30)
            w = o[:, 5:5 + n * n].reshape(-1, n, n)
            patch = f[:, 1].transpose(1, 2) @ w @ f[:, 0]
            canvas = canvas + patch.reshape(rows, -1) / e[:, 2][:, None]
        return torch.sigmoid(canvas)
    return sample


def draw_ref_log_w(ref, x, eps):
    o = ref.terms(x.expand(eps.shape[0], -1), eps)
    return o["log_px"] + o["log_pz"] - o["log_qz"]


def read_amat(path, n):
    rows = []
    with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as f:
        for line in f:
            rows.append([float(v) for v in line.split()])
            if len(rows) == n:
                break
    return torch.tensor(rows, dtype=torch.float32)


def task_draw_sample(a, man, ref):
    fast = draw_fast(ref)
    TL = ref.T * ref.L
    z = torch.randn(3, TL)
    got, want = fast.sample(z), torch.sigmoid(ref.decode(z)[-1])
    err = (got - want).abs().max().item()
    if err > 1e-5:
        fail("draw-sample: the fast form differs from draw_ref by %.3g" % err)
    forms = {"fused": lambda: fast.sample(torch.randn(1, TL)),
             "draw_ref": lambda: torch.sigmoid(ref.decode(torch.randn(1, TL))[-1])}
    if isinstance(fast, DrawFast):
        n = fast.wn
        offs = torch.arange(1, n + 1, dtype=torch.float32) - n / 2.0 - 0.5
        sargs = (fast.dec_w, fast.dec_b, fast.out_w, fast.out_b, fast.grid, fast.half, offs, fast.T, fast.L,
                 fast.hd, fast.A, n, (max(fast.A, fast.B) - 1) / (n - 1) if n > 1 else 0.0)
        script = draw_sample_script()
        for known, label in ((False, "fused, TorchScript"), (True, "known latents, TorchScript")):
            err = (script(z, *sargs, known) - want).abs().max().item()
            if err > 1e-5:
                fail("draw-sample: the %s form differs from draw_ref by %.3g" % (label, err))
            forms[label] = lambda known=known: script(torch.randn(1, TL), *sargs, known)
    else:
        for label, fn in (("fused", fast.sample), ("known latents", fast.sample_known)):
            err = (fn(z) - want).abs().max().item()
            if err > 1e-5:
                fail("draw-sample: the %s form differs from draw_ref by %.3g" % (label, err))
            script = torch.jit.trace(fn, (torch.randn(1, TL),), check_trace=False)
            err = (script(z) - want).abs().max().item()
            if err > 1e-5:
                fail("draw-sample: the traced %s form differs from draw_ref by %.3g" % (label, err))
            forms[label] = lambda fn=fn: fn(torch.randn(1, TL))
            forms[label + ", TorchScript (traced)"] = lambda script=script: script(torch.randn(1, TL))
    name = fastest(forms, lambda f: [f() for _ in range(max(5, a.calls // 20))])
    f = forms[name]
    for _ in range(a.calls // 10 + 1):
        f()
    ts = []
    for _ in range(a.calls):
        t0 = clocks()
        f()
        ts.append(since(t0))
    result("form", name)
    result("sample1_us", "%.4f" % (1e6 * float(np.median([t[0] for t in ts]))))
    result("sample1_cpu_us", "%.4f" % (1e6 * float(np.median([t[1] for t in ts]))))
    result("calls", a.calls)


def iw_chunks(fast, x, k, imgs_per_chunk):
    """L_k per image, images_per_chunk images' k particles per pass."""
    n, out = x.shape[0], []
    for i in range(0, n, imgs_per_chunk):
        xb = x[i:i + imgs_per_chunk]
        m = xb.shape[0]
        eps = torch.randn(m * k, fast.T * fast.L)
        lw = (fast.log_w(xb, eps, k) if isinstance(fast, DrawFullFast)
              else fast.log_w(xb.repeat_interleave(k, 0), eps)).double().reshape(m, k)
        out.append(torch.logsumexp(lw, 1) - math.log(k))
    return torch.cat(out)


def task_draw_iw(a, man, ref):
    fast = draw_fast(ref)
    x = read_amat(a.data, a.n)
    eps = torch.randn(16, ref.T * ref.L)
    got, want = fast.log_w(x[:1], eps), draw_ref_log_w(ref, x[:1], eps)
    err = ((got - want).abs() / (1.0 + want.abs())).max().item()
    if err > 1e-5:
        fail("draw-iw: the fast form's log w differs from draw_ref by %.3g (relative)" % err)
    choices = sorted({1, max(1, 1000 // a.k), max(1, 2500 // a.k)})
    forms = {"%d image(s) x k per pass" % c: (lambda c=c: (lambda xs: iw_chunks(fast, xs, a.k, c)))() for c in choices}
    name = fastest(forms, lambda f: f(x[:max(choices)]), rounds=1)
    f = forms[name]
    torch.manual_seed(1)
    ts, first = [], None
    for r in range(a.repeats):
        t0 = clocks()
        est = f(x)
        ts.append(since(t0))
        first = est if first is None else first
        print("  torch draw-iw repeat %d: %.3f s, log p %.4f" % (r + 1, ts[-1][0], est.mean().item()), file=sys.stderr)
    result("form", '"%s"' % name)
    result("n", x.shape[0])
    result("k", a.k)
    rates("iw", ts, x.shape[0])
    per_example(first.tolist())


# ---------------------------------------------------------------- VRNN
class VrnnFast:
    """The VRNN (variant vrnn, GRU, Bernoulli frames, every net with at least one
    hidden layer where it reads [features, h]) with its products regrouped:
    phi_x of the data, and its share of the encoder's first layer and of the GRU's
    input gates, once per frame (not per particle); every product of h_{t-1} (GRU
    hidden gates, prior's and encoder's and decoder's first layers) as one addmm;
    rows sorted by sequence length so that the live rows of step t are a prefix."""

    def __init__(self, ref):
        if ref.variant != "vrnn" or ref.lstm or ref.gauss_frames or not ref.encoder.hidden or \
                not ref.decoder.hidden or not ref.prior.hidden:
            raise ValueError("VrnnFast: variant vrnn, GRU, Bernoulli, hidden layers in prior/encoder/decoder only")
        self.ref, self.H, self.L, self.F = ref, ref.H, ref.L, ref.F
        self.act = ref.act
        H = self.H
        fx = ref.phi_x.out.out_features
        d = lambda t: t.detach().clone()  # noqa: E731
        e0, d0, p0 = ref.encoder.hidden[0], ref.decoder.hidden[0], ref.prior.hidden[0]
        fz = ref.phi_z.out.out_features
        self.fx, self.fz = fx, fz
        # products of h: GRU hidden gates | encoder layer 0 (h part) | prior layer 0 | decoder layer 0 (h part)
        self.hw = torch.cat([ref.rnn.weight_hh, e0.weight[:, fx:], p0.weight, d0.weight[:, fz:]], 0).detach().t().contiguous()
        self.hb = torch.cat([ref.rnn.bias_hh, torch.zeros(e0.out_features), p0.bias, d0.bias]).detach()
        self.cuts = np.cumsum([3 * H, e0.out_features, p0.out_features, d0.out_features]).tolist()
        self.ex_w, self.ex_b = d(e0.weight[:, :fx]).t().contiguous(), d(e0.bias)
        self.dz_w = d(d0.weight[:, :fz]).t().contiguous()
        self.ix_w, self.ix_b = d(ref.rnn.weight_ih[:, :fx]).t().contiguous(), d(ref.rnn.bias_ih)
        self.iz_w = d(ref.rnn.weight_ih[:, fx:]).t().contiguous()
        self.ig_w = d(ref.rnn.weight_ih).t().contiguous()

    def lin(self, layers, v):
        for lin in layers:
            v = self.act(F.linear(v, lin.weight, lin.bias))
        return v

    def feature(self, net, v):
        return self.act(F.linear(net.body(v, self.act), net.out.weight, net.out.bias))

    def heads(self, net, hidden, v):
        v = self.lin(hidden, v)
        return F.linear(v, net.mean.weight, net.mean.bias), F.softplus(F.linear(v, net.std.weight, net.std.bias)) + \
            self.ref.floor

    def gru(self, gi, gh, h):
        H = self.H
        rz = torch.sigmoid(gi[:, :2 * H] + gh[:, :2 * H])
        n = torch.tanh(torch.addcmul(gi[:, 2 * H:], rz[:, :H], gh[:, 2 * H:]))
        return torch.addcmul(n, rz[:, H:], h - n)

    def log_w(self, x, lengths, k, eps=None):
        """x [n, T, F] sorted by decreasing length, lengths [n]; k particles each:
        log w [n, k] (eps [n*k, T, L] or None: torch.randn)."""
        ref, H, L = self.ref, self.H, self.L
        n, T = x.shape[0], int(lengths.max())
        fxs = self.feature(ref.phi_x, x[:, :T].reshape(n * T, self.F))
        ex = torch.addmm(self.ex_b, fxs, self.ex_w).reshape(n, T, -1)
        ix = torch.addmm(self.ix_b, fxs, self.ix_w).reshape(n, T, -1)
        h = torch.zeros(n * k, H)
        lw = torch.zeros(n * k)
        live = [int((lengths > t).sum()) for t in range(T)]
        c0, c1, c2, c3 = self.cuts
        for t in range(T):
            m = live[t]
            R = m * k
            hh = torch.addmm(self.hb, h[:R], self.hw)
            he = self.act((hh[:, c0:c1].reshape(m, k, -1) + ex[:m, t, None, :]).reshape(R, -1))
            mq, sq = self.heads(ref.encoder, ref.encoder.hidden[1:], he)
            mp, sp = self.heads(ref.prior, ref.prior.hidden[1:], self.act(hh[:, c1:c2]))
            e = torch.randn(R, L) if eps is None else eps[:R, t, :L]
            z = torch.addcmul(mq, sq, e)
            u = (z - mp) / sp
            lw[:R] += (0.5 * (e * e - u * u) + torch.log(sq / sp)).sum(1)
            fz = self.feature(ref.phi_z, z)
            hd = self.act(torch.addmm(hh[:, c2:c3], fz, self.dz_w))
            logits = F.linear(self.lin(ref.decoder.hidden[1:], hd), ref.decoder.logits.weight, ref.decoder.logits.bias)
            xt = x[:m, t, None, :]
            lx = (logits.reshape(m, k, -1) * xt).sum(2).reshape(R) - F.softplus(logits).sum(1)
            lw[:R] += lx
            gi = (torch.mm(fz, self.iz_w).reshape(m, k, -1) + ix[:m, t, None, :]).reshape(R, -1)
            h = torch.cat([self.gru(gi, hh[:, :c0], h[:R]), h[R:]], 0) if R < n * k else self.gru(gi, hh[:, :c0], h)
        return lw.reshape(n, k)

    def generate(self, n, T):
        ref, H, L = self.ref, self.H, self.L
        h = torch.zeros(n, H)
        xs = torch.empty(n, T, self.F)
        c0, c1, c2, c3 = self.cuts
        for t in range(T):
            hh = torch.addmm(self.hb, h, self.hw)
            mp, sp = self.heads(ref.prior, ref.prior.hidden[1:], self.act(hh[:, c1:c2]))
            z = torch.addcmul(mp, sp, torch.randn(n, L))
            fz = self.feature(ref.phi_z, z)
            hd = self.act(torch.addmm(hh[:, c2:c3], fz, self.dz_w))
            logits = F.linear(self.lin(ref.decoder.hidden[1:], hd), ref.decoder.logits.weight, ref.decoder.logits.bias)
            x = (torch.rand(n, self.F) < torch.sigmoid(logits)).float()
            xs[:, t] = x
            fx = self.feature(ref.phi_x, x)
            gi = torch.addmm(self.ix_b, torch.cat([fx, fz], 1), self.ig_w)
            h = self.gru(gi, hh[:, :c0], h)
        return xs


def vrnn_generate_script(fast):
    """VrnnFast.generate as a TorchScript function, for the shape of the shipped
    models (relu; phi_x and phi_z one layer each, the prior and the decoder one
    hidden layer); None for other shapes. Returns (function, its weight arguments)."""
    ref = fast.ref
    if ref.act is not torch.relu or ref.phi_x.hidden or ref.phi_z.hidden or len(ref.prior.hidden) != 1 or \
            len(ref.decoder.hidden) != 1:
        return None

    @torch.jit.script
    def generate(n: int, T: int, H: int, L: int, Fd: int, floor: float, c0: int, c1: int, c2: int, c3: int,
                 hw, hb, pm_w, pm_b, ps_w, ps_b, fz_w, fz_b, dz_w, lg_w, lg_b, fx_w, fx_b, ig_w, ig_b):
        h = torch.zeros(n, H)
        xs = torch.empty(n, T, Fd)
        for t in range(T):
            hh = torch.addmm(hb, h, hw)
            ph = torch.relu(hh[:, c1:c2])
            mp = torch.addmm(pm_b, ph, pm_w)
            sp = torch.nn.functional.softplus(torch.addmm(ps_b, ph, ps_w)) + floor
            z = torch.addcmul(mp, sp, torch.randn(n, L))
            fz = torch.relu(torch.addmm(fz_b, z, fz_w))
            hd = torch.relu(torch.addmm(hh[:, c2:c3], fz, dz_w))
            logits = torch.addmm(lg_b, hd, lg_w)
            x = (torch.rand(n, Fd) < torch.sigmoid(logits)).float()
            xs[:, t] = x
            fx = torch.relu(torch.addmm(fx_b, x, fx_w))
            gi = torch.addmm(ig_b, torch.cat([fx, fz], 1), ig_w)
            gh = hh[:, :c0]
            rz = torch.sigmoid(gi[:, :2 * H] + gh[:, :2 * H])
            nn_ = torch.tanh(torch.addcmul(gi[:, 2 * H:], rz[:, :H], gh[:, 2 * H:]))
            h = torch.addcmul(nn_, rz[:, H:], h - nn_)
        return xs

    T_ = lambda lin: (lin.weight.detach().t().contiguous(), lin.bias.detach())  # noqa: E731
    c0, c1, c2, c3 = fast.cuts
    w = [fast.hw, fast.hb, *T_(ref.prior.mean), *T_(ref.prior.std), *T_(ref.phi_z.out), fast.dz_w,
         *T_(ref.decoder.logits), *T_(ref.phi_x.out), fast.ig_w, fast.ix_b]
    return (lambda n, T: generate(n, T, fast.H, fast.L, fast.F, float(ref.floor), c0, c1, c2, c3, *w))


def read_npz(path, n):
    d = np.load(path)
    lengths = d["lengths"].astype(np.int64)[:n]
    offs = np.concatenate([[0], np.cumsum(d["lengths"].astype(np.int64))])
    T = int(lengths.max())
    x = np.zeros((len(lengths), T, d["x"].shape[1]), np.float32)
    for i, ln in enumerate(lengths):
        x[i, :ln] = d["x"][offs[i]:offs[i] + ln]
    return torch.from_numpy(x), torch.from_numpy(lengths)


def vrnn_iw(fast, x, lengths, k, seqs_per_pass):
    """L_k per sequence (in the given order)."""
    order = torch.argsort(lengths, descending=True)
    out = torch.empty(x.shape[0], dtype=torch.float64)
    for i in range(0, x.shape[0], seqs_per_pass):
        idx = order[i:i + seqs_per_pass]
        lw = fast.log_w(x[idx], lengths[idx], k).double()
        out[idx] = torch.logsumexp(lw, 1) - math.log(k)
    return out


def task_vrnn_iw(a, man, ref):
    fast = VrnnFast(ref)
    x, lengths = read_npz(a.data, a.n)
    # check on the two shortest sequences, 4 particles each, the same noise
    idx = torch.argsort(lengths, descending=True)[-2:]
    xs, ls = x[idx], lengths[idx]
    T = int(ls.max())
    eps = torch.randn(8, T, ref.L + ref.F)
    got = fast.log_w(xs[:, :T], ls, 4, eps).reshape(-1)
    o = ref.terms(xs[:, :T].repeat_interleave(4, 0), ls.repeat_interleave(4), eps)
    want = o["log_px"] + o["log_pz"] - o["log_qz"]
    err = ((got - want).abs() / (1.0 + want.abs())).max().item()
    if err > 1e-5:
        fail("vrnn-iw: the fast form's log w differs from vrnn_ref by %.3g (relative)" % err)
    choices = sorted({1, max(1, 1000 // a.k), max(1, 4000 // a.k)})
    forms = {"%d sequence(s) x k per pass" % c: (lambda c=c: (lambda: vrnn_iw(fast, x, lengths, a.k, c)))()
             for c in choices}
    sub = torch.argsort(lengths, descending=True)[:max(choices)]
    name = fastest({c: (lambda c=c: (lambda: vrnn_iw(fast, x[sub], lengths[sub], a.k, int(c.split()[0]))))()
                    for c in forms}, lambda f: f(), rounds=1)
    f = forms[name]
    torch.manual_seed(1)
    ts, first = [], None
    for r in range(a.repeats):
        t0 = clocks()
        est = f()
        ts.append(since(t0))
        first = est if first is None else first
        print("  torch vrnn-iw repeat %d: %.3f s, log p %.4f" % (r + 1, ts[-1][0], est.mean().item()), file=sys.stderr)
    result("form", '"%s"' % name)
    result("n", x.shape[0])
    result("k", a.k)
    result("frames", int(lengths.sum()))
    rates("iw", ts, x.shape[0])
    per_example(first.tolist())


def task_vrnn_sample(a, man, ref):
    fast = VrnnFast(ref)
    forms = {"fused": lambda: fast.generate(a.seq_n, a.seq_len),
             "vrnn_ref": lambda: ref.generate(torch.randn(a.seq_n, a.seq_len, ref.L + ref.F), 1.0)[0]}
    short = {"fused": lambda: fast.generate(a.seq_n, 50),
             "vrnn_ref": lambda: ref.generate(torch.randn(a.seq_n, 50, ref.L + ref.F), 1.0)[0]}
    script = vrnn_generate_script(fast)
    if script is not None:
        # same noise, same draws: the scripted and the Python fused forms must agree exactly in distribution;
        # check them on one seed (identical random streams, identical ops)
        torch.manual_seed(5)
        xa = fast.generate(3, 20)
        torch.manual_seed(5)
        xb = script(3, 20)
        if not torch.equal(xa, xb):
            fail("vrnn-sample: the TorchScript form's draws differ from the fused form's on the same seed")
        forms["fused, TorchScript"] = lambda: script(a.seq_n, a.seq_len)
        short["fused, TorchScript"] = lambda: script(a.seq_n, 50)
    name = fastest(short, lambda f: f())
    f = forms[name]
    f()
    ts, xs = [], None
    for _ in range(a.repeats):
        t0 = clocks()
        xs = f()
        ts.append(since(t0))
    result("form", name)
    result("seq_n", a.seq_n)
    result("seq_len", a.seq_len)
    result("notes_per_frame", "%.4f" % (xs.sum().item() / (a.seq_n * a.seq_len)))
    rates("frames", ts, a.seq_n * a.seq_len)


# ---------------------------------------------------------------- GAN and AIS
class GanFast:
    """An MLP generator (dense layers, each optionally followed by a batch norm,
    relu / leaky_relu / tanh / sigmoid / identity activations) with each batch norm
    folded into its dense layer, run as addmm + in-place activations; the AIS
    gradient of log p(x|z) by a hand-written backward pass (no autograd)."""

    def __init__(self, man, ref):
        arch = man["architecture"]
        self.slope = float(arch.get("leaky_relu_slope", 0.01))
        sd = {k: v.detach() for k, v in ref.state_dict().items()}
        self.layers = []
        for i, e in enumerate(arch["generator"]):
            if e["type"] == "dense":
                self.layers.append([sd["gen.net.%d.weight" % i].clone(), sd["gen.net.%d.bias" % i].clone(),
                                    e.get("activation", "identity")])
            elif e["type"] == "batch_norm" and self.layers:
                w, b, _ = self.layers[-1]
                s = sd["gen.net.%d.weight" % i] / torch.sqrt(sd["gen.net.%d.running_var" % i] + float(e.get("eps", 1e-5)))
                self.layers[-1] = [w * s[:, None], (b - sd["gen.net.%d.running_mean" % i]) * s +
                                   sd["gen.net.%d.bias" % i], e.get("activation", "identity")]
            elif e["type"] == "activation" and self.layers:
                self.layers[-1][2] = e.get("activation", "identity")
            else:
                raise ValueError("GanFast: MLP generators only (dense, batch_norm, activation)")
        for lay in self.layers:
            if lay[2] not in ("relu", "leaky_relu", "tanh", "sigmoid", "identity"):
                raise ValueError("GanFast: activation %s" % lay[2])
            lay.append(lay[0].t().contiguous())
        self.lo, self.hi = ref.lo, ref.hi
        self.L = ref.L

    def act_(self, v, kind):
        if kind == "relu":
            return v.relu_()
        if kind == "leaky_relu":
            return F.leaky_relu_(v, self.slope)
        if kind == "tanh":
            return v.tanh_()
        if kind == "sigmoid":
            return v.sigmoid_()
        return v

    def decode(self, z, keep=None):
        v = z
        for w, b, kind, wt in self.layers:
            v = self.act_(torch.addmm(b, v, wt), kind)
            if keep is not None:
                keep.append(v)
        if self.lo != 0.0 or self.hi != 1.0:
            v = (v - self.lo) / (self.hi - self.lo)
        return v

    def lpx_grad(self, x, z, s2):
        """log N(x; G(z), s2 I) per row and its gradient w.r.t. z."""
        acts = []
        mean = self.decode(z, acts)
        diff = x - mean
        lpx = -0.5 * ((diff * diff).sum(1) / s2 + x.shape[1] * (math.log(s2) + LOG_2PI))
        d = diff * (1.0 / (s2 * (self.hi - self.lo)))
        for j in range(len(self.layers) - 1, -1, -1):
            w, b, kind, wt = self.layers[j]
            y = acts[j]
            if kind == "relu":
                d = d * (y > 0)
            elif kind == "leaky_relu":
                d = torch.where(y > 0, d, d * self.slope)
            elif kind == "tanh":
                d = d * (1.0 - y * y)
            elif kind == "sigmoid":
                d = d * y * (1.0 - y)
            d = torch.mm(d, w)
        return lpx, d


@torch.no_grad()
def ais_fast(gan, x, chains, T, L, s2):
    """ais_ref.ais's algorithm (same schedule, HMC, step-size rule, batched rows),
    with the hand-written gradient, and log p(x|z) and its gradient carried along
    with each chain's state (the target's gradient at beta is -z + beta * that),
    so that a transition costs L generator passes, not L + 2."""
    n, D = x.shape
    xr = x.repeat_interleave(chains, 0)
    z = torch.randn(n * chains, gan.L)
    logw = torch.zeros(n * chains, dtype=torch.float64)
    eps = torch.full((n,), 0.01)
    acc_sum = torch.zeros(n)
    lpx, gl = gan.lpx_grad(xr, z, s2)
    for t in range(1, T + 1):
        b0, b1 = ais_ref.beta(t - 1, T), ais_ref.beta(t, T)
        logw += (b1 - b0) * lpx.double()
        if t == T:
            break
        step = eps.repeat_interleave(chains).unsqueeze(1)
        p = torch.randn(z.shape)
        h0 = 0.5 * (z * z).sum(1) - b1 * lpx + 0.5 * (p * p).sum(1)
        zn = z
        pn = p + 0.5 * step * (b1 * gl - z)
        for i in range(L):
            zn = zn + step * pn
            lpxn, gln = gan.lpx_grad(xr, zn, s2)
            pn = pn + (step if i < L - 1 else 0.5 * step) * (b1 * gln - zn)
        h1 = 0.5 * (zn * zn).sum(1) - b1 * lpxn + 0.5 * (pn * pn).sum(1)
        a = torch.exp(torch.clamp(h0 - h1, max=0.0))
        a = torch.where(torch.isfinite(h1), a, torch.zeros_like(a))
        accept = torch.rand(a.shape) < a
        acc1 = accept.unsqueeze(1)
        z = torch.where(acc1, zn, z)
        lpx = torch.where(accept, lpxn, lpx)
        gl = torch.where(acc1, gln, gl)
        am = a.reshape(n, chains).mean(1)
        acc_sum += am
        eps = torch.clamp(torch.where(am > 0.65, eps * 1.02, eps * 0.98), 1e-4, 0.5)
    lw = logw.reshape(n, chains)
    return torch.logsumexp(lw, 1) - math.log(chains), acc_sum / max(T - 1, 1)


def task_ais(a, man, ref):
    gan = GanFast(man, ref)
    s2 = a.sigma2 or man["architecture"].get("observation", {}).get("sigma2", 0.0)
    if not s2 > 0:
        fail("ais: give --sigma2 (the manifest has none)")
    x = ais_ref.read_idx(a.data, a.n)
    # check the hand-written gradient against autograd (ais_ref.grad_log_f) and the decode
    z = torch.randn(8, gan.L)
    xr = x[:1].expand(8, -1)
    with torch.enable_grad():
        lpx_r, lf_r, g_r = ais_ref.grad_log_f(ref, xr, z, s2, 0.3)
    lpx, gl = gan.lpx_grad(xr, z, s2)
    g = 0.3 * gl - z
    err = max(((g - g_r).abs().max() / (1.0 + g_r.abs().max())).item(),
              ((lpx - lpx_r).abs() / (1.0 + lpx_r.abs())).max().item())
    if err > 1e-4:
        fail("ais: the hand-written gradient differs from autograd's by %.3g (relative)" % err)
    forms = {"hand-written gradient, carried state": lambda T: ais_fast(gan, x[:2], a.chains, T, a.leapfrog, s2),
             "ais_ref (autograd)": lambda T: ais_ref.ais(ref, x[:2], a.chains, T, a.leapfrog, s2, torch.Generator())}
    name = fastest(forms, lambda f: f(6), rounds=1)
    run = (lambda: ais_fast(gan, x, a.chains, a.steps, a.leapfrog, s2)) if name.startswith("hand") else \
        (lambda: ais_ref.ais(ref, x, a.chains, a.steps, a.leapfrog, s2, torch.Generator().manual_seed(1)))
    torch.manual_seed(1)
    ts, first, acc = [], None, None
    for r in range(a.repeats):
        t0 = clocks()
        est, accept = run()
        ts.append(since(t0))
        if first is None:
            first, acc = est, accept.mean().item()
        print("  torch ais repeat %d: %.3f s, log p %.4f" % (r + 1, ts[-1][0], est.mean().item()), file=sys.stderr)
    result("form", '"%s"' % name)
    result("n", x.shape[0])
    result("chains", a.chains)
    result("steps", a.steps)
    result("leapfrog", a.leapfrog)
    result("sigma2", "%g" % s2)
    result("accept", "%.4f" % acc)
    rates("ais", ts, x.shape[0] * a.chains * a.steps)
    per_example(first.tolist())


def task_gan_sample(a, man, ref):
    gan = GanFast(man, ref)
    z = torch.randn(5, gan.L)
    err = (gan.decode(z) - ref.decode(z)).abs().max().item()
    if err > 1e-5:
        fail("gan-sample: the folded form differs from gan_ref by %.3g" % err)
    forms = {"folded batch norm, addmm + in-place activations": lambda: gan.decode(torch.randn(1000, gan.L)),
             "gan_ref": lambda: ref.decode(torch.randn(1000, gan.L))}
    name = fastest(forms, lambda f: [f() for _ in range(5)])
    f = forms[name]
    t0 = time.perf_counter()
    f()
    per = int(0.1 / (time.perf_counter() - t0 + 1e-9)) + 1
    ts = []
    for _ in range(a.repeats):
        t0 = clocks()
        for _ in range(per):
            f()
        w, c = since(t0)
        ts.append((w / per, c / per))
    result("form", '"%s"' % name)
    rates("samples", ts, 1000)


# ---------------------------------------------------------------- checks and models
def latent_floats(man, seq_len):
    arch = man["architecture"]
    if man["family"] == "draw":
        return int(arch["steps"]) * int(arch["latent"])
    if man["family"] == "vrnn":
        return seq_len * (0 if arch.get("variant") == "rnn" else int(arch["latent"]))
    return int(arch["latent"])


def decode_ref(man, ref, z, seq_len):
    """E[x|z] in float64 from the reference module: [n, D] (VRNN: [n, T*F])."""
    ref = ref.double()
    z = z.double()
    if man["family"] == "draw":
        return torch.sigmoid(ref.decode(z)[-1])
    if man["family"] == "vrnn":
        return ref.decode(z.reshape(z.shape[0], seq_len, -1), seq_len)[0].reshape(z.shape[0], -1)
    return ref.decode(z)


def make_gan(out):
    """A random-weight generator of models/gan10-mnist/train.json's architecture
    (its layer list as written there: batch norms carrying the activation), written
    with the exporter's write_model; PyTorch's default nn.Linear initialisation,
    seed 0, batch norms with random running statistics and affine parameters."""
    import export
    from torch import nn
    root = os.path.join(HERE, "..")
    arch = json.load(open(os.path.join(root, "models", "gan10-mnist", "train.json")))["architecture"]
    arch = {k: v for k, v in arch.items() if k != "discriminator"}
    torch.manual_seed(0)
    arrays, width = {}, int(arch["latent"])
    for i, e in enumerate(arch["generator"]):
        if e["type"] == "dense":
            lin = nn.Linear(width, int(e["out"]))
            arrays["gen.net.%d.weight" % i], arrays["gen.net.%d.bias" % i] = lin.weight, lin.bias
            width = int(e["out"])
        elif e["type"] == "batch_norm":
            arrays["gen.net.%d.weight" % i] = torch.empty(width).uniform_(0.8, 1.2)
            arrays["gen.net.%d.bias" % i] = torch.empty(width).normal_(0.0, 0.1)
            arrays["gen.net.%d.running_mean" % i] = torch.empty(width).normal_(0.0, 0.1)
            arrays["gen.net.%d.running_var" % i] = torch.empty(width).uniform_(0.5, 1.5)
        else:
            raise ValueError("make-gan: unexpected layer %r" % e["type"])
    arrays = {k: v.detach().float().numpy() for k, v in arrays.items()}
    print(export.write_model(arrays, arch, [1, 28, 28], out, family="gan",
                             provenance={"exporter": "bench/bench_families.py make-gan",
                                         "note": "random weights (seed 0): for speed only"}))


def make_draw(out):
    """A random-weight DRAW of models/draw-attn-mnist/train.json's architecture
    (PyTorch's default initialisation of nn.LSTMCell and nn.Linear, seed 0),
    written with the reference's exporter as make_golden_draw.py does."""
    import export
    root = os.path.join(HERE, "..")
    arch = json.load(open(os.path.join(root, "models", "draw-attn-mnist", "train.json")))["architecture"]
    torch.manual_seed(0)
    model = draw_ref.VariaDRAW(arch, [1, 28, 28]).float()
    export.export(model, arch, [1, 28, 28], out, family="draw",
                  provenance={"exporter": "bench/bench_families.py make-draw", "note": "random weights, seed 0"})
    print(os.path.join(out, "model.json"))


# ---------------------------------------------------------------- the report
TASKS = [  # key, family, what, the figure's RESULT key, higher is better, the target
    ("draw-sample", "DRAW", "sampling latency, batch 1, whole trajectory (us)", "sample1_us", False, 3.0),
    ("draw-iw", "DRAW", "IW estimate (images/s)", "iw_per_s", True, 2.0),
    ("vrnn-iw", "VRNN", "IW estimate of the test split (sequences/s)", "iw_per_s", True, 2.0),
    ("vrnn-sample", "VRNN", "sampling long sequences (frames/s)", "frames_per_s", True, 3.0),
    ("ais", "GAN", "AIS throughput (chain-steps/s)", "ais_per_s", True, 3.0),
    ("gan-sample", "GAN", "generator sampling, batch 1000 (samples/s)", "samples_per_s", True, 1.5),
]


def read_results(path):
    out = {}
    if os.path.exists(path):
        for line in open(path):
            if line.startswith("RESULT "):
                _, key, val = line.rstrip("\n").split(" ", 2)
                out[key] = val
    return out


def cpu_key(key):
    return key.replace("_us", "_cpu_us") if key.endswith("_us") else key.replace("_per_s", "_cpu_per_s")


def report(raw, a):
    """The markdown table from raw/{varia,torch}-{task}-t{T}-r{R}.txt; returns
    (text, ok) where ok is False when an estimate check failed."""
    threads, ran = a.thread_list.split(), a.tasks.split() if a.tasks else [row[0] for row in TASKS]
    lines, ok = [], True
    lines.append("| threads | family | measurement | varia | PyTorch (form) | ratio | varia CPU | PyTorch CPU | "
                 "ratio CPU | target |")
    lines.append("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for t in threads:
        for task, fam, what, key, higher, target in TASKS:
            if task not in ran:
                continue
            v, p, vc, pc, form = [], [], [], [], ""
            for r in range(1, a.rounds + 1):
                rv = read_results(os.path.join(raw, "varia-%s-t%s-r%d.txt" % (task, t, r)))
                rp = read_results(os.path.join(raw, "torch-%s-t%s-r%d.txt" % (task, t, r)))
                if key in rv and key in rp:
                    v.append(float(rv[key]))
                    p.append(float(rp[key]))
                    vc.append(float(rv[cpu_key(key)]))
                    pc.append(float(rp[cpu_key(key)]))
                    form = rp.get("form", "").strip('"')
            if not v:
                lines.append("| %s | %s | %s | missing | missing | | | | | %g |" % (t, fam, what, target))
                ok = False
                continue
            mv, mp, mvc, mpc = (float(np.median(u)) for u in (v, p, vc, pc))
            ratio = mv / mp if higher else mp / mv
            rc = mvc / mpc if higher else mpc / mvc
            rr = [(x / y if higher else y / x) for x, y in zip(v, p)]
            fmt = (lambda u: "%.1f" % u) if u_big(mv) else (lambda u: "%.3g" % u)
            lines.append("| %s | %s | %s | %s | %s (%s) | **%.2f** [%.2f-%.2f] | %s | %s | %.2f | %g |"
                         % (t, fam, what, fmt(mv), fmt(mp), form, ratio, min(rr), max(rr), fmt(mvc), fmt(mpc), rc,
                            target))
    # estimates: varia's and PyTorch's per-example values of round 1 (seed 1 / torch seed 1), paired
    t = threads[0]
    lines.append("")
    lines.append("| estimate (threads %s, round 1) | examples | varia mean | PyTorch mean | mean difference | "
                 "5 x its standard error + slack | agree |" % t)
    lines.append("|---|---:|---:|---:|---:|---:|---|")
    for task, slack in (("draw-iw", 0.05), ("vrnn-iw", 0.05), ("ais", 0.1)):
        if task not in ran:
            continue
        rv = read_results(os.path.join(raw, "varia-%s-t%s-r1.txt" % (task, t)))
        rp = read_results(os.path.join(raw, "torch-%s-t%s-r1.txt" % (task, t)))
        if "per_example" not in rv or "per_example" not in rp:
            lines.append("| %s | missing | | | | | NO |" % task)
            ok = False
            continue
        xv = np.array([float(u) for u in rv["per_example"].split(",")])
        xp = np.array([float(u) for u in rp["per_example"].split(",")])
        d = xv - xp
        se = d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 else abs(d[0])
        tol = 5.0 * se + slack
        agree = abs(d.mean()) <= tol
        ok = ok and agree
        lines.append("| %s (log p, nats) | %d | %.3f | %.3f | %+.3f | %.3f | %s |"
                     % (task, len(d), xv.mean(), xp.mean(), d.mean(), tol, "yes" if agree else "**DISAGREE**"))
    return "\n".join(lines) + "\n", ok


def u_big(v):
    return abs(v) >= 100


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("task")
    ap.add_argument("args", nargs="*")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--seq-n", type=int, default=10)
    ap.add_argument("--seq-len", type=int, default=500)
    ap.add_argument("--chains", type=int, default=16)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--leapfrog", type=int, default=10)
    ap.add_argument("--sigma2", type=float, default=0.0)
    ap.add_argument("--thread-list", default="1")
    ap.add_argument("--tasks", default="")
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.task == "make-gan":
        return make_gan(a.args[0])
    if a.task == "make-draw":
        return make_draw(a.args[0])
    if a.task == "report":
        text, ok = report(a.args[0], a)
        print(text, end="")
        sys.exit(0 if ok else 1)
    man, ref = load(a.args[0])
    a.data = a.args[1] if len(a.args) > 1 else None
    # AIS's reference form takes gradients by autograd: no inference mode there (its fast form runs under no_grad)
    with torch.inference_mode() if a.task != "ais" else contextlib.nullcontext():
        if a.task == "latents":
            z = np.random.RandomState(0).randn(a.n, latent_floats(man, a.seq_len)).astype(np.float32)
            z.tofile(a.args[1])
            return
        if a.task == "check-decode":
            z = torch.from_numpy(np.fromfile(a.args[1], np.float32).reshape(a.n, -1))
            want = decode_ref(man, ref, z, a.seq_len)
            got = torch.from_numpy(np.fromfile(a.args[2], np.float32).reshape(want.shape)).double()
            err = (got - want).abs().max().item()
            result("decode_max_abs_diff", "%.3g" % err)
            if not err <= 1e-4:
                fail("check-decode %s: varia's E[x|z] differs from the reference by %.3g (> 1e-4)" % (a.args[0], err))
            return
        result("threads", a.threads)
        tasks = {"draw-sample": task_draw_sample, "draw-iw": task_draw_iw, "vrnn-iw": task_vrnn_iw,
                 "vrnn-sample": task_vrnn_sample, "ais": task_ais, "gan-sample": task_gan_sample}
        if a.task not in tasks:
            fail("unknown task %r" % a.task)
        tasks[a.task](a, man, ref)


if __name__ == "__main__":
    main()
