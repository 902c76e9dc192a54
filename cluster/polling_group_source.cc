#include "cluster/polling_group_source.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"
#include "util/log_escape.h"

namespace roster::cluster {
namespace {

// A status line stays readable: the first few reasons, then a count.
constexpr size_t kMaxReasonsShown = 5;
constexpr size_t kMaxGroupsShown = 20;

std::string DescribeSkipped(const std::vector<std::string>& skipped) {
  if (skipped.empty()) return "";
  const size_t shown = std::min(skipped.size(), kMaxReasonsShown);
  std::string text = absl::StrCat(
      "skipped ", skipped.size(), skipped.size() == 1 ? " entry: " : " entries: ",
      absl::StrJoin(skipped.begin(), skipped.begin() + static_cast<ptrdiff_t>(shown), "; "));
  if (shown < skipped.size()) absl::StrAppend(&text, "; and ", skipped.size() - shown, " more");
  return text;
}

// "groups 'flink' (0), 'spark' (2)" for a log line.
std::string GroupNames(const GroupSnapshot& snapshot) {
  std::vector<std::string> names;
  for (const auto& [name, addresses] : snapshot.groups) {
    if (names.size() == kMaxGroupsShown) {
      names.push_back(absl::StrCat("and ", snapshot.groups.size() - kMaxGroupsShown, " more"));
      break;
    }
    names.push_back(absl::StrCat("'", name, "' (", addresses.size(), ")"));
  }
  return names.empty() ? "no groups" : absl::StrCat("groups ", absl::StrJoin(names, ", "));
}

// Sorted, unique addresses per group.
std::map<std::string, std::vector<std::string>> Normalize(
    std::map<std::string, std::vector<std::string>> groups) {
  for (auto& [name, addresses] : groups) {
    std::sort(addresses.begin(), addresses.end());
    addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
  }
  return groups;
}

}  // namespace

PollingGroupSource::PollingGroupSource(PollingOptions options,
                                       std::unique_ptr<GroupFetcher> fetcher)
    : options_(std::move(options)),
      fetcher_(std::move(fetcher)),
      description_(fetcher_->Describe()),
      executor_(options_.executor_name) {
  status_.problem = "not read yet";
}

PollingGroupSource::~PollingGroupSource() { Shutdown(); }

absl::Status PollingGroupSource::Start(GroupSourceListener listener) {
  {
    absl::MutexLock lock(&mu_);
    if (started_ || shut_down_) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the group source ", description_, started_ ? " is already started" : " is shut down"));
    }
    started_ = true;
  }
  // The executor thread does not run yet: nothing else touches listener_.
  listener_ = std::move(listener);
  executor_.Start();
  executor_.Post([this] { Poll(); });
  return absl::OkStatus();
}

void PollingGroupSource::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  stopping_ = true;
  executor_.Shutdown();
}

void PollingGroupSource::RefreshNow() {
  {
    absl::MutexLock lock(&mu_);
    if (!started_ || shut_down_) return;
  }
  executor_.Post([this] { Poll(); });
}

absl::Duration PollingGroupSource::NextReadDelay(const PollingOptions& options, int64_t failures) {
  if (failures <= 0) return options.poll_interval;
  absl::Duration delay = options.retry_initial_backoff;
  // Bounded even for a zero initial back-off, which never reaches the maximum.
  for (int64_t i = 1; i < failures && i < 64 && delay < options.retry_max_backoff; ++i) {
    delay *= 2;
  }
  return std::min(delay, options.retry_max_backoff);
}

void PollingGroupSource::Poll() {
  if (stopping_) return;
  // A RefreshNow() replaces the pending timed read rather than adding one.
  if (next_read_ != 0) executor_.Cancel(next_read_);
  next_read_ = 0;
  absl::StatusOr<GroupFetch> fetch = fetcher_->Fetch();
  if (fetch.ok()) {
    OnFetched(*std::move(fetch));
  } else {
    OnFailed(fetch.status());
  }
  if (stopping_) return;
  next_read_ = executor_.PostAfter(NextReadDelay(options_, status_.failures), [this] { Poll(); });
}

void PollingGroupSource::OnFetched(GroupFetch fetch) {
  const absl::Time now = options_.clock->WallNow();
  auto snapshot = std::make_shared<GroupSnapshot>();
  snapshot->groups = Normalize(std::move(fetch.groups));
  snapshot->defines_default = snapshot->groups.count("default") > 0;
  snapshot->fetched_at = now;
  snapshot->source = description_;

  GroupSourceStatus status;
  status.stale = false;
  status.problem = DescribeSkipped(fetch.skipped);
  status.last_success = now;
  status.failures = 0;
  if (status_.stale && status_published_) {
    LOG(INFO) << "worker groups from " << description_ << " are fresh again after "
              << status_.failures << " failed reads";
  }
  if (!status.problem.empty() && status.problem != status_.problem) {
    LOG(WARNING) << "worker groups from " << description_ << ": " << status.problem;
  }
  PublishStatus(std::move(status));

  if (snapshot_ != nullptr && snapshot_->SameGroupsAs(*snapshot)) return;
  LOG(INFO) << "worker groups from " << description_
            << " changed: " << LogSafe(GroupNames(*snapshot), 16384);
  snapshot_ = std::move(snapshot);
  if (listener_.on_snapshot) listener_.on_snapshot(snapshot_);
}

void PollingGroupSource::OnFailed(const absl::Status& error) {
  GroupSourceStatus status = status_;
  status.stale = true;
  status.problem = std::string(error.message());
  status.failures = status_.failures + 1;
  if (!status_.stale || status.problem != status_.problem) {
    LOG(WARNING) << "cannot read worker groups from " << description_ << " (keeping "
                 << (snapshot_ == nullptr ? std::string("no groups yet") : GroupNames(*snapshot_))
                 << "; retrying in "
                 << absl::FormatDuration(NextReadDelay(options_, status.failures))
                 << "): " << status.problem;
  }
  PublishStatus(std::move(status));
}

void PollingGroupSource::PublishStatus(GroupSourceStatus status) {
  const bool changed = !status_published_ || !status_.SameStateAs(status);
  status_ = std::move(status);
  if (!changed) return;
  status_published_ = true;
  if (listener_.on_status) listener_.on_status(status_);
}

}  // namespace roster::cluster
