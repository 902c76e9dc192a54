// SessionStateMachine: every (phase, input) cell of the table checked against an independent
// oracle, the flag logic ZooKeeperRegistry used before the state machine (handle connected,
// ever connected, session announced, restore pending, last delivered state), so the table
// provably keeps the registry's behaviour; which inputs are refused, from a rule written here;
// and Apply() with the times it is given (published state, suspension, loss deadline).
#include "registry/internal/session_state_machine.h"

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace roster::registry::internal {
namespace {

using ::roster::testing::StatusIs;
using ::testing::HasSubstr;

using P = SessionPhase;
using I = SessionInput;
using E = SessionEventType;

constexpr std::array<P, 9> kAllPhases = {
    P::kConnecting, P::kRestoring, P::kRestoringOffline, P::kRestoredOffline, P::kConnected,
    P::kSuspended,  P::kLost,      P::kAuthFailed,       P::kClosed};
constexpr std::array<I, 7> kAllInputs = {
    I::kHandleConnected, I::kHandleDisconnected, I::kExpired, I::kAuthFailed,
    I::kRestoreDone,     I::kLossTimeout,        I::kShutdown};

// The registry's session logic before the state machine, transcribed from the flag-based
// OnConnected / OnDisconnected / OnExpired / OnAuthFailed / RestoreDone / OnLossTimer /
// ShutdownOnExecutor it replaced.
struct FlagModel {
  bool closed = false;
  bool auth_failed = false;       // the handle was dropped: its events no longer arrive
  bool handle_connected = false;  // handle_connected_
  bool ever_connected = false;    // handle_ever_connected_
  bool announced = false;         // announced_generation_ == generation_
  bool restore_pending = false;   // !restoring_.empty()
  SessionState state = SessionState::kConnecting;  // state_, as last delivered
  bool loss_timer_armed = false;

  // What one input made the old code do.
  struct Effect {
    std::optional<E> delivered;
    bool started_restore = false;
    bool armed_loss_timer = false;
    bool cancelled_armed_loss_timer = false;
    bool closed_handle = false;
    bool renewed_session = false;
  };

  void Deliver(Effect& effect, E type, SessionState to) {
    effect.delivered = type;
    state = to;
  }

  void CancelLossTimer(Effect& effect) {
    if (loss_timer_armed) effect.cancelled_armed_loss_timer = true;
    loss_timer_armed = false;
  }

  Effect Apply(I input) {
    Effect effect;
    if (closed) return effect;  // everything checked closed_ first
    if (auth_failed && input != I::kShutdown && input != I::kRestoreDone) return effect;
    switch (input) {
      case I::kHandleConnected:
        handle_connected = true;
        CancelLossTimer(effect);
        if (!ever_connected) {
          ever_connected = true;
          restore_pending = true;  // StartRestore(); nothing to restore is a RestoreDone
          effect.started_restore = true;
        } else if (announced) {
          Deliver(effect, E::kReconnected, SessionState::kConnected);
        } else if (!restore_pending) {
          announced = true;
          Deliver(effect, E::kConnected, SessionState::kConnected);
        }
        break;
      case I::kHandleDisconnected:
        if (!handle_connected) break;
        handle_connected = false;
        if (announced && state == SessionState::kConnected) {
          Deliver(effect, E::kSuspended, SessionState::kSuspended);
          loss_timer_armed = true;
          effect.armed_loss_timer = true;
        }
        break;
      case I::kExpired:
        CancelLossTimer(effect);
        handle_connected = false;
        if (announced) Deliver(effect, E::kExpired, SessionState::kExpired);
        restore_pending = false;
        // ++generation_: a new handle, never connected, not announced.
        ever_connected = false;
        announced = false;
        effect.renewed_session = true;
        break;
      case I::kAuthFailed:
        CancelLossTimer(effect);
        handle_connected = false;
        effect.closed_handle = true;
        Deliver(effect, E::kAuthFailed, SessionState::kAuthFailed);
        auth_failed = true;
        break;
      case I::kRestoreDone:
        restore_pending = false;
        if (handle_connected && !announced && !auth_failed) {
          announced = true;
          Deliver(effect, E::kConnected, SessionState::kConnected);
        }
        break;
      case I::kLossTimeout:
        loss_timer_armed = false;
        if (state == SessionState::kSuspended) Deliver(effect, E::kLost, SessionState::kLost);
        break;
      case I::kShutdown:
        closed = true;
        CancelLossTimer(effect);
        effect.closed_handle = true;
        Deliver(effect, E::kClosed, SessionState::kClosed);
        break;
    }
    return effect;
  }

  // The flags a registry has in `phase`.
  static FlagModel In(P phase) {
    FlagModel m;
    switch (phase) {
      case P::kConnecting:
        break;
      case P::kRestoring:
        m.handle_connected = m.ever_connected = m.restore_pending = true;
        break;
      case P::kRestoringOffline:
        m.ever_connected = m.restore_pending = true;
        break;
      case P::kRestoredOffline:
        m.ever_connected = true;
        break;
      case P::kConnected:
        m.handle_connected = m.ever_connected = m.announced = true;
        m.state = SessionState::kConnected;
        break;
      case P::kSuspended:
        m.ever_connected = m.announced = m.loss_timer_armed = true;
        m.state = SessionState::kSuspended;
        break;
      case P::kLost:
        m.ever_connected = m.announced = true;
        m.state = SessionState::kLost;
        break;
      case P::kAuthFailed:
        m.auth_failed = true;
        m.state = SessionState::kAuthFailed;
        break;
      case P::kClosed:
        m.closed = true;
        m.state = SessionState::kClosed;
        break;
    }
    return m;
  }

  // The phase these flags describe.
  P Phase() const {
    if (closed) return P::kClosed;
    if (auth_failed) return P::kAuthFailed;
    if (!ever_connected) return P::kConnecting;
    if (!announced) {
      if (restore_pending) return handle_connected ? P::kRestoring : P::kRestoringOffline;
      return P::kRestoredOffline;
    }
    if (state == SessionState::kSuspended) return P::kSuspended;
    if (state == SessionState::kLost) return P::kLost;
    return P::kConnected;
  }
};

// Inputs the registry never feeds in a phase (it filters them out before the machine), so
// the table refuses them: nothing at all once closed; after an auth failure only a restore
// settling and the shutdown; a loss timeout only while suspended (the timer is cancelled on
// leaving); a settled restore only while one is under way.
bool CanHappen(P phase, I input) {
  if (phase == P::kClosed) return false;
  if (phase == P::kAuthFailed) return input == I::kRestoreDone || input == I::kShutdown;
  if (input == I::kLossTimeout) return phase == P::kSuspended;
  if (input == I::kRestoreDone) return phase == P::kRestoring || phase == P::kRestoringOffline;
  return true;
}

std::string Cell(P phase, I input) {
  return absl::StrCat(SessionPhaseName(phase), " x ", SessionInputName(input));
}

TEST(SessionStateMachineTableTest, EveryCellMatchesTheFlagLogicItReplaced) {
  for (P phase : kAllPhases) {
    for (I input : kAllInputs) {
      SCOPED_TRACE(Cell(phase, input));
      const std::optional<SessionStep> step = SessionStateMachine::Next(phase, input);
      ASSERT_EQ(step.has_value(), CanHappen(phase, input));
      FlagModel model = FlagModel::In(phase);
      ASSERT_EQ(model.Phase(), phase) << "the oracle's flags for this phase";
      const FlagModel::Effect effect = model.Apply(input);
      if (!step.has_value()) {
        // Refused inputs are dropped: the old code did nothing with them either.
        EXPECT_EQ(model.Phase(), phase);
        EXPECT_FALSE(effect.delivered.has_value());
        continue;
      }
      EXPECT_EQ(step->to, model.Phase());
      EXPECT_EQ(step->announce, effect.delivered);
      EXPECT_EQ((step->actions & kAnnounce) != 0, effect.delivered.has_value());
      EXPECT_EQ((step->actions & kStartRestore) != 0, effect.started_restore);
      EXPECT_EQ((step->actions & kArmLossTimer) != 0, effect.armed_loss_timer);
      EXPECT_EQ((step->actions & kCancelLossTimer) != 0, effect.cancelled_armed_loss_timer);
      EXPECT_EQ((step->actions & kCloseHandle) != 0, effect.closed_handle);
      EXPECT_EQ((step->actions & kRenewSession) != 0, effect.renewed_session);
    }
  }
}

TEST(SessionStateMachineTableTest, ListenersHearOfTheSessionOnlyOnceItIsAnnounced) {
  // Whatever happens before the first kConnected of a session stays inside the registry,
  // except the two terminal events.
  for (P phase : {P::kConnecting, P::kRestoring, P::kRestoringOffline, P::kRestoredOffline}) {
    for (I input : kAllInputs) {
      const std::optional<SessionStep> step = SessionStateMachine::Next(phase, input);
      if (!step.has_value() || !step->announce.has_value()) continue;
      EXPECT_THAT(*step->announce, ::testing::AnyOf(E::kConnected, E::kAuthFailed, E::kClosed))
          << Cell(phase, input);
    }
  }
}

TEST(SessionStateMachineTableTest, StateAfterEachEventIsTheOneRegistryHDocuments) {
  EXPECT_EQ(SessionStateAfter(E::kConnected), SessionState::kConnected);
  EXPECT_EQ(SessionStateAfter(E::kReconnected), SessionState::kConnected);
  EXPECT_EQ(SessionStateAfter(E::kSuspended), SessionState::kSuspended);
  EXPECT_EQ(SessionStateAfter(E::kLost), SessionState::kLost);
  EXPECT_EQ(SessionStateAfter(E::kExpired), SessionState::kExpired);
  EXPECT_EQ(SessionStateAfter(E::kAuthFailed), SessionState::kAuthFailed);
  EXPECT_EQ(SessionStateAfter(E::kClosed), SessionState::kClosed);
}

class SessionStateMachineTest : public ::testing::Test {
 protected:
  // Applies `input` at t0 + `at`; returns the announced event, if any.
  std::optional<E> Feed(I input, absl::Duration at = absl::ZeroDuration()) {
    absl::StatusOr<SessionStep> step = machine_.Apply(input, t0_ + at);
    EXPECT_OK(step.status()) << SessionInputName(input);
    return step.ok() ? step->announce : std::nullopt;
  }

  const absl::Time t0_ = absl::FromUnixSeconds(1000);
  SessionStateMachine machine_{t0_};
};

TEST_F(SessionStateMachineTest, StartsConnectingWithNothingAnnounced) {
  EXPECT_EQ(machine_.phase(), P::kConnecting);
  EXPECT_EQ(machine_.published(), SessionState::kConnecting);
  EXPECT_EQ(machine_.published_since(), t0_);
  EXPECT_FALSE(machine_.announced());
  EXPECT_FALSE(machine_.handle_connected());
  EXPECT_FALSE(machine_.terminal());
}

TEST_F(SessionStateMachineTest, AFirstSessionIsAnnouncedOnlyOnceItsEphemeralsAreBack) {
  EXPECT_EQ(Feed(I::kHandleConnected, absl::Seconds(1)), std::nullopt);
  EXPECT_EQ(machine_.phase(), P::kRestoring);
  EXPECT_TRUE(machine_.handle_connected());
  EXPECT_EQ(machine_.published(), SessionState::kConnecting);
  EXPECT_EQ(Feed(I::kRestoreDone, absl::Seconds(2)), E::kConnected);
  EXPECT_EQ(machine_.published(), SessionState::kConnected);
  EXPECT_EQ(machine_.published_since(), t0_ + absl::Seconds(2));
  EXPECT_TRUE(machine_.announced());
}

TEST_F(SessionStateMachineTest, ADisconnectDuringTheRestoreIsSilentAndTheReconnectAnnounces) {
  Feed(I::kHandleConnected);
  EXPECT_EQ(Feed(I::kHandleDisconnected), std::nullopt);
  EXPECT_EQ(Feed(I::kRestoreDone), std::nullopt);
  EXPECT_EQ(machine_.phase(), P::kRestoredOffline);
  EXPECT_EQ(Feed(I::kHandleConnected), E::kConnected);
  EXPECT_EQ(machine_.phase(), P::kConnected);
}

TEST_F(SessionStateMachineTest, TheLossTimerCountsFromTheSuspensionAndIsRefusedBeforeItsDeadline) {
  machine_.set_loss_timeout(absl::Seconds(30));
  Feed(I::kHandleConnected);
  Feed(I::kRestoreDone);
  EXPECT_EQ(Feed(I::kHandleDisconnected, absl::Seconds(10)), E::kSuspended);
  EXPECT_EQ(machine_.suspended_since(), t0_ + absl::Seconds(10));
  EXPECT_EQ(machine_.loss_deadline(), t0_ + absl::Seconds(40));
  // A second CONNECTING report does not restart the suspension.
  EXPECT_EQ(Feed(I::kHandleDisconnected, absl::Seconds(20)), std::nullopt);
  EXPECT_EQ(machine_.loss_deadline(), t0_ + absl::Seconds(40));

  EXPECT_THAT(machine_.Apply(I::kLossTimeout, t0_ + absl::Seconds(40) - absl::Nanoseconds(1)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("LOSS_TIMEOUT is not allowed in phase SUSPENDED yet")));
  EXPECT_EQ(machine_.phase(), P::kSuspended);
  EXPECT_EQ(Feed(I::kLossTimeout, absl::Seconds(40)), E::kLost);
  EXPECT_EQ(machine_.published(), SessionState::kLost);
  EXPECT_EQ(Feed(I::kHandleConnected, absl::Seconds(50)), E::kReconnected);
  EXPECT_EQ(machine_.published(), SessionState::kConnected);
}

TEST_F(SessionStateMachineTest, ExpiryOfAnAnnouncedSessionIsAnnouncedAndANewOneRestores) {
  Feed(I::kHandleConnected);
  Feed(I::kRestoreDone);
  EXPECT_EQ(Feed(I::kExpired), E::kExpired);
  EXPECT_EQ(machine_.phase(), P::kConnecting);
  EXPECT_EQ(machine_.published(), SessionState::kExpired) << "until the new one is announced";
  EXPECT_FALSE(machine_.announced());
  // The new session expiring before it was announced is not announced either.
  Feed(I::kHandleConnected);
  EXPECT_EQ(Feed(I::kExpired), std::nullopt);
  EXPECT_EQ(machine_.published(), SessionState::kExpired);
}

TEST_F(SessionStateMachineTest, RefusedInputsNameThePhaseAndChangeNothing) {
  EXPECT_THAT(machine_.Apply(I::kRestoreDone, t0_),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("session input RESTORE_DONE is not allowed in phase CONNECTING")));
  EXPECT_EQ(machine_.phase(), P::kConnecting);
  EXPECT_EQ(Feed(I::kShutdown, absl::Seconds(3)), E::kClosed);
  EXPECT_TRUE(machine_.terminal());
  EXPECT_EQ(machine_.published_since(), t0_ + absl::Seconds(3));
  for (I input : kAllInputs) {
    EXPECT_THAT(machine_.Apply(input, t0_ + absl::Seconds(4)),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("phase CLOSED")));
  }
  EXPECT_EQ(machine_.published_since(), t0_ + absl::Seconds(3));
}

TEST_F(SessionStateMachineTest, AfterAnAuthFailureOnlyTheShutdownIsAnnounced) {
  Feed(I::kHandleConnected);
  EXPECT_EQ(Feed(I::kAuthFailed), E::kAuthFailed);
  EXPECT_TRUE(machine_.terminal());
  EXPECT_EQ(Feed(I::kRestoreDone), std::nullopt) << "a restore settling late changes nothing";
  EXPECT_EQ(machine_.phase(), P::kAuthFailed);
  EXPECT_FALSE(machine_.Apply(I::kHandleConnected, t0_).ok());
  EXPECT_EQ(Feed(I::kShutdown), E::kClosed);
}

}  // namespace
}  // namespace roster::registry::internal
