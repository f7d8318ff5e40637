"""Create the golden cases of the vrnn family under tests/golden/vrnn_*/ from
vrnn_ref.py (the VRNN written from models.md's equations), in float64.

golden.json keys: n, k, m, T, F, L, lengths [n] (unequal, the longest T), x [n][T*F]
(frame t in columns t*F..; past an example's length its frames are random padding,
which nothing may read into a term), eps [n][k][T*(L+F)] (step t's block at columns
t*(L+F): L for z_t, then F that only generation reads), log_w, log_px_z, log_pz,
log_qz [n][k], kl_steps [n][k][T] (the analytic KL of each step along each particle's
trajectory, 0 past the length), recon, kl, elbo, iw [n]; enc_mean, enc_logvar
[n][T*L] (the mean path, over all T steps); decode_z [m][T*L], decode_out and
decode_logits [m][T*F] (x_t's mean fed back); gen_eps [m][T*(L+F)], gen_temp,
gen_x [m][T*F] (binary draws; Gaussian: mean + sigma * noise), gen_z [m][T*L]. A Gaussian
case has decode_logvar in place of decode_logits (decode's PARAMS: the means and these); a
mixture's decode_out and decode_logvar are the mixture's mean and log-variance, and its
noise has 1 + F values per step for x (the component, then its Gaussian).

Every GRU / LSTM step is also recomputed from the gate equations and compared with
nn.GRUCell / nn.LSTMCell, and the per-step KL is checked against the Monte Carlo
expectation it is the closed form of.

Command (from the repository root):
    OPENBLAS_CORETYPE=Cooperlake OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=1 \\
    /usr/bin/python3 tools/torch/make_golden_vrnn.py [--out tests/golden]
"""
import argparse
import math
import os
import shutil
import sys

import numpy as np
import torch
from torch.distributions import Normal, kl_divergence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export  # noqa: E402
import make_golden  # noqa: E402
import vrnn_ref  # noqa: E402

N_EXAMPLES, N_SAMPLES, N_DECODE, T = 3, 4, 3, 5
LENGTHS = [5, 3, 1]

# name: (description, architecture, seed[, frame size: 6 unless given])
CASES = {
    "vrnn_gru": ("VRNN, GRU, relu, one hidden layer in every network",
                 {"variant": "vrnn", "cell": "gru", "hidden": 7, "latent": 3, "phi_x": [5], "phi_z": [4],
                  "prior": [6], "encoder": [5], "decoder": [6], "activation": "relu",
                  "likelihood": {"type": "bernoulli"}}, 41),
    "vrnn_lstm": ("VRNN, LSTM, tanh, two-layer phi_x, no hidden layer in the prior, floor 0.01",
                  {"variant": "vrnn", "cell": "lstm", "hidden": 6, "latent": 2, "phi_x": [7, 5], "phi_z": [3],
                   "prior": [], "encoder": [4, 4], "decoder": [5], "activation": "tanh", "std_floor": 0.01,
                   "likelihood": {"type": "bernoulli"}}, 42),
    "vrnn_i_gru": ("VRNN-I (prior N(0, I)), GRU, elu",
                   {"variant": "vrnn_i", "cell": "gru", "hidden": 5, "latent": 3, "phi_x": [4], "phi_z": [4],
                    "encoder": [6], "decoder": [], "activation": "elu",
                    "likelihood": {"type": "bernoulli"}}, 43),
    "vrnn_rnn_lstm": ("RNN (no latent, log p(x) exact), LSTM, relu",
                      {"variant": "rnn", "cell": "lstm", "hidden": 8, "phi_x": [6], "decoder": [7],
                       "activation": "relu", "likelihood": {"type": "bernoulli"}}, 44),
    "vrnn_rows28": ("VRNN, GRU, frames of 28 (an MNIST image as 28 rows: the CLI's eval on IDX)",
                    {"variant": "vrnn", "cell": "gru", "hidden": 6, "latent": 2, "phi_x": [5], "phi_z": [3],
                     "prior": [4], "encoder": [4], "decoder": [5], "activation": "tanh",
                     "likelihood": {"type": "bernoulli"}}, 45, 28),
    "vrnn_gauss_lstm": ("VRNN, LSTM, Gaussian frames (decoder mean and softplus std), floor 1e-3",
                        {"variant": "vrnn", "cell": "lstm", "hidden": 6, "latent": 3, "phi_x": [5], "phi_z": [4],
                         "prior": [5], "encoder": [5], "decoder": [6], "activation": "tanh", "std_floor": 1e-3,
                         "likelihood": {"type": "gaussian"}}, 46, 4),
    "vrnn_gmm_gru": ("VRNN, GRU, frames a mixture of 3 Gaussians (decoder weights, means, softplus stds)",
                     {"variant": "vrnn", "cell": "gru", "hidden": 6, "latent": 2, "phi_x": [5], "phi_z": [4],
                      "prior": [4], "encoder": [5], "decoder": [6], "activation": "tanh", "std_floor": 1e-3,
                      "likelihood": {"type": "gaussian_mixture", "components": 3}}, 47, 3),
}


def cell_by_hand(model, x, state):
    """One step from the gate equations (LSTM i, f, g, o; GRU r, z, n)."""
    c = model.rnn
    if model.lstm:
        h, cs = state
        g = x @ c.weight_ih.T + c.bias_ih + h @ c.weight_hh.T + c.bias_hh
        i, f, gg, o = g.chunk(4, 1)
        c2 = torch.sigmoid(f) * cs + torch.sigmoid(i) * torch.tanh(gg)
        return torch.sigmoid(o) * torch.tanh(c2), c2
    gi, gh = x @ c.weight_ih.T + c.bias_ih, state @ c.weight_hh.T + c.bias_hh
    r = torch.sigmoid(gi[:, :model.H] + gh[:, :model.H])
    z = torch.sigmoid(gi[:, model.H:2 * model.H] + gh[:, model.H:2 * model.H])
    n = torch.tanh(gi[:, 2 * model.H:] + r * gh[:, 2 * model.H:])
    return (1 - z) * n + z * state


def cross_check(model, rng):
    """The checks the module docstring lists; raises on a mismatch."""
    xi = torch.from_numpy(rng.standard_normal((5, model.rnn.input_size)))
    h = torch.from_numpy(rng.standard_normal((5, model.H)))
    state = (h, torch.from_numpy(rng.standard_normal((5, model.H)))) if model.lstm else h
    want, got = cell_by_hand(model, xi, state), model.rnn(xi, state)
    pairs = zip(want, got) if model.lstm else [(want, got)]
    assert max(float((a - b).abs().max()) for a, b in pairs) < 1e-12
    q = Normal(torch.tensor([0.3, -1.0]), torch.tensor([0.7, 1.4]))
    p = Normal(torch.tensor([-0.2, 0.5]), torch.tensor([1.1, 0.6]))
    z = q.sample((200000,))
    ratio = q.log_prob(z) - p.log_prob(z)
    tol = 5.0 * ratio.std(0) / math.sqrt(z.shape[0])  # five standard errors of the Monte Carlo mean
    assert bool(((ratio.mean(0) - kl_divergence(q, p)).abs() < tol).all())


def golden_values(model, rng):
    F_DIM = model.F
    n, k, m, L, E = N_EXAMPLES, N_SAMPLES, N_DECODE, model.L, model.L + F_DIM + (1 if model.K else 0)
    kind = "continuous" if model.gauss_frames else "binary"
    x = torch.from_numpy(make_golden.make_x(rng, kind, n, T * F_DIM)).reshape(n, T, F_DIM)
    lengths = torch.tensor(LENGTHS)
    eps = torch.from_numpy(rng.standard_normal((n, k, T * E)))
    z_dec = torch.from_numpy(rng.standard_normal((m, T * L)) * np.array([[1.0], [0.5], [0.0]]))
    gen_eps, temp = torch.from_numpy(rng.standard_normal((m, T * E))), 0.8
    with torch.no_grad():
        cross_check(model, rng)
        t = model.terms(x.repeat_interleave(k, 0), lengths.repeat_interleave(k, 0), eps.reshape(n * k, T, E))
        g = {"n": n, "k": k, "m": m, "T": T, "F": F_DIM, "L": L, "lengths": LENGTHS,
             "x": x.reshape(n, -1).tolist(), "eps": eps.tolist()}
        if model.variant != "rnn":
            mu, lv = model.encode(x)
            g["enc_mean"], g["enc_logvar"] = mu.reshape(n, -1).tolist(), lv.reshape(n, -1).tolist()
        mean, logits = model.decode(z_dec.reshape(m, T, L), T)
        gx, gz = model.generate(gen_eps.reshape(m, T, E), temp)
    log_w = (t["log_px"] + t["log_pz"] - t["log_qz"]).reshape(n, k)
    kl_steps = t["kl_steps"].reshape(n, k, T)
    log_px = t["log_px"].reshape(n, k)
    recon, kl = log_px.mean(1), kl_steps.sum(2).mean(1)
    g.update({"log_w": log_w.tolist(), "log_px_z": log_px.tolist(),
              "log_pz": t["log_pz"].reshape(n, k).tolist(), "log_qz": t["log_qz"].reshape(n, k).tolist(),
              "kl_steps": kl_steps.tolist(), "recon": recon.tolist(), "kl": kl.tolist(),
              "elbo": (recon - kl).tolist(), "iw": (torch.logsumexp(log_w, 1) - math.log(k)).tolist(),
              "decode_z": z_dec.tolist(), "decode_out": mean.reshape(m, -1).tolist(),
              ("decode_logvar" if model.gauss_frames else "decode_logits"): logits.reshape(m, -1).tolist(), "gen_eps": gen_eps.tolist(), "gen_temp": temp,
              "gen_x": gx.reshape(m, -1).tolist(), "gen_z": gz.reshape(m, -1).tolist()})
    return g


def make_case(out_root, name, spec):
    description, arch, seed = spec[:3]
    frame = spec[3] if len(spec) > 3 else 6
    rng = np.random.default_rng(seed)
    model = vrnn_ref.VariaVRNN(arch, frame)
    make_golden.random_weights(model, rng)
    out_dir = os.path.join(out_root, name)
    shutil.rmtree(out_dir, ignore_errors=True)
    export.export(model, arch, [frame], out_dir, family="vrnn",
                  provenance={"generator": "tools/torch/make_golden_vrnn.py", "seed": seed,
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
    torch.manual_seed(0)
    for name, spec in CASES.items():
        out_dir = make_case(args.out, name, spec)
        size = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
        print("%-16s %6d bytes" % (name, size), flush=True)


if __name__ == "__main__":
    main()
