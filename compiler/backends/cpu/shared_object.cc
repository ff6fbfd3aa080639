#include "compiler/backends/cpu/shared_object.h"

#include <dlfcn.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kiln::cpu {
namespace {

std::string TempRoot() {
  const char* t = std::getenv("TMPDIR");
  return (t != nullptr && *t != '\0') ? t : "/tmp";
}

// dlerror() is global state: serialize dlopen/dlsym + dlerror pairs.
std::mutex& DlMutex() {
  static auto* mu = new std::mutex();
  return *mu;
}

// Generated kernels use OpenMP, whose worker threads outlive any one
// shared object: libgomp must stay mapped after the last object using it is
// unloaded, or its idle workers would run unmapped code.
void PinOpenMpRuntime() {
  static const bool pinned = [] {
    return dlopen("libgomp.so.1", RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE) !=
           nullptr;
  }();
  (void)pinned;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SharedObject>> SharedObject::Load(
    std::string_view bytes) {
  PinOpenMpRuntime();
  std::string tmpl = TempRoot() + "/kiln-so-XXXXXX.so";
  std::vector<char> path(tmpl.begin(), tmpl.end());
  path.push_back('\0');
  int fd = mkstemps(path.data(), 3);  // mode 0600
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("mkstemps in ", TempRoot(), ": ", std::strerror(errno)));
  }
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      close(fd);
      unlink(path.data());
      return absl::InternalError(
          absl::StrCat("writing ", path.data(), ": ", std::strerror(e)));
    }
    done += static_cast<size_t>(n);
  }
  close(fd);
  void* handle;
  std::string error;
  {
    std::lock_guard<std::mutex> lock(DlMutex());
    dlerror();
    handle = dlopen(path.data(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* e = dlerror();
      error = e ? e : "unknown error";
    }
  }
  unlink(path.data());
  if (handle == nullptr) {
    return absl::InternalError(
        absl::StrCat("cannot load the kernels' shared object: ", error));
  }
  return std::unique_ptr<SharedObject>(new SharedObject(handle));
}

SharedObject::~SharedObject() {
  if (handle_ != nullptr) dlclose(handle_);
}

absl::StatusOr<void*> SharedObject::Symbol(const std::string& name) const {
  std::lock_guard<std::mutex> lock(DlMutex());
  dlerror();
  void* p = dlsym(handle_, name.c_str());
  if (p == nullptr) {
    const char* e = dlerror();
    return absl::NotFoundError(absl::StrCat(
        "the shared object does not define ", name, e ? ": " : "", e ? e : ""));
  }
  return p;
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

}  // namespace kiln::cpu
