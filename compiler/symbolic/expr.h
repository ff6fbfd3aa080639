#ifndef KILN_COMPILER_SYMBOLIC_EXPR_H_
#define KILN_COMPILER_SYMBOLIC_EXPR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace kiln::v1 {
class SymExpr;
}  // namespace kiln::v1

namespace kiln::sym {

// Operators of symbolic expressions, as in kiln.v1.SymExpr. Integer-valued:
// kConst .. kMax; boolean-valued: kBool .. kNot.
enum class Op : uint8_t {
  kConst,
  kSymbol,
  kAdd,
  kMul,
  kFloorDiv,
  kMod,
  kMin,
  kMax,
  kBool,
  kEq,
  kNe,
  kLt,
  kLe,
  kAnd,
  kOr,
  kNot,
};

class Expr;
// Expressions are immutable and shared.
using ExprRef = std::shared_ptr<const Expr>;

// An integer or boolean expression over named integer symbols (s0, s1, ...),
// as PyTorch's symbolic shapes produce them.
//
// Expressions are built through the factories, which keep them in a normal
// form so that structurally equal expressions mean the same thing and compare
// equal: subtraction and negation become multiplication by -1; sums and
// products are flattened, their constants folded and their terms sorted; like
// terms are combined (s0 + s0 -> 2*s0); `a > b` becomes `b < a` and `a >= b`
// becomes `b <= a`; constant subexpressions are evaluated with Python's
// floor-division and modulo semantics. Nothing else is simplified, so
// equality is sound but not complete: Equals() == true means equal for all
// symbol values; false means "not known to be equal".
//
// Thread safety: immutable after construction; share freely.
class Expr {
 public:
  static ExprRef Const(int64_t value);
  static ExprRef Symbol(std::string name);
  static ExprRef Bool(bool value);

  static ExprRef Add(std::vector<ExprRef> terms);
  static ExprRef Add(ExprRef a, ExprRef b) { return Add({a, b}); }
  static ExprRef Sub(ExprRef a, ExprRef b);
  static ExprRef Neg(ExprRef a);
  static ExprRef Mul(std::vector<ExprRef> factors);
  static ExprRef Mul(ExprRef a, ExprRef b) { return Mul({a, b}); }
  static ExprRef FloorDiv(ExprRef a, ExprRef b);
  static ExprRef Mod(ExprRef a, ExprRef b);
  static ExprRef Min(std::vector<ExprRef> args);
  static ExprRef Max(std::vector<ExprRef> args);
  static ExprRef Eq(ExprRef a, ExprRef b);
  static ExprRef Ne(ExprRef a, ExprRef b);
  static ExprRef Lt(ExprRef a, ExprRef b);
  static ExprRef Le(ExprRef a, ExprRef b);
  static ExprRef Gt(ExprRef a, ExprRef b) { return Lt(b, a); }
  static ExprRef Ge(ExprRef a, ExprRef b) { return Le(b, a); }
  static ExprRef And(std::vector<ExprRef> args);
  static ExprRef Or(std::vector<ExprRef> args);
  static ExprRef Not(ExprRef a);

  Op op() const { return op_; }
  // The constant of kConst (and 0/1 of kBool).
  int64_t value() const { return value_; }
  // The symbol's name (kSymbol only).
  const std::string& name() const { return name_; }
  const std::vector<ExprRef>& args() const { return args_; }

  bool is_bool() const { return op_ >= Op::kBool; }
  std::optional<int64_t> AsConst() const {
    return op_ == Op::kConst ? std::optional<int64_t>(value_) : std::nullopt;
  }
  std::optional<bool> AsBool() const {
    return op_ == Op::kBool ? std::optional<bool>(value_ != 0) : std::nullopt;
  }
  bool IsSymbol() const { return op_ == Op::kSymbol; }

  bool Equals(const Expr& other) const;
  size_t Hash() const { return hash_; }

  // Human and golden-test form, sympy-like: `2*s1 + 1`, `s0 - s1`,
  // `FloorDiv(s0, 2)`, `Mod(s0, 3)`, `Min(s0, 4)`, `Eq(2*s1, s0)`,
  // `s0 <= 7`, `Ne(s0, 1)`, `(s0 < 4) & (2 <= s1)`, `~(...)`.
  const std::string& ToString() const { return key_; }

  // Symbols in order of first appearance (pre-order), each once.
  void CollectSymbols(std::vector<std::string>* out) const;

 private:
  Expr(Op op, int64_t value, std::string name, std::vector<ExprRef> args);
  std::string Render() const;
  static ExprRef Make(Op op, int64_t value, std::string name,
                      std::vector<ExprRef> args);

  Op op_;
  int64_t value_ = 0;
  std::string name_;
  std::vector<ExprRef> args_;
  std::string key_;  // ToString(), computed once; the structural identity
  size_t hash_ = 0;
};

inline bool SameExpr(const ExprRef& a, const ExprRef& b) {
  return a == b || (a != nullptr && b != nullptr && a->Equals(*b));
}

// Values of symbols, by name.
using Bindings = absl::flat_hash_map<std::string, int64_t>;

// The value of an integer expression (booleans give 0 or 1).
// INVALID_ARGUMENT for an unbound symbol, a division or modulo by zero, or an
// overflow of int64.
absl::StatusOr<int64_t> Evaluate(const Expr& expr, const Bindings& bindings);

// Replaces symbols by expressions (or renames them); unknown symbols stay.
ExprRef Substitute(const ExprRef& expr,
                   const absl::flat_hash_map<std::string, ExprRef>& map);

// An expression compiled for repeated evaluation without allocation: symbols
// become slots of a value array the caller fills (guard evaluation binds
// slots from input sizes). Thread-safe to evaluate concurrently.
class Program {
 public:
  // `slot_of` maps each symbol to its slot; INVALID_ARGUMENT when it returns
  // a negative slot (an unbound symbol).
  static absl::StatusOr<Program> Compile(
      const Expr& expr, const std::function<int(const std::string&)>& slot_of);

  // Evaluates with `slots[i]` as the value of slot i. Returns false on
  // division by zero or overflow (a failed guard, never a crash).
  bool Eval(const int64_t* slots, int64_t* result) const;

  // The deepest evaluation stack this program needs.
  int max_stack() const { return max_stack_; }

 private:
  struct Instr {
    Op op;
    uint8_t arity;
    int64_t operand;  // constant value or slot
  };
  static constexpr int kStackLimit = 64;
  std::vector<Instr> code_;
  int max_stack_ = 0;
};

// Conversion from the wire form, validating as it goes: every problem is
// INVALID_ARGUMENT naming `path` (e.g. "graph.placeholders[0].tensor.sizes[1]
// .expr.operands[0]: SYMBOL needs a name"). `want_bool` says which type the
// result must have. Deeper than `max_depth` is RESOURCE_EXHAUSTED.
absl::StatusOr<ExprRef> FromProto(const v1::SymExpr& proto,
                                  std::string_view path, bool want_bool,
                                  int max_depth = 64);
void ToProto(const Expr& expr, v1::SymExpr* proto);

}  // namespace kiln::sym

#endif  // KILN_COMPILER_SYMBOLIC_EXPR_H_
