#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install, build, and re-initialize
# the sample model, showing what was done.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh build >/dev/null
out=$(mktemp -d)/tiny_cnn-init.onnx
echo "\$ onnxinit --seed 42 -v samples/tiny_cnn.onnx -o $out"
./build/src/programs/onnxinit --seed 42 -v samples/tiny_cnn.onnx -o "$out"
ls -l "$out"
