// The one mapping from absl::Status (every module's error type) to grpc::Status (what an RPC
// returns). Canonical codes are the same numbers in both, so the code carries over unchanged
// and the message is kept verbatim: it already says what was wrong (docs/architecture.md,
// "Errors").
//
// Thread-safety: a pure function.
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace roster::server {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace roster::server
