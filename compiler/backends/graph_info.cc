#include "compiler/backends/graph_info.h"

#include <algorithm>
#include <string>

#include "compiler/ops/op_def.h"

namespace kiln::backends {
namespace {

std::string AliasSet(const std::string& alias) {
  std::string s = alias;
  s.erase(std::remove(s.begin(), s.end(), '!'), s.end());
  return s;
}

}  // namespace

int GraphInfo::AliasedArg(const ir::Node& node, int output) {
  const ops::Schema& schema = node.op().schema();
  if (schema.returns.empty()) return -1;
  // Views without an alias annotation (_unsafe_view): the first tensor.
  if (node.op().category() == ops::OpCategory::kView) {
    bool annotated = false;
    for (const ops::SchemaReturn& r : schema.returns) {
      annotated = annotated || !r.alias.empty();
    }
    if (!annotated) {
      for (size_t a = 0; a < node.args().size(); ++a) {
        const ir::Arg& arg = node.arg(static_cast<int>(a));
        if (arg.kind == ir::Arg::Kind::kValue && arg.value &&
            arg.value->is_tensor()) {
          return static_cast<int>(a);
        }
      }
    }
  }
  // Tensor[] returns are flattened: every output maps to the list return.
  int r = output < static_cast<int>(schema.returns.size())
              ? output
              : static_cast<int>(schema.returns.size()) - 1;
  if (schema.returns.size() == 1) r = 0;
  std::string alias = AliasSet(schema.returns[r].alias);
  if (alias.empty()) return -1;
  for (size_t a = 0; a < schema.arguments.size(); ++a) {
    if (AliasSet(schema.arguments[a].alias) == alias) {
      const ir::Arg& arg = node.arg(static_cast<int>(a));
      if (arg.kind == ir::Arg::Kind::kValue && arg.value &&
          arg.value->is_tensor()) {
        return static_cast<int>(a);
      }
      return -1;
    }
  }
  return -1;
}

GraphInfo::GraphInfo(const ir::Graph& graph) : graph_(graph) {
  for (int i = 0; i < graph.num_placeholders(); ++i) {
    ids_[graph.placeholder(i)] = static_cast<int>(values_.size());
    values_.push_back(graph.placeholder(i));
  }
  for (const auto& c : graph.constants()) {
    ids_[c.get()] = static_cast<int>(values_.size());
    values_.push_back(c.get());
  }
  for (const auto& node : graph.nodes()) {
    first_output_.push_back(static_cast<int>(values_.size()));
    for (int i = 0; i < node->num_outputs(); ++i) {
      const ir::Value* v = node->output(i);
      if (v != nullptr) ids_[v] = static_cast<int>(values_.size());
      values_.push_back(v);
    }
  }
  root_.resize(values_.size());
  for (size_t i = 0; i < values_.size(); ++i) root_[i] = static_cast<int>(i);
  for (const auto& node : graph.nodes()) {
    for (int i = 0; i < node->num_outputs(); ++i) {
      const ir::Value* v = node->output(i);
      if (v == nullptr) continue;
      int a = AliasedArg(*node, i);
      if (a >= 0) root_[ids_[v]] = root_[ids_[node->arg(a).value]];
    }
  }
  // Lifetimes by storage root: a view keeps its base alive.
  std::vector<int> root_last(values_.size(), -1);
  escapes_.assign(values_.size(), false);
  for (const auto& node : graph.nodes()) {
    for (const ir::Value* v : node->Operands()) {
      if (!v->is_tensor()) continue;
      int r = root_[ids_[v]];
      root_last[r] = std::max(root_last[r], node->index());
    }
  }
  for (const ir::Arg& a : graph.outputs()) {
    if (a.kind == ir::Arg::Kind::kValue && a.value && a.value->is_tensor()) {
      int r = root_[ids_[a.value]];
      root_last[r] = graph.num_nodes();
      escapes_[r] = true;
    }
  }
  last_use_.resize(values_.size());
  for (size_t i = 0; i < values_.size(); ++i) {
    last_use_[i] = root_last[root_[i]];
  }
}

int GraphInfo::root_input(int id) const {
  int r = root_[id];
  return r < graph_.num_placeholders() ? r : -1;
}

std::vector<plan::Output> GraphInfo::Outputs() const {
  std::vector<plan::Output> out;
  for (const ir::Arg& a : graph_.outputs()) {
    plan::Output o;
    o.set_aliases_input(-1);
    switch (a.kind) {
      case ir::Arg::Kind::kValue:
        if (a.value && a.value->is_tensor()) {
          o.set_kind(plan::Output::TENSOR);
          o.set_value(id(a.value));
          o.set_aliases_input(root_input(id(a.value)));
        } else if (a.value && a.value->kind() == ir::Value::Kind::kSymInt) {
          o.set_kind(plan::Output::INT);
          o.set_value(id(a.value));
        } else if (a.value) {
          o.set_kind(a.value->scalar_kind() == ir::ScalarKind::kFloat
                         ? plan::Output::FLOAT
                     : a.value->scalar_kind() == ir::ScalarKind::kBool
                         ? plan::Output::BOOL
                         : plan::Output::INT);
          o.set_value(id(a.value));
        } else {
          o.set_kind(plan::Output::NONE);
        }
        break;
      case ir::Arg::Kind::kInt:
        o.set_kind(plan::Output::INT);
        break;
      case ir::Arg::Kind::kFloat:
        o.set_kind(plan::Output::FLOAT);
        break;
      case ir::Arg::Kind::kBool:
        o.set_kind(plan::Output::BOOL);
        break;
      default:
        o.set_kind(plan::Output::NONE);
        break;
    }
    out.push_back(o);
  }
  return out;
}

std::vector<int> GraphInfo::MutatedInputs() const {
  std::vector<int> out;
  for (const auto& node : graph_.nodes()) {
    const ops::Schema& schema = node->op().schema();
    for (size_t a = 0; a < schema.arguments.size(); ++a) {
      if (!schema.arguments[a].is_mutable()) continue;
      const ir::Arg& arg = node->arg(static_cast<int>(a));
      if (arg.kind != ir::Arg::Kind::kValue || !arg.value ||
          !arg.value->is_tensor()) {
        continue;
      }
      int p = root_input(id(arg.value));
      if (p >= 0 && std::find(out.begin(), out.end(), p) == out.end()) {
        out.push_back(p);
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace kiln::backends
