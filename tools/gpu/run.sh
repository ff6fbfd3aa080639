#!/usr/bin/env bash
# Runs on the GPU test host from a bundle made by tools/gpu/bundle.sh: the
# CUDA-aware tests, the end-to-end tests and a live kiln-server, then prints a
# short table. Usage (on the device): bash build/gpu-bundle/run.sh [OUT_DIR]
set -uo pipefail
B=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-${OUT:-/tmp/kiln-gpu-out}}
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$B/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export TEST_SRCDIR="$B" TEST_WORKSPACE=kiln TEST_TMPDIR=$(mktemp -d)
rows=()

gtest() {  # name binary
  local name=$1 bin=$2 xml="$OUT/$1.xml"
  "$bin" --gtest_output="xml:$xml" >"$OUT/$name.log" 2>&1
  local rc=$?
  local summary
  summary=$(python3 - "$xml" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    r = ET.parse(sys.argv[1]).getroot()
except Exception as e:
    print(f"no report ({e})"); sys.exit()
cases = list(r.iter("testcase"))
failed = sum(1 for c in cases if c.find("failure") is not None)
skipped = sum(1 for c in cases if c.find("skipped") is not None or c.get("result") == "skipped")
print(f"{len(cases) - failed - skipped} passed, {failed} failed, {skipped} skipped")
PY
)
  rows+=("$name|$([ $rc -eq 0 ] && echo ok || echo FAIL)|$summary")
}

gtest cuda_probe_test "$B/kiln/compiler/backends/cuda/cuda_probe_test"
gtest services_test "$B/kiln/server/services_test"
gtest server_e2e_test "$B/kiln/tests/server_e2e_test"

# A live server: does Capabilities report the GPU?
data=$(mktemp -d)
"$B/kiln/server/kiln-server" --listen=127.0.0.1:0 --data-dir="$data" 2>"$OUT/server.log" &
pid=$!
for _ in $(seq 100); do grep -q "serving on" "$OUT/server.log" && break; sleep 0.1; done
addr=$(sed -n 's/.*serving on \([^ ]*\).*/\1/p' "$OUT/server.log" | head -1)
"$B/kiln/client/cpp/kiln" --server "$addr" status >"$OUT/status.txt" 2>&1
rc=$?
cuda_line=$(grep -A3 "cuda" "$OUT/status.txt" | head -2 | tr -s ' ' | paste -sd' ')
# The GPU must be detected and listed (the cuda backend reports itself
# unavailable until it can generate code).
rows+=("kiln status|$([ $rc -eq 0 ] && grep -qE 'cuda:0 NVIDIA' "$OUT/status.txt" && echo ok || echo FAIL)|${cuda_line:0:90}")
kill -TERM $pid; wait $pid; src=$?
rows+=("server SIGTERM exit|$([ $src -eq 0 ] && echo ok || echo FAIL)|exit $src")

# The Python client against this host's protobuf and grpcio.
if python3 -c "import pytest" 2>/dev/null; then
  (cd "$B/python" && python3 -m pytest -q -p no:cacheprovider tests >"$OUT/pytest.log" 2>&1)
  prc=$?
  pv=$(python3 -c "import google.protobuf as p, grpc; print('protobuf', p.__version__, 'grpcio', grpc.__version__)")
  rows+=("python client|$([ $prc -eq 0 ] && echo ok || echo FAIL)|$(tail -1 "$OUT/pytest.log"); $pv")
else
  rows+=("python client|skipped|pytest is not installed on this host")
fi

cat "$OUT/status.txt"
echo
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/gpu: /'
printf '%-22s %-7s %s\n' "check" "result" "detail"
for r in "${rows[@]}"; do
  IFS='|' read -r a b c <<<"$r"
  printf '%-22s %-7s %s\n' "$a" "$b" "$c"
done
