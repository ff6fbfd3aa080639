// kiln-cpu-codegen: prints what the CPU backend generates for a graph, for
// debugging and for measuring the host compiler.
//
//   kiln-cpu-codegen --graph=g.kir [--source=out.cc] [--plan] [--passes]
//   [--print_ir]
//
// --source writes the generated C++ (stdout without it); --plan prints the
// plan (text proto) to stdout; --passes runs the default pass pipeline
// first (as the backend does) and --print_ir prints the graph planned. The
// ops left to their reference implementation go to stderr.
#include <fstream>
#include <iostream>
#include <string>

#include "compiler/backends/cpu/cpu_backend.h"
#include "compiler/ir/text.h"
#include "compiler/passes/pipeline.h"
#include "compiler/tools/run_lib.h"

int main(int argc, char** argv) {
  std::string graph_path, source_path;
  bool print_plan = false, run_passes = false, print_ir = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--graph=", 0) == 0) {
      graph_path = a.substr(8);
    } else if (a.rfind("--source=", 0) == 0) {
      source_path = a.substr(9);
    } else if (a == "--plan") {
      print_plan = true;
    } else if (a == "--passes") {
      run_passes = true;
    } else if (a == "--print_ir") {
      print_ir = true;
    } else {
      std::cerr << "usage: kiln-cpu-codegen --graph=F [--source=F] [--plan] "
                   "[--passes] [--print_ir]\n";
      return 2;
    }
  }
  auto graph = kiln::tools::LoadGraph(graph_path);
  if (!graph.ok()) {
    std::cerr << graph.status() << "\n";
    return 1;
  }
  if (run_passes) {
    auto changed = kiln::passes::DefaultPipeline().Run(**graph);
    if (!changed.ok()) {
      std::cerr << changed.status() << "\n";
      return 1;
    }
  }
  if (print_ir) std::cout << kiln::ir::PrintGraph(**graph);
  auto planned = kiln::cpu::PlanGraph(**graph);
  if (!planned.ok()) {
    std::cerr << planned.status() << "\n";
    return 1;
  }
  for (const std::string& op : planned->reference_ops) {
    std::cerr << "reference: " << op << "\n";
  }
  if (print_plan) std::cout << planned->plan.DebugString();
  if (source_path.empty()) {
    if (!print_plan) std::cout << planned->source;
  } else {
    std::ofstream(source_path) << planned->source;
  }
  return 0;
}
