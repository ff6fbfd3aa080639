#include "client/cpp/cli/signature.h"

#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"

namespace kiln::cli {
namespace {

const std::map<std::string, v1::DType>& DTypes() {
  static const auto* dtypes = new std::map<std::string, v1::DType>{
      {"f16", v1::FLOAT16}, {"bf16", v1::BFLOAT16}, {"f32", v1::FLOAT32},
      {"f64", v1::FLOAT64}, {"i8", v1::INT8},       {"i16", v1::INT16},
      {"i32", v1::INT32},   {"i64", v1::INT64},     {"u8", v1::UINT8},
      {"b8", v1::BOOL}};
  return *dtypes;
}

absl::StatusOr<v1::DType> ParseDType(const std::string& text,
                                     const std::string& what) {
  auto it = DTypes().find(absl::AsciiStrToLower(text));
  if (it == DTypes().end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": unknown dtype '", text,
                     "' (f16 bf16 f32 f64 i8 i16 i32 i64 u8 b8)"));
  }
  return it->second;
}

absl::StatusOr<std::vector<int64_t>> ParseInts(const std::string& text,
                                               const std::string& what) {
  std::vector<int64_t> out;
  if (absl::StripAsciiWhitespace(text).empty()) return out;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &v)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": '", std::string(part), "' is not an integer"));
    }
    out.push_back(v);
  }
  return out;
}

absl::StatusOr<v1::InputGuard> ParseInput(const std::string& spec, int index) {
  const std::string what =
      absl::StrCat("--input #", index + 1, " '", spec, "'");
  v1::InputGuard input;
  auto value = [&](const std::string& prefix) -> std::optional<std::string> {
    if (absl::StartsWith(spec, prefix)) {
      return spec.substr(prefix.size());
    }
    return std::nullopt;
  };
  if (spec == "none") {
    input.mutable_constant()->mutable_none();
    return input;
  }
  if (auto v = value("sym:")) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(*v, &n)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": a SymInt needs an integer value"));
    }
    input.mutable_symint()->mutable_expr()->set_op(v1::SymExpr::CONSTANT);
    input.mutable_symint()->mutable_expr()->set_constant(n);
    return input;
  }
  if (auto v = value("int:")) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(*v, &n)) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": not an int"));
    }
    input.mutable_constant()->set_int_value(n);
    return input;
  }
  if (auto v = value("float:")) {
    double d = 0;
    if (!absl::SimpleAtod(*v, &d)) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": not a float"));
    }
    input.mutable_constant()->set_float_value(d);
    return input;
  }
  if (auto v = value("bool:")) {
    bool b = false;
    if (!absl::SimpleAtob(*v, &b)) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": not a bool"));
    }
    input.mutable_constant()->set_bool_value(b);
    return input;
  }
  if (auto v = value("str:")) {
    input.mutable_constant()->set_string_value(*v);
    return input;
  }
  std::optional<int> group;
  absl::StatusOr<v1::TensorMeta> meta = ParseTensorSpec(spec, &group);
  if (!meta.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", meta.status().message()));
  }
  v1::TensorGuard* t = input.mutable_tensor();
  t->set_type_name("torch.Tensor");
  *t->mutable_meta() = std::move(*meta);
  if (group.has_value()) t->set_alias_group(*group);
  return input;
}

}  // namespace

absl::StatusOr<v1::TensorMeta> ParseTensorSpec(
    const std::string& spec, std::optional<int>* alias_group) {
  const std::string usage =
      "expected DTYPE[SIZES] with optional {STRIDES}, @DEVICE, +grad, "
      "+offset=N, #GROUP (e.g. f32[8,16]{16,1}@cuda:0+grad), or sym:N, "
      "int:N, float:X, bool:B, str:S, none";
  size_t open = spec.find('[');
  size_t close = spec.find(']');
  if (open == std::string::npos || close == std::string::npos || close < open) {
    return absl::InvalidArgumentError(usage);
  }
  v1::TensorMeta meta;
  absl::StatusOr<v1::DType> dtype = ParseDType(spec.substr(0, open), "dtype");
  if (!dtype.ok()) return dtype.status();
  meta.set_dtype(*dtype);
  absl::StatusOr<std::vector<int64_t>> sizes =
      ParseInts(spec.substr(open + 1, close - open - 1), "sizes");
  if (!sizes.ok()) return sizes.status();
  std::string rest = spec.substr(close + 1);
  std::optional<std::vector<int64_t>> strides;
  if (absl::StartsWith(rest, "{")) {
    size_t end = rest.find('}');
    if (end == std::string::npos) return absl::InvalidArgumentError(usage);
    absl::StatusOr<std::vector<int64_t>> s =
        ParseInts(rest.substr(1, end - 1), "strides");
    if (!s.ok()) return s.status();
    if (s->size() != sizes->size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(s->size(), " strides for ", sizes->size(), " sizes"));
    }
    strides = std::move(*s);
    rest = rest.substr(end + 1);
  }
  meta.mutable_device()->set_type(v1::CPU);
  int64_t offset = 0;
  while (!rest.empty()) {
    size_t next = rest.find_first_of("@+#", 1);
    std::string token = rest.substr(0, next);
    rest = next == std::string::npos ? "" : rest.substr(next);
    if (token == "+grad") {
      meta.set_requires_grad(true);
    } else if (absl::StartsWith(token, "+offset=")) {
      if (!absl::SimpleAtoi(token.substr(8), &offset) || offset < 0) {
        return absl::InvalidArgumentError("bad +offset=N");
      }
    } else if (absl::StartsWith(token, "#")) {
      int g = 0;
      if (!absl::SimpleAtoi(token.substr(1), &g) || g < 0) {
        return absl::InvalidArgumentError("bad alias group #N");
      }
      *alias_group = g;
    } else if (token == "@cpu") {
      meta.mutable_device()->set_type(v1::CPU);
    } else if (absl::StartsWith(token, "@cuda")) {
      int index = 0;
      if (token != "@cuda" && (!absl::StartsWith(token, "@cuda:") ||
                               !absl::SimpleAtoi(token.substr(6), &index))) {
        return absl::InvalidArgumentError(
            absl::StrCat("bad device '", token.substr(1), "'"));
      }
      meta.mutable_device()->set_type(v1::CUDA);
      meta.mutable_device()->set_index(index);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected '", token, "'; ", usage));
    }
  }
  if (!strides.has_value()) {
    strides = std::vector<int64_t>(sizes->size(), 1);
    for (int i = static_cast<int>(sizes->size()) - 2; i >= 0; --i) {
      (*strides)[i] = (*strides)[i + 1] * std::max<int64_t>(1, (*sizes)[i + 1]);
    }
  }
  for (int64_t s : *sizes) meta.add_sizes()->set_static_size(s);
  for (int64_t s : *strides) meta.add_strides()->set_static_size(s);
  if (offset != 0) meta.mutable_storage_offset()->set_static_size(offset);
  return meta;
}

absl::StatusOr<v1::CallSignature> BuildSignature(const SignatureFlags& flags) {
  v1::CallSignature call;
  if (!flags.file.empty()) {
    if (!flags.inputs.empty()) {
      return absl::InvalidArgumentError(
          "--signature and --input exclude each other");
    }
    std::ifstream in(flags.file, std::ios::binary);
    if (!in) {
      return absl::NotFoundError(
          absl::StrCat("--signature: cannot read '", flags.file, "'"));
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string text = buffer.str();
    const std::string& f = flags.file;
    bool ok = false;
    std::string why;
    if (absl::EndsWith(f, ".pb") || absl::EndsWith(f, ".binpb")) {
      ok = call.ParseFromString(text);
    } else if (absl::EndsWith(f, ".txtpb") || absl::EndsWith(f, ".textproto") ||
               absl::EndsWith(f, ".pbtxt")) {
      ok = google::protobuf::TextFormat::ParseFromString(text, &call);
    } else {
      google::protobuf::util::JsonParseOptions options;
      auto status =
          google::protobuf::util::JsonStringToMessage(text, &call, options);
      ok = status.ok();
      if (!ok) why = std::string(status.message());
    }
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("--signature: '", f, "' is not a kiln.v1.CallSignature",
                       why.empty() ? "" : absl::StrCat(" (", why, ")")));
    }
    return call;
  }
  if (flags.inputs.empty()) {
    return absl::InvalidArgumentError(
        "say which call to explain: --signature FILE, or one --input per "
        "argument");
  }
  for (size_t i = 0; i < flags.inputs.size(); ++i) {
    absl::StatusOr<v1::InputGuard> input =
        ParseInput(flags.inputs[i], static_cast<int>(i));
    if (!input.ok()) return input.status();
    *call.add_inputs() = std::move(*input);
  }
  v1::GlobalState* g = call.mutable_global_state();
  g->set_grad_mode(!flags.no_grad);
  static const std::map<std::string, v1::GlobalState::TorchFunctionState>
      kTorchFunction = {
          {"enabled", v1::GlobalState::ENABLED},
          {"subclass-disabled", v1::GlobalState::SUBCLASS_DISABLED},
          {"all-disabled", v1::GlobalState::ALL_DISABLED}};
  auto tf = kTorchFunction.find(flags.torch_function);
  if (tf == kTorchFunction.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--torch-function: '", flags.torch_function,
        "' is not one of enabled, subclass-disabled, all-disabled"));
  }
  g->set_torch_function(tf->second);
  std::map<std::string, std::pair<bool, v1::DType>> autocast = {
      {"cpu", {false, v1::BFLOAT16}}, {"cuda", {false, v1::FLOAT16}}};
  for (const std::string& a : flags.autocast) {
    std::vector<std::string> kv = absl::StrSplit(a, absl::MaxSplits('=', 1));
    if (kv.size() != 2 || kv[0].empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--autocast: '", a, "' is not DEVICE=DTYPE (e.g. cuda=f16)"));
    }
    absl::StatusOr<v1::DType> d = ParseDType(kv[1], "--autocast");
    if (!d.ok()) return d.status();
    autocast[kv[0]] = {true, *d};
  }
  for (const auto& [device, state] : autocast) {
    v1::AutocastState* s = g->add_autocast();
    s->set_device_type(device);
    s->set_enabled(state.first);
    s->set_dtype(state.second);
  }
  absl::StatusOr<v1::DType> d =
      ParseDType(flags.default_dtype, "--default-dtype");
  if (!d.ok()) return d.status();
  g->set_default_dtype(*d);
  g->set_deterministic_algorithms(flags.deterministic);
  static const std::map<std::string, v1::GlobalState::MatmulPrecision>
      kPrecision = {{"highest", v1::GlobalState::HIGHEST},
                    {"high", v1::GlobalState::HIGH},
                    {"medium", v1::GlobalState::MEDIUM}};
  auto p = kPrecision.find(flags.matmul_precision);
  if (p == kPrecision.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--matmul-precision: '", flags.matmul_precision,
                     "' is not one of highest, high, medium"));
  }
  g->set_fp32_matmul_precision(p->second);
  return call;
}

}  // namespace kiln::cli
