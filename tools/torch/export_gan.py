"""The gan family for the exporter (docs/format.md §7): a generator written as an
nn.Sequential (an MLP, or a DCGAN stack of ConvTranspose2d / BatchNorm2d / ReLU
ending in Tanh or Sigmoid) and, optionally, its discriminator, into the format.

    export_gan(generator, latent, data_shape, out_dir, discriminator=None,
               output_range=None, sigma2=None, prior="normal")

output_range is the range of the generator's output that maps onto the data's
[0, 1] ([-1, 1] for a Tanh generator trained on data scaled to [-1, 1]; default
[0, 1]); sigma2 the observation variance AIS and inversion use when not told
another. The layer lists come from export_net.sequential_layers, so anything the
format cannot express is refused, naming the module. Returns the manifest path.
"""
import torch
from torch import nn

import export
from export_map import ExportError
from export_net import sequential_layers


def _arrays(holder, rules):
    """The format's tensors from holder's state_dict by the rules (zeros for a
    missing bias)."""
    sd = holder.state_dict()
    out = {}
    for dst, src in rules.items():
        out[dst] = torch.zeros(src["zeros"]) if isinstance(src, dict) else sd[src].detach().float().cpu()
    return {k: v.numpy() for k, v in out.items()}


def export_gan(generator, latent, data_shape, out_dir, discriminator=None, output_range=None, sigma2=None,
               prior="normal", name="model", provenance=None):
    if not isinstance(generator, nn.Sequential):
        raise ExportError("generator: an nn.Sequential is needed (got %s)" % type(generator).__name__)
    holder = nn.Module()
    holder.generator = generator
    gen, rules, _, params = sequential_layers(generator.eval(), "generator", "gen.net", [int(latent)])
    arch = {"latent": int(latent), "prior": prior, "generator": gen}
    if discriminator is not None:
        if not isinstance(discriminator, nn.Sequential):
            raise ExportError("discriminator: an nn.Sequential is needed (got %s)" % type(discriminator).__name__)
        holder.discriminator = discriminator
        dis, drules, _, dparams = sequential_layers(discriminator.eval(), "discriminator", "disc.net",
                                                    list(data_shape))
        for key, val in dparams.items():
            if key in params and params[key] != val:
                raise ExportError("discriminator: %s %g differs from the generator's %g; the format has one per "
                                  "architecture" % (key, val, params[key]))
        params.update(dparams)
        rules.update(drules)
        arch["discriminator"] = dis
    arch.update(params)
    if output_range is not None:
        arch["output_range"] = [float(output_range[0]), float(output_range[1])]
    if sigma2 is not None:
        arch["observation"] = {"sigma2": float(sigma2)}
    return export.write_model(_arrays(holder, rules), arch, list(data_shape), out_dir, name=name, family="gan",
                              provenance=provenance or {"exporter": "tools/torch/export_gan.py"})
