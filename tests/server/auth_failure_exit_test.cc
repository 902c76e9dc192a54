// When rosterd gives up on credentials ZooKeeper does not honour (AuthFailureExit::Check), and
// what health says meanwhile (HealthReporter::NotServingReason): pure decisions, no daemon.
#include "server/auth_failure_exit.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/health_reporter.h"
#include "tests/testing/status_matchers.h"

namespace roster::server {
namespace {

using registry::SessionState;
using ::roster::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

cluster::Freshness Fresh() {
  cluster::Freshness f;
  f.session_state = SessionState::kConnected;
  f.ever_synced = true;
  f.stale = false;
  f.authoritative = true;
  return f;
}

cluster::Freshness Denied(absl::Duration lasted) {
  cluster::Freshness f = Fresh();
  f.authoritative = false;
  f.access_problem = "rosterd may not list '/nodes/master'";
  f.access_problem_for = lasted;
  return f;
}

TEST(AuthFailureExitTest, ExitsOnlyOnceTheProblemHasLastedTheBound) {
  const absl::Duration bound = absl::Seconds(60);
  EXPECT_OK(AuthFailureExit::Check(Fresh(), bound));
  EXPECT_OK(AuthFailureExit::Check(Denied(absl::Seconds(59)), bound));
  EXPECT_THAT(AuthFailureExit::Check(Denied(absl::Seconds(60)), bound),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("'/nodes/master'"), HasSubstr("unresolved for 1m"),
                             HasSubstr("--exit_on_auth_failure_after_ms=60000"))));
}

TEST(AuthFailureExitTest, ZeroNeverExits) {
  EXPECT_OK(AuthFailureExit::Check(Denied(absl::Hours(24)), absl::ZeroDuration()));
}

TEST(AuthFailureExitTest, ARefusedSessionExitsAsUnauthenticated) {
  cluster::Freshness f = Denied(absl::Seconds(5));
  f.session_state = SessionState::kAuthFailed;
  f.access_problem = cluster::kAuthFailedProblem;
  EXPECT_THAT(AuthFailureExit::Check(f, absl::Seconds(5)),
              StatusIs(absl::StatusCode::kUnauthenticated, HasSubstr("AUTH_FAILED")));
}

TEST(HealthReasonTest, TheAccessProblemIsTheReasonWhateverElseIsWrong) {
  EXPECT_TRUE(HealthReporter::ShouldServe(Fresh()));
  EXPECT_EQ(HealthReporter::NotServingReason(Fresh()), "");
  cluster::Freshness f = Denied(absl::Seconds(1));
  EXPECT_FALSE(HealthReporter::ShouldServe(f)) << "fresh, connected, synced: still not served";
  EXPECT_EQ(HealthReporter::NotServingReason(f), "rosterd may not list '/nodes/master'");
  f.ever_synced = false;
  f.session_state = SessionState::kAuthFailed;
  EXPECT_EQ(HealthReporter::NotServingReason(f), "rosterd may not list '/nodes/master'");

  cluster::Freshness pending = Fresh();
  pending.ever_synced = false;
  pending.session_state = SessionState::kConnecting;
  EXPECT_EQ(HealthReporter::NotServingReason(pending),
            "registry session CONNECTING, first full read pending");
}

}  // namespace
}  // namespace roster::server
