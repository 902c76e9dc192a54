// ZooKeeperStatus(): the one place that turns a ZooKeeper C client return code into an
// absl::Status, so every caller in registry/zookeeper/ reports errors the same way (see the
// error list in registry/registry.h).
//
// The message names the operation and the path, e.g.
//   create '/dolphinscheduler/nodes/worker/10.0.0.21:1234': session expired
// and never contains credentials.
//
// Internal to registry/zookeeper/. Thread-safety: a pure function, thread-safe.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace roster::registry {

// OK for ZOK; otherwise the canonical code for `rc` (a ZOO_ERRORS value):
//   ZNONODE -> NotFound, ZNODEEXISTS -> AlreadyExists, ZBADVERSION -> Aborted,
//   ZNOTEMPTY, ZNOCHILDRENFOREPHEMERALS -> FailedPrecondition,
//   ZNOAUTH -> PermissionDenied, ZINVALIDACL, ZBADARGUMENTS -> InvalidArgument,
//   ZCONNECTIONLOSS, ZOPERATIONTIMEOUT, ZSESSIONEXPIRED, ZSESSIONMOVED, ZINVALIDSTATE,
//   ZCLOSING (and the other "try again" codes) -> Unavailable,
//   ZAUTHFAILED -> Unauthenticated, client-side faults -> Internal, unknown codes -> Unknown.
// `operation` is a verb such as "create" or "get children"; `path` is the node.
absl::Status ZooKeeperStatus(int rc, absl::string_view operation, absl::string_view path);

}  // namespace roster::registry
