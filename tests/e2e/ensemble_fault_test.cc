// Ensemble faults: a 3-server ZooKeeper ensemble under a running cluster loses a follower, its
// quorum, or every server at once, and comes back with its data. Real processes only (see
// e2e_env.h). Each case ends with the oracle (tests/e2e/oracle.h), which reads ZooKeeper
// directly, finding no lost and no ghost node and every incarnation as ZooKeeper holds it; a
// watch stream that ran through the fault saw no node leave; rosterd's authority answers were,
// at every moment, the assignment held before the fault or a refusal; and a change made after
// the restore reaches the view. Each prints what it measured (`[measured] name: value`).
//
// ZooKeeper keeps sessions alive while it has no quorum (nothing can expire them), and a new
// leader gives every session a fresh timeout: once the quorum is back, every session, rosterd's
// and the simulated nodes', must resume as it was, with the same znodes.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_env.h"
#include "tests/e2e/fault_checks.h"
#include "tests/e2e/oracle.h"
#include "tests/server/server_test_env.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"

namespace roster::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

// rosterd's session timeout and staleness bound (slot and leader answers are refused once the
// view has been stale for longer); the simulated nodes use the same session timeout.
constexpr int kSessionTimeoutMs = 6000;
constexpr absl::Duration kStalenessBound = absl::Seconds(4);

std::vector<std::string> Faults(const WatchClient& watch) {
  return EventsWhere(watch, [](const v1::ClusterEvent& event) {
    return event.has_node() && event.node().state() == v1::FAULT;
  });
}

// The index of the ensemble member whose client port process `pid` holds an established TCP
// connection to, or -1. Read from /proc: the socket inodes among the process's descriptors,
// looked up in its network namespace's /proc/PID/net/tcp ("local rem st ... inode", addresses
// as hex "0100007F:0A8C", state 01 = ESTABLISHED).
int ConnectedMember(pid_t pid, ZooKeeperEnsemble& ensemble) {
  std::set<std::string> inodes;
  std::error_code error;
  for (const auto& fd :
       std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/fd"), error)) {
    const std::string target = std::filesystem::read_symlink(fd.path(), error).string();
    if (!error && target.rfind("socket:[", 0) == 0) {
      inodes.insert(target.substr(8, target.size() - 9));
    }
  }
  std::ifstream tcp(absl::StrCat("/proc/", pid, "/net/tcp"));
  std::string line;
  std::getline(tcp, line);  // the header
  while (std::getline(tcp, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
        timeout >> inode;
    if (state != "01" || inodes.count(inode) == 0) continue;
    int port = 0;
    if (!absl::SimpleHexAtoi(remote.substr(remote.find(':') + 1), &port)) continue;
    for (int i = 0; i < ensemble.size(); ++i) {
      if (ensemble.member(i).port() == port) return i;
    }
  }
  return -1;
}

// Polls a daemon from its own thread until destroyed: GetMasterSlot for every master, GetLeader,
// and the freshness every answer carries. Each authority answer must be the assignment held
// before the fault (`expected`) or a refusal (UNAVAILABLE); an answer given while the view had
// been stale for longer than the bound is wrong too. Keeps when the view was stale.
class AuthorityProbe {
 public:
  AuthorityProbe(RosterdProcess* daemon, std::vector<std::string> masters, ClusterIdentity expected)
      : daemon_(daemon),
        masters_(std::move(masters)),
        expected_(std::move(expected)),
        thread_([this] { Run(); }) {}
  ~AuthorityProbe() { Stop(); }

  void Stop() {
    if (!stop_.HasBeenNotified()) stop_.Notify();
    if (thread_.joinable()) thread_.join();
  }

  // The first sample at or after `since` in which the view was stale; InfiniteFuture if none.
  absl::Time FirstStale(absl::Time since) const {
    absl::MutexLock lock(&mu_);
    for (const Sample& sample : samples_) {
      if (sample.at >= since && sample.stale) return sample.at;
    }
    return absl::InfiniteFuture();
  }
  // The first refusal at or after `since`; InfiniteFuture if none.
  absl::Time FirstRefusal(absl::Time since) const {
    absl::MutexLock lock(&mu_);
    for (const Sample& sample : samples_) {
      if (sample.at >= since && sample.refused) return sample.at;
    }
    return absl::InfiniteFuture();
  }
  // The first sample from which on the view stayed fresh; InfiniteFuture if the last was stale.
  absl::Time FreshSince() const {
    absl::MutexLock lock(&mu_);
    absl::Time fresh = absl::InfiniteFuture();
    for (const Sample& sample : samples_) {
      if (sample.stale) {
        fresh = absl::InfiniteFuture();
      } else if (fresh == absl::InfiniteFuture()) {
        fresh = sample.at;
      }
    }
    return fresh;
  }
  std::vector<std::string> wrong() const {
    absl::MutexLock lock(&mu_);
    return wrong_;
  }
  int right() const {
    absl::MutexLock lock(&mu_);
    return right_;
  }
  int refused() const {
    absl::MutexLock lock(&mu_);
    return refused_;
  }
  // The longest staleness of an answer given (refused answers carry no ViewMeta).
  absl::Duration max_stale_for() const {
    absl::MutexLock lock(&mu_);
    return max_stale_for_;
  }

 private:
  struct Sample {
    absl::Time at;
    bool stale = false;
    bool refused = false;
  };

  void Run() {
    while (!stop_.WaitForNotificationWithTimeout(absl::Milliseconds(20))) Poll();
  }

  void Poll() {
    Sample sample;
    std::vector<std::string> wrong;
    int right = 0;
    absl::Duration stale_for;
    auto judge = [&](const grpc::Status& status, const v1::ViewMeta& meta, bool same,
                     const std::string& what, const std::string& answer) {
      if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
        sample.refused = true;
        return;
      }
      const absl::Duration age =
          absl::Seconds(meta.stale_for().seconds()) + absl::Nanoseconds(meta.stale_for().nanos());
      if (!status.ok()) {
        wrong.push_back(absl::StrCat(what, ": ", status.error_code(), " ", status.error_message()));
      } else if (!same) {
        wrong.push_back(absl::StrCat(what, ": ", answer));
      } else if (age > kStalenessBound) {
        wrong.push_back(absl::StrCat(what, ": answered while stale for ", absl::FormatDuration(age),
                                     ": ", answer));
      } else {
        ++right;
      }
      stale_for = std::max(stale_for, age);
      sample.stale = sample.stale || meta.stale();
    };
    for (size_t i = 0; i < masters_.size(); ++i) {
      CallContext context(absl::Seconds(5));
      v1::GetMasterSlotRequest request;
      request.set_address(masters_[i]);
      v1::GetMasterSlotResponse slot;
      const grpc::Status status = daemon_->roster().GetMasterSlot(&context, request, &slot);
      const auto held =
          std::find(expected_.slot_masters.begin(), expected_.slot_masters.end(), masters_[i]);
      const bool same = held != expected_.slot_masters.end() &&
                        slot.slot() == held - expected_.slot_masters.begin() &&
                        slot.total() == static_cast<int>(expected_.slot_masters.size()) &&
                        slot.epoch() == expected_.epoch;
      judge(status, slot.meta(), same, "GetMasterSlot " + masters_[i], slot.ShortDebugString());
    }
    {
      CallContext context(absl::Seconds(5));
      v1::GetLeaderResponse leader;
      const grpc::Status status = daemon_->roster().GetLeader(&context, {}, &leader);
      const bool same = leader.leader().address() == expected_.leader &&
                        leader.leader().fencing_token() == expected_.fencing_token;
      judge(status, leader.meta(), same, "GetLeader", leader.leader().ShortDebugString());
    }
    {
      // Refused answers carry no meta: the freshness comes from a lookup, always answered.
      CallContext context(absl::Seconds(5));
      v1::ListNodesResponse masters;
      if (daemon_->roster().ListMasters(&context, {}, &masters).ok()) {
        sample.stale = sample.stale || masters.meta().stale();
      }
    }
    sample.at = absl::Now();
    absl::MutexLock lock(&mu_);
    samples_.push_back(sample);
    right_ += right;
    refused_ += sample.refused;
    max_stale_for_ = std::max(max_stale_for_, stale_for);
    for (std::string& line : wrong) {
      if (wrong_.size() < 10) wrong_.push_back(std::move(line));
    }
  }

  RosterdProcess* const daemon_;
  const std::vector<std::string> masters_;
  const ClusterIdentity expected_;
  absl::Notification stop_;
  mutable absl::Mutex mu_;
  std::vector<Sample> samples_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> wrong_ ABSL_GUARDED_BY(mu_);
  int right_ ABSL_GUARDED_BY(mu_) = 0;
  int refused_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration max_stale_for_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // last: starts once everything above is built
};

std::string Since(absl::Time from, absl::Time to) {
  return to == absl::InfiniteFuture() ? "never" : absl::FormatDuration(to - from);
}

void Measured(const std::string& name, const std::string& value) {
  std::printf("[measured] %s: %s\n", name.c_str(), value.c_str());
  std::fflush(stdout);
}

// Every case on a 3-server ensemble.
class EnsembleFaultTest : public OnEnsemble<E2eTest> {
 protected:
  void TearDown() override {
    probe_.reset();
    watch_.reset();
    if (observer_ != nullptr) observer_->Shutdown();
    observer_.reset();
    OnEnsemble<E2eTest>::TearDown();
  }

  // The standard cluster on the ensemble, checked by the oracle, a watch stream and an
  // authority probe running: what the fault must not disturb. Use with ASSERT_NO_FATAL_FAILURE.
  void StartWatchedCluster(bool on_a_follower = false) {
    const std::vector<std::string> rosterd_flags = {
        absl::StrCat("--zk_session_timeout_ms=", kSessionTimeoutMs),
        absl::StrCat("--staleness_bound_ms=", absl::ToInt64Milliseconds(kStalenessBound))};
    ASSERT_NO_FATAL_FAILURE(
        StartCluster(rosterd_flags, {absl::StrCat("--session_timeout_ms=", kSessionTimeoutMs)}));
    // The client picks a server at random: start rosterd again until it picked a follower (2
    // chances in 3 each time).
    for (int attempt = 1; on_a_follower && !OnAFollower(); ++attempt) {
      ASSERT_LT(attempt, 12) << "rosterd never connected to a follower";
      daemons_.clear();
      daemon_ = StartRosterd(rosterd_flags);
      ASSERT_NE(daemon_, nullptr);
      ASSERT_TRUE(WaitSettled(daemon_, 3, 6));
    }
    observer_ = Observer();
    ASSERT_NE(observer_, nullptr);
    oracle_ = std::make_unique<ZooKeeperOracle>(observer_.get());
    const OracleResult start = oracle_->WaitConsistent(*daemon_, kReactTimeout);
    ASSERT_TRUE(start.Consistent()) << start;
    ASSERT_EQ(start.znodes, 9);
    ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse view, daemon_->View());
    identity_ = ClusterIdentity::Of(view);
    ASSERT_EQ(identity_.czxids.size(), 9u);
    ASSERT_EQ(identity_.slot_masters, masters_);
    ASSERT_FALSE(identity_.leader.empty());
    watch_ = std::make_unique<WatchClient>(&daemon_->roster(), v1::WatchClusterRequest());
    ASSERT_EVENTUALLY(watch_->size() >= 1);
    probe_ = std::make_unique<AuthorityProbe>(daemon_, masters_, identity_);
  }

  // True when rosterd is connected to a follower.
  bool OnAFollower() {
    const int connected = ConnectedMember(daemon_->process().pid(), *ensemble_);
    absl::StatusOr<int> leader = ensemble_->LeaderIndex();
    return connected >= 0 && leader.ok() && connected != *leader;
  }

  // After the restore: rosterd fresh, the oracle consistent, the identity unchanged, nothing
  // departed, no wrong authority answer; then a change made now reaches the view. Prints the
  // figures under `name`. Use with ASSERT_NO_FATAL_FAILURE.
  void CheckRecovered(const std::string& name, absl::Time fault, absl::Time restore) {
    ASSERT_TRUE(WaitSettled(daemon_, 3, 6));
    const OracleResult oracle = oracle_->WaitConsistent(*daemon_, kReactTimeout);
    const absl::Time consistent = absl::Now();
    EXPECT_TRUE(oracle.Consistent()) << oracle;
    EXPECT_EQ(oracle.znodes, 9) << oracle;
    EXPECT_THAT(oracle.lost, IsEmpty());
    EXPECT_THAT(oracle.ghost, IsEmpty());
    probe_->Stop();

    Measured(name + ".stale_after_fault", Since(fault, probe_->FirstStale(fault)));
    Measured(name + ".refused_after_fault", Since(fault, probe_->FirstRefusal(fault)));
    Measured(name + ".longest_staleness_answered", absl::FormatDuration(probe_->max_stale_for()));
    const absl::Time fresh = probe_->FreshSince();
    Measured(name + ".fresh_after_restore",
             fresh <= restore ? "0 (fresh before the restore)" : Since(restore, fresh));
    Measured(name + ".oracle_consistent_after_restore", Since(restore, consistent));
    Measured(name + ".authority_answers",
             absl::StrCat(probe_->right(), " right, ", probe_->refused(), " refused, ",
                          probe_->wrong().size(), " wrong"));
    Measured(name + ".fault_events", absl::StrCat(Faults(*watch_).size()));

    ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse after, daemon_->View());
    EXPECT_EQ(ClusterIdentity::Of(after), identity_)
        << "before: " << identity_.ToString()
        << "\nafter: " << ClusterIdentity::Of(after).ToString();
    EXPECT_FALSE(after.meta().stale());
    EXPECT_EQ(after.meta().session_state(), v1::CONNECTED);
    EXPECT_THAT(probe_->wrong(), IsEmpty())
        << "every slot and leader answer must be the assignment held before the fault, given "
           "while stale within the bound, or a refusal";
    EXPECT_THAT(Departures(*watch_), IsEmpty()) << "no node left: only ZooKeeper failed";
    EXPECT_THAT(Faults(*watch_), IsEmpty())
        << "silence rosterd could not observe is not the nodes' (docs/states.md)";
    EXPECT_FALSE(watch_->done()) << watch_->status().error_message();

    // Changes reach the view again: the watches were re-armed. (The simulator's own sessions
    // may still be reconnecting: retry until it could write.)
    ASSERT_EVENTUALLY(sim_->Command("busy " + workers_[0]).ok());
    ASSERT_EVENTUALLY(StateOf(workers_[0]) == v1::OVERLOAD);
    ASSERT_OK(sim_->Command("kill " + workers_[5]).status());
    ASSERT_EVENTUALLY(StateOf(workers_[5]) == v1::OFFLINE);
    const OracleResult changed = oracle_->WaitConsistent(*daemon_, kReactTimeout);
    EXPECT_TRUE(changed.Consistent()) << changed;
    EXPECT_EQ(changed.znodes, 8) << changed;
  }

  // Waits until rosterd refuses GetMasterSlot and GetLeader as stale. Use with
  // ASSERT_NO_FATAL_FAILURE.
  void WaitRefused() {
    v1::GetMasterSlotResponse slot;
    ASSERT_EVENTUALLY(Slot(masters_[0], &slot).error_code() == grpc::StatusCode::UNAVAILABLE);
    v1::GetLeaderResponse leader;
    EXPECT_THAT(Leader(&leader), GrpcIs(grpc::StatusCode::UNAVAILABLE, HasSubstr("stale")));
    EXPECT_THAT(Slot(masters_[1], &slot),
                GrpcIs(grpc::StatusCode::UNAVAILABLE, HasSubstr("stale")));
  }

  // Waits until rosterd takes its session as lost (suspended past the session timeout, on its
  // own clock): the fault outlasted every session timeout. Use with ASSERT_NO_FATAL_FAILURE.
  void WaitSessionLost() {
    ASSERT_EVENTUALLY([&] {
      absl::StatusOr<v1::ListNodesResponse> masters = daemon_->client().ListMasters();
      return masters.ok() && masters->meta().session_state() == v1::LOST && masters->meta().stale();
    }());
  }

  std::unique_ptr<registry::Registry> observer_;
  std::unique_ptr<ZooKeeperOracle> oracle_;
  ClusterIdentity identity_;
  std::unique_ptr<WatchClient> watch_;
  std::unique_ptr<AuthorityProbe> probe_;
};

TEST_F(EnsembleFaultTest, AFollowerKilledAndRestartedLosesNothingAndRefusesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartWatchedCluster(/*on_a_follower=*/true));
  ASSERT_OK_AND_ASSIGN(const int leader, ensemble_->LeaderIndex());
  // The follower rosterd is connected to: rosterd has to move to another server.
  const int follower = ConnectedMember(daemon_->process().pid(), *ensemble_);
  ASSERT_NE(follower, leader);
  ASSERT_GE(follower, 0);
  const absl::Time fault = absl::Now();
  ASSERT_OK(ensemble_->member(follower).Kill());
  // Two servers keep the quorum: rosterd stays (or becomes again) fresh and consistent while
  // the follower is down.
  ASSERT_TRUE(WaitSettled(daemon_, 3, 6));
  const OracleResult during = oracle_->WaitConsistent(*daemon_, kReactTimeout);
  EXPECT_TRUE(during.Consistent()) << during;
  ASSERT_OK_AND_ASSIGN(const int leader_after, ensemble_->LeaderIndex());
  EXPECT_EQ(leader_after, leader) << "the leader kept its quorum";

  const absl::Time restore = absl::Now();
  ASSERT_OK(ensemble_->Start());
  Measured("follower_kill.follower_serving_after_restart", Since(restore, absl::Now()));
  ASSERT_NO_FATAL_FAILURE(CheckRecovered("follower_kill", fault, restore));
  // The quorum was never lost: no answer was refused, no staleness reached the bound.
  EXPECT_EQ(probe_->refused(), 0);
  EXPECT_LT(probe_->max_stale_for(), kStalenessBound);
}

TEST_F(EnsembleFaultTest, QuorumLostThenRestoredRefusesAuthorityAndResumesTheSameView) {
  ASSERT_NO_FATAL_FAILURE(StartWatchedCluster());
  // Keep the server rosterd is connected to, kill the other two: the survivor gives up serving
  // (it cannot reach a quorum) and drops rosterd's connection itself.
  const int connected = ConnectedMember(daemon_->process().pid(), *ensemble_);
  const int survivor = connected >= 0 ? connected : 0;
  const absl::Time fault = absl::Now();
  for (int i = 0; i < 3; ++i) {
    if (i != survivor) {
      ASSERT_OK(ensemble_->member(i).Kill());
    }
  }
  ASSERT_EVENTUALLY(!daemon_->Serving());
  ASSERT_NO_FATAL_FAILURE(WaitRefused());
  // Past every session timeout: only the missing quorum keeps the sessions alive.
  ASSERT_NO_FATAL_FAILURE(WaitSessionLost());
  EXPECT_FALSE(ensemble_->member(survivor).Mode(absl::Seconds(1)).ok())
      << "a lone server does not serve";

  const absl::Time restore = absl::Now();
  ASSERT_OK(ensemble_->Start());
  Measured("quorum_loss.ensemble_serving_after_restore", Since(restore, absl::Now()));
  ASSERT_NO_FATAL_FAILURE(CheckRecovered("quorum_loss", fault, restore));
  EXPECT_GT(probe_->refused(), 0);
  EXPECT_THAT(daemon_->LogTail(1 << 20), HasSubstr("LOST"));
  EXPECT_THAT(daemon_->LogTail(1 << 20), HasSubstr("RECONNECTED"));
  EXPECT_THAT(daemon_->LogTail(1 << 20), ::testing::Not(HasSubstr("EXPIRED")));
}

TEST_F(EnsembleFaultTest, WholeEnsembleStoppedAndRestartedWithItsDataResumesTheSameView) {
  ASSERT_NO_FATAL_FAILURE(StartWatchedCluster());
  const absl::Time fault = absl::Now();
  for (int i = 0; i < 3; ++i) ASSERT_OK(ensemble_->member(i).Stop());
  ASSERT_EVENTUALLY(!daemon_->Serving());
  ASSERT_NO_FATAL_FAILURE(WaitRefused());
  ASSERT_NO_FATAL_FAILURE(WaitSessionLost());

  const absl::Time restore = absl::Now();
  ASSERT_OK(ensemble_->Start());
  Measured("full_restart.ensemble_serving_after_restore", Since(restore, absl::Now()));
  ASSERT_NO_FATAL_FAILURE(CheckRecovered("full_restart", fault, restore));
  EXPECT_GT(probe_->refused(), 0);
  EXPECT_THAT(daemon_->LogTail(1 << 20), ::testing::Not(HasSubstr("EXPIRED")));
}

}  // namespace
}  // namespace roster::testing
