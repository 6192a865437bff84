#!/usr/bin/python3
"""The zoo's torch exports (tests/zoo: ViT, Swin, ConvNeXt, GPT-2, BERT, LLaMA, UNet,
seq2seq, ResNet; three export paths each) quantized the way QDQ tools do it — every
learned float initializer of rank >= 2 becomes int8 codes with per-channel scales
(axis 0, symmetric) or uint8 codes with a per-tensor scale and zero point
(asymmetric), alternately, behind a DequantizeLinear that gives back its name — and
then planned and re-initialized:
  - every quantized weight is planned exactly as its float original (role, layer,
    fans, activation, scheme and its numbers; a tied copy stays tied; a folded
    relative position table keeps its pattern), and every other tensor's plan is
    unchanged; the patch save and the full encode write the same tensors;
  - GPT-2's tied head, quantized apart from its token table, is still the table's
    transpose after re-initialization, within the two copies' rounding;
  - dequantized, each re-initialized weight has the scheme's spread (std within 15%
    for tensors of 256+ elements), every scale refit, every trained code gone;
  - `python3 test_quant_zoo.py ort`: every re-initialized model runs in ONNX Runtime
    with finite outputs (exit 77 without it)."""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import oiunit

import ort_runner

import numpy as np
import onnx
from onnx import TensorProto as T, helper as h, numpy_helper as nh

BIN = os.environ["OI_BIN"]
SRC = os.environ["OI_SRC"]
ZOO = os.environ["OI_ZOO"]
ORT_DIR = os.environ.get("OI_ORT_DIR", "")
# weight norm's g and v are one weight in two parameters: quantizers fold it first,
# so the reparametrized model is not quantized tensor by tensor here
MODELS = sorted(m for m in glob.glob(os.path.join(ZOO, "*.onnx"))
                if not os.path.basename(m).startswith("normed."))
SAME = ("role", "op", "layer", "fan_in", "fan_out", "activation", "gain")
NUMBERS = ("name", "mean", "std", "low", "high", "value")


def run(*args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("onnxinit %s: %s" % (" ".join(args), r.stderr))
    return r.stdout


def plan(path):
    return {t["name"]: t for t in json.loads(run("plan", "--json", path))["tensors"]}


def alternate(name, i):
    return per_channel if i % 2 == 0 else per_tensor


def quantize(path, dst, how=alternate):
    """Every planned float initializer of rank >= 2 behind a DequantizeLinear (how(name,
    i) picks the quantizer); returns {float name: (codes name, scale name, zero name, axis)}."""
    m = onnx.load(path)
    learned = plan(path)
    g = m.graph
    dq, done, keep = [], {}, []
    for t in g.initializer:
        w = nh.to_array(t)
        if t.data_type != T.FLOAT or w.ndim < 2 or t.name not in learned or w.size < 2:
            keep.append(t)
            continue
        q, s, z, axis = how(t.name, len(done))(w.astype(np.float64))
        names = (t.name + "_q", t.name + "_scale", t.name + "_zp")
        keep += [nh.from_array(q, names[0]), nh.from_array(s, names[1]),
                 nh.from_array(z, names[2])]
        attrs = {} if axis is None else {"axis": axis}
        dq.append(h.make_node("DequantizeLinear", list(names), [t.name], name=t.name + "_dq",
                              **attrs))
        done[t.name] = names + (axis,)
    del g.initializer[:]
    g.initializer.extend(keep)
    nodes = dq + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    onnx.save(m, dst)
    return done


def per_channel(w):
    s = np.abs(w).reshape(w.shape[0], -1).max(1) / 127
    s[s == 0] = 1
    q = np.clip(np.rint(w / s.reshape((-1,) + (1,) * (w.ndim - 1))), -127, 127)
    return q.astype(np.int8), s.astype(np.float32), np.zeros(w.shape[0], np.int8), 0


def per_tensor(w):
    lo, hi = min(w.min(), 0), max(w.max(), 0)
    s = (hi - lo) / 255 or 1.0
    z = np.clip(np.rint(-lo / s), 0, 255)
    q = np.clip(np.rint(w / s) + z, 0, 255)
    return q.astype(np.uint8), np.array(s, np.float32), np.array(z, np.uint8), None


def dequantized(ts, names, shape):
    q = nh.to_array(ts[names[0]]).astype(np.float64)
    s = nh.to_array(ts[names[1]]).astype(np.float64)
    z = nh.to_array(ts[names[2]]).astype(np.float64)
    if names[3] is not None:
        sh = (-1,) + (1,) * (len(shape) - 1)
        s, z = s.reshape(sh), z.reshape(sh)
    return (q - z) * s


class QuantizedZoo(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="oiqzoo-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_zoo_is_there(self):
        self.assertGreaterEqual(len(MODELS), 27, ZOO)

    def test_planned_as_the_float_model(self):
        for path in MODELS:
            name = os.path.basename(path)
            qpath = os.path.join(self.tmp, name)
            done = quantize(path, qpath)
            before, after = plan(path), plan(qpath)
            self.assertGreater(len(done), 0, name)
            for t, b in before.items():
                a = after[done[t][0]] if t in done else after.get(t)
                with self.subTest(model=name, tensor=t):
                    self.assertIsNotNone(a, "not planned once quantized")
                    self.assertEqual({k: a.get(k) for k in SAME}, {k: b.get(k) for k in SAME})
                    self.assertEqual({k: a["scheme"].get(k) for k in NUMBERS},
                                     {k: b["scheme"].get(k) for k in NUMBERS})
                    if t in done:
                        self.assertEqual(a["scheme"]["fill"], "quantized")
                        if b["role"] == "bias":   # a QDQ bias (GRN's beta) keeps its scale
                            self.assertNotIn(done[t][1], after)
                        else:
                            self.assertEqual(after[done[t][1]]["role"], "quant_scale")
            quantized_names = {n for v in done.values() for n in v[:3]}
            extra = set(after) - set(before) - quantized_names
            self.assertEqual(extra, set(), name)
            # and it is written: the patch save and the full encode give the same tensors
            a, b = os.path.join(self.tmp, "a-" + name), os.path.join(self.tmp, "b-" + name)
            run("-q", "-f", "--seed", "9", qpath, "-o", a)
            run("-q", "-f", "--seed", "9", "--full-encode", qpath, "-o", b)
            ta = {t.name: t.SerializeToString() for t in onnx.load(a).graph.initializer}
            tb = {t.name: t.SerializeToString() for t in onnx.load(b).graph.initializer}
            self.assertEqual(ta, tb, name)

    def test_reinitialized_weights_have_the_schemes_spread(self):
        for path in MODELS[::3]:   # one export path per architecture
            name = os.path.basename(path)
            qpath = os.path.join(self.tmp, "s-" + name)
            out = os.path.join(self.tmp, "s-init-" + name)
            done = quantize(path, qpath)
            p = plan(qpath)
            run("-q", "-f", "--seed", "11", qpath, "-o", out)
            src = {t.name: t for t in onnx.load(qpath).graph.initializer}
            ts = {t.name: t for t in onnx.load(out).graph.initializer}
            for t, names in done.items():
                sc = p[names[0]]["scheme"]
                shape = list(src[names[0]].dims)
                with self.subTest(model=name, tensor=t):
                    self.assertNotEqual(ts[names[0]].raw_data, src[names[0]].raw_data)
                    w = dequantized(ts, names, shape)
                    if p[names[0]]["role"] == "bias":   # zeros, in the scale it kept
                        self.assertEqual(ts[names[1]].raw_data, src[names[1]].raw_data)
                        self.assertFalse(w.any())
                        continue
                    self.assertNotEqual(ts[names[1]].raw_data, src[names[1]].raw_data)
                    want = sc.get("std", (sc.get("high", 0) - sc.get("low", 0)) / 12 ** 0.5)
                    if w.size >= 256 and want > 0 and sc["name"] != "orthogonal":
                        self.assertLess(abs(w.std() / want - 1), 0.15, sc)


    def test_tied_head_stays_tied(self):
        """GPT-2's head, folded by the exporter into a transposed copy of the token table
        and quantized apart from it (another scale, another code type), is still its
        transpose once re-initialized: every element within half a step of each copy."""
        for export in ("opset14_folded", "opset17_folded"):
            path = os.path.join(ZOO, "gpt2.%s.onnx" % export)
            qpath = os.path.join(self.tmp, "tied-" + export + ".onnx")
            out = os.path.join(self.tmp, "tied-init-" + export + ".onnx")
            done = quantize(path, qpath, lambda name, i: per_tensor if name.startswith("onnx::")
                            else per_channel)
            p = plan(qpath)
            tied = [t for t in done if p[done[t][0]]["scheme"]["name"].startswith("tied")]
            self.assertEqual(len(tied), 1, export)
            head = done[tied[0]]
            src = p[head[0]]["tied_with"].split("'")[1]
            table = next(v for k, v in done.items() if v[0] == src)
            self.assertNotEqual(table[3], head[3])   # quantized differently
            run("-q", "-f", "--seed", "5", qpath, "-o", out)
            ts = {t.name: t for t in onnx.load(out).graph.initializer}
            old = {t.name: t for t in onnx.load(qpath).graph.initializer}
            wt = dequantized(ts, table, list(ts[table[0]].dims))
            wh = dequantized(ts, head, list(ts[head[0]].dims))
            step = (nh.to_array(ts[table[1]]).max() + nh.to_array(ts[head[1]]).max()) / 2
            self.assertEqual(wh.shape, wt.T.shape)
            self.assertLessEqual(np.abs(wh - wt.T).max(), step * 1.02, export)
            self.assertGreater(np.abs(wt).max(), 10 * step)   # real values, not zeros
            self.assertNotEqual(ts[head[0]].raw_data, old[head[0]].raw_data)


@unittest.skipUnless(len(sys.argv) > 1 and sys.argv[1] == "ort", "the ORT half runs apart")
class QuantizedZooRuns(unittest.TestCase):
    def test_outputs_run(self):
        tmp = tempfile.mkdtemp(prefix="oiqzoo-ort-")
        try:
            for path in MODELS:
                name = os.path.basename(path)
                qpath, out = os.path.join(tmp, name), os.path.join(tmp, "init-" + name)
                quantize(path, qpath)
                run("-q", "-f", "--seed", "2", qpath, "-o", out)
                outs, err = ort_runner.run(out, 1)
                with self.subTest(model=name):
                    self.assertIsNotNone(outs, err[-2000:])
                    self.assertTrue(all(o["finite"] for o in outs.values()), outs)
        finally:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "ort":
        if not (ORT_DIR and os.path.isdir(os.path.join(ORT_DIR, "node_modules", "onnxruntime-node"))):
            print("SKIP: ONNX Runtime for Node not installed (scripts/test.sh installs it)")
            raise SystemExit(77)
        oiunit.main(argv=[sys.argv[0], "QuantizedZooRuns", "-v"])
    oiunit.main(argv=[sys.argv[0], "QuantizedZoo", "-v"])
