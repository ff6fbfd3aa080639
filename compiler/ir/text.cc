#include "compiler/ir/text.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "compiler/ir/convert.h"
#include "compiler/ir/verifier.h"
#include "compiler/ops/op_def.h"
#include "compiler/runtime/tensor.h"
#include "kiln/v1/symexpr.pb.h"
#include "kiln/v1/tensor.pb.h"

namespace kiln::ir {
namespace {

std::string FloatToString(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  std::string s;
  for (int p = 1; p <= 17; ++p) {
    s = absl::StrFormat("%.*g", p, f);
    if (std::strtod(s.c_str(), nullptr) == f) break;
  }
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string ValueName(const Value* v) { return absl::StrCat("%", v->name()); }

// The shortest decimal form that reads back as the same element of `dtype`.
std::string FloatElementToString(double v, DType dtype) {
  if (dtype == DType::kFloat64 || std::isnan(v) || std::isinf(v)) {
    return FloatToString(v);
  }
  if (v == std::floor(v) && std::fabs(v) < 1e16) {
    return absl::StrFormat("%.1f", v);  // exact: 65504.0, not 6.55e+04
  }
  int64_t es = ElementSize(dtype);
  uint8_t want[8] = {0}, got[8] = {0};
  rt::ConvertElement(reinterpret_cast<const uint8_t*>(&v), DType::kFloat64,
                     want, dtype);
  std::string s;
  for (int p = 1; p <= 17; ++p) {
    s = absl::StrFormat("%.*g", p, v);
    double back = std::strtod(s.c_str(), nullptr);
    rt::ConvertElement(reinterpret_cast<const uint8_t*>(&back), DType::kFloat64,
                       got, dtype);
    if (std::memcmp(want, got, es) == 0) break;
  }
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

// A constant's elements in row-major order: `[1.0, 2.5]`, `[1, 2]`,
// `[True, False]`.
std::string ConstantValues(const Value& c) {
  const std::string& data = c.constant_data();
  DType dtype = c.type().dtype;
  int64_t es = ElementSize(dtype);
  std::vector<std::string> parts;
  for (size_t off = 0; off + es <= data.size(); off += es) {
    const uint8_t* p = reinterpret_cast<const uint8_t*>(data.data() + off);
    if (dtype == DType::kBool) {
      parts.push_back(*p ? "True" : "False");
    } else if (IsFloating(dtype)) {
      parts.push_back(FloatElementToString(rt::LoadAsDouble(p, dtype), dtype));
    } else {
      parts.push_back(absl::StrCat(rt::LoadAsInt(p, dtype)));
    }
  }
  return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
}

std::string IntListString(const std::vector<int>& v) {
  return absl::StrCat("[", absl::StrJoin(v, ", "), "]");
}

void PrintGraphTo(const Graph& graph, const std::string& indent,
                  std::string* out);

// ` {` + the kernel's layout line + its body + `}` after a fused node.
void PrintKernel(const FusedKernel& k, const std::string& indent,
                 const std::string& comment, std::string* out) {
  std::vector<std::string> attrs;
  attrs.push_back(absl::StrCat("kind=", FusionKindName(k.kind)));
  attrs.push_back(absl::StrCat("shape=", ExprListToString(k.shape)));
  if (k.kind != FusionKind::kPointwise) {
    attrs.push_back(
        absl::StrCat("reduce_dims=[", absl::StrJoin(k.reduce_dims, ", "), "]"));
  }
  std::vector<std::string> dims;
  for (const auto& d : k.input_dims) dims.push_back(IntListString(d));
  attrs.push_back(absl::StrCat("input_dims=[", absl::StrJoin(dims, ", "), "]"));
  std::string inner = indent + "  ";
  absl::StrAppend(out, " {", comment, "\n", inner, absl::StrJoin(attrs, ", "),
                  "\n");
  PrintGraphTo(*k.body, inner, out);
  absl::StrAppend(out, indent, "}\n");
}

std::string SlotComment(const Node& n) {
  std::vector<std::string> slots;
  bool any = false;
  for (int i = 0; i < n.num_outputs(); ++i) {
    const Value* v = n.output(i);
    int slot = v ? v->buffer_slot() : -1;
    any = any || slot >= 0;
    slots.push_back(slot >= 0 ? absl::StrCat(slot) : "-");
  }
  if (!any) return "";
  return absl::StrCat("  // slot", slots.size() > 1 ? "s " : " ",
                      absl::StrJoin(slots, ", "));
}

}  // namespace

std::string PrintArg(const Arg& a) {
  switch (a.kind) {
    case Arg::Kind::kNone:
      return "None";
    case Arg::Kind::kInt:
      return a.i->ToString();
    case Arg::Kind::kFloat:
      return FloatToString(a.f);
    case Arg::Kind::kBool:
      return a.b ? "True" : "False";
    case Arg::Kind::kString:
      return Quote(a.s);
    case Arg::Kind::kIntList:
      return ExprListToString(a.ints);
    case Arg::Kind::kFloatList: {
      std::vector<std::string> parts;
      for (double f : a.floats) parts.push_back(FloatToString(f));
      return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
    }
    case Arg::Kind::kBoolList: {
      std::vector<std::string> parts;
      for (bool b : a.bools) parts.push_back(b ? "True" : "False");
      return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
    }
    case Arg::Kind::kDType:
      return std::string(TorchName(a.dtype));
    case Arg::Kind::kDevice:
      return absl::StrCat("device(\"", a.device.ToString(), "\")");
    case Arg::Kind::kLayout:
      return "torch.strided";
    case Arg::Kind::kMemoryFormat:
      return std::string(MemoryFormatName(a.memory_format));
    case Arg::Kind::kValue:
      return ValueName(a.value);
    case Arg::Kind::kValueList: {
      std::vector<std::string> parts;
      for (const Value* v : a.values) {
        parts.push_back(v ? ValueName(v) : "None");
      }
      return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
    }
  }
  return "?";
}

namespace {

void PrintGraphTo(const Graph& graph, const std::string& indent,
                  std::string* out) {
  std::vector<std::string> params;
  for (const auto& p : graph.placeholders()) {
    std::string type;
    switch (p->kind()) {
      case Value::Kind::kTensor:
        type = p->type().ToString();
        break;
      case Value::Kind::kSymInt:
        type = absl::StrCat("SymInt(", p->symint()->ToString(), ")");
        break;
      case Value::Kind::kScalar:
        type = std::string(ScalarKindName(p->scalar_kind()));
        break;
    }
    params.push_back(absl::StrCat(ValueName(p.get()), ": ", type));
  }
  absl::StrAppend(out, indent, "graph(", absl::StrJoin(params, ", "), ") {\n");
  for (const auto& c : graph.constants()) {
    absl::StrAppend(out, indent, "  %", c->name(), " = constant(",
                    ConstantValues(*c), ") : ", c->type().ToString(), "\n");
  }
  for (const auto& n : graph.nodes()) {
    const ops::Schema& schema = n->op().schema();
    int last_positional = -1;
    for (size_t i = 0; i < schema.arguments.size(); ++i) {
      const auto& sa = schema.arguments[i];
      if (sa.kwarg_only) continue;
      if (!sa.default_value || *sa.default_value != n->arg(i)) {
        last_positional = static_cast<int>(i);
      }
    }
    std::vector<std::string> args;
    for (size_t i = 0; i < schema.arguments.size(); ++i) {
      const auto& sa = schema.arguments[i];
      if (!sa.kwarg_only) {
        if (static_cast<int>(i) <= last_positional) {
          args.push_back(PrintArg(n->arg(i)));
        }
        continue;
      }
      bool is_default = sa.default_value ? *sa.default_value == n->arg(i)
                                         : n->arg(i).is_none();
      if (!is_default) {
        args.push_back(absl::StrCat(sa.name, "=", PrintArg(n->arg(i))));
      }
    }
    std::vector<std::string> types;
    for (int i = 0; i < n->num_outputs(); ++i) {
      types.push_back(n->output(i) ? n->output(i)->type().ToString() : "None");
    }
    std::string type_str =
        types.size() == 1 ? types[0]
                          : absl::StrCat("(", absl::StrJoin(types, ", "), ")");
    absl::StrAppend(out, indent, "  %", n->name(), " = ", n->op().name(), "(",
                    absl::StrJoin(args, ", "), ") : ", type_str);
    if (n->fused() != nullptr) {
      PrintKernel(*n->fused(), indent + "  ", SlotComment(*n), out);
    } else {
      absl::StrAppend(out, SlotComment(*n), "\n");
    }
  }
  std::vector<std::string> outs;
  for (const Arg& a : graph.outputs()) outs.push_back(PrintArg(a));
  absl::StrAppend(out, indent, "  return (", absl::StrJoin(outs, ", "), ")\n",
                  indent, "}\n");
}

// The memory plan as comments after the graph.
void PrintMemoryPlan(const Graph& graph, std::string* out) {
  const MemoryPlan* plan = graph.memory_plan();
  if (plan == nullptr) return;
  absl::StrAppend(out, "// memory plan: peak ", plan->peak_bytes->ToString(),
                  " bytes in ", plan->slot_bytes.size(), " slots (unshared ",
                  plan->unshared_bytes->ToString(), " bytes)\n");
  for (size_t i = 0; i < plan->slot_bytes.size(); ++i) {
    absl::StrAppend(out, "//   slot ", i, ": ", plan->slot_bytes[i]->ToString(),
                    " bytes at ", plan->slot_offsets[i]->ToString(), "\n");
  }
}

}  // namespace

std::string PrintGraph(const Graph& graph) {
  std::string out;
  PrintGraphTo(graph, "", &out);
  PrintMemoryPlan(graph, &out);
  return out;
}

namespace {

// Recursive-descent parser from text to kiln.v1.Graph.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  absl::StatusOr<v1::Graph> Parse() {
    v1::Graph g;
    if (auto st = ParseGraphBlock(&g, /*depth=*/0); !st.ok()) return st;
    SkipSpace();
    if (pos_ != text_.size()) return Error("trailing text after the graph");
    return g;
  }

  // The kernels of the fused nodes parsed so far, by node name.
  absl::flat_hash_map<std::string, FusedKernelSpec>& kernels() {
    return kernels_;
  }

 private:
  // `graph(...) { ... }`; depth 1 is a fused node's body.
  absl::Status ParseGraphBlock(v1::Graph* g, int depth) {
    if (!Keyword("graph")) return Error("expected 'graph'");
    if (!Consume('(')) return Error("expected '('");
    if (!Consume(')')) {
      while (true) {
        if (auto st = ParsePlaceholder(g->add_placeholders()); !st.ok()) {
          return st;
        }
        if (Consume(')')) break;
        if (!Consume(',')) return Error("expected ',' or ')'");
      }
    }
    if (!Consume('{')) return Error("expected '{'");
    while (true) {
      SkipSpace();
      if (Keyword("return")) break;
      if (auto st = ParseStatement(g, depth); !st.ok()) return st;
    }
    if (!Consume('(')) return Error("expected '(' after return");
    if (!Consume(')')) {
      while (true) {
        auto a = ParseValue();
        if (!a.ok()) return a.status();
        *g->add_outputs() = *std::move(a);
        if (Consume(')')) break;
        if (!Consume(',')) return Error("expected ',' or ')'");
      }
    }
    if (!Consume('}')) return Error("expected '}'");
    return absl::OkStatus();
  }

  void SkipSpace() {
    while (pos_ < text_.size()) {
      if (std::isspace(static_cast<unsigned char>(text_[pos_]))) {
        ++pos_;
      } else if (text_.substr(pos_, 2) == "//") {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }
  char Peek() {
    SkipSpace();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }
  bool Consume(char c) {
    if (Peek() == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool IsNameChar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
           c == '.' || c == '$';
  }
  // A word (identifier with dots, e.g. torch.float32).
  std::string Word() {
    SkipSpace();
    size_t start = pos_;
    while (pos_ < text_.size() && IsNameChar(text_[pos_])) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }
  std::string PeekWord() {
    size_t save = pos_;
    std::string w = Word();
    pos_ = save;
    return w;
  }
  bool Keyword(std::string_view kw) {
    size_t save = pos_;
    if (Word() == kw) return true;
    pos_ = save;
    return false;
  }
  absl::Status Error(std::string_view msg) {
    int line = 1, col = 1;
    for (size_t i = 0; i < pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return absl::InvalidArgumentError(
        absl::StrFormat("line %d, column %d: %s", line, col, msg));
  }

  absl::StatusOr<std::string> ValueName() {
    if (!Consume('%')) return Error("expected '%name'");
    size_t start = pos_;
    while (pos_ < text_.size() && IsNameChar(text_[pos_])) ++pos_;
    if (start == pos_) return Error("expected a name after '%'");
    return std::string(text_.substr(start, pos_ - start));
  }

  // Integer expressions: sums of products of atoms.
  absl::StatusOr<ExprRef> Expr() {
    auto first = Term();
    if (!first.ok()) return first;
    std::vector<ExprRef> terms = {*first};
    while (true) {
      char c = Peek();
      if (c == '+' || (c == '-' && !IsArrowAhead())) {
        ++pos_;
        auto t = Term();
        if (!t.ok()) return t;
        terms.push_back(c == '+' ? *t : sym::Expr::Neg(*t));
      } else {
        break;
      }
    }
    return terms.size() == 1 ? terms[0] : sym::Expr::Add(terms);
  }
  bool IsArrowAhead() { return text_.substr(pos_, 2) == "->"; }
  absl::StatusOr<ExprRef> Term() {
    auto first = Unary();
    if (!first.ok()) return first;
    std::vector<ExprRef> factors = {*first};
    while (Consume('*')) {
      auto f = Unary();
      if (!f.ok()) return f;
      factors.push_back(*f);
    }
    return factors.size() == 1 ? factors[0] : sym::Expr::Mul(factors);
  }
  absl::StatusOr<ExprRef> Unary() {
    if (Consume('-')) {
      auto e = Unary();
      if (!e.ok()) return e;
      return sym::Expr::Neg(*e);
    }
    return Atom();
  }
  absl::StatusOr<std::vector<ExprRef>> CallArgs() {
    std::vector<ExprRef> args;
    if (!Consume('(')) return Error("expected '('");
    while (true) {
      auto e = Expr();
      if (!e.ok()) return e.status();
      args.push_back(*e);
      if (Consume(')')) break;
      if (!Consume(',')) return Error("expected ',' or ')'");
    }
    return args;
  }
  absl::StatusOr<ExprRef> Atom() {
    if (Consume('(')) {
      auto e = Expr();
      if (!e.ok()) return e;
      if (!Consume(')')) return Error("expected ')'");
      return e;
    }
    SkipSpace();
    if (pos_ < text_.size() &&
        std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
      size_t start = pos_;
      while (pos_ < text_.size() &&
             std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
        ++pos_;
      }
      int64_t v;
      if (!absl::SimpleAtoi(std::string(text_.substr(start, pos_ - start)),
                            &v)) {
        return Error("integer out of range");
      }
      return sym::Expr::Const(v);
    }
    std::string w = Word();
    if (w.empty()) return Error("expected an integer expression");
    if (w == "FloorDiv" || w == "Mod") {
      auto args = CallArgs();
      if (!args.ok()) return args.status();
      if (args->size() != 2)
        return Error(absl::StrCat(w, " takes 2 arguments"));
      return w == "FloorDiv" ? sym::Expr::FloorDiv((*args)[0], (*args)[1])
                             : sym::Expr::Mod((*args)[0], (*args)[1]);
    }
    if (w == "Min" || w == "Max") {
      auto args = CallArgs();
      if (!args.ok()) return args.status();
      return w == "Min" ? sym::Expr::Min(*args) : sym::Expr::Max(*args);
    }
    return sym::Expr::Symbol(w);
  }

  absl::Status ExprList(char close, std::vector<ExprRef>* out) {
    if (Consume(close)) return absl::OkStatus();
    while (true) {
      auto e = Expr();
      if (!e.ok()) return e.status();
      out->push_back(*e);
      if (Consume(close)) return absl::OkStatus();
      if (!Consume(',')) return Error("expected ','");
    }
  }

  void DimToProto(const ExprRef& e, v1::Dim* d) {
    if (auto c = e->AsConst()) {
      d->set_static_size(*c);
    } else {
      sym::ToProto(*e, d->mutable_expr());
    }
  }

  absl::Status TensorType(v1::TensorMeta* meta) {
    std::string dtype_name = Word();
    auto dtype = DTypeFromShortName(dtype_name);
    if (!dtype) return Error(absl::StrCat("unknown dtype '", dtype_name, "'"));
    meta->set_dtype(static_cast<v1::DType>(DTypeToProto(*dtype)));
    if (!Consume('[')) return Error("expected '[' after the dtype");
    std::vector<ExprRef> sizes, strides;
    if (auto st = ExprList(']', &sizes); !st.ok()) return st;
    // Strides follow the sizes immediately (`f32[4, 3]{1, 4}`); a `{` after
    // a space opens a fused node's kernel block.
    if (pos_ < text_.size() && text_[pos_] == '{') {
      ++pos_;
      if (auto st = ExprList('}', &strides); !st.ok()) return st;
      if (strides.size() != sizes.size()) {
        return Error("strides and sizes differ in length");
      }
    } else {
      strides = ContiguousStrides(sizes);
    }
    for (const ExprRef& e : sizes) DimToProto(e, meta->add_sizes());
    for (const ExprRef& e : strides) DimToProto(e, meta->add_strides());
    v1::Device* device = meta->mutable_device();
    device->set_type(v1::CPU);
    while (true) {
      std::string w = PeekWord();
      if (w == "offset") {
        Word();
        if (!Consume('(')) return Error("expected '(' after offset");
        auto e = Expr();
        if (!e.ok()) return e.status();
        if (!Consume(')')) return Error("expected ')'");
        DimToProto(*e, meta->mutable_storage_offset());
      } else if (w == "cpu") {
        Word();
      } else if (w == "cuda") {
        Word();
        if (!Consume(':')) return Error("expected ':' after cuda");
        SkipSpace();
        size_t start = pos_;
        while (pos_ < text_.size() &&
               std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
          ++pos_;
        }
        int index;
        if (!absl::SimpleAtoi(std::string(text_.substr(start, pos_ - start)),
                              &index)) {
          return Error("expected a device index");
        }
        device->set_type(v1::CUDA);
        device->set_index(index);
      } else if (w == "requires_grad") {
        Word();
        meta->set_requires_grad(true);
      } else {
        break;
      }
    }
    return absl::OkStatus();
  }

  absl::Status ParsePlaceholder(v1::Placeholder* p) {
    auto name = ValueName();
    if (!name.ok()) return name.status();
    p->set_name(*name);
    if (!Consume(':')) return Error("expected ':' after the input name");
    std::string w = PeekWord();
    if (w == "SymInt") {
      Word();
      if (!Consume('(')) return Error("expected '(' after SymInt");
      auto e = Expr();
      if (!e.ok()) return e.status();
      if (!Consume(')')) return Error("expected ')'");
      sym::ToProto(**e, p->mutable_symint()->mutable_expr());
      return absl::OkStatus();
    }
    struct {
      const char* name;
      v1::ScalarKind kind;
    } kScalars[] = {{"int", v1::SCALAR_KIND_INT},
                    {"float", v1::SCALAR_KIND_FLOAT},
                    {"bool", v1::SCALAR_KIND_BOOL},
                    {"str", v1::SCALAR_KIND_STRING},
                    {"NoneType", v1::SCALAR_KIND_NONE}};
    for (const auto& s : kScalars) {
      if (w == s.name) {
        Word();
        p->mutable_scalar()->set_kind(s.kind);
        return absl::OkStatus();
      }
    }
    return TensorType(p->mutable_tensor());
  }

  // A node, or a constant: `%c = constant([1.0, 2.0]) : f32[2]`.
  absl::Status ParseStatement(v1::Graph* g, int depth) {
    auto name = ValueName();
    if (!name.ok()) return name.status();
    if (!Consume('=')) return Error("expected '='");
    SkipSpace();
    size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != '(' &&
           !std::isspace(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
    std::string target(text_.substr(start, pos_ - start));
    if (target == "constant") {
      v1::GraphConstant* c = g->add_constants();
      c->set_name(*name);
      return ParseConstant(c->mutable_value());
    }
    v1::Node* n = g->add_nodes();
    n->set_name(*name);
    n->set_target(target);
    if (auto st = ParseNodeRest(n); !st.ok()) return st;
    if (Consume('{')) {
      if (depth > 0) return Error("fused nodes do not nest");
      FusedKernelSpec spec;
      if (auto st = ParseKernel(&spec); !st.ok()) return st;
      kernels_[*name] = std::move(spec);
    }
    return absl::OkStatus();
  }

  // `([v, ...]) : type` of a constant.
  absl::Status ParseConstant(v1::Tensor* t) {
    if (!Consume('(')) return Error("expected '(' after constant");
    if (!Consume('[')) return Error("expected '[' and the constant's values");
    std::vector<v1::Argument> items;
    if (!Consume(']')) {
      while (true) {
        auto v = ParseValue();
        if (!v.ok()) return v.status();
        if (!v->has_int_value() && !v->has_float_value() &&
            !v->has_bool_value()) {
          return Error("a constant's elements are numbers or bools");
        }
        items.push_back(*std::move(v));
        if (Consume(']')) break;
        if (!Consume(',')) return Error("expected ',' or ']'");
      }
    }
    if (!Consume(')')) return Error("expected ')'");
    if (!Consume(':')) return Error("expected ':' and the constant's type");
    v1::TensorMeta meta;
    if (auto st = TensorType(&meta); !st.ok()) return st;
    auto static_value = [&](const v1::Dim& d, int64_t* out) {
      if (!d.has_expr()) {
        *out = d.static_size();
        return true;
      }
      return false;
    };
    t->set_dtype(meta.dtype());
    *t->mutable_device() = meta.device();
    t->set_requires_grad(meta.requires_grad());
    int64_t numel = 1;
    for (const v1::Dim& d : meta.sizes()) {
      int64_t v;
      if (!static_value(d, &v)) return Error("a constant's sizes are static");
      t->add_sizes(v);
      numel *= v;
    }
    for (const v1::Dim& d : meta.strides()) {
      int64_t v;
      if (!static_value(d, &v)) return Error("a constant's strides are static");
      t->add_strides(v);
    }
    if (meta.has_storage_offset()) {
      int64_t v;
      if (!static_value(meta.storage_offset(), &v)) {
        return Error("a constant's offset is static");
      }
      t->set_storage_offset(v);
    }
    if (static_cast<int64_t>(items.size()) != numel) {
      return Error(absl::StrFormat("%d values for a constant of %d elements",
                                   items.size(), numel));
    }
    auto dtype_or = DTypeFromProto(meta.dtype(), "dtype");
    if (!dtype_or.ok()) return dtype_or.status();
    DType dtype = *dtype_or;
    int64_t es = ElementSize(dtype);
    std::string raw(items.size() * es, '\0');
    for (size_t i = 0; i < items.size(); ++i) {
      rt::Scalar sc = items[i].has_int_value()
                          ? rt::Scalar::Int(items[i].int_value())
                      : items[i].has_float_value()
                          ? rt::Scalar::Float(items[i].float_value())
                          : rt::Scalar::Bool(items[i].bool_value());
      rt::StoreScalar(sc, dtype, reinterpret_cast<uint8_t*>(&raw[i * es]));
    }
    t->set_raw(std::move(raw));
    return absl::OkStatus();
  }

  // `kind=..., shape=[...], reduce_dims=[...], input_dims=[[...], ...]`, the
  // body `graph(...) {...}`, then `}`.
  absl::Status ParseKernel(FusedKernelSpec* spec) {
    bool have_kind = false;
    while (true) {
      std::string key = Word();
      if (key == "graph") {
        pos_ -= key.size();
        break;
      }
      if (key.empty()) return Error("expected a kernel attribute or 'graph'");
      if (!Consume('=')) return Error("expected '=' after the attribute");
      if (key == "kind") {
        std::string kind = Word();
        auto k = FusionKindFromName(kind);
        if (!k) return Error(absl::StrCat("unknown fusion kind '", kind, "'"));
        spec->kind = *k;
        have_kind = true;
      } else if (key == "shape") {
        if (!Consume('[')) return Error("expected '['");
        if (auto st = ExprList(']', &spec->shape); !st.ok()) return st;
      } else if (key == "reduce_dims" || key == "input_dims") {
        auto v = ParseValue();
        if (!v.ok()) return v.status();
        auto ints = [&](const v1::Argument& a,
                        std::vector<int64_t>* out) -> absl::Status {
          if (a.has_ints()) {
            out->assign(a.ints().values().begin(), a.ints().values().end());
            return absl::OkStatus();
          }
          return Error(absl::StrCat("expected a list of ints for ", key));
        };
        if (key == "reduce_dims") {
          if (auto st = ints(*v, &spec->reduce_dims); !st.ok()) return st;
        } else if (v->has_ints() && v->ints().values_size() == 0) {
          spec->input_dims.clear();
        } else if (v->has_list()) {
          for (const v1::Argument& e : v->list().values()) {
            std::vector<int64_t> d;
            if (auto st = ints(e, &d); !st.ok()) return st;
            spec->input_dims.emplace_back(d.begin(), d.end());
          }
        } else {
          return Error("expected a list of lists for input_dims");
        }
      } else {
        return Error(absl::StrCat("unknown kernel attribute '", key, "'"));
      }
      Consume(',');
    }
    if (!have_kind) return Error("a kernel needs kind=...");
    if (auto st = ParseGraphBlock(&spec->body, /*depth=*/1); !st.ok()) {
      return st;
    }
    if (!Consume('}')) return Error("expected '}' after the kernel body");
    return absl::OkStatus();
  }

  absl::Status ParseNodeRest(v1::Node* n) {
    if (!Consume('(')) return Error("expected '(' after the op name");
    if (!Consume(')')) {
      while (true) {
        // keyword argument?
        size_t save = pos_;
        std::string w = Word();
        if (!w.empty() && Peek() == '=' && w.find('.') == std::string::npos) {
          ++pos_;
          v1::NamedArgument* kw = n->add_kwargs();
          kw->set_name(w);
          auto v = ParseValue();
          if (!v.ok()) return v.status();
          *kw->mutable_value() = *std::move(v);
        } else {
          pos_ = save;
          if (n->kwargs_size() > 0) {
            return Error("positional argument after a keyword argument");
          }
          auto v = ParseValue();
          if (!v.ok()) return v.status();
          *n->add_args() = *std::move(v);
        }
        if (Consume(')')) break;
        if (!Consume(',')) return Error("expected ',' or ')'");
      }
    }
    if (!Consume(':')) return Error("expected ':' and the output type");
    auto output = [&]() -> absl::Status {
      v1::NodeOutput* o = n->add_outputs();
      if (Keyword("None")) {
        o->mutable_none();
        return absl::OkStatus();
      }
      return TensorType(o->mutable_tensor());
    };
    if (Consume('(')) {
      while (true) {
        if (auto st = output(); !st.ok()) return st;
        if (Consume(')')) break;
        if (!Consume(',')) return Error("expected ',' or ')'");
      }
    } else {
      if (auto st = output(); !st.ok()) return st;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<v1::Argument> ParseValue() {
    v1::Argument a;
    char c = Peek();
    if (c == '%') {
      auto name = ValueName();
      if (!name.ok()) return name.status();
      std::string n = *name;
      int index = 0;
      if (Consume('#')) {
        size_t start = pos_;
        while (pos_ < text_.size() &&
               std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
          ++pos_;
        }
        if (!absl::SimpleAtoi(std::string(text_.substr(start, pos_ - start)),
                              &index)) {
          return Error("expected an output index after '#'");
        }
      }
      a.mutable_ref()->set_node(n);
      a.mutable_ref()->set_output_index(index);
      return a;
    }
    if (c == '"') {
      ++pos_;
      std::string s;
      while (pos_ < text_.size() && text_[pos_] != '"') {
        if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) {
          ++pos_;
          s += text_[pos_] == 'n' ? '\n' : text_[pos_];
        } else {
          s += text_[pos_];
        }
        ++pos_;
      }
      if (pos_ >= text_.size()) return Error("unterminated string");
      ++pos_;
      a.set_string_value(s);
      return a;
    }
    if (c == '[') {
      ++pos_;
      std::vector<v1::Argument> items;
      if (!Consume(']')) {
        while (true) {
          auto v = ParseValue();
          if (!v.ok()) return v.status();
          items.push_back(*std::move(v));
          if (Consume(']')) break;
          if (!Consume(',')) return Error("expected ',' or ']'");
        }
      }
      bool all_int = true, all_float = true, all_bool = true;
      for (const auto& i : items) {
        all_int = all_int && i.has_int_value();
        all_float = all_float && i.has_float_value();
        all_bool = all_bool && i.has_bool_value();
      }
      if (items.empty() || all_int) {
        auto* ints = a.mutable_ints();
        for (const auto& i : items) ints->add_values(i.int_value());
      } else if (all_float) {
        auto* f = a.mutable_floats();
        for (const auto& i : items) f->add_values(i.float_value());
      } else if (all_bool) {
        auto* b = a.mutable_bools();
        for (const auto& i : items) b->add_values(i.bool_value());
      } else {
        auto* list = a.mutable_list();
        for (auto& i : items) *list->add_values() = std::move(i);
      }
      return a;
    }
    std::string w = PeekWord();
    if (w == "None") {
      Word();
      a.mutable_none();
      return a;
    }
    if (w == "True" || w == "False") {
      Word();
      a.set_bool_value(w == "True");
      return a;
    }
    if (w == "inf" || w == "nan") {
      Word();
      a.set_float_value(w == "inf" ? HUGE_VAL : std::nan(""));
      return a;
    }
    if (w == "device") {
      Word();
      if (!Consume('(')) return Error("expected '(' after device");
      auto s = ParseValue();
      if (!s.ok()) return s.status();
      if (!Consume(')')) return Error("expected ')'");
      auto d = Device::Parse(s->string_value());
      if (!d) return Error("bad device");
      a.mutable_device()->set_type(d->type == Device::Type::kCpu ? v1::CPU
                                                                 : v1::CUDA);
      a.mutable_device()->set_index(d->index);
      return a;
    }
    if (w.rfind("torch.", 0) == 0) {
      Word();
      if (auto d = DTypeFromTorchName(w)) {
        a.set_dtype(static_cast<v1::DType>(DTypeToProto(*d)));
        return a;
      }
      if (w == "torch.strided") {
        a.set_layout(v1::LAYOUT_STRIDED);
        return a;
      }
      const struct {
        MemoryFormat f;
        v1::MemoryFormat p;
      } kFormats[] = {
          {MemoryFormat::kContiguous, v1::MEMORY_FORMAT_CONTIGUOUS},
          {MemoryFormat::kChannelsLast, v1::MEMORY_FORMAT_CHANNELS_LAST},
          {MemoryFormat::kChannelsLast3d, v1::MEMORY_FORMAT_CHANNELS_LAST_3D},
          {MemoryFormat::kPreserve, v1::MEMORY_FORMAT_PRESERVE},
      };
      for (const auto& f : kFormats) {
        if (w == MemoryFormatName(f.f)) {
          a.set_memory_format(f.p);
          return a;
        }
      }
      return Error(absl::StrCat("unknown constant ", w));
    }
    // A number: float if it has '.', 'e' or is inf/nan; else an integer
    // expression.
    SkipSpace();
    size_t start = pos_;
    bool negative = false;
    size_t p = pos_;
    if (p < text_.size() && text_[p] == '-') {
      negative = true;
      ++p;
    }
    size_t q = p;
    while (q < text_.size() &&
           (std::isalnum(static_cast<unsigned char>(text_[q])) ||
            text_[q] == '.' ||
            ((text_[q] == '-' || text_[q] == '+') && q > p &&
             (text_[q - 1] == 'e' || text_[q - 1] == 'E')))) {
      ++q;
    }
    std::string tok(text_.substr(p, q - p));
    bool numeric_start =
        !tok.empty() && (std::isdigit(static_cast<unsigned char>(tok[0])) ||
                         tok == "inf" || tok == "nan");
    if (numeric_start && (tok.find_first_of(".eE") != std::string::npos ||
                          tok == "inf" || tok == "nan")) {
      double d;
      if (tok == "inf") {
        d = HUGE_VAL;
      } else if (tok == "nan") {
        d = std::nan("");
      } else if (!absl::SimpleAtod(tok, &d)) {
        return Error(absl::StrCat("bad float '", tok, "'"));
      }
      pos_ = q;
      a.set_float_value(negative ? -d : d);
      return a;
    }
    pos_ = start;
    auto e = Expr();
    if (!e.ok()) return e.status();
    if (auto v = (*e)->AsConst()) {
      a.set_int_value(*v);
    } else {
      sym::ToProto(**e, a.mutable_sym());
    }
    return a;
  }

  std::string_view text_;
  size_t pos_ = 0;
  absl::flat_hash_map<std::string, FusedKernelSpec> kernels_;
};

}  // namespace

absl::StatusOr<v1::Graph> ParseGraphToProto(std::string_view text) {
  return Parser(text).Parse();
}

absl::StatusOr<std::unique_ptr<Graph>> ParseGraph(std::string_view text) {
  Parser parser(text);
  auto proto = parser.Parse();
  if (!proto.ok()) return proto.status();
  if (parser.kernels().empty()) return GraphFromProto(*proto);
  ConvertOptions options;
  options.fused_kernels = &parser.kernels();
  auto graph = GraphFromProto(*proto, options);
  if (!graph.ok()) return graph.status();
  // Fused nodes are checked against their bodies by the verifier.
  if (auto st = VerifyGraph(**graph); !st.ok()) return st;
  return graph;
}

}  // namespace kiln::ir
