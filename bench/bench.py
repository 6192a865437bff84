#!/usr/bin/python3
"""onnxinit against the Python peer and cp, side by side, in one run.

    bench.py BUILD_DIR WORK_DIR [--runs N] [--skip-peer-batch]

Prints a markdown table: min and median wall time of N runs, peak RSS,
ratios, onnxinit's per-phase times, then fill rates and orthogonal QR
against LAPACK (bench/oi-fillrate).  The "write floor" is bench/oi-writefloor
writing files of the output's sizes as onnxinit writes them (one thread per
core, 256 KiB pwrites, writeback started per 8 MiB, fsync): onnxinit's time
if its values cost nothing, and faster here than dd with O_DIRECT."""
import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "..", "..", "shared", "peers", "baseline_reinit.py")


def timed(cmd, env=None):
    """(wall seconds, peak RSS MiB, stdout+stderr) of one run: RSS from /usr/bin/time,
    the wall from perf_counter around it (time's %e has 10 ms steps: the
    small scale rows read 0.00 s)."""
    t0 = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "@@ %e %M"] + cmd, capture_output=True, text=True,
                       env=env)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit("failed: %s\n%s" % (" ".join(cmd), r.stderr[-2000:]))
    line = [l for l in r.stderr.splitlines() if l.startswith("@@ ")][-1].split()
    return wall, int(line[2]) / 1024.0, r.stdout + r.stderr


def clean(paths):
    for p in paths:
        if os.path.isdir(p):
            shutil.rmtree(p)
        for q in (p, p + ".data"):
            if os.path.exists(q):
                os.unlink(q)


# name, layout (embedded | ext: one data file | dir: a folder, one file per tensor), and the
# peer's runs (None: as many as ours; 0: it cannot, bfloat16 is not in its types)
MODELS = [("mlp_1g.onnx", "embedded", None), ("mlp_1g_ext.onnx", "ext", None),
          ("mlp_1g_fp16.onnx", "embedded", None), ("mlp_1g_bf16.onnx", "embedded", 0),
          ("big_4g_fp16_ext.onnx", "ext", 1), ("big_4g_fp16_each/model.onnx", "dir", 1),
          ("cnn_100m.onnx", "embedded", None), ("rnn_100m.onnx", "embedded", None)]


def model_files(path, layout):
    if layout == "dir":
        d = os.path.dirname(path)
        return [os.path.join(d, f) for f in sorted(os.listdir(d))]
    return [path] + ([path + ".data"] if layout == "ext" else [])


def model_bytes(path, layout):
    return sum(os.path.getsize(f) for f in model_files(path, layout))


def copy_cmd(src, dst, layout):
    """cp of the model as it is stored, and cp then sync of what was written."""
    if layout == "dir":
        c = "cp -r %s %s" % (os.path.dirname(src), dst)
        return c, c + " && sync -f %s" % dst
    c = "cp %s %s" % (src, dst) + (" && cp %s.data %s.data" % (src, dst) if layout == "ext" else "")
    return c, c + " && sync %s" % dst + (" %s.data" % dst if layout == "ext" else "")


def series(runs, cmd, outputs, shell_cmd=None):
    walls, rss, last = [], [], ""
    for _ in range(runs):
        clean(outputs)
        if shell_cmd:
            w, m, last = timed(["/bin/sh", "-c", shell_cmd])
        else:
            w, m, last = timed(cmd)
        walls.append(w)
        rss.append(m)
    return min(walls), statistics.median(walls), max(rss), last


def interleaved(runs, jobs):
    """series() of each (cmd, outputs, shell_cmd) job, their runs taken in turn:
    these VMs drift over seconds, and ratios of rows measured minutes apart
    (onnxinit/cp, /floor) moved by 1.5x; taken in turn, each sees the same spells."""
    walls = [[] for _ in jobs]
    rss = [[] for _ in jobs]
    last = [""] * len(jobs)
    for _ in range(runs):
        for k, (cmd, outputs, shell_cmd) in enumerate(jobs):
            clean(outputs)
            w, m, last[k] = timed(["/bin/sh", "-c", shell_cmd] if shell_cmd else cmd)
            walls[k].append(w)
            rss[k].append(m)
    return [(min(w), statistics.median(w), max(r), t) for w, r, t in zip(walls, rss, last)]


def phases(text):
    for line in text.splitlines():
        if line.startswith("time: "):
            return line[6:]
    return ""


def dtype_rows(a, oi, out, runs=10):
    """The 1 GB MLP as float32, float16 and bfloat16 (the same bytes, twice the
    values in the 16-bit ones), runs taken in turn: time per byte against fp32."""
    names = [n for n in ("mlp_1g.onnx", "mlp_1g_fp16.onnx", "mlp_1g_bf16.onnx")
             if os.path.exists(os.path.join(a.work, n))]
    if len(names) < 2:
        return
    dsts = [os.path.join(out, "dtype-" + n) for n in names]
    r = interleaved(runs, [([oi, os.path.join(a.work, n), "-o", d], [d], None)
                           for n, d in zip(names, dsts)])
    clean(dsts)
    base = os.path.getsize(os.path.join(a.work, names[0]))
    print()
    print("| 1 GB MLP by dtype (%d runs in turn) | min / median | per byte vs fp32 (min / median) |"
          % runs)
    print("| --- | --- | --- |")
    for n, m in zip(names, r):
        k = base / os.path.getsize(os.path.join(a.work, n))
        print("| %s | %.2f / %.2f s | %.2fx / %.2fx |"
              % (n, m[0], m[1], k * m[0] / r[0][0], k * m[1] / r[0][1]))


def scale_rows(a, oi, out):
    """Cost linear in everything: each shape at two sizes, 10x apart, and the growth."""
    d = os.path.join(a.work, "scale")
    if not os.path.isdir(d):
        return
    start = series(a.runs, [oi, "--version"], [])[0]   # process start and exit: no work
    print()
    print("Each shape at two sizes 10x apart (best of %d runs); growth net of the %.1f ms a run "
          "that does nothing takes (onnxinit --version)." % (a.runs, start * 1e3))
    print()
    print("| shape (10x apart) | small: time / RSS | large: time / RSS | time growth | "
          "net of start |")
    print("| --- | --- | --- | --- | --- |")
    tiny = None
    for label, small, large in (
            ("tiny tensors (10k, 100k)", "tiny_10000.onnx", "tiny_100000.onnx"),
            ("external tensors in one file (1k, 10k)", "ext_one_1000.onnx", "ext_one_10000.onnx"),
            ("one external file per tensor (100, 1k)", "ext_each_100/model.onnx",
             "ext_each_1000/model.onnx"),
            ("nested If depth (100, 1000)", "if_100.onnx", "if_1000.onnx")):
        r = []
        for name in (small, large):
            dst = os.path.join(out, "scale-" + name.replace("/", "-"))
            r.append(series(a.runs, [oi, "-f", os.path.join(d, name), "-o", dst], [dst]))
        net = (r[1][0] - start) / max(r[0][0] - start, 1e-4)
        print("| %s | %.4f s / %.0f MB | %.4f s / %.0f MB | %.1fx | %.1fx |"
              % (label, r[0][0], r[0][2], r[1][0], r[1][2], r[1][0] / r[0][0], net))
        if small.startswith("tiny_"):
            tiny = (r[0][2], r[1][2])
    if tiny:   # memory per tensor: the growth's RSS over the 90,000 tensors added
        print()
        print("Memory per tensor (tiny tensors, 10k -> 100k): %.0f bytes of peak RSS each "
              "(the decoded model's protobuf messages and the file's bytes included)."
              % ((tiny[1] - tiny[0]) * 2**20 / 90000))


def quant_rows(a, oi, out):
    """A quantized model against its fp16 twin (the same layers and values)."""
    q, f = (os.path.join(a.work, n) for n in ("quant_44m_uint8.onnx", "quant_44m_fp16.onnx"))
    if not (os.path.exists(q) and os.path.exists(f)):
        return
    oq, of = os.path.join(out, "quant-uint8.onnx"), os.path.join(out, "quant-fp16.onnx")
    rq, rf = interleaved(a.runs, [([oi, "-v", q, "-o", oq], [oq], None),
                                  ([oi, "-v", f, "-o", of], [of], None)])
    clean([oq, of])
    print()
    print("| 44 M weights, in turn (%d runs) | min / median | peak RSS | phases |" % a.runs)
    print("| --- | --- | --- | --- |")
    print("| uint8 ConvInteger (44 MB) | %.2f / %.2f s | %.0f MB | %s |" % (rq[0], rq[1], rq[2],
                                                                          phases(rq[3])))
    print("| its fp16 twin (88 MB) | %.2f / %.2f s | %.0f MB | %s |" % (rf[0], rf[1], rf[2],
                                                                      phases(rf[3])))
    print("| quantized / twin, whole run | %.2fx | | |" % (rq[0] / rf[0]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("work")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-peer-batch", action="store_true")
    a = ap.parse_args()
    oi = os.path.join(a.build, "src", "programs", "onnxinit")
    out = os.path.join(a.work, "out")
    os.makedirs(out, exist_ok=True)
    size = lambda p: os.path.getsize(p) + (os.path.getsize(p + ".data") if os.path.exists(p + ".data") else 0)
    rows = []
    for name, layout, peer_runs in MODELS:
        src = os.path.join(a.work, name)
        if not os.path.exists(src):
            continue
        flat = name.replace("/", "-")
        o1, o2, o3, o4, o5 = (os.path.join(out, p + flat)
                              for p in ("oi-", "peer-", "cp-", "floor-", "nosync-"))
        mb = model_bytes(src, layout) / 2**20
        subprocess.run(["cat"] + model_files(src, layout), stdout=subprocess.DEVNULL)
        cp_cmd, cps_cmd = copy_cmd(src, o3, layout)
        floor_cmd = "mkdir -p %s && %s %s %s" % (
            o4, os.path.join(a.build, "bench", "oi-writefloor"), o4,
            " ".join(str(os.path.getsize(f)) for f in model_files(src, layout)))
        cp, cps, floor, mine, nosync = interleaved(a.runs, [
            (None, [o3], cp_cmd), (None, [o3], cps_cmd), (None, [o4], floor_cmd),
            ([oi, "-v", src, "-o", o1], [o1], None),
            ([oi, "--no-sync", "-q", src, "-o", o5], [o5], None)])
        runs = a.runs if peer_runs is None else peer_runs
        peer = (series(runs, [PEER, src, o2, "-q"] + (["--external"] if layout != "embedded" else []),
                       [o2]) if runs else None)
        clean([o1, o2, o3, o4, o5])
        rows.append((name, mb, mine, peer, cp, cps, floor, runs, nosync))
    print("| model | size | onnxinit min / median | peak RSS | peer min / median | peer RSS | cp min | cp+sync min | write floor | onnxinit/cp | onnxinit/(cp+sync) | onnxinit/floor | peer/onnxinit | onnxinit phases | --no-sync min / median | --no-sync/cp |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, mb, m, p, c, cs, fl, runs, ns in rows:
        peer = ("%.2f / %.2f s%s | %.0f MB" % (p[0], p[1], " (1 run)" if runs == 1 else "", p[2])
                if p else "— (no bfloat16) | —")
        ratio = "%.1fx" % (p[0] / m[0]) if p else "—"
        print("| %s | %.0f MB | %.2f / %.2f s | %.0f MB | %s | %.2f s | %.2f s | %.2f s | %.2fx | %.2fx "
              "| %.2fx | %s | %s | %.2f / %.2f s | %.2fx |"
              % (name, mb, m[0], m[1], m[2], peer, c[0], cs[0], fl[0], m[0] / c[0], m[0] / cs[0],
                 m[0] / fl[0], ratio, phases(m[3]), ns[0], ns[1], ns[0] / c[0]))
    # The Python binding, path to path (the library's file path), beside the program
    big = os.path.join(a.work, "mlp_1g.onnx")
    if os.path.exists(big):
        py_dst, cli_dst = os.path.join(out, "py-mlp_1g.onnx"), os.path.join(out, "cli-mlp_1g.onnx")
        env = ["env", "ONNXINIT_LIBRARY=" + os.path.join(a.build, "src", "lib", "libonnxinit.so.1"),
               "PYTHONPATH=" + os.path.join(HERE, "..", "src", "python")]
        code = "import sys, onnxinit; onnxinit.reinit(sys.argv[1], output=sys.argv[2])"
        cli_t, py_t = interleaved(a.runs, [([oi, "-q", big, "-o", cli_dst], [cli_dst], None),
                                           (env + ["/usr/bin/python3", "-c", code, big, py_dst],
                                            [py_dst], None)])
        clean([py_dst, cli_dst])
        print()
        print("| 1 GB MLP, path to path | min / median | peak RSS |")
        print("| --- | --- | --- |")
        print("| onnxinit | %.2f / %.2f s | %.0f MB |" % cli_t[:3])
        print("| Python binding | %.2f / %.2f s | %.0f MB |" % py_t[:3])
        print("| binding / program | %.2fx | |" % (py_t[0] / cli_t[0]))
    small = sorted(glob.glob(os.path.join(a.work, "small", "*.onnx")))
    sdir = os.path.join(out, "small")
    shutil.rmtree(sdir, ignore_errors=True)
    os.makedirs(sdir)
    lst = os.path.join(a.work, "small.txt")
    open(lst, "w").write("\n".join(small) + "\n")
    b = {}
    for j in (1, 2):
        b[j] = series(a.runs, None, [], "%s -q -f -j %d --files-from %s --output-dir %s"
                      % (oi, j, lst, sdir))[:2]
    cpb = series(a.runs, None, [], "xargs -I{} cp {} %s/ < %s" % (sdir, lst))[:2]
    if not a.skip_peer_batch:
        pb = series(1, None, [], "xargs -I{} sh -c '%s {} %s/peer.onnx -q' < %s" % (PEER, sdir, lst))[:2]
    print()
    print("| 200 small models (%.1f MB each) | min / median |" % (size(small[0]) / 2**20))
    print("| --- | --- |")
    print("| onnxinit --files-from, -j1 | %.2f / %.2f s |" % b[1])
    print("| onnxinit --files-from, -j2 | %.2f / %.2f s |" % b[2])
    print("| cp | %.2f / %.2f s |" % cpb)
    if not a.skip_peer_batch:
        print("| peer, once per file (1 run) | %.2f s (%.0fx onnxinit -j1, %.0fx -j2) |"
              % (pb[0], pb[0] / b[1][0], pb[0] / b[2][0]))
    dtype_rows(a, oi, out)
    quant_rows(a, oi, out)
    scale_rows(a, oi, out)
    rates = subprocess.run([os.path.join(a.build, "bench", "oi-fillrate")], capture_output=True,
                           text=True, check=True).stdout.split("\n")
    print()
    target = {"normal/s2": "1.0", "uniform/s2": "2.0"}   # per core, default stream
    print("| fill | 1 thread | 2 threads | target, 1 thread |")
    print("| --- | --- | --- | --- |")
    fill = {}
    for l in rates:
        f = l.split()
        if f and f[0] == "fill":
            fill.setdefault(f[1], {})[f[2]] = float(f[3])
    for k, v in fill.items():
        print("| %s | %.2f Gfloat/s | %.2f Gfloat/s | %s |"
              % (k, v["1"], v["2"], target.get(k, "—")))
    print()
    print("| orthogonal | onnxinit | LAPACK geqrf+orgqr | ratio |")
    print("| --- | --- | --- | --- |")
    for l in rates:
        f = l.split()
        if f and f[0] == "ortho":
            print("| %s | %s s | %s s | %sx |" % (f[1], f[2], f[3], f[4]))


if __name__ == "__main__":
    main()
