#include "client/watch_follower.h"

#include <algorithm>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace roster::client {
namespace {

namespace v1 = ::roster::v1;

// Codes after which a new stream can pick up where the old one stopped. CANCELLED is here
// because a rosterd shutting down cancels its streams; our own Cancel() is checked first.
bool Resumable(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kCancelled;
}

}  // namespace

WatchFollower::WatchFollower(RosterClient* client, uint64_t from_version, v1::WatchFilter filter,
                             WatchFollowerOptions options)
    : client_(client),
      filter_(std::move(filter)),
      options_(std::move(options)),
      resume_from_(from_version) {}

WatchFollower::~WatchFollower() = default;  // stream_'s destructor cancels an open stream

bool WatchFollower::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

void WatchFollower::Cancel() {
  std::shared_ptr<WatchStream> stream;
  {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    stream = stream_;
  }
  if (stream != nullptr) stream->Cancel();
}

void WatchFollower::Resume(uint64_t from_version, const absl::Status& why) {
  std::shared_ptr<WatchStream> stream;
  {
    absl::MutexLock lock(&mu_);
    stream = std::move(stream_);
    stream_ = nullptr;
  }
  stream.reset();  // cancels it if still open; outside mu_, as it may block briefly
  resume_from_ = from_version;
  last_error_ = why;
}

void WatchFollower::WaitBackoff() {
  const ClientOptions& options = client_->options();
  absl::Duration wait = options.initial_backoff;
  for (int i = 1; i < failures_ && wait < options.max_backoff; ++i) wait *= 2;
  absl::BitGen bitgen;
  wait = std::min(std::min(wait, options.max_backoff) * absl::Uniform(bitgen, 0.8, 1.2),
                  options.max_backoff);
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&cancelled_), wait);
}

absl::Status WatchFollower::Next(v1::WatchClusterResponse* response) {
  while (true) {
    if (cancelled()) return absl::CancelledError("watch cancelled");
    std::shared_ptr<WatchStream> stream;
    {
      absl::MutexLock lock(&mu_);
      stream = stream_;
    }
    if (stream == nullptr) {
      if (failures_ > 0) {
        if (options_.max_consecutive_failures > 0 &&
            failures_ >= options_.max_consecutive_failures) {
          return absl::Status(last_error_.code(),
                              absl::StrCat(last_error_.message(), " (watch: gave up after ",
                                           failures_, " attempts)"));
        }
        WaitBackoff();
        if (cancelled()) return absl::CancelledError("watch cancelled");
      }
      if (!last_error_.ok() && options_.on_resume) options_.on_resume(resume_from_, last_error_);
      stream = std::shared_ptr<WatchStream>(client_->Watch(resume_from_, filter_, instance_id_));
      bool cancel_now;
      {
        absl::MutexLock lock(&mu_);
        stream_ = stream;
        cancel_now = cancelled_;  // Cancel() ran while the stream was being opened
      }
      if (cancel_now) stream->Cancel();
      fresh_stream_ = true;
    }

    absl::StatusOr<bool> got = stream->Next(response);
    if (!got.ok()) {
      if (cancelled()) return absl::CancelledError("watch cancelled");
      if (!Resumable(got.status().code())) {
        Resume(resume_from_, absl::OkStatus());
        return got.status();
      }
      ++failures_;
      Resume(resume_from_, got.status());
      continue;
    }
    if (!*got) {
      ++failures_;
      Resume(resume_from_, absl::UnavailableError("rosterd ended the watch stream"));
      continue;
    }

    // A message.
    if (response->has_resync_required()) {
      // Straight back, unless the stream delivered nothing else: then back off as for a
      // failure, so a rosterd that keeps saying so is not hammered.
      failures_ = fresh_stream_ ? failures_ + 1 : 0;
      Resume(resume_from_, absl::UnavailableError(absl::StrCat("rosterd asked to resync: ",
                                                               response->resync_required())));
      continue;
    }
    const std::string& instance = response->meta().instance_id();
    if (fresh_stream_ && resume_from_ != 0 && !response->has_snapshot() && !instance_id_.empty() &&
        !instance.empty() && instance != instance_id_) {
      failures_ = 0;
      Resume(0, absl::UnavailableError(absl::StrCat("rosterd restarted (instance '", instance_id_,
                                                    "' -> '", instance,
                                                    "'): starting over from a snapshot")));
      instance_id_ = instance;
      continue;
    }
    fresh_stream_ = false;
    failures_ = 0;
    last_error_ = absl::OkStatus();
    if (response->has_snapshot()) {
      // A snapshot starts everything over: its instance and version replace whatever the
      // follower knew (a restarted rosterd's versions begin again from 1).
      instance_id_ = instance;
      resume_from_ = std::max(response->snapshot().meta().version(), response->meta().version());
    } else {
      if (!instance.empty()) instance_id_ = instance;
      if (response->has_event()) resume_from_ = response->event().version();
    }
    return absl::OkStatus();
  }
}

}  // namespace roster::client
