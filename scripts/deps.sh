#!/usr/bin/env bash
# Install the Debian packages onnxinit needs.  Uses sudo when not root; safe to
# run again.
#   scripts/deps.sh            build, test and benchmark (torch, clang, node, ...)
#   scripts/deps.sh --build    just what building the program, library and
#                              Python package needs
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
)
if [ "${1:-}" != "--build" ]; then
  PKGS+=(
    # tests, sanitizers, fuzzing, memcheck
    libcunit1-dev python3-onnx python3-numpy python3-scipy python3-torch python3-torchvision
    python3-torchaudio clang libclang-rt-14-dev valgrind parallel strace time zsh gcovr
  )
  command -v node >/dev/null && command -v npm >/dev/null || PKGS+=(nodejs npm)   # ORT tests
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "onnxinit: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
