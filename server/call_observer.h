#ifndef KILN_SERVER_CALL_OBSERVER_H_
#define KILN_SERVER_CALL_OBSERVER_H_

#include "grpcpp/support/server_interceptor.h"
#include "server/metrics.h"

namespace kiln::server {

// A server interceptor that watches every call without changing it: it
// times the call, reads the artifact key, cache hit and timings from the
// request and response messages (so the services need no code for it), and
// at the end records the metrics and writes the request log line
// (server/request_log.h).
//
// Thread safety: gRPC creates one interceptor per call; `metrics` must
// outlive the server.
class CallObserverFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CallObserverFactory(ServerMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  ServerMetrics* metrics_;
};

}  // namespace kiln::server

#endif  // KILN_SERVER_CALL_OBSERVER_H_
