// Connecting to the server and the entry-selection flags the cache
// commands share.
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/cpp/cli/commands.h"
#include "client/cpp/cli/output.h"

namespace kiln::cli {

absl::StatusOr<std::unique_ptr<client::KilnClient>> Connect(
    const GlobalOptions& options) {
  client::ClientOptions client_options;
  static_cast<client::ChannelOptions&>(client_options) = options.channel;
  client_options.server = options.server;
  client_options.timeout = absl::Seconds(options.timeout_s);
  return client::KilnClient::Create(client_options);
}

bool FilterFlags::any() const {
  return !graph.empty() || !target.empty() || !client.empty() ||
         !older_than.empty() || !newer_than.empty() || !min_size.empty() ||
         !max_size.empty();
}

absl::StatusOr<v1::EntryFilter> BuildFilter(const FilterFlags& flags) {
  v1::EntryFilter filter;
  auto flag_error = [](const char* flag, const absl::Status& s) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", s.message()));
  };
  if (!flags.graph.empty()) {
    if (!IsDigest(flags.graph)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--graph: '", flags.graph,
          "' is not a graph digest (64 lowercase hex characters)"));
    }
    filter.set_graph_digest(flags.graph);
  }
  filter.set_target(flags.target);
  filter.set_producing_client(flags.client);
  if (!flags.older_than.empty()) {
    absl::StatusOr<int64_t> s = ParseDurationSeconds(flags.older_than);
    if (!s.ok()) return flag_error("--older-than", s.status());
    filter.set_min_age_s(*s);
  }
  if (!flags.newer_than.empty()) {
    absl::StatusOr<int64_t> s = ParseDurationSeconds(flags.newer_than);
    if (!s.ok()) return flag_error("--newer-than", s.status());
    filter.set_max_age_s(*s);
  }
  if (!flags.min_size.empty()) {
    absl::StatusOr<int64_t> b = ParseBytes(flags.min_size);
    if (!b.ok()) return flag_error("--min-size", b.status());
    filter.set_min_bytes(*b);
  }
  if (!flags.max_size.empty()) {
    absl::StatusOr<int64_t> b = ParseBytes(flags.max_size);
    if (!b.ok()) return flag_error("--max-size", b.status());
    filter.set_max_bytes(*b);
  }
  return filter;
}

}  // namespace kiln::cli
