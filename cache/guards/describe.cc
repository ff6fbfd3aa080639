// The guards in words (`kiln show`): one line per guard, with the paths of
// explanations and canonical symbol names.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cache/guards/guard_set.h"
#include "cache/guards/internal.h"
#include "compiler/symbolic/expr.h"

namespace kiln::cache {
namespace guards_internal {
namespace {

std::string ExprWords(const v1::SymExpr& e, bool want_bool) {
  absl::StatusOr<sym::ExprRef> x = sym::FromProto(e, "", want_bool, 1 << 20);
  return x.ok() ? (*x)->ToString() : std::string("?");
}

std::string DimWords(const v1::Dim& d) {
  return d.has_expr() ? ExprWords(d.expr(), false)
                      : absl::StrCat(d.static_size());
}

std::string DimsWords(const google::protobuf::RepeatedPtrField<v1::Dim>& ds) {
  std::vector<std::string> parts;
  for (const v1::Dim& d : ds) parts.push_back(DimWords(d));
  return absl::StrCat("(", absl::StrJoin(parts, ", "),
                      parts.size() == 1 ? ",)" : ")");
}

void TensorLines(const v1::TensorGuard& t, const std::string& path,
                 std::vector<std::string>* out) {
  const v1::TensorMeta& m = t.meta();
  std::string line =
      absl::StrCat(path, ": ", t.type_name(), ", ", FormatDType(m.dtype()),
                   ", ", FormatDevice(m.device().type(), m.device().index()),
                   ", requires_grad ", FormatBool(m.requires_grad()), ", size ",
                   DimsWords(m.sizes()), ", stride ", DimsWords(m.strides()));
  if (m.has_storage_offset()) {
    absl::StrAppend(&line, ", storage_offset ", DimWords(m.storage_offset()));
  }
  if (t.has_alias_group()) {
    absl::StrAppend(&line, ", alias group ", t.alias_group());
  }
  out->push_back(std::move(line));
  if (!t.has_subclass()) return;
  const v1::SubclassInfo& s = t.subclass();
  std::string sub =
      absl::StrCat(path, ".subclass(", ShortTypeName(t.type_name()), ")");
  std::vector<std::string> names;
  for (const v1::InnerTensor& in : s.inner()) names.push_back(in.name());
  out->push_back(absl::StrCat(
      sub, ": inner_names ", FormatNameList(names), ", metadata ",
      FormatMetadataValue(s.has_metadata() ? &s.metadata() : nullptr),
      s.has_metadata_guard() ? " (decided by __metadata_guard__)" : ""));
  for (const v1::InnerTensor& in : s.inner()) {
    TensorLines(in.guard(), absl::StrCat(sub, ".inner(", in.name(), ")"), out);
  }
}

}  // namespace
}  // namespace guards_internal

std::vector<std::string> GuardSet::Describe() const {
  using namespace guards_internal;  // NOLINT: formatting helpers
  const v1::GuardContext& c = impl_->canonical;
  std::vector<std::string> out;
  const v1::GlobalState& g = c.global_state();
  out.push_back(absl::StrCat("global.grad_mode: ", FormatBool(g.grad_mode())));
  out.push_back(absl::StrCat("global.torch_function: ",
                             FormatTorchFunction(g.torch_function())));
  for (const v1::AutocastState& a : g.autocast()) {
    out.push_back(absl::StrCat("global.autocast(", a.device_type(),
                               "): enabled ", FormatBool(a.enabled()),
                               ", dtype ", FormatDType(a.dtype())));
  }
  out.push_back(
      absl::StrCat("global.default_dtype: ", FormatDType(g.default_dtype())));
  out.push_back(absl::StrCat("global.deterministic_algorithms: ",
                             FormatBool(g.deterministic_algorithms())));
  out.push_back(absl::StrCat("global.fp32_matmul_precision: ",
                             FormatMatmulPrecision(g.fp32_matmul_precision())));
  out.push_back(absl::StrCat("inputs: ", c.inputs_size()));
  for (int i = 0; i < c.inputs_size(); ++i) {
    const v1::InputGuard& in = c.inputs(i);
    std::string path = absl::StrCat("inputs[", i, "]");
    if (in.has_tensor()) {
      TensorLines(in.tensor(), path, &out);
    } else if (in.has_symint()) {
      out.push_back(absl::StrCat(path, ": SymInt ",
                                 ExprWords(in.symint().expr(), false)));
    } else {
      out.push_back(
          absl::StrCat(path, ": constant ", FormatConstant(in.constant())));
    }
  }
  for (const v1::SymbolDecl& d : c.symbols()) {
    std::string range =
        d.has_min() && d.has_max()
            ? absl::StrCat(d.min(), " <= ", d.name(), " <= ", d.max())
        : d.has_min() ? absl::StrCat(d.name(), " >= ", d.min())
        : d.has_max() ? absl::StrCat(d.name(), " <= ", d.max())
                      : std::string("unbounded");
    out.push_back(absl::StrCat("symbols[", d.name(), "]: ", range, " (hint ",
                               d.hint(), ")"));
  }
  for (int k = 0; k < c.shape_guards_size(); ++k) {
    out.push_back(absl::StrCat("shape_guards[", k,
                               "]: ", ExprWords(c.shape_guards(k), true)));
  }
  return out;
}

}  // namespace kiln::cache
