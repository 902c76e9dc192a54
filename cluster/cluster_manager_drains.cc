// ClusterManager, part 2: operator drains. A drain is a persistent record under
// paths.drains, {drains}/{host}:{port} holding a DrainRecord in JSON, so every replica agrees
// and drains survive a restart. Drain()/Undrain() write or delete the record and complete
// once the published view shows the change; the drains subscription applies records to the
// node tables (ApplyDrain) and full reads repair missed ones (ReconcileDrains).
//
// Same class as cluster_manager.cc; everything here except Drain(), Undrain() and WriteDrain()
// runs on the cluster executor.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "cluster/cluster_manager.h"
#include "cluster/drain_record.h"
#include "cluster/internal/cluster_manager_state.h"
#include "cluster/node_address.h"
#include "glog/logging.h"
#include "util/log_escape.h"

namespace roster::cluster {

using registry::EventType;
using registry::RegistryEvent;

void ClusterManager::Drain(std::string address, std::string reason,
                           absl::AnyInvocable<void(absl::Status) &&> done) {
  if (reason.empty() || reason.size() > 1024) {
    std::move(done)(absl::InvalidArgumentError("a drain needs a reason of 1 to 1024 bytes"));
    return;
  }
  WriteDrain(std::move(address), true, std::move(reason), std::move(done));
}

void ClusterManager::Undrain(std::string address, absl::AnyInvocable<void(absl::Status) &&> done) {
  WriteDrain(std::move(address), false, "", std::move(done));
}

void ClusterManager::WriteDrain(std::string address, bool drained, std::string reason,
                                absl::AnyInvocable<void(absl::Status) &&> done) {
  absl::StatusOr<std::string> parsed = ParseNodeAddress(address);
  if (!parsed.ok()) {
    std::move(done)(parsed.status());
    return;
  }
  if (view()->FindAny(*parsed) == nullptr) {
    std::move(done)(absl::NotFoundError(absl::StrCat("no node '", *parsed, "' is registered")));
    return;
  }
  const std::string path = registry::JoinPath(options_.paths.drains, *parsed);
  // Runs on the registry executor when the write completes; hands over to ours to wait for
  // the view.
  auto wait_for_view = [this, address = *parsed, drained,
                        done = std::move(done)](absl::Status status) mutable {
    if (!status.ok()) {
      std::move(done)(std::move(status));
      return;
    }
    auto pending = std::make_shared<State::PendingDrain>(State::PendingDrain{
        address, drained, options_.clock->Now() + absl::Seconds(10), std::move(done)});
    if (!state_->executor.Post([this, pending] {
          state_->executor.AssertCurrent();
          state_->pending.push_back(std::move(*pending));
          ResolvePendingDrains(options_.clock->Now());
        })) {
      std::move(pending->done)(absl::CancelledError("the cluster manager is shutting down"));
    }
  };
  if (!drained) {
    registry_->DeleteAsync(path, registry::Registry::kAnyVersion,
                           [wait_for_view = std::move(wait_for_view)](absl::Status status) mutable {
                             // Undraining a node that is not drained is not an error.
                             if (absl::IsNotFound(status)) status = absl::OkStatus();
                             wait_for_view(std::move(status));
                           });
    return;
  }
  std::string json = EncodeDrainRecord(reason, options_.clock->WallNow());
  registry::CreateOptions create;
  create.create_parents = true;
  registry_->CreateAsync(path, json, create,
                         [this, path, json, wait_for_view = std::move(wait_for_view)](
                             absl::StatusOr<std::string> created) mutable {
                           if (!absl::IsAlreadyExists(created.status())) {
                             wait_for_view(created.status());
                             return;
                           }
                           // Drained already: replace the reason.
                           registry_->SetAsync(path, json, registry::Registry::kAnyVersion,
                                               [wait_for_view = std::move(wait_for_view)](
                                                   absl::StatusOr<registry::Stat> set) mutable {
                                                 wait_for_view(set.status());
                                               });
                         });
}

void ClusterManager::ApplyDrain(const RegistryEvent& event, absl::Time now, absl::Time wall_now) {
  State& s = *state_;
  s.executor.AssertCurrent();
  auto apply_all = [&](const std::string& address, bool drained, const std::string& reason) {
    s.executor.AssertCurrent();
    s.masters.table().SetDrained(address, drained, reason, now, wall_now);
    s.workers.table().SetDrained(address, drained, reason, now, wall_now);
    s.alerts.SetDrained(address, drained, reason, now, wall_now);
  };
  if (event.type == EventType::kRemoved) {
    s.drain_problems.erase(event.path);
    auto it = s.drains.find(event.path);
    if (it == s.drains.end()) return;
    LOG(INFO) << "node '" << it->second.address << "' undrained";
    apply_all(it->second.address, false, "");
    s.drains.erase(it);
    s.rejected_dirty = true;
    return;
  }
  auto problem = [&](std::string why) {
    s.executor.AssertCurrent();
    LOG(WARNING) << "ignoring drain record '" << event.path << "': " << why;
    s.drain_problems[event.path] = std::move(why);
    s.rejected_dirty = true;
  };
  if (!event.read_error.ok()) {
    problem(std::string(event.read_error.message()));
    return;
  }
  absl::StatusOr<DrainEntry> entry =
      ParseDrainRecord(options_.paths.drains, event.path, event.data);
  if (!entry.ok()) {
    problem(std::string(entry.status().message()));
    return;
  }
  s.drain_problems.erase(event.path);
  State::Drain& drain = s.drains[event.path];
  if (drain.address != entry->address || drain.reason != entry->reason) {
    LOG(INFO) << "node '" << entry->address << "' drained: " << LogSafe(entry->reason);
  }
  drain = State::Drain{entry->address, entry->reason};
  apply_all(entry->address, true, entry->reason);
}

int64_t ClusterManager::ReconcileDrains(const std::vector<RegistryEvent>& snapshot, absl::Time now,
                                        absl::Time wall_now) {
  State& s = *state_;
  s.executor.AssertCurrent();
  int64_t corrections = 0;
  absl::flat_hash_set<std::string> present;
  for (const RegistryEvent& entry : snapshot) {
    present.insert(entry.path);
    auto it = s.drains.find(entry.path);
    if (it == s.drains.end() && s.drain_problems.count(entry.path) == 0) {
      ++corrections;
      ApplyDrain(entry, now, wall_now);
    }
  }
  std::vector<std::string> gone;
  for (const auto& [path, drain] : s.drains) {
    if (!present.contains(path)) gone.push_back(path);
  }
  for (const std::string& path : gone) {
    ++corrections;
    RegistryEvent removed;
    removed.type = EventType::kRemoved;
    removed.path = path;
    ApplyDrain(removed, now, wall_now);
  }
  return corrections;
}

void ClusterManager::ResolvePendingDrains(absl::Time now) {
  State& s = *state_;
  s.executor.AssertCurrent();
  if (s.pending.empty()) return;
  const ClusterViewPtr current = view();
  std::vector<State::PendingDrain> waiting;
  for (State::PendingDrain& pending : s.pending) {
    NodeInfoPtr node = current->FindAny(pending.address);
    if (node != nullptr && node->drained == pending.drained) {
      std::move(pending.done)(absl::OkStatus());
    } else if (now >= pending.deadline) {
      std::move(pending.done)(absl::DeadlineExceededError(
          absl::StrCat(pending.drained ? "drain" : "undrain", " of '", pending.address,
                       "' is recorded in the registry but not yet visible in the view")));
    } else {
      waiting.push_back(std::move(pending));
    }
  }
  s.pending = std::move(waiting);
}

}  // namespace roster::cluster
