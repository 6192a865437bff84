#!/usr/bin/python3
"""The library as applications use it: the in-memory API and the Python
binding give the same bytes as the onnxinit program for every fixture; plan
records agree with `plan --json`; oi_fill_record gives each tensor's bytes
without a model; errors come back as onnxinit.Error.

Run by `meson test` with OI_BIN, OI_FIXTURES, OI_LIB (libonnxinit.so) and
OI_PYTHON_SRC (src/python) in the environment."""
import glob
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

import oiunit
from ctypes import sizeof as ctypes_sizeof

import asan_python  # noqa: E402

asan_python.reexec()

import numpy as np
import onnx
from onnx import numpy_helper

os.environ["ONNXINIT_LIBRARY"] = os.environ["OI_LIB"]
sys.path.insert(0, os.environ["OI_PYTHON_SRC"])
import onnxinit  # noqa: E402

BIN = os.environ["OI_BIN"]
FIX = os.environ["OI_FIXTURES"]
MODELS = sorted(glob.glob(os.path.join(FIX, "good", "*.onnx")) +
                glob.glob(os.path.join(FIX, "analysis", "*.onnx")) +
                glob.glob(os.path.join(FIX, "torch", "*.onnx")))


def cli(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True)


def embedded(path):
    """The model with external data pulled in, as bytes a reader sees."""
    m = onnx.load(path)
    for t in m.graph.initializer:
        t.ClearField("data_location")
    return m


class Api(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="oiapi-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def cli_out(self, model, *opts):
        out = os.path.join(self.tmp, "cli-" + os.path.basename(model))
        r = cli(model, "-o", out, "-q", "-f", "--full-encode", *opts)
        self.assertEqual(r.returncode, 0, r.stderr)
        return out

    def test_binding_matches_the_header(self):
        """The binding re-types the ABI with ctypes: every size, offset and enum
        value it relies on is checked against onnxinit.h by a compiled program."""
        B = onnxinit
        fields = {"oi_summary": B._Summary, "oi_plan_record": B._Record, "oi_error": B._ErrorStruct}
        lines = ['#include <stddef.h>', '#include <stdio.h>', '#include "onnxinit.h"', 'int main(void) {']
        for cname, py in fields.items():
            for f in py._fields_:
                lines.append('printf("%s.%s %%zu %%zu\\n", offsetof(%s, %s), sizeof(((%s *)0)->%s));'
                             % (cname, f[0], cname, f[0], cname, f[0]))
        for name, (value, _, _, _) in B._PARAMS.items():   # as oi_param_describe names them
            lines.append('printf("param.%s %%d %d\\n", (int)OI_P_%s);' % (name, value, name.upper()))
        lines.append('printf("max_rank %d\\n", OI_MAX_RANK);')
        lines.append("return 0; }")
        tmp = tempfile.mkdtemp(prefix="oiabi-")
        c, exe = os.path.join(tmp, "abi.c"), os.path.join(tmp, "abi")
        with open(c, "w") as f:
            f.write("\n".join(lines) + "\n")
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        include = os.path.join(os.environ["OI_PYTHON_SRC"], "..", "include")
        r = subprocess.run(["cc", "-std=c11", "-I", include, c, "-o", exe], capture_output=True,
                           text=True, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = subprocess.run([exe], capture_output=True, text=True, env=env).stdout.split("\n")
        shutil.rmtree(tmp, ignore_errors=True)
        got = {l.split()[0]: l.split()[1:] for l in out if l}
        for cname, py in fields.items():
            for f in py._fields_:
                off, size = map(int, got["%s.%s" % (cname, f[0])])
                self.assertEqual((getattr(py, f[0]).offset, getattr(py, f[0]).size), (off, size),
                                 "%s.%s" % (cname, f[0]))
        for name in B._PARAMS:
            c_value, py_value = map(int, got["param." + name])
            self.assertEqual(c_value, py_value, "OI_P_" + name.upper())
        # ... and the library describes every parameter the header declares
        header = open(os.path.join(include, "onnxinit.h")).read()
        declared = set(re.findall(r"^\s*OI_P_([A-Z_]+)", header, re.M))
        self.assertEqual(declared, {n.upper() for n in B._PARAMS})
        self.assertEqual(int(got["max_rank"][0]), B._MAX_RANK)
        self.assertEqual(ctypes_sizeof(B._ErrorStruct), int(got["oi_error.msg"][0]) + int(got["oi_error.msg"][1]))

    def test_readme_python_examples_run_as_written(self):
        """Every ```python block of the README runs, in a folder where model.onnx is
        the sample model."""
        readme = open(os.path.join(os.environ["OI_PYTHON_SRC"], "..", "..", "README.md")).read()
        blocks = [b.split("```", 1)[0] for b in readme.split("```python\n")[1:]]
        self.assertTrue(blocks)
        tmp = tempfile.mkdtemp(prefix="oireadme-")
        shutil.copy(os.path.join(os.environ["OI_PYTHON_SRC"], "..", "..", "samples", "tiny_cnn.onnx"),
                    os.path.join(tmp, "model.onnx"))
        cwd = os.getcwd()
        try:
            os.chdir(tmp)
            for code in blocks:
                with self.subTest(code=code[:60]):
                    exec(compile(code, "README.md", "exec"), {})
        finally:
            os.chdir(cwd)
            shutil.rmtree(tmp, ignore_errors=True)

    def test_fill_gives_arrays_of_the_tensors_shape(self):
        for name in ("mlp.onnx", "fp16_raw.onnx", "bf16_typed.onnx", "mlp_fp64.onnx"):
            with self.subTest(model=name):
                src = os.path.join(FIX, "good", name)
                m = onnx.load_from_string(onnxinit.reinit(src, seed=8))
                written = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
                arrays = onnxinit.fill(src, seed=8)
                self.assertTrue(arrays)
                for k, a in arrays.items():
                    self.assertIsInstance(a, np.ndarray)
                    if k in written:
                        w = written[k]
                        self.assertEqual(a.shape, w.shape, k)
                        np.testing.assert_array_equal(a, w.astype(a.dtype), k)

    def test_every_program_option_and_pythonic_errors(self):
        tmp = tempfile.mkdtemp(prefix="oiopts-")
        try:
            src = os.path.join(FIX, "good", "resnet18.onnx")
            out = os.path.join(tmp, "o.onnx")
            onnxinit.reinit(src, output=out, externalize=True, external_threshold=4096,
                            external_name="w.bin", no_sync=True, signal="off")
            self.assertTrue(os.path.exists(os.path.join(tmp, "w.bin")))
            cli = os.path.join(tmp, "c.onnx")
            subprocess.run([BIN, "-q", "--signal", "off", "--external-data=c.bin",
                            "--external-threshold", "4096", src, "-o", cli], check=True)
            with open(os.path.join(tmp, "w.bin"), "rb") as a, open(os.path.join(tmp, "c.bin"), "rb") as b:
                self.assertEqual(a.read(), b.read())
            recs = onnxinit.plan_records(src)
            self.assertEqual(recs[0]["dtype"], "FLOAT")
            self.assertEqual(recs[0]["dtype_code"], 1)
            for bad in (dict(preset=5), dict(layer_scale="big"), dict(seed=True)):
                with self.assertRaises(TypeError):
                    onnxinit.reinit(src, **bad)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_audit_equals_cli_json(self):
        src = os.path.join(FIX, "good", "resnet18.onnx")
        cli = json.loads(subprocess.run([BIN, "audit", "--json", src], capture_output=True,
                                        text=True).stdout)
        py = onnxinit.audit(src)
        self.assertEqual([t["name"] for t in py["tensors"]], [t["name"] for t in cli["tensors"]])
        self.assertEqual(py["summary"]["output_rms"], cli["summary"]["output_rms"])
        with self.assertRaises(onnxinit.Error):
            onnxinit.audit(os.path.join(FIX, "bad", "nonexistent.onnx"))

    def test_model_proto_with_output_path(self):
        """A ModelProto (or bytes) with output= is written atomically, the same bytes as
        a path run; an existing output is refused unless overwrite."""
        tmp = tempfile.mkdtemp(prefix="oiproto-")
        try:
            out = os.path.join(tmp, "o.onnx")
            src = os.path.join(FIX, "good", "mlp.onnx")
            s = onnxinit.reinit(onnx.load(src), output=out, seed=3)
            self.assertGreater(s["rewritten"], 0)
            with open(out, "rb") as f:
                self.assertEqual(f.read(), onnxinit.reinit(src, seed=3))
            with self.assertRaises(onnxinit.Error):
                onnxinit.reinit(open(src, "rb").read(), output=out, seed=3)
            onnxinit.reinit(open(src, "rb").read(), output=out, seed=4, overwrite=True)
            with open(out, "rb") as f:
                self.assertEqual(f.read(), onnxinit.reinit(src, seed=4))
            fifo = os.path.join(tmp, "fifo")
            os.mkfifo(fifo)
            with self.assertRaises(onnxinit.Error) as e:   # never replaced, even with overwrite
                onnxinit.reinit(onnx.load(src), output=fifo, overwrite=True)
            self.assertEqual(e.exception.status, "unsafe")
            self.assertTrue(stat.S_ISFIFO(os.lstat(fifo).st_mode))
            self.assertEqual(sorted(os.listdir(tmp)), ["fifo", "o.onnx"])   # no temporary left
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_in_place_backup(self):
        """backup= keeps the original beside an in-place run; a second run finds the
        backup taken and changes nothing; without in_place the option is refused."""
        tmp = tempfile.mkdtemp(prefix="oibackup-")
        try:
            path = os.path.join(tmp, "m.onnx")
            shutil.copy(os.path.join(FIX, "good", "mlp.onnx"), path)
            orig = open(path, "rb").read()
            with self.assertRaises(onnxinit.Error) as e:
                onnxinit.reinit(path, output=os.path.join(tmp, "x.onnx"), backup=".orig")
            self.assertEqual(e.exception.status, "usage")
            onnxinit.reinit(path, output=path, in_place=True, overwrite=True, backup=".orig")
            self.assertEqual(open(path + ".orig", "rb").read(), orig)
            new = open(path, "rb").read()
            self.assertNotEqual(new, orig)
            with self.assertRaises(onnxinit.Error):
                onnxinit.reinit(path, output=path, in_place=True, overwrite=True, seed=9,
                                backup=".orig")
            self.assertEqual(open(path, "rb").read(), new)
            self.assertEqual(sorted(os.listdir(tmp)), ["m.onnx", "m.onnx.orig"])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_host_openblas_keeps_its_threads(self):
        """An orthogonal fill loads LAPACK; a numpy in the same process keeps its
        OpenBLAS thread count (the library sets one thread only on a BLAS it
        brought in itself), and the bytes are the program's."""
        import ctypes
        np.dot(np.ones((64, 64)), np.ones((64, 64)))
        with open("/proc/self/maps") as maps:
            paths = [l.split()[-1] for l in maps
                     if "openblas" in l and l.split()[-1].endswith(".so.3")]
        if not paths:
            self.skipTest("numpy here does not use OpenBLAS")
        blas = ctypes.CDLL(paths[0])
        blas.openblas_set_num_threads(2)
        model = os.path.join(FIX, "good", "lstm_bidir.onnx")
        got = onnxinit.reinit(model, seed=1)   # matrices one at a time, on the host's threads
        self.assertEqual(blas.openblas_get_num_threads(), 2)
        with open(self.cli_out(model, "--seed", "1"), "rb") as f:
            self.assertEqual(got, f.read())

    def test_fixture_count(self):
        self.assertGreater(len(MODELS), 20)   # the comparisons below cover the zoo

    def test_memory_equals_cli_bytes_on_every_fixture(self):
        for model in MODELS:
            with self.subTest(model=os.path.basename(model)):
                ref = self.cli_out(model, "--seed", "11")
                got = onnxinit.reinit(model, seed=11)
                with open(ref, "rb") as f:
                    want = f.read()
                if "external" in os.path.basename(model):
                    # the file path keeps a side file; memory embeds it
                    self.assertEqual(onnx.load_from_string(got), embedded(ref))
                else:
                    self.assertEqual(got, want)

    def test_file_to_file_equals_cli(self):
        for model in MODELS[:8]:
            with self.subTest(model=os.path.basename(model)):
                ref = self.cli_out(model, "--seed", "3", "--preset", "torch")
                out = os.path.join(self.tmp, "py.onnx")
                s = onnxinit.reinit(model, out, seed=3, preset="torch", full_encode=1)
                with open(ref, "rb") as a, open(out, "rb") as b:
                    self.assertEqual(a.read(), b.read())
                self.assertEqual(s["rewritten"] + s["left_alone"], s["tensors"])
                os.remove(out)

    def test_stream_option_equals_cli(self):
        for model in MODELS[:6]:
            for stream in (1, 2, 3):
                with self.subTest(model=os.path.basename(model), stream=stream):
                    ref = self.cli_out(model, "--seed", "4", "--stream", str(stream))
                    got = onnxinit.reinit(model, seed=4, stream=stream)
                    if "external" in os.path.basename(model):
                        self.assertEqual(onnx.load_from_string(got), embedded(ref))
                    else:
                        with open(ref, "rb") as f:
                            self.assertEqual(got, f.read())
        with self.assertRaises(onnxinit.Error) as e:
            onnxinit.reinit(MODELS[0], stream=4)
        self.assertEqual(e.exception.status, "usage")
        self.assertIn("stream", str(e.exception))

    def test_model_proto_in_and_out(self):
        model = os.path.join(FIX, "good", "mlp.onnx")
        proto = onnx.load(model)
        fresh = onnxinit.reinit(proto, seed=5)
        self.assertIsInstance(fresh, onnx.ModelProto)
        onnx.checker.check_model(fresh)
        self.assertEqual(fresh.SerializeToString(), onnxinit.reinit(model, seed=5))
        before = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
        after = {t.name: numpy_helper.to_array(t) for t in fresh.graph.initializer}
        self.assertTrue(any(not np.array_equal(before[k], after[k]) for k in before))

    def test_plan_matches_cli_json(self):
        for model in MODELS[:10]:
            with self.subTest(model=os.path.basename(model)):
                r = cli("plan", "--json", model)
                self.assertEqual(r.returncode, 0, r.stderr)
                want = json.loads(r.stdout)
                got = onnxinit.plan(model)
                self.assertEqual(got["tensors"], want["tensors"])
                self.assertEqual(got["summary"], want["summary"])

    def test_records_and_fill_give_the_written_bytes(self):
        for model in MODELS:
            with self.subTest(model=os.path.basename(model)):
                fresh = onnxinit.reinit(model, seed=21)
                recs = onnxinit.plan_records(model, seed=21)
                m = onnx.load_from_string(fresh)
                written = {}
                for t in m.graph.initializer:
                    written[t.name] = t
                values = onnxinit.fill(model, seed=21, by_scope=True, raw=True)
                quant = [r for r in recs if r["scheme"] != "none" and
                         (r["dtype_code"] not in (1, 10, 11, 16) or r["role"].startswith("quant_"))]
                done = [r for r in recs if r["scheme"] != "none" and r not in quant]
                for r in quant[:1]:   # made with the model only: asking for one is an error
                    with self.assertRaises(onnxinit.Error):
                        onnxinit.fill(model, [r["name"]], seed=21)
                self.assertEqual(len(values), len(done))
                for (scope, name), raw in values.items():
                    if scope or name not in written:
                        continue   # Constant nodes and subgraph tensors: checked in C
                    t = written[name]
                    arr = numpy_helper.to_array(t)
                    if t.data_type == onnx.TensorProto.BFLOAT16:   # numpy has no bf16: widened
                        arr = (arr.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
                    self.assertEqual(raw, arr.tobytes(), name)

    def test_derived_fills_agree_in_every_dtype(self):
        """A tied copy (transposed), weight norm's g and a folded table drawn once per
        distinct value, stored as float32, float16 or bfloat16 (and weight norm's v as
        float16 with g as float32): the per-tensor fill gives the bytes the model path
        writes (one implementation of each)."""
        bases = [os.path.join(FIX, "analysis", "tied_head.onnx"),
                 os.path.join(os.environ["OI_ZOO"], "normed.opset14.onnx"),
                 os.path.join(FIX, "analysis", "attention_mask_and_bias.onnx")]
        derived = {}
        for base in bases:
            plan = json.loads(cli("plan", "--json", base).stdout)
            derived[base] = {t["name"]: t["scheme"]["fill"] for t in plan["tensors"]
                             if t["scheme"]["fill"] in ("copy", "norms", "distinct")}
        self.assertEqual(sorted(k for d in derived.values() for k in d.values()),
                         ["copy", "distinct", "norms", "norms"])

        def converted(base, how):
            m = onnx.load(base)
            for i, t in enumerate(m.graph.initializer):
                if t.data_type != onnx.TensorProto.FLOAT:
                    continue
                v = numpy_helper.to_array(t).astype(np.float32)
                dtype = how if how != "mixed" else ("float16" if t.name not in derived[base]
                                                    else "float32")
                if how == "mixed":   # the derived tensor keeps the relation exactly
                    v = v.astype(np.float16).astype(np.float32)
                if dtype == "float16":
                    n = numpy_helper.from_array(v.astype(np.float16), t.name)
                elif dtype == "bfloat16":
                    n = onnx.TensorProto()
                    n.name, n.data_type = t.name, onnx.TensorProto.BFLOAT16
                    n.dims.extend(t.dims)
                    n.raw_data = (v.view(np.uint32) >> 16).astype(np.uint16).tobytes()
                else:
                    n = numpy_helper.from_array(v, t.name)
                m.graph.initializer[i].CopyFrom(n)
            return m.SerializeToString()

        for base in bases:   # (a tie is found by equal bytes: one across dtypes is none)
            mixed = ("mixed",) if "normed" in base else ()
            for how in ("float32", "float16", "bfloat16") + mixed:
                with self.subTest(model=os.path.basename(base), dtype=how):
                    model = converted(base, how)
                    kinds = {t["name"]: t["scheme"]["fill"] for t in onnxinit.plan(model)["tensors"]}
                    self.assertEqual({k: kinds[k] for k in derived[base]}, derived[base])
                    written = {t.name: t for t in onnx.load_from_string(
                        onnxinit.reinit(model, seed=5)).graph.initializer}
                    values = onnxinit.fill(model, list(derived[base]), seed=5, raw=True)
                    self.assertEqual(sorted(values), sorted(derived[base]))
                    for name, raw in values.items():
                        t = written[name]
                        self.assertEqual(raw, t.raw_data or numpy_helper.to_array(t).tobytes(), name)

    def test_copy_of_a_quantized_source_fills_alone(self):
        """GPT-2's float head, a transposed copy of a token table that is quantized
        (int8, per row): the per-tensor fill gives the head the bytes the model path
        writes, from the floats the table was drawn from."""
        m = onnx.load(os.path.join(os.environ["OI_ZOO"], "gpt2.opset14_folded.onnx"))
        g = m.graph
        i, t = next((i, t) for i, t in enumerate(g.initializer) if t.name == "wte.weight")
        w = numpy_helper.to_array(t).astype(np.float64)
        s = np.abs(w).max(1) / 127
        q = np.clip(np.rint(w / s[:, None]), -127, 127).astype(np.int8)
        g.initializer.remove(t)
        g.initializer.extend([numpy_helper.from_array(q, "wte.weight_q"),
                              numpy_helper.from_array(s.astype(np.float32), "wte.weight_scale"),
                              numpy_helper.from_array(np.zeros(len(s), np.int8), "wte.weight_zp")])
        nodes = [onnx.helper.make_node("DequantizeLinear", ["wte.weight_q", "wte.weight_scale",
                                                            "wte.weight_zp"], ["wte.weight"], axis=0)]
        nodes += list(g.node)
        del g.node[:]
        g.node.extend(nodes)
        model = m.SerializeToString()
        schemes = {t["name"]: t["scheme"] for t in onnxinit.plan(model)["tensors"]}
        head = [n for n, sc in schemes.items() if sc["name"].startswith("tied")]
        self.assertEqual(len(head), 1)
        self.assertEqual(schemes["wte.weight_q"]["fill"], "quantized")
        written = {t.name: t for t in onnx.load_from_string(onnxinit.reinit(model, seed=8)).graph.initializer}
        got = onnxinit.fill(model, head, seed=8, raw=True)[head[0]]
        self.assertEqual(got, numpy_helper.to_array(written[head[0]]).tobytes())
        old = {t.name: t for t in g.initializer}
        self.assertNotEqual(got, numpy_helper.to_array(old[head[0]]).tobytes())

    def test_fill_names_defined_in_two_scopes(self):
        model = os.path.join(FIX, "good", "scopes.onnx")
        with self.assertRaises(onnxinit.Error) as e:   # {name: bytes} would keep one of the two
            onnxinit.fill(model, seed=3)
        self.assertIn("'w'", str(e.exception))
        values = onnxinit.fill(model, seed=3, by_scope=True, raw=True)
        self.assertEqual(sorted(values), [("", "w"), ("If 'outer'/then_branch", "w")])
        self.assertNotEqual(values[("", "w")], values[("If 'outer'/then_branch", "w")])
        m = onnx.load_from_string(onnxinit.reinit(model, seed=3))
        self.assertEqual(values[("", "w")], numpy_helper.to_array(m.graph.initializer[0]).tobytes())
        then_w = [a for a in m.graph.node[0].attribute if a.name == "then_branch"][0].g.initializer[0]
        self.assertEqual(values[("If 'outer'/then_branch", "w")],
                         numpy_helper.to_array(then_w).tobytes())

    def test_errors_raise(self):
        bad = os.path.join(self.tmp, "bad.onnx")
        with open(bad, "wb") as f:
            f.write(b"\x0a\xff\xff\xff\xff\x0f")
        with self.assertRaises(onnxinit.Error) as e:
            onnxinit.reinit(bad)
        self.assertEqual(e.exception.status, "format")
        self.assertIn("bad.onnx", str(e.exception))
        with self.assertRaises(onnxinit.Error) as e:
            onnxinit.reinit(os.path.join(FIX, "good", "mlp.onnx"), preset="pytorch")
        self.assertEqual(e.exception.status, "usage")
        with self.assertRaises(onnxinit.Error):
            onnxinit.reinit(os.path.join(FIX, "good", "mlp.onnx"), rules_json='{"rules": [{"scheme": "nope"}]}')
        with self.assertRaises(TypeError):
            onnxinit.reinit(os.path.join(FIX, "good", "mlp.onnx"), colour=1)

    def test_external_data_in_memory_needs_a_folder(self):
        ext = os.path.join(FIX, "good", "external.onnx")
        with open(ext, "rb") as f:
            data = f.read()
        with self.assertRaises(onnxinit.Error) as e:
            onnxinit.reinit(data)
        self.assertIn("oi_ctx_set_base_dir", str(e.exception))
        fresh = onnxinit.reinit(data, base_dir=os.path.dirname(ext), seed=2)
        onnx.checker.check_model(onnx.load_from_string(fresh))
        self.assertEqual(fresh, onnxinit.reinit(ext, seed=2))

    def test_memory_estimate(self):
        """Size plus 256 B per message: a plain model costs about its size, a file of
        empty nodes about 128x; a missing file raises."""
        big = os.path.join(FIX, "good", "resnet18.onnx")
        est = onnxinit.memory_estimate(big)
        self.assertGreater(est, os.path.getsize(big))
        self.assertLess(est, 1.05 * os.path.getsize(big))
        tmp = tempfile.mkdtemp(prefix="oiest-")
        try:
            path = os.path.join(tmp, "empty.onnx")
            g = onnx.helper.make_graph([], "g", [], [])
            g.node.extend([onnx.NodeProto() for _ in range(20000)])
            onnx.save(onnx.helper.make_model(g), path)
            est = onnxinit.memory_estimate(path)
            self.assertGreaterEqual(est, os.path.getsize(path) + 256 * 20000)
            self.assertLess(est, os.path.getsize(path) + 256 * 20100)
            with self.assertRaises(onnxinit.Error):
                onnxinit.memory_estimate(os.path.join(tmp, "missing.onnx"))
        finally:
            shutil.rmtree(tmp)

    def test_version(self):
        self.assertRegex(onnxinit.version(), r"^\d+\.\d+\.\d+$")
        self.assertIn(onnxinit.version(), cli("--version").stdout)


if __name__ == "__main__":
    oiunit.main()
