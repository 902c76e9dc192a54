// Network faults between rosterd and ZooKeeper, with ZooKeeper itself running all along:
// rosterd reaches its server only through a TcpProxy (tests/testing/tcp_proxy.h) that the test
// turns into a partition, a one-way blackhole, a slow link or a lossy one, while roster-sim
// (the scheduler's nodes) talks to ZooKeeper directly, so the nodes stay alive in ZooKeeper the
// whole time. And a 3-server ensemble cut 2|1 with rosterd able to reach only the minority.
//
// What a scheduler depends on: a node is never reported lost because rosterd could not see
// ZooKeeper; while rosterd's view cannot be trusted, slot and leader answers are either the
// last trusted ones or refused, never empty or different; afterwards the view is fresh and
// has caught up. Each case prints what it measured ("[measured] name: value").
#include <functional>
#include <iostream>
#include <memory>
#include <string>
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
#include "tests/testing/tcp_proxy.h"

namespace roster::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using Fault = TcpProxy::Fault;

constexpr char kSidecar[] = "127.0.0.1:7001";

void Measured(const std::string& name, absl::Duration value) {
  std::cout << "[measured] " << name << ": " << absl::FormatDuration(value) << std::endl;
}
void Measured(const std::string& name, int64_t value) {
  std::cout << "[measured] " << name << ": " << value << std::endl;
}

// The authority answers held before a fault: each master's slot and the leader.
struct Authority {
  std::vector<std::string> masters;  // slot i belongs to masters[i]
  uint64_t epoch = 0;
  std::string leader;
  int64_t fencing_token = 0;
};

// What the authority answers were while a fault lasted.
struct AuthorityTally {
  int same = 0;     // the answer held before
  int refused = 0;  // UNAVAILABLE
  std::vector<std::string> wrong;
  bool last_all_refused = false;
};

class PartitionTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (HasFatalFailure()) return;
    TcpProxyOptions options;
    options.upstream_port = zk_->port();
    options.name = "rosterd->zookeeper";
    proxy_ = std::make_unique<TcpProxy>(options);
    ASSERT_OK(proxy_->Start());
  }
  void TearDown() override {
    E2eTest::TearDown();
    proxy_.reset();
  }

  // rosterd's registry: ZooKeeper through the proxy.
  std::string ProxiedRegistryFlag() const {
    return absl::StrCat("--registry=zk://127.0.0.1:", proxy_->port(), kChroot);
  }

  Authority AuthorityNow() {
    Authority authority;
    absl::StatusOr<v1::GetClusterViewResponse> view = daemon_->View();
    EXPECT_TRUE(view.ok()) << view.status();
    if (!view.ok()) return authority;
    authority.masters.assign(view->slots().masters().begin(), view->slots().masters().end());
    authority.epoch = view->slots().epoch();
    authority.leader = view->leader().address();
    authority.fencing_token = view->leader().fencing_token();
    return authority;
  }

  // Asks every master's slot and the leader once; each answer must be the one in `held` or a
  // refusal (UNAVAILABLE).
  void ProbeAuthority(const Authority& held, AuthorityTally* tally) {
    int refused = 0;
    auto wrong = [&](const std::string& what) {
      if (tally->wrong.size() < 10) tally->wrong.push_back(what);
    };
    for (size_t i = 0; i < held.masters.size(); ++i) {
      v1::GetMasterSlotResponse slot;
      const grpc::Status status = Slot(held.masters[i], &slot);
      if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
        ++refused;
      } else if (status.ok() && slot.slot() == static_cast<int>(i) &&
                 slot.total() == static_cast<int>(held.masters.size()) &&
                 slot.epoch() == held.epoch) {
        ++tally->same;
      } else {
        wrong(absl::StrCat("slot of ", held.masters[i], ": ",
                           status.ok()
                               ? slot.ShortDebugString()
                               : absl::StrCat(status.error_code(), " ", status.error_message())));
      }
    }
    v1::GetLeaderResponse leader;
    const grpc::Status status = Leader(&leader);
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      ++refused;
    } else if (status.ok() && leader.leader().address() == held.leader &&
               leader.leader().fencing_token() == held.fencing_token) {
      ++tally->same;
    } else {
      wrong(absl::StrCat("leader: ", status.ok() ? leader.ShortDebugString()
                                                 : absl::StrCat(status.error_code(), " ",
                                                                status.error_message())));
    }
    tally->refused += refused;
    tally->last_all_refused = refused == static_cast<int>(held.masters.size()) + 1;
  }

  // The daemon's session state as an answer's meta reports it.
  v1::SessionState SessionState() {
    v1::GetWorkerGroupRequest group;
    group.set_name("default");
    absl::StatusOr<v1::GetWorkerGroupResponse> answer = daemon_->client().GetWorkerGroup(group);
    return answer.ok() ? answer->meta().session_state() : v1::SESSION_STATE_UNSPECIFIED;
  }

  // Registers a sidecar worker through rosterd: an ephemeral znode of rosterd's own session.
  void RegisterSidecar() {
    v1::RegisterNodeRequest worker;
    worker.set_role(v1::WORKER);
    worker.set_address(kSidecar);
    worker.mutable_heartbeat()->set_server_status(v1::Heartbeat::NORMAL);
    worker.mutable_heartbeat()->set_worker_group("sidecar");
    worker.mutable_heartbeat()->set_host_weight(100);
    worker.mutable_lease()->set_seconds(300);
    ASSERT_OK(daemon_->client().RegisterNode(worker).status());
    ASSERT_EVENTUALLY(StateOf(kSidecar) == v1::RUNNING);
  }

  // Holds `fault` on the proxy for `duration` while watching the daemon; then heals and waits
  // for the view to settle. Expects no transition and no departure in a watch stream, the same
  // identity afterwards, and prints what it saw.
  void ExpectNoTransitionUnder(const std::string& name, const std::function<void()>& fault,
                               absl::Duration duration) {
    ASSERT_NO_FATAL_FAILURE(StartCluster({"--zk_session_timeout_ms=10000", ProxiedRegistryFlag()}));
    ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse before, daemon_->View());
    const ClusterIdentity identity = ClusterIdentity::Of(before);
    const Authority held = AuthorityNow();
    WatchClient watch(&daemon_->roster(), v1::WatchClusterRequest());
    ASSERT_EVENTUALLY(watch.size() >= 1);
    const size_t messages_before = watch.size();

    fault();
    const absl::Time start = absl::Now();
    bool stale_seen = false;
    AuthorityTally tally;
    // Watch for the fault's duration; stop early only if a transition shows up.
    const bool transition = WaitFor(
        [&] {
          if (!daemon_->Serving()) stale_seen = true;
          ProbeAuthority(held, &tally);
          return !Transitions(watch).empty();
        },
        duration);
    const size_t messages_during = watch.size() - messages_before;
    const absl::Time healed = absl::Now();
    proxy_->Heal();
    proxy_->SetReset(false);
    EXPECT_FALSE(transition) << absl::StrJoin(Transitions(watch), "\n");
    EXPECT_THAT(tally.wrong, IsEmpty());

    ASSERT_TRUE(WaitSettled(daemon_, 3, 6));
    const absl::Duration settled = absl::Now() - healed;
    ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse after, daemon_->View());
    EXPECT_EQ(ClusterIdentity::Of(after), identity)
        << "before: " << identity.ToString()
        << "\nafter: " << ClusterIdentity::Of(after).ToString();
    EXPECT_THAT(Transitions(watch), IsEmpty());
    EXPECT_THAT(Departures(watch), IsEmpty());
    EXPECT_FALSE(watch.done()) << watch.status().error_message();
    Measured(absl::StrCat(name, ": fault held"), healed - start);
    Measured(absl::StrCat(name, ": watch messages during the fault (load updates)"),
             static_cast<int64_t>(messages_during));
    Measured(absl::StrCat(name, ": rosterd went stale (1 = yes)"), stale_seen ? 1 : 0);
    std::cout << "[measured] " << name << ": authority answers same " << tally.same << ", refused "
              << tally.refused << ", wrong " << tally.wrong.size() << std::endl;
    Measured(absl::StrCat(name, ": settled after heal"), settled);
  }

  std::unique_ptr<TcpProxy> proxy_;
};

TEST_F(PartitionTest, PartitionShorterThanTheSessionTimeoutLosesNoNodeAndCatchesUp) {
  // 12 s sessions: the C client gives up on the connection after 2/3 of it (8 s) and rosterd
  // goes stale; the server keeps the session for 12 s, so a heal at once keeps it.
  ASSERT_NO_FATAL_FAILURE(StartCluster({"--zk_session_timeout_ms=12000", ProxiedRegistryFlag()}));
  // A worker down before the partition, to come back during it.
  ASSERT_OK(sim_->Command("kill " + workers_[5]).status());
  ASSERT_EVENTUALLY(StateOf(workers_[5]) == v1::OFFLINE);
  ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse before, daemon_->View());
  ClusterIdentity identity = ClusterIdentity::Of(before);
  const int64_t old_czxid = identity.czxids.at(workers_[5]);
  WatchClient watch(&daemon_->roster(), v1::WatchClusterRequest());
  ASSERT_EVENTUALLY(watch.size() >= 1);

  const absl::Time start = absl::Now();
  proxy_->Partition();
  ASSERT_EVENTUALLY_WITHIN(kReactTimeout, !daemon_->Serving());
  const absl::Duration stale_after = absl::Now() - start;
  ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse stale, daemon_->View());
  EXPECT_TRUE(stale.meta().stale());
  EXPECT_EQ(stale.meta().session_state(), v1::SUSPENDED);

  // Changes meanwhile, straight to ZooKeeper: one worker overloaded, one back.
  ASSERT_OK(sim_->Command("busy " + workers_[0]).status());
  ASSERT_OK(sim_->Command("start " + workers_[5]).status());
  // rosterd cannot see them.
  EXPECT_EQ(StateOf(workers_[0]), v1::RUNNING);
  EXPECT_EQ(StateOf(workers_[5]), v1::OFFLINE);

  const absl::Time healed = absl::Now();
  proxy_->Heal();
  ASSERT_EVENTUALLY_WITHIN(kReactTimeout, daemon_->Serving());
  const absl::Duration fresh_after = absl::Now() - healed;
  ASSERT_EVENTUALLY_WITHIN(
      kReactTimeout, StateOf(workers_[0]) == v1::OVERLOAD && StateOf(workers_[5]) == v1::RUNNING);
  const absl::Duration caught_up_after = absl::Now() - healed;

  ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse after, daemon_->View());
  EXPECT_FALSE(after.meta().stale());
  EXPECT_EQ(after.meta().session_state(), v1::CONNECTED);
  ClusterIdentity recovered = ClusterIdentity::Of(after);
  EXPECT_GT(recovered.czxids.at(workers_[5]), old_czxid) << "the worker that came back";
  identity.czxids.erase(workers_[5]);
  recovered.czxids.erase(workers_[5]);
  EXPECT_EQ(recovered, identity) << "before: " << identity.ToString()
                                 << "\nafter: " << recovered.ToString();
  EXPECT_THAT(Departures(watch), IsEmpty()) << "no node left: rosterd only lost sight";
  EXPECT_FALSE(watch.done()) << watch.status().error_message();
  // The session survived: it was suspended and resumed, never expired.
  EXPECT_THAT(daemon_->LogTail(1 << 20), HasSubstr("RECONNECTED"));
  EXPECT_THAT(daemon_->LogTail(1 << 20), Not(HasSubstr("EXPIRED")));

  Measured("short partition: rosterd stale after", stale_after);
  Measured("short partition: partition held", healed - start);
  Measured("short partition: rosterd fresh after heal", fresh_after);
  Measured("short partition: changes made meanwhile shown after heal", caught_up_after);
}

TEST_F(PartitionTest, PartitionLongerThanTheSessionTimeoutExpiresResyncsAndNeverAnswersWrong) {
  // 4 s sessions: stale after ~2.7 s, authority refused after 2/3 of 4 s more, LOST 4 s after
  // the suspension; the server expires the session 4 s after the last ping it received.
  ASSERT_NO_FATAL_FAILURE(StartCluster({"--zk_session_timeout_ms=4000", ProxiedRegistryFlag()}));
  ASSERT_NO_FATAL_FAILURE(RegisterSidecar());
  ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse before, daemon_->View());
  const ClusterIdentity identity = ClusterIdentity::Of(before);
  ASSERT_EQ(identity.czxids.size(), 10u);
  const Authority held = AuthorityNow();
  ASSERT_EQ(held.masters, masters_);
  WatchClient watch(&daemon_->roster(), v1::WatchClusterRequest());
  ASSERT_EVENTUALLY(watch.size() >= 1);

  const absl::Time start = absl::Now();
  proxy_->Partition();
  // Ask for slots and the leader all along, until rosterd says its session is lost and
  // refuses both.
  AuthorityTally tally;
  absl::Duration stale_after = absl::InfiniteDuration();
  absl::Duration refused_after = absl::InfiniteDuration();
  ASSERT_TRUE(WaitFor(
      [&] {
        if (stale_after == absl::InfiniteDuration() && !daemon_->Serving()) {
          stale_after = absl::Now() - start;
        }
        ProbeAuthority(held, &tally);
        if (tally.last_all_refused && refused_after == absl::InfiniteDuration()) {
          refused_after = absl::Now() - start;
        }
        return tally.last_all_refused && SessionState() == v1::LOST;
      },
      kReactTimeout))
      << "rosterd never reported its session LOST with slot and leader answers refused";
  const absl::Duration lost_after = absl::Now() - start;
  // The server expired rosterd's session: the sidecar's znode is gone from ZooKeeper.
  {
    std::unique_ptr<registry::Registry> observer = Observer();
    ASSERT_NE(observer, nullptr);
    ASSERT_EVENTUALLY([&] {
      absl::StatusOr<registry::Children> workers = observer->GetChildren("/nodes/worker");
      return workers.ok() && workers->names.size() == 6;
    }()) << "the server never expired rosterd's session";
    observer->Shutdown();
  }
  // Still refusing, never answering from the old view.
  ProbeAuthority(held, &tally);
  EXPECT_TRUE(tally.last_all_refused);
  EXPECT_THAT(tally.wrong, IsEmpty())
      << "an authority answer during the partition was neither the one held nor a refusal";

  const absl::Time healed = absl::Now();
  proxy_->Heal();
  ASSERT_TRUE(WaitSettled(daemon_, 3, 7));
  const absl::Duration fresh_after = absl::Now() - healed;

  ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse after, daemon_->View());
  EXPECT_THAT(daemon_->LogTail(1 << 20), HasSubstr("EXPIRED"));
  ClusterIdentity recovered = ClusterIdentity::Of(after);
  ClusterIdentity expected = identity;
  // rosterd re-created its sidecar's znode in its new session; the nodes of the simulator,
  // whose sessions never broke, are the same znodes, so slots and leader are unchanged.
  EXPECT_GT(recovered.czxids.at(kSidecar), identity.czxids.at(kSidecar));
  recovered.czxids.erase(kSidecar);
  expected.czxids.erase(kSidecar);
  EXPECT_EQ(recovered, expected) << "before: " << expected.ToString()
                                 << "\nafter: " << recovered.ToString();
  EXPECT_EQ(StateOf(kSidecar), v1::RUNNING);
  // No node of the simulator left. The sidecar's znode really was gone from ZooKeeper from
  // the expiry until rosterd re-created it, so its OFFLINE in between is the truth (whether a
  // view shows it depends on how the re-read and the re-creation interleave).
  std::vector<std::string> departures;
  for (const std::string& departure : Departures(watch)) {
    if (departure.find(kSidecar) == std::string::npos) departures.push_back(departure);
  }
  EXPECT_THAT(departures, IsEmpty());
  EXPECT_FALSE(after.meta().stale());
  EXPECT_EQ(after.meta().session_state(), v1::CONNECTED);
  // Authority answers again, the same as before.
  AuthorityTally healed_tally;
  ProbeAuthority(held, &healed_tally);
  EXPECT_EQ(healed_tally.same, 4) << absl::StrJoin(healed_tally.wrong, "\n");

  Measured("long partition: rosterd stale after", stale_after);
  Measured("long partition: slot and leader refused after", refused_after);
  Measured("long partition: session reported LOST after", lost_after);
  Measured("long partition: partition held", healed - start);
  Measured("long partition: rosterd fresh (new session, ephemerals back, resync) after heal",
           fresh_after);
  std::cout << "[measured] long partition: authority answers during it: same " << tally.same
            << ", refused " << tally.refused << ", wrong 0" << std::endl;
}

TEST_F(PartitionTest, LosingRequestsOneWayCausesNoTransition) {
  ExpectNoTransitionUnder(
      "one-way loss rosterd->zookeeper",
      [&] { proxy_->SetFault(TcpProxy::kToUpstream, Fault::Blackhole()); }, absl::Seconds(5));
}

TEST_F(PartitionTest, LosingAnswersOneWayCausesNoTransition) {
  ExpectNoTransitionUnder(
      "one-way loss zookeeper->rosterd",
      [&] { proxy_->SetFault(TcpProxy::kToClient, Fault::Blackhole()); }, absl::Seconds(5));
}

TEST_F(PartitionTest, HalfASecondOfLatencyEachWayCausesNoTransition) {
  ExpectNoTransitionUnder(
      "500 ms latency each way",
      [&] { proxy_->SetFaults(Fault::Latency(absl::Milliseconds(500))); }, absl::Seconds(10));
}

TEST_F(PartitionTest, IntermittentStallsCauseNoTransition) {
  // Packet loss as TCP shows it to an application: pauses while segments are retransmitted.
  ExpectNoTransitionUnder(
      "intermittent stalls (50-500 ms, every ~300 ms)",
      [&] {
        proxy_->SetFaults(
            Fault::Stall(absl::Milliseconds(50), absl::Milliseconds(500), absl::Milliseconds(300)));
      },
      absl::Seconds(10));
}

TEST_F(PartitionTest, ConnectionsResetAndRefusedForAWhileCauseNoTransition) {
  // rosterd notices at once (SUSPENDED, stale) and keeps its session: a blink.
  ExpectNoTransitionUnder(
      "connections reset and refused for 3 s", [&] { proxy_->SetReset(true); }, absl::Seconds(3));
}

// A 3-server ensemble whose links between servers go through proxies; rosterd connects to one
// server only, the simulator to the other two. (No proxy in front of a client port.)
class EnsemblePartitionTest : public OnEnsemble<PartitionTest> {
 protected:
  ZooKeeperEnsembleOptions EnsembleOptions() const override {
    ZooKeeperEnsembleOptions links;
    links.proxy_links = true;
    return links;
  }
};

TEST_F(EnsemblePartitionTest, RosterdOnTheMinorityGoesStaleRefusesAuthorityAndLosesNoNode) {
  ASSERT_OK_AND_ASSIGN(const int zk_leader, ensemble_->LeaderIndex());
  // The minority: a follower, so the majority keeps its leader.
  const int minority = (zk_leader + 1) % 3;
  std::vector<std::string> majority;
  for (int i = 0; i < 3; ++i) {
    if (i != minority) majority.push_back(ensemble_->member(i).ConnectString());
  }
  ASSERT_NO_FATAL_FAILURE(StartCluster(
      {"--zk_session_timeout_ms=8000",
       absl::StrCat("--registry=zk://", ensemble_->member(minority).ConnectString(), kChroot)},
      {absl::StrCat("--registry=zk://", absl::StrJoin(majority, ","), kChroot)}));
  // The follower reached the leader through the proxy its zoo.cfg names.
  EXPECT_GT(ensemble_->quorum_link(minority, zk_leader)->forwarded(TcpProxy::kToUpstream), 0);
  ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse before, daemon_->View());
  const ClusterIdentity identity = ClusterIdentity::Of(before);
  Authority held;
  held.masters = masters_;
  held.epoch = before.slots().epoch();
  held.leader = before.leader().address();
  held.fencing_token = before.leader().fencing_token();
  WatchClient watch(&daemon_->roster(), v1::WatchClusterRequest());
  ASSERT_EVENTUALLY(watch.size() >= 1);

  const absl::Time start = absl::Now();
  ASSERT_OK(ensemble_->Partition({minority}));
  absl::Duration minority_down_after = absl::InfiniteDuration();
  absl::Duration stale_after = absl::InfiniteDuration();
  absl::Duration refused_after = absl::InfiniteDuration();
  AuthorityTally tally;
  ASSERT_TRUE(WaitFor(
      [&] {
        const absl::Duration now = absl::Now() - start;
        if (minority_down_after == absl::InfiniteDuration() &&
            !ensemble_->member(minority).Mode(absl::Milliseconds(500)).ok()) {
          minority_down_after = now;
        }
        if (stale_after == absl::InfiniteDuration() && !daemon_->Serving()) stale_after = now;
        ProbeAuthority(held, &tally);
        if (tally.last_all_refused && refused_after == absl::InfiniteDuration()) {
          refused_after = now;
        }
        return tally.last_all_refused;
      },
      absl::Seconds(60)))
      << "rosterd on the minority never refused slot and leader answers";
  EXPECT_THAT(tally.wrong, IsEmpty());
  // The majority serves on: it has the leader.
  ASSERT_OK_AND_ASSIGN(const int majority_leader, ensemble_->LeaderIndex());
  EXPECT_NE(majority_leader, minority);
  EXPECT_NE(minority_down_after, absl::InfiniteDuration()) << "the minority kept serving";

  const absl::Time healed = absl::Now();
  ASSERT_OK(ensemble_->Heal());
  ASSERT_TRUE(WaitSettled(daemon_, 3, 6));
  const absl::Duration fresh_after = absl::Now() - healed;
  ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse after, daemon_->View());
  EXPECT_EQ(ClusterIdentity::Of(after), identity)
      << "before: " << identity.ToString() << "\nafter: " << ClusterIdentity::Of(after).ToString();
  EXPECT_THAT(Departures(watch), IsEmpty()) << "no node lost: only rosterd's server was cut off";
  tally = AuthorityTally();
  ProbeAuthority(held, &tally);
  EXPECT_EQ(tally.same, 4) << absl::StrJoin(tally.wrong, "\n");

  Measured("ensemble 2|1: minority server stopped serving after", minority_down_after);
  Measured("ensemble 2|1: rosterd stale after", stale_after);
  Measured("ensemble 2|1: slot and leader refused after", refused_after);
  Measured("ensemble 2|1: partition held", healed - start);
  Measured("ensemble 2|1: rosterd fresh after heal", fresh_after);
}

}  // namespace
}  // namespace roster::testing
