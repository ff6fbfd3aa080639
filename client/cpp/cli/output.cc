#include "client/cpp/cli/output.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"

namespace kiln::cli {

void Table::AddRow(std::vector<std::string> cells) {
  rows_.push_back(std::move(cells));
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size())
        line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
}

std::string HumanBytes(int64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  if (unit == 0) return absl::StrFormat("%d B", bytes);
  if (v == static_cast<int64_t>(v)) {
    return absl::StrFormat("%d %s", static_cast<int64_t>(v), kUnits[unit]);
  }
  return absl::StrFormat("%.1f %s", v, kUnits[unit]);
}

std::string HumanMicros(int64_t micros) {
  if (micros < 1000) return absl::StrFormat("%d us", micros);
  if (micros < 1000000) {
    return absl::StrFormat("%.1f ms", static_cast<double>(micros) / 1e3);
  }
  if (micros < 60 * 1000000LL) {
    return absl::StrFormat("%.1f s", static_cast<double>(micros) / 1e6);
  }
  int64_t s = micros / 1000000;
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 86400) return absl::StrFormat("%dh%02dm", s / 3600, (s / 60) % 60);
  return absl::StrFormat("%dd%02dh", s / 86400, (s / 3600) % 24);
}

std::string HumanAge(int64_t unix_ms, int64_t now_unix_ms) {
  int64_t s = (now_unix_ms - unix_ms) / 1000;
  if (s < 1) return "just now";
  if (s < 60) return absl::StrCat(s, "s ago");
  if (s < 3600) return absl::StrCat(s / 60, "m ago");
  if (s < 86400) return absl::StrCat(s / 3600, "h ago");
  return absl::StrCat(s / 86400, "d ago");
}

std::string UtcTime(int64_t unix_ms) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                          absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
}

std::string Count(int64_t n, const std::string& singular,
                  const std::string& plural) {
  return absl::StrCat(n, " ", n == 1 ? singular : plural);
}

bool IsDigest(const std::string& text) {
  return text.size() == 64 &&
         text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::string ShortKey(const std::string& key, size_t n) {
  return key.size() <= n ? key : key.substr(0, n);
}

absl::StatusOr<int64_t> ParseDurationSeconds(const std::string& text) {
  std::string t = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  int64_t unit = 1;
  if (!t.empty() && !absl::ascii_isdigit(t.back())) {
    switch (t.back()) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = 7 * 86400;
        break;
      default:
        unit = 0;
    }
    t.pop_back();
  }
  int64_t n = 0;
  if (unit == 0 || !absl::SimpleAtoi(t, &n) || n < 0 ||
      n > (int64_t{1} << 40) / unit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text, "' is not a duration (e.g. 90, 90s, 15m, 2h, 7d)"));
  }
  return n * unit;
}

absl::StatusOr<int64_t> ParseBytes(const std::string& text) {
  std::string t = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  auto strip = [&t](const char* suffix) {
    if (absl::EndsWith(t, suffix) && t.size() > strlen(suffix)) {
      t.resize(t.size() - strlen(suffix));
      return true;
    }
    return false;
  };
  double unit = 1;
  if (!strip("ib")) strip("b");
  if (!t.empty()) {
    switch (t.back()) {
      case 'k':
        unit = 1024.0;
        break;
      case 'm':
        unit = 1024.0 * 1024;
        break;
      case 'g':
        unit = 1024.0 * 1024 * 1024;
        break;
      case 't':
        unit = 1024.0 * 1024 * 1024 * 1024;
        break;
    }
    if (unit > 1) t.pop_back();
  }
  double v = 0;
  if (t.empty() || !absl::SimpleAtod(t, &v) || !(v >= 0) || v * unit > 9.0e18) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a size (e.g. 512, 64K, 1.5MiB, 2G)"));
  }
  return static_cast<int64_t>(std::llround(v * unit));
}

}  // namespace kiln::cli
