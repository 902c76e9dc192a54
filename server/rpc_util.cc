#include "server/rpc_util.h"

#include <glog/logging.h>

#include "server/convert.h"

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
