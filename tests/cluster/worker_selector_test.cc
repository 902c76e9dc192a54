// Tests of WorkerSelector (every strategy under every DolphinScheduler semantics,
// eligibility, explain, errors, state across views, concurrency) and of the
// ClusterView lookups it relies on. Views are built by hand. Pick sequences
// marked "DS:" were produced by DolphinScheduler's own classes
// (tests/data/dolphinscheduler/selection/, README.md there says how); the others
// are worked by hand from the DS source named.
#include "cluster/worker_selector.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "cluster/cluster_view.h"
#include "cluster/node_info.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "util/clock.h"

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
  std::map<std::string, std::vector<NodeInfoPtr>> members;
  for (const NodeInfoPtr& worker : workers) {
    for (const std::string& name : worker->groups) {
      GroupView& group = view.groups[name];
      group.name = name;
      members[name].push_back(worker);
      group.count_by_state[worker->state]++;
      if (worker->state == NodeState::kRunning && !worker->drained) group.selectable++;
    }
  }
  for (auto& [name, nodes] : members) view.groups[name].members = NodeList(std::move(nodes));
  view.workers = NodeList(std::move(workers));
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
  if (selection->picked == nullptr) return "<null worker>";
  return selection->worker()->address;
}

// The pick and every candidate's effective weight, as `explain` shows them; the candidates at
// 99.0.0.1 (the model test's drained newcomers) are left out.
std::string ExplainedWeights(WorkerSelector& selector, const ClusterView& view,
                             const SelectRequest& request) {
  absl::StatusOr<Selection> selection = selector.Select(view, request);
  if (!selection.ok()) return absl::StrCat("<error: ", selection.status().ToString(), ">");
  std::string out = selection->worker()->address;
  for (const CandidateExplanation& candidate : selection->candidates) {
    if (absl::StartsWith(candidate.address, "99.0.0.1:")) continue;
    absl::StrAppend(&out, " ", candidate.address, "=", candidate.weight);
  }
  return out;
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
    SelectionStrategy::kLowerLoadWeightedRoundRobin,
};

constexpr StrategySemantics kAllSemantics[] = {
    StrategySemantics::kDolphinScheduler31,
    StrategySemantics::kDolphinScheduler32,
    StrategySemantics::kDolphinScheduler33,
};

std::string SemanticsName(StrategySemantics semantics) {
  switch (semantics) {
    case StrategySemantics::kDolphinScheduler31:
      return "3.1";
    case StrategySemantics::kDolphinScheduler32:
      return "3.2";
    case StrategySemantics::kDolphinScheduler33:
      return "3.3";
  }
  return "?";
}

std::string Describe(StrategySemantics semantics, SelectionStrategy strategy) {
  return absl::StrCat(SelectionStrategyName(strategy), " (DS ", SemanticsName(semantics), ")");
}

std::unique_ptr<WorkerSelector> MakeSelector(StrategySemantics semantics, Clock* clock,
                                             DynamicWeightOptions weights = {}) {
  SelectorOptions options;
  options.semantics = semantics;
  options.dynamic_weights = weights;
  options.clock = clock;
  return std::make_unique<WorkerSelector>(options);
}

// What a DS scenario's worker reports.
struct Report {
  double cpu = 0;
  double memory = 0;
  double disk = 0;
  double thread_pool = 0;
  std::optional<double> load_average;
  bool legacy = false;  // a legacy (<= 3.2.0) payload: loadAverage, absent when it was negative
  int host_weight = 100;
  int64_t uptime_ms = 0;  // 0: no startupTime
};

Report Usage(double cpu, double memory, double disk, double thread_pool) {
  Report report;
  report.cpu = cpu;
  report.memory = memory;
  report.disk = disk;
  report.thread_pool = thread_pool;
  return report;
}

// A legacy payload; no `load_average`: the worker wrote -1 (unknown).
Report Legacy(double cpu, double memory, std::optional<double> load_average) {
  Report report = Usage(cpu, memory, 0, 0);
  report.load_average = load_average;
  report.legacy = true;
  return report;
}

Report Weighted(int host_weight) {
  Report report;
  report.host_weight = host_weight;
  return report;
}

Report Up(Report report, int64_t uptime_ms) {
  report.uptime_ms = uptime_ms;
  return report;
}

// "10.0.0.<n>:1234", as the scenarios name workers.
std::string Ip(int n) { return absl::StrCat("10.0.0.", n, ":1234"); }

std::shared_ptr<NodeInfo> Reporting(int n, const Report& report, const Clock& clock) {
  auto node = Worker(Ip(n));
  roster::v1::Heartbeat& heartbeat = node->heartbeat;
  heartbeat.set_cpu_usage(report.cpu);
  heartbeat.set_memory_usage(report.memory);
  heartbeat.set_disk_usage(report.disk);
  heartbeat.set_thread_pool_usage(report.thread_pool);
  if (report.load_average.has_value()) heartbeat.set_load_average(*report.load_average);
  heartbeat.set_legacy_format(report.legacy);
  heartbeat.set_host_weight(report.host_weight);
  if (report.uptime_ms > 0) {
    heartbeat.set_startup_time_ms(absl::ToUnixMillis(clock.WallNow()) - report.uptime_ms);
  }
  return node;
}

ClusterView ReportingView(const std::vector<Report>& reports, const Clock& clock,
                          uint64_t version = 1) {
  std::vector<NodeInfoPtr> workers;
  for (size_t i = 0; i < reports.size(); ++i) {
    workers.push_back(Reporting(static_cast<int>(i) + 1, reports[i], clock));
  }
  return MakeView(std::move(workers), version);
}

// "3 2 3" -> {"10.0.0.3:1234", "10.0.0.2:1234", "10.0.0.3:1234"}.
std::vector<std::string> Ips(const std::string& picks) {
  std::vector<std::string> out;
  for (absl::string_view n : absl::StrSplit(picks, ' ', absl::SkipEmpty())) {
    out.push_back(absl::StrCat("10.0.0.", n, ":1234"));
  }
  return out;
}

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
  view.masters = {master, both};  // sorted by address: "10.0.0.1:5678" < "10.0.0.5:1234"
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
  EXPECT_EQ(SelectionStrategyName(SelectionStrategy::kLowerLoadWeightedRoundRobin),
            "LOWER_LOAD_WEIGHTED_ROUND_ROBIN");
}

// -----------------------------------------------------------------------------
// Pick by pick, as DolphinScheduler's own code picks

class DolphinSequenceTest : public ::testing::Test {
 protected:
  // A fresh selector and its view; then `picks` picks.
  std::vector<std::string> Run(StrategySemantics semantics, SelectionStrategy strategy,
                               const std::vector<Report>& reports, int picks,
                               DynamicWeightOptions weights = {}) {
    std::unique_ptr<WorkerSelector> selector = MakeSelector(semantics, &clock_, weights);
    return PickN(*selector, ReportingView(reports, clock_), Request(strategy), picks);
  }

  FakeClock clock_;
};

constexpr int64_t kAnHour = 3'600'000;

// host_selectors_3.2.2.txt, scenario lower_weight_3.2.2: weights 79, 55, 31, and the most
// loaded worker (3) gets the most picks.
const std::vector<Report> kLowerWeight322 = {Usage(0.1, 0.2, 0.3, 0), Usage(0.5, 0.5, 0.5, 0),
                                             Usage(0.9, 0.8, 0.7, 0)};
constexpr char kLowerWeight322Picks[] = "3 2 3 1 2 3 3 2 1 3 2 3 3 2 1 3 2 3 1 3 2 3 2 3";

TEST_F(DolphinSequenceTest, LowerWeight322) {
  for (StrategySemantics semantics :
       {StrategySemantics::kDolphinScheduler32, StrategySemantics::kDolphinScheduler33}) {
    EXPECT_THAT(Run(semantics, SelectionStrategy::kLowerWeight, kLowerWeight322, 24),
                ElementsAreArray(Ips(kLowerWeight322Picks)))
        << SemanticsName(semantics);
  }
  // DS: lower_weight_3.2.2_equal.
  const Report equal = Up(Usage(0.2, 0.2, 0.2, 0), kAnHour);
  EXPECT_THAT(Run(StrategySemantics::kDolphinScheduler32, SelectionStrategy::kLowerWeight,
                  {equal, equal, equal, equal}, 12),
              ElementsAreArray(Ips("1 2 3 4 1 2 3 4 1 2 3 4")));
}

TEST_F(DolphinSequenceTest, LowerWeight322WarmUpInflatesTheWeight) {
  // DS: lower_weight_3.2.2_warm_up. Worker 1 started 2 minutes ago: 79 * 10 min / 2 min = 395,
  // so it gets no pick at all.
  const Report worker = Up(Usage(0.1, 0.2, 0.3, 0), kAnHour);
  Report starting = worker;
  starting.uptime_ms = 120'000;
  EXPECT_THAT(Run(StrategySemantics::kDolphinScheduler32, SelectionStrategy::kLowerWeight,
                  {starting, worker, worker}, 24),
              ElementsAreArray(Ips("2 3 2 3 2 3 2 3 2 3 2 3 2 3 2 3 2 3 2 3 2 3 2 3")));
}

TEST_F(DolphinSequenceTest, LowerWeight322ThreadPoolUsageIsATaskCount) {
  // DS: lower_weight_3.2.2_thread_pool_count. 3.2.1+ writes threadPoolUsage as the running task
  // count: worker 1 running 2 tasks weighs 100 - (4 + 4 + 10 + 20) = 62 against 82, and gets
  // the most picks.
  const Report idle = Usage(0.2, 0.2, 0.2, 0);
  Report busy = idle;
  busy.thread_pool = 2;
  EXPECT_THAT(Run(StrategySemantics::kDolphinScheduler32, SelectionStrategy::kLowerWeight,
                  {busy, idle, idle}, 24),
              ElementsAreArray(Ips("1 2 3 1 2 3 1 2 3 1 1 2 3 1 2 3 1 2 3 1 2 1 3 1")));
}

TEST_F(DolphinSequenceTest, LowerWeight31OnLoadAverage) {
  // DS: lower_weight_3.1.9. Weights 40, 155, 75 (10 cpu + 20 memory + 70 loadAverage).
  EXPECT_THAT(Run(StrategySemantics::kDolphinScheduler31, SelectionStrategy::kLowerWeight,
                  {Legacy(0.1, 0.2, 0.5), Legacy(0.5, 0.5, 2.0), Legacy(0.3, 0.1, 1.0)}, 24),
              ElementsAreArray(Ips("1 3 1 3 1 3 1 2 1 3 1 3 1 3 1 1 3 1 2 3 1 3 1 1")));
  // DS: lower_weight_3.1.9_warm_up. Worker 2 started 5 minutes ago: 40 * 2 = 80.
  const Report worker = Up(Legacy(0.1, 0.2, 0.5), kAnHour);
  Report starting = worker;
  starting.uptime_ms = 300'000;
  EXPECT_THAT(Run(StrategySemantics::kDolphinScheduler31, SelectionStrategy::kLowerWeight,
                  {worker, starting, worker}, 24),
              ElementsAreArray(Ips("1 3 1 3 2 1 3 1 3 2 1 3 1 3 1 3 2 1 3 1 3 2 1 3")));
}

TEST_F(DolphinSequenceTest, LowerWeight31UnknownLoadAverageDoesNotHerd) {
  // DS (lower_weight_3.1.9_unknown_load_average) weighs a worker reporting loadAverage -1 at
  // 1 + 4 - 70 = -65 and then picks it every time. roster raises the weight to 1; by hand from
  // LowerWeightRoundRobin with weights 1, 40, 40 (currents start at the weights):
  //   pick  currents after += weight   lowest  its current += 81
  //   1     2    80   80               1       83
  //   2     84   120  120              1       165
  //   3     166  160  160              2       241
  //   4     167  281  200              1       248
  //   5     249  321  240              3       321
  //   6..8  1, 1, 1; 9: 2; 10: 1; 11: 3; 12: 1
  const Report known = Legacy(0.1, 0.2, 0.5);
  const Report unknown = Legacy(0.1, 0.2, std::nullopt);
  EXPECT_THAT(Run(StrategySemantics::kDolphinScheduler31, SelectionStrategy::kLowerWeight,
                  {unknown, known, known}, 12),
              ElementsAreArray(Ips("1 1 2 1 3 1 1 1 2 1 3 1")));
}

TEST_F(DolphinSequenceTest, RoundRobin32IsSmoothOnHostWeight) {
  for (StrategySemantics semantics :
       {StrategySemantics::kDolphinScheduler31, StrategySemantics::kDolphinScheduler32}) {
    // DS: round_robin_3.2.2 and round_robin_3.2.2_small.
    EXPECT_THAT(Run(semantics, SelectionStrategy::kRoundRobin,
                    {Weighted(100), Weighted(50), Weighted(30)}, 18),
                ElementsAreArray(Ips("1 2 1 3 1 2 1 1 2 3 1 1 2 1 3 1 2 1")))
        << SemanticsName(semantics);
    EXPECT_THAT(
        Run(semantics, SelectionStrategy::kRoundRobin, {Weighted(3), Weighted(1), Weighted(2)}, 12),
        ElementsAreArray(Ips("1 3 1 2 3 1 1 3 1 2 3 1")))
        << SemanticsName(semantics);
  }
}

TEST_F(DolphinSequenceTest, Dev33Balancers) {
  const StrategySemantics dev = StrategySemantics::kDolphinScheduler33;
  // DS: round_robin_dev.
  EXPECT_THAT(Run(dev, SelectionStrategy::kRoundRobin, {{}, {}, {}}, 7),
              ElementsAreArray(Ips("1 2 3 1 2 3 1")));
  // DS: fixed_weighted_round_robin_dev (FIXED is 3.3's under every semantics).
  for (StrategySemantics semantics : kAllSemantics) {
    EXPECT_THAT(Run(semantics, SelectionStrategy::kFixedWeightedRoundRobin,
                    {Weighted(3), Weighted(1), Weighted(2)}, 18),
                ElementsAreArray(Ips("1 3 1 2 3 1 1 3 1 2 3 1 1 3 1 2 3 1")))
        << SemanticsName(semantics);
  }
  // DS: dynamic_weighted_round_robin_dev, weights 93, 73.67, 83.33.
  EXPECT_THAT(Run(dev, SelectionStrategy::kDynamicWeightedRoundRobin,
                  {Usage(0.1, 0.2, 0, 0.3), Usage(0.9, 0.8, 0, 0.7), Usage(0.5, 0.5, 0, 0.5)}, 18),
              ElementsAreArray(Ips("3 1 2 3 1 2 3 1 2 1 3 2 1 3 2 1 3 1")));
  // DS: dynamic_weighted_round_robin_dev_cpu_only, weights configured 100/0/0.
  EXPECT_THAT(Run(dev, SelectionStrategy::kDynamicWeightedRoundRobin,
                  {Usage(0.0, 0.2, 0, 0.3), Usage(0.9, 0.8, 0, 0.7), Usage(0.6, 0.5, 0, 0.5)}, 18,
                  {100, 0, 0}),
              ElementsAreArray(Ips("1 2 3 1 3 2 1 3 1 2 3 1 2 1 3 2 1 3")));
}

TEST_F(DolphinSequenceTest, LoneCandidateLeavesTheSmoothStateAlone) {
  // AbstractSelector.select returns a lone candidate without calling doSelect, so the
  // round_robin_3.2.2_small sequence 1 3 | 1 2 3 1 resumes where it stopped.
  std::unique_ptr<WorkerSelector> selector =
      MakeSelector(StrategySemantics::kDolphinScheduler32, &clock_);
  ClusterView view = ReportingView({Weighted(3), Weighted(1), Weighted(2)}, clock_);
  const SelectRequest request = Request(SelectionStrategy::kRoundRobin);
  EXPECT_THAT(PickN(*selector, view, request, 2), ElementsAreArray(Ips("1 3")));
  SelectRequest only_2 = request;
  only_2.exclude = {Ip(1), Ip(3)};
  EXPECT_THAT(PickN(*selector, view, only_2, 3), ElementsAreArray(Ips("2 2 2")));
  EXPECT_THAT(PickN(*selector, view, request, 4), ElementsAreArray(Ips("1 2 3 1")));
}

TEST_F(DolphinSequenceTest, LowerWeightRebuildsAtEachRefresh) {
  // LowerWeightHostManager rebuilds every HostWeight (current = weight) at each worker refresh
  // (10 s): the 3.2.2 sequence restarts.
  std::unique_ptr<WorkerSelector> selector =
      MakeSelector(StrategySemantics::kDolphinScheduler32, &clock_);
  ClusterView view = ReportingView(kLowerWeight322, clock_);
  const SelectRequest request = Request(SelectionStrategy::kLowerWeight);
  EXPECT_THAT(PickN(*selector, view, request, 4), ElementsAreArray(Ips("3 2 3 1")));
  clock_.Advance(absl::Seconds(9));
  EXPECT_THAT(PickN(*selector, view, request, 2), ElementsAreArray(Ips("2 3")));
  clock_.Advance(absl::Seconds(1));
  EXPECT_THAT(PickN(*selector, view, request, 4), ElementsAreArray(Ips("3 2 3 1")));
}

TEST_F(DolphinSequenceTest, LowerWeightRebuildsOnEveryChangeLike30) {
  // lower_weight_3.1.9: 1 3 1 3 1 3 1 ... A new view (new heartbeats) restarts it when the
  // selector rebuilds on every change (DS 3.0.x), and not otherwise.
  const std::vector<Report> reports = {Legacy(0.1, 0.2, 0.5), Legacy(0.5, 0.5, 2.0),
                                       Legacy(0.3, 0.1, 1.0)};
  const SelectRequest request = Request(SelectionStrategy::kLowerWeight);
  for (bool on_change : {true, false}) {
    SelectorOptions options;
    options.semantics = StrategySemantics::kDolphinScheduler31;
    options.lower_weight_rebuild_on_change = on_change;
    options.clock = &clock_;
    WorkerSelector selector(options);
    EXPECT_THAT(PickN(selector, ReportingView(reports, clock_, 1), request, 3),
                ElementsAreArray(Ips("1 3 1")));
    EXPECT_THAT(PickN(selector, ReportingView(reports, clock_, 2), request, 4),
                ElementsAreArray(Ips(on_change ? "1 3 1 3" : "3 1 3 1")))
        << "rebuild on change: " << on_change;
  }
}

TEST_F(DolphinSequenceTest, LowerWeightFreezesWeightsBetweenRefreshes) {
  std::unique_ptr<WorkerSelector> selector =
      MakeSelector(StrategySemantics::kDolphinScheduler32, &clock_);
  const SelectRequest request = Request(SelectionStrategy::kLowerWeight);
  EXPECT_THAT(PickN(*selector, ReportingView(kLowerWeight322, clock_), request, 3),
              ElementsAreArray(Ips("3 2 3")));
  // Worker 3 now reports no load (weight 100), but DS goes on with the HostWeights it built.
  std::vector<Report> reports = kLowerWeight322;
  reports[2] = {};
  ClusterView idle_3 = ReportingView(reports, clock_, 2);
  EXPECT_THAT(PickN(*selector, idle_3, request, 3), ElementsAreArray(Ips("1 2 3")));
  // At the refresh: weights 79, 55, 100, currents the weights. By hand (total 234):
  //   1: 158 110 200 -> 2 (344)   2: 237 399 300 -> 1 (471)   3: 550 454 400 -> 3 (634)
  clock_.Advance(absl::Seconds(10));
  EXPECT_THAT(PickN(*selector, idle_3, request, 3), ElementsAreArray(Ips("2 1 3")));
}

TEST_F(DolphinSequenceTest, FixedWeightIsTheWeightFirstSeen) {
  // FixedWeightedRoundRobinWorkerLoadBalancer ignores onServerUpdate: a worker that reports a
  // new workerHostWeight keeps the one it joined with.
  std::unique_ptr<WorkerSelector> selector =
      MakeSelector(StrategySemantics::kDolphinScheduler33, &clock_);
  const SelectRequest request = Request(SelectionStrategy::kFixedWeightedRoundRobin);
  ClusterView equal = ReportingView({Weighted(1), Weighted(1)}, clock_);
  EXPECT_THAT(PickN(*selector, equal, request, 2), ElementsAreArray(Ips("2 1")));
  ClusterView heavier = ReportingView({Weighted(5), Weighted(1)}, clock_, 2);
  EXPECT_THAT(PickN(*selector, heavier, request, 4), ElementsAreArray(Ips("2 1 2 1")));
}

// -----------------------------------------------------------------------------
// Weight formulas

TEST(WorkerSelectorTest, DynamicWeightFormula) {
  // DynamicWeightedRoundRobinWorkerLoadBalancer.calculateWeight @ dev.
  const DynamicWeightOptions defaults;
  roster::v1::Heartbeat heartbeat;
  EXPECT_DOUBLE_EQ(WorkerSelector::DynamicWeight(heartbeat, defaults), 100);
  heartbeat.set_cpu_usage(1);
  heartbeat.set_memory_usage(1);
  heartbeat.set_thread_pool_usage(1);
  EXPECT_DOUBLE_EQ(WorkerSelector::DynamicWeight(heartbeat, defaults), 100 - 100.0 / 3);
  heartbeat.set_cpu_usage(0.6);
  heartbeat.set_memory_usage(0.3);
  heartbeat.set_thread_pool_usage(0.15);
  EXPECT_DOUBLE_EQ(WorkerSelector::DynamicWeight(heartbeat, defaults), 100 - (18 + 9 + 6) / 3.0);
  EXPECT_DOUBLE_EQ(WorkerSelector::DynamicWeight(heartbeat, {100, 0, 0}), 80);
  EXPECT_DOUBLE_EQ(WorkerSelector::DynamicWeight(heartbeat, {0, 0, 100}), 95);
}

TEST(WorkerSelectorTest, LowerWeightFormulas) {
  roster::v1::Heartbeat heartbeat;
  heartbeat.set_cpu_usage(0.5);
  heartbeat.set_memory_usage(0.5);
  heartbeat.set_disk_usage(0.5);
  heartbeat.set_thread_pool_usage(2);  // 3.2.1+: a task count
  // HostWeight @ 3.2.2-release: 100 - (20 cpu + 20 memory + 50 disk + 10 threadPoolUsage).
  EXPECT_DOUBLE_EQ(WorkerSelector::LowerWeight(heartbeat, false), 100 - (10 + 10 + 25 + 20));
  // As the codec reads a 3.2.1 / 3.2.2 payload: the count in running_tasks, the same weight.
  heartbeat.set_thread_pool_usage(0);
  heartbeat.set_running_tasks(2);
  EXPECT_DOUBLE_EQ(WorkerSelector::LowerWeight(heartbeat, false), 100 - (10 + 10 + 25 + 20));
  heartbeat.set_running_tasks(0);
  // HostWeight @ 3.1.9-release: 10 cpu + 20 memory + 70 loadAverage.
  heartbeat.set_load_average(2);
  heartbeat.set_legacy_format(true);
  EXPECT_DOUBLE_EQ(WorkerSelector::LowerWeight(heartbeat, true), 5 + 10 + 140);
  heartbeat.clear_load_average();  // the worker wrote -1
  EXPECT_DOUBLE_EQ(WorkerSelector::LowerWeight(heartbeat, true), 5 + 10 - 70);
  heartbeat.set_legacy_format(false);  // no loadAverage at all: Jackson's 0
  EXPECT_DOUBLE_EQ(WorkerSelector::LowerWeight(heartbeat, true), 5 + 10);
}

TEST(WorkerSelectorTest, SpareCapacityClampsUsages) {
  roster::v1::Heartbeat heartbeat;
  EXPECT_DOUBLE_EQ(WorkerSelector::SpareCapacity(heartbeat), 100);
  heartbeat.set_cpu_usage(0.5);
  heartbeat.set_memory_usage(0.5);
  heartbeat.set_disk_usage(0.5);
  heartbeat.set_thread_pool_usage(2);  // a task count counts as full
  EXPECT_DOUBLE_EQ(WorkerSelector::SpareCapacity(heartbeat), 100 - (10 + 10 + 25 + 10));
  heartbeat.set_cpu_usage(-1);  // unknown: idle
  EXPECT_DOUBLE_EQ(WorkerSelector::SpareCapacity(heartbeat), 100 - (0 + 10 + 25 + 10));
  heartbeat.set_cpu_usage(std::nan(""));  // full
  EXPECT_DOUBLE_EQ(WorkerSelector::SpareCapacity(heartbeat), 100 - (20 + 10 + 25 + 10));
}

// -----------------------------------------------------------------------------
// No strategy herds

// `picks` picks over `view` (heartbeats unchanged): for every semantics and strategy, every
// worker gets a share; the deterministic strategies give each exactly picks / k.
void ExpectSpreadOverAll(const ClusterView& view, int picks) {
  const size_t k = view.workers.size();
  for (StrategySemantics semantics : kAllSemantics) {
    for (SelectionStrategy strategy : kAllStrategies) {
      FakeClock clock;
      std::unique_ptr<WorkerSelector> selector = MakeSelector(semantics, &clock);
      std::map<std::string, int> counts = CountPicks(*selector, view, Request(strategy), picks);
      ASSERT_EQ(counts.size(), k) << Describe(semantics, strategy);
      if (strategy == SelectionStrategy::kRandom) continue;  // below
      for (const auto& [address, count] : counts) {
        EXPECT_EQ(count, picks / static_cast<int>(k))
            << address << ", " << Describe(semantics, strategy);
      }
    }
  }
}

TEST(WorkerSelectorTest, NoStrategyHerdsOverEqualWorkers) {
  // Four equal, loaded workers. RANDOM: 400 uniform picks miss one of 4 workers with
  // probability 4 * (3/4)^400 < 1e-49.
  FakeClock clock;
  Report report = Legacy(0.3, 0.3, 0.5);
  report.disk = 0.3;
  report.thread_pool = 0.3;
  ExpectSpreadOverAll(ReportingView({report, report, report, report}, clock), 400);
}

TEST(WorkerSelectorTest, NoStrategyHerdsWhenDolphinWeightsGoNegative) {
  // A threadPoolUsage task count of 11 (3.2.1+) and an unknown loadAverage (-1, <= 3.2.0) make
  // DS's LOWER_WEIGHT and DYNAMIC weights negative, where DS sends every task to one worker.
  FakeClock clock;
  Report report = Legacy(0.3, 0.3, std::nullopt);
  report.thread_pool = 11;
  ExpectSpreadOverAll(ReportingView({report, report, report, report}, clock), 400);
}

// Every prefix of the sequence within one pick of the exact share: checked after every pick.
void ExpectProportional(WorkerSelector& selector, const ClusterView& view,
                        const SelectRequest& request, const std::map<std::string, double>& weights,
                        int picks, double tolerance = 1.0) {
  double total = 0;
  for (const auto& [address, weight] : weights) total += weight;
  std::map<std::string, int> counts;
  for (int k = 1; k <= picks; ++k) {
    const std::string picked = Pick(selector, view, request);
    ASSERT_TRUE(weights.count(picked)) << "picked " << picked << " at pick " << k;
    counts[picked]++;
    for (const auto& [address, weight] : weights) {
      const double expected = k * weight / total;
      ASSERT_LE(std::abs(counts[address] - expected), tolerance)
          << address << " picked " << counts[address] << " times in " << k << " picks, expected "
          << expected;
    }
  }
}

TEST(WorkerSelectorTest, LowerWeightSharesFollowDolphinsSteadyState) {
  // LowerWeightRoundRobin always picks the lowest current, so no current falls behind: in the
  // long run every current grows at one rate c. Worker i gains w_i per pick plus the total T
  // each time it is picked (a share f_i of the picks): w_i + f_i T = c; the shares sum to 1, so
  // c = 2T / k and f_i = 2/k - w_i / T. 3.2.2's weights 79, 55, 31 (T = 165, k = 3) give shares
  // 31, 55 and 79 out of 165: proportional to the weights reversed, the most loaded worker
  // first. Every prefix stays within 2 picks of that share.
  FakeClock clock;
  std::unique_ptr<WorkerSelector> selector =
      MakeSelector(StrategySemantics::kDolphinScheduler32, &clock);
  ExpectProportional(*selector, ReportingView(kLowerWeight322, clock),
                     Request(SelectionStrategy::kLowerWeight),
                     {{Ip(1), 31}, {Ip(2), 55}, {Ip(3), 79}}, 16500, 2.0);
}

TEST(WorkerSelectorTest, LowerLoadSharesFollowSpareCapacity) {
  // Spare capacity 100, 60, 50 and 90 (a threadPoolUsage count clamped to 1), under every
  // semantics.
  FakeClock clock;
  ClusterView view = ReportingView(
      {Usage(0, 0, 0, 0), Usage(1, 1, 0, 0), Usage(0, 0, 1, 0), Usage(0, 0, 0, 5)}, clock);
  for (StrategySemantics semantics : kAllSemantics) {
    std::unique_ptr<WorkerSelector> selector = MakeSelector(semantics, &clock);
    ExpectProportional(*selector, view, Request(SelectionStrategy::kLowerLoadWeightedRoundRobin),
                       {{Ip(1), 100}, {Ip(2), 60}, {Ip(3), 50}, {Ip(4), 90}}, 3000);
  }
}

TEST(WorkerSelectorTest, LowerLoadRampsUpAStartingWorker) {
  // Up for 150 s of the 10-minute warm-up: a quarter of its spare capacity.
  FakeClock clock;
  std::unique_ptr<WorkerSelector> selector =
      MakeSelector(StrategySemantics::kDolphinScheduler32, &clock);
  ClusterView view =
      ReportingView({Up(Usage(0, 0, 0, 0), 150'000), Up(Usage(0, 0, 0, 0), kAnHour)}, clock);
  ExpectProportional(*selector, view, Request(SelectionStrategy::kLowerLoadWeightedRoundRobin),
                     {{Ip(1), 25}, {Ip(2), 100}}, 1000);
}

TEST(WorkerSelectorTest, FixedWeightedRatiosOverManyPicks) {
  // DS 3.3's credit round robin: a worker gains its weight at each visit and pays the total
  // per pick, and visits go round, so the shares follow the weights. A weight-0 worker is never
  // picked.
  FakeClock clock;
  ClusterView view =
      MakeView({WeightedWorker("a:1", 100), WeightedWorker("b:1", 40), WeightedWorker("c:1", 10),
                WeightedWorker("d:1", 3), WeightedWorker("z:1", 0)});
  std::unique_ptr<WorkerSelector> selector =
      MakeSelector(StrategySemantics::kDolphinScheduler33, &clock);
  ExpectProportional(*selector, view, Request(SelectionStrategy::kFixedWeightedRoundRobin),
                     {{"a:1", 100}, {"b:1", 40}, {"c:1", 10}, {"d:1", 3}}, 10000, 2.0);
}

TEST(WorkerSelectorTest, DynamicWeightedAdaptsToNewHeartbeats) {
  FakeClock clock;
  std::unique_ptr<WorkerSelector> selector =
      MakeSelector(StrategySemantics::kDolphinScheduler33, &clock);
  const SelectRequest request = Request(SelectionStrategy::kDynamicWeightedRoundRobin);
  ClusterView equal = MakeView({LoadedWorker("a:1", 0, 0, 0, 0), LoadedWorker("b:1", 0, 0, 0, 0)});
  std::map<std::string, int> counts = CountPicks(*selector, equal, request, 1000);
  EXPECT_EQ(counts["a:1"], 500);
  EXPECT_EQ(counts["b:1"], 500);
  // b reports full load: weight 66.67 against 100, so b gets 40% of the picks.
  auto full = LoadedWorker("b:1", 1, 1, 0, 1);
  full->mzxid = 2;  // a new heartbeat
  ClusterView loaded = MakeView({equal.workers[0], full}, 2);
  ExpectProportional(*selector, loaded, request, {{"a:1", 100}, {"b:1", 200 / 3.0}}, 10000, 2.0);
}

// -----------------------------------------------------------------------------
// RANDOM

TEST(WorkerSelectorTest, RandomIsUniformOverEligibleWorkersIn33) {
  ClusterView view = MakeView({Worker("a:1"), Worker("b:1"), Worker("c:1", NodeState::kFault),
                               Worker("d:1"), Worker("e:1", NodeState::kOverload), Worker("f:1")});
  WorkerSelector selector;  // 3.3
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

TEST(WorkerSelectorTest, RandomIsWeightedByHostWeightIn32) {
  // RandomSelector: shares 100, 50, 30 and 20 out of 200; weight 0 never.
  FakeClock clock;
  ClusterView view =
      ReportingView({Weighted(100), Weighted(50), Weighted(30), Weighted(20), Weighted(0)}, clock);
  for (StrategySemantics semantics :
       {StrategySemantics::kDolphinScheduler31, StrategySemantics::kDolphinScheduler32}) {
    std::unique_ptr<WorkerSelector> selector = MakeSelector(semantics, &clock);
    constexpr int kPicks = 40000;
    std::map<std::string, int> counts =
        CountPicks(*selector, view, Request(SelectionStrategy::kRandom), kPicks);
    ASSERT_EQ(counts.size(), 4u) << SemanticsName(semantics);
    // Each count is Binomial(40000, p): standard deviation sqrt(40000 p (1 - p)), 100 for
    // p = 1/2 down to 60 for p = 1/10. Six standard deviations fail a correct implementation
    // with probability about 2e-9 per worker; a uniform pick (10000 each) fails every bound.
    const std::pair<int, double> shares[] = {{1, 0.5}, {2, 0.25}, {3, 0.15}, {4, 0.1}};
    for (const auto& [n, p] : shares) {
      EXPECT_NEAR(counts[Ip(n)], kPicks * p, 6 * std::sqrt(kPicks * p * (1 - p)))
          << Ip(n) << ", " << SemanticsName(semantics);
    }
  }
}

// -----------------------------------------------------------------------------
// ROUND_ROBIN (3.3: RoundRobinWorkerLoadBalancer, workers[index++ % n]) and groups

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

TEST(WorkerSelectorTest, ExclusionCountsInTheRoundRobinIndex) {
  // The index advances on every pick, over the workers eligible for that pick.
  ClusterView view = MakeView({Worker("a:1"), Worker("b:1"), Worker("c:1")});
  WorkerSelector selector;
  SelectRequest request = Request(SelectionStrategy::kRoundRobin);
  EXPECT_EQ(Pick(selector, view, request), "a:1");  // index 0 of a b c
  SelectRequest without_b = request;
  without_b.exclude = {"b:1"};
  EXPECT_EQ(Pick(selector, view, without_b), "c:1");  // index 1 of a c
  EXPECT_EQ(Pick(selector, view, request), "c:1");    // index 2 of a b c
  EXPECT_EQ(Pick(selector, view, request), "a:1");    // index 3 of a b c
}

TEST(WorkerSelectorTest, EachPickUsesItsOwnRequestsEligibility) {
  // The selector keeps the eligible list between picks of one view: asking for OVERLOAD
  // workers, then not, then excluding one, must each see their own list (index 0..3).
  ClusterView view = MakeView({Worker("a:1"), Worker("b:1", NodeState::kOverload), Worker("c:1")});
  WorkerSelector selector;
  SelectRequest request = Request(SelectionStrategy::kRoundRobin);
  SelectRequest overload = request;
  overload.allow_overload = true;
  SelectRequest without_c = request;
  without_c.exclude = {"c:1"};
  EXPECT_EQ(Pick(selector, view, request), "a:1");    // index 0 of a c
  EXPECT_EQ(Pick(selector, view, overload), "b:1");   // index 1 of a b c
  EXPECT_EQ(Pick(selector, view, request), "a:1");    // index 2 of a c
  EXPECT_EQ(Pick(selector, view, without_c), "a:1");  // index 3 of a
  EXPECT_EQ(Pick(selector, view, overload), "b:1");   // index 4 of a b c
  EXPECT_EQ(Pick(selector, view, request), "c:1");    // index 5 of a c
}

// -----------------------------------------------------------------------------
// Eligibility, every semantics and strategy

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
  for (StrategySemantics semantics : kAllSemantics) {
    for (SelectionStrategy strategy : kAllStrategies) {
      FakeClock clock;
      std::unique_ptr<WorkerSelector> selector = MakeSelector(semantics, &clock);
      std::map<std::string, int> counts = CountPicks(*selector, view, Request(strategy), 1000);
      EXPECT_THAT(counts, ElementsAre(std::pair<const std::string, int>("g:1", 1000)))
          << Describe(semantics, strategy);
    }
  }
}

TEST(WorkerSelectorTest, OverloadOnlyWithAllowOverload) {
  ClusterView view = MixedView();
  for (StrategySemantics semantics : kAllSemantics) {
    for (SelectionStrategy strategy : kAllStrategies) {
      FakeClock clock;
      std::unique_ptr<WorkerSelector> selector = MakeSelector(semantics, &clock);
      SelectRequest request = Request(strategy);
      request.allow_overload = true;
      std::map<std::string, int> counts = CountPicks(*selector, view, request, 1000);
      EXPECT_EQ(counts.size(), 2u) << Describe(semantics, strategy);
      EXPECT_GT(counts["a:1"], 0) << Describe(semantics, strategy);
      EXPECT_GT(counts["g:1"], 0) << Describe(semantics, strategy);
    }
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
  for (StrategySemantics semantics : kAllSemantics) {
    for (SelectionStrategy strategy : kAllStrategies) {
      FakeClock clock;
      std::unique_ptr<WorkerSelector> selector = MakeSelector(semantics, &clock);
      SelectRequest request = Request(strategy);
      request.exclude = {"a:1", "nonexistent:1"};
      std::map<std::string, int> counts = CountPicks(*selector, view, request, 1000);
      EXPECT_EQ(counts.count("a:1"), 0u) << Describe(semantics, strategy);
      EXPECT_EQ(counts["b:1"] + counts["c:1"], 1000) << Describe(semantics, strategy);
      if (strategy != SelectionStrategy::kRandom) {
        // b and c have equal weights and loads: every other strategy alternates.
        EXPECT_EQ(counts["b:1"], 500) << Describe(semantics, strategy);
      }
    }
  }
}

// -----------------------------------------------------------------------------
// explain and rules

TEST(WorkerSelectorTest, ExplainListsEveryMemberWithWhyItWasSkipped) {
  ClusterView view = MixedView(/*version=*/42);
  WorkerSelector selector;
  SelectRequest request = Request(SelectionStrategy::kRoundRobin);
  request.explain = true;
  absl::StatusOr<Selection> selection = selector.Select(view, request);
  ASSERT_TRUE(selection.ok()) << selection.status();
  EXPECT_EQ(selection->worker()->address, "g:1");
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

TEST(WorkerSelectorTest, ExplainShowsEffectiveWeightsExclusionsAndZeroWeights) {
  ClusterView view =
      MakeView({WeightedWorker("a:1", 5), WeightedWorker("b:1", 0), WeightedWorker("c:1", 3)});
  WorkerSelector selector;
  SelectRequest request = Request(SelectionStrategy::kFixedWeightedRoundRobin);
  request.explain = true;
  request.exclude = {"c:1"};
  absl::StatusOr<Selection> selection = selector.Select(view, request);
  ASSERT_TRUE(selection.ok()) << selection.status();
  EXPECT_EQ(selection->worker()->address, "a:1");
  ASSERT_EQ(selection->candidates.size(), 3u);
  EXPECT_TRUE(selection->candidates[0].eligible);
  EXPECT_EQ(selection->candidates[0].weight, 5);
  EXPECT_FALSE(selection->candidates[1].eligible);
  EXPECT_EQ(selection->candidates[1].skipped, "weight 0");
  EXPECT_FALSE(selection->candidates[2].eligible);
  EXPECT_EQ(selection->candidates[2].skipped, "excluded by the request");

  // LOWER_WEIGHT explains with DS's HostWeight weight, after the warm-up: 79 * 5 for a worker up
  // 2 minutes, and 55. LowerWeightRoundRobin picks the lower current: 55 + 55 < 395 + 395.
  FakeClock clock;
  std::unique_ptr<WorkerSelector> ds32 =
      MakeSelector(StrategySemantics::kDolphinScheduler32, &clock);
  ClusterView loaded =
      ReportingView({Up(Usage(0.1, 0.2, 0.3, 0), 120'000), Usage(0.5, 0.5, 0.5, 0)}, clock);
  request = Request(SelectionStrategy::kLowerWeight);
  request.explain = true;
  selection = ds32->Select(loaded, request);
  ASSERT_TRUE(selection.ok()) << selection.status();
  EXPECT_EQ(selection->worker()->address, Ip(2));
  ASSERT_EQ(selection->candidates.size(), 2u);
  EXPECT_DOUBLE_EQ(selection->candidates[0].weight, 395);
  EXPECT_DOUBLE_EQ(selection->candidates[1].weight, 55);

  // DYNAMIC: a weight DS computes as negative shows the floor, 1.
  ClusterView overloaded = ReportingView({Usage(50, 0, 0, 0)}, clock);
  request = Request(SelectionStrategy::kDynamicWeightedRoundRobin);
  request.explain = true;
  selection = selector.Select(overloaded, request);
  ASSERT_TRUE(selection.ok()) << selection.status();
  ASSERT_EQ(selection->candidates.size(), 1u);
  EXPECT_EQ(selection->candidates[0].weight, 1);
}

TEST(WorkerSelectorTest, SelectionNamesTheRuleApplied) {
  FakeClock clock;
  ClusterView view = MakeView({Worker("a:1")});
  auto rule = [&](StrategySemantics semantics, SelectionStrategy strategy) {
    // The selector keeps the rule's name: it must outlive the selection.
    const std::unique_ptr<WorkerSelector> selector = MakeSelector(semantics, &clock, {50, 20, 30});
    absl::StatusOr<Selection> selection = selector->Select(view, Request(strategy));
    return selection.ok() ? std::string(selection->rule) : selection.status().ToString();
  };
  EXPECT_EQ(rule(StrategySemantics::kDolphinScheduler31, SelectionStrategy::kLowerWeight),
            "LowerWeightRoundRobin: lowest current weight first, weight 10 cpu + 20 memory + 70 "
            "loadAverage (DolphinScheduler 2.0-3.2.0)");
  EXPECT_EQ(rule(StrategySemantics::kDolphinScheduler32, SelectionStrategy::kLowerWeight),
            "LowerWeightRoundRobin: lowest current weight first, weight 100 - (20 cpu + 20 memory "
            "+ 50 disk + 10 threadPoolUsage) (DolphinScheduler 3.2.1-3.2.2)");
  EXPECT_EQ(rule(StrategySemantics::kDolphinScheduler33, SelectionStrategy::kLowerWeight),
            "LowerWeightRoundRobin: lowest current weight first, weight 100 - (20 cpu + 20 memory "
            "+ 50 disk + 10 threadPoolUsage) (DolphinScheduler 3.2.1-3.2.2; DolphinScheduler 3.3 "
            "has no LOWER_WEIGHT)");
  EXPECT_EQ(rule(StrategySemantics::kDolphinScheduler32, SelectionStrategy::kRandom),
            "RandomSelector: random weighted by workerHostWeight (DolphinScheduler 2.0-3.2)");
  EXPECT_EQ(rule(StrategySemantics::kDolphinScheduler31, SelectionStrategy::kRoundRobin),
            "RoundRobinSelector: smooth weighted round robin on workerHostWeight "
            "(DolphinScheduler 2.0-3.2)");
  EXPECT_EQ(rule(StrategySemantics::kDolphinScheduler33, SelectionStrategy::kRandom),
            "RandomWorkerLoadBalancer: uniform (DolphinScheduler 3.3)");
  EXPECT_EQ(rule(StrategySemantics::kDolphinScheduler33, SelectionStrategy::kRoundRobin),
            "RoundRobinWorkerLoadBalancer: workers in turn (DolphinScheduler 3.3)");
  EXPECT_EQ(
      rule(StrategySemantics::kDolphinScheduler32, SelectionStrategy::kDynamicWeightedRoundRobin),
      "DynamicWeightedRoundRobinWorkerLoadBalancer: weighted round robin on 100 - (50 cpu + "
      "20 memory + 30 threadPoolUsage) / 3 (DolphinScheduler 3.3)");
  EXPECT_THAT(
      rule(StrategySemantics::kDolphinScheduler33, SelectionStrategy::kLowerLoadWeightedRoundRobin),
      ::testing::StartsWith("roster LOWER_LOAD_WEIGHTED_ROUND_ROBIN"));
}

TEST(WorkerSelectorTest, ValidateSelectorOptions) {
  EXPECT_OK(ValidateSelectorOptions(SelectorOptions{}));
  SelectorOptions options;
  options.dynamic_weights = {100, 0, 0};
  EXPECT_OK(ValidateSelectorOptions(options));
  options.dynamic_weights = {30, 30, 30};
  EXPECT_THAT(ValidateSelectorOptions(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "dynamic weights cpu_usage_weight 30 + memory_usage_weight 30 + "
                       "thread_pool_usage_weight 30 = 90, not 100"));
  options.dynamic_weights = {110, -10, 0};
  EXPECT_THAT(ValidateSelectorOptions(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "dynamic weight memory_usage_weight -10 is negative (each must be >= 0)"));
  options = SelectorOptions{};
  options.warm_up = absl::Seconds(-1);
  EXPECT_THAT(ValidateSelectorOptions(options),
              StatusIs(absl::StatusCode::kInvalidArgument, "warm_up -1s is negative"));
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
  EXPECT_THAT(selector.Select(view, Request(static_cast<SelectionStrategy>(17))),
              StatusIs(absl::StatusCode::kInvalidArgument, "unknown selection strategy 17"));
}

TEST(WorkerSelectorTest, NoSelectableWorkerSaysWhy) {
  WorkerSelector selector;
  EXPECT_THAT(selector.Select(MakeView({}), Request(SelectionStrategy::kRoundRobin)),
              StatusIs(absl::StatusCode::kUnavailable, "group 'default': no workers"));

  ClusterView busy = MakeView({Worker("a:1", NodeState::kOverload, {"etl"}),
                               Worker("b:1", NodeState::kFault, {"etl"}),
                               Worker("c:1", NodeState::kOverload, {"etl"}), Worker("d:1")});
  for (StrategySemantics semantics : kAllSemantics) {
    for (SelectionStrategy strategy : kAllStrategies) {
      FakeClock clock;
      EXPECT_THAT(MakeSelector(semantics, &clock)->Select(busy, Request(strategy, "etl")),
                  StatusIs(absl::StatusCode::kUnavailable,
                           "group 'etl': 3 workers, none selectable (2 OVERLOAD, 1 FAULT)"))
          << Describe(semantics, strategy);
    }
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

  // workerHostWeight 0 means "never" to the strategies weighted by it.
  ClusterView weightless = MakeView({WeightedWorker("a:1", 0), WeightedWorker("b:1", 0)});
  FakeClock clock;
  std::unique_ptr<WorkerSelector> ds32 =
      MakeSelector(StrategySemantics::kDolphinScheduler32, &clock);
  for (SelectionStrategy strategy : {SelectionStrategy::kRandom, SelectionStrategy::kRoundRobin,
                                     SelectionStrategy::kFixedWeightedRoundRobin}) {
    EXPECT_THAT(ds32->Select(weightless, Request(strategy)),
                StatusIs(absl::StatusCode::kUnavailable,
                         "group 'default': 2 workers, none selectable (2 weight 0)"))
        << SelectionStrategyName(strategy);
  }
  // It means nothing to 3.3's round robin or the load-based strategies.
  EXPECT_EQ(Pick(selector, weightless, Request(SelectionStrategy::kRoundRobin)), "a:1");
  EXPECT_EQ(Pick(*ds32, weightless, Request(SelectionStrategy::kLowerWeight)), "a:1");
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
  // b leaves and e joins: the index (5) goes on over a c d e.
  ClusterView third = MakeView({Worker("a:1"), Worker("c:1"), Worker("d:1"), Worker("e:1")}, 3);
  EXPECT_THAT(PickN(selector, third, request, 5), ElementsAre("c:1", "d:1", "e:1", "a:1", "c:1"));
  // c leaves: index 10 over a d e.
  ClusterView fourth = MakeView({Worker("a:1"), Worker("d:1"), Worker("e:1")}, 4);
  EXPECT_THAT(PickN(selector, fourth, request, 4), ElementsAre("d:1", "e:1", "a:1", "d:1"));
}

TEST(WorkerSelectorTest, SmoothWeightsSurviveViewsAndDropLeavers) {
  FakeClock clock;
  std::unique_ptr<WorkerSelector> selector =
      MakeSelector(StrategySemantics::kDolphinScheduler32, &clock);
  const SelectRequest request = Request(SelectionStrategy::kRoundRobin);
  auto view_with = [](uint64_t version) {
    return MakeView({WeightedWorker("a:1", 5), WeightedWorker("b:1", 1), WeightedWorker("c:1", 1)},
                    version);
  };
  // RoundRobinSelector is nginx's smooth round robin: for weights {5, 1, 1}, a a b a c a a,
  // here split over three views.
  EXPECT_THAT(PickN(*selector, view_with(1), request, 3), ElementsAre("a:1", "a:1", "b:1"));
  EXPECT_THAT(PickN(*selector, view_with(2), request, 2), ElementsAre("a:1", "c:1"));
  EXPECT_THAT(PickN(*selector, view_with(3), request, 2), ElementsAre("a:1", "a:1"));

  // a leaves; b and c share the picks equally, and a returning starts from
  // scratch.
  ClusterView without_a = MakeView({WeightedWorker("b:1", 1), WeightedWorker("c:1", 1)}, 4);
  std::map<std::string, int> counts = CountPicks(*selector, without_a, request, 100);
  EXPECT_EQ(counts["b:1"], 50);
  EXPECT_EQ(counts["c:1"], 50);
  EXPECT_THAT(PickN(*selector, view_with(5), request, 7),
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
  // given (index 5 over a b c).
  EXPECT_THAT(PickN(selector, healthy, request, 3), ElementsAre("c:1", "a:1", "b:1"));
}

// Heartbeats replace a group's nodes without changing its members: the next view's lists share
// every chunk no heartbeat touched, and the selector carries over only the members replaced.
// That must pick exactly as rebuilding every member of a changed group does. For each group a
// change touched, the reference selector gets the members as fresh copies, plus a drained
// worker of a new address (never eligible), so it can only rebuild; the other gets the views
// the cluster builds (Apply()). 300 workers (several chunks per list) over 400 views, some
// still warming up for the first minutes, every stateful strategy of DS 3.1's, 3.2's and 3.3's
// rules.
TEST(WorkerSelectorTest, CarryingOverReplacedMembersPicksAsRebuildingDoes) {
  struct Rules {
    StrategySemantics semantics;
    bool lower_weight_rebuild_on_change;
    std::vector<SelectionStrategy> strategies;
  };
  const Rules rules[] = {
      {StrategySemantics::kDolphinScheduler33,
       false,
       {SelectionStrategy::kRoundRobin, SelectionStrategy::kFixedWeightedRoundRobin,
        SelectionStrategy::kDynamicWeightedRoundRobin,
        SelectionStrategy::kLowerLoadWeightedRoundRobin}},
      {StrategySemantics::kDolphinScheduler32,
       false,
       {SelectionStrategy::kRoundRobin, SelectionStrategy::kLowerWeight}},
      {StrategySemantics::kDolphinScheduler31, true, {SelectionStrategy::kLowerWeight}},
  };
  for (const Rules& rule : rules) {
    SCOPED_TRACE(static_cast<int>(rule.semantics));
    FakeClock clock;
    SelectorOptions options;
    options.semantics = rule.semantics;
    options.lower_weight_rebuild_on_change = rule.lower_weight_rebuild_on_change;
    options.lower_weight_refresh = absl::Seconds(3);
    options.clock = &clock;
    WorkerSelector carried(options), rebuilt(options);
    std::mt19937 random(11);
    const int64_t now_ms = absl::ToUnixMillis(clock.WallNow());
    std::vector<NodeInfoPtr> workers;
    for (int i = 0; i < 300; ++i) {
      auto worker = Worker(absl::StrFormat("10.0.%d.%d:1234", i / 100, i % 100),
                           NodeState::kRunning, {absl::StrCat("g", i % 2)});
      worker->heartbeat.set_host_weight(1 + static_cast<int>(random() % 100));
      // One in ten started 1 to 9 minutes ago: warming up for the first views.
      worker->heartbeat.set_startup_time_ms(now_ms -
                                            (i % 10 == 0 ? 60'000 * (1 + i % 9) : 3'600'000));
      worker->heartbeat.set_cpu_usage(0.01 * (random() % 100));
      worker->heartbeat.set_memory_usage(0.01 * (random() % 100));
      worker->heartbeat.set_load_average(0.1 * (random() % 40));
      worker->mzxid = 1;
      workers.push_back(std::move(worker));
    }
    ClusterView view = MakeView(workers, 1);
    // A group's members as the reference gets them after `step`.
    auto rebuilt_members = [](const NodeList& members, int step) {
      std::vector<NodeInfoPtr> copies;
      for (const NodeInfoPtr& member : members) {
        copies.push_back(std::make_shared<NodeInfo>(*member));
      }
      auto newcomer = Worker(absl::StrCat("99.0.0.1:", 1000 + step));  // sorts last
      newcomer->drained = true;
      copies.push_back(std::move(newcomer));
      return NodeList(std::move(copies));
    };
    ClusterView reference = view;
    for (auto& [name, group] : reference.groups) group.members = rebuilt_members(group.members, 0);
    for (int step = 0; step < 400; ++step) {
      SCOPED_TRACE(step);
      for (SelectionStrategy strategy : rule.strategies) {
        for (const char* group : {"default", "g0", "g1"}) {
          SelectRequest request = Request(strategy, group);
          request.allow_overload = step % 3 == 0;
          if (step % 7 == 0) request.exclude = {view.workers[random() % 300]->address};
          for (int pick = 0; pick < 2; ++pick) {
            ASSERT_EQ(Pick(carried, view, request), Pick(rebuilt, reference, request))
                << SelectionStrategyName(strategy) << " in " << group;
          }
          // The weights each strategy picks with, as `explain` shows them.
          request.explain = true;
          ASSERT_EQ(ExplainedWeights(carried, view, request),
                    ExplainedWeights(rebuilt, reference, request))
              << SelectionStrategyName(strategy) << " in " << group;
        }
        // The clock moves between strategies too: a later strategy picks from a view that an
        // earlier one synced, as a rebuilding selector would have seen it then.
        clock.Advance(absl::Milliseconds(500));
      }
      // The next view: one to five workers heartbeat, now and then changing state or weight, or
      // having restarted.
      std::vector<NodeChange> changes;
      for (int k = 1 + static_cast<int>(random() % 5); k > 0; --k) {
        const NodeInfoPtr& before = view.workers[random() % 300];
        auto after = std::make_shared<NodeInfo>(*before);
        after->mzxid = before->mzxid + 1;
        after->heartbeat.set_cpu_usage(0.01 * (random() % 100));
        after->heartbeat.set_memory_usage(0.01 * (random() % 100));
        after->heartbeat.set_load_average(0.1 * (random() % 40));
        if (random() % 4 == 0) {
          after->state =
              before->state == NodeState::kRunning ? NodeState::kOverload : NodeState::kRunning;
        }
        if (random() % 10 == 0) {
          after->heartbeat.set_host_weight(1 + static_cast<int>(random() % 100));
        }
        if (random() % 60 == 0) {  // restarted a second ago: warming up again
          after->heartbeat.set_startup_time_ms(absl::ToUnixMillis(clock.WallNow()) - 1000);
        }
        changes.push_back({before, std::move(after)});
      }
      ClusterView next;
      next.version = view.version + 1;
      next.synced = true;
      next.workers = view.workers.Apply(changes);
      next.groups = view.groups;
      for (auto& [name, group] : next.groups) {
        std::vector<NodeChange> in_group;
        for (const NodeChange& change : changes) {
          if (absl::c_linear_search(change.after->groups, name)) in_group.push_back(change);
        }
        if (in_group.empty()) continue;  // the same chunks, for both selectors
        group.members = group.members.Apply(in_group);
        reference.groups[name].members = rebuilt_members(group.members, step + 1);
      }
      view = std::move(next);
      clock.Advance(absl::Seconds(2));
    }
  }
}

// -----------------------------------------------------------------------------
// Concurrency

TEST(WorkerSelectorTest, ConcurrentSelectionsStayExactlyBalanced) {
  std::vector<NodeInfoPtr> workers;
  for (int i = 0; i < 8; ++i) workers.push_back(WeightedWorker(absl::StrCat("w", i, ":1"), i + 1));
  const ClusterView view = MakeView(workers);
  constexpr int kThreads = 4;
  constexpr int kPicksPerThread = 36000;  // 144000 in all: a multiple of 8 and of 36 (weights)
  // ROUND_ROBIN in 3.3 takes turns; in 3.2 it is smooth on workerHostWeight, whose sequence
  // repeats every 36 picks.
  for (StrategySemantics semantics :
       {StrategySemantics::kDolphinScheduler33, StrategySemantics::kDolphinScheduler32}) {
    FakeClock clock;
    std::unique_ptr<WorkerSelector> selector = MakeSelector(semantics, &clock);
    std::vector<std::map<std::string, int>> counts(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        const SelectRequest request = Request(SelectionStrategy::kRoundRobin);
        for (int i = 0; i < kPicksPerThread; ++i) counts[t][Pick(*selector, view, request)]++;
      });
    }
    for (std::thread& thread : threads) thread.join();
    std::map<std::string, int> total;
    for (const auto& per_thread : counts) {
      for (const auto& [address, count] : per_thread) total[address] += count;
    }
    ASSERT_EQ(total.size(), 8u) << SemanticsName(semantics);
    constexpr int kAll = kThreads * kPicksPerThread;
    for (int i = 0; i < 8; ++i) {
      const int expected =
          semantics == StrategySemantics::kDolphinScheduler33 ? kAll / 8 : kAll / 36 * (i + 1);
      EXPECT_EQ(total[absl::StrCat("w", i, ":1")], expected)
          << SemanticsName(semantics) << " w" << i;
    }
  }
}

}  // namespace
}  // namespace roster::cluster
