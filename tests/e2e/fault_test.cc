// Fault tests: ZooKeeper restarted, killed and paused under a running cluster; several
// rosterd daemons that must agree; a 3-server ensemble losing its leader. Real processes only
// (see e2e_env.h). What is checked is what a scheduler acts on: no node is reported gone
// because ZooKeeper blinked, authority answers are refused while the view cannot be trusted,
// and afterwards the view is fresh and the same everywhere.
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_env.h"
#include "tests/e2e/fault_checks.h"
#include "tests/server/server_test_env.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"

namespace roster::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// True once every thread of process `pid` has stopped (SIGSTOP): its state in /proc is 'T'.
bool ProcessStopped(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // "pid (comm) S ...": the state follows the last ')'.
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'T';
}

class FaultTest : public E2eTest {
 protected:
  // ZooKeeper goes away for less than the session timeout (10 s) and comes back with its
  // data: stopped cleanly and restarted, or killed and restarted.
  void BlinkZooKeeper(bool kill) {
    ASSERT_NO_FATAL_FAILURE(
        StartCluster({"--zk_session_timeout_ms=10000"}, {"--session_timeout_ms=10000"}));
    ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse before, daemon_->View());
    const ClusterIdentity identity = ClusterIdentity::Of(before);
    ASSERT_EQ(identity.czxids.size(), 9u);
    WatchClient watch(&daemon_->roster(), v1::WatchClusterRequest());
    ASSERT_EVENTUALLY(watch.size() >= 1);

    if (kill) {
      ASSERT_OK(zk_->Kill());
    } else {
      ASSERT_OK(zk_->Stop());
    }
    // rosterd notices: the view goes stale and health says so.
    ASSERT_EVENTUALLY(!daemon_->Serving());
    ASSERT_OK(zk_->Start());

    ASSERT_TRUE(WaitSettled(daemon_, 3, 6));
    ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse after, daemon_->View());
    EXPECT_EQ(ClusterIdentity::Of(after), identity)
        << "before: " << identity.ToString()
        << "; after: " << ClusterIdentity::Of(after).ToString();
    EXPECT_FALSE(after.meta().stale());
    EXPECT_EQ(after.meta().session_state(), v1::CONNECTED);
    EXPECT_THAT(Departures(watch), IsEmpty()) << "no node left: ZooKeeper only blinked";
    EXPECT_FALSE(watch.done()) << watch.status().error_message();
    for (int i = 0; i < 3; ++i) {
      v1::GetMasterSlotResponse slot;
      ASSERT_THAT(Slot(masters_[i], &slot), GrpcOk());
      EXPECT_EQ(slot.slot(), i);
      EXPECT_EQ(slot.epoch(), identity.epoch);
    }
    v1::GetLeaderResponse leader;
    ASSERT_THAT(Leader(&leader), GrpcOk());
    EXPECT_EQ(leader.leader().fencing_token(), identity.fencing_token);
    // The daemon saw the connection go and come back (the session itself survived).
    EXPECT_THAT(daemon_->LogTail(1 << 20), HasSubstr("SUSPENDED"));
    EXPECT_THAT(daemon_->LogTail(1 << 20), HasSubstr("RECONNECTED"));
    // And it follows changes again: the watches were re-armed.
    // (The simulator's own sessions may still be reconnecting: retry until it could write.)
    ASSERT_EVENTUALLY(sim_->Command("busy " + workers_[0]).ok());
    ASSERT_EVENTUALLY(StateOf(workers_[0]) == v1::OVERLOAD);
  }
};

TEST_F(FaultTest, ZooKeeperRestartedWithinTheSessionTimeoutLosesNoNode) {
  BlinkZooKeeper(/*kill=*/false);
}

TEST_F(FaultTest, ZooKeeperKilledAndRestartedLosesNoNode) { BlinkZooKeeper(/*kill=*/true); }

TEST_F(FaultTest, ZooKeeperPausedPastTheSessionTimeoutExpiresSessionsAndRecovers) {
  // 2 s sessions everywhere: rosterd refuses authority after 1.33 s of staleness.
  ASSERT_NO_FATAL_FAILURE(
      StartCluster({"--zk_session_timeout_ms=2000"}, {"--session_timeout_ms=2000"}));
  ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse before, daemon_->View());
  const ClusterIdentity identity = ClusterIdentity::Of(before);

  ASSERT_OK(zk_->Pause());
  ASSERT_EVENTUALLY(!daemon_->Serving());
  v1::GetMasterSlotResponse slot;
  ASSERT_EVENTUALLY(Slot(masters_[0], &slot).error_code() == grpc::StatusCode::UNAVAILABLE);
  v1::GetLeaderResponse leader;
  EXPECT_THAT(Leader(&leader), GrpcIs(grpc::StatusCode::UNAVAILABLE, HasSubstr("stale")));
  // Past the session timeout on rosterd's own clock: the session is taken as lost.
  v1::GetWorkerGroupRequest group;
  group.set_name("default");
  ASSERT_EVENTUALLY([&] {
    absl::StatusOr<v1::GetWorkerGroupResponse> answer = daemon_->client().GetWorkerGroup(group);
    return answer.ok() && answer->meta().session_state() == v1::LOST && answer->meta().stale();
  }());
  EXPECT_THAT(Slot(masters_[0], &slot), GrpcIs(grpc::StatusCode::UNAVAILABLE, HasSubstr("stale")));

  // A resumed server expires the sessions it finds overdue, unless a client's reconnect
  // reaches it before its session tracker runs and revives the session: a race inside
  // ZooKeeper. Hold rosterd and the simulator still while the server resumes, so it expires
  // every session, as it does when the clients come back later.
  ASSERT_OK(daemon_->process().Signal(SIGSTOP));
  ASSERT_OK(sim_->process().Signal(SIGSTOP));
  ASSERT_EVENTUALLY(ProcessStopped(daemon_->process().pid()) &&
                    ProcessStopped(sim_->process().pid()));
  ASSERT_OK(zk_->Resume());
  {
    std::unique_ptr<registry::Registry> observer = Observer();
    ASSERT_NE(observer, nullptr);
    ASSERT_EVENTUALLY([&] {
      absl::StatusOr<registry::Children> masters = observer->GetChildren("/nodes/master");
      absl::StatusOr<registry::Children> workers = observer->GetChildren("/nodes/worker");
      return masters.ok() && masters->names.empty() && workers.ok() && workers->names.empty();
    }()) << "the server expires the sessions of the stopped clients";
    observer->Shutdown();
  }
  // rosterd's session too: it may fall due a tick after the simulator's (it was last heard
  // later), and a reconnect before then would revive it.
  ASSERT_EVENTUALLY(zk_->TrackedSessions().value_or(-1) == 0)
      << "the server expires rosterd's session";
  ASSERT_OK(daemon_->process().Signal(SIGCONT));
  ASSERT_OK(sim_->process().Signal(SIGCONT));

  ASSERT_TRUE(WaitSettled(daemon_, 3, 6));
  ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse after, daemon_->View());
  const ClusterIdentity recovered = ClusterIdentity::Of(after);
  // The server expired every session: the simulator's ephemerals were re-created (new
  // czxids), the leader's coordinator znode too (a larger fencing token), and the masters'
  // znodes changed, so the slot epoch did.
  EXPECT_THAT(daemon_->LogTail(1 << 20), HasSubstr("EXPIRED"));
  ASSERT_EQ(recovered.czxids.size(), 9u);
  for (const auto& [address, czxid] : recovered.czxids) {
    EXPECT_GT(czxid, identity.czxids.at(address)) << address << " was not re-created";
  }
  EXPECT_EQ(recovered.slot_masters, identity.slot_masters);
  EXPECT_NE(recovered.epoch, identity.epoch);
  EXPECT_EQ(recovered.leader, identity.leader);
  EXPECT_GT(recovered.fencing_token, identity.fencing_token);
  // Authority answers again, from the fresh view.
  ASSERT_THAT(Slot(masters_[0], &slot), GrpcOk());
  EXPECT_EQ(slot.slot(), 0);
  EXPECT_EQ(slot.total(), 3);
  EXPECT_EQ(slot.epoch(), recovered.epoch);
  ASSERT_THAT(Leader(&leader), GrpcOk());
  EXPECT_EQ(leader.leader().fencing_token(), recovered.fencing_token);
  EXPECT_EQ(leader.meta().session_state(), v1::CONNECTED);
}

TEST_F(FaultTest, WhileZooKeeperIsAwaySlotAnswersAreRightOrRefusedNeverEmptied) {
  // rosterd: nodes FAULT after 3 s without a heartbeat (1 s intervals); authority refused
  // after 4 s of staleness (2/3 of 6 s sessions). While rosterd cannot reach ZooKeeper it
  // cannot see heartbeats either: silence is its own blindness, not the masters' failure.
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  v1::GetMasterSlotResponse slot;
  ASSERT_THAT(Slot(masters_[1], &slot), GrpcOk());
  const uint64_t epoch = slot.epoch();

  ASSERT_OK(zk_->Stop());
  // Ask until the answer is refused as stale; every answer before must be the slot held.
  std::vector<std::string> wrong;
  int answered = 0;
  ASSERT_EVENTUALLY([&] {
    const grpc::Status status = Slot(masters_[1], &slot);
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) return true;
    if (status.ok() && slot.slot() == 1 && slot.total() == 3 && slot.epoch() == epoch) {
      ++answered;
    } else if (wrong.size() < 5) {
      wrong.push_back(status.ok() ? slot.ShortDebugString()
                                  : absl::StrCat(status.error_code(), " ", status.error_message()));
    }
    return false;
  }());
  EXPECT_THAT(wrong, IsEmpty())
      << "a master was told something else than its slot while the view was still "
         "authoritative (after "
      << answered << " right answers)";
}

// The answers a master acts on, as one daemon gives them.
struct Authority {
  std::vector<std::string> slot_masters;
  uint64_t epoch = 0;
  std::vector<int> slots;  // GetMasterSlot for each of the fixture's masters; -1: refused
  std::string leader;
  int64_t fencing_token = 0;

  friend bool operator==(const Authority& a, const Authority& b) {
    return std::tie(a.slot_masters, a.epoch, a.slots, a.leader, a.fencing_token) ==
           std::tie(b.slot_masters, b.epoch, b.slots, b.leader, b.fencing_token);
  }
  std::string ToString() const {
    return absl::StrCat("slots [", absl::StrJoin(slot_masters, ","), "] epoch ", epoch,
                        " per master [", absl::StrJoin(slots, ","), "] leader ", leader, " token ",
                        fencing_token);
  }
};

class SeveralDaemonsTest : public FaultTest {
 protected:
  Authority AuthorityOf(RosterdProcess* daemon) {
    Authority authority;
    absl::StatusOr<v1::GetClusterViewResponse> view = daemon->View();
    if (!view.ok()) return authority;
    authority.slot_masters.assign(view->slots().masters().begin(), view->slots().masters().end());
    authority.epoch = view->slots().epoch();
    for (const std::string& master : masters_) {
      v1::GetMasterSlotResponse slot;
      const bool ok = Slot(master, &slot, daemon).ok();
      authority.slots.push_back(ok ? slot.slot() : -1);
      if (ok && slot.epoch() != authority.epoch) authority.slots.push_back(-2);  // torn
    }
    v1::GetLeaderResponse leader;
    if (Leader(&leader, daemon).ok()) {
      authority.leader = leader.leader().address();
      authority.fencing_token = leader.leader().fencing_token();
    }
    return authority;
  }

  // True when every daemon gives `expected` (and records what they gave).
  bool AllAgree(const std::vector<RosterdProcess*>& daemons, Authority* first, std::string* seen) {
    std::vector<Authority> all;
    for (RosterdProcess* daemon : daemons) all.push_back(AuthorityOf(daemon));
    seen->clear();
    for (const Authority& authority : all) absl::StrAppend(seen, authority.ToString(), "\n");
    *first = all[0];
    return std::all_of(all.begin(), all.end(), [&](const Authority& a) { return a == all[0]; });
  }
};

TEST_F(SeveralDaemonsTest, DaemonsAgreeOnEpochSlotsAndLeader) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  std::vector<RosterdProcess*> daemons = {daemon_, StartRosterd(), StartRosterd()};
  for (RosterdProcess* daemon : daemons) {
    ASSERT_NE(daemon, nullptr);
    ASSERT_TRUE(WaitSettled(daemon, 3, 6));
  }
  Authority agreed;
  std::string seen;
  ASSERT_EVENTUALLY(AllAgree(daemons, &agreed, &seen)) << seen;
  EXPECT_EQ(agreed.slot_masters, masters_);
  EXPECT_THAT(agreed.slots, ElementsAre(0, 1, 2));
  EXPECT_EQ(agreed.leader, masters_[0]);
  const Authority initial = agreed;

  // The leader dies, another master takes over, a third one is overloaded: every daemon
  // arrives at the same new assignment, epoch and leader.
  ASSERT_OK(sim_->Command("kill " + masters_[0]).status());
  ASSERT_OK(sim_->Command("leader " + masters_[2]).status());
  ASSERT_OK(sim_->Command("busy " + masters_[1]).status());
  ASSERT_EVENTUALLY(AllAgree(daemons, &agreed, &seen) && agreed.leader == masters_[2] &&
                    agreed.slot_masters.size() == 2)
      << seen;
  EXPECT_THAT(agreed.slot_masters, ElementsAre(masters_[1], masters_[2]));
  EXPECT_THAT(agreed.slots, ElementsAre(-1, 0, 1));
  EXPECT_NE(agreed.epoch, initial.epoch);
  EXPECT_GT(agreed.fencing_token, initial.fencing_token);

  // A daemon started now, from the same ZooKeeper state, agrees at once.
  RosterdProcess* late = StartRosterd();
  ASSERT_NE(late, nullptr);
  ASSERT_EVENTUALLY(late->Serving());
  EXPECT_EQ(AuthorityOf(late), agreed)
      << AuthorityOf(late).ToString() << " vs " << agreed.ToString();
}

using EnsembleTest = OnEnsemble<FaultTest>;

TEST_F(EnsembleTest, LosingTheZooKeeperLeaderKeepsTheViewConsistent) {
  ASSERT_NO_FATAL_FAILURE(
      StartCluster({"--zk_session_timeout_ms=8000"}, {"--session_timeout_ms=8000"}));
  ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse before, daemon_->View());
  const ClusterIdentity identity = ClusterIdentity::Of(before);
  WatchClient watch(&daemon_->roster(), v1::WatchClusterRequest());
  ASSERT_EVENTUALLY(watch.size() >= 1);

  ASSERT_OK_AND_ASSIGN(const int zk_leader, ensemble_->LeaderIndex());
  ASSERT_OK(ensemble_->member(zk_leader).Kill());
  // The remaining two elect a new leader.
  ASSERT_EVENTUALLY_WITHIN(kReactTimeout, [&] {
    absl::StatusOr<int> leader = ensemble_->LeaderIndex();
    return leader.ok() && *leader != zk_leader;
  }());

  ASSERT_TRUE(WaitSettled(daemon_, 3, 6));
  ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse after, daemon_->View());
  EXPECT_EQ(ClusterIdentity::Of(after), identity)
      << "before: " << identity.ToString() << "; after: " << ClusterIdentity::Of(after).ToString();
  EXPECT_THAT(Departures(watch), IsEmpty());
  v1::GetMasterSlotResponse slot;
  ASSERT_THAT(Slot(masters_[2], &slot), GrpcOk());
  EXPECT_EQ(slot.slot(), 2);
  EXPECT_EQ(slot.epoch(), identity.epoch);
  v1::GetLeaderResponse leader;
  ASSERT_THAT(Leader(&leader), GrpcOk());
  EXPECT_EQ(leader.leader().fencing_token(), identity.fencing_token);

  // Changes made through the surviving servers reach the view.
  // (The simulator's sessions on the killed server may still be moving: retry until written.)
  ASSERT_EVENTUALLY(sim_->Command("busy " + workers_[3]).ok());
  ASSERT_OK(sim_->Command("kill " + workers_[4]).status());
  ASSERT_EVENTUALLY(StateOf(workers_[3]) == v1::OVERLOAD && StateOf(workers_[4]) == v1::OFFLINE);
  ASSERT_EVENTUALLY(sim_->Command("leader " + masters_[1]).ok());
  ASSERT_EVENTUALLY(Leader(&leader).ok() && leader.leader().address() == masters_[1]);
  EXPECT_GT(leader.leader().fencing_token(), identity.fencing_token);
}

}  // namespace
}  // namespace roster::testing
