// ClusterView: one immutable, versioned snapshot of the whole cluster.
//
// ClusterManager publishes a new view after every batch of changes; readers take the current
// one (`std::shared_ptr<const ClusterView>`) and never lock live state. Nodes, and the chunks
// of the node lists no change touched, are shared between consecutive views, so publishing
// costs what changed, not the cluster's size.
//
// Thread-safety: immutable after construction.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cluster/ds_version.h"
#include "cluster/group_source.h"
#include "cluster/node_info.h"
#include "cluster/node_list.h"

namespace roster::cluster {

// Slot assignment over the masters that hold a slot, under one SlotPolicy (master_cluster.h):
// slot = index in `masters`, total = size.
struct SlotAssignment {
  // In slot order: by address under the `stable` policy, DolphinScheduler's queue order under
  // the DolphinScheduler policies.
  std::vector<std::string> masters;
  // Identifies the assignment: equal on every replica reading the same ZooKeeper state, and
  // different whenever the assignment differs. A 64-bit fingerprint of the members' addresses
  // and incarnations (czxid), in slot order; compare epochs for equality, never for order.
  uint64_t epoch = 0;

  // The slot of `address`, or -1 when it holds none.
  int SlotOf(absl::string_view address) const;
};

// The holder of the coordinator znode.
struct LeaderInfo {
  bool present = false;
  std::string address;        // the address in the znode's payload, "host:port"
  int64_t fencing_token = 0;  // the znode's czxid: only grows across leaders
  int64_t since_ms = 0;       // the znode's ctime (ZooKeeper's clock), epoch ms
  // The coordinator znode's owner session (stat.ephemeral_owner; 0 for a persistent znode).
  int64_t holder_session = 0;
  // The payload's "#millis" suffix ("host:port#millis", DolphinScheduler proposal #18645),
  // or 0 when it has none.
  int64_t claimed_at_ms = 0;
  // Set by MasterCluster::CheckLeader(): true when the znode belongs to the session of the
  // master registered at `address`. A leader that is not valid is reported, but its fencing
  // token must not be used.
  bool valid = false;
  // Why the leader is not valid, or why the coordinator znode could not be used; "" if fine.
  std::string problem;
};

// The workers of one group.
struct GroupView {
  std::string name;
  // Every member (any state, including OFFLINE tombstones), sorted by address.
  NodeList members;
  int selectable = 0;  // members in RUNNING and not drained
  std::map<NodeState, int> count_by_state;
};

// A znode the cluster layer could not use as a node, with the reason ("name 'foo' is not
// host:port"), shown to operators instead of being silently dropped.
struct RejectedZnode {
  std::string path;
  std::string reason;
};

// A source of worker groups outside the registry (DolphinScheduler's database, the group
// file), and how fresh its groups are.
struct GroupSourceView {
  std::string source;  // GroupSource::Describe(): never a password
  GroupSourceStatus status;

  friend bool operator==(const GroupSourceView& a, const GroupSourceView& b) {
    return a.source == b.source && a.status.SameStateAs(b.status);
  }
};

// Self-preservation (cluster/self_preservation.h): rosterd holds nodes it suspects its own view
// lost, and why. While active, answers are stale and slot and leader answers refused.
struct SelfPreservationStatus {
  bool active = false;
  int held = 0;        // nodes shown in their last good state
  std::string reason;  // "holding 4 worker(s): 4 of 4 workers of group 'etl' went ..."
  absl::Time since = absl::InfiniteFuture();       // monotonic, start of the episode
  absl::Time since_wall = absl::InfiniteFuture();  // the same, for people

  friend bool operator==(const SelfPreservationStatus& a, const SelfPreservationStatus& b) {
    return a.active == b.active && a.held == b.held && a.reason == b.reason && a.since == b.since;
  }
  friend bool operator!=(const SelfPreservationStatus& a, const SelfPreservationStatus& b) {
    return !(a == b);
  }
};

class ClusterView {
 public:
  ClusterView() = default;

  // Strictly increasing within one ClusterManager; the version of the last change applied.
  uint64_t version = 0;
  // True once the first full read of the registry completed: before that the view is empty
  // because nothing was read yet, not because the cluster is empty.
  bool synced = false;

  // Sorted by address; OFFLINE tombstones included until their retention ends. Consecutive
  // views share the parts of these lists no change touched (cluster/node_list.h).
  NodeList masters;
  NodeList workers;
  NodeList alert_servers;
  // By group name; "default" holds every worker.
  std::map<std::string, GroupView, std::less<>> groups;
  SlotAssignment slots;
  LeaderInfo leader;
  std::vector<RejectedZnode> rejected;
  // The DolphinScheduler release this view answers as, and why.
  DsDetection dolphinscheduler;
  std::vector<GroupSourceView> group_sources;
  SelfPreservationStatus self_preservation;

  // The node with `address` in `role`, or null.
  NodeInfoPtr Find(NodeRole role, absl::string_view address) const;
  // The node with `address` in any role (masters first), or null.
  NodeInfoPtr FindAny(absl::string_view address) const;
  // The group, or null.
  const GroupView* FindGroup(absl::string_view name) const;
};

using ClusterViewPtr = std::shared_ptr<const ClusterView>;

}  // namespace roster::cluster
