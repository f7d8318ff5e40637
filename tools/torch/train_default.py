"""Train varia's shipped default model: a 784-200-200-50 VAE (one stochastic layer,
tanh, Bernoulli, log_var) on the statically binarized MNIST, and export it to
models/vae-mnist/ with tools/torch/export.py.

Protocol: train on the 50000 training images, select the epoch with the best
validation ELBO (10000 valid images, fixed evaluation noise); the test set is never
used here. Glorot-uniform weights, zero biases, dec1.out.bias = logit of the
training pixel mean (clamped); Adam (lr 1e-3, eps 1e-4), batch 100, ELBO with
analytic KL; the learning rate decays geometrically to lr_end over the run.
Also writes models/vae-mnist/heldout.amat.gz (every 20th test line, 500 images,
gzip -9 -n).

Command (from /work/main, about 30 minutes on 2 cores with OpenBLAS):
    OPENBLAS_CORETYPE=Cooperlake OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=2 \
    OMP_NUM_THREADS=2 nohup /usr/bin/python3 tools/torch/train_default.py \
    --epochs 450 > /tmp/train_default.log 2>&1 &
"""
import argparse
import gzip
import math
import os
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export  # noqa: E402
import varia_ref  # noqa: E402

DATA_DIR = "/work/shared/data/binarized_mnist"
ARCH = {
    "activation": "tanh",
    "posterior_scale": "log_var",
    "likelihood": {"type": "bernoulli"},
    "layers": [{"latent": 50, "encoder": [200, 200], "decoder": [200, 200]}],
}


def read_amat(split):
    """One split of binarized MNIST as a float32 [n, 784] array.

    Each line is 784 '0'/'1' characters separated by single spaces, so the digits are
    the even byte positions of a 1568-byte line.
    """
    with gzip.open(os.path.join(DATA_DIR, "binarized_mnist_%s.amat.gz" % split)) as f:
        raw = f.read()
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 1568)
    return (rows[:, 0::2] - ord("0")).astype(np.float32)


def init_model(model, train):
    """Glorot-uniform weights, zero biases, output bias at the logit of the pixel mean."""
    for name, p in model.named_parameters():
        if name.endswith("weight"):
            torch.nn.init.xavier_uniform_(p)
        else:
            torch.nn.init.zeros_(p)
    pmean = np.clip(train.mean(0), 1e-3, 1 - 1e-3)
    with torch.no_grad():
        model.dec1.out.bias.copy_(torch.from_numpy(np.log(pmean / (1 - pmean))))


def batch_elbo(model, x, gen):
    """Per-example ELBO (one reparameterized sample, analytic KL) of a batch."""
    eps = torch.randn(x.shape[0], 1, 50, generator=gen)
    return model.estimates(x, [eps])["elbo"]


def evaluate_elbo(model, data, seed=1234, batch=1000):
    """Mean ELBO on a data set with fixed noise, so epochs compare without sampling noise."""
    gen = torch.Generator().manual_seed(seed)
    total = 0.0
    with torch.no_grad():
        for i in range(0, data.shape[0], batch):
            total += batch_elbo(model, data[i:i + batch], gen).double().sum().item()
    return total / data.shape[0]


def train_epoch(model, opt, train, gen, batch):
    """One pass over the shuffled training set; returns the mean training ELBO."""
    perm = torch.randperm(train.shape[0], generator=gen)
    total = 0.0
    for i in range(0, train.shape[0], batch):
        x = train[perm[i:i + batch]]
        elbo = batch_elbo(model, x, gen)
        loss = -elbo.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += elbo.detach().double().sum().item()
    return total / train.shape[0]


def write_heldout(out_dir, n=500, stride=20):
    """Every stride-th line of the binarized test set (lines 1, 21, 41, ...; n images),
    compressed with gzip -9 -n, as models/vae-mnist/heldout.amat.gz.

    The test file is ordered by class, so its first 500 lines would all be one digit;
    the stride keeps every digit in the sample.
    """
    with gzip.open(os.path.join(DATA_DIR, "binarized_mnist_test.amat.gz"), "rb") as f:
        lines = f.read().split(b"\n")[0:n * stride:stride]
    with open(os.path.join(out_dir, "heldout.amat.gz"), "wb") as out:
        # The gzip tool (not Python's gzip module) so the bytes equal
        # `sed -n '1~20p' | gzip -9 -n`.
        subprocess.run(["gzip", "-9", "-n"], input=b"\n".join(lines) + b"\n",
                       stdout=out, check=True)


def lr_at(epoch, args):
    """Geometric decay from lr to lr_end across the planned epochs."""
    frac = epoch / max(1, args.epochs - 1)
    return args.lr * (args.lr_end / args.lr) ** frac


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=450)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--lr-end", type=float, default=1e-4)
    ap.add_argument("--max-minutes", type=float, default=36.0,
                    help="stop early (keeping the best model) once this wall time is used")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "..", "..", "models", "vae-mnist"))
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)

    train = torch.from_numpy(read_amat("train"))
    valid = torch.from_numpy(read_amat("valid"))
    model = varia_ref.VariaVAE(ARCH, [1, 28, 28])
    init_model(model, train.numpy())
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, eps=1e-4)
    gen = torch.Generator().manual_seed(args.seed)

    start = time.time()
    best, best_state, best_epoch, done = -math.inf, None, -1, 0
    for epoch in range(args.epochs):
        for g in opt.param_groups:
            g["lr"] = lr_at(epoch, args)
        tr = train_epoch(model, opt, train, gen, args.batch)
        va = evaluate_elbo(model, valid)
        done = epoch + 1
        if va > best:
            best, best_epoch = va, epoch + 1
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        elapsed = time.time() - start
        print("epoch %d lr %.2e train_elbo %.3f valid_elbo %.3f best %.3f@%d time %.0fs"
              % (epoch + 1, lr_at(epoch, args), tr, va, best, best_epoch, elapsed), flush=True)
        if elapsed > args.max_minutes * 60:
            print("wall-time limit reached", flush=True)
            break
    wall = time.time() - start

    model.load_state_dict(best_state)
    provenance = {
        "trainer": "tools/torch/train_default.py (PyTorch %s)" % torch.__version__,
        "command": "OPENBLAS_CORETYPE=Cooperlake OMP_WAIT_POLICY=PASSIVE "
                   "OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 /usr/bin/python3 "
                   "tools/torch/train_default.py " + " ".join(sys.argv[1:]),
        "data": "binarized MNIST, static binarization (Larochelle & Murray 2011): "
                "trained on train (50000), model selected on valid (10000); test unused",
        "epochs": {"run": done, "planned": args.epochs, "best": best_epoch},
        "optimizer": "Adam lr %g -> %g geometric per epoch, betas (0.9, 0.999), eps 1e-4, "
                     "batch %d, ELBO with analytic KL, 1 sample; Glorot-uniform weights, "
                     "zero biases, output bias = logit(train pixel mean)"
                     % (args.lr, args.lr_end, args.batch),
        "seed": args.seed,
        "best_valid_elbo": round(best, 4),
        "wall_time_s": round(wall, 1),
    }
    path = export.export(model, ARCH, [1, 28, 28], args.out, provenance=provenance,
                         data_extra={"kind": "binary", "binarization": "static"})
    write_heldout(args.out)
    print("best valid ELBO %.4f at epoch %d; wrote %s" % (best, best_epoch, path), flush=True)


if __name__ == "__main__":
    main()
