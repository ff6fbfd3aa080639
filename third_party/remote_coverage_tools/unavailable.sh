#!/bin/sh
echo "coverage collection through Bazel is not available offline" >&2
exit 1
