#ifndef KILN_SERVER_UNIMPLEMENTED_H_
#define KILN_SERVER_UNIMPLEMENTED_H_

#include <string_view>

#include "absl/status/status.h"

namespace kiln::server {

// Features of the roadmap that a method may still be waiting for.
enum class Feature {
  kCompile,     // the compiler core and CPU backend
  kGuardCache,  // guards and the artifact cache
  kExecute,     // execution and tensor transport in the services
  kCacheAdmin,  // cache administration in the services
};

// UNIMPLEMENTED for `method`, naming the feature that brings it, so a client
// never mistakes a missing feature for an answer.
absl::Status NotYet(std::string_view method, Feature feature);

}  // namespace kiln::server

#endif  // KILN_SERVER_UNIMPLEMENTED_H_
