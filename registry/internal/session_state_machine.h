// SessionStateMachine: a registry's view of its session, as a pure value class. ZooKeeperRegistry
// drives it with its ZooKeeper session, EtcdRegistry with its lease (registry/etcd), so both
// registries announce the same session events in the same order.
//
// The C client reports connection states of one handle (connected, connecting, expired, auth
// failed); the registry adds its own steps: after a new session connects, the ephemerals it
// owns are re-created before the session is announced, and a connection lost for longer than
// the session timeout is reported as kLost (the C client never says so). Every legal
// transition is one row of a single table (see Next()), with the actions the registry must
// take; time is passed in; there is no I/O.
//
//   CONNECTING --connected--> RESTORING --restore done--> CONNECTED (kConnected)
//                              |     ^                        |    ^
//                   disconnected     connected     disconnected    connected (kReconnected)
//                              v     |                        v    |
//                       RESTORING_OFFLINE                   SUSPENDED (kSuspended)
//                              |                              |
//                   restore done                          loss timeout
//                              v                              v
//                       RESTORED_OFFLINE                    LOST (kLost)
//                         --connected--> CONNECTED            --connected--> CONNECTED
//                            (kConnected)                        (kReconnected)
//
//   expired, in every phase but the terminal ones --> CONNECTING with a new handle and a new
//       session (announcing kExpired first if the old session was announced)
//   auth failed, in every phase but the terminal ones --> AUTH_FAILED (kAuthFailed)
//   shutdown, in every phase but CLOSED --> CLOSED (kClosed)
//
// A session is "announced" (listeners heard kConnected for it) in CONNECTED, SUSPENDED and
// LOST; only those phases announce kSuspended, kReconnected, kLost or kExpired.
//
// Thread-safety: a value; not thread-safe. Owned and driven by its registry on the registry's
// executor.
#pragma once

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "registry/registry.h"

namespace roster::registry::internal {

enum class SessionPhase {
  kConnecting,        // a handle for a new session (the first, or after an expiry), not
                      // connected yet
  kRestoring,         // the new session is connected; our ephemerals are being re-created
  kRestoringOffline,  // ... and the connection dropped meanwhile
  kRestoredOffline,   // re-created, but disconnected: announced once connected again
  kConnected,         // announced and connected
  kSuspended,         // announced, connection lost; the loss timer runs
  kLost,              // suspended for longer than the session timeout
  kAuthFailed,        // the server rejected our credentials; terminal until shutdown
  kClosed,            // shut down; terminal
};

enum class SessionInput {
  kHandleConnected,     // the C client: ZOO_CONNECTED_STATE (or ZOO_READONLY_STATE)
  kHandleDisconnected,  // the C client: ZOO_CONNECTING_STATE / ZOO_ASSOCIATING_STATE
  kExpired,             // the C client: ZOO_EXPIRED_SESSION_STATE
  kAuthFailed,          // the C client: ZOO_AUTH_FAILED_STATE
  kRestoreDone,         // the last ephemeral of this session's restore is settled
  kLossTimeout,         // the loss timer armed on suspension fired
  kShutdown,            // Registry::Shutdown()
};

absl::string_view SessionPhaseName(SessionPhase phase);
absl::string_view SessionInputName(SessionInput input);

// What the registry does on a transition, as bits of SessionStep::actions. It performs them in
// the order listed here.
enum SessionAction : uint32_t {
  kNoAction = 0,
  kCancelLossTimer = 1 << 0,
  // Fail every request (Cancelled on shutdown, Unauthenticated on auth failure) and close
  // the handle.
  kCloseHandle = 1 << 1,
  // Deliver SessionStep::announce to the session listeners and subscriptions.
  kAnnounce = 1 << 2,
  // Forget the expired session: its requests fail over to the next handle, a new handle (a
  // new session number) is opened.
  kRenewSession = 1 << 3,
  // Re-create our ephemerals in the new session; kRestoreDone follows when they are settled
  // (at once if there are none).
  kStartRestore = 1 << 4,
  // Start the loss timer (SessionStateMachine::loss_deadline()); kLossTimeout when it fires.
  kArmLossTimer = 1 << 5,
};

struct SessionStep {
  SessionPhase to;
  uint32_t actions = kNoAction;  // SessionAction bits
  // With kAnnounce: the event to deliver (its state is SessionStateAfter(*announce)).
  std::optional<SessionEventType> announce;
};

// The SessionState a listener sees after `event` (SessionEvent::state).
SessionState SessionStateAfter(SessionEventType event);

class SessionStateMachine {
 public:
  // The step from `from` on `input`, or nullopt when the table has no such row: the input
  // cannot happen in that phase (the registry logs and ignores it). A row without actions that
  // leads back to `from` is a legal input that changes nothing (e.g. a second disconnect).
  static std::optional<SessionStep> Next(SessionPhase from, SessionInput input);

  // CONNECTING, published state kConnecting since `now` (monotonic).
  explicit SessionStateMachine(absl::Time now);

  // Applies `input` at `now`. FailedPrecondition naming the phase and the input when the
  // table refuses it (nothing changes); else the step taken, for the caller to act on.
  absl::StatusOr<SessionStep> Apply(SessionInput input, absl::Time now);

  SessionPhase phase() const { return phase_; }
  // The state of the last announced event (kConnecting before the first), and since when.
  SessionState published() const { return published_; }
  absl::Time published_since() const { return published_since_; }
  // The handle is connected now (RESTORING, CONNECTED).
  bool handle_connected() const;
  // Listeners have heard kConnected for the current session (CONNECTED, SUSPENDED, LOST).
  bool announced() const;
  // AUTH_FAILED or CLOSED.
  bool terminal() const;

  // The loss timeout (the negotiated session timeout); kArmLossTimer counts it from the
  // moment the session was suspended.
  void set_loss_timeout(absl::Duration timeout) { loss_timeout_ = timeout; }
  absl::Duration loss_timeout() const { return loss_timeout_; }
  // When SUSPENDED was entered (InfinitePast() if never), and when the loss timer is due.
  absl::Time suspended_since() const { return suspended_since_; }
  absl::Time loss_deadline() const { return suspended_since_ + loss_timeout_; }

 private:
  SessionPhase phase_ = SessionPhase::kConnecting;
  SessionState published_ = SessionState::kConnecting;
  absl::Time published_since_;
  absl::Time suspended_since_ = absl::InfinitePast();
  absl::Duration loss_timeout_ = absl::ZeroDuration();
};

}  // namespace roster::registry::internal
