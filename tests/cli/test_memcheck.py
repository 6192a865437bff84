#!/usr/bin/python3
"""valgrind memcheck: a sample run, a plan, and the fuzzers' findings through the
analysis, with no error and no leak.  Registered for builds without sanitizers
(valgrind cannot run those; the sanitizers check the same there)."""
import glob
import os
import shutil
import subprocess
import tempfile
import unittest

import oiunit

BIN = os.environ["OI_BIN"]
FIX = os.environ["OI_FIXTURES"]
SRC_ROOT = os.environ["OI_SRC"]


class Memcheck(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="oimemcheck-")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_valgrind_clean(self):
        out = os.path.join(self.tmp, "v.onnx")
        r = subprocess.run(["valgrind", "--quiet", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
                            "--error-exitcode=99", BIN, "-q", "-j", "2",
                            os.path.join(SRC_ROOT, "samples", "tiny_cnn.onnx"), "-o", out],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        r = subprocess.run(["valgrind", "--quiet", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
                            "--error-exitcode=99", BIN, "plan", "--json",
                            os.path.join(FIX, "good", "lstm_bidir.onnx")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        # the fuzzers' findings, through the analysis and every preset: values read before
        # they are written are what ASan cannot see (a repeated Unsqueeze axis once did it)
        replay = os.path.join(os.path.dirname(os.environ["OI_LIB"]), "..", "..", "tests", "replay_graph")
        found = sorted(glob.glob(os.path.join(SRC_ROOT, "tests", "fuzz", "regressions", "*")))
        self.assertGreaterEqual(len(found), 4)
        r = subprocess.run(["valgrind", "--quiet", "--error-exitcode=99", replay, *found],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])


if __name__ == "__main__":
    oiunit.main()
