"""Known-answer values for DRAW's attention ops (tests/test_ops_attn.c).

An independent float64 PyTorch implementation of the filterbank, read and write,
written from the equations of models.md section 3 (Gregor et al. 2015) and the
conventions of docs/draw.md, not from any public implementation:

    g_X = (A + 1)/2 (g~_X + 1),  g_Y = (B + 1)/2 (g~_Y + 1)
    delta = (max(A, B) - 1)/(N - 1) * exp(log delta~)    (N = 1: divide by 1)
    mu_X^i = g_X + (i - N/2 - 0.5) delta,  i = 1..N      (1-based grid)
    F_X[i, a] = exp(-(a - mu_X^i)^2 / (2 sigma^2)) / Z,  a = 1..A  (1-based pixels)
    Z = sum_a exp(...) + 1e-30
    read  = gamma F_Y x F_X^T   (x and x^, 2 N^2 values)
    write = (1/gamma) F_Y^T w F_X
    log sigma^2, log delta~, log gamma clamped to [-30, 30]

The gradients of a fixed random weighting of the outputs (torch.autograd) w.r.t.
every input come with them. Each value is cross-checked before writing: the filters
against a softmax of torch.distributions.Normal log-densities, read and write
against torch.einsum, the adjoint identity <read(x), w> = gamma^2 <x, write(w)>.

Writes tests/draw_attn_golden.h (C arrays, so the C test needs no PyTorch).
Deterministic: fixed seeds. Command (from the repository root):

    OPENBLAS_CORETYPE=Cooperlake OMP_WAIT_POLICY=PASSIVE \
    /usr/bin/python3 tools/torch/draw_attn_golden.py [--out tests/draw_attn_golden.h]
"""
import argparse
import math
import os

import torch
from torch.distributions import Normal

torch.set_num_threads(1)
D = torch.float64
CAP, EPS = 30.0, 1e-30

# name, A (width), B (height), N, rows of the filterbank, k (rows of fb per row of x),
# seed, rows whose parameters are set by hand: {row: [g~X, g~Y, log s2, log d~, log g]}
CASES = [
    ("A7_B5_N2_k2", 7, 5, 2, 4, 2, 11, {}),
    ("A5_B9_N5_k3", 5, 9, 5, 3, 3, 12, {}),
    ("A6_B6_N1", 6, 6, 1, 3, 1, 13, {}),
    ("A12_B10_N3_edges", 12, 10, 3, 3, 1, 14,
     # the window half off the right and top edges with a narrow filter; a wide
     # stride (delta~ = e^1.2) with a small intensity; a wide filter left of the image
     {0: [1.25, -1.3, -2.0, 0.8, 0.5], 1: [0.1, 0.2, -0.5, 1.2, -1.4], 2: [-1.4, 0.0, 2.5, -0.3, 0.9]}),
    ("A4_B4_N4", 4, 4, 4, 2, 1, 15, {}),
]


def params(rows, gen, fixed):
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(rows, generator=gen, dtype=D)
    p = torch.stack([u(-1.1, 1.1), u(-1.1, 1.1), u(-1.5, 1.5), u(-1.0, 1.0), u(-1.0, 1.0)], dim=1)
    for r, v in fixed.items():
        p[r] = torch.tensor(v, dtype=D)
    return p


def scalars(p, A, B, N):
    gx = (A + 1) / 2 * (p[:, 0] + 1)
    gy = (B + 1) / 2 * (p[:, 1] + 1)
    sigma2 = torch.exp(p[:, 2].clamp(-CAP, CAP))
    delta = (max(A, B) - 1) / max(N - 1, 1) * torch.exp(p[:, 3].clamp(-CAP, CAP))
    gamma = torch.exp(p[:, 4].clamp(-CAP, CAP))
    return gx, gy, sigma2, delta, gamma


def filters(g, delta, sigma2, size, N):
    """[rows, N, size]: filter i over pixels 1..size, centred at g + (i - N/2 - 0.5) delta."""
    i = torch.arange(1, N + 1, dtype=D)
    mu = g[:, None] + (i[None, :] - N / 2 - 0.5) * delta[:, None]
    a = torch.arange(1, size + 1, dtype=D)
    K = torch.exp(-(a[None, None, :] - mu[:, :, None]) ** 2 / (2 * sigma2[:, None, None]))
    return K / (K.sum(-1, keepdim=True) + EPS), mu


def filterbank(p, A, B, N):
    gx, gy, sigma2, delta, gamma = scalars(p, A, B, N)
    FX, mux = filters(gx, delta, sigma2, A, N)
    FY, muy = filters(gy, delta, sigma2, B, N)
    return FX, FY, gamma, (mux, muy, sigma2)


def read(p, x, x2, A, B, N, k):
    FX, FY, gamma, _ = filterbank(p, A, B, N)
    xs = x.view(-1, B, A).repeat_interleave(k, dim=0)
    g1 = gamma[:, None, None] * FY @ xs @ FX.transpose(1, 2)
    g2 = gamma[:, None, None] * FY @ x2.view(-1, B, A) @ FX.transpose(1, 2)
    return torch.cat([g1.reshape(len(p), -1), g2.reshape(len(p), -1)], dim=1)


def write(p, w, A, B, N):
    FX, FY, gamma, _ = filterbank(p, A, B, N)
    c = FY.transpose(1, 2) @ w.view(-1, N, N) @ FX / gamma[:, None, None]
    return c.reshape(len(p), -1)


def cross_check(p, x, x2, w, A, B, N, k):
    """The same values by other routes; returns the worst discrepancy."""
    FX, FY, gamma, (mux, muy, sigma2) = filterbank(p, A, B, N)
    worst = 0.0
    for F, mu, size in ((FX, mux, A), (FY, muy, B)):
        a = torch.arange(1, size + 1, dtype=D)
        lp = Normal(mu[:, :, None], sigma2.sqrt()[:, None, None]).log_prob(a[None, None, :])
        soft = torch.softmax(lp, dim=-1)  # the exact normalisation, no guard
        # a filter that reaches the image (its largest kernel value above 1e-20,
        # where the guard is negligible) is the softmax; one that misses it is 0
        reach = (lp + torch.log(sigma2.sqrt() * math.sqrt(2 * math.pi))[:, None, None]).amax(-1) > math.log(1e-20)
        worst = max(worst, (soft - F)[reach].abs().max().item(), F[~reach].abs().max().item() if (~reach).any() else 0)
    xs = x.view(-1, B, A).repeat_interleave(k, dim=0)
    r1 = torch.einsum("r,rjb,rba,ria->rji", gamma, FY, xs, FX).reshape(len(p), -1)
    worst = max(worst, (r1 - read(p, x, x2, A, B, N, k)[:, : N * N]).abs().max().item())
    wr = torch.einsum("r,rjb,rji,ria->rba", 1 / gamma, FY, w.view(-1, N, N), FX).reshape(len(p), -1)
    worst = max(worst, (wr - write(p, w, A, B, N)).abs().max().item())
    # adjoint: <read(x), w> = gamma^2 <x, write(w)>, row by row
    lhs = (r1 * w).sum(1)
    rhs = gamma ** 2 * (xs.reshape(len(p), -1) * write(p, w, A, B, N)).sum(1)
    worst = max(worst, ((lhs - rhs).abs() / rhs.abs().clamp(min=1)).max().item())
    return worst


def case_values(A, B, N, rows, k, seed, fixed):
    gen = torch.Generator().manual_seed(seed)
    p = params(rows, gen, fixed)
    pw = params(rows, gen, {})
    x = torch.rand(rows // k, B * A, generator=gen, dtype=D)
    x2 = 2 * torch.rand(rows, B * A, generator=gen, dtype=D) - 1
    w = 4 * torch.rand(rows, N * N, generator=gen, dtype=D) - 2
    cr = 2 * torch.rand(rows, 2 * N * N, generator=gen, dtype=D) - 1
    cw = 2 * torch.rand(rows, B * A, generator=gen, dtype=D) - 1
    err = cross_check(p, x, x2, w, A, B, N, k)
    assert err < 1e-12, f"cross-check failed: {err}"
    v = {"p": p, "x": x, "x2": x2, "pw": pw, "w": w, "cr": cr, "cw": cw}
    FX, FY, gamma, _ = filterbank(p, A, B, N)
    v["fb"] = torch.cat([FX.reshape(rows, -1), FY.reshape(rows, -1), gamma[:, None]], dim=1)
    FXw, FYw, gw, _ = filterbank(pw, A, B, N)
    v["fbw"] = torch.cat([FXw.reshape(rows, -1), FYw.reshape(rows, -1), gw[:, None]], dim=1)
    leaves = {n: v[n].clone().requires_grad_(True) for n in ("p", "x", "x2", "pw", "w")}
    rd = read(leaves["p"], leaves["x"], leaves["x2"], A, B, N, k)
    wr = write(leaves["pw"], leaves["w"], A, B, N)
    ((rd * cr).sum() + (wr * cw).sum()).backward()
    v["read"], v["write"] = rd.detach(), wr.detach()
    for n in ("p", "x", "x2", "pw", "w"):
        v["d" + n] = leaves[n].grad
    return v, err


FIELDS = ["p", "x", "x2", "fb", "read", "cr", "dp", "dx", "dx2", "pw", "w", "fbw", "write", "cw", "dpw", "dw"]


def c_array(name, t):
    vals = [repr(float(z)) for z in t.reshape(-1).tolist()]
    lines = [", ".join(vals[i:i + 4]) for i in range(0, len(vals), 4)]
    return f"static const double {name}[{len(vals)}] = {{\n    " + ",\n    ".join(lines) + "};\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--out", default=os.path.join(root, "tests", "draw_attn_golden.h"))
    args = ap.parse_args()
    out = ["/* Generated by tools/torch/draw_attn_golden.py (float64 PyTorch, from the",
           " * equations of models.md section 3 and docs/draw.md): do not edit. Per case:",
           " * the geometry (A wide, B high, N x N), rows of the filterbank, k (rows per",
           " * row of x); inputs p, x, x2 (the read's), pw, w (the write's), cr, cw (the",
           " * weights of the outputs in the loss sum(cr * read) + sum(cw * write));",
           " * outputs fb, read, fbw, write; the loss's gradients dp, dx, dx2, dpw, dw. */",
           "#ifndef DRAW_ATTN_GOLDEN_H", "#define DRAW_ATTN_GOLDEN_H", "",
           "#include <stdint.h>", "",
           "typedef struct attn_golden {", "    const char *name;", "    int64_t A, B, N, rows, k; /* width, height, glimpse side */",
           "    const double " + ", ".join("*" + f for f in FIELDS) + ";", "} attn_golden;", ""]
    entries = []
    for ci, (name, A, B, N, rows, k, seed, fixed) in enumerate(CASES):
        v, err = case_values(A, B, N, rows, k, seed, fixed)
        FX, FY, _, _ = filterbank(v["p"], A, B, N)
        zero = int((FX.sum(-1) < 1e-12).sum() + (FY.sum(-1) < 1e-12).sum())
        print(f"{name}: cross-check {err:.1e}, filters summing to 0 (off the image) {zero} of {2 * N * rows}")
        for f in FIELDS:
            out.append(c_array(f"ag{ci}_{f}", v[f]))
        entries.append(f'    {{"{name}", {A}, {B}, {N}, {rows}, {k}, ' + ", ".join(f"ag{ci}_{f}" for f in FIELDS) + "},")
    out += ["static const attn_golden ATTN_GOLDEN[] = {"] + entries + ["};", "", "#endif", ""]
    with open(args.out, "w") as fh:
        fh.write("\n".join(out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
