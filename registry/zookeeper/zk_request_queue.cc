#include "registry/zookeeper/zk_request_queue.h"

#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "util/clock.h"

namespace roster::registry {
namespace {

absl::Status RequestError(absl::StatusCode code, const ZkRequestQueue::Request& request,
                          absl::string_view reason) {
  return absl::Status(code, absl::StrCat(request.operation, " '", request.path, "': ", reason));
}

}  // namespace

ZkRequestQueue::ZkRequestQueue(SerialExecutor* executor, int max_in_flight, absl::Duration timeout)
    : executor_(executor), max_in_flight_(std::max(1, max_in_flight)), timeout_(timeout) {}

ZkRequestQueue::~ZkRequestQueue() {
  if (timer_ != 0) executor_->Cancel(timer_);
}

void ZkRequestQueue::Submit(Request request) {
  executor_->AssertCurrent();
  if (closed_code_ != absl::StatusCode::kOk) {
    // Never re-enter the submitter: report the failure from a task of its own.
    absl::Status failure = RequestError(closed_code_, request, closed_reason_);
    executor_->Post([finish = std::move(request.finish), failure]() mutable {
      std::move(finish)(failure, ZkReply{});
    });
    return;
  }
  const uint64_t id = next_id_++;
  entries_.emplace(id, Entry{std::move(request), executor_->clock()->Now() + timeout_, 0});
  waiting_.push_back(id);
  ArmTimer();
  Pump();
}

void ZkRequestQueue::SetHandle(ZkHandle* handle, absl::string_view reason) {
  executor_->AssertCurrent();
  handle_ = handle;
  in_flight_ = 0;
  // Requests sent on the previous handle will never be answered on this one.
  std::vector<uint64_t> orphans;
  for (const auto& [id, entry] : entries_) {
    if (entry.generation != 0) orphans.push_back(id);
  }
  for (uint64_t id : orphans) {
    auto it = entries_.find(id);
    if (it == entries_.end()) continue;  // finished by an earlier callback
    absl::Status failure = RequestError(absl::StatusCode::kUnavailable, it->second.request, reason);
    Finish(it, std::move(failure), ZkReply{});
  }
  Pump();
}

void ZkRequestQueue::OnReply(uint64_t generation, uint64_t request_id, ZkReply reply) {
  executor_->AssertCurrent();
  if (handle_ == nullptr || generation != handle_->generation()) return;  // an older handle
  --in_flight_;
  auto it = entries_.find(request_id);
  if (it != entries_.end() && it->second.generation == generation) {
    Finish(it, absl::OkStatus(), std::move(reply));
  }
  // else: already failed (timeout); the late reply is dropped.
  Pump();
}

void ZkRequestQueue::Close(absl::StatusCode code, absl::string_view reason) {
  executor_->AssertCurrent();
  closed_code_ = code;
  closed_reason_ = std::string(reason);
  handle_ = nullptr;
  std::map<uint64_t, Entry> entries;
  entries.swap(entries_);
  waiting_.clear();
  in_flight_ = 0;
  if (timer_ != 0) {
    executor_->Cancel(timer_);
    timer_ = 0;
  }
  for (auto& [id, entry] : entries) {
    absl::Status failure = RequestError(code, entry.request, reason);
    std::move(entry.request.finish)(std::move(failure), ZkReply{});
  }
}

void ZkRequestQueue::Pump() {
  if (pumping_) return;  // a finish callback submitted more; the loop below picks it up
  pumping_ = true;
  while (handle_ != nullptr && in_flight_ < max_in_flight_ && !waiting_.empty()) {
    const uint64_t id = waiting_.front();
    waiting_.pop_front();
    auto it = entries_.find(id);
    if (it == entries_.end()) continue;  // timed out while waiting
    const int rc = it->second.request.issue(*handle_, id);
    if (rc != ZOK) {
      // Refused at once (e.g. ZINVALIDSTATE on a dead handle): that is the answer.
      ZkReply reply;
      reply.rc = rc;
      Finish(it, absl::OkStatus(), std::move(reply));
      continue;
    }
    it->second.generation = handle_->generation();
    ++in_flight_;
  }
  pumping_ = false;
}

void ZkRequestQueue::Finish(std::map<uint64_t, Entry>::iterator it, absl::Status failure,
                            ZkReply reply) {
  Request request = std::move(it->second.request);
  entries_.erase(it);
  std::move(request.finish)(std::move(failure), std::move(reply));
}

void ZkRequestQueue::ArmTimer() {
  // Later submissions have later deadlines, so one timer for the oldest entry suffices.
  if (timer_ != 0 || entries_.empty()) return;
  const absl::Duration delay = entries_.begin()->second.deadline - executor_->clock()->Now();
  timer_ = executor_->PostAfter(delay, [this] {
    executor_->AssertCurrent();
    OnTimer();
  });
}

void ZkRequestQueue::OnTimer() {
  timer_ = 0;
  const absl::Time now = executor_->clock()->Now();
  while (!entries_.empty() && entries_.begin()->second.deadline <= now) {
    auto it = entries_.begin();
    absl::Status failure =
        RequestError(absl::StatusCode::kDeadlineExceeded, it->second.request,
                     absl::StrCat("no answer from ZooKeeper within ",
                                  absl::FormatDuration(timeout_), " (operation timeout)"));
    // Still counted in flight until its reply (or the handle's end) arrives.
    Finish(it, std::move(failure), ZkReply{});
  }
  ArmTimer();
}

}  // namespace roster::registry
