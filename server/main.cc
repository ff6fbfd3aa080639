// kiln-server: the Kiln compilation service. See README.md.
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <thread>
#include <variant>

#include "absl/time/time.h"
#include "server/auth.h"
#include "server/config.h"
#include "server/logging.h"
#include "server/request_log.h"
#include "server/server.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  kiln::server::ParseResult parsed = kiln::server::ParseServerFlags(argc, argv);
  if (const auto* exit_now = std::get_if<kiln::server::ExitNow>(&parsed)) {
    return exit_now->code;
  }
  const kiln::server::ServerConfig& config =
      std::get<kiln::server::ServerConfig>(parsed);
  if (absl::Status s =
          kiln::server::SetupLogging(config.log_format, config.log_level);
      !s.ok()) {
    std::cerr << "kiln-server: error: " << s.message() << "\n";
    return 2;
  }
  if (absl::Status s = kiln::server::SetupRequestLog(config.log_format);
      !s.ok()) {
    std::cerr << "kiln-server: error: " << s.message() << "\n";
    return 2;
  }
  if (absl::Status s = kiln::server::ValidateSecurityConfig(config); !s.ok()) {
    std::cerr << "kiln-server: error: " << s.message() << "\n";
    return 2;
  }

  // Signals are handled synchronously by this thread (sigtimedwait below);
  // block them before any other thread exists so every thread inherits the
  // mask and none is interrupted.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = kiln::server::KilnServer::Create(config);
  if (!server.ok()) {
    spdlog::critical("cannot start: {}",
                     std::string(server.status().message()));
    return 1;
  }

  // Wait for SIGTERM/SIGINT; the first drains, a second one during the drain
  // exits at once. SIGHUP re-reads the token file.
  std::atomic<bool> drained{false};
  std::thread drainer;
  absl::Status close_status;
  while (!drained.load()) {
    timespec tick{0, 100 * 1000 * 1000};
    int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig < 0) continue;
    if (sig == SIGHUP) {
      (*server)->Reload();
      continue;
    }
    if (drainer.joinable()) {
      spdlog::warn("received {} again during drain; exiting now",
                   strsignal(sig));
      std::_Exit(1);
    }
    spdlog::info("received {}; draining (up to {}s for in-flight calls)",
                 strsignal(sig), config.shutdown_timeout_s);
    drainer = std::thread([&] {
      close_status =
          (*server)->Shutdown(absl::Seconds(config.shutdown_timeout_s));
      drained = true;
    });
  }
  drainer.join();
  server->reset();
  if (!close_status.ok()) {
    spdlog::error("store did not close cleanly: {}", close_status.ToString());
    return 1;
  }
  spdlog::info("stopped cleanly");
  return 0;
}
