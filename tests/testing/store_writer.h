// Stores made before a server opens them: runs //tests:admin_store_writer
// (real artifacts through cache::ArtifactCache) and reads what it wrote.
#ifndef KILN_TESTS_TESTING_STORE_WRITER_H_
#define KILN_TESTS_TESTING_STORE_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::testing {

// One entry admin_store_writer reported (`ENTRY key graph target bytes`).
struct WrittenEntry {
  std::string key, graph, target;
  int64_t size = 0;
};

// Runs `writer_bin --data-dir=dir specs...`. Fails with the writer's stderr
// when it exits non-zero or reports a different number of entries than
// specs.
absl::StatusOr<std::vector<WrittenEntry>> WriteEntries(
    const std::string& writer_bin, const std::string& dir,
    const std::vector<std::string>& specs);

}  // namespace kiln::testing

#endif  // KILN_TESTS_TESTING_STORE_WRITER_H_
