// Node addresses and worker group names: the two names DolphinScheduler's registry layout is
// built from (znode names "host:port", worker group path segments and database rows). Used by
// the layout, the clusters, the drains and the RPC conversions.
//
// Thread-safety: the functions are thread-safe.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace roster::cluster {

// "host:port" with a non-empty host (a DNS name, IPv4, or bracketed IPv6) and a port in
// [1, 65535]. InvalidArgument naming the text otherwise. Returns the canonical form.
absl::StatusOr<std::string> ParseNodeAddress(absl::string_view text);

// A worker group name: 1..128 printable ASCII characters, no '/', not "." or "..", no
// whitespace at either end. InvalidArgument naming the text otherwise; `what` names the value
// in the message ("group name 'a/b' contains '/'", "workerGroup 'a/b' contains '/'").
absl::Status ValidateGroupName(absl::string_view name, absl::string_view what = "group name");

}  // namespace roster::cluster
