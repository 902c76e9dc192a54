// MasterCluster: the scheduler masters, their slots and the leader.
//
// Slots: which masters hold a slot and in which order follows a SlotPolicy. `stable` is
// roster's own rule: the live masters (RUNNING, OVERLOAD or RECOVERING; not drained) sorted
// by address, so every replica and every master agrees (DolphinScheduler #17232) and an
// overloaded master keeps its slot (#18570). The DolphinScheduler policies reproduce what a
// master of that release computes for itself from the same registry, so masters asking roster
// and masters computing on their own agree (docs/dolphinscheduler.md):
//
//   dolphinscheduler-3.1    3.0.x-3.1.x  every master          queue order (heap array)
//   dolphinscheduler-3.2.0  3.2.0        status != ABNORMAL    queue order (heap array)
//   dolphinscheduler-3.2.1  3.2.1        status != BUSY        queue order (heap array)
//   dolphinscheduler-3.2.2  3.2.2        status != BUSY        startupTime descending
//   dolphinscheduler-3.3    3.3 (dev)    status == NORMAL      by address
//
// "Queue order" is the iteration order of MasterPriorityQueue's PriorityBlockingQueue
// (MasterPriorityQueue.java @ 3.1.9-release, 3.2.0-release, 3.2.1-release), which is its
// heap array, not a sorted order: masters enter it in java.util.HashMap order of their
// "host:port" (RegistryClient#getServerMaps), each sifted up by startupTime descending.
// 3.2.2 sorts the heap array stably (getOrderedElements), so equal startupTimes keep their
// heap order. roster simulates exactly this, so ties are broken as DolphinScheduler breaks
// them: deterministically, from the addresses.
//
// Which masters a DolphinScheduler master sees: every znode under the masters directory whose
// payload it can parse. Under those policies a master enters when its znode exists and roster
// holds a valid heartbeat of it (its last one: a master silent or FAULT keeps its slot, since
// DolphinScheduler never notices silence), with that heartbeat's startupTime and status.
// Drains are roster's alone and DolphinScheduler masters cannot see them, so a drained master
// keeps its DolphinScheduler slot. A master that has not reported yet (REGISTERING) and an
// OFFLINE tombstone (no znode) hold none. A heartbeat without a status (SERVER_STATUS_
// UNSPECIFIED) passes the 3.1 rule only. Where DolphinScheduler itself breaks (a payload it
// cannot parse: 3.1 masters then all drop to total 0, 3.2 masters keep their previous slots)
// no answer can agree with it; roster keeps answering from the last valid heartbeat. Two
// more differences are DolphinScheduler's own: 3.0.x-3.1.x count every master znode in the
// total, payload or not (ServerNodeManager#syncMasterNodes: totalSlot = nodes.size()), so
// while a master has written nothing the last slots belong to nobody, where roster's total is
// the number of holders; and a 3.2.x master keeps its HashMap's table across refreshes
// (clear() does not shrink it), so after the directory once held more than 12 masters its
// order can differ from the fresh map roster simulates. 2.0.x is not modelled: its
// comparator never orders (`before ? 1 : 0`) and it indexes masters by host without port.
//
// The assignment's epoch is a stable fingerprint of its members and their znodes' czxids in
// slot order, so two replicas reading the same ZooKeeper state report the same epoch.
//
// The leader (CoordinatorMode kZnode, DolphinScheduler 3.3) is whoever holds the coordinator
// znode; its fencing token is that znode's czxid, valid only while the znode belongs to the
// session of the master registered at its address. DolphinScheduler up to 3.2.2 writes no
// coordinator znode (kNone).
//
// Thread-safety: the live part (Apply*) is confined to the cluster executor; the static
// lookups read immutable views and are thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cluster/cluster_view.h"
#include "cluster/node_table.h"
#include "registry/registry.h"

namespace roster::cluster {

// What a master may say about itself when asking for its slot, so an older incarnation of it
// (a process that was replaced) is refused rather than handed the new one's slot.
struct IncarnationClaim {
  int64_t startup_time_ms = 0;
  int32_t process_id = 0;
};

// Who holds slots and in which order; see the file comment.
enum class SlotPolicy {
  kStable,      // "stable"
  kDolphin31,   // "dolphinscheduler-3.1": 3.0.x to 3.1.x
  kDolphin320,  // "dolphinscheduler-3.2.0"
  kDolphin321,  // "dolphinscheduler-3.2.1"
  kDolphin322,  // "dolphinscheduler-3.2.2"
  kDolphin33,   // "dolphinscheduler-3.3"
};

// The flag name of `policy`.
absl::string_view SlotPolicyName(SlotPolicy policy);
// The policy named `name`; InvalidArgument naming the value and the valid names otherwise.
absl::StatusOr<SlotPolicy> ParseSlotPolicy(absl::string_view name);

// Where the leader comes from.
enum class CoordinatorMode {
  kNone,   // "none": DolphinScheduler <= 3.2.2 has no coordinator znode
  kZnode,  // "znode": DolphinScheduler 3.3's ephemeral coordinator znode
};

absl::string_view CoordinatorModeName(CoordinatorMode mode);
absl::StatusOr<CoordinatorMode> ParseCoordinatorMode(absl::string_view name);

// What LookupLeader() answers (ClusterManager::LeaderAnswer has the same two fields).
struct LeaderLookup {
  LeaderInfo leader;   // with `valid` and `problem` set by MasterCluster::CheckLeader()
  NodeInfoPtr master;  // the master registered at leader.address, or null
};

struct SlotAnswer {
  int slot = -1;
  int total = 0;
  uint64_t epoch = 0;
  NodeInfoPtr master;
};

class MasterCluster {
 public:
  // `options` (role kMaster) must outlive the cluster.
  MasterCluster(std::string masters_path, std::string coordinator_path,
                const NodeTableOptions* options);

  // An event of the masters subscription; `decoded`: see NodeTable::Apply().
  void ApplyMaster(registry::RegistryEvent&& event, absl::Time now, absl::Time wall_now,
                   std::unique_ptr<DecodedHeartbeat> decoded = nullptr);
  void ApplyMaster(const registry::RegistryEvent& event, absl::Time now, absl::Time wall_now,
                   std::unique_ptr<DecodedHeartbeat> decoded = nullptr) {
    ApplyMaster(registry::RegistryEvent(event), now, wall_now, std::move(decoded));
  }
  // An event of the coordinator subscription (the coordinator znode itself).
  void ApplyCoordinator(const registry::RegistryEvent& event);

  NodeTable& table() { return table_; }
  const NodeTable& table() const { return table_; }
  const LeaderInfo& leader() const { return leader_; }
  // Why the coordinator znode could not be used, or "" (also in leader().problem).
  const std::string& leader_problem() const { return leader_problem_; }

  // The assignment over `masters` (sorted by address, as in a view) under `policy`.
  static SlotAssignment ComputeSlots(const NodeList& masters, SlotPolicy policy);
  // Under SlotPolicy::kStable.
  static SlotAssignment ComputeSlots(const NodeList& masters);

  // The slot of `address` in `view`. FailedPrecondition when the master is not registered,
  // holds no slot (its state and reason are quoted), or `claim` names an older incarnation
  // than the registry holds; Unavailable when `claim` is newer than the view has seen yet.
  static absl::StatusOr<SlotAnswer> LookupSlot(const ClusterView& view, absl::string_view address,
                                               const std::optional<IncarnationClaim>& claim);

  // `leader` cross-checked against `masters` (sorted by address, as in a view): valid when the
  // coordinator znode is ephemeral and owned by the session of the master registered at its
  // address. A master restarted at the same address while the znode still belongs to its
  // predecessor's session (DolphinScheduler #18644), a master that is gone, or a persistent
  // znode make it not valid, with the reason in `problem`.
  static LeaderInfo CheckLeader(LeaderInfo leader, const NodeList& masters);
  // The same, given the master registered at leader.address (null if none is): what the cluster
  // manager checks after every batch, without a list of the masters.
  static LeaderInfo CheckLeader(LeaderInfo leader, const NodeInfo* master);

  // The leader in `view`, checked. `coordinator_path` is named in errors. FailedPrecondition
  // under CoordinatorMode::kNone ("DolphinScheduler up to 3.2.2 has no coordinator ...") and when
  // the coordinator znode holds no usable address; NotFound when no znode is held.
  static absl::StatusOr<LeaderLookup> LookupLeader(const ClusterView& view, CoordinatorMode mode,
                                                   absl::string_view coordinator_path);

 private:
  const std::string masters_path_;
  const std::string coordinator_path_;
  NodeTable table_;
  LeaderInfo leader_;
  std::string leader_problem_;
};

}  // namespace roster::cluster
