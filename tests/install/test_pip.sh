#!/bin/sh
# pip install . as a Python user does it, offline (Debian's python3-mesonpy):
# into a fresh venv, from a copy of the source tree; then the package imports
# with no environment variable, finds its bundled library and re-initializes a
# model.  Exits 77 (SKIP) in a sanitizer build: the wheel is built without it.
set -eu
src=$1 fixture=$2
case ${OI_SANITIZE:-none} in none|"") ;; *) echo "SKIP: the wheel is not a sanitizer build"; exit 77 ;; esac
work=$(mktemp -d /tmp/oipip-XXXXXX)
trap 'rm -rf "$work"' EXIT
# the tracked sources only (no build folders)
(cd "$src" && git ls-files -z 2>/dev/null | xargs -0 tar cf - 2>/dev/null || tar cf - --exclude='./build*' .) |
  (mkdir -p "$work/src" && cd "$work/src" && tar xf -)
/usr/bin/python3 -m venv --system-site-packages "$work/venv"
"$work/venv/bin/pip" install --no-build-isolation --no-index "$work/src" >"$work/pip.log" 2>&1 ||
  { tail -n 30 "$work/pip.log"; exit 1; }
cd "$work"
env -u ONNXINIT_LIBRARY -u LD_LIBRARY_PATH "$work/venv/bin/python" -c '
import os, sys, onnxinit
here = os.path.dirname(onnxinit.__file__)
assert here.startswith(sys.argv[1]), here
assert os.path.exists(os.path.join(here, "libonnxinit.so.1")), os.listdir(here)
assert onnxinit.__version__ == onnxinit.version()
out = onnxinit.reinit(sys.argv[2], seed=1)
assert len(out) > 0
print("pip:", onnxinit.__version__, len(out), "bytes")
' "$work/venv" "$fixture"
