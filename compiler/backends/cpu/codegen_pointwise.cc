// Pointwise kernels: every op of the pointwise family through its codegen
// rule (ops::LowerPointwise + EmitPointwiseExpr), one loop nest per kernel
// on kernel_runtime.h's RunPointwise. Each row of the iteration space runs
// one of two loops: all strides 1 (vectorized by the host compiler) or
// general strides (broadcast and strided operands).
#include "compiler/backends/cpu/codegen_pointwise.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "compiler/backends/cpu/codegen.h"
#include "compiler/ops/pointwise.h"

namespace kiln::cpu {
namespace {

using ops::PointwiseLowering;

}  // namespace

std::string PointwiseLoop(const KernelBuilder& b, int num_tensors,
                          const std::string& body, bool may_fail) {
  // `body` uses $i<k> for the element index of operand k and x<k>/o<k>
  // for typed pointers (declared here).
  std::string s;
  absl::StrAppend(&s, "  return kiln::cpu::RunPointwise<", num_tensors,
                  ">(a, kOps, kElem, [&](int64_t n, char* const* p, "
                  "const int64_t* s) -> int {\n");
  const KernelCode& code = b.code();
  int num_outputs = static_cast<int>(code.outputs.size());
  bool in_place = !code.in_place.empty();
  for (int k = 0; k < num_tensors; ++k) {
    std::string t = b.StorageType(k);
    if (k < num_outputs) {
      absl::StrAppend(&s, "    ", t, "* ", in_place ? "" : "__restrict ", "x",
                      k, " = reinterpret_cast<", t, "*>(p[", k, "]);\n");
    } else {
      absl::StrAppend(&s, "    const ", t, "* x", k,
                      " = reinterpret_cast<const ", t, "*>(p[", k, "]);\n");
    }
  }
  absl::StrAppend(&s, "    int err = 0;\n");
  std::vector<std::string> unit_checks;
  for (int k = 0; k < num_tensors; ++k) {
    unit_checks.push_back(absl::StrCat("s[", k, "] == 1"));
  }
  auto instantiate = [&](bool unit) {
    absl::flat_hash_map<std::string, std::string> repl;
    for (int k = num_tensors - 1; k >= 0; --k) {
      repl[absl::StrCat("$i", k, "$")] = unit ? "i" : absl::StrCat("i * s", k);
    }
    return absl::StrReplaceAll(body, repl);
  };
  absl::StrAppend(&s, "    if (", absl::StrJoin(unit_checks, " && "),
                  ") {\n      for (int64_t i = 0; i < n; ++i) {\n",
                  instantiate(true), "      }\n    } else {\n");
  for (int k = 0; k < num_tensors; ++k) {
    absl::StrAppend(&s, "      const int64_t s", k, " = s[", k, "];\n");
  }
  absl::StrAppend(&s, "      for (int64_t i = 0; i < n; ++i) {\n",
                  instantiate(false), "      }\n    }\n");
  absl::StrAppend(
      &s, may_fail ? "    return err;\n" : "    (void)err;\n    return 0;\n");
  absl::StrAppend(&s, "  });\n");
  return s;
}

std::string RowLoop(const KernelBuilder& b, int row_begin, int row_count,
                    const std::string& row_body, const std::vector<int>& ops_in,
                    const std::vector<int>& unit_in) {
  int n = b.num_tensors();
  std::vector<int> ops = ops_in;
  if (ops.empty()) {
    for (int k = 0; k < n; ++k) ops.push_back(k);
  }
  std::vector<int> unit_ops = unit_in;
  if (unit_ops.empty()) unit_ops = ops;
  int num_outputs = static_cast<int>(b.code().outputs.size());
  // Position of each tensor in the RunRows operand order.
  std::vector<int> pos(n, -1);
  for (size_t i = 0; i < ops.size(); ++i) pos[ops[i]] = static_cast<int>(i);
  std::vector<std::string> op_list, elem_list;
  for (int k : ops) {
    op_list.push_back(absl::StrCat(k));
    elem_list.push_back(absl::StrCat(ir::ElementSize(b.dtype(k))));
  }
  std::string s = absl::StrCat(
      "  static constexpr int kRowOps[", ops.size(), "] = {",
      absl::StrJoin(op_list, ", "), "};\n",
      "  static constexpr int64_t kRowElem[", ops.size(), "] = {",
      absl::StrJoin(elem_list, ", "), "};\n",
      "  auto row = [&](char* const* p, const int64_t* rs, int64_t n) -> int "
      "{\n");
  for (int k = 0; k < n; ++k) {
    if (pos[k] < 0) continue;
    std::string t = b.StorageType(k);
    absl::StrAppend(&s, "    ", k < num_outputs ? "" : "const ", t, "* x", k,
                    " = reinterpret_cast<", k < num_outputs ? "" : "const ", t,
                    "*>(p[", pos[k], "]);\n");
  }
  std::string unit;
  for (int k : unit_ops) {
    absl::StrAppend(&unit, unit.empty() ? "" : " && ", "rs[", pos[k], "] == 1");
  }
  if (unit.empty()) unit = "true";
  auto inst = [&](bool u) {
    absl::flat_hash_map<std::string, std::string> repl;
    for (int k = 0; k < n; ++k) {
      repl[absl::StrCat("$j", k, "$")] = u ? "j" : absl::StrCat("j * r", k);
    }
    return absl::StrReplaceAll(row_body, repl);
  };
  absl::StrAppend(&s, "    if (", unit, ") {\n", inst(true), "    } else {\n");
  for (int k = 0; k < n; ++k) {
    if (pos[k] < 0) continue;
    absl::StrAppend(&s, "      const int64_t r", k, " = rs[", pos[k],
                    "];\n      (void)r", k, ";\n");
  }
  absl::StrAppend(&s, inst(false), "    }\n    return 0;\n  };\n");
  absl::StrAppend(&s, "  return kiln::cpu::RunRows<", ops.size(),
                  ">(a, kRowOps, kRowElem, ", row_begin, ", ", row_count,
                  ", row);\n");
  return s;
}

absl::StatusOr<std::vector<std::string>> PointwiseOperands(
    KernelBuilder& b, const ir::Node& node, const PointwiseLowering& low,
    const std::function<std::string(const ir::Value*)>& tensor_expr) {
  std::vector<std::string> exprs;
  for (const PointwiseLowering::Input& in : low.inputs) {
    std::string own;
    switch (in.source) {
      case PointwiseLowering::Input::Source::kTensor:
        own = tensor_expr(in.value);
        break;
      case PointwiseLowering::Input::Source::kScalarConstant: {
        own = ops::EmitScalarLiteral(in.constant);
        if (own.empty()) {
          if (in.constant.kind != ir::Arg::Kind::kInt) {
            return absl::UnimplementedError(absl::StrCat(
                node.op().name(), ": scalar argument without a literal"));
          }
          own = b.IntArg(in.arg);
        }
        break;
      }
      case PointwiseLowering::Input::Source::kScalarValue: {
        const ir::Value* v = in.value;
        if (v->kind() == ir::Value::Kind::kScalar &&
            v->scalar_kind() == ir::ScalarKind::kFloat) {
          own = b.ScalarInputFloat(v);
        } else if (v->kind() == ir::Value::Kind::kScalar &&
                   v->scalar_kind() == ir::ScalarKind::kBool) {
          own = absl::StrCat("(", b.ScalarInputInt(v), " != 0)");
        } else {
          own = b.ScalarInputInt(v);
        }
        break;
      }
    }
    exprs.push_back(
        ops::EmitConvert(ops::EmitConvert(own, in.dtype, in.load_dtype),
                         in.load_dtype, low.compute));
  }
  return exprs;
}

namespace {

absl::StatusOr<KernelCode> EmitPointwise(const EmitContext& ctx) {
  const ir::Node& node = ctx.node;
  auto low = ops::LowerPointwise(node);
  if (!low.ok()) return low.status();
  KernelBuilder b(ctx, "pointwise");
  b.AddOutput(node.output(0));
  std::vector<int> index_of;  // per lowering input: tensor operand or -1
  for (const PointwiseLowering::Input& in : low->inputs) {
    index_of.push_back(in.source == PointwiseLowering::Input::Source::kTensor
                           ? b.AddInput(in.value)
                           : -1);
  }
  auto exprs = PointwiseOperands(b, node, *low, [&](const ir::Value* v) {
    int k = b.AddInput(v);
    return absl::StrCat("x", k, "[$i", k, "$]");
  });
  if (!exprs.ok()) return exprs.status();
  std::string body;
  std::string compute = ops::CppStorageType(low->compute);
  std::vector<std::string> names;
  bool may_fail = false;
  for (size_t j = 0; j < exprs->size(); ++j) {
    std::string name = absl::StrCat("a", j);
    absl::StrAppend(&body, "        const ", compute, " ", name, " = ",
                    (*exprs)[j], ";\n");
    names.push_back(name);
  }
  if (low->integer_divisor >= 0) {
    may_fail = true;
    absl::StrAppend(&body, "        if (", names[low->integer_divisor],
                    " == 0) err = kiln::cpu::kZeroDivision;\n");
  }
  absl::StrAppend(&body, "        ",
                  Assign("x0[$i0$]",
                         ops::EmitConvert(ops::EmitPointwiseExpr(*low, names),
                                          low->compute, low->result),
                         low->result),
                  "\n");
  std::string src = absl::StrCat(
      "// ", node.op().name(), " (", node.name(), ")\n", "KILN_KERNEL int ",
      ctx.symbol, "(const kiln::cpu::KernelArgs* a) {\n", b.ScalarDecls(),
      b.OperandTables(), PointwiseLoop(b, b.num_tensors(), body, may_fail),
      "}\n");
  return b.Finish(std::move(src));
}

KILN_REGISTER_CPU_KERNEL(ops::OpCategory::kPointwise, EmitPointwise);

}  // namespace
}  // namespace kiln::cpu
