#ifndef KILN_CLIENT_CPP_CLI_COMMANDS_H_
#define KILN_CLIENT_CPP_CLI_COMMANDS_H_

#include <ostream>

#include "absl/status/status.h"
#include "client/cpp/kiln_client.h"

namespace kiln::cli {

// Options every subcommand shares.
struct GlobalOptions {
  std::string server = "127.0.0.1:50051";
  double timeout_s = 10;
  bool json = false;
};

// `kiln status`: the server's health and capabilities. Returns the process
// exit code: 0 when the server is SERVING, 1 otherwise. Errors are returned
// as a status for main to print as one line.
absl::StatusOr<int> RunStatus(client::KilnClient& client,
                              const GlobalOptions& options, std::ostream& out);

}  // namespace kiln::cli

#endif  // KILN_CLIENT_CPP_CLI_COMMANDS_H_
