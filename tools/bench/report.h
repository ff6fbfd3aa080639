// The benchmark's report: the machine it ran on and one markdown table of
// latencies and throughputs, with ratios against the Redis baseline
// measured in the same run.
#ifndef KILN_TOOLS_BENCH_REPORT_H_
#define KILN_TOOLS_BENCH_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "tools/bench/closed_loop.h"

namespace kiln::bench {

// What a row is compared with.
enum class Baseline {
  kNone,      // no ratio
  kRedisGet,  // ratios against the Redis GET row of the same client count
  kIsRedis,   // the Redis GET row itself
};

struct Row {
  std::string workload;
  std::string payload;
  int clients = 1;
  Baseline baseline = Baseline::kNone;
  LoadResult result;
};

// "AMD EPYC 7B13 (2 cores)", "Linux 6.1.0 x86_64", "g++ 12.2.0": the CPU
// model from /proc/cpuinfo, uname, and the compiler that built this binary.
std::string CpuDescription();
std::string KernelDescription();
std::string CompilerDescription();
// "2.31 1.90 1.75": the 1, 5 and 15 minute load averages (/proc/loadavg).
std::string LoadAverage();

// 1536 → "1.5 KiB"; 1024 → "1 KiB".
std::string FormatBytes(int64_t bytes);
// Nanoseconds as "87 µs", "1.25 ms", "1.02 s" (three significant digits).
std::string FormatLatency(int64_t nanos);

// The markdown table, rows in the order given, then one line per row that
// had errors.
std::string FormatTable(const std::vector<Row>& rows);

// A markdown table of the median of each server-reported stage, for the
// rows that have stages (Execute's queue, guards, copies, run); empty when
// none has.
std::string FormatStageTable(const std::vector<Row>& rows);

}  // namespace kiln::bench

#endif  // KILN_TOOLS_BENCH_REPORT_H_
