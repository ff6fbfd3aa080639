// kiln export and kiln import, with progress on stderr.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/cpp/admin_client.h"
#include "client/cpp/cli/commands.h"
#include "client/cpp/cli/json.h"
#include "client/cpp/cli/output.h"

namespace kiln::cli {
namespace {

// Reports a transfer on `err`: rewritten in place (\r) on a terminal at most
// 4 times a second; elsewhere one line per 10 % of a known size (per
// 64 MiB otherwise); always a last line. Imports know their size (the
// file's); exports know how many entries the server is sending.
class Progress {
 public:
  Progress(std::ostream& err, const std::string& mode, const char* verb)
      : err_(err), verb_(verb), start_(absl::Now()) {
    tty_ = isatty(STDERR_FILENO) == 1;
    enabled_ = mode == "always" || (mode == "auto" && tty_);
  }

  client::ProgressFn Fn() {
    if (!enabled_) return {};
    return [this](const client::TransferProgress& p) { Report(p); };
  }

 private:
  void Report(const client::TransferProgress& p) {
    absl::Time now = absl::Now();
    const int64_t step =
        p.expected_bytes > 0 ? p.expected_bytes / 10 : int64_t{64} << 20;
    if (next_bytes_ == 0) next_bytes_ = std::max<int64_t>(1, step);
    const bool complete = p.expected_bytes > 0 && p.bytes >= p.expected_bytes;
    bool due = p.done || (tty_ ? now - last_ >= absl::Milliseconds(250)
                               : p.bytes >= next_bytes_ && !complete);
    if (!due) return;
    last_ = now;
    next_bytes_ = p.bytes + std::max<int64_t>(1, step);
    double seconds = absl::ToDoubleSeconds(now - start_);
    std::string line = absl::StrCat(verb_, " ", HumanBytes(p.bytes));
    if (p.expected_bytes > 0 && !p.done) {
      absl::StrAppend(
          &line, " of ", HumanBytes(p.expected_bytes),
          absl::StrFormat(" (%.0f%%)", 100.0 * p.bytes / p.expected_bytes));
    }
    if (p.expected_entries >= 0) {
      absl::StrAppend(&line, " (",
                      Count(p.expected_entries, "entry", "entries"), ")");
    }
    if (seconds > 0.05) {
      absl::StrAppend(&line, ", ",
                      HumanBytes(static_cast<int64_t>(p.bytes / seconds)),
                      "/s");
    }
    if (p.done) {
      absl::StrAppend(&line, absl::StrFormat(", done in %.1f s", seconds));
    }
    err_ << (tty_ ? "\r\033[K" : "") << "kiln: " << line
         << (tty_ && !p.done ? "" : "\n") << std::flush;
  }

  std::ostream& err_;
  const char* verb_;
  absl::Time start_;
  absl::Time last_ = absl::InfinitePast();
  int64_t next_bytes_ = 0;
  bool tty_ = false;
  bool enabled_ = false;
};

absl::Status CheckProgressMode(const std::string& mode) {
  if (mode != "auto" && mode != "always" && mode != "never") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--progress: '", mode, "' is not one of auto, always, never"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int> RunExport(client::KilnClient& client,
                              const GlobalOptions& options,
                              const TransferOptions& transfer,
                              std::ostream& out, std::ostream& err) {
  if (absl::Status s = CheckProgressMode(transfer.progress); !s.ok()) return s;
  absl::StatusOr<v1::EntryFilter> filter = BuildFilter(transfer.filter);
  if (!filter.ok()) return filter.status();
  v1::ExportRequest request;
  *request.mutable_filter() = *filter;
  client::AdminClient admin(client);
  Progress progress(err, transfer.progress, "exported");
  absl::StatusOr<client::ExportResult> result =
      admin.ExportToFile(request, transfer.file, progress.Fn());
  if (!result.ok()) return result.status();
  if (options.json) {
    nlohmann::ordered_json doc;
    doc["file"] = transfer.file;
    doc["entries"] = result->entries;
    doc["bytes"] = result->bytes;
    out << doc.dump(2) << "\n";
    return 0;
  }
  out << "exported " << Count(result->entries, "entry", "entries") << " ("
      << HumanBytes(result->bytes) << ") to " << transfer.file << "\n";
  return 0;
}

absl::StatusOr<int> RunImport(client::KilnClient& client,
                              const GlobalOptions& options,
                              const TransferOptions& transfer,
                              std::ostream& out, std::ostream& err) {
  if (absl::Status s = CheckProgressMode(transfer.progress); !s.ok()) return s;
  client::AdminClient admin(client);
  Progress progress(err, transfer.progress, "sent");
  absl::StatusOr<v1::ImportResponse> response =
      admin.ImportFromFile(transfer.file, progress.Fn());
  if (!response.ok()) return response.status();
  const int code = response->rejected() > 0 ? 1 : 0;
  if (options.json) {
    nlohmann::ordered_json doc = ProtoToJson(*response);
    doc["file"] = transfer.file;
    out << doc.dump(2) << "\n";
    return code;
  }
  out << "imported " << Count(response->imported(), "entry", "entries")
      << " from " << transfer.file << "; " << response->skipped_existing()
      << " already present, " << response->rejected() << " rejected\n";
  for (const std::string& e : response->errors()) {
    err << "kiln: rejected " << e << "\n";
  }
  return code;
}

}  // namespace kiln::cli
