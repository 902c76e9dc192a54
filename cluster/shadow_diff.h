// Shadow mode's comparison: what differs between the view read from the primary registry and
// the view read from the shadow registry (a migration target, e.g. ZooKeeper -> etcd or JDBC).
//
// Compared per role (masters, workers, alert servers), by address:
//  - a node live in one view only (OFFLINE tombstones count as absent: their retention is
//    timing, not content);
//  - the same node with a different state;
//  - the same node with a different last heartbeat, time fields ignored (reportTime changes at
//    every beat; startupTime is compared: it tells a restarted process).
//
// Thread-safety: pure functions on immutable views.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "cluster/cluster_view.h"

namespace roster::cluster {

struct ShadowDivergence {
  enum class Kind { kOnlyInPrimary, kOnlyInShadow, kState, kHeartbeat };
  Kind kind = Kind::kOnlyInPrimary;
  NodeRole role = NodeRole::kWorker;
  std::string address;
  // What differs, for people: "RUNNING in primary, FAULT in shadow",
  // "cpu_usage: 0.2 in primary, 0.4 in shadow".
  std::string detail;

  // Identity of a divergence across comparisons (detail excluded: a heartbeat that keeps
  // differing is one divergence).
  std::string Key() const;
};

// "only_in_primary", "only_in_shadow", "state", "heartbeat" (metric label values).
absl::string_view ShadowDivergenceKindName(ShadowDivergence::Kind kind);

// Every divergence, sorted by role, address and kind. A node only in one view yields one
// divergence; a node in both may yield a state and a heartbeat divergence.
std::vector<ShadowDivergence> CompareViews(const ClusterView& primary, const ClusterView& shadow);

}  // namespace roster::cluster
