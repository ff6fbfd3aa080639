// Values in words for explanations and Describe(): Python-like where the
// value is a Python object (metadata, constants), plain otherwise.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cache/guards/guard_set.h"
#include "cache/guards/internal.h"
#include "kiln/v1/guards.pb.h"

namespace kiln::cache {
namespace guards_internal {
namespace {

// Python's repr quoting: single quotes unless the text holds a single quote
// and no double quote.
std::string Quote(std::string_view s, bool bytes) {
  const bool double_quote = s.find('\'') != std::string_view::npos &&
                            s.find('"') == std::string_view::npos;
  const char q = double_quote ? '"' : '\'';
  std::string out = bytes ? "b" : "";
  out += q;
  for (unsigned char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c == static_cast<unsigned char>(q)) {
          out += '\\';
          out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f || (bytes && c >= 0x80)) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += q;
  return out;
}

void AppendMetadata(const v1::MetadataValue* v, std::string* out);

void AppendSequence(const v1::MetadataSequence& seq, bool tuple,
                    std::string* out) {
  out->push_back(tuple ? '(' : '[');
  for (int i = 0; i < seq.values_size(); ++i) {
    if (i > 0) out->append(", ");
    AppendMetadata(&seq.values(i), out);
  }
  if (tuple && seq.values_size() == 1) out->push_back(',');
  out->push_back(tuple ? ')' : ']');
}

void AppendMetadata(const v1::MetadataValue* v, std::string* out) {
  if (v == nullptr) {
    out->append("None");
    return;
  }
  switch (v->kind_case()) {
    case v1::MetadataValue::kBoolValue:
      out->append(v->bool_value() ? "True" : "False");
      return;
    case v1::MetadataValue::kIntValue:
      absl::StrAppend(out, v->int_value());
      return;
    case v1::MetadataValue::kFloatValue:
      out->append(PythonFloat(v->float_value()));
      return;
    case v1::MetadataValue::kStringValue:
      out->append(PythonStr(v->string_value()));
      return;
    case v1::MetadataValue::kBytesValue:
      out->append(Quote(v->bytes_value(), /*bytes=*/true));
      return;
    case v1::MetadataValue::kTuple:
      AppendSequence(v->tuple(), /*tuple=*/true, out);
      return;
    case v1::MetadataValue::kList:
      AppendSequence(v->list(), /*tuple=*/false, out);
      return;
    case v1::MetadataValue::kDict: {
      out->push_back('{');
      for (int i = 0; i < v->dict().entries_size(); ++i) {
        if (i > 0) out->append(", ");
        AppendMetadata(&v->dict().entries(i).key(), out);
        out->append(": ");
        AppendMetadata(&v->dict().entries(i).value(), out);
      }
      out->push_back('}');
      return;
    }
    case v1::MetadataValue::kSymint:
      out->append("<SymInt>");
      return;
    case v1::MetadataValue::kDtype:
      out->append(FormatDType(v->dtype()));
      return;
    case v1::MetadataValue::kDevice:
      if (v->device().type() == v1::CUDA) {
        absl::StrAppend(out, "device(type='cuda', index=", v->device().index(),
                        ")");
      } else {
        out->append("device(type='cpu')");
      }
      return;
    case v1::MetadataValue::kOpaque:
      out->append(v->opaque().repr());
      return;
    default:
      out->append("None");
  }
}

}  // namespace

std::string PythonStr(std::string_view s) { return Quote(s, false); }

// repr(float): the shortest digits that round-trip, in fixed notation for
// decimal exponents in [-4, 16), scientific otherwise.
std::string PythonFloat(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  for (int precision = 0; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*e", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s(buf);
  std::string sign;
  if (s[0] == '-') {
    sign = "-";
    s.erase(0, 1);
  }
  size_t e = s.find('e');
  int exponent = std::atoi(s.c_str() + e + 1);
  std::string digits;
  for (size_t i = 0; i < e; ++i) {
    if (s[i] != '.') digits.push_back(s[i]);
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      return absl::StrCat(sign, "0.", std::string(-exponent - 1, '0'), digits);
    }
    std::string whole =
        digits.substr(0, std::min<size_t>(digits.size(), exponent + 1));
    whole.append(exponent + 1 - whole.size(), '0');
    std::string fraction = digits.size() > static_cast<size_t>(exponent + 1)
                               ? digits.substr(exponent + 1)
                               : "0";
    return absl::StrCat(sign, whole, ".", fraction);
  }
  std::string mantissa = digits.substr(0, 1);
  if (digits.size() > 1) absl::StrAppend(&mantissa, ".", digits.substr(1));
  char exp[16];
  std::snprintf(exp, sizeof exp, "e%c%02d", exponent < 0 ? '-' : '+',
                std::abs(exponent));
  return absl::StrCat(sign, mantissa, exp);
}

std::string FormatMetadataValue(const v1::MetadataValue* value) {
  std::string out;
  AppendMetadata(value, &out);
  return out;
}

std::string FormatConstant(const v1::ConstantGuard& value) {
  switch (value.value_case()) {
    case v1::ConstantGuard::kIntValue:
      return absl::StrCat(value.int_value());
    case v1::ConstantGuard::kFloatValue:
      return PythonFloat(value.float_value());
    case v1::ConstantGuard::kBoolValue:
      return value.bool_value() ? "True" : "False";
    case v1::ConstantGuard::kStringValue:
      return PythonStr(value.string_value());
    default:
      return "None";
  }
}

std::string FormatDType(int dtype) {
  switch (dtype) {
    case v1::FLOAT16:
      return "torch.float16";
    case v1::BFLOAT16:
      return "torch.bfloat16";
    case v1::FLOAT32:
      return "torch.float32";
    case v1::FLOAT64:
      return "torch.float64";
    case v1::INT8:
      return "torch.int8";
    case v1::INT16:
      return "torch.int16";
    case v1::INT32:
      return "torch.int32";
    case v1::INT64:
      return "torch.int64";
    case v1::UINT8:
      return "torch.uint8";
    case v1::BOOL:
      return "torch.bool";
    default:
      return absl::StrCat("dtype(", dtype, ")");
  }
}

std::string FormatDevice(int type, int index) {
  switch (type) {
    case v1::CPU:
      return "cpu";
    case v1::CUDA:
      return absl::StrCat("cuda:", index);
    default:
      return absl::StrCat("device(", type, ")");
  }
}

std::string FormatBool(bool value) { return value ? "true" : "false"; }

std::string FormatTorchFunction(int state) {
  switch (state) {
    case v1::GlobalState::ENABLED:
      return "enabled";
    case v1::GlobalState::SUBCLASS_DISABLED:
      return "subclass_disabled";
    case v1::GlobalState::ALL_DISABLED:
      return "all_disabled";
    default:
      return absl::StrCat("unknown(", state, ")");
  }
}

std::string FormatMatmulPrecision(int precision) {
  switch (precision) {
    case v1::GlobalState::HIGHEST:
      return "highest";
    case v1::GlobalState::HIGH:
      return "high";
    case v1::GlobalState::MEDIUM:
      return "medium";
    default:
      return absl::StrCat("unknown(", precision, ")");
  }
}

std::string FormatNameList(const std::vector<std::string>& names) {
  std::string out = "[";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out.append(", ");
    out.append(PythonStr(names[i]));
  }
  out.push_back(']');
  return out;
}

std::string SymbolName(int slot) { return absl::StrCat("s", slot); }

std::string ShortTypeName(std::string_view type_name) {
  size_t dot = type_name.rfind('.');
  return std::string(dot == std::string_view::npos ? type_name
                                                   : type_name.substr(dot + 1));
}

}  // namespace guards_internal

std::string FormatMetadata(const v1::MetadataValue* value) {
  return guards_internal::FormatMetadataValue(value);
}

}  // namespace kiln::cache
