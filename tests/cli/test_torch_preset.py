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


def torch_reference(name, seed=0):
    torch.manual_seed(1234 + seed)
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
    """Distributions compared with torch's own reset_parameters() over two seeds, so a
    pass does not hang on one lucky draw.  With a hundred tensors a model, one KS test
    each at p > 0.001 would fail a correct fill about one run in ten: instead each
    tensor's p-value must clear 0.001 / (tests in the model) (Bonferroni: a single
    wrong tensor still fails), and all of a model's p-values combined by Fisher's
    method must clear 0.001 (many slightly wrong tensors fail too).  Each seed is
    compared with its own torch draw, so the p-values are independent."""
    SEEDS = (99, 7)

    def draws(self, name, seed):
        tmp = tempfile.mkdtemp(prefix="oitorch-")
        try:
            out = os.path.join(tmp, name)
            subprocess.run([BIN, "-q", "--preset", "torch", "--seed", str(seed),
                            os.path.join(TORCH, name), "-o", out], check=True)
            return {t.name: nh.to_array(t).astype(np.float64) for t in onnx.load(out).graph.initializer}
        finally:
            shutil.rmtree(tmp)

    def compare(self, name):
        pvalues = []   # (key, seed, p)
        print("\n%s: %-40s %5s %8s %10s %10s %8s" % (name, "tensor", "seed", "n", "std ours",
                                                      "std torch", "KS p"))
        for seed in self.SEEDS:
            ours = self.draws(name, seed)
            ref = torch_reference(name, seed)   # a fresh reference too: independent p-values
            checked = 0
            for key, want in ref.items():
                got = ours[key]
                self.assertEqual(got.shape, want.shape, key)
                with self.subTest(tensor=key, seed=seed):
                    if np.all(want == want.flat[0]):
                        self.assertTrue(np.all(got == want.flat[0]), key)   # norms, zero biases
                    elif want.size >= 50:
                        g, wv = got.ravel(), want.ravel()
                        if g.size > 200000:   # big layers: a fixed random subsample each
                            pick = np.random.default_rng(5).choice(g.size, 200000, replace=False)
                            g, wv = g[pick], wv[pick]
                        p = stats.ks_2samp(g, wv).pvalue
                        pvalues.append((key, seed, p))
                        sd = want.std()
                        print("%-50s %5d %8d %10.5f %10.5f %8.3f" % (key, seed, want.size, got.std(),
                                                                   sd, p))
                        self.assertLess(abs(got.std() / sd - 1), 0.1 + 3 / np.sqrt(want.size), key)
                        # 5 standard errors: about 1 in 10^6 per tensor for a correct fill
                        self.assertLess(abs(got.mean()), 5 * sd / np.sqrt(want.size) + 1e-7, key)
                        # a sample's max sits ~bound/n below a uniform's bound: allow 10/n
                        self.assertLessEqual(np.abs(got).max(),
                                             np.abs(want).max() * (1 + 10 / want.size) + 1e-6, key)
                    checked += 1
            self.assertEqual(checked, len(ref))
        if pvalues:
            each = 0.001 / len(pvalues)
            worst = min(pvalues, key=lambda x: x[2])
            self.assertGreater(worst[2], each, "%s seed %d: KS p %.2g <= %.2g" % (worst[0], worst[1],
                                                                               worst[2], each))
            fisher = stats.combine_pvalues([max(p, 1e-300) for _, _, p in pvalues],
                                           method="fisher").pvalue
            print("%s: %d KS tests over seeds %s; smallest p %.3g (needs > %.2g); Fisher's "
                  "combined p %.3g (needs > 0.001)" % (name, len(pvalues), list(self.SEEDS),
                                                       worst[2], each, fisher))
            self.assertGreater(fisher, 0.001, name)

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
