// ClusterManager, part 3: what the cluster layer learns outside the registry's node znodes.
// Worker groups from group sources (the group file, DolphinScheduler's database), merged into
// the workers' membership; and the DolphinScheduler release to answer as, decided from the
// nodes' heartbeats and the registry layout, with the rules that follow from it (slot policy,
// the "default" group) (docs/dolphinscheduler.md).
//
// Same class as cluster_manager.cc; everything here except AddGroupSource() runs on the
// cluster executor.
#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cluster/cluster_manager.h"
#include "cluster/ds_profile.h"
#include "cluster/internal/cluster_manager_state.h"

namespace roster::cluster {

void ClusterManager::AddGroupSource(std::unique_ptr<GroupSource> source) {
  State& s = *state_;
  s.executor.AssertNotRunning();
  State::GroupSourceEntry entry;
  entry.source = std::move(source);
  s.group_sources.push_back(std::move(entry));
}

void ClusterManager::ApplyGroupSource(const InboxItem& item) {
  State& s = *state_;
  s.executor.AssertCurrent();
  State::GroupSourceEntry& entry = s.group_sources[item.group_source];
  // Reported once it delivered groups, or failed to read them (then there is nothing to wait
  // for); a status alone may precede the first snapshot.
  if (item.groups != nullptr ||
      (item.group_status.has_value() && item.group_status->failures > 0)) {
    entry.reported = true;
  }
  if (item.group_status.has_value()) {
    // The view builder publishes only a status that differs from the view's.
    s.group_sources_dirty = true;
    entry.status = *item.group_status;
  }
  if (item.groups != nullptr) {
    entry.snapshot = item.groups;
    UpdateMembership();
  }
}

void ClusterManager::UpdateMembership() {
  State& s = *state_;
  s.executor.AssertCurrent();
  auto membership = std::make_shared<GroupMembership>();
  std::set<std::string> defined;
  for (const State::GroupSourceEntry& entry : s.group_sources) {
    if (entry.snapshot == nullptr) continue;
    for (const auto& [group, addresses] : entry.snapshot->groups) {
      defined.insert(group);
      for (const std::string& address : addresses) membership->by_address[address].push_back(group);
    }
    // A "default" row replaces the implicit group of every worker where the release in use
    // says so (docs/dolphinscheduler.md, "Worker groups").
    if (entry.snapshot->defines_default && s.default_row_overrides) {
      membership->implicit_default = false;
    }
  }
  for (auto& [address, groups] : membership->by_address) {
    std::sort(groups.begin(), groups.end());
    groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
  }
  membership->defined.assign(defined.begin(), defined.end());
  s.workers.SetMembership(std::move(membership));
}

namespace {

// Whether a change can move the release detection: a node came or went, or its heartbeat
// format changed.
bool AffectsDetection(const std::vector<NodeChange>& changes) {
  for (const NodeChange& change : changes) {
    if (change.before == nullptr || change.after == nullptr ||
        change.before->has_heartbeat != change.after->has_heartbeat ||
        change.before->heartbeat.format() != change.after->heartbeat.format() ||
        (change.before->state == NodeState::kOffline) !=
            (change.after->state == NodeState::kOffline)) {
      return true;
    }
  }
  return false;
}

}  // namespace

void ClusterManager::DetectRelease(absl::Time now, absl::Time wall_now, ViewChanges* changes) {
  State& s = *state_;
  s.executor.AssertCurrent();
  s.detection_dirty = s.detection_dirty || AffectsDetection(changes->masters) ||
                      AffectsDetection(changes->workers) ||
                      AffectsDetection(changes->alert_servers);
  RegistryEvidence evidence;
  evidence.group_directories = s.workers.has_group_directories();
  evidence.alert_servers = s.alerts.size() > 0;
  evidence.coordinator = s.masters.leader().present;
  if (!s.detection_dirty && evidence == s.evidence) return;
  s.detection_dirty = false;
  s.evidence = evidence;
  // O(nodes), on a change of membership or of a heartbeat's format; a configured release
  // (--dolphinscheduler_version) needs no evidence.
  std::vector<NodeEvidence> nodes;
  if (options_.dolphinscheduler_version == DsVersion::kAuto) {
    for (const NodeTable* table : s.tables()) {
      for (const NodeInfoPtr& node : table->Snapshot()) {
        if (!node->has_heartbeat || node->state == NodeState::kOffline) continue;
        nodes.push_back({node->address, node->role, ReleasesWriting(node->role, node->heartbeat)});
      }
    }
  }
  DsDetection detection = DetectDsVersion(options_.dolphinscheduler_version, nodes, evidence);
  if (detection == s.detection) return;
  s.detection = detection;
  changes->dolphinscheduler = std::move(detection);
  const DsProfile& profile = ProfileOf(s.detection.version);
  const SlotPolicy policy = options_.slot_policy.value_or(profile.slot_policy);
  if (policy != s.slot_policy) {
    s.slot_policy = policy;
    changes->recompute_slots = true;
  }
  if (profile.default_row_overrides != s.default_row_overrides) {
    s.default_row_overrides = profile.default_row_overrides;
    UpdateMembership();
    s.workers.table().Derive(now, wall_now, &changes->workers);
    changes->defined_groups_changed = true;
    changes->defined_groups = s.workers.DefinedGroups();
  }
}

}  // namespace roster::cluster
