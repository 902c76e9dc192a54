// ClusterManager: turns registry events into one consistent, versioned view of the cluster.
//
// It owns the registry subscriptions (masters, workers, alert servers, the coordinator znode,
// roster's drain records), applies their events on its own serial executor in batches, and
// publishes an immutable ClusterView after each batch (version strictly increasing; readers
// take a shared_ptr and never lock live state). MasterCluster and WorkerCluster own their
// parts; WorkerSelector serves selections from the published view.
//
// Consistency (docs/consistency.md):
//  - watch events update the view at once;
//  - a jittered periodic full resync re-reads everything and counts what it corrects
//    (resync_corrections_total); one follows every reconnect and every new session;
//  - the view is Ready only after its first full read; it is stale while the session is not
//    connected or a re-read after a reconnect has not finished. Lookups answer while stale
//    (flagged); slot and leader answers are refused once it has been stale for longer than
//    `staleness_bound`, because acting on them can double-process work;
//  - a layout root rosterd may not list (ZooKeeper NOAUTH), or a session ZooKeeper refused
//    (AUTH_FAILED), leaves a view that may look empty while the cluster is not: selection,
//    slot and leader answers are refused then, naming the cause (Freshness::access_problem).
//
// One class in six files: cluster_manager.cc (start, subscriptions, the inbox, publishing,
// timers), cluster_manager_drains.cc, cluster_manager_sources.cc (group sources and the
// DolphinScheduler release), cluster_manager_events.cc (applying events, reconciling full
// reads), cluster_manager_answers.cc (selection, slot and leader answers, watches) and
// cluster_manager_metrics.cc (the Prometheus metrics).
//
// Thread-safety: thread-safe. Event handling runs on the cluster executor; the query methods
// read the published view and a few atomics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cluster/burst_detector.h"
#include "cluster/change_fanout.h"
#include "cluster/change_log.h"
#include "cluster/cluster_view.h"
#include "cluster/ds_version.h"
#include "cluster/freshness.h"
#include "cluster/group_source.h"
#include "cluster/heartbeat_codec.h"
#include "cluster/layout.h"
#include "cluster/master_cluster.h"
#include "cluster/node_state_machine.h"
#include "cluster/self_preservation.h"
#include "cluster/view_builder.h"
#include "cluster/worker_selector.h"
#include "registry/registry.h"
#include "util/clock.h"
#include "util/metrics.h"

namespace roster::cluster {

struct ClusterOptions {
  ClusterPaths paths;
  NodeTimingOptions timing;
  HeartbeatLimits heartbeat_limits;
  // A NORMAL heartbeat over either usage (a fraction; 0 disables) counts as OVERLOAD.
  double overload_cpu_usage = 0;
  double overload_memory_usage = 0;
  // How long OFFLINE nodes stay visible after their znode is gone.
  absl::Duration tombstone_retention = absl::Minutes(10);
  // Optional static worker-group mapping file (see WorkerCluster::LoadStaticGroups), checked
  // by Start() and re-read when it changes (FileGroupSource), every `group_file_poll_interval`.
  std::string worker_group_file;
  absl::Duration group_file_poll_interval = absl::Seconds(10);
  // The DolphinScheduler release to answer as; kAuto detects it (docs/dolphinscheduler.md).
  DsVersion dolphinscheduler_version = DsVersion::kAuto;
  // Overrides the release's slot rule.
  std::optional<SlotPolicy> slot_policy;
  // DYNAMIC_WEIGHTED_ROUND_ROBIN's weights (DolphinScheduler 3.3's
  // worker-load-balancer-configuration-properties) and the workers' warm-up after a start.
  DynamicWeightOptions dynamic_weights;
  absl::Duration warm_up = absl::Minutes(10);
  // The periodic full resync: every interval, +- jitter (a fraction of it).
  absl::Duration resync_interval = absl::Seconds(60);
  double resync_jitter = 0.2;
  // The periodic tick: heartbeat timeouts, probation and tombstone retention are evaluated
  // (and the contact probe sent). Each of those deadlines also has a timer of its own, so they
  // are met on time; the tick is the backstop, and retries a deadline the contact probe held
  // back (docs/states.md, "Timers").
  absl::Duration tick_interval = absl::Seconds(1);
  // When positive, every tick also reads the masters' directory as a contact probe, and a
  // node's silence counts only until the last probe answered (sent at T: every change made
  // before T has been seen) plus this grace. A connection that went quiet (a network
  // partition) is noticed by the ZooKeeper client only after 2/3 of the session timeout; until
  // then the view is not stale, yet no heartbeat can arrive: without the probe every node would
  // be timed out as FAULT. Must exceed tick_interval plus a round trip, and stay below the
  // heartbeat timeout. Zero: off (nodes time out on the clock alone).
  absl::Duration contact_grace = absl::ZeroDuration();
  // Slot and leader answers are refused once the view has been stale this long. The daemon
  // sets it to 2/3 of the registry session timeout.
  absl::Duration staleness_bound = absl::Seconds(20);
  // Suspecting rosterd's own view when too many nodes go FAULT or OFFLINE at once
  // (cluster/self_preservation.h, docs/consistency.md).
  SelfPreservationOptions self_preservation;
  // Changes that are only load figures (ViewChanges::LoadOnly(): a heartbeat that changes no
  // node's state) are published at most once per window: at 1,000 heartbeats/s, building a
  // view of 10,000 workers for each would cost a third of a core. The first change after a
  // quiet window is published at once, any other change at once with the held ones, and a held
  // one at the latest `publish_window` after the last publish. Zero: every batch at once (so
  // always with run_timers = false: nothing would publish the held changes).
  absl::Duration publish_window = absl::Milliseconds(10);
  // Changes kept for watchers resuming from a version.
  size_t change_log_capacity = 16384;
  // Published batches that may wait for the watch fan-out thread; beyond, every watcher is
  // told it lost changes (ChangeFanout).
  size_t watch_fanout_max_batches = 4096;
  // False in tests that drive time by hand with TickNow() and ResyncNow().
  bool run_timers = true;
  std::string name = "cluster";  // the executor thread's name
  Clock* clock = Clock::Real();  // not owned
};

// One published view and the freshness committed with it, evaluated when it was taken. Every
// answer is computed from one snapshot, so the version and freshness it reports are those of
// the view it came from.
struct ViewSnapshot {
  ClusterViewPtr view;
  Freshness freshness;
};

struct LeaderAnswer {
  LeaderInfo leader;
  NodeInfoPtr master;  // the leader's master record, if it is registered as a master
};

// A running WatchChanges() registration; destroying it unsubscribes (at most one more call of
// the listener may already be under way, so the listener must own what it touches).
class ChangeWatch {
 public:
  virtual ~ChangeWatch() = default;
};

class ClusterManager {
 public:
  // `registry` must outlive the manager and be started by the caller.
  ClusterManager(registry::Registry* registry, ClusterOptions options);
  ~ClusterManager();  // Calls Shutdown().

  ClusterManager(const ClusterManager&) = delete;
  ClusterManager& operator=(const ClusterManager&) = delete;

  // Adds a source of worker groups defined outside the registry (DolphinScheduler's database,
  // say); before Start(), which starts it. The view is not synced before every source has
  // reported once (groups, or why it has none).
  void AddGroupSource(std::unique_ptr<GroupSource> source);

  // Validates the options, checks the static group file, subscribes, starts the executor, the
  // group sources and the timers. InvalidArgument/NotFound for bad options; FailedPrecondition
  // if called twice.
  absl::Status Start();
  // Unsubscribes, stops the timers, fails pending operator calls with Cancelled, and joins
  // the executor. Idempotent.
  void Shutdown();

  // The current view (never null; empty and unsynced before the first full read).
  ClusterViewPtr view() const;
  // The current view with its freshness, taken together.
  ViewSnapshot Snapshot() const;
  Freshness freshness() const { return Snapshot().freshness; }
  // The first full read completed.
  bool ready() const { return freshness().ever_synced; }

  // Each answer below comes from `at` alone (take it with Snapshot()).
  // Selection (see WorkerSelector), whose worker is borrowed from `at`: hold `at` while using
  // it. Unavailable before the first sync, and while the view has an access problem
  // (Freshness::access_problem), saying so.
  absl::StatusOr<Selection> SelectWorker(const ViewSnapshot& at, const SelectRequest& request);
  // Authority answers; Unavailable when `at` is not authoritative (see Freshness: stale
  // beyond the bound, or held by self-preservation), saying why.
  absl::StatusOr<SlotAnswer> GetMasterSlot(const ViewSnapshot& at, absl::string_view address,
                                           const std::optional<IncarnationClaim>& claim) const;
  absl::StatusOr<LeaderAnswer> GetLeader(const ViewSnapshot& at) const;

  // Operator actions, recorded in the registry (so every replica agrees and they survive a
  // restart) under paths.drains. `done` runs once the view shows the change, on the cluster
  // executor. NotFound for an address no role knows; InvalidArgument for a bad address or an
  // empty reason; the registry's error otherwise.
  void Drain(std::string address, std::string reason,
             absl::AnyInvocable<void(absl::Status) &&> done);
  void Undrain(std::string address, absl::AnyInvocable<void(absl::Status) &&> done);

  // Watches changes from `from_version` (0: from a snapshot). `listener.on_start` runs once,
  // then `on_changes` for every later batch, in order, or `on_lost` once if the watch fan-out
  // fell too far behind; all on the fan-out thread (ChangeFanout), never on the cluster
  // executor: however many watchers there are, event application does not wait for them.
  // None of them may block.
  std::unique_ptr<ChangeWatch> WatchChanges(uint64_t from_version, WatchListener listener);

  // The watch fan-out's figures: overflows, batches waiting, watchers.
  const ChangeFanout& fanout() const;

  // Accepts at once the losses self-preservation holds (an operator who knows the outage is
  // real), and waits for the view that shows them. Returns how many nodes were held.
  int AcceptHeldLosses(std::string why);
  // The same without waiting: `done` gets the count once the view shows it (on the cluster
  // executor), or Unavailable when the manager is not running.
  void AcceptHeldLosses(std::string why, absl::AnyInvocable<void(absl::StatusOr<int>) &&> done);

  // Runs the periodic tick now and waits for it (tests with run_timers = false).
  void TickNow();
  // Starts a full resync of every subscription now, and re-reads every group source
  // (asynchronous; watch resyncs()).
  void ResyncNow();

  // Counters, for metrics and tests.
  int64_t events_applied() const { return events_applied_.value(); }
  int64_t resync_corrections() const { return resync_corrections_.value(); }
  // Full reads completed by every subscription (the first sync counts as one).
  int64_t resyncs() const { return resyncs_.value(); }
  // Published views whose slot assignment (its epoch) differs from the synced view before.
  int64_t slot_epoch_changes() const { return slot_epoch_changes_.value(); }
  // Published views naming a leader (address and fencing token) other than the synced view
  // before; a leader lost is not counted (roster_leader_present shows it), its successor is.
  int64_t leader_changes() const { return leader_changes_.value(); }
  // Writes every metric in Prometheus text format (docs/operations.md, "Metrics").
  void WriteMetrics(PrometheusWriter* writer) const;

 private:
  enum class Source { kMasters, kWorkers, kAlertServers, kCoordinator, kDrains };
  static constexpr int kSourceCount = 5;
  // An event handed over by a registry listener, applied in order on the executor.
  struct InboxItem {
    Source source = Source::kMasters;
    std::optional<registry::RegistryEvent> event;
    // A node's heartbeat in `event`, decoded on the registry's thread (NodeTable::Decode()).
    std::unique_ptr<DecodedHeartbeat> decoded;
    std::optional<registry::SessionEvent> session;
    // From group source `group_source` (an index): new groups, or a new status.
    int group_source = -1;
    std::shared_ptr<const GroupSnapshot> groups;
    std::optional<GroupSourceStatus> group_status;
  };
  struct State;  // Everything confined to the executor; see cluster_manager.cc.

  // Called by the registry's and the group sources' listeners. With `run_inline` (a registry
  // event from a watch: the registry executor holds no lock of ours, and waits on nothing the
  // manager does) the batch is applied and published on the calling thread when the manager's
  // executor is idle (SerialExecutor::RunInlineOrPost): one thread switch fewer per event.
  // Full reads and bursts (BurstDetector) are not run inline: their events are cheaper in
  // batches (one publish per batch, not per event).
  void Enqueue(InboxItem item, bool run_inline = false);
  // Whether an event of `path` should have its heartbeat decoded ahead: no event of it decoded
  // ahead went to the same inbox (decoded_ahead_). Called by the registry's listeners.
  bool FirstToDecode(absl::string_view path);
  // The rest runs on the cluster executor.
  absl::Status Subscribe();
  void DrainInbox();
  void ApplySession(const registry::SessionEvent& event, absl::Time now);
  void ApplyGroupSource(const InboxItem& item);
  // The worker groups of every group source, merged, as the workers see them.
  void UpdateMembership();
  // Decides again which DolphinScheduler release to answer as, when the evidence changed, and
  // applies its rules (slot policy, default group); records what changed in `changes`.
  void DetectRelease(absl::Time now, absl::Time wall_now, ViewChanges* changes);
  // `decoded`: see NodeTable::Apply().
  void ApplyEvent(Source source, registry::RegistryEvent&& event, absl::Time now,
                  absl::Time wall_now, std::unique_ptr<DecodedHeartbeat> decoded = nullptr);
  // After a full read: records whether its root could be listed, and turns the roots that
  // cannot into the view's access problem (logged when it starts, changes or ends).
  void NoteRootAccess(const registry::RegistryEvent& synced, absl::Time now);
  // After a full read: makes the live state match `synced.snapshot`, counting corrections.
  void Reconcile(Source source, const registry::RegistryEvent& synced, absl::Time now,
                 absl::Time wall_now);
  int64_t ReconcileTable(Source source, const std::vector<registry::RegistryEvent>& snapshot,
                         absl::Time now, absl::Time wall_now);
  // Which nodes a publish lets time pass for (NodeTable::Tick).
  enum class Tick {
    kNone,   // a batch of events
    kDue,    // the deadline timer: the nodes whose deadline has come (NodeTable::TickDue)
    kEvery,  // the periodic tick, TickNow(): every node
  };
  // The end of every batch and tick: publishes a view if anything changed, then commits the
  // batch's freshness and completes operator calls the view now shows.
  void Publish(Tick tick);
  // What this batch changed, from the live tables (ticking them as `tick` says).
  ViewChanges CollectChanges(Tick tick, absl::Time now, absl::Time wall_now);
  // Logs `built`'s changes, stamps its version, publishes it and tells the watchers.
  void PublishView(BuiltView built);
  // Builds and publishes the next view from `changes`, if they change anything; returns
  // whether the published view is synced.
  bool BuildAndPublish(ViewChanges changes, absl::Time now);
  // Holds load-only `changes` back when the last publish was less than publish_window ago
  // (arming the timer that publishes them); returns whether it did.
  bool HoldInWindow(ViewChanges* changes, const ClusterView& previous, absl::Time now);
  // The live tables' info of a node, for self-preservation (on the executor).
  LiveNodeLookup LiveLookup();
  // Lets self-preservation rewrite this batch's node changes (and accept held losses an
  // operator asked to accept).
  void Preserve(absl::Time now, absl::Time wall_now, ViewChanges* changes);
  // Makes the freshness of this batch visible with the view it belongs to.
  // When a publish began, had collected (parsed and derived) its changes, and had built the view.
  struct PublishTiming {
    absl::Time began;
    absl::Time collected;
    absl::Time built;
  };
  void CommitFreshness(bool view_synced, const PublishTiming& timing);
  // Copies the executor-confined table counters for WriteMetrics().
  void UpdateTableMetrics();
  void ScheduleTick();
  // Sets a timer for the earliest deadline of the tables (NodeTable::NextDeadline()) when it
  // comes before the one already set: a silent node is FAULT at its heartbeat timeout, not up
  // to a tick_interval later.
  void ArmDeadlineTimer(absl::Time now);
  // Sends a contact probe unless one is under way (see ClusterOptions::contact_grace), and
  // returns until when the registry has been observed: the last answered probe's send time
  // plus the grace (InfiniteFuture when probing is off).
  absl::Time ProbeContact(absl::Time now);
  void ScheduleResync();
  // Every subscription reads everything again (and every group source, if asked).
  void ResyncAll(bool group_sources);

  // Drains (cluster_manager_drains.cc).
  // Writes or deletes the drain record of `address`; `done` once the view shows it.
  void WriteDrain(std::string address, bool drained, std::string reason,
                  absl::AnyInvocable<void(absl::Status) &&> done);
  // An event of the drains subscription: applies the record to every role's table.
  void ApplyDrain(const registry::RegistryEvent& event, absl::Time now, absl::Time wall_now);
  // After a full read of the drains: applies missed records and removals; returns how many.
  int64_t ReconcileDrains(const std::vector<registry::RegistryEvent>& snapshot, absl::Time now,
                          absl::Time wall_now);
  // Completes the operator calls whose change the view now shows (or that timed out).
  void ResolvePendingDrains(absl::Time now);

  registry::Registry* const registry_;
  const ClusterOptions options_;
  std::unique_ptr<State> state_;
  // One selector per DolphinScheduler release, each with that release's rules; a selection
  // uses the one of the release its view answers as.
  std::array<std::unique_ptr<WorkerSelector>, kDsVersionCount> selectors_;

  mutable absl::Mutex inbox_mu_;
  std::vector<InboxItem> inbox_ ABSL_GUARDED_BY(inbox_mu_);
  // Which inbox events go to now: DrainInbox() counts the inboxes it takes.
  std::atomic<uint64_t> inbox_generation_{0};

  // Decoding ahead (FirstToDecode()): hashes of the paths of the events whose heartbeat was
  // decoded ahead for inbox `decoded_inbox_`. A later event of one of them is left to the
  // executor, which parses only a znode's newest payload: a burst of writes to one znode costs
  // one decode ahead, not one per write. (A collision, or an event racing the inbox's swap, only
  // leaves a decode to the executor or makes one more.) Its own lock: the listeners, one at a
  // time, are the only ones to take it, and never wait for the executor's swap.
  absl::Mutex decode_mu_;
  uint64_t decoded_inbox_ ABSL_GUARDED_BY(decode_mu_) = 0;
  absl::flat_hash_set<size_t> decoded_ahead_ ABSL_GUARDED_BY(decode_mu_);

  // What readers see: the published view and the freshness committed with it.
  mutable absl::Mutex view_mu_;
  ClusterViewPtr view_ ABSL_GUARDED_BY(view_mu_);
  FreshnessRecord freshness_ ABSL_GUARDED_BY(view_mu_);

  struct TableMetrics {
    int64_t stale_incarnation_events = 0;
    int64_t rejected_payloads = 0;
    std::map<std::pair<NodeState, NodeState>, int64_t> transitions;
    std::map<std::pair<NodeRole, std::string>, int64_t> heartbeat_warnings;  // by role, field
  };
  // The parts of WriteMetrics() (cluster_manager_metrics.cc).
  void WriteQueueMetrics(PrometheusWriter* writer) const;
  void WriteTableMetrics(PrometheusWriter* writer) const;
  mutable absl::Mutex metrics_mu_;
  TableMetrics table_metrics_ ABSL_GUARDED_BY(metrics_mu_);

  Counter events_applied_;
  Counter resync_corrections_;
  Counter resyncs_;
  Counter publishes_;
  Counter slot_epoch_changes_;
  Counter leader_changes_;
  // Set once the first full read is published: from then on a registry event from a watch
  // may be applied on the registry's thread (Enqueue). Before, the first read's thousands of
  // events arrive back to back and are applied in batches on the executor.
  std::atomic<bool> inline_events_{false};
  // Whether an event that starts a batch is part of a burst (options_.clock's Unix ns).
  BurstDetector burst_;
  // Wall time of Start(), in ms: how long a group source that never answered has been stale.
  std::atomic<int64_t> started_wall_ms_{0};
};

}  // namespace roster::cluster
