#include "compiler/ops/schema.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace kiln::ops {
namespace {

using ir::Arg;

struct BaseName {
  ArgType::Base base;
  std::string_view name;
};
constexpr BaseName kBaseNames[] = {
    {ArgType::Base::kTensor, "Tensor"},
    {ArgType::Base::kScalar, "Scalar"},
    {ArgType::Base::kInt, "int"},
    {ArgType::Base::kSymInt, "SymInt"},
    {ArgType::Base::kFloat, "float"},
    {ArgType::Base::kBool, "bool"},
    {ArgType::Base::kStr, "str"},
    {ArgType::Base::kScalarType, "ScalarType"},
    {ArgType::Base::kDevice, "Device"},
    {ArgType::Base::kLayout, "Layout"},
    {ArgType::Base::kMemoryFormat, "MemoryFormat"},
    {ArgType::Base::kGenerator, "Generator"},
};

std::string_view BaseToString(ArgType::Base b) {
  for (const BaseName& n : kBaseNames) {
    if (n.base == b) return n.name;
  }
  return "?";
}

class SchemaParser {
 public:
  explicit SchemaParser(std::string_view text) : text_(text) {}

  absl::StatusOr<Schema> Parse() {
    Schema s;
    std::string qualified = Identifier(/*allow_dots=*/true, /*colons=*/true);
    size_t colons = qualified.find("::");
    if (colons == std::string::npos) return Error("expected namespace::name");
    s.ns = qualified.substr(0, colons);
    std::string rest = qualified.substr(colons + 2);
    size_t dot = rest.find('.');
    s.name = rest.substr(0, dot);
    s.overload = dot == std::string::npos ? "default" : rest.substr(dot + 1);
    if (s.name.empty() || s.overload.empty()) return Error("bad op name");
    if (!Consume('(')) return Error("expected '('");
    bool kwarg_only = false;
    if (!Consume(')')) {
      while (true) {
        if (Consume('*')) {
          kwarg_only = true;
        } else {
          SchemaArgument a;
          if (auto st = ParseType(&a.type, &a.alias); !st.ok()) return st;
          a.name = Identifier(false, false);
          if (a.name.empty()) return Error("expected argument name");
          a.kwarg_only = kwarg_only;
          if (Consume('=')) {
            auto d = ParseDefault(a.type);
            if (!d.ok()) return d.status();
            a.default_value = *std::move(d);
          }
          s.arguments.push_back(std::move(a));
        }
        if (Consume(')')) break;
        if (!Consume(',')) return Error("expected ',' or ')'");
      }
    }
    if (!Consume('-') || !Consume('>')) return Error("expected '->'");
    if (Consume('(')) {
      if (!Consume(')')) {
        while (true) {
          SchemaReturn r;
          if (auto st = ParseType(&r.type, &r.alias); !st.ok()) return st;
          r.name = Identifier(false, false);
          s.returns.push_back(std::move(r));
          if (Consume(')')) break;
          if (!Consume(',')) return Error("expected ',' or ')' in returns");
        }
      }
    } else {
      SchemaReturn r;
      if (auto st = ParseType(&r.type, &r.alias); !st.ok()) return st;
      s.returns.push_back(std::move(r));
    }
    SkipSpace();
    if (pos_ != text_.size()) return Error("trailing characters");
    return s;
  }

 private:
  void SkipSpace() {
    while (pos_ < text_.size() && std::isspace(text_[pos_])) ++pos_;
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  char Peek() {
    SkipSpace();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }
  std::string Identifier(bool allow_dots, bool colons) {
    SkipSpace();
    size_t start = pos_;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (std::isalnum(c) || c == '_' || (allow_dots && c == '.') ||
          (colons && c == ':')) {
        ++pos_;
      } else {
        break;
      }
    }
    return std::string(text_.substr(start, pos_ - start));
  }
  absl::Status Error(std::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrFormat("schema \"%s\", column %d: %s", text_, pos_ + 1, what));
  }

  absl::Status ParseType(ArgType* type, std::string* alias) {
    std::string base = Identifier(false, false);
    bool found = false;
    for (const BaseName& n : kBaseNames) {
      if (n.name == base) {
        type->base = n.base;
        found = true;
      }
    }
    if (!found) return Error(absl::StrCat("unknown type '", base, "'"));
    if (Peek() == '(') {
      Consume('(');
      size_t start = pos_;
      while (pos_ < text_.size() && text_[pos_] != ')') ++pos_;
      *alias = std::string(text_.substr(start, pos_ - start));
      if (!Consume(')')) return Error("unterminated alias annotation");
    }
    if (Consume('?')) {
      type->element_optional = true;  // `Tensor?[]` if a list follows
      type->optional = true;
    }
    if (Consume('[')) {
      type->is_list = true;
      if (!type->element_optional) type->optional = false;
      if (std::isdigit(Peek())) {
        std::string n = Identifier(false, false);
        if (!absl::SimpleAtoi(n, &type->list_size)) return Error("bad size");
      }
      if (!Consume(']')) return Error("expected ']'");
      type->optional = Consume('?');
    } else {
      type->element_optional = false;
    }
    return absl::OkStatus();
  }

  // A default value, normalized to `type`.
  absl::StatusOr<Arg> ParseDefault(const ArgType& type) {
    SkipSpace();
    if (Consume('[')) {
      std::vector<std::string> items;
      if (!Consume(']')) {
        while (true) {
          SkipSpace();
          size_t start = pos_;
          while (pos_ < text_.size() && text_[pos_] != ',' &&
                 text_[pos_] != ']') {
            ++pos_;
          }
          std::string item(text_.substr(start, pos_ - start));
          while (!item.empty() && std::isspace(item.back())) item.pop_back();
          items.push_back(item);
          if (Consume(']')) break;
          if (!Consume(',')) return Error("expected ',' in list default");
        }
      }
      if (type.base == ArgType::Base::kFloat) {
        std::vector<double> v;
        for (auto& it : items) {
          double d;
          if (!absl::SimpleAtod(it, &d)) return Error("bad float");
          v.push_back(d);
        }
        return Arg::FloatList(v);
      }
      if (type.base == ArgType::Base::kBool) {
        std::vector<bool> v;
        for (auto& it : items) v.push_back(it == "True");
        return Arg::BoolList(v);
      }
      std::vector<int64_t> v;
      for (auto& it : items) {
        int64_t i;
        if (!absl::SimpleAtoi(it, &i)) return Error("bad int");
        v.push_back(i);
      }
      return Arg::IntList(ir::Consts(v));
    }
    if (Peek() == '"' || Peek() == '\'') {
      char q = text_[pos_++];
      size_t start = pos_;
      while (pos_ < text_.size() && text_[pos_] != q) ++pos_;
      std::string s(text_.substr(start, pos_ - start));
      ++pos_;
      return Arg::String(s);
    }
    // A bare token: number, True/False/None, or an enum name.
    SkipSpace();
    size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != ')') {
      ++pos_;
    }
    std::string tok(text_.substr(start, pos_ - start));
    while (!tok.empty() && std::isspace(tok.back())) tok.pop_back();
    if (tok == "None") return Arg::None();
    if (tok == "True" || tok == "False") return Arg::Bool(tok == "True");
    if (tok == "contiguous_format") {
      return Arg::OfMemoryFormat(ir::MemoryFormat::kContiguous);
    }
    if (tok == "preserve_format") {
      return Arg::OfMemoryFormat(ir::MemoryFormat::kPreserve);
    }
    if (tok == "strided") return Arg::Layout();
    if (tok == "long") return Arg::OfDType(ir::DType::kInt64);
    if (tok == "float") return Arg::OfDType(ir::DType::kFloat32);
    int64_t i;
    if (type.base != ArgType::Base::kFloat && absl::SimpleAtoi(tok, &i)) {
      if (type.is_list) {
        // `int[2] stride=1` means [1, 1].
        int n = type.list_size > 0 ? type.list_size : 1;
        return Arg::IntList(std::vector<sym::ExprRef>(n, ir::Const(i)));
      }
      return Arg::Int(i);
    }
    double d;
    if (absl::SimpleAtod(tok, &d)) return Arg::Float(d);
    return Error(absl::StrCat("bad default '", tok, "'"));
  }

  std::string_view text_;
  size_t pos_ = 0;
};

std::string ArgToSchemaDefault(const Arg& a) {
  switch (a.kind) {
    case Arg::Kind::kNone:
      return "None";
    case Arg::Kind::kInt:
      return a.i->ToString();
    case Arg::Kind::kFloat: {
      std::string s = absl::StrFormat("%.17g", a.f);
      for (int p = 1; p <= 17; ++p) {
        std::string t = absl::StrFormat("%.*g", p, a.f);
        if (std::strtod(t.c_str(), nullptr) == a.f) {
          s = t;
          break;
        }
      }
      if (s.find_first_of(".eEn") == std::string::npos) s += ".";
      return s;
    }
    case Arg::Kind::kBool:
      return a.b ? "True" : "False";
    case Arg::Kind::kString:
      return absl::StrCat("\"", a.s, "\"");
    case Arg::Kind::kIntList: {
      std::vector<std::string> parts;
      for (const auto& e : a.ints) parts.push_back(e->ToString());
      return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
    }
    case Arg::Kind::kFloatList:
      return absl::StrCat("[", absl::StrJoin(a.floats, ", "), "]");
    case Arg::Kind::kBoolList: {
      std::vector<std::string> parts;
      for (bool b : a.bools) parts.push_back(b ? "True" : "False");
      return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
    }
    case Arg::Kind::kDType:
      return a.dtype == ir::DType::kInt64 ? "long" : "float";
    case Arg::Kind::kLayout:
      return "strided";
    case Arg::Kind::kMemoryFormat:
      return a.memory_format == ir::MemoryFormat::kPreserve
                 ? "preserve_format"
                 : "contiguous_format";
    default:
      return "?";
  }
}

}  // namespace

std::string ArgType::ToString() const {
  std::string out(BaseToString(base));
  if (is_list) {
    if (element_optional) out += "?";
    out += list_size > 0 ? absl::StrCat("[", list_size, "]") : "[]";
    if (optional) out += "?";
  } else if (optional) {
    out += "?";
  }
  return out;
}

std::string Schema::FullName() const {
  return absl::StrCat(ns, "::", name, ".", overload);
}

int Schema::ArgumentIndex(std::string_view n) const {
  for (size_t i = 0; i < arguments.size(); ++i) {
    if (arguments[i].name == n) return static_cast<int>(i);
  }
  return -1;
}

std::string Schema::ToString() const {
  std::string out = absl::StrCat(ns, "::", name);
  if (overload != "default") absl::StrAppend(&out, ".", overload);
  out += "(";
  bool star = false;
  for (size_t i = 0; i < arguments.size(); ++i) {
    const SchemaArgument& a = arguments[i];
    if (i > 0) out += ", ";
    if (a.kwarg_only && !star) {
      out += "*, ";
      star = true;
    }
    std::string type = a.type.ToString();
    if (!a.alias.empty()) {
      // The alias annotation sits right after the base type name.
      std::string base(BaseToString(a.type.base));
      type = absl::StrCat(base, "(", a.alias, ")", type.substr(base.size()));
    }
    absl::StrAppend(&out, type, " ", a.name);
    if (a.default_value) {
      absl::StrAppend(&out, "=", ArgToSchemaDefault(*a.default_value));
    }
  }
  out += ") -> ";
  std::vector<std::string> rets;
  for (const SchemaReturn& r : returns) {
    std::string type = r.type.ToString();
    if (!r.alias.empty()) {
      std::string base(BaseToString(r.type.base));
      type = absl::StrCat(base, "(", r.alias, ")", type.substr(base.size()));
    }
    rets.push_back(r.name.empty() ? type : absl::StrCat(type, " ", r.name));
  }
  if (returns.size() == 1 && returns[0].name.empty()) {
    out += rets[0];
  } else {
    absl::StrAppend(&out, "(", absl::StrJoin(rets, ", "), ")");
  }
  return out;
}

absl::StatusOr<Schema> ParseSchema(std::string_view text) {
  return SchemaParser(text).Parse();
}

}  // namespace kiln::ops
