// WatchLedger: the watches ZooKeeperRegistry's current handle holds, as far as the registry
// can tell, and the decision to drop them when the connection is lost.
//
// Why: ZooKeeper's C client 3.8.0 re-registers every watch of its session in ONE SetWatches
// request on each reconnect (send_set_watches in zookeeper.c; the Java client splits it, the C
// client does not). The request carries each watched path once per kind (data/exists, child),
// 4 + path bytes each, the chroot included. A server reads no request longer than
// jute.maxbuffer (1 MiB - 1 by default; NIOServerCnxn.readLength): past it, it closes the
// connection, the client reconnects and sends the same request again, for ever. With one data
// watch per worker znode (48-54 bytes each on DolphinScheduler's
// /dolphinscheduler/nodes/worker/<ip>:<port>, ~75 with a longer chroot) that happens between
// ~14k and ~22k workers.
//
// What the registry does about it (docs/architecture.md, "More watches than one packet"):
// above RegistryOptions::max_reconnect_watches, a disconnect drops every watch locally
// (zoo_remove_watches with local = 1: the server is not asked, and it has already forgotten
// the watches of the closed connection), so the reconnect's SetWatches is empty. Nothing is
// missed: every subscription re-reads its whole subtree after any reconnect anyway (the
// subtree cache's round on kReconnected / kConnected), and those reads arm the watches again;
// a node whose mzxid did not move yields no event.
//
// The ledger counts a watch when a read that sets one succeeds (GetData or GetChildren ZOK;
// Exists ZOK or ZNONODE, the C client's *_result_checker rules) and forgets it when it fires.
// A read whose reply comes after its deadline (dropped by the request queue) is not counted:
// such watches are few and harmless (they fire into a registry that re-reads on any event).
//
// Internal to registry/zookeeper/. Thread-safety: a value; confined to the registry executor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "registry/internal/watch_backend.h"

namespace roster::registry {

class WatchLedger {
 public:
  enum Kind : uint8_t {
    kData = 1 << 0,   // GetData or Exists: the C client's node or exist watch
    kChild = 1 << 1,  // GetChildren
  };

  // `max_kept`: RegistryOptions::max_reconnect_watches (< 0: never drop). `chroot`: "" or
  // "/name", prefixed by the C client to every path it sends.
  WatchLedger(int max_kept, std::string chroot);

  // A read that leaves a watch of `kind` on `path` (a client path) succeeded.
  void Armed(const std::string& path, Kind kind);
  // A watch event for `path`: it consumes the watches it fires (the C client's
  // collectWatchers): a deletion every watch on the path, a creation or data change the data
  // watch, a children change the child watch.
  void Fired(const std::string& path, internal::WatchEventType event);
  // Every watch is gone (new handle, or dropped).
  void Clear();

  // Watches held (one per path and kind), as SetWatches would list them.
  size_t watches() const { return watches_; }
  // The body of the SetWatches request the C client would send for them on a reconnect
  // (header, relativeZxid, three vector counts, and 4 + chroot + path bytes a watch).
  size_t SetWatchesBytes() const;
  // True on a disconnect with more watches than `max_kept`.
  bool ShouldDrop() const;
  // The paths holding a watch (each once), in no particular order.
  std::vector<std::string> Paths() const;

 private:
  void Remove(const std::string& path, uint8_t kinds);

  const int max_kept_;
  const std::string chroot_;
  absl::flat_hash_map<std::string, uint8_t> kinds_;  // path -> Kind bits
  size_t watches_ = 0;
  size_t path_bytes_ = 0;  // sum over watches of the path's length
};

}  // namespace roster::registry
