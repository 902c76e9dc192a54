// SubtreeCache: the one subscription algorithm, shared by both registries (a tree cache in
// the manner of Curator's TreeCache, on one-shot watches).
//
// It keeps the last known state of every node it covers, reads with watches, re-reads what a
// watch reports, and turns differences into RegistryEvents for its listener:
//  - Start(): reads the tree (pipelined, at most `max_in_flight` reads outstanding), delivers
//    kAdded per node, then kSynced with the full snapshot.
//  - A watch event re-reads the node or re-lists the parent; a change becomes kAdded,
//    kUpdated (only when mzxid moves forward) or kRemoved (with the last known data; removing
//    a node removes everything below it, deepest first). A node re-created under the same path
//    (a new czxid) is kRemoved then kAdded, never kUpdated.
//  - Resync(): a new full read ("round"); differences found are delivered with
//    from_resync = true, then kSynced. A round whose reads fail (connection loss) does not
//    deliver kSynced; the re-read after reconnect does.
//  - OnSessionEvent(): kReconnected and kConnected of a new session start a round, because
//    watches may have been lost.
//  - A node that exists but cannot be read (PermissionDenied) is delivered with read_error and
//    a stat from Exists(); it is never silently skipped.
//  - A root that exists but cannot be listed (PermissionDenied) completes the round, and its
//    kSynced carries the error as read_error: the snapshot then holds what was known below the
//    root before (nothing, the first time) and must not be taken for the truth.
//  - Ephemeral nodes cannot have children, so they are never listed (saving a child watch per
//    node, which matters: ZooKeeper re-registers all watches in one packet on reconnect).
//  - A round that fails while the session is connected is retried with bounded exponential
//    back-off (100 ms .. 5 s) on the executor's clock (the registry's injected Clock, so a
//    test drives it with a FakeClock); a transient failure of a watch-triggered read
//    schedules such a round too, because that read's watch was not re-armed.
//  - Backend callbacks that arrive after Cancel() or destruction do nothing; the listener may
//    destroy the cache from inside a call (no further call follows).
//
// Thread-safety: confined to the registry executor. Every method, and every callback from
// the backend, runs there (checked: SerialExecutor::AssertCurrent). The constructor and the
// destructor may also run elsewhere while the executor is not running (e.g. after it has been
// shut down).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "registry/internal/watch_backend.h"
#include "registry/registry.h"
#include "util/executor.h"

namespace roster::registry::internal {

class SubtreeCache {
 public:
  // `executor` (for retry timers) and `backend` must outlive the cache. `listener` receives
  // every event, on the executor.
  SubtreeCache(SerialExecutor* executor, WatchBackend* backend, std::string root,
               SubscribeOptions options, int max_in_flight, EventListener listener);
  ~SubtreeCache();

  SubtreeCache(const SubtreeCache&) = delete;
  SubtreeCache& operator=(const SubtreeCache&) = delete;

  // Starts the first round.
  void Start();
  // Starts a new round (see the file comment).
  void Resync();
  // A watch event from the backend. Events for paths outside the subtree are ignored, so a
  // registry can offer every watch event to every cache.
  void OnWatchEvent(const WatchEvent& event);
  // A session event from the backend's registry.
  void OnSessionEvent(const SessionEvent& event);
  // Stops delivering events; later callbacks from the backend are ignored.
  void Cancel();

  const std::string& root() const { return root_; }

 private:
  // Implementation-defined state lives here; see subtree_cache.cc. Shared so that backend
  // callbacks and timers can hold a weak reference that expires with the cache.
  struct State;
  const std::string root_;
  std::shared_ptr<State> state_;
};

}  // namespace roster::registry::internal
