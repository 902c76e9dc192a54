// ClusterManager, part 6: the cluster's Prometheus metrics (docs/operations.md, "Metrics"),
// every figure from one ViewSnapshot plus counters and queue lengths read at scrape time.
//
// Cardinality is bounded by construction: labels are roles, states, session states and
// heartbeat field names (fixed sets in the code), worker groups and group sources (what the
// operator configured), never a node's address.
//
// Same class as cluster_manager.cc; everything here is thread-safe and reads published state,
// atomics and a few lock-protected figures only.
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "cluster/cluster_manager.h"
#include "cluster/ds_profile.h"
#include "cluster/internal/cluster_manager_state.h"
#include "cluster/master_cluster.h"

namespace roster::cluster {
namespace {

constexpr NodeState kStates[] = {NodeState::kRegistering, NodeState::kRunning,
                                 NodeState::kOverload,    NodeState::kFault,
                                 NodeState::kRecovering,  NodeState::kOffline};

constexpr registry::SessionState kSessionStates[] = {
    registry::SessionState::kConnecting, registry::SessionState::kConnected,
    registry::SessionState::kSuspended,  registry::SessionState::kLost,
    registry::SessionState::kExpired,    registry::SessionState::kAuthFailed,
    registry::SessionState::kClosed};

void WriteFreshness(const ClusterView& view, const Freshness& f, PrometheusWriter* w) {
  w->Family("roster_view_version", "gauge", "Version of the published cluster view.");
  w->Sample("roster_view_version", static_cast<double>(view.version));
  w->Family("roster_view_stale", "gauge", "1 while the view is stale.");
  w->Sample("roster_view_stale", f.stale ? 1 : 0);
  w->Family("roster_view_stale_seconds", "gauge", "How long the view has been stale; 0 if fresh.");
  w->Sample("roster_view_stale_seconds", absl::ToDoubleSeconds(f.stale_for));
  w->Family("roster_full_read_age_seconds", "gauge",
            "Seconds since the last round of full registry reads completed (+Inf before the "
            "first).");
  w->Sample("roster_full_read_age_seconds", absl::ToDoubleSeconds(f.since_last_sync));
  w->Family("roster_registry_session_state", "gauge",
            "1 for the registry session's current state, 0 for the others.");
  for (registry::SessionState state : kSessionStates) {
    w->Sample("roster_registry_session_state",
              {{"state", std::string(registry::SessionStateName(state))}},
              state == f.session_state ? 1 : 0);
  }
  w->Family("roster_registry_access_denied", "gauge",
            "1 while rosterd cannot read the registry with its credentials (AUTH_FAILED, or "
            "NOAUTH on a layout root): answers are refused.");
  w->Sample("roster_registry_access_denied", f.access_problem.empty() ? 0 : 1);
  w->Family("roster_self_preservation_held_nodes", "gauge",
            "Nodes self-preservation shows in their last good state (the view is stale).");
  w->Sample("roster_self_preservation_held_nodes",
            static_cast<double>(view.self_preservation.held));
  w->Family("roster_rejected_znodes", "gauge", "Znodes that cannot be used as nodes.");
  w->Sample("roster_rejected_znodes", static_cast<double>(view.rejected.size()));
}

void WriteNodes(const ClusterView& view, PrometheusWriter* w) {
  w->Family("roster_nodes", "gauge", "Nodes in the view by role and state.");
  for (const auto& [role, nodes] : {std::make_pair(NodeRole::kMaster, &view.masters),
                                    std::make_pair(NodeRole::kWorker, &view.workers),
                                    std::make_pair(NodeRole::kAlertServer, &view.alert_servers)}) {
    std::map<NodeState, int> counts;
    for (const NodeInfoPtr& node : *nodes) counts[node->state]++;
    for (NodeState state : kStates) {
      w->Sample(
          "roster_nodes",
          {{"role", std::string(NodeRoleName(role))}, {"state", std::string(NodeStateName(state))}},
          counts[state]);
    }
  }
  w->Family("roster_group_nodes", "gauge",
            "Workers of each worker group by state (a worker in two groups counts in both; "
            "\"default\" holds every worker unless the release takes it from the database).");
  for (const auto& [name, group] : view.groups) {
    for (NodeState state : kStates) {
      auto it = group.count_by_state.find(state);
      w->Sample("roster_group_nodes",
                {{"group", name}, {"state", std::string(NodeStateName(state))}},
                it == group.count_by_state.end() ? 0 : it->second);
    }
  }
  w->Family("roster_group_selectable_workers", "gauge",
            "Workers of each group a selection may return (RUNNING, not drained).");
  for (const auto& [name, group] : view.groups) {
    w->Sample("roster_group_selectable_workers", {{"group", name}}, group.selectable);
  }
}

void WriteAuthority(const ClusterView& view, PrometheusWriter* w) {
  w->Family("roster_master_slots", "gauge", "Masters holding a slot (the slot total).");
  w->Sample("roster_master_slots", static_cast<double>(view.slots.masters.size()));
  w->Family("roster_leader_present", "gauge", "1 while the coordinator znode names a leader.");
  w->Sample("roster_leader_present", view.leader.present ? 1 : 0);
  w->Family("roster_leader_valid", "gauge",
            "1 while the leader's coordinator znode belongs to the session of a registered master "
            "(its fencing token may be used).");
  w->Sample("roster_leader_valid", view.leader.present && view.leader.valid ? 1 : 0);
  // The leader alerts apply only to releases with a coordinator znode (3.3).
  const DsDetection& release = view.dolphinscheduler;
  w->Family("roster_dolphinscheduler_release", "gauge",
            "1, labelled with the DolphinScheduler release rosterd answers as, whether it was "
            "detected (else named by --dolphinscheduler_version) and its coordinator mode.");
  w->Sample(
      "roster_dolphinscheduler_release",
      {{"release", std::string(DsVersionName(release.version))},
       {"detected", release.detected ? "true" : "false"},
       {"coordinator", std::string(CoordinatorModeName(ProfileOf(release.version).coordinator))}},
      1);
}

// Group sources by GroupSource::Describe() (never a secret); `started` is when the manager
// started, the reference of a source that never read.
void WriteGroupSources(const ClusterView& view, absl::Time wall_now, absl::Time started,
                       PrometheusWriter* w) {
  w->Family("roster_group_source_stale", "gauge",
            "1 while a worker-group source's last read failed (or none succeeded yet).");
  for (const GroupSourceView& source : view.group_sources) {
    w->Sample("roster_group_source_stale", {{"source", source.source}},
              source.status.stale ? 1 : 0);
  }
  w->Family("roster_group_source_stale_seconds", "gauge",
            "Seconds since a stale worker-group source last read its groups (since rosterd "
            "started if it never did); 0 while it is fresh.");
  for (const GroupSourceView& source : view.group_sources) {
    double seconds = 0;
    if (source.status.stale) {
      const absl::Time since =
          source.status.last_success == absl::InfinitePast() ? started : source.status.last_success;
      seconds = std::max(0.0, absl::ToDoubleSeconds(wall_now - since));
    }
    w->Sample("roster_group_source_stale_seconds", {{"source", source.source}}, seconds);
  }
  w->Family("roster_group_source_consecutive_failures", "gauge",
            "Failed reads of a worker-group source since its last success.");
  for (const GroupSourceView& source : view.group_sources) {
    w->Sample("roster_group_source_consecutive_failures", {{"source", source.source}},
              static_cast<double>(source.status.failures));
  }
}

}  // namespace

void ClusterManager::WriteMetrics(PrometheusWriter* w) const {
  const ViewSnapshot snapshot = Snapshot();
  const ClusterView& view = *snapshot.view;
  WriteFreshness(view, snapshot.freshness, w);
  WriteNodes(view, w);
  WriteAuthority(view, w);
  WriteGroupSources(view, options_.clock->WallNow(), absl::FromUnixMillis(started_wall_ms_.load()),
                    w);
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
  w->Family("roster_slot_epoch_changes_total", "counter",
            "Times the master slot assignment changed (a new epoch) after the first full read.");
  w->Sample("roster_slot_epoch_changes_total", static_cast<double>(slot_epoch_changes_.value()));
  w->Family("roster_leader_changes_total", "counter",
            "Times a new leader (address or fencing token) appeared after the first full read.");
  w->Sample("roster_leader_changes_total", static_cast<double>(leader_changes_.value()));
  WriteTableMetrics(w);
  WriteQueueMetrics(w);
}

void ClusterManager::WriteTableMetrics(PrometheusWriter* w) const {
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
  w->Family("roster_heartbeat_warnings_total", "counter",
            "Out-of-range load figures kept with a warning, by role and heartbeat field, "
            "counted once per payload decoded.");
  for (const auto& [key, count] : tables.heartbeat_warnings) {
    w->Sample("roster_heartbeat_warnings_total",
              {{"role", std::string(NodeRoleName(key.first))}, {"field", key.second}},
              static_cast<double>(count));
  }
}

void ClusterManager::WriteQueueMetrics(PrometheusWriter* w) const {
  size_t inbox;
  {
    absl::MutexLock lock(&inbox_mu_);
    inbox = inbox_.size();
  }
  w->Family("roster_cluster_inbox_events", "gauge",
            "Registry and group-source events waiting for the cluster executor.");
  w->Sample("roster_cluster_inbox_events", static_cast<double>(inbox));
  w->Family("roster_cluster_executor_queue_length", "gauge",
            "Tasks queued on the cluster executor (timers not counted).");
  w->Sample("roster_cluster_executor_queue_length",
            static_cast<double>(state_->executor.QueueLength()));
  const ChangeFanout& fanout = *state_->fanout;
  w->Family("roster_watch_fanout_pending_batches", "gauge",
            "Published change batches waiting for the watch fan-out thread.");
  w->Sample("roster_watch_fanout_pending_batches", static_cast<double>(fanout.pending()));
  w->Family("roster_watch_fanout_watchers", "gauge", "Change watchers the fan-out serves.");
  w->Sample("roster_watch_fanout_watchers", static_cast<double>(fanout.watchers()));
  w->Family("roster_watch_fanout_overflows_total", "counter",
            "Times the fan-out fell more than --watch_fanout_max_batches behind and every watcher "
            "was told to resync.");
  w->Sample("roster_watch_fanout_overflows_total", static_cast<double>(fanout.overflows()));
}

}  // namespace roster::cluster
