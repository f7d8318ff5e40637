"""How bench_torch.py's PyTorch forms were chosen: times alternative formulations of
the same three measurements (IW estimate at k = 5000; generation in batches of 1000;
batch-1 decode and encode) on the same model, interleaved round by round so that a
burst of load on a shared machine hits every form alike, and prints each form's
best and median. Every form is first checked against varia_ref on the same noise.

    /usr/bin/python3 bench/torch_forms.py MODEL.json DATA.amat[.gz] [--threads T]
        [--rounds R] [--only iw,sample,latency]

Run it with the environment of bench/run.sh (OPENBLAS_CORETYPE=Cooperlake
OPENBLAS_NUM_THREADS=T OMP_NUM_THREADS=T OMP_WAIT_POLICY=...). For a
one-stochastic-layer Bernoulli model with tanh networks (the benchmark's).
"""
import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import LOG_2PI, Fast, iw_image, read_amat, ROOT  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tools", "torch"))


class Old(Fast):
    """bench_torch.py's forms before the search (F.linear, tanh_, F.softplus, fresh
    results on every call); subclasses change one thing each."""

    def logits(self, z):
        h = z
        for w, b in self.dec_hidden:
            h = self.F.linear(h, w, b).tanh_()
        return self.F.linear(h, *self.dec_out)

    def decode_mean(self, z):
        return self.torch.sigmoid(self.logits(z))

    def log_px(self, logits, x):
        return self.torch.mv(logits, x) - self.F.softplus(logits).sum(-1)

    def log_w(self, x, eps):
        torch = self.torch
        mean, logvar = self.encode(x.unsqueeze(0))
        z = torch.addcmul(mean, torch.exp(0.5 * logvar), eps)
        log_q = -0.5 * (self.L * LOG_2PI + logvar.sum() + (eps * eps).sum(-1))
        log_p = -0.5 * (self.L * LOG_2PI + (z * z).sum(-1))
        return self.log_px(self.logits(z), x) + log_p - log_q


class Bce(Old):
    """log p(x|z) through the composite binary_cross_entropy_with_logits."""

    def log_px(self, logits, x):
        return -self.F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)


class LogSigmoid(Old):
    """log p(x|z) = sum logsigmoid((2x - 1) logits), for binary x."""

    def log_px(self, logits, x):
        return self.F.logsigmoid(logits * (2.0 * x - 1.0)).sum(-1)


class Mkldnn(Old):
    """The decoder's products through oneDNN (torch.utils.mkldnn)."""

    def __init__(self, model, torch):
        super().__init__(model, torch)
        from torch.utils import mkldnn
        self.mk = [mkldnn.to_mkldnn(l) for l in list(model.dec1.hidden) + [model.dec1.out]]

    def logits(self, z):
        h = z.to_mkldnn()
        for lin in self.mk[:-1]:
            h = lin(h).to_dense().tanh_().to_mkldnn()
        return self.mk[-1](h).to_dense()


class Buffers(Old):
    """addmm into results allocated once per row count (weights transposed once)."""

    def logits(self, z):
        torch = self.torch
        m = z.shape[0]
        outs = self._buffers(("b", m), [(m, w.shape[0]) for w, _ in self.dec_hidden + [self.dec_out]])
        h = z
        for (w, b), o in zip(self.dec_hidden, outs):
            h = torch.addmm(b, h, w.t(), out=o).tanh_()
        return torch.addmm(self.dec_out[1], h, self.dec_out[0].t(), out=outs[-1])


class BuffersExpLog(Buffers):
    """The same, and log(1 + exp(l)) in place for softplus."""

    def log_px(self, logits, x):
        return self.torch.mv(logits, x) - logits.exp_().add_(1.0).log_().sum(-1)


class Folded(BuffersExpLog):
    """tanh(a) = 2 sigmoid(2a) - 1 with the whole affine map folded into the next
    layer's weights (W (2s - 1) + b = 2W s + (b - W 1)): one sigmoid_ per layer."""

    def __init__(self, model, torch):
        super().__init__(model, torch)
        ws = [w.double() for w, _ in self.dec_hidden] + [self.dec_out[0].double()]
        bs = [b.double() for _, b in self.dec_hidden] + [self.dec_out[1].double()]
        self.folded = []
        for i, (w, b) in enumerate(zip(ws, bs)):
            if i > 0:
                w, b = 2.0 * w, b - w.sum(1)
            if i < len(ws) - 1:
                w, b = 2.0 * w, 2.0 * b
            self.folded.append((w.t().contiguous().float(), b.float()))

    def logits(self, z):
        torch = self.torch
        m = z.shape[0]
        outs = self._buffers(("f", m), [(m, w.shape[1]) for w, _ in self.folded])
        h = z
        for (w, b), o in zip(self.folded[:-1], outs):
            h = torch.addmm(b, h, w, out=o).sigmoid_()
        return torch.addmm(self.folded[-1][1], h, self.folded[-1][0], out=outs[-1])


def interleave(forms, rounds, one):
    """{name: [speed per round]}, every form timed once per round in turn."""
    speeds = {name: [] for name in forms}
    for r in range(rounds):
        for name, form in forms.items():
            speeds[name].append(one(form, r))
    return speeds


def report(title, unit, speeds, higher_better=True):
    print("\n%s (%s; best and median of %d rounds)" % (title, unit, len(next(iter(speeds.values())))))
    for name, v in speeds.items():
        best = max(v) if higher_better else min(v)
        print("  %-76s %10.2f %10.2f" % (name, best, float(np.median(v))), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("data")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--only", default="iw,sample,latency")
    args = ap.parse_args()
    import torch
    import varia_ref

    torch.set_num_threads(args.threads)
    model = varia_ref.load(args.model).float().eval()
    data = torch.from_numpy(read_amat(args.data, 8))
    k = 5000
    print("torch %s, %d threads, OMP_WAIT_POLICY=%s, torch.compile: %s"
          % (torch.__version__, args.threads, os.environ.get("OMP_WAIT_POLICY", "(unset)"),
             "available" if hasattr(torch, "compile") else "absent (PyTorch < 2.0)"))
    with torch.inference_mode():
        kinds = {"old bench_torch.py: F.linear, tanh_, F.softplus": Old, "BCE composite": Bce,
                 "logsigmoid((2x-1) l)": LogSigmoid, "oneDNN linear (to_mkldnn)": Mkldnn,
                 "addmm into buffers": Buffers, "buffers + log(1+exp) in place": BuffersExpLog,
                 "buffers + exp/log + tanh as sigmoid (now)": Fast,
                 "fully folded affine, one sigmoid_ per layer": Folded}
        impls = {name: cls(model, torch) for name, cls in kinds.items()}
        x = data[0]
        eps = torch.randn(64, impls["addmm into buffers"].L, generator=torch.Generator().manual_seed(5))
        ref = model.log_weights(x, [eps])["log_w"]
        for name, impl in impls.items():
            err = float((impl.log_w(x, eps) - ref).abs().max())
            if err > 1e-3:
                raise SystemExit("%s: log w differs from varia_ref by %g" % (name, err))
        if "iw" in args.only:
            forms = {}
            for name, impl in impls.items():
                for chunk in ((1000, 2500, 5000) if name in ("old bench_torch.py: F.linear, tanh_, F.softplus",
                                                             "addmm into buffers") or impl.__class__ is Fast
                              else (2500,)):
                    forms["%s, chunks of %d" % (name, chunk)] = (impl, chunk)
            for impl, chunk in forms.values():  # warm-up: buffers allocated, caches filled
                iw_image(torch, impl, x, k, chunk, torch.Generator().manual_seed(0))

            def one_iw(form, r):
                impl, chunk = form
                t0 = time.perf_counter()
                iw_image(torch, impl, data[r % data.shape[0]], k, chunk, torch.Generator().manual_seed(r))
                return 1.0 / (time.perf_counter() - t0)

            report("IW estimate, k = %d, one image per round" % k, "images/s", interleave(forms, args.rounds, one_iw))
        if "sample" in args.only:
            gen = torch.Generator().manual_seed(9)
            forms = {"old: randn, F.linear, tanh_, sigmoid": impls["old bench_torch.py: F.linear, tanh_, F.softplus"],
                     "addmm into buffers, tanh_, sigmoid": impls["addmm into buffers"],
                     "buffers, tanh as sigmoid, sigmoid_ in place (now)": impls["buffers + exp/log + tanh as sigmoid (now)"]}

            def one_sample(impl, r):
                impl.decode_mean(torch.randn(1000, impl.L, generator=gen))
                t0 = time.perf_counter()
                for _ in range(10):
                    impl.decode_mean(torch.randn(1000, impl.L, generator=gen))
                return 10000 / (time.perf_counter() - t0)

            report("generation, batches of 1000", "samples/s", interleave(forms, args.rounds, one_sample))
        if "latency" in args.only:
            fast = impls["buffers + exp/log + tanh as sigmoid (now)"]
            xb = data[:1].clone()
            z = fast.encode(xb)[0].clone()

            class Dec(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.layers = torch.nn.ModuleList(list(model.dec1.hidden) + [model.dec1.out])

                def forward(self, v):
                    for i, lin in enumerate(self.layers):
                        v = lin(v)
                        v = torch.tanh(v) if i + 1 < len(self.layers) else torch.sigmoid(v)
                    return v

            jit = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(Dec().eval())))
            forms = {"decode, 2-D F.linear + tanh_ (old form)": (fast.decode_mean_small, z),
                     "decode, 1-D addmv into buffers": (fast.decode_mean_1d, z[0]),
                     "decode, 2-D buffers + tanh as sigmoid": (fast.decode_mean, z),
                     "decode, TorchScript frozen + optimize_for_inference": (jit, z),
                     "encode, 2-D F.linear (heads as one product)": (fast.encode, xb),
                     "encode, 1-D addmv": (fast.encode_1d, xb[0])}

            def one_call(form, r):
                fn, arg = form
                for _ in range(200):
                    fn(arg)
                t = np.empty(2000)
                for i in range(2000):
                    t0 = time.perf_counter()
                    fn(arg)
                    t[i] = time.perf_counter() - t0
                return 1e6 * float(np.median(t))

            report("batch-1 latency, median of 2000 calls per round", "us", interleave(forms, args.rounds, one_call),
                   higher_better=False)


if __name__ == "__main__":
    main()
