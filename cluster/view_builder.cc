#include "cluster/view_builder.h"

#include <algorithm>
#include <utility>

#include "cluster/worker_cluster.h"
#include "glog/logging.h"

namespace roster::cluster {
namespace {

bool SameSlots(const SlotAssignment& a, const SlotAssignment& b) {
  return a.epoch == b.epoch && a.masters == b.masters;
}

bool SameRejected(const std::vector<RejectedZnode>& a, const std::vector<RejectedZnode>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const RejectedZnode& x, const RejectedZnode& y) {
                      return x.path == y.path && x.reason == y.reason;
                    });
}

// Whether an update changes what a node is (state, drain, membership) rather than only its
// load figures: watchers may ask for the former only.
bool StateChanged(const NodeInfo& before, const NodeInfo& after) {
  return before.state != after.state || before.drained != after.drained ||
         before.groups != after.groups || before.incarnation != after.incarnation ||
         before.paths != after.paths;
}

void RecordNodeChanges(const std::vector<NodeChange>& changes, ChangeBatch* batch,
                       std::vector<NodeChange>* transitions) {
  for (const NodeChange& change : changes) {
    ClusterChange c;
    if (change.before == nullptr) {
      c.kind = ClusterChange::Kind::kNodeAdded;
      c.node = change.after;
      c.state_changed = true;
    } else if (change.after == nullptr) {
      c.kind = ClusterChange::Kind::kNodeRemoved;
      c.node = change.before;
      c.state_changed = true;
    } else {
      c.kind = ClusterChange::Kind::kNodeUpdated;
      c.node = change.after;
      c.state_changed = StateChanged(*change.before, *change.after);
      if (change.before->state != change.after->state) transitions->push_back(change);
    }
    batch->push_back(std::move(c));
  }
}

bool SameGroupNames(const WorkerCluster::GroupMap& a, const WorkerCluster::GroupMap& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const auto& x, const auto& y) { return x.first == y.first; });
}

}  // namespace

bool SameLeader(const LeaderInfo& a, const LeaderInfo& b) {
  return a.present == b.present && a.address == b.address && a.fencing_token == b.fencing_token &&
         a.holder_session == b.holder_session && a.claimed_at_ms == b.claimed_at_ms &&
         a.valid == b.valid && a.problem == b.problem;
}

bool ViewChanges::AnyChange(const ClusterView& previous) const {
  return !masters.empty() || !workers.empty() || !alert_servers.empty() || defined_groups_changed ||
         rejected.has_value() || group_sources.has_value() || dolphinscheduler.has_value() ||
         recompute_slots || self_preservation.has_value() || !SameLeader(previous.leader, leader) ||
         (first_sync_done && !previous.synced);
}

bool ViewChanges::LoadOnly(const ClusterView& previous) const {
  if (defined_groups_changed || rejected.has_value() || group_sources.has_value() ||
      dolphinscheduler.has_value() || recompute_slots || self_preservation.has_value() ||
      !SameLeader(previous.leader, leader) || (first_sync_done && !previous.synced)) {
    return false;
  }
  for (const std::vector<NodeChange>* role : {&masters, &workers, &alert_servers}) {
    for (const NodeChange& change : *role) {
      if (change.before == nullptr || change.after == nullptr ||
          StateChanged(*change.before, *change.after)) {
        return false;
      }
    }
  }
  return true;
}

void ViewChanges::PrependNodeChanges(ViewChanges older) {
  auto prepend = [](std::vector<NodeChange>* to, std::vector<NodeChange> from) {
    if (from.empty()) return;
    from.insert(from.end(), std::make_move_iterator(to->begin()),
                std::make_move_iterator(to->end()));
    *to = std::move(from);
  };
  prepend(&masters, std::move(older.masters));
  prepend(&workers, std::move(older.workers));
  prepend(&alert_servers, std::move(older.alert_servers));
}

void LogTransitions(const std::vector<NodeChange>& transitions) {
  for (const NodeChange& change : transitions) {
    LOG(INFO) << NodeRoleName(change.after->role) << " '" << change.after->address << "' "
              << NodeStateName(change.before->state) << " -> " << NodeStateName(change.after->state)
              << ": " << change.after->reason;
  }
}

BuiltView BuildNextView(const ClusterView& previous, ViewChanges changes,
                        const SlotFunction& compute_slots) {
  BuiltView built;
  auto next = std::make_shared<ClusterView>();
  ChangeBatch& batch = built.batch;
  batch.reserve(changes.masters.size() + changes.workers.size() + changes.alert_servers.size() + 4);
  next->version = previous.version;
  next->synced = previous.synced;

  RecordNodeChanges(changes.masters, &batch, &built.transitions);
  RecordNodeChanges(changes.workers, &batch, &built.transitions);
  RecordNodeChanges(changes.alert_servers, &batch, &built.transitions);

  next->masters = previous.masters.Apply(changes.masters);
  next->slots = changes.masters.empty() && !changes.recompute_slots ? previous.slots
                                                                    : compute_slots(next->masters);
  next->workers = previous.workers.Apply(changes.workers);
  next->alert_servers = previous.alert_servers.Apply(changes.alert_servers);

  if (changes.defined_groups_changed || !changes.workers.empty()) {
    // Updated in O(changes), or rebuilt in O(workers) when a group was defined or dropped, or
    // when the batch touches so many workers that walking them all is cheaper (a full re-read,
    // a burst applied at once).
    std::optional<WorkerCluster::GroupMap> updated;
    if (!changes.defined_groups_changed && changes.workers.size() < next->workers.size() / 4) {
      updated = WorkerCluster::UpdateGroups(previous.groups, previous.workers, changes.workers,
                                            next->workers, changes.defined_groups);
    }
    next->groups = updated.has_value()
                       ? *std::move(updated)
                       : WorkerCluster::BuildGroups(next->workers, changes.defined_groups);
    // A group defined with no live member, or dropped with none, moves no node: without this
    // event the new view would have nothing in its batch, and would not be published.
    if (!SameGroupNames(previous.groups, next->groups)) {
      ClusterChange c;
      c.kind = ClusterChange::Kind::kGroupsChanged;
      batch.push_back(std::move(c));
    }
  } else {
    next->groups = previous.groups;
  }

  if (!SameSlots(previous.slots, next->slots)) {
    ClusterChange c;
    c.kind = ClusterChange::Kind::kSlotsChanged;
    c.slots = std::make_shared<const SlotAssignment>(next->slots);
    batch.push_back(std::move(c));
    LOG(INFO) << "slots: " << next->slots.masters.size() << " master(s), epoch "
              << next->slots.epoch;
  }
  next->leader = changes.leader;
  if (!SameLeader(previous.leader, next->leader)) {
    ClusterChange c;
    c.kind = ClusterChange::Kind::kLeaderChanged;
    c.leader = std::make_shared<const LeaderInfo>(next->leader);
    batch.push_back(std::move(c));
  }
  if (changes.rejected.has_value()) {
    next->rejected = *std::move(changes.rejected);
    if (!SameRejected(previous.rejected, next->rejected)) {
      ClusterChange c;
      c.kind = ClusterChange::Kind::kRejectedChanged;
      batch.push_back(std::move(c));
    }
  } else {
    next->rejected = previous.rejected;
  }
  next->group_sources = previous.group_sources;
  if (changes.group_sources.has_value() && *changes.group_sources != previous.group_sources) {
    next->group_sources = *std::move(changes.group_sources);
    ClusterChange c;
    c.kind = ClusterChange::Kind::kGroupSourcesChanged;
    batch.push_back(std::move(c));
  }
  next->dolphinscheduler = previous.dolphinscheduler;
  if (changes.dolphinscheduler.has_value() &&
      *changes.dolphinscheduler != previous.dolphinscheduler) {
    next->dolphinscheduler = *std::move(changes.dolphinscheduler);
    ClusterChange c;
    c.kind = ClusterChange::Kind::kProfileChanged;
    batch.push_back(std::move(c));
    LOG(INFO) << "answering as DolphinScheduler " << DsVersionName(next->dolphinscheduler.version)
              << ": " << next->dolphinscheduler.reason;
  }
  next->self_preservation = changes.self_preservation.has_value()
                                ? *std::move(changes.self_preservation)
                                : previous.self_preservation;
  if (!previous.synced && changes.first_sync_done) {
    next->synced = true;
    ClusterChange c;
    c.kind = ClusterChange::Kind::kSynced;
    batch.push_back(std::move(c));
  }
  built.view = std::move(next);
  return built;
}

}  // namespace roster::cluster
