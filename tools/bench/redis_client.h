// A blocking connection to a Redis server (hiredis), with the three
// commands the benchmark needs.
#ifndef KILN_TOOLS_BENCH_REDIS_CLIENT_H_
#define KILN_TOOLS_BENCH_REDIS_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct redisContext;

namespace kiln::bench {

// One TCP connection. Not thread-safe: one per client thread.
class RedisClient {
 public:
  // Connects to HOST:PORT. UNAVAILABLE naming the address when it cannot.
  static absl::StatusOr<std::unique_ptr<RedisClient>> Connect(
      const std::string& address);
  ~RedisClient();

  absl::Status Set(const std::string& key, const std::string& value);
  // The value, or NOT_FOUND for a missing key.
  absl::StatusOr<std::string> Get(const std::string& key);
  // The `redis_version` field of INFO server.
  absl::StatusOr<std::string> Version();

 private:
  explicit RedisClient(redisContext* context) : context_(context) {}
  redisContext* context_;
};

}  // namespace kiln::bench

#endif  // KILN_TOOLS_BENCH_REDIS_CLIENT_H_
