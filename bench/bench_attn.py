"""PyTorch's timing of DRAW's attention at the shapes bench_attn.c uses (A = B = 28,
read 2 x 2 of x and x^, write 5 x 5, ROWS rows), float32, one thread: the filterbank
by broadcasting, read and write as batched matrix products (the strongest plain
PyTorch form: torch.bmm, x and x^ stacked into one call), forward alone under
no_grad, and forward + backward through autograd. Medians over repeats of the
thread's CPU time (time.thread_time), as bench_attn.c: the machine is shared.

    OPENBLAS_CORETYPE=Cooperlake OMP_WAIT_POLICY=PASSIVE \
    /usr/bin/python3 bench/bench_attn.py [ROWS [REPEATS]]
"""
import sys
import time

import torch

torch.set_num_threads(1)
A = B = 28


def filterbank(p, N):
    gx = (A + 1) / 2 * (p[:, 0] + 1)
    gy = (B + 1) / 2 * (p[:, 1] + 1)
    s2 = torch.exp(p[:, 2].clamp(-30, 30))
    delta = (max(A, B) - 1) / max(N - 1, 1) * torch.exp(p[:, 3].clamp(-30, 30))
    gamma = torch.exp(p[:, 4].clamp(-30, 30))
    off = torch.arange(1, N + 1, dtype=p.dtype) - N / 2 - 0.5
    a = torch.arange(1, A + 1, dtype=p.dtype)
    b = torch.arange(1, B + 1, dtype=p.dtype)
    mux = gx[:, None] + off * delta[:, None]
    muy = gy[:, None] + off * delta[:, None]
    fx = torch.exp(-(a - mux[:, :, None]) ** 2 / (2 * s2[:, None, None]))
    fy = torch.exp(-(b - muy[:, :, None]) ** 2 / (2 * s2[:, None, None]))
    fx = fx / (fx.sum(-1, keepdim=True) + 1e-30)
    fy = fy / (fy.sum(-1, keepdim=True) + 1e-30)
    return fx, fy, gamma


def read(p, x, xh):
    fx, fy, gamma = filterbank(p, 2)
    imgs = torch.cat([x, xh]).view(-1, B, A)
    g = torch.bmm(torch.bmm(fy.repeat(2, 1, 1), imgs), fx.transpose(1, 2).repeat(2, 1, 1))
    n = len(p)
    return gamma[:, None] * torch.cat([g[:n].reshape(n, -1), g[n:].reshape(n, -1)], dim=1)


def write(p, w):
    fx, fy, gamma = filterbank(p, 5)
    c = torch.bmm(torch.bmm(fy.transpose(1, 2), w.view(-1, 5, 5)), fx)
    return c.reshape(len(p), -1) / gamma[:, None]


def median_us(f, reps):
    f()
    t = []
    for _ in range(reps):
        t0 = time.thread_time()
        f()
        t.append((time.thread_time() - t0) * 1e6)
    return sorted(t)[len(t) // 2]


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 21
    g = torch.Generator().manual_seed(0)
    p = 2 * torch.rand(rows, 5, generator=g) - 1
    x = torch.rand(rows, A * B, generator=g)
    w = 4 * torch.rand(rows, 25, generator=g) - 2
    with torch.no_grad():
        tf = median_us(lambda: filterbank(p, 2), reps)
        tr = median_us(lambda: read(p, x, x), reps)
        tw = median_us(lambda: write(p, w), reps)

    def fb_read():
        pp, xx = p.clone().requires_grad_(True), x.clone().requires_grad_(True)
        read(pp, xx, xx).sum().backward()

    def fb_write():
        pp, ww = p.clone().requires_grad_(True), w.clone().requires_grad_(True)
        write(pp, ww).sum().backward()

    br, bw = median_us(fb_read, reps), median_us(fb_write, reps)
    print(f"torch {torch.__version__}, rows {rows}, A = B = {A}, one thread, median of {reps}")
    lines = [("filterbank N 2", tf, ""), ("read N 2 of x and x^", tr, " (with its filterbank)"),
             ("write N 5", tw, " (with its filterbank)"), ("filterbank + read, fwd + bwd", br, ""),
             ("filterbank + write, fwd + bwd", bw, "")]
    for name, t, note in lines:
        print(f"torch {name + ':':31s} {t:9.1f} us  {t * 1e3 / rows:6.1f} ns/row{note}")

if __name__ == "__main__":
    main()
