#ifndef KILN_CLIENT_CPP_CLI_OUTPUT_H_
#define KILN_CLIENT_CPP_CLI_OUTPUT_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::cli {

// A plain text table with left-aligned columns, sized to their widest cell.
class Table {
 public:
  void AddRow(std::vector<std::string> cells);
  void Print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// 1536 -> "1.5 KiB"; 64 << 20 -> "64 MiB".
std::string HumanBytes(int64_t bytes);

// A span of time: "850 us", "12.5 ms", "3.2 s", "4m05s", "2h10m", "3d04h".
std::string HumanMicros(int64_t micros);

// How long ago `unix_ms` was at `now_unix_ms`: "just now", "42s ago",
// "5m ago", "3h ago", "12d ago".
std::string HumanAge(int64_t unix_ms, int64_t now_unix_ms);

// "2024-05-01 13:45:10 UTC".
std::string UtcTime(int64_t unix_ms);

// "1 entry", "3 entries": `n` and the noun, plural unless n == 1.
std::string Count(int64_t n, const std::string& singular,
                  const std::string& plural);

// True for a key or digest: 64 lowercase hex characters.
bool IsDigest(const std::string& text);

// The first `n` characters of a key or digest.
std::string ShortKey(const std::string& key, size_t n = 16);

// Durations given on the command line: a number of seconds, optionally
// with a unit s, m, h, d or w ("90", "90s", "15m", "2h", "7d").
absl::StatusOr<int64_t> ParseDurationSeconds(const std::string& text);

// Sizes given on the command line: bytes, optionally with a unit B, K, M, G
// or T (powers of 1024; "KiB", "KB" and "k" mean the same), fractions
// allowed ("512", "64K", "1.5MiB").
absl::StatusOr<int64_t> ParseBytes(const std::string& text);

}  // namespace kiln::cli

#endif  // KILN_CLIENT_CPP_CLI_OUTPUT_H_
