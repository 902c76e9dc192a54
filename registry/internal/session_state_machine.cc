#include "registry/internal/session_state_machine.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace roster::registry::internal {
namespace {

using P = SessionPhase;
using I = SessionInput;
using E = SessionEventType;

// The transition table: every legal (phase, input) pair, the phase it leads to, and what the
// registry does. A pair that is not listed is refused: the input cannot happen there (the
// registry drops events of older handles, stale timers and restores of older sessions before
// they reach the machine).
//
// clang-format off
//   from \ input | CONNECTED DISCONNECTED EXPIRED  AUTH_FAILED RESTORE_DONE LOSS_TIMEOUT SHUTDOWN
//   -------------+--------------------------------------------------------------------------
//   CONNECTING   | RST r     =            CNG n    AF          -            -            CLS
//   RESTORING    | =         RST_OFF      CNG n    AF          CON +C       -            CLS
//   RST_OFFLINE  | RST       =            CNG n    AF          RSD_OFF      -            CLS
//   RSD_OFFLINE  | CON +C    =            CNG n    AF          -            -            CLS
//   CONNECTED    | CON +R    SUS +S a     CNG +E n AF          -            -            CLS
//   SUSPENDED    | CON +R    =            CNG +E n AF          -            LOST +L      CLS
//   LOST         | CON +R    =            CNG +E n AF          -            -            CLS
//   AUTH_FAILED  | -         -            -        -           =            -            CLS
//   CLOSED       | -         -            -        -           -            -            -
//   (CNG CONNECTING, RST RESTORING, RST_OFF(LINE) RESTORING_OFFLINE, RSD_OFF(LINE)
//    RESTORED_OFFLINE, CON CONNECTED, SUS SUSPENDED. "=": legal, nothing changes; "-":
//    refused. +C/+S/+R/+L/+E: announce kConnected, kSuspended, kReconnected, kLost, kExpired.
//    r: start the restore; n: renew the session; a: arm the loss timer. AF: AUTH_FAILED,
//    closing the handle, then announcing kAuthFailed; CLS: CLOSED, closing the handle, then
//    announcing kClosed. Leaving SUSPENDED by any input but the loss timeout cancels the loss
//    timer; no other phase has one armed.)
// clang-format on
//
// Why the "=" rows: the C client reports CONNECTING again on every failed attempt
// (DISCONNECTED while disconnected), and CONNECTED while the restore is under way; a restore
// request that fails for good after an auth failure still settles it (RESTORE_DONE in
// AUTH_FAILED). CONNECTED while connected (not expected from the C client, which reports
// CONNECTING in between) is taken as a reconnection, as the registry always did: subscriptions
// re-read, which is always safe.
struct Row {
  SessionPhase from;
  SessionInput input;
  SessionPhase to;
  uint32_t actions;
  std::optional<SessionEventType> announce;
};

// Both terminal inputs fail every request and close the handle before announcing.
constexpr uint32_t kTerminalActions = kCloseHandle | kAnnounce;

const Row kTable[] = {
    {P::kConnecting, I::kHandleConnected, P::kRestoring, kStartRestore, {}},
    {P::kConnecting, I::kHandleDisconnected, P::kConnecting, kNoAction, {}},
    {P::kConnecting, I::kExpired, P::kConnecting, kRenewSession, {}},
    {P::kConnecting, I::kAuthFailed, P::kAuthFailed, kTerminalActions, E::kAuthFailed},
    {P::kConnecting, I::kShutdown, P::kClosed, kTerminalActions, E::kClosed},

    {P::kRestoring, I::kHandleConnected, P::kRestoring, kNoAction, {}},
    {P::kRestoring, I::kHandleDisconnected, P::kRestoringOffline, kNoAction, {}},
    {P::kRestoring, I::kExpired, P::kConnecting, kRenewSession, {}},
    {P::kRestoring, I::kAuthFailed, P::kAuthFailed, kTerminalActions, E::kAuthFailed},
    {P::kRestoring, I::kRestoreDone, P::kConnected, kAnnounce, E::kConnected},
    {P::kRestoring, I::kShutdown, P::kClosed, kTerminalActions, E::kClosed},

    {P::kRestoringOffline, I::kHandleConnected, P::kRestoring, kNoAction, {}},
    {P::kRestoringOffline, I::kHandleDisconnected, P::kRestoringOffline, kNoAction, {}},
    {P::kRestoringOffline, I::kExpired, P::kConnecting, kRenewSession, {}},
    {P::kRestoringOffline, I::kAuthFailed, P::kAuthFailed, kTerminalActions, E::kAuthFailed},
    {P::kRestoringOffline, I::kRestoreDone, P::kRestoredOffline, kNoAction, {}},
    {P::kRestoringOffline, I::kShutdown, P::kClosed, kTerminalActions, E::kClosed},

    {P::kRestoredOffline, I::kHandleConnected, P::kConnected, kAnnounce, E::kConnected},
    {P::kRestoredOffline, I::kHandleDisconnected, P::kRestoredOffline, kNoAction, {}},
    {P::kRestoredOffline, I::kExpired, P::kConnecting, kRenewSession, {}},
    {P::kRestoredOffline, I::kAuthFailed, P::kAuthFailed, kTerminalActions, E::kAuthFailed},
    {P::kRestoredOffline, I::kShutdown, P::kClosed, kTerminalActions, E::kClosed},

    {P::kConnected, I::kHandleConnected, P::kConnected, kAnnounce, E::kReconnected},
    {P::kConnected, I::kHandleDisconnected, P::kSuspended, kAnnounce | kArmLossTimer,
     E::kSuspended},
    {P::kConnected, I::kExpired, P::kConnecting, kAnnounce | kRenewSession, E::kExpired},
    {P::kConnected, I::kAuthFailed, P::kAuthFailed, kTerminalActions, E::kAuthFailed},
    {P::kConnected, I::kShutdown, P::kClosed, kTerminalActions, E::kClosed},

    {P::kSuspended, I::kHandleConnected, P::kConnected, kCancelLossTimer | kAnnounce,
     E::kReconnected},
    {P::kSuspended, I::kHandleDisconnected, P::kSuspended, kNoAction, {}},
    {P::kSuspended, I::kExpired, P::kConnecting, kCancelLossTimer | kAnnounce | kRenewSession,
     E::kExpired},
    {P::kSuspended, I::kAuthFailed, P::kAuthFailed, kCancelLossTimer | kTerminalActions,
     E::kAuthFailed},
    {P::kSuspended, I::kLossTimeout, P::kLost, kAnnounce, E::kLost},
    {P::kSuspended, I::kShutdown, P::kClosed, kCancelLossTimer | kTerminalActions, E::kClosed},

    {P::kLost, I::kHandleConnected, P::kConnected, kAnnounce, E::kReconnected},
    {P::kLost, I::kHandleDisconnected, P::kLost, kNoAction, {}},
    {P::kLost, I::kExpired, P::kConnecting, kAnnounce | kRenewSession, E::kExpired},
    {P::kLost, I::kAuthFailed, P::kAuthFailed, kTerminalActions, E::kAuthFailed},
    {P::kLost, I::kShutdown, P::kClosed, kTerminalActions, E::kClosed},

    {P::kAuthFailed, I::kRestoreDone, P::kAuthFailed, kNoAction, {}},
    {P::kAuthFailed, I::kShutdown, P::kClosed, kTerminalActions, E::kClosed},
};

absl::Status Refused(SessionInput input, SessionPhase phase, absl::string_view why) {
  return absl::FailedPreconditionError(absl::StrCat("session input ", SessionInputName(input),
                                                    " is not allowed in phase ",
                                                    SessionPhaseName(phase), why));
}

}  // namespace

absl::string_view SessionPhaseName(SessionPhase phase) {
  switch (phase) {
    case P::kConnecting:
      return "CONNECTING";
    case P::kRestoring:
      return "RESTORING";
    case P::kRestoringOffline:
      return "RESTORING_OFFLINE";
    case P::kRestoredOffline:
      return "RESTORED_OFFLINE";
    case P::kConnected:
      return "CONNECTED";
    case P::kSuspended:
      return "SUSPENDED";
    case P::kLost:
      return "LOST";
    case P::kAuthFailed:
      return "AUTH_FAILED";
    case P::kClosed:
      return "CLOSED";
  }
  return "UNKNOWN_PHASE";
}

absl::string_view SessionInputName(SessionInput input) {
  switch (input) {
    case I::kHandleConnected:
      return "HANDLE_CONNECTED";
    case I::kHandleDisconnected:
      return "HANDLE_DISCONNECTED";
    case I::kExpired:
      return "EXPIRED";
    case I::kAuthFailed:
      return "AUTH_FAILED";
    case I::kRestoreDone:
      return "RESTORE_DONE";
    case I::kLossTimeout:
      return "LOSS_TIMEOUT";
    case I::kShutdown:
      return "SHUTDOWN";
  }
  return "UNKNOWN_INPUT";
}

SessionState SessionStateAfter(SessionEventType event) {
  switch (event) {
    case E::kConnected:
    case E::kReconnected:
      return SessionState::kConnected;
    case E::kSuspended:
      return SessionState::kSuspended;
    case E::kLost:
      return SessionState::kLost;
    case E::kExpired:
      return SessionState::kExpired;
    case E::kAuthFailed:
      return SessionState::kAuthFailed;
    case E::kClosed:
      return SessionState::kClosed;
  }
  return SessionState::kClosed;
}

std::optional<SessionStep> SessionStateMachine::Next(SessionPhase from, SessionInput input) {
  for (const Row& row : kTable) {
    if (row.from == from && row.input == input) {
      return SessionStep{row.to, row.actions, row.announce};
    }
  }
  return std::nullopt;
}

SessionStateMachine::SessionStateMachine(absl::Time now) : published_since_(now) {}

absl::StatusOr<SessionStep> SessionStateMachine::Apply(SessionInput input, absl::Time now) {
  const std::optional<SessionStep> step = Next(phase_, input);
  if (!step.has_value()) return Refused(input, phase_, "");
  if (input == I::kLossTimeout && now < loss_deadline()) {
    return Refused(
        input, phase_,
        absl::StrCat(" yet: suspended for ", absl::FormatDuration(now - suspended_since_), " of ",
                     absl::FormatDuration(loss_timeout_)));
  }
  if (step->to == P::kSuspended && phase_ != P::kSuspended) suspended_since_ = now;
  phase_ = step->to;
  if (step->announce.has_value()) {
    published_ = SessionStateAfter(*step->announce);
    published_since_ = now;
  }
  return *step;
}

bool SessionStateMachine::handle_connected() const {
  return phase_ == P::kRestoring || phase_ == P::kConnected;
}

bool SessionStateMachine::announced() const {
  return phase_ == P::kConnected || phase_ == P::kSuspended || phase_ == P::kLost;
}

bool SessionStateMachine::terminal() const {
  return phase_ == P::kAuthFailed || phase_ == P::kClosed;
}

}  // namespace roster::registry::internal
