#include "compiler/passes/pass_util.h"

#include <string>

#include "absl/container/flat_hash_set.h"

namespace kiln::passes {
namespace {

// The alias set of an annotation: "a!" -> "a", "a -> *" -> "a".
std::string AliasSet(const std::string& alias) {
  std::string out;
  for (char c : alias) {
    if (c == '!' || c == ' ' || c == '-') break;
    out += c;
  }
  return out;
}

}  // namespace

bool MutatesArguments(const ir::Node& node) {
  if (node.op().category() == ops::OpCategory::kMutation) return true;
  for (const auto& a : node.op().schema().arguments) {
    if (a.is_mutable()) return true;
  }
  return false;
}

bool IsNondeterministic(const ops::OpDef& op) {
  static const auto* kNames =
      new absl::flat_hash_set<std::string>{"empty",
                                           "empty_like",
                                           "empty_strided",
                                           "new_empty",
                                           "new_empty_strided",
                                           "rand",
                                           "rand_like",
                                           "randn",
                                           "randn_like",
                                           "randint",
                                           "randint_like",
                                           "randperm",
                                           "bernoulli",
                                           "bernoulli_",
                                           "normal",
                                           "normal_",
                                           "uniform",
                                           "uniform_",
                                           "native_dropout",
                                           "dropout",
                                           "multinomial",
                                           "exponential",
                                           "exponential_",
                                           "geometric",
                                           "cauchy",
                                           "log_normal",
                                           "poisson",
                                           "rrelu",
                                           "rrelu_with_noise"};
  return kNames->contains(op.schema().name);
}

bool HasSideEffects(const ir::Node& node) {
  if (MutatesArguments(node)) return true;
  // Random ops advance the generator; empty does not.
  return IsNondeterministic(node.op()) &&
         node.op().schema().name.rfind("empty", 0) != 0 &&
         node.op().schema().name.rfind("new_empty", 0) != 0;
}

bool IsView(const ir::Node& node) {
  return node.op().category() == ops::OpCategory::kView;
}

std::vector<int> AliasedArgs(const ir::Node& node, int output) {
  const ops::Schema& schema = node.op().schema();
  std::vector<int> args;
  if (IsView(node)) {
    for (size_t i = 0; i < node.args().size(); ++i) {
      const ir::Arg& a = node.arg(i);
      if (a.kind == ir::Arg::Kind::kValue && a.value && a.value->is_tensor()) {
        args.push_back(static_cast<int>(i));
        break;
      }
    }
    return args;
  }
  // Tensor[] returns are flattened: every output shares the alias of the
  // one return.
  std::string alias;
  if (schema.returns.size() == 1) {
    alias = AliasSet(schema.returns[0].alias);
  } else if (output < static_cast<int>(schema.returns.size())) {
    alias = AliasSet(schema.returns[output].alias);
  }
  if (alias.empty()) return args;
  for (size_t i = 0; i < schema.arguments.size(); ++i) {
    if (AliasSet(schema.arguments[i].alias) == alias) {
      args.push_back(static_cast<int>(i));
    }
  }
  return args;
}

}  // namespace kiln::passes
