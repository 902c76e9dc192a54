// Drain records: the persistent znode {drains}/{host}:{port} an operator's drain writes, holding
// a roster.v1.DrainRecord in JSON. Written by ClusterManager::Drain and read back by every
// replica from the drains subscription (cluster_manager_drains.cc). Records may also be written
// by hand or by another tool, so reading one checks everything.
//
// Thread-safety: the functions are thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace roster::cluster {

// A drain record read from the registry.
struct DrainEntry {
  std::string address;  // canonical "host:port", from the znode name
  std::string reason;
  int64_t drained_at_ms = 0;  // epoch ms, the writing daemon's clock; 0 when absent
};

// The payload ClusterManager::Drain writes: {"reason":"...","drainedAtMs":"..."}.
std::string EncodeDrainRecord(absl::string_view reason, absl::Time drained_at);

// Reads the record at `path`, which must be a direct child of `drains_path` named "host:port",
// holding `data`. InvalidArgument otherwise:
//   "the name is not host:port"
//   "the payload is not a DrainRecord in JSON: <protobuf's reason, escaped and bounded>"
absl::StatusOr<DrainEntry> ParseDrainRecord(absl::string_view drains_path, absl::string_view path,
                                            absl::string_view data);

}  // namespace roster::cluster
