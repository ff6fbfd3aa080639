// kiln-opt: runs passes over an IR text graph and prints the result (like
// XLA's hlo-opt). Usage:
//   kiln-opt [--passes=view_simplification,dce] [--stats] FILE.kir|FILE.pb
// Without --passes it runs the default pipeline; "-" reads IR text from
// stdin; a .pb file is a serialized kiln.v1.Graph. The
// verifier runs after every pass. Exit 0 on success, 1 on an error, 2 for
// bad usage.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "absl/strings/str_split.h"
#include "compiler/ir/convert.h"
#include "compiler/ir/text.h"
#include "compiler/passes/pipeline.h"

int main(int argc, char** argv) {
  std::vector<std::string> names = kiln::passes::DefaultPassNames();
  bool stats = false;
  std::string file;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--passes=", 0) == 0) {
      names = absl::StrSplit(arg.substr(9), ',', absl::SkipEmpty());
    } else if (arg == "--stats") {
      stats = true;
    } else if (!arg.empty() && arg[0] == '-' && arg != "-") {
      std::cerr << "kiln-opt: unknown flag " << arg << "\n";
      return 2;
    } else {
      file = arg;
    }
  }
  if (file.empty()) {
    std::cerr << "usage: kiln-opt [--passes=a,b] [--stats] FILE.kir\n";
    return 2;
  }
  std::stringstream text;
  if (file == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::cerr << "kiln-opt: cannot read " << file << "\n";
      return 1;
    }
    text << in.rdbuf();
  }
  absl::StatusOr<std::unique_ptr<kiln::ir::Graph>> graph;
  if (file.size() > 3 && file.substr(file.size() - 3) == ".pb") {
    kiln::v1::Graph proto;
    if (!proto.ParseFromString(text.str())) {
      std::cerr << "kiln-opt: " << file << " is not a kiln.v1.Graph\n";
      return 1;
    }
    graph = kiln::ir::GraphFromProto(proto);
  } else {
    graph = kiln::ir::ParseGraph(text.str());
  }
  if (!graph.ok()) {
    std::cerr << "kiln-opt: error: " << graph.status() << "\n";
    return 1;
  }
  auto pipeline = kiln::passes::Pipeline::Create(names, {.verify = true});
  if (!pipeline.ok()) {
    std::cerr << "kiln-opt: error: " << pipeline.status() << "\n";
    return 1;
  }
  auto changed = pipeline->Run(**graph);
  if (!changed.ok()) {
    std::cerr << "kiln-opt: error: " << changed.status() << "\n";
    return 1;
  }
  std::cout << kiln::ir::PrintGraph(**graph);
  if (stats) {
    for (const auto& s : pipeline->stats()) {
      std::cerr << s.name << ": changed=" << s.changed << " nodes "
                << s.nodes_before << " -> " << s.nodes_after << ", kernels "
                << s.kernels_before << " -> " << s.kernels_after << ", "
                << absl::FormatDuration(s.time) << "\n";
    }
  }
  return 0;
}
