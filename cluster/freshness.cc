#include "cluster/freshness.h"

#include <algorithm>
#include <utility>

namespace roster::cluster {

using registry::SessionState;

Freshness EvaluateFreshness(const FreshnessRecord& record, const registry::SessionInfo& session,
                            absl::Time now, absl::Duration staleness_bound) {
  Freshness f;
  f.session_state = session.state;
  f.ever_synced = record.ever_synced;
  absl::Time stale_since = record.stale_since;
  if (session.state != SessionState::kConnected || session.events > record.session_events_applied) {
    stale_since = std::min(stale_since, session.state_since);
  }
  f.stale = stale_since != absl::InfiniteFuture();
  f.stale_for = f.stale ? std::max(now - stale_since, absl::ZeroDuration()) : absl::ZeroDuration();
  if (record.last_sync != absl::InfinitePast()) {
    f.since_last_sync = std::max(now - record.last_sync, absl::ZeroDuration());
  }
  if (session.state == SessionState::kAuthFailed) {
    f.access_problem = std::string(kAuthFailedProblem);
    f.access_problem_for = std::max(now - session.state_since, absl::ZeroDuration());
  } else if (!record.access_problem.empty()) {
    f.access_problem = record.access_problem;
    f.access_problem_for = std::max(now - record.access_problem_since, absl::ZeroDuration());
  }
  f.authoritative = f.ever_synced && f.stale_for <= staleness_bound && f.access_problem.empty() &&
                    session.state != SessionState::kClosed;
  return f;
}

FreshnessTracker::FreshnessTracker(int sources, absl::Time start, uint64_t applied_sequence)
    : stale_since_(start),
      applied_sequence_(applied_sequence),
      synced_(sources, false),
      round_(sources, false) {
  committed_.stale_since = start;
  committed_.session_events_applied = applied_sequence;
}

void FreshnessTracker::SessionEventApplied(uint64_t sequence, bool reconnected, absl::Time now) {
  applied_sequence_ = std::max(applied_sequence_, sequence);
  if (reconnected) std::fill(synced_.begin(), synced_.end(), false);
  if (pending_fresh_) {
    // A full read completed earlier in this batch no longer makes the view fresh.
    pending_fresh_ = false;
    stale_since_ = now;
  } else if (stale_since_ == absl::InfiniteFuture()) {
    stale_since_ = now;
  }
}

void FreshnessTracker::SetAccessProblem(std::string problem, absl::Time now) {
  if (problem.empty()) {
    access_problem_since_ = absl::InfiniteFuture();
  } else if (access_problem_.empty()) {
    access_problem_since_ = now;
  }
  access_problem_ = std::move(problem);
}

void FreshnessTracker::SourceSynced(int source, bool session_settled, absl::Time now) {
  synced_[source] = true;
  round_[source] = true;
  auto all = [](const std::vector<bool>& flags) {
    return std::all_of(flags.begin(), flags.end(), [](bool b) { return b; });
  };
  if (all(round_)) {
    // Every subscription finished a full read (they resync together).
    std::fill(round_.begin(), round_.end(), false);
    pending_rounds_++;
    pending_round_time_ = now;
  }
  if (all(synced_) && session_settled) {
    // Every subscription has re-read everything since the last (re)connect.
    pending_fresh_ = true;
    first_sync_done_ = true;
  }
}

bool FreshnessTracker::Unsettled(const registry::SessionInfo& session) const {
  return session.state != SessionState::kConnected || session.events > applied_sequence_;
}

int64_t FreshnessTracker::Commit(bool view_synced) {
  const int64_t rounds = pending_rounds_;
  if (pending_rounds_ > 0) {
    committed_.last_sync = pending_round_time_;
    pending_rounds_ = 0;
  }
  if (pending_fresh_) {
    pending_fresh_ = false;
    stale_since_ = absl::InfiniteFuture();
  }
  committed_.stale_since = stale_since_;
  committed_.session_events_applied = applied_sequence_;
  committed_.access_problem = access_problem_;
  committed_.access_problem_since = access_problem_since_;
  committed_.ever_synced = committed_.ever_synced || (view_synced && first_sync_done_);
  return rounds;
}

}  // namespace roster::cluster
