#!/usr/bin/python3
"""Write the NumPy fixtures of tests/test_loaders_seq.c into tests/npy/ with
numpy itself (run: /usr/bin/python3 tools/make_npy_fixtures.py; outputs are
committed, so the tests never need numpy). The values follow one rule the
test recomputes: element k (C order) of x is
    bool: k % 3 == 0;  unsigned: (7k) % 11;  signed: (7k) % 11 - 5;
    float: ((7k) % 11 - 5) / 4.
  - dtype_<code>.npz: x [6, 3] of each dtype varia reads (np.savez, stored,
    for even table rows; np.savez_compressed, deflate, for odd ones) and
    lengths [2, 4] of a varying integer dtype;
  - v1.npy, v2.npy, v3.npy: [2, 3, 4] float32 sequences at each format version;
  - fortran.npy: [2, 3, 4] int16 in Fortran order; fortran_x.npz: x [6, 3]
    float64 in Fortran order, lengths [1, 5];
  - big.npy: [2, 3, 4] big-endian float64.
numpy stamps .npz members with the current time, so a rerun changes those
bytes (only the zip dates); the arrays stay the same."""

import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "npy")
DTYPES = ["|b1", "|i1", "|u1", "<i2", "<i4", "<i8", "<u2", "<u4", "<u8", "<f4", "<f8",
          ">i2", ">i4", ">i8", ">u2", ">u4", ">u8", ">f4", ">f8"]
LENGTH_DTYPES = ["<i8", "<i4", "<u2", ">i8", "|u1", "<u8"]


def values(shape, dtype):
    k = np.arange(int(np.prod(shape)), dtype=np.int64)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        v = k % 3 == 0
    elif dt.kind == "u":
        v = (7 * k) % 11
    elif dt.kind == "i":
        v = (7 * k) % 11 - 5
    else:
        v = ((7 * k) % 11 - 5) / 4.0
    return v.astype(dt).reshape(shape)


def main():
    os.makedirs(OUT, exist_ok=True)
    for i, code in enumerate(DTYPES):
        name = "dtype_%s%s.npz" % ("be_" if code[0] == ">" else "", code[1:])
        lengths = np.array([2, 4], dtype=LENGTH_DTYPES[i % len(LENGTH_DTYPES)])
        save = np.savez if i % 2 == 0 else np.savez_compressed
        save(os.path.join(OUT, name), x=values((6, 3), code), lengths=lengths)
    seq = values((2, 3, 4), "<f4")
    for v in (1, 2, 3):
        with open(os.path.join(OUT, "v%d.npy" % v), "wb") as f:
            np.lib.format.write_array(f, seq, version=(v, 0))
    np.save(os.path.join(OUT, "fortran.npy"), np.asfortranarray(values((2, 3, 4), "<i2")))
    np.savez_compressed(os.path.join(OUT, "fortran_x.npz"),
                        x=np.asfortranarray(values((6, 3), "<f8")), lengths=np.array([1, 5]))
    np.save(os.path.join(OUT, "big.npy"), values((2, 3, 4), ">f8"))


if __name__ == "__main__":
    main()
