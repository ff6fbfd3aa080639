#!/usr/bin/env bash
# Builds everything and runs every test: the format check, all Bazel (C++)
# tests and all pytest suites. Ends with `N passed, N failed[, N skipped]`.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BAZEL=${BAZEL:-bazel}
PYTHON=${PYTHON:-/usr/bin/python3}
OUT="$ROOT/test-results"
rm -rf "$OUT" && mkdir -p "$OUT"
BAZEL_FLAGS=(--noshow_progress --show_result=0)

checks=()
echo "== format check"
if fmt_out=$(tools/check_format.sh 2>&1); then
  checks+=("format=passed")
else
  echo "$fmt_out"
  checks+=("format=failed:${fmt_out}")
fi

echo "== bazel build //..."
if ! "$BAZEL" build "${BAZEL_FLAGS[@]}" //... 2>"$OUT/build.log"; then
  tail -n 40 "$OUT/build.log"
  checks+=("bazel-build=failed:bazel build //... failed (see test-results/build.log)")
else
  checks+=("bazel-build=passed")
fi

echo "== bazel test //..."
"$BAZEL" query 'tests(//...)' 2>/dev/null | sort >"$OUT/bazel_targets.txt"
"$BAZEL" test "${BAZEL_FLAGS[@]}" --keep_going --nocache_test_results //... 2>"$OUT/bazel_test.log" | grep -vE '^(INFO|Target|Loading|Analyzing)' || true
grep -E '^(FAIL|ERROR)' "$OUT/bazel_test.log" | head -n 20
TESTLOGS=$("$BAZEL" info bazel-testlogs 2>/dev/null)

echo "== pytest"
junit=()
export KILN_BIN_DIR="$ROOT/bazel-bin"
# The suites run on every core (pytest-xdist): the CPU-backend tests spend
# their time in the host compiler, one process per graph. KILN_TEST_JOBS=1
# runs them in one process.
jobs=()
if "$PYTHON" -c "import xdist" 2>/dev/null && [ "${KILN_TEST_JOBS:-auto}" != 1 ]; then
  jobs=(-n "${KILN_TEST_JOBS:-auto}")
fi
for suite in client/python/tests tests/python; do
  [ -d "$suite" ] || continue
  name=$(echo "$suite" | tr '/' '_')
  ( cd "$ROOT" && PYTHONPATH="$ROOT/client/python${PYTHONPATH:+:$PYTHONPATH}" \
      "$PYTHON" -m pytest -q -rs -p no:cacheprovider "${jobs[@]}" "$suite" \
      --junitxml="$OUT/pytest_$name.xml" ) | tail -n 25
  junit+=(--junit "$OUT/pytest_$name.xml")
done

echo "== summary"
args=(--bazel-testlogs "$TESTLOGS" --bazel-targets "$OUT/bazel_targets.txt")
for c in "${checks[@]}"; do args+=(--check "$c"); done
"$PYTHON" tools/summarize_tests.py "${args[@]}" "${junit[@]}"
