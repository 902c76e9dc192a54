// ClusterManager on the in-memory registry with an injected clock: the behaviour a scheduler
// master depends on, from registry events to published views.
#include "cluster/cluster_manager.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "cluster/heartbeat_codec.h"
#include "cluster/worker_cluster.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/memory/memory_registry.h"
#include "tests/cluster/cluster_test_util.h"
#include "tests/cluster/memory_cluster_fixture.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"

namespace roster::cluster {
namespace {

using registry::CreateMode;
using registry::CreateOptions;
using registry::MemoryRegistry;
using ::roster::testing::HeartbeatJson;
using ::roster::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ClusterManagerTest : public MemoryClusterTest {
 protected:
  void StopManagers() override { managers_.clear(); }

  ClusterOptions Options() {
    ClusterOptions options;
    options.run_timers = false;
    options.clock = &clock_;
    options.heartbeat_limits.max_clock_skew = absl::Hours(24 * 365 * 100);
    options.staleness_bound = absl::Seconds(20);
    // These tests check roster's own slot rule; the DolphinScheduler rules are tested in
    // master_cluster_test and slot_policy_model_test, their selection by release below.
    options.slot_policy = SlotPolicy::kStable;
    return options;
  }

  ClusterManager* StartManager(registry::Registry* registry, ClusterOptions options) {
    managers_.push_back(std::make_unique<ClusterManager>(registry, std::move(options)));
    EXPECT_OK(managers_.back()->Start());
    return managers_.back().get();
  }
  ClusterManager* StartManager() { return StartManager(registry_.get(), Options()); }

  MemoryRegistry* RegisterMaster(absl::string_view address, absl::string_view status = "NORMAL") {
    return Register("/nodes/master", address, HeartbeatJson(status));
  }
  MemoryRegistry* RegisterWorker(absl::string_view address, absl::string_view group = "",
                                 absl::string_view status = "NORMAL") {
    return Register("/nodes/worker", address,
                    HeartbeatJson(status, 1729238400123, 23817, 1729238650456, 0.2, 0.3, group));
  }
  void Heartbeat(absl::string_view address, const std::string& payload) {
    MemoryRegistry* session = nodes_.at(std::string(address)).get();
    for (const char* dir : {"/nodes/master", "/nodes/worker"}) {
      const std::string path = absl::StrCat(dir, "/", address);
      if (session->Exists(path).value_or(std::nullopt).has_value()) {
        ASSERT_OK(session->Set(path, payload));
        return;
      }
    }
    FAIL() << "no znode for " << address;
  }
  // Ends a node's session: ZooKeeper deletes its ephemeral znode.
  void Kill(absl::string_view address) {
    nodes_.at(std::string(address))->Shutdown();
    nodes_.erase(std::string(address));
  }

  static NodeState StateOf(const ClusterManager& manager, NodeRole role,
                           absl::string_view address) {
    NodeInfoPtr node = manager.view()->Find(role, address);
    return node == nullptr ? static_cast<NodeState>(-1) : node->state;
  }

  std::vector<std::unique_ptr<ClusterManager>> managers_;
};

TEST_F(ClusterManagerTest, NeverServesAnEmptyViewBeforeTheFirstFullRead) {
  RegisterWorker("10.0.0.21:1234");
  registry_->Disconnect();
  ClusterManager* manager = StartManager();
  EXPECT_FALSE(manager->ready());
  EXPECT_FALSE(manager->view()->synced);
  EXPECT_THAT(manager->SelectWorker(manager->Snapshot(), SelectRequest{}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("not been read fully")));
  EXPECT_THAT(manager->GetMasterSlot(manager->Snapshot(), "10.0.0.1:5678", {}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("not been read fully")));

  registry_->Reconnect();
  ASSERT_EVENTUALLY(manager->ready());
  EXPECT_TRUE(manager->view()->synced);
  ASSERT_EQ(manager->view()->workers.size(), 1u) << "the first published view is complete";
  EXPECT_FALSE(manager->freshness().stale);
}

TEST_F(ClusterManagerTest, WorkerThatJoinsAfterItsGroupExistsIsInItAtOnce) {
  // DolphinScheduler #17408: a worker starting after its group was defined was missing from it.
  RegisterWorker("10.0.0.21:1234", "etl");
  ClusterManager* manager = StartManager();
  ASSERT_EVENTUALLY(manager->ready());
  ASSERT_NE(manager->view()->FindGroup("etl"), nullptr);

  RegisterWorker("10.0.0.22:1234", "etl");
  ASSERT_EVENTUALLY(manager->view()->FindGroup("etl")->members.size() == 2);
  const GroupView* etl = manager->view()->FindGroup("etl");
  EXPECT_EQ(etl->members[1]->address, "10.0.0.22:1234");
  EXPECT_EQ(etl->selectable, 2);
  EXPECT_EQ(manager->view()->FindGroup("default")->members.size(), 2u);
}

TEST_F(ClusterManagerTest, ReadsTheLegacyGroupLayoutUnchanged) {
  // DolphinScheduler <= 3.1: /nodes/worker/{group}/{host}:{port}, one znode per group.
  Register("/nodes/worker/legacy", "10.0.0.31:1234", HeartbeatJson("NORMAL"));
  auto second = NewSession("second-group");
  CreateOptions options;
  options.mode = CreateMode::kEphemeral;
  options.create_parents = true;
  ASSERT_OK(second->Create("/nodes/worker/spark/10.0.0.31:1234", HeartbeatJson("NORMAL"), options));
  ClusterManager* manager = StartManager();
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->workers.size() == 1 &&
                    manager->view()->workers[0]->groups.size() == 3);
  NodeInfoPtr worker = manager->view()->workers[0];
  EXPECT_EQ(worker->address, "10.0.0.31:1234");
  EXPECT_THAT(worker->groups, ElementsAre("default", "legacy", "spark"));
  EXPECT_EQ(worker->paths.size(), 2u);
  EXPECT_EQ(worker->state, NodeState::kRunning);

  // One of its two znodes goes: still a worker, no longer in that group.
  second->Shutdown();
  ASSERT_EVENTUALLY(manager->view()->workers[0]->groups.size() == 2);
  EXPECT_EQ(manager->view()->workers[0]->state, NodeState::kRunning);
  EXPECT_EQ(manager->view()->FindGroup("spark")->members.size(), 0u);
  EXPECT_TRUE(manager->view()->rejected.empty());
}

// DolphinScheduler <= 3.1 writes integer statuses (its Constants: 0 NORMAL, 1 ABNORMAL, 2
// BUSY). Both non-normal ones mean "give me no new work", not "broken": OVERLOAD, and a master
// keeps its slot.
TEST_F(ClusterManagerTest, LegacyIntegerStatusesAreOverloadNotFault) {
  Register("/nodes/master", "10.0.0.1:5678", R"({"serverStatus":1,"processId":7})");
  Register("/nodes/master", "10.0.0.2:5678", R"({"serverStatus":2,"processId":8})");
  Register("/nodes/worker", "10.0.0.21:1234", R"({"serverStatus":2,"processId":9})");
  Register("/nodes/worker", "10.0.0.22:1234", R"({"serverStatus":0,"processId":10})");
  ClusterManager* manager = StartManager();
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->workers.size() == 2 &&
                    manager->view()->masters.size() == 2);
  EXPECT_EQ(StateOf(*manager, NodeRole::kMaster, "10.0.0.1:5678"), NodeState::kOverload);
  EXPECT_THAT(manager->view()->FindAny("10.0.0.1:5678")->reason, HasSubstr("ABNORMAL"));
  EXPECT_EQ(StateOf(*manager, NodeRole::kMaster, "10.0.0.2:5678"), NodeState::kOverload);
  EXPECT_EQ(StateOf(*manager, NodeRole::kWorker, "10.0.0.21:1234"), NodeState::kOverload);
  EXPECT_EQ(StateOf(*manager, NodeRole::kWorker, "10.0.0.22:1234"), NodeState::kRunning);
  EXPECT_THAT(manager->view()->slots.masters, ElementsAre("10.0.0.1:5678", "10.0.0.2:5678"));
  for (int i = 0; i < 20; ++i) {
    const ViewSnapshot snapshot = manager->Snapshot();  // holds the worker picked
    ASSERT_OK_AND_ASSIGN(Selection selection, manager->SelectWorker(snapshot, SelectRequest{}));
    EXPECT_EQ(selection.worker()->address, "10.0.0.22:1234");
  }
}

// Views are published incrementally (only the changed nodes replaced); every one must equal
// what a full rebuild from its workers gives.
TEST_F(ClusterManagerTest, IncrementalViewsMatchAFullRebuild) {
  const std::vector<std::string> groups = {"", "etl", "spark"};
  for (int i = 0; i < 6; ++i) {
    RegisterWorker(absl::StrCat("10.0.0.", 30 + i, ":1234"), groups[i % 3]);
  }
  ClusterManager* manager = StartManager();
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->workers.size() == 6);
  auto expect_consistent = [&](const ClusterView& view) {
    const auto rebuilt = WorkerCluster::BuildGroups(view.workers);
    ASSERT_EQ(view.groups.size(), rebuilt.size());
    for (const auto& [name, group] : rebuilt) {
      const GroupView* published = view.FindGroup(name);
      ASSERT_NE(published, nullptr) << name;
      EXPECT_EQ(published->members, group.members) << name;
      EXPECT_EQ(published->selectable, group.selectable) << name;
      EXPECT_EQ(published->count_by_state, group.count_by_state) << name;
    }
    EXPECT_TRUE(std::is_sorted(
        view.workers.begin(), view.workers.end(),
        [](const NodeInfoPtr& a, const NodeInfoPtr& b) { return a->address < b->address; }));
  };
  std::mt19937 rng(7);
  int64_t report = 1729238650456;
  for (int step = 0; step < 60; ++step) {
    SCOPED_TRACE(absl::StrCat("step ", step));
    const int i = static_cast<int>(rng() % 6);
    const std::string address = absl::StrCat("10.0.0.", 30 + i, ":1234");
    if (nodes_.count(address) == 0) {
      RegisterWorker(address, groups[i % 3]);
      ASSERT_EVENTUALLY(StateOf(*manager, NodeRole::kWorker, address) == NodeState::kRunning);
    } else if (rng() % 10 == 0) {
      Kill(address);
      ASSERT_EVENTUALLY(StateOf(*manager, NodeRole::kWorker, address) == NodeState::kOffline);
    } else {
      // Mostly load-only heartbeats, sometimes BUSY (a state change).
      const char* status = rng() % 4 == 0 ? "BUSY" : "NORMAL";
      ++report;
      Heartbeat(address, HeartbeatJson(status, 1729238400123, 23817, report, 0.01 * (rng() % 100),
                                       0.01 * (rng() % 100), groups[i % 3]));
      ASSERT_EVENTUALLY(
          manager->view()->Find(NodeRole::kWorker, address)->heartbeat.report_time_ms() == report);
    }
    expect_consistent(*manager->view());
  }
}

// Heartbeats are decoded on the registry's thread, and only the first of a znode's events
// waiting for the executor is (docs/scale.md, "Decoding ahead"); the executor parses the newest
// payload of the others. However the writes fall into batches, the view ends at each node's
// newest heartbeat, and the state it says.
TEST_F(ClusterManagerTest, BackToBackWritesEndAtEachNodesNewestHeartbeat) {
  const std::vector<std::string> addresses = {"10.0.0.40:1234", "10.0.0.41:1234"};
  for (const std::string& address : addresses) RegisterWorker(address);
  ClusterManager* manager = StartManager();
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->workers.size() == 2);
  int64_t report = 1729238650456;
  for (int round = 0; round < 200; ++round) {
    for (const std::string& address : addresses) {
      // Alternately NORMAL and BUSY; the last round leaves the first worker BUSY, the second
      // NORMAL.
      const bool normal = (round % 2 == 0) == (address == addresses[0]);
      Heartbeat(address, HeartbeatJson(normal ? "NORMAL" : "BUSY", 1729238400123, 23817, ++report,
                                       0.2, 0.3));
    }
  }
  auto shows = [&](const std::string& address, int64_t report_time, NodeState state) {
    NodeInfoPtr node = manager->view()->Find(NodeRole::kWorker, address);
    return node != nullptr && node->heartbeat.report_time_ms() == report_time &&
           node->state == state;
  };
  ASSERT_EVENTUALLY(shows(addresses[0], report - 1, NodeState::kOverload) &&
                    shows(addresses[1], report, NodeState::kRunning));
}

TEST_F(ClusterManagerTest, GroupsOfTheStaticFileExistBeforeAnyOfTheirWorkers) {
  const std::string path = ::testing::TempDir() + "/static_groups_" +
                           ::testing::UnitTest::GetInstance()->current_test_info()->name();
  {
    std::ofstream file(path);
    file << "gpu = 10.0.0.99:1234\n";
  }
  RegisterWorker("10.0.0.21:1234");
  ClusterOptions options = Options();
  options.worker_group_file = path;
  ClusterManager* manager = StartManager(registry_.get(), options);
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->workers.size() == 1);
  const GroupView* gpu = manager->view()->FindGroup("gpu");
  ASSERT_NE(gpu, nullptr) << "a configured group is known, not a typo";
  EXPECT_TRUE(gpu->members.empty());
  SelectRequest request;
  request.group = "gpu";
  EXPECT_THAT(manager->SelectWorker(manager->Snapshot(), request),
              StatusIs(absl::StatusCode::kUnavailable));
  request.group = "gpu-typo";
  EXPECT_THAT(manager->SelectWorker(manager->Snapshot(), request),
              StatusIs(absl::StatusCode::kNotFound));

  RegisterWorker("10.0.0.99:1234");
  ASSERT_EVENTUALLY(manager->view()->FindGroup("gpu")->members.size() == 1);
  request.group = "gpu";
  ASSERT_EVENTUALLY(manager->SelectWorker(manager->Snapshot(), request).ok());
  EXPECT_EQ(manager->SelectWorker(manager->Snapshot(), request)->worker()->address,
            "10.0.0.99:1234");
  std::remove(path.c_str());
}

TEST_F(ClusterManagerTest, BadHeartbeatFaultsThatNodeOnlyAndSaysWhy) {
  RegisterWorker("10.0.0.21:1234");
  RegisterWorker("10.0.0.22:1234");
  ClusterManager* manager = StartManager();
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->workers.size() == 2);

  Heartbeat("10.0.0.21:1234", R"({"cpuUsage": 0.5, "serverStatus": "WAITING"})");
  ASSERT_EVENTUALLY(StateOf(*manager, NodeRole::kWorker, "10.0.0.21:1234") == NodeState::kFault);
  NodeInfoPtr bad = manager->view()->Find(NodeRole::kWorker, "10.0.0.21:1234");
  EXPECT_THAT(bad->reason, HasSubstr("heartbeat rejected"));
  EXPECT_THAT(bad->reason, HasSubstr("serverStatus"));
  EXPECT_TRUE(bad->has_heartbeat) << "the last valid heartbeat is kept for operators";
  for (int i = 0; i < 20; ++i) {
    const ViewSnapshot snapshot = manager->Snapshot();  // holds the worker picked
    ASSERT_OK_AND_ASSIGN(Selection selection, manager->SelectWorker(snapshot, SelectRequest{}));
    EXPECT_EQ(selection.worker()->address, "10.0.0.22:1234");
  }

  Heartbeat("10.0.0.21:1234", HeartbeatJson("NORMAL"));
  ASSERT_EVENTUALLY(StateOf(*manager, NodeRole::kWorker, "10.0.0.21:1234") ==
                    NodeState::kRecovering);
  clock_.Advance(Options().timing.probation());
  manager->TickNow();
  EXPECT_EQ(StateOf(*manager, NodeRole::kWorker, "10.0.0.21:1234"), NodeState::kRunning);
}

TEST_F(ClusterManagerTest, SilentNodeGoesFaultOnTheDaemonsOwnClock) {
  RegisterMaster("10.0.0.1:5678");
  RegisterMaster("10.0.0.2:5678");
  ClusterManager* manager = StartManager();
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->slots.masters.size() == 2);
  const ClusterOptions options = Options();

  // 10.0.0.2 keeps writing; 10.0.0.1 stops (its reportTime would never tell).
  for (int i = 0; i < options.timing.missed_heartbeats; ++i) {
    const uint64_t version = manager->view()->version;
    Heartbeat("10.0.0.2:5678", HeartbeatJson("NORMAL", 1729238400123, 23817, 1729238650456 + i));
    ASSERT_EVENTUALLY(manager->view()->version > version);
    clock_.Advance(options.timing.heartbeat_interval - absl::Nanoseconds(1));
    manager->TickNow();
    EXPECT_EQ(StateOf(*manager, NodeRole::kMaster, "10.0.0.1:5678"), NodeState::kRunning);
    clock_.Advance(absl::Nanoseconds(1));
  }
  manager->TickNow();
  EXPECT_EQ(StateOf(*manager, NodeRole::kMaster, "10.0.0.1:5678"), NodeState::kFault);
  EXPECT_EQ(StateOf(*manager, NodeRole::kMaster, "10.0.0.2:5678"), NodeState::kRunning);
  EXPECT_THAT(manager->view()->slots.masters, ElementsAre("10.0.0.2:5678"));
  EXPECT_THAT(manager->GetMasterSlot(manager->Snapshot(), "10.0.0.1:5678", {}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("FAULT")));
}

TEST_F(ClusterManagerTest, ResyncRepairsAMissedEventAndCountsIt) {
  RegisterWorker("10.0.0.21:1234");
  RegisterWorker("10.0.0.22:1234");
  ClusterManager* manager = StartManager();
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->workers.size() == 2);
  const int64_t corrections = manager->resync_corrections();

  // The watch notification for this change is lost, as a flaky network can lose one.
  registry_->DropNextWatchEvents(1);
  Heartbeat("10.0.0.21:1234", HeartbeatJson("BUSY"));
  // A later change is seen: the missed one really was missed, not merely slow.
  Heartbeat("10.0.0.22:1234", HeartbeatJson("NORMAL", 1729238400123, 23817, 1729238659999));
  ASSERT_EVENTUALLY(
      manager->view()->Find(NodeRole::kWorker, "10.0.0.22:1234")->heartbeat.report_time_ms() ==
      1729238659999);
  EXPECT_EQ(StateOf(*manager, NodeRole::kWorker, "10.0.0.21:1234"), NodeState::kRunning);

  const int64_t resyncs = manager->resyncs();
  manager->ResyncNow();
  ASSERT_EVENTUALLY(manager->resyncs() > resyncs);
  EXPECT_EQ(StateOf(*manager, NodeRole::kWorker, "10.0.0.21:1234"), NodeState::kOverload);
  EXPECT_EQ(manager->resync_corrections(), corrections + 1);
}

TEST_F(ClusterManagerTest, TwoReplicasReadingTheSameRegistryAgreeOnSlotsAndEpoch) {
  RegisterMaster("10.0.0.3:5678");
  RegisterMaster("10.0.0.1:5678", "BUSY");
  auto replica_session = NewSession("replica");
  ClusterManager* a = StartManager();
  ClusterManager* b = StartManager(replica_session.get(), Options());
  RegisterMaster("10.0.0.2:5678");
  auto agree = [&] {
    return a->ready() && b->ready() && a->view()->slots.masters.size() == 3 &&
           b->view()->slots.masters.size() == 3;
  };
  ASSERT_EVENTUALLY(agree());
  EXPECT_THAT(a->view()->slots.masters,
              ElementsAre("10.0.0.1:5678", "10.0.0.2:5678", "10.0.0.3:5678"));
  EXPECT_EQ(a->view()->slots.masters, b->view()->slots.masters);
  EXPECT_EQ(a->view()->slots.epoch, b->view()->slots.epoch);

  Kill("10.0.0.2:5678");
  ASSERT_EVENTUALLY(a->view()->slots.masters.size() == 2 && b->view()->slots.masters.size() == 2);
  EXPECT_EQ(a->view()->slots.epoch, b->view()->slots.epoch);
  ASSERT_OK_AND_ASSIGN(SlotAnswer slot, a->GetMasterSlot(a->Snapshot(), "10.0.0.3:5678", {}));
  EXPECT_EQ(slot.slot, 1);
  EXPECT_EQ(slot.total, 2);
  replica_session->Shutdown();
}

TEST_F(ClusterManagerTest, StaleViewStillAnswersLookupsButRefusesSlotsAfterTheBound) {
  RegisterMaster("10.0.0.1:5678");
  RegisterWorker("10.0.0.21:1234");
  ClusterManager* manager = StartManager();
  ASSERT_EVENTUALLY(manager->ready() && !manager->view()->slots.masters.empty());
  EXPECT_OK(manager->GetMasterSlot(manager->Snapshot(), "10.0.0.1:5678", {}));

  registry_->Disconnect();
  ASSERT_EVENTUALLY(manager->freshness().stale);
  clock_.Advance(absl::Seconds(19));
  EXPECT_OK(manager->GetMasterSlot(manager->Snapshot(), "10.0.0.1:5678", {}))
      << "within the bound: flagged, answered";
  EXPECT_OK(manager->SelectWorker(manager->Snapshot(), SelectRequest{}));
  clock_.Advance(absl::Seconds(2));
  EXPECT_THAT(manager->GetMasterSlot(manager->Snapshot(), "10.0.0.1:5678", {}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("staleness bound")));
  EXPECT_THAT(manager->GetLeader(manager->Snapshot()), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_OK(manager->SelectWorker(manager->Snapshot(), SelectRequest{}))
      << "lookups keep answering while stale";
  EXPECT_GE(manager->freshness().stale_for, absl::Seconds(21));

  registry_->Reconnect();
  ASSERT_EVENTUALLY(!manager->freshness().stale);
  EXPECT_OK(manager->GetMasterSlot(manager->Snapshot(), "10.0.0.1:5678", {}));
}

// An authority answer is computed from the snapshot it is asked of, never from a newer view:
// the version and freshness a caller reports with the answer are those of the view it came
// from, even when the cluster changes between taking the snapshot and asking.
TEST_F(ClusterManagerTest, AuthorityAnswersComeFromTheirSnapshotAlone) {
  RegisterMaster("10.0.0.1:5678");
  RegisterMaster("10.0.0.2:5678");
  ClusterManager* manager = StartManager();
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->slots.masters.size() == 2);
  const ViewSnapshot before = manager->Snapshot();
  ASSERT_TRUE(before.freshness.authoritative);

  Kill("10.0.0.1:5678");
  ASSERT_EVENTUALLY(manager->view()->slots.masters.size() == 1);
  ASSERT_GT(manager->view()->version, before.view->version);

  ASSERT_OK_AND_ASSIGN(SlotAnswer old_slot,
                       manager->GetMasterSlot(before, "10.0.0.2:5678", std::nullopt));
  EXPECT_EQ(old_slot.slot, 1);
  EXPECT_EQ(old_slot.total, 2);
  EXPECT_EQ(old_slot.epoch, before.view->slots.epoch);
  ASSERT_OK_AND_ASSIGN(SlotAnswer new_slot,
                       manager->GetMasterSlot(manager->Snapshot(), "10.0.0.2:5678", std::nullopt));
  EXPECT_EQ(new_slot.slot, 0);
  EXPECT_EQ(new_slot.total, 1);
  EXPECT_NE(new_slot.epoch, old_slot.epoch);
  EXPECT_THAT(manager->GetMasterSlot(manager->Snapshot(), "10.0.0.1:5678", std::nullopt),
              StatusIs(absl::StatusCode::kFailedPrecondition));

  // Freshness too: a snapshot taken while stale past the bound is refused whatever the
  // manager's state when it is asked.
  registry_->Disconnect();
  ASSERT_EVENTUALLY(manager->freshness().stale);
  clock_.Advance(absl::Seconds(21));
  const ViewSnapshot stale = manager->Snapshot();
  registry_->Reconnect();
  ASSERT_EVENTUALLY(!manager->freshness().stale);
  EXPECT_THAT(manager->GetMasterSlot(stale, "10.0.0.2:5678", std::nullopt),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("staleness bound")));
  EXPECT_THAT(manager->GetLeader(stale), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_OK(manager->GetMasterSlot(manager->Snapshot(), "10.0.0.2:5678", std::nullopt));
}

// While rosterd cannot see the registry, the nodes' silence is not theirs: nobody goes FAULT
// (which would empty the slot assignment under healthy masters), and after the reconnect
// every node gets a full heartbeat timeout to be heard from again.
TEST_F(ClusterManagerTest, AnOutageOfTheDaemonsOwnSessionAgesNoHeartbeat) {
  RegisterMaster("10.0.0.1:5678");
  RegisterWorker("10.0.0.21:1234");
  ClusterOptions options = Options();
  options.timing.heartbeat_interval = absl::Seconds(2);
  options.timing.missed_heartbeats = 3;
  const absl::Duration timeout = absl::Seconds(6);
  ClusterManager* manager = StartManager(registry_.get(), options);
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->slots.masters.size() == 1);

  registry_->Disconnect();
  ASSERT_EVENTUALLY(manager->freshness().stale);
  for (int i = 0; i < 8; ++i) {  // 16 s: well past the timeout, within the session timeout
    clock_.Advance(absl::Seconds(2));
    manager->TickNow();
  }
  EXPECT_EQ(StateOf(*manager, NodeRole::kMaster, "10.0.0.1:5678"), NodeState::kRunning);
  EXPECT_EQ(StateOf(*manager, NodeRole::kWorker, "10.0.0.21:1234"), NodeState::kRunning);
  EXPECT_THAT(manager->view()->slots.masters, ElementsAre("10.0.0.1:5678"));

  registry_->Reconnect();
  ASSERT_EVENTUALLY(!manager->freshness().stale);
  manager->TickNow();  // the publish that turned the view fresh excused the silence up to now
  clock_.Advance(timeout - absl::Nanoseconds(1));
  manager->TickNow();
  EXPECT_EQ(StateOf(*manager, NodeRole::kMaster, "10.0.0.1:5678"), NodeState::kRunning);
  // Still silent a full timeout after the return: now it is the node's.
  clock_.Advance(absl::Nanoseconds(1));
  manager->TickNow();
  EXPECT_EQ(StateOf(*manager, NodeRole::kMaster, "10.0.0.1:5678"), NodeState::kFault);
  EXPECT_EQ(StateOf(*manager, NodeRole::kWorker, "10.0.0.21:1234"), NodeState::kFault);
}

TEST_F(ClusterManagerTest, DrainIsRecordedInTheRegistryAndSharedByReplicas) {
  RegisterMaster("10.0.0.1:5678");
  RegisterMaster("10.0.0.2:5678");
  RegisterWorker("10.0.0.21:1234");
  RegisterWorker("10.0.0.22:1234");
  ClusterManager* manager = StartManager();
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->workers.size() == 2 &&
                    manager->view()->slots.masters.size() == 2);

  auto drain = [&](const std::string& address, const std::string& reason) {
    absl::Notification done;
    absl::Status result;
    manager->Drain(address, reason, [&](absl::Status status) {
      result = status;
      done.Notify();
    });
    done.WaitForNotification();
    return result;
  };
  EXPECT_THAT(drain("10.0.0.99:1234", "typo"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(drain("10.0.0.21:1234", ""), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK(drain("10.0.0.21:1234", "kernel upgrade"));
  ASSERT_OK(drain("10.0.0.1:5678", "moving to new rack"));

  // Done means visible.
  NodeInfoPtr worker = manager->view()->Find(NodeRole::kWorker, "10.0.0.21:1234");
  EXPECT_TRUE(worker->drained);
  EXPECT_EQ(worker->state, NodeState::kOffline);
  EXPECT_THAT(worker->reason, HasSubstr("kernel upgrade"));
  for (int i = 0; i < 10; ++i) {
    const ViewSnapshot snapshot = manager->Snapshot();  // holds the worker picked
    ASSERT_OK_AND_ASSIGN(Selection selection, manager->SelectWorker(snapshot, SelectRequest{}));
    EXPECT_EQ(selection.worker()->address, "10.0.0.22:1234");
  }
  EXPECT_THAT(manager->view()->slots.masters, ElementsAre("10.0.0.2:5678"));

  // Another replica, started later, sees the same drains.
  auto replica_session = NewSession("replica");
  ClusterManager* replica = StartManager(replica_session.get(), Options());
  ASSERT_EVENTUALLY(replica->ready() && replica->view()->workers.size() == 2);
  EXPECT_TRUE(replica->view()->Find(NodeRole::kWorker, "10.0.0.21:1234")->drained);
  EXPECT_EQ(replica->view()->slots.masters, manager->view()->slots.masters);

  absl::Notification undrained;
  manager->Undrain("10.0.0.21:1234", [&](absl::Status status) {
    EXPECT_OK(status);
    undrained.Notify();
  });
  undrained.WaitForNotification();
  EXPECT_EQ(StateOf(*manager, NodeRole::kWorker, "10.0.0.21:1234"), NodeState::kRunning);
  ASSERT_EVENTUALLY(StateOf(*replica, NodeRole::kWorker, "10.0.0.21:1234") == NodeState::kRunning);
  replica_session->Shutdown();
}

// Collects what a watcher receives.
struct Recorder {
  absl::Mutex mu;
  std::vector<ClusterChange> changes ABSL_GUARDED_BY(mu);
  WatchStart start ABSL_GUARDED_BY(mu);
  bool started ABSL_GUARDED_BY(mu) = false;

  std::unique_ptr<ChangeWatch> Watch(ClusterManager* manager, uint64_t from) {
    WatchListener listener;
    listener.on_start = [this](WatchStart s) {
      absl::MutexLock lock(&mu);
      start = std::move(s);
      started = true;
    };
    listener.on_changes = [this](const std::shared_ptr<const ChangeBatch>& batch) {
      absl::MutexLock lock(&mu);
      changes.insert(changes.end(), batch->begin(), batch->end());
    };
    listener.on_lost = [](bool) { ADD_FAILURE() << "the watch fan-out lost changes"; };
    return manager->WatchChanges(from, std::move(listener));
  }
  uint64_t last_version() {
    absl::MutexLock lock(&mu);
    return changes.empty() ? start.version : changes.back().version;
  }
};

TEST_F(ClusterManagerTest, WatchersGetEveryChangeInOrderAndCanResume) {
  RegisterMaster("10.0.0.1:5678");
  ClusterManager* manager = StartManager();
  ASSERT_EVENTUALLY(manager->ready());

  Recorder from_start;
  auto watch = from_start.Watch(manager, 0);
  ASSERT_EVENTUALLY(from_start.last_version() > 0);
  {
    absl::MutexLock lock(&from_start.mu);
    ASSERT_NE(from_start.start.snapshot, nullptr);
    EXPECT_EQ(from_start.start.snapshot->version, from_start.start.version);
    EXPECT_EQ(from_start.start.snapshot->masters.size(), 1u);
  }
  const uint64_t resume_from = from_start.last_version();

  RegisterWorker("10.0.0.21:1234");
  RegisterMaster("10.0.0.2:5678");
  Heartbeat("10.0.0.1:5678", HeartbeatJson("BUSY"));
  // Like ZooKeeper's watches, the registry may never report a znode that is deleted right
  // after it was created: let the manager see the worker before its session ends.
  ASSERT_EVENTUALLY(StateOf(*manager, NodeRole::kWorker, "10.0.0.21:1234") == NodeState::kRunning &&
                    StateOf(*manager, NodeRole::kMaster, "10.0.0.2:5678") == NodeState::kRunning &&
                    StateOf(*manager, NodeRole::kMaster, "10.0.0.1:5678") == NodeState::kOverload);
  Kill("10.0.0.21:1234");
  ASSERT_EVENTUALLY(StateOf(*manager, NodeRole::kWorker, "10.0.0.21:1234") == NodeState::kOffline);
  ASSERT_EVENTUALLY(from_start.last_version() == manager->view()->version);

  std::vector<ClusterChange> seen;
  {
    absl::MutexLock lock(&from_start.mu);
    seen = from_start.changes;
  }
  ASSERT_FALSE(seen.empty());
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].version, resume_from + 1 + i) << "versions are consecutive: no gaps";
  }
  bool saw_slots = false;
  for (const ClusterChange& change : seen) {
    saw_slots |= change.kind == ClusterChange::Kind::kSlotsChanged;
  }
  EXPECT_TRUE(saw_slots);

  // A watcher that was away since `resume_from` gets exactly what it missed.
  Recorder resumed;
  auto watch2 = resumed.Watch(manager, resume_from);
  ASSERT_EVENTUALLY([&] {
    absl::MutexLock lock(&resumed.mu);
    return resumed.started;
  }());
  {
    absl::MutexLock lock(&resumed.mu);
    EXPECT_EQ(resumed.start.snapshot, nullptr);
    ASSERT_EQ(resumed.start.missed.size(), seen.size());
    for (size_t i = 0; i < seen.size(); ++i) {
      EXPECT_EQ(resumed.start.missed[i].version, seen[i].version);
      EXPECT_EQ(resumed.start.missed[i].kind, seen[i].kind);
    }
  }
}

// Nodes of the release already detected joining and leaving change nothing about the release:
// watchers see their NODE_* and SLOTS_CHANGED events, and no PROFILE_CHANGED with them.
TEST_F(ClusterManagerTest, NodesJoiningAndLeavingLeaveTheDetectedReleaseAlone) {
  RegisterMaster("10.0.0.1:5678");
  RegisterWorker("10.0.0.21:1234");
  ClusterOptions options = Options();
  options.dolphinscheduler_version = DsVersion::kAuto;
  ClusterManager* manager = StartManager(registry_.get(), options);
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->workers.size() == 1);
  const DsDetection before = manager->view()->dolphinscheduler;
  ASSERT_TRUE(before.detected);

  Recorder recorder;
  auto watch = recorder.Watch(manager, manager->view()->version);
  RegisterMaster("10.0.0.2:5678");
  RegisterWorker("10.0.0.22:1234");
  ASSERT_EVENTUALLY(StateOf(*manager, NodeRole::kWorker, "10.0.0.22:1234") == NodeState::kRunning &&
                    StateOf(*manager, NodeRole::kMaster, "10.0.0.2:5678") == NodeState::kRunning);
  Kill("10.0.0.21:1234");
  Kill("10.0.0.2:5678");
  ASSERT_EVENTUALLY(StateOf(*manager, NodeRole::kWorker, "10.0.0.21:1234") == NodeState::kOffline &&
                    StateOf(*manager, NodeRole::kMaster, "10.0.0.2:5678") == NodeState::kOffline);
  ASSERT_EVENTUALLY(recorder.last_version() == manager->view()->version);

  absl::MutexLock lock(&recorder.mu);
  int slot_changes = 0;
  for (const ClusterChange& change : recorder.changes) {
    EXPECT_NE(change.kind, ClusterChange::Kind::kProfileChanged) << "at " << change.version;
    slot_changes += change.kind == ClusterChange::Kind::kSlotsChanged;
  }
  EXPECT_GE(slot_changes, 2) << "a master joined and left";
  EXPECT_EQ(manager->view()->dolphinscheduler, before) << manager->view()->dolphinscheduler.reason;
}

// A group the file defines for workers not yet alive moves no node. The view that shows it is
// still published, as a new version with a GROUPS_CHANGED event, whether the file says so
// before the first full read ends or long after.
TEST_F(ClusterManagerTest, AGroupDefinedWithNoLiveMemberIsPublishedAndAnnounced) {
  const std::string path = ::testing::TempDir() + "/static_groups_" +
                           ::testing::UnitTest::GetInstance()->current_test_info()->name();
  auto write = [&](const std::string& text) {
    std::ofstream file(path);
    file << text;
  };
  write("gpu = 10.0.0.99:1234\n");
  RegisterWorker("10.0.0.21:1234");
  ClusterOptions options = Options();
  options.worker_group_file = path;
  ClusterManager* manager = StartManager(registry_.get(), options);
  ASSERT_EVENTUALLY(manager->ready());
  ASSERT_NE(manager->view()->FindGroup("gpu"), nullptr);

  Recorder recorder;
  auto watch = recorder.Watch(manager, manager->view()->version);
  write("gpu = 10.0.0.99:1234\nspark = 10.0.0.98:1234\n");
  manager->ResyncNow();
  ASSERT_EVENTUALLY(manager->view()->FindGroup("spark") != nullptr);
  EXPECT_TRUE(manager->view()->FindGroup("spark")->members.empty());
  ASSERT_EVENTUALLY(recorder.last_version() == manager->view()->version);
  {
    absl::MutexLock lock(&recorder.mu);
    ASSERT_FALSE(recorder.changes.empty());
    EXPECT_EQ(recorder.changes.back().kind, ClusterChange::Kind::kGroupsChanged);
  }

  write("spark = 10.0.0.98:1234\n");
  manager->ResyncNow();
  ASSERT_EVENTUALLY(manager->view()->FindGroup("gpu") == nullptr);
  std::remove(path.c_str());
}

TEST_F(ClusterManagerTest, WatcherTooFarBehindStartsFromASnapshot) {
  ClusterOptions options = Options();
  options.change_log_capacity = 4;
  ClusterManager* manager = StartManager(registry_.get(), options);
  ASSERT_EVENTUALLY(manager->ready());
  for (int i = 0; i < 6; ++i) RegisterWorker(absl::StrCat("10.0.0.", 40 + i, ":1234"));
  ASSERT_EVENTUALLY(manager->view()->workers.size() == 6);

  Recorder late;
  auto watch = late.Watch(manager, 1);
  ASSERT_EVENTUALLY([&] {
    absl::MutexLock lock(&late.mu);
    return late.started;
  }());
  absl::MutexLock lock(&late.mu);
  ASSERT_NE(late.start.snapshot, nullptr);
  EXPECT_EQ(late.start.snapshot->workers.size(), 6u);
}

TEST_F(ClusterManagerTest, RestartedNodeIsANewIncarnationAndKeepsItsHistory) {
  RegisterWorker("10.0.0.21:1234");
  ClusterManager* manager = StartManager();
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->workers.size() == 1);
  const Incarnation first = manager->view()->workers[0]->incarnation;

  Kill("10.0.0.21:1234");
  ASSERT_EVENTUALLY(StateOf(*manager, NodeRole::kWorker, "10.0.0.21:1234") == NodeState::kOffline);
  Register("/nodes/worker", "10.0.0.21:1234",
           HeartbeatJson("NORMAL", /*startup_time_ms=*/1729238999000, /*process_id=*/999));
  ASSERT_EVENTUALLY(StateOf(*manager, NodeRole::kWorker, "10.0.0.21:1234") == NodeState::kRunning);
  NodeInfoPtr worker = manager->view()->workers[0];
  EXPECT_LT(first, worker->incarnation);
  EXPECT_EQ(worker->incarnation.process_id, 999);
  std::vector<NodeState> states;
  ASSERT_NE(worker->history, nullptr);
  for (const Transition& t : *worker->history) states.push_back(t.to);
  EXPECT_THAT(states, ElementsAre(NodeState::kRegistering, NodeState::kRunning, NodeState::kOffline,
                                  NodeState::kRegistering, NodeState::kRunning));

  // A process of the old incarnation writing into the new znode never wins.
  Heartbeat("10.0.0.21:1234", HeartbeatJson("BUSY", /*startup_time_ms=*/1729238400123, 23817));
  Heartbeat("10.0.0.21:1234",
            HeartbeatJson("NORMAL", 1729238999000, 999, /*report_time_ms=*/1729239000001));
  ASSERT_EVENTUALLY(manager->view()->workers[0]->heartbeat.report_time_ms() == 1729239000001);
  EXPECT_EQ(StateOf(*manager, NodeRole::kWorker, "10.0.0.21:1234"), NodeState::kRunning);
}

TEST_F(ClusterManagerTest, OfflineTombstoneIsKeptForTheRetentionThenRemoved) {
  ClusterOptions options = Options();
  options.tombstone_retention = absl::Minutes(5);
  RegisterWorker("10.0.0.21:1234");
  ClusterManager* manager = StartManager(registry_.get(), options);
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->workers.size() == 1);

  Kill("10.0.0.21:1234");
  ASSERT_EVENTUALLY(StateOf(*manager, NodeRole::kWorker, "10.0.0.21:1234") == NodeState::kOffline);
  EXPECT_THAT(manager->SelectWorker(manager->Snapshot(), SelectRequest{}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("1 OFFLINE")));
  clock_.Advance(absl::Minutes(5) - absl::Seconds(1));
  manager->TickNow();
  EXPECT_EQ(manager->view()->workers.size(), 1u);
  clock_.Advance(absl::Seconds(1));
  manager->TickNow();
  EXPECT_TRUE(manager->view()->workers.empty());
}

TEST_F(ClusterManagerTest, ZnodeThatIsNotANodeIsShownAsRejected) {
  Register("/nodes/master", "not-an-address", HeartbeatJson("NORMAL"));
  RegisterMaster("10.0.0.1:5678");
  ClusterManager* manager = StartManager();
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->masters.size() == 1 &&
                    manager->view()->rejected.size() == 1);
  EXPECT_EQ(manager->view()->rejected[0].path, "/nodes/master/not-an-address");
  EXPECT_THAT(manager->view()->rejected[0].reason, HasSubstr("host:port"));
}

// With --dolphinscheduler_version=auto the manager answers as the release the registry shows:
// DolphinScheduler 3.2.1's payloads (an integer threadPoolUsage) give 3.2.1's slot rule (BUSY
// masters hold none; startupTime descending), its default strategy and no coordinator.
TEST_F(ClusterManagerTest, AnswersAsTheDetectedReleaseAndSaysWhy) {
  auto payload = [](NodeRole role, roster::v1::Heartbeat::ServerStatus status, int64_t startup,
                    HeartbeatDialect dialect) {
    roster::v1::Heartbeat heartbeat;
    heartbeat.set_server_status(status);
    heartbeat.set_startup_time_ms(startup);
    heartbeat.set_report_time_ms(startup + 1000);
    heartbeat.set_process_id(4242);
    heartbeat.set_host("10.0.0.9");
    heartbeat.set_port(5678);
    heartbeat.set_cpu_usage(0.2);
    heartbeat.set_memory_usage(0.3);
    heartbeat.set_host_weight(100);
    heartbeat.set_running_tasks(2);
    return EncodeHeartbeat(role, heartbeat, dialect);
  };
  using roster::v1::Heartbeat;
  const HeartbeatDialect v321 = HeartbeatDialect::kJson321;
  Register("/nodes/master", "10.0.0.1:5678",
           payload(NodeRole::kMaster, Heartbeat::BUSY, 5000, v321));
  Register("/nodes/master", "10.0.0.2:5678",
           payload(NodeRole::kMaster, Heartbeat::NORMAL, 2000, v321));
  Register("/nodes/master", "10.0.0.3:5678",
           payload(NodeRole::kMaster, Heartbeat::NORMAL, 3000, v321));
  Register("/nodes/worker", "10.0.0.21:1234",
           payload(NodeRole::kWorker, Heartbeat::NORMAL, 1000, v321));
  ClusterOptions options = Options();
  options.slot_policy.reset();  // the release's
  ClusterManager* manager = StartManager(registry_.get(), options);
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->workers.size() == 1 &&
                    manager->view()->masters.size() == 3);
  const DsDetection& ds = manager->view()->dolphinscheduler;
  EXPECT_EQ(ds.version, DsVersion::k3_2_1) << ds.reason;
  EXPECT_TRUE(ds.detected);
  EXPECT_FALSE(ds.mixed);
  EXPECT_THAT(manager->view()->slots.masters, ElementsAre("10.0.0.3:5678", "10.0.0.2:5678"))
      << "3.2.1: not BUSY, startupTime descending";
  const ViewSnapshot snapshot = manager->Snapshot();  // holds the worker picked
  ASSERT_OK_AND_ASSIGN(Selection selection, manager->SelectWorker(snapshot, SelectRequest{}));
  EXPECT_THAT(selection.rule, HasSubstr("LowerWeightRoundRobin")) << "3.2.1's default strategy";
  EXPECT_THAT(manager->GetLeader(manager->Snapshot()),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("has no coordinator")));

  // A worker still on 2.0 (a rolling upgrade): the nodes disagree, the masters decide.
  Register("/nodes/worker", "10.0.0.22:1234",
           payload(NodeRole::kWorker, Heartbeat::NORMAL, 1000, HeartbeatDialect::kText20));
  ASSERT_EVENTUALLY(manager->view()->dolphinscheduler.mixed);
  EXPECT_EQ(manager->view()->dolphinscheduler.version, DsVersion::k3_2_1);
  EXPECT_THAT(
      manager->view()->dolphinscheduler.per_node,
      ::testing::Contains(std::make_pair(std::string("10.0.0.22:1234"), std::string("2.0"))));
}

// A configured release wins over the registry's evidence.
TEST_F(ClusterManagerTest, AConfiguredReleaseIsNotDetected) {
  RegisterMaster("10.0.0.1:5678", "BUSY");
  RegisterMaster("10.0.0.2:5678");
  ClusterOptions options = Options();
  options.slot_policy.reset();
  options.dolphinscheduler_version = DsVersion::k3_3;
  ClusterManager* manager = StartManager(registry_.get(), options);
  ASSERT_EVENTUALLY(manager->ready() && manager->view()->masters.size() == 2);
  EXPECT_EQ(manager->view()->dolphinscheduler.version, DsVersion::k3_3);
  EXPECT_FALSE(manager->view()->dolphinscheduler.detected);
  EXPECT_THAT(manager->view()->slots.masters, ElementsAre("10.0.0.2:5678"))
      << "3.3: NORMAL masters only";
  EXPECT_THAT(manager->GetLeader(manager->Snapshot()), StatusIs(absl::StatusCode::kNotFound))
      << "3.3 has a coordinator; none is registered";
}

TEST_F(ClusterManagerTest, LeaderAndFencingToken) {
  RegisterMaster("10.0.0.1:5678");
  ClusterManager* manager = StartManager();
  ASSERT_EVENTUALLY(manager->ready());
  EXPECT_THAT(manager->GetLeader(manager->Snapshot()), StatusIs(absl::StatusCode::kNotFound));

  MemoryRegistry* leader = nodes_.at("10.0.0.1:5678").get();
  CreateOptions ephemeral;
  ephemeral.mode = CreateMode::kEphemeral;
  ASSERT_OK(leader->Create("/nodes/master-coordinator", "10.0.0.1:5678", ephemeral));
  ASSERT_EVENTUALLY(manager->GetLeader(manager->Snapshot()).ok());
  ASSERT_OK_AND_ASSIGN(LeaderAnswer first, manager->GetLeader(manager->Snapshot()));
  EXPECT_EQ(first.leader.address, "10.0.0.1:5678");
  ASSERT_NE(first.master, nullptr);

  Kill("10.0.0.1:5678");
  RegisterMaster("10.0.0.2:5678");
  ASSERT_OK(
      nodes_.at("10.0.0.2:5678")->Create("/nodes/master-coordinator", "10.0.0.2:5678", ephemeral));
  // Each check reads one answer: two queries may see two views.
  absl::StatusOr<LeaderAnswer> second;
  ASSERT_EVENTUALLY((second = manager->GetLeader(manager->Snapshot())).ok() &&
                    second->leader.address == "10.0.0.2:5678");
  EXPECT_GT(second->leader.fencing_token, first.leader.fencing_token);
}

}  // namespace
}  // namespace roster::cluster
