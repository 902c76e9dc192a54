// AdminService: roster.v1.RosterAdmin, the operator actions (drain, undrain), over the gRPC
// callback API. ClusterManager records them in the registry and calls back once the view shows
// the change; the reactor is finished from that callback, so no gRPC thread ever waits.
//
// Authorisation: with an admin token configured (--admin_token_file), a call needs metadata
// `authorization: Bearer <token>`; it is compared in constant time and never logged. Missing
// or malformed: UNAUTHENTICATED; wrong: PERMISSION_DENIED. Without a token only loopback peers
// (127.0.0.0/8, ::1, Unix sockets) may call; others get PERMISSION_DENIED saying how to set a
// token.
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

// The authorisation rule above, on a call's metadata and peer (grpc::ServerContext::peer()
// form: "ipv4:127.0.0.1:5000", "ipv6:[::1]:5000", "unix:/path"). `token` empty: loopback rule.
grpc::Status AuthorizeAdmin(absl::string_view token,
                            const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                            absl::string_view peer);

// True for peers on this machine: loopback IPv4/IPv6 (also IPv4-mapped) and Unix sockets.
bool IsLoopbackPeer(absl::string_view peer);

class AdminService final : public v1::RosterAdmin::CallbackService {
 public:
  // `context` must outlive the service. `admin_token` empty: loopback peers only.
  AdminService(const ServiceContext* context, std::string admin_token);

  grpc::ServerUnaryReactor* DrainNode(grpc::CallbackServerContext* call,
                                      const v1::DrainNodeRequest* request,
                                      v1::DrainNodeResponse* response) override;
  grpc::ServerUnaryReactor* UndrainNode(grpc::CallbackServerContext* call,
                                        const v1::UndrainNodeRequest* request,
                                        v1::UndrainNodeResponse* response) override;

 private:
  // The caller is authorised and `address` is host:port: the address, else the error to send.
  absl::StatusOr<std::string> Admit(grpc::CallbackServerContext* call, absl::string_view method,
                                    absl::string_view address);
  // Fills `node` and `meta` from the view as it is now and finishes the call.
  void Answer(grpc::ServerUnaryReactor* reactor, absl::string_view method,
              const std::string& address, absl::Status status, v1::Node* node, v1::ViewMeta* meta);

  const ServiceContext* const context_;
  const std::string admin_token_;
};

}  // namespace roster::server
