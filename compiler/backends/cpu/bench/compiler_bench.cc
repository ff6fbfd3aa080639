// compiler_bench: compile latency and run time of one graph on the CPU
// backend, as one JSON line (tools/bench_compiler.py drives it and times
// PyTorch eager on the same machine).
//
//   compiler_bench --graph=g.pb [--inputs=req.pb] [--threads=N]
//                  [--repeats=R] [--min_time_ms=T] [--loads=L]
//                  [--save_artifact=F | --artifact=F]
//
// Compile: verify, passes, codegen and host compile of a fresh compile (the
// host compiler is never cached), then L warm loads of the artifact bytes
// (parse, hash check, write + dlopen of the shared object, symbol lookup).
// Run (with --inputs, a kiln.v1.ExecuteRequest): one warm-up run, then runs
// until both R runs and T milliseconds are done; median and minimum.
// --save_artifact writes the artifact; --artifact loads one instead of
// compiling (repeated timing rounds without the host compiler).
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "compiler/backends/backend.h"
#include "compiler/ir/convert.h"
#include "compiler/ir/fusion.h"
#include "compiler/runtime/tensor_proto.h"
#include "compiler/tools/run_lib.h"
#include "kiln/v1/compiler_service.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int Fail(const std::string& what) {
  std::cerr << "compiler_bench: " << what << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string graph_path, inputs_path, save_path, artifact_path;
  int threads = 0, repeats = 20, loads = 10;
  double min_time_ms = 200;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) -> const char* {
      size_t n = std::string(flag).size();
      return a.compare(0, n, flag) == 0 ? a.c_str() + n : nullptr;
    };
    if (const char* v = value("--graph=")) {
      graph_path = v;
    } else if (const char* v = value("--inputs=")) {
      inputs_path = v;
    } else if (const char* v = value("--save_artifact=")) {
      save_path = v;
    } else if (const char* v = value("--artifact=")) {
      artifact_path = v;
    } else if (const char* v = value("--threads=")) {
      threads = std::atoi(v);
    } else if (const char* v = value("--repeats=")) {
      repeats = std::atoi(v);
    } else if (const char* v = value("--loads=")) {
      loads = std::atoi(v);
    } else if (const char* v = value("--min_time_ms=")) {
      min_time_ms = std::atof(v);
    } else {
      return Fail("unknown flag " + a);
    }
  }
  auto graph = kiln::tools::LoadGraph(graph_path);
  if (!graph.ok()) return Fail(graph.status().ToString());
  auto backend = kiln::backends::CreateBackend("cpu");
  if (!backend.ok()) return Fail(backend.status().ToString());
  kiln::backends::CompileOptions options;
  options.num_threads = threads;
  kiln::backends::LoadOptions load_options;
  load_options.num_threads = threads;
  absl::StatusOr<std::unique_ptr<kiln::backends::Executable>> exe;
  if (artifact_path.empty()) {
    exe = (*backend)->Compile(**graph, options);
  } else {
    std::ifstream in(artifact_path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    exe = (*backend)->Load(ss.str(), load_options);
  }
  if (!exe.ok()) return Fail(exe.status().ToString());
  const kiln::backends::CompileStats& s = (*exe)->stats();
  auto bytes = (*exe)->Serialize();
  if (!bytes.ok()) return Fail(bytes.status().ToString());
  if (!save_path.empty()) {
    std::ofstream(save_path, std::ios::binary) << *bytes;
  }
  std::vector<double> load_us;
  for (int i = 0; i < loads; ++i) {
    auto t0 = Clock::now();
    auto loaded = (*backend)->Load(*bytes, load_options);
    double us =
        std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    if (!loaded.ok()) return Fail(loaded.status().ToString());
    load_us.push_back(us);
  }
  std::ostringstream json;
  json << absl::StrFormat(
      "{\"nodes\": %d, \"kernels_unfused\": %d, \"nodes_after\": %d, "
      "\"kernels\": %d, \"launches\": %d, \"library_calls\": %d, "
      "\"verify_us\": %d, \"passes_us\": %d, \"codegen_us\": %d, "
      "\"host_compile_us\": %d, \"compile_us\": %d, \"source_bytes\": %d, "
      "\"object_bytes\": %d, \"load_us\": %.1f, \"artifact_bytes\": %d",
      (*graph)->num_nodes(), kiln::ir::CountKernels(**graph), s.graph_nodes,
      s.num_kernels, s.num_launches, s.num_library_calls, s.verify_us,
      s.passes_us, s.codegen_us, s.host_compile_us, s.total_us, s.source_bytes,
      s.object_bytes, Median(load_us), bytes->size());
  if (!inputs_path.empty()) {
    std::ifstream f(inputs_path, std::ios::binary);
    kiln::v1::ExecuteRequest request;
    if (!request.ParseFromIstream(&f)) return Fail("bad inputs file");
    auto inputs = kiln::tools::InputsFromRequest(request, **graph);
    if (!inputs.ok()) return Fail(inputs.status().ToString());
    auto warm = (*exe)->Run(*inputs);
    if (!warm.ok()) return Fail(warm.status().ToString());
    std::vector<double> run_us;
    auto start = Clock::now();
    while (static_cast<int>(run_us.size()) < repeats ||
           std::chrono::duration<double, std::milli>(Clock::now() - start)
                   .count() < min_time_ms) {
      auto t0 = Clock::now();
      auto out = (*exe)->Run(*inputs);
      double us =
          std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
      if (!out.ok()) return Fail(out.status().ToString());
      run_us.push_back(us);
      if (run_us.size() > 100000) break;
    }
    json << absl::StrFormat(
        ", \"run_us\": %.2f, \"run_us_min\": %.2f, \"runs\": %d",
        Median(run_us), *std::min_element(run_us.begin(), run_us.end()),
        run_us.size());
  }
  json << "}";
  std::cout << json.str() << std::endl;
  return 0;
}
