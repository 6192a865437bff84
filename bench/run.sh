#!/usr/bin/env bash
# The benchmark, one command: bash bench/run.sh [WORK_DIR] [--runs N]
# Builds (release), generates its models once into WORK_DIR (default
# /tmp/onnxinit-bench, ~13 GB), and prints the table README's Performance
# section records.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/onnxinit-bench}
shift || true
bash scripts/deps.sh
bash scripts/build.sh build-release --buildtype=release >/dev/null
mkdir -p "$work"
[ -f "$work/small/m199.onnx" ] || /usr/bin/python3 bench/make_models.py "$work"
[ -f "$work/big_4g_fp16_each/model.onnx" ] || /usr/bin/python3 bench/make_models.py "$work" --half-only
[ -f "$work/quant_44m_fp16.onnx" ] || /usr/bin/python3 bench/make_models.py "$work" --quant-only
/usr/bin/python3 bench/bench.py build-release "$work" "$@"
