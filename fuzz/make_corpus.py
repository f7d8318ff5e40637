#!/usr/bin/env python3
"""Recreate the fuzzing seed corpora in fuzz/corpus/<harness>/ (deterministic,
standard library only). Run from anywhere: python3 fuzz/make_corpus.py

Every corpus directory is wiped and rewritten, so seeds live here, not in the
directories: valid inputs, near-valid mutations (each aimed at one validation
rule) and regression seeds for bugs found by fuzzing (names start with
"regress_"). The models are the tiny VAE of docs/format.md section 5 and its
variants; weight values match fuzz/fuzz_common.h (fz_value)."""

import gzip
import io
import json
import os
import struct
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# ---------------------------------------------------------------------------
# Models

TINY = [dict(latent=2, encoder=[3], decoder=[3])]
TWO = TINY + [dict(latent=1, encoder=[2], decoder=[2])]


def linear(prefix, fan_in, fan_out):
    return [(prefix + ".weight", [fan_out, fan_in]), (prefix + ".bias", [fan_out])]


def net(prefix, fan_in, widths, fan_out, mean, scale):
    out, h = [], fan_in
    for i, w in enumerate(widths):
        out += linear("%s.hidden.%d" % (prefix, i), h, w)
        h = w
    out += linear("%s.%s" % (prefix, mean), h, fan_out)
    if scale:
        out += linear("%s.%s" % (prefix, scale), h, fan_out)
    return out


def vae_tensors(D, layers, var=None):
    """(name, shape) in the order of fuzz_common.h fz_vae_tensors."""
    t = []
    for l, ly in enumerate(layers):
        below = layers[l - 1]["latent"] if l else D
        t += net("enc%d" % (l + 1), below, ly["encoder"], ly["latent"], "mean", "scale")
        if l:
            t += net("dec%d" % (l + 1), ly["latent"], ly["decoder"], below, "mean", "scale")
        else:
            t += net("dec1", ly["latent"], ly["decoder"], D, "out",
                     "logvar" if var == "decoder" else None)
    if var == "learned":
        t.append(("dec1.logvar", [D]))
    return t


def value(k):
    return float((k * 37 + 11) % 19 - 9) / 10.0


DSIZE = {"F32": 4, "F16": 2, "BF16": 2}


def encode(vals, dtype):
    if dtype == "F32":
        return struct.pack("<%df" % len(vals), *vals)
    if dtype == "F16":
        return struct.pack("<%de" % len(vals), *vals)
    out = bytearray()
    for v in vals:  # BF16: the top half of the f32, rounded to nearest even
        b = struct.unpack("<I", struct.pack("<f", v))[0]
        b = (b + 0x7FFF + ((b >> 16) & 1)) >> 16
        out += struct.pack("<H", b)
    return bytes(out)


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def table_and_data(tensors, dtype="F32", dtypes=None, order=None):
    """Header table (dict, in tensor order) and the data bytes. dtypes maps a
    name to its dtype; order lists tensor indices in data order."""
    dtypes = dtypes or {}
    order = order if order is not None else range(len(tensors))
    k, off, table, chunks = 0, 0, {}, {}
    ks = {}
    for i, (name, shape) in enumerate(tensors):
        ks[i] = k
        k += numel(shape)
    for i in order:
        name, shape = tensors[i]
        dt = dtypes.get(name, dtype)
        vals = [value(ks[i] + j) for j in range(numel(shape))]
        blob = encode(vals, dt)
        chunks[name] = (dt, shape, off, off + len(blob), blob)
        off += len(blob)
    data = b"".join(chunks[tensors[i][0]][4] for i in order)
    for name, shape in tensors:
        dt, sh, b, e, _ = chunks[name]
        table[name] = {"dtype": dt, "shape": sh, "data_offsets": [b, e]}
    return table, data


def jdump(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def safetensors(table, data, align=8, metadata=None, header=None):
    if metadata is not None:
        table = dict([("__metadata__", metadata)] + list(table.items()))
    h = header if header is not None else jdump(table)
    if align:
        h += b" " * ((-(8 + len(h))) % align)
    return struct.pack("<Q", len(h)) + h + data


def manifest(layers, weights, likelihood=None, shape=None, family="vae", version="1.0",
             arch_extra=None, extra=None, activation="tanh"):
    arch = {"activation": activation,
            "likelihood": likelihood or {"type": "bernoulli"},
            "layers": layers}
    arch.update(arch_extra or {})
    m = {"format": "varia", "version": version, "family": family,
         "data": {"shape": shape or [4], "kind": "binary"},
         "architecture": arch, "weights": weights}
    m.update(extra or {})
    return m


ST = {"format": "safetensors", "file": "w.safetensors"}
GAUSS_DEC = {"type": "gaussian", "variance": "decoder"}
GAUSS_LEARNED = {"type": "gaussian", "variance": "learned"}
GAUSS_FIXED = {"type": "gaussian", "variance": "fixed", "log_var": -1.0}

# ---------------------------------------------------------------------------
# fuzz_safetensors: the weights file under a fixed tiny manifest


def corpus_safetensors():
    t = vae_tensors(4, TINY)
    tab, data = table_and_data(t)
    c = {}
    c["tiny_f32.safetensors"] = safetensors(tab, data)
    h = jdump(tab)
    h += b" " * (1 if (8 + len(h)) % 4 == 0 else 0)  # data not 4-aligned: copied, not mapped
    c["tiny_f32_unaligned.safetensors"] = safetensors(tab, data, align=0, header=h)
    for dt in ("F16", "BF16"):
        tb, d = table_and_data(t, dt)
        c["tiny_%s.safetensors" % dt.lower()] = safetensors(tb, d)
    tb, d = table_and_data(t, dtypes={"enc1.hidden.0.weight": "F16", "dec1.out.weight": "BF16",
                                      "enc1.mean.bias": "F16"})
    c["tiny_mixed.safetensors"] = safetensors(tb, d, align=0)
    c["tiny_metadata.safetensors"] = safetensors(tab, data, metadata={"format": "pt", "note": "seed"})
    tb, d = table_and_data(t, order=list(reversed(range(len(t)))))
    c["tiny_reversed.safetensors"] = safetensors(tb, d)
    full = c["tiny_f32.safetensors"]
    c["trunc_data.safetensors"] = full[:-10]
    c["trunc_header.safetensors"] = full[:40]
    c["trailing.safetensors"] = full + b"\0\0\0\0"
    c["nul_padded.safetensors"] = safetensors(tab, data, align=0, header=jdump(tab) + b"\0\0\0")
    c["garbage_after_header.safetensors"] = safetensors(tab, data, align=0, header=jdump(tab) + b" x")
    c["not_json.safetensors"] = safetensors(tab, data, header=b"{\"enc1.mean.bias\":")
    c["header_huge.safetensors"] = struct.pack("<Q", 1 << 40) + full[8:]
    c["header_past_end.safetensors"] = struct.pack("<Q", len(full)) + full[8:]
    c["short.safetensors"] = b"\x10\0\0\0\0\0\0"
    c["empty_table.safetensors"] = safetensors({}, b"")

    def mutated(fn, name):
        tb = json.loads(json.dumps(tab))
        fn(tb)
        c[name] = safetensors(tb, data)

    mutated(lambda tb: tb["enc1.mean.bias"].update(dtype="F64"), "bad_dtype.safetensors")
    mutated(lambda tb: tb["enc1.mean.bias"].update(data_offsets=[92, 84]), "offsets_reversed.safetensors")
    mutated(lambda tb: tb["enc1.mean.bias"].update(data_offsets=[84, 1e300]), "offsets_huge.safetensors")
    mutated(lambda tb: tb["enc1.mean.bias"].update(data_offsets=[84.5, 92]), "offsets_fraction.safetensors")
    mutated(lambda tb: tb["enc1.mean.bias"].update(shape=[-2]), "shape_negative.safetensors")
    mutated(lambda tb: tb["enc1.mean.bias"].update(shape=[1] * 9), "shape_rank9.safetensors")
    mutated(lambda tb: tb["enc1.mean.bias"].update(shape=[1 << 30, 1 << 30, 1 << 30]),
            "shape_overflow.safetensors")
    mutated(lambda tb: tb["enc1.mean.weight"].update(shape=[3, 2]), "shape_transposed.safetensors")
    mutated(lambda tb: tb["enc1.mean.bias"].update(shape=[1, 2]), "shape_rank2.safetensors")
    mutated(lambda tb: tb["enc1.mean.bias"].update(shape=[0]), "shape_zero.safetensors")
    mutated(lambda tb: tb["enc1.mean.bias"].update(data_offsets=[80, 88]), "overlap.safetensors")
    mutated(lambda tb: tb["enc1.mean.bias"].update(data_offsets=[88, 96]), "hole.safetensors")
    mutated(lambda tb: tb.pop("dec1.out.bias"), "missing_last.safetensors")
    mutated(lambda tb: tb.update({"extra": {"dtype": "F32", "shape": [0], "data_offsets": [224, 224]}}),
            "unexpected_empty.safetensors")
    mutated(lambda tb: tb.update({"enc1.mean.bias": "x"}), "entry_not_object.safetensors")
    mutated(lambda tb: tb["enc1.mean.bias"].pop("data_offsets"), "no_offsets.safetensors")
    mutated(lambda tb: tb["enc1.mean.bias"].update(data_offsets=[84]), "offsets_one.safetensors")
    h = jdump(tab).replace(b'"enc1.mean.weight"', b'"enc1.mean.bias"', 1)
    c["duplicate.safetensors"] = safetensors(tab, data, header=h)
    # Strict JSON (issue 12): what cJSON accepted but Python's json reads otherwise.
    strict = {"dup_dtype_key": (b'"dtype":"F32"', b'"dtype":"F32","dtype":"F16"'),
              "nul_in_dtype": (b'"dtype":"F32"', b'"dtype":"F32\\u0000"'),
              "nul_in_name": (b'"enc1.mean.bias"', b'"enc1.mean.bias\\u0000x"'),
              "raw_nul_in_name": (b'"enc1.mean.bias"', b'"enc1.mean.bias\0"'),
              "leading_zero": (b'"data_offsets":[0,', b'"data_offsets":[00,'),
              "control_byte": (b'"shape":', b'"shape":\x01')}
    for name, (old, new) in strict.items():
        c["strict_%s.safetensors" % name] = safetensors(tab, data, header=jdump(tab).replace(old, new, 1))
    bad = bytearray(data)
    bad[0:4] = struct.pack("<f", float("nan"))
    c["nan.safetensors"] = safetensors(tab, bytes(bad))
    tb, d = table_and_data(t, "F16")
    d = bytearray(d)
    d[100:102] = b"\x00\x7c"  # +inf in F16
    c["inf_f16.safetensors"] = safetensors(tb, bytes(d))
    tb, d = table_and_data(t, "F16")
    d = bytearray(d)
    d[0:2] = b"\x01\x00"  # a subnormal
    c["subnormal_f16.safetensors"] = safetensors(tb, bytes(d))
    tb, d = table_and_data(vae_tensors(4, TWO))
    c["two_layer.safetensors"] = safetensors(tb, d)
    tb, d = table_and_data(vae_tensors(4, TINY, "decoder"))
    c["gauss_decoder.safetensors"] = safetensors(tb, d)
    # An empty F16 tensor beside aligned F32 ones: nothing needed converting,
    # so the conversion buffer was NULL and the loader computed NULL + 0 (UB).
    tb = dict(tab)
    tb["zz.empty"] = {"dtype": "F16", "shape": [0], "data_offsets": [len(data), len(data)]}
    c["regress_empty_f16_null_offset.safetensors"] = safetensors(tb, data)
    return c

# ---------------------------------------------------------------------------
# fuzz_manifest: the manifest, with fixed weights files next to it (the
# harness writes w.safetensors, w.bin, w2.safetensors, wg.safetensors, wl.safetensors,
# and the flow models' wfp, wfg, wfr, wfa, wfi, wf2 .safetensors: see fuzz_manifest.c)


def corpus_manifest():
    c = {}
    raw_table, _ = table_and_data(vae_tensors(4, TINY))
    raw = {"format": "raw", "file": "w.bin", "tensors": raw_table}
    m = lambda **kw: jdump(manifest(**kw))  # noqa: E731
    c["tiny.json"] = m(layers=TINY, weights=ST)
    c["tiny_pretty.json"] = json.dumps(manifest(TINY, ST, extra={"provenance": {
        "note": "hand-written example", "test_nll": 1.25}}), indent=2).encode() + b"\n"
    c["tiny_raw.json"] = m(layers=TINY, weights=raw)
    c["two_layer.json"] = m(layers=TWO, weights={"format": "safetensors", "file": "w2.safetensors"})
    c["gauss_decoder.json"] = m(layers=TINY, likelihood=GAUSS_DEC,
                                weights={"format": "safetensors", "file": "wg.safetensors"})
    c["gauss_learned.json"] = m(layers=TINY, likelihood=GAUSS_LEARNED,
                                weights={"format": "safetensors", "file": "wl.safetensors"})
    c["gauss_fixed.json"] = m(layers=TINY, likelihood=GAUSS_FIXED, weights=ST)
    c["iwae_log_std.json"] = m(layers=TINY, weights=ST, family="iwae",
                               arch_extra={"posterior_scale": "log_std"})
    c["leaky_relu.json"] = m(layers=TINY, weights=ST, activation="leaky_relu",
                             arch_extra={"leaky_relu_slope": 0.2})
    c["elu.json"] = m(layers=TINY, weights=ST, activation="elu", arch_extra={"elu_alpha": 0.5})
    layer = dict(TINY[0], activation="softplus")
    c["layer_activation.json"] = m(layers=[layer], weights=ST, activation="sigmoid")
    c["relu_image_shape.json"] = m(layers=TINY, weights=ST, activation="relu", shape=[1, 2, 2])
    c["identity_rank4.json"] = m(layers=TINY, weights=ST, activation="identity", shape=[1, 1, 2, 2])
    c["two_layer_gauss_fixed.json"] = m(layers=TWO, likelihood=GAUSS_FIXED,
                                        weights={"format": "safetensors", "file": "w2.safetensors"},
                                        arch_extra={"posterior_scale": "log_std"})
    c["unknown_keys.json"] = m(layers=[dict(TINY[0], dropout=0.1)], weights=ST, version="1.3",
                               arch_extra={"future": [1, 2]}, extra={"license": "MIT"})
    c["version2.json"] = m(layers=TINY, weights=ST, version="2.0")
    c["version_junk.json"] = m(layers=TINY, weights=ST, version="1.0beta")
    c["family_unknown.json"] = m(layers=TINY, weights=ST, family="flow")
    c["shape_too_big.json"] = m(layers=TINY, weights=ST, shape=[4096, 4096, 2])
    c["latent_mismatch.json"] = m(layers=[dict(latent=3, encoder=[3], decoder=[3])], weights=ST)
    c["no_hidden.json"] = m(layers=[dict(latent=2, encoder=[], decoder=[])], weights=ST)
    c["weights_missing_file.json"] = m(layers=TINY, weights={"format": "safetensors", "file": "nope"})
    c["weights_subdir.json"] = m(layers=TINY, weights={"format": "safetensors", "file": "./w.safetensors"})
    c["raw_no_table.json"] = m(layers=TINY, weights={"format": "raw", "file": "w.bin"})
    c["raw_wrong_file.json"] = m(layers=TINY, weights=dict(raw, file="w.safetensors"))
    c["gauss_no_variance.json"] = m(layers=TINY, weights=ST, likelihood={"type": "gaussian"})
    c["not_object.json"] = b"[1, 2, 3]\n"
    c["truncated.json"] = c["tiny.json"][:90]
    c["nested_deep.json"] = b'{"format":"varia","provenance":' + b"[" * 200 + b"]" * 200 + b"}"
    # Strict JSON and confinement (issue 12).
    tiny = c["tiny.json"]
    strict = {"dup_latent": (b'"latent":2', b'"latent":2,"latent":1'),
              "dup_top": (b'"family":"vae"', b'"family":"vae","family":"iwae"'),
              "nul_format": (b'"format":"varia"', b'"format":"varia\\u0000evil"'),
              "nul_file": (b'"w.safetensors"', b'"w.safetensors\\u0000.txt"'),
              "leading_zero": (b'"latent":2', b'"latent":02'),
              "number_dot": (b'"latent":2', b'"latent":2.'),
              "weights_parent": (b'"w.safetensors"', b'"../w.safetensors"'),
              "weights_absolute": (b'"w.safetensors"', b'"/w.safetensors"')}
    for name, (old, new) in strict.items():
        c["strict_%s.json" % name] = tiny.replace(old, new, 1)
    c["strict_nul_after.json"] = tiny + b"\0{}"
    # Flow posteriors (docs/format.md 2.3), each with the weights file the
    # harness writes for it (K = 2), and near-valid mutations.
    def wf(f):
        return {"format": "safetensors", "file": f}
    planar_am = {"type": "planar", "steps": 2, "params": "amortized"}
    iaf = {"type": "iaf", "steps": 2, "hidden": [4], "context": 2, "ordering": [1, 0]}
    c["flow_planar_amortized.json"] = m(layers=TINY, weights=wf("wfp.safetensors"), arch_extra={"flow": planar_am})
    c["flow_planar_global.json"] = m(layers=TINY, weights=wf("wfg.safetensors"), arch_extra={
        "flow": {"type": "planar", "steps": 2, "params": "global"}})
    c["flow_radial_global.json"] = m(layers=TINY, weights=wf("wfr.safetensors"), arch_extra={
        "flow": {"type": "radial", "steps": 2, "params": "global"}})
    c["flow_radial_amortized.json"] = m(layers=TINY, weights=wf("wfa.safetensors"), activation="elu", arch_extra={
        "flow": {"type": "radial", "steps": 2, "params": "amortized"}})
    c["flow_iaf_context.json"] = m(layers=TINY, weights=wf("wfi.safetensors"), arch_extra={"flow": iaf})
    c["flow_iaf_relu.json"] = m(layers=TINY, weights=wf("wfi.safetensors"), family="iwae",
                                arch_extra={"flow": dict(iaf, activation="relu"), "posterior_scale": "log_std"})
    c["flow_two_layer.json"] = m(layers=TWO, weights=wf("wf2.safetensors"), arch_extra={
        "flow": {"type": "planar", "steps": 2, "params": "global"}})
    c["flow_bad_ordering.json"] = m(layers=TINY, weights=wf("wfi.safetensors"), arch_extra={
        "flow": dict(iaf, ordering=[1, 1])})
    c["flow_bad_steps.json"] = m(layers=TINY, weights=wf("wfp.safetensors"), arch_extra={
        "flow": dict(planar_am, steps=65)})
    c["flow_wrong_weights.json"] = m(layers=TINY, weights=wf("wfg.safetensors"), arch_extra={"flow": planar_am})
    c["flow_iaf_keys_on_planar.json"] = m(layers=TINY, weights=wf("wfp.safetensors"), arch_extra={
        "flow": dict(planar_am, hidden=[4])})
    return c

# ---------------------------------------------------------------------------
# fuzz_model: manifest "\n--\n" weights blob (the manifest names "w.bin")


def corpus_model():
    c = {}

    def model(layers, likelihood=None, var=None, dtype="F32", dtypes=None, fmt="raw", order=None,
              cut=0, add=b"", arch_extra=None):
        t = vae_tensors(4, layers, var)
        tab, data = table_and_data(t, dtype, dtypes, order)
        if fmt == "raw":
            w = {"format": "raw", "file": "w.bin", "tensors": tab}
            blob = data
        else:
            w = {"format": "safetensors", "file": "w.bin"}
            blob = safetensors(tab, data)
        blob = (blob[:-cut] if cut else blob) + add
        return jdump(manifest(layers, w, likelihood, arch_extra=arch_extra)) + b"\n--\n" + blob

    c["tiny_raw_f32.model"] = model(TINY)
    c["tiny_raw_f16.model"] = model(TINY, dtype="F16")
    c["tiny_raw_bf16.model"] = model(TINY, dtype="BF16")
    c["tiny_raw_mixed.model"] = model(TINY, dtypes={"enc1.hidden.0.bias": "F16", "dec1.out.weight": "BF16"})
    c["tiny_raw_reversed.model"] = model(TINY, order=list(range(10))[::-1])
    c["tiny_safetensors.model"] = model(TINY, fmt="safetensors")
    c["two_layer_raw.model"] = model(TWO)
    c["two_layer_f16.model"] = model(TWO, dtype="F16")
    c["gauss_decoder_raw.model"] = model(TINY, GAUSS_DEC, "decoder")
    c["gauss_learned_raw.model"] = model(TINY, GAUSS_LEARNED, "learned")
    c["gauss_fixed_raw.model"] = model(TINY, GAUSS_FIXED)
    c["leaky_relu_log_std.model"] = model(TINY, arch_extra={"activation": "leaky_relu",
                                                            "leaky_relu_slope": 0.1,
                                                            "posterior_scale": "log_std"})
    c["elu_softplus_two_layer.model"] = model([dict(TWO[0], activation="softplus"), TWO[1]],
                                              arch_extra={"activation": "elu", "elu_alpha": 0.7})
    c["truncated_raw.model"] = model(TINY, cut=6)
    c["trailing_raw.model"] = model(TINY, add=b"\xff\xff")
    c["truncated_safetensors.model"] = model(TINY, fmt="safetensors", cut=30)
    # Regression (UBSan): an empty weights file is not mapped (map == NULL) and
    # weights.c computes NULL + 0 for the data region (found by fuzz_model).
    c["empty_blob.model"] = jdump(manifest(TINY, {"format": "raw", "file": "w.bin", "tensors": {}})) + b"\n--\n"
    c["no_separator.model"] = jdump(manifest(TINY, {"format": "raw", "file": "w.bin", "tensors": {}}))
    c["gauss_learned_scalar.model"] = _learned_scalar()
    # The families beyond the VAE (DRAW with and without attention, MLP and
    # DCGAN generators, the VRNN and its ablations): the golden cases' files,
    # weights renamed w.bin, so mutations start from every family's parser.
    for case in ("vrnn_gru", "vrnn_rnn_lstm", "vrnn_gauss_lstm", "vrnn_gmm_gru", "vrnn_i_gru",
                 "draw_full", "draw_attn", "draw_attn_n1", "gan_mlp", "gan_linear", "gan_dcgan"):
        d = os.path.join(os.path.dirname(CORPUS), "..", "tests", "golden", case)
        with open(os.path.join(d, "model.json"), "rb") as f:
            man = json.loads(f.read())
        man["weights"]["file"] = "w.bin"
        man.pop("provenance", None)
        with open(os.path.join(d, "model.safetensors"), "rb") as f:
            c[case + ".model"] = jdump(man) + b"\n--\n" + f.read()
    return c


def _learned_scalar():
    """Gaussian, learned variance with dec1.logvar of shape [1]."""
    t = vae_tensors(4, TINY) + [("dec1.logvar", [1])]
    tab, data = table_and_data(t)
    w = {"format": "raw", "file": "w.bin", "tensors": tab}
    return jdump(manifest(TINY, w, GAUSS_LEARNED)) + b"\n--\n" + data

# ---------------------------------------------------------------------------
# fuzz_png


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def scanlines(pix, ctype, depth, filters):
    """pix: rows of pixels, each a tuple of samples. Filtered scanlines."""
    ch = CHANNELS[ctype]
    bpp = max(1, ch * depth // 8)
    out, prior = bytearray(), None
    for y, row in enumerate(pix):
        raw = bytearray()
        if depth < 8:
            bits, nbits = 0, 0
            for p in row:
                bits = (bits << depth) | p[0]
                nbits += depth
                if nbits == 8:
                    raw.append(bits)
                    bits, nbits = 0, 0
            if nbits:
                raw.append(bits << (8 - nbits))
        else:
            for p in row:
                for s in p:
                    raw += struct.pack(">H", s) if depth == 16 else bytes([s])
        f = filters[y % len(filters)]
        prior_row = prior if prior is not None else bytearray(len(raw))
        line = bytearray()
        for i, v in enumerate(raw):
            a = raw[i - bpp] if i >= bpp else 0
            b = prior_row[i]
            c = prior_row[i - bpp] if i >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][f]
            line.append((v - pred) & 0xFF)
        out += bytes([f]) + line
        prior = raw
    return bytes(out)


def png(w, h, ctype, depth, pixel, interlace=0, plte=None, trns=None, filters=(0,), idat_split=1,
        extra=b"", iend=True):
    pix = [[pixel(x, y) for x in range(w)] for y in range(h)]
    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            sub = [row[x0::dx] for row in pix[y0::dy]]
            if sub and sub[0]:
                raw += scanlines(sub, ctype, depth, filters)
    else:
        raw = scanlines(pix, ctype, depth, filters)
    z = zlib.compress(raw, 9)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace))
    out += extra
    if plte is not None:
        out += chunk(b"PLTE", bytes(v for rgb in plte for v in rgb))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    step = (len(z) + idat_split - 1) // idat_split
    for i in range(0, len(z), step):
        out += chunk(b"IDAT", z[i:i + step])
    if iend:
        out += chunk(b"IEND", b"")
    return out


def corpus_png():
    c = {}
    mx = lambda d: (1 << d) - 1  # noqa: E731
    g = lambda d: (lambda x, y: ((x * 3 + y * 5) % (mx(d) + 1),))  # noqa: E731
    rgb = lambda x, y: ((x * 40) % 256, (y * 60) % 256, ((x + y) * 25) % 256)  # noqa: E731
    pal4 = [(0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]
    c["gray8.png"] = png(5, 4, 0, 8, g(8), filters=(0, 1, 2, 3, 4))
    for d in (1, 2, 4):
        c["gray%d.png" % d] = png(9, 3, 0, d, g(d))
    c["gray16.png"] = png(4, 3, 0, 16, lambda x, y: ((x * 9000 + y * 300) % 65536,), filters=(4, 3))
    c["gray_alpha8.png"] = png(4, 3, 4, 8, lambda x, y: (x * 50, y * 80), filters=(1, 2))
    c["gray_alpha16.png"] = png(3, 3, 4, 16, lambda x, y: (x * 20000, 65535 - y * 9000))
    c["rgb8.png"] = png(4, 3, 2, 8, rgb, filters=(0, 1, 2, 3, 4))
    c["rgb16.png"] = png(3, 2, 2, 16, lambda x, y: (x * 30000, y * 50000, 12345), filters=(4,))
    c["rgba8.png"] = png(3, 3, 6, 8, lambda x, y: rgb(x, y) + (x * 100,), filters=(3,))
    c["rgba16.png"] = png(2, 2, 6, 16, lambda x, y: (x * 60000, y * 60000, 7, 65535))
    c["palette8.png"] = png(4, 4, 3, 8, lambda x, y: ((x + y) % 5,), plte=pal4)
    for d in (1, 2, 4):
        c["palette%d.png" % d] = png(10, 2, 3, d, lambda x, y, d=d: ((x + y) % min(5, 1 << d),), plte=pal4)
    c["palette_trns.png"] = png(4, 2, 3, 8, lambda x, y: ((x + y) % 5,), plte=pal4, trns=b"\x00\x80")
    c["gray_trns.png"] = png(3, 3, 0, 8, g(8), trns=b"\x00\x05")
    c["rgb_trns.png"] = png(3, 2, 2, 8, rgb, trns=b"\x00\x00\x00\x28\x00\x3c")
    c["interlaced_gray8.png"] = png(9, 9, 0, 8, g(8), interlace=1, filters=(1, 4))
    c["interlaced_rgb8.png"] = png(8, 5, 2, 8, rgb, interlace=1, filters=(2, 3))
    c["interlaced_palette4.png"] = png(7, 7, 3, 4, lambda x, y: ((x * y) % 5,), plte=pal4, interlace=1)
    c["interlaced_gray1.png"] = png(11, 3, 0, 1, g(1), interlace=1)
    c["interlaced_rgba16.png"] = png(3, 3, 6, 16, lambda x, y: (x, y, x * y, 65535), interlace=1)
    c["one_pixel.png"] = png(1, 1, 0, 8, lambda x, y: (200,))
    c["split_idat.png"] = png(6, 6, 2, 8, rgb, idat_split=3)
    c["ancillary.png"] = png(3, 2, 0, 8, g(8), extra=chunk(b"gAMA", struct.pack(">I", 45455)) +
                             chunk(b"tEXt", b"Comment\0varia seed"))
    good = c["rgb8.png"]
    c["truncated.png"] = good[:-20]
    c["header_only.png"] = good[:33]
    bad = bytearray(good)
    bad[-16] ^= 0xFF  # inside the IDAT data: its CRC no longer matches
    c["bad_crc.png"] = bytes(bad)
    c["no_iend.png"] = png(3, 2, 0, 8, g(8), iend=False)
    c["wide.png"] = png(1, 1, 0, 8, lambda x, y: (1,))[:16] + struct.pack(">II", 16385, 1) + \
        png(1, 1, 0, 8, lambda x, y: (1,))[24:]  # declared 16385 x 1 (CRC now wrong)
    ihdr = struct.pack(">IIBBBBB", 4096, 4096, 8, 2, 0, 0, 0)
    c["lying_size.png"] = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + \
        chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    ihdr = struct.pack(">IIBBBBB", 0, 3, 8, 0, 0, 0, 0)
    c["zero_width.png"] = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")
    ihdr = struct.pack(">IIBBBBB", 3, 3, 3, 0, 0, 0, 0)
    c["bad_depth.png"] = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")
    c["palette_index_oob.png"] = png(4, 2, 3, 8, lambda x, y: (x,), plte=pal4[:2])
    c["palette_missing.png"] = png(4, 2, 3, 8, lambda x, y: (0,))
    c["not_png.png"] = b"GIF89a\x01\x00\x01\x00"
    # Regression (OOM): libpng 1.6.39 allocates an ancillary text chunk's
    # declared length + 1 before reading it, so a 60-byte file asks for 1-2 GiB
    # (found by fuzz_png; loaders/png.c does not limit ancillary chunks).
    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 3, 2, 8, 0, 0, 0, 0))
    c["regress_text_chunk_1gib.png"] = head + struct.pack(">I", 0x40000012) + b"tEXtComment\0varia"
    c["regress_ztxt_chunk_2gib.png"] = head + struct.pack(">I", 0x7FFFFF00) + b"zTXtk\0\0x\xda"
    return c

# ---------------------------------------------------------------------------
# fuzz_dataset


def idx(n, h, w, magic=0x803, count=None, extra=b"", cut=0):
    body = bytes(((i * 37) % 256) for i in range(n * h * w))
    out = struct.pack(">IIII", magic, n if count is None else count, h, w) + body + extra
    return out[:-cut] if cut else out


def gz(data):
    return gzip.compress(data, 9, mtime=0)


def corpus_dataset():
    c = {}
    c["idx_2x3x3"] = idx(2, 3, 3)  # labels: count 2 % 4 == 2 -> wrong count
    c["idx_4x2x2"] = idx(4, 2, 2)  # labels valid
    c["idx_5x2x3"] = idx(5, 2, 3)  # labels valid
    c["idx_3x2x2"] = idx(3, 2, 2)  # labels truncated
    c["idx_1x1x1"] = idx(1, 1, 1)
    c["idx_2x3x3.gz"] = gz(idx(2, 3, 3))
    c["idx_lying_count"] = idx(2, 3, 3, count=1000)
    c["idx_lying_huge"] = idx(2, 3, 3, count=0xFFFFFFFF)
    c["idx_extra_bytes"] = idx(2, 3, 3, extra=b"\0\0\0")
    c["idx_truncated"] = idx(2, 3, 3, cut=4)
    c["idx_zero_dim"] = struct.pack(">IIII", 0x803, 2, 0, 3)
    c["idx_side_too_big"] = struct.pack(">IIII", 0x803, 1, 16385, 1) + b"\0" * 16
    c["idx_header_short"] = struct.pack(">III", 0x803, 1, 2)
    c["idx_labels_file"] = struct.pack(">II", 0x801, 3) + b"\x01\x02\x03"
    c["idx_other_magic"] = struct.pack(">IIII", 0x0C03, 1, 1, 1) + b"\0\0\0\0"
    amat = b"0 1 0 1\n1 1 0 0\n0 0 0 1\n1 0 1 0\n"
    c["amat_4x4"] = amat
    c["amat_4x4.gz"] = gz(amat)
    c["amat_crlf_decimals"] = b"0.5 0.25 1.0\r\n.5 +0.125 1e-1\r\n0 5E-2 1.\r\n\n\n"
    c["amat_one_line"] = b"0 1 0 1 0 1 0 1 0"
    c["amat_square_9"] = b" ".join(b"%d" % (i % 2) for i in range(9)) + b"\n"
    c["amat_ragged"] = b"0 1 0\n1 1\n0 0 0\n"
    c["amat_out_of_range"] = b"0 1 0\n1 1.5 0\n"
    c["amat_negative_zero"] = b"-0 0 1\n1 -0.0 0\n"
    c["amat_bad_token"] = b"0 1 0\n1 x 0\n"
    c["amat_exponent_big"] = b"1e-9999 1e0 0e9999\n0 0 0\n"
    c["amat_blank_line"] = b"0 1\n\n1 0\n"
    c["amat_tabs"] = b"0\t1\t1\n1\t0\t0\n"
    c["gz_truncated"] = gz(amat)[:-6]
    bad = bytearray(gz(amat))
    bad[-8] ^= 0xFF  # CRC32 of the data
    c["gz_bad_crc"] = bytes(bad)
    c["gz_two_members"] = gz(b"0 1 0 1\n") + gz(b"1 1 0 0\n")
    c["gz_garbage_after"] = gz(amat) + b"\x00\x01garbage"
    c["gz_empty"] = gz(b"")
    c["unknown_format"] = b"hello\n"
    # Regression (OOM): load_amat allocates lines x (values on line 1) floats
    # before checking the other lines: 103 bytes of gzip (65 KB of text: 16384
    # values, then 32767 empty lines and a "0") ask for malloc(2 GiB).
    c["regress_amat_alloc_2gib.gz"] = gz(b"0 " * 16384 + b"\n" * 32767 + b"0\n")
    return c

# fuzz_npz: sequence datasets (.npz, .npy; "NPZ:" recipes the harness archives)


def npy(descr, shape, data, version=1, fortran=False):
    """An .npy file as numpy.lib.format writes it (header padded to 64)."""
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (
        descr, fortran, "".join("%d, " % n for n in shape).rstrip(" ") if len(shape) != 1
        else "%d," % shape[0])
    pre = 10 if version == 1 else 12
    text = d.encode("utf-8")
    hl = (pre + len(text) + 1 + 63) // 64 * 64 - pre
    head = text + b" " * (hl - len(text) - 1) + b"\n"
    size = struct.pack("<H", hl) if version == 1 else struct.pack("<I", hl)
    return b"\x93NUMPY" + bytes([version, 0]) + size + head + data


def npz(members, method=zipfile.ZIP_DEFLATED):
    """An archive as numpy.savez lays it out (zip64 extra fields), fixed dates."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            with z.open(info, "w", force_zip64=True) as f:
                f.write(data)
    return buf.getvalue()


def seq_x(descr="|u1", frames=6, dim=3):
    fmt = {"|u1": "B", "|b1": "B", "<f4": "<f", ">i2": ">h", "<f8": "<d", "<i8": "<q"}[descr]
    vals = [(7 * k) % 11 if descr != "|b1" else k % 3 == 0 for k in range(frames * dim)]
    return npy(descr, (frames, dim), b"".join(struct.pack(fmt, v) for v in vals))


def seq_lengths(lengths, descr="<i8"):
    fmt = {"<i8": "<q", "<i4": "<i", "|u1": "B", "<f8": "<d", ">i8": ">q"}[descr]
    return npy(descr, (len(lengths),), b"".join(struct.pack(fmt, v) for v in lengths))


def zip64_end(z):
    """The archive z with zip64 end records inserted and its end record saturated."""
    end = z.rindex(b"PK\x05\x06")
    n, size, off = struct.unpack("<HII", z[end + 10:end + 20])
    rec = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, size, off)
    loc = struct.pack("<IIQI", 0x07064B50, 0, end, 1)
    sat = struct.pack("<HHII", 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    return z[:end] + rec + loc + z[end:end + 8] + sat + z[end + 20:]


def corpus_npz():
    c = {}
    x, l = seq_x(), seq_lengths([2, 4])
    c["npz_u1_deflate"] = npz([("x.npy", x), ("lengths.npy", l)])
    c["npz_u1_stored"] = npz([("x.npy", x), ("lengths.npy", l)], zipfile.ZIP_STORED)
    c["npz_f4_i4"] = npz([("x.npy", seq_x("<f4")), ("lengths.npy", seq_lengths([1, 2, 3], "<i4"))])
    c["npz_be_i2_u1"] = npz([("x.npy", seq_x(">i2")), ("lengths.npy", seq_lengths([6], "|u1"))],
                            zipfile.ZIP_STORED)
    c["npz_b1"] = npz([("x.npy", seq_x("|b1")), ("lengths.npy", seq_lengths([3, 3], ">i8"))])
    c["npz_missing_lengths"] = npz([("x.npy", x)])
    c["npz_extra_member"] = npz([("x.npy", x), ("lengths.npy", l), ("y.npy", l)], zipfile.ZIP_STORED)
    c["npz_bad_sum"] = npz([("x.npy", x), ("lengths.npy", seq_lengths([2, 3]))])
    c["npz_truncated"] = c["npz_u1_deflate"][:-30]
    bad = bytearray(c["npz_u1_stored"])
    bad[14] ^= 1  # the first member's CRC in its local header
    c["npz_bad_crc"] = bytes(bad)
    c["npz_zip64_end"] = zip64_end(c["npz_u1_stored"])
    c["npz_comment"] = c["npz_u1_stored"][:-2] + struct.pack("<H", 7) + b"comment"
    sep = b"\n--\n"
    c["recipe_u1"] = b"NPZ:" + x + sep + l
    c["recipe_f8_fortran"] = b"NPZ:" + npy("<f8", (3, 2), struct.pack("<6d", *range(6)),
                                            fortran=True) + sep + seq_lengths([1, 2])
    c["recipe_v2_v3"] = b"NPZ:" + npy("<f4", (2, 2), struct.pack("<4f", 0, 1, 2, 3), 2) + sep + \
        npy("<i8", (1,), struct.pack("<q", 2), 3)
    c["recipe_negative"] = b"NPZ:" + x + sep + seq_lengths([-2, 8])
    c["recipe_float_lengths"] = b"NPZ:" + x + sep + seq_lengths([2, 4], "<f8")
    c["recipe_lying_shape"] = b"NPZ:" + seq_x(frames=6)[:-3] + sep + l
    # Regression (UBSan, signed overflow): read_lengths added a refused
    # length to the running sum before leaving its loop (found by fuzz_npz).
    c["regress_lengths_sum_overflow"] = b"NPZ:" + x + sep + seq_lengths(
        [4478548354443247617, 5764607523036805225])
    c["npy_v1"] = npy("<f4", (2, 3, 2), struct.pack("<12f", *range(12)))
    c["npy_v2_big"] = npy(">f8", (1, 2, 2), struct.pack(">4d", 0.5, 1, 2, 3), 2)
    c["npy_v3_fortran"] = npy("<i2", (2, 2, 3), struct.pack("<12h", *range(12)), 3, fortran=True)
    c["npy_nan"] = npy("<f4", (1, 1, 2), struct.pack("<2f", 0, float("nan")))
    c["npy_rank2"] = npy("|u1", (2, 3), bytes(6))
    c["npy_huge_shape"] = npy("|u1", (1 << 40, 1 << 40, 1), b"")
    c["idx_images_2x3x4"] = struct.pack(">IIII", 0x803, 2, 3, 4) + bytes(range(0, 240, 10))
    return c

# fuzz_train_config: a training configuration; tiny.amat (6 x 6) is beside it


def corpus_train_config():
    arch1 = {"activation": "tanh", "likelihood": {"type": "bernoulli"},
             "layers": [{"latent": 2, "encoder": [4], "decoder": [4]}]}
    arch2 = {"likelihood": {"type": "bernoulli"},
             "layers": [{"latent": 3, "encoder": [4], "decoder": []}, {"latent": 2, "encoder": [], "decoder": [3]}]}
    gauss = {"activation": "identity", "likelihood": {"type": "gaussian", "variance": "learned"},
             "layers": [{"latent": 2, "encoder": [], "decoder": []}]}
    base = {"architecture": arch1, "data": {"train": "tiny.amat", "validation": 2, "binarize": "none"},
            "batch": 2, "output": "out"}
    full = dict(base, objective={"kind": "iwae", "k": 3, "warmup_start": 0.2, "warmup_steps": 10},
                optimizer={"kind": "sgd", "lr": 0.01, "momentum": 0.9, "clip": 5},
                schedule={"kind": "iwae", "stages": 3, "epoch_scale": 0.5}, shards=2, seed=7, init="he",
                output_bias_from_data=False, validation={"every": 1, "k": 5, "patience": 2}, checkpoint_every=2)
    c = {
        "minimal": base,
        "full": full,
        "two_layers_mc": dict(base, architecture=arch2, objective={"kind": "elbo", "kl": "monte_carlo", "k": 2}),
        "free_bits": dict(base, objective={"kind": "elbo", "kl": "analytic", "free_bits": 0.5},
                          schedule={"kind": "step", "epochs": 4, "every": 2, "gamma": 0.5}),
        "gaussian": dict(base, architecture=gauss, data={"train": "tiny.amat", "binarize": "none"},
                         schedule={"kind": "exponential", "epochs": 3, "gamma": 0.9}),
        "unknown_key": dict(base, batchsize=3),
        "huge_k": dict(base, objective={"kind": "iwae", "k": 100000}, batch=4),
        "two_layers_analytic": dict(base, architecture=arch2),
        "missing_data": dict(base, data={"train": "nope.amat"}),
    }
    out = {name: jdump(cfg) for name, cfg in c.items()}
    out["strict_dup_batch"] = jdump(base).replace(b'"batch":2', b'"batch":2,"batch":3', 1)
    out["strict_leading_zero"] = jdump(base).replace(b'"batch":2', b'"batch":02', 1)
    out["strict_nul_string"] = jdump(base).replace(b'"out"', b'"out\\u0000x"', 1)
    out["truncated"] = jdump(full)[:70]
    out["not_object"] = b"[1, 2, 3]"
    return out

# ---------------------------------------------------------------------------


def write(name, files):
    """Write the generated seeds into the corpus folder, overwriting earlier
    versions of them. Other files there are kept: seeds added by hand and the
    inputs of fixed crashes are corpus too, and this script did not make them."""
    d = os.path.join(CORPUS, name)
    os.makedirs(d, exist_ok=True)
    for fname, data in sorted(files.items()):
        assert len(data) < 20000, fname
        with open(os.path.join(d, fname), "wb") as f:
            f.write(data)
    return len(files), sum(len(v) for v in files.values())


# fuzz_memory: fuzz_model's input format, through varia_model_load_memory
# (and, when the manifest names w.bin, compared with the file loader): a
# subset of fuzz_model's seeds, one per kind of weights and family.
def corpus_memory():
    model = corpus_model()
    keep = ("tiny_raw_f32.model", "tiny_raw_f16.model", "tiny_safetensors.model", "two_layer_raw.model",
            "gauss_learned_raw.model", "truncated_raw.model", "trailing_raw.model",
            "truncated_safetensors.model", "empty_blob.model", "no_separator.model", "gan_linear.model",
            "vrnn_i_gru.model", "draw_attn_n1.model")
    return {name: model[name] for name in keep}


def main():
    total = 0
    for name, fn in [("fuzz_safetensors", corpus_safetensors), ("fuzz_manifest", corpus_manifest),
                     ("fuzz_model", corpus_model), ("fuzz_png", corpus_png),
                     ("fuzz_dataset", corpus_dataset), ("fuzz_train_config", corpus_train_config),
                     ("fuzz_npz", corpus_npz), ("fuzz_memory", corpus_memory)]:
        n, size = write(name, fn())
        total += size
        print("%-17s %3d files, %6d bytes" % (name, n, size))
    assert total < 1 << 20
    print("total %d bytes" % total)


if __name__ == "__main__":
    main()
