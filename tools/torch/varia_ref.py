"""Independent PyTorch reference of varia's VAE/IWAE family (docs/format.md section 2).

The module tree is laid out so that ``state_dict()`` keys are exactly the tensor
names of the format (``enc1.hidden.0.weight``, ``dec1.out.bias``, ...), so a model
exports without renaming and a varia model loads back with ``load_state_dict``.

It computes, in whatever dtype the model is in (float64 for golden vectors):
  * the encoder mean path (``encode_mean_path``),
  * the sampled path for explicit noise: log w, log p(x|z_1), log q, log p(z)
    (``log_weights``), and from those recon, KL, ELBO and the IW estimate
    (``estimates``),
  * the decoder mean path from a top-layer latent (``decode``),
  * encoder_net / decoder_net layer lists (docs/format.md §2.4: dense, conv,
    conv_transpose, batch_norm in eval mode, activation, reshape, flatten), run
    with torch.nn.functional's conv2d / conv_transpose2d and an unfolded batch
    norm (the runtime folds it into the layer before: this checks the folding);
  * an optional flow posterior (``architecture.flow``, docs/format.md §2.3: planar,
    radial, IAF) on the top layer's sample: ``enc{L}.flow`` amortized heads or
    ``flow.{k}.*`` global steps, ``enc{L}.context`` and the masked MADEs of IAF;
    ``log_weights`` then also returns log_det = Σ_k log|det ∂f_k/∂z_{k−1}|.

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


# ---------------------------------------------------------------- layer-list nets
# docs/format.md section 2.4: entry i of a list is module i of an nn.Sequential,
# so its tensors are <prefix>.net.<i>.*.

def as_pair(v):
    """A manifest's integer or [h, w] pair as a tuple (h, w)."""
    return (int(v[0]), int(v[1])) if isinstance(v, list) else (int(v), int(v))


class EvalBatchNorm(nn.Module):
    """An eval-mode batch norm's four format tensors (PyTorch's num_batches_tracked
    counter is not one)."""

    def __init__(self, channels, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, v):
        """(v - mean) / sqrt(var + eps) * weight + bias over axis 1 (features or channels)."""
        shape = [1, -1] + [1] * (v.dim() - 2)
        return ((v - self.running_mean.view(shape)) / torch.sqrt(self.running_var.view(shape) + self.eps)
                * self.weight.view(shape) + self.bias.view(shape))


class LayerNet(nn.Sequential):
    """A layer list for an input of shape in_shape ([n] or [C, H, W]); its output is
    flat ([..., out_size]) in C*H*W order, whatever its last shape."""

    def __init__(self, entries, in_shape, arch):
        slope, alpha = float(arch.get("leaky_relu_slope", 0.01)), float(arch.get("elu_alpha", 1.0))
        shape = list(in_shape) if len(in_shape) == 3 else [int(np.prod(in_shape))]
        in_shape, mods, steps = list(shape), [], []
        for e in entries:
            kind = e["type"]
            act = make_activation(e.get("activation", "identity"), slope, alpha)
            if kind == "dense":
                mod = nn.Linear(int(np.prod(shape)), int(e["out"]))
                shape = [int(e["out"])]
            elif kind in ("conv", "conv_transpose"):
                k, s = as_pair(e["kernel"]), as_pair(e.get("stride", 1))
                p, op = as_pair(e.get("padding", 0)), as_pair(e.get("output_padding", 0))
                c, out = shape[0], int(e["out"])
                if kind == "conv":
                    mod = nn.Conv2d(c, out, k, s, p)
                    hw = [(shape[1 + i] + 2 * p[i] - k[i]) // s[i] + 1 for i in range(2)]
                else:
                    mod = nn.ConvTranspose2d(c, out, k, s, p, op)
                    hw = [(shape[1 + i] - 1) * s[i] - 2 * p[i] + k[i] + op[i] for i in range(2)]
                shape = [out] + hw
            elif kind == "batch_norm":
                mod = EvalBatchNorm(shape[0], float(e.get("eps", 1e-5)))
            elif kind == "reshape":
                shape, mod = [int(v) for v in e["shape"]], nn.Identity()
            elif kind == "flatten":
                shape, mod = [int(np.prod(shape))], nn.Identity()
            elif kind == "activation":
                mod = nn.Identity()
            else:
                raise ValueError("unknown layer type %r" % kind)
            mods.append(mod)
            steps.append((kind, act, list(shape)))
        super().__init__(*mods)
        self.in_shape = in_shape
        self.steps, self.out_shape, self.out_size = steps, shape, int(np.prod(shape))

    def forward(self, h):
        """h [..., in size] -> [..., out size], every batch dimension kept."""
        lead = h.shape[:-1]
        v = h.reshape(-1, *self.in_shape)
        for mod, (kind, act, shape) in zip(self, self.steps):
            if kind == "dense":
                v = nn.functional.linear(v.reshape(v.shape[0], -1), mod.weight, mod.bias)
            elif kind == "conv":
                v = nn.functional.conv2d(v, mod.weight, mod.bias, mod.stride, mod.padding)
            elif kind == "conv_transpose":
                v = nn.functional.conv_transpose2d(v, mod.weight, mod.bias, mod.stride, mod.padding,
                                                   mod.output_padding)
            elif kind == "batch_norm":
                v = mod(v)
            elif kind in ("reshape", "flatten"):
                v = v.reshape(v.shape[0], *shape)
            v = act(v)
        return v.reshape(*lead, -1)


class GaussianNet(nn.Module):
    """q(z_l | z_{l-1}) or the conditional prior p(z_{l-1} | z_l): MLP (or a layer
    list, ``net``) + mean/scale heads."""

    def __init__(self, n_in, widths, n_out, act, log_std, net=None, in_shape=None, arch=None):
        super().__init__()
        self.hidden, h_last = hidden_stack(n_in, widths)
        if net is not None:
            self.net = LayerNet(net, in_shape or [n_in], arch)
            h_last = self.net.out_size
        self.h_last = h_last
        self.mean = nn.Linear(h_last, n_out)
        self.scale = nn.Linear(h_last, n_out)
        self.act = act
        self.log_std = log_std

    def forward(self, h):
        """Return (mean, log sigma^2); a log_std head is doubled to log variance."""
        mean, logvar, _ = self.forward_hidden(h)
        return mean, logvar

    def forward_hidden(self, h):
        """(mean, log sigma^2, last hidden layer's output); the last is what a flow's
        amortized heads (``flow``, ``context``) read (the input if no hidden layer)."""
        h = self.net(h) if hasattr(self, "net") else run_hidden(self.hidden, self.act, h)
        s = self.scale(h)
        return self.mean(h), (2.0 * s if self.log_std else s), h


class ObservationNet(nn.Module):
    """p(x | z_1): MLP + ``out`` head (logits or mean) and, for Gaussians, a log variance."""

    def __init__(self, n_in, widths, n_data, act, likelihood, learned_size=None, net=None, arch=None):
        super().__init__()
        self.hidden, h_last = hidden_stack(n_in, widths)
        if net is not None:  # the list's last layer emits the observation: no "out" head
            self.net = LayerNet(net, [n_in], arch)
        else:
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
        if hasattr(self, "net"):
            h = out = self.net(z)
        else:
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



# ---------------------------------------------------------------- flow posterior
# docs/format.md section 2.3: K invertible steps applied to the top layer's sample.

def planar_u_hat(u, w):
    """û = u + (m(wᵀu) − wᵀu) w / ‖w‖², m(a) = −1 + softplus(a), so that ûᵀw ≥ −1;
    û = u where w = 0 exactly. u, w: [..., d]."""
    wu = (w * u).sum(-1, keepdim=True)
    ww = (w * w).sum(-1, keepdim=True)
    corr = (-1.0 + softplus(wu) - wu) * w / torch.where(ww > 0, ww, torch.ones_like(ww))
    return torch.where(ww > 0, u + corr, u)


def planar_step(z, u, w, b):
    """One planar step on z [..., d] with raw parameters u, w [..., d], b [..., 1]
    (broadcasting); returns (f(z), log|det ∂f/∂z| [...])."""
    uh = planar_u_hat(u, w)
    a = (w * z).sum(-1, keepdim=True) + b
    t = torch.tanh(a)
    f = z + uh * t
    det = 1.0 + (1.0 - t * t) * (uh * w).sum(-1, keepdim=True)
    return f, torch.log(torch.abs(det)).squeeze(-1)


def radial_step(z, z0, alpha_hat, beta_hat):
    """One radial step on z [..., d] with z0 [..., d] and the raw α̂, β̂ [..., 1]:
    α = softplus(α̂), β = −α + softplus(β̂); returns (f(z), log|det| [...])."""
    d = z.shape[-1]
    alpha = softplus(alpha_hat)
    beta = -alpha + softplus(beta_hat)
    diff = z - z0
    r = torch.sqrt((diff * diff).sum(-1, keepdim=True))
    h = 1.0 / (alpha + r)
    bh = beta * h
    f = z + bh * diff
    log_det = (d - 1) * torch.log(1.0 + bh) + torch.log(1.0 + bh - beta * h * h * r)
    return f, log_det.squeeze(-1)


def made_degrees(ordering, hidden, d):
    """Degrees of the MADE of one step: (variable degrees [d], [hidden degrees [H_j]]).
    Variable ordering[p] has degree 1 + p; hidden unit j has 1 + (j mod (d − 1)), or
    1 when d = 1."""
    deg_in = [0] * d
    for pos, var in enumerate(ordering):
        deg_in[var] = 1 + pos
    deg_h = [[1 + (j % (d - 1)) if d > 1 else 1 for j in range(width)] for width in hidden]
    return deg_in, deg_h


class IAFStep(nn.Module):
    """One IAF step: a MADE (in, ctx, hidden.{j}, m, s) whose masks follow `ordering`.
    The masks are non-persistent buffers (not tensors of the format) applied by
    multiplication in forward, so values under a mask never matter."""

    def __init__(self, d, hidden, context, ordering, act):
        super().__init__()
        self.act = act
        self.ordering = list(ordering)
        self.add_module("in", nn.Linear(d, hidden[0]))
        if context > 0:
            self.ctx = nn.Linear(context, hidden[0], bias=False)
        else:
            self.ctx = None
        self.hidden = nn.ModuleDict()
        for j in range(1, len(hidden)):
            self.hidden[str(j)] = nn.Linear(hidden[j - 1], hidden[j])
        self.m = nn.Linear(hidden[-1], d)
        self.s = nn.Linear(hidden[-1], d)
        deg_in, deg_h = made_degrees(self.ordering, hidden, d)
        din = torch.tensor(deg_in)
        dh = [torch.tensor(x) for x in deg_h]
        self.register_buffer("mask_in", (dh[0][:, None] >= din[None, :]).float(),
                             persistent=False)
        for j in range(1, len(hidden)):
            self.register_buffer("mask_h%d" % j, (dh[j][:, None] >= dh[j - 1][None, :]).float(),
                                 persistent=False)
        self.register_buffer("mask_out", (din[:, None] > dh[-1][None, :]).float(),
                             persistent=False)

    def made(self, z, h):
        """(m, s) of the masked MADE for z [..., d] and context h [..., C] or None."""
        lin = getattr(self, "in")
        a = nn.functional.linear(z, lin.weight * self.mask_in, lin.bias)
        if self.ctx is not None:
            a = a + nn.functional.linear(h, self.ctx.weight)
        a = self.act(a)
        for j in range(1, len(self.hidden) + 1):
            lin = self.hidden[str(j)]
            a = self.act(nn.functional.linear(a, lin.weight * getattr(self, "mask_h%d" % j),
                                              lin.bias))
        m = nn.functional.linear(a, self.m.weight * self.mask_out, self.m.bias)
        s = nn.functional.linear(a, self.s.weight * self.mask_out, self.s.bias)
        return m, s

    def forward(self, z, h=None):
        """f(z) = σ ⊙ z + (1 − σ) ⊙ m with σ = sigmoid(s); returns (f(z), Σ_i log σ_i)."""
        m, s = self.made(z, h)
        sig = torch.sigmoid(s)
        log_sig = -softplus(-s)  # log sigmoid(s), exact for large |s|
        return sig * z + (1.0 - sig) * m, log_sig.sum(-1)


class GlobalPlanar(nn.Module):
    """flow.{k}.u, .w, .b of a global planar step."""

    def __init__(self, d):
        super().__init__()
        self.u = nn.Parameter(torch.zeros(d))
        self.w = nn.Parameter(torch.zeros(d))
        self.b = nn.Parameter(torch.zeros(1))


class GlobalRadial(nn.Module):
    """flow.{k}.z0, .alpha, .beta (α̂, β̂) of a global radial step."""

    def __init__(self, d):
        super().__init__()
        self.z0 = nn.Parameter(torch.zeros(d))
        self.alpha = nn.Parameter(torch.zeros(1))
        self.beta = nn.Parameter(torch.zeros(1))


def flow_orderings(flow, d):
    """The ordering of each IAF step (0-based k): the declared one (default identity)
    for even k, reversed for odd k (1-based t even)."""
    base = [int(v) for v in flow.get("ordering", list(range(d)))]
    if sorted(base) != list(range(d)):
        raise ValueError("flow ordering %r is not a permutation of 0..%d" % (base, d - 1))
    return [base if k % 2 == 0 else base[::-1] for k in range(int(flow["steps"]))]


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
            self.add_module("enc%d" % l, GaussianNet(sizes[l - 1], spec.get("encoder", []), sizes[l],
                                                     act, log_std, spec.get("encoder_net"),
                                                     self.data_shape if l == 1 else None, arch))
            if l == 1:
                dec = ObservationNet(sizes[1], spec.get("decoder", []), self.n_data, act,
                                     arch["likelihood"], learned_size, spec.get("decoder_net"), arch)
            else:
                dec = GaussianNet(sizes[l], spec.get("decoder", []), sizes[l - 1], act, log_std,
                                  spec.get("decoder_net"), None, arch)
            self.add_module("dec%d" % l, dec)
        self.flow_spec = arch.get("flow")
        if self.flow_spec is not None:
            self.build_flow(arch, self.flow_spec, sizes[-1], layers[-1], sizes[-2])

    def build_flow(self, arch, flow, d, top_spec, top_in):
        """Create the flow's modules (docs/format.md §2.3): amortized heads
        ``enc{L}.flow``, IAF context ``enc{L}.context``, global steps ``flow.{k}``."""
        kind, steps = flow["type"], int(flow["steps"])
        top = self.enc(self.n_layers)
        h_last = top.h_last
        if kind in ("planar", "radial"):
            params = flow.get("params")
            if params == "amortized":
                per = 2 * d + 1 if kind == "planar" else d + 2
                top.flow = nn.Linear(h_last, steps * per)
            elif params == "global":
                cls = GlobalPlanar if kind == "planar" else GlobalRadial
                self.flow = nn.ModuleList(cls(d) for _ in range(steps))
            else:
                raise ValueError("flow params must be amortized or global, not %r" % params)
        elif kind == "iaf":
            hidden = [int(w) for w in flow["hidden"]]
            context = int(flow.get("context", 0))
            if context > 0:
                top.context = nn.Linear(h_last, context)
            act = make_activation(flow.get("activation", arch.get("activation", "tanh")),
                                  float(arch.get("leaky_relu_slope", 0.01)),
                                  float(arch.get("elu_alpha", 1.0)))
            self.flow = nn.ModuleList(IAFStep(d, hidden, context, order, act)
                                      for order in flow_orderings(flow, d))
        else:
            raise ValueError("unknown flow type %r" % kind)

    def flow_step(self, k, z, h_last):
        """Step k (0-based) of the flow on z [..., d]; h_last [..., H] is the top
        encoder's last hidden layer (broadcast against z). Returns (z', log|det| [...])."""
        kind, d = self.flow_spec["type"], z.shape[-1]
        top = self.enc(self.n_layers)
        if kind == "iaf":
            ctx = top.context(h_last) if hasattr(top, "context") else None
            return self.flow[k](z, ctx)
        if self.flow_spec.get("params") == "amortized":
            per = 2 * d + 1 if kind == "planar" else d + 2
            p = top.flow(h_last)[..., k * per:(k + 1) * per]
            if kind == "planar":
                return planar_step(z, p[..., :d], p[..., d:2 * d], p[..., 2 * d:])
            return radial_step(z, p[..., :d], p[..., d:d + 1], p[..., d + 1:])
        g = self.flow[k]
        if kind == "planar":
            return planar_step(z, g.u, g.w, g.b)
        return radial_step(z, g.z0, g.alpha, g.beta)

    def run_flow(self, z, h_last):
        """z_0 [..., d] -> (z_K, Σ_k log|det| [...]); the identity and 0 without a flow."""
        log_det = torch.zeros(z.shape[:-1], dtype=z.dtype)
        if self.flow_spec is None:
            return z, log_det
        for k in range(int(self.flow_spec["steps"])):
            z, ld = self.flow_step(k, z, h_last)
            log_det = log_det + ld
        return z, log_det

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
        conditioned on the sampled layer below; with a flow, the top layer's sample is
        z_K and its log q is log q_K. Returns a dict of [..., k] tensors (log_w,
        log_px_z, log_q, log_p, log_det = Σ_k log|det|, zero without a flow) plus the
        first layer's (mean, logvar), which do not depend on the noise and give the
        analytic KL.
        """
        h = x.unsqueeze(-2)
        zs, log_q, first, log_det = [], 0.0, None, None
        for l in range(1, self.n_layers + 1):
            mean, logvar, h_last = self.enc(l).forward_hidden(h)
            z = mean + torch.exp(0.5 * logvar) * eps[l - 1]
            # (z - mean) / sigma is eps itself; using eps keeps log q exact.
            log_q = log_q + (-0.5 * (LOG_2PI + logvar + eps[l - 1] ** 2)).sum(-1)
            if l == self.n_layers:
                # The flow acts on the top layer's sample: log q_K = log q_0 - Σ log|det|.
                z, log_det = self.run_flow(z, h_last)
                log_q = log_q - log_det
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
                "log_q": log_q, "log_p": log_p, "log_det": log_det, "first": first}

    def estimates(self, x, eps):
        """recon, kl, elbo, iw (each [...]) and the raw log-weight terms for given noise.

        KL is analytic for one stochastic layer without a flow and the Monte Carlo
        estimate mean_i[log q - log p(z)] over the same samples otherwise
        (docs/format.md §2.3, §4).
        """
        t = self.log_weights(x, eps)
        k = t["log_w"].shape[-1]
        recon = t["log_px_z"].mean(-1)
        if self.n_layers == 1 and self.flow_spec is None:
            mean, logvar = t["first"]
            kl = 0.5 * (mean ** 2 + torch.exp(logvar) - logvar - 1.0).sum(-1).squeeze(-1)
        else:
            kl = (t["log_q"] - t["log_p"]).mean(-1)
        iw = torch.logsumexp(t["log_w"], -1) - math.log(k)
        return {"recon": recon, "kl": kl, "elbo": recon - kl, "iw": iw,
                "log_w": t["log_w"], "log_px_z": t["log_px_z"], "log_det": t["log_det"]}

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
