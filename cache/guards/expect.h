// gtest helpers for guard tests: a hit is Check() true and Explain() empty;
// a miss is Check() false and Explain() naming the expected guard.
#ifndef KILN_CACHE_GUARDS_EXPECT_H_
#define KILN_CACHE_GUARDS_EXPECT_H_

#include <string>

#include "cache/guards/guard_set.h"
#include "gtest/gtest.h"

namespace kiln::cache::testing {

inline ::testing::AssertionResult Hits(const GuardSet& g,
                                       const v1::CallSignature& call,
                                       const EvalOptions& options = {}) {
  if (absl::Status s = ValidateSignature(call); !s.ok()) {
    return ::testing::AssertionFailure() << "invalid signature: " << s;
  }
  auto failure = g.Explain(call, options);
  const bool check = g.Check(call, options);
  if (check != !failure.has_value()) {
    return ::testing::AssertionFailure()
           << "Check() and Explain() disagree: Check " << check;
  }
  if (failure) {
    return ::testing::AssertionFailure() << "miss: " << failure->message();
  }
  return ::testing::AssertionSuccess();
}

// A miss whose first failing guard has `kind` and `path`.
inline ::testing::AssertionResult Misses(const GuardSet& g,
                                         const v1::CallSignature& call,
                                         v1::GuardFailure::Kind kind,
                                         const std::string& path,
                                         const EvalOptions& options = {}) {
  if (absl::Status s = ValidateSignature(call); !s.ok()) {
    return ::testing::AssertionFailure() << "invalid signature: " << s;
  }
  auto failure = g.Explain(call, options);
  const bool check = g.Check(call, options);
  if (check != !failure.has_value()) {
    return ::testing::AssertionFailure()
           << "Check() and Explain() disagree: Check " << check;
  }
  if (!failure) return ::testing::AssertionFailure() << "hit, expected a miss";
  if (failure->kind() != kind || failure->path() != path) {
    return ::testing::AssertionFailure()
           << "missed on " << v1::GuardFailure::Kind_Name(failure->kind())
           << " at " << failure->path() << " (" << failure->message()
           << "), expected " << v1::GuardFailure::Kind_Name(kind) << " at "
           << path;
  }
  return ::testing::AssertionSuccess();
}

// The sentence of the first failing guard ("" on a hit).
inline std::string Why(const GuardSet& g, const v1::CallSignature& call,
                       const EvalOptions& options = {}) {
  auto failure = g.Explain(call, options);
  return failure ? failure->message() : "";
}

}  // namespace kiln::cache::testing

#endif  // KILN_CACHE_GUARDS_EXPECT_H_
