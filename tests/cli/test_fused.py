#!/usr/bin/python3
"""The weight-carrying ops ONNX Runtime's optimizers emit (com.microsoft),
each in a hand-built graph: every learned tensor gets its role, the rotary
caches and masks stay.  (The ORT-optimized zoo, scored against torch, is in
test_zoo.)

Run by `meson test` with OI_BIN in the environment."""
import json
import os
import subprocess
import tempfile
import unittest

import oiunit

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper, numpy_helper

h = helper

BIN = os.environ["OI_BIN"]
RNG = np.random.default_rng(7)
MS = "com.microsoft"


def w(*shape):
    return RNG.standard_normal(shape).astype(np.float32) * 0.05


def model(nodes, inits, inputs, outputs):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, e, s) for n, e, s in inputs],
                          [helper.make_tensor_value_info(n, T.FLOAT, None) for n in outputs],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)])


class FusedOps(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="oifused-")

    def roles(self, m):
        path = os.path.join(self.tmp, "m.onnx")
        onnx.save(m, path)
        r = subprocess.run([BIN, "plan", "--json", path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        roles = {t["name"]: t["role"] for t in doc["tensors"]}
        roles.update({t["name"]: "kept: " + t["reason"] for t in doc["untouched"]})
        return roles

    def test_embed_layer_normalization(self):
        inits = {"word": w(100, 16), "pos": w(32, 16), "seg": w(2, 16), "gamma": 1 + w(16),
                 "beta": w(16)}
        node = helper.make_node("EmbedLayerNormalization", ["ids", "segs", "word", "pos", "seg",
                                                           "gamma", "beta"], ["y", "mask_index"],
                                domain=MS, epsilon=1e-12)
        roles = self.roles(model([node], inits, [("ids", T.INT32, [1, 8]), ("segs", T.INT32, [1, 8])],
                                 ["y"]))
        self.assertEqual([roles[k] for k in ("word", "pos", "seg", "gamma", "beta")],
                         ["embedding", "position", "embedding", "norm_scale", "norm_bias"])

    def test_fused_biases_and_layers(self):
        inits = {"fc.weight": w(16, 32), "fc.bias": w(32), "fc2.weight": w(32, 16), "fc2.bias": w(16),
                 "conv.weight": w(8, 4, 3, 3), "skip.gamma": 1 + w(16), "skip.bias": w(16),
                 "out.weight": w(16, 16), "out.bias": w(16)}
        nodes = [helper.make_node("MatMul", ["x", "fc.weight"], ["h"]),
                 helper.make_node("BiasGelu", ["h", "fc.bias"], ["g"], domain=MS),
                 helper.make_node("MatMul", ["g", "fc2.weight"], ["h2"]),
                 helper.make_node("SkipSimplifiedLayerNormalization", ["h2", "x", "skip.gamma", "skip.bias"],
                                  ["n"], domain=MS),
                 helper.make_node("MatMul", ["n", "out.weight"], ["o"]),
                 helper.make_node("FastGelu", ["o", "out.bias"], ["y"], domain=MS),
                 helper.make_node("NhwcConv", ["img", "conv.weight"], ["c"], domain=MS),
                 helper.make_node("BiasAdd", ["y", "fc2.bias", "x"], ["y2"], domain=MS)]
        roles = self.roles(model(nodes, inits, [("x", T.FLOAT, [1, 4, 16]), ("img", T.FLOAT, [1, 8, 8, 4])],
                                 ["y2", "c"]))
        for k in ("fc.bias", "out.bias", "skip.bias", "fc2.bias"):
            self.assertEqual(roles[k], "bias", k)
        self.assertEqual(roles["skip.gamma"], "norm_scale")
        self.assertEqual(roles["conv.weight"], "weight")
        self.assertEqual(roles["fc.weight"], "weight")

    def test_rotary_caches_and_fused_logits_mask_are_kept(self):
        pos = np.arange(32)[:, None] * (1.0 / 10000 ** (np.arange(0, 8, 2) / 8))[None, :]
        inits = {"cos_cache": np.cos(pos).astype(np.float32), "sin_cache": np.sin(pos).astype(np.float32),
                 "mask": np.where(np.tril(np.ones((4, 4))) > 0, 0, -100).astype(np.float32)[None, None],
                 "rel.bias": w(1, 2, 4, 4),
                 "fused.mask": np.where(np.tril(np.ones((4, 4))) > 0, 0, -1e4).astype(np.float32)[None, None],
                 "fused.rel_bias": w(1, 2, 4, 4)}
        nodes = [helper.make_node("RotaryEmbedding", ["q", "pos_ids", "cos_cache", "sin_cache"], ["qr"],
                                  domain=MS),
                 helper.make_node("FusedMatMul", ["qr", "k"], ["s"], domain=MS, transB=1, alpha=0.25),
                 helper.make_node("Add", ["s", "mask"], ["sm"]),
                 helper.make_node("Add", ["sm", "rel.bias"], ["sb"]),
                 helper.make_node("Softmax", ["sb"], ["y"], axis=-1),
                 helper.make_node("BiasSoftmax", ["s", "fused.mask"], ["y2"], domain=MS, axis=-1),
                 helper.make_node("BiasSoftmax", ["s", "fused.rel_bias"], ["y3"], domain=MS, axis=-1)]
        roles = self.roles(model(nodes, inits, [("q", T.FLOAT, [1, 2, 4, 8]), ("k", T.FLOAT, [1, 2, 4, 8]),
                                                ("pos_ids", T.INT64, [1, 4])], ["y", "y2", "y3"]))
        self.assertIn("rotary", roles["cos_cache"])
        self.assertIn("rotary", roles["sin_cache"])
        self.assertIn("attention mask", roles["mask"])
        self.assertEqual(roles["rel.bias"], "rel_pos_bias")
        self.assertIn("attention mask", roles["fused.mask"])      # BiasSoftmax's additive mask
        self.assertEqual(roles["fused.rel_bias"], "rel_pos_bias")


    def test_dynamically_quantized_layers(self):
        """ORT's quantization tool's layers: the int8 weight as its float layer's,
        its scale and zero point refit, the float (or QGemm's int32) bias; the
        output still runs in ONNX Runtime."""
        i8 = lambda *s: RNG.integers(-100, 100, s).astype(np.int8)   # noqa: E731
        f = lambda *s: np.full(s, 0.01, np.float32)                 # noqa: E731
        inits = {"dq.W": i8(16, 8), "dq.s": f(8), "dq.z": np.zeros(8, np.int8), "dq.bias": w(8),
                 "mi.W": i8(8, 8), "mi.as": np.array(0.05, np.float32), "mi.s": f(8),
                 "mi.az": np.array(128, np.uint8), "mi.z": np.zeros(8, np.int8), "mi.bias": w(8),
                 "qg.W": i8(8, 8), "qg.as": np.array(0.05, np.float32), "qg.az": np.array(128, np.uint8),
                 "qg.s": f(1)[0:1].reshape(()), "qg.z": np.array(0, np.int8),
                 "qg.bias": RNG.integers(-50, 50, 8).astype(np.int32),
                 "qa.W": i8(8, 24), "qa.bias": w(24), "qa.is": np.array(0.05, np.float32),
                 "qa.s": np.array(0.01, np.float32), "qa.iz": np.array(128, np.uint8),
                 "qa.z": np.array(0, np.int8)}
        nodes = [h.make_node("DynamicQuantizeMatMul", ["x", "dq.W", "dq.s", "dq.z", "dq.bias"], ["a"], domain=MS),
                 h.make_node("DynamicQuantizeLinear", ["a"], ["aq", "aqs", "aqz"]),
                 h.make_node("MatMulIntegerToFloat", ["xq", "mi.W", "mi.as", "mi.s", "mi.az", "mi.z", "mi.bias"],
                             ["b"], domain=MS),
                 h.make_node("QGemm", ["xq", "qg.as", "qg.az", "qg.W", "qg.s", "qg.z", "qg.bias"], ["c"],
                             domain=MS),
                 h.make_node("QAttention", ["xq3", "qa.W", "qa.bias", "qa.is", "qa.s", "", "qa.iz", "qa.z"],
                             ["d"], domain=MS, num_heads=2)]
        m = model(nodes, inits, [("x", T.FLOAT, [1, 16]), ("xq", T.UINT8, [1, 8]), ("xq3", T.UINT8, [1, 4, 8])],
                  ["a", "b", "c", "d"])
        roles = self.roles(m)
        for p in ("dq", "mi", "qg", "qa"):
            self.assertEqual(roles[p + ".W"], "weight", p)
            self.assertEqual(roles[p + ".bias"], "bias", p)
        out = os.path.join(self.tmp, "q-out.onnx")
        r = subprocess.run([BIN, "-f", os.path.join(self.tmp, "m.onnx"), "-o", out], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        after = {t.name: numpy_helper.to_array(t) for t in onnx.load(out).graph.initializer}
        for p in ("dq", "mi", "qg", "qa"):
            self.assertFalse(np.array_equal(after[p + ".W"], inits[p + ".W"]), p)
            self.assertEqual(after[p + ".W"].dtype, np.int8, p)
        ort = os.environ.get("OI_ORT_DIR", "")
        if not os.path.isdir(os.path.join(ort, "node_modules", "onnxruntime-node")):
            self.skipTest("running the output needs ONNX Runtime (the test command installs it)")
        runner = os.path.join(os.environ["OI_SRC"], "tests", "ort", "run_model.js")
        r = subprocess.run(["node", runner, out, "1"], capture_output=True, text=True,
                           env=dict(os.environ, OI_ORT_DIR=ort), timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        for k, v in json.loads(r.stdout)["outputs"].items():
            self.assertTrue(v["finite"], k)


if __name__ == "__main__":
    oiunit.main()
