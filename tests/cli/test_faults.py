#!/usr/bin/python3
"""Faults: a file-size limit (EFBIG), a full filesystem (ENOSPC), a read-only
output folder, kill -9 at random moments during a large write.  Each failure:
a clear error, nothing partial, the input intact.  Mount-based cases need root
and report SKIP otherwise."""
import hashlib
import os
import random
import resource
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import oiunit

BIN = os.environ["OI_BIN"]
FIX = os.environ["OI_FIXTURES"]
SRC_ROOT = os.environ["OI_SRC"]
BIG = os.path.join(FIX, "good", "resnet18.onnx")


def sha(p):
    return hashlib.sha256(open(p, "rb").read()).hexdigest()


def tmp_files(d):
    return [f for f in os.listdir(d) if ".oi-tmp-" in f]


class Faults(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="oifault-")
        self.mounts = []

    def tearDown(self):
        for m in reversed(self.mounts):
            subprocess.run(["umount", m], capture_output=True)
        shutil.rmtree(self.tmp)

    def mount_tmpfs(self, name, opts):
        d = os.path.join(self.tmp, name)
        os.makedirs(d)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", d], capture_output=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs here (needs root): " + r.stderr.decode().strip())
        self.mounts.append(d)
        return d

    def refused_cleanly(self, out, r, words):
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertTrue(any(w in r.stderr for w in words), r.stderr)
        self.assertFalse(os.path.exists(out))
        self.assertEqual(tmp_files(os.path.dirname(out)), [])

    def test_file_size_limit(self):
        before = sha(BIG)
        out = os.path.join(self.tmp, "o.onnx")
        for extra in ([], ["--full-encode"]):
            r = subprocess.run([BIN, *extra, BIG, "-o", out], capture_output=True, text=True,
                               preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE,
                                                                     (1 << 20, 1 << 20)))
            self.refused_cleanly(out, r, ["File too large"])
        self.assertEqual(sha(BIG), before)

    def test_full_filesystem(self):
        d = self.mount_tmpfs("small", "size=8m")
        out = os.path.join(d, "o.onnx")
        for extra in ([], ["--full-encode"]):
            r = subprocess.run([BIN, *extra, BIG, "-o", out], capture_output=True, text=True)
            self.refused_cleanly(out, r, ["No space left"])
        # external data: the data file cannot fit either
        src = os.path.join(FIX, "good", "external.onnx")
        r = subprocess.run([BIN, "--external-data", BIG, "-o", out], capture_output=True, text=True)
        self.refused_cleanly(out, r, ["No space left"])
        self.assertFalse(os.path.exists(out + ".data"))
        self.assertTrue(os.path.exists(src))

    def test_read_only_folder(self):
        d = self.mount_tmpfs("ro", "ro,size=1m")
        out = os.path.join(d, "o.onnx")
        r = subprocess.run([BIN, BIG, "-o", out], capture_output=True, text=True)
        self.refused_cleanly(out, r, ["Read-only file system", "Permission denied"])

    def test_lapack_loaded_only_for_orthogonal_fills(self):
        """LAPACKE is opened when an orthogonal fill needs it (OpenBLAS's thread
        pool would spin on the fill's cores otherwise).  With a broken
        liblapacke.so.3 first on the search path, a model without recurrent
        weights is re-initialized as usual, and an LSTM's is refused naming
        the library, with nothing written."""
        libdir = os.path.join(self.tmp, "lib")
        os.makedirs(libdir)
        open(os.path.join(libdir, "liblapacke.so.3"), "wb").write(b"not an ELF file")
        env = dict(os.environ, LD_LIBRARY_PATH=libdir + ":" + os.environ.get("LD_LIBRARY_PATH", ""))
        mlp = os.path.join(FIX, "good", "mlp.onnx")
        ok = os.path.join(self.tmp, "mlp.onnx")
        r = subprocess.run([BIN, mlp, "-o", ok], capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(ok))
        lstm = os.path.join(FIX, "good", "lstm_bidir.onnx")
        before = sha(lstm)
        out = os.path.join(self.tmp, "lstm.onnx")
        r = subprocess.run([BIN, lstm, "-o", out], capture_output=True, text=True, env=env)
        self.refused_cleanly(out, r, ["liblapacke.so.3"])
        self.assertIn("orthogonal", r.stderr)
        self.assertRegex(r.stderr, r"tensor '[^']+': orthogonal fills need LAPACKE")
        self.assertEqual(sha(lstm), before)
        r = subprocess.run([BIN, lstm, "-o", out], capture_output=True, text=True)   # as usual
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_kill_9_during_large_writes(self):
        """50 kills at random moments: the output is absent or complete; at most
        the one temp file in flight remains (never read; safe to delete)."""
        src = os.path.join(self.tmp, "big.onnx")
        # ~190 MB: four copies of resnet18's weights in one model
        subprocess.run(["/usr/bin/python3", "-c", """
import onnx, sys
m = onnx.load(sys.argv[1])
extra = []
for k in range(3):
    for t in m.graph.initializer:
        c = onnx.TensorProto(); c.CopyFrom(t); c.name = t.name + "_copy%d" % k; extra.append(c)
m.graph.initializer.extend(extra)
onnx.save(m, sys.argv[2])
""", BIG, src], check=True)
        ref = os.path.join(self.tmp, "ref.onnx")
        subprocess.run([BIN, "-q", "--seed", "3", "--full-encode", src, "-o", ref], check=True)
        want = sha(ref)
        out = os.path.join(self.tmp, "out", "o.onnx")
        os.makedirs(os.path.dirname(out))
        rnd = random.Random(1234)
        outcomes = {"absent": 0, "complete": 0}
        for i in range(50):
            if os.path.exists(out):
                os.unlink(out)
            args = [BIN, "-q", "--seed", "3", src, "-o", out] + (["--full-encode"] if i % 2 else [])
            p = subprocess.Popen(args)
            time.sleep(rnd.uniform(0.0, 0.6))
            p.send_signal(signal.SIGKILL)
            p.wait()
            left = tmp_files(os.path.dirname(out))
            self.assertLessEqual(len(left), 1)
            for f in left:
                os.unlink(os.path.join(os.path.dirname(out), f))
            if os.path.exists(out):
                self.assertEqual(sha(out), want)
                outcomes["complete"] += 1
            else:
                outcomes["absent"] += 1
        print("\nkill -9 x50:", outcomes)
        self.assertGreater(outcomes["absent"], 0)


if __name__ == "__main__":
    oiunit.main()
