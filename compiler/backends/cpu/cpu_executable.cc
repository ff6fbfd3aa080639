#include "compiler/backends/cpu/cpu_executable.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "compiler/backends/cpu/cpu_target.h"
#include "compiler/interpreter/interpreter.h"
#include "compiler/ir/text.h"

namespace kiln::cpu {

using backends::RuntimeValue;

// A step with everything resolved that does not depend on the run.
struct CpuExecutable::Resolved {
  plan::Step::Kind kind = plan::Step::KIND_UNSPECIFIED;
  const ir::Node* node = nullptr;
  std::string where;  // "nodes[3] (aten::add.Tensor)"
  KernelFn fn = nullptr;
  LibraryFn lib = nullptr;
  std::vector<int> outputs;
  std::vector<bool> output_in_place;
  std::vector<int> inputs;
  std::vector<plan::IntArg> ints;
  std::vector<const ir::ExprRef*> int_exprs;  // for ArgRef ints
  std::vector<plan::FloatArg> floats;
  int row_dims = 0;
};

// Intermediate buffers of one run, reused by later runs.
struct CpuExecutable::Workspace {
  std::vector<std::shared_ptr<rt::Storage>> buffers;
};

namespace {

int64_t MicrosSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now() - start)
      .count();
}

// A value's layout for this run.
struct Layout {
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;
  int64_t offset = 0;
  int64_t bytes = 0;  // storage needed
};

absl::StatusOr<Layout> EvalLayout(const ir::TensorType& t,
                                  const sym::Bindings& bindings) {
  Layout l;
  l.sizes.reserve(t.rank());
  l.strides.reserve(t.rank());
  int64_t extent = 0;
  bool empty = false;
  for (int d = 0; d < t.rank(); ++d) {
    auto s = sym::Evaluate(*t.sizes[d], bindings);
    if (!s.ok()) return s.status();
    auto st = sym::Evaluate(*t.strides[d], bindings);
    if (!st.ok()) return st.status();
    l.sizes.push_back(*s);
    l.strides.push_back(*st);
    if (*s == 0) empty = true;
    extent += (*s - 1) * *st;
  }
  auto off = sym::Evaluate(*t.storage_offset, bindings);
  if (!off.ok()) return off.status();
  l.offset = *off;
  int64_t elements = empty ? l.offset : l.offset + extent + 1;
  l.bytes = elements * ir::ElementSize(t.dtype);
  return l;
}

// Whether the trailing `n` dims of `t` form one dense block with unit
// innermost stride (what Step.row_dims asks for).
bool TrailingDimsDense(const rt::Tensor& t, int n) {
  int64_t expect = 1;
  for (int d = t.rank() - 1; d >= std::max(0, t.rank() - n); --d) {
    if (t.sizes()[d] == 1) continue;
    if (t.strides()[d] != expect) return false;
    expect *= t.sizes()[d];
  }
  return true;
}

absl::StatusOr<int64_t> ScalarAsInt(const RuntimeValue& v,
                                    const std::string& where) {
  if (v.kind != RuntimeValue::Kind::kScalar) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expected a scalar input"));
  }
  switch (v.scalar.kind) {
    case rt::Scalar::Kind::kInt:
      return v.scalar.i;
    case rt::Scalar::Kind::kBool:
      return int64_t{v.scalar.b};
    case rt::Scalar::Kind::kFloat:
      return static_cast<int64_t>(v.scalar.f);
  }
  return 0;
}

// A kernel reported a data error (an index out of range, an integer
// division by zero). Kernels only know the error's kind; the op's
// reference implementation, run on the same inputs, says it in ATen's words
// ("INDICES element is out of DATA bounds, id=5 axis_dim=5"). Taken only on
// the failure path, so its cost never shows in a successful run.
absl::Status KernelFailure(const ir::Node& node, const std::string& where,
                           int rc, const sym::Bindings& bindings,
                           const ops::KernelContext::Lookup& lookup) {
  if (node.fused() == nullptr && node.op().has_reference()) {
    ops::KernelContext kc(node, bindings, lookup);
    absl::Status st = node.op().reference()(kc);
    if (!st.ok() && st.code() == absl::StatusCode::kInvalidArgument) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", st.message()));
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": ", KernelErrorMessage(rc)));
}

}  // namespace

CpuExecutable::~CpuExecutable() = default;

absl::StatusOr<std::unique_ptr<CpuExecutable>> CpuExecutable::Create(
    plan::Artifact artifact, std::string bytes,
    const backends::LoadOptions& options, backends::CompileStats stats) {
  auto start = std::chrono::steady_clock::now();
  auto exe = std::unique_ptr<CpuExecutable>(new CpuExecutable());
  exe->stats_ = stats;
  exe->num_threads_ = options.num_threads > 0
                          ? options.num_threads
                          : std::max(1u, std::thread::hardware_concurrency());
  auto graph = ir::ParseGraph(artifact.graph_text());
  if (!graph.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the artifact's graph does not parse: ", graph.status().message()));
  }
  exe->graph_ = *std::move(graph);
  exe->info_ = std::make_unique<backends::GraphInfo>(*exe->graph_);
  const backends::GraphInfo& info = *exe->info_;
  const plan::Plan& p = artifact.plan();
  if (!artifact.shared_object().empty()) {
    std::string hash = Sha256Hex(artifact.shared_object());
    if (hash != artifact.shared_object_sha256()) {
      return absl::DataLossError(
          absl::StrCat("the artifact's shared object has SHA-256 ", hash,
                       ", the plan says ", artifact.shared_object_sha256()));
    }
    auto object = SharedObject::Load(artifact.shared_object());
    if (!object.ok()) return object.status();
    exe->object_ = *std::move(object);
  }
  std::vector<KernelFn> kernels;
  for (const plan::Kernel& k : p.kernels()) {
    if (exe->object_ == nullptr) {
      return absl::InvalidArgumentError("the plan has kernels but no object");
    }
    auto sym = exe->object_->Symbol(k.symbol());
    if (!sym.ok()) return sym.status();
    kernels.push_back(reinterpret_cast<KernelFn>(*sym));
  }
  auto bad = [&](int s, const std::string& what) {
    return absl::InvalidArgumentError(
        absl::StrFormat("plan.steps[%d]: %s", s, what));
  };
  auto check_value = [&](int v) {
    return v >= 0 && v < info.num_values() && info.value(v) != nullptr;
  };
  for (int s = 0; s < p.steps_size(); ++s) {
    const plan::Step& step = p.steps(s);
    Resolved r;
    r.kind = step.kind();
    if (step.node() < 0 || step.node() >= exe->graph_->num_nodes()) {
      return bad(s, "node out of range");
    }
    r.node = exe->graph_->node(step.node());
    r.where =
        absl::StrFormat("nodes[%d] (%s)", step.node(), r.node->op().name());
    for (int v : step.outputs()) {
      if (!check_value(v)) return bad(s, "output value out of range");
      r.outputs.push_back(v);
      bool in_place = std::find(step.in_place().begin(), step.in_place().end(),
                                v) != step.in_place().end();
      r.output_in_place.push_back(in_place);
    }
    for (int v : step.inputs()) {
      if (!check_value(v)) return bad(s, "input value out of range");
      r.inputs.push_back(v);
    }
    for (const plan::IntArg& a : step.ints()) {
      r.ints.push_back(a);
      const ir::ExprRef* e = nullptr;
      if (a.source_case() == plan::IntArg::kArg) {
        const plan::ArgRef& ref = a.arg();
        if (ref.node() < 0 || ref.node() >= exe->graph_->num_nodes()) {
          return bad(s, "int argument node out of range");
        }
        const ir::Node* n = exe->graph_->node(ref.node());
        if (ref.body_node() > 0) {
          const ir::FusedKernel* k = n->fused();
          if (k == nullptr || ref.body_node() > k->body->num_nodes()) {
            return bad(s, "int argument body node out of range");
          }
          n = k->body->node(ref.body_node() - 1);
        }
        if (ref.arg() < 0 || ref.arg() >= static_cast<int>(n->args().size())) {
          return bad(s, "int argument out of range");
        }
        const ir::Arg& arg = n->arg(ref.arg());
        if (ref.element() >= 0) {
          if (arg.kind != ir::Arg::Kind::kIntList ||
              ref.element() >= static_cast<int>(arg.ints.size())) {
            return bad(s, "int argument element out of range");
          }
          e = &arg.ints[ref.element()];
        } else {
          if (arg.kind != ir::Arg::Kind::kInt) {
            return bad(s, "int argument is not an int");
          }
          e = &arg.i;
        }
      } else if (a.source_case() == plan::IntArg::kScalarInput) {
        if (a.scalar_input() < 0 ||
            a.scalar_input() >= exe->graph_->num_placeholders()) {
          return bad(s, "scalar input out of range");
        }
      }
      r.int_exprs.push_back(e);
    }
    for (const plan::FloatArg& f : step.floats()) {
      if (f.source_case() == plan::FloatArg::kScalarInput &&
          (f.scalar_input() < 0 ||
           f.scalar_input() >= exe->graph_->num_placeholders())) {
        return bad(s, "scalar input out of range");
      }
      r.floats.push_back(f);
    }
    r.row_dims = step.row_dims();
    switch (step.kind()) {
      case plan::Step::KERNEL:
        if (step.kernel() < 0 || step.kernel() >= p.kernels_size()) {
          return bad(s, "kernel out of range");
        }
        r.fn = kernels[step.kernel()];
        break;
      case plan::Step::LIBRARY_CALL:
        r.lib = FindLibraryFunction(step.function());
        if (r.lib == nullptr) {
          return bad(s, absl::StrCat("unknown library function '",
                                     step.function(), "'"));
        }
        break;
      case plan::Step::VIEW:
      case plan::Step::REFERENCE:
        if (!r.node->op().has_reference()) {
          return bad(s, absl::StrCat(r.node->op().name(),
                                     " has no reference implementation"));
        }
        break;
      default:
        return bad(s, "unknown step kind");
    }
    exe->steps_.push_back(std::move(r));
  }
  exe->buffer_of_.assign(info.num_values(), -1);
  for (int b = 0; b < p.buffers_size(); ++b) {
    for (int v : p.buffers(b).values()) {
      if (!check_value(v)) {
        return absl::InvalidArgumentError(
            absl::StrFormat("plan.buffers[%d]: value out of range", b));
      }
      exe->buffer_of_[v] = b;
    }
  }
  for (const plan::Output& o : p.outputs()) {
    exe->aliases_.push_back(backends::OutputAlias{o.aliases_input()});
  }
  if (p.outputs_size() != static_cast<int>(exe->graph_->outputs().size())) {
    return absl::InvalidArgumentError("plan.outputs does not match the graph");
  }
  exe->mutated_.assign(p.mutated_inputs().begin(), p.mutated_inputs().end());
  exe->artifact_ = std::move(artifact);
  exe->bytes_ = std::move(bytes);
  SetLibraryThreads(exe->num_threads_);
  exe->stats_.load_us = MicrosSince(start);
  return exe;
}

std::unique_ptr<CpuExecutable::Workspace> CpuExecutable::TakeWorkspace() const {
  std::lock_guard<std::mutex> lock(pool_mu_);
  if (pool_.empty()) {
    auto ws = std::make_unique<Workspace>();
    ws->buffers.resize(artifact_.plan().buffers_size());
    return ws;
  }
  auto ws = std::move(pool_.back());
  pool_.pop_back();
  return ws;
}

void CpuExecutable::ReturnWorkspace(std::unique_ptr<Workspace> ws) const {
  std::lock_guard<std::mutex> lock(pool_mu_);
  pool_.push_back(std::move(ws));
}

absl::StatusOr<std::vector<RuntimeValue>> CpuExecutable::Run(
    const std::vector<RuntimeValue>& inputs) const {
  const ir::Graph& graph = *graph_;
  const backends::GraphInfo& info = *info_;
  const plan::Plan& p = artifact_.plan();
  auto bindings_or = interp::BindInputs(graph, inputs);
  if (!bindings_or.ok()) return bindings_or.status();
  const sym::Bindings& bindings = *bindings_or;

  std::vector<RuntimeValue> values(info.num_values());
  for (int i = 0; i < graph.num_placeholders(); ++i) values[i] = inputs[i];
  for (const auto& c : graph.constants()) {
    const ir::TensorType& t = c->type();
    auto layout = EvalLayout(t, bindings);
    if (!layout.ok()) return layout.status();
    auto tensor = rt::Tensor::EmptyStrided(t.dtype, layout->sizes,
                                           layout->strides, layout->offset);
    if (!tensor.ok()) return tensor.status();
    rt::Tensor dense = rt::Tensor::Empty(t.dtype, layout->sizes);
    const std::string& data = c->constant_data();
    if (static_cast<int64_t>(data.size()) !=
        dense.numel() * dense.element_size()) {
      return absl::InternalError(
          absl::StrCat("constant ", c->name(), " has the wrong size"));
    }
    if (!data.empty()) {
      std::memcpy(dense.ElementPtrAtOffset(0), data.data(), data.size());
    }
    if (auto st = tensor->CopyFrom(dense); !st.ok()) return st;
    values[info.id(c.get())] = RuntimeValue::OfTensor(*std::move(tensor));
  }

  // Size the buffers for this run.
  std::vector<Layout> layouts(info.num_values());
  std::vector<int64_t> buffer_bytes(p.buffers_size(), 0);
  for (int b = 0; b < p.buffers_size(); ++b) {
    for (int v : p.buffers(b).values()) {
      auto l = EvalLayout(info.value(v)->type(), bindings);
      if (!l.ok()) return l.status();
      buffer_bytes[b] = std::max(buffer_bytes[b], l->bytes);
      layouts[v] = *std::move(l);
    }
  }
  std::unique_ptr<Workspace> ws = TakeWorkspace();
  std::vector<std::shared_ptr<rt::Storage>> storage(p.buffers_size());
  for (int b = 0; b < p.buffers_size(); ++b) {
    if (p.buffers(b).escapes()) {
      storage[b] = std::make_shared<rt::Storage>(buffer_bytes[b],
                                                 /*zero_fill=*/false);
      continue;
    }
    std::shared_ptr<rt::Storage>& s = ws->buffers[b];
    if (s == nullptr || s->size() < buffer_bytes[b]) {
      s = std::make_shared<rt::Storage>(buffer_bytes[b], /*zero_fill=*/false);
    }
    storage[b] = s;
  }
  auto allocate = [&](int v) -> absl::StatusOr<rt::Tensor> {
    const Layout& l = layouts[v];
    int b = buffer_of_[v];
    if (b < 0) {
      return absl::InternalError(
          absl::StrCat("value ", info.value(v)->name(), " has no buffer"));
    }
    return rt::Tensor::FromStorage(storage[b], info.value(v)->type().dtype,
                                   l.sizes, l.strides, l.offset);
  };
  auto lookup = [&](const ir::Value* v) -> const RuntimeValue* {
    return &values[info.id(v)];
  };

  absl::Status status;
  std::vector<TensorArg> targs;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<rt::Tensor> dense_copies;
  for (const Resolved& r : steps_) {
    auto fail = [&](const absl::Status& st) {
      return absl::Status(st.code(), absl::StrCat(r.where, ": ", st.message()));
    };
    switch (r.kind) {
      case plan::Step::KERNEL: {
        targs.clear();
        dense_copies.clear();
        for (size_t i = 0; i < r.outputs.size(); ++i) {
          int v = r.outputs[i];
          if (!r.output_in_place[i]) {
            auto t = allocate(v);
            if (!t.ok()) return fail(t.status());
            values[v] = RuntimeValue::OfTensor(*std::move(t));
          }
        }
        auto add = [&](const rt::Tensor& t) {
          targs.push_back(TensorArg{
              reinterpret_cast<char*>(t.ElementPtrAtOffset(t.storage_offset())),
              t.sizes().data(), t.strides().data(), t.rank()});
        };
        for (int v : r.outputs) add(values[v].tensor);
        dense_copies.reserve(r.inputs.size());
        for (int v : r.inputs) {
          const rt::Tensor& t = values[v].tensor;
          if (r.row_dims > 0 && !TrailingDimsDense(t, r.row_dims)) {
            dense_copies.push_back(t.Contiguous());
            add(dense_copies.back());
          } else {
            add(t);
          }
        }
        ints.clear();
        for (size_t i = 0; i < r.ints.size(); ++i) {
          const plan::IntArg& a = r.ints[i];
          switch (a.source_case()) {
            case plan::IntArg::kConstant:
              ints.push_back(a.constant());
              break;
            case plan::IntArg::kArg: {
              auto v = sym::Evaluate(**r.int_exprs[i], bindings);
              if (!v.ok()) return fail(v.status());
              ints.push_back(*v);
              break;
            }
            case plan::IntArg::kScalarInput: {
              auto v = ScalarAsInt(values[a.scalar_input()], r.where);
              if (!v.ok()) return v.status();
              ints.push_back(*v);
              break;
            }
            default:
              return fail(absl::InternalError("int argument without a source"));
          }
        }
        floats.clear();
        for (const plan::FloatArg& f : r.floats) {
          if (f.source_case() == plan::FloatArg::kScalarInput) {
            const RuntimeValue& v = values[f.scalar_input()];
            floats.push_back(v.kind == RuntimeValue::Kind::kScalar
                                 ? v.scalar.AsDouble()
                                 : 0.0);
          } else {
            floats.push_back(f.constant());
          }
        }
        KernelArgs args{targs.data(), ints.data(), floats.data(), num_threads_};
        int rc = r.fn(&args);
        if (rc != kKernelOk) {
          ReturnWorkspace(std::move(ws));
          return KernelFailure(*r.node, r.where, rc, bindings, lookup);
        }
        // Outputs the kernel did not write alias an argument (copy_).
        const ir::Node& node = *r.node;
        for (int i = 0; i < node.num_outputs(); ++i) {
          const ir::Value* out = node.output(i);
          if (out == nullptr) continue;
          int v = info.id(out);
          if (std::find(r.outputs.begin(), r.outputs.end(), v) !=
              r.outputs.end()) {
            continue;
          }
          int a = backends::GraphInfo::AliasedArg(node, i);
          if (a >= 0) values[v] = *lookup(node.arg(a).value);
        }
        break;
      }
      case plan::Step::LIBRARY_CALL: {
        ops::KernelContext kc(*r.node, bindings, lookup);
        std::vector<rt::Tensor> outs;
        for (int v : r.outputs) {
          auto t = allocate(v);
          if (!t.ok()) return fail(t.status());
          outs.push_back(*std::move(t));
        }
        LibraryCall call{kc, outs, num_threads_};
        absl::Status st = r.lib(call);
        if (!st.ok()) {
          ReturnWorkspace(std::move(ws));
          return fail(st);
        }
        for (size_t i = 0; i < r.outputs.size(); ++i) {
          values[r.outputs[i]] = RuntimeValue::OfTensor(std::move(outs[i]));
        }
        break;
      }
      case plan::Step::VIEW:
      case plan::Step::REFERENCE: {
        ops::KernelContext kc(*r.node, bindings, lookup);
        absl::Status st = r.node->op().reference()(kc);
        if (!st.ok()) {
          ReturnWorkspace(std::move(ws));
          return fail(st);
        }
        const ir::Node& node = *r.node;
        for (int i = 0; i < node.num_outputs(); ++i) {
          if (node.output(i) == nullptr) continue;
          values[info.id(node.output(i))] =
              RuntimeValue::OfTensor(kc.outputs()[i]);
        }
        break;
      }
      default:
        return fail(absl::InternalError("unknown step"));
    }
  }

  std::vector<RuntimeValue> outputs;
  outputs.reserve(p.outputs_size());
  for (int i = 0; i < p.outputs_size(); ++i) {
    const plan::Output& o = p.outputs(i);
    const ir::Arg& a = graph.outputs()[i];
    switch (o.kind()) {
      case plan::Output::TENSOR:
        outputs.push_back(values[o.value()]);
        break;
      case plan::Output::INT:
        if (a.kind == ir::Arg::Kind::kInt) {
          auto v = sym::Evaluate(*a.i, bindings);
          if (!v.ok()) return v.status();
          outputs.push_back(RuntimeValue::OfScalar(rt::Scalar::Int(*v)));
        } else {
          outputs.push_back(values[o.value()]);
        }
        break;
      case plan::Output::FLOAT:
        outputs.push_back(a.kind == ir::Arg::Kind::kFloat
                              ? RuntimeValue::OfScalar(rt::Scalar::Float(a.f))
                              : values[o.value()]);
        break;
      case plan::Output::BOOL:
        outputs.push_back(a.kind == ir::Arg::Kind::kBool
                              ? RuntimeValue::OfScalar(rt::Scalar::Bool(a.b))
                              : values[o.value()]);
        break;
      default:
        outputs.push_back(RuntimeValue());
        break;
    }
  }
  values.clear();
  ReturnWorkspace(std::move(ws));
  return outputs;
}

}  // namespace kiln::cpu
