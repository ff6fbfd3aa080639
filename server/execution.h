// One call of Execute or ExecuteStream, from its request to its response:
// the request's own checks, the artifact's executable, the guards on the
// concrete call, the inputs' data from whichever transport carried it, the
// run, and the outputs and mutated inputs on the wire.
//
// Order of checks (which error a bad request gets first): the request's
// fields on their own (INVALID_ARGUMENT; RESOURCE_EXHAUSTED over a limit);
// the artifact (NOT_FOUND, DATA_LOSS); its guards against the signature
// (FAILED_PRECONDITION naming the guard, with the GuardFailure attached as
// the status payload kGuardFailurePayload); the inputs against the
// signature's leaves (INVALID_ARGUMENT); then the run itself.
//
// Threading: an Execution is used by one call on one thread; any number
// run at once (executables are thread-safe).
#ifndef KILN_SERVER_EXECUTION_H_
#define KILN_SERVER_EXECUTION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "compiler/ops/op_def.h"
#include "kiln/v1/compiler_service.pb.h"
#include "server/config.h"
#include "server/executables.h"
#include "server/shared_memory.h"

namespace kiln::server {

// The absl::Status payload type URL under which a guard failure travels
// (a serialized v1::GuardFailure); the service sends it to the client as
// trailing metadata `kiln-guard-failure-bin`.
inline constexpr char kGuardFailurePayload[] =
    "type.googleapis.com/kiln.v1.GuardFailure";
inline constexpr char kGuardFailureMetadata[] = "kiln-guard-failure-bin";

// Bounds how many executions run at once (the device's queue): a call
// waits for a free slot, up to its deadline.
//
// Thread safety: every method may be called concurrently.
class ExecutionSlots {
 public:
  explicit ExecutionSlots(int slots) : free_(slots < 1 ? 1 : slots) {}

  // Takes a slot, waiting while all are busy: DEADLINE_EXCEEDED once
  // `deadline` passes, CANCELLED as soon as `cancelled` (polled; may be
  // empty) says so.
  absl::Status Acquire(absl::Time deadline,
                       const std::function<bool()>& cancelled);
  void Release();

 private:
  absl::Mutex mu_;
  int free_ ABSL_GUARDED_BY(mu_);
};

// How long a call may wait, and whether its client went away.
struct CallControl {
  absl::Time deadline = absl::InfiniteFuture();
  std::function<bool()> cancelled;
};

// What executions share; owned by the service.
struct ExecutionEnv {
  ExecutableCache* executables = nullptr;
  SharedMemoryRegistry* shared_memory = nullptr;
  ExecutionSlots* slots = nullptr;
  ServerLimits limits;
  int64_t max_message_bytes = 0;
};

// An input whose bytes follow in TensorChunk messages (ExecuteStream).
struct ChunkedInput {
  int input_index = 0;
  int64_t byte_size = 0;
};

class Execution {
 public:
  // Checks `request` and everything that does not need input data: see
  // the file comment. `streamed` allows `chunked` inputs. `request` must
  // outlive the Execution.
  static absl::StatusOr<std::unique_ptr<Execution>> Prepare(
      const v1::ExecuteRequest& request, const ExecutionEnv& env,
      bool streamed);

  // The inputs whose data the stream must still deliver, by input index.
  const std::vector<ChunkedInput>& chunked_inputs() const { return chunked_; }

  // Waits for an execution slot (DEADLINE_EXCEEDED / CANCELLED per
  // `control`), runs the artifact and fills `response` (outputs and
  // mutations with inline `raw` data, or written into the requested output
  // buffers; timings). `chunked_data` holds the bytes of chunked_inputs()
  // by input index (complete; moved from). Errors: the executable's (a
  // kernel's INVALID_ARGUMENT naming the node), INVALID_ARGUMENT for an
  // output buffer of the wrong size.
  absl::Status Run(std::vector<std::string>* chunked_data,
                   const CallControl& control, v1::ExecuteResponse* response);

  const LoadedArtifact& artifact() const { return *ref_.artifact; }

 private:
  Execution(const v1::ExecuteRequest& request, const ExecutionEnv& env)
      : request_(request), env_(env) {}

  absl::Status CheckInputs(bool streamed);
  absl::Status CheckOutputBuffers();
  absl::StatusOr<std::vector<ops::RuntimeValue>> InputValues(
      std::vector<std::string>* chunked_data);

  const v1::ExecuteRequest& request_;
  const ExecutionEnv& env_;
  ExecutableRef ref_;
  // Per input: its data size (tensors) and, for shared memory, its span.
  std::vector<int64_t> data_bytes_;
  std::vector<std::optional<SharedMemorySpan>> input_spans_;
  std::vector<ChunkedInput> chunked_;
  // Per graph output: the shared memory to write it into, if requested.
  std::vector<std::optional<SharedMemorySpan>> output_spans_;
  v1::ExecuteTimings timings_;
};

}  // namespace kiln::server

#endif  // KILN_SERVER_EXECUTION_H_
