#!/usr/bin/env python3
"""Paired comparison of two models' per-example log p(x) estimates.

usage: tools/pair_rows.py A.csv B.csv

A and B are `varia eval --per-example` files ('index,log_px,...' rows). Only
the indices both files hold are compared, so a --limit run pairs with the
matching prefix of a full one. Pairing removes the spread between images
(most of the standard error of each model's own mean), which is what makes a
difference of a fraction of a nat measurable. Prints the number of pairs,
each model's mean NLL on them, the mean of NLL_A - NLL_B with its standard
error, and on how many images B is better. Standard library only.
"""
import csv
import math
import sys


def read_rows(path):
    """Map example index -> log_px from a per-example CSV."""
    with open(path, newline="") as f:
        return {int(r["index"]): float(r["log_px"]) for r in csv.DictReader(f)}


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    a, b = read_rows(argv[1]), read_rows(argv[2])
    common = sorted(a.keys() & b.keys())
    n = len(common)
    if n < 2:
        sys.exit("fewer than two common indices")
    d = [b[i] - a[i] for i in common]  # NLL_A - NLL_B = log_px_B - log_px_A
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    print(f"pairs {n} (indices {common[0]}..{common[-1]})")
    print(f"NLL A {-sum(a[i] for i in common) / n:.2f}, "
          f"NLL B {-sum(b[i] for i in common) / n:.2f}")
    print(f"NLL A - NLL B = {mean:.3f} +- {sd / math.sqrt(n):.3f} (sd {sd:.2f})")
    print(f"B better on {sum(x > 0 for x in d)} of {n}")


if __name__ == "__main__":
    main(sys.argv)
