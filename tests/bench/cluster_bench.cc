// Benchmarks of the cluster layer, in process (Google Benchmark; not a ctest
// test). Build RelWithDebInfo or Release, then:
//
//   build/tests/bench/cluster_bench [--benchmark_filter=Select]
//       [--no_mutex_deadlock_detection]
//
// Absolute numbers depend on the machine, so every run also measures two
// baselines and, after the usual table, prints each benchmark's cost per item
// as a multiple of them:
//   BM_Baseline_EmptyCall    an opaque call through the same benchmark loop
//   BM_Baseline_CopyViewPtr  copying the view's shared_ptr, as readers do
//
// --no_mutex_deadlock_detection turns off absl::Mutex deadlock detection,
// which Debian's Abseil (built without NDEBUG) runs on every lock: it shows
// what the locks cost when the daemon turns it off.
//
// Sections: baselines, then one per component (WorkerSelector, ...). Add new
// sections above the reporting code at the end.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "cluster/cluster_view.h"
#include "cluster/node_info.h"
#include "cluster/worker_selector.h"

namespace roster::cluster {
namespace {

// -----------------------------------------------------------------------------
// Baselines

__attribute__((noinline)) int EmptyCall(int value) {
  asm volatile("" : "+r"(value));  // opaque: the call cannot be folded away
  return value;
}

void BM_Baseline_EmptyCall(benchmark::State& state) {
  int value = 0;
  for (auto _ : state) {
    value = EmptyCall(value);
    benchmark::DoNotOptimize(value);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Baseline_EmptyCall);

void BM_Baseline_CopyViewPtr(benchmark::State& state) {
  const ClusterViewPtr view = std::make_shared<const ClusterView>();
  for (auto _ : state) {
    ClusterViewPtr copy = view;
    benchmark::DoNotOptimize(copy.get());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Baseline_CopyViewPtr);

// -----------------------------------------------------------------------------
// WorkerSelector

// A synced view with `n` RUNNING workers in "default", with varied weights and
// loads (as heartbeats would report them), sorted by address.
ClusterViewPtr MakeWorkerView(int n, uint64_t version = 1) {
  std::vector<std::string> addresses;
  for (int i = 0; i < n; ++i)
    addresses.push_back(
        absl::StrCat("10.0.", i / 200, ".", i % 200 + 10, ":1234"));
  std::sort(addresses.begin(), addresses.end());
  auto view = std::make_shared<ClusterView>();
  view->version = version;
  view->synced = true;
  GroupView& group = view->groups["default"];
  group.name = "default";
  for (int i = 0; i < n; ++i) {
    auto node = std::make_shared<NodeInfo>();
    node->address = addresses[i];
    node->role = NodeRole::kWorker;
    node->state = NodeState::kRunning;
    node->has_heartbeat = true;
    node->heartbeat.set_server_status(roster::v1::Heartbeat::NORMAL);
    node->heartbeat.set_host_weight(50 + 10 * (i % 6));
    node->heartbeat.set_cpu_usage(0.05 * (i % 13));
    node->heartbeat.set_memory_usage(0.04 * (i % 17));
    node->heartbeat.set_disk_usage(0.03 * (i % 7));
    node->heartbeat.set_thread_pool_usage(0.1 * (i % 5));
    node->groups = {"default"};
    view->workers.push_back(node);
    group.members.push_back(node);
    group.count_by_state[NodeState::kRunning]++;
    group.selectable++;
  }
  return view;
}

void BM_Select(benchmark::State& state, SelectionStrategy strategy) {
  const ClusterViewPtr view = MakeWorkerView(static_cast<int>(state.range(0)));
  WorkerSelector selector;
  SelectRequest request;
  request.strategy = strategy;
  for (auto _ : state) {
    absl::StatusOr<Selection> selection = selector.Select(*view, request);
    if (!selection.ok()) {
      state.SkipWithError(std::string(selection.status().message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(selection->worker.get());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_Select, RANDOM, SelectionStrategy::kRandom)
    ->Arg(8)
    ->Arg(100);
BENCHMARK_CAPTURE(BM_Select, ROUND_ROBIN, SelectionStrategy::kRoundRobin)
    ->Arg(8)
    ->Arg(100);
BENCHMARK_CAPTURE(BM_Select, FIXED_WRR,
                  SelectionStrategy::kFixedWeightedRoundRobin)
    ->Arg(8)
    ->Arg(100);
BENCHMARK_CAPTURE(BM_Select, DYNAMIC_WRR,
                  SelectionStrategy::kDynamicWeightedRoundRobin)
    ->Arg(8)
    ->Arg(100);
BENCHMARK_CAPTURE(BM_Select, LOWER_WEIGHT, SelectionStrategy::kLowerWeight)
    ->Arg(8)
    ->Arg(100);

// The cost of `explain` (strings for every member), 8 workers.
void BM_SelectExplain(benchmark::State& state) {
  const ClusterViewPtr view = MakeWorkerView(8);
  WorkerSelector selector;
  SelectRequest request;
  request.strategy = SelectionStrategy::kRoundRobin;
  request.explain = true;
  for (auto _ : state) {
    absl::StatusOr<Selection> selection = selector.Select(*view, request);
    benchmark::DoNotOptimize(selection->candidates.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SelectExplain);

// Worst case for the strategy state: every pick sees a different view (new
// NodeInfos), so the per-group state is rebuilt each time. Real views change
// per heartbeat batch, not per pick.
void BM_SelectNewViewEveryPick(benchmark::State& state) {
  const ClusterViewPtr views[2] = {MakeWorkerView(8, 1), MakeWorkerView(8, 2)};
  WorkerSelector selector;
  SelectRequest request;
  request.strategy = SelectionStrategy::kDynamicWeightedRoundRobin;
  uint64_t i = 0;
  for (auto _ : state) {
    absl::StatusOr<Selection> selection =
        selector.Select(*views[i++ & 1], request);
    benchmark::DoNotOptimize(selection->worker.get());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SelectNewViewEveryPick);

// Several threads selecting from one selector and one view (contention on the
// group's mutex for the round-robin strategies; RANDOM takes no lock).
// Aggregate throughput.
struct SharedSelector {
  ClusterViewPtr view = MakeWorkerView(8);
  WorkerSelector selector;
};

void BM_SelectShared(benchmark::State& state, SelectionStrategy strategy) {
  // Shared by the benchmark's threads; leaked on purpose (no teardown order).
  static SharedSelector* const shared = new SharedSelector();
  SelectRequest request;
  request.strategy = strategy;
  for (auto _ : state) {
    absl::StatusOr<Selection> selection =
        shared->selector.Select(*shared->view, request);
    benchmark::DoNotOptimize(selection->worker.get());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_SelectShared, RANDOM, SelectionStrategy::kRandom)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_SelectShared, ROUND_ROBIN, SelectionStrategy::kRoundRobin)
    ->Threads(2)
    ->UseRealTime();

// -----------------------------------------------------------------------------
// Reporting: the usual console table, then every benchmark against the
// baselines.

// With --benchmark_repetitions, the medians are compared (with the baselines'
// medians).
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      std::string suffix;
      if (run.run_type == Run::RT_Aggregate) {
        if (run.aggregate_name != "median") continue;
        suffix = "_median";
      }
      auto rate = run.counters.find("items_per_second");
      if (rate == run.counters.end() || rate->second.value <= 0) continue;
      results_.push_back(
          {run.benchmark_name(), suffix, 1e9 / rate->second.value});
    }
  }

  void PrintRatios() const {
    std::printf(
        "\nCost per item against the baselines of this run (x = multiple of "
        "the baseline):\n");
    std::printf("%-56s %9s %12s %13s %11s\n", "benchmark", "ns/item", "items/s",
                "x empty call", "x view ptr");
    for (const Result& result : results_) {
      std::printf("%-56s %9.1f %12.0f %13s %11s\n", result.name.c_str(),
                  result.ns_per_item, 1e9 / result.ns_per_item,
                  Ratio(result.ns_per_item,
                        Find("BM_Baseline_EmptyCall" + result.suffix))
                      .c_str(),
                  Ratio(result.ns_per_item,
                        Find("BM_Baseline_CopyViewPtr" + result.suffix))
                      .c_str());
    }
  }

 private:
  struct Result {
    std::string name;
    std::string suffix;  // "_median" for a median of repetitions
    double ns_per_item;
  };

  double Find(const std::string& name) const {
    for (const Result& result : results_) {
      if (result.name == name) return result.ns_per_item;
    }
    return 0;  // filtered out
  }

  static std::string Ratio(double value, double baseline) {
    if (baseline <= 0) return "n/a";
    return absl::StrCat(std::round(value / baseline * 10) / 10);
  }

  std::vector<Result> results_;
};

}  // namespace
}  // namespace roster::cluster

int main(int argc, char** argv) {
  // Our own flag, removed before Google Benchmark parses the rest.
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--no_mutex_deadlock_detection") == 0) {
      absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  roster::cluster::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  benchmark::Shutdown();
  return 0;
}
