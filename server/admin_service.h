// AdminService: roster.v1.RosterAdmin, the operator actions (drain, undrain, accepting the
// losses self-preservation holds), over the gRPC
// callback API. ClusterManager records them in the registry and calls back once the view shows
// the change; the reactor is finished from that callback, so no gRPC thread ever waits.
//
// Authorisation: the admin scope (server/authz.h: a token from --access_file or
// --admin_token_file, a client certificate listed in --access_file, or loopback callers with
// --allow_loopback_writes). Every action is written to the audit log (Audit(),
// server/rpc_util.h), the reason escaped (LogSafe).
//
// Thread-safety: thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "roster/v1/roster.grpc.pb.h"
#include "server/rpc_util.h"

namespace roster::server {

// True for peers on this machine: loopback IPv4/IPv6 (also IPv4-mapped) and Unix sockets.
bool IsLoopbackPeer(absl::string_view peer);

class AdminService final : public v1::RosterAdmin::CallbackService {
 public:
  // `context` must outlive the service.
  explicit AdminService(const ServiceContext* context);

  grpc::ServerUnaryReactor* DrainNode(grpc::CallbackServerContext* call,
                                      const v1::DrainNodeRequest* request,
                                      v1::DrainNodeResponse* response) override;
  grpc::ServerUnaryReactor* UndrainNode(grpc::CallbackServerContext* call,
                                        const v1::UndrainNodeRequest* request,
                                        v1::UndrainNodeResponse* response) override;
  grpc::ServerUnaryReactor* AcceptHeldLosses(grpc::CallbackServerContext* call,
                                             const v1::AcceptHeldLossesRequest* request,
                                             v1::AcceptHeldLossesResponse* response) override;
  // Shadow mode's report (server/shadow_monitor.h); the read scope suffices.
  grpc::ServerUnaryReactor* GetShadowDiff(grpc::CallbackServerContext* call,
                                          const v1::GetShadowDiffRequest* request,
                                          v1::GetShadowDiffResponse* response) override;

 private:
  // The caller is authorised (filled in) and `address` is host:port: the address, else the
  // error to send.
  absl::StatusOr<std::string> Admit(grpc::CallbackServerContext* call, absl::string_view method,
                                    absl::string_view address, Caller* caller);
  // Fills `node` and `meta` from the view as it is now and finishes the call.
  void Answer(grpc::ServerUnaryReactor* reactor, absl::string_view method,
              const std::string& address, absl::Status status, v1::Node* node, v1::ViewMeta* meta);

  const ServiceContext* const context_;
};

}  // namespace roster::server
