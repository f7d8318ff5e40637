"""Layer lists (docs/format.md §2.4) from the nn.Sequential a model is written with.

``sequential_layers(seq, src, dst, in_shape)`` reads a PyTorch ``nn.Sequential`` of
``nn.Conv2d``, ``nn.ConvTranspose2d``, ``nn.Linear``, ``nn.BatchNorm1d/2d`` (eval
mode, running statistics), activation modules, ``nn.Flatten``, ``nn.Unflatten``,
``nn.Dropout`` and ``nn.Identity``, and returns what an export spec needs for it:
the list's entries (entry i is module i, so the format's names dst.i.* match the
source's src.i.*), the tensor rules (a layer without a bias gets zeros), the source
tensors to ignore (BatchNorm's num_batches_tracked counter) and the architecture
parameters its activations need (leaky_relu_slope, elu_alpha). Anything the format
cannot express (groups, dilation, a padding mode other than zeros, a batch norm
without running statistics, an unknown module) is refused, naming the module.
"""
from export_map import ExportError

ACTIVATIONS = {"ReLU": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "ELU": "elu",
               "LeakyReLU": "leaky_relu", "Softplus": "softplus"}


def conv_entry(name, mod, transposed):
    """A conv / conv_transpose entry for nn.Conv2d / nn.ConvTranspose2d `mod`."""
    if mod.groups != 1 or tuple(mod.dilation) != (1, 1):
        raise ExportError("%s (%s): groups and dilation other than 1 are not in the format"
                          % (name, type(mod).__name__))
    if mod.padding_mode != "zeros" or isinstance(mod.padding, str):
        raise ExportError("%s (%s): padding %r / padding_mode %r: only explicit zero padding "
                          "is in the format" % (name, type(mod).__name__, mod.padding,
                                                mod.padding_mode))
    e = {"type": "conv_transpose" if transposed else "conv", "out": mod.out_channels,
         "kernel": list(mod.kernel_size), "stride": list(mod.stride), "padding": list(mod.padding)}
    if transposed:
        e["output_padding"] = list(mod.output_padding)
    return e


def activation_entry(name, mod, params):
    """An activation entry; its parameter (slope, alpha) goes to params, which must
    agree across the whole model (the format has one per architecture)."""
    kind = ACTIVATIONS[type(mod).__name__]
    key, val = {"leaky_relu": ("leaky_relu_slope", getattr(mod, "negative_slope", None)),
                "elu": ("elu_alpha", getattr(mod, "alpha", None))}.get(kind, (None, None))
    if kind == "softplus" and float(mod.beta) != 1.0:
        raise ExportError("%s (Softplus): beta %g; the format's softplus has beta 1" % (name, mod.beta))
    if key is not None:
        if key in params and params[key] != float(val):
            raise ExportError("%s (%s): %s %g differs from another module's %g; the format has "
                              "one per architecture" % (name, type(mod).__name__, key, val, params[key]))
        params[key] = float(val)
    return {"type": "activation", "activation": kind}


def output_shapes(seq, in_shape):
    """The shape of one example after each module (a dry run on zeros, eval mode)."""
    import torch
    x, shapes = torch.zeros([1] + list(in_shape)), []
    with torch.no_grad():
        for mod in seq:
            x = mod(x)
            shapes.append(list(x.shape[1:]))
    return shapes


def sequential_layers(seq, src, dst, in_shape):
    """(entries, tensors, ignore, params) for nn.Sequential `seq` held at source
    prefix `src` ("encoder"), written as format prefix `dst` ("enc1.net"), reading
    examples of shape in_shape (e.g. [1, 28, 28], or [latent])."""
    from torch import nn
    entries, tensors, ignore, params = [], {}, [], {}
    shapes = output_shapes(seq, in_shape)
    for i, mod in enumerate(seq):
        name, s, d = "%s.%d" % (src, i), "%s.%d." % (src, i), "%s.%d." % (dst, i)
        if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if isinstance(mod, nn.Linear):
                entries.append({"type": "dense", "out": mod.out_features})
                n_out = mod.out_features
            else:
                entries.append(conv_entry(name, mod, isinstance(mod, nn.ConvTranspose2d)))
                n_out = mod.out_channels
            tensors[d + "weight"] = s + "weight"
            tensors[d + "bias"] = s + "bias" if mod.bias is not None else {"zeros": [n_out]}
        elif isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if not mod.affine or not mod.track_running_stats:
                raise ExportError("%s (%s): only a batch norm with affine parameters and running "
                                  "statistics folds into the layer before it" % (name, type(mod).__name__))
            entries.append({"type": "batch_norm", "eps": float(mod.eps)})
            for part in ("weight", "bias", "running_mean", "running_var"):
                tensors[d + part] = s + part
            ignore.append(s + "num_batches_tracked")
        elif type(mod).__name__ in ACTIVATIONS:
            entries.append(activation_entry(name, mod, params))
        elif isinstance(mod, nn.Flatten):
            if mod.start_dim != 1 or mod.end_dim != -1:
                raise ExportError("%s (Flatten): only start_dim 1, end_dim -1" % name)
            entries.append({"type": "flatten"})
        elif isinstance(mod, (nn.Unflatten, nn.Identity, nn.Dropout)):
            if isinstance(mod, nn.Unflatten) and mod.dim != 1:
                raise ExportError("%s (Unflatten): only dim 1 (the example's values)" % name)
            entries.append({"type": "reshape", "shape": shapes[i]})  # Dropout: eval mode
        else:
            raise ExportError("%s (%s): not a layer the format's layer lists have (docs/format.md "
                              "2.4)" % (name, type(mod).__name__))
    return entries, tensors, ignore, params
