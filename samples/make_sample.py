#!/usr/bin/python3
"""Regenerate samples/tiny_cnn.onnx (committed; ~44 KB).

A small image classifier with one of each common layer: Conv+BatchNorm+Relu
twice (the second grouped), global pooling, a Gemm+Tanh hidden layer and a
Gemm head.  The weights are random stand-ins for "trained" values."""
import os

import numpy as np
import onnx
from onnx import TensorProto as T, helper as h, numpy_helper as nh

rng = np.random.default_rng(2026)


def t(name, *shape, scale=0.5):
    return nh.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def bn(prefix, c):
    return [nh.from_array(np.abs(rng.standard_normal(c)).astype(np.float32) + 0.5, prefix + ".weight"),
            t(prefix + ".bias", c), t(prefix + ".running_mean", c),
            nh.from_array(np.abs(rng.standard_normal(c)).astype(np.float32) + 0.5,
                          prefix + ".running_var")]


nodes = [
    h.make_node("Conv", ["image", "conv1.weight", "conv1.bias"], ["c1"], pads=[1] * 4, name="conv1"),
    h.make_node("BatchNormalization", ["c1", "bn1.weight", "bn1.bias", "bn1.running_mean",
                                       "bn1.running_var"], ["b1"], name="bn1"),
    h.make_node("Relu", ["b1"], ["r1"], name="relu1"),
    h.make_node("Conv", ["r1", "conv2.weight"], ["c2"], pads=[1] * 4, group=4, name="conv2"),
    h.make_node("BatchNormalization", ["c2", "bn2.weight", "bn2.bias", "bn2.running_mean",
                                       "bn2.running_var"], ["b2"], name="bn2"),
    h.make_node("Relu", ["b2"], ["r2"], name="relu2"),
    h.make_node("GlobalAveragePool", ["r2"], ["p"], name="pool"),
    h.make_node("Flatten", ["p"], ["f"], name="flatten"),
    h.make_node("Gemm", ["f", "fc1.weight", "fc1.bias"], ["g1"], transB=1, name="fc1"),
    h.make_node("Tanh", ["g1"], ["a1"], name="tanh"),
    h.make_node("Gemm", ["a1", "head.weight", "head.bias"], ["logits"], transB=1, name="head"),
]
inits = ([t("conv1.weight", 32, 3, 3, 3), t("conv1.bias", 32)] + bn("bn1", 32) +
         [t("conv2.weight", 64, 8, 3, 3)] + bn("bn2", 64) +
         [t("fc1.weight", 64, 64), t("fc1.bias", 64), t("head.weight", 10, 64), t("head.bias", 10)])
g = h.make_graph(nodes, "tiny_cnn", [h.make_tensor_value_info("image", T.FLOAT, [1, 3, 32, 32])],
                 [h.make_tensor_value_info("logits", T.FLOAT, [1, 10])], inits)
m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)], producer_name="onnxinit-samples")
onnx.checker.check_model(m)
onnx.save(m, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny_cnn.onnx"))
