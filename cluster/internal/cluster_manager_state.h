// The executor-confined state of ClusterManager, shared by its translation units
// (cluster_manager.cc, cluster_manager_drains.cc). Internal to cluster/: nothing outside the
// ClusterManager implementation includes it.
//
// Thread-safety: State is confined to the cluster executor (ABSL_GUARDED_BY(executor): clang's
// -Wthread-safety checks it; every function that runs there starts with
// executor.AssertCurrent()), except the table options (written by Start() before the executor
// runs, read by the tables), `started`, `stopped` and `executor_started` (Start() and Shutdown(),
// on the owner's thread), `executor` itself (thread-safe) and `fanout` (set at construction;
// a thread-safe ChangeFanout).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cluster/change_fanout.h"
#include "cluster/change_log.h"
#include "cluster/cluster_manager.h"
#include "cluster/ds_profile.h"
#include "cluster/freshness.h"
#include "cluster/group_source.h"
#include "cluster/master_cluster.h"
#include "cluster/node_table.h"
#include "cluster/self_preservation.h"
#include "cluster/worker_cluster.h"
#include "registry/registry.h"
#include "util/executor.h"

namespace roster::cluster {

// The registry contact probe (ClusterOptions::contact_grace). Its answer arrives on the
// registry executor, possibly after the manager is gone: it lives behind a shared_ptr and only
// records under its own lock.
struct ContactProbe {
  absl::Mutex mu;
  // The send time of the latest probe answered (on the manager's monotonic clock).
  absl::Time confirmed ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  bool outstanding ABSL_GUARDED_BY(mu) = false;
};

// Everything the executor owns.
struct ClusterManager::State {
  explicit State(const ClusterOptions& options)
      : master_options(TableOptions(options, NodeRole::kMaster)),
        worker_options(TableOptions(options, NodeRole::kWorker)),
        alert_options(TableOptions(options, NodeRole::kAlertServer)),
        masters(options.paths.masters, options.paths.coordinator, &master_options),
        workers(options.paths.workers, &worker_options),
        alerts(&alert_options),
        log(options.change_log_capacity),
        preservation(options.self_preservation),
        fanout(std::make_shared<ChangeFanout>(
            FanoutOptions{options.watch_fanout_max_batches, options.name + "-fanout"})),
        executor(options.name, options.clock) {}

  static NodeTableOptions TableOptions(const ClusterOptions& options, NodeRole role) {
    NodeTableOptions table;
    table.role = role;
    table.timing = options.timing;
    table.limits = options.heartbeat_limits;
    table.overload_cpu_usage = options.overload_cpu_usage;
    table.overload_memory_usage = options.overload_memory_usage;
    table.tombstone_retention = options.tombstone_retention;
    if (options.dolphinscheduler_version != DsVersion::kAuto) {
      table.dialect = ProfileOf(options.dolphinscheduler_version).dialect;
    }
    return table;
  }

  // Masters, workers, alert servers.
  std::array<const NodeTable*, 3> tables() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    return {&masters.table(), &workers.table(), &alerts};
  }
  std::array<NodeTable*, 3> mutable_tables() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor) {
    return {&masters.table(), &workers.table(), &alerts};
  }

  struct Drain {
    std::string address;
    std::string reason;
  };
  // Operator calls waiting for the view to show their change.
  struct PendingDrain {
    std::string address;
    bool drained;
    absl::Time deadline;
    absl::AnyInvocable<void(absl::Status) &&> done;
  };

  NodeTableOptions master_options;
  NodeTableOptions worker_options;
  NodeTableOptions alert_options;
  MasterCluster masters ABSL_GUARDED_BY(executor);
  WorkerCluster workers ABSL_GUARDED_BY(executor);
  NodeTable alerts ABSL_GUARDED_BY(executor);
  std::map<std::string, Drain> drains ABSL_GUARDED_BY(executor);  // by drain znode path
  std::map<std::string, std::string> drain_problems ABSL_GUARDED_BY(executor);  // path -> reason
  ChangeLog log ABSL_GUARDED_BY(executor);
  // Rejected znodes (or drain problems, or the coordinator's problem) may have changed since
  // the last published view.
  bool rejected_dirty ABSL_GUARDED_BY(executor) = false;
  // Set by Subscribe(), on the executor.
  std::optional<FreshnessTracker> freshness ABSL_GUARDED_BY(executor);
  // Subscription roots the last full read could not list, with why (PermissionDenied).
  std::set<std::string> denied_roots ABSL_GUARDED_BY(executor);
  SelfPreservation preservation ABSL_GUARDED_BY(executor);
  // An operator's AcceptHeldLosses() for the next publish (why), and how many it accepted.
  std::optional<std::string> accept_held ABSL_GUARDED_BY(executor);
  int accepted_held ABSL_GUARDED_BY(executor) = 0;
  // Load-only node changes held by the publish window, when the last view was published, and
  // the timer that publishes the held changes (0: none).
  ViewChanges held ABSL_GUARDED_BY(executor);
  absl::Time last_published ABSL_GUARDED_BY(executor) = absl::InfinitePast();
  SerialExecutor::TimerId held_timer ABSL_GUARDED_BY(executor) = 0;
  // DrainInbox()'s other buffer: empty between drains, keeping its capacity (while batches
  // come near it), so that the inbox and it trade places without reallocating.
  std::vector<InboxItem> spare_inbox ABSL_GUARDED_BY(executor);
  // When the subscriptions were started (the cold start's reference).
  absl::Time started_at ABSL_GUARDED_BY(executor);
  // The timer for the tables' next deadline (ClusterManager::ArmDeadlineTimer()), and when it
  // fires (InfiniteFuture() when none is set).
  SerialExecutor::TimerId deadline_timer ABSL_GUARDED_BY(executor) = 0;
  absl::Time deadline_armed ABSL_GUARDED_BY(executor) = absl::InfiniteFuture();

  // Worker groups from outside the registry, in the order they were added (the group file
  // first). `source` is thread-safe; the rest is confined to the executor.
  struct GroupSourceEntry {
    std::unique_ptr<GroupSource> source;
    std::string name;  // GroupSource::Describe()
    std::shared_ptr<const GroupSnapshot> snapshot;
    GroupSourceStatus status;
    bool reported = false;  // a snapshot or a status arrived
  };
  std::vector<GroupSourceEntry> group_sources ABSL_GUARDED_BY(executor);
  // A source's status changed since the last published view.
  bool group_sources_dirty ABSL_GUARDED_BY(executor) = false;
  // The release in use lets a database row named "default" replace the implicit group.
  bool default_row_overrides ABSL_GUARDED_BY(executor) = false;
  // The slot rule in force (the DolphinScheduler release's, or --slot_policy).
  SlotPolicy slot_policy ABSL_GUARDED_BY(executor) = SlotPolicy::kStable;
  // The DolphinScheduler release answered as, and what it was decided from.
  DsDetection detection ABSL_GUARDED_BY(executor);
  RegistryEvidence evidence ABSL_GUARDED_BY(executor);
  // A node appeared, left, or changed heartbeat format since the last detection.
  bool detection_dirty ABSL_GUARDED_BY(executor) = true;
  std::vector<PendingDrain> pending ABSL_GUARDED_BY(executor);
  // Behind a shared_ptr so a ChangeWatch handle can unsubscribe safely even after the manager
  // is gone.
  std::shared_ptr<ChangeFanout> fanout;
  std::shared_ptr<ContactProbe> contact = std::make_shared<ContactProbe>();
  absl::BitGen rng ABSL_GUARDED_BY(executor);
  bool started = false;
  bool executor_started = false;
  bool stopped = false;

  // Destroyed before the executor: no listener runs once these are gone.
  std::vector<std::unique_ptr<registry::Subscription>> subscriptions ABSL_GUARDED_BY(executor);
  std::unique_ptr<registry::ListenerHandle> session_watch ABSL_GUARDED_BY(executor);
  SerialExecutor executor;
};

}  // namespace roster::cluster
