#!/usr/bin/python3
"""Constants fixed by construction are kept, recognised by their values.

Feature extractors that audio and vision models carry inside the graph are
built here from their formulas (numpy; torchaudio- and librosa-style
constructions): windowed DFT / STFT / inverse-STFT bases under every common
window, DCT matrices, mel and linear filterbanks, blur / box / Sobel /
Scharr / Laplacian kernels, pixel-shuffle and permutation matrices; in
initializers, Constant nodes and If branches.  Each sits next to learned
layers of the same shapes with drawn (or trained-looking) values, which must
still be re-initialized.  A rule can still force a fixed tensor; a torch
export (a buffer basis and a frozen parameter basis) is checked by value.

Run by `meson test` with OI_BIN in the environment."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import oiunit

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper, numpy_helper

BIN = os.environ["OI_BIN"]
RNG = np.random.default_rng(20261202)


# ---- the formulas ----

def window(kind, n, periodic=True):
    m = n if periodic else n - 1
    k = np.arange(n)
    if kind == "none":
        return np.ones(n)
    if kind == "hann":
        return 0.5 - 0.5 * np.cos(2 * np.pi * k / m)
    if kind == "hamming":
        return 0.54 - 0.46 * np.cos(2 * np.pi * k / m)
    if kind == "blackman":
        return 0.42 - 0.5 * np.cos(2 * np.pi * k / m) + 0.08 * np.cos(4 * np.pi * k / m)
    raise ValueError(kind)


def dft_basis(n_fft, kind, periodic=True, win_length=None):
    """[n_fft/2+1 real rows; the same imaginary rows] x n_fft, window zero-padded to n_fft."""
    win_length = win_length or n_fft
    w = np.zeros(n_fft)
    left = (n_fft - win_length) // 2
    w[left:left + win_length] = window(kind, win_length, periodic)
    f = np.arange(n_fft // 2 + 1)[:, None]
    n = np.arange(n_fft)[None, :]
    real = w * np.cos(2 * np.pi * f * n / n_fft)
    imag = -w * np.sin(2 * np.pi * f * n / n_fft)
    return real.astype(np.float32), imag.astype(np.float32)


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + f / 700.0)


def mel_filterbank(n_freqs, n_mels, sr=16000, slaney_norm=False):
    """torchaudio.functional.melscale_fbanks: [n_freqs, n_mels] triangles."""
    all_freqs = np.linspace(0, sr // 2, n_freqs)
    m_pts = np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2.0), n_mels + 2)
    f_pts = 700.0 * (10 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - all_freqs[:, None]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    fb = np.maximum(0.0, np.minimum(down, up))
    if slaney_norm:
        fb *= 2.0 / (f_pts[2:n_mels + 2] - f_pts[:n_mels])
    return fb.astype(np.float32)


def linear_filterbank(n_freqs, n_filters):
    centres = np.linspace(0, n_freqs - 1, n_filters + 2)
    k = np.arange(n_freqs)[:, None]
    lo, mid, hi = centres[:-2], centres[1:-1], centres[2:]
    fb = np.maximum(0, np.minimum((k - lo) / (mid - lo), (hi - k) / (hi - mid)))
    return fb.astype(np.float32)


def dct_matrix(n_mfcc, n_mels, ortho=True):
    """torchaudio.functional.create_dct: [n_mels, n_mfcc]."""
    n = np.arange(n_mels)
    k = np.arange(n_mfcc)[:, None]
    dct = np.cos(np.pi / n_mels * (n + 0.5) * k)
    if ortho:
        dct[0] *= 1.0 / np.sqrt(2.0)
        dct *= np.sqrt(2.0 / n_mels)
    else:
        dct *= 2.0
    return dct.T.astype(np.float32)


def binomial(k):
    row = np.array([1.0])
    for _ in range(k - 1):
        row = np.convolve(row, [1.0, 1.0])
    return np.outer(row, row) / row.sum() ** 2


SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
SCHARR_X = np.array([[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]], np.float32)
LAPLACE = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32)


# ---- graphs ----

def learned(*shape, positive=False):
    """Trained-looking values: drawn, with some structure, never exact."""
    v = RNG.standard_normal(shape).astype(np.float32) * 0.05
    return np.abs(v) if positive else v


def conv1d_model(named):
    """x [1, 1, T] -> Conv(basis) -> learned Conv1d -> Relu -> learned Conv1d."""
    inits, nodes, last, ch = [], [], "x", 1
    for i, (name, w) in enumerate(named):
        inits.append(numpy_helper.from_array(w.astype(np.float32), name))
        nodes.append(helper.make_node("Conv", [last, name], ["c%d" % i], name="/conv%d" % i,
                                      strides=[w.shape[2] // 4 if w.shape[2] >= 8 else 1]))
        last, ch = "c%d" % i, w.shape[0]
        if name.startswith("learned"):
            nodes.append(helper.make_node("Relu", [last], ["r%d" % i]))
            last = "r%d" % i
    return inits, nodes, last


def make(inits, nodes, inp, out, inshape):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(inp, T.FLOAT, inshape)],
                          [helper.make_tensor_value_info(out, T.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def stft_model(kind, periodic, n_fft=400, win_length=None, split=False):
    real, imag = dft_basis(n_fft, kind, periodic, win_length)
    bases = ([("stft.conv_real.weight", real[:, None, :]), ("stft.conv_imag.weight", imag[:, None, :])]
             if split else [("stft.forward_basis", np.concatenate([real, imag])[:, None, :])])
    inits = [numpy_helper.from_array(w, n) for n, w in bases]
    nodes = [helper.make_node("Conv", ["x", n], ["s%d" % i], name="/stft/Conv_%d" % i,
                              strides=[n_fft // 4]) for i, (n, _) in enumerate(bases)]
    last = "s0"
    if split:
        nodes += [helper.make_node("Mul", ["s0", "s0"], ["p0"]), helper.make_node("Mul", ["s1", "s1"], ["p1"]),
                  helper.make_node("Add", ["p0", "p1"], ["s"])]
        last, ch = "s", real.shape[0]
    else:
        ch = 2 * real.shape[0]
    # a learned front end of the same shape as the basis, then a learned conv
    inits += [numpy_helper.from_array(learned(ch, ch, 3), "encoder.conv.weight"),
              numpy_helper.from_array(learned(ch), "encoder.conv.bias")]
    nodes += [helper.make_node("Conv", [last, "encoder.conv.weight", "encoder.conv.bias"], ["e"],
                               name="/encoder/conv/Conv", pads=[1, 1]),
              helper.make_node("Relu", ["e"], ["y"])]
    return make(inits, nodes, "x", "y", [1, 1, 16000]), [n for n, _ in bases]


def mfcc_model(n_freqs=201, n_mels=64, n_mfcc=20, slaney=False, linear=False, as_constant=False):
    fb = linear_filterbank(n_freqs, n_mels) if linear else mel_filterbank(n_freqs, n_mels, slaney_norm=slaney)
    dct = dct_matrix(n_mfcc, n_mels)
    fixed = {"frontend.mel_scale.fb": fb, "frontend.dct_mat": dct}
    inits, nodes = [], []
    if as_constant:
        for name, v in fixed.items():
            nodes.append(helper.make_node("Constant", [], [name],
                                          value=numpy_helper.from_array(v, name)))
    else:
        inits += [numpy_helper.from_array(v, n) for n, v in fixed.items()]
    inits += [numpy_helper.from_array(learned(n_mfcc, 32), "classifier.0.weight"),
              numpy_helper.from_array(learned(32), "classifier.0.bias")]
    nodes += [helper.make_node("MatMul", ["spec", "frontend.mel_scale.fb"], ["mel"], name="/frontend/MatMul"),
              helper.make_node("Log", ["mel"], ["logmel"]),
              helper.make_node("MatMul", ["logmel", "frontend.dct_mat"], ["mfcc"], name="/frontend/MatMul_1"),
              helper.make_node("MatMul", ["mfcc", "classifier.0.weight"], ["h"], name="/classifier/0/MatMul"),
              helper.make_node("Add", ["h", "classifier.0.bias"], ["y"], name="/classifier/0/Add")]
    return make(inits, nodes, "spec", "y", [1, 100, n_freqs]), list(fixed)


def kernels_model():
    c = 8
    sobel = np.stack([SOBEL_X, SOBEL_X.T])[:, None]                      # [2, 1, 3, 3]
    fixed = {
        "edges.sobel": sobel,
        "edges.scharr": np.stack([SCHARR_X, SCHARR_X.T])[:, None],
        "edges.laplace": LAPLACE[None, None],
        "blur.filt": np.repeat(binomial(3)[None, None], c, 0),              # BlurPool, depthwise
        "blur5.filt": np.repeat(binomial(5)[None, None], c, 0),
        "blur7.filt": np.repeat(binomial(7)[None, None], c, 0),
        "box.weight": np.full((c, 1, 3, 3), 1 / 9.0),                      # average as a conv
        "shuffle.weight": np.eye(4 * c)[np.random.default_rng(1).permutation(4 * c)][:, :c, None, None] * 0
                          + np.kron(np.eye(c), np.ones((4, 1)))[:, :, None, None],  # one-hot [4c, c, 1, 1]
    }
    fixed = {k: v.astype(np.float32) for k, v in fixed.items()}
    learned_ = {"stem.weight": learned(c, 1, 3, 3), "dw.weight": learned(c, 1, 3, 3),
                "single.weight": learned(1, 1, 3, 3), "pw.weight": learned(4 * c, c, 1, 1)}
    inits = [numpy_helper.from_array(v, k) for k, v in {**fixed, **learned_}.items()]
    nodes = [helper.make_node("Conv", ["x", "edges.sobel"], ["e1"], pads=[1] * 4),
             helper.make_node("Conv", ["x", "edges.scharr"], ["e2"], pads=[1] * 4),
             helper.make_node("Conv", ["x", "edges.laplace"], ["e3"], pads=[1] * 4),
             helper.make_node("Conv", ["x", "stem.weight"], ["s"], pads=[1] * 4),
             helper.make_node("Conv", ["x", "single.weight"], ["s1"], pads=[1] * 4),
             helper.make_node("Relu", ["s"], ["sr"]),
             helper.make_node("Conv", ["sr", "blur.filt"], ["b"], group=c, pads=[1] * 4),
             helper.make_node("Conv", ["b", "blur5.filt"], ["b5"], group=c, pads=[2] * 4),
             helper.make_node("Conv", ["b5", "blur7.filt"], ["b7"], group=c, pads=[3] * 4),
             helper.make_node("Conv", ["b7", "box.weight"], ["bx"], group=c, pads=[1] * 4),
             helper.make_node("Conv", ["bx", "dw.weight"], ["d"], group=c, pads=[1] * 4),
             helper.make_node("Relu", ["d"], ["dr"]),
             helper.make_node("Conv", ["dr", "shuffle.weight"], ["sh"]),
             helper.make_node("Conv", ["dr", "pw.weight"], ["pw"]),
             helper.make_node("Add", ["sh", "pw"], ["y"])]
    return make(inits, nodes, "x", "y", [1, 1, 32, 32]), list(fixed)


def in_if_branch(model, fixed):
    """The whole graph moved into both branches of an If."""
    g = model.graph
    then = helper.make_graph(list(g.node), "then", [], list(g.output), list(g.initializer))
    other = helper.make_graph(list(g.node), "else", [], list(g.output), list(g.initializer))
    node = helper.make_node("If", ["cond"], [g.output[0].name], then_branch=then, else_branch=other)
    outer = helper.make_graph([node], "outer", [helper.make_tensor_value_info("cond", T.BOOL, []),
                                               g.input[0]], list(g.output))
    return helper.make_model(outer, opset_imports=[helper.make_opsetid("", 17)]), fixed


class FixedByConstruction(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="oifront-")

    def plan(self, model, *extra):
        path = os.path.join(self.tmp, "m.onnx")
        onnx.save(model, path)
        r = subprocess.run([BIN, "plan", "--json", *extra, path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        reset = {t["name"] for t in doc["tensors"]}
        kept = {t["name"]: t["reason"] for t in doc["untouched"]}
        return reset, kept

    def check(self, model, fixed, what):
        reset, kept = self.plan(model)
        for name in fixed:
            self.assertIn(name, kept, "%s: %s redrawn" % (what, name))
        learned_names = [t.name for t in model.graph.initializer if t.name not in fixed]
        for name in learned_names:
            if name.split(".")[-1] in ("weight", "bias"):
                self.assertIn(name, reset, "%s: learned %s kept (%s)" % (what, name, kept.get(name)))
        return kept

    def test_stft_bases_under_every_window(self):
        for kind in ("none", "hann", "hamming", "blackman"):
            for periodic in (True, False):
                for split in (False, True):
                    for n_fft, win in ((400, None), (512, 400), (1024, None)):
                        with self.subTest(kind=kind, periodic=periodic, split=split, n_fft=n_fft):
                            model, fixed = stft_model(kind, periodic, n_fft, win, split)
                            kept = self.check(model, fixed, kind)
                            self.assertIn("sinusoidal basis", kept[fixed[0]])

    def test_inverse_stft_basis(self):
        real, imag = dft_basis(512, "hann")
        basis = np.concatenate([real, imag])[:, None, :] / 512   # ConvTranspose1d [2F, 1, N]
        inits = [numpy_helper.from_array(basis.astype(np.float32), "istft.inverse_basis"),
                 numpy_helper.from_array(learned(2 * real.shape[0], 2 * real.shape[0], 1), "mask.weight")]
        nodes = [helper.make_node("Conv", ["x", "mask.weight"], ["m"]),
                 helper.make_node("ConvTranspose", ["m", "istft.inverse_basis"], ["y"], strides=[128])]
        self.check(make(inits, nodes, "x", "y", [1, 2 * real.shape[0], 50]), ["istft.inverse_basis"],
                   "istft")

    def test_filterbanks_and_dct(self):
        for kw in ({}, {"slaney": True}, {"linear": True}, {"n_freqs": 257, "n_mels": 80, "n_mfcc": 40},
                   {"as_constant": True}):
            with self.subTest(**kw):
                model, fixed = mfcc_model(**kw)
                self.check(model, fixed, str(kw))

    def test_kernels_and_selection_matrices(self):
        model, fixed = kernels_model()
        kept = self.check(model, fixed, "kernels")
        self.assertIn("selection matrix", kept["shuffle.weight"])
        self.assertIn("kernels", kept["edges.sobel"])

    def test_inside_if_branches(self):
        for model, fixed in (in_if_branch(*stft_model("hann", True)), in_if_branch(*mfcc_model()),
                             in_if_branch(*kernels_model())):
            reset, kept = self.plan(model)
            for name in fixed:
                self.assertTrue(any(k.endswith(name) or k == name for k in kept), name)
            self.assertTrue(any("encoder.conv.weight" in r or "classifier.0.weight" in r or
                                "stem.weight" in r for r in reset))

    def test_window_vector_and_buffer_names(self):
        """A window multiplied into frames stays (not a weight slot); a weight
        named as a torch buffer stays whatever its values."""
        inits = [numpy_helper.from_array(window("hann", 400).astype(np.float32), "stft.window"),
                 numpy_helper.from_array(learned(64, 1, 400), "stft.forward_basis_buffer"),
                 numpy_helper.from_array(learned(64, 64, 3), "enc.weight")]
        nodes = [helper.make_node("Mul", ["x", "stft.window"], ["xw"]),
                 helper.make_node("Conv", ["xw", "stft.forward_basis_buffer"], ["s"]),
                 helper.make_node("Conv", ["s", "enc.weight"], ["y"])]
        reset, kept = self.plan(make(inits, nodes, "x", "y", [1, 1, 400]))
        self.assertIn("stft.window", kept)
        self.assertIn("buffer", kept["stft.forward_basis_buffer"])
        self.assertIn("enc.weight", reset)

    def test_learned_lookalikes_are_reset(self):
        """Shapes of front ends with learned values: a learned filterbank of
        non-negative values, a learned [F, 1, N] front end, a learned 3x3
        single-channel kernel and int4-fake-quantized depthwise kernels."""
        q = np.round(learned(8, 1, 3, 3) / 0.01).clip(-8, 7) * 0.01
        inits = [numpy_helper.from_array(learned(201, 64, positive=True), "fb.weight"),
                 numpy_helper.from_array(learned(64, 1, 400), "front.weight"),
                 numpy_helper.from_array(learned(1, 1, 3, 3), "one.weight"),
                 numpy_helper.from_array(q.astype(np.float32), "dwq.weight"),
                 numpy_helper.from_array(np.sort(learned(16, 64), axis=1), "sorted.weight")]
        nodes = [helper.make_node("Conv", ["x", "front.weight"], ["a"]),
                 helper.make_node("MatMul", ["spec", "fb.weight"], ["b"]),
                 helper.make_node("MatMul", ["b", "sorted.weight"], ["b2"], name="sorted"),
                 helper.make_node("Conv", ["img", "one.weight"], ["c"]),
                 helper.make_node("Conv", ["img8", "dwq.weight"], ["d"], group=8)]
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, T.FLOAT, s) for n, s in
                                           (("x", [1, 1, 1000]), ("spec", [1, 10, 201]),
                                            ("img", [1, 1, 8, 8]), ("img8", [1, 8, 8, 8]))],
                              [helper.make_tensor_value_info(n, T.FLOAT, None) for n in ("a", "b2", "c", "d")],
                              inits)
        reset, kept = self.plan(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
        for name in ("fb.weight", "front.weight", "one.weight", "dwq.weight", "sorted.weight"):
            self.assertIn(name, reset, "%s kept: %s" % (name, kept.get(name)))

    def test_a_rule_still_forces_a_fixed_basis(self):
        model, fixed = stft_model("hann", True)
        rules = os.path.join(self.tmp, "rules.json")
        with open(rules, "w") as f:
            json.dump({"rules": [{"name": "stft.*", "scheme": "xavier_uniform"}]}, f)
        reset, kept = self.plan(model, "--rules", rules)
        self.assertIn("stft.forward_basis", reset)



class TorchaudioConstructions(unittest.TestCase):
    """torchaudio's own filterbanks, DCT and windows (not numpy replicas) as
    buffers of a keyword-spotting net, exported by torch three ways; every
    buffer is found by value among the initializers and kept, every
    parameter reset."""

    def test_exported_buffers_kept_parameters_reset(self):
        import torch
        import torchaudio.functional as AF
        import warnings
        warnings.filterwarnings("ignore")

        class KWS(torch.nn.Module):
            def __init__(self, window, mel_scale, norm):
                super().__init__()
                n_fft, hop = 400, 160
                win = window(n_fft)
                k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
                n = torch.arange(n_fft, dtype=torch.float64)[None, :]
                self.register_buffer("dft_real", (win * torch.cos(2 * np.pi * k * n / n_fft)).float()[:, None])
                self.register_buffer("dft_imag", (-win * torch.sin(2 * np.pi * k * n / n_fft)).float()[:, None])
                self.register_buffer("fb", AF.melscale_fbanks(n_fft // 2 + 1, 0.0, 8000.0, 40, 16000,
                                                              norm=norm, mel_scale=mel_scale))
                self.register_buffer("dct", AF.create_dct(13, 40, "ortho"))
                self.hop = hop
                self.conv = torch.nn.Conv1d(13, 32, 3, padding=1)
                self.fc = torch.nn.Linear(32, 10)

            def forward(self, x):
                re = torch.nn.functional.conv1d(x, self.dft_real, stride=self.hop)
                im = torch.nn.functional.conv1d(x, self.dft_imag, stride=self.hop)
                mel = torch.matmul((re * re + im * im).transpose(1, 2), self.fb)
                mfcc = torch.matmul(torch.log(mel + 1e-6), self.dct).transpose(1, 2)
                return self.fc(torch.relu(self.conv(mfcc)).mean(-1))

        tmp = tempfile.mkdtemp(prefix="oitaudio-")
        for window, mel_scale, norm in ((torch.hann_window, "htk", None),
                                        (torch.hamming_window, "slaney", "slaney"),
                                        (torch.blackman_window, "htk", None)):
            m = KWS(window, mel_scale, norm).eval()
            buffers = {n: b.numpy() for n, b in m.named_buffers()}
            params = {n: p.detach().numpy() for n, p in m.named_parameters()}
            for opset, fold in ((14, False), (14, True), (17, True)):
                with self.subTest(window=window.__name__, opset=opset, fold=fold):
                    path = os.path.join(tmp, "kws.onnx")
                    torch.onnx.export(m, (torch.randn(1, 1, 16000),), path, opset_version=opset,
                                      do_constant_folding=fold)
                    out = os.path.join(tmp, "out.onnx")
                    r = subprocess.run([BIN, "-q", "-f", path, "-o", out], capture_output=True, text=True)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    before = {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
                    after = {t.name: numpy_helper.to_array(t) for t in onnx.load(out).graph.initializer}

                    def find(v):
                        for k, b in before.items():
                            if b.shape == v.shape and np.array_equal(b, v):
                                return k
                            if b.ndim == 2 and b.T.shape == v.shape and np.array_equal(b.T, v):
                                return k
                        self.fail("not found by value among the initializers")
                    for n, v in buffers.items():
                        k = find(v)
                        self.assertTrue(np.array_equal(before[k], after[k]), "buffer %s (%s) changed" % (n, k))
                    for n, v in params.items():
                        k = find(v)
                        self.assertFalse(np.array_equal(before[k], after[k]), "parameter %s (%s) kept" % (n, k))


def affine_block_model():
    """PP-LCNet-style learnable affine blocks: y = conv(x) * s + b with
    parameter-named [1] scale (1) and shift (0), trained-looking values; a
    ReZero-free scalar divisor; an exporter-named scalar constant (fixed);
    and a parameter-named vector no known layer places (counted, kept)."""
    inits = [numpy_helper.from_array(learned(8, 3, 3, 3), "conv2d_1.w_0"),
             numpy_helper.from_array(np.array([1.37], np.float32), "create_parameter_0.w_0"),
             numpy_helper.from_array(np.array([-0.21], np.float32), "create_parameter_1.w_0"),
             numpy_helper.from_array(np.array(0.8, np.float32), "blocks.0.temperature_div.scale"),
             numpy_helper.from_array(np.array([2.0], np.float32), "onnx::Mul_12"),
             numpy_helper.from_array(learned(8), "head.custom.gamma")]
    nodes = [helper.make_node("Conv", ["x", "conv2d_1.w_0"], ["c"], pads=[1] * 4),
             helper.make_node("Mul", ["c", "create_parameter_0.w_0"], ["cs"]),
             helper.make_node("Add", ["cs", "create_parameter_1.w_0"], ["ca"]),
             helper.make_node("Div", ["ca", "blocks.0.temperature_div.scale"], ["cd"]),
             helper.make_node("Mul", ["cd", "onnx::Mul_12"], ["c2"]),
             helper.make_node("Unsqueeze", ["head.custom.gamma", "axes"], ["g4"]),
             helper.make_node("Pow", ["c2", "g4"], ["y"])]
    inits.append(numpy_helper.from_array(np.array([1, 2], np.int64), "axes"))
    return make(inits, nodes, "x", "y", [1, 3, 8, 8])


class LearnedScalarsAndHonestCounts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="oiscal-")
        cls.path = os.path.join(cls.tmp, "affine.onnx")
        onnx.save(affine_block_model(), cls.path)

    def test_affine_scalars_reset_to_their_convention(self):
        out = os.path.join(self.tmp, "out.onnx")
        r = subprocess.run([BIN, "-f", self.path, "-o", out], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = {t.name: numpy_helper.to_array(t) for t in onnx.load(out).graph.initializer}
        self.assertEqual(got["create_parameter_0.w_0"].tolist(), [1.0])
        self.assertEqual(got["create_parameter_1.w_0"].tolist(), [0.0])
        self.assertEqual(float(got["blocks.0.temperature_div.scale"]), 1.0)
        self.assertEqual(got["onnx::Mul_12"].tolist(), [2.0])      # exporter's constant
        self.assertTrue(np.array_equal(got["head.custom.gamma"],   # unrecognized: kept
                                       numpy_helper.to_array(
                                           [t for t in onnx.load(self.path).graph.initializer
                                            if t.name == "head.custom.gamma"][0])))
        # the summary counts the kept one among the learned: never "N of N" past it
        self.assertIn("re-initialized 4 of 5 learned tensors", r.stdout + r.stderr)

    def test_plan_names_the_convention_and_the_unrecognized(self):
        doc = json.loads(subprocess.run([BIN, "plan", "--json", self.path], capture_output=True,
                                        text=True).stdout)
        roles = {t["name"]: (t["role"], t["scheme"]["name"]) for t in doc["tensors"]}
        self.assertEqual(roles["create_parameter_0.w_0"], ("affine_scale", "ones (learnable affine scale)"))
        self.assertEqual(roles["create_parameter_1.w_0"], ("affine_shift", "zeros (learnable affine shift)"))
        left = {t["name"]: t for t in doc["untouched"]}
        self.assertTrue(left["head.custom.gamma"]["learned"])
        self.assertIn("looks learned", left["head.custom.gamma"]["reason"])
        self.assertFalse(left["onnx::Mul_12"]["learned"])
        self.assertEqual(doc["summary"]["learned"], 5)
        table = subprocess.run([BIN, "plan", self.path], capture_output=True, text=True).stdout
        self.assertIn("head.custom.gamma", table.split("learned, but left alone")[1].split("kept")[0])


if __name__ == "__main__":
    oiunit.main()
