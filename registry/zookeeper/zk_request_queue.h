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

  // `executor` runs the deadline timer and must outlive the queue.
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

  int in_flight() const { return in_flight_; }
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Request request;
    absl::Time deadline;
    uint64_t generation = 0;  // of the handle it was sent on; 0 while waiting
  };

  void Pump();
  void Finish(std::map<uint64_t, Entry>::iterator it, absl::Status failure, ZkReply reply);
  void ArmTimer();
  void OnTimer();

  SerialExecutor* const executor_;
  const int max_in_flight_;
  const absl::Duration timeout_;

  ZkHandle* handle_ = nullptr;
  uint64_t next_id_ = 1;
  // Live requests by id. Ids grow with submission time and every request has the same
  // timeout, so this is also deadline order.
  std::map<uint64_t, Entry> entries_;
  // Ids not sent yet, oldest first (finished ones are skipped).
  std::deque<uint64_t> waiting_;
  // Requests sent on `handle_` whose reply has not arrived (finished or not).
  int in_flight_ = 0;
  bool pumping_ = false;
  absl::StatusCode closed_code_ = absl::StatusCode::kOk;  // kOk: open
  std::string closed_reason_;
  SerialExecutor::TimerId timer_ = 0;
  absl::Time timer_deadline_ = absl::InfiniteFuture();
};

}  // namespace roster::registry
