// GroupSourceRecorder: a GroupSourceListener for tests that keeps every snapshot and status
// it is given, for ASSERT_EVENTUALLY conditions.
//
// Thread-safety: thread-safe (the source calls it on its executor, the test reads it).
#pragma once

#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "cluster/group_source.h"

namespace roster::cluster {

class GroupSourceRecorder {
 public:
  GroupSourceListener Listener() {
    GroupSourceListener listener;
    listener.on_snapshot = [this](std::shared_ptr<const GroupSnapshot> snapshot) {
      absl::MutexLock lock(&mu_);
      snapshots_.push_back(std::move(snapshot));
    };
    listener.on_status = [this](const GroupSourceStatus& status) {
      absl::MutexLock lock(&mu_);
      statuses_.push_back(status);
    };
    return listener;
  }

  // The latest snapshot, or null before the first.
  std::shared_ptr<const GroupSnapshot> snapshot() const {
    absl::MutexLock lock(&mu_);
    return snapshots_.empty() ? nullptr : snapshots_.back();
  }
  size_t snapshot_count() const {
    absl::MutexLock lock(&mu_);
    return snapshots_.size();
  }
  // The groups of the latest snapshot (empty before the first).
  std::map<std::string, std::vector<std::string>> groups() const {
    std::shared_ptr<const GroupSnapshot> latest = snapshot();
    return latest == nullptr ? std::map<std::string, std::vector<std::string>>{} : latest->groups;
  }

  // The latest status; a default (stale, no problem) one before the first.
  GroupSourceStatus status() const {
    absl::MutexLock lock(&mu_);
    return statuses_.empty() ? GroupSourceStatus{} : statuses_.back();
  }
  std::vector<GroupSourceStatus> statuses() const {
    absl::MutexLock lock(&mu_);
    return statuses_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<const GroupSnapshot>> snapshots_ ABSL_GUARDED_BY(mu_);
  std::vector<GroupSourceStatus> statuses_ ABSL_GUARDED_BY(mu_);
};

}  // namespace roster::cluster
