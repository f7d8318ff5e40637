"""Family-agnostic parts of the exporter's final check: run the built `varia` command
on an exported model and compare what it prints with what PyTorch computed.

Nothing here knows a family; export_vae.py (and the coming families' modules) say
which commands to run and what PyTorch should give.
"""
import json
import os
import shutil
import subprocess

import numpy as np

from export_map import ExportError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def find_varia(path=None):
    """The varia binary to check with: `path`, else $VARIA, else build/varia of this
    repository, else `varia` on PATH. Raises ExportError if none is executable."""
    for cand in (path, os.environ.get("VARIA"), os.path.join(ROOT, "build", "varia"),
                 shutil.which("varia")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
        if cand and cand == path:
            raise ExportError("--varia %s: not an executable file" % path)
    raise ExportError("no varia binary for the final check: build it (meson setup build "
                      "&& ninja -C build), or pass --varia PATH (--no-check skips the check)")


def run_varia(varia, args):
    """Run `varia ARGS...`; return its stdout parsed as JSON.

    A failure (non-zero exit, output that is not JSON) is an ExportError quoting
    varia's own message, which names the tensor or key it refused.
    """
    proc = subprocess.run([varia] + list(args), capture_output=True, text=True)
    if proc.returncode != 0:
        raise ExportError("varia refused the exported model (exit %d): %s"
                          % (proc.returncode, proc.stderr.strip() or proc.stdout.strip()))
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise ExportError("varia %s printed no JSON: %r" % (args[0], proc.stdout[:200]))


def latent_arg(z):
    """A latent vector as the CLI's `z:v1,v2,...` argument, exact for float32."""
    return "z:" + ",".join("%.9g" % float(v) for v in z)


def write_amat(path, rows):
    """Write examples (values in [0, 1]) as a text .amat dataset the CLI reads,
    each value with 9 significant digits (exact for float32)."""
    with open(path, "w", encoding="ascii") as f:
        for row in rows:
            f.write(" ".join("%.9g" % float(v) for v in row) + "\n")


def relative_error(got, want):
    """max |got - want| / max |want| (the max-norm relative error), 0 for equal zeros."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    diff = float(np.max(np.abs(got - want))) if want.size else 0.0
    return diff / scale if scale > 0 else diff


def compare(what, got, want, rtol):
    """Refuse (ExportError) if varia's `got` differs from PyTorch's `want` by more than
    rtol in max-norm relative error; the message names `what` and the worst element.
    Returns the relative error."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        raise ExportError("%s: varia gives %d values, PyTorch %d"
                          % (what, got.size, want.size))
    err = relative_error(got, want)
    if not err <= rtol:
        i = int(np.argmax(np.abs(got - want)))
        raise ExportError("%s differs: element %d is %.7g in varia and %.7g in PyTorch "
                          "(relative error %.3g > %.3g)"
                          % (what, i, got.flat[i], want.flat[i], err, rtol))
    return err
