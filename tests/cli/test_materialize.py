#!/usr/bin/python3
"""--materialize: untrained graphs whose weights are graph inputs with static
shapes (or initializers with a shape and no data) become valid, runnable
models with initialized weights; data inputs stay inputs."""
import os
import shutil
import subprocess
import tempfile
import unittest

import oiunit

import numpy as np
import onnx
from onnx import numpy_helper as nh

BIN = os.environ["OI_BIN"]
UNTRAINED = os.path.join(os.environ["OI_FIXTURES"], "untrained")


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True)


class Materialize(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="oimat-")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_mlp_weights_from_inputs(self):
        src, dst = os.path.join(UNTRAINED, "mlp_inputs.onnx"), os.path.join(self.tmp, "m.onnx")
        r = run("--materialize", "--seed", "4", src, "-o", dst)
        self.assertEqual(r.returncode, 0, r.stderr)
        m = onnx.load(dst)
        onnx.checker.check_model(m)
        self.assertEqual([i.name for i in m.graph.input], ["x"])
        w = {t.name: nh.to_array(t) for t in m.graph.initializer}
        self.assertEqual(set(w), {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"})
        self.assertEqual(w["fc1.weight"].shape, (64, 16))
        self.assertAlmostEqual(float(w["fc1.weight"].std()), np.sqrt(2 / 16), delta=0.03)
        self.assertTrue(np.all(w["fc1.bias"] == 0) and np.all(w["fc2.bias"] == 0))
        bound = np.sqrt(6 / 68)
        self.assertLessEqual(float(np.abs(w["fc2.weight"]).max()), bound + 1e-6)
        # runnable: a numpy forward pass with the model's own weights is finite and non-zero
        x = np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32)
        y = np.maximum(x @ w["fc1.weight"].T + w["fc1.bias"], 0) @ w["fc2.weight"].T + w["fc2.bias"]
        self.assertTrue(np.all(np.isfinite(y)) and np.abs(y).max() > 0)

    def test_fp16_conv_from_inputs(self):
        src, dst = os.path.join(UNTRAINED, "conv_fp16_inputs.onnx"), os.path.join(self.tmp, "c.onnx")
        r = run("--materialize", src, "-o", dst)
        self.assertEqual(r.returncode, 0, r.stderr)
        m = onnx.load(dst)
        onnx.checker.check_model(m)
        self.assertEqual([i.name for i in m.graph.input], ["img"])
        w = {t.name: nh.to_array(t) for t in m.graph.initializer}
        self.assertEqual(w["c.w"].dtype, np.float16)
        self.assertLessEqual(float(np.abs(w["c.w"].astype(np.float32)).max()),
                             5 / 3 * np.sqrt(6 / (27 + 72)) * 1.001)

    def test_without_materialize_nothing_is_invented(self):
        src, dst = os.path.join(UNTRAINED, "mlp_inputs.onnx"), os.path.join(self.tmp, "n.onnx")
        r = run(src, "-o", dst)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(open(src, "rb").read(), open(dst, "rb").read())
        p = run("plan", src)
        self.assertIn("materialize option", p.stdout)

    def test_plan_shows_materialized_weights(self):
        p = run("plan", "--json", "--materialize", os.path.join(UNTRAINED, "mlp_inputs.onnx"))
        self.assertEqual(p.returncode, 0, p.stderr)
        import json
        names = {t["name"] for t in json.loads(p.stdout)["tensors"]}
        self.assertEqual(names, {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"})


if __name__ == "__main__":
    oiunit.main()
