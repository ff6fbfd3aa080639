// A shared object loaded from bytes: written to a private temporary file
// (mode 0600, $TMPDIR or /tmp), dlopen-ed with RTLD_NOW | RTLD_LOCAL, and
// the file removed at once, so nothing is left on disk and two loads of
// the same bytes are independent. Unloaded (dlclose) on destruction.
//
// Thread-safe: Symbol may be called concurrently.
#ifndef KILN_COMPILER_BACKENDS_CPU_SHARED_OBJECT_H_
#define KILN_COMPILER_BACKENDS_CPU_SHARED_OBJECT_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kiln::cpu {

class SharedObject {
 public:
  // INTERNAL with dlerror()'s message when the bytes do not load.
  static absl::StatusOr<std::unique_ptr<SharedObject>> Load(
      std::string_view bytes);
  ~SharedObject();
  SharedObject(const SharedObject&) = delete;
  SharedObject& operator=(const SharedObject&) = delete;

  // NOT_FOUND when the object does not define `name`.
  absl::StatusOr<void*> Symbol(const std::string& name) const;

 private:
  explicit SharedObject(void* handle) : handle_(handle) {}
  void* handle_;
};

// Lowercase hex SHA-256 of `bytes`.
std::string Sha256Hex(std::string_view bytes);

}  // namespace kiln::cpu

#endif  // KILN_COMPILER_BACKENDS_CPU_SHARED_OBJECT_H_
