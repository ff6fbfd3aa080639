#!/usr/bin/env bash
# Regenerates the Python client's copy of the kiln.v1 descriptor set,
# client/python/kiln/proto/kiln_v1.desc, from proto/kiln/v1/*.proto with the
# system protoc. Run it (or `make python-proto`) after every .proto change and
# commit the result; client/python/tests/test_proto.py fails while the
# checked-in file is stale.
#
# Usage: tools/gen_python_proto.sh [OUTPUT]   (default: the checked-in path)
#
# The Python package loads this file at import time instead of protoc-made
# _pb2 modules, so one file works with protobuf 3.21 (Debian) and protobuf
# 7.x (GPU hosts) alike. --include_imports puts imported files (well-known
# types included) into the set; source info is left out to keep it small.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$root/client/python/kiln/proto/kiln_v1.desc"}
cd "$root/proto"
# Sorted file list, so the output is byte-for-byte reproducible.
mapfile -t protos < <(LC_ALL=C ls kiln/v1/*.proto | LC_ALL=C sort)
protoc --proto_path=. --include_imports --descriptor_set_out="$out" "${protos[@]}"
