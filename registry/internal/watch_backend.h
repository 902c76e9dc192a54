// WatchBackend: the few primitives the subtree cache needs, with ZooKeeper's one-shot watch
// semantics. ZooKeeperRegistry implements it over the C client, MemoryRegistry over its store,
// so both registries share one subscription algorithm (SubtreeCache) and one set of tests.
//
// Semantics (ZooKeeper's):
//  - A read with `watch = true` leaves a one-shot watch on the path, at most one per
//    (path, kind) per backend however many reads set it. A data watch (GetData, Exists) fires
//    kDataChanged / kDeleted (and kCreated for Exists on a missing node); a child watch
//    (GetChildren) fires kChildrenChanged / kDeleted. GetData/GetChildren on a missing node
//    leave no watch; Exists on a missing node does.
//  - A client sees a watch event before it sees the state after that change: a read issued
//    after a change was reported answers with (at least) the changed state.
//  - Results and watch events reach the sink in the order the server produced them. Except on
//    etcd, whose watch stream and reads are separate calls: there a change's event can arrive
//    before the answer to a read that started before the change (and returns the data before
//    it). The cache tolerates that: it reads a node again on every data-change event, also while
//    the node's first read is in flight (subtree_cache.cc, OnWatchEvent).
//  - Watches are lost with the session, and may be lost on a disconnect: the cache re-reads
//    everything after either.
//
// Internal to registry/. Thread-safety: calls are made from, and everything is delivered on,
// the registry executor.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "registry/registry.h"

namespace roster::registry::internal {

enum class WatchEventType { kCreated, kDeleted, kDataChanged, kChildrenChanged };

struct WatchEvent {
  WatchEventType type;
  std::string path;
};

class WatchBackend {
 public:
  virtual ~WatchBackend() = default;

  virtual void GetData(const std::string& path, bool watch, Callback<Node> done) = 0;
  virtual void GetChildren(const std::string& path, bool watch, Callback<Children> done) = 0;
  virtual void Exists(const std::string& path, bool watch, Callback<std::optional<Stat>> done) = 0;

  // The current session number (SessionEvent::session), stamped on delivered events.
  virtual uint64_t CurrentSession() const = 0;
};

}  // namespace roster::registry::internal
