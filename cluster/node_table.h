// NodeTable: the live records of one role's nodes (masters, workers or alert servers). Znode
// events go in; each node's state machine is driven from them; immutable NodeInfo snapshots
// come out. MasterCluster and WorkerCluster each own one, the alert servers another.
//
// Applying an event is cheap: it stores the payload and marks the node dirty. Derive() parses
// the latest payload of each dirty node once, so a burst of heartbeats from one node costs one
// parse; a payload that came decoded (Decode(), on the caller's thread) is not parsed again.
//
// Identity and incarnation (docs/states.md): a node is keyed by its address. A znode event that is
// older than what the table holds for that path (a smaller czxid) is ignored; a payload whose
// (startupTime, processId) is older than the node's current incarnation under the same znode
// is a stale writer and is ignored (and counted); a newer one is a restart.
//
// Thread-safety: confined to the cluster executor. ClusterManager's State holds every table
// ABSL_GUARDED_BY(executor), so clang's -Wthread-safety checks every access to one.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cluster/heartbeat_codec.h"
#include "cluster/node_info.h"
#include "cluster/node_list.h"
#include "cluster/node_state_machine.h"
#include "registry/registry.h"

namespace roster::cluster {

// Static worker-group membership by address (from --worker_group_file): address -> groups.
using StaticGroups = std::map<std::string, std::vector<std::string>>;

// Worker-group membership defined outside the registry (the group file, DolphinScheduler's
// t_ds_worker_group table), merged from every source.
struct GroupMembership {
  StaticGroups by_address;           // address -> its groups, sorted
  std::vector<std::string> defined;  // every group a source defines, sorted, even if empty
  // "default" holds every worker. False when the DolphinScheduler release in use takes a
  // database row named "default" instead (3.1.1 - 3.2.x): then only its addresses are in it.
  bool implicit_default = true;
};

struct NodeTableOptions {
  NodeRole role = NodeRole::kWorker;
  NodeTimingOptions timing;
  HeartbeatLimits limits;
  // The DolphinScheduler release's heartbeat format, when it is configured; kAuto reads each
  // payload by what it shows.
  HeartbeatDialect dialect = HeartbeatDialect::kAuto;
  // A NORMAL heartbeat over either usage (a fraction; 0 disables) counts as BUSY.
  double overload_cpu_usage = 0;
  double overload_memory_usage = 0;
  // How long an OFFLINE node stays visible after its znode is gone.
  absl::Duration tombstone_retention = absl::Minutes(10);
  // Workers only; may be null (no external groups). Replaced as a whole by
  // WorkerCluster::SetMembership(), followed by NodeTable::RefreshGroups().
  std::shared_ptr<const GroupMembership> groups;
};

// NodeChange (cluster/node_list.h): a change to one node's published info; `after` is null
// for a node purged after its tombstone retention.

// A heartbeat decoded before its event reached the table: NodeTable::Decode()'s answer for the
// event's payload. ClusterManager decodes each heartbeat on the registry's thread, so that the
// cluster executor only applies it (docs/scale.md, "Decoding ahead").
using DecodedHeartbeat = absl::StatusOr<roster::v1::Heartbeat>;

class NodeTable {
 public:
  // `options` must outlive the table.
  explicit NodeTable(const NodeTableOptions* options);
  ~NodeTable();

  NodeTable(const NodeTable&) = delete;
  NodeTable& operator=(const NodeTable&) = delete;

  // What the table makes of a payload written at `stat`'s mtime: ParseHeartbeat with the
  // options' role, limits and dialect, which never change. Thread-safe: callers decode events on
  // their own thread and hand the answer to Apply().
  static std::unique_ptr<DecodedHeartbeat> Decode(const NodeTableOptions& options,
                                                  const registry::Stat& stat,
                                                  absl::string_view payload);

  // Classifies an event below `root`, the role's directory (see layout.h), and applies it:
  // kAdded/kUpdated upsert, kRemoved removes. A znode that cannot be a node is remembered in
  // rejected() with the reason, until it is removed. kSynced events are ignored. `decoded`, if
  // not null, is Decode() of the event's payload, used instead of parsing it again. The
  // table takes `event`'s payload, until it is applied; the const overload copies it.
  void Apply(absl::string_view root, registry::RegistryEvent&& event, absl::Time now,
             absl::Time wall_now, std::unique_ptr<DecodedHeartbeat> decoded = nullptr);
  void Apply(absl::string_view root, const registry::RegistryEvent& event, absl::Time now,
             absl::Time wall_now, std::unique_ptr<DecodedHeartbeat> decoded = nullptr) {
    Apply(root, registry::RegistryEvent(event), now, wall_now, std::move(decoded));
  }

  // The znode `event.path` registering `address` appeared or changed. `group` is the legacy
  // layout's group segment ("" otherwise). Ignored if older than what the table holds.
  // `decoded`: as for Apply().
  void Upsert(const std::string& address, registry::RegistryEvent&& event, absl::string_view group,
              absl::Time now, absl::Time wall_now,
              std::unique_ptr<DecodedHeartbeat> decoded = nullptr);
  // The znode `event.path` is gone. Ignored for a path the table does not hold or holds with
  // another czxid (a removal of an older incarnation).
  void Remove(const registry::RegistryEvent& event, absl::Time now, absl::Time wall_now);
  // Drains or undrains `address`, present or not (remembered for when it registers).
  void SetDrained(const std::string& address, bool drained, absl::string_view reason,
                  absl::Time now, absl::Time wall_now);

  // Parses the pending payloads of nodes changed since the last call, and appends a
  // NodeChange for every node whose published info changed. Cheap when little changed.
  void Derive(absl::Time now, absl::Time wall_now, std::vector<NodeChange>* changes);
  // Lets time pass for every node (heartbeat timeouts, probation), purges tombstones past
  // their retention, then Derive(). Called by the periodic tick. `observed_until`: see
  // NodeStateMachine::Tick().
  void Tick(absl::Time now, absl::Time wall_now, std::vector<NodeChange>* changes,
            absl::Time observed_until = absl::InfiniteFuture());
  // Tick() for the nodes whose deadline (NextDeadline()) has come, the only ones Tick() can
  // change: O(due nodes x log n), not O(n). For the deadline timer, which a wave of failures
  // fires once per distinct deadline; the periodic tick still walks every node.
  void TickDue(absl::Time now, absl::Time wall_now, std::vector<NodeChange>* changes,
               absl::Time observed_until = absl::InfiniteFuture());
  // Re-derives every node's groups from the options (after the external membership changed);
  // nodes whose groups changed are published by the next Derive().
  void RefreshGroups();
  // See NodeStateMachine::ExcuseSilenceUntil(): no node times out before `now` plus its
  // heartbeat timeout. Called while the view is stale and when it turns fresh again.
  void ExcuseSilenceUntil(absl::Time now);

  // The earliest moment Tick() may have something to do: a node's heartbeat timeout, the end
  // of a probation, a tombstone's retention; InfiniteFuture() if none. O(log n) amortised:
  // deadlines wait in a queue, and an entry whose node has since heartbeated is found stale and
  // re-queued only when it reaches the top. ClusterManager sets a timer for it, so a silent
  // node is FAULT at its deadline, not at the next periodic tick (docs/states.md, "Timers").
  absl::Time NextDeadline();

  // Every node's current info, sorted by address.
  std::vector<NodeInfoPtr> Snapshot() const;
  NodeInfoPtr Find(absl::string_view address) const;

  // The (czxid, mzxid) the table holds for `path`, or nullopt; for resync diffs.
  struct ZnodeVersion {
    int64_t czxid = 0;
    int64_t mzxid = 0;
  };
  std::optional<ZnodeVersion> FindZnode(const std::string& path) const;
  // Every znode path the table holds.
  std::vector<std::string> ZnodePaths() const;

  // Znodes below the role's directory that cannot be nodes: path -> reason.
  const std::map<std::string, std::string>& rejected() const { return rejected_; }

  size_t size() const { return records_.size(); }
  // Payload writes from an older incarnation that were ignored.
  int64_t stale_incarnation_events() const { return stale_incarnation_events_; }
  // Payloads rejected by the codec.
  int64_t rejected_payloads() const { return rejected_payloads_; }
  // Warnings of the payloads parsed (roster.v1.HeartbeatWarning), by the field they name: a
  // bounded set, the heartbeat fields the codec checks ("cpuUsage", "workerHostWeight", ...).
  const std::map<std::string, int64_t, std::less<>>& heartbeat_warnings() const {
    return heartbeat_warnings_;
  }
  // State transitions by (from, to), for metrics.
  const std::map<std::pair<NodeState, NodeState>, int64_t>& transitions() const {
    return transitions_;
  }

 private:
  class Record;

  Record* FindOrCreate(const std::string& address, absl::Time now, absl::Time wall_now);
  // A new event for `event.path`, a znode `record` holds already (see Upsert()).
  void UpdateZnode(Record* record, registry::RegistryEvent&& event, absl::Time now,
                   absl::Time wall_now, std::unique_ptr<DecodedHeartbeat> decoded);

  // Queues `record`'s deadline if it is earlier than the one queued for it.
  void QueueDeadline(Record* record);
  void RebuildDeadlines();

  struct DeadlineEntry {
    absl::Time at;
    Record* record;
    bool operator>(const DeadlineEntry& other) const { return at > other.at; }
  };

  const NodeTableOptions* const options_;
  std::map<std::string, std::unique_ptr<Record>, std::less<>> records_;  // by address
  // Earliest first. At most one live entry per record (its queued_deadline()); the others are
  // dropped when they reach the top.
  std::priority_queue<DeadlineEntry, std::vector<DeadlineEntry>, std::greater<>> deadlines_;
  absl::flat_hash_map<std::string, Record*> by_path_;
  absl::flat_hash_map<std::string, std::string> drains_;  // address -> reason
  std::vector<Record*> dirty_;
  std::vector<std::string> publish_scratch_;     // Record::Publish()'s, kept for its capacity
  std::map<std::string, std::string> rejected_;  // path -> reason
  int64_t stale_incarnation_events_ = 0;
  int64_t rejected_payloads_ = 0;
  std::map<std::string, int64_t, std::less<>> heartbeat_warnings_;
  std::map<std::pair<NodeState, NodeState>, int64_t> transitions_;
};

}  // namespace roster::cluster
