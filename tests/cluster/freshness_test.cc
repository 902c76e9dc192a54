// FreshnessTracker and EvaluateFreshness: when a view may be called fresh, and when slot and
// leader answers must be refused (docs/consistency.md).
#include "cluster/freshness.h"

#include "gtest/gtest.h"

namespace roster::cluster {
namespace {

using registry::SessionInfo;
using registry::SessionState;

constexpr int kSources = 3;
const absl::Time kStart = absl::FromUnixSeconds(1000);
const absl::Duration kBound = absl::Seconds(20);

SessionInfo Connected(uint64_t events, absl::Time since = kStart) {
  SessionInfo session;
  session.state = SessionState::kConnected;
  session.events = events;
  session.state_since = since;
  return session;
}

void SyncAll(FreshnessTracker* tracker, bool settled, absl::Time now) {
  for (int source = 0; source < kSources; ++source) tracker->SourceSynced(source, settled, now);
}

TEST(FreshnessTest, StartsStaleAndNotSynced) {
  FreshnessTracker tracker(kSources, kStart, /*applied_sequence=*/1);
  const Freshness f =
      EvaluateFreshness(tracker.record(), Connected(1), kStart + absl::Seconds(5), kBound);
  EXPECT_TRUE(f.stale);
  EXPECT_FALSE(f.ever_synced);
  EXPECT_FALSE(f.authoritative) << "never authoritative before the first full read";
  EXPECT_EQ(f.stale_for, absl::Seconds(5));
  EXPECT_EQ(f.since_last_sync, absl::InfiniteDuration());
}

TEST(FreshnessTest, FreshOnlyOnceEverySourceHasReadEverythingAndTheViewIsCommitted) {
  FreshnessTracker tracker(kSources, kStart, 1);
  const absl::Time t1 = kStart + absl::Seconds(1);
  tracker.SourceSynced(0, true, t1);
  tracker.SourceSynced(1, true, t1);
  EXPECT_FALSE(tracker.first_sync_done());
  tracker.SourceSynced(2, true, t1);
  EXPECT_TRUE(tracker.first_sync_done());
  EXPECT_TRUE(tracker.stale()) << "fresh only at the commit that publishes the view";
  EXPECT_FALSE(tracker.record().ever_synced) << "nothing visible before Commit()";

  EXPECT_EQ(tracker.Commit(/*view_synced=*/true), 1) << "one round of full reads";
  EXPECT_FALSE(tracker.stale());
  const Freshness f = EvaluateFreshness(tracker.record(), Connected(1), t1, kBound);
  EXPECT_FALSE(f.stale);
  EXPECT_TRUE(f.ever_synced);
  EXPECT_TRUE(f.authoritative);
  EXPECT_EQ(f.since_last_sync, absl::ZeroDuration());
  EXPECT_EQ(tracker.Commit(true), 0) << "a round is counted once";
}

TEST(FreshnessTest, FullReadsOfAnUnsettledSessionDoNotMakeTheViewFresh) {
  FreshnessTracker tracker(kSources, kStart, 1);
  SyncAll(&tracker, /*settled=*/false, kStart);
  tracker.Commit(true);
  EXPECT_TRUE(tracker.stale());
  EXPECT_FALSE(tracker.record().ever_synced);
}

TEST(FreshnessTest, ASessionEventInTheSameBatchCancelsTheFreshnessOfEarlierReads) {
  FreshnessTracker tracker(kSources, kStart, 1);
  SyncAll(&tracker, true, kStart);
  tracker.Commit(true);
  const absl::Time t = kStart + absl::Seconds(3);
  SyncAll(&tracker, true, t);                                // a resync round...
  tracker.SessionEventApplied(2, /*reconnected=*/false, t);  // ...then a suspension
  tracker.Commit(true);
  EXPECT_TRUE(tracker.stale());
  EXPECT_EQ(tracker.record().stale_since, t);
}

TEST(FreshnessTest, AfterAReconnectEverySourceMustReadAgain) {
  FreshnessTracker tracker(kSources, kStart, 1);
  SyncAll(&tracker, true, kStart);
  tracker.Commit(true);
  const absl::Time t = kStart + absl::Seconds(10);
  tracker.SessionEventApplied(2, /*reconnected=*/true, t);
  tracker.SourceSynced(0, true, t);
  tracker.SourceSynced(1, true, t);
  tracker.Commit(true);
  EXPECT_TRUE(tracker.stale()) << "source 2 has not read everything since the reconnect";
  tracker.SourceSynced(2, true, t + absl::Seconds(1));
  tracker.Commit(true);
  EXPECT_FALSE(tracker.stale());
  EXPECT_TRUE(tracker.record().ever_synced);
}

TEST(FreshnessTest, TheLiveSessionCanOnlyMakeACommittedViewStaler) {
  FreshnessTracker tracker(kSources, kStart, 1);
  SyncAll(&tracker, true, kStart);
  tracker.Commit(true);
  const absl::Time lost_at = kStart + absl::Seconds(30);

  SessionInfo suspended = Connected(2, lost_at);
  suspended.state = SessionState::kSuspended;
  Freshness f = EvaluateFreshness(tracker.record(), suspended, lost_at + kBound, kBound);
  EXPECT_TRUE(f.stale);
  EXPECT_EQ(f.stale_for, kBound);
  EXPECT_TRUE(f.authoritative) << "stale for exactly the bound: still answered";
  f = EvaluateFreshness(tracker.record(), suspended, lost_at + kBound + absl::Milliseconds(1),
                        kBound);
  EXPECT_FALSE(f.authoritative) << "past the bound: refused";

  // Connected again, but the reconnect event is not applied yet: still stale.
  f = EvaluateFreshness(tracker.record(), Connected(3, lost_at + absl::Seconds(1)),
                        lost_at + absl::Seconds(2), kBound);
  EXPECT_TRUE(f.stale);
  EXPECT_EQ(f.stale_for, absl::Seconds(1));
}

TEST(FreshnessTest, ARefusedOrClosedSessionIsNeverAuthoritative) {
  FreshnessTracker tracker(kSources, kStart, 1);
  SyncAll(&tracker, true, kStart);
  tracker.Commit(true);
  for (SessionState state : {SessionState::kAuthFailed, SessionState::kClosed}) {
    SessionInfo session = Connected(1, kStart);
    session.state = state;
    EXPECT_FALSE(EvaluateFreshness(tracker.record(), session, kStart, kBound).authoritative)
        << registry::SessionStateName(state);
  }
}

TEST(FreshnessTest, ARefusedSessionIsAnAccessProblemFromWhenItWasRefused) {
  FreshnessTracker tracker(kSources, kStart, 1);
  SyncAll(&tracker, true, kStart);
  tracker.Commit(true);
  SessionInfo refused = Connected(2, kStart + absl::Seconds(1));
  refused.state = SessionState::kAuthFailed;
  const Freshness f =
      EvaluateFreshness(tracker.record(), refused, kStart + absl::Seconds(4), kBound);
  EXPECT_EQ(f.access_problem, kAuthFailedProblem);
  EXPECT_EQ(f.access_problem_for, absl::Seconds(3));
}

TEST(FreshnessTest, AnUnreadableLayoutIsNeverAuthoritativeHoweverFreshTheView) {
  FreshnessTracker tracker(kSources, kStart, 1);
  SyncAll(&tracker, true, kStart);
  tracker.SetAccessProblem("rosterd may not list '/nodes/master'", kStart);
  tracker.Commit(true);
  const absl::Time later = kStart + absl::Seconds(5);
  Freshness f = EvaluateFreshness(tracker.record(), Connected(1), later, kBound);
  EXPECT_FALSE(f.stale) << "every root was read; one of them lists nothing";
  EXPECT_FALSE(f.authoritative);
  EXPECT_EQ(f.access_problem, "rosterd may not list '/nodes/master'");
  EXPECT_EQ(f.access_problem_for, absl::Seconds(5));

  // The same problem found again keeps its start; another wording of it too.
  tracker.SetAccessProblem("rosterd may not list '/nodes/master', '/nodes/worker'", later);
  tracker.Commit(true);
  f = EvaluateFreshness(tracker.record(), Connected(1), later, kBound);
  EXPECT_EQ(f.access_problem_for, absl::Seconds(5));

  // Not visible before the commit that publishes the view it belongs to; gone once fixed.
  tracker.SetAccessProblem("", later);
  EXPECT_FALSE(EvaluateFreshness(tracker.record(), Connected(1), later, kBound).authoritative);
  tracker.Commit(true);
  f = EvaluateFreshness(tracker.record(), Connected(1), later, kBound);
  EXPECT_TRUE(f.authoritative);
  EXPECT_EQ(f.access_problem, "");
  EXPECT_EQ(f.access_problem_for, absl::ZeroDuration());

  // A new problem counts from when it was found.
  tracker.SetAccessProblem("rosterd may not list '/nodes/worker'", later + absl::Seconds(1));
  tracker.Commit(true);
  f = EvaluateFreshness(tracker.record(), Connected(1), later + absl::Seconds(3), kBound);
  EXPECT_EQ(f.access_problem_for, absl::Seconds(2));
}

}  // namespace
}  // namespace roster::cluster
