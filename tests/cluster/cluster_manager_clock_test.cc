// ClusterManager when clocks misbehave and when many nodes go quiet at once (docs/consistency.md,
// "Clock safety and self-preservation"): rosterd's own wall clock jumping by hours either way
// marks no node FAULT, a single writer with a wrong clock is still flagged, and a mass silence
// makes rosterd suspect its own view before the cluster. Also, on rosterd's clock standing
// still, which thread applies events that come close together (BurstDetector).
//
// Three clocks: rosterd's (FakeClock `clock_`, wall and monotonic movable apart), the registry
// server's (`zk_clock_`, which stamps every znode's mtime), and the DolphinScheduler nodes',
// which write reportTime from the server's wall time plus an offset of the test's choosing.
#include <pthread.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "cluster/cluster_manager.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "registry/memory/memory_registry.h"
#include "tests/cluster/cluster_test_util.h"
#include "tests/cluster/memory_cluster_fixture.h"
#include "tests/testing/eventually.h"
#include "tests/testing/status_matchers.h"

namespace roster::cluster {
namespace {

using ::roster::testing::HeartbeatJson;
using ::roster::testing::StatusIs;
using ::testing::HasSubstr;

const char* const kMasters[] = {"10.0.0.1:5678", "10.0.0.2:5678", "10.0.0.3:5678"};
const char* const kEtl[] = {"10.0.0.21:1234", "10.0.0.22:1234", "10.0.0.23:1234", "10.0.0.24:1234"};
const char* const kOthers[] = {"10.0.0.31:1234", "10.0.0.32:1234", "10.0.0.33:1234",
                               "10.0.0.34:1234"};

class ClusterManagerClockTest : public MemoryClusterTest {
 protected:
  void StopManagers() override { manager_.reset(); }

  ClusterOptions Options() {
    ClusterOptions options;
    options.clock = &clock_;
    options.run_timers = false;
    options.slot_policy = SlotPolicy::kStable;
    // The defaults under test: a 1 h clock-skew allowance, 10 s heartbeats, FAULT after 3
    // missed, self-preservation over half of a group (of 3 or more) within 30 s, held 2 min.
    EXPECT_EQ(options.heartbeat_limits.max_clock_skew, absl::Hours(1));
    return options;
  }

  // Timers on, on the fake clock, with the periodic tick and the resync an hour apart: only
  // the timers under test run.
  ClusterOptions TimersOnOptions() {
    ClusterOptions options = Options();
    options.run_timers = true;
    options.tick_interval = absl::Hours(1);
    options.resync_interval = absl::Hours(1);
    options.resync_jitter = 0;
    return options;
  }

  // The payload a DolphinScheduler node writes now, its clock `offset` from the server's. Every
  // node started an hour before the test, by a correct clock.
  std::string Payload(absl::string_view group, absl::Duration offset = absl::ZeroDuration()) {
    const int64_t now_ms = absl::ToUnixMillis(zk_clock_.WallNow() + offset);
    return HeartbeatJson("NORMAL", startup_ms_, 23817, now_ms, 0.2, 0.3, group);
  }

  void Register(const char* address, bool master, absl::string_view group = "") {
    const char* dir = master ? "/nodes/master" : "/nodes/worker";
    MemoryClusterTest::Register(dir, address, Payload(group));
    paths_[address] = absl::StrCat(dir, "/", address);
    groups_[address] = std::string(group);
  }

  // Three masters, four workers in group "etl", four in no group but "default".
  void StartCluster() { StartCluster(Options()); }
  void StartCluster(ClusterOptions options) {
    for (const char* address : kMasters) Register(address, /*master=*/true);
    for (const char* address : kEtl) Register(address, /*master=*/false, "etl");
    for (const char* address : kOthers) Register(address, /*master=*/false);
    manager_ = std::make_unique<ClusterManager>(registry_.get(), std::move(options));
    ASSERT_OK(manager_->Start());
    ASSERT_EVENTUALLY(manager_->ready() && manager_->view()->workers.size() == 8 &&
                      AllShown(NodeState::kRunning));
  }

  // `address` writes its heartbeat (its clock `offset` from the server's); returns once the
  // view shows the write, or shows the node held (a write that makes it FAULT may be hidden
  // behind its last good state).
  void Heartbeat(const std::string& address, absl::Duration offset = absl::ZeroDuration()) {
    absl::StatusOr<registry::Stat> stat =
        nodes_.at(address)->Set(paths_.at(address), Payload(groups_.at(address), offset));
    ASSERT_OK(stat.status());
    ASSERT_EVENTUALLY(ShowsWrite(address, stat->mzxid)) << address;
  }
  bool ShowsWrite(const std::string& address, int64_t mzxid) const {
    NodeInfoPtr node = manager_->view()->FindAny(address);
    return node != nullptr &&
           (node->mzxid >= mzxid || absl::StrContains(node->reason, "held by self-preservation"));
  }

  // Time passes for everyone, then rosterd's periodic tick runs.
  void Pass(absl::Duration d) {
    clock_.Advance(d);
    zk_clock_.Advance(d);
    manager_->TickNow();
  }

  NodeState Shown(absl::string_view address) const {
    NodeInfoPtr node = manager_->view()->FindAny(address);
    return node == nullptr ? static_cast<NodeState>(-1) : node->state;
  }
  bool AllShown(NodeState state) const {
    for (const auto& [address, session] : nodes_) {
      if (Shown(address) != state) return false;
    }
    return true;
  }
  // Every node's history, for a FAULT it may have passed through.
  int FaultsInHistory() const {
    int faults = 0;
    for (const auto& [address, session] : nodes_) {
      for (const Transition& t : *manager_->view()->FindAny(address)->history) {
        faults += t.to == NodeState::kFault;
      }
    }
    return faults;
  }

  const int64_t startup_ms_ = absl::ToUnixMillis(zk_clock_.WallNow() - absl::Hours(1));
  std::map<std::string, std::string> paths_;
  std::map<std::string, std::string> groups_;
  std::unique_ptr<ClusterManager> manager_;
};

TEST_F(ClusterManagerClockTest, RosterdsWallClockJumpingHoursEitherWayFaultsNoNode) {
  StartCluster();
  for (const absl::Duration jump : {-absl::Hours(6), absl::Hours(12)}) {
    // Backwards first: every reportTime is then 6 h ahead of rosterd's calendar clock.
    clock_.AdvanceWall(jump);
    for (int round = 0; round < 4; ++round) {
      Pass(absl::Seconds(10));
      for (const auto& [address, session] : nodes_) Heartbeat(address);
      manager_->TickNow();
      ASSERT_TRUE(AllShown(NodeState::kRunning))
          << "after a jump of " << absl::FormatDuration(jump) << ", round " << round;
    }
    EXPECT_EQ(FaultsInHistory(), 0) << "after a jump of " << absl::FormatDuration(jump);
    const ViewSnapshot at = manager_->Snapshot();
    EXPECT_FALSE(at.freshness.stale);
    EXPECT_FALSE(at.view->self_preservation.active);
    ASSERT_OK_AND_ASSIGN(SlotAnswer slot, manager_->GetMasterSlot(at, kMasters[1], {}));
    EXPECT_EQ(slot.slot, 1);
    EXPECT_EQ(slot.total, 3);
  }
}

TEST_F(ClusterManagerClockTest, ASilentWorkerIsFaultAtItsDeadlineNotAtTheNextTick) {
  // Only the deadline timer can time a node out here.
  ClusterOptions options = TimersOnOptions();
  options.publish_window = absl::ZeroDuration();  // the fake clock stands still between writes
  StartCluster(std::move(options));
  const std::string zombie = kEtl[0];
  // Everyone was heard at t0; at t0 + 10 s all but the zombie heartbeat. With 10 s intervals
  // and 3 missed, the zombie's deadline is t0 + 30 s, everyone else's t0 + 40 s.
  clock_.Advance(absl::Seconds(10));
  zk_clock_.Advance(absl::Seconds(10));
  for (const auto& [address, session] : nodes_) {
    if (address != zombie) Heartbeat(address);
  }
  clock_.Advance(absl::Seconds(20) - absl::Milliseconds(1));
  zk_clock_.Advance(absl::Seconds(20) - absl::Milliseconds(1));
  // A timer due now would run before this write is applied (the executor runs due timers
  // first), so once the view shows the write, the zombie's state 1 ms early is known.
  Heartbeat(kEtl[1]);
  EXPECT_EQ(Shown(zombie), NodeState::kRunning);

  clock_.Advance(absl::Milliseconds(1));
  ASSERT_EVENTUALLY(Shown(zombie) == NodeState::kFault);
  EXPECT_EQ(manager_->view()->FindAny(zombie)->reason, "no heartbeat for 30s (3 intervals of 10s)");
  for (const auto& [address, session] : nodes_) {
    if (address != zombie) {
      EXPECT_EQ(Shown(address), NodeState::kRunning) << address;
    }
  }
}

TEST_F(ClusterManagerClockTest, LoadOnlyHeartbeatsWaitForThePublishWindowStateChangesDoNot) {
  ClusterOptions options = TimersOnOptions();
  options.publish_window = absl::Milliseconds(10);
  StartCluster(std::move(options));
  clock_.Advance(absl::Seconds(1));  // the start-up publishes are a window ago
  // The first heartbeat after a quiet window is published at once.
  Heartbeat(kEtl[0]);
  // The next, a load figure only, waits: once its event is applied and a tick has run after
  // it (the fake clock standing still), the view still shows the old payload.
  const int64_t applied = manager_->events_applied();
  absl::StatusOr<registry::Stat> held = nodes_.at(kEtl[1])->Set(paths_.at(kEtl[1]), Payload("etl"));
  ASSERT_OK(held.status());
  ASSERT_EVENTUALLY(manager_->events_applied() > applied);
  manager_->TickNow();
  EXPECT_FALSE(ShowsWrite(kEtl[1], held->mzxid));
  // A state change is published at once, the held heartbeat with it.
  const std::string busy = HeartbeatJson("BUSY", startup_ms_, 23817,
                                         absl::ToUnixMillis(zk_clock_.WallNow()), 0.2, 0.3, "etl");
  absl::StatusOr<registry::Stat> changed = nodes_.at(kEtl[2])->Set(paths_.at(kEtl[2]), busy);
  ASSERT_OK(changed.status());
  ASSERT_EVENTUALLY(Shown(kEtl[2]) == NodeState::kOverload);
  EXPECT_TRUE(ShowsWrite(kEtl[1], held->mzxid));
  // Another load-only heartbeat is held until the window has passed on rosterd's clock.
  held = nodes_.at(kEtl[3])->Set(paths_.at(kEtl[3]), Payload("etl"));
  ASSERT_OK(held.status());
  ASSERT_EVENTUALLY(manager_->events_applied() > applied + 2);
  manager_->TickNow();
  EXPECT_FALSE(ShowsWrite(kEtl[3], held->mzxid));
  clock_.Advance(absl::Milliseconds(10));
  ASSERT_EVENTUALLY(ShowsWrite(kEtl[3], held->mzxid));
}

TEST_F(ClusterManagerClockTest, AWriterWhoseClockIsOffIsStillFlaggedAlone) {
  StartCluster();
  clock_.AdvanceWall(-absl::Hours(6));  // and whatever rosterd's own clock says
  Pass(absl::Seconds(10));
  for (const char* address : kOthers) Heartbeat(address);
  Heartbeat(kEtl[0], absl::Hours(3));  // this worker's clock is 3 h ahead of the server's
  ASSERT_EVENTUALLY(Shown(kEtl[0]) == NodeState::kFault);
  NodeInfoPtr bad = manager_->view()->FindAny(kEtl[0]);
  EXPECT_THAT(bad->reason, HasSubstr("reportTime"));
  EXPECT_THAT(bad->reason, HasSubstr("is 3h ahead of the registry's clock when it was written"));
  EXPECT_THAT(bad->reason, HasSubstr("--max_clock_skew_ms"));
  for (const char* address : kOthers) EXPECT_EQ(Shown(address), NodeState::kRunning) << address;
  EXPECT_FALSE(manager_->view()->self_preservation.active) << "1 of 4 is no wave";
  EXPECT_OK(manager_->GetMasterSlot(manager_->Snapshot(), kMasters[0], {}).status());

  // Its clock fixed, it comes back through probation.
  Heartbeat(kEtl[0]);
  EXPECT_EQ(Shown(kEtl[0]), NodeState::kRecovering);
}

// All workers of a group stop heartbeating while the rest of the cluster goes on.
TEST_F(ClusterManagerClockTest, AMassSilenceIsHeldAndSlotAnswersRefusedUntilTheNodesReturn) {
  StartCluster();
  for (int round = 0; round < 4; ++round) {
    Pass(absl::Seconds(10));
    for (const char* address : kMasters) Heartbeat(address);
    for (const char* address : kOthers) Heartbeat(address);
  }
  manager_->TickNow();
  const ViewSnapshot at = manager_->Snapshot();
  for (const char* address : kEtl) {
    NodeInfoPtr node = at.view->FindAny(address);
    EXPECT_EQ(node->state, NodeState::kRunning) << address << ": kept in its last good state";
    EXPECT_THAT(node->reason, HasSubstr("held by self-preservation"));
    EXPECT_THAT(node->reason, HasSubstr("no heartbeat for 30s"));
  }
  EXPECT_TRUE(at.view->self_preservation.active);
  EXPECT_TRUE(at.freshness.stale);
  EXPECT_THAT(at.freshness.self_preservation,
              HasSubstr("4 of 4 workers of group 'etl' went FAULT or OFFLINE within 30s"));
  EXPECT_THAT(manager_->GetMasterSlot(at, kMasters[0], {}),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("rather than empty the assignment"),
                             HasSubstr("self-preservation: holding 4 node(s)"))));
  EXPECT_THAT(manager_->GetLeader(at), StatusIs(absl::StatusCode::kUnavailable));
  SelectRequest etl;
  etl.group = "etl";
  EXPECT_OK(manager_->SelectWorker(at, etl).status()) << "lookups answer, flagged stale";

  // They were alive all along: they come back, the view shows the truth, answers resume.
  for (const char* address : kEtl) Heartbeat(address);
  ASSERT_EVENTUALLY(!manager_->view()->self_preservation.active);
  for (const char* address : kEtl) EXPECT_EQ(Shown(address), NodeState::kRecovering);
  EXPECT_OK(manager_->GetMasterSlot(manager_->Snapshot(), kMasters[0], {}).status());
}

TEST_F(ClusterManagerClockTest, AMassSilenceThatPersistsIsAcceptedAfterTheMaximumHold) {
  StartCluster();
  absl::Duration silent;
  while (!manager_->view()->self_preservation.active) {
    ASSERT_LT(silent, absl::Minutes(1)) << "never held";
    Pass(absl::Seconds(10));
    silent += absl::Seconds(10);
    for (const char* address : kMasters) Heartbeat(address);
    for (const char* address : kOthers) Heartbeat(address);
  }
  // Held for at most --self_preservation_max_hold_ms (2 min), then the outage is real.
  for (absl::Duration held; held < absl::Minutes(2); held += absl::Seconds(10)) {
    ASSERT_TRUE(manager_->view()->self_preservation.active) << "held " << held;
    Pass(absl::Seconds(10));
    for (const char* address : kMasters) Heartbeat(address);
    for (const char* address : kOthers) Heartbeat(address);
  }
  ASSERT_FALSE(manager_->view()->self_preservation.active);
  for (const char* address : kEtl) EXPECT_EQ(Shown(address), NodeState::kFault) << address;
  EXPECT_EQ(manager_->view()->FindGroup("etl")->selectable, 0);
  EXPECT_OK(manager_->GetMasterSlot(manager_->Snapshot(), kMasters[0], {}).status());
}

// rosterd itself was frozen (a VM pause, a stopped process) for longer than the heartbeat
// timeout: its monotonic clock jumps, and every node looks silent at once.
TEST_F(ClusterManagerClockTest, RosterdFrozenPastTheTimeoutSuspectsItselfNotTheCluster) {
  StartCluster();
  Pass(absl::Seconds(45));
  ASSERT_TRUE(manager_->view()->self_preservation.active);
  EXPECT_TRUE(AllShown(NodeState::kRunning)) << "every node kept in its last good state";
  EXPECT_EQ(manager_->view()->slots.masters.size(), 3u) << "the assignment is not emptied";
  EXPECT_THAT(manager_->GetMasterSlot(manager_->Snapshot(), kMasters[0], {}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("self-preservation")));

  for (const auto& [address, session] : nodes_) Heartbeat(address);
  ASSERT_EVENTUALLY(!manager_->view()->self_preservation.active);
  EXPECT_OK(manager_->GetMasterSlot(manager_->Snapshot(), kMasters[0], {}).status());
}

// The registry server's clock steps back 3 h: every heartbeat written since is "ahead", every
// node fails the same check at once.
TEST_F(ClusterManagerClockTest, EveryNodeFailingTheSameClockCheckIsHeld) {
  StartCluster();
  zk_clock_.AdvanceWall(-absl::Hours(3));
  Pass(absl::Seconds(10));
  for (const auto& [address, session] : nodes_) {
    Heartbeat(address, absl::Hours(3));  // the nodes' clocks did not move
  }
  manager_->TickNow();
  const ViewSnapshot at = manager_->Snapshot();
  EXPECT_TRUE(at.view->self_preservation.active);
  EXPECT_THAT(at.freshness.self_preservation, HasSubstr("3 of 3 masters"));
  EXPECT_THAT(at.freshness.self_preservation, HasSubstr("ahead of the registry's clock"));
  EXPECT_TRUE(AllShown(NodeState::kRunning));
  EXPECT_THAT(manager_->GetLeader(at), StatusIs(absl::StatusCode::kUnavailable));

  // An operator who knows better accepts the losses at once.
  EXPECT_EQ(manager_->AcceptHeldLosses("the registry's clock is being fixed"), 11);
  EXPECT_FALSE(manager_->view()->self_preservation.active);
  EXPECT_TRUE(AllShown(NodeState::kFault));
}

TEST_F(ClusterManagerClockTest, AGenuineSingleFailureIsHandledAsBefore) {
  StartCluster();
  for (int round = 0; round < 3; ++round) {
    Pass(absl::Seconds(10));
    for (const auto& [address, session] : nodes_) {
      if (address != kEtl[0]) Heartbeat(address);
    }
  }
  EXPECT_EQ(Shown(kEtl[0]), NodeState::kFault);
  EXPECT_THAT(manager_->view()->FindAny(kEtl[0])->reason, HasSubstr("no heartbeat for 30s"));
  EXPECT_EQ(manager_->view()->FindGroup("etl")->selectable, 3);

  // A master's session ends: OFFLINE, and the slots are recomputed without it.
  nodes_.at(kMasters[2])->Shutdown();
  nodes_.erase(kMasters[2]);
  ASSERT_EVENTUALLY(Shown(kMasters[2]) == NodeState::kOffline);
  const ViewSnapshot at = manager_->Snapshot();
  EXPECT_FALSE(at.view->self_preservation.active);
  ASSERT_OK_AND_ASSIGN(SlotAnswer slot, manager_->GetMasterSlot(at, kMasters[1], {}));
  EXPECT_EQ(slot.total, 2);
}

// A registry event that finds the manager idle is applied on the thread that delivers it (the
// registry session's executor, "rosterd" here), unless it is part of a burst: then the manager's
// own thread ("cluster") applies it, with the events that pile up behind it (BurstDetector).
// Which thread published each heartbeat shows which way it went: the watch below is delivered
// inline, on the publishing thread.
TEST_F(ClusterManagerClockTest, CloseEventsAreAppliedAtOnceUntilARunOfThemIsABurst) {
  StartCluster();
  const std::string worker = kEtl[0];
  absl::Mutex mu;
  std::vector<std::string> threads;  // the publishing thread of each batch showing `worker`
  WatchListener listener;
  listener.on_start = [](WatchStart) {};
  listener.on_changes = [&](const std::shared_ptr<const ChangeBatch>& batch) {
    for (const ClusterChange& change : *batch) {
      if (change.node == nullptr || change.node->address != worker) continue;
      char name[16] = {};
      pthread_getname_np(pthread_self(), name, sizeof(name));
      absl::MutexLock lock(&mu);
      threads.push_back(name);
      return;
    }
  };
  listener.on_lost = [](bool) { ADD_FAILURE() << "the watch fan-out lost changes"; };
  std::unique_ptr<ChangeWatch> watch = manager_->WatchChanges(0, std::move(listener));
  auto published = [&](size_t n) {
    absl::MutexLock lock(&mu);
    return threads.size() >= n;
  };

  // The watch sees a batch before the batch ends (BurstDetector::BatchDone(), which reads the
  // clock): advanced before that end, the clock would date it after the advance, and the next
  // heartbeat would be close to it. A read's answer comes on the registry's thread after the
  // task that applied the batch there, so it is past the end.
  auto batch_ended = [&] {
    absl::Notification read;
    registry_->GetAsync(paths_.at(worker), [&](absl::StatusOr<registry::Node>) { read.Notify(); });
    read.WaitForNotification();
  };
  auto heartbeat_apart = [&] {
    const size_t before = [&] {
      absl::MutexLock lock(&mu);
      return threads.size();
    }();
    batch_ended();
    clock_.Advance(absl::Milliseconds(1));
    Heartbeat(worker);
    ASSERT_EVENTUALLY(published(before + 1));
  };
  // The manager's thread may still be busy with the start-up's tasks, and an event that finds
  // it busy is queued behind them: warm up until one is applied on the registry's thread.
  for (int i = 0; i < 10; ++i) {
    heartbeat_apart();
    absl::MutexLock lock(&mu);
    if (!threads.empty() && threads.back() == "rosterd") break;
  }
  {
    absl::MutexLock lock(&mu);
    ASSERT_FALSE(threads.empty());
    ASSERT_EQ(threads.back(), "rosterd");
    threads.clear();
  }

  // Apart on rosterd's clock: each heartbeat alone, applied on the registry's thread.
  constexpr size_t kApart = 4;
  for (size_t i = 0; i < kApart; ++i) heartbeat_apart();
  // The fake clock standing still: every heartbeat comes within the gap of the last batch. The
  // first BurstDetector::kInlineRun of the run are applied at once, the rest are posted.
  constexpr size_t kClose = 8;
  for (size_t i = 0; i < kClose; ++i) {
    Heartbeat(worker);
    ASSERT_EVENTUALLY(published(kApart + i + 1));
  }
  absl::MutexLock lock(&mu);
  ASSERT_EQ(threads.size(), kApart + kClose);
  const std::vector<std::string> apart(threads.begin(), threads.begin() + kApart);
  EXPECT_EQ(apart, std::vector<std::string>(kApart, "rosterd"));
  const std::vector<std::string> close(threads.begin() + kApart, threads.end());
  std::vector<std::string> expected(BurstDetector::kInlineRun, "rosterd");
  expected.resize(kClose, "cluster");
  EXPECT_EQ(close, expected) << "applied at once first, then posted";
}

}  // namespace
}  // namespace roster::cluster
