#!/usr/bin/python3
"""Quantized models (tests/zoo/quant_models.py builds them: QDQ with int8, uint8,
int16, int4 blocks and the four float8 kinds; ORT's dynamic ConvInteger/MatMulInteger; QLinearConv
and QLinearMatMul; MatMulNBits; GatherBlockQuantized), re-initialized:
  - every quantized weight is planned as its float layer (fans, activation) and
    rewritten; its scales and zero points refit, the centre kept where it was;
  - dequantized, the weights follow the scheme at the file's resolution (KS test
    per weight, pooled over seeds, p > 1e-3 for every seed set tried);
  - the extreme codes of every group are used (scales fit the new values);
  - every other constant is byte-identical; the patch save and the full encode agree;
  - `python3 test_quant.py ort`: every output runs in ONNX Runtime (77 without it)."""
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
from scipy import stats

BIN = os.environ["OI_BIN"]
SRC = os.environ["OI_SRC"]
sys.path.insert(0, os.path.join(SRC, "tests", "zoo"))
import quant_models as qm   # noqa: E402

ORT_DIR = os.environ.get("OI_ORT_DIR", "")


def run(*args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("onnxinit %s: %s" % (" ".join(args), r.stderr))
    return r.stdout


def tensors(path):
    m = onnx.load(path)
    return {t.name: t for t in m.graph.initializer}


class Quantized(unittest.TestCase):
    SEEDS = (0, 1, 2, 3, 4)

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="oiquant-")
        cls.models = {}
        for name, build in qm.MODELS.items():
            m, man = build()
            path = os.path.join(cls.tmp, name + ".onnx")
            onnx.save(m, path)
            cls.models[name] = (path, man)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def out(self, name, seed, *extra):
        dst = os.path.join(self.tmp, "%s-%d%s.onnx" % (name, seed, "".join(extra).replace("-", "")))
        run("-q", "-f", "--seed", str(seed), *extra, self.models[name][0], "-o", dst)
        return dst

    def plan(self, name, *extra):
        p = json.loads(run("plan", "--json", *extra, self.models[name][0]))
        return {t["name"]: t for t in p["tensors"]}, p

    # What version 0.3's fill wrote for each model's rewritten tensors at seed 2026 (every
    # form: per tensor, per axis, blocks, packed 4-bit, float zero points, float8): a
    # faster quantizer must give the same bytes, as "same seed, same bytes" promises.
    GOLDEN = {"qdq_cnn": "ce9f5ae1fa67a0e5f00e8bb4f8ecfd42", "qdq_embed": "b51f8d2480a0a8b255d420b8294ba70f",
              "dynamic": "162cc0ecdea25cd91653f7f3cf336a61", "qlinear": "54ac6f12d9219c4ea758dcbe885fb1a7",
              "nbits": "85d30e219bc265746a72d3fc75bd2ba5", "gather": "8b313dc20c05a0e33a5356f2c23db035",
              "float8": "e4b9fb67d3fd133082a539f544e44144"}

    def test_golden_bytes(self):
        import hashlib
        self.assertEqual(set(self.GOLDEN), set(qm.MODELS))
        for name in qm.MODELS:
            with self.subTest(model=name):
                a, b = tensors(self.models[name][0]), tensors(self.out(name, 2026))
                digest = hashlib.sha256()
                for k in sorted(b):
                    if a[k].SerializeToString() != b[k].SerializeToString():
                        digest.update(k.encode() + b"\0" + b[k].SerializeToString())
                self.assertEqual(digest.hexdigest()[:32], self.GOLDEN[name])

    def test_plan_names_the_float_layer_and_the_granularity(self):
        want = {"conv1.weight_q": ("Conv", "relu", "per-channel (axis 0)"),
                "conv2.weight_q": ("Conv", "relu", "per-tensor"),
                "fc1.weight_q": ("MatMul", "tanh", "blocks of 8 (axis 0)"),
                "fc2.weight_q": ("MatMul", "linear", "per-tensor"),
                "conv1.weight_quantized": ("ConvInteger", "relu", "per-tensor"),
                "fc.weight_quantized": ("MatMulInteger", "linear", "per-channel (axis 1)"),
                "conv1.w": ("QLinearConv", "relu", "per-channel (axis 0)"),
                "fc.w": ("QLinearMatMul", "linear", "per-tensor"),
                "fc1.qweight": ("MatMulNBits", "relu", "blocks of 32 (axis 1)"),
                "embed.weight_q": ("Gather", "linear", "per-tensor"),
                "tok.qweight": ("GatherBlockQuantized", "linear", "blocks of 16 (axis 1)"),
                "byte8.qweight": ("GatherBlockQuantized", "linear", "blocks of 16 (axis 1)"),
                "int4.qweight": ("GatherBlockQuantized", "linear", "blocks of 16 (axis 1)")}
        seen = set()
        for name in self.models:
            plan, _ = self.plan(name)
            for e in self.models[name][1]:
                t = plan[e["weight"]]
                self.assertEqual(t["scheme"]["fill"], "quantized", e["weight"])
                if e["weight"] in want:
                    op, act, gran = want[e["weight"]]
                    self.assertEqual((t["op"], t["activation"], t["scheme"]["quantized"]["granularity"]),
                                     (op, act, gran), e["weight"])
                    seen.add(e["weight"])
                if e["form"] != "qdq_bias":
                    self.assertEqual(plan[e["scale"]]["scheme"]["fill"], "quant_scale")
                    self.assertEqual(plan[e["weight"]]["scheme"]["quantized"]["symmetric"],
                                     e["symmetric"], e["weight"])
        self.assertEqual(seen, set(want))
        text = run("plan", self.models["nbits"][0])
        self.assertIn("MatMulNBits blocks of 32 (axis 1), asymmetric, scales refit", text)
        self.assertIn("blocks of 16 (axis 1), asymmetric (float zero points), scales refit", text)
        plan, _ = self.plan("nbits")
        self.assertTrue(plan["hqq.qweight"]["scheme"]["quantized"]["float_zero_points"])
        self.assertEqual(plan["hqq.zeros"]["role"], "quant_zero_point")

    def test_dequantized_weights_follow_the_scheme(self):
        for name, (path, man) in self.models.items():
            plan, _ = self.plan(name)
            for e in man:
                if e["form"] == "qdq_bias":
                    continue
                sc = plan[e["weight"]]["scheme"]
                got, ref = [], []
                for seed in self.SEEDS:
                    ts = tensors(self.out(name, seed))
                    w, q, z, s = qm.dequantize(ts, e)
                    rng = np.random.default_rng(1000 + seed)
                    if "low" in sc:
                        r = rng.uniform(sc["low"], sc["high"], w.shape)
                    else:
                        r = rng.normal(sc["mean"], sc["std"], w.shape)
                    got.append(w.ravel())
                    ref.append(qm.fake_quant(e, r, s, z).ravel())
                    self.check_codes(e, ts, q, z, s)
                p = stats.ks_2samp(np.concatenate(got), np.concatenate(ref)).pvalue
                with self.subTest(model=name, weight=e["weight"], draw=sc["quantized"]["draw"]):
                    self.assertGreater(p, 1e-3)
                    expect_std = sc.get("std", (sc.get("high", 0) - sc.get("low", 0)) / 12 ** 0.5)
                    self.assertLess(abs(np.concatenate(got).std() / expect_std - 1), 0.15)

    def check_codes(self, e, ts, q, z, s):
        """Each group's codes reach the end of the range its zero point leaves."""
        self.assertTrue(np.all(s > 0), e["weight"])
        if e["dtype"] in qm.F8_KINDS:   # the largest finite code is used (448, 240, 57344)
            table = qm.F8_TABLES[e["dtype"]]
            top = int(np.nanargmax(table[:128]))
            self.assertEqual(int((q & 0x7f).max()), top, e["weight"])
            return
        if e["form"] == "nbits":
            lo, hi = 0, 15
            codes = q.reshape(-1, e["block"])   # one block per row (padding is at the zero)
            zz = z.ravel()[:, None]
        elif e["form"] == "gather":   # one block per row, short ones padded with the zero
            lo, hi = 0, 2 ** e["bits"] - 1
            zz = z.reshape(-1, 1)
            codes = qm.row_blocks(q.astype(np.float64), e["block"]).reshape(-1, e["block"])
            codes = np.where(np.isnan(codes), zz, codes)
            half = min(hi - (hi + 1) // 2, (hi + 1) // 2)
            if e["symmetric"]:
                self.assertTrue(np.all(np.abs(codes - zz).max(1) == half), e["weight"])
                self.assertTrue(np.all(z == (hi + 1) // 2))
            else:
                self.assertTrue(np.all((codes.min(1) == 0) | (codes.max(1) == hi)), e["weight"])
            return
        else:
            lo, hi = qm.RANGES[e["dtype"]]
            zb = qm.broadcast(z, q.shape, e["axis"], e["block"])
            codes = qm.reduce(np.abs(q - zb), e["axis"], e["block"], np.max).ravel()
            if e["symmetric"]:
                half = min(hi - (0 if lo < 0 else (hi + 1) // 2), (0 if lo < 0 else (hi + 1) // 2) - lo)
                self.assertTrue(np.all(codes == half), (e["weight"], codes))
                centre = 0 if lo < 0 else (hi + 1) // 2
                self.assertTrue(np.all(z == centre), e["weight"])
            else:
                mn = qm.reduce(q, e["axis"], e["block"], np.min).ravel()
                mx = qm.reduce(q, e["axis"], e["block"], np.max).ravel()
                self.assertTrue(np.all((mn == lo) | (mx == hi)), e["weight"])
            return
        if e["symmetric"]:
            self.assertTrue(np.all(np.abs(codes - zz).max(1) == 7), e["weight"])
            self.assertTrue(np.all(z == 8))
        else:
            self.assertTrue(np.all((codes.min(1) == 0) | (codes.max(1) == 15)), e["weight"])

    def test_everything_else_is_byte_identical(self):
        for name, (path, man) in self.models.items():
            _, plan = self.plan(name)
            kept = {t["name"] for t in plan["untouched"]}
            src = tensors(path)
            for seed in (0, 7):
                out = tensors(self.out(name, seed))
                self.assertEqual(set(src), set(out))
                for t in src:
                    with self.subTest(model=name, tensor=t, seed=seed):
                        same = src[t].SerializeToString() == out[t].SerializeToString()
                        if t in kept:
                            self.assertTrue(same)
                        elif any(t == e["weight"] for e in man):
                            self.assertFalse(same)   # the trained codes are gone

    def test_patch_and_full_encode_agree_and_seeds_reproduce(self):
        for name in self.models:
            a = tensors(self.out(name, 5))
            b = tensors(self.out(name, 5, "--full-encode"))
            c = tensors(self.out(name, 5, "-j1"))
            d = tensors(self.out(name, 6))
            for t in a:
                self.assertEqual(a[t].raw_data, b[t].raw_data, (name, t))
                self.assertEqual(a[t].raw_data, c[t].raw_data, (name, t))
            self.assertTrue(any(a[t].raw_data != d[t].raw_data for t in a), name)

    def test_biases_in_the_layers_scales(self):
        """torch preset: U(-1/sqrt(fan_in), +) biases; QLinearConv's int32 bias is in the
        scale input x new weight scale, a QDQ bias in its own (kept) scale."""
        ts = tensors(self.out("qlinear", 2, "--preset", "torch"))
        s = qm.codes_of(ts["conv1.w_scale"]).astype(np.float64)
        b = qm.codes_of(ts["conv1.b"]) * 0.03 * s
        bound = 1 / np.sqrt(27)
        self.assertTrue(np.all(np.abs(b) <= bound * 1.01), b)
        self.assertGreater(np.abs(b).max(), bound / 4)
        ts = tensors(self.out("qdq_cnn", 2, "--preset", "torch"))
        b = qm.codes_of(ts["conv1.bias_q"]) * qm.codes_of(ts["conv1.bias_scale"])
        self.assertTrue(np.all(np.abs(b) <= bound * 1.01), b)
        self.assertGreater(np.abs(b).max(), bound / 4)
        ts = tensors(self.out("qlinear", 2))   # default: zero biases
        self.assertFalse(np.any(qm.codes_of(ts["conv1.b"])))

    def test_selection_keeps_scales_with_their_weight(self):
        path = self.models["qdq_cnn"][0]
        dst = os.path.join(self.tmp, "only.onnx")
        run("-q", "-f", "--only", "conv2*", path, "-o", dst)
        src, out = tensors(path), tensors(dst)
        for t in src:
            changed = src[t].raw_data != out[t].raw_data
            self.assertEqual(changed, t.startswith("conv2."), t)


@unittest.skipUnless(len(sys.argv) > 1 and sys.argv[1] == "ort", "the ORT half runs apart")
class FoldedNormWarning(unittest.TestCase):
    """The folded-BatchNorm warning counts a dynamically quantized conv's bias only
    where a bias Add follows it: 8 ConvInteger layers without one are no folded net."""

    @staticmethod
    def convs(with_bias):
        from onnx import TensorProto as T, helper as h, numpy_helper as nh
        rng = np.random.default_rng(3)
        nodes, inits, x = [], [], "x"
        for i in range(8):
            w = "conv%d.weight" % i
            inits += [nh.from_array(rng.integers(0, 256, (4, 4, 3, 3), dtype=np.uint8), w + "_q"),
                      nh.from_array(np.array(0.01, np.float32), w + "_scale"),
                      nh.from_array(np.array(128, np.uint8), w + "_zp")]
            nodes += [h.make_node("DynamicQuantizeLinear", [x], ["q%d" % i, "s%d" % i, "z%d" % i]),
                      h.make_node("ConvInteger", ["q%d" % i, w + "_q", "z%d" % i, w + "_zp"],
                                  ["ci%d" % i], pads=[1, 1, 1, 1]),
                      h.make_node("Cast", ["ci%d" % i], ["cf%d" % i], to=T.FLOAT),
                      h.make_node("Mul", ["s%d" % i, w + "_scale"], ["sc%d" % i]),
                      h.make_node("Mul", ["cf%d" % i, "sc%d" % i], ["m%d" % i])]
            y = "m%d" % i
            if with_bias:
                inits.append(nh.from_array(np.zeros((4, 1, 1), np.float32), "conv%d.bias" % i))
                nodes.append(h.make_node("Add", [y, "conv%d.bias" % i], ["b%d" % i]))
                y = "b%d" % i
            nodes.append(h.make_node("Relu", [y], ["r%d" % i]))
            x = "r%d" % i
        vi = lambda n: h.make_tensor_value_info(n, T.FLOAT, [1, 4, 8, 8])
        g = h.make_graph(nodes, "convs", [vi("x")], [vi(x)], inits)
        return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])

    def test_bias_counted_only_where_added(self):
        tmp = tempfile.mkdtemp(prefix="oifolded-")
        try:
            for with_bias in (False, True):
                path = os.path.join(tmp, "m%d.onnx" % with_bias)
                onnx.save(self.convs(with_bias), path)
                p = json.loads(run("plan", "--json", "--signal", "off", path))
                learned = sum(t["role"] == "weight" for t in p["tensors"])
                self.assertEqual(learned, 8)
                warned = "every one with a bias" in json.dumps(p)
                self.assertEqual(warned, with_bias, "bias Adds: %s" % with_bias)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class RunsInOrt(unittest.TestCase):
    def test_outputs_run(self):
        tmp = tempfile.mkdtemp(prefix="oiquant-ort-")
        try:
            for name, build in qm.MODELS.items():
                src = os.path.join(tmp, name + ".onnx")
                onnx.save(build()[0], src)
                for extra in ([], ["--preset", "torch"], ["--full-encode"]):
                    dst = os.path.join(tmp, name + "-init.onnx")
                    run("-q", "-f", "--seed", "4", *extra, src, "-o", dst)
                    outs, err = ort_runner.run(dst, 1)
                    with self.subTest(model=name, options=extra):
                        self.assertIsNotNone(outs, err[-2000:])
                        self.assertTrue(all(o["finite"] for o in outs.values()), outs)
                        self.assertTrue(any(o["std"] > 0 for o in outs.values()), outs)
                        if name == "gather":
                            self.ort_reads_what_we_wrote(dst, outs)
        finally:
            shutil.rmtree(tmp)

    def ort_reads_what_we_wrote(self, path, outs):
        """The runner feeds id 3: each output is row 3 of its table as ORT dequantizes
        it, which must be the row this file's codes, scales and zero points give."""
        ts = tensors(path)
        for e in qm.gather()[1]:
            row = qm.dequantize(ts, e)[0][3]
            got = outs[e["layer"] + "_out"]
            for key, want in (("min", row.min()), ("max", row.max()), ("mean", row.mean())):
                self.assertAlmostEqual(got[key], want, delta=1e-5, msg=(e["weight"], key))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "ort":
        if not (ORT_DIR and os.path.isdir(os.path.join(ORT_DIR, "node_modules", "onnxruntime-node"))):
            print("SKIP: ONNX Runtime for Node not installed (scripts/test.sh installs it)")
            raise SystemExit(77)
        oiunit.main(argv=[sys.argv[0], "RunsInOrt", "-v"])
    oiunit.main(argv=[sys.argv[0], "Quantized", "-v"])
