#include "cluster/node_state_machine.h"

#include <array>

#include "absl/strings/str_cat.h"

namespace roster::cluster {
namespace {

// The transition table: every legal (state, input) pair and the state it leads to. A pair
// that is not listed is refused. Rows that lead back to their own state are self-loops: they
// change nothing but the bookkeeping (data-change time, last verdict, FAULT's reason).
//
// clang-format off
//   from \ input | NORMAL  BUSY    INVALID TIMEOUT PROBATN CREATED DELETED DRAINED UNDRAIN
//   -------------+------------------------------------------------------------------------
//   REGISTERING  | RUN     OVL     FLT     FLT     -       REG     OFF     OFF     -
//   RUNNING      | RUN     OVL     FLT     FLT     -       REG     OFF     OFF     -
//   OVERLOAD     | RUN     OVL     FLT     FLT     -       REG     OFF     OFF     -
//   FAULT        | REC     REC     FLT     FLT     -       REG     OFF     OFF     -
//   RECOVERING   | REC     REC     FLT     FLT     RUN     REG     OFF     OFF     -
//   OFFLINE      | -       -       -       -       -       REG     OFF     OFF     REG
//   (REG REGISTERING, RUN RUNNING, OVL OVERLOAD, FLT FAULT, REC RECOVERING, OFF OFFLINE;
//    "-": refused)
// clang-format on
//
// ZnodeCreated means a new incarnation: it replaces the old one, whatever state that was in.
// The drained flag refines the table in Apply(): a drained node stays OFFLINE (heartbeats and
// ZnodeCreated are noted, not refused), and Undrained is legal only while drained.
struct Row {
  NodeState from;
  NodeInput input;
  NodeState to;
};

using S = NodeState;
using I = NodeInput;

constexpr Row kTable[] = {
    {S::kRegistering, I::kHeartbeatNormal, S::kRunning},
    {S::kRegistering, I::kHeartbeatBusy, S::kOverload},
    {S::kRegistering, I::kHeartbeatInvalid, S::kFault},
    {S::kRegistering, I::kHeartbeatTimeout, S::kFault},
    {S::kRegistering, I::kZnodeCreated, S::kRegistering},
    {S::kRegistering, I::kZnodeDeleted, S::kOffline},
    {S::kRegistering, I::kDrained, S::kOffline},

    {S::kRunning, I::kHeartbeatNormal, S::kRunning},
    {S::kRunning, I::kHeartbeatBusy, S::kOverload},
    {S::kRunning, I::kHeartbeatInvalid, S::kFault},
    {S::kRunning, I::kHeartbeatTimeout, S::kFault},
    {S::kRunning, I::kZnodeCreated, S::kRegistering},
    {S::kRunning, I::kZnodeDeleted, S::kOffline},
    {S::kRunning, I::kDrained, S::kOffline},

    {S::kOverload, I::kHeartbeatNormal, S::kRunning},
    {S::kOverload, I::kHeartbeatBusy, S::kOverload},
    {S::kOverload, I::kHeartbeatInvalid, S::kFault},
    {S::kOverload, I::kHeartbeatTimeout, S::kFault},
    {S::kOverload, I::kZnodeCreated, S::kRegistering},
    {S::kOverload, I::kZnodeDeleted, S::kOffline},
    {S::kOverload, I::kDrained, S::kOffline},

    {S::kFault, I::kHeartbeatNormal, S::kRecovering},
    {S::kFault, I::kHeartbeatBusy, S::kRecovering},
    {S::kFault, I::kHeartbeatInvalid, S::kFault},
    {S::kFault, I::kHeartbeatTimeout, S::kFault},
    {S::kFault, I::kZnodeCreated, S::kRegistering},
    {S::kFault, I::kZnodeDeleted, S::kOffline},
    {S::kFault, I::kDrained, S::kOffline},

    {S::kRecovering, I::kHeartbeatNormal, S::kRecovering},
    {S::kRecovering, I::kHeartbeatBusy, S::kRecovering},
    {S::kRecovering, I::kHeartbeatInvalid, S::kFault},
    {S::kRecovering, I::kHeartbeatTimeout, S::kFault},
    {S::kRecovering, I::kProbationPassed, S::kRunning},
    {S::kRecovering, I::kZnodeCreated, S::kRegistering},
    {S::kRecovering, I::kZnodeDeleted, S::kOffline},
    {S::kRecovering, I::kDrained, S::kOffline},

    {S::kOffline, I::kZnodeCreated, S::kRegistering},
    {S::kOffline, I::kZnodeDeleted, S::kOffline},
    {S::kOffline, I::kDrained, S::kOffline},
    {S::kOffline, I::kUndrained, S::kRegistering},
};

bool IsHeartbeat(NodeInput input) {
  return input == I::kHeartbeatNormal || input == I::kHeartbeatBusy ||
         input == I::kHeartbeatInvalid;
}

// States in which the node is expected to write heartbeats (FAULT already is the verdict).
bool ExpectsHeartbeats(NodeState state) {
  return state == S::kRegistering || state == S::kRunning || state == S::kOverload ||
         state == S::kRecovering;
}

absl::Status Refused(NodeInput input, NodeState state, absl::string_view why) {
  return absl::FailedPreconditionError(absl::StrCat(
      "node input ", NodeInputName(input), " is not allowed in state ", NodeStateName(state), why));
}

}  // namespace

absl::string_view NodeInputName(NodeInput input) {
  switch (input) {
    case I::kHeartbeatNormal:
      return "HEARTBEAT_NORMAL";
    case I::kHeartbeatBusy:
      return "HEARTBEAT_BUSY";
    case I::kHeartbeatInvalid:
      return "HEARTBEAT_INVALID";
    case I::kHeartbeatTimeout:
      return "HEARTBEAT_TIMEOUT";
    case I::kProbationPassed:
      return "PROBATION_PASSED";
    case I::kZnodeCreated:
      return "ZNODE_CREATED";
    case I::kZnodeDeleted:
      return "ZNODE_DELETED";
    case I::kDrained:
      return "DRAINED";
    case I::kUndrained:
      return "UNDRAINED";
  }
  return "UNKNOWN_INPUT";
}

std::optional<NodeState> NodeStateMachine::Next(NodeState from, NodeInput input) {
  for (const Row& row : kTable) {
    if (row.from == from && row.input == input) return row.to;
  }
  return std::nullopt;
}

NodeStateMachine::NodeStateMachine(const NodeTimingOptions* options, absl::Time now,
                                   absl::Time wall_now)
    : options_(options),
      state_(S::kRegistering),
      reason_("znode created"),
      state_since_(now),
      state_since_wall_(wall_now),
      last_data_change_(now) {
  history_.push_back(Transition{wall_now, S::kRegistering, S::kRegistering, reason_});
  TrimHistory();
}

absl::Status NodeStateMachine::Apply(NodeInput input, absl::string_view cause, absl::Time now,
                                     absl::Time wall_now) {
  if (drained_) return ApplyWhileDrained(input, cause, now, wall_now);
  if (input == I::kUndrained) return Refused(input, state_, ": the node is not drained");
  const std::optional<NodeState> next = Next(state_, input);
  if (!next.has_value()) return Refused(input, state_, "");

  switch (input) {
    case I::kHeartbeatNormal:
    case I::kHeartbeatBusy:
    case I::kHeartbeatInvalid:
      NoteHeartbeat(input, cause, now);
      break;
    case I::kZnodeCreated:
      NoteZnodeCreated(now);
      break;
    case I::kZnodeDeleted:
      znode_present_ = false;
      break;
    case I::kDrained:
      drained_ = true;
      break;
    case I::kHeartbeatTimeout:
    case I::kProbationPassed:
    case I::kUndrained:
      break;
  }

  if (*next == state_) {
    // A self-loop changes nothing, except that a node staying in FAULT for a new reason
    // (another bad payload, or its heartbeats now also stopped) is worth telling operators.
    if (state_ == S::kFault && cause != reason_) {
      reason_ = std::string(cause);
      history_.push_back(Transition{wall_now, state_, state_, reason_});
      ++transitions_recorded_;
      TrimHistory();
    }
    return absl::OkStatus();
  }
  Record(*next, cause, now, wall_now);
  if (input == I::kProbationPassed) ResumeBusy(now, wall_now);
  return absl::OkStatus();
}

absl::Status NodeStateMachine::ApplyWhileDrained(NodeInput input, absl::string_view cause,
                                                 absl::Time now, absl::Time wall_now) {
  // A drained node is OFFLINE whatever it reports, but what it reports is kept so that
  // undraining resumes from the truth instead of waiting for the next heartbeat.
  if (IsHeartbeat(input)) {
    NoteHeartbeat(input, cause, now);
    return absl::OkStatus();
  }
  if (input == I::kZnodeCreated) {
    NoteZnodeCreated(now);
    return absl::OkStatus();
  }
  if (input != I::kUndrained) {
    // ZnodeDeleted and Drained are OFFLINE self-loops; the rest is refused by the table.
    const std::optional<NodeState> next = Next(state_, input);
    if (!next.has_value()) return Refused(input, state_, " (the node is drained)");
    if (input == I::kZnodeDeleted) znode_present_ = false;
    return absl::OkStatus();
  }

  drained_ = false;
  if (!znode_present_) return absl::OkStatus();  // nothing to resume: stays OFFLINE
  Record(S::kRegistering, cause, now, wall_now);
  if (last_verdict_.has_value()) {
    // Re-apply the last verdict (its own history entry); it cannot be refused in REGISTERING.
    const NodeInput verdict = *last_verdict_;
    const std::string verdict_cause = last_verdict_cause_;
    const absl::Time data_change = last_data_change_;
    Apply(verdict, verdict_cause, now, wall_now).IgnoreError();
    // Re-applying is not a new data change: the timeout still counts from the last one.
    last_data_change_ = data_change;
  }
  return absl::OkStatus();
}

void NodeStateMachine::OnDataChanged(absl::Time now) { last_data_change_ = now; }

bool NodeStateMachine::Tick(absl::Time now, absl::Time wall_now, absl::Time observed_until) {
  if (drained_ || !ExpectsHeartbeats(state_)) return false;
  const NodeState before = state_;
  const absl::Time silence_end = std::min(now, observed_until);
  if (silence_end - std::max(last_data_change_, excused_until_) >= options_->heartbeat_timeout()) {
    const std::string cause =
        absl::StrCat("no heartbeat for ", absl::FormatDuration(options_->heartbeat_timeout()), " (",
                     options_->missed_heartbeats, " intervals of ",
                     absl::FormatDuration(options_->heartbeat_interval), ")");
    Apply(I::kHeartbeatTimeout, cause, now, wall_now).IgnoreError();  // legal in these states
  } else if (state_ == S::kRecovering && now - state_since_ >= options_->probation()) {
    const std::string cause =
        absl::StrCat("probation of ", absl::FormatDuration(options_->probation()), " passed");
    Apply(I::kProbationPassed, cause, now, wall_now).IgnoreError();  // legal in RECOVERING
  }
  return state_ != before;
}

absl::Time NodeStateMachine::NextDeadline() const {
  if (drained_ || !ExpectsHeartbeats(state_)) return absl::InfiniteFuture();
  absl::Time deadline = std::max(last_data_change_, excused_until_) + options_->heartbeat_timeout();
  if (state_ == S::kRecovering) {
    deadline = std::min(deadline, state_since_ + options_->probation());
  }
  return deadline;
}

void NodeStateMachine::NoteHeartbeat(NodeInput input, absl::string_view cause, absl::Time now) {
  last_data_change_ = now;
  last_verdict_ = input;
  last_verdict_cause_.assign(cause.data(), cause.size());  // reuses its capacity
  if (input != I::kHeartbeatInvalid) last_heartbeat_busy_ = input == I::kHeartbeatBusy;
}

void NodeStateMachine::NoteZnodeCreated(absl::Time now) {
  // A new incarnation: what the old one reported no longer applies, and it gets a full
  // heartbeat timeout to report.
  znode_present_ = true;
  last_data_change_ = now;
  last_verdict_.reset();
  last_verdict_cause_.clear();
  last_heartbeat_busy_ = false;
}

void NodeStateMachine::ResumeBusy(absl::Time now, absl::Time wall_now) {
  // Probation ends in RUNNING; a node whose last heartbeat said BUSY is OVERLOAD right away.
  if (state_ != S::kRunning || !last_heartbeat_busy_) return;
  Record(S::kOverload, last_verdict_cause_.empty() ? "heartbeat BUSY" : last_verdict_cause_, now,
         wall_now);
}

void NodeStateMachine::Record(NodeState to, absl::string_view cause, absl::Time now,
                              absl::Time wall_now) {
  history_.push_back(Transition{wall_now, state_, to, std::string(cause)});
  ++transitions_recorded_;
  state_ = to;
  reason_ = std::string(cause);
  state_since_ = now;
  state_since_wall_ = wall_now;
  TrimHistory();
}

void NodeStateMachine::TrimHistory() {
  while (history_.size() > options_->history_limit) history_.pop_front();
}

}  // namespace roster::cluster
