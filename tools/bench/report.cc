#include "tools/bench/report.h"

#include <sys/utsname.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace kiln::bench {
namespace {

// Three significant digits: 1.25, 12.5, 125.
std::string ThreeDigits(double value) {
  if (value >= 100) return absl::StrFormat("%.0f", value);
  if (value >= 10) return absl::StrFormat("%.1f", value);
  return absl::StrFormat("%.2f", value);
}

std::string FormatRate(double per_second) {
  if (per_second >= 1000) return absl::StrFormat("%.0f", per_second);
  return ThreeDigits(per_second);
}

std::string Ratio(double value) {
  return absl::StrCat(ThreeDigits(value), "×");
}

}  // namespace

std::string CpuDescription() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  while (std::getline(in, line)) {
    absl::string_view view(line);
    if (absl::ConsumePrefix(&view, "model name")) {
      view = absl::StripLeadingAsciiWhitespace(view);
      if (absl::ConsumePrefix(&view, ":")) {
        model = std::string(absl::StripAsciiWhitespace(view));
        break;
      }
    }
  }
  return absl::StrCat(model, " (", std::thread::hardware_concurrency(),
                      " cores)");
}

std::string KernelDescription() {
  struct utsname name;
  if (uname(&name) != 0) return "unknown kernel";
  return absl::StrCat(name.sysname, " ", name.release, " ", name.machine);
}

std::string CompilerDescription() {
#if defined(__clang__)
  return absl::StrCat("clang ", __clang_version__);
#elif defined(__GNUC__)
  return absl::StrCat("g++ ", __VERSION__);
#else
  return "unknown compiler";
#endif
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  if (!(in >> one >> five >> fifteen)) return "unknown";
  return absl::StrCat(one, " ", five, " ", fifteen);
}

std::string FormatBytes(int64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  const char* units[] = {"KiB", "MiB", "GiB"};
  double value = static_cast<double>(bytes);
  int unit = -1;
  while (value >= 1024 && unit < 2) {
    value /= 1024;
    ++unit;
  }
  std::string number = ThreeDigits(value);
  // "16.0" reads better as "16".
  if (absl::StrContains(number, '.')) {
    number = std::string(absl::StripSuffix(
        absl::StripSuffix(absl::StripSuffix(number, "0"), "0"), "."));
  }
  return absl::StrCat(number, " ", units[unit]);
}

std::string FormatLatency(int64_t nanos) {
  if (nanos == 0) return "0";
  double value = static_cast<double>(nanos);
  if (value < 1e6) return absl::StrCat(ThreeDigits(value / 1e3), " µs");
  if (value < 1e9) return absl::StrCat(ThreeDigits(value / 1e6), " ms");
  return absl::StrCat(ThreeDigits(value / 1e9), " s");
}

std::string FormatTable(const std::vector<Row>& rows) {
  std::map<int, const LoadResult*> redis;
  for (const Row& row : rows) {
    if (row.baseline == Baseline::kIsRedis) redis[row.clients] = &row.result;
  }
  std::string out =
      "| workload | payload | clients | calls | calls/s | p50 | p99 "
      "| server p50 | p50 vs Redis | calls/s vs Redis |\n"
      "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n";
  std::vector<std::string> errors;
  for (const Row& row : rows) {
    const LoadResult& r = row.result;
    std::string p50_ratio = "", rate_ratio = "";
    auto base = redis.find(row.clients);
    if (row.baseline == Baseline::kIsRedis) {
      p50_ratio = rate_ratio = "1×";
    } else if (row.baseline == Baseline::kRedisGet && base != redis.end() &&
               base->second->latency.count() > 0 && r.latency.count() > 0) {
      p50_ratio =
          Ratio(static_cast<double>(r.latency.Percentile(50)) /
                static_cast<double>(base->second->latency.Percentile(50)));
      rate_ratio = Ratio(r.throughput() / base->second->throughput());
    }
    absl::StrAppend(
        &out, "| ", row.workload, " | ", row.payload, " | ", row.clients, " | ",
        r.latency.count(), " | ", FormatRate(r.throughput()), " | ",
        FormatLatency(r.latency.Percentile(50)), " | ",
        FormatLatency(r.latency.Percentile(99)), " | ",
        r.server_time.count() > 0 ? FormatLatency(r.server_time.Percentile(50))
                                  : "",
        " | ", p50_ratio, " | ", rate_ratio, " |\n");
    if (r.errors > 0) {
      errors.push_back(absl::StrCat(row.workload, " (", row.payload, ", ",
                                    row.clients, " clients): ", r.errors,
                                    " errors; the first: ", r.first_error));
    }
  }
  for (const std::string& line : errors) absl::StrAppend(&out, "\n", line);
  if (!errors.empty()) absl::StrAppend(&out, "\n");
  return out;
}

std::string FormatStageTable(const std::vector<Row>& rows) {
  std::vector<std::string> stages;
  for (const Row& row : rows) {
    for (const auto& [name, sample] : row.result.server_stages) {
      if (std::find(stages.begin(), stages.end(), name) == stages.end()) {
        stages.push_back(name);
      }
    }
  }
  if (stages.empty()) return "";
  std::string out =
      absl::StrCat("| workload | payload | clients | ",
                   absl::StrJoin(stages, " | "), " |\n|---|---|--:|");
  for (size_t i = 0; i < stages.size(); ++i) absl::StrAppend(&out, "--:|");
  absl::StrAppend(&out, "\n");
  for (const Row& row : rows) {
    if (row.result.server_stages.empty()) continue;
    absl::StrAppend(&out, "| ", row.workload, " | ", row.payload, " | ",
                    row.clients, " |");
    for (const std::string& stage : stages) {
      std::string cell;
      for (const auto& [name, sample] : row.result.server_stages) {
        if (name == stage) cell = FormatLatency(sample.Percentile(50));
      }
      absl::StrAppend(&out, " ", cell, " |");
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

}  // namespace kiln::bench
