// NodeStateMachine: the life cycle of one node, as a pure value class.
//
// Every legal transition is one row of a single table (see Next()); time is passed in; there
// is no I/O. The cluster layer feeds it inputs derived from registry events and operator
// actions, and calls Tick() to let time pass (heartbeat timeout, recovery probation).
//
//   REGISTERING --heartbeat NORMAL--> RUNNING <--NORMAL / BUSY--> OVERLOAD
//        |  \--heartbeat BUSY--> OVERLOAD            |                |
//        +--bad payload / no data change for K intervals--> FAULT <---+
//   FAULT --valid heartbeat--> RECOVERING --probation passed--> RUNNING (then OVERLOAD if busy)
//   any --znode deleted / drained--> OFFLINE --znode created / undrained--> REGISTERING
//
// Liveness is measured on the daemon's monotonic clock from the last change of the znode's
// data, never from the node's own reportTime.
//
// Thread-safety: a value; not thread-safe. Owned and driven by one cluster component.
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cluster/node_info.h"

namespace roster::cluster {

enum class NodeInput {
  kHeartbeatNormal,   // a valid heartbeat, NORMAL and under the load thresholds
  kHeartbeatBusy,     // a valid heartbeat, BUSY or ABNORMAL, or over the load thresholds
  kHeartbeatInvalid,  // a payload that cannot be used (the cause says why)
  kHeartbeatTimeout,  // no znode data change for K heartbeat intervals
  kProbationPassed,   // RECOVERING long enough
  kZnodeCreated,      // a new incarnation's znode appeared
  kZnodeDeleted,      // the znode is gone (session ended)
  kDrained,           // an operator drained the node
  kUndrained,         // an operator undrained it
};

absl::string_view NodeInputName(NodeInput input);

struct NodeTimingOptions {
  // How often nodes write their heartbeat (DolphinScheduler's default: 10 s).
  absl::Duration heartbeat_interval = absl::Seconds(10);
  // FAULT after this many intervals without a data change (K in docs/states.md).
  int missed_heartbeats = 3;
  // RECOVERING lasts this many intervals before RUNNING.
  int probation_intervals = 2;
  // Transitions kept per node.
  size_t history_limit = 32;

  absl::Duration heartbeat_timeout() const { return heartbeat_interval * missed_heartbeats; }
  absl::Duration probation() const { return heartbeat_interval * probation_intervals; }
};

class NodeStateMachine {
 public:
  // The state reached from `from` on `input`, or nullopt when the table has no such row
  // (the input is refused). A row may lead back to `from` (e.g. FAULT on another bad payload).
  static std::optional<NodeState> Next(NodeState from, NodeInput input);

  // A new node in REGISTERING; its history starts with that entry (cause "znode created").
  // `now` is monotonic, `wall_now` the calendar clock. `options` must outlive the machine.
  NodeStateMachine(const NodeTimingOptions* options, absl::Time now, absl::Time wall_now);

  // Applies `input`. Returns FailedPrecondition naming the state and input when the table
  // refuses it (nothing changes). A self-loop changes nothing but may update the reason.
  // Heartbeat inputs also count as a data change (they reset the heartbeat timeout).
  // While drained the node stays OFFLINE: heartbeats and ZnodeCreated are noted (OK, no
  // transition); Undrained resumes REGISTERING and the last verdict if the znode is present.
  // Undrained on a node that is not drained is refused.
  absl::Status Apply(NodeInput input, absl::string_view cause, absl::Time now, absl::Time wall_now);

  // Records that the znode's data changed without a heartbeat verdict (e.g. a payload that
  // only repeats the last one): resets the heartbeat timeout.
  void OnDataChanged(absl::Time now);

  // The daemon could not see the registry until `now` (its session was down, or a re-read
  // after a reconnect was pending): silence it could not observe is not the node's fault, so
  // the heartbeat timeout runs from `now` at the earliest.
  void ExcuseSilenceUntil(absl::Time now) { excused_until_ = std::max(excused_until_, now); }

  // Lets time pass: a heartbeat timeout (FAULT) or the end of probation (RUNNING, then
  // OVERLOAD if the last heartbeat was busy). Returns true if the state changed.
  // `observed_until`: the daemon knows it saw every change of the registry up to then, not
  // necessarily up to `now` (a connection that went quiet before the client noticed): silence
  // counts only until then.
  bool Tick(absl::Time now, absl::Time wall_now,
            absl::Time observed_until = absl::InfiniteFuture());

  // The earliest monotonic time at which Tick() could change the state: the heartbeat timeout,
  // or the end of probation; InfiniteFuture() when no change is due by time alone. Tick() any
  // earlier changes nothing (later, with `observed_until` short of it, may change nothing
  // either). ClusterManager sets a timer for the earliest of these (docs/states.md, "Timers").
  absl::Time NextDeadline() const;

  NodeState state() const { return state_; }
  const std::string& reason() const { return reason_; }
  absl::Time state_since_wall() const { return state_since_wall_; }
  absl::Time last_data_change() const { return last_data_change_; }
  bool drained() const { return drained_; }
  const std::deque<Transition>& history() const { return history_; }
  // How many transitions were ever recorded (history() keeps the last few): it moves exactly
  // when the history, and so the state or the reason, changes.
  uint64_t transitions_recorded() const { return transitions_recorded_; }

 private:
  absl::Status ApplyWhileDrained(NodeInput input, absl::string_view cause, absl::Time now,
                                 absl::Time wall_now);
  void NoteHeartbeat(NodeInput input, absl::string_view cause, absl::Time now);
  void NoteZnodeCreated(absl::Time now);
  void ResumeBusy(absl::Time now, absl::Time wall_now);
  void Record(NodeState to, absl::string_view cause, absl::Time now, absl::Time wall_now);
  void TrimHistory();

  const NodeTimingOptions* options_;
  NodeState state_ = NodeState::kRegistering;
  std::string reason_;
  absl::Time state_since_;                           // monotonic
  absl::Time state_since_wall_;                      // wall
  absl::Time last_data_change_;                      // monotonic
  absl::Time excused_until_ = absl::InfinitePast();  // monotonic; see ExcuseSilenceUntil()
  bool last_heartbeat_busy_ = false;
  bool drained_ = false;
  uint64_t transitions_recorded_ = 0;
  bool znode_present_ = true;  // cleared by ZnodeDeleted, set by ZnodeCreated
  // The last heartbeat verdict of the current incarnation and its cause, kept while drained
  // so that undraining resumes it.
  std::optional<NodeInput> last_verdict_;
  std::string last_verdict_cause_;
  std::deque<Transition> history_;
};

}  // namespace roster::cluster
