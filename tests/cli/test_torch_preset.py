#!/usr/bin/python3
"""`--preset torch` against torch itself.

For each torch export (tests/fixtures/torch_fixtures.py) the module is
constructed afresh and every submodule's reset_parameters() is called (what
torch gives per layer type; torchvision's constructors add their own init on
top, which the preset does not claim to copy).  Then, per tensor: a
two-sample KS test (p > 0.001) and mean/std within bounds for random ones,
exact equality for constant ones (biases, norms)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import oiunit

import numpy as np
import onnx
import torch
from onnx import numpy_helper as nh
from scipy import stats

sys.path.insert(0, os.path.join(os.environ["OI_SRC"], "tests", "fixtures"))
import torch_fixtures  # noqa: E402

BIN = os.environ["OI_BIN"]
TORCH = os.path.join(os.environ["OI_FIXTURES"], "torch")


def torch_reference(name):
    torch.manual_seed(1234)
    import torchvision
    module = {
        "resnet18.onnx": lambda: torchvision.models.resnet18(num_classes=10),
        "mobilenet_v3_small.onnx": lambda: torchvision.models.mobilenet_v3_small(num_classes=10),
        "vgg11_bn.onnx": torch_fixtures.vgg11_bn,
        "transformer_gelu.onnx": lambda: torch_fixtures.Encoder(),
        "lstm_bidir.onnx": lambda: torch_fixtures.Rec(torch.nn.LSTM, True),
        "gru.onnx": lambda: torch_fixtures.Rec(torch.nn.GRU, False),
    }[name]()
    for m in module.modules():
        if isinstance(m, torch.nn.MultiheadAttention):
            m._reset_parameters()
        elif hasattr(m, "reset_parameters"):
            m.reset_parameters()
        if hasattr(m, "reset_running_stats"):
            m.reset_running_stats()
    return {k: v.detach().numpy().astype(np.float64) for k, v in module.state_dict().items()
            if v.is_floating_point()}


class TorchPreset(unittest.TestCase):
    def compare(self, name):
        tmp = tempfile.mkdtemp(prefix="oitorch-")
        try:
            out = os.path.join(tmp, name)
            subprocess.run([BIN, "-q", "--preset", "torch", "--seed", "99",
                            os.path.join(TORCH, name), "-o", out], check=True)
            ours = {t.name: nh.to_array(t).astype(np.float64) for t in onnx.load(out).graph.initializer}
        finally:
            shutil.rmtree(tmp)
        ref = torch_reference(name)
        checked = 0
        print("\n%s: %-40s %8s %10s %10s %8s" % (name, "tensor", "n", "std ours", "std torch", "KS p"))
        for key, want in ref.items():
            got = ours[key]
            self.assertEqual(got.shape, want.shape, key)
            with self.subTest(tensor=key):
                if np.all(want == want.flat[0]):
                    self.assertTrue(np.all(got == want.flat[0]), key)   # norms, zero biases
                elif want.size >= 50:
                    g, wv = got.ravel(), want.ravel()
                    if g.size > 200000:   # big layers: a fixed random subsample each
                        pick = np.random.default_rng(5).choice(g.size, 200000, replace=False)
                        g, wv = g[pick], wv[pick]
                    p = stats.ks_2samp(g, wv).pvalue
                    sd = want.std()
                    print("%-50s %8d %10.5f %10.5f %8.3f" % (key, want.size, got.std(), sd, p))
                    self.assertGreater(p, 0.001, key)
                    self.assertLess(abs(got.std() / sd - 1), 0.1 + 3 / np.sqrt(want.size), key)
                    self.assertLess(abs(got.mean()), 4 * sd / np.sqrt(want.size) + 1e-7, key)
                    # a sample's max sits ~bound/n below a uniform's bound: allow 10/n
                    self.assertLessEqual(np.abs(got).max(),
                                         np.abs(want).max() * (1 + 10 / want.size) + 1e-6, key)
                checked += 1
        self.assertEqual(checked, len(ref))

    def test_resnet18(self):
        self.compare("resnet18.onnx")

    def test_mobilenet_v3_small(self):
        self.compare("mobilenet_v3_small.onnx")

    def test_vgg11_bn(self):
        self.compare("vgg11_bn.onnx")

    def test_transformer_encoder(self):
        self.compare("transformer_gelu.onnx")

    def test_lstm_bidir(self):
        self.compare("lstm_bidir.onnx")

    def test_gru(self):
        self.compare("gru.onnx")


if __name__ == "__main__":
    oiunit.main()
