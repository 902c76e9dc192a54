// ClusterManager, part 5: the answers. Authority answers (slots, the leader) and worker
// selection, each from the one ViewSnapshot the caller took, so an answer and the ViewMeta
// reported with it always come from the same view (docs/consistency.md); and change watches.
//
// Same class as cluster_manager.cc; everything here is thread-safe and reads published state
// only, except WatchChanges(), which takes its start on the cluster executor.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cluster/cluster_manager.h"
#include "cluster/internal/cluster_manager_state.h"
#include "util/status_macros.h"

namespace roster::cluster {
namespace {

class ChangeWatchHandle final : public ChangeWatch {
 public:
  ChangeWatchHandle(std::weak_ptr<ChangeFanout> fanout, uint64_t id)
      : fanout_(std::move(fanout)), id_(id) {}
  ~ChangeWatchHandle() override {
    if (std::shared_ptr<ChangeFanout> fanout = fanout_.lock()) fanout->Remove(id_);
  }

 private:
  std::weak_ptr<ChangeFanout> fanout_;
  uint64_t id_;
};

// Unavailable: the view may be empty or partial because rosterd cannot read the registry.
absl::Status AccessRefusal(const Freshness& f, absl::string_view what) {
  return absl::UnavailableError(
      absl::StrCat("refusing to ", what, ": ", f.access_problem, " (for ",
                   absl::FormatDuration(absl::Trunc(f.access_problem_for, absl::Seconds(1))),
                   "); the view may be empty or partial"));
}

// Unavailable, saying why, when `f` does not allow slot and leader answers.
absl::Status CheckAuthority(const Freshness& f, absl::Duration bound, absl::string_view what) {
  if (f.authoritative) return absl::OkStatus();
  if (!f.access_problem.empty()) return AccessRefusal(f, absl::StrCat("answer ", what));
  if (!f.ever_synced) {
    return absl::UnavailableError(
        absl::StrCat("refusing to answer ", what, ": the registry has not been read fully yet"));
  }
  if (!f.self_preservation.empty()) {
    return absl::UnavailableError(absl::StrCat(
        "refusing to answer ", what, " rather than empty the assignment: ", f.self_preservation));
  }
  return absl::UnavailableError(absl::StrCat(
      "refusing to answer ", what, ": the view has been stale for ",
      absl::FormatDuration(absl::Trunc(f.stale_for, absl::Milliseconds(1))), " (session ",
      registry::SessionStateName(f.session_state), "), over the staleness bound of ",
      absl::FormatDuration(bound), "; acting on it could double-process work"));
}

}  // namespace

absl::StatusOr<Selection> ClusterManager::SelectWorker(const ViewSnapshot& at,
                                                       const SelectRequest& request) {
  if (!at.freshness.access_problem.empty()) {
    return AccessRefusal(at.freshness, "select a worker");
  }
  if (!at.freshness.ever_synced) {
    return absl::UnavailableError(
        "cannot select a worker: the registry has not been read fully yet");
  }
  const DsVersion release = at.view->dolphinscheduler.version == DsVersion::kAuto
                                ? ProfileOf(DsVersion::kAuto).version
                                : at.view->dolphinscheduler.version;
  if (request.strategy.has_value()) {
    return selectors_[static_cast<int>(release)]->Select(*at.view, request);
  }
  SelectRequest with_default = request;
  with_default.strategy = ProfileOf(release).default_strategy;
  return selectors_[static_cast<int>(release)]->Select(*at.view, with_default);
}

absl::StatusOr<SlotAnswer> ClusterManager::GetMasterSlot(
    const ViewSnapshot& at, absl::string_view address,
    const std::optional<IncarnationClaim>& claim) const {
  if (absl::Status status = CheckAuthority(at.freshness, options_.staleness_bound, "a slot query");
      !status.ok()) {
    return status;
  }
  return MasterCluster::LookupSlot(*at.view, address, claim);
}

absl::StatusOr<LeaderAnswer> ClusterManager::GetLeader(const ViewSnapshot& at) const {
  if (absl::Status status =
          CheckAuthority(at.freshness, options_.staleness_bound, "a leader query");
      !status.ok()) {
    return status;
  }
  const DsProfile& profile = ProfileOf(at.view->dolphinscheduler.version);
  ASSIGN_OR_RETURN(LeaderLookup lookup, MasterCluster::LookupLeader(*at.view, profile.coordinator,
                                                                    options_.paths.coordinator));
  return LeaderAnswer{std::move(lookup.leader), std::move(lookup.master)};
}

std::unique_ptr<ChangeWatch> ClusterManager::WatchChanges(uint64_t from_version,
                                                          WatchListener listener) {
  std::shared_ptr<ChangeFanout> fanout = state_->fanout;
  const uint64_t id = fanout->Reserve();
  // Taking the start on the executor, between two batches, and handing it to the fan-out
  // before the next batch is what makes the start and the later batches line up with no gap
  // and no overlap.
  state_->executor.Post([this, id, from_version, listener = std::move(listener)]() mutable {
    state_->executor.AssertCurrent();
    WatchStart start;
    std::optional<ChangeBatch> missed;
    if (from_version > 0) missed = state_->log.Since(from_version);
    start.view = view();
    if (missed.has_value()) {
      start.missed = *std::move(missed);
    } else {
      start.snapshot = start.view;
    }
    start.version = state_->log.last_version();
    state_->fanout->Add(id, std::move(start), std::move(listener));
  });
  return std::make_unique<ChangeWatchHandle>(fanout, id);
}

const ChangeFanout& ClusterManager::fanout() const { return *state_->fanout; }

}  // namespace roster::cluster
