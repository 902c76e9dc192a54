// The simulator on the in-memory registry: what it writes (DolphinScheduler's layout and
// heartbeat JSON, as the cluster codec parses it), one session per node, and its commands.
// An observer session on the same named store reads what a rosterd would see.
#include <algorithm>
#include <atomic>
#include <memory>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cluster/heartbeat_codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/registry_factory.h"
#include "sim/simulator.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"

namespace roster::sim {
namespace {

using ::roster::cluster::NodeRole;
using ::roster::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// A store of its own per test: named memory stores live for the whole process.
std::string UniqueStore() {
  static std::atomic<int> next{0};
  return absl::StrCat("simtest-", next++);
}

class SimulatorTest : public ::testing::Test {
 protected:
  SimulatorOptions Options() {
    SimulatorOptions options;
    options.registry_uri = uri_;
    options.masters = 2;
    options.workers = 3;
    options.groups = {"etl", "spark"};
    options.heartbeat_interval = absl::Milliseconds(20);
    options.base_port = 5678;
    return options;
  }

  // The observer: what rosterd would read.
  registry::Registry& observer() {
    if (observer_ == nullptr) {
      auto registry = registry::NewRegistry(uri_, registry::RegistryOptions());
      EXPECT_TRUE(registry.ok()) << registry.status();
      observer_ = *std::move(registry);
      EXPECT_OK(observer_->Start());
      EXPECT_OK(observer_->WaitConnected(absl::Seconds(10)));
    }
    return *observer_;
  }

  std::vector<std::string> Children(const std::string& path) {
    auto children = observer().GetChildren(path);
    return children.ok() ? children->names : std::vector<std::string>{};
  }

  absl::StatusOr<roster::v1::Heartbeat> Heartbeat(NodeRole role, const std::string& path) {
    auto node = observer().Get(path);
    if (!node.ok()) return node.status();
    return cluster::ParseHeartbeat(role, node->data, cluster::HeartbeatLimits(), absl::Now());
  }

  bool Exists(const std::string& path) {
    auto stat = observer().Exists(path);
    return stat.ok() && stat->has_value();
  }

  int32_t DataVersion(const std::string& path) {
    auto stat = observer().Exists(path);
    return stat.ok() && stat->has_value() ? (*stat)->version : -1;
  }

  void TearDown() override {
    if (observer_ != nullptr) observer_->Shutdown();
  }

  const std::string uri_ = absl::StrCat("memory://", UniqueStore(), "/dolphinscheduler");
  std::unique_ptr<registry::Registry> observer_;
};

TEST_F(SimulatorTest, RostersOwnDialectCarriesTheGroupInTheHeartbeat) {
  SimulatorOptions options = Options();
  options.dolphinscheduler_version = "roster";
  options.busy = {"127.0.0.1:5681", "1"};  // a worker by address, a master by index
  Simulator sim(options);
  ASSERT_OK(sim.Start());
  EXPECT_EQ(sim.node_count(), 5);

  EXPECT_THAT(Children("/nodes/master"), ElementsAre("127.0.0.1:5678", "127.0.0.1:5679"));
  EXPECT_THAT(Children("/nodes/worker"),
              ElementsAre("127.0.0.1:5680", "127.0.0.1:5681", "127.0.0.1:5682"));

  auto master = Heartbeat(NodeRole::kMaster, "/nodes/master/127.0.0.1:5678");
  ASSERT_OK(master.status());
  EXPECT_EQ(master->server_status(), roster::v1::Heartbeat::NORMAL);
  EXPECT_EQ(master->port(), 5678);
  EXPECT_GT(master->startup_time_ms(), 0);
  EXPECT_GT(master->process_id(), 0);
  EXPECT_FALSE(master->legacy_format());
  auto busy_master = Heartbeat(NodeRole::kMaster, "/nodes/master/127.0.0.1:5679");
  ASSERT_OK(busy_master.status());
  EXPECT_EQ(busy_master->server_status(), roster::v1::Heartbeat::BUSY);

  // Groups round-robin through the heartbeat's workerGroup.
  std::vector<std::string> groups;
  for (int port = 5680; port <= 5682; ++port) {
    auto worker = Heartbeat(NodeRole::kWorker, absl::StrCat("/nodes/worker/127.0.0.1:", port));
    ASSERT_OK(worker.status());
    groups.push_back(worker->worker_group());
    EXPECT_EQ(worker->host_weight(), 100);
    EXPECT_EQ(worker->server_status(),
              port == 5681 ? roster::v1::Heartbeat::BUSY : roster::v1::Heartbeat::NORMAL);
  }
  EXPECT_THAT(groups, ElementsAre("etl", "spark", "etl"));

  // The first master holds the coordinator znode.
  auto coordinator = observer().Get("/nodes/master-coordinator");
  ASSERT_OK(coordinator.status());
  EXPECT_EQ(coordinator->data, "127.0.0.1:5678");

  // One session per node.
  std::set<int64_t> owners;
  for (const auto& name : Children("/nodes/worker")) {
    owners.insert(observer().Exists("/nodes/worker/" + name).value()->ephemeral_owner);
  }
  for (const auto& name : Children("/nodes/master")) {
    owners.insert(observer().Exists("/nodes/master/" + name).value()->ephemeral_owner);
  }
  EXPECT_EQ(owners.size(), 5u);
  EXPECT_EQ(owners.count(0), 0u);  // all ephemeral
}

TEST_F(SimulatorTest, HeartbeatsKeepComingAndStopStopsThem) {
  Simulator sim(Options());
  ASSERT_OK(sim.Start());
  const std::string stopped = "/nodes/worker/127.0.0.1:5680";
  const std::string running = "/nodes/worker/127.0.0.1:5681";
  EXPECT_EQ(sim.Execute("stop 127.0.0.1:5680"), "ok stop 127.0.0.1:5680");
  // A write already under way when `stop` ran may still land; count from after it.
  const int32_t running_before = DataVersion(running);
  ASSERT_EVENTUALLY(DataVersion(running) >= running_before + 2);
  const int32_t stopped_version = DataVersion(stopped);
  const int32_t running_now = DataVersion(running);
  ASSERT_EVENTUALLY(DataVersion(running) >= running_now + 3);
  EXPECT_EQ(DataVersion(stopped), stopped_version);
  EXPECT_TRUE(Exists(stopped));  // the znode stays

  EXPECT_EQ(sim.Execute("resume 127.0.0.1:5680"), "ok resume 127.0.0.1:5680");
  EXPECT_GT(DataVersion(stopped), stopped_version);  // written at once
  ASSERT_EVENTUALLY(DataVersion(stopped) >= stopped_version + 3);
}

TEST_F(SimulatorTest, BusyAndNormalAreWrittenAtOnce) {
  SimulatorOptions options = Options();
  options.heartbeat_interval = absl::Hours(1);  // only the commands write
  Simulator sim(options);
  ASSERT_OK(sim.Start());
  const std::string path = "/nodes/worker/127.0.0.1:5682";
  EXPECT_EQ(sim.Execute("busy 4"), "ok busy 127.0.0.1:5682");
  EXPECT_EQ(Heartbeat(NodeRole::kWorker, path)->server_status(), roster::v1::Heartbeat::BUSY);
  EXPECT_EQ(sim.Execute("normal 127.0.0.1:5682"), "ok normal 127.0.0.1:5682");
  EXPECT_EQ(Heartbeat(NodeRole::kWorker, path)->server_status(), roster::v1::Heartbeat::NORMAL);
}

TEST_F(SimulatorTest, KillEndsOneSessionAndStartIsANewIncarnation) {
  Simulator sim(Options());
  ASSERT_OK(sim.Start());
  const std::string path = "/nodes/worker/127.0.0.1:5681";
  auto before = observer().Get(path);
  ASSERT_OK(before.status());
  auto first = Heartbeat(NodeRole::kWorker, path);
  ASSERT_OK(first.status());

  EXPECT_EQ(sim.Execute("kill 127.0.0.1:5681"), "ok kill 127.0.0.1:5681");
  EXPECT_FALSE(Exists(path));
  EXPECT_THAT(Children("/nodes/worker"), ElementsAre("127.0.0.1:5680", "127.0.0.1:5682"));
  EXPECT_THAT(sim.Execute("stop 127.0.0.1:5681"), StartsWith("error "));
  EXPECT_THAT(sim.Execute("kill 127.0.0.1:5681"), StartsWith("error "));

  EXPECT_THAT(sim.Execute("start 127.0.0.1:5681"), StartsWith("ok start 127.0.0.1:5681 "));
  auto after = observer().Get(path);
  ASSERT_OK(after.status());
  EXPECT_GT(after->stat.czxid, before->stat.czxid);
  EXPECT_NE(after->stat.ephemeral_owner, before->stat.ephemeral_owner);
  auto second = Heartbeat(NodeRole::kWorker, path);
  ASSERT_OK(second.status());
  EXPECT_GE(second->startup_time_ms(), first->startup_time_ms());
  EXPECT_THAT(sim.Execute("start 127.0.0.1:5681"), HasSubstr("is running"));
}

TEST_F(SimulatorTest, KillingTheLeaderRemovesTheCoordinatorAndLeaderMovesIt) {
  Simulator sim(Options());
  ASSERT_OK(sim.Start());
  EXPECT_EQ(sim.Execute("leader 127.0.0.1:5679"), "ok leader 127.0.0.1:5679");
  EXPECT_EQ(observer().Get("/nodes/master-coordinator")->data, "127.0.0.1:5679");
  EXPECT_THAT(sim.Execute("list"), HasSubstr("1=127.0.0.1:5679,master,NORMAL,running,leader"));

  EXPECT_EQ(sim.Execute("kill 1"), "ok kill 127.0.0.1:5679");
  EXPECT_FALSE(Exists("/nodes/master-coordinator"));
  EXPECT_EQ(sim.Execute("leader 0"), "ok leader 127.0.0.1:5678");
  EXPECT_EQ(observer().Get("/nodes/master-coordinator")->data, "127.0.0.1:5678");
  EXPECT_THAT(sim.Execute("leader 127.0.0.1:5680"), HasSubstr("is not a master"));
  EXPECT_THAT(sim.Execute("leader 1"), HasSubstr("not registered"));
}

TEST_F(SimulatorTest, BadWritesAMalformedPayloadUntilResumed) {
  Simulator sim(Options());
  ASSERT_OK(sim.Start());
  const std::string path = "/nodes/worker/127.0.0.1:5680";
  EXPECT_EQ(sim.Execute("bad 127.0.0.1:5680"), "ok bad 127.0.0.1:5680");
  EXPECT_THAT(Heartbeat(NodeRole::kWorker, path), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(sim.Execute("list"), HasSubstr("2=127.0.0.1:5680,worker,etl,NORMAL,bad"));
  EXPECT_EQ(sim.Execute("resume 127.0.0.1:5680"), "ok resume 127.0.0.1:5680");
  EXPECT_OK(Heartbeat(NodeRole::kWorker, path).status());
}

// What each DolphinScheduler release writes, worked out by hand from its source:
//   2.0, 3.0: HeartBeat.encodeHeartBeat text; workers at {workers}/{group lower-cased}/{addr}
//     (WorkerRegistryClient.getWorkerZkPaths @ 2.0.9-release, 3.0.6-release);
//   3.1.0: {Master,Worker}HeartBeat JSON; workers at {workers}/{group as configured}/{addr}
//     (WorkerConfig.validate @ 3.1.0-release);
//   3.1.1 - 3.1.9: the same JSON, workers at {workers}/{addr} (groups in the database);
//   3.2.0, 3.2.1, 3.2.2, dev: their heartbeat classes; workers at {workers}/{addr}.
// The format each payload parses as is Heartbeat.Format's description of that release.
struct ReleaseCase {
  const char* version;
  const char* worker_dir;  // where worker 127.0.0.1:5680 (group "ETL") registers
  roster::v1::Heartbeat::Format master_format;
  roster::v1::Heartbeat::Format worker_format;
  bool master_status;  // the master's heartbeat has a serverStatus
  bool coordinator;
};

class SimulatorReleaseTest : public SimulatorTest,
                             public ::testing::WithParamInterface<ReleaseCase> {};

TEST_P(SimulatorReleaseTest, WritesTheReleasesLayoutAndHeartbeats) {
  const ReleaseCase& c = GetParam();
  SimulatorOptions options = Options();
  options.dolphinscheduler_version = c.version;
  options.groups = {"ETL", "spark"};
  options.busy = {"127.0.0.1:5681"};
  Simulator sim(options);
  ASSERT_OK(sim.Start());

  const std::string worker_path = absl::StrCat(c.worker_dir, "/127.0.0.1:5680");
  auto worker = Heartbeat(NodeRole::kWorker, worker_path);
  ASSERT_OK(worker.status()) << worker_path;
  EXPECT_EQ(worker->format(), c.worker_format);
  EXPECT_EQ(worker->worker_group(), "");  // no release writes a group into a heartbeat
  EXPECT_EQ(worker->server_status(), roster::v1::Heartbeat::NORMAL);
  auto master = Heartbeat(NodeRole::kMaster, "/nodes/master/127.0.0.1:5678");
  ASSERT_OK(master.status());
  EXPECT_EQ(master->format(), c.master_format);
  EXPECT_EQ(master->server_status(), c.master_status
                                         ? roster::v1::Heartbeat::NORMAL
                                         : roster::v1::Heartbeat::SERVER_STATUS_UNSPECIFIED);
  EXPECT_EQ(Exists("/nodes/master-coordinator"), c.coordinator);

  // Worker 5681 (group "spark") is BUSY: every release writes that status for a worker.
  const bool group_dirs = std::string(c.worker_dir) != "/nodes/worker";
  auto busy = Heartbeat(NodeRole::kWorker, group_dirs ? "/nodes/worker/spark/127.0.0.1:5681"
                                                      : "/nodes/worker/127.0.0.1:5681");
  ASSERT_OK(busy.status());
  EXPECT_EQ(busy->server_status(), roster::v1::Heartbeat::BUSY);
  if (group_dirs) {
    EXPECT_EQ(Children("/nodes/worker").size(), 2u);
  } else {
    EXPECT_THAT(Children("/nodes/worker"),
                ElementsAre("127.0.0.1:5680", "127.0.0.1:5681", "127.0.0.1:5682"));
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryRelease, SimulatorReleaseTest,
    ::testing::Values(ReleaseCase{"2.0", "/nodes/worker/etl", roster::v1::Heartbeat::TEXT_2_0,
                                  roster::v1::Heartbeat::TEXT_2_0, true, false},
                      ReleaseCase{"3.0", "/nodes/worker/etl", roster::v1::Heartbeat::TEXT_3_0,
                                  roster::v1::Heartbeat::TEXT_3_0, true, false},
                      ReleaseCase{"3.1.0", "/nodes/worker/ETL", roster::v1::Heartbeat::JSON_3_1,
                                  roster::v1::Heartbeat::JSON_3_1, false, false},
                      ReleaseCase{"3.1", "/nodes/worker", roster::v1::Heartbeat::JSON_3_1,
                                  roster::v1::Heartbeat::JSON_3_1, false, false},
                      ReleaseCase{"3.2.0", "/nodes/worker", roster::v1::Heartbeat::JSON_3_2_0,
                                  roster::v1::Heartbeat::JSON_3_2_0, true, false},
                      ReleaseCase{"3.2.1", "/nodes/worker", roster::v1::Heartbeat::JSON_3_2_1,
                                  roster::v1::Heartbeat::JSON_3_2_1, true, false},
                      ReleaseCase{"3.2.2", "/nodes/worker",
                                  roster::v1::Heartbeat::JSON_3_2_2_OR_3_3,
                                  roster::v1::Heartbeat::JSON_3_2_2, true, false},
                      ReleaseCase{"3.2", "/nodes/worker", roster::v1::Heartbeat::JSON_3_2_2_OR_3_3,
                                  roster::v1::Heartbeat::JSON_3_2_2, true, false},
                      ReleaseCase{"3.3", "/nodes/worker", roster::v1::Heartbeat::JSON_3_2_2_OR_3_3,
                                  roster::v1::Heartbeat::JSON_3_3, true, true}),
    [](const ::testing::TestParamInfo<ReleaseCase>& info) {
      std::string name = absl::StrCat("DS", info.param.version);
      std::replace(name.begin(), name.end(), '.', '_');
      return name;
    });

TEST_F(SimulatorTest, Release321WorkersWriteATaskCount) {
  SimulatorOptions options = Options();
  options.dolphinscheduler_version = "3.2.1";
  Simulator sim(options);
  ASSERT_OK(sim.Start());
  auto raw = observer().Get("/nodes/worker/127.0.0.1:5680");
  ASSERT_OK(raw.status());
  // WorkerHeartBeat.threadPoolUsage is an int in 3.2.1 (the running + waiting executors).
  EXPECT_THAT(raw->data, ::testing::ContainsRegex("\"threadPoolUsage\":[0-9]+[,}]"));
  auto worker = Heartbeat(NodeRole::kWorker, "/nodes/worker/127.0.0.1:5680");
  ASSERT_OK(worker.status());
  EXPECT_EQ(worker->thread_pool_usage(), 0.0);
}

TEST_F(SimulatorTest, AlertServersOnlyFrom320) {
  SimulatorOptions options = Options();
  options.alert_servers = 1;
  options.dolphinscheduler_version = "3.1";
  EXPECT_THAT(Simulator(options).Start(), StatusIs(absl::StatusCode::kInvalidArgument,
                                                   ::testing::AllOf(HasSubstr("--alert_servers=1"),
                                                                    HasSubstr("3.1.1 - 3.1.9"))));
  options.dolphinscheduler_version = "3.2.0";
  Simulator sim(options);
  ASSERT_OK(sim.Start());
  EXPECT_THAT(Children("/nodes/alert-server"), ElementsAre("127.0.0.1:5683"));
  auto alert = Heartbeat(NodeRole::kAlertServer, "/nodes/alert-server/127.0.0.1:5683");
  ASSERT_OK(alert.status());
  EXPECT_EQ(alert->format(), roster::v1::Heartbeat::JSON_3_2_0);
}

TEST_F(SimulatorTest, GroupWithoutADatabaseIsAnError) {
  Simulator sim(Options());
  ASSERT_OK(sim.Start());
  EXPECT_THAT(sim.Execute("group etl 127.0.0.1:5680"),
              StartsWith("error group: no worker group database"));
  EXPECT_EQ(sim.Execute("group etl"), "error usage: group NAME ADDR[,ADDR]");
}

TEST_F(SimulatorTest, NodesShareSessionsInBlocks) {
  SimulatorOptions options = Options();
  options.nodes_per_session = 20;
  options.masters = 1;
  options.workers = 50;
  Simulator sim(options);
  ASSERT_OK(sim.Start());
  EXPECT_EQ(Children("/nodes/worker").size(), 50u);
  // 51 nodes in blocks of 20: ports 5678..5697 (the master and workers 1..19), 5698..5717,
  // 5718..5728.
  auto owner = [&](const std::string& path) {
    auto stat = observer().Exists(path);
    return stat.ok() && stat->has_value() ? (*stat)->ephemeral_owner : -1;
  };
  const int64_t first = owner("/nodes/master/127.0.0.1:5678");
  EXPECT_NE(first, -1);
  EXPECT_EQ(owner("/nodes/worker/127.0.0.1:5697"), first);
  const int64_t second = owner("/nodes/worker/127.0.0.1:5698");
  EXPECT_NE(second, first);
  EXPECT_EQ(owner("/nodes/worker/127.0.0.1:5717"), second);
  const int64_t third = owner("/nodes/worker/127.0.0.1:5718");
  EXPECT_NE(third, first);
  EXPECT_NE(third, second);
  EXPECT_EQ(owner("/nodes/worker/127.0.0.1:5728"), third);

  // Killing a node of a shared session deletes its znode alone: its session and the other
  // nodes of the session stay.
  EXPECT_EQ(sim.Execute("kill 127.0.0.1:5679"), "ok kill 127.0.0.1:5679");
  EXPECT_FALSE(Exists("/nodes/worker/127.0.0.1:5679"));
  EXPECT_EQ(Children("/nodes/worker").size(), 49u);
  EXPECT_EQ(owner("/nodes/worker/127.0.0.1:5680"), first);
  EXPECT_EQ(owner("/nodes/master/127.0.0.1:5678"), first);
  // The survivors of that session keep heartbeating.
  const int32_t version = DataVersion("/nodes/worker/127.0.0.1:5680");
  ASSERT_EVENTUALLY(DataVersion("/nodes/worker/127.0.0.1:5680") > version);
  // A restart registers it in its block's session again.
  EXPECT_THAT(sim.Execute("start 127.0.0.1:5679"), StartsWith("ok start"));
  EXPECT_EQ(Children("/nodes/worker").size(), 50u);
  EXPECT_EQ(owner("/nodes/worker/127.0.0.1:5679"), first);
}

TEST_F(SimulatorTest, KillingTheLeaderInASharedSessionDeletesTheCoordinator) {
  SimulatorOptions options = Options();
  options.nodes_per_session = 5;
  Simulator sim(options);
  ASSERT_OK(sim.Start());
  ASSERT_TRUE(Exists("/nodes/master-coordinator"));
  EXPECT_EQ(sim.Execute("kill 127.0.0.1:5678"), "ok kill 127.0.0.1:5678");
  EXPECT_FALSE(Exists("/nodes/master/127.0.0.1:5678"));
  EXPECT_FALSE(Exists("/nodes/master-coordinator"));
  EXPECT_THAT(Children("/nodes/master"), ElementsAre("127.0.0.1:5679"));
  EXPECT_EQ(Children("/nodes/worker").size(), 3u);
}

TEST_F(SimulatorTest, ShutdownRemovesEveryNode) {
  {
    Simulator sim(Options());
    ASSERT_OK(sim.Start());
    EXPECT_EQ(Children("/nodes/master").size(), 2u);
  }
  EXPECT_TRUE(Children("/nodes/master").empty());
  EXPECT_TRUE(Children("/nodes/worker").empty());
  EXPECT_FALSE(Exists("/nodes/master-coordinator"));
}

TEST_F(SimulatorTest, SecondSimulatorOnTheSameAddressesFails) {
  Simulator first(Options());
  ASSERT_OK(first.Start());
  Simulator second(Options());
  EXPECT_THAT(second.Start(), StatusIs(absl::StatusCode::kAlreadyExists,
                                       HasSubstr("register master '127.0.0.1:5678'")));
}

TEST_F(SimulatorTest, CommandErrors) {
  Simulator sim(Options());
  ASSERT_OK(sim.Start());
  EXPECT_THAT(sim.Execute("frob 1"), StartsWith("error unknown command 'frob'"));
  EXPECT_EQ(sim.Execute("busy"), "error usage: busy ADDR");
  EXPECT_THAT(sim.Execute("busy 10.9.9.9:1"), StartsWith("error unknown node '10.9.9.9:1'"));
  EXPECT_THAT(sim.Execute("busy 99"), StartsWith("error unknown node '99'"));
  EXPECT_EQ(sim.Execute(""), "error empty command");
}

TEST(SimulatorOptionsTest, RejectsBadOptions) {
  SimulatorOptions options;
  options.registry_uri = "memory://simtest-options/x";
  options.masters = 0;
  options.workers = 0;
  EXPECT_THAT(Simulator(options).Start(), StatusIs(absl::StatusCode::kInvalidArgument));
  options.workers = 1;
  options.groups = {"a/b"};
  EXPECT_THAT(Simulator(options).Start(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--groups")));
  options.groups = {"etl"};
  options.busy = {"nope"};
  EXPECT_THAT(Simulator(options).Start(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--busy")));
  options.busy.clear();
  options.dolphinscheduler_version = "4.0";
  EXPECT_THAT(Simulator(options).Start(), StatusIs(absl::StatusCode::kInvalidArgument,
                                                   HasSubstr("--dolphinscheduler_version")));
  options.dolphinscheduler_version = "auto";
  EXPECT_THAT(Simulator(options).Start(), StatusIs(absl::StatusCode::kInvalidArgument,
                                                   HasSubstr("--dolphinscheduler_version")));
  options.dolphinscheduler_version = "3.3";
  options.worker_group_db_uri = "ftp://x/y";
  EXPECT_THAT(Simulator(options).Start(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--worker_group_db_uri")));
  options.worker_group_db_uri.clear();
  options.nodes_per_session = 0;
  EXPECT_THAT(Simulator(options).Start(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--nodes_per_session=0")));
  options.nodes_per_session = 1;
  options.base_port = 65535;
  options.masters = 2;
  EXPECT_THAT(Simulator(options).Start(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--base_port")));
}

}  // namespace
}  // namespace roster::sim
