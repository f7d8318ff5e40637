"""Export a PyTorch model to the varia model format (docs/format.md): a JSON manifest
plus a weights file, either safetensors (written here in pure Python) or raw.

Two ways in:

* ``export(model, arch, data_shape, out_dir, ...)`` writes a module whose
  ``state_dict()`` keys already are the format's names (varia_ref.VariaVAE); used
  by make_golden.py and train_default.py.
* ``export_model(model, out_dir, spec=None, data_shape=..., ...)`` and the command
  line take a model as people write it: a spec maps the format's tensors to the
  model's (with split/transpose/reshape/scale transforms, export_map.py), or, for
  the vae family, the spec is detected from the module tree (export_vae.py). The
  result is then loaded by the built ``varia`` command and its decode (and encode)
  compared with PyTorch's; any difference is a refusal (exit status 1).

    /usr/bin/python3 tools/torch/export.py --model my_vae.py:VAE --weights vae.pt \\
        --data-shape 1,28,28 --out exported/        # see --help

Tensors are stored contiguously in sorted-name order; dtype may be F32, F16 or BF16
(both rounded to nearest even).
"""
import json
import os
import struct

import numpy as np

import export_check
import export_map
from export_map import ExportError

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
    """Write out_dir/<name>.json and its weights file from a module whose state_dict
    keys are the format's names; returns the manifest path."""
    return write_model(state_arrays(model), arch, data_shape, out_dir, name=name, fmt=fmt,
                       provenance=provenance, dtype=dtype, family=family,
                       data_extra=data_extra)


def write_model(arrays, arch, data_shape, out_dir, name="model", fmt="safetensors",
                provenance=None, dtype="F32", family="vae", data_extra=None):
    """Write out_dir/<name>.json and its weights file from {format name: array};
    returns the manifest path."""
    os.makedirs(out_dir, exist_ok=True)
    table, data = tensor_table(arrays, dtype)
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


# ---------------------------------------------------------------- models as written

def family_module(family):
    """The module that knows a family's tensors, detection and probes."""
    if family in ("vae", "iwae"):
        import export_vae
        return export_vae
    return None


def source_arrays(model):
    """The user's state_dict as float32 numpy arrays (integer buffers included, so
    that an unmapped one is reported rather than dropped)."""
    return {k: v.detach().cpu().double().numpy() for k, v in model.state_dict().items()}


def tensor_owners(model):
    """{state_dict name: type name of the module holding it}, for messages."""
    owners = {}
    for mname, mod in model.named_modules():
        for pname, _ in list(mod.named_parameters(recurse=False)) + \
                list(mod.named_buffers(recurse=False)):
            owners[(mname + "." if mname else "") + pname] = type(mod).__name__
    return owners


def build_spec(model, spec, data_shape, latent, activation, posterior_scale, gaussian_log_var):
    """The spec to export with (given or detected) and the activations still to probe
    (empty when the spec is given or --activation fixes it)."""
    if spec is not None:
        return spec, []
    if data_shape is None:
        raise ExportError("without a spec, the data shape is needed (--data-shape)")
    fam = family_module("vae")
    return fam.detect(model, data_shape, latent=latent, activation=activation,
                      posterior_scale=posterior_scale, gaussian_log_var=gaussian_log_var)


def export_model(model, out_dir, spec=None, data_shape=None, name="model", latent=None,
                 activation=None, posterior_scale=None, gaussian_log_var=None,
                 varia=None, check=True,
                 rtol=1e-4, fmt="safetensors", dtype="F32", provenance=None, log=None):
    """Export a model as its author wrote it, then check it with varia.

    spec: {"family", "data": {"shape", ...}, "architecture", "tensors": {format name:
    rule}, "ignore": [source names], "check": {...}} (tools/torch/README.md), or None
    to detect a one-layer VAE (export_vae.py); latent, activation, posterior_scale
    and gaussian_log_var steer the detection. With check, the written model is loaded by
    the varia command and its decode (and encode) compared with the model's to rtol
    (max-norm relative); a difference raises ExportError. Returns (manifest path,
    spec used, check result or None). A flow model (architecture.flow) exports
    through a spec; if the varia binary cannot load flows yet, the check result
    has "skipped" (the reason) instead of errors.
    """
    import copy
    import tempfile
    import torch
    log = log or (lambda msg: None)
    model.eval()
    spec, candidates = build_spec(model, copy.deepcopy(spec), data_shape, latent,
                                  activation, posterior_scale, gaussian_log_var)
    family = spec.get("family", "vae")
    fam = family_module(family)
    arrays, origins = export_map.map_tensors(source_arrays(model), spec["tensors"],
                                             spec.get("ignore", ()), tensor_owners(model))
    data = dict(spec["data"])
    shape = data.pop("shape")
    if fam is not None:
        export_map.check_shapes(arrays, origins, fam.expected_shapes(spec["architecture"], shape))
        if candidates:
            with torch.no_grad():
                fam.settle_by_probing(model, spec, arrays, candidates)
            log("detected: activation %s, posterior_scale %s, decoder output %s"
                % (spec["architecture"]["activation"],
                   spec["architecture"].get("posterior_scale", "log_var"),
                   spec["check"]["decode_output"]))
    provenance = provenance or {"exporter": "tools/torch/export.py",
                                "source": type(model).__name__}
    path = write_model(arrays, spec["architecture"], shape, out_dir, name=name, fmt=fmt,
                       provenance=provenance, dtype=dtype, family=family, data_extra=data)
    if not check:
        return path, spec, None
    if fam is None:
        raise ExportError("no final check is known for family %r (pass check=False / "
                          "--no-check to write it unchecked)" % family)
    if dtype != "F32":
        rtol = max(rtol, 1e-2)  # the check compares with the unrounded model
    with tempfile.TemporaryDirectory() as tmp:
        result = fam.final_check(model, spec, path, export_check.find_varia(varia), rtol, tmp)
    return path, spec, result


# ---------------------------------------------------------------- command line

def load_user_model(ref, kwargs, weights):
    """Instantiate FILE.py:NAME (a class or a function returning a module) with
    kwargs, then load a state_dict (or a checkpoint holding one) from `weights`."""
    import importlib.util
    import torch
    if ":" not in ref:
        raise ExportError("--model wants FILE.py:NAME, got %r" % ref)
    path, attr = ref.rsplit(":", 1)
    spec = importlib.util.spec_from_file_location("user_model", path)
    if spec is None or not os.path.isfile(path):
        raise ExportError("--model: cannot read %s" % path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if not hasattr(mod, attr):
        raise ExportError("--model: %s defines no %r" % (path, attr))
    model = getattr(mod, attr)(**kwargs)
    if weights:
        state = torch.load(weights, map_location="cpu")
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
        model.load_state_dict(state)
    return model


def parse_args(argv):
    """The command line (see --help)."""
    import argparse
    p = argparse.ArgumentParser(
        prog="export.py",
        description="Export a PyTorch model to the varia format, then load it with the "
                    "varia command and compare its decode (and encode) with PyTorch's. "
                    "Exit status 0: written and checked; 1: refused (the message names the "
                    "tensor or output at fault); 2: usage.",
        epilog="Without --spec, a one-layer VAE is detected from the module tree: "
               "nn.Linear chains (plain attributes or nn.Sequential), separate mean/scale "
               "heads or one fused head split in two, log sigma heads named *std*/*sigma*, "
               "the activation found by probing; a conv VAE whose convs sit in nn.Sequential "
               "blocks (Conv2d, ConvTranspose2d, BatchNorm2d, Linear, activations, Flatten, "
               "Unflatten) is read block by block. --write-spec saves what was used, to edit. "
               "See tools/torch/README.md.")
    p.add_argument("--model", required=True, metavar="FILE.py:NAME",
                   help="class (or function) building the model")
    p.add_argument("--kwargs", default="{}", metavar="JSON", help="its keyword arguments")
    p.add_argument("--weights", metavar="FILE.pt",
                   help="torch.save'd state_dict (or a checkpoint dict holding one)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--name", default="model", help="file name stem (default: model)")
    p.add_argument("--spec", metavar="SPEC.json", help="the mapping to use instead of detection")
    p.add_argument("--write-spec", metavar="SPEC.json", help="write the spec used")
    p.add_argument("--data-shape", metavar="C,H,W", help="one example's shape, e.g. 1,28,28")
    p.add_argument("--latent", type=int, help="latent size, if detection is ambiguous")
    p.add_argument("--activation", choices=["tanh", "relu", "leaky_relu", "elu", "softplus",
                                            "sigmoid", "identity"],
                   help="skip probing for the activation")
    p.add_argument("--posterior-scale", choices=["log_var", "log_std"],
                   help="what the encoder's scale head emits (default: from its name)")
    p.add_argument("--gaussian-log-var", type=float, metavar="V",
                   help="the decoder's one output is a Gaussian mean with fixed log "
                        "variance V (default: Bernoulli logits or probabilities)")
    p.add_argument("--format", default="safetensors", choices=["safetensors", "raw"])
    p.add_argument("--dtype", default="F32", choices=["F32", "F16", "BF16"])
    p.add_argument("--varia", metavar="PATH", help="varia binary (default: $VARIA, "
                   "build/varia, then PATH)")
    p.add_argument("--rtol", type=float, default=1e-4,
                   help="allowed max-norm relative difference (default 1e-4)")
    p.add_argument("--no-check", action="store_true", help="skip the final check")
    return p.parse_args(argv)


def main(argv=None):
    """Command-line entry; returns the exit status."""
    import sys
    args = parse_args(argv)
    try:
        kwargs = json.loads(args.kwargs)
        spec = None
        if args.spec:
            with open(args.spec, encoding="utf-8") as f:
                spec = json.load(f)
        shape = [int(s) for s in args.data_shape.split(",")] if args.data_shape else None
        model = load_user_model(args.model, kwargs, args.weights)
        path, used, result = export_model(
            model, args.out, spec=spec, data_shape=shape, name=args.name, latent=args.latent,
            activation=args.activation, posterior_scale=args.posterior_scale,
            gaussian_log_var=args.gaussian_log_var,
            varia=args.varia, check=not args.no_check, rtol=args.rtol, fmt=args.format,
            dtype=args.dtype, log=lambda m: print("export.py: " + m, file=sys.stderr))
    except (ExportError, OSError, ValueError) as e:
        print("export.py: refused: %s" % e, file=sys.stderr)
        return 1
    if args.write_spec:
        with open(args.write_spec, "w", encoding="utf-8") as f:
            json.dump(used, f, indent=2)
            f.write("\n")
    if result is None:
        print("%s: written, NOT checked (--no-check)" % path)
    elif result.get("skipped"):
        print("%s: written, final check SKIPPED: %s" % (path, result["skipped"]))
    else:
        enc = "" if result["encode"] is None else \
            ", encode max relative difference %.2g" % result["encode"]
        print("%s: checked with varia on %d probes: decode max relative difference %.2g%s"
              % (path, result["n"], result["decode"], enc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
