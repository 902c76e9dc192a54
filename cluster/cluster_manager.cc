#include "cluster/cluster_manager.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "cluster/file_group_source.h"
#include "cluster/internal/cluster_manager_state.h"
#include "cluster/worker_cluster.h"
#include "glog/logging.h"
#include "util/executor.h"
#include "util/heap.h"
#include "util/status_macros.h"

namespace roster::cluster {
namespace {

using registry::EventType;
using registry::RegistryEvent;
using registry::SessionEventType;
using registry::SessionState;

}  // namespace

ClusterManager::ClusterManager(registry::Registry* registry, ClusterOptions options)
    : registry_(registry),
      options_(std::move(options)),
      state_(std::make_unique<State>(options_)),
      view_(std::make_shared<ClusterView>()) {
  freshness_.stale_since = options_.clock->Now();
  for (const DsProfile& profile : AllProfiles()) {
    SelectorOptions selector;
    selector.semantics = profile.strategies;
    selector.dynamic_weights = options_.dynamic_weights;
    selector.warm_up = options_.warm_up;
    selector.lower_weight_refresh = profile.lower_weight_refresh;
    selector.lower_weight_rebuild_on_change = profile.lower_weight_rebuild_on_change;
    selector.clock = options_.clock;
    selectors_[static_cast<int>(profile.version)] = std::make_unique<WorkerSelector>(selector);
  }
}

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
    // A bad file at start is an error; later, a bad rewrite keeps the last good groups.
    absl::StatusOr<StaticGroups> groups =
        WorkerCluster::LoadStaticGroups(options_.worker_group_file);
    if (!groups.ok()) return groups.status();
    FileGroupSourceOptions file;
    file.path = options_.worker_group_file;
    file.poll_interval = options_.group_file_poll_interval;
    file.clock = options_.clock;
    State::GroupSourceEntry entry;
    entry.source = std::make_unique<FileGroupSource>(std::move(file));
    s.executor.AssertNotRunning();
    s.group_sources.insert(s.group_sources.begin(), std::move(entry));
  }
  started_wall_ms_.store(absl::ToUnixMillis(options_.clock->WallNow()));
  s.fanout->Start();
  s.executor.Start();
  s.executor_started = true;
  // Subscribing on the executor keeps `subscriptions` and the freshness tracker confined to it.
  absl::Status status;
  absl::Notification subscribed;
  s.executor.Post([&] {
    s.executor.AssertCurrent();
    s.started_at = options_.clock->Now();
    status = Subscribe();
    subscribed.Notify();
  });
  subscribed.WaitForNotification();
  if (!status.ok()) return status;
  LOG(INFO) << "cluster manager started: masters '" << options_.paths.masters << "', workers '"
            << options_.paths.workers << "', coordinator '" << options_.paths.coordinator << "'";
  return absl::OkStatus();
}

absl::Status ClusterManager::Subscribe() {
  State& s = *state_;
  s.executor.AssertCurrent();
  s.session_watch = registry_->WatchSession([this](const registry::SessionEvent& event) {
    InboxItem item;
    item.session = event;
    Enqueue(std::move(item));
  });
  // Session events before the watch are covered by the first full read, which starts after.
  s.freshness.emplace(kSourceCount, options_.clock->Now(), registry_->session().events);
  struct Subscription {
    Source source;
    const std::string* path;
    registry::SubscribeOptions options;
    std::optional<NodeRole> role;  // of the nodes below `path`, whose heartbeats it carries
  };
  const Subscription subscriptions[] = {
      {Source::kMasters, &options_.paths.masters, {1, false}, NodeRole::kMaster},
      // Depth 2 for the legacy layout, {workers}/{group}/{host}:{port}.
      {Source::kWorkers, &options_.paths.workers, {2, false}, NodeRole::kWorker},
      {Source::kAlertServers, &options_.paths.alert_servers, {1, false}, NodeRole::kAlertServer},
      {Source::kCoordinator, &options_.paths.coordinator, {0, true}, std::nullopt},
      {Source::kDrains, &options_.paths.drains, {1, false}, std::nullopt},
  };
  for (const Subscription& each : subscriptions) {
    // Heartbeats are decoded here, on the registry's thread, and only applied on the cluster
    // executor: the two threads share an event's cost (docs/scale.md, "Decoding ahead"). With a
    // copy of the table's options: the role, limits and dialect, which never change.
    std::optional<NodeTableOptions> decode;
    if (each.role.has_value()) decode = State::TableOptions(options_, *each.role);
    absl::StatusOr<std::unique_ptr<registry::Subscription>> subscription = registry_->Subscribe(
        *each.path, each.options,
        [this, source = each.source, decode = std::move(decode)](const RegistryEvent& event) {
          InboxItem item;
          item.source = source;
          if (decode.has_value() && event.read_error.ok() &&
              (event.type == EventType::kAdded || event.type == EventType::kUpdated) &&
              FirstToDecode(event.path)) {
            item.decoded = NodeTable::Decode(*decode, event.stat, event.data);
          }
          // The table applies a heartbeat decoded here from `decoded` and never reads its
          // bytes: they are not copied into the inbox.
          if (item.decoded != nullptr) {
            item.event.emplace(registry::CopyWithoutData(event));
          } else {
            item.event.emplace(event);
          }
          const bool run_inline = inline_events_.load(std::memory_order_relaxed) &&
                                  !event.from_resync && event.type != EventType::kSynced;
          Enqueue(std::move(item), run_inline);
        });
    if (!subscription.ok()) return subscription.status();
    s.subscriptions.push_back(*std::move(subscription));
  }
  for (size_t i = 0; i < s.group_sources.size(); ++i) {
    State::GroupSourceEntry& entry = s.group_sources[i];
    entry.name = entry.source->Describe();
    GroupSourceListener listener;
    const int index = static_cast<int>(i);
    listener.on_snapshot = [this, index](std::shared_ptr<const GroupSnapshot> groups) {
      InboxItem item;
      item.group_source = index;
      item.groups = std::move(groups);
      Enqueue(std::move(item));
    };
    listener.on_status = [this, index](const GroupSourceStatus& group_status) {
      InboxItem item;
      item.group_source = index;
      item.group_status = group_status;
      Enqueue(std::move(item));
    };
    if (absl::Status started = entry.source->Start(std::move(listener)); !started.ok()) {
      return started;
    }
  }
  if (options_.run_timers) {
    // Both timers re-arm themselves; the executor drops them at shutdown.
    ScheduleTick();
    ScheduleResync();
  }
  return absl::OkStatus();
}

void ClusterManager::Shutdown() {
  State& s = *state_;
  if (s.stopped) return;
  s.stopped = true;
  // Listeners first: once these handles are gone, nothing enqueues any more. The executor's
  // timers read `subscriptions`, so take them from there.
  std::vector<std::unique_ptr<registry::Subscription>> subscriptions;
  std::unique_ptr<registry::ListenerHandle> session_watch;
  auto take = [&] {
    s.executor.AssertCurrent();
    subscriptions.swap(s.subscriptions);
    session_watch.swap(s.session_watch);
  };
  absl::Notification taken;
  if (s.executor_started && s.executor.Post([&] {
        take();
        taken.Notify();
      })) {
    taken.WaitForNotification();
  } else {
    take();
  }
  subscriptions.clear();
  session_watch.reset();
  s.executor.Shutdown();
  s.executor.AssertNotRunning();
  s.fanout->Shutdown();
  // Group sources last: a listener still running enqueues into a manager that drops it.
  for (State::GroupSourceEntry& entry : s.group_sources) entry.source->Shutdown();
  for (State::PendingDrain& pending : s.pending) {
    std::move(pending.done)(absl::CancelledError("the cluster manager is shutting down"));
  }
  s.pending.clear();
}

ClusterViewPtr ClusterManager::view() const {
  absl::ReaderMutexLock lock(&view_mu_);
  return view_;
}

bool ClusterManager::FirstToDecode(absl::string_view path) {
  const uint64_t inbox = inbox_generation_.load(std::memory_order_acquire);
  absl::MutexLock lock(&decode_mu_);
  if (inbox != decoded_inbox_) {
    decoded_ahead_.clear();
    decoded_inbox_ = inbox;
  }
  return decoded_ahead_.insert(absl::Hash<absl::string_view>()(path)).second;
}

void ClusterManager::Enqueue(InboxItem item, bool run_inline) {
  bool first;
  {
    absl::MutexLock lock(&inbox_mu_);
    first = inbox_.empty();
    inbox_.push_back(std::move(item));
  }
  // One drain task per non-empty inbox: events that arrive while it runs join the next batch.
  if (!first) return;
  if (run_inline && !burst_.InBurst(absl::ToUnixNanos(options_.clock->Now()))) {
    state_->executor.RunInlineOrPost([this] { DrainInbox(); });
  } else {
    state_->executor.Post([this] { DrainInbox(); });
  }
}

void ClusterManager::DrainInbox() {
  State& s = *state_;
  s.executor.AssertCurrent();
  // The inbox takes the spare buffer's capacity, and this batch's becomes the next spare: a
  // steady stream of events allocates no inbox at all. A buffer is kept only while batches
  // come near its size: the first full read's (10,050 items of ~370 bytes at 10,000 workers)
  // is dropped by the first small batch after it, instead of holding megabytes for good.
  constexpr size_t kMinSpareInbox = 1024;
  std::vector<InboxItem> items = std::move(s.spare_inbox);
  {
    absl::MutexLock lock(&inbox_mu_);
    items.swap(inbox_);
    inbox_generation_.fetch_add(1, std::memory_order_release);
  }
  const absl::Time now = options_.clock->Now();
  const absl::Time wall_now = options_.clock->WallNow();
  for (InboxItem& item : items) {
    if (item.group_source >= 0) {
      ApplyGroupSource(item);
    } else if (item.session.has_value()) {
      ApplySession(*item.session, now);
    } else {
      ApplyEvent(item.source, *std::move(item.event), now, wall_now, std::move(item.decoded));
    }
  }
  const size_t batch = items.size();
  items.clear();
  if (items.capacity() <= std::max(kMinSpareInbox, 4 * batch)) s.spare_inbox = std::move(items);
  Publish(Tick::kNone);
  burst_.BatchDone(absl::ToUnixNanos(options_.clock->Now()));
}

void ClusterManager::ApplySession(const registry::SessionEvent& event, absl::Time now) {
  State& s = *state_;
  s.executor.AssertCurrent();
  LOG(INFO) << "registry session " << event.session << ": "
            << registry::SessionEventTypeName(event.type) << " (now "
            << registry::SessionStateName(event.state) << ")";
  // After a (re)connect the watches may have been lost: the subscriptions re-read everything,
  // and the view is stale until every one of them has finished.
  const bool reconnected =
      event.type == SessionEventType::kConnected || event.type == SessionEventType::kReconnected;
  s.freshness->SessionEventApplied(event.sequence, reconnected, now);
}

void ClusterManager::Publish(Tick tick) {
  State& s = *state_;
  s.executor.AssertCurrent();
  const absl::Time now = options_.clock->Now();
  const absl::Time wall_now = options_.clock->WallNow();
  ViewChanges changes = CollectChanges(tick, now, wall_now);
  Preserve(now, wall_now, &changes);
  const absl::Time collected = options_.clock->Now();
  const bool synced = BuildAndPublish(std::move(changes), now);
  CommitFreshness(synced, PublishTiming{now, collected, options_.clock->Now()});
  ResolvePendingDrains(now);
  UpdateTableMetrics();
  ArmDeadlineTimer(now);
}

bool ClusterManager::BuildAndPublish(ViewChanges changes, absl::Time now) {
  State& s = *state_;
  s.executor.AssertCurrent();
  const ClusterViewPtr previous = view();
  changes.PrependNodeChanges(std::exchange(s.held, ViewChanges{}));
  if (!changes.AnyChange(*previous)) return previous->synced;
  if (HoldInWindow(&changes, *previous, now)) return previous->synced;
  s.last_published = now;
  const SlotPolicy policy = s.slot_policy;
  BuiltView built = BuildNextView(*previous, std::move(changes), [policy](const NodeList& masters) {
    return MasterCluster::ComputeSlots(masters, policy);
  });
  const bool synced = built.view->synced;
  std::vector<NodeChange> transitions = std::move(built.transitions);
  if (!built.batch.empty()) PublishView(std::move(built));
  LogTransitions(transitions);
  s.workers.GroupsPublished();
  s.rejected_dirty = false;
  return synced;
}

bool ClusterManager::HoldInWindow(ViewChanges* changes, const ClusterView& previous,
                                  absl::Time now) {
  State& s = *state_;
  s.executor.AssertCurrent();
  if (options_.publish_window <= absl::ZeroDuration() || !options_.run_timers) return false;
  const absl::Time due = s.last_published + options_.publish_window;
  if (now >= due || !changes->LoadOnly(previous)) return false;
  s.held = std::move(*changes);
  if (s.held_timer == 0) {
    s.held_timer = s.executor.PostAt(due, [this] {
      State& s = *state_;
      s.executor.AssertCurrent();
      s.held_timer = 0;
      Publish(Tick::kNone);
    });
  }
  return true;
}

LiveNodeLookup ClusterManager::LiveLookup() {
  return [this](NodeRole role, absl::string_view address) {
    State& s = *state_;
    s.executor.AssertCurrent();
    const NodeTable& table = role == NodeRole::kMaster   ? s.masters.table()
                             : role == NodeRole::kWorker ? s.workers.table()
                                                         : s.alerts;
    return table.Find(address);
  };
}

void ClusterManager::Preserve(absl::Time now, absl::Time wall_now, ViewChanges* changes) {
  State& s = *state_;
  s.executor.AssertCurrent();
  // Too many nodes lost at once: the view keeps their last good state (self_preservation.h).
  bool changed = s.preservation.Filter(*view(), now, wall_now, LiveLookup(), changes);
  if (s.accept_held.has_value()) {
    s.accepted_held = s.preservation.AcceptAll(*s.accept_held, LiveLookup(), changes);
    s.accept_held.reset();
    changed = changed || s.accepted_held > 0;
  }
  if (!changed) return;
  changes->self_preservation = s.preservation.status();
  // Workers the detector added must not rebuild the groups without the defined ones.
  if (!changes->workers.empty()) changes->defined_groups = s.workers.DefinedGroups();
}

int ClusterManager::AcceptHeldLosses(std::string why) {
  absl::StatusOr<int> accepted;
  absl::Notification done;
  AcceptHeldLosses(std::move(why), [&](absl::StatusOr<int> result) {
    accepted = std::move(result);
    done.Notify();
  });
  done.WaitForNotification();
  return accepted.value_or(0);
}

void ClusterManager::AcceptHeldLosses(std::string why,
                                      absl::AnyInvocable<void(absl::StatusOr<int>) &&> done) {
  State& s = *state_;
  auto not_running = [] { return absl::UnavailableError("the cluster manager is not running"); };
  if (!s.executor_started) {
    std::move(done)(not_running());
    return;
  }
  // If Post fails (shutting down) the task, `done` with it, is dropped unrun: answer from here.
  auto shared_done =
      std::make_shared<absl::AnyInvocable<void(absl::StatusOr<int>) &&>>(std::move(done));
  if (!s.executor.Post([this, &s, why = std::move(why), shared_done]() mutable {
        s.executor.AssertCurrent();
        s.accept_held = std::move(why);
        s.accepted_held = 0;
        Publish(Tick::kNone);
        std::move (*shared_done)(s.accepted_held);
      })) {
    std::move (*shared_done)(not_running());
  }
}

ViewChanges ClusterManager::CollectChanges(Tick tick, absl::Time now, absl::Time wall_now) {
  State& s = *state_;
  s.executor.AssertCurrent();
  ViewChanges changes;
  const absl::Time observed_until =
      tick != Tick::kNone ? ProbeContact(now) : absl::InfiniteFuture();
  if (s.freshness->stale() || s.freshness->Unsettled(registry_->session())) {
    // rosterd cannot see heartbeats while its view is stale (and up to the publish that
    // makes it fresh again): nobody times out for silence it could not observe, and every
    // node gets a full heartbeat timeout from its return.
    for (NodeTable* table : s.mutable_tables()) table->ExcuseSilenceUntil(now);
  }
  std::vector<NodeChange>* role_changes[] = {&changes.masters, &changes.workers,
                                             &changes.alert_servers};
  int role = 0;
  for (NodeTable* table : s.mutable_tables()) {
    std::vector<NodeChange>* table_changes = role_changes[role++];
    switch (tick) {
      case Tick::kNone:
        table->Derive(now, wall_now, table_changes);
        break;
      case Tick::kDue:
        table->TickDue(now, wall_now, table_changes, observed_until);
        break;
      case Tick::kEvery:
        table->Tick(now, wall_now, table_changes, observed_until);
        break;
    }
  }
  DetectRelease(now, wall_now, &changes);
  changes.defined_groups_changed = changes.defined_groups_changed || s.workers.groups_changed();
  if (changes.defined_groups_changed || !changes.workers.empty()) {
    changes.defined_groups = s.workers.DefinedGroups();
  }
  // The coordinator is valid only while its session is its master's (DolphinScheduler #18644).
  const LeaderInfo& leader = s.masters.leader();
  const NodeInfoPtr holder = leader.present ? s.masters.table().Find(leader.address) : nullptr;
  changes.leader = MasterCluster::CheckLeader(leader, holder.get());
  if (s.rejected_dirty) {
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
    changes.rejected = std::move(rejected);
  }
  // Synced once the registry was read in full and every group source has reported once.
  changes.first_sync_done =
      s.freshness->first_sync_done() &&
      std::all_of(s.group_sources.begin(), s.group_sources.end(),
                  [](const State::GroupSourceEntry& entry) { return entry.reported; });
  if (s.group_sources_dirty) {
    s.group_sources_dirty = false;
    std::vector<GroupSourceView> sources;
    for (const State::GroupSourceEntry& entry : s.group_sources) {
      sources.push_back({entry.name, entry.status});
    }
    changes.group_sources = std::move(sources);
  }
  return changes;
}

void ClusterManager::PublishView(BuiltView built) {
  State& s = *state_;
  s.executor.AssertCurrent();
  for (ClusterChange& change : built.batch) s.log.Append(change);
  built.view->version = s.log.last_version();
  // Counted before the view is published, so whoever sees the view sees the count. Between
  // synced views only: the first full read assigns slots and finds the leader, which is no
  // change an operator should be alerted about.
  const ClusterViewPtr previous = view();  // only this executor publishes
  if (previous->synced && built.view->synced) {
    if (previous->slots.epoch != built.view->slots.epoch) slot_epoch_changes_.Increment();
    const LeaderInfo& before = previous->leader;
    const LeaderInfo& after = built.view->leader;
    if (after.present && (!before.present || before.address != after.address ||
                          before.fencing_token != after.fencing_token)) {
      leader_changes_.Increment();
    }
  }
  {
    absl::MutexLock lock(&view_mu_);
    view_ = built.view;
  }
  publishes_.Increment();
  // O(1) here whatever the number of watchers: the fan-out thread calls them.
  s.fanout->Publish(std::make_shared<const ChangeBatch>(std::move(built.batch)));
}

void ClusterManager::CommitFreshness(bool view_synced, const PublishTiming& timing) {
  State& s = *state_;
  s.executor.AssertCurrent();
  const bool was_synced = s.freshness->record().ever_synced;
  resyncs_.Increment(s.freshness->Commit(view_synced));
  {
    absl::MutexLock lock(&view_mu_);
    freshness_ = s.freshness->record();
  }
  if (!was_synced && s.freshness->record().ever_synced) {
    // The cold start's split (docs/scale.md): events are decoded as they arrive, on the
    // registry's thread, and derived by the publish that follows, so the reads (with the
    // decoding) end where this batch begins.
    LOG(INFO) << "first full read of the registry done; serving view " << view()->version << " ("
              << absl::FormatDuration(timing.built - s.started_at)
              << " after the subscriptions started: registry reads "
              << absl::FormatDuration(timing.began - s.started_at)
              << " (heartbeats decoded as they arrive), derive "
              << absl::FormatDuration(timing.collected - timing.began) << ", build and publish "
              << absl::FormatDuration(timing.built - timing.collected) << ")";
    // The first full read held every znode's reply at once (RegistryOptions::max_in_flight):
    // hand the freed heap back rather than carry it as RSS for the process's life.
    ReleaseFreeHeap();
    inline_events_.store(true, std::memory_order_relaxed);
  }
}

void ClusterManager::UpdateTableMetrics() {
  State& s = *state_;
  s.executor.AssertCurrent();
  TableMetrics metrics;
  constexpr NodeRole kRoles[] = {NodeRole::kMaster, NodeRole::kWorker, NodeRole::kAlertServer};
  const std::array<const NodeTable*, 3> tables = s.tables();  // in kRoles' order
  for (size_t i = 0; i < tables.size(); ++i) {
    const NodeTable* table = tables[i];
    for (const auto& [field, count] : table->heartbeat_warnings()) {
      metrics.heartbeat_warnings[{kRoles[i], field}] += count;
    }
    metrics.stale_incarnation_events += table->stale_incarnation_events();
    metrics.rejected_payloads += table->rejected_payloads();
    for (const auto& [edge, count] : table->transitions()) metrics.transitions[edge] += count;
  }
  absl::MutexLock lock(&metrics_mu_);
  table_metrics_ = std::move(metrics);
}

absl::Time ClusterManager::ProbeContact(absl::Time now) {
  if (options_.contact_grace <= absl::ZeroDuration()) return absl::InfiniteFuture();
  std::shared_ptr<ContactProbe> contact = state_->contact;
  absl::Time confirmed;
  {
    absl::MutexLock lock(&contact->mu);
    confirmed = contact->confirmed;
    if (contact->outstanding) return confirmed + options_.contact_grace;
    contact->outstanding = true;
  }
  // An answer, found or not, comes after every change the server applied before it read this
  // request (ZooKeeper delivers a session's watch events and answers in order).
  registry_->ExistsAsync(options_.paths.masters,
                         [contact, sent = now](absl::StatusOr<std::optional<registry::Stat>> r) {
                           absl::MutexLock lock(&contact->mu);
                           contact->outstanding = false;
                           if (r.ok() || absl::IsNotFound(r.status())) {
                             contact->confirmed = std::max(contact->confirmed, sent);
                           }
                         });
  return confirmed + options_.contact_grace;
}

void ClusterManager::ScheduleTick() {
  state_->executor.PostAfter(options_.tick_interval, [this] {
    Publish(Tick::kEvery);
    ScheduleTick();
  });
}

void ClusterManager::ArmDeadlineTimer(absl::Time now) {
  State& s = *state_;
  s.executor.AssertCurrent();
  if (!options_.run_timers) return;
  absl::Time next = absl::InfiniteFuture();
  for (NodeTable* table : s.mutable_tables()) next = std::min(next, table->NextDeadline());
  // A deadline already past, that the tick just made did not act on, waits for the contact
  // probe to confirm the silence (contact_grace): the periodic tick retries it.
  if (next <= now || next >= s.deadline_armed) return;
  if (s.deadline_timer != 0) s.executor.Cancel(s.deadline_timer);
  s.deadline_armed = next;
  // At the deadline itself: `now` was read when the batch began, and the clock has moved since.
  s.deadline_timer = s.executor.PostAt(next, [this] {
    State& s = *state_;
    s.executor.AssertCurrent();
    s.deadline_timer = 0;
    s.deadline_armed = absl::InfiniteFuture();
    Publish(Tick::kDue);
  });
}

void ClusterManager::ScheduleResync() {
  State& s = *state_;
  s.executor.AssertCurrent();
  const double jitter = options_.resync_jitter > 0
                            ? absl::Uniform(s.rng, -options_.resync_jitter, options_.resync_jitter)
                            : 0.0;
  s.executor.PostAfter(options_.resync_interval * (1.0 + jitter), [this] {
    ResyncAll(/*group_sources=*/false);
    ScheduleResync();
  });
}

void ClusterManager::TickNow() {
  if (!state_->executor_started) return;
  absl::Notification done;
  if (!state_->executor.Post([&] {
        Publish(Tick::kEvery);
        done.Notify();
      })) {
    return;
  }
  done.WaitForNotification();
}

void ClusterManager::ResyncNow() {
  state_->executor.Post([this] { ResyncAll(/*group_sources=*/true); });
}

void ClusterManager::ResyncAll(bool group_sources) {
  State& s = *state_;
  s.executor.AssertCurrent();
  for (const auto& subscription : s.subscriptions) subscription->Resync();
  // Group sources poll on their own; they are read again on demand only.
  if (!group_sources) return;
  for (State::GroupSourceEntry& entry : s.group_sources) entry.source->RefreshNow();
}

ViewSnapshot ClusterManager::Snapshot() const {
  ViewSnapshot snapshot;
  FreshnessRecord record;
  {
    // Shared: the lookups on gRPC's threads do not wait for each other, only for a publish.
    absl::ReaderMutexLock lock(&view_mu_);
    snapshot.view = view_;
    record = freshness_;
  }
  const absl::Time now = options_.clock->Now();
  snapshot.freshness =
      EvaluateFreshness(record, registry_->session(), now, options_.staleness_bound);
  ApplySelfPreservation(snapshot.view->self_preservation, now, &snapshot.freshness);
  return snapshot;
}

}  // namespace roster::cluster
