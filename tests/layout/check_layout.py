#!/usr/bin/python3
"""The tree's shape holds: every call in libonnxinit goes downward.

From the objects of libonnxinit.a (nm: what each defines, what it needs) this
builds the file-to-file call graph and fails on
  - a call from a stage to a later one (order: common < model < graph <
    analyze < plan < fill < save < readout < api),
  - any cycle between files, inside a stage too,
and from the sources, on a program that includes anything but the public
header and its own headers.  Usage: check_layout.py LIBONNXINIT.a SRC_DIR"""
import os
import re
import subprocess
import sys

ORDER = ["common", "model", "graph", "analyze", "plan", "fill", "save", "readout", "api"]


def objects(archive):
    """{object: (stage/file, defined set, undefined set)} from nm -A."""
    defs, undefs = {}, {}
    out = subprocess.run(["nm", "-A", archive], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        m = re.match(r"^[^:]+:([^:]+):\s*(?:[0-9a-f]+)?\s+([A-Za-z])\s+(\S+)$", line)
        if not m:
            continue
        obj, kind, sym = m.groups()
        if kind == "U":
            undefs.setdefault(obj, set()).add(sym)
        elif kind.isupper():
            defs.setdefault(obj, set()).add(sym)
    return defs, undefs


def stage_of(obj):
    # meson names objects like "api_ctx.c.o" (folder_file); protobuf's start with "onnx"
    name = obj.split("/")[-1]
    for s in ORDER:
        if name.startswith(s + "_"):
            return s
    return None


def main():
    archive, src = sys.argv[1], sys.argv[2]
    defs, undefs = objects(archive)
    owner = {}
    for obj, syms in defs.items():
        for s in syms:
            owner[s] = obj
    edges = {}
    problems = []
    for obj, syms in undefs.items():
        st = stage_of(obj)
        if st is None:
            continue
        for s in syms:
            to = owner.get(s)
            if not to or to == obj or stage_of(to) is None:
                continue
            edges.setdefault(obj, set()).add(to)
            if ORDER.index(stage_of(to)) > ORDER.index(st):
                problems.append("upward call: %s -> %s (%s)" % (obj, to, s))
    # cycles (iterative DFS with colours)
    colour = {}
    for start in edges:
        stack = [(start, iter(sorted(edges.get(start, ()))))]
        path = [start]
        if colour.get(start):
            continue
        colour[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                colour[node] = 2
                stack.pop()
                path.pop()
                continue
            if colour.get(nxt) == 1:
                problems.append("cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            elif not colour.get(nxt):
                colour[nxt] = 1
                stack.append((nxt, iter(sorted(edges.get(nxt, ())))))
                path.append(nxt)
    n_files = len([o for o in defs if stage_of(o)])
    if n_files < 20:
        problems.append("only %d library objects found in %s" % (n_files, archive))
    progs = os.path.join(src, "programs")
    own = {f for f in os.listdir(progs) if f.endswith(".h")}
    # Sources the program builds from the library's tree rather than calling
    # through the library (self-contained, depending on nothing else there).
    own |= {"common/utf8.h", "common/fail.h", "common/decimal.h", "save/atomic.h"}
    for f in sorted(os.listdir(progs)):
        if not f.endswith((".c", ".h")):
            continue
        with open(os.path.join(progs, f)) as fh:
            for inc in re.findall(r'#include\s+"([^"]+)"', fh.read()):
                if inc != "onnxinit.h" and inc not in own:
                    problems.append("programs/%s includes %s (programs see only onnxinit.h)"
                                    % (f, inc))
    print("%d library objects, %d file-to-file call edges" % (n_files,
                                                              sum(len(v) for v in edges.values())))
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
