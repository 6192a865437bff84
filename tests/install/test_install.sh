#!/bin/sh
# meson install into a staging folder, then build two consumers against what
# was installed, never the source tree: a C++ program (g++, shared library)
# and a C program linked statically with `pkg-config --static`.  The Python
# module is imported from the install too.
set -eu
build=$1 fixture=$2
stage=$(mktemp -d /tmp/oiinstall-XXXXXX)
trap 'rm -rf "$stage"' EXIT
meson install -C "$build" --destdir "$stage" --no-rebuild >/dev/null
pc=$(dirname "$(find "$stage" -name onnxinit.pc | head -n1)")
[ -n "$pc" ] || { echo "onnxinit.pc not installed"; exit 1; }
export PKG_CONFIG_PATH="$pc"
prefix="$stage$(pkg-config --variable=prefix onnxinit)"
cflags=$(pkg-config --define-variable=prefix="$prefix" --cflags onnxinit)
libs=$(pkg-config --define-variable=prefix="$prefix" --libs onnxinit)
libdir=$(pkg-config --define-variable=prefix="$prefix" --variable=libdir onnxinit)
hdr=$(find "$stage" -name onnxinit.h | head -n1)
[ -n "$hdr" ] || { echo "onnxinit.h not installed"; exit 1; }
# Only the public API leaves the shared library.
# (a coverage build also carries gcov's runtime, which is not ours to hide)
exported=$(nm -D --defined-only "$libdir/libonnxinit.so" | awk '{print $3}' |
           grep -v -e '^__gcov_' -e '^mangle_path$' || true)
if echo "$exported" | grep -v '^oi_' >/dev/null; then
  echo "non-API symbols exported:"; echo "$exported" | grep -v '^oi_'; exit 1
fi
for s in $exported; do
  grep -q "$s(" "$hdr" || { echo "exported but not in onnxinit.h: $s"; exit 1; }
done
src=$(dirname "$0")
san=""
case ${OI_SANITIZE:-none} in none|"") ;; *) san="-fsanitize=$OI_SANITIZE" ;; esac
# a coverage build's archive needs gcov's runtime in whatever links it
if [ "${OI_COVERAGE:-false}" = true ]; then san="$san --coverage"; fi
g++ -std=c++17 -Wall -Werror $san $cflags "$src/consumer.cpp" -o "$stage/consumer" $libs
out=$(LD_LIBRARY_PATH="$libdir" "$stage/consumer" "$fixture")
echo "c++ consumer: $out"
case $out in *" 0 "*|"") echo "c++ consumer re-initialized nothing"; exit 1;; esac
slibs=$(pkg-config --define-variable=prefix="$prefix" --static --libs onnxinit | sed "s|-lonnxinit|$libdir/libonnxinit.a|")
cc -std=c11 -Wall -Werror $san $cflags "$src/static_consumer.c" -o "$stage/static_consumer" $slibs
if ldd "$stage/static_consumer" | grep -q libonnxinit; then
  echo "static consumer still needs libonnxinit.so"; exit 1
fi
"$stage/static_consumer" "$fixture" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["tensors"], d'
echo "static consumer: ok"
pydir=$(dirname "$(find "$stage" -path '*onnxinit/__init__.py' | head -n1)")
pre=""
[ -n "$san" ] && pre="$(gcc -print-file-name=libasan.so)"
LD_PRELOAD="$pre" ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" ONNXINIT_LIBRARY="$libdir/libonnxinit.so" PYTHONPATH=$(dirname "$pydir") /usr/bin/python3 -c \
  "import onnxinit, sys; assert onnxinit.__file__.startswith('$stage'); print('python:', onnxinit.version(), len(onnxinit.reinit(sys.argv[1])))" "$fixture"
