#!/usr/bin/python3
"""Batch mode: a generated tree of >= 100 mixed models with broken ones,
in-place with backups, shards, SIGINT, lists, skip-existing, fail-fast."""
import glob
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import oiunit

import numpy as np
import onnx
from onnx import numpy_helper as nh

BIN = os.environ["OI_BIN"]
FIX = os.environ["OI_FIXTURES"]
GOOD = ["mlp.onnx", "mlp_typed.onnx", "mlp_fp64.onnx", "fp16_raw.onnx", "fp16_typed.onnx",
        "bf16_raw.onnx", "bf16_typed.onnx", "constants.onnx", "if_body.onnx", "loop_body.onnx",
        "function.onnx", "external.onnx", "unknown_field.onnx", "lstm_bidir.onnx",
        "gru_bidir.onnx"]
BAD = ["empty.onnx", "text.onnx", "raw_short.onnx", "negative_dim.onnx"]


def run(*args, cwd=None, stdin=None):
    return subprocess.run([BIN, *args], capture_output=True, text=True, cwd=cwd, input=stdin)


def sha(p):
    return hashlib.sha256(open(p, "rb").read()).hexdigest()


def temp_files(root):
    return [p for p in glob.glob(os.path.join(root, "**", "*"), recursive=True) + 
            glob.glob(os.path.join(root, "**", ".*"), recursive=True) if ".oi-tmp-" in p]


def make_tree(root, copies=7):
    """copies x 15 good models in nested folders (external data travels along),
    plus the broken ones at the top: 105 good + 4 broken."""
    good = []
    for c in range(copies):
        d = os.path.join(root, "group%d" % (c % 3), "set%d" % c)
        os.makedirs(d, exist_ok=True)
        for name in GOOD:
            src = os.path.join(FIX, "good", name)
            shutil.copy(src, os.path.join(d, name))
            if os.path.exists(src + ".data"):
                shutil.copy(src + ".data", os.path.join(d, name + ".data"))
            good.append(os.path.join(d, name))
    for name in BAD:
        shutil.copy(os.path.join(FIX, "bad", name), os.path.join(root, name))
    return good


class Batch(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="oibatch-")
        self.tree = os.path.join(self.tmp, "tree")
        self.good = [os.path.relpath(p, self.tmp) for p in make_tree(self.tree)]

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def single(self, rel, seed="5"):
        """Output of a single-file run, for comparison."""
        out = os.path.join(self.tmp, "single", rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        r = run("-q", "--seed", seed, rel, "-o", out, cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        return out

    def test_model_warnings_reach_batch_lines_and_the_report(self):
        """A model with folded BatchNorm warns in a batch as in a single run:
        on stderr, named, and in the report's entry; the one without does not."""
        zoo = os.environ["OI_ZOO"]
        folded, kept = os.path.join(self.tmp, "folded.onnx"), os.path.join(self.tmp, "kept.onnx")
        shutil.copy(os.path.join(zoo, "extra", "cnn_bn_folded.onnx"), folded)
        shutil.copy(os.path.join(zoo, "extra", "cnn_bn_training.onnx"), kept)
        report = os.path.join(self.tmp, "report.json")
        r = run("-v", folded, kept, "--output-dir", os.path.join(self.tmp, "out"), "--report", report)
        self.assertEqual(r.returncode, 0, r.stderr)
        warned = [l for l in r.stderr.splitlines() if "warning" in l]
        self.assertEqual(len(warned), 1, r.stderr)
        self.assertIn("folded.onnx: warning: no normalization", warned[0])
        self.assertIn("re-initialized 20 of 20 learned tensors", r.stdout)
        with open(report) as f:
            models = {os.path.basename(m["input"]): m for m in json.load(f)["models"]}
        self.assertIn("no normalization", models["folded.onnx"]["warning"])
        self.assertNotIn("warning", models["kept.onnx"])
        self.assertEqual(models["kept.onnx"]["learned"], 60)

    def test_tree_mirrored_and_equal_to_single_runs(self):
        self.assertGreaterEqual(len(self.good), 100)
        r = run("-r", "tree", "--output-dir", "out", "--seed", "5", "-j", "2", "--report",
                "rep.json", cwd=self.tmp)
        self.assertEqual(r.returncode, 1, r.stderr)
        rep = json.load(open(os.path.join(self.tmp, "rep.json")))
        self.assertEqual(rep["totals"]["ok"], len(self.good))
        self.assertEqual(rep["totals"]["failed"], len(BAD))
        by_input = {m["input"]: m for m in rep["models"]}
        for rel in self.good:
            out = os.path.join(self.tmp, "out", rel)
            self.assertEqual(sha(out), sha(self.single(rel)), rel)
            self.assertEqual(by_input[rel]["sha256"], sha(out))
            self.assertEqual(by_input[rel]["status"], "ok")
            if rel.endswith("external.onnx"):
                self.assertTrue(os.path.exists(out + ".data"))
        for name in BAD:
            m = by_input[os.path.join("tree", name)]
            self.assertEqual(m["status"], "failed")
            self.assertIn(name, m["error"])
            self.assertFalse(os.path.exists(os.path.join(self.tmp, "out", "tree", name)))
        self.assertEqual(temp_files(self.tmp), [])
        for name in BAD:   # each failure named on stderr
            self.assertIn(name, r.stderr)

    def test_in_place_with_backup(self):
        before = {rel: sha(os.path.join(self.tmp, rel)) for rel in self.good}
        data_before = {rel: sha(os.path.join(self.tmp, rel + ".data")) for rel in self.good
                       if os.path.exists(os.path.join(self.tmp, rel + ".data"))}
        bad_before = {n: sha(os.path.join(self.tree, n)) for n in BAD}
        ext = [rel for rel in self.good if rel.endswith("external.onnx")][0]
        ext_values = nh.to_array(onnx.load(os.path.join(self.tmp, ext)).graph.initializer[0])
        r = run("-r", "tree", "--in-place", "--backup", ".orig", "--seed", "5", cwd=self.tmp)
        self.assertEqual(r.returncode, 1, r.stderr)
        for rel in self.good:
            p = os.path.join(self.tmp, rel)
            if rel in data_before:
                # external data: the data file is kept as is, and the backup model is
                # re-encoded to point at it (checked by loading it below)
                self.assertEqual(sha(p + ".data.orig"), data_before[rel], rel)
                self.assertNotEqual(sha(p + ".data"), data_before[rel], rel)
            else:
                self.assertEqual(sha(p + ".orig"), before[rel], rel)   # the original, kept
            if rel.endswith("unknown_field.onnx") or rel.endswith("mlp.onnx"):
                self.assertNotEqual(sha(p), before[rel])
        for n in BAD:   # failed models: original untouched, no backup left
            self.assertEqual(sha(os.path.join(self.tree, n)), bad_before[n])
            self.assertFalse(os.path.exists(os.path.join(self.tree, n + ".orig")))
        # the external model's backup still loads with its original values
        back = onnx.load(os.path.join(self.tmp, ext + ".orig"))
        self.assertTrue(np.array_equal(nh.to_array(back.graph.initializer[0]), ext_values))
        self.assertEqual(temp_files(self.tmp), [])

    def test_backups_that_cannot_be_kept(self):
        """--backup refuses, naming why, and leaves everything as it was: a model whose
        tensors live in several data files; a backup name already taken (the model's, or
        its data file's, where half a backup would be none)."""
        d = os.path.join(self.tmp, "b")
        os.makedirs(d)
        m = onnx.load(os.path.join(FIX, "good", "mlp.onnx"))
        several = os.path.join(d, "several.onnx")
        onnx.save_model(m, several, save_as_external_data=True, all_tensors_to_one_file=False,
                        size_threshold=0)
        ext = os.path.join(d, "external.onnx")
        shutil.copy(os.path.join(FIX, "good", "external.onnx"), ext)
        shutil.copy(os.path.join(FIX, "good", "external.onnx.data"), ext + ".data")
        plain = os.path.join(d, "mlp.onnx")
        shutil.copy(os.path.join(FIX, "good", "mlp.onnx"), plain)
        with open(ext + ".data.orig", "w") as f:
            f.write("someone's")
        with open(plain + ".orig", "w") as f:
            f.write("someone else's")
        before = {p: sha(p) for p in glob.glob(os.path.join(d, "*"))}
        for model, needle in ((several, "several data files"),
                              (ext, "external.onnx.data.orig: cannot keep a backup"),
                              (plain, "mlp.onnx.orig: cannot keep a backup")):
            with self.subTest(model=os.path.basename(model)):
                r = run("--in-place", "--backup", ".orig", model)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn(needle, r.stderr)
        self.assertEqual({p: sha(p) for p in glob.glob(os.path.join(d, "*"))}, before)
        self.assertEqual(temp_files(d), [])

    def test_shards_cover_once_and_match(self):
        full = run("-r", "tree", "--output-dir", "all", "--seed", "5", "--report", "all.json",
                   cwd=self.tmp)
        self.assertEqual(full.returncode, 1)
        want = {m["input"]: m.get("sha256") for m in json.load(open(os.path.join(self.tmp, "all.json")))["models"]}
        seen = {}
        for k in (1, 2, 3):
            r = run("-r", "tree", "--output-dir", "s%d" % k, "--seed", "5", "--shard", "%d/3" % k,
                    "-j", "1", "--report", "s%d.json" % k, cwd=self.tmp)
            self.assertIn(r.returncode, (0, 1))
            for m in json.load(open(os.path.join(self.tmp, "s%d.json" % k)))["models"]:
                self.assertNotIn(m["input"], seen)
                seen[m["input"]] = m.get("sha256")
        self.assertEqual(seen, want)
        self.assertTrue(all(len(json.load(open(os.path.join(self.tmp, "s%d.json" % k)))["models"]) > 10
                            for k in (1, 2, 3)))

    def test_files_from_stdin_skip_existing_and_fail_fast(self):
        lst = "\n".join(self.good[:10]) + "\n"
        r = run("--files-from", "-", "--output-dir", "o", "--report", "a.json", cwd=self.tmp,
                stdin=lst)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.load(open(os.path.join(self.tmp, "a.json")))["totals"]["ok"], 10)
        r = run("--files-from", "-", "--output-dir", "o", "--skip-existing", "--report", "b.json",
                cwd=self.tmp, stdin=lst)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.load(open(os.path.join(self.tmp, "b.json")))["totals"]["skipped"], 10)
        r = run("-r", "tree", "--output-dir", "ff", "--fail-fast", "-j", "1", "--report", "c.json",
                cwd=self.tmp)
        self.assertEqual(r.returncode, 1)
        t = json.load(open(os.path.join(self.tmp, "c.json")))["totals"]
        self.assertEqual(t["failed"], 1)
        self.assertGreater(t["not_started"], 0)

    def test_max_memory_admits_one_big_model_at_a_time(self):
        """A budget smaller than any model: they run one after another (never two
        at once, never stuck), with the same bytes as without the limit."""
        a = run("-r", "tree", "--output-dir", "lim", "--seed", "5", "-j", "2", "--max-memory", "1K",
                "--report", "lim.json", cwd=self.tmp)
        b = run("-r", "tree", "--output-dir", "free", "--seed", "5", "-j", "2", "--report",
                "free.json", cwd=self.tmp)
        self.assertEqual((a.returncode, b.returncode), (1, 1))
        ra = {m["input"]: m.get("sha256") for m in json.load(open(os.path.join(self.tmp, "lim.json")))["models"]}
        rb = {m["input"]: m.get("sha256") for m in json.load(open(os.path.join(self.tmp, "free.json")))["models"]}
        self.assertEqual(ra, rb)
        self.assertEqual(run("-r", "tree", "--output-dir", "x", "--max-memory", "lots",
                             cwd=self.tmp).returncode, 2)

    def test_usage_errors(self):
        for args in (["a.onnx", "b.onnx", "-o", "x.onnx"],
                     ["-r", "tree", "--output-dir", "o", "--in-place"],
                     ["-r", "tree"],
                     ["-r", "tree", "--output-dir", "o", "--backup", ".b"],
                     ["-r", "tree", "--output-dir", "o", "--shard", "4/3"]):
            with self.subTest(args=args):
                r = run(*args, cwd=self.tmp)
                self.assertEqual(r.returncode, 2, r.stderr)
        r = run("tree", "--output-dir", "o", cwd=self.tmp)   # a folder without -r
        self.assertEqual(r.returncode, 1)
        self.assertIn("directory", r.stderr)

    def interrupt_batch(self, sig, extra=()):
        big = os.path.join(self.tmp, "big")
        os.makedirs(big, exist_ok=True)
        for i in range(40):
            shutil.copy(os.path.join(FIX, "good", "resnet18.onnx"), os.path.join(big, "r%02d.onnx" % i))
        p = subprocess.Popen([BIN, "-q", "-r", "big", "--output-dir", "o", "-j", "1", "--seed", "5"]
                             + list(extra),
                             cwd=self.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = os.path.join(self.tmp, "o", "big", "r00.onnx")
        for _ in range(600):   # interrupt once one model is done, however slow the machine
            if os.path.exists(first) or p.poll() is not None:
                break
            time.sleep(0.05)
        p.send_signal(sig)
        out, err = p.communicate(timeout=120)
        return p, err

    def test_sighup_writes_report_and_exits_130(self):
        p, err = self.interrupt_batch(signal.SIGHUP, ["--report", "rep.json"])
        self.assertEqual(p.returncode, 130, err)
        self.assertEqual(temp_files(self.tmp), [])
        with open(os.path.join(self.tmp, "rep.json")) as f:
            rep = json.load(f)
        states = {m["status"] for m in rep["models"]}
        self.assertIn("ok", states)
        self.assertTrue(states & {"interrupted", "not started"}, states)
        self.assertNotIn("failed", states)
        t = rep["totals"]   # the totals add up, interrupted models counted
        self.assertEqual(t["ok"] + t["failed"] + t["skipped"] + t["interrupted"] + t["not_started"],
                         t["models"])

    def test_sigint_leaves_only_complete_outputs(self):
        p, err = self.interrupt_batch(signal.SIGINT)
        self.assertEqual(p.returncode, 130, err)   # 128 + SIGINT, as shells report it
        self.assertIn("interrupted", err)
        done = sorted(glob.glob(os.path.join(self.tmp, "o", "big", "*.onnx")))
        self.assertGreater(len(done), 0)
        self.assertLess(len(done), 40)
        ref = self.single(os.path.join("big", "r00.onnx"))
        self.assertEqual(temp_files(self.tmp), [])
        for d in done:   # every output present is complete (same seed, same name -> same bytes)
            self.assertEqual(os.path.getsize(d), os.path.getsize(ref))
            onnx.checker.check_model(d)


class ParallelShards(unittest.TestCase):
    """README's GNU parallel example, run for real on this machine (localhost, 3 shards):
    the union of the shards is the unsharded run, byte for byte, and no model twice."""

    def test_gnu_parallel_three_shards(self):
        parallel = shutil.which("parallel")
        self.assertIsNotNone(parallel, "GNU parallel is installed by scripts/deps.sh")
        tmp = tempfile.mkdtemp(prefix="oiparallel-")
        try:
            os.makedirs(os.path.join(tmp, "models", "sub"))
            for i, name in enumerate(sorted(glob.glob(os.path.join(FIX, "good", "*.onnx")))):
                if "external" in name:
                    continue
                dst = os.path.join(tmp, "models", "sub" if i % 2 else "", os.path.basename(name))
                shutil.copy(name, dst)
            cmd = "cd %s && %s -r models --output-dir fresh --shard {}/3 --report run-{}.json -q " \
                  "--seed 5" % (tmp, BIN)
            r = subprocess.run("seq 3 | %s -S : %s" % (parallel, shlex.quote(cmd)), shell=True,
                               capture_output=True, text=True, timeout=600)
            self.assertEqual(r.returncode, 0, r.stderr)
            r = subprocess.run([BIN, "-r", "models", "--output-dir", "whole", "-q", "--seed", "5"],
                               cwd=tmp, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            whole = sorted(os.path.relpath(p, os.path.join(tmp, "whole")) for p in
                           glob.glob(os.path.join(tmp, "whole", "**", "*.onnx"), recursive=True))
            sharded = sorted(os.path.relpath(p, os.path.join(tmp, "fresh")) for p in
                             glob.glob(os.path.join(tmp, "fresh", "**", "*.onnx"), recursive=True))
            self.assertEqual(sharded, whole)
            self.assertGreater(len(whole), 10)
            for rel in whole:
                self.assertEqual(sha(os.path.join(tmp, "whole", rel)), sha(os.path.join(tmp, "fresh", rel)))
            counts = []
            for k in (1, 2, 3):
                with open(os.path.join(tmp, "run-%d.json" % k)) as f:
                    counts.append(len(json.load(f)["models"]))
            self.assertEqual(sum(counts), len(whole))   # each model in exactly one shard
            self.assertTrue(all(c > 0 for c in counts), counts)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    oiunit.main()
