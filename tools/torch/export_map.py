"""The export spec's tensor mapping: the format's tensors built from a user's state_dict.

A spec (a JSON-compatible dict, see tools/torch/README.md) maps each tensor name of
the varia format to a *rule* that says where its values come from:

    "enc1.hidden.0.weight": "fc1.weight"                       # copied as is
    "enc1.mean.weight":  {"from": "encoder.2.weight", "chunk": [0, 2]}
    "enc1.scale.bias":   {"from": "encoder.2.bias", "chunk": [1, 2]}
    "dec1.out.weight":   {"from": "proj", "transpose": true}   # stored [in, out]
    "dec1.logvar":       {"from": "log_sigma", "reshape": [1], "scale": 2.0}
    "dec1.hidden.0.bias": {"zeros": [400]}                     # a Linear without bias

Transforms apply in this order: select ("chunk": [i, n] takes the i-th of n equal
parts, "slice": [begin, end]; both along "dim", default 0), "transpose" (reverses
the axes, or "permute": [axes]), "reshape", "scale" (multiply), "shift" (add).
Nothing here knows a family: the rules serve any tensor of any future family
(flows, conv, GAN, DRAW, VRNN). Every source tensor must be used by some rule or
listed in the spec's "ignore"; a source used by no rule is refused by name, so a
layer the format cannot express never disappears silently.
"""
import numpy as np

RULE_KEYS = {"from", "chunk", "slice", "dim", "transpose", "permute", "reshape",
             "scale", "shift", "zeros"}


class ExportError(Exception):
    """A refusal: the model cannot be written as the spec says. The message names
    the tensor at fault (the format's name, the source's name, or both)."""


def normalize_rule(name, rule):
    """A rule as a dict: a bare string is {"from": string}. Unknown keys are refused."""
    if isinstance(rule, str):
        return {"from": rule}
    if not isinstance(rule, dict):
        raise ExportError("%s: a rule is a source name or an object, not %r" % (name, rule))
    unknown = sorted(set(rule) - RULE_KEYS)
    if unknown:
        raise ExportError("%s: unknown rule key %r (known: %s)"
                          % (name, unknown[0], ", ".join(sorted(RULE_KEYS))))
    if ("from" in rule) == ("zeros" in rule):
        raise ExportError("%s: a rule needs exactly one of \"from\" and \"zeros\"" % name)
    return rule


def describe(rule):
    """A short human description of a rule, for messages."""
    if "zeros" in rule:
        return "zeros %s" % list(rule["zeros"])
    extra = [k + " " + str(rule[k]) for k in ("chunk", "slice", "transpose", "permute",
                                             "reshape", "scale", "shift") if k in rule]
    return rule["from"] + (" (" + ", ".join(extra) + ")" if extra else "")


def select(name, rule, a):
    """Apply "chunk" or "slice" along "dim" (default 0)."""
    dim = int(rule.get("dim", 0))
    if "chunk" not in rule and "slice" not in rule:
        return a
    if not -a.ndim <= dim < a.ndim:
        raise ExportError("%s: dim %d out of range for %s of shape %s"
                          % (name, dim, rule["from"], list(a.shape)))
    size = a.shape[dim]
    if "chunk" in rule:
        i, n = (int(v) for v in rule["chunk"])
        if n <= 0 or not 0 <= i < n or size % n:
            raise ExportError("%s: cannot take part %d of %d along dim %d of %s, shape %s"
                              % (name, i, n, dim, rule["from"], list(a.shape)))
        begin, end = i * size // n, (i + 1) * size // n
    else:
        begin, end = (int(v) for v in rule["slice"])
        if not 0 <= begin < end <= size:
            raise ExportError("%s: slice [%d, %d) out of range for dim %d of %s, shape %s"
                              % (name, begin, end, dim, rule["from"], list(a.shape)))
    return np.take(a, np.arange(begin, end), axis=dim)


def apply_rule(name, rule, sources):
    """The float32 array a rule gives for format tensor `name`, from `sources`
    ({source name: array}). Raises ExportError naming `name` and the source."""
    if "zeros" in rule:
        return np.zeros([int(s) for s in rule["zeros"]], dtype=np.float32)
    src = rule["from"]
    if src not in sources:
        raise ExportError("%s: its source %r is not in the model's state_dict" % (name, src))
    a = select(name, rule, np.asarray(sources[src], dtype=np.float32))
    if rule.get("transpose"):
        a = a.T
    if "permute" in rule:
        a = np.transpose(a, [int(p) for p in rule["permute"]])
    if "reshape" in rule:
        shape = [int(s) for s in rule["reshape"]]
        if int(np.prod(shape)) != a.size:
            raise ExportError("%s: cannot reshape %s (%d values) to %s"
                              % (name, describe(rule), a.size, shape))
        a = a.reshape(shape)
    a = a * np.float32(rule.get("scale", 1.0)) + np.float32(rule.get("shift", 0.0))
    return np.ascontiguousarray(a, dtype=np.float32)


def map_tensors(sources, tensors, ignore=(), owners=None):
    """Build every format tensor of `tensors` ({format name: rule}) from `sources`.

    Returns (arrays, origins): {format name: float32 array} and {format name: rule
    description}. Refuses (ExportError) a source that no rule uses and `ignore` does
    not list, naming it (and its module's type from `owners`, {source: type name}),
    since it would vanish from the exported model.
    """
    arrays, origins, used = {}, {}, set()
    for name in sorted(tensors):
        rule = normalize_rule(name, tensors[name])
        arrays[name] = apply_rule(name, rule, sources)
        origins[name] = describe(rule)
        if "from" in rule:
            used.add(rule["from"])
    missing_ignored = sorted(set(ignore) - set(sources))
    if missing_ignored:
        raise ExportError("ignore lists %r, which is not in the model's state_dict"
                          % missing_ignored[0])
    unused = [s for s in sources if s not in used and s not in set(ignore)]
    if unused:
        owner = (owners or {}).get(unused[0])
        raise ExportError("%s (shape %s%s): no tensor of the format is made from it; the "
                          "model has a part the spec does not map (list it under \"ignore\" "
                          "only if the model's output does not depend on it)"
                          % (unused[0], list(np.shape(sources[unused[0]])),
                             ", in a " + owner if owner else ""))
    return arrays, origins


def check_shapes(arrays, origins, expected):
    """Compare built tensors with the shapes the architecture needs.

    `expected` is {format name: shape, or a list of allowed shapes}. Missing,
    unexpected and mis-shaped tensors are refused by name, with their source.
    """
    for name in sorted(expected):
        if name not in arrays:
            raise ExportError("%s: the architecture needs it (shape %s) and the spec does "
                              "not map it" % (name, list(first_shape(expected[name]))))
    for name in sorted(arrays):
        if name not in expected:
            raise ExportError("%s (from %s): the architecture has no such tensor"
                              % (name, origins[name]))
        allowed = expected[name]
        allowed = allowed if allowed and isinstance(allowed[0], (list, tuple)) else [allowed]
        if list(arrays[name].shape) not in [list(s) for s in allowed]:
            raise ExportError("%s: shape %s (from %s), the architecture needs %s"
                              % (name, list(arrays[name].shape), origins[name],
                                 " or ".join(str(list(s)) for s in allowed)))


def first_shape(allowed):
    """The first shape of an expected entry (one shape or a list of shapes)."""
    return allowed[0] if allowed and isinstance(allowed[0], (list, tuple)) else allowed
