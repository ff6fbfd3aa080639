// Client shared-memory regions (Compiler.RegisterSharedMemory): POSIX
// shared-memory objects of same-host clients, mapped into the server so
// tensors can be passed by (region, offset) instead of inside messages, as
// Triton Inference Server's system shared memory does.
//
// Trust: a region is only as safe as its client. The server maps the object
// read-write (outputs may be written into it); a client that shrinks the
// object after registering it can make the server fault, which is why the
// feature is off unless kiln-server runs with --allow-client-shm.
//
// Thread safety: every method may be called concurrently. A span returned
// by Resolve keeps its mapping alive, so unregistering a region while an
// Execute still reads it is safe.
#ifndef KILN_SERVER_SHARED_MEMORY_H_
#define KILN_SERVER_SHARED_MEMORY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kiln/v1/tensor.pb.h"

namespace kiln::server {

namespace internal {
struct Mapping;
}  // namespace internal

// Bytes of a registered region, with the mapping they live in.
struct SharedMemorySpan {
  std::shared_ptr<const internal::Mapping> mapping;
  uint8_t* data = nullptr;
  uint64_t size = 0;
  bool writable = false;

  std::string_view view() const {
    return std::string_view(reinterpret_cast<const char*>(data), size);
  }
};

class SharedMemoryRegistry {
 public:
  // `enabled` is --allow-client-shm; `max_regions` bounds the mappings.
  SharedMemoryRegistry(bool enabled, int max_regions);
  ~SharedMemoryRegistry();
  SharedMemoryRegistry(const SharedMemoryRegistry&) = delete;
  SharedMemoryRegistry& operator=(const SharedMemoryRegistry&) = delete;

  bool enabled() const { return enabled_; }

  // Maps [offset, offset + byte_size) of the POSIX shared-memory object
  // `key` under `name`. PERMISSION_DENIED when disabled (naming the flag);
  // INVALID_ARGUMENT for an empty name or key, a zero size or a range past
  // the object's end; ALREADY_EXISTS for a name in use; NOT_FOUND when the
  // object cannot be opened; RESOURCE_EXHAUSTED past max_regions.
  absl::Status Register(const std::string& name, const std::string& key,
                        uint64_t offset, uint64_t byte_size);

  // NOT_FOUND for an unknown name; PERMISSION_DENIED when disabled.
  absl::Status Unregister(const std::string& name);

  // The bytes `ref` names. PERMISSION_DENIED when disabled, or when
  // `for_write` and the client's object could only be mapped read-only;
  // NOT_FOUND for an unknown region; INVALID_ARGUMENT (naming `path`) for a
  // range outside the region or a byte_size other than `expected_bytes`.
  absl::StatusOr<SharedMemorySpan> Resolve(const v1::SharedMemoryRef& ref,
                                           int64_t expected_bytes,
                                           std::string_view path,
                                           bool for_write = false) const;

  int region_count() const;

 private:
  absl::Status Disabled() const;

  const bool enabled_;
  const int max_regions_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const internal::Mapping>>
      regions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kiln::server

#endif  // KILN_SERVER_SHARED_MEMORY_H_
