// WorkerSelector: picks the worker of a group that should take the next task, with
// DolphinScheduler's strategies plus LOWER_WEIGHT, over a published ClusterView.
//
//  RANDOM                        uniform over the selectable workers
//  ROUND_ROBIN                   a per-group cursor, index % n over the workers sorted by address
//  FIXED_WEIGHTED_ROUND_ROBIN    smooth weighted round robin on workerHostWeight
//  DYNAMIC_WEIGHTED_ROUND_ROBIN  smooth weighted round robin on
//                                100 - (30*cpu + 30*memory + 40*threadPool) / 3, usages as the
//                                fractions the heartbeat carries (DolphinScheduler's formula;
//                                weights fall in [66.7, 100])
//  LOWER_WEIGHT                  the lowest load = 20*cpu + 20*memory + 50*disk + 10*threadPool
//                                (ties: round robin among the tied)
//
// Selectable: RUNNING and not drained, or OVERLOAD when the request allows it; never
// REGISTERING, FAULT, RECOVERING, OFFLINE, drained or excluded. No selectable worker is an
// error that says why, never an empty success.
//
// Thread-safety: thread-safe. Strategy state (cursors, smooth-WRR current weights) is per
// group, behind a per-group mutex, and survives view changes (kept by worker address).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "cluster/cluster_view.h"

namespace roster::cluster {

enum class SelectionStrategy {
  kRandom,
  kRoundRobin,
  kFixedWeightedRoundRobin,
  kDynamicWeightedRoundRobin,
  kLowerWeight,
};

absl::string_view SelectionStrategyName(SelectionStrategy strategy);

struct SelectRequest {
  std::string group = "default";
  SelectionStrategy strategy = SelectionStrategy::kRoundRobin;
  std::vector<std::string> exclude;  // addresses never to pick (e.g. the worker that just failed)
  bool allow_overload = false;
  bool explain = false;
};

// One worker the selector looked at, for `explain`.
struct CandidateExplanation {
  std::string address;
  NodeState state = NodeState::kRegistering;
  bool eligible = false;
  double weight = 0;    // the strategy's weight or load; 0 when not eligible
  std::string skipped;  // why not eligible: "FAULT: no heartbeat for 30s", "draining: ...",
                        // "excluded by the request", "OVERLOAD (allow_overload is off)"
};

struct Selection {
  NodeInfoPtr worker;
  uint64_t view_version = 0;
  // Filled when the request asked to explain: every member of the group, sorted by address.
  std::vector<CandidateExplanation> candidates;
};

class WorkerSelector {
 public:
  WorkerSelector();
  ~WorkerSelector();

  // NotFound for an unknown group; Unavailable when no worker is selectable, saying why:
  // "group 'etl': 3 workers, none selectable (2 OVERLOAD, 1 FAULT)".
  absl::StatusOr<Selection> Select(const ClusterView& view, const SelectRequest& request);

  // The strategy weights DESIGN.md defines, exposed for tests and `explain`.
  static double DynamicWeight(const roster::v1::Heartbeat& heartbeat);
  static double LowerWeightLoad(const roster::v1::Heartbeat& heartbeat);

 private:
  struct GroupState;
  GroupState* StateFor(absl::string_view group);

  const uint64_t id_;  // unique in the process; keys the per-thread memo of StateFor()
  absl::Mutex mu_;     // Guards the map only; each GroupState has its own mutex.
  absl::flat_hash_map<std::string, std::unique_ptr<GroupState>> groups_ ABSL_GUARDED_BY(mu_);
};

}  // namespace roster::cluster
