// PollingGroupSource: the GroupSource machinery shared by the database and the file sources.
// A GroupFetcher does one read; this class runs it on its own executor at start-up, every poll
// interval and on RefreshNow(), retries failures with bounded exponential back-off, keeps the
// last good snapshot through failures, and tells the listener only about changes.
//
// Freshness, one state per read outcome:
//
//   start --> stale (problem "not read yet", failures 0)
//   any   --fetch ok, nothing skipped--> fresh (problem "")            next read: poll_interval
//   any   --fetch ok, entries skipped--> fresh (problem "skipped: ...") next read: poll_interval
//   any   --fetch failed-------------->  stale (problem = error, failures + 1)
//                                         next read: min(initial * 2^(failures-1), max)
//
// Thread-safety: thread-safe. The fetcher and the listener run on the source's executor only.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cluster/group_source.h"
#include "util/clock.h"
#include "util/executor.h"

namespace roster::cluster {

// What one read found.
struct GroupFetch {
  // Group name -> addresses, already validated; any order, duplicates allowed.
  std::map<std::string, std::vector<std::string>> groups;
  // One line per skipped row or entry, naming it and why ("row 'a b': ...").
  std::vector<std::string> skipped;
};

// One read of the group definitions. Called on the source's executor only, one call at a time.
class GroupFetcher {
 public:
  virtual ~GroupFetcher() = default;
  // The groups, or why they could not be read (the message names the source, never a secret).
  virtual absl::StatusOr<GroupFetch> Fetch() = 0;
  // GroupSnapshot::source.
  virtual std::string Describe() const = 0;
};

struct PollingOptions {
  // Time between successful reads. DolphinScheduler's master re-reads its table every 10 s
  // (MasterConfig.workerGroupRefreshInterval @ 3.2.2-release).
  absl::Duration poll_interval = absl::Seconds(10);
  // After the n-th consecutive failure the next read comes after
  // min(retry_initial_backoff * 2^(n-1), retry_max_backoff).
  absl::Duration retry_initial_backoff = absl::Seconds(1);
  absl::Duration retry_max_backoff = absl::Seconds(30);
  // The executor thread's name (15 characters at most are kept).
  std::string executor_name = "group-source";
  // WallNow() stamps fetched_at and last_success. Not owned; must outlive the source.
  Clock* clock = Clock::Real();
};

class PollingGroupSource : public GroupSource {
 public:
  PollingGroupSource(PollingOptions options, std::unique_ptr<GroupFetcher> fetcher);
  // Calls Shutdown().
  ~PollingGroupSource() override;

  PollingGroupSource(const PollingGroupSource&) = delete;
  PollingGroupSource& operator=(const PollingGroupSource&) = delete;

  absl::Status Start(GroupSourceListener listener) override;
  void Shutdown() override;
  void RefreshNow() override;
  std::string Describe() const override { return description_; }

  // The delay before the next read after `failures` consecutive failed reads (0: the poll
  // interval).
  static absl::Duration NextReadDelay(const PollingOptions& options, int64_t failures);

 private:
  // One read and its consequences; runs on executor_.
  void Poll();
  void OnFetched(GroupFetch fetch);
  void OnFailed(const absl::Status& error);
  void PublishStatus(GroupSourceStatus status);

  const PollingOptions options_;
  const std::unique_ptr<GroupFetcher> fetcher_;
  const std::string description_;
  SerialExecutor executor_;

  absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  // Set by Shutdown() before it drains the executor: queued reads are skipped, not run.
  std::atomic<bool> stopping_{false};

  // Confined to executor_ (set before the executor starts, read only there afterwards).
  GroupSourceListener listener_;
  std::shared_ptr<const GroupSnapshot> snapshot_;
  GroupSourceStatus status_;
  bool status_published_ = false;
  SerialExecutor::TimerId next_read_ = 0;
};

}  // namespace roster::cluster
