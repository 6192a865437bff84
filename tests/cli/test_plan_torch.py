#!/usr/bin/python3
"""`onnxinit plan --json` against what torch says of its own modules.

For torchvision resnet18, mobilenet_v3_small (HardSwish), a GELU
TransformerEncoder, a bidirectional LSTM and a GRU (tests/fixtures/
torch_fixtures.py): every parameter and float buffer of the module is in
the plan with the right role and fans, and every other constant of the
exported graph is left alone."""
import json
import os
import subprocess
import unittest

import oiunit

BIN = os.environ["OI_BIN"]
TORCH = os.path.join(os.environ["OI_FIXTURES"], "torch")
PARAMS = json.load(open(os.path.join(TORCH, "params.json")))


def plan(model, *args):
    r = subprocess.run([BIN, "plan", "--json", *args, os.path.join(TORCH, model)],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


class PlanVsTorch(unittest.TestCase):
    def check(self, model):
        doc = plan(model)
        want = PARAMS[model]
        got = {t["name"]: t for t in doc["tensors"]}
        self.assertEqual(set(got), set(want), "planned tensors differ from torch's parameters")
        for name, e in want.items():
            with self.subTest(tensor=name):
                t = got[name]
                self.assertEqual(t["shape"], e["shape"])
                self.assertEqual(t["role"], e["role"])
                if "fan_in" in e:
                    self.assertEqual((t["fan_in"], t["fan_out"]), (e["fan_in"], e["fan_out"]))
        self.assertEqual(doc["summary"]["untouched"], len(doc["untouched"]))
        for u in doc["untouched"]:
            self.assertNotIn(u["name"], want)
            self.assertTrue(u["reason"])
        return doc

    def test_resnet18(self):
        doc = self.check("resnet18.onnx")
        acts = {t["name"]: t["activation"] for t in doc["tensors"] if t["role"] == "weight"}
        self.assertEqual(acts["conv1.weight"], "relu")
        self.assertEqual(acts["layer1.0.conv2.weight"], "relu")   # through BN and residual Add
        self.assertEqual(acts["fc.weight"], "linear")

    def test_mobilenet_v3_small(self):
        doc = self.check("mobilenet_v3_small.onnx")
        acts = {t["activation"] for t in doc["tensors"] if t["role"] == "weight"}
        self.assertIn("hardswish", acts)
        self.assertIn("relu", acts)
        self.assertIn("hardsigmoid", acts)

    def test_transformer_gelu(self):
        doc = self.check("transformer_gelu.onnx")
        acts = {t["name"]: t["activation"] for t in doc["tensors"] if t["role"] == "weight"}
        self.assertEqual(acts["enc.layers.0.linear1.weight"], "gelu")

    def test_transformer_preset_residual_scale(self):
        doc = plan("transformer_gelu.onnx", "--preset", "transformer", "--residual-scale")
        std = {t["name"]: t["scheme"].get("std") for t in doc["tensors"] if t["role"] == "weight"}
        for layer in (0, 1):   # 2 layers: residual projections get 0.02/sqrt(4)
            p = "enc.layers.%d." % layer
            self.assertAlmostEqual(std[p + "self_attn.out_proj.weight"], 0.01)
            self.assertAlmostEqual(std[p + "linear2.weight"], 0.01)
            self.assertAlmostEqual(std[p + "linear1.weight"], 0.02)
            self.assertAlmostEqual(std[p + "self_attn.in_proj_weight"], 0.02)
        self.assertAlmostEqual(std["head.weight"], 0.02)

    def test_lstm_bidir(self):
        doc = self.check("lstm_bidir.onnx")
        b = {t["name"]: t["scheme"] for t in doc["tensors"]}
        # torch's gate order is i, f, g, o: the forget gate of bias_ih is [H, 2H)
        self.assertEqual(b["rnn.bias_ih_l0"]["ranges"], [[24, 24]])
        self.assertEqual(b["rnn.bias_hh_l0"]["name"], "zeros")
        self.assertEqual(b["rnn.weight_hh_l0_reverse"]["matrices"], 4)

    def test_gru(self):
        self.check("gru.onnx")

    def test_vgg11_bn(self):
        doc = self.check("vgg11_bn.onnx")
        acts = {t["name"]: t["activation"] for t in doc["tensors"] if t["role"] == "weight"}
        self.assertEqual(acts["features.0.weight"], "relu")     # through BatchNorm
        self.assertEqual(acts["classifier.0.weight"], "relu")   # Linear -> ReLU -> Dropout
        self.assertEqual(acts["classifier.6.weight"], "linear")


if __name__ == "__main__":
    oiunit.main()
