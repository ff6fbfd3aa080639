#include "compiler/ir/tensor_type.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kiln::ir {

std::string Device::ToString() const {
  if (type == Type::kCpu) return "cpu";
  return absl::StrCat("cuda:", index);
}

std::optional<Device> Device::Parse(std::string_view text) {
  if (text == "cpu") return Device::Cpu();
  constexpr std::string_view kCuda = "cuda:";
  if (text.substr(0, kCuda.size()) == kCuda) {
    int index = 0;
    if (absl::SimpleAtoi(std::string(text.substr(kCuda.size())), &index) &&
        index >= 0) {
      return Device::Cuda(index);
    }
  }
  return std::nullopt;
}

ExprRef Const(int64_t v) { return sym::Expr::Const(v); }

std::vector<ExprRef> Consts(const std::vector<int64_t>& values) {
  std::vector<ExprRef> out;
  out.reserve(values.size());
  for (int64_t v : values) out.push_back(Const(v));
  return out;
}

std::string ExprListToString(const std::vector<ExprRef>& list) {
  std::vector<std::string> parts;
  parts.reserve(list.size());
  for (const ExprRef& e : list) parts.push_back(e->ToString());
  return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
}

bool SameExprList(const std::vector<ExprRef>& a,
                  const std::vector<ExprRef>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!sym::SameExpr(a[i], b[i])) return false;
  }
  return true;
}

std::vector<ExprRef> ContiguousStrides(const std::vector<ExprRef>& sizes) {
  std::vector<ExprRef> strides(sizes.size());
  ExprRef running = Const(1);
  for (int i = static_cast<int>(sizes.size()) - 1; i >= 0; --i) {
    strides[i] = running;
    ExprRef size = sizes[i];
    if (auto c = size->AsConst(); c && *c <= 1) size = Const(1);
    running = sym::Expr::Mul(running, size);
  }
  return strides;
}

TensorType TensorType::Contiguous(DType dtype, std::vector<ExprRef> sizes,
                                  Device device) {
  TensorType t;
  t.dtype = dtype;
  t.device = device;
  t.strides = ContiguousStrides(sizes);
  t.sizes = std::move(sizes);
  t.storage_offset = Const(0);
  return t;
}

TensorType TensorType::Strided(DType dtype, std::vector<ExprRef> sizes,
                               std::vector<ExprRef> strides,
                               ExprRef storage_offset, Device device) {
  TensorType t;
  t.dtype = dtype;
  t.device = device;
  t.sizes = std::move(sizes);
  t.strides = std::move(strides);
  t.storage_offset = storage_offset ? storage_offset : Const(0);
  return t;
}

ExprRef TensorType::Numel() const {
  if (sizes.empty()) return Const(1);
  return sym::Expr::Mul(std::vector<ExprRef>(sizes.begin(), sizes.end()));
}

bool TensorType::IsContiguous() const {
  ExprRef expected = Const(1);
  for (int i = rank() - 1; i >= 0; --i) {
    auto size = sizes[i]->AsConst();
    if (size && *size == 1) continue;
    if (size && *size == 0) return true;  // no elements: any layout
    if (!sym::SameExpr(strides[i], expected)) return false;
    expected = sym::Expr::Mul(expected, sizes[i]);
  }
  return true;
}

bool TensorType::operator==(const TensorType& o) const {
  return dtype == o.dtype && device == o.device &&
         requires_grad == o.requires_grad && SameExprList(sizes, o.sizes) &&
         SameExprList(strides, o.strides) &&
         sym::SameExpr(storage_offset, o.storage_offset);
}

std::string TensorType::ToString() const {
  std::string out = absl::StrCat(ShortName(dtype));
  std::vector<std::string> parts;
  for (const ExprRef& e : sizes) parts.push_back(e->ToString());
  absl::StrAppend(&out, "[", absl::StrJoin(parts, ", "), "]");
  if (!SameExprList(strides, ContiguousStrides(sizes))) {
    parts.clear();
    for (const ExprRef& e : strides) parts.push_back(e->ToString());
    absl::StrAppend(&out, "{", absl::StrJoin(parts, ", "), "}");
  }
  if (storage_offset && !(storage_offset->AsConst() == 0)) {
    absl::StrAppend(&out, " offset(", storage_offset->ToString(), ")");
  }
  if (device != Device::Cpu()) absl::StrAppend(&out, " ", device.ToString());
  if (requires_grad) absl::StrAppend(&out, " requires_grad");
  return out;
}

}  // namespace kiln::ir
