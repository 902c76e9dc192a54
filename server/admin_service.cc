#include "server/admin_service.h"

#include <glog/logging.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/convert.h"
#include "server/status_util.h"
#include "util/log_escape.h"

namespace roster::server {
namespace {

constexpr absl::string_view kBearer = "bearer ";

// Compares in time that depends only on the lengths, never on where the bytes differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

}  // namespace

bool IsLoopbackPeer(absl::string_view peer) {
  return absl::StartsWith(peer, "ipv4:127.") || absl::StartsWith(peer, "ipv6:[::1]") ||
         absl::StartsWith(peer, "ipv6:[::ffff:127.") || absl::StartsWith(peer, "unix:");
}

grpc::Status AuthorizeAdmin(absl::string_view token,
                            const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                            absl::string_view peer) {
  if (token.empty()) {
    if (IsLoopbackPeer(peer)) return grpc::Status::OK;
    return grpc::Status(
        grpc::StatusCode::PERMISSION_DENIED,
        absl::StrCat("RosterAdmin calls from ", peer,
                     " are refused: without --admin_token_file only loopback clients may call. "
                     "Start rosterd with --admin_token_file=FILE and send "
                     "'authorization: Bearer <token>' metadata"));
  }
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "RosterAdmin needs 'authorization: Bearer <token>' metadata (the token "
                        "in rosterd's --admin_token_file)");
  }
  const absl::string_view value(it->second.data(), it->second.size());
  if (value.size() < kBearer.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, kBearer.size()), kBearer)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "the authorization metadata is not 'Bearer <token>'");
  }
  if (!ConstantTimeEquals(absl::StripAsciiWhitespace(value.substr(kBearer.size())), token)) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "the admin token is wrong (see rosterd's --admin_token_file)");
  }
  return grpc::Status::OK;
}

AdminService::AdminService(const ServiceContext* context, std::string admin_token)
    : context_(context), admin_token_(std::move(admin_token)) {}

void AdminService::Answer(grpc::ServerUnaryReactor* reactor, absl::string_view method,
                          const std::string& address, absl::Status status, v1::Node* node,
                          v1::ViewMeta* meta) {
  if (status.ok()) {
    const cluster::ClusterViewPtr view = context_->cluster->view();
    if (cluster::NodeInfoPtr info = view->FindAny(address)) {
      FillNode(*info, context_->clock->Now(), NodeDetail{/*history=*/true, &view->slots}, node);
    }
    FillMeta(*context_, view->version, meta);
  }
  FinishRpc(*context_, reactor, method, ToGrpcStatus(status));
}

absl::StatusOr<std::string> AdminService::Admit(grpc::CallbackServerContext* call,
                                                absl::string_view method,
                                                absl::string_view address) {
  if (grpc::Status auth = AuthorizeAdmin(admin_token_, call->client_metadata(), call->peer());
      !auth.ok()) {
    LOG(WARNING) << "refused " << method << " from " << call->peer() << ": "
                 << auth.error_message();
    return absl::Status(static_cast<absl::StatusCode>(auth.error_code()), auth.error_message());
  }
  return ParseAddressField("address", address);
}

grpc::ServerUnaryReactor* AdminService::DrainNode(grpc::CallbackServerContext* call,
                                                  const v1::DrainNodeRequest* request,
                                                  v1::DrainNodeResponse* response) {
  static constexpr absl::string_view kMethod = "RosterAdmin/DrainNode";
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  absl::StatusOr<std::string> address = Admit(call, kMethod, request->address());
  if (!address.ok()) {
    FinishRpc(*context_, reactor, kMethod, ToGrpcStatus(address.status()));
    return reactor;
  }
  if (absl::Status reason = ValidateDrainReason(request->reason()); !reason.ok()) {
    FinishRpc(*context_, reactor, kMethod, ToGrpcStatus(reason));
    return reactor;
  }
  LOG(INFO) << "draining '" << *address << "' for " << call->peer() << ": "
            << LogSafe(request->reason());
  // `done` may run inline (a refused request) or on the cluster executor; either way the
  // reactor and response stay valid until Finish.
  context_->cluster->Drain(*address, request->reason(),
                           [this, reactor, response, address = *address](absl::Status status) {
                             Answer(reactor, kMethod, address, std::move(status),
                                    response->mutable_node(), response->mutable_meta());
                           });
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::UndrainNode(grpc::CallbackServerContext* call,
                                                    const v1::UndrainNodeRequest* request,
                                                    v1::UndrainNodeResponse* response) {
  static constexpr absl::string_view kMethod = "RosterAdmin/UndrainNode";
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  absl::StatusOr<std::string> address = Admit(call, kMethod, request->address());
  if (!address.ok()) {
    FinishRpc(*context_, reactor, kMethod, ToGrpcStatus(address.status()));
    return reactor;
  }
  LOG(INFO) << "undraining '" << *address << "' for " << call->peer();
  context_->cluster->Undrain(*address,
                             [this, reactor, response, address = *address](absl::Status status) {
                               Answer(reactor, kMethod, address, std::move(status),
                                      response->mutable_node(), response->mutable_meta());
                             });
  return reactor;
}

}  // namespace roster::server
