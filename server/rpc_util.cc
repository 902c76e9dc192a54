#include "server/rpc_util.h"

#include <glog/logging.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/convert.h"
#include "util/log_escape.h"

namespace roster::server {

void FillMeta(const ServiceContext& context, const cluster::ViewSnapshot& snapshot,
              v1::ViewMeta* meta) {
  FillViewMeta(*snapshot.view, snapshot.view->version, context.instance_id, snapshot.freshness,
               meta);
}

void FillMeta(const ServiceContext& context, uint64_t version, v1::ViewMeta* meta) {
  const cluster::ViewSnapshot snapshot = context.cluster->Snapshot();
  FillViewMeta(*snapshot.view, version, context.instance_id, snapshot.freshness, meta);
}

std::string ClientKey(const Caller& caller, absl::string_view peer) {
  if (caller.authenticated) return caller.identity;
  if (absl::StartsWith(peer, "unix:")) return "unix";
  const size_t colon = peer.rfind(':');
  return std::string(colon == absl::string_view::npos ? peer : peer.substr(0, colon));
}

absl::StatusOr<Caller> AuthorizeCall(const ServiceContext& context,
                                     const grpc::ServerContextBase& call, Scope scope,
                                     absl::string_view method) {
  if (context.authorizer == nullptr) return Caller{"unchecked", ~0u, false};
  absl::StatusOr<Caller> caller = context.authorizer->Authorize(call, scope, method);
  if (caller.ok() && context.rate_limiter != nullptr) {
    const std::string client = ClientKey(*caller, call.peer());
    if (!context.rate_limiter->Allow(client)) {
      context.metrics->rate_limited().Increment();
      return absl::ResourceExhaustedError(
          absl::StrCat("client '", LogSafe(client, 256), "' is over ", context.rate_limiter->rate(),
                       " calls a second (--max_requests_per_second_per_client); retry later"));
    }
  }
  if (!caller.ok()) {
    LOG_EVERY_N(WARNING, 20) << "refused " << method << " from " << LogSafe(call.peer()) << ": "
                             << caller.status().message() << " (" << google::COUNTER
                             << " refusals)";
  }
  return caller;
}

void Audit(absl::string_view action, absl::string_view node, const Caller& caller,
           absl::string_view peer, const absl::Status& result, absl::string_view detail) {
  LOG(INFO) << "AUDIT " << action << " node='" << LogSafe(node, 256) << "' by='"
            << LogSafe(caller.identity, 256) << "' from='" << LogSafe(peer, 256)
            << "' result=" << (result.ok() ? "OK" : absl::StatusCodeToString(result.code()))
            << (detail.empty() ? "" : " reason='") << LogSafe(detail)
            << (detail.empty() ? "" : "'");
}

void FinishRpc(const ServiceContext& context, grpc::ServerUnaryReactor* reactor,
               absl::string_view method, const grpc::Status& status) {
  context.metrics->CountRpc(method, status.error_code());
  if (!status.ok()) {
    VLOG(1) << method << ": " << GrpcCodeName(status.error_code()) << ": "
            << status.error_message();
  }
  reactor->Finish(status);
}

}  // namespace roster::server
