// ATen operator schemas, parsed from the strings PyTorch prints, e.g.
//   aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor
//   aten::max.dim(Tensor self, int dim, bool keepdim=False)
//       -> (Tensor values, Tensor indices)
//
// The schema decides how a node's arguments are checked and normalized:
// positional arguments in order, keyword-only ones after `*`, defaults filled
// in, and which Argument kinds each type accepts (see NormalizeArgument in
// normalize.h). Value types; thread-safe once built.
#ifndef KILN_COMPILER_OPS_SCHEMA_H_
#define KILN_COMPILER_OPS_SCHEMA_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler/ir/graph.h"

namespace kiln::ops {

// A schema type: `Tensor`, `Tensor?`, `Tensor[]`, `Tensor?[]`, `int[2]`,
// `SymInt[]?`, `ScalarType?`, ...
struct ArgType {
  enum class Base : uint8_t {
    kTensor,
    kScalar,
    kInt,
    kSymInt,
    kFloat,
    kBool,
    kStr,
    kScalarType,
    kDevice,
    kLayout,
    kMemoryFormat,
    kGenerator,
  };
  Base base = Base::kTensor;
  bool optional = false;          // `T?` / `T[]?`
  bool is_list = false;           // `T[]` / `T[N]`
  int list_size = -1;             // N of `T[N]`, -1 if unsized
  bool element_optional = false;  // `Tensor?[]`

  bool IsTensorLike() const { return base == Base::kTensor; }
  // As PyTorch prints it: "int[1]?".
  std::string ToString() const;
};

struct SchemaArgument {
  std::string name;
  ArgType type;
  // The default, already normalized to the type (e.g. `Scalar alpha=1` is
  // Arg::Int(1); `int[1]? dim=None` is Arg::None()).
  std::optional<ir::Arg> default_value;
  bool kwarg_only = false;
  // Alias annotation, e.g. "a" for `Tensor(a) self`, "a!" for a mutated one.
  std::string alias;
  bool is_mutable() const { return alias.find('!') != std::string::npos; }
};

struct SchemaReturn {
  ArgType type;
  std::string name;   // may be empty
  std::string alias;  // e.g. "a" for `Tensor(a)` (a view of argument (a))
};

struct Schema {
  std::string ns;        // "aten"
  std::string name;      // "add"
  std::string overload;  // "Tensor"; "default" for the unnamed overload
  std::vector<SchemaArgument> arguments;
  std::vector<SchemaReturn> returns;

  // "aten::add.Tensor": the name graphs use (kiln.v1.Node.target).
  std::string FullName() const;
  // Index of the argument named `name`, or -1.
  int ArgumentIndex(std::string_view name) const;
  // Canonical schema string (round-trips through ParseSchema).
  std::string ToString() const;
};

// Parses a schema string; INVALID_ARGUMENT with the column on bad syntax.
absl::StatusOr<Schema> ParseSchema(std::string_view text);

}  // namespace kiln::ops

#endif  // KILN_COMPILER_OPS_SCHEMA_H_
