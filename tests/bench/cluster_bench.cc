// Benchmarks of the cluster layer, in process (Google Benchmark; not a ctest
// test). Build RelWithDebInfo or Release, then:
//
//   build/tests/bench/cluster_bench [--benchmark_filter=Select]
//       [--no_mutex_deadlock_detection] [--manager_clock_slowdown=N]
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
// --manager_clock_slowdown=N runs the event benchmarks' managers on a clock N times slower than
// real time: for instruction counts under callgrind (see SlowedClock).
//
// The ClusterManager events section (10,000 workers, heartbeats from registry
// events to published views) measures its own baselines in the same run, the
// in-memory registry's event rate and ParseHeartbeat's rate, and reports
// ratios against them as counters (x_registry, x_parse); see that section.
// Only its events: --benchmark_filter=ClusterManagerEvents
//
// BM_ClusterManagerHeap reports the heap a manager holds at 10,000 workers with its change
// log full, against the bytes of the znodes it follows (x_znodes). Only it:
// --benchmark_filter=ClusterManagerHeap
//
// The heartbeat decoding section times ParseHeartbeat against protobuf's JSON
// parser (ParseHeartbeatReference) on the same payloads, in the same run
// (x_protobuf); see that section. Only it: --benchmark_filter=HeartbeatDecode
//
// Sections: baselines, then one per component (WorkerSelector, ...). Add new
// sections above the reporting code at the end.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "cluster/change_log.h"
#include "cluster/cluster_manager.h"
#include "cluster/cluster_view.h"
#include "cluster/heartbeat_codec.h"
#include "cluster/layout.h"
#include "cluster/node_info.h"
#include "cluster/node_table.h"
#include "cluster/self_preservation.h"
#include "cluster/view_builder.h"
#include "cluster/worker_cluster.h"
#include "cluster/worker_selector.h"
#include "glog/logging.h"
#include "registry/memory/memory_registry.h"
#include "registry/registry.h"
#include "tests/cluster/cluster_test_util.h"
#include "util/clock.h"
#include "util/heap.h"

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
// `startup_time_ms`: every worker's startupTime (0: none, so none warms up).
ClusterViewPtr MakeWorkerView(int n, uint64_t version = 1, int64_t startup_time_ms = 0) {
  std::vector<std::string> addresses;
  for (int i = 0; i < n; ++i)
    addresses.push_back(absl::StrCat("10.0.", i / 200, ".", i % 200 + 10, ":1234"));
  std::sort(addresses.begin(), addresses.end());
  auto view = std::make_shared<ClusterView>();
  view->version = version;
  view->synced = true;
  GroupView& group = view->groups["default"];
  group.name = "default";
  std::vector<NodeInfoPtr> workers;
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
    node->heartbeat.set_startup_time_ms(startup_time_ms);
    node->groups = {"default"};
    workers.push_back(node);
    group.count_by_state[NodeState::kRunning]++;
    group.selectable++;
  }
  view->workers = NodeList(workers);
  group.members = NodeList(std::move(workers));
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
    benchmark::DoNotOptimize(selection->worker().get());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_Select, RANDOM, SelectionStrategy::kRandom)->Arg(8)->Arg(100);
BENCHMARK_CAPTURE(BM_Select, ROUND_ROBIN, SelectionStrategy::kRoundRobin)->Arg(8)->Arg(100);
BENCHMARK_CAPTURE(BM_Select, FIXED_WRR, SelectionStrategy::kFixedWeightedRoundRobin)
    ->Arg(8)
    ->Arg(100);
BENCHMARK_CAPTURE(BM_Select, DYNAMIC_WRR, SelectionStrategy::kDynamicWeightedRoundRobin)
    ->Arg(8)
    ->Arg(100);
BENCHMARK_CAPTURE(BM_Select, LOWER_WEIGHT, SelectionStrategy::kLowerWeight)->Arg(8)->Arg(100);

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
    absl::StatusOr<Selection> selection = selector.Select(*views[i++ & 1], request);
    benchmark::DoNotOptimize(selection->worker().get());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SelectNewViewEveryPick);

// The common case at scale: between two picks one worker of the N in the group heartbeats,
// so each pick sees a new view sharing all but one chunk of the group's members with the last
// (NodeList::Apply, as the manager builds views). The selector carries over the one member
// replaced, not the N: compare N = 10 with N = 2,500 (a quarter of 10,000 workers). What the
// strategy itself walks per pick stays: ROUND_ROBIN takes the next eligible worker, DS 3.3's
// DYNAMIC_WEIGHTED_ROUND_ROBIN sums every eligible worker's weight (its definition).
// `warming`: every worker started a minute ago, inside the 10-minute warm-up in which
// LOWER_LOAD's weights follow the clock (a cluster started or upgraded a minute ago).
void BM_SelectAfterOneHeartbeat(benchmark::State& state, SelectionStrategy strategy, bool warming) {
  const int n = static_cast<int>(state.range(0));
  ClusterViewPtr view =
      MakeWorkerView(n, 1, warming ? absl::ToUnixMillis(absl::Now() - absl::Minutes(1)) : 0);
  WorkerSelector selector;
  SelectRequest request;
  request.strategy = strategy;
  std::mt19937 random(5);
  int64_t mzxid = 1;
  for (auto _ : state) {
    state.PauseTiming();
    const NodeInfoPtr& before = view->workers[random() % view->workers.size()];
    auto after = std::make_shared<NodeInfo>(*before);
    after->mzxid = ++mzxid;
    after->heartbeat.set_cpu_usage(static_cast<double>(random() % 100) / 100);
    const std::vector<NodeChange> changes = {{before, std::move(after)}};
    auto next = std::make_shared<ClusterView>(*view);
    next->workers = view->workers.Apply(changes);
    GroupView& group = next->groups["default"];
    group.members = group.members.Apply(changes);
    view = std::move(next);
    state.ResumeTiming();
    absl::StatusOr<Selection> selection = selector.Select(*view, request);
    benchmark::DoNotOptimize(selection->worker().get());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_SelectAfterOneHeartbeat, ROUND_ROBIN, SelectionStrategy::kRoundRobin, false)
    ->Arg(10)
    ->Arg(2500);
BENCHMARK_CAPTURE(BM_SelectAfterOneHeartbeat, DYNAMIC_WRR,
                  SelectionStrategy::kDynamicWeightedRoundRobin, false)
    ->Arg(10)
    ->Arg(2500);
BENCHMARK_CAPTURE(BM_SelectAfterOneHeartbeat, ROUND_ROBIN_warming, SelectionStrategy::kRoundRobin,
                  true)
    ->Arg(10)
    ->Arg(2500);
BENCHMARK_CAPTURE(BM_SelectAfterOneHeartbeat, LOWER_LOAD_warming,
                  SelectionStrategy::kLowerLoadWeightedRoundRobin, true)
    ->Arg(10)
    ->Arg(2500);

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
    absl::StatusOr<Selection> selection = shared->selector.Select(*shared->view, request);
    benchmark::DoNotOptimize(selection->worker().get());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_SelectShared, RANDOM, SelectionStrategy::kRandom)->Threads(2)->UseRealTime();
BENCHMARK_CAPTURE(BM_SelectShared, ROUND_ROBIN, SelectionStrategy::kRoundRobin)
    ->Threads(2)
    ->UseRealTime();

void CheckOk(const absl::Status& status) { CHECK(status.ok()) << status; }
template <typename T>
void CheckOk(const absl::StatusOr<T>& result) {
  CheckOk(result.status());
}

// -----------------------------------------------------------------------------
// Heartbeat decoding: ParseHeartbeat (simdjson, protobuf for what it declines)
// against ParseHeartbeatReference (protobuf's JSON parser alone), on the same
// payloads: 1,000 workers' heartbeats as each DolphinScheduler version spells
// them (EncodeHeartbeat), read as the cluster layer reads them (kAuto, the
// znode's mtime as the clock reference).
//   BM_HeartbeatDecode/<version>/fast       items/s = heartbeats decoded/s
//   BM_HeartbeatDecode/<version>/protobuf   the reference, the same payloads
// The fast one also times both over the same payloads in the same run, in
// CPU time (counters fast_ns, ref_ns), and reports x_protobuf = ref_ns /
// fast_ns: how many times faster than protobuf's parser the codec decodes.
// Only these: --benchmark_filter=HeartbeatDecode

constexpr int kDecodePayloads = 1000;

std::vector<std::string> DecodePayloads(HeartbeatDialect dialect) {
  const int64_t startup_ms = absl::ToUnixMillis(absl::Now() - absl::Hours(1));
  std::vector<std::string> payloads;
  for (int i = 0; i < kDecodePayloads; ++i) {
    roster::v1::Heartbeat h;
    h.set_server_status(i % 10 == 0 ? roster::v1::Heartbeat::BUSY : roster::v1::Heartbeat::NORMAL);
    h.set_process_id(2000 + i);
    h.set_startup_time_ms(startup_ms);
    h.set_report_time_ms(startup_ms + 1000 + i);
    h.set_cpu_usage(0.01 * (i % 90));
    h.set_memory_usage(0.011 * (i % 80));
    h.set_jvm_cpu_usage(0.002 * (i % 50));
    h.set_jvm_memory_usage(0.007 * (i % 100));
    h.set_load_average(0.25 * (i % 16));
    h.set_available_memory_gb(1.5 + i % 30);
    h.set_reserved_memory(0.3);
    h.set_max_cpu_load_avg(16);
    h.set_disk_available_gb(100.25);
    h.set_host(absl::StrCat("10.1.", i / 200, ".", i % 200 + 10));
    h.set_port(1234);
    h.set_host_weight(100);
    h.set_exec_threads(100);
    h.set_waiting_tasks(i % 3);
    h.set_running_tasks(i % 7);
    h.set_thread_pool_usage(0.01 * (i % 100));
    payloads.push_back(EncodeHeartbeat(NodeRole::kWorker, h, dialect));
  }
  return payloads;
}

using DecodeFunction = absl::StatusOr<roster::v1::Heartbeat> (*)(NodeRole, absl::string_view,
                                                                 const HeartbeatLimits&, absl::Time,
                                                                 HeartbeatDialect);

// This thread's CPU time: the machines these run on are shared, and wall time
// counts the other tenants' work too.
absl::Duration ThreadCpuTime() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return absl::DurationFromTimespec(ts);
}

// CPU nanoseconds per heartbeat of `decode` over `payloads`, `passes` times.
double TimeDecode(DecodeFunction decode, const std::vector<std::string>& payloads, int passes) {
  const HeartbeatLimits limits;
  const absl::Time written_at = absl::Now();
  const absl::Duration start = ThreadCpuTime();
  for (int pass = 0; pass < passes; ++pass) {
    for (const std::string& payload : payloads) {
      auto parsed = decode(NodeRole::kWorker, payload, limits, written_at, HeartbeatDialect::kAuto);
      benchmark::DoNotOptimize(parsed);
    }
  }
  return absl::ToDoubleNanoseconds(ThreadCpuTime() - start) / (passes * payloads.size());
}

void BM_HeartbeatDecode(benchmark::State& state, HeartbeatDialect dialect, bool fast) {
  const std::vector<std::string> payloads = DecodePayloads(dialect);
  const HeartbeatLimits limits;
  const absl::Time written_at = absl::Now();
  const DecodeFunction decode = fast ? &ParseHeartbeat : &ParseHeartbeatReference;
  for (const std::string& payload : payloads) {  // every payload is a heartbeat, both ways
    CheckOk(decode(NodeRole::kWorker, payload, limits, written_at, HeartbeatDialect::kAuto));
  }
  double reference_ns = 0;
  if (fast) reference_ns = TimeDecode(&ParseHeartbeatReference, payloads, 1);
  size_t k = 0;
  for (auto _ : state) {
    auto parsed =
        decode(NodeRole::kWorker, payloads[k], limits, written_at, HeartbeatDialect::kAuto);
    benchmark::DoNotOptimize(parsed);
    if (++k == payloads.size()) k = 0;
  }
  state.SetItemsProcessed(state.iterations());
  if (fast) {
    // The fast figure again, timed like the reference (same loop, same run).
    const double fast_ns = TimeDecode(&ParseHeartbeat, payloads, 20);
    state.counters["fast_ns"] = fast_ns;
    state.counters["ref_ns"] = reference_ns;
    state.counters["x_protobuf"] = reference_ns / fast_ns;
  }
}

void RegisterDecodeBenchmarks() {
  const std::pair<const char*, HeartbeatDialect> versions[] = {
      {"3.1", HeartbeatDialect::kJson31},
      {"3.2.0", HeartbeatDialect::kJson320},
      {"3.2.1", HeartbeatDialect::kJson321},
      {"3.2.2", HeartbeatDialect::kJson322},
      {"3.3", HeartbeatDialect::kJson33}};
  for (const auto& [name, dialect] : versions) {
    for (const bool fast : {true, false}) {
      benchmark::RegisterBenchmark(
          absl::StrCat("BM_HeartbeatDecode/", name, fast ? "/fast" : "/protobuf").c_str(),
          &BM_HeartbeatDecode, dialect, fast);
    }
  }
}

// -----------------------------------------------------------------------------
// ClusterManager events: heartbeats, from registry events to published views
//
// 10,000 workers registered as DolphinScheduler registers them (an ephemeral
// /nodes/worker/{host}:{port} each, holding its heartbeat JSON), then rounds of
// heartbeat updates. A round ends when the published view shows every worker's
// last heartbeat of the round (a ChangeWatch sees it), so the time covers the
// whole path: registry event -> inbox -> apply -> parse -> publish.
// items_per_second = registry events applied by the manager per second.
//
// Workloads (writes per round):
//   spread   one heartbeat per worker (10,000): every event needs its own parse
//   burst    8 heartbeats in a row per worker (80,000): a node catching up
//   random   50,000 heartbeats to uniformly random workers
//   trickle  1,000 heartbeats to distinct workers, each written only once the
//            previous one is in the published view: the latency of one
//            heartbeat, every publish carrying one change (a quiet cluster)
//
// Two pipelines:
//   Memory   the in-memory registry (MemoryRegistry: a store, a writer session
//            owning the ephemerals, rosterd's session with its subscriptions).
//            Baseline, in the same benchmark and store: a bare subscription
//            that only receives the same rounds (registry_events/s); the
//            ratio x_registry says how much of the registry's event rate the
//            manager sustains. One-shot watches coalesce a burst of writes to
//            one node in the registry already, so events < writes.
//   Direct   events handed straight to the manager's subscription listeners,
//            as the registry executor would, as fast as one thread can: what
//            the manager itself sustains on its one executor thread.
//            Baseline: ParseHeartbeat of the same payloads (parses/s); the
//            ratio x_parse compares the two. The manager parses each dirty
//            node once per batch (NodeTable::Derive), so events that share a
//            batch with a later event of the same node cost no parse:
//            parses/event shows how far that coalescing went.

constexpr int kEventWorkers = 10000;
constexpr int kEventRounds = 5;
constexpr int64_t kEventCzxidBase = 1000;

enum class EventWorkload { kSpread, kBurst, kRandom, kTrickle };

std::string EventWorkerAddress(int i) {
  return absl::StrCat("10.1.", i / 200, ".", i % 200 + 10, ":1234");
}

std::string EventWorkerPath(int i) { return absl::StrCat("/nodes/worker/", EventWorkerAddress(i)); }

// Epoch ms an hour ago: payload times stay well within the clock-skew check.
int64_t EventTimeBase() { return absl::ToUnixMillis(absl::Now() - absl::Hours(1)); }

// The heartbeat worker `i` writes at `report_ms` (3.3's worker shape,
// tests/data/dolphinscheduler/3.3/).
std::string EventPayload(int i, int64_t startup_ms, int64_t report_ms) {
  return ::roster::testing::HeartbeatJson("NORMAL", startup_ms, 2000 + i, report_ms,
                                          0.01 * (i % 90), 0.011 * (i % 80));
}

// One round: the workers written, in order, each write with its payload.
struct EventRound {
  std::vector<int> workers;
  std::vector<std::string> payloads;
  std::vector<int64_t> final_report;  // per worker; 0 when not written
  int written_workers = 0;
};

EventRound MakeEventRound(EventWorkload workload, int round, int64_t startup_ms,
                          std::mt19937* rng) {
  EventRound r;
  r.final_report.assign(kEventWorkers, 0);
  std::vector<int> count(kEventWorkers, 0);
  auto add = [&](int i) {
    // Strictly increasing per worker across rounds and within one.
    const int64_t report = startup_ms + 1000 + int64_t{round} * 100000 + count[i]++;
    r.workers.push_back(i);
    r.payloads.push_back(EventPayload(i, startup_ms, report));
    r.final_report[i] = report;
  };
  switch (workload) {
    case EventWorkload::kSpread:
      for (int i = 0; i < kEventWorkers; ++i) add(i);
      break;
    case EventWorkload::kBurst:
      for (int i = 0; i < kEventWorkers; ++i) {
        for (int k = 0; k < 8; ++k) add(i);
      }
      break;
    case EventWorkload::kRandom: {
      std::uniform_int_distribution<int> pick(0, kEventWorkers - 1);
      for (int k = 0; k < 50000; ++k) add(pick(*rng));
      break;
    }
    case EventWorkload::kTrickle:
      for (int k = 0; k < 1000; ++k) add((round * 1000 + k) % kEventWorkers);
      break;
  }
  for (int64_t report : r.final_report) r.written_workers += report != 0;
  return r;
}

// Follows a manager's published changes (on the cluster executor) until every
// worker written in the current round shows its last heartbeat of the round.
class RoundTracker {
 public:
  RoundTracker() {
    for (int i = 0; i < kEventWorkers; ++i) index_[EventWorkerAddress(i)] = i;
    reached_round_.assign(kEventWorkers, -1);
  }

  // Before the round's first event (the inbox's lock orders this before the
  // executor reads it).
  void Begin(int round, const EventRound* r) {
    absl::MutexLock lock(&mu_);
    round_ = round;
    round_data_ = r;
    reached_ = 0;
    changes_ = 0;
    batches_ = 0;
  }

  // Until `n` of the round's workers show their last heartbeat of the round.
  void WaitReached(int n) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return reached_ >= n; };
    mu_.Await(absl::Condition(&reached));
  }

  int64_t changes() {
    absl::MutexLock lock(&mu_);
    return changes_;
  }

  // Batches (published views) of the round that showed a worker's change.
  int64_t batches() {
    absl::MutexLock lock(&mu_);
    return batches_;
  }

  void OnChanges(const ChangeBatch& batch) {
    absl::MutexLock lock(&mu_);
    if (round_data_ == nullptr) return;
    bool counted = false;
    for (const ClusterChange& change : batch) {
      if (change.kind != ClusterChange::Kind::kNodeUpdated ||
          change.node->role != NodeRole::kWorker) {
        continue;
      }
      ++changes_;
      if (!counted) ++batches_;
      counted = true;
      auto it = index_.find(change.node->address);
      if (it == index_.end()) continue;
      const int i = it->second;
      const int64_t target = round_data_->final_report[i];
      if (target != 0 && reached_round_[i] != round_ &&
          change.node->heartbeat.report_time_ms() >= target) {
        reached_round_[i] = round_;
        ++reached_;
      }
    }
  }

 private:
  absl::flat_hash_map<std::string, int> index_;
  absl::Mutex mu_;
  std::vector<int> reached_round_ ABSL_GUARDED_BY(mu_);
  int round_ ABSL_GUARDED_BY(mu_) = -1;
  const EventRound* round_data_ ABSL_GUARDED_BY(mu_) = nullptr;
  int reached_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t changes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t batches_ ABSL_GUARDED_BY(mu_) = 0;
};

// The listener of a watcher that feeds `tracker` (which must outlive the watch).
WatchListener TrackerListener(RoundTracker* tracker) {
  WatchListener listener;
  listener.on_start = [](WatchStart) {};
  listener.on_changes = [tracker](const std::shared_ptr<const ChangeBatch>& batch) {
    tracker->OnChanges(*batch);
  };
  listener.on_lost = [](bool) { LOG(FATAL) << "the watch fan-out lost changes"; };
  return listener;
}

// The managers' clock with --manager_clock_slowdown=N: monotonic time N times slower than real
// time. Under callgrind (deploy/scale-bench.sh) every thread runs ~50x slower, and the burst rule
// (cluster/burst_detector.h), which compares gaps between events with 50 µs of the manager's
// clock, would see none: each event would be applied alone, with a publish of its own, where a
// native run batches thousands. Slowed as much as the code, the clock shows the gaps a native
// run has, so the instruction count is that of a native run's batching.
class SlowedClock final : public Clock {
 public:
  explicit SlowedClock(double slowdown) : slowdown_(slowdown) {}
  absl::Time Now() const override { return origin_ + (absl::Now() - origin_) / slowdown_; }
  absl::Time WallNow() const override { return absl::Now(); }
  absl::Duration WaitTimeout(absl::Time deadline) const override {
    return (deadline - Now()) * slowdown_;
  }
  void AddObserver(Observer*) override {}
  void RemoveObserver(Observer*) override {}

 private:
  const double slowdown_;
  const absl::Time origin_ = absl::Now();
};

double manager_clock_slowdown = 1;  // --manager_clock_slowdown

ClusterOptions EventManagerOptions() {
  static SlowedClock* const slowed =
      manager_clock_slowdown > 1 ? new SlowedClock(manager_clock_slowdown) : nullptr;
  ClusterOptions options;
  options.run_timers = false;  // no ticks: heartbeats alone drive the view
  options.name = "bench-cluster";
  if (slowed != nullptr) options.clock = slowed;
  return options;
}

void WaitForManager(ClusterManager* manager, size_t workers) {
  while (!(manager->ready() && manager->view()->workers.size() == workers)) {
    absl::SleepFor(absl::Milliseconds(1));  // set-up only, not measured
  }
}

// The in-memory registry: a store, the writer session that owns every worker's
// ephemeral znode, and sessions for readers.
class MemoryEventFixture {
 public:
  MemoryEventFixture() {
    writer_ = Session("bench-writer");
    registry::CreateOptions options;
    options.create_parents = true;
    for (const char* path : {"/nodes/master", "/nodes/worker", "/nodes/alert-server"}) {
      CheckOk(writer_->Create(path, "", options));
    }
    options.mode = registry::CreateMode::kEphemeral;
    for (int i = 0; i < kEventWorkers; ++i) {
      CheckOk(writer_->Create(EventWorkerPath(i), EventPayload(i, startup_ms_, startup_ms_ + 500),
                              options));
    }
  }
  ~MemoryEventFixture() { writer_->Shutdown(); }

  std::unique_ptr<registry::MemoryRegistry> Session(const std::string& name) {
    registry::RegistryOptions options;
    options.name = name;
    auto session = std::make_unique<registry::MemoryRegistry>(store_, "", options);
    CheckOk(session->Start());
    CheckOk(session->WaitConnected(absl::Seconds(10)));
    return session;
  }

  // Writes a round as a heartbeating cluster would (pipelined, no waiting for
  // replies), from the calling thread.
  void Write(const EventRound& round, size_t begin, size_t end) {
    for (size_t k = begin; k < end; ++k) {
      writer_->SetAsync(paths_[round.workers[k]], round.payloads[k],
                        registry::Registry::kAnyVersion,
                        [](absl::StatusOr<registry::Stat> stat) { CheckOk(stat); });
    }
  }

  int64_t startup_ms() const { return startup_ms_; }

 private:
  static std::vector<std::string> Paths() {
    std::vector<std::string> paths;
    for (int i = 0; i < kEventWorkers; ++i) paths.push_back(EventWorkerPath(i));
    return paths;
  }

  const int64_t startup_ms_ = EventTimeBase();
  const std::vector<std::string> paths_ = Paths();
  std::shared_ptr<registry::MemoryStore> store_ = std::make_shared<registry::MemoryStore>();
  std::unique_ptr<registry::MemoryRegistry> writer_;
};

// The bare subscription baseline: receives rounds, counts events, and knows a
// round is over when every written worker's last payload has arrived.
struct RawSubscriber {
  explicit RawSubscriber() {
    for (int i = 0; i < kEventWorkers; ++i) index[EventWorkerPath(i)] = i;
    reached_round.assign(kEventWorkers, -1);
  }

  void OnEvent(const registry::RegistryEvent& event) {
    absl::MutexLock lock(&mu);
    if (event.type == registry::EventType::kSynced) {
      synced = true;
      return;
    }
    if (event.type != registry::EventType::kUpdated || round_data == nullptr) return;
    ++events;
    auto it = index.find(event.path);
    if (it == index.end()) return;
    const int i = it->second;
    if (reached_round[i] != round && last_payload[i] != nullptr && event.data == *last_payload[i]) {
      reached_round[i] = round;
      ++reached;
    }
  }

  void Begin(int r, const EventRound* data) {
    absl::MutexLock lock(&mu);
    round = r;
    round_data = data;
    reached = 0;
    events = 0;
    last_payload.assign(kEventWorkers, nullptr);
    for (size_t k = 0; k < data->workers.size(); ++k) {
      last_payload[data->workers[k]] = &data->payloads[k];
    }
  }

  // Until `n` of the round's workers' last payloads have arrived; returns the events so far.
  int64_t WaitReached(int n) {
    absl::MutexLock lock(&mu);
    auto arrived = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return reached >= n; };
    mu.Await(absl::Condition(&arrived));
    return events;
  }

  absl::flat_hash_map<std::string, int> index;
  absl::Mutex mu;
  bool synced ABSL_GUARDED_BY(mu) = false;
  std::vector<int> reached_round ABSL_GUARDED_BY(mu);
  std::vector<const std::string*> last_payload ABSL_GUARDED_BY(mu);
  int round ABSL_GUARDED_BY(mu) = -1;
  const EventRound* round_data ABSL_GUARDED_BY(mu) = nullptr;
  int reached ABSL_GUARDED_BY(mu) = 0;
  int64_t events ABSL_GUARDED_BY(mu) = 0;
};

void BM_ClusterManagerEvents_Memory(benchmark::State& state, EventWorkload workload) {
  MemoryEventFixture fixture;
  std::mt19937 rng(42);
  int round_number = 0;
  std::vector<EventRound> rounds;
  for (int r = 0; r < 2 * kEventRounds + static_cast<int>(state.max_iterations); ++r) {
    rounds.push_back(MakeEventRound(workload, r, fixture.startup_ms(), &rng));
  }

  // Baseline: the same rounds into a bare subscription of its own session.
  double baseline_seconds = 0;
  int64_t baseline_events = 0;
  int64_t baseline_writes = 0;
  {
    auto session = fixture.Session("bench-raw");
    RawSubscriber raw;
    auto subscription =
        session->Subscribe("/nodes/worker", {2, false},
                           [&raw](const registry::RegistryEvent& event) { raw.OnEvent(event); });
    CheckOk(subscription.status());
    {
      absl::MutexLock lock(&raw.mu);
      raw.mu.Await(absl::Condition(&raw.synced));
    }
    for (int r = 0; r < kEventRounds; ++r, ++round_number) {
      const EventRound& round = rounds[round_number];
      raw.Begin(round_number, &round);
      const absl::Time start = absl::Now();
      if (workload == EventWorkload::kTrickle) {
        for (size_t k = 0; k < round.workers.size(); ++k) {
          fixture.Write(round, k, k + 1);
          raw.WaitReached(static_cast<int>(k) + 1);
        }
      } else {
        fixture.Write(round, 0, round.workers.size());
      }
      baseline_events += raw.WaitReached(round.written_workers);
      baseline_seconds += absl::ToDoubleSeconds(absl::Now() - start);
      baseline_writes += static_cast<int64_t>(round.workers.size());
    }
    subscription->reset();
    session->Shutdown();
  }

  // The manager on rosterd's session.
  auto session = fixture.Session("bench-rosterd");
  ClusterManager manager(session.get(), EventManagerOptions());
  CheckOk(manager.Start());
  WaitForManager(&manager, kEventWorkers);
  RoundTracker tracker;
  auto watch = manager.WatchChanges(0, TrackerListener(&tracker));

  int64_t events = 0;
  int64_t writes = 0;
  double seconds = 0;
  for (auto _ : state) {
    const EventRound& round = rounds[round_number];
    tracker.Begin(round_number++, &round);
    const int64_t applied_before = manager.events_applied();
    const absl::Time start = absl::Now();
    if (workload == EventWorkload::kTrickle) {
      for (size_t k = 0; k < round.workers.size(); ++k) {
        fixture.Write(round, k, k + 1);
        tracker.WaitReached(static_cast<int>(k) + 1);
      }
    } else {
      fixture.Write(round, 0, round.workers.size());
    }
    tracker.WaitReached(round.written_workers);
    const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
    state.SetIterationTime(elapsed);
    seconds += elapsed;
    events += manager.events_applied() - applied_before;
    writes += static_cast<int64_t>(round.workers.size());
  }
  watch.reset();
  manager.Shutdown();
  session->Shutdown();

  state.SetItemsProcessed(events);
  const double rate = events / seconds;
  const double baseline_rate = baseline_events / baseline_seconds;
  state.counters["writes/s"] = writes / seconds;
  state.counters["registry_events/s"] = baseline_rate;
  state.counters["registry_writes/s"] = baseline_writes / baseline_seconds;
  state.counters["x_registry"] = rate / baseline_rate;
}

// A Registry that hands events to its subscribers when told to (Deliver), on
// the calling thread, as a registry executor would: lets the benchmark feed the
// manager faster than any registry delivers. Session always connected; no
// operations (the benchmark uses none: no drains).
class FeedRegistry final : public registry::Registry {
 public:
  absl::Status Start() override { return absl::OkStatus(); }
  void Shutdown() override {}
  registry::SessionInfo session() const override {
    registry::SessionInfo info;
    info.state = registry::SessionState::kConnected;
    info.session = 1;
    return info;
  }
  std::unique_ptr<registry::ListenerHandle> WatchSession(registry::SessionListener) override {
    return std::make_unique<Handle>(nullptr, "");
  }
  absl::StatusOr<std::unique_ptr<registry::Subscription>> Subscribe(
      std::string root, registry::SubscribeOptions, registry::EventListener listener) override {
    absl::MutexLock lock(&mu_);
    listeners_[root] = std::move(listener);
    return std::unique_ptr<registry::Subscription>(new Handle(this, root));
  }
  void GetAsync(std::string, registry::Callback<registry::Node> done) override {
    std::move(done)(Unsupported());
  }
  void GetChildrenAsync(std::string, registry::Callback<registry::Children> done) override {
    std::move(done)(Unsupported());
  }
  void ExistsAsync(std::string, registry::Callback<std::optional<registry::Stat>> done) override {
    std::move(done)(Unsupported());
  }
  void CreateAsync(std::string, std::string, registry::CreateOptions,
                   registry::Callback<std::string> done) override {
    std::move(done)(Unsupported());
  }
  void SetAsync(std::string, std::string, int32_t,
                registry::Callback<registry::Stat> done) override {
    std::move(done)(Unsupported());
  }
  void DeleteAsync(std::string, int32_t, registry::DoneCallback done) override {
    std::move(done)(Unsupported());
  }

  // Calls the listener of the subscription of `root`. One thread at a time.
  void Deliver(const std::string& root, const registry::RegistryEvent& event) {
    registry::EventListener* listener;
    {
      absl::MutexLock lock(&mu_);
      auto it = listeners_.find(root);
      if (it == listeners_.end()) return;
      listener = &it->second;  // stable: std::map, erased only by unsubscribing
    }
    (*listener)(event);
  }

  // Delivers what a subscription's first full read does: kAdded per node, then
  // kSynced with the snapshot.
  void DeliverFullRead(const std::string& root, const std::vector<registry::RegistryEvent>& nodes) {
    for (const registry::RegistryEvent& node : nodes) Deliver(root, node);
    registry::RegistryEvent synced;
    synced.type = registry::EventType::kSynced;
    synced.session = 1;
    synced.path = root;
    synced.snapshot = std::make_shared<const std::vector<registry::RegistryEvent>>(nodes);
    Deliver(root, synced);
  }

 protected:
  bool OnExecutorThread() const override { return false; }

 private:
  class Handle final : public registry::Subscription {
   public:
    Handle(FeedRegistry* owner, std::string root) : owner_(owner), root_(std::move(root)) {}
    ~Handle() override {
      if (owner_ == nullptr) return;
      absl::MutexLock lock(&owner_->mu_);
      owner_->listeners_.erase(root_);
    }
    void Resync() override {}

   private:
    FeedRegistry* const owner_;
    const std::string root_;
  };

  static absl::Status Unsupported() {
    return absl::UnimplementedError("FeedRegistry has no operations");
  }

  absl::Mutex mu_;
  std::map<std::string, registry::EventListener> listeners_ ABSL_GUARDED_BY(mu_);
};

registry::RegistryEvent WorkerEvent(registry::EventType type, int i, std::string payload,
                                    int64_t mzxid) {
  registry::RegistryEvent event = ::roster::testing::NodeEvent(
      type, EventWorkerPath(i), std::move(payload), kEventCzxidBase + i, mzxid);
  return event;
}

// Starts `manager` on `feed` with `workers` workers (all started at `startup_ms`) and every
// other root empty, and waits until its view shows them.
void StartWithWorkers(FeedRegistry* feed, ClusterManager* manager, int workers,
                      int64_t startup_ms) {
  CheckOk(manager->Start());
  const ClusterPaths paths;
  for (const std::string* root :
       {&paths.masters, &paths.alert_servers, &paths.coordinator, &paths.drains}) {
    feed->DeliverFullRead(*root, {});
  }
  std::vector<registry::RegistryEvent> events;
  for (int i = 0; i < workers; ++i) {
    events.push_back(WorkerEvent(registry::EventType::kAdded, i,
                                 EventPayload(i, startup_ms, startup_ms + 500),
                                 kEventCzxidBase + i));
  }
  feed->DeliverFullRead(paths.workers, events);
  WaitForManager(manager, workers);
}

void BM_ClusterManagerEvents_Direct(benchmark::State& state, EventWorkload workload) {
  const int64_t startup_ms = EventTimeBase();
  std::mt19937 rng(42);
  std::vector<EventRound> rounds;
  for (int r = 0; r < static_cast<int>(state.max_iterations); ++r) {
    rounds.push_back(MakeEventRound(workload, r, startup_ms, &rng));
  }
  // The events, built before timing (a registry builds them on its own thread).
  int64_t zxid = kEventCzxidBase + kEventWorkers;
  std::vector<std::vector<registry::RegistryEvent>> round_events;
  for (const EventRound& round : rounds) {
    std::vector<registry::RegistryEvent>& events = round_events.emplace_back();
    events.reserve(round.workers.size());
    for (size_t k = 0; k < round.workers.size(); ++k) {
      events.push_back(
          WorkerEvent(registry::EventType::kUpdated, round.workers[k], round.payloads[k], ++zxid));
    }
  }

  // Baseline: parsing the same payloads, one after another, on this thread.
  double parse_rate = 0;
  {
    const std::vector<std::string>& payloads = rounds[0].payloads;
    const HeartbeatLimits limits;
    const absl::Time wall_now = absl::Now();
    const size_t n = std::min<size_t>(payloads.size(), 20000);
    const absl::Time start = absl::Now();
    for (size_t k = 0; k < n; ++k) {
      auto parsed = ParseHeartbeat(NodeRole::kWorker, payloads[k], limits, wall_now);
      CheckOk(parsed.status());
      benchmark::DoNotOptimize(parsed->report_time_ms());
    }
    parse_rate = n / absl::ToDoubleSeconds(absl::Now() - start);
  }

  FeedRegistry feed;
  ClusterManager manager(&feed, EventManagerOptions());
  const ClusterPaths paths;
  StartWithWorkers(&feed, &manager, kEventWorkers, startup_ms);
  RoundTracker tracker;
  auto watch = manager.WatchChanges(0, TrackerListener(&tracker));

  int64_t events = 0;
  int64_t parses = 0;
  int64_t batches = 0;
  double seconds = 0;
  int round_number = 0;
  for (auto _ : state) {
    const std::vector<registry::RegistryEvent>& round = round_events[round_number];
    tracker.Begin(round_number, &rounds[round_number]);
    ++round_number;
    const absl::Time start = absl::Now();
    if (workload == EventWorkload::kTrickle) {
      for (size_t k = 0; k < round.size(); ++k) {
        feed.Deliver(paths.workers, round[k]);
        tracker.WaitReached(static_cast<int>(k) + 1);
      }
    } else {
      for (const registry::RegistryEvent& event : round) feed.Deliver(paths.workers, event);
    }
    tracker.WaitReached(rounds[round_number - 1].written_workers);
    const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
    state.SetIterationTime(elapsed);
    seconds += elapsed;
    events += static_cast<int64_t>(round.size());
    // Every worker change published is one parse (a dirty node, parsed once).
    parses += tracker.changes();
    batches += tracker.batches();
  }
  watch.reset();
  manager.Shutdown();

  state.SetItemsProcessed(events);
  const double rate = events / seconds;
  state.counters["parses/s"] = parse_rate;
  state.counters["x_parse"] = rate / parse_rate;
  state.counters["parses/event"] = static_cast<double>(parses) / events;
  // How the manager batched the events: each batch is one publish.
  state.counters["events/batch"] = static_cast<double>(events) / std::max<int64_t>(batches, 1);
}

// The cost of publishing one change with 0 and with 1,000 watchers attached, each doing on
// every batch what a WatchCluster stream does on the fan-out thread (lock, filter each
// change, queue it in a bounded queue). One change at a time: deliver a heartbeat, wait until
// the view that shows it is published. Reports microseconds per change for both and their
// ratio (x_1000_vs_0): about 1 when fan-out stays off the application path (the cluster
// executor hands each batch to the fan-out thread in O(1)); it grows with the watchers when
// they are called on the executor. Only this one: --benchmark_filter=PublishOneChange
void BM_PublishOneChange_Watchers(benchmark::State& state) {
  constexpr int kWorkers = 100;
  constexpr int kWatchers = 1000;
  constexpr int kChanges = 2000;
  const int64_t startup_ms = EventTimeBase();
  FeedRegistry feed;
  ClusterManager manager(&feed, EventManagerOptions());
  const ClusterPaths paths;
  StartWithWorkers(&feed, &manager, kWorkers, startup_ms);
  int64_t mzxid = kEventCzxidBase + kWorkers;
  int64_t report_ms = startup_ms + 1000;

  // Microseconds per change, over kChanges changes delivered one at a time.
  auto measure = [&] {
    std::vector<registry::RegistryEvent> events;
    for (int k = 0; k < kChanges; ++k) {
      events.push_back(WorkerEvent(registry::EventType::kUpdated, k % kWorkers,
                                   EventPayload(k % kWorkers, startup_ms, ++report_ms), ++mzxid));
    }
    const absl::Time start = absl::Now();
    for (const registry::RegistryEvent& event : events) {
      const uint64_t before = manager.view()->version;
      feed.Deliver(paths.workers, event);
      while (manager.view()->version == before) {
      }
    }
    return absl::ToDoubleMicroseconds(absl::Now() - start) / kChanges;
  };

  // A watcher's state, as a stream keeps it.
  struct Watcher {
    absl::Mutex mu;
    std::deque<std::pair<std::shared_ptr<const ChangeBatch>, size_t>> queue ABSL_GUARDED_BY(mu);
    int64_t resyncs ABSL_GUARDED_BY(mu) = 0;
  };
  std::vector<std::unique_ptr<Watcher>> watchers;
  std::vector<std::unique_ptr<ChangeWatch>> handles;
  double with_none = 0, with_many = 0;
  for (auto _ : state) {
    with_none = measure();
    for (int w = 0; w < kWatchers; ++w) {
      watchers.push_back(std::make_unique<Watcher>());
      Watcher* watcher = watchers.back().get();
      WatchListener listener;
      listener.on_start = [](WatchStart) {};
      listener.on_changes = [watcher](const std::shared_ptr<const ChangeBatch>& batch) {
        absl::MutexLock lock(&watcher->mu);
        for (size_t i = 0; i < batch->size(); ++i) {
          const ClusterChange& change = (*batch)[i];
          if (change.node != nullptr && change.node->role != NodeRole::kWorker) continue;
          watcher->queue.emplace_back(batch, i);
          if (watcher->queue.size() > 64) watcher->queue.pop_front();  // a reader keeping up
        }
      };
      listener.on_lost = [watcher](bool) {
        absl::MutexLock lock(&watcher->mu);
        ++watcher->resyncs;
      };
      handles.push_back(manager.WatchChanges(0, std::move(listener)));
    }
    while (manager.fanout().watchers() < kWatchers) absl::SleepFor(absl::Milliseconds(1));
    with_many = measure();
    state.SetIterationTime(with_many * 1e-6);
  }
  // Let the fan-out finish before reading what it did.
  while (manager.fanout().pending() > 0) absl::SleepFor(absl::Milliseconds(1));
  handles.clear();
  manager.Shutdown();
  state.counters["us/change_0_watchers"] = with_none;
  state.counters["us/change_1000_watchers"] = with_many;
  state.counters["x_1000_vs_0"] = with_many / with_none;
  state.counters["fanout_overflows"] = static_cast<double>(manager.fanout().overflows());
  state.counters["fanout_max_pending"] = static_cast<double>(manager.fanout().max_pending());
}
BENCHMARK(BM_PublishOneChange_Watchers)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

// Building the next view after one heartbeat that moved a worker's load (OneLoadChange), or also
// moved it between RUNNING and OVERLOAD (OneStateChange: its groups' state counts change too),
// at N workers in four groups (the previous view released each time, as the manager does).
// Views share the chunks of their node lists (cluster/node_list.h), so no node pointer is copied
// beyond the touched chunks; what still grows with N is O(chunks) and the searches' log N.
// Compare the rows with each other and with BM_Baseline_CopyNodeVector (one vector of N node
// pointers copied, what every publish did per list before). Only these:
// --benchmark_filter='BuildNextView|CopyNodeVector'
// `n` RUNNING workers, sorted, each in "default" and one of g0..g3.
NodeList GroupedWorkers(int n) {
  std::vector<NodeInfoPtr> workers;
  for (int i = 0; i < n; ++i) {
    auto node = std::make_shared<NodeInfo>();
    node->address = absl::StrCat("10.", i / 60000, ".", i / 250 % 240, ".", i % 250, ":1234");
    node->role = NodeRole::kWorker;
    node->state = NodeState::kRunning;
    node->groups = {"default", absl::StrCat("g", i % 4)};
    workers.push_back(std::move(node));
  }
  std::sort(workers.begin(), workers.end(),
            [](const NodeInfoPtr& a, const NodeInfoPtr& b) { return a->address < b->address; });
  return NodeList(std::move(workers));
}

void BM_BuildNextView(benchmark::State& state, bool state_change) {
  auto view = std::make_shared<ClusterView>();
  view->workers = GroupedWorkers(static_cast<int>(state.range(0)));
  view->groups = WorkerCluster::BuildGroups(view->workers);
  const SlotFunction no_slots = [](const NodeList&) { return SlotAssignment{}; };
  std::mt19937 random(7);
  for (auto _ : state) {
    const NodeInfoPtr& before = view->workers[random() % view->workers.size()];
    auto after = std::make_shared<NodeInfo>(*before);
    after->heartbeat.set_cpu_usage(static_cast<double>(random() % 100) / 100);
    if (state_change) {
      after->state =
          before->state == NodeState::kRunning ? NodeState::kOverload : NodeState::kRunning;
    }
    ViewChanges changes;
    changes.workers = {{before, std::move(after)}};
    BuiltView built = BuildNextView(*view, std::move(changes), no_slots);
    view = std::move(built.view);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_BuildNextView, OneLoadChange, false)->Arg(10)->Arg(10000);
BENCHMARK_CAPTURE(BM_BuildNextView, OneStateChange, true)->Arg(10)->Arg(10000);

// Every group built from every worker, as a publish does when its batch changed a quarter of the
// workers or more (the first full read, a resync, a burst; the others update the groups in
// O(changes)). Compare with BM_Baseline_CopyNodeVector at the same N: the groups hold each
// worker twice. Only these: --benchmark_filter='BuildGroups|CopyNodeVector'
void BM_BuildGroups(benchmark::State& state) {
  const NodeList workers = GroupedWorkers(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    WorkerCluster::GroupMap groups = WorkerCluster::BuildGroups(workers);
    benchmark::DoNotOptimize(groups.size());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BuildGroups)->Arg(10)->Arg(10000);

// The baseline for the rows above: copying (and releasing) one vector of N node pointers, which
// is what every publish did before NodeList, once for the workers and again for the groups.
void BM_Baseline_CopyNodeVector(benchmark::State& state) {
  std::vector<NodeInfoPtr> nodes;
  for (int64_t i = 0; i < state.range(0); ++i) nodes.push_back(std::make_shared<NodeInfo>());
  for (auto _ : state) {
    std::vector<NodeInfoPtr> copy = nodes;
    benchmark::DoNotOptimize(copy.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Baseline_CopyNodeVector)->Arg(10)->Arg(10000);

// Self-preservation counts the workers up in each population with a loss in its window, on
// every publish while the window lasts. NodeCounter (cluster/node_list.h) recounts only the
// chunks changed since its last count: here one heartbeat's, at N workers. Baseline: walking
// the N nodes, as each publish did before (--benchmark_filter='CountUp').
NodeList CountedWorkers(int n) {
  std::vector<NodeInfoPtr> nodes;
  for (int i = 0; i < n; ++i) {
    auto node = std::make_shared<NodeInfo>();
    node->address = absl::StrCat("10.0.", i / 200, ".", i % 200 + 10, ":1234");
    node->state = i % 7 == 0 ? NodeState::kFault : NodeState::kRunning;
    nodes.push_back(std::move(node));
  }
  std::sort(nodes.begin(), nodes.end(),
            [](const NodeInfoPtr& a, const NodeInfoPtr& b) { return a->address < b->address; });
  return NodeList(std::move(nodes));
}

bool IsUpForBench(const NodeInfo& node) {
  return node.state != NodeState::kFault && node.state != NodeState::kOffline && !node.drained;
}

void BM_CountUp_AfterOneHeartbeat(benchmark::State& state) {
  NodeList list = CountedWorkers(static_cast<int>(state.range(0)));
  NodeCounter counter(&IsUpForBench);
  counter.Count(list);
  std::mt19937 random(9);
  for (auto _ : state) {
    state.PauseTiming();
    const NodeInfoPtr& before = list[random() % list.size()];
    auto after = std::make_shared<NodeInfo>(*before);
    after->state = before->state == NodeState::kRunning ? NodeState::kFault : NodeState::kRunning;
    list = list.Apply({{before, std::move(after)}});
    state.ResumeTiming();
    benchmark::DoNotOptimize(counter.Count(list));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CountUp_AfterOneHeartbeat)->Arg(10)->Arg(10000);

// Self-preservation's part of a publish (SelfPreservation::Filter) for one heartbeat, at 10,000
// workers in four groups, while the window holds range(0) losses: half the workers gone FAULT
// at once, below --self_preservation_fraction (0.7), so nothing is held and every publish for
// the next 30 s counts the wave again. Baseline: the same publish with no loss in the window
// (/0). Each publish costs O(its changes + the groups) whatever the losses: it walked every
// loss once per population before (--benchmark_filter='SelfPreservationFilter').
void BM_SelfPreservationFilter(benchmark::State& state) {
  const int lost = static_cast<int>(state.range(0));
  auto view = std::make_shared<ClusterView>();
  view->synced = true;
  view->workers = GroupedWorkers(10000);
  view->groups = WorkerCluster::BuildGroups(view->workers);
  const SlotFunction no_slots = [](const NodeList&) { return SlotAssignment{}; };
  const LiveNodeLookup live = [](NodeRole, absl::string_view) { return NodeInfoPtr(); };
  SelfPreservation detector{SelfPreservationOptions()};
  absl::Time now = absl::UnixEpoch() + absl::Hours(1);
  std::mt19937 random(11);
  std::vector<size_t> order(view->workers.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), random);
  ViewChanges wave;
  for (int i = 0; i < lost; ++i) {
    const NodeInfoPtr& before = view->workers[order[i]];
    auto after = std::make_shared<NodeInfo>(*before);
    after->state = NodeState::kFault;
    wave.workers.push_back({before, std::move(after)});
  }
  std::sort(wave.workers.begin(), wave.workers.end(), [](const NodeChange& a, const NodeChange& b) {
    return a.before->address < b.before->address;
  });
  detector.Filter(*view, now, absl::Now(), live, &wave);
  view = BuildNextView(*view, std::move(wave), no_slots).view;
  CHECK_EQ(detector.held(), 0u) << "the wave must stay below the fraction";
  size_t next = static_cast<size_t>(lost);
  for (auto _ : state) {
    state.PauseTiming();
    const NodeInfoPtr& before = view->workers[order[next]];
    next = next + 1 < order.size() ? next + 1 : static_cast<size_t>(lost);
    auto after = std::make_shared<NodeInfo>(*before);
    after->heartbeat.set_cpu_usage(static_cast<double>(random() % 100) / 100);
    ViewChanges changes;
    changes.workers = {{before, std::move(after)}};
    now += absl::Microseconds(1);  // a million publishes stay well inside the 30 s window
    state.ResumeTiming();
    detector.Filter(*view, now, absl::Now(), live, &changes);
    state.PauseTiming();
    view = BuildNextView(*view, std::move(changes), no_slots).view;
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SelfPreservationFilter)->Arg(0)->Arg(5000);

// The deadline timer's tick at N workers when one worker's deadline has come (a worker gone
// silent, and its next heartbeat arriving after it): TickDue visits the due node, Tick (the
// periodic tick's) every node. --benchmark_filter='TickTable'
void BM_TickTable(benchmark::State& state, bool due_only) {
  const int n = static_cast<int>(state.range(0));
  NodeTableOptions options;
  options.role = NodeRole::kWorker;
  options.limits.max_clock_skew = absl::Hours(24 * 365 * 100);  // payload times are fixed
  NodeTable table(&options);
  absl::Time now = absl::UnixEpoch() + absl::Hours(1);
  const std::string payload = ::roster::testing::HeartbeatJson("NORMAL");
  int64_t zxid = 100;
  std::vector<int64_t> czxid(n);
  auto path = [](int i) { return absl::StrCat("/nodes/worker/", EventWorkerAddress(i)); };
  for (int i = 0; i < n; ++i) {
    czxid[i] = ++zxid;
    table.Apply("/nodes/worker",
                ::roster::testing::NodeEvent(registry::EventType::kAdded, path(i), payload,
                                             czxid[i], ++zxid),
                now, now);
    now += absl::Milliseconds(1);  // deadlines 1 ms apart, as heartbeats spread over time
  }
  std::vector<NodeChange> changes;
  table.Derive(now, now, &changes);
  // Each iteration: the oldest silence times out, and that worker heartbeats again.
  const absl::Duration timeout = options.timing.heartbeat_timeout();
  now = absl::UnixEpoch() + absl::Hours(1) + timeout;
  int next = 0;
  for (auto _ : state) {
    changes.clear();
    if (due_only) {
      table.TickDue(now, now, &changes);
    } else {
      table.Tick(now, now, &changes);
    }
    state.PauseTiming();
    table.Apply("/nodes/worker",
                ::roster::testing::NodeEvent(registry::EventType::kUpdated, path(next), payload,
                                             czxid[next], ++zxid),
                now, now);
    table.Derive(now, now, &changes);
    next = (next + 1) % n;
    now += absl::Milliseconds(1);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_TickTable, Due, true)->Arg(10)->Arg(10000);
BENCHMARK_CAPTURE(BM_TickTable, Every, false)->Arg(10)->Arg(10000);

void BM_Baseline_CountUpByWalking(benchmark::State& state) {
  const NodeList list = CountedWorkers(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    int up = 0;
    for (const NodeInfoPtr& node : list) up += IsUpForBench(*node);
    benchmark::DoNotOptimize(up);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Baseline_CountUpByWalking)->Arg(10)->Arg(10000);

// Bytes the process's heap holds, whichever the allocator (util/heap.h).
size_t HeapInUse() { return HeapAllocatedBytes(); }

// The heap a ClusterManager holds at 10,000 workers once its change log is full (two rounds of
// a new heartbeat per worker: 20,000 changes, 16,384 kept), against the bytes of the znodes it
// follows (each worker's path and payload: what any follower keeps). Reports MiB and bytes per
// worker as counters (heap_MiB, znodes_MiB, x_znodes); the time is set-up, not the point.
// Only it: --benchmark_filter=ClusterManagerHeap
void BM_ClusterManagerHeap(benchmark::State& state) {
  constexpr int kRounds = 2;
  const int64_t startup_ms = EventTimeBase();
  std::mt19937 rng(42);
  std::vector<EventRound> rounds;
  std::vector<std::vector<registry::RegistryEvent>> round_events;
  int64_t zxid = kEventCzxidBase + kEventWorkers;
  for (int r = 0; r < kRounds; ++r) {
    rounds.push_back(MakeEventRound(EventWorkload::kSpread, r, startup_ms, &rng));
    std::vector<registry::RegistryEvent>& events = round_events.emplace_back();
    for (size_t k = 0; k < rounds.back().workers.size(); ++k) {
      events.push_back(WorkerEvent(registry::EventType::kUpdated, rounds.back().workers[k],
                                   rounds.back().payloads[k], ++zxid));
    }
  }
  size_t znode_bytes = 0;
  for (const registry::RegistryEvent& event : round_events.back()) {
    znode_bytes += event.path.size() + event.data.size();
  }
  size_t heap = 0;
  for (auto _ : state) {
    const size_t before = HeapInUse();
    FeedRegistry feed;
    ClusterManager manager(&feed, EventManagerOptions());
    StartWithWorkers(&feed, &manager, kEventWorkers, startup_ms);
    RoundTracker tracker;
    auto watch = manager.WatchChanges(0, TrackerListener(&tracker));
    const ClusterPaths paths;
    for (int r = 0; r < kRounds; ++r) {
      tracker.Begin(r, &rounds[r]);
      for (const registry::RegistryEvent& event : round_events[r]) {
        feed.Deliver(paths.workers, event);
      }
      tracker.WaitReached(rounds[r].written_workers);
    }
    heap = HeapInUse() - before;
    watch.reset();
    manager.Shutdown();
  }
  constexpr double kMiB = 1024.0 * 1024.0;
  state.counters["heap_MiB"] = heap / kMiB;
  state.counters["znodes_MiB"] = znode_bytes / kMiB;
  state.counters["x_znodes"] = static_cast<double>(heap) / znode_bytes;
  state.counters["heap_B/worker"] = static_cast<double>(heap) / kEventWorkers;
}
BENCHMARK(BM_ClusterManagerHeap)->Iterations(1)->Unit(benchmark::kMillisecond);

// Both event benchmarks over every workload, in this order (Google Benchmark runs
// registrations in order).
void RegisterEventBenchmarks() {
  const std::pair<const char*, EventWorkload> workloads[] = {{"spread", EventWorkload::kSpread},
                                                             {"burst", EventWorkload::kBurst},
                                                             {"random", EventWorkload::kRandom},
                                                             {"trickle", EventWorkload::kTrickle}};
  const std::pair<const char*, void (*)(benchmark::State&, EventWorkload)> benchmarks[] = {
      {"BM_ClusterManagerEvents_Memory", &BM_ClusterManagerEvents_Memory},
      {"BM_ClusterManagerEvents_Direct", &BM_ClusterManagerEvents_Direct}};
  for (const auto& [bench_name, function] : benchmarks) {
    for (const auto& [workload_name, workload] : workloads) {
      benchmark::RegisterBenchmark(absl::StrCat(bench_name, "/", workload_name).c_str(), function,
                                   workload)
          ->Iterations(kEventRounds)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
}

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
      results_.push_back({run.benchmark_name(), suffix, 1e9 / rate->second.value});
    }
  }

  void PrintRatios() const {
    std::printf(
        "\nCost per item against the baselines of this run (x = multiple of "
        "the baseline):\n");
    std::printf("%-56s %9s %12s %13s %11s\n", "benchmark", "ns/item", "items/s", "x empty call",
                "x view ptr");
    for (const Result& result : results_) {
      std::printf(
          "%-56s %9.1f %12.0f %13s %11s\n", result.name.c_str(), result.ns_per_item,
          1e9 / result.ns_per_item,
          Ratio(result.ns_per_item, Find("BM_Baseline_EmptyCall" + result.suffix)).c_str(),
          Ratio(result.ns_per_item, Find("BM_Baseline_CopyViewPtr" + result.suffix)).c_str());
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
  // Our own flags, removed before Google Benchmark parses the rest.
  int kept = 1;
  constexpr absl::string_view kSlowdown = "--manager_clock_slowdown=";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--no_mutex_deadlock_detection") == 0) {
      absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
    } else if (absl::StartsWith(argv[i], kSlowdown)) {
      if (!absl::SimpleAtod(absl::string_view(argv[i]).substr(kSlowdown.size()),
                            &roster::cluster::manager_clock_slowdown)) {
        std::fprintf(stderr, "%s: not a number\n", argv[i]);
        return 1;
      }
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  roster::cluster::RegisterDecodeBenchmarks();
  roster::cluster::RegisterEventBenchmarks();
  roster::cluster::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  benchmark::Shutdown();
  return 0;
}
