#!/usr/bin/env bash
# Installs the Debian packages Kiln needs to build, test and run, and nothing
# else. Idempotent: prints nothing and changes nothing when all are present.
set -euo pipefail

PACKAGES=(
  # build
  bazel-bootstrap g++ make git pkg-config
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev
  libabsl-dev librocksdb-dev libspdlog-dev libfmt-dev libzstd-dev
  libxxhash-dev libssl-dev libcli11-dev nlohmann-json3-dev prometheus-cpp-dev
  # the CPU backend's matrix products
  libopenblas-dev
  # tests, formatting, benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev clang-format clang-tidy openssl
  curl
  # `kiln show --svg` draws graphs with Graphviz's dot
  graphviz
  # `make bench`: the Redis baseline (server and the load generator's client)
  redis-server libhiredis-dev
  # Python client and differential tests against PyTorch
  python3 python3-torch python3-grpcio python3-protobuf python3-pytest
  python3-pytest-xdist python3-numpy
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install_deps: missing packages: ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
fi
echo "install_deps: installing ${#missing[@]} package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install_deps: done"
