"""Golden values for WGAN-GP's gradient penalty (Gulrajani et al. 2017, eq. 3).

Written from the paper's equation with PyTorch's own double backward
(torch.autograd.grad(..., create_graph=True)), independently of varia's
construction (the critic's input gradient as a forward graph): for a critic
D and rows x (real), f (fake), eps ~ U(0, 1) per row,

    x^ = eps x + (1 - eps) f,    GP = lambda * mean_r (|grad_x D(x^_r)|_2 - 1)^2,

and dGP/dtheta for every critic parameter theta. In float64, on fixed
float32-representable weights and inputs, written as the C header
tests/wgan_gp_golden.h that tests/test_wgan_gp.c checks to 1e-5 relative
error (so CI needs no PyTorch). Deterministic: run it again and the header
is the same bytes.

    OPENBLAS_CORETYPE=Cooperlake OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 tools/torch/wgan_gp_golden.py

Cases (B = 4 rows, lambda = 10), tensors named as varia's gan family names
them (disc.net.{entry}.weight / .bias, entry = index in the layer list):
- mlp: data [6]; dense 8 + leaky_relu(0.25), dense 5 + relu, dense 1.
- conv: data [2, 6, 5]; conv 3 (kernel 3, stride 2, padding 1) + leaky_relu
  (0.25), conv 2 (kernel 2) + relu, flatten, dense 1. The first conv's
  windows miss the input's last row, so its adjoint needs output padding.
At x^, 35-62% of each hidden layer's pre-activations are negative, so both
sides of every activation's kink are exercised.
"""
import os
import sys

import torch
import torch.nn.functional as F

B, LAMBDA, SLOPE = 4, 10.0, 0.25  # a slope float holds exactly (varia keeps it in float)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "wgan_gp_golden.h")


def f32(t):
    """float32-representable float64 values (the C side holds float inputs)."""
    return t.float().double()


def carr(name, t, ctype):
    vals = t.reshape(-1).tolist()
    fmt = "%.9ef" if ctype == "float" else "%.17e"
    body = ",\n".join("    " + ", ".join(fmt % v for v in vals[i:i + 4]) for i in range(0, len(vals), 4))
    return "static const %s %s[%d] = {\n%s};\n" % (ctype, name, len(vals), body)


def uniform(shape, gen, lo, hi):
    return f32(torch.rand(shape, generator=gen, dtype=torch.float64) * (hi - lo) + lo)


def mlp_critic(p, x):
    h = F.leaky_relu(F.linear(x, p["disc.net.0.weight"], p["disc.net.0.bias"]), SLOPE)
    h = F.relu(F.linear(h, p["disc.net.1.weight"], p["disc.net.1.bias"]))
    return F.linear(h, p["disc.net.2.weight"], p["disc.net.2.bias"])


def conv_critic(p, x):
    h = x.reshape(x.shape[0], 2, 6, 5)
    h = F.leaky_relu(F.conv2d(h, p["disc.net.0.weight"], p["disc.net.0.bias"], stride=2, padding=1), SLOPE)
    h = F.relu(F.conv2d(h, p["disc.net.1.weight"], p["disc.net.1.bias"]))
    return F.linear(h.flatten(1), p["disc.net.3.weight"], p["disc.net.3.bias"])


CASES = (
    ("mlp", 6, mlp_critic, (("disc.net.0.weight", (8, 6)), ("disc.net.0.bias", (8,)),
                            ("disc.net.1.weight", (5, 8)), ("disc.net.1.bias", (5,)),
                            ("disc.net.2.weight", (1, 5)), ("disc.net.2.bias", (1,)))),
    ("conv", 60, conv_critic, (("disc.net.0.weight", (3, 2, 3, 3)), ("disc.net.0.bias", (3,)),
                               ("disc.net.1.weight", (2, 3, 2, 2)), ("disc.net.1.bias", (2,)),
                               ("disc.net.3.weight", (1, 8)), ("disc.net.3.bias", (1,)))),
)


def penalty(critic, p, x, fake, eps):
    """The paper's penalty, by PyTorch's double backward."""
    xh = (eps[:, None] * x + (1 - eps[:, None]) * fake).requires_grad_(True)
    d = critic(p, xh)
    (g,) = torch.autograd.grad(d.sum(), xh, create_graph=True)
    return LAMBDA * ((g.norm(2, dim=1) - 1) ** 2).mean()


def case(name, D, critic, shapes, gen):
    p = {k: uniform(s, gen, -0.8, 0.8).requires_grad_(True) for k, s in shapes}
    x, fake = uniform((B, D), gen, 0, 1), uniform((B, D), gen, -1, 1)
    eps = uniform((B,), gen, 0, 1)
    gp = penalty(critic, p, x, fake, eps)
    # a bias moves only the activations' kinks: outside the double-backward
    # graph (None), its gradient is 0
    grads = torch.autograd.grad(gp, [p[k] for k, _ in shapes], allow_unused=True)
    grads = [torch.zeros_like(p[k]) if g is None else g for (k, _), g in zip(shapes, grads)]
    out = ["/* case %s */" % name, carr("wg_%s_x" % name, x, "float"), carr("wg_%s_fake" % name, fake, "float"),
           carr("wg_%s_eps" % name, eps, "float"),
           "static const double wg_%s_penalty = %.17e;\n" % (name, gp.item())]
    for i, ((k, _), g) in enumerate(zip(shapes, grads)):
        out += [carr("wg_%s_w%d" % (name, i), p[k].detach(), "float"), carr("wg_%s_g%d" % (name, i), g, "double")]
    table = ",\n".join('    {"%s", wg_%s_w%d, wg_%s_g%d, %d}' % (k, name, i, name, i, p[k].numel())
                       for i, (k, _) in enumerate(shapes))
    out.append("static const wg_tensor wg_%s_tensors[%d] = {\n%s};\n" % (name, len(shapes), table))
    print("%s: penalty %.6f, |grad| %s" % (name, gp.item(), ["%.3g" % g.norm().item() for g in grads]),
          file=sys.stderr)
    return out


def main():
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(20261201)
    out = ["/* Generated by tools/torch/wgan_gp_golden.py (PyTorch %s, float64): do not edit. */" % torch.__version__,
           "#ifndef VARIA_WGAN_GP_GOLDEN_H", "#define VARIA_WGAN_GP_GOLDEN_H", "",
           "#define WG_B %d" % B, "#define WG_LAMBDA %.1f" % LAMBDA, "#define WG_SLOPE %.1f" % SLOPE, "",
           "/* A critic tensor: its name in varia, its values, dGP/dtensor. */",
           "typedef struct wg_tensor {", "    const char *name;", "    const float *w;", "    const double *g;",
           "    int n;", "} wg_tensor;", ""]
    for name, D, critic, shapes in CASES:
        out += case(name, D, critic, shapes, gen)
    out.append("#endif")
    with open(OUT, "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote", os.path.normpath(OUT), file=sys.stderr)


if __name__ == "__main__":
    main()
