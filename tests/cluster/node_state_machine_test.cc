// NodeStateMachine: the transition table checked exhaustively against an independent copy,
// timing driven by plain absl::Time values (no clock, no sleeps), history, reasons, and the
// drain refinements.
#include "cluster/node_state_machine.h"

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace roster::cluster {
namespace {

using ::roster::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using S = NodeState;
using I = NodeInput;

constexpr std::array<S, 6> kAllStates = {S::kRegistering, S::kRunning,    S::kOverload,
                                         S::kFault,       S::kRecovering, S::kOffline};
constexpr std::array<I, 9> kAllInputs = {
    I::kHeartbeatNormal,  I::kHeartbeatBusy,   I::kHeartbeatInvalid,
    I::kHeartbeatTimeout, I::kProbationPassed, I::kZnodeCreated,
    I::kZnodeDeleted,     I::kDrained,         I::kUndrained};

// The expected table, written out independently of the implementation. Columns follow
// kAllInputs: NORMAL, BUSY, INVALID, TIMEOUT, PROBATION, CREATED, DELETED, DRAINED, UNDRAINED.
// nullopt: refused.
constexpr std::optional<S> X = std::nullopt;
const std::optional<S> kExpected[6][9] = {
    // REGISTERING
    {S::kRunning, S::kOverload, S::kFault, S::kFault, X, S::kRegistering, S::kOffline, S::kOffline,
     X},
    // RUNNING
    {S::kRunning, S::kOverload, S::kFault, S::kFault, X, S::kRegistering, S::kOffline, S::kOffline,
     X},
    // OVERLOAD
    {S::kRunning, S::kOverload, S::kFault, S::kFault, X, S::kRegistering, S::kOffline, S::kOffline,
     X},
    // FAULT
    {S::kRecovering, S::kRecovering, S::kFault, S::kFault, X, S::kRegistering, S::kOffline,
     S::kOffline, X},
    // RECOVERING
    {S::kRecovering, S::kRecovering, S::kFault, S::kFault, S::kRunning, S::kRegistering,
     S::kOffline, S::kOffline, X},
    // OFFLINE
    {X, X, X, X, X, S::kRegistering, S::kOffline, S::kOffline, S::kRegistering},
};

std::optional<S> Expected(S from, I input) {
  return kExpected[static_cast<int>(from)][static_cast<int>(input)];
}

std::string PairName(S from, I input) {
  return absl::StrCat(NodeStateName(from), " + ", NodeInputName(input));
}

class NodeStateMachineTest : public ::testing::Test {
 protected:
  // Monotonic and wall clocks are deliberately far apart: the machine must not mix them.
  const absl::Time t0_ = absl::FromUnixSeconds(1000);
  const absl::Time wall0_ =
      absl::FromCivil(absl::CivilSecond(2024, 10, 18, 8, 0, 0), absl::UTCTimeZone());

  absl::Time At(absl::Duration d) const { return t0_ + d; }
  absl::Time WallAt(absl::Duration d) const { return wall0_ + d; }

  NodeStateMachine Make() { return NodeStateMachine(&options_, t0_, wall0_); }

  // Feeds `input` at t0 + d (wall clock alike) and expects it to be accepted.
  void Feed(NodeStateMachine& m, I input, absl::Duration d, absl::string_view cause = "") {
    const std::string text = cause.empty() ? std::string(NodeInputName(input)) : std::string(cause);
    ASSERT_TRUE(m.Apply(input, text, At(d), WallAt(d)).ok()) << PairName(m.state(), input);
  }

  // A machine in `state`, not drained, reached the ordinary way at t0.
  NodeStateMachine MakeIn(S state) {
    NodeStateMachine m = Make();
    switch (state) {
      case S::kRegistering:
        break;
      case S::kRunning:
        Feed(m, I::kHeartbeatNormal, absl::ZeroDuration());
        break;
      case S::kOverload:
        Feed(m, I::kHeartbeatBusy, absl::ZeroDuration());
        break;
      case S::kFault:
        Feed(m, I::kHeartbeatInvalid, absl::ZeroDuration());
        break;
      case S::kRecovering:
        Feed(m, I::kHeartbeatInvalid, absl::ZeroDuration());
        Feed(m, I::kHeartbeatNormal, absl::ZeroDuration());
        break;
      case S::kOffline:
        Feed(m, I::kZnodeDeleted, absl::ZeroDuration());
        break;
    }
    EXPECT_EQ(m.state(), state);
    EXPECT_FALSE(m.drained());
    return m;
  }

  static std::vector<std::pair<S, S>> Edges(const NodeStateMachine& m) {
    std::vector<std::pair<S, S>> edges;
    for (const Transition& t : m.history()) edges.emplace_back(t.from, t.to);
    return edges;
  }

  NodeTimingOptions options_;  // 10 s interval, K = 3, probation 2 intervals
};

TEST_F(NodeStateMachineTest, NextMatchesTheExpectedTableForEveryPair) {
  int allowed = 0;
  for (S from : kAllStates) {
    for (I input : kAllInputs) {
      EXPECT_EQ(NodeStateMachine::Next(from, input), Expected(from, input))
          << PairName(from, input);
      allowed += Expected(from, input).has_value();
    }
  }
  EXPECT_EQ(allowed, 40);  // 54 pairs, 14 refused
}

TEST_F(NodeStateMachineTest, ApplyRefusesExactlyWhatTheTableRefuses) {
  for (S from : kAllStates) {
    for (I input : kAllInputs) {
      SCOPED_TRACE(PairName(from, input));
      // Undrained is legal in OFFLINE only for a drained node: covered by the drain tests.
      if (from == S::kOffline && input == I::kUndrained) continue;
      NodeStateMachine m = MakeIn(from);
      const size_t history_before = m.history().size();
      const std::string reason_before = m.reason();
      absl::Status status = m.Apply(input, "cause", At(absl::Seconds(1)), WallAt(absl::Seconds(1)));
      const std::optional<S> expected = Expected(from, input);
      if (!expected.has_value()) {
        EXPECT_THAT(status, StatusIs(absl::StatusCode::kFailedPrecondition,
                                     StartsWith(absl::StrCat("node input ", NodeInputName(input),
                                                             " is not allowed in state ",
                                                             NodeStateName(from)))));
        EXPECT_EQ(m.state(), from);
        EXPECT_EQ(m.history().size(), history_before);
        EXPECT_EQ(m.reason(), reason_before);
        continue;
      }
      ASSERT_TRUE(status.ok()) << status;
      EXPECT_EQ(m.state(), *expected);
      if (*expected != from) {
        ASSERT_EQ(m.history().size(), history_before + 1);
        EXPECT_EQ(m.history().back().from, from);
        EXPECT_EQ(m.history().back().to, *expected);
        EXPECT_EQ(m.history().back().cause, "cause");
        EXPECT_EQ(m.history().back().at, WallAt(absl::Seconds(1)));
        EXPECT_EQ(m.reason(), "cause");
        EXPECT_EQ(m.state_since_wall(), WallAt(absl::Seconds(1)));
      } else if (from != S::kFault) {
        // Self-loops are not recorded (FAULT records a new cause: see its own test).
        EXPECT_EQ(m.history().size(), history_before);
        EXPECT_EQ(m.reason(), reason_before);
      }
    }
  }
}

TEST_F(NodeStateMachineTest, UndrainedIsRefusedWhenNotDrained) {
  for (S from : kAllStates) {
    NodeStateMachine m = MakeIn(from);
    EXPECT_THAT(m.Apply(I::kUndrained, "undrained by operator", At(absl::Seconds(1)),
                        WallAt(absl::Seconds(1))),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr(absl::StrCat("node input UNDRAINED is not allowed in state ",
                                                NodeStateName(from)))));
    EXPECT_EQ(m.state(), from);
  }
}

TEST_F(NodeStateMachineTest, InputNames) {
  std::vector<std::string> names;
  for (I input : kAllInputs) names.emplace_back(NodeInputName(input));
  EXPECT_THAT(names, ElementsAre("HEARTBEAT_NORMAL", "HEARTBEAT_BUSY", "HEARTBEAT_INVALID",
                                 "HEARTBEAT_TIMEOUT", "PROBATION_PASSED", "ZNODE_CREATED",
                                 "ZNODE_DELETED", "DRAINED", "UNDRAINED"));
}

TEST_F(NodeStateMachineTest, StartsRegisteringWithOneHistoryEntry) {
  NodeStateMachine m = Make();
  EXPECT_EQ(m.state(), S::kRegistering);
  EXPECT_EQ(m.reason(), "znode created");
  EXPECT_EQ(m.state_since_wall(), wall0_);
  EXPECT_EQ(m.last_data_change(), t0_);
  EXPECT_FALSE(m.drained());
  ASSERT_EQ(m.history().size(), 1u);
  EXPECT_EQ(m.history()[0].at, wall0_);
  EXPECT_EQ(m.history()[0].from, S::kRegistering);
  EXPECT_EQ(m.history()[0].to, S::kRegistering);
  EXPECT_EQ(m.history()[0].cause, "znode created");
}

TEST_F(NodeStateMachineTest, TimeoutFiresExactlyAfterKIntervals) {
  NodeStateMachine m = Make();
  Feed(m, I::kHeartbeatNormal, absl::ZeroDuration());
  const absl::Duration timeout = absl::Seconds(30);
  EXPECT_FALSE(m.Tick(At(timeout - absl::Nanoseconds(1)), WallAt(timeout)));
  EXPECT_EQ(m.state(), S::kRunning);
  EXPECT_TRUE(m.Tick(At(timeout), WallAt(timeout)));
  EXPECT_EQ(m.state(), S::kFault);
  EXPECT_EQ(m.reason(), "no heartbeat for 30s (3 intervals of 10s)");
  EXPECT_EQ(m.history().back().from, S::kRunning);
  EXPECT_EQ(m.history().back().at, WallAt(timeout));
  // FAULT does not time out again.
  EXPECT_FALSE(m.Tick(At(10 * timeout), WallAt(10 * timeout)));
  EXPECT_EQ(m.history().size(), 3u);
}

TEST_F(NodeStateMachineTest, NextDeadlineIsTheFirstMomentTickChangesTheState) {
  // Expected deadlines worked by hand from the defaults: 10 s intervals, FAULT after 3 (30 s),
  // probation 2 intervals (20 s); every machine below last heard from its node at t0.
  const absl::Time never = absl::InfiniteFuture();
  const std::pair<S, absl::Time> cases[] = {
      {S::kRegistering, At(absl::Seconds(30))},  // the znode's creation starts the timeout
      {S::kRunning, At(absl::Seconds(30))},
      {S::kOverload, At(absl::Seconds(30))},
      {S::kRecovering, At(absl::Seconds(20))},  // probation ends before the timeout
      {S::kFault, never},                       // FAULT is the verdict: nothing further
      {S::kOffline, never},
  };
  for (const auto& [state, deadline] : cases) {
    SCOPED_TRACE(NodeStateName(state));
    NodeStateMachine m = MakeIn(state);
    EXPECT_EQ(m.NextDeadline(), deadline);
    if (deadline == never) {
      EXPECT_FALSE(m.Tick(At(absl::Hours(24)), WallAt(absl::Hours(24))));
      continue;
    }
    NodeStateMachine early = m;
    EXPECT_FALSE(early.Tick(deadline - absl::Nanoseconds(1), wall0_));
    EXPECT_TRUE(m.Tick(deadline, wall0_));
  }
}

TEST_F(NodeStateMachineTest, NextDeadlineMovesWithHeartbeatsAndExcusedSilence) {
  NodeStateMachine m = MakeIn(S::kRunning);
  Feed(m, I::kHeartbeatNormal, absl::Seconds(8));
  EXPECT_EQ(m.NextDeadline(), At(absl::Seconds(38)));
  m.ExcuseSilenceUntil(At(absl::Seconds(15)));  // rosterd was blind until 15 s
  EXPECT_EQ(m.NextDeadline(), At(absl::Seconds(45)));
  Feed(m, I::kDrained, absl::Seconds(16));
  EXPECT_EQ(m.NextDeadline(), absl::InfiniteFuture());
}

TEST_F(NodeStateMachineTest, SilenceCountsOnlyUntilTheRegistryWasLastObserved) {
  // The daemon heard from the registry until 5 s (a partition it has not noticed yet): a node
  // silent since 0 s is not timed out at 100 s, however late it is on the clock.
  NodeStateMachine m = Make();
  Feed(m, I::kHeartbeatNormal, absl::ZeroDuration());
  const absl::Duration timeout = absl::Seconds(30);
  EXPECT_FALSE(m.Tick(At(absl::Seconds(100)), WallAt(absl::Seconds(100)), At(absl::Seconds(5))));
  EXPECT_EQ(m.state(), S::kRunning);
  // Observed until just short of the timeout, then up to it: the timeout fires then.
  EXPECT_FALSE(m.Tick(At(absl::Seconds(100)), WallAt(absl::Seconds(100)),
                      At(timeout - absl::Nanoseconds(1))));
  EXPECT_TRUE(m.Tick(At(absl::Seconds(100)), WallAt(absl::Seconds(100)), At(timeout)));
  EXPECT_EQ(m.state(), S::kFault);
}

TEST_F(NodeStateMachineTest, ObservedUntilInTheFutureIsCappedByNow) {
  NodeStateMachine m = Make();
  Feed(m, I::kHeartbeatNormal, absl::ZeroDuration());
  const absl::Duration timeout = absl::Seconds(30);
  EXPECT_FALSE(m.Tick(At(timeout - absl::Nanoseconds(1)), WallAt(timeout), At(10 * timeout)));
  EXPECT_TRUE(m.Tick(At(timeout), WallAt(timeout), At(10 * timeout)));
}

TEST_F(NodeStateMachineTest, TimeoutFollowsTheOptions) {
  options_.heartbeat_interval = absl::Milliseconds(1500);
  options_.missed_heartbeats = 4;
  NodeStateMachine m = Make();
  Feed(m, I::kHeartbeatBusy, absl::ZeroDuration());
  EXPECT_FALSE(m.Tick(At(absl::Seconds(6) - absl::Nanoseconds(1)), wall0_));
  EXPECT_TRUE(m.Tick(At(absl::Seconds(6)), wall0_));
  EXPECT_EQ(m.state(), S::kFault);
  EXPECT_EQ(m.reason(), "no heartbeat for 6s (4 intervals of 1.5s)");
}

TEST_F(NodeStateMachineTest, RegisteringTimesOutWithoutAValidHeartbeat) {
  NodeStateMachine m = Make();
  EXPECT_FALSE(m.Tick(At(absl::Seconds(30) - absl::Nanoseconds(1)), wall0_));
  EXPECT_TRUE(m.Tick(At(absl::Seconds(30)), wall0_));
  EXPECT_EQ(m.state(), S::kFault);
}

TEST_F(NodeStateMachineTest, DataChangesResetTheTimeout) {
  NodeStateMachine m = Make();
  Feed(m, I::kHeartbeatNormal, absl::ZeroDuration());
  m.OnDataChanged(At(absl::Seconds(20)));  // a payload without a verdict
  EXPECT_EQ(m.last_data_change(), At(absl::Seconds(20)));
  EXPECT_FALSE(m.Tick(At(absl::Seconds(49)), wall0_));
  Feed(m, I::kHeartbeatNormal, absl::Seconds(45));  // a heartbeat (self-loop) also counts
  EXPECT_EQ(m.last_data_change(), At(absl::Seconds(45)));
  EXPECT_FALSE(m.Tick(At(absl::Seconds(75) - absl::Nanoseconds(1)), wall0_));
  EXPECT_EQ(m.state(), S::kRunning);
  EXPECT_TRUE(m.Tick(At(absl::Seconds(75)), wall0_));
  EXPECT_EQ(m.state(), S::kFault);
  // A refused input is not a data change.
  NodeStateMachine offline = MakeIn(S::kOffline);
  EXPECT_FALSE(offline.Apply(I::kHeartbeatNormal, "x", At(absl::Seconds(5)), wall0_).ok());
  EXPECT_EQ(offline.last_data_change(), t0_);
}

TEST_F(NodeStateMachineTest, ProbationEndsExactlyAfterTwoIntervals) {
  NodeStateMachine m = MakeIn(S::kFault);
  Feed(m, I::kHeartbeatNormal, absl::Seconds(100), "heartbeat NORMAL");
  ASSERT_EQ(m.state(), S::kRecovering);
  Feed(m, I::kHeartbeatNormal, absl::Seconds(110));  // self-loops keep the probation start
  Feed(m, I::kHeartbeatNormal, absl::Seconds(119));
  EXPECT_FALSE(m.Tick(At(absl::Seconds(120) - absl::Nanoseconds(1)), WallAt(absl::Seconds(120))));
  EXPECT_EQ(m.state(), S::kRecovering);
  EXPECT_TRUE(m.Tick(At(absl::Seconds(120)), WallAt(absl::Seconds(120))));
  EXPECT_EQ(m.state(), S::kRunning);
  EXPECT_EQ(m.reason(), "probation of 20s passed");
  EXPECT_THAT(Edges(m), ElementsAre(std::pair(S::kRegistering, S::kRegistering),
                                    std::pair(S::kRegistering, S::kFault),
                                    std::pair(S::kFault, S::kRecovering),
                                    std::pair(S::kRecovering, S::kRunning)));
  EXPECT_FALSE(m.Tick(At(absl::Seconds(121)), WallAt(absl::Seconds(121))));
}

TEST_F(NodeStateMachineTest, BusyDuringProbationEndsInOverload) {
  NodeStateMachine m = MakeIn(S::kFault);
  Feed(m, I::kHeartbeatNormal, absl::Seconds(100));
  Feed(m, I::kHeartbeatBusy, absl::Seconds(110), "heartbeat BUSY");
  EXPECT_EQ(m.state(), S::kRecovering);
  EXPECT_TRUE(m.Tick(At(absl::Seconds(120)), WallAt(absl::Seconds(120))));
  EXPECT_EQ(m.state(), S::kOverload);
  EXPECT_EQ(m.reason(), "heartbeat BUSY");
  ASSERT_GE(m.history().size(), 2u);
  const Transition& probation = m.history()[m.history().size() - 2];
  EXPECT_EQ(probation.from, S::kRecovering);
  EXPECT_EQ(probation.to, S::kRunning);
  EXPECT_EQ(probation.cause, "probation of 20s passed");
  EXPECT_EQ(m.history().back().from, S::kRunning);
  EXPECT_EQ(m.history().back().to, S::kOverload);
}

TEST_F(NodeStateMachineTest, NormalAfterBusyDuringProbationEndsInRunning) {
  NodeStateMachine m = MakeIn(S::kFault);
  Feed(m, I::kHeartbeatBusy, absl::Seconds(100));
  Feed(m, I::kHeartbeatNormal, absl::Seconds(110));
  EXPECT_TRUE(m.Tick(At(absl::Seconds(120)), wall0_));
  EXPECT_EQ(m.state(), S::kRunning);
}

TEST_F(NodeStateMachineTest, TimeoutWinsOverProbation) {
  NodeStateMachine m = MakeIn(S::kFault);
  Feed(m, I::kHeartbeatNormal, absl::Seconds(100));
  EXPECT_TRUE(m.Tick(At(absl::Seconds(130)), wall0_));  // probation and timeout both due
  EXPECT_EQ(m.state(), S::kFault);
  EXPECT_THAT(m.reason(), HasSubstr("no heartbeat for 30s"));
}

TEST_F(NodeStateMachineTest, FaultRecordsANewCauseButNotTheSameOne) {
  NodeStateMachine m = Make();
  Feed(m, I::kHeartbeatInvalid, absl::Seconds(1), "heartbeat rejected: cpuUsage NaN");
  const size_t entries = m.history().size();
  Feed(m, I::kHeartbeatInvalid, absl::Seconds(2), "heartbeat rejected: cpuUsage NaN");
  EXPECT_EQ(m.history().size(), entries);
  EXPECT_EQ(m.state_since_wall(), WallAt(absl::Seconds(1)));
  Feed(m, I::kHeartbeatInvalid, absl::Seconds(3), "heartbeat rejected: port 0");
  EXPECT_EQ(m.state(), S::kFault);
  EXPECT_EQ(m.reason(), "heartbeat rejected: port 0");
  ASSERT_EQ(m.history().size(), entries + 1);
  EXPECT_EQ(m.history().back().from, S::kFault);
  EXPECT_EQ(m.history().back().to, S::kFault);
  EXPECT_EQ(m.history().back().at, WallAt(absl::Seconds(3)));
  EXPECT_EQ(m.state_since_wall(), WallAt(absl::Seconds(1)));  // still FAULT since the first
}

TEST_F(NodeStateMachineTest, SelfLoopsAreNotRecorded) {
  NodeStateMachine m = MakeIn(S::kRunning);
  const size_t entries = m.history().size();
  for (int i = 1; i <= 100; ++i) Feed(m, I::kHeartbeatNormal, absl::Seconds(10 * i), "other");
  EXPECT_EQ(m.history().size(), entries);
  EXPECT_EQ(m.reason(), "HEARTBEAT_NORMAL");
}

TEST_F(NodeStateMachineTest, HistoryIsBoundedOldestFirst) {
  options_.history_limit = 4;
  NodeStateMachine m = Make();
  for (int i = 1; i <= 10; ++i) {
    Feed(m, i % 2 == 1 ? I::kHeartbeatNormal : I::kHeartbeatBusy, absl::Seconds(i),
         absl::StrCat("beat ", i));
  }
  ASSERT_EQ(m.history().size(), 4u);
  std::vector<std::string> causes;
  for (const Transition& t : m.history()) causes.push_back(t.cause);
  EXPECT_THAT(causes, ElementsAre("beat 7", "beat 8", "beat 9", "beat 10"));
  EXPECT_EQ(m.history().front().at, WallAt(absl::Seconds(7)));
  EXPECT_EQ(m.history().back().from, S::kRunning);
  EXPECT_EQ(m.history().back().to, S::kOverload);
  EXPECT_EQ(m.reason(), "beat 10");
}

TEST_F(NodeStateMachineTest, ReasonsFollowTheLastTransition) {
  NodeStateMachine m = Make();
  Feed(m, I::kHeartbeatNormal, absl::Seconds(1), "heartbeat NORMAL");
  EXPECT_EQ(m.reason(), "heartbeat NORMAL");
  Feed(m, I::kHeartbeatBusy, absl::Seconds(2), "cpuUsage 0.95 is over the overload threshold");
  EXPECT_EQ(m.reason(), "cpuUsage 0.95 is over the overload threshold");
  Feed(m, I::kZnodeDeleted, absl::Seconds(3), "znode deleted (session ended)");
  EXPECT_EQ(m.reason(), "znode deleted (session ended)");
  Feed(m, I::kZnodeCreated, absl::Seconds(4), "znode created");
  EXPECT_EQ(m.state(), S::kRegistering);
  EXPECT_EQ(m.state_since_wall(), WallAt(absl::Seconds(4)));
}

TEST_F(NodeStateMachineTest, OfflineAndFaultDoNotTick) {
  NodeStateMachine offline = MakeIn(S::kOffline);
  EXPECT_FALSE(offline.Tick(At(absl::Hours(1)), wall0_));
  EXPECT_EQ(offline.state(), S::kOffline);
  NodeStateMachine fault = MakeIn(S::kFault);
  EXPECT_FALSE(fault.Tick(At(absl::Hours(1)), wall0_));
  EXPECT_EQ(fault.state(), S::kFault);
}

TEST_F(NodeStateMachineTest, DrainedNodeNotesHeartbeatsAndUndrainResumesTheLastVerdict) {
  NodeStateMachine m = MakeIn(S::kRunning);
  Feed(m, I::kDrained, absl::Seconds(1), "drained by operator: kernel upgrade");
  EXPECT_EQ(m.state(), S::kOffline);
  EXPECT_TRUE(m.drained());
  EXPECT_EQ(m.reason(), "drained by operator: kernel upgrade");
  const size_t entries = m.history().size();

  // Heartbeats are noted, not refused, and change nothing visible.
  Feed(m, I::kHeartbeatNormal, absl::Seconds(10));
  Feed(m, I::kHeartbeatInvalid, absl::Seconds(20), "heartbeat rejected: port 0");
  Feed(m, I::kHeartbeatBusy, absl::Seconds(30), "heartbeat BUSY");
  EXPECT_EQ(m.state(), S::kOffline);
  EXPECT_EQ(m.history().size(), entries);
  EXPECT_EQ(m.reason(), "drained by operator: kernel upgrade");
  EXPECT_EQ(m.last_data_change(), At(absl::Seconds(30)));
  // No timeout while drained, however long.
  EXPECT_FALSE(m.Tick(At(absl::Hours(5)), wall0_));
  // Draining again is a self-loop; timeouts and probation are still refused.
  Feed(m, I::kDrained, absl::Seconds(35));
  EXPECT_THAT(m.Apply(I::kHeartbeatTimeout, "x", At(absl::Seconds(36)), wall0_),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(m.Apply(I::kProbationPassed, "x", At(absl::Seconds(36)), wall0_),
              StatusIs(absl::StatusCode::kFailedPrecondition));

  Feed(m, I::kUndrained, absl::Seconds(40), "undrained by operator");
  EXPECT_FALSE(m.drained());
  EXPECT_EQ(m.state(), S::kOverload);
  EXPECT_EQ(m.reason(), "heartbeat BUSY");
  ASSERT_EQ(m.history().size(), entries + 2);
  EXPECT_EQ(m.history()[entries].from, S::kOffline);
  EXPECT_EQ(m.history()[entries].to, S::kRegistering);
  EXPECT_EQ(m.history()[entries].cause, "undrained by operator");
  EXPECT_EQ(m.history()[entries + 1].from, S::kRegistering);
  EXPECT_EQ(m.history()[entries + 1].to, S::kOverload);
  // Liveness still counts from the last real data change (t0 + 30 s).
  EXPECT_EQ(m.last_data_change(), At(absl::Seconds(30)));
  EXPECT_FALSE(m.Tick(At(absl::Seconds(60) - absl::Nanoseconds(1)), wall0_));
  EXPECT_TRUE(m.Tick(At(absl::Seconds(60)), wall0_));
  EXPECT_EQ(m.state(), S::kFault);
}

TEST_F(NodeStateMachineTest, UndrainResumesAnInvalidVerdictAsFault) {
  NodeStateMachine m = MakeIn(S::kRunning);
  Feed(m, I::kDrained, absl::Seconds(1));
  Feed(m, I::kHeartbeatInvalid, absl::Seconds(2), "heartbeat rejected: port 0");
  Feed(m, I::kUndrained, absl::Seconds(3), "undrained by operator");
  EXPECT_EQ(m.state(), S::kFault);
  EXPECT_EQ(m.reason(), "heartbeat rejected: port 0");
}

TEST_F(NodeStateMachineTest, UndrainWithoutAVerdictStaysRegistering) {
  NodeStateMachine m = Make();
  Feed(m, I::kDrained, absl::Seconds(1));
  Feed(m, I::kUndrained, absl::Seconds(2), "undrained by operator");
  EXPECT_EQ(m.state(), S::kRegistering);
  EXPECT_EQ(m.reason(), "undrained by operator");
}

TEST_F(NodeStateMachineTest, UndrainAfterTheZnodeWasDeletedStaysOffline) {
  NodeStateMachine m = MakeIn(S::kRunning);
  Feed(m, I::kDrained, absl::Seconds(1), "drained by operator: x");
  Feed(m, I::kZnodeDeleted, absl::Seconds(2), "znode deleted (session ended)");
  EXPECT_EQ(m.state(), S::kOffline);
  const size_t entries = m.history().size();
  Feed(m, I::kUndrained, absl::Seconds(3), "undrained by operator");
  EXPECT_FALSE(m.drained());
  EXPECT_EQ(m.state(), S::kOffline);
  EXPECT_EQ(m.history().size(), entries);
  // Not drained any more: a second undrain is refused, heartbeats are refused again, and the
  // next incarnation registers.
  EXPECT_THAT(m.Apply(I::kUndrained, "x", At(absl::Seconds(4)), wall0_),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not drained")));
  EXPECT_THAT(m.Apply(I::kHeartbeatNormal, "x", At(absl::Seconds(4)), wall0_),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "node input HEARTBEAT_NORMAL is not allowed in state OFFLINE"));
  Feed(m, I::kZnodeCreated, absl::Seconds(5), "znode created");
  EXPECT_EQ(m.state(), S::kRegistering);
}

TEST_F(NodeStateMachineTest, ZnodeCreatedWhileDrainedStaysOfflineAndForgetsTheOldVerdict) {
  NodeStateMachine m = MakeIn(S::kOverload);
  Feed(m, I::kDrained, absl::Seconds(1));
  Feed(m, I::kZnodeDeleted, absl::Seconds(2));
  Feed(m, I::kZnodeCreated, absl::Seconds(3), "znode created");
  EXPECT_EQ(m.state(), S::kOffline);
  EXPECT_TRUE(m.drained());
  EXPECT_EQ(m.last_data_change(), At(absl::Seconds(3)));
  Feed(m, I::kUndrained, absl::Seconds(4), "undrained by operator");
  // The new incarnation has not reported: the old one's BUSY does not carry over.
  EXPECT_EQ(m.state(), S::kRegistering);
  EXPECT_FALSE(m.Tick(At(absl::Seconds(33) - absl::Nanoseconds(1)), wall0_));
  EXPECT_TRUE(m.Tick(At(absl::Seconds(33)), wall0_));
  EXPECT_EQ(m.state(), S::kFault);
}

TEST_F(NodeStateMachineTest, UndrainAfterANewIncarnationReportedResumesIt) {
  NodeStateMachine m = MakeIn(S::kRunning);
  Feed(m, I::kDrained, absl::Seconds(1));
  Feed(m, I::kZnodeCreated, absl::Seconds(2));
  Feed(m, I::kHeartbeatNormal, absl::Seconds(3), "heartbeat NORMAL");
  Feed(m, I::kUndrained, absl::Seconds(4), "undrained by operator");
  EXPECT_EQ(m.state(), S::kRunning);
  EXPECT_EQ(m.reason(), "heartbeat NORMAL");
}

TEST_F(NodeStateMachineTest, DrainFromEveryLiveStateGoesOffline) {
  for (S from : kAllStates) {
    NodeStateMachine m = MakeIn(from);
    Feed(m, I::kDrained, absl::Seconds(1), "drained by operator: test");
    EXPECT_EQ(m.state(), S::kOffline) << NodeStateName(from);
    EXPECT_TRUE(m.drained());
  }
}

TEST_F(NodeStateMachineTest, NewIncarnationReRegisters) {
  NodeStateMachine m = MakeIn(S::kOverload);
  Feed(m, I::kZnodeCreated, absl::Seconds(50), "new incarnation: the process restarted");
  EXPECT_EQ(m.state(), S::kRegistering);
  EXPECT_EQ(m.last_data_change(), At(absl::Seconds(50)));
  EXPECT_EQ(m.reason(), "new incarnation: the process restarted");
}

}  // namespace
}  // namespace roster::cluster
