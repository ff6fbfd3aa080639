// The pass interface and the pass registry.
//
// A pass rewrites an ir::Graph in place and says whether it changed it
// (XLA's HloPassInterface). Passes register a factory under their name
// (Glow's pass list), so pipelines are data: a list of names
// (pipeline.h). A pass keeps the graph valid (ir::VerifyGraph), which
// pipelines check after every pass in tests.
//
// Threading: a Pass object is used by one thread at a time; the registry is
// filled during static initialization and read-only afterwards.
#ifndef KILN_COMPILER_PASSES_PASS_H_
#define KILN_COMPILER_PASSES_PASS_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "compiler/ir/graph.h"

namespace kiln::passes {

class Pass {
 public:
  virtual ~Pass() = default;
  // The registry name, e.g. "dce".
  virtual std::string_view name() const = 0;
  // Rewrites `graph`; returns whether it changed. An error leaves the graph
  // valid but possibly partly rewritten.
  virtual absl::StatusOr<bool> Run(ir::Graph& graph) = 0;
};

using PassFactory = std::function<std::unique_ptr<Pass>()>;

// Pass factories by name.
class PassRegistry {
 public:
  static PassRegistry& Global();
  // Aborts on a duplicate name (a programming error).
  void Register(std::string name, PassFactory factory);
  // NOT_FOUND naming the pass and listing the registered ones.
  absl::StatusOr<std::unique_ptr<Pass>> Create(std::string_view name) const;
  // Registered names, sorted.
  std::vector<std::string> Names() const;

 private:
  absl::flat_hash_map<std::string, PassFactory> factories_;
};

struct PassRegistrar {
  PassRegistrar(std::string name, PassFactory factory) {
    PassRegistry::Global().Register(std::move(name), std::move(factory));
  }
};

#define KILN_REGISTER_PASS_CONCAT_INNER(a, b) a##b
#define KILN_REGISTER_PASS_CONCAT(a, b) KILN_REGISTER_PASS_CONCAT_INNER(a, b)
// KILN_REGISTER_PASS("dce", DeadCodeElimination): registers a factory that
// default-constructs the class. The library must be `alwayslink`.
#define KILN_REGISTER_PASS(name, Class)                         \
  [[maybe_unused]] static ::kiln::passes::PassRegistrar         \
  KILN_REGISTER_PASS_CONCAT(kiln_pass_registrar_, __COUNTER__)( \
      name, [] { return std::make_unique<Class>(); })

}  // namespace kiln::passes

#endif  // KILN_COMPILER_PASSES_PASS_H_
