// End-to-end: a real ZooKeeper server, roster-sim playing a DolphinScheduler cluster, real
// rosterd processes, and the clients a scheduler master or an operator uses. Each test checks
// a behaviour users rely on: group lookups, worker selection that never hands out a worker
// that cannot take work, master slots, the leader and its fencing token, the watch stream,
// staleness while ZooKeeper is away, sidecar registration, shutdown under load, rosterctl.
#include <glog/logging.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "registry/registry_factory.h"
#include "tests/e2e/e2e_env.h"
#include "tests/server/server_test_env.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"

namespace roster::testing {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kCoordinator[] = "/nodes/master-coordinator";

class RosterE2eTest : public E2eTest {
 protected:
  absl::StatusOr<v1::SelectWorkerResponse> Select(const std::string& group,
                                                  v1::SelectionStrategy strategy,
                                                  bool allow_overload = false,
                                                  bool explain = false) {
    v1::SelectWorkerRequest request;
    request.set_group(group);
    request.set_strategy(strategy);
    request.set_allow_overload(allow_overload);
    request.set_explain(explain);
    return daemon_->client().SelectWorker(request);
  }
};

const std::vector<v1::SelectionStrategy>& AllStrategies() {
  static const auto* strategies =
      new std::vector<v1::SelectionStrategy>{v1::SELECTION_STRATEGY_UNSPECIFIED,
                                             v1::RANDOM,
                                             v1::ROUND_ROBIN,
                                             v1::FIXED_WEIGHTED_ROUND_ROBIN,
                                             v1::DYNAMIC_WEIGHTED_ROUND_ROBIN,
                                             v1::LOWER_WEIGHT};
  return *strategies;
}

TEST_F(RosterE2eTest, GroupLookupsListEachGroupsWorkersAndDefaultHoldsAll) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  ASSERT_EQ(groups_.size(), 3u);  // default, etl, spark
  EXPECT_EQ(groups_["etl"].size(), 3u);
  EXPECT_EQ(groups_["spark"].size(), 3u);

  for (const auto& [name, members] : groups_) {
    v1::GetWorkerGroupRequest request;
    request.set_name(name);
    ASSERT_OK_AND_ASSIGN(v1::GetWorkerGroupResponse group,
                         daemon_->client().GetWorkerGroup(request));
    EXPECT_EQ(group.group().name(), name);
    EXPECT_EQ(group.group().members(), static_cast<int>(members.size()));
    EXPECT_EQ(group.group().selectable(), static_cast<int>(members.size()));
    std::vector<std::string> listed;
    for (const v1::Node& worker : group.workers()) {
      listed.push_back(worker.address());
      EXPECT_EQ(worker.role(), v1::WORKER);
      EXPECT_EQ(worker.state(), v1::RUNNING) << worker.address();
      EXPECT_THAT(worker.groups(), ::testing::Contains(name));
      EXPECT_THAT(worker.groups(), ::testing::Contains("default"));
    }
    EXPECT_THAT(listed, ElementsAreArray(members)) << "group '" << name << "' (sorted)";
    EXPECT_FALSE(group.meta().stale());
    EXPECT_FALSE(group.meta().syncing());
  }

  ASSERT_OK_AND_ASSIGN(v1::ListGroupsResponse groups, daemon_->client().ListGroups());
  std::vector<std::string> names;
  for (const v1::Group& group : groups.groups()) names.push_back(group.name());
  EXPECT_THAT(names, ElementsAre("default", "etl", "spark"));

  v1::ListWorkersRequest etl_workers;
  etl_workers.set_group("etl");
  ASSERT_OK_AND_ASSIGN(v1::ListNodesResponse listed, daemon_->client().ListWorkers(etl_workers));
  EXPECT_THAT(Addresses(listed.nodes()), ElementsAreArray(groups_["etl"]));

  v1::GetWorkerGroupRequest unknown;
  unknown.set_name("nosuch");
  EXPECT_THAT(daemon_->client().GetWorkerGroup(unknown),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nosuch")));
}

TEST_F(RosterE2eTest, SelectWorkerNeverPicksBusyFaultyDrainedOrDeadWorkers) {
  // This test takes every spark worker out within seconds, which self-preservation would
  // rightly hold as a suspect wave (ClusterManagerClockTest covers that): off here, so each
  // loss is published as it comes.
  ASSERT_NO_FATAL_FAILURE(StartCluster({"--self_preservation_fraction=0"}));
  // workers_: by port, alternating etl, spark, etl, ...
  const std::string& busy = workers_[0];     // etl
  const std::string& faulty = workers_[1];   // spark
  const std::string& drained = workers_[2];  // etl
  const std::string& dead = workers_[3];     // spark
  const std::string& etl_ok = workers_[4];
  const std::string& spark_ok = workers_[5];
  ASSERT_THAT(groups_["etl"], ElementsAre(busy, drained, etl_ok));
  ASSERT_THAT(groups_["spark"], ElementsAre(faulty, dead, spark_ok));

  ASSERT_OK(sim_->Command("busy " + busy).status());
  ASSERT_OK(sim_->Command("bad " + faulty).status());
  ASSERT_OK(sim_->Command("kill " + dead).status());
  v1::DrainNodeRequest drain;
  drain.set_address(drained);
  drain.set_reason("disk replacement");
  // No --admin_token_file: loopback clients may call RosterAdmin.
  ASSERT_OK_AND_ASSIGN(v1::DrainNodeResponse drain_answer, daemon_->client().DrainNode(drain));
  EXPECT_TRUE(drain_answer.node().drained());
  EXPECT_EQ(drain_answer.node().state(), v1::OFFLINE);
  EXPECT_EQ(drain_answer.node().drain_reason(), "disk replacement");

  ASSERT_EVENTUALLY_WITHIN(kReactTimeout,
                           StateOf(busy) == v1::OVERLOAD && StateOf(faulty) == v1::FAULT &&
                               StateOf(dead) == v1::OFFLINE && StateOf(drained) == v1::OFFLINE)
      << daemon_->View()->ShortDebugString();

  const std::set<std::string> selectable = {etl_ok, spark_ok};
  std::map<v1::SelectionStrategy, std::set<std::string>> picked;
  for (v1::SelectionStrategy strategy : AllStrategies()) {
    for (int i = 0; i < 40; ++i) {
      ASSERT_OK_AND_ASSIGN(v1::SelectWorkerResponse answer, Select("default", strategy));
      EXPECT_THAT(selectable, ::testing::Contains(answer.worker().address()))
          << v1::SelectionStrategy_Name(strategy);
      EXPECT_EQ(answer.worker().state(), v1::RUNNING);
      picked[strategy].insert(answer.worker().address());
    }
  }
  EXPECT_EQ(picked[v1::ROUND_ROBIN], selectable) << "round robin visits every selectable worker";

  // Overloaded workers only when the caller allows it; the others never.
  std::set<std::string> with_overload;
  for (int i = 0; i < 30; ++i) {
    ASSERT_OK_AND_ASSIGN(v1::SelectWorkerResponse answer,
                         Select("default", v1::ROUND_ROBIN, /*allow_overload=*/true));
    with_overload.insert(answer.worker().address());
  }
  EXPECT_EQ(with_overload, (std::set<std::string>{busy, etl_ok, spark_ok}));

  // Per group: one selectable worker each.
  for (int i = 0; i < 10; ++i) {
    ASSERT_OK_AND_ASSIGN(v1::SelectWorkerResponse etl, Select("etl", v1::RANDOM));
    EXPECT_EQ(etl.worker().address(), etl_ok);
    ASSERT_OK_AND_ASSIGN(v1::SelectWorkerResponse spark, Select("spark", v1::LOWER_WEIGHT));
    EXPECT_EQ(spark.worker().address(), spark_ok);
  }

  // explain says why each of the others was skipped.
  ASSERT_OK_AND_ASSIGN(v1::SelectWorkerResponse explained,
                       Select("default", v1::ROUND_ROBIN, false, /*explain=*/true));
  std::map<std::string, v1::Candidate> candidates;
  for (const v1::Candidate& candidate : explained.candidates()) {
    candidates[candidate.address()] = candidate;
  }
  for (const std::string& address : {busy, faulty, drained, dead}) {
    ASSERT_EQ(candidates.count(address), 1u) << address << " missing from explain";
    EXPECT_FALSE(candidates[address].eligible()) << address;
    EXPECT_FALSE(candidates[address].skipped().empty()) << address;
  }
  EXPECT_TRUE(candidates[etl_ok].eligible());
  EXPECT_TRUE(candidates[spark_ok].eligible());

  // No selectable worker is an error that says why, never an empty success.
  ASSERT_OK(sim_->Command("kill " + spark_ok).status());
  ASSERT_EVENTUALLY(StateOf(spark_ok) == v1::OFFLINE);
  EXPECT_THAT(Select("spark", v1::ROUND_ROBIN),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("spark")));

  // Undrained, and healed: selectable again.
  v1::UndrainNodeRequest undrain;
  undrain.set_address(drained);
  ASSERT_OK_AND_ASSIGN(v1::UndrainNodeResponse undrained, daemon_->client().UndrainNode(undrain));
  EXPECT_FALSE(undrained.node().drained());
  ASSERT_OK(sim_->Command("resume " + faulty).status());
  ASSERT_EVENTUALLY_WITHIN(kReactTimeout,
                           StateOf(drained) == v1::RUNNING && StateOf(faulty) == v1::RUNNING);
  std::set<std::string> later;
  for (int i = 0; i < 20; ++i) {
    ASSERT_OK_AND_ASSIGN(v1::SelectWorkerResponse answer, Select("default", v1::ROUND_ROBIN));
    later.insert(answer.worker().address());
  }
  EXPECT_EQ(later, (std::set<std::string>{faulty, drained, etl_ok}));
}

TEST_F(RosterE2eTest, AdminCallsNeedTheTokenWhenOneIsConfigured) {
  const std::string token_file = dir_.Child("admin-token");
  WriteSecretFileOrDie(token_file, "s3cret-token\n");
  ASSERT_NO_FATAL_FAILURE(StartCluster({"--admin_token_file=" + token_file}));
  v1::DrainNodeRequest drain;
  drain.set_address(workers_[0]);
  drain.set_reason("test");
  EXPECT_THAT(daemon_->client().DrainNode(drain), StatusIs(absl::StatusCode::kUnauthenticated));

  client::ClientOptions options;
  options.target = daemon_->target();
  options.admin_token = "wrong";
  ASSERT_OK_AND_ASSIGN(auto wrong, client::RosterClient::Create(options));
  EXPECT_THAT(wrong->DrainNode(drain), StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(StateOf(workers_[0]), v1::RUNNING);

  options.admin_token = "s3cret-token";
  ASSERT_OK_AND_ASSIGN(auto right, client::RosterClient::Create(options));
  ASSERT_OK_AND_ASSIGN(v1::DrainNodeResponse drained, right->DrainNode(drain));
  EXPECT_TRUE(drained.node().drained());
  EXPECT_EQ(StateOf(workers_[0]), v1::OFFLINE);

  // rosterctl reads the same token from a file.
  CliResult undrain =
      RunRosterctl(dir_.path(), {"--target=" + daemon_->target(),
                                 "--admin_token_file=" + token_file, "undrain", workers_[0]});
  EXPECT_EQ(undrain.exit_code, 0) << undrain.err;
  ASSERT_EVENTUALLY(StateOf(workers_[0]) == v1::RUNNING);
}

TEST_F(RosterE2eTest, SlotsAreSortedDistinctStableAndABusyMasterKeepsItsSlot) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  uint64_t epoch = 0;
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 3; ++i) {
      v1::GetMasterSlotResponse slot;
      ASSERT_THAT(Slot(masters_[i], &slot), GrpcOk());
      EXPECT_EQ(slot.slot(), i) << masters_[i];
      EXPECT_EQ(slot.total(), 3);
      if (round == 0 && i == 0) epoch = slot.epoch();
      EXPECT_EQ(slot.epoch(), epoch) << "one epoch for one assignment";
    }
  }
  ASSERT_OK_AND_ASSIGN(v1::GetClusterViewResponse view, daemon_->View());
  EXPECT_THAT(view.slots().masters(), ElementsAreArray(masters_));
  EXPECT_EQ(view.slots().epoch(), epoch);
  ASSERT_OK_AND_ASSIGN(v1::ListNodesResponse listed, daemon_->client().ListMasters());
  ASSERT_EQ(listed.nodes_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(listed.nodes(i).address(), masters_[i]);
    EXPECT_EQ(listed.nodes(i).slot(), i);
  }

  // An overloaded master keeps its slot (DolphinScheduler #18570).
  ASSERT_OK(sim_->Command("busy " + masters_[1]).status());
  ASSERT_EVENTUALLY(StateOf(masters_[1]) == v1::OVERLOAD);
  for (int i = 0; i < 3; ++i) {
    v1::GetMasterSlotResponse slot;
    ASSERT_THAT(Slot(masters_[i], &slot), GrpcOk());
    EXPECT_EQ(slot.slot(), i);
    EXPECT_EQ(slot.total(), 3);
    EXPECT_EQ(slot.epoch(), epoch) << "the assignment did not change";
  }

  // A master that leaves: the others close ranks, with a new epoch; it has no slot.
  ASSERT_OK(sim_->Command("kill " + masters_[0]).status());
  ASSERT_EVENTUALLY(StateOf(masters_[0]) == v1::OFFLINE);
  v1::GetMasterSlotResponse gone;
  EXPECT_THAT(Slot(masters_[0], &gone),
              GrpcIs(grpc::StatusCode::FAILED_PRECONDITION, HasSubstr(masters_[0])));
  uint64_t second_epoch = 0;
  for (int i = 1; i < 3; ++i) {
    v1::GetMasterSlotResponse slot;
    ASSERT_THAT(Slot(masters_[i], &slot), GrpcOk());
    EXPECT_EQ(slot.slot(), i - 1);
    EXPECT_EQ(slot.total(), 2);
    EXPECT_NE(slot.epoch(), epoch);
    second_epoch = slot.epoch();
  }

  // It comes back as a new incarnation: the new one gets the slot, the old one is refused.
  ASSERT_OK_AND_ASSIGN(std::string started, sim_->Command("start " + masters_[0]));
  // "ok start ADDR startupTime=T processId=P"
  int64_t startup_time = 0;
  int process_id = 0;
  for (absl::string_view word : absl::StrSplit(started, ' ')) {
    if (absl::ConsumePrefix(&word, "startupTime=")) {
      ASSERT_TRUE(absl::SimpleAtoi(word, &startup_time)) << started;
    }
    if (absl::ConsumePrefix(&word, "processId=")) {
      ASSERT_TRUE(absl::SimpleAtoi(word, &process_id)) << started;
    }
  }
  ASSERT_GT(startup_time, 0) << started;
  ASSERT_EVENTUALLY(StateOf(masters_[0]) == v1::RUNNING);
  v1::GetMasterSlotRequest current;
  current.set_address(masters_[0]);
  current.set_startup_time_ms(startup_time);
  current.set_process_id(process_id);
  ASSERT_OK_AND_ASSIGN(v1::GetMasterSlotResponse back, daemon_->client().GetMasterSlot(current));
  EXPECT_EQ(back.slot(), 0);
  EXPECT_EQ(back.total(), 3);
  EXPECT_NE(back.epoch(), second_epoch);
  EXPECT_NE(back.epoch(), epoch) << "derived from ZooKeeper: a later assignment, a new epoch";
  v1::GetMasterSlotRequest stale = current;
  stale.set_startup_time_ms(startup_time - 60000);
  EXPECT_THAT(daemon_->client().GetMasterSlot(stale),
              StatusIs(absl::StatusCode::kFailedPrecondition));

  v1::GetMasterSlotResponse unknown;
  EXPECT_THAT(Slot("127.0.0.1:1", &unknown),
              GrpcIs(grpc::StatusCode::FAILED_PRECONDITION, HasSubstr("127.0.0.1:1")));
}

TEST_F(RosterE2eTest, LeaderCarriesTheCoordinatorZnodesCzxidAsFencingToken) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  std::unique_ptr<registry::Registry> observer = Observer();
  ASSERT_NE(observer, nullptr);
  ASSERT_OK_AND_ASSIGN(registry::Node coordinator, observer->Get(kCoordinator));
  EXPECT_EQ(coordinator.data, masters_[0]);

  v1::GetLeaderResponse leader;
  ASSERT_THAT(Leader(&leader), GrpcOk());
  EXPECT_EQ(leader.leader().address(), masters_[0]);
  EXPECT_EQ(leader.leader().fencing_token(), coordinator.stat.czxid);
  EXPECT_EQ(leader.master().address(), masters_[0]);
  EXPECT_EQ(leader.master().state(), v1::RUNNING);
  EXPECT_EQ(leader.leader().since().seconds(), coordinator.stat.ctime_ms / 1000);
  const int64_t first_token = leader.leader().fencing_token();

  // A new leader: a larger token, the new znode's czxid.
  ASSERT_OK(sim_->Command("leader " + masters_[1]).status());
  ASSERT_EVENTUALLY(Leader(&leader).ok() && leader.leader().address() == masters_[1]);
  ASSERT_OK_AND_ASSIGN(coordinator, observer->Get(kCoordinator));
  EXPECT_EQ(leader.leader().fencing_token(), coordinator.stat.czxid);
  EXPECT_GT(leader.leader().fencing_token(), first_token);
  const int64_t second_token = leader.leader().fencing_token();

  // The leader dies: no leader (NOT_FOUND), then a third one with a larger token still.
  ASSERT_OK(sim_->Command("kill " + masters_[1]).status());
  ASSERT_EVENTUALLY(Leader(&leader).error_code() == grpc::StatusCode::NOT_FOUND);
  ASSERT_OK(sim_->Command("leader " + masters_[2]).status());
  ASSERT_EVENTUALLY(Leader(&leader).ok() && leader.leader().address() == masters_[2]);
  ASSERT_OK_AND_ASSIGN(coordinator, observer->Get(kCoordinator));
  EXPECT_EQ(leader.leader().fencing_token(), coordinator.stat.czxid);
  EXPECT_GT(leader.leader().fencing_token(), second_token);
  observer->Shutdown();
}

// Versions of a stream's messages: the snapshot (if any) then one per event.
void ExpectConsecutive(const std::vector<v1::WatchClusterResponse>& messages, uint64_t first) {
  uint64_t expected = first;
  for (const v1::WatchClusterResponse& message : messages) {
    ASSERT_TRUE(message.has_event()) << message.ShortDebugString();
    ASSERT_EQ(message.event().version(), expected) << "a gap or a reordering";
    EXPECT_EQ(message.meta().version(), expected);
    ++expected;
  }
}

TEST_F(RosterE2eTest, WatchStreamIsOrderedWithoutGapsAndResumesFromAVersion) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  v1::WatchClusterRequest from_snapshot;
  WatchClient first(&daemon_->roster(), from_snapshot);
  ASSERT_EVENTUALLY(first.size() >= 1);
  const v1::WatchClusterResponse snapshot = first.messages()[0];
  ASSERT_TRUE(snapshot.has_snapshot()) << snapshot.ShortDebugString();
  EXPECT_EQ(snapshot.snapshot().workers_size(), 6);
  const uint64_t snapshot_version = snapshot.meta().version();
  ASSERT_GT(snapshot_version, 0u);

  ASSERT_OK(sim_->Command("busy " + workers_[0]).status());
  ASSERT_OK(sim_->Command("kill " + workers_[1]).status());
  ASSERT_OK(sim_->Command("leader " + masters_[2]).status());
  // Everything above shows up in the stream, in order.
  auto saw = [&](const WatchClient& client, v1::ClusterEvent::Kind kind, const std::string& address,
                 v1::NodeState state) {
    for (const v1::ClusterEvent& event : client.events()) {
      if (event.kind() != kind) continue;
      if (kind == v1::ClusterEvent::LEADER_CHANGED) {
        if (event.leader().address() == address) return true;
      } else if (event.node().address() == address && event.node().state() == state) {
        return true;
      }
    }
    return false;
  };
  ASSERT_EVENTUALLY_WITHIN(
      kReactTimeout,
      saw(first, v1::ClusterEvent::NODE_UPDATED, workers_[0], v1::OVERLOAD) &&
          saw(first, v1::ClusterEvent::NODE_UPDATED, workers_[1], v1::OFFLINE) &&
          saw(first, v1::ClusterEvent::LEADER_CHANGED, masters_[2], v1::NODE_STATE_UNSPECIFIED));
  std::vector<v1::WatchClusterResponse> messages = first.messages();
  ASSERT_NO_FATAL_FAILURE(
      ExpectConsecutive(std::vector<v1::WatchClusterResponse>(messages.begin() + 1, messages.end()),
                        snapshot_version + 1));

  // Resume from the middle: the missed events replayed, no snapshot, the same events.
  const uint64_t resume_from = messages[messages.size() / 2].meta().version();
  v1::WatchClusterRequest resume;
  resume.set_from_version(resume_from);
  WatchClient second(&daemon_->roster(), resume);
  // More changes while both streams are open.
  ASSERT_OK(sim_->Command("normal " + workers_[0]).status());
  ASSERT_EVENTUALLY(saw(second, v1::ClusterEvent::NODE_UPDATED, workers_[0], v1::RUNNING) &&
                    saw(first, v1::ClusterEvent::NODE_UPDATED, workers_[0], v1::RUNNING));
  const std::vector<v1::WatchClusterResponse> resumed = second.messages();
  ASSERT_FALSE(resumed.empty());
  EXPECT_FALSE(resumed[0].has_snapshot()) << "a recent version resumes without a snapshot";
  ASSERT_NO_FATAL_FAILURE(ExpectConsecutive(resumed, resume_from + 1));
  messages = first.messages();
  std::map<uint64_t, v1::ClusterEvent> by_version;
  for (const v1::WatchClusterResponse& message : messages) {
    if (message.has_event()) by_version[message.event().version()] = message.event();
  }
  int compared = 0;
  for (const v1::WatchClusterResponse& message : resumed) {
    auto it = by_version.find(message.event().version());
    if (it == by_version.end()) continue;
    EXPECT_EQ(message.event().kind(), it->second.kind()) << "version " << it->first;
    EXPECT_EQ(message.event().node().address(), it->second.node().address());
    EXPECT_EQ(message.event().node().state(), it->second.node().state());
    ++compared;
  }
  EXPECT_GE(compared, 3) << "the two streams overlap";

  // A version this daemon never had (another run's) starts from a snapshot.
  v1::WatchClusterRequest ahead;
  ahead.set_from_version(snapshot_version + 1000000);
  WatchClient third(&daemon_->roster(), ahead);
  ASSERT_EVENTUALLY(third.size() >= 1);
  EXPECT_TRUE(third.messages()[0].has_snapshot());
}

TEST_F(RosterE2eTest, KilledWorkerGoesOfflineAndIsNeverSelectedOnceItsZnodeIsGone) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  const std::string victim = workers_[2];
  WatchClient watch(&daemon_->roster(), v1::WatchClusterRequest());

  // Selections run all along, each answer tagged with the view version it came from.
  struct Pick {
    uint64_t version;
    std::string address;
  };
  absl::Mutex mu;
  std::vector<Pick> picks;
  std::vector<std::string> errors;
  std::atomic<bool> stop{false};
  std::thread selector([&] {
    while (!stop.load()) {
      absl::StatusOr<v1::SelectWorkerResponse> answer = Select("default", v1::ROUND_ROBIN);
      absl::MutexLock lock(&mu);
      if (answer.ok()) {
        picks.push_back({answer->meta().version(), answer->worker().address()});
      } else {
        errors.push_back(answer.status().ToString());
      }
    }
  });
  auto pick_count = [&] {
    absl::MutexLock lock(&mu);
    return picks.size();
  };
  ASSERT_EVENTUALLY(pick_count() >= 60);

  ASSERT_OK(sim_->Command("kill " + victim).status());
  std::unique_ptr<registry::Registry> observer = Observer();
  ASSERT_NE(observer, nullptr);
  ASSERT_OK_AND_ASSIGN(std::optional<registry::Stat> znode,
                       observer->Exists(absl::StrCat("/nodes/worker/", victim)));
  EXPECT_FALSE(znode.has_value()) << "the session was closed: the znode is gone";
  observer->Shutdown();

  // The version at which the view says it is OFFLINE.
  uint64_t offline_version = 0;
  ASSERT_EVENTUALLY([&] {
    for (const v1::ClusterEvent& event : watch.events()) {
      if (event.node().address() == victim && event.node().state() == v1::OFFLINE) {
        offline_version = event.version();
        return true;
      }
    }
    return false;
  }());
  const size_t picks_at_offline = pick_count();
  ASSERT_EVENTUALLY(pick_count() >= picks_at_offline + 100);
  stop = true;
  selector.join();

  absl::MutexLock lock(&mu);
  EXPECT_THAT(errors, ::testing::IsEmpty());
  int before = 0;
  int after = 0;
  for (const Pick& pick : picks) {
    if (pick.version < offline_version) {
      before += pick.address == victim;
      continue;
    }
    ++after;
    EXPECT_NE(pick.address, victim) << "selected from view version " << pick.version
                                    << ", where it is OFFLINE since " << offline_version;
  }
  EXPECT_GT(before, 0) << "it was selected while alive (round robin over 6)";
  EXPECT_GE(after, 100);

  // It stays visible as an OFFLINE tombstone, with why.
  v1::GetNodeRequest request;
  request.set_address(victim);
  ASSERT_OK_AND_ASSIGN(v1::GetNodeResponse node, daemon_->client().GetNode(request));
  EXPECT_EQ(node.node().state(), v1::OFFLINE);
  EXPECT_FALSE(node.node().reason().empty());
  ASSERT_FALSE(node.node().history().empty());
  EXPECT_EQ(node.node().history().rbegin()->to(), v1::OFFLINE);
}

TEST_F(RosterE2eTest, ZooKeeperAwayRefusesAuthorityAfterTheStalenessBoundThenRecovers) {
  // Sessions of 6 s (the fixture's), authority refused after 1 s of staleness.
  ASSERT_NO_FATAL_FAILURE(StartCluster({"--staleness_bound_ms=1000"}));
  v1::GetMasterSlotResponse slot;
  ASSERT_THAT(Slot(masters_[1], &slot), GrpcOk());
  const uint64_t epoch = slot.epoch();
  v1::GetLeaderResponse leader;
  ASSERT_THAT(Leader(&leader), GrpcOk());

  ASSERT_OK(zk_->Stop());
  ASSERT_EVENTUALLY(!daemon_->Serving()) << "health follows the session";
  ASSERT_EVENTUALLY(Slot(masters_[1], &slot).error_code() == grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(Slot(masters_[1], &slot), GrpcIs(grpc::StatusCode::UNAVAILABLE, HasSubstr("stale")));
  EXPECT_THAT(Leader(&leader), GrpcIs(grpc::StatusCode::UNAVAILABLE, HasSubstr("stale")));
  // Lookups still answer, flagged stale.
  v1::GetWorkerGroupRequest group;
  group.set_name("default");
  ASSERT_OK_AND_ASSIGN(v1::GetWorkerGroupResponse stale_group,
                       daemon_->client().GetWorkerGroup(group));
  EXPECT_TRUE(stale_group.meta().stale());
  EXPECT_NE(stale_group.meta().session_state(), v1::CONNECTED);
  EXPECT_GE(stale_group.meta().stale_for().seconds(), 1);
  EXPECT_EQ(stale_group.workers_size(), 6);

  ASSERT_OK(zk_->Start());
  ASSERT_EVENTUALLY_WITHIN(kReactTimeout, daemon_->Serving());
  ASSERT_TRUE(WaitSettled(daemon_, 3, 6));
  ASSERT_THAT(Slot(masters_[1], &slot), GrpcOk());
  EXPECT_EQ(slot.slot(), 1);
  EXPECT_EQ(slot.total(), 3);
  EXPECT_EQ(slot.epoch(), epoch) << "the same ZooKeeper state, the same epoch";
  ASSERT_THAT(Leader(&leader), GrpcOk());
  EXPECT_EQ(leader.leader().address(), masters_[0]);
  EXPECT_FALSE(leader.meta().stale());
  EXPECT_EQ(leader.meta().session_state(), v1::CONNECTED);
}

TEST_F(RosterE2eTest, NodeRegisteredThroughOneRosterdIsSeenByAnother) {
  // A DolphinScheduler cluster (one master, one worker) exists: its namespace, the chroot,
  // too. (rosterd does not create the chroot: registering into a ZooKeeper without it fails.)
  ASSERT_NE(StartSim(1, 1, "etl"), nullptr);
  RosterdProcess* a = StartRosterd();
  ASSERT_NE(a, nullptr);
  RosterdProcess* b = StartRosterd();
  ASSERT_NE(b, nullptr);
  ASSERT_EVENTUALLY(a->Serving() && b->Serving());

  v1::RegisterNodeRequest worker;
  worker.set_role(v1::WORKER);
  worker.set_address("127.0.0.1:7001");
  worker.mutable_heartbeat()->set_server_status(v1::Heartbeat::NORMAL);
  worker.mutable_heartbeat()->set_worker_group("sidecar");
  worker.mutable_heartbeat()->set_host_weight(100);
  worker.mutable_lease()->set_seconds(30);
  ASSERT_OK_AND_ASSIGN(v1::RegisterNodeResponse registered, a->client().RegisterNode(worker));
  EXPECT_EQ(registered.path(), "/nodes/worker/127.0.0.1:7001");
  v1::RegisterNodeRequest master;
  master.set_role(v1::MASTER);
  master.set_address("127.0.0.1:7100");
  master.mutable_heartbeat()->set_server_status(v1::Heartbeat::NORMAL);
  ASSERT_OK(a->client().RegisterNode(master).status());

  ASSERT_EVENTUALLY(StateOf("127.0.0.1:7001", b) == v1::RUNNING &&
                    StateOf("127.0.0.1:7100", b) == v1::RUNNING);
  v1::GetWorkerGroupRequest group;
  group.set_name("sidecar");
  ASSERT_OK_AND_ASSIGN(v1::GetWorkerGroupResponse sidecar, b->client().GetWorkerGroup(group));
  EXPECT_THAT(Addresses(sidecar.workers()), ElementsAre("127.0.0.1:7001"));
  v1::GetMasterSlotResponse slot;
  ASSERT_THAT(Slot("127.0.0.1:7100", &slot, b), GrpcOk());
  EXPECT_EQ(slot.slot(), 1) << "after the simulator's master, 127.0.0.1:5678";
  EXPECT_EQ(slot.total(), 2);

  // The address is taken: the other daemon cannot register it too.
  EXPECT_THAT(b->client().RegisterNode(worker), StatusIs(absl::StatusCode::kAlreadyExists));

  // Heartbeats through a reach b; so does the deregistration.
  v1::HeartbeatRequest heartbeat;
  heartbeat.set_address("127.0.0.1:7001");
  heartbeat.mutable_heartbeat()->set_server_status(v1::Heartbeat::BUSY);
  heartbeat.mutable_heartbeat()->set_worker_group("sidecar");
  heartbeat.set_lease_id(registered.lease_id());
  ASSERT_OK(a->client().Heartbeat(heartbeat).status());
  ASSERT_EVENTUALLY(StateOf("127.0.0.1:7001", b) == v1::OVERLOAD);
  v1::DeregisterNodeRequest deregister;
  deregister.set_address("127.0.0.1:7001");
  deregister.set_lease_id(registered.lease_id());
  ASSERT_OK(a->client().DeregisterNode(deregister).status());
  ASSERT_EVENTUALLY(StateOf("127.0.0.1:7001", b) == v1::OFFLINE);
}

// One unary call, as a load thread saw it.
struct CallRecord {
  bool raw = false;  // through a generated stub (else RosterClient)
  absl::Time start;
  absl::Time end;
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;
};

// What "SIGTERM fails no in-flight call" means, call by call. A call is in flight once the
// server has taken it: rosterd must finish it (OK) before it exits. A call that reaches a
// daemon that is shutting down is refused instead, and the caller must be able to tell:
//  - UNAVAILABLE "failed to connect": the listener is closed (the channel saw a GOAWAY and
//    could not reconnect);
//  - through a bare stub only, CANCELLED within a few milliseconds: gRPC 1.51 cancels, before
//    any handler runs, the calls whose headers arrive after Shutdown() began
//    (grpc/grpc#41785). RosterClient turns that into UNAVAILABLE, so its callers never see
//    CANCELLED.
// Anything else (an error from a handler, a broken connection, a cancellation that is not
// gRPC's refusal) is a call the daemon lost.
bool Refused(const CallRecord& call, absl::Time sigterm_at, absl::Time exited_at) {
  if (call.code == grpc::StatusCode::UNAVAILABLE) {
    return absl::StrContains(call.message, "failed to connect to all addresses") ||
           absl::StrContains(call.message, "rosterd cancelled the call unhandled");
  }
  return call.raw && call.code == grpc::StatusCode::CANCELLED &&
         call.start >= sigterm_at - absl::Milliseconds(100) && call.end <= exited_at &&
         call.end - call.start < absl::Seconds(1);
}

TEST_F(RosterE2eTest, SigtermUnderLoadFailsNoAcceptedCallAndExitsZero) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  WatchClient watch(&daemon_->roster(), v1::WatchClusterRequest());
  ASSERT_EVENTUALLY(watch.size() >= 1);

  // Half the threads call through generated stubs (what any gRPC client sees), half through
  // RosterClient without retries (what a scheduler master sees, attempt by attempt).
  constexpr int kThreads = 4;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> exited_ns{0};
  std::vector<std::vector<CallRecord>> records(kThreads);
  std::vector<std::atomic<int>> ok_calls(kThreads);
  std::vector<std::atomic<int>> calls_after_exit(kThreads);
  std::vector<std::thread> threads;
  const std::string target = daemon_->target();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const bool raw = t % 2 == 0;
      // A connection per thread, as separate scheduler masters would have.
      grpc::ChannelArguments arguments;
      arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
      auto stub = v1::Roster::NewStub(
          grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), arguments));
      client::ClientOptions options;
      options.target = target;
      options.deadline = absl::Seconds(10);
      options.max_attempts = 1;
      options.max_backoff = absl::Milliseconds(200);
      std::unique_ptr<client::RosterClient> client = *client::RosterClient::Create(options);
      for (int i = 0; !stop.load(); ++i) {
        CallRecord call;
        call.raw = raw;
        call.start = absl::Now();
        absl::Status status;
        if (i % 2 == 0) {
          v1::SelectWorkerRequest request;
          request.set_group(i % 4 == 0 ? "etl" : "default");
          if (raw) {
            CallContext context(absl::Seconds(10));
            v1::SelectWorkerResponse response;
            status = client::FromGrpcStatus(stub->SelectWorker(&context, request, &response));
          } else {
            status = client->SelectWorker(request).status();
          }
        } else {
          v1::GetWorkerGroupRequest request;
          request.set_name("spark");
          absl::StatusOr<v1::GetWorkerGroupResponse> response;
          if (raw) {
            CallContext context(absl::Seconds(10));
            v1::GetWorkerGroupResponse answer;
            const grpc::Status done = stub->GetWorkerGroup(&context, request, &answer);
            response = done.ok() ? absl::StatusOr<v1::GetWorkerGroupResponse>(answer)
                                 : client::FromGrpcStatus(done);
          } else {
            response = client->GetWorkerGroup(request);
          }
          status = response.status();
          if (response.ok() && response->workers_size() != 3) {
            status = absl::DataLossError("wrong group answer");
          }
        }
        call.end = absl::Now();
        call.code = static_cast<grpc::StatusCode>(status.code());
        call.message = std::string(status.message());
        if (status.ok()) ++ok_calls[t];
        const int64_t exited = exited_ns.load();
        if (exited != 0 && absl::ToUnixNanos(call.start) > exited) ++calls_after_exit[t];
        records[t].push_back(std::move(call));
      }
    });
  }
  auto all_threads = [&](const std::vector<std::atomic<int>>& counters, int at_least) {
    for (const auto& counter : counters) {
      if (counter.load() < at_least) return false;
    }
    return true;
  };
  ASSERT_EVENTUALLY(all_threads(ok_calls, 50));

  const absl::Time sigterm_at = absl::Now();
  ASSERT_OK(daemon_->process().Signal(SIGTERM));
  ASSERT_OK_AND_ASSIGN(int exit_status, daemon_->process().Wait(kReactTimeout));
  const absl::Time exited_at = absl::Now();
  exited_ns = absl::ToUnixNanos(exited_at);
  // Every thread makes a few calls to the daemon that is gone.
  EXPECT_EVENTUALLY(all_threads(calls_after_exit, 3));
  stop = true;
  for (std::thread& thread : threads) thread.join();

  EXPECT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 0)
      << DescribeExitStatus(exit_status) << "\n"
      << daemon_->LogTail();
  EXPECT_THAT(daemon_->LogTail(), HasSubstr("rosterd stopped"));

  int before = 0, during_ok = 0, refused = 0, cancelled = 0, after = 0;
  std::vector<std::string> lost;
  for (const std::vector<CallRecord>& thread_records : records) {
    for (const CallRecord& call : thread_records) {
      const std::string what =
          absl::StrCat(call.raw ? "stub" : "RosterClient", " call ",
                       absl::FormatDuration(call.start - sigterm_at), " after SIGTERM (took ",
                       absl::FormatDuration(call.end - call.start),
                       "): ", absl::StatusCodeToString(static_cast<absl::StatusCode>(call.code)),
                       " '", call.message, "'");
      if (call.start > exited_at) {
        ++after;
        EXPECT_EQ(call.code, grpc::StatusCode::UNAVAILABLE) << what;
        continue;
      }
      if (call.end < sigterm_at) {
        ++before;
        EXPECT_EQ(call.code, grpc::StatusCode::OK) << what;
        continue;
      }
      if (call.code == grpc::StatusCode::OK) {
        ++during_ok;
      } else if (Refused(call, sigterm_at, exited_at)) {
        ++refused;
        cancelled += call.code == grpc::StatusCode::CANCELLED;
      } else {
        lost.push_back(what);
      }
    }
  }
  EXPECT_THAT(lost, ::testing::IsEmpty()) << "calls the daemon took must complete";
  EXPECT_GE(before, kThreads * 50);
  EXPECT_GE(after, kThreads * 3);
  LOG(INFO) << "calls: " << before << " before SIGTERM; during shutdown " << during_ok << " OK, "
            << refused << " refused (" << cancelled << " of them CANCELLED by gRPC); " << after
            << " after exit";

  // The watch stream was ended cleanly, telling the reader to watch again elsewhere.
  ASSERT_EVENTUALLY(watch.done());
  EXPECT_THAT(watch.status(), GrpcIs(grpc::StatusCode::UNAVAILABLE, HasSubstr("shutting down")));
}

TEST_F(RosterE2eTest, RosterctlPrintsJsonAndOneLineErrors) {
  ASSERT_NO_FATAL_FAILURE(StartCluster());
  const std::string target = "--target=" + daemon_->target();
  auto run_json = [&](std::vector<std::string> args, google::protobuf::Message* message) {
    args.insert(args.begin(), {target, "--json"});
    CliResult result = RunRosterctl(dir_.path(), args);
    EXPECT_EQ(result.exit_code, 0) << absl::StrJoin(args, " ") << ": " << result.err;
    EXPECT_EQ(result.err, "") << absl::StrJoin(args, " ");
    const auto parsed = google::protobuf::util::JsonStringToMessage(result.out, message);
    EXPECT_TRUE(parsed.ok()) << absl::StrJoin(args, " ") << ": " << parsed.ToString() << "\n"
                             << result.out;
  };

  v1::ListNodesResponse members;
  run_json({"members"}, &members);
  std::vector<std::string> all = masters_;
  all.insert(all.end(), workers_.begin(), workers_.end());
  std::sort(all.begin(), all.end());
  EXPECT_THAT(Addresses(members.nodes()), ElementsAreArray(all));
  EXPECT_FALSE(members.meta().instance_id().empty());

  v1::ListNodesResponse etl_members;
  run_json({"members", "--group=etl"}, &etl_members);
  EXPECT_THAT(Addresses(etl_members.nodes()), ElementsAreArray(groups_["etl"]));

  v1::ListGroupsResponse groups;
  run_json({"groups"}, &groups);
  ASSERT_EQ(groups.groups_size(), 3);
  EXPECT_EQ(groups.groups(0).name(), "default");
  EXPECT_EQ(groups.groups(0).members(), 6);

  v1::SelectWorkerResponse selected;
  run_json({"select", "--group=spark", "--strategy=ROUND_ROBIN"}, &selected);
  EXPECT_THAT(groups_["spark"], ::testing::Contains(selected.worker().address()));
  EXPECT_EQ(selected.worker().state(), v1::RUNNING);

  v1::GetMasterSlotResponse slot;
  run_json({"slot", masters_[2]}, &slot);
  EXPECT_EQ(slot.slot(), 2);
  EXPECT_EQ(slot.total(), 3);

  v1::GetLeaderResponse leader;
  run_json({"leader"}, &leader);
  EXPECT_EQ(leader.leader().address(), masters_[0]);
  EXPECT_GT(leader.leader().fencing_token(), 0);

  // Failed calls: exit 1, nothing on stdout, one line on stderr naming the code.
  auto expect_error = [&](const std::vector<std::string>& args, int exit_code,
                          const std::string& prefix, const std::string& mention) {
    CliResult result = RunRosterctl(dir_.path(), args);
    EXPECT_EQ(result.exit_code, exit_code) << absl::StrJoin(args, " ") << ": " << result.err;
    EXPECT_EQ(result.out, "") << absl::StrJoin(args, " ");
    EXPECT_THAT(result.err, AllOf(StartsWith(prefix), HasSubstr(mention)));
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1)
        << "one line: " << result.err;
    EXPECT_TRUE(absl::EndsWith(result.err, "\n"));
  };
  expect_error({target, "--json", "select", "--group=nosuch"}, 1,
               "rosterctl: select: NOT_FOUND: ", "nosuch");
  expect_error({target, "slot", "127.0.0.1:1"}, 1,
               "rosterctl: slot 127.0.0.1:1: FAILED_PRECONDITION: ", "127.0.0.1:1");
  expect_error({target, "frobnicate"}, 2, "rosterctl: ", "frobnicate");
  // Nobody listens on the closed port of a finished daemon.
  RosterdProcess* other = StartRosterd();
  ASSERT_NE(other, nullptr);
  const std::string gone = other->target();
  ASSERT_OK(other->process().Kill().status());
  expect_error({"--target=" + gone, "--timeout_ms=1000", "groups"}, 1,
               "rosterctl: groups: UNAVAILABLE: ", "");
}

}  // namespace
}  // namespace roster::testing
