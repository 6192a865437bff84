#!/usr/bin/env bash
# Configure (once) and build into DIR (default build/), with extra meson options.
#   scripts/build.sh [DIR] [meson options...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}; shift || true
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" "$@" >/dev/null
elif [ $# -gt 0 ]; then
  meson configure "$dir" "$@" >/dev/null   # an existing folder takes the options asked for
fi
ninja -C "$dir"
