# Kiln: `make run` serves on 127.0.0.1:50051 with its cache under ./.kiln;
# `make test` runs every test. Both install missing Debian packages first.
BAZEL ?= bazel
LISTEN ?= 127.0.0.1:50051
DATA_DIR ?= $(CURDIR)/.kiln

.PHONY: all deps build run test format check-format clean python-proto gpu-bundle bench-compiler bench

all: build

deps:
	@tools/install_deps.sh

build: deps
	$(BAZEL) build //...

run: deps
	$(BAZEL) build //server:kiln-server //client/cpp:kiln
	exec bazel-bin/server/kiln-server --listen=$(LISTEN) --data-dir=$(DATA_DIR)

test: deps
	@tools/run_tests.sh

format:
	tools/check_format.sh --fix

check-format:
	tools/check_format.sh

python-proto:
	tools/gen_python_proto.sh

clean:
	$(BAZEL) clean
	rm -rf test-results

# Binaries + libraries + tests for the GPU test host (see docs/development.md).
gpu-bundle: deps
	tools/gpu/bundle.sh

# Compiler benchmark: compile latency per graph and CPU-backend kernel time
# against PyTorch eager on this machine (docs/benchmarks.md). THREADS=N sets
# the thread count for both (default: all cores).
bench-compiler: deps
	$(BAZEL) build //compiler/backends/cpu:compiler_bench
	/usr/bin/python3 tools/bench_compiler.py --bin "$$($(BAZEL) info bazel-bin)" $(if $(THREADS),--threads $(THREADS))

# Service benchmark: kiln-server and redis-server on loopback ports, measured
# by N concurrent clients of the C++ load generator (docs/benchmarks.md).
# CLIENTS=1,4,16 sets the client counts, DURATION=3 the seconds per row.
bench: deps
	$(BAZEL) build //server:kiln-server //tools/bench:kiln-loadgen
	/usr/bin/python3 tools/bench/service_bench.py --bin "$$($(BAZEL) info bazel-bin)" $(if $(CLIENTS),--clients $(CLIENTS)) $(if $(DURATION),--seconds $(DURATION))
