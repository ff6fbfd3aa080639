// Data movement: cat, split_with_sizes, index_select, gather, embedding,
// embedding_dense_backward and constant_pad_nd.
//
// Checks, dtypes and layouts are ATen's (torch 1.13 and 2.x agree): cat
// skips legacy 1-d empty tensors, promotes its inputs' dtypes and keeps a
// common channels-last format; index ops allocate contiguous outputs;
// constant_pad_nd with only non-positive pads is a clone of the cropped
// input, otherwise a fresh tensor in the input's suggested memory format.
// Indices are checked at run time with ATen's messages ("index out of range
// in self"), never read out of bounds.
#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "compiler/ops/layout_util.h"
#include "compiler/ops/op_def.h"
#include "compiler/ops/shape_util.h"
#include "compiler/runtime/dispatch.h"

namespace kiln::ops {
namespace {

using ir::Arg;
using ir::DType;
using ir::MemoryFormat;
using ir::TensorType;
using sym::Expr;

absl::Status Invalid(const std::string& msg) {
  return absl::InvalidArgumentError(msg);
}

// Copies `src` into the region of `dst` described by `region` (a type over
// dst's storage), converting dtypes.
absl::Status CopyInto(const rt::Tensor& dst, const TensorType& region,
                      const rt::Tensor& src) {
  auto view = ViewAs(dst, region);
  if (!view.ok()) return view.status();
  return view->CopyFrom(src);
}

bool IsIndexDType(DType d) { return d == DType::kInt32 || d == DType::kInt64; }

// The element at `idx` of an integer tensor.
int64_t IndexAt(const rt::Tensor& t, const int64_t* idx) {
  return rt::LoadAsInt(t.ElementPtr(idx), t.dtype());
}

// --- cat
// -----------------------------------------------------------------------

// ATen's cat: 1-d tensors of size 0 are skipped (legacy behaviour), 0-d
// tensors are refused, dtypes promote, sizes match except in `dim`, and the
// output keeps the inputs' memory format when they all suggest the same one.
struct CatPlan {
  TensorType out;
  bool exact = true;
  int64_t dim = 0;
  std::vector<bool> skipped;
};

absl::StatusOr<CatPlan> PlanCat(const std::vector<const TensorType*>& inputs,
                                int64_t dim_arg) {
  if (inputs.empty()) {
    return Invalid("torch.cat(): expected a non-empty list of Tensors");
  }
  CatPlan plan;
  DType dtype = inputs[0]->dtype;
  int valid = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorType& t = *inputs[i];
    if (t.rank() == 0) {
      return Invalid(absl::StrFormat(
          "zero-dimensional tensor (at position %d) cannot be concatenated",
          i));
    }
    if (t.device != inputs[0]->device) {
      return Invalid(absl::StrFormat(
          "Expected all tensors to be on the same device, but found at least "
          "two devices, %s and %s!",
          inputs[0]->device.ToString(), t.device.ToString()));
    }
    dtype = ir::PromoteTypes(dtype, t.dtype);
    bool skip = t.rank() == 1 && t.sizes[0]->AsConst() == 0;
    plan.skipped.push_back(skip);
    if (!skip && valid < 0) valid = static_cast<int>(i);
  }
  ir::Device device = inputs[0]->device;
  if (valid < 0) {
    // Every input is a legacy empty tensor: the result is one too.
    plan.out = TensorType::Contiguous(dtype, {ir::Const(0)}, device);
    return plan;
  }
  const TensorType& ref = *inputs[valid];
  auto w = WrapDim(dim_arg, ref.rank());
  if (!w.ok()) return w.status();
  plan.dim = *w;
  std::vector<ExprRef> sizes = ref.sizes;
  std::vector<ExprRef> cat_sizes;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (plan.skipped[i]) continue;
    const TensorType& t = *inputs[i];
    if (t.rank() != ref.rank()) {
      return Invalid(absl::StrFormat(
          "Tensors must have same number of dimensions: got %d and %d",
          ref.rank(), t.rank()));
    }
    for (int d = 0; d < ref.rank(); ++d) {
      if (d == plan.dim) continue;
      if (!ProvablyEqual(ref.sizes[d], t.sizes[d]).value_or(false)) {
        return Invalid(absl::StrFormat(
            "Sizes of tensors must match except in dimension %d. Expected "
            "size %s but got size %s for tensor number %d in the list.",
            plan.dim, ref.sizes[d]->ToString(), t.sizes[d]->ToString(), i));
      }
    }
    cat_sizes.push_back(t.sizes[plan.dim]);
  }
  sizes[plan.dim] = Expr::Add(cat_sizes);
  // cat_compute_output_memory_format, over every input (skipped ones too).
  std::optional<MemoryFormat> format;
  bool unknown = false;
  for (const TensorType* t : inputs) {
    auto f = SuggestMemoryFormat(*t);
    if (!f) {
      unknown = true;
      continue;
    }
    if (*f == MemoryFormat::kContiguous || (format && *format != *f)) {
      format = MemoryFormat::kContiguous;
      break;
    }
    format = f;
  }
  if (unknown && format != MemoryFormat::kContiguous) {
    plan.exact = false;
    format = MemoryFormat::kContiguous;
  }
  auto strides = FormatStrides(sizes, *format);
  if (!strides.ok()) return strides.status();
  plan.out = TensorType::Strided(dtype, sizes, *strides, ir::Const(0), device);
  return plan;
}

absl::StatusOr<std::vector<InferredOutput>> InferCat(const InferContext& ctx) {
  auto dim = IntArgs(ctx).StaticInt(1);
  if (!dim.ok()) return dim.status();
  auto plan = PlanCat(ctx.tensor_list(0), *dim);
  if (!plan.ok()) return plan.status();
  return std::vector<InferredOutput>{InferredOutput(plan->out, plan->exact)};
}

absl::Status RunCat(KernelContext& kc) {
  auto dim = kc.int_arg(1);
  if (!dim.ok()) return dim.status();
  std::vector<const rt::Tensor*> inputs = kc.tensor_list(0);
  std::vector<TensorType> types;
  for (const rt::Tensor* t : inputs) types.push_back(ConstType(*t));
  std::vector<const TensorType*> type_ptrs;
  for (const TensorType& t : types) type_ptrs.push_back(&t);
  auto plan = PlanCat(type_ptrs, *dim);
  if (!plan.ok()) return plan.status();
  auto out = AllocateLike(plan->out);
  if (!out.ok()) return out.status();
  TensorType out_type = ConstType(*out);
  int64_t offset = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (plan->skipped[i]) continue;
    int64_t len = inputs[i]->sizes()[plan->dim];
    TensorType region =
        NarrowType(out_type, plan->dim, ir::Const(offset), ir::Const(len));
    if (auto st = CopyInto(*out, region, *inputs[i]); !st.ok()) return st;
    offset += len;
  }
  kc.SetOutput(0, *std::move(out));
  return absl::OkStatus();
}

KILN_REGISTER_OP("aten::cat(Tensor[] tensors, int dim=0) -> Tensor")
    .Category(OpCategory::kDataMovement)
    .Infer(InferCat)
    .Reference(RunCat);

// --- split_with_sizes (views)
// --------------------------------------------------

absl::StatusOr<ViewTypes> SplitWithSizesGeometry(const TensorType& self,
                                                 const IntArgs& args) {
  auto split_sizes = args.IntList(1);
  if (!split_sizes.ok()) return split_sizes.status();
  auto dim_arg = args.StaticInt(2);
  if (!dim_arg.ok()) return dim_arg.status();
  if (self.rank() == 0) {
    return Invalid(absl::StrFormat(
        "dimension specified as %d but tensor has no dimensions", *dim_arg));
  }
  auto w = WrapDim(*dim_arg, self.rank());
  if (!w.ok()) return w.status();
  for (const ExprRef& s : *split_sizes) {
    if (KnownNegative(s)) {
      return Invalid(absl::StrFormat(
          "split_with_sizes expects split_sizes have only non-negative "
          "entries, but got split_sizes=%s",
          ShapeString(*split_sizes)));
    }
  }
  ExprRef total = split_sizes->empty() ? ir::Const(0) : Expr::Add(*split_sizes);
  // Undecidable sums are checked again at run time.
  if (ProvablyEqual(total, self.sizes[*w]) == false) {
    return Invalid(absl::StrFormat(
        "split_with_sizes expects split_sizes to sum exactly to %s (input "
        "tensor's size at dimension %d), but got split_sizes=%s",
        self.sizes[*w]->ToString(), *w, ShapeString(*split_sizes)));
  }
  ViewTypes out;
  ExprRef start = ir::Const(0);
  for (const ExprRef& s : *split_sizes) {
    out.push_back(NarrowType(self, *w, start, s));
    start = Expr::Add(start, s);
  }
  return out;
}

KILN_REGISTER_OP(
    "aten::split_with_sizes(Tensor(a -> *) self, SymInt[] split_sizes, int "
    "dim=0) -> Tensor(a)[]")
    .Category(OpCategory::kView)
    .Infer(InferView(SplitWithSizesGeometry))
    .Reference(RunView(SplitWithSizesGeometry));

// --- index_select
// ----------------------------------------------------------------

absl::StatusOr<std::vector<InferredOutput>> InferIndexSelect(
    const InferContext& ctx) {
  const TensorType& self = ctx.tensor(0);
  const TensorType& index = ctx.tensor(2);
  auto dim = IntArgs(ctx).StaticInt(1);
  if (!dim.ok()) return dim.status();
  auto w = WrapDim(*dim, self.rank());
  if (!w.ok()) return w.status();
  if (index.rank() > 1) {
    return Invalid("index_select(): Index is supposed to be a vector");
  }
  if (!IsIndexDType(index.dtype)) {
    return Invalid("index_select(): Expected dtype int32 or int64 for index");
  }
  std::vector<ExprRef> sizes = self.sizes;
  if (self.rank() > 0) sizes[*w] = index.Numel();
  return std::vector<InferredOutput>{
      TensorType::Contiguous(self.dtype, sizes, self.device)};
}

absl::Status RunIndexSelect(KernelContext& kc) {
  const rt::Tensor& self = kc.tensor(0);
  const rt::Tensor& index = kc.tensor(2);
  auto dim = kc.int_arg(1);
  if (!dim.ok()) return dim.status();
  auto w = WrapDim(*dim, self.rank());
  if (!w.ok()) return w.status();
  std::vector<int64_t> idx = index.ToInts();
  int64_t bound = self.rank() == 0 ? 1 : self.sizes()[*w];
  for (int64_t i : idx) {
    if (i < 0 || i >= bound) {
      if (self.rank() == 0) return Invalid("index out of range in self");
      return Invalid(absl::StrFormat(
          "INDICES element is out of DATA bounds, id=%d axis_dim=%d", i,
          bound));
    }
  }
  auto out_or = kc.AllocateOutput(0);
  if (!out_or.ok()) return out_or.status();
  rt::Tensor out = *std::move(out_or);
  if (self.rank() == 0) {
    if (auto st = out.CopyFrom(self); !st.ok()) return st;
    kc.SetOutput(0, std::move(out));
    return absl::OkStatus();
  }
  std::vector<int64_t> src(self.rank());
  rt::ForEachIndex(out.sizes(), [&](const int64_t* o) {
    for (int d = 0; d < self.rank(); ++d) src[d] = o[d];
    src[*w] = idx[o[*w]];
    std::memcpy(out.ElementPtr(o), self.ElementPtr(src.data()),
                self.element_size());
  });
  kc.SetOutput(0, std::move(out));
  return absl::OkStatus();
}

KILN_REGISTER_OP(
    "aten::index_select(Tensor self, int dim, Tensor index) -> Tensor")
    .Category(OpCategory::kDataMovement)
    .Infer(InferIndexSelect)
    .Reference(RunIndexSelect);

// --- gather
// ------------------------------------------------------------------------

absl::StatusOr<std::vector<InferredOutput>> InferGather(
    const InferContext& ctx) {
  const TensorType& self = ctx.tensor(0);
  const TensorType& index = ctx.tensor(2);
  auto dim = IntArgs(ctx).StaticInt(1);
  if (!dim.ok()) return dim.status();
  auto w = WrapDim(*dim, self.rank());
  if (!w.ok()) return w.status();
  // scatter_gather_dtype_check and gather_shape_check, both skipped for an
  // empty index.
  bool empty = false;
  for (const ExprRef& s : index.sizes) empty = empty || s->AsConst() == 0;
  if (!empty && index.dtype != DType::kInt64) {
    return Invalid("gather(): Expected dtype int64 for index");
  }
  if (!empty) {
    int self_dims = std::max(self.rank(), 1);
    if (self_dims != std::max(index.rank(), 1)) {
      return Invalid(
          "Index tensor must have the same number of dimensions as input "
          "tensor");
    }
    for (int d = 0; d < self_dims; ++d) {
      if (d == *w) continue;
      ExprRef is = index.rank() == 0 ? ir::Const(1) : index.sizes[d];
      ExprRef ss = self.rank() == 0 ? ir::Const(1) : self.sizes[d];
      bool fits = ProvablyEqual(is, ss).value_or(false) ||
                  ProvablyLess(is, ss).value_or(false);
      if (!fits) {
        return Invalid(absl::StrFormat(
            "Size does not match at dimension %d expected index %s to be "
            "smaller than self %s apart from dimension %d",
            d, ShapeString(index.sizes), ShapeString(self.sizes), *w));
      }
    }
  }
  return std::vector<InferredOutput>{
      TensorType::Contiguous(self.dtype, index.sizes, self.device)};
}

absl::Status RunGather(KernelContext& kc) {
  const rt::Tensor& self = kc.tensor(0);
  const rt::Tensor& index = kc.tensor(2);
  auto dim = kc.int_arg(1);
  if (!dim.ok()) return dim.status();
  auto w = WrapDim(*dim, self.rank());
  if (!w.ok()) return w.status();
  auto out_or = kc.AllocateOutput(0);
  if (!out_or.ok()) return out_or.status();
  rt::Tensor out = *std::move(out_or);
  int64_t bound = self.rank() == 0 ? 1 : self.sizes()[*w];
  absl::Status status = absl::OkStatus();
  std::vector<int64_t> src(self.rank());
  rt::ForEachIndex(out.sizes(), [&](const int64_t* o) {
    if (!status.ok()) return;
    int64_t i = IndexAt(index, o);
    if (i < 0 || i >= bound) {
      status = Invalid(absl::StrFormat(
          "index %d is out of bounds for dimension %d with size %d", i, *w,
          bound));
      return;
    }
    for (int d = 0; d < self.rank(); ++d) src[d] = o[d];
    if (self.rank() > 0) src[*w] = i;
    std::memcpy(out.ElementPtr(o), self.ElementPtr(src.data()),
                self.element_size());
  });
  if (!status.ok()) return status;
  kc.SetOutput(0, std::move(out));
  return absl::OkStatus();
}

KILN_REGISTER_OP(
    "aten::gather(Tensor self, int dim, Tensor index, *, bool "
    "sparse_grad=False) -> Tensor")
    .Category(OpCategory::kDataMovement)
    .Infer(InferGather)
    .Reference(RunGather);

// --- embedding
// -----------------------------------------------------------------------

std::string TorchTensorTypeName(DType d) {
  switch (d) {
    case DType::kFloat16:
      return "torch.HalfTensor";
    case DType::kBFloat16:
      return "torch.BFloat16Tensor";
    case DType::kFloat32:
      return "torch.FloatTensor";
    case DType::kFloat64:
      return "torch.DoubleTensor";
    case DType::kInt8:
      return "torch.CharTensor";
    case DType::kInt16:
      return "torch.ShortTensor";
    case DType::kInt32:
      return "torch.IntTensor";
    case DType::kInt64:
      return "torch.LongTensor";
    case DType::kUInt8:
      return "torch.ByteTensor";
    case DType::kBool:
      return "torch.BoolTensor";
  }
  return "?";
}

absl::Status CheckIndices(const TensorType& indices, int position,
                          const char* op) {
  if (IsIndexDType(indices.dtype)) return absl::OkStatus();
  return Invalid(absl::StrFormat(
      "Expected tensor for argument #%d 'indices' to have one of the "
      "following scalar types: Long, Int; but got %s instead (while checking "
      "arguments for %s)",
      position, TorchTensorTypeName(indices.dtype), op));
}

absl::StatusOr<std::vector<InferredOutput>> InferEmbedding(
    const InferContext& ctx) {
  const TensorType& weight = ctx.tensor(0);
  const TensorType& indices = ctx.tensor(1);
  if (weight.rank() != 2) return Invalid("'weight' must be 2-D");
  if (auto st = CheckIndices(indices, 1, "embedding"); !st.ok()) return st;
  std::vector<ExprRef> sizes = indices.sizes;
  sizes.push_back(weight.sizes[1]);
  return std::vector<InferredOutput>{
      TensorType::Contiguous(weight.dtype, sizes, weight.device)};
}

absl::Status RunEmbedding(KernelContext& kc) {
  const rt::Tensor& weight = kc.tensor(0);
  const rt::Tensor& indices = kc.tensor(1);
  std::vector<int64_t> idx = indices.ToInts();
  const int64_t rows = weight.sizes()[0];
  for (int64_t i : idx) {
    if (i < 0 || i >= rows) return Invalid("index out of range in self");
  }
  auto out_or = kc.AllocateOutput(0);
  if (!out_or.ok()) return out_or.status();
  rt::Tensor out = *std::move(out_or);
  const int r = out.rank();
  int64_t flat = 0;
  // Output elements in row-major order: row `flat / cols` of the indices.
  const int64_t cols = weight.sizes()[1];
  rt::ForEachIndex(out.sizes(), [&](const int64_t* o) {
    int64_t src[2] = {idx[flat / cols], o[r - 1]};
    std::memcpy(out.ElementPtr(o), weight.ElementPtr(src),
                weight.element_size());
    ++flat;
  });
  kc.SetOutput(0, std::move(out));
  return absl::OkStatus();
}

KILN_REGISTER_OP(
    "aten::embedding(Tensor weight, Tensor indices, SymInt padding_idx=-1, "
    "bool scale_grad_by_freq=False, bool sparse=False) -> Tensor")
    .Category(OpCategory::kDataMovement)
    .Infer(InferEmbedding)
    .Reference(RunEmbedding);

absl::StatusOr<std::vector<InferredOutput>> InferEmbeddingBackward(
    const InferContext& ctx) {
  const TensorType& grad = ctx.tensor(0);
  const TensorType& indices = ctx.tensor(1);
  if (auto st = CheckIndices(indices, 2, "embedding_backward"); !st.ok()) {
    return st;
  }
  if (grad.rank() == 0) {
    return Invalid(
        "dimension specified as -1 but tensor has no dimensions (grad_output "
        "must have at least one dimension)");
  }
  if (grad.dtype == DType::kBool) {
    return absl::UnimplementedError(
        "embedding_dense_backward of a bool gradient");
  }
  IntArgs args(ctx);
  auto num_weights = args.Int(2);
  if (!num_weights.ok()) return num_weights.status();
  if (KnownNegative(*num_weights)) {
    return Invalid(
        absl::StrFormat("Trying to create tensor with negative dimension %s",
                        (*num_weights)->ToString()));
  }
  const ExprRef& width = grad.sizes.back();
  ExprRef expected = Expr::Mul(indices.Numel(), width);
  if (ProvablyEqual(expected, grad.Numel()) == false) {
    return Invalid(
        absl::StrFormat("shape '[%s, %s]' is invalid for input of size %s",
                        indices.Numel()->ToString(), width->ToString(),
                        grad.Numel()->ToString()));
  }
  return std::vector<InferredOutput>{
      TensorType::Contiguous(grad.dtype, {*num_weights, width}, grad.device)};
}

// ATen's embedding_dense_backward_cpu: rows of the gradient added in order
// into zeros, skipping padding_idx, each scaled by 1/count with
// scale_grad_by_freq (add's alpha: cast to the dtype's opmath type, so
// integers truncate it).
absl::Status RunEmbeddingBackward(KernelContext& kc) {
  const rt::Tensor& grad = kc.tensor(0);
  const rt::Tensor& indices = kc.tensor(1);
  auto num_weights = kc.int_arg(2);
  if (!num_weights.ok()) return num_weights.status();
  auto padding_idx = kc.int_arg(3);
  if (!padding_idx.ok()) return padding_idx.status();
  const bool scale_by_freq = kc.arg(4).b;
  std::vector<int64_t> idx = indices.ToInts();
  const int64_t width = grad.sizes().back();
  if (static_cast<int64_t>(idx.size()) * width != grad.numel()) {
    return Invalid(
        absl::StrFormat("shape '[%d, %d]' is invalid for input of size %d",
                        idx.size(), width, grad.numel()));
  }
  for (int64_t k : idx) {
    if (k != *padding_idx && (k < 0 || k >= *num_weights)) {
      return Invalid(absl::StrFormat(
          "index %d is out of bounds for num_weights %d", k, *num_weights));
    }
  }
  std::vector<int64_t> counts;
  if (scale_by_freq) {
    counts.assign(*num_weights, 0);
    for (int64_t k : idx) {
      if (k >= 0 && k < *num_weights) ++counts[k];
    }
  }
  auto out_or = kc.AllocateOutput(0);
  if (!out_or.ok()) return out_or.status();
  rt::Tensor out = *std::move(out_or);
  rt::Tensor g = grad.Contiguous();
  const uint8_t* gdata = g.ElementPtrAtOffset(g.storage_offset());
  rt::DispatchDType(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    rt::DispatchComputeType(out.dtype(), [&](auto ctag) {
      using C = typename decltype(ctag)::type;
      for (size_t i = 0; i < idx.size(); ++i) {
        const int64_t k = idx[i];
        if (k == *padding_idx) continue;
        double scale = 1.0;
        if (scale_by_freq) scale /= static_cast<double>(counts[k]);
        const C alpha = pw::Convert<C>(scale);
        for (int64_t j = 0; j < width; ++j) {
          int64_t o[2] = {k, j};
          uint8_t* p = out.ElementPtr(o);
          const C a = rt::LoadElement<C, T>(p);
          const C b =
              rt::LoadElement<C, T>(gdata + (i * width + j) * sizeof(T));
          C sum;
          if constexpr (std::is_integral<C>::value) {
            sum = static_cast<C>(static_cast<uint64_t>(a) +
                                 static_cast<uint64_t>(alpha) *
                                     static_cast<uint64_t>(b));
          } else {
            sum = a + alpha * b;
          }
          rt::StoreElement<C, T>(p, sum);
        }
      }
    });
  });
  kc.SetOutput(0, std::move(out));
  return absl::OkStatus();
}

KILN_REGISTER_OP(
    "aten::embedding_dense_backward(Tensor grad_output, Tensor indices, "
    "SymInt num_weights, SymInt padding_idx, bool scale_grad_by_freq) -> "
    "Tensor")
    .Category(OpCategory::kDataMovement)
    .Infer(InferEmbeddingBackward)
    .Reference(RunEmbeddingBackward);

// --- constant_pad_nd
// ---------------------------------------------------------------

// What constant_pad_nd does with one input: the output type, and for each
// padded dim where the input's elements go.
struct PadPlan {
  TensorType out;
  bool exact = true;
  bool crop_only = false;  // every pad <= 0: a clone of the cropped input
  TensorType cropped;      // the input region that survives
  std::vector<ExprRef> out_start;  // where `cropped` lands, per dim
};

absl::StatusOr<PadPlan> PlanPad(const TensorType& self,
                                const std::vector<ExprRef>& pad) {
  if (pad.size() % 2 != 0) {
    return Invalid(absl::StrFormat(
        "Length of pad must be even but instead it equals %d", pad.size()));
  }
  const int rank = self.rank();
  const int l_pad = static_cast<int>(pad.size()) / 2;
  if (l_pad > rank) {
    return Invalid(absl::StrFormat(
        "Length of pad should be no more than twice the number of dimensions "
        "of the input. Pad length is %d while the input has %d dimensions.",
        pad.size(), rank));
  }
  const int l_diff = rank - l_pad;
  PadPlan plan;
  plan.cropped = self;
  plan.out_start.assign(rank, ir::Const(0));
  std::vector<ExprRef> sizes = self.sizes;
  bool crop_only = true;
  auto sign = [](const ExprRef& e) -> absl::StatusOr<int> {
    if (auto c = e->AsConst()) return *c > 0 ? 1 : (*c < 0 ? -1 : 0);
    if (KnownNegative(e)) return -1;
    if (KnownNonNegative(e)) return 1;  // a symbol is never 0
    return absl::UnimplementedError(absl::StrFormat(
        "constant_pad_nd: the sign of pad %s is unknown", e->ToString()));
  };
  for (int i = l_diff; i < rank; ++i) {
    const int pad_idx = 2 * (rank - i - 1);
    const ExprRef& left = pad[pad_idx];
    const ExprRef& right = pad[pad_idx + 1];
    ExprRef new_dim = Expr::Add({self.sizes[i], left, right});
    if (ProvablyLess(new_dim, ir::Const(0)) == true) {
      return Invalid(absl::StrFormat(
          "The input size %s, plus negative padding %s and %s resulted in a "
          "negative output size, which is invalid. Check dimension %d of "
          "your input.",
          self.sizes[i]->ToString(), left->ToString(), right->ToString(), i));
    }
    sizes[i] = new_dim;
    auto ls = sign(left);
    if (!ls.ok()) return ls.status();
    auto rs = sign(right);
    if (!rs.ok()) return rs.status();
    if (*ls > 0 || *rs > 0) crop_only = false;
    // The surviving input region of this dim, as ATen's narrows compute it.
    ExprRef start = *ls < 0 ? Expr::Neg(left) : ir::Const(0);
    ExprRef length = self.sizes[i];
    if (*ls < 0) length = Expr::Add(length, left);
    if (*rs < 0) length = Expr::Add(length, right);
    if (ProvablyLess(length, ir::Const(0)) == true) {
      return Invalid(absl::StrFormat(
          "start (%s) + length (%s) exceeds dimension size (%s).",
          start->ToString(), length->ToString(), self.sizes[i]->ToString()));
    }
    plan.cropped = NarrowType(plan.cropped, i, start, length);
    if (*ls > 0) plan.out_start[i] = left;
  }
  plan.crop_only = crop_only;
  if (crop_only) {
    // clone() of the narrowed input: empty_like's preserve layout.
    auto layout = LikeLayout(plan.cropped, Arg::None());
    if (!layout.ok()) return layout.status();
    plan.exact = layout->exact;
    plan.out = TensorType::Strided(self.dtype, plan.cropped.sizes,
                                   layout->strides, ir::Const(0), self.device);
    return plan;
  }
  auto format = SuggestMemoryFormat(self);
  plan.exact = format.has_value();
  auto strides =
      FormatStrides(sizes, format.value_or(MemoryFormat::kContiguous));
  if (!strides.ok()) return strides.status();
  plan.out = TensorType::Strided(self.dtype, sizes, *strides, ir::Const(0),
                                 self.device);
  return plan;
}

absl::StatusOr<std::vector<InferredOutput>> InferConstantPad(
    const InferContext& ctx) {
  const TensorType& self = ctx.tensor(0);
  auto pad = IntArgs(ctx).IntList(1);
  if (!pad.ok()) return pad.status();
  auto plan = PlanPad(self, *pad);
  if (!plan.ok()) return plan.status();
  if (!plan->crop_only) {
    if (auto value = ConstantScalar(ctx.arg(2))) {
      if (auto st = CheckScalarConversion(*value, self.dtype); !st.ok()) {
        return st;
      }
    }
  }
  return std::vector<InferredOutput>{InferredOutput(plan->out, plan->exact)};
}

absl::Status RunConstantPad(KernelContext& kc) {
  const rt::Tensor& self = kc.tensor(0);
  auto pad = IntArgs(kc).IntList(1);
  if (!pad.ok()) return pad.status();
  auto plan = PlanPad(ConstType(self), *pad);
  if (!plan.ok()) return plan.status();
  auto out = AllocateLike(plan->out);
  if (!out.ok()) return out.status();
  if (!plan->crop_only) {
    auto value = kc.scalar(2);
    if (!value.ok()) return value.status();
    if (auto st = CheckScalarConversion(*value, self.dtype()); !st.ok()) {
      return st;
    }
    FillTensor(*out, *value);
  }
  // The input's surviving region lands at out_start in every dim.
  auto src = ViewAs(self, plan->cropped);
  if (!src.ok()) return src.status();
  TensorType region = ConstType(*out);
  region.sizes = plan->cropped.sizes;
  for (int d = 0; d < self.rank(); ++d) {
    region.storage_offset =
        Expr::Add(region.storage_offset,
                  Expr::Mul(plan->out_start[d], region.strides[d]));
  }
  if (src->numel() > 0) {
    if (auto st = CopyInto(*out, region, *src); !st.ok()) return st;
  }
  kc.SetOutput(0, *std::move(out));
  return absl::OkStatus();
}

KILN_REGISTER_OP(
    "aten::constant_pad_nd(Tensor self, SymInt[] pad, Scalar value=0) -> "
    "Tensor")
    .Category(OpCategory::kDataMovement)
    .Infer(InferConstantPad)
    .Reference(RunConstantPad);

}  // namespace
}  // namespace kiln::ops
