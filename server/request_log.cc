#include "server/request_log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "server/logging.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace kiln::server {
namespace {

absl::Mutex logger_mu(absl::kConstInit);
// Null until SetupRequestLog; lines then go to the default logger as text.
spdlog::logger* request_logger ABSL_GUARDED_BY(logger_mu) = nullptr;
bool json_lines ABSL_GUARDED_BY(logger_mu) = false;

// {"ts":...,"level":...,"thread":...,<payload>}: the payload is the
// request's fields as JSON members, "msg":"request" first, so request lines
// have the keys every other JSON log line has.
class JsonRequestFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override {
    const std::string ts = JsonLogTimestamp(msg.time);
    auto level = spdlog::level::to_string_view(msg.level);
    std::string head =
        absl::StrCat("{\"ts\":\"", ts, "\",\"level\":\"",
                     absl::string_view(level.data(), level.size()),
                     "\",\"thread\":", msg.thread_id, ",");
    dest.append(std::string_view(head));
    dest.append(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(std::string_view("}\n"));
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonRequestFormatter>();
  }
};

double Millis(int64_t micros) { return static_cast<double>(micros) / 1000.0; }

// A text value, quoted (JSON style) when it would not read back as one
// token.
std::string TextValue(absl::string_view value) {
  bool plain = !value.empty();
  for (char c : value) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) {
      plain = false;
      break;
    }
  }
  if (plain) return std::string(value);
  return nlohmann::json(std::string(value))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string JsonPayload(const RequestRecord& r) {
  nlohmann::ordered_json j;
  j["msg"] = "request";
  j["method"] = r.method;
  j["code"] = r.code;
  if (r.duration.has_value()) {
    j["duration_ms"] = Millis(absl::ToInt64Microseconds(*r.duration));
  }
  if (!r.artifact_key.empty()) j["artifact_key"] = r.artifact_key;
  if (r.cache_hit.has_value()) j["cache_hit"] = *r.cache_hit;
  if (r.lookup_us.has_value()) j["lookup_ms"] = Millis(*r.lookup_us);
  if (r.queue_us.has_value()) j["queue_ms"] = Millis(*r.queue_us);
  if (r.compile_us.has_value()) j["compile_ms"] = Millis(*r.compile_us);
  if (r.guard_us.has_value()) j["guard_ms"] = Millis(*r.guard_us);
  if (r.run_us.has_value()) j["run_ms"] = Millis(*r.run_us);
  if (!r.client.empty()) j["client"] = r.client;
  if (!r.peer.empty()) j["peer"] = r.peer;
  if (!r.error.empty()) j["error"] = r.error;
  std::string text =
      j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // Without the braces: the formatter wraps it with ts, level and thread.
  return text.substr(1, text.size() - 2);
}

spdlog::level::level_enum LevelOf(const RequestRecord& r) {
  if (absl::StartsWith(r.method, "grpc.health.v1.")) {
    return spdlog::level::debug;
  }
  if (r.code == "INTERNAL" || r.code == "UNKNOWN" || r.code == "DATA_LOSS") {
    return spdlog::level::warn;
  }
  return spdlog::level::info;
}

}  // namespace

absl::Status SetupRequestLog(const std::string& format) {
  if (format != "text" && format != "json") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown log format '", format, "'"));
  }
  // A sink of its own (stderr sinks share one lock, so lines never
  // interleave) lets request lines carry their fields as JSON members.
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  if (format == "json") {
    sink->set_formatter(std::make_unique<JsonRequestFormatter>());
  } else {
    sink->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%fZ %^%-5l%$ %v", spdlog::pattern_time_type::utc));
  }
  auto* logger = new spdlog::logger("request", sink);
  logger->set_level(spdlog::default_logger()->level());
  logger->flush_on(spdlog::level::trace);
  absl::MutexLock lock(&logger_mu);
  // Loggers are never freed: gRPC threads may still log while main exits.
  request_logger = logger;
  json_lines = format == "json";
  return absl::OkStatus();
}

std::string FormatRequestText(const RequestRecord& r) {
  std::string line =
      absl::StrCat("request method=", TextValue(r.method), " code=", r.code);
  if (r.duration.has_value()) {
    absl::StrAppend(
        &line,
        absl::StrFormat(" ms=%.3f", absl::ToDoubleMilliseconds(*r.duration)));
  }
  if (!r.artifact_key.empty()) {
    absl::StrAppend(&line, " key=", TextValue(r.artifact_key));
  }
  if (r.cache_hit.has_value()) {
    absl::StrAppend(&line, " hit=", *r.cache_hit ? "true" : "false");
  }
  auto add_ms = [&](const char* name, const std::optional<int64_t>& us) {
    if (us.has_value()) {
      absl::StrAppend(&line, absl::StrFormat(" %s=%.3f", name, Millis(*us)));
    }
  };
  add_ms("lookup_ms", r.lookup_us);
  add_ms("queue_ms", r.queue_us);
  add_ms("compile_ms", r.compile_us);
  add_ms("guard_ms", r.guard_us);
  add_ms("run_ms", r.run_us);
  if (!r.client.empty())
    absl::StrAppend(&line, " client=", TextValue(r.client));
  if (!r.peer.empty()) absl::StrAppend(&line, " peer=", TextValue(r.peer));
  if (!r.error.empty()) absl::StrAppend(&line, " error=", TextValue(r.error));
  return line;
}

void LogRequest(const RequestRecord& record) {
  spdlog::level::level_enum level = LevelOf(record);
  spdlog::logger* logger;
  bool json;
  {
    absl::MutexLock lock(&logger_mu);
    logger = request_logger;
    json = json_lines;
  }
  if (logger == nullptr) {
    spdlog::log(level, "{}", FormatRequestText(record));
    return;
  }
  if (!logger->should_log(level)) return;
  logger->log(level, "{}",
              json ? JsonPayload(record) : FormatRequestText(record));
}

}  // namespace kiln::server
