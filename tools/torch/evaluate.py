"""Evaluate a varia vae/iwae model with the PyTorch reference (varia_ref.py) on
binarized MNIST: the importance-weighted estimate L_k on the first --iw-n test
images, and the k=1 ELBO (with its recon and KL terms) on the first --elbo-n.

Computation in float64; the log-sum-exp over the k samples runs over chunks so
memory stays bounded. Noise comes from a seeded generator (--seed). This is a
cross-check of the shipped model; the official number is measured by the C tool.

Command (from /work/main):
    OPENBLAS_CORETYPE=Cooperlake OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=2 \
    OMP_NUM_THREADS=2 /usr/bin/python3 tools/torch/evaluate.py \
    models/vae-mnist/model.json --k 5000 --iw-n 1000 --elbo-n 10000
"""
import argparse
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_default  # noqa: E402  (for read_amat)
import varia_ref  # noqa: E402


def draw_noise(model, shape, gen):
    """One standard-normal noise tensor per stochastic layer, shape [*shape, latent_l]."""
    return [torch.randn(*shape, int(s["latent"]), generator=gen, dtype=torch.float64)
            for s in model.arch["layers"]]


def iw_estimate(model, x, k, gen, chunk=1000):
    """L_k for one example: streaming logsumexp of log w over chunks of samples."""
    acc = -math.inf
    for start in range(0, k, chunk):
        m = min(chunk, k - start)
        log_w = model.log_weights(x, draw_noise(model, (m,), gen))["log_w"]
        acc = float(torch.logsumexp(torch.cat([log_w, torch.tensor([acc], dtype=log_w.dtype)]), 0))
    return acc - math.log(k)


def elbo_terms(model, data, gen, batch=1000):
    """Per-example recon, KL and ELBO (one sample each) over the data set."""
    parts = {"recon": [], "kl": [], "elbo": []}
    for i in range(0, data.shape[0], batch):
        x = data[i:i + batch]
        est = model.estimates(x, draw_noise(model, (x.shape[0], 1), gen))
        for key in parts:
            parts[key].append(est[key])
    return {key: torch.cat(v) for key, v in parts.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("manifest")
    ap.add_argument("--split", default="test")
    ap.add_argument("--k", type=int, default=5000)
    ap.add_argument("--iw-n", type=int, default=1000)
    ap.add_argument("--elbo-n", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(2)
    model = varia_ref.load(args.manifest).double()
    data = torch.from_numpy(train_default.read_amat(args.split)).double()
    gen = torch.Generator().manual_seed(args.seed)
    with torch.no_grad():
        t0 = time.time()
        terms = elbo_terms(model, data[:args.elbo_n], gen)
        # The test file is ordered by class, so its first images are not a random
        # sample; the ELBO is also shown on the IW subset for comparison.
        for n in (args.elbo_n, min(args.iw_n, args.elbo_n)):
            print("ELBO (k=1, first %d %s images): %.4f  recon %.4f  KL %.4f"
                  % (n, args.split, float(terms["elbo"][:n].mean()),
                     float(terms["recon"][:n].mean()), float(terms["kl"][:n].mean())),
                  flush=True)
        print("  (%.0fs)" % (time.time() - t0), flush=True)
        t0, total = time.time(), 0.0
        for i in range(args.iw_n):
            total += iw_estimate(model, data[i], args.k, gen)
            if (i + 1) % 100 == 0:
                print("  %d images: mean L_%d %.4f (%.0fs)"
                      % (i + 1, args.k, total / (i + 1), time.time() - t0), flush=True)
        print("IW L_%d (%d %s images): %.4f  -> NLL %.4f nats"
              % (args.k, args.iw_n, args.split, total / args.iw_n, -total / args.iw_n),
              flush=True)


if __name__ == "__main__":
    main()
