// ZkRequestQueue: every ZooKeeper request of one ZooKeeperRegistry (user operations,
// subscription reads, ephemeral re-creation) goes through it.
//
//  - Bounds the registry's outstanding zoo_a* requests at `max_in_flight`; the rest wait in
//    FIFO order.
//  - Gives every request a deadline (`timeout` after submission): a request not finished by
//    then fails with DeadlineExceeded, and its late reply is dropped.
//  - Follows the handle: requests in flight on a handle that is replaced (session expired)
//    fail with Unavailable, and replies from an older handle are dropped; waiting requests
//    go to the new handle.
//
// A request finishes exactly once: with the reply, or with a local failure (timeout,
// expiry, shutdown), whose message names the operation and the path.
//
// Internal to registry/zookeeper/. Thread-safety: confined to the registry executor.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "registry/zookeeper/zk_handle.h"
#include "util/executor.h"

namespace roster::registry {

class ZkRequestQueue {
 public:
  struct Request {
    std::string operation;  // "get", "create", ... for messages
    std::string path;
    // Sends the request on `handle` under `request_id`; returns the C client's result.
    absl::AnyInvocable<int(ZkHandle& handle, uint64_t request_id)> issue;
    // Called once: `failure` is OK and `reply` holds the server's answer (reply.rc may be an
    // error), or `failure` says why no answer will come.
    absl::AnyInvocable<void(absl::Status failure, ZkReply reply) &&> finish;
  };

  // `executor` runs the deadline timer (on its clock) and must outlive the queue. Every method
  // runs on it (checked: AssertCurrent).
  ZkRequestQueue(SerialExecutor* executor, int max_in_flight, absl::Duration timeout);
  ~ZkRequestQueue();

  ZkRequestQueue(const ZkRequestQueue&) = delete;
  ZkRequestQueue& operator=(const ZkRequestQueue&) = delete;

  // Queues `request` and sends what the in-flight bound allows.
  void Submit(Request request);

  // Switches to `handle` (nullptr: hold requests until the next handle). Requests in flight
  // on the previous handle fail with Unavailable and `reason` (e.g. "session expired").
  void SetHandle(ZkHandle* handle, absl::string_view reason);

  // A reply from the C client (see ZkEventSink::OnZkReply).
  void OnReply(uint64_t generation, uint64_t request_id, ZkReply reply);

  // Fails every request, waiting or in flight, with `code` and "<op> '<path>': <reason>",
  // and every later one the same way (from a task of its own). Terminal: for shutdown and
  // rejected credentials.
  void Close(absl::StatusCode code, absl::string_view reason);

  int in_flight() const {
    executor_->AssertCurrent();
    return in_flight_;
  }
  size_t size() const {
    executor_->AssertCurrent();
    return entries_.size();
  }

 private:
  struct Entry {
    Request request;
    absl::Time deadline;
    uint64_t generation = 0;  // of the handle it was sent on; 0 while waiting
  };

  void Pump() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void Finish(std::map<uint64_t, Entry>::iterator it, absl::Status failure, ZkReply reply)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void ArmTimer() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);
  void OnTimer() ABSL_EXCLUSIVE_LOCKS_REQUIRED(executor_);

  SerialExecutor* const executor_;
  const int max_in_flight_;
  const absl::Duration timeout_;

  ZkHandle* handle_ ABSL_GUARDED_BY(executor_) = nullptr;
  uint64_t next_id_ ABSL_GUARDED_BY(executor_) = 1;
  // Live requests by id. Ids grow with submission time and every request has the same
  // timeout, so this is also deadline order.
  std::map<uint64_t, Entry> entries_ ABSL_GUARDED_BY(executor_);
  // Ids not sent yet, oldest first (finished ones are skipped).
  std::deque<uint64_t> waiting_ ABSL_GUARDED_BY(executor_);
  // Requests sent on `handle_` whose reply has not arrived (finished or not).
  int in_flight_ ABSL_GUARDED_BY(executor_) = 0;
  bool pumping_ ABSL_GUARDED_BY(executor_) = false;
  absl::StatusCode closed_code_ ABSL_GUARDED_BY(executor_) = absl::StatusCode::kOk;  // kOk: open
  std::string closed_reason_ ABSL_GUARDED_BY(executor_);
  SerialExecutor::TimerId timer_ ABSL_GUARDED_BY(executor_) = 0;
};

}  // namespace roster::registry
