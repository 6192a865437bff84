"""Score one re-initialized export against torch's truth.

Every float constant of the ONNX model (initializers and Constant values, in
subgraphs too) is classified from the truth file by name, then by value:
equal to a parameter (or its transpose), or to rounding to a weight a
reparametrization computes from parameters (weight norm) -> a parameter; all of its values
taken from one parameter (a folded slice or gather) -> derived from a
parameter; the same against buffers; BatchNorm running stats; anything else is
an exporter constant.  Then, after re-initialization:
  parameters and derived ones: changed, finite, |v| <= 10, and a
      derived one keeps its equality pattern (equal before -> equal after);
  copies of one parameter (ties): still equal (or transposed) after;
  running stats: mean 0, var 1;  buffers and exporter constants: byte-identical.
"""
import numpy as np
import onnx
from onnx import numpy_helper

FLOAT = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE,
         onnx.TensorProto.BFLOAT16}


def _graph_tensors(g, scope, out):
    for t in g.initializer:
        out.append((scope + t.name, t))
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR and n.op_type == "Constant":
                out.append((scope + (n.output[0] if n.output else n.name), a.t))
            if a.type == onnx.AttributeProto.GRAPH:
                _graph_tensors(a.g, scope + n.name + "/" + a.name + "/", out)
            for sg in a.graphs:
                _graph_tensors(sg, scope + n.name + "/" + a.name + "/", out)


def float_tensors(model):
    """[(key, TensorProto)] of every float tensor, in a stable order."""
    out = []
    _graph_tensors(model.graph, "", out)
    for f in model.functions:
        for n in f.node:
            for a in n.attribute:
                if a.type == onnx.AttributeProto.TENSOR and n.op_type == "Constant":
                    out.append(("fn:" + f.name + "/" + n.output[0], a.t))
    return [(k, t) for k, t in out if t.data_type in FLOAT]


def _values(t):
    return numpy_helper.to_array(t).astype(np.float64)


def classify(tensors, truth):
    """key -> (kind, truth name); kind in param, param_derived, stat, buffer, constant."""
    params = {k[2:]: v.astype(np.float64) for k, v in truth.items() if k.startswith("p/")}
    bufs = {k[2:]: v.astype(np.float64) for k, v in truth.items() if k.startswith("b/")}
    stats = {k[2:]: v.astype(np.float64) for k, v in truth.items() if k.startswith("s/")}
    computed = {k[2:]: v.astype(np.float64) for k, v in truth.items() if k.startswith("c/")}
    sets = {n: np.unique(v) for n, v in params.items() if v.size >= 2}
    everything = np.unique(np.concatenate([v.ravel() for v in params.values()])) if params else None
    bsets = {n: np.unique(v) for n, v in bufs.items() if v.size >= 2}
    out = {}
    for key, t in tensors:
        v = _values(t)
        flat = v.ravel()
        found = None
        # by name first: an exporter that keeps torch's names (training-mode exports run a
        # forward pass, so running stats no longer hold the values they started from)
        for kind, table in (("param", params), ("stat", stats), ("buffer", bufs)):
            if key in table and table[key].size == v.size:
                found = (kind, key)
                break
        for kind, table in (("param", params), ("stat", stats), ("buffer", bufs)):
            if found:
                break
            for n, p in table.items():
                if p.size != v.size:
                    continue
                if np.array_equal(p.ravel(), flat) or (
                        p.ndim == 2 and v.squeeze().ndim == 2 and
                        np.array_equal(p.T.ravel(), flat)):
                    found = (kind, n)
                    break
            if found:
                break
        for n, p in computed.items():   # folded by the exporter's own arithmetic
            if found or p.size != v.size:
                continue
            scale = np.abs(p).max() + 1e-30
            for q in (p.ravel(), p.T.ravel() if p.ndim == 2 else None):
                if q is not None and np.abs(q - flat).max() <= 1e-6 * scale:
                    found = ("param", n)
                    break
        if not found and v.size >= 2:
            for n, s in sets.items():
                if np.isin(flat, s).all():
                    found = ("param_derived", n)
                    break
        if not found and v.size >= 2 and everything is not None and np.isin(flat, everything).all():
            found = ("param_derived", "several")   # e.g. LSTM B: slices of bias_ih and bias_hh
        if (not found and v.size >= 2 and everything is not None and flat.any() and
                np.isin(flat[flat != 0], everything).all()):
            # parameters around the exporter's zeros, folded together (BEiT's q/0/v bias);
            # trained-looking values are never exactly 0
            found = ("param_derived", "with zeros")
        if not found and v.size >= 2:
            for n, s in bsets.items():
                if np.isin(flat, s).all():
                    found = ("buffer", n)
                    break
        out[key] = found or ("constant", "")
    return out


def perturb_parameters(model, truth):
    """A copy of model whose parameter tensors (found as classify() finds them)
    are moved by +0.5: whatever an optimizer folds from them moves too."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    tensors = float_tensors(m)
    kinds = classify(tensors, truth)
    for key, t in tensors:
        if kinds[key][0] in ("param", "param_derived"):
            v = numpy_helper.to_array(t)
            t.CopyFrom(numpy_helper.from_array((v + 0.5).astype(v.dtype), t.name))
    return m


def score(before_path, after_path, truth, computed=()):
    """computed: keys of tensors an optimizer folded from parameters (they move
    when the parameters move): a row of their own, re-initialized like them."""
    before = onnx.load(before_path)
    after = onnx.load(after_path)
    tb, ta = float_tensors(before), dict(float_tensors(after))
    kinds = classify(tb, truth)
    for key in computed:
        if kinds.get(key, ("",))[0] == "constant":
            kinds[key] = ("computed", "")
    rows = {"param": [0, 0], "param_derived": [0, 0], "computed": [0, 0], "stat": [0, 0],
            "buffer": [0, 0], "constant": [0, 0], "tie": [0, 0]}
    problems = []
    copies = {}
    for key, t in tb:
        kind, name = kinds[key]
        a = ta.get(key)
        rows[kind][1] += 1
        if a is None:
            problems.append("%s: missing after re-initialization" % key)
            continue
        vb, va = _values(t), _values(a)
        same = t.SerializeToString() == a.SerializeToString() or np.array_equal(vb, va)
        ok = True
        if kind in ("param", "param_derived", "computed"):
            if same or not np.isfinite(va).all() or np.abs(va).max() > 10:
                ok = False
                problems.append("%s (%s %s): %s" % (key, kind, name, "kept its trained values"
                                                    if same else "insane values"))
            elif kind == "param_derived" and len(np.unique(vb)) < 0.9 * vb.size:
                # a gathered table (relative position bias): equal entries stay equal
                u, inv = np.unique(vb.ravel(), return_inverse=True)
                for g in range(len(u)):
                    if len(np.unique(va.ravel()[inv == g])) != 1:
                        ok = False
                        problems.append("%s: equal entries no longer equal" % key)
                        break
            if kind == "param":
                copies.setdefault(name, []).append((key, va))
        elif kind == "stat":
            want = 0.0 if name.endswith("running_mean") else 1.0
            if not np.all(va == want):
                ok = False
                problems.append("%s (%s): not %g" % (key, name, want))
        elif not same:
            ok = False
            problems.append("%s (%s %s): changed" % (key, kind, name))
        rows[kind][0] += ok
    for name, cs in copies.items():
        if len(cs) < 2:
            continue
        rows["tie"][1] += 1
        ref = cs[0][1]
        tied = all(np.array_equal(ref.ravel(), c.ravel()) or
                   (ref.squeeze().ndim == 2 and np.array_equal(ref.squeeze().T.ravel(), c.ravel()))
                   for _, c in cs[1:])
        rows["tie"][0] += tied
        if not tied:
            problems.append("tie of %s broken: %s" % (name, ", ".join(k for k, _ in cs)))
    return rows, problems
