#include "server/config.h"

#include <iostream>

#include "CLI/CLI.hpp"
#include "kiln/version.h"

namespace kiln::server {
namespace {

// "host:port", "[v6]:port" or "unix:/path"; the port must be a number.
std::string ValidateListen(const std::string& value) {
  if (value.rfind("unix:", 0) == 0) {
    return value.size() > 5 ? "" : "unix socket path is empty";
  }
  size_t colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return "expected HOST:PORT, e.g. 127.0.0.1:50051";
  }
  std::string port = value.substr(colon + 1);
  if (port.empty() ||
      port.find_first_not_of("0123456789") != std::string::npos ||
      port.size() > 5 || std::stoi(port) > 65535) {
    return "port must be a number from 0 to 65535";
  }
  return "";
}

}  // namespace

ParseResult ParseServerFlags(int argc, char** argv) {
  ServerConfig config;
  CLI::App app{
      "kiln-server: compiles PyTorch graphs into fused kernels, caches the "
      "artifacts in RocksDB and runs them.",
      "kiln-server"};
  // A flag given twice takes its last value, as in most Unix tools.
  app.option_defaults()->always_capture_default()->multi_option_policy(
      CLI::MultiOptionPolicy::TakeLast);
  app.set_version_flag("--version", std::string(kServerVersion));
  app.add_option("--listen", config.listen,
                 "Address to serve gRPC on (HOST:PORT; port 0 picks a free "
                 "port, which is logged)")
      ->envname("KILN_LISTEN")
      ->check(CLI::Validator(ValidateListen, "HOST:PORT"));
  app.add_option("--data-dir", config.data_dir,
                 "Directory of the cache store (RocksDB); created if missing")
      ->envname("KILN_DATA_DIR")
      ->check([](const std::string& v) {
        return v.empty() ? std::string("must not be empty") : std::string();
      });
  app.add_option("--log-format", config.log_format, "Log line format")
      ->envname("KILN_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--log-level", config.log_level, "Lowest level logged")
      ->envname("KILN_LOG_LEVEL")
      ->check(CLI::IsMember(
          {"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_option("--max-message-bytes", config.max_message_bytes,
                 "Largest gRPC message received or sent, in bytes")
      ->envname("KILN_MAX_MESSAGE_BYTES")
      ->check(CLI::Range(int64_t{4096}, int64_t{2147483647}));
  app.add_option("--shutdown-timeout", config.shutdown_timeout_s,
                 "Seconds in-flight calls may take to finish after SIGTERM")
      ->envname("KILN_SHUTDOWN_TIMEOUT")
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--sync-writes", config.sync_writes,
                 "fsync the write-ahead log before acknowledging a write")
      ->envname("KILN_SYNC_WRITES");

  app.add_option("--cache-max-bytes", config.cache_max_bytes,
                 "Size budget of stored artifacts in bytes; least recently "
                 "used ones are evicted beyond it (0 = unlimited)")
      ->envname("KILN_CACHE_MAX_BYTES")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--compile-workers", config.compile_workers,
                 "Threads that compile graphs (0 = one per CPU)")
      ->envname("KILN_COMPILE_WORKERS")
      ->check(CLI::Range(0, 1024));
  app.add_option("--max-compile-queue", config.limits.max_compile_queue,
                 "Most compiles queued or running at once; more get "
                 "RESOURCE_EXHAUSTED with a retry hint")
      ->envname("KILN_MAX_COMPILE_QUEUE")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}));
  app.add_option("--recompile-limit", config.limits.recompile_limit,
                 "Most guard sets (entries) per graph and target; beyond it "
                 "Compile answers RESOURCE_EXHAUSTED and clients run eagerly")
      ->envname("KILN_RECOMPILE_LIMIT")
      ->check(CLI::Range(int64_t{1}, int64_t{1024}));

  app.add_option("--allow-client-shm", config.allow_client_shm,
                 "Let same-host clients pass tensors through registered "
                 "shared memory")
      ->envname("KILN_ALLOW_CLIENT_SHM");
  app.add_option("--tls-cert", config.tls_cert,
                 "TLS certificate chain (PEM); with --tls-key the server "
                 "speaks TLS only")
      ->envname("KILN_TLS_CERT");
  app.add_option("--tls-key", config.tls_key, "TLS private key (PEM)")
      ->envname("KILN_TLS_KEY");
  app.add_option("--tls-client-ca", config.tls_client_ca,
                 "CA (PEM) that client certificates must be signed by "
                 "(mutual TLS)")
      ->envname("KILN_TLS_CLIENT_CA");
  app.add_option("--token-file", config.token_file,
                 "Bearer tokens and their roles (client or admin); calls "
                 "without a valid token get UNAUTHENTICATED")
      ->envname("KILN_TOKEN_FILE");
  app.add_option("--metrics-listen", config.metrics_listen,
                 "Serve Prometheus metrics over HTTP on HOST:PORT at /metrics "
                 "(off when empty)")
      ->envname("KILN_METRICS_LISTEN")
      ->check(CLI::Validator(
          [](const std::string& v) {
            if (v.empty()) return std::string();
            if (v.rfind("unix:", 0) == 0) {
              return std::string("expected HOST:PORT, e.g. 127.0.0.1:9464");
            }
            return ValidateListen(v);
          },
          "HOST:PORT"));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::cout << app.help();
    return ExitNow{0};
  } catch (const CLI::CallForVersion& e) {
    std::cout << "kiln-server " << e.what() << "\n";
    return ExitNow{0};
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    std::cerr << "kiln-server: error: " << what
              << " (see kiln-server --help)\n";
    return ExitNow{2};
  }
  return config;
}

}  // namespace kiln::server
