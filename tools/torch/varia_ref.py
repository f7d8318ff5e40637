"""Independent PyTorch reference of varia's VAE/IWAE family (docs/format.md section 2).

The module tree is laid out so that ``state_dict()`` keys are exactly the tensor
names of the format (``enc1.hidden.0.weight``, ``dec1.out.bias``, ...), so a model
exports without renaming and a varia model loads back with ``load_state_dict``.

It computes, in whatever dtype the model is in (float64 for golden vectors):
  * the encoder mean path (``encode_mean_path``),
  * the sampled path for explicit noise: log w, log p(x|z_1), log q, log p(z)
    (``log_weights``), and from those recon, KL, ELBO and the IW estimate
    (``estimates``),
  * the decoder mean path from a top-layer latent (``decode``).

Library module, no command of its own. Load a model with
    /usr/bin/python3 -c "import sys; sys.path.insert(0, 'tools/torch'); \
import varia_ref; m = varia_ref.load('models/vae-mnist/model.json')"
(run torch with OPENBLAS_CORETYPE=Cooperlake OMP_WAIT_POLICY=PASSIVE
OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 on the 2-core build machine).
"""
import json
import math
import os
import struct

import numpy as np
import torch
from torch import nn

LOG_2PI = math.log(2.0 * math.pi)


def softplus(v):
    """log(1 + exp(v)) without torch's threshold shortcut, so golden values are exact."""
    return torch.clamp(v, min=0) + torch.log1p(torch.exp(-torch.abs(v)))


def make_activation(name, slope=0.01, alpha=1.0):
    """Return the elementwise function named in the manifest's ``activation``."""
    if name == "tanh":
        return torch.tanh
    if name == "relu":
        return torch.relu
    if name == "leaky_relu":
        return lambda v: torch.where(v >= 0, v, slope * v)
    if name == "elu":
        return lambda v: torch.where(v > 0, v, alpha * torch.expm1(torch.clamp(v, max=0)))
    if name == "softplus":
        return softplus
    if name == "sigmoid":
        return torch.sigmoid
    if name == "identity":
        return lambda v: v
    raise ValueError("unknown activation %r" % name)


def gauss_logpdf(v, mean, logvar):
    """Elementwise log N(v; mean, exp(logvar))."""
    return -0.5 * (LOG_2PI + logvar + (v - mean) ** 2 * torch.exp(-logvar))


def hidden_stack(n_in, widths):
    """The hidden Linear layers of one network; returns it and its output width."""
    sizes = [n_in] + list(widths)
    layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
    return layers, sizes[-1]


def run_hidden(layers, act, h):
    """Apply the hidden layers, each followed by the activation (heads are not)."""
    for lin in layers:
        h = act(lin(h))
    return h


class GaussianNet(nn.Module):
    """q(z_l | z_{l-1}) or the conditional prior p(z_{l-1} | z_l): MLP + mean/scale heads."""

    def __init__(self, n_in, widths, n_out, act, log_std):
        super().__init__()
        self.hidden, h_last = hidden_stack(n_in, widths)
        self.mean = nn.Linear(h_last, n_out)
        self.scale = nn.Linear(h_last, n_out)
        self.act = act
        self.log_std = log_std

    def forward(self, h):
        """Return (mean, log sigma^2); a log_std head is doubled to log variance."""
        h = run_hidden(self.hidden, self.act, h)
        s = self.scale(h)
        return self.mean(h), (2.0 * s if self.log_std else s)


class ObservationNet(nn.Module):
    """p(x | z_1): MLP + ``out`` head (logits or mean) and, for Gaussians, a log variance."""

    def __init__(self, n_in, widths, n_data, act, likelihood, learned_size=None):
        super().__init__()
        self.hidden, h_last = hidden_stack(n_in, widths)
        self.out = nn.Linear(h_last, n_data)
        self.act = act
        self.kind = likelihood["type"]
        self.variance = likelihood.get("variance")
        self.fixed_logvar = None
        if self.kind == "gaussian":
            if self.variance == "decoder":
                self.logvar = nn.Linear(h_last, n_data)
            elif self.variance == "learned":
                self.logvar = nn.Parameter(torch.zeros(learned_size or n_data))
            elif self.variance == "fixed":
                self.fixed_logvar = float(likelihood["log_var"])
            else:
                raise ValueError("unknown gaussian variance %r" % self.variance)
        elif self.kind != "bernoulli":
            raise ValueError("unknown likelihood %r" % self.kind)

    def forward(self, z):
        """Return (out, logvar): logits and None for Bernoulli, mean and log variance for Gaussian."""
        h = run_hidden(self.hidden, self.act, z)
        out = self.out(h)
        if self.kind == "bernoulli":
            return out, None
        if self.variance == "decoder":
            logvar = self.logvar(h)
        elif self.variance == "learned":
            logvar = self.logvar.expand_as(out)
        else:
            logvar = torch.full_like(out, self.fixed_logvar)
        return out, logvar

    def log_prob(self, x, z):
        """log p(x | z) summed over the data dimensions; x broadcasts against z's batch."""
        out, logvar = self(z)
        if self.kind == "bernoulli":
            return (x * out - softplus(out)).sum(-1)
        return gauss_logpdf(x, out, logvar).sum(-1)


def layer_activation(arch, spec):
    """The activation function of one stochastic layer (a per-layer override wins)."""
    return make_activation(spec.get("activation", arch.get("activation", "tanh")),
                           float(arch.get("leaky_relu_slope", 0.01)),
                           float(arch.get("elu_alpha", 1.0)))


class VariaVAE(nn.Module):
    """The vae/iwae family: L stochastic layers, bottom first, as in docs/format.md."""

    def __init__(self, arch, data_shape, learned_size=None):
        super().__init__()
        self.arch = arch
        self.data_shape = list(data_shape)
        self.n_data = int(np.prod(data_shape))
        layers = arch["layers"]
        self.n_layers = len(layers)
        log_std = arch.get("posterior_scale", "log_var") == "log_std"
        sizes = [self.n_data] + [int(s["latent"]) for s in layers]
        for l, spec in enumerate(layers, start=1):
            act = layer_activation(arch, spec)
            self.add_module("enc%d" % l, GaussianNet(sizes[l - 1], spec["encoder"], sizes[l],
                                                     act, log_std))
            if l == 1:
                dec = ObservationNet(sizes[1], spec["decoder"], self.n_data, act,
                                     arch["likelihood"], learned_size)
            else:
                dec = GaussianNet(sizes[l], spec["decoder"], sizes[l - 1], act, log_std)
            self.add_module("dec%d" % l, dec)

    def enc(self, l):
        return getattr(self, "enc%d" % l)

    def dec(self, l):
        return getattr(self, "dec%d" % l)

    def encode_mean_path(self, x):
        """[(mean_l, logvar_l)] of q(z_l | z_{l-1}), each layer fed the lower layer's mean."""
        out, h = [], x
        for l in range(1, self.n_layers + 1):
            mean, logvar = self.enc(l)(h)
            out.append((mean, logvar))
            h = mean
        return out

    def log_weights(self, x, eps):
        """Sampled path for explicit noise.

        x: [..., D]; eps: list over layers of [..., k, latent_l]. Each layer is
        conditioned on the sampled layer below. Returns a dict of [..., k] tensors
        (log_w, log_px_z, log_q, log_p) plus the first layer's (mean, logvar), which
        do not depend on the noise and give the analytic KL.
        """
        h = x.unsqueeze(-2)
        zs, log_q, first = [], 0.0, None
        for l in range(1, self.n_layers + 1):
            mean, logvar = self.enc(l)(h)
            z = mean + torch.exp(0.5 * logvar) * eps[l - 1]
            # (z - mean) / sigma is eps itself; using eps keeps log q exact.
            log_q = log_q + (-0.5 * (LOG_2PI + logvar + eps[l - 1] ** 2)).sum(-1)
            if first is None:
                first = (mean, logvar)
            zs.append(z)
            h = z
        log_p = (-0.5 * (LOG_2PI + zs[-1] ** 2)).sum(-1)
        for l in range(2, self.n_layers + 1):
            pmean, plogvar = self.dec(l)(zs[l - 1])
            log_p = log_p + gauss_logpdf(zs[l - 2], pmean, plogvar).sum(-1)
        log_px_z = self.dec1.log_prob(x.unsqueeze(-2), zs[0])
        return {"log_w": log_px_z + log_p - log_q, "log_px_z": log_px_z,
                "log_q": log_q, "log_p": log_p, "first": first}

    def estimates(self, x, eps):
        """recon, kl, elbo, iw (each [...]) and the raw log-weight terms for given noise.

        KL is analytic for one stochastic layer and the Monte Carlo estimate
        mean_i[log q - log p(z)] over the same samples otherwise (docs/format.md §4).
        """
        t = self.log_weights(x, eps)
        k = t["log_w"].shape[-1]
        recon = t["log_px_z"].mean(-1)
        if self.n_layers == 1:
            mean, logvar = t["first"]
            kl = 0.5 * (mean ** 2 + torch.exp(logvar) - logvar - 1.0).sum(-1).squeeze(-1)
        else:
            kl = (t["log_q"] - t["log_p"]).mean(-1)
        iw = torch.logsumexp(t["log_w"], -1) - math.log(k)
        return {"recon": recon, "kl": kl, "elbo": recon - kl, "iw": iw,
                "log_w": t["log_w"], "log_px_z": t["log_px_z"]}

    def decode(self, z_top):
        """Decoder output for top-layer latents, lower layers at their conditional means.

        Returns (out, mean, logvar): logits, sigmoid(logits), None for Bernoulli;
        mean, mean, log variance for Gaussian.
        """
        z = z_top
        for l in range(self.n_layers, 1, -1):
            z, _ = self.dec(l)(z)
        out, logvar = self.dec1(z)
        mean = torch.sigmoid(out) if self.dec1.kind == "bernoulli" else out
        return out, mean, logvar


# ---------------------------------------------------------------- loading

DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2}


def decode_tensor(raw, dtype, shape):
    """Little-endian bytes of one tensor -> float32 numpy array (F16/BF16 widened)."""
    if dtype == "F32":
        arr = np.frombuffer(raw, dtype="<f4")
    elif dtype == "F16":
        arr = np.frombuffer(raw, dtype="<f2").astype(np.float32)
    elif dtype == "BF16":
        # bf16 is the top half of an f32: shift the bits back into place.
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        arr = bits.view(np.float32)
    else:
        raise ValueError("unsupported dtype %r" % dtype)
    return arr.reshape(shape).copy()


def read_tensors(table, data):
    """Decode every tensor of a header table ({name: {dtype, shape, data_offsets}})."""
    out = {}
    for name, info in table.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        out[name] = decode_tensor(data[b:e], info["dtype"], info["shape"])
    return out


def read_safetensors(path):
    """Tensors of a safetensors file as float32 numpy arrays, plus the header."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    return read_tensors(header, blob[8 + n:]), header


def load(manifest_path):
    """Build a VariaVAE from a varia manifest and its weights (safetensors or raw)."""
    with open(manifest_path, "r", encoding="utf-8") as f:
        manifest = json.load(f)
    weights = manifest["weights"]
    path = os.path.join(os.path.dirname(os.path.abspath(manifest_path)), weights["file"])
    if weights["format"] == "safetensors":
        tensors, _ = read_safetensors(path)
    elif weights["format"] == "raw":
        with open(path, "rb") as f:
            tensors = read_tensors(weights["tensors"], f.read())
    else:
        raise ValueError("unknown weights format %r" % weights["format"])
    learned = tensors.get("dec1.logvar")
    model = VariaVAE(manifest["architecture"], manifest["data"]["shape"],
                     learned_size=None if learned is None else learned.shape[0])
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    model.manifest = manifest
    return model


def save(model, out_dir, **kwargs):
    """Write a model with tools/torch/export.py (kept here so callers need one import)."""
    import export  # sibling module; imported lazily to avoid a cycle
    return export.export(model, model.arch, model.data_shape, out_dir, **kwargs)
