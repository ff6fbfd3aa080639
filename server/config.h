#ifndef KILN_SERVER_CONFIG_H_
#define KILN_SERVER_CONFIG_H_

#include <cstdint>
#include <string>
#include <variant>

namespace kiln::server {

// Resource limits advertised by Capabilities and enforced by the request
// validators.
struct ServerLimits {
  int64_t max_tensor_bytes = int64_t{16} << 30;
  int64_t max_graph_nodes = 100000;
  int64_t max_inputs = 10000;
  int64_t stream_chunk_bytes = int64_t{4} << 20;
  int64_t recompile_limit = 8;
  int64_t max_compile_queue = 256;
  int64_t max_sym_expr_depth = 64;
};

// Everything kiln-server is told at start. Each field has a flag and a KILN_*
// environment variable; a flag given on the command line wins over the
// variable, which wins over the default.
struct ServerConfig {
  std::string listen = "127.0.0.1:50051";  // --listen / KILN_LISTEN
  std::string data_dir = ".kiln";          // --data-dir / KILN_DATA_DIR
  std::string log_format = "text";         // --log-format / KILN_LOG_FORMAT
  std::string log_level = "info";          // --log-level / KILN_LOG_LEVEL
  // Largest gRPC message accepted or sent (--max-message-bytes /
  // KILN_MAX_MESSAGE_BYTES).
  int64_t max_message_bytes = int64_t{64} << 20;
  // How long in-flight calls may run after SIGTERM before they are cancelled
  // (--shutdown-timeout / KILN_SHUTDOWN_TIMEOUT, seconds).
  double shutdown_timeout_s = 30;
  // fsync each acknowledged write (--sync-writes / KILN_SYNC_WRITES).
  bool sync_writes = true;
  // Size budget of the stored artifacts in bytes; least recently used ones
  // are evicted beyond it, 0 = unlimited (--cache-max-bytes /
  // KILN_CACHE_MAX_BYTES).
  int64_t cache_max_bytes = 0;
  // Threads that compile graphs (--compile-workers / KILN_COMPILE_WORKERS);
  // 0 = the hardware's concurrency.
  int compile_workers = 0;
  // Let same-host clients register shared-memory regions and pass tensors
  // by offset (--allow-client-shm / KILN_ALLOW_CLIENT_SHM). Off by default.
  bool allow_client_shm = false;
  // TLS: the server's certificate chain and private key (PEM files); both
  // or neither (--tls-cert, --tls-key / KILN_TLS_CERT, KILN_TLS_KEY).
  std::string tls_cert;
  std::string tls_key;
  // Mutual TLS: clients must present a certificate signed by this CA (PEM)
  // (--tls-client-ca / KILN_TLS_CLIENT_CA). Needs --tls-cert.
  std::string tls_client_ca;
  // Bearer tokens with their roles (--token-file / KILN_TOKEN_FILE): empty
  // = no authentication.
  std::string token_file;
  // Prometheus metrics over HTTP on this address (--metrics-listen /
  // KILN_METRICS_LISTEN, e.g. 127.0.0.1:9464); empty = off.
  std::string metrics_listen;
  ServerLimits limits;
};

// The outcome of parsing the command line: a config to run with, or an exit
// code after printing help, the version or a one-line error.
struct ExitNow {
  int code = 0;
};
using ParseResult = std::variant<ServerConfig, ExitNow>;

// Parses argv and the KILN_* environment. Prints --help / --version text to
// stdout and errors (one line naming the flag) to stderr.
ParseResult ParseServerFlags(int argc, char** argv);

}  // namespace kiln::server

#endif  // KILN_SERVER_CONFIG_H_
