#include "server/execution.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cache/guards/guard_set.h"
#include "cache/keys.h"
#include "compiler/runtime/tensor_proto.h"
#include "server/request_validation.h"
#include "server/tensor_wire.h"

namespace kiln::server {
namespace {

using Clock = std::chrono::steady_clock;

absl::Status GuardFailed(const v1::GuardFailure& failure) {
  absl::Status status = absl::FailedPreconditionError(absl::StrCat(
      "guard failed: ", failure.message(),
      " (the artifact was not compiled for these inputs; Lookup or Compile "
      "for them)"));
  status.SetPayload(kGuardFailurePayload,
                    absl::Cord(failure.SerializeAsString()));
  return status;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Execution>> Execution::Prepare(
    const v1::ExecuteRequest& request, const ExecutionEnv& env, bool streamed) {
  auto start = Clock::now();
  std::unique_ptr<Execution> self(new Execution(request, env));
  if (!cache::IsHexDigest(request.artifact_key())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "artifact_key: expected 64 lowercase hex characters, got '",
        request.artifact_key().substr(0, 80), "'"));
  }
  if (!request.has_signature()) {
    return absl::InvalidArgumentError(
        "signature: required (the call's CallSignature: the inputs' "
        "structure and the global torch state)");
  }
  if (request.inputs_size() > env.limits.max_inputs) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "inputs: %d values, over the limit of %d (Limits.max_inputs)",
        request.inputs_size(), env.limits.max_inputs));
  }
  if (absl::Status s = cache::ValidateSignature(request.signature(),
                                                GuardLimitsOf(env.limits));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = self->CheckInputs(streamed); !s.ok()) return s;

  absl::StatusOr<ExecutableRef> ref =
      env.executables->Get(request.artifact_key());
  if (!ref.ok()) return ref.status();
  self->ref_ = *std::move(ref);
  self->timings_.set_load_us(self->ref_.load_us);

  auto guard_start = Clock::now();
  const cache::GuardSet& guards = *self->ref_.artifact->guards;
  cache::EvalOptions eval;
  // The client vouched for `__metadata_guard__` metadata by choosing the
  // artifact (MetadataCandidate).
  eval.skip_custom_metadata = true;
  if (!guards.Check(request.signature(), eval)) {
    std::optional<v1::GuardFailure> failure =
        guards.Explain(request.signature(), eval);
    if (failure.has_value()) return GuardFailed(*failure);
  }
  self->timings_.set_guard_us(MicrosSince(guard_start));
  if (absl::Status s =
          CheckInputsMatchSignature(request.signature(), request.inputs());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = self->CheckOutputBuffers(); !s.ok()) return s;
  self->timings_.set_total_us(MicrosSince(start));
  return self;
}

absl::Status Execution::CheckInputs(bool streamed) {
  const int n = request_.inputs_size();
  data_bytes_.assign(n, 0);
  input_spans_.assign(n, std::nullopt);
  for (int i = 0; i < n; ++i) {
    const v1::InputValue& in = request_.inputs(i);
    if (!in.has_tensor()) continue;
    const v1::Tensor& t = in.tensor();
    std::string path = absl::StrCat("inputs[", i, "].tensor");
    absl::StatusOr<int64_t> bytes =
        CheckWireTensor(t, path, env_.limits.max_tensor_bytes);
    if (!bytes.ok()) return bytes.status();
    data_bytes_[i] = *bytes;
    switch (t.data_case()) {
      case v1::Tensor::kRaw:
        if (absl::Status s = CheckDataBytes(
                static_cast<int64_t>(t.raw().size()), *bytes, t, path, "raw");
            !s.ok()) {
          return s;
        }
        break;
      case v1::Tensor::kShm: {
        absl::StatusOr<SharedMemorySpan> span =
            env_.shared_memory->Resolve(t.shm(), *bytes, path + ".shm");
        if (!span.ok()) return span.status();
        input_spans_[i] = *std::move(span);
        break;
      }
      case v1::Tensor::kChunked:
        if (!streamed) {
          return absl::InvalidArgumentError(absl::StrCat(
              path,
              ".chunked: chunked data is only valid in ExecuteStream; send "
              "the bytes inline (raw) or through shared memory"));
        }
        if (absl::Status s =
                CheckDataBytes(static_cast<int64_t>(t.chunked().byte_size()),
                               *bytes, t, path, "chunked.byte_size");
            !s.ok()) {
          return s;
        }
        chunked_.push_back(ChunkedInput{i, *bytes});
        break;
      case v1::Tensor::DATA_NOT_SET:
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": data is not set (raw, shm or chunked is required)"));
    }
  }
  return absl::OkStatus();
}

absl::Status Execution::CheckOutputBuffers() {
  const v1::OutputSpec& spec = ref_.artifact->output_spec;
  output_spans_.assign(spec.outputs_size(), std::nullopt);
  for (int k = 0; k < request_.output_buffers_size(); ++k) {
    const v1::OutputBuffer& buffer = request_.output_buffers(k);
    std::string path = absl::StrCat("output_buffers[", k, "]");
    int index = buffer.output_index();
    if (index < 0 || index >= spec.outputs_size()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s.output_index: %d is out of range (the graph has %d outputs)",
          path, index, spec.outputs_size()));
    }
    if (spec.outputs(index).kind() != v1::OutputInfo::TENSOR) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s.output_index: output %d is not a tensor", path, index));
    }
    if (output_spans_[index].has_value()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s.output_index: output %d already has a buffer", path, index));
    }
    absl::StatusOr<SharedMemorySpan> span = env_.shared_memory->Resolve(
        buffer.shm(), static_cast<int64_t>(buffer.shm().byte_size()),
        path + ".shm", /*for_write=*/true);
    if (!span.ok()) return span.status();
    output_spans_[index] = *std::move(span);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ops::RuntimeValue>> Execution::InputValues(
    std::vector<std::string>* chunked_data) {
  std::vector<ops::RuntimeValue> values;
  values.reserve(request_.inputs_size());
  for (int i = 0; i < request_.inputs_size(); ++i) {
    const v1::InputValue& in = request_.inputs(i);
    switch (in.value_case()) {
      case v1::InputValue::kTensor: {
        const v1::Tensor& t = in.tensor();
        std::string path = absl::StrCat("inputs[", i, "].tensor");
        std::string_view bytes;
        std::string_view field = "raw";
        if (t.has_shm()) {
          bytes = input_spans_[i]->view();
          field = "shm";
        } else if (t.has_chunked()) {
          if (chunked_data == nullptr ||
              static_cast<int>(chunked_data->size()) <= i) {
            return absl::InternalError(
                absl::StrCat(path, ": the stream's data is missing"));
          }
          bytes = (*chunked_data)[i];
          field = "chunked";
        } else {
          bytes = t.raw();
        }
        absl::StatusOr<rt::Tensor> tensor =
            rt::TensorFromBytes(t, bytes, path, field);
        if (!tensor.ok()) return tensor.status();
        if (t.has_chunked()) (*chunked_data)[i].clear();
        values.push_back(ops::RuntimeValue::OfTensor(*std::move(tensor)));
        break;
      }
      case v1::InputValue::kIntValue:
        values.push_back(
            ops::RuntimeValue::OfScalar(rt::Scalar::Int(in.int_value())));
        break;
      case v1::InputValue::kFloatValue:
        values.push_back(
            ops::RuntimeValue::OfScalar(rt::Scalar::Float(in.float_value())));
        break;
      case v1::InputValue::kBoolValue:
        values.push_back(
            ops::RuntimeValue::OfScalar(rt::Scalar::Bool(in.bool_value())));
        break;
      case v1::InputValue::kStringValue:
      case v1::InputValue::kNone:
      case v1::InputValue::VALUE_NOT_SET:
        values.push_back(ops::RuntimeValue());
        break;
    }
  }
  return values;
}

absl::Status ExecutionSlots::Acquire(absl::Time deadline,
                                     const std::function<bool()>& cancelled) {
  // How often a waiter looks at its cancellation callback.
  constexpr absl::Duration kPoll = absl::Milliseconds(20);
  absl::MutexLock lock(&mu_);
  auto free = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return free_ > 0; };
  while (free_ == 0) {
    if (cancelled && cancelled()) {
      return absl::CancelledError(
          "the call was cancelled while waiting to execute");
    }
    absl::Time now = absl::Now();
    if (now >= deadline) {
      return absl::DeadlineExceededError(
          "deadline passed while waiting for other executions to finish");
    }
    mu_.AwaitWithDeadline(
        absl::Condition(&free),
        cancelled ? std::min(deadline, now + kPoll) : deadline);
  }
  --free_;
  return absl::OkStatus();
}

void ExecutionSlots::Release() {
  absl::MutexLock lock(&mu_);
  ++free_;
}

absl::Status Execution::Run(std::vector<std::string>* chunked_data,
                            const CallControl& control,
                            v1::ExecuteResponse* response) {
  auto queue_start = Clock::now();
  if (env_.slots != nullptr) {
    if (absl::Status s =
            env_.slots->Acquire(control.deadline, control.cancelled);
        !s.ok()) {
      return s;
    }
  }
  struct SlotRelease {
    ExecutionSlots* slots;
    ~SlotRelease() {
      if (slots != nullptr) slots->Release();
    }
  } release{env_.slots};
  timings_.set_queue_us(MicrosSince(queue_start));

  auto start = Clock::now();
  absl::StatusOr<std::vector<ops::RuntimeValue>> inputs =
      InputValues(chunked_data);
  if (!inputs.ok()) return inputs.status();
  timings_.set_input_copy_us(MicrosSince(start));

  auto run_start = Clock::now();
  absl::StatusOr<std::vector<ops::RuntimeValue>> outputs =
      ref_.artifact->executable->Run(*inputs);
  if (!outputs.ok()) return outputs.status();
  timings_.set_run_us(MicrosSince(run_start));

  auto copy_start = Clock::now();
  const v1::OutputSpec& spec = ref_.artifact->output_spec;
  for (size_t i = 0; i < outputs->size(); ++i) {
    const ops::RuntimeValue& v = (*outputs)[i];
    v1::OutputValue* out = response->add_outputs();
    switch (v.kind) {
      case ops::RuntimeValue::Kind::kTensor: {
        v1::Device device;
        if (static_cast<int>(i) < spec.outputs_size()) {
          device = spec.outputs(static_cast<int>(i)).meta().device();
        }
        v1::Tensor* t = out->mutable_tensor();
        SetWireMeta(v.tensor, device, t);
        if (i < output_spans_.size() && output_spans_[i].has_value()) {
          const SharedMemorySpan& span = *output_spans_[i];
          int64_t bytes = WireBytes(v.tensor);
          if (static_cast<uint64_t>(bytes) != span.size) {
            return absl::InvalidArgumentError(absl::StrFormat(
                "output_buffers: the buffer of output %d holds %d bytes, but "
                "the output has %d bytes of data (sizes [%s])",
                i, span.size, bytes, absl::StrJoin(v.tensor.sizes(), ", ")));
          }
          std::string data = v.tensor.ContiguousBytes();
          std::memcpy(span.data, data.data(), data.size());
          for (const v1::OutputBuffer& b : request_.output_buffers()) {
            if (b.output_index() == static_cast<int>(i)) {
              *t->mutable_shm() = b.shm();
            }
          }
        } else {
          t->set_raw(v.tensor.ContiguousBytes());
        }
        break;
      }
      case ops::RuntimeValue::Kind::kScalar:
        switch (v.scalar.kind) {
          case rt::Scalar::Kind::kInt:
            out->set_int_value(v.scalar.i);
            break;
          case rt::Scalar::Kind::kFloat:
            out->set_float_value(v.scalar.f);
            break;
          case rt::Scalar::Kind::kBool:
            out->set_bool_value(v.scalar.b);
            break;
        }
        break;
      case ops::RuntimeValue::Kind::kNone:
        out->mutable_none();
        break;
    }
  }
  for (const v1::InputMutationSpec& m : spec.mutated_inputs()) {
    int index = m.input_index();
    if (index < 0 || index >= static_cast<int>(inputs->size()) ||
        (*inputs)[index].kind != ops::RuntimeValue::Kind::kTensor) {
      return absl::InternalError(absl::StrCat(
          "the artifact's output spec names input ", index,
          " as mutated, but it is not a tensor input of this call"));
    }
    v1::InputMutation* mutation = response->add_mutations();
    mutation->set_input_index(index);
    const rt::Tensor& tensor = (*inputs)[index].tensor;
    SetWireMeta(tensor, request_.inputs(index).tensor().device(),
                mutation->mutable_value());
    mutation->mutable_value()->set_requires_grad(
        request_.inputs(index).tensor().requires_grad());
    mutation->mutable_value()->set_raw(tensor.ContiguousBytes());
  }
  timings_.set_output_copy_us(MicrosSince(copy_start));
  timings_.set_total_us(timings_.total_us() + MicrosSince(queue_start));
  *response->mutable_timings() = timings_;
  return absl::OkStatus();
}

}  // namespace kiln::server
