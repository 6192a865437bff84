"""Quantized models built with onnx's helpers from small float nets, the way
deployment tools write them, and the codec to read them back.

Forms (each model's manifest lists every quantized weight and its parts):
  qdq      DequantizeLinear(codes, scale, zero point) feeding Conv / MatMul / Gather:
           int8 per-channel symmetric, uint8 per-tensor asymmetric, int4 in blocks
           (opset 21 block_size), float8 (E4M3FN; E4M3FNUZ, E5M2, E5M2FNUZ in the
           float8 model) per tensor and per channel, int16 per-channel, and
           int32 conv biases in the scale input x weight.
  dynamic  ORT's dynamic quantization: DynamicQuantizeLinear on the input,
           ConvInteger / MatMulInteger, Cast, Mul by Mul(x_scale, w_scale), bias Add.
  qlinear  QLinearConv (int8 per-channel, int32 bias) and QLinearMatMul.
  nbits    com.microsoft MatMulNBits, 4 bits: B is [N, blocks, block_size/2] uint8,
           element k of row n in byte (k % bs) / 2 of block k // bs, low nibble
           first; scales [N * blocks]; zero points packed the same way, each row
           padded to whole bytes ([N * ceil(blocks / 2)]), or absent (8), or float
           [N * blocks] (HQQ-style: unrounded, codes round(w / s + z)).
  gather   com.microsoft GatherBlockQuantized (embedding tables, blocks along the
           last axis, gather_axis 0): uint8 bytes of 4-bit codes [V, D/2] (row r's
           code c in byte c / 2, low nibble first; the last block of a row may be
           short) with zero points packed per row like MatMulNBits' ([V, ceil(blocks/2)]);
           uint8 8-bit codes without zero points (128); int4 codes [V, D] as stored,
           symmetric, no zero points (0).
Packing of INT4/UINT4 tensors: two codes a byte, the first in the low nibble.
Float weights are "trained" stand-ins: N(0, 0.5), far from any init scheme.
"""
import numpy as np
from onnx import TensorProto as T, helper as h, numpy_helper as nh

INT4, UINT4, F8E4M3FN = 22, 21, 17
RANGES = {T.INT8: (-128, 127), T.UINT8: (0, 255), T.INT16: (-32768, 32767),
          T.UINT16: (0, 65535), INT4: (-8, 7), UINT4: (0, 15), T.INT32: (-2**31, 2**31 - 1)}
NP = {T.INT8: np.int8, T.UINT8: np.uint8, T.INT16: np.int16, T.UINT16: np.uint16,
      T.INT32: np.int32}


# ---- float8 (E4M3FN, E4M3FNUZ, E5M2, E5M2FNUZ), by table ----
F8_FORMAT = {17: (4, 7, "fn"), 18: (4, 8, "fnuz"), 19: (5, 15, "ieee"), 20: (5, 16, "fnuz")}


def f8_table(dtype=17):
    """Every code's value: exponent bits, bias and how NaN / inf are spelled."""
    ebits, bias, kind = F8_FORMAT[dtype]
    mbits = 7 - ebits
    v = []
    for c in range(256):
        s, e, m = c >> 7, (c >> mbits) & ((1 << ebits) - 1), c & ((1 << mbits) - 1)
        if (kind == "fn" and (c & 0x7f) == 0x7f) or (kind == "fnuz" and c == 0x80) or \
                (kind == "ieee" and e == (1 << ebits) - 1):
            v.append(np.nan)
            continue
        x = m * 2.0 ** (1 - bias - mbits) if e == 0 else (1 + m / 2 ** mbits) * 2.0 ** (e - bias)
        v.append(-x if s else x)
    return np.array(v, dtype=np.float64)


F8_KINDS = tuple(F8_FORMAT)
F8_TABLES = {k: f8_table(k) for k in F8_KINDS}
F8 = F8_TABLES[17]


def f8_max(dtype=17):
    return np.nanmax(F8_TABLES[dtype][:128])


def to_f8(x, dtype=17):
    pos = F8_TABLES[dtype][:128]
    ok = np.where(np.isfinite(pos))[0]
    a = np.minimum(np.abs(x), f8_max(dtype))
    idx = ok[np.abs(a[..., None] - pos[ok][None, :]).argmin(-1)]
    neg = (x < 0) & (idx != 0) if F8_FORMAT[dtype][2] == "fnuz" else x < 0   # no -0 in FNUZ
    return (idx | np.where(neg, 0x80, 0)).astype(np.uint8)


# ---- raw tensors of any code type ----
def pack4(codes):
    c = (np.asarray(codes).astype(np.int64).ravel() & 15).astype(np.uint8)
    if c.size % 2:
        c = np.append(c, 0)
    return (c[0::2] | (c[1::2] << 4)).astype(np.uint8).tobytes()


def unpack4(raw, n, signed):
    b = np.frombuffer(raw, dtype=np.uint8)
    c = np.empty(b.size * 2, dtype=np.int64)
    c[0::2], c[1::2] = b & 15, b >> 4
    c = c[:n]
    return np.where(c >= 8, c - 16, c) if signed else c


def tensor(name, dtype, dims, codes):
    t = T()
    t.name, t.data_type = name, dtype
    t.dims.extend(dims)
    if dtype in (INT4, UINT4):
        t.raw_data = pack4(codes)
    elif dtype in F8_KINDS:
        t.raw_data = np.asarray(codes, dtype=np.uint8).tobytes()
    else:
        t.raw_data = np.asarray(codes).astype(NP.get(dtype, np.float32)).tobytes()
    return t


def codes_of(t):
    """The stored codes (ints; float8 as its byte) and float tensors as values."""
    n = int(np.prod(t.dims)) if len(t.dims) else 1
    if t.data_type in (INT4, UINT4):
        return unpack4(t.raw_data, n, t.data_type == INT4).reshape(tuple(t.dims))
    if t.data_type in F8_KINDS:
        return np.frombuffer(t.raw_data, dtype=np.uint8).reshape(tuple(t.dims))
    return nh.to_array(t)


# ---- quantizers (what a deployment tool does) ----
def reduce(w, axis, block, fn):
    """fn over each group: per tensor (axis None), per axis, or blocks along axis;
    the result shaped as the scale tensor."""
    if axis is None:
        return np.array([fn(w, axis=None)])
    if block:
        d = list(w.shape)
        m = w.reshape(d[:axis] + [d[axis] // block, block] + d[axis + 1:])
        return fn(m, axis=axis + 1)
    return fn(w, axis=tuple(i for i in range(w.ndim) if i != axis))


def quantize(w, dtype, axis=None, block=0, symmetric=True):
    lo, hi = RANGES.get(dtype, (0, 0))
    if dtype in F8_KINDS:
        s = reduce(np.abs(w), axis, block, np.max) / f8_max(dtype)
        return to_f8(w / broadcast(s, w.shape, axis, block), dtype), s.astype(np.float32), None
    if symmetric:
        c = 0 if lo < 0 else (hi + 1) // 2
        s = reduce(np.abs(w), axis, block, np.max) / min(hi - c, c - lo)
        z = np.full(s.shape, c)
    else:
        mn = np.minimum(reduce(w, axis, block, np.min), 0)
        mx = np.maximum(reduce(w, axis, block, np.max), 0)
        s = (mx - mn) / (hi - lo)
        z = np.clip(np.rint(lo - mn / s), lo, hi)
    q = np.clip(np.rint(w / broadcast(s, w.shape, axis, block)) +
                broadcast(z, w.shape, axis, block), lo, hi).astype(np.int64)
    return q, s.astype(np.float32), z.astype(np.int64)


def broadcast(per_group, shape, axis, block):
    """Group values spread back over the weight's shape."""
    per_group = np.asarray(per_group)
    if axis is None:
        return np.full(shape, per_group.ravel()[0])
    if block:
        return np.repeat(per_group.reshape(scale_dims(shape, axis, block)), block, axis=axis)
    sh = [1] * len(shape)
    sh[axis] = shape[axis]
    return np.broadcast_to(per_group.reshape(sh), shape)


def scale_dims(shape, axis, block):
    if axis is None:
        return []
    if block:
        d = list(shape)
        d[axis] //= block
        return d
    return [shape[axis]]


def trained(rng, *shape):
    return rng.normal(0, 0.5, size=shape).astype(np.float32)


def qdq_weight(inits, man, name, w, dtype, axis=None, block=0, symmetric=True, layer="",
               zero=True):
    q, s, z = quantize(w, dtype, axis, block, symmetric)
    inits.append(tensor(name + "_q", dtype, w.shape, q))
    inits.append(nh.from_array(s.reshape(scale_dims(w.shape, axis, block)), name + "_scale"))
    ins = [name + "_q", name + "_scale"]
    if z is not None and zero:
        inits.append(tensor(name + "_zp", dtype, scale_dims(w.shape, axis, block),
                            z.astype(np.int64)))
        ins.append(name + "_zp")
    elif dtype in F8_KINDS:   # float8 zero points are 0, shaped as the scales
        dims = scale_dims(w.shape, axis, block)
        inits.append(tensor(name + "_zp", dtype, dims, np.zeros(int(np.prod(dims)), np.uint8)))
        ins.append(name + "_zp")
    attrs = {}
    if axis is not None:
        attrs["axis"] = axis
    if block:
        attrs["block_size"] = block
    node = h.make_node("DequantizeLinear", ins, [name], name=name + "_dq", **attrs)
    man.append(dict(form="qdq", weight=name + "_q", scale=name + "_scale",
                    zero=ins[2] if len(ins) > 2 else None, axis=axis, block=block,
                    symmetric=symmetric, dtype=dtype, layer=layer, shape=list(w.shape)))
    return node


def act_qdq(nodes, inits, x, name, scale=0.05, zp=128):
    """x -> QuantizeLinear -> DequantizeLinear (uint8), as static QDQ models do."""
    inits += [nh.from_array(np.array(scale, np.float32), name + "_s"),
              nh.from_array(np.array(zp, np.uint8), name + "_z")]
    nodes += [h.make_node("QuantizeLinear", [x, name + "_s", name + "_z"], [name + "_qx"]),
              h.make_node("DequantizeLinear", [name + "_qx", name + "_s", name + "_z"],
                          [name + "_dx"])]
    return name + "_dx"


def model(nodes, inits, inputs, outputs, name, opset=21, ms=False):
    g = h.make_graph(nodes, name, inputs, outputs, initializer=inits)
    ops = [h.make_opsetid("", opset)] + ([h.make_opsetid("com.microsoft", 1)] if ms else [])
    m = h.make_model(g, opset_imports=ops, producer_name="onnxinit-tests")
    m.ir_version = 10
    return m


def qdq_cnn(seed=0):
    rng = np.random.default_rng(seed)
    nodes, inits, man = [], [], []
    x = act_qdq(nodes, inits, "x", "in", 0.03)
    w1 = trained(rng, 8, 3, 3, 3)
    nodes.append(qdq_weight(inits, man, "conv1.weight", w1, T.INT8, axis=0, layer="conv1"))
    # int32 bias in the scale input x weight (per channel), as QDQ tools write it
    _, s1, _ = quantize(w1, T.INT8, 0)
    bs = (0.03 * s1).astype(np.float32)
    b1 = trained(rng, 8)
    inits += [tensor("conv1.bias_q", T.INT32, [8], np.rint(b1 / bs)),
              nh.from_array(bs, "conv1.bias_scale")]
    nodes.append(h.make_node("DequantizeLinear", ["conv1.bias_q", "conv1.bias_scale"],
                             ["conv1.bias"], name="conv1.bias_dq", axis=0))
    man.append(dict(form="qdq_bias", weight="conv1.bias_q", scale="conv1.bias_scale", zero=None,
                    axis=0, block=0, symmetric=True, dtype=T.INT32, layer="conv1", shape=[8]))
    nodes += [h.make_node("Conv", [x, "conv1.weight", "conv1.bias"], ["c1"], name="/conv1/Conv",
                          pads=[1, 1, 1, 1]),
              h.make_node("Relu", ["c1"], ["r1"])]
    r1 = act_qdq(nodes, inits, "r1", "a1", 0.05, 0)
    w2 = trained(rng, 16, 8, 3, 3)
    nodes.append(qdq_weight(inits, man, "conv2.weight", w2, T.UINT8, symmetric=False,
                            layer="conv2"))
    inits.append(nh.from_array(trained(rng, 16), "conv2.bias"))
    nodes += [h.make_node("Conv", [r1, "conv2.weight", "conv2.bias"], ["c2"], name="/conv2/Conv",
                          pads=[1, 1, 1, 1]),
              h.make_node("Relu", ["c2"], ["r2"]),
              h.make_node("GlobalAveragePool", ["r2"], ["p"]),
              h.make_node("Flatten", ["p"], ["f"])]
    w3 = trained(rng, 16, 32)
    nodes.append(qdq_weight(inits, man, "fc1.weight", w3, INT4, axis=0, block=8, layer="fc1"))
    inits.append(nh.from_array(trained(rng, 32), "fc1.bias"))
    nodes += [h.make_node("MatMul", ["f", "fc1.weight"], ["m3"], name="/fc1/MatMul"),
              h.make_node("Add", ["m3", "fc1.bias"], ["a3"], name="/fc1/Add"),
              h.make_node("Tanh", ["a3"], ["t3"])]
    w4 = trained(rng, 32, 10)
    nodes.append(qdq_weight(inits, man, "fc2.weight", w4, F8E4M3FN, layer="fc2"))
    nodes.append(h.make_node("MatMul", ["t3", "fc2.weight"], ["y"], name="/fc2/MatMul"))
    m = model(nodes, inits, [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 16, 16])],
              [h.make_tensor_value_info("y", T.FLOAT, [1, 10])], "qdq_cnn")
    return m, man


def qdq_embed(seed=0):
    rng = np.random.default_rng(seed)
    nodes, inits, man = [], [], []
    e = trained(rng, 50, 16)
    nodes.append(qdq_weight(inits, man, "embed.weight", e, T.UINT8, symmetric=False,
                            layer="embed"))
    w = trained(rng, 16, 24)
    nodes.append(qdq_weight(inits, man, "proj.weight", w, T.INT16, axis=1, layer="proj"))
    nodes += [h.make_node("Gather", ["embed.weight", "ids"], ["g"], name="/embed/Gather"),
              h.make_node("MatMul", ["g", "proj.weight"], ["y"], name="/proj/MatMul")]
    m = model(nodes, inits, [h.make_tensor_value_info("ids", T.INT64, [1, 4])],
              [h.make_tensor_value_info("y", T.FLOAT, [1, 4, 24])], "qdq_embed")
    return m, man


def dynamic(seed=0):
    """ORT's dynamic quantization of a conv net (quantize_dynamic's graph)."""
    rng = np.random.default_rng(seed)
    nodes, inits, man = [], [], []
    w1 = trained(rng, 8, 3, 3, 3)
    q1, s1, z1 = quantize(w1, T.INT8)
    inits += [tensor("conv1.weight_quantized", T.INT8, w1.shape, q1),
              nh.from_array(s1.reshape(()), "conv1.weight_scale"),
              tensor("conv1.weight_zero_point", T.INT8, [], z1),
              nh.from_array(trained(rng, 8, 1, 1), "conv1.bias")]
    man.append(dict(form="integer", weight="conv1.weight_quantized", scale="conv1.weight_scale",
                    zero="conv1.weight_zero_point", axis=None, block=0, symmetric=True,
                    dtype=T.INT8, layer="conv1", shape=list(w1.shape)))
    nodes += [
        h.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
        h.make_node("ConvInteger", ["xq", "conv1.weight_quantized", "xz",
                                    "conv1.weight_zero_point"], ["ci"], name="/conv1/Conv_quant",
                    pads=[1, 1, 1, 1]),
        h.make_node("Cast", ["ci"], ["cf"], to=T.FLOAT),
        h.make_node("Mul", ["xs", "conv1.weight_scale"], ["sc"], name="/conv1/scales_mul"),
        h.make_node("Mul", ["cf", "sc"], ["cm"], name="/conv1/output_scale_mul"),
        h.make_node("Add", ["cm", "conv1.bias"], ["c1"], name="/conv1/Add"),
        h.make_node("Relu", ["c1"], ["r1"]),
        h.make_node("GlobalAveragePool", ["r1"], ["p"]),
        h.make_node("Flatten", ["p"], ["f"]),
        h.make_node("DynamicQuantizeLinear", ["f"], ["fq", "fs", "fz"])]
    w2 = trained(rng, 8, 10)
    q2, s2, z2 = quantize(w2, T.UINT8, axis=1, symmetric=False)
    inits += [tensor("fc.weight_quantized", T.UINT8, w2.shape, q2),
              nh.from_array(s2, "fc.weight_scale"),
              tensor("fc.weight_zero_point", T.UINT8, [10], z2),
              nh.from_array(trained(rng, 10), "fc.bias")]
    man.append(dict(form="integer", weight="fc.weight_quantized", scale="fc.weight_scale",
                    zero="fc.weight_zero_point", axis=1, block=0, symmetric=False,
                    dtype=T.UINT8, layer="fc", shape=list(w2.shape)))
    nodes += [
        h.make_node("MatMulInteger", ["fq", "fc.weight_quantized", "fz", "fc.weight_zero_point"],
                    ["mi"], name="/fc/MatMul_quant"),
        h.make_node("Cast", ["mi"], ["mf"], to=T.FLOAT),
        h.make_node("Mul", ["fs", "fc.weight_scale"], ["fsc"], name="/fc/scales_mul"),
        h.make_node("Mul", ["mf", "fsc"], ["mm"], name="/fc/output_scale_mul"),
        h.make_node("Add", ["mm", "fc.bias"], ["y"], name="/fc/Add")]
    m = model(nodes, inits, [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 16, 16])],
              [h.make_tensor_value_info("y", T.FLOAT, [1, 10])], "dynamic", opset=17)
    return m, man


def qlinear(seed=0):
    rng = np.random.default_rng(seed)
    nodes, inits, man = [], [], []
    xs, ys = 0.03, 0.1
    w1 = trained(rng, 8, 3, 3, 3)
    q1, s1, z1 = quantize(w1, T.INT8, axis=0)
    b1 = trained(rng, 8)
    inits += [nh.from_array(np.array(xs, np.float32), "x_scale"),
              nh.from_array(np.array(128, np.uint8), "x_zp"),
              tensor("conv1.w", T.INT8, w1.shape, q1), nh.from_array(s1, "conv1.w_scale"),
              tensor("conv1.w_zp", T.INT8, [8], z1),
              nh.from_array(np.array(ys, np.float32), "y1_scale"),
              nh.from_array(np.array(0, np.uint8), "y1_zp"),
              tensor("conv1.b", T.INT32, [8], np.rint(b1 / (xs * s1)))]
    man.append(dict(form="qlinear", weight="conv1.w", scale="conv1.w_scale", zero="conv1.w_zp",
                    axis=0, block=0, symmetric=True, dtype=T.INT8, layer="conv1",
                    shape=list(w1.shape), bias="conv1.b", in_scale="x_scale"))
    w2 = trained(rng, 8, 10)
    q2, s2, z2 = quantize(w2, T.INT8)
    inits += [tensor("fc.w", T.INT8, w2.shape, q2),
              nh.from_array(s2.reshape(()), "fc.w_scale"), tensor("fc.w_zp", T.INT8, [], z2),
              nh.from_array(np.array(0.05, np.float32), "f_scale"),
              nh.from_array(np.array(128, np.uint8), "f_zp"),
              nh.from_array(np.array(0.2, np.float32), "y_scale"),
              nh.from_array(np.array(128, np.uint8), "y_zp")]
    man.append(dict(form="qlinear", weight="fc.w", scale="fc.w_scale", zero="fc.w_zp",
                    axis=None, block=0, symmetric=True, dtype=T.INT8, layer="fc",
                    shape=list(w2.shape)))
    nodes += [
        h.make_node("QuantizeLinear", ["x", "x_scale", "x_zp"], ["xq"]),
        h.make_node("QLinearConv", ["xq", "x_scale", "x_zp", "conv1.w", "conv1.w_scale",
                                    "conv1.w_zp", "y1_scale", "y1_zp", "conv1.b"], ["c1"],
                    name="/conv1/Conv_quant", pads=[1, 1, 1, 1]),
        h.make_node("DequantizeLinear", ["c1", "y1_scale", "y1_zp"], ["c1f"]),
        h.make_node("Relu", ["c1f"], ["r1"]),
        h.make_node("GlobalAveragePool", ["r1"], ["p"]),
        h.make_node("Flatten", ["p"], ["f"]),
        h.make_node("QuantizeLinear", ["f", "f_scale", "f_zp"], ["fq"]),
        h.make_node("QLinearMatMul", ["fq", "f_scale", "f_zp", "fc.w", "fc.w_scale", "fc.w_zp",
                                      "y_scale", "y_zp"], ["yq"], name="/fc/MatMul_quant"),
        h.make_node("DequantizeLinear", ["yq", "y_scale", "y_zp"], ["y"])]
    m = model(nodes, inits, [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 16, 16])],
              [h.make_tensor_value_info("y", T.FLOAT, [1, 10])], "qlinear", opset=13)
    return m, man


def nbits_pack(w, bs, symmetric):
    """W [K, N] -> (B [N, blocks, bs/2], scales [N*blocks], zero points packed or None)."""
    k, n = w.shape
    nb = -(-k // bs)
    pad = np.zeros((nb * bs, n), np.float32)
    pad[:k] = w
    q, s, z = quantize(pad.T, UINT4, axis=1, block=bs, symmetric=symmetric)   # blocks along K
    b = np.frombuffer(pack4(q.ravel()), np.uint8).reshape(n, nb, bs // 2)
    zp = None
    if not symmetric:
        zrow = -(-nb // 2) * 2
        zz = np.zeros((n, zrow), np.int64)
        zz[:, :nb] = z
        zp = np.frombuffer(pack4(zz.ravel()), np.uint8)
    return b, s.ravel(), zp


def nbits_pack_float_zero(w, bs):
    """As HQQ-style quantizers write it: zero points float [N * blocks], unrounded,
    codes round(w / s + z)."""
    k, n = w.shape
    nb = -(-k // bs)
    pad = np.zeros((nb * bs, n), np.float64)
    pad[:k] = w
    blocks = pad.T.reshape(n, nb, bs)
    mn, mx = np.minimum(blocks.min(2), 0), np.maximum(blocks.max(2), 0)
    s = ((mx - mn) / 15).astype(np.float32)
    z = (-mn / s).astype(np.float32)
    q = np.clip(np.rint(blocks / s[..., None] + z[..., None]), 0, 15).astype(np.int64)
    b = np.frombuffer(pack4(q.ravel()), np.uint8).reshape(n, nb, bs // 2)
    return b, s.ravel(), z.ravel()


def nbits(seed=0):
    rng = np.random.default_rng(seed)
    nodes, inits, man = [], [], []
    layers = [("fc1", 80, 24, 32, False), ("fc2", 24, 8, 16, True)]
    # beside them, on the same input: float zero points
    w = trained(rng, 80, 16)
    b, s, zf = nbits_pack_float_zero(w, 16)
    inits += [nh.from_array(b, "hqq.qweight"), nh.from_array(s, "hqq.scales"),
              nh.from_array(zf, "hqq.zeros")]
    man.append(dict(form="nbits", weight="hqq.qweight", scale="hqq.scales", zero="hqq.zeros",
                    axis=1, block=16, symmetric=False, dtype=UINT4, layer="hqq", shape=[80, 16],
                    K=80, N=16))
    nodes.append(h.make_node("MatMulNBits", ["a", "hqq.qweight", "hqq.scales", "hqq.zeros"],
                             ["y_hqq"], name="/hqq/MatMulNBits", domain="com.microsoft", K=80,
                             N=16, bits=4, block_size=16))
    x = "a"
    for name, k, n, bs, sym in layers:
        b, s, zp = nbits_pack(trained(rng, k, n), bs, sym)
        inits += [nh.from_array(b, name + ".qweight"), nh.from_array(s, name + ".scales")]
        ins = [x, name + ".qweight", name + ".scales"]
        if zp is not None:
            inits.append(nh.from_array(zp, name + ".qzeros"))
            ins.append(name + ".qzeros")
        man.append(dict(form="nbits", weight=name + ".qweight", scale=name + ".scales",
                        zero=ins[3] if len(ins) > 3 else None, axis=1, block=bs,
                        symmetric=sym, dtype=UINT4, layer=name, shape=[k, n], K=k, N=n))
        out = name + "_out"
        nodes.append(h.make_node("MatMulNBits", ins, [out], name="/%s/MatMulNBits" % name,
                                 domain="com.microsoft", K=k, N=n, bits=4, block_size=bs))
        if name == "fc1":
            nodes.append(h.make_node("Relu", [out], ["r1"]))
            x = "r1"
        else:
            inits.append(nh.from_array(trained(rng, n), name + ".bias"))
            nodes.append(h.make_node("Add", [out, name + ".bias"], ["y"], name="/fc2/Add"))
    m = model(nodes, inits, [h.make_tensor_value_info("a", T.FLOAT, [1, 80])],
              [h.make_tensor_value_info("y", T.FLOAT, [1, 8]),
               h.make_tensor_value_info("y_hqq", T.FLOAT, [1, 16])], "nbits", opset=21, ms=True)
    return m, man


def float8(seed=0):
    """The other three float8 kinds, per tensor and per channel, in a MatMul chain."""
    rng = np.random.default_rng(seed)
    nodes, inits, man = [], [], []
    x = "x"
    for i, (layer, dtype, axis) in enumerate((("e4m3fnuz", 18, None), ("e5m2", 19, 1),
                                              ("e5m2fnuz", 20, None))):
        name = layer + ".weight"
        nodes.append(qdq_weight(inits, man, name, trained(rng, 32, 32), dtype, axis=axis,
                                layer=layer))
        out = "y" if i == 2 else "h%d" % i
        nodes.append(h.make_node("MatMul", [x, name], [out], name="/%s/MatMul" % layer))
        x = out
    m = model(nodes, inits, [h.make_tensor_value_info("x", T.FLOAT, [1, 32])],
              [h.make_tensor_value_info("y", T.FLOAT, [1, 32])], "float8")
    return m, man


def row_blocks(w, bs):
    """[rows, cols] -> [rows, blocks, bs], the short last block padded with NaN."""
    rows, cols = w.shape
    nb = -(-cols // bs)
    pad = np.full((rows, nb * bs), np.nan)
    pad[:, :cols] = w
    return pad.reshape(rows, nb, bs)


def gather_pack(w, bs, bits, symmetric):
    """Table [V, D] -> (uint8 bytes [V, D*bits/8], scales [V, blocks], packed zero points
    [V, ceil(blocks*bits/8)] or None)."""
    hi, c = 2 ** bits - 1, 2 ** (bits - 1)
    b = row_blocks(w.astype(np.float64), bs)
    if symmetric:
        s = np.nanmax(np.abs(b), axis=2) / min(hi - c, c)
        z = np.full(s.shape, c)
    else:
        mn = np.minimum(np.nanmin(b, axis=2), 0)
        mx = np.maximum(np.nanmax(b, axis=2), 0)
        s = (mx - mn) / hi
        z = np.clip(np.rint(-mn / s), 0, hi)
    q = np.clip(np.rint(b / s[..., None]) + z[..., None], 0, hi)
    q = q.reshape(w.shape[0], -1)[:, :w.shape[1]].astype(np.int64)
    data = (np.frombuffer(pack4(q.ravel()), np.uint8) if bits == 4 else q.astype(np.uint8))
    data = data.reshape(w.shape[0], w.shape[1] * bits // 8)
    zp = None
    if not symmetric:
        per = 8 // bits
        zrow = -(-s.shape[1] // per) * per
        zz = np.zeros((w.shape[0], zrow), np.int64)
        zz[:, :s.shape[1]] = z
        zp = (np.frombuffer(pack4(zz.ravel()), np.uint8) if bits == 4 else zz.astype(np.uint8))
        zp = zp.reshape(w.shape[0], zrow * bits // 8)
    return data, s.astype(np.float32), zp


def gather(seed=0):
    rng = np.random.default_rng(seed)
    nodes, inits, man = [], [], []
    outs = []
    tables = [("tok", 40, 40, 16, 4, False), ("byte8", 20, 32, 16, 8, True)]
    for name, v, d, bs, bits, sym in tables:
        data, s, zp = gather_pack(trained(rng, v, d), bs, bits, sym)
        inits += [nh.from_array(data, name + ".qweight"), nh.from_array(s, name + ".scales")]
        ins = [name + ".qweight", "ids", name + ".scales"]
        if zp is not None:
            inits.append(nh.from_array(zp, name + ".qzeros"))
            ins.append(name + ".qzeros")
        man.append(dict(form="gather", weight=ins[0], scale=ins[2],
                        zero=ins[3] if len(ins) > 3 else None, axis=1, block=bs, bits=bits,
                        symmetric=sym, dtype=UINT4 if bits == 4 else T.UINT8, layer=name,
                        shape=[v, d]))
        nodes.append(h.make_node("GatherBlockQuantized", ins, [name + "_out"],
                                 name="/%s/GatherBlockQuantized" % name, domain="com.microsoft",
                                 block_size=bs, bits=bits, gather_axis=0, quantize_axis=1))
        outs.append(h.make_tensor_value_info(name + "_out", T.FLOAT, [1, 4, d]))
    w = trained(rng, 30, 48)
    q, s, _ = quantize(w, INT4, axis=1, block=16)
    inits += [tensor("int4.qweight", INT4, [30, 48], q),
              nh.from_array(s.reshape(30, 3), "int4.scales")]
    man.append(dict(form="qdq", weight="int4.qweight", scale="int4.scales", zero=None, axis=1,
                    block=16, symmetric=True, dtype=INT4, layer="int4", shape=[30, 48]))
    nodes.append(h.make_node("GatherBlockQuantized", ["int4.qweight", "ids", "int4.scales"],
                             ["int4_out"], name="/int4/GatherBlockQuantized",
                             domain="com.microsoft", block_size=16, quantize_axis=1))
    outs.append(h.make_tensor_value_info("int4_out", T.FLOAT, [1, 4, 48]))
    m = model(nodes, inits, [h.make_tensor_value_info("ids", T.INT64, [1, 4])], outs, "gather",
              opset=21, ms=True)
    return m, man


MODELS = {"qdq_cnn": qdq_cnn, "qdq_embed": qdq_embed, "dynamic": dynamic, "qlinear": qlinear,
          "nbits": nbits, "gather": gather, "float8": float8}


# ---- reading back: the float weights a runtime sees ----
def dequantize(tensors, entry):
    """The dequantized float weight of a manifest entry (the layer's [K, N] for nbits)."""
    q = codes_of(tensors[entry["weight"]]).astype(np.int64)
    s = codes_of(tensors[entry["scale"]]).astype(np.float64).ravel()
    zt = tensors.get(entry["zero"]) if entry.get("zero") else None
    if entry["form"] == "nbits":
        k, n, bs = entry["K"], entry["N"], entry["block"]
        nb = -(-k // bs)
        codes = unpack4(tensors[entry["weight"]].raw_data, n * nb * bs, False).reshape(n, nb, bs)
        if zt is not None and zt.data_type == T.FLOAT:
            z = nh.to_array(zt).astype(np.float64).reshape(n, nb)
        elif zt is not None:
            zrow = -(-nb // 2) * 2
            z = unpack4(zt.raw_data, n * zrow, False).reshape(n, zrow)[:, :nb]
        else:
            z = np.full((n, nb), 8)
        w = (codes - z[..., None]) * s.reshape(n, nb)[..., None]
        return w.reshape(n, nb * bs)[:, :k].T, codes, z, s
    if entry["form"] == "gather":
        v, d = entry["shape"]
        bits, bs = entry["bits"], entry["block"]
        raw = tensors[entry["weight"]].raw_data
        codes = (unpack4(raw, v * d, False) if bits == 4
                 else np.frombuffer(raw, np.uint8).astype(np.int64)).reshape(v, d)
        nb = -(-d // bs)
        if zt is not None:
            per = 8 // bits
            zrow = -(-nb // per) * per
            zc = (unpack4(zt.raw_data, v * zrow, False) if bits == 4
                  else np.frombuffer(zt.raw_data, np.uint8).astype(np.int64))
            z = zc.reshape(v, zrow)[:, :nb]
        else:
            z = np.full((v, nb), 2 ** (bits - 1))
        per_elem = lambda g: np.repeat(g, bs, axis=1)[:, :d]   # noqa: E731
        return (codes - per_elem(z)) * per_elem(s.reshape(v, nb)), codes, z, s
    if entry["dtype"] in F8_KINDS:
        vals = F8_TABLES[entry["dtype"]][q]
        return vals * broadcast(s, q.shape, entry["axis"], entry["block"]), q, None, s
    z = codes_of(zt).astype(np.int64).ravel() if zt is not None else np.zeros(s.shape, np.int64)
    zz = broadcast(z, q.shape, entry["axis"], entry["block"])
    return (q - zz) * broadcast(s, q.shape, entry["axis"], entry["block"]), q, z, s


def fake_quant(entry, ref, s, z):
    """Floats ref (the layer's shape) quantized and dequantized with the scales and
    zero points a file holds: what the scheme looks like at that file's resolution.
    Small blocks of few codes (gather) fit scales of their own to ref instead: the
    file's scales fit another draw, and its extremes would clip ref's."""
    if entry["form"] == "nbits":
        k, n, bs = entry["K"], entry["N"], entry["block"]
        nb = -(-k // bs)
        pad = np.zeros((nb * bs, n))
        pad[:k] = ref
        wt = pad.T.reshape(n, nb, bs)
        sc, zz = s.reshape(n, nb)[..., None], z[..., None]
        code = np.rint(wt / sc + zz) if z.dtype.kind == "f" else np.rint(wt / sc) + zz
        d = (np.clip(code, 0, 15) - zz) * sc
        return d.reshape(n, nb * bs)[:, :k].T
    if entry["form"] == "gather":   # blocks of 16 and 8 4-bit codes: fit its own scales
        data, sc, zp = gather_pack(ref, entry["block"], entry["bits"], entry["symmetric"])
        own = {entry["weight"]: nh.from_array(data), entry["scale"]: nh.from_array(sc)}
        if zp is not None:
            own[entry["zero"]] = nh.from_array(zp)
        return dequantize(own, entry)[0]
    bs = broadcast(s, ref.shape, entry["axis"], entry["block"])
    if entry["dtype"] in F8_KINDS:
        return F8_TABLES[entry["dtype"]][to_f8(ref / bs, entry["dtype"])] * bs
    lo, hi = RANGES[entry["dtype"]]
    bz = broadcast(z, ref.shape, entry["axis"], entry["block"])
    return (np.clip(np.rint(ref / bs) + bz, lo, hi) - bz) * bs
