#!/usr/bin/python3
"""Hardening II: one test per class of hostile input (and beyond the examples):
no input, option or interruption costs a user a file, crashes, hangs, or is
silently not done.  Each case builds its own files in a temp folder."""
import collections
import glob
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import unittest

import oiunit

import numpy as np
import onnx
from onnx import TensorProto as T, helper as h, numpy_helper as nh
from onnx import external_data_helper

BIN = os.environ["OI_BIN"]
FIX = os.environ["OI_FIXTURES"]
GOOD = os.path.join(FIX, "good")


def run(*args, cwd=None, timeout=60):
    return subprocess.run([BIN, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def vi(name, shape=None, elem=T.FLOAT):
    return h.make_tensor_value_info(name, elem, shape)


def save(m, path):
    onnx.save(m, path)
    return path


def digest(path):
    with open(path, "rb") as f:
        return f.read()


class Hardening(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="oihard-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def p(self, *parts):
        return os.path.join(self.tmp, *parts)

    def temp_files(self):
        return [f for f in glob.glob(self.p("**", "*"), recursive=True) if ".tmp" in f]

    def external_model(self):
        m = onnx.load(os.path.join(GOOD, "mlp.onnx"))
        external_data_helper.convert_model_to_external_data(m, location="weights.bin",
                                                            size_threshold=0)
        onnx.save(m, self.p("ext.onnx"))
        return self.p("ext.onnx"), self.p("weights.bin")

    # ---- memory: what --max-memory counts ----
    def empty_nodes_model(self, path, n):
        """n empty NodeProtos (2 bytes each on disk) in an otherwise valid model."""
        g = h.make_graph([], "g", [vi("x", [1])], [vi("x", [1])])
        m = h.make_model(g)
        body = g.SerializeToString() + b"\x0a\x00" * n
        length, size = b"", len(body)
        while True:
            length += bytes([(size & 0x7f) | (0x80 if size >> 7 else 0)])
            size >>= 7
            if not size:
                break
        m.ClearField("graph")
        with open(path, "wb") as f:
            f.write(m.SerializeToString() + b"\x3a" + length + body)
        return path

    def peak_rss(self, *args):
        """Peak resident memory (bytes) of one onnxinit run, and its exit status.  Measured
        by /usr/bin/time: a child forked from this (large) interpreter would count the
        interpreter's pages until its exec."""
        env = {k: v for k, v in os.environ.items() if k != "MALLOC_PERTURB_"}   # meson's: it
        r = subprocess.run(["/usr/bin/time", "-f", "%M", BIN, *args], capture_output=True,
                           text=True, env=env)                         # changes what is held
        return int(r.stderr.strip().splitlines()[-1]) * 1024, r.returncode

    def test_max_memory_counts_decoded_messages(self):
        """A model of tiny messages decodes to ~100x its size.  The budget counts
        256 B per message (README): one such model stays under its estimate, and two
        under a budget for one run one after the other, not together.  (Under ASan,
        whose allocator holds freed memory and shadows all of it, the runs must only
        succeed alike: the memory figures are the sanitizer's.)"""
        n = 600000
        a = self.empty_nodes_model(self.p("a.onnx"), n)
        estimate = os.path.getsize(a) + 256 * n
        single, rc = self.peak_rss("plan", a)
        self.assertEqual(rc, 0)
        sanitized = os.environ.get("OI_SANITIZE", "none") != "none"
        if not sanitized:   # ASan's shadow memory is not the program's
            self.assertLess(single, estimate + 48 << 20)
        self.assertGreater(single, 50 * os.path.getsize(a))   # what file bytes would miss
        os.makedirs(self.p("tree"))
        for k in range(2):
            self.empty_nodes_model(self.p("tree", "m%d.onnx" % k), n)
        budget = "%dK" % (estimate * 3 // 2 // 1024)
        limited, rc = self.peak_rss("-q", "-r", self.p("tree"), "--output-dir", self.p("o1"),
                                    "-j", "2", "--max-memory", budget)
        # Unbudgeted, the two overlap as far as the scheduler lets them: on a
        # loaded machine one may finish before the other starts its decode, so
        # the peak is the highest of up to three runs.
        together = 0
        for attempt in range(3):
            shutil.rmtree(self.p("o2"), ignore_errors=True)
            peak, rc2 = self.peak_rss("-q", "-r", self.p("tree"), "--output-dir", self.p("o2"),
                                      "-j", "2")
            together = max(together, peak)
            if together > 1.6 * single:
                break
        self.assertEqual(rc, rc2)   # the same outcome with and without the budget
        self.assertIn(rc, (0, 1))
        if not sanitized:   # ASan's allocator keeps freed memory in quarantine
            self.assertGreater(together, 1.6 * single)
            self.assertLess(limited, 1.35 * single)

    def test_one_external_file_per_tensor_is_patched_not_held(self):
        """Weights in one file each: the patch save gathers them into one new data file
        (kept tensors copied, new ones written once), the same tensors as the full encode,
        and the weights never pass through memory; the input's files are untouched."""
        rng = np.random.default_rng(3)
        inits = [nh.from_array(rng.normal(0, 1, (1024, 1024)).astype(np.float32), "w%d" % i)
                 for i in range(24)]
        inits.append(nh.from_array(np.arange(3, dtype=np.int64), "ids"))   # kept, external too
        nodes, x = [], "x"
        for i in range(24):
            nodes += [h.make_node("MatMul", [x, "w%d" % i], ["m%d" % i]),
                      h.make_node("Relu", ["m%d" % i], ["r%d" % i])]
            x = "r%d" % i
        nodes.append(h.make_node("Gather", [x, "ids"], ["y"], axis=1))
        m = h.make_model(h.make_graph(nodes, "g", [vi("x", [1, 1024])], [vi("y", None)], inits),
                         opset_imports=[h.make_opsetid("", 17)])
        os.makedirs(self.p("each"))
        src = self.p("each", "m.onnx")
        onnx.save(m, src, save_as_external_data=True, all_tensors_to_one_file=False,
                  size_threshold=0)
        before = {f: digest(self.p("each", f)) for f in os.listdir(self.p("each"))}
        rss, rc = self.peak_rss("-q", src, "-o", self.p("patch.onnx"), "--seed", "8")
        self.assertEqual(rc, 0)
        r = run("-q", src, "-o", self.p("full.onnx"), "--seed", "8", "--full-encode")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.values(self.p("patch.onnx")), self.values(self.p("full.onnx")))
        self.assertEqual(self.values(self.p("patch.onnx"))["ids"], np.arange(3).tobytes())
        self.assertEqual(sorted(os.listdir(self.tmp)), sorted(
            ["each", "patch.onnx", "patch.onnx.data", "full.onnx", "full.onnx.data"]))
        if os.environ.get("OI_SANITIZE", "none") == "none":
            self.assertLess(rss, 48 << 20)   # 96 MB of weights
        self.assertEqual({f: digest(self.p("each", f)) for f in os.listdir(self.p("each"))}, before)
        r = run("-q", "--in-place", src)   # in place: a new data file beside it, same bytes
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.values(src).keys(), self.values(self.p("patch.onnx")).keys())

    # ---- data loss without being asked ----
    def crash_at_rename(self, n, *args):
        """Run onnxinit killed (SIGKILL) as it makes its n-th rename, as a power cut would."""
        return subprocess.run(["strace", "-f", "-o", "/dev/null", "-e",
                               "trace=rename,renameat,renameat2", "-e",
                               "inject=rename,renameat,renameat2:signal=KILL:when=%d" % n,
                               BIN, *args], capture_output=True, text=True, timeout=120)

    def values(self, model):
        return {t.name: nh.to_array(t).tobytes() for t in onnx.load(model).graph.initializer}

    def test_model_and_data_commit_as_a_pair(self):
        """A full encode that replaces a model with external data (in place, or -f over a
        model and its data) writes the new data under the alternate name, renames the
        model last and removes the old data after: killed between the two renames, the
        old model still reads its old data, every byte."""
        model, data = self.external_model()
        for attempt, (args, target) in enumerate((
                (["--in-place", "--full-encode", model], model),
                (["-f", "--full-encode", model, "-o", self.p("out.onnx")], self.p("out.onnx")))):
            if attempt == 1:   # a model and its data to replace
                self.assertEqual(run("-q", model, "-o", target, "--seed", "1").returncode, 0)
            before = self.values(target)
            files = set(os.listdir(self.tmp))
            r = self.crash_at_rename(2, "-q", *args)
            self.assertEqual(r.returncode, -signal.SIGKILL, r.stderr)
            self.assertEqual(self.values(target), before, args)   # old model, old data
            onnx.checker.check_model(target)
            for f in set(os.listdir(self.tmp)) - files:   # the new data and a temp file
                self.assertTrue(f.startswith(".") or f.endswith(".1"), f)
                os.unlink(self.p(f))
            r = self.crash_at_rename(1, "-q", *args)   # before anything lands
            self.assertEqual(self.values(target), before)
            for f in set(os.listdir(self.tmp)) - files:
                os.unlink(self.p(f))
            r = run("-q", *args)
            self.assertEqual(r.returncode, 0, r.stderr)
            after = self.values(target)
            self.assertTrue(any(after[k] != before[k] for k in before))
            self.assertEqual(len(set(os.listdir(self.tmp)) - files), 1)   # new data only...
            self.assertEqual(len(files - set(os.listdir(self.tmp))), 1)   # ...old data gone
            r = run("-q", *args)   # and back to the first name
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(set(os.listdir(self.tmp)), files)

    def test_output_over_inputs_data_file_refused_even_with_force(self):
        model, data = self.external_model()
        before = digest(data)
        r = run(model, "-f", "-o", data)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("external data", r.stderr)
        self.assertEqual(digest(data), before)
        onnx.checker.check_model(model)

    def test_side_file_named_like_the_input_refused(self):
        shutil.copy(os.path.join(GOOD, "mlp.onnx"), self.p("x.onnx"))
        before = digest(self.p("x.onnx"))
        os.makedirs(self.p("d"))
        for args in (["--external-data=x.onnx", "-o", self.p("y.onnx")],
                     ["--external-data=x.onnx", "-f", "-o", self.p("y.onnx")]):
            r = run(self.p("x.onnx"), *args)
            self.assertNotEqual(r.returncode, 0, r.stderr)
            self.assertEqual(digest(self.p("x.onnx")), before)
        self.assertEqual(self.temp_files(), [])

    def test_backup_of_data_in_a_subfolder_loads(self):
        m = onnx.load(os.path.join(GOOD, "mlp.onnx"))
        before = {t.name: nh.to_array(t).copy() for t in m.graph.initializer}
        os.makedirs(self.p("w"))
        external_data_helper.convert_model_to_external_data(m, location="w/weights.bin",
                                                            size_threshold=0)
        onnx.save(m, self.p("sub.onnx"))
        r = run(self.p("sub.onnx"), "--in-place", "--backup", ".bak")
        self.assertEqual(r.returncode, 0, r.stderr)
        back = onnx.load(self.p("sub.onnx.bak"))   # loads its data through the new location
        for t in back.graph.initializer:
            np.testing.assert_array_equal(nh.to_array(t), before[t.name])
        fresh = onnx.load(self.p("sub.onnx"))
        self.assertTrue(any(not np.array_equal(nh.to_array(t), before[t.name])
                            for t in fresh.graph.initializer))

    def test_in_place_never_takes_another_models_data_file(self):
        model, data = self.external_model()           # ext.onnx reads weights.bin
        with open(self.p("ext.onnx.data"), "wb") as f:   # someone else's file
            f.write(b"another model's weights")
        r = run(model, "--in-place", "--external-data=ext.onnx.data")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("does not read it", r.stderr)
        with open(self.p("ext.onnx.data"), "rb") as f:
            self.assertEqual(f.read(), b"another model's weights")
        before = digest(data)
        r = run(model, "--in-place")                  # its own data, rewritten under its name
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotEqual(digest(data), before)
        with open(self.p("ext.onnx.data"), "rb") as f:
            self.assertEqual(f.read(), b"another model's weights")
        onnx.checker.check_model(model)
        onnx.load(model)

    def test_report_never_overwrites_without_force(self):
        shutil.copy(os.path.join(GOOD, "mlp.onnx"), self.p("a.onnx"))
        shutil.copy(os.path.join(GOOD, "mlp.onnx"), self.p("b.onnx"))
        before = digest(self.p("a.onnx"))
        r = run(self.p("a.onnx"), self.p("b.onnx"), "--output-dir", self.p("out"), "--report",
                self.p("a.onnx"))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(digest(self.p("a.onnx")), before)
        self.assertFalse(os.path.exists(self.p("out")))   # refused before any work

    def test_special_file_targets_refused_with_or_without_force(self):
        """A FIFO, a socket, a character device and a link to one are never
        replaced by a regular file, as the model output or the report."""
        import socket
        src = os.path.join(GOOD, "mlp.onnx")
        fifo, sock, link = self.p("fifo"), self.p("sock"), self.p("device-link")
        os.mkfifo(fifo)
        s = socket.socket(socket.AF_UNIX)
        s.bind(sock)
        targets = [fifo, sock]
        if os.geteuid() == 0:   # a null device of our own: never the machine's /dev/null
            device = self.p("null")
            os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
            os.symlink(device, link)
            targets += [device, link]
        else:
            os.symlink(fifo, link)
            targets.append(link)
        try:
            for target in targets:
                for force in ((), ("-f",)):
                    with self.subTest(target=target, force=force):
                        before = os.lstat(target)
                        r = run(*force, src, "-o", target)
                        self.assertEqual(r.returncode, 1, r.stderr)   # as "already exists"
                        self.assertIn("not a regular file", r.stderr)
                        r = run(*force, src, "-o", self.p("ok.onnx"), "--report", target)
                        self.assertNotEqual(r.returncode, 0, r.stderr)
                        self.assertFalse(os.path.exists(self.p("ok.onnx")))
                        after = os.lstat(target)
                        self.assertEqual((before.st_ino, before.st_mode), (after.st_ino, after.st_mode))
        finally:
            s.close()

    def test_in_place_keeps_mode(self):
        shutil.copy(os.path.join(GOOD, "mlp.onnx"), self.p("m.onnx"))
        os.chmod(self.p("m.onnx"), 0o600)
        for extra in ([], ["--full-encode"]):
            r = run(self.p("m.onnx"), "--in-place", *extra)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(stat.S_IMODE(os.stat(self.p("m.onnx")).st_mode), 0o600)
        shutil.copy(os.path.join(GOOD, "mlp.onnx"), self.p("n.onnx"))
        os.chmod(self.p("n.onnx"), 0o640)
        shutil.copy(os.path.join(GOOD, "mlp.onnx"), self.p("o.onnx"))
        r = run(self.p("o.onnx"), "-f", "-o", self.p("n.onnx"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(self.p("n.onnx")).st_mode), 0o640)

    # ---- fooled into a wrong output ----
    def read_values(self, path):
        m = onnx.load(path)
        vals = {t.name: nh.to_array(t).copy() for t in m.graph.initializer}
        for n in m.graph.node:
            if n.op_type == "Constant":
                vals[n.output[0]] = nh.to_array(n.attribute[0].t).copy()
        return vals

    def same_as_full_encode(self, model):
        a, b = self.p("patched.onnx"), self.p("full.onnx")
        for out, extra in ((a, []), (b, ["--full-encode"])):
            r = run(model, "-f", "--seed", "4", "-o", out, *extra)
            self.assertEqual(r.returncode, 0, r.stderr)
        va, vb = self.read_values(a), self.read_values(b)
        self.assertEqual(sorted(va), sorted(vb))
        for k in va:
            np.testing.assert_array_equal(va[k], vb[k], k)
        return va

    @staticmethod
    def varint(n):
        out = b""
        while True:
            b = n & 0x7F
            n >>= 7
            out += bytes([b | (0x80 if n else 0)])
            if not n:
                return out

    def reframe(self, outer, tag, old, new):
        return outer.replace(bytes([tag]) + self.varint(len(old)) + old,
                             bytes([tag]) + self.varint(len(new)) + new)

    def test_constant_encoded_twice(self):
        a = nh.from_array(np.full((4, 4), 0.5, np.float32))
        bvals = np.arange(16, dtype=np.float32).reshape(4, 4) / 16
        b = onnx.TensorProto()   # only the payload: a reader merges it over the first
        b.raw_data = bvals.tobytes()
        node = h.make_node("Constant", [], ["w"], value=a)
        g = h.make_graph([node, h.make_node("MatMul", ["x", "w"], ["y"])], "g",
                         [vi("x", [1, 4])], [vi("y")])
        m = h.make_model(g)
        attr = node.attribute[0].SerializeToString()
        attr2 = attr + b"\x2a" + self.varint(len(b.SerializeToString())) + b.SerializeToString()
        nb = node.SerializeToString()
        nb2 = self.reframe(nb, 0x2a, attr, attr2)
        gb = m.graph.SerializeToString()
        gb2 = self.reframe(gb, 0x0a, nb, nb2)
        raw = self.reframe(m.SerializeToString(), 0x3a, gb, gb2)
        with open(self.p("dup.onnx"), "wb") as f:
            f.write(raw)
        np.testing.assert_array_equal(self.read_values(self.p("dup.onnx"))["w"], bvals)
        self.same_as_full_encode(self.p("dup.onnx"))

    def test_external_tensors_sharing_bytes(self):
        data = np.random.default_rng(1).standard_normal(64).astype(np.float32)
        ids = np.arange(16, dtype=np.int64)
        with open(self.p("shared.bin"), "wb") as f:
            f.write(data.tobytes() + ids.tobytes())
        def ext(name, shape, dtype, offset, length):
            t = onnx.TensorProto()
            t.name, t.data_type = name, dtype
            t.dims.extend(shape)
            t.data_location = T.EXTERNAL
            for k, v in (("location", "shared.bin"), ("offset", str(offset)), ("length", str(length))):
                e = t.external_data.add()
                e.key, e.value = k, v
            return t
        inits = [ext("w1", [8, 8], T.FLOAT, 0, 256), ext("w2", [8, 8], T.FLOAT, 0, 256),
                 ext("w3", [8, 8], T.FLOAT, 0, 256), ext("ids", [16], T.INT64, 256, 128),
                 ext("w4", [8, 8], T.FLOAT, 128, 256)]
        g = h.make_graph([h.make_node("MatMul", ["x", "w1"], ["a"]),
                          h.make_node("MatMul", ["a", "w2"], ["b"]),
                          h.make_node("MatMul", ["b", "w4"], ["c"]),
                          h.make_node("Gather", ["c", "ids"], ["y"], axis=1)],
                         "g", [vi("x", [1, 8])], [vi("y")], inits[:2] + inits[3:])
        onnx.save(h.make_model(g), self.p("shared.onnx"))
        vals = self.same_as_full_encode(self.p("shared.onnx"))
        np.testing.assert_array_equal(vals["ids"], ids)            # the kept tensor's bytes
        self.assertFalse(np.array_equal(vals["w1"], vals["w2"]))   # each its own fresh values

    # ---- crashes ----
    def test_rules_null_mode_and_bad_values(self):
        model = os.path.join(GOOD, "mlp.onnx")
        for rule, needle in (({"scheme": "kaiming_normal", "mode": None}, "mode"),
                             ({"scheme": "uniform", "low": 1, "high": -1}, "low <= high"),
                             ({"op": "Comv", "scheme": "zeros"}, "Comv")):
            with open(self.p("r.json"), "w") as f:
                json.dump([rule], f)
            r = run(model, "--rules", self.p("r.json"), "-o", self.p("o.onnx"))
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(needle, r.stderr)
            self.assertFalse(os.path.exists(self.p("o.onnx")))

    def test_rules_end_to_end(self):
        with open(self.p("r.json"), "w") as f:
            json.dump({"rules": [{"role": "bias", "scheme": "constant", "value": 0.5},
                                 {"op": "Gemm", "scheme": "normal", "std": 0.01}]}, f)
        r = run(os.path.join(GOOD, "mlp.onnx"), "--rules", self.p("r.json"), "-o", self.p("o.onnx"))
        self.assertEqual(r.returncode, 0, r.stderr)
        m = onnx.load(self.p("o.onnx"))
        for t in m.graph.initializer:
            v = nh.to_array(t)
            if v.ndim == 1:
                self.assertTrue(np.all(v == 0.5), t.name)

    def test_zero_element_identity_and_odd_graphs(self):
        g = h.make_graph([h.make_node("Conv", ["x", "w"], ["c"]),
                          h.make_node("Concat", [], ["e"], axis=1 << 40)],
                         "g", [vi("x", [1, 0, 4, 4])], [vi("c"), vi("e")],
                         [nh.from_array(np.zeros((0, 0, 3, 3), np.float32), "w")])
        save(h.make_model(g), self.p("z.onnx"))
        with open(self.p("r.json"), "w") as f:
            json.dump([{"name": "w", "scheme": "identity"}], f)
        for extra in ([], ["--rules", self.p("r.json")]):
            r = run(self.p("z.onnx"), "-f", "-o", self.p("o.onnx"), *extra)
            self.assertIn(r.returncode, (0, 1), r.stderr)
            self.assertNotIn("Sanitizer", r.stderr)

    def test_lstm_hidden_size_that_wraps(self):
        w = nh.from_array(np.ones((1, 8, 2), np.float32), "W")
        rr = nh.from_array(np.ones((1, 8, 2), np.float32), "R")
        g = h.make_graph([h.make_node("LSTM", ["x", "W", "R"], ["y"], hidden_size=(1 << 62) + 2)],
                         "g", [vi("x", [1, 1, 2])], [vi("y")], [w, rr])
        save(h.make_model(g), self.p("l.onnx"))
        r = run(self.p("l.onnx"), "-o", self.p("o.onnx"))
        self.assertIn(r.returncode, (0, 1), r.stderr)
        self.assertNotIn("Sanitizer", r.stderr)

    def test_deeply_nested_types_refused_before_decoding(self):
        depth = 60000   # TypeProto.sequence_type -> Sequence.elem_type -> ... 120000 messages
        lengths, inner = [], 0
        for _ in range(depth):   # sizes from the inside out, then headers outside in
            seq = 1 + len(self.varint(inner)) + inner
            typ = 1 + len(self.varint(seq)) + seq
            lengths.append((inner, seq))
            inner = typ
        parts = []
        for inner_len, seq_len in reversed(lengths):
            parts.append(b"\x22" + self.varint(seq_len) + b"\x0a" + self.varint(inner_len))
        typ = b"".join(parts)
        vi_bytes = b"\x0a\x01x" + b"\x12" + self.varint(len(typ)) + typ
        graph = b"\x5a" + self.varint(len(vi_bytes)) + vi_bytes          # GraphProto.input
        model = b"\x08\x08" + b"\x3a" + self.varint(len(graph)) + graph  # ir_version, graph
        with open(self.p("deep.onnx"), "wb") as f:
            f.write(model)
        r = run(self.p("deep.onnx"), "-o", self.p("o.onnx"))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("nest deeper", r.stderr)

    def test_nul_in_names_and_external_keys_refused(self):
        src = onnx.load(os.path.join(GOOD, "mlp.onnx"))
        old = src.graph.initializer[0].name.encode()
        raw = src.SerializeToString().replace(old, old[:1] + b"\x00" + old[2:])
        with open(self.p("nulname.onnx"), "wb") as f:
            f.write(raw)
        model, data = self.external_model()
        with open(model, "rb") as f:
            raw = f.read().replace(b"weights.bin", b"weights\x00bin")
        with open(self.p("nulloc.onnx"), "wb") as f:
            f.write(raw)
        for m in (self.p("nulname.onnx"), self.p("nulloc.onnx")):
            for args in ([m, "-o", self.p("o.onnx")], ["plan", m]):
                r = run(*args)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn("NUL", r.stderr)
            self.assertFalse(os.path.exists(self.p("o.onnx")))

    # ---- hangs ----
    def test_wide_concat_chain_is_fast(self):
        nodes, prev = [], "c0"
        inits = [nh.from_array(np.ones((1, 2), np.float32), "c0")]
        for i in range(1, 20):   # shallow enough that every path succeeds: 4^19 of them
            nodes.append(h.make_node("Concat", [prev] * 4, ["c%d" % i], axis=1))
            prev = "c%d" % i
        nodes.append(h.make_node("MatMul", [prev, "x"], ["y"]))
        g = h.make_graph(nodes, "g", [vi("x", [2, 2])], [vi("y")], inits)
        save(h.make_model(g), self.p("c.onnx"))
        t0 = time.time()
        r = run("plan", self.p("c.onnx"), timeout=30)
        self.assertIn(r.returncode, (0, 1), r.stderr)
        self.assertLess(time.time() - t0, 10)

    def test_fifo_input_does_not_block(self):
        os.mkfifo(self.p("f.onnx"))
        r = run(self.p("f.onnx"), "-o", self.p("o.onnx"), timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a regular file", r.stderr)

    # ---- interruptions ----
    def test_sigint_on_one_model_leaves_nothing(self):
        big = self.p("big.onnx")
        g = h.make_graph([h.make_node("MatMul", ["x", "w"], ["y"])], "g", [vi("x", [1, 4096])],
                         [vi("y")], [nh.from_array(np.ones((4096, 8192), np.float32), "w")])
        save(h.make_model(g), big)
        delay = 0.15
        for attempt in range(8):   # the delay adapts: a run that finished first -> sooner
            p = subprocess.Popen([BIN, big, "-f", "-j", "1", "--full-encode", "-o", self.p("o.onnx")],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(delay)
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=60)
            if p.returncode == 130:
                break
            delay = delay / 2 if p.returncode == 0 else delay * 1.5
            if os.path.exists(self.p("o.onnx")):
                os.remove(self.p("o.onnx"))
        self.assertEqual(p.returncode, 130, err)
        self.assertEqual(self.temp_files(), [])
        self.assertFalse(os.path.exists(self.p("o.onnx")))

    def test_input_truncated_during_the_run(self):
        """Another program truncates the mapped input mid-run: never SIGBUS; the model
        fails with a clear message and leaves nothing, or finished before the cut and
        gave exactly what an uncut run gives.  The whole file is read through the mapping
        in --full-encode and in audit, by pread/copy in the patch save; a batch loses only
        that model."""
        g = h.make_graph([h.make_node("MatMul", ["x", "w"], ["y"])], "g", [vi("x", [1, 4096])],
                         [vi("y")], [nh.from_array(np.ones((4096, 8192), np.float32), "w")])
        blob = h.make_model(g).SerializeToString()   # 128 MB: encoded once, written often

        def big_model():
            with open(self.p("big.onnx"), "wb") as f:
                f.write(blob)
            return self.p("big.onnx")
        small = save(onnx.load(os.path.join(GOOD, "mlp.onnx")), self.p("small.onnx"))
        modes = ["full-encode", "patch", "audit", "batch"]

        def command(mode, big):
            if mode == "audit":
                return [BIN, "audit", big]
            # --no-sync: what is read is the question here, and 16 fsyncs of 128 MB take long
            if mode == "batch":
                return [BIN, "-f", "--no-sync", "-j", "1", big, small, "--output-dir", self.p("out")]
            extra = ["--full-encode"] if mode == "full-encode" else []
            return [BIN, big, "-f", "--no-sync", "-j", "1", *extra, "-o", self.p("o.onnx")]

        def result(mode, stdout):   # what a run that finished produced
            if mode == "audit":
                return stdout
            path = self.p("o.onnx") if mode != "batch" else \
                (glob.glob(self.p("out", "**", "big.onnx"), recursive=True) or [None])[0]
            with open(path, "rb") as f:
                return hashlib.sha256(f.read()).hexdigest()

        def clean():
            shutil.rmtree(self.p("out"), ignore_errors=True)
            if os.path.exists(self.p("o.onnx")):
                os.remove(self.p("o.onnx"))

        uncut = {}
        for mode in modes:
            r = subprocess.run(command(mode, big_model()),
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            uncut[mode] = result(mode, r.stdout)
            clean()
        mid_run = collections.Counter()
        for attempt in range(12):
            mode = modes[attempt % len(modes)]
            big = big_model()
            p = subprocess.Popen(command(mode, big), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            time.sleep(0.05 + 0.02 * attempt)
            os.truncate(big, 4096)
            out, err = p.communicate(timeout=120)
            with self.subTest(mode=mode, attempt=attempt):
                self.assertGreaterEqual(p.returncode, 0, "killed by signal %d" % -p.returncode)
                self.assertEqual(self.temp_files(), [])
                if p.returncode == 0:   # finished before the cut: nothing of the cut shows
                    self.assertEqual(result(mode, out), uncut[mode])
                else:
                    # every reader (mapping, pread, copy) words a mid-run cut the same way;
                    # a cut that beats the load is just a truncated model
                    self.assertRegex(err, "changed while it was being read|truncated or corrupt")
                    mid_run[mode] += "changed while it was being read" in err
                    self.assertFalse(os.path.exists(self.p("o.onnx")))
                    if mode == "batch":
                        self.assertTrue(glob.glob(self.p("out", "**", "small.onnx"),
                                                  recursive=True), err)
                        self.assertFalse(glob.glob(self.p("out", "**", "big.onnx"),
                                                   recursive=True), err)
            clean()
        self.assertGreater(sum(mid_run.values()), 0, mid_run)   # some cut landed mid-run

    # ---- the command line says yes to things it does not do ----
    def test_recursive_paths_symlinks_and_output_inside(self):
        os.makedirs(self.p("t", "sub"))
        shutil.copy(os.path.join(GOOD, "mlp.onnx"), self.p("t", "a.onnx"))
        shutil.copy(os.path.join(GOOD, "mlp.onnx"), self.p("t", "sub", "b.onnx"))
        os.symlink(self.p("t", "a.onnx"), self.p("t", "link.onnx"))
        os.makedirs(self.p("other"))
        for where in (".", "./", "../t"):
            cwd = self.p("t") if where != "../t" else self.p("other")
            out = self.p("out-%d" % len(where))
            r = run("-r", where, "--output-dir", out, "-q", cwd=cwd)
            if where.startswith(".."):   # found, and refused with a reason (never "0 models, ok")
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn("cannot be mirrored", r.stderr)
                r = run("-r", where, "--in-place", "-q", cwd=cwd)
                self.assertEqual(r.returncode, 0, r.stderr)
                continue
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(glob.glob(os.path.join(out, "**", "*.onnx"), recursive=True)), 3,
                             where)
        # an output folder inside the input tree is not walked on the next run
        for _ in range(2):
            r = run("-r", ".", "--output-dir", "fresh", "-f", "-q", cwd=self.p("t"))
            self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(self.p("t", "fresh", "fresh")))
        os.makedirs(self.p("empty"))
        r = run("-r", self.p("empty"), "--output-dir", self.p("o"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("no *.onnx", r.stderr)

    def test_options_that_cannot_do_what_they_say(self):
        model = os.path.join(GOOD, "mlp.onnx")
        out = self.p("o.onnx")
        for args, needle in ((["--only", "nothing.*"], "matches no tensor"),
                             (["--residual-scale"], "--preset transformer"),
                             (["--external-threshold", "10"], "--external-data"),
                             (["--backup", ".bak"], "--in-place"),
                             (["--layer-scale", "-1"], "layer-scale")):
            r = run(model, "-o", out, *args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(needle, r.stderr)
            self.assertFalse(os.path.exists(out))
        r = run("audit", model, "--preset", "torch")
        self.assertEqual(r.returncode, 2)
        a, b = self.p("a.onnx"), self.p("b.onnx")
        self.assertEqual(run(model, "--seed", "010", "-o", a).returncode, 0)
        self.assertEqual(run(model, "--seed", "10", "-o", b).returncode, 0)
        self.assertEqual(digest(a), digest(b))   # decimal, not octal
        self.assertEqual(run(model, "--seed", "-3", "-o", self.p("c.onnx")).returncode, 2)

    def test_untrained_graph_warns(self):
        g = h.make_graph([h.make_node("MatMul", ["x", "w"], ["y"])], "g",
                         [vi("x", [1, 4]), vi("w", [4, 4])], [vi("y")])
        save(h.make_model(g), self.p("u.onnx"))
        r = run(self.p("u.onnx"), "-o", self.p("o.onnx"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("--materialize", r.stderr)

    def test_json_is_valid_utf8_whatever_the_names(self):
        # a tensor name with invalid UTF-8 bytes (patched into the wire bytes, same length)
        src = onnx.load(os.path.join(GOOD, "mlp.onnx"))
        old = src.graph.initializer[0].name.encode()
        raw = src.SerializeToString().replace(old, b"\xff\xfe" + old[2:])
        with open(self.p("badname.onnx"), "wb") as f:
            f.write(raw)
        for args in (["plan", "--json", self.p("badname.onnx")],
                     ["audit", "--json", self.p("badname.onnx")]):
            r = subprocess.run([BIN, *args], capture_output=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(json.loads(r.stdout.decode("utf-8")))   # strict UTF-8
        # a file name that is not UTF-8, in a batch report
        os.makedirs(self.p("in"))
        shutil.copy(self.p("badname.onnx"), os.fsencode(self.p("in")) + b"/x\xff.onnx")
        r = subprocess.run([BIN, "-r", self.p("in"), "--output-dir", self.p("out"), "--report",
                            self.p("rep.json"), "-q"], capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.p("rep.json"), "rb") as f:
            self.assertTrue(json.loads(f.read().decode("utf-8"))["models"])

    def test_left_alone_line_is_not_cut(self):
        r = run(os.path.join(GOOD, "resnet18.onnx"), "--only", "fc.*", "-o", self.p("o.onnx"))
        self.assertEqual(r.returncode, 0, r.stderr)
        line = [l for l in r.stdout.splitlines() if "left alone" in l][0]
        self.assertGreater(len(line), 0)
        self.assertRegex(line, r"\d$")   # ends with a count, not mid-word


if __name__ == "__main__":
    oiunit.main()
