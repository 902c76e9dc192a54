// MasterCluster: the slot rule, slot lookups, the leader, and a randomized model-based test of
// slot assignment against a simple reference model.
#include "cluster/master_cluster.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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
    view.masters = cluster_.table().Snapshot();
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
