#ifndef KILN_SERVER_LOGGING_H_
#define KILN_SERVER_LOGGING_H_

#include <string>

#include "absl/status/status.h"

namespace kiln::server {

// Installs the process-wide spdlog logger writing to stderr, as plain text
// lines or as one JSON object per line (`{"ts":..,"level":..,"msg":..}`).
// Call once from main before any other thread logs.
absl::Status SetupLogging(const std::string& format, const std::string& level);

}  // namespace kiln::server

#endif  // KILN_SERVER_LOGGING_H_
