#!/usr/bin/python3
"""Benchmark models (deterministic): make_models.py OUTDIR

  mlp_1g.onnx                 ~1 GB fp32 MLP, Gemm+Relu, 256 M params, embedded
  mlp_1g_ext.onnx (+ .data)   the same with external data
  mlp_1g_fp16.onnx            ~1 GB fp16 MLP (512 M params), embedded
  mlp_1g_bf16.onnx            ~1 GB bfloat16 MLP (512 M params), embedded
  big_4g_fp16_ext.onnx        ~4 GB fp16 MLP (2 G params), external data in one file
  big_4g_fp16_each/model.onnx the same, one external file per tensor
  cnn_100m.onnx               ~100 MB CNN: Conv/BN/Relu, grouped and depthwise
  rnn_100m.onnx               ~100 MB: bidirectional LSTM and GRU layers
  quant_44m_uint8.onnx        44 M uint8 codes: ORT's dynamic quantization (ConvInteger,
                              a scale and zero point per tensor) of a conv net
  quant_44m_fp16.onnx         its fp16 twin: the same layers, the codes' values as float16
  small/m000..m199.onnx       200 small (~1 MB) MLPs"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto as T, helper as h, numpy_helper as nh

OPSET = [h.make_opsetid("", 17)]
rng = np.random.default_rng(7)


def w(*shape):
    return (rng.standard_normal(shape, dtype=np.float32) * 0.05)


def vi(name, shape):
    return h.make_tensor_value_info(name, T.FLOAT, shape)


def mlp(width, depth, inputs=1):
    nodes, inits, x = [], [], "x"
    for i in range(depth):
        inits += [nh.from_array(w(width, width), "fc%d.weight" % i),
                  nh.from_array(np.zeros(width, np.float32), "fc%d.bias" % i)]
        nodes += [h.make_node("Gemm", [x, "fc%d.weight" % i, "fc%d.bias" % i], ["g%d" % i], transB=1),
                  h.make_node("Relu", ["g%d" % i], ["a%d" % i])]
        x = "a%d" % i
    g = h.make_graph(nodes, "mlp", [vi("x", [inputs, width])], [vi(x, [inputs, width])], inits)
    return h.make_model(g, opset_imports=OPSET)


def half_mlp(width, depth, dtype, name):
    """An MLP of fp16 or bfloat16 weights (bf16: the top half of each float32)."""
    model = mlp(width, depth)
    for t in model.graph.initializer:
        a = nh.to_array(t)
        raw = (a.astype(np.float16).tobytes() if dtype == T.FLOAT16
               else (a.view(np.uint32) >> 16).astype(np.uint16).tobytes())
        t.ClearField("raw_data")
        t.data_type = dtype
        t.raw_data = raw
    model.graph.name = name
    return model


def external_half_mlp(out, width, depth, one_file):
    """width x width fp16 layers written straight to external data (never all in memory):
    one data file, or one per tensor."""
    os.makedirs(os.path.dirname(out), exist_ok=True)
    nodes, inits, x = [], [], "x"
    data_name = os.path.basename(out) + ".data"
    offset = 0
    f = open(os.path.join(os.path.dirname(out), data_name), "wb") if one_file else None
    for i in range(depth):
        for name, shape in (("fc%d.weight" % i, (width, width)), ("fc%d.bias" % i, (width,))):
            a = (w(*shape) if len(shape) == 2 else np.zeros(shape, np.float32)).astype(np.float16)
            t = T()
            t.name, t.data_type = name, T.FLOAT16
            t.dims.extend(shape)
            t.data_location = T.EXTERNAL
            raw = a.tobytes()
            if one_file:
                f.write(raw)
                loc, off = data_name, offset
                offset += len(raw)
            else:
                loc, off = name + ".bin", 0
                with open(os.path.join(os.path.dirname(out), loc), "wb") as g:
                    g.write(raw)
            for k, v in (("location", loc), ("offset", str(off)), ("length", str(len(raw)))):
                e = t.external_data.add()
                e.key, e.value = k, v
            inits.append(t)
            del a, raw
        nodes += [h.make_node("Gemm", [x, "fc%d.weight" % i, "fc%d.bias" % i], ["g%d" % i],
                              transB=1),
                  h.make_node("Relu", ["g%d" % i], ["a%d" % i])]
        x = "a%d" % i
    if f:
        f.close()
    x16 = lambda n, s: h.make_tensor_value_info(n, T.FLOAT16, s)   # noqa: E731
    g = h.make_graph(nodes, "big", [x16("x", [1, width])], [x16(x, [1, width])], inits)
    onnx.save(h.make_model(g, opset_imports=OPSET), out)


def cnn():
    nodes, inits, x, c = [], [], "img", 3
    plan = [(256, 1), (512, 1), (512, 8), (512, 512), (1024, 1), (1024, 16), (1024, 1024),
            (1024, 1), (1024, 1), (1024, 4)]
    for i, (out, groups) in enumerate(plan):
        inits.append(nh.from_array(w(out, c // groups, 3, 3), "conv%d.weight" % i))
        inits += [nh.from_array(np.ones(out, np.float32), "bn%d.%s" % (i, k))
                  for k in ("weight", "bias", "running_mean", "running_var")]
        nodes += [h.make_node("Conv", [x, "conv%d.weight" % i], ["c%d" % i], pads=[1] * 4,
                              group=groups),
                  h.make_node("BatchNormalization", ["c%d" % i] + ["bn%d.%s" % (i, k) for k in
                              ("weight", "bias", "running_mean", "running_var")], ["b%d" % i]),
                  h.make_node("Relu", ["b%d" % i], ["r%d" % i])]
        x, c = "r%d" % i, out
    g = h.make_graph(nodes, "cnn", [vi("img", [1, 3, 32, 32])], [vi(x, None)], inits)
    return h.make_model(g, opset_imports=OPSET)


def rnn():
    H, nodes, inits, x, I = 768, [], [], "seq", 512
    for i, (op, gates) in enumerate((("LSTM", 4), ("GRU", 3), ("LSTM", 4))):
        inits += [nh.from_array(w(2, gates * H, I), "rnn%d.W" % i),
                  nh.from_array(w(2, gates * H, H), "rnn%d.R" % i),
                  nh.from_array(np.zeros((2, 2 * gates * H), np.float32), "rnn%d.B" % i)]
        nodes += [h.make_node(op, [x, "rnn%d.W" % i, "rnn%d.R" % i, "rnn%d.B" % i], ["y%d" % i],
                              hidden_size=H, direction="bidirectional"),
                  h.make_node("Transpose", ["y%d" % i], ["t%d" % i], perm=[0, 2, 1, 3]),
                  h.make_node("Reshape", ["t%d" % i, "shape"], ["s%d" % i])]
        x, I = "s%d" % i, 2 * H
    inits.append(nh.from_array(np.array([0, 0, -1], np.int64), "shape"))
    g = h.make_graph(nodes, "rnn", [vi("seq", [16, 1, 512])], [vi(x, None)], inits)
    return h.make_model(g, opset_imports=OPSET)


def tiny(n):
    """n/2 MatMul + bias Add layers of 4x4: n tiny tensors."""
    nodes, inits, x = [], [], "x"
    for i in range(n // 2):
        inits.append(nh.from_array(np.full((4, 4), 0.1, np.float32), "w%d" % i))
        inits.append(nh.from_array(np.full((4,), 0.1 + i * 1e-6, np.float32), "b%d" % i))
        nodes.append(h.make_node("MatMul", [x, "w%d" % i], ["m%d" % i]))
        nodes.append(h.make_node("Add", ["m%d" % i, "b%d" % i], ["a%d" % i]))
        x = "a%d" % i
    g = h.make_graph(nodes, "tiny", [vi("x", [1, 4])], [vi(x, [1, 4])], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def nested_ifs(depth):
    """A weight inside `depth` nested If bodies (the then-branch nests)."""
    g = h.make_graph([h.make_node("MatMul", ["x", "w"], ["y0"])], "leaf", [], [vi("y0", [1, 4])],
                     [nh.from_array(np.ones((4, 4), np.float32), "w")])
    for i in range(depth):
        leaf = h.make_graph([h.make_node("Identity", ["x"], ["e%d" % i])], "e%d" % i, [],
                            [vi("e%d" % i, [1, 4])])
        g = h.make_graph([h.make_node("If", ["c"], ["y%d" % (i + 1)], then_branch=g,
                                      else_branch=leaf)], "g%d" % i, [], [vi("y%d" % (i + 1), [1, 4])])
    g.input.extend([vi("c", []), vi("x", [1, 4])])
    g.input[0].type.tensor_type.elem_type = onnx.TensorProto.BOOL
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def scaling(out):
    sys.setrecursionlimit(100000)   # onnx walks nested subgraphs recursively
    """The growth rows: each shape at two sizes, 10x apart."""
    d = os.path.join(out, "scale")
    os.makedirs(d, exist_ok=True)
    for n in (10000, 100000):
        onnx.save(tiny(n), os.path.join(d, "tiny_%d.onnx" % n))
    for n in (1000, 10000):
        m = tiny(n)
        onnx.save_model(m, os.path.join(d, "ext_one_%d.onnx" % n), save_as_external_data=True,
                        all_tensors_to_one_file=True, location="ext_one_%d.data" % n,
                        size_threshold=0)
    for n in (100, 1000):
        m = tiny(n)
        sub = os.path.join(d, "ext_each_%d" % n)
        os.makedirs(sub, exist_ok=True)
        onnx.save_model(m, os.path.join(sub, "model.onnx"), save_as_external_data=True,
                        all_tensors_to_one_file=False, size_threshold=0)
    for n in (100, 1000):
        onnx.save(nested_ifs(n), os.path.join(d, "if_%d.onnx" % n))


def big16(out):
    """The 4 GB fp16 rows: 8 layers of 16384 x 16384, in one data file and in one per tensor."""
    external_half_mlp(os.path.join(out, "big_4g_fp16_ext.onnx"), 16384, 8, True)
    external_half_mlp(os.path.join(out, "big_4g_fp16_each", "model.onnx"), 16384, 8, False)


def quant_twin():
    """(uint8 ConvInteger model, its fp16 twin): ten 3x3 convs of 768 -> 640
    channels, 44 M weights, quantized per tensor as quantize_dynamic does."""
    nodes, inits, twin_nodes, twin_inits, x = [], [], [], [], "x"
    c = 640
    for i in range(10):
        codes = rng.integers(0, 256, size=(768 if i % 2 == 0 else 640, c, 3, 3), dtype=np.uint8)
        scale = np.array(rng.random() * 1e-3 + 1e-4, np.float32)
        zero = np.array(128, np.uint8)
        name = "conv%d.weight" % i
        inits += [nh.from_array(codes, name + "_quantized"), nh.from_array(scale, name + "_scale"),
                  nh.from_array(zero, name + "_zero_point")]
        nodes += [h.make_node("DynamicQuantizeLinear", [x], ["xq%d" % i, "xs%d" % i, "xz%d" % i]),
                  h.make_node("ConvInteger", ["xq%d" % i, name + "_quantized", "xz%d" % i,
                                              name + "_zero_point"], ["ci%d" % i],
                              name="/conv%d/Conv_quant" % i, pads=[1, 1, 1, 1]),
                  h.make_node("Cast", ["ci%d" % i], ["cf%d" % i], to=T.FLOAT),
                  h.make_node("Mul", ["xs%d" % i, name + "_scale"], ["sc%d" % i]),
                  h.make_node("Mul", ["cf%d" % i, "sc%d" % i], ["cm%d" % i]),
                  h.make_node("Relu", ["cm%d" % i], ["r%d" % i])]
        values = ((codes.astype(np.float32) - 128) * scale).astype(np.float16)
        twin_inits.append(nh.from_array(values, name))
        twin_nodes += [h.make_node("Conv", [x if i else "x", name], ["c%d" % i], pads=[1, 1, 1, 1]),
                       h.make_node("Relu", ["c%d" % i], ["r%d" % i])]
        x, c = "r%d" % i, codes.shape[0]
    q = h.make_graph(nodes, "quant", [vi("x", [1, 640, 8, 8])], [vi(x, None)], inits)
    f16 = lambda n, s: h.make_tensor_value_info(n, T.FLOAT16, s)
    t = h.make_graph(twin_nodes, "twin", [f16("x", [1, 640, 8, 8])], [f16(x, None)], twin_inits)
    return h.make_model(q, opset_imports=OPSET), h.make_model(t, opset_imports=OPSET)


def main():
    out = sys.argv[1]
    if len(sys.argv) > 2 and sys.argv[2] == "--quant-only":   # the quantized rows, added later
        for m, name in zip(quant_twin(), ("quant_44m_uint8", "quant_44m_fp16")):
            onnx.save(m, os.path.join(out, name + ".onnx"))
        return
    if len(sys.argv) > 2 and sys.argv[2] == "--scale-only":
        scaling(out)
        return
    if len(sys.argv) > 2 and sys.argv[2] == "--half-only":   # the fp16/bf16 rows, added later
        for dtype, name in ((T.FLOAT16, "mlp_1g_fp16"), (T.BFLOAT16, "mlp_1g_bf16")):
            onnx.save(half_mlp(8192, 8, dtype, name), os.path.join(out, name + ".onnx"))
        big16(out)
        return
    os.makedirs(os.path.join(out, "small"), exist_ok=True)
    big = mlp(8192, 4)
    onnx.save(big, os.path.join(out, "mlp_1g.onnx"))
    data = os.path.join(out, "mlp_1g_ext.onnx.data")
    if os.path.exists(data):
        os.unlink(data)
    onnx.save_model(big, os.path.join(out, "mlp_1g_ext.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="mlp_1g_ext.onnx.data",
                    size_threshold=1024)
    del big
    for dtype, name in ((T.FLOAT16, "mlp_1g_fp16"), (T.BFLOAT16, "mlp_1g_bf16")):
        onnx.save(half_mlp(8192, 8, dtype, name), os.path.join(out, name + ".onnx"))
    big16(out)
    onnx.save(cnn(), os.path.join(out, "cnn_100m.onnx"))
    onnx.save(rnn(), os.path.join(out, "rnn_100m.onnx"))
    for m, name in zip(quant_twin(), ("quant_44m_uint8", "quant_44m_fp16")):
        onnx.save(m, os.path.join(out, name + ".onnx"))
    for i in range(200):
        onnx.save(mlp(256, 4), os.path.join(out, "small", "m%03d.onnx" % i))
    scaling(out)


if __name__ == "__main__":
    main()
