// The fast reader of DolphinScheduler's JSON heartbeats: simdjson in place of protobuf's JSON
// parser, for ParseHeartbeat (cluster/heartbeat_codec.cc). Internal to cluster/.
//
// It reads a payload only when it can give exactly what protobuf's reading gives (the same
// DolphinHeartbeatJson, the same spelling of threadPoolUsage) and declines every other payload,
// which the codec then reads with protobuf's parser: the answer never depends on which reader
// read it. What it declines, and why, is in docs/dolphinscheduler.md, "Heartbeat decoding".
//
// Thread-safety: thread-safe (each thread has its own simdjson parser).
#pragma once

#include "absl/strings/string_view.h"
#include "roster/v1/heartbeat.pb.h"

namespace roster::cluster {

// How a number was spelled in a payload (protobuf keeps the value, not its spelling): Jackson
// writes a Java int without '.' or exponent and a double always with one.
enum class NumberSpelling {
  kAbsent,   // no such member
  kInteger,  // digits, maybe after '-'
  kDecimal,  // with '.', 'e' or 'E'
  kOther,    // anything else ("NaN" as a string, ...)
};

// Reads `payload`, whose first byte that is not JSON whitespace is '{', into `json` (which must
// be empty) as google::protobuf::util::JsonStringToMessage with ignore_unknown_fields does, and
// sets `*thread_pool` to the spelling of the top-level threadPoolUsage value. Returns false,
// leaving `json` and `*thread_pool` unspecified, for a payload outside what it reproduces
// exactly: one protobuf would refuse, one that is not strict JSON, one with a backslash, over
// 64 KiB, nested 16 levels or more, repeating a field of `json`, or holding a field's value in a
// type other than the one DolphinScheduler writes (a string for an int, null, ...).
bool ReadHeartbeatJsonFast(absl::string_view payload, roster::v1::DolphinHeartbeatJson* json,
                           NumberSpelling* thread_pool);

}  // namespace roster::cluster
