// Heartbeat codec: every heartbeat payload DolphinScheduler has written into its registry
// znodes (2.0 and 3.0 comma-separated text; 3.1, 3.2.0, 3.2.1, 3.2.2 and dev JSON) into a
// checked, normalised roster.v1.Heartbeat, and back.
//
// JSON is read as protobuf's JSON parser reads it into roster.v1.DolphinHeartbeatJson: every
// field optional, unknown fields ignored. simdjson reads the payloads whose reading by protobuf
// it reproduces exactly (DolphinScheduler's all are), protobuf's parser the rest, so the answer,
// error text included, is protobuf's for every payload (docs/dolphinscheduler.md, "Heartbeat
// decoding"; tests/cluster/heartbeat_decoder_diff_test.cc compares the two). A payload fails only
// when the node cannot be used (it is not a heartbeat at all, its status is unknown, its address or
// clocks are wrong): the cluster layer turns that into FAULT with the reason. Load figures that are
// out of range, as real clusters write them (3.2.1's cpuUsage above 1, -1 for "unknown", a task
// count in threadPoolUsage), are kept as written with a warning in the Heartbeat.
//
// Thread-safety: the functions are thread-safe.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "cluster/node_info.h"
#include "roster/v1/heartbeat.pb.h"

namespace roster::cluster {

struct HeartbeatLimits {
  // Larger payloads are rejected unread (DolphinScheduler's are ~300 bytes).
  size_t max_payload_bytes = 64 * 1024;
  // startupTime/reportTime further ahead of the registry server's clock when the payload was
  // written (the znode's mtime) are rejected: the writer's clock is wrong. Never compared with
  // this daemon's own clock, whose jump would make every node bad at once.
  absl::Duration max_clock_skew = absl::Hours(1);
};

// The DolphinScheduler version whose heartbeat encoder wrote (or is to write) a payload.
// Parsing always reads the syntax (text or JSON, which fields) from the payload itself; the
// dialect says what a value means where versions disagree.
enum class HeartbeatDialect {
  // Parse: each value's meaning from the payload itself (a threadPoolUsage spelled as an
  // integer is 3.2.1/3.2.2's task count). Encode: as kJson33.
  kAuto,
  kText20,   // HeartBeat.encodeHeartBeat @ 2.0.9-release: 14 comma-separated fields
  kText30,   // HeartBeat.encodeHeartBeat @ 3.0.6-release: 13 comma-separated fields
  kJson31,   // {Master,Worker}HeartBeat @ 3.1.x: integer serverStatus, workers only
  kJson320,  // 3.2.0: "NORMAL"/"ABNORMAL"/"BUSY", host and port
  // 3.2.1 (and, for parsing, 3.2.2): threadPoolUsage is the running + waiting task count.
  // Encode: 3.2.1's fields (no jvmCpuUsage).
  kJson321,
  // 3.2.2: BaseHeartBeat's fields with 3.2.1's integer threadPoolUsage. Parses as kJson321.
  kJson322,
  kJson33,  // dev: BaseHeartBeat; threadPoolUsage a fraction of the exec threads
};

// "auto", "2.0-text", "3.0-text", "3.1-json", "3.2.0-json", "3.2.1-json", "3.2.2-json",
// "3.3-json".
absl::string_view HeartbeatDialectName(HeartbeatDialect dialect);

// The field names of DolphinScheduler's text heartbeat (HeartBeat.encodeHeartBeat), in order:
// 14 for kText20, 13 (no diskAvailable) for kText30; empty for the JSON dialects.
absl::Span<const absl::string_view> TextHeartbeatFields(HeartbeatDialect dialect);

// Parses and checks one heartbeat payload written by a node of `role`. `written_at` is when the
// payload was written by the registry server's clock (the znode's mtime), the reference of the
// clock-skew check; InfinitePast() when unknown skips that check. The result's `format` says which
// versions write such a payload; `warnings` lists each load figure kept although it is out of
// its range ("cpuUsage 1.73 is above 1 (DS 3.2.1 adds system and process CPU)", "cpuUsage
// -1: unknown (DS writes -1 when it cannot measure)", "jvmCpuUsage NaN is not a number:
// read as 0").
//
// InvalidArgument, naming the field and value, only when the node cannot be used:
//   "heartbeat is 2097152 bytes, over the 65536-byte limit (--max_heartbeat_bytes)"
//   "heartbeat nests JSON more than 32 levels deep (at byte 36)"
//   "heartbeat is not JSON: ..." / "heartbeat is not a JSON object: ..." (and not 2.0/3.0
//     text: "... as DolphinScheduler 2.0/3.0 text it has 2 comma-separated fields, not 14 or 13")
//   "heartbeat is DolphinScheduler 3.0 text but field 3 (loadAverage) 'x' is not a number"
//   "heartbeat has a bad value: (cpuUsage): invalid value \"high\" for type TYPE_DOUBLE"
//   "unknown serverStatus 'WAITING'", "port -1 is not in [1, 65535]", "host '' is empty",
//   "reportTime 4102444800000 (...) is 75y ahead of the registry's clock when it was
//   written (znode mtime ...), more than the 1h allowed (--max_clock_skew_ms)", "startupTime -1 is
//   negative", "workerGroup 'a/b' contains '/'" (roster's extension).
// An empty payload is NotFound ("no heartbeat yet"): the node stays REGISTERING.
absl::StatusOr<roster::v1::Heartbeat> ParseHeartbeat(
    NodeRole role, absl::string_view payload, const HeartbeatLimits& limits, absl::Time written_at,
    HeartbeatDialect dialect = HeartbeatDialect::kAuto);

// ParseHeartbeat with protobuf's JSON parser for every JSON payload, never simdjson: the
// reference the fast reader is tested against, and the baseline of its benchmark
// (tests/bench/cluster_bench.cc). Same contract and results as ParseHeartbeat, about 25x
// slower.
absl::StatusOr<roster::v1::Heartbeat> ParseHeartbeatReference(
    NodeRole role, absl::string_view payload, const HeartbeatLimits& limits, absl::Time written_at,
    HeartbeatDialect dialect = HeartbeatDialect::kAuto);

// The payload a node of `role` running `dialect`'s DolphinScheduler version writes for
// `heartbeat`: its fields, order and spelling (Jackson's for JSON: every field of the version's
// class, Java's Double.toString for doubles; encodeHeartBeat's for text). Fields the version
// does not write are dropped (a 3.1 master writes no serverStatus; text has no host). Roster's
// extensions are added to JSON: a non-empty worker_group, and "ABNORMAL" where the version has
// no such status. A port of 0 is left out. Versions without alert-server heartbeats (before
// 3.2.0) write the master's shape for an alert server. For every `heartbeat` holding only what
// `dialect` writes, ParseHeartbeat(EncodeHeartbeat(h)) equals `h` apart from format/warnings.
std::string EncodeHeartbeat(NodeRole role, const roster::v1::Heartbeat& heartbeat,
                            HeartbeatDialect dialect = HeartbeatDialect::kJson33);

}  // namespace roster::cluster
