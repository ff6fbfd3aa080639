// The IR text format: a printer and a parser that round-trip exactly
// (Print(Parse(Print(g))) == Print(g)). Golden tests read graphs from text,
// run something, print and compare.
//
//   graph(%x: f32[s0, 4], %y: f32[4, 3]{1, 4}, %n: SymInt(s1), %a: float) {
//     %add = aten::add.Tensor(%x, %x, alpha=2) : f32[s0, 4]
//     %mm = aten::mm.default(%add, %y) : f32[s0, 3]
//     %mx = aten::max.dim(%mm, 1) : (f32[s0], i64[s0])
//     return (%mm, %mx#1, None, s1)
//   }
//
// Types: dtype (f16 bf16 f32 f64 i8 i16 i32 i64 u8 b8), sizes in [], then
// strides in {} (right after the `]`) only when not the contiguous ones, `
// offset(E)` when the storage offset is not 0, ` cuda:N` off the CPU and `
// requires_grad`. Sizes, strides and offsets are symbolic expressions as
// sym::Expr prints them (`2*s0 + 1`, `FloorDiv(s0, 2)`).
//
// Nodes: `%name = target(args) : type` (or `: (type, type, None)` for
// several outputs). Arguments are printed positionally up to the last one
// that differs from its default, keyword-only ones as `name=value` when not
// the default. Values: `%v` (a value; `%v#i` is output i of a multi-output
// node), ints and symbolic ints, floats (always with `.`, `e`, `inf` or
// `nan`), `True`/`False`, `None`, "strings", lists `[...]`, dtypes
// `torch.float32`, `torch.strided`, `torch.contiguous_format`,
// `device("cuda:0")`.
//
// Placeholders: `%x: <tensor type>`, `%n: SymInt(<expr>)`, `%a: int`,
// `float`, `bool`, `str`, `NoneType`. `//` starts a comment.
//
// Tensor constants: `%c = constant([1.0, 2.5]) : f32[2]` (elements in
// row-major order, each in the shortest form that reads back exactly).
// A `kiln::fused` node is followed by ` {`, its kernel's layout
// (`kind=reduction, shape=[4, 8], reduce_dims=[1], input_dims=[[0, 1]]`),
// its body as a nested `graph(...) {...}` and `}` (docs/compiler.md,
// "Fusion"); ParseGraph verifies graphs with fused nodes. After memory
// planning, nodes end with `// slot N` and the plan follows the graph as
// comments.
//
// Parsing goes through kiln.v1.Graph and GraphFromProto, so text graphs get
// exactly the validation wire graphs get. Thread-safe (pure functions).
#ifndef KILN_COMPILER_IR_TEXT_H_
#define KILN_COMPILER_IR_TEXT_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "compiler/ir/graph.h"
#include "kiln/v1/graph.pb.h"

namespace kiln::ir {

std::string PrintGraph(const Graph& graph);

// Text -> graph. Syntax errors are INVALID_ARGUMENT with `line L, column
// C:`; semantic ones come from GraphFromProto (with their field paths).
absl::StatusOr<std::unique_ptr<Graph>> ParseGraph(std::string_view text);

// Text -> wire graph (no semantic validation beyond the syntax).
absl::StatusOr<v1::Graph> ParseGraphToProto(std::string_view text);

// One argument value as the text format prints it.
std::string PrintArg(const Arg& arg);

}  // namespace kiln::ir

#endif  // KILN_COMPILER_IR_TEXT_H_
