#!/usr/bin/python3
"""Every test model through the program, for the sanitizer build.

The numeric suites (ONNX Runtime runs, distribution tests against torch) measure
values, which a sanitizer does not change, and spend their time in torch and ONNX
Runtime; the sanitizer build skips them and runs this instead: each model they
use (fixtures, the zoo in its three exports, the torchvision nets of the signal
test) planned, re-initialized with the defaults (the patch save) and with the
torch preset, signal gains off and the full encode, and the result audited.  Any sanitizer report aborts the program, which
fails here."""
import glob
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import oiunit

BIN = os.environ["OI_BIN"]
FIX = os.environ["OI_FIXTURES"]
ZOO = os.environ["OI_ZOO"]


def models():
    out = []
    for pattern in ("good/*.onnx", "torch/*.onnx", "analysis/*.onnx", "odd/*.onnx"):
        out += sorted(glob.glob(os.path.join(FIX, pattern)))
    for pattern in ("*.onnx", "extra/*.onnx", "signal/*.onnx"):
        out += sorted(glob.glob(os.path.join(ZOO, pattern)))
    return out


class Sweep(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="oisweep-")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def run_ok(self, *args):
        r = subprocess.run([BIN, *args], capture_output=True, text=True, errors="replace",
                           timeout=600)
        self.assertEqual(r.returncode, 0, "%s: %s" % (" ".join(args), r.stderr[-3000:]))
        return r

    def test_every_model(self):
        found = models()
        self.assertGreater(len(found), 120)
        self.assertTrue(any(p.endswith("signal/resnet50.onnx") for p in found))
        out = os.path.join(self.tmp, "out.onnx")
        for src in found:
            with self.subTest(model=os.path.relpath(src, os.path.dirname(FIX))):
                json.loads(self.run_ok("plan", "--json", src).stdout)
                for extra in ([], ["--preset", "torch", "--signal", "off", "--full-encode"]):
                    self.run_ok("-q", "-f", *extra, src, "-o", out)
                json.loads(self.run_ok("audit", "--json", out).stdout)

    def test_untrained_graphs(self):
        out = os.path.join(self.tmp, "out.onnx")
        for src in sorted(glob.glob(os.path.join(FIX, "untrained", "*.onnx"))):
            with self.subTest(model=os.path.basename(src)):
                self.run_ok("-q", "-f", "--materialize", src, "-o", out)
                self.run_ok("plan", out)


if __name__ == "__main__":
    oiunit.main()
