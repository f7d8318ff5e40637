#!/usr/bin/env python3
"""Projected efficiency of varia's data-parallel training at 8, 64 and 512 ranks
(docs/scaling.md): measured compute per step and per rank, against the time
each gradient exchange takes under two communication models. Prints the
Markdown tables of docs/scaling.md. No dependencies."""

# model: (parameters, measured 1-thread examples/s at batch 10, shards 1)
# measured by the commands of docs/scaling.md (medians of 3 runs)
MODELS = {
    "vae-mnist-dyn": (425284, 10678),
    "vae-mnist-dyn-short": (425284, 12640),
    "vae-mnist": (425284, 10678),  # same networks as vae-mnist-dyn; trained by PyTorch, no config shipped
    "vae-fashion": (425284, 11773),
    "iwae-mnist-k5": (425284, 8070),
    "iwae2-mnist-k5": (521084, 6426),
    "vae-iaf-mnist": (515934, 7618),
    "vae-planar-mnist": (628294, 6433),
}
ROWS = 10                 # rows per rank and step: one shard of the shipped batch 20 / shards 2
MEM = 20e9                # bytes/s one core streams when summing gradients
NETS = {"10 Gbit/s": (1.25e9, 25e-6), "100 Gbit/s": (12.5e9, 2e-6)}  # bandwidth B/s, latency s per message
RANKS = (8, 64, 512)


def t_gather(n, g, bw, lat):
    """As implemented: every shard's gradient to every rank (allgather, ring or
    Bruck: n - 1 latencies, (n - 1) g bytes in), then n gradients summed in
    shard order on every rank."""
    return (n - 1) * lat + (n - 1) * g / bw + n * g / MEM


def t_scatter(n, g, bw, lat):
    """Fixed-order reduce-scatter: block j of every gradient to rank j
    (all-to-all, n - 1 exchanges), rank j sums its block in shard order, then
    the summed blocks to everyone (allgather): 2 (n - 1) / n g bytes in."""
    return 2 * (n - 1) * lat + 2 * (n - 1) / n * g / bw + g / MEM


def main():
    for name, fn in (("as implemented: allgather of the shards' gradients", t_gather),
                     ("fixed-order reduce-scatter + allgather (not built yet)", t_scatter)):
        print(f"\n{name}\n")
        head = " | ".join(f"{n} @ {net}" for net in NETS for n in RANKS)
        print(f"| model | parameters | gradient MB | compute ms/step | {head} |")
        print("|---|---:|---:|---:|" + "---:|" * (len(NETS) * len(RANKS)))
        for m, (p, rate) in MODELS.items():
            g, tc = 4.0 * p, ROWS / rate
            cells = []
            for bw, lat in NETS.values():
                for n in RANKS:
                    cells.append(f"{tc / (tc + fn(n, g, bw, lat)):.3f}")
            print(f"| {m} | {p:,} | {g / 1e6:.2f} | {tc * 1e3:.2f} | " + " | ".join(cells) + " |")
    print("\nrows per rank and step for efficiency 0.9 (reduce-scatter model; the measured time per "
          "row includes the update's fixed cost, so these are lower bounds)\n")
    print("| model | " + " | ".join(f"{n} @ {net}" for net in NETS for n in RANKS) + " |")
    print("|---|" + "---:|" * (len(NETS) * len(RANKS)))
    for m, (p, rate) in MODELS.items():
        g, per_row = 4.0 * p, 1.0 / rate
        cells = [f"{9 * t_scatter(n, g, bw, lat) / per_row:,.0f}" for bw, lat in NETS.values() for n in RANKS]
        print(f"| {m} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
