// ViewBuilder: the next ClusterView from the previous one and what changed since, with the
// ChangeBatch that describes the difference (docs/architecture.md, "Publishing a view").
//
// Pure: no registry, no clock, no live tables. The ClusterManager collects what a batch of
// registry events changed (node changes from each role's NodeTable, the leader, the rejected
// znodes, the worker groups defined with no member) into ViewChanges; BuildNextView() shares
// every part of the previous view that did not change (with thousands of workers, copying is most
// of a publish) and rebuilds the rest.
//
// Thread-safety: the functions are pure and thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/change_log.h"
#include "cluster/cluster_view.h"
#include "cluster/node_table.h"

namespace roster::cluster {

// What one batch changed.
struct ViewChanges {
  std::vector<NodeChange> masters;
  std::vector<NodeChange> workers;
  std::vector<NodeChange> alert_servers;
  // The worker groups that exist even with no member (sorted), and whether they changed since
  // the last published view.
  std::vector<std::string> defined_groups;
  bool defined_groups_changed = false;
  // The coordinator's holder now (compared with the previous view's).
  LeaderInfo leader;
  // Every znode that cannot be used, sorted by path, when it may have changed; nullopt when
  // it did not.
  std::optional<std::vector<RejectedZnode>> rejected;
  // The first full read has completed (the view may turn synced).
  bool first_sync_done = false;
  // The group sources and their status, when one may have changed; nullopt when none did.
  std::optional<std::vector<GroupSourceView>> group_sources;
  // The DolphinScheduler release answered as, when it may have changed; nullopt when not.
  std::optional<DsDetection> dolphinscheduler;
  // Recompute the slots even if no master changed (the slot policy changed).
  bool recompute_slots = false;
  // Self-preservation's status, when it changed; nullopt when not.
  std::optional<SelfPreservationStatus> self_preservation;

  // Whether the view must be rebuilt at all: false for an idle tick or a batch of ignored
  // events. (A rebuilt view may still turn out equal; then its batch is empty.)
  bool AnyChange(const ClusterView& previous) const;
  // Whether the only changes are load figures of nodes that stay what they were (state, drain,
  // groups, incarnation, paths): what the publish window may hold back (ClusterOptions).
  bool LoadOnly(const ClusterView& previous) const;
  // Puts `older`'s node changes before this batch's (the later change of a node wins).
  void PrependNodeChanges(ViewChanges older);
};

struct BuiltView {
  // The next view, not yet published: the caller stamps its version once the batch is logged.
  std::shared_ptr<ClusterView> view;
  ChangeBatch batch;  // versions unset; empty when nothing observable changed
  // The node changes that moved a node from one state to another, for the caller to log
  // (LogTransitions) once the batch is published (handed to the watchers inline, or to the
  // fan-out's queue): a log line is a write to the log, and a watcher waiting for the change
  // should not wait for it.
  std::vector<NodeChange> transitions;
};

// One LOG(INFO) line per transition: "WORKER 'host:port' RUNNING -> OVERLOAD: heartbeat BUSY".
void LogTransitions(const std::vector<NodeChange>& transitions);

// The slot assignment over a view's masters (sorted by address), by the policy in force.
using SlotFunction = std::function<SlotAssignment(const NodeList&)>;

// `previous` with `changes` applied. Logs a new slot assignment or DolphinScheduler release
// (LOG(INFO)), its only side effect; node transitions are returned, not logged.
BuiltView BuildNextView(const ClusterView& previous, ViewChanges changes,
                        const SlotFunction& compute_slots);

// Whether two leader records name the same holder with the same token.
bool SameLeader(const LeaderInfo& a, const LeaderInfo& b);

}  // namespace roster::cluster
