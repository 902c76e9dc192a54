// Tests of WorkerSelector (every strategy, eligibility, explain, errors, state
// across views, concurrency) and of the ClusterView lookups it relies on. Views
// are built by hand.
#include "cluster/worker_selector.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cluster/cluster_view.h"
#include "cluster/node_info.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace roster::cluster {
namespace {

using ::roster::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::Field;
using ::testing::IsEmpty;

// A worker in `state`, heartbeating with weight 100 and no load, in "default"
// plus `groups`.
std::shared_ptr<NodeInfo> Worker(const std::string& address, NodeState state = NodeState::kRunning,
                                 std::vector<std::string> groups = {}) {
  auto node = std::make_shared<NodeInfo>();
  node->address = address;
  node->role = NodeRole::kWorker;
  node->state = state;
  node->has_heartbeat = state != NodeState::kRegistering;
  node->heartbeat.set_host_weight(100);
  node->heartbeat.set_server_status(state == NodeState::kOverload ? roster::v1::Heartbeat::BUSY
                                                                  : roster::v1::Heartbeat::NORMAL);
  groups.push_back("default");
  std::sort(groups.begin(), groups.end());
  groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
  node->groups = std::move(groups);
  return node;
}

std::shared_ptr<NodeInfo> WeightedWorker(const std::string& address, int host_weight) {
  auto node = Worker(address);
  node->heartbeat.set_host_weight(host_weight);
  return node;
}

std::shared_ptr<NodeInfo> LoadedWorker(const std::string& address, double cpu, double memory,
                                       double disk, double thread_pool) {
  auto node = Worker(address);
  node->heartbeat.set_cpu_usage(cpu);
  node->heartbeat.set_memory_usage(memory);
  node->heartbeat.set_disk_usage(disk);
  node->heartbeat.set_thread_pool_usage(thread_pool);
  return node;
}

// A view holding `workers` (any order), with groups computed the way
// WorkerCluster does.
ClusterView MakeView(std::vector<NodeInfoPtr> workers, uint64_t version = 1) {
  std::sort(workers.begin(), workers.end(),
            [](const NodeInfoPtr& a, const NodeInfoPtr& b) { return a->address < b->address; });
  ClusterView view;
  view.version = version;
  view.synced = true;
  view.groups["default"].name = "default";
  for (const NodeInfoPtr& worker : workers) {
    for (const std::string& name : worker->groups) {
      GroupView& group = view.groups[name];
      group.name = name;
      group.members.push_back(worker);
      group.count_by_state[worker->state]++;
      if (worker->state == NodeState::kRunning && !worker->drained) group.selectable++;
    }
  }
  view.workers = std::move(workers);
  return view;
}

SelectRequest Request(SelectionStrategy strategy, const std::string& group = "default") {
  SelectRequest request;
  request.group = group;
  request.strategy = strategy;
  return request;
}

// The address picked, or "<error: ...>" (which fails the calling expectation).
std::string Pick(WorkerSelector& selector, const ClusterView& view, const SelectRequest& request) {
  absl::StatusOr<Selection> selection = selector.Select(view, request);
  if (!selection.ok()) return absl::StrCat("<error: ", selection.status().ToString(), ">");
  if (selection->worker == nullptr) return "<null worker>";
  return selection->worker->address;
}

std::vector<std::string> PickN(WorkerSelector& selector, const ClusterView& view,
                               const SelectRequest& request, int n) {
  std::vector<std::string> picks;
  for (int i = 0; i < n; ++i) picks.push_back(Pick(selector, view, request));
  return picks;
}

std::map<std::string, int> CountPicks(WorkerSelector& selector, const ClusterView& view,
                                      const SelectRequest& request, int n) {
  std::map<std::string, int> counts;
  for (int i = 0; i < n; ++i) counts[Pick(selector, view, request)]++;
  return counts;
}

constexpr SelectionStrategy kAllStrategies[] = {
    SelectionStrategy::kRandom,
    SelectionStrategy::kRoundRobin,
    SelectionStrategy::kFixedWeightedRoundRobin,
    SelectionStrategy::kDynamicWeightedRoundRobin,
    SelectionStrategy::kLowerWeight,
};

// -----------------------------------------------------------------------------
// ClusterView lookups and names

TEST(ClusterViewTest, SlotOfIsTheIndexInTheSortedMasters) {
  SlotAssignment slots;
  slots.masters = {"10.0.0.1:5678", "10.0.0.2:5678", "10.0.0.3:5678"};
  EXPECT_EQ(slots.SlotOf("10.0.0.1:5678"), 0);
  EXPECT_EQ(slots.SlotOf("10.0.0.2:5678"), 1);
  EXPECT_EQ(slots.SlotOf("10.0.0.3:5678"), 2);
  EXPECT_EQ(slots.SlotOf("10.0.0.0:5678"), -1);
  EXPECT_EQ(slots.SlotOf("10.0.0.2:567"), -1);
  EXPECT_EQ(slots.SlotOf("10.0.0.4:5678"), -1);
  EXPECT_EQ(SlotAssignment().SlotOf("10.0.0.1:5678"), -1);
}

TEST(ClusterViewTest, FindLooksUpByRoleAndAddress) {
  auto master = std::make_shared<NodeInfo>();
  master->address = "10.0.0.1:5678";
  master->role = NodeRole::kMaster;
  auto alert = std::make_shared<NodeInfo>();
  alert->address = "10.0.0.9:50052";
  alert->role = NodeRole::kAlertServer;
  // The same address as a master and a worker: FindAny prefers the master.
  auto both = std::make_shared<NodeInfo>();
  both->address = "10.0.0.5:1234";
  both->role = NodeRole::kMaster;
  ClusterView view =
      MakeView({Worker("10.0.0.21:1234"), Worker("10.0.0.5:1234"), Worker("10.0.0.22:1234")});
  view.masters = {master, both};
  std::sort(view.masters.begin(), view.masters.end(),
            [](const NodeInfoPtr& a, const NodeInfoPtr& b) { return a->address < b->address; });
  view.alert_servers = {alert};

  EXPECT_EQ(view.Find(NodeRole::kMaster, "10.0.0.1:5678"), master);
  EXPECT_EQ(view.Find(NodeRole::kWorker, "10.0.0.1:5678"), nullptr);
  ASSERT_NE(view.Find(NodeRole::kWorker, "10.0.0.22:1234"), nullptr);
  EXPECT_EQ(view.Find(NodeRole::kWorker, "10.0.0.22:1234")->address, "10.0.0.22:1234");
  EXPECT_EQ(view.Find(NodeRole::kWorker, "10.0.0.2:1234"), nullptr);
  EXPECT_EQ(view.Find(NodeRole::kAlertServer, "10.0.0.9:50052"), alert);
  EXPECT_EQ(view.FindAny("10.0.0.9:50052"), alert);
  EXPECT_EQ(view.FindAny("10.0.0.5:1234"), both);
  EXPECT_EQ(view.FindAny("10.0.0.21:1234")->role, NodeRole::kWorker);
  EXPECT_EQ(view.FindAny("nowhere:1"), nullptr);
}

TEST(ClusterViewTest, FindGroup) {
  ClusterView view =
      MakeView({Worker("a:1", NodeState::kRunning, {"etl", "a-very-long-group-name"})});
  ASSERT_NE(view.FindGroup("default"), nullptr);
  EXPECT_EQ(view.FindGroup("default")->members.size(), 1u);
  ASSERT_NE(view.FindGroup("a-very-long-group-name"), nullptr);
  EXPECT_EQ(view.FindGroup("etl")->name, "etl");
  EXPECT_EQ(view.FindGroup("etl2"), nullptr);
  EXPECT_EQ(view.FindGroup(""), nullptr);
}

TEST(ClusterViewTest, Names) {
  EXPECT_EQ(NodeRoleName(NodeRole::kMaster), "MASTER");
  EXPECT_EQ(NodeRoleName(NodeRole::kWorker), "WORKER");
  EXPECT_EQ(NodeRoleName(NodeRole::kAlertServer), "ALERT_SERVER");
  EXPECT_EQ(NodeStateName(NodeState::kRegistering), "REGISTERING");
  EXPECT_EQ(NodeStateName(NodeState::kRunning), "RUNNING");
  EXPECT_EQ(NodeStateName(NodeState::kOverload), "OVERLOAD");
  EXPECT_EQ(NodeStateName(NodeState::kFault), "FAULT");
  EXPECT_EQ(NodeStateName(NodeState::kRecovering), "RECOVERING");
  EXPECT_EQ(NodeStateName(NodeState::kOffline), "OFFLINE");
  EXPECT_EQ(SelectionStrategyName(SelectionStrategy::kRandom), "RANDOM");
  EXPECT_EQ(SelectionStrategyName(SelectionStrategy::kRoundRobin), "ROUND_ROBIN");
  EXPECT_EQ(SelectionStrategyName(SelectionStrategy::kFixedWeightedRoundRobin),
            "FIXED_WEIGHTED_ROUND_ROBIN");
  EXPECT_EQ(SelectionStrategyName(SelectionStrategy::kDynamicWeightedRoundRobin),
            "DYNAMIC_WEIGHTED_ROUND_ROBIN");
  EXPECT_EQ(SelectionStrategyName(SelectionStrategy::kLowerWeight), "LOWER_WEIGHT");
}

// -----------------------------------------------------------------------------
// ROUND_ROBIN

TEST(WorkerSelectorTest, RoundRobinCyclesInAddressOrder) {
  // Given out of order: the view sorts by address, and round robin follows that
  // order.
  ClusterView view =
      MakeView({Worker("10.0.0.3:1234"), Worker("10.0.0.1:1234"), Worker("10.0.0.2:1234")},
               /*version=*/7);
  WorkerSelector selector;
  EXPECT_THAT(PickN(selector, view, Request(SelectionStrategy::kRoundRobin), 7),
              ElementsAre("10.0.0.1:1234", "10.0.0.2:1234", "10.0.0.3:1234", "10.0.0.1:1234",
                          "10.0.0.2:1234", "10.0.0.3:1234", "10.0.0.1:1234"));
  absl::StatusOr<Selection> selection =
      selector.Select(view, Request(SelectionStrategy::kRoundRobin));
  ASSERT_TRUE(selection.ok()) << selection.status();
  EXPECT_EQ(selection->view_version, 7u);
  EXPECT_THAT(selection->candidates, IsEmpty());  // explain is off
}

TEST(WorkerSelectorTest, RoundRobinSkipsIneligibleWorkers) {
  auto drained = Worker("e:1");
  drained->drained = true;
  drained->drain_reason = "maintenance";
  ClusterView view = MakeView({Worker("a:1"), Worker("b:1", NodeState::kFault), Worker("c:1"),
                               Worker("d:1", NodeState::kOverload), drained,
                               Worker("f:1", NodeState::kRecovering), Worker("g:1")});
  WorkerSelector selector;
  EXPECT_THAT(PickN(selector, view, Request(SelectionStrategy::kRoundRobin), 6),
              ElementsAre("a:1", "c:1", "g:1", "a:1", "c:1", "g:1"));
}

TEST(WorkerSelectorTest, GroupsHaveTheirOwnCursor) {
  ClusterView view = MakeView({Worker("a:1", NodeState::kRunning, {"etl"}), Worker("b:1"),
                               Worker("c:1", NodeState::kRunning, {"etl"})});
  WorkerSelector selector;
  EXPECT_EQ(Pick(selector, view, Request(SelectionStrategy::kRoundRobin)), "a:1");
  EXPECT_EQ(Pick(selector, view, Request(SelectionStrategy::kRoundRobin)), "b:1");
  EXPECT_THAT(PickN(selector, view, Request(SelectionStrategy::kRoundRobin, "etl"), 3),
              ElementsAre("a:1", "c:1", "a:1"));
  EXPECT_EQ(Pick(selector, view, Request(SelectionStrategy::kRoundRobin)), "c:1");
}

// -----------------------------------------------------------------------------
// FIXED_WEIGHTED_ROUND_ROBIN

TEST(WorkerSelectorTest, FixedWeightedIsNginxSmoothSequence) {
  ClusterView view =
      MakeView({WeightedWorker("a:1", 5), WeightedWorker("b:1", 1), WeightedWorker("c:1", 1)});
  WorkerSelector selector;
  // nginx's example for weights {5, 1, 1}: a a b a c a a, and the same again
  // (the current weights are all back to 0 after one cycle of 7).
  EXPECT_THAT(PickN(selector, view, Request(SelectionStrategy::kFixedWeightedRoundRobin), 14),
              ElementsAreArray({"a:1", "a:1", "b:1", "a:1", "c:1", "a:1", "a:1",  //
                                "a:1", "a:1", "b:1", "a:1", "c:1", "a:1", "a:1"}));
}

// Smooth WRR keeps every prefix of the sequence within one pick of the exact
// share: checked after every pick, not just at the end.
void ExpectProportional(WorkerSelector& selector, const ClusterView& view,
                        const SelectRequest& request, const std::map<std::string, double>& weights,
                        int picks) {
  double total = 0;
  for (const auto& [address, weight] : weights) total += weight;
  std::map<std::string, int> counts;
  for (int k = 1; k <= picks; ++k) {
    const std::string picked = Pick(selector, view, request);
    ASSERT_TRUE(weights.count(picked)) << "picked " << picked << " at pick " << k;
    counts[picked]++;
    for (const auto& [address, weight] : weights) {
      const double expected = k * weight / total;
      ASSERT_LE(std::abs(counts[address] - expected), 1.0)
          << address << " picked " << counts[address] << " times in " << k << " picks, expected "
          << expected;
    }
  }
}

TEST(WorkerSelectorTest, FixedWeightedRatiosOverManyPicks) {
  // A weight-0 worker is never picked by a weighted strategy.
  ClusterView view =
      MakeView({WeightedWorker("a:1", 100), WeightedWorker("b:1", 40), WeightedWorker("c:1", 10),
                WeightedWorker("d:1", 3), WeightedWorker("z:1", 0)});
  WorkerSelector selector;
  ExpectProportional(selector, view, Request(SelectionStrategy::kFixedWeightedRoundRobin),
                     {{"a:1", 100}, {"b:1", 40}, {"c:1", 10}, {"d:1", 3}}, 10000);
}

TEST(WorkerSelectorTest, FixedWeightedTiesGoToTheLowestAddress) {
  ClusterView view =
      MakeView({WeightedWorker("c:1", 2), WeightedWorker("a:1", 2), WeightedWorker("b:1", 2)});
  WorkerSelector selector;
  EXPECT_THAT(PickN(selector, view, Request(SelectionStrategy::kFixedWeightedRoundRobin), 6),
              ElementsAre("a:1", "b:1", "c:1", "a:1", "b:1", "c:1"));
}

// -----------------------------------------------------------------------------
// DYNAMIC_WEIGHTED_ROUND_ROBIN

TEST(WorkerSelectorTest, DynamicWeightFormula) {
  roster::v1::Heartbeat heartbeat;
  EXPECT_DOUBLE_EQ(WorkerSelector::DynamicWeight(heartbeat), 100);
  heartbeat.set_cpu_usage(1);
  heartbeat.set_memory_usage(1);
  heartbeat.set_thread_pool_usage(1);
  EXPECT_DOUBLE_EQ(WorkerSelector::DynamicWeight(heartbeat), 100 - 100.0 / 3);
  heartbeat.set_cpu_usage(0.6);
  heartbeat.set_memory_usage(0.3);
  heartbeat.set_thread_pool_usage(0.15);
  EXPECT_DOUBLE_EQ(WorkerSelector::DynamicWeight(heartbeat), 100 - (18 + 9 + 6) / 3.0);
  // Out-of-range usages are clamped into [1, 100].
  heartbeat.set_cpu_usage(50);
  EXPECT_DOUBLE_EQ(WorkerSelector::DynamicWeight(heartbeat), 1);
  heartbeat.set_cpu_usage(-50);
  EXPECT_DOUBLE_EQ(WorkerSelector::DynamicWeight(heartbeat), 100);
}

TEST(WorkerSelectorTest, DynamicWeightedFollowsHeartbeatLoad) {
  // Weights 100, 66.67 and 83.33.
  ClusterView view =
      MakeView({LoadedWorker("idle:1", 0, 0, 0.9, 0), LoadedWorker("full:1", 1, 1, 0, 1),
                LoadedWorker("half:1", 0.5, 0.5, 0, 0.5)});
  std::map<std::string, double> weights;
  for (const NodeInfoPtr& worker : view.workers) {
    weights[worker->address] = WorkerSelector::DynamicWeight(worker->heartbeat);
  }
  EXPECT_DOUBLE_EQ(weights["idle:1"], 100);
  EXPECT_NEAR(weights["full:1"], 66.667, 0.001);
  EXPECT_NEAR(weights["half:1"], 83.333, 0.001);
  WorkerSelector selector;
  ExpectProportional(selector, view, Request(SelectionStrategy::kDynamicWeightedRoundRobin),
                     weights, 10000);
}

TEST(WorkerSelectorTest, DynamicWeightedAdaptsToNewHeartbeats) {
  WorkerSelector selector;
  const SelectRequest request = Request(SelectionStrategy::kDynamicWeightedRoundRobin);
  ClusterView equal = MakeView({LoadedWorker("a:1", 0, 0, 0, 0), LoadedWorker("b:1", 0, 0, 0, 0)});
  std::map<std::string, int> counts = CountPicks(selector, equal, request, 1000);
  EXPECT_EQ(counts["a:1"], 500);
  EXPECT_EQ(counts["b:1"], 500);
  // b becomes fully loaded: weight 66.67 against 100, so b gets 40% of the
  // picks.
  ClusterView loaded =
      MakeView({LoadedWorker("a:1", 0, 0, 0, 0), LoadedWorker("b:1", 1, 1, 0, 1)}, 2);
  counts = CountPicks(selector, loaded, request, 10000);
  EXPECT_NEAR(counts["a:1"], 6000, 2);
  EXPECT_NEAR(counts["b:1"], 4000, 2);
}

// -----------------------------------------------------------------------------
// LOWER_WEIGHT

TEST(WorkerSelectorTest, LowerWeightLoadFormula) {
  roster::v1::Heartbeat heartbeat;
  EXPECT_DOUBLE_EQ(WorkerSelector::LowerWeightLoad(heartbeat), 0);
  heartbeat.set_cpu_usage(1);
  EXPECT_DOUBLE_EQ(WorkerSelector::LowerWeightLoad(heartbeat), 20);
  heartbeat.set_memory_usage(0.5);
  EXPECT_DOUBLE_EQ(WorkerSelector::LowerWeightLoad(heartbeat), 30);
  heartbeat.set_disk_usage(0.5);
  EXPECT_DOUBLE_EQ(WorkerSelector::LowerWeightLoad(heartbeat), 55);
  heartbeat.set_thread_pool_usage(1);
  EXPECT_DOUBLE_EQ(WorkerSelector::LowerWeightLoad(heartbeat), 65);
  heartbeat.set_cpu_usage(std::nan(""));
  EXPECT_DOUBLE_EQ(WorkerSelector::LowerWeightLoad(heartbeat), 100);
}

TEST(WorkerSelectorTest, LowerWeightPicksTheLowestLoadAndRotatesAmongTies) {
  // Loads: a 30, b 10, c 10, d 50 (disk weighs most), e 10 but FAULT.
  auto fault = LoadedWorker("e:1", 0.5, 0, 0, 0);
  fault->state = NodeState::kFault;
  ClusterView view =
      MakeView({LoadedWorker("a:1", 1, 0.5, 0, 0), LoadedWorker("b:1", 0.5, 0, 0, 0),
                LoadedWorker("c:1", 0, 0, 0, 1), LoadedWorker("d:1", 0, 0, 1, 0), fault});
  WorkerSelector selector;
  const SelectRequest request = Request(SelectionStrategy::kLowerWeight);
  EXPECT_THAT(PickN(selector, view, request, 5), ElementsAre("b:1", "c:1", "b:1", "c:1", "b:1"));

  // c reports more load: b alone is the lowest.
  ClusterView next = MakeView(
      {view.workers[0], view.workers[1], LoadedWorker("c:1", 0, 0, 0.5, 1), view.workers[3], fault},
      2);
  EXPECT_THAT(PickN(selector, next, request, 3), ElementsAre("b:1", "b:1", "b:1"));

  // Excluding b leaves a (30) lowest.
  SelectRequest without_b = request;
  without_b.exclude = {"b:1"};
  EXPECT_EQ(Pick(selector, next, without_b), "a:1");
}

// -----------------------------------------------------------------------------
// RANDOM

TEST(WorkerSelectorTest, RandomIsUniformOverEligibleWorkers) {
  ClusterView view = MakeView({Worker("a:1"), Worker("b:1"), Worker("c:1", NodeState::kFault),
                               Worker("d:1"), Worker("e:1", NodeState::kOverload), Worker("f:1")});
  WorkerSelector selector;
  constexpr int kPicks = 40000;
  std::map<std::string, int> counts =
      CountPicks(selector, view, Request(SelectionStrategy::kRandom), kPicks);
  // The generator cannot be seeded from a test, so the bound is statistical.
  // Each count is Binomial(40000, 1/4): mean 10000, standard deviation
  // sqrt(40000 * 1/4 * 3/4) = 86.6. Allowing +-5% (500 = 5.77 standard
  // deviations) fails a correct implementation with probability about 8e-9 per
  // worker, under 4e-8 for the four (union bound); a selector that favours one
  // worker by 5% or more fails it.
  ASSERT_EQ(counts.size(), 4u) << "only RUNNING workers, and every one of them";
  for (const char* address : {"a:1", "b:1", "d:1", "f:1"}) {
    EXPECT_NEAR(counts[address], kPicks / 4, kPicks / 4 * 0.05) << address;
  }
}

// -----------------------------------------------------------------------------
// Eligibility, every strategy

// One RUNNING worker among every kind that must never be picked.
ClusterView MixedView(uint64_t version = 1) {
  auto drained = Worker("d:1");
  drained->drained = true;
  drained->drain_reason = "kernel upgrade";
  auto offline = Worker("f:1", NodeState::kOffline);
  offline->reason = "znode deleted";
  auto fault = Worker("c:1", NodeState::kFault);
  fault->reason = "no heartbeat for 30s (3 intervals of 10s)";
  return MakeView({Worker("a:1", NodeState::kOverload), Worker("b:1", NodeState::kRecovering),
                   fault, drained, Worker("e:1", NodeState::kRegistering), offline, Worker("g:1")},
                  version);
}

TEST(WorkerSelectorTest, OnlyRunningWorkersAreSelected) {
  ClusterView view = MixedView();
  for (SelectionStrategy strategy : kAllStrategies) {
    WorkerSelector selector;
    std::map<std::string, int> counts = CountPicks(selector, view, Request(strategy), 1000);
    EXPECT_THAT(counts, ElementsAre(std::pair<const std::string, int>("g:1", 1000)))
        << SelectionStrategyName(strategy);
  }
}

TEST(WorkerSelectorTest, OverloadOnlyWithAllowOverload) {
  ClusterView view = MixedView();
  for (SelectionStrategy strategy : kAllStrategies) {
    WorkerSelector selector;
    SelectRequest request = Request(strategy);
    request.allow_overload = true;
    std::map<std::string, int> counts = CountPicks(selector, view, request, 1000);
    EXPECT_EQ(counts.size(), 2u) << SelectionStrategyName(strategy);
    EXPECT_GT(counts["a:1"], 0) << SelectionStrategyName(strategy);
    EXPECT_GT(counts["g:1"], 0) << SelectionStrategyName(strategy);
  }
  // Only OVERLOAD workers: an error without allow_overload, a pick with it.
  ClusterView busy = MakeView({Worker("a:1", NodeState::kOverload)});
  WorkerSelector selector;
  SelectRequest request = Request(SelectionStrategy::kRoundRobin);
  EXPECT_THAT(selector.Select(busy, request),
              StatusIs(absl::StatusCode::kUnavailable,
                       "group 'default': 1 worker, none selectable (1 OVERLOAD)"));
  request.allow_overload = true;
  EXPECT_EQ(Pick(selector, busy, request), "a:1");
}

TEST(WorkerSelectorTest, ExcludedWorkersAreNeverPicked) {
  ClusterView view =
      MakeView({WeightedWorker("a:1", 5), WeightedWorker("b:1", 1), WeightedWorker("c:1", 1)});
  for (SelectionStrategy strategy : kAllStrategies) {
    WorkerSelector selector;
    SelectRequest request = Request(strategy);
    request.exclude = {"a:1", "nonexistent:1"};
    std::map<std::string, int> counts = CountPicks(selector, view, request, 1000);
    EXPECT_EQ(counts.count("a:1"), 0u) << SelectionStrategyName(strategy);
    EXPECT_EQ(counts["b:1"] + counts["c:1"], 1000) << SelectionStrategyName(strategy);
    if (strategy != SelectionStrategy::kRandom) {
      // b and c have equal weights and loads: every other strategy alternates.
      EXPECT_EQ(counts["b:1"], 500) << SelectionStrategyName(strategy);
    }
  }
}

TEST(WorkerSelectorTest, ExclusionSkipsInRoundRobinOrder) {
  ClusterView view = MakeView({Worker("a:1"), Worker("b:1"), Worker("c:1")});
  WorkerSelector selector;
  SelectRequest request = Request(SelectionStrategy::kRoundRobin);
  EXPECT_EQ(Pick(selector, view, request), "a:1");
  SelectRequest without_b = request;
  without_b.exclude = {"b:1"};
  EXPECT_EQ(Pick(selector, view, without_b), "c:1");
  EXPECT_EQ(Pick(selector, view, request), "a:1");
  EXPECT_EQ(Pick(selector, view, request), "b:1");
}

// -----------------------------------------------------------------------------
// explain

TEST(WorkerSelectorTest, ExplainListsEveryMemberWithWhyItWasSkipped) {
  ClusterView view = MixedView(/*version=*/42);
  WorkerSelector selector;
  SelectRequest request = Request(SelectionStrategy::kRoundRobin);
  request.explain = true;
  absl::StatusOr<Selection> selection = selector.Select(view, request);
  ASSERT_TRUE(selection.ok()) << selection.status();
  EXPECT_EQ(selection->worker->address, "g:1");
  EXPECT_EQ(selection->view_version, 42u);
  using C = CandidateExplanation;
  auto explained = [](const std::string& address, NodeState state, bool eligible, double weight,
                      const std::string& skipped) {
    return ::testing::AllOf(Field(&C::address, address), Field(&C::state, state),
                            Field(&C::eligible, eligible), Field(&C::weight, weight),
                            Field(&C::skipped, skipped));
  };
  EXPECT_THAT(
      selection->candidates,
      ElementsAre(
          explained("a:1", NodeState::kOverload, false, 0, "OVERLOAD (allow_overload is off)"),
          explained("b:1", NodeState::kRecovering, false, 0, "RECOVERING: probation"),
          explained("c:1", NodeState::kFault, false, 0,
                    "FAULT: no heartbeat for 30s (3 intervals of 10s)"),
          explained("d:1", NodeState::kRunning, false, 0, "draining: kernel upgrade"),
          explained("e:1", NodeState::kRegistering, false, 0, "REGISTERING: no heartbeat yet"),
          explained("f:1", NodeState::kOffline, false, 0, "OFFLINE: znode deleted"),
          explained("g:1", NodeState::kRunning, true, 1, "")));
}

TEST(WorkerSelectorTest, ExplainShowsStrategyWeightsExclusionsAndZeroWeights) {
  ClusterView view =
      MakeView({WeightedWorker("a:1", 5), WeightedWorker("b:1", 0), WeightedWorker("c:1", 3)});
  WorkerSelector selector;
  SelectRequest request = Request(SelectionStrategy::kFixedWeightedRoundRobin);
  request.explain = true;
  request.exclude = {"c:1"};
  absl::StatusOr<Selection> selection = selector.Select(view, request);
  ASSERT_TRUE(selection.ok()) << selection.status();
  EXPECT_EQ(selection->worker->address, "a:1");
  ASSERT_EQ(selection->candidates.size(), 3u);
  EXPECT_TRUE(selection->candidates[0].eligible);
  EXPECT_EQ(selection->candidates[0].weight, 5);
  EXPECT_FALSE(selection->candidates[1].eligible);
  EXPECT_EQ(selection->candidates[1].skipped, "weight 0");
  EXPECT_FALSE(selection->candidates[2].eligible);
  EXPECT_EQ(selection->candidates[2].skipped, "excluded by the request");

  // LOWER_WEIGHT explains with the load.
  ClusterView loaded = MakeView({LoadedWorker("a:1", 1, 0, 0, 0), LoadedWorker("b:1", 0, 0, 1, 0)});
  request = Request(SelectionStrategy::kLowerWeight);
  request.explain = true;
  selection = selector.Select(loaded, request);
  ASSERT_TRUE(selection.ok()) << selection.status();
  EXPECT_EQ(selection->worker->address, "a:1");
  ASSERT_EQ(selection->candidates.size(), 2u);
  EXPECT_EQ(selection->candidates[0].weight, 20);
  EXPECT_EQ(selection->candidates[1].weight, 50);
  EXPECT_TRUE(selection->candidates[1].eligible);
}

// -----------------------------------------------------------------------------
// Errors

TEST(WorkerSelectorTest, UnknownAndEmptyGroupNames) {
  ClusterView view = MakeView({Worker("a:1", NodeState::kRunning, {"etl2", "api"})});
  WorkerSelector selector;
  EXPECT_THAT(selector.Select(view, Request(SelectionStrategy::kRoundRobin, "etl")),
              StatusIs(absl::StatusCode::kNotFound,
                       "worker group 'etl' does not exist (known groups: api, default, "
                       "etl2)"));
  EXPECT_THAT(selector.Select(view, Request(SelectionStrategy::kRandom, "")),
              StatusIs(absl::StatusCode::kInvalidArgument, "the worker group name is empty"));

  // At most 10 names are listed.
  std::vector<std::string> groups;
  for (int i = 0; i < 12; ++i) groups.push_back(absl::StrCat("g", i + 10));
  ClusterView many = MakeView({Worker("a:1", NodeState::kRunning, groups)});
  EXPECT_THAT(selector.Select(many, Request(SelectionStrategy::kRoundRobin, "etl")),
              StatusIs(absl::StatusCode::kNotFound,
                       "worker group 'etl' does not exist (known groups: default, g10, g11, "
                       "g12, g13, g14, g15, g16, g17, g18, and 3 more)"));
}

TEST(WorkerSelectorTest, NoSelectableWorkerSaysWhy) {
  WorkerSelector selector;
  EXPECT_THAT(selector.Select(MakeView({}), Request(SelectionStrategy::kRoundRobin)),
              StatusIs(absl::StatusCode::kUnavailable, "group 'default': no workers"));

  ClusterView busy = MakeView({Worker("a:1", NodeState::kOverload, {"etl"}),
                               Worker("b:1", NodeState::kFault, {"etl"}),
                               Worker("c:1", NodeState::kOverload, {"etl"}), Worker("d:1")});
  for (SelectionStrategy strategy : kAllStrategies) {
    EXPECT_THAT(selector.Select(busy, Request(strategy, "etl")),
                StatusIs(absl::StatusCode::kUnavailable,
                         "group 'etl': 3 workers, none selectable (2 OVERLOAD, 1 FAULT)"))
        << SelectionStrategyName(strategy);
  }

  auto drained = Worker("b:1", NodeState::kRunning, {"etl"});
  drained->drained = true;
  ClusterView excluded = MakeView({Worker("a:1", NodeState::kRunning, {"etl"}), drained});
  SelectRequest request = Request(SelectionStrategy::kFixedWeightedRoundRobin, "etl");
  request.exclude = {"a:1"};
  EXPECT_THAT(selector.Select(excluded, request),
              StatusIs(absl::StatusCode::kUnavailable,
                       "group 'etl': 2 workers, none selectable (1 excluded by the request, "
                       "1 draining)"));

  ClusterView weightless = MakeView({WeightedWorker("a:1", 0), WeightedWorker("b:1", 0)});
  EXPECT_THAT(selector.Select(weightless, Request(SelectionStrategy::kFixedWeightedRoundRobin)),
              StatusIs(absl::StatusCode::kUnavailable,
                       "group 'default': 2 workers, none selectable (2 weight 0)"));
  // Weight means nothing to round robin.
  EXPECT_EQ(Pick(selector, weightless, Request(SelectionStrategy::kRoundRobin)), "a:1");
}

// -----------------------------------------------------------------------------
// State across views

TEST(WorkerSelectorTest, RoundRobinContinuesAcrossViews) {
  WorkerSelector selector;
  const SelectRequest request = Request(SelectionStrategy::kRoundRobin);
  ClusterView first = MakeView({Worker("a:1"), Worker("b:1"), Worker("c:1"), Worker("d:1")}, 1);
  EXPECT_THAT(PickN(selector, first, request, 2), ElementsAre("a:1", "b:1"));
  // A new view with new NodeInfos (new heartbeats) for the same workers: not
  // reset.
  ClusterView second = MakeView({Worker("a:1"), Worker("b:1"), Worker("c:1"), Worker("d:1")}, 2);
  EXPECT_THAT(PickN(selector, second, request, 3), ElementsAre("c:1", "d:1", "a:1"));
  // b leaves and e joins: the cycle continues with the successor of the last
  // pick.
  ClusterView third = MakeView({Worker("a:1"), Worker("c:1"), Worker("d:1"), Worker("e:1")}, 3);
  EXPECT_THAT(PickN(selector, third, request, 5), ElementsAre("c:1", "d:1", "e:1", "a:1", "c:1"));
  // The last picked worker (c) leaves: its successor comes next.
  ClusterView fourth = MakeView({Worker("a:1"), Worker("d:1"), Worker("e:1")}, 4);
  EXPECT_THAT(PickN(selector, fourth, request, 4), ElementsAre("d:1", "e:1", "a:1", "d:1"));
}

TEST(WorkerSelectorTest, SmoothWeightsSurviveViewsAndDropLeavers) {
  WorkerSelector selector;
  const SelectRequest request = Request(SelectionStrategy::kFixedWeightedRoundRobin);
  auto view_with = [](uint64_t version) {
    return MakeView({WeightedWorker("a:1", 5), WeightedWorker("b:1", 1), WeightedWorker("c:1", 1)},
                    version);
  };
  // The nginx sequence a a b a c a a, split over three views.
  EXPECT_THAT(PickN(selector, view_with(1), request, 3), ElementsAre("a:1", "a:1", "b:1"));
  EXPECT_THAT(PickN(selector, view_with(2), request, 2), ElementsAre("a:1", "c:1"));
  EXPECT_THAT(PickN(selector, view_with(3), request, 2), ElementsAre("a:1", "a:1"));

  // a leaves; b and c share the picks equally, and a returning starts from
  // scratch.
  ClusterView without_a = MakeView({WeightedWorker("b:1", 1), WeightedWorker("c:1", 1)}, 4);
  std::map<std::string, int> counts = CountPicks(selector, without_a, request, 100);
  EXPECT_EQ(counts["b:1"], 50);
  EXPECT_EQ(counts["c:1"], 50);
  EXPECT_THAT(PickN(selector, view_with(5), request, 7),
              ElementsAre("a:1", "a:1", "b:1", "a:1", "c:1", "a:1", "a:1"));
}

TEST(WorkerSelectorTest, WorkerThatTurnsFaultyStopsBeingPicked) {
  WorkerSelector selector;
  const SelectRequest request = Request(SelectionStrategy::kRoundRobin);
  ClusterView healthy = MakeView({Worker("a:1"), Worker("b:1"), Worker("c:1")}, 1);
  EXPECT_EQ(Pick(selector, healthy, request), "a:1");
  ClusterView faulty =
      MakeView({Worker("a:1"), Worker("b:1", NodeState::kFault), Worker("c:1")}, 2);
  EXPECT_THAT(PickN(selector, faulty, request, 4), ElementsAre("c:1", "a:1", "c:1", "a:1"));
  // Reading an older view again is fine: the state follows the view it is
  // given.
  EXPECT_THAT(PickN(selector, healthy, request, 3), ElementsAre("b:1", "c:1", "a:1"));
}

// -----------------------------------------------------------------------------
// Concurrency

TEST(WorkerSelectorTest, ConcurrentSelectionsStayExactlyBalanced) {
  std::vector<NodeInfoPtr> workers;
  for (int i = 0; i < 8; ++i) workers.push_back(WeightedWorker(absl::StrCat("w", i, ":1"), i + 1));
  const ClusterView view = MakeView(workers);
  WorkerSelector selector;
  constexpr int kThreads = 4;
  constexpr int kPicksPerThread = 36000;  // 144000 in all: a multiple of 8 and of 36 (weights)
  for (SelectionStrategy strategy :
       {SelectionStrategy::kRoundRobin, SelectionStrategy::kFixedWeightedRoundRobin}) {
    std::vector<std::map<std::string, int>> counts(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        const SelectRequest request = Request(strategy);
        for (int i = 0; i < kPicksPerThread; ++i) counts[t][Pick(selector, view, request)]++;
      });
    }
    for (std::thread& thread : threads) thread.join();
    std::map<std::string, int> total;
    for (const auto& per_thread : counts) {
      for (const auto& [address, count] : per_thread) total[address] += count;
    }
    ASSERT_EQ(total.size(), 8u) << SelectionStrategyName(strategy);
    constexpr int kAll = kThreads * kPicksPerThread;
    for (int i = 0; i < 8; ++i) {
      const int expected =
          strategy == SelectionStrategy::kRoundRobin ? kAll / 8 : kAll / 36 * (i + 1);
      EXPECT_EQ(total[absl::StrCat("w", i, ":1")], expected)
          << SelectionStrategyName(strategy) << " w" << i;
    }
  }
}

}  // namespace
}  // namespace roster::cluster
