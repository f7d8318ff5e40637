"""AIS with HMC in PyTorch, written from Wu et al. (2017) and docs/ais.md's
conventions (sigmoid schedule r = 4; T weight increments, T - 1 HMC transitions of
L leapfrog steps with a Metropolis test; the step size starts at 0.01 and is
multiplied by 1.02 / 0.98 after each transition as the mean acceptance probability
of the example's chains is above / below 0.65, clipped to [1e-4, 0.5]): the
independent reference varia's AIS is compared with (statistically: the two draw
different random numbers), and the formulation its speed is measured against.

The target is a GAN generator's Gaussian observation model (gan_ref.VariaGAN):
log f_t(z) = log N(z; 0, I) + beta_t log N(x; G(z), s2 I), all examples' chains
batched as rows, the gradient by autograd.

    /usr/bin/python3 tools/torch/ais_ref.py MODEL.json DATA [--limit N] [--chains C]
        [--steps T] [--leapfrog L] [--sigma2 S] [--seed S] [--threads N] [--json]

DATA is an IDX file (images as [0, 1] intensities, as varia reads them).
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gan_ref  # noqa: E402
import varia_ref  # noqa: E402

LOG_2PI = math.log(2.0 * math.pi)


def beta(t, T, r=4.0):
    s = lambda v: 1.0 / (1.0 + math.exp(-v))  # noqa: E731
    return (s(r * (2.0 * t / T - 1.0)) - s(-r)) / (s(r) - s(-r))


def load_gan(path):
    m = json.load(open(path))
    shape = m["data"]["shape"]
    model = gan_ref.VariaGAN(m["architecture"], shape)
    tensors, _ = varia_ref.read_safetensors(os.path.join(os.path.dirname(path), m["weights"]["file"]))
    state = {k: torch.from_numpy(np.asarray(v)) for k, v in tensors.items()}
    model.load_state_dict(state, strict=False)
    return model.eval(), m["architecture"]


def read_idx(path, limit):
    raw = (gzip.open if path.endswith(".gz") else open)(path, "rb").read()
    n, rows, cols = struct.unpack(">III", raw[4:16])
    n = min(n, limit) if limit else n
    x = np.frombuffer(raw[16:16 + n * rows * cols], dtype=np.uint8).reshape(n, rows * cols)
    return torch.from_numpy(x.astype(np.float32) / 255.0)


def log_target(model, x, z, s2, b):
    """log p(z) and log p(x|z) per row (x repeated per chain), and log f at beta b."""
    mean = model.decode(z)
    lpz = -0.5 * (z * z).sum(1) - 0.5 * z.shape[1] * LOG_2PI
    lpx = -0.5 * (((x - mean) ** 2).sum(1) / s2 + x.shape[1] * (math.log(s2) + LOG_2PI))
    return lpz, lpx, lpz + b * lpx


def grad_log_f(model, x, z, s2, b):
    z = z.detach().requires_grad_(True)
    lpz, lpx, lf = log_target(model, x, z, s2, b)
    (g,) = torch.autograd.grad(lf.sum(), z)
    return lpx.detach(), lf.detach(), g


def ais(model, x, chains, T, L, s2, gen):
    """Per example: the log-mean-exp of its chains' weights, the mean acceptance."""
    n, D = x.shape
    E = model.L
    xr = x.repeat_interleave(chains, 0)
    z = torch.randn(n * chains, E, generator=gen)
    logw = torch.zeros(n * chains, dtype=torch.float64)
    eps = torch.full((n,), 0.01)
    acc_sum = torch.zeros(n)
    with torch.no_grad():
        lpx_prev = log_target(model, xr, z, s2, 0.0)[1]
    for t in range(1, T + 1):
        b0, b1 = beta(t - 1, T), beta(t, T)
        logw += (b1 - b0) * lpx_prev.double()
        if t == T:
            break
        step = eps.repeat_interleave(chains).unsqueeze(1)
        p = torch.randn(z.shape, generator=gen)
        _, lf0, g = grad_log_f(model, xr, z, s2, b1)
        h0 = -lf0 + 0.5 * (p * p).sum(1)
        zn, pn = z.clone(), p + 0.5 * step * g
        for i in range(L):
            zn = zn + step * pn
            lpxn, lfn, gn = grad_log_f(model, xr, zn, s2, b1)
            pn = pn + (step if i < L - 1 else 0.5 * step) * gn
        h1 = -lfn + 0.5 * (pn * pn).sum(1)
        a = torch.exp(torch.clamp(h0 - h1, max=0.0))
        a = torch.where(torch.isfinite(h1), a, torch.zeros_like(a))
        accept = torch.rand(a.shape, generator=gen) < a
        z = torch.where(accept.unsqueeze(1), zn, z)
        with torch.no_grad():
            lpx_prev = torch.where(accept, lpxn, log_target(model, xr, z, s2, 0.0)[1])
        am = a.reshape(n, chains).mean(1)
        acc_sum += am
        eps = torch.clamp(torch.where(am > 0.65, eps * 1.02, eps * 0.98), 1e-4, 0.5)
    lw = logw.reshape(n, chains)
    est = torch.logsumexp(lw, 1) - math.log(chains)
    return est, acc_sum / max(T - 1, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("data")
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--chains", type=int, default=16)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--leapfrog", type=int, default=10)
    ap.add_argument("--sigma2", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, arch = load_gan(a.model)
    s2 = a.sigma2 or arch.get("observation", {}).get("sigma2", 0.0)
    if not s2 > 0:
        sys.exit("ais_ref.py: give --sigma2 (the manifest has no observation variance)")
    x = read_idx(a.data, a.limit)
    gen = torch.Generator().manual_seed(a.seed)
    t0 = time.time()
    est, acc = ais(model, x, a.chains, a.steps, a.leapfrog, s2, gen)
    secs = time.time() - t0
    n = est.shape[0]
    mean, se = est.mean().item(), (est.std().item() / math.sqrt(n) if n > 1 else 0.0)
    out = {"n": n, "chains": a.chains, "steps": a.steps, "sigma2": s2, "log_px_mean": mean, "log_px_stderr": se,
           "accept_mean": acc.mean().item(), "per_example": est.tolist(), "seconds": secs}
    print(json.dumps(out) if a.json else "AIS (PyTorch): %.3f +- %.3f over %d examples, acceptance %.3f, %.1f s"
          % (mean, se, n, out["accept_mean"], secs))


if __name__ == "__main__":
    main()
