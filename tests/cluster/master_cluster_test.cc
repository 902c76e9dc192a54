// MasterCluster: the slot rule, slot lookups, the leader, and a randomized model-based test of
// slot assignment against a simple reference model.
#include "cluster/master_cluster.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/cluster/cluster_test_util.h"
#include "tests/testing/status_matchers.h"

namespace roster::cluster {
namespace {

using registry::EventType;
using ::roster::testing::HeartbeatJson;
using ::roster::testing::NodeEvent;
using ::roster::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kMasters[] = "/nodes/master";
constexpr char kCoordinator[] = "/nodes/master-coordinator";

NodeTableOptions MasterOptions() {
  NodeTableOptions options;
  options.role = NodeRole::kMaster;
  options.limits.max_clock_skew = absl::Hours(24 * 365 * 100);  // payload times are fixed
  return options;
}

// Drives one MasterCluster with synthetic events and a hand-moved clock.
class MasterHarness {
 public:
  MasterHarness() : options_(MasterOptions()), cluster_(kMasters, kCoordinator, &options_) {}

  void Apply(const registry::RegistryEvent& event) {
    cluster_.ApplyMaster(event, now_, wall_);
    Derive();
  }
  void Advance(absl::Duration d) {
    now_ += d;
    wall_ += d;
    std::vector<NodeChange> changes;
    cluster_.table().Tick(now_, wall_, &changes);
  }
  void Derive() {
    std::vector<NodeChange> changes;
    cluster_.table().Derive(now_, wall_, &changes);
  }
  ClusterView View() {
    ClusterView view;
    view.masters = NodeList(cluster_.table().Snapshot());
    view.slots = MasterCluster::ComputeSlots(view.masters);
    view.leader = cluster_.leader();
    return view;
  }
  MasterCluster& cluster() { return cluster_; }
  const NodeTableOptions& options() const { return options_; }

 private:
  NodeTableOptions options_;
  MasterCluster cluster_;
  absl::Time now_ = absl::UnixEpoch() + absl::Hours(1);
  absl::Time wall_ = absl::FromUnixMillis(1729238650456);
};

std::string Path(absl::string_view address) { return absl::StrCat(kMasters, "/", address); }

TEST(MasterClusterTest, SlotsAreSortedByAddressWhateverTheArrivalOrder) {
  MasterHarness h;
  int64_t zxid = 100;
  for (const char* address : {"10.0.0.3:5678", "10.0.0.1:5678", "10.0.0.2:5678"}) {
    ++zxid;
    h.Apply(NodeEvent(EventType::kAdded, Path(address), HeartbeatJson("NORMAL"), zxid, zxid));
  }
  ClusterView view = h.View();
  EXPECT_THAT(view.slots.masters, ElementsAre("10.0.0.1:5678", "10.0.0.2:5678", "10.0.0.3:5678"));
  EXPECT_EQ(view.slots.SlotOf("10.0.0.2:5678"), 1);
  EXPECT_NE(view.slots.epoch, 0u);
}

TEST(MasterClusterTest, BusyMasterKeepsItsSlot) {
  // DolphinScheduler #18570: an overloaded master lost its slot and its share of work.
  MasterHarness h;
  h.Apply(NodeEvent(EventType::kAdded, Path("10.0.0.1:5678"), HeartbeatJson("NORMAL"), 1, 1));
  h.Apply(NodeEvent(EventType::kAdded, Path("10.0.0.2:5678"), HeartbeatJson("NORMAL"), 2, 2));
  const uint64_t epoch = h.View().slots.epoch;
  h.Apply(NodeEvent(EventType::kUpdated, Path("10.0.0.1:5678"), HeartbeatJson("BUSY"), 1, 3));
  ClusterView view = h.View();
  EXPECT_EQ(view.Find(NodeRole::kMaster, "10.0.0.1:5678")->state, NodeState::kOverload);
  EXPECT_THAT(view.slots.masters, ElementsAre("10.0.0.1:5678", "10.0.0.2:5678"));
  EXPECT_EQ(view.slots.epoch, epoch) << "the assignment did not change";
}

TEST(MasterClusterTest, FaultyMasterLosesItsSlotAndRecoveringOneGetsItBack) {
  MasterHarness h;
  h.Apply(NodeEvent(EventType::kAdded, Path("10.0.0.1:5678"), HeartbeatJson("NORMAL"), 1, 1));
  h.Apply(NodeEvent(EventType::kAdded, Path("10.0.0.2:5678"), HeartbeatJson("NORMAL"), 2, 2));
  const uint64_t two = h.View().slots.epoch;
  int64_t zxid = 2;
  // 10.0.0.2 keeps heartbeating; 10.0.0.1 goes silent for K intervals.
  for (int i = 0; i < h.options().timing.missed_heartbeats; ++i) {
    h.Apply(
        NodeEvent(EventType::kUpdated, Path("10.0.0.2:5678"), HeartbeatJson("NORMAL"), 2, ++zxid));
    h.Advance(h.options().timing.heartbeat_interval);
  }
  ClusterView view = h.View();
  EXPECT_EQ(view.Find(NodeRole::kMaster, "10.0.0.1:5678")->state, NodeState::kFault);
  EXPECT_THAT(view.slots.masters, ElementsAre("10.0.0.2:5678"));
  EXPECT_NE(view.slots.epoch, two);

  h.Apply(
      NodeEvent(EventType::kUpdated, Path("10.0.0.1:5678"), HeartbeatJson("NORMAL"), 1, ++zxid));
  view = h.View();
  EXPECT_EQ(view.Find(NodeRole::kMaster, "10.0.0.1:5678")->state, NodeState::kRecovering);
  EXPECT_THAT(view.slots.masters, ElementsAre("10.0.0.1:5678", "10.0.0.2:5678"));
  EXPECT_EQ(view.slots.epoch, two) << "same members, same incarnations, same epoch";
}

TEST(MasterClusterTest, LookupSlotErrorsSayWhy) {
  MasterHarness h;
  h.Apply(NodeEvent(EventType::kAdded, Path("10.0.0.1:5678"),
                    HeartbeatJson("NORMAL", /*startup_time_ms=*/5000, /*process_id=*/7), 1, 1));
  h.Apply(NodeEvent(EventType::kAdded, Path("10.0.0.2:5678"), "{not json", 2, 2));
  ClusterView view = h.View();

  ASSERT_OK_AND_ASSIGN(SlotAnswer answer, MasterCluster::LookupSlot(view, "10.0.0.1:5678", {}));
  EXPECT_EQ(answer.slot, 0);
  EXPECT_EQ(answer.total, 1);
  EXPECT_EQ(answer.epoch, view.slots.epoch);

  EXPECT_THAT(MasterCluster::LookupSlot(view, "10.0.0.9:5678", {}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not registered")));
  EXPECT_THAT(MasterCluster::LookupSlot(view, "10.0.0.2:5678", {}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("holds no slot: it is FAULT: heartbeat rejected")));
  // A replaced process asking with its old identity is refused, not handed the slot.
  EXPECT_THAT(MasterCluster::LookupSlot(view, "10.0.0.1:5678", IncarnationClaim{4000, 3}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("stale incarnation")));
  EXPECT_THAT(MasterCluster::LookupSlot(view, "10.0.0.1:5678", IncarnationClaim{6000, 9}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("retry")));
  EXPECT_OK(MasterCluster::LookupSlot(view, "10.0.0.1:5678", IncarnationClaim{5000, 7}));
}

TEST(MasterClusterTest, LeaderComesFromTheCoordinatorZnodeWithItsCzxidAsToken) {
  MasterHarness h;
  registry::RegistryEvent coordinator =
      NodeEvent(EventType::kAdded, kCoordinator, "10.0.0.2:5678\n", 40, 40);
  coordinator.stat.ctime_ms = 1729238400999;
  h.cluster().ApplyCoordinator(coordinator);
  EXPECT_TRUE(h.cluster().leader().present);
  EXPECT_EQ(h.cluster().leader().address, "10.0.0.2:5678");
  EXPECT_EQ(h.cluster().leader().fencing_token, 40);
  EXPECT_EQ(h.cluster().leader().since_ms, 1729238400999);

  h.cluster().ApplyCoordinator(NodeEvent(EventType::kRemoved, kCoordinator, "", 40, 40));
  EXPECT_FALSE(h.cluster().leader().present);
  h.cluster().ApplyCoordinator(NodeEvent(EventType::kAdded, kCoordinator, "10.0.0.1:5678", 77, 77));
  EXPECT_EQ(h.cluster().leader().fencing_token, 77) << "a later leader has a larger token";

  h.cluster().ApplyCoordinator(NodeEvent(EventType::kUpdated, kCoordinator, "garbage", 77, 78));
  EXPECT_FALSE(h.cluster().leader().present);
  EXPECT_THAT(h.cluster().leader_problem(), HasSubstr("does not hold host:port"));
}

// ---------------------------------------------------------------------------------------------
// Slot policies, with expectations worked by hand from DolphinScheduler's code.
//
// java.lang.String#hashCode of the addresses below, and their java.util.HashMap bucket in a
// table of 16 ((h ^ h >>> 16) & 15), worked out once:
//   10.0.0.1:5678  0x9e0b4996  bucket 13
//   10.0.0.2:5678  0x9fc02235  bucket  5
//   10.0.0.3:5678  0xa174fad4  bucket  0
//   10.0.0.4:5678  0xa329d373  bucket 10
// so RegistryClient#getServerMaps iterates them as .3, .2, .4, .1, and that is the order in
// which they enter MasterPriorityQueue (PriorityBlockingQueue, sift-up by startupTime
// descending).

using roster::v1::Heartbeat;

NodeInfoPtr Master(absl::string_view address, int64_t startup_time_ms,
                   Heartbeat::ServerStatus status, NodeState state, int64_t czxid) {
  auto master = std::make_shared<NodeInfo>();
  master->address = std::string(address);
  master->role = NodeRole::kMaster;
  master->state = state;
  master->paths = {Path(address)};
  master->incarnation = Incarnation{czxid, startup_time_ms, 1};
  master->heartbeat.set_server_status(status);
  master->heartbeat.set_startup_time_ms(startup_time_ms);
  master->has_heartbeat = true;
  return master;
}

std::vector<std::string> Slots(const NodeList& masters, SlotPolicy policy) {
  return MasterCluster::ComputeSlots(masters, policy).masters;
}

TEST(SlotPolicyTest, NamesRoundTripAndBadNamesSayWhatIsValid) {
  for (SlotPolicy policy :
       {SlotPolicy::kStable, SlotPolicy::kDolphin31, SlotPolicy::kDolphin320,
        SlotPolicy::kDolphin321, SlotPolicy::kDolphin322, SlotPolicy::kDolphin33}) {
    ASSERT_OK_AND_ASSIGN(SlotPolicy parsed, ParseSlotPolicy(SlotPolicyName(policy)));
    EXPECT_EQ(parsed, policy) << SlotPolicyName(policy);
  }
  EXPECT_EQ(SlotPolicyName(SlotPolicy::kDolphin322), "dolphinscheduler-3.2.2");
  EXPECT_THAT(ParseSlotPolicy("dolphinscheduler-3.0"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown slot policy 'dolphinscheduler-3.0' (expected stable, ")));
  EXPECT_THAT(ParseSlotPolicy("dolphinscheduler-3.2"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("name the patch release")));
  EXPECT_THAT(ParseCoordinatorMode("zk"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'zk'")));
  ASSERT_OK_AND_ASSIGN(CoordinatorMode mode, ParseCoordinatorMode("znode"));
  EXPECT_EQ(mode, CoordinatorMode::kZnode);
}

TEST(SlotPolicyTest, QueueOrderIsTheHeapArrayNotASortUntil322) {
  // .1 started last (3000), .2 at 2000, .3 first (1000). Puts in map order .3, .2, .1:
  //   put .3 -> [.3]; put .2 (newer than .3) -> [.2 .3]; put .1 (newer than .2) -> [.1 .3 .2]
  const NodeList masters = {
      Master("10.0.0.1:5678", 3000, Heartbeat::NORMAL, NodeState::kRunning, 11),
      Master("10.0.0.2:5678", 2000, Heartbeat::NORMAL, NodeState::kRunning, 12),
      Master("10.0.0.3:5678", 1000, Heartbeat::NORMAL, NodeState::kRunning, 13)};
  const std::vector<std::string> heap = {"10.0.0.1:5678", "10.0.0.3:5678", "10.0.0.2:5678"};
  const std::vector<std::string> sorted = {"10.0.0.1:5678", "10.0.0.2:5678", "10.0.0.3:5678"};
  EXPECT_EQ(Slots(masters, SlotPolicy::kDolphin31), heap);
  EXPECT_EQ(Slots(masters, SlotPolicy::kDolphin320), heap);
  EXPECT_EQ(Slots(masters, SlotPolicy::kDolphin321), heap);
  // getOrderedElements (3.2.2) sorts by startupTime descending.
  EXPECT_EQ(Slots(masters, SlotPolicy::kDolphin322), sorted);
  // By address (3.3, stable): here the same as by startupTime.
  EXPECT_EQ(Slots(masters, SlotPolicy::kDolphin33), sorted);
  EXPECT_EQ(Slots(masters, SlotPolicy::kStable), sorted);
  // The epoch follows the order: same members, different assignment.
  EXPECT_NE(MasterCluster::ComputeSlots(masters, SlotPolicy::kDolphin321).epoch,
            MasterCluster::ComputeSlots(masters, SlotPolicy::kDolphin322).epoch);
  EXPECT_EQ(MasterCluster::ComputeSlots(masters, SlotPolicy::kDolphin33).epoch,
            MasterCluster::ComputeSlots(masters, SlotPolicy::kStable).epoch);
}

TEST(SlotPolicyTest, EachReleaseFiltersItsOwnStatuses) {
  // .1 NORMAL 3000, .2 BUSY 2000, .3 ABNORMAL 1000, .4 NORMAL 4000; map order .3 .2 .4 .1.
  const NodeList masters = {
      Master("10.0.0.1:5678", 3000, Heartbeat::NORMAL, NodeState::kRunning, 11),
      Master("10.0.0.2:5678", 2000, Heartbeat::BUSY, NodeState::kOverload, 12),
      Master("10.0.0.3:5678", 1000, Heartbeat::ABNORMAL, NodeState::kOverload, 13),
      Master("10.0.0.4:5678", 4000, Heartbeat::NORMAL, NodeState::kRunning, 14)};
  // 3.1, everyone: [.3] [.2 .3] [.4 .3 .2] then .1 at index 3 passes .3 (parent at 1), not
  // .4: [.4 .1 .2 .3].
  EXPECT_THAT(Slots(masters, SlotPolicy::kDolphin31),
              ElementsAre("10.0.0.4:5678", "10.0.0.1:5678", "10.0.0.2:5678", "10.0.0.3:5678"));
  // 3.2.0 drops ABNORMAL .3: puts .2 .4 .1: [.2] [.4 .2] [.4 .2 .1].
  EXPECT_THAT(Slots(masters, SlotPolicy::kDolphin320),
              ElementsAre("10.0.0.4:5678", "10.0.0.2:5678", "10.0.0.1:5678"));
  // 3.2.1 drops BUSY .2 and keeps ABNORMAL .3: puts .3 .4 .1: [.3] [.4 .3] [.4 .3 .1].
  EXPECT_THAT(Slots(masters, SlotPolicy::kDolphin321),
              ElementsAre("10.0.0.4:5678", "10.0.0.3:5678", "10.0.0.1:5678"));
  // 3.2.2 sorts that: 4000, 3000, 1000.
  EXPECT_THAT(Slots(masters, SlotPolicy::kDolphin322),
              ElementsAre("10.0.0.4:5678", "10.0.0.1:5678", "10.0.0.3:5678"));
  // 3.3: NORMAL only, by address.
  EXPECT_THAT(Slots(masters, SlotPolicy::kDolphin33),
              ElementsAre("10.0.0.1:5678", "10.0.0.4:5678"));
  // stable: every live master, overloaded ones included (#18570), by address.
  EXPECT_THAT(Slots(masters, SlotPolicy::kStable),
              ElementsAre("10.0.0.1:5678", "10.0.0.2:5678", "10.0.0.3:5678", "10.0.0.4:5678"));
}

TEST(SlotPolicyTest, EqualStartupTimesKeepTheHashMapOrderNotTheAddressOrder) {
  // The comparator returns 0 for equal startupTimes; sift-up stops at >= 0, so nothing moves
  // and the queue keeps the map order .3 .2 .1; 3.2.2's stable sort keeps it too.
  const NodeList masters = {
      Master("10.0.0.1:5678", 1000, Heartbeat::NORMAL, NodeState::kRunning, 11),
      Master("10.0.0.2:5678", 1000, Heartbeat::NORMAL, NodeState::kRunning, 12),
      Master("10.0.0.3:5678", 1000, Heartbeat::NORMAL, NodeState::kRunning, 13)};
  for (SlotPolicy policy : {SlotPolicy::kDolphin31, SlotPolicy::kDolphin320,
                            SlotPolicy::kDolphin321, SlotPolicy::kDolphin322}) {
    EXPECT_THAT(Slots(masters, policy),
                ElementsAre("10.0.0.3:5678", "10.0.0.2:5678", "10.0.0.1:5678"))
        << SlotPolicyName(policy);
  }
}

TEST(SlotPolicyTest, WhatDolphinSchedulerSeesHoldsASlotWhatRosterAloneKnowsDoesNot) {
  NodeInfoPtr silent = Master("10.0.0.1:5678", 3000, Heartbeat::NORMAL, NodeState::kFault, 11);
  auto drained = std::make_shared<NodeInfo>(
      *Master("10.0.0.2:5678", 2000, Heartbeat::NORMAL, NodeState::kOffline, 12));
  drained->drained = true;
  auto registering = std::make_shared<NodeInfo>(*Master(
      "10.0.0.3:5678", 0, Heartbeat::SERVER_STATUS_UNSPECIFIED, NodeState::kRegistering, 0));
  registering->has_heartbeat = false;
  auto tombstone = std::make_shared<NodeInfo>(
      *Master("10.0.0.4:5678", 4000, Heartbeat::NORMAL, NodeState::kOffline, 14));
  tombstone->paths = {};
  const NodeList masters = {silent, drained, registering, tombstone};
  // DolphinScheduler never notices silence nor drains; a znode without a payload has no
  // startupTime; a tombstone has no znode. Map order of the three znodes: .3 .2 .1.
  for (SlotPolicy policy :
       {SlotPolicy::kDolphin31, SlotPolicy::kDolphin320, SlotPolicy::kDolphin321,
        SlotPolicy::kDolphin322, SlotPolicy::kDolphin33}) {
    EXPECT_THAT(Slots(masters, policy), ElementsAre("10.0.0.1:5678", "10.0.0.2:5678"))
        << SlotPolicyName(policy);
  }
  EXPECT_THAT(Slots(masters, SlotPolicy::kStable), ::testing::IsEmpty());
}

TEST(SlotPolicyTest, AHeartbeatWithoutStatusPassesOnlyThe31Rule) {
  // 3.1 masters send no serverStatus; 3.2.x would dereference the null status, 3.3 compares it
  // with NORMAL.
  const NodeList masters = {
      Master("10.0.0.1:5678", 3000, Heartbeat::SERVER_STATUS_UNSPECIFIED, NodeState::kRunning, 11),
      Master("10.0.0.2:5678", 2000, Heartbeat::NORMAL, NodeState::kRunning, 12)};
  EXPECT_THAT(Slots(masters, SlotPolicy::kDolphin31),
              ElementsAre("10.0.0.1:5678", "10.0.0.2:5678"));
  for (SlotPolicy policy : {SlotPolicy::kDolphin320, SlotPolicy::kDolphin321,
                            SlotPolicy::kDolphin322, SlotPolicy::kDolphin33}) {
    EXPECT_THAT(Slots(masters, policy), ElementsAre("10.0.0.2:5678")) << SlotPolicyName(policy);
  }
}

TEST(SlotPolicyTest, LookupKeepsIncarnationChecksUnderADolphinPolicy) {
  MasterHarness h;
  h.Apply(NodeEvent(EventType::kAdded, Path("10.0.0.1:5678"),
                    HeartbeatJson("NORMAL", /*startup_time_ms=*/3000, /*process_id=*/7), 1, 1));
  h.Apply(NodeEvent(EventType::kAdded, Path("10.0.0.3:5678"),
                    HeartbeatJson("BUSY", /*startup_time_ms=*/1000, /*process_id=*/8), 2, 2));
  h.Apply(NodeEvent(EventType::kAdded, Path("10.0.0.2:5678"),
                    HeartbeatJson("NORMAL", /*startup_time_ms=*/2000, /*process_id=*/9), 3, 3));
  ClusterView view = h.View();
  view.slots = MasterCluster::ComputeSlots(view.masters, SlotPolicy::kDolphin31);
  // Queue [.1 .3 .2] as in QueueOrderIsTheHeapArrayNotASortUntil322.
  ASSERT_OK_AND_ASSIGN(SlotAnswer answer,
                       MasterCluster::LookupSlot(view, "10.0.0.2:5678", IncarnationClaim{2000, 9}));
  EXPECT_EQ(answer.slot, 2);
  EXPECT_EQ(answer.total, 3);
  EXPECT_EQ(answer.epoch, view.slots.epoch);
  EXPECT_THAT(MasterCluster::LookupSlot(view, "10.0.0.2:5678", IncarnationClaim{1500, 9}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("stale incarnation")));

  view.slots = MasterCluster::ComputeSlots(view.masters, SlotPolicy::kDolphin322);
  EXPECT_THAT(MasterCluster::LookupSlot(view, "10.0.0.3:5678", {}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("holds no slot")));
  ASSERT_OK_AND_ASSIGN(answer, MasterCluster::LookupSlot(view, "10.0.0.2:5678", {}));
  EXPECT_EQ(answer.slot, 1);
  EXPECT_EQ(answer.total, 2);
}

// ---------------------------------------------------------------------------------------------
// The coordinator.

registry::RegistryEvent Coordinator(std::string data, int64_t czxid, int64_t session) {
  registry::RegistryEvent event =
      NodeEvent(EventType::kAdded, kCoordinator, std::move(data), czxid, czxid);
  event.stat.ephemeral_owner = session;
  event.stat.ctime_ms = 1729238400999;
  return event;
}

TEST(CoordinatorTest, Dolphin32HasNoCoordinatorAndSaysSo) {
  MasterHarness h;
  h.cluster().ApplyCoordinator(Coordinator("10.0.0.1:5678", 40, 0x1234));
  EXPECT_THAT(MasterCluster::LookupLeader(h.View(), CoordinatorMode::kNone, kCoordinator),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("DolphinScheduler up to 3.2.2 has no coordinator")));
}

TEST(CoordinatorTest, NoZnodeIsNotFoundAndGarbageIsAProblemNamed) {
  MasterHarness h;
  EXPECT_THAT(MasterCluster::LookupLeader(h.View(), CoordinatorMode::kZnode, kCoordinator),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(kCoordinator)));
  h.cluster().ApplyCoordinator(Coordinator("not an address", 40, 0x1234));
  EXPECT_THAT(MasterCluster::LookupLeader(h.View(), CoordinatorMode::kZnode, kCoordinator),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("does not hold host:port[#millis]")));
  h.cluster().ApplyCoordinator(Coordinator("10.0.0.1:5678#soon", 41, 0x1234));
  EXPECT_THAT(MasterCluster::LookupLeader(h.View(), CoordinatorMode::kZnode, kCoordinator),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("'soon' after '#'")));
}

TEST(CoordinatorTest, TheLiveMastersSessionHoldsAValidToken) {
  MasterHarness h;
  h.Apply(NodeEvent(EventType::kAdded, Path("10.0.0.1:5678"), HeartbeatJson("NORMAL"), 5, 5));
  h.cluster().ApplyCoordinator(Coordinator("10.0.0.1:5678\n", 40, 0x1234));  // NodeEvent's session
  ASSERT_OK_AND_ASSIGN(LeaderLookup answer, MasterCluster::LookupLeader(
                                                h.View(), CoordinatorMode::kZnode, kCoordinator));
  EXPECT_TRUE(answer.leader.valid) << answer.leader.problem;
  EXPECT_EQ(answer.leader.problem, "");
  EXPECT_EQ(answer.leader.address, "10.0.0.1:5678");
  EXPECT_EQ(answer.leader.fencing_token, 40);
  EXPECT_EQ(answer.leader.holder_session, 0x1234);
  EXPECT_EQ(answer.leader.claimed_at_ms, 0);
  ASSERT_NE(answer.master, nullptr);
  EXPECT_EQ(answer.master->ephemeral_owner, 0x1234);
}

TEST(CoordinatorTest, MillisSuffixIsAcceptedAndKept) {
  MasterHarness h;
  h.Apply(NodeEvent(EventType::kAdded, Path("10.0.0.1:5678"), HeartbeatJson("NORMAL"), 5, 5));
  h.cluster().ApplyCoordinator(Coordinator("10.0.0.1:5678#1729238400123", 40, 0x1234));
  ASSERT_OK_AND_ASSIGN(LeaderLookup answer, MasterCluster::LookupLeader(
                                                h.View(), CoordinatorMode::kZnode, kCoordinator));
  EXPECT_TRUE(answer.leader.valid) << answer.leader.problem;
  EXPECT_EQ(answer.leader.address, "10.0.0.1:5678");
  EXPECT_EQ(answer.leader.claimed_at_ms, 1729238400123);
}

TEST(CoordinatorTest, APredecessorsSessionOrAGoneMasterIsNotAValidLeader) {
  // DolphinScheduler #18644: the master restarted at the same address (new session 0x1234)
  // while the coordinator znode still belongs to its predecessor's session 0x99.
  MasterHarness h;
  h.Apply(NodeEvent(EventType::kAdded, Path("10.0.0.1:5678"), HeartbeatJson("NORMAL"), 50, 50));
  h.cluster().ApplyCoordinator(Coordinator("10.0.0.1:5678", 40, 0x99));
  ASSERT_OK_AND_ASSIGN(LeaderLookup answer, MasterCluster::LookupLeader(
                                                h.View(), CoordinatorMode::kZnode, kCoordinator));
  EXPECT_FALSE(answer.leader.valid);
  EXPECT_EQ(answer.leader.fencing_token, 40) << "shown, flagged as not valid";
  EXPECT_THAT(answer.leader.problem,
              HasSubstr("belongs to session 0x99, but the master at '10.0.0.1:5678' is "
                        "registered by session 0x1234"));
  EXPECT_THAT(answer.leader.problem, HasSubstr("#18644"));

  // Its master is gone altogether.
  h.Apply(NodeEvent(EventType::kRemoved, Path("10.0.0.1:5678"), "", 50, 50));
  h.cluster().ApplyCoordinator(Coordinator("10.0.0.1:5678", 40, 0x1234));
  ASSERT_OK_AND_ASSIGN(
      answer, MasterCluster::LookupLeader(h.View(), CoordinatorMode::kZnode, kCoordinator));
  EXPECT_FALSE(answer.leader.valid);
  EXPECT_THAT(answer.leader.problem, HasSubstr("no master is registered at '10.0.0.1:5678'"));

  // A persistent znode outlives any holder.
  h.Apply(NodeEvent(EventType::kAdded, Path("10.0.0.1:5678"), HeartbeatJson("NORMAL"), 60, 60));
  h.cluster().ApplyCoordinator(Coordinator("10.0.0.1:5678", 40, 0));
  ASSERT_OK_AND_ASSIGN(
      answer, MasterCluster::LookupLeader(h.View(), CoordinatorMode::kZnode, kCoordinator));
  EXPECT_FALSE(answer.leader.valid);
  EXPECT_THAT(answer.leader.problem, HasSubstr("is persistent"));
}

// The reference model: which masters must hold a slot, computed without the state machine.
// A master is eligible when its znode exists, its last payload was a valid heartbeat, and it
// has not been found silent (K intervals without a data change, noticed at a tick) since.
struct ModelMaster {
  bool present = false;
  bool heartbeating = false;
  bool busy = false;
  bool last_valid = false;
  bool faulted = false;
  int64_t czxid = 0;
  // The incarnation's (startupTime, processId): the ADDED payload and every later heartbeat
  // of one incarnation carry the same pair, as a real process writes them.
  int64_t startup = 0;
  int32_t process_id = 0;
  absl::Time last_change;
};

// A master that just registered: znode `czxid`, a process started at `startup`.
ModelMaster Joined(int64_t czxid, int64_t startup, int32_t process_id, absl::Time now) {
  ModelMaster m;
  m.present = true;
  m.heartbeating = true;
  m.last_valid = true;
  m.czxid = czxid;
  m.startup = startup;
  m.process_id = process_id;
  m.last_change = now;
  return m;
}

TEST(MasterClusterModelTest, RandomJoinsLeavesBusyFaultsRestartsNeverDuplicateOrDropASlot) {
  uint32_t seed = std::random_device{}();
  if (const char* env = std::getenv("ROSTER_TEST_SEED")) seed = std::strtoul(env, nullptr, 10);
  SCOPED_TRACE(absl::StrCat("seed ", seed, " (rerun with ROSTER_TEST_SEED=", seed, ")"));
  std::mt19937 rng(seed);

  constexpr int kSteps = 12000;
  constexpr int kAddresses = 9;
  MasterHarness a;
  MasterHarness b;  // a second replica fed the same events must agree on everything
  const NodeTimingOptions& timing = a.options().timing;
  std::map<std::string, ModelMaster> model;
  std::vector<std::string> addresses;
  for (int i = 0; i < kAddresses; ++i) addresses.push_back(absl::StrCat("10.0.1.", i, ":5678"));
  absl::Time now = absl::UnixEpoch() + absl::Hours(1);
  int64_t zxid = 0;
  int64_t report = 1729238650456;

  auto apply = [&](const registry::RegistryEvent& event) {
    a.Apply(event);
    b.Apply(event);
  };
  auto heartbeat = [&](const std::string& address, ModelMaster& m, bool valid) {
    const std::string payload =
        valid ? HeartbeatJson(m.busy ? "BUSY" : "NORMAL", m.startup, m.process_id, ++report)
              : "[1, 2";
    apply(NodeEvent(EventType::kUpdated, Path(address), payload, m.czxid, ++zxid));
    m.last_change = now;
    m.last_valid = valid;
    if (valid) m.faulted = false;
  };
  int slot_changes = 0;
  uint64_t last_epoch = 0;
  for (int step = 0; step < kSteps; ++step) {
    const std::string& address = addresses[rng() % kAddresses];
    ModelMaster& m = model[address];
    switch (rng() % 8) {
      case 0:  // join
        if (!m.present) {
          m = Joined(++zxid, 1000 + step, 100 + step, now);
          apply(NodeEvent(EventType::kAdded, Path(address),
                          HeartbeatJson("NORMAL", m.startup, m.process_id), m.czxid, m.czxid));
        }
        break;
      case 1:  // leave: the session ended
        if (m.present) {
          apply(NodeEvent(EventType::kRemoved, Path(address), "", m.czxid, zxid));
          m.present = false;
        }
        break;
      case 2:  // busy or normal again
        if (m.present && m.heartbeating) {
          m.busy = !m.busy;
          heartbeat(address, m, true);
        }
        break;
      case 3:  // stop heartbeating (hung process, znode still there)
        m.heartbeating = false;
        break;
      case 4:  // resume
        if (m.present && !m.heartbeating) {
          m.heartbeating = true;
          heartbeat(address, m, true);
        }
        break;
      case 5:  // a bad payload
        if (m.present) heartbeat(address, m, false);
        break;
      case 6:  // restart: a new znode and a new process
        if (m.present) {
          apply(NodeEvent(EventType::kRemoved, Path(address), "", m.czxid, zxid));
          m = Joined(++zxid, 1000 + step, 100 + step, now);
          apply(NodeEvent(EventType::kAdded, Path(address),
                          HeartbeatJson("NORMAL", m.startup, m.process_id), m.czxid, m.czxid));
        }
        break;
      case 7: {  // time passes; live nodes heartbeat first
        for (auto& [each, mm] : model) {
          if (mm.present && mm.heartbeating && mm.last_valid) heartbeat(each, mm, true);
        }
        now += timing.heartbeat_interval;
        a.Advance(timing.heartbeat_interval);
        b.Advance(timing.heartbeat_interval);
        for (auto& [each, mm] : model) {
          if (mm.present && now - mm.last_change >= timing.heartbeat_timeout()) mm.faulted = true;
        }
        break;
      }
    }

    std::vector<std::string> expected;
    for (const auto& [each, mm] : model) {
      if (mm.present && mm.last_valid && !mm.faulted) expected.push_back(each);
    }
    const ClusterView view = a.View();
    SCOPED_TRACE(absl::StrCat("step ", step));
    ASSERT_EQ(view.slots.masters, expected);
    std::set<int> slots;
    for (const std::string& each : expected) {
      const int slot = view.slots.SlotOf(each);
      ASSERT_GE(slot, 0);
      ASSERT_LT(slot, static_cast<int>(view.slots.masters.size()));
      ASSERT_TRUE(slots.insert(slot).second) << "slot " << slot << " held twice";
    }
    const ClusterView replica = b.View();
    ASSERT_EQ(replica.slots.masters, view.slots.masters);
    ASSERT_EQ(replica.slots.epoch, view.slots.epoch);
    if (view.slots.epoch != last_epoch) ++slot_changes;
    last_epoch = view.slots.epoch;
  }
  // The walk must have exercised the assignment, not idled.
  EXPECT_GT(slot_changes, kSteps / 20);
}

}  // namespace
}  // namespace roster::cluster
