#include "server/call_observer.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/security/auth_context.h"
#include "grpcpp/server_context.h"
#include "kiln/v1/cache_admin.pb.h"
#include "kiln/v1/compiler_service.pb.h"
#include "server/auth.h"
#include "server/request_log.h"

namespace kiln::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

// The method a call is of, by its path; only these messages are read.
enum class Method {
  kOther,
  kCompile,
  kLookup,
  kExecute,
  kExecuteStream,
  kGetArtifact,
  kGet,
  kEvict,
};

Method MethodOf(absl::string_view path) {
  if (path == "/kiln.v1.Compiler/Compile") return Method::kCompile;
  if (path == "/kiln.v1.Compiler/Lookup") return Method::kLookup;
  if (path == "/kiln.v1.Compiler/Execute") return Method::kExecute;
  if (path == "/kiln.v1.Compiler/ExecuteStream") return Method::kExecuteStream;
  if (path == "/kiln.v1.Compiler/GetArtifact") return Method::kGetArtifact;
  if (path == "/kiln.v1.CacheAdmin/Get") return Method::kGet;
  if (path == "/kiln.v1.CacheAdmin/Evict") return Method::kEvict;
  return Method::kOther;
}

// "/kiln.v1.Compiler/Compile" -> "kiln.v1.CompileRequest" (from the
// linked descriptors); "request message" for a method they do not know.
std::string RequestTypeName(absl::string_view path) {
  std::string method(absl::StripPrefix(path, "/"));
  size_t slash = method.find('/');
  if (slash != std::string::npos) method[slash] = '.';
  const google::protobuf::MethodDescriptor* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
          method);
  return descriptor == nullptr ? std::string("request message")
                               : descriptor->input_type()->full_name();
}

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

std::string FirstValue(const grpc::AuthContext& context, const char* name) {
  std::vector<grpc::string_ref> values = context.FindPropertyValues(name);
  if (values.empty()) return "";
  return std::string(values[0].data(), values[0].size());
}

class CallObserver : public grpc::experimental::Interceptor {
 public:
  CallObserver(grpc::experimental::ServerRpcInfo* info, ServerMetrics* metrics)
      : info_(info),
        metrics_(metrics),
        path_(info->method()),
        method_(MethodOf(path_)),
        start_(absl::Now()) {
    absl::MutexLock lock(&mu_);
    record_.method = std::string(absl::StripPrefix(path_, "/"));
    metrics_->CallStarted(path_);
  }

  ~CallObserver() override {
    // A call that ends without sending a status was cancelled (the client
    // went away or its deadline passed).
    absl::MutexLock lock(&mu_);
    if (!finished_) Finish(grpc::Status::CANCELLED);
  }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    {
      // Streaming calls may read and write on different threads. Proceed
      // must come after the lock is released: it may re-enter Intercept or
      // destroy this interceptor.
      absl::MutexLock lock(&mu_);
      if (methods->QueryInterceptionHookPoint(
              InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
        grpc::ServerContextBase* context = info_->server_context();
        record_.peer = context->peer();
        std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
        if (auth != nullptr) {
          record_.client = FirstValue(*auth, kClientNameProperty);
          if (record_.client.empty()) {
            record_.client = FirstValue(*auth, "x509_common_name");
          }
        }
      }
      if (methods->QueryInterceptionHookPoint(
              InterceptionHookPoints::POST_RECV_MESSAGE)) {
        // gRPC hands a unary call's request over as nullptr when its bytes
        // are not a protobuf of the method's request type.
        void* message = methods->GetRecvMessage();
        if (message == nullptr && !received_any_) undecodable_ = true;
        if (message != nullptr) received_any_ = true;
        ReadRequest(message);
      }
      if (methods->QueryInterceptionHookPoint(
              InterceptionHookPoints::PRE_SEND_MESSAGE)) {
        ReadResponse(methods->GetSendMessage());
      }
      if (methods->QueryInterceptionHookPoint(
              InterceptionHookPoints::PRE_SEND_STATUS)) {
        grpc::Status status = methods->GetSendStatus();
        // gRPC answers an undecodable request with INTERNAL and no message;
        // the caller sent bad bytes, which is INVALID_ARGUMENT.
        if (undecodable_ && status.error_code() == grpc::StatusCode::INTERNAL) {
          status = grpc::Status(
              grpc::StatusCode::INVALID_ARGUMENT,
              absl::StrCat("request: not a valid ", RequestTypeName(path_),
                           " (the bytes do not decode as that protobuf)"));
          methods->ModifySendStatus(status);
        }
        Finish(status);
      }
    }
    methods->Proceed();
  }

 private:
  void ReadRequest(const void* message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (message == nullptr || !record_.artifact_key.empty()) return;
    switch (method_) {
      case Method::kExecute:
        record_.artifact_key =
            static_cast<const v1::ExecuteRequest*>(message)->artifact_key();
        break;
      case Method::kExecuteStream: {
        const auto* request =
            static_cast<const v1::ExecuteStreamRequest*>(message);
        if (request->has_header()) {
          record_.artifact_key = request->header().artifact_key();
        }
        break;
      }
      case Method::kGetArtifact:
        record_.artifact_key =
            static_cast<const v1::GetArtifactRequest*>(message)->artifact_key();
        break;
      case Method::kGet:
        record_.artifact_key =
            static_cast<const v1::GetRequest*>(message)->artifact_key();
        break;
      case Method::kEvict:
        record_.artifact_key =
            static_cast<const v1::EvictRequest*>(message)->artifact_key();
        break;
      default:
        break;
    }
  }

  void ReadResponse(const void* message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (message == nullptr) return;
    switch (method_) {
      case Method::kCompile: {
        const auto* response = static_cast<const v1::CompileResponse*>(message);
        record_.artifact_key = response->artifact_key();
        record_.cache_hit = response->cache_hit();
        record_.lookup_us = response->timings().lookup_us();
        record_.queue_us = response->timings().queue_us();
        record_.compile_us = response->timings().compile_us();
        metrics_->RecordCompile(*response);
        break;
      }
      case Method::kLookup: {
        const auto* response = static_cast<const v1::LookupResponse*>(message);
        record_.cache_hit = response->has_hit();
        if (response->has_hit()) {
          record_.artifact_key = response->hit().artifact_key();
        }
        metrics_->RecordLookup(*response);
        break;
      }
      case Method::kExecute:
        RecordExecute(*static_cast<const v1::ExecuteResponse*>(message));
        break;
      case Method::kExecuteStream: {
        const auto* response =
            static_cast<const v1::ExecuteStreamResponse*>(message);
        if (response->has_header()) RecordExecute(response->header());
        break;
      }
      default:
        break;
    }
  }

  void RecordExecute(const v1::ExecuteResponse& response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    record_.guard_us = response.timings().guard_us();
    record_.run_us = response.timings().run_us();
    metrics_->RecordExecute(response);
  }

  void Finish(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    finished_ = true;
    absl::Duration duration = absl::Now() - start_;
    record_.duration = duration;
    record_.code = CodeName(status.error_code());
    record_.error = status.error_message();
    metrics_->CallFinished(path_, record_.code, duration);
    LogRequest(record_);
  }

  grpc::experimental::ServerRpcInfo* info_;
  ServerMetrics* metrics_;
  const std::string path_;
  const Method method_;
  const absl::Time start_;
  absl::Mutex mu_;
  RequestRecord record_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool received_any_ ABSL_GUARDED_BY(mu_) = false;
  bool undecodable_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::experimental::Interceptor* CallObserverFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new CallObserver(info, metrics_);
}

}  // namespace kiln::server
