"""PyTorch side of bench/conv.sh: a conv VAE (docs/format.md §2.4 layer lists, one
stochastic layer, Bernoulli) in the strongest CPU form we could write, on the same
weights as varia (loaded with tools/torch/varia_ref.py).

    bench_conv.py run MODEL.json DATA.amat [--threads T] [--n N] [--k K] [--repeats R]
                      [--calls C] [--no-iw] [--no-latency] [--no-sample]
    bench_conv.py agree MODEL.json DATA.amat VARIA.csv [--n N] [--k K] [--seed S] [--tol NATS]
    bench_conv.py train CONFIG.json [--threads T] [--steps S] [--warmup W]
    bench_conv.py backend
    bench_conv.py report RAW_DIR [--command C] [--machine M] [--commit H] [--threads "1 2"]

run:     times (a) the IW estimate (k samples an image, in chunks of 1000, 2500 or k,
         fastest in a warm-up), (b) the latency of one decode and one encode (batch 1,
         median of C calls) and (c) generation (batches of 1000 from the prior, decoded
         to E[x|z]); RESULT lines as bench/bench_varia.c prints them.
agree:   every image's L_k with varia's own noise (bench_flows.varia_iw_noise) in the
         timed form, against `varia eval --per-example`.
train:   S timed Adam steps (after W untimed ones) of the config's architecture as
         torch.nn modules, on its data (dynamically binarized), its batch, objective
         (analytic ELBO, k = 1) and optimizer: examples/s.
backend: what PyTorch's convolutions run on (oneDNN or its own), from
         torch.backends.mkldnn and the profiler's op names.

The timed form (class ConvFast): float32, torch.inference_mode(), torch's threads T;
F.conv2d / F.conv_transpose2d / F.linear on the model's tensors, ReLU in place, the
encoder's mean and scale heads one product; six variants (oneDNN on or off, NCHW
or channels-last tensors; with oneDNN, also each transposed conv rewritten as a
stride-1 conv2d over its zero-inserted input, which oneDNN runs threaded) are
timed in a warm-up and the fastest is used for each measurement. Before timing, log w is checked against varia_ref's generic code.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tools", "torch"))
sys.path.insert(0, HERE)

from bench_flows import varia_iw_noise  # noqa: E402
from bench_torch import log, read_amat  # noqa: E402

LOG_2PI = math.log(2.0 * math.pi)
# (oneDNN, channels-last, transposed convs as conv2d over the zero-inserted input)
VARIANTS = [(True, False, False), (True, True, False), (False, False, False), (False, True, False),
            (True, False, True), (True, True, True)]


# ---------------------------------------------------------------- the timed form

def pair(a):
    return tuple(a) if isinstance(a, (tuple, list)) else (a, a)


def as_conv_weight(w):
    """A transposed conv's weight [in, out, kh, kw] as the equivalent stride-1
    conv2d's [out, in, kh, kw]: in and out swapped, the kernel flipped."""
    return w.flip(2, 3).transpose(0, 1)


def zero_inserted(F, v, mod, kernel, fmt):
    """The input of conv_transpose2d(v, w, stride s, padding p, output padding o)
    rewritten for a stride-1 conv2d with as_conv_weight(w): s - 1 zeros between
    pixels, then k - 1 - p rows and columns of zeros around (o more at the bottom
    and right). oneDNN runs that conv2d threaded; this torch has no oneDNN path
    for conv_transpose2d itself (see cmd_backend)."""
    (sh, sw), (ph, pw), (oh, ow) = pair(mod.stride), pair(mod.padding), pair(mod.output_padding)
    qh, qw = kernel[0] - 1 - ph, kernel[1] - 1 - pw
    if qh < 0 or qw < 0:
        raise SystemExit("bench_conv: padding larger than kernel - 1: no zero-inserted form")
    n, c, h, w = v.shape
    up = v.new_zeros(n, c, (h - 1) * sh + 1, (w - 1) * sw + 1)
    up[:, :, ::sh, ::sw] = v
    return F.pad(up, (qw, qw + ow, qh, qh + oh)).contiguous(memory_format=fmt)


class ConvFast:
    """The model's passes written on its tensors. variant = (oneDNN enabled,
    channels-last): set it with use(); every call then runs in that form. With
    trainable set, the live parameters are used (autograd sees them)."""

    def __init__(self, torch, model):
        self.torch, self.F = torch, torch.nn.functional
        enc, dec = model.enc1, model.dec1
        if not hasattr(enc, "net") or not hasattr(dec, "net") or dec.kind != "bernoulli":
            raise SystemExit("bench_conv: a Bernoulli model with encoder_net and decoder_net only")
        self.model, self.L, self.log_std = model, enc.mean.out_features, enc.log_std
        self.in_shape = list(enc.net.in_shape)
        self.head_w = torch.cat([enc.mean.weight, enc.scale.weight]).detach().contiguous()
        self.head_b = torch.cat([enc.mean.bias, enc.scale.bias]).detach().contiguous()
        self.nets = {"enc": enc.net, "dec": dec.net}
        self.enc, self.trainable = enc, False
        self.use((True, False, False))

    def use(self, variant):
        """Select (oneDNN, channels-last); conv weights are laid out for it once."""
        import varia_ref
        self.variant, torch = variant, self.torch
        fmt = torch.channels_last if variant[1] else torch.contiguous_format
        self.steps = {}
        for name, net in self.nets.items():
            steps = []
            for mod, (kind, act, shape) in zip(net, net.steps):
                w = b = None
                if kind in ("dense", "conv", "conv_transpose"):
                    w, b = mod.weight.detach(), mod.bias.detach()
                    if kind == "conv_transpose" and variant[2]:
                        w = as_conv_weight(w)
                    w = w.contiguous(memory_format=fmt) if kind != "dense" else w.contiguous()
                bn = mod if isinstance(mod, varia_ref.EvalBatchNorm) else None
                steps.append((kind, mod, w, b, act, shape, bn))
            self.steps[name] = steps

    def run(self, name, v):
        """Network `name` on v [n, in size] -> [n, out size]."""
        F, torch = self.F, self.torch
        fmt = torch.channels_last if self.variant[1] else torch.contiguous_format
        n = v.shape[0]
        with torch.backends.mkldnn.flags(enabled=self.variant[0]):
            if name == "enc" and len(self.in_shape) == 3:
                v = v.reshape(n, *self.in_shape).contiguous(memory_format=fmt)
            for kind, mod, w, b, act, shape, bn in self.steps[name]:
                if self.trainable and w is not None:
                    w, b = mod.weight, mod.bias
                    if kind == "conv_transpose" and self.variant[2]:
                        w = as_conv_weight(w)
                    w = w.contiguous(memory_format=fmt) if kind != "dense" else w
                if kind == "dense":
                    v = F.linear(v.reshape(n, -1), w, b)
                elif kind == "conv":
                    v = F.conv2d(v, w, b, mod.stride, mod.padding)
                elif kind == "conv_transpose" and self.variant[2]:
                    v = F.conv2d(zero_inserted(F, v, mod, w.shape[2:], fmt), w, b)
                elif kind == "conv_transpose":
                    v = F.conv_transpose2d(v, w, b, mod.stride, mod.padding, mod.output_padding)
                elif bn is not None:
                    v = bn(v)
                elif kind in ("reshape", "flatten"):
                    v = v.reshape(n, *shape)
                    if len(shape) == 3:
                        v = v.contiguous(memory_format=fmt)
                if act is torch.relu:
                    v = F.relu_(v) if v.is_contiguous() or v.is_contiguous(memory_format=fmt) else F.relu(v)
                elif kind != "reshape" and kind != "flatten":
                    v = act(v)
        return v.reshape(n, -1)

    def encode(self, x):
        """(mean, log sigma^2) [n, L] of x [n, D]."""
        torch, e = self.torch, self.enc
        w, b = self.head_w, self.head_b
        if self.trainable:
            w, b = torch.cat([e.mean.weight, e.scale.weight]), torch.cat([e.mean.bias, e.scale.bias])
        h = torch.addmm(b, self.run("enc", x), w.t())
        mean, s = h[:, :self.L], h[:, self.L:]
        return mean, (2.0 * s if self.log_std else s)

    def log_w(self, p, x, eps):
        """log w [m] of one image x [D] for noise eps [m, L]; p = encode(x[None])."""
        torch = self.torch
        mean, logvar = p
        z = torch.addcmul(mean, torch.exp(0.5 * logvar), eps)
        logits = self.run("dec", z)
        log_px = logits @ x - self.F.softplus(logits).sum(1)
        log_pz = -0.5 * (z * z).sum(1) - 0.5 * LOG_2PI * self.L
        log_qz = -0.5 * (eps * eps).sum(1) - 0.5 * (logvar.sum() + LOG_2PI * self.L)
        return log_px + log_pz - log_qz


def load(model_path, threads):
    """(torch, varia_ref model, ConvFast) for MODEL.json, float32, torch's threads set."""
    import torch
    import varia_ref
    torch.set_num_threads(threads)
    model = varia_ref.load(model_path).float().eval()
    if model.n_layers != 1 or model.flow_spec is not None:
        raise SystemExit("bench_conv: only one-stochastic-layer models without a flow")
    return torch, model, ConvFast(torch, model)


def check_against_ref(torch, model, fast, x):
    """Every variant's log w (64 samples of image x) against varia_ref's generic code:
    exits on a difference. Returns the largest |difference|."""
    eps = torch.randn(64, fast.L, generator=torch.Generator().manual_seed(5))
    ref = model.log_weights(x, [eps])["log_w"]
    worst = 0.0
    for variant in VARIANTS:
        fast.use(variant)
        got = fast.log_w(fast.encode(x[None]), x, eps)
        diff = float((got - ref).abs().max())
        if not torch.allclose(got, ref, rtol=1e-4, atol=2e-3):
            raise SystemExit("bench_conv: variant %s: log w differs from varia_ref by %g" % (variant, diff))
        worst = max(worst, diff)
    return worst


def fastest(fast, fn, rounds=3):
    """The variant of `fast` under which fn() is fastest: each warmed up, then timed
    (switching variants untimed) in alternating rounds, best of each. Returns it
    and leaves `fast` in it."""
    best = {}
    for variant in VARIANTS:
        fast.use(variant)
        fn()
    for _ in range(rounds):
        for variant in VARIANTS:
            fast.use(variant)
            t0 = time.perf_counter()
            fn()
            best[variant] = min(best.get(variant, float("inf")), time.perf_counter() - t0)
    log("  variants (oneDNN, channels-last) best s: " +
        ", ".join("%s: %.4g" % (v, best[v]) for v in VARIANTS))
    choice = min(VARIANTS, key=lambda v: best[v])
    fast.use(choice)
    return choice


def variant_name(v):
    return "%s%s%s" % ("onednn" if v[0] else "native", "+channels_last" if v[1] else "+nchw",
                       "+tconv_as_conv" if v[2] else "")


# ---------------------------------------------------------------- run

def iw_image(torch, fast, x, k, chunk, gen):
    """L_k of one image: k samples of torch.randn noise in chunks, log-sum-exp in double."""
    p = fast.encode(x[None])
    parts = [fast.log_w(p, x, torch.randn(min(chunk, k - s), fast.L, generator=gen)).double()
             for s in range(0, k, chunk)]
    return float(torch.logsumexp(torch.cat(parts), 0)) - math.log(k)


def bench_iw(torch, fast, data, args):
    """(a): variant and chunk chosen on image 0, then R passes over the N images."""
    gen = torch.Generator().manual_seed(1000)
    variant = fastest(fast, lambda: iw_image(torch, fast, data[0], args.k, 1000, gen), 2)
    chunks = sorted({min(c, args.k) for c in (1000, 2500, args.k)})
    best = {c: float("inf") for c in chunks}
    for _ in range(2):
        for c in chunks:
            t0 = time.perf_counter()
            iw_image(torch, fast, data[0], args.k, c, gen)
            best[c] = min(best[c], time.perf_counter() - t0)
    chunk = min(chunks, key=lambda c: best[c])
    times, nlls = [], []
    for r in range(args.repeats):
        gen = torch.Generator().manual_seed(args.seed + r)
        t0 = time.perf_counter()
        total = sum(iw_image(torch, fast, data[i], args.k, chunk, gen) for i in range(data.shape[0]))
        times.append(time.perf_counter() - t0)
        nlls.append(-total / data.shape[0])
        log("  torch iw repeat %d: %.3f s, NLL %.4f" % (r + 1, times[-1], nlls[-1]))
    med = float(np.median(times))
    print("RESULT iw_variant %s\nRESULT iw_chunk %d" % (variant_name(variant), chunk))
    print("RESULT iw_n %d\nRESULT iw_k %d" % (data.shape[0], args.k))
    print("RESULT iw_seconds %.6f\nRESULT iw_images_per_s %.4f" % (med, data.shape[0] / med))
    print("RESULT iw_nll_mean %.6f\nRESULT iw_nll_sd %.6f" % (float(np.mean(nlls)), float(np.std(nlls))),
          flush=True)


def median_call_us(fn, calls):
    """Median of `calls` individually timed calls of fn, after calls / 10 + 1 warm-ups."""
    for _ in range(calls // 10 + 1):
        fn()
    t = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return 1e6 * float(np.median(t))


def bench_latency(torch, fast, data, args):
    """(b): one decode (E[x|z], z the first image's posterior mean) and one encode."""
    x = data[:1]
    z = fast.encode(x)[0]
    dec = lambda: torch.sigmoid(fast.run("dec", z))  # noqa: E731
    enc = lambda: fast.encode(x)  # noqa: E731
    out = {}
    for name, fn in (("decode", dec), ("encode", enc)):
        variant = fastest(fast, lambda fn=fn: [fn() for _ in range(20)], 2)
        out[name] = (median_call_us(fn, args.calls), variant)
    for name, (us, v) in out.items():
        print("RESULT %s_us %.4f\nRESULT %s_variant %s" % (name, us, name, variant_name(v)))
    print("RESULT latency_calls %d" % args.calls, flush=True)


def bench_sample(torch, fast, args):
    """(c): batches of 1000 from the prior, decoded to E[x|z]."""
    gen = torch.Generator().manual_seed(999)
    batch = 1000
    fn = lambda: torch.sigmoid(fast.run("dec", torch.randn(batch, fast.L, generator=gen)))  # noqa: E731
    variant = fastest(fast, fn, 2)
    t = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    print("RESULT sample_batch %d\nRESULT sample_per_s %.2f\nRESULT sample_variant %s"
          % (batch, batch / float(np.median(t)), variant_name(variant)), flush=True)


def cmd_run(args):
    torch, model, fast = load(args.model, args.threads)
    data = torch.from_numpy(read_amat(args.data, args.n))
    with torch.inference_mode():
        diff = check_against_ref(torch, model, fast, data[0])
        print("RESULT torch_version %s\nRESULT torch_threads %d\nRESULT ref_max_abs_diff %.3g"
              % (torch.__version__, torch.get_num_threads(), diff))
        if not args.no_iw:
            bench_iw(torch, fast, data, args)
        if not args.no_latency:
            bench_latency(torch, fast, data, args)
        if not args.no_sample:
            bench_sample(torch, fast, args)


# ---------------------------------------------------------------- agree

def cmd_agree(args):
    """Every image's L_k with varia's own noise, in every variant of the timed form,
    against varia's per-example CSV (column log_px); exits 1 beyond --tol."""
    torch, model, fast = load(args.model, 1)
    data = torch.from_numpy(read_amat(args.data, args.n))
    rows = [l.strip().split(",") for l in open(args.varia_csv) if l.strip()]
    col = rows[0].index("log_px")
    varia = [float(r[col]) for r in rows[1:]]
    n = min(len(varia), data.shape[0])
    worst, ours = 0.0, []
    with torch.inference_mode():
        for variant in VARIANTS:
            fast.use(variant)
            ours = []
            for i in range(n):
                eps = torch.from_numpy(varia_iw_noise(args.seed, i, args.k, fast.L))
                p = fast.encode(data[i][None])
                lw = torch.cat([fast.log_w(p, data[i], eps[s:s + 1000]).double() for s in range(0, args.k, 1000)])
                ours.append(float(torch.logsumexp(lw, 0)) - math.log(args.k))
            worst = max(worst, max(abs(a - b) for a, b in zip(ours, varia[:n])))
    print("RESULT agree_n %d\nRESULT agree_k %d" % (n, args.k))
    print("RESULT agree_varia_nll %.6f\nRESULT agree_torch_nll %.6f" % (-sum(varia[:n]) / n, -sum(ours) / n))
    print("RESULT agree_max_abs_diff %.3g\nRESULT agree_ok %d" % (worst, worst <= args.tol), flush=True)
    sys.exit(0 if worst <= args.tol else 1)


# ---------------------------------------------------------------- train

def read_idx(path, limit):
    """The first `limit` images of an IDX3 file as float32 [n, rows*cols] in [0, 1]."""
    import gzip
    raw = (gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open)(path, "rb").read()
    n, rows, cols = (int(v) for v in np.frombuffer(raw[4:16], dtype=">u4"))
    n = min(n, limit) if limit > 0 else n
    return np.frombuffer(raw, np.uint8, n * rows * cols, 16).reshape(n, rows * cols).astype(np.float32) / 255.0


def train_step(torch, fast, opt, x, gen):
    """One Adam step of the analytic ELBO (k = 1) on probabilities x, binarized here."""
    xb = torch.bernoulli(x, generator=gen)
    mean, logvar = fast.encode(xb)
    z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=gen)
    logits = fast.run("dec", z)
    nll = (fast.F.softplus(logits) - logits * xb).sum(1)
    kl = 0.5 * (mean * mean + torch.exp(logvar) - 1.0 - logvar).sum(1)
    loss = (nll + kl).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss)


def cmd_train(args):
    """S timed steps after W untimed ones (the variant chosen on 5 steps of each);
    RESULT lines: examples/s, the variant, the mean loss of the timed steps."""
    import torch
    import varia_ref
    torch.set_num_threads(args.threads)
    c = json.load(open(args.config))
    if c["objective"].get("kind") != "elbo" or int(c["objective"].get("k", 1)) != 1:
        raise SystemExit("bench_conv train: only the analytic ELBO with k = 1")
    root = os.path.dirname(HERE)
    path = c["data"]["train"] if os.path.isabs(c["data"]["train"]) else os.path.join(root, c["data"]["train"])
    batch = int(c["batch"])
    x = torch.from_numpy(read_idx(path, (args.steps + args.warmup + 20) * batch))
    if any(e["type"] == "batch_norm" for l in c["architecture"]["layers"]
           for e in l.get("encoder_net", []) + l.get("decoder_net", [])):
        raise SystemExit("bench_conv train: batch norm is not in this form (varia_ref's is eval-mode)")
    model = varia_ref.VariaVAE(c["architecture"], [x.shape[1]]).float().train()
    fast = ConvFast(torch, model)
    fast.trainable = True
    o = c["optimizer"]
    opt = torch.optim.Adam(model.parameters(), lr=o["lr"], betas=(o.get("beta1", 0.9), o.get("beta2", 0.999)),
                           eps=o.get("eps", 1e-8))
    gen = torch.Generator().manual_seed(1)
    pos = [0]

    def next_batch():
        i = pos[0] % (x.shape[0] // batch)
        pos[0] += 1
        return x[i * batch:(i + 1) * batch]

    variant = fastest(fast, lambda: [train_step(torch, fast, opt, next_batch(), gen) for _ in range(5)], 1)
    for _ in range(args.warmup):
        train_step(torch, fast, opt, next_batch(), gen)
    losses = []
    t0 = time.perf_counter()
    for _ in range(args.steps):
        losses.append(train_step(torch, fast, opt, next_batch(), gen))
    sec = time.perf_counter() - t0
    print("RESULT train_steps %d\nRESULT train_batch %d\nRESULT train_seconds %.6f" % (args.steps, batch, sec))
    print("RESULT train_examples_per_s %.2f\nRESULT train_variant %s\nRESULT train_loss %.4f"
          % (args.steps * batch / sec, variant_name(variant), float(np.mean(losses))), flush=True)


# ---------------------------------------------------------------- backend

def cmd_backend(args):
    """What PyTorch's CPU convolutions run on: oneDNN (mkldnn) availability and the
    aten ops a conv2d and a conv_transpose2d dispatch to, with oneDNN on and off."""
    import torch
    F = torch.nn.functional
    print("RESULT torch_version %s" % torch.__version__)
    print("RESULT mkldnn_available %d\nRESULT mkldnn_enabled %d"
          % (torch.backends.mkldnn.is_available(), torch.backends.mkldnn.enabled))
    parts = []
    for line in torch.__config__.show().splitlines():
        for part in line.split(", "):
            if any(s in part for s in ("BLAS_INFO", "MKL-DNN", "oneDNN", "CPU capability")):
                parts.append(part.strip(" -"))
    print("RESULT config %s" % "; ".join(parts))
    x, w = torch.randn(20, 16, 14, 14), torch.randn(32, 16, 5, 5)
    wt = w.transpose(0, 1).contiguous()
    cl = torch.channels_last
    for enabled in (True, False):
        for last in (False, True):
            xi, wi, wti = (x.contiguous(memory_format=cl), w.contiguous(memory_format=cl),
                           wt.contiguous(memory_format=cl)) if last else (x, w, wt)
            with torch.backends.mkldnn.flags(enabled=enabled), torch.inference_mode():
                for name, fn in (("conv2d", lambda: F.conv2d(xi, wi, None, 2, 2)),
                                 ("conv_transpose2d", lambda: F.conv_transpose2d(xi, wti, None, 2, 2, 1))):
                    with torch.autograd.profiler.profile() as prof:
                        fn()
                    ops = sorted({e.name for e in prof.function_events
                                  if e.name not in ("aten::conv2d", "aten::conv_transpose2d", "aten::convolution",
                                                    "aten::_convolution")
                                  and ("conv" in e.name or "mkldnn" in e.name)})
                    print("RESULT ops_%s_%s %s" % (name, variant_name((enabled, last, False)), ",".join(ops)))


# ---------------------------------------------------------------- report

def net_flop(entries, shape):
    """(FLOP per row, output shape) of a layer list on input `shape`: 2 per
    multiply-add of dense, conv and transposed-conv products (bias, activations and
    batch norms not counted)."""
    flop, shape = 0, list(shape)
    pair = lambda v: [int(v), int(v)] if not isinstance(v, list) else [int(a) for a in v]  # noqa: E731
    for e in entries:
        t = e["type"]
        if t == "dense":
            n = int(np.prod(shape))
            flop += 2 * n * int(e["out"])
            shape = [int(e["out"])]
        elif t in ("conv", "conv_transpose"):
            k, s, p = pair(e["kernel"]), pair(e.get("stride", 1)), pair(e.get("padding", 0))
            op, cin, cout = pair(e.get("output_padding", 0)), shape[0], int(e["out"])
            if t == "conv":
                hw = [(shape[1 + i] + 2 * p[i] - k[i]) // s[i] + 1 for i in range(2)]
                flop += 2 * cout * hw[0] * hw[1] * cin * k[0] * k[1]
            else:
                hw = [(shape[1 + i] - 1) * s[i] - 2 * p[i] + k[i] + op[i] for i in range(2)]
                flop += 2 * cin * shape[1] * shape[2] * cout * k[0] * k[1]
            shape = [cout] + hw
        elif t == "reshape":
            shape = [int(v) for v in e["shape"]]
        elif t == "flatten":
            shape = [int(np.prod(shape))]
    return flop, shape


def model_flop(manifest):
    """(encoder with heads, decoder) FLOP per row of the manifest's conv VAE."""
    lay = manifest["architecture"]["layers"][0]
    enc, out = net_flop(lay["encoder_net"], manifest["data"]["shape"])
    dec, _ = net_flop(lay["decoder_net"], [int(lay["latent"])])
    return enc + 2 * 2 * int(np.prod(out)) * int(lay["latent"]), dec


def read_result(path):
    """{key: value string} of the RESULT lines (or a varia train report) of one file."""
    out = {}
    if os.path.exists(path):
        text = open(path).read()
        if text.lstrip().startswith("{"):
            return {k: str(v) for k, v in json.loads(text.strip().splitlines()[-1]).items()}
        for line in text.splitlines():
            p = line.split(None, 2)
            if len(p) >= 3 and p[0] == "RESULT":
                out[p[1]] = p[2]
    return out


def median_of(raw, pattern, key, rounds):
    vals = [float(r[key]) for r in (read_result(os.path.join(raw, pattern % i)) for i in range(1, rounds + 1))
            if key in r]
    return float(np.median(vals)) if vals else float("nan"), len(vals)


def cmd_report(args):
    """The markdown report of bench/conv.sh from its raw folder."""
    raw = args.raw
    man = json.load(open(open(os.path.join(raw, "model.txt")).read().split()[0]))
    enc_f, dec_f = model_flop(man)
    peak_line = open(os.path.join(raw, "peak.txt")).read().strip()
    try:
        peak = float(peak_line.split(":")[1].split("GFLOP/s")[0])
    except (IndexError, ValueError):
        peak = float("nan")
    back = read_result(os.path.join(raw, "backend.txt"))
    agree = read_result(os.path.join(raw, "agree.txt"))
    k = int(args.k)
    out = []
    w = out.append
    w("# varia vs PyTorch: conv VAE (%s)" % open(os.path.join(raw, "model.txt")).read().split()[0])
    w("")
    w("- command: `%s`; commit %s" % (args.command, args.commit))
    w("- machine: %s; build/bench/bench_peak: %s" % (args.machine, peak_line))
    w("- PyTorch %s: oneDNN available %s; %s. What each form's convolutions dispatch to (profiler):"
      % (back.get("torch_version", "?"), back.get("mkldnn_available", "?"), back.get("config", "?")))
    for v in VARIANTS:
        n, base = variant_name(v), variant_name(v[:2] + (False,))
        tconv = ("`%s` on the zero-inserted input" % back.get("ops_conv2d_" + base, "?") if v[2]
                 else "`%s`" % back.get("ops_conv_transpose2d_" + base, "?"))
        w("  - %s: conv2d `%s`, conv_transpose2d %s" % (n, back.get("ops_conv2d_" + base, "?"), tconv))
    w("- FLOP per row (products only): encoder + heads %d, decoder %d" % (enc_f, dec_f))
    w("- agreement on varia's own noise (k %s, %s images): varia NLL %s, PyTorch %s, max |diff| %s nats: %s"
      % (agree.get("agree_k", "?"), agree.get("agree_n", "?"), agree.get("agree_varia_nll", "?"),
         agree.get("agree_torch_nll", "?"), agree.get("agree_max_abs_diff", "?"),
         "ok" if agree.get("agree_ok") == "1" else "FAILED"))
    w("")
    w("| threads | measurement | varia | PyTorch (form) | ratio | varia % of peak | PyTorch % of peak |")
    w("|---:|---|---:|---:|---:|---:|---:|")
    for t in [int(v) for v in args.threads.split()]:
        cap = t * peak * 1e9
        rows = [("IW k=%d, images/s" % k, "iw_images_per_s", enc_f + k * dec_f, "iw_variant"),
                ("generate batch 1000, samples/s", "sample_per_s", dec_f, "sample_variant"),
                ("decode batch 1, us", "decode_us", dec_f, "decode_variant"),
                ("encode batch 1, us", "encode_us", enc_f, "encode_variant")]
        for name, key, flop, vkey in rows:
            v, _ = median_of(raw, "varia-t%d-r%%d.txt" % t, key, args.rounds)
            p, _ = median_of(raw, "torch-t%d-r%%d.txt" % t, key, args.rounds)
            form = read_result(os.path.join(raw, "torch-t%d-r1.txt" % t)).get(vkey, "?")
            us = key.endswith("_us")
            ratio = p / v if us else v / p
            rate = (lambda x: flop / (x * 1e-6)) if us else (lambda x: flop * x)
            w("| %d | %s | %.4g | %.4g (%s) | %.2f | %.1f | %.1f |" % (t, name, v, p, form, ratio,
                                                                  100 * rate(v) / cap, 100 * rate(p) / cap))
        v, _ = median_of(raw, "varia-train-t%d-r%%d.json" % t, "examples_per_s", args.rounds)
        p, _ = median_of(raw, "torch-train-t%d-r%%d.txt" % t, "train_examples_per_s", args.rounds)
        form = read_result(os.path.join(raw, "torch-train-t%d-r1.txt" % t)).get("train_variant", "?")
        flop = 3 * (enc_f + dec_f)
        w("| %d | training (batch %s), examples/s | %.4g | %.4g (%s) | %.2f | %.1f | %.1f |"
          % (t, args.batch, v, p, form, v / p, 100 * flop * v / cap, 100 * flop * p / cap))
    w("")
    w("Ratios are varia's speed over PyTorch's (> 1: varia faster; latencies: PyTorch's time over "
      "varia's). Medians over %d rounds in ABBA order. %% of peak: the FLOP above at the measured rate "
      "against threads x the per-core peak of build/bench/bench_peak; training counts 3x the forward "
      "FLOP (forward, input and weight gradients)." % args.rounds)
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("model")
    r.add_argument("data")
    for name, val in (("--threads", 1), ("--n", 20), ("--k", 5000), ("--repeats", 3), ("--calls", 2000),
                      ("--seed", 1)):
        r.add_argument(name, type=int, default=val)
    for flag in ("--no-iw", "--no-latency", "--no-sample"):
        r.add_argument(flag, action="store_true")
    a = sub.add_parser("agree")
    a.add_argument("model")
    a.add_argument("data")
    a.add_argument("varia_csv")
    a.add_argument("--n", type=int, default=20)
    a.add_argument("--k", type=int, default=5000)
    a.add_argument("--seed", type=int, default=1)
    a.add_argument("--tol", type=float, default=2e-3)
    t = sub.add_parser("train")
    t.add_argument("config")
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--steps", type=int, default=200)
    t.add_argument("--warmup", type=int, default=10)
    sub.add_parser("backend")
    rep = sub.add_parser("report")
    rep.add_argument("raw")
    for name in ("--command", "--machine", "--commit", "--threads", "--k", "--batch"):
        rep.add_argument(name, default="?")
    rep.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    {"run": cmd_run, "agree": cmd_agree, "train": cmd_train, "backend": cmd_backend,
     "report": cmd_report}[args.cmd](args)


if __name__ == "__main__":
    main()
