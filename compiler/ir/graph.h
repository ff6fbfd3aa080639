// The compiler's graph IR: Graph, Node, Value and Arg.
//
// A Graph is a list of placeholders (inputs), a list of Nodes in topological
// order and a list of outputs. Each Node calls one registered op
// (ops::OpDef) with its arguments normalized by the op's schema: exactly one
// Arg per schema argument, in schema order, positional and keyword
// arguments resolved and defaults filled in. Tensor operands are Values:
// either placeholders or node outputs. Each Value knows its users.
//
// Ownership: the Graph owns every Value and Node (stable addresses until
// removed); Nodes and Values hold raw pointers into the same Graph. OpDefs
// belong to the process-wide registry and outlive every graph.
//
// Threading: a Graph is not thread-safe; const access from several threads
// is fine while nobody mutates it.
//
// Building a graph: from a kiln.v1.Graph (convert.h), from text (text.h), or
// with the mutation API below (passes). The mutation API keeps users lists
// and names consistent but does not run shape inference; use
// ops::InferNode / the verifier (verifier.h) for that.
#ifndef KILN_COMPILER_IR_GRAPH_H_
#define KILN_COMPILER_IR_GRAPH_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "compiler/ir/dtype.h"
#include "compiler/ir/tensor_type.h"

namespace kiln::ops {
class OpDef;
}  // namespace kiln::ops

namespace kiln::ir {

class Node;
class Graph;

// Kind of a Python scalar graph input (kiln.v1.ScalarKind).
enum class ScalarKind : uint8_t { kInt, kFloat, kBool, kString, kNone };
std::string ScalarKindName(ScalarKind kind);  // "int", "float", ...

// torch.memory_format.
enum class MemoryFormat : uint8_t {
  kContiguous,
  kChannelsLast,
  kChannelsLast3d,
  kPreserve,
};
std::string MemoryFormatName(MemoryFormat f);  // "torch.channels_last"

// A value flowing through the graph: a tensor (placeholder or node output),
// a SymInt placeholder or a Python scalar placeholder.
class Value {
 public:
  enum class Kind : uint8_t { kTensor, kSymInt, kScalar };

  Kind kind() const { return kind_; }
  bool is_tensor() const { return kind_ == Kind::kTensor; }
  // Unique within the graph.
  const std::string& name() const { return name_; }

  // kTensor only.
  const TensorType& type() const { return type_; }
  void set_type(TensorType type) { type_ = std::move(type); }
  // kSymInt only: the integer expression the input stands for (usually a
  // bare symbol).
  const ExprRef& symint() const { return symint_; }
  // kScalar only.
  ScalarKind scalar_kind() const { return scalar_kind_; }

  // The producing node; nullptr for placeholders.
  Node* producer() const { return producer_; }
  bool is_placeholder() const { return producer_ == nullptr; }
  // Index among the producer's outputs, or among the graph's placeholders.
  int index() const { return index_; }

  // Nodes using this value, once per use (a node using it twice appears
  // twice), in no particular order.
  const std::vector<Node*>& users() const { return users_; }
  // How many graph outputs name this value.
  int num_output_uses() const { return output_uses_; }
  bool HasUses() const { return !users_.empty() || output_uses_ > 0; }

 private:
  friend class Graph;
  friend class Node;
  Value() = default;

  Kind kind_ = Kind::kTensor;
  std::string name_;
  TensorType type_;
  ExprRef symint_;
  ScalarKind scalar_kind_ = ScalarKind::kInt;
  Node* producer_ = nullptr;
  int index_ = 0;
  std::vector<Node*> users_;
  int output_uses_ = 0;
};

// One argument of a node, normalized against the op's schema, or one graph
// output. Passive data.
struct Arg {
  enum class Kind : uint8_t {
    kNone,
    kInt,        // `i`: a static or symbolic integer
    kFloat,      // `f`
    kBool,       // `b`
    kString,     // `s`
    kIntList,    // `ints`
    kFloatList,  // `floats`
    kBoolList,   // `bools`
    kDType,      // `dtype`
    kDevice,     // `device`
    kLayout,     // torch.strided (the only layout)
    kMemoryFormat,
    kValue,      // `value`: a tensor, or a scalar / SymInt placeholder
    kValueList,  // `values`: a tensor list; nullptr entries are None
  };

  Kind kind = Kind::kNone;
  ExprRef i;
  double f = 0;
  bool b = false;
  std::string s;
  std::vector<ExprRef> ints;
  std::vector<double> floats;
  std::vector<bool> bools;
  DType dtype = DType::kFloat32;
  Device device;
  MemoryFormat memory_format = MemoryFormat::kContiguous;
  Value* value = nullptr;
  std::vector<Value*> values;

  static Arg None() { return Arg(); }
  static Arg Int(ExprRef v);
  static Arg Int(int64_t v) { return Int(Const(v)); }
  static Arg Float(double v);
  static Arg Bool(bool v);
  static Arg String(std::string v);
  static Arg IntList(std::vector<ExprRef> v);
  static Arg FloatList(std::vector<double> v);
  static Arg BoolList(std::vector<bool> v);
  static Arg OfDType(DType d);
  static Arg OfDevice(Device d);
  static Arg Layout();
  static Arg OfMemoryFormat(MemoryFormat m);
  static Arg OfValue(Value* v);
  static Arg ValueList(std::vector<Value*> v);

  bool is_none() const { return kind == Kind::kNone; }
  // Static integer value of kInt, if constant.
  std::optional<int64_t> AsInt() const {
    return kind == Kind::kInt ? i->AsConst() : std::nullopt;
  }
  // Structural equality (Values by identity, floats by bits).
  bool operator==(const Arg& o) const;
  bool operator!=(const Arg& o) const { return !(*this == o); }
  // Calls fn(Value*) for each value referenced (nullptr entries skipped).
  template <typename Fn>
  void ForEachValue(Fn fn) const {
    if (kind == Kind::kValue && value) fn(value);
    if (kind == Kind::kValueList) {
      for (Value* v : values) {
        if (v) fn(v);
      }
    }
  }
};
std::string ArgKindName(Arg::Kind kind);

// One call of an op.
class Node {
 public:
  const ops::OpDef& op() const { return *op_; }
  // Unique within the graph.
  const std::string& name() const { return name_; }
  // One per schema argument, in schema order.
  const std::vector<Arg>& args() const { return args_; }
  const Arg& arg(int i) const { return args_[i]; }
  // The outputs, one per schema return (Tensor[] returns flattened); a None
  // output is nullptr.
  int num_outputs() const { return static_cast<int>(outputs_.size()); }
  Value* output(int i) const { return outputs_[i].get(); }
  // Every Value the arguments reference, in argument order, with repeats.
  std::vector<Value*> Operands() const;
  // Position in the graph's node list (kept up to date by Graph).
  int index() const { return index_; }
  // Debug only (FX stack trace); not printed, not compared.
  const std::string& stack_trace() const { return stack_trace_; }
  void set_stack_trace(std::string s) { stack_trace_ = std::move(s); }

 private:
  friend class Graph;
  Node() = default;

  const ops::OpDef* op_ = nullptr;
  std::string name_;
  std::vector<Arg> args_;
  std::vector<std::unique_ptr<Value>> outputs_;
  int index_ = 0;
  std::string stack_trace_;
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Placeholders, appended in order. Names must be unique (checked by the
  // converter and the verifier; an empty name gets a fresh one).
  Value* AddTensorInput(std::string name, TensorType type);
  Value* AddSymIntInput(std::string name, ExprRef expr);
  Value* AddScalarInput(std::string name, ScalarKind kind);

  // Creates a node calling `op` with normalized `args` and these output
  // types (std::nullopt for a None output), inserted before `before` (or at
  // the end when nullptr). An empty name gets a fresh one (`n`, `n_1`,
  // ...); pass FreshName("add") for a readable one.
  Node* AddNode(const ops::OpDef& op, std::vector<Arg> args,
                std::vector<std::optional<TensorType>> outputs,
                std::string name = "", Node* before = nullptr);
  // Removes a node whose outputs have no uses.
  void RemoveNode(Node* node);
  // Replaces argument `i` of `node`, keeping users lists right.
  void SetArg(Node* node, int i, Arg arg);
  // Makes every use of `from` (node arguments and graph outputs) use `to`.
  void ReplaceAllUsesWith(Value* from, Value* to);

  const std::vector<std::unique_ptr<Value>>& placeholders() const {
    return placeholders_;
  }
  Value* placeholder(int i) const { return placeholders_[i].get(); }
  int num_placeholders() const {
    return static_cast<int>(placeholders_.size());
  }
  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  int num_nodes() const { return static_cast<int>(nodes_.size()); }
  Node* node(int i) const { return nodes_[i].get(); }

  // Graph outputs: kValue (a tensor), kNone, kInt (a SymInt or int), kFloat
  // or kBool.
  const std::vector<Arg>& outputs() const { return outputs_; }
  void SetOutputs(std::vector<Arg> outputs);

  // Lookup by name (placeholders and node outputs; a multi-output node's
  // outputs are found through the node).
  Value* FindValue(std::string_view name) const;
  Node* FindNode(std::string_view name) const;
  // A name not used yet, `base` itself if free, else base_1, base_2, ...
  std::string FreshName(std::string_view base);

 private:
  void AddUses(const Arg& arg, Node* user);
  void RemoveUses(const Arg& arg, Node* user);
  void Renumber();
  void Register(std::string name);

  std::vector<std::unique_ptr<Value>> placeholders_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<Arg> outputs_;
  absl::flat_hash_map<std::string, int> name_counts_;
};

}  // namespace kiln::ir

#endif  // KILN_COMPILER_IR_GRAPH_H_
