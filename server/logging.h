#ifndef KILN_SERVER_LOGGING_H_
#define KILN_SERVER_LOGGING_H_

#include <chrono>
#include <string>

#include "absl/status/status.h"

namespace kiln::server {

// Installs the process-wide spdlog logger writing to stderr, as plain text
// lines or as one JSON object per line (`{"ts":..,"level":..,"msg":..}`).
// Call once from main before any other thread logs.
absl::Status SetupLogging(const std::string& format, const std::string& level);

// "2026-11-27T21:58:08.005922Z": the UTC timestamp of JSON log lines.
std::string JsonLogTimestamp(std::chrono::system_clock::time_point time);

}  // namespace kiln::server

#endif  // KILN_SERVER_LOGGING_H_
