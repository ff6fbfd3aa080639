#include "compiler/backends/backend.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kiln::backends {

BackendRegistry& BackendRegistry::Global() {
  static auto* registry = new BackendRegistry();
  return *registry;
}

void BackendRegistry::Register(std::string name, BackendFactory factory) {
  for (const auto& [n, f] : factories_) {
    if (n == name) {
      std::cerr << "kiln: backend " << name << " registered twice\n";
      std::abort();
    }
  }
  factories_.emplace_back(std::move(name), std::move(factory));
}

absl::StatusOr<std::unique_ptr<Backend>> BackendRegistry::Create(
    std::string_view name) const {
  for (const auto& [n, f] : factories_) {
    if (n == name) return f();
  }
  return absl::NotFoundError(
      absl::StrCat("unknown backend '", std::string(name),
                   "' (available: ", absl::StrJoin(Names(), ", "), ")"));
}

std::vector<std::string> BackendRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& [n, f] : factories_) names.push_back(n);
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(std::string_view name) {
  return BackendRegistry::Global().Create(name);
}

BackendRegistrar::BackendRegistrar(std::string name, BackendFactory factory) {
  BackendRegistry::Global().Register(std::move(name), std::move(factory));
}

}  // namespace kiln::backends
