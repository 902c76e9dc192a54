#include "cluster/master_cluster.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cluster/node_address.h"
#include "glog/logging.h"
#include "util/fingerprint.h"

namespace roster::cluster {
namespace {

bool HoldsSlot(const NodeInfo& master) {
  if (master.drained) return false;
  switch (master.state) {
    case NodeState::kRunning:
    case NodeState::kOverload:
    case NodeState::kRecovering:
      return true;
    default:
      return false;
  }
}

}  // namespace

MasterCluster::MasterCluster(std::string masters_path, std::string coordinator_path,
                             const NodeTableOptions* options)
    : masters_path_(std::move(masters_path)),
      coordinator_path_(std::move(coordinator_path)),
      table_(options) {}

void MasterCluster::ApplyMaster(const registry::RegistryEvent& event, absl::Time now,
                                absl::Time wall_now) {
  table_.Apply(masters_path_, event, now, wall_now);
}

void MasterCluster::ApplyCoordinator(const registry::RegistryEvent& event) {
  if (event.type == registry::EventType::kSynced || event.path != coordinator_path_) return;
  const LeaderInfo before = leader_;
  leader_ = LeaderInfo{};
  leader_problem_.clear();
  if (event.type != registry::EventType::kRemoved) {
    if (!event.read_error.ok()) {
      leader_problem_ = absl::StrCat("cannot read the coordinator znode '", event.path,
                                     "': ", event.read_error.message());
    } else {
      absl::StatusOr<std::string> address =
          ParseNodeAddress(absl::StripAsciiWhitespace(event.data));
      if (address.ok()) {
        leader_ = LeaderInfo{true, *std::move(address), event.stat.czxid, event.stat.ctime_ms};
      } else {
        leader_problem_ = absl::StrCat("the coordinator znode '", event.path,
                                       "' does not hold host:port: ", address.status().message());
      }
    }
  }
  if (!leader_problem_.empty()) LOG(WARNING) << leader_problem_;
  if (leader_.address != before.address || leader_.fencing_token != before.fencing_token) {
    LOG(INFO) << "leader: " << (leader_.present ? "'" + leader_.address + "'" : "none")
              << " (fencing token " << leader_.fencing_token << ")";
  }
}

SlotAssignment MasterCluster::ComputeSlots(const std::vector<NodeInfoPtr>& masters) {
  SlotAssignment slots;
  Fingerprint fingerprint;
  for (const NodeInfoPtr& master : masters) {
    if (!HoldsSlot(*master)) continue;
    slots.masters.push_back(master->address);
    fingerprint.Add(master->address).Add(master->incarnation.czxid);
  }
  // Views keep masters sorted; sorting again costs nothing and makes the rule local.
  std::sort(slots.masters.begin(), slots.masters.end());
  slots.epoch = slots.masters.empty() ? 0 : fingerprint.value();
  return slots;
}

absl::StatusOr<SlotAnswer> MasterCluster::LookupSlot(const ClusterView& view,
                                                     absl::string_view address,
                                                     const std::optional<IncarnationClaim>& claim) {
  NodeInfoPtr master = view.Find(NodeRole::kMaster, address);
  if (master == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("master '", address, "' is not registered"));
  }
  if (claim.has_value() && master->has_heartbeat) {
    const Incarnation& held = master->incarnation;
    const std::pair<int64_t, int32_t> claimed(claim->startup_time_ms, claim->process_id);
    const std::pair<int64_t, int32_t> registered(held.startup_time_ms, held.process_id);
    if (claimed < registered) {
      return absl::FailedPreconditionError(
          absl::StrCat("master '", address, "' asked as a stale incarnation (startupTime ",
                       claim->startup_time_ms, ", processId ", claim->process_id,
                       "); the registry holds startupTime ", held.startup_time_ms, ", processId ",
                       held.process_id));
    }
    if (registered < claimed) {
      return absl::UnavailableError(
          absl::StrCat("master '", address, "': this incarnation (startupTime ",
                       claim->startup_time_ms, ") has not reached roster's view yet; retry"));
    }
  }
  const int slot = view.slots.SlotOf(address);
  if (slot < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "master '", address, "' holds no slot: it is ", NodeStateName(master->state),
        master->drained ? " (drained)" : "", master->reason.empty() ? "" : ": ", master->reason));
  }
  return SlotAnswer{slot, static_cast<int>(view.slots.masters.size()), view.slots.epoch,
                    std::move(master)};
}

}  // namespace roster::cluster
