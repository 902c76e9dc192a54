// SubscriptionSet and SessionListenerSet: the listener bookkeeping both registries share.
//
// A registry owns one SubscriptionSet (the SubtreeCaches behind Registry::Subscribe) and one
// SessionListenerSet (the listeners behind Registry::WatchSession). The sets hand out the
// ListenerHandle / Subscription objects and implement the handle contract of registry.h:
// once a handle's destructor returns, its listener is not called again; a handle destroyed from
// inside its own listener lets the current call finish and starts no further call. Handles may
// outlive the registry (destroying one afterwards is a no-op).
//
// How a registry uses them:
//   Subscribe(...)        -> subscriptions_.Subscribe(root, options, listener)
//   a watch event         -> subscriptions_.OnWatchEvent(event)        (on the executor)
//   a session event       -> session_listeners_.Deliver(event) and
//                            subscriptions_.OnSessionEvent(event)      (on the executor)
//   Shutdown()            -> deliver kClosed, CancelAll() both, then shut the executor down;
//                            destroy the sets after the executor has been shut down.
//
// Thread-safety: Subscribe, Add and CancelAll are thread-safe. OnWatchEvent, OnSessionEvent and
// Deliver must be called on the registry executor (the first two check it: AssertCurrent). The
// destructors must run after the executor has been shut down (or on it): the caches they destroy
// are confined to it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "registry/internal/watch_backend.h"
#include "registry/registry.h"
#include "util/executor.h"

namespace roster::registry::internal {

class SubscriptionSet {
 public:
  // `executor` and `backend` must outlive the set. `max_in_flight` bounds each cache's
  // outstanding backend reads.
  SubscriptionSet(SerialExecutor* executor, WatchBackend* backend, int max_in_flight);
  ~SubscriptionSet();

  SubscriptionSet(const SubscriptionSet&) = delete;
  SubscriptionSet& operator=(const SubscriptionSet&) = delete;

  // Creates a SubtreeCache for `root` and starts it on the executor. InvalidArgument for a
  // malformed root or options (max_depth < 0, or 0 without include_root); FailedPrecondition
  // after CancelAll().
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(std::string root,
                                                          SubscribeOptions options,
                                                          EventListener listener);

  // Offers a watch event (paths as the registry's clients see them) to every cache.
  void OnWatchEvent(const WatchEvent& event);
  // Offers a session event to every cache (kReconnected / kConnected start a re-read).
  void OnSessionEvent(const SessionEvent& event);

  // Cancels every subscription: when it returns no listener call is running (unless called
  // from a listener) and none will start. Later Subscribe() calls fail. Idempotent.
  void CancelAll();

 private:
  struct Core;
  class Handle;
  std::shared_ptr<Core> core_;
};

class SessionListenerSet {
 public:
  SessionListenerSet();
  ~SessionListenerSet();

  SessionListenerSet(const SessionListenerSet&) = delete;
  SessionListenerSet& operator=(const SessionListenerSet&) = delete;

  // Registers `listener`. After CancelAll() the returned handle is inert.
  std::unique_ptr<ListenerHandle> Add(SessionListener listener);

  // Calls every live listener with `event`, in registration order.
  void Deliver(const SessionEvent& event);

  // As SubscriptionSet::CancelAll().
  void CancelAll();

 private:
  struct Core;
  class Handle;
  std::shared_ptr<Core> core_;
};

}  // namespace roster::registry::internal
