// ClusterManager on a real ZooKeeper server, in DolphinScheduler's registry layout: what a
// scheduler master depends on, end to end through ZooKeeperRegistry (zk://.../dolphinscheduler).
// Every scheduler process is a ZooKeeper session of its own holding an ephemeral znode, as
// DolphinScheduler registers them.
//
// Label `integration`: one ZooKeeper server (Debian's package, a java process on a free
// loopback port) for the suite; every test starts from an empty /dolphinscheduler.
#include <zookeeper/zookeeper.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cluster/cluster_manager.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/registry.h"
#include "registry/registry_factory.h"
#include "tests/cluster/cluster_test_util.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/zookeeper_server.h"

namespace roster::cluster {
namespace {

using registry::CreateMode;
using registry::CreateOptions;
using registry::Registry;
using registry::RegistryOptions;
using ::roster::testing::HeartbeatJson;
using ::roster::testing::StatusIs;
using ::roster::testing::ZooKeeperServer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kRoot[] = "/dolphinscheduler";
// What a DolphinScheduler <= 3.1 worker writes (integer serverStatus, loadAverage, ...).
constexpr char kLegacyHeartbeat[] =
    R"({"startupTime":1729238400123,"reportTime":1729238650456,"cpuUsage":0.21,)"
    R"("memoryUsage":0.63,"loadAverage":3.2,"serverStatus":0,"processId":812,)"
    R"("workerHostWeight":100,"workerExecThreadCount":100})";

// Deletes `path` and everything below it; a missing node is fine.
absl::Status DeleteTree(Registry* registry, const std::string& path) {
  absl::StatusOr<registry::Children> children = registry->GetChildren(path);
  if (absl::IsNotFound(children.status())) return absl::OkStatus();
  if (!children.ok()) return children.status();
  for (const std::string& name : children->names) {
    absl::Status status = DeleteTree(registry, registry::JoinPath(path, name));
    if (!status.ok()) return status;
  }
  absl::Status deleted = registry->Delete(path);
  return absl::IsNotFound(deleted) ? absl::OkStatus() : deleted;
}

void IgnoreWatch(zhandle_t*, int, int, const char*, void*) {}
void IgnoreCompletion(int, const void*) {}

// What a DolphinScheduler process with digest credentials can do that the Registry interface
// does not offer: make its znode readable by itself only (setACL to CREATOR_ALL). ZooKeeper
// fires no watch for an ACL change, so subscribers are not told.
absl::Status MakeCreatorOnly(const std::string& connect_string, const std::string& digest,
                             const std::string& full_path) {
  zhandle_t* zh = zookeeper_init(connect_string.c_str(), &IgnoreWatch, 10000, nullptr, nullptr, 0);
  if (zh == nullptr) return absl::InternalError("zookeeper_init failed");
  absl::Status result;
  if (!::roster::testing::WaitFor([zh] { return zoo_state(zh) == ZOO_CONNECTED_STATE; },
                                  ::roster::testing::kDefaultEventuallyTimeout)) {
    result = absl::UnavailableError("the raw ZooKeeper handle never connected");
  } else {
    // Requests on one handle are processed in order: the auth applies to the setACL below.
    int rc = zoo_add_auth(zh, "digest", digest.c_str(), static_cast<int>(digest.size()),
                          &IgnoreCompletion, nullptr);
    if (rc == ZOK) rc = zoo_set_acl(zh, full_path.c_str(), -1, &ZOO_CREATOR_ALL_ACL);
    if (rc != ZOK) result = absl::InternalError(absl::StrCat("setACL: ", zerror(rc)));
  }
  zookeeper_close(zh);
  return result;
}

class ClusterManagerZkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ZooKeeperServer();
    absl::Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started;
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(server_ != nullptr && server_->running()) << "no ZooKeeper server";
    // An empty /dolphinscheduler, as a fresh DolphinScheduler installation has.
    admin_ = Open("admin", /*chroot=*/false);
    ASSERT_NE(admin_, nullptr);
    ASSERT_OK(DeleteTree(admin_, kRoot));
    ASSERT_OK(admin_->Create(kRoot, ""));
  }

  void TearDown() override {
    managers_.clear();  // before the sessions they read
    for (auto& [name, session] : sessions_) session->Shutdown();
    sessions_.clear();
  }

  std::string Uri(bool chroot = true) const {
    return absl::StrCat("zk://", server_->ConnectString(), chroot ? kRoot : "");
  }

  // A started, connected ZooKeeperRegistry session (chrooted at /dolphinscheduler unless
  // `chroot` is false), kept until the end of the test or Kill(name).
  Registry* Open(const std::string& name, bool chroot = true, std::string digest = "") {
    RegistryOptions options;
    options.name = name;
    options.session_timeout = absl::Seconds(10);
    options.digest = std::move(digest);
    absl::StatusOr<std::unique_ptr<Registry>> created = registry::NewRegistry(Uri(chroot), options);
    EXPECT_OK(created.status());
    if (!created.ok()) return nullptr;
    Registry* session = created->get();
    EXPECT_OK(session->Start());
    EXPECT_OK(session->WaitConnected(::roster::testing::kDefaultEventuallyTimeout));
    sessions_[name] = *std::move(created);
    return session;
  }

  // Registers a node as a DolphinScheduler process does: its own session, an ephemeral znode
  // {dir}/{address} holding its heartbeat (parents created if missing).
  Registry* Register(const std::string& dir, const std::string& address, const std::string& payload,
                     std::string digest = "") {
    Registry* session = Open(address, /*chroot=*/true, std::move(digest));
    if (session == nullptr) return nullptr;
    CreateOptions options;
    options.mode = CreateMode::kEphemeral;
    options.create_parents = true;
    options.acl = registry::Acl::Open();
    EXPECT_OK(session->Create(absl::StrCat(dir, "/", address), payload, options));
    return session;
  }
  Registry* RegisterMaster(const std::string& address, const std::string& status = "NORMAL") {
    return Register("/nodes/master", address, HeartbeatJson(status));
  }
  Registry* RegisterWorker(const std::string& address, const std::string& group = "",
                           const std::string& status = "NORMAL") {
    return Register("/nodes/worker", address,
                    HeartbeatJson(status, 1729238400123, 23817, 1729238650456, 0.2, 0.3, group));
  }
  // Writes a new heartbeat into the node's znode, from its own session.
  void Heartbeat(const std::string& dir, const std::string& address, const std::string& payload) {
    ASSERT_EQ(sessions_.count(address), 1u) << address;
    ASSERT_OK(sessions_[address]->Set(absl::StrCat(dir, "/", address), payload));
  }
  // Ends the node's session: ZooKeeper deletes its ephemeral znodes.
  void Kill(const std::string& name) {
    ASSERT_EQ(sessions_.count(name), 1u) << name;
    sessions_[name]->Shutdown();
    sessions_.erase(name);
  }

  // A manager on a session of its own (a rosterd replica).
  ClusterManager* StartManager(const std::string& name = "rosterd") {
    Registry* session = Open(name);
    if (session == nullptr) return nullptr;
    ClusterOptions options;
    options.run_timers = false;  // no silent-node timeouts: these nodes heartbeat on demand
    options.slot_policy = SlotPolicy::kStable;  // roster's own rule
    options.name = name;
    managers_.push_back(std::make_unique<ClusterManager>(session, options));
    EXPECT_OK(managers_.back()->Start());
    return managers_.back().get();
  }

  static NodeState StateOf(const ClusterManager& manager, NodeRole role,
                           const std::string& address) {
    NodeInfoPtr node = manager.view()->Find(role, address);
    return node == nullptr ? static_cast<NodeState>(-1) : node->state;
  }

  // The addresses SelectWorker picks in `picks` tries with `strategy` (every one must succeed).
  static std::set<std::string> Picks(ClusterManager* manager, SelectionStrategy strategy,
                                     int picks = 40) {
    std::set<std::string> picked;
    SelectRequest request;
    request.strategy = strategy;
    for (int i = 0; i < picks; ++i) {
      const ViewSnapshot snapshot = manager->Snapshot();  // holds the worker picked
      absl::StatusOr<Selection> selection = manager->SelectWorker(snapshot, request);
      EXPECT_OK(selection.status());
      if (selection.ok()) picked.insert(selection->worker()->address);
    }
    return picked;
  }

  static ZooKeeperServer* server_;
  Registry* admin_ = nullptr;
  std::map<std::string, std::unique_ptr<Registry>> sessions_;
  std::vector<std::unique_ptr<ClusterManager>> managers_;
};

ZooKeeperServer* ClusterManagerZkTest::server_ = nullptr;

TEST_F(ClusterManagerZkTest, MastersGetSortedDistinctSlotsAndABusyMasterKeepsItsSlot) {
  // Registered out of order (DolphinScheduler #17232: hash-map order gave two masters one slot).
  RegisterMaster("10.0.0.3:5678");
  RegisterMaster("10.0.0.1:5678");
  RegisterMaster("10.0.0.2:5678");
  ClusterManager* manager = StartManager();
  ASSERT_NE(manager, nullptr);
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->slots.masters.size() == 3);
  EXPECT_THAT(manager->view()->slots.masters,
              ElementsAre("10.0.0.1:5678", "10.0.0.2:5678", "10.0.0.3:5678"));
  const uint64_t epoch = manager->view()->slots.epoch;
  std::set<int> slots;
  for (const char* address : {"10.0.0.1:5678", "10.0.0.2:5678", "10.0.0.3:5678"}) {
    ASSERT_OK_AND_ASSIGN(SlotAnswer answer,
                         manager->GetMasterSlot(manager->Snapshot(), address, {}));
    EXPECT_EQ(answer.total, 3) << address;
    EXPECT_EQ(answer.epoch, epoch) << address;
    slots.insert(answer.slot);
  }
  EXPECT_EQ(slots, (std::set<int>{0, 1, 2})) << "distinct slots, one per master";

  // DolphinScheduler #18570: an overloaded master keeps its slot; nothing moves.
  Heartbeat("/nodes/master", "10.0.0.2:5678", HeartbeatJson("BUSY"));
  ASSERT_EVENTUALLY(StateOf(*manager, NodeRole::kMaster, "10.0.0.2:5678") == NodeState::kOverload);
  ASSERT_OK_AND_ASSIGN(SlotAnswer busy,
                       manager->GetMasterSlot(manager->Snapshot(), "10.0.0.2:5678", {}));
  EXPECT_EQ(busy.slot, 1);
  EXPECT_EQ(busy.total, 3);
  EXPECT_EQ(busy.epoch, epoch);

  // A second replica reading the same ZooKeeper agrees on the assignment and its epoch.
  ClusterManager* replica = StartManager("replica");
  ASSERT_NE(replica, nullptr);
  ASSERT_EVENTUALLY(replica->ready() && replica->view()->slots.masters.size() == 3);
  EXPECT_EQ(replica->view()->slots.masters, manager->view()->slots.masters);
  EXPECT_EQ(replica->view()->slots.epoch, epoch);

  // A master leaving changes the assignment (and its epoch) on both.
  Kill("10.0.0.1:5678");
  ASSERT_EVENTUALLY(manager->view()->slots.masters.size() == 2 &&
                    replica->view()->slots.masters.size() == 2);
  EXPECT_NE(manager->view()->slots.epoch, epoch);
  EXPECT_EQ(manager->view()->slots.epoch, replica->view()->slots.epoch);
  ASSERT_OK_AND_ASSIGN(SlotAnswer moved,
                       manager->GetMasterSlot(manager->Snapshot(), "10.0.0.2:5678", {}));
  EXPECT_EQ(moved.slot, 0);
  EXPECT_EQ(moved.total, 2);
  EXPECT_THAT(manager->GetMasterSlot(manager->Snapshot(), "10.0.0.1:5678", {}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("OFFLINE")));
}

TEST_F(ClusterManagerZkTest, WorkerThatJoinsAnExistingGroupIsInItAtOnce) {
  // DolphinScheduler #17408: a worker starting after its group was defined was missing from it.
  RegisterWorker("10.0.0.21:1234", "etl");
  ClusterManager* manager = StartManager();
  ASSERT_NE(manager, nullptr);
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->FindGroup("etl") != nullptr);

  RegisterWorker("10.0.0.22:1234", "etl");
  // The first view that has the new worker has it in its group too.
  ClusterViewPtr view;
  ASSERT_EVENTUALLY((view = manager->view())->Find(NodeRole::kWorker, "10.0.0.22:1234") != nullptr);
  const GroupView* etl = view->FindGroup("etl");
  ASSERT_NE(etl, nullptr);
  ASSERT_EQ(etl->members.size(), 2u);
  EXPECT_EQ(etl->members[1]->address, "10.0.0.22:1234");
  EXPECT_EQ(view->FindGroup("default")->members.size(), 2u);
  ASSERT_EVENTUALLY(StateOf(*manager, NodeRole::kWorker, "10.0.0.22:1234") == NodeState::kRunning);
  SelectRequest request;
  request.group = "etl";
  std::set<std::string> picked;
  for (int i = 0; i < 10; ++i) {
    const ViewSnapshot snapshot = manager->Snapshot();  // holds the worker picked
    ASSERT_OK_AND_ASSIGN(Selection selection, manager->SelectWorker(snapshot, request));
    picked.insert(selection.worker()->address);
  }
  EXPECT_EQ(picked, (std::set<std::string>{"10.0.0.21:1234", "10.0.0.22:1234"}));
}

TEST_F(ClusterManagerZkTest, SelectionNeverPicksABusyWorker) {
  RegisterWorker("10.0.0.21:1234");
  RegisterWorker("10.0.0.22:1234", "", "BUSY");
  RegisterWorker("10.0.0.23:1234");
  ClusterManager* manager = StartManager();
  ASSERT_NE(manager, nullptr);
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->workers.size() == 3);
  EXPECT_EQ(StateOf(*manager, NodeRole::kWorker, "10.0.0.22:1234"), NodeState::kOverload);
  for (SelectionStrategy strategy :
       {SelectionStrategy::kRandom, SelectionStrategy::kRoundRobin,
        SelectionStrategy::kFixedWeightedRoundRobin, SelectionStrategy::kDynamicWeightedRoundRobin,
        SelectionStrategy::kLowerWeight}) {
    EXPECT_EQ(Picks(manager, strategy).count("10.0.0.22:1234"), 0u)
        << SelectionStrategyName(strategy);
  }

  // A worker that turns BUSY stops being picked; only one is left.
  Heartbeat("/nodes/worker", "10.0.0.21:1234", HeartbeatJson("BUSY"));
  ASSERT_EVENTUALLY(StateOf(*manager, NodeRole::kWorker, "10.0.0.21:1234") == NodeState::kOverload);
  EXPECT_EQ(Picks(manager, SelectionStrategy::kRoundRobin),
            (std::set<std::string>{"10.0.0.23:1234"}));
  // ...unless the request allows overloaded workers.
  SelectRequest lenient;
  lenient.allow_overload = true;
  EXPECT_OK(manager->SelectWorker(manager->Snapshot(), lenient));
}

TEST_F(ClusterManagerZkTest, WorkerWhoseSessionEndsGoesOfflineAndIsNeverSelected) {
  RegisterWorker("10.0.0.21:1234");
  RegisterWorker("10.0.0.22:1234");
  ClusterManager* manager = StartManager();
  ASSERT_NE(manager, nullptr);
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->workers.size() == 2);

  Kill("10.0.0.21:1234");  // the worker process exits: its session closes, its znode goes
  ASSERT_EVENTUALLY(StateOf(*manager, NodeRole::kWorker, "10.0.0.21:1234") == NodeState::kOffline);
  NodeInfoPtr gone = manager->view()->Find(NodeRole::kWorker, "10.0.0.21:1234");
  EXPECT_TRUE(gone->paths.empty());
  EXPECT_THAT(gone->reason, HasSubstr("znode deleted"));
  EXPECT_EQ(Picks(manager, SelectionStrategy::kRandom), (std::set<std::string>{"10.0.0.22:1234"}));
  EXPECT_EQ(Picks(manager, SelectionStrategy::kRoundRobin),
            (std::set<std::string>{"10.0.0.22:1234"}));

  Kill("10.0.0.22:1234");
  ASSERT_EVENTUALLY(StateOf(*manager, NodeRole::kWorker, "10.0.0.22:1234") == NodeState::kOffline);
  EXPECT_THAT(manager->SelectWorker(manager->Snapshot(), SelectRequest{}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("OFFLINE")));
}

TEST_F(ClusterManagerZkTest, CoordinatorZnodeNamesTheLeaderWithItsCzxidAsFencingToken) {
  Registry* first = RegisterMaster("10.0.0.1:5678");
  Registry* second = RegisterMaster("10.0.0.2:5678");
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  ClusterManager* manager = StartManager();
  ASSERT_NE(manager, nullptr);
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->masters.size() == 2);
  EXPECT_THAT(manager->GetLeader(manager->Snapshot()), StatusIs(absl::StatusCode::kNotFound));

  CreateOptions ephemeral;
  ephemeral.mode = CreateMode::kEphemeral;
  ASSERT_OK(first->Create("/nodes/master-coordinator", "10.0.0.1:5678", ephemeral));
  ASSERT_OK_AND_ASSIGN(std::optional<registry::Stat> znode,
                       admin_->Exists("/dolphinscheduler/nodes/master-coordinator"));
  ASSERT_TRUE(znode.has_value());
  ASSERT_EVENTUALLY(manager->GetLeader(manager->Snapshot()).ok());
  ASSERT_OK_AND_ASSIGN(LeaderAnswer leader, manager->GetLeader(manager->Snapshot()));
  EXPECT_EQ(leader.leader.address, "10.0.0.1:5678");
  EXPECT_EQ(leader.leader.fencing_token, znode->czxid);
  ASSERT_NE(leader.master, nullptr);
  EXPECT_EQ(leader.master->address, "10.0.0.1:5678");

  // The leader's process dies; the other master takes the coordinator znode.
  Kill("10.0.0.1:5678");
  ASSERT_EVENTUALLY(absl::IsNotFound(manager->GetLeader(manager->Snapshot()).status()));
  ASSERT_OK(second->Create("/nodes/master-coordinator", "10.0.0.2:5678", ephemeral));
  ASSERT_OK_AND_ASSIGN(std::optional<registry::Stat> taken,
                       admin_->Exists("/dolphinscheduler/nodes/master-coordinator"));
  ASSERT_TRUE(taken.has_value());
  // Each check reads one answer: two queries may see two views.
  absl::StatusOr<LeaderAnswer> next;
  ASSERT_EVENTUALLY((next = manager->GetLeader(manager->Snapshot())).ok() &&
                    next->leader.address == "10.0.0.2:5678");
  EXPECT_EQ(next->leader.fencing_token, taken->czxid);
  EXPECT_GT(next->leader.fencing_token, leader.leader.fencing_token) << "tokens only grow";
}

TEST_F(ClusterManagerZkTest, ReadsTheLegacyGroupLayout) {
  // DolphinScheduler <= 3.1: /nodes/worker/{group}/{host}:{port}, one znode per group, each
  // holding the legacy heartbeat.
  Registry* worker = Register("/nodes/worker/legacy", "10.0.0.31:1234", kLegacyHeartbeat);
  ASSERT_NE(worker, nullptr);
  CreateOptions ephemeral;
  ephemeral.mode = CreateMode::kEphemeral;
  ephemeral.create_parents = true;
  ASSERT_OK(worker->Create("/nodes/worker/spark/10.0.0.31:1234", kLegacyHeartbeat, ephemeral));
  ClusterManager* manager = StartManager();
  ASSERT_NE(manager, nullptr);
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->workers.size() == 1 &&
                    manager->view()->workers[0]->groups.size() == 3);
  NodeInfoPtr node = manager->view()->workers[0];
  EXPECT_EQ(node->address, "10.0.0.31:1234");
  EXPECT_THAT(node->groups, ElementsAre("default", "legacy", "spark"));
  EXPECT_EQ(node->state, NodeState::kRunning);
  EXPECT_TRUE(node->heartbeat.legacy_format());
  EXPECT_EQ(node->heartbeat.process_id(), 812);
  EXPECT_TRUE(manager->view()->rejected.empty());
  SelectRequest request;
  request.group = "spark";
  const ViewSnapshot snapshot = manager->Snapshot();  // holds the worker picked
  ASSERT_OK_AND_ASSIGN(Selection selection, manager->SelectWorker(snapshot, request));
  EXPECT_EQ(selection.worker()->address, "10.0.0.31:1234");

  // It leaves one group: still a worker, no longer in it; the group's directory remains, so
  // the group does too, empty.
  ASSERT_OK(worker->Delete("/nodes/worker/spark/10.0.0.31:1234"));
  ASSERT_EVENTUALLY(manager->view()->workers[0]->groups.size() == 2);
  EXPECT_EQ(manager->view()->workers[0]->state, NodeState::kRunning);
  const GroupView* spark = manager->view()->FindGroup("spark");
  ASSERT_NE(spark, nullptr);
  EXPECT_TRUE(spark->members.empty());
  EXPECT_THAT(manager->SelectWorker(manager->Snapshot(), request),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(ClusterManagerZkTest, ResyncRepairsAChangeTheWatchesNeverReported) {
  // The worker registers with digest credentials but an open ACL; later it makes its znode
  // readable by itself only. ZooKeeper fires no watch for an ACL change: the manager (no
  // credentials) goes on believing the znode readable until a full re-read.
  RegisterWorker("10.0.0.22:1234");
  ASSERT_NE(Register("/nodes/worker", "10.0.0.21:1234", HeartbeatJson("NORMAL"), "ds:secret"),
            nullptr);
  ClusterManager* manager = StartManager();
  ASSERT_NE(manager, nullptr);
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->workers.size() == 2 &&
                    StateOf(*manager, NodeRole::kWorker, "10.0.0.21:1234") == NodeState::kRunning);
  const int64_t corrections = manager->resync_corrections();

  ASSERT_OK(MakeCreatorOnly(server_->ConnectString(), "ds:secret",
                            "/dolphinscheduler/nodes/worker/10.0.0.21:1234"));
  // A later change is seen: the ACL change really went unreported, not merely slow.
  Heartbeat("/nodes/worker", "10.0.0.22:1234",
            HeartbeatJson("NORMAL", 1729238400123, 23817, 1729238659999));
  ASSERT_EVENTUALLY(
      manager->view()->Find(NodeRole::kWorker, "10.0.0.22:1234")->heartbeat.report_time_ms() ==
      1729238659999);
  EXPECT_EQ(StateOf(*manager, NodeRole::kWorker, "10.0.0.21:1234"), NodeState::kRunning);
  EXPECT_EQ(manager->resync_corrections(), corrections);

  const int64_t resyncs = manager->resyncs();
  manager->ResyncNow();
  ASSERT_EVENTUALLY(manager->resyncs() > resyncs);
  NodeInfoPtr unreadable = manager->view()->Find(NodeRole::kWorker, "10.0.0.21:1234");
  EXPECT_EQ(unreadable->state, NodeState::kFault);
  EXPECT_THAT(unreadable->reason, HasSubstr("cannot read znode"));
  EXPECT_EQ(manager->resync_corrections(), corrections + 1);
  EXPECT_EQ(Picks(manager, SelectionStrategy::kRoundRobin),
            (std::set<std::string>{"10.0.0.22:1234"}));
}

}  // namespace
}  // namespace roster::cluster
