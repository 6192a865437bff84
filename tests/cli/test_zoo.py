#!/usr/bin/python3
"""Every learned parameter of today's architectures, and nothing else.

The zoo (tests/zoo/zoo_models.py: ViT, Swin, ConvNeXt, GPT-2-like with a tied
head, BERT-like, LLaMA-like, a fixed sinusoidal transformer, a GroupNorm UNet,
an LSTM seq2seq), each exported three ways with trained-looking weights, is
re-initialized and scored against torch's own truth (tests/zoo/score.py):
parameters reset with a sane spread, running stats 0/1, buffers and exporter
constants byte-identical, ties kept.  Every line must be 100%.  Then every
output runs in ONNX Runtime with finite outputs, and `audit --strict` agrees
with the tool on it.  The table is printed for the record."""
import glob
import json
import os
import subprocess
import sys
import tempfile
import shutil
import unittest

import oiunit

import ort_runner

import numpy as np
import onnx
from onnx import numpy_helper

SRC = os.environ["OI_SRC"]
sys.path.insert(0, os.path.join(SRC, "tests", "zoo"))
import score  # noqa: E402

BIN = os.environ["OI_BIN"]
ZOO = os.environ["OI_ZOO"]
ORT_DIR = os.environ.get("OI_ORT_DIR", "")
OPTIMIZE = os.path.join(SRC, "tests", "ort", "optimize.js")
MODELS = sorted(p for p in glob.glob(os.path.join(ZOO, "*.onnx")))
KINDS = ["param", "param_derived", "stat", "buffer", "constant", "tie"]


def qdq_weights(m):
    """Every Conv weight stored as int8 codes through DequantizeLinear (per tensor)."""
    from onnx import helper
    conv_weights = {n.input[1] for n in m.graph.node if n.op_type == "Conv"}
    inits, nodes = [], []
    for t in m.graph.initializer:
        if t.name not in conv_weights:
            inits.append(t)
            continue
        v = numpy_helper.to_array(t)
        scale = np.float32(max(np.abs(v).max(), 1e-8) / 127)
        q = np.clip(np.round(v / scale), -127, 127).astype(np.int8)
        inits += [numpy_helper.from_array(q, t.name + "_q"),
                  numpy_helper.from_array(np.array(scale, np.float32), t.name + "_scale")]
        nodes.append(helper.make_node("DequantizeLinear", [t.name + "_q", t.name + "_scale"], [t.name]))
    del m.graph.initializer[:]
    m.graph.initializer.extend(inits)
    old = list(m.graph.node)
    del m.graph.node[:]
    m.graph.node.extend(nodes + old)
    return m


def have_ort():
    return ORT_DIR and os.path.isdir(os.path.join(ORT_DIR, "node_modules", "onnxruntime-node"))


class Zoo(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="oizoo-")
        cls.outs = {}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def reinit(self, model, *extra):
        key = (model, extra)
        if key not in self.outs:
            out = os.path.join(self.tmp, "%d.onnx" % len(self.outs))
            r = subprocess.run([BIN, "-q", "--seed", "3", *extra, model, "-o", out],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.outs[key] = out
        return self.outs[key]

    def test_zoo_is_complete(self):
        names = {os.path.basename(m).split(".")[0] for m in MODELS}
        self.assertEqual(names, {"vit", "swin", "convnext", "gpt2", "bert", "llama", "sinusoidal",
                                 "unet", "seq2seq", "resnet", "attn_kv", "normed", "queries",
                                 "latents", "audio_front"})
        self.assertEqual(len(MODELS), 45)

    def score_all(self, *extra):
        table, failures = [], []
        for m in MODELS:
            name = os.path.basename(m).split(".")[0]
            truth = dict(np.load(os.path.join(ZOO, name + ".truth.npz")))
            rows, problems = score.score(m, self.reinit(m, *extra), truth)
            table.append((os.path.basename(m)[:-5], rows))
            failures += ["%s: %s" % (os.path.basename(m), p) for p in problems]
        return table, failures

    def test_every_parameter_reset_nothing_else_touched(self):
        for extra in ((), ("--preset", "torch"), ("--preset", "transformer")):
            with self.subTest(preset=extra):
                table, failures = self.score_all(*extra)
                if not extra:
                    print("\n%-28s %s" % ("export", " ".join("%-14s" % k for k in KINDS)))
                    for name, rows in table:
                        print("%-28s %s" % (name, " ".join(
                            "%-14s" % ("%d/%d" % tuple(rows[k]) if rows[k][1] else "-")
                            for k in KINDS)))
                self.assertEqual(failures, [])
                total = sum(rows["param"][1] + rows["param_derived"][1] for _, rows in table)
                self.assertGreater(total, 500)

    def optimize(self, model, level, out):
        r = subprocess.run(["node", OPTIMIZE, model, level, out], capture_output=True, text=True,
                           env=dict(os.environ, OI_ORT_DIR=ORT_DIR), timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_ort_optimized_forms_score_as_plain_exports(self):
        """Every zoo model (opset 14, and opset 17 folded) as ONNX Runtime's
        optimizer saves it (basic and extended: fused com.microsoft ops,
        re-folded constants), scored against torch like the plain exports.
        What ORT folds from parameters (LayerNorm of learned latents, tanh of a
        gate) has no name in torch's truth: it is found by optimizing a copy
        whose parameters are moved (those tensors move with them), and scored
        as parameters are (re-initialized, sane); every other constant must
        stay byte-identical."""
        if not have_ort():
            self.skipTest("ONNX Runtime not installed")
        kinds = KINDS + ["computed"]
        totals, failures = {k: [0, 0] for k in kinds}, []
        for m in MODELS:
            if ".opset14_folded." in m:
                continue
            name = os.path.basename(m).split(".")[0]
            truth = dict(np.load(os.path.join(ZOO, name + ".truth.npz")))
            moved = os.path.join(self.tmp, os.path.basename(m)[:-5] + ".moved.onnx")
            onnx.save(score.perturb_parameters(onnx.load(m), truth), moved)
            for level in ("basic", "extended"):
                base = os.path.join(self.tmp, os.path.basename(m)[:-5] + "." + level)
                opt, opt_moved = base + ".onnx", base + ".moved.onnx"
                self.optimize(m, level, opt)
                self.optimize(moved, level, opt_moved)
                b = dict(score.float_tensors(onnx.load(opt_moved)))
                computed = [k for k, t in score.float_tensors(onnx.load(opt))
                            if k in b and t.SerializeToString() != b[k].SerializeToString()]
                rows, problems = score.score(opt, self.reinit(opt), truth, computed)
                for k in kinds:
                    totals[k][0] += rows[k][0]
                    totals[k][1] += rows[k][1]
                failures += ["%s: %s" % (os.path.basename(opt), p) for p in problems]
        print("\nORT-optimized: " + ", ".join("%s %d/%d" % (k, *totals[k]) for k in kinds))
        self.assertEqual(failures, [])
        for k in kinds:
            self.assertEqual(totals[k][0], totals[k][1], k)
        self.assertGreater(totals["param"][1], 1000)

    def test_outputs_run_in_onnx_runtime(self):
        if not have_ort():
            self.skipTest("ONNX Runtime not installed")
        for m in MODELS:
            with self.subTest(model=os.path.basename(m)):
                outputs, err = ort_runner.run(self.reinit(m), 1)
                self.assertIsNotNone(outputs, err)
                for k, v in outputs.items():
                    self.assertTrue(v["finite"], "%s not finite" % k)

    def test_weight_norm_g_is_the_norm_of_its_new_v(self):
        """torch's weight_norm keeps w = g * v / ||v||, g = ||v|| at wrap time: v gets its
        layer's scheme, g the norms of the new v (so w = v), for any seed and preset;
        spectral norm's u, v and a pruning mask are buffers, untouched."""
        model = os.path.join(ZOO, "normed.opset14.onnx")
        before = {t.name: numpy_helper.to_array(t) for t in onnx.load(model).graph.initializer}
        for seed in ("1", "2", "3"):
            for extra in ((), ("--preset", "torch"), ("--preset", "keras")):
                out = os.path.join(self.tmp, "wn.onnx")
                r = subprocess.run([BIN, "-q", "-f", "--seed", seed, *extra, model, "-o", out],
                                   capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, r.stderr)
                after = {t.name: numpy_helper.to_array(t)
                         for t in onnx.load(out).graph.initializer}
                for layer, axes in (("pos_conv", (0, 1)), ("proj", (1,))):   # dim=2, dim=0
                    v = after[layer + ".weight_v"].astype(np.float64)
                    g = after[layer + ".weight_g"]
                    self.assertFalse(np.array_equal(v, before[layer + ".weight_v"]))
                    norms = np.sqrt((v ** 2).sum(axis=axes, keepdims=True))
                    np.testing.assert_allclose(g, norms, rtol=1e-6, err_msg=layer)
                for buffer in ("critic.weight_u", "critic.weight_v", "pruned.weight_mask"):
                    np.testing.assert_array_equal(after[buffer], before[buffer], buffer)
                self.assertFalse(np.array_equal(after["pruned.weight_orig"],
                                                before["pruned.weight_orig"]))
        doc = json.loads(subprocess.run([BIN, "plan", "--json", model], capture_output=True,
                                        text=True).stdout)
        roles = {t["name"]: t["role"] for t in doc["tensors"]}
        self.assertEqual(roles["pos_conv.weight_g"], "weight_norm_g")
        self.assertEqual(roles["pos_conv.weight_v"], "weight")

    def test_half_precision_weight_norm_agrees_between_fill_paths(self):
        """fp16 weight norm: g is the norms of v's stored (rounded) values, in the
        model path and in oi_fill_record alike, byte for byte."""
        m = onnx.load(os.path.join(ZOO, "normed.opset14.onnx"))
        for t in m.graph.initializer:
            if t.data_type == onnx.TensorProto.FLOAT:
                t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name))
        src, out = os.path.join(self.tmp, "wn16.onnx"), os.path.join(self.tmp, "wn16-out.onnx")
        onnx.save(m, src)
        r = subprocess.run([BIN, "-q", "-f", "--seed", "5", src, "-o", out], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        after = {t.name: numpy_helper.to_array(t) for t in onnx.load(out).graph.initializer}
        v = after["proj.weight_v"].astype(np.float64)
        np.testing.assert_allclose(after["proj.weight_g"].astype(np.float64),
                                   np.sqrt((v ** 2).sum(axis=1, keepdims=True)), rtol=1e-3)
        child = """
import sys
sys.path.insert(0, sys.argv[1])
import onnxinit
got = onnxinit.fill(sys.argv[2], seed=5, raw=True)
sys.stdout.buffer.write(got["proj.weight_g"] + got["pos_conv.weight_g"])
"""
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import asan_python
        r = subprocess.run([sys.executable, "-c", child, os.path.join(SRC, "src", "python"), src],
                           capture_output=True, env=asan_python.child_env())
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        self.assertEqual(r.stdout, after["proj.weight_g"].tobytes() + after["pos_conv.weight_g"].tobytes())

    def test_module_paths_select_renamed_weights(self):
        model = os.path.join(ZOO, "gpt2.opset14_folded.onnx")
        doc = json.loads(subprocess.run([BIN, "plan", "--json", "--only", "blocks.0.mlp.*",
                                         model], capture_output=True, text=True).stdout)
        names = {t["name"]: t.get("module", "") for t in doc["tensors"]}
        self.assertTrue(names)
        self.assertTrue(all(m.startswith("blocks.0.mlp") or n.startswith("blocks.0.mlp")
                            for n, m in names.items()), names)
        self.assertTrue(any(n.startswith("onnx::MatMul") for n in names), names)   # renamed
        with open(os.path.join(self.tmp, "r.json"), "w") as f:
            json.dump([{"module": "blocks.1.*", "scheme": "keep"}], f)
        doc = json.loads(subprocess.run([BIN, "plan", "--json", "--rules",
                                         os.path.join(self.tmp, "r.json"), model],
                                        capture_output=True, text=True).stdout)
        kept = [t for t in doc["untouched"] if "kept by rule" in t["reason"]]
        self.assertTrue(any(t["name"].startswith("onnx::MatMul") for t in kept), kept)

    def test_folded_batchnorm_is_warned(self):
        folded = os.path.join(ZOO, "extra", "cnn_bn_folded.onnx")
        training = os.path.join(ZOO, "extra", "cnn_bn_training.onnx")
        r = subprocess.run([BIN, "plan", folded], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        # the default: signal-preserving gains, announced in the plan, the run and the JSON
        self.assertIn("note: no normalization in this graph", r.stdout)
        self.assertIn("signal-preserving gains chosen for 10 layers", r.stdout)
        out = os.path.join(self.tmp, "folded.onnx")
        r = subprocess.run([BIN, folded, "-o", out], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("signal-preserving gains", r.stderr)
        doc = json.loads(subprocess.run([BIN, "plan", "--json", folded], capture_output=True,
                                        text=True).stdout)
        self.assertIn("folded", doc["summary"]["warning"])
        self.assertEqual(doc["summary"]["signal_preserving_layers"], 10)
        # turned off: the per-layer schemes alone, and the warning with advice that works
        r = subprocess.run([BIN, "plan", "--signal", "off", folded], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("warning: 10 convolutions", r.stdout)
        self.assertIn("TrainingMode.TRAINING", r.stdout)
        r = subprocess.run([BIN, "plan", training], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("warning", r.stdout)
        self.assertIn("norm_scale 10", r.stdout)
        # an untrained export whose zero biases the exporter shared as one tensor, and the
        # QDQ-quantized twin: the same warning
        m = onnx.load(folded)
        biases = [n.input[2] for n in m.graph.node if n.op_type == "Conv" and len(n.input) > 2]
        shared = numpy_helper.from_array(np.zeros(8, np.float32), "shared_zero_bias")
        keep = [t for t in m.graph.initializer if t.name not in biases]
        del m.graph.initializer[:]
        m.graph.initializer.extend(keep + [shared])
        for n in m.graph.node:
            if n.op_type == "Conv" and len(n.input) > 2:
                n.input[2] = "shared_zero_bias"
        variants = {"shared": m, "qdq": qdq_weights(onnx.load(folded))}
        for name, model in variants.items():
            path = os.path.join(self.tmp, name + ".onnx")
            onnx.save(model, path)
            r = subprocess.run([BIN, "plan", "--signal", "off", path], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("warning: 10 convolutions", r.stdout, name)

    def test_audit_agrees_with_the_tool(self):
        for m in MODELS:
            with self.subTest(model=os.path.basename(m)):
                r = subprocess.run([BIN, "audit", "--strict", self.reinit(m)],
                                   capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)


if __name__ == "__main__":
    oiunit.main()
