#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install what building needs, build
# the program (no tests: no CUnit, no torch), and re-initialize the sample
# model, showing what was done.  The program is left at build-sample/onnxinit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh --build
echo "== build (meson + ninja; the tests are not built by default) =="
bash scripts/build.sh build-sample
ln -sf src/programs/onnxinit build-sample/onnxinit
out=$(mktemp -d)/tiny_cnn-init.onnx
echo "== re-initialize the sample =="
echo "\$ build-sample/onnxinit --seed 42 -v samples/tiny_cnn.onnx -o $out"
build-sample/onnxinit --seed 42 -v samples/tiny_cnn.onnx -o "$out"
ls -l "$out"
echo "(meson install -C build-sample puts onnxinit, its library, header and man page on the system)"
