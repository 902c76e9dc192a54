#include "cluster/change_log.h"

namespace roster::cluster {

absl::string_view ChangeKindName(ClusterChange::Kind kind) {
  switch (kind) {
    case ClusterChange::Kind::kNodeAdded:
      return "NODE_ADDED";
    case ClusterChange::Kind::kNodeUpdated:
      return "NODE_UPDATED";
    case ClusterChange::Kind::kNodeRemoved:
      return "NODE_REMOVED";
    case ClusterChange::Kind::kSlotsChanged:
      return "SLOTS_CHANGED";
    case ClusterChange::Kind::kLeaderChanged:
      return "LEADER_CHANGED";
    case ClusterChange::Kind::kSynced:
      return "SYNCED";
    case ClusterChange::Kind::kRejectedChanged:
      return "REJECTED_CHANGED";
    case ClusterChange::Kind::kGroupSourcesChanged:
      return "GROUP_SOURCES_CHANGED";
    case ClusterChange::Kind::kProfileChanged:
      return "PROFILE_CHANGED";
    case ClusterChange::Kind::kGroupsChanged:
      return "GROUPS_CHANGED";
  }
  return "UNKNOWN";
}

ChangeLog::ChangeLog(size_t capacity) : capacity_(capacity) {}

uint64_t ChangeLog::Append(ClusterChange& change) {
  change.version = ++last_version_;
  changes_.push_back(change);
  while (changes_.size() > capacity_) changes_.pop_front();
  return change.version;
}

std::optional<ChangeBatch> ChangeLog::Since(uint64_t from) const {
  if (from >= last_version_) return ChangeBatch{};
  // Versions are consecutive, so the first kept one says what is missing.
  const uint64_t oldest_kept = changes_.empty() ? last_version_ + 1 : changes_.front().version;
  if (from + 1 < oldest_kept) return std::nullopt;
  return ChangeBatch(changes_.begin() + (from + 1 - oldest_kept), changes_.end());
}

}  // namespace roster::cluster
