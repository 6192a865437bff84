#!/usr/bin/env bash
# Install every Debian package onnxinit needs to build, test and benchmark.
# Uses sudo when not root.  Safe to run again.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PKGS=(
  # build
  gcc meson ninja-build pkg-config scdoc
  libprotobuf-c-dev protobuf-c-compiler libonnx-dev
  libjson-c-dev liblapacke-dev libopenblas-dev librandom123-dev nettle-dev
  # pip install . (offline, Debian's meson-python)
  python3-mesonpy python3-venv
  # tests, sanitizers, fuzzing, memcheck
  libcunit1-dev python3-onnx python3-numpy python3-scipy python3-torch python3-torchvision python3-torchaudio
  clang libclang-rt-14-dev valgrind parallel strace time
)
command -v node >/dev/null && command -v npm >/dev/null || PKGS+=(nodejs npm)   # ORT tests
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "onnxinit: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
