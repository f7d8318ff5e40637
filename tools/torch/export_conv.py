"""Detection of conv VAEs written with nn.Sequential blocks (docs/format.md §2.4).

A model containing nn.Conv2d or nn.ConvTranspose2d is read as:
  * an encoder: the nn.Sequential that takes one example in the data's shape (a dry
    run on zeros decides), the one with a conv if several do;
  * its heads: two nn.Linear outside it reading its flattened output (the one named
    *std*/*sigma* emits log sigma, *var*/*scale* the other head, else registration
    order: mean first), or, with no such pair, the encoder's own last nn.Linear
    emitting 2L values, split as mean = first half (`h.chunk(2, dim=-1)`);
  * a decoder: the nn.Sequential whose first module is an nn.Linear of L inputs (or
    an nn.Unflatten of L values) and whose output has the data's shape; a trailing
    nn.Sigmoid means it returns probabilities, and is left out of the list (the
    format's Bernoulli decoder emits logits).
Each list is read by export_net.sequential_layers, which refuses what the format
cannot express, naming the module. The check calls the model's encode / decode
methods when it has them, else the Sequentials themselves.
"""
import numpy as np

from export_map import ExportError


def has_conv(mod):
    """Whether `mod` holds an nn.Conv2d or nn.ConvTranspose2d."""
    from torch import nn
    return any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in mod.modules())


def dry_run(seq, shape):
    """The output shape of one example of `shape` through `seq` (eval mode), or None
    if `seq` cannot take it."""
    import torch
    try:
        with torch.no_grad():
            return list(seq(torch.zeros([2] + list(shape))).shape[1:])
    except Exception:  # noqa: BLE001 - a module that wants another input
        return None


def latent_input(seq):
    """The values the decoder candidate `seq` reads, by its first module, or None."""
    from torch import nn
    first = seq[0] if len(seq) else None
    if isinstance(first, nn.Linear):
        return first.in_features
    if isinstance(first, nn.Unflatten) and first.dim == 1:
        return int(np.prod(first.unflattened_size))
    return None


def find_encoder(seqs, data_shape):
    """(name, Sequential, output shape) of the encoder: the Sequential taking the
    data's shape (not returning it), the outermost; with several, the one with a conv
    (a conv decoder may sit beside an MLP encoder)."""
    found = [(n, s, dry_run(s, data_shape)) for n, s in seqs]
    found = [f for f in found if f[2] is not None and list(f[2]) != list(data_shape)]
    # the outermost only: a block nested in the encoder takes the data too
    found = [f for f in found if not any(f[0].startswith(g[0] + ".") for g in found)]
    if len(found) > 1:
        found = [f for f in found if has_conv(f[1])]
    if len(found) != 1:
        raise ExportError("%s nn.Sequential takes the data's shape %s (%s): write "
                          "a spec" % ("no" if not found else "more than one", list(data_shape),
                                      ", ".join(f[0] for f in found) or "none found"))
    return found[0]


def find_heads(model, enc_name, enc, n_feat):
    """(mean, scale) nn.Linear names reading the encoder's n_feat values from outside
    it, or (None, None) for a fused head: the encoder's last module."""
    from torch import nn
    heads = [(n, m) for n, m in model.named_modules()
             if isinstance(m, nn.Linear) and m.in_features == n_feat
             and not n.startswith(enc_name + ".")]
    if len(heads) == 2 and heads[0][1].out_features == heads[1][1].out_features:
        scale_words = ("std", "sigma", "var", "scale")
        if any(w in heads[0][0].lower() for w in scale_words) and \
                not any(w in heads[1][0].lower() for w in scale_words):
            heads.reverse()
        return heads[0], heads[1]
    last = enc[len(enc) - 1]
    if not heads and isinstance(last, nn.Linear) and last.out_features % 2 == 0:
        return None, None
    raise ExportError("cannot find the posterior heads: %d nn.Linear read the encoder %s's %d "
                      "values (want two of one width, or none and a last Linear of 2L in %s): "
                      "write a spec" % (len(heads), enc_name, n_feat, enc_name))


def find_decoder(seqs, enc_name, latent, data_shape):
    """(name, Sequential, returns probabilities) of the decoder."""
    from torch import nn
    for name, seq in seqs:
        if name == enc_name or latent_input(seq) != latent:
            continue
        if dry_run(seq, [latent]) == list(data_shape):
            return name, seq, isinstance(seq[len(seq) - 1], nn.Sigmoid)
    raise ExportError("no nn.Sequential reads the %d latent values (a first nn.Linear or "
                      "nn.Unflatten) and returns the data's shape %s: write a spec"
                      % (latent, list(data_shape)))


def head_rules(prefix, name, lin, part):
    """Tensor rules for a head (format prefix) from Linear `lin` at `name`, or one
    half of it (part 0 or 1) for a fused head."""
    extra = {} if part is None else {"chunk": [part, 2]}
    out = lin.out_features // (1 if part is None else 2)
    rules = {prefix + ".weight": dict({"from": name + ".weight"}, **extra),
             prefix + ".bias": dict({"from": name + ".bias"}, **extra) if lin.bias is not None
             else {"zeros": [out]}}
    return {k: (v["from"] if set(v) == {"from"} else v) for k, v in rules.items()}


def detect_conv(model, data_shape, latent=None, posterior_scale=None, gaussian_log_var=None):
    """A complete spec for a conv VAE written as above; refuses, naming what it did
    not find or the module the format cannot express."""
    import export_net
    from torch import nn
    model.eval()
    seqs = [(n, m) for n, m in model.named_modules() if n and isinstance(m, nn.Sequential)]
    for n, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and \
                not any(n.startswith(s + ".") for s, _ in seqs):
            raise ExportError("%s (%s) is not inside an nn.Sequential: only layer lists written "
                              "as nn.Sequential are detected (write a spec)" % (n, type(m).__name__))
    enc_name, enc, enc_out = find_encoder(seqs, data_shape)
    mean, scale = find_heads(model, enc_name, enc, int(np.prod(enc_out)))
    fused = mean is None
    enc_list = enc[:len(enc) - 1] if fused else enc
    L = enc[len(enc) - 1].out_features // 2 if fused else mean[1].out_features
    if latent is not None and latent != L:
        raise ExportError("the heads emit %d latent values, --latent says %d" % (L, latent))
    dec_name, dec, probs = find_decoder(seqs, enc_name, L, data_shape)
    dec_list = dec[:len(dec) - 1] if probs else dec
    e, t_e, i_e, p_e = export_net.sequential_layers(enc_list, enc_name, "enc1.net", data_shape)
    d, t_d, i_d, p_d = export_net.sequential_layers(dec_list, dec_name, "dec1.net", [L])
    for key in set(p_e) & set(p_d):
        if p_e[key] != p_d[key]:
            raise ExportError("%s differs between %s and %s; the format has one per architecture"
                              % (key, enc_name, dec_name))
    tensors = dict(t_e, **t_d)
    if fused:
        last = "%s.%d" % (enc_name, len(enc) - 1)
        tensors.update(head_rules("enc1.mean", last, enc[len(enc) - 1], 0))
        tensors.update(head_rules("enc1.scale", last, enc[len(enc) - 1], 1))
    else:
        tensors.update(head_rules("enc1.mean", mean[0], mean[1], None))
        tensors.update(head_rules("enc1.scale", scale[0], scale[1], None))
    if posterior_scale is None:
        name = "" if fused else scale[0].lower()
        posterior_scale = "log_std" if ("std" in name or "sigma" in name) else "log_var"
    likelihood = {"type": "bernoulli"}
    if gaussian_log_var is not None:
        likelihood = {"type": "gaussian", "variance": "fixed", "log_var": gaussian_log_var}
    arch = dict({"activation": "identity", "posterior_scale": posterior_scale,
                 "likelihood": likelihood,
                 "layers": [{"latent": L, "encoder_net": e, "decoder_net": d}]}, **p_e, **p_d)
    check = {"decode": "decode" if callable(getattr(model, "decode", None)) else dec_name,
             "decode_output": "mean" if gaussian_log_var is not None else
             "probs" if probs else "logits",
             "encode_output": posterior_scale, "input": "shaped"}
    if callable(getattr(model, "encode", None)):
        check["encode"] = "encode"
    elif fused:
        check["encode"] = enc_name
    return {"family": "vae", "data": {"shape": [int(s) for s in data_shape]}, "architecture": arch,
            "tensors": tensors, "ignore": i_e + i_d, "check": check}
