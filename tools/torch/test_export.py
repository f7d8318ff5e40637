"""Tests of the exporter (export.py) on VAEs written the way tutorials write them,
and on models it must refuse.

Layouts exported, detected without a spec and checked with the varia command:
  examples_vae    the PyTorch examples VAE: fc1 -> fc21 (mean) | fc22 (log var),
                  fc3 -> fc4, F.relu in forward, decode returns sigmoid probabilities
  sequential_vae  nn.Sequential encoder (nn.Flatten, LeakyReLU(0.2)) whose last Linear
                  emits 2L values split into mean / log var; nn.Sequential decoder
                  returning logits
  two_seq_logstd  nn.Sequential trunk + fc_mu / fc_log_std heads (log sigma), tanh,
                  nn.Sequential decoder ending in nn.Sigmoid; no encode method (the
                  encoder is read from forward's (x_hat, mu, log_std))
  gauss_heads     Gaussian decoder: a trunk and two output heads (mean, log var),
                  ELU; decode returns (mean, logvar)
  fixed_var       one-output decoder taken as a Gaussian mean (--gaussian-log-var)
  spec_gaussian   a hand-written spec: a Gaussian decoder with a learned log sigma
                  (scale 2 and reshape to the format's log variance), weights stored
                  [in, out] (transpose)
  spec_iwae2      varia_ref's own two-layer IWAE through an identity spec (the
                  spec path with a conditional prior; decode only)
  flow_planar_stacked  a global planar flow (K=3) whose u, w, b are stacked [K, L] /
                  [K] parameters, sliced by the spec into flow.{k}.u/w/b
  flow_iaf_ctx    varia_ref's VAE with an IAF posterior (K=2, context 3, MADE [9, 7],
                  ordering [1, 3, 0, 2]) through an identity spec
  (both read back: names and shapes as the architecture's, varia_ref.load gives the
  same log-weights; the final check is skipped, saying why, while the varia binary
  cannot load flow models)
  conv_bn_vae     a conv VAE in nn.Sequential blocks (docs/format.md 2.4): Conv2d +
                  BatchNorm2d + ReLU, a bias-free Conv2d + BatchNorm2d + ELU, Flatten,
                  fc_mu / fc_logvar heads; decoder Linear, ReLU, Unflatten,
                  ConvTranspose2d (output padding) + BatchNorm2d + LeakyReLU(0.2),
                  ConvTranspose2d; the spec's layer lists from export_net.py, batch
                  norms in eval mode with non-trivial running statistics (folded by
                  varia at load, checked against PyTorch's own modules)
  conv_auto       ConvBNVAE again, without a spec: export_conv.py finds the encoder
                  and decoder Sequentials and the fc_mu / fc_logvar heads, and its
                  layer lists equal the hand-written spec's
  conv_auto_mlp_enc  an MLP encoder Sequential (Flatten, fused head) and a decoder
                  Sequential starting with Unflatten to [L, 1, 1], ConvTranspose2d + BatchNorm2d
  conv_auto_fused nn.Sequential conv encoder ending in a Linear of 2L (split into
                  mean / log var), decoder Sequential ending in nn.Sigmoid
                  (probabilities), no encode / decode methods, a BatchNorm2d
Refused, each with a message naming the tensor or output at fault:
  batchnorm       a BatchNorm1d the format cannot express (unused source tensor)
  wrong_latent    a spec whose latent does not fit the layers (shape)
  swapped_spec    a spec mapping a square weight without its transpose (shapes fit;
                  the final check's decode differs)
  mixed_act       ReLU encoder, tanh decoder (no single activation matches)
  flow_wrong_shape     flow.1.w sliced two rows wide (shape, naming flow.1.w)
  flow_iaf_transposed  flow.0.m.weight transposed (shape, naming it)
  flow_missing_context enc1.context.weight not mapped (missing, naming it)
  flow_bad_ordering    an IAF ordering that is not a permutation
  conv_dilated    a Conv2d with dilation 2 (export_net.py names the module)
  conv_auto_pool  a MaxPool2d in a detected conv encoder (named: encoder.2)
  conv_auto_loose a Conv2d held as an attribute, outside any nn.Sequential (named)

Usage (from the repository root, after building build/varia):
  /usr/bin/python3 tools/torch/test_export.py                  # run the tests
  /usr/bin/python3 tools/torch/test_export.py --write-fixtures  # also rewrite tests/export/
The fixtures (model, probe inputs, PyTorch's outputs) let tests/test_export.sh
check the same models without PyTorch.
"""
import json
import os
import shutil
import sys
import tempfile

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export  # noqa: E402
import export_vae  # noqa: E402
from export_map import ExportError  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "export")
SHAPE = [1, 8, 8]   # small, so the fixtures are a few kB; the code is the tutorials'
D, H, L = 64, 32, 4


# ---------------------------------------------------------------- tutorial models

class ExamplesVAE(nn.Module):
    """As in pytorch/examples vae/main.py (784-400-20 there)."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(D, H)
        self.fc21 = nn.Linear(H, L)
        self.fc22 = nn.Linear(H, L)
        self.fc3 = nn.Linear(L, H)
        self.fc4 = nn.Linear(H, D)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        return mu + torch.randn_like(std) * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, D))
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


class SequentialVAE(nn.Module):
    """nn.Sequential networks; the encoder's last Linear emits mean and log var."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Flatten(), nn.Linear(D, H), nn.LeakyReLU(0.2),
            nn.Linear(H, H), nn.LeakyReLU(0.2), nn.Linear(H, 2 * L))
        self.decoder = nn.Sequential(
            nn.Linear(L, H), nn.LeakyReLU(0.2), nn.Linear(H, H), nn.LeakyReLU(0.2),
            nn.Linear(H, D))

    def forward(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decoder(z), mu, logvar


class TwoSeqLogStd(nn.Module):
    """A trunk, two heads (mean and log sigma), a decoder ending in a sigmoid."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(D, H), nn.Tanh(), nn.Linear(H, H), nn.Tanh())
        self.fc_mu = nn.Linear(H, L)
        self.fc_log_std = nn.Linear(H, L)
        self.decoder = nn.Sequential(nn.Linear(L, H), nn.Tanh(), nn.Linear(H, D), nn.Sigmoid())

    def forward(self, x):
        h = self.encoder(x.flatten(1))
        mu, log_std = self.fc_mu(h), self.fc_log_std(h)
        z = mu + torch.randn_like(mu) * log_std.exp()
        return self.decoder(z), mu, log_std


class GaussHeads(nn.Module):
    """A Gaussian VAE for continuous data: the decoder has mean and log var heads."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(D, H), nn.ELU())
        self.mu = nn.Linear(H, L)
        self.logvar = nn.Linear(H, L)
        self.dec = nn.Sequential(nn.Linear(L, H), nn.ELU())
        self.out_mean = nn.Linear(H, D)
        self.out_logvar = nn.Linear(H, D)

    def encode(self, x):
        h = self.enc(x)
        return self.mu(h), self.logvar(h)

    def decode(self, z):
        h = self.dec(z)
        return self.out_mean(h), self.out_logvar(h)


class StoredTransposed(nn.Module):
    """Weights kept as [in, out] parameters, a Gaussian decoder with a learned log
    sigma; exported through a hand-written spec."""

    def __init__(self):
        super().__init__()
        self.w_in = nn.Parameter(torch.randn(D, H) * 0.2)
        self.b_in = nn.Parameter(torch.randn(H) * 0.1)
        self.w_mu = nn.Parameter(torch.randn(H, L) * 0.2)
        self.w_lv = nn.Parameter(torch.randn(H, L) * 0.2)
        self.w_dec = nn.Parameter(torch.randn(L, H) * 0.2)
        self.w_h = nn.Parameter(torch.randn(H, H) * 0.2)
        self.w_out = nn.Parameter(torch.randn(H, D) * 0.2)
        self.log_sigma = nn.Parameter(torch.tensor(-0.3))

    def encode(self, x):
        h = F.softplus(x @ self.w_in + self.b_in)
        return h @ self.w_mu, h @ self.w_lv

    def decode(self, z):
        h = F.softplus(F.softplus(z @ self.w_dec) @ self.w_h)
        return h @ self.w_out


def iwae2_model_and_spec():
    """varia_ref.VariaVAE with two stochastic layers and the identity spec."""
    import varia_ref
    arch = {"activation": "tanh", "likelihood": {"type": "bernoulli"},
            "layers": [{"latent": L, "encoder": [H], "decoder": [H]},
                       {"latent": 2, "encoder": [8], "decoder": [8]}]}
    torch.manual_seed(9)
    model = varia_ref.VariaVAE(arch, SHAPE)
    spec = {"family": "iwae", "data": {"shape": SHAPE}, "architecture": arch,
            "tensors": {k: k for k in model.state_dict()},
            "check": {"decode": "decode", "decode_output": "logits"}}
    return model, spec


def spec_gaussian():
    """The hand-written spec of StoredTransposed."""
    t = lambda name: {"from": name, "transpose": True}  # noqa: E731
    z = lambda n: {"zeros": [n]}  # noqa: E731
    return {
        "family": "vae", "data": {"shape": SHAPE, "kind": "continuous"},
        "architecture": {"activation": "softplus", "posterior_scale": "log_var",
                         "likelihood": {"type": "gaussian", "variance": "learned"},
                         "layers": [{"latent": L, "encoder": [H], "decoder": [H, H]}]},
        "tensors": {
            "enc1.hidden.0.weight": t("w_in"), "enc1.hidden.0.bias": "b_in",
            "enc1.mean.weight": t("w_mu"), "enc1.mean.bias": z(L),
            "enc1.scale.weight": t("w_lv"), "enc1.scale.bias": z(L),
            "dec1.hidden.0.weight": t("w_dec"), "dec1.hidden.0.bias": z(H),
            "dec1.hidden.1.weight": t("w_h"), "dec1.hidden.1.bias": z(H),
            "dec1.out.weight": t("w_out"), "dec1.out.bias": z(D),
            "dec1.logvar": {"from": "log_sigma", "reshape": [1], "scale": 2.0}},
        "check": {"decode": "decode", "decode_output": "mean", "encode": "encode",
                  "encode_output": "log_var"}}


class PlanarFlowVAE(nn.Module):
    """A VAE with a global planar flow posterior written as people write it: the K
    steps' u and w stacked in [K, L] parameters and b in [K] (the spec slices them
    into the format's flow.{k}.u/w/b)."""

    K = 3

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(D, H)
        self.fc_mu = nn.Linear(H, L)
        self.fc_logvar = nn.Linear(H, L)
        self.fc3 = nn.Linear(L, H)
        self.fc4 = nn.Linear(H, D)
        self.flow_u = nn.Parameter(torch.randn(self.K, L))
        self.flow_w = nn.Parameter(torch.randn(self.K, L))
        self.flow_b = nn.Parameter(torch.randn(self.K))

    def encode(self, x):
        h = torch.tanh(self.fc1(x))
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z):
        return self.fc4(torch.tanh(self.fc3(z)))


def planar_flow_spec():
    """The spec of PlanarFlowVAE: Linears by name, flow steps sliced out of the stacks."""
    t = {}
    for fmt, src in (("enc1.hidden.0", "fc1"), ("enc1.mean", "fc_mu"),
                     ("enc1.scale", "fc_logvar"), ("dec1.hidden.0", "fc3"), ("dec1.out", "fc4")):
        t[fmt + ".weight"], t[fmt + ".bias"] = src + ".weight", src + ".bias"
    for k in range(PlanarFlowVAE.K):
        t["flow.%d.u" % k] = {"from": "flow_u", "slice": [k, k + 1], "reshape": [L]}
        t["flow.%d.w" % k] = {"from": "flow_w", "slice": [k, k + 1], "reshape": [L]}
        t["flow.%d.b" % k] = {"from": "flow_b", "slice": [k, k + 1]}
    return {"family": "vae", "data": {"shape": SHAPE},
            "architecture": {"activation": "tanh", "likelihood": {"type": "bernoulli"},
                             "layers": [{"latent": L, "encoder": [H], "decoder": [H]}],
                             "flow": {"type": "planar", "steps": PlanarFlowVAE.K,
                                      "params": "global"}},
            "tensors": t,
            "check": {"decode": "decode", "decode_output": "logits", "encode": "encode",
                      "encode_output": "log_var"}}


def iaf_model_and_spec():
    """varia_ref.VariaVAE with a two-layer IAF posterior (context 3, hidden [9, 7],
    ordering [1, 3, 0, 2]) and the identity spec."""
    import varia_ref
    arch = {"activation": "tanh", "likelihood": {"type": "bernoulli"},
            "layers": [{"latent": L, "encoder": [H], "decoder": [H]}],
            "flow": {"type": "iaf", "steps": 2, "hidden": [9, 7], "context": 3,
                     "ordering": [1, 3, 0, 2]}}
    torch.manual_seed(11)
    model = varia_ref.VariaVAE(arch, SHAPE)
    spec = {"family": "vae", "data": {"shape": SHAPE}, "architecture": arch,
            "tensors": {k: k for k in model.state_dict()},
            "check": {"decode": "decode", "decode_output": "logits",
                      "encode": "encode_top", "encode_output": "log_var"}}
    model.encode_top = lambda x: model.encode_mean_path(x)[-1]
    return model, spec


def flow_round_trip(name, model, spec, tmp):
    """Export a flow model (final check run, or skipped if varia cannot load flows
    yet), then read the written weights back: the same names, shapes and values as
    the spec maps, and varia_ref.load gives the same log-weights."""
    import numpy as np
    import varia_ref
    out = os.path.join(tmp, name)
    try:
        path, used, res = export.export_model(model, out, spec=spec)
    except ExportError as e:
        report(False, name + " exports", str(e))
        return
    how = res["skipped"] if res.get("skipped") else \
        "checked with varia: decode %.2g, encode %.2g" % (res["decode"], res["encode"])
    report(True, name + " exports", how)
    tensors, _ = varia_ref.read_safetensors(path[:-len(".json")] + ".safetensors")
    shapes = export_vae.expected_shapes(spec["architecture"], SHAPE)
    report(sorted(tensors) == sorted(shapes) and
           all(list(tensors[k].shape) == list(shapes[k]) for k in tensors),
           name + ": written names and shapes are the architecture's (%d tensors, %d flow)"
           % (len(tensors), sum(1 for k in tensors if "flow" in k or "context" in k)))
    back = varia_ref.load(path).double()
    ref = varia_ref.VariaVAE(spec["architecture"], SHAPE).double()
    src = {k: torch.from_numpy(np.asarray(v)) for k, v in tensors.items()}
    ref.load_state_dict(src)
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(2, D, generator=gen, dtype=torch.float64)
    eps = [torch.randn(2, 5, L, generator=gen, dtype=torch.float64)]
    with torch.no_grad():
        a, b = back.log_weights(x, eps), ref.log_weights(x, eps)
    report(bool(torch.equal(a["log_w"], b["log_w"])) and float(a["log_det"].abs().max()) > 0,
           name + ": varia_ref.load reads the flow back (log_w equal, log_det non-zero)")
    return tensors


# ---------------------------------------------------------------- models to refuse

class BatchNormVAE(SequentialVAE):
    """A BatchNorm1d in the encoder: varia's vae has no such layer."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(D, H), nn.BatchNorm1d(H), nn.ReLU(), nn.Linear(H, 2 * L))


class MixedActVAE(SequentialVAE):
    """ReLU encoder, tanh decoder: one activation per layer in the format."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, 2 * L))
        self.decoder = nn.Sequential(nn.Linear(L, H), nn.Tanh(), nn.Linear(H, D))


class ConvBNVAE(nn.Module):
    """A conv VAE as people write it: nn.Sequential blocks with batch norms."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 6, 3, stride=2, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
            nn.Conv2d(6, 8, (3, 2), stride=(2, 1), padding=(1, 0), bias=False), nn.BatchNorm2d(8),
            nn.ELU(), nn.Flatten())
        self.fc_mu = nn.Linear(8 * 2 * 3, L)
        self.fc_logvar = nn.Linear(8 * 2 * 3, L)
        self.decoder = nn.Sequential(
            nn.Linear(L, 8 * 2 * 2), nn.ReLU(), nn.Unflatten(1, (8, 2, 2)),
            nn.ConvTranspose2d(8, 6, 3, stride=2, padding=1, output_padding=1), nn.BatchNorm2d(6),
            nn.LeakyReLU(0.2), nn.ConvTranspose2d(6, 1, 3, stride=2, padding=1, output_padding=1))

    def encode(self, x):
        h = self.encoder(x)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z):
        return self.decoder(z)


class ConvSeqVAE(nn.Module):
    """Everything in two Sequentials, as many tutorials do: the encoder's last Linear
    emits mean and log variance together, the decoder returns probabilities."""

    def __init__(self, pool=False):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(),
            nn.MaxPool2d(1) if pool else nn.Conv2d(4, 8, 3, stride=2, padding=1),
            nn.BatchNorm2d(4 if pool else 8), nn.Tanh(), nn.Flatten(),
            nn.Linear((4 * 4 * 4) if pool else (8 * 2 * 2), 2 * L))
        self.decoder = nn.Sequential(
            nn.Linear(L, 8 * 2 * 2), nn.ReLU(), nn.Unflatten(1, (8, 2, 2)),
            nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(4, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid())

    def forward(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return self.decoder(mu), mu, logvar


class MLPConvVAE(nn.Module):
    """An MLP encoder (a Sequential from the image) and a transposed-conv decoder."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(D, H), nn.Tanh(), nn.Linear(H, 2 * L))
        self.decoder = nn.Sequential(
            nn.Unflatten(1, (L, 1, 1)), nn.ConvTranspose2d(L, 4, 4, stride=2),
            nn.BatchNorm2d(4), nn.ReLU(), nn.ConvTranspose2d(4, 1, 4, stride=2, padding=1))

    def encode(self, x):
        return self.encoder(x).chunk(2, dim=-1)

    def decode(self, z):
        return self.decoder(z)


class LooseConvVAE(nn.Module):
    """A conv held as an attribute and called in forward: not a layer list."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 2, 3, stride=2, padding=1)
        self.fc = nn.Linear(2 * 4 * 4, 2 * L)
        self.decoder = nn.Sequential(nn.Linear(L, D), nn.Unflatten(1, (1, 8, 8)))


def with_running_stats(model):
    """model in eval mode, its batch norms given non-trivial statistics."""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
                mod.weight.uniform_(0.5, 1.5)
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.3, 2.0)
    return model.eval()


def conv_bn_model_and_spec(seed=13):
    """ConvBNVAE in eval mode with random running statistics, and its spec: the
    layer lists and their tensors from export_net.sequential_layers."""
    import export_net
    model = seeded(ConvBNVAE, seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.3, 2.0)
    model.eval()
    enc, t_enc, i_enc, p_enc = export_net.sequential_layers(model.encoder, "encoder", "enc1.net", SHAPE)
    dec, t_dec, i_dec, p_dec = export_net.sequential_layers(model.decoder, "decoder", "dec1.net", [L])
    tensors = dict(t_enc, **t_dec)
    for fmt, src in (("enc1.mean", "fc_mu"), ("enc1.scale", "fc_logvar")):
        tensors[fmt + ".weight"], tensors[fmt + ".bias"] = src + ".weight", src + ".bias"
    arch = dict({"activation": "tanh", "likelihood": {"type": "bernoulli"},
                 "layers": [{"latent": L, "encoder_net": enc, "decoder_net": dec}]}, **p_enc, **p_dec)
    spec = {"family": "vae", "data": {"shape": SHAPE}, "architecture": arch, "tensors": tensors,
            "ignore": i_enc + i_dec,
            "check": {"decode": "decode", "decode_output": "logits", "encode": "encode",
                      "encode_output": "log_var", "input": "shaped"}}
    return model, spec


def seeded(cls, seed):
    """An instance of cls with deterministic weights and random-looking biases."""
    torch.manual_seed(seed)
    m = cls()
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("bias"):
                p.uniform_(-0.5, 0.5)
    return m


# ---------------------------------------------------------------- fixtures

def write_fixture(model, spec, manifest, out_dir):
    """Copy the exported model into out_dir with the probes' inputs (probe.amat) and
    PyTorch's outputs (expected.json), for tests/test_export.sh."""
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    src = os.path.dirname(manifest)
    for f in os.listdir(src):
        shutil.copy(os.path.join(src, f), out_dir)
    z, x = export_vae.probe_inputs(spec)
    dec = export_vae.torch_decode(model, spec, z)
    enc = export_vae.torch_encode(model, spec, x)
    export.export_check.write_amat(os.path.join(out_dir, "probe.amat"), x.tolist())
    params = "logits" in dec or "logvar" in dec
    expected = {"generator": "tools/torch/test_export.py --write-fixtures",
                "decode_args": ["--json"] + (["--params"] if params else []),
                "decode": [dict({"z": "%s" % export.export_check.latent_arg(z[i].tolist())},
                                **{k: [float(v) for v in dec[k][i]] for k in dec})
                           for i in range(len(z))],
                "encode": [] if enc is None else
                [{"input": "probe.amat:%d" % i, "mean": [float(v) for v in enc[0][i]],
                  "logvar": [float(v) for v in enc[1][i]]} for i in range(len(x))]}
    with open(os.path.join(out_dir, "expected.json"), "w", encoding="utf-8") as f:
        f.write(dump_lines(expected))


def dump_lines(obj):
    """JSON with one line per list entry of the top-level lists (diff-friendly)."""
    parts = []
    for key, val in obj.items():
        if isinstance(val, list) and val and isinstance(val[0], dict):
            body = ",\n  ".join(json.dumps(v) for v in val)
            parts.append("%s: [\n  %s\n ]" % (json.dumps(key), body))
        else:
            parts.append("%s: %s" % (json.dumps(key), json.dumps(val)))
    return "{\n " + ",\n ".join(parts) + "\n}\n"


# ---------------------------------------------------------------- the tests

RESULTS = []


def report(ok, name, detail=""):
    """Print one TAP-style line and remember the outcome."""
    RESULTS.append(ok)
    print("%s %d - %s%s" % ("ok" if ok else "not ok", len(RESULTS), name,
                            (": " + detail) if detail else ""))


def expect_export(name, model, tmp, fixtures, **kw):
    """Export must succeed and pass the final check."""
    out = os.path.join(tmp, name)
    try:
        path, spec, res = export.export_model(model, out, **kw)
    except ExportError as e:
        report(False, name + " exports and checks", str(e))
        return
    arch = spec["architecture"]
    if res.get("skipped"):
        report(True, name + " exports (final check skipped)", res["skipped"])
        return spec
    report(True, name + " exports and checks",
           "activation %s, %s, decode %s; max rel diff decode %.2g, encode %s"
           % (arch["activation"], arch.get("posterior_scale"), spec["check"]["decode_output"],
              res["decode"], "-" if res["encode"] is None else "%.2g" % res["encode"]))
    if fixtures:
        write_fixture(model, spec, path, os.path.join(FIXTURES, name))
    return spec


def expect_refusal(name, model, tmp, must_name, **kw):
    """Export must be refused with a message containing `must_name`."""
    try:
        export.export_model(model, os.path.join(tmp, name), **kw)
    except ExportError as e:
        report(must_name in str(e), name + " is refused naming " + must_name, str(e))
        return
    report(False, name + " is refused", "it was exported")


def command_line(tmp):
    """The command line: a detected export (exit 0) and a refusal (exit 1, naming
    the tensor), both on classes of this file."""
    import subprocess
    cli = [sys.executable, os.path.join(ROOT, "tools", "torch", "export.py")]
    me = os.path.abspath(__file__)
    ok = subprocess.run(cli + ["--model", me + ":ExamplesVAE", "--data-shape", "1,8,8",
                               "--out", os.path.join(tmp, "cli_ok"),
                               "--write-spec", os.path.join(tmp, "spec.json")],
                        capture_output=True, text=True)
    report(ok.returncode == 0 and "checked with varia" in ok.stdout
           and os.path.isfile(os.path.join(tmp, "spec.json")),
           "export.py --model test_export.py:ExamplesVAE exits 0", ok.stdout.strip()
           or ok.stderr.strip())
    again = subprocess.run(cli + ["--model", me + ":ExamplesVAE", "--spec",
                                  os.path.join(tmp, "spec.json"), "--out",
                                  os.path.join(tmp, "cli_spec")], capture_output=True, text=True)
    report(again.returncode == 0, "... and the spec it wrote exports it again",
           again.stderr.strip())
    bad = subprocess.run(cli + ["--model", me + ":BatchNormVAE", "--data-shape", "1,8,8",
                                "--out", os.path.join(tmp, "cli_bad")],
                         capture_output=True, text=True)
    report(bad.returncode == 1 and "encoder.1.weight" in bad.stderr
           and "BatchNorm1d" in bad.stderr,
           "export.py --model test_export.py:BatchNormVAE exits 1 naming encoder.1.weight",
           bad.stderr.strip())


def dcgan_generator(tmp, fixtures):
    """A DCGAN generator (no bias before its batch norms, Tanh onto [-1, 1]) and a
    conv discriminator through export_gan; varia's decode against PyTorch's
    eval-mode output; --write-fixtures keeps it as tests/export/dcgan_generator."""
    import export_gan
    torch.manual_seed(7)
    g = nn.Sequential(nn.Linear(8, 32 * 4 * 4), nn.BatchNorm1d(32 * 4 * 4), nn.ReLU(), nn.Unflatten(1, (32, 4, 4)),
                      nn.ConvTranspose2d(32, 16, 4, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                      nn.ConvTranspose2d(16, 1, 4, 2, 1), nn.Tanh())
    d = nn.Sequential(nn.Conv2d(1, 8, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(8 * 8 * 8, 1))
    with torch.no_grad():  # batch norms whose running statistics are not the defaults
        for m in g:
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    g.eval()
    out = os.path.join(FIXTURES if fixtures else tmp, "dcgan_generator")
    os.makedirs(out, exist_ok=True)
    manifest = export_gan.export_gan(g, 8, [1, 16, 16], out, discriminator=d, output_range=[-1, 1], sigma2=0.02,
                                     provenance={"generator": "tools/torch/test_export.py --write-fixtures"})
    zs = torch.tensor([[0.3, -1.2, 0.5, 0.0, 2.0, -0.4, 0.9, -0.7], [0.0] * 8,
                       [-1.0, 0.5, 1.5, -0.2, 0.1, 0.8, -1.3, 0.6]])
    with torch.no_grad():
        x = (g(zs).reshape(3, -1) + 1) / 2  # output_range [-1, 1] onto [0, 1]
    probes = [{"z": "z:" + ",".join("%.9g" % v for v in z.tolist()), "mean": xi.tolist()} for z, xi in zip(zs, x)]
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"generator": "tools/torch/test_export.py --write-fixtures (export_gan)", "decode_args": ["--json"],
                   "decode": probes, "encode": []}, f, indent=1)
    import subprocess
    import export_check
    varia, worst = export_check.find_varia(), 0.0
    for p in probes:
        got = subprocess.run([varia, "decode", manifest, p["z"], "--json"], capture_output=True, text=True)
        mean = json.loads(got.stdout)["mean"] if got.returncode == 0 else []
        worst = max(worst, max((abs(a - b) for a, b in zip(mean, p["mean"])), default=float("inf"))
                    if len(mean) == len(p["mean"]) else float("inf"))
    report(worst < 1e-5, "dcgan_generator: varia decodes the exported DCGAN as PyTorch does (max error %.2g)" % worst)
    try:
        export_gan.export_gan(nn.Sequential(nn.Linear(8, 4), nn.MaxPool1d(2)), 8, [2], os.path.join(tmp, "pool"))
        report(False, "a generator with a MaxPool1d is refused", "it was exported")
    except ExportError as e:
        report("generator.1 (MaxPool1d)" in str(e), "a generator with a MaxPool1d is refused naming it", str(e))


def main():
    fixtures = "--write-fixtures" in sys.argv[1:]
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        s = expect_export("examples_vae", seeded(ExamplesVAE, 1), tmp, fixtures,
                          data_shape=SHAPE)
        report(s is not None and s["architecture"]["activation"] == "relu"
               and s["check"]["decode_output"] == "probs",
               "examples_vae: relu found by probing, decode returns probabilities")
        s = expect_export("sequential_vae", seeded(SequentialVAE, 2), tmp, fixtures,
                          data_shape=SHAPE)
        report(s is not None and s["architecture"].get("leaky_relu_slope") == 0.2
               and s["tensors"]["enc1.scale.weight"] == {"from": "encoder.5.weight",
                                                         "chunk": [1, 2]},
               "sequential_vae: fused head split, leaky_relu slope 0.2")
        s = expect_export("two_seq_logstd", seeded(TwoSeqLogStd, 3), tmp, fixtures,
                          data_shape=SHAPE)
        report(s is not None and s["architecture"]["posterior_scale"] == "log_std"
               and s["check"].get("encode") == "forward",
               "two_seq_logstd: log_std from the head's name, encoder read from forward")
        s = expect_export("gauss_heads", seeded(GaussHeads, 7), tmp, fixtures,
                          data_shape=SHAPE)
        report(s is not None and s["architecture"]["likelihood"]["variance"] == "decoder"
               and s["tensors"]["dec1.logvar.weight"] == "out_logvar.weight",
               "gauss_heads: Gaussian decoder heads, elu")
        s = expect_export("fixed_var", seeded(SequentialVAE, 8), tmp, False,
                          data_shape=SHAPE, gaussian_log_var=-1.0)
        report(s is not None and s["architecture"]["likelihood"].get("log_var") == -1.0,
               "fixed_var: Gaussian with fixed log variance -1")
        expect_export("spec_gaussian", seeded(StoredTransposed, 4), tmp, fixtures,
                      spec=spec_gaussian())
        model, spec = iwae2_model_and_spec()
        expect_export("spec_iwae2", model, tmp, False, spec=spec)

        expect_refusal("batchnorm", seeded(BatchNormVAE, 5), tmp, "encoder.1.weight",
                       data_shape=SHAPE)
        spec = export_vae.detect(seeded(SequentialVAE, 2), SHAPE, activation="leaky_relu")[0]
        spec["architecture"]["layers"][0]["latent"] = 2 * L
        expect_refusal("wrong_latent", seeded(SequentialVAE, 2), tmp, "dec1.hidden.0.weight",
                       spec=spec)
        swapped = spec_gaussian()
        swapped["tensors"]["dec1.hidden.1.weight"] = "w_h"
        expect_refusal("swapped_spec", seeded(StoredTransposed, 4), tmp,
                       "decode of probe 0: mean differs", spec=swapped)
        expect_refusal("mixed_act", seeded(MixedActVAE, 6), tmp, "no activation",
                       data_shape=SHAPE)

        # Flow posteriors (docs/format.md 2.3), through specs.
        planar = seeded(PlanarFlowVAE, 12)
        got = flow_round_trip("flow_planar_stacked", planar, planar_flow_spec(), tmp)
        report(got is not None and all(
            (got["flow.%d.u" % k] == planar.flow_u[k].detach().numpy()).all() and
            (got["flow.%d.b" % k] == planar.flow_b[k:k + 1].detach().numpy()).all()
            for k in range(PlanarFlowVAE.K)),
            "flow_planar_stacked: flow.{k}.u/b are the k-th rows of the stacks")
        model, spec = iaf_model_and_spec()
        flow_round_trip("flow_iaf_ctx", model, spec, tmp)
        bad = planar_flow_spec()
        bad["tensors"]["flow.1.w"] = {"from": "flow_w", "slice": [1, 3]}
        expect_refusal("flow_wrong_shape", seeded(PlanarFlowVAE, 12), tmp, "flow.1.w: shape [2, 4]",
                       spec=bad)
        model, spec = iaf_model_and_spec()
        spec["tensors"]["flow.0.m.weight"] = {"from": "flow.0.m.weight", "transpose": True}
        expect_refusal("flow_iaf_transposed", model, tmp, "flow.0.m.weight: shape [7, 4]",
                       spec=spec)
        model, spec = iaf_model_and_spec()
        spec["tensors"].pop("enc1.context.weight")
        spec["ignore"] = ["enc1.context.weight"]
        expect_refusal("flow_missing_context", model, tmp, "enc1.context.weight", spec=spec)
        model, spec = iaf_model_and_spec()
        spec["architecture"]["flow"]["ordering"] = [0, 1, 1, 2]
        expect_refusal("flow_bad_ordering", model, tmp, "architecture.flow.ordering", spec=spec)
        # Conv layer lists with batch norm (docs/format.md 2.4), through export_net.
        model, spec = conv_bn_model_and_spec()
        s = expect_export("conv_bn_vae", model, tmp, fixtures, spec=spec)
        report(s is not None and s["tensors"]["enc1.net.3.bias"] == {"zeros": [8]}
               and "encoder.1.num_batches_tracked" in s["ignore"]
               and s["architecture"].get("leaky_relu_slope") == 0.2,
               "conv_bn_vae: a bias-free conv gets zero biases, num_batches_tracked ignored, "
               "LeakyReLU's slope in the architecture")
        import export_net
        dilated = nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2))
        try:
            export_net.sequential_layers(dilated, "encoder", "enc1.net", SHAPE)
            report(False, "conv_dilated is refused", "it was read")
        except ExportError as e:
            report("encoder.0 (Conv2d)" in str(e), "conv_dilated is refused naming encoder.0 (Conv2d)",
                   str(e))
        # The same conv VAEs without a spec (export_conv.py).
        model, hand = conv_bn_model_and_spec()
        s = expect_export("conv_auto", model, tmp, False, data_shape=SHAPE)
        report(s is not None and s["architecture"]["layers"] == hand["architecture"]["layers"]
               and s["tensors"] == hand["tensors"] and sorted(s["ignore"]) == sorted(hand["ignore"]),
               "conv_auto: the detected layer lists and tensor rules are the hand-written spec's")
        model = with_running_stats(seeded(ConvSeqVAE, 14))
        s = expect_export("conv_auto_fused", model, tmp, False, data_shape=SHAPE)
        report(s is not None and s["check"]["decode_output"] == "probs"
               and s["tensors"]["enc1.mean.weight"] == {"from": "encoder.6.weight", "chunk": [0, 2]}
               and [e["type"] for e in s["architecture"]["layers"][0]["decoder_net"]][-1]
               == "conv_transpose",
               "conv_auto_fused: the fused head split in two, the Sigmoid left out (probabilities)")
        s = expect_export("conv_auto_mlp_enc", with_running_stats(seeded(MLPConvVAE, 17)), tmp, False,
                          data_shape=SHAPE)
        report(s is not None and s["architecture"]["layers"][0]["decoder_net"][0]
               == {"type": "reshape", "shape": [L, 1, 1]},
               "conv_auto_mlp_enc: an MLP encoder Sequential beside a conv decoder (Unflatten first)")
        expect_refusal("conv_auto_pool", with_running_stats(seeded(lambda: ConvSeqVAE(True), 15)),
                       tmp, "encoder.2 (MaxPool2d)", data_shape=SHAPE)
        expect_refusal("conv_auto_loose", seeded(LooseConvVAE, 16), tmp, "conv1 (Conv2d)",
                       data_shape=SHAPE)
        dcgan_generator(tmp, fixtures)
        command_line(tmp)
    failed = RESULTS.count(False)
    print("# passed %d failed %d" % (len(RESULTS) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
