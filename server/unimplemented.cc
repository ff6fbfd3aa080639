#include "server/unimplemented.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace kiln::server {

absl::Status NotYet(std::string_view method, Feature feature) {
  const char* what = "";
  switch (feature) {
    case Feature::kCompile:
      what =
          "graph compilation arrives with the compiler core and CPU backend "
          "(issue #3) and is served end to end by the services (issue #5)";
      break;
    case Feature::kGuardCache:
      what =
          "guard evaluation and the artifact cache arrive with the guards and "
          "cache feature (issue #4) and are served by the services (issue #5)";
      break;
    case Feature::kExecute:
      what =
          "execution and tensor transport arrive with the services feature "
          "(issue #5)";
      break;
    case Feature::kCacheAdmin:
      what =
          "cache administration arrives with the guards and cache feature "
          "(issue #4) and the services feature (issue #5)";
      break;
  }
  return absl::UnimplementedError(
      absl::StrCat("kiln.v1 ", std::string(method),
                   " is not implemented by this server yet: ", what));
}

}  // namespace kiln::server
