#include "compiler/ir/graph.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace kiln::ir {

std::string ScalarKindName(ScalarKind kind) {
  switch (kind) {
    case ScalarKind::kInt:
      return "int";
    case ScalarKind::kFloat:
      return "float";
    case ScalarKind::kBool:
      return "bool";
    case ScalarKind::kString:
      return "str";
    case ScalarKind::kNone:
      return "NoneType";
  }
  return "?";
}

std::string MemoryFormatName(MemoryFormat f) {
  switch (f) {
    case MemoryFormat::kContiguous:
      return "torch.contiguous_format";
    case MemoryFormat::kChannelsLast:
      return "torch.channels_last";
    case MemoryFormat::kChannelsLast3d:
      return "torch.channels_last_3d";
    case MemoryFormat::kPreserve:
      return "torch.preserve_format";
  }
  return "?";
}

std::string FusionKindName(FusionKind kind) {
  switch (kind) {
    case FusionKind::kPointwise:
      return "pointwise";
    case FusionKind::kReduction:
      return "reduction";
    case FusionKind::kSoftmax:
      return "softmax";
    case FusionKind::kLayerNorm:
      return "layer_norm";
  }
  return "?";
}

std::optional<FusionKind> FusionKindFromName(std::string_view name) {
  for (FusionKind k : {FusionKind::kPointwise, FusionKind::kReduction,
                       FusionKind::kSoftmax, FusionKind::kLayerNorm}) {
    if (FusionKindName(k) == name) return k;
  }
  return std::nullopt;
}

std::string ArgKindName(Arg::Kind kind) {
  switch (kind) {
    case Arg::Kind::kNone:
      return "None";
    case Arg::Kind::kInt:
      return "int";
    case Arg::Kind::kFloat:
      return "float";
    case Arg::Kind::kBool:
      return "bool";
    case Arg::Kind::kString:
      return "str";
    case Arg::Kind::kIntList:
      return "int list";
    case Arg::Kind::kFloatList:
      return "float list";
    case Arg::Kind::kBoolList:
      return "bool list";
    case Arg::Kind::kDType:
      return "dtype";
    case Arg::Kind::kDevice:
      return "device";
    case Arg::Kind::kLayout:
      return "layout";
    case Arg::Kind::kMemoryFormat:
      return "memory format";
    case Arg::Kind::kValue:
      return "value";
    case Arg::Kind::kValueList:
      return "value list";
  }
  return "?";
}

Arg Arg::Int(ExprRef v) {
  Arg a;
  a.kind = Kind::kInt;
  a.i = std::move(v);
  return a;
}
Arg Arg::Float(double v) {
  Arg a;
  a.kind = Kind::kFloat;
  a.f = v;
  return a;
}
Arg Arg::Bool(bool v) {
  Arg a;
  a.kind = Kind::kBool;
  a.b = v;
  return a;
}
Arg Arg::String(std::string v) {
  Arg a;
  a.kind = Kind::kString;
  a.s = std::move(v);
  return a;
}
Arg Arg::IntList(std::vector<ExprRef> v) {
  Arg a;
  a.kind = Kind::kIntList;
  a.ints = std::move(v);
  return a;
}
Arg Arg::FloatList(std::vector<double> v) {
  Arg a;
  a.kind = Kind::kFloatList;
  a.floats = std::move(v);
  return a;
}
Arg Arg::BoolList(std::vector<bool> v) {
  Arg a;
  a.kind = Kind::kBoolList;
  a.bools = std::move(v);
  return a;
}
Arg Arg::OfDType(DType d) {
  Arg a;
  a.kind = Kind::kDType;
  a.dtype = d;
  return a;
}
Arg Arg::OfDevice(Device d) {
  Arg a;
  a.kind = Kind::kDevice;
  a.device = d;
  return a;
}
Arg Arg::Layout() {
  Arg a;
  a.kind = Kind::kLayout;
  return a;
}
Arg Arg::OfMemoryFormat(MemoryFormat m) {
  Arg a;
  a.kind = Kind::kMemoryFormat;
  a.memory_format = m;
  return a;
}
Arg Arg::OfValue(Value* v) {
  Arg a;
  a.kind = Kind::kValue;
  a.value = v;
  return a;
}
Arg Arg::ValueList(std::vector<Value*> v) {
  Arg a;
  a.kind = Kind::kValueList;
  a.values = std::move(v);
  return a;
}

bool Arg::operator==(const Arg& o) const {
  if (kind != o.kind) return false;
  switch (kind) {
    case Kind::kNone:
    case Kind::kLayout:
      return true;
    case Kind::kInt:
      return sym::SameExpr(i, o.i);
    case Kind::kFloat:
      return std::memcmp(&f, &o.f, sizeof(f)) == 0;
    case Kind::kBool:
      return b == o.b;
    case Kind::kString:
      return s == o.s;
    case Kind::kIntList:
      return SameExprList(ints, o.ints);
    case Kind::kFloatList:
      if (floats.size() != o.floats.size()) return false;
      return floats.empty() || std::memcmp(floats.data(), o.floats.data(),
                                           floats.size() * sizeof(double)) == 0;
    case Kind::kBoolList:
      return bools == o.bools;
    case Kind::kDType:
      return dtype == o.dtype;
    case Kind::kDevice:
      return device == o.device;
    case Kind::kMemoryFormat:
      return memory_format == o.memory_format;
    case Kind::kValue:
      return value == o.value;
    case Kind::kValueList:
      return values == o.values;
  }
  return false;
}

std::vector<Value*> Node::Operands() const {
  std::vector<Value*> out;
  for (const Arg& a : args_)
    a.ForEachValue([&](Value* v) { out.push_back(v); });
  return out;
}

void Graph::Register(std::string name) { name_counts_[std::move(name)] += 1; }

std::string Graph::FreshName(std::string_view base) {
  std::string b(base.empty() ? "v" : base);
  if (!name_counts_.contains(b)) return b;
  for (int i = 1;; ++i) {
    std::string candidate = absl::StrCat(b, "_", i);
    if (!name_counts_.contains(candidate)) return candidate;
  }
}

Value* Graph::AddTensorInput(std::string name, TensorType type) {
  auto v = std::unique_ptr<Value>(new Value());
  v->kind_ = Value::Kind::kTensor;
  v->name_ = name.empty() ? FreshName("arg") : std::move(name);
  v->type_ = std::move(type);
  v->index_ = num_placeholders();
  Register(v->name_);
  placeholders_.push_back(std::move(v));
  return placeholders_.back().get();
}

Value* Graph::AddSymIntInput(std::string name, ExprRef expr) {
  auto v = std::unique_ptr<Value>(new Value());
  v->kind_ = Value::Kind::kSymInt;
  v->name_ = name.empty() ? FreshName("sym") : std::move(name);
  v->symint_ = std::move(expr);
  v->index_ = num_placeholders();
  Register(v->name_);
  placeholders_.push_back(std::move(v));
  return placeholders_.back().get();
}

Value* Graph::AddScalarInput(std::string name, ScalarKind kind) {
  auto v = std::unique_ptr<Value>(new Value());
  v->kind_ = Value::Kind::kScalar;
  v->name_ = name.empty() ? FreshName("scalar") : std::move(name);
  v->scalar_kind_ = kind;
  v->index_ = num_placeholders();
  Register(v->name_);
  placeholders_.push_back(std::move(v));
  return placeholders_.back().get();
}

void Graph::AddUses(const Arg& arg, Node* user) {
  arg.ForEachValue([&](Value* v) { v->users_.push_back(user); });
}

void Graph::RemoveUses(const Arg& arg, Node* user) {
  arg.ForEachValue([&](Value* v) {
    auto it = std::find(v->users_.begin(), v->users_.end(), user);
    if (it != v->users_.end()) v->users_.erase(it);
  });
}

void Graph::Renumber() {
  for (size_t i = 0; i < nodes_.size(); ++i) nodes_[i]->index_ = i;
}

Node* Graph::AddNode(const ops::OpDef& op, std::vector<Arg> args,
                     std::vector<std::optional<TensorType>> outputs,
                     std::string name, Node* before) {
  auto node = std::unique_ptr<Node>(new Node());
  node->op_ = &op;
  if (name.empty()) name = FreshName("n");
  node->name_ = std::move(name);
  Register(node->name_);
  node->args_ = std::move(args);
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i]) {
      node->outputs_.push_back(nullptr);
      continue;
    }
    auto v = std::unique_ptr<Value>(new Value());
    v->kind_ = Value::Kind::kTensor;
    v->type_ = std::move(*outputs[i]);
    v->producer_ = node.get();
    v->index_ = static_cast<int>(i);
    v->name_ =
        outputs.size() == 1 ? node->name_ : absl::StrCat(node->name_, "#", i);
    node->outputs_.push_back(std::move(v));
  }
  Node* raw = node.get();
  for (const Arg& a : raw->args_) AddUses(a, raw);
  if (before == nullptr) {
    nodes_.push_back(std::move(node));
  } else {
    nodes_.insert(nodes_.begin() + before->index(), std::move(node));
  }
  Renumber();
  return raw;
}

Node* Graph::AddFusedNode(const ops::OpDef& fused_op,
                          std::vector<Value*> inputs,
                          std::unique_ptr<FusedKernel> kernel, std::string name,
                          Node* before) {
  std::vector<std::optional<TensorType>> outputs;
  for (const Arg& out : kernel->body->outputs()) {
    outputs.push_back(out.value->type());
  }
  Node* node = AddNode(fused_op, {Arg::ValueList(std::move(inputs))},
                       std::move(outputs), std::move(name), before);
  node->fused_ = std::move(kernel);
  return node;
}

void Graph::ReorderNodes(const std::vector<Node*>& order) {
  if (order.size() != nodes_.size()) std::abort();
  std::vector<std::unique_ptr<Node>> sorted(nodes_.size());
  for (size_t i = 0; i < order.size(); ++i) {
    int from = order[i]->index();
    if (nodes_[from].get() != order[i]) std::abort();  // not a permutation
    sorted[i] = std::move(nodes_[from]);
  }
  nodes_ = std::move(sorted);
  Renumber();
}

Value* Graph::AddConstant(std::string name, TensorType type,
                          std::shared_ptr<const std::string> data) {
  auto v = std::unique_ptr<Value>(new Value());
  v->kind_ = Value::Kind::kTensor;
  v->name_ = name.empty() ? FreshName("c") : std::move(name);
  v->type_ = std::move(type);
  v->constant_ = data ? std::move(data) : std::make_shared<std::string>();
  v->index_ = num_constants();
  Register(v->name_);
  constants_.push_back(std::move(v));
  return constants_.back().get();
}

void Graph::RemoveConstant(Value* constant) {
  auto it = constants_.begin() + constant->index();
  auto names = name_counts_.find(constant->name_);
  if (names != name_counts_.end() && --names->second == 0) {
    name_counts_.erase(names);
  }
  constants_.erase(it);
  for (size_t i = 0; i < constants_.size(); ++i) constants_[i]->index_ = i;
}

void Graph::RemoveNode(Node* node) {
  for (const Arg& a : node->args_) RemoveUses(a, node);
  auto it = nodes_.begin() + node->index();
  auto names = name_counts_.find(node->name_);
  if (names != name_counts_.end() && --names->second == 0) {
    name_counts_.erase(names);
  }
  nodes_.erase(it);
  Renumber();
}

void Graph::SetArg(Node* node, int i, Arg arg) {
  RemoveUses(node->args_[i], node);
  node->args_[i] = std::move(arg);
  AddUses(node->args_[i], node);
}

void Graph::ReplaceAllUsesWith(Value* from, Value* to) {
  if (from == to) return;
  std::vector<Node*> users = from->users_;
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());
  for (Node* user : users) {
    for (size_t i = 0; i < user->args_.size(); ++i) {
      Arg a = user->args_[i];
      bool changed = false;
      if (a.kind == Arg::Kind::kValue && a.value == from) {
        a.value = to;
        changed = true;
      }
      if (a.kind == Arg::Kind::kValueList) {
        for (Value*& v : a.values) {
          if (v == from) {
            v = to;
            changed = true;
          }
        }
      }
      if (changed) SetArg(user, static_cast<int>(i), std::move(a));
    }
  }
  for (Arg& out : outputs_) {
    if (out.kind == Arg::Kind::kValue && out.value == from) {
      out.value = to;
      from->output_uses_ -= 1;
      to->output_uses_ += 1;
    }
  }
}

void Graph::SetOutputs(std::vector<Arg> outputs) {
  for (const Arg& a : outputs_) {
    a.ForEachValue([](Value* v) { v->output_uses_ -= 1; });
  }
  outputs_ = std::move(outputs);
  for (const Arg& a : outputs_) {
    a.ForEachValue([](Value* v) { v->output_uses_ += 1; });
  }
}

Value* Graph::FindValue(std::string_view name) const {
  for (const auto& p : placeholders_) {
    if (p->name_ == name) return p.get();
  }
  for (const auto& c : constants_) {
    if (c->name_ == name) return c.get();
  }
  for (const auto& n : nodes_) {
    for (const auto& o : n->outputs_) {
      if (o && o->name_ == name) return o.get();
    }
  }
  return nullptr;
}

Node* Graph::FindNode(std::string_view name) const {
  for (const auto& n : nodes_) {
    if (n->name_ == name) return n.get();
  }
  return nullptr;
}

}  // namespace kiln::ir
