"""Export a PyTorch model to the varia model format (docs/format.md): a JSON manifest
plus a weights file, either safetensors (written here in pure Python) or raw.

    export(model, arch, data_shape, out_dir, name="model", fmt="safetensors",
           provenance={...}, dtype="F32")

writes out_dir/<name>.json and out_dir/<name>.safetensors (or <name>.bin with the
tensor table inside the manifest). Tensors are stored contiguously in sorted-name
order; dtype may be F32, F16 or BF16 (both rounded to nearest even).

Library module, no command of its own; used by make_golden.py and train_default.py.
"""
import json
import os
import struct

import numpy as np

DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2}


def f32_to_bf16_bits(a):
    """Round float32 values to bfloat16 (nearest, ties to even); returns uint16 bits."""
    bits = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    # Adding 0x7FFF plus the lowest kept bit rounds ties to the even neighbour.
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def encode_tensor(a, dtype):
    """float array -> little-endian bytes of the requested dtype."""
    a = np.asarray(a, dtype=np.float32)
    if not np.all(np.isfinite(a)):
        raise ValueError("non-finite weight")
    if dtype == "F32":
        return a.astype("<f4").tobytes()
    if dtype == "F16":
        h = a.astype("<f2")
        if not np.all(np.isfinite(h)):
            raise ValueError("weight overflows F16")
        return h.tobytes()
    if dtype == "BF16":
        return f32_to_bf16_bits(a).astype("<u2").tobytes()
    raise ValueError("unsupported dtype %r" % dtype)


def state_arrays(model):
    """The model's tensors as float32 numpy arrays, keyed by format name."""
    return {k: v.detach().cpu().float().numpy() for k, v in model.state_dict().items()}


def tensor_table(arrays, dtype):
    """(table, data bytes): tensors contiguous in sorted-name order, offsets from 0."""
    table, chunks, pos = {}, [], 0
    for name in sorted(arrays):
        raw = encode_tensor(arrays[name], dtype)
        table[name] = {"dtype": dtype, "shape": list(arrays[name].shape),
                       "data_offsets": [pos, pos + len(raw)]}
        chunks.append(raw)
        pos += len(raw)
    return table, b"".join(chunks)


def safetensors_bytes(table, data):
    """u64 LE header length, JSON header padded with spaces so the data is 8-aligned."""
    header = json.dumps(table, separators=(",", ":")).encode("utf-8")
    header += b" " * ((-len(header)) % 8)
    return struct.pack("<Q", len(header)) + header + data


def manifest_dict(arch, data_shape, weights, family, data_extra, provenance):
    """The manifest object with the keys of docs/format.md section 1."""
    data = {"shape": [int(s) for s in data_shape]}
    data.update(data_extra or {})
    m = {"format": "varia", "version": "1.0", "family": family, "data": data,
         "architecture": arch, "weights": weights}
    if provenance is not None:
        m["provenance"] = provenance
    return m


def export(model, arch, data_shape, out_dir, name="model", fmt="safetensors",
           provenance=None, dtype="F32", family="vae", data_extra=None):
    """Write out_dir/<name>.json and its weights file; returns the manifest path."""
    os.makedirs(out_dir, exist_ok=True)
    table, data = tensor_table(state_arrays(model), dtype)
    if fmt == "safetensors":
        wfile = name + ".safetensors"
        blob = safetensors_bytes(table, data)
        weights = {"format": "safetensors", "file": wfile}
    elif fmt == "raw":
        wfile = name + ".bin"
        blob = data
        weights = {"format": "raw", "file": wfile, "tensors": table}
    else:
        raise ValueError("unknown weights format %r" % fmt)
    with open(os.path.join(out_dir, wfile), "wb") as f:
        f.write(blob)
    manifest = manifest_dict(arch, data_shape, weights, family, data_extra, provenance)
    path = os.path.join(out_dir, name + ".json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return path
