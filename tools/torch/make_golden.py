"""Create the golden test cases of the vae/iwae family under tests/golden/<case>/.

Each case directory gets model.json + model.safetensors (or model.bin) written by
export.py, and golden.json with reference values from varia_ref.py computed in
float64 from the weights as stored (F16/BF16 weights are rounded first and widened
back, because the values are computed from the model loaded back from disk).

golden.json keys: n, k, x [n][D], eps [n][layers][k][latent_l], enc_mean and
enc_logvar [n][layers][latent_l] (mean path, log sigma^2 even for log_std models),
decode_z [m][latent_L], decode_out / decode_mean [m][D] (decode_logvar for
Gaussians), log_w and log_px_z [n][k], recon, kl, elbo, iw [n]; flow cases
(architecture.flow, docs/format.md 2.3) also log_det [n][k] (per sample Σ_k
log|det|), and their kl is the Monte Carlo mean of log q_K − log p(z).

Conv cases (docs/format.md 2.4) run torch.nn.functional's conv2d and
conv_transpose2d and their batch norms unfolded, in float64.

Every value is also cross-checked against torch.distributions before writing; for
flows, each step's log|det| against slogdet of its autograd Jacobian, and each IAF
step's Jacobian against its ordering (exactly triangular, diagonal in (0, 1)).
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
    "flow_planar_amort_k1": (
        "1 layer, planar flow K=1 with amortized parameters (enc1.flow), tanh, log_var, "
        "Bernoulli; wTu < 0 for some examples so the u-hat correction matters",
        {"activation": "tanh", "posterior_scale": "log_var", "likelihood": BERN,
         "layers": [layer(3, [7, 6], [6, 7])],
         "flow": {"type": "planar", "steps": 1, "params": "amortized"}},
        [1, 4, 5], "binary", "safetensors", "F32", "vae", 121),
    "flow_planar_global_k5": (
        "1 layer, planar flow K=5 with global parameters (flow.{k}.u/w/b), steps 1 and 3 "
        "with wTu < 0, log_std, Bernoulli",
        {"activation": "tanh", "posterior_scale": "log_std", "likelihood": BERN,
         "layers": [layer(4, [7], [7])],
         "flow": {"type": "planar", "steps": 5, "params": "global"}},
        [16], "binary", "safetensors", "F32", "vae", 122),
    "flow_radial_amort_k4": (
        "2 layers, radial flow K=4 amortized from the top encoder (enc2.flow), beta < 0 "
        "in odd steps, log_var, Bernoulli, MC KL",
        {"activation": "tanh", "posterior_scale": "log_var", "likelihood": BERN,
         "layers": [layer(4, [8], [8]), layer(3, [6], [6])],
         "flow": {"type": "radial", "steps": 4, "params": "amortized"}},
        [16], "binary", "safetensors", "F32", "iwae", 123),
    "flow_radial_global_k1": (
        "1 layer, radial flow K=1 with global parameters (flow.0.z0/alpha/beta), beta < 0, "
        "elu, log_std, Gaussian with fixed log_var -1",
        {"activation": "elu", "posterior_scale": "log_std",
         "likelihood": {"type": "gaussian", "variance": "fixed", "log_var": -1.0},
         "layers": [layer(3, [8, 6], [6, 8])],
         "flow": {"type": "radial", "steps": 1, "params": "global"}},
        [12], "continuous", "safetensors", "F32", "vae", 124),
    "flow_iaf_ctx_k1": (
        "1 layer, IAF K=1, MADE hidden [9], context 3 (enc1.context, flow.0.ctx), "
        "identity ordering, tanh, log_var, Bernoulli; masked-out weights non-zero",
        {"activation": "tanh", "posterior_scale": "log_var", "likelihood": BERN,
         "layers": [layer(4, [8], [8])],
         "flow": {"type": "iaf", "steps": 1, "hidden": [9], "context": 3}},
        [16], "binary", "safetensors", "F32", "vae", 125),
    "flow_iaf_k4_2layer": (
        "2 layers, IAF K=4 on the top layer, MADE hidden [8, 7] (flow.{k}.hidden.1), no "
        "context, ordering [2, 0, 3, 1] (reversed in odd k), MADE activation elu "
        "(the architecture's is tanh), log_std, Bernoulli, MC KL; masked-out weights non-zero",
        {"activation": "tanh", "posterior_scale": "log_std", "likelihood": BERN,
         "layers": [layer(4, [8], [8]), layer(4, [7], [7])],
         "flow": {"type": "iaf", "steps": 4, "hidden": [8, 7], "context": 0,
                  "ordering": [2, 0, 3, 1], "activation": "elu"}},
        [16], "binary", "safetensors", "F32", "iwae", 126),
    # docs/format.md 2.4: layer lists with conv / conv_transpose, odd sizes, stride 2,
    # padding, output padding, non-square kernels and strides, batch norm (eval) folded.
    "conv_bern_odd": (
        "conv encoder (odd 7x7, stride 2, padding, a 2x3 kernel with stride (1, 2)), "
        "dense + transposed convs with output padding, Bernoulli",
        {"likelihood": BERN, "layers": [{"latent": 3, "encoder_net": [
            {"type": "conv", "out": 3, "kernel": 3, "stride": 2, "padding": 1, "activation": "tanh"},
            {"type": "conv", "out": 4, "kernel": [2, 3], "stride": [1, 2], "padding": [0, 1],
             "activation": "elu"},
            {"type": "flatten"},
            {"type": "dense", "out": 10, "activation": "tanh"}],
            "decoder_net": [
            {"type": "dense", "out": 16, "activation": "tanh"},
            {"type": "reshape", "shape": [4, 2, 2]},
            {"type": "conv_transpose", "out": 3, "kernel": 3, "stride": 2, "padding": 1,
             "output_padding": 1, "activation": "softplus"},
            {"type": "conv_transpose", "out": 1, "kernel": 3, "stride": 2, "padding": 1}]}],
         "elu_alpha": 0.7},
        [1, 7, 7], "binary", "safetensors", "F32", "vae", 131),
    "conv_bn_gauss": (
        "conv + batch norm (eval, folded at load) on 2x6x5, dense + batch norm, transposed conv "
        "with a 3x2 kernel and output padding + batch norm, Gaussian learned variance",
        {"likelihood": {"type": "gaussian", "variance": "learned"}, "leaky_relu_slope": 0.2,
         "elu_alpha": 0.7, "layers": [{"latent": 2, "encoder_net": [
            {"type": "conv", "out": 4, "kernel": 3, "stride": 2, "padding": 1},
            {"type": "batch_norm"},
            {"type": "activation", "activation": "relu"},
            {"type": "flatten"},
            {"type": "dense", "out": 8},
            {"type": "batch_norm", "eps": 0.001, "activation": "tanh"}],
            "decoder_net": [
            {"type": "dense", "out": 12},
            {"type": "batch_norm", "activation": "leaky_relu"},
            {"type": "reshape", "shape": [3, 2, 2]},
            {"type": "conv_transpose", "out": 4, "kernel": [3, 2], "stride": 2,
             "output_padding": 1},
            {"type": "batch_norm"},
            {"type": "activation", "activation": "elu"},
            {"type": "conv", "out": 2, "kernel": 3, "padding": 1}]}]},
        [2, 6, 5], "continuous", "safetensors", "F32", "vae", 132),
    "iwae2_conv_bottom": (
        "2 layers: a conv bottom layer (stride 2, output padding) under an MLP top layer, "
        "Bernoulli",
        {"activation": "softplus", "posterior_scale": "log_var", "likelihood": BERN,
         "layers": [{"latent": 4, "encoder_net": [
            {"type": "conv", "out": 2, "kernel": 3, "stride": 2, "activation": "relu"}],
            "decoder_net": [
            {"type": "dense", "out": 8, "activation": "relu"},
            {"type": "reshape", "shape": [2, 2, 2]},
            {"type": "conv_transpose", "out": 1, "kernel": 3, "stride": 2}]},
            layer(2, [5], [5])]},
        [1, 5, 5], "binary", "safetensors", "F32", "iwae", 133),
}
# Learned-variance size per case (None: [D]).
LEARNED_SIZE = {"iwae2_gauss_learned1_raw": 1}


def random_weights(model, rng):
    """Fill every tensor with seeded normals scaled so activations stay unsaturated."""
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if p.dim() >= 2:  # conv weights: the fan-in is every axis after the first
                std = min(0.5, 1.5 / math.sqrt(int(np.prod(p.shape[1:]))))
            else:
                std = 0.3  # biases and the learned log variance
            p.copy_(torch.from_numpy(rng.normal(0.0, std, size=p.shape).astype(np.float32)))


def bn_weights(model, rng):
    """Eval-mode batch norms (after random_weights, same rng): scales around 1,
    running statistics of order 1, so that folding them changes every weight."""
    with torch.no_grad():
        for _, mod in sorted(model.named_modules(), key=lambda t: t[0]):
            if isinstance(mod, varia_ref.EvalBatchNorm):
                n = mod.weight.shape[0]
                mod.weight.copy_(torch.from_numpy(rng.normal(1.0, 0.3, n)))
                mod.bias.copy_(torch.from_numpy(rng.normal(0.0, 0.3, n)))
                mod.running_mean.copy_(torch.from_numpy(rng.normal(0.0, 0.5, n)))
                mod.running_var.copy_(torch.from_numpy(rng.uniform(0.3, 2.0, n)))


def flow_weights(model, rng):
    """Rescale a flow's tensors (after random_weights, same rng) so that every step
    does something: planar u, w of order 1 with wᵀu < 0 in some steps (û ≠ u),
    radial z0 near the samples and β̂ making β < 0 in odd steps, IAF gates σ spread
    over (0, 1). Values under the IAF masks stay random (non-zero)."""
    spec = model.flow_spec
    if spec is None:
        return
    kind, steps = spec["type"], int(spec["steps"])
    d = int(model.arch["layers"][-1]["latent"])
    top = model.enc(model.n_layers)

    def normal(std, shape, mean=0.0):
        return torch.from_numpy(rng.normal(mean, std, size=shape))

    with torch.no_grad():
        if kind in ("planar", "radial") and spec["params"] == "amortized":
            w, b = top.flow.weight, top.flow.bias
            w.copy_(normal(0.6, tuple(w.shape)))
            per = 2 * d + 1 if kind == "planar" else d + 2
            for k in range(steps):
                o = k * per
                if kind == "planar":
                    bw = normal(1.5, (d,))
                    sign = -1.0 if k % 2 == 0 else 1.0
                    b[o:o + d] = sign * 0.6 * bw + normal(0.5, (d,))
                    b[o + d:o + 2 * d] = bw
                    b[o + 2 * d] = float(rng.normal(0.0, 0.5))
                else:
                    b[o:o + d] = normal(0.7, (d,))
                    b[o + d] = float(rng.normal(0.0, 0.5))
                    b[o + d + 1] = 1.5 if k % 2 == 0 else -2.5
        elif kind == "planar":
            for k, g in enumerate(model.flow):
                g.w.copy_(normal(1.2, (d,)))
                g.u.copy_(-0.6 * g.w + normal(0.3, (d,)) if k % 2 == 1 else normal(1.2, (d,)))
                g.b.copy_(normal(0.5, (1,)))
        elif kind == "radial":
            # A global z0 is shared by every example: keep the posterior's spread of
            # order 1 so that samples land within a few α of it.
            top.scale.weight.mul_(0.25)
            top.scale.bias.mul_(0.25)
            for k, g in enumerate(model.flow):
                g.z0.copy_(normal(0.5, (d,)))
                g.alpha.copy_(normal(0.3, (1,), 0.5))
                g.beta.copy_(torch.tensor([-4.0 if k % 2 == 0 else 1.5]))
        else:
            for g in model.flow:
                lin = getattr(g, "in")
                lin.weight.copy_(normal(1.0, tuple(lin.weight.shape)))
                g.m.weight.copy_(normal(1.0, tuple(g.m.weight.shape)))
                g.s.weight.copy_(normal(0.7, tuple(g.s.weight.shape)))
                g.s.bias.copy_(normal(1.0, (d,), 1.5))


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


def flow_log_w(model, x, eps):
    """log w, log p(x|z) and Σ log|det| of a flow model computed independently of
    varia_ref's log-determinant formulas: q_0 and the priors by torch.distributions,
    each step's log|det| as slogdet of its autograd Jacobian, per example and sample.
    x [n, 1, D], eps as for log_weights. Returns ([n, k] each) and the per-step
    Jacobians [n][k][K] (d x d) for the autoregressive check."""
    n, k = eps[0].shape[0], eps[0].shape[1]
    h, zs, log_q = x, [], 0.0
    for l in range(1, model.n_layers + 1):
        mean, logvar, h_last = model.enc(l).forward_hidden(h)
        q = Normal(mean, torch.exp(0.5 * logvar))
        z = mean + torch.exp(0.5 * logvar) * eps[l - 1]
        log_q = log_q + q.log_prob(z).sum(-1)
        if l == model.n_layers:
            top_hidden, z0 = h_last, z
        zs.append(z)
        h = z
    steps = int(model.flow_spec["steps"])
    log_det = torch.zeros(n, k, dtype=z0.dtype)
    zk = torch.zeros_like(z0)
    jacs = []
    for i in range(n):
        row = []
        for s in range(k):
            # The top encoder's hidden layer is per sample with 2+ layers ([n, k, H]).
            hl = top_hidden[i, min(s, top_hidden.shape[1] - 1)]
            z, per_step = z0[i, s], []
            for t in range(steps):
                jac = torch.autograd.functional.jacobian(
                    lambda v: model.flow_step(t, v, hl)[0], z)
                log_det[i, s] = log_det[i, s] + torch.linalg.slogdet(jac)[1]
                per_step.append(jac)
                z = model.flow_step(t, z, hl)[0]
            zk[i, s] = z
            row.append(per_step)
        jacs.append(row)
    zs[-1] = zk
    log_q = log_q - log_det
    log_p = Normal(torch.zeros_like(zk), torch.ones_like(zk)).log_prob(zk).sum(-1)
    for l in range(2, model.n_layers + 1):
        mean, logvar = model.dec(l)(zs[l - 1])
        log_p = log_p + Normal(mean, torch.exp(0.5 * logvar)).log_prob(zs[l - 2]).sum(-1)
    out, logvar = model.dec1(zs[0])
    if logvar is None:
        log_px = Bernoulli(logits=out).log_prob(x.expand_as(out)).sum(-1)
    else:
        log_px = Normal(out, torch.exp(0.5 * logvar)).log_prob(x).sum(-1)
    return log_px + log_p - log_q, log_px, log_det, jacs


def check_autoregressive(model, jacs):
    """IAF: in each step's own ordering, output i depends only on inputs at or before
    i (the Jacobian permuted by the ordering is lower triangular, exactly), with
    diagonal σ_i in (0, 1). Returns the largest |entry| above the diagonal."""
    worst = 0.0
    for row in jacs:
        for per_step in row:
            for t, jac in enumerate(per_step):
                order = model.flow[t].ordering
                pj = jac[order][:, order]
                worst = max(worst, float(torch.triu(pj, diagonal=1).abs().max()))
                diag = torch.diagonal(pj)
                if not bool(((diag > 0) & (diag < 1)).all()):
                    raise AssertionError("IAF step %d: Jacobian diagonal not in (0, 1)" % t)
    if worst != 0.0:
        raise AssertionError("IAF Jacobian not triangular in the ordering: %g" % worst)
    return worst


FLOW_REPORT = {}


def cross_check(model, x, eps, est):
    """Fail loudly if varia_ref disagrees with the torch.distributions computation
    (and, for flows, with autograd Jacobians); flow discrepancies go to FLOW_REPORT."""
    if model.flow_spec is None:
        log_w, log_px = distributions_log_w(model, x, eps)
        checks = ((log_w, est["log_w"], "log_w"), (log_px, est["log_px_z"], "log_px_z"))
    else:
        with torch.enable_grad():
            log_w, log_px, log_det, jacs = flow_log_w(model, x, eps)
        checks = ((log_w, est["log_w"], "log_w"), (log_px, est["log_px_z"], "log_px_z"),
                  (log_det, est["log_det"], "log_det"))
        FLOW_REPORT["log_det_err"] = float((log_det - est["log_det"]).abs().max())
        FLOW_REPORT["log_w_err"] = float((log_w - est["log_w"]).abs().max())
        FLOW_REPORT["log_det_range"] = (float(est["log_det"].min()), float(est["log_det"].max()))
        if model.flow_spec["type"] == "iaf":
            FLOW_REPORT["triangular"] = check_autoregressive(model, jacs)
    for a, b, what in checks:
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
    if model.flow_spec is not None:
        g["log_det"] = est["log_det"].tolist()
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
    bn_weights(model, rng)
    flow_weights(model, rng)
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
        extra = ""
        if FLOW_REPORT:
            extra = ("  log_det in [%.3f, %.3f], max |log_det - slogdet| %.1e, "
                     "max |log_w diff| %.1e" % (FLOW_REPORT["log_det_range"] +
                                                (FLOW_REPORT["log_det_err"],
                                                 FLOW_REPORT["log_w_err"])))
            if "triangular" in FLOW_REPORT:
                extra += ", max |J above diagonal| %g" % FLOW_REPORT["triangular"]
            FLOW_REPORT.clear()
        print("%-28s %6d bytes%s" % (name, size, extra), flush=True)


if __name__ == "__main__":
    main()
