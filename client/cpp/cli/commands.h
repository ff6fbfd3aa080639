#ifndef KILN_CLIENT_CPP_CLI_COMMANDS_H_
#define KILN_CLIENT_CPP_CLI_COMMANDS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/cpp/channel.h"
#include "client/cpp/cli/signature.h"
#include "client/cpp/kiln_client.h"
#include "kiln/v1/cache_admin.pb.h"

namespace kiln::cli {

// Options every subcommand shares.
struct GlobalOptions {
  std::string server = "127.0.0.1:50051";  // --server / KILN_SERVER
  double timeout_s = 10;                   // --timeout / KILN_TIMEOUT
  bool json = false;                       // --json
  // Token and TLS (--token, --tls, --tls-ca, --tls-cert, --tls-key,
  // --tls-server-name and their KILN_* variables; client/cpp/channel.h).
  client::ChannelOptions channel;
};

// The one place the CLI connects to a server (address, timeout, TLS and
// token from `options`).
absl::StatusOr<std::unique_ptr<client::KilnClient>> Connect(
    const GlobalOptions& options);

// Which entries: the flags ls, evict and export share.
struct FilterFlags {
  std::string graph;       // --graph DIGEST
  std::string target;      // --target TARGET
  std::string client;      // --client ID (producing client)
  std::string older_than;  // --older-than DURATION (last used before)
  std::string newer_than;  // --newer-than DURATION (last used within)
  std::string min_size;    // --min-size SIZE
  std::string max_size;    // --max-size SIZE
  bool any() const;
};
// INVALID_ARGUMENT naming the flag.
absl::StatusOr<v1::EntryFilter> BuildFilter(const FilterFlags& flags);

// `kiln status`: the server's health and capabilities. Returns the process
// exit code: 0 when the server is SERVING, 1 otherwise. Errors are returned
// as a status for main to print as one line.
absl::StatusOr<int> RunStatus(client::KilnClient& client,
                              const GlobalOptions& options, std::ostream& out);

struct LsOptions {
  FilterFlags filter;
  std::string sort = "last-used";  // last-used | size | created | hits
  bool ascending = false;          // --asc: smallest / oldest first
  int64_t limit = 0;               // --limit N: at most N entries (0: all)
  int page_size = 0;               // --page-size N (server default 100)
  std::string page_token;          // --page-token T: one page from T on
  bool wide = false;               // --wide: full keys and digests
};
absl::StatusOr<int> RunLs(client::KilnClient& client,
                          const GlobalOptions& options, const LsOptions& ls,
                          std::ostream& out);

struct ShowOptions {
  std::string key;  // full key or unique prefix
  bool graph = false;
  bool dot = false;
  std::string svg;  // --svg FILE
};
absl::StatusOr<int> RunShow(client::KilnClient& client,
                            const GlobalOptions& options,
                            const ShowOptions& show, std::ostream& out);

absl::StatusOr<int> RunStats(client::KilnClient& client,
                             const GlobalOptions& options, std::ostream& out);

struct ExplainOptions {
  std::string graph_digest;
  std::string target;                // --target T (as `kiln ls` shows it)
  std::string backend;               // --backend B (resolved as Compile)
  std::vector<std::string> options;  // --option KEY=VALUE (with --backend)
  int device_index = 0;              // --device-index N (with --backend)
  SignatureFlags signature;
};
absl::StatusOr<int> RunExplain(client::KilnClient& client,
                               const GlobalOptions& options,
                               const ExplainOptions& explain,
                               std::ostream& out);

struct EvictOptions {
  std::string key;  // positional KEY (full key or unique prefix)
  bool all = false;
  FilterFlags filter;  // --graph alone means "every entry of this graph"
  bool dry_run = false;
};
absl::StatusOr<int> RunEvict(client::KilnClient& client,
                             const GlobalOptions& options,
                             const EvictOptions& evict, std::ostream& out);

struct TransferOptions {
  std::string file;
  FilterFlags filter;  // export only
  // Progress on stderr: "auto" (when stderr is a terminal), "always",
  // "never".
  std::string progress = "auto";
};
absl::StatusOr<int> RunExport(client::KilnClient& client,
                              const GlobalOptions& options,
                              const TransferOptions& transfer,
                              std::ostream& out, std::ostream& err);
absl::StatusOr<int> RunImport(client::KilnClient& client,
                              const GlobalOptions& options,
                              const TransferOptions& transfer,
                              std::ostream& out, std::ostream& err);

}  // namespace kiln::cli

#endif  // KILN_CLIENT_CPP_CLI_COMMANDS_H_
