"""The vae/iwae family in the exporter: the tensors its architecture needs, detection
of the layouts people write (a spec built from the module tree), and the final
check's probes (decode and encode, in PyTorch and with the varia command).

Detected layouts (one stochastic layer, MLP encoder and decoder; conv VAEs written
as nn.Sequential blocks are detected by export_conv.py):
  * separate heads after the encoder's hidden layers, e.g. the PyTorch examples VAE
    (fc1 -> fc21 | fc22, fc3 -> fc4) or fc_mu / fc_logvar after an nn.Sequential;
  * one fused head emitting 2L values, split as mean = first half, scale = second
    half (`mu, logvar = h.chunk(2, dim=-1)`), e.g. an nn.Sequential encoder;
  * a head named *std* or *sigma* emits log sigma ("posterior_scale": "log_std"),
    otherwise log sigma^2 (override with posterior_scale=);
  * Bernoulli output (the decoder returns logits or, through a sigmoid,
    probabilities: told apart by probing) or a Gaussian decoder with two output
    heads (mean, log variance);
  * the activation is read off by probing: the decode (and encode) of the mapped
    weights in varia_ref.py is compared with the user's for each candidate
    activation (functional calls like F.relu leave no module to read).
The chains are found by shape: of all readings of the nn.Linear layers as encoder ->
heads -> decoder, the one using the most layers, then closest to registration
order, wins (so layers may be attributes or nn.Sequential, in any nesting).
"""
import numpy as np

from export_check import compare, latent_arg, run_varia, write_amat
from export_map import ExportError

ACTIVATIONS = ["relu", "tanh", "leaky_relu", "elu", "softplus", "sigmoid", "identity"]
PROBE_SEED = 12345
PROBE_N = 3


FLOW_TYPES = ("planar", "radial", "iaf")


def check_flow(arch):
    """Refuse (ExportError) an ``architecture.flow`` object that docs/format.md §2.3
    does not allow, naming the key; nothing happens without a flow."""
    flow = arch.get("flow")
    if flow is None:
        return
    if not isinstance(flow, dict):
        raise ExportError("architecture.flow: must be an object")
    kind = flow.get("type")
    if kind not in FLOW_TYPES:
        raise ExportError("architecture.flow.type: %r is not one of %s" % (kind, FLOW_TYPES))
    steps = flow.get("steps")
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= 64:
        raise ExportError("architecture.flow.steps: %r is not an integer in 1..64" % (steps,))
    allowed = {"type", "steps"}
    if kind in ("planar", "radial"):
        allowed |= {"params"}
        if flow.get("params") not in ("amortized", "global"):
            raise ExportError("architecture.flow.params: %r is not \"amortized\" or "
                              "\"global\" (required for %s)" % (flow.get("params"), kind))
    else:
        allowed |= {"hidden", "context", "ordering", "activation"}
        hidden = flow.get("hidden")
        if not isinstance(hidden, list) or not 1 <= len(hidden) <= 4 or \
                not all(isinstance(h, int) and not isinstance(h, bool) and h > 0
                        for h in hidden):
            raise ExportError("architecture.flow.hidden: %r is not 1-4 positive integers"
                              % (hidden,))
        context = flow.get("context", 0)
        if not isinstance(context, int) or isinstance(context, bool) or context < 0:
            raise ExportError("architecture.flow.context: %r is not an integer >= 0"
                              % (context,))
        d = int(arch["layers"][-1]["latent"])
        order = flow.get("ordering", list(range(d)))
        if not isinstance(order, list) or sorted(order) != list(range(d)):
            raise ExportError("architecture.flow.ordering: %r is not a permutation of "
                              "0..%d (the top latent size is %d)" % (order, d - 1, d))
        if "activation" in flow and flow["activation"] not in ACTIVATIONS:
            raise ExportError("architecture.flow.activation: %r is not one of %s"
                              % (flow["activation"], ACTIVATIONS))
    extra = sorted(set(flow) - allowed)
    if extra:
        raise ExportError("architecture.flow.%s: not a key of a %s flow" % (extra[0], kind))


def expected_shapes(arch, data_shape):
    """{format tensor name: allowed shape(s)} for a vae/iwae architecture, from
    varia_ref.VariaVAE (whose state_dict names are the format's); with a flow
    (docs/format.md §2.3) its tensors too, after the flow object is checked."""
    import varia_ref
    check_flow(arch)
    ref = varia_ref.VariaVAE(arch, data_shape)
    shapes = {k: list(v.shape) for k, v in ref.state_dict().items()}
    if "dec1.logvar" in shapes:  # a learned variance is one value or one per dimension
        shapes["dec1.logvar"] = [[1], shapes["dec1.logvar"]]
    return shapes


# ---------------------------------------------------------------- detection

def linear_table(model):
    """[(name, in_features, out_features, has_bias)] of every nn.Linear, in order."""
    from torch import nn
    return [(n, m.in_features, m.out_features, m.bias is not None)
            for n, m in model.named_modules() if isinstance(m, nn.Linear)]


def is_scale_name(name):
    """Whether a head's name says it emits a scale (log variance, log std)."""
    low = name.lower()
    return any(w in low for w in ("var", "std", "sigma", "scale"))


def names_log_std(name):
    """Whether a scale head's name says log sigma rather than log sigma^2."""
    low = name.lower()
    return ("std" in low or "sigma" in low) and "var" not in low


class Layout:
    """One reading of the model's Linears: encoder hidden layers, heads, decoder."""

    def __init__(self, enc_hidden, heads, dec_hidden, outs):
        self.enc_hidden, self.dec_hidden = list(enc_hidden), list(dec_hidden)
        self.fused = heads[0] if len(heads) == 1 else None
        self.mean, self.scale = (heads if len(heads) == 2 else (None, None))
        if self.mean and is_scale_name(self.mean[0]) and not is_scale_name(self.scale[0]):
            self.mean, self.scale = self.scale, self.mean
        self.latent = heads[0][2] // 2 if self.fused else heads[0][2]
        self.out, self.out_logvar = outs[0], (outs[1] if len(outs) == 2 else None)
        if self.out_logvar and is_scale_name(self.out[0]) and \
                not is_scale_name(self.out_logvar[0]):
            self.out, self.out_logvar = self.out_logvar, self.out

    def order(self):
        """The Linears in the order the layout reads them."""
        heads = [self.fused] if self.fused else [self.mean, self.scale]
        outs = [self.out] + ([self.out_logvar] if self.out_logvar else [])
        return self.enc_hidden + heads + self.dec_hidden + outs


MAX_READINGS = 20000


def decoder_readings(free, width, n_data, path, budget):
    """Yield (decoder hidden layers, output heads) walks from `width` to the data's
    D values over the unused Linears `free`: one output (Bernoulli) or two
    (Gaussian mean and log variance)."""
    budget[0] -= 1
    if budget[0] < 0:
        return
    cands = [l for l in free if l[1] == width]
    outs = [l for l in cands if l[2] == n_data]
    if len(outs) >= 2:
        yield path, outs[:2]
    for o in outs:
        yield path, [o]
    for c in cands:
        yield from decoder_readings([l for l in free if l is not c], c[2], n_data,
                                    path + [c], budget)


def readings(free, width, n_data, latent, path, budget):
    """Yield every Layout whose encoder walks from `width` over the unused Linears
    `free` to mean/scale heads (two of the same size, or one of 2L split in two),
    followed by a decoder from L to the data."""
    budget[0] -= 1
    if budget[0] < 0:
        return
    cands = [l for l in free if l[1] == width]
    heads = [[a, b] for i, a in enumerate(cands) for b in cands[i + 1:]
             if a[2] == b[2] and latent in (None, a[2])]
    heads += [[c] for c in cands if c[2] % 2 == 0 and latent in (None, c[2] // 2)]
    for h in heads:
        size = h[0][2] if len(h) == 2 else h[0][2] // 2
        rest = [l for l in free if l not in h]
        for dec, outs in decoder_readings(rest, size, n_data, [], budget):
            yield Layout(path, h, dec, outs)
    for c in cands:
        yield from readings([l for l in free if l is not c], c[2], n_data, latent,
                            path + [c], budget)


def inversions(seq, index):
    """How many pairs of `seq` are out of registration order."""
    pos = [index[l[0]] for l in seq]
    return sum(1 for i in range(len(pos)) for j in range(i + 1, len(pos)) if pos[i] > pos[j])


def best_reading(table, n_data, latent):
    """The Layout that uses the most Linears, then follows registration order best
    (the encoder's layers before its heads before the decoder's)."""
    index = {l[0]: i for i, l in enumerate(table)}
    best, best_key = None, None
    for lay in readings(table, n_data, n_data, latent, [], [MAX_READINGS]):
        used = lay.order()
        key = (len(table) - len(used), inversions(used, index))
        if best_key is None or key < best_key:
            best, best_key = lay, key
    if best is None:
        raise ExportError("no reading of the model's nn.Linear layers as encoder -> mean/"
                          "scale heads -> decoder -> %d outputs (write a spec)" % n_data)
    return best


def linear_rules(prefix, lin, part=None):
    """Rules for one format Linear (prefix.weight, prefix.bias) from a source Linear,
    optionally one part of two (a fused head)."""
    name, _, out, has_bias = lin
    extra = {} if part is None else {"chunk": [part, 2]}
    rules = {prefix + ".weight": dict({"from": name + ".weight"}, **extra)}
    if has_bias:
        rules[prefix + ".bias"] = dict({"from": name + ".bias"}, **extra)
    else:
        rules[prefix + ".bias"] = {"zeros": [out // 2 if part is not None else out]}
    return {k: (v["from"] if set(v) == {"from"} else v) for k, v in rules.items()}


def layout_tensors(lay):
    """The spec's "tensors" object for a detected layout."""
    t = {}
    for i, lin in enumerate(lay.enc_hidden):
        t.update(linear_rules("enc1.hidden.%d" % i, lin))
    if lay.fused:
        t.update(linear_rules("enc1.mean", lay.fused, 0))
        t.update(linear_rules("enc1.scale", lay.fused, 1))
    else:
        t.update(linear_rules("enc1.mean", lay.mean))
        t.update(linear_rules("enc1.scale", lay.scale))
    for i, lin in enumerate(lay.dec_hidden):
        t.update(linear_rules("dec1.hidden.%d" % i, lin))
    t.update(linear_rules("dec1.out", lay.out))
    if lay.out_logvar:
        t.update(linear_rules("dec1.logvar", lay.out_logvar))
    return t


def module_hints(model):
    """Activation names in the order their modules appear (a hint for probing), with
    the leaky_relu slope and elu alpha if such modules are found."""
    from torch import nn
    kinds = {nn.Tanh: "tanh", nn.ReLU: "relu", nn.LeakyReLU: "leaky_relu", nn.ELU: "elu",
             nn.Softplus: "softplus", nn.Sigmoid: "sigmoid"}
    names, params = [], {}
    for m in model.modules():
        for cls, name in kinds.items():
            if type(m) is cls and name not in names:
                names.append(name)
                if cls is nn.LeakyReLU:
                    params["leaky_relu_slope"] = float(m.negative_slope)
                if cls is nn.ELU:
                    params["elu_alpha"] = float(m.alpha)
    return names, params


def parent_sequential(model, linear_name):
    """The name of the nn.Sequential whose first Linear is `linear_name`, or None."""
    from torch import nn
    if "." not in linear_name:
        return None
    parent = linear_name.rsplit(".", 1)[0]
    mod = model.get_submodule(parent)
    if not isinstance(mod, nn.Sequential):
        return None
    firsts = [n for n, m in mod.named_children() if isinstance(m, nn.Linear)]
    return parent if firsts and parent + "." + firsts[0] == linear_name else None


def encode_entry(model, lay, n_data, data_shape):
    """How to call the user's encoder: its `encode` method, the nn.Sequential ending in
    a fused head, or `forward` returning exactly two [N, L] tensors; None if none."""
    import torch
    if callable(getattr(model, "encode", None)):
        return {"encode": "encode"}
    first = lay.enc_hidden[0][0] if lay.enc_hidden else (lay.fused or lay.mean)[0]
    seq = parent_sequential(model, first)
    if lay.fused and seq and lay.fused[0].startswith(seq + "."):
        return {"encode": seq}
    x = torch.rand(2, n_data)
    for shape_kind, xin in (("flat", x), ("shaped", x.reshape([2] + list(data_shape)))):
        try:
            with torch.no_grad():
                out = model(xin)
        except Exception:  # noqa: BLE001 - a forward that wants another input shape
            continue
        if isinstance(out, (tuple, list)):
            idx = [i for i, o in enumerate(out)
                   if torch.is_tensor(o) and list(o.shape) == [2, lay.latent]]
            if len(idx) == 2:
                return {"encode": "forward", "encode_outputs": idx, "input": shape_kind}
    return None


def decode_entry(model, lay):
    """How to call the user's decoder: its `decode` method or the decoder Sequential."""
    if callable(getattr(model, "decode", None)):
        return "decode"
    first = lay.dec_hidden[0][0] if lay.dec_hidden else lay.out[0]
    seq = parent_sequential(model, first)
    if seq:
        return seq
    raise ExportError("cannot tell how to run the decoder (no decode method, no "
                      "nn.Sequential starting at %s): write a spec with check.decode" % first)


def detect(model, data_shape, latent=None, activation=None, posterior_scale=None,
           gaussian_log_var=None):
    """A complete spec for a one-layer VAE written the usual ways (see the module
    docstring); with gaussian_log_var, a one-output decoder is a Gaussian mean of
    that fixed log variance rather than Bernoulli logits or probabilities. Returns
    (spec, activations to probe). Raises ExportError when the layout is not
    recognised. A model with convolutions is read by export_conv.py (its activations
    are modules, so nothing is left to probe)."""
    import export_conv
    if export_conv.has_conv(model):
        return export_conv.detect_conv(model, data_shape, latent=latent,
                                       posterior_scale=posterior_scale,
                                       gaussian_log_var=gaussian_log_var), []
    n_data = int(np.prod(data_shape))
    table = linear_table(model)
    if not any(l[1] == n_data for l in table):
        raise ExportError("no nn.Linear takes the data's %d values (data shape %s)"
                          % (n_data, list(data_shape)))
    lay = best_reading(table, n_data, latent)
    if posterior_scale is None:
        scale_name = lay.scale[0] if lay.scale else ""
        posterior_scale = "log_std" if names_log_std(scale_name) else "log_var"
    likelihood = {"type": "bernoulli"}
    if lay.out_logvar:
        likelihood = {"type": "gaussian", "variance": "decoder"}
    elif gaussian_log_var is not None:
        likelihood = {"type": "gaussian", "variance": "fixed", "log_var": gaussian_log_var}
    arch = {"activation": activation or "tanh", "posterior_scale": posterior_scale,
            "likelihood": likelihood,
            "layers": [{"latent": lay.latent, "encoder": [l[2] for l in lay.enc_hidden],
                        "decoder": [l[2] for l in lay.dec_hidden]}]}
    check = {"decode": decode_entry(model, lay),
             "decode_output": "mean_logvar" if lay.out_logvar else
             "mean" if gaussian_log_var is not None else "logits",
             "encode_output": posterior_scale}
    check.update(encode_entry(model, lay, n_data, data_shape) or {})
    spec = {"family": "vae", "data": {"shape": [int(s) for s in data_shape]},
            "architecture": arch, "tensors": layout_tensors(lay), "check": check}
    hints, params = module_hints(model)
    arch.update(params)
    return spec, ([activation] if activation else
                  hints + [a for a in ACTIVATIONS if a not in hints])


# ---------------------------------------------------------------- PyTorch side

def resolve(model, path):
    """The callable at attribute path `path` of the model ("forward" is the model)."""
    if path in ("forward", ""):
        return model
    obj = model
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def model_input(spec, x):
    """x [N, D] as the user's encoder wants it: flat, or shaped like the data."""
    if spec["check"].get("input", "flat") == "shaped":
        return x.reshape([x.shape[0]] + list(spec["data"]["shape"]))
    return x


def torch_decode(model, spec, z):
    """The user's decoder on latents z [N, L]: {"logits"|"mean"|"logvar": [N, D]}."""
    import torch
    check = spec["check"]
    with torch.no_grad():
        out = resolve(model, check["decode"])(z)
    kind = check.get("decode_output", "logits")
    if kind == "mean_logvar":
        return {"mean": out[0].reshape(len(z), -1).double().numpy(),
                "logvar": out[1].reshape(len(z), -1).double().numpy()}
    if isinstance(out, (tuple, list)):
        out = out[0]
    flat = out.reshape(len(z), -1).double().numpy()
    return {{"logits": "logits", "probs": "mean", "mean": "mean"}[kind]: flat}


def torch_encode(model, spec, x):
    """The user's encoder on x [N, D]: (mean, log sigma^2), each [N, L], or None."""
    import torch
    check = spec["check"]
    if "encode" not in check:
        return None
    with torch.no_grad():
        out = resolve(model, check["encode"])(model_input(spec, x))
    if isinstance(out, (tuple, list)):
        idx = check.get("encode_outputs", [0, 1])
        mean, scale = out[idx[0]], out[idx[1]]
    else:
        mean, scale = out.chunk(2, dim=-1)
    mean, scale = mean.double().numpy(), scale.double().numpy()
    return mean, (2.0 * scale if check.get("encode_output") == "log_std" else scale)


def probe_inputs(spec):
    """The probe latents z [N, L] and inputs x [N, D] in [0, 1], float32, seeded."""
    import torch
    gen = torch.Generator().manual_seed(PROBE_SEED)
    top = int(spec["architecture"]["layers"][-1]["latent"])
    n_data = int(np.prod(spec["data"]["shape"]))
    z = torch.randn(PROBE_N, top, generator=gen)
    x = torch.rand(PROBE_N, n_data, generator=gen)
    return z, x


# ---------------------------------------------------------------- probing

def ref_outputs(arch, data_shape, arrays, z, x):
    """varia_ref's decode {logits|mean|logvar} and encode (mean, logvar) of the mapped
    weights; None if the weights do not fit the architecture."""
    import torch
    import varia_ref
    learned = arrays.get("dec1.logvar")
    ref = varia_ref.VariaVAE(arch, data_shape,
                             learned_size=None if learned is None or learned.ndim != 1
                             else learned.shape[0])
    try:
        ref.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()}, strict=True)
    except RuntimeError:
        return None
    with torch.no_grad():
        out, mean, logvar = ref.decode(z)
        enc = ref.encode_mean_path(x)[-1]
    dec = {"logits": out.double().numpy(), "mean": mean.double().numpy()}
    if logvar is not None:
        dec["logvar"] = logvar.double().numpy()
    return dec, (enc[0].double().numpy(), enc[1].double().numpy())


def matches(got, want, rtol=1e-4):
    """Whether two arrays agree to rtol (max-norm relative)."""
    try:
        compare("probe", got, want, rtol)
        return True
    except ExportError:
        return False


def settle_by_probing(model, spec, arrays, candidates):
    """Choose the activation and decode_output under which varia_ref's outputs of the
    mapped weights match the user's model; updates `spec`. Refuses if none does."""
    z, x = probe_inputs(spec)
    arch, check = spec["architecture"], spec["check"]
    kinds = [check["decode_output"]] if check.get("decode_output") in ("mean_logvar", "mean") \
        else ["logits", "probs"]
    user_enc = torch_encode(model, spec, x)
    for act in candidates:
        arch["activation"] = act
        ref = ref_outputs(arch, spec["data"]["shape"], arrays, z, x)
        if ref is None:
            return
        dec, enc = ref
        if user_enc is not None and not (matches(enc[0], user_enc[0]) and
                                         matches(enc[1], user_enc[1])):
            continue
        for kind in kinds:
            check["decode_output"] = kind
            user = torch_decode(model, spec, z)
            if all(matches(dec[key], user[key]) for key in user):
                return
    raise ExportError("no activation (%s) makes the exported decoder%s match the model's: "
                      "the model computes something this family cannot express (a "
                      "different activation per network, an extra operation in forward?)"
                      % (", ".join(candidates),
                         " and encoder" if user_enc is not None else ""))


# ---------------------------------------------------------------- final check

def final_check(model, spec, manifest, varia, rtol, workdir):
    """Decode (and encode, if the spec says how) the probes with the varia command and
    with the user's model; refuse on a difference above rtol. Returns
    {"decode": max relative error, "encode": ... or None, "n": probes}.

    Flow posteriors change neither decode nor encode (q_0's mean and log variance),
    so the same probes serve; but if this varia cannot load flow models yet (it
    refuses the flow object or a flow tensor), the check is skipped and the result
    says why in "skipped" (decode and encode None)."""
    if spec["architecture"].get("flow") is not None:
        reason = flow_unsupported(varia, manifest)
        if reason:
            return {"decode": None, "encode": None, "n": 0, "skipped": reason}
    z, x = probe_inputs(spec)
    want = torch_decode(model, spec, z)
    worst = {"decode": 0.0, "encode": None, "n": len(z)}
    for i in range(len(z)):
        params = "logits" in want or "logvar" in want
        got = run_varia(varia, ["decode", manifest, latent_arg(z[i].tolist()), "--json"]
                        + (["--params"] if params else []))
        for key in want:
            err = compare("decode of probe %d: %s" % (i, key), got[key], want[key][i], rtol)
            worst["decode"] = max(worst["decode"], err)
    enc = torch_encode(model, spec, x)
    if enc is None:
        return worst
    data = workdir + "/probe.amat"
    write_amat(data, x.tolist())
    worst["encode"] = 0.0
    for i in range(len(x)):
        got = run_varia(varia, ["encode", manifest, "%s:%d" % (data, i)])
        for key, w in (("mean", enc[0][i]), ("logvar", enc[1][i])):
            err = compare("encode of probe %d: %s" % (i, key), got[key], w, rtol)
            worst["encode"] = max(worst["encode"], err)
    return worst


FLOW_WORDS = ("flow", "context")


def flow_unsupported(varia, manifest):
    """None if `varia info` loads the flow model; otherwise why not, when the refusal
    is about the flow (a runtime that predates flows: an unexpected flow.* or
    enc{L}.flow/context tensor, or the flow key). Any other refusal is an
    ExportError, as for models without a flow."""
    import subprocess
    proc = subprocess.run([varia, "info", manifest], capture_output=True, text=True)
    if proc.returncode == 0:
        return None
    msg = (proc.stderr.strip() or proc.stdout.strip())
    if any(w in msg for w in FLOW_WORDS):
        return ("this varia (%s) cannot load flow models yet, so the final check was "
                "skipped (it said: %s)" % (varia, msg))
    raise ExportError("varia refused the exported model (exit %d): %s"
                      % (proc.returncode, msg))
