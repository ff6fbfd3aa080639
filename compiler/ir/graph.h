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
// Besides placeholders and nodes a graph holds tensor constants (values
// with data, no producer), `kiln::fused` nodes that carry a FusedKernel (a
// body graph, see docs/compiler.md "Fusion") and, after memory planning, a
// MemoryPlan.
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
#include <string_view>
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

  // The producing node; nullptr for placeholders and constants.
  Node* producer() const { return producer_; }
  bool is_placeholder() const { return producer_ == nullptr && !constant_; }
  // Index among the producer's outputs, among the graph's placeholders, or
  // among its constants.
  int index() const { return index_; }

  // A tensor constant of the graph (Graph::AddConstant, kiln.v1.Graph's
  // `constants`): its elements' bytes in row-major order of its sizes,
  // little-endian, as kiln.v1.Tensor.raw (bool: one byte 0/1). The layout
  // the value has (strides, offset) is its type's.
  bool is_constant() const { return constant_ != nullptr; }
  const std::string& constant_data() const { return *constant_; }
  const std::shared_ptr<const std::string>& shared_constant_data() const {
    return constant_;
  }

  // Memory planning (passes/memory_planning.h): the slot of
  // Graph::memory_plan() whose bytes this value's storage occupies, or -1
  // when the value is not planned (inputs, constants, views, graph outputs
  // and whatever their storage reaches; values created after planning).
  int buffer_slot() const { return buffer_slot_; }
  void set_buffer_slot(int slot) { buffer_slot_ = slot; }

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
  std::shared_ptr<const std::string> constant_;
  int buffer_slot_ = -1;
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

// What a fused kernel computes around its anchor (docs/compiler.md,
// "Fusion").
enum class FusionKind : uint8_t {
  kPointwise,  // pointwise nodes only, all of the iteration shape
  kReduction,  // one reduction with pointwise prologue and epilogue
  kSoftmax,    // _softmax / _log_softmax with prologue and epilogue
  kLayerNorm,  // native_layer_norm with prologue and epilogue
};
// "pointwise", "reduction", "softmax", "layer_norm".
std::string FusionKindName(FusionKind kind);
std::optional<FusionKind> FusionKindFromName(std::string_view name);

// The kernel a `kiln::fused` node runs: a body graph plus what a code
// generator needs to lay out its loops. Built by the fusion pass
// (passes/fusion.h); read by backends and the interpreter.
//
// Invariants (checked by the verifier): the body's placeholders are
// tensors, one per node input, of the same types (names are the body's
// own); its outputs are tensor values, one per node output, of the same
// types; its nodes are pointwise ops plus, except for kPointwise, exactly
// one anchor (a reduction, _softmax/_log_softmax or native_layer_norm);
// every body node's output sizes are `shape` (prologue, softmax and layer
// norm epilogues) or the anchor's output sizes (reduction epilogues); the
// body may use the enclosing graph's symbols.
struct FusedKernel {
  FusionKind kind = FusionKind::kPointwise;
  // The iteration space: the output sizes of every pointwise kernel's node;
  // the input sizes of the anchor otherwise.
  std::vector<ExprRef> shape;
  // The dims of `shape` the anchor reduces, ascending (a reduction's dims,
  // softmax's dim, layer norm's normalized trailing dims); empty for
  // kPointwise.
  std::vector<int64_t> reduce_dims;
  // Per body input, per dim of that input: the dim of `shape` it runs
  // along, or -1 where the input is broadcast (a size-1 dim). Element I of
  // the iteration space reads input i at sum_j stride_j * I[input_dims[i][j]]
  // (0 for -1 entries) past its storage offset.
  std::vector<std::vector<int>> input_dims;
  std::unique_ptr<Graph> body;
};

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
  // The kernel of a `kiln::fused` node (Graph::AddFusedNode); nullptr for
  // every other node.
  const FusedKernel* fused() const { return fused_.get(); }
  FusedKernel* mutable_fused() { return fused_.get(); }

 private:
  friend class Graph;
  Node() = default;

  const ops::OpDef* op_ = nullptr;
  std::string name_;
  std::vector<Arg> args_;
  std::vector<std::unique_ptr<Value>> outputs_;
  int index_ = 0;
  std::string stack_trace_;
  std::unique_ptr<FusedKernel> fused_;
};

// The result of memory planning (passes/memory_planning.h): intermediate
// buffers share slots of one arena when their lifetimes do not overlap.
// Values name their slot (Value::buffer_slot()).
struct MemoryPlan {
  // Bytes of each slot (a multiple of `alignment`), possibly symbolic.
  std::vector<ExprRef> slot_bytes;
  // Offset of each slot in the arena (prefix sums of slot_bytes).
  std::vector<ExprRef> slot_offsets;
  // The arena's size: the planned peak of intermediate memory.
  ExprRef peak_bytes;
  // What the planned values would take without sharing (their sum).
  ExprRef unshared_bytes;
  int64_t alignment = 64;
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
  // A `kiln::fused` node: `fused_op` must be that op (ops::GetOp
  // ("kiln::fused.default")); its argument is the list `inputs`, its outputs
  // have the types of `kernel.body`'s outputs. Takes ownership of `kernel`.
  Node* AddFusedNode(const ops::OpDef& fused_op, std::vector<Value*> inputs,
                     std::unique_ptr<FusedKernel> kernel, std::string name = "",
                     Node* before = nullptr);
  // Removes a node whose outputs have no uses.
  void RemoveNode(Node* node);
  // Puts the nodes in this order; `order` must be a permutation of nodes()
  // (CHECKed). Whether it is topological is the verifier's business.
  void ReorderNodes(const std::vector<Node*>& order);
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
  Value* FindValue(std::string_view name) const;  // constants included
  Node* FindNode(std::string_view name) const;
  // A name not used yet, `base` itself if free, else base_1, base_2, ...
  std::string FreshName(std::string_view base);

  // Tensor constants (kiln.v1.Graph's `constants`): `data` holds the
  // elements in row-major order (Value::constant_data()); its size must be
  // numel * element size of the static `type` (checked by the verifier).
  Value* AddConstant(std::string name, TensorType type,
                     std::shared_ptr<const std::string> data);
  // Removes a constant without uses.
  void RemoveConstant(Value* constant);
  const std::vector<std::unique_ptr<Value>>& constants() const {
    return constants_;
  }
  int num_constants() const { return static_cast<int>(constants_.size()); }

  // The memory plan, or nullptr before memory planning.
  const MemoryPlan* memory_plan() const { return memory_plan_.get(); }
  void set_memory_plan(std::unique_ptr<MemoryPlan> plan) {
    memory_plan_ = std::move(plan);
  }

 private:
  void AddUses(const Arg& arg, Node* user);
  void RemoveUses(const Arg& arg, Node* user);
  void Renumber();
  void Register(std::string name);

  std::vector<std::unique_ptr<Value>> placeholders_;
  std::vector<std::unique_ptr<Value>> constants_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::unique_ptr<MemoryPlan> memory_plan_;
  std::vector<Arg> outputs_;
  absl::flat_hash_map<std::string, int> name_counts_;
};

}  // namespace kiln::ir

#endif  // KILN_COMPILER_IR_GRAPH_H_
