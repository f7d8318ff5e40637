"""Create the golden cases of the draw family under tests/golden/draw_*/ from
draw_ref.py (DRAW written from the paper's equations), in float64.

golden.json keys: n, k, steps, latent, x [n][D], eps [n][k][T*L] (step t in columns
t*L..), enc_mean and enc_logvar [n][T*L] (the mean path: z_t = mu_t), decode_z
[m][T*L], decode_out [m][D] (sigmoid of the final canvas), decode_steps [m][T][D]
(sigmoid of every canvas), log_w, log_px_z [n][k], kl_steps [n][k][T] (the analytic
KL of each step along the sampled trajectory), recon, kl, elbo, iw [n].

Every LSTM step is also recomputed from the gate equations (i, f, g, o) and
compared with nn.LSTMCell, every filter row checked to sum to 1, and the adjoint
identity <read(x), w> = gamma^2 <x, write(w)> checked on each case's first step.

Command (from the repository root):
    OPENBLAS_CORETYPE=Cooperlake OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=1 \
    /usr/bin/python3 tools/torch/make_golden_draw.py [--out tests/golden]
"""
import argparse
import math
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import draw_ref  # noqa: E402
import export  # noqa: E402
import make_golden  # noqa: E402

N_EXAMPLES, N_SAMPLES, N_DECODE = 3, 4, 3

# name: (description, architecture, data shape [1, B, A], seed)
CASES = {
    "draw_full": ("DRAW without attention, 7 wide x 5 high, T = 3, L = 4, log_std",
                  {"steps": 3, "latent": 4, "encoder_hidden": 8, "decoder_hidden": 9,
                   "read": {"type": "full"}, "write": {"type": "full"},
                   "posterior_scale": "log_std", "likelihood": {"type": "bernoulli"}},
                  [1, 5, 7], 31),
    "draw_attn": ("DRAW with attention (read 2x2, write 3x3), 7 wide x 6 high, T = 4, L = 3, log_var",
                  {"steps": 4, "latent": 3, "encoder_hidden": 10, "decoder_hidden": 8,
                   "read": {"type": "attention", "glimpse": 2},
                   "write": {"type": "attention", "glimpse": 3},
                   "posterior_scale": "log_var", "likelihood": {"type": "bernoulli"}},
                  [1, 6, 7], 32),
    "draw_attn_n1": ("DRAW with attention (read 1x1, write 4x4), square 6x6, T = 2, L = 2, log_std",
                     {"steps": 2, "latent": 2, "encoder_hidden": 6, "decoder_hidden": 7,
                      "read": {"type": "attention", "glimpse": 1},
                      "write": {"type": "attention", "glimpse": 4},
                      "posterior_scale": "log_std", "likelihood": {"type": "bernoulli"}},
                     [1, 6, 6], 33),
}


def lstm_by_hand(cell, x, h, c):
    """One LSTM step from the gate equations, PyTorch's layout i, f, g, o."""
    gates = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
    i, f, g, o = gates.chunk(4, 1)
    c2 = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c2), c2


def cross_check(model, x, rng):
    """The checks the module docstring lists; raises on a mismatch."""
    for cell, width in ((model.enc, model.enc.input_size), (model.dec, model.dec.input_size)):
        xi = torch.from_numpy(rng.standard_normal((5, width)))
        h = torch.from_numpy(rng.standard_normal((5, cell.hidden_size)))
        c = torch.from_numpy(rng.standard_normal((5, cell.hidden_size)))
        want, got = lstm_by_hand(cell, xi, h, c), cell(xi, (h, c))
        assert max(float((a - b).abs().max()) for a, b in zip(want, got)) < 1e-12
    for n, lin in ((model.read_n, getattr(model, "read_attn", None)),
                   (model.write_n, getattr(model, "write_attn", None))):
        if not n:
            continue
        hd = torch.from_numpy(rng.standard_normal((4, model.hd)))
        fx, fy, gamma = draw_ref.filterbank(lin(hd), model.A, model.B, n)
        assert float((fx.sum(-1) - 1).abs().max()) < 1e-12 and float((fy.sum(-1) - 1).abs().max()) < 1e-12
        img = x[:1].expand(4, -1)
        w = torch.from_numpy(rng.standard_normal((4, n * n)))
        lhs = (draw_ref.attn_read(img, fx, fy, gamma, model.A, model.B) * w).sum(1)
        rhs = gamma ** 2 * (img * draw_ref.attn_write(w, fx, fy, gamma, n)).sum(1)
        assert float((lhs - rhs).abs().max()) < 1e-10


def golden_values(model, rng):
    n, k, m, T, L = N_EXAMPLES, N_SAMPLES, N_DECODE, model.T, model.L
    x = torch.from_numpy(make_golden.make_x(rng, "binary", n, model.A * model.B))
    eps = torch.from_numpy(rng.standard_normal((n, k, T * L)))
    z_dec = torch.from_numpy(rng.standard_normal((m, T * L)) * np.array([[1.0], [0.5], [0.0]]))
    with torch.no_grad():
        cross_check(model, x, rng)
        mp = model.infer(x)
        t = model.terms(x.repeat_interleave(k, 0), eps.reshape(n * k, T * L))
        canv = model.decode(z_dec)
    log_w = (t["log_px"] + t["log_pz"] - t["log_qz"]).reshape(n, k)
    kl_steps = t["kl_steps"].reshape(n, k, T)
    log_px = t["log_px"].reshape(n, k)
    recon, kl = log_px.mean(1), kl_steps.sum(2).mean(1)
    iw = torch.logsumexp(log_w, 1) - math.log(k)
    return {"n": n, "k": k, "steps": T, "latent": L, "x": x.tolist(), "eps": eps.tolist(),
            "enc_mean": torch.cat(mp["mu"], 1).tolist(), "enc_logvar": torch.cat(mp["logvar"], 1).tolist(),
            "decode_z": z_dec.tolist(), "decode_out": torch.sigmoid(canv[-1]).tolist(),
            "decode_steps": torch.sigmoid(torch.stack(canv, 1)).tolist(),
            "log_w": log_w.tolist(), "log_px_z": log_px.tolist(), "kl_steps": kl_steps.tolist(),
            "recon": recon.tolist(), "kl": kl.tolist(), "elbo": (recon - kl).tolist(), "iw": iw.tolist()}


def attention_weights(model, rng):
    """Attention heads in a healthy regime: windows on the image, sigma^2 near 1 (the
    extremes, where a normaliser underflows, are the op tests' job)."""
    with torch.no_grad():
        for lin in (getattr(model, "read_attn", None), getattr(model, "write_attn", None)):
            if lin is not None:
                lin.weight.copy_(torch.from_numpy(rng.normal(0.0, 0.15, size=lin.weight.shape).astype(np.float32)))
                lin.bias.copy_(torch.tensor([0.1, -0.2, 0.3, -0.1, 0.2]))


def make_case(out_root, name, spec):
    description, arch, shape, seed = spec
    rng = np.random.default_rng(seed)
    model = draw_ref.VariaDRAW(arch, shape)
    make_golden.random_weights(model, rng)
    attention_weights(model, rng)
    out_dir = os.path.join(out_root, name)
    shutil.rmtree(out_dir, ignore_errors=True)
    export.export(model, arch, shape, out_dir, family="draw",
                  provenance={"generator": "tools/torch/make_golden_draw.py", "seed": seed,
                              "description": description})
    make_golden.write_golden(os.path.join(out_dir, "golden.json"), description,
                             golden_values(model.double(), rng))
    return out_dir


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "..", "tests", "golden"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    for name, spec in CASES.items():
        out_dir = make_case(args.out, name, spec)
        size = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
        print("%-16s %6d bytes" % (name, size), flush=True)


if __name__ == "__main__":
    main()
