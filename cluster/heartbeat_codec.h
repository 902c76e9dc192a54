// Heartbeat codec: DolphinScheduler's heartbeat JSON (current and legacy formats) into a
// checked, normalised roster.v1.Heartbeat, and node names into addresses.
//
// Parsing uses protobuf's JSON utilities (no hand-written JSON parser): every field optional,
// unknown fields ignored. Anything the payload cannot be trusted for becomes a reason, never
// an exception or a crash: the cluster layer turns it into FAULT with that reason.
//
// Thread-safety: the functions are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cluster/node_info.h"
#include "roster/v1/heartbeat.pb.h"

namespace roster::cluster {

struct HeartbeatLimits {
  // Larger payloads are rejected unread (DolphinScheduler's are ~300 bytes).
  size_t max_payload_bytes = 64 * 1024;
  // startupTime/reportTime further ahead of this daemon's wall clock are rejected.
  absl::Duration max_clock_skew = absl::Hours(1);
};

// Parses and checks one heartbeat payload written by a node of `role`. `wall_now` is this
// daemon's calendar clock (for the clock-skew check).
//
// InvalidArgument with a reason an operator can act on, naming the field and value:
//   "heartbeat is 2097152 bytes, over the 65536-byte limit (--max_heartbeat_bytes)"
//   "heartbeat is not JSON: ..." / "heartbeat is not a JSON object"
//   "cpuUsage NaN is not in [0, 1]", "port -1 is not in [1, 65535]",
//   "unknown serverStatus 'WAITING'", "reportTime 4102444800000 is 73y ahead of this daemon's
//   clock (--max_clock_skew_ms)", "workerGroup 'a/b' contains '/'" ...
// An empty payload is NotFound ("no heartbeat yet"): the node stays REGISTERING.
absl::StatusOr<roster::v1::Heartbeat> ParseHeartbeat(NodeRole role, absl::string_view payload,
                                                     const HeartbeatLimits& limits,
                                                     absl::Time wall_now);

// The payload DolphinScheduler (current format) would write for `heartbeat`; used by the
// simulator and the sidecar registration. ParseHeartbeat(EncodeHeartbeat(h)) == h for every
// valid `h` in the current format.
std::string EncodeHeartbeat(NodeRole role, const roster::v1::Heartbeat& heartbeat);

// "host:port" with a non-empty host (a DNS name, IPv4, or bracketed IPv6) and a port in
// [1, 65535]. InvalidArgument naming the text otherwise. Returns the canonical form.
absl::StatusOr<std::string> ParseNodeAddress(absl::string_view text);

// A worker group name: 1..128 printable ASCII characters, no '/', not "." or "..", no
// whitespace at either end. InvalidArgument naming the text otherwise.
absl::Status ValidateGroupName(absl::string_view name);

}  // namespace roster::cluster
