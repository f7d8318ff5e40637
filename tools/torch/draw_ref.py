"""DRAW (Gregor et al. 2015) in PyTorch, written from the paper's equations as
models.md section 3 states them: the independent reference the C runtime's draw
family is checked against (docs/format.md section 6 for the manifest).

`VariaDRAW` is an nn.Module whose state_dict() keys are the format's tensor names:
  enc.weight_ih [4He, R + Hd], enc.weight_hh, enc.bias_ih, enc.bias_hh   (LSTM i, f, g, o)
  enc_mean.weight [L, He], enc_mean.bias; enc_scale.weight [L, He], enc_scale.bias
  dec.weight_ih [4Hd, L], dec.weight_hh, dec.bias_ih, dec.bias_hh
  read_attn.weight [5, Hd], read_attn.bias            (attention read only)
  write_attn.weight [5, Hd], write_attn.bias          (attention write only)
  write.weight [Nw*Nw or A*B, Hd], write.bias
R = 2*A*B without read attention, 2*Nr*Nr with it. The encoder's input is
[r_t, h^dec_{t-1}] in that order; r_t = [read(x), read(x_hat)].

Conventions the paper leaves open (docs/draw.md states them for the runtime):
pixel coordinates a = 1..A and b = 1..B, the grid index i = 1..N, filter rows
normalised by Z + ATTN_EPS, and for N = 1 the stride factor
(max(A, B) - 1) / (N - 1) taken as 0 (a single filter at the centre: its offset
is 0 whatever the stride); images are stored row-major as B rows of A pixels
(x[b, a]).

Noise: eps [rows, T * L], step t in columns [t*L, (t+1)*L). Everything runs in
the module's dtype (float64 for goldens).
"""
import math

import torch
from torch import nn
import torch.nn.functional as F

ATTN_EPS = 1e-30      # Z + eps: a filter row's normaliser guard (docs/draw.md, convention 6)
LOG_2PI = math.log(2.0 * math.pi)


def filterbank(p, size_a, size_b, n, coord_base=1):
    """From p [rows, 5] = (gx~, gy~, log sigma^2, log delta~, log gamma): F_X [rows, n, A],
    F_Y [rows, n, B] (rows normalised to 1) and gamma [rows]."""
    gx = (size_a + 1) / 2.0 * (p[:, 0] + 1.0)
    gy = (size_b + 1) / 2.0 * (p[:, 1] + 1.0)
    var = torch.exp(p[:, 2])
    stride = (max(size_a, size_b) - 1) / (n - 1) if n > 1 else 0.0
    delta = stride * torch.exp(p[:, 3])
    gamma = torch.exp(p[:, 4])
    i = torch.arange(1, n + 1, dtype=p.dtype)
    offs = (i - n / 2.0 - 0.5)                       # paper's 1-based grid
    mu_x = gx[:, None] + offs[None, :] * delta[:, None]
    mu_y = gy[:, None] + offs[None, :] * delta[:, None]
    a = torch.arange(size_a, dtype=p.dtype) + coord_base
    b = torch.arange(size_b, dtype=p.dtype) + coord_base
    fx = torch.exp(-(a[None, None, :] - mu_x[:, :, None]) ** 2 / (2.0 * var[:, None, None]))
    fy = torch.exp(-(b[None, None, :] - mu_y[:, :, None]) ** 2 / (2.0 * var[:, None, None]))
    fx = fx / (fx.sum(-1, keepdim=True) + ATTN_EPS)
    fy = fy / (fy.sum(-1, keepdim=True) + ATTN_EPS)
    return fx, fy, gamma


def attn_read(img, fx, fy, gamma, size_a, size_b):
    """gamma * F_Y img F_X^T per row, flattened row-major [rows, N*N]; img [rows, B*A]."""
    im = img.reshape(-1, size_b, size_a)
    g = fy @ im @ fx.transpose(1, 2)
    return gamma[:, None] * g.reshape(g.shape[0], -1)


def attn_write(w, fx, fy, gamma, n):
    """(1/gamma) F_Y^T w F_X per row, flattened [rows, B*A]; w [rows, N*N]."""
    patch = fy.transpose(1, 2) @ w.reshape(-1, n, n) @ fx
    return patch.reshape(patch.shape[0], -1) / gamma[:, None]


def gauss_logpdf(v, mean, logvar):
    return -0.5 * (LOG_2PI + logvar + (v - mean) ** 2 / torch.exp(logvar))


class VariaDRAW(nn.Module):
    def __init__(self, arch, shape):
        super().__init__()
        self.arch = arch
        _, self.B, self.A = shape
        self.T, self.L = int(arch["steps"]), int(arch["latent"])
        he, hd = int(arch["encoder_hidden"]), int(arch["decoder_hidden"])
        self.read_n = arch["read"].get("glimpse") if arch["read"]["type"] == "attention" else None
        self.write_n = arch["write"].get("glimpse") if arch["write"]["type"] == "attention" else None
        self.log_std = arch.get("posterior_scale", "log_std") == "log_std"
        r = 2 * (self.read_n ** 2 if self.read_n else self.A * self.B)
        self.enc = nn.LSTMCell(r + hd, he)
        self.enc_mean = nn.Linear(he, self.L)
        self.enc_scale = nn.Linear(he, self.L)
        self.dec = nn.LSTMCell(self.L, hd)
        if self.read_n:
            self.read_attn = nn.Linear(hd, 5)
        if self.write_n:
            self.write_attn = nn.Linear(hd, 5)
        self.write = nn.Linear(hd, self.write_n ** 2 if self.write_n else self.A * self.B)
        self.he, self.hd = he, hd

    def read(self, x, x_hat, h_dec):
        if not self.read_n:
            return torch.cat([x, x_hat], 1)
        fx, fy, gamma = filterbank(self.read_attn(h_dec), self.A, self.B, self.read_n)
        return torch.cat([attn_read(x, fx, fy, gamma, self.A, self.B),
                          attn_read(x_hat, fx, fy, gamma, self.A, self.B)], 1)

    def paint(self, h_dec):
        w = self.write(h_dec)
        if not self.write_n:
            return w
        fx, fy, gamma = filterbank(self.write_attn(h_dec), self.A, self.B, self.write_n)
        return attn_write(w, fx, fy, gamma, self.write_n)

    def zeros(self, rows, width):
        return torch.zeros(rows, width, dtype=self.write.weight.dtype)

    def infer(self, x, eps=None):
        """Run encoder and decoder over x [rows, A*B]; eps None: z_t = mu_t (the mean
        path). Returns per-step lists mu, logvar, z and canvases c_1..c_T (logits)."""
        rows = x.shape[0]
        h_enc, s_enc = self.zeros(rows, self.he), self.zeros(rows, self.he)
        h_dec, s_dec = self.zeros(rows, self.hd), self.zeros(rows, self.hd)
        c = self.zeros(rows, self.A * self.B)
        out = {"mu": [], "logvar": [], "z": [], "canvas": []}
        for t in range(self.T):
            x_hat = x - torch.sigmoid(c)
            r = self.read(x, x_hat, h_dec)
            h_enc, s_enc = self.enc(torch.cat([r, h_dec], 1), (h_enc, s_enc))
            mu, s = self.enc_mean(h_enc), self.enc_scale(h_enc)
            logvar = 2.0 * s if self.log_std else s
            z = mu if eps is None else mu + torch.exp(0.5 * logvar) * eps[:, t * self.L:(t + 1) * self.L]
            h_dec, s_dec = self.dec(z, (h_dec, s_dec))
            c = c + self.paint(h_dec)
            for key, v in (("mu", mu), ("logvar", logvar), ("z", z), ("canvas", c)):
                out[key].append(v)
        return out

    def decode(self, z):
        """Canvases c_1..c_T (logits) painted from latents z [rows, T*L] by the decoder alone."""
        rows = z.shape[0]
        h_dec, s_dec = self.zeros(rows, self.hd), self.zeros(rows, self.hd)
        c = self.zeros(rows, self.A * self.B)
        canvases = []
        for t in range(self.T):
            h_dec, s_dec = self.dec(z[:, t * self.L:(t + 1) * self.L], (h_dec, s_dec))
            c = c + self.paint(h_dec)
            canvases.append(c)
        return canvases

    def terms(self, x, eps):
        """Per row of x [rows, A*B] with its noise eps [rows, T*L]: log p(x|c_T),
        log p(z), log q(z|x) (sums over steps) and the analytic KL per step [rows, T]."""
        o = self.infer(x, eps)
        logits = o["canvas"][-1]
        log_px = (x * logits - F.softplus(logits)).sum(1)
        zero = torch.zeros((), dtype=logits.dtype)
        log_pz = sum(gauss_logpdf(z, zero, zero).sum(1) for z in o["z"])
        log_qz = sum(gauss_logpdf(z, m, lv).sum(1) for z, m, lv in zip(o["z"], o["mu"], o["logvar"]))
        kl = torch.stack([0.5 * (m ** 2 + torch.exp(lv) - lv - 1.0).sum(1)
                          for m, lv in zip(o["mu"], o["logvar"])], 1)
        return {"log_px": log_px, "log_pz": log_pz, "log_qz": log_qz, "kl_steps": kl}
