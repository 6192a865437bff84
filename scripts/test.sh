#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install, build with -Werror, run
# every test; then the same again under AddressSanitizer + UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
echo "== build (gcc, -Werror) and test =="
bash scripts/build.sh build
meson test -C build --print-errorlogs
echo "== build with ASan+UBSan and test =="
bash scripts/build.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-asan --print-errorlogs
echo "== all tests passed =="
