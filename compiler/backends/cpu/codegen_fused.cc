// Fused kernels: one loop nest per `kiln::fused` node (docs/compiler.md,
// "Fusion"), whatever its kind:
//   pointwise   RunPointwise over `shape`; the body's nodes become one
//               statement each per element (every intermediate rounded to
//               its own dtype, as unfused).
//   reduction   RunReduce: the prologue runs per element inside the
//               Reducer's Step (feeding the anchor's accumulator and writing
//               prologue values that are kernel outputs), the anchor's
//               result and the epilogue per output position in Store.
//   softmax     RunRows along the softmax dim: max and sum passes over the
//               prologue, then softmax and the epilogue per element.
//   layer_norm  RunRows over the normalized trailing dims: mean and
//               variance passes over the prologue, then the normalization,
//               weight, bias and the epilogue per element; mean and rstd
//               once per row.
// Bodies the generator does not handle (an integer division that may fail
// inside a reduction, a body output that is a body input) are UNIMPLEMENTED
// and the planner runs the node's reference implementation instead.
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "compiler/backends/cpu/codegen.h"
#include "compiler/backends/cpu/codegen_pointwise.h"
#include "compiler/backends/cpu/codegen_reduction.h"
#include "compiler/ir/fusion.h"
#include "compiler/ops/pointwise.h"

namespace kiln::cpu {
namespace {

using ir::DType;
using ops::PointwiseLowering;

std::string T(DType d) { return ops::CppStorageType(d); }

// The C++ of a fused body: one `const T v<i> = ...;` per pointwise body
// node, over expressions bound to the body's placeholders and to values
// computed elsewhere (an anchor's results).
class BodyCode {
 public:
  BodyCode(KernelBuilder& b, const ir::FusedKernel& kernel)
      : b_(b), body_(*kernel.body) {}

  void Bind(const ir::Value* v, std::string expr) {
    expr_[v] = std::move(expr);
  }
  bool Bound(const ir::Value* v) const { return expr_.contains(v); }
  std::string Expr(const ir::Value* v) const {
    auto it = expr_.find(v);
    return it == expr_.end() ? "" : it->second;
  }

  // Statements computing `nodes` (pointwise, in order); binds their outputs
  // to local variables.
  absl::StatusOr<std::string> Emit(const std::vector<const ir::Node*>& nodes,
                                   const std::string& indent) {
    std::string s;
    for (const ir::Node* n : nodes) {
      auto low = ops::LowerPointwise(*n);
      if (!low.ok()) return low.status();
      absl::Status bad;
      auto operand = [&](const PointwiseLowering::Input& in) -> std::string {
        switch (in.source) {
          case PointwiseLowering::Input::Source::kTensor: {
            std::string e = Expr(in.value);
            if (e.empty()) {
              bad = absl::InternalError(absl::StrCat(
                  "body value ", in.value->name(), " used before it is set"));
            }
            return e;
          }
          case PointwiseLowering::Input::Source::kScalarConstant:
            if (in.constant.kind == ir::Arg::Kind::kInt) {
              return b_.BodyIntArg(*n, in.arg);
            }
            bad = absl::UnimplementedError("non-integer symbolic constant");
            return "0";
          case PointwiseLowering::Input::Source::kScalarValue:
            bad = absl::UnimplementedError("scalar graph input in a body");
            return "0";
        }
        return "0";
      };
      std::string expr = ops::EmitPointwiseNode(*low, operand);
      if (!bad.ok()) return bad;
      if (low->integer_divisor >= 0) may_fail_ = true;
      std::string var = absl::StrCat("v", n->index());
      absl::StrAppend(&s, indent, "const ", T(low->result), " ", var, " = ",
                      expr, ";\n");
      if (low->integer_divisor >= 0) {
        const PointwiseLowering::Input& d = low->inputs[low->integer_divisor];
        std::string dv = d.source == PointwiseLowering::Input::Source::kTensor
                             ? Expr(d.value)
                             : ops::EmitScalarLiteral(d.constant);
        if (dv.empty()) dv = operand(d);
        absl::StrAppend(
            &s, indent, "if (",
            ops::EmitConvert(ops::EmitConvert(dv, d.dtype, d.load_dtype),
                             d.load_dtype, low->compute),
            " == 0) err = kiln::cpu::kZeroDivision;\n");
      }
      Bind(n->output(0), var);
    }
    return s;
  }

  bool may_fail() const { return may_fail_; }

 private:
  KernelBuilder& b_;
  const ir::Graph& body_;
  absl::flat_hash_map<const ir::Value*, std::string> expr_;
  bool may_fail_ = false;
};

std::string Header(const EmitContext& ctx, const ir::FusedKernel& k) {
  std::vector<std::string> ops;
  for (const auto& n : k.body->nodes()) ops.push_back(n->op().name());
  return absl::StrCat("// ", ctx.node.name(), ": fused ",
                      ir::FusionKindName(k.kind), " [",
                      absl::StrJoin(ops, ", "), "]\n");
}

// Nodes of the body that depend on `anchor` (transitively) or whose sizes
// differ from `shape`: the epilogue; the rest (but the anchor): the
// prologue.
void SplitBody(const ir::FusedKernel& k, const ir::Node* anchor,
               std::vector<const ir::Node*>* prologue,
               std::vector<const ir::Node*>* epilogue) {
  std::set<const ir::Value*> after;
  for (int i = 0; i < anchor->num_outputs(); ++i) {
    if (anchor->output(i)) after.insert(anchor->output(i));
  }
  for (const auto& n : k.body->nodes()) {
    if (n.get() == anchor) continue;
    bool dep = false;
    for (const ir::Value* v : n->Operands()) dep = dep || after.count(v) > 0;
    bool full =
        n->output(0) && ir::SameExprList(n->output(0)->type().sizes, k.shape);
    if (dep || !full) {
      epilogue->push_back(n.get());
      for (int i = 0; i < n->num_outputs(); ++i) {
        if (n->output(i)) after.insert(n->output(i));
      }
    } else {
      prologue->push_back(n.get());
    }
  }
}

// Operand registration shared by the kinds: kernel outputs first (the
// node's outputs), then the node's inputs. Returns the operand index of
// each body placeholder.
std::vector<int> AddOperands(KernelBuilder& b, const ir::Node& node) {
  for (int i = 0; i < node.num_outputs(); ++i) b.AddOutput(node.output(i));
  std::vector<int> index;
  for (const ir::Value* v : node.arg(0).values) index.push_back(b.AddInput(v));
  return index;
}

absl::Status CheckOutputs(const ir::FusedKernel& k) {
  for (const ir::Arg& o : k.body->outputs()) {
    if (o.kind != ir::Arg::Kind::kValue || o.value == nullptr ||
        o.value->is_placeholder()) {
      return absl::UnimplementedError("a body output that is a body input");
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------

absl::StatusOr<KernelCode> EmitFusedPointwise(const EmitContext& ctx,
                                              const ir::FusedKernel& k) {
  KernelBuilder b(ctx, "fused_pointwise");
  std::vector<int> in = AddOperands(b, ctx.node);
  BodyCode body(b, k);
  for (int i = 0; i < k.body->num_placeholders(); ++i) {
    body.Bind(k.body->placeholder(i),
              absl::StrCat("x", in[i], "[$i", in[i], "$]"));
  }
  std::vector<const ir::Node*> nodes;
  for (const auto& n : k.body->nodes()) nodes.push_back(n.get());
  auto stmts = body.Emit(nodes, "        ");
  if (!stmts.ok()) return stmts.status();
  std::string loop = *stmts;
  for (size_t j = 0; j < k.body->outputs().size(); ++j) {
    absl::StrAppend(&loop, "        ",
                    Assign(absl::StrCat("x", j, "[$i", j, "$]"),
                           body.Expr(k.body->outputs()[j].value),
                           b.dtype(static_cast<int>(j))),
                    "\n");
  }
  std::string src = absl::StrCat(
      Header(ctx, k), "KILN_KERNEL int ", ctx.symbol,
      "(const kiln::cpu::KernelArgs* a) {\n", b.ScalarDecls(),
      b.OperandTables(),
      PointwiseLoop(b, b.num_tensors(), loop, body.may_fail()), "}\n");
  return b.Finish(std::move(src));
}

// ---------------------------------------------------------------------------

absl::StatusOr<KernelCode> EmitFusedReduction(const EmitContext& ctx,
                                              const ir::FusedKernel& k) {
  const ir::Graph& g = *k.body;
  const ir::Node* anchor = ir::FindAnchor(g);
  if (anchor == nullptr) return absl::InternalError("no anchor");
  auto spec = ReducerFor(*anchor);
  if (!spec.ok()) return spec.status();
  std::vector<const ir::Node*> prologue, epilogue;
  SplitBody(k, anchor, &prologue, &epilogue);
  const int rank = static_cast<int>(k.shape.size());
  std::vector<bool> reduced(rank, false);
  for (int64_t d : k.reduce_dims) reduced[d] = true;

  KernelBuilder b(ctx, "fused_reduction");
  std::vector<int> in = AddOperands(b, ctx.node);
  // Which placeholders the prologue/anchor read (element operands) and
  // which the epilogue reads (row operands).
  std::set<const ir::Value*> elem_reads, row_reads;
  for (const ir::Node* n : prologue) {
    for (const ir::Value* v : n->Operands()) elem_reads.insert(v);
  }
  elem_reads.insert(anchor->arg(0).value);
  for (const ir::Node* n : epilogue) {
    for (const ir::Value* v : n->Operands()) row_reads.insert(v);
  }
  std::set<const ir::Value*> prologue_values;
  for (const ir::Node* n : prologue) prologue_values.insert(n->output(0));

  // Element operands: prologue outputs written by the kernel, then the
  // placeholders the prologue reads. Row operands: every other output, then
  // the placeholders the epilogue reads.
  struct Operand {
    int tensor;       // kernel tensor index
    int placeholder;  // body placeholder index, or -1 for an output
  };
  std::vector<Operand> elem, row;
  std::vector<int> out_elem_slot(ctx.node.num_outputs(), -1);
  std::vector<int> out_row_slot(ctx.node.num_outputs(), -1);
  for (size_t j = 0; j < g.outputs().size(); ++j) {
    const ir::Value* v = g.outputs()[j].value;
    if (prologue_values.count(v)) {
      out_elem_slot[j] = static_cast<int>(elem.size());
      elem.push_back({static_cast<int>(j), -1});
    }
  }
  std::vector<int> ph_elem(g.num_placeholders(), -1);
  std::vector<int> ph_row(g.num_placeholders(), -1);
  for (int i = 0; i < g.num_placeholders(); ++i) {
    if (elem_reads.count(g.placeholder(i))) {
      ph_elem[i] = static_cast<int>(elem.size());
      elem.push_back({in[i], i});
    }
  }
  for (size_t j = 0; j < g.outputs().size(); ++j) {
    if (out_elem_slot[j] < 0) {
      out_row_slot[j] = static_cast<int>(row.size());
      row.push_back({static_cast<int>(j), -1});
    }
  }
  for (int i = 0; i < g.num_placeholders(); ++i) {
    if (row_reads.count(g.placeholder(i))) {
      for (size_t d = 0; d < k.input_dims[i].size(); ++d) {
        int sd = k.input_dims[i][d];
        if (sd >= 0 && reduced[sd]) {
          return absl::UnimplementedError(
              "an epilogue input that runs along a reduced dim");
        }
      }
      ph_row[i] = static_cast<int>(row.size());
      row.push_back({in[i], i});
    }
  }
  if (elem.empty()) return absl::UnimplementedError("nothing to reduce");
  // Element operand 0 should be the main input (it orders the dims).
  for (size_t e = 0; e < elem.size(); ++e) {
    if (elem[e].placeholder >= 0 &&
        g.placeholder(elem[e].placeholder) == anchor->arg(0).value) {
      std::swap(elem[0], elem[e]);
      for (int& s : out_elem_slot) {
        if (s == 0)
          s = static_cast<int>(e);
        else if (s == static_cast<int>(e))
          s = 0;
      }
      for (int& s : ph_elem) {
        if (s == 0)
          s = static_cast<int>(e);
        else if (s == static_cast<int>(e))
          s = 0;
      }
      break;
    }
  }
  const int NE = static_cast<int>(elem.size());
  const int NR = static_cast<int>(row.size());

  // Step: loads, the prologue, prologue outputs, then `x`.
  auto step_code = [&](bool unit) -> absl::StatusOr<std::string> {
    BodyCode body(b, k);
    std::string s;
    for (int i = 0; i < g.num_placeholders(); ++i) {
      if (ph_elem[i] < 0) continue;
      int e = ph_elem[i];
      std::string t = b.StorageType(in[i]);
      body.Bind(g.placeholder(i),
                absl::StrCat("reinterpret_cast<const ", t, "*>(p[", e, "])[",
                             unit ? "i" : absl::StrCat("i * s[", e, "]"), "]"));
    }
    auto stmts = body.Emit(prologue, "    ");
    if (!stmts.ok()) return stmts.status();
    if (body.may_fail()) {
      return absl::UnimplementedError("integer division in a prologue");
    }
    s += *stmts;
    for (size_t j = 0; j < g.outputs().size(); ++j) {
      if (out_elem_slot[j] < 0) continue;
      int e = out_elem_slot[j];
      std::string t = b.StorageType(static_cast<int>(j));
      absl::StrAppend(
          &s, "    ",
          Assign(absl::StrCat("reinterpret_cast<", t, "*>(p[", e, "])[",
                              unit ? "i" : absl::StrCat("i * s[", e, "]"), "]"),
                 body.Expr(g.outputs()[j].value), b.dtype(static_cast<int>(j))),
          "\n");
    }
    const ir::Value* x = anchor->arg(0).value;
    absl::StrAppend(&s, "    const ", T(x->type().dtype), " x = ", body.Expr(x),
                    ";\n");
    return s;
  };
  auto step = step_code(false);
  if (!step.ok()) return step.status();
  auto step_unit = step_code(true);
  if (!step_unit.ok()) return step_unit.status();

  // Store: the anchor's outputs, the epilogue, the row outputs.
  BodyCode tail(b, k);
  std::string store;
  for (int i = 0; i < g.num_placeholders(); ++i) {
    if (ph_row[i] < 0) continue;
    std::string t = b.StorageType(in[i]);
    tail.Bind(g.placeholder(i), absl::StrCat("*reinterpret_cast<const ", t,
                                             "*>(o[", ph_row[i], "])"));
  }
  for (int i = 0, s = 0; i < anchor->num_outputs(); ++i) {
    if (anchor->output(i) == nullptr) continue;
    std::string var = absl::StrCat("r", i);
    absl::StrAppend(&store, "    const ", T(anchor->output(i)->type().dtype),
                    " ", var, " = ", spec->stores[s++], ";\n");
    tail.Bind(anchor->output(i), var);
  }
  auto epi = tail.Emit(epilogue, "    ");
  if (!epi.ok()) return epi.status();
  if (tail.may_fail()) {
    return absl::UnimplementedError("integer division in an epilogue");
  }
  store += *epi;
  for (size_t j = 0; j < g.outputs().size(); ++j) {
    if (out_row_slot[j] < 0) continue;
    absl::StrAppend(
        &store, "    ",
        Assign(absl::StrCat("(*reinterpret_cast<",
                            b.StorageType(static_cast<int>(j)), "*>(o[",
                            out_row_slot[j], "]))"),
               tail.Expr(g.outputs()[j].value), b.dtype(static_cast<int>(j))),
        "\n");
  }

  std::string rname = absl::StrCat(ctx.symbol, "_reducer");
  std::string decls = b.ScalarDecls();
  std::string scalars =
      decls.empty()
          ? ""
          : absl::StrCat("    const kiln::cpu::KernelArgs* a = args;\n", decls);
  std::string src = absl::StrCat(Header(ctx, k), spec->prelude);
  // The reducer reads scalar kernel arguments through `args`.
  ReducerSpec rs = *spec;
  std::string reducer = ReducerStruct(rname, rs, scalars + *step,
                                      scalars + *step_unit, scalars + store);
  absl::StrAppend(&src, reducer.substr(0, reducer.rfind("};")),
                  "  const kiln::cpu::KernelArgs* args;\n};\n");
  std::vector<std::string> red;
  for (bool r : reduced) red.push_back(r ? "true" : "false");
  if (red.empty()) red.push_back("false");
  absl::StrAppend(&src, "KILN_KERNEL int ", ctx.symbol,
                  "(const kiln::cpu::KernelArgs* a) {\n",
                  "  static constexpr bool kReduced[] = {",
                  absl::StrJoin(red, ", "), "};\n", "  int64_t shape[",
                  std::max(rank, 1), "];\n", "  int64_t es[", std::max(rank, 1),
                  "][", NE, "] = {};\n", "  int64_t rs[", std::max(rank, 1),
                  "][", std::max(NR, 1), "] = {};\n");
  // The shape: sizes of the anchor's input, read from an element operand
  // that has the full shape (an output of the prologue or a placeholder
  // whose input_dims are the identity), else from input_dims.
  std::string shape_code;
  for (int d = 0; d < rank; ++d) {
    std::string from;
    for (int i = 0; i < g.num_placeholders() && from.empty(); ++i) {
      for (size_t j = 0; j < k.input_dims[i].size(); ++j) {
        if (k.input_dims[i][j] == d &&
            !(k.body->placeholder(i)->type().sizes[j]->AsConst() == 1)) {
          from = absl::StrCat("a->tensors[", in[i], "].sizes[", j, "]");
          break;
        }
      }
    }
    if (from.empty()) {
      auto c = k.shape[d]->AsConst();
      if (!c) return absl::UnimplementedError("shape dim without an input");
      from = absl::StrCat("int64_t(", *c, ")");
    }
    absl::StrAppend(&shape_code, "  shape[", d, "] = ", from, ";\n");
  }
  src += shape_code;
  std::vector<std::string> eb, ee, rb, re;
  for (int e = 0; e < NE; ++e) {
    const Operand& op = elem[e];
    eb.push_back(absl::StrCat("a->tensors[", op.tensor, "].data"));
    ee.push_back(absl::StrCat(ir::ElementSize(b.dtype(op.tensor))));
    if (op.placeholder < 0) {
      absl::StrAppend(&src, "  for (int d = 0; d < ", rank, "; ++d) es[d][", e,
                      "] = a->tensors[", op.tensor, "].strides[d];\n");
    } else {
      const auto& dims = k.input_dims[op.placeholder];
      for (size_t j = 0; j < dims.size(); ++j) {
        if (dims[j] < 0) continue;
        absl::StrAppend(&src, "  es[", dims[j], "][", e, "] += a->tensors[",
                        op.tensor, "].strides[", j, "];\n");
      }
    }
  }
  for (int r = 0; r < NR; ++r) {
    const Operand& op = row[r];
    rb.push_back(absl::StrCat("a->tensors[", op.tensor, "].data"));
    re.push_back(absl::StrCat(ir::ElementSize(b.dtype(op.tensor))));
    if (op.placeholder < 0) {
      absl::StrAppend(&src, "  kiln::cpu::RowStrides<", NR, ">(a->tensors[",
                      op.tensor, "], ", rank, ", kReduced, ", r, ", rs);\n");
    } else {
      const auto& dims = k.input_dims[op.placeholder];
      for (size_t j = 0; j < dims.size(); ++j) {
        if (dims[j] < 0) continue;
        absl::StrAppend(&src, "  rs[", dims[j], "][", r, "] += a->tensors[",
                        op.tensor, "].strides[", j, "];\n");
      }
    }
  }
  if (rb.empty()) {
    rb.push_back("nullptr");
    re.push_back("1");
  }
  absl::StrAppend(&src, "  char* eb[", NE, "] = {", absl::StrJoin(eb, ", "),
                  "};\n", "  static constexpr int64_t ee[", NE, "] = {",
                  absl::StrJoin(ee, ", "), "};\n", "  char* rb[", rb.size(),
                  "] = {", absl::StrJoin(rb, ", "), "};\n",
                  "  static constexpr int64_t re[", re.size(), "] = {",
                  absl::StrJoin(re, ", "), "};\n",
                  "  return kiln::cpu::RunReduce<", NE, ", ", NR, ">(", rank,
                  ", shape, kReduced, eb, es, ee, rb, rs, re, "
                  "a->num_threads, ",
                  rname, "{a});\n}\n");
  return b.Finish(std::move(src));
}

// ---------------------------------------------------------------------------
// Softmax and layer norm: row kernels.

// The tensor index (output or input) with the full iteration shape.
int ShapeOperand(const ir::Node& node, const ir::FusedKernel& k,
                 const std::vector<int>& in) {
  for (int j = 0; j < node.num_outputs(); ++j) {
    if (ir::SameExprList(node.output(j)->type().sizes, k.shape)) return j;
  }
  for (int i = 0; i < k.body->num_placeholders(); ++i) {
    if (ir::SameExprList(k.body->placeholder(i)->type().sizes, k.shape)) {
      return in[i];
    }
  }
  return -1;
}

absl::StatusOr<KernelCode> EmitFusedRows(const EmitContext& ctx,
                                         const ir::FusedKernel& k) {
  const ir::Graph& g = *k.body;
  const ir::Node* anchor = ir::FindAnchor(g);
  if (anchor == nullptr) return absl::InternalError("no anchor");
  bool layer_norm = k.kind == ir::FusionKind::kLayerNorm;
  std::vector<const ir::Node*> prologue, epilogue;
  SplitBody(k, anchor, &prologue, &epilogue);
  const int rank = static_cast<int>(k.shape.size());
  KernelBuilder b(ctx, layer_norm ? "fused_layer_norm" : "fused_softmax");
  std::vector<int> in = AddOperands(b, ctx.node);
  int shape_op = ShapeOperand(ctx.node, k, in);
  if (shape_op < 0) return absl::UnimplementedError("no full-shape operand");
  int row_begin =
      k.reduce_dims.empty() ? rank : static_cast<int>(k.reduce_dims[0]);
  int row_count = static_cast<int>(k.reduce_dims.size());

  // Outputs written once per row (layer norm's mean and rstd).
  std::set<const ir::Value*> row_values;
  if (layer_norm) {
    if (anchor->output(1)) row_values.insert(anchor->output(1));
    if (anchor->output(2)) row_values.insert(anchor->output(2));
  }
  std::vector<int> ops = {shape_op};
  for (int t = 0; t < b.num_tensors(); ++t) {
    if (t != shape_op) ops.push_back(t);
  }
  std::vector<int> unit_ops;
  for (int t : ops) {
    bool row_const = t < ctx.node.num_outputs() &&
                     row_values.count(g.outputs()[t].value) > 0;
    if (!row_const) unit_ops.push_back(t);
  }

  const ir::Value* x = anchor->arg(0).value;
  DType out = anchor->output(0)->type().dtype;
  DType acc = (out == DType::kFloat64 || x->type().dtype == DType::kFloat64)
                  ? DType::kFloat64
                  : DType::kFloat32;
  std::string acc_t = T(acc);

  auto bind_inputs = [&](BodyCode& body) {
    for (int i = 0; i < g.num_placeholders(); ++i) {
      body.Bind(g.placeholder(i), absl::StrCat("x", in[i], "[$j", in[i], "$]"));
    }
  };
  // load(j): the prologue and the anchor's input in the accumulate type.
  BodyCode pro(b, k);
  bind_inputs(pro);
  auto pro_stmts = pro.Emit(prologue, "        ");
  if (!pro_stmts.ok()) return pro_stmts.status();
  if (pro.may_fail()) return absl::UnimplementedError("integer division");
  std::string load = absl::StrCat(
      "      auto load = [&](int64_t j) -> ", acc_t, " {\n", *pro_stmts,
      "        return ", ops::EmitConvert(pro.Expr(x), x->type().dtype, acc),
      ";\n      };\n");

  // The per-element pass: prologue again, the anchor's value, epilogue,
  // stores.
  BodyCode fin(b, k);
  bind_inputs(fin);
  auto fin_pro = fin.Emit(prologue, "        ");
  if (!fin_pro.ok()) return fin_pro.status();
  std::string per_elem = *fin_pro;
  std::string stats = absl::StrCat("      ", acc_t, "* t = kiln::cpu::Scratch<",
                                   acc_t, ">(0, n);\n");
  std::string xr = "t[j]";
  if (layer_norm) {
    absl::StrAppend(
        &stats, "      const ", acc_t, " sum = kiln::cpu::LoadRowSum<", acc_t,
        ">(n, t, load);\n", "      ", acc_t, " mean, rstd;\n",
        "      kiln::cpu::RowMoments<", acc_t, ">(n, t, sum, ", acc_t, "(",
        ops::EmitScalarLiteral(anchor->arg(4)), "), &mean, &rstd);\n");
    std::string y = absl::StrCat("(", xr, " - mean) * rstd");
    if (!anchor->arg(2).is_none()) {
      const ir::Value* w = anchor->arg(2).value;
      y = absl::StrCat("(", y, ") * ",
                       ops::EmitConvert(fin.Expr(w), w->type().dtype, acc));
    }
    if (!anchor->arg(3).is_none()) {
      const ir::Value* bias = anchor->arg(3).value;
      y = absl::StrCat(
          "(", y, ") + ",
          ops::EmitConvert(fin.Expr(bias), bias->type().dtype, acc));
    }
    absl::StrAppend(&per_elem, "        const ", T(out),
                    " a0 = ", ops::EmitConvert(y, acc, out), ";\n");
  } else {
    bool log = anchor->op().schema().name == "_log_softmax";
    absl::StrAppend(&stats, "      const ", acc_t,
                    " m = kiln::cpu::LoadRowMax<", acc_t, ">(n, t, load);\n");
    std::string v;
    if (log) {
      absl::StrAppend(&stats, "      const ", acc_t,
                      " lse = kiln::cpu::LogSumExp<", acc_t, ">(n, t, m);\n");
      v = absl::StrCat("(", xr, " - m) - lse");
    } else {
      absl::StrAppend(&stats, "      const ", acc_t,
                      " inv = kiln::cpu::SoftmaxExp<", acc_t, ">(n, t, m);\n");
      v = absl::StrCat(xr, " * inv");
    }
    absl::StrAppend(&per_elem, "        const ", T(out),
                    " a0 = ", ops::EmitConvert(v, acc, out), ";\n");
  }
  fin.Bind(anchor->output(0), "a0");
  auto epi = fin.Emit(epilogue, "        ");
  if (!epi.ok()) return epi.status();
  if (fin.may_fail()) return absl::UnimplementedError("integer division");
  per_elem += *epi;
  std::string row_stores;
  for (size_t j = 0; j < g.outputs().size(); ++j) {
    const ir::Value* v = g.outputs()[j].value;
    std::string t = b.StorageType(static_cast<int>(j));
    if (row_values.count(v)) {
      std::string value = v == anchor->output(1) ? "mean" : "rstd";
      absl::StrAppend(&row_stores, "      ",
                      Assign(absl::StrCat("x", j, "[0]"),
                             ops::EmitConvert(value, acc, v->type().dtype),
                             v->type().dtype),
                      "\n");
    } else {
      absl::StrAppend(&per_elem, "        ",
                      Assign(absl::StrCat("x", j, "[$j", j, "$]"), fin.Expr(v),
                             v->type().dtype),
                      "\n");
    }
  }
  std::string row_body =
      absl::StrCat(load, stats, "      for (int64_t j = 0; j < n; ++j) {\n",
                   per_elem, "      }\n", row_stores);
  std::string src = absl::StrCat(
      Header(ctx, k), "KILN_KERNEL int ", ctx.symbol,
      "(const kiln::cpu::KernelArgs* a) {\n", b.ScalarDecls(),
      RowLoop(b, row_begin, row_count, row_body, ops, unit_ops), "}\n");
  KernelCode code = b.Finish(std::move(src));
  // Layer norm rows span several dims: inputs must be dense there.
  if (layer_norm) code.row_dims = row_count;
  return code;
}

absl::StatusOr<KernelCode> EmitFused(const EmitContext& ctx) {
  const ir::FusedKernel* k = ctx.node.fused();
  if (k == nullptr) return absl::InternalError("a fused node without a kernel");
  if (auto st = CheckOutputs(*k); !st.ok()) return st;
  switch (k->kind) {
    case ir::FusionKind::kPointwise:
      return EmitFusedPointwise(ctx, *k);
    case ir::FusionKind::kReduction:
      return EmitFusedReduction(ctx, *k);
    case ir::FusionKind::kSoftmax:
    case ir::FusionKind::kLayerNorm:
      return EmitFusedRows(ctx, *k);
  }
  return absl::UnimplementedError("unknown fusion kind");
}

KILN_REGISTER_CPU_KERNEL(ir::kFusedOpName, EmitFused);

}  // namespace
}  // namespace kiln::cpu
