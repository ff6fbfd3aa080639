#!/usr/bin/env bash
# Builds Kiln here and packs what the GPU test host needs into
# build/gpu-bundle: the binaries in their Bazel runfiles layout, the shared
# libraries they load (except the C/C++ runtime, which the host has newer),
# the Python client and tools/gpu/run.sh. The host has no toolchain and no
# network, so everything travels. Usage: tools/gpu/bundle.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
OUT="$ROOT/build/gpu-bundle"
BIN_TARGETS=(
  //server:kiln-server
  //client/cpp:kiln
  //compiler/backends/cuda:cuda_probe_test
  //server:services_test
  //tests:server_e2e_test
)
tools/install_deps.sh
bazel build --noshow_progress "${BIN_TARGETS[@]}" 2>/dev/null
rm -rf "$OUT" && mkdir -p "$OUT/kiln" "$OUT/lib"
for t in "${BIN_TARGETS[@]}"; do
  rel=${t#//}; rel=${rel/://}
  mkdir -p "$OUT/kiln/$(dirname "$rel")"
  cp "bazel-bin/$rel" "$OUT/kiln/$rel"
done
# The C and C++ runtimes stay behind: the GPU host's are newer and
# backward-compatible, and mixing glibc builds breaks the loader.
skip='^(linux-vdso|ld-linux|libc\.|libm\.|libdl\.|librt\.|libpthread\.|libstdc\+\+|libgcc_s|libcuda)'
for t in "${BIN_TARGETS[@]}"; do
  rel=${t#//}; rel=${rel/://}
  # ldd the binary where Bazel built it: its rpath finds Bazel's own
  # libraries (test binaries link them dynamically) only from there.
  ldd "bazel-bin/$rel" | awk '/=> \//{print $1, $3}' | while read -r name path; do
    [[ "$name" =~ $skip ]] && continue
    [ -e "$OUT/lib/$name" ] || cp -L "$path" "$OUT/lib/$name"
  done
done
mkdir -p "$OUT/python"
cp -r client/python/kiln client/python/tests "$OUT/python/"
cp tools/gpu/run.sh "$OUT/"
strip --strip-debug "$OUT"/kiln/*/* "$OUT"/kiln/*/*/*/* "$OUT"/lib/* 2>/dev/null || true
du -sh "$OUT" | awk '{print "gpu bundle: " $1 " in build/gpu-bundle"}'
# One compressed file to carry to the host (the libraries make up most of
# the bundle and compress ~3x).
tar -czf "$OUT.tgz" -C "$(dirname "$OUT")" "$(basename "$OUT")"
du -sh "$OUT.tgz" | awk '{print "gpu bundle: " $1 " in build/gpu-bundle.tgz"}'
