"""PyTorch side of bench/train_bench.sh: one training epoch of the 784-200-200-50
Bernoulli VAE (or IWAE) that `varia train` learns, timed the same way.

    train_torch.py --objective vae|iwae [--k K] [--batch B] [--threads T]
                   [--limit N] [--validation V] [--data IDX.gz] [--seed S] [--warmup W]

Prints one JSON line: {"examples_per_s", "epoch_s", "final_loss",
"epoch_mean_loss"}. The losses are minus the training bound (the negated ELBO
or IWAE bound, nats per example): final_loss averaged over the last tenth of
the epoch's minibatches (where training has got to, less noisy than the last
batch alone), epoch_mean_loss over the whole epoch, which is what `varia train`
prints as "obj" at the end of an epoch (with the opposite sign).

The model and its training follow varia's trainer (train/arch.c, train/data.c,
train/optim.c): Glorot-uniform weights, zero biases, the decoder's output bias
the logit of the training pixels' mean clamped to [1e-3, 1 - 1e-3]; Adam with
bias correction; each minibatch dynamically binarized; the last V images held
out and the epoch over the rest in shuffled minibatches (remainder dropped).
Run it with OPENBLAS_CORETYPE=Cooperlake OMP_WAIT_POLICY=PASSIVE
OPENBLAS_NUM_THREADS=T OMP_NUM_THREADS=T (as train_bench.sh does): Debian's
torch runs on OpenBLAS, and without these it is far from its best.
"""
import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data", "mnist", "train-images-idx3-ubyte.gz")
LATENT, HIDDEN = 50, 200


def read_idx_images(path, limit):
    """The first `limit` images of an IDX3 file (gzipped or not) as float32 [n, rows*cols] in [0, 1]."""
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        raw = f.read()
    magic, n, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
    if magic != 0x803:
        sys.exit("train_torch.py: %s is not an IDX3 ubyte image file" % path)
    n = min(int(n), limit) if limit > 0 else int(n)
    pix = np.frombuffer(raw, dtype=np.uint8, count=n * rows * cols, offset=16)
    return pix.reshape(n, rows * cols).astype(np.float32) / 255.0


class VAE(torch.nn.Module):
    def __init__(self, D, pixel_mean):
        super().__init__()
        lin = torch.nn.Linear
        self.enc = torch.nn.ModuleList([lin(D, HIDDEN), lin(HIDDEN, HIDDEN)])
        self.enc_mean, self.enc_logvar = lin(HIDDEN, LATENT), lin(HIDDEN, LATENT)
        self.dec = torch.nn.ModuleList([lin(LATENT, HIDDEN), lin(HIDDEN, HIDDEN)])
        self.dec_out = lin(HIDDEN, D)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, torch.nn.Linear):
                    torch.nn.init.xavier_uniform_(m.weight)  # U(+-sqrt(6/(in+out))), as varia's "glorot"
                    m.bias.zero_()
            # Starting the decoder at the data's mean image skips the first
            # epochs' slow climb from p = 0.5 everywhere (varia's default).
            p = pixel_mean.clamp(1e-3, 1.0 - 1e-3)
            self.dec_out.bias.copy_(torch.log(p / (1.0 - p)))

    def encode(self, x):
        h = x
        for l in self.enc:
            h = torch.tanh(l(h))
        return self.enc_mean(h), self.enc_logvar(h)

    def decode(self, z):
        h = z
        for l in self.dec:
            h = torch.tanh(l(h))
        return self.dec_out(h)  # Bernoulli logits


def loss_elbo(model, x):
    """Minus the batch mean of the ELBO: one sample, analytic KL to N(0, I)."""
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    logits = model.decode(z)
    log_px = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
    kl = 0.5 * (mu * mu + torch.exp(logvar) - 1.0 - logvar).sum(1)
    return (kl - log_px).mean()


def loss_iwae(model, x, k):
    """Minus the batch mean of L_k = logsumexp_j log w_j - log k."""
    B = x.shape[0]
    mu, logvar = model.encode(x)
    eps = torch.randn(k, B, LATENT)
    z = mu + torch.exp(0.5 * logvar) * eps  # [k, B, L]
    # All k*B samples through the decoder as one matrix: the large GEMMs are
    # where both implementations spend their time.
    logits = model.decode(z.reshape(k * B, LATENT)).reshape(k, B, -1)
    log_px = -F.binary_cross_entropy_with_logits(logits, x.expand(k, B, -1), reduction="none").sum(2)
    # log p(z) - log q(z|x); the (2 pi) terms cancel, and z - mu = sigma * eps
    # so log q needs only eps and the log-variance.
    log_pz_minus_qz = -0.5 * (z * z).sum(2) + 0.5 * (eps * eps + logvar).sum(2)
    log_w = log_px + log_pz_minus_qz
    bound = torch.logsumexp(log_w, 0) - math.log(k)
    return -bound.mean()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--objective", choices=("vae", "iwae"), required=True)
    ap.add_argument("--k", type=int, default=1)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit", type=int, default=60000)
    ap.add_argument("--validation", type=int, default=400)
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=20, help="untimed steps before the epoch (undone afterwards)")
    a = ap.parse_args()
    if a.objective == "vae" and a.k != 1:
        sys.exit("train_torch.py: the VAE objective uses one sample (--k 1)")

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    data = torch.from_numpy(read_idx_images(a.data, a.limit))
    n_train = data.shape[0] - a.validation
    if n_train < a.batch:
        sys.exit("train_torch.py: %d images leave fewer than one batch after the validation split" % data.shape[0])
    train = data[:n_train].contiguous()
    model = VAE(train.shape[1], train.mean(0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-4)
    loss_fn = (lambda x: loss_elbo(model, x)) if a.objective == "vae" else (lambda x: loss_iwae(model, x, a.k))

    def step(x):
        x = torch.bernoulli(x)  # dynamic binarization, fresh every minibatch
        loss = loss_fn(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    # Warm-up (OpenMP threads, BLAS buffers, the allocator, Adam's state
    # tensors), then back to the initial weights and a zeroed Adam state, so
    # the timed epoch trains from the same starting point as varia's.
    initial = {name: p.detach().clone() for name, p in model.state_dict().items()}
    for i in range(a.warmup):
        step(train[torch.randint(n_train, (a.batch,))])
    with torch.no_grad():
        model.load_state_dict(initial)
        for state in opt.state.values():
            for key, val in state.items():
                if torch.is_tensor(val):
                    val.zero_()
                else:
                    state[key] = 0

    steps = n_train // a.batch
    tail = max(1, steps // 10)
    t0 = time.perf_counter()
    order = torch.randperm(n_train)
    head_sum, tail_sum = torch.zeros(()), torch.zeros(())
    for b in range(steps):
        # Summed as tensors, not .item() each step: no per-step trip to Python floats.
        loss = step(train[order[b * a.batch:(b + 1) * a.batch]])
        if b < steps - tail:
            head_sum += loss
        else:
            tail_sum += loss
    epoch_s = time.perf_counter() - t0

    examples = steps * a.batch
    print(json.dumps({"examples_per_s": round(examples / epoch_s, 1), "epoch_s": round(epoch_s, 4),
                      "final_loss": round(tail_sum.item() / tail, 4),
                      "epoch_mean_loss": round((head_sum + tail_sum).item() / steps, 4)}))


if __name__ == "__main__":
    main()
