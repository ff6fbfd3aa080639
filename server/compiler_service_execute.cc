// kiln.v1.Compiler: Execute, ExecuteStream and the shared-memory rpcs.
#include <algorithm>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/compiler_service.h"
#include "server/execution.h"
#include "server/request_validation.h"

namespace kiln::server {
namespace {

using Clock = std::chrono::steady_clock;

const char* KindName(const v1::ExecuteStreamRequest& message) {
  switch (message.kind_case()) {
    case v1::ExecuteStreamRequest::kHeader:
      return "header";
    case v1::ExecuteStreamRequest::kChunk:
      return "chunk";
    case v1::ExecuteStreamRequest::kEnd:
      return "end";
    case v1::ExecuteStreamRequest::KIND_NOT_SET:
      break;
  }
  return "a message with no kind set";
}

CallControl ControlOf(grpc::ServerContext* context) {
  CallControl control;
  auto deadline = context->deadline();
  if (deadline < std::chrono::system_clock::now() + std::chrono::hours(24)) {
    control.deadline = absl::FromChrono(deadline);
  }
  control.cancelled = [context] { return context->IsCancelled(); };
  return control;
}

// An output or mutation whose bytes go out in chunks after the header.
struct PendingTensor {
  int index = 0;  // into outputs ++ mutations
  std::string data;
};

// Moves the data of tensors that do not fit inline (bigger than a chunk,
// or past `inline_budget` bytes in total) out of `response`, marking them
// `chunked`.
std::vector<PendingTensor> TakeLargeTensors(v1::ExecuteResponse* response,
                                            int64_t chunk_bytes,
                                            int64_t inline_budget) {
  std::vector<v1::Tensor*> tensors;
  for (v1::OutputValue& out : *response->mutable_outputs()) {
    tensors.push_back(out.has_tensor() ? out.mutable_tensor() : nullptr);
  }
  for (v1::InputMutation& m : *response->mutable_mutations()) {
    tensors.push_back(m.mutable_value());
  }
  std::vector<PendingTensor> pending;
  int64_t inline_bytes = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    v1::Tensor* t = tensors[i];
    if (t == nullptr || !t->has_raw()) continue;
    int64_t size = static_cast<int64_t>(t->raw().size());
    if (size <= chunk_bytes && inline_bytes + size <= inline_budget) {
      inline_bytes += size;
      continue;
    }
    PendingTensor p;
    p.index = static_cast<int>(i);
    p.data = std::move(*t->mutable_raw());
    t->mutable_chunked()->set_byte_size(p.data.size());
    pending.push_back(std::move(p));
  }
  return pending;
}

}  // namespace

grpc::Status CompilerService::Execute(grpc::ServerContext* context,
                                      const v1::ExecuteRequest* request,
                                      v1::ExecuteResponse* response) {
  auto start = Clock::now();
  absl::StatusOr<std::unique_ptr<Execution>> execution =
      Execution::Prepare(*request, execution_env_, /*streamed=*/false);
  if (!execution.ok()) return FinishCall(context, execution.status());
  if (context->IsCancelled()) {
    return FinishCall(context, absl::CancelledError("the call was cancelled"));
  }
  absl::Status run = (*execution)->Run(nullptr, ControlOf(context), response);
  if (!run.ok()) return FinishCall(context, run);
  int64_t size = static_cast<int64_t>(response->ByteSizeLong());
  if (size > config_.max_message_bytes) {
    response->Clear();
    return FinishCall(
        context,
        absl::ResourceExhaustedError(absl::StrFormat(
            "the response would be %d bytes, over the limit of %d "
            "(Limits.max_message_bytes): use ExecuteStream, or output_buffers "
            "in shared memory",
            size, config_.max_message_bytes)));
  }
  response->mutable_timings()->set_total_us(MicrosSince(start));
  return grpc::Status::OK;
}

grpc::Status CompilerService::ExecuteStream(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::ExecuteStreamResponse,
                             v1::ExecuteStreamRequest>* stream) {
  return FinishCall(context, DoExecuteStream(context, stream));
}

absl::Status CompilerService::DoExecuteStream(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::ExecuteStreamResponse,
                             v1::ExecuteStreamRequest>* stream) {
  v1::ExecuteStreamRequest message;
  if (!stream->Read(&message)) {
    return absl::InvalidArgumentError(
        "stream: ended before its header (the first message must be an "
        "ExecuteRequest `header`)");
  }
  if (!message.has_header()) {
    return absl::InvalidArgumentError(
        absl::StrCat("stream: the first message must be a `header`, got ",
                     KindName(message)));
  }
  const v1::ExecuteRequest request = std::move(*message.mutable_header());
  absl::StatusOr<std::unique_ptr<Execution>> execution =
      Execution::Prepare(request, execution_env_, /*streamed=*/true);
  if (!execution.ok()) return execution.status();

  // Receive the chunked inputs' bytes.
  std::vector<std::string> data(request.inputs_size());
  std::vector<int64_t> expected(request.inputs_size(), -1);
  for (const ChunkedInput& c : (*execution)->chunked_inputs()) {
    expected[c.input_index] = c.byte_size;
    data[c.input_index].reserve(static_cast<size_t>(c.byte_size));
  }
  const int64_t max_chunk = chunk_bytes();
  for (int n = 1;; ++n) {
    if (!stream->Read(&message)) {
      if (context->IsCancelled()) {
        return absl::CancelledError("the call was cancelled");
      }
      return absl::InvalidArgumentError(
          absl::StrCat("stream: ended after ", n,
                       " messages without `end` (or a message was malformed)"));
    }
    if (message.has_end()) break;
    if (!message.has_chunk()) {
      return absl::InvalidArgumentError(
          absl::StrCat("stream: message ", n, " is ", KindName(message),
                       "; after the header only chunks and `end` may follow"));
    }
    const v1::TensorChunk& chunk = message.chunk();
    std::string path = absl::StrCat("stream message ", n, ": chunk");
    int index = chunk.tensor_index();
    if (index < 0 || index >= request.inputs_size() || expected[index] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ".tensor_index: ", index,
                       " is not an input with chunked data in the header"));
    }
    if (chunk.data().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ".data: must not be empty"));
    }
    if (static_cast<int64_t>(chunk.data().size()) > max_chunk) {
      return absl::ResourceExhaustedError(
          absl::StrFormat("%s.data: %d bytes, over the limit of %d "
                          "(Limits.stream_chunk_bytes)",
                          path, chunk.data().size(), max_chunk));
    }
    std::string& received = data[index];
    if (chunk.offset() != received.size()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s.offset: %d, but %d bytes of inputs[%d] came before it (chunks "
          "of one tensor must come in order, back to back)",
          path, chunk.offset(), received.size(), index));
    }
    if (static_cast<int64_t>(received.size() + chunk.data().size()) >
        expected[index]) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: goes past the end of inputs[%d] (%d bytes)",
                          path, index, expected[index]));
    }
    received.append(chunk.data());
  }
  for (const ChunkedInput& c : (*execution)->chunked_inputs()) {
    if (static_cast<int64_t>(data[c.input_index].size()) != c.byte_size) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "inputs[%d].tensor.chunked: the stream ended after %d of its %d "
          "bytes",
          c.input_index, data[c.input_index].size(), c.byte_size));
    }
  }
  if (context->IsCancelled()) {
    return absl::CancelledError("the call was cancelled");
  }

  v1::ExecuteStreamResponse out;
  v1::ExecuteResponse* response = out.mutable_header();
  if (absl::Status s = (*execution)->Run(&data, ControlOf(context), response);
      !s.ok()) {
    return s;
  }
  // Run's total, plus splitting the large outputs off into chunks.
  auto after_run = Clock::now();
  data.clear();
  std::vector<PendingTensor> pending =
      TakeLargeTensors(response, max_chunk, config_.max_message_bytes / 2);
  response->mutable_timings()->set_total_us(MicrosSince(after_run) +
                                            response->timings().total_us());
  if (!stream->Write(out)) {
    return absl::CancelledError("the client went away");
  }
  for (const PendingTensor& p : pending) {
    for (size_t offset = 0; offset < p.data.size();
         offset += static_cast<size_t>(max_chunk)) {
      v1::ExecuteStreamResponse chunk_message;
      v1::TensorChunk* chunk = chunk_message.mutable_chunk();
      chunk->set_tensor_index(p.index);
      chunk->set_offset(offset);
      chunk->set_data(
          p.data.substr(offset, std::min<size_t>(static_cast<size_t>(max_chunk),
                                                 p.data.size() - offset)));
      if (!stream->Write(chunk_message)) {
        return absl::CancelledError("the client went away");
      }
    }
  }
  v1::ExecuteStreamResponse end;
  end.mutable_end();
  if (!stream->Write(end)) {
    return absl::CancelledError("the client went away");
  }
  return absl::OkStatus();
}

grpc::Status CompilerService::RegisterSharedMemory(
    grpc::ServerContext* context,
    const v1::RegisterSharedMemoryRequest* request,
    v1::RegisterSharedMemoryResponse*) {
  return FinishCall(context, shared_memory_->Register(
                                 request->name(), request->key(),
                                 request->offset(), request->byte_size()));
}

grpc::Status CompilerService::UnregisterSharedMemory(
    grpc::ServerContext* context,
    const v1::UnregisterSharedMemoryRequest* request,
    v1::UnregisterSharedMemoryResponse*) {
  return FinishCall(context, shared_memory_->Unregister(request->name()));
}

}  // namespace kiln::server
