// ClusterManager, part 4: applying what the registry reports. One event at a time to the node
// tables (masters, workers, alert servers, the coordinator's lock, drains); and at the end of
// each full read, reconciliation: what the read found and the tables lack is added, what they
// hold and the read did not find is removed, each counted as a resync correction
// (docs/consistency.md). Which roots cannot be read (NOAUTH) is noted here too.
//
// Same class as cluster_manager.cc; everything here runs on the cluster executor.
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cluster/cluster_manager.h"
#include "cluster/internal/cluster_manager_state.h"
#include "glog/logging.h"

namespace roster::cluster {

using registry::EventType;
using registry::RegistryEvent;

void ClusterManager::ApplyEvent(Source source, RegistryEvent&& event, absl::Time now,
                                absl::Time wall_now, std::unique_ptr<DecodedHeartbeat> decoded) {
  State& s = *state_;
  s.executor.AssertCurrent();
  events_applied_.Increment();
  if (event.from_resync) resync_corrections_.Increment();
  if (event.type == EventType::kSynced) {
    NoteRootAccess(event, now);
    Reconcile(source, event, now, wall_now);
    s.freshness->SourceSynced(static_cast<int>(source),
                              !s.freshness->Unsettled(registry_->session()), now);
    return;
  }
  const size_t rejected_before = s.masters.table().rejected().size() +
                                 s.workers.table().rejected().size() + s.alerts.rejected().size();
  switch (source) {
    case Source::kMasters:
      s.masters.ApplyMaster(std::move(event), now, wall_now, std::move(decoded));
      break;
    case Source::kWorkers:
      s.workers.Apply(std::move(event), now, wall_now, std::move(decoded));
      break;
    case Source::kAlertServers:
      s.alerts.Apply(options_.paths.alert_servers, std::move(event), now, wall_now,
                     std::move(decoded));
      break;
    case Source::kCoordinator:
      s.masters.ApplyCoordinator(event);
      s.rejected_dirty = true;  // leader_problem() may have changed
      break;
    case Source::kDrains:
      ApplyDrain(event, now, wall_now);
      break;
  }
  const size_t rejected_after = s.masters.table().rejected().size() +
                                s.workers.table().rejected().size() + s.alerts.rejected().size();
  if (rejected_after != rejected_before) s.rejected_dirty = true;
}

void ClusterManager::NoteRootAccess(const RegistryEvent& synced, absl::Time now) {
  State& s = *state_;
  s.executor.AssertCurrent();
  const std::string before = s.freshness->access_problem();
  if (synced.read_error.ok()) {
    s.denied_roots.erase(synced.path);
  } else {
    s.denied_roots.insert(synced.path);
  }
  std::string problem;
  if (!s.denied_roots.empty()) {
    std::vector<std::string> paths;
    for (const std::string& path : s.denied_roots) paths.push_back(absl::StrCat("'", path, "'"));
    // The view lists nothing (or what it knew before) below these roots: not the cluster.
    problem = absl::StrCat(
        "rosterd may not list ", absl::StrJoin(paths, ", "),
        " (ZooKeeper NOAUTH: the ACL does not grant read to rosterd's credentials; "
        "DolphinScheduler with registry.zookeeper.digest set writes creator-only ACLs): set "
        "--zk_digest_file to that digest");
  }
  if (problem == before) return;
  if (problem.empty()) {
    LOG(INFO) << "every registry root can be listed again; the view can be trusted";
  } else {
    LOG(ERROR) << "the cluster view cannot be trusted: " << problem
               << "; refusing selection, slot and leader answers until this is fixed";
  }
  s.freshness->SetAccessProblem(std::move(problem), now);
}

void ClusterManager::Reconcile(Source source, const RegistryEvent& synced, absl::Time now,
                               absl::Time wall_now) {
  State& s = *state_;
  s.executor.AssertCurrent();
  if (synced.snapshot == nullptr) return;
  const std::vector<RegistryEvent>& snapshot = *synced.snapshot;
  int64_t corrections = 0;
  if (source == Source::kCoordinator) {
    const LeaderInfo before = s.masters.leader();
    const RegistryEvent* root = nullptr;
    for (const RegistryEvent& entry : snapshot) {
      if (entry.path == options_.paths.coordinator) root = &entry;
    }
    if (root != nullptr) {
      s.masters.ApplyCoordinator(*root);
    } else {
      RegistryEvent removed;
      removed.type = EventType::kRemoved;
      removed.path = options_.paths.coordinator;
      s.masters.ApplyCoordinator(removed);
    }
    if (!SameLeader(before, s.masters.leader())) ++corrections;
  } else if (source == Source::kDrains) {
    corrections += ReconcileDrains(snapshot, now, wall_now);
  } else {
    corrections += ReconcileTable(source, snapshot, now, wall_now);
  }
  if (corrections > 0) {
    LOG(WARNING) << "full read of '" << synced.path << "' corrected " << corrections
                 << " missed change(s)";
    resync_corrections_.Increment(corrections);
  }
}

int64_t ClusterManager::ReconcileTable(Source source, const std::vector<RegistryEvent>& snapshot,
                                       absl::Time now, absl::Time wall_now) {
  State& s = *state_;
  s.executor.AssertCurrent();
  const NodeRole role = source == Source::kMasters   ? NodeRole::kMaster
                        : source == Source::kWorkers ? NodeRole::kWorker
                                                     : NodeRole::kAlertServer;
  NodeTable& table = role == NodeRole::kMaster   ? s.masters.table()
                     : role == NodeRole::kWorker ? s.workers.table()
                                                 : s.alerts;
  const std::string& root = options_.paths.RootOf(role);
  int64_t corrections = 0;
  absl::flat_hash_set<std::string> present;
  for (const RegistryEvent& entry : snapshot) {
    present.insert(entry.path);
    std::optional<NodeTable::ZnodeVersion> held = table.FindZnode(entry.path);
    if (held.has_value() && held->czxid == entry.stat.czxid && held->mzxid == entry.stat.mzxid) {
      continue;
    }
    table.Apply(root, entry, now, wall_now);
    // Count it only if it changed what the table holds (not a group directory or a rejected
    // znode seen before).
    std::optional<NodeTable::ZnodeVersion> after = table.FindZnode(entry.path);
    if (after.has_value() &&
        (!held.has_value() || held->czxid != after->czxid || held->mzxid != after->mzxid)) {
      ++corrections;
    }
  }
  for (const std::string& path : table.ZnodePaths()) {
    if (present.contains(path)) continue;
    ++corrections;
    RegistryEvent removed;
    removed.type = EventType::kRemoved;
    removed.path = path;
    table.Apply(root, removed, now, wall_now);
  }
  if (role == NodeRole::kWorker) corrections += s.workers.ReconcileGroupDirectories(snapshot);
  return corrections;
}

}  // namespace roster::cluster
