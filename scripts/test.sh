#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install, build with -Werror, run
# every test; then again under AddressSanitizer + UBSan (the numeric suite
# replaced by a sweep of its models), counting line coverage per stage (none
# below 80%); then a short fuzz of the five harnesses.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
# ONNX Runtime for Node, for the tests that run our outputs (never into the repo)
export OI_ORT_DIR=${OI_ORT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/onnxinit-ort}
if [ ! -d "$OI_ORT_DIR/node_modules/onnxruntime-node" ]; then
  mkdir -p "$OI_ORT_DIR"
  npm install --prefix "$OI_ORT_DIR" --ignore-scripts --no-audit --no-fund onnxruntime-node >/dev/null
fi
echo "== build (gcc, -Werror) and test == (${SECONDS}s)"
bash scripts/build.sh build -Dtests=true
meson test -C build --print-errorlogs
echo "== build with ASan+UBSan and coverage, and test == (${SECONDS}s)"
# the same test models as the first build: generating them takes minutes and gives the same files
bash scripts/build.sh build-asan -Dtests=true -Db_sanitize=address,undefined -Db_lundef=false \
  -Db_coverage=true -Dtest_models="$PWD/build"
find build-asan -name '*.gcda' -delete   # coverage of this run only
# The numeric suite (values in torch and ONNX Runtime) ran above; here the sweep puts each
# of its models through the program instead.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-asan --print-errorlogs --no-suite numeric
echo "== line coverage of the library per stage (every test above but the numeric suite) =="
/usr/bin/python3 scripts/coverage.py build-asan --min 80
echo "== fuzz the five harnesses (35 s each, two at a time, 10 s per-input timeout, clang + ASan + UBSan) == (${SECONDS}s)"
bash scripts/fuzz.sh 35 | tee build-fuzz-ci.log
# (find, not ls: ls fails when any one of the patterns matches nothing)
if [ -n "$(find build-fuzz -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \))" ]; then
  echo "fuzzing found a failing input (build-fuzz/crash-*)"; exit 1
fi
echo "== all tests passed == (${SECONDS}s)"
