// MasterCluster: the scheduler masters, their slots and the leader.
//
// Slots (DESIGN.md): the live masters (RUNNING, OVERLOAD or RECOVERING; not drained) sorted by
// address; slot = index, total = count. Sorting makes every replica and every master agree
// (DolphinScheduler #17232); an overloaded master keeps its slot (#18570). The assignment's
// epoch is a stable fingerprint of its members and their znodes' czxids, so two replicas
// reading the same ZooKeeper state report the same epoch.
//
// The leader is whoever holds the coordinator znode; its fencing token is that znode's czxid.
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

  // An event of the masters subscription.
  void ApplyMaster(const registry::RegistryEvent& event, absl::Time now, absl::Time wall_now);
  // An event of the coordinator subscription (the coordinator znode itself).
  void ApplyCoordinator(const registry::RegistryEvent& event);

  NodeTable& table() { return table_; }
  const NodeTable& table() const { return table_; }
  const LeaderInfo& leader() const { return leader_; }
  // Why the coordinator znode could not be used, or "".
  const std::string& leader_problem() const { return leader_problem_; }

  // The assignment over `masters` (sorted by address, as in a view).
  static SlotAssignment ComputeSlots(const std::vector<NodeInfoPtr>& masters);

  // The slot of `address` in `view`. FailedPrecondition when the master is not registered,
  // holds no slot (its state and reason are quoted), or `claim` names an older incarnation
  // than the registry holds; Unavailable when `claim` is newer than the view has seen yet.
  static absl::StatusOr<SlotAnswer> LookupSlot(const ClusterView& view, absl::string_view address,
                                               const std::optional<IncarnationClaim>& claim);

 private:
  const std::string masters_path_;
  const std::string coordinator_path_;
  NodeTable table_;
  LeaderInfo leader_;
  std::string leader_problem_;
};

}  // namespace roster::cluster
