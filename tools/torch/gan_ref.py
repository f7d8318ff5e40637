"""The gan family in PyTorch (docs/format.md section 7): `VariaGAN`, an nn.Module
whose state_dict() keys are the format's names, gen.net.{i}.* (the generator's
layer list, varia_ref.LayerNet) and disc.net.{i}.* (the optional discriminator).
decode(z) = (G(z) - lo) / (hi - lo) for the manifest's output_range [lo, hi]."""
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import varia_ref  # noqa: E402


class VariaGAN(nn.Module):
    def __init__(self, arch, shape):
        super().__init__()
        self.arch, self.L = arch, int(arch["latent"])
        self.gen = nn.Module()
        self.gen.net = varia_ref.LayerNet(arch["generator"], [self.L], arch)
        if "discriminator" in arch:
            self.disc = nn.Module()
            self.disc.net = varia_ref.LayerNet(arch["discriminator"], list(shape), arch)
        self.lo, self.hi = [float(v) for v in arch.get("output_range", [0.0, 1.0])]

    def decode(self, z):
        """E[x|z] in the data's range [0, 1]: [rows, D]."""
        return (self.gen.net(z) - self.lo) / (self.hi - self.lo)

    def critic(self, x):
        """The discriminator's logit per row: [rows]."""
        return self.disc.net(x).reshape(-1)
