#include "server/admin_service.h"

#include <glog/logging.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/convert.h"
#include "server/shadow_monitor.h"
#include "server/status_util.h"
#include "util/log_escape.h"

namespace roster::server {

bool IsLoopbackPeer(absl::string_view peer) {
  return absl::StartsWith(peer, "ipv4:127.") || absl::StartsWith(peer, "ipv6:[::1]") ||
         absl::StartsWith(peer, "ipv6:[::ffff:127.") || absl::StartsWith(peer, "unix:");
}

AdminService::AdminService(const ServiceContext* context) : context_(context) {}

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
                                                absl::string_view method, absl::string_view address,
                                                Caller* caller) {
  absl::StatusOr<Caller> authorized = AuthorizeCall(*context_, *call, kScopeAdmin, method);
  if (!authorized.ok()) return authorized.status();
  *caller = *std::move(authorized);
  return ParseAddressField("address", address);
}

grpc::ServerUnaryReactor* AdminService::DrainNode(grpc::CallbackServerContext* call,
                                                  const v1::DrainNodeRequest* request,
                                                  v1::DrainNodeResponse* response) {
  static constexpr absl::string_view kMethod = "RosterAdmin/DrainNode";
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  Caller caller;
  absl::StatusOr<std::string> address = Admit(call, kMethod, request->address(), &caller);
  if (!address.ok()) {
    FinishRpc(*context_, reactor, kMethod, ToGrpcStatus(address.status()));
    return reactor;
  }
  if (absl::Status reason = ValidateDrainReason(request->reason()); !reason.ok()) {
    FinishRpc(*context_, reactor, kMethod, ToGrpcStatus(reason));
    return reactor;
  }
  // `done` may run inline (a refused request) or on the cluster executor; either way the
  // reactor and response stay valid until Finish.
  context_->cluster->Drain(*address, request->reason(),
                           [this, reactor, response, address = *address, caller = std::move(caller),
                            peer = call->peer(), reason = request->reason()](absl::Status status) {
                             Audit("drain", address, caller, peer, status, reason);
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
  Caller caller;
  absl::StatusOr<std::string> address = Admit(call, kMethod, request->address(), &caller);
  if (!address.ok()) {
    FinishRpc(*context_, reactor, kMethod, ToGrpcStatus(address.status()));
    return reactor;
  }
  context_->cluster->Undrain(
      *address, [this, reactor, response, address = *address, caller = std::move(caller),
                 peer = call->peer()](absl::Status status) {
        Audit("undrain", address, caller, peer, status);
        Answer(reactor, kMethod, address, std::move(status), response->mutable_node(),
               response->mutable_meta());
      });
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::AcceptHeldLosses(grpc::CallbackServerContext* call,
                                                         const v1::AcceptHeldLossesRequest* request,
                                                         v1::AcceptHeldLossesResponse* response) {
  static constexpr absl::string_view kMethod = "RosterAdmin/AcceptHeldLosses";
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  absl::StatusOr<Caller> caller = AuthorizeCall(*context_, *call, kScopeAdmin, kMethod);
  absl::Status admitted = caller.status();
  if (admitted.ok()) admitted = ValidateDrainReason(request->reason());
  if (!admitted.ok()) {
    FinishRpc(*context_, reactor, kMethod, ToGrpcStatus(admitted));
    return reactor;
  }
  context_->cluster->AcceptHeldLosses(
      request->reason(), [this, reactor, response, caller = *std::move(caller), peer = call->peer(),
                          reason = request->reason()](absl::StatusOr<int> accepted) {
        Audit("accept-held-losses", "*", caller, peer, accepted.status(), reason);
        if (accepted.ok()) {
          response->set_accepted(*accepted);
          FillMeta(*context_, context_->cluster->view()->version, response->mutable_meta());
        }
        FinishRpc(*context_, reactor, kMethod, ToGrpcStatus(accepted.status()));
      });
  return reactor;
}

namespace {

v1::ShadowDivergence::Kind ToProto(cluster::ShadowDivergence::Kind kind) {
  switch (kind) {
    case cluster::ShadowDivergence::Kind::kOnlyInPrimary:
      return v1::ShadowDivergence::ONLY_IN_PRIMARY;
    case cluster::ShadowDivergence::Kind::kOnlyInShadow:
      return v1::ShadowDivergence::ONLY_IN_SHADOW;
    case cluster::ShadowDivergence::Kind::kState:
      return v1::ShadowDivergence::STATE;
    case cluster::ShadowDivergence::Kind::kHeartbeat:
      return v1::ShadowDivergence::HEARTBEAT;
  }
  return v1::ShadowDivergence::KIND_UNSPECIFIED;
}

}  // namespace

grpc::ServerUnaryReactor* AdminService::GetShadowDiff(grpc::CallbackServerContext* call,
                                                      const v1::GetShadowDiffRequest*,
                                                      v1::GetShadowDiffResponse* response) {
  static constexpr absl::string_view kMethod = "RosterAdmin/GetShadowDiff";
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  absl::Status status = AuthorizeCall(*context_, *call, kScopeRead, kMethod).status();
  if (status.ok() && context_->shadow == nullptr) {
    status = absl::FailedPreconditionError(
        "shadow mode is off: start rosterd with --shadow_registry=URI to compare two registries");
  }
  if (status.ok()) {
    const ShadowReport report = context_->shadow->Report();
    response->set_shadow_registry(report.uri);
    response->set_compared(report.compared);
    response->set_not_compared_reason(report.not_compared_reason);
    if (report.compared) ToProto(report.compared_at, response->mutable_compared_at());
    response->set_primary_version(report.primary_version);
    response->set_shadow_version(report.shadow_version);
    FillMeta(*context_, context_->cluster->view()->version, response->mutable_meta());
    for (const ShadowReportEntry& entry : report.divergences) {
      v1::ShadowDivergence* out = response->add_divergences();
      out->set_kind(ToProto(entry.divergence.kind));
      out->set_role(ToProto(entry.divergence.role));
      out->set_address(entry.divergence.address);
      out->set_detail(entry.divergence.detail);
      ToProto(entry.since, out->mutable_since());
    }
  }
  FinishRpc(*context_, reactor, kMethod, ToGrpcStatus(status));
  return reactor;
}

}  // namespace roster::server
