// EventRecorder and SessionRecorder: listeners for registry tests that record what they receive
// and check the subscription contract of registry/registry.h as events arrive:
//  - kAdded only for a path not in the view, kUpdated/kRemoved only for one in it;
//  - kUpdated moves mzxid forward (or changes read_error);
//  - every kSynced snapshot is sorted by path and equals the view built from the events so far;
//  - session numbers never go down.
// Violations are collected (never thrown) and checked by the test with Violations().
//
// Thread-safety: thread-safe; the listeners run on a registry executor while the test thread
// reads.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "registry/registry.h"

namespace roster::testing {

// "ADDED /a=x" (with " resync" and " error=..." when set): for readable failures.
inline std::string Describe(const registry::RegistryEvent& event) {
  std::string out = absl::StrCat(registry::EventTypeName(event.type), " ", event.path);
  if (event.type != registry::EventType::kSynced) absl::StrAppend(&out, "=", event.data);
  if (event.from_resync) absl::StrAppend(&out, " resync");
  if (!event.read_error.ok()) {
    absl::StrAppend(&out, " error=", absl::StatusCodeToString(event.read_error.code()));
  }
  if (event.snapshot != nullptr) absl::StrAppend(&out, " (", event.snapshot->size(), " nodes)");
  return out;
}

class EventRecorder {
 public:
  registry::EventListener Listener() {
    return [this](const registry::RegistryEvent& event) { Record(event); };
  }

  std::vector<registry::RegistryEvent> Events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  // Events other than kSynced, described.
  std::vector<std::string> Changes() const {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> out;
    for (const auto& e : events_) {
      if (e.type != registry::EventType::kSynced) out.push_back(Describe(e));
    }
    return out;
  }
  size_t EventCount() const {
    absl::MutexLock lock(&mu_);
    return events_.size();
  }
  // path -> data, maintained only from kAdded/kUpdated/kRemoved.
  std::map<std::string, std::string> View() const {
    absl::MutexLock lock(&mu_);
    std::map<std::string, std::string> out;
    for (const auto& [path, event] : view_) out[path] = event.data;
    return out;
  }
  std::map<std::string, registry::RegistryEvent> ViewEvents() const {
    absl::MutexLock lock(&mu_);
    return view_;
  }
  int Synced() const {
    absl::MutexLock lock(&mu_);
    return synced_;
  }
  std::shared_ptr<const std::vector<registry::RegistryEvent>> LastSnapshot() const {
    absl::MutexLock lock(&mu_);
    return last_snapshot_;
  }
  // path -> data of the last kSynced snapshot.
  std::map<std::string, std::string> SnapshotView() const {
    absl::MutexLock lock(&mu_);
    std::map<std::string, std::string> out;
    if (last_snapshot_ != nullptr) {
      for (const auto& e : *last_snapshot_) out[e.path] = e.data;
    }
    return out;
  }
  std::vector<std::string> Violations() const {
    absl::MutexLock lock(&mu_);
    return violations_;
  }
  bool HasEvent(registry::EventType type, const std::string& path) const {
    absl::MutexLock lock(&mu_);
    for (const auto& e : events_) {
      if (e.type == type && e.path == path) return true;
    }
    return false;
  }

 private:
  void Record(const registry::RegistryEvent& event) {
    using registry::EventType;
    absl::MutexLock lock(&mu_);
    events_.push_back(event);
    if (event.session < last_session_) {
      violations_.push_back(absl::StrCat("session went down: ", Describe(event)));
    }
    last_session_ = event.session;
    switch (event.type) {
      case EventType::kAdded:
        if (!view_.emplace(event.path, event).second) {
          violations_.push_back(absl::StrCat("added twice: ", Describe(event)));
        }
        break;
      case EventType::kUpdated: {
        auto it = view_.find(event.path);
        if (it == view_.end()) {
          violations_.push_back(absl::StrCat("update of unknown node: ", Describe(event)));
          view_[event.path] = event;
        } else {
          if (event.stat.mzxid < it->second.stat.mzxid ||
              (event.stat.mzxid == it->second.stat.mzxid &&
               event.read_error.code() == it->second.read_error.code())) {
            violations_.push_back(absl::StrCat("update without progress: ", Describe(event)));
          }
          if (event.stat.czxid != it->second.stat.czxid) {
            violations_.push_back(absl::StrCat("update across incarnations: ", Describe(event)));
          }
          it->second = event;
        }
        break;
      }
      case EventType::kRemoved:
        if (view_.erase(event.path) == 0) {
          violations_.push_back(absl::StrCat("removal of unknown node: ", Describe(event)));
        }
        break;
      case EventType::kSynced:
        ++synced_;
        last_snapshot_ = event.snapshot;
        CheckSnapshot(event);
        break;
    }
  }

  void CheckSnapshot(const registry::RegistryEvent& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (event.snapshot == nullptr) {
      violations_.push_back("kSynced without a snapshot");
      return;
    }
    const auto& snapshot = *event.snapshot;
    if (snapshot.size() != view_.size()) {
      violations_.push_back(
          absl::StrCat("snapshot has ", snapshot.size(), " nodes, view ", view_.size()));
    }
    for (size_t i = 0; i < snapshot.size(); ++i) {
      const auto& e = snapshot[i];
      if (i > 0 && !(snapshot[i - 1].path < e.path)) {
        violations_.push_back(absl::StrCat("snapshot not sorted at ", e.path));
      }
      if (e.type != registry::EventType::kAdded) {
        violations_.push_back(absl::StrCat("snapshot entry not kAdded: ", Describe(e)));
      }
      auto it = view_.find(e.path);
      if (it == view_.end() || it->second.data != e.data || it->second.stat != e.stat ||
          it->second.read_error.code() != e.read_error.code()) {
        violations_.push_back(absl::StrCat("snapshot differs from view at ", Describe(e)));
      }
    }
  }

  mutable absl::Mutex mu_;
  std::vector<registry::RegistryEvent> events_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, registry::RegistryEvent> view_ ABSL_GUARDED_BY(mu_);
  int synced_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<const std::vector<registry::RegistryEvent>> last_snapshot_ ABSL_GUARDED_BY(mu_);
  uint64_t last_session_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> violations_ ABSL_GUARDED_BY(mu_);
};

class SessionRecorder {
 public:
  registry::SessionListener Listener() {
    return [this](const registry::SessionEvent& event) {
      absl::MutexLock lock(&mu_);
      events_.push_back(event);
    };
  }
  std::vector<registry::SessionEvent> Events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  std::vector<registry::SessionEventType> Types() const {
    absl::MutexLock lock(&mu_);
    std::vector<registry::SessionEventType> out;
    for (const auto& e : events_) out.push_back(e.type);
    return out;
  }
  bool Saw(registry::SessionEventType type) const {
    absl::MutexLock lock(&mu_);
    for (const auto& e : events_) {
      if (e.type == type) return true;
    }
    return false;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<registry::SessionEvent> events_ ABSL_GUARDED_BY(mu_);
};

}  // namespace roster::testing
