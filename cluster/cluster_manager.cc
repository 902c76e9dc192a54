#include "cluster/cluster_manager.h"

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "cluster/internal/cluster_manager_state.h"
#include "cluster/worker_cluster.h"
#include "glog/logging.h"
#include "util/executor.h"

namespace roster::cluster {
namespace {

using registry::EventType;
using registry::RegistryEvent;
using registry::SessionEventType;
using registry::SessionState;

int64_t ToNanos(absl::Time t) { return absl::ToUnixNanos(t); }
absl::Time FromNanos(int64_t ns) { return absl::FromUnixNanos(ns); }

bool SameLeader(const LeaderInfo& a, const LeaderInfo& b) {
  return a.present == b.present && a.address == b.address && a.fencing_token == b.fencing_token;
}

bool SameSlots(const SlotAssignment& a, const SlotAssignment& b) {
  return a.epoch == b.epoch && a.masters == b.masters;
}

// Whether an update changes what a node is (state, drain, membership) rather than only its
// load figures: watchers may ask for the former only.
bool StateChanged(const NodeInfo& before, const NodeInfo& after) {
  return before.state != after.state || before.drained != after.drained ||
         before.groups != after.groups || before.incarnation != after.incarnation ||
         before.paths != after.paths;
}

// `previous` (a role's nodes, sorted by address) with the nodes of `changes` replaced, when
// no change adds or purges a node; nullopt otherwise (then the table is read in full). With
// thousands of nodes this is much cheaper than NodeTable::Snapshot().
std::optional<std::vector<NodeInfoPtr>> UpdateNodes(const std::vector<NodeInfoPtr>& previous,
                                                    const std::vector<NodeChange>& changes) {
  for (const NodeChange& change : changes) {
    if (change.before == nullptr || change.after == nullptr) return std::nullopt;
  }
  std::vector<NodeInfoPtr> nodes = previous;
  for (const NodeChange& change : changes) {
    auto it = std::lower_bound(nodes.begin(), nodes.end(), change.after->address,
                               [](const NodeInfoPtr& node, const std::string& address) {
                                 return node->address < address;
                               });
    if (it == nodes.end() || (*it)->address != change.after->address) return std::nullopt;
    *it = change.after;
  }
  return nodes;
}

// The role's nodes after `changes`: `previous` updated, or the table's snapshot.
std::vector<NodeInfoPtr> NodesAfter(const std::vector<NodeInfoPtr>& previous,
                                    const std::vector<NodeChange>& changes,
                                    const NodeTable& table) {
  std::optional<std::vector<NodeInfoPtr>> updated = UpdateNodes(previous, changes);
  return updated.has_value() ? *std::move(updated) : table.Snapshot();
}

class ChangeWatchHandle final : public ChangeWatch {
 public:
  ChangeWatchHandle(std::weak_ptr<WatcherSet> set, uint64_t id) : set_(std::move(set)), id_(id) {}
  ~ChangeWatchHandle() override {
    if (std::shared_ptr<WatcherSet> set = set_.lock()) {
      absl::MutexLock lock(&set->mu);
      set->listeners.erase(id_);
    }
  }

 private:
  std::weak_ptr<WatcherSet> set_;
  uint64_t id_;
};

}  // namespace

ClusterManager::ClusterManager(registry::Registry* registry, ClusterOptions options)
    : registry_(registry),
      options_(std::move(options)),
      state_(std::make_unique<State>(options_)),
      view_(std::make_shared<ClusterView>()) {}

ClusterManager::~ClusterManager() { Shutdown(); }

absl::Status ClusterManager::Start() {
  State& s = *state_;
  if (s.started) return absl::FailedPreconditionError("the cluster manager was started already");
  s.started = true;
  if (absl::Status status = options_.paths.Validate(); !status.ok()) return status;
  if (options_.timing.heartbeat_interval <= absl::ZeroDuration() ||
      options_.timing.missed_heartbeats < 1 || options_.timing.probation_intervals < 0) {
    return absl::InvalidArgumentError(
        "heartbeat interval must be positive and missed heartbeats at least 1");
  }
  if (!options_.worker_group_file.empty()) {
    absl::StatusOr<StaticGroups> groups =
        WorkerCluster::LoadStaticGroups(options_.worker_group_file);
    if (!groups.ok()) return groups.status();
    s.worker_options.static_groups = std::make_shared<const StaticGroups>(*std::move(groups));
  }
  stale_since_ns_ = ToNanos(options_.clock->Now());
  s.executor.Start();
  s.executor_started = true;

  s.session_watch = registry_->WatchSession([this](const registry::SessionEvent& event) {
    Enqueue(InboxItem{Source::kMasters, std::nullopt, event});
  });
  // Session events before the watch are covered by the first full read, which starts after.
  NoteSessionEventApplied(registry_->session().events);
  struct Subscribe {
    Source source;
    const std::string* path;
    registry::SubscribeOptions options;
  };
  const Subscribe subscriptions[] = {
      {Source::kMasters, &options_.paths.masters, {1, false}},
      // Depth 2 for the legacy layout, {workers}/{group}/{host}:{port}.
      {Source::kWorkers, &options_.paths.workers, {2, false}},
      {Source::kAlertServers, &options_.paths.alert_servers, {1, false}},
      {Source::kCoordinator, &options_.paths.coordinator, {0, true}},
      {Source::kDrains, &options_.paths.drains, {1, false}},
  };
  for (const Subscribe& each : subscriptions) {
    absl::StatusOr<std::unique_ptr<registry::Subscription>> subscription = registry_->Subscribe(
        *each.path, each.options, [this, source = each.source](const RegistryEvent& event) {
          Enqueue(InboxItem{source, event, std::nullopt});
        });
    if (!subscription.ok()) return subscription.status();
    s.subscriptions.push_back(*std::move(subscription));
  }
  if (options_.run_timers) {
    // Both timers re-arm themselves; the executor drops them at shutdown.
    s.executor.Post([this] {
      ScheduleTick();
      ScheduleResync();
    });
  }
  LOG(INFO) << "cluster manager started: masters '" << options_.paths.masters << "', workers '"
            << options_.paths.workers << "', coordinator '" << options_.paths.coordinator << "'";
  return absl::OkStatus();
}

void ClusterManager::Shutdown() {
  State& s = *state_;
  if (s.stopped) return;
  s.stopped = true;
  // Listeners first: once these handles are gone, nothing enqueues any more. The executor's
  // timers read `subscriptions`, so take them from there.
  std::vector<std::unique_ptr<registry::Subscription>> subscriptions;
  absl::Notification taken;
  if (s.executor_started && s.executor.Post([&] {
        subscriptions.swap(s.subscriptions);
        taken.Notify();
      })) {
    taken.WaitForNotification();
  } else {
    subscriptions.swap(s.subscriptions);
  }
  subscriptions.clear();
  s.session_watch.reset();
  s.executor.Shutdown();
  for (State::PendingDrain& pending : s.pending) {
    std::move(pending.done)(absl::CancelledError("the cluster manager is shutting down"));
  }
  s.pending.clear();
}

ClusterViewPtr ClusterManager::view() const {
  absl::MutexLock lock(&view_mu_);
  return view_;
}

void ClusterManager::Enqueue(InboxItem item) {
  bool first;
  {
    absl::MutexLock lock(&inbox_mu_);
    first = inbox_.empty();
    inbox_.push_back(std::move(item));
  }
  // One drain task per non-empty inbox: events that arrive while it runs join the next batch.
  if (first) state_->executor.Post([this] { DrainInbox(); });
}

void ClusterManager::DrainInbox() {
  std::vector<InboxItem> items;
  {
    absl::MutexLock lock(&inbox_mu_);
    items.swap(inbox_);
  }
  const absl::Time now = options_.clock->Now();
  const absl::Time wall_now = options_.clock->WallNow();
  for (const InboxItem& item : items) {
    if (item.session.has_value()) {
      ApplySession(*item.session, now);
    } else {
      ApplyEvent(item.source, *item.event, now, wall_now);
    }
  }
  Publish(/*tick=*/false);
}

void ClusterManager::NoteSessionEventApplied(uint64_t sequence) {
  uint64_t seen = session_events_applied_.load();
  while (seen < sequence && !session_events_applied_.compare_exchange_weak(seen, sequence)) {
  }
}

bool ClusterManager::SessionUnsettled(const registry::SessionInfo& session) const {
  return session.state != SessionState::kConnected ||
         session.events > session_events_applied_.load();
}

void ClusterManager::ApplySession(const registry::SessionEvent& event, absl::Time now) {
  State& s = *state_;
  NoteSessionEventApplied(event.sequence);
  LOG(INFO) << "registry session " << event.session << ": "
            << registry::SessionEventTypeName(event.type) << " (now "
            << registry::SessionStateName(event.state) << ")";
  switch (event.type) {
    case SessionEventType::kConnected:
    case SessionEventType::kReconnected:
      // Watches may have been lost: the subscriptions re-read everything, and the view is
      // stale until every one of them has finished.
      s.synced.fill(false);
      [[fallthrough]];
    case SessionEventType::kSuspended:
    case SessionEventType::kLost:
    case SessionEventType::kExpired:
    case SessionEventType::kAuthFailed:
    case SessionEventType::kClosed:
      // A full read completed earlier in this batch no longer makes the view fresh.
      if (s.pending_fresh) {
        s.pending_fresh = false;
        stale_since_ns_ = ToNanos(now);
      } else if (stale_since_ns_.load() == 0) {
        stale_since_ns_ = ToNanos(now);
      }
      break;
  }
}

void ClusterManager::ApplyEvent(Source source, const RegistryEvent& event, absl::Time now,
                                absl::Time wall_now) {
  State& s = *state_;
  events_applied_.Increment();
  if (event.from_resync) resync_corrections_.Increment();
  if (event.type == EventType::kSynced) {
    Reconcile(source, event, now, wall_now);
    const int index = static_cast<int>(source);
    s.synced[index] = true;
    s.round[index] = true;
    auto all = [](const std::array<bool, kSourceCount>& flags) {
      return std::all_of(flags.begin(), flags.end(), [](bool b) { return b; });
    };
    if (all(s.round)) {
      // Every subscription finished a full read (they resync together).
      s.round.fill(false);
      s.pending_rounds++;
      s.pending_round_time = now;
    }
    if (all(s.synced) && !SessionUnsettled(registry_->session())) {
      // Every subscription has re-read everything since the last (re)connect.
      s.pending_fresh = true;
      s.first_sync_done = true;
    }
    return;
  }
  const size_t rejected_before = s.masters.table().rejected().size() +
                                 s.workers.table().rejected().size() + s.alerts.rejected().size();
  switch (source) {
    case Source::kMasters:
      s.masters.ApplyMaster(event, now, wall_now);
      break;
    case Source::kWorkers:
      s.workers.Apply(event, now, wall_now);
      break;
    case Source::kAlertServers:
      s.alerts.Apply(options_.paths.alert_servers, event, now, wall_now);
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

void ClusterManager::Reconcile(Source source, const RegistryEvent& synced, absl::Time now,
                               absl::Time wall_now) {
  if (synced.snapshot == nullptr) return;
  State& s = *state_;
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
    NodeTable& table = source == Source::kMasters   ? s.masters.table()
                       : source == Source::kWorkers ? s.workers.table()
                                                    : s.alerts;
    const std::string& root =
        options_.paths.RootOf(source == Source::kMasters   ? NodeRole::kMaster
                              : source == Source::kWorkers ? NodeRole::kWorker
                                                           : NodeRole::kAlertServer);
    absl::flat_hash_set<std::string> present;
    for (const RegistryEvent& entry : snapshot) {
      present.insert(entry.path);
      std::optional<NodeTable::ZnodeVersion> held = table.FindZnode(entry.path);
      if (held.has_value() && held->czxid == entry.stat.czxid && held->mzxid == entry.stat.mzxid) {
        continue;
      }
      table.Apply(root, entry, now, wall_now);
      // Count it only if it changed what the table holds (not a group directory or a
      // rejected znode seen before).
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
    if (source == Source::kWorkers) corrections += s.workers.ReconcileGroupDirectories(snapshot);
  }
  if (corrections > 0) {
    LOG(WARNING) << "full read of '" << synced.path << "' corrected " << corrections
                 << " missed change(s)";
    resync_corrections_.Increment(corrections);
  }
}

void ClusterManager::Publish(bool tick) {
  State& s = *state_;
  const absl::Time now = options_.clock->Now();
  const absl::Time wall_now = options_.clock->WallNow();
  std::vector<NodeChange> master_changes, worker_changes, alert_changes;
  if (stale_since_ns_.load() != 0 || SessionUnsettled(registry_->session())) {
    // rosterd cannot see heartbeats while its view is stale (and up to the publish that
    // makes it fresh again): nobody times out for silence it could not observe, and every
    // node gets a full heartbeat timeout from its return.
    s.masters.table().ExcuseSilenceUntil(now);
    s.workers.table().ExcuseSilenceUntil(now);
    s.alerts.ExcuseSilenceUntil(now);
  }
  if (tick) {
    s.masters.table().Tick(now, wall_now, &master_changes);
    s.workers.table().Tick(now, wall_now, &worker_changes);
    s.alerts.Tick(now, wall_now, &alert_changes);
  } else {
    s.masters.table().Derive(now, wall_now, &master_changes);
    s.workers.table().Derive(now, wall_now, &worker_changes);
    s.alerts.Derive(now, wall_now, &alert_changes);
  }

  const ClusterViewPtr previous = view();
  if (master_changes.empty() && worker_changes.empty() && alert_changes.empty() &&
      !s.workers.groups_changed() && !s.rejected_dirty &&
      SameLeader(previous->leader, s.masters.leader()) &&
      (previous->synced || !s.first_sync_done)) {
    // Nothing to publish (an idle tick, a batch of ignored events): skip building a view.
    CommitSyncs();
    ResolvePendingDrains(now);
    UpdateTableMetrics();
    return;
  }
  // The next view takes over the parts of `previous` that do not change; the parts rebuilt
  // below are not copied first (with thousands of workers, copying is most of a publish).
  const bool groups_changed = !worker_changes.empty() || s.workers.groups_changed();
  auto next = std::make_shared<ClusterView>();
  next->version = previous->version;
  next->synced = previous->synced;
  if (master_changes.empty()) {
    next->masters = previous->masters;
    next->slots = previous->slots;
  }
  if (worker_changes.empty()) next->workers = previous->workers;
  if (!groups_changed) next->groups = previous->groups;
  if (alert_changes.empty()) next->alert_servers = previous->alert_servers;
  if (!s.rejected_dirty) next->rejected = previous->rejected;
  ChangeBatch batch;
  batch.reserve(master_changes.size() + worker_changes.size() + alert_changes.size() + 4);
  auto record_nodes = [&](const std::vector<NodeChange>& changes) {
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
        if (c.state_changed && change.before->state != change.after->state) {
          LOG(INFO) << NodeRoleName(change.after->role) << " '" << change.after->address << "' "
                    << NodeStateName(change.before->state) << " -> "
                    << NodeStateName(change.after->state) << ": " << change.after->reason;
        }
      }
      batch.push_back(std::move(c));
    }
  };
  record_nodes(master_changes);
  record_nodes(worker_changes);
  record_nodes(alert_changes);

  if (!master_changes.empty()) {
    next->masters = NodesAfter(previous->masters, master_changes, s.masters.table());
    next->slots = MasterCluster::ComputeSlots(next->masters);
  }
  if (!worker_changes.empty()) {
    next->workers = NodesAfter(previous->workers, worker_changes, s.workers.table());
  }
  if (groups_changed) {
    std::optional<WorkerCluster::GroupMap> updated;
    if (!s.workers.groups_changed()) {
      updated = WorkerCluster::UpdateGroups(previous->groups, worker_changes);
    }
    next->groups = updated.has_value()
                       ? *std::move(updated)
                       : WorkerCluster::BuildGroups(next->workers, s.workers.DefinedGroups());
  }
  if (!alert_changes.empty()) {
    next->alert_servers = NodesAfter(previous->alert_servers, alert_changes, s.alerts);
  }
  if (!SameSlots(previous->slots, next->slots)) {
    ClusterChange c;
    c.kind = ClusterChange::Kind::kSlotsChanged;
    c.slots = next->slots;
    batch.push_back(std::move(c));
    LOG(INFO) << "slots: " << next->slots.masters.size() << " master(s), epoch "
              << next->slots.epoch;
  }
  next->leader = s.masters.leader();
  if (!SameLeader(previous->leader, next->leader)) {
    ClusterChange c;
    c.kind = ClusterChange::Kind::kLeaderChanged;
    c.leader = next->leader;
    batch.push_back(std::move(c));
  }
  if (s.rejected_dirty) {
    s.rejected_dirty = false;
    std::vector<RejectedZnode> rejected;
    for (const NodeTable* table : s.tables()) {
      for (const auto& [path, reason] : table->rejected()) rejected.push_back({path, reason});
    }
    for (const auto& [path, reason] : s.drain_problems) rejected.push_back({path, reason});
    if (!s.masters.leader_problem().empty()) {
      rejected.push_back({options_.paths.coordinator, s.masters.leader_problem()});
    }
    std::sort(rejected.begin(), rejected.end(),
              [](const RejectedZnode& a, const RejectedZnode& b) { return a.path < b.path; });
    const bool changed = rejected.size() != previous->rejected.size() ||
                         !std::equal(rejected.begin(), rejected.end(), previous->rejected.begin(),
                                     [](const RejectedZnode& a, const RejectedZnode& b) {
                                       return a.path == b.path && a.reason == b.reason;
                                     });
    next->rejected = std::move(rejected);
    if (changed) {
      ClusterChange c;
      c.kind = ClusterChange::Kind::kRejectedChanged;
      batch.push_back(std::move(c));
    }
  }
  if (!previous->synced && s.first_sync_done) {
    next->synced = true;
    ClusterChange c;
    c.kind = ClusterChange::Kind::kSynced;
    batch.push_back(std::move(c));
  }

  if (!batch.empty()) {
    for (ClusterChange& change : batch) s.log.Append(change);
    next->version = s.log.last_version();
    {
      absl::MutexLock lock(&view_mu_);
      view_ = next;
    }
    CommitSyncs();
    if (next->synced && !ever_synced_.exchange(true)) {
      LOG(INFO) << "first full read of the registry done; serving view " << next->version;
    }
    s.workers.GroupsPublished();
    publishes_.Increment();
    // Call watchers without holding their lock: copy, release, call.
    std::vector<std::shared_ptr<WatcherSet::Listener>> listeners;
    {
      absl::MutexLock lock(&s.watchers->mu);
      for (const auto& [id, listener] : s.watchers->listeners) {
        if (listener != nullptr) listeners.push_back(listener);
      }
    }
    if (!listeners.empty()) {
      auto shared = std::make_shared<const ChangeBatch>(std::move(batch));
      for (const auto& listener : listeners) (*listener)(shared);
    }
  }
  CommitSyncs();  // no-op if done above
  ResolvePendingDrains(now);
  UpdateTableMetrics();
}

void ClusterManager::CommitSyncs() {
  State& s = *state_;
  if (s.pending_rounds > 0) {
    last_sync_ns_ = ToNanos(s.pending_round_time);
    resyncs_.Increment(s.pending_rounds);
    s.pending_rounds = 0;
  }
  if (s.pending_fresh) {
    s.pending_fresh = false;
    stale_since_ns_ = 0;
  }
}

void ClusterManager::UpdateTableMetrics() {
  State& s = *state_;
  TableMetrics metrics;
  for (const NodeTable* table : s.tables()) {
    metrics.stale_incarnation_events += table->stale_incarnation_events();
    metrics.rejected_payloads += table->rejected_payloads();
    for (const auto& [edge, count] : table->transitions()) metrics.transitions[edge] += count;
  }
  absl::MutexLock lock(&metrics_mu_);
  table_metrics_ = std::move(metrics);
}

void ClusterManager::ScheduleTick() {
  state_->executor.PostAfter(options_.tick_interval, [this] {
    Publish(/*tick=*/true);
    ScheduleTick();
  });
}

void ClusterManager::ScheduleResync() {
  State& s = *state_;
  const double jitter = options_.resync_jitter > 0
                            ? absl::Uniform(s.rng, -options_.resync_jitter, options_.resync_jitter)
                            : 0.0;
  s.executor.PostAfter(options_.resync_interval * (1.0 + jitter), [this] {
    for (const auto& subscription : state_->subscriptions) subscription->Resync();
    ScheduleResync();
  });
}

void ClusterManager::TickNow() {
  if (!state_->executor_started) return;
  absl::Notification done;
  if (!state_->executor.Post([&] {
        Publish(/*tick=*/true);
        done.Notify();
      })) {
    return;
  }
  done.WaitForNotification();
}

void ClusterManager::ResyncNow() {
  state_->executor.Post([this] {
    for (const auto& subscription : state_->subscriptions) subscription->Resync();
  });
}

Freshness ClusterManager::freshness() const {
  Freshness f;
  const registry::SessionInfo session = registry_->session();
  const absl::Time now = options_.clock->Now();
  f.session_state = session.state;
  f.ever_synced = ever_synced_.load();
  absl::Time stale_since = absl::InfiniteFuture();
  if (const int64_t ns = stale_since_ns_.load(); ns != 0) stale_since = FromNanos(ns);
  if (SessionUnsettled(session)) stale_since = std::min(stale_since, session.state_since);
  f.stale = stale_since != absl::InfiniteFuture();
  f.stale_for = f.stale ? std::max(now - stale_since, absl::ZeroDuration()) : absl::ZeroDuration();
  if (const int64_t ns = last_sync_ns_.load(); ns != 0) {
    f.since_last_sync = std::max(now - FromNanos(ns), absl::ZeroDuration());
  }
  f.authoritative = f.ever_synced && f.stale_for <= options_.staleness_bound &&
                    session.state != SessionState::kAuthFailed &&
                    session.state != SessionState::kClosed;
  return f;
}

absl::Status ClusterManager::CheckAuthority(absl::string_view what) const {
  const Freshness f = freshness();
  if (f.authoritative) return absl::OkStatus();
  if (!f.ever_synced) {
    return absl::UnavailableError(
        absl::StrCat("refusing to answer ", what, ": the registry has not been read fully yet"));
  }
  return absl::UnavailableError(absl::StrCat(
      "refusing to answer ", what, ": the view has been stale for ",
      absl::FormatDuration(absl::Trunc(f.stale_for, absl::Milliseconds(1))), " (session ",
      registry::SessionStateName(f.session_state), "), over the staleness bound of ",
      absl::FormatDuration(options_.staleness_bound), "; acting on it could double-process work"));
}

absl::StatusOr<Selection> ClusterManager::SelectWorker(const SelectRequest& request) {
  if (!ready()) {
    return absl::UnavailableError(
        "cannot select a worker: the registry has not been read fully yet");
  }
  return selector_.Select(*view(), request);
}

absl::StatusOr<SlotAnswer> ClusterManager::GetMasterSlot(
    absl::string_view address, const std::optional<IncarnationClaim>& claim) {
  if (absl::Status status = CheckAuthority("a slot query"); !status.ok()) return status;
  return MasterCluster::LookupSlot(*view(), address, claim);
}

absl::StatusOr<LeaderAnswer> ClusterManager::GetLeader() {
  if (absl::Status status = CheckAuthority("a leader query"); !status.ok()) return status;
  const ClusterViewPtr current = view();
  if (!current->leader.present) {
    return absl::NotFoundError(
        absl::StrCat("no master holds the coordinator znode '", options_.paths.coordinator, "'"));
  }
  return LeaderAnswer{current->leader, current->Find(NodeRole::kMaster, current->leader.address)};
}

std::unique_ptr<ChangeWatch> ClusterManager::WatchChanges(
    uint64_t from_version, absl::AnyInvocable<void(WatchStart) &&> on_start,
    std::function<void(const std::shared_ptr<const ChangeBatch>&)> on_changes) {
  std::shared_ptr<WatcherSet> watchers = state_->watchers;
  uint64_t id;
  {
    absl::MutexLock lock(&watchers->mu);
    id = watchers->next_id++;
    watchers->listeners[id] = nullptr;
  }
  auto listener = std::make_shared<WatcherSet::Listener>(std::move(on_changes));
  // Registering on the executor, between two batches, is what makes the start and the later
  // batches line up with no gap and no overlap.
  state_->executor.Post(
      [this, id, watchers, listener, from_version, on_start = std::move(on_start)]() mutable {
        {
          absl::MutexLock lock(&watchers->mu);
          if (watchers->listeners.count(id) == 0) return;  // the handle is gone already
        }
        WatchStart start;
        std::optional<ChangeBatch> missed;
        if (from_version > 0) missed = state_->log.Since(from_version);
        if (missed.has_value()) {
          start.missed = *std::move(missed);
        } else {
          start.snapshot = view();
        }
        start.version = state_->log.last_version();
        std::move(on_start)(std::move(start));
        absl::MutexLock lock(&watchers->mu);
        auto it = watchers->listeners.find(id);
        if (it != watchers->listeners.end()) it->second = listener;
      });
  return std::make_unique<ChangeWatchHandle>(watchers, id);
}

void ClusterManager::WriteMetrics(PrometheusWriter* w) const {
  const ClusterViewPtr current = view();
  const Freshness f = freshness();
  w->Family("roster_view_version", "gauge", "Version of the published cluster view.");
  w->Sample("roster_view_version", static_cast<double>(current->version));
  w->Family("roster_events_applied_total", "counter", "Registry events applied.");
  w->Sample("roster_events_applied_total", static_cast<double>(events_applied_.value()));
  w->Family("roster_resync_corrections_total", "counter",
            "Changes found by a full re-read that the watches had missed.");
  w->Sample("roster_resync_corrections_total", static_cast<double>(resync_corrections_.value()));
  w->Family("roster_full_reads_total", "counter",
            "Full reads of the registry completed (first sync, resyncs, after reconnects).");
  w->Sample("roster_full_reads_total", static_cast<double>(resyncs_.value()));
  w->Family("roster_view_publishes_total", "counter", "Cluster views published.");
  w->Sample("roster_view_publishes_total", static_cast<double>(publishes_.value()));
  w->Family("roster_view_stale", "gauge", "1 while the view is stale.");
  w->Sample("roster_view_stale", f.stale ? 1 : 0);
  w->Family("roster_view_stale_seconds", "gauge", "How long the view has been stale.");
  w->Sample("roster_view_stale_seconds", absl::ToDoubleSeconds(f.stale_for));
  w->Family("roster_nodes", "gauge", "Nodes in the view by role and state.");
  for (const auto& [role, nodes] :
       {std::make_pair(NodeRole::kMaster, &current->masters),
        std::make_pair(NodeRole::kWorker, &current->workers),
        std::make_pair(NodeRole::kAlertServer, &current->alert_servers)}) {
    std::map<NodeState, int> counts;
    for (const NodeInfoPtr& node : *nodes) counts[node->state]++;
    for (NodeState state : {NodeState::kRegistering, NodeState::kRunning, NodeState::kOverload,
                            NodeState::kFault, NodeState::kRecovering, NodeState::kOffline}) {
      w->Sample(
          "roster_nodes",
          {{"role", std::string(NodeRoleName(role))}, {"state", std::string(NodeStateName(state))}},
          counts[state]);
    }
  }
  TableMetrics tables;
  {
    absl::MutexLock lock(&metrics_mu_);
    tables = table_metrics_;
  }
  w->Family("roster_node_transitions_total", "counter", "Node state transitions.");
  for (const auto& [edge, count] : tables.transitions) {
    w->Sample("roster_node_transitions_total",
              {{"from", std::string(NodeStateName(edge.first))},
               {"to", std::string(NodeStateName(edge.second))}},
              static_cast<double>(count));
  }
  w->Family("roster_stale_incarnation_events_total", "counter",
            "Events of an older incarnation of a node, ignored.");
  w->Sample("roster_stale_incarnation_events_total",
            static_cast<double>(tables.stale_incarnation_events));
  w->Family("roster_rejected_heartbeats_total", "counter",
            "Heartbeat payloads rejected (the node went FAULT with the reason).");
  w->Sample("roster_rejected_heartbeats_total", static_cast<double>(tables.rejected_payloads));
  w->Family("roster_master_slots", "gauge", "Masters holding a slot.");
  w->Sample("roster_master_slots", static_cast<double>(current->slots.masters.size()));
  w->Family("roster_rejected_znodes", "gauge", "Znodes that cannot be used as nodes.");
  w->Sample("roster_rejected_znodes", static_cast<double>(current->rejected.size()));
}

}  // namespace roster::cluster
