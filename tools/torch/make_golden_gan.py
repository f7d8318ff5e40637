"""Golden cases of the gan family under tests/golden/gan_*/ from gan_ref.py, in
float64: an MLP generator on [0, 1] data and a DCGAN generator (transposed convs,
batch norm, tanh mapped from [-1, 1]) with a conv discriminator.

golden.json keys: n, latent, decode_z [n][L], decode_out [n][D] (E[x|z]); where the
file has a discriminator, x [n][D] and critic [n] (its logit), for the trainer; for
the linear generator, x [n][D] and log_px [n], its exact marginal log-density.

Command (from the repository root):
    OPENBLAS_CORETYPE=Cooperlake OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=1 \
    /usr/bin/python3 tools/torch/make_golden_gan.py [--out tests/golden]
"""
import argparse
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export  # noqa: E402
import gan_ref  # noqa: E402
import make_golden  # noqa: E402

N = 4
MLP = {"latent": 5, "leaky_relu_slope": 0.2,
       "generator": [{"type": "dense", "out": 16, "activation": "leaky_relu"},
                     {"type": "dense", "out": 12, "activation": "relu"},
                     {"type": "dense", "out": 20, "activation": "sigmoid"}]}
DCGAN = {"latent": 6, "leaky_relu_slope": 0.2, "output_range": [-1, 1],
         "generator": [{"type": "dense", "out": 48}, {"type": "batch_norm", "activation": "relu"},
                       {"type": "reshape", "shape": [3, 4, 4]},
                       {"type": "conv_transpose", "out": 4, "kernel": 4, "stride": 2, "padding": 1},
                       {"type": "batch_norm", "activation": "relu"},
                       {"type": "conv_transpose", "out": 1, "kernel": 3, "stride": 2, "padding": 1,
                        "output_padding": 1, "activation": "tanh"}],
         "discriminator": [{"type": "conv", "out": 3, "kernel": 4, "stride": 2, "padding": 1,
                            "activation": "leaky_relu"},
                           {"type": "conv", "out": 4, "kernel": 3, "stride": 2, "padding": 1},
                           {"type": "batch_norm", "activation": "leaky_relu"},
                           {"type": "flatten"}, {"type": "dense", "out": 1}]}
LINEAR = {"latent": 2, "observation": {"sigma2": 0.3}, "generator": [{"type": "dense", "out": 3}]}
CASES = {"gan_linear": ("linear generator 2 -> 3 with the manifest's observation variance 0.3: log p(x) "
                        "= log N(x; b, W W^T + 0.3 I) exactly (AIS's known answer)", LINEAR, [3], 43),
         "gan_mlp": ("MLP generator 5-16-12-20, sigmoid output on [0, 1] data", MLP, [20], 41),
         "gan_dcgan": ("DCGAN generator 6 -> 3x4x4 -> 4x8x8 -> 1x16x16 with batch norm, tanh on [-1, 1], "
                       "conv discriminator", DCGAN, [1, 16, 16], 42)}


def golden_values(model, rng, D):
    z = torch.from_numpy(rng.standard_normal((N, model.L)) * np.array([[1.0], [0.5], [2.0], [0.0]]))
    g = {"n": N, "latent": model.L, "decode_z": z.tolist()}
    with torch.no_grad():
        g["decode_out"] = model.decode(z).tolist()
        if "observation" in model.arch:  # the exact marginal of a linear generator
            W = model.gen.net[0].weight.double()
            b = model.gen.net[0].bias.double()
            x = torch.from_numpy(rng.normal(0.0, 1.0, (N, model.gen.net.out_size)))
            cov = W @ W.T + model.arch["observation"]["sigma2"] * torch.eye(W.shape[0], dtype=torch.float64)
            mvn = torch.distributions.MultivariateNormal(b, covariance_matrix=cov)
            g["x"], g["log_px"] = x.tolist(), mvn.log_prob(x).tolist()
        if hasattr(model, "disc"):
            x = torch.from_numpy(make_golden.make_x(rng, "fractional", N, D))
            g["x"], g["critic"] = x.tolist(), model.critic(x).tolist()
    return g


def make_case(out_root, name, spec):
    description, arch, shape, seed = spec
    rng = np.random.default_rng(seed)
    model = gan_ref.VariaGAN(arch, shape)
    make_golden.random_weights(model, rng)
    make_golden.bn_weights(model, rng)
    out_dir = os.path.join(out_root, name)
    shutil.rmtree(out_dir, ignore_errors=True)
    export.export(model, arch, shape, out_dir, family="gan",
                  provenance={"generator": "tools/torch/make_golden_gan.py", "seed": seed,
                              "description": description})
    make_golden.write_golden(os.path.join(out_dir, "golden.json"), description,
                             golden_values(model.double(), rng, int(np.prod(shape))))
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
        print("%-12s %6d bytes" % (name, size), flush=True)


if __name__ == "__main__":
    main()
