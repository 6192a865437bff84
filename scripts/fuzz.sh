#!/usr/bin/env bash
# Fuzz the five harnesses (model bytes, files with external data, rules text, graph-aware
# mutations through the analysis, the command line) for SECONDS each (default 60) with
# clang, ASan and UBSan.
#   bash scripts/fuzz.sh [SECONDS]
# Corpus: build-fuzz/corpus-*/ seeded from the fixtures; findings: build-fuzz/crash-*.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
bash scripts/deps.sh
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debugoptimized >/dev/null
fi
# the harnesses only; the seeds come from the test build's fixtures when it has them
# (generating them again under clang takes minutes)
ninja -C build-fuzz tests/fuzz_model tests/fuzz_external tests/fuzz_rules tests/fuzz_graph \
  tests/fuzz_options
fx=build-fuzz/tests/fixtures
if [ ! -d "$fx/good" ]; then
  if [ -d build/tests/fixtures/good ]; then fx=build/tests/fixtures; else ninja -C build-fuzz; fi
fi
mkdir -p build-fuzz/corpus-model build-fuzz/corpus-external build-fuzz/corpus-rules build-fuzz/corpus-graph \
  build-fuzz/corpus-options
cp -n tests/fuzz/options-seeds/* build-fuzz/corpus-options/ 2>/dev/null || true
cp -n $fx/analysis/*.onnx $fx/torch/*.onnx build-fuzz/corpus-graph/ 2>/dev/null || true
cp -n tests/fuzz/rules-seeds/* build-fuzz/corpus-rules/ 2>/dev/null || true
cp -n $fx/good/*.onnx $fx/bad/*.onnx $fx/analysis/*.onnx build-fuzz/corpus-model/ 2>/dev/null || true
# external seeds: [u32 length][model][data]
/usr/bin/python3 - "$fx" build-fuzz/corpus-external <<'PY'
import os, struct, sys
fx, out = sys.argv[1], sys.argv[2]
for name in ("external.onnx",):
    m = open(os.path.join(fx, "good", name), "rb").read()
    d = open(os.path.join(fx, "good", name + ".data"), "rb").read()
    open(os.path.join(out, "seed-" + name), "wb").write(struct.pack("<I", len(m)) + m + d)
for name in ("mlp.onnx", "resnet18.onnx", "lstm_bidir.onnx", "constants.onnx"):
    m = open(os.path.join(fx, "good", name), "rb").read()
    open(os.path.join(out, "seed-" + name), "wb").write(struct.pack("<I", len(m)) + m)
PY
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# -timeout: an input that takes longer than 10 s is a hang, and fails the run.
# As many harnesses at once as there are cores; each still gets SECONDS of its own.
fuzz_one() {
  local h=$1 quiet=""
  [ "$h" = options ] && quiet="-close_fd_mask=2"   # its usage errors, by the million
  (cd build-fuzz && ./tests/fuzz_$h -max_total_time="$secs" -max_len=4000000 -rss_limit_mb=4096 -timeout=10 $quiet \
     -print_final_stats=1 corpus-$h > fuzz_$h.log 2>&1 || true)
}
jobs_max=$(nproc 2>/dev/null || echo 1)
for h in model external rules graph options; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
  fuzz_one "$h" &
done
wait
for h in model external rules graph options; do
  echo "== fuzz_$h for ${secs}s =="
  grep -E "^(#[0-9]+.*(DONE|pulse)|stat::|==|SUMMARY)" "build-fuzz/fuzz_$h.log" | tail -12 || true
done
