// ChangeLog: the ordered record of what changed in the cluster view, each change with its own
// version (consecutive: 1, 2, 3, ...), kept for the last `capacity` changes so a watcher that
// reconnects from a recent version gets exactly what it missed, and one that is too far behind
// is told to start again from a snapshot.
//
// Thread-safety: confined to the cluster executor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/string_view.h"
#include "cluster/cluster_view.h"

namespace roster::cluster {

struct ClusterChange {
  enum class Kind {
    kNodeAdded,            // a node appeared (node = as it is now)
    kNodeUpdated,          // a node changed (node = as it is now)
    kNodeRemoved,          // a tombstone was purged (node = as it was last)
    kSlotsChanged,         // the slot assignment changed (slots)
    kLeaderChanged,        // the coordinator znode changed (leader)
    kSynced,               // the first full read completed
    kRejectedChanged,      // the list of znodes that cannot be nodes changed
    kGroupSourcesChanged,  // a source of worker groups turned stale or fresh
    kProfileChanged,       // the DolphinScheduler release answered as changed
    kGroupsChanged,        // a worker group was defined or dropped (not a member's move)
  };
  uint64_t version = 0;
  Kind kind = Kind::kNodeUpdated;
  NodeInfoPtr node;
  // kNodeAdded/kNodeRemoved always; kNodeUpdated when the state, drain flag or groups
  // changed, rather than only the heartbeat's load figures.
  bool state_changed = false;
  // kSlotsChanged and kLeaderChanged only, null otherwise: the log keeps thousands of node
  // changes, which need neither.
  std::shared_ptr<const SlotAssignment> slots;
  std::shared_ptr<const LeaderInfo> leader;
};

absl::string_view ChangeKindName(ClusterChange::Kind kind);

using ChangeBatch = std::vector<ClusterChange>;

class ChangeLog {
 public:
  explicit ChangeLog(size_t capacity);

  // Stamps `change` with the next version and keeps it. Returns the version.
  uint64_t Append(ClusterChange& change);

  // The changes with a version above `from`, oldest first; nullopt when some of them are no
  // longer kept (the caller must start from a snapshot).
  std::optional<ChangeBatch> Since(uint64_t from) const;

  uint64_t last_version() const { return last_version_; }

 private:
  const size_t capacity_;
  std::deque<ClusterChange> changes_;
  uint64_t last_version_ = 0;
};

}  // namespace roster::cluster
