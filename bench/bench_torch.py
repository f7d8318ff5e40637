"""PyTorch side of bench/run.sh: the same measurements as bench/bench_varia.c on the
same weights (loaded with tools/torch/varia_ref.py from the varia manifest).

    bench_torch.py run MODEL.json DATA [--threads T] [--n N] [--k K] [--repeats R]
                   [--calls C] [--no-iw] [--no-latency] [--no-sample]
    bench_torch.py make-model OUT_DIR     # random-weight 784-200-200-50 VAE

PyTorch at its best: float32, torch.inference_mode() (no autograd), torch's own
threads set to T (run it with OPENBLAS_CORETYPE=Cooperlake OPENBLAS_NUM_THREADS=T
OMP_NUM_THREADS=T and OMP_WAIT_POLICY=PASSIVE or ACTIVE; bench/run.sh runs both and
keeps the faster), every measurement warmed up first. For the usual
one-stochastic-layer Bernoulli model the forward passes are the fastest forms found
(class Fast; bench/README.md lists the forms tried and their speeds), checked
against varia_ref's generic code on the same noise; other models use varia_ref's
generic methods. For the IW estimate the k samples of an image go through in
chunks of 1000, 2500 or all at once, whichever is fastest in alternating timed
rounds; batch-1 latencies are the faster of a 2-D and a 1-D form.

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
    """Direct forward passes for a one-stochastic-layer Bernoulli VAE, in the fastest
    forms found on the build machine (bench/README.md, "PyTorch at its best", lists
    the forms tried and their speeds):

    - rows go through torch.addmm into output buffers allocated once per row count
      (a fresh 1000 x 784 result costs page faults on every call), with the weights
      transposed once;
    - tanh(a) is computed as 2 sigmoid(2a) - 1, the 2a folded into the doubled
      weights and bias (exact): this torch's tanh is about three times slower than
      its sigmoid;
    - log p(x|z) = logits @ x - sum log(1 + exp(logits)), in place on the logits:
      this torch's softplus (and log1p) are slower than exp plus log; a chunk with a
      logit above ~88 (exp overflows) is recomputed with softplus;
    - the encoder's mean and scale heads are one product;
    - batch-1 calls have their own forms, 2-D (F.linear, tanh_: the fewest calls)
      and 1-D (addmv into preallocated vectors); the latency benchmark reports the
      faster.

    Results are checked against varia_ref's generic code on the same noise
    (check_fast). Buffers are reused: a result is valid until the next call with the
    same number of rows."""

    def __init__(self, model, torch):
        self.torch = torch
        self.F = torch.nn.functional
        enc, dec = model.enc1, model.dec1
        W = lambda lin: lin.weight.detach()
        B = lambda lin: lin.bias.detach()
        self.L = W(enc.mean).shape[0]
        self.log_std = enc.log_std
        self.enc_act, self.enc_tanh = enc.act, enc.act is torch.tanh
        self.dec_act, self.dec_tanh = dec.act, dec.act is torch.tanh
        self.enc_hidden = [(W(l).contiguous(), B(l).contiguous()) for l in enc.hidden]
        self.enc_head = (torch.cat([W(enc.mean), W(enc.scale)]).contiguous(),
                         torch.cat([B(enc.mean), B(enc.scale)]).contiguous())
        two = 2.0 if self.dec_tanh else 1.0
        self.dec_hidden_t = [((two * W(l)).t().contiguous(), (two * B(l)).contiguous()) for l in dec.hidden]
        self.dec_out_t = (W(dec.out).t().contiguous(), B(dec.out).contiguous())
        self.dec_hidden = [(W(l).contiguous(), B(l).contiguous()) for l in dec.hidden]
        self.dec_out = (W(dec.out).contiguous(), B(dec.out).contiguous())
        self.bufs = {}

    def _buffers(self, key, shapes):
        if key not in self.bufs:
            self.bufs[key] = [self.torch.empty(*s) for s in shapes]
        return self.bufs[key]

    def _heads(self, ms):
        mean, s = ms[..., :self.L], ms[..., self.L:]
        return mean, (2.0 * s if self.log_std else s)

    def encode(self, x):
        """(mean, log variance) of q(z|x) for x [n, D]."""
        h = x
        for w, b in self.enc_hidden:
            h = self.F.linear(h, w, b)
            h = h.tanh_() if self.enc_tanh else self.enc_act(h)
        return self._heads(self.F.linear(h, *self.enc_head))

    def encode_1d(self, x):
        """The same for one example x [D] (addmv)."""
        torch = self.torch
        h = x
        for w, b in self.enc_hidden:
            h = torch.addmv(b, w, h)
            h = h.tanh_() if self.enc_tanh else self.enc_act(h)
        return self._heads(torch.addmv(self.enc_head[1], self.enc_head[0], h))

    def logits(self, z):
        """Decoder logits for z [m, L], in a buffer reused by the next call with m rows."""
        torch = self.torch
        m = z.shape[0]
        outs = self._buffers(m, [(m, w.shape[1]) for w, _ in self.dec_hidden_t + [self.dec_out_t]])
        h = z
        for (w, b), o in zip(self.dec_hidden_t, outs):
            torch.addmm(b, h, w, out=o)
            h = o.sigmoid_().mul_(2.0).sub_(1.0) if self.dec_tanh else self.dec_act(o)
        return torch.addmm(self.dec_out_t[1], h, self.dec_out_t[0], out=outs[-1])

    def decode_mean(self, z):
        return self.logits(z).sigmoid_()

    def decode_mean_small(self, z):
        """E[x|z] for a few latents z [n, L]: F.linear and in-place activations, the
        fewest calls (at batch 1 each call's overhead outweighs the arithmetic)."""
        h = z
        for w, b in self.dec_hidden:
            h = self.F.linear(h, w, b)
            h = h.tanh_() if self.dec_tanh else self.dec_act(h)
        return self.F.linear(h, *self.dec_out).sigmoid_()

    def decode_mean_1d(self, z):
        """E[x|z] for one latent z [L] (addmv into preallocated vectors)."""
        torch = self.torch
        outs = self._buffers("1d", [(w.shape[0],) for w, _ in self.dec_hidden + [self.dec_out]])
        h = z
        for (w, b), o in zip(self.dec_hidden, outs):
            torch.addmv(b, w, h, out=o)
            h = o.tanh_() if self.dec_tanh else self.dec_act(o)
        return torch.addmv(self.dec_out[1], self.dec_out[0], h, out=outs[-1]).sigmoid_()

    def log_w(self, x, eps):
        """log w of each noise row: x [D], eps [m, L] -> [m]."""
        torch = self.torch
        mean, logvar = self.encode(x.unsqueeze(0))
        z = torch.addcmul(mean, torch.exp(0.5 * logvar), eps)
        logits = self.logits(z)
        xl = torch.mv(logits, x)
        softplus = logits.exp_().add_(1.0).log_().sum(-1)
        if not bool(torch.isfinite(softplus).all()):
            softplus = self.F.softplus(self.logits(z)).sum(-1)
        log_q = -0.5 * (self.L * LOG_2PI + logvar.sum() + (eps * eps).sum(-1))
        log_p = -0.5 * (self.L * LOG_2PI + (z * z).sum(-1))
        return xl - softplus + log_p - log_q

    def latency_forms(self, x, z):
        """{name: (function, argument)} of the batch-1 calls to time, per operation."""
        return {"decode": {"2-D linear": (self.decode_mean_small, z), "1-D addmv": (self.decode_mean_1d, z[0])},
                "encode": {"2-D linear": (self.encode, x), "1-D addmv": (self.encode_1d, x[0])}}


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

    def latency_forms(self, x, z):
        return {"decode": {"varia_ref": (self.decode_mean, z)}, "encode": {"varia_ref": (self.encode, x)}}


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


def pick_chunk(torch, impl, x, k, rounds=3):
    """The chunk size (samples per pass) that is fastest here: each candidate is
    warmed up once (its buffers allocated), then timed on one image in `rounds`
    alternating rounds, best of each, so that a burst of load on the shared machine
    or a first-call cost does not decide it."""
    chunks = sorted({min(c, k) for c in (1000, 2500, k)})
    gen = torch.Generator().manual_seed(1000)
    for c in chunks:
        iw_image(torch, impl, x, k, c, gen)
    best = {c: float("inf") for c in chunks}
    for _ in range(rounds):
        for c in chunks:
            t0 = time.perf_counter()
            iw_image(torch, impl, x, k, c, gen)
            best[c] = min(best[c], time.perf_counter() - t0)
    log("  torch iw chunk sizes (best s/image): "
        + ", ".join("%d: %.4f" % (c, best[c]) for c in chunks))
    return min(chunks, key=lambda c: best[c])


def bench_iw(torch, impl, data, k, reps):
    n = data.shape[0]
    chunk = pick_chunk(torch, impl, data[0], k)
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
    """Each operation in each of its forms; the faster form's median is the result."""
    x = data[:1].clone()
    z = impl.encode(x)[0].clone()
    for op, forms in impl.latency_forms(x, z).items():
        us = {name: 1e6 * time_calls(fn, arg, calls) for name, (fn, arg) in forms.items()}
        log("  torch %s latency: " % op + ", ".join("%s %.2f us" % kv for kv in us.items()))
        best = min(us, key=us.get)
        print("RESULT %s_us %.4f\nRESULT %s_form %s" % (op, us[best], op, best.replace(" ", "_")))
    print("RESULT latency_calls %d" % calls, flush=True)


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
    ref_mean = model.decode(eps)[1]
    if not torch.allclose(fast.decode_mean(eps), ref_mean, atol=1e-5):
        raise SystemExit("bench_torch: fast decode differs from varia_ref")
    if not (torch.allclose(fast.decode_mean_1d(eps[0]), ref_mean[0], atol=1e-5)
            and torch.allclose(fast.decode_mean_small(eps[:1]), ref_mean[:1], atol=1e-5)):
        raise SystemExit("bench_torch: fast batch-1 decode differs from varia_ref")
    ref_enc = model.encode_mean_path(data[:1])[-1]
    for got in (fast.encode(data[:1]), fast.encode_1d(data[0])):
        for g, r in zip(got, ref_enc):
            if not torch.allclose(g.reshape(r.shape), r, rtol=1e-5, atol=1e-5):
                raise SystemExit("bench_torch: fast encode differs from varia_ref")


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
