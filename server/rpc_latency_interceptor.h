// RpcLatencyInterceptor: times every unary gRPC call from its arrival to its status, by method
// and status code, into ServerMetrics (roster_rpc_duration_seconds). One server interceptor
// covers every service (Roster, Registration, RosterAdmin, health) without touching their
// handlers. Streaming calls (WatchCluster, reflection) are not timed: their length is the
// client's choice, not a latency.
//
// Wiring: grpc::ServerBuilder::experimental().SetInterceptorCreators() with
// NewRpcLatencyInterceptorFactory(&metrics) (server/daemon.cc).
//
// Thread-safety: thread-safe; one interceptor per call, run by gRPC on that call's threads.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "server/server_metrics.h"

namespace roster::server {

// "/roster.v1.Roster/GetNode" -> "Roster/GetNode", as roster_rpcs_total spells methods; a name
// not of that shape is returned as it is.
std::string ShortMethodName(absl::string_view full_method);

// `metrics` must outlive the server the factory is installed in.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewRpcLatencyInterceptorFactory(ServerMetrics* metrics);

}  // namespace roster::server
