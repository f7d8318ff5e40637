"""Create the golden test cases of the vae/iwae family under tests/golden/<case>/.

Each case directory gets model.json + model.safetensors (or model.bin) written by
export.py, and golden.json with reference values from varia_ref.py computed in
float64 from the weights as stored (F16/BF16 weights are rounded first and widened
back, because the values are computed from the model loaded back from disk).

golden.json keys: n, k, x [n][D], eps [n][layers][k][latent_l], enc_mean and
enc_logvar [n][layers][latent_l] (mean path, log sigma^2 even for log_std models),
decode_z [m][latent_L], decode_out / decode_mean [m][D] (decode_logvar for
Gaussians), log_w and log_px_z [n][k], recon, kl, elbo, iw [n].

Every value is also cross-checked against torch.distributions before writing.
Deterministic: fixed seeds, so rerunning reproduces identical files.

Command (from /work/main):
    OPENBLAS_CORETYPE=Cooperlake OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=2 \
    OMP_NUM_THREADS=2 /usr/bin/python3 tools/torch/make_golden.py [--out tests/golden]
"""
import argparse
import json
import math
import os
import shutil
import sys

import numpy as np
import torch
from torch.distributions import Bernoulli, Normal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export  # noqa: E402
import varia_ref  # noqa: E402

N_EXAMPLES, N_SAMPLES, N_DECODE = 3, 6, 4
BERN = {"type": "bernoulli"}


def layer(latent, enc, dec, **extra):
    d = {"latent": latent, "encoder": enc, "decoder": dec}
    d.update(extra)
    return d


# name -> (description, arch, data shape, x kind, weights format, dtype, family, seed)
CASES = {
    "vae1_tanh_bern": (
        "1 layer, tanh, Bernoulli, log_var, binary x",
        {"activation": "tanh", "posterior_scale": "log_var", "likelihood": BERN,
         "layers": [layer(3, [7, 6], [6, 7])]},
        [1, 4, 5], "binary", "safetensors", "F32", "vae", 101),
    "vae1_relu_gauss_decoder": (
        "1 layer, relu, Gaussian with decoder variance head, log_std",
        {"activation": "relu", "posterior_scale": "log_std",
         "likelihood": {"type": "gaussian", "variance": "decoder"},
         "layers": [layer(3, [8, 6], [6, 8])]},
        [12], "continuous", "safetensors", "F32", "vae", 102),
    "vae1_elu_gauss_learned": (
        "1 layer, elu (alpha 0.7), Gaussian with learned variance of shape [D]",
        {"activation": "elu", "elu_alpha": 0.7, "posterior_scale": "log_var",
         "likelihood": {"type": "gaussian", "variance": "learned"},
         "layers": [layer(3, [8, 6], [6, 8])]},
        [12], "continuous", "safetensors", "F32", "vae", 103),
    "vae1_leaky_gauss_fixed": (
        "1 layer, leaky_relu (slope 0.2), Gaussian with fixed log_var -1.5",
        {"activation": "leaky_relu", "leaky_relu_slope": 0.2, "posterior_scale": "log_var",
         "likelihood": {"type": "gaussian", "variance": "fixed", "log_var": -1.5},
         "layers": [layer(3, [8, 6], [6, 8])]},
        [2, 6], "continuous", "safetensors", "F32", "vae", 104),
    "vae1_softplus_bern_frac": (
        "1 layer, softplus, Bernoulli with fractional x in [0, 1]",
        {"activation": "softplus", "posterior_scale": "log_var", "likelihood": BERN,
         "layers": [layer(4, [7, 6], [6, 7])]},
        [16], "fraction", "safetensors", "F32", "vae", 105),
    "vae1_sigmoid_bern": (
        "1 layer, sigmoid, Bernoulli, binary x",
        {"activation": "sigmoid", "posterior_scale": "log_std", "likelihood": BERN,
         "layers": [layer(3, [7, 6], [6, 7])]},
        [16], "binary", "safetensors", "F32", "vae", 106),
    "vae1_identity_bern": (
        "1 layer, identity, Bernoulli, encoder with no hidden layer",
        {"activation": "identity", "posterior_scale": "log_var", "likelihood": BERN,
         "layers": [layer(3, [], [5])]},
        [16], "binary", "safetensors", "F32", "vae", 107),
    "iwae2_tanh_bern": (
        "2 layers as in the IWAE paper but small, tanh, Bernoulli, MC KL",
        {"activation": "tanh", "posterior_scale": "log_var", "likelihood": BERN,
         "layers": [layer(4, [8, 8], [8, 8]), layer(2, [5, 5], [5, 5])]},
        [1, 4, 5], "binary", "safetensors", "F32", "iwae", 108),
    "iwae2_gauss_learned1_raw": (
        "2 layers, raw weights file, layer 2 overrides activation to elu, log_std, "
        "Gaussian with learned variance of shape [1]",
        {"activation": "tanh", "posterior_scale": "log_std",
         "likelihood": {"type": "gaussian", "variance": "learned"},
         "layers": [layer(4, [6], [6]), layer(2, [3], [3], activation="elu")]},
        [10], "continuous", "raw", "F32", "iwae", 109),
    "vae1_tanh_bern_f16": (
        "vae1_tanh_bern's architecture with F16 weights",
        {"activation": "tanh", "posterior_scale": "log_var", "likelihood": BERN,
         "layers": [layer(3, [7, 6], [6, 7])]},
        [1, 4, 5], "binary", "safetensors", "F16", "vae", 110),
    "vae1_tanh_bern_bf16": (
        "vae1_tanh_bern's architecture with BF16 weights",
        {"activation": "tanh", "posterior_scale": "log_var", "likelihood": BERN,
         "layers": [layer(3, [7, 6], [6, 7])]},
        [1, 4, 5], "binary", "safetensors", "BF16", "vae", 111),
}
# Learned-variance size per case (None: [D]).
LEARNED_SIZE = {"iwae2_gauss_learned1_raw": 1}


def random_weights(model, rng):
    """Fill every tensor with seeded normals scaled so activations stay unsaturated."""
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if p.dim() == 2:
                std = min(0.5, 1.5 / math.sqrt(p.shape[1]))
            else:
                std = 0.3  # biases and the learned log variance
            p.copy_(torch.from_numpy(rng.normal(0.0, std, size=p.shape).astype(np.float32)))


def make_x(rng, kind, n, d):
    """n examples: binary, fractional in [0, 1] (Bernoulli), or continuous in [0, 1]."""
    if kind == "binary":
        return (rng.random((n, d)) < 0.4).astype(np.float64)
    # Round to 1/64 so the values are exact in float32 as well as float64.
    return np.round(rng.random((n, d)) * 64) / 64


def mean_path(model, x):
    """enc_mean and enc_logvar as nested lists [n][layers][latent_l]."""
    path = model.encode_mean_path(x)
    means = [[m[i].tolist() for m, _ in path] for i in range(x.shape[0])]
    logvars = [[v[i].tolist() for _, v in path] for i in range(x.shape[0])]
    return means, logvars


def distributions_log_w(model, x, eps):
    """log w and log p(x|z) by torch.distributions, as an independent check of varia_ref."""
    h, zs, log_q = x, [], 0.0
    for l in range(1, model.n_layers + 1):
        mean, logvar = model.enc(l)(h)
        q = Normal(mean, torch.exp(0.5 * logvar))
        z = mean + torch.exp(0.5 * logvar) * eps[l - 1]
        log_q = log_q + q.log_prob(z).sum(-1)
        zs.append(z)
        h = z
    log_p = Normal(torch.zeros_like(zs[-1]), torch.ones_like(zs[-1])).log_prob(zs[-1]).sum(-1)
    for l in range(2, model.n_layers + 1):
        mean, logvar = model.dec(l)(zs[l - 1])
        log_p = log_p + Normal(mean, torch.exp(0.5 * logvar)).log_prob(zs[l - 2]).sum(-1)
    out, logvar = model.dec1(zs[0])
    if logvar is None:
        # Bernoulli.log_prob needs binary x; the generic form covers fractional x too.
        log_px = (x * torch.log(torch.sigmoid(out)) + (1 - x) * torch.log(torch.sigmoid(-out))).sum(-1)
        if bool(((x == 0) | (x == 1)).all()):
            log_px = Bernoulli(logits=out).log_prob(x.expand_as(out)).sum(-1)
    else:
        log_px = Normal(out, torch.exp(0.5 * logvar)).log_prob(x).sum(-1)
    return log_px + log_p - log_q, log_px


def cross_check(model, x, eps, est):
    """Fail loudly if varia_ref disagrees with the torch.distributions computation."""
    log_w, log_px = distributions_log_w(model, x, eps)
    for a, b, what in ((log_w, est["log_w"], "log_w"), (log_px, est["log_px_z"], "log_px_z")):
        if not torch.allclose(a, b, rtol=1e-10, atol=1e-9):
            raise AssertionError("cross-check failed for %s" % what)


def golden_values(model, rng, x_kind):
    """Draw x, noise and latents, and compute every golden quantity in float64."""
    n, k, m = N_EXAMPLES, N_SAMPLES, N_DECODE
    sizes = [int(s["latent"]) for s in model.arch["layers"]]
    x = torch.from_numpy(make_x(rng, x_kind, n, model.n_data))
    eps_np = [rng.standard_normal((n, k, s)) for s in sizes]
    eps = [torch.from_numpy(e) for e in eps_np]
    z_top = torch.from_numpy(rng.standard_normal((m, sizes[-1])) * np.array([[1.0], [0.5], [2.0], [0.0]]))
    with torch.no_grad():
        enc_mean, enc_logvar = mean_path(model, x)
        est = model.estimates(x, eps)
        cross_check(model, x.unsqueeze(-2), eps, est)
        out, mean, logvar = model.decode(z_top)
    g = {"n": n, "k": k, "x": x.tolist(),
         "eps": [[eps_np[l][i].tolist() for l in range(len(sizes))] for i in range(n)],
         "enc_mean": enc_mean, "enc_logvar": enc_logvar,
         "decode_z": z_top.tolist(), "decode_out": out.tolist(), "decode_mean": mean.tolist()}
    if logvar is not None:
        g["decode_logvar"] = logvar.tolist()
    for key in ("log_w", "log_px_z", "recon", "kl", "elbo", "iw"):
        g[key] = est[key].tolist()
    return g


def write_golden(path, description, g):
    """One key per line; floats use Python's repr (shortest round-trip, <= 17 digits)."""
    lines = ['  "description": %s' % json.dumps(description)]
    lines += ['  "%s": %s' % (key, json.dumps(val)) for key, val in g.items()]
    with open(path, "w", encoding="utf-8") as f:
        f.write("{\n" + ",\n".join(lines) + "\n}\n")


def make_case(out_root, name, spec):
    """Build, export, reload and evaluate one case."""
    description, arch, shape, x_kind, fmt, dtype, family, seed = spec
    rng = np.random.default_rng(seed)
    model = varia_ref.VariaVAE(arch, shape, learned_size=LEARNED_SIZE.get(name))
    random_weights(model, rng)
    out_dir = os.path.join(out_root, name)
    shutil.rmtree(out_dir, ignore_errors=True)
    manifest = export.export(model, arch, shape, out_dir, fmt=fmt, dtype=dtype, family=family,
                             provenance={"generator": "tools/torch/make_golden.py",
                                         "seed": seed, "description": description})
    # Golden values come from the model as stored (dtype rounding included).
    stored = varia_ref.load(manifest).double()
    write_golden(os.path.join(out_dir, "golden.json"), description,
                 golden_values(stored, rng, x_kind))
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
        print("%-28s %6d bytes" % (name, size), flush=True)


if __name__ == "__main__":
    main()
