// WorkerSelector: picks the worker of a group that should take the next task, over a published
// ClusterView, with each strategy computed the way the configured DolphinScheduler (DS) version
// computes it, pick by pick. `Selection::rule` names the rule that was applied.
//
// DS 2.0.x - 3.2.x (dispatch/host/assign/*.java, dispatch/host/*HostManager.java):
//  RANDOM        RandomSelector: random weighted by workerHostWeight.
//  ROUND_ROBIN   RoundRobinSelector: smooth weighted round robin on workerHostWeight (each pick:
//                every current += weight, the largest is picked and loses the total; a changed
//                weight restarts its current at 0). No warm-up.
//  LOWER_WEIGHT  LowerWeightRoundRobin over HostWeight: every current += weight, the LOWEST is
//                picked and gains the total; a HostWeight starts with current = weight. weight:
//                  2.0.x - 3.2.0 (kDolphinScheduler31): 10 cpu + 20 memory + 70 loadAverage
//                  3.2.1 - 3.2.2 (kDolphinScheduler32): 100 - (20 cpu + 20 memory + 50 disk +
//                    10 threadPoolUsage), where 3.2.1+ writes threadPoolUsage as a task count
//                times warm_up / uptime while 0 < uptime < warm_up (WARM_UP_TIME, 10 min; uptime
//                = wall now - the worker's startupTime). DS rebuilds every HostWeight (weights and
//                currents) at each worker refresh (master.worker-group-refresh-interval, 10 s):
//                roster does the same every `lower_weight_refresh`.
//                Known faults kept as DS has them: in 3.2.1+ the weight is spare capacity, so the
//                MOST loaded workers get the most tasks, and a starting worker the fewest.
// DS 3.3 (dev, cluster/loadbalancer/*.java):
//  RANDOM        RandomWorkerLoadBalancer: uniform.
//  ROUND_ROBIN   RoundRobinWorkerLoadBalancer: workers[counter++ % n].
//  FIXED_WEIGHTED_ROUND_ROBIN    credit round robin: a counter walks the workers from index 1,
//                adding weight to the visited one's current until one reaches the total weight,
//                which it then loses; weight = workerHostWeight as first seen.
//  DYNAMIC_WEIGHTED_ROUND_ROBIN  the same walk on 100 - (cpuW cpu + memW memory + tpW
//                threadPoolUsage) / 3 (DynamicWeightOptions, 30/30/40 by default); a new
//                heartbeat replaces the weight and restarts the current at 0.
//  LOWER_WEIGHT  does not exist in 3.3: computed as in 3.2.1 - 3.2.2.
// Either semantics: FIXED_/DYNAMIC_WEIGHTED_ROUND_ROBIN are DS 3.3's (3.2 has neither).
// roster's own (DS has no equivalent):
//  LOWER_LOAD_WEIGHTED_ROUND_ROBIN  what LOWER_WEIGHT means to do: smooth weighted round robin
//                (largest current first) on spare capacity 100 - (20 cpu + 20 memory + 50 disk +
//                10 threadPool), usages clamped to [0, 1], ramped up linearly over the warm-up,
//                at least 1; currents survive heartbeats.
//
// Where roster departs from DS, on purpose: candidates are always in address order (DS iterates
// hash sets and database lists; ties go to the first); every state is per group (DS 3.3 shares
// its counter and currents across groups); a workerHostWeight of 0 means "never" (DS picks such a
// worker when every weight is 0); a LOWER_WEIGHT, DYNAMIC or LOWER_LOAD weight below 1 is raised
// to 1 (DS's negative weights, from an unknown loadAverage of -1 or a threadPoolUsage count, send
// every task to one worker); a worker that joins between two LOWER_WEIGHT refreshes is used at
// once, with current = weight (DS waits for the refresh); DS 2.0.9/3.1.x/3.2.0's preference for
// workers with no waiting task is not applied (roster's heartbeat does not carry
// workerWaitingTaskCount).
//
// Selectable: RUNNING and not drained, or OVERLOAD when the request allows it; never
// REGISTERING, FAULT, RECOVERING, OFFLINE, drained or excluded. No selectable worker is an
// error that says why, never an empty success.
//
// Cost: the first pick from a new view brings the group's state up to date in O(the members
// replaced since the last view seen) when heartbeats only replaced members' nodes (views share
// the untouched chunks of their lists, cluster/node_list.h), and in O(group) when members
// joined or left, or while a worker warms up (its LOWER_LOAD weight moves with the clock).
// Each pick then costs what its strategy walks (docs/scale.md, "SelectWorker").
//
// Thread-safety: thread-safe. Strategy state (counters, current weights) is per group, behind a
// per-group mutex, and survives view changes (kept by worker address).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cluster/cluster_view.h"
#include "util/clock.h"

namespace roster::cluster {

enum class SelectionStrategy {
  kRandom,
  kRoundRobin,
  kFixedWeightedRoundRobin,
  kDynamicWeightedRoundRobin,
  kLowerWeight,
  kLowerLoadWeightedRoundRobin,  // roster's own: see the file comment
};

absl::string_view SelectionStrategyName(SelectionStrategy strategy);

// Which DS version's rules the strategy names follow (see the file comment).
enum class StrategySemantics {
  kDolphinScheduler31,  // 2.0.x - 3.1.x and 3.2.0: LOWER_WEIGHT on loadAverage
  kDolphinScheduler32,  // 3.2.1 - 3.2.2: LOWER_WEIGHT on disk and threadPoolUsage
  kDolphinScheduler33,  // dev (3.3): the cluster/loadbalancer balancers
};

// DS 3.3's worker-load-balancer-configuration-properties.dynamic-weight-config-properties
// (WorkerLoadBalancerConfigurationProperties.java @ dev): each >= 0, summing to 100.
struct DynamicWeightOptions {
  int cpu_usage_weight = 30;
  int memory_usage_weight = 30;
  int thread_pool_usage_weight = 40;
};

struct SelectorOptions {
  StrategySemantics semantics = StrategySemantics::kDolphinScheduler33;
  DynamicWeightOptions dynamic_weights;
  // DS's WARM_UP_TIME (Constants.java, 10 min in every version).
  absl::Duration warm_up = absl::Minutes(10);
  // How often LOWER_WEIGHT rebuilds its weights and currents: 10 s as DS 3.0 - 3.2's
  // master.worker-group-refresh-interval (ServerNodeManager.java); 1 s for DS 2.0.x
  // (LowerWeightHostManager.RefreshResourceTask @ 2.0.9-release).
  absl::Duration lower_weight_refresh = absl::Seconds(10);
  // Also rebuild whenever a member of the group changes (a heartbeat, a join, a leave), as DS
  // 3.0.x does on every worker znode event (ServerNodeManager.WorkerDataListener
  // @ 3.0.6-release).
  bool lower_weight_rebuild_on_change = false;
  // Now() times the refresh; WallNow() is compared with the workers' startupTime for the
  // warm-up. Null: Clock::Real().
  Clock* clock = nullptr;
};

// InvalidArgument naming the field: a negative dynamic weight, dynamic weights not summing to
// 100 (as DS refuses them), a negative warm-up or refresh.
absl::Status ValidateSelectorOptions(const SelectorOptions& options);

struct SelectRequest {
  std::string group = "default";
  // Unset: the caller's default. ClusterManager fills in the DolphinScheduler release's
  // (LOWER_WEIGHT up to 3.2.2, DYNAMIC_WEIGHTED_ROUND_ROBIN in 3.3); the selector alone uses
  // ROUND_ROBIN.
  std::optional<SelectionStrategy> strategy;
  std::vector<std::string> exclude;  // addresses never to pick (e.g. the worker that just failed)
  bool allow_overload = false;
  bool explain = false;
};

// One worker the selector looked at, for `explain`.
struct CandidateExplanation {
  std::string address;
  NodeState state = NodeState::kRegistering;
  bool eligible = false;
  double weight = 0;    // the strategy's effective weight; 0 when not eligible
  std::string skipped;  // why not eligible: "FAULT: no heartbeat for 30s", "draining: ...",
                        // "excluded by the request", "OVERLOAD (allow_overload is off)"
};

struct Selection {
  // The worker picked, borrowed from the view it was picked from: valid while that view is held
  // (the snapshot given to ClusterManager::SelectWorker). Not a copy of the NodeInfoPtr: under
  // heartbeats the copy's atomic increment is a cache miss on a line the manager's thread wrote
  // last, on every call (docs/scale.md, "SelectWorker").
  const NodeInfoPtr* picked = nullptr;
  uint64_t view_version = 0;
  // The rule applied: "LowerWeightRoundRobin (DolphinScheduler 3.2.1-3.2.2)". A name the
  // selector keeps for its whole life.
  absl::string_view rule;
  // Filled when the request asked to explain: every member of the group, sorted by address.
  std::vector<CandidateExplanation> candidates;

  const NodeInfoPtr& worker() const { return *picked; }
};

class WorkerSelector {
 public:
  // DS 3.3 semantics, default options, the real clock.
  WorkerSelector();
  // `options` must pass ValidateSelectorOptions (checked: invalid dynamic weights fall back to
  // 30/30/40 with an error log).
  explicit WorkerSelector(SelectorOptions options);
  ~WorkerSelector();

  // NotFound for an unknown group; Unavailable when no worker is selectable, saying why:
  // "group 'etl': 3 workers, none selectable (2 OVERLOAD, 1 FAULT)". The selection borrows its
  // worker from `view` and its rule's name from this selector.
  absl::StatusOr<Selection> Select(const ClusterView& view, const SelectRequest& request);

  // The rule a strategy follows under these options, as Selection::rule says it.
  std::string RuleName(SelectionStrategy strategy) const;

  // The weight formulas, before warm-up and the floor of 1, exposed for tests and `explain`.
  // DS 3.3 DYNAMIC_WEIGHTED_ROUND_ROBIN.
  static double DynamicWeight(const roster::v1::Heartbeat& heartbeat,
                              const DynamicWeightOptions& weights);
  // DS LOWER_WEIGHT's HostWeight (2.0.x - 3.2.0 when `load_average_formula`, else 3.2.1+).
  static double LowerWeight(const roster::v1::Heartbeat& heartbeat, bool load_average_formula);
  // LOWER_LOAD_WEIGHTED_ROUND_ROBIN's spare capacity, in [0, 100].
  static double SpareCapacity(const roster::v1::Heartbeat& heartbeat);

 private:
  struct GroupState;
  GroupState* StateFor(absl::string_view group);

  const SelectorOptions options_;
  // RuleName() of each strategy, by its value.
  const std::vector<std::string> rule_names_;
  const uint64_t id_;  // unique in the process; keys the per-thread memo of StateFor()
  absl::Mutex mu_;     // Guards the map only; each GroupState has its own mutex.
  absl::flat_hash_map<std::string, std::unique_ptr<GroupState>> groups_ ABSL_GUARDED_BY(mu_);
};

}  // namespace roster::cluster
