// kiln-cpu-codegen: prints what the CPU backend generates for a graph, for
// debugging and for measuring the host compiler.
//
//   kiln-cpu-codegen --graph=g.kir [--source=out.cc] [--plan]
//
// --source writes the generated C++ (stdout without it); --plan prints the
// plan (text proto) to stdout.
#include <fstream>
#include <iostream>
#include <string>

#include "compiler/backends/cpu/cpu_backend.h"
#include "compiler/tools/run_lib.h"

int main(int argc, char** argv) {
  std::string graph_path, source_path;
  bool print_plan = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--graph=", 0) == 0) {
      graph_path = a.substr(8);
    } else if (a.rfind("--source=", 0) == 0) {
      source_path = a.substr(9);
    } else if (a == "--plan") {
      print_plan = true;
    } else {
      std::cerr << "usage: kiln-cpu-codegen --graph=F [--source=F] [--plan]\n";
      return 2;
    }
  }
  auto graph = kiln::tools::LoadGraph(graph_path);
  if (!graph.ok()) {
    std::cerr << graph.status() << "\n";
    return 1;
  }
  auto planned = kiln::cpu::PlanGraph(**graph);
  if (!planned.ok()) {
    std::cerr << planned.status() << "\n";
    return 1;
  }
  if (print_plan) std::cout << planned->plan.DebugString();
  if (source_path.empty()) {
    if (!print_plan) std::cout << planned->source;
  } else {
    std::ofstream(source_path) << planned->source;
  }
  return 0;
}
