// WatchFollower: a WatchCluster stream that keeps going. It resumes from the last version it
// delivered whenever rosterd asks the reader to resync (`resync_required`), the stream ends, or
// rosterd is unreachable (UNAVAILABLE, with the client's backoff), so the caller sees one
// ordered sequence of messages. Used by `rosterctl watch`, and by anything that mirrors the
// view.
//
//   WatchFollower follower(client.get(), /*from_version=*/0, filter);
//   v1::WatchClusterResponse message;
//   while (follower.Next(&message).ok()) Apply(message);
//
// Resuming: the next stream asks for the changes after the last version delivered (the last
// event's version, or a snapshot's), naming the rosterd instance that version belongs to
// (WatchClusterRequest.instance_id). If rosterd no longer has them, or is another daemon run
// (it restarted), it sends a snapshot; a snapshot resets the follower's instance and version, so
// the caller must replace its whole mirror with it. Should a rosterd that ignores instance_id
// answer a resumed stream with an event of another instance, the follower starts over from a
// snapshot itself. `resync_required` messages are consumed here, never delivered.
//
// Thread-safety: Next() from one thread at a time; Cancel() from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "client/roster_client.h"
#include "roster/v1/roster.pb.h"

namespace roster::client {

struct WatchFollowerOptions {
  // Give up (Next() returns the last error) after this many consecutive attempts that
  // delivered nothing. 0: never give up.
  int max_consecutive_failures = 0;
  // Called on the Next() caller's thread before each new stream is opened, with the version it
  // resumes from (0: a snapshot) and why. For logs and operator output.
  std::function<void(uint64_t from_version, const absl::Status& why)> on_resume;
};

// Thread-safety: Next() from one thread at a time; Cancel() from any thread.
class WatchFollower {
 public:
  // `client` is not owned and must outlive the follower.
  WatchFollower(RosterClient* client, uint64_t from_version, roster::v1::WatchFilter filter,
                WatchFollowerOptions options = {});
  ~WatchFollower();

  WatchFollower(const WatchFollower&) = delete;
  WatchFollower& operator=(const WatchFollower&) = delete;

  // Blocks until the next snapshot or event. OK: `*response` holds it. CANCELLED after
  // Cancel(). Any other error is one that resuming cannot fix (INVALID_ARGUMENT,
  // PERMISSION_DENIED, ...) or the last failure once max_consecutive_failures is reached.
  absl::Status Next(roster::v1::WatchClusterResponse* response);

  // Ends the follower: a blocked or later Next() returns CANCELLED. Idempotent.
  void Cancel();

  // The version the next stream would resume from (the last one delivered), and the rosterd
  // instance it belongs to. Next() caller only.
  uint64_t last_version() const { return resume_from_; }
  const std::string& instance_id() const { return instance_id_; }

 private:
  // Drops the current stream; the next Next() opens another after `why`.
  void Resume(uint64_t from_version, const absl::Status& why);
  // Waits for the backoff of the `failures_`-th consecutive failure, or until Cancel().
  void WaitBackoff();
  bool cancelled() const;

  RosterClient* const client_;
  const roster::v1::WatchFilter filter_;
  const WatchFollowerOptions options_;

  // Owned by the Next() caller.
  uint64_t resume_from_;
  std::string instance_id_;    // of the last message delivered
  bool fresh_stream_ = false;  // no message read from the current stream yet
  int failures_ = 0;           // consecutive attempts that delivered nothing
  absl::Status last_error_;

  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  // Shared so Cancel() can reach it without holding mu_ while cancelling.
  std::shared_ptr<WatchStream> stream_ ABSL_GUARDED_BY(mu_);
};

}  // namespace roster::client
