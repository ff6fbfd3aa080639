#include "compiler/symbolic/expr.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kiln/v1/symexpr.pb.h"

namespace kiln::sym {
namespace {

// Wrapping arithmetic for constant folding of sizes (never UB).
int64_t WrapAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) +
                              static_cast<uint64_t>(b));
}
int64_t WrapMul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) *
                              static_cast<uint64_t>(b));
}

// Python semantics: rounds toward negative infinity; the remainder has the
// divisor's sign.
int64_t PyFloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
int64_t PyMod(int64_t a, int64_t b) {
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

const std::string& Key(const ExprRef& e) { return e->ToString(); }

bool KeyLess(const ExprRef& a, const ExprRef& b) { return Key(a) < Key(b); }

// Operand order of symmetric relations: constants last, then by key.
bool RelationOrder(const ExprRef& a, const ExprRef& b) {
  bool ca = a->AsConst().has_value(), cb = b->AsConst().has_value();
  if (ca != cb) return cb;
  return KeyLess(a, b);
}

// Splits a product term into (coefficient, rest) for like-term collection.
std::pair<int64_t, ExprRef> SplitCoefficient(const ExprRef& term) {
  if (term->op() == Op::kMul && term->args()[0]->AsConst()) {
    int64_t c = *term->args()[0]->AsConst();
    std::vector<ExprRef> rest(term->args().begin() + 1, term->args().end());
    return {c, Expr::Mul(std::move(rest))};
  }
  return {1, term};
}

std::string Paren(const ExprRef& e) {
  std::string s = e->ToString();
  switch (e->op()) {
    case Op::kAdd:
    case Op::kLt:
    case Op::kLe:
    case Op::kAnd:
    case Op::kOr:
      return absl::StrCat("(", s, ")");
    case Op::kConst:
      return e->value() < 0 ? absl::StrCat("(", s, ")") : s;
    default:
      return s;
  }
}

// Prints a term of a sum without its sign; sets *negative.
std::string TermBody(const ExprRef& term, bool* negative) {
  auto [c, rest] = SplitCoefficient(term);
  if (term->op() == Op::kConst) {
    *negative = term->value() < 0;
    return absl::StrCat(*negative ? -term->value() : term->value());
  }
  *negative = c < 0;
  int64_t mag = c < 0 ? -c : c;
  std::string body = rest->op() == Op::kMul ? rest->ToString() : Paren(rest);
  return mag == 1 ? body : absl::StrCat(mag, "*", body);
}

}  // namespace

// The canonical string doubles as the structural identity of an expression.
Expr::Expr(Op op, int64_t value, std::string name, std::vector<ExprRef> args)
    : op_(op), value_(value), name_(std::move(name)), args_(std::move(args)) {}

ExprRef Expr::Make(Op op, int64_t value, std::string name,
                   std::vector<ExprRef> args) {
  auto* e = new Expr(op, value, std::move(name), std::move(args));
  e->key_ = e->Render();
  e->hash_ = absl::HashOf(e->key_);
  return ExprRef(e);
}

ExprRef Expr::Const(int64_t value) { return Make(Op::kConst, value, "", {}); }

ExprRef Expr::Symbol(std::string name) {
  return Make(Op::kSymbol, 0, std::move(name), {});
}

ExprRef Expr::Bool(bool value) {
  return Make(Op::kBool, value ? 1 : 0, "", {});
}

ExprRef Expr::Add(std::vector<ExprRef> terms) {
  int64_t constant = 0;
  // Like terms keyed by the canonical string of their non-constant part.
  std::map<std::string, std::pair<int64_t, ExprRef>> collected;
  std::vector<ExprRef> work = std::move(terms);
  for (size_t i = 0; i < work.size(); ++i) {
    const ExprRef t = work[i];
    if (t->op() == Op::kAdd) {
      work.insert(work.end(), t->args().begin(), t->args().end());
      continue;
    }
    if (auto c = t->AsConst()) {
      constant = WrapAdd(constant, *c);
      continue;
    }
    auto [coef, rest] = SplitCoefficient(t);
    std::string key = rest->ToString();
    auto it = collected.find(key);
    if (it == collected.end()) {
      collected.emplace(std::move(key), std::make_pair(coef, rest));
    } else {
      it->second.first = WrapAdd(it->second.first, coef);
    }
  }
  std::vector<ExprRef> out;
  for (auto& [key, cr] : collected) {
    if (cr.first == 0) continue;
    out.push_back(cr.first == 1 ? cr.second
                                : Mul({Const(cr.first), cr.second}));
  }
  if (out.empty()) return Const(constant);
  if (constant != 0) out.push_back(Const(constant));
  if (out.size() == 1) return out[0];
  return Make(Op::kAdd, 0, "", std::move(out));
}

ExprRef Expr::Sub(ExprRef a, ExprRef b) { return Add({a, Neg(b)}); }

ExprRef Expr::Neg(ExprRef a) { return Mul({Const(-1), a}); }

ExprRef Expr::Mul(std::vector<ExprRef> factors) {
  int64_t constant = 1;
  std::vector<ExprRef> rest;
  std::vector<ExprRef> work = std::move(factors);
  for (size_t i = 0; i < work.size(); ++i) {
    const ExprRef f = work[i];
    if (f->op() == Op::kMul) {
      work.insert(work.end(), f->args().begin(), f->args().end());
    } else if (auto c = f->AsConst()) {
      constant = WrapMul(constant, *c);
    } else {
      rest.push_back(f);
    }
  }
  if (constant == 0 || rest.empty()) return Const(constant);
  // A constant times a sum distributes, so sums stay in one normal form.
  if (rest.size() == 1 && rest[0]->op() == Op::kAdd && constant != 1) {
    std::vector<ExprRef> terms;
    for (const ExprRef& t : rest[0]->args()) {
      terms.push_back(Mul({Const(constant), t}));
    }
    return Add(std::move(terms));
  }
  std::sort(rest.begin(), rest.end(), KeyLess);
  if (constant == 1 && rest.size() == 1) return rest[0];
  if (constant != 1) rest.insert(rest.begin(), Const(constant));
  return Make(Op::kMul, 0, "", std::move(rest));
}

ExprRef Expr::FloorDiv(ExprRef a, ExprRef b) {
  auto ca = a->AsConst(), cb = b->AsConst();
  if (cb && *cb == 1) return a;
  if (ca && cb && *cb != 0) return Const(PyFloorDiv(*ca, *cb));
  if (ca && *ca == 0) return a;
  return Make(Op::kFloorDiv, 0, "", {a, b});
}

ExprRef Expr::Mod(ExprRef a, ExprRef b) {
  auto ca = a->AsConst(), cb = b->AsConst();
  if (cb && (*cb == 1 || *cb == -1)) return Const(0);
  if (ca && cb && *cb != 0) return Const(PyMod(*ca, *cb));
  return Make(Op::kMod, 0, "", {a, b});
}

namespace {
// Flattens nested Min (Max), folds constants, drops duplicates and sorts.
std::vector<ExprRef> MinMaxArgs(Op op, std::vector<ExprRef> args) {
  std::optional<int64_t> constant;
  std::map<std::string, ExprRef> unique;
  std::vector<ExprRef> work = std::move(args);
  for (size_t i = 0; i < work.size(); ++i) {
    const ExprRef a = work[i];
    if (a->op() == op) {
      work.insert(work.end(), a->args().begin(), a->args().end());
    } else if (auto c = a->AsConst()) {
      constant = !constant ? *c
                           : (op == Op::kMin ? std::min(*constant, *c)
                                             : std::max(*constant, *c));
    } else {
      unique.emplace(a->ToString(), a);
    }
  }
  std::vector<ExprRef> out;
  for (auto& [k, v] : unique) out.push_back(v);
  if (constant) out.push_back(Expr::Const(*constant));
  return out;
}
}  // namespace

ExprRef Expr::Min(std::vector<ExprRef> args) {
  std::vector<ExprRef> out = MinMaxArgs(Op::kMin, std::move(args));
  if (out.size() == 1) return out[0];
  return Make(Op::kMin, 0, "", std::move(out));
}

ExprRef Expr::Max(std::vector<ExprRef> args) {
  std::vector<ExprRef> out = MinMaxArgs(Op::kMax, std::move(args));
  if (out.size() == 1) return out[0];
  return Make(Op::kMax, 0, "", std::move(out));
}

ExprRef Expr::Eq(ExprRef a, ExprRef b) {
  if (a->Equals(*b)) return Bool(true);
  auto ca = a->AsConst(), cb = b->AsConst();
  if (ca && cb) return Bool(*ca == *cb);
  if (RelationOrder(b, a)) std::swap(a, b);
  return Make(Op::kEq, 0, "", {a, b});
}

ExprRef Expr::Ne(ExprRef a, ExprRef b) {
  if (a->Equals(*b)) return Bool(false);
  auto ca = a->AsConst(), cb = b->AsConst();
  if (ca && cb) return Bool(*ca != *cb);
  if (RelationOrder(b, a)) std::swap(a, b);
  return Make(Op::kNe, 0, "", {a, b});
}

ExprRef Expr::Lt(ExprRef a, ExprRef b) {
  if (a->Equals(*b)) return Bool(false);
  auto ca = a->AsConst(), cb = b->AsConst();
  if (ca && cb) return Bool(*ca < *cb);
  return Make(Op::kLt, 0, "", {a, b});
}

ExprRef Expr::Le(ExprRef a, ExprRef b) {
  if (a->Equals(*b)) return Bool(true);
  auto ca = a->AsConst(), cb = b->AsConst();
  if (ca && cb) return Bool(*ca <= *cb);
  return Make(Op::kLe, 0, "", {a, b});
}

namespace {
// Flattens nested And (Or), folds constants, drops duplicates and sorts.
// Returns a finished expression when the result is a constant or one term.
ExprRef Logic(Op op, std::vector<ExprRef> args, std::vector<ExprRef>* out) {
  const bool identity = op == Op::kAnd;  // And: true, Or: false
  std::map<std::string, ExprRef> unique;
  std::vector<ExprRef> work = std::move(args);
  for (size_t i = 0; i < work.size(); ++i) {
    const ExprRef a = work[i];
    if (a->op() == op) {
      work.insert(work.end(), a->args().begin(), a->args().end());
    } else if (auto b = a->AsBool()) {
      if (*b != identity) return Expr::Bool(!identity);  // absorbing value
    } else {
      unique.emplace(a->ToString(), a);
    }
  }
  if (unique.empty()) return Expr::Bool(identity);
  if (unique.size() == 1) return unique.begin()->second;
  for (auto& [k, v] : unique) out->push_back(v);
  return nullptr;
}
}  // namespace

ExprRef Expr::And(std::vector<ExprRef> args) {
  std::vector<ExprRef> out;
  if (ExprRef r = Logic(Op::kAnd, std::move(args), &out)) return r;
  return Make(Op::kAnd, 0, "", std::move(out));
}

ExprRef Expr::Or(std::vector<ExprRef> args) {
  std::vector<ExprRef> out;
  if (ExprRef r = Logic(Op::kOr, std::move(args), &out)) return r;
  return Make(Op::kOr, 0, "", std::move(out));
}

ExprRef Expr::Not(ExprRef a) {
  if (auto b = a->AsBool()) return Bool(!*b);
  if (a->op() == Op::kNot) return a->args()[0];
  return Make(Op::kNot, 0, "", {a});
}

bool Expr::Equals(const Expr& other) const {
  if (this == &other) return true;
  if (hash_ != other.hash_ || op_ != other.op_) return false;
  return key_ == other.key_;
}

std::string Expr::Render() const {
  switch (op_) {
    case Op::kConst:
      return absl::StrCat(value_);
    case Op::kSymbol:
      return name_;
    case Op::kBool:
      return value_ != 0 ? "True" : "False";
    case Op::kAdd: {
      std::string out;
      for (size_t i = 0; i < args_.size(); ++i) {
        bool negative = false;
        std::string body = TermBody(args_[i], &negative);
        if (i == 0) {
          out = negative ? absl::StrCat("-", body) : body;
        } else {
          absl::StrAppend(&out, negative ? " - " : " + ", body);
        }
      }
      return out;
    }
    case Op::kMul: {
      std::vector<std::string> parts;
      size_t start = 0;
      std::string prefix;
      if (args_[0]->op() == Op::kConst && args_[0]->value() == -1) {
        prefix = "-";
        start = 1;
      }
      for (size_t i = start; i < args_.size(); ++i) {
        parts.push_back(Paren(args_[i]));
      }
      return absl::StrCat(prefix, absl::StrJoin(parts, "*"));
    }
    case Op::kFloorDiv:
      return absl::StrCat("FloorDiv(", args_[0]->ToString(), ", ",
                          args_[1]->ToString(), ")");
    case Op::kMod:
      return absl::StrCat("Mod(", args_[0]->ToString(), ", ",
                          args_[1]->ToString(), ")");
    case Op::kMin:
    case Op::kMax: {
      std::vector<std::string> parts;
      for (const ExprRef& a : args_) parts.push_back(a->ToString());
      return absl::StrCat(op_ == Op::kMin ? "Min(" : "Max(",
                          absl::StrJoin(parts, ", "), ")");
    }
    case Op::kEq:
      return absl::StrCat("Eq(", args_[0]->ToString(), ", ",
                          args_[1]->ToString(), ")");
    case Op::kNe:
      return absl::StrCat("Ne(", args_[0]->ToString(), ", ",
                          args_[1]->ToString(), ")");
    case Op::kLt:
      return absl::StrCat(args_[0]->ToString(), " < ", args_[1]->ToString());
    case Op::kLe:
      return absl::StrCat(args_[0]->ToString(), " <= ", args_[1]->ToString());
    case Op::kAnd:
    case Op::kOr: {
      std::vector<std::string> parts;
      for (const ExprRef& a : args_) {
        parts.push_back(absl::StrCat("(", a->ToString(), ")"));
      }
      return absl::StrJoin(parts, op_ == Op::kAnd ? " & " : " | ");
    }
    case Op::kNot:
      return absl::StrCat("~(", args_[0]->ToString(), ")");
  }
  return "?";
}

void Expr::CollectSymbols(std::vector<std::string>* out) const {
  if (op_ == Op::kSymbol) {
    if (std::find(out->begin(), out->end(), name_) == out->end()) {
      out->push_back(name_);
    }
    return;
  }
  for (const ExprRef& a : args_) a->CollectSymbols(out);
}

namespace {

bool CheckedAdd(int64_t a, int64_t b, int64_t* r) {
  return !__builtin_add_overflow(a, b, r);
}
bool CheckedMul(int64_t a, int64_t b, int64_t* r) {
  return !__builtin_mul_overflow(a, b, r);
}

// Applies an operator to evaluated operands; false on /0 or overflow.
bool Apply(Op op, const int64_t* v, int n, int64_t* r) {
  switch (op) {
    case Op::kAdd: {
      int64_t acc = 0;
      for (int i = 0; i < n; ++i) {
        if (!CheckedAdd(acc, v[i], &acc)) return false;
      }
      *r = acc;
      return true;
    }
    case Op::kMul: {
      int64_t acc = 1;
      for (int i = 0; i < n; ++i) {
        if (!CheckedMul(acc, v[i], &acc)) return false;
      }
      *r = acc;
      return true;
    }
    case Op::kFloorDiv:
      if (v[1] == 0 || (v[0] == INT64_MIN && v[1] == -1)) return false;
      *r = PyFloorDiv(v[0], v[1]);
      return true;
    case Op::kMod:
      if (v[1] == 0) return false;
      *r = v[1] == -1 ? 0 : PyMod(v[0], v[1]);
      return true;
    case Op::kMin:
    case Op::kMax: {
      int64_t acc = v[0];
      for (int i = 1; i < n; ++i) {
        acc = op == Op::kMin ? std::min(acc, v[i]) : std::max(acc, v[i]);
      }
      *r = acc;
      return true;
    }
    case Op::kEq:
      *r = v[0] == v[1];
      return true;
    case Op::kNe:
      *r = v[0] != v[1];
      return true;
    case Op::kLt:
      *r = v[0] < v[1];
      return true;
    case Op::kLe:
      *r = v[0] <= v[1];
      return true;
    case Op::kAnd: {
      int64_t acc = 1;
      for (int i = 0; i < n; ++i) acc = acc && v[i];
      *r = acc;
      return true;
    }
    case Op::kOr: {
      int64_t acc = 0;
      for (int i = 0; i < n; ++i) acc = acc || v[i];
      *r = acc;
      return true;
    }
    case Op::kNot:
      *r = !v[0];
      return true;
    default:
      return false;
  }
}

absl::Status EvalInto(const Expr& e, const Bindings& b, int64_t* out) {
  switch (e.op()) {
    case Op::kConst:
    case Op::kBool:
      *out = e.value();
      return absl::OkStatus();
    case Op::kSymbol: {
      auto it = b.find(e.name());
      if (it == b.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("symbol ", e.name(), " is not bound"));
      }
      *out = it->second;
      return absl::OkStatus();
    }
    default:
      break;
  }
  std::vector<int64_t> values(e.args().size());
  for (size_t i = 0; i < e.args().size(); ++i) {
    if (absl::Status s = EvalInto(*e.args()[i], b, &values[i]); !s.ok()) {
      return s;
    }
  }
  if (!Apply(e.op(), values.data(), static_cast<int>(values.size()), out)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot evaluate ", e.ToString(), ": division by zero or overflow"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int64_t> Evaluate(const Expr& expr, const Bindings& bindings) {
  int64_t out = 0;
  if (absl::Status s = EvalInto(expr, bindings, &out); !s.ok()) return s;
  return out;
}

ExprRef Substitute(const ExprRef& e,
                   const absl::flat_hash_map<std::string, ExprRef>& map) {
  switch (e->op()) {
    case Op::kConst:
    case Op::kBool:
      return e;
    case Op::kSymbol: {
      auto it = map.find(e->name());
      return it == map.end() ? e : it->second;
    }
    default:
      break;
  }
  std::vector<ExprRef> args;
  args.reserve(e->args().size());
  for (const ExprRef& a : e->args()) args.push_back(Substitute(a, map));
  switch (e->op()) {
    case Op::kAdd:
      return Expr::Add(std::move(args));
    case Op::kMul:
      return Expr::Mul(std::move(args));
    case Op::kFloorDiv:
      return Expr::FloorDiv(args[0], args[1]);
    case Op::kMod:
      return Expr::Mod(args[0], args[1]);
    case Op::kMin:
      return Expr::Min(std::move(args));
    case Op::kMax:
      return Expr::Max(std::move(args));
    case Op::kEq:
      return Expr::Eq(args[0], args[1]);
    case Op::kNe:
      return Expr::Ne(args[0], args[1]);
    case Op::kLt:
      return Expr::Lt(args[0], args[1]);
    case Op::kLe:
      return Expr::Le(args[0], args[1]);
    case Op::kAnd:
      return Expr::And(std::move(args));
    case Op::kOr:
      return Expr::Or(std::move(args));
    case Op::kNot:
      return Expr::Not(args[0]);
    default:
      return e;
  }
}

absl::StatusOr<Program> Program::Compile(
    const Expr& expr, const std::function<int(const std::string&)>& slot_of) {
  Program p;
  int depth = 0;
  absl::Status status;
  std::function<void(const Expr&)> emit = [&](const Expr& e) {
    if (!status.ok()) return;
    switch (e.op()) {
      case Op::kConst:
      case Op::kBool:
        p.code_.push_back({Op::kConst, 0, e.value()});
        ++depth;
        break;
      case Op::kSymbol: {
        int slot = slot_of(e.name());
        if (slot < 0) {
          status = absl::InvalidArgumentError(
              absl::StrCat("symbol ", e.name(), " is not bound"));
          return;
        }
        p.code_.push_back({Op::kSymbol, 0, slot});
        ++depth;
        break;
      }
      default:
        for (const ExprRef& a : e.args()) emit(*a);
        p.code_.push_back({e.op(), static_cast<uint8_t>(e.args().size()), 0});
        depth -= static_cast<int>(e.args().size()) - 1;
    }
    p.max_stack_ = std::max(p.max_stack_, depth);
  };
  emit(expr);
  if (!status.ok()) return status;
  if (p.max_stack_ > kStackLimit) {
    return absl::ResourceExhaustedError(
        absl::StrCat("expression too deep to evaluate: ", expr.ToString()));
  }
  return p;
}

bool Program::Eval(const int64_t* slots, int64_t* result) const {
  int64_t stack[kStackLimit];
  int top = 0;
  for (const Instr& in : code_) {
    switch (in.op) {
      case Op::kConst:
        stack[top++] = in.operand;
        break;
      case Op::kSymbol:
        stack[top++] = slots[in.operand];
        break;
      default: {
        top -= in.arity;
        int64_t r = 0;
        if (!Apply(in.op, stack + top, in.arity, &r)) return false;
        stack[top++] = r;
      }
    }
  }
  *result = stack[0];
  return top == 1;
}

namespace {

absl::StatusOr<ExprRef> Convert(const v1::SymExpr& p, const std::string& path,
                                bool want_bool, int depth, int max_depth) {
  if (depth > max_depth) {
    return absl::ResourceExhaustedError(
        absl::StrCat(path, ": expression deeper than ", max_depth, " levels"));
  }
  auto arity = [&](int min, int max) -> absl::Status {
    int n = p.operands_size();
    if (n < min || (max >= 0 && n > max)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": ", v1::SymExpr::Op_Name(p.op()), " takes ",
          max == min ? absl::StrCat(min)
                     : absl::StrCat(min, max < 0 ? " or more" : ""),
          " operands, got ", n));
    }
    return absl::OkStatus();
  };
  bool is_bool_op = false;
  switch (p.op()) {
    case v1::SymExpr::BOOL_CONSTANT:
    case v1::SymExpr::EQ:
    case v1::SymExpr::NE:
    case v1::SymExpr::LT:
    case v1::SymExpr::LE:
    case v1::SymExpr::GT:
    case v1::SymExpr::GE:
    case v1::SymExpr::AND:
    case v1::SymExpr::OR:
    case v1::SymExpr::NOT:
      is_bool_op = true;
      break;
    default:
      break;
  }
  if (p.op() != v1::SymExpr::OP_UNSPECIFIED &&
      v1::SymExpr::Op_IsValid(p.op()) && is_bool_op != want_bool) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": expected ", want_bool ? "a boolean" : "an integer",
        " expression, got ", v1::SymExpr::Op_Name(p.op())));
  }
  std::vector<ExprRef> args;
  auto operands = [&](bool operand_bool) -> absl::Status {
    for (int i = 0; i < p.operands_size(); ++i) {
      absl::StatusOr<ExprRef> a =
          Convert(p.operands(i), absl::StrCat(path, ".operands[", i, "]"),
                  operand_bool, depth + 1, max_depth);
      if (!a.ok()) return a.status();
      args.push_back(*a);
    }
    return absl::OkStatus();
  };
  absl::Status s;
  switch (p.op()) {
    case v1::SymExpr::CONSTANT:
      if (s = arity(0, 0); !s.ok()) return s;
      return Expr::Const(p.constant());
    case v1::SymExpr::SYMBOL:
      if (s = arity(0, 0); !s.ok()) return s;
      if (p.symbol().empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": SYMBOL needs a name"));
      }
      return Expr::Symbol(p.symbol());
    case v1::SymExpr::BOOL_CONSTANT:
      if (s = arity(0, 0); !s.ok()) return s;
      return Expr::Bool(p.bool_value());
    case v1::SymExpr::ADD:
    case v1::SymExpr::MUL:
    case v1::SymExpr::MIN:
    case v1::SymExpr::MAX:
      if (s = arity(2, -1); !s.ok()) return s;
      if (s = operands(false); !s.ok()) return s;
      if (p.op() == v1::SymExpr::ADD) return Expr::Add(std::move(args));
      if (p.op() == v1::SymExpr::MUL) return Expr::Mul(std::move(args));
      if (p.op() == v1::SymExpr::MIN) return Expr::Min(std::move(args));
      return Expr::Max(std::move(args));
    case v1::SymExpr::SUB:
    case v1::SymExpr::FLOOR_DIV:
    case v1::SymExpr::MOD:
      if (s = arity(2, 2); !s.ok()) return s;
      if (s = operands(false); !s.ok()) return s;
      if (p.op() == v1::SymExpr::SUB) return Expr::Sub(args[0], args[1]);
      if (p.op() == v1::SymExpr::FLOOR_DIV) {
        return Expr::FloorDiv(args[0], args[1]);
      }
      return Expr::Mod(args[0], args[1]);
    case v1::SymExpr::NEG:
      if (s = arity(1, 1); !s.ok()) return s;
      if (s = operands(false); !s.ok()) return s;
      return Expr::Neg(args[0]);
    case v1::SymExpr::EQ:
    case v1::SymExpr::NE:
    case v1::SymExpr::LT:
    case v1::SymExpr::LE:
    case v1::SymExpr::GT:
    case v1::SymExpr::GE:
      if (s = arity(2, 2); !s.ok()) return s;
      if (s = operands(false); !s.ok()) return s;
      switch (p.op()) {
        case v1::SymExpr::EQ:
          return Expr::Eq(args[0], args[1]);
        case v1::SymExpr::NE:
          return Expr::Ne(args[0], args[1]);
        case v1::SymExpr::LT:
          return Expr::Lt(args[0], args[1]);
        case v1::SymExpr::LE:
          return Expr::Le(args[0], args[1]);
        case v1::SymExpr::GT:
          return Expr::Gt(args[0], args[1]);
        default:
          return Expr::Ge(args[0], args[1]);
      }
    case v1::SymExpr::AND:
    case v1::SymExpr::OR:
      if (s = arity(2, -1); !s.ok()) return s;
      if (s = operands(true); !s.ok()) return s;
      return p.op() == v1::SymExpr::AND ? Expr::And(std::move(args))
                                        : Expr::Or(std::move(args));
    case v1::SymExpr::NOT:
      if (s = arity(1, 1); !s.ok()) return s;
      if (s = operands(true); !s.ok()) return s;
      return Expr::Not(args[0]);
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": unknown or unset op ", static_cast<int>(p.op())));
  }
}

}  // namespace

absl::StatusOr<ExprRef> FromProto(const v1::SymExpr& proto,
                                  std::string_view path, bool want_bool,
                                  int max_depth) {
  return Convert(proto, std::string(path), want_bool, 0, max_depth);
}

void ToProto(const Expr& e, v1::SymExpr* p) {
  p->Clear();
  auto add_args = [&] {
    for (const ExprRef& a : e.args()) ToProto(*a, p->add_operands());
  };
  switch (e.op()) {
    case Op::kConst:
      p->set_op(v1::SymExpr::CONSTANT);
      p->set_constant(e.value());
      return;
    case Op::kSymbol:
      p->set_op(v1::SymExpr::SYMBOL);
      p->set_symbol(e.name());
      return;
    case Op::kBool:
      p->set_op(v1::SymExpr::BOOL_CONSTANT);
      p->set_bool_value(e.value() != 0);
      return;
    case Op::kAdd:
      p->set_op(v1::SymExpr::ADD);
      break;
    case Op::kMul:
      p->set_op(v1::SymExpr::MUL);
      break;
    case Op::kFloorDiv:
      p->set_op(v1::SymExpr::FLOOR_DIV);
      break;
    case Op::kMod:
      p->set_op(v1::SymExpr::MOD);
      break;
    case Op::kMin:
      p->set_op(v1::SymExpr::MIN);
      break;
    case Op::kMax:
      p->set_op(v1::SymExpr::MAX);
      break;
    case Op::kEq:
      p->set_op(v1::SymExpr::EQ);
      break;
    case Op::kNe:
      p->set_op(v1::SymExpr::NE);
      break;
    case Op::kLt:
      p->set_op(v1::SymExpr::LT);
      break;
    case Op::kLe:
      p->set_op(v1::SymExpr::LE);
      break;
    case Op::kAnd:
      p->set_op(v1::SymExpr::AND);
      break;
    case Op::kOr:
      p->set_op(v1::SymExpr::OR);
      break;
    case Op::kNot:
      p->set_op(v1::SymExpr::NOT);
      break;
  }
  add_args();
}

}  // namespace kiln::sym
