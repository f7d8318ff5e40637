#!/usr/bin/python3
"""The floor under any model's NLL on dynamically binarized images: the mean
over the images of sum_i H(p_i) (nats), p_i = intensity_i / 255 and H the
binary entropy. Evaluating a binarization x ~ Bernoulli(p) of each image, any
density q has E[-log q(x)] >= H(X) >= H(X | image), and H(X | image) is that
sum, so no model of this protocol can score below it on average.

Usage: /usr/bin/python3 tools/binarization_floor.py IDX_IMAGES.gz [...]
Prints, per file: the number of images, the floor and its standard error."""

import gzip
import sys

import numpy as np


def images(path):
    """The IDX3 file's images as float64 rows in [0, 1]."""
    raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    if raw[:4] != b"\x00\x00\x08\x03":
        sys.exit(f"{path}: not an IDX3 uint8 image file")
    n, h, w = (int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
    return np.frombuffer(raw, np.uint8, count=n * h * w, offset=16).reshape(n, h * w) / 255.0


def floor(p):
    """Per-image sum of binary entropies in nats (0 log 0 = 0)."""
    q = np.clip(p, 1e-300, 1.0)
    r = np.clip(1.0 - p, 1e-300, 1.0)
    return -(p * np.log(q) + (1.0 - p) * np.log(r)).sum(axis=1)


for path in sys.argv[1:]:
    s = floor(images(path))
    print(f"{path}: {len(s)} images, floor {s.mean():.2f} +- {s.std() / np.sqrt(len(s)):.2f} nats")
