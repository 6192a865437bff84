#!/usr/bin/python3
"""A re-initialized model keeps its signal, measured by running it.

torchvision nets are exported the default way (eval mode: BatchNorm folded
into the convolutions), re-initialized with the defaults, run in ONNX Runtime
on N(0, 1) inputs over several seeds, and their output std compared with a
freshly built torch model in training mode (what training sees at step 0):
within 10x and finite.  The same nets with --signal off explode or vanish on
some of them (the reason the gains exist), and audit says which.  Exits 77
(SKIP) without ONNX Runtime."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import oiunit

import asan_python
import ort_runner

BIN = os.environ["OI_BIN"]
SRC = os.environ["OI_SRC"]
ORT_DIR = os.environ.get("OI_ORT_DIR", "")
RUNNER = os.path.join(SRC, "tests", "ort", "run_model.js")
sys.path.insert(0, os.path.join(SRC, "tests", "zoo"))
from signal_nets import NETS, SEEDS, TRAIN_NETS  # noqa: E402  (exported with the zoo)
EXPORTS = os.path.join(os.environ["OI_ZOO"], "signal")


def ort_std(model, seed):
    outputs, err = ort_runner.run(model, seed)
    if outputs is None:
        raise AssertionError(err)
    out = next(iter(outputs.values()))
    return out["std"], out["finite"]


class TrainableAsItStands(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="oi-signal-")
        with open(os.path.join(EXPORTS, "fresh.json")) as f:
            fresh = json.load(f)
        cls.nets = {name: (os.path.join(EXPORTS, name + ".onnx"), fresh[name]) for name in NETS}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def reinit(self, name, seed, *extra):
        src = self.nets[name][0]
        dst = os.path.join(self.tmp, "%s-%d-%s.onnx" % (name, seed, "-".join(extra)))
        r = subprocess.run([BIN, "-f", "--seed", str(seed), *extra, src, "-o", dst],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return dst, r.stderr

    def test_output_spread_within_10x_of_fresh_torch(self):
        table = []
        for name in NETS:
            fresh = self.nets[name][1]
            with self.subTest(net=name):
                ratios = []
                for seed in SEEDS:
                    out, _ = self.reinit(name, seed)
                    std, finite = ort_std(out, seed)
                    self.assertTrue(finite, name)
                    ratios.append(std / fresh)
                    self.assertTrue(0.1 < std / fresh < 10, "%s seed %d: std %.4g, fresh torch "
                                    "%.4g" % (name, seed, std, fresh))
                table.append("%-16s fresh %.3g  ratio %s" % (name, fresh,
                             " ".join("%.3g" % r for r in ratios)))
        print("\n" + "\n".join(table), file=sys.stderr)

    def test_folded_nets_announce_the_gains(self):
        for name in ("resnet18", "efficientnet_b0"):
            _, err = self.reinit(name, 1)
            self.assertIn("signal-preserving gains chosen", err)

    def test_without_the_gains_they_explode_or_vanish_and_audit_says_so(self):
        for name, flag, bad in (("resnet50", "exploding", lambda r: r > 30),
                                ("efficientnet_b0", "vanishing", lambda r: r < 1 / 30)):
            with self.subTest(net=name):
                fresh = self.nets[name][1]
                off, _ = self.reinit(name, 1, "--signal", "off")
                std, _ = ort_std(off, 1)
                self.assertTrue(bad(std / fresh), "%s: ratio %.3g" % (name, std / fresh))
                doc = json.loads(subprocess.run([BIN, "audit", "--json", off], capture_output=True,
                                                text=True).stdout)
                self.assertIn(flag, doc["summary"]["signal"])
                on, _ = self.reinit(name, 1)
                doc = json.loads(subprocess.run([BIN, "audit", "--json", on], capture_output=True,
                                                text=True).stdout)
                self.assertEqual(doc["summary"]["signal"], [])
                self.assertTrue(0.1 < doc["summary"]["output_rms"] < 10)

    def test_training_mode_exports_keep_their_norms(self):
        """Exported in training mode (BatchNorm kept), the nets need no gains:
        none are chosen, and the outputs are within 10x of fresh torch too."""
        for name in TRAIN_NETS:
            fresh, src = self.nets[name][1], os.path.join(EXPORTS, name + "-train.onnx")
            doc = json.loads(subprocess.run([BIN, "plan", "--json", src], capture_output=True,
                                            text=True).stdout)
            self.assertEqual(doc["summary"]["signal_preserving_layers"], 0, name)
            self.assertNotIn("warning", doc["summary"], name)
            ratios = []
            for seed in SEEDS:
                dst = os.path.join(self.tmp, "%s-train-%d.onnx" % (name, seed))
                r = subprocess.run([BIN, "-q", "-f", "--seed", str(seed), src, "-o", dst],
                                   capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, r.stderr)
                std, finite = ort_std(dst, seed)
                self.assertTrue(finite, name)
                ratios.append(std / fresh)
            print("%-16s training export: ratio %s" % (name, " ".join("%.3g" % x for x in ratios)),
                  file=sys.stderr)
            for x in ratios:
                self.assertTrue(0.1 < x < 10, "%s: %.3g" % (name, x))

    def test_python_binding_warns_and_takes_the_mode(self):
        # In a child, which gets the sanitizer runtime preloaded when the build has one.
        child = """
import sys, warnings
sys.path.insert(0, sys.argv[1])
import onnxinit
src, out = sys.argv[2], sys.argv[3]
for mode, expect in (("auto", "signal-preserving gains"), ("off", "BatchNorm was likely folded")):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        onnxinit.reinit(src, output=out, overwrite=True, signal=mode)
    assert any(expect in str(c.message) for c in caught), (mode, [str(c.message) for c in caught])
try:
    onnxinit.reinit(src, output=out, overwrite=True, signal="maybe")
except ValueError:
    print("ok")
"""
        r = subprocess.run([sys.executable, "-c", child, os.environ["OI_PYTHON_SRC"],
                            self.nets["resnet18"][0], os.path.join(self.tmp, "py.onnx")],
                           capture_output=True, text=True, env=asan_python.child_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "ok", r.stderr)

if __name__ == "__main__":
    if not (ORT_DIR and os.path.isdir(os.path.join(ORT_DIR, "node_modules", "onnxruntime-node"))):
        print("SKIP: ONNX Runtime for Node not installed (scripts/test.sh installs it)")
        sys.exit(77)
    oiunit.main()
