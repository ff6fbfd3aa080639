#include "server/shared_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "spdlog/spdlog.h"

namespace kiln::server {
namespace internal {

// One mmap of a client's object; unmapped when the last user lets go.
struct Mapping {
  std::string name;
  std::string key;
  void* base = nullptr;
  size_t length = 0;
  uint8_t* data = nullptr;  // the region's first byte, inside base
  uint64_t size = 0;
  bool writable = false;

  ~Mapping() {
    if (base != nullptr) munmap(base, length);
  }
};

}  // namespace internal

namespace {

std::string ErrnoText(int err) { return std::strerror(err); }

}  // namespace

SharedMemoryRegistry::SharedMemoryRegistry(bool enabled, int max_regions)
    : enabled_(enabled), max_regions_(max_regions) {}

SharedMemoryRegistry::~SharedMemoryRegistry() = default;

absl::Status SharedMemoryRegistry::Disabled() const {
  return absl::PermissionDeniedError(
      "client shared memory is disabled on this server (start kiln-server "
      "with --allow-client-shm=true to allow it)");
}

absl::Status SharedMemoryRegistry::Register(const std::string& name,
                                            const std::string& key,
                                            uint64_t offset,
                                            uint64_t byte_size) {
  if (!enabled_) return Disabled();
  if (name.empty()) return absl::InvalidArgumentError("name: required");
  if (key.empty()) {
    return absl::InvalidArgumentError(
        "key: required (a POSIX shared-memory object name such as "
        "\"/kiln_job1234_0\")");
  }
  if (byte_size == 0) {
    return absl::InvalidArgumentError("byte_size: must be > 0");
  }
  {
    absl::MutexLock lock(&mu_);
    if (regions_.contains(name)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "name: a shared-memory region named '", name, "' is registered"));
    }
    if (static_cast<int>(regions_.size()) >= max_regions_) {
      return absl::ResourceExhaustedError(
          absl::StrCat("too many shared-memory regions (limit ", max_regions_,
                       "); unregister some first"));
    }
  }
  bool writable = true;
  int fd = shm_open(key.c_str(), O_RDWR, 0);
  if (fd < 0 && errno == EACCES) {
    writable = false;
    fd = shm_open(key.c_str(), O_RDONLY, 0);
  }
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrCat("key: no shared-memory object '",
                                              key, "' on the server's host"));
    }
    if (err == EACCES) {
      return absl::PermissionDeniedError(absl::StrCat(
          "key: the server may not open shared-memory object '", key, "'"));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "key: cannot open shared-memory object '", key, "': ", ErrnoText(err)));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return absl::InternalError(absl::StrCat(
        "cannot stat shared-memory object '", key, "': ", ErrnoText(err)));
  }
  uint64_t object_size = static_cast<uint64_t>(st.st_size);
  if (offset > object_size || byte_size > object_size - offset) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrFormat(
        "byte_size: [%d, %d) is past the end of shared-memory object '%s' "
        "(%d bytes)",
        offset, offset + byte_size, key, object_size));
  }
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t map_offset = offset - offset % page;
  const size_t length = static_cast<size_t>(offset - map_offset + byte_size);
  void* base =
      mmap(nullptr, length, writable ? PROT_READ | PROT_WRITE : PROT_READ,
           MAP_SHARED, fd, static_cast<off_t>(map_offset));
  int map_errno = errno;
  close(fd);
  if (base == MAP_FAILED) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "cannot map shared-memory object '", key, "': ", ErrnoText(map_errno)));
  }
  auto mapping = std::make_shared<internal::Mapping>();
  mapping->name = name;
  mapping->key = key;
  mapping->base = base;
  mapping->length = length;
  mapping->data = static_cast<uint8_t*>(base) + (offset - map_offset);
  mapping->size = byte_size;
  mapping->writable = writable;
  absl::MutexLock lock(&mu_);
  if (!regions_.emplace(name, std::move(mapping)).second) {
    return absl::AlreadyExistsError(absl::StrCat(
        "name: a shared-memory region named '", name, "' is registered"));
  }
  spdlog::info("shared memory: registered '{}' ({} bytes of {}{})", name,
               byte_size, key, writable ? "" : ", read-only");
  return absl::OkStatus();
}

absl::Status SharedMemoryRegistry::Unregister(const std::string& name) {
  if (!enabled_) return Disabled();
  absl::MutexLock lock(&mu_);
  if (regions_.erase(name) == 0) {
    return absl::NotFoundError(
        absl::StrCat("name: no shared-memory region named '", name, "'"));
  }
  spdlog::info("shared memory: unregistered '{}'", name);
  return absl::OkStatus();
}

absl::StatusOr<SharedMemorySpan> SharedMemoryRegistry::Resolve(
    const v1::SharedMemoryRef& ref, int64_t expected_bytes,
    std::string_view path_view, bool for_write) const {
  const std::string path(path_view);
  if (!enabled_) return Disabled();
  std::shared_ptr<const internal::Mapping> mapping;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = regions_.find(ref.region());
    if (it != regions_.end()) mapping = it->second;
  }
  if (mapping == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        path, ".region: no shared-memory region named '", ref.region(), "'"));
  }
  if (ref.byte_size() != static_cast<uint64_t>(expected_bytes)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s.byte_size: %d bytes, but the tensor's data is %d",
                        path, ref.byte_size(), expected_bytes));
  }
  if (ref.offset() > mapping->size ||
      ref.byte_size() > mapping->size - ref.offset()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: [%d, %d) is outside region '%s' (%d bytes)", path, ref.offset(),
        ref.offset() + ref.byte_size(), ref.region(), mapping->size));
  }
  if (for_write && !mapping->writable) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": region '", ref.region(),
                     "' is mapped read-only (the server may not write the "
                     "client's object)"));
  }
  SharedMemorySpan span;
  span.data = mapping->data + ref.offset();
  span.size = ref.byte_size();
  span.writable = mapping->writable;
  span.mapping = std::move(mapping);
  return span;
}

int SharedMemoryRegistry::region_count() const {
  absl::ReaderMutexLock lock(&mu_);
  return static_cast<int>(regions_.size());
}

}  // namespace kiln::server
