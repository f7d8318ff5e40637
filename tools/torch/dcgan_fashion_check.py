"""The recipe of models/dcgan-fashion/train.json in plain PyTorch, for a short
check against varia's trainer: same networks, Glorot-uniform weights and zero
biases, Adam 2e-4 (0.5, 0.999), non-saturating loss, one D step then one G
step on the same z, data scaled to [-1, 1]. Writes a sample grid (PNG).

Usage (one thread, about a minute per 3 epochs of 6,000 images):
  OPENBLAS_CORETYPE=Cooperlake OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 \
      tools/torch/dcgan_fashion_check.py models/dcgan-fashion/train.json --limit 6000 --epochs 8 -o torch.png
The networks are written out here, not read from the JSON: only the latent,
batch, optimizer and data path are."""
import argparse, gzip, json, struct, time, zlib
import numpy as np
import torch
from torch import nn


def load_idx(path, limit):
    with gzip.open(path, "rb") as f:
        _, n, h, w = struct.unpack(">IIII", f.read(16))
        x = np.frombuffer(f.read(), np.uint8).reshape(n, 1, h, w)
    return x[:limit].astype(np.float32) / 255.0


def png(path, img):  # img: HxW float in [0, 1]
    a = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    raw = b"".join(b"\0" + a[i].tobytes() for i in range(a.shape[0]))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    hdr = struct.pack(">IIBBBBB", a.shape[1], a.shape[0], 8, 0, 0, 0, 0)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", hdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def grid(x, cols, pad=2):  # x: [n, 28, 28] in [0, 1]
    n, h, w = x.shape
    rows = (n + cols - 1) // cols
    g = np.zeros((rows * (h + pad) - pad, cols * (w + pad) - pad), np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        g[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = x[i]
    return g


def nets(L):
    G = nn.Sequential(nn.Linear(L, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (128, 7, 7)),
                      nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
                      nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())
    D = nn.Sequential(nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(64, 128, 4, 2, 1), nn.LeakyReLU(0.2),
                      nn.Flatten(), nn.Linear(128 * 7 * 7, 1))
    for m in list(G) + list(D):
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return G, D


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--limit", type=int, default=6000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", default="/tmp/dcgan-torch.png")
    a = ap.parse_args()
    cfg = json.load(open(a.config))
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    L, B = cfg["architecture"]["latent"], cfg["batch"]
    x = torch.from_numpy(load_idx(cfg["data"]["train"], a.limit)) * 2 - 1
    G, D = nets(L)
    o = cfg["optimizer"]
    oG = torch.optim.Adam(G.parameters(), o["lr"], (o["beta1"], o["beta2"]), o["eps"])
    oD = torch.optim.Adam(D.parameters(), o["lr"], (o["beta1"], o["beta2"]), o["eps"])
    bce = nn.functional.binary_cross_entropy_with_logits
    t0, steps = time.time(), 0
    for ep in range(a.epochs):
        perm = torch.randperm(len(x))
        ld = lg = 0.0
        nb = 0
        for i in range(0, len(x) - B + 1, B):
            real = x[perm[i:i + B]]
            z = torch.randn(B, L)
            fake = G(z)
            dr, df = D(real).view(-1), D(fake.detach()).view(-1)
            lossD = bce(dr, torch.ones_like(dr)) + bce(df, torch.zeros_like(df))
            oD.zero_grad(); lossD.backward(); oD.step()
            lossG = bce(D(fake).view(-1), torch.ones(B))
            oG.zero_grad(); lossG.backward(); oG.step()
            ld += lossD.item(); lg += lossG.item(); nb += 1; steps += 1
        print(f"epoch {ep + 1}: D loss {ld / nb:.3f}  G loss {lg / nb:.3f}  steps {steps}  "
              f"{(ep + 1) * nb * B / (time.time() - t0):.0f} examples/s", flush=True)
    G.eval()
    with torch.no_grad():
        s = (G(torch.randn(64, L)) + 1) / 2
    png(a.o, grid(s[:, 0].numpy(), 8))
    print("wrote", a.o)


main()
