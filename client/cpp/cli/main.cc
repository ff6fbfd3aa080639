// kiln: inspect and manage a kiln-server and its cache. See README.md.
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/time/time.h"
#include "client/cpp/channel_flags.h"
#include "client/cpp/cli/commands.h"
#include "client/cpp/kiln_client.h"
#include "kiln/version.h"

namespace {

int Fail(const absl::Status& status) {
  std::cerr << "kiln: error: " << status.message() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  kiln::cli::GlobalOptions options;
  CLI::App app{"kiln: inspect and manage a kiln-server and its cache.", "kiln"};
  app.set_version_flag("--version", std::string(kiln::kServerVersion));
  app.require_subcommand(1);
  app.add_option("--server", options.server, "kiln-server address HOST:PORT")
      ->envname("KILN_SERVER")
      ->capture_default_str();
  app.add_option("--timeout", options.timeout_s, "Seconds to wait per call")
      ->envname("KILN_TIMEOUT")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--json", options.json, "Print machine-readable JSON");
  kiln::client::ClientOptions client_options;
  kiln::client::AddChannelFlags(app, client_options);

  CLI::App* status = app.add_subcommand(
      "status", "Show the server's health, version, backends and limits");
  status->add_flag("--json", options.json, "Print machine-readable JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::CallForVersion& e) {
    std::cout << "kiln " << e.what() << "\n";
    return 0;
  } catch (const CLI::ParseError& e) {
    std::cerr << "kiln: error: " << e.what() << " (see kiln --help)\n";
    return 2;
  }

  client_options.server = options.server;
  client_options.timeout = absl::Seconds(options.timeout_s);
  auto client = kiln::client::KilnClient::Create(client_options);
  if (!client.ok()) return Fail(client.status());

  absl::StatusOr<int> code = absl::UnimplementedError("unknown command");
  if (status->parsed())
    code = kiln::cli::RunStatus(**client, options, std::cout);
  if (!code.ok()) return Fail(code.status());
  return *code;
}
