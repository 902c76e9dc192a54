// Freshness: how far a published cluster view can be trusted, and the bookkeeping that decides
// it (docs/consistency.md).
//
// The view is fresh when the registry session is connected, every session event has been
// applied, and every subscription has re-read everything since the last (re)connect. While it is
// not fresh it is stale: lookups still answer (flagged), but slot and leader answers are refused
// once it has been stale for longer than the staleness bound, because acting on them can
// double-process work. The view is synced ("ever synced") from the first moment it was fresh.
//
// FreshnessTracker runs on the cluster executor and records what each batch of registry events
// did. What it learns becomes visible only through Commit(), which the manager calls once the
// view holding what the full reads read is published: whoever sees the view turn fresh also sees
// the view that goes with it. Readers evaluate the committed FreshnessRecord, published together
// with its view, against the live registry session (EvaluateFreshness()).
//
// Thread-safety: FreshnessTracker is confined to the cluster executor; FreshnessRecord and
// Freshness are values; EvaluateFreshness() is pure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "registry/registry.h"

namespace roster::cluster {

// Freshness::access_problem while the registry session is AUTH_FAILED.
inline constexpr char kAuthFailedProblem[] =
    "ZooKeeper rejected rosterd's credentials (session AUTH_FAILED): check the digest in "
    "--zk_digest_file and that the ZooKeeper servers accept digest authentication; this "
    "session cannot recover";

// The freshness facts the cluster executor has committed, published with a view.
struct FreshnessRecord {
  bool ever_synced = false;  // a published view held the first full read
  // Since when the view has been stale; InfiniteFuture() while it is fresh.
  absl::Time stale_since = absl::InfinitePast();
  // When the last round of full reads (every subscription) completed; InfinitePast() before.
  absl::Time last_sync = absl::InfinitePast();
  // The highest registry::SessionEvent::sequence applied to the view.
  uint64_t session_events_applied = 0;
  // Why rosterd cannot read part of the registry layout with its credentials (a layout root it
  // may not list), naming the paths and the flag to fix; empty when it can. Since when.
  std::string access_problem;
  absl::Time access_problem_since = absl::InfiniteFuture();
};

// How far a view can be trusted, at the time of evaluation.
struct Freshness {
  registry::SessionState session_state = registry::SessionState::kConnecting;
  bool ever_synced = false;  // the first full read completed
  bool stale = true;         // not connected, a session event not applied, or a re-read pending
  absl::Duration stale_for;  // how long it has been stale; zero when fresh
  absl::Duration since_last_sync = absl::InfiniteDuration();  // since the last full read
  // Why the view cannot be trusted whatever its freshness: ZooKeeper rejected rosterd's
  // credentials (session AUTH_FAILED), or a layout root cannot be listed with them. Names the
  // cause and the flag to fix; empty when neither. The view may look empty or partial then:
  // selection, slot and leader answers are refused, and health is NOT_SERVING.
  std::string access_problem;
  absl::Duration access_problem_for;  // how long it has lasted; zero without one
  // Slot and leader answers are allowed: ever synced, stale for at most the bound, no access
  // problem, and the session neither closed nor refused.
  bool authoritative = false;
  // Non-empty while self-preservation holds nodes (cluster/self_preservation.h): why the view
  // is stale and not authoritative although the session is fine.
  std::string self_preservation;
};

// `record` judged against the live `session` at `now`. The session can only make the view
// staler than the record says: a session that is not connected, or has events the record has
// not applied yet (a reconnect, say), is stale from its last state change.
Freshness EvaluateFreshness(const FreshnessRecord& record, const registry::SessionInfo& session,
                            absl::Time now, absl::Duration staleness_bound);

class FreshnessTracker {
 public:
  // `sources`: how many subscriptions must each finish a full read. The view starts stale at
  // `start`; session events up to `applied_sequence` are covered by the first full read.
  FreshnessTracker(int sources, absl::Time start, uint64_t applied_sequence);

  // A registry session event was applied. Every session event makes the view stale (a full
  // read completed earlier in the batch no longer counts); a (re)connect also means the watches
  // may have been lost, so every subscription must read everything again.
  void SessionEventApplied(uint64_t sequence, bool reconnected, absl::Time now);
  // What the latest full reads could not list (see FreshnessRecord::access_problem); "" when
  // everything could be. Takes effect at the next Commit(); the time counts from the first of
  // an unbroken run of problems.
  void SetAccessProblem(std::string problem, absl::Time now);
  const std::string& access_problem() const { return access_problem_; }
  // Subscription `source` finished a full read. `session_settled`: the session is connected and
  // every one of its events has been applied (see Unsettled()).
  void SourceSynced(int source, bool session_settled, absl::Time now);

  // The live session has events this tracker has not applied, or is not connected.
  bool Unsettled(const registry::SessionInfo& session) const;
  // Stale as far as the executor knows: the view turns fresh only at the Commit() that
  // publishes it.
  bool stale() const { return stale_since_ != absl::InfiniteFuture(); }
  // Every subscription completed a full read since the last (re)connect, at least once.
  bool first_sync_done() const { return first_sync_done_; }

  // Makes this batch's findings visible in record(). `view_synced`: the view being published
  // holds the first full read. Returns how many rounds of full reads completed.
  int64_t Commit(bool view_synced);
  const FreshnessRecord& record() const { return committed_; }

 private:
  FreshnessRecord committed_;
  absl::Time stale_since_;
  uint64_t applied_sequence_;
  std::vector<bool> synced_;  // a full read since the last (re)connect, per source
  std::vector<bool> round_;   // a full read since the last counted round, per source
  bool first_sync_done_ = false;
  bool pending_fresh_ = false;
  std::string access_problem_;
  absl::Time access_problem_since_ = absl::InfiniteFuture();
  int64_t pending_rounds_ = 0;
  absl::Time pending_round_time_;
};

}  // namespace roster::cluster
