#include "compiler/ops/op_def.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "compiler/ops/shape_util.h"

namespace kiln::ops {

std::string OpCategoryName(OpCategory c) {
  switch (c) {
    case OpCategory::kPointwise:
      return "pointwise";
    case OpCategory::kReduction:
      return "reduction";
    case OpCategory::kNormalization:
      return "normalization";
    case OpCategory::kView:
      return "view";
    case OpCategory::kLayout:
      return "layout";
    case OpCategory::kMatmul:
      return "matmul";
    case OpCategory::kCreation:
      return "creation";
    case OpCategory::kDataMovement:
      return "data_movement";
    case OpCategory::kMutation:
      return "mutation";
    case OpCategory::kOther:
      return "other";
  }
  return "?";
}

absl::Status CheckDeclaredType(const ir::TensorType& declared,
                               const InferredOutput& inferred) {
  const ir::TensorType& t = *inferred.type;
  auto mismatch = [&](std::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrFormat("declared %s disagrees with inference %s (%s)",
                        declared.ToString(), t.ToString(), what));
  };
  if (declared.dtype != t.dtype) return mismatch("dtype");
  if (declared.device != t.device) return mismatch("device");
  if (declared.rank() != t.rank()) return mismatch("rank");
  bool empty = false;
  for (int d = 0; d < t.rank(); ++d) {
    if (!ProvablyEqual(declared.sizes[d], t.sizes[d]).value_or(false)) {
      return mismatch(absl::StrFormat("size of dimension %d", d));
    }
    if (t.sizes[d]->AsConst() == 0) empty = true;
  }
  if (!inferred.exact_strides || empty) return absl::OkStatus();
  for (int d = 0; d < t.rank(); ++d) {
    if (t.sizes[d]->AsConst() == 1) continue;
    if (!ProvablyEqual(declared.strides[d], t.strides[d]).value_or(false)) {
      return mismatch(absl::StrFormat("stride of dimension %d", d));
    }
  }
  if (!ProvablyEqual(declared.storage_offset, t.storage_offset)
           .value_or(false)) {
    return mismatch("storage offset");
  }
  return absl::OkStatus();
}

int InferContext::index(std::string_view name) const {
  int i = schema_.ArgumentIndex(name);
  if (i < 0) {
    std::fprintf(stderr, "kiln: %s has no argument '%s'\n",
                 schema_.FullName().c_str(), std::string(name).c_str());
    std::abort();
  }
  return i;
}

std::vector<const ir::TensorType*> InferContext::tensor_list(int i) const {
  std::vector<const ir::TensorType*> out;
  for (const ir::Value* v : args_[i].values) {
    out.push_back(v ? &v->type() : nullptr);
  }
  return out;
}

KernelContext::KernelContext(const ir::Node& node,
                             const sym::Bindings& bindings, Lookup lookup)
    : node_(node), bindings_(bindings), lookup_(std::move(lookup)) {
  outputs_.resize(node.num_outputs());
}

const ir::Arg& KernelContext::arg(int i) const { return node_.arg(i); }

int KernelContext::index(std::string_view name) const {
  return node_.op().schema().ArgumentIndex(name);
}

bool KernelContext::is_none(int i) const { return node_.arg(i).is_none(); }

const rt::Tensor& KernelContext::tensor(int i) const {
  return lookup_(node_.arg(i).value)->tensor;
}

std::vector<const rt::Tensor*> KernelContext::tensor_list(int i) const {
  std::vector<const rt::Tensor*> out;
  for (const ir::Value* v : node_.arg(i).values) {
    out.push_back(v ? &lookup_(v)->tensor : nullptr);
  }
  return out;
}

absl::StatusOr<int64_t> KernelContext::int_arg(int i) const {
  const ir::Arg& a = node_.arg(i);
  if (a.kind == ir::Arg::Kind::kInt) return sym::Evaluate(*a.i, bindings_);
  if (a.kind == ir::Arg::Kind::kBool) return a.b ? 1 : 0;
  if (a.kind == ir::Arg::Kind::kValue && a.value && !a.value->is_tensor()) {
    const RuntimeValue* v = lookup_(a.value);
    if (v && v->kind == RuntimeValue::Kind::kScalar &&
        v->scalar.kind != rt::Scalar::Kind::kFloat) {
      return v->scalar.kind == rt::Scalar::Kind::kInt ? v->scalar.i
                                                      : int64_t{v->scalar.b};
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("argument ", i, " is not an integer"));
}

absl::StatusOr<std::vector<int64_t>> KernelContext::int_list(int i) const {
  const ir::Arg& a = node_.arg(i);
  if (a.kind == ir::Arg::Kind::kInt) {
    auto v = sym::Evaluate(*a.i, bindings_);
    if (!v.ok()) return v.status();
    return std::vector<int64_t>{*v};
  }
  if (a.kind != ir::Arg::Kind::kIntList) {
    return absl::InvalidArgumentError(
        absl::StrCat("argument ", i, " is not an int list"));
  }
  return Eval(a.ints);
}

absl::StatusOr<rt::Scalar> KernelContext::scalar(int i) const {
  const ir::Arg& a = node_.arg(i);
  switch (a.kind) {
    case ir::Arg::Kind::kInt: {
      auto v = sym::Evaluate(*a.i, bindings_);
      if (!v.ok()) return v.status();
      return rt::Scalar::Int(*v);
    }
    case ir::Arg::Kind::kFloat:
      return rt::Scalar::Float(a.f);
    case ir::Arg::Kind::kBool:
      return rt::Scalar::Bool(a.b);
    case ir::Arg::Kind::kValue: {
      const RuntimeValue* v = a.value ? lookup_(a.value) : nullptr;
      if (v && v->kind == RuntimeValue::Kind::kScalar) return v->scalar;
      break;
    }
    default:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("argument ", i, " is not a scalar"));
}

absl::StatusOr<std::vector<int64_t>> KernelContext::Eval(
    const std::vector<sym::ExprRef>& exprs) const {
  std::vector<int64_t> out;
  out.reserve(exprs.size());
  for (const sym::ExprRef& e : exprs) {
    auto v = sym::Evaluate(*e, bindings_);
    if (!v.ok()) return v.status();
    out.push_back(*v);
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> KernelContext::OutputSizes(int i) const {
  return Eval(node_.output(i)->type().sizes);
}

absl::StatusOr<rt::Tensor> KernelContext::AllocateOutput(int i) const {
  const ir::TensorType& t = node_.output(i)->type();
  auto sizes = Eval(t.sizes);
  if (!sizes.ok()) return sizes.status();
  auto strides = Eval(t.strides);
  if (!strides.ok()) return strides.status();
  auto offset = sym::Evaluate(*t.storage_offset, bindings_);
  if (!offset.ok()) return offset.status();
  return rt::Tensor::EmptyStrided(t.dtype, *std::move(sizes),
                                  *std::move(strides), *offset);
}

void KernelContext::SetOutput(int i, rt::Tensor t) {
  outputs_[i] = std::move(t);
}

absl::StatusOr<std::vector<InferredOutput>> OpDef::Infer(
    const InferContext& ctx) const {
  if (!infer_) {
    return absl::UnimplementedError(
        absl::StrCat(name_, " has no shape inference"));
  }
  return infer_(ctx);
}

OpDefBuilder::OpDefBuilder(std::string_view schema)
    : def_(std::make_unique<OpDef>()) {
  auto parsed = ParseSchema(schema);
  if (!parsed.ok()) {
    std::fprintf(stderr, "kiln: bad op schema: %s\n",
                 std::string(parsed.status().message()).c_str());
    std::abort();
  }
  def_->schema_ = *std::move(parsed);
  def_->name_ = def_->schema_.FullName();
  for (size_t i = 0; i < def_->schema_.arguments.size(); ++i) {
    if (def_->schema_.arguments[i].is_mutable()) {
      def_->mutated_args_.push_back(static_cast<int>(i));
    }
  }
}

OpDefBuilder& OpDefBuilder::Category(OpCategory c) {
  def_->category_ = c;
  return *this;
}

OpDefBuilder& OpDefBuilder::Infer(InferFn fn) {
  def_->infer_ = std::move(fn);
  return *this;
}

OpDefBuilder& OpDefBuilder::Reference(ReferenceFn fn) {
  def_->reference_ = std::move(fn);
  return *this;
}

OpRegistry& OpRegistry::Global() {
  static OpRegistry* registry = new OpRegistry();
  return *registry;
}

void OpRegistry::Register(std::unique_ptr<OpDef> def) {
  std::string name = def->name();
  if (ops_.contains(name)) {
    std::fprintf(stderr, "kiln: op %s registered twice\n", name.c_str());
    std::abort();
  }
  ops_.emplace(std::move(name), std::move(def));
}

const OpDef* OpRegistry::Find(std::string_view name) const {
  auto it = ops_.find(std::string(name));
  return it == ops_.end() ? nullptr : it->second.get();
}

std::vector<const OpDef*> OpRegistry::All() const {
  std::vector<const OpDef*> out;
  for (const auto& [name, def] : ops_) out.push_back(def.get());
  std::sort(out.begin(), out.end(), [](const OpDef* a, const OpDef* b) {
    return a->name() < b->name();
  });
  return out;
}

const OpDef& GetOp(std::string_view name) {
  const OpDef* op = OpRegistry::Global().Find(name);
  if (op == nullptr) {
    std::fprintf(stderr, "kiln: op %s is not registered\n",
                 std::string(name).c_str());
    std::abort();
  }
  return *op;
}

std::vector<int> MutatedInputs(const ir::Graph& graph) {
  std::vector<int> out;
  for (const auto& node : graph.nodes()) {
    for (int i : node->op().mutated_args()) {
      node->arg(i).ForEachValue([&](const ir::Value* v) {
        if (v->is_placeholder()) out.push_back(v->index());
      });
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

OpRegistrar::OpRegistrar(OpDefBuilder& builder) {
  OpRegistry::Global().Register(builder.Build());
}

OpRegistrar::OpRegistrar(OpDefBuilder&& builder) {
  OpRegistry::Global().Register(builder.Build());
}

}  // namespace kiln::ops
