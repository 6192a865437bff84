#!/usr/bin/python3
"""Hardening III: hostile inputs written against the quantized forms, the
walks of the analysis and the batch paths.  Every case must end with a clear
exit (0, 1 or 2; never a signal, never past its time limit), write nothing it
was not asked to, and under the sanitizer build report nothing.  (Special-file
targets are in test_hardening2.)"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import oiunit

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

BIN = os.environ["OI_BIN"]
FIX = os.environ["OI_FIXTURES"]
MS = "com.microsoft"
INT4 = 22   # TensorProto.INT4 (onnx >= 1.16; spelled as a number for older onnx)


def run(*args, timeout=60, cwd=None):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          errors="replace")


def vi(name, elem=T.FLOAT, shape=None):
    return h.make_tensor_value_info(name, elem, shape)


def model(nodes, inits, inputs, outputs, opset=21):
    g = h.make_graph(nodes, "g", inputs, outputs, inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset), h.make_opsetid(MS, 1)])


def raw(name, dtype, dims, payload=b""):
    t = T()
    t.name, t.data_type = name, dtype
    t.dims.extend(dims)
    t.raw_data = payload
    return t


def quantized_layouts():
    """name -> model: layouts whose fields disagree with what the code writes."""
    out = {}
    x = vi("x", T.UINT8, [1, 2, 4, 4])
    inits = [raw("w", T.INT8, [4, 2, 3, 3], bytes(range(72))),
             nh.from_array(np.array(0.1, np.float32), "xs"), nh.from_array(np.array(128, np.uint8), "xz"),
             nh.from_array(np.full(4, 0.02, np.float32), "ws"), nh.from_array(np.zeros(4, np.int8), "wz"),
             nh.from_array(np.array(0.5, np.float32), "ys"), nh.from_array(np.array(128, np.uint8), "yz"),
             nh.from_array(np.arange(4, dtype=np.int8), "b_int8")]
    out["qlinearconv_int8_bias"] = model(
        [h.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b_int8"], ["y"])],
        inits, [x], [vi("y", T.UINT8)])
    k, n, bs = 64, 8, 32
    out["matmulnbits_int4_B"] = model(
        [h.make_node("MatMulNBits", ["a", "B", "s"], ["y"], domain=MS, K=k, N=n, bits=4, block_size=bs)],
        [raw("B", INT4, [n, k // bs, bs // 2], bytes(n * k // 4)),
         nh.from_array(np.full(n * k // bs, 0.01, np.float32), "s")],
        [vi("a", T.FLOAT, [1, k])], [vi("y")])
    out["empty_tables"] = model(
        [h.make_node("Gather", ["emb", "ids"], ["e"]),
         h.make_node("Add", ["e", "pos"], ["p"]),
         h.make_node("Concat", ["tok", "p"], ["y"], axis=1)],
        [raw("emb", T.FLOAT, [0, 8]), raw("pos", T.FLOAT, [0, 8, 8]), raw("tok", T.FLOAT, [1, 0, 64])],
        [vi("ids", T.INT64, [1, 8])], [vi("y")])
    out["dq_block_size_max"] = model(
        [h.make_node("DequantizeLinear", ["q", "s"], ["w"], axis=1, block_size=2 ** 63 - 1),
         h.make_node("MatMul", ["x", "w"], ["y"])],
        [nh.from_array(np.ones((8, 8), np.int8), "q"), nh.from_array(np.full((8, 1), 0.1, np.float32), "s")],
        [vi("x", T.FLOAT, [1, 8])], [vi("y")])
    out["gatherblock_empty_huge"] = model(
        [h.make_node("GatherBlockQuantized", ["tab", "ids", "s"], ["y"], domain=MS, block_size=32, bits=4)],
        [raw("tab", T.UINT8, [0, 2 ** 62]), raw("s", T.FLOAT, [0, 2 ** 57])],
        [vi("ids", T.INT64, [1, 4])], [vi("y")])
    out["convinteger_empty_huge"] = model(
        [h.make_node("ConvInteger", ["x", "w"], ["y"])],
        [raw("w", T.INT8, [0, 2 ** 40, 2 ** 40, 2 ** 40])],
        [vi("x", T.UINT8, [1, 2, 4, 4])], [vi("y", T.INT32)])
    return out


def concat_chain(k, levels=8):
    """A constant concatenated with itself k times per level, the output unused."""
    nodes, prev = [], "c"
    for i in range(levels):
        nodes.append(h.make_node("Concat", [prev] * k, ["l%d" % i], axis=0))
        prev = "l%d" % i
    nodes.append(h.make_node("Relu", ["x"], ["y"]))
    return model(nodes, [nh.from_array(np.ones(2, np.float32), "c")], [vi("x", T.FLOAT, [2])],
                 [vi("y")], opset=17)


def identity_fan(k, levels=8):
    """k Identity nodes per level, all writing one name."""
    nodes, prev = [], "c"
    for i in range(levels):
        nodes += [h.make_node("Identity", [prev], ["l%d" % i]) for _ in range(k)]
        prev = "l%d" % i
    nodes.append(h.make_node("MatMul", ["x", prev], ["y"]))
    return model(nodes, [nh.from_array(np.ones((4, 4), np.float32), "c")], [vi("x", T.FLOAT, [1, 4])],
                 [vi("y")], opset=17)


def quantized_lookalikes(count=160, size=256):
    """Exporter-named int8 QDQ weights equal on the diagonal, different elsewhere."""
    rng = np.random.default_rng(3)
    diag = rng.integers(-100, 100, size).astype(np.int8)
    nodes, inits, prev = [], [], "x"
    for i in range(count):
        q = rng.integers(-100, 100, (size, size)).astype(np.int8)
        np.fill_diagonal(q, diag)
        inits += [nh.from_array(q, "onnx::MatMul_%d" % i), nh.from_array(np.array(0.01, np.float32), "s%d" % i)]
        nodes += [h.make_node("DequantizeLinear", ["onnx::MatMul_%d" % i, "s%d" % i], ["w%d" % i]),
                  h.make_node("MatMul", [prev, "w%d" % i], ["h%d" % i])]
        prev = "h%d" % i
    return model(nodes, inits, [vi("x", T.FLOAT, [1, size])], [vi(prev)], opset=17)


class HardeningIII(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="oihard3-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def p(self, *parts):
        return os.path.join(self.tmp, *parts)

    def clean_exit(self, r, what):
        self.assertIn(r.returncode, (0, 1, 2), "%s: exit %d\n%s" % (what, r.returncode, r.stderr[-2000:]))
        self.assertNotIn("Sanitizer", r.stderr, what)
        self.assertNotIn("runtime error", r.stderr, what)

    def test_quantized_layouts_are_checked_before_writing(self):
        for name, m in quantized_layouts().items():
            with self.subTest(case=name):
                src = self.p(name + ".onnx")
                onnx.save(m, src)
                for args in (("plan", "--json", src), ("-f", src, "-o", self.p("out.onnx")),
                             ("audit", src)):
                    self.clean_exit(run(*args), "%s %s" % (name, args[0]))

    def test_walks_are_bounded(self):
        for name, m in (("concat12", concat_chain(12)), ("identity12", identity_fan(12)),
                        ("qties", quantized_lookalikes())):
            with self.subTest(case=name):
                src = self.p(name + ".onnx")
                onnx.save(m, src)
                start = time.monotonic()
                r = run("-f", src, "-o", self.p("out.onnx"), timeout=120)
                took = time.monotonic() - start
                self.clean_exit(r, name)
                self.assertLess(took, 15, "%s took %.1f s" % (name, took))

    def test_empty_and_odd_paths(self):
        model_path = self.p("m.onnx")
        shutil.copy(os.path.join(FIX, "good", "mlp.onnx"), model_path)
        r = run("", "--output-dir", self.p("out"))
        self.clean_exit(r, "empty path")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not a model file path", r.stderr)
        for name, line in (("nul", b"\0\n"), ("binary", bytes(range(1, 256)) + b"\n"),
                           ("hidden", model_path.encode() + b"\0../../etc/passwd\n")):
            with self.subTest(line=name):
                lst = self.p(name + ".txt")
                with open(lst, "wb") as f:
                    f.write(line)
                r = run("--files-from", lst, "--output-dir", self.p("out-" + name))
                self.clean_exit(r, name)
                self.assertNotEqual(r.returncode, 0, name)
                self.assertFalse(os.path.exists(self.p("out-" + name)), name)


    def test_values_that_lie_are_refused_or_kept(self):
        rules = self.p("rules.json")
        for text in ('{"rules": [{"role": "weight", "scheme": "normal", "std": NaN}]}',
                     '{"rules": [{"role": "weight", "scheme": "normal", "std": Infinity}]}',
                     '{"rules": [{"role": "weight", "scheme": "constant", "value": 1e400}]}'):
            with open(rules, "w") as f:
                f.write(text)
            r = run("plan", "--json", "--rules", rules, os.path.join(FIX, "good", "mlp.onnx"))
            self.clean_exit(r, text)
            self.assertEqual(r.returncode, 2, text)
            self.assertIn("finite", r.stderr)
        # huge float64 weights: audit's JSON stays JSON (no NaN / Infinity tokens)
        big = model([h.make_node("MatMul", ["x", "w"], ["y"])],
                    [nh.from_array(np.full((4, 4), 1e300), "w")], [vi("x", T.DOUBLE, [1, 4])],
                    [vi("y", T.DOUBLE)], opset=17)
        onnx.save(big, self.p("big.onnx"))

        def strict(x):
            raise ValueError("not JSON: " + x)
        r = run("audit", "--json", self.p("big.onnx"))
        self.clean_exit(r, "audit big")
        json.loads(r.stdout, parse_constant=strict)
        # a kept (shared) scale that cannot code new values: the weight is kept, said so
        for bad in (0.0, 1e-45, float("nan"), float("inf"), 3e38):
            q = [nh.from_array(np.ones((4, 4), np.int8), "q%d" % i) for i in range(2)]
            m = model([h.make_node("DequantizeLinear", ["q0", "s"], ["w0"]),
                       h.make_node("DequantizeLinear", ["q1", "s"], ["w1"]),
                       h.make_node("MatMul", ["x", "w0"], ["a"]), h.make_node("MatMul", ["a", "w1"], ["y"])],
                      q + [nh.from_array(np.array(bad, np.float32), "s")], [vi("x", T.FLOAT, [1, 4])],
                      [vi("y")], opset=17)
            onnx.save(m, self.p("shared.onnx"))
            doc = json.loads(run("plan", "--json", self.p("shared.onnx")).stdout, parse_constant=strict)
            kept = {t["name"]: t["reason"] for t in doc["untouched"]}
            self.assertIn("cannot be coded", kept.get("q0", ""), bad)
        # spectral norm's u and v as rows or columns are buffers; an LSTM whose hidden_size
        # does not fit its weights is kept
        sn = model([h.make_node("MatMul", ["u", "W"], ["uw"]), h.make_node("MatMul", ["uw", "v"], ["sigma"]),
                    h.make_node("Div", ["W", "sigma"], ["Wn"]), h.make_node("MatMul", ["x", "Wn"], ["y"])],
                   [nh.from_array(np.random.default_rng(1).standard_normal((1, 8)).astype(np.float32), "u"),
                    nh.from_array(np.random.default_rng(2).standard_normal((8, 8)).astype(np.float32), "W"),
                    nh.from_array(np.random.default_rng(3).standard_normal((8, 1)).astype(np.float32), "v")],
                   [vi("x", T.FLOAT, [1, 8])], [vi("y")], opset=17)
        onnx.save(sn, self.p("sn.onnx"))
        doc = json.loads(run("plan", "--json", self.p("sn.onnx")).stdout)
        kept = {t["name"]: t["reason"] for t in doc["untouched"]}
        self.assertIn("power iteration", kept.get("u", ""))
        self.assertIn("power iteration", kept.get("v", ""))
        lstm = model([h.make_node("LSTM", ["x", "W", "R"], ["y"], hidden_size=2 ** 62 + 4)],
                     [nh.from_array(np.zeros((1, 16, 3), np.float32) + 0.1, "W"),
                      nh.from_array(np.zeros((1, 16, 4), np.float32) + 0.1, "R")],
                     [vi("x", T.FLOAT, [5, 1, 3])], [vi("y")], opset=17)
        onnx.save(lstm, self.p("lstm.onnx"))
        r = run("plan", "--json", self.p("lstm.onnx"))
        self.clean_exit(r, "lstm")
        kept = {t["name"]: t["reason"] for t in json.loads(r.stdout)["untouched"]}
        self.assertIn("hidden_size", kept.get("W", ""))

    def test_options_that_wrap_or_half_parse(self):
        src = os.path.join(FIX, "good", "mlp.onnx")
        for args in (("--shard", "1/3x"), ("--shard", " 1/2"), ("--shard", "2/2/2"),
                     ("--shard", "1/4294967297"), ("--max-memory", " -1"), ("--max-memory", "-1")):
            with self.subTest(args=args):
                r = run(*args, src, "--output-dir", self.p("o"))
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertFalse(os.path.exists(self.p("o")))
        shutil.copy(src, self.p("m.onnx"))
        r = run("--in-place", "--backup", "", self.p("m.onnx"))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--backup", r.stderr)
        # a name near NAME_MAX: the temporary file still fits
        long_out = self.p("a" * 250 + ".onnx")
        r = run("-q", src, "-o", long_out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(long_out))

    def test_what_command_line_users_expect(self):
        src = os.path.join(FIX, "good", "mlp.onnx")
        r = run("plna", src)
        self.assertEqual(r.returncode, 2)
        self.assertIn("did you mean 'plan'", r.stderr)
        r = run("--no-sycn", src, "-o", self.p("x.onnx"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("did you mean '--no-sync'", r.stderr)
        self.assertIn("wants a value", run(src, "--output").stderr)
        r = run("plan", "--help")
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.startswith("Usage: onnxinit plan"), r.stdout[:80])
        self.assertTrue(run("audit", "--help").stdout.startswith("Usage: onnxinit audit"))
        self.assertIn("130 interrupted", run("--help").stdout)
        self.assertIn("3 audit", run("--help").stdout)
        rules = self.p("r.json")
        for text, why in (('{"rules": [{"role": "weight", "scheme": "xavier_uniform", "std": 0.1}]}',
                           "does not read the key 'std'"),
                          ('{"rules": [{"role": "weight", "scheme": "zeros"},]}', "not valid JSON"),
                          ('{"rules": []} trailing', "not valid JSON")):
            with open(rules, "w") as f:
                f.write(text)
            r = run("plan", "--rules", rules, src)
            self.assertEqual(r.returncode, 2, text)
            self.assertIn(why, r.stderr)

    def test_no_sync_skips_fsync_only_for_new_files(self):
        """--no-sync: no fsync or writeback for a new output (patch and full encode,
        one model and a batch); replacing a file (-f) still syncs."""
        if not shutil.which("strace"):
            self.fail("strace is missing (scripts/deps.sh installs it)")
        src = os.path.join(FIX, "good", "resnet18.onnx")

        def syncs(*args):
            # LeakSanitizer cannot run under ptrace: off for these runs of a sanitizer build
            env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
            r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=fsync,fdatasync,sync_file_range",
                                BIN, "-q", *args], capture_output=True, text=True, timeout=120, env=env)
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            return sum(("fsync(" in l or "sync_file_range(" in l) for l in r.stderr.splitlines())
        self.assertEqual(syncs("--no-sync", src, "-o", self.p("a.onnx")), 0)
        self.assertEqual(syncs("--no-sync", "--full-encode", src, "-o", self.p("b.onnx")), 0)
        self.assertEqual(syncs("--no-sync", src, "--output-dir", self.p("tree")), 0)
        self.assertGreater(syncs(src, "-o", self.p("c.onnx")), 0)                  # the default
        self.assertGreater(syncs("--no-sync", "-f", src, "-o", self.p("a.onnx")), 0)  # replaces
        with open(self.p("a.onnx"), "rb") as f, open(self.p("c.onnx"), "rb") as g:
            self.assertEqual(f.read(), g.read())   # the same bytes either way

    def test_bash_completion_knows_every_option(self):
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src",
                              "programs", "completion", "onnxinit.bash")
        probe = ('source "$1"; COMP_WORDS=(onnxinit pl); COMP_CWORD=1; _onnxinit; '
                 'echo "${COMPREPLY[*]}"; COMP_WORDS=(onnxinit --preset t); COMP_CWORD=2; '
                 '_onnxinit; echo "${COMPREPLY[*]}"; COMP_WORDS=(onnxinit --); COMP_CWORD=1; '
                 '_onnxinit; echo "${COMPREPLY[*]}"')
        r = subprocess.run(["bash", "-c", probe, "probe", script], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        command, presets, options = r.stdout.splitlines()
        self.assertEqual(command, "plan")
        self.assertEqual(presets.split(), ["torch", "transformer"])
        import re
        documented = set(re.findall(r"(--[a-z][a-z-]+)", run("--help").stdout))
        self.assertEqual(sorted(documented - set(options.split())), [])

    def test_zsh_completion_completes(self):
        """zsh's own completion, run in a real interactive zsh on a pty: commands,
        option names (every one --help documents), and the values of --preset."""
        here = os.path.dirname(os.path.abspath(__file__))
        fdir = os.path.join(here, "..", "..", "src", "programs", "completion")

        def offered(line):
            r = subprocess.run(["zsh", "-f", os.path.join(here, "zsh_complete.zsh"), fdir, line],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            return r.stdout.split()
        self.assertIn("plan", offered("onnxinit pl"))
        self.assertEqual(offered("onnxinit --preset=t"), ["torch", "transformer"])
        self.assertEqual(offered("onnxinit m.onnx --sig"), ["--signal"])
        import re
        documented = set(re.findall(r"(--[a-z][a-z-]+)", run("--help").stdout))
        self.assertEqual(sorted(documented - set(offered("onnxinit --"))), [])

    def on_terminal(self, *args):
        """Run the program with stderr on a pseudo-terminal; (exit code, stdout, stderr)."""
        import pty
        master, slave = pty.openpty()
        p = subprocess.Popen([BIN, *args], stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        err = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:          # EIO: the child closed its end
                break
            if not chunk:
                break
            err += chunk
        os.close(master)
        out = p.stdout.read()
        p.stdout.close()
        return p.wait(timeout=120), out.decode(), err.decode(errors="replace")

    def slow_model(self, name):
        """A model whose run takes seconds, not milliseconds, with -j1 and the rules file
        returned (one orthogonal fill of 4608x4608, ~130 GFLOP): time to watch or disturb it."""
        n = 4608
        m = model([h.make_node("MatMul", ["x", "W"], ["y"])],
                  [nh.from_array(np.zeros((n, n), np.float32), "W")], [vi("x", T.FLOAT, [1, n])],
                  [vi("y")], opset=14)
        onnx.save(m, self.p(name))
        with open(self.p("ortho.json"), "w") as f:
            f.write('{"rules": [{"name": "W", "scheme": "orthogonal"}]}')
        return self.p("ortho.json")

    def test_progress_on_a_terminal(self):
        """A run longer than half a second shows its progress on a terminal's stderr and
        clears it; a batch shows models done and MB/s; -q or stderr not a terminal: none."""
        single = ["-j1", "--rules", self.slow_model("big.onnx"), self.p("big.onnx")]
        rc, out, err = self.on_terminal(*single, "-o", self.p("a.onnx"))
        self.assertEqual(rc, 0, err)
        self.assertRegex(err, r"\r\033\[Kre-initializing: +\d+% \(\d+\.\d of 21\.2 M values\)")
        self.assertIn("\r\033[K", err.split("re-initializing")[-1])   # cleared before exit
        self.assertIn("re-initialized 1 of 1", out)
        rc, out, err = self.on_terminal("-q", *single, "-o", self.p("b.onnx"))
        self.assertEqual((rc, err), (0, ""))
        r = run(*single, "-o", self.p("c.onnx"))                        # stderr a pipe
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("re-initializing", r.stderr)
        os.makedirs(self.p("tree"))
        for k in range(3):
            shutil.copy(os.path.join(FIX, "good", "resnet18.onnx"), self.p("tree", "m%d.onnx" % k))
        rc, out, err = self.on_terminal("-r", self.p("tree"), "--output-dir", self.p("o"))
        self.assertEqual(rc, 0, err)
        self.assertRegex(err, r"\[3/3\] \d+/\d+ MB +\d+ MB/s +ETA 0:00")
        rc, out, err = self.on_terminal("-q", "-r", self.p("tree"), "--output-dir", self.p("o2"))
        self.assertEqual((rc, err), (0, ""))

    def test_input_renamed_over_during_the_run(self):
        """Someone renames another file over the input (or removes it) while a run reads
        it.  To a new output the run finishes from the file it opened: the same bytes as
        an undisturbed run.  In place it must not replace the newcomer: exit 1, naming
        it, the newcomer intact, no temporary file left."""
        self.slow_model("orig.onnx")
        sample = os.path.join(os.environ["OI_SRC"], "samples", "tiny_cnn.onnx")
        with open(sample, "rb") as f:
            newcomer = f.read()
        r = run("-j1", "--rules", self.p("ortho.json"), self.p("orig.onnx"), "-o", self.p("want.onnx"))
        self.assertEqual(r.returncode, 0, r.stderr)

        def disturbed(extra, action):
            shutil.copy(self.p("orig.onnx"), self.p("m.onnx"))
            p = subprocess.Popen([BIN, "-j1", "--rules", self.p("ortho.json"), *extra],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(0.4)
            self.assertIsNone(p.poll(), "the run ended before it could be disturbed")
            if action == "rename":
                with open(self.p("new.onnx"), "wb") as f:
                    f.write(newcomer)
                os.rename(self.p("new.onnx"), self.p("m.onnx"))
            else:
                os.unlink(self.p("m.onnx"))
            out, err = p.communicate(timeout=300)
            self.assertEqual([f for f in os.listdir(self.tmp) if "oi-tmp" in f], [])
            return p.returncode, err

        for encode in ([], ["--full-encode"]):
            rc, err = disturbed(encode + [self.p("m.onnx"), "-o", self.p("out.onnx"), "-f"], "rename")
            self.assertEqual(rc, 0, err)
            with open(self.p("out.onnx"), "rb") as f, open(self.p("want.onnx"), "rb") as g:
                self.assertEqual(f.read(), g.read())
            for action in ("rename", "remove"):
                rc, err = disturbed(encode + ["--in-place", self.p("m.onnx")], action)
                self.assertEqual(rc, 1, err)
                self.assertIn("m.onnx: replaced or removed by someone else during the run", err)
                if action == "rename":
                    with open(self.p("m.onnx"), "rb") as f:
                        self.assertEqual(f.read(), newcomer)
                else:
                    self.assertFalse(os.path.exists(self.p("m.onnx")))

    def test_million_node_graph_is_linear(self):
        """A chain of 10^6 Relu nodes (24 MB) is planned and re-initialized in seconds
        (linear work: a quadratic pass would take hours), exit 0, nothing to reset."""
        def field(num, payload):          # a length-delimited protobuf field
            n, size = b"", len(payload)
            while True:
                n += bytes([(size & 0x7f) | (0x80 if size >> 7 else 0)])
                size >>= 7
                if not size:
                    break
            return bytes([num << 3 | 2]) + n + payload
        k = 10 ** 6
        nodes = b"".join(field(1, field(1, b"t%d" % i) + field(2, b"t%d" % (i + 1)) +
                                  field(4, b"Relu")) for i in range(k))
        io = [h.make_tensor_value_info("t0", T.FLOAT, [4]), h.make_tensor_value_info("t%d" % k, T.FLOAT, [4])]
        g = h.make_graph([], "chain", io[:1], io[1:])
        m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
        m.ClearField("graph")
        with open(self.p("chain.onnx"), "wb") as f:
            f.write(m.SerializeToString() + field(7, g.SerializeToString() + nodes))
        t0 = time.time()
        r = run("-q", self.p("chain.onnx"), "-o", self.p("out.onnx"), timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertLess(time.time() - t0, 120)   # 4 s here; far from what quadratic would take
        self.assertEqual(os.path.getsize(self.p("out.onnx")), os.path.getsize(self.p("chain.onnx")))

    def test_long_names_are_shown_whole(self):
        """Names longer than the table's column (a layer's q, k, v, out projections
        differ in the middle) are printed whole, each on its own line."""
        names = ["encoder.layers.encoder_layer_%d.self_attention.out_proj.weight" % i for i in range(4)]
        nodes, prev = [], "x"
        for i, n in enumerate(names):
            nodes.append(h.make_node("MatMul", [prev, n], ["h%d" % i]))
            prev = "h%d" % i
        m = model(nodes, [nh.from_array(np.full((4, 4), 0.1 * (i + 1), np.float32), n)
                          for i, n in enumerate(names)], [vi("x", T.FLOAT, [1, 4])], [vi(prev)], opset=17)
        onnx.save(m, self.p("long.onnx"))
        r = run("plan", self.p("long.onnx"))
        self.assertEqual(r.returncode, 0, r.stderr)
        for n in names:
            self.assertIn(n + "\n", r.stdout)

    def test_concurrent_runs_to_one_output(self):
        """Eight runs racing to one new output: exactly one writes it, each other
        one fails naming the output (never "(null)"), nothing else is left."""
        src, out = os.path.join(FIX, "good", "resnet18.onnx"), self.p("race.onnx")
        procs = [subprocess.Popen([BIN, "-q", src, "-o", out], stderr=subprocess.PIPE, text=True)
                 for _ in range(8)]
        results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
        self.assertEqual(sum(rc == 0 for rc, _ in results), 1, results)
        for rc, err in results:
            if rc:
                self.assertEqual(rc, 1, err)
                self.assertIn(out + ": already exists", err)
                self.assertNotIn("(null)", err)
        self.assertEqual(sorted(os.listdir(self.tmp)), ["race.onnx"])

    def test_binding_options_do_not_wrap(self):
        child = """
import sys
sys.path.insert(0, sys.argv[1])
import onnxinit
bad = [dict(seed=-1), dict(seed=1.9), dict(seed=2 ** 64), dict(threads=10 ** 30),
       dict(residual_scale=True), dict(full_encode=2), dict(threads="4")]
for kw in bad:
    try:
        onnxinit.reinit(sys.argv[2], **kw)
    except (TypeError, ValueError):
        continue
    sys.exit("accepted %r" % (kw,))
print("ok")
"""
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import asan_python
        r = subprocess.run([sys.executable, "-c", child, os.environ["OI_PYTHON_SRC"],
                            os.path.join(FIX, "good", "mlp.onnx")], capture_output=True, text=True,
                           env=asan_python.child_env())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.strip(), "ok")


if __name__ == "__main__":
    oiunit.main()
