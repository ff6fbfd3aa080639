// kiln-run: runs a kiln.v1.Graph on inputs and writes the outputs.
//
//   kiln-run --graph=g.pb [--inputs=req.pb] [--outputs=resp.pb]
//            [--backend=interpreter] [--print_ir] [--print_outputs]
//   kiln-run --list_ops | --list_backends
//   kiln-run --batch   (one run per stdin line, each with its own flags;
//                       see run_lib.h)
//
// Exit codes: 0 success; 1 the graph or inputs were refused or the run
// failed (one line on stderr: `kiln-run: error: CODE: message`, CODE being
// the absl status code name, e.g. INVALID_ARGUMENT); 2 bad flags.
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "compiler/tools/run_lib.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto options = kiln::tools::ParseFlags(args);
  if (!options.ok()) {
    std::cerr << "kiln-run: " << options.status().message()
              << "\nusage: kiln-run --graph=FILE [--inputs=FILE] "
                 "[--outputs=FILE] [--backend=interpreter] [--print_ir] "
                 "[--print_outputs]\n"
                 "       kiln-run --list_ops | --list_backends | --batch\n";
    return 2;
  }
  if (options->batch) {
    kiln::tools::RunBatch(std::cin, std::cout, std::cerr);
    return 0;
  }
  absl::Status st = kiln::tools::RunTool(*options, std::cout);
  if (!st.ok()) {
    std::cerr << "kiln-run: error: " << absl::StatusCodeToString(st.code())
              << ": " << st.message() << "\n";
    return 1;
  }
  return 0;
}
