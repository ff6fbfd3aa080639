#ifndef KILN_SERVER_REQUEST_LOG_H_
#define KILN_SERVER_REQUEST_LOG_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace kiln::server {

// One finished (or refused) gRPC call, as the request log writes it.
struct RequestRecord {
  std::string method;  // "kiln.v1.Compiler/Compile"
  std::string code;    // "OK", "NOT_FOUND", ...
  std::string error;   // the status message when not OK
  // From the start of the call to its status; unset for calls refused
  // before they started.
  std::optional<absl::Duration> duration;
  // The artifact the call was about, when it names or produces one.
  std::string artifact_key;
  // Compile and Lookup: whether the cache served it.
  std::optional<bool> cache_hit;
  // Compile: where the time went (microseconds), from its response.
  std::optional<int64_t> lookup_us, queue_us, compile_us;
  // Execute: guard evaluation and running the plan (microseconds).
  std::optional<int64_t> guard_us, run_us;
  // The caller: the token's name, else the client certificate's common
  // name; empty when neither is known.
  std::string client;
  // The caller's address ("ipv4:127.0.0.1:41236"); empty when unknown.
  std::string peer;
};

// Sets the format of request lines: "text" (key=value pairs after the
// usual timestamp and level) or "json" (one object per line, with the same
// ts/level/thread/msg keys as the other log lines plus one key per field).
// Lines go to stderr at the level of the process logger; call once, from
// main, after SetupLogging. Until then request lines go through the default
// logger as text.
absl::Status SetupRequestLog(const std::string& format);

// Writes one line for `record`: at info level; debug for health checks;
// warn for INTERNAL, UNKNOWN and DATA_LOSS. Thread-safe.
void LogRequest(const RequestRecord& record);

// The text form of `record` ("request method=... code=... ms=...").
std::string FormatRequestText(const RequestRecord& record);

}  // namespace kiln::server

#endif  // KILN_SERVER_REQUEST_LOG_H_
