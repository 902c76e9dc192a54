// NodeBytesCache: each node's roster.v1.Node serialized once, so that the heavy answers
// (GetWorkerGroup, ListWorkers, GetClusterView) copy bytes instead of building and serializing
// thousands of messages per call, and SelectWorker's one node is a copy of bytes too.
//
// Keyed by the node's immutable NodeInfo: a published view shares every unchanged NodeInfo with
// the view before it, so a heartbeat re-serializes only the node it changed, and an entry is
// never served for another version of its node (a changed node is a new NodeInfo). A cache per
// view version would not pay: at 10,000 workers heartbeating every 10 s the view changes about
// 1,000 times a second. An entry holds its NodeInfo, so its address cannot be reused by another
// node while the entry lives; entries of nodes no view holds any more are swept when the cache
// has doubled since the last sweep.
//
// The bytes go out as unknown fields of the response: the wire format of a repeated message
// field is one length-delimited record per element, which is what an unknown field of that
// number is serialized as, so clients parse an ordinary answer. The FULL view's one
// time-dependent field, heartbeat_age, is appended to the cached bytes per call (a field may
// come in any order on the wire).
//
// Thread-safety: thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "cluster/node_info.h"
#include "google/protobuf/unknown_field_set.h"

namespace roster::server {

class NodeBytesCache {
 public:
  NodeBytesCache() = default;
  NodeBytesCache(const NodeBytesCache&) = delete;
  NodeBytesCache& operator=(const NodeBytesCache&) = delete;

  // Appends each of `nodes` as field `field_number` (a `repeated Node`) to `out`: the
  // NODE_VIEW_BASIC fields with `basic`, else every field FillNode fills with NodeDetail{}
  // (heartbeat_age against `now`, the daemon's monotonic clock). Not for masters: their slot
  // comes from the view, not from the node.
  void Append(absl::Span<const cluster::NodeInfoPtr* const> nodes, absl::Time now, bool basic,
              int field_number, google::protobuf::UnknownFieldSet* out);

  size_t size() const;

 private:
  struct Entry {
    cluster::NodeInfoPtr node;  // keeps the key's address from being reused
    std::string basic;          // empty until asked for
    std::string full;           // without heartbeat_age; empty until asked for
  };

  // Caches `built`: nodes and their serialized bytes, in the view `basic` says.
  void Insert(std::vector<std::pair<const cluster::NodeInfoPtr*, std::string>> built, bool basic);
  // Drops the entries of nodes no view holds.
  void SweepLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<const cluster::NodeInfo*, Entry> entries_ ABSL_GUARDED_BY(mu_);
  size_t sweep_at_ ABSL_GUARDED_BY(mu_) = 1024;
};

}  // namespace roster::server
