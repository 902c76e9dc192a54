#include "cluster/ds_profile.h"

#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace roster::cluster {
namespace {

// One row per release whose behaviour differs: what that release's source says (the `source`
// column names the files; paths under dolphinscheduler-master/.../server/master/ and
// dolphinscheduler-common/.../common/; docs/dolphinscheduler.md has the details).
//
// Slots: 2.0.x is not modelled exactly (its comparator never reorders and it indexes masters by
// host without the port); it gets 3.0 - 3.1's rule, the closest.
constexpr std::array<DsProfile, kDsVersionCount - 1> kProfiles = {{
    {DsVersion::k2_0, "2.0", "2.0.0 - 2.0.9", HeartbeatDialect::kText20, GroupOrigin::kRegistryPath,
     false, SlotPolicy::kDolphin31, StrategySemantics::kDolphinScheduler31, absl::Seconds(1), false,
     SelectionStrategy::kLowerWeight, CoordinatorMode::kNone, false,
     "utils/HeartBeat.java, registry/ServerNodeManager.java, dispatch/host/assign/*.java, "
     "dispatch/host/LowerWeightHostManager.java @ 2.0.9-release"},
    {DsVersion::k3_0, "3.0", "3.0.0 - 3.0.6", HeartbeatDialect::kText30, GroupOrigin::kRegistryPath,
     false, SlotPolicy::kDolphin31, StrategySemantics::kDolphinScheduler31, absl::Seconds(10), true,
     SelectionStrategy::kLowerWeight, CoordinatorMode::kNone, false,
     "utils/HeartBeat.java, registry/ServerNodeManager.java, queue/MasterPriorityQueue.java, "
     "dispatch/host/assign/*.java @ 3.0.6-release"},
    {DsVersion::k3_1_0, "3.1.0", "3.1.0", HeartbeatDialect::kJson31, GroupOrigin::kRegistryPath,
     false, SlotPolicy::kDolphin31, StrategySemantics::kDolphinScheduler31, absl::Seconds(10),
     false, SelectionStrategy::kLowerWeight, CoordinatorMode::kNone, false,
     "model/{Master,Worker}HeartBeat.java, registry/ServerNodeManager.java @ 3.1.0-release"},
    {DsVersion::k3_1, "3.1", "3.1.1 - 3.1.9", HeartbeatDialect::kJson31, GroupOrigin::kDatabase,
     true, SlotPolicy::kDolphin31, StrategySemantics::kDolphinScheduler31, absl::Seconds(10), false,
     SelectionStrategy::kLowerWeight, CoordinatorMode::kNone, false,
     "model/{Master,Worker}HeartBeat.java, registry/ServerNodeManager.java @ 3.1.9-release"},
    {DsVersion::k3_2_0, "3.2.0", "3.2.0", HeartbeatDialect::kJson320, GroupOrigin::kDatabase, true,
     SlotPolicy::kDolphin320, StrategySemantics::kDolphinScheduler31, absl::Seconds(10), false,
     SelectionStrategy::kLowerWeight, CoordinatorMode::kNone, true,
     "model/*HeartBeat.java, registry/{MasterSlotManager,ServerNodeManager}.java @ 3.2.0-release"},
    {DsVersion::k3_2_1, "3.2.1", "3.2.1", HeartbeatDialect::kJson321, GroupOrigin::kDatabase, true,
     SlotPolicy::kDolphin321, StrategySemantics::kDolphinScheduler32, absl::Seconds(10), false,
     SelectionStrategy::kLowerWeight, CoordinatorMode::kNone, true,
     "model/WorkerHeartBeat.java, task/WorkerHeartBeatTask.java, "
     "registry/{MasterSlotManager,ServerNodeManager}.java @ 3.2.1-release"},
    {DsVersion::k3_2_2, "3.2.2", "3.2.2", HeartbeatDialect::kJson322, GroupOrigin::kDatabase, true,
     SlotPolicy::kDolphin322, StrategySemantics::kDolphinScheduler32, absl::Seconds(10), false,
     SelectionStrategy::kLowerWeight, CoordinatorMode::kNone, true,
     "model/BaseHeartBeat.java, queue/MasterPriorityQueue.java (getOrderedElements), "
     "registry/{MasterSlotManager,ServerNodeManager}.java @ 3.2.2-release"},
    {DsVersion::k3_3, "3.3", "3.3 (dev)", HeartbeatDialect::kJson33, GroupOrigin::kDatabase, false,
     SlotPolicy::kDolphin33, StrategySemantics::kDolphinScheduler33, absl::Seconds(10), false,
     SelectionStrategy::kDynamicWeightedRoundRobin, CoordinatorMode::kZnode, true,
     "model/BaseHeartBeat.java, cluster/{MasterSlotManager,WorkerClusters,"
     "WorkerGroupChangeNotifier}.java, cluster/loadbalancer/*.java, application.yaml @ dev"},
}};

// Newest first: the release `set` most likely is.
DsVersion Newest(DsVersionSet set) {
  for (int v = kDsVersionCount - 1; v > 0; --v) {
    if (set & (1u << v)) return static_cast<DsVersion>(v);
  }
  return DsVersion::kAuto;
}

DsVersion Oldest(DsVersionSet set) {
  for (int v = 1; v < kDsVersionCount; ++v) {
    if (set & (1u << v)) return static_cast<DsVersion>(v);
  }
  return DsVersion::kAuto;
}

DsVersionSet Between(DsVersion first, DsVersion last) {
  DsVersionSet set = 0;
  for (int v = static_cast<int>(first); v <= static_cast<int>(last); ++v) set |= 1u << v;
  return set;
}

}  // namespace

DsVersionSet ReleasesWriting(NodeRole, const roster::v1::Heartbeat& heartbeat) {
  using Format = roster::v1::Heartbeat;
  switch (heartbeat.format()) {
    case Format::TEXT_2_0:
      return DsBit(DsVersion::k2_0);
    case Format::TEXT_3_0:
      return DsBit(DsVersion::k3_0);
    case Format::JSON_3_1:
      return DsBit(DsVersion::k3_1_0) | DsBit(DsVersion::k3_1);
    case Format::JSON_3_2_0:
      return DsBit(DsVersion::k3_2_0);
    case Format::JSON_3_2_1:
      return DsBit(DsVersion::k3_2_1);
    case Format::JSON_3_2_2:
      return DsBit(DsVersion::k3_2_2);
    case Format::JSON_3_2_2_OR_3_3:
      return DsBit(DsVersion::k3_2_2) | DsBit(DsVersion::k3_3);
    case Format::JSON_3_3:
      return DsBit(DsVersion::k3_3);
    default:  // not parsed from a payload, or no mark of any release
      return kAnyDsVersion;
  }
}

const DsProfile& ProfileOf(DsVersion version) {
  if (version == DsVersion::kAuto) return kProfiles.back();
  return kProfiles[static_cast<int>(version) - 1];
}

absl::Span<const DsProfile> AllProfiles() { return kProfiles; }

DsDetection DetectDsVersion(DsVersion configured, const std::vector<NodeEvidence>& nodes,
                            const RegistryEvidence& registry) {
  DsDetection d;
  if (configured != DsVersion::kAuto) {
    d.version = configured;
    d.reason = absl::StrCat("--dolphinscheduler_version=", DsVersionName(configured));
    return d;
  }
  d.detected = true;
  std::vector<std::string> evidence;
  DsVersionSet layout = kAnyDsVersion;
  if (registry.group_directories) {
    layout &= Between(DsVersion::k2_0, DsVersion::k3_1_0);
    evidence.push_back("worker group directories (<= 3.1.0)");
  }
  if (registry.alert_servers) {
    layout &= Between(DsVersion::k3_2_0, DsVersion::k3_3);
    evidence.push_back("alert servers registered (>= 3.2.0)");
  }
  if (registry.coordinator) {
    layout &= DsBit(DsVersion::k3_3);
    evidence.push_back("a coordinator znode (3.3)");
  }
  DsVersionSet all = layout;
  DsVersionSet masters = layout;
  bool any_master = false;
  for (const NodeEvidence& node : nodes) {
    all &= node.releases;
    if (node.role == NodeRole::kMaster) {
      masters &= node.releases;
      any_master = true;
    }
  }
  // Not how many: a node of the same release joining or leaving changes nothing about the release,
  // and a changed reason would be a PROFILE_CHANGED event for every watcher.
  if (!nodes.empty()) evidence.push_back("the nodes' heartbeats");
  if (all != 0) {
    d.version = Newest(all);
    d.reason = evidence.empty() ? "no evidence in the registry yet: assumed the newest release"
                                : absl::StrCat("fits ", DsVersionSetName(all), ": ",
                                               absl::StrJoin(evidence, ", "));
    return d;
  }
  d.mixed = true;
  for (const NodeEvidence& node : nodes) {
    d.per_node.emplace_back(node.address, DsVersionSetName(node.releases));
  }
  if (masters != 0 && any_master) {
    d.version = Newest(masters);
    d.reason = absl::StrCat("mixed releases (a rolling upgrade?): the masters fit ",
                            DsVersionSetName(masters), ", the workers do not all");
    return d;
  }
  DsVersionSet oldest = 0;
  for (const NodeEvidence& node : nodes) {
    if (node.role == NodeRole::kMaster || !any_master) oldest |= node.releases & layout;
  }
  if (oldest == 0) oldest = layout != 0 ? layout : kAnyDsVersion;
  d.version = Oldest(oldest);
  d.reason = "mixed releases (a rolling upgrade?): the masters disagree; answering as the oldest";
  return d;
}

}  // namespace roster::cluster
