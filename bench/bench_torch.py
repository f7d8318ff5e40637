"""PyTorch side of bench/run.sh: the same measurements as bench/bench_varia.c on the
same weights (loaded with tools/torch/varia_ref.py from the varia manifest).

    bench_torch.py run MODEL.json DATA [--threads T] [--n N] [--k K] [--repeats R]
                   [--calls C] [--no-iw] [--no-latency] [--no-sample]
    bench_torch.py make-model OUT_DIR     # random-weight 784-200-200-50 VAE

PyTorch at its best: float32, torch.inference_mode() (no autograd), torch's own
threads set to T (run it with OPENBLAS_CORETYPE=Cooperlake OMP_WAIT_POLICY=PASSIVE
OPENBLAS_NUM_THREADS=T OMP_NUM_THREADS=T, as bench/run.sh does), every measurement
warmed up first. For the usual one-stochastic-layer Bernoulli model the forward
passes are written directly with torch.nn.functional on the model's own tensors
(fewer temporaries than the generic reference code, which they are checked against);
other models use varia_ref's generic methods. For the IW estimate the k samples of
an image go through in chunks of 1000 or all at once, whichever the warm-up finds
faster.

Results go to stdout as "RESULT key value" lines, progress to stderr.
"""
import argparse
import gzip
import math
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "torch"))

ARCH = {
    "activation": "tanh",
    "posterior_scale": "log_var",
    "likelihood": {"type": "bernoulli"},
    "layers": [{"latent": 50, "encoder": [200, 200], "decoder": [200, 200]}],
}
LOG_2PI = math.log(2.0 * math.pi)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def read_amat(path, n):
    """First n examples of a binarized-MNIST .amat (gzipped or not) as float32 [n, 784]."""
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    rows = []
    with opener(path, "rt") as f:
        for line in f:
            if line.strip():
                rows.append(np.array(line.split(), dtype=np.float32))
            if len(rows) == n:
                break
    return np.stack(rows)


class Fast:
    """Direct functional forward passes for a one-stochastic-layer Bernoulli VAE."""

    def __init__(self, model, torch):
        self.torch = torch
        self.F = torch.nn.functional
        enc, dec = model.enc1, model.dec1
        pair = lambda lin: (lin.weight.detach().contiguous(), lin.bias.detach().contiguous())
        self.enc_hidden = [pair(l) for l in enc.hidden]
        self.enc_mean, self.enc_scale = pair(enc.mean), pair(enc.scale)
        self.dec_hidden = [pair(l) for l in dec.hidden]
        self.dec_out = pair(dec.out)
        self.log_std = enc.log_std
        self.act = enc.act
        self.tanh = enc.act is torch.tanh
        self.L = self.enc_mean[0].shape[0]

    def hidden(self, layers, h):
        for w, b in layers:
            h = self.F.linear(h, w, b)
            h = h.tanh_() if self.tanh else self.act(h)
        return h

    def encode(self, x):
        """(mean, log variance) of q(z|x) for x [n, D]."""
        h = self.hidden(self.enc_hidden, x)
        mean, s = self.F.linear(h, *self.enc_mean), self.F.linear(h, *self.enc_scale)
        return mean, (2.0 * s if self.log_std else s)

    def logits(self, z):
        return self.F.linear(self.hidden(self.dec_hidden, z), *self.dec_out)

    def decode_mean(self, z):
        return self.torch.sigmoid(self.logits(z))

    def log_w(self, x, eps):
        """log w of each noise row: x [D], eps [m, L] -> [m]."""
        torch = self.torch
        mean, logvar = self.encode(x.unsqueeze(0))
        z = torch.addcmul(mean, torch.exp(0.5 * logvar), eps)
        logits = self.logits(z)
        log_px = torch.mv(logits, x) - self.F.softplus(logits).sum(-1)
        log_q = -0.5 * (self.L * LOG_2PI + logvar.sum() + (eps * eps).sum(-1))
        log_p = -0.5 * (self.L * LOG_2PI + (z * z).sum(-1))
        return log_px + log_p - log_q


class Generic:
    """varia_ref's own methods, for any model of the family."""

    def __init__(self, model, torch):
        self.model, self.torch = model, torch
        self.L = int(model.arch["layers"][-1]["latent"])

    def encode(self, x):
        return self.model.encode_mean_path(x)[-1]

    def decode_mean(self, z):
        return self.model.decode(z)[1]

    def log_w(self, x, eps):
        return self.model.log_weights(x, [eps])["log_w"]


def median(v):
    return float(np.median(np.asarray(v)))


def iw_image(torch, impl, x, k, chunk, gen):
    """L_k of one image: log-sum-exp (in double) of log w over chunks of samples."""
    parts = []
    for start in range(0, k, chunk):
        m = min(chunk, k - start)
        eps = torch.randn(m, impl.L, generator=gen)
        parts.append(impl.log_w(x, eps).double())
    return float(torch.logsumexp(torch.cat(parts), 0)) - math.log(k)


def bench_iw(torch, impl, data, k, reps):
    n = data.shape[0]
    # Warm-up, and the faster chunk size (timed on the first image, best of two).
    gen = torch.Generator().manual_seed(1000)
    best = None
    for chunk in sorted({min(1000, k), k}):
        ts = []
        for _ in range(2):
            t0 = time.perf_counter()
            iw_image(torch, impl, data[0], k, chunk, gen)
            ts.append(time.perf_counter() - t0)
        log("  torch iw warm-up: chunk %d: %.4f s/image" % (chunk, min(ts)))
        if best is None or min(ts) < best[1]:
            best = (chunk, min(ts))
    chunk = best[0]
    times, nlls = [], []
    for r in range(reps):
        gen = torch.Generator().manual_seed(r + 1)
        t0 = time.perf_counter()
        total = 0.0
        for i in range(n):
            total += iw_image(torch, impl, data[i], k, chunk, gen)
        times.append(time.perf_counter() - t0)
        nlls.append(-total / n)
        log("  torch iw repeat %d: %.3f s, NLL %.4f" % (r + 1, times[-1], nlls[-1]))
    med = median(times)
    print("RESULT iw_n %d\nRESULT iw_k %d\nRESULT iw_chunk %d" % (n, k, chunk))
    print("RESULT iw_seconds %.6f\nRESULT iw_images_per_s %.4f" % (med, n / med))
    print("RESULT iw_nll_mean %.6f\nRESULT iw_nll_sd %.6f"
          % (float(np.mean(nlls)), float(np.std(nlls, ddof=1)) if reps > 1 else 0.0), flush=True)


def time_calls(fn, arg, calls):
    """Median seconds of `calls` individually timed calls (after a warm-up)."""
    for _ in range(calls // 10 + 1):
        fn(arg)
    t = np.empty(calls)
    clock = time.perf_counter
    for i in range(calls):
        t0 = clock()
        fn(arg)
        t[i] = clock() - t0
    return float(np.median(t))


def bench_latency(torch, impl, data, calls):
    x = data[:1].clone()
    z = impl.encode(x)[0].clone()
    print("RESULT decode_us %.4f" % (1e6 * time_calls(impl.decode_mean, z, calls)))
    print("RESULT encode_us %.4f\nRESULT latency_calls %d"
          % (1e6 * time_calls(impl.encode, x, calls), calls), flush=True)


def bench_sample(torch, impl, reps, batch=1000):
    gen = torch.Generator().manual_seed(999)

    def one():
        return impl.decode_mean(torch.randn(batch, impl.L, generator=gen))

    one()
    t0 = time.perf_counter()
    one()
    inner = 1 + int(0.1 / (time.perf_counter() - t0 + 1e-9))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            one()
        times.append((time.perf_counter() - t0) / inner)
    print("RESULT sample_batch %d\nRESULT sample_per_s %.2f" % (batch, batch / median(times)),
          flush=True)


def check_fast(torch, model, fast, data):
    """The direct forward passes must match varia_ref's generic code on the same noise."""
    x = data[0]
    eps = torch.randn(64, fast.L, generator=torch.Generator().manual_seed(5))
    ref = model.log_weights(x, [eps])["log_w"]
    got = fast.log_w(x, eps)
    if not torch.allclose(got, ref, rtol=1e-4, atol=1e-3):
        raise SystemExit("bench_torch: fast log w differs from varia_ref by %g"
                         % float((got - ref).abs().max()))
    if not torch.allclose(fast.decode_mean(eps), model.decode(eps)[1], atol=1e-5):
        raise SystemExit("bench_torch: fast decode differs from varia_ref")


def cmd_run(args):
    import torch
    import varia_ref

    torch.set_num_threads(args.threads)
    model = varia_ref.load(args.model).float().eval()
    data = torch.from_numpy(read_amat(args.data, args.n))
    if data.shape[1] != model.n_data:
        raise SystemExit("bench_torch: %s has %d values per example, the model wants %d"
                         % (args.data, data.shape[1], model.n_data))
    if data.shape[0] < args.n:
        log("bench_torch: %s has only %d examples; using them all" % (args.data, data.shape[0]))
    with torch.inference_mode():
        simple = (model.n_layers == 1 and model.dec1.kind == "bernoulli")
        if simple:
            impl = Fast(model, torch)
            check_fast(torch, model, impl, data)
        else:
            impl = Generic(model, torch)
        print("RESULT threads %d\nRESULT torch_version %s\nRESULT torch_threads %d"
              % (args.threads, torch.__version__, torch.get_num_threads()))
        print("RESULT torch_impl %s" % ("functional" if simple else "varia_ref"), flush=True)
        if args.iw:
            bench_iw(torch, impl, data, args.k, args.repeats)
        if args.latency:
            bench_latency(torch, impl, data, args.calls)
        if args.sample:
            bench_sample(torch, impl, args.repeats)


def cmd_make_model(args):
    """A random-weight 784-200-200-50 VAE (PyTorch's default Linear init, seed 0)."""
    import torch
    import export
    import varia_ref

    torch.manual_seed(0)
    model = varia_ref.VariaVAE(ARCH, [1, 28, 28])
    prov = {"trainer": "bench/bench_torch.py make-model: random weights (torch.manual_seed(0), "
                       "default nn.Linear init), for benchmarking only"}
    path = export.export(model, ARCH, [1, 28, 28], args.out_dir, provenance=prov,
                         data_extra={"kind": "binary", "binarization": "static"})
    log("wrote %s" % path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("model")
    r.add_argument("data")
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--n", type=int, default=20)
    r.add_argument("--k", type=int, default=5000)
    r.add_argument("--repeats", type=int, default=5)
    r.add_argument("--calls", type=int, default=20000)
    r.add_argument("--no-iw", dest="iw", action="store_false")
    r.add_argument("--no-latency", dest="latency", action="store_false")
    r.add_argument("--no-sample", dest="sample", action="store_false")
    m = sub.add_parser("make-model")
    m.add_argument("out_dir")
    args = ap.parse_args()
    if args.cmd == "run":
        cmd_run(args)
    else:
        cmd_make_model(args)


if __name__ == "__main__":
    main()
